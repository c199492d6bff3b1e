/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * unseal_data() (seal.h) on arbitrary blobs: what a sealed secret becomes when its database row is
 * damaged or forged. Input: a name selector byte, then the blob. Promises checked: only 0, -EBADMSG
 * (or -EINVAL for a name that is not an identifier); an opened blob is NUL-terminated, fits, and
 * seals and opens again to the same bytes under the same name, and opens under no other; any input
 * sealed opens to itself, and one flipped bit or a different name refuses it.
 */

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "hubguard/seal.h"

static const char *const names[] = { "initial-password", "x", "Not An Identifier", "" };

static unsigned char master[SEAL_MASTER_KEY_SIZE];

static void check_seal_open(const char *name, const void *data, size_t len, size_t flip) {
        _cleanup_free_ void *blob = NULL;
        unsigned char *out = NULL;
        size_t blob_len, out_len;
        int r;

        r = seal_data(master, name, data, len, &blob, &blob_len);
        if (r == -EINVAL)
                return;
        fuzz_check(r == 0 && blob_len == len + SEAL_OVERHEAD);
        fuzz_check(unseal_data(master, name, blob, blob_len, &out, &out_len) == 0);
        fuzz_check(out_len == len && memcmp(out, data, len) == 0 && out[len] == '\0');
        sodium_free(out);
        out = NULL;

        fuzz_check(unseal_data(master, streq(name, "x") ? "y" : "x", blob, blob_len, &out, &out_len) == -EBADMSG);
        ((unsigned char *) blob)[flip % blob_len] ^= (unsigned char) (1u << (flip % 8));
        fuzz_check(unseal_data(master, name, blob, blob_len, &out, &out_len) == -EBADMSG);
        fuzz_check(unseal_data(master, name, blob, blob_len - 1, &out, &out_len) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned char *out = NULL;
        const char *name;
        size_t out_len;
        int r;

        if (outside_size_range(size, 1, SEAL_DATA_MAX + SEAL_OVERHEAD + 16))
                return 0;
        fuzz_check(sodium_init() >= 0);
        memset(master, 0x42, sizeof master);
        name = names[data[0] % ELEMENTSOF(names)];
        data++;
        size--;

        r = unseal_data(master, name, data, size, &out, &out_len);
        if (r == 0) {
                fuzz_check(out_len + SEAL_OVERHEAD == size && out[out_len] == '\0');
                check_seal_open(name, out, out_len, size);
                sodium_free(out);
        } else {
                fuzz_check(r == -EBADMSG || r == -EINVAL);
                fuzz_check((r == -EINVAL) == (name[0] == '\0' || name[0] == 'N'));
        }
        if (size > 0 && size <= SEAL_DATA_MAX)
                check_seal_open(name, data, size, data[0] ^ size);
        return 0;
}
