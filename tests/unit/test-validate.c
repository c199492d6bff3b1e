/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "hubguard/validate.h"

/* utf8_is_valid() over a byte string literal, its length taken without the terminator. */
#define UTF8_OK(lit) utf8_is_valid((lit), sizeof(lit) - 1)

/*
 * Copy n bytes into a heap block of exactly n bytes, so that AddressSanitizer catches a read past
 * the length bound the caller gave.
 */
static char *exact_copy(const char *s, size_t n) {
        char *p = malloc(n > 0 ? n : 1);

        assert_non_null(p);
        memcpy(p, s, n);
        return p;
}

/* ---------------------------------------------------------------------------------------------------
 * utf8_is_valid()
 */

static void test_utf8_ascii(void **state) {
        assert_true(UTF8_OK("hello, world"));
        assert_true(UTF8_OK("\x01\x7f"));
        assert_true(UTF8_OK(""));
}

static void test_utf8_multibyte_boundaries(void **state) {
        assert_true(UTF8_OK("\xc2\x80"));             /* U+0080, first 2-byte */
        assert_true(UTF8_OK("\xdf\xbf"));             /* U+07FF, last 2-byte */
        assert_true(UTF8_OK("\xe0\xa0\x80"));         /* U+0800, first 3-byte */
        assert_true(UTF8_OK("\xed\x9f\xbf"));         /* U+D7FF, just below the surrogates */
        assert_true(UTF8_OK("\xee\x80\x80"));         /* U+E000, just above them */
        assert_true(UTF8_OK("\xef\xbf\xbf"));         /* U+FFFF */
        assert_true(UTF8_OK("\xf0\x90\x80\x80"));     /* U+10000, first 4-byte */
        assert_true(UTF8_OK("\xf4\x8f\xbf\xbf"));     /* U+10FFFF, the last code point */
        assert_true(UTF8_OK("gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80"));
}

static void test_utf8_overlong(void **state) {
        assert_false(UTF8_OK("\xc0\x80"));            /* NUL as two bytes ("modified UTF-8") */
        assert_false(UTF8_OK("\xc0\xaf"));            /* '/' */
        assert_false(UTF8_OK("\xc1\xbf"));            /* U+007F */
        assert_false(UTF8_OK("\xe0\x80\xaf"));        /* '/' in three bytes */
        assert_false(UTF8_OK("\xe0\x9f\xbf"));        /* U+07FF in three bytes */
        assert_false(UTF8_OK("\xf0\x80\x80\xaf"));    /* '/' in four bytes */
        assert_false(UTF8_OK("\xf0\x8f\xbf\xbf"));    /* U+FFFF in four bytes */
}

static void test_utf8_surrogates(void **state) {
        assert_false(UTF8_OK("\xed\xa0\x80"));        /* U+D800 */
        assert_false(UTF8_OK("\xed\xaf\xbf"));        /* U+DBFF */
        assert_false(UTF8_OK("\xed\xb0\x80"));        /* U+DC00 */
        assert_false(UTF8_OK("\xed\xbf\xbf"));        /* U+DFFF */
        assert_false(UTF8_OK("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair for U+1F600 */
}

static void test_utf8_above_max(void **state) {
        assert_false(UTF8_OK("\xf4\x90\x80\x80"));    /* U+110000 */
        assert_false(UTF8_OK("\xf5\x80\x80\x80"));
        assert_false(UTF8_OK("\xf7\xbf\xbf\xbf"));    /* U+1FFFFF */
        assert_false(UTF8_OK("\xf8\x88\x80\x80\x80")); /* old 5-byte form */
        assert_false(UTF8_OK("\xfc\x84\x80\x80\x80\x80")); /* old 6-byte form */
        assert_false(UTF8_OK("\xfe"));
        assert_false(UTF8_OK("\xff"));
}

static void test_utf8_truncated(void **state) {
        assert_false(UTF8_OK("\xc3"));
        assert_false(UTF8_OK("\xe2\x82"));
        assert_false(UTF8_OK("\xf0\x9f\x98"));
        assert_false(UTF8_OK("abc\xf0"));
        /* A sequence interrupted by an ASCII byte, then completed: still invalid. */
        assert_false(UTF8_OK("\xe2" "a\x82\xac"));
}

static void test_utf8_stray_continuation(void **state) {
        assert_false(UTF8_OK("\x80"));
        assert_false(UTF8_OK("\xbf"));
        assert_false(UTF8_OK("a\x80" "b"));
        assert_false(UTF8_OK("\xc3\xa9\xa9"));        /* one continuation byte too many */
}

static void test_utf8_nul(void **state) {
        assert_false(UTF8_OK("\0"));
        assert_false(UTF8_OK("abc\0def"));
        assert_false(UTF8_OK("abc\0"));
}

static void test_utf8_null_pointer(void **state) {
        assert_false(utf8_is_valid(NULL, 0));
        assert_false(utf8_is_valid(NULL, 5));
}

static void test_utf8_respects_length(void **state) {
        /* The length is the bound: a valid prefix is accepted without looking at what follows it. */
        assert_true(utf8_is_valid("abc\xff", 3));
        assert_true(utf8_is_valid("\xc3\xa9\xc3", 2));
        /* A sequence cut by the bound is truncated even though the bytes after it would complete it. */
        assert_false(utf8_is_valid("\xe2\x82\xac", 2));
}

static void test_utf8_no_read_past_length(void **state) {
        static const char *const inputs[] = { "\xf0", "\xf0\x9f", "\xf0\x9f\x98", "\xe2", "\xe2\x82",
                                               "\xc3" };

        for (size_t i = 0; i < ELEMENTSOF(inputs); i++) {
                size_t n = strlen(inputs[i]);
                _cleanup_free_ char *p = exact_copy(inputs[i], n);

                assert_false(utf8_is_valid(p, n));
        }
}

/* ---------------------------------------------------------------------------------------------------
 * string_is_safe()
 */

static void test_safe_plain_text(void **state) {
        assert_true(string_is_safe("Living room lamp", 64));
        assert_true(string_is_safe("K\xc3\xbc" "che \xe2\x80\x94 \xf0\x9f\x92\xa1", 64));
        assert_true(string_is_safe("", 0));
        assert_true(string_is_safe("", 10));
}

static void test_safe_length_bound(void **state) {
        assert_true(string_is_safe("abcd", 4));
        assert_false(string_is_safe("abcde", 4));
        assert_false(string_is_safe("a", 0));
        /* The bound counts bytes, not characters: "é" is two. */
        assert_false(string_is_safe("\xc3\xa9", 1));
        assert_true(string_is_safe("\xc3\xa9", 2));
}

static void test_safe_reads_at_most_max_len_plus_one(void **state) {
        /* Not NUL-terminated within max_len + 1 bytes: refused without reading further. */
        _cleanup_free_ char *p = exact_copy("abcdef", 6);

        assert_false(string_is_safe(p, 5));
        assert_false(string_is_safe(p, 3));
}

static void test_safe_no_limit(void **state) {
        /* SIZE_MAX as "no limit" must not wrap around to a limit of nothing checked. */
        assert_true(string_is_safe("plain", SIZE_MAX));
        assert_false(string_is_safe("a\tb", SIZE_MAX));
        assert_false(string_is_safe("\xff", SIZE_MAX));
        assert_false(string_is_safe("a\x1b", SIZE_MAX - 1));
}

static void test_safe_control_characters(void **state) {
        assert_false(string_is_safe("a\tb", 16));
        assert_false(string_is_safe("a\nb", 16));
        assert_false(string_is_safe("a\rb", 16));
        assert_false(string_is_safe("\x1b[31m", 16));
        assert_false(string_is_safe("\x01", 16));
        assert_false(string_is_safe("\x1f", 16));
        assert_false(string_is_safe("a\x7f", 16));       /* DEL */
        assert_false(string_is_safe("\xc2\x80", 16));    /* U+0080, C1 */
        assert_false(string_is_safe("\xc2\x85", 16));    /* U+0085, NEL */
        assert_false(string_is_safe("\xc2\x9f", 16));    /* U+009F, C1 */
        assert_true(string_is_safe("\xc2\xa0", 16));     /* U+00A0, first after C1 */
        assert_true(string_is_safe(" ~", 16));
}

static void test_safe_invalid_utf8(void **state) {
        assert_false(string_is_safe("\xc0\xaf", 16));
        assert_false(string_is_safe("\xed\xa0\x80", 16));
        assert_false(string_is_safe("\xf4\x90\x80\x80", 16));
        assert_false(string_is_safe("ok\xe2\x82", 16));
        assert_false(string_is_safe("\xff", 16));
}

static void test_safe_null(void **state) {
        assert_false(string_is_safe(NULL, 16));
}

/* ---------------------------------------------------------------------------------------------------
 * identifier_is_valid()
 */

static void test_identifier_valid(void **state) {
        assert_true(identifier_is_valid("a", 1));
        assert_true(identifier_is_valid("0", 1));
        assert_true(identifier_is_valid("living-room_lamp-2", 32));
        assert_true(identifier_is_valid("9lives", 32));
}

static void test_identifier_first_character(void **state) {
        assert_false(identifier_is_valid("-a", 32));
        assert_false(identifier_is_valid("_a", 32));
        assert_true(identifier_is_valid("a-", 32));
        assert_true(identifier_is_valid("a_", 32));
}

static void test_identifier_charset(void **state) {
        assert_false(identifier_is_valid("Lamp", 32));
        assert_false(identifier_is_valid("a.b", 32));
        assert_false(identifier_is_valid("a b", 32));
        assert_false(identifier_is_valid("a/b", 32));
        assert_false(identifier_is_valid("a:b", 32));
        assert_false(identifier_is_valid("caf\xc3\xa9", 32));
        assert_false(identifier_is_valid("a\n", 32));
}

static void test_identifier_length(void **state) {
        assert_false(identifier_is_valid("", 32));
        assert_false(identifier_is_valid("a", 0));
        assert_true(identifier_is_valid("abcd", 4));
        assert_false(identifier_is_valid("abcde", 4));
        assert_false(identifier_is_valid(NULL, 32));
}

static void test_identifier_no_limit(void **state) {
        assert_true(identifier_is_valid("lamp", SIZE_MAX));
        assert_false(identifier_is_valid("Lamp", SIZE_MAX));
        assert_false(identifier_is_valid("", SIZE_MAX));
        assert_false(identifier_is_valid("_x", SIZE_MAX));
}

static void test_identifier_reads_at_most_max_len_plus_one(void **state) {
        _cleanup_free_ char *p = exact_copy("abcdef", 6);

        assert_false(identifier_is_valid(p, 5));
}

/* ---------------------------------------------------------------------------------------------------
 * hostname_is_valid()
 */

static void test_hostname_names(void **state) {
        assert_true(hostname_is_valid("localhost"));
        assert_true(hostname_is_valid("broker.example.com"));
        assert_true(hostname_is_valid("Hub-01.Example.COM"));
        assert_true(hostname_is_valid("a"));
        assert_true(hostname_is_valid("1.example"));
        assert_true(hostname_is_valid("a-b.c-d"));
}

static void test_hostname_literals(void **state) {
        assert_true(hostname_is_valid("127.0.0.1"));
        assert_true(hostname_is_valid("192.168.1.254"));
        assert_true(hostname_is_valid("::1"));
        assert_true(hostname_is_valid("fe80::1"));
        assert_true(hostname_is_valid("2001:db8::8a2e:370:7334"));
        assert_true(hostname_is_valid("::ffff:192.0.2.1"));
        assert_false(hostname_is_valid("fe80::1%eth0"));
        assert_false(hostname_is_valid("[::1]"));
        assert_false(hostname_is_valid("1::2::3"));
}

static void test_hostname_labels(void **state) {
        assert_false(hostname_is_valid(""));
        assert_false(hostname_is_valid("."));
        assert_false(hostname_is_valid("a..b"));
        assert_false(hostname_is_valid(".a"));
        assert_false(hostname_is_valid("a."));
        assert_false(hostname_is_valid("-a"));
        assert_false(hostname_is_valid("a-"));
        assert_false(hostname_is_valid("a.-b"));
        assert_false(hostname_is_valid("a.b-"));
        assert_false(hostname_is_valid("a_b"));
        assert_false(hostname_is_valid("a b"));
        assert_false(hostname_is_valid("a:b"));
        assert_false(hostname_is_valid("h\xc3\xbc" "b"));
        assert_false(hostname_is_valid(NULL));
}

static void test_hostname_label_length(void **state) {
        char label[65];

        memset(label, 'a', 63);
        label[63] = '\0';
        assert_true(hostname_is_valid(label));
        label[63] = 'a';
        label[64] = '\0';
        assert_false(hostname_is_valid(label));
}

static void test_hostname_total_length(void **state) {
        char name[256];

        /* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 bytes: the limit. */
        memset(name, 'a', sizeof name);
        name[63] = name[127] = name[191] = '.';
        name[253] = '\0';
        assert_true(hostname_is_valid(name));
        name[253] = 'a';
        name[254] = '\0';
        assert_false(hostname_is_valid(name));
}

/* ---------------------------------------------------------------------------------------------------
 * path_is_absolute_normal()
 */

static void test_path_normal(void **state) {
        assert_true(path_is_absolute_normal("/"));
        assert_true(path_is_absolute_normal("/var/lib/hubguard"));
        assert_true(path_is_absolute_normal("/a"));
        assert_true(path_is_absolute_normal("/.hidden/..foo/..."));
        assert_true(path_is_absolute_normal("/a b/\xc3\xa9"));
}

static void test_path_relative(void **state) {
        assert_false(path_is_absolute_normal(""));
        assert_false(path_is_absolute_normal("var/lib"));
        assert_false(path_is_absolute_normal("./var"));
        assert_false(path_is_absolute_normal(NULL));
}

static void test_path_slashes(void **state) {
        assert_false(path_is_absolute_normal("//"));
        assert_false(path_is_absolute_normal("//var"));
        assert_false(path_is_absolute_normal("/var//lib"));
        assert_false(path_is_absolute_normal("/var/"));
        assert_false(path_is_absolute_normal("/var/lib/"));
}

static void test_path_dot_components(void **state) {
        assert_false(path_is_absolute_normal("/."));
        assert_false(path_is_absolute_normal("/.."));
        assert_false(path_is_absolute_normal("/var/./lib"));
        assert_false(path_is_absolute_normal("/var/../etc"));
        assert_false(path_is_absolute_normal("/var/."));
        assert_false(path_is_absolute_normal("/var/.."));
}

static void test_path_control_characters(void **state) {
        assert_false(path_is_absolute_normal("/var/\nlib"));
        assert_false(path_is_absolute_normal("/var/\tlib"));
        assert_false(path_is_absolute_normal("/var\x7f"));
        assert_false(path_is_absolute_normal("/\x01"));
}

static void test_path_length(void **state) {
        _cleanup_free_ char *p = malloc(4097);

        assert_non_null(p);
        /* "/aaa...": 4095 bytes is the limit, 4096 is one too many. */
        memset(p, 'a', 4097);
        p[0] = '/';
        p[4095] = '\0';
        assert_true(path_is_absolute_normal(p));
        p[4095] = 'a';
        p[4096] = '\0';
        assert_false(path_is_absolute_normal(p));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_utf8_ascii),
                cmocka_unit_test(test_utf8_multibyte_boundaries),
                cmocka_unit_test(test_utf8_overlong),
                cmocka_unit_test(test_utf8_surrogates),
                cmocka_unit_test(test_utf8_above_max),
                cmocka_unit_test(test_utf8_truncated),
                cmocka_unit_test(test_utf8_stray_continuation),
                cmocka_unit_test(test_utf8_nul),
                cmocka_unit_test(test_utf8_null_pointer),
                cmocka_unit_test(test_utf8_respects_length),
                cmocka_unit_test(test_utf8_no_read_past_length),
                cmocka_unit_test(test_safe_plain_text),
                cmocka_unit_test(test_safe_length_bound),
                cmocka_unit_test(test_safe_reads_at_most_max_len_plus_one),
                cmocka_unit_test(test_safe_no_limit),
                cmocka_unit_test(test_safe_control_characters),
                cmocka_unit_test(test_safe_invalid_utf8),
                cmocka_unit_test(test_safe_null),
                cmocka_unit_test(test_identifier_valid),
                cmocka_unit_test(test_identifier_first_character),
                cmocka_unit_test(test_identifier_charset),
                cmocka_unit_test(test_identifier_length),
                cmocka_unit_test(test_identifier_no_limit),
                cmocka_unit_test(test_identifier_reads_at_most_max_len_plus_one),
                cmocka_unit_test(test_hostname_names),
                cmocka_unit_test(test_hostname_literals),
                cmocka_unit_test(test_hostname_labels),
                cmocka_unit_test(test_hostname_label_length),
                cmocka_unit_test(test_hostname_total_length),
                cmocka_unit_test(test_path_normal),
                cmocka_unit_test(test_path_relative),
                cmocka_unit_test(test_path_slashes),
                cmocka_unit_test(test_path_dot_components),
                cmocka_unit_test(test_path_control_characters),
                cmocka_unit_test(test_path_length),
        };

        return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
