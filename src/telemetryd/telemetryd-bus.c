/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* org.hubguard.telemetry1.Manager: the state of the link and the queue, in words a person can use. */

#include "hubguard/bus-util.h"
#include "telemetryd-erase.h"
#include "telemetryd-manager.h"

static TelemetryManager *manager(void *userdata) {
        return ((HubDaemon *) userdata)->userdata;
}

static int property_get_offline_since(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", manager(userdata)->offline_since_usec);
}

static int property_get_queued(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Outbox *o = &manager(userdata)->outbox;

        return sd_bus_message_append(reply, "t", streq(property, "QueuedMessages") ? o->rows : o->bytes);
}

static int property_get_dropped(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        TelemetryManager *m = manager(userdata);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{st}");
        for (OutboxDrop d = 0; r >= 0 && d < _OUTBOX_DROP_MAX; d++)
                r = sd_bus_message_append(reply, "{st}", outbox_drop_to_string(d), m->outbox.dropped[d]);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{st}", "invalid", m->invalid);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{st}", "rate-limited", m->rate_limited);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static int property_get_counter(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", manager(userdata)->accepted);
}

static int property_get_last_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager(userdata)->last_error);
}

static int property_get_cloud(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        TelemetryManager *m = manager(userdata);
        const typeof(m->daemon->config.telemetry) *t = &m->daemon->config.telemetry;
        char buf[300] = "";

        if (m->cloud_enabled)
                (void) snprintf(buf, sizeof buf, "%s:%u", t->cloud_broker_host, t->cloud_broker_port);
        return sd_bus_message_append(reply, "s", buf);
}

static int property_get_hub_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager(userdata)->hub_id);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        TelemetryManager *m = manager(userdata);
        int r;

        r = bus_verify_caller(msg, &(BusAccess) { .admin_group = true }, NULL, error);
        if (r <= 0)
                return r < 0 ? r : -EACCES;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sttt)");
        for (unsigned i = 0; r >= 0 && i < m->device_slots; i++) {
                const DeviceEntry *e = &m->devices[i];

                if (e->id[0])
                        r = sd_bus_message_append(reply, "(sttt)", e->id, e->accepted, e->invalid, e->rate_limited);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_scored(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", tanomaly_n_scored(&manager(userdata)->anomaly));
}

static int property_get_evicted(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", manager(userdata)->anomaly.evicted);
}

static int method_list_anomalies(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        TelemetryManager *m = manager(userdata);
        int r;

        r = bus_verify_caller(msg, &(BusAccess) { .admin_group = true }, NULL, error);
        if (r <= 0)
                return r < 0 ? r : -EACCES;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(tsddssb)");
        for (unsigned i = 0; r >= 0 && i < m->anomaly.ring_len; i++) {
                const AnomalyAlertRecord *a = tanomaly_ring_get(&m->anomaly, i);

                r = sd_bus_message_append(reply, "(tsddssb)", a->time_usec, a->metric, a->score, a->value, a->reason,
                                          a->detail, a->imported);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/*
 * Samples from elsewhere, judged by their own timestamps: a hub maker pre-trains the detectors on
 * a fleet's normal history, and the tests replay a simulated week. Root only: whoever may feed the
 * detectors may teach them that an attack is normal.
 */
static int method_import_samples(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        TelemetryManager *m = manager(userdata);
        uint32_t scored = 0, refused = 0, alerts = 0, n = 0;
        const char *metric;
        uint64_t t;
        double v;
        int r;

        /* Counted before anything is scored: a call over the limit changes nothing. */
        r = sd_bus_message_enter_container(msg, 'a', "(std)");
        while (r >= 0 && (r = sd_bus_message_skip(msg, "(std)")) > 0)
                if (++n > TELEMETRY_IMPORT_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "At most %u samples per call.",
                                                 TELEMETRY_IMPORT_MAX);
        if (r >= 0)
                r = sd_bus_message_rewind(msg, true);
        if (r >= 0)
                r = sd_bus_message_enter_container(msg, 'a', "(std)");
        if (r < 0)
                return r;
        r = bus_verify_caller(msg, &(BusAccess) {}, NULL, error);
        if (r <= 0)
                return r < 0 ? r : -EACCES;
        while ((r = sd_bus_message_read(msg, "(std)", &metric, &t, &v)) > 0) {
                r = telemetry_anomaly_sample(m, metric, (double) t / 1e6, v, true);
                if (r < 0)
                        refused++;
                else {
                        scored++;
                        alerts += r;
                }
        }
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "uuu", scored, refused, alerts);
}

const sd_bus_vtable telemetry_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_PROPERTY("HubId", "s", property_get_hub_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CloudBroker", "s", property_get_cloud, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("OfflineSinceUSec", "t", property_get_offline_since, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("QueuedMessages", "t", property_get_queued, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("QueuedBytes", "t", property_get_queued, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DroppedMessages", "a{st}", property_get_dropped, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AcceptedMessages", "t", property_get_counter, 0, 0),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sttt)", devices_accepted_invalid_ratelimited), method_list_devices,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("ScoredMetrics", "u", property_get_scored, 0, 0),
        SD_BUS_PROPERTY("DetectorsEvicted", "t", property_get_evicted, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("ListAnomalies", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(tsddssb)", alerts_time_metric_score_value_reason_detail_imported),
                                method_list_anomalies, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportSamples", SD_BUS_ARGS("a(std)", samples_metric_time_value),
                                SD_BUS_RESULT("u", scored, "u", refused, "u", alerts), method_import_samples,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("AnomalyDetected",
                                SD_BUS_ARGS("s", metric, "d", score, "s", reason, "s", detail, "t", time_usec), 0),
        /* For hub-privacyd (telemetryd-erase.c): root and hub-privacy only. */
        SD_BUS_METHOD_WITH_ARGS("PurgeSubject", SD_BUS_ARGS("s", subject), SD_BUS_RESULT("t", purged),
                                telemetry_method_purge_subject, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RequestErase", SD_BUS_ARGS("s", subject, "s", request_id), SD_BUS_NO_RESULT,
                                telemetry_method_request_erase, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("EraseRequestState", SD_BUS_ARGS("s", request_id), SD_BUS_RESULT("s", state),
                                telemetry_method_erase_request_state, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
