/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Labelled synthetic series for the anomaly detector's tests and its evaluation (tests/bench/
 * anomaly-eval): daily seasonality, random walks, AR(1) processes, Gaussian and heavy-tailed noise
 * (Student-t with 3 degrees of freedom, Laplace), regular, jittered and gappy timestamps, counts
 * (Poisson and overdispersed), with injected anomalies of each kind and their label windows.
 * Deterministic: a seed gives the same series everywhere (own PRNG, no rand()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum GenAnomaly {
        GEN_SPIKE,
        GEN_LEVEL_SHIFT,
        GEN_DRIFT,
        GEN_VARIANCE,
        GEN_SEASONAL,  /* the daily pattern breaks (flat or inverted for hours) */
        GEN_BURST,     /* counts: a burst of events */
        _GEN_ANOMALY_MAX,
} GenAnomaly;

typedef enum GenNoise {
        GEN_NOISE_GAUSS,
        GEN_NOISE_STUDENT3,
        GEN_NOISE_LAPLACE,
        _GEN_NOISE_MAX,
} GenNoise;

typedef enum GenBase {
        GEN_BASE_FLAT,
        GEN_BASE_DAILY,   /* sinusoid (with a second harmonic) over 24 h */
        GEN_BASE_WALK,    /* random walk */
        GEN_BASE_AR1,     /* mean-reverting AR(1) */
        GEN_BASE_COUNT,   /* Poisson / negative binomial counts, daily modulated */
        _GEN_BASE_MAX,
} GenBase;

#define GEN_WINDOWS_MAX 4

typedef struct GenWindow {
        size_t start, end;  /* label window [start, end) in samples */
        GenAnomaly kind;
} GenWindow;

typedef struct GenSpec {
        uint64_t seed;
        size_t n;               /* samples */
        GenBase base;
        GenNoise noise;
        double interval;        /* seconds */
        bool jitter;            /* irregular timestamps (+-40%) and a few gaps */
        size_t n_anomalies;     /* 0..GEN_WINDOWS_MAX */
        GenAnomaly kinds[GEN_WINDOWS_MAX]; /* the kinds to inject (a kind that does not apply to the
                                            * base becomes a spike; GEN_BURST only on counts) */
        double magnitude;       /* anomaly size in units of the noise (0: drawn) */
        double quantum;         /* round values to multiples of this many noise units (0: no) */
} GenSpec;

typedef struct GenSeries {
        size_t n;
        double *t, *x;
        size_t n_windows;
        GenWindow windows[GEN_WINDOWS_MAX];
        bool *label;            /* per sample: inside a window */
} GenSeries;

typedef struct GenRng {
        uint64_t s;
} GenRng;

uint64_t gen_next(GenRng *r);
double gen_uniform(GenRng *r);              /* (0, 1) */
double gen_gauss(GenRng *r);

/* A random spec: base, noise, interval and anomalies drawn from wide ranges. */
void gen_spec_random(GenSpec *spec, uint64_t seed, bool counts);

/* 0, or -ENOMEM / -EINVAL. */
int gen_series(const GenSpec *spec, GenSeries *ret);
void gen_series_free(GenSeries *s);

const char *gen_anomaly_to_string(GenAnomaly a);
const char *gen_base_to_string(GenBase b);
const char *gen_noise_to_string(GenNoise n);
