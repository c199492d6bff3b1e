/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Input validation at trust boundaries (D-Bus, MQTT, config, database rows). Every function takes an
 * explicit length bound and never reads past it. Each returns true only for input that is entirely
 * acceptable; they do not modify their input.
 */

#include <stdbool.h>
#include <stddef.h>

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, no NUL. */
bool utf8_is_valid(const char *s, size_t len);

/*
 * Text fit for a log line or a D-Bus string: valid UTF-8 of at most max_len bytes, NUL-terminated
 * within max_len + 1 bytes, and free of C0/C1 control characters and DEL (tab is refused too).
 */
bool string_is_safe(const char *s, size_t max_len);

/*
 * An identifier: 1..max_len characters of [a-z0-9_-], starting with a letter or digit. Used for
 * domain names, categories, account and device ids.
 */
bool identifier_is_valid(const char *s, size_t max_len);

/* A host name (RFC 1123 labels, at most 253 bytes) or an IPv4/IPv6 literal. */
bool hostname_is_valid(const char *s);

/* An absolute, normalised path: starts with '/', no "//", no "." or ".." component, at most 4095 bytes. */
bool path_is_absolute_normal(const char *s);
