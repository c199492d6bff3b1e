/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hubguard-score's CSV reader (src/score/score-csv.c) on arbitrary bytes, split into lines as the tool
 * splits them, each accepted row then fed to a detector as the tool does. Checked: the row's
 * timestamp lies inside its line; every accepted number is bit for bit what strtod makes of the same
 * text (the reader's grammar is a subset of strtod's); epoch timestamps too; scores stay in [0, 1]
 * (also for rows going back in time, scored at the previous timestamp as the tool does);
 * the reader stops at the first error, with a line number no later than the current line.
 */

#include <math.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/anomaly.h"
#include "score-csv.h"

#define FUZZ_SCORE_CSV_SIZE_MAX (256 * 1024)

static void trim(const char **s, size_t *len) {
        while (*len > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t')) {
                (*s)++;
                (*len)--;
        }
        while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
                (*len)--;
}

static void unquote(const char **s, size_t *len) {
        if (*len >= 2 && (*s)[0] == '"' && (*s)[*len - 1] == '"') {
                (*s)++;
                *len -= 2;
        }
}

static double ref_strtod(const char *s, size_t len) {
        char buf[SCORE_CSV_LINE_MAX + 1];

        fuzz_check(len <= SCORE_CSV_LINE_MAX);
        memcpy(buf, s, len);
        buf[len] = '\0';
        return strtod(buf, NULL);
}

static void check_same(double a, double b) {
        fuzz_check(memcmp(&a, &b, sizeof(double)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *end = p + size;
        AnomalySettings settings;
        AnomalyDetector d;
        ScoreCsv csv = {};

        if (outside_size_range(size, 0, FUZZ_SCORE_CSV_SIZE_MAX))
                return 0;

        /* The number parser alone, on the first bytes. */
        {
                size_t n = size < 64 ? size : 64;
                const char *err = NULL;
                double v;

                if (score_csv_parse_number(p, n, &v, &err) == 0) {
                        fuzz_check(isfinite(v));
                        check_same(v, ref_strtod(p, n));
                } else
                        fuzz_check(err && *err);
        }

        anomaly_settings_default(&settings, size % 2 ? ANOMALY_KIND_COUNT : ANOMALY_KIND_VALUE);
        settings.warmup = 2;
        settings.rule_limit = 5;
        fuzz_check(anomaly_detector_init(&d, &settings) == 0);

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *err = NULL;
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                unsigned long bad = 0;
                ScoreCsvRow row;
                AnomalyResult res;
                int r;

                r = score_csv_feed(&csv, p, len, &row, &err, &bad);
                if (r < 0) {
                        fuzz_check(err && *err);
                        fuzz_check(bad >= 1 && bad <= csv.line);
                        return 0;
                }
                if (r > 0) {
                        const char *comma = memchr(p, ',', len), *val;
                        size_t val_len;

                        fuzz_check(comma);
                        fuzz_check(row.timestamp >= p && row.timestamp + row.timestamp_len <= comma);
                        fuzz_check(isfinite(row.t) && isfinite(row.value));
                        val = comma + 1;
                        val_len = len - (size_t) (val - p);
                        if (val_len > 0 && val[val_len - 1] == '\r')
                                val_len--;
                        trim(&val, &val_len);
                        unquote(&val, &val_len);
                        check_same(row.value, ref_strtod(val, val_len));
                        {
                                const char *ts = row.timestamp;
                                size_t ts_len = row.timestamp_len;

                                unquote(&ts, &ts_len);
                                if (ts_len < 5 || ts[4] != '-')
                                        check_same(row.t, ref_strtod(ts, ts_len));
                        }

                        r = anomaly_detector_update(&d, row.t, row.value, &res);
                        fuzz_check(r == 0 || r == -ERANGE || r == -EDOM || r == -EINVAL);
                        if (r == -ERANGE) {
                                /* The tool scores a row that goes back in time at the previous timestamp. */
                                r = anomaly_detector_update(&d, d.t_last, row.value, &res);
                                fuzz_check(r == 0 || r == -EDOM || r == -EINVAL);
                        }
                        if (r == 0)
                                fuzz_check(res.score >= 0.0 && res.score <= 1.0 &&
                                           anomaly_reason_to_string(res.reason) != NULL);
                }
                p += len + (nl ? 1 : 0);
        }
        (void) score_csv_finish(&csv, &(const char *) { NULL }, &(unsigned long) { 0 });
        return 0;
}
