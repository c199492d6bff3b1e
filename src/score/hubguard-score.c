/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hubguard-score: score a CSV time series with the detector of hub-telemetryd (man hubguard-score(1)).
 * stdin: `timestamp,value` with a header line; stdout: `timestamp,anomaly_score` (and the optional
 * columns), one line per row. The first malformed row stops the run: the rows before it have been
 * written, "hubguard-score: line N: <what>" goes to stderr, the exit status is 1. A timestamp going
 * backwards is not malformed: it is taken as the previous one, with one warning.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hubguard/anomaly.h"
#include "hubguard/macro.h"
#include "score-csv.h"

#define EXIT_DATA 1
#define EXIT_USAGE 2

#define IN_BUF (1024 * 1024)
#define OUT_BUF (1024 * 1024)

typedef struct Output {
        char buf[OUT_BUF];
        size_t len;
        int error; /* errno of a failed write */
} Output;

static void out_flush(Output *o) {
        size_t off = 0;

        while (off < o->len && o->error == 0) {
                ssize_t n = write(STDOUT_FILENO, o->buf + off, o->len - off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        o->error = errno;
                } else
                        off += (size_t) n;
        }
        o->len = 0;
}

static void out_put(Output *o, const char *s, size_t n) {
        if (o->len + n > sizeof(o->buf))
                out_flush(o);
        memcpy(o->buf + o->len, s, n);
        o->len += n;
}

/* A score in [0, 1] with six decimals ("0.123456"), without printf. */
static void out_score(Output *o, double score) {
        char s[8];
        uint32_t v = (uint32_t) (score * 1e6 + 0.5);

        if (v > 1000000)
                v = 1000000;
        s[0] = (char) ('0' + v / 1000000);
        s[1] = '.';
        v %= 1000000;
        for (int i = 7; i >= 2; i--) {
                s[i] = (char) ('0' + v % 10);
                v /= 10;
        }
        out_put(o, s, sizeof(s));
}

static void help(void) {
        AnomalySettings v, c;

        anomaly_settings_default(&v, ANOMALY_KIND_VALUE);
        anomaly_settings_default(&c, ANOMALY_KIND_COUNT);
        printf("hubguard-score [OPTIONS...] < INPUT.csv > SCORES.csv\n\n"
               "Score a time series for anomalies with the detector of hub-telemetryd.\n"
               "Input: a header line, then timestamp,value rows; timestamps in epoch seconds or\n"
               "ISO 8601 (YYYY-MM-DDThh:mm:ss[.frac][Z|+hh:mm], 'T' or a space). Output: the header\n"
               "timestamp,anomaly_score, then one line per row, the timestamp as given and a score\n"
               "in [0, 1] (about -log10 of the sample's rarity / 6; 0 during the warm-up).\n\n"
               "Options:\n"
               "  -h --help               Show this help\n"
               "     --version            Show the version\n"
               "     --kind=value|count   A gauge (default), or event counts per row\n"
               "     --warmup=N           Rows scored 0 while learning (default %u, 2..1000000);\n"
               "                          over the next N rows scores ramp up to full\n"
               "     --season=auto|none|daily  Daily profile (default auto)\n"
               "     --threshold=T        Add a column is_anomaly: 1 when the score >= T (0 < T <= 1)\n"
               "     --rule-limit=N       count: more than N events within the rule window score 1\n"
               "                          (default %u; 0: no rule)\n"
               "     --rule-window=S      count: the rule window in seconds (default %g, 1..86400)\n"
               "     --reason             Add a column reason: the feature that made the row unusual\n\n"
               "A malformed row stops the run with 'hubguard-score: line N: ...' and exit status 1;\n"
               "the rows before it have been written. A timestamp before the previous one is taken\n"
               "as the previous one (the first such row is reported on stderr). See hubguard-score(1).\n",
               v.warmup, c.rule_limit, c.rule_window);
}

static int parse_uint(const char *s, unsigned long max, uint32_t *ret) {
        char *end;
        unsigned long v;

        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != '\0' || v > max)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static int parse_double(const char *s, double *ret) {
        const char *err;

        return score_csv_parse_number(s, strlen(s), ret, &err);
}

static int usage(const char *fmt, ...) _printf_(1, 2);
static int usage(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "hubguard-score: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'hubguard-score --help'.\n");
        return EXIT_USAGE;
}

static int data_error(Output *o, unsigned long line, const char *what) {
        out_flush(o);
        fprintf(stderr, "hubguard-score: line %lu: %s\n", line, what);
        return EXIT_DATA;
}

/* One complete line: parse, score, write. Returns 0, or an exit status. */
static int process_line(ScoreCsv *csv, AnomalyDetector *d, Output *o, const char *line, size_t len,
                        bool with_reason, double threshold, bool *warned_backwards) {
        ScoreCsvRow row;
        AnomalyResult res;
        const char *err;
        unsigned long bad;
        int r;

        r = score_csv_feed(csv, line, len, &row, &err, &bad);
        if (r < 0)
                return data_error(o, bad, err);
        if (r == 0) {
                if (csv->line == 1) {
                        out_put(o, "timestamp,anomaly_score", 23);
                        if (threshold > 0)
                                out_put(o, ",is_anomaly", 11);
                        if (with_reason)
                                out_put(o, ",reason", 7);
                        out_put(o, "\n", 1);
                }
                return 0;
        }

        r = anomaly_detector_update(d, row.t, row.value, &res);
        if (r == -ERANGE) {
                /* A timestamp further back than the tolerance (a clock step, a DST change in local
                 * time) is not a malformed row: the sample is scored at the previous timestamp, and
                 * the first such row is reported on stderr. */
                if (!*warned_backwards) {
                        fprintf(stderr,
                                "hubguard-score: line %lu: timestamp goes backwards by %.6g s; taken as the previous "
                                "timestamp (further such rows are not reported)\n",
                                csv->line, d->t_last - row.t);
                        *warned_backwards = true;
                }
                r = anomaly_detector_update(d, d->t_last, row.value, &res);
        }
        if (r == -EDOM)
                return data_error(o, csv->line,
                                  fabs(row.t) > ANOMALY_TIME_MAX ? "timestamp out of range (|t| > 1e13 s)"
                                                                 : "value out of range (|value| > 1e100)");
        if (r == -EINVAL)
                return data_error(o, csv->line,
                                  d->settings.kind == ANOMALY_KIND_COUNT ? "a count must be >= 0" : "value rejected");
        if (r < 0)
                return data_error(o, csv->line, strerror(-r));

        out_put(o, row.timestamp, row.timestamp_len);
        out_put(o, ",", 1);
        out_score(o, res.score);
        if (threshold > 0)
                out_put(o, res.score >= threshold ? ",1" : ",0", 2);
        if (with_reason) {
                const char *reason = anomaly_reason_to_string(res.reason);

                out_put(o, ",", 1);
                out_put(o, reason, strlen(reason));
        }
        out_put(o, "\n", 1);
        return 0;
}

int main(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_KIND,
                ARG_WARMUP,
                ARG_SEASON,
                ARG_THRESHOLD,
                ARG_RULE_LIMIT,
                ARG_RULE_WINDOW,
                ARG_REASON,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "kind", required_argument, NULL, ARG_KIND },
                { "warmup", required_argument, NULL, ARG_WARMUP },
                { "season", required_argument, NULL, ARG_SEASON },
                { "threshold", required_argument, NULL, ARG_THRESHOLD },
                { "rule-limit", required_argument, NULL, ARG_RULE_LIMIT },
                { "rule-window", required_argument, NULL, ARG_RULE_WINDOW },
                { "reason", no_argument, NULL, ARG_REASON },
                {}
        };
        static Output out;
        static char in[IN_BUF];
        AnomalySettings settings, over = {};
        AnomalyDetector d;
        ScoreCsv csv = {};
        bool with_reason = false, set_warmup = false, set_season = false, set_limit = false, set_window = false;
        bool warned_backwards = false;
        double threshold = 0.0;
        AnomalyKind kind = ANOMALY_KIND_VALUE;
        size_t start = 0, end = 0;
        bool eof = false;
        const char *err;
        unsigned long bad;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("hubguard-score %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_KIND:
                        kind = anomaly_kind_from_string(optarg);
                        if ((int) kind < 0)
                                return usage("--kind must be value or count, not '%s'.", optarg);
                        break;
                case ARG_WARMUP:
                        if (parse_uint(optarg, 1000000, &over.warmup) < 0 || over.warmup < 2)
                                return usage("--warmup must be an integer from 2 to 1000000, not '%s'.", optarg);
                        set_warmup = true;
                        break;
                case ARG_SEASON:
                        over.season = anomaly_season_from_string(optarg);
                        if ((int) over.season < 0)
                                return usage("--season must be auto, none or daily, not '%s'.", optarg);
                        set_season = true;
                        break;
                case ARG_THRESHOLD:
                        if (parse_double(optarg, &threshold) < 0 || !(threshold > 0.0 && threshold <= 1.0))
                                return usage("--threshold must be a number in (0, 1], not '%s'.", optarg);
                        break;
                case ARG_RULE_LIMIT:
                        if (parse_uint(optarg, UINT32_MAX, &over.rule_limit) < 0)
                                return usage("--rule-limit must be a non-negative integer, not '%s'.", optarg);
                        set_limit = true;
                        break;
                case ARG_RULE_WINDOW:
                        if (parse_double(optarg, &over.rule_window) < 0 ||
                            !(over.rule_window >= 1.0 && over.rule_window <= 86400.0))
                                return usage("--rule-window must be seconds from 1 to 86400, not '%s'.", optarg);
                        set_window = true;
                        break;
                case ARG_REASON:
                        with_reason = true;
                        break;
                case '?':
                        if (optopt != 0 && optopt < 0x100)
                                return usage("option '-%c' needs a value or is unknown.", (char) optopt);
                        return usage("unknown option or missing value: '%s'.", argv[optind - 1]);
                default:
                        return usage("unexpected option '%s'.", argv[optind - 1]);
                }
        if (optind < argc)
                return usage("unexpected argument '%s' (the input is read from stdin).", argv[optind]);

        anomaly_settings_default(&settings, kind);
        if (set_warmup)
                settings.warmup = over.warmup;
        if (set_season)
                settings.season = over.season;
        if (set_limit)
                settings.rule_limit = over.rule_limit;
        if (set_window)
                settings.rule_window = over.rule_window;
        if (threshold > 0)
                settings.threshold = threshold;
        if (anomaly_detector_init(&d, &settings) < 0)
                return usage("invalid settings.");

        for (;;) {
                char *nl;

                nl = memchr(in + start, '\n', end - start);
                if (nl) {
                        int r = process_line(&csv, &d, &out, in + start, (size_t) (nl - (in + start)), with_reason,
                                             threshold, &warned_backwards);
                        if (r != 0)
                                return r;
                        start = (size_t) (nl - in) + 1;
                        continue;
                }
                if (eof) {
                        if (end > start) { /* a last line without LF */
                                int r = process_line(&csv, &d, &out, in + start, end - start, with_reason, threshold,
                                                     &warned_backwards);
                                if (r != 0)
                                        return r;
                        }
                        break;
                }
                /* No complete line in the buffer: make room and read more. */
                if (end - start > SCORE_CSV_LINE_MAX + 1)
                        return data_error(&out, csv.line + 1, "line too long");
                memmove(in, in + start, end - start);
                end -= start;
                start = 0;
                for (;;) {
                        ssize_t n = read(STDIN_FILENO, in + end, sizeof(in) - end);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0) {
                                out_flush(&out);
                                fprintf(stderr, "hubguard-score: cannot read the input: %s\n", strerror(errno));
                                return EXIT_DATA;
                        }
                        if (n == 0)
                                eof = true;
                        end += (size_t) n;
                        break;
                }
        }

        if (score_csv_finish(&csv, &err, &bad) < 0)
                return data_error(&out, bad, err);
        out_flush(&out);
        if (out.error != 0) {
                fprintf(stderr, "hubguard-score: cannot write the output: %s\n", strerror(out.error));
                return EXIT_DATA;
        }
        return 0;
}
