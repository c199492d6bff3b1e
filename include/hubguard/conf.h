/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * hubguard.conf: one file plus drop-ins, one section per domain (hubguard.conf(5)).
 *
 *   CONFDIR/hubguard.conf                   optional: missing means built-in defaults
 *   CONFDIR/hubguard.conf.d/NAME.conf       read in lexical order of NAME, after the main file
 *
 * Syntax: "[section]" headers, "Key=Value" assignments, '#' or ';' comment lines. Whitespace around
 * keys and values is ignored; values are taken literally (no quotes, no inline comments, no
 * continuation lines). An unknown section or key, a bad value, a key set twice in one file, a line
 * longer than CONF_LINE_MAX, invalid UTF-8 or a NUL byte are errors that name the file and line.
 * Later files override earlier ones key by key. A failed load leaves the caller's HubConfig as it was.
 */

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

#define CONF_DIR_DEFAULT CONF_DIR /* sysconfdir/hubguard, from meson */
#define CONF_FILE_MAX (1024 * 1024)
#define CONF_LINE_MAX 4096
#define CONF_DROPINS_MAX 256

typedef enum HubDomain {
        HUB_DOMAIN_IDENTITY,
        HUB_DOMAIN_TELEMETRY,
        HUB_DOMAIN_PRIVACY,
        _HUB_DOMAIN_MAX,
        _HUB_DOMAIN_INVALID = -EINVAL,
} HubDomain;

const char *hub_domain_to_string(HubDomain d);
HubDomain hub_domain_from_string(const char *s);

typedef enum FirstBootPassword {
        FIRST_BOOT_PASSWORD_GENERATE, /* a unique random password, revealed once to root */
        FIRST_BOOT_PASSWORD_NONE,     /* none: locked until the owner sets one */
        _FIRST_BOOT_PASSWORD_MAX,
        _FIRST_BOOT_PASSWORD_INVALID = -EINVAL,
} FirstBootPassword;

/* Most user names VerifyPasswordUsers= and AppUsers= may list. */
#define CONF_USERS_MAX 32

typedef struct HubConfig {
        struct {
                int log_level; /* syslog level */
        } general;
        struct {
                FirstBootPassword first_boot_password;
                unsigned hash_iterations;         /* Argon2id passes (libsodium opslimit) */
                unsigned hash_memory_mib;         /* Argon2id memory */
                unsigned throttle_base_sec;       /* delay after the first failure, doubling */
                unsigned throttle_max_sec;        /* cap of that delay */
                unsigned lockout_after_failures;
                unsigned lockout_sec;
                unsigned failure_reset_sec;       /* failures older than this are forgotten */
                char **verify_password_users;     /* NULL-terminated, or NULL */
                char *ca_file;                    /* NULL: not configured */
        } identity;
        struct {
                char *device_broker_host;
                unsigned device_broker_port;
                char *device_broker_user;          /* NULL: anonymous */
                char *device_broker_password_file;
                char *device_topic_pattern;        /* one '+' level: the device id */
                unsigned max_payload_bytes;
                unsigned device_rate_per_sec;      /* token bucket per device */
                unsigned device_burst;
                char *cloud_broker_host;           /* NULL: no cloud link, the outbox keeps everything */
                unsigned cloud_broker_port;
                char *cloud_ca_file;               /* required with cloud_broker_host */
                char *cloud_tls_min_version;       /* "tls1.2" or "tls1.3" */
                char *cloud_alpn;                  /* NULL: none */
                char *cloud_topic_prefix;
                unsigned connect_timeout_sec;
                unsigned reconnect_min_sec, reconnect_max_sec;
                unsigned drain_rate_per_sec;       /* 0: unlimited */
                unsigned outbox_max_messages;
                unsigned outbox_max_mib;
                unsigned security_max_messages;
                unsigned metrics_interval_sec;     /* 0: no hub metrics */
                /* Anomaly scoring (hub-telemetryd(8) ANOMALY DETECTION). */
                unsigned anomaly_threshold_percent; /* score (in %) that raises an alert */
                unsigned anomaly_warmup_samples;   /* samples a detector learns from before it scores */
                unsigned anomaly_hold_sec;         /* an incident ends after this long below the clear level */
                unsigned anomaly_alerts_per_hour;  /* new incidents per group that may alert, per hour */
                unsigned anomaly_failed_login_burst; /* more failed logins than this ... */
                unsigned anomaly_failed_login_window_sec; /* ... within this many seconds always alert */
                unsigned anomaly_new_destinations_per_hour; /* more new outbound destinations per hour alert */
                unsigned anomaly_device_fields_max; /* (device, field) detectors tracked at most */
                unsigned anomaly_save_interval_sec; /* detector state saved this often (and at stop) */
                char *anomaly_ignore;              /* NULL, or white-space separated fnmatch() patterns */
                char *anomaly_daily_profile;       /* metrics that learn a daily profile: patterns, or NULL */
        } telemetry;
        struct {
                char **app_users;                  /* hub apps' users that may store and read records */
        } privacy;
        /* Per-domain settings. log_level < 0 means "as [general]". */
        struct {
                int log_level;
        } domain[_HUB_DOMAIN_MAX];
} HubConfig;

typedef struct ConfigError {
        char file[PATH_MAX]; /* the file the error is in (or the directory, for a listing error) */
        unsigned line;    /* 1-based, 0 when the error is not about one line */
        char message[256];
} ConfigError;

/*
 * Fill c with the built-in defaults. config_init() leaves string keys NULL and cannot fail;
 * config_init_defaults() also sets the string defaults (it is what config_load() starts from).
 */
void config_init(HubConfig *c);
int config_init_defaults(HubConfig *c);

/* Validators of config values that the daemons also apply to their input. */
bool topic_prefix_is_valid(const char *s);
bool device_topic_pattern_is_valid(const char *s);
/* AnomalyIgnore=, AnomalyDailyProfile=: 1-CONF_ANOMALY_IGNORE_MAX patterns of 1-128 printable ASCII characters, split at spaces. */
#define CONF_ANOMALY_IGNORE_MAX 64
bool anomaly_ignore_is_valid(const char *s);
/* Free what c holds (it can be config_init()ed again). */
void config_done(HubConfig *c);
/* Deep copy: dst is overwritten (not freed) and must be config_done()d. Returns 0 or -ENOMEM. */
int config_copy(HubConfig *dst, const HubConfig *src);

/* The log level in force for domain d. */
int config_log_level(const HubConfig *c, HubDomain d);

/*
 * Load CONFDIR (NULL for CONF_DIR_DEFAULT) over the defaults into *c. Returns 0, or a negative errno
 * with *err describing the first problem (-EINVAL: bad content; other errnos: I/O). Keys that must
 * agree with each other are checked once all files are read; such an error names CONFDIR, line 0.
 */
int config_load(const char *confdir, HubConfig *c, ConfigError *err);

/*
 * Parse one file's content (len bytes, need not be NUL-terminated) over *c. name is used in errors.
 * On failure *c is unchanged. Returns 0, -EINVAL, or -ENOMEM.
 */
int config_parse_buffer(const char *name, const char *data, size_t len, HubConfig *c, ConfigError *err);

/* Print the effective configuration as a complete, loadable hubguard.conf. */
void config_dump(const HubConfig *c, FILE *f);

/* "FILE:LINE: MESSAGE" (or "FILE: MESSAGE") into buf. */
const char *config_error_format(const ConfigError *err, char *buf, size_t size);
