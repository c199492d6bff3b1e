/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "common.h"
#include "telemetryd-validate.h"

/* The shipped DeviceTopicPattern= (src/shared/conf.c). */
#define PATTERN "devices/+/telemetry"

/* MaxPayloadBytes= default. */
#define MAX_LEN 4096

/* What device_topic_match() leaves in a device id buffer it did not fill. */
#define UNTOUCHED "untouched"

static void assert_match(const char *pattern, const char *topic, const char *id) {
        char buf[DEVICE_ID_MAX + 1] = UNTOUCHED;

        assert_int_equal(device_topic_match(pattern, topic, buf), 0);
        assert_string_equal(buf, id);
}

static void assert_no_match(const char *pattern, const char *topic) {
        char buf[DEVICE_ID_MAX + 1] = UNTOUCHED;

        assert_int_equal(device_topic_match(pattern, topic, buf), -EINVAL);
}

/* A string of n copies of c, in a static buffer. */
static const char *repeat(char c, size_t n) {
        static char buf[4096];

        assert_true(n < sizeof buf);
        memset(buf, c, n);
        buf[n] = '\0';
        return buf;
}

/* before, n copies of c, then after, into buf of size bytes (which must hold it all). */
static void fill_run(char *buf, size_t size, const char *before, char c, size_t n, const char *after) {
        size_t lb = strlen(before), la = strlen(after);

        assert_true(lb + n + la < size);
        memcpy(buf, before, lb);
        memset(buf + lb, c, n);
        memcpy(buf + lb + n, after, la + 1);
}

/*
 * Parse s (strlen bytes) with MAX_LEN; the object must be accepted, and is returned (json_decref()
 * it). reason must stay as it was: no half-written message on success.
 */
static json_t *parse_ok(const char *s) {
        char reason[256] = "unset";
        json_t *v = NULL;

        assert_int_equal(device_payload_parse(s, strlen(s), MAX_LEN, &v, reason, sizeof reason), 0);
        assert_non_null(v);
        assert_true(json_is_object(v));
        assert_string_equal(reason, "unset");
        return v;
}

static void assert_accepted(const char *s) {
        json_t *v = parse_ok(s);

        json_decref(v);
}

/*
 * s of len bytes must be refused with error and a reason containing want; *ret stays untouched. The
 * reason must be printable text and must not quote the payload (nor a piece of it of 16+ bytes).
 */
static void assert_refused_len(const void *s, size_t len, size_t max_len, int error, const char *want) {
        json_t *sentinel = (json_t *) 0x1, *v = sentinel;
        char reason[256] = "";

        assert_int_equal(device_payload_parse(s, len, max_len, &v, reason, sizeof reason), error);
        assert_ptr_equal(v, sentinel);
        assert_true(strlen(reason) > 0);
        for (const char *p = reason; *p; p++)
                assert_true(*p >= 0x20 && *p < 0x7f);
        if (!strstr(reason, want))
                fail_msg("reason '%s' does not say '%s'", reason, want);
        if (len >= 16 && memmem(reason, strlen(reason), s, 16))
                fail_msg("reason '%s' quotes the payload", reason);
}

static void assert_refused(const char *s, const char *want) {
        assert_refused_len(s, strlen(s), MAX_LEN, -EINVAL, want);
}

/* ---------------------------------------------------------------------------------------------------
 * device_topic_match()
 */

static void test_topic_exact(void **state) {
        assert_match(PATTERN, "devices/plug-1/telemetry", "plug-1");
        assert_match(PATTERN, "devices/x/telemetry", "x");
        assert_match("home/sensors/+/data", "home/sensors/th_07/data", "th_07");

        /* Every literal level must be equal, byte for byte. */
        assert_no_match(PATTERN, "device/plug/telemetry");
        assert_no_match(PATTERN, "devicesX/plug/telemetry");
        assert_no_match(PATTERN, "devices/plug/telemetr");
        assert_no_match(PATTERN, "devices/plug/telemetryX");
        assert_no_match(PATTERN, "Devices/plug/telemetry");
        assert_no_match(PATTERN, "devices/plug/TELEMETRY");
        assert_no_match(PATTERN, "devices/plug/status");
        assert_no_match(PATTERN, "");
}

static void test_topic_capture(void **state) {
        char id[DEVICE_ID_MAX + 1];

        /* All of [A-Za-z0-9_-] is allowed, in any position. */
        assert_match(PATTERN, "devices/AZaz09_-/telemetry", "AZaz09_-");
        assert_match(PATTERN, "devices/-/telemetry", "-");
        assert_match(PATTERN, "devices/_x/telemetry", "_x");

        /* The id is NUL-terminated right after itself, whatever the buffer held. */
        memset(id, 'Z', sizeof id);
        assert_int_equal(device_topic_match(PATTERN, "devices/ab/telemetry", id), 0);
        assert_string_equal(id, "ab");
}

static void test_topic_empty_level(void **state) {
        assert_no_match(PATTERN, "devices//telemetry");
        assert_no_match(PATTERN, "/plug/telemetry");
        assert_no_match(PATTERN, "devices/plug//telemetry");
        assert_no_match("a/b/+", "a//b/x");
}

static void test_topic_id_length(void **state) {
        char topic[256], id[DEVICE_ID_MAX + 1];

        fill_run(topic, sizeof topic, "devices/", 'a', DEVICE_ID_MAX, "/telemetry");
        assert_int_equal(device_topic_match(PATTERN, topic, id), 0);
        assert_int_equal(strlen(id), DEVICE_ID_MAX);
        assert_string_equal(id, repeat('a', DEVICE_ID_MAX));

        fill_run(topic, sizeof topic, "devices/", 'a', DEVICE_ID_MAX + 1, "/telemetry");
        assert_no_match(PATTERN, topic);
        fill_run(topic, sizeof topic, "devices/", 'a', 200, "/telemetry");
        assert_no_match(PATTERN, topic);
}

static void test_topic_too_long(void **state) {
        char topic[1024];

        /* Topics over 256 bytes are refused before looking at them. */
        fill_run(topic, sizeof topic, "devices/plug/telemetry/", 'x', 300, "");
        assert_no_match(PATTERN, topic);
        assert_no_match(PATTERN, NULL);

        /* A pattern whose literal levels fill 256 bytes: 256 matches, 257 does not. */
        {
                char pattern[300], t256[300], t257[300];

                fill_run(pattern, sizeof pattern, "+/", 'p', 254, "");
                fill_run(t256, sizeof t256, "d/", 'p', 254, "");
                assert_int_equal(strlen(t256), 256);
                assert_match(pattern, t256, "d");
                fill_run(pattern, sizeof pattern, "+/", 'p', 255, "");
                fill_run(t257, sizeof t257, "d/", 'p', 255, "");
                assert_int_equal(strlen(t257), 257);
                assert_no_match(pattern, t257);
        }
}

static void test_topic_bad_characters(void **state) {
        static const char *const bad[] = {
                "devices/pl.ug/telemetry",   "devices/pl ug/telemetry",  "devices/pl:ug/telemetry",
                "devices/+/telemetry",       "devices/#/telemetry",      "devices/pl+ug/telemetry",
                "devices/pl\tug/telemetry",  "devices/pl\x7fug/telemetry", "devices/pl\xc3\xbcg/telemetry",
                "devices/pl\xffug/telemetry", "devices/$SYS/telemetry",   "devices/pl\\ug/telemetry",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_no_match(PATTERN, bad[i]);
}

static void test_topic_levels(void **state) {
        /* Extra levels: '+' is one level, never several. */
        assert_no_match(PATTERN, "devices/a/b/telemetry");
        assert_no_match(PATTERN, "devices/plug/telemetry/x");
        assert_no_match(PATTERN, "devices/plug/telemetry/");
        assert_no_match(PATTERN, "x/devices/plug/telemetry");
        /* Missing levels. */
        assert_no_match(PATTERN, "devices/plug");
        assert_no_match(PATTERN, "devices/plug/");
        assert_no_match(PATTERN, "devices");
        assert_no_match(PATTERN, "devices/");
        assert_no_match(PATTERN, "/telemetry");
}

static void test_topic_plus_at_start(void **state) {
        assert_match("+/telemetry", "plug/telemetry", "plug");
        assert_match("+/a/b", "x-1/a/b", "x-1");
        assert_no_match("+/telemetry", "/telemetry");
        assert_no_match("+/telemetry", "telemetry");
        assert_no_match("+/telemetry", "plug");
        assert_no_match("+/telemetry", "a/b/telemetry");
        assert_no_match("+/telemetry", "plug/telemetry/");
}

static void test_topic_plus_at_end(void **state) {
        assert_match("devices/+", "devices/plug", "plug");
        assert_no_match("devices/+", "devices/");
        assert_no_match("devices/+", "devices");
        assert_no_match("devices/+", "devices/plug/");
        assert_no_match("devices/+", "devices/plug/telemetry");
        assert_no_match("devices/+", "other/plug");

        /* The pattern that is only the device id. */
        assert_match("+", "plug", "plug");
        assert_no_match("+", "");
        assert_no_match("+", "a/b");
        assert_no_match("+", "/plug");
}

static void test_topic_pattern_without_capture(void **state) {
        /* device_topic_pattern_is_valid() wants exactly one '+': without it there is no device id. */
        assert_no_match("devices/plug/telemetry", "devices/plug/telemetry");
        /* '+' inside a level is a literal, not a wildcard. */
        assert_no_match("devices/a+/telemetry", "devices/ab/telemetry");
        /* A second '+' level never captures a second id. */
        assert_no_match("+/+", "a/b");
}

/* ---------------------------------------------------------------------------------------------------
 * device_payload_parse(): size
 */

static void test_payload_size(void **state) {
        char buf[64];
        json_t *v = NULL;
        char reason[128];

        assert_refused_len("", 0, MAX_LEN, -EMSGSIZE, "payload of 0 bytes (1 to 4096 allowed)");
        assert_refused_len("{\"a\":1}", 7, 6, -EMSGSIZE, "payload of 7 bytes (1 to 6 allowed)");
        assert_refused_len("{\"a\":1}", 7, 0, -EMSGSIZE, "payload of 7 bytes");

        /* Exactly max_len is fine. */
        assert_int_equal(device_payload_parse("{\"a\":1}", 7, 7, &v, reason, sizeof reason), 0);
        json_decref(v);

        /* Only len bytes are read: what follows is not part of the payload. */
        (void) snprintf(buf, sizeof buf, "{\"a\":1}garbage");
        assert_int_equal(device_payload_parse(buf, 7, MAX_LEN, &v, reason, sizeof reason), 0);
        json_decref(v);
        assert_refused_len(buf, 8, MAX_LEN, -EINVAL, "not valid JSON at byte");

        /* A full MaxPayloadBytes= payload: one long string would be refused, so use many keys. */
        {
                char big[MAX_LEN + 2];
                size_t n = 0;

                n += (size_t) snprintf(big + n, sizeof big - n, "{\"pad\":\"x\"");
                while (n < MAX_LEN - 1)
                        big[n++] = ' ';
                big[n++] = '}';
                big[n] = '\0';
                assert_int_equal(n, MAX_LEN);
                assert_int_equal(device_payload_parse(big, n, MAX_LEN, &v, reason, sizeof reason), 0);
                json_decref(v);
                big[n++] = ' ';
                big[n] = '\0';
                assert_refused_len(big, n, MAX_LEN, -EMSGSIZE, "payload of 4097 bytes");
        }
}

/* ---------------------------------------------------------------------------------------------------
 * device_payload_parse(): JSON and UTF-8
 */

static void test_payload_json_syntax(void **state) {
        assert_accepted("{\"temp\":21.5}");
        assert_accepted(" \n\t{ \"temp\" : 21.5 }\r\n ");

        assert_refused("{", "not valid JSON at byte");
        assert_refused("{\"a\":1", "not valid JSON");
        assert_refused("{\"a\":1,}", "not valid JSON");
        assert_refused("{a:1}", "not valid JSON");
        assert_refused("{'a':1}", "not valid JSON");
        assert_refused("{\"a\":1}{\"b\":2}", "not valid JSON");
        assert_refused("{\"a\":1} x", "not valid JSON");
        assert_refused("{\"a\":01}", "not valid JSON");
        assert_refused("{\"a\":1}// comment", "not valid JSON");
        assert_refused("\xef\xbb\xbf{\"a\":1}", "not valid JSON");
}

static void test_payload_utf8(void **state) {
        /* Valid UTF-8 in strings, escaped or not. */
        assert_accepted("{\"room\":\"K\xc3\xbc" "che\"}");
        assert_accepted("{\"room\":\"\\u00fc \\ud83d\\ude00 \xf0\x9f\x98\x80\"}");

        assert_refused("{\"room\":\"\xff\"}", "not valid JSON");
        assert_refused("{\"room\":\"\xc3\"}", "not valid JSON");
        assert_refused("{\"room\":\"\xc0\xaf\"}", "not valid JSON");           /* overlong '/' */
        assert_refused("{\"room\":\"\xed\xa0\x80\"}", "not valid JSON");       /* a surrogate */
        assert_refused("{\"room\":\"\xf4\x90\x80\x80\"}", "not valid JSON");   /* above U+10FFFF */
        assert_refused("{\"room\":\"\\ud800\"}", "not valid JSON");            /* a lone surrogate */
        assert_refused("{\"k\xc3\xbc\":1}", "member name");
}

static void test_payload_nul(void **state) {
        static const char raw[] = "{\"a\":\"x\0y\"}";
        static const char after[] = "{\"a\":1}\0";

        /* A NUL byte inside or after the document, or escaped. */
        assert_refused_len(raw, sizeof raw - 1, MAX_LEN, -EINVAL, "not valid JSON");
        assert_refused_len(after, sizeof after - 1, MAX_LEN, -EINVAL, "not valid JSON");
        assert_refused("{\"a\":\"x\\u0000y\"}", "not valid JSON");
        assert_refused("{\"a\\u0000\":1}", "not valid JSON");
}

static void test_payload_duplicate_keys(void **state) {
        assert_accepted("{\"a\":1,\"b\":1}");
        assert_refused("{\"a\":1,\"a\":2}", "not valid JSON");
        assert_refused("{\"a\":1,\"b\":2,\"a\":1}", "not valid JSON");
        assert_refused("{\"o\":{\"x\":1,\"x\":1}}", "not valid JSON");
        /* The same member name in two objects is no duplicate. */
        assert_accepted("{\"x\":1,\"o\":{\"x\":1}}");
        /* Escaped spelling of the same name. */
        assert_refused("{\"a\":1,\"\\u0061\":2}", "not valid JSON");
}

static void test_payload_deep_nesting(void **state) {
        _cleanup_free_ char *deep = NULL;
        size_t n = 5000;

        /* jansson's own depth limit (2048) holds before our one-level rule is even reached. */
        deep = malloc(2 * n + 8);
        assert_non_null(deep);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        deep[2 * n] = '\0';
        assert_refused_len(deep, 2 * n, 4 * n, -EINVAL, "not valid JSON");
}

/* ---------------------------------------------------------------------------------------------------
 * device_payload_parse(): the top level
 */

static void test_payload_top_level_object(void **state) {
        static const char *const not_objects[] = { "[]", "[{\"a\":1}]", "[1]", "{}", " { } " };
        static const char *const scalars[] = { "\"a\"", "1", "1.5", "true", "false", "null" };

        assert_accepted("{\"a\":1}");
        for (size_t i = 0; i < ELEMENTSOF(not_objects); i++)
                assert_refused(not_objects[i], "not a JSON object with at least one member");
        /* jansson (without JSON_DECODE_ANY) stops at a top-level scalar already. */
        for (size_t i = 0; i < ELEMENTSOF(scalars); i++)
                assert_refused(scalars[i], "not valid JSON at byte");
}

/* {"k00":0,"k01":1,...} with n members, the last nested members in "o" if nested > 0. */
static char *make_members(unsigned n, unsigned nested) {
        char *s = malloc(32 * (n + nested) + 32);
        size_t len = 0;

        assert_non_null(s);
        s[len++] = '{';
        for (unsigned i = 0; i < n; i++)
                len += (size_t) sprintf(s + len, "%s\"k%02u\":%u", i > 0 ? "," : "", i, i);
        if (nested > 0) {
                len += (size_t) sprintf(s + len, "%s\"o\":{", n > 0 ? "," : "");
                for (unsigned i = 0; i < nested; i++)
                        len += (size_t) sprintf(s + len, "%s\"n%02u\":%u", i > 0 ? "," : "", i, i);
                s[len++] = '}';
        }
        s[len++] = '}';
        s[len] = '\0';
        return s;
}

static void test_payload_member_count(void **state) {
        _cleanup_free_ char *max = make_members(DEVICE_KEYS_MAX, 0),
                            *over = make_members(DEVICE_KEYS_MAX + 1, 0),
                            *many = make_members(200, 0);
        json_t *v;

        v = parse_ok(max);
        assert_int_equal(json_object_size(v), DEVICE_KEYS_MAX);
        json_decref(v);
        assert_refused(over, "more than 64 members");
        assert_refused(many, "more than 64 members");
}

static void test_payload_member_count_nested(void **state) {
        /* The cap counts every member: the nested object's own, and the member holding it. */
        _cleanup_free_ char *max = make_members(10, DEVICE_KEYS_MAX - 11),
                            *over = make_members(10, DEVICE_KEYS_MAX - 10),
                            *only_nested = make_members(0, DEVICE_KEYS_MAX);

        assert_accepted(max);
        assert_refused(over, "more than 64 members");
        assert_refused(only_nested, "more than 64 members");
}

/* ---------------------------------------------------------------------------------------------------
 * device_payload_parse(): member names
 */

static void test_payload_keys(void **state) {
        static const char *const bad[] = {
                "{\"\":1}",       "{\"a b\":1}",   "{\"a/b\":1}",   "{\"a+\":1}",   "{\"#\":1}",
                "{\"a:b\":1}",    "{\"$a\":1}",    "{\"a\\nb\":1}", "{\"a\\tb\":1}", "{\"\\u00e9\":1}",
                "{\"ok\":1,\"no way\":2}",         "{\"o\":{\"bad key\":1}}",        "{\"o\":{\"\":1}}",
        };
        char buf[512];

        assert_accepted("{\"AZaz09_.-\":1}");
        assert_accepted("{\".\":1,\"-\":2,\"_\":3,\"0\":4}");
        assert_accepted("{\"o\":{\"a.b\":1}}");

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_refused(bad[i], "a member name is not 1-64 of [A-Za-z0-9_.-]");

        fill_run(buf, sizeof buf, "{\"", 'k', DEVICE_KEY_MAX, "\":1}");
        assert_accepted(buf);
        fill_run(buf, sizeof buf, "{\"o\":{\"", 'k', DEVICE_KEY_MAX, "\":1}}");
        assert_accepted(buf);
        fill_run(buf, sizeof buf, "{\"", 'k', DEVICE_KEY_MAX + 1, "\":1}");
        assert_refused(buf, "member name");
        fill_run(buf, sizeof buf, "{\"o\":{\"", 'k', DEVICE_KEY_MAX + 1, "\":1}}");
        assert_refused(buf, "member name");
        fill_run(buf, sizeof buf, "{\"", 'k', 300, "\":1}");
        assert_refused(buf, "member name");
}

static void test_payload_key_not_quoted(void **state) {
        char reason[256];
        json_t *v = NULL;
        const char *s = "{\"evil<script>\":1}";

        /* A refused name is not repeated in the reason: it may be anything. */
        assert_int_equal(device_payload_parse(s, strlen(s), MAX_LEN, &v, reason, sizeof reason), -EINVAL);
        assert_null(strstr(reason, "evil"));
        assert_null(v);
}

/* ---------------------------------------------------------------------------------------------------
 * device_payload_parse(): values
 */

static void test_payload_numbers(void **state) {
        json_t *v;

        v = parse_ok("{\"i\":-42,\"r\":-1.5e-3,\"z\":0,\"big\":9223372036854775807,\"e\":1E300,\"f\":-0.0}");
        assert_int_equal(json_integer_value(json_object_get(v, "i")), -42);
        assert_int_equal(json_integer_value(json_object_get(v, "big")), INT64_MAX);
        assert_true(json_is_real(json_object_get(v, "e")));
        json_decref(v);

        /* Not finite, or not representable: jansson refuses these as JSON already. */
        assert_refused("{\"a\":NaN}", "not valid JSON");
        assert_refused("{\"a\":nan}", "not valid JSON");
        assert_refused("{\"a\":Infinity}", "not valid JSON");
        assert_refused("{\"a\":-Infinity}", "not valid JSON");
        assert_refused("{\"a\":inf}", "not valid JSON");
        assert_refused("{\"a\":1e400}", "not valid JSON");
        assert_refused("{\"a\":-1e400}", "not valid JSON");
        assert_refused("{\"a\":9223372036854775808}", "not valid JSON");
        assert_refused("{\"a\":123456789012345678901234567890}", "not valid JSON");
        assert_refused("{\"a\":0x10}", "not valid JSON");
        assert_refused("{\"a\":+1}", "not valid JSON");
        assert_refused("{\"a\":.5}", "not valid JSON");
}

static void test_payload_booleans(void **state) {
        json_t *v = parse_ok("{\"on\":true,\"off\":false}");

        assert_true(json_is_true(json_object_get(v, "on")));
        assert_true(json_is_false(json_object_get(v, "off")));
        json_decref(v);
        assert_refused("{\"on\":True}", "not valid JSON");
}

static void test_payload_unsupported_types(void **state) {
        assert_refused("{\"a\":null}", "'a' has a value of an unsupported type");
        assert_refused("{\"a\":[]}", "'a' has a value of an unsupported type");
        assert_refused("{\"a\":[1,2,3]}", "'a' has a value of an unsupported type");
        assert_refused("{\"ok\":1,\"list\":[{\"a\":1}]}", "'list' has a value of an unsupported type");
        assert_refused("{\"o\":{\"n\":null}}", "'n' has a value of an unsupported type");
        assert_refused("{\"o\":{\"l\":[1]}}", "'l' has a value of an unsupported type");
}

static void test_payload_strings(void **state) {
        char buf[1024];
        json_t *v;

        assert_accepted("{\"s\":\"\"}");
        assert_accepted("{\"s\":\"hello, world! ~ \\\"quoted\\\" \\\\ \\/\"}");

        /* Up to DEVICE_STRING_MAX printable characters. */
        fill_run(buf, sizeof buf, "{\"s\":\"", 'x', DEVICE_STRING_MAX, "\"}");
        v = parse_ok(buf);
        assert_int_equal(json_string_length(json_object_get(v, "s")), DEVICE_STRING_MAX);
        json_decref(v);
        fill_run(buf, sizeof buf, "{\"o\":{\"s\":\"", 'x', DEVICE_STRING_MAX, "\"}}");
        assert_accepted(buf);
        fill_run(buf, sizeof buf, "{\"s\":\"", 'x', DEVICE_STRING_MAX + 1, "\"}");
        assert_refused(buf, "'s' is not a string of up to 128 printable characters");
        fill_run(buf, sizeof buf, "{\"o\":{\"s\":\"", 'x', 900, "\"}}");
        assert_refused(buf, "'s' is not a string of up to 128 printable characters");

        /* 64 two-byte characters: 128 bytes. */
        {
                size_t n = 0;

                n += (size_t) snprintf(buf, sizeof buf, "{\"s\":\"");
                for (unsigned i = 0; i < 64; i++) {
                        buf[n++] = '\xc3';
                        buf[n++] = '\xa9';
                }
                (void) snprintf(buf + n, sizeof buf - n, "\"}");
                assert_accepted(buf);
        }
}

static void test_payload_strings_printable(void **state) {
        static const char *const bad[] = {
                "{\"s\":\"a\\nb\"}",     "{\"s\":\"a\\tb\"}",     "{\"s\":\"a\\rb\"}",
                "{\"s\":\"\\u0007\"}",   "{\"s\":\"\\u001b[31m\"}", "{\"s\":\"\\u007f\"}",
                "{\"s\":\"\\u0085\"}",   "{\"s\":\"\\u009f\"}",   "{\"s\":\"a\xc2\x80\"}",
                "{\"o\":{\"s\":\"\\b\"}}",
        };

        assert_accepted("{\"s\":\"\\u00a0 \\u2028 \xe2\x82\xac\"}");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_refused(bad[i], "is not a string of up to 128 printable characters");
}

static void test_payload_value_not_quoted(void **state) {
        char buf[512], reason[256];
        json_t *v = NULL;

        /* The reason names the member, never the refused value. */
        fill_run(buf, sizeof buf, "{\"s\":\"secret-", 'Q', 200, "\"}");
        assert_int_equal(device_payload_parse(buf, strlen(buf), MAX_LEN, &v, reason, sizeof reason), -EINVAL);
        assert_null(strstr(reason, "secret"));
        assert_null(strstr(reason, "QQ"));
        assert_string_equal(reason, "'s' is not a string of up to 128 printable characters");
}

static void test_payload_nested_objects(void **state) {
        json_t *v;

        /* One level of object, holding the same kinds of values. */
        v = parse_ok("{\"env\":{\"temp\":21.5,\"ok\":true,\"unit\":\"C\"},\"id\":7}");
        assert_true(json_is_object(json_object_get(v, "env")));
        assert_int_equal(json_object_size(json_object_get(v, "env")), 3);
        json_decref(v);
        assert_accepted("{\"a\":{\"x\":1},\"b\":{\"x\":2}}");

        assert_refused("{\"a\":{\"b\":{\"c\":1}}}", "'b' is nested too deeply");
        assert_refused("{\"a\":{\"b\":{}}}", "'b' is nested too deeply");
        assert_refused("{\"a\":{\"ok\":1,\"deep\":{\"x\":{\"y\":1}}}}", "'deep' is nested too deeply");
}

static void test_payload_ts(void **state) {
        json_t *v;

        v = parse_ok("{\"ts\":1735689600,\"temp\":1}");
        assert_int_equal(json_integer_value(json_object_get(v, "ts")), 1735689600);
        json_decref(v);
        assert_accepted("{\"ts\":1735689600.25}");
        assert_accepted("{\"temp\":1}");

        assert_refused("{\"ts\":\"2025-01-01T00:00:00Z\"}", "'ts' is not a number");
        assert_refused("{\"ts\":true}", "'ts' is not a number");
        assert_refused("{\"ts\":null}", "'ts' is not a number");
        assert_refused("{\"ts\":[1]}", "'ts' is not a number");
        assert_refused("{\"ts\":{\"s\":1}}", "'ts' is not a number");
        assert_refused("{\"ts\":{}}", "'ts' is not a number");
        /* The rule is for the top-level "ts": a nested one is an ordinary member. */
        assert_accepted("{\"o\":{\"ts\":\"local\"}}");
}

static void test_payload_reason_truncated(void **state) {
        char reason[8];
        json_t *v = NULL;

        /* A short buffer gets a truncated, terminated reason. */
        memset(reason, 'X', sizeof reason);
        assert_int_equal(device_payload_parse("[1]", 3, MAX_LEN, &v, reason, sizeof reason), -EINVAL);
        assert_int_equal(strlen(reason), sizeof reason - 1);
        assert_string_equal(reason, "not a J");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_topic_exact),
                cmocka_unit_test(test_topic_capture),
                cmocka_unit_test(test_topic_empty_level),
                cmocka_unit_test(test_topic_id_length),
                cmocka_unit_test(test_topic_too_long),
                cmocka_unit_test(test_topic_bad_characters),
                cmocka_unit_test(test_topic_levels),
                cmocka_unit_test(test_topic_plus_at_start),
                cmocka_unit_test(test_topic_plus_at_end),
                cmocka_unit_test(test_topic_pattern_without_capture),
                cmocka_unit_test(test_payload_size),
                cmocka_unit_test(test_payload_json_syntax),
                cmocka_unit_test(test_payload_utf8),
                cmocka_unit_test(test_payload_nul),
                cmocka_unit_test(test_payload_duplicate_keys),
                cmocka_unit_test(test_payload_deep_nesting),
                cmocka_unit_test(test_payload_top_level_object),
                cmocka_unit_test(test_payload_member_count),
                cmocka_unit_test(test_payload_member_count_nested),
                cmocka_unit_test(test_payload_keys),
                cmocka_unit_test(test_payload_key_not_quoted),
                cmocka_unit_test(test_payload_numbers),
                cmocka_unit_test(test_payload_booleans),
                cmocka_unit_test(test_payload_unsupported_types),
                cmocka_unit_test(test_payload_strings),
                cmocka_unit_test(test_payload_strings_printable),
                cmocka_unit_test(test_payload_value_not_quoted),
                cmocka_unit_test(test_payload_nested_objects),
                cmocka_unit_test(test_payload_ts),
                cmocka_unit_test(test_payload_reason_truncated),
        };

        return cmocka_run_group_tests_name("validate-device", tests, NULL, NULL);
}
