/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>

#include "common.h"
#include "telemetryd-backoff.h"

#define MSEC 1000ULL
#define SEC (1000 * MSEC)
#define DAY (86400 * SEC)

/* The daemon's schedule: 1 s doubling up to 5 min. */
#define MIN_USEC (1 * SEC)
#define MAX_USEC (300 * SEC)

/* Injected random_uniform(): the last bound asked for, and what to answer. */
static uint32_t last_bound;
static unsigned n_calls;

static uint32_t random_top(uint32_t n) {
        assert_true(n >= 1);
        last_bound = n;
        n_calls++;
        return n - 1;
}

static uint32_t random_zero(uint32_t n) {
        assert_true(n >= 1);
        last_bound = n;
        n_calls++;
        return 0;
}

static int reset_injection(void **state) {
        last_bound = 0;
        n_calls = 0;
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * backoff_init()
 */

static void test_init(void **state) {
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        assert_int_equal(b.min_usec, MIN_USEC);
        assert_int_equal(b.max_usec, MAX_USEC);
        assert_int_equal(b.attempt, 0);
        assert_ptr_equal(b.random_uniform, randombytes_uniform);
        assert_int_equal(backoff_window(&b), MIN_USEC);
}

static void test_init_degenerate(void **state) {
        Backoff b;

        /* A zero minimum would never grow: it becomes 1 µs. */
        backoff_init(&b, 0, 0);
        assert_int_equal(b.min_usec, 1);
        assert_int_equal(b.max_usec, 1);
        assert_int_equal(backoff_window(&b), 1);

        /* A cap below the minimum is raised to it: the window is constant. */
        backoff_init(&b, 10 * SEC, 5 * SEC);
        assert_int_equal(b.min_usec, 10 * SEC);
        assert_int_equal(b.max_usec, 10 * SEC);
        for (unsigned i = 0; i < 10; i++) {
                assert_int_equal(backoff_window(&b), 10 * SEC);
                assert_true(backoff_next(&b) <= 10 * SEC);
        }
}

/* ---------------------------------------------------------------------------------------------------
 * backoff_window()
 */

static void test_window_doubles(void **state) {
        uint64_t expect = MIN_USEC;
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_zero;
        /* 1, 2, 4, ..., 256 s: each failed attempt doubles the window. */
        for (unsigned i = 0; i < 9; i++) {
                assert_int_equal(b.attempt, i);
                assert_int_equal(backoff_window(&b), expect);
                (void) backoff_next(&b);
                expect *= 2;
        }
        /* 512 s > 300 s: capped from here on. */
        assert_int_equal(backoff_window(&b), MAX_USEC);
}

static void test_window_capped(void **state) {
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_top;
        for (unsigned i = 0; i < 1000; i++) {
                assert_true(backoff_window(&b) <= MAX_USEC);
                assert_true(backoff_next(&b) <= MAX_USEC);
        }
        assert_int_equal(backoff_window(&b), MAX_USEC);
        /* The attempt counter saturates instead of wrapping back to the minimum. */
        assert_true(b.attempt <= 64);
        assert_int_equal(backoff_next(&b), MAX_USEC);
        assert_int_equal(backoff_window(&b), MAX_USEC);
}

static void test_window_no_overflow(void **state) {
        uint64_t prev = 0;
        Backoff b;

        /* 1 µs doubling up to 30 days: 42 doublings, each window within the cap and never smaller. */
        backoff_init(&b, 1, 30 * DAY);
        b.random_uniform = random_top;
        for (unsigned i = 0; i < 200; i++) {
                uint64_t w = backoff_window(&b), d;

                assert_true(w >= prev);
                assert_true(w <= 30 * DAY);
                assert_true(w == 30 * DAY || (i < 64 && w == 1ULL << i));
                d = backoff_next(&b);
                assert_true(d <= w);
                prev = w;
        }
        assert_int_equal(backoff_window(&b), 30 * DAY);

        /* The largest cap there is: doubling must saturate, not wrap to a small window. */
        backoff_init(&b, 1, UINT64_MAX);
        b.random_uniform = random_top;
        prev = 0;
        for (unsigned i = 0; i < 200; i++) {
                uint64_t w = backoff_window(&b);

                assert_true(w >= prev);
                assert_true(backoff_next(&b) <= w);
                prev = w;
        }
        assert_int_equal(backoff_window(&b), UINT64_MAX);
        /* randombytes_uniform() takes 32 bits: the bound is clamped, never truncated to a small one. */
        assert_int_equal(last_bound, UINT32_MAX);

        b.attempt = UINT32_MAX;
        assert_int_equal(backoff_window(&b), UINT64_MAX);
}

/* ---------------------------------------------------------------------------------------------------
 * backoff_next(): full jitter
 */

static void test_next_real_random(void **state) {
        uint64_t first = UINT64_MAX;
        bool all_equal = true;
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        for (unsigned i = 0; i < 1000; i++) {
                uint64_t d;

                backoff_reset(&b);
                d = backoff_next(&b);
                assert_true(d <= MIN_USEC);
                if (i == 0)
                        first = d;
                else if (d != first)
                        all_equal = false;
        }
        /* 1000 draws from 1001 values all equal: probability 1001^-999. */
        assert_false(all_equal);
}

static void test_next_real_random_capped(void **state) {
        uint64_t lo = UINT64_MAX, hi = 0;
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        backoff_server_busy(&b);
        for (unsigned i = 0; i < 1000; i++) {
                uint64_t d = backoff_next(&b);

                assert_true(d <= MAX_USEC);
                lo = MIN(lo, d);
                hi = MAX(hi, d);
        }
        /* Spread over the whole window, not bunched at its top as a plain exponential would be. */
        assert_true(lo < MAX_USEC / 10);
        assert_true(hi > MAX_USEC - MAX_USEC / 10);
}

static void test_next_full_jitter_bounds(void **state) {
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_top;
        /* The top of the draw is the window itself: 1, 2, 4, ... s, then 300 s. */
        for (unsigned i = 0; i < 12; i++) {
                uint64_t w = backoff_window(&b);

                assert_int_equal(backoff_next(&b), w);
                /* Drawn in milliseconds: n = window/1 ms + 1 values, 0..window. */
                assert_int_equal(last_bound, w / MSEC + 1);
        }
        assert_int_equal(n_calls, 12);

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_zero;
        for (unsigned i = 0; i < 12; i++)
                assert_int_equal(backoff_next(&b), 0);
        /* The attempts were counted all the same. */
        assert_int_equal(backoff_window(&b), MAX_USEC);
}

static void test_next_sub_millisecond(void **state) {
        Backoff b;

        /* Windows below 1 ms draw from a single value, 0; the delay never exceeds the window. */
        backoff_init(&b, 1, 3 * MSEC);
        b.random_uniform = random_top;
        for (unsigned i = 0; i < 10; i++) {
                assert_int_equal(backoff_window(&b), 1ULL << i);
                assert_int_equal(backoff_next(&b), 0);
                assert_int_equal(last_bound, 1);
        }
        /* 1024 µs: one whole millisecond fits. */
        assert_int_equal(backoff_window(&b), 1024);
        assert_int_equal(backoff_next(&b), MSEC);
        assert_int_equal(backoff_window(&b), 2048);
        assert_int_equal(backoff_next(&b), 2 * MSEC);
        assert_int_equal(backoff_window(&b), 3 * MSEC);
        assert_int_equal(backoff_next(&b), 3 * MSEC);
}

static void test_next_days(void **state) {
        Backoff b;

        /* A cap of days from a minimum of 1 µs: no step overflows and the top draw is the cap. */
        backoff_init(&b, 1, 7 * DAY);
        b.random_uniform = random_top;
        for (unsigned i = 0; i < 100; i++)
                assert_true(backoff_next(&b) <= 7 * DAY);
        assert_int_equal(backoff_window(&b), 7 * DAY);
        assert_int_equal(backoff_next(&b), 7 * DAY);
        assert_int_equal(last_bound, 7 * DAY / MSEC + 1);

        /* Past the 32-bit range of milliseconds (49.7 days) the draw is clamped, never above the cap. */
        backoff_init(&b, 1, 100 * DAY);
        b.random_uniform = random_top;
        backoff_server_busy(&b);
        assert_int_equal(backoff_window(&b), 100 * DAY);
        assert_int_equal(backoff_next(&b), (uint64_t) (UINT32_MAX - 1) * MSEC);
        assert_int_equal(last_bound, UINT32_MAX);
}

/* ---------------------------------------------------------------------------------------------------
 * backoff_reset(), backoff_server_busy()
 */

static void test_reset(void **state) {
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_top;
        for (unsigned i = 0; i < 5; i++)
                (void) backoff_next(&b);
        assert_int_equal(backoff_window(&b), 32 * SEC);
        backoff_reset(&b);
        assert_int_equal(b.attempt, 0);
        assert_int_equal(backoff_window(&b), MIN_USEC);
        assert_int_equal(backoff_next(&b), MIN_USEC);
        assert_int_equal(backoff_window(&b), 2 * MIN_USEC);

        /* From the cap too. */
        backoff_server_busy(&b);
        backoff_reset(&b);
        assert_int_equal(backoff_window(&b), MIN_USEC);
}

static void test_server_busy(void **state) {
        Backoff b;

        backoff_init(&b, MIN_USEC, MAX_USEC);
        b.random_uniform = random_top;
        backoff_server_busy(&b);
        assert_int_equal(backoff_window(&b), MAX_USEC);
        assert_int_equal(backoff_next(&b), MAX_USEC);
        /* Further failures stay at the cap. */
        assert_int_equal(backoff_window(&b), MAX_USEC);
        assert_int_equal(backoff_next(&b), MAX_USEC);

        /* From a 1 µs minimum and a cap of days: still straight to the cap. */
        backoff_init(&b, 1, 3 * DAY);
        backoff_server_busy(&b);
        assert_int_equal(backoff_window(&b), 3 * DAY);
        assert_true(backoff_next(&b) <= 3 * DAY);
}

#define INJECTED_TEST(t) cmocka_unit_test_setup(t, reset_injection)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_init),
                cmocka_unit_test(test_init_degenerate),
                INJECTED_TEST(test_window_doubles),
                INJECTED_TEST(test_window_capped),
                INJECTED_TEST(test_window_no_overflow),
                cmocka_unit_test(test_next_real_random),
                cmocka_unit_test(test_next_real_random_capped),
                INJECTED_TEST(test_next_full_jitter_bounds),
                INJECTED_TEST(test_next_sub_millisecond),
                INJECTED_TEST(test_next_days),
                INJECTED_TEST(test_reset),
                INJECTED_TEST(test_server_busy),
        };

        assert_true(sodium_init() >= 0);
        return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
