/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <endian.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "telemetryd-anomaly.h"

#define DAY_S 86400.0
#define HOUR_S 3600.0

struct MetricEntry {
        char name[ANOMALY_METRIC_MAX + 1];
        MetricGroup group;
        bool device_field;
        bool last_rule;                 /* the previous sample's score came from a fixed rule */
        uint64_t samples;               /* samples scored, for the warm-up of our own rules */
        AnomalyDetector detector;
        AnomalyAlerter alerter;
        MetricEntry *hash_next;
        MetricEntry *lru_prev, *lru_next;
};

#define METRIC_FAILED_LOGINS "security/failed_logins"
#define METRIC_NEW_LISTENING "security/new_listening_sockets"
#define METRIC_NEW_DESTINATIONS "security/new_outbound_destinations"

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

/* ---- names ---- */

static const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);

        return s && strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.' || c == '/' || c == ':' || c == '@';
}

static bool metric_name_is_valid(const char *s) {
        size_t n = strnlen(s, ANOMALY_METRIC_MAX + 1);

        if (n == 0 || n > ANOMALY_METRIC_MAX || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(s[i]))
                        return false;
        return true;
}

/* device/ID/REST: REST after the id, or NULL. */
static const char *device_rest(const char *metric) {
        const char *p;

        if (!startswith(metric, "device/"))
                return NULL;
        p = strchr(metric + 7, '/');
        return p && p > metric + 7 ? p + 1 : NULL;
}

bool tanomaly_metric_kind(const char *metric, AnomalyKind *ret_kind) {
        const char *rest;

        if (!metric || !metric_name_is_valid(metric))
                return false;
        if (streq(metric, METRIC_FAILED_LOGINS) || streq(metric, METRIC_NEW_LISTENING) ||
            streq(metric, METRIC_NEW_DESTINATIONS)) {
                *ret_kind = ANOMALY_KIND_COUNT;
                return true;
        }
        if (startswith(metric, "hub/") && metric[4]) {
                *ret_kind = ANOMALY_KIND_VALUE;
                return true;
        }
        rest = device_rest(metric);
        if (!rest)
                return false;
        if (streq(rest, "messages") || streq(rest, "invalid")) {
                *ret_kind = ANOMALY_KIND_COUNT;
                return true;
        }
        if (startswith(rest, "data/") && rest[5]) {
                *ret_kind = ANOMALY_KIND_VALUE;
                return true;
        }
        return false;
}

static bool patterns_match(char *const *l, const char *metric) {
        for (char *const *p = l; p && *p; p++)
                if (fnmatch(*p, metric, 0) == 0)
                        return true;
        return false;
}

bool tanomaly_ignored(const TelemetryAnomaly *a, const char *metric) {
        return patterns_match(a->ignore, metric);
}

/* ---- set-up ---- */

static int split_patterns(const char *s, char ***ret) {
        char **l = calloc(CONF_ANOMALY_IGNORE_MAX + 1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (const char *p = s + strspn(s, " \t"); *p; p += strspn(p, " \t")) {
                size_t len = strcspn(p, " \t");

                if (n >= CONF_ANOMALY_IGNORE_MAX || !(l[n++] = strndup(p, len))) {
                        strv_free(l);
                        return n > CONF_ANOMALY_IGNORE_MAX ? -EINVAL : -ENOMEM;
                }
                p += len;
        }
        *ret = l;
        return 0;
}

static uint64_t socket_hash(const SocketKey *k) {
        return fnv1a(k, sizeof *k, FNV_INIT);
}

/*
 * The sets start small and double as they fill (at most half full), up to 2 * ANOMALY_SOCKETS_MAX
 * slots: a hub has tens of sockets, and a table sized for the limit from the start was 320 KiB of
 * a daemon's resident memory, touched all over by the hash (tests/bench/bench-system.sh).
 */
#define SOCKET_SET_SLOTS_MIN 64

static int socket_set_resize(SocketSet *s, unsigned slots) {
        SocketKey *keys = calloc(slots, sizeof(SocketKey));
        bool *used = calloc(slots, sizeof(bool));

        if (!keys || !used) {
                free(keys);
                free(used);
                return -ENOMEM;
        }
        for (unsigned j = 0; j < s->slots; j++) {
                size_t i;

                if (!s->used[j])
                        continue;
                for (i = socket_hash(&s->keys[j]) & (slots - 1); used[i]; i = (i + 1) & (slots - 1))
                        ;
                keys[i] = s->keys[j];
                used[i] = true;
        }
        free(s->keys);
        free(s->used);
        s->keys = keys;
        s->used = used;
        s->slots = slots;
        return 0;
}

static int socket_set_init(SocketSet *s) {
        *s = (SocketSet) {};
        return socket_set_resize(s, SOCKET_SET_SLOTS_MIN);
}

static void socket_set_clear(SocketSet *s) {
        memset(s->used, 0, s->slots * sizeof(bool));
        s->n = 0;
}

int tanomaly_init(TelemetryAnomaly *a, const HubConfig *c, AnomalyAlertFn cb, void *userdata) {
        const typeof(c->telemetry) *t = &c->telemetry;
        int r;

        *a = (TelemetryAnomaly) {
                .login_burst = t->anomaly_failed_login_burst,
                .login_window_sec = t->anomaly_failed_login_window_sec,
                .destinations_per_hour = t->anomaly_new_destinations_per_hour,
                .fields_max = t->anomaly_device_fields_max,
                .alert_cb = cb,
                .userdata = userdata,
        };
        anomaly_settings_default(&a->value_settings, ANOMALY_KIND_VALUE);
        anomaly_settings_default(&a->count_settings, ANOMALY_KIND_COUNT);
        a->value_settings.warmup = a->count_settings.warmup = t->anomaly_warmup_samples;
        a->value_settings.threshold = a->count_settings.threshold = t->anomaly_threshold_percent / 100.0;
        anomaly_alert_settings_default(&a->alert_settings);
        a->alert_settings.raise = t->anomaly_threshold_percent / 100.0;
        a->alert_settings.clear = MIN(a->alert_settings.clear, a->alert_settings.raise);
        a->alert_settings.hold = t->anomaly_hold_sec;
        a->alert_settings.hub_limit = t->anomaly_alerts_per_hour;
        a->alert_settings.hub_window = HOUR_S;
        r = anomaly_settings_validate(&a->value_settings);
        if (r >= 0)
                r = anomaly_settings_validate(&a->count_settings);
        for (int g = 0; r >= 0 && g < _METRIC_GROUP_MAX; g++)
                r = anomaly_hub_init(&a->hubs[g], &a->alert_settings);
        if (r < 0)
                return r;
        if (t->anomaly_ignore) {
                r = split_patterns(t->anomaly_ignore, &a->ignore);
                if (r < 0)
                        return r;
        }
        if (t->anomaly_daily_profile) {
                r = split_patterns(t->anomaly_daily_profile, &a->daily);
                if (r < 0)
                        return r;
        }
        r = socket_set_init(&a->listening);
        if (r >= 0)
                r = socket_set_init(&a->destinations);
        return r;
}

static void lru_unlink(TelemetryAnomaly *a, MetricEntry *e) {
        if (e->lru_prev)
                e->lru_prev->lru_next = e->lru_next;
        else
                a->lru_head = e->lru_next;
        if (e->lru_next)
                e->lru_next->lru_prev = e->lru_prev;
        else
                a->lru_tail = e->lru_prev;
        e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(TelemetryAnomaly *a, MetricEntry *e) {
        e->lru_prev = NULL;
        e->lru_next = a->lru_head;
        if (a->lru_head)
                a->lru_head->lru_prev = e;
        a->lru_head = e;
        if (!a->lru_tail)
                a->lru_tail = e;
}

static void clear_metrics(TelemetryAnomaly *a) {
        for (size_t b = 0; b < ANOMALY_BUCKETS; b++)
                while (a->buckets[b]) {
                        MetricEntry *e = a->buckets[b];

                        a->buckets[b] = e->hash_next;
                        free(e);
                }
        a->lru_head = a->lru_tail = NULL;
        a->n_metrics = a->n_fields = 0;
        for (int g = 0; g < _METRIC_GROUP_MAX; g++)
                (void) anomaly_hub_init(&a->hubs[g], &a->alert_settings);
}

void tanomaly_done(TelemetryAnomaly *a) {
        clear_metrics(a);
        a->ignore = strv_free(a->ignore);
        a->daily = strv_free(a->daily);
        free(a->listening.keys);
        free(a->listening.used);
        free(a->destinations.keys);
        free(a->destinations.used);
        a->listening = a->destinations = (SocketSet) {};
}

/* ---- the metric table ---- */

static size_t bucket_of(const char *name) {
        return fnv1a(name, strlen(name), FNV_INIT) & (ANOMALY_BUCKETS - 1);
}

static MetricEntry *find_metric(TelemetryAnomaly *a, const char *name) {
        for (MetricEntry *e = a->buckets[bucket_of(name)]; e; e = e->hash_next)
                if (streq(e->name, name))
                        return e;
        return NULL;
}

unsigned tanomaly_n_scored(const TelemetryAnomaly *a) {
        unsigned n = 0;

        if (!a->ignore)
                return a->n_metrics;
        for (size_t i = 0; i < ANOMALY_BUCKETS; i++)
                for (const MetricEntry *e = a->buckets[i]; e; e = e->hash_next)
                        n += !tanomaly_ignored(a, e->name);
        return n;
}

bool tanomaly_has_metric(TelemetryAnomaly *a, const char *metric) {
        return find_metric(a, metric);
}

const AnomalyDetector *tanomaly_detector(TelemetryAnomaly *a, const char *metric) {
        MetricEntry *e = find_metric(a, metric);

        return e ? &e->detector : NULL;
}

static void remove_metric(TelemetryAnomaly *a, MetricEntry *e) {
        MetricEntry **p = &a->buckets[bucket_of(e->name)];

        while (*p && *p != e)
                p = &(*p)->hash_next;
        if (*p)
                *p = e->hash_next;
        anomaly_alerter_forget(&e->alerter, &a->hubs[e->group]);
        if (e->device_field) {
                lru_unlink(a, e);
                a->n_fields--;
        }
        a->n_metrics--;
        free(e);
}

static void settings_for(const TelemetryAnomaly *a, const char *name, AnomalyKind kind, AnomalySettings *s) {
        *s = kind == ANOMALY_KIND_COUNT ? a->count_settings : a->value_settings;
        if (kind != ANOMALY_KIND_COUNT) {
                /*
                 * A daily profile only where asked for: one learns whatever recurs at an hour, so an
                 * incident (or an attacker who comes back at the same hour) becomes that hour's normal.
                 */
                s->season = patterns_match(a->daily, name) ? ANOMALY_SEASON_AUTO : ANOMALY_SEASON_NONE;
                return;
        }
        /* Fixed rules are ours to set per metric; the library's generic default applies to none. */
        s->rule_limit = 0;
        if (streq(name, METRIC_FAILED_LOGINS)) {
                s->rule_limit = a->login_burst;
                s->rule_window = a->login_window_sec;
        } else if (streq(name, METRIC_NEW_DESTINATIONS)) {
                s->rule_limit = a->destinations_per_hour;
                s->rule_window = HOUR_S;
        }
}

/* A new entry, linked; NULL with *error set. */
static MetricEntry *add_metric(TelemetryAnomaly *a, const char *name, AnomalyKind kind, int *error) {
        AnomalySettings s;
        MetricEntry *e;
        bool field;
        int r;

        field = startswith(name, "device/") && startswith(device_rest(name), "data/");
        if (field && a->n_fields >= a->fields_max) {
                /* Full: the field idle longest makes room, and the loss is counted. */
                log_debug("Anomaly: dropping the detector of %s, idle longest, for %s.", a->lru_tail->name, name);
                remove_metric(a, a->lru_tail);
                a->evicted++;
        }
        if (a->n_metrics >= ANOMALY_METRICS_MAX) {
                *error = -ENOSPC;
                return NULL;
        }
        e = calloc(1, sizeof *e);
        if (!e) {
                *error = -ENOMEM;
                return NULL;
        }
        strcpy(e->name, name);
        e->group = startswith(name, "hub/") ? METRIC_GROUP_HUB
                   : startswith(name, "security/") ? METRIC_GROUP_SECURITY
                                                   : METRIC_GROUP_DEVICES;
        e->device_field = field;
        settings_for(a, name, kind, &s);
        r = anomaly_detector_init(&e->detector, &s);
        if (r < 0) {
                free(e);
                *error = r;
                return NULL;
        }
        anomaly_alerter_init(&e->alerter);
        e->hash_next = a->buckets[bucket_of(name)];
        a->buckets[bucket_of(name)] = e;
        if (field) {
                lru_push_front(a, e);
                a->n_fields++;
        }
        a->n_metrics++;
        return e;
}

/* ---- alerts ---- */

static void ring_push(TelemetryAnomaly *a, const AnomalyAlertRecord *r) {
        if (a->ring_len < ANOMALY_RING_MAX)
                a->ring[(a->ring_first + a->ring_len++) % ANOMALY_RING_MAX] = *r;
        else {
                a->ring[a->ring_first] = *r;
                a->ring_first = (a->ring_first + 1) % ANOMALY_RING_MAX;
        }
}

const AnomalyAlertRecord *tanomaly_ring_get(const TelemetryAnomaly *a, unsigned i) {
        if (i >= a->ring_len)
                return NULL;
        return &a->ring[(a->ring_first + i) % ANOMALY_RING_MAX];
}

json_t *tanomaly_alert_json(const AnomalyAlertRecord *r) {
        return json_pack("{s:s, s:s, s:f, s:f, s:s, s:s, s:I, s:b}", "event", "anomaly", "metric", r->metric, "score",
                         r->score, "value", r->value, "reason", r->reason, "detail", r->detail, "time_ms",
                         (json_int_t) (r->time_usec / 1000), "imported", r->imported);
}

static void raise_alert(TelemetryAnomaly *a, const MetricEntry *e, double t, double value, const AnomalyResult *res,
                        const char *detail, bool imported) {
        AnomalyAlertRecord rec = {
                .time_usec = t > 0 ? (uint64_t) (t * 1e6) : 0,
                .score = res->score,
                .value = value,
                .imported = imported,
        };

        (void) snprintf(rec.metric, sizeof rec.metric, "%s", e->name);
        (void) snprintf(rec.reason, sizeof rec.reason, "%s", anomaly_reason_to_string(res->reason));
        if (detail)
                (void) snprintf(rec.detail, sizeof rec.detail, "%s", detail);
        else if (e->detector.settings.kind == ANOMALY_KIND_COUNT)
                (void) snprintf(rec.detail, sizeof rec.detail,
                                "events at a rate the learned one does not explain (%s; %g in this sample)",
                                anomaly_reason_to_string(res->reason), value);
        else
                (void) snprintf(rec.detail, sizeof rec.detail, "value %g is unusual for this metric (%s)", value,
                                anomaly_reason_to_string(res->reason));
        a->alerts++;
        ring_push(a, &rec);
        if (a->alert_cb)
                a->alert_cb(a->userdata, &rec);
}

static int sample_full(TelemetryAnomaly *a, const char *metric, double t, double value, bool imported,
                       const char *detail) {
        char buf[ANOMALY_DETAIL_MAX];
        AnomalyAlertEvent ev;
        AnomalyResult res;
        AnomalyKind kind;
        MetricEntry *e;
        bool rule;
        int r;

        if (!tanomaly_metric_kind(metric, &kind) || !isfinite(t) || t < 0 || !isfinite(value) ||
            (kind == ANOMALY_KIND_COUNT && value < 0))
                return -EINVAL;
        if (tanomaly_ignored(a, metric))
                return 0;
        e = find_metric(a, metric);
        if (!e) {
                e = add_metric(a, metric, kind, &r);
                if (!e) {
                        a->refused++;
                        return r;
                }
        }
        r = anomaly_detector_update(&e->detector, t, value, &res);
        if (r == -ERANGE && !imported) {
                /* A clock set back (a hub without a battery-backed clock, before NTP): say it once. */
                if (a->stale++ == 0)
                        log_warning("Anomaly: a sample of %s is older than the detector's last one (clock set back?); "
                                    "such samples are not scored until the clock passes it.", metric);
                return r;
        }
        if (r < 0)
                return r;
        e->samples++;
        if (e->device_field && a->lru_head != e) {
                lru_unlink(a, e);
                lru_push_front(a, e);
        }

        rule = res.reason == ANOMALY_REASON_RULE;
        if (streq(metric, METRIC_NEW_LISTENING)) {
                /* Any new listening socket once the detector knows the hub: a fixed rule. */
                rule = value > 0 && e->samples > e->detector.settings.warmup;
                if (rule)
                        res = (AnomalyResult) { .score = 1.0, .reason = ANOMALY_REASON_RULE };
        } else if (streq(metric, METRIC_NEW_DESTINATIONS) && rule && e->samples <= e->detector.settings.warmup) {
                /* While the hub's usual destinations are still being learned, many are new. */
                rule = false;
                res = (AnomalyResult) { .score = 0.0, .reason = ANOMALY_REASON_WARMUP };
        }
        if (rule && !detail) {
                if (streq(metric, METRIC_FAILED_LOGINS))
                        (void) snprintf(buf, sizeof buf, "more than %u failed logins within %u s", a->login_burst,
                                        a->login_window_sec);
                else if (streq(metric, METRIC_NEW_LISTENING))
                        (void) snprintf(buf, sizeof buf, "%g new listening TCP socket%s", value, value == 1 ? "" : "s");
                else
                        (void) snprintf(buf, sizeof buf, "more than %u new outbound destinations within an hour",
                                        a->destinations_per_hour);
                detail = buf;
        }

        ev = anomaly_alerter_update(&e->alerter, &a->hubs[e->group], t, &res);
        /*
         * Fixed rules always alert, grouped or rate-limited or not: once when the rule starts to
         * hold (a new listening socket is a new event each time).
         */
        if (ev == ANOMALY_ALERT_RAISE || (rule && (!e->last_rule || streq(metric, METRIC_NEW_LISTENING)))) {
                e->last_rule = rule;
                raise_alert(a, e, t, value, &res, rule ? detail : NULL, imported);
                return 1;
        }
        e->last_rule = rule;
        return 0;
}

int tanomaly_sample(TelemetryAnomaly *a, const char *metric, double t, double value, bool imported) {
        return sample_full(a, metric, t, value, imported, NULL);
}

/* ---- devices ---- */

void tanomaly_device_message(TelemetryAnomaly *a, const char *device, json_t *data, double t) {
        char name[ANOMALY_METRIC_MAX + 1];
        const char *key, *sub;
        json_t *v, *w;

        json_object_foreach(data, key, v) {
                if (streq(key, "ts"))
                        continue;
                if (json_is_number(v)) {
                        if (snprintf(name, sizeof name, "device/%s/data/%s", device, key) < (int) sizeof name)
                                (void) tanomaly_sample(a, name, t, json_number_value(v), false);
                } else if (json_is_object(v))
                        json_object_foreach(v, sub, w)
                                if (json_is_number(w) &&
                                    snprintf(name, sizeof name, "device/%s/data/%s.%s", device, key, sub) < (int) sizeof name)
                                        (void) tanomaly_sample(a, name, t, json_number_value(w), false);
        }
}

/* ---- hub metrics ---- */

static void sample_number(TelemetryAnomaly *a, const char *name, json_t *v, double t) {
        if (json_is_number(v))
                (void) tanomaly_sample(a, name, t, json_number_value(v), false);
}

void tanomaly_hub_metrics(TelemetryAnomaly *a, json_t *o, HubCounters *prev, double t) {
        char name[ANOMALY_METRIC_MAX + 1];
        json_t *v, *ifs, *load;
        HubCounters now = { .t = t };
        const char *key;
        size_t i;

        sample_number(a, "hub/cpu_percent", json_object_get(o, "cpu_percent"), t);
        sample_number(a, "hub/tasks", json_object_get(o, "tasks"), t);
        load = json_object_get(o, "load");
        sample_number(a, "hub/load1", json_array_get(load, 0), t);
        v = json_object_get(o, "memory_total_kib");
        if (json_is_integer(v) && json_integer_value(v) > 0 && json_is_integer(json_object_get(o, "memory_available_kib")))
                (void) tanomaly_sample(a, "hub/memory_used_percent", t,
                                       100.0 * (1.0 - (double) json_integer_value(json_object_get(o, "memory_available_kib")) /
                                                              (double) json_integer_value(v)),
                                       false);
        v = json_object_get(o, "state_free_bytes");
        if (json_is_integer(v))
                (void) tanomaly_sample(a, "hub/state_free_mib", t, (double) json_integer_value(v) / 1048576.0, false);
        json_array_foreach(json_object_get(o, "temperatures_celsius"), i, v) {
                (void) snprintf(name, sizeof name, "hub/temperature/%zu", i);
                sample_number(a, name, v, t);
        }

        /* Counters since boot become rates; a counter that went back (reset, wrap) skips a sample. */
        ifs = json_object_get(o, "network");
        json_object_foreach(ifs, key, v) {
                json_t *rx = json_object_get(v, "rx_bytes"), *tx = json_object_get(v, "tx_bytes");
                unsigned k = now.n;

                if (k >= ELEMENTSOF(now.ifs) || !json_is_integer(rx) || !json_is_integer(tx) || strlen(key) >= 32)
                        continue;
                (void) snprintf(now.ifs[k].name, sizeof now.ifs[k].name, "%s", key);
                now.ifs[k].rx = (uint64_t) json_integer_value(rx);
                now.ifs[k].tx = (uint64_t) json_integer_value(tx);
                now.n++;
                for (unsigned j = 0; j < prev->n && t > prev->t; j++) {
                        double dt = t - prev->t;

                        if (!streq(prev->ifs[j].name, key))
                                continue;
                        if (now.ifs[k].rx >= prev->ifs[j].rx) {
                                (void) snprintf(name, sizeof name, "hub/net/%s/rx_bytes_per_sec", key);
                                (void) tanomaly_sample(a, name, t, (double) (now.ifs[k].rx - prev->ifs[j].rx) / dt, false);
                        }
                        if (now.ifs[k].tx >= prev->ifs[j].tx) {
                                (void) snprintf(name, sizeof name, "hub/net/%s/tx_bytes_per_sec", key);
                                (void) tanomaly_sample(a, name, t, (double) (now.ifs[k].tx - prev->ifs[j].tx) / dt, false);
                        }
                        break;
                }
        }
        *prev = now;
}

/* ---- sockets ---- */

/* 1 if added (new), 0 if known, -ENOSPC if full (or no memory to grow). */
static int socket_set_add(SocketSet *s, const SocketKey *k) {
        size_t slots = s->slots, i = socket_hash(k) & (slots - 1);

        for (; s->used[i]; i = (i + 1) & (slots - 1))
                if (memcmp(&s->keys[i], k, sizeof *k) == 0)
                        return 0;
        if (s->n >= ANOMALY_SOCKETS_MAX)
                return -ENOSPC;
        if (2 * (s->n + 1) > s->slots) {
                if (socket_set_resize(s, 2 * s->slots) < 0)
                        return -ENOSPC;
                slots = s->slots;
                for (i = socket_hash(k) & (slots - 1); s->used[i]; i = (i + 1) & (slots - 1))
                        ;
        }
        s->keys[i] = *k;
        s->used[i] = true;
        s->n++;
        return 1;
}

static bool parse_addr(const char *hex, uint8_t family, SocketKey *k) {
        char part[9];
        size_t words = family == 4 ? 1 : 4;
        const char *colon = strchr(hex, ':');

        if (!colon || (size_t) (colon - hex) != words * 8)
                return false;
        for (size_t w = 0; w < words; w++) {
                uint32_t v;
                char *end;

                memcpy(part, hex + 8 * w, 8);
                part[8] = '\0';
                v = (uint32_t) strtoul(part, &end, 16);
                if (*end)
                        return false;
                /* The kernel prints each 32-bit word of the address as a host-order integer. */
                memcpy(k->addr + 4 * w, &v, 4);
        }
        k->family = family;
        k->port = (uint16_t) strtoul(colon + 1, NULL, 16);
        return true;
}

static bool addr_is_loopback(const SocketKey *k) {
        static const uint8_t v6_loop[16] = { [15] = 1 }, v4mapped[12] = { [10] = 0xff, [11] = 0xff };

        if (k->family == 4)
                return k->addr[0] == 127;
        if (memcmp(k->addr, v6_loop, 16) == 0)
                return true;
        return memcmp(k->addr, v4mapped, 12) == 0 && k->addr[12] == 127;
}

static void format_socket(const SocketKey *k, char *buf, size_t size) {
        char a[INET6_ADDRSTRLEN] = "?";

        (void) inet_ntop(k->family == 4 ? AF_INET : AF_INET6, k->addr, a, sizeof a);
        (void) snprintf(buf, size, k->family == 4 ? "%s:%u" : "[%s]:%u", a, k->port);
}

static void append_detail(char *buf, size_t size, const char *what) {
        size_t n = strlen(buf);

        if (n + strlen(what) + 3 < size)
                (void) snprintf(buf + n, size - n, "%s%s", n > 0 && buf[n - 1] != ' ' ? ", " : "", what);
}

typedef struct SocketScan {
        uint8_t listen_ports[65536 / 8];     /* the ports listened on now: connections to them are incoming */
        bool learning;                       /* the first scan (or one after a list filled up) only learns */
        bool overflow;                       /* a list filled up: the next scan learns from scratch */
        unsigned n_new[2];                   /* new listening sockets, new outbound destinations */
        char detail[2][ANOMALY_DETAIL_MAX];
} SocketScan;

/* Remember k in set; count it as new (kind 0 listening, 1 outbound) unless the scan only learns. */
static void socket_seen(TelemetryAnomaly *a, SocketScan *scan, SocketSet *set, unsigned kind, const SocketKey *k) {
        char text[64];
        int r;

        r = socket_set_add(set, k);
        if (r == -ENOSPC) {
                /* Full: forget, and learn anew from here rather than call everything after this new. */
                a->sockets_ignored++;
                socket_set_clear(set);
                scan->learning = scan->overflow = true;
                (void) socket_set_add(set, k);
        } else if (r > 0 && !scan->learning) {
                scan->n_new[kind]++;
                format_socket(k, text, sizeof text);
                append_detail(scan->detail[kind], sizeof scan->detail[kind], text);
        }
}

static void scan_line(TelemetryAnomaly *a, SocketScan *scan, const char *line, int pass) {
        SocketKey lk = {}, rk = {};
        char local[64], remote[64];
        unsigned state;
        uint8_t fam;

        if (sscanf(line, " %*s %63s %63s %x", local, remote, &state) != 3)
                return;
        fam = strlen(local) > 16 ? 6 : 4;
        if (!parse_addr(local, fam, &lk) || !parse_addr(remote, fam, &rk))
                return;
        if (pass == 0 && state == 0x0A) { /* LISTEN */
                scan->listen_ports[lk.port / 8] |= (uint8_t) (1u << (lk.port % 8));
                socket_seen(a, scan, &a->listening, 0, &lk);
        } else if (pass == 1 && (state == 0x01 || state == 0x02) && /* ESTABLISHED, SYN_SENT */
                   !(scan->listen_ports[lk.port / 8] & (1u << (lk.port % 8))) && !addr_is_loopback(&rk))
                socket_seen(a, scan, &a->destinations, 1, &rk);
}

int tanomaly_scan_sockets(TelemetryAnomaly *a, const char *const *files, size_t n_files, double t) {
        SocketScan scan = {
                .learning = !a->sockets_primed,
                .detail = { "new listening TCP socket: ", "new outbound destination: " },
        };

        /* Two passes: the listening ports first, so that connections to them count as incoming. */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < n_files; i++) {
                        _cleanup_fclose_ FILE *f = fopen(files[i], "re");
                        char line[512];

                        while (f && fgets(line, sizeof line, f))
                                scan_line(a, &scan, line, pass);
                }
        if (!a->sockets_primed) {
                /* More sockets than are remembered: stay blind (counted) rather than call them all new. */
                a->sockets_primed = !scan.overflow;
                return 0;
        }
        if (scan.overflow)
                a->sockets_primed = false;
        (void) sample_full(a, METRIC_NEW_LISTENING, t, scan.n_new[0], false, scan.detail[0]);
        (void) sample_full(a, METRIC_NEW_DESTINATIONS, t, scan.n_new[1], false, scan.n_new[1] > 0 ? scan.detail[1] : NULL);
        return (int) (scan.n_new[0] + scan.n_new[1]);
}

/* ---- state file ---- */

typedef struct Buf {
        uint8_t *data;
        size_t len, cap;
} Buf;

static int buf_put(Buf *b, const void *p, size_t n) {
        if (b->len + n > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + n + 4096);
                uint8_t *d = realloc(b->data, cap);

                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return 0;
}

static int buf_u16(Buf *b, uint16_t v) {
        v = htole16(v);
        return buf_put(b, &v, 2);
}
static int buf_u32(Buf *b, uint32_t v) {
        v = htole32(v);
        return buf_put(b, &v, 4);
}
static int buf_u64(Buf *b, uint64_t v) {
        v = htole64(v);
        return buf_put(b, &v, 8);
}

static int put_entry(Buf *b, const MetricEntry *e) {
        uint8_t blob[ANOMALY_BLOB_SIZE_MAX];
        int n, r;

        n = anomaly_detector_serialize(&e->detector, blob, sizeof blob);
        if (n < 0)
                return n;
        r = buf_u16(b, (uint16_t) strlen(e->name));
        if (r >= 0)
                r = buf_put(b, e->name, strlen(e->name));
        if (r >= 0)
                r = buf_u64(b, e->samples);
        if (r >= 0)
                r = buf_u32(b, (uint32_t) n);
        return r < 0 ? r : buf_put(b, blob, (size_t) n);
}

/*
 * "HGAS", u32 version, u32 count, then per detector: u16 name length, name, u64 samples, u32 blob
 * length, the library's blob (itself versioned and checksummed); then u64 FNV-1a of all before it.
 * Little-endian. Device fields come last, idle longest first, so that loading restores their order.
 */
int tanomaly_serialize(TelemetryAnomaly *a, uint8_t **ret, size_t *ret_size) {
        Buf b = {};
        int r;

        r = buf_put(&b, ANOMALY_FILE_MAGIC, 4);
        if (r >= 0)
                r = buf_u32(&b, ANOMALY_FILE_VERSION);
        if (r >= 0)
                r = buf_u32(&b, a->n_metrics);
        for (size_t i = 0; r >= 0 && i < ANOMALY_BUCKETS; i++)
                for (MetricEntry *e = a->buckets[i]; r >= 0 && e; e = e->hash_next)
                        if (!e->device_field)
                                r = put_entry(&b, e);
        for (MetricEntry *e = a->lru_tail; r >= 0 && e; e = e->lru_prev)
                r = put_entry(&b, e);
        if (r >= 0)
                r = buf_u64(&b, fnv1a(b.data, b.len, FNV_INIT));
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        *ret_size = b.len;
        return 0;
}

typedef struct Reader {
        const uint8_t *p;
        size_t left;
} Reader;

static bool rd(Reader *rd, void *out, size_t n) {
        if (rd->left < n)
                return false;
        memcpy(out, rd->p, n);
        rd->p += n;
        rd->left -= n;
        return true;
}

int tanomaly_deserialize(TelemetryAnomaly *a, const uint8_t *buf, size_t size) {
        Reader r = { buf, size };
        uint32_t version, count;
        uint64_t sum;
        char magic[4];
        int k;

        /* Whatever happens, what was there goes: a failed load leaves the detectors empty, never half-loaded. */
        clear_metrics(a);
        if (size < 20)
                return -EBADMSG;
        memcpy(&sum, buf + size - 8, 8);
        if (le64toh(sum) != fnv1a(buf, size - 8, FNV_INIT))
                return -EBADMSG;
        r.left -= 8;
        if (!rd(&r, magic, 4) || memcmp(magic, ANOMALY_FILE_MAGIC, 4) != 0 || !rd(&r, &version, 4) || !rd(&r, &count, 4))
                return -EBADMSG;
        if (le32toh(version) != ANOMALY_FILE_VERSION)
                return -EPROTONOSUPPORT;
        count = le32toh(count);
        if (count > ANOMALY_METRICS_MAX)
                return -EBADMSG;

        for (uint32_t i = 0; i < count; i++) {
                char name[ANOMALY_METRIC_MAX + 1];
                AnomalyDetector d;
                AnomalyKind kind;
                MetricEntry *e;
                uint16_t len;
                uint32_t blen;
                uint64_t samples;

                if (!rd(&r, &len, 2) || (len = le16toh(len)) == 0 || len > ANOMALY_METRIC_MAX || !rd(&r, name, len))
                        goto bad;
                name[len] = '\0';
                if (!rd(&r, &samples, 8) || !rd(&r, &blen, 4) || (blen = le32toh(blen)) > r.left)
                        goto bad;
                k = anomaly_detector_deserialize(&d, r.p, blen);
                if (k < 0) {
                        clear_metrics(a);
                        return k;
                }
                r.p += blen;
                r.left -= blen;
                if (!tanomaly_metric_kind(name, &kind) || d.settings.kind != kind || find_metric(a, name))
                        goto bad;
                /* Kept even if ignored now: not scored, but saved again, so a later config can use it. */
                e = add_metric(a, name, kind, &k);
                if (!e) {
                        clear_metrics(a);
                        return k;
                }
                /* The saved learning, with today's settings (thresholds, rules may have changed). */
                settings_for(a, name, kind, &d.settings);
                e->detector = d;
                e->samples = le64toh(samples);
        }
        if (r.left != 0)
                goto bad;
        return (int) a->n_metrics;
bad:
        clear_metrics(a);
        return -EBADMSG;
}

/*
 * Its own file, written whole and atomically, not a table of telemetry.db: a few hundred KiB
 * rewritten at intervals do not belong in the outbox's group commits, and a rebuilt outbox must not
 * take the learning with it.
 */
int tanomaly_save(TelemetryAnomaly *a, const char *path) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r;

        r = tanomaly_serialize(a, &data, &len);
        if (r < 0)
                return r;
        return write_file_atomic(path, data, len, 0600);
}

int tanomaly_load(TelemetryAnomaly *a, const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        r = read_file_bounded(path, ANOMALY_FILE_MAX, &data, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG) {
                log_warning("Anomaly detector state %s is too large; discarded, learning starts anew.", path);
                return 0;
        }
        if (r < 0)
                return r;
        r = tanomaly_deserialize(a, (const uint8_t *) data, len);
        if (r < 0) {
                log_warning("Anomaly detector state %s is unusable (%s); discarded, learning starts anew.", path,
                            r == -EPROTONOSUPPORT ? "another version" : r == -EBADMSG ? "corrupt or truncated"
                                                                      : anomaly_blob_strerror(r));
                return 0;
        }
        return r;
}
