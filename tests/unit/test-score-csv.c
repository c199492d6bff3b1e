/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubguard-score's CSV reader (src/score/score-csv.c): numbers, timestamps, rows and their errors. */

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "anomaly-gen.h"
#include "score-csv.h"

static double number(const char *s) {
        const char *err = NULL;
        double v = -12345;

        assert_int_equal(score_csv_parse_number(s, strlen(s), &v, &err), 0);
        return v;
}

static const char *number_error(const char *s) {
        const char *err = NULL;
        double v;

        assert_int_equal(score_csv_parse_number(s, strlen(s), &v, &err), -EINVAL);
        assert_non_null(err);
        return err;
}

static void test_numbers(void **state) {
        const char *ok[] = { "0", "-0", "1", "+1", "-1.5", "3.", ".25", "1e3", "1E-3", "-2.5e+10", "0.1", "0.3",
                             "123456789012345678901234567890", "1e-320", "1.7976931348623157e308",
                             "0.000000000000000000000000000001", "9007199254740993", "00012.500", "4.9e-324",
                             "2.2250738585072011e-308" };

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                double want = strtod(ok[i], NULL), got = number(ok[i]);

                if (memcmp(&want, &got, sizeof(double)) != 0)
                        fail_msg("'%s': %.17g, strtod says %.17g", ok[i], got, want);
        }
        assert_string_equal(number_error("nan"), "number is not finite (NaN or infinity)");
        assert_string_equal(number_error("-Inf"), "number is not finite (NaN or infinity)");
        assert_string_equal(number_error("INFINITY"), "number is not finite (NaN or infinity)");
        assert_string_equal(number_error("1e999"), "number out of range");
        assert_string_equal(number_error(""), "empty number");
        assert_string_equal(number_error("abc"), "bad number");
        assert_string_equal(number_error("1.2.3"), "bad number");
        assert_string_equal(number_error("0x10"), "bad number");
        assert_string_equal(number_error("1e"), "bad number (exponent without digits)");
        assert_string_equal(number_error("-"), "bad number");
        assert_string_equal(number_error("."), "bad number");
        assert_string_equal(number_error("1,5"), "bad number");
        assert_string_equal(number_error("1 2"), "bad number");
}

/* Random decimal strings agree with strtod bit for bit (the fast path and the slow one). */
static void test_numbers_random(void **state) {
        GenRng rng = { 2024 };

        for (int i = 0; i < 200000; i++) {
                char buf[64];
                double want, got;
                int digits = 1 + (int) (gen_next(&rng) % 22), point = (int) (gen_next(&rng) % (digits + 1)), n = 0;

                if (gen_next(&rng) % 2)
                        buf[n++] = '-';
                for (int k = 0; k < digits; k++) {
                        if (k == point && k > 0)
                                buf[n++] = '.';
                        buf[n++] = (char) ('0' + gen_next(&rng) % 10);
                }
                if (gen_next(&rng) % 3 == 0)
                        n += snprintf(buf + n, sizeof(buf) - n, "e%d", (int) (gen_next(&rng) % 80) - 40);
                buf[n] = '\0';
                want = strtod(buf, NULL);
                got = number(buf);
                if (memcmp(&want, &got, sizeof(double)) != 0)
                        fail_msg("'%s': %.17g, strtod says %.17g", buf, got, want);
        }
}

static double timestamp(const char *s) {
        const char *err = NULL;
        double v = -1;

        if (score_csv_parse_time(s, strlen(s), &v, &err) < 0)
                fail_msg("'%s': %s", s, err);
        return v;
}

static const char *timestamp_error(const char *s) {
        const char *err = NULL;
        double v;

        assert_int_equal(score_csv_parse_time(s, strlen(s), &v, &err), -EINVAL);
        return err;
}

static void test_timestamps(void **state) {
        /* 2024-02-29T12:34:56Z = 1709210096 */
        assert_true(timestamp("2024-02-29T12:34:56Z") == 1709210096.0);
        assert_true(timestamp("2024-02-29 12:34:56") == 1709210096.0);
        assert_true(timestamp("2024-02-29T12:34:56.25Z") == 1709210096.25);
        assert_true(timestamp("2024-02-29T12:34:56,5") == 1709210096.5);
        assert_true(timestamp("2024-02-29T14:34:56+02:00") == 1709210096.0);
        assert_true(timestamp("2024-02-29T14:34:56+0200") == 1709210096.0);
        assert_true(timestamp("2024-02-29T14:34:56+02") == 1709210096.0);
        assert_true(timestamp("2024-02-29T07:04:56-05:30") == 1709210096.0);
        assert_true(timestamp("2024-02-29T12:34") == 1709210040.0);
        assert_true(timestamp("1970-01-01T00:00:00Z") == 0.0);
        assert_true(timestamp("1969-12-31T23:59:59Z") == -1.0);
        assert_true(timestamp("2000-03-01 00:00:00") == 951868800.0);
        assert_true(timestamp("2014-04-10 00:02:00") == 1397088120.0); /* NAB's format */
        /* epoch */
        assert_true(timestamp("1709210096") == 1709210096.0);
        assert_true(timestamp("1709210096.125") == 1709210096.125);
        assert_true(timestamp("-5") == -5.0);
        assert_true(timestamp("0") == 0.0);

        assert_string_equal(timestamp_error("2023-02-29T00:00:00Z"), "bad date (no such day)");
        assert_string_equal(timestamp_error("2024-13-01T00:00:00Z"), "bad date (no such day)");
        assert_string_equal(timestamp_error("2024-04-31 00:00:00"), "bad date (no such day)");
        assert_string_equal(timestamp_error("2024-01-01T24:00:00"), "bad time of day");
        assert_string_equal(timestamp_error("2024-01-01T23:60:00"), "bad time of day");
        assert_string_equal(timestamp_error("2024-01-01T23:59:61"), "bad time of day");
        assert_string_equal(timestamp_error("2024-01-01T23:59:5"), "bad seconds");
        assert_string_equal(timestamp_error("2024-01-01T23:59:59."), "bad fractional seconds");
        assert_string_equal(timestamp_error("2024-01-01T23:59:59+25:00"),
                            "bad UTC offset (expected Z, +hh:mm or -hh:mm)");
        assert_string_equal(timestamp_error("2024-01-01T23:59:59+1"), "bad UTC offset (expected Z, +hh:mm or -hh:mm)");
        assert_string_equal(timestamp_error("2024-01-01T23:59:59ZZ"), "bad date-time (trailing characters)");
        assert_string_equal(timestamp_error("2024-01-01X23:59:59"),
                            "bad date-time (expected YYYY-MM-DDThh:mm[:ss[.frac]][Z|+hh:mm])");
        assert_string_equal(timestamp_error("2024-01-01"),
                            "bad date-time (expected YYYY-MM-DDThh:mm[:ss[.frac]][Z|+hh:mm])");
        assert_string_equal(timestamp_error("2024-1a-01T00:00:00"),
                            "bad date-time (expected YYYY-MM-DDThh:mm[:ss[.frac]][Z|+hh:mm])");
        assert_string_equal(timestamp_error(""), "empty timestamp");
        assert_string_equal(timestamp_error("1e9"), "bad timestamp (expected epoch seconds or an ISO 8601 date-time)");
        assert_string_equal(timestamp_error("+5"), "bad timestamp (expected epoch seconds or an ISO 8601 date-time)");
        assert_string_equal(timestamp_error("12."), "bad timestamp (expected epoch seconds or an ISO 8601 date-time)");
        assert_string_equal(timestamp_error("nan"), "bad timestamp (expected epoch seconds or an ISO 8601 date-time)");
        assert_string_equal(timestamp_error("yesterday"),
                            "bad timestamp (expected epoch seconds or an ISO 8601 date-time)");
}

/* Feed a whole text; returns the number of rows, or -(line number) of the error with *ret_error. */
static long feed_text(const char *text, const char **ret_error, ScoreCsvRow *rows, size_t max_rows) {
        ScoreCsv c = {};
        const char *p = text, *err = NULL;
        unsigned long bad = 0;
        long n = 0;

        while (*p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                ScoreCsvRow row;
                int r = score_csv_feed(&c, p, len, &row, &err, &bad);

                if (r < 0) {
                        *ret_error = err;
                        return -(long) bad;
                }
                if (r > 0 && (size_t) n < max_rows)
                        rows[n] = row;
                n += r;
                p = nl ? nl + 1 : p + len;
        }
        if (score_csv_finish(&c, &err, &bad) < 0) {
                *ret_error = err;
                return -(long) bad;
        }
        return n;
}

static void expect_error(const char *text, long line, const char *what) {
        const char *err = NULL;
        ScoreCsvRow rows[8];
        long r = feed_text(text, &err, rows, 8);

        if (r != -line || !err || strcmp(err, what) != 0)
                fail_msg("%s: got %ld '%s', want line %ld '%s'", text, r, err ? err : "", line, what);
}

static void test_rows(void **state) {
        ScoreCsvRow rows[8];
        const char *err = NULL;

        assert_int_equal(feed_text("timestamp,value\n1,2\n2, 3.5 \r\n 2024-01-01T00:00:00Z ,4\n\n\n", &err, rows, 8), 3);
        assert_true(rows[0].t == 1.0 && rows[0].value == 2.0);
        assert_true(rows[1].value == 3.5);
        assert_int_equal(rows[2].timestamp_len, 20);
        assert_memory_equal(rows[2].timestamp, "2024-01-01T00:00:00Z", 20);
        assert_true(rows[2].t == 1704067200.0);
        /* Quoted fields: the quotes are kept in the echoed timestamp. */
        assert_int_equal(feed_text("\"timestamp\",\"value\"\n\"2024-01-01 00:00:00\",\"4.5\"\n", &err, rows, 8), 1);
        assert_int_equal(rows[0].timestamp_len, 21);
        assert_memory_equal(rows[0].timestamp, "\"2024-01-01 00:00:00\"", 21);
        assert_true(rows[0].t == 1704067200.0 && rows[0].value == 4.5);
        /* A header only, any names; no final LF. */
        assert_int_equal(feed_text("time,cpu\r\n", &err, rows, 8), 0);
        assert_int_equal(feed_text("t,v\n5,6", &err, rows, 8), 1);

        expect_error("", 1, "no header line (timestamp,value)");
        expect_error("1,2\n", 1, "expected a header line (timestamp,value), got a data row");
        expect_error("timestamp\n", 1, "the header line must have two fields (timestamp,value)");
        expect_error("a,b,c\n", 1, "the header line must have two fields (timestamp,value)");
        expect_error("t,v\n1,2\n3\n", 3, "missing field (expected timestamp,value)");
        expect_error("t,v\n1,2,3\n", 2, "extra field (expected timestamp,value)");
        expect_error("t,v\n1,\n", 2, "missing value");
        expect_error("t,v\n,1\n", 2, "empty timestamp");
        expect_error("t,v\n1,abc\n", 2, "bad number");
        expect_error("t,v\n1,\"2\n", 2, "stray double quote");
        expect_error("t,v\n\"1\"\"\",2\n", 2, "stray double quote");
        expect_error("t,v\n1,\"\"\n", 2, "missing value");
        expect_error("t,v\n1,NaN\n", 2, "number is not finite (NaN or infinity)");
        expect_error("t,v\n1,-inf\n", 2, "number is not finite (NaN or infinity)");
        expect_error("t,v\n2024-02-30T00:00:00Z,1\n", 2, "bad date (no such day)");
        expect_error("t,v\n1,2\n\n3,4\n", 3, "empty line (only allowed at the end)");
        expect_error("\nt,v\n", 1, "empty line (only allowed at the end)");
}

static void test_line_limit(void **state) {
        char *text = malloc(SCORE_CSV_LINE_MAX + 64);
        const char *err = NULL;
        ScoreCsvRow rows[1];
        size_t n;

        assert_non_null(text);
        n = (size_t) sprintf(text, "t,v\n1,");
        memset(text + n, '1', SCORE_CSV_LINE_MAX);
        text[n + SCORE_CSV_LINE_MAX] = '\0';
        assert_int_equal(feed_text(text, &err, rows, 1), -2);
        assert_string_equal(err, "line too long");
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_numbers_random),
                cmocka_unit_test(test_timestamps),
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_line_limit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
