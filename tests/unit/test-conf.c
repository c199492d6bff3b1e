/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <syslog.h>

#include "common.h"
#include "hubguard/conf.h"

/* Parse a string literal as file "test.conf" over *c. */
#define PARSE(lit, c, err) config_parse_buffer("test.conf", (lit), sizeof(lit) - 1, (c), (err))

#define HINT "one of emerg, alert, crit, err, warning, notice, info, debug"

typedef struct Fixture {
        char *dir;         /* the configuration directory, empty at the start of each test */
        char *dropin_dir;  /* dir/hubguard.conf.d, not created */
        char *main_file;   /* dir/hubguard.conf, not created */
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-conf");
        f->dropin_dir = path_join(f->dir, "hubguard.conf.d");
        f->main_file = path_join(f->dir, "hubguard.conf");
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        caps_restore();
        rm_rf_free(f->dir);
        free(f->dropin_dir);
        free(f->main_file);
        free(f);
        return 0;
}

static void make_dropin(Fixture *f, const char *name, const char *content) {
        _cleanup_free_ char *p = path_join(f->dropin_dir, name);

        if (mkdir(f->dropin_dir, 0755) < 0)
                assert_int_equal(errno, EEXIST);
        write_string_or_die(p, content);
}

/* A configuration that differs from the defaults in every field. */
static void config_set_all(HubConfig *c) {
        assert_int_equal(config_init_defaults(c), 0);
        c->general.log_level = LOG_CRIT;
        c->domain[HUB_DOMAIN_IDENTITY].log_level = LOG_DEBUG;
        c->domain[HUB_DOMAIN_TELEMETRY].log_level = LOG_WARNING;
        c->domain[HUB_DOMAIN_PRIVACY].log_level = LOG_EMERG;
}

static void assert_error(const ConfigError *err, const char *file, unsigned line, const char *message) {
        assert_string_equal(err->file, file);
        assert_int_equal(err->line, line);
        assert_string_equal(err->message, message);
}

/* ---------------------------------------------------------------------------------------------------
 * hub_domain_to_string(), hub_domain_from_string()
 */

static void test_domain_round_trip(void **state) {
        for (HubDomain d = 0; d < _HUB_DOMAIN_MAX; d++)
                assert_int_equal(hub_domain_from_string(hub_domain_to_string(d)), d);
        assert_string_equal(hub_domain_to_string(HUB_DOMAIN_IDENTITY), "identity");
        assert_string_equal(hub_domain_to_string(HUB_DOMAIN_TELEMETRY), "telemetry");
        assert_string_equal(hub_domain_to_string(HUB_DOMAIN_PRIVACY), "privacy");
}

static void test_domain_invalid(void **state) {
        assert_null(hub_domain_to_string(_HUB_DOMAIN_MAX));
        assert_null(hub_domain_to_string(_HUB_DOMAIN_INVALID));
        assert_int_equal(hub_domain_from_string("general"), -EINVAL);
        assert_int_equal(hub_domain_from_string("Identity"), -EINVAL);
        assert_int_equal(hub_domain_from_string(""), -EINVAL);
        assert_int_equal(hub_domain_from_string(NULL), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------------
 * config_init(), config_log_level()
 */

static void test_init_defaults(void **state) {
        _cleanup_(config_done) HubConfig c = {};

        memset(&c, 0x55, sizeof c);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(c.general.log_level, LOG_INFO);
        for (HubDomain d = 0; d < _HUB_DOMAIN_MAX; d++) {
                assert_int_equal(c.domain[d].log_level, -1);
                assert_int_equal(config_log_level(&c, d), LOG_INFO);
        }
        config_done(&c);
}

static void test_log_level_inherits_general(void **state) {
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        c.general.log_level = LOG_WARNING;
        c.domain[HUB_DOMAIN_PRIVACY].log_level = LOG_DEBUG;
        assert_int_equal(config_log_level(&c, HUB_DOMAIN_IDENTITY), LOG_WARNING);
        assert_int_equal(config_log_level(&c, HUB_DOMAIN_PRIVACY), LOG_DEBUG);
        /* LOG_EMERG is 0: a real level, not "unset". */
        c.domain[HUB_DOMAIN_TELEMETRY].log_level = LOG_EMERG;
        assert_int_equal(config_log_level(&c, HUB_DOMAIN_TELEMETRY), LOG_EMERG);
}

/* ---------------------------------------------------------------------------------------------------
 * config_parse_buffer()
 */

static void test_parse_sets_values(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=debug\n[privacy]\nLogLevel=err\n", &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_DEBUG);
        assert_int_equal(c.domain[HUB_DOMAIN_PRIVACY].log_level, LOG_ERR);
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, -1);
}

static void test_parse_every_level_name(void **state) {
        static const char *const names[] = { "emerg", "alert", "crit", "err",
                                             "warning", "notice", "info", "debug" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                ConfigError err = {};
                _cleanup_(config_done) HubConfig c = {};
                char buf[64];
                int n = snprintf(buf, sizeof buf, "[telemetry]\nLogLevel=%s\n", names[i]);

                assert_int_equal(config_init_defaults(&c), 0);
                assert_int_equal(config_parse_buffer("t", buf, (size_t) n, &c, &err), 0);
                assert_int_equal(c.domain[HUB_DOMAIN_TELEMETRY].log_level, (int) i);
        }
}

static void test_parse_inherit(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        config_set_all(&c);
        assert_int_equal(PARSE("[identity]\nLogLevel=inherit\n", &c, &err), 0);
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, -1);
        assert_int_equal(config_log_level(&c, HUB_DOMAIN_IDENTITY), LOG_CRIT);
}

static void test_parse_inherit_not_in_general(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=inherit\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2,
                     "invalid value 'inherit' for LogLevel (expected " HINT ")");
}

static void test_parse_refuses_digits(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=7\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2,
                     "invalid value '7' for LogLevel (expected " HINT ")");
        assert_int_equal(c.general.log_level, LOG_INFO);
}

static void test_parse_values_are_case_sensitive(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[privacy]\nLogLevel=Debug\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2,
                     "invalid value 'Debug' for LogLevel (expected " HINT ", inherit)");
}

static void test_parse_empty_value(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=  \n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2,
                     "invalid value '' for LogLevel (expected " HINT ")");
}

static void test_parse_empty_and_comments(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig d = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_init_defaults(&d), 0);
        assert_int_equal(config_parse_buffer("test.conf", "", 0, &c, &err), 0);
        assert_int_equal(PARSE("# comment\n; comment\n\n   \t\n  # indented\n[general]\n#LogLevel=debug\n",
                               &c, &err),
                         0);
        assert_config_equal(&c, &d);
}

static void test_parse_whitespace(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("  [general]  \n\t LogLevel \t=\t notice \t\n", &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_NOTICE);
}

static void test_parse_crlf(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("# x\r\n[general]\r\nLogLevel=warning\r\n\r\n[identity]\r\nLogLevel=crit\r\n",
                               &c, &err),
                         0);
        assert_int_equal(c.general.log_level, LOG_WARNING);
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, LOG_CRIT);
}

static void test_parse_no_final_newline(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=alert", &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_ALERT);
}

static void test_parse_not_nul_terminated(void **state) {
        /* The buffer is taken by length: the "x" after it is not part of the value. */
        static const char data[] = "[general]\nLogLevel=errx";
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        char *p = malloc(sizeof data - 2);

        assert_non_null(p);
        memcpy(p, data, sizeof data - 2);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_parse_buffer("test.conf", p, sizeof data - 2, &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_ERR);
        free(p);
}

static void test_parse_unknown_key(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\n\nLogLevel=info\nLogTarget=journal\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 4, "unknown key 'LogTarget' in section [general]");
}

static void test_parse_keys_are_case_sensitive(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nloglevel=info\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2, "unknown key 'loglevel' in section [general]");
}

static void test_parse_unknown_section(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("# c\n[General]\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2,
                     "unknown section [General] (known: general, identity, telemetry, privacy)");
}

static void test_parse_malformed_section(void **state) {
        static const char *const bad[] = { "[general", "[]", "[", "[general]x", "[general] ]x" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ConfigError err = {};
                _cleanup_(config_done) HubConfig c = {};

                assert_int_equal(config_init_defaults(&c), 0);
                assert_int_equal(config_parse_buffer("m.conf", bad[i], strlen(bad[i]), &c, &err), -EINVAL);
                assert_error(&err, "m.conf", 1, "malformed section header (expected \"[name]\")");
        }
}

static void test_parse_key_outside_section(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("# no section yet\nLogLevel=info\n[general]\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2, "key 'LogLevel' outside of any section");
}

static void test_parse_missing_key(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\n  =info\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2, "missing key before '='");
}

static void test_parse_no_equals(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel info\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 2, "expected \"Key=Value\", \"[section]\" or a comment");
}

static void test_parse_duplicate_key(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=info\n[identity]\n[general]\nLogLevel=debug\n", &c,
                               &err),
                         -EINVAL);
        assert_error(&err, "test.conf", 5, "key 'LogLevel' in section [general] already set at line 2");
        assert_int_equal(c.general.log_level, LOG_INFO);
}

static void test_parse_same_key_other_section(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=info\n[identity]\nLogLevel=debug\n", &c, &err), 0);
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, LOG_DEBUG);
}

static void test_parse_later_buffer_overrides(void **state) {
        /* "Set twice" is per file: a second file may set the key again. */
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=info\n", &c, &err), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=debug\n", &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_DEBUG);
}

static void test_parse_line_too_long(void **state) {
        _cleanup_free_ char *data = malloc(CONF_LINE_MAX + 32);
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        size_t n;

        assert_non_null(data);
        /* A comment line of exactly CONF_LINE_MAX bytes is fine ... */
        n = (size_t) snprintf(data, CONF_LINE_MAX + 32, "[general]\n");
        memset(data + n, '#', CONF_LINE_MAX);
        n += CONF_LINE_MAX;
        data[n++] = '\n';
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_parse_buffer("long.conf", data, n, &c, &err), 0);

        /* ... one byte more is not, even in the last line without a newline. */
        data[n - 1] = '#';
        assert_int_equal(config_parse_buffer("long.conf", data, n, &c, &err), -EINVAL);
        assert_error(&err, "long.conf", 2, "line longer than 4096 bytes");
}

static void test_parse_nul_byte(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=debug\n# a\0b\n", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 3, "file contains a NUL byte");
        assert_int_equal(c.general.log_level, LOG_INFO);
}

static void test_parse_nul_byte_first_line(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("\0", &c, &err), -EINVAL);
        assert_error(&err, "test.conf", 1, "file contains a NUL byte");
}

static void test_parse_invalid_utf8(void **state) {
        static const char *const bad[] = {
                "# caf\xe9\n",           /* Latin-1 */
                "# \xc0\xaf\n",          /* overlong */
                "# \xed\xa0\x80\n",      /* surrogate */
                "# \xf4\x90\x80\x80\n",  /* above U+10FFFF */
                "# \xe2\x82\n",          /* truncated */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *data = NULL;
                ConfigError err = {};
                _cleanup_(config_done) HubConfig c = {};

                assert_true(asprintf(&data, "[general]\nLogLevel=err\n%s", bad[i]) > 0);
                assert_int_equal(config_init_defaults(&c), 0);
                assert_int_equal(config_parse_buffer("u.conf", data, strlen(data), &c, &err), -EINVAL);
                assert_error(&err, "u.conf", 3, "line is not valid UTF-8");
                assert_int_equal(c.general.log_level, LOG_INFO);
        }
}

static void test_parse_valid_utf8_in_comment(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("# K\xc3\xbc" "che \xe2\x82\xac \xf0\x9f\x92\xa1\n[general]\n", &c, &err), 0);
}

static void test_parse_file_too_large(void **state) {
        _cleanup_free_ char *data = malloc(CONF_FILE_MAX + 1);
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_non_null(data);
        memset(data, '\n', CONF_FILE_MAX + 1);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_parse_buffer("big.conf", data, CONF_FILE_MAX, &c, &err), 0);
        assert_int_equal(config_parse_buffer("big.conf", data, CONF_FILE_MAX + 1, &c, &err), -EINVAL);
        assert_error(&err, "big.conf", 0, "file larger than 1048576 bytes");
}

static void test_parse_failure_leaves_config(void **state) {
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig before = {};

        /* The first lines would change every field; the error on the last line must undo all of it. */
        config_set_all(&c);
        assert_int_equal(config_copy(&before, &c), 0);
        assert_int_equal(PARSE("[general]\nLogLevel=debug\n[identity]\nLogLevel=inherit\n"
                               "[telemetry]\nLogLevel=info\n[privacy]\nLogLevel=info\nBogus=1\n",
                               &c, &err),
                         -EINVAL);
        assert_int_equal(err.line, 9);
        assert_config_equal(&c, &before);
}

static void test_parse_null_error(void **state) {
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(PARSE("[nope]\n", &c, NULL), -EINVAL);
        assert_int_equal(PARSE("[general]\nLogLevel=crit\n", &c, NULL), 0);
        assert_int_equal(c.general.log_level, LOG_CRIT);
}

/* ---------------------------------------------------------------------------------------------------
 * config_error_format()
 */

static void test_error_format_with_line(void **state) {
        ConfigError err = { .file = "/etc/hubguard/hubguard.conf", .line = 12, .message = "unknown key" };
        char buf[512];

        assert_ptr_equal(config_error_format(&err, buf, sizeof buf), buf);
        assert_string_equal(buf, "/etc/hubguard/hubguard.conf:12: unknown key");
}

static void test_error_format_without_line(void **state) {
        ConfigError err = { .file = "/etc/hubguard/hubguard.conf.d", .line = 0, .message = "cannot list" };
        char buf[512];

        assert_string_equal(config_error_format(&err, buf, sizeof buf),
                            "/etc/hubguard/hubguard.conf.d: cannot list");
}

static void test_error_format_truncates(void **state) {
        ConfigError err = { .file = "abcdef", .line = 3, .message = "msg" };
        char buf[8];

        assert_string_equal(config_error_format(&err, buf, sizeof buf), "abcdef:");
}

/* ---------------------------------------------------------------------------------------------------
 * config_load()
 */

static void test_load_missing_everything(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig d = {};

        /* A directory with neither the main file nor drop-ins, and one that does not exist at all. */
        config_set_all(&c);
        assert_int_equal(config_init_defaults(&d), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_config_equal(&c, &d);

        config_done(&c);
        config_set_all(&c);
        assert_int_equal(config_load(f->main_file, &c, &err), 0);
        assert_config_equal(&c, &d);
}

static void test_load_main_file(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "[general]\nLogLevel=notice\n[telemetry]\nLogLevel=debug\n");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_NOTICE);
        assert_int_equal(c.domain[HUB_DOMAIN_TELEMETRY].log_level, LOG_DEBUG);
        assert_int_equal(c.domain[HUB_DOMAIN_PRIVACY].log_level, -1);
}

static void test_load_starts_from_defaults(void **state) {
        /* A load replaces the configuration; it does not merge into what the caller had. */
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "[privacy]\nLogLevel=err\n");
        config_set_all(&c);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_INFO);
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, -1);
        assert_int_equal(c.domain[HUB_DOMAIN_PRIVACY].log_level, LOG_ERR);
}

static void test_load_dropins_override_main(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "[general]\nLogLevel=notice\n[identity]\nLogLevel=crit\n");
        make_dropin(f, "50-debug.conf", "[general]\nLogLevel=debug\n");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_DEBUG);
        /* Key by key: what the drop-in does not set stays as the main file set it. */
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, LOG_CRIT);
}

static void test_load_dropins_lexical_order(void **state) {
        static const char *const levels[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info",
                                               "debug" };
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        /*
         * Eight drop-ins each set [general] and one domain's LogLevel, so that the result names the
         * last file read for four keys. Created in lexical order: tmpfs lists the newest first and
         * ext4 by hash, so directory order would not pass for lexical order.
         */
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                char name[32], content[128];
                const char *domain = hub_domain_to_string((HubDomain) (i % _HUB_DOMAIN_MAX));

                (void) snprintf(name, sizeof name, "%02zu-level.conf", i * 10);
                (void) snprintf(content, sizeof content, "[general]\nLogLevel=%s\n[%s]\nLogLevel=%s\n",
                                levels[i], domain, levels[i]);
                make_dropin(f, name, content);
        }
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_int_equal(c.general.log_level, LOG_DEBUG);                      /* from 70-level.conf */
        assert_int_equal(c.domain[HUB_DOMAIN_IDENTITY].log_level, LOG_INFO);   /* from 60-level.conf */
        assert_int_equal(c.domain[HUB_DOMAIN_TELEMETRY].log_level, LOG_DEBUG); /* from 70-level.conf */
        assert_int_equal(c.domain[HUB_DOMAIN_PRIVACY].log_level, LOG_NOTICE);  /* from 50-level.conf */
}

static void test_load_dropins_first_error_is_first_file(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *first = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        /* Each drop-in is broken; the error must come from the one read first, "a.conf". */
        for (char n = 'a'; n <= 'h'; n++) {
                char name[16];

                (void) snprintf(name, sizeof name, "%c.conf", n);
                make_dropin(f, name, "[nowhere]\n");
        }
        first = path_join(f->dropin_dir, "a.conf");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, first, 1,
                     "unknown section [nowhere] (known: general, identity, telemetry, privacy)");
}

static void test_load_dropins_without_main(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        make_dropin(f, "local.conf", "[telemetry]\nLogLevel=emerg\n");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_int_equal(c.domain[HUB_DOMAIN_TELEMETRY].log_level, LOG_EMERG);
}

static void test_load_ignores_other_names(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig d = {};

        /* Each of these holds an error: loading any of them would fail the test. */
        make_dropin(f, "backup.conf~", "bogus\n");
        make_dropin(f, "local.conf.dpkg-old", "bogus\n");
        make_dropin(f, ".hidden.conf", "bogus\n");
        make_dropin(f, ".conf", "bogus\n");
        make_dropin(f, "README", "bogus\n");
        make_dropin(f, "conf", "bogus\n");
        config_set_all(&c);
        assert_int_equal(config_init_defaults(&d), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_config_equal(&c, &d);
}

static void test_load_error_in_main_file(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "# main\n[general]\nLogLevel=info\n\nColour=blue\n");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, f->main_file, 5, "unknown key 'Colour' in section [general]");
}

static void test_load_error_in_dropin(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *bad = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "[general]\nLogLevel=info\n");
        make_dropin(f, "10-good.conf", "[general]\nLogLevel=debug\n");
        make_dropin(f, "20-bad.conf", "[identity]\nLogLevel=debug\n[cloud]\n");
        make_dropin(f, "30-good.conf", "[general]\nLogLevel=err\n");
        bad = path_join(f->dropin_dir, "20-bad.conf");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, bad, 3, "unknown section [cloud] (known: general, identity, telemetry, privacy)");
}

static void test_load_duplicate_key_in_dropin(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        make_dropin(f, "dup.conf", "[privacy]\nLogLevel=debug\n\nLogLevel=info\n");
        p = path_join(f->dropin_dir, "dup.conf");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, p, 4, "key 'LogLevel' in section [privacy] already set at line 2");
}

static void test_load_failure_leaves_config(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig before = {};

        write_string_or_die(f->main_file, "[general]\nLogLevel=debug\n[identity]\nLogLevel=inherit\n");
        make_dropin(f, "zz.conf", "[general]\nLogLevel=loud\n");
        config_set_all(&c);
        assert_int_equal(config_copy(&before, &c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_int_equal(err.line, 2);
        assert_config_equal(&c, &before);
}

static void test_load_unreadable_main_file(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig before = {};

        write_string_or_die(f->main_file, "[general]\nLogLevel=debug\n");
        assert_int_equal(chmod(f->main_file, 0), 0);
        /* Root reads any file: give up the override so the mode bites in CI too. */
        caps_drop_dac();
        config_set_all(&c);
        assert_int_equal(config_copy(&before, &c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EACCES);
        caps_restore();
        assert_error(&err, f->main_file, 0, "cannot read: Permission denied");
        assert_config_equal(&c, &before);
}

static void test_load_unreadable_dropin(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        make_dropin(f, "secret.conf", "[general]\nLogLevel=debug\n");
        p = path_join(f->dropin_dir, "secret.conf");
        assert_int_equal(chmod(p, 0), 0);
        caps_drop_dac();
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EACCES);
        caps_restore();
        assert_error(&err, p, 0, "cannot read: Permission denied");
}

static void test_load_unlistable_dropin_dir(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        make_dropin(f, "a.conf", "[general]\nLogLevel=debug\n");
        assert_int_equal(chmod(f->dropin_dir, 0), 0);
        caps_drop_dac();
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EACCES);
        caps_restore();
        assert_error(&err, f->dropin_dir, 0, "cannot list drop-in directory: Permission denied");
}

static void test_load_main_file_is_directory(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(mkdir(f->main_file, 0755), 0);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EISDIR);
        assert_error(&err, f->main_file, 0, "cannot read: Is a directory");
}

static void test_load_dropin_dir_is_file(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->dropin_dir, "[general]\n");
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -ENOTDIR);
        assert_error(&err, f->dropin_dir, 0, "cannot list drop-in directory: Not a directory");
}

static void test_load_main_file_symlink_loop(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        assert_int_equal(symlink("hubguard.conf", f->main_file), 0);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -ELOOP);
        assert_error(&err, f->main_file, 0, "cannot read: Too many levels of symbolic links");
}

static void test_load_main_file_dangling_symlink(void **state) {
        /* A dangling symlink is a missing file: the defaults apply. */
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig d = {};

        assert_int_equal(symlink("nowhere.conf", f->main_file), 0);
        config_set_all(&c);
        assert_int_equal(config_init_defaults(&d), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);
        assert_config_equal(&c, &d);
}

static void test_load_file_too_large(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};

        write_string_or_die(f->main_file, "");
        assert_int_equal(truncate(f->main_file, CONF_FILE_MAX + 1), 0);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, f->main_file, 0, "file larger than 1048576 bytes");
}

static void test_load_too_many_dropins(void **state) {
        Fixture *f = *state;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        char name[32];

        for (int i = 0; i < CONF_DROPINS_MAX; i++) {
                (void) snprintf(name, sizeof name, "%03d.conf", i);
                make_dropin(f, name, "");
        }
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_load(f->dir, &c, &err), 0);

        (void) snprintf(name, sizeof name, "%03d.conf", CONF_DROPINS_MAX);
        make_dropin(f, name, "");
        assert_int_equal(config_load(f->dir, &c, &err), -EINVAL);
        assert_error(&err, f->dropin_dir, 0, "more than 256 drop-in files");
}

/* ---------------------------------------------------------------------------------------------------
 * config_dump()
 */

static void test_dump_defaults(void **state) {
        _cleanup_free_ char *s = NULL;
        _cleanup_(config_done) HubConfig c = {};
        size_t n;

        assert_int_equal(config_init_defaults(&c), 0);
        s = dump_to_string(&c, &n);
        assert_string_equal(s, "[general]\nLogLevel=info\n\n"
                               "[identity]\nLogLevel=inherit\n"
                               "FirstBootPassword=generate\nPasswordHashIterations=2\nPasswordHashMemoryMiB=64\n"
                               "ThrottleBaseSec=1\nThrottleMaxSec=300\nLockoutAfterFailures=10\nLockoutSec=900\n"
                               "FailureResetSec=3600\nVerifyPasswordUsers=\nCertificateAuthorityFile=\n\n"
                               "[telemetry]\nLogLevel=inherit\n"
                               "DeviceBrokerHost=127.0.0.1\nDeviceBrokerPort=1883\nDeviceBrokerUser=\n"
                               "DeviceBrokerPasswordFile=\nDeviceTopicPattern=devices/+/telemetry\n"
                               "MaxPayloadBytes=4096\nDeviceRatePerSec=10\nDeviceBurst=50\nCloudBrokerHost=\n"
                               "CloudBrokerPort=8883\nCloudCAFile=\nCloudTLSMinVersion=tls1.2\nCloudALPN=\n"
                               "CloudTopicPrefix=hubguard\nConnectTimeoutSec=10\nReconnectMinSec=1\n"
                               "ReconnectMaxSec=300\nDrainRatePerSec=500\nOutboxMaxMessages=100000\n"
                               "OutboxMaxMiB=64\nSecurityEventsMaxMessages=10000\nMetricsIntervalSec=60\n"
                               "AnomalyThresholdPercent=70\nAnomalyWarmupSamples=100\nAnomalyHoldSec=900\n"
                               "AnomalyAlertsPerHour=5\nAnomalyFailedLoginBurst=10\nAnomalyFailedLoginWindowSec=60\n"
                               "AnomalyNewDestinationsPerHour=20\nAnomalyDeviceFieldsMax=256\n"
                               "AnomalySaveIntervalSec=300\nAnomalyIgnore=\n"
                               "AnomalyDailyProfile=device/*/data/* hub/temperature/*\n\n"
                               "[privacy]\nLogLevel=inherit\nAppUsers=\n");
}

static void test_dump_reparses_to_same_config(void **state) {
        for (int level = LOG_EMERG; level <= LOG_DEBUG; level++) {
                _cleanup_free_ char *s = NULL;
                ConfigError err = {};
                _cleanup_(config_done) HubConfig c = {};
                _cleanup_(config_done) HubConfig back = {};
                size_t n;

                config_set_all(&c);
                c.domain[level % _HUB_DOMAIN_MAX].log_level = level;
                c.general.log_level = LOG_DEBUG - level;
                s = dump_to_string(&c, &n);
                /* Parse over a different config: every field must come from the dump. */
                config_set_all(&back);
                back.general.log_level = 99;
                for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                        back.domain[d].log_level = 99;
                assert_int_equal(config_parse_buffer("dump", s, n, &back, &err), 0);
                assert_config_equal(&back, &c);
        }
}

static void test_dump_loads_from_directory(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *s = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig back = {};
        size_t n;

        config_set_all(&c);
        s = dump_to_string(&c, &n);
        write_file_or_die(f->main_file, s, n);
        assert_int_equal(config_init_defaults(&back), 0);
        assert_int_equal(config_load(f->dir, &back, &err), 0);
        assert_config_equal(&back, &c);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_domain_round_trip),
                cmocka_unit_test(test_domain_invalid),
                cmocka_unit_test(test_init_defaults),
                cmocka_unit_test(test_log_level_inherits_general),
                cmocka_unit_test(test_parse_sets_values),
                cmocka_unit_test(test_parse_every_level_name),
                cmocka_unit_test(test_parse_inherit),
                cmocka_unit_test(test_parse_inherit_not_in_general),
                cmocka_unit_test(test_parse_refuses_digits),
                cmocka_unit_test(test_parse_values_are_case_sensitive),
                cmocka_unit_test(test_parse_empty_value),
                cmocka_unit_test(test_parse_empty_and_comments),
                cmocka_unit_test(test_parse_whitespace),
                cmocka_unit_test(test_parse_crlf),
                cmocka_unit_test(test_parse_no_final_newline),
                cmocka_unit_test(test_parse_not_nul_terminated),
                cmocka_unit_test(test_parse_unknown_key),
                cmocka_unit_test(test_parse_keys_are_case_sensitive),
                cmocka_unit_test(test_parse_unknown_section),
                cmocka_unit_test(test_parse_malformed_section),
                cmocka_unit_test(test_parse_key_outside_section),
                cmocka_unit_test(test_parse_missing_key),
                cmocka_unit_test(test_parse_no_equals),
                cmocka_unit_test(test_parse_duplicate_key),
                cmocka_unit_test(test_parse_same_key_other_section),
                cmocka_unit_test(test_parse_later_buffer_overrides),
                cmocka_unit_test(test_parse_line_too_long),
                cmocka_unit_test(test_parse_nul_byte),
                cmocka_unit_test(test_parse_nul_byte_first_line),
                cmocka_unit_test(test_parse_invalid_utf8),
                cmocka_unit_test(test_parse_valid_utf8_in_comment),
                cmocka_unit_test(test_parse_file_too_large),
                cmocka_unit_test(test_parse_failure_leaves_config),
                cmocka_unit_test(test_parse_null_error),
                cmocka_unit_test(test_error_format_with_line),
                cmocka_unit_test(test_error_format_without_line),
                cmocka_unit_test(test_error_format_truncates),
                FIXTURE_TEST(test_load_missing_everything),
                FIXTURE_TEST(test_load_main_file),
                FIXTURE_TEST(test_load_starts_from_defaults),
                FIXTURE_TEST(test_load_dropins_override_main),
                FIXTURE_TEST(test_load_dropins_lexical_order),
                FIXTURE_TEST(test_load_dropins_first_error_is_first_file),
                FIXTURE_TEST(test_load_dropins_without_main),
                FIXTURE_TEST(test_load_ignores_other_names),
                FIXTURE_TEST(test_load_error_in_main_file),
                FIXTURE_TEST(test_load_error_in_dropin),
                FIXTURE_TEST(test_load_duplicate_key_in_dropin),
                FIXTURE_TEST(test_load_failure_leaves_config),
                FIXTURE_TEST(test_load_unreadable_main_file),
                FIXTURE_TEST(test_load_unreadable_dropin),
                FIXTURE_TEST(test_load_unlistable_dropin_dir),
                FIXTURE_TEST(test_load_main_file_is_directory),
                FIXTURE_TEST(test_load_dropin_dir_is_file),
                FIXTURE_TEST(test_load_main_file_symlink_loop),
                FIXTURE_TEST(test_load_main_file_dangling_symlink),
                FIXTURE_TEST(test_load_file_too_large),
                FIXTURE_TEST(test_load_too_many_dropins),
                cmocka_unit_test(test_dump_defaults),
                cmocka_unit_test(test_dump_reparses_to_same_config),
                FIXTURE_TEST(test_dump_loads_from_directory),
        };

        return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
