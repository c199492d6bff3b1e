/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "score-csv.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* Exact powers of ten as doubles: 10^0 .. 10^22 are all representable. */
static const double pow10_exact[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static bool ascii_caseeq(const char *s, size_t len, const char *word) {
        size_t n = strlen(word);

        if (len != n)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                if (c >= 'A' && c <= 'Z')
                        c = (char) (c - 'A' + 'a');
                if (c != word[i])
                        return false;
        }
        return true;
}

int score_csv_parse_number(const char *s, size_t len, double *ret, const char **ret_error) {
        uint64_t mant = 0;
        int digits = 0, frac_digits = 0, exp10 = 0;
        bool neg = false, any = false;
        size_t i = 0;
        double v;

        if (len == 0) {
                *ret_error = "empty number";
                return -EINVAL;
        }
        if (s[0] == '+' || s[0] == '-') {
                neg = s[0] == '-';
                i++;
        }
        if (ascii_caseeq(s + i, len - i, "nan") || ascii_caseeq(s + i, len - i, "inf") ||
            ascii_caseeq(s + i, len - i, "infinity")) {
                *ret_error = "number is not finite (NaN or infinity)";
                return -EINVAL;
        }
        for (; i < len && is_digit(s[i]); i++) {
                any = true;
                if (mant == 0 && s[i] == '0')
                        continue; /* leading zeros carry no digits */
                if (digits < 19)
                        mant = mant * 10 + (uint64_t) (s[i] - '0');
                else
                        exp10++; /* beyond 19 digits: slow path below */
                digits++;
        }
        if (i < len && s[i] == '.') {
                i++;
                for (; i < len && is_digit(s[i]); i++) {
                        any = true;
                        frac_digits++;
                        if (mant == 0 && s[i] == '0') {
                                exp10--;
                                continue;
                        }
                        if (digits < 19) {
                                mant = mant * 10 + (uint64_t) (s[i] - '0');
                                exp10--;
                        }
                        digits++;
                }
        }
        if (!any) {
                *ret_error = "bad number";
                return -EINVAL;
        }
        if (i < len && (s[i] == 'e' || s[i] == 'E')) {
                int e = 0, esign = 1;
                bool edigits = false;

                i++;
                if (i < len && (s[i] == '+' || s[i] == '-')) {
                        esign = s[i] == '-' ? -1 : 1;
                        i++;
                }
                for (; i < len && is_digit(s[i]); i++) {
                        edigits = true;
                        if (e < 100000)
                                e = e * 10 + (s[i] - '0');
                }
                if (!edigits) {
                        *ret_error = "bad number (exponent without digits)";
                        return -EINVAL;
                }
                exp10 += esign * e;
        }
        if (i != len) {
                *ret_error = "bad number";
                return -EINVAL;
        }

        if (mant == 0)
                v = 0.0;
        else if (digits <= 19 && mant <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22)
                /* Clinger's fast path: both operands exact, so one correctly rounded operation. */
                v = exp10 < 0 ? (double) mant / pow10_exact[-exp10] : (double) mant * pow10_exact[exp10];
        else {
                /* Rare: long mantissas or large exponents. The text is validated above; strtod only
                 * converts (and the C locale's '.' is all we accept). */
                char buf[512];

                if (len >= sizeof(buf)) {
                        *ret_error = "number too long";
                        return -EINVAL;
                }
                memcpy(buf, s, len);
                buf[len] = '\0';
                v = strtod(buf, NULL);
                neg = false; /* the sign is in the text */
                if (!isfinite(v)) {
                        *ret_error = "number out of range";
                        return -EINVAL;
                }
        }
        (void) frac_digits;
        *ret = neg ? -v : v;
        return 0;
}

/* Exactly n digits at s as an integer, or -1. */
static int fixed_digits(const char *s, size_t n) {
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        return m == 2 && leap ? 29 : days[m - 1];
}

static int parse_iso(const char *s, size_t len, double *ret, const char **ret_error) {
        int y, mo, d, h, mi, sec = 0, off = 0;
        double frac = 0.0;
        size_t i;

        /* YYYY-MM-DD[T ]hh:mm */
        if (len < 16 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':') {
                *ret_error = "bad date-time (expected YYYY-MM-DDThh:mm[:ss[.frac]][Z|+hh:mm])";
                return -EINVAL;
        }
        y = fixed_digits(s, 4);
        mo = fixed_digits(s + 5, 2);
        d = fixed_digits(s + 8, 2);
        h = fixed_digits(s + 11, 2);
        mi = fixed_digits(s + 14, 2);
        if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0) {
                *ret_error = "bad date-time (expected YYYY-MM-DDThh:mm[:ss[.frac]][Z|+hh:mm])";
                return -EINVAL;
        }
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
                *ret_error = "bad date (no such day)";
                return -EINVAL;
        }
        if (h > 23 || mi > 59) {
                *ret_error = "bad time of day";
                return -EINVAL;
        }
        i = 16;
        if (i < len && s[i] == ':') {
                if (len < i + 3 || (sec = fixed_digits(s + i + 1, 2)) < 0) {
                        *ret_error = "bad seconds";
                        return -EINVAL;
                }
                if (sec > 60) { /* 60: a leap second */
                        *ret_error = "bad time of day";
                        return -EINVAL;
                }
                i += 3;
                if (i < len && (s[i] == '.' || s[i] == ',')) {
                        double scale = 0.1;
                        size_t start = ++i;

                        for (; i < len && is_digit(s[i]); i++) {
                                frac += (s[i] - '0') * scale;
                                scale /= 10.0;
                        }
                        if (i == start) {
                                *ret_error = "bad fractional seconds";
                                return -EINVAL;
                        }
                }
        }
        if (i < len) {
                if (s[i] == 'Z' && i + 1 == len)
                        i++;
                else if (s[i] == '+' || s[i] == '-') {
                        int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
                        size_t rest = len - i - 1;
                        const char *p = s + i + 1;

                        if (rest == 2)
                                oh = fixed_digits(p, 2);
                        else if (rest == 4)
                                oh = fixed_digits(p, 2), om = fixed_digits(p + 2, 2);
                        else if (rest == 5 && p[2] == ':')
                                oh = fixed_digits(p, 2), om = fixed_digits(p + 3, 2);
                        else
                                oh = -1;
                        if (oh < 0 || om < 0 || oh > 23 || om > 59) {
                                *ret_error = "bad UTC offset (expected Z, +hh:mm or -hh:mm)";
                                return -EINVAL;
                        }
                        off = sign * (oh * 3600 + om * 60);
                        i = len;
                } else {
                        *ret_error = "bad date-time (trailing characters)";
                        return -EINVAL;
                }
        }
        if (i != len) {
                *ret_error = "bad date-time (trailing characters)";
                return -EINVAL;
        }
        *ret = (double) (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off) + frac;
        return 0;
}

int score_csv_parse_time(const char *s, size_t len, double *ret, const char **ret_error) {
        size_t i = 0;
        int r;

        if (len == 0) {
                *ret_error = "empty timestamp";
                return -EINVAL;
        }
        /* A date-time has '-' at position 4 after four digits; anything else must be epoch seconds. */
        if (len >= 5 && is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-')
                return parse_iso(s, len, ret, ret_error);

        /* Epoch seconds: [-]digits[.digits], nothing else (no exponent, no '+'). */
        if (s[0] == '-')
                i++;
        if (i >= len || !is_digit(s[i])) {
                *ret_error = "bad timestamp (expected epoch seconds or an ISO 8601 date-time)";
                return -EINVAL;
        }
        while (i < len && is_digit(s[i]))
                i++;
        if (i < len && s[i] == '.') {
                i++;
                if (i >= len || !is_digit(s[i])) {
                        *ret_error = "bad timestamp (expected epoch seconds or an ISO 8601 date-time)";
                        return -EINVAL;
                }
                while (i < len && is_digit(s[i]))
                        i++;
        }
        if (i != len) {
                *ret_error = "bad timestamp (expected epoch seconds or an ISO 8601 date-time)";
                return -EINVAL;
        }
        r = score_csv_parse_number(s, len, ret, ret_error);
        if (r < 0)
                *ret_error = "bad timestamp (out of range)";
        return r;
}

static void trim(const char **s, size_t *len) {
        while (*len > 0 && is_blank((*s)[0])) {
                (*s)++;
                (*len)--;
        }
        while (*len > 0 && is_blank((*s)[*len - 1]))
                (*len)--;
}

/* A field may be in double quotes (as some CSV writers quote every field); no quote inside. */
static bool unquote(const char **s, size_t *len) {
        if (*len >= 2 && (*s)[0] == '"' && (*s)[*len - 1] == '"') {
                (*s)++;
                *len -= 2;
        }
        return !memchr(*s, '"', *len);
}

static int fail(ScoreCsv *c, const char *what, const char **ret_error, unsigned long *ret_line) {
        *ret_error = what;
        *ret_line = c->line;
        return -EINVAL;
}

int score_csv_feed(ScoreCsv *c, const char *line, size_t len, ScoreCsvRow *ret, const char **ret_error,
                   unsigned long *ret_line) {
        const char *comma, *ts, *val, *row_ts;
        size_t ts_len, val_len, row_ts_len;
        double t, v;
        int r;

        c->line++;
        if (len > 0 && line[len - 1] == '\r')
                len--;
        if (len > SCORE_CSV_LINE_MAX)
                return fail(c, "line too long", ret_error, ret_line);

        if (len == 0) {
                if (c->empty_line == 0)
                        c->empty_line = c->line;
                return 0;
        }
        if (c->empty_line != 0) {
                /* Data after an empty line: the empty line is the error. */
                *ret_error = "empty line (only allowed at the end)";
                *ret_line = c->empty_line;
                return -EINVAL;
        }
        if (memchr(line, '\0', len))
                return fail(c, "NUL byte", ret_error, ret_line);

        comma = memchr(line, ',', len);
        if (!c->header_seen) {
                c->header_seen = true;
                if (!comma || memchr(comma + 1, ',', len - (size_t) (comma - line) - 1))
                        return fail(c, "the header line must have two fields (timestamp,value)", ret_error,
                                    ret_line);
                ts = line;
                ts_len = (size_t) (comma - line);
                val = comma + 1;
                val_len = len - ts_len - 1;
                trim(&ts, &ts_len);
                trim(&val, &val_len);
                if (score_csv_parse_time(ts, ts_len, &t, ret_error) >= 0 &&
                    score_csv_parse_number(val, val_len, &v, ret_error) >= 0)
                        return fail(c, "expected a header line (timestamp,value), got a data row", ret_error,
                                    ret_line);
                return 0;
        }

        if (!comma)
                return fail(c, "missing field (expected timestamp,value)", ret_error, ret_line);
        if (memchr(comma + 1, ',', len - (size_t) (comma - line) - 1))
                return fail(c, "extra field (expected timestamp,value)", ret_error, ret_line);
        ts = line;
        ts_len = (size_t) (comma - line);
        val = comma + 1;
        val_len = len - ts_len - 1;
        trim(&ts, &ts_len);
        trim(&val, &val_len);

        row_ts = ts;
        row_ts_len = ts_len;
        if (!unquote(&ts, &ts_len) || !unquote(&val, &val_len))
                return fail(c, "stray double quote", ret_error, ret_line);
        r = score_csv_parse_time(ts, ts_len, &t, ret_error);
        if (r < 0)
                return fail(c, *ret_error, ret_error, ret_line);
        if (val_len == 0)
                return fail(c, "missing value", ret_error, ret_line);
        r = score_csv_parse_number(val, val_len, &v, ret_error);
        if (r < 0)
                return fail(c, *ret_error, ret_error, ret_line);

        *ret = (ScoreCsvRow) {
                .timestamp = row_ts,
                .timestamp_len = row_ts_len,
                .t = t,
                .value = v,
        };
        return 1;
}

int score_csv_finish(const ScoreCsv *c, const char **ret_error, unsigned long *ret_line) {
        if (!c->header_seen) {
                *ret_error = "no header line (timestamp,value)";
                *ret_line = c->line > 0 ? c->line : 1;
                return -EINVAL;
        }
        return 0;
}
