/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>

#include "common.h"

/*
 * This program is linked with -Wl,--wrap=free: every free() in our own objects, memory.c included,
 * comes here first. While armed, the wrapper records whether each block is all zeroes over its whole
 * usable size at the moment it is released, which is what erase_and_free() promises. Reading the
 * block after free() instead would be a use-after-free.
 */
void __real_free(void *p);
void __wrap_free(void *p);

/*
 * Not static: the compiler must assume that free(), to it an unknown function, reads and writes this,
 * or it could drop "armed = true" as a store nobody sees before "armed = false".
 */
struct FreeWatch {
        bool armed;
        unsigned blocks;     /* blocks seen while armed */
        unsigned dirty;      /* of which some byte was not zero */
        size_t last_size;    /* usable size of the last block seen */
};
extern struct FreeWatch watch;
struct FreeWatch watch;

void __wrap_free(void *p) {
        if (watch.armed && p) {
                const unsigned char *b = p;
                size_t n = malloc_usable_size(p);

                watch.blocks++;
                watch.last_size = n;
                for (size_t i = 0; i < n; i++)
                        if (b[i] != 0) {
                                watch.dirty++;
                                break;
                        }
        }
        __real_free(p);
}

static int watch_reset(void **state) {
        watch.armed = false;
        watch.blocks = watch.dirty = 0;
        watch.last_size = 0;
        return 0;
}

static void *filled_block(size_t n, unsigned char fill) {
        void *p = malloc(n);

        assert_non_null(p);
        memset(p, fill, n);
        return p;
}

/* ---------------------------------------------------------------------------------------------------
 * The wrapper itself: it must be able to see a dirty block, or the tests below prove nothing.
 */

static void test_wrapper_sees_dirty_block(void **state) {
        void *p = filled_block(64, 0x5a);

        watch.armed = true;
        free(p);
        watch.armed = false;
        assert_int_equal(watch.blocks, 1);
        assert_int_equal(watch.dirty, 1);
}

/* ---------------------------------------------------------------------------------------------------
 * erase_and_free()
 */

static void test_erase_and_free_null(void **state) {
        watch.armed = true;
        assert_null(erase_and_free(NULL));
        watch.armed = false;
        assert_int_equal(watch.dirty, 0);
}

static void test_erase_and_free_block(void **state) {
        void *p = filled_block(37, 0xaa);

        watch.armed = true;
        assert_null(erase_and_free(p));
        watch.armed = false;
        assert_int_equal(watch.blocks, 1);
        assert_int_equal(watch.dirty, 0);
        assert_true(watch.last_size >= 37);
}

static void test_erase_and_free_whole_block(void **state) {
        /* A secret that was shortened in place: the bytes after the new terminator are erased too. */
        char *p = filled_block(256, 0);

        strcpy(p, "correct horse battery staple");
        p[7] = '\0';
        watch.armed = true;
        (void) erase_and_free(p);
        watch.armed = false;
        assert_int_equal(watch.blocks, 1);
        assert_int_equal(watch.dirty, 0);
        assert_true(watch.last_size >= 256);
}

static void test_erase_and_free_large_block(void **state) {
        void *p = filled_block(1024 * 1024, 0xff);

        watch.armed = true;
        (void) erase_and_free(p);
        watch.armed = false;
        assert_int_equal(watch.blocks, 1);
        assert_int_equal(watch.dirty, 0);
}

/* ---------------------------------------------------------------------------------------------------
 * _cleanup_erase_free_
 */

static void scope_with_secret(void) {
        _cleanup_erase_free_ char *secret = filled_block(48, 0x77);
        _cleanup_erase_free_ char *unset = NULL; /* NULL at scope exit: nothing to free */

        secret[47] = '\0';
        assert_null(unset);
}

static void test_cleanup_erase_free(void **state) {
        watch.armed = true;
        scope_with_secret();
        watch.armed = false;
        assert_int_equal(watch.blocks, 1);
        assert_int_equal(watch.dirty, 0);
}

/* ---------------------------------------------------------------------------------------------------
 * explicit_erase()
 */

static void test_explicit_erase_exact_range(void **state) {
        unsigned char buf[32];

        memset(buf, 0xcc, sizeof buf);
        explicit_erase(buf + 8, 16);
        for (size_t i = 0; i < sizeof buf; i++)
                assert_int_equal(buf[i], i >= 8 && i < 24 ? 0 : 0xcc);
}

static void test_explicit_erase_nothing(void **state) {
        unsigned char buf[4] = { 1, 2, 3, 4 };

        explicit_erase(buf, 0);
        assert_int_equal(buf[0], 1);
        explicit_erase(NULL, 16);
}

#define WATCH_TEST(t) cmocka_unit_test_setup(t, watch_reset)

int main(void) {
        const struct CMUnitTest tests[] = {
                WATCH_TEST(test_wrapper_sees_dirty_block),
                WATCH_TEST(test_erase_and_free_null),
                WATCH_TEST(test_erase_and_free_block),
                WATCH_TEST(test_erase_and_free_whole_block),
                WATCH_TEST(test_erase_and_free_large_block),
                WATCH_TEST(test_cleanup_erase_free),
                WATCH_TEST(test_explicit_erase_exact_range),
                WATCH_TEST(test_explicit_erase_nothing),
        };

        return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
