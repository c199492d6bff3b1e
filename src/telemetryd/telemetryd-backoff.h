/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Reconnect scheduling: capped exponential backoff with full jitter (the delay before attempt n is
 * uniform in [0, min(max, min * 2^n)]), never giving up. A fleet of hubs that lose the same broker
 * at the same instant spreads its reconnects over the whole window instead of arriving in waves
 * (EN 303 645 5.9-3). A broker that says it is busy or over quota moves the schedule straight to
 * its cap.
 */

#include <stdint.h>

typedef struct Backoff {
        uint64_t min_usec, max_usec;
        unsigned attempt;                       /* failed attempts since the last success */
        uint32_t (*random_uniform)(uint32_t n); /* [0, n); randombytes_uniform() unless a test sets it */
} Backoff;

void backoff_init(Backoff *b, uint64_t min_usec, uint64_t max_usec);

/* The window of the next attempt: min(max, min * 2^attempt). */
uint64_t backoff_window(const Backoff *b);

/* The delay before the next attempt (drawn in the window), and count the attempt. */
uint64_t backoff_next(Backoff *b);

/* A connection succeeded: start again from the minimum. */
void backoff_reset(Backoff *b);

/* The server said it is busy or over quota: the next window is the cap. */
void backoff_server_busy(Backoff *b);
