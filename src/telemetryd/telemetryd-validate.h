/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What a device may send (EN 303 645 5.13-1B). A message is accepted only if all of this holds:
 *   topic     matches the configured pattern; the '+' level, the device id, is 1-64 of [A-Za-z0-9_-]
 *   size      1..MaxPayloadBytes bytes
 *   payload   UTF-8 JSON (jansson, duplicate keys refused) whose top level is an object of
 *             1..DEVICE_KEYS_MAX members; keys are 1-64 of [A-Za-z0-9_.-]; values are finite numbers,
 *             booleans, strings of up to DEVICE_STRING_MAX bytes of printable UTF-8, or one level of
 *             object holding such values; "ts", if present, is a number (seconds since the epoch)
 * Anything else is refused with a short reason (never the payload itself).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DEVICE_ID_MAX 64
#define DEVICE_KEYS_MAX 64
#define DEVICE_KEY_MAX 64
#define DEVICE_STRING_MAX 128

/*
 * Does topic match pattern (see device_topic_pattern_is_valid())? On a match, the device id is
 * copied to device_id (DEVICE_ID_MAX + 1 bytes) and 0 is returned; -EINVAL otherwise.
 */
int device_topic_match(const char *pattern, const char *topic, char *device_id);

/*
 * Parse and check a payload of len bytes (at most max_len). Returns 0 with *ret the parsed object
 * (the caller json_decref()s it), or -EINVAL/-EMSGSIZE with reason set.
 */
int device_payload_parse(const void *payload, size_t len, size_t max_len, json_t **ret, char *reason,
                         size_t reason_size);
