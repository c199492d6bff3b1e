/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubctl telemetry status: the cloud link and the outbox, in words. */

#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "hubctl.h"
#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/validate.h"

const char verb_telemetry_usage[] =
        "hubctl telemetry status [--json]\n"
        "hubctl telemetry anomalies [--json]\n\n"
        "status: whether the hub's telemetry reaches the cloud broker, since when it does not and why, how\n"
        "many messages wait in the outbox, and what was dropped (and why).\n"
        "anomalies: the most recent anomaly alerts (up to 100, oldest first, since hub-telemetryd started):\n"
        "when, which metric, its score and value, and why it stood out.\n"
        "Both need root or group hubadmin.\n\n"
        "  -h --help   Show this help\n"
        "     --json   status: print {\"state\", \"hub_id\", \"cloud_broker\", \"offline_since\" (ISO 8601 or\n"
        "              null), \"queued_messages\", \"queued_bytes\", \"accepted_messages\",\n"
        "              \"dropped\": {REASON: N}, \"last_error\"}\n"
        "              anomalies: print {\"scored_metrics\", \"alerts\": [{\"time\" (ISO 8601), \"time_usec\",\n"
        "              \"metric\", \"score\", \"value\", \"reason\", \"detail\", \"imported\"}]}\n\n"
        "Exit status: status: 0 if telemetry is online, 1 otherwise; anomalies: 0 if the list was read, 1\n"
        "otherwise; 2 on a usage error.\n";

#define DROP_REASONS_MAX 16

typedef struct TelemetryInfo {
        char state[32], hub_id[80], cloud[300], last_error[400];
        uint64_t offline_since, queued, queued_bytes, accepted;
        struct {
                char name[32];
                uint64_t n;
        } dropped[DROP_REASONS_MAX];
        unsigned n_dropped;
} TelemetryInfo;

static int read_dropped(sd_bus_message *reply, TelemetryInfo *t) {
        const char *name;
        uint64_t n;
        int r;

        r = sd_bus_message_enter_container(reply, 'v', "a{st}");
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "{st}");
        while (r >= 0 && (r = sd_bus_message_read(reply, "{st}", &name, &n)) > 0)
                if (t->n_dropped < DROP_REASONS_MAX && identifier_is_valid(name, 31)) {
                        hubctl_copy_string(t->dropped[t->n_dropped].name, sizeof t->dropped[0].name, name);
                        t->dropped[t->n_dropped++].n = n;
                }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int read_info(sd_bus_message *reply, TelemetryInfo *t) {
        static const struct {
                const char *name;
                size_t offset;
        } strings[] = {
                { "State", offsetof(TelemetryInfo, state) },
                { "HubId", offsetof(TelemetryInfo, hub_id) },
                { "CloudBroker", offsetof(TelemetryInfo, cloud) },
                { "LastError", offsetof(TelemetryInfo, last_error) },
        }, numbers[] = {
                { "OfflineSinceUSec", offsetof(TelemetryInfo, offline_since) },
                { "QueuedMessages", offsetof(TelemetryInfo, queued) },
                { "QueuedBytes", offsetof(TelemetryInfo, queued_bytes) },
                { "AcceptedMessages", offsetof(TelemetryInfo, accepted) },
        };
        const char *name, *s;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                bool done = false;

                r = sd_bus_message_read(reply, "s", &name);
                for (size_t i = 0; r >= 0 && !done && i < ELEMENTSOF(strings); i++)
                        if (streq(name, strings[i].name)) {
                                r = sd_bus_message_read(reply, "v", "s", &s);
                                if (r >= 0)
                                        hubctl_copy_string((char *) t + strings[i].offset,
                                                    i == 0 ? sizeof t->state : i == 1 ? sizeof t->hub_id
                                                                         : i == 2 ? sizeof t->cloud
                                                                                  : sizeof t->last_error,
                                                    s);
                                done = true;
                        }
                for (size_t i = 0; r >= 0 && !done && i < ELEMENTSOF(numbers); i++)
                        if (streq(name, numbers[i].name)) {
                                r = sd_bus_message_read(reply, "v", "t", (uint64_t *) ((char *) t + numbers[i].offset));
                                done = true;
                        }
                if (r >= 0 && !done)
                        r = streq(name, "DroppedMessages") ? read_dropped(reply, t) : sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static void format_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / 1000000ULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "?");
}

/* Dropped for lack of room or a corrupt store: data the user lost. Invalid input is not data lost. */
static uint64_t lost(const TelemetryInfo *t) {
        uint64_t n = 0;

        for (unsigned i = 0; i < t->n_dropped; i++)
                if (streq(t->dropped[i].name, "full") || streq(t->dropped[i].name, "security-full"))
                        n += t->dropped[i].n;
        return n;
}

static int print_json(const TelemetryInfo *t) {
        json_t *o, *dropped = json_object();
        char when[64];

        for (unsigned i = 0; dropped && i < t->n_dropped; i++)
                (void) json_object_set_new(dropped, t->dropped[i].name, json_integer((json_int_t) t->dropped[i].n));
        format_time(t->offline_since, when, sizeof when);
        o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:o, s:s}", "state", t->state, "hub_id", t->hub_id,
                      "cloud_broker", t->cloud, "offline_since", t->offline_since ? json_string(when) : json_null(),
                      "queued_messages", (json_int_t) t->queued, "queued_bytes", (json_int_t) t->queued_bytes,
                      "accepted_messages", (json_int_t) t->accepted, "dropped", dropped ? dropped : json_object(),
                      "last_error", t->last_error);
        if (!o)
                return -ENOMEM;
        return hubctl_print_json(o) == HUBCTL_EXIT_OK ? 0 : -EIO;
}

static void print_text(const TelemetryInfo *t) {
        char when[64];

        format_time(t->offline_since, when, sizeof when);
        if (streq(t->state, "online"))
                printf("Cloud link:  online, to %s (this hub is %s)\n", t->cloud, t->hub_id);
        else if (streq(t->state, "degraded"))
                printf("Cloud link:  degraded: online to %s, but %s\n", t->cloud,
                       strncmp(t->last_error, "outbox:", 7) == 0 ? "the outbox cannot be written (disk full?)"
                                                                 : "the local device broker is unreachable");
        else if (t->cloud[0])
                printf("Cloud link:  %s: the cloud broker %s is unreachable since %s\n", t->state, t->cloud, when);
        else
                printf("Cloud link:  %s: not sending to a cloud broker (see the reason)\n", t->state);
        if (t->last_error[0])
                printf("Reason:      %s\n", t->last_error);
        printf("Waiting:     %" PRIu64 " message%s (%" PRIu64 " bytes) in the outbox; %s\n", t->queued,
               t->queued == 1 ? "" : "s", t->queued_bytes,
               lost(t) == 0 ? "nothing lost" : "some telemetry was dropped for room (see below)");
        printf("Accepted:    %" PRIu64 " device messages since start\n", t->accepted);
        printf("Dropped:    ");
        for (unsigned i = 0; i < t->n_dropped; i++)
                printf(" %s %" PRIu64 "%s", t->dropped[i].name, t->dropped[i].n, i + 1 < t->n_dropped ? "," : "");
        printf("\n");
}

static int report_call_error(const sd_bus_error *error, int r) {
        if (bus_error_is_unreachable(error))
                fprintf(stderr, "hubctl telemetry: hub-telemetryd is not running (start hub-telemetryd.service).\n");
        else if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED))
                fprintf(stderr, "hubctl telemetry: permission denied: run as root or as a member of group %s.\n",
                        HUB_ADMIN_GROUP_NAME);
        else
                fprintf(stderr, "hubctl telemetry: %s\n", error->message ? error->message : strerror(-r));
        return HUBCTL_EXIT_FAILURE;
}

static int telemetry_anomalies(sd_bus *bus, bool json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        json_t *alerts = json_array();
        uint32_t scored = 0;
        unsigned n = 0;
        int r, imported;

        if (!alerts)
                return HUBCTL_EXIT_FAILURE;
        r = sd_bus_get_property_trivial(bus, HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY,
                                        "ScoredMetrics", &error, 'u', &scored);
        if (r >= 0)
                r = sd_bus_call_method(bus, HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY,
                                       "ListAnomalies", &error, &reply, NULL);
        if (r < 0) {
                json_decref(alerts);
                return report_call_error(&error, r);
        }
        r = sd_bus_message_enter_container(reply, 'a', "(tsddssb)");
        if (!json && r >= 0)
                printf("%-20s  %-40s %5s  %-11s %s\n", "TIME", "METRIC", "SCORE", "REASON", "DETAIL");
        for (;;) {
                const char *metric, *reason, *detail;
                char when[32], m[256], re[32], de[256];
                uint64_t t;
                double score, value;

                if (r < 0)
                        break;
                r = sd_bus_message_read(reply, "(tsddssb)", &t, &metric, &score, &value, &reason, &detail, &imported);
                if (r <= 0)
                        break;
                hubctl_copy_string(m, sizeof m, metric);
                hubctl_copy_string(re, sizeof re, reason);
                hubctl_copy_string(de, sizeof de, detail);
                format_time(t, when, sizeof when);
                n++;
                if (json)
                        (void) json_array_append_new(
                                alerts, json_pack("{s:s, s:I, s:s, s:f, s:f, s:s, s:s, s:b}", "time", when, "time_usec",
                                                  (json_int_t) t, "metric", m, "score", score, "value", value, "reason",
                                                  re, "detail", de, "imported", imported));
                else
                        printf("%-20s  %-40s %5.2f  %-11s %s%s\n", when, m, score, re, de, imported ? " (imported)" : "");
        }
        if (r < 0) {
                json_decref(alerts);
                fprintf(stderr, "hubctl telemetry: malformed answer from hub-telemetryd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (json) {
                /* "s:o" takes alerts over, also when json_pack() fails. */
                return hubctl_print_json(json_pack("{s:I, s:o}", "scored_metrics", (json_int_t) scored, "alerts", alerts));
        }
        json_decref(alerts);
        printf("\n%u alert%s; %" PRIu32 " metrics scored.\n", n, n == 1 ? "" : "s", scored);
        return fflush(stdout) == 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
}

int verb_telemetry(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        HubctlOptions o = *global;
        TelemetryInfo t = {};
        int first, r;

        r = hubctl_verb_options(argc, argv, verb_telemetry_usage, "j", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (argc - first != 1 || (!streq(argv[first], "status") && !streq(argv[first], "anomalies")))
                return hubctl_usage_error("telemetry", "expects 'status' or 'anomalies'");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        if (streq(argv[first], "anomalies"))
                return telemetry_anomalies(bus, o.json);
        r = sd_bus_call_method(bus, HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY, "org.freedesktop.DBus.Properties",
                               "GetAll", &error, &reply, "s", HUB_BUS_IFACE_TELEMETRY);
        if (r < 0)
                return report_call_error(&error, r);
        r = read_info(reply, &t);
        if (r < 0) {
                fprintf(stderr, "hubctl telemetry: malformed answer from hub-telemetryd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (o.json)
                r = print_json(&t);
        else
                print_text(&t);
        if (r < 0 || fflush(stdout) != 0)
                return HUBCTL_EXIT_FAILURE;
        return streq(t.state, "online") ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
}
