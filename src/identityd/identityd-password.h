/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * The generated admin password: PASSWORD_GROUPS groups of PASSWORD_GROUP_LEN characters from an
 * alphabet without look-alikes (no 0/o, 1/l/i, no capitals), separated by '-', e.g.
 * "k7m2x-9qhtr-c4wfa-3nbe8". 20 characters of log2(31) bits: 99 bits, from randombytes_uniform(),
 * and nothing else: not the serial, MAC, host name, machine id or time.
 */
#define PASSWORD_ALPHABET "23456789abcdefghjkmnpqrstuvwxyz"
#define PASSWORD_GROUPS 4
#define PASSWORD_GROUP_LEN 5
#define PASSWORD_GENERATED_LEN (PASSWORD_GROUPS * PASSWORD_GROUP_LEN + PASSWORD_GROUPS - 1)

/* Longest password we accept from anyone (bytes of UTF-8). */
#define PASSWORD_MAX 256

/* Generate into buf (PASSWORD_GENERATED_LEN + 1 bytes, ideally sodium_malloc()ed). */
void password_generate(char *buf);

/* Entropy of a generated password, in bits. */
double password_generated_bits(void);

/* 1..PASSWORD_MAX bytes of UTF-8 without control characters. */
bool password_input_is_valid(const char *pw);

/*
 * Argon2id hash in the PHC string format ("$argon2id$v=19$m=...") into out
 * (crypto_pwhash_STRBYTES). ops and mem_bytes are libsodium's opslimit and memlimit.
 * Returns 0, -EINVAL for bad parameters, -ENOMEM if the memory could not be had.
 */
int password_hash(const char *pw, unsigned long long ops, size_t mem_bytes, char out[crypto_pwhash_STRBYTES]);

/* 0 if pw matches hash (compared in constant time by libsodium), -EPERM if not, -EINVAL for a bad hash. */
int password_verify(const char *hash, const char *pw);

/* Does hash use other parameters than ops/mem (so it should be rehashed at the next success)? */
bool password_needs_rehash(const char *hash, unsigned long long ops, size_t mem_bytes);

/*
 * Is a password the owner chose strong enough? Openwall's passwdqc judges it (its default policy:
 * 8+ characters of 4 classes, 11+ of 3, or a 3-word passphrase of 11+, 24+ of anything; not based
 * on a dictionary word, the account name or the old password). Returns 0, or -EINVAL with the
 * reason in reason (a sentence without the password).
 */
int password_check_strength(const char *pw, const char *old_pw, const char *account, char *reason,
                            size_t reason_size);
