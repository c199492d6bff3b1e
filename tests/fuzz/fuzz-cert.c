/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The PEM certificate org.hubguard.identity1.Manager.InstallCertificate accepts from root
 * (identityd-cert.h), on arbitrary bytes: cert_parse() and, for what it accepts, every check the
 * handler makes before installing (cert_validate() against a fixed device key, with and without a
 * CA file, at a time inside and one before the validity of the corpus's certificates),
 * cert_not_after() and cert_is_self_signed(). Promises checked: cert_parse() returns 0 or -EBADMSG,
 * takes nothing but exactly one certificate and white space, and what it accepts writes back to a
 * PEM that parses to the same certificate; cert_validate() returns only its documented errors, with
 * a short printable reason, and accepts only a certificate for the device key.
 *
 * The key and CA below are test material made for this file with openssl(1) (P-256, CA valid until
 * 2126); corpus/cert/ has a certificate the CA issued for the key, a self-signed one, and the CA's.
 */

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "identityd-cert.h"

static const char device_key_pem[] =
        "-----BEGIN PRIVATE KEY-----\n"
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDsW+aTl2clqpJtB1\n"
        "aCkS9qgUrGW3mklhOgYTfHCgHV2hRANCAATlBdgd+HlpXqDUA6Uhis35cmE/bqM4\n"
        "GJkgsMz2QJP5EwIoaQPyi9n6jeA/NYMlU1cnqddT5EBqQoTVTA5REARg\n"
        "-----END PRIVATE KEY-----\n";

static const char ca_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIBuzCCAWGgAwIBAgIUQu1bVDVP4b+IazQv95uDhKiKQbswCgYIKoZIzj0EAwIw\n"
        "KjEWMBQGA1UECgwNaHViZ3VhcmQgZnV6ejEQMA4GA1UEAwwHZnV6eiBDQTAgFw0y\n"
        "NjExMjcyMDQ0MDlaGA8yMTI2MTEwMzIwNDQwOVowKjEWMBQGA1UECgwNaHViZ3Vh\n"
        "cmQgZnV6ejEQMA4GA1UEAwwHZnV6eiBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
        "A0IABEqqp1C+tAQxRTa/k2R36ytIcxmv7RAyrteQcWqKsmpQwV1lJcoinjTRfY3W\n"
        "Rl6+k7roMjKCbF3ukBZ8ELhZX0+jYzBhMB0GA1UdDgQWBBSBxFQTeFroSFmpLYw4\n"
        "vMZ/PjMfpjAfBgNVHSMEGDAWgBSBxFQTeFroSFmpLYw4vMZ/PjMfpjAPBgNVHRMB\n"
        "Af8EBTADAQH/MA4GA1UdDwEB/wQEAwICBDAKBggqhkjOPQQDAgNIADBFAiAmPRK/\n"
        "8IlQHlTopEPF7CFyVnfG40u2Pw5Bzh9vysRN7AIhAMQDSkQwi6WYN/lQ4oyB1P1g\n"
        "No3tw1UiwO0WFS76Xi1M\n"
        "-----END CERTIFICATE-----\n";

/* 2030-03-17, inside the corpus certificates' validity; 2023-11-14, before it. */
#define FUZZ_NOW ((time_t) 1900000000)
#define FUZZ_BEFORE ((time_t) 1700000000)

static EVP_PKEY *device_key;
static char ca_path[] = "/tmp/fuzz-cert-ca.XXXXXX";

static void remove_ca(void) {
        (void) unlink(ca_path);
}

static void setup(void) {
        BIO *b;
        FILE *f;
        int fd;

        if (device_key)
                return;
        b = BIO_new_mem_buf(device_key_pem, -1);
        fuzz_check(b);
        device_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
        BIO_free(b);
        fuzz_check(device_key);

        fd = mkstemp(ca_path);
        fuzz_check(fd >= 0);
        f = fdopen(fd, "w");
        fuzz_check(f);
        fuzz_check(fputs(ca_pem, f) >= 0);
        fuzz_check(fclose(f) == 0);
        fuzz_check(atexit(remove_ca) == 0);
}

static void check_reason(int r, const char *reason, size_t size) {
        size_t n = strnlen(reason, size);

        if (r == 0)
                return;
        fuzz_check(n > 0 && n < size);
        for (size_t i = 0; i < n; i++)
                fuzz_check((unsigned char) reason[i] >= 0x20 && reason[i] != 0x7f);
}

static void check_validate(X509 *cert) {
        EVP_PKEY *pub = X509_get0_pubkey(cert);
        bool ours = pub && EVP_PKEY_eq(pub, device_key) == 1;
        static const time_t times[] = { FUZZ_NOW, FUZZ_BEFORE };

        ERR_clear_error();
        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                char reason[256];
                int r, r_ca;

                memset(reason, 0xff, sizeof reason);
                r = cert_validate(cert, device_key, NULL, times[i], reason, sizeof reason);
                fuzz_check(r == 0 || r == -EKEYREJECTED || r == -EKEYEXPIRED);
                check_reason(r, reason, sizeof reason);
                if (r == 0)
                        fuzz_check(ours);
                if (!ours)
                        fuzz_check(r == -EKEYREJECTED);

                memset(reason, 0xff, sizeof reason);
                r_ca = cert_validate(cert, device_key, ca_path, times[i], reason, sizeof reason);
                fuzz_check(r_ca == 0 || r_ca == -EKEYREJECTED || r_ca == -EKEYEXPIRED || r_ca == -EBADMSG);
                check_reason(r_ca, reason, sizeof reason);
                /* The CA only adds a condition. */
                fuzz_check(r == 0 || r_ca == r);
                if (r_ca == 0)
                        fuzz_check(r == 0);
        }
        ERR_clear_error();
}

static void check_round_trip(X509 *cert) {
        X509 *back = NULL;
        BIO *b = BIO_new(BIO_s_mem());
        char *data;
        long len;

        fuzz_check(b);
        fuzz_check(PEM_write_bio_X509(b, cert) == 1);
        len = BIO_get_mem_data(b, &data);
        fuzz_check(len > 0);
        fuzz_check(cert_parse(data, (size_t) len, &back) == 0);
        fuzz_check(X509_cmp(cert, back) == 0);
        X509_free(back);
        BIO_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        X509 *cert = (X509 *) &size;
        int64_t not_after;
        int r;

        /* Past CERT_PEM_MAX, so the bound is crossed. */
        if (outside_size_range(size, 0, CERT_PEM_MAX + 16))
                return 0;
        setup();

        r = cert_parse((const char *) data, size, &cert);
        fuzz_check(r == 0 || r == -EBADMSG);
        ERR_clear_error();
        if (r < 0) {
                fuzz_check(cert == (X509 *) &size);
                return 0;
        }
        fuzz_check(size <= CERT_PEM_MAX && !memchr(data, '\0', size));
        fuzz_check(memmem(data, size, "-----BEGIN ", 11) && memmem(data, size, "-----END ", 9));

        check_round_trip(cert);
        check_validate(cert);
        (void) cert_not_after(cert, &not_after);
        (void) cert_is_self_signed(cert);
        ERR_clear_error();
        X509_free(cert);
        return 0;
}
