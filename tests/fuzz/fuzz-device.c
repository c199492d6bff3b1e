/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * What a device may send (telemetryd-validate.h) on arbitrary bytes. The first line is a topic for
 * device_topic_match() against a few fixed patterns, checked against a reference that splits both
 * into levels; the rest of the input (all of it if there is no newline) is a payload for
 * device_payload_parse() with several max_len bounds. An accepted payload must be an object that
 * keeps every rule (checked again here, written differently), and whose json_dumps() parses back to
 * an equal object that is accepted too; a refused one must have a short printable reason, the
 * documented errno, and an untouched *ret. The verdict may depend on max_len only through the size.
 */

#include <errno.h>
#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "telemetryd-validate.h"

/* Past the largest MaxPayloadBytes= default (4096) and past 4 x the key and value limits. */
#define FUZZ_DEVICE_SIZE_MAX (64 * 1024)

/* The largest topic device_topic_match() looks at. */
#define TOPIC_MAX 256

static const char *const patterns[] = {
        "devices/+/telemetry", /* the shipped DeviceTopicPattern= */
        "+/telemetry",
        "devices/+",
        "+",
        "a/b/c/+/d",
};

static bool ref_id_char(char c) {
        return c != '\0' && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", c);
}

/* The reference: same number of levels, literals equal, the one '+' level 1-64 id characters. */
static bool ref_topic_match(const char *pattern, const char *topic, char *ret_id) {
        const char *p = pattern, *t = topic;

        if (strlen(topic) > TOPIC_MAX)
                return false;
        for (;;) {
                const char *pe = strchrnul(p, '/'), *te = strchrnul(t, '/');
                size_t pl = (size_t) (pe - p), tl = (size_t) (te - t);

                if (pl == 1 && *p == '+') {
                        if (tl < 1 || tl > DEVICE_ID_MAX)
                                return false;
                        for (const char *c = t; c < te; c++)
                                if (!ref_id_char(*c))
                                        return false;
                        memcpy(ret_id, t, tl);
                        ret_id[tl] = '\0';
                } else if (pl != tl || strncmp(p, t, pl) != 0)
                        return false;
                if ((*pe == '\0') != (*te == '\0'))
                        return false;
                if (*pe == '\0')
                        return true;
                p = pe + 1;
                t = te + 1;
        }
}

static void check_topic(const char *topic) {
        for (size_t i = 0; i < ELEMENTSOF(patterns); i++) {
                char id[DEVICE_ID_MAX + 1] = "", ref[DEVICE_ID_MAX + 1] = "";
                bool want = ref_topic_match(patterns[i], topic, ref);
                int r;

                r = device_topic_match(patterns[i], topic, id);
                fuzz_check(r == 0 || r == -EINVAL);
                fuzz_check((r == 0) == want);
                if (r == 0) {
                        fuzz_check(streq(id, ref));
                        fuzz_check(strlen(id) >= 1 && strlen(id) <= DEVICE_ID_MAX);
                }
        }
}

static bool ref_key(const char *k) {
        size_t n = strlen(k);

        return n >= 1 && n <= DEVICE_KEY_MAX &&
               strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static bool ref_leaf(json_t *v) {
        if (json_is_integer(v) || json_is_true(v) || json_is_false(v))
                return true;
        if (json_is_real(v))
                return isfinite(json_real_value(v));
        if (json_is_string(v))
                return json_string_length(v) <= DEVICE_STRING_MAX &&
                       strlen(json_string_value(v)) == json_string_length(v) &&
                       string_is_safe(json_string_value(v), DEVICE_STRING_MAX);
        return false;
}

/* An accepted payload keeps every rule: count the members, check names and values. */
static void check_accepted(json_t *root) {
        const char *key, *k2;
        json_t *v, *v2;
        size_t n = 0;

        fuzz_check(json_is_object(root));
        fuzz_check(json_object_size(root) >= 1 && json_object_size(root) <= DEVICE_KEYS_MAX);
        json_object_foreach(root, key, v) {
                n++;
                fuzz_check(ref_key(key));
                if (streq(key, "ts"))
                        fuzz_check(json_is_number(v));
                if (!json_is_object(v)) {
                        fuzz_check(ref_leaf(v));
                        continue;
                }
                json_object_foreach(v, k2, v2) {
                        n++;
                        fuzz_check(ref_key(k2));
                        fuzz_check(ref_leaf(v2));
                }
        }
        fuzz_check(n <= DEVICE_KEYS_MAX);
}

/* json_dumps() of it parses back to an equal object, which is accepted again. */
static void check_round_trip(json_t *root) {
        _cleanup_free_ char *text = NULL;
        json_error_t err;
        json_t *back, *again = NULL;
        char reason[128];

        text = json_dumps(root, JSON_COMPACT);
        fuzz_check(text);
        back = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        fuzz_check(back);
        fuzz_check(json_equal(root, back));
        json_decref(back);
        fuzz_check(device_payload_parse(text, strlen(text), SIZE_MAX, &again, reason, sizeof reason) == 0);
        fuzz_check(json_equal(root, again));
        json_decref(again);
}

static void check_reason(const char *reason, size_t size) {
        size_t n = strnlen(reason, size);

        fuzz_check(n > 0 && n < size);
        for (size_t i = 0; i < n; i++)
                fuzz_check(reason[i] >= 0x20 && reason[i] < 0x7f);
}

/* Parse with max_len; returns the verdict (0, -EINVAL or -EMSGSIZE) after checking the promises. */
static int check_payload(const uint8_t *payload, size_t len, size_t max_len) {
        json_t *sentinel = (json_t *) &max_len, *v = sentinel;
        char reason[128], tiny[4];
        int r;

        memset(reason, 0xff, sizeof reason);
        r = device_payload_parse(payload, len, max_len, &v, reason, sizeof reason);
        if (r == 0) {
                fuzz_check(len >= 1 && len <= max_len);
                fuzz_check(v != sentinel && v);
                check_accepted(v);
                check_round_trip(v);
                json_decref(v);
                return 0;
        }
        fuzz_check(r == -EINVAL || r == -EMSGSIZE);
        fuzz_check((r == -EMSGSIZE) == (len == 0 || len > max_len));
        fuzz_check(v == sentinel);
        check_reason(reason, sizeof reason);

        /* A reason buffer too small for any message: truncated, terminated, same verdict. */
        memset(tiny, 0xff, sizeof tiny);
        fuzz_check(device_payload_parse(payload, len, max_len, &v, tiny, sizeof tiny) == r);
        fuzz_check(v == sentinel);
        check_reason(tiny, sizeof tiny);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Nothing allowed, and the lowest, default and highest MaxPayloadBytes=. */
        static const size_t bounds[] = { 0, 64, 4096, 262144 };
        _cleanup_free_ char *topic = NULL;
        const uint8_t *nl, *payload;
        size_t topic_len, len;
        int verdict;

        if (outside_size_range(size, 0, FUZZ_DEVICE_SIZE_MAX))
                return 0;

        nl = memchr(data, '\n', size);
        topic_len = nl ? (size_t) (nl - data) : size;
        topic = malloc(topic_len + 1);
        fuzz_check(topic);
        if (topic_len > 0)
                memcpy(topic, data, topic_len);
        topic[topic_len] = '\0';
        check_topic(topic);

        payload = nl ? nl + 1 : data;
        len = nl ? size - topic_len - 1 : size;

        /* Without a bound in the way, the verdict is the one every large enough bound gives. */
        verdict = check_payload(payload, len, SIZE_MAX);
        fuzz_check(check_payload(payload, len, len) == verdict);
        fuzz_check(check_payload(payload, len, len + 1) == verdict);
        for (size_t i = 0; i < ELEMENTSOF(bounds); i++)
                fuzz_check(check_payload(payload, len, bounds[i]) == (len > bounds[i] ? -EMSGSIZE : verdict));
        if (len > 0)
                fuzz_check(check_payload(payload, len, len - 1) == -EMSGSIZE);
        return 0;
}
