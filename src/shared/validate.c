/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "hubguard/macro.h"
#include "hubguard/validate.h"

/* Length of the UTF-8 sequence at s (at most len bytes available), or 0 if it is not valid. */
static size_t utf8_sequence(const unsigned char *s, size_t len, unsigned *ret_cp) {
        unsigned cp, min;
        size_t n;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f, min = 0x80;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f, min = 0x800;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07, min = 0x10000;
        else
                return 0; /* continuation byte, overlong lead 0xc0/0xc1, or 0xf5..0xff */
        if (n > len)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return n;
}

bool utf8_is_valid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;

        if (!s)
                return false;
        while (len > 0) {
                unsigned cp;
                size_t n = utf8_sequence(p, len, &cp);

                if (n == 0 || cp == 0)
                        return false;
                p += n;
                len -= n;
        }
        return true;
}

bool string_is_safe(const char *s, size_t max_len) {
        const unsigned char *p = (const unsigned char *) s;
        size_t len;

        if (!s)
                return false;
        /* max_len + 1 must not wrap to 0 for SIZE_MAX ("no limit") and accept anything unread: no
         * string is longer than PTRDIFF_MAX anyway. */
        max_len = MIN(max_len, (size_t) PTRDIFF_MAX - 1);
        len = strnlen(s, max_len + 1);
        if (len > max_len)
                return false;
        while (len > 0) {
                unsigned cp;
                size_t n = utf8_sequence(p, len, &cp);

                if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
                        return false;
                p += n;
                len -= n;
        }
        return true;
}

static bool char_is_ident(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool identifier_is_valid(const char *s, size_t max_len) {
        size_t len;

        if (!s || max_len == 0)
                return false;
        max_len = MIN(max_len, (size_t) PTRDIFF_MAX - 1); /* as in string_is_safe() */
        len = strnlen(s, max_len + 1);
        if (len == 0 || len > max_len)
                return false;
        if (s[0] == '_' || s[0] == '-')
                return false;
        for (size_t i = 0; i < len; i++)
                if (!char_is_ident(s[i]))
                        return false;
        return true;
}

static bool label_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

bool hostname_is_valid(const char *s) {
        unsigned char addr[16];
        size_t len, label = 0;

        if (!s)
                return false;
        len = strnlen(s, 254);
        if (len == 0 || len > 253)
                return false;
        if (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1)
                return true;
        for (size_t i = 0; i <= len; i++) {
                char c = s[i];

                if (c == '.' || c == '\0') {
                        /* Empty labels, and labels that start or end with '-', are not host names. */
                        if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                                return false;
                        label = 0;
                } else if (label_char(c))
                        label++;
                else
                        return false;
        }
        return true;
}

bool path_is_absolute_normal(const char *s) {
        size_t len;

        if (!s || s[0] != '/')
                return false;
        len = strnlen(s, 4096);
        if (len > 4095)
                return false;
        for (const char *p = s; *p; ) {
                const char *c = p + 1, *e = strchrnul(c, '/');
                size_t n = (size_t) (e - c);

                /* A trailing slash is fine only for "/" itself. */
                if (n == 0 && (*e == '/' || len > 1))
                        return false;
                if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                for (const char *q = c; q < e; q++)
                        if ((unsigned char) *q < ' ' || *q == 0x7f)
                                return false;
                p = e;
        }
        return true;
}
