/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>

#include "common.h"
#include "hubguard/seal.h"

typedef struct Fixture {
        char *dir;
        char *path; /* dir/master.key, not created */
        unsigned char key[SEAL_MASTER_KEY_SIZE];
        unsigned char other_key[SEAL_MASTER_KEY_SIZE];
        char *saved_credentials_directory;
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        const char *c = getenv("CREDENTIALS_DIRECTORY");

        assert_non_null(f);
        f->dir = test_mkdtemp("test-seal");
        f->path = path_join(f->dir, "master.key");
        randombytes_buf(f->key, sizeof f->key);
        randombytes_buf(f->other_key, sizeof f->other_key);
        if (c) {
                f->saved_credentials_directory = strdup(c);
                assert_non_null(f->saved_credentials_directory);
        }
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        if (f->saved_credentials_directory)
                assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->saved_credentials_directory, 1), 0);
        else
                assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        free(f->saved_credentials_directory);
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static void write_key_file(const char *path, const void *data, size_t len, mode_t mode) {
        write_file_or_die(path, data, len);
        assert_int_equal(chmod(path, mode), 0);
}

/* Seal data under name with key, asserting success and the size; returns the blob. */
static void *seal_or_die(const unsigned char *key, const char *name, const void *data, size_t len,
                         size_t *ret_len) {
        void *blob = NULL;
        size_t blob_len = 0;

        assert_int_equal(seal_data(key, name, data, len, &blob, &blob_len), 0);
        assert_non_null(blob);
        assert_int_equal(blob_len, len + SEAL_OVERHEAD);
        *ret_len = blob_len;
        return blob;
}

/* unseal_data() must refuse with -EBADMSG and leave its outputs alone. */
static void assert_unseal_refused(const unsigned char *key, const char *name, const void *blob, size_t len) {
        unsigned char *out = NULL;
        size_t out_len = 4711;

        assert_int_equal(unseal_data(key, name, blob, len, &out, &out_len), -EBADMSG);
        assert_null(out);
        assert_int_equal(out_len, 4711);
}

/* ---------------------------------------------------------------------------------------------------
 * seal_master_key_load(): this test must run first, while nothing in this process has called
 * sodium_init() yet (sodium_malloc() aborted before it did, see seal.c).
 */

static void test_key_load_before_sodium_init(void **state) {
        Fixture *f = *state;
        unsigned char *key = NULL;

        write_key_file(f->path, f->key, sizeof f->key, 0400);
        assert_int_equal(seal_master_key_load(f->path, &key), 0);
        assert_non_null(key);
        assert_memory_equal(key, f->key, SEAL_MASTER_KEY_SIZE);
        sodium_free(key);
}

/* ---------------------------------------------------------------------------------------------------
 * seal_data(), unseal_data()
 */

static void test_round_trip(void **state) {
        Fixture *f = *state;
        static const char secret[] = "k7m2x-9qhtr-c4wfa-3nbe8";
        _cleanup_free_ void *blob = NULL;
        unsigned char *out = NULL;
        size_t len, out_len = 0;

        blob = seal_or_die(f->key, "initial-password", secret, strlen(secret), &len);
        assert_memory_equal(blob, "HGS1", 4);
        assert_int_equal(unseal_data(f->key, "initial-password", blob, len, &out, &out_len), 0);
        assert_non_null(out);
        assert_int_equal(out_len, strlen(secret));
        assert_memory_equal(out, secret, strlen(secret));
        assert_int_equal(out[out_len], '\0');
        sodium_free(out);
}

static void test_round_trip_binary(void **state) {
        Fixture *f = *state;
        unsigned char data[300];
        _cleanup_free_ void *blob = NULL;
        unsigned char *out = NULL;
        size_t len, out_len = 0;

        /* Every byte value, NUL included. */
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (unsigned char) i;
        blob = seal_or_die(f->key, "blob_1", data, sizeof data, &len);
        assert_int_equal(unseal_data(f->key, "blob_1", blob, len, &out, &out_len), 0);
        assert_int_equal(out_len, sizeof data);
        assert_memory_equal(out, data, sizeof data);
        sodium_free(out);
}

static void test_round_trip_empty(void **state) {
        Fixture *f = *state;
        _cleanup_free_ void *blob = NULL;
        unsigned char *out = NULL;
        size_t len, out_len = 4711;

        blob = seal_or_die(f->key, "empty", "", 0, &len);
        assert_int_equal(len, SEAL_OVERHEAD);
        assert_int_equal(unseal_data(f->key, "empty", blob, len, &out, &out_len), 0);
        assert_int_equal(out_len, 0);
        assert_int_equal(out[0], '\0');
        sodium_free(out);
}

static void test_round_trip_max(void **state) {
        Fixture *f = *state;
        _cleanup_free_ unsigned char *data = malloc(SEAL_DATA_MAX);
        _cleanup_free_ void *blob = NULL;
        unsigned char *out = NULL;
        size_t len, out_len = 0;

        assert_non_null(data);
        randombytes_buf(data, SEAL_DATA_MAX);
        blob = seal_or_die(f->key, "big", data, SEAL_DATA_MAX, &len);
        assert_int_equal(len, SEAL_DATA_MAX + SEAL_OVERHEAD);
        assert_int_equal(unseal_data(f->key, "big", blob, len, &out, &out_len), 0);
        assert_int_equal(out_len, SEAL_DATA_MAX);
        assert_memory_equal(out, data, SEAL_DATA_MAX);
        sodium_free(out);
}

static void test_output_size(void **state) {
        Fixture *f = *state;
        static const size_t sizes[] = { 0, 1, 15, 16, 17, 64, 1000, 4096 };
        unsigned char data[4096] = {};

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                _cleanup_free_ void *blob = NULL;
                size_t len;

                blob = seal_or_die(f->key, "sized", data, sizes[i], &len);
                assert_int_equal(len, sizes[i] + SEAL_OVERHEAD);
        }
}

static void test_nonce_differs(void **state) {
        Fixture *f = *state;
        _cleanup_free_ void *a = NULL, *b = NULL;
        size_t len_a, len_b;

        a = seal_or_die(f->key, "same", "same data", 9, &len_a);
        b = seal_or_die(f->key, "same", "same data", 9, &len_b);
        assert_int_equal(len_a, len_b);
        /* Different nonces, and so different ciphertexts and tags. */
        assert_memory_not_equal((unsigned char *) a + 4, (unsigned char *) b + 4, 24);
        assert_memory_not_equal((unsigned char *) a + 28, (unsigned char *) b + 28, len_a - 28);
}

static void test_tamper_every_byte(void **state) {
        Fixture *f = *state;
        _cleanup_free_ unsigned char *blob = NULL;
        unsigned char *out = NULL;
        size_t len, out_len;

        blob = seal_or_die(f->key, "tamper", "attack at dawn", 14, &len);
        for (size_t i = 0; i < len; i++) {
                for (unsigned bit = 0; bit < 8; bit++) {
                        blob[i] ^= (unsigned char) (1U << bit);
                        assert_unseal_refused(f->key, "tamper", blob, len);
                        blob[i] ^= (unsigned char) (1U << bit);
                }
                blob[i] ^= 0xff;
                assert_unseal_refused(f->key, "tamper", blob, len);
                blob[i] ^= 0xff;
        }
        /* Restored: it opens again. */
        assert_int_equal(unseal_data(f->key, "tamper", blob, len, &out, &out_len), 0);
        sodium_free(out);
}

static void test_wrong_name(void **state) {
        Fixture *f = *state;
        _cleanup_free_ void *blob = NULL;
        size_t len;

        blob = seal_or_die(f->key, "initial-password", "secret", 6, &len);
        assert_unseal_refused(f->key, "initial-passwore", blob, len);
        assert_unseal_refused(f->key, "initial-password2", blob, len);
        assert_unseal_refused(f->key, "initial", blob, len);
}

static void test_wrong_key(void **state) {
        Fixture *f = *state;
        _cleanup_free_ void *blob = NULL;
        unsigned char key[SEAL_MASTER_KEY_SIZE];
        size_t len;

        blob = seal_or_die(f->key, "name", "secret", 6, &len);
        assert_unseal_refused(f->other_key, "name", blob, len);
        /* One bit off. */
        memcpy(key, f->key, sizeof key);
        key[SEAL_MASTER_KEY_SIZE - 1] ^= 0x80;
        assert_unseal_refused(key, "name", blob, len);
}

static void test_truncated(void **state) {
        Fixture *f = *state;
        _cleanup_free_ void *blob = NULL;
        size_t len;

        blob = seal_or_die(f->key, "name", "some secret data", 16, &len);
        for (size_t n = 0; n < len; n++)
                assert_unseal_refused(f->key, "name", blob, n);
}

static void test_oversized(void **state) {
        Fixture *f = *state;
        _cleanup_free_ unsigned char *big = NULL;
        _cleanup_free_ void *blob = NULL;
        size_t len, big_len = SEAL_DATA_MAX + SEAL_OVERHEAD + 1;

        /* A valid blob with bytes appended. */
        blob = seal_or_die(f->key, "name", "secret", 6, &len);
        big = calloc(1, big_len);
        assert_non_null(big);
        memcpy(big, blob, len);
        assert_unseal_refused(f->key, "name", big, len + 1);
        /* Longer than anything seal_data() makes: refused before any work. */
        assert_unseal_refused(f->key, "name", big, big_len);
        assert_unseal_refused(f->key, "name", big, SIZE_MAX);
}

static void test_garbage(void **state) {
        Fixture *f = *state;
        unsigned char junk[256];

        for (unsigned round = 0; round < 16; round++) {
                randombytes_buf(junk, sizeof junk);
                assert_unseal_refused(f->key, "name", junk, sizeof junk);
                /* With the right magic, too. */
                memcpy(junk, "HGS1", 4);
                assert_unseal_refused(f->key, "name", junk, sizeof junk);
                assert_unseal_refused(f->key, "name", junk, SEAL_OVERHEAD);
        }
        memset(junk, 0, sizeof junk);
        assert_unseal_refused(f->key, "name", junk, sizeof junk);
}

static void test_invalid_name(void **state) {
        Fixture *f = *state;
        static const char *const bad[] = {
                "", "Upper", "-dash", "_under", "sp ace", "dot.ted", "slash/x", "ümlaut",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        };
        _cleanup_free_ void *good = NULL;
        size_t good_len;
        char name64[SEAL_NAME_MAX + 1];

        good = seal_or_die(f->key, "good", "x", 1, &good_len);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                void *blob = NULL;
                unsigned char *out = NULL;
                size_t len = 0, out_len = 0;

                assert_int_equal(seal_data(f->key, bad[i], "x", 1, &blob, &len), -EINVAL);
                assert_null(blob);
                assert_int_equal(unseal_data(f->key, bad[i], good, good_len, &out, &out_len), -EINVAL);
                assert_null(out);
        }
        /* SEAL_NAME_MAX characters is still fine. */
        memset(name64, 'a', SEAL_NAME_MAX);
        name64[SEAL_NAME_MAX] = '\0';
        free(seal_or_die(f->key, name64, "x", 1, &good_len));
}

static void test_data_too_large(void **state) {
        Fixture *f = *state;
        _cleanup_free_ unsigned char *data = calloc(1, SEAL_DATA_MAX + 1);
        void *blob = NULL;
        size_t len = 0;

        assert_non_null(data);
        assert_int_equal(seal_data(f->key, "big", data, SEAL_DATA_MAX + 1, &blob, &len), -EINVAL);
        assert_null(blob);
        assert_int_equal(seal_data(f->key, "big", data, SIZE_MAX, &blob, &len), -EINVAL);
        assert_null(blob);
}

/* ---------------------------------------------------------------------------------------------------
 * seal_master_key_load()
 */

static void test_key_load_modes(void **state) {
        Fixture *f = *state;
        static const mode_t ok[] = { 0400, 0600, 0700 };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                unsigned char *key = NULL;

                write_key_file(f->path, f->key, sizeof f->key, ok[i]);
                assert_int_equal(seal_master_key_load(f->path, &key), 0);
                assert_memory_equal(key, f->key, SEAL_MASTER_KEY_SIZE);
                sodium_free(key);
                assert_int_equal(unlink(f->path), 0);
        }
}

static void test_key_load_wrong_size(void **state) {
        Fixture *f = *state;
        static const size_t sizes[] = { 0, 1, SEAL_MASTER_KEY_SIZE - 1, SEAL_MASTER_KEY_SIZE + 1, 64, 4096 };
        unsigned char data[4096] = {};

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                unsigned char *key = NULL;

                write_key_file(f->path, data, sizes[i], 0400);
                assert_int_equal(seal_master_key_load(f->path, &key), -EBADMSG);
                assert_null(key);
                assert_int_equal(unlink(f->path), 0);
        }
}

static void test_key_load_readable_by_others(void **state) {
        Fixture *f = *state;
        static const mode_t bad[] = { 0440, 0404, 0640, 0604, 0644, 0660, 0666, 0610, 0601, 0620, 0602 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                unsigned char *key = NULL;

                write_key_file(f->path, f->key, sizeof f->key, bad[i]);
                assert_int_equal(seal_master_key_load(f->path, &key), -EPERM);
                assert_null(key);
                assert_int_equal(unlink(f->path), 0);
        }
}

static void test_key_load_missing(void **state) {
        Fixture *f = *state;
        unsigned char *key = NULL;

        assert_int_equal(seal_master_key_load(f->path, &key), -ENOENT);
        assert_null(key);
}

static void test_key_load_symlink(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *target = path_join(f->dir, "real.key");
        unsigned char *key = NULL;

        write_key_file(target, f->key, sizeof f->key, 0400);
        assert_int_equal(symlink(target, f->path), 0);
        assert_int_equal(seal_master_key_load(f->path, &key), -ELOOP);
        assert_null(key);
}

static void test_key_load_not_regular(void **state) {
        Fixture *f = *state;
        unsigned char *key = NULL;

        assert_int_equal(mkdir(f->path, 0700), 0);
        assert_int_equal(seal_master_key_load(f->path, &key), -EBADFD);
        assert_null(key);
}

/* ---------------------------------------------------------------------------------------------------
 * seal_master_key_path()
 */

static void test_key_path(void **state) {
        char buf[PATH_MAX];

        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/hub-identityd.service", 1), 0);
        assert_int_equal(seal_master_key_path("identity-master-key", buf, sizeof buf), 0);
        assert_string_equal(buf, "/run/credentials/hub-identityd.service/identity-master-key");
}

static void test_key_path_unset(void **state) {
        char buf[PATH_MAX] = "untouched";

        assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
        assert_int_equal(seal_master_key_path("identity-master-key", buf, sizeof buf), -ENXIO);
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "", 1), 0);
        assert_int_equal(seal_master_key_path("identity-master-key", buf, sizeof buf), -ENXIO);
        /* Not absolute. */
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "run/credentials", 1), 0);
        assert_int_equal(seal_master_key_path("identity-master-key", buf, sizeof buf), -ENXIO);
        assert_string_equal(buf, "untouched");
}

static void test_key_path_too_long(void **state) {
        char buf[18], exact[19];

        /* "/run/credentials/k" is 18 bytes and a NUL. */
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials", 1), 0);
        assert_int_equal(seal_master_key_path("k", buf, sizeof buf), -ENAMETOOLONG);
        assert_int_equal(seal_master_key_path("k", exact, sizeof exact), 0);
        assert_string_equal(exact, "/run/credentials/k");
}

static void test_key_path_then_load(void **state) {
        Fixture *f = *state;
        char buf[PATH_MAX];
        unsigned char *key = NULL;

        write_key_file(f->path, f->key, sizeof f->key, 0400);
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->dir, 1), 0);
        assert_int_equal(seal_master_key_path("master.key", buf, sizeof buf), 0);
        assert_string_equal(buf, f->path);
        assert_int_equal(seal_master_key_load(buf, &key), 0);
        assert_memory_equal(key, f->key, SEAL_MASTER_KEY_SIZE);
        sodium_free(key);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_key_load_before_sodium_init), /* first: see there */
                FIXTURE_TEST(test_round_trip),
                FIXTURE_TEST(test_round_trip_binary),
                FIXTURE_TEST(test_round_trip_empty),
                FIXTURE_TEST(test_round_trip_max),
                FIXTURE_TEST(test_output_size),
                FIXTURE_TEST(test_nonce_differs),
                FIXTURE_TEST(test_tamper_every_byte),
                FIXTURE_TEST(test_wrong_name),
                FIXTURE_TEST(test_wrong_key),
                FIXTURE_TEST(test_truncated),
                FIXTURE_TEST(test_oversized),
                FIXTURE_TEST(test_garbage),
                FIXTURE_TEST(test_invalid_name),
                FIXTURE_TEST(test_data_too_large),
                FIXTURE_TEST(test_key_load_modes),
                FIXTURE_TEST(test_key_load_wrong_size),
                FIXTURE_TEST(test_key_load_readable_by_others),
                FIXTURE_TEST(test_key_load_missing),
                FIXTURE_TEST(test_key_load_symlink),
                FIXTURE_TEST(test_key_load_not_regular),
                FIXTURE_TEST(test_key_path),
                FIXTURE_TEST(test_key_path_unset),
                FIXTURE_TEST(test_key_path_too_long),
                FIXTURE_TEST(test_key_path_then_load),
        };

        return cmocka_run_group_tests_name("seal", tests, NULL, NULL);
}
