/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>

#include "common.h"
#include "identityd-password.h"

/* Small Argon2id costs keep the suite fast; the daemon's defaults are far higher. */
#define TEST_OPS 1ULL
#define TEST_MEM (8U * 1024 * 1024)

#define N_PASSWORDS 10000
#define ALPHABET_SIZE (sizeof(PASSWORD_ALPHABET) - 1)

/*
 * Upper critical value of the chi-square distribution with ALPHABET_SIZE - 1 = 30 degrees of
 * freedom for a tail probability of 1e-6: P(X > 82.1) = 9.81e-7 for X ~ chi2(30), computed as the
 * regularised upper incomplete gamma function Q(15, 82.1 / 2) (mpmath: gammainc(15, 41.05, inf,
 * regularized=True)). With 10,000 passwords of 20 characters each cell expects 200000/31 = 6452
 * draws, far above the usual "at least 5" for the chi-square approximation to hold, so a correct
 * generator fails this test with probability < 1e-6. A generator with the classic modulo bias
 * (a random byte % 31: 8 letters at 9/256, 23 at 8/256) gives an expected statistic of about 590.
 */
#define CHI2_30_P1E6 82.1

/* The password_generate() buffers of N_PASSWORDS passwords, generated once for the group. */
static char (*passwords)[PASSWORD_GENERATED_LEN + 1];

static int group_setup(void **state) {
        assert_int_equal(sodium_init() < 0, 0);
        passwords = calloc(N_PASSWORDS, sizeof *passwords);
        assert_non_null(passwords);
        for (size_t i = 0; i < N_PASSWORDS; i++)
                password_generate(passwords[i]);
        return 0;
}

static int group_teardown(void **state) {
        free(passwords);
        passwords = NULL;
        return 0;
}

static bool is_dash_position(size_t i) {
        return (i + 1) % (PASSWORD_GROUP_LEN + 1) == 0;
}

/*
 * For a generator drawing each non-dash character uniformly from the alphabet: an upper bound (the
 * union bound over the positions) on the probability that one password contains pattern.
 */
static double chance_of_substring(const char *pattern) {
        size_t len = strlen(pattern);
        double p = 0;

        if (len == 0 || len > PASSWORD_GENERATED_LEN)
                return len == 0 ? 1 : 0;
        for (size_t start = 0; start + len <= PASSWORD_GENERATED_LEN; start++) {
                double q = 1;

                for (size_t j = 0; j < len && q > 0; j++) {
                        bool dash = is_dash_position(start + j);

                        if (dash != (pattern[j] == '-'))
                                q = 0;
                        else if (!dash)
                                q = strchr(PASSWORD_ALPHABET, pattern[j]) ? q / ALPHABET_SIZE : 0;
                }
                p += q;
        }
        return p;
}

/*
 * The smallest count k such that a correct generator has at least k of N_PASSWORDS passwords
 * containing pattern with probability < 1e-6, by the Chernoff bound for a binomial count of mean
 * mu: P(X >= k) <= e^-mu (e mu / k)^k for k > mu. For a pattern that cannot occur by chance (mu = 0,
 * e.g. 8 characters, longer than a group) that is 1: not a single password may contain it.
 */
static unsigned chance_threshold(const char *pattern) {
        double mu = N_PASSWORDS * chance_of_substring(pattern);

        if (mu <= 0)
                return 1;
        for (unsigned k = (unsigned) ceil(mu) + 1;; k++)
                if (-mu + k * (1 + log(mu) - log(k)) < log(1e-6))
                        return k;
}

static unsigned count_containing(const char *pattern) {
        unsigned n = 0;

        for (size_t i = 0; i < N_PASSWORDS; i++)
                if (strstr(passwords[i], pattern))
                        n++;
        return n;
}

static void lowercase(char *s) {
        for (; *s; s++)
                *s = (char) tolower((unsigned char) *s);
}

static int cmp_password(const void *a, const void *b) {
        return strcmp(a, b);
}

/* ---------------------------------------------------------------------------------------------------
 * password_generate(), password_generated_bits()
 */

static void test_generate_length(void **state) {
        char buf[PASSWORD_GENERATED_LEN + 8];

        assert_int_equal(PASSWORD_GENERATED_LEN, 23);
        memset(buf, 'Z', sizeof buf);
        password_generate(buf);
        assert_int_equal(strlen(buf), PASSWORD_GENERATED_LEN);
        /* Nothing written past the terminator. */
        for (size_t i = PASSWORD_GENERATED_LEN + 1; i < sizeof buf; i++)
                assert_int_equal(buf[i], 'Z');
        for (size_t i = 0; i < N_PASSWORDS; i++)
                assert_int_equal(strlen(passwords[i]), PASSWORD_GENERATED_LEN);
}

static void test_generate_alphabet(void **state) {
        for (size_t i = 0; i < N_PASSWORDS; i++)
                for (size_t j = 0; j < PASSWORD_GENERATED_LEN; j++) {
                        char c = passwords[i][j];

                        if (is_dash_position(j))
                                assert_int_equal(c, '-');
                        else
                                assert_true(c != '\0' && c != '-' && strchr(PASSWORD_ALPHABET, c));
                }
}

static void test_generate_alphabet_has_no_look_alikes(void **state) {
        assert_int_equal(ALPHABET_SIZE, 31);
        for (const char *c = "01ilo"; *c; c++)
                assert_null(strchr(PASSWORD_ALPHABET, *c));
        for (const char *c = PASSWORD_ALPHABET; *c; c++) {
                assert_false(isupper((unsigned char) *c));
                /* No duplicates. */
                assert_ptr_equal(strchr(PASSWORD_ALPHABET, *c), c);
        }
}

static void test_generate_bits(void **state) {
        double bits = password_generated_bits();

        assert_true(bits >= 80);
        assert_true(fabs(bits - 20 * log2(31)) < 1e-9);
}

static void test_generate_chi_square(void **state) {
        unsigned counts[ALPHABET_SIZE] = {};
        double expected, chi2 = 0;
        size_t total = 0;

        for (size_t i = 0; i < N_PASSWORDS; i++)
                for (size_t j = 0; j < PASSWORD_GENERATED_LEN; j++) {
                        const char *p;

                        if (is_dash_position(j))
                                continue;
                        p = strchr(PASSWORD_ALPHABET, passwords[i][j]);
                        assert_non_null(p);
                        counts[p - PASSWORD_ALPHABET]++;
                        total++;
                }
        assert_int_equal(total, (size_t) N_PASSWORDS * PASSWORD_GROUPS * PASSWORD_GROUP_LEN);

        expected = (double) total / ALPHABET_SIZE;
        for (size_t k = 0; k < ALPHABET_SIZE; k++)
                chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
        print_message("chi-square of %zu characters over %zu symbols: %.2f (threshold %.1f)\n", total,
                      ALPHABET_SIZE, chi2, CHI2_30_P1E6);
        assert_true(chi2 < CHI2_30_P1E6);
}

static void test_generate_distinct(void **state) {
        char (*sorted)[PASSWORD_GENERATED_LEN + 1] = malloc(N_PASSWORDS * sizeof *sorted);

        assert_non_null(sorted);
        memcpy(sorted, passwords, N_PASSWORDS * sizeof *sorted);
        qsort(sorted, N_PASSWORDS, sizeof *sorted, cmp_password);
        for (size_t i = 1; i < N_PASSWORDS; i++)
                assert_string_not_equal(sorted[i - 1], sorted[i]);
        free(sorted);
}

static void test_generate_not_from_hostname(void **state) {
        char host[256] = "";
        unsigned n, k;

        assert_int_equal(gethostname(host, sizeof host - 1), 0);
        lowercase(host);
        if (host[0] == '\0')
                skip();
        /*
         * A short host name (such as "vm") occurs by chance; then the count must stay within what
         * chance explains. A generator that embeds it would put it in all 10,000.
         */
        n = count_containing(host);
        k = chance_threshold(host);
        print_message("host name '%s': in %u passwords (a correct generator: < %u)\n", host, n, k);
        assert_true(n < k);
}

static void test_generate_not_from_machine_id(void **state) {
        _cleanup_fclose_ FILE *f = fopen("/etc/machine-id", "re");
        char id[9] = "";
        unsigned n, k;

        if (!f || !fgets(id, sizeof id, f) || strlen(id) != 8)
                skip();
        lowercase(id);
        n = count_containing(id);
        k = chance_threshold(id);
        /* 8 characters do not fit into a group of 5: not once by chance. */
        assert_int_equal(k, 1);
        assert_int_equal(n, 0);
}

static void test_chance_threshold(void **state) {
        unsigned k;

        /* The helpers themselves: impossible patterns, and one as likely as a single character. */
        assert_true(chance_of_substring("abcdef") == 0);
        assert_true(chance_of_substring("0") == 0);
        assert_true(chance_of_substring("-a-") == 0);
        assert_true(fabs(chance_of_substring("a-") - 3.0 / 31) < 1e-12);
        assert_true(fabs(chance_of_substring("a") - 20.0 / 31) < 1e-12);
        assert_true(fabs(chance_of_substring("a-b") - 3.0 / (31 * 31)) < 1e-12);
        assert_int_equal(chance_threshold("3d1219c7"), 1);
        assert_int_equal(chance_threshold("abcdef"), 1);
        /* mu = 10000 * 16 / 961 = 166.5: the threshold is a few standard deviations above. */
        k = chance_threshold("vm");
        assert_true(k > 200 && k < 260);
}

/* ---------------------------------------------------------------------------------------------------
 * password_input_is_valid()
 */

static void test_input_bounds(void **state) {
        char buf[PASSWORD_MAX + 2];

        assert_false(password_input_is_valid(NULL));
        assert_false(password_input_is_valid(""));
        assert_true(password_input_is_valid("x"));

        memset(buf, 'a', PASSWORD_MAX);
        buf[PASSWORD_MAX] = '\0';
        assert_int_equal(PASSWORD_MAX, 256);
        assert_true(password_input_is_valid(buf));
        buf[PASSWORD_MAX] = 'a';
        buf[PASSWORD_MAX + 1] = '\0';
        assert_false(password_input_is_valid(buf));

        /* 256 bytes of multi-byte UTF-8 (128 x "ä"), and one more byte. */
        for (size_t i = 0; i < PASSWORD_MAX; i += 2)
                memcpy(buf + i, "\xc3\xa4", 2);
        buf[PASSWORD_MAX] = '\0';
        assert_true(password_input_is_valid(buf));
        buf[PASSWORD_MAX] = 'a';
        assert_false(password_input_is_valid(buf));
}

static void test_input_control_chars(void **state) {
        static const char *const bad[] = {
                "pass\x01word", "pass\tword", "pass\nword", "pass\rword", "\x1b[2Jpw", "pass\x7fword",
                "pass\xc2\x80word", "pass\xc2\x9fword",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(password_input_is_valid(bad[i]));
        assert_true(password_input_is_valid("pass word with spaces"));
        assert_true(password_input_is_valid("p\xc2\xa0w")); /* U+00A0, just after C1 */
}

static void test_input_invalid_utf8(void **state) {
        static const char *const bad[] = {
                "\xff", "abc\xfe", "\x80", "a\xc3", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80",
                "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xe2\x82",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(password_input_is_valid(bad[i]));
        assert_true(password_input_is_valid("Pässwörd-€-\xf0\x9f\x94\x91"));
}

/* ---------------------------------------------------------------------------------------------------
 * password_hash(), password_verify(), password_needs_rehash()
 */

static void test_hash_format(void **state) {
        char hash[crypto_pwhash_STRBYTES];
        char hash2[crypto_pwhash_STRBYTES];

        assert_int_equal(password_hash("correct horse", TEST_OPS, TEST_MEM, hash), 0);
        assert_true(strncmp(hash, "$argon2id$v=19$m=", 17) == 0);
        /* The memory in KiB and the passes as given (libsodium: one lane). */
        assert_true(strncmp(hash, "$argon2id$v=19$m=8192,t=1,p=1$", 30) == 0);
        assert_true(strlen(hash) < crypto_pwhash_STRBYTES);

        assert_int_equal(password_hash("correct horse", 2, 16U * 1024 * 1024, hash2), 0);
        assert_true(strncmp(hash2, "$argon2id$v=19$m=16384,t=2,p=1$", 31) == 0);
        /* A random salt: the same password hashes differently. */
        assert_int_equal(password_hash("correct horse", TEST_OPS, TEST_MEM, hash2), 0);
        assert_string_not_equal(hash, hash2);
}

static void test_hash_bad_parameters(void **state) {
        char hash[crypto_pwhash_STRBYTES];

        assert_int_equal(password_hash("pw", 0, TEST_MEM, hash), -EINVAL);
        assert_int_equal(password_hash("pw", TEST_OPS, 0, hash), -EINVAL);
        assert_int_equal(password_hash("pw", TEST_OPS, crypto_pwhash_MEMLIMIT_MIN - 1, hash), -EINVAL);
}

static void test_verify(void **state) {
        char hash[crypto_pwhash_STRBYTES];

        assert_int_equal(password_hash("k7m2x-9qhtr-c4wfa-3nbe8", TEST_OPS, TEST_MEM, hash), 0);
        assert_int_equal(password_verify(hash, "k7m2x-9qhtr-c4wfa-3nbe8"), 0);
        assert_int_equal(password_verify(hash, "k7m2x-9qhtr-c4wfa-3nbe9"), -EPERM);
        assert_int_equal(password_verify(hash, "k7m2x-9qhtr-c4wfa-3nbe"), -EPERM);
        assert_int_equal(password_verify(hash, "K7M2X-9QHTR-C4WFA-3NBE8"), -EPERM);
        assert_int_equal(password_verify(hash, ""), -EPERM);
}

static void test_verify_not_argon2id(void **state) {
        static const char *const bad[] = {
                "",
                "k7m2x-9qhtr-c4wfa-3nbe8",
                /* Argon2i (not id) of "password", from libsodium's test vectors. */
                "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
                "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m", /* bcrypt */
                /* sha512crypt */
                ("$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDC"
                 "y.g."),
                "$ARGON2ID$v=19$m=8192,t=1,p=1$",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(password_verify(bad[i], "password"), -EINVAL);
}

static void test_verify_malformed_argon2id(void **state) {
        static const char *const bad[] = {
                "$argon2id$",
                "$argon2id$garbage",
                "$argon2id$v=19$m=8192,t=1,p=1$",
                "$argon2id$v=19$m=8192,t=1,p=1$c29tZXNhbHQ",
                "$argon2id$v=19$m=lots,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
                "$argon2id$v=18$m=8192,t=1,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
                "$argon2id$v=19$m=8192,t=1,p=1$c29tZXNhbHQ$!!!!",
        };

        /* A damaged stored hash is an error to report, not a wrong password to throttle. */
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(password_verify(bad[i], "password"), -EINVAL);
}

static void test_needs_rehash(void **state) {
        char hash[crypto_pwhash_STRBYTES];

        assert_int_equal(password_hash("pw", TEST_OPS, TEST_MEM, hash), 0);
        assert_false(password_needs_rehash(hash, TEST_OPS, TEST_MEM));
        assert_true(password_needs_rehash(hash, TEST_OPS + 1, TEST_MEM));
        assert_true(password_needs_rehash(hash, TEST_OPS, TEST_MEM * 2));
        assert_true(password_needs_rehash(hash, TEST_OPS, TEST_MEM / 2));
        /* Something that is not an Argon2id hash at all is due for one too. */
        assert_true(password_needs_rehash("", TEST_OPS, TEST_MEM));
        assert_true(password_needs_rehash("$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m",
                                          TEST_OPS, TEST_MEM));
}

/* ---------------------------------------------------------------------------------------------------
 * password_check_strength()
 */

static void assert_weak(const char *pw, const char *old_pw, const char *account) {
        char reason[256] = "";

        assert_int_equal(password_check_strength(pw, old_pw, account, reason, sizeof reason), -EINVAL);
        print_message("'%s' refused: %s\n", pw, reason);
        assert_int_not_equal(reason[0], '\0');
        /* The reason is a sentence about the password, never the password itself. */
        assert_null(strstr(reason, pw));
}

static void assert_strong(const char *pw, const char *old_pw, const char *account) {
        char reason[256] = "";

        assert_int_equal(password_check_strength(pw, old_pw, account, reason, sizeof reason), 0);
}

static void test_strength_weak(void **state) {
        assert_weak("password1", NULL, "admin");
        assert_weak("Password1", NULL, "admin");
        assert_weak("12345678", NULL, "admin");
        assert_weak("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, "admin");
}

static void test_strength_too_short(void **state) {
        assert_weak("Ab1!x", NULL, "admin");
        assert_weak("x", NULL, "admin");
}

static void test_strength_account_name(void **state) {
        assert_weak("admin", NULL, "admin");
        /* Long enough and of 4 classes, but built on the account name. */
        assert_weak("Admin12345!", NULL, "admin");
}

static void test_strength_old_password(void **state) {
        assert_strong("Kq7#vLp2!xRu", NULL, "admin");
        assert_weak("Kq7#vLp2!xRt", "Kq7#vLp2!xRt", "admin");
        assert_weak("Kq7#vLp2!xRu", "Kq7#vLp2!xRt", "admin");
}

static void test_strength_strong(void **state) {
        assert_strong("correct horse battery staple", NULL, "admin");
        assert_strong("sunset lantern gravel", NULL, "admin");
        assert_strong("Kq7#vLp2!xRt", NULL, "admin");
}

static void test_strength_reason_truncated(void **state) {
        char reason[8];

        memset(reason, 'X', sizeof reason);
        assert_int_equal(password_check_strength("x", NULL, "admin", reason, sizeof reason), -EINVAL);
        assert_int_equal(strnlen(reason, sizeof reason), sizeof reason - 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_generate_length),
                cmocka_unit_test(test_generate_alphabet),
                cmocka_unit_test(test_generate_alphabet_has_no_look_alikes),
                cmocka_unit_test(test_generate_bits),
                cmocka_unit_test(test_generate_chi_square),
                cmocka_unit_test(test_generate_distinct),
                cmocka_unit_test(test_generate_not_from_hostname),
                cmocka_unit_test(test_generate_not_from_machine_id),
                cmocka_unit_test(test_chance_threshold),
                cmocka_unit_test(test_input_bounds),
                cmocka_unit_test(test_input_control_chars),
                cmocka_unit_test(test_input_invalid_utf8),
                cmocka_unit_test(test_hash_format),
                cmocka_unit_test(test_hash_bad_parameters),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_verify_not_argon2id),
                cmocka_unit_test(test_verify_malformed_argon2id),
                cmocka_unit_test(test_needs_rehash),
                cmocka_unit_test(test_strength_weak),
                cmocka_unit_test(test_strength_too_short),
                cmocka_unit_test(test_strength_account_name),
                cmocka_unit_test(test_strength_old_password),
                cmocka_unit_test(test_strength_strong),
                cmocka_unit_test(test_strength_reason_truncated),
        };

        return cmocka_run_group_tests_name("password", tests, group_setup, group_teardown);
}
