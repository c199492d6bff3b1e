/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Helpers shared by the unit tests: private temporary directories, small files, and a way to make
 * permission checks bite while the tests run as root (as they do in CI).
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hubguard/macro.h"

/* mkdtemp() under $TMPDIR (or /tmp) with the given prefix; aborts on failure. Free with rm_rf_free(). */
char *test_mkdtemp(const char *prefix);

/* Remove dir and everything below it (without following symlinks), then free the string. */
void rm_rf_free(char *dir);
static inline void rm_rf_freep(char **dir) {
        rm_rf_free(*dir);
}
#define _cleanup_rm_rf_ _cleanup_(rm_rf_freep)

/* "dir/name" in a new string; aborts on failure. */
char *path_join(const char *dir, const char *name);

/* Create or truncate path with exactly len bytes of data and mode 0644; aborts on failure. */
void write_file_or_die(const char *path, const void *data, size_t len);
void write_string_or_die(const char *path, const char *s);

/* Read all of path into a NUL-terminated buffer (size in *ret_size if not NULL); aborts on failure. */
char *read_file_or_die(const char *path, size_t *ret_size);

/* Number of entries in dir, not counting "." and "..". */
size_t dir_count_entries(const char *dir);

/*
 * Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the effective set (keeping them permitted) so
 * that file modes apply to root too; caps_restore() raises them again. Both abort on failure.
 */
void caps_drop_dac(void);
void caps_restore(void);

/*
 * True when the tests must not fork(): under Debian 12's qemu-user (7.2), the child of a dynamically
 * linked arm64 program spins forever before it runs a line of ours (a static one does not). The
 * cross build's test environment (tests/unit/meson.build) sets HUBGUARD_TEST_NO_FORK=1; a test that
 * needs fork() then skips itself, visibly, instead of timing out.
 */
bool test_fork_unavailable(void);

/* Run f with stderr redirected to a pipe; returns what was written (NUL-terminated). */
char *capture_stderr(void (*f)(void *userdata), void *userdata);

/*
 * Configuration helpers for the config tests (they use cmocka's assertions, so include cmocka.h
 * before calling them). dump_to_string(): config_dump() into a new string. assert_config_equal():
 * field by field, and then as text, which also covers any key added later.
 */
#include "hubguard/conf.h"
char *dump_to_string(const HubConfig *c, size_t *ret_size);
void assert_config_equal(const HubConfig *a, const HubConfig *b);
