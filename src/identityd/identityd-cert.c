/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdio.h>

#include "hubguard/errno-util.h"
#include "hubguard/fileio.h"
#include "hubguard/validate.h"
#include "identityd-cert.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);

int devkey_generate(EVP_PKEY **ret) {
        EVP_PKEY *k = EVP_EC_gen("P-256");

        if (!k)
                return errno_from_openssl(-EIO);
        *ret = k;
        return 0;
}

/* The PEM of a BIO_s_secmem() buffer: it is wiped when the BIO is freed. */
int devkey_save(const char *path, EVP_PKEY *key) {
        _cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_secmem());
        char *data;
        long len;

        if (!b)
                return -ENOMEM;
        if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL))
                return errno_from_openssl(-EIO);
        len = BIO_get_mem_data(b, &data);
        if (len <= 0)
                return -EIO;
        return write_file_atomic(path, data, (size_t) len, 0600);
}

int devkey_load(const char *path, EVP_PKEY **ret) {
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        char *data = NULL;
        size_t len;
        EVP_PKEY *k;
        int r;

        r = read_file_bounded(path, CERT_PEM_MAX, &data, &len);
        if (r < 0)
                return r;
        b = BIO_new_mem_buf(data, (int) len);
        k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        explicit_erase(data, len);
        free(data);
        if (!k)
                return errno_from_openssl(-EBADMSG);
        if (!EVP_PKEY_is_a(k, "EC")) {
                EVP_PKEY_free(k);
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

int devkey_fingerprint(EVP_PKEY *key, char *buf, size_t size) {
        unsigned char *der = NULL, md[32];
        int n;

        if (size < 7 + 64 + 1)
                return -ENOBUFS;
        n = i2d_PUBKEY(key, &der);
        if (n <= 0)
                return errno_from_openssl(-EIO);
        crypto_hash_sha256(md, der, (unsigned long long) n);
        OPENSSL_free(der);
        memcpy(buf, "SHA256:", 7);
        sodium_bin2hex(buf + 7, size - 7, md, sizeof md);
        return 0;
}

static int pem_out(int (*write)(BIO *, void *), void *obj, char **ret) {
        _cleanup_(BIO_free_allp) BIO *b = BIO_new(BIO_s_mem());
        char *data, *copy;
        long len;

        if (!b)
                return -ENOMEM;
        if (!write(b, obj))
                return errno_from_openssl(-EIO);
        len = BIO_get_mem_data(b, &data);
        copy = memdup_str(data, (size_t) len);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

static int write_req(BIO *b, void *o) {
        return PEM_write_bio_X509_REQ(b, o);
}

static int write_cert(BIO *b, void *o) {
        return PEM_write_bio_X509(b, o);
}

static int make_name(const char *device_id, X509_NAME **ret) {
        X509_NAME *n = X509_NAME_new();

        if (!n)
                return -ENOMEM;
        if (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8, (const unsigned char *) "hubguard", -1, -1, 0) ||
            !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) device_id, -1, -1, 0)) {
                X509_NAME_free(n);
                return errno_from_openssl(-EIO);
        }
        *ret = n;
        return 0;
}

int csr_make(EVP_PKEY *key, const char *device_id, char **ret_pem) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = X509_REQ_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        int r;

        if (!device_id_is_valid(device_id))
                return -EINVAL;
        if (!req)
                return -ENOMEM;
        r = make_name(device_id, &name);
        if (r < 0)
                return r;
        if (!X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
            !X509_REQ_set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0)
                return errno_from_openssl(-EIO);
        return pem_out(write_req, req, ret_pem);
}

static int add_ext(X509 *cert, int nid, const char *value) {
        X509V3_CTX ctx;
        X509_EXTENSION *ext;
        int ok;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext)
                return errno_from_openssl(-EIO);
        ok = X509_add_ext(cert, ext, -1);
        X509_EXTENSION_free(ext);
        return ok ? 0 : errno_from_openssl(-EIO);
}

int cert_make_self_signed(EVP_PKEY *key, const char *device_id, int days, char **ret_pem) {
        _cleanup_(X509_freep) X509 *cert = X509_new();
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        unsigned char serial[16];
        BIGNUM *bn;
        int r;

        if (!device_id_is_valid(device_id) || days <= 0)
                return -EINVAL;
        if (!cert)
                return -ENOMEM;
        r = make_name(device_id, &name);
        if (r < 0)
                return r;
        randombytes_buf(serial, sizeof serial);
        serial[0] &= 0x7f; /* positive */
        bn = BN_bin2bn(serial, sizeof serial, NULL);
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert))) {
                BN_free(bn);
                return errno_from_openssl(-EIO);
        }
        BN_free(bn);
        if (!X509_set_version(cert, 2) || !X509_set_subject_name(cert, name) || !X509_set_issuer_name(cert, name) ||
            !X509_gmtime_adj(X509_getm_notBefore(cert), -60) ||
            !X509_gmtime_adj(X509_getm_notAfter(cert), (long) days * 24 * 3600) || !X509_set_pubkey(cert, key))
                return errno_from_openssl(-EIO);
        r = add_ext(cert, NID_basic_constraints, "critical,CA:FALSE");
        if (r >= 0)
                r = add_ext(cert, NID_key_usage, "critical,digitalSignature");
        if (r >= 0)
                r = add_ext(cert, NID_ext_key_usage, "clientAuth");
        if (r < 0)
                return r;
        if (X509_sign(cert, key, EVP_sha256()) <= 0)
                return errno_from_openssl(-EIO);
        return pem_out(write_cert, cert, ret_pem);
}

int cert_parse(const char *pem, size_t len, X509 **ret) {
        _cleanup_(BIO_free_allp) BIO *b = NULL;
        X509 *cert;
        char rest[1];

        if (len == 0 || len > CERT_PEM_MAX || memchr(pem, '\0', len))
                return -EBADMSG;
        b = BIO_new_mem_buf(pem, (int) len);
        if (!b)
                return -ENOMEM;
        cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!cert)
                return errno_from_openssl(-EBADMSG);
        /* Exactly one certificate: what follows may only be white space. */
        for (int n; (n = BIO_read(b, rest, 1)) == 1;)
                if (!strchr(" \t\r\n", rest[0])) {
                        X509_free(cert);
                        return -EBADMSG;
                }
        ERR_clear_error();
        *ret = cert;
        return 0;
}

int cert_validate(X509 *cert, EVP_PKEY *key, const char *ca_file, time_t now, char *reason, size_t reason_size) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = NULL;
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        EVP_PKEY *pub = X509_get0_pubkey(cert);

        if (!pub || EVP_PKEY_eq(pub, key) != 1) {
                (void) snprintf(reason, reason_size, "the certificate is not for this device's key");
                ERR_clear_error();
                return -EKEYREJECTED;
        }
        if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
                (void) snprintf(reason, reason_size, "the certificate is not valid yet");
                return -EKEYREJECTED;
        }
        if (X509_cmp_time(X509_get0_notAfter(cert), &now) < 0) {
                (void) snprintf(reason, reason_size, "the certificate has expired");
                return -EKEYEXPIRED;
        }
        if (!ca_file)
                return 0;

        store = X509_STORE_new();
        ctx = X509_STORE_CTX_new();
        if (!store || !ctx)
                return -ENOMEM;
        if (X509_STORE_load_file(store, ca_file) != 1) {
                (void) snprintf(reason, reason_size, "cannot read the CA file '%s'", ca_file);
                return errno_from_openssl(-ENOKEY);
        }
        if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
                return errno_from_openssl(-EIO);
        X509_STORE_CTX_set_time(ctx, 0, now);
        (void) X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
        if (X509_verify_cert(ctx) != 1) {
                (void) snprintf(reason, reason_size, "the certificate does not chain to the configured CA: %s",
                                X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
                ERR_clear_error();
                return -EBADMSG;
        }
        return 0;
}

int cert_not_after(X509 *cert, int64_t *ret) {
        struct tm tm;

        if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
                return -EBADMSG;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

bool cert_is_self_signed(X509 *cert) {
        /* Issuer is subject and the signature verifies with the certificate's own key. (Not
         * X509_check_issued(): it also wants keyCertSign, which a client certificate must not have.) */
        bool r = X509_self_signed(cert, 1) == 1;

        ERR_clear_error();
        return r;
}
