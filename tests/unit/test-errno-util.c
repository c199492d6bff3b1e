/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <mosquitto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <sqlite3.h>

#include "common.h"
#include "hubguard/db.h"
#include "hubguard/errno-util.h"

/* ---------------------------------------------------------------------------------------------------
 * negative_errno()
 */

static void test_negative_errno(void **state) {
        errno = ENOENT;
        assert_int_equal(negative_errno(), -ENOENT);
        errno = EACCES;
        assert_int_equal(negative_errno(), -EACCES);
}

static void test_negative_errno_never_zero(void **state) {
        errno = 0;
        assert_int_equal(negative_errno(), -EIO);
        errno = -5; /* not a valid errno either */
        assert_int_equal(negative_errno(), -EIO);
}

static void test_negative_errno_real_call(void **state) {
        assert_int_equal(close(-1), -1);
        assert_int_equal(negative_errno(), -EBADF);
}

/* ---------------------------------------------------------------------------------------------------
 * errno_from_mosquitto()
 */

static void test_mosquitto_success(void **state) {
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_SUCCESS), 0);
}

static void test_mosquitto_codes(void **state) {
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_NOMEM), -ENOMEM);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_INVAL), -EINVAL);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_MALFORMED_UTF8), -EINVAL);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_NO_CONN), -ENOTCONN);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_CONN_REFUSED), -ECONNREFUSED);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_CONN_LOST), -ECONNRESET);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_TLS), -EPROTO);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_TLS_HANDSHAKE), -EPROTO);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_PAYLOAD_SIZE), -EMSGSIZE);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_OVERSIZE_PACKET), -EMSGSIZE);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_NOT_SUPPORTED), -EOPNOTSUPP);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_AUTH), -EACCES);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_ACL_DENIED), -EACCES);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_EAI), -EHOSTUNREACH);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_PROTOCOL), -EPROTO);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_MALFORMED_PACKET), -EPROTO);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_KEEPALIVE), -ETIMEDOUT);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_TIMEOUT), -ETIMEDOUT);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_UNKNOWN), -EIO);
}

static void test_mosquitto_errno(void **state) {
        /* MOSQ_ERR_ERRNO means "the real error is in errno". */
        errno = ECONNREFUSED;
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_ERRNO), -ECONNREFUSED);
        errno = EAGAIN;
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_ERRNO), -EAGAIN);
        errno = 0;
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_ERRNO), -EIO);
}

static void test_mosquitto_unknown_codes(void **state) {
        assert_int_equal(errno_from_mosquitto(9999), -EIO);
        assert_int_equal(errno_from_mosquitto(MOSQ_ERR_CONN_PENDING), -EIO);
}

static void test_mosquitto_real_call(void **state) {
        /* A real libmosquitto call that fails with MOSQ_ERR_INVAL. */
        assert_int_equal(errno_from_mosquitto(mosquitto_sub_topic_check("a/#/b")), -EINVAL);
        assert_int_equal(errno_from_mosquitto(mosquitto_sub_topic_check("a/+/b")), 0);
        assert_int_equal(errno_from_mosquitto(mosquitto_validate_utf8("\xc0\xaf", 2)), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------------
 * errno_from_sqlite()
 */

static void test_sqlite_success(void **state) {
        assert_int_equal(errno_from_sqlite(SQLITE_OK), 0);
        assert_int_equal(errno_from_sqlite(SQLITE_ROW), 0);
        assert_int_equal(errno_from_sqlite(SQLITE_DONE), 0);
}

static void test_sqlite_primary_codes(void **state) {
        assert_int_equal(errno_from_sqlite(SQLITE_ERROR), -EIO);
        assert_int_equal(errno_from_sqlite(SQLITE_NOMEM), -ENOMEM);
        assert_int_equal(errno_from_sqlite(SQLITE_BUSY), -EBUSY);
        assert_int_equal(errno_from_sqlite(SQLITE_LOCKED), -EBUSY);
        assert_int_equal(errno_from_sqlite(SQLITE_READONLY), -EROFS);
        assert_int_equal(errno_from_sqlite(SQLITE_PERM), -EACCES);
        assert_int_equal(errno_from_sqlite(SQLITE_AUTH), -EACCES);
        assert_int_equal(errno_from_sqlite(SQLITE_FULL), -ENOSPC);
        assert_int_equal(errno_from_sqlite(SQLITE_CANTOPEN), -ENOENT);
        assert_int_equal(errno_from_sqlite(SQLITE_CORRUPT), -EUCLEAN);
        assert_int_equal(errno_from_sqlite(SQLITE_NOTADB), -EUCLEAN);
        assert_int_equal(errno_from_sqlite(SQLITE_CONSTRAINT), -EEXIST);
        assert_int_equal(errno_from_sqlite(SQLITE_TOOBIG), -E2BIG);
        assert_int_equal(errno_from_sqlite(SQLITE_MISMATCH), -EINVAL);
        assert_int_equal(errno_from_sqlite(SQLITE_RANGE), -EINVAL);
        assert_int_equal(errno_from_sqlite(SQLITE_MISUSE), -EINVAL);
        assert_int_equal(errno_from_sqlite(SQLITE_INTERRUPT), -EINTR);
        assert_int_equal(errno_from_sqlite(SQLITE_IOERR), -EIO);
}

static void test_sqlite_extended_codes(void **state) {
        /* Extended codes map as their primary code (the low byte). */
        assert_int_equal(errno_from_sqlite(SQLITE_IOERR_READ), -EIO);
        /* SQLITE_IOERR_NOMEM is an I/O error by its primary code, whatever its name says. */
        assert_int_equal(errno_from_sqlite(SQLITE_IOERR_NOMEM), -EIO);
        assert_int_equal(errno_from_sqlite(SQLITE_BUSY_SNAPSHOT), -EBUSY);
        assert_int_equal(errno_from_sqlite(SQLITE_CONSTRAINT_UNIQUE), -EEXIST);
        assert_int_equal(errno_from_sqlite(SQLITE_CONSTRAINT_FOREIGNKEY), -EEXIST);
        assert_int_equal(errno_from_sqlite(SQLITE_CORRUPT_INDEX), -EUCLEAN);
        assert_int_equal(errno_from_sqlite(SQLITE_READONLY_DBMOVED), -EROFS);
        assert_int_equal(errno_from_sqlite(SQLITE_CANTOPEN_ISDIR), -ENOENT);
}

static void test_sqlite_unknown_code(void **state) {
        assert_int_equal(errno_from_sqlite(SQLITE_SCHEMA), -EIO);
        assert_int_equal(errno_from_sqlite(SQLITE_PROTOCOL), -EIO);
        assert_int_equal(errno_from_sqlite(0xfe), -EIO);
}

static int exec_errno(sqlite3 *db, const char *sql) {
        return errno_from_sqlite(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

static void test_sqlite_real_call(void **state) {
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        assert_int_equal(exec_errno(db, "CREATE TABLE t (x PRIMARY KEY)"), 0);
        assert_int_equal(exec_errno(db, "INSERT INTO t VALUES (1)"), 0);
        assert_int_equal(exec_errno(db, "INSERT INTO t VALUES (1)"), -EEXIST);
        assert_int_equal(exec_errno(db, "INSERT INTO nowhere VALUES (1)"), -EIO);
}

/* ---------------------------------------------------------------------------------------------------
 * errno_from_openssl()
 */

static void test_openssl_returns_fallback(void **state) {
        ERR_clear_error();
        ERR_raise(ERR_LIB_EVP, ERR_R_PASSED_NULL_PARAMETER);
        assert_int_equal(errno_from_openssl(-EBADMSG), -EBADMSG);
        ERR_raise(ERR_LIB_EVP, ERR_R_PASSED_NULL_PARAMETER);
        assert_int_equal(errno_from_openssl(-EIO), -EIO);
}

static void test_openssl_bad_fallback(void **state) {
        /* A fallback that is not a negative errno must not turn a failure into success. */
        ERR_clear_error();
        assert_int_equal(errno_from_openssl(0), -EIO);
        assert_int_equal(errno_from_openssl(EBADMSG), -EIO);
}

static void test_openssl_drains_queue(void **state) {
        ERR_clear_error();
        for (int i = 0; i < 5; i++)
                ERR_raise(ERR_LIB_PEM, ERR_R_PASSED_INVALID_ARGUMENT);
        assert_int_not_equal(ERR_peek_error(), 0);
        (void) errno_from_openssl(-EIO);
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_openssl_drains_real_failure(void **state) {
        static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
                                  "not base64 at all!\n"
                                  "-----END PRIVATE KEY-----\n";
        BIO *bio;
        EVP_PKEY *key;

        ERR_clear_error();
        bio = BIO_new_mem_buf(pem, sizeof pem - 1);
        assert_non_null(bio);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        assert_null(key);
        assert_int_not_equal(ERR_peek_error(), 0);
        assert_int_equal(errno_from_openssl(-EBADMSG), -EBADMSG);
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_openssl_empty_queue(void **state) {
        ERR_clear_error();
        assert_int_equal(errno_from_openssl(-EIO), -EIO);
}

/* ---------------------------------------------------------------------------------------------------
 * errno_from_sodium()
 */

static void test_sodium(void **state) {
        assert_int_equal(errno_from_sodium(0, -EBADMSG), 0);
        assert_int_equal(errno_from_sodium(-1, -EBADMSG), -EBADMSG);
        assert_int_equal(errno_from_sodium(-1, -EIO), -EIO);
}

static void test_sodium_real_call(void **state) {
        unsigned char key[crypto_secretbox_KEYBYTES] = {}, nonce[crypto_secretbox_NONCEBYTES] = {};
        unsigned char box[crypto_secretbox_MACBYTES + 4], out[4];

        int r;

        assert_true(sodium_init() >= 0);
        r = crypto_secretbox_easy(box, (const unsigned char *) "abcd", 4, nonce, key);
        assert_int_equal(errno_from_sodium(r, -EIO), 0);
        r = crypto_secretbox_open_easy(out, box, sizeof box, nonce, key);
        assert_int_equal(errno_from_sodium(r, -EBADMSG), 0);
        /* A forged box: libsodium says -1, we say -EBADMSG. */
        box[0] ^= 1;
        r = crypto_secretbox_open_easy(out, box, sizeof box, nonce, key);
        assert_int_equal(errno_from_sodium(r, -EBADMSG), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_negative_errno),
                cmocka_unit_test(test_negative_errno_never_zero),
                cmocka_unit_test(test_negative_errno_real_call),
                cmocka_unit_test(test_mosquitto_success),
                cmocka_unit_test(test_mosquitto_codes),
                cmocka_unit_test(test_mosquitto_errno),
                cmocka_unit_test(test_mosquitto_unknown_codes),
                cmocka_unit_test(test_mosquitto_real_call),
                cmocka_unit_test(test_sqlite_success),
                cmocka_unit_test(test_sqlite_primary_codes),
                cmocka_unit_test(test_sqlite_extended_codes),
                cmocka_unit_test(test_sqlite_unknown_code),
                cmocka_unit_test(test_sqlite_real_call),
                cmocka_unit_test(test_openssl_returns_fallback),
                cmocka_unit_test(test_openssl_bad_fallback),
                cmocka_unit_test(test_openssl_drains_queue),
                cmocka_unit_test(test_openssl_drains_real_failure),
                cmocka_unit_test(test_openssl_empty_queue),
                cmocka_unit_test(test_sodium),
                cmocka_unit_test(test_sodium_real_call),
        };

        return cmocka_run_group_tests_name("errno-util", tests, NULL, NULL);
}
