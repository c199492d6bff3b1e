/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What anomaly scoring adds to hub-telemetryd's path for a device message, as a ratio against the
 * work the daemon already does per message (CPU time, medians of 5 runs of 200,000 messages):
 *
 *   baseline  device_payload_parse() of a typical message (6 members, 5 of them numbers), as in
 *             device_message()
 *   scored    the same plus tanomaly_device_message(): 5 (device, field) detectors, over 100
 *             devices (500 detectors, under AnomalyDeviceFieldsMax=1024, so no eviction)
 *   evicting  the same with AnomalyDeviceFieldsMax=256: every message evicts (the worst case)
 *
 *   meson test -C build-dev --benchmark bench-telemetry-anomaly -v
 *
 * The whole path's figures (broker to broker, TLS, fsync) are bench-telemetry.sh's; parsing is a
 * small part of them, so these ratios bound scoring's share from above.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hubguard/conf.h"
#include "telemetryd-anomaly.h"
#include "telemetryd-validate.h"

#define N_MESSAGES 200000
#define N_DEVICES 100
#define RUNS 5

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v) {
        qsort(v, RUNS, sizeof(double), cmp);
        return v[RUNS / 2];
}

/* ns per message; fields_max 0: parse only. */
static double run(unsigned fields_max) {
        TelemetryAnomaly a;
        HubConfig c;
        char payload[256], reason[128], id[16];
        double t0, t1;

        if (fields_max > 0) {
                if (config_init_defaults(&c) < 0)
                        abort();
                c.telemetry.anomaly_device_fields_max = fields_max;
                if (tanomaly_init(&a, &c, NULL, NULL) < 0)
                        abort();
                config_done(&c);
        }
        t0 = now();
        for (unsigned i = 0; i < N_MESSAGES; i++) {
                json_t *data;
                int n;

                n = snprintf(payload, sizeof payload,
                             "{\"ts\":%u,\"temp\":%.2f,\"humidity\":%u,\"battery\":%u,\"rssi\":-%u,\"lux\":%u,\"mode\":\"eco\"}",
                             1700000000 + i, 20.0 + (i % 50) / 10.0, 40 + i % 7, 90 - i % 3, 60 + i % 5, i % 1000);
                if (device_payload_parse(payload, (size_t) n, 4096, &data, reason, sizeof reason) < 0)
                        abort();
                if (fields_max > 0) {
                        (void) snprintf(id, sizeof id, "dev-%u", i % N_DEVICES);
                        tanomaly_device_message(&a, id, data, 1700000000.0 + i * 0.01);
                }
                json_decref(data);
        }
        t1 = now();
        if (fields_max > 0)
                tanomaly_done(&a);
        return (t1 - t0) * 1e9 / N_MESSAGES;
}

int main(void) {
        double base[RUNS], scored[RUNS], evicting[RUNS], b, s, e;

        for (int r = 0; r < RUNS; r++) {
                base[r] = run(0);
                scored[r] = run(1024);
                evicting[r] = run(256);
        }
        b = median(base);
        s = median(scored);
        e = median(evicting);
        printf("device message, parse only (baseline):        %8.0f ns\n", b);
        printf("parse + scoring, 500 detectors:              %8.0f ns  ratio %.2f\n", s, s / b);
        printf("parse + scoring, evicting on every message:  %8.0f ns  ratio %.2f\n", e, e / b);
        return 0;
}
