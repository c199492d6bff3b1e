/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A small table-driven parser rather than libinih: we want exact file:line errors for unknown keys
 * and bad values, no silent truncation of long lines, no continuation lines or inline comments that
 * change a value's meaning, and a parser small enough to fuzz and golden-test completely.
 */

#include <assert.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#include "hubguard/conf.h"
#include "hubguard/errno-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"

static const char *const domain_names[_HUB_DOMAIN_MAX] = {
        [HUB_DOMAIN_IDENTITY] = "identity",
        [HUB_DOMAIN_TELEMETRY] = "telemetry",
        [HUB_DOMAIN_PRIVACY] = "privacy",
};

const char *hub_domain_to_string(HubDomain d) {
        if (d < 0 || d >= _HUB_DOMAIN_MAX)
                return NULL;
        return domain_names[d];
}

HubDomain hub_domain_from_string(const char *s) {
        for (int i = 0; s && i < _HUB_DOMAIN_MAX; i++)
                if (streq(s, domain_names[i]))
                        return (HubDomain) i;
        return _HUB_DOMAIN_INVALID;
}

typedef enum ConfType {
        CONF_LOG_LEVEL,          /* int, a syslog level name */
        CONF_LOG_LEVEL_INHERIT,  /* int, a syslog level name, or "inherit" (-1) */
        CONF_UNSIGNED,           /* unsigned, decimal, within [min, max] */
        CONF_FIRST_BOOT_PASSWORD, /* FirstBootPassword: "generate" or "none" */
        CONF_STRING,             /* char *, accepted by check(), or empty for unset (NULL) */
        CONF_USERS,              /* char **, white-space separated user names, or empty */
} ConfType;

typedef struct ConfKey {
        const char *section;
        const char *key;
        ConfType type;
        size_t offset;
        unsigned min, max;              /* CONF_UNSIGNED */
        bool (*check)(const char *);   /* CONF_STRING */
        const char *hint;               /* CONF_STRING: what check() accepts, for the error */
} ConfKey;

#define DOMAIN_KEYS(d, name)                                                                              \
        { name, "LogLevel", CONF_LOG_LEVEL_INHERIT, offsetof(HubConfig, domain[d].log_level), 0, 0, NULL, NULL }
#define IDENTITY_UNSIGNED(key, field, lo, hi)                                                             \
        { "identity", key, CONF_UNSIGNED, offsetof(HubConfig, identity.field), lo, hi, NULL, NULL }
#define IDENTITY_STRING(key, field, fn, h)                                                                \
        { "identity", key, CONF_STRING, offsetof(HubConfig, identity.field), 0, 0, fn, h }
#define TELEMETRY_UNSIGNED(key, field, lo, hi)                                                            \
        { "telemetry", key, CONF_UNSIGNED, offsetof(HubConfig, telemetry.field), lo, hi, NULL, NULL }
#define TELEMETRY_STRING(key, field, fn, h)                                                               \
        { "telemetry", key, CONF_STRING, offsetof(HubConfig, telemetry.field), 0, 0, fn, h }

#define HINT_PATH "an absolute path, or nothing"
#define HINT_HOST "a host name or IP address, or nothing"
#define HINT_MQTT_USER "1-64 printable ASCII characters, or nothing"
#define HINT_TOPIC_PATTERN "an MQTT topic with exactly one '+' level (the device id) and no '#'"
#define HINT_TLS "tls1.2 or tls1.3"
#define HINT_ALPN "a protocol name of 1-64 printable ASCII characters, or nothing"
#define HINT_ANOMALY_IGNORE "up to 64 space-separated patterns of 1-128 printable ASCII characters, or nothing"
#define HINT_TOPIC_PREFIX "1-64 characters of [a-zA-Z0-9_-] in levels separated by '/'"

static bool printable_ascii(const char *s, size_t max) {
        size_t n = strnlen(s, max + 1);

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= ' ' || s[i] > '~')
                        return false;
        return true;
}

static bool mqtt_user_is_valid(const char *s) {
        return printable_ascii(s, 64);
}

static bool alpn_is_valid(const char *s) {
        return printable_ascii(s, 64);
}

static bool tls_version_is_valid(const char *s) {
        return streq(s, "tls1.2") || streq(s, "tls1.3");
}

bool anomaly_ignore_is_valid(const char *s) {
        size_t n = 0;

        for (const char *p = s; *p;) {
                size_t len = strcspn(p, " \t");

                if (len > 0) {
                        if (len > 128 || ++n > CONF_ANOMALY_IGNORE_MAX)
                                return false;
                        for (size_t i = 0; i < len; i++)
                                if (p[i] <= ' ' || p[i] > '~')
                                        return false;
                }
                p += len;
                p += strspn(p, " \t");
        }
        return n > 0;
}

bool topic_prefix_is_valid(const char *s) {
        size_t n = strnlen(s, 65);

        if (n == 0 || n > 64 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '_' || s[i] == '-' || s[i] == '/'))
                        return false;
        return true;
}

bool device_topic_pattern_is_valid(const char *s) {
        size_t n = strnlen(s, 129), plus = 0;

        if (n == 0 || n > 128 || strchr(s, '#') || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
                return false;
        /* Levels are either a literal of [a-zA-Z0-9_-] or the single '+'. */
        for (const char *p = s; *p;) {
                size_t len = strcspn(p, "/");

                if (len == 1 && p[0] == '+')
                        plus++;
                else
                        for (size_t i = 0; i < len; i++)
                                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
                                      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
                                        return false;
                p += len + (p[len] == '/');
        }
        return plus == 1;
}

/* In the order config_dump() prints them: a section's keys together. */
static const ConfKey conf_keys[] = {
        { "general", "LogLevel", CONF_LOG_LEVEL, offsetof(HubConfig, general.log_level), 0, 0, NULL, NULL },
        DOMAIN_KEYS(HUB_DOMAIN_IDENTITY, "identity"),
        { "identity", "FirstBootPassword", CONF_FIRST_BOOT_PASSWORD,
          offsetof(HubConfig, identity.first_boot_password), 0, 0, NULL, NULL },
        IDENTITY_UNSIGNED("PasswordHashIterations", hash_iterations, 1, 64),
        IDENTITY_UNSIGNED("PasswordHashMemoryMiB", hash_memory_mib, 8, 4096),
        IDENTITY_UNSIGNED("ThrottleBaseSec", throttle_base_sec, 1, 3600),
        IDENTITY_UNSIGNED("ThrottleMaxSec", throttle_max_sec, 1, 86400),
        IDENTITY_UNSIGNED("LockoutAfterFailures", lockout_after_failures, 1, 1000),
        IDENTITY_UNSIGNED("LockoutSec", lockout_sec, 1, 86400),
        IDENTITY_UNSIGNED("FailureResetSec", failure_reset_sec, 1, 604800),
        { "identity", "VerifyPasswordUsers", CONF_USERS, offsetof(HubConfig, identity.verify_password_users), 0, 0,
          NULL, NULL },
        IDENTITY_STRING("CertificateAuthorityFile", ca_file, path_is_absolute_normal, HINT_PATH),
        DOMAIN_KEYS(HUB_DOMAIN_TELEMETRY, "telemetry"),
        TELEMETRY_STRING("DeviceBrokerHost", device_broker_host, hostname_is_valid, HINT_HOST),
        TELEMETRY_UNSIGNED("DeviceBrokerPort", device_broker_port, 1, 65535),
        TELEMETRY_STRING("DeviceBrokerUser", device_broker_user, mqtt_user_is_valid, HINT_MQTT_USER),
        TELEMETRY_STRING("DeviceBrokerPasswordFile", device_broker_password_file, path_is_absolute_normal,
                         HINT_PATH),
        TELEMETRY_STRING("DeviceTopicPattern", device_topic_pattern, device_topic_pattern_is_valid,
                         HINT_TOPIC_PATTERN),
        TELEMETRY_UNSIGNED("MaxPayloadBytes", max_payload_bytes, 64, 262144),
        TELEMETRY_UNSIGNED("DeviceRatePerSec", device_rate_per_sec, 1, 10000),
        TELEMETRY_UNSIGNED("DeviceBurst", device_burst, 1, 100000),
        TELEMETRY_STRING("CloudBrokerHost", cloud_broker_host, hostname_is_valid, HINT_HOST),
        TELEMETRY_UNSIGNED("CloudBrokerPort", cloud_broker_port, 1, 65535),
        TELEMETRY_STRING("CloudCAFile", cloud_ca_file, path_is_absolute_normal, HINT_PATH),
        TELEMETRY_STRING("CloudTLSMinVersion", cloud_tls_min_version, tls_version_is_valid, HINT_TLS),
        TELEMETRY_STRING("CloudALPN", cloud_alpn, alpn_is_valid, HINT_ALPN),
        TELEMETRY_STRING("CloudTopicPrefix", cloud_topic_prefix, topic_prefix_is_valid, HINT_TOPIC_PREFIX),
        TELEMETRY_UNSIGNED("ConnectTimeoutSec", connect_timeout_sec, 1, 300),
        TELEMETRY_UNSIGNED("ReconnectMinSec", reconnect_min_sec, 1, 3600),
        TELEMETRY_UNSIGNED("ReconnectMaxSec", reconnect_max_sec, 1, 86400),
        TELEMETRY_UNSIGNED("DrainRatePerSec", drain_rate_per_sec, 0, 1000000),
        TELEMETRY_UNSIGNED("OutboxMaxMessages", outbox_max_messages, 100, 10000000),
        TELEMETRY_UNSIGNED("OutboxMaxMiB", outbox_max_mib, 1, 65536),
        TELEMETRY_UNSIGNED("SecurityEventsMaxMessages", security_max_messages, 10, 1000000),
        TELEMETRY_UNSIGNED("MetricsIntervalSec", metrics_interval_sec, 0, 86400),
        TELEMETRY_UNSIGNED("AnomalyThresholdPercent", anomaly_threshold_percent, 1, 100),
        TELEMETRY_UNSIGNED("AnomalyWarmupSamples", anomaly_warmup_samples, 2, 1000000),
        TELEMETRY_UNSIGNED("AnomalyHoldSec", anomaly_hold_sec, 0, 604800),
        TELEMETRY_UNSIGNED("AnomalyAlertsPerHour", anomaly_alerts_per_hour, 1, 3600),
        TELEMETRY_UNSIGNED("AnomalyFailedLoginBurst", anomaly_failed_login_burst, 1, 100000),
        TELEMETRY_UNSIGNED("AnomalyFailedLoginWindowSec", anomaly_failed_login_window_sec, 1, 86400),
        TELEMETRY_UNSIGNED("AnomalyNewDestinationsPerHour", anomaly_new_destinations_per_hour, 1, 100000),
        TELEMETRY_UNSIGNED("AnomalyDeviceFieldsMax", anomaly_device_fields_max, 1, 65536),
        TELEMETRY_UNSIGNED("AnomalySaveIntervalSec", anomaly_save_interval_sec, 10, 86400),
        TELEMETRY_STRING("AnomalyIgnore", anomaly_ignore, anomaly_ignore_is_valid, HINT_ANOMALY_IGNORE),
        TELEMETRY_STRING("AnomalyDailyProfile", anomaly_daily_profile, anomaly_ignore_is_valid, HINT_ANOMALY_IGNORE),
        DOMAIN_KEYS(HUB_DOMAIN_PRIVACY, "privacy"),
        { "privacy", "AppUsers", CONF_USERS, offsetof(HubConfig, privacy.app_users), 0, 0, NULL, NULL },
};

static const char *const conf_sections[] = { "general", "identity", "telemetry", "privacy" };

static const char *const first_boot_password_names[_FIRST_BOOT_PASSWORD_MAX] = {
        [FIRST_BOOT_PASSWORD_GENERATE] = "generate",
        [FIRST_BOOT_PASSWORD_NONE] = "none",
};

#define FIELD(c, k, type) ((type *) ((char *) (c) + (k)->offset))

void config_init(HubConfig *c) {
        *c = (HubConfig) {
                .general.log_level = LOG_INFO,
                .identity = {
                        .first_boot_password = FIRST_BOOT_PASSWORD_GENERATE,
                        /* libsodium's "interactive" Argon2id cost: about 0.5 s and 64 MiB on a
                         * Raspberry Pi 3 (hub-identityd(8) has the figures). */
                        .hash_iterations = 2,
                        .hash_memory_mib = 64,
                        .throttle_base_sec = 1,
                        .throttle_max_sec = 300,
                        .lockout_after_failures = 10,
                        .lockout_sec = 900,
                        .failure_reset_sec = 3600,
                },
                .telemetry = {
                        .device_broker_port = 1883,
                        .max_payload_bytes = 4096,
                        .device_rate_per_sec = 10,
                        .device_burst = 50,
                        .cloud_broker_port = 8883,
                        .connect_timeout_sec = 10,
                        .reconnect_min_sec = 1,
                        .reconnect_max_sec = 300,
                        .drain_rate_per_sec = 500,
                        .outbox_max_messages = 100000,
                        .outbox_max_mib = 64,
                        .security_max_messages = 10000,
                        .metrics_interval_sec = 60,
                        .anomaly_threshold_percent = 70,
                        .anomaly_warmup_samples = 100,
                        .anomaly_hold_sec = 900,
                        .anomaly_alerts_per_hour = 5,
                        .anomaly_failed_login_burst = 10,
                        .anomaly_failed_login_window_sec = 60,
                        .anomaly_new_destinations_per_hour = 20,
                        .anomaly_device_fields_max = 256,
                        .anomaly_save_interval_sec = 300,
                },
        };
        /* Strings with a default: allocated, so that config_done() and a later value can free them. */
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                c->domain[d].log_level = -1;
}

int config_init_defaults(HubConfig *c) {
        static const struct {
                size_t offset;
                const char *value;
        } defaults[] = {
                { offsetof(HubConfig, telemetry.device_broker_host), "127.0.0.1" },
                { offsetof(HubConfig, telemetry.device_topic_pattern), "devices/+/telemetry" },
                { offsetof(HubConfig, telemetry.cloud_tls_min_version), "tls1.2" },
                { offsetof(HubConfig, telemetry.cloud_topic_prefix), "hubguard" },
                { offsetof(HubConfig, telemetry.anomaly_daily_profile), "device/*/data/* hub/temperature/*" },
        };

        config_init(c);
        for (size_t i = 0; i < ELEMENTSOF(defaults); i++) {
                char **field = (char **) ((char *) c + defaults[i].offset);

                *field = strdup(defaults[i].value);
                if (!*field) {
                        config_done(c);
                        return -ENOMEM;
                }
        }
        return 0;
}

void config_done(HubConfig *c) {
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                const ConfKey *k = &conf_keys[i];

                if (k->type == CONF_STRING)
                        *FIELD(c, k, char *) = mfree(*FIELD(c, k, char *));
                else if (k->type == CONF_USERS)
                        *FIELD(c, k, char **) = strv_free(*FIELD(c, k, char **));
        }
}

static char **strv_copy(char *const *l) {
        size_t n = 0;
        char **copy;

        for (char *const *i = l; i && *i; i++)
                n++;
        copy = calloc(n + 1, sizeof(char *));
        if (!copy)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                copy[i] = strdup(l[i]);
                if (!copy[i])
                        return strv_free(copy);
        }
        return copy;
}

int config_copy(HubConfig *dst, const HubConfig *src) {
        *dst = *src;
        /* Every pointer first to NULL, so a failure half way leaves something config_done() can free. */
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                const ConfKey *k = &conf_keys[i];

                if (k->type == CONF_STRING)
                        *FIELD(dst, k, char *) = NULL;
                else if (k->type == CONF_USERS)
                        *FIELD(dst, k, char **) = NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                const ConfKey *k = &conf_keys[i];
                const void *from = (const char *) src + k->offset;

                if (k->type == CONF_STRING && *(char *const *) from) {
                        *FIELD(dst, k, char *) = strdup(*(char *const *) from);
                        if (!*FIELD(dst, k, char *))
                                goto fail;
                } else if (k->type == CONF_USERS && *(char **const *) from) {
                        *FIELD(dst, k, char **) = strv_copy(*(char **const *) from);
                        if (!*FIELD(dst, k, char **))
                                goto fail;
                }
        }
        return 0;
fail:
        config_done(dst);
        return -ENOMEM;
}

int config_log_level(const HubConfig *c, HubDomain d) {
        assert(d >= 0 && d < _HUB_DOMAIN_MAX);
        return c->domain[d].log_level >= 0 ? c->domain[d].log_level : c->general.log_level;
}

_printf_(4, 5) static int conf_fail(ConfigError *err, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;

        if (!err)
                return -EINVAL;
        (void) snprintf(err->file, sizeof err->file, "%s", file);
        err->line = line;
        va_start(ap, fmt);
        (void) vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

const char *config_error_format(const ConfigError *err, char *buf, size_t size) {
        if (err->line > 0)
                (void) snprintf(buf, size, "%s:%u: %s", err->file, err->line, err->message);
        else
                (void) snprintf(buf, size, "%s: %s", err->file, err->message);
        return buf;
}

/* A user name as useradd(8) takes it: [a-z_][a-z0-9_-]*, at most 32 characters. */
static bool user_name_is_valid(const char *s, size_t n) {
        if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static int parse_users(const char *value, char ***ret) {
        char **l = calloc(CONF_USERS_MAX + 1, sizeof(char *));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (const char *p = value; *p;) {
                size_t len;

                p += strspn(p, " \t");
                len = strcspn(p, " \t");
                if (len == 0)
                        break;
                if (n >= CONF_USERS_MAX || !user_name_is_valid(p, len)) {
                        strv_free(l);
                        return -EINVAL;
                }
                l[n] = strndup(p, len);
                if (!l[n++]) {
                        strv_free(l);
                        return -ENOMEM;
                }
                p += len;
        }
        if (n == 0)
                l = strv_free(l);
        strv_free(*ret);
        *ret = l;
        return 0;
}

static int parse_unsigned(const char *value, unsigned min, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        /* Decimal digits only: no sign, no white space, no "0x", no exponent. */
        if (value[0] < '0' || value[0] > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(value, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int parse_value(const ConfKey *k, const char *value, HubConfig *c) {
        int level;

        switch (k->type) {
        case CONF_LOG_LEVEL_INHERIT:
                if (streq(value, "inherit")) {
                        *FIELD(c, k, int) = -1;
                        return 0;
                }
                _fallthrough_;
        case CONF_LOG_LEVEL:
                /* Names only: a bare digit in a config file is too easy to misread. */
                level = log_level_from_string(value);
                if (level < 0 || (value[0] >= '0' && value[0] <= '9'))
                        return -EINVAL;
                *FIELD(c, k, int) = level;
                return 0;
        case CONF_UNSIGNED:
                return parse_unsigned(value, k->min, k->max, FIELD(c, k, unsigned));
        case CONF_FIRST_BOOT_PASSWORD:
                for (int i = 0; i < _FIRST_BOOT_PASSWORD_MAX; i++)
                        if (streq(value, first_boot_password_names[i])) {
                                *FIELD(c, k, FirstBootPassword) = (FirstBootPassword) i;
                                return 0;
                        }
                return -EINVAL;
        case CONF_STRING: {
                char *copy = NULL;

                if (value[0] != '\0' && !k->check(value))
                        return -EINVAL;
                if (value[0] != '\0' && !(copy = strdup(value)))
                        return -ENOMEM;
                free(*FIELD(c, k, char *));
                *FIELD(c, k, char *) = copy;
                return 0;
        }
        case CONF_USERS:
                return parse_users(value, FIELD(c, k, char **));
        }
        return -EINVAL;
}

static void value_hint(const ConfKey *k, char *buf, size_t size) {
        switch (k->type) {
        case CONF_LOG_LEVEL:
                (void) snprintf(buf, size, "one of emerg, alert, crit, err, warning, notice, info, debug");
                return;
        case CONF_LOG_LEVEL_INHERIT:
                (void) snprintf(buf, size, "one of emerg, alert, crit, err, warning, notice, info, debug, inherit");
                return;
        case CONF_UNSIGNED:
                (void) snprintf(buf, size, "a whole number from %u to %u", k->min, k->max);
                return;
        case CONF_FIRST_BOOT_PASSWORD:
                (void) snprintf(buf, size, "generate or none");
                return;
        case CONF_STRING:
                (void) snprintf(buf, size, "%s", k->hint);
                return;
        case CONF_USERS:
                (void) snprintf(buf, size, "up to %d user names separated by spaces", CONF_USERS_MAX);
                return;
        }
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = '\0';
        return s;
}

static bool section_known(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(conf_sections); i++)
                if (streq(s, conf_sections[i]))
                        return true;
        return false;
}

static const ConfKey *key_lookup(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++)
                if (streq(conf_keys[i].section, section) && streq(conf_keys[i].key, key))
                        return &conf_keys[i];
        return NULL;
}

/* One line, already NUL-terminated and stripped of its newline. */
static int parse_line(const char *name, unsigned lineno, char *line, char *section, size_t section_size,
                      unsigned *seen, HubConfig *c, ConfigError *err) {
        const ConfKey *k;
        char *eq, *key, *value, *l = strip(line);
        int r;

        if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                return 0;

        if (l[0] == '[') {
                size_t n = strlen(l);

                if (n < 3 || l[n - 1] != ']')
                        return conf_fail(err, name, lineno, "malformed section header (expected \"[name]\")");
                l[n - 1] = '\0';
                if (!section_known(l + 1))
                        return conf_fail(err, name, lineno,
                                         "unknown section [%s] (known: general, identity, telemetry, privacy)",
                                         l + 1);
                (void) snprintf(section, section_size, "%s", l + 1);
                return 0;
        }

        eq = strchr(l, '=');
        if (!eq)
                return conf_fail(err, name, lineno, "expected \"Key=Value\", \"[section]\" or a comment");
        *eq = '\0';
        key = strip(l);
        value = strip(eq + 1);
        if (key[0] == '\0')
                return conf_fail(err, name, lineno, "missing key before '='");
        if (section[0] == '\0')
                return conf_fail(err, name, lineno, "key '%s' outside of any section", key);

        k = key_lookup(section, key);
        if (!k)
                return conf_fail(err, name, lineno, "unknown key '%s' in section [%s]", key, section);
        if (seen[k - conf_keys] != 0)
                return conf_fail(err, name, lineno, "key '%s' in section [%s] already set at line %u", key,
                                 section, seen[k - conf_keys]);
        seen[k - conf_keys] = lineno;

        r = parse_value(k, value, c);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                char hint[96];

                value_hint(k, hint, sizeof hint);
                return conf_fail(err, name, lineno, "invalid value '%s' for %s (expected %s)", value, key, hint);
        }
        return 0;
}

int config_parse_buffer(const char *name, const char *data, size_t len, HubConfig *c, ConfigError *err) {
        unsigned seen[ELEMENTSOF(conf_keys)] = {};
        char section[64] = "", line[CONF_LINE_MAX + 1];
        HubConfig tmp;
        unsigned lineno = 0;
        const char *nul;
        size_t pos = 0;
        int r;

        if (len > CONF_FILE_MAX)
                return conf_fail(err, name, 0, "file larger than %d bytes", CONF_FILE_MAX);
        nul = memchr(data, '\0', len);
        if (nul) {
                /* Name the line like every other content error: the one the NUL is on. */
                for (const char *p = data; p < nul; p++)
                        lineno += *p == '\n';
                return conf_fail(err, name, lineno + 1, "file contains a NUL byte");
        }

        r = config_copy(&tmp, c);
        if (r < 0)
                return r;
        while (pos < len) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - (data + pos)) : len - pos;

                lineno++;
                if (n > CONF_LINE_MAX)
                        r = conf_fail(err, name, lineno, "line longer than %d bytes", CONF_LINE_MAX);
                else if (!utf8_is_valid(data + pos, n))
                        r = conf_fail(err, name, lineno, "line is not valid UTF-8");
                else {
                        memcpy(line, data + pos, n);
                        line[n] = '\0';
                        r = parse_line(name, lineno, line, section, sizeof section, seen, &tmp, err);
                }
                if (r < 0) {
                        config_done(&tmp);
                        return r;
                }
                pos += n + (nl ? 1 : 0);
        }

        config_done(c);
        *c = tmp;
        return 0;
}

static int conf_io_fail(ConfigError *err, const char *path, int r, const char *what) {
        if (err) {
                (void) snprintf(err->file, sizeof err->file, "%s", path);
                err->line = 0;
                (void) snprintf(err->message, sizeof err->message, "%s: %s", what, strerror(-r));
        }
        return r;
}

static int load_file(const char *path, bool optional, HubConfig *c, ConfigError *err) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_file_bounded(path, CONF_FILE_MAX, &data, &size);
        if (r == -ENOENT && optional)
                return 0;
        if (r == -EFBIG)
                return conf_fail(err, path, 0, "file larger than %d bytes", CONF_FILE_MAX);
        if (r < 0)
                return conf_io_fail(err, path, r, "cannot read");
        return config_parse_buffer(path, data, size, c, err);
}

static int dropin_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && streq(de->d_name + n - 5, ".conf");
}

/* What one key cannot say alone. */
static int config_verify(const HubConfig *c, const char *confdir, ConfigError *err) {
        const typeof(c->telemetry) *t = &c->telemetry;

        if (c->identity.throttle_max_sec < c->identity.throttle_base_sec)
                return conf_fail(err, confdir, 0, "[identity] ThrottleMaxSec=%u is less than ThrottleBaseSec=%u",
                                 c->identity.throttle_max_sec, c->identity.throttle_base_sec);
        if (t->reconnect_max_sec < t->reconnect_min_sec)
                return conf_fail(err, confdir, 0, "[telemetry] ReconnectMaxSec=%u is less than ReconnectMinSec=%u",
                                 t->reconnect_max_sec, t->reconnect_min_sec);
        if (t->security_max_messages > t->outbox_max_messages)
                return conf_fail(err, confdir, 0,
                                 "[telemetry] SecurityEventsMaxMessages=%u is more than OutboxMaxMessages=%u",
                                 t->security_max_messages, t->outbox_max_messages);
        /* No plaintext fallback: a cloud broker is reached over TLS with a CA to check it, or not at all. */
        if (t->cloud_broker_host && !t->cloud_ca_file)
                return conf_fail(err, confdir, 0,
                                 "[telemetry] CloudBrokerHost= is set but CloudCAFile= is not: hubguard only talks to "
                                 "a cloud broker over TLS, verified against that CA");
        if (!t->device_topic_pattern || !t->cloud_tls_min_version || !t->cloud_topic_prefix)
                return conf_fail(err, confdir, 0,
                                 "[telemetry] DeviceTopicPattern=, CloudTLSMinVersion= and CloudTopicPrefix= "
                                 "cannot be empty");
        if (!t->device_broker_user != !t->device_broker_password_file)
                return conf_fail(err, confdir, 0,
                                 "[telemetry] DeviceBrokerUser= and DeviceBrokerPasswordFile= go together");
        return 0;
}

int config_load(const char *confdir, HubConfig *c, ConfigError *err) {
        char path[PATH_MAX], dir[PATH_MAX];
        struct dirent **list = NULL;
        HubConfig tmp;
        int n = 0, r;

        if (!confdir)
                confdir = CONF_DIR_DEFAULT;
        r = config_init_defaults(&tmp);
        if (r < 0)
                return r;

        if (snprintf(path, sizeof path, "%s/hubguard.conf", confdir) >= (int) sizeof path ||
            snprintf(dir, sizeof dir, "%s/hubguard.conf.d", confdir) >= (int) sizeof dir) {
                r = conf_fail(err, confdir, 0, "configuration directory path too long");
                goto fail;
        }
        r = load_file(path, true, &tmp, err);
        if (r < 0)
                goto fail;

        n = scandir(dir, &list, dropin_filter, alphasort);
        if (n < 0) {
                r = negative_errno();
                if (r != -ENOENT) {
                        (void) conf_io_fail(err, dir, r, "cannot list drop-in directory");
                        goto fail;
                }
                n = 0; /* no drop-in directory: nothing to add */
                r = 0;
        }
        if (n > CONF_DROPINS_MAX) {
                r = conf_fail(err, dir, 0, "more than %d drop-in files", CONF_DROPINS_MAX);
                goto fail;
        }
        for (int i = 0; i < n && r >= 0; i++) {
                if (snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) >= (int) sizeof path)
                        r = conf_fail(err, dir, 0, "drop-in path too long");
                else
                        r = load_file(path, false, &tmp, err);
        }
        if (r < 0)
                goto fail;
        /* What one key cannot say alone. */
        r = config_verify(&tmp, confdir, err);
        if (r < 0)
                goto fail;

        config_done(c);
        *c = tmp;
        r = 0;
fail:
        for (int i = 0; list && i < n; i++)
                free(list[i]);
        free(list);
        if (r < 0)
                config_done(&tmp);
        return r;
}

static const char *level_value(int level) {
        return level < 0 ? "inherit" : log_level_to_string(level);
}

void config_dump(const HubConfig *c, FILE *f) {
        const char *section = NULL;

        for (size_t i = 0; i < ELEMENTSOF(conf_keys); i++) {
                const ConfKey *k = &conf_keys[i];
                const void *v = (const char *) c + k->offset;

                if (!section || !streq(section, k->section)) {
                        fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
                        section = k->section;
                }
                fprintf(f, "%s=", k->key);
                switch (k->type) {
                case CONF_LOG_LEVEL:
                case CONF_LOG_LEVEL_INHERIT:
                        fputs(level_value(*(const int *) v), f);
                        break;
                case CONF_UNSIGNED:
                        fprintf(f, "%u", *(const unsigned *) v);
                        break;
                case CONF_FIRST_BOOT_PASSWORD:
                        fputs(first_boot_password_names[*(const FirstBootPassword *) v], f);
                        break;
                case CONF_STRING:
                        fputs(strempty(*(char *const *) v), f);
                        break;
                case CONF_USERS:
                        for (char *const *u = *(char **const *) v; u && *u; u++)
                                fprintf(f, "%s%s", u == *(char **const *) v ? "" : " ", *u);
                        break;
                }
                fputc('\n', f);
        }
}
