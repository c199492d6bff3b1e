/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Golden configuration tests, after OpenBSD regress/usr.sbin/bgpd/config: every DIR/NN-name.in is
 * parsed with config_parse_buffer() under the name "NN-name.in", and the result must equal
 * DIR/NN-name.ok byte for byte: the config_dump() output for a valid file, or the
 * config_error_format() line plus a newline for an invalid one. Then the shipped hubguard.conf must
 * parse, to the built-in defaults, and show every key with its default.
 *
 * Usage: test-conf-golden DATA-DIR SHIPPED-CONF (meson passes both).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <libgen.h>
#include <syslog.h>

#include "common.h"
#include "hubguard/conf.h"
#include "hubguard/fileio.h"

/* Fewer cases than this means the directory is wrong or was emptied by accident. */
#define GOLDEN_CASES_MIN 12

typedef struct GoldenCase {
        char *name;    /* "NN-name.in", the name the parser reports */
        char *in_path;
        char *ok_path;
} GoldenCase;

static const char *data_dir, *shipped_conf;

/* ---------------------------------------------------------------------------------------------------
 * NN-name.in → NN-name.ok
 */

static void test_golden_case(void **state) {
        const GoldenCase *g = *state;
        _cleanup_free_ char *in = NULL, *ok = NULL, *got = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig defaults = {};
        size_t n_in, n_ok, n_got;
        int r;

        in = read_file_or_die(g->in_path, &n_in);
        ok = read_file_or_die(g->ok_path, &n_ok);
        assert_int_equal(config_init_defaults(&c), 0);
        assert_int_equal(config_init_defaults(&defaults), 0);

        r = config_parse_buffer(g->name, in, n_in, &c, &err);
        if (r >= 0) {
                _cleanup_(config_done) HubConfig back = {};

                assert_int_equal(r, 0);
                got = dump_to_string(&c, &n_got);
                /* And the dump is itself a valid file that gives the same configuration. */
                assert_int_equal(config_init_defaults(&back), 0);
                assert_int_equal(config_parse_buffer("dump", got, n_got, &back, &err), 0);
                assert_config_equal(&back, &c);
        } else {
                char line[PATH_MAX + 512];

                assert_int_equal(r, -EINVAL);
                (void) config_error_format(&err, line, sizeof line);
                assert_true(asprintf(&got, "%s\n", line) > 0);
                n_got = strlen(got);
                /* A failed parse leaves the configuration as it was. */
                assert_config_equal(&c, &defaults);
        }
        if (n_got != n_ok || memcmp(got, ok, n_ok) != 0)
                print_error("%s: output differs from %s\n--- expected\n%s--- got\n%s---\n", g->name,
                            g->ok_path, ok, got);
        assert_int_equal(n_got, n_ok);
        assert_memory_equal(got, ok, n_ok);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);

        return n > m && streq(s + n - m, suffix);
}

/* Every .in has its .ok and every .ok its .in: a lone file is a forgotten case. */
static void test_golden_pairs_complete(void **state) {
        struct dirent **list = NULL;
        int n = scandir(data_dir, &list, NULL, alphasort), ins = 0;

        assert_true(n >= 0);
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                _cleanup_free_ char *twin = NULL, *path = NULL;
                size_t len = strlen(name);

                if (has_suffix(name, ".in")) {
                        ins++;
                        assert_true(asprintf(&twin, "%.*s.ok", (int) (len - 3), name) > 0);
                } else if (has_suffix(name, ".ok"))
                        assert_true(asprintf(&twin, "%.*s.in", (int) (len - 3), name) > 0);
                if (twin) {
                        path = path_join(data_dir, twin);
                        if (access(path, F_OK) < 0)
                                fail_msg("%s has no %s", name, twin);
                }
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        assert_true(ins >= GOLDEN_CASES_MIN);
}

/* ---------------------------------------------------------------------------------------------------
 * The shipped conf/hubguard.conf
 */

static void test_shipped_conf_parses_to_defaults(void **state) {
        _cleanup_free_ char *data = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig defaults = {};
        char line[PATH_MAX + 512];
        size_t n;
        int r;

        assert_int_equal(read_file_bounded(shipped_conf, CONF_FILE_MAX, &data, &n), 0);
        assert_int_equal(config_init_defaults(&defaults), 0);
        assert_int_equal(config_init_defaults(&c), 0);
        c.general.log_level = LOG_EMERG;
        r = config_parse_buffer(shipped_conf, data, n, &c, &err);
        if (r < 0)
                fail_msg("%s", config_error_format(&err, line, sizeof line));
        /* Everything is commented out, so nothing changes what the caller had ... */
        assert_int_equal(c.general.log_level, LOG_EMERG);
        /* ... and loading the directory it is in gives exactly the defaults. */
        {
                _cleanup_free_ char *dir = strdup(shipped_conf);

                assert_non_null(dir);
                c.general.log_level = LOG_EMERG;
                r = config_load(dirname(dir), &c, &err);
                if (r < 0)
                        fail_msg("%s", config_error_format(&err, line, sizeof line));
                assert_config_equal(&c, &defaults);
        }
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The settings in text, as sorted "section.Key=Value" lines. With uncomment, "#Key=Value" lines (a
 * setting commented out, '#' directly before the key) count as settings too.
 */
static char *settings_of(const char *text, bool uncomment) {
        _cleanup_free_ char *copy = strdup(text);
        char *items[64], *save = NULL, *out = NULL, section[64] = "";
        size_t n = 0, size = 0;
        FILE *m;

        assert_non_null(copy);
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (l[0] == '[') {
                        assert_true(sscanf(l, "[%63[^]]]", section) == 1);
                        continue;
                }
                if (uncomment && l[0] == '#' && l[1] >= 'A' && l[1] <= 'Z' && strchr(l, '='))
                        l++;
                if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                        continue;
                assert_true(n < ELEMENTSOF(items));
                assert_true(asprintf(&items[n++], "%s.%s", section, l) > 0);
        }
        qsort(items, n, sizeof items[0], cmp_str);
        m = open_memstream(&out, &size);
        assert_non_null(m);
        for (size_t i = 0; i < n; i++) {
                fprintf(m, "%s\n", items[i]);
                free(items[i]);
        }
        assert_int_equal(fclose(m), 0);
        return out;
}

static void test_shipped_conf_shows_every_default(void **state) {
        _cleanup_free_ char *data = NULL, *shown = NULL, *dump = NULL, *expected = NULL;
        _cleanup_(config_done) HubConfig defaults = {};
        size_t n;

        assert_int_equal(read_file_bounded(shipped_conf, CONF_FILE_MAX, &data, &n), 0);
        assert_int_equal(config_init_defaults(&defaults), 0);
        dump = dump_to_string(&defaults, NULL);
        shown = settings_of(data, true);
        expected = settings_of(dump, false);
        assert_string_equal(shown, expected);
}

static void test_shipped_conf_uncommented_parses_to_defaults(void **state) {
        /* The commented-out lines are valid settings as written: uncommenting one changes nothing. */
        _cleanup_free_ char *data = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        _cleanup_(config_done) HubConfig defaults = {};
        char line[PATH_MAX + 512];
        size_t n, j = 0;

        assert_int_equal(read_file_bounded(shipped_conf, CONF_FILE_MAX, &data, &n), 0);
        for (size_t i = 0; i < n; i++)
                if (!(data[i] == '#' && (i == 0 || data[i - 1] == '\n') && i + 1 < n && data[i + 1] >= 'A' &&
                      data[i + 1] <= 'Z'))
                        data[j++] = data[i];
        assert_int_equal(config_init_defaults(&defaults), 0);
        assert_int_equal(config_init_defaults(&c), 0);
        c.general.log_level = LOG_EMERG;
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                c.domain[d].log_level = LOG_ALERT;
        if (config_parse_buffer(shipped_conf, data, j, &c, &err) < 0)
                fail_msg("%s", config_error_format(&err, line, sizeof line));
        assert_config_equal(&c, &defaults);
}

/* ---------------------------------------------------------------------------------------------------
 * main: one cmocka test per golden case, found at run time.
 */

static size_t collect_cases(GoldenCase **ret) {
        struct dirent **list = NULL;
        GoldenCase *cases;
        size_t n_cases = 0;
        int n;

        n = scandir(data_dir, &list, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "Cannot list '%s': %m\n", data_dir);
                exit(EXIT_FAILURE);
        }
        cases = calloc((size_t) n + 1, sizeof *cases);
        if (!cases)
                abort();
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                size_t len = strlen(name);

                if (has_suffix(name, ".in")) {
                        GoldenCase *g = &cases[n_cases++];

                        g->name = strdup(name);
                        g->in_path = path_join(data_dir, name);
                        if (!g->name ||
                            asprintf(&g->ok_path, "%s/%.*s.ok", data_dir, (int) (len - 3), name) < 0)
                                abort();
                }
                free(list[i]);
        }
        free(list);
        *ret = cases;
        return n_cases;
}

int main(int argc, char *argv[]) {
        static const struct CMUnitTest fixed[] = {
                cmocka_unit_test(test_golden_pairs_complete),
                cmocka_unit_test(test_shipped_conf_parses_to_defaults),
                cmocka_unit_test(test_shipped_conf_shows_every_default),
                cmocka_unit_test(test_shipped_conf_uncommented_parses_to_defaults),
        };
        struct CMUnitTest *tests;
        GoldenCase *cases;
        size_t n_cases, n_tests = 0;
        int r;

        if (argc != 3) {
                fprintf(stderr, "Usage: %s DATA-DIR SHIPPED-CONF\n", argv[0]);
                return EXIT_FAILURE;
        }
        data_dir = argv[1];
        shipped_conf = argv[2];

        n_cases = collect_cases(&cases);
        tests = calloc(n_cases + ELEMENTSOF(fixed), sizeof *tests);
        if (!tests)
                abort();
        for (size_t i = 0; i < ELEMENTSOF(fixed); i++)
                tests[n_tests++] = fixed[i];
        for (size_t i = 0; i < n_cases; i++)
                tests[n_tests++] = (struct CMUnitTest) {
                        .name = cases[i].name,
                        .test_func = test_golden_case,
                        .initial_state = &cases[i],
                };

        r = _cmocka_run_group_tests("conf-golden", tests, n_tests, NULL, NULL);

        for (size_t i = 0; i < n_cases; i++) {
                free(cases[i].name);
                free(cases[i].in_path);
                free(cases[i].ok_path);
        }
        free(cases);
        free(tests);
        return r;
}
