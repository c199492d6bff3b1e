/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The hub's vital signs, read from /proc and /sys on each tick: CPU use since the last tick,
 * memory, load, bytes per network interface, tasks, listening sockets, temperatures, and the
 * free space of the state directory. Every read is bounded; what cannot be read is left out.
 */

#include <dirent.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "hubguard/fileio.h"
#include "telemetryd-manager.h"

#define PROC_FILE_MAX (256 * 1024)
#define INTERFACES_MAX 32
#define THERMAL_ZONES_MAX 16


static void add_cpu(TelemetryManager *m, json_t *o) {
        unsigned long long v[8] = {}, total = 0, idle;
        _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");

        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                         &v[6], &v[7]) != 8)
                return;
        for (int i = 0; i < 8; i++)
                total += v[i];
        idle = v[3] + v[4];
        if (m->cpu_prev_total > 0 && total > m->cpu_prev_total)
                (void) json_object_set_new(o, "cpu_percent",
                                           json_real(100.0 * (1.0 - (double) (idle - m->cpu_prev_idle) /
                                                                            (double) (total - m->cpu_prev_total))));
        m->cpu_prev_total = total;
        m->cpu_prev_idle = idle;
}

static void add_memory_and_load(json_t *o) {
        unsigned long long total = 0, avail = 0, tasks;
        double l1, l5, l15;
        char line[256];
        FILE *f;

        f = fopen("/proc/meminfo", "re");
        while (f && fgets(line, sizeof line, f)) {
                (void) sscanf(line, "MemTotal: %llu kB", &total);
                (void) sscanf(line, "MemAvailable: %llu kB", &avail);
        }
        if (f)
                fclose(f);
        if (total > 0) {
                (void) json_object_set_new(o, "memory_total_kib", json_integer((json_int_t) total));
                (void) json_object_set_new(o, "memory_available_kib", json_integer((json_int_t) avail));
        }
        /* The fourth field, running/total, counts every task of the system, even where the unit's
         * ProtectProc=invisible hides other users' /proc/PID directories. */
        f = fopen("/proc/loadavg", "re");
        if (f && fscanf(f, "%lf %lf %lf %*u/%llu", &l1, &l5, &l15, &tasks) == 4) {
                (void) json_object_set_new(o, "load", json_pack("[f, f, f]", l1, l5, l15));
                (void) json_object_set_new(o, "tasks", json_integer((json_int_t) tasks));
        }
        if (f)
                fclose(f);
}

static void add_network(json_t *o) {
        _cleanup_fclose_ FILE *f = fopen("/proc/net/dev", "re");
        json_t *ifs = json_object();
        char line[512];
        int n = 0;

        for (int skip = 0; f && ifs && fgets(line, sizeof line, f); skip++) {
                unsigned long long rx, tx, dummy;
                char name[32];

                if (skip < 2 || n >= INTERFACES_MAX)
                        continue;
                if (sscanf(line, " %31[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &rx, &dummy, &dummy,
                           &dummy, &dummy, &dummy, &dummy, &dummy, &tx) == 10 &&
                    json_object_set_new(ifs, name, json_pack("{s:I, s:I}", "rx_bytes", (json_int_t) rx, "tx_bytes",
                                                             (json_int_t) tx)) == 0)
                        n++;
        }
        if (ifs)
                (void) json_object_set_new(o, "network", ifs);
}

/* Sockets in state LISTEN (0A) in /proc/net/tcp{,6}: a new one on a hub is worth a look. */
static void add_listening(json_t *o) {
        static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
        int n = 0;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_fclose_ FILE *f = fopen(files[i], "re");
                char line[512], state[8];

                while (f && fgets(line, sizeof line, f))
                        if (sscanf(line, " %*s %*s %*s %7s", state) == 1 && streq(state, "0A"))
                                n++;
        }
        (void) json_object_set_new(o, "listening_sockets", json_integer(n));
}

static void add_temperatures(json_t *o) {
        json_t *t = json_array();

        for (int i = 0; t && i < THERMAL_ZONES_MAX; i++) {
                _cleanup_free_ char *data = NULL;
                char path[64];

                (void) snprintf(path, sizeof path, "/sys/class/thermal/thermal_zone%d/temp", i);
                if (read_file_bounded(path, 64, &data, NULL) < 0)
                        break;
                (void) json_array_append_new(t, json_real(strtol(data, NULL, 10) / 1000.0));
        }
        if (t && json_array_size(t) > 0)
                (void) json_object_set_new(o, "temperatures_celsius", t);
        else
                json_decref(t);
}

json_t *telemetry_collect_metrics(TelemetryManager *m) {
        json_t *o = json_object();
        struct statvfs sv;

        if (!o)
                return NULL;
        add_cpu(m, o);
        add_memory_and_load(o);
        add_network(o);
        add_listening(o);
        add_temperatures(o);
        if (statvfs(m->daemon->state_dir, &sv) == 0)
                (void) json_object_set_new(o, "state_free_bytes",
                                           json_integer((json_int_t) ((unsigned long long) sv.f_bavail * sv.f_frsize)));
        return o;
}
