/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One convention inside hubguard: functions return a negative errno on failure and >= 0 on success.
 * Each foreign library's convention is converted here, once, at the edge.
 */

#include <errno.h>

/* -errno for a libc call that failed with -1; never 0 (a missing errno becomes -EIO). */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/*
 * libmosquitto: MOSQ_ERR_* are positive; MOSQ_ERR_SUCCESS is 0 and MOSQ_ERR_ERRNO means "see errno".
 * Returns 0 for success, a negative errno otherwise.
 */
int errno_from_mosquitto(int mosq_err);

/* SQLite result codes (primary or extended): SQLITE_OK/ROW/DONE give 0, the rest a negative errno. */
int errno_from_sqlite(int rc);

/*
 * OpenSSL: drains the thread's error queue (each entry is logged at debug) and returns fallback
 * (a negative errno such as -EIO or -EBADMSG). Call after an OpenSSL function reports failure.
 */
int errno_from_openssl(int fallback);

/* libsodium returns -1 on failure: map that to fail_errno (negative), and 0 to 0. */
static inline int errno_from_sodium(int r, int fail_errno) {
        return r == 0 ? 0 : fail_errno;
}
