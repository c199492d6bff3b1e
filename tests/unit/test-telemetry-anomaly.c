/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-telemetryd's anomaly glue (src/telemetryd/telemetryd-anomaly.c): metric names and kinds, the
 * (device, field) cap with eviction of the one idle longest, the state file round trip and its
 * refusal of corrupt or foreign files, the alert ring, the fixed rules, the socket scan, and the
 * security event that goes into the outbox.
 */

#include <endian.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"
#include "hubguard/conf.h"
#include "telemetryd-anomaly.h"

#define T0 1700000000.0 /* a Tuesday, 22:13 UTC */

static AnomalyAlertRecord last_alert;
static unsigned n_alerts;

static void on_alert(void *userdata, const AnomalyAlertRecord *a) {
        last_alert = *a;
        n_alerts++;
}

static void setup_anomaly(TelemetryAnomaly *a, unsigned fields_max, const char *ignore) {
        HubConfig c;

        assert_int_equal(config_init_defaults(&c), 0);
        c.telemetry.anomaly_device_fields_max = fields_max;
        c.telemetry.anomaly_warmup_samples = 20;
        c.telemetry.anomaly_failed_login_burst = 5;
        c.telemetry.anomaly_failed_login_window_sec = 60;
        if (ignore)
                c.telemetry.anomaly_ignore = strdup(ignore);
        assert_int_equal(tanomaly_init(a, &c, on_alert, NULL), 0);
        config_done(&c);
        n_alerts = 0;
}

static void test_metric_kinds(void **state) {
        AnomalyKind k;

        assert_true(tanomaly_metric_kind("hub/cpu_percent", &k));
        assert_int_equal(k, ANOMALY_KIND_VALUE);
        assert_true(tanomaly_metric_kind("hub/net/eth0/tx_bytes_per_sec", &k));
        assert_int_equal(k, ANOMALY_KIND_VALUE);
        assert_true(tanomaly_metric_kind("security/failed_logins", &k));
        assert_int_equal(k, ANOMALY_KIND_COUNT);
        assert_true(tanomaly_metric_kind("device/sensor-1/messages", &k));
        assert_int_equal(k, ANOMALY_KIND_COUNT);
        assert_true(tanomaly_metric_kind("device/sensor-1/invalid", &k));
        assert_int_equal(k, ANOMALY_KIND_COUNT);
        /* A field named like a count is a value under data/: no collision. */
        assert_true(tanomaly_metric_kind("device/sensor-1/data/messages", &k));
        assert_int_equal(k, ANOMALY_KIND_VALUE);
        assert_false(tanomaly_metric_kind("security/unknown", &k));
        assert_false(tanomaly_metric_kind("device/x/other", &k));
        assert_false(tanomaly_metric_kind("device//messages", &k));
        assert_false(tanomaly_metric_kind("hub/", &k));
        assert_false(tanomaly_metric_kind("hub/a b", &k));
        assert_false(tanomaly_metric_kind("", &k));
}

static void test_ignore_patterns(void **state) {
        TelemetryAnomaly a;

        setup_anomaly(&a, 16, "hub/temperature/* device/*/data/rssi");
        assert_true(tanomaly_ignored(&a, "hub/temperature/0"));
        assert_true(tanomaly_ignored(&a, "device/s1/data/rssi"));
        assert_false(tanomaly_ignored(&a, "device/s1/data/temp"));
        assert_int_equal(tanomaly_sample(&a, "hub/temperature/0", T0, 40, false), 0);
        assert_false(tanomaly_has_metric(&a, "hub/temperature/0"));
        assert_int_equal(tanomaly_sample(&a, "hub/cpu_percent", T0, 4, false), 0);
        assert_true(tanomaly_has_metric(&a, "hub/cpu_percent"));
        assert_int_equal(a.n_metrics, 1u);
        tanomaly_done(&a);
}

/* Only AnomalyDailyProfile= metrics learn a daily profile (default: device readings, temperatures). */
static void test_daily_profile(void **state) {
        TelemetryAnomaly a;

        setup_anomaly(&a, 16, NULL);
        assert_int_equal(tanomaly_sample(&a, "hub/cpu_percent", T0, 4, false), 0);
        assert_int_equal(tanomaly_sample(&a, "hub/temperature/0", T0, 40, false), 0);
        assert_int_equal(tanomaly_sample(&a, "device/d1/data/temp", T0, 20, false), 0);
        assert_int_equal(tanomaly_sample(&a, "device/d1/messages", T0, 1, false), 0);
        assert_int_equal(tanomaly_detector(&a, "hub/cpu_percent")->settings.season, ANOMALY_SEASON_NONE);
        assert_int_equal(tanomaly_detector(&a, "hub/temperature/0")->settings.season, ANOMALY_SEASON_AUTO);
        assert_int_equal(tanomaly_detector(&a, "device/d1/data/temp")->settings.season, ANOMALY_SEASON_AUTO);
        assert_null(tanomaly_detector(&a, "device/d2/data/temp"));
        tanomaly_done(&a);
}

static void test_bad_samples(void **state) {
        TelemetryAnomaly a;

        setup_anomaly(&a, 16, NULL);
        assert_int_equal(tanomaly_sample(&a, "nope", T0, 1, false), -EINVAL);
        assert_int_equal(tanomaly_sample(&a, "hub/x", T0, NAN, false), -EINVAL);
        assert_int_equal(tanomaly_sample(&a, "security/failed_logins", T0, -1, false), -EINVAL);
        assert_int_equal(tanomaly_sample(&a, "hub/x", T0, 1, false), 0);
        /* A sample from well before the last one is refused; the detector is unchanged. */
        assert_int_equal(tanomaly_sample(&a, "hub/x", T0 - 100, 1, false), -ERANGE);
        assert_int_equal(a.stale, 1u);
        /* An imported one is the caller's mistake, reported to it, not a clock problem. */
        assert_int_equal(tanomaly_sample(&a, "hub/x", T0 - 100, 1, true), -ERANGE);
        assert_int_equal(a.stale, 1u);
        tanomaly_done(&a);
}

/* The cap: the (device, field) detector idle longest goes first, and each eviction is counted. */
static void test_device_field_cap(void **state) {
        TelemetryAnomaly a;
        json_t *msg;

        setup_anomaly(&a, 3, NULL);
        assert_int_equal(tanomaly_sample(&a, "device/d1/data/a", T0, 1, false), 0);
        assert_int_equal(tanomaly_sample(&a, "device/d1/data/b", T0 + 1, 1, false), 0);
        assert_int_equal(tanomaly_sample(&a, "device/d2/data/a", T0 + 2, 1, false), 0);
        /* d1/a is used again: d1/b is now the one idle longest. */
        assert_int_equal(tanomaly_sample(&a, "device/d1/data/a", T0 + 3, 1, false), 0);
        assert_int_equal(tanomaly_sample(&a, "device/d3/data/a", T0 + 4, 1, false), 0);
        assert_int_equal(a.n_fields, 3u);
        assert_int_equal(a.evicted, 1u);
        assert_false(tanomaly_has_metric(&a, "device/d1/data/b"));
        assert_true(tanomaly_has_metric(&a, "device/d1/data/a"));
        assert_true(tanomaly_has_metric(&a, "device/d2/data/a"));
        assert_true(tanomaly_has_metric(&a, "device/d3/data/a"));
        /* Count detectors of devices and hub metrics are not under this cap. */
        assert_int_equal(tanomaly_sample(&a, "device/d4/messages", T0 + 5, 1, false), 0);
        assert_int_equal(tanomaly_sample(&a, "hub/cpu_percent", T0 + 5, 1, false), 0);
        assert_int_equal(a.n_fields, 3u);
        assert_int_equal(a.evicted, 1u);
        assert_int_equal(a.n_metrics, 5u);

        /* A device message: numbers at the top level and one level down; "ts", strings, booleans not. */
        msg = json_pack("{s:f, s:s, s:b, s:I, s:{s:i}}", "temp", 21.5, "mode", "eco", "on", 1, "ts", (json_int_t) 1,
                        "pm", "p25", 7);
        tanomaly_device_message(&a, "d5", msg, T0 + 6);
        json_decref(msg);
        assert_true(tanomaly_has_metric(&a, "device/d5/data/temp"));
        assert_true(tanomaly_has_metric(&a, "device/d5/data/pm.p25"));
        assert_false(tanomaly_has_metric(&a, "device/d5/data/ts"));
        assert_false(tanomaly_has_metric(&a, "device/d5/data/mode"));
        assert_false(tanomaly_has_metric(&a, "device/d5/data/on"));
        assert_int_equal(a.n_fields, 3u);
        assert_int_equal(a.evicted, 3u);
        tanomaly_done(&a);
}

/* A learned metric scores the same after a save and a load: learning survives a restart. */
static void test_state_round_trip(void **state) {
        _cleanup_rm_rf_ char *dir = test_mkdtemp("anomaly");
        _cleanup_free_ char *path = path_join(dir, "anomaly.state");
        TelemetryAnomaly a, b;
        AnomalyAlertRecord first;
        int ra, rb;

        setup_anomaly(&a, 8, NULL);
        for (int i = 0; i < 300; i++) {
                double t = T0 + 60.0 * i;

                assert_true(tanomaly_sample(&a, "hub/cpu_percent", t, 10.0 + (i % 7), false) >= 0);
                assert_true(tanomaly_sample(&a, "device/d1/data/temp", t, 20.0 + (i % 3) * 0.1, false) >= 0);
                assert_true(tanomaly_sample(&a, "device/d1/messages", t, 1, false) >= 0);
        }
        assert_int_equal(tanomaly_save(&a, path), 0);
        setup_anomaly(&b, 8, NULL);
        assert_int_equal(tanomaly_load(&b, path), 3);
        assert_int_equal(b.n_metrics, 3u);
        assert_int_equal(b.n_fields, 1u);

        /* Both see the same spike and alert the same. */
        n_alerts = 0;
        ra = tanomaly_sample(&a, "hub/cpu_percent", T0 + 60.0 * 300, 100.0, false);
        first = last_alert;
        rb = tanomaly_sample(&b, "hub/cpu_percent", T0 + 60.0 * 300, 100.0, false);
        assert_int_equal(ra, 1);
        assert_int_equal(rb, 1);
        assert_int_equal(n_alerts, 2u);
        assert_string_equal(first.metric, "hub/cpu_percent");
        assert_true(first.score == last_alert.score);
        assert_string_equal(first.reason, last_alert.reason);
        tanomaly_done(&a);
        tanomaly_done(&b);
}

/* Corrupt, truncated or foreign state is discarded (0 restored), never a crash; nothing half-loaded. */
static void test_state_corrupt(void **state) {
        _cleanup_rm_rf_ char *dir = test_mkdtemp("anomaly");
        _cleanup_free_ char *path = path_join(dir, "anomaly.state");
        _cleanup_free_ uint8_t *data = NULL;
        TelemetryAnomaly a, b;
        size_t len;

        setup_anomaly(&a, 8, NULL);
        for (int i = 0; i < 50; i++) {
                assert_true(tanomaly_sample(&a, "hub/load1", T0 + i, 0.5, false) >= 0);
                assert_true(tanomaly_sample(&a, "security/failed_logins", T0 + i, 0, false) >= 0);
        }
        assert_int_equal(tanomaly_serialize(&a, &data, &len), 0);
        setup_anomaly(&b, 8, NULL);

        /* A missing file: nothing to restore, no error. */
        assert_int_equal(tanomaly_load(&b, path), 0);
        /* Truncated. */
        write_file_or_die(path, data, len - 9);
        assert_int_equal(tanomaly_load(&b, path), 0);
        assert_int_equal(b.n_metrics, 0u);
        /* One bit flipped. */
        data[len / 2] ^= 0x10;
        write_file_or_die(path, data, len);
        assert_int_equal(tanomaly_load(&b, path), 0);
        assert_int_equal(b.n_metrics, 0u);
        data[len / 2] ^= 0x10;
        assert_int_equal(tanomaly_deserialize(&b, data, len), 2);
        /* Another container version (checksum made to match): refused as such, and what was loaded goes. */
        data[4] = 99;
        {
                uint64_t h = 0xcbf29ce484222325ULL;

                for (size_t i = 0; i < len - 8; i++) {
                        h ^= data[i];
                        h *= 0x100000001b3ULL;
                }
                h = htole64(h);
                memcpy(data + len - 8, &h, 8);
        }
        assert_int_equal(tanomaly_deserialize(&b, data, len), -EPROTONOSUPPORT);
        assert_int_equal(b.n_metrics, 0u);
        write_file_or_die(path, data, len);
        assert_int_equal(tanomaly_load(&b, path), 0);
        /* Not a state file at all. */
        write_string_or_die(path, "hello, world, this is not it");
        assert_int_equal(tanomaly_load(&b, path), 0);
        tanomaly_done(&a);
        tanomaly_done(&b);
}

/* A detector restored while AnomalyIgnore= excludes its metric is kept, unscored, and saved again. */
static void test_state_keeps_ignored(void **state) {
        _cleanup_rm_rf_ char *dir = test_mkdtemp("anomaly");
        _cleanup_free_ char *path = path_join(dir, "anomaly.state");
        TelemetryAnomaly a, b, c;

        setup_anomaly(&a, 8, NULL);
        for (int i = 0; i < 30; i++) {
                assert_true(tanomaly_sample(&a, "hub/cpu_percent", T0 + 60.0 * i, 5, false) >= 0);
                assert_true(tanomaly_sample(&a, "hub/tasks", T0 + 60.0 * i, 90, false) >= 0);
        }
        assert_int_equal(tanomaly_save(&a, path), 0);
        setup_anomaly(&b, 8, "hub/cpu_*");
        assert_int_equal(tanomaly_load(&b, path), 2);
        assert_int_equal(tanomaly_n_scored(&b), 1u);
        /* Not scored: the sample changes nothing. */
        assert_int_equal(tanomaly_sample(&b, "hub/cpu_percent", T0 + 60.0 * 30, 100, false), 0);
        assert_int_equal(tanomaly_save(&b, path), 0);
        setup_anomaly(&c, 8, NULL);
        assert_int_equal(tanomaly_load(&c, path), 2);
        assert_true(tanomaly_has_metric(&c, "hub/cpu_percent"));
        tanomaly_done(&a);
        tanomaly_done(&b);
        tanomaly_done(&c);
}

/* The ring keeps the last ANOMALY_RING_MAX alerts, oldest first. */
static void test_alert_ring(void **state) {
        TelemetryAnomaly a;
        double t = T0;

        setup_anomaly(&a, 8, NULL);
        /* Each burst of failed logins crosses the fixed rule: one alert per burst, not per login. */
        for (int burst = 0; burst < ANOMALY_RING_MAX + 5; burst++) {
                unsigned before = n_alerts;

                for (int i = 0; i < 8; i++)
                        assert_true(tanomaly_sample(&a, "security/failed_logins", t += 1, 1, false) >= 0);
                assert_int_equal(n_alerts, before + 1);
                /* Quiet long enough for the rule window to empty. */
                assert_true(tanomaly_sample(&a, "security/failed_logins", t += 120, 0, false) >= 0);
        }
        assert_int_equal(a.ring_len, (unsigned) ANOMALY_RING_MAX);
        assert_int_equal(a.alerts, (uint64_t) ANOMALY_RING_MAX + 5);
        assert_null(tanomaly_ring_get(&a, ANOMALY_RING_MAX));
        for (unsigned i = 1; i < a.ring_len; i++)
                assert_true(tanomaly_ring_get(&a, i - 1)->time_usec < tanomaly_ring_get(&a, i)->time_usec);
        assert_int_equal(tanomaly_ring_get(&a, a.ring_len - 1)->time_usec, last_alert.time_usec);
        assert_string_equal(last_alert.metric, "security/failed_logins");
        assert_string_equal(last_alert.reason, "rule");
        assert_string_equal(last_alert.detail, "more than 5 failed logins within 60 s");
        tanomaly_done(&a);
}

/* The event queued for the cloud: its JSON shape. */
static void test_alert_json(void **state) {
        AnomalyAlertRecord r = {
                .time_usec = 1700000000123456ULL,
                .metric = "hub/cpu_percent",
                .score = 0.875,
                .value = 99.5,
                .reason = "level-shift",
                .detail = "value 99.5 is unusual",
                .imported = false,
        };
        json_t *o = tanomaly_alert_json(&r);
        _cleanup_free_ char *s = NULL;

        assert_non_null(o);
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"detail\":\"value 99.5 is unusual\",\"event\":\"anomaly\",\"imported\":false,"
                               "\"metric\":\"hub/cpu_percent\",\"reason\":\"level-shift\",\"score\":0.875,"
                               "\"time_ms\":1700000000123,\"value\":99.5}");
        json_decref(o);
}

static const char tcp_v4_header[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

static void write_tcp(const char *path, const char *lines) {
        _cleanup_free_ char *s = NULL;

        assert_true(asprintf(&s, "%s%s", tcp_v4_header, lines) > 0);
        write_string_or_die(path, s);
}

/* New listening sockets and outbound destinations from /proc/net/tcp{,6}; the first scan is the baseline. */
static void test_socket_scan(void **state) {
        _cleanup_rm_rf_ char *dir = test_mkdtemp("anomaly");
        _cleanup_free_ char *tcp = path_join(dir, "tcp"), *tcp6 = path_join(dir, "tcp6");
        const char *files[] = { tcp, tcp6 };
        TelemetryAnomaly a;
        double t = T0;
        /* 127.0.0.1:22 listening; an incoming connection to it; an outbound one to 93.184.216.34:443. */
        const char *base = "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 0 0 0\n"
                           "   1: 0100007F:0016 0100007F:D431 01 0 0 0 0 0 0 0 0\n"
                           "   2: 0200000A:C350 22D8B85D:01BB 01 0 0 0 0 0 0 0 0\n";

        setup_anomaly(&a, 8, NULL);
        write_tcp(tcp, base);
        write_tcp(tcp6, "");
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t), 0);
        assert_int_equal(a.listening.n, 1u);
        assert_int_equal(a.destinations.n, 1u);
        /* Warm-up: quiet scans teach the detectors (20 samples). */
        for (int i = 0; i < 25; i++)
                assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        assert_int_equal(n_alerts, 0u);

        /* A new listener on [::]:4242 (tcp6), and a connection to a loopback port: not outbound. */
        write_tcp(tcp6, "   0: 00000000000000000000000000000000:1092 00000000000000000000000000000000:0000 0A 0 0 0 0 0 0 0 0\n");
        write_tcp(tcp, "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 0 0 0\n"
                       "   1: 0200000A:C351 0100007F:1F90 01 0 0 0 0 0 0 0 0\n");
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 1);
        assert_int_equal(n_alerts, 1u);
        assert_string_equal(last_alert.metric, "security/new_listening_sockets");
        assert_string_equal(last_alert.reason, "rule");
        assert_string_equal(last_alert.detail, "new listening TCP socket: [::]:4242");
        /* Seen once, known after: no second alert. */
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        assert_int_equal(n_alerts, 1u);
        /* A second new listener alerts again, even within the hold time: each is an event of its own. */
        write_tcp(tcp, "   0: 00000000:1F91 00000000:0000 0A 0 0 0 0 0 0 0 0\n");
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 1);
        assert_int_equal(n_alerts, 2u);
        assert_string_equal(last_alert.detail, "new listening TCP socket: 0.0.0.0:8081");

        /* Outbound: 21 new destinations within the hour cross AnomalyNewDestinationsPerHour=20. */
        for (int i = 1; i <= 21; i++) {
                char line[128];

                (void) snprintf(line, sizeof line, "   0: 0200000A:C350 %02X0000C6:01BB 01 0 0 0 0 0 0 0 0\n", i);
                write_tcp(tcp, line);
                assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 1);
        }
        assert_int_equal(n_alerts, 3u);
        assert_string_equal(last_alert.metric, "security/new_outbound_destinations");
        assert_string_equal(last_alert.reason, "rule");

        /* More listeners than are remembered: counted once, then learnt anew, not new at every scan. */
        {
                _cleanup_free_ char *many = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&many, &len);

                assert_non_null(f);
                for (unsigned i = 0; i < ANOMALY_SOCKETS_MAX + 10; i++)
                        fprintf(f, "   0: %08X:1F90 00000000:0000 0A 0 0 0 0 0 0 0 0\n", 0x0A000000u + i);
                assert_int_equal(fclose(f), 0);
                write_tcp(tcp, many);
        }
        write_tcp(tcp6, "");
        assert_true(tanomaly_scan_sockets(&a, files, 2, t += 60) > 0);
        assert_int_equal(n_alerts, 4u);
        assert_int_equal(a.sockets_ignored, 1u);
        /* While there are more than it can remember, it learns and does not alert at every scan. */
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        assert_int_equal(n_alerts, 4u);
        /* Back to a few: learnt at the next scan, and a new one after that alerts again. */
        write_tcp(tcp, "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 0 0 0\n");
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 0);
        write_tcp(tcp, "   0: 0100007F:0016 00000000:0000 0A 0 0 0 0 0 0 0 0\n"
                       "   1: 00000000:0050 00000000:0000 0A 0 0 0 0 0 0 0 0\n");
        assert_int_equal(tanomaly_scan_sockets(&a, files, 2, t += 60), 1);
        assert_int_equal(n_alerts, 5u);
        assert_string_equal(last_alert.detail, "new listening TCP socket: 0.0.0.0:80");
        tanomaly_done(&a);
}

/* Hub metrics: counters become rates; a counter that goes back skips a sample. */
static void test_hub_metrics(void **state) {
        TelemetryAnomaly a;
        HubCounters prev = {};
        json_t *o;

        setup_anomaly(&a, 8, NULL);
        o = json_pack("{s:f, s:I, s:I, s:[f,f,f], s:I, s:{s:{s:I, s:I}}, s:[f], s:I}", "cpu_percent", 3.0,
                      "memory_total_kib", (json_int_t) 1000, "memory_available_kib", (json_int_t) 250, "load", 0.1,
                      0.2, 0.3, "tasks", (json_int_t) 90, "network", "eth0", "rx_bytes", (json_int_t) 1000, "tx_bytes",
                      (json_int_t) 5000, "temperatures_celsius", 45.0, "state_free_bytes", (json_int_t) (1 << 30));
        tanomaly_hub_metrics(&a, o, &prev, T0);
        assert_true(tanomaly_has_metric(&a, "hub/cpu_percent"));
        assert_true(tanomaly_has_metric(&a, "hub/memory_used_percent"));
        assert_true(tanomaly_has_metric(&a, "hub/load1"));
        assert_true(tanomaly_has_metric(&a, "hub/tasks"));
        assert_true(tanomaly_has_metric(&a, "hub/temperature/0"));
        assert_true(tanomaly_has_metric(&a, "hub/state_free_mib"));
        /* No rate from a single reading. */
        assert_false(tanomaly_has_metric(&a, "hub/net/eth0/tx_bytes_per_sec"));
        json_object_set_new(json_object_get(json_object_get(o, "network"), "eth0"), "tx_bytes", json_integer(65000));
        json_object_set_new(json_object_get(json_object_get(o, "network"), "eth0"), "rx_bytes", json_integer(10));
        tanomaly_hub_metrics(&a, o, &prev, T0 + 60);
        assert_true(tanomaly_has_metric(&a, "hub/net/eth0/tx_bytes_per_sec"));
        assert_false(tanomaly_has_metric(&a, "hub/net/eth0/rx_bytes_per_sec"));
        assert_int_equal(prev.n, 1u);
        assert_int_equal(prev.ifs[0].tx, 65000u);
        json_decref(o);
        tanomaly_done(&a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_metric_kinds),     cmocka_unit_test(test_ignore_patterns),
                cmocka_unit_test(test_daily_profile),
                cmocka_unit_test(test_bad_samples),      cmocka_unit_test(test_device_field_cap),
                cmocka_unit_test(test_state_round_trip), cmocka_unit_test(test_state_corrupt),
                cmocka_unit_test(test_state_keeps_ignored),
                cmocka_unit_test(test_alert_ring),       cmocka_unit_test(test_alert_json),
                cmocka_unit_test(test_socket_scan),      cmocka_unit_test(test_hub_metrics),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
