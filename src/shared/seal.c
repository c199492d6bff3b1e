/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>

#include "hubguard/errno-util.h"
#include "hubguard/macro.h"
#include "hubguard/seal.h"
#include "hubguard/validate.h"

#define SEAL_MAGIC "HGS1"
#define SEAL_KDF_CONTEXT "hubseal1" /* crypto_kdf_CONTEXTBYTES == 8 */
#define SEAL_KDF_ID 1

_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == 16, "tag size");
_Static_assert(crypto_kdf_KEYBYTES == SEAL_MASTER_KEY_SIZE, "master key size");

int seal_master_key_path(const char *name, char *buf, size_t size) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");

        if (!dir || dir[0] != '/')
                return -ENXIO;
        if (snprintf(buf, size, "%s/%s", dir, name) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

int seal_master_key_load(const char *path, unsigned char **ret_key) {
        _cleanup_close_ int fd = -EBADF;
        unsigned char *key;
        struct stat st;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* systemd's credentials are 0400; a key others could read is no key. */
        if (st.st_mode & 0077)
                return -EPERM;
        if (st.st_size != SEAL_MASTER_KEY_SIZE)
                return -EBADMSG;

        /* sodium_malloc() aborts (sodium_misuse()) before sodium_init() has set its page size. */
        if (sodium_init() < 0)
                return -EIO;
        key = sodium_malloc(SEAL_MASTER_KEY_SIZE);
        if (!key)
                return -ENOMEM;
        n = read(fd, key, SEAL_MASTER_KEY_SIZE);
        if (n != SEAL_MASTER_KEY_SIZE) {
                sodium_free(key);
                return n < 0 ? negative_errno() : -EBADMSG;
        }
        *ret_key = key;
        return 0;
}

static int derive(const unsigned char *master, unsigned char **ret_subkey) {
        unsigned char *k = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);

        if (!k)
                return -ENOMEM;
        if (crypto_kdf_derive_from_key(k, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, SEAL_KDF_ID,
                                       SEAL_KDF_CONTEXT, master) != 0) {
                sodium_free(k);
                return -EINVAL;
        }
        *ret_subkey = k;
        return 0;
}

int seal_data(const unsigned char *master, const char *name, const void *data, size_t len, void **ret_blob,
              size_t *ret_len) {
        unsigned char *blob, *nonce, *subkey = NULL;
        unsigned long long clen;
        int r;

        if (!identifier_is_valid(name, SEAL_NAME_MAX) || len > SEAL_DATA_MAX)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;
        r = derive(master, &subkey);
        if (r < 0)
                return r;

        blob = malloc(len + SEAL_OVERHEAD);
        if (!blob) {
                sodium_free(subkey);
                return -ENOMEM;
        }
        memcpy(blob, SEAL_MAGIC, 4);
        nonce = blob + 4;
        randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        r = crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 4 + 24, &clen, data, len, (const unsigned char *) name,
                                                       strlen(name), NULL, nonce, subkey);
        sodium_free(subkey);
        if (r != 0) {
                free(blob);
                return -EIO;
        }
        *ret_blob = blob;
        *ret_len = 4 + 24 + (size_t) clen;
        return 0;
}

int unseal_data(const unsigned char *master, const char *name, const void *blob, size_t len,
                unsigned char **ret_data, size_t *ret_len) {
        const unsigned char *b = blob;
        unsigned char *out, *subkey = NULL;
        unsigned long long mlen;
        int r;

        if (!identifier_is_valid(name, SEAL_NAME_MAX))
                return -EINVAL;
        if (len < SEAL_OVERHEAD || len > SEAL_DATA_MAX + SEAL_OVERHEAD || memcmp(b, SEAL_MAGIC, 4) != 0)
                return -EBADMSG;
        if (sodium_init() < 0)
                return -EIO;
        r = derive(master, &subkey);
        if (r < 0)
                return r;

        out = sodium_malloc(len - SEAL_OVERHEAD + 1);
        if (!out) {
                sodium_free(subkey);
                return -ENOMEM;
        }
        r = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, b + 4 + 24, len - 4 - 24,
                                                       (const unsigned char *) name, strlen(name), b + 4,
                                                       subkey);
        sodium_free(subkey);
        if (r != 0) {
                sodium_free(out);
                return -EBADMSG;
        }
        out[mlen] = '\0';
        *ret_data = out;
        *ret_len = (size_t) mlen;
        return 0;
}
