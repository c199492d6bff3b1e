/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "hubguard/daemon.h"
#include "privacyd-decl.h"
#include "privacyd-store.h"

/* The privacy domain's daemon description, run by hub_daemon_main(). */
extern const HubDaemonOps privacy_daemon_ops;

/* The credential (in $CREDENTIALS_DIRECTORY) holding the master key that wraps the subject keys. */
#define PRIVACY_MASTER_KEY_CREDENTIAL "master-key"

/* Retries towards hub-telemetryd while an erase request is not acknowledged: 2 s, doubling, at most 60 s. */
#define PRIVACY_CLOUD_RETRY_MIN_USEC (2ULL * 1000000ULL)
#define PRIVACY_CLOUD_RETRY_MAX_USEC (60ULL * 1000000ULL)
/* The retention sweep runs at the next expiry, and at least this often. */
#define PRIVACY_EXPIRE_MAX_USEC (3600ULL * 1000000ULL)
/* The largest export handed out (a sealed memfd). */
#define PRIVACY_EXPORT_MAX_BYTES (1024ULL << 20)

typedef struct CloudCall CloudCall;

/* In the state directory: requests to hub-privacy-helper, and its results. */
#define PRIVACY_REQUESTS_DIR "requests"
#define PRIVACY_RESULTS_DIR "results"
#define PRIVACY_FACTORY_RESET_RESULT "factory-reset.json"
#define PRIVACY_RESULT_MAX (256 * 1024)

typedef struct PrivacyManager {
        HubDaemon *daemon;
        unsigned char *master_key; /* sodium_malloc()ed */
        PrivacyStore store;
        DeclSet decl;              /* privacy.d: the apps' categories and erase actions */
        uid_t *app_uids;           /* [privacy] AppUsers= */
        size_t n_app_uids;
        sd_event_source *results_watch;
        sd_event_source *expire_timer, *cloud_timer;
        uint64_t cloud_retry_usec;
        unsigned cloud_calls;      /* calls to hub-telemetryd not yet answered */
        CloudCall *cloud_call_list;
        bool stopping;
} PrivacyManager;

uint64_t privacy_now_usec(void);

/* The D-Bus side (privacyd-bus.c). */
extern const sd_bus_vtable privacy_manager_vtable[];
extern const sd_bus_error_map privacy_errors[];
/* A store error on subject as a D-Bus error (privacyd-bus.c): its "not there" errnos by name. */
int privacy_store_error(int r, const char *subject, sd_bus_error *error);

/* Leave a request for hub-privacy-helper ("erase-subject S R" or "factory-reset R"). */
int privacy_request_helper(PrivacyManager *m, const char *request_id, const char *line);
int privacy_request_app_erase(PrivacyManager *m, const char *request_id, const char *subject);
/* Does any declared app have erase actions? */
bool privacy_apps_have_erase(PrivacyManager *m);
/* Read the helper's results into the receipts. */
void privacy_collect_results(PrivacyManager *m);

/* After a change of records: rearm the retention sweep. */
void privacy_schedule_expire(PrivacyManager *m);
/* After an erase: hand the cloud side to hub-telemetryd now. */
void privacy_kick_cloud(PrivacyManager *m);
