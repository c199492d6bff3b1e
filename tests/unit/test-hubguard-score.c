/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hubguard-score as a program (its path is argv[1]): output format, timestamp forms, every class of
 * malformed row with its line number and exit status, options, and equality with direct library
 * calls on generated series.
 */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "anomaly-gen.h"
#include "hubguard/anomaly.h"

extern char **environ;

static bool no_spawn;
static const char *binary;
static char tmpdir[] = "/tmp/test-hubguard-score-XXXXXX";

typedef struct Run {
        int status;     /* exit status */
        char *out, *err;
        size_t out_len;
} Run;

static char *slurp(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0, cap = 0;

        assert_non_null(f);
        for (;;) {
                if (cap - len < 65536) {
                        cap = cap * 2 + 65536;
                        buf = realloc(buf, cap + 1);
                        assert_non_null(buf);
                }
                size_t n = fread(buf + len, 1, cap - len, f);
                if (n == 0)
                        break;
                len += n;
        }
        fclose(f);
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        return buf;
}

/* Run the tool with args (NULL-terminated) and input on stdin. */
static Run run_tool(const char *input, size_t input_len, ...) {
        char in[256], out[256], err[256];
        const char *argv[16] = { binary };
        posix_spawn_file_actions_t fa;
        va_list ap;
        FILE *f;
        pid_t pid;
        int n = 1, status;
        Run r = {};

        va_start(ap, input_len);
        for (const char *a; (a = va_arg(ap, const char *)) && n < 15;)
                argv[n++] = a;
        va_end(ap);

        snprintf(in, sizeof(in), "%s/in", tmpdir);
        snprintf(out, sizeof(out), "%s/out", tmpdir);
        snprintf(err, sizeof(err), "%s/err", tmpdir);
        f = fopen(in, "we");
        assert_non_null(f);
        assert_int_equal(fwrite(input, 1, input_len, f), input_len);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
        assert_int_equal(posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0), 0);
        assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
        assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600), 0);
        assert_int_equal(posix_spawn(&pid, binary, &fa, NULL, (char **) argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        r.status = WEXITSTATUS(status);
        r.out = slurp(out, &r.out_len);
        r.err = slurp(err, NULL);
        return r;
}

#define RUN(text, ...) run_tool(text, strlen(text), ##__VA_ARGS__, NULL)

static void run_free(Run *r) {
        free(r->out);
        free(r->err);
}

static void test_format(void **state) {
        if (no_spawn)
                skip();
        Run r = RUN("timestamp,value\n1700000000,1\n1700000060,2\n", "--warmup=2");

        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        assert_string_equal(r.out, "timestamp,anomaly_score\n1700000000,0.000000\n1700000060,0.000000\n");
        run_free(&r);

        r = RUN("t,v\n1700000000,1\n", "--reason", "--threshold=0.5");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score,is_anomaly,reason\n1700000000,0.000000,0,warm-up\n");
        run_free(&r);

        /* Header only; empty lines at the end; a last line without LF; CRLF. */
        r = RUN("timestamp,value\r\n", "--reason");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score,reason\n");
        run_free(&r);
        r = RUN("timestamp,value\r\n5,1\r\n6,1\r\n\r\n\n");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score\n5,0.000000\n6,0.000000\n");
        run_free(&r);
        r = RUN("\"timestamp\",\"value\"\n\"5\",\"1\"\n");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score\n\"5\",0.000000\n");
        run_free(&r);
        r = RUN("timestamp,value\n5,1");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score\n5,0.000000\n");
        run_free(&r);
}

static void test_timestamp_forms(void **state) {
        if (no_spawn)
                skip();
        /* Every form, in increasing time; each echoed exactly as given (trimmed). */
        Run r = RUN("timestamp,value\n"
                    "2024-02-29T12:00:00Z,1\n"
                    "2024-02-29 12:05:00,1\n"
                    "2024-02-29T12:10:00.250Z,1\n"
                    "2024-02-29T14:15:00+02:00,1\n"
                    "2024-02-29T07:50:00-04:30,1\n"
                    "2024-02-29T12:25:00+0000,1\n"
                    "2024-02-29T12:30,1\n"
                    "1709210100,1\n"
                    "1709210400.5,1\n"
                    " 1709210700 , 1 \n",
                    "--warmup=100");

        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        assert_string_equal(r.out, "timestamp,anomaly_score\n"
                                   "2024-02-29T12:00:00Z,0.000000\n"
                                   "2024-02-29 12:05:00,0.000000\n"
                                   "2024-02-29T12:10:00.250Z,0.000000\n"
                                   "2024-02-29T14:15:00+02:00,0.000000\n"
                                   "2024-02-29T07:50:00-04:30,0.000000\n"
                                   "2024-02-29T12:25:00+0000,0.000000\n"
                                   "2024-02-29T12:30,0.000000\n"
                                   "1709210100,0.000000\n"
                                   "1709210400.5,0.000000\n"
                                   "1709210700,0.000000\n");
        run_free(&r);

        /* Within the tolerance (1 s) a step back is fine, silently. */
        r = RUN("t,v\n100.5,1\n100,1\n");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        run_free(&r);

        /* Further back (a DST change in local time): taken as the previous timestamp, every row scored
         * and echoed as given, one warning for the first such row only; a bad row after it still stops. */
        r = RUN("t,v\n2024-10-27 02:59:00,1\n2024-10-27 02:00:00,1\n2024-10-27 02:01:00,1\n2024-10-27 01:00:00,2\n"
                "2024-10-27 01:01:00,1\n");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score\n"
                                   "2024-10-27 02:59:00,0.000000\n"
                                   "2024-10-27 02:00:00,0.000000\n"
                                   "2024-10-27 02:01:00,0.000000\n"
                                   "2024-10-27 01:00:00,0.000000\n"
                                   "2024-10-27 01:01:00,0.000000\n");
        assert_string_equal(r.err, "hubguard-score: line 3: timestamp goes backwards by 3540 s; taken as the previous "
                                   "timestamp (further such rows are not reported)\n");
        run_free(&r);
}

/* A malformed row: exit 1, the message with its line, the rows before it written. */
static void expect_bad(const char *input, const char *before, const char *message, const char *option) {
        Run r = option ? RUN(input, option) : run_tool(input, strlen(input), NULL);

        if (r.status != 1 || strcmp(r.err, message) != 0 || strcmp(r.out, before) != 0)
                fail_msg("input:\n%s\nstatus %d, stderr '%s', stdout '%s'; want 1, '%s', '%s'", input, r.status, r.err,
                         r.out, message, before);
        run_free(&r);
}

static void test_malformed(void **state) {
        if (no_spawn)
                skip();
        const char *hdr = "timestamp,anomaly_score\n1,0.000000\n";

        expect_bad("t,v\n1,1\n2,abc\n3,1\n", hdr, "hubguard-score: line 3: bad number\n", NULL);
        expect_bad("t,v\n1,1\n2,NaN\n", hdr, "hubguard-score: line 3: number is not finite (NaN or infinity)\n", NULL);
        expect_bad("t,v\n1,1\n2,-inf\n", hdr, "hubguard-score: line 3: number is not finite (NaN or infinity)\n", NULL);
        expect_bad("t,v\n1,1\n2,1e999\n", hdr, "hubguard-score: line 3: number out of range\n", NULL);
        expect_bad("t,v\n1,1\n2,1e101\n", hdr, "hubguard-score: line 3: value out of range (|value| > 1e100)\n", NULL);
        expect_bad("t,v\n1,1\n20000000000000,1\n", hdr, "hubguard-score: line 3: timestamp out of range (|t| > 1e13 s)\n",
                   NULL);
        expect_bad("t,v\n1,1\n2\n", hdr, "hubguard-score: line 3: missing field (expected timestamp,value)\n", NULL);
        expect_bad("t,v\n1,1\n2,\n", hdr, "hubguard-score: line 3: missing value\n", NULL);
        expect_bad("t,v\n1,1\n2,1,3\n", hdr, "hubguard-score: line 3: extra field (expected timestamp,value)\n", NULL);
        expect_bad("t,v\n1,1\n2024-02-30T00:00:00Z,1\n", hdr, "hubguard-score: line 3: bad date (no such day)\n", NULL);
        expect_bad("t,v\n1,1\n2024-02-01T25:00:00Z,1\n", hdr, "hubguard-score: line 3: bad time of day\n", NULL);
        expect_bad("t,v\n1,1\nmonday,1\n", hdr,
                   "hubguard-score: line 3: bad timestamp (expected epoch seconds or an ISO 8601 date-time)\n", NULL);
        /* A step back is not malformed (one warning); a bad row after it still stops the run. */
        expect_bad("t,v\n10,1\n5,1\n6,x\n", "timestamp,anomaly_score\n10,0.000000\n5,0.000000\n",
                   "hubguard-score: line 3: timestamp goes backwards by 5 s; taken as the previous timestamp (further "
                   "such rows are not reported)\nhubguard-score: line 4: bad number\n", NULL);
        expect_bad("t,v\n1,1\n\n2,1\n", hdr, "hubguard-score: line 3: empty line (only allowed at the end)\n", NULL);
        expect_bad("t,v\n1,1\n2,-1\n", hdr, "hubguard-score: line 3: a count must be >= 0\n", "--kind=count");
        expect_bad("1,1\n", "", "hubguard-score: line 1: expected a header line (timestamp,value), got a data row\n", NULL);
        expect_bad("", "", "hubguard-score: line 1: no header line (timestamp,value)\n", NULL);
        expect_bad("a,b,c\n", "", "hubguard-score: line 1: the header line must have two fields (timestamp,value)\n", NULL);
}

static void test_options(void **state) {
        if (no_spawn)
                skip();
        Run r = RUN("", "--help");

        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "--kind=value|count"));
        run_free(&r);
        r = RUN("", "--version");
        assert_int_equal(r.status, 0);
        assert_true(strncmp(r.out, "hubguard-score ", 15) == 0);
        run_free(&r);

        const char *bad[] = { "--kind=gauge", "--warmup=1", "--warmup=x", "--season=weekly", "--threshold=0",
                              "--threshold=1.5", "--rule-window=0", "--rule-limit=-1", "--bogus", "extra-arg" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r = RUN("t,v\n1,1\n", bad[i]);
                if (r.status != 2 || strncmp(r.err, "hubguard-score: ", 16) != 0 || r.out_len != 0)
                        fail_msg("%s: status %d, stderr '%s'", bad[i], r.status, r.err);
                run_free(&r);
        }
        /* The rule of the count kind. */
        r = RUN("t,v\n0,0\n10,3\n20,3\n", "--kind=count", "--rule-limit=5", "--reason");
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, "timestamp,anomaly_score,reason\n0,0.000000,warm-up\n10,0.000000,warm-up\n"
                                   "20,1.000000,rule\n");
        run_free(&r);
}

/* The tool scores exactly as the library does, for both kinds, with its default settings. */
static void test_equals_library(void **state) {
        if (no_spawn)
                skip();
        for (int counts = 0; counts < 2; counts++) {
                GenSpec spec;
                GenSeries s;
                AnomalySettings set;
                AnomalyDetector d;
                char *in, *want, *p;
                size_t cap;
                Run r;

                gen_spec_random(&spec, 4242 + counts, counts);
                spec.jitter = true;
                spec.n = 5000;
                assert_int_equal(gen_series(&spec, &s), 0);
                cap = 64 * (s.n + 1);
                in = malloc(cap);
                want = malloc(cap);
                assert_non_null(in);
                assert_non_null(want);

                p = in + sprintf(in, "timestamp,value\n");
                for (size_t j = 0; j < s.n; j++)
                        p += sprintf(p, "%.3f,%.17g\n", s.t[j], s.x[j]);

                anomaly_settings_default(&set, counts ? ANOMALY_KIND_COUNT : ANOMALY_KIND_VALUE);
                assert_int_equal(anomaly_detector_init(&d, &set), 0);
                p = want + sprintf(want, "timestamp,anomaly_score,reason\n");
                for (size_t j = 0; j < s.n; j++) {
                        AnomalyResult res;
                        char ts[64];
                        double t;
                        uint32_t v;

                        snprintf(ts, sizeof(ts), "%.3f", s.t[j]);
                        t = strtod(ts, NULL);
                        assert_int_equal(anomaly_detector_update(&d, t, s.x[j], &res), 0);
                        v = (uint32_t) (res.score * 1e6 + 0.5);
                        p += sprintf(p, "%s,%u.%06u,%s\n", ts, v / 1000000, v % 1000000,
                                     anomaly_reason_to_string(res.reason));
                }

                r = run_tool(in, strlen(in), "--reason", counts ? "--kind=count" : NULL, NULL);
                assert_int_equal(r.status, 0);
                assert_string_equal(r.err, "");
                if (strcmp(r.out, want) != 0) {
                        size_t i = 0;
                        while (r.out[i] && r.out[i] == want[i])
                                i++;
                        fail_msg("output differs from the library at byte %zu: '%.60s' vs '%.60s'", i, r.out + i, want + i);
                }
                run_free(&r);
                free(in);
                free(want);
                gen_series_free(&s);
        }
}

static int setup(void **state) {
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        char path[256];
        const char *names[] = { "in", "out", "err" };

        for (size_t i = 0; i < 3; i++) {
                snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
                (void) unlink(path);
        }
        return rmdir(tmpdir);
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_timestamp_forms),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_options),
                cmocka_unit_test(test_equals_library),
        };

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-TO-hubguard-score\n", argv[0]);
                return 2;
        }
        binary = argv[1];
        /* A cross build's tests run under qemu-user, which cannot start another program of the target
         * architecture (no binfmt_misc here) and hangs in a forked child: the cross build sets this
         * (tests/system/cross-arm64.sh, debian/rules), and every test says it skipped. */
        no_spawn = getenv("HUBGUARD_TEST_NO_FORK") && strcmp(getenv("HUBGUARD_TEST_NO_FORK"), "1") == 0;
        return cmocka_run_group_tests(tests, setup, teardown);
}
