/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Evaluation of the anomaly detector's defaults on labelled synthetic series (tests/unit/anomaly-gen.c),
 * the figures quoted next to the defaults in src/anomaly/anomaly.c:
 *
 *   build-dev/tests/bench/anomaly-eval [value-series [count-series [first-seed]]]   (default 300 150 1)
 *
 * For each series: the detector with the daemon's defaults, every sample scored. Reported:
 *   detection   windows with a score >= threshold inside them, and the median delay to it (samples)
 *   FA/1k       points >= threshold outside the windows, per 1,000 such points (after warm-up);
 *               alerts/1k: incidents an AnomalyAlerter (defaults) raises outside windows
 *   AP          average precision of the scores against the labels (per series with anomalies, mean)
 *   AUC         probability that a window's highest score beats a random normal point's score
 * broken down by anomaly kind, by base process and by noise family.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly-gen.h"
#include "hubguard/anomaly.h"

typedef struct Acc {
        size_t windows, detected, normal, false_points, false_alerts, samples;
        double ap_sum, auc_sum;
        size_t ap_n, auc_n;
        double delay_sum;
} Acc;

typedef struct Pt {
        double s;
        bool y;
} Pt;

static int cmp_desc(const void *a, const void *b) {
        double x = ((const Pt *) a)->s, y = ((const Pt *) b)->s;
        return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y ? 1 : 0;
}

/* Average precision with ties broken pessimistically (normal points first among equals). */
static double average_precision(Pt *p, size_t n) {
        size_t pos = 0, tp = 0;
        double ap = 0;

        for (size_t i = 0; i < n; i++)
                pos += p[i].y;
        if (pos == 0)
                return NAN;
        qsort(p, n, sizeof(Pt), cmp_desc);
        for (size_t i = 0; i < n;) {
                size_t j = i, tp_group = 0;

                while (j < n && p[j].s == p[i].s) {
                        tp_group += p[j].y;
                        j++;
                }
                /* within a tie group, the positives come last */
                for (size_t k = 0; k < tp_group; k++)
                        ap += (double) (tp + k + 1) / (double) (j - tp_group + k + 1);
                tp += tp_group;
                i = j;
        }
        return ap / (double) pos;
}

static void acc_print(const char *name, const Acc *a) {
        printf("%-14s windows %4zu detected %5.1f%% (delay %4.1f)  FA/1k %6.2f  alerts/1k %5.2f  AP %.3f  AUC %.3f\n",
               name, a->windows, a->windows ? 100.0 * a->detected / a->windows : 0.0,
               a->detected ? a->delay_sum / a->detected : 0.0,
               a->normal ? 1000.0 * a->false_points / a->normal : 0.0,
               a->samples ? 1000.0 * a->false_alerts / a->samples : 0.0, a->ap_n ? a->ap_sum / a->ap_n : 0.0,
               a->auc_n ? a->auc_sum / a->auc_n : 0.0);
}

static void acc_add(Acc *dst, const Acc *src) {
        dst->windows += src->windows;
        dst->detected += src->detected;
        dst->normal += src->normal;
        dst->false_points += src->false_points;
        dst->false_alerts += src->false_alerts;
        dst->samples += src->samples;
        dst->ap_sum += src->ap_sum;
        dst->ap_n += src->ap_n;
        dst->auc_sum += src->auc_sum;
        dst->auc_n += src->auc_n;
        dst->delay_sum += src->delay_sum;
}

/* Detection and false alarms at other thresholds than the default. */
static const double sweep[] = { 0.3, 0.4, 0.5, 0.6, 0.7, 0.8 };
#define N_SWEEP (sizeof(sweep) / sizeof(sweep[0]))
static size_t sweep_detected[2][N_SWEEP], sweep_fa[2][N_SWEEP], sweep_windows[2], sweep_normal[2];

static Acc by_kind[_GEN_ANOMALY_MAX], by_base[_GEN_BASE_MAX], by_noise[_GEN_NOISE_MAX], total_value, total_count;

static void run_one(const GenSpec *spec, bool verbose) {
        AnomalySettings set;
        AnomalyAlertSettings aset;
        AnomalyDetector d;
        AnomalyHub hub;
        AnomalyAlerter al;
        GenSeries s;
        Acc a = {};
        Pt *pts;
        double *normal_scores, *scores;
        size_t np = 0, nn = 0;

        if (gen_series(spec, &s) < 0)
                abort();
        anomaly_settings_default(&set, spec->base == GEN_BASE_COUNT ? ANOMALY_KIND_COUNT : ANOMALY_KIND_VALUE);
        /* The rule would make bursts trivially detected at any rate; evaluate the learned part. */
        set.rule_limit = 0;
        if (anomaly_detector_init(&d, &set) < 0)
                abort();
        anomaly_alert_settings_default(&aset);
        aset.raise = set.threshold;
        aset.hub_limit = 1000000;
        (void) anomaly_hub_init(&hub, &aset);
        anomaly_alerter_init(&al);

        scores = calloc(s.n, sizeof(double));
        pts = calloc(s.n, sizeof(Pt));
        normal_scores = calloc(s.n, sizeof(double));
        if (!scores || !pts || !normal_scores)
                abort();

        for (size_t j = 0; j < s.n; j++) {
                AnomalyResult r;

                if (anomaly_detector_update(&d, s.t[j], s.x[j], &r) < 0)
                        abort();
                scores[j] = r.score;
                if (anomaly_alerter_update(&al, &hub, s.t[j], &r) != ANOMALY_ALERT_NONE && al.in_incident &&
                    al.started == s.t[j] && !s.label[j] && j >= set.warmup)
                        a.false_alerts++;
                if (verbose)
                        printf("%zu %.0f %g %d %.4f %s\n", j, s.t[j], s.x[j], s.label[j], r.score,
                               anomaly_reason_to_string(r.reason));
        }

        for (size_t j = set.warmup; j < s.n; j++) {
                int c = spec->base == GEN_BASE_COUNT;

                if (!s.label[j]) {
                        sweep_normal[c]++;
                        for (size_t k = 0; k < N_SWEEP; k++)
                                sweep_fa[c][k] += scores[j] >= sweep[k];
                }
                pts[np++] = (Pt) { scores[j], s.label[j] };
                if (!s.label[j]) {
                        a.normal++;
                        normal_scores[nn++] = scores[j];
                        if (scores[j] >= set.threshold)
                                a.false_points++;
                }
        }
        a.samples = s.n - set.warmup;
        qsort(normal_scores, nn, sizeof(double), cmp_double);

        for (size_t i = 0; i < s.n_windows; i++) {
                Acc w = {};
                double best = 0;
                size_t lo, hi, below;

                w.windows = 1;
                sweep_windows[spec->base == GEN_BASE_COUNT]++;
                for (size_t j = s.windows[i].start; j < s.windows[i].end; j++) {
                        if (scores[j] > best)
                                best = scores[j];
                        if (scores[j] >= set.threshold && w.detected == 0) {
                                w.detected = 1;
                                w.delay_sum = (double) (j - s.windows[i].start);
                        }
                }
                for (size_t k = 0; k < N_SWEEP; k++)
                        sweep_detected[spec->base == GEN_BASE_COUNT][k] += best >= sweep[k];
                /* AUC of the window's best score against the normal points (ties count half). */
                lo = 0;
                hi = nn;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (normal_scores[mid] < best)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                below = lo;
                while (hi < nn && normal_scores[hi] == best)
                        hi++;
                if (nn > 0) {
                        w.auc_sum = ((double) below + 0.5 * (double) (hi - below)) / (double) nn;
                        w.auc_n = 1;
                }
                acc_add(&by_kind[s.windows[i].kind], &w);
                acc_add(&a, &w);
        }
        if (s.n_windows > 0) {
                double ap = average_precision(pts, np);
                if (!isnan(ap)) {
                        a.ap_sum = ap;
                        a.ap_n = 1;
                }
        }

        if (spec->base == GEN_BASE_COUNT)
                acc_add(&total_count, &a);
        else {
                acc_add(&total_value, &a);
                acc_add(&by_base[spec->base], &a);
                acc_add(&by_noise[spec->noise], &a);
        }
        if (spec->base != GEN_BASE_COUNT) {
                /* per-kind rows carry windows only; FA and AP by base and noise */
        }
        free(scores);
        free(pts);
        free(normal_scores);
        gen_series_free(&s);
}

int main(int argc, char **argv) {
        unsigned long n_value = argc > 1 ? strtoul(argv[1], NULL, 10) : 300;
        unsigned long n_count = argc > 2 ? strtoul(argv[2], NULL, 10) : 150;
        unsigned long first = argc > 3 ? strtoul(argv[3], NULL, 10) : 1;
        const char *dump = getenv("ANOMALY_EVAL_DUMP"); /* "seed" or "c<seed>": print one series */
        GenSpec spec;

        if (dump) {
                bool counts = dump[0] == 'c';
                gen_spec_random(&spec, strtoull(dump + counts, NULL, 10), counts);
                fprintf(stderr, "base %s noise %s interval %g jitter %d n %zu\n", gen_base_to_string(spec.base),
                        gen_noise_to_string(spec.noise), spec.interval, spec.jitter, spec.n);
                run_one(&spec, true);
                return 0;
        }

        for (unsigned long i = 0; i < n_value; i++) {
                gen_spec_random(&spec, first + i, false);
                run_one(&spec, false);
        }
        for (unsigned long i = 0; i < n_count; i++) {
                gen_spec_random(&spec, 1000000 + first + i, true);
                run_one(&spec, false);
        }

        printf("value series %lu, count series %lu, first seed %lu\n", n_value, n_count, first);
        acc_print("value: all", &total_value);
        for (int i = 0; i < _GEN_ANOMALY_MAX; i++)
                acc_print(gen_anomaly_to_string((GenAnomaly) i), &by_kind[i]);
        for (int i = 0; i < GEN_BASE_COUNT; i++)
                acc_print(gen_base_to_string((GenBase) i), &by_base[i]);
        for (int i = 0; i < _GEN_NOISE_MAX; i++)
                acc_print(gen_noise_to_string((GenNoise) i), &by_noise[i]);
        acc_print("count: all", &total_count);
        for (int c = 0; c < 2; c++) {
                printf("%s threshold sweep:", c ? "count" : "value");
                for (size_t k = 0; k < N_SWEEP; k++)
                        printf("  %.1f: %.1f%% %.2f/1k", sweep[k], 100.0 * sweep_detected[c][k] / sweep_windows[c],
                               1000.0 * sweep_fa[c][k] / sweep_normal[c]);
                printf("\n");
        }
        return 0;
}
