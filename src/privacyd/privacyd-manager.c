/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "config.h"
#include "hubguard/bus-names.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/seal.h"
#include "privacyd-manager.h"

uint64_t privacy_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* ---- retention ---- */

static int on_expire(sd_event_source *s, uint64_t usec, void *userdata) {
        privacy_schedule_expire(userdata);
        return 0;
}

/* Erase what has expired now, then sleep until the next expiry (CLOCK_REALTIME: retention is wall time). */
void privacy_schedule_expire(PrivacyManager *m) {
        uint64_t erased = 0, next = 0, now = privacy_now_usec(), at;
        int r;

        r = privacy_expire(&m->store, now, &erased, &next);
        if (r < 0)
                log_error_errno(r, "Retention: cannot erase expired records: %m");
        else if (erased > 0)
                log_info("Retention: erased %" PRIu64 " expired records.", erased);
        at = now + PRIVACY_EXPIRE_MAX_USEC;
        if (r >= 0 && next > 0)
                at = MIN(at, next);
        if (r < 0)
                at = now + PRIVACY_CLOUD_RETRY_MAX_USEC;
        if (m->expire_timer) {
                (void) sd_event_source_set_time(m->expire_timer, at);
                (void) sd_event_source_set_enabled(m->expire_timer, SD_EVENT_ONESHOT);
                return;
        }
        r = sd_event_add_time(m->daemon->event, &m->expire_timer, CLOCK_REALTIME, at, 0, on_expire, m);
        if (r < 0)
                log_error_errno(r, "Cannot arm the retention timer: %m");
}

/* ---- the cloud side of erasure, through hub-telemetryd ---- */

typedef struct CloudCall CloudCall;
struct CloudCall {
        PrivacyManager *m;
        sd_bus_slot *slot;
        CloudCall *prev, *next;
        char request_id[PRIVACY_REQUEST_ID_LEN + 1];
        char subject[PRIVACY_SUBJECT_ID_LEN + 1];
};

static void arm_cloud_timer(PrivacyManager *m);

/* The slot's destroy callback: after the reply handler ran, or when teardown cancels the call. */
static void cloud_call_free(void *userdata) {
        CloudCall *c = userdata;
        PrivacyManager *m = c->m;

        if (c->prev)
                c->prev->next = c->next;
        else
                m->cloud_call_list = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
        if (m->cloud_calls > 0 && --m->cloud_calls == 0 && !m->stopping)
                arm_cloud_timer(m);
}

/* One asynchronous call to hub-telemetryd with the subject or request id of from as its argument(s). */
static int cloud_call(PrivacyManager *m, const CloudCall *from, const char *member, sd_bus_message_handler_t handler,
                      bool with_request_id, bool subject_first) {
        CloudCall *c = calloc(1, sizeof *c);
        int r;

        if (!c)
                return -ENOMEM;
        *c = (CloudCall) { .m = m };
        memcpy(c->request_id, from->request_id, sizeof c->request_id);
        memcpy(c->subject, from->subject, sizeof c->subject);
        if (with_request_id && subject_first)
                r = sd_bus_call_method_async(m->daemon->bus, &c->slot, HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY,
                                             HUB_BUS_IFACE_TELEMETRY, member, handler, c, "ss", c->subject,
                                             c->request_id);
        else
                r = sd_bus_call_method_async(m->daemon->bus, &c->slot, HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY,
                                             HUB_BUS_IFACE_TELEMETRY, member, handler, c, "s",
                                             with_request_id ? c->request_id : c->subject);
        if (r >= 0)
                r = sd_bus_slot_set_destroy_callback(c->slot, cloud_call_free);
        if (r < 0) {
                sd_bus_slot_unref(c->slot);
                free(c);
                return r;
        }
        c->next = m->cloud_call_list;
        if (c->next)
                c->next->prev = c;
        m->cloud_call_list = c;
        m->cloud_calls++;
        return 0;
}

/* A reply handler is done with its call: drop our reference (the destroy callback frees it). */
static void cloud_call_done(CloudCall *c) {
        c->slot = sd_bus_slot_unref(c->slot);
}

static int on_request_erase(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        CloudCall *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (e)
                log_notice("hub-telemetryd did not take erase request %s: %s; trying again later.", c->request_id,
                           e->message ?: e->name);
        else if (privacy_receipt_set_cloud(&c->m->store, c->request_id, PRIVACY_CLOUD_PENDING, privacy_now_usec()) < 0)
                log_warning("Cannot record that erase request %s is queued.", c->request_id);
        cloud_call_done(c);
        return 0;
}

static int on_purge_subject(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        CloudCall *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint64_t purged = 0;

        if (e)
                log_notice("hub-telemetryd did not purge subject %s: %s; trying again later.", c->subject,
                           e->message ?: e->name);
        else {
                (void) sd_bus_message_read(reply, "t", &purged);
                if (purged > 0)
                        log_info("hub-telemetryd removed %" PRIu64 " queued messages about subject %s.", purged,
                                 c->subject);
                if (cloud_call(c->m, c, "RequestErase", on_request_erase, true, true) < 0)
                        log_warning("Cannot ask hub-telemetryd to send erase request %s.", c->request_id);
        }
        cloud_call_done(c);
        return 0;
}

static int on_erase_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        CloudCall *c = userdata;
        const char *state = NULL;

        if (!sd_bus_message_is_method_error(reply, NULL) && sd_bus_message_read(reply, "s", &state) >= 0) {
                if (streq(state, "acknowledged")) {
                        (void) privacy_receipt_set_cloud(&c->m->store, c->request_id, PRIVACY_CLOUD_ACKNOWLEDGED,
                                                         privacy_now_usec());
                        log_info("The cloud acknowledged erase request %s.", c->request_id);
                } else if (streq(state, "unknown"))
                        /* hub-telemetryd lost it (its outbox was rebuilt or reset): ask again. */
                        (void) privacy_receipt_set_cloud(&c->m->store, c->request_id, PRIVACY_CLOUD_TO_REQUEST,
                                                         privacy_now_usec());
        }
        cloud_call_done(c);
        return 0;
}

static int cloud_step(const char *request_id, const char *subject, PrivacyCloudState cloud, void *userdata) {
        PrivacyManager *m = userdata;
        CloudCall c = {};

        if (cloud == PRIVACY_CLOUD_ACKNOWLEDGED || !request_id || !subject ||
            strlen(request_id) != PRIVACY_REQUEST_ID_LEN || !privacy_subject_id_is_valid(subject))
                return 0;
        memcpy(c.request_id, request_id, sizeof c.request_id);
        memcpy(c.subject, subject, sizeof c.subject);
        if (cloud == PRIVACY_CLOUD_TO_REQUEST)
                return cloud_call(m, &c, "PurgeSubject", on_purge_subject, false, false);
        return cloud_call(m, &c, "EraseRequestState", on_erase_state, true, false);
}

static int count_open(const char *request_id, const char *subject, PrivacyCloudState cloud, void *userdata) {
        if (cloud != PRIVACY_CLOUD_ACKNOWLEDGED)
                (*(unsigned *) userdata)++;
        return 0;
}

static int on_cloud_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        PrivacyManager *m = userdata;
        int r;

        if (m->cloud_calls > 0)
                return 0; /* the last answer rearms the timer */
        r = privacy_receipts_foreach(&m->store, cloud_step, m);
        if (r < 0)
                log_warning_errno(r, "Cannot hand erase requests to hub-telemetryd: %m");
        m->cloud_retry_usec = MIN(MAX(m->cloud_retry_usec * 2, PRIVACY_CLOUD_RETRY_MIN_USEC),
                                  PRIVACY_CLOUD_RETRY_MAX_USEC);
        if (m->cloud_calls == 0)
                arm_cloud_timer(m);
        return 0;
}

/* Rearm while any receipt waits for the cloud. */
static void arm_cloud_timer(PrivacyManager *m) {
        unsigned open = 0;
        uint64_t now;
        int r;

        if (privacy_receipts_foreach(&m->store, count_open, &open) < 0 || open == 0) {
                if (m->cloud_timer)
                        (void) sd_event_source_set_enabled(m->cloud_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_now(m->daemon->event, CLOCK_MONOTONIC, &now);
        if (m->cloud_timer) {
                (void) sd_event_source_set_time(m->cloud_timer, now + m->cloud_retry_usec);
                (void) sd_event_source_set_enabled(m->cloud_timer, SD_EVENT_ONESHOT);
                return;
        }
        r = sd_event_add_time(m->daemon->event, &m->cloud_timer, CLOCK_MONOTONIC, now + m->cloud_retry_usec, 0,
                              on_cloud_timer, m);
        if (r < 0)
                log_error_errno(r, "Cannot arm the erase request timer: %m");
}

void privacy_kick_cloud(PrivacyManager *m) {
        m->cloud_retry_usec = 0;
        if (m->cloud_calls == 0)
                (void) on_cloud_timer(NULL, 0, m);
}

/* ---- the privileged helper ---- */

bool privacy_apps_have_erase(PrivacyManager *m) {
        for (size_t i = 0; i < m->decl.n_apps; i++)
                if (decl_app_has_erase(&m->decl.apps[i]))
                        return true;
        return false;
}

int privacy_request_helper(PrivacyManager *m, const char *request_id, const char *line) {
        char path[PATH_MAX];

        if (snprintf(path, sizeof path, "%s/%s/%s.req", m->daemon->state_dir, PRIVACY_REQUESTS_DIR, request_id) >=
            (int) sizeof path)
                return -ENAMETOOLONG;
        /* Atomic: hub-privacy-helper.path sees the file whole or not at all. */
        return write_file_atomic(path, line, strlen(line), 0600);
}

static void collect_one(PrivacyManager *m, const char *dir, const char *name) {
        _cleanup_free_ char *text = NULL, *stores = NULL;
        char path[PATH_MAX], id[PRIVACY_REQUEST_ID_LEN + 1];
        json_t *o;
        int r;

        if (strlen(name) != PRIVACY_REQUEST_ID_LEN + 5 || !streq(name + PRIVACY_REQUEST_ID_LEN, ".json"))
                return;
        memcpy(id, name, PRIVACY_REQUEST_ID_LEN);
        id[PRIVACY_REQUEST_ID_LEN] = '\0';
        if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int) sizeof path)
                return;
        r = read_file_bounded(path, PRIVACY_RESULT_MAX, &text, NULL);
        if (r < 0)
                return;
        o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        stores = o ? json_dumps(json_object_get(o, "stores"), JSON_COMPACT) : NULL;
        json_decref(o);
        r = stores ? privacy_receipt_merge_stores(&m->store, id, stores) : -EBADMSG;
        if (r == -ENXIO)
                return; /* its erase is not finished yet: kept for the next look */
        if (r < 0)
                log_warning_errno(r, "Cannot take the helper's result '%s': %m", path);
        else
                log_info("Erase %s: the declared app stores reported.", id);
        (void) unlink(path);
}

void privacy_collect_results(PrivacyManager *m) {
        char dir[PATH_MAX];
        struct dirent *de;
        DIR *d;

        (void) snprintf(dir, sizeof dir, "%s/%s", m->daemon->state_dir, PRIVACY_RESULTS_DIR);
        d = opendir(dir);
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        collect_one(m, dir, de->d_name);
        if (d)
                closedir(d);
}

static int on_results(sd_event_source *s, const struct inotify_event *event, void *userdata) {
        privacy_collect_results(userdata);
        return 0;
}

static int request_app_erase(const char *request_id, const char *subject, PrivacyCloudState cloud, void *userdata) {
        char line[128];

        (void) snprintf(line, sizeof line, "erase-subject %s %s\n", subject, request_id);
        return privacy_request_helper(userdata, request_id, line);
}

int privacy_request_app_erase(PrivacyManager *m, const char *request_id, const char *subject) {
        return request_app_erase(request_id, subject, PRIVACY_CLOUD_TO_REQUEST, m);
}

static int resolve_app_users(PrivacyManager *m) {
        char *const *names = m->daemon->config.privacy.app_users;
        size_t n = 0;

        for (char *const *i = names; i && *i; i++)
                n++;
        m->app_uids = calloc(MAX(n, 1u), sizeof(uid_t));
        if (!m->app_uids)
                return log_oom();
        for (char *const *i = names; i && *i; i++) {
                struct passwd *pw = getpwnam(*i);

                /* A user that does not exist (yet) cannot call us: skip it, but say so. */
                if (!pw) {
                        log_warning("AppUsers: no user '%s', ignoring.", *i);
                        continue;
                }
                m->app_uids[m->n_app_uids++] = pw->pw_uid;
        }
        return 0;
}

static int setup_helper_dirs(PrivacyManager *m) {
        const char *names[] = { PRIVACY_REQUESTS_DIR, PRIVACY_RESULTS_DIR };
        char path[PATH_MAX];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                (void) snprintf(path, sizeof path, "%s/%s", m->daemon->state_dir, names[i]);
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Cannot make '%s': %m", path);
        }
        r = sd_event_add_inotify(m->daemon->event, &m->results_watch, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR,
                                 on_results, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch '%s': %m", path);
        return 0;
}

/* ---- set-up ---- */

static void json_erase_free(void *p) {
        (void) erase_and_free(p);
}

static int privacy_setup(HubDaemon *d) {
        PrivacyManager *m;
        char path[PATH_MAX];
        unsigned resumed = 0;
        int r;

        /* No core dumps and no ptrace by other processes of our user: this process holds keys. */
        if (prctl(PR_SET_DUMPABLE, 0) < 0)
                return log_error_errno(errno, "Failed to make the process non-dumpable: %m");
        if (sodium_init() < 0)
                return log_error_errno(EIO, "libsodium failed to initialise.");
        /* Labels and records pass through JSON values (export, receipts): wiped when jansson frees them. */
        json_set_alloc_funcs(malloc, json_erase_free);
        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        d->userdata = m;
        m->daemon = d;

        r = seal_master_key_path(PRIVACY_MASTER_KEY_CREDENTIAL, path, sizeof path);
        if (r >= 0)
                r = seal_master_key_load(path, &m->master_key);
        if (r < 0)
                return log_error_errno(r,
                                       "Cannot read the master key that wraps the subject keys "
                                       "($CREDENTIALS_DIRECTORY/%s): %m. systemd provides it with "
                                       "LoadCredentialEncrypted= (hub-privacyd.service); tests/devstack makes one.",
                                       PRIVACY_MASTER_KEY_CREDENTIAL);
        /* Other hub apps' declarations: their categories, and what an erase must do in their stores. */
        r = decl_load(d->confdir ?: CONF_DIR, &m->decl);
        if (r < 0)
                return log_error_errno(r, "Cannot read the privacy.d declarations: %m");
        if (m->decl.n_apps > 0)
                log_info("%zu hub app(s) declare personal data in privacy.d.", m->decl.n_apps);
        r = setup_helper_dirs(m);
        if (r >= 0)
                r = resolve_app_users(m);
        if (r < 0)
                return r;
        r = privacy_store_init(&m->store, d->db, m->master_key, m->decl.categories, m->decl.n_categories);
        if (r < 0)
                return log_error_errno(r, "Failed to enable secure_delete: %m");

        /* An erase that a crash or power cut interrupted is finished before anything else is served;
         * the declared apps are asked (again: their actions are idempotent) first. */
        if (privacy_apps_have_erase(m)) {
                r = privacy_erase_jobs_foreach(&m->store, request_app_erase, m);
                if (r < 0)
                        return log_error_errno(r, "Cannot ask hub-privacy-helper to finish an erase: %m");
        }
        r = privacy_erase_resume(&m->store, privacy_now_usec(), &resumed);
        if (r < 0)
                return log_error_errno(r, "Cannot finish the interrupted erase: %m");
        if (resumed > 0)
                log_notice("Finished %u erase(s) interrupted by a stop, crash or power cut.", resumed);

        privacy_collect_results(m);
        privacy_schedule_expire(m);
        privacy_kick_cloud(m);
        return 0;
}

static void privacy_teardown(HubDaemon *d) {
        PrivacyManager *m = d->userdata;

        if (!m)
                return;
        /* Cancel what hub-telemetryd has not answered: it is asked again at the next start. */
        m->stopping = true;
        while (m->cloud_call_list)
                sd_bus_slot_unref(m->cloud_call_list->slot);
        sd_event_source_disable_unref(m->expire_timer);
        sd_event_source_disable_unref(m->results_watch);
        decl_set_free(&m->decl);
        free(m->app_uids);
        sd_event_source_disable_unref(m->cloud_timer);
        sodium_free(m->master_key);
        free(m);
        d->userdata = NULL;
}

const HubDaemonOps privacy_daemon_ops = {
        .domain = HUB_DOMAIN_PRIVACY,
        .program = "hub-privacyd",
        .description = "The hubguard privacy domain: personal data, consent, export and erasure.",
        .bus_name = HUB_BUS_NAME_PRIVACY,
        .bus_path = HUB_BUS_PATH_PRIVACY,
        .bus_iface = HUB_BUS_IFACE_PRIVACY,
        .vtable = privacy_manager_vtable,
        .errors = privacy_errors,
        .migrations = privacy_migrations,
        .n_migrations = PRIVACY_N_MIGRATIONS,
        .setup = privacy_setup,
        .teardown = privacy_teardown,
};
