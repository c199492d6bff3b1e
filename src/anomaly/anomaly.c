/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Streaming anomaly detection: see include/hubguard/anomaly.h for the contract.
 *
 * Value kind, per sample:
 *   1. time constants are in samples of the typical interval (so 1 s and 5 min series behave alike),
 *      each statistic decays by alpha = 1 - exp(-dt / tau): irregular sampling and gaps need nothing
 *      special, and after a long gap the fast statistics re-converge at once. Scale statistics use
 *      dt capped at two intervals: a gap says nothing about the noise.
 *   2. features, each a non-negative z:
 *        spike        |value - prediction| / residual scale (the best of three predictors by their
 *                     running error; the scale is a Huber-clipped mean absolute residual, so a spike
 *                     does not inflate the scale that judges the next one; after a gap the residual
 *                     is discounted by the gap's length)
 *        level-shift  |fast mean - mid mean| over its own running mean absolute value; a sure shift
 *                     re-baselines the slower means (one shift, one incident)
 *        drift        |mid mean - slow mean| over the larger of half the short-term spread and 2.5
 *                     times its own usual value, only while the fast mean leads the same way (a
 *                     sustained trend, not the aftermath of a step)
 *        variance     |log(fast mean squared residual / scale^2)|
 *        seasonal     |fast raw mean - (slow raw mean + daily profile)| over its own scale, once the
 *                     profile is on (auto: two days seen and it explains >= 25% of the variance)
 *        flat line    the run of exact repeats of the value times -log10 of the learned repeat rate
 *                     (a stuck sensor or a meter stuck at 0 inside the noise), reported as variance
 *      Unless the season is "none", spike and seasonal are judged against the day's memory: per
 *      hour of day, the recent peak of each (decaying over a few days); once a day is seen, z is
 *      divided by 0.8 times that hour's peak over the feature's q99 when that is above 1, so an
 *      event that recurs at the same hour every day (a nightly job) alarms on its first days, not
 *      forever. A run of STEP_RUN residuals beyond STEP_K sigma on one
 *      side is a real step: the short-term predictors jump to it (they are clipped per sample and
 *      would otherwise take hours to follow), and the level-shift feature reports it once.
 *      No scale goes below half the metric's resolution (a low quantile of its non-zero changes), so
 *      whole-number and constant metrics are judged by their steps, not against a scale of zero.
 *   3. each z becomes a tail probability against the metric's own history: two quantiles of the
 *      feature (90% and 99%) are learned by stochastic approximation; log p is linear in z through
 *      them, and beyond q99 a mix of that exponential tail and a power law chosen by the tail's
 *      shape (q99 / q90): a heavy-tailed metric learns so and stops alarming on its rare values.
 *      Slow features learn slowly, and a tenth as much from their own unusual values, so an anomaly
 *      is not learned while it happens.
 *   4. score = -log10(k * min p) / 6 in [0, 1], k the number of features (Bonferroni), with a soft
 *      knee above 0.9 (never exactly 1, so the rarest points still rank); reason = the feature with
 *      the smallest p. Zero during the warm-up, then ramped up over as many samples again.
 *
 * Count kind: Poisson-like surprise of the sample's count, and of a short window's count, under the
 * slowly learned rate, divided by the learned dispersion (variance over mean >= 1), with a one-sided
 * empirical correction (a metric burstier than the model learns to be less surprising, never more);
 * plus the fixed rule.
 */

#include <math.h>
#include <string.h>

#include "hubguard/anomaly.h"

_Static_assert(sizeof(AnomalyDetector) <= ANOMALY_STATE_MAX, "AnomalyDetector must stay within 1 KiB");

/* Time constants, in typical intervals. Tuned with tests/bench/anomaly-eval (figures above
 * anomaly_settings_default()); the #ifndef lets an experiment override them with -D. */
#ifndef TAU_PRED1
#define TAU_PRED1 1.0
#endif
#ifndef TAU_PRED8
#define TAU_PRED8 8.0
#endif
#ifndef TAU_FAST
#define TAU_FAST 4.0
#endif
#ifndef TAU_MID
#define TAU_MID 40.0
#endif
#ifndef TAU_SLOW
#define TAU_SLOW 400.0
#endif
#ifndef TAU_ERR
#define TAU_ERR 30.0
#endif
#ifndef TAU_SCALE
#define TAU_SCALE 200.0
#endif
#ifndef TAU_VAR
#define TAU_VAR 8.0
#endif
#ifndef TAU_DEV
#define TAU_DEV 400.0
#endif
#define TAU_COUNT_FAST 8.0
/* The daily profile: each hourly bin forgets with 3 h of in-bin time, i.e. over about 3 days. */
#define TAU_SEASON_S (3.0 * 3600.0)
#define DAY_S 86400.0
/* Scale statistics see dt at most this many intervals. */
#define DT_CAP 2.0

enum {
        A_PRED1,
        A_PRED8,
        A_FAST,
        A_MID,
        A_SLOW,
        A_SEASON,
        A_ERR,   /* capped dt from here */
        A_SCALE,
        A_VAR,
        A_DEV,
        A_PEAK,  /* absolute: PEAK_TAU_S */
        A_COUNT_FAST,
        A_COUNT_SLOW,
        _A_MAX,
};
_Static_assert(_A_MAX <= sizeof(((AnomalyDetector *) 0)->alpha) / sizeof(double), "alpha[] too small");
_Static_assert(sizeof(AnomalyTail) == 2 * sizeof(float), "AnomalyTail is serialized as two floats");

/* Features of the value kind, in the order of tail[]. */
enum { F_SPIKE, F_LEVEL, F_DRIFT, F_VAR, F_SEASON };
_Static_assert(F_SEASON + 1 == ANOMALY_FEATURES, "one tail per feature");

/* sigma / mean absolute deviation for a Gaussian: sqrt(pi / 2). */
#define MAD_TO_SIGMA 1.2533141373155003
/* Scores: -log10(p) / SCORE_DECADES. */
#define SCORE_DECADES 6.0
/* A shift this sure (log10 p of the level-shift feature) re-baselines the slower means. */
#define REBASE_LOG10P -5.0
/* Steps of the quantile estimators (multiplicative). */
#ifndef TAIL_STEP
#define TAIL_STEP 0.03
#endif
#ifndef TAIL_EARLY
#define TAIL_EARLY 10.0
#endif
#define Z_MAX 1e6
/* Scores above this bend towards 1 (score_from_log10p()). */
#define SCORE_KNEE 0.9
/* No scale goes below this fraction of the metric's level, nor below SCALE_FLOOR_MIN: relative, so a
 * metric of magnitude 1e-90 is judged like one of magnitude 1 (an absolute floor of 1e-12 hid it);
 * SCALE_FLOOR_MIN only keeps a constant 0 from a division by zero (squares of 1e-150 stay normal). */
#define SCALE_FLOOR_REL 1e-9
#define SCALE_FLOOR_MIN 1e-150
/* Real steps: this many residuals in a row beyond STEP_K sigma on the same side. Measured on the
 * evaluation corpora (see anomaly_settings_default()): the clipped predictors otherwise follow a
 * step of 50 sigma in hours, scoring "spike" all along, and the level-shift feature never fires. */
#define STEP_RUN 5
#define STEP_K 4.0
/* Daily peak memory: a peak decays with PEAK_TAU_S of in-hour time (a factor 0.78 a day, so a
 * weekly event is still partly remembered; chosen on the two design corpora between 2, 4 and 8 h:
 * NAB 60.9, 62.7, 62.1, and confirmed on the held-out one: 61.4, 62.3, 62.7), and a z is judged
 * against PEAK_SHARE of its hour's peak (0.6 instead: -0.65 on the design corpora). Peaks are
 * stored as codes of 1/12 octave from PEAK_Z0 (code 0: none; 255: 6e5, about Z_MAX) to keep the
 * state within 1 KiB; the current hour's peaks are kept decoded, so rounding happens once per hour
 * of day, not per sample. */
#define PEAK_TAU_S (4.0 * 3600.0)
#define PEAK_SHARE 0.8
#define PEAK_Z0 0.25
#define PEAK_PER_OCTAVE 12
/* Flat lines: the repeat rate is floored here (so one repeat of a never-repeating metric is z = 3),
 * and the feature is off for a metric that repeats nearly always (a constant, a rarely-changing
 * setting): there a run is normal. */
#define FLAT_RATE_MIN 1e-3
#define FLAT_RATE_MAX 0.98
#define FLAT_Q90_MIN 0.05f
#define FLAT_Q99_MIN 0.1f
/* Bonferroni corrections for 2, 4, 5 and 6 features. */
#define LOG10_2 0.30102999566398120
#define LOG10_4 0.60205999132796240
#define LOG10_5 0.69897000433601886
#define LOG10_6 0.77815125038364363

static const char *const kind_table[_ANOMALY_KIND_MAX] = {
        [ANOMALY_KIND_VALUE] = "value",
        [ANOMALY_KIND_COUNT] = "count",
};

static const char *const season_table[_ANOMALY_SEASON_MAX] = {
        [ANOMALY_SEASON_AUTO] = "auto",
        [ANOMALY_SEASON_NONE] = "none",
        [ANOMALY_SEASON_DAILY] = "daily",
};

static const char *const reason_table[_ANOMALY_REASON_MAX] = {
        [ANOMALY_REASON_NONE] = "none",
        [ANOMALY_REASON_WARMUP] = "warm-up",
        [ANOMALY_REASON_SPIKE] = "spike",
        [ANOMALY_REASON_LEVEL_SHIFT] = "level-shift",
        [ANOMALY_REASON_DRIFT] = "drift",
        [ANOMALY_REASON_VARIANCE] = "variance",
        [ANOMALY_REASON_SEASONAL] = "seasonal",
        [ANOMALY_REASON_RATE] = "rate",
        [ANOMALY_REASON_RULE] = "rule",
};

static const char *const alert_table[_ANOMALY_ALERT_MAX] = {
        [ANOMALY_ALERT_NONE] = "none",
        [ANOMALY_ALERT_RAISE] = "raise",
        [ANOMALY_ALERT_JOIN] = "join",
        [ANOMALY_ALERT_SUPPRESSED] = "suppressed",
        [ANOMALY_ALERT_CLEAR] = "clear",
};

const char *anomaly_kind_to_string(AnomalyKind k) {
        return k >= 0 && k < _ANOMALY_KIND_MAX ? kind_table[k] : NULL;
}

AnomalyKind anomaly_kind_from_string(const char *s) {
        for (int i = 0; s && i < _ANOMALY_KIND_MAX; i++)
                if (strcmp(s, kind_table[i]) == 0)
                        return (AnomalyKind) i;
        return _ANOMALY_KIND_INVALID;
}

const char *anomaly_season_to_string(AnomalySeason s) {
        return s >= 0 && s < _ANOMALY_SEASON_MAX ? season_table[s] : NULL;
}

AnomalySeason anomaly_season_from_string(const char *s) {
        for (int i = 0; s && i < _ANOMALY_SEASON_MAX; i++)
                if (strcmp(s, season_table[i]) == 0)
                        return (AnomalySeason) i;
        return _ANOMALY_SEASON_INVALID;
}

const char *anomaly_reason_to_string(AnomalyReason r) {
        return r >= 0 && r < _ANOMALY_REASON_MAX ? reason_table[r] : NULL;
}

const char *anomaly_alert_event_to_string(AnomalyAlertEvent e) {
        return e >= 0 && e < _ANOMALY_ALERT_MAX ? alert_table[e] : NULL;
}

/* ---- settings ---- */

/*
 * The defaults, measured on two independent sets of labelled series.
 *
 * 1. tests/bench/anomaly-eval (300 gauge and 150 counter series of 2000 to 6000 samples: flat, daily
 *    with heteroscedastic noise, random walks, AR(1); Gaussian, Student-t(3), Laplace noise; regular,
 *    jittered and gappy timestamps; a fifth in whole steps; 1 to 3 injected anomalies in three
 *    quarters of them):
 *
 *   `build-dev/tests/bench/anomaly-eval` (seeds 1..)       threshold 0.6   0.5
 *     gauges:   windows detected                            60.1%          72.2%
 *               points >= threshold outside windows         0.40 / 1000    1.12 / 1000
 *               alerts (AnomalyAlerter) outside windows     0.31 / 1000
 *               AUC (window's best vs normal points) 0.998, average precision 0.30
 *     counters: windows detected 96.5%, 0.05 / 1000 false points, AUC 1.000
 *   `anomaly-eval 300 150 5001` (other seeds): gauges 64.7% at 0.37 / 1000, counters 97.0% at 0.06 / 1000
 *   (state version 1: gauges 58.8% at 0.46 / 1000 and 63.2% at 0.52 / 1000, AP 0.30 and 0.31;
 *   counters 96.5% at 0.09 / 1000 and 95.3% at 0.14 / 1000)
 *
 *    By kind (gauges, 0.6): spikes 57% (6-12 noise units; heavy tails and random walks hide the
 *    smaller ones), level shifts 59% (3-8 units), variance changes 89%, broken daily patterns 100%,
 *    drifts 26% overall (a slow ramp on a random walk is not distinguishable from the walk).
 *
 * 2. A realistic-telemetry corpus, hubguard-score with its defaults (server CPU, memory, disk,
 *    network, request rates, latencies, temperatures, error counts; 5-minute, hourly and irregular
 *    sampling; daily and weekly cycles, nightly jobs, real steps, stuck sensors, outages; NAB-style
 *    labelled windows), three seeds: the third generated after the design, held out. NAB standard
 *    profile at the corpus-optimal threshold / mean average precision / event F1 / points >= 0.6
 *    outside windows per 1000:
 *
 *                                seed 1                   seed 2                   seed 3 (held out)
 *     version 1 (527ec93)       -5.0 / .230 / .35 / 7.6  25.1 / .250 / .43 / 5.6  -4.5 / .236 / .40 / 7.5
 *     these defaults            64.7 / .218 / .44 / 1.4  66.5 / .238 / .51 / 1.4  64.5 / .223 / .49 / 1.5
 *     trailing-1000 z-score     29.0 / .215 / .24        33.5 / .223 / .27        29.7 / .214 / .23
 *
 *    (`tests/bench/anomaly-eval-realistic --build-dir build-dev`: tests/bench/eval/gen.py and
 *    evaluate.py, written independently of this detector.) Its count-like series (errors, packets per second,
 *    requests) scored with --kind=count: NAB 44.1 / 43.3 / 33.1 at 6.6 / 7.8 / 9.5 false points per
 *    1000 at 0.6, with the daily rate profile; 11.1 / 13.2 / 16.9 at 47 / 34 / 27 without.
 *    The NAB-optimal thresholds are 0.69-0.73; at 0.6 a metric whose slow features wander (memory,
 *    CPU) alarms more often than the score's nominal rarity (10^-3.6) says: about 1.5 false points
 *    per 1000, about a third fewer at 0.7, at 1-3 points less recall. Left at 0.6 for the hub: a missed
 *    attack costs more than a false alert, and hub-telemetryd may set another.
 *
 *    Each change left out in turn (mean NAB over the three seeds, 65.2 with all; held-out seed 3 in
 *    brackets, 64.5): without the daily peak memory 36.2 (39.6), without the flat-line feature 60.4
 *    (59.5), without the level-shift floor at a TAU_FAST-th 62.6 (62.3), without the step reset
 *    65.4 (62.7; event F1 .47 instead of .49 held out, average precision +.012, and an hour after a
 *    50-sigma step it still scores 0.91: test_step_followed), without the soft knee 65.3 (64.3). In
 *    (1) each is within 0.5 points of detection, the level-shift floor +1 to +2 points. Tried and
 *    left out: a step reset that leaves the fast mean to walk (average precision +.02 on every
 *    corpus, NAB 65.7 (63.7), but the level-shift feature then re-baselines in a sawtooth for an
 *    hour after a step and alarms again 1400 samples later); a step run of 10 instead of 5 (65.9
 *    (64.0)); a seasonal and drift floor like the level-shift one (no change); judging the
 *    level-shift feature against its hour's peak (one real shift raised two alerts; 3-8 points
 *    fewer level shifts in (1); -0.5 NAB); a weekday/weekend profile (measured by the harness's
 *    author as neutral once the peak memory is in; 144 bytes of state).
 */
void anomaly_settings_default(AnomalySettings *s, AnomalyKind kind) {
        *s = (AnomalySettings) {
                .kind = kind,
                .season = ANOMALY_SEASON_AUTO,
                .warmup = 100,
                .threshold = 0.6,
                .rule_limit = 0, /* a generic metric has no fixed rule; the daemon sets one per signal */
                .rule_window = 60.0,
        };
}

int anomaly_settings_validate(const AnomalySettings *s) {
        if (!s)
                return -EINVAL;
        if (s->kind < 0 || s->kind >= _ANOMALY_KIND_MAX)
                return -EINVAL;
        if (s->season < 0 || s->season >= _ANOMALY_SEASON_MAX)
                return -EINVAL;
        if (s->warmup < 2 || s->warmup > 1000000)
                return -EINVAL;
        if (!(s->threshold > 0.0 && s->threshold <= 1.0))
                return -EINVAL;
        if (!(s->rule_window >= 1.0 && s->rule_window <= DAY_S))
                return -EINVAL;
        return 0;
}

/* ---- detector ---- */

static void tail_init(AnomalyTail *t, float q90, float q99) {
        t->q90 = q90;
        t->q99 = q99;
}

int anomaly_detector_init(AnomalyDetector *d, const AnomalySettings *s) {
        int r;

        r = anomaly_settings_validate(s);
        if (r < 0)
                return r;

        *d = (AnomalyDetector) {
                .settings = *s,
                .interval = 60.0,
                .interval_est = 60.0,
                .cache_dt = -1.0,
                .season_bin = -1,
                .peak_bin = -1,
        };
        /* Priors: half-normal quantiles for the z features, a log-chi-square-like spread for the
         * variance ratio; for counts the identity on -log10(p) (the model taken as calibrated). */
        tail_init(&d->tail[F_SPIKE], 1.645f, 2.576f);
        tail_init(&d->tail[F_LEVEL], 1.645f, 2.576f);
        tail_init(&d->tail[F_DRIFT], 1.645f, 2.576f);
        tail_init(&d->tail[F_VAR], 0.8f, 1.5f);
        tail_init(&d->tail[F_SEASON], 1.645f, 2.576f);
        tail_init(&d->count_tail[0], 1.0f, 2.0f);
        tail_init(&d->count_tail[1], 1.0f, 2.0f);
        tail_init(&d->flat_tail, 1.645f, 2.576f);
        return 0;
}

/* fmin/fmax without their NaN rules (no NaN reaches them: inputs are finite and bounded), inlined. */
static inline double dmin(double a, double b) {
        return a < b ? a : b;
}

static inline double dmax(double a, double b) {
        return a > b ? a : b;
}

static double clamp(double x, double lo, double hi) {
        return x < lo ? lo : x > hi ? hi : x;
}

static double ewa(double mean, double x, double a) {
        return mean + a * (x - mean);
}

/*
 * 1 - exp(-x) for x >= 0, without libm (irregular timestamps need it up to a dozen times a sample): a
 * short series for x <= 1/16 (exact to double precision's last bits that matter here: the first
 * omitted term is below 1e-9 of the result); above, exp(-x) = 2^-k * e^-t with t in [0, ln 2) by a
 * series to t^9 (relative error below 3e-8, on a weight of at least 0.06).
 */
static double decay_weight(double x) {
        double y, t, e;
        int k;

        if (x <= 0.0625)
                return x * (1.0 - x * (0.5 - x * (1.0 / 6.0 - x * (1.0 / 24.0 - x * (1.0 / 120.0)))));
        if (x >= 40.0)
                return 1.0; /* exp(-40) < 5e-18 */
        y = x * M_LOG2E;
        k = (int) y;
        t = (y - k) * M_LN2;
        e = 1.0 - t * (1.0 - t * (1.0 / 2 - t * (1.0 / 6 - t * (1.0 / 24 - t * (1.0 / 120 - t * (1.0 / 720 -
            t * (1.0 / 5040 - t * (1.0 / 40320 - t * (1.0 / 362880)))))))));
        {
                uint64_t bits = (uint64_t) (1023 - k) << 52; /* 2^-k, k <= 57 */
                double scale;

                memcpy(&scale, &bits, sizeof(scale));
                return 1.0 - e * scale;
        }
}

/* Recompute the decay weights when dt or the interval changed (regular series: once), those of the
 * detector's kind only. */
static void update_alphas(AnomalyDetector *d, double dt) {
        static const double taus[_A_MAX] = {
                [A_PRED1] = TAU_PRED1,
                [A_PRED8] = TAU_PRED8,
                [A_FAST] = TAU_FAST,
                [A_MID] = TAU_MID,
                [A_SLOW] = TAU_SLOW,
                [A_SEASON] = 0.0, /* absolute */
                [A_ERR] = TAU_ERR,
                [A_SCALE] = TAU_SCALE,
                [A_VAR] = TAU_VAR,
                [A_DEV] = TAU_DEV,
                [A_PEAK] = 0.0, /* absolute */
                [A_COUNT_FAST] = TAU_COUNT_FAST,
                [A_COUNT_SLOW] = TAU_SLOW,
        };
        double capped;
        int lo, hi;

        if (dt == d->cache_dt && d->interval == d->cache_interval)
                return;

        if (d->settings.kind == ANOMALY_KIND_COUNT)
                lo = A_COUNT_FAST, hi = A_COUNT_SLOW;
        else
                lo = A_PRED1, hi = A_PEAK;
        capped = dmin(dt, DT_CAP * d->interval);
        for (int i = lo; i <= hi; i++) {
                double x;

                if (i == A_SEASON)
                        x = dt / TAU_SEASON_S;
                else if (i == A_PEAK)
                        x = capped / PEAK_TAU_S;
                else
                        x = (i >= A_ERR && i != A_COUNT_FAST && i != A_COUNT_SLOW ? capped : dt) /
                            (taus[i] * d->interval);
                d->alpha[i] = decay_weight(x);
        }
        if (d->settings.kind == ANOMALY_KIND_COUNT) /* its hourly rates */
                d->alpha[A_SEASON] = decay_weight(dt / TAU_SEASON_S);
        d->cache_dt = dt;
        d->cache_interval = d->interval;
}

/* ln(x) for x > 0 to about 3e-4: exponent bits plus a series around 1.5 on the mantissa, without
 * a division. Enough for a feature, deterministic, and a fraction of log()'s cost. */
static double fast_log(double x) {
        uint64_t bits;
        double u, u2;
        int e;

        memcpy(&bits, &x, sizeof(bits));
        e = (int) ((bits >> 52) & 0x7ff) - 1023;
        bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000); /* m in [1, 2) */
        memcpy(&u, &bits, sizeof(u));
        u = (u - 1.5) * (2.0 / 3.0); /* ln(m) = ln(1.5) + ln(1 + u), |u| <= 1/3 */
        u2 = u * u;
        /* The series to u^5 (error below 3e-4), in two independent halves (a shorter chain). */
        return e * M_LN2 + 0.40546510810816438 + u * (1.0 - 0.5 * u) + u2 * u * ((1.0 / 3.0 - 0.25 * u) + 0.2 * u2);
}

/* A warm start: a statistic that starts from nothing is a plain mean over its first samples. */
static inline double warm(double inv_n, double a) {
        return a > inv_n ? a : inv_n;
}

/*
 * log10 of the tail probability of z under t: linear in z through (0, 0), (q90, -1), (q99, -2), and
 * beyond q99 a mix of that exponential tail and a power-law tail (log p linear in log z through the
 * same two quantiles), by the shape the quantiles show: q99 / q90 is 1.57 for a Gaussian and 2 for
 * an exponential (Laplace) tail, both judged by the exponential; 2.5 and more is a power-law tail
 * (Student-t with 3 degrees of freedom: 2.5), judged by the power law, so a heavy-tailed metric does
 * not alarm on every rare value it is bound to produce.
 */
#ifndef Q90_MIN_RATIO
#define Q90_MIN_RATIO 0.45
#endif
static double tail_log10p(const AnomalyTail *t, double z) {
        /* q90 far below q99 says little about the tail (a metric mostly at one value has a q90 of
         * about 0): the tail's shape is read from q90 >= 0.45 q99 at most (ratio <= 2.2). */
        double q99 = t->q99, q90 = dmax(t->q90, Q90_MIN_RATIO * q99), expo, pareto, w;

        if (z <= q90)
                return -z / q90;
        expo = -1.0 - (z - q90) / (q99 - q90);
        if (z <= q99)
                return expo;
        pareto = -2.0 - log(z / q99) / log(q99 / q90);
        w = clamp((q99 / q90 - 2.0) / 0.5, 0.0, 1.0);
        return (1.0 - w) * expo + w * pareto;
}

static void tail_learn(AnomalyTail *t, double z, double step, float q90_min, float q99_min) {
        float q90 = t->q90, q99 = t->q99;

        q90 *= z > q90 ? (float) (1.0 + step * 0.9) : (float) (1.0 - step * 0.1);
        q99 *= z > q99 ? (float) (1.0 + step * 0.99) : (float) (1.0 - step * 0.01);
        q90 = q90 < q90_min ? q90_min : q90 > 1e6f ? 1e6f : q90;
        if (q99 < q99_min)
                q99 = q99_min;
        if (q99 < 1.1f * q90)
                q99 = 1.1f * q90;
        t->q90 = q90;
        t->q99 = q99;
}

/*
 * -log10(p) / 6, and above SCORE_KNEE a soft knee instead of a clamp at 1: a clamp gave hundreds of
 * merely unusual points of a series exactly 1, tied at the top of the ranking with the real
 * anomalies. The knee is monotone (L / (1 + L) of the log of the excess), so 10^-7 still ranks below
 * 10^-100, and stays distinct at the six decimals hubguard-score prints up to the largest z.
 */
static double score_from_log10p(double lp) {
        double s = -lp / SCORE_DECADES, u;

        if (s <= SCORE_KNEE)
                return dmax(s, 0.0);
        u = log1p((s - SCORE_KNEE) / (1.0 - SCORE_KNEE));
        return SCORE_KNEE + (1.0 - SCORE_KNEE) * u / (1.0 + u);
}

/* Samples before the robust (clipped) updates start: until then the scales are plain means. */
#define CLIP_AFTER 30

/* |x| winsorised at k * den, once the statistics have settled. */
static double clip_abs(const AnomalyDetector *d, double x, double k, double den) {
        x = fabs(x);
        return d->n < CLIP_AFTER ? x : dmin(x, k * den);
}

static double safe_z(double num, double den) {
        double z = fabs(num) / den;

        return z < Z_MAX ? z : Z_MAX; /* also maps NaN (never expected) ... */
}

/* The time of day of t in bins, [0, ANOMALY_SEASON_BINS). */
static double season_pos(double t) {
        /* floor() by conversion (|t| <= ANOMALY_TIME_MAX fits): a libm call less per sample. */
        double days = t * (1.0 / DAY_S), whole = (double) (int64_t) days, pos;

        if (whole > days)
                whole -= 1.0;
        pos = (t - whole * DAY_S) * (ANOMALY_SEASON_BINS / DAY_S);

        if (pos < 0)
                pos += ANOMALY_SEASON_BINS;
        return pos < ANOMALY_SEASON_BINS ? pos : 0.0;
}

/* The daily profile at a time of day, linearly interpolated between bin centres. */
static double season_at(const AnomalyDetector *d, double pos) {
        double f;
        int b, b2;

        pos -= 0.5;
        if (pos < 0)
                pos += ANOMALY_SEASON_BINS;
        b = (int) pos;
        if (b >= ANOMALY_SEASON_BINS)
                b = ANOMALY_SEASON_BINS - 1;
        f = pos - b;
        b2 = b + 1 < ANOMALY_SEASON_BINS ? b + 1 : 0;
        return (1.0 - f) * d->season[b] + f * d->season[b2];
}

/* Decide, at each change of hour, whether the daily profile is used. */
static void season_review(AnomalyDetector *d) {
        double mean = 0.0, var = 0.0, days = (d->t_last - d->t_first) / DAY_S;

        if (d->settings.season == ANOMALY_SEASON_NONE) {
                d->season_on = 0;
                return;
        }
        if (d->settings.season == ANOMALY_SEASON_DAILY) {
                d->season_on = days >= 1.0;
                return;
        }
        if (days < 2.0) {
                d->season_on = 0;
                return;
        }
        for (int i = 0; i < ANOMALY_SEASON_BINS; i++)
                mean += d->season[i];
        mean /= ANOMALY_SEASON_BINS;
        for (int i = 0; i < ANOMALY_SEASON_BINS; i++)
                var += (d->season[i] - mean) * (d->season[i] - mean);
        var /= ANOMALY_SEASON_BINS;
        /* Hysteresis: on above 25% of the variance explained, off below 15%. */
        if (d->season_on)
                d->season_on = var > 0.0 && var >= 0.15 * d->raw_var;
        else
                d->season_on = var > 0.0 && var >= 0.25 * d->raw_var;
}

static void update_interval(AnomalyDetector *d, double dt) {
        if (dt <= 0)
                return;
        if (d->t_last == d->t_first) { /* the first positive dt (t_last has not moved yet) */
                d->interval = d->interval_est = dt;
                return;
        }
        /* A median in log space by stochastic approximation: 2% steps. */
        if (dt > d->interval_est)
                d->interval_est *= 1.02;
        else if (dt < d->interval_est)
                d->interval_est /= 1.02;
        if (d->interval_est > 1.4 * d->interval || d->interval_est < d->interval * (1.0 / 1.4))
                d->interval = d->interval_est;
}

/* Tail learning steps per feature: fast features decorrelate in a sample or two, slow ones (means of
 * tens or hundreds of samples) must learn slowly or they would learn a drift as normal while it
 * happens. */
static const double tail_step[ANOMALY_FEATURES] = {
        [F_SPIKE] = TAIL_STEP,
        [F_LEVEL] = TAIL_STEP / 4,
        [F_DRIFT] = TAIL_STEP / 20,
        [F_VAR] = TAIL_STEP / 4,
        [F_SEASON] = TAIL_STEP / 20,
};

/* A feature this unusual on its own (log10 p) barely teaches its tail and its normaliser. */
#define UNUSUAL_LOG10P -2.5
#define UNUSUAL_WEIGHT 0.1

/* The weight of a sample in a feature's tail and normaliser: a tenth when the feature is unusual,
 * except while the detector is young (its normalisers still settling, nothing is unusual yet). */
static double learn_weight(const AnomalyDetector *d, double lp) {
        return lp < UNUSUAL_LOG10P && d->n >= d->settings.warmup ? UNUSUAL_WEIGHT : 1.0;
}

/* Peak memory (see the top of the file): features in peak_code[] and their tails. */
static const int peak_feature[ANOMALY_PEAK_FEATURES] = { F_SPIKE, F_SEASON };
/* Not the level-shift feature: measured, judging it against its hour's peak delayed the
 * re-baselining after a real shift (two alerts for one shift on flat series), lost 3-8 points of
 * the level shifts of tests/bench/anomaly-eval, and 0.5 NAB on the realistic corpus. */

/* 2^(i/12), i = 0..11: codes decode without libm. */
static const double semitone[PEAK_PER_OCTAVE] = {
        1.0, 1.0594630943592953, 1.1224620483093730, 1.1892071150027210, 1.2599210498948732,
        1.3348398541700344, 1.4142135623730951, 1.4983070768766815, 1.5874010519681994,
        1.6817928305074290, 1.7817974362806785, 1.8877486253633868,
};

static double peak_decode(uint8_t c) {
        return c == 0 ? 0.0 : ldexp(PEAK_Z0 * semitone[c % PEAK_PER_OCTAVE], c / PEAK_PER_OCTAVE);
}

static uint8_t peak_encode(double z) {
        double c;

        if (!(z > PEAK_Z0))
                return 0;
        c = PEAK_PER_OCTAVE * fast_log(z / PEAK_Z0) * M_LOG2E + 0.5;
        return c >= 255.0 ? 255 : c < 1.0 ? 1 : (uint8_t) c;
}

/* At a change of hour: store the hour left, load the hour entered. */
static void peak_enter(AnomalyDetector *d, int b) {
        for (int i = 0; i < ANOMALY_PEAK_FEATURES; i++) {
                if (d->peak_bin >= 0)
                        d->peak_code[i][d->peak_bin] = peak_encode(d->peak_now[i]);
                d->peak_now[i] = (float) peak_decode(d->peak_code[i][b]);
        }
        d->peak_bin = b;
        /* An event is rarer than one in ten hours of samples (peak_judge()); the interval changes
         * rarely, so once an hour is enough. */
        d->peak_lp = -1.0 - dmax(fast_log(3600.0 / d->interval) * (1.0 / M_LN10), 0.0);
}

/*
 * z judged against the hour's recent peak (once a day is seen), then the peak learns the raw z, if it
 * is an event: after the warm-up (whose z are not yet calibrated), rarer than one in ten hours of
 * samples (log10 p below min_lp). An hour's ordinary maximum is not one: a metric sampled every
 * second reaches its 1-in-3600 value every hour, and remembering those would blunt every feature of
 * a fast metric.
 */
static inline double peak_judge(AnomalyDetector *d, int i, double z, double decay, double min_lp) {
        const AnomalyTail *tail = &d->tail[peak_feature[i]];
        double ref = PEAK_SHARE * d->peak_now[i], judged = z, peak = d->peak_now[i] * (1.0 - decay);

        if (ref > tail->q99 && d->t_last - d->t_first >= DAY_S) /* (no division in the usual case) */
                judged = z * tail->q99 / ref;
        /* (min_lp <= -1, which z <= q90 never reaches: the usual case skips the tail.) */
        if (z > peak && z > tail->q90 && d->n >= d->settings.warmup && tail_log10p(tail, z) < min_lp)
                peak = dmin(z, Z_MAX);
        d->peak_now[i] = (float) peak;
        return judged;
}

static void value_update(AnomalyDetector *d, double t, double dt, double x, AnomalyResult *ret) {
        const double *a = d->alpha;
        double lp[ANOMALY_FEATURES] = {}, z[ANOMALY_FEATURES] = {}, w[ANOMALY_FEATURES];
        double floor_, sigma, pred, r, gap, s_t, y, best_lp, score, inv_n, day_pos, peak_decay = 0.0, peak_lp = 0.0;
        double lp_flat = 0.0;
        int nf = 4, best = F_SPIKE;
        bool peaks = d->settings.season != ANOMALY_SEASON_NONE, stepped;
        AnomalyReason reason;

        inv_n = 1.0 / (double) (d->n + 1);
        if (d->n == 0) {
                d->pred1 = d->pred8 = x;
                d->mean_fast = d->mean_mid = d->mean_slow = x;
                d->raw_fast = d->raw_slow = x;
        }

        floor_ = dmax(dmax(SCALE_FLOOR_REL * fabs(d->raw_slow), SCALE_FLOOR_MIN), 0.5 * d->quantum);
        sigma = MAD_TO_SIGMA * dmax(d->scale, floor_);
        day_pos = season_pos(t);
        s_t = d->season_on ? season_at(d, day_pos) : 0.0;
        if (peaks) {
                if ((int) day_pos != d->peak_bin)
                        peak_enter(d, (int) day_pos);
                peak_decay = a[A_PEAK];
                peak_lp = d->peak_lp;
        }

        /* Spike: against the predictor with the smallest running error. */
        pred = d->pred1;
        if (d->err8 < d->err1 && d->err8 <= d->err_mid)
                pred = d->pred8;
        else if (d->err_mid < d->err1 && d->err_mid < d->err8)
                pred = d->mean_mid + s_t;
        r = x - pred;
        /* A real step: STEP_RUN residuals in a row beyond STEP_K sigma on the same side. */
        if (d->n >= CLIP_AFTER && fabs(r) > STEP_K * sigma) {
                int side = r > 0 ? 1 : -1;

                d->step_run = d->step_run * side > 0 ? d->step_run + side : side;
        } else
                d->step_run = 0;
        stepped = d->step_run >= STEP_RUN || d->step_run <= -STEP_RUN;
        /* After a gap of k intervals, a random-walk-like metric may have moved by sqrt(k). */
        gap = dt / d->interval;
        gap = gap > 1.0 ? sqrt(1.0 + (gap - 1.0) * (d->err1 <= d->err8 ? 1.0 : 0.1)) : 1.0;
        z[F_SPIKE] = safe_z(r / gap, sigma);
        if (peaks)
                z[F_SPIKE] = peak_judge(d, 0, z[F_SPIKE], peak_decay, peak_lp);
        lp[F_SPIKE] = tail_log10p(&d->tail[F_SPIKE], z[F_SPIKE]);
        w[F_SPIKE] = learn_weight(d, lp[F_SPIKE]);

        /* Predictors and errors (errors clipped at 5 sigma). */
        {
                double e1 = clip_abs(d, x - d->pred1, 5.0, sigma), e8 = clip_abs(d, x - d->pred8, 5.0, sigma),
                       em = clip_abs(d, x - d->mean_mid - s_t, 5.0, sigma);

                d->err1 = ewa(d->err1, e1, warm(inv_n, a[A_ERR]));
                d->err8 = ewa(d->err8, e8, warm(inv_n, a[A_ERR]));
                d->err_mid = ewa(d->err_mid, em, warm(inv_n, a[A_ERR]));
                /* Huber-clipped level updates: a spike barely moves them, a shift moves them in steps. */
                d->pred1 += a[A_PRED1] * clamp(x - d->pred1, -3.0 * sigma, 3.0 * sigma);
                d->pred8 += a[A_PRED8] * clamp(x - d->pred8, -3.0 * sigma, 3.0 * sigma);
                if (stepped) /* they follow a real step at once */
                        d->pred1 = d->pred8 = x;
                if (d->n < 3) { /* no scale yet: plain means */
                        d->pred1 = x;
                        d->pred8 = ewa(d->pred8, x, warm(inv_n, a[A_PRED8]));
                }
        }

        /* Scale and fast variance of the residual (winsorised at 5 and 6 sigma). */
        d->scale = ewa(d->scale, clip_abs(d, r, 5.0, sigma), warm(inv_n, a[A_SCALE]) * w[F_SPIKE]);
        {
                double rc = clip_abs(d, r, 6.0, sigma);

                d->var_fast = ewa(d->var_fast, rc * rc, warm(inv_n, a[A_VAR]));
                z[F_VAR] = fabs(fast_log(dmax(d->var_fast / (sigma * sigma), 1e-4)));
                lp[F_VAR] = tail_log10p(&d->tail[F_VAR], z[F_VAR]);
                w[F_VAR] = learn_weight(d, lp[F_VAR]);
        }

        /* Means of the deseasonalised value; the fast one clipped at 4 sigma per step. */
        y = x - s_t;
        d->mean_fast += a[A_FAST] * clamp(y - d->mean_fast, -4.0 * sigma, 4.0 * sigma);
        if (stepped)
                d->mean_fast = y;
        d->mean_mid = ewa(d->mean_mid, d->mean_fast, a[A_MID]);
        d->mean_slow = ewa(d->mean_slow, d->mean_mid, a[A_SLOW]);
        {
                double ls = d->mean_fast - d->mean_mid, dr = d->mean_mid - d->mean_slow;
                /* The fast mean averages about TAU_FAST samples: its resolution is a TAU_FAST-th of the
                 * value's (with the value's floor, a sustained one-step change of a whole-number
                 * metric, 0 to 1, was never a shift; measured: NAB +2.2 on the held-out corpus). */
                double ls_den = MAD_TO_SIGMA * dmax(d->ls_dev, floor_ * (1.0 / TAU_FAST));
                /* Drift: against half the short-term spread of the value (a white-noise metric barely
                 * moves its mid mean away from its slow one), or, for a wandering metric (random walk,
                 * slow cycles) whose mid mean moves a lot, 2.5 times its usual distance; its tail is only
                 * ever learned upwards. */
                double dr_den = dmax(dmax(0.5 * sqrt(d->lvl_var), 2.5 * MAD_TO_SIGMA * d->dr_dev), floor_);
                z[F_LEVEL] = safe_z(ls, ls_den);
                /* A drift is a sustained trend: the mid mean moving away from the slow one *and* the
                 * fast one ahead of the mid one the same way; after a step the mid mean catches up and
                 * the trend ends, so a step is one level-shift, not a long drift afterwards. */
                z[F_DRIFT] = ls * dr > 0 ? dmin(safe_z(dr, dr_den), 2.0 * z[F_LEVEL]) : 0.0;
                lp[F_LEVEL] = tail_log10p(&d->tail[F_LEVEL], z[F_LEVEL]);
                lp[F_DRIFT] = tail_log10p(&d->tail[F_DRIFT], z[F_DRIFT]);
                w[F_LEVEL] = learn_weight(d, lp[F_LEVEL]);
                w[F_DRIFT] = learn_weight(d, lp[F_DRIFT]);
                /* A confirmed shift (p < 1e-5 on its own) re-baselines the longer means, so that one
                 * shift is one incident, not a long "drift" afterwards. */
                if (d->n >= CLIP_AFTER && lp[F_LEVEL] < REBASE_LOG10P) {
                        d->mean_mid = d->mean_fast;
                        d->mean_slow = d->mean_fast;
                        d->raw_slow = d->mean_fast; /* the baseline of the daily profile too */
                }
                d->ls_dev = ewa(d->ls_dev, clip_abs(d, ls, 3.0, ls_den), warm(inv_n, a[A_DEV]) * w[F_LEVEL]);
                {
                        double e = clip_abs(d, y - d->mean_mid, 3.0, dr_den);

                        d->lvl_var = ewa(d->lvl_var, e * e, warm(inv_n, a[A_DEV]) * w[F_DRIFT]);
                        d->dr_dev = ewa(d->dr_dev, clip_abs(d, dr, 2.0, MAD_TO_SIGMA * dmax(d->dr_dev, floor_)),
                                        warm(inv_n, a[A_DEV]) * w[F_DRIFT]);
                }
        }

        /* Raw means, the daily profile, and the seasonal feature. */
        d->raw_fast += a[A_FAST] * clamp(x - d->raw_fast, -4.0 * sigma, 4.0 * sigma);
        if (stepped)
                d->raw_fast = x;
        d->raw_slow = ewa(d->raw_slow, x, a[A_SLOW]);
        d->raw_var = ewa(d->raw_var, (x - d->raw_slow) * (x - d->raw_slow), warm(inv_n, a[A_DEV]));
        if (d->settings.season != ANOMALY_SEASON_NONE) {
                int b = (int) day_pos;
                double as;

                if (d->season_on) {
                        double e = d->raw_fast - (d->raw_slow + s_t);
                        double den = MAD_TO_SIGMA * dmax(d->seas_dev, floor_);

                        z[F_SEASON] = peak_judge(d, 1, safe_z(e, den), peak_decay, peak_lp);
                        lp[F_SEASON] = tail_log10p(&d->tail[F_SEASON], z[F_SEASON]);
                        w[F_SEASON] = learn_weight(d, lp[F_SEASON]);
                        d->seas_dev = ewa(d->seas_dev, clip_abs(d, e, 3.0, den), a[A_DEV] * w[F_SEASON]);
                        nf = 5;
                } else
                        d->seas_dev = ewa(d->seas_dev, fabs(d->raw_fast - d->raw_slow - s_t), warm(inv_n, a[A_DEV]));

                if (d->season_n[b] < UINT16_MAX)
                        d->season_n[b]++;
                as = a[A_SEASON];
                if (as * d->season_n[b] < 1.0) /* a plain mean over the bin's first samples */
                        as = 1.0 / d->season_n[b];
                d->season[b] = (float) ewa(d->season[b], x - d->raw_slow, as);
                if (b != d->season_bin) {
                        if (d->season_bin >= 0)
                                d->season_changes++;
                        d->season_bin = b;
                        season_review(d);
                }
        }

        /* The resolution of the metric: the 5th percentile of its non-zero changes, by stochastic
         * approximation. A metric in whole numbers (or a constant one) cannot be judged below half
         * its step; a continuous one has a tiny quantum and is not affected. Learned after the
         * sample is judged, so that the first change of a constant metric counts in full. */
        if (d->n > 0 && x != d->last_value) {
                double dx = fabs(x - d->last_value);

                if (d->quantum == 0.0)
                        d->quantum = dx;
                else
                        d->quantum *= dx < d->quantum ? 1.0 - 0.05 * 0.95 : 1.0 + 0.05 * 0.05;
        }
        /* Flat line: a run of exact repeats, z = run * -log10(repeat rate), with its own tail (a
         * metric that often repeats twice learns so). Noise hides a stuck value from the variance
         * feature for about 20 samples; this sees it in a few. */
        {
                bool repeat = d->n > 0 && x == d->last_value;
                double zf = 0.0, wf;

                d->flat_run = repeat ? d->flat_run + (d->flat_run < UINT32_MAX) : 0;
                if (d->flat_run > 0)
                        zf = dmin(d->flat_run * -fast_log(dmax(d->flat_rate, FLAT_RATE_MIN)) * (1.0 / M_LN10), Z_MAX);
                if (zf > 0.0 && d->n >= d->settings.warmup && d->flat_rate < FLAT_RATE_MAX)
                        lp_flat = tail_log10p(&d->flat_tail, zf);
                wf = lp_flat < UNUSUAL_LOG10P ? UNUSUAL_WEIGHT : 1.0;
                /* (z = 0 on a tail at its floors changes nothing: the usual case, skipped.) */
                if (d->n >= 10 && (zf > 0.0 || d->flat_tail.q90 != FLAT_Q90_MIN || d->flat_tail.q99 != FLAT_Q99_MIN))
                        tail_learn(&d->flat_tail, zf, dmax(TAIL_STEP / 4 * wf, TAIL_EARLY * inv_n), FLAT_Q90_MIN,
                                   FLAT_Q99_MIN);
                if (d->n > 0)
                        d->flat_rate = ewa(d->flat_rate, repeat ? 1.0 : 0.0, warm(inv_n, a[A_DEV] * wf));
        }
        d->last_value = x;
        /* The smallest p wins (the flat line reports as variance: the noise vanished). */
        best_lp = lp_flat;
        best = lp_flat < 0.0 ? F_VAR : F_SPIKE;
        for (int i = 0; i < nf; i++)
                if (lp[i] < best_lp) {
                        best_lp = lp[i];
                        best = i;
                }
        /* Bonferroni over the features that can fire: the flat line counts once the metric repeats
         * at all (one that never does cannot produce a run by chance). */
        {
                int k = nf + (d->flat_rate >= FLAT_RATE_MIN);

                score = score_from_log10p(best_lp + (k == 6 ? LOG10_6 : k == 5 ? LOG10_5 : LOG10_4));
        }

        /* Fast features always teach their tails (one spike moves q99 by 3%), faster while the detector
         * is young (a 1/n step, like a running quantile); slow ones learn slowly, and a tenth as much
         * when unusual, or they would learn a drift while it happens. */
        if (d->n >= 10)
                for (int i = 0; i < nf; i++) {
                        bool fast = i == F_SPIKE || i == F_VAR;
                        double step = fast ? dmax(tail_step[i], TAIL_EARLY * inv_n) : tail_step[i] * w[i];

                        tail_learn(&d->tail[i], z[i], step, i == F_DRIFT ? 1.645f : 0.05f, i == F_DRIFT ? 2.576f : 0.1f);
                }

        switch (best) {
        case F_SPIKE:
                reason = ANOMALY_REASON_SPIKE;
                break;
        case F_LEVEL:
                reason = ANOMALY_REASON_LEVEL_SHIFT;
                break;
        case F_DRIFT:
                reason = ANOMALY_REASON_DRIFT;
                break;
        case F_VAR:
                reason = ANOMALY_REASON_VARIANCE;
                break;
        default:
                reason = ANOMALY_REASON_SEASONAL;
        }
        ret->score = score;
        ret->reason = score > 0.0 ? reason : ANOMALY_REASON_NONE;
}

/* -log10 of a Poisson-like tail probability of k events where mu were expected (Chernoff bound,
 * divided by the dispersion: quasi-Poisson). Both tails: fewer events than expected count too. */
static double count_surprise(double k, double mu, double disp) {
        double dev;

        mu = dmax(mu, 1e-12);
        dev = (k > 0.0 ? k * log(k / mu) : 0.0) - k + mu;
        return dmax(dev, 0.0) / disp / M_LN10;
}

/*
 * Count kind, the daily rate profile: per hour of day, the events and the time seen in it (decaying
 * with TAU_SEASON_S of in-hour time, over about three days), and the hour's rate from them, shrunk
 * towards the learned rate by COUNT_PRIOR_EVENTS pseudo-events (a sparse counter's hours stay at its
 * overall rate). Used once the season allows (auto: two days seen; daily: one); without it a rate
 * with a daily cycle (requests, traffic) is "more than expected" every afternoon and "fewer" every
 * night.
 */
#define COUNT_PRIOR_EVENTS 5.0

static void count_update(AnomalyDetector *d, double t, double dt, double c, AnomalyResult *ret) {
        const double *a = d->alpha;
        double lambda, mu, mu_f, disp, s[2], lp, lp1, score, c_learn, keep, days = (d->t_last - d->t_first) / DAY_S;
        double a_season = a[A_SEASON];
        int b = (int) season_pos(t);
        bool profile = d->settings.season == ANOMALY_SEASON_DAILY ? days >= 1.0
                     : d->settings.season == ANOMALY_SEASON_AUTO && days >= 2.0;

        /* The learned rate, with a weak prior of 0.5 events per 10 intervals; the hour's. */
        lambda = (d->rate_events + 0.5) / (d->rate_time + 10.0 * d->interval);
        if (profile)
                lambda = (d->season[b] + COUNT_PRIOR_EVENTS) * lambda /
                         (d->season_time[b] * lambda + COUNT_PRIOR_EVENTS); /* (E + K) / (T + K / lambda) */
        disp = d->disp_den > 0.0 ? clamp(d->disp_num / d->disp_den, 1.0, 100.0) : 1.0;
        /* After a gap, the count may cover the whole gap (a counter's delta) or only one interval (a
         * series with missing rows): take the reading that explains it better. */
        if (dt > 2.0 * d->interval &&
            count_surprise(c, lambda * d->interval, disp) < count_surprise(c, lambda * dt, disp)) {
                dt = d->interval;
                a_season = decay_weight(dt / TAU_SEASON_S);
        }
        mu = lambda * dt;

        keep = 1.0 - a[A_COUNT_FAST];
        d->fast_events = d->fast_events * keep + c;
        d->fast_time = d->fast_time * keep + dt;
        d->fast_mu = d->fast_mu * keep + mu;
        /* The short window's expectation: the sum of its samples' (hourly) expectations. */
        mu_f = profile ? d->fast_mu : lambda * d->fast_time;

        s[0] = count_surprise(c, mu, disp);
        s[1] = count_surprise(d->fast_events, mu_f, disp);
        lp = tail_log10p(&d->count_tail[0], s[0]);
        lp1 = tail_log10p(&d->count_tail[1], s[1]);
        if (lp1 < lp)
                lp = lp1;
        score = score_from_log10p(lp + LOG10_2);
        if (d->n >= 10) {
                /* Floors at the prior: the correction only ever makes the model less surprised. */
                tail_learn(&d->count_tail[0], s[0], TAIL_STEP * (lp > UNUSUAL_LOG10P ? 1.0 : UNUSUAL_WEIGHT), 1.0f, 2.0f);
                tail_learn(&d->count_tail[1], s[1], TAIL_STEP / 4 * (lp > UNUSUAL_LOG10P ? 1.0 : UNUSUAL_WEIGHT), 1.0f, 2.0f);
        }

        /* Learn the rate from a winsorised count, so one burst does not teach "bursts are normal". */
        c_learn = dmin(c, mu + 5.0 * sqrt(disp * mu + 1.0) + 1.0);
        keep = 1.0 - a[A_COUNT_SLOW];
        d->rate_events = d->rate_events * keep + c_learn;
        d->rate_time = d->rate_time * keep + dt;
        d->disp_num = d->disp_num * keep + (c_learn - mu) * (c_learn - mu);
        d->disp_den = d->disp_den * keep + mu;
        if (d->settings.season != ANOMALY_SEASON_NONE) {
                keep = 1.0 - a_season;
                d->season[b] = (float) (d->season[b] * keep + c_learn);
                d->season_time[b] = (float) (d->season_time[b] * keep + dt);
        }

        ret->score = score;
        ret->reason = score > 0.0 ? ANOMALY_REASON_RATE : ANOMALY_REASON_NONE;
}

/* The fixed rule: more than rule_limit events within the last rule_window seconds (to 1/16). */
static bool rule_update(AnomalyDetector *d, double t, double c) {
        double w = d->settings.rule_window / ANOMALY_RULE_BUCKETS, sum = 0.0;

        if (d->settings.rule_limit == 0)
                return false;

        if (d->n == 0)
                d->rule_start = t;
        else if (t >= d->rule_start + w) {
                double k = floor((t - d->rule_start) / w);

                if (k >= ANOMALY_RULE_BUCKETS) {
                        memset(d->rule_count, 0, sizeof(d->rule_count));
                        d->rule_start = t;
                } else {
                        for (int i = 0; i < (int) k; i++) {
                                d->rule_index = (d->rule_index + 1) % ANOMALY_RULE_BUCKETS;
                                d->rule_count[d->rule_index] = 0.0;
                        }
                        d->rule_start += k * w;
                }
        }
        d->rule_count[d->rule_index] += c;
        for (int i = 0; i < ANOMALY_RULE_BUCKETS; i++)
                sum += d->rule_count[i];
        return sum > (double) d->settings.rule_limit;
}

int anomaly_detector_update(AnomalyDetector *d, double t, double value, AnomalyResult *ret) {
        AnomalyResult res;
        double dt = 0.0, dte;
        bool rule = false;

        if (!isfinite(t) || !isfinite(value))
                return -EINVAL;
        if (d->settings.kind == ANOMALY_KIND_COUNT && value < 0.0)
                return -EINVAL;
        if (fabs(value) > ANOMALY_VALUE_MAX || fabs(t) > ANOMALY_TIME_MAX)
                return -EDOM;
        if (d->n > 0) {
                dt = t - d->t_last;
                if (dt < -ANOMALY_TIME_TOLERANCE)
                        return -ERANGE;
                if (dt < 0.0)
                        dt = 0.0;
                update_interval(d, dt);
        }

        /* Duplicate timestamps still carry a little weight; the first count covers one interval. */
        if (d->n == 0)
                dte = d->settings.kind == ANOMALY_KIND_COUNT ? d->interval : 0.0;
        else
                dte = dmax(dt, d->interval / 16.0);
        update_alphas(d, dte);

        if (d->n == 0)
                d->t_first = d->t_last = t;
        else if (dt > 0.0)
                d->t_last = t;

        if (d->settings.kind == ANOMALY_KIND_COUNT) {
                rule = rule_update(d, t, value);
                count_update(d, t, dte, value, &res);
        } else
                value_update(d, t, dt, value, &res);

        d->n++;
        if (d->n <= d->settings.warmup)
                res = (AnomalyResult) { .score = 0.0, .reason = ANOMALY_REASON_WARMUP };
        else if (d->n < 2 * (uint64_t) d->settings.warmup)
                /* Young statistics judge less surely: the score ramps up over a second warm-up. */
                res.score *= (double) (d->n - d->settings.warmup) / (double) d->settings.warmup;
        if (rule)
                res = (AnomalyResult) { .score = 1.0, .reason = ANOMALY_REASON_RULE };
        *ret = res;
        return 0;
}

/* ---- state blobs ---- */

typedef enum FieldType {
        FT_U8,
        FT_U16,
        FT_U32,
        FT_I32,
        FT_U64,
        FT_F32,
        FT_F64,
} FieldType;

typedef struct Field {
        size_t offset;
        FieldType type;
        size_t count;
} Field;

#define FIELD(name, type) { offsetof(AnomalyDetector, name), type, 1 }
#define FIELDS(name, type, n) { offsetof(AnomalyDetector, name), type, n }

/* Every field of AnomalyDetector, in blob order. Append only; any change bumps ANOMALY_STATE_VERSION. */
static const Field fields[] = {
        FIELD(settings.kind, FT_I32),
        FIELD(settings.season, FT_I32),
        FIELD(settings.warmup, FT_U32),
        FIELD(settings.threshold, FT_F64),
        FIELD(settings.rule_limit, FT_U32),
        FIELD(settings.rule_window, FT_F64),
        FIELD(n, FT_U64),
        FIELD(t_first, FT_F64),
        FIELD(t_last, FT_F64),
        FIELD(interval, FT_F64),
        FIELD(interval_est, FT_F64),
        FIELD(cache_dt, FT_F64),
        FIELD(cache_interval, FT_F64),
        FIELDS(alpha, FT_F64, 13),
        FIELD(pred1, FT_F64),
        FIELD(pred8, FT_F64),
        FIELD(err1, FT_F64),
        FIELD(err8, FT_F64),
        FIELD(err_mid, FT_F64),
        FIELD(scale, FT_F64),
        FIELD(var_fast, FT_F64),
        FIELD(mean_fast, FT_F64),
        FIELD(mean_mid, FT_F64),
        FIELD(mean_slow, FT_F64),
        FIELD(ls_dev, FT_F64),
        FIELD(lvl_var, FT_F64),
        FIELD(dr_dev, FT_F64),
        FIELD(raw_fast, FT_F64),
        FIELD(raw_slow, FT_F64),
        FIELD(raw_var, FT_F64),
        FIELD(seas_dev, FT_F64),
        FIELD(last_value, FT_F64),
        FIELD(quantum, FT_F64),
        FIELDS(season, FT_F32, ANOMALY_SEASON_BINS),
        FIELDS(season_n, FT_U16, ANOMALY_SEASON_BINS),
        FIELD(season_changes, FT_U32),
        FIELD(season_bin, FT_I32),
        FIELD(season_on, FT_U32),
        FIELDS(tail, FT_F32, 2 * ANOMALY_FEATURES),
        FIELD(rate_events, FT_F64),
        FIELD(rate_time, FT_F64),
        FIELD(fast_events, FT_F64),
        FIELD(fast_time, FT_F64),
        FIELD(disp_num, FT_F64),
        FIELD(disp_den, FT_F64),
        FIELD(rule_start, FT_F64),
        FIELD(rule_index, FT_U32),
        FIELDS(rule_count, FT_F64, ANOMALY_RULE_BUCKETS),
        FIELDS(count_tail, FT_F32, 4),
        /* version 2 */
        FIELDS(peak_code, FT_U8, ANOMALY_PEAK_FEATURES * ANOMALY_SEASON_BINS),
        FIELDS(peak_now, FT_F32, ANOMALY_PEAK_FEATURES),
        FIELD(peak_bin, FT_I32),
        FIELD(step_run, FT_I32),
        FIELD(flat_run, FT_U32),
        FIELDS(flat_tail, FT_F32, 2),
        FIELD(flat_rate, FT_F64),
        FIELD(peak_lp, FT_F64),
        FIELDS(season_time, FT_F32, ANOMALY_SEASON_BINS),
        FIELD(fast_mu, FT_F64),
};

#define BLOB_MAGIC "HGAD"
/* magic, u16 version, u16 reserved (0), u32 body length; then the body; then a u32 FNV-1a checksum
 * of everything before it. */
#define BLOB_HEADER 12
#define BLOB_TRAILER 4

static size_t type_size(FieldType t) {
        switch (t) {
        case FT_U8:
                return 1;
        case FT_U16:
                return 2;
        case FT_U32:
        case FT_I32:
        case FT_F32:
                return 4;
        default:
                return 8;
        }
}

static size_t body_size(void) {
        size_t n = 0;

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                n += type_size(fields[i].type) * fields[i].count;
        return n;
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, size_t n) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static uint32_t fnv1a(const uint8_t *p, size_t n) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 16777619u;
        }
        return h;
}

int anomaly_detector_serialize(const AnomalyDetector *d, uint8_t *buf, size_t size) {
        size_t body = body_size(), total = BLOB_HEADER + body + BLOB_TRAILER, off = BLOB_HEADER;

        if (size < total)
                return -ENOBUFS;

        memcpy(buf, BLOB_MAGIC, 4);
        put_le(buf + 4, ANOMALY_STATE_VERSION, 2);
        put_le(buf + 6, 0, 2);
        put_le(buf + 8, body, 4);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const uint8_t *base = (const uint8_t *) d + fields[i].offset;
                size_t ts = type_size(fields[i].type);

                for (size_t j = 0; j < fields[i].count; j++) {
                        const uint8_t *src = base + j * ts;
                        uint64_t v = 0;

                        switch (fields[i].type) {
                        case FT_U8:
                                v = *src;
                                break;
                        case FT_U16: {
                                uint16_t x;
                                memcpy(&x, src, 2);
                                v = x;
                                break;
                        }
                        case FT_U32:
                        case FT_I32:
                        case FT_F32: {
                                uint32_t x;
                                memcpy(&x, src, 4);
                                v = x;
                                break;
                        }
                        default:
                                memcpy(&v, src, 8);
                        }
                        put_le(buf + off, v, ts);
                        off += ts;
                }
        }
        put_le(buf + off, fnv1a(buf, off), 4);
        return (int) total;
}

/* Valid inputs keep every statistic far below this (values <= 1e100, their squares <= 1e201); a blob
 * beyond it was not written by this code, and could overflow the arithmetic. */
#define BLOB_MAGNITUDE_MAX 1e250

static bool double_fields_finite(const AnomalyDetector *d) {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                for (size_t j = 0; j < fields[i].count; j++) {
                        const uint8_t *p = (const uint8_t *) d + fields[i].offset + j * type_size(fields[i].type);

                        if (fields[i].type == FT_F64) {
                                double x;
                                memcpy(&x, p, 8);
                                if (!isfinite(x) || fabs(x) > BLOB_MAGNITUDE_MAX)
                                        return false;
                        } else if (fields[i].type == FT_F32) {
                                float x;
                                memcpy(&x, p, 4);
                                if (!isfinite(x))
                                        return false;
                        }
                }
        return true;
}

int anomaly_detector_deserialize(AnomalyDetector *d, const uint8_t *buf, size_t size) {
        size_t body = body_size(), off = BLOB_HEADER;
        AnomalyDetector tmp = {};

        if (!buf || size < BLOB_HEADER || memcmp(buf, BLOB_MAGIC, 4) != 0)
                return -EBADMSG;
        if (get_le(buf + 4, 2) != ANOMALY_STATE_VERSION)
                return -EPROTONOSUPPORT;
        if (get_le(buf + 6, 2) != 0 || get_le(buf + 8, 4) != body || size != BLOB_HEADER + body + BLOB_TRAILER)
                return -EBADMSG;
        if (get_le(buf + BLOB_HEADER + body, 4) != fnv1a(buf, BLOB_HEADER + body))
                return -EBADMSG;

        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                uint8_t *base = (uint8_t *) &tmp + fields[i].offset;
                size_t ts = type_size(fields[i].type);

                for (size_t j = 0; j < fields[i].count; j++) {
                        uint64_t v = get_le(buf + off, ts);
                        uint8_t *dst = base + j * ts;

                        switch (fields[i].type) {
                        case FT_U8:
                                *dst = (uint8_t) v;
                                break;
                        case FT_U16: {
                                uint16_t x = (uint16_t) v;
                                memcpy(dst, &x, 2);
                                break;
                        }
                        case FT_U32:
                        case FT_I32:
                        case FT_F32: {
                                uint32_t x = (uint32_t) v;
                                memcpy(dst, &x, 4);
                                break;
                        }
                        default:
                                memcpy(dst, &v, 8);
                        }
                        off += ts;
                }
        }

        if (anomaly_settings_validate(&tmp.settings) < 0 || !double_fields_finite(&tmp) ||
            tmp.season_bin < -1 || tmp.season_bin >= ANOMALY_SEASON_BINS || tmp.season_on > 1 ||
            tmp.rule_index >= ANOMALY_RULE_BUCKETS || !(tmp.interval > 0.0) || !(tmp.interval_est > 0.0) ||
            tmp.peak_bin < -1 || tmp.peak_bin >= ANOMALY_SEASON_BINS || !(tmp.flat_rate >= 0.0 && tmp.flat_rate <= 1.0) ||
            !(tmp.peak_lp <= 0.0) ||
            !(tmp.flat_tail.q90 > 0.0f && tmp.flat_tail.q99 > tmp.flat_tail.q90))
                return -EINVAL;
        for (int i = 0; i < ANOMALY_PEAK_FEATURES; i++)
                if (!(tmp.peak_now[i] >= 0.0f && tmp.peak_now[i] <= (float) Z_MAX))
                        return -EINVAL;
        for (int i = 0; i < ANOMALY_SEASON_BINS; i++)
                if (!(tmp.season_time[i] >= 0.0f) ||
                    (tmp.settings.kind == ANOMALY_KIND_COUNT && !(tmp.season[i] >= 0.0f)))
                        return -EINVAL;
        for (int i = 0; i < ANOMALY_FEATURES; i++)
                if (!(tmp.tail[i].q90 > 0.0f && tmp.tail[i].q99 > tmp.tail[i].q90))
                        return -EINVAL;
        for (int i = 0; i < 2; i++)
                if (!(tmp.count_tail[i].q90 > 0.0f && tmp.count_tail[i].q99 > tmp.count_tail[i].q90))
                        return -EINVAL;

        *d = tmp;
        return 0;
}

const char *anomaly_blob_strerror(int r) {
        switch (r) {
        case 0:
                return "ok";
        case -EBADMSG:
                return "not a detector state, truncated or corrupt";
        case -EPROTONOSUPPORT:
                return "detector state of an unsupported version";
        case -EINVAL:
                return "detector state with invalid values";
        case -ENOBUFS:
                return "buffer too small for the detector state";
        default:
                return "unknown error";
        }
}

/* ---- alerts ---- */

void anomaly_alert_settings_default(AnomalyAlertSettings *s) {
        *s = (AnomalyAlertSettings) {
                .raise = 0.6,
                .clear = 0.35,
                .hold = 900.0,
                .hub_limit = 5,
                .hub_window = 3600.0,
        };
}

int anomaly_alert_settings_validate(const AnomalyAlertSettings *s) {
        if (!s)
                return -EINVAL;
        if (!(s->raise > 0.0 && s->raise <= 1.0))
                return -EINVAL;
        if (!(s->clear >= 0.0 && s->clear <= s->raise))
                return -EINVAL;
        if (!(s->hold >= 0.0 && s->hold <= 7 * DAY_S))
                return -EINVAL;
        if (s->hub_limit < 1)
                return -EINVAL;
        if (!(s->hub_window > 0.0 && s->hub_window <= 7 * DAY_S))
                return -EINVAL;
        return 0;
}

int anomaly_hub_init(AnomalyHub *hub, const AnomalyAlertSettings *s) {
        int r;

        r = anomaly_alert_settings_validate(s);
        if (r < 0)
                return r;
        *hub = (AnomalyHub) {
                .settings = *s,
                .window_start = -INFINITY,
                .t_max = -INFINITY,
        };
        return 0;
}

void anomaly_alerter_init(AnomalyAlerter *a) {
        *a = (AnomalyAlerter) {};
}

AnomalyAlertEvent anomaly_alerter_update(AnomalyAlerter *a, AnomalyHub *hub, double t, const AnomalyResult *r) {
        if (isfinite(t) && t > hub->t_max)
                hub->t_max = t;

        if (!a->in_incident) {
                if (!(r->score >= hub->settings.raise))
                        return ANOMALY_ALERT_NONE;
                a->in_incident = 1;
                a->below = 0;
                a->started = t;
                a->peak = r->score;
                a->peak_reason = r->reason;
                hub->active++;
                if (hub->active > 1) {
                        hub->joined++;
                        return ANOMALY_ALERT_JOIN;
                }
                if (!(hub->t_max - hub->window_start < hub->settings.hub_window)) {
                        hub->window_start = hub->t_max;
                        hub->window_alerts = 0;
                }
                if (hub->window_alerts >= hub->settings.hub_limit) {
                        hub->suppressed++;
                        return ANOMALY_ALERT_SUPPRESSED;
                }
                hub->window_alerts++;
                hub->alerts++;
                return ANOMALY_ALERT_RAISE;
        }

        if (r->score >= hub->settings.clear) {
                a->below = 0;
                if (r->score > a->peak) {
                        a->peak = r->score;
                        a->peak_reason = r->reason;
                }
                return ANOMALY_ALERT_NONE;
        }
        if (!a->below) {
                a->below = 1;
                a->below_since = t;
        }
        if (t - a->below_since < hub->settings.hold)
                return ANOMALY_ALERT_NONE;
        a->in_incident = 0;
        a->below = 0;
        if (hub->active > 0)
                hub->active--;
        return ANOMALY_ALERT_CLEAR;
}

void anomaly_alerter_forget(AnomalyAlerter *a, AnomalyHub *hub) {
        if (a->in_incident && hub->active > 0)
                hub->active--;
        anomaly_alerter_init(a);
}
