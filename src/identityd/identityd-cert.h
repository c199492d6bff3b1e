/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The device identity: an ECDSA P-256 key pair made on first boot (OpenSSL 3 EVP), a certificate
 * signing request naming the device id, and the certificate the cloud issued, or until then a
 * self-signed development certificate. The private key never leaves this domain except as the file
 * systemd hands to hub-telemetryd with LoadCredential=.
 */

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hubguard/macro.h"
#include "identityd-certtool.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);

#define SELF_SIGNED_DAYS 3650

int devkey_generate(EVP_PKEY **ret);
/* Write the private key as PKCS#8 PEM, mode 0600, atomically. */
int devkey_save(const char *path, EVP_PKEY *key);
int devkey_load(const char *path, EVP_PKEY **ret);
/* "SHA256:" and the hex SHA-256 of the DER SubjectPublicKeyInfo, into buf (7 + 64 + 1 bytes). */
int devkey_fingerprint(EVP_PKEY *key, char *buf, size_t size);

/* PEM CSR / self-signed certificate with subject CN=device_id. *ret_pem is malloc()ed. */
int csr_make(EVP_PKEY *key, const char *device_id, char **ret_pem);
int cert_make_self_signed(EVP_PKEY *key, const char *device_id, int days, char **ret_pem);

/*
 * Parse exactly one PEM certificate (nothing but white space after it) of at most CERT_PEM_MAX bytes.
 * -EBADMSG if it is not one.
 */
int cert_parse(const char *pem, size_t len, X509 **ret);

/*
 * May this certificate become the device's? It must be for key, valid at now, and chain to a CA in
 * ca_file (NULL: only the key and validity are checked, for the self-signed development
 * certificate). On refusal returns -EBADMSG/-EKEYREJECTED/-EKEYEXPIRED/-ENOKEY with reason set.
 */
int cert_validate(X509 *cert, EVP_PKEY *key, const char *ca_file, time_t now, char *reason, size_t reason_size);

/* notAfter as seconds since the epoch. */
int cert_not_after(X509 *cert, int64_t *ret);
bool cert_is_self_signed(X509 *cert);
