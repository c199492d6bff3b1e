/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Streaming anomaly detection for telemetry metrics and security counters (EN 303 645 5.10).
 *
 * One AnomalyDetector per metric: fixed size (at most 1 KiB, checked at compile time), no allocation,
 * constant time per sample, deterministic (same settings and samples give the same scores, bit for
 * bit). Each sample gets a score in [0, 1], a calibrated rarity against the metric's own history
 * (score = -log10(p) / 6, p the tail probability of the sample's most unusual feature after a
 * correction for the number of features looked at: 0.5 is about 1 in 1,000 samples, 0.9 is 1 in
 * 10^5.4; above 0.9 the score bends towards 1 without reaching it, so that rarer still ranks higher
 * and only the count kind's fixed rule scores exactly 1), and the feature that made it unusual
 * (AnomalyReason).
 *
 * Two kinds:
 *   ANOMALY_KIND_VALUE  a generic gauge (temperature, CPU, traffic rate): spikes, level shifts,
 *                       drifts, noise changes, flat lines (a stuck value; reason "variance") and
 *                       breaks in a daily pattern; an event that recurs at the same hour every day
 *                       (a nightly job) is learned as part of that hour.
 *   ANOMALY_KIND_COUNT  an event counter (failed logins, invalid messages, new sockets): the value is
 *                       the number of events since the previous sample (>= 0); surprise under the
 *                       learned rate (per hour of day, with the season), plus a fixed rule: more than rule_limit events within
 *                       rule_window seconds always scores 1 with reason "rule".
 *
 * The first settings.warmup samples score 0 (reason "warm-up"); over the next as many, scores ramp up
 * from 0 to their full value, as the statistics settle.
 *
 * Timestamps are seconds (any epoch; the daily season uses t modulo 86400, so UTC epoch seconds give
 * UTC days). They may be irregular and have gaps; a timestamp before the previous one by at most
 * ANOMALY_TIME_TOLERANCE seconds is taken as equal to it, one further back is refused (-ERANGE).
 *
 * The AnomalyAlerter turns scores into alerts: one alert per incident (hysteresis and a hold time),
 * and the AnomalyHub groups the metrics of a hub: a metric that enters an incident while another is
 * already in one joins the hub's incident instead of raising a new alert, and new hub incidents are
 * rate-limited.
 *
 * Pure C and libm: linked by hub-telemetryd and by hubguard-score, which must give the same scores.
 */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A timestamp this far (seconds) before the previous one is taken as equal to it; further is -ERANGE. */
#define ANOMALY_TIME_TOLERANCE 1.0

/* Inputs beyond these magnitudes are refused (-EDOM): they would overflow the statistics' squares.
 * 1e13 s is past the year 300000: room for epoch milliseconds too (read as seconds, they still
 * score, only the daily profile is then meaningless). */
#define ANOMALY_VALUE_MAX 1e100
#define ANOMALY_TIME_MAX 1e13

/* The fixed upper bound of sizeof(AnomalyDetector), asserted in anomaly.c. */
#define ANOMALY_STATE_MAX 1024

/* The version of the serialized state; a blob of another version is refused with -EPROTONOSUPPORT. */
#define ANOMALY_STATE_VERSION 2

/* An upper bound of the bytes a serialized detector takes, header included (956 in version 2). */
#define ANOMALY_BLOB_SIZE_MAX 1536

/* Daily profile bins (24: hourly). */
#define ANOMALY_SEASON_BINS 24

/* Features tracked per value detector, each with its own calibration. */
#define ANOMALY_FEATURES 5

/* Features whose recent daily peaks are remembered per hour (spike, seasonal). */
#define ANOMALY_PEAK_FEATURES 2

/* Buckets of the count detector's sliding rule window. */
#define ANOMALY_RULE_BUCKETS 16

typedef enum AnomalyKind {
        ANOMALY_KIND_VALUE,
        ANOMALY_KIND_COUNT,
        _ANOMALY_KIND_MAX,
        _ANOMALY_KIND_INVALID = -EINVAL,
} AnomalyKind;

typedef enum AnomalySeason {
        ANOMALY_SEASON_AUTO,  /* daily profile used once two days are seen and it explains enough */
        ANOMALY_SEASON_NONE,
        ANOMALY_SEASON_DAILY, /* daily profile used once one day is seen, whatever it explains */
        _ANOMALY_SEASON_MAX,
        _ANOMALY_SEASON_INVALID = -EINVAL,
} AnomalySeason;

typedef enum AnomalyReason {
        ANOMALY_REASON_NONE,        /* "none": nothing stands out */
        ANOMALY_REASON_WARMUP,      /* "warm-up": too few samples to judge, score 0 */
        ANOMALY_REASON_SPIKE,       /* "spike": the sample is far from the short-term prediction */
        ANOMALY_REASON_LEVEL_SHIFT, /* "level-shift": the recent mean left the longer-term mean */
        ANOMALY_REASON_DRIFT,       /* "drift": a sustained trend of the longer-term mean */
        ANOMALY_REASON_VARIANCE,    /* "variance": the noise grew or shrank */
        ANOMALY_REASON_SEASONAL,    /* "seasonal": unusual for the time of day, not overall */
        ANOMALY_REASON_RATE,        /* "rate": more (or fewer) events than the learned rate explains */
        ANOMALY_REASON_RULE,        /* "rule": a fixed limit was crossed */
        _ANOMALY_REASON_MAX,
        _ANOMALY_REASON_INVALID = -EINVAL,
} AnomalyReason;

const char *anomaly_kind_to_string(AnomalyKind k);
AnomalyKind anomaly_kind_from_string(const char *s);      /* -EINVAL if unknown */
const char *anomaly_season_to_string(AnomalySeason s);
AnomalySeason anomaly_season_from_string(const char *s);  /* -EINVAL if unknown */
const char *anomaly_reason_to_string(AnomalyReason r);

typedef struct AnomalySettings {
        AnomalyKind kind;
        AnomalySeason season;
        uint32_t warmup;        /* samples scored 0 with reason warm-up; 2..1000000 */
        double threshold;       /* the score that raises an alert (AnomalyAlerter); (0, 1] */
        uint32_t rule_limit;    /* count kind: more events than this within rule_window: 0 = no rule */
        double rule_window;     /* count kind: seconds, 1..86400 */
} AnomalySettings;

/* Defaults of the daemon for a generic metric of this kind (the tool's defaults too). */
void anomaly_settings_default(AnomalySettings *s, AnomalyKind kind);
/* 0, or -EINVAL if a field is out of range (each range above). */
int anomaly_settings_validate(const AnomalySettings *s);

/* Calibration of one feature: piecewise-exponential tail through two learned quantiles. */
typedef struct AnomalyTail {
        float q90, q99;
} AnomalyTail;

/*
 * The detector. Its fields are private to anomaly.c; it is public only so that callers can embed it
 * (no allocation). Copying it copies the detector.
 */
typedef struct AnomalyDetector {
        AnomalySettings settings;
        uint64_t n;                        /* samples seen */
        double t_first, t_last;            /* first and last timestamp */
        double interval;                   /* typical sampling interval (s) in use: time constants scale with it */
        double interval_est;               /* its running estimate (a log-space median) */
        double cache_dt, cache_interval;   /* the alphas below are for this dt and interval */
        double alpha[13];                  /* decay weights 1 - exp(-dt / tau) */

        /* value kind */
        double pred1, pred8;               /* short-term predictors (levels, time constant 1 and 8 samples) */
        double err1, err8, err_mid;        /* mean absolute errors of pred1, pred8, mean_mid (+ season) */
        double scale;                      /* robust mean absolute residual of the best predictor */
        double var_fast;                   /* fast mean squared residual (clipped) */
        double mean_fast, mean_mid, mean_slow; /* means of the deseasonalised value */
        double ls_dev;                     /* mean absolute (fast - mid) */
        double lvl_var;                    /* mean squared (value - mid mean) */
        double dr_dev;                     /* mean absolute (mid - slow) */
        double raw_fast, raw_slow, raw_var; /* mean and variance of the raw value */
        double seas_dev;                   /* mean absolute deviation from the daily profile */
        double last_value;                 /* the previous sample */
        double quantum;                    /* a low quantile of the non-zero changes: the resolution */
        float season[ANOMALY_SEASON_BINS]; /* mean of (value - raw_slow) per hour of day (count: events) */
        uint16_t season_n[ANOMALY_SEASON_BINS]; /* samples per bin, saturating */
        uint32_t season_changes;           /* bin changes seen */
        int32_t season_bin;                /* bin of the last sample, -1 before the first */
        uint32_t season_on;
        AnomalyTail tail[ANOMALY_FEATURES];

        /* count kind */
        double rate_events, rate_time;     /* learned rate = rate_events / rate_time (slow) */
        double fast_events, fast_time;     /* the same over a short window */
        double disp_num, disp_den;         /* dispersion = disp_num / disp_den: variance over mean */
        double rule_start;                 /* start of the current rule bucket */
        uint32_t rule_index;               /* the current rule bucket */
        uint32_t pad_;
        double rule_count[ANOMALY_RULE_BUCKETS]; /* events per bucket of rule_window / 16 seconds */
        AnomalyTail count_tail[2];

        /* value kind, since state version 2 */
        uint8_t peak_code[ANOMALY_PEAK_FEATURES][ANOMALY_SEASON_BINS]; /* recent peak z per hour, log-coded */
        float peak_now[ANOMALY_PEAK_FEATURES]; /* the current hour's peaks, decoded */
        int32_t peak_bin;                  /* hour of peak_now, -1 before the first sample */
        int32_t step_run;                  /* consecutive residuals beyond STEP_K sigma, signed by side */
        uint32_t flat_run;                 /* exact repeats of the value in a row */
        AnomalyTail flat_tail;
        double flat_rate;                  /* learned probability that a sample repeats the previous one */
        double peak_lp;                    /* log10 p of an event worth remembering at this interval */
        /* count kind, since state version 2: season[] holds the events per hour of day */
        float season_time[ANOMALY_SEASON_BINS]; /* the time seen per hour of day */
        double fast_mu;                    /* the events expected in the short window */
} AnomalyDetector;

typedef struct AnomalyResult {
        double score;           /* [0, 1] */
        AnomalyReason reason;   /* the feature behind the score */
} AnomalyResult;

/* 0, or -EINVAL for invalid settings (d untouched). */
int anomaly_detector_init(AnomalyDetector *d, const AnomalySettings *s);

/*
 * Feed one sample. 0 with *ret filled, or (detector unchanged):
 *   -EINVAL  value or t not finite, or a negative count for the count kind (fractional counts are
 *            fine: a rate times an interval)
 *   -EDOM    |value| > ANOMALY_VALUE_MAX or |t| > ANOMALY_TIME_MAX
 *   -ERANGE  t before the previous timestamp by more than ANOMALY_TIME_TOLERANCE
 */
int anomaly_detector_update(AnomalyDetector *d, double t, double value, AnomalyResult *ret);

/*
 * The state as a byte-order-stable blob (magic "HGAD", version, settings, state, checksum; all
 * little-endian). Returns the number of bytes written, or -ENOBUFS if size is too small
 * (ANOMALY_BLOB_SIZE_MAX is always enough).
 */
int anomaly_detector_serialize(const AnomalyDetector *d, uint8_t *buf, size_t size);

/*
 * Restore a detector from a blob; on success the restored detector scores exactly like the saved
 * one. On error *d is untouched and the code says why:
 *   -EBADMSG          not a detector blob (bad magic), truncated, trailing bytes, or checksum mismatch
 *   -EPROTONOSUPPORT  a blob of another ANOMALY_STATE_VERSION
 *   -EINVAL           the blob's settings or state values are invalid (out of range, not finite,
 *                     or of a magnitude no valid input produces)
 */
int anomaly_detector_deserialize(AnomalyDetector *d, const uint8_t *buf, size_t size);

/* A human-readable word for the codes above ("truncated or corrupt state", ...). */
const char *anomaly_blob_strerror(int r);

/* ---- alerts ---- */

typedef struct AnomalyAlertSettings {
        double raise;           /* score at or above which an incident starts; (0, 1] */
        double clear;           /* the incident ends once the score stayed below this ... ; [0, raise] */
        double hold;            /* ... for this many seconds; >= 0 */
        uint32_t hub_limit;     /* at most this many hub incidents raise an alert ... ; >= 1 */
        double hub_window;      /* ... per this many seconds; > 0 */
} AnomalyAlertSettings;

void anomaly_alert_settings_default(AnomalyAlertSettings *s);
int anomaly_alert_settings_validate(const AnomalyAlertSettings *s);

/* The hub-level view: the metrics' alerters share one. Fixed size. */
typedef struct AnomalyHub {
        AnomalyAlertSettings settings;
        uint32_t active;        /* metrics in an incident */
        uint32_t window_alerts; /* alerts raised in the current window */
        double window_start;
        double t_max;           /* the largest timestamp seen */
        uint64_t alerts, joined, suppressed; /* totals */
} AnomalyHub;

/* One per metric. Fixed size. */
typedef struct AnomalyAlerter {
        uint8_t in_incident;
        uint8_t below;          /* in an incident, the score is below clear since below_since */
        uint8_t pad_[6];
        double started;         /* timestamp of the raise */
        double below_since;
        double peak;            /* highest score in the incident */
        AnomalyReason peak_reason;
} AnomalyAlerter;

typedef enum AnomalyAlertEvent {
        ANOMALY_ALERT_NONE,       /* nothing changed */
        ANOMALY_ALERT_RAISE,      /* a new hub incident starts with this metric: alert */
        ANOMALY_ALERT_JOIN,       /* this metric entered an incident while the hub is in one: no alert */
        ANOMALY_ALERT_SUPPRESSED, /* a new hub incident, but over the hub rate limit: no alert */
        ANOMALY_ALERT_CLEAR,      /* this metric's incident ended (re-armed) */
        _ANOMALY_ALERT_MAX,
        _ANOMALY_ALERT_INVALID = -EINVAL,
} AnomalyAlertEvent;

const char *anomaly_alert_event_to_string(AnomalyAlertEvent e);

/* 0, or -EINVAL for invalid settings. */
int anomaly_hub_init(AnomalyHub *hub, const AnomalyAlertSettings *s);
void anomaly_alerter_init(AnomalyAlerter *a);

/*
 * Feed one metric's scored sample. Timestamps per metric must not go backwards (the detector
 * enforces that); the hub's window uses the largest timestamp seen.
 */
AnomalyAlertEvent anomaly_alerter_update(AnomalyAlerter *a, AnomalyHub *hub, double t, const AnomalyResult *r);

/* A metric that goes away (removed device) while in an incident must leave the hub's count. */
void anomaly_alerter_forget(AnomalyAlerter *a, AnomalyHub *hub);
