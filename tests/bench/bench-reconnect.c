/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * tests/bench/run: a benchmark
 *
 * bench-reconnect: a fleet reconnect storm (EN 303 645 5.9-3) through hub-telemetryd's own reconnect
 * scheduler (telemetryd-backoff.c, linked from the daemon's library, with its real random source).
 *
 *   bench-reconnect [--hubs N] [--outage SEC] [--naive-delay SEC] [--runs R] [--min SEC] [--max SEC]
 *
 * N hubs (1000) lose the same broker at t = 0; it returns at t = SEC (60). Each hub does what
 * telemetryd-mqtt.c does: on the loss, and after every failed attempt, it waits backoff_next() and
 * tries again; an attempt while the broker is down fails at once (connection refused), the first
 * one at or after SEC succeeds. The delays are ReconnectMinSec= and ReconnectMaxSec= (the shipped
 * defaults unless --min/--max). Simulated time, no sockets: the figures are the schedule's own.
 *
 * The baseline is a naive fixed delay of --naive-delay SEC (1) without jitter, what a client that
 * "retries every second" does. Measured for both, medians over R runs (5): the peak of attempts in
 * any one second after the broker's return (what the returning broker must absorb), the peak during
 * the outage, all attempts during the outage, and the time from the return until half and until all
 * hubs are back. The goals: a peak after the return of at most a fifth of the naive one; all back
 * within the cap (ReconnectMaxSec=) of the return.
 *
 * Output: a human table on stderr, and "BENCH<TAB>metric<TAB>value<TAB>unit<TAB>baseline<TAB>goal"
 * lines on stdout for tests/bench/run.
 */

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubguard/conf.h"
#include "hubguard/macro.h"
#include "telemetryd-backoff.h"

#define USEC_PER_SEC 1000000ULL

typedef struct Result {
        double peak_after, peak_during, attempts_during, half_back, all_back;
} Result;

typedef struct Options {
        unsigned hubs, runs;
        double outage, naive_delay;
        uint64_t min_usec, max_usec;
} Options;

/* The delay before the next attempt: the daemon's schedule, or a fixed one. */
static uint64_t next_delay(Backoff *b, const Options *o, bool naive) {
        return naive ? (uint64_t) (o->naive_delay * USEC_PER_SEC) : backoff_next(b);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

static int simulate(const Options *o, bool naive, Result *ret) {
        uint64_t outage = (uint64_t) (o->outage * USEC_PER_SEC), horizon_sec;
        _cleanup_free_ uint64_t *back = calloc(o->hubs, sizeof(uint64_t));
        _cleanup_free_ uint64_t *per_sec = NULL;
        uint64_t peak_after = 0, peak_during = 0, during = 0;

        if (!back)
                return -ENOMEM;
        /* Every hub is back within outage + max (+ a naive delay); one slot per second until then. */
        horizon_sec = (outage + o->max_usec) / USEC_PER_SEC + (uint64_t) o->naive_delay + 2;
        per_sec = calloc(horizon_sec + 1, sizeof(uint64_t));
        if (!per_sec)
                return -ENOMEM;

        for (unsigned h = 0; h < o->hubs; h++) {
                Backoff b;
                uint64_t t = 0;

                backoff_init(&b, o->min_usec, o->max_usec);
                for (;;) {
                        t += next_delay(&b, o, naive);
                        per_sec[MIN(t / USEC_PER_SEC, horizon_sec)]++;
                        if (t >= outage)
                                break;
                        during++;
                }
                back[h] = t - outage;
        }
        for (uint64_t s = 0; s <= horizon_sec; s++) {
                if (s * USEC_PER_SEC < outage)
                        peak_during = MAX(peak_during, per_sec[s]);
                else
                        peak_after = MAX(peak_after, per_sec[s]);
        }
        /* The second in which the broker returns counts as after if it returns inside it. */
        if (outage % USEC_PER_SEC)
                peak_after = MAX(peak_after, per_sec[outage / USEC_PER_SEC]);
        qsort(back, o->hubs, sizeof(uint64_t), cmp_u64);
        *ret = (Result) {
                .peak_after = (double) peak_after,
                .peak_during = (double) peak_during,
                .attempts_during = (double) during,
                .half_back = (double) back[(o->hubs - 1) / 2] / USEC_PER_SEC,
                .all_back = (double) back[o->hubs - 1] / USEC_PER_SEC,
        };
        return 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n) {
        qsort(v, n, sizeof(double), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median of each field over the runs. */
static int measure(const Options *o, bool naive, Result *ret) {
        _cleanup_free_ Result *r = calloc(o->runs, sizeof(Result));
        _cleanup_free_ double *v = calloc(o->runs, sizeof(double));
        double *out = (double *) ret;
        int k;

        if (!r || !v)
                return -ENOMEM;
        for (unsigned i = 0; i < o->runs; i++) {
                k = simulate(o, naive, &r[i]);
                if (k < 0)
                        return k;
        }
        for (size_t f = 0; f < sizeof(Result) / sizeof(double); f++) {
                for (unsigned i = 0; i < o->runs; i++)
                        v[i] = ((double *) &r[i])[f];
                out[f] = median(v, o->runs);
        }
        return 0;
}

static void usage(FILE *f) {
        fprintf(f, "Usage: bench-reconnect [--hubs N] [--outage SEC] [--naive-delay SEC] [--runs R] [--min SEC] [--max SEC]\n");
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "hubs", required_argument, NULL, 'n' },   { "outage", required_argument, NULL, 'o' },
                { "naive-delay", required_argument, NULL, 'd' }, { "runs", required_argument, NULL, 'r' },
                { "min", required_argument, NULL, 'a' },    { "max", required_argument, NULL, 'b' },
                { "help", no_argument, NULL, 'h' },         {},
        };
        HubConfig c;
        Options o = { .hubs = 1000, .runs = 5, .outage = 60, .naive_delay = 1 };
        Result jit, naive;
        double min_sec, max_sec;
        int ch;

        /* The shipped defaults of ReconnectMinSec= and ReconnectMaxSec=. */
        config_init(&c);
        min_sec = c.telemetry.reconnect_min_sec;
        max_sec = c.telemetry.reconnect_max_sec;
        config_done(&c);

        while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (ch) {
                case 'n': o.hubs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'o': o.outage = strtod(optarg, NULL); break;
                case 'd': o.naive_delay = strtod(optarg, NULL); break;
                case 'r': o.runs = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'a': min_sec = strtod(optarg, NULL); break;
                case 'b': max_sec = strtod(optarg, NULL); break;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                default: usage(stderr); return EXIT_FAILURE;
                }
        }
        if (o.hubs < 1 || o.hubs > 10000000 || o.runs < 1 || o.runs > 1000 || !(o.outage >= 0 && o.outage <= 86400) ||
            !(o.naive_delay > 0 && o.naive_delay <= 3600) || !(min_sec > 0 && max_sec >= min_sec && max_sec <= 86400)) {
                fprintf(stderr, "bench-reconnect: an option is out of range\n");
                return EXIT_FAILURE;
        }
        o.min_usec = (uint64_t) (min_sec * USEC_PER_SEC);
        o.max_usec = (uint64_t) (max_sec * USEC_PER_SEC);

        if (measure(&o, false, &jit) < 0 || measure(&o, true, &naive) < 0) {
                fprintf(stderr, "bench-reconnect: out of memory\n");
                return EXIT_FAILURE;
        }

        fprintf(stderr,
                "Fleet reconnect storm: %u hubs, broker away for %.0f s, ReconnectMinSec=%.0f ReconnectMaxSec=%.0f, "
                "medians of %u runs\n", o.hubs, o.outage, min_sec, max_sec, o.runs);
        fprintf(stderr, "%-44s %14s %14s\n", "metric", "hub-telemetryd", "naive fixed");
        fprintf(stderr, "%-44s %14.0f %14.0f\n", "peak attempts/s after the return", jit.peak_after, naive.peak_after);
        fprintf(stderr, "%-44s %14.0f %14.0f\n", "peak attempts/s during the outage", jit.peak_during, naive.peak_during);
        fprintf(stderr, "%-44s %14.0f %14.0f\n", "attempts during the outage (all hubs)", jit.attempts_during,
                naive.attempts_during);
        fprintf(stderr, "%-44s %14.1f %14.1f\n", "half the fleet back after the return (s)", jit.half_back, naive.half_back);
        fprintf(stderr, "%-44s %14.1f %14.1f\n", "whole fleet back after the return (s)", jit.all_back, naive.all_back);

        printf("BENCH\treconnect storm: peak reconnects/s after return (%u hubs)\t%.0f\t/s\t%.0f\t<= 0.2\n", o.hubs,
               jit.peak_after, naive.peak_after);
        printf("BENCH\treconnect storm: peak attempts/s during outage\t%.0f\t/s\t%.0f\t-\n", jit.peak_during,
               naive.peak_during);
        printf("BENCH\treconnect storm: attempts during %.0f s outage\t%.0f\t-\t%.0f\t-\n", o.outage,
               jit.attempts_during, naive.attempts_during);
        printf("BENCH\treconnect storm: half the fleet back\t%.1f\ts\t%.1f\t-\n", jit.half_back, naive.half_back);
        printf("BENCH\treconnect storm: whole fleet back\t%.1f\ts\t%.1f\tvalue <= %.0f s\n", jit.all_back, naive.all_back,
               max_sec);
        return EXIT_SUCCESS;
}
