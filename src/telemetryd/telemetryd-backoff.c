/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sodium.h>

#include "hubguard/macro.h"
#include "telemetryd-backoff.h"

/* Enough doublings to reach any cap from a 1 µs minimum. */
#define BACKOFF_ATTEMPTS_MAX 64

void backoff_init(Backoff *b, uint64_t min_usec, uint64_t max_usec) {
        *b = (Backoff) {
                .min_usec = MAX(min_usec, 1u),
                .max_usec = MAX(max_usec, MAX(min_usec, 1u)),
                .random_uniform = randombytes_uniform,
        };
}

uint64_t backoff_window(const Backoff *b) {
        uint64_t w = b->min_usec;

        for (unsigned i = 0; i < b->attempt && w < b->max_usec; i++)
                w = w > UINT64_MAX / 2 ? UINT64_MAX : w * 2;
        return MIN(w, b->max_usec);
}

uint64_t backoff_next(Backoff *b) {
        uint64_t w = backoff_window(b), d;

        /* Full jitter in milliseconds (randombytes_uniform takes 32 bits; a window of up to 49 days). */
        d = (uint64_t) b->random_uniform((uint32_t) MIN(w / 1000 + 1, (uint64_t) UINT32_MAX)) * 1000;
        if (b->attempt < BACKOFF_ATTEMPTS_MAX)
                b->attempt++;
        return MIN(d, w);
}

void backoff_reset(Backoff *b) {
        b->attempt = 0;
}

void backoff_server_busy(Backoff *b) {
        b->attempt = BACKOFF_ATTEMPTS_MAX;
}
