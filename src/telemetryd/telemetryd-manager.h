/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-bus.h>

#include "hubguard/daemon.h"
#include "telemetryd-anomaly.h"
#include "telemetryd-mqtt.h"
#include "telemetryd-outbox.h"
#include "telemetryd-validate.h"

/* The telemetry domain's daemon description, run by hub_daemon_main(). */
extern const HubDaemonOps telemetry_daemon_ops;

/* The State values of this domain, beyond the daemon frame's. */
#define TELEMETRY_STATE_ONLINE "online"     /* the cloud broker has what we send */
#define TELEMETRY_STATE_DEGRADED "degraded" /* online, but the device broker is unreachable or the outbox
                                              * cannot be written (disk full) */
#define TELEMETRY_STATE_OFFLINE "offline"   /* the cloud is unreachable (or not configured): queueing */

/* Our client id at the device broker: the name of the persistent session it keeps for us. */
#define TELEMETRY_DEVICE_CLIENT_ID "hub-telemetryd"
#define TELEMETRY_INFLIGHT_MAX 64   /* QoS 1 messages sent and not yet acknowledged */
#define TELEMETRY_DEVICES_MAX 1024  /* devices tracked for counters and rate limits */
#define TELEMETRY_IMPORT_MAX 100000 /* samples per ImportSamples call */

/* Credentials from systemd (LoadCredential=) or the devstack. */
#define TELEMETRY_CRED_DEVICE_KEY "device-key"
#define TELEMETRY_CRED_DEVICE_CERT "device-cert"

typedef struct DeviceEntry {
        char id[DEVICE_ID_MAX + 1];
        uint64_t accepted, invalid, rate_limited;
        uint64_t scored_messages, scored_invalid; /* the totals at the last anomaly tick */
        double tokens;
        uint64_t refilled_usec;
} DeviceEntry;

typedef struct Inflight {
        int mid;
        int64_t seq;
        OutboxPriority prio;
        bool erase; /* an erase request (OUTBOX_TOPIC_ERASE) */
} Inflight;

typedef struct TelemetryManager {
        HubDaemon *daemon;
        Outbox outbox;
        sd_event_source *commit_timer, *drain_timer, *metrics_timer;
        MqttClient cloud, device;
        bool cloud_enabled, device_enabled;
        char hub_id[DEVICE_ID_MAX + 1];
        char *cert_path, *key_path;
        char *device_password;       /* sodium_malloc()ed */
        char *will_topic, *status_topic;

        int64_t last_sent[_OUTBOX_PRIORITY_MAX];
        Inflight inflight[TELEMETRY_INFLIGHT_MAX];
        unsigned n_inflight;
        double drain_tokens;
        uint64_t drain_refilled_usec;
        uint64_t paused_until_usec;  /* the broker said it is busy or over quota */

        uint64_t offline_since_usec; /* CLOCK_REALTIME, 0 while online */
        char last_error[320];
        char storage_error[128];     /* the last outbox commit failed: why ("" once one succeeds) */

        DeviceEntry *devices;        /* open addressing, device_slots (a power of two) */
        DeviceEntry overflow;        /* the shared bucket of devices beyond the table */
        char outbox_epoch[16];       /* part of every message id: a rebuilt outbox never reuses one */
        unsigned n_devices, device_slots; /* grows with n_devices, up to 2 * TELEMETRY_DEVICES_MAX */
        uint64_t accepted, invalid, rate_limited, untracked;

        sd_bus_slot *auth_failure_slot, *owner_slot;
        char identity_owner[64];     /* unique bus name of hub-identityd, "" if unknown */
        uint64_t cpu_prev_total, cpu_prev_idle;

        TelemetryAnomaly anomaly;
        HubCounters hub_counters;
        sd_event_source *anomaly_save_timer;
        char *anomaly_state_path;
} TelemetryManager;

/* The D-Bus side (telemetryd-bus.c). */
extern const sd_bus_vtable telemetry_manager_vtable[];

/* Recompute State from the links and emit what changed. */
void telemetry_update_state(TelemetryManager *m);
void telemetry_emit_queue(TelemetryManager *m);

/* The group commit, now (its timer, run early): on success the held PUBACKs go to the device broker; on failure the
 * device link is dropped with them unsent (storage_failed()). Returns outbox_commit()'s result. */
int telemetry_commit(TelemetryManager *m);

/* Removals were rolled back (their rows are behind the send cursor again): send from the oldest;
 * the cloud drops the duplicates by message id, and each row goes on its new PUBACK. */
void telemetry_resend_from_oldest(TelemetryManager *m);

/* Score one sample (the bus's ImportSamples and the live paths alike). */
int telemetry_anomaly_sample(TelemetryManager *m, const char *metric, double t, double value, bool imported);

/* Queue a message (topic relative to PREFIX/HUB-ID/); the group commit follows. */
int telemetry_enqueue(TelemetryManager *m, OutboxPriority prio, const char *topic, json_t *body);

/* The hub metrics collector (telemetryd-metrics.c): one JSON object of the hub's vital signs. */
json_t *telemetry_collect_metrics(TelemetryManager *m);
