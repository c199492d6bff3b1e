/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <malloc.h>
#include <mqtt_protocol.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "hubguard/bus-names.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"
#include "hubguard/seal.h"
#include "hubguard/validate.h"
#include "telemetryd-erase.h"
#include "telemetryd-manager.h"

#define MESSAGE_ID_PROPERTY "message-id"

static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
        { 2, outbox_schema_sql },
        { 3, erase_request_schema_sql },
};

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static uint64_t mono_usec(TelemetryManager *m) {
        uint64_t t = 0;

        (void) sd_event_now(m->daemon->event, CLOCK_MONOTONIC, &t);
        return t;
}

static const typeof(((HubConfig *) NULL)->telemetry) *tcfg(TelemetryManager *m) {
        return &m->daemon->config.telemetry;
}

void telemetry_emit_queue(TelemetryManager *m) {
        (void) sd_bus_emit_properties_changed(m->daemon->bus, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY,
                                              "QueuedMessages", "QueuedBytes", "DroppedMessages", NULL);
}

void telemetry_update_state(TelemetryManager *m) {
        const char *state;

        if (m->daemon->state && streq(m->daemon->state, HUB_STATE_STOPPING))
                return;
        if (!m->cloud.connected)
                state = TELEMETRY_STATE_OFFLINE;
        else if ((m->device_enabled && !m->device.connected) || m->storage_error[0])
                state = TELEMETRY_STATE_DEGRADED;
        else
                state = TELEMETRY_STATE_ONLINE;

        if (m->cloud.connected)
                m->offline_since_usec = 0;
        else if (m->offline_since_usec == 0)
                m->offline_since_usec = realtime_usec();

        /* Not being able to store what arrives is the most urgent thing to say. */
        if (m->storage_error[0])
                (void) snprintf(m->last_error, sizeof m->last_error, "outbox: %s", m->storage_error);
        else if (!m->cloud_enabled) {
                /* Keep a reason set at start-up (no device identity); else say what is missing. */
                if (m->last_error[0] == '\0')
                        (void) snprintf(m->last_error, sizeof m->last_error,
                                        "no cloud broker configured (CloudBrokerHost=)");
        } else if (m->cloud.last_error[0])
                (void) snprintf(m->last_error, sizeof m->last_error, "cloud broker: %s", m->cloud.last_error);
        else if (m->device_enabled && m->device.last_error[0])
                (void) snprintf(m->last_error, sizeof m->last_error, "device broker: %s", m->device.last_error);
        else
                m->last_error[0] = '\0';

        hub_daemon_set_state(m->daemon, state);
        (void) sd_bus_emit_properties_changed(m->daemon->bus, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY,
                                              "OfflineSinceUSec", "LastError", NULL);
}

/* ---- the group commit ---- */

static void pump(TelemetryManager *m);

void telemetry_resend_from_oldest(TelemetryManager *m) {
        for (OutboxPriority p = 0; p < _OUTBOX_PRIORITY_MAX; p++)
                m->last_sent[p] = 0;
}

/*
 * The outbox could not store what it was given (a failed commit, or a failed insert: a full disk, an
 * I/O error). What was not stored must not be acknowledged: the device link is dropped with its
 * held PUBACKs unsent, and the broker sends those messages again on the persistent session.
 * Removals of acknowledged messages may have been rolled back too: their rows are still there,
 * behind the send cursor, so sending starts from the oldest again (the cloud drops the duplicates
 * by message id) and each is removed on its new PUBACK.
 *
 * A full disk lasts: every retry (the device broker sends the unacknowledged messages again once a
 * second or so) fails the same way. The first failure of an incident is an error in the journal;
 * the retries, and the device link's reconnections they cause, are debug messages until a commit
 * succeeds ("Outbox commits succeed again."). LastError and State tell it all along.
 */
static void storage_failed(TelemetryManager *m, const char *what, int error) {
        bool again = m->storage_error[0] != '\0';

        log_struct_errno(again ? LOG_DEBUG : LOG_ERR, error, NULL, STRV("HUBGUARD_OUTBOX=commit"),
                         "Outbox %s failed, the messages received since the last commit are not acknowledged: %m",
                         what);
        m->device.quiet = again;
        (void) snprintf(m->storage_error, sizeof m->storage_error, "cannot store messages: %s", strerror(-error));
        telemetry_resend_from_oldest(m);
        if (m->device_enabled)
                mqtt_client_abort(&m->device, "the outbox cannot store messages: those received since the last "
                                              "commit were not acknowledged and will be received again");
        telemetry_update_state(m);
}

int telemetry_commit(TelemetryManager *m) {
        int r;

        m->commit_timer = sd_event_source_disable_unref(m->commit_timer);
        r = outbox_commit(&m->outbox);
        if (r < 0)
                storage_failed(m, "commit", r);
        else {
                if (m->storage_error[0]) {
                        log_notice("Outbox commits succeed again.");
                        m->storage_error[0] = '\0';
                        m->device.quiet = false;
                        telemetry_update_state(m);
                }
                /* Only now may the device broker hear that its messages arrived (the PUBACKs were held). */
                if (m->device_enabled)
                        mqtt_client_flush(&m->device);
        }
        telemetry_emit_queue(m);
        pump(m);
        return r;
}

static int on_commit(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) telemetry_commit(userdata);
        return 0;
}

static void schedule_commit(TelemetryManager *m) {
        uint64_t at, armed = UINT64_MAX;

        if (!outbox_in_transaction(&m->outbox))
                return;
        if (m->outbox.pending_rows >= OUTBOX_COMMIT_ROWS || m->outbox.pending_removals >= OUTBOX_COMMIT_ROWS) {
                (void) on_commit(NULL, 0, m);
                return;
        }
        /* Removals alone are not synced and can wait longer (telemetryd-outbox.h). */
        at = mono_usec(m) + (outbox_must_sync(&m->outbox) ? OUTBOX_COMMIT_USEC : OUTBOX_ACK_COMMIT_USEC);
        if (m->commit_timer && sd_event_source_get_time(m->commit_timer, &armed) >= 0 && armed <= at)
                return;
        /* Accuracy 1 ms: sd-event's default of 250 ms would stretch the window before a commit. */
        if (m->commit_timer)
                (void) sd_event_source_set_time(m->commit_timer, at);
        else
                (void) sd_event_add_time(m->daemon->event, &m->commit_timer, CLOCK_MONOTONIC, at, 1000, on_commit,
                                         m);
}

static int enqueue_text(TelemetryManager *m, OutboxPriority prio, const char *topic, const char *text, size_t len) {
        int64_t seq;

        seq = outbox_enqueue(&m->outbox, prio, topic, text, len, realtime_usec(), NULL, NULL);
        if (seq < 0) {
                if (seq == -ENOBUFS) {
                        /* Refused for lack of room: telemetry lost, so counted like the rest. */
                        (void) outbox_count_drop(&m->outbox, OUTBOX_DROP_FULL, 1);
                        schedule_commit(m);
                        log_debug("Outbox full of security events; dropped a routine message for '%s'.", topic);
                }
                else if (seq == -EINVAL)
                        log_warning_errno((int) seq, "Cannot queue a message for '%s': %m", topic);
                else
                        /* Not stored: nothing received since the last commit may be acknowledged. */
                        storage_failed(m, "insert", (int) seq);
                return (int) seq;
        }
        schedule_commit(m);
        return 0;
}

int telemetry_enqueue(TelemetryManager *m, OutboxPriority prio, const char *topic, json_t *body) {
        _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);

        if (!text)
                return -ENOMEM;
        return enqueue_text(m, prio, topic, text, strlen(text));
}

/* ---- sending: oldest first, security events before routine telemetry, at DrainRatePerSec ---- */

static int on_drain_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        TelemetryManager *m = userdata;

        m->drain_timer = sd_event_source_disable_unref(m->drain_timer);
        pump(m);
        return 0;
}

static void arm_drain_timer(TelemetryManager *m, uint64_t at) {
        if (m->drain_timer)
                return;
        (void) sd_event_add_time(m->daemon->event, &m->drain_timer, CLOCK_MONOTONIC, at, 0, on_drain_timer, m);
}

/* Token bucket of the drain rate; a burst of one second's worth. */
static bool take_drain_token(TelemetryManager *m, uint64_t now) {
        unsigned rate = tcfg(m)->drain_rate_per_sec;

        if (rate == 0)
                return true;
        if (m->drain_refilled_usec == 0)
                m->drain_tokens = rate;
        else
                m->drain_tokens = MIN((double) rate,
                                      m->drain_tokens + (double) (now - m->drain_refilled_usec) * rate / 1e6);
        m->drain_refilled_usec = now;
        if (m->drain_tokens < 1.0) {
                arm_drain_timer(m, now + (uint64_t) ((1.0 - m->drain_tokens) * 1e6 / rate) + 1);
                return false;
        }
        m->drain_tokens -= 1.0;
        return true;
}

static int send_one(TelemetryManager *m, const OutboxMessage *msg) {
        char topic[OUTBOX_TOPIC_MAX + 2 * DEVICE_ID_MAX + 8], id[DEVICE_ID_MAX + 32];
        mosquitto_property *props = NULL;
        int mid = 0, r;

        (void) snprintf(topic, sizeof topic, "%s/%s/%s", tcfg(m)->cloud_topic_prefix, m->hub_id, msg->topic);
        /* The stable id lets the cloud drop the duplicates that at-least-once delivery can make. */
        (void) snprintf(id, sizeof id, "%s-%s-%" PRIi64, m->hub_id, m->outbox_epoch, msg->seq);
        if (mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, MESSAGE_ID_PROPERTY, id) !=
            MOSQ_ERR_SUCCESS)
                return -ENOMEM;
        r = mqtt_client_publish(&m->cloud, &mid, topic, msg->payload, msg->len, 1, false, props);
        mosquitto_property_free_all(&props);
        if (r < 0)
                return r;
        m->inflight[m->n_inflight++] = (Inflight) { .mid = mid, .seq = msg->seq, .prio = msg->priority,
                                                    .erase = streq(msg->topic, OUTBOX_TOPIC_ERASE) };
        m->last_sent[msg->priority] = msg->seq;
        return 0;
}

static void pump(TelemetryManager *m) {
        uint64_t now = mono_usec(m);
        bool sent = false;

        if (!m->cloud.connected)
                return;
        if (now < m->paused_until_usec) {
                arm_drain_timer(m, m->paused_until_usec);
                return;
        }
        while (m->n_inflight < TELEMETRY_INFLIGHT_MAX) {
                OutboxMessage msg;
                int r = 0;

                for (OutboxPriority p = 0; p < _OUTBOX_PRIORITY_MAX && r == 0; p++)
                        r = outbox_next(&m->outbox, p, m->last_sent[p], &msg);
                if (r < 0) {
                        log_error_errno(r, "Cannot read the outbox: %m");
                        break;
                }
                if (r == 0 || !take_drain_token(m, now))
                        break;
                r = send_one(m, &msg);
                if (r < 0) {
                        log_warning_errno(r, "Cannot publish message %" PRIi64 ": %m", msg.seq);
                        break;
                }
                sent = true;
        }
        if (sent)
                mqtt_client_flush(&m->cloud);
}

static void cloud_published(MqttClient *c, void *userdata, int mid, int reason) {
        TelemetryManager *m = userdata;
        Inflight f;
        unsigned i;
        int r;

        for (i = 0; i < m->n_inflight && m->inflight[i].mid != mid; i++)
                ;
        if (i == m->n_inflight)
                return; /* the birth message, or a stale mid */
        f = m->inflight[i];
        memmove(&m->inflight[i], &m->inflight[i + 1], (m->n_inflight - i - 1) * sizeof(Inflight));
        m->n_inflight--;

        if (reason == MQTT_RC_QUOTA_EXCEEDED || reason == MQTT_RC_SERVER_BUSY) {
                /* Kept, and sent again after a pause: a busy broker is not a reason to lose data. */
                m->last_sent[f.prio] = MIN(m->last_sent[f.prio], f.seq - 1);
                backoff_server_busy(&m->cloud.backoff);
                m->paused_until_usec = mono_usec(m) + backoff_next(&m->cloud.backoff);
                log_notice("Cloud broker is busy or over quota; pausing for %.1f s.",
                           (double) (m->paused_until_usec - mono_usec(m)) / 1e6);
        } else {
                /* Accepted (< 0x80), or refused for good (e.g. not authorised): either way it leaves. */
                if (reason >= 0x80)
                        log_warning("Cloud broker refused message %s-%" PRIi64 " for good: %s.", m->hub_id, f.seq,
                                    mosquitto_reason_string(reason));
                r = outbox_remove(&m->outbox, f.seq, reason >= 0x80);
                if (r >= 0 && reason < 0x80 && f.erase)
                        telemetry_erase_acknowledged(m, f.seq);
                if (r < 0) {
                        log_warning_errno(r, "Cannot remove message %" PRIi64 " from the outbox, it will be sent again: %m",
                                          f.seq);
                        m->last_sent[f.prio] = MIN(m->last_sent[f.prio], f.seq - 1);
                }
                schedule_commit(m);
        }
        pump(m);
}

static void cloud_connected(MqttClient *c, void *userdata) {
        TelemetryManager *m = userdata;
        int r;

        /* Whatever was in flight on the old connection is sent again: at least once, never lost. */
        m->n_inflight = 0;
        memset(m->last_sent, 0, sizeof m->last_sent);
        m->paused_until_usec = 0;
        r = mqtt_client_publish(&m->cloud, NULL, m->status_topic, "online", 6, 1, true, NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot publish the birth message: %m");
        telemetry_update_state(m);
        pump(m);
}

static void cloud_disconnected(MqttClient *c, void *userdata, const char *reason) {
        TelemetryManager *m = userdata;

        m->n_inflight = 0;
        m->drain_timer = sd_event_source_disable_unref(m->drain_timer);
        telemetry_update_state(m);
}

static const MqttClientOps cloud_ops = {
        .connected = cloud_connected,
        .disconnected = cloud_disconnected,
        .published = cloud_published,
};

/* ---- ingest from the device broker ---- */

static uint32_t hash_id(const char *s) {
        uint32_t h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

/*
 * The device table starts small and doubles as devices appear (at most half full), up to
 * 2 * TELEMETRY_DEVICES_MAX slots of 128 bytes: sized for the limit from the start, it was 256 KiB
 * touched all over by the hash on a hub with a hundred devices.
 */
#define DEVICE_SLOTS_MIN 32

static int devices_resize(TelemetryManager *m, unsigned slots) {
        DeviceEntry *t = calloc(slots, sizeof(DeviceEntry));

        if (!t)
                return -ENOMEM;
        for (unsigned j = 0; j < m->device_slots; j++) {
                unsigned h;

                if (m->devices[j].id[0] == '\0')
                        continue;
                for (h = hash_id(m->devices[j].id) & (slots - 1); t[h].id[0]; h = (h + 1) & (slots - 1))
                        ;
                t[h] = m->devices[j];
        }
        free(m->devices);
        m->devices = t;
        m->device_slots = slots;
        return 0;
}

/* The device's entry, created if there is room; NULL when TELEMETRY_DEVICES_MAX are tracked (or no
 * memory to grow the table): then the caller uses the shared bucket. */
static DeviceEntry *device_entry(TelemetryManager *m, const char *id) {
        unsigned slots = m->device_slots, h = hash_id(id) & (slots - 1);
        DeviceEntry *e;

        for (; m->devices[h].id[0]; h = (h + 1) & (slots - 1))
                if (streq(m->devices[h].id, id))
                        return &m->devices[h];
        if (m->n_devices >= TELEMETRY_DEVICES_MAX)
                return NULL;
        if (2 * (m->n_devices + 1) > slots) {
                if (devices_resize(m, 2 * slots) < 0)
                        return NULL;
                slots = m->device_slots;
                for (h = hash_id(id) & (slots - 1); m->devices[h].id[0]; h = (h + 1) & (slots - 1))
                        ;
        }
        e = &m->devices[h];
        (void) snprintf(e->id, sizeof e->id, "%s", id);
        e->tokens = tcfg(m)->device_burst;
        e->refilled_usec = mono_usec(m);
        m->n_devices++;
        return e;
}

static bool device_take_token(TelemetryManager *m, DeviceEntry *e) {
        uint64_t now = mono_usec(m);

        e->tokens = MIN((double) tcfg(m)->device_burst,
                        e->tokens + (double) (now - e->refilled_usec) * tcfg(m)->device_rate_per_sec / 1e6);
        e->refilled_usec = now;
        if (e->tokens < 1.0)
                return false;
        e->tokens -= 1.0;
        return true;
}

static void device_message(MqttClient *c, void *userdata, const struct mosquitto_message *msg) {
        TelemetryManager *m = userdata;
        char id[DEVICE_ID_MAX + 1], reason[160], topic[DEVICE_ID_MAX + 32];
        _cleanup_free_ char *text = NULL;
        json_t *data = NULL;
        DeviceEntry *e;
        int n, r;

        if (device_topic_match(tcfg(m)->device_topic_pattern, msg->topic, id) < 0) {
                m->invalid++;
                log_debug("Dropped a message on a topic outside DeviceTopicPattern=.");
                return;
        }
        e = device_entry(m, id);
        if (!e) {
                /* Beyond TELEMETRY_DEVICES_MAX devices, the rest share one bucket: never unlimited. */
                m->untracked++;
                e = &m->overflow;
                if (e->id[0] == '\0') {
                        (void) snprintf(e->id, sizeof e->id, "(other devices)");
                        e->tokens = tcfg(m)->device_burst;
                        e->refilled_usec = mono_usec(m);
                }
        }
        /* Rate first: a flooding device must not make us parse its JSON. */
        if (e && !device_take_token(m, e)) {
                e->rate_limited++;
                m->rate_limited++;
                return;
        }
        r = device_payload_parse(msg->payload, (size_t) MAX(msg->payloadlen, 0), tcfg(m)->max_payload_bytes, &data,
                                 reason, sizeof reason);
        if (r < 0) {
                if (e)
                        e->invalid++;
                m->invalid++;
                log_debug("Dropped a message from device '%s': %s.", id, reason);
                return;
        }
        /* Scored by the hub's clock: a device's own "ts" is its claim, not a time we can trust. */
        tanomaly_device_message(&m->anomaly, id, data, (double) realtime_usec() / 1e6);
        json_decref(data);
        /*
         * The envelope around the device's own bytes, not a re-encoding of them: they were just
         * proven to be one valid JSON object (and the device id is [A-Za-z0-9_-]), so the result is
         * valid JSON too, and a re-encoding per message is saved (tests/bench).
         */
        (void) snprintf(topic, sizeof topic, "devices/%s/telemetry", id);
        text = malloc((size_t) msg->payloadlen + DEVICE_ID_MAX + 64);
        if (!text)
                return;
        n = snprintf(text, DEVICE_ID_MAX + 64, "{\"device\":\"%s\",\"received_ms\":%" PRIu64 ",\"data\":", id,
                     realtime_usec() / 1000);
        memcpy(text + n, msg->payload, (size_t) msg->payloadlen);
        text[n + msg->payloadlen] = '}';
        r = enqueue_text(m, OUTBOX_PRIORITY_ROUTINE, topic, text, (size_t) n + (size_t) msg->payloadlen + 1);
        if (r >= 0) {
                if (e)
                        e->accepted++;
                m->accepted++;
        }
}

/* The device link's PUBACKs may go out when nothing received waits for a commit. */
static bool device_may_flush(MqttClient *c, void *userdata) {
        TelemetryManager *m = userdata;

        return m->outbox.pending_rows == 0;
}

static void device_connected(MqttClient *c, void *userdata) {
        TelemetryManager *m = userdata;
        int r;

        /* Subscribe on every connection: the session persists, but a broker restarted without
         * persistence has forgotten it. */
        r = mqtt_client_subscribe(c, tcfg(m)->device_topic_pattern, 1);
        if (r < 0)
                log_warning_errno(r, "Cannot subscribe to '%s' on the device broker: %m", tcfg(m)->device_topic_pattern);
        mqtt_client_flush(c);
        telemetry_update_state(m);
}

static void device_disconnected(MqttClient *c, void *userdata, const char *reason) {
        telemetry_update_state(userdata);
}

static const MqttClientOps device_ops = {
        .connected = device_connected,
        .disconnected = device_disconnected,
        .message = device_message,
        .may_flush = device_may_flush,
};

/* ---- security events from the other domains ---- */

/*
 * Who owns org.hubguard.identity1 now. sd-bus cannot match a signal's sender against a well-known
 * name by itself, and anyone on the bus may emit a signal with identity1's path and interface: we
 * accept AuthFailure only from the unique name that owns identity1.
 */
static int on_identity_owner(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        TelemetryManager *m = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_is_method_error(msg, NULL))
                return 0; /* GetNameOwner: not running yet */
        if (sd_bus_message_is_signal(msg, "org.freedesktop.DBus", "NameOwnerChanged")) {
                if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0 ||
                    !streq(name, HUB_BUS_NAME_IDENTITY))
                        return 0;
        } else if (sd_bus_message_read(msg, "s", &new_owner) < 0)
                return 0;
        (void) snprintf(m->identity_owner, sizeof m->identity_owner, "%s", new_owner);
        return 0;
}

static int on_auth_failure(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        TelemetryManager *m = userdata;
        const char *account, *source;
        uint32_t failures;
        int locked, r;
        json_t *body;

        if (!m->identity_owner[0] || !streq_ptr(sd_bus_message_get_sender(msg), m->identity_owner)) {
                log_debug("Ignoring an AuthFailure signal not sent by the owner of %s.", HUB_BUS_NAME_IDENTITY);
                return 0;
        }
        r = sd_bus_message_read(msg, "ssub", &account, &source, &failures, &locked);
        if (r < 0 || !string_is_safe(account, 64) || !string_is_safe(source, 128)) {
                log_debug("Ignoring a malformed AuthFailure signal.");
                return 0;
        }
        body = json_pack("{s:s, s:s, s:s, s:I, s:b, s:I}", "event", locked ? "auth-lockout" : "auth-failure", "account",
                         account, "source", source, "failures", (json_int_t) failures, "locked", locked, "time_ms",
                         (json_int_t) (realtime_usec() / 1000));
        if (body)
                (void) telemetry_enqueue(m, OUTBOX_PRIORITY_SECURITY, "security/auth", body);
        json_decref(body);
        /* One event now, so that the burst rule holds as soon as the burst does. */
        (void) telemetry_anomaly_sample(m, "security/failed_logins", (double) realtime_usec() / 1e6, 1, false);
        return 0;
}

/* ---- anomaly scoring ---- */

int telemetry_anomaly_sample(TelemetryManager *m, const char *metric, double t, double value, bool imported) {
        return tanomaly_sample(&m->anomaly, metric, t, value, imported);
}

static void on_anomaly_alert(void *userdata, const AnomalyAlertRecord *a) {
        TelemetryManager *m = userdata;
        char f1[ANOMALY_METRIC_MAX + 32], f2[64], f3[48];
        json_t *body;
        int r;

        /*
         * An imported sample's alert is about history, not about this hub now: it is not queued, so
         * that a bulk import can never push real security events out of the outbox.
         */
        if (!a->imported) {
                body = tanomaly_alert_json(a);
                if (body)
                        (void) telemetry_enqueue(m, OUTBOX_PRIORITY_SECURITY, "security/anomaly", body);
                json_decref(body);
        }
        (void) snprintf(f1, sizeof f1, "HUBGUARD_METRIC=%s", a->metric);
        (void) snprintf(f2, sizeof f2, "HUBGUARD_SCORE=%.3f", a->score);
        (void) snprintf(f3, sizeof f3, "HUBGUARD_REASON=%s", a->reason);
        log_struct(LOG_WARNING, MESSAGE_ID_ANOMALY_DETECTED, STRV(f1, f2, f3), "Anomaly in %s%s: score %.2f (%s): %s.",
                   a->metric, a->imported ? " (imported sample)" : "", a->score, a->reason, a->detail);
        r = sd_bus_emit_signal(m->daemon->bus, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY, "AnomalyDetected",
                               "sdsst", a->metric, a->score, a->reason, a->detail, a->time_usec);
        if (r < 0)
                log_debug_errno(r, "Cannot emit AnomalyDetected: %m");
}

/* Per anomaly tick: each device's messages (accepted, invalid or rate-limited) and invalid ones since the last. */
static void anomaly_tick_devices(TelemetryManager *m, double t) {
        char name[ANOMALY_METRIC_MAX + 1];

        for (unsigned i = 0; i < m->device_slots; i++) {
                DeviceEntry *e = &m->devices[i];
                uint64_t all;

                if (!e->id[0])
                        continue;
                all = e->accepted + e->invalid + e->rate_limited;
                (void) snprintf(name, sizeof name, "device/%s/messages", e->id);
                (void) telemetry_anomaly_sample(m, name, t, (double) (all - e->scored_messages), false);
                (void) snprintf(name, sizeof name, "device/%s/invalid", e->id);
                (void) telemetry_anomaly_sample(m, name, t, (double) (e->invalid - e->scored_invalid), false);
                e->scored_messages = all;
                e->scored_invalid = e->invalid;
        }
}

static void anomaly_save(TelemetryManager *m) {
        int r;

        r = tanomaly_save(&m->anomaly, m->anomaly_state_path);
        if (r < 0)
                log_warning_errno(r, "Cannot save the anomaly detectors to %s: %m", m->anomaly_state_path);
        else
                log_debug("Saved %u anomaly detectors.", m->anomaly.n_metrics);
}

static int on_anomaly_save(sd_event_source *s, uint64_t usec, void *userdata) {
        TelemetryManager *m = userdata;

        anomaly_save(m);
        (void) sd_event_source_set_time(s, usec + tcfg(m)->anomaly_save_interval_sec * 1000000ULL);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* ---- hub metrics ---- */

/* Without hub metrics the security and device counts are still scored, at this interval. */
#define ANOMALY_TICK_SEC_DEFAULT 60

static unsigned tick_sec(TelemetryManager *m) {
        return tcfg(m)->metrics_interval_sec > 0 ? tcfg(m)->metrics_interval_sec : ANOMALY_TICK_SEC_DEFAULT;
}

static int on_metrics(sd_event_source *s, uint64_t usec, void *userdata) {
        static const char *const tcp_files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
        TelemetryManager *m = userdata;
        double t = (double) realtime_usec() / 1e6;

        if (tcfg(m)->metrics_interval_sec > 0) {
                json_t *body = telemetry_collect_metrics(m);

                if (body) {
                        (void) telemetry_enqueue(m, OUTBOX_PRIORITY_ROUTINE, "metrics", body);
                        tanomaly_hub_metrics(&m->anomaly, body, &m->hub_counters, t);
                }
                json_decref(body);
        }
        /* The rest of the anomaly tick: counts since the last one (zeros teach the detectors the quiet). */
        (void) telemetry_anomaly_sample(m, "security/failed_logins", t, 0, false);
        (void) tanomaly_scan_sockets(&m->anomaly, tcp_files, ELEMENTSOF(tcp_files), t);
        anomaly_tick_devices(m, t);
        (void) sd_event_source_set_time(s, usec + tick_sec(m) * 1000000ULL);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

/* ---- set-up ---- */

/* The hub id: the CN of the device certificate hub-identityd made (hub-<128 bits in hex>). */
static int read_hub_id(TelemetryManager *m) {
        _cleanup_fclose_ FILE *f = fopen(m->cert_path, "re");
        X509 *cert;
        int n;

        if (!f)
                return -errno;
        cert = PEM_read_X509(f, NULL, NULL, NULL);
        if (!cert)
                return -EBADMSG;
        n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, m->hub_id, sizeof m->hub_id);
        X509_free(cert);
        if (n <= 0 || !identifier_is_valid(m->hub_id, DEVICE_ID_MAX))
                return -EBADMSG;
        return 0;
}

static int setup_cloud(TelemetryManager *m) {
        const typeof(*tcfg(m)) *t = tcfg(m);
        char path[PATH_MAX];
        int r;

        r = seal_master_key_path(TELEMETRY_CRED_DEVICE_CERT, path, sizeof path);
        if (r >= 0 && !(m->cert_path = strdup(path)))
                return log_oom();
        r = r < 0 ? r : seal_master_key_path(TELEMETRY_CRED_DEVICE_KEY, path, sizeof path);
        if (r >= 0 && !(m->key_path = strdup(path)))
                return log_oom();
        if (r >= 0)
                r = read_hub_id(m);
        if (r < 0) {
                (void) snprintf(m->last_error, sizeof m->last_error,
                                "no device identity ($CREDENTIALS_DIRECTORY/%s): %s", TELEMETRY_CRED_DEVICE_CERT,
                                strerror(-r));
                log_warning("Cannot read the device identity: %s. Telemetry is queued, not sent.", m->last_error);
                return 0;
        }
        if (asprintf(&m->status_topic, "%s/%s/status", t->cloud_topic_prefix, m->hub_id) < 0)
                return log_oom();
        if (!t->cloud_broker_host) {
                log_notice("No cloud broker configured (CloudBrokerHost=): telemetry is queued in the outbox only.");
                return 0;
        }

        m->cloud_enabled = true;
        return mqtt_client_start(&m->cloud, m->daemon->event,
                                 &(MqttClientConfig) {
                                         .name = "Cloud broker",
                                         .host = t->cloud_broker_host,
                                         .port = t->cloud_broker_port,
                                         .client_id = m->hub_id,
                                         .tls = true,
                                         .cafile = t->cloud_ca_file,
                                         .certfile = m->cert_path,
                                         .keyfile = m->key_path,
                                         .tls_min_version = t->cloud_tls_min_version,
                                         .alpn = t->cloud_alpn,
                                         .will_topic = m->status_topic,
                                         .will_payload = "offline",
                                         .keepalive_sec = 30,
                                         .send_maximum = TELEMETRY_INFLIGHT_MAX,
                                         /* Drain before fill: a PUBACK (and the next message out) goes
                                          * before the next device message in, so that ingest never
                                          * leaves the cloud window idle (tests/bench, wide area). */
                                         .priority = SD_EVENT_PRIORITY_NORMAL - 1,
                                         .connect_timeout_sec = t->connect_timeout_sec,
                                         .reconnect_min_usec = t->reconnect_min_sec * 1000000ULL,
                                         .reconnect_max_usec = t->reconnect_max_sec * 1000000ULL,
                                 },
                                 &cloud_ops, m);
}

static int setup_device_broker(TelemetryManager *m) {
        const typeof(*tcfg(m)) *t = tcfg(m);
        _cleanup_erase_free_ char *pw = NULL;
        size_t len;
        int r;

        if (!t->device_broker_host)
                return 0;
        if (t->device_broker_user) {
                r = read_file_bounded(t->device_broker_password_file, 1024, &pw, &len);
                if (r < 0)
                        return log_error_errno(r, "Cannot read DeviceBrokerPasswordFile='%s': %m",
                                               t->device_broker_password_file);
                pw[strcspn(pw, "\r\n")] = '\0';
                m->device_password = sodium_malloc(strlen(pw) + 1);
                if (!m->device_password)
                        return log_oom();
                strcpy(m->device_password, pw);
        }
        m->device_enabled = true;
        return mqtt_client_start(&m->device, m->daemon->event,
                                 &(MqttClientConfig) {
                                         .name = "Device broker",
                                         .host = t->device_broker_host,
                                         /* A device's message is acknowledged after the commit that holds it. */
                                         .hold_writes = true,
                                         /* What devices publish while we are down (a restart, a crash) is
                                          * queued for us by the broker, and what we received but did not
                                          * acknowledge is sent again. */
                                         .client_id = TELEMETRY_DEVICE_CLIENT_ID,
                                         .persistent_session = true,
                                         .port = t->device_broker_port,
                                         .username = t->device_broker_user,
                                         .password = m->device_password,
                                         .keepalive_sec = 30,
                                         .connect_timeout_sec = t->connect_timeout_sec,
                                         .reconnect_min_usec = t->reconnect_min_sec * 1000000ULL,
                                         .reconnect_max_usec = MIN(t->reconnect_max_sec, 30u) * 1000000ULL,
                                 },
                                 &device_ops, m);
}

static int telemetry_setup(HubDaemon *d) {
        const typeof(d->config.telemetry) *t = &d->config.telemetry;
        TelemetryManager *m;
        int r;

        /*
         * Each PUBACK's DELETE and each TLS record would otherwise make glibc give memory back and
         * take it again (brk, page faults): measured 30%% of the CPU per message (tests/bench).
         */
        (void) mallopt(M_TRIM_THRESHOLD, 8 << 20);
        (void) mallopt(M_TOP_PAD, 1 << 20);

        if (sodium_init() < 0)
                return log_error_errno(EIO, "libsodium failed to initialise.");
        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        d->userdata = m;
        m->daemon = d;
        if (devices_resize(m, DEVICE_SLOTS_MIN) < 0)
                return log_oom();

        r = outbox_init(&m->outbox, d->db, t->outbox_max_messages, (uint64_t) t->outbox_max_mib << 20,
                        t->security_max_messages);
        if (r < 0)
                return log_error_errno(r, "Cannot open the outbox: %m");
        r = outbox_epoch(d->db, m->outbox_epoch, sizeof m->outbox_epoch);
        if (r < 0)
                return log_error_errno(r, "Cannot read the outbox epoch: %m");
        log_info("Outbox: %" PRIu64 " messages (%" PRIu64 " bytes) waiting.", m->outbox.rows, m->outbox.bytes);

        r = setup_cloud(m);
        if (r >= 0)
                r = setup_device_broker(m);
        if (r < 0)
                return r;

        r = sd_bus_match_signal(d->bus, &m->auth_failure_slot, NULL, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY,
                                "AuthFailure", on_auth_failure, m);
        if (r >= 0)
                r = sd_bus_match_signal(d->bus, &m->owner_slot, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameOwnerChanged", on_identity_owner, m);
        if (r >= 0)
                r = sd_bus_call_method_async(d->bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetNameOwner", on_identity_owner, m, "s",
                                             HUB_BUS_NAME_IDENTITY);
        if (r < 0)
                return log_error_errno(r, "Cannot watch hub-identityd's AuthFailure signal: %m");

        r = tanomaly_init(&m->anomaly, &d->config, on_anomaly_alert, m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the anomaly detectors: %m");
        if (asprintf(&m->anomaly_state_path, "%s/%s", d->state_dir, ANOMALY_STATE_FILE) < 0)
                return log_oom();
        r = tanomaly_load(&m->anomaly, m->anomaly_state_path);
        if (r < 0)
                log_warning_errno(r, "Cannot read the anomaly detector state %s, learning starts anew: %m",
                                  m->anomaly_state_path);
        else
                log_info("Anomaly detectors: %d restored from %s.", r, m->anomaly_state_path);
        r = sd_event_add_time_relative(d->event, &m->anomaly_save_timer, CLOCK_MONOTONIC,
                                       t->anomaly_save_interval_sec * 1000000ULL, 0, on_anomaly_save, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the anomaly state timer: %m");

        /* The metrics timer is also the anomaly tick (security and device counts, sockets). */
        r = sd_event_add_time_relative(d->event, &m->metrics_timer, CLOCK_MONOTONIC, tick_sec(m) * 1000000ULL, 0,
                                       on_metrics, m);
        if (r < 0)
                return log_error_errno(r, "Cannot start the metrics timer: %m");
        telemetry_update_state(m);
        return 0;
}

static void telemetry_teardown(HubDaemon *d) {
        TelemetryManager *m = d->userdata;

        /* Commit first: what was accepted stays accepted. */
        outbox_done(&m->outbox);
        /* A restart must not start learning anew. */
        if (m->anomaly_state_path)
                anomaly_save(m);
        tanomaly_done(&m->anomaly);
        free(m->anomaly_state_path);
        sd_event_source_disable_unref(m->anomaly_save_timer);
        /* A planned stop sends no will: say "offline" ourselves, retained like the birth message. */
        if (m->cloud_enabled && m->cloud.connected)
                (void) mqtt_client_publish(&m->cloud, NULL, m->status_topic, "offline", 7, 0, true, NULL);
        if (m->cloud_enabled)
                mqtt_client_stop(&m->cloud);
        if (m->device_enabled)
                mqtt_client_stop(&m->device);
        sd_event_source_disable_unref(m->commit_timer);
        sd_event_source_disable_unref(m->drain_timer);
        sd_event_source_disable_unref(m->metrics_timer);
        sd_bus_slot_unref(m->auth_failure_slot);
        sd_bus_slot_unref(m->owner_slot);
        sodium_free(m->device_password);
        free(m->cert_path);
        free(m->key_path);
        free(m->status_topic);
        free(m->devices);
        free(m);
        d->userdata = NULL;
}

const HubDaemonOps telemetry_daemon_ops = {
        .domain = HUB_DOMAIN_TELEMETRY,
        .program = "hub-telemetryd",
        .description = "The hubguard telemetry domain: device and hub telemetry to the cloud over TLS MQTT.",
        .bus_name = HUB_BUS_NAME_TELEMETRY,
        .bus_path = HUB_BUS_PATH_TELEMETRY,
        .bus_iface = HUB_BUS_IFACE_TELEMETRY,
        .vtable = telemetry_manager_vtable,
        .migrations = migrations,
        .n_migrations = ELEMENTSOF(migrations),
        .setup = telemetry_setup,
        .teardown = telemetry_teardown,
};
