/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The libFuzzer entry point each tests/fuzz/fuzz-<parser>.c defines. Under clang with -Dfuzzing=true
 * libFuzzer drives it; otherwise fuzz-main.c replays the corpus through it as an ordinary test.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs outside [lo, hi] bytes are not interesting: return before doing any work. */
static inline bool outside_size_range(size_t size, size_t lo, size_t hi) {
        return size < lo || size > hi;
}

/* A broken invariant is a crash, so the fuzzer records the input; assert() may be compiled out. */
#define fuzz_check(x)                                                                                     \
        do {                                                                                              \
                if (!(x)) {                                                                               \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #x);            \
                        abort();                                                                          \
                }                                                                                         \
        } while (0)
