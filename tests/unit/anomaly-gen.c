/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly-gen.h"

#define DAY_S 86400.0

/* splitmix64: small, fast and the same on every platform. */
uint64_t gen_next(GenRng *r) {
        uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

double gen_uniform(GenRng *r) {
        return ((double) (gen_next(r) >> 11) + 0.5) / 9007199254740992.0;
}

double gen_gauss(GenRng *r) {
        double u = gen_uniform(r), v = gen_uniform(r);

        return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

static double gen_range(GenRng *r, double lo, double hi) {
        return lo + (hi - lo) * gen_uniform(r);
}

static double gen_logrange(GenRng *r, double lo, double hi) {
        return exp(gen_range(r, log(lo), log(hi)));
}

/* Unit-variance noise of the given family. */
static double gen_noise(GenRng *r, GenNoise n) {
        switch (n) {
        case GEN_NOISE_STUDENT3: {
                double g = gen_gauss(r), c = 0.0;

                for (int i = 0; i < 3; i++) {
                        double h = gen_gauss(r);
                        c += h * h;
                }
                return g / sqrt(c / 3.0) / sqrt(3.0); /* t3 has variance 3 */
        }
        case GEN_NOISE_LAPLACE: {
                double u = gen_uniform(r) - 0.5;

                return (u < 0 ? 1.0 : -1.0) * log(1.0 - 2.0 * fabs(u)) / sqrt(2.0);
        }
        default:
                return gen_gauss(r);
        }
}

/* Gamma(shape k, scale 1), Marsaglia-Tsang (k >= 1). */
static double gen_gamma(GenRng *r, double k) {
        double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);

        for (;;) {
                double x = gen_gauss(r), v = 1.0 + c * x, u;

                if (v <= 0)
                        continue;
                v = v * v * v;
                u = gen_uniform(r);
                if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
                        return d * v;
        }
}

static double gen_poisson(GenRng *r, double lambda) {
        if (lambda > 50.0) {
                double x = floor(lambda + sqrt(lambda) * gen_gauss(r) + 0.5);
                return x < 0 ? 0 : x;
        }
        double l = exp(-lambda), p = 1.0;
        int k = 0;

        do {
                k++;
                p *= gen_uniform(r);
        } while (p > l);
        return k - 1;
}

void gen_spec_random(GenSpec *spec, uint64_t seed, bool counts) {
        GenRng r = { seed * 0x2545f4914f6cdd1dULL + 1 };
        static const double intervals[] = { 300.0, 300.0, 60.0, 600.0, 10.0 };

        *spec = (GenSpec) {
                .seed = seed,
                .n = 2000 + (size_t) (gen_uniform(&r) * 4000),
                .base = counts ? GEN_BASE_COUNT : (GenBase) (gen_next(&r) % GEN_BASE_COUNT),
                .noise = (GenNoise) (gen_next(&r) % _GEN_NOISE_MAX),
                .interval = intervals[gen_next(&r) % 5],
                .jitter = gen_uniform(&r) < 0.3,
                .n_anomalies = gen_next(&r) % 4, /* 0..3: a quarter of the series are clean */
        };
        for (size_t i = 0; i < spec->n_anomalies; i++)
                spec->kinds[i] = counts ? GEN_BURST : (GenAnomaly) (gen_next(&r) % GEN_BURST);
        /* A fifth of the gauges report whole steps (integers, fixed decimals). */
        if (!counts && gen_uniform(&r) < 0.2)
                spec->quantum = gen_logrange(&r, 0.3, 4.0);
}

const char *gen_anomaly_to_string(GenAnomaly a) {
        static const char *const t[] = { "spike", "level-shift", "drift", "variance", "seasonal", "burst" };
        return a >= 0 && a < _GEN_ANOMALY_MAX ? t[a] : "?";
}

const char *gen_base_to_string(GenBase b) {
        static const char *const t[] = { "flat", "daily", "walk", "ar1", "count" };
        return b >= 0 && b < _GEN_BASE_MAX ? t[b] : "?";
}

const char *gen_noise_to_string(GenNoise n) {
        static const char *const t[] = { "gauss", "student3", "laplace" };
        return n >= 0 && n < _GEN_NOISE_MAX ? t[n] : "?";
}

void gen_series_free(GenSeries *s) {
        free(s->t);
        free(s->x);
        free(s->label);
        *s = (GenSeries) {};
}

int gen_series(const GenSpec *spec, GenSeries *ret) {
        GenRng r = { spec->seed ^ 0x5851f42d4c957f2dULL };
        GenSeries s = { .n = spec->n };
        double unit, level, amp = 0, amp2 = 0, phase, phase2, walk_step = 0, ar_phi = 0, ar_sd = 0;
        double lambda0 = 0, shape = 0, noise_sd = 1.0, walk = 0, ar = 0, hetero = 0, t;
        double mag[GEN_WINDOWS_MAX], extra[GEN_WINDOWS_MAX], sign[GEN_WINDOWS_MAX];
        size_t len[GEN_WINDOWS_MAX];

        if (spec->n < 100 || spec->n_anomalies > GEN_WINDOWS_MAX)
                return -EINVAL;
        s.t = calloc(s.n, sizeof(double));
        s.x = calloc(s.n, sizeof(double));
        s.label = calloc(s.n, sizeof(bool));
        if (!s.t || !s.x || !s.label) {
                gen_series_free(&s);
                return -ENOMEM;
        }

        unit = gen_logrange(&r, 0.01, 1000.0);
        level = gen_range(&r, -50.0, 200.0) * unit;
        phase = gen_range(&r, 0, 2 * M_PI);
        phase2 = gen_range(&r, 0, 2 * M_PI);
        switch (spec->base) {
        case GEN_BASE_DAILY:
                amp = gen_range(&r, 2.0, 10.0);
                amp2 = amp * gen_range(&r, 0.0, 0.5);
                hetero = gen_uniform(&r) < 0.5 ? gen_range(&r, 0.3, 0.8) : 0.0;
                break;
        case GEN_BASE_WALK:
                walk_step = gen_logrange(&r, 0.05, 0.7);
                break;
        case GEN_BASE_AR1:
                ar_phi = gen_range(&r, 0.8, 0.98);
                ar_sd = gen_range(&r, 1.0, 4.0);
                break;
        case GEN_BASE_COUNT:
                lambda0 = gen_logrange(&r, 0.02, 40.0);
                amp = gen_range(&r, 0.0, 0.7);
                shape = gen_uniform(&r) < 0.5 ? 0.0 : gen_range(&r, 1.0, 10.0); /* 0: Poisson */
                break;
        default:
                break;
        }

        /* Anomaly positions: in [25%, 95%) of the series, in separate slots. */
        s.n_windows = spec->n_anomalies;
        for (size_t i = 0; i < s.n_windows; i++) {
                GenAnomaly k = spec->kinds[i];
                size_t slot = (size_t) (0.7 * s.n / s.n_windows), lo = (size_t) (0.25 * s.n) + i * slot;

                if (k == GEN_BURST && spec->base != GEN_BASE_COUNT)
                        k = GEN_SPIKE;
                if (spec->base == GEN_BASE_COUNT)
                        k = GEN_BURST;
                if (k == GEN_SEASONAL && spec->base != GEN_BASE_DAILY)
                        k = GEN_SPIKE;
                sign[i] = gen_uniform(&r) < 0.5 ? -1.0 : 1.0;
                switch (k) {
                case GEN_SPIKE:
                        mag[i] = spec->magnitude > 0 ? spec->magnitude : gen_range(&r, 6.0, 12.0);
                        len[i] = 1;
                        break;
                case GEN_LEVEL_SHIFT:
                        mag[i] = spec->magnitude > 0 ? spec->magnitude : gen_range(&r, 3.0, 8.0);
                        len[i] = 40;
                        break;
                case GEN_DRIFT:
                        mag[i] = spec->magnitude > 0 ? spec->magnitude : gen_range(&r, 5.0, 10.0);
                        len[i] = 100 + gen_next(&r) % 200;
                        break;
                case GEN_VARIANCE:
                        mag[i] = spec->magnitude > 0 ? spec->magnitude : gen_range(&r, 3.0, 5.0);
                        len[i] = 50 + gen_next(&r) % 100;
                        break;
                case GEN_SEASONAL:
                        mag[i] = 0;
                        len[i] = (size_t) (6 * 3600.0 / spec->interval);
                        break;
                default: /* burst */
                        mag[i] = spec->magnitude > 0 ? spec->magnitude : gen_range(&r, 4.0, 10.0);
                        extra[i] = gen_range(&r, 3.0, 10.0);
                        len[i] = 3 + gen_next(&r) % 8;
                        break;
                }
                if (len[i] > slot / 2)
                        len[i] = slot / 2 > 1 ? slot / 2 : 1;
                s.windows[i].kind = k;
                s.windows[i].start = lo + (size_t) (gen_uniform(&r) * (slot - len[i]) * 0.5);
                /* Labels: the anomaly itself, plus a tail in which a detector may still be reacting
                 * (a sudden change is labelled for 20 samples, as in NAB's windows). */
                s.windows[i].end = s.windows[i].start + len[i] + (k == GEN_LEVEL_SHIFT ? 0 : 20);
                if (s.windows[i].end > s.n)
                        s.windows[i].end = s.n;
                for (size_t j = s.windows[i].start; j < s.windows[i].end; j++)
                        s.label[j] = true;
        }

        t = 1700000000.0 + floor(gen_uniform(&r) * 86400.0);
        for (size_t j = 0; j < s.n; j++) {
                double daily = 0, x, noise_mult = 1.0, shift = 0.0;
                bool season_broken = false;

                if (j > 0) {
                        double dt = spec->interval;

                        if (spec->jitter) {
                                dt *= gen_range(&r, 0.6, 1.4);
                                if (gen_uniform(&r) < 0.003)
                                        dt += spec->interval * gen_range(&r, 10.0, 60.0);
                        }
                        t += dt;
                }
                s.t[j] = t;

                for (size_t i = 0; i < s.n_windows; i++) {
                        size_t st = s.windows[i].start;

                        if (j < st)
                                continue;
                        switch (s.windows[i].kind) {
                        case GEN_SPIKE:
                                if (j == st)
                                        shift += sign[i] * mag[i];
                                break;
                        case GEN_LEVEL_SHIFT:
                                shift += sign[i] * mag[i];
                                break;
                        case GEN_DRIFT:
                                shift += sign[i] * mag[i] * fmin(1.0, (double) (j - st) / (double) len[i]);
                                break;
                        case GEN_VARIANCE:
                                if (j < st + len[i])
                                        noise_mult *= mag[i];
                                break;
                        case GEN_SEASONAL:
                                if (j < st + len[i])
                                        season_broken = true;
                                break;
                        default:
                                break;
                        }
                }

                daily = sin(2 * M_PI * t / DAY_S + phase);
                switch (spec->base) {
                case GEN_BASE_DAILY: {
                        double v = amp * daily + amp2 * sin(4 * M_PI * t / DAY_S + phase2);
                        /* Busy hours are noisier (heteroscedastic) in some series. */
                        x = (season_broken ? -v : v) +
                            noise_sd * noise_mult * (1.0 + hetero * daily) * gen_noise(&r, spec->noise);
                        break;
                }
                case GEN_BASE_WALK:
                        walk += walk_step * gen_gauss(&r);
                        x = walk + noise_sd * noise_mult * gen_noise(&r, spec->noise);
                        break;
                case GEN_BASE_AR1:
                        ar = ar_phi * ar + sqrt(1 - ar_phi * ar_phi) * ar_sd * gen_gauss(&r);
                        x = ar + noise_sd * noise_mult * gen_noise(&r, spec->noise);
                        break;
                case GEN_BASE_COUNT: {
                        /* A counter's delta: events since the previous sample, over dt (gaps too). */
                        double lambda = lambda0 * (1.0 + amp * daily) * (j > 0 ? s.t[j] - s.t[j - 1] : spec->interval) /
                                        300.0;

                        if (shape > 0)
                                lambda *= gen_gamma(&r, shape) / shape;
                        for (size_t i = 0; i < s.n_windows; i++)
                                if (j >= s.windows[i].start && j < s.windows[i].start + len[i])
                                        lambda = lambda * mag[i] + extra[i];
                        s.x[j] = gen_poisson(&r, lambda);
                        continue;
                }
                default:
                        x = noise_sd * noise_mult * gen_noise(&r, spec->noise);
                }
                x += shift;
                if (spec->quantum > 0)
                        x = floor(x / spec->quantum + 0.5) * spec->quantum;
                s.x[j] = level + unit * x;
        }

        *ret = s;
        return 0;
}
