/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-telemetryd's anomaly state file (telemetryd-anomaly.c, tanomaly_deserialize()) on arbitrary
 * bytes. The input is the file without its trailing checksum, which is appended here, so that the
 * fuzzer gets past it to the parser (a wrong checksum alone is covered by the unit tests). A
 * refused file must leave no detector behind and a documented errno; an accepted one must
 * serialize again to bytes that load back to the same metrics and serialize to the same bytes.
 */

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/conf.h"
#include "hubguard/macro.h"
#include "telemetryd-anomaly.h"

#define FUZZ_ANOMALY_STATE_SIZE_MAX (64 * 1024)

static uint64_t fnv1a(const uint8_t *p, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static TelemetryAnomaly a, b;
        static bool ready;
        _cleanup_free_ uint8_t *buf = NULL, *out1 = NULL, *out2 = NULL;
        size_t len1, len2;
        uint64_t sum;
        int r;

        if (outside_size_range(size, 0, FUZZ_ANOMALY_STATE_SIZE_MAX))
                return 0;
        if (!ready) {
                HubConfig c;

                /* A small field cap, so that the eviction on load is reached too. */
                fuzz_check(config_init_defaults(&c) == 0);
                c.telemetry.anomaly_device_fields_max = 4;
                fuzz_check(tanomaly_init(&a, &c, NULL, NULL) == 0);
                fuzz_check(tanomaly_init(&b, &c, NULL, NULL) == 0);
                config_done(&c);
                ready = true;
        }
        buf = malloc(size + 8);
        fuzz_check(buf);
        if (size > 0)
                memcpy(buf, data, size);
        sum = htole64(fnv1a(buf, size));
        memcpy(buf + size, &sum, 8);

        r = tanomaly_deserialize(&a, buf, size + 8);
        if (r < 0) {
                fuzz_check(r == -EBADMSG || r == -EPROTONOSUPPORT || r == -EINVAL || r == -ENOMEM);
                fuzz_check(a.n_metrics == 0 && a.n_fields == 0);
                return 0;
        }
        fuzz_check((unsigned) r == a.n_metrics);
        fuzz_check(a.n_fields <= 4);
        fuzz_check(tanomaly_serialize(&a, &out1, &len1) == 0);
        fuzz_check(tanomaly_deserialize(&b, out1, len1) == r);
        fuzz_check(tanomaly_serialize(&b, &out2, &len2) == 0);
        fuzz_check(len1 == len2 && memcmp(out1, out2, len1) == 0);
        return 0;
}
