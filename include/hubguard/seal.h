/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Sealed secrets: a domain's own secrets at rest, encrypted and authenticated with
 * XChaCha20-Poly1305 (libsodium) under a key derived from the domain's master key. The master key
 * comes from a systemd credential (LoadCredentialEncrypted=, bound to the machine and to the TPM2
 * when there is one), which the service manager decrypts into $CREDENTIALS_DIRECTORY for this
 * service alone; the devstack provides the same directory by hand.
 *
 * A sealed blob is bound to its name (the AEAD's associated data): a blob copied to another name
 * does not open. Layout: "HGS1" | 24-byte nonce | ciphertext | 16-byte tag.
 */

#include <stddef.h>

#define SEAL_MASTER_KEY_SIZE 32
#define SEAL_OVERHEAD (4 + 24 + 16)
#define SEAL_NAME_MAX 64
#define SEAL_DATA_MAX (64 * 1024)

/*
 * Read the master key: a file of exactly SEAL_MASTER_KEY_SIZE bytes that no one but its owner may
 * read. *ret_key is sodium_malloc()ed (locked, guarded, excluded from core dumps): free it with
 * sodium_free(). Returns -ENOENT, -EPERM (group/other may read it), -EBADMSG (wrong size), or 0.
 */
int seal_master_key_load(const char *path, unsigned char **ret_key);

/* The master key's path: $CREDENTIALS_DIRECTORY/NAME. Returns -ENXIO if that variable is unset. */
int seal_master_key_path(const char *name, char *buf, size_t size);

/* Seal len bytes under name (an identifier). *ret_blob is malloc()ed, *ret_len = len + SEAL_OVERHEAD. */
int seal_data(const unsigned char *master, const char *name, const void *data, size_t len, void **ret_blob,
              size_t *ret_len);

/*
 * Open a blob sealed under name. *ret_data is sodium_malloc()ed and NUL-terminated (not counted in
 * *ret_len): free it with sodium_free(). -EBADMSG if it was tampered with, sealed under another name
 * or another key, or is malformed.
 */
int unseal_data(const unsigned char *master, const char *name, const void *blob, size_t len,
                unsigned char **ret_data, size_t *ret_len);
