/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Every validator of validate.h on arbitrary bytes, with several length bounds, each checked
 * against a small reference written differently from the code under test: UTF-8 by the table of
 * well-formed byte sequences (Unicode 15, table 3-7) instead of decoding, the rest by splitting
 * instead of scanning. A disagreement is a crash; so is a read past a bound, under ASan.
 */

#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"

/* Past the longest input any validator looks at (a 4095-byte path), so each limit is crossed. */
#define FUZZ_VALIDATE_SIZE_MAX 8192

/* Length of the well-formed UTF-8 sequence at s, by table 3-7, or 0. */
static size_t ref_utf8_sequence(const unsigned char *s, size_t n) {
        static const struct {
                unsigned char lead_lo, lead_hi, second_lo, second_hi;
                size_t len;
        } table[] = {
                { 0x01, 0x7f, 0, 0, 1 }, /* NUL is not allowed at all */
                { 0xc2, 0xdf, 0x80, 0xbf, 2 },
                { 0xe0, 0xe0, 0xa0, 0xbf, 3 },
                { 0xe1, 0xec, 0x80, 0xbf, 3 },
                { 0xed, 0xed, 0x80, 0x9f, 3 },
                { 0xee, 0xef, 0x80, 0xbf, 3 },
                { 0xf0, 0xf0, 0x90, 0xbf, 4 },
                { 0xf1, 0xf3, 0x80, 0xbf, 4 },
                { 0xf4, 0xf4, 0x80, 0x8f, 4 },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (s[0] < table[i].lead_lo || s[0] > table[i].lead_hi)
                        continue;
                if (table[i].len > n)
                        return 0;
                if (table[i].len > 1 && (s[1] < table[i].second_lo || s[1] > table[i].second_hi))
                        return 0;
                for (size_t j = 2; j < table[i].len; j++)
                        if (s[j] < 0x80 || s[j] > 0xbf)
                                return 0;
                return table[i].len;
        }
        return 0;
}

static bool ref_utf8(const unsigned char *s, size_t n) {
        while (n > 0) {
                size_t k = ref_utf8_sequence(s, n);

                if (k == 0)
                        return false;
                s += k;
                n -= k;
        }
        return true;
}

/* C0, DEL and C1 (U+0080..U+009F, which UTF-8 writes only as C2 80..C2 9F). */
static bool ref_has_control(const unsigned char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && i + 1 < n && s[i + 1] <= 0x9f))
                        return true;
        return false;
}

static bool ref_string_is_safe(const char *s, size_t len, size_t max_len) {
        return len <= max_len && ref_utf8((const unsigned char *) s, len) &&
               !ref_has_control((const unsigned char *) s, len);
}

static bool ref_identifier(const char *s, size_t len, size_t max_len) {
        if (len == 0 || len > max_len || strchr("_-", s[0]))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

static bool ref_hostname(const char *s, size_t len) {
        unsigned char addr[16];
        const char *label = s;

        if (len == 0 || len > 253)
                return false;
        if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
                return true;
        for (;;) {
                size_t n = strcspn(label, ".");

                if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
                        return false;
                if (strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
                        return false;
                if (label[n] == '\0')
                        return true;
                label += n + 1;
        }
}

static bool ref_path(const char *s, size_t len) {
        const char *c;

        if (len == 0 || s[0] != '/' || len > 4095)
                return false;
        if (len == 1)
                return true;
        for (c = s + 1;; ) {
                size_t n = strcspn(c, "/");

                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) c[i] < 0x20 || c[i] == 0x7f)
                                return false;
                if (c[n] == '\0')
                        return true;
                c += n + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = NULL;
        size_t len, bounds[] = { 0, 1, 2, 3, 4, 5, 8, 16, 63, 64, 253, 255, 4095, 4096, 0, 0, SIZE_MAX };

        if (outside_size_range(size, 0, FUZZ_VALIDATE_SIZE_MAX))
                return 0;

        /* The raw input has no terminator: utf8_is_valid() must stay inside size bytes. */
        fuzz_check(utf8_is_valid((const char *) data, size) == ref_utf8(data, size));
        if (size > 0)
                fuzz_check(utf8_is_valid((const char *) data, size - 1) == ref_utf8(data, size - 1));

        /* The others take NUL-terminated strings; an embedded NUL ends the string early. */
        s = malloc(size + 1);
        fuzz_check(s);
        memcpy(s, data, size);
        s[size] = '\0';
        len = strlen(s);
        bounds[ELEMENTSOF(bounds) - 3] = len;
        bounds[ELEMENTSOF(bounds) - 2] = len > 0 ? len - 1 : 0;

        for (size_t i = 0; i < ELEMENTSOF(bounds); i++) {
                fuzz_check(string_is_safe(s, bounds[i]) == ref_string_is_safe(s, len, bounds[i]));
                fuzz_check(identifier_is_valid(s, bounds[i]) == ref_identifier(s, len, bounds[i]));
        }
        fuzz_check(hostname_is_valid(s) == ref_hostname(s, len));
        fuzz_check(path_is_absolute_normal(s) == ref_path(s, len));
        return 0;
}
