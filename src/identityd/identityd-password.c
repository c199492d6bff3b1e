/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * libpasswdqc over libzxcvbn for the strength check: 96 KiB instead of a 1.4 MiB embedded dictionary
 * on a small hub, and it explains a refusal in words, which the user needs to choose better.
 */

#include <errno.h>
#include <math.h>
#include <passwdqc.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "hubguard/validate.h"
#include "identityd-password.h"

_Static_assert(sizeof(PASSWORD_ALPHABET) - 1 == 31, "alphabet");

void password_generate(char *buf) {
        size_t k = 0;

        for (int g = 0; g < PASSWORD_GROUPS; g++) {
                if (g > 0)
                        buf[k++] = '-';
                for (int i = 0; i < PASSWORD_GROUP_LEN; i++)
                        buf[k++] = PASSWORD_ALPHABET[randombytes_uniform(sizeof(PASSWORD_ALPHABET) - 1)];
        }
        buf[k] = '\0';
}

double password_generated_bits(void) {
        return PASSWORD_GROUPS * PASSWORD_GROUP_LEN * log2((double) (sizeof(PASSWORD_ALPHABET) - 1));
}

bool password_input_is_valid(const char *pw) {
        return pw && pw[0] != '\0' && string_is_safe(pw, PASSWORD_MAX);
}

int password_hash(const char *pw, unsigned long long ops, size_t mem_bytes, char out[crypto_pwhash_STRBYTES]) {
        if (ops < crypto_pwhash_OPSLIMIT_MIN || mem_bytes < crypto_pwhash_MEMLIMIT_MIN)
                return -EINVAL;
        if (crypto_pwhash_str_alg(out, pw, strlen(pw), ops, mem_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0)
                return -ENOMEM;
        return 0;
}

int password_verify(const char *hash, const char *pw) {
        /* needs_rehash() parses the whole string: -1 tells a malformed hash from a wrong password. */
        if (strncmp(hash, "$argon2id$", 10) != 0 ||
            crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN) < 0)
                return -EINVAL;
        return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0 ? 0 : -EPERM;
}

bool password_needs_rehash(const char *hash, unsigned long long ops, size_t mem_bytes) {
        return crypto_pwhash_str_needs_rehash(hash, ops, mem_bytes) != 0;
}

int password_check_strength(const char *pw, const char *old_pw, const char *account, char *reason,
                            size_t reason_size) {
        passwdqc_params_t params;
        struct passwd who = {
                .pw_name = (char *) account,
                .pw_gecos = (char *) "hubguard hub administrator",
                .pw_dir = (char *) "/",
                .pw_shell = (char *) "/usr/sbin/nologin",
        };
        const char *why;

        passwdqc_params_reset(&params);
        why = passwdqc_check(&params.qc, pw, old_pw, &who);
        passwdqc_params_free(&params);
        if (!why)
                return 0;
        (void) snprintf(reason, reason_size, "%s", why);
        return -EINVAL;
}
