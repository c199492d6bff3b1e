/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Anomaly scoring inside hub-telemetryd (EN 303 645 5.10): one detector (include/hubguard/anomaly.h)
 * per metric, named like a path:
 *
 *   hub/cpu_percent, hub/memory_used_percent, hub/load1, hub/tasks, hub/state_free_mib,
 *   hub/temperature/N, hub/net/IFACE/rx_bytes_per_sec, hub/net/IFACE/tx_bytes_per_sec   (values)
 *   security/failed_logins, security/new_listening_sockets,
 *   security/new_outbound_destinations                                               (counts)
 *   device/ID/messages, device/ID/invalid                                            (counts)
 *   device/ID/data/FIELD                                                             (values)
 *
 * Samples are judged by their own timestamps (seconds since the epoch, UTC), which is what lets
 * a week of history be imported (ImportSamples) through the same path as live samples. Each sample
 * costs a hash lookup and one detector update: O(1), no allocation except for a metric's first
 * sample. Metrics fall in three groups (hub, security, devices), each with its own AnomalyHub, so
 * that an incident in one group does not swallow the first alert of another.
 *
 * Fixed rules always alert, whatever the grouping and rate limit: failed logins over
 * AnomalyFailedLoginBurst= within the window, any new listening socket once its detector is warmed
 * up, new outbound destinations over AnomalyNewDestinationsPerHour= once warmed up. A rule raises
 * one alert when it starts to hold, not one per sample while it holds.
 *
 * Caps: at most AnomalyDeviceFieldsMax= (device, field) detectors; a new one beyond it takes the
 * place of the one idle longest (least recently sampled), counted in evicted. Device count
 * detectors follow the device table (TELEMETRY_DEVICES_MAX); hub and security metrics are bounded
 * by what the collector reads. Beyond ANOMALY_METRICS_MAX in all, new metrics are refused
 * (counted).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hubguard/anomaly.h"
#include "hubguard/conf.h"

#define ANOMALY_METRIC_MAX 255           /* longest metric name */
#define ANOMALY_METRICS_MAX 100000       /* detectors in all */
#define ANOMALY_RING_MAX 100             /* recent alerts kept for ListAnomalies */
#define ANOMALY_DETAIL_MAX 160
#define ANOMALY_BUCKETS 4096
#define ANOMALY_SOCKETS_MAX 4096         /* known listening sockets / outbound destinations */
#define ANOMALY_STATE_FILE "anomaly.state"
#define ANOMALY_FILE_MAGIC "HGAS"
#define ANOMALY_FILE_VERSION 1
#define ANOMALY_FILE_MAX (256ULL << 20)  /* a state file larger than this is refused */

typedef enum MetricGroup {
        METRIC_GROUP_HUB,
        METRIC_GROUP_SECURITY,
        METRIC_GROUP_DEVICES,
        _METRIC_GROUP_MAX,
} MetricGroup;

typedef struct AnomalyAlertRecord {
        uint64_t time_usec;                  /* the sample's time */
        char metric[ANOMALY_METRIC_MAX + 1];
        double score, value;
        char reason[16];                     /* anomaly_reason_to_string() */
        char detail[ANOMALY_DETAIL_MAX];     /* what made it stand out, in words */
        bool imported;                       /* from ImportSamples, not measured live */
} AnomalyAlertRecord;

typedef struct MetricEntry MetricEntry;

typedef struct SocketKey {
        uint8_t family;                      /* 4 or 6 */
        uint8_t addr[16];
        uint16_t port;
} SocketKey;

typedef struct SocketSet {
        SocketKey *keys;                     /* open addressing, slots (a power of two) */
        bool *used;
        unsigned n, slots;                   /* grows with n, up to 2 * ANOMALY_SOCKETS_MAX */
} SocketSet;

typedef void (*AnomalyAlertFn)(void *userdata, const AnomalyAlertRecord *a);

typedef struct TelemetryAnomaly {
        AnomalySettings value_settings, count_settings;
        AnomalyAlertSettings alert_settings;
        AnomalyHub hubs[_METRIC_GROUP_MAX];
        unsigned login_burst, login_window_sec, destinations_per_hour;
        unsigned fields_max;
        char **ignore;                       /* fnmatch() patterns, NULL-terminated, or NULL */
        char **daily;                        /* metrics whose detectors learn a daily profile (patterns) */

        MetricEntry *buckets[ANOMALY_BUCKETS];
        MetricEntry *lru_head, *lru_tail;    /* device field detectors, most recently sampled first */
        unsigned n_metrics, n_fields;
        uint64_t evicted, refused, alerts;
        uint64_t stale;                      /* live samples older than their detector's last one */

        AnomalyAlertRecord ring[ANOMALY_RING_MAX];
        unsigned ring_first, ring_len;

        SocketSet listening, destinations;
        bool sockets_primed;                 /* the first scan is the baseline */
        uint64_t sockets_ignored;            /* new sockets beyond ANOMALY_SOCKETS_MAX */

        AnomalyAlertFn alert_cb;
        void *userdata;
} TelemetryAnomaly;

/* Set up from the [telemetry] keys. Returns 0 or a negative errno (-EINVAL for settings the library refuses). */
int tanomaly_init(TelemetryAnomaly *a, const HubConfig *c, AnomalyAlertFn cb, void *userdata);
void tanomaly_done(TelemetryAnomaly *a);

/*
 * Score one sample of metric at t (seconds since the epoch). Returns 1 if it raised an alert (the
 * callback ran and the ring has it), 0 if not (also for an ignored metric), or a negative errno:
 * -EINVAL bad name or value, -ERANGE t too far before the metric's last sample, -ENOSPC the
 * metric table is full.
 */
int tanomaly_sample(TelemetryAnomaly *a, const char *metric, double t, double value, bool imported);

/* Is the metric name one we would score (valid, its kind known)? Sets *ret_kind. */
bool tanomaly_metric_kind(const char *metric, AnomalyKind *ret_kind);

/* Does an AnomalyIgnore= pattern match? */
bool tanomaly_ignored(const TelemetryAnomaly *a, const char *metric);

/* Score the numeric members of a device's message (top level and one nested level). */
void tanomaly_device_message(TelemetryAnomaly *a, const char *device, json_t *data, double t);

/*
 * One scan of /proc/net/tcp and /proc/net/tcp6 (paths given for tests): counts listening sockets
 * and outbound destinations not seen before into security/new_listening_sockets and
 * security/new_outbound_destinations. The first scan only learns what is there.
 */
int tanomaly_scan_sockets(TelemetryAnomaly *a, const char *const *files, size_t n_files, double t);

/* The hub metrics' JSON (telemetry_collect_metrics()) as samples; prev keeps the counters between calls. */
typedef struct HubCounters {
        double t;
        unsigned n;
        struct {
                char name[32];
                uint64_t rx, tx;
        } ifs[32];
} HubCounters;
void tanomaly_hub_metrics(TelemetryAnomaly *a, json_t *metrics, HubCounters *prev, double t);

/* The recent alerts, oldest first: i in [0, ring_len). */
const AnomalyAlertRecord *tanomaly_ring_get(const TelemetryAnomaly *a, unsigned i);

/* The security event for the outbox (topic security/anomaly). */
json_t *tanomaly_alert_json(const AnomalyAlertRecord *r);

/*
 * Save every detector to path atomically (write_file_atomic); load them back. A file that is
 * corrupt, truncated or of another version is discarded with a log line: 0 is returned and the
 * detectors start empty. Returns the number of detectors restored, or a negative errno for an I/O
 * error other than a missing file (0).
 */
int tanomaly_save(TelemetryAnomaly *a, const char *path);
int tanomaly_load(TelemetryAnomaly *a, const char *path);

/* Serialized form, for tests and the fuzzer: *ret malloc()ed. */
int tanomaly_serialize(TelemetryAnomaly *a, uint8_t **ret, size_t *ret_size);
int tanomaly_deserialize(TelemetryAnomaly *a, const uint8_t *buf, size_t size);

/* Metrics with a detector that AnomalyIgnore= does not exclude (restored ones may be excluded). O(n). */
unsigned tanomaly_n_scored(const TelemetryAnomaly *a);

/* Is this metric (device field) tracked now? Its detector, or NULL. For tests. */
bool tanomaly_has_metric(TelemetryAnomaly *a, const char *metric);
const AnomalyDetector *tanomaly_detector(TelemetryAnomaly *a, const char *metric);
