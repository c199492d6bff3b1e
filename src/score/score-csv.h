/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The CSV reader of hubguard-score: `timestamp,value` rows after a header line.
 *
 *   timestamp  epoch seconds, integer or fractional ([-]digits[.digits]), or an ISO 8601 date-time:
 *              YYYY-MM-DD, 'T' or one space, hh:mm[:ss[.fraction]], then optionally 'Z' or an offset
 *              +hh:mm / -hh:mm / +hhmm / +hh (no zone: UTC)
 *   value      a decimal number, [+-]digits[.digits][(e|E)[+-]digits], finite
 * Spaces and tabs around a field are ignored, and so is one pair of double quotes around it (a field
 * holds no quote and no comma); a CR before the LF is dropped; empty lines are fine at the end of the
 * input only; a line is at most SCORE_CSV_LINE_MAX bytes.
 *
 * Hand-written instead of sscanf/strptime: these run at several million rows per second, are
 * locale-independent, and say exactly what is wrong with a row. Numbers are correctly rounded
 * (exact fast path, strtod for the rare long mantissas), so the tool scores the same doubles as a
 * caller of the library who parsed the text with strtod.
 */

#include <stdbool.h>
#include <stddef.h>

#define SCORE_CSV_LINE_MAX 4096

/* 0 with *ret set, or -EINVAL with *ret_error a short description ("bad number", ...). */
int score_csv_parse_number(const char *s, size_t len, double *ret, const char **ret_error);
int score_csv_parse_time(const char *s, size_t len, double *ret, const char **ret_error);

typedef struct ScoreCsvRow {
        const char *timestamp;  /* the timestamp field as given (trimmed, quotes kept), not NUL-terminated */
        size_t timestamp_len;
        double t;               /* epoch seconds */
        double value;
} ScoreCsvRow;

/* The line-level state: header seen, a pending empty line. */
typedef struct ScoreCsv {
        unsigned long line;       /* number of the last line fed, from 1 */
        unsigned long empty_line; /* the first of a run of empty lines not yet followed by data, or 0 */
        bool header_seen;
} ScoreCsv;

/*
 * Feed one line (without its LF; a trailing CR is dropped here). Returns 1 with *ret filled for a
 * data row, 0 for a line that carries no row (the header, an empty line), or -EINVAL with
 * *ret_error set and *ret_line the number of the offending line.
 */
int score_csv_feed(ScoreCsv *c, const char *line, size_t len, ScoreCsvRow *ret, const char **ret_error,
                   unsigned long *ret_line);

/* At the end of the input: -EINVAL if there was no header line at all. */
int score_csv_finish(const ScoreCsv *c, const char **ret_error, unsigned long *ret_line);
