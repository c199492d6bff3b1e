/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "telemetryd-validate.h"

static bool id_char(char c, bool dot) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               (dot && c == '.');
}

int device_topic_match(const char *pattern, const char *topic, char *device_id) {
        const char *p = pattern, *t = topic;
        char id[DEVICE_ID_MAX + 1];
        bool captured = false;

        if (!topic || strnlen(topic, 257) > 256)
                return -EINVAL;
        for (;;) {
                size_t pl = strcspn(p, "/"), tl = strcspn(t, "/");

                if (pl == 1 && p[0] == '+') {
                        if (tl == 0 || tl > DEVICE_ID_MAX || captured)
                                return -EINVAL;
                        for (size_t i = 0; i < tl; i++)
                                if (!id_char(t[i], false))
                                        return -EINVAL;
                        memcpy(id, t, tl);
                        id[tl] = '\0';
                        captured = true;
                } else if (pl != tl || memcmp(p, t, pl) != 0)
                        return -EINVAL;
                p += pl;
                t += tl;
                /* Both end here, or both go on to another level. */
                if (*p == '\0' || *t == '\0') {
                        /* Nothing is written on failure. */
                        if (*p != '\0' || *t != '\0' || !captured)
                                return -EINVAL;
                        strcpy(device_id, id);
                        return 0;
                }
                p++;
                t++;
        }
}

static bool key_is_valid(const char *k) {
        size_t n = strnlen(k, DEVICE_KEY_MAX + 1);

        if (n == 0 || n > DEVICE_KEY_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!id_char(k[i], true))
                        return false;
        return true;
}

/* A leaf value: finite number, boolean, or a short printable string. */
static bool leaf_is_valid(json_t *v, const char *key, char *reason, size_t size) {
        if (json_is_real(v) && !isfinite(json_real_value(v))) {
                (void) snprintf(reason, size, "'%s' is not a finite number", key);
                return false;
        }
        if (json_is_number(v) || json_is_boolean(v))
                return true;
        if (json_is_string(v)) {
                if (json_string_length(v) > DEVICE_STRING_MAX || !string_is_safe(json_string_value(v), DEVICE_STRING_MAX)) {
                        (void) snprintf(reason, size, "'%s' is not a string of up to %d printable characters", key,
                                        DEVICE_STRING_MAX);
                        return false;
                }
                return true;
        }
        (void) snprintf(reason, size, "'%s' has a value of an unsupported type", key);
        return false;
}

static bool object_is_valid(json_t *o, int depth, unsigned *n_keys, char *reason, size_t size) {
        const char *key;
        json_t *v;

        json_object_foreach(o, key, v) {
                if (++*n_keys > DEVICE_KEYS_MAX) {
                        (void) snprintf(reason, size, "more than %d members", DEVICE_KEYS_MAX);
                        return false;
                }
                if (!key_is_valid(key)) {
                        (void) snprintf(reason, size, "a member name is not 1-%d of [A-Za-z0-9_.-]", DEVICE_KEY_MAX);
                        return false;
                }
                if (json_is_object(v) && !(depth == 0 && streq(key, "ts"))) {
                        if (depth >= 1) {
                                (void) snprintf(reason, size, "'%s' is nested too deeply", key);
                                return false;
                        }
                        if (!object_is_valid(v, depth + 1, n_keys, reason, size))
                                return false;
                } else if (depth == 0 && streq(key, "ts") && !json_is_number(v)) {
                        (void) snprintf(reason, size, "'ts' is not a number");
                        return false;
                } else if (!leaf_is_valid(v, key, reason, size))
                        return false;
        }
        return true;
}

int device_payload_parse(const void *payload, size_t len, size_t max_len, json_t **ret, char *reason,
                         size_t reason_size) {
        json_error_t jerr;
        unsigned n_keys = 0;
        json_t *root;

        if (len == 0 || len > max_len) {
                (void) snprintf(reason, reason_size, "payload of %zu bytes (1 to %zu allowed)", len, max_len);
                return -EMSGSIZE;
        }
        /* jansson checks UTF-8 and refuses NUL bytes; we also refuse duplicate keys. */
        root = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                (void) snprintf(reason, reason_size, "not valid JSON at byte %d", jerr.position);
                return -EINVAL;
        }
        if (!json_is_object(root) || json_object_size(root) == 0) {
                (void) snprintf(reason, reason_size, "not a JSON object with at least one member");
                json_decref(root);
                return -EINVAL;
        }
        if (!object_is_valid(root, 0, &n_keys, reason, reason_size)) {
                json_decref(root);
                return -EINVAL;
        }
        *ret = root;
        return 0;
}
