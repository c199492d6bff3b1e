/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Brute-force throttling (EN 303 645 5.1-5). After the n-th failed attempt, the next attempt is
 * refused until base * 2^(n-1) has passed (capped at max); after lockout_after failures in a row the
 * key is locked for lockout; failures older than reset_after are forgotten. Refusals happen before any
 * Argon2 work. Times are CLOCK_REALTIME microseconds, so that state survives reboots; a clock that
 * went backwards is treated as "no time has passed" (the delay is never shortened by it).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

typedef struct ThrottleConfig {
        uint64_t base_usec;    /* >= 1 s */
        uint64_t max_usec;
        unsigned lockout_after;
        uint64_t lockout_usec;
        uint64_t reset_after_usec;
} ThrottleConfig;

typedef struct ThrottleState {
        unsigned failures;
        uint64_t last_failure_usec;
        uint64_t locked_until_usec;
} ThrottleState;

/* Delay after the n-th consecutive failure (n >= 1). */
uint64_t throttle_delay(const ThrottleConfig *c, unsigned n);

/* Forget what has expired at now: a lockout that ended, or failures older than reset_after. */
void throttle_expire(const ThrottleConfig *c, ThrottleState *s, uint64_t now);

/* Earliest time the next attempt may be made (<= now means: now). */
uint64_t throttle_next_allowed(const ThrottleConfig *c, const ThrottleState *s);

/* Record a failure at now; returns true if this failure locked the key. */
bool throttle_record_failure(const ThrottleConfig *c, ThrottleState *s, uint64_t now);

/* Persistence in the identity database (table throttle, see identityd-manager.c's migrations). */
#define THROTTLE_KEYS_MAX 4096 /* rows kept; the oldest unlocked rows go first */

int throttle_load(sqlite3 *db, const char *kind, const char *key, ThrottleState *ret);
int throttle_store(sqlite3 *db, const char *kind, const char *key, const ThrottleState *s);
int throttle_clear(sqlite3 *db, const char *kind, const char *key);
