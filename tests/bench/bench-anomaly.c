/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Cost of the anomaly detector and of hubguard-score, as ratios against baselines from the same run
 * (the machine is shared and noisy: CPU time, not wall time, and medians of 5 runs each).
 *
 *   meson test -C build-dev --benchmark bench-anomaly -v
 *   or: build-dev/tests/bench/bench-anomaly build-dev/src/score/hubguard-score
 *
 * 1. ns per sample per metric of anomaly_detector_update(), against a plain loop computing an EWMA
 *    over the same samples: value kind on regular timestamps (the usual case), on jittered
 *    timestamps (every dt new: the decay weights are recomputed), count kind.
 * 2. hubguard-score rows per second on a generated 1,000,000-row CSV, against `cat FILE >/dev/null`
 *    and `wc -l FILE` on the same file.
 */

#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "anomaly-gen.h"
#include "hubguard/anomaly.h"

#define N_SAMPLES 1000000
#define RUNS 5

extern char **environ;

/* CPU time, not wall time: the machine is shared, and a descheduled process would count others' work. */
static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        qsort(v, n, sizeof(double), cmp_double);
        return v[n / 2];
}

static volatile double sink;

static double time_ewma(const double *t, const double *x, size_t n) {
        double start = now(), m = x[0], last = t[0];

        for (size_t i = 0; i < n; i++) {
                double a = t[i] > last ? 0.05 : 0.0;
                m += a * (x[i] - m);
                last = t[i];
        }
        sink = m;
        return (now() - start) / (double) n * 1e9;
}

static double time_detector(const double *t, const double *x, size_t n, AnomalyKind kind) {
        AnomalySettings s;
        AnomalyDetector d;
        double start, acc = 0;

        anomaly_settings_default(&s, kind);
        if (anomaly_detector_init(&d, &s) < 0)
                abort();
        start = now();
        for (size_t i = 0; i < n; i++) {
                AnomalyResult r;

                if (anomaly_detector_update(&d, t[i], x[i], &r) < 0)
                        abort();
                acc += r.score;
        }
        sink = acc;
        return (now() - start) / (double) n * 1e9;
}

static void series(GenBase base, bool jitter, double **ret_t, double **ret_x) {
        GenSpec spec = {
                .seed = 77,
                .n = N_SAMPLES,
                .base = base,
                .noise = GEN_NOISE_GAUSS,
                .interval = 300.0,
                .jitter = jitter,
                .n_anomalies = 3,
                .kinds = { GEN_SPIKE, GEN_LEVEL_SHIFT, GEN_VARIANCE },
        };
        GenSeries s;

        if (gen_series(&spec, &s) < 0)
                abort();
        *ret_t = s.t;
        *ret_x = s.x;
        free(s.label);
}

/* CPU time (user + system) of argv with stdin from in and stdout to /dev/null. */
static double time_command(const char *const argv[], const char *in) {
        posix_spawn_file_actions_t fa;
        struct rusage ru;
        pid_t pid;
        int status;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, in, O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *) argv, environ) != 0) {
                perror(argv[0]);
                exit(1);
        }
        if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s failed\n", argv[0]);
                exit(1);
        }
        posix_spawn_file_actions_destroy(&fa);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6 + (double) ru.ru_stime.tv_sec +
               (double) ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char *argv[]) {
        double base[RUNS], val[RUNS], jit[RUNS], cnt[RUNS], b, v, j, c;
        double *t, *x, *tj, *xj, *tc, *xc;

        series(GEN_BASE_DAILY, false, &t, &x);
        series(GEN_BASE_DAILY, true, &tj, &xj);
        series(GEN_BASE_COUNT, false, &tc, &xc);

        for (int r = 0; r < RUNS; r++) {
                base[r] = time_ewma(t, x, N_SAMPLES);
                val[r] = time_detector(t, x, N_SAMPLES, ANOMALY_KIND_VALUE);
                jit[r] = time_detector(tj, xj, N_SAMPLES, ANOMALY_KIND_VALUE);
                cnt[r] = time_detector(tc, xc, N_SAMPLES, ANOMALY_KIND_COUNT);
        }
        b = median(base, RUNS);
        v = median(val, RUNS);
        j = median(jit, RUNS);
        c = median(cnt, RUNS);
        printf("detector, ns per sample per metric (median of %d runs over %d samples):\n", RUNS, N_SAMPLES);
        printf("  baseline EWMA loop   %7.2f ns\n", b);
        printf("  value, regular       %7.2f ns  (%.1fx baseline)\n", v, v / b);
        printf("  value, jittered      %7.2f ns  (%.1fx baseline)\n", j, j / b);
        printf("  count, regular       %7.2f ns  (%.1fx baseline)\n", c, c / b);
        printf("  state                %7zu bytes per metric\n", sizeof(AnomalyDetector));

        if (argc > 1) {
                char path[] = "/tmp/bench-anomaly-XXXXXX";
                double tool[RUNS], cat[RUNS], wc[RUNS], tt, tc_, tw;
                const char *tool_argv[] = { argv[1], NULL };
                const char *cat_argv[] = { "cat", NULL };
                const char *wc_argv[] = { "wc", "-l", NULL };
                int fd = mkstemp(path);
                FILE *f;

                if (fd < 0 || !(f = fdopen(fd, "w"))) {
                        perror("mkstemp");
                        return 1;
                }
                fprintf(f, "timestamp,value\n");
                for (size_t i = 0; i < N_SAMPLES; i++)
                        fprintf(f, "%.0f,%.6g\n", t[i], x[i]);
                if (fclose(f) != 0) {
                        perror("write");
                        return 1;
                }
                for (int r = 0; r < RUNS; r++) {
                        tool[r] = time_command(tool_argv, path);
                        cat[r] = time_command(cat_argv, path);
                        wc[r] = time_command(wc_argv, path);
                }
                (void) unlink(path);
                tt = median(tool, RUNS);
                tc_ = median(cat, RUNS);
                tw = median(wc, RUNS);
                printf("hubguard-score on a %d-row CSV (median of %d runs):\n", N_SAMPLES, RUNS);
                printf("  hubguard-score       %7.3f s  %6.2f M rows/s (CPU time)\n", tt, N_SAMPLES / tt / 1e6);
                printf("  cat                  %7.3f s  (hubguard-score %.1fx)\n", tc_, tt / tc_);
                printf("  wc -l                %7.3f s  (hubguard-score %.1fx)\n", tw, tt / tw);
        }
        free(t);
        free(x);
        free(tj);
        free(xj);
        free(tc);
        free(xc);
        return 0;
}
