/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * bench-bus-ping: the bare sd-bus round trip that bench-system.sh holds 'hubctl status' against.
 * A helper, not a benchmark by itself.
 *
 *   bench-bus-ping [--count N] NAME...
 *
 * Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS), calls org.freedesktop.DBus.Peer.Ping on
 * each NAME in turn, N times (1), and prints "round_trip_us=MEDIAN calls=K" for the calls. With
 * --count 1 and the three daemons' names, one run does what 'hubctl status' does on the wire (connect,
 * one call per daemon), without its property decoding and printing.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

static double now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

int main(int argc, char *argv[]) {
        static const struct option opts[] = {
                { "count", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        sd_bus *bus = NULL;
        double *t;
        long count = 1;
        size_t k = 0, n;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'c': count = strtol(optarg, NULL, 10); break;
                case 'h': printf("Usage: bench-bus-ping [--count N] NAME...\n"); return 0;
                default: return 1;
                }
        }
        if (count < 1 || count > 1000000 || optind >= argc) {
                fprintf(stderr, "Usage: bench-bus-ping [--count N] NAME...\n");
                return 1;
        }
        n = (size_t) count * (size_t) (argc - optind);
        t = calloc(n, sizeof(double));
        if (!t)
                return 1;
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "Cannot connect to the system bus: %s\n", strerror(-r));
                free(t);
                return 1;
        }
        for (long i = 0; i < count; i++)
                for (int a = optind; a < argc; a++) {
                        sd_bus_error error = SD_BUS_ERROR_NULL;
                        double t0 = now_us();

                        r = sd_bus_call_method(bus, argv[a], "/", "org.freedesktop.DBus.Peer", "Ping", &error, NULL,
                                               NULL);
                        if (r < 0) {
                                fprintf(stderr, "Ping %s: %s\n", argv[a], error.message ? error.message : strerror(-r));
                                sd_bus_error_free(&error);
                                sd_bus_flush_close_unref(bus);
                                free(t);
                                return 1;
                        }
                        t[k++] = now_us() - t0;
                }
        qsort(t, k, sizeof(double), cmp_double);
        printf("round_trip_us=%.1f calls=%zu\n", k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2, k);
        sd_bus_flush_close_unref(bus);
        free(t);
        return 0;
}
