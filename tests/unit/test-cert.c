/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <sys/stat.h>

#include "common.h"
#include "identityd-cert.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);

#define DAY (24 * 3600)
#define TEST_DEVICE_ID "hub-0123456789abcdef0123456789abcdef"

typedef struct Fixture {
        char *dir;
        char *path; /* dir/device.key, not created */
        EVP_PKEY *key;
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-cert");
        f->path = path_join(f->dir, "device.key");
        assert_int_equal(devkey_generate(&f->key), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        EVP_PKEY_free(f->key);
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        /* Nothing a test did may leave errors behind for the next one. */
        ERR_clear_error();
        return 0;
}

static int group_setup(void **state) {
        assert_int_equal(sodium_init() < 0, 0);
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * Helpers: a test CA made with the EVP and X509 APIs
 */

static EVP_PKEY *make_ec_key(void) {
        EVP_PKEY *k = EVP_EC_gen("P-256");

        assert_non_null(k);
        return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(cert, ext, -1), 1);
        X509_EXTENSION_free(ext);
}

/*
 * A certificate for key with subject CN=cn, valid from now + not_before to now + not_after
 * (seconds), signed by issuer/issuer_key, or self-signed if issuer is NULL. ca: CA:TRUE and
 * keyCertSign; otherwise a client certificate with the extended key usage eku.
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long not_before,
                       long not_after, bool ca, const char *eku) {
        X509 *cert = X509_new();
        X509_NAME *name = X509_NAME_new();
        uint64_t serial;

        assert_non_null(cert);
        assert_non_null(name);
        randombytes_buf(&serial, sizeof serial);
        assert_int_equal(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), (serial >> 1) | 1), 1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                    (const unsigned char *) "hubguard test", -1, -1, 0),
                         1);
        assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn,
                                                    -1, -1, 0),
                         1);
        assert_int_equal(X509_set_version(cert, 2), 1);
        assert_int_equal(X509_set_subject_name(cert, name), 1);
        assert_int_equal(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), not_before));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), not_after));
        assert_int_equal(X509_set_pubkey(cert, key), 1);

        add_ext(cert, issuer ? issuer : cert, NID_subject_key_identifier, "hash");
        add_ext(cert, issuer ? issuer : cert, NID_authority_key_identifier, "keyid:always");
        if (ca) {
                add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, "critical,CA:TRUE");
                add_ext(cert, issuer ? issuer : cert, NID_key_usage, "critical,keyCertSign,cRLSign");
        } else {
                add_ext(cert, issuer ? issuer : cert, NID_basic_constraints, "critical,CA:FALSE");
                add_ext(cert, issuer ? issuer : cert, NID_key_usage, "critical,digitalSignature");
                if (eku)
                        add_ext(cert, issuer ? issuer : cert, NID_ext_key_usage, eku);
        }
        assert_true(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
        X509_NAME_free(name);
        return cert;
}

static X509 *make_ca(EVP_PKEY *key, const char *cn) {
        return make_cert(key, cn, NULL, NULL, -3600, 3650L * DAY, true, NULL);
}

static void write_cert_pem(const char *path, X509 *cert) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(PEM_write_X509(f, cert), 1);
        assert_int_equal(fclose(f), 0);
}

static char *cert_to_pem(X509 *cert) {
        _cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_mem());
        char *data, *copy;
        long len;

        assert_non_null(b);
        assert_int_equal(PEM_write_bio_X509(b, cert), 1);
        len = BIO_get_mem_data(b, &data);
        assert_true(len > 0);
        copy = memdup_str(data, (size_t) len);
        assert_non_null(copy);
        return copy;
}

static X509 *parse_or_die(const char *pem) {
        X509 *cert = NULL;

        assert_int_equal(cert_parse(pem, strlen(pem), &cert), 0);
        assert_non_null(cert);
        return cert;
}

static void write_private_key(const char *path, EVP_PKEY *key) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
        assert_int_equal(fclose(f), 0);
}

static bool is_lower_hex(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

/* The CN of name, copied into buf. */
static void get_cn(const X509_NAME *name, char *buf, int size) {
        assert_true(X509_NAME_get_text_by_NID(name, NID_commonName, buf, size) > 0);
}

/* ---------------------------------------------------------------------------------------------------
 * device_id_generate(), device_id_is_valid()
 */

static void test_device_id_generate(void **state) {
        char ids[64][DEVICE_ID_LEN + 1];

        assert_int_equal(DEVICE_ID_LEN, 36);
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                char buf[DEVICE_ID_LEN + 8];

                memset(buf, 'Z', sizeof buf);
                device_id_generate(buf);
                assert_int_equal(strlen(buf), DEVICE_ID_LEN);
                for (size_t j = DEVICE_ID_LEN + 1; j < sizeof buf; j++)
                        assert_int_equal(buf[j], 'Z');
                assert_memory_equal(buf, "hub-", 4);
                assert_true(is_lower_hex(buf + 4, 32));
                assert_true(device_id_is_valid(buf));
                memcpy(ids[i], buf, sizeof ids[i]);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(ids[i], ids[j]);
        }
}

static void test_device_id_is_valid(void **state) {
        static const char *const bad[] = {
                "",
                "hub-",
                "hub-0123456789abcdef0123456789abcde",   /* 31 digits */
                "hub-0123456789abcdef0123456789abcdef0", /* 33 */
                "hub-0123456789ABCDEF0123456789abcdef",  /* capitals */
                "hub-0123456789abcdeg0123456789abcdef",  /* g */
                "HUB-0123456789abcdef0123456789abcdef",
                "hub_0123456789abcdef0123456789abcdef",
                "dev-0123456789abcdef0123456789abcdef",
                "0123456789abcdef0123456789abcdef0123",
                "hub-0123456789abcdef 123456789abcdef",
                "hub-0123456789abcdef0123456789abcde\n",
                "hub-0123456789abcdef-123456789abcdef",
                "hub-0123456789abcdef0123456789abcd\xc3\xa9",
        };

        assert_true(device_id_is_valid(TEST_DEVICE_ID));
        assert_true(device_id_is_valid("hub-00000000000000000000000000000000"));
        assert_false(device_id_is_valid(NULL));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(device_id_is_valid(bad[i]));
}

/* ---------------------------------------------------------------------------------------------------
 * devkey_generate(), devkey_save(), devkey_load(), devkey_fingerprint()
 */

static void test_key_generate(void **state) {
        Fixture *f = *state;
        char group[64];
        size_t len = 0;

        assert_true(EVP_PKEY_is_a(f->key, "EC"));
        assert_int_equal(EVP_PKEY_get_utf8_string_param(f->key, "group", group, sizeof group, &len), 1);
        assert_string_equal(group, "prime256v1");
        assert_int_equal(EVP_PKEY_get_bits(f->key), 256);
}

static void test_key_save_load(void **state) {
        Fixture *f = *state;
        EVP_PKEY *back = NULL;
        char fp1[7 + 64 + 1], fp2[7 + 64 + 1];
        _cleanup_free_ char *pem = NULL;
        struct stat st;
        mode_t old = umask(0);

        assert_int_equal(devkey_save(f->path, f->key), 0);
        (void) umask(old);
        assert_int_equal(lstat(f->path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        /* PKCS#8, unencrypted (systemd's credential encryption protects it at rest). */
        pem = read_file_or_die(f->path, NULL);
        assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);

        assert_int_equal(devkey_load(f->path, &back), 0);
        assert_non_null(back);
        assert_int_equal(EVP_PKEY_eq(f->key, back), 1);
        assert_int_equal(devkey_fingerprint(f->key, fp1, sizeof fp1), 0);
        assert_int_equal(devkey_fingerprint(back, fp2, sizeof fp2), 0);
        assert_string_equal(fp1, fp2);
        EVP_PKEY_free(back);
}

static void test_key_save_replaces(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = make_ec_key(), *back = NULL;

        write_string_or_die(f->path, "old");
        assert_int_equal(chmod(f->path, 0644), 0);
        assert_int_equal(devkey_save(f->path, other), 0);
        assert_int_equal(devkey_load(f->path, &back), 0);
        assert_int_equal(EVP_PKEY_eq(other, back), 1);
        assert_int_equal(EVP_PKEY_eq(f->key, back), 0);
        assert_int_equal(dir_count_entries(f->dir), 1);
}

static void test_fingerprint_format(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = make_ec_key();
        char fp[7 + 64 + 1], fp_other[7 + 64 + 1], small[7 + 64];
        unsigned char *der = NULL, md[32];
        char hex[65];
        int n;

        assert_int_equal(devkey_fingerprint(f->key, fp, sizeof fp), 0);
        assert_int_equal(strlen(fp), 7 + 64);
        assert_memory_equal(fp, "SHA256:", 7);
        assert_true(is_lower_hex(fp + 7, 64));

        /* SHA-256 of the DER SubjectPublicKeyInfo, computed here with OpenSSL. */
        n = i2d_PUBKEY(f->key, &der);
        assert_true(n > 0);
        assert_non_null(SHA256(der, (size_t) n, md));
        OPENSSL_free(der);
        assert_non_null(sodium_bin2hex(hex, sizeof hex, md, sizeof md));
        assert_string_equal(fp + 7, hex);

        assert_int_equal(devkey_fingerprint(other, fp_other, sizeof fp_other), 0);
        assert_string_not_equal(fp, fp_other);

        assert_int_equal(devkey_fingerprint(f->key, small, sizeof small), -ENOBUFS);
}

static void test_key_load_rsa(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *rsa = EVP_RSA_gen(2048);
        EVP_PKEY *back = NULL;

        assert_non_null(rsa);
        write_private_key(f->path, rsa);
        assert_int_equal(devkey_load(f->path, &back), -EBADMSG);
        assert_null(back);
}

static void test_key_load_ed25519(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        EVP_PKEY *back = NULL;

        assert_non_null(ed);
        write_private_key(f->path, ed);
        assert_int_equal(devkey_load(f->path, &back), -EBADMSG);
        assert_null(back);
}

static void test_key_load_bad_files(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *big = malloc(CERT_PEM_MAX + 1);
        EVP_PKEY *back = NULL;
        FILE *pub;

        assert_int_equal(devkey_load(f->path, &back), -ENOENT);

        write_string_or_die(f->path, "");
        assert_int_equal(devkey_load(f->path, &back), -EBADMSG);

        write_string_or_die(f->path, "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n");
        assert_int_equal(devkey_load(f->path, &back), -EBADMSG);

        /* The public half alone is no private key. */
        pub = fopen(f->path, "we");
        assert_non_null(pub);
        assert_int_equal(PEM_write_PUBKEY(pub, f->key), 1);
        assert_int_equal(fclose(pub), 0);
        assert_int_equal(devkey_load(f->path, &back), -EBADMSG);

        assert_non_null(big);
        memset(big, '\n', CERT_PEM_MAX + 1);
        write_file_or_die(f->path, big, CERT_PEM_MAX + 1);
        assert_int_equal(devkey_load(f->path, &back), -EFBIG);

        assert_null(back);
        ERR_clear_error();
}

/* ---------------------------------------------------------------------------------------------------
 * csr_make()
 */

static void test_csr(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        EVP_PKEY *pub;
        char cn[64];

        assert_int_equal(csr_make(f->key, TEST_DEVICE_ID, &pem), 0);
        assert_true(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);

        b = BIO_new_mem_buf(pem, -1);
        assert_non_null(b);
        req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        assert_non_null(req);
        pub = X509_REQ_get0_pubkey(req);
        assert_non_null(pub);
        assert_int_equal(EVP_PKEY_eq(pub, f->key), 1);
        assert_int_equal(X509_REQ_verify(req, pub), 1);
        get_cn(X509_REQ_get_subject_name(req), cn, sizeof cn);
        assert_string_equal(cn, TEST_DEVICE_ID);
}

static void test_csr_signed_by_key(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = make_ec_key();
        _cleanup_free_ char *pem = NULL;
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;

        assert_int_equal(csr_make(f->key, TEST_DEVICE_ID, &pem), 0);
        b = BIO_new_mem_buf(pem, -1);
        req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
        assert_non_null(req);
        /* Another key does not verify it. */
        assert_true(X509_REQ_verify(req, other) <= 0);
        ERR_clear_error();
}

static void test_csr_bad_device_id(void **state) {
        Fixture *f = *state;
        char *pem = NULL;

        assert_int_equal(csr_make(f->key, "hub-nothex", &pem), -EINVAL);
        assert_int_equal(csr_make(f->key, "", &pem), -EINVAL);
        assert_int_equal(csr_make(f->key, NULL, &pem), -EINVAL);
        assert_null(pem);
}

/* ---------------------------------------------------------------------------------------------------
 * cert_make_self_signed(), cert_is_self_signed(), cert_not_after()
 */

static void test_self_signed(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        char cn[64], reason[256] = "";
        int64_t not_after = 0;
        time_t now = time(NULL);

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, SELF_SIGNED_DAYS, &pem), 0);
        assert_true(strncmp(pem, "-----BEGIN CERTIFICATE-----\n", 28) == 0);
        cert = parse_or_die(pem);

        assert_true(cert_is_self_signed(cert));
        assert_int_equal(cert_validate(cert, f->key, NULL, now, reason, sizeof reason), 0);
        assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), f->key), 1);
        get_cn(X509_get_subject_name(cert), cn, sizeof cn);
        assert_string_equal(cn, TEST_DEVICE_ID);

        assert_int_equal(cert_not_after(cert, &not_after), 0);
        assert_true(not_after >= (int64_t) now + SELF_SIGNED_DAYS * (int64_t) DAY - 5);
        assert_true(not_after <= (int64_t) time(NULL) + SELF_SIGNED_DAYS * (int64_t) DAY + 5);

        /* A client certificate: not a CA, TLS client authentication only. */
        assert_int_equal(X509_check_ca(cert), 0);
        assert_int_equal(X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0), 1);
        assert_true(X509_get_extended_key_usage(cert) & XKU_SSL_CLIENT);
        assert_false(X509_get_extended_key_usage(cert) & XKU_SSL_SERVER);
}

static void test_self_signed_bad_arguments(void **state) {
        Fixture *f = *state;
        char *pem = NULL;

        assert_int_equal(cert_make_self_signed(f->key, "hub-xyz", 10, &pem), -EINVAL);
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 0, &pem), -EINVAL);
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, -1, &pem), -EINVAL);
        assert_null(pem);
}

static void test_self_signed_by_other_key(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = make_ec_key();
        _cleanup_(X509_freep) X509 *cert = NULL;

        /* Issuer is subject, but the signature is by another key. */
        cert = make_cert(f->key, TEST_DEVICE_ID, NULL, other, -60, DAY, false, "clientAuth");
        assert_false(cert_is_self_signed(cert));
        assert_int_equal(ERR_peek_error(), 0);
}

/* ---------------------------------------------------------------------------------------------------
 * cert_parse()
 */

static void test_parse_one(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL, *padded = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL, *cert2 = NULL;

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 1, &pem), 0);
        cert = parse_or_die(pem);
        /* Trailing white space is fine. */
        assert_true(asprintf(&padded, "%s \r\n\t\n\n", pem) > 0);
        cert2 = parse_or_die(padded);
        assert_int_equal(X509_cmp(cert, cert2), 0);
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_two_certificates(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *both = NULL;
        X509 *cert = NULL;

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 1, &a), 0);
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 2, &b), 0);
        assert_true(asprintf(&both, "%s%s", a, b) > 0);
        assert_int_equal(cert_parse(both, strlen(both), &cert), -EBADMSG);
        assert_null(cert);
        free(both);
        assert_true(asprintf(&both, "%s\n%s", a, a) > 0);
        assert_int_equal(cert_parse(both, strlen(both), &cert), -EBADMSG);
        assert_null(cert);
}

static void test_parse_trailing_garbage(void **state) {
        Fixture *f = *state;
        static const char *const tails[] = { "x", "\n\nhello", " \x01", "-----END CERTIFICATE-----\n" };
        _cleanup_free_ char *pem = NULL;

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 1, &pem), 0);
        for (size_t i = 0; i < ELEMENTSOF(tails); i++) {
                _cleanup_free_ char *s = NULL;
                X509 *cert = NULL;

                assert_true(asprintf(&s, "%s%s", pem, tails[i]) > 0);
                assert_int_equal(cert_parse(s, strlen(s), &cert), -EBADMSG);
                assert_null(cert);
        }
}

static void test_parse_empty_and_garbage(void **state) {
        static const char *const bad[] = {
                " ", "\n", "hello", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nAAAA\n",
        };
        X509 *cert = NULL;

        assert_int_equal(cert_parse("", 0, &cert), -EBADMSG);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(cert_parse(bad[i], strlen(bad[i]), &cert), -EBADMSG);
        assert_null(cert);
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_parse_nul_inside(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL;
        size_t len;
        X509 *cert = NULL;

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 1, &pem), 0);
        len = strlen(pem);
        /* The terminator counted in... */
        assert_int_equal(cert_parse(pem, len + 1, &cert), -EBADMSG);
        /* ...or a NUL in the middle of the base64. */
        pem[len / 2] = '\0';
        assert_int_equal(cert_parse(pem, len, &cert), -EBADMSG);
        assert_null(cert);
}

static void test_parse_too_large(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL, *big = NULL;
        size_t len;
        X509 *cert = NULL;

        /* A valid certificate padded with white space past CERT_PEM_MAX. */
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 1, &pem), 0);
        len = strlen(pem);
        big = malloc(CERT_PEM_MAX + 2);
        assert_non_null(big);
        memcpy(big, pem, len);
        memset(big + len, '\n', CERT_PEM_MAX + 1 - len);
        assert_int_equal(cert_parse(big, CERT_PEM_MAX, &cert), 0);
        X509_free(cert);
        cert = NULL;
        assert_int_equal(cert_parse(big, CERT_PEM_MAX + 1, &cert), -EBADMSG);
        assert_null(cert);
}

/* ---------------------------------------------------------------------------------------------------
 * cert_validate()
 */

static void test_validate_wrong_key(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = make_ec_key();
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        char reason[256] = "";

        assert_int_equal(cert_make_self_signed(other, TEST_DEVICE_ID, 1, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, NULL, time(NULL), reason, sizeof reason),
                         -EKEYREJECTED);
        assert_int_not_equal(reason[0], '\0');
        assert_non_null(strstr(reason, "key"));
}

static void test_validate_expired(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        char reason[256] = "";
        time_t now = time(NULL);

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 30, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, NULL, now + 29 * DAY, reason, sizeof reason), 0);
        assert_int_equal(cert_validate(cert, f->key, NULL, now + 31 * DAY, reason, sizeof reason),
                         -EKEYEXPIRED);
        assert_non_null(strstr(reason, "expired"));
        /* Far in the future (year 2100 and later). */
        assert_int_equal(cert_validate(cert, f->key, NULL, (time_t) 4102444800, reason, sizeof reason),
                         -EKEYEXPIRED);
}

static void test_validate_not_yet_valid(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL, *later = NULL;
        char reason[256] = "";
        time_t now = time(NULL);

        /* notBefore is a minute before it was made. */
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 30, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, NULL, now - 3600, reason, sizeof reason),
                         -EKEYREJECTED);
        assert_non_null(strstr(reason, "not valid yet"));

        /* One that starts tomorrow. */
        later = make_cert(f->key, TEST_DEVICE_ID, NULL, NULL, DAY, 30L * DAY, false, "clientAuth");
        reason[0] = '\0';
        assert_int_equal(cert_validate(later, f->key, NULL, now, reason, sizeof reason), -EKEYREJECTED);
        assert_non_null(strstr(reason, "not valid yet"));
        assert_int_equal(cert_validate(later, f->key, NULL, now + 2 * DAY, reason, sizeof reason), 0);
}

static void test_validate_ca_chain(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"), *cert = NULL, *parsed = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem"), *pem = NULL;
        char reason[256] = "";

        write_cert_pem(ca_file, ca);
        cert = make_cert(f->key, TEST_DEVICE_ID, ca, ca_key, -60, 365L * DAY, false, "clientAuth");
        /* Through PEM and cert_parse(), as a certificate from the cloud arrives. */
        pem = cert_to_pem(cert);
        parsed = parse_or_die(pem);
        assert_int_equal(cert_validate(parsed, f->key, ca_file, time(NULL), reason, sizeof reason), 0);
        assert_false(cert_is_self_signed(parsed));
        /* The CA is self-signed, for what that is worth. */
        assert_true(cert_is_self_signed(ca));
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_validate_ca_chain_expiry_checked_first(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"), *cert = NULL, *longer = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem");
        char reason[256] = "";
        time_t now = time(NULL);

        write_cert_pem(ca_file, ca);
        cert = make_cert(f->key, TEST_DEVICE_ID, ca, ca_key, -60, 365L * DAY, false, "clientAuth");
        assert_int_equal(cert_validate(cert, f->key, ca_file, now + 400 * DAY, reason, sizeof reason),
                         -EKEYEXPIRED);
        /* A certificate that outlives its CA: at a time the CA has expired, the chain does not hold
         * (the chain is checked at now too). */
        longer = make_cert(f->key, TEST_DEVICE_ID, ca, ca_key, -60, 4000L * DAY, false, "clientAuth");
        assert_int_equal(cert_validate(longer, f->key, ca_file, now + 3700L * DAY, reason, sizeof reason),
                         -EBADMSG);
        assert_non_null(strstr(reason, "CA"));
}

static void test_validate_other_ca(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key(), *other_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"),
                                   *other = make_ca(other_key, "someone else's CA"), *cert = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem");
        char reason[256] = "";

        write_cert_pem(ca_file, ca);
        cert = make_cert(f->key, TEST_DEVICE_ID, other, other_key, -60, 365L * DAY, false, "clientAuth");
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -EBADMSG);
        print_message("reason: %s\n", reason);
        assert_non_null(strstr(reason, "CA"));
        assert_false(cert_is_self_signed(cert));
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_validate_same_name_other_ca(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key(), *impostor_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"),
                                   *impostor = make_ca(impostor_key, "hubguard test CA"), *cert = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem");
        char reason[256] = "";

        /* A CA of the same name but another key: the signature decides. */
        write_cert_pem(ca_file, ca);
        cert = make_cert(f->key, TEST_DEVICE_ID, impostor, impostor_key, -60, 365L * DAY, false,
                         "clientAuth");
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -EBADMSG);
        assert_non_null(strstr(reason, "CA"));
}

static void test_validate_self_signed_with_ca(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"), *cert = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem"), *pem = NULL;
        char reason[256] = "";

        /* Once a CA is configured, the development certificate is no longer good enough. */
        write_cert_pem(ca_file, ca);
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 30, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -EBADMSG);
        assert_non_null(strstr(reason, "CA"));
}

static void test_validate_wrong_purpose(void **state) {
        Fixture *f = *state;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = make_ec_key();
        _cleanup_(X509_freep) X509 *ca = make_ca(ca_key, "hubguard test CA"), *cert = NULL;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem");
        char reason[256] = "";

        /* A server certificate is not a client certificate. */
        write_cert_pem(ca_file, ca);
        cert = make_cert(f->key, TEST_DEVICE_ID, ca, ca_key, -60, 365L * DAY, false, "serverAuth");
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -EBADMSG);
        print_message("reason: %s\n", reason);
}

static void test_validate_ca_file_missing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ca_file = path_join(f->dir, "no-such-ca.pem"), *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        char reason[512] = "";

        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 30, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -ENOKEY);
        assert_non_null(strstr(reason, ca_file));
        assert_int_equal(ERR_peek_error(), 0);
}

static void test_validate_ca_file_garbage(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *ca_file = path_join(f->dir, "ca.pem"), *pem = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        char reason[512] = "";

        write_string_or_die(ca_file, "this is not a certificate\n");
        assert_int_equal(cert_make_self_signed(f->key, TEST_DEVICE_ID, 30, &pem), 0);
        cert = parse_or_die(pem);
        assert_int_equal(cert_validate(cert, f->key, ca_file, time(NULL), reason, sizeof reason), -ENOKEY);
        assert_non_null(strstr(reason, ca_file));
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_device_id_generate),
                FIXTURE_TEST(test_device_id_is_valid),
                FIXTURE_TEST(test_key_generate),
                FIXTURE_TEST(test_key_save_load),
                FIXTURE_TEST(test_key_save_replaces),
                FIXTURE_TEST(test_fingerprint_format),
                FIXTURE_TEST(test_key_load_rsa),
                FIXTURE_TEST(test_key_load_ed25519),
                FIXTURE_TEST(test_key_load_bad_files),
                FIXTURE_TEST(test_csr),
                FIXTURE_TEST(test_csr_signed_by_key),
                FIXTURE_TEST(test_csr_bad_device_id),
                FIXTURE_TEST(test_self_signed),
                FIXTURE_TEST(test_self_signed_bad_arguments),
                FIXTURE_TEST(test_self_signed_by_other_key),
                FIXTURE_TEST(test_parse_one),
                FIXTURE_TEST(test_parse_two_certificates),
                FIXTURE_TEST(test_parse_trailing_garbage),
                FIXTURE_TEST(test_parse_empty_and_garbage),
                FIXTURE_TEST(test_parse_nul_inside),
                FIXTURE_TEST(test_parse_too_large),
                FIXTURE_TEST(test_validate_wrong_key),
                FIXTURE_TEST(test_validate_expired),
                FIXTURE_TEST(test_validate_not_yet_valid),
                FIXTURE_TEST(test_validate_ca_chain),
                FIXTURE_TEST(test_validate_ca_chain_expiry_checked_first),
                FIXTURE_TEST(test_validate_other_ca),
                FIXTURE_TEST(test_validate_same_name_other_ca),
                FIXTURE_TEST(test_validate_self_signed_with_ca),
                FIXTURE_TEST(test_validate_wrong_purpose),
                FIXTURE_TEST(test_validate_ca_file_missing),
                FIXTURE_TEST(test_validate_ca_file_garbage),
        };

        return cmocka_run_group_tests_name("cert", tests, group_setup, NULL);
}
