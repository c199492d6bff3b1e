/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The anomaly detector (src/anomaly): detection of each kind of anomaly within a bounded delay on
 * generated series (tests/unit/anomaly-gen.c), false alarms on clean ones, warm-up, state blobs,
 * determinism, the alerter.
 */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "anomaly-gen.h"
#include "hubguard/anomaly.h"

static void detector_default(AnomalyDetector *d, AnomalyKind kind) {
        AnomalySettings s;

        anomaly_settings_default(&s, kind);
        assert_int_equal(anomaly_detector_init(d, &s), 0);
}

static void make_series(GenSeries *s, uint64_t seed, GenBase base, GenNoise noise, GenAnomaly kind, double magnitude,
                        bool jitter) {
        GenSpec spec = {
                .seed = seed,
                .n = 3000,
                .base = base,
                .noise = noise,
                .interval = 300.0,
                .jitter = jitter,
                .n_anomalies = kind == _GEN_ANOMALY_MAX ? 0 : 1,
                .kinds = { kind },
                .magnitude = magnitude,
        };

        assert_int_equal(gen_series(&spec, s), 0);
}

/* Samples from the window's start to the first score >= the default threshold, or -1. */
static long detection_delay(const GenSeries *s, AnomalyKind kind, AnomalyReason *ret_reason) {
        AnomalyDetector d;
        long delay = -1;

        detector_default(&d, kind);
        for (size_t j = 0; j < s->n; j++) {
                AnomalyResult r;

                assert_int_equal(anomaly_detector_update(&d, s->t[j], s->x[j], &r), 0);
                assert_true(r.score >= 0.0 && r.score <= 1.0);
                if (delay < 0 && j >= s->windows[0].start && r.score >= d.settings.threshold) {
                        delay = (long) (j - s->windows[0].start);
                        if (ret_reason)
                                *ret_reason = r.reason;
                }
        }
        return delay;
}

/* Over 10 seeds, at least min_detected detections within max_delay samples. */
#define R(x) (1u << ANOMALY_REASON_##x)

static void check_detects(GenBase base, GenNoise noise, GenAnomaly kind, double magnitude, long max_delay,
                          int min_detected, unsigned want_reasons) {
        int detected = 0, right_reason = 0;

        for (uint64_t seed = 1; seed <= 10; seed++) {
                GenSeries s;
                AnomalyReason reason = ANOMALY_REASON_NONE;
                long delay;

                make_series(&s, seed * 7919, base, noise, kind, magnitude, seed % 3 == 0);
                assert_int_equal((int) s.windows[0].kind, (int) kind);
                delay = detection_delay(&s, base == GEN_BASE_COUNT ? ANOMALY_KIND_COUNT : ANOMALY_KIND_VALUE, &reason);
                if (delay >= 0 && delay <= max_delay) {
                        detected++;
                        right_reason += !!(want_reasons & (1u << reason));
                }
                gen_series_free(&s);
        }
        if (detected < min_detected)
                fail_msg("%s on %s/%s: %d of 10 detected within %ld samples, want >= %d", gen_anomaly_to_string(kind),
                         gen_base_to_string(base), gen_noise_to_string(noise), detected, max_delay, min_detected);
        /* The reason names the anomaly (or what it first looks like) in most cases. */
        if (right_reason * 4 < detected * 3)
                fail_msg("%s: the expected reason in only %d of %d detections", gen_anomaly_to_string(kind),
                         right_reason, detected);
}

static void test_spike(void **state) {
        check_detects(GEN_BASE_FLAT, GEN_NOISE_GAUSS, GEN_SPIKE, 10.0, 0, 10, R(SPIKE));
        check_detects(GEN_BASE_DAILY, GEN_NOISE_GAUSS, GEN_SPIKE, 10.0, 0, 9, R(SPIKE));
        check_detects(GEN_BASE_WALK, GEN_NOISE_LAPLACE, GEN_SPIKE, 12.0, 0, 8, R(SPIKE));
}

static void test_level_shift(void **state) {
        check_detects(GEN_BASE_FLAT, GEN_NOISE_GAUSS, GEN_LEVEL_SHIFT, 6.0, 10, 9, R(LEVEL_SHIFT) | R(SPIKE));
        /* An AR(1) process wanders by up to 4 noise units: a shift of 12 stands out from it. */
        check_detects(GEN_BASE_AR1, GEN_NOISE_GAUSS, GEN_LEVEL_SHIFT, 12.0, 10, 8, R(LEVEL_SHIFT) | R(SPIKE));
}

static void test_drift(void **state) {
        /* A ramp of 10 noise units over 100..300 samples: found before its end. */
        check_detects(GEN_BASE_FLAT, GEN_NOISE_GAUSS, GEN_DRIFT, 10.0, 300, 9, R(DRIFT) | R(LEVEL_SHIFT));
}

static void test_variance(void **state) {
        check_detects(GEN_BASE_FLAT, GEN_NOISE_GAUSS, GEN_VARIANCE, 5.0, 30, 9, R(VARIANCE) | R(SPIKE));
}

static void test_seasonal(void **state) {
        /* The daily pattern inverted for 6 hours (72 samples): found within them. */
        check_detects(GEN_BASE_DAILY, GEN_NOISE_GAUSS, GEN_SEASONAL, 0.0, 72, 8, R(SEASONAL) | R(LEVEL_SHIFT) | R(SPIKE));
}

static void test_count_burst(void **state) {
        check_detects(GEN_BASE_COUNT, GEN_NOISE_GAUSS, GEN_BURST, 10.0, 2, 9, R(RATE));
}

/*
 * Clean series, 3000 samples each: at most max_per_10k samples per 10,000 judged score >= the
 * threshold, and as many alerts (Gaussian noise: 15 per 10,000; heavy tails, whose rare values are as
 * extreme as injected spikes: 50 per 10,000).
 */
static void check_clean(GenBase base, GenNoise noise, size_t max_per_10k) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
                AnomalyAlertSettings as;
                AnomalyDetector d;
                AnomalyHub hub;
                AnomalyAlerter al;
                GenSeries s;
                size_t high = 0, alerts = 0, judged = 0;

                make_series(&s, seed * 104729, base, noise, _GEN_ANOMALY_MAX, 0, seed % 2 == 0);
                detector_default(&d, base == GEN_BASE_COUNT ? ANOMALY_KIND_COUNT : ANOMALY_KIND_VALUE);
                anomaly_alert_settings_default(&as);
                assert_true(as.raise == d.settings.threshold);
                assert_int_equal(anomaly_hub_init(&hub, &as), 0);
                anomaly_alerter_init(&al);
                for (size_t j = 0; j < s.n; j++) {
                        AnomalyResult r;

                        assert_int_equal(anomaly_detector_update(&d, s.t[j], s.x[j], &r), 0);
                        if (j >= d.settings.warmup) {
                                judged++;
                                high += r.score >= d.settings.threshold;
                        }
                        alerts += anomaly_alerter_update(&al, &hub, s.t[j], &r) == ANOMALY_ALERT_RAISE;
                }
                if (high * 10000 > max_per_10k * judged || alerts * 10000 > max_per_10k * judged)
                        fail_msg("clean %s/%s seed %d: %zu of %zu samples >= threshold, %zu alerts",
                                 gen_base_to_string(base), gen_noise_to_string(noise), (int) seed, high, judged, alerts);
                gen_series_free(&s);
        }
}

static void test_clean(void **state) {
        check_clean(GEN_BASE_FLAT, GEN_NOISE_GAUSS, 15);
        check_clean(GEN_BASE_DAILY, GEN_NOISE_GAUSS, 15);
        check_clean(GEN_BASE_WALK, GEN_NOISE_GAUSS, 15);
        check_clean(GEN_BASE_COUNT, GEN_NOISE_GAUSS, 15);
        check_clean(GEN_BASE_FLAT, GEN_NOISE_STUDENT3, 50);
        check_clean(GEN_BASE_DAILY, GEN_NOISE_LAPLACE, 50);
        check_clean(GEN_BASE_AR1, GEN_NOISE_STUDENT3, 50);
}

/* Whole numbers with little noise (mostly the same value, now and then one more or less), and a
 * constant: judged against their resolution, not against a scale of zero. */
static void test_quantized(void **state) {
        AnomalyDetector d;
        AnomalyResult r;
        GenRng rng = { 5 };
        size_t high = 0;

        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int i = 0; i < 3000; i++) {
                assert_int_equal(anomaly_detector_update(&d, 300.0 * i, floor(10.5 + 0.3 * gen_gauss(&rng)), &r), 0);
                high += r.score >= d.settings.threshold;
        }
        assert_true(high <= 3);
        /* A jump by five steps is found at once. */
        assert_int_equal(anomaly_detector_update(&d, 300.0 * 3000, 15.0, &r), 0);
        assert_true(r.score >= d.settings.threshold);
        assert_int_equal(r.reason, ANOMALY_REASON_SPIKE);

        /* A constant, then a step: one alarm at the step, then quiet at the new level. */
        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int i = 0; i < 1000; i++) {
                assert_int_equal(anomaly_detector_update(&d, 60.0 * i, 5.0, &r), 0);
                assert_true(r.score < d.settings.threshold);
        }
        assert_int_equal(anomaly_detector_update(&d, 60.0 * 1000, 6.0, &r), 0);
        assert_true(r.score >= d.settings.threshold);
        high = 0;
        for (int i = 1001; i < 2000; i++) {
                assert_int_equal(anomaly_detector_update(&d, 60.0 * i, 6.0, &r), 0);
                high += r.score >= d.settings.threshold;
        }
        assert_true(high <= 5);
}

static void test_warmup(void **state) {
        AnomalyDetector d;
        AnomalyAlertSettings as;
        AnomalyHub hub;
        AnomalyAlerter al;

        detector_default(&d, ANOMALY_KIND_VALUE);
        anomaly_alert_settings_default(&as);
        assert_int_equal(anomaly_hub_init(&hub, &as), 0);
        anomaly_alerter_init(&al);
        for (uint32_t i = 0; i < d.settings.warmup; i++) {
                AnomalyResult r;
                /* wild values: nothing is judged yet */
                double x = i % 7 == 0 ? 1e6 : (double) (i % 3);

                assert_int_equal(anomaly_detector_update(&d, 1000.0 + 60.0 * i, x, &r), 0);
                assert_true(r.score == 0.0);
                assert_int_equal(r.reason, ANOMALY_REASON_WARMUP);
                assert_int_equal(anomaly_alerter_update(&al, &hub, 1000.0 + 60.0 * i, &r), ANOMALY_ALERT_NONE);
        }
        assert_int_equal(hub.alerts, 0);
}

static void test_count_rule(void **state) {
        AnomalyDetector d;
        AnomalyResult r;

        /* The rule fires during the warm-up too: a burst of failed logins always alerts. */
        detector_default(&d, ANOMALY_KIND_COUNT);
        assert_int_equal(d.settings.rule_limit, 0); /* no rule unless configured */
        d.settings.rule_limit = 20;
        assert_int_equal(anomaly_detector_update(&d, 0.0, 0, &r), 0);
        assert_int_equal(anomaly_detector_update(&d, 10.0, 10, &r), 0);
        assert_int_equal(r.reason, ANOMALY_REASON_WARMUP);
        assert_int_equal(anomaly_detector_update(&d, 20.0, 10, &r), 0);
        assert_int_equal(r.reason, ANOMALY_REASON_WARMUP); /* 20: not more than the limit */
        assert_int_equal(anomaly_detector_update(&d, 30.0, 1, &r), 0);
        assert_true(r.score == 1.0);
        assert_int_equal(r.reason, ANOMALY_REASON_RULE);
        /* Two windows later the events are forgotten. */
        assert_int_equal(anomaly_detector_update(&d, 150.0, 1, &r), 0);
        assert_int_not_equal(r.reason, ANOMALY_REASON_RULE);
        /* Negative counts are refused. */
        assert_int_equal(anomaly_detector_update(&d, 160.0, -1, &r), -EINVAL);
}

static void feed_noise(AnomalyDetector *d, GenRng *rng, double t0, size_t n, double *scores) {
        for (size_t i = 0; i < n; i++) {
                AnomalyResult r;

                assert_int_equal(anomaly_detector_update(d, t0 + 300.0 * i, 50.0 + gen_gauss(rng), &r), 0);
                if (scores)
                        scores[i] = r.score;
        }
}

static void test_gap(void **state) {
        AnomalyDetector d;
        AnomalyResult r;
        GenRng rng = { 42 };

        detector_default(&d, ANOMALY_KIND_VALUE);
        feed_noise(&d, &rng, 0, 1000, NULL);
        /* A day without samples, then the same level: not an anomaly. */
        assert_int_equal(anomaly_detector_update(&d, 300.0 * 1000 + 86400.0, 50.0 + gen_gauss(&rng), &r), 0);
        assert_true(r.score < d.settings.threshold);
        for (int i = 1; i < 20; i++) {
                assert_int_equal(anomaly_detector_update(&d, 300.0 * (1000 + i) + 86400.0, 50.0 + gen_gauss(&rng), &r), 0);
                assert_true(r.score < d.settings.threshold);
        }
}

/* The typical interval: from the first positive step (duplicates first), then a running median. */
static void test_interval(void **state) {
        AnomalyDetector d;
        AnomalyResult r;

        detector_default(&d, ANOMALY_KIND_VALUE);
        assert_int_equal(anomaly_detector_update(&d, 1000.0, 1.0, &r), 0);
        assert_int_equal(anomaly_detector_update(&d, 1000.0, 1.0, &r), 0);
        assert_int_equal(anomaly_detector_update(&d, 1001.0, 1.0, &r), 0);
        assert_true(d.interval == 1.0);
        /* A new cadence is adopted after a while, not at the first odd step. */
        assert_int_equal(anomaly_detector_update(&d, 1011.0, 1.0, &r), 0);
        assert_true(d.interval == 1.0);
        for (int i = 1; i <= 300; i++)
                assert_int_equal(anomaly_detector_update(&d, 1011.0 + 10.0 * i, 1.0, &r), 0);
        assert_true(d.interval > 7.0 && d.interval < 14.0);
}

static void test_time_order(void **state) {
        uint8_t before[ANOMALY_BLOB_SIZE_MAX], after[ANOMALY_BLOB_SIZE_MAX];
        AnomalyDetector d;
        AnomalyResult r;
        int n;

        detector_default(&d, ANOMALY_KIND_VALUE);
        assert_int_equal(anomaly_detector_update(&d, 100.0, 1.0, &r), 0);
        assert_int_equal(anomaly_detector_update(&d, 200.0, 1.0, &r), 0);
        n = anomaly_detector_serialize(&d, before, sizeof(before));
        assert_true(n > 0);
        /* Refused input leaves the detector as it was. */
        assert_int_equal(anomaly_detector_update(&d, 198.9, 1.0, &r), -ERANGE);
        assert_int_equal(anomaly_detector_update(&d, 300.0, NAN, &r), -EINVAL);
        assert_int_equal(anomaly_detector_update(&d, 300.0, INFINITY, &r), -EINVAL);
        assert_int_equal(anomaly_detector_update(&d, NAN, 1.0, &r), -EINVAL);
        assert_int_equal(anomaly_detector_update(&d, 300.0, 1e101, &r), -EDOM);
        assert_int_equal(anomaly_detector_update(&d, 1e14, 1.0, &r), -EDOM);
        assert_int_equal(anomaly_detector_serialize(&d, after, sizeof(after)), n);
        assert_memory_equal(before, after, (size_t) n);
        /* Within the tolerance: taken as the same time. */
        assert_int_equal(anomaly_detector_update(&d, 199.5, 1.0, &r), 0);
        assert_true(d.t_last == 200.0);
}

static void test_save_restore(void **state) {
        uint8_t blob[ANOMALY_BLOB_SIZE_MAX], blob2[ANOMALY_BLOB_SIZE_MAX];
        AnomalyKind kinds[] = { ANOMALY_KIND_VALUE, ANOMALY_KIND_COUNT };

        for (size_t k = 0; k < 2; k++) {
                AnomalyDetector a, b;
                GenSeries s;
                int n;

                make_series(&s, 99 + k, kinds[k] == ANOMALY_KIND_COUNT ? GEN_BASE_COUNT : GEN_BASE_DAILY,
                            GEN_NOISE_STUDENT3, kinds[k] == ANOMALY_KIND_COUNT ? GEN_BURST : GEN_LEVEL_SHIFT, 0, true);
                detector_default(&a, kinds[k]);
                for (size_t j = 0; j < s.n / 2; j++) {
                        AnomalyResult r;
                        assert_int_equal(anomaly_detector_update(&a, s.t[j], s.x[j], &r), 0);
                }
                n = anomaly_detector_serialize(&a, blob, sizeof(blob));
                assert_true(n > 0 && n <= ANOMALY_BLOB_SIZE_MAX);
                assert_int_equal(anomaly_detector_serialize(&a, blob, (size_t) n - 1), -ENOBUFS);
                detector_default(&b, ANOMALY_KIND_VALUE);
                assert_int_equal(anomaly_detector_deserialize(&b, blob, (size_t) n), 0);
                /* The same scores, bit for bit, afterwards. */
                for (size_t j = s.n / 2; j < s.n; j++) {
                        AnomalyResult ra, rb;

                        assert_int_equal(anomaly_detector_update(&a, s.t[j], s.x[j], &ra), 0);
                        assert_int_equal(anomaly_detector_update(&b, s.t[j], s.x[j], &rb), 0);
                        assert_memory_equal(&ra.score, &rb.score, sizeof(double));
                        assert_int_equal(ra.reason, rb.reason);
                }
                assert_int_equal(anomaly_detector_serialize(&a, blob, sizeof(blob)), n);
                assert_int_equal(anomaly_detector_serialize(&b, blob2, sizeof(blob2)), n);
                assert_memory_equal(blob, blob2, (size_t) n);
                gen_series_free(&s);
        }
}

static void test_blob_errors(void **state) {
        uint8_t blob[ANOMALY_BLOB_SIZE_MAX], bad[ANOMALY_BLOB_SIZE_MAX + 1], check[ANOMALY_BLOB_SIZE_MAX];
        AnomalyDetector d, e;
        AnomalyResult r;
        int n;

        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int i = 0; i < 200; i++)
                assert_int_equal(anomaly_detector_update(&d, 60.0 * i, i % 5, &r), 0);
        n = anomaly_detector_serialize(&d, blob, sizeof(blob));
        assert_true(n > 16);
        assert_memory_equal(blob, "HGAD", 4);
        assert_int_equal(blob[4] | blob[5] << 8, ANOMALY_STATE_VERSION);

        detector_default(&e, ANOMALY_KIND_COUNT);
        /* Every truncation is refused. */
        for (int len = 0; len < n; len++)
                assert_int_equal(anomaly_detector_deserialize(&e, blob, (size_t) len), -EBADMSG);
        /* Trailing bytes too. */
        memcpy(bad, blob, (size_t) n);
        bad[n] = 0;
        assert_int_equal(anomaly_detector_deserialize(&e, bad, (size_t) n + 1), -EBADMSG);
        /* Another version. */
        memcpy(bad, blob, (size_t) n);
        bad[4] = ANOMALY_STATE_VERSION + 1;
        assert_int_equal(anomaly_detector_deserialize(&e, bad, (size_t) n), -EPROTONOSUPPORT);
        assert_string_equal(anomaly_blob_strerror(-EPROTONOSUPPORT), "detector state of an unsupported version");
        /* Bad magic, a flipped bit anywhere in the body or checksum. */
        memcpy(bad, blob, (size_t) n);
        bad[0] = 'X';
        assert_int_equal(anomaly_detector_deserialize(&e, bad, (size_t) n), -EBADMSG);
        for (int i = 12; i < n; i += 7) {
                memcpy(bad, blob, (size_t) n);
                bad[i] ^= 0x10;
                assert_int_equal(anomaly_detector_deserialize(&e, bad, (size_t) n), -EBADMSG);
        }
        /* A well-formed blob (right checksum) with an absurd value: refused as invalid. */
        {
                AnomalyDetector w = d;
                uint8_t odd[ANOMALY_BLOB_SIZE_MAX];

                w.scale = 1e300;
                assert_int_equal(anomaly_detector_serialize(&w, odd, sizeof(odd)), n);
                assert_int_equal(anomaly_detector_deserialize(&e, odd, (size_t) n), -EINVAL);
                w = d;
                w.settings.warmup = 0;
                assert_int_equal(anomaly_detector_serialize(&w, odd, sizeof(odd)), n);
                assert_int_equal(anomaly_detector_deserialize(&e, odd, (size_t) n), -EINVAL);
        }
        /* e is untouched by all of that. */
        {
                AnomalyDetector fresh;
                detector_default(&fresh, ANOMALY_KIND_COUNT);
                assert_int_equal(anomaly_detector_serialize(&e, check, sizeof(check)), n);
                assert_int_equal(anomaly_detector_serialize(&fresh, blob, sizeof(blob)), n);
                assert_memory_equal(check, blob, (size_t) n);
        }
}

static void test_determinism(void **state) {
        uint8_t b1[ANOMALY_BLOB_SIZE_MAX], b2[ANOMALY_BLOB_SIZE_MAX];
        double s1[2000], s2[2000];
        AnomalyDetector d1, d2;
        GenRng r1 = { 7 }, r2 = { 7 };
        int n;

        detector_default(&d1, ANOMALY_KIND_VALUE);
        detector_default(&d2, ANOMALY_KIND_VALUE);
        feed_noise(&d1, &r1, 1e9, 2000, s1);
        feed_noise(&d2, &r2, 1e9, 2000, s2);
        assert_memory_equal(s1, s2, sizeof(s1));
        n = anomaly_detector_serialize(&d1, b1, sizeof(b1));
        assert_int_equal(anomaly_detector_serialize(&d2, b2, sizeof(b2)), n);
        assert_memory_equal(b1, b2, (size_t) n);
}

static void test_size(void **state) {
        assert_true(sizeof(AnomalyDetector) <= 1024);
        assert_true(sizeof(AnomalyAlerter) <= 64);
        assert_true(sizeof(AnomalyHub) <= 128);
}

static void test_settings(void **state) {
        AnomalySettings s;
        AnomalyDetector d;

        anomaly_settings_default(&s, ANOMALY_KIND_VALUE);
        assert_int_equal(anomaly_settings_validate(&s), 0);
        s.warmup = 1;
        assert_int_equal(anomaly_detector_init(&d, &s), -EINVAL);
        anomaly_settings_default(&s, ANOMALY_KIND_VALUE);
        s.threshold = 0.0;
        assert_int_equal(anomaly_settings_validate(&s), -EINVAL);
        s.threshold = 1.5;
        assert_int_equal(anomaly_settings_validate(&s), -EINVAL);
        s.threshold = NAN;
        assert_int_equal(anomaly_settings_validate(&s), -EINVAL);
        anomaly_settings_default(&s, ANOMALY_KIND_COUNT);
        s.rule_window = 0.5;
        assert_int_equal(anomaly_settings_validate(&s), -EINVAL);
        s.rule_window = 60;
        s.kind = (AnomalyKind) 7;
        assert_int_equal(anomaly_settings_validate(&s), -EINVAL);

        assert_int_equal(anomaly_kind_from_string("count"), ANOMALY_KIND_COUNT);
        assert_int_equal(anomaly_kind_from_string("Count"), -EINVAL);
        assert_int_equal(anomaly_season_from_string("daily"), ANOMALY_SEASON_DAILY);
        assert_int_equal(anomaly_season_from_string(""), -EINVAL);
        for (int i = 0; i < _ANOMALY_REASON_MAX; i++)
                assert_non_null(anomaly_reason_to_string((AnomalyReason) i));
        assert_null(anomaly_reason_to_string(_ANOMALY_REASON_MAX));
        assert_string_equal(anomaly_reason_to_string(ANOMALY_REASON_LEVEL_SHIFT), "level-shift");
}

static AnomalyAlertEvent feed_alert(AnomalyAlerter *a, AnomalyHub *hub, double t, double score) {
        AnomalyResult r = { .score = score, .reason = ANOMALY_REASON_SPIKE };

        return anomaly_alerter_update(a, hub, t, &r);
}

static void test_alerter_one_incident(void **state) {
        AnomalyAlertSettings s;
        AnomalyHub hub;
        AnomalyAlerter a;
        int raised = 0, cleared = 0;
        double t = 0;

        anomaly_alert_settings_default(&s);
        s.hold = 600;
        assert_int_equal(anomaly_hub_init(&hub, &s), 0);
        anomaly_alerter_init(&a);
        /* An incident: scores jump around the threshold for an hour, dipping below clear briefly. */
        for (int i = 0; i < 60; i++, t += 60) {
                double score = i % 5 == 0 ? 0.2 : i % 2 ? 0.95 : 0.6;
                AnomalyAlertEvent e = feed_alert(&a, &hub, t, score);

                raised += e == ANOMALY_ALERT_RAISE;
                cleared += e == ANOMALY_ALERT_CLEAR;
        }
        assert_int_equal(raised, 1);
        assert_int_equal(cleared, 0);
        assert_true(a.in_incident);
        assert_true(a.peak == 0.95);
        /* Quiet: cleared once the hold time has passed, not before. */
        for (int i = 0; i < 10; i++, t += 60)
                assert_int_equal(feed_alert(&a, &hub, t, 0.1), ANOMALY_ALERT_NONE);
        assert_int_equal(feed_alert(&a, &hub, t, 0.1), ANOMALY_ALERT_CLEAR);
        assert_false(a.in_incident);
        assert_int_equal(hub.active, 0);
        /* Re-armed: the next incident raises again. */
        t += 60;
        assert_int_equal(feed_alert(&a, &hub, t, 0.9), ANOMALY_ALERT_RAISE);
        assert_int_equal(hub.alerts, 2);
}

static void test_alerter_hub(void **state) {
        AnomalyAlertSettings s;
        AnomalyHub hub;
        AnomalyAlerter m[10];
        double t = 0;

        anomaly_alert_settings_default(&s);
        s.hold = 0;
        s.hub_limit = 2;
        s.hub_window = 3600;
        assert_int_equal(anomaly_hub_init(&hub, &s), 0);
        for (int i = 0; i < 10; i++)
                anomaly_alerter_init(&m[i]);

        /* Ten metrics go off together: one alert, nine joins. */
        assert_int_equal(feed_alert(&m[0], &hub, t, 0.9), ANOMALY_ALERT_RAISE);
        for (int i = 1; i < 10; i++)
                assert_int_equal(feed_alert(&m[i], &hub, t + i, 0.9), ANOMALY_ALERT_JOIN);
        assert_int_equal(hub.active, 10);
        for (int i = 0; i < 10; i++)
                assert_int_equal(feed_alert(&m[i], &hub, t + 20, 0.0), ANOMALY_ALERT_CLEAR);
        assert_int_equal(hub.active, 0);

        /* Separate incidents: the second is alerted, the third within the hour is suppressed. */
        assert_int_equal(feed_alert(&m[1], &hub, 100, 0.9), ANOMALY_ALERT_RAISE);
        assert_int_equal(feed_alert(&m[1], &hub, 160, 0.0), ANOMALY_ALERT_CLEAR);
        assert_int_equal(feed_alert(&m[2], &hub, 200, 0.9), ANOMALY_ALERT_SUPPRESSED);
        assert_int_equal(feed_alert(&m[2], &hub, 260, 0.0), ANOMALY_ALERT_CLEAR);
        /* After the window: alerts again. */
        assert_int_equal(feed_alert(&m[3], &hub, 3700, 0.9), ANOMALY_ALERT_RAISE);
        assert_int_equal(hub.alerts, 3);
        assert_int_equal(hub.suppressed, 1);
        assert_int_equal(hub.joined, 9);
        /* A metric that goes away while in an incident leaves the count. */
        anomaly_alerter_forget(&m[3], &hub);
        assert_int_equal(hub.active, 0);
        assert_false(m[3].in_incident);

        s.clear = 0.8;
        s.raise = 0.7;
        assert_int_equal(anomaly_hub_init(&hub, &s), -EINVAL);
}

/* End to end: a level shift on a generated series, detector and alerter with their defaults: one
 * alert for the incident, however many samples score high. */
static void test_one_alert_per_shift(void **state) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
                AnomalyAlertSettings as;
                AnomalyDetector d;
                AnomalyHub hub;
                AnomalyAlerter al;
                GenSeries s;
                size_t raised_in = 0, high_in = 0;

                make_series(&s, seed * 31337, GEN_BASE_FLAT, GEN_NOISE_GAUSS, GEN_LEVEL_SHIFT, 8.0, false);
                detector_default(&d, ANOMALY_KIND_VALUE);
                anomaly_alert_settings_default(&as);
                assert_int_equal(anomaly_hub_init(&hub, &as), 0);
                anomaly_alerter_init(&al);
                for (size_t j = 0; j < s.n; j++) {
                        AnomalyResult r;
                        AnomalyAlertEvent e;

                        assert_int_equal(anomaly_detector_update(&d, s.t[j], s.x[j], &r), 0);
                        e = anomaly_alerter_update(&al, &hub, s.t[j], &r);
                        if (j >= s.windows[0].start && j < s.windows[0].start + 200) {
                                raised_in += e == ANOMALY_ALERT_RAISE;
                                high_in += r.score >= as.raise;
                        }
                }
                assert_int_equal(raised_in, 1);
                assert_true(high_in >= 1);
                gen_series_free(&s);
        }
}

/* A small deterministic Gaussian source for the tests below (xorshift64* and Box-Muller). */
static double test_gauss(uint64_t *st) {
        double u1, u2;

        *st ^= *st >> 12, *st ^= *st << 25, *st ^= *st >> 27;
        u1 = ((*st * UINT64_C(2685821657736338717)) >> 11) * (1.0 / 9007199254740992.0) + 1e-17;
        *st ^= *st >> 12, *st ^= *st << 25, *st ^= *st >> 27;
        u2 = ((*st * UINT64_C(2685821657736338717)) >> 11) * (1.0 / 9007199254740992.0);
        return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* A drop at midnight every day (a nightly job, every 288th sample): alarms on its first day, then is
 * learned as part of that hour; a new spike at noon is still seen in full. */
static void test_recurring_daily_event(void **state) {
        AnomalyDetector d;
        uint64_t st = 42;
        double first = 0.0, late = 0.0, noon = 0.0;

        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int j = 0; j < 10 * 288; j++) {
                double t = 1700006400.0 + 300.0 * j, x = 50.0 + test_gauss(&st); /* 1700006400: a midnight */
                AnomalyResult r;

                if (j % 288 == 0 && j > 0)
                        x = 20.0;
                if (j == 9 * 288 + 144)
                        x = 80.0;
                assert_int_equal(anomaly_detector_update(&d, t, x, &r), 0);
                if (j == 288)
                        first = r.score;
                if (j >= 6 * 288 && j % 288 == 0)
                        late = fmax(late, r.score);
                if (j == 9 * 288 + 144)
                        noon = r.score;
        }
        /* Learned, not forgotten: the peak memory judges it against 0.8 times yesterday's (decayed) peak,
         * so it stays mildly unusual (below the knee, in the range of the NAB-optimal thresholds 0.7-0.75
         * of the evaluation), far below its first day. */
        if (!(first >= 0.9 && late < 0.75 && late < first - 0.2 && noon >= 0.9))
                fail_msg("first %g late %g noon %g", first, late, noon);
        assert_true(noon >= d.settings.threshold);
}

/* A real step of 50 sigma: seen at once, followed within the hour (it used to score "spike" for
 * hours, the clipped predictors moving 3 sigma a sample), and the alerter raises once. */
static void test_step_followed(void **state) {
        AnomalyAlertSettings as;
        AnomalyDetector d;
        AnomalyHub hub;
        AnomalyAlerter al;
        uint64_t st = 7;
        size_t raised = 0;
        double after = 0.0, at = 0.0;

        detector_default(&d, ANOMALY_KIND_VALUE);
        anomaly_alert_settings_default(&as);
        assert_int_equal(anomaly_hub_init(&hub, &as), 0);
        anomaly_alerter_init(&al);
        for (int j = 0; j < 3000; j++) {
                double x = (j < 1500 ? 10.0 : 60.0) + test_gauss(&st);
                AnomalyResult r;

                assert_int_equal(anomaly_detector_update(&d, 60.0 * j, x, &r), 0);
                raised += anomaly_alerter_update(&al, &hub, 60.0 * j, &r) == ANOMALY_ALERT_RAISE;
                if (j >= 1500 && j < 1505)
                        at = fmax(at, r.score);
                if (j >= 1560)
                        after = fmax(after, r.score);
        }
        if (!(at >= d.settings.threshold && after < d.settings.threshold))
                fail_msg("at %g after %g", at, after);
        assert_int_equal(raised, 1);
}

/* A value stuck inside the noise (a frozen sensor): seen within 8 samples, as "variance". */
static void test_flatline(void **state) {
        for (uint64_t seed = 1; seed <= 5; seed++) {
                AnomalyDetector d;
                uint64_t st = seed * 1013;
                double stuck = 0.0;
                long delay = -1;

                detector_default(&d, ANOMALY_KIND_VALUE);
                for (int j = 0; j < 2500; j++) {
                        double x = j < 2000 ? 20.0 + test_gauss(&st) : stuck;
                        AnomalyResult r;

                        if (j == 1999)
                                stuck = x;
                        assert_int_equal(anomaly_detector_update(&d, 300.0 * j, x, &r), 0);
                        if (j >= 2000 && delay < 0 && r.score >= d.settings.threshold) {
                                delay = j - 2000;
                                assert_int_equal(r.reason, ANOMALY_REASON_VARIANCE);
                        }
                }
                assert_true(delay >= 0 && delay <= 8);
        }
}

/* Ever larger spikes (12 to 12,000 sigma) score above the threshold, below 1 and distinct at the six
 * decimals hubguard-score prints (a clamp at 1 tied them with every other rare point); only the count
 * kind's rule scores exactly 1. */
static void test_no_ties_at_one(void **state) {
        AnomalyDetector d;
        uint64_t st = 99;
        double prev = 0.0;
        int spikes = 0;

        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int j = 0; j < 4000; j++) {
                bool spike = j >= 1000 && j % 200 == 0;
                double x = 5.0 + test_gauss(&st) + (spike ? 6.0 * (1 << spikes) : 0.0);
                AnomalyResult r;

                assert_int_equal(anomaly_detector_update(&d, 60.0 * j, x, &r), 0);
                assert_true(r.score < 1.0);
                if (spike) {
                        assert_true(r.score >= d.settings.threshold);
                        if (spikes > 0 && !(round(r.score * 1e6) != round(prev * 1e6) && r.score < 1.0 - 1e-6))
                                fail_msg("spike %d: %.7f after %.7f", spikes, r.score, prev);
                        prev = r.score;
                        spikes++;
                }
        }
        assert_int_equal(spikes, 15);
}

/* A metric of magnitude 1e-90 is judged like any other (the scale floor is relative). */
static void test_tiny_magnitude(void **state) {
        AnomalyDetector d;
        uint64_t st = 5;
        AnomalyResult r;

        detector_default(&d, ANOMALY_KIND_VALUE);
        for (int j = 0; j < 1000; j++)
                assert_int_equal(anomaly_detector_update(&d, 60.0 * j, 1e-90 * (1.0 + 0.01 * test_gauss(&st)), &r), 0);
        assert_true(r.score < d.settings.threshold);
        assert_int_equal(anomaly_detector_update(&d, 60000.0, 1.5e-90, &r), 0);
        assert_true(r.score >= d.settings.threshold);
}

/* Event counts whose rate follows the day (requests: 4 to 36 per 5 minutes): the count kind learns the
 * hourly rate, so the daily swing is not "more" or "fewer" events than expected (without the
 * profile, about 80 false points per 1000 on such series), and an outage at midday is still seen. */
static void test_count_daily_rate(void **state) {
        AnomalyDetector d;
        uint64_t st = 11;
        size_t high = 0, judged = 0;
        double outage = 0.0;

        detector_default(&d, ANOMALY_KIND_COUNT);
        for (int j = 0; j < 10 * 288; j++) {
                double t = 1700006400.0 + 300.0 * j, lambda = 20.0 * (1.0 - 0.8 * cos(2.0 * M_PI * (j % 288) / 288.0));
                double c = fmax(0.0, round(lambda + sqrt(lambda) * test_gauss(&st)));
                AnomalyResult r;

                if (j >= 9 * 288 + 144 && j < 9 * 288 + 150) /* noon of the last day: nothing for 30 minutes */
                        c = 0.0;
                assert_int_equal(anomaly_detector_update(&d, t, c, &r), 0);
                if (j >= 3 * 288 && j < 9 * 288) {
                        judged++;
                        high += r.score >= d.settings.threshold;
                }
                if (j >= 9 * 288 + 144 && j < 9 * 288 + 150)
                        outage = fmax(outage, r.score);
        }
        if (high * 1000 > 2 * judged || outage < d.settings.threshold)
                fail_msg("%zu of %zu points >= threshold, outage %g", high, judged, outage);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_size),
                cmocka_unit_test(test_settings),
                cmocka_unit_test(test_spike),
                cmocka_unit_test(test_level_shift),
                cmocka_unit_test(test_drift),
                cmocka_unit_test(test_variance),
                cmocka_unit_test(test_seasonal),
                cmocka_unit_test(test_count_burst),
                cmocka_unit_test(test_clean),
                cmocka_unit_test(test_quantized),
                cmocka_unit_test(test_warmup),
                cmocka_unit_test(test_count_rule),
                cmocka_unit_test(test_gap),
                cmocka_unit_test(test_interval),
                cmocka_unit_test(test_time_order),
                cmocka_unit_test(test_save_restore),
                cmocka_unit_test(test_blob_errors),
                cmocka_unit_test(test_determinism),
                cmocka_unit_test(test_alerter_one_incident),
                cmocka_unit_test(test_alerter_hub),
                cmocka_unit_test(test_one_alert_per_shift),
                cmocka_unit_test(test_recurring_daily_event),
                cmocka_unit_test(test_step_followed),
                cmocka_unit_test(test_flatline),
                cmocka_unit_test(test_no_ties_at_one),
                cmocka_unit_test(test_tiny_magnitude),
                cmocka_unit_test(test_count_daily_rate),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
