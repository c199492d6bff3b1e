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
} ConfType;

typedef struct ConfKey {
        const char *section;
        const char *key;
        ConfType type;
        size_t offset;
} ConfKey;

#define DOMAIN_KEYS(d, name)                                                                              \
        { name, "LogLevel", CONF_LOG_LEVEL_INHERIT, offsetof(HubConfig, domain[d].log_level) }

static const ConfKey conf_keys[] = {
        { "general", "LogLevel", CONF_LOG_LEVEL, offsetof(HubConfig, general.log_level) },
        DOMAIN_KEYS(HUB_DOMAIN_IDENTITY, "identity"),
        DOMAIN_KEYS(HUB_DOMAIN_TELEMETRY, "telemetry"),
        DOMAIN_KEYS(HUB_DOMAIN_PRIVACY, "privacy"),
};

static const char *const conf_sections[] = { "general", "identity", "telemetry", "privacy" };

void config_init(HubConfig *c) {
        *c = (HubConfig) { .general.log_level = LOG_INFO };
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                c->domain[d].log_level = -1;
}

void config_done(HubConfig *c) {
        /* Nothing is allocated yet; string-valued keys will be freed here. */
        (void) c;
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

static int parse_value(const ConfKey *k, const char *value, HubConfig *c) {
        int *field = (int *) ((char *) c + k->offset);
        int level;

        switch (k->type) {
        case CONF_LOG_LEVEL_INHERIT:
                if (streq(value, "inherit")) {
                        *field = -1;
                        return 0;
                }
                _fallthrough_;
        case CONF_LOG_LEVEL:
                /* Names only: a bare digit in a config file is too easy to misread. */
                level = log_level_from_string(value);
                if (level < 0 || (value[0] >= '0' && value[0] <= '9'))
                        return -EINVAL;
                *field = level;
                return 0;
        }
        return -EINVAL;
}

static const char *value_hint(ConfType t) {
        switch (t) {
        case CONF_LOG_LEVEL:
                return "one of emerg, alert, crit, err, warning, notice, info, debug";
        case CONF_LOG_LEVEL_INHERIT:
                return "one of emerg, alert, crit, err, warning, notice, info, debug, inherit";
        }
        return "a valid value";
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

        if (parse_value(k, value, c) < 0)
                return conf_fail(err, name, lineno, "invalid value '%s' for %s (expected %s)", value, key,
                                 value_hint(k->type));
        return 0;
}

int config_parse_buffer(const char *name, const char *data, size_t len, HubConfig *c, ConfigError *err) {
        unsigned seen[ELEMENTSOF(conf_keys)] = {};
        char section[64] = "", line[CONF_LINE_MAX + 1];
        HubConfig tmp = *c; /* plain values only, see config_done() */
        unsigned lineno = 0;
        size_t pos = 0;
        int r;

        if (len > CONF_FILE_MAX)
                return conf_fail(err, name, 0, "file larger than %d bytes", CONF_FILE_MAX);
        if (memchr(data, '\0', len))
                return conf_fail(err, name, 0, "file contains a NUL byte");

        while (pos < len) {
                const char *nl = memchr(data + pos, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - (data + pos)) : len - pos;

                lineno++;
                if (n > CONF_LINE_MAX)
                        return conf_fail(err, name, lineno, "line longer than %d bytes", CONF_LINE_MAX);
                if (!utf8_is_valid(data + pos, n))
                        return conf_fail(err, name, lineno, "line is not valid UTF-8");
                memcpy(line, data + pos, n);
                line[n] = '\0';
                r = parse_line(name, lineno, line, section, sizeof section, seen, &tmp, err);
                if (r < 0)
                        return r;
                pos += n + (nl ? 1 : 0);
        }

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

int config_load(const char *confdir, HubConfig *c, ConfigError *err) {
        char path[PATH_MAX], dir[PATH_MAX];
        struct dirent **list = NULL;
        HubConfig tmp;
        int n = 0, r;

        if (!confdir)
                confdir = CONF_DIR_DEFAULT;
        config_init(&tmp);

        if (snprintf(path, sizeof path, "%s/hubguard.conf", confdir) >= (int) sizeof path ||
            snprintf(dir, sizeof dir, "%s/hubguard.conf.d", confdir) >= (int) sizeof dir)
                return conf_fail(err, confdir, 0, "configuration directory path too long");
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
                const int *v = (const int *) ((const char *) c + k->offset);

                if (!section || !streq(section, k->section)) {
                        fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
                        section = k->section;
                }
                switch (k->type) {
                case CONF_LOG_LEVEL:
                case CONF_LOG_LEVEL_INHERIT:
                        fprintf(f, "%s=%s\n", k->key, level_value(*v));
                        break;
                }
        }
}
