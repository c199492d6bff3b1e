/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hubctl-security-proc.h"
#include "hubguard/macro.h"

/* Kernel socket states as /proc/net/{tcp,udp} print them (include/net/tcp_states.h). */
#define PROC_TCP_LISTEN 0x0A
#define PROC_TCP_CLOSE 0x07 /* an unconnected UDP socket */

int proc_status_parse(FILE *f, ProcStatus *ret) {
        ProcStatus s = { .no_new_privs = -1, .seccomp = -1 };
        bool have_uid = false, have_cap = false;
        char line[512];

        while (fgets(line, sizeof line, f)) {
                unsigned u[4];
                int v;

                if (sscanf(line, "Uid: %u %u %u %u", &u[0], &u[1], &u[2], &u[3]) == 4) {
                        for (size_t i = 0; i < 4; i++)
                                s.uid[i] = (uid_t) u[i];
                        have_uid = true;
                } else if (sscanf(line, "CapEff: %" SCNx64, &s.cap_eff) == 1)
                        have_cap = true;
                else if (sscanf(line, "NoNewPrivs: %d", &v) == 1 && (v == 0 || v == 1))
                        s.no_new_privs = v;
                else if (sscanf(line, "Seccomp: %d", &v) == 1 && v >= 0 && v <= 2)
                        s.seccomp = v;
        }
        if (!have_uid || !have_cap || s.no_new_privs < 0 || s.seccomp < 0)
                return -EBADMSG;
        *ret = s;
        return 0;
}

/* "0100007F:1F90" (IPv4) or 32 hex digits (IPv6), each 32-bit word as the kernel's %08X of it. */
static int format_address(const char *hex, unsigned port, bool v6, char *buf, size_t size) {
        unsigned char addr[16];
        char text[INET6_ADDRSTRLEN];
        size_t words = v6 ? 4 : 1;

        if (strlen(hex) != words * 8)
                return -EBADMSG;
        for (size_t i = 0; i < words; i++) {
                char word_hex[9];
                uint32_t word;

                memcpy(word_hex, hex + i * 8, 8);
                word_hex[8] = '\0';
                word = (uint32_t) strtoul(word_hex, NULL, 16);
                /* The kernel printed the address's bytes as a host-order integer: copy them back. */
                memcpy(addr + i * 4, &word, 4);
        }
        if (!inet_ntop(v6 ? AF_INET6 : AF_INET, addr, text, sizeof text))
                return -errno;
        if (snprintf(buf, size, v6 ? "[%s]:%u" : "%s:%u", text, port) >= (int) size)
                return -ENOBUFS;
        return 0;
}

int proc_net_parse_listeners(FILE *f, const char *proto, ProcListener *l, size_t max, size_t *n) {
        bool tcp, raw, v6;
        char line[512];
        int r;

        if (streq(proto, "tcp") || streq(proto, "tcp6") || streq(proto, "udp") || streq(proto, "udp6") ||
            streq(proto, "raw") || streq(proto, "raw6")) {
                tcp = proto[0] == 't';
                raw = proto[0] == 'r';
                v6 = proto[3] == '6';
        } else
                return -EINVAL;

        /* The header line first. */
        if (!fgets(line, sizeof line, f))
                return ferror(f) ? -EIO : 0;
        while (fgets(line, sizeof line, f)) {
                char local[33], remote[33];
                unsigned local_port, remote_port, state;
                uint64_t inode;
                bool listening;

                if (!strchr(line, '\n'))
                        return -EBADMSG;
                if (sscanf(line, " %*u: %32[0-9A-Fa-f]:%x %32[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %*u %*u %" SCNu64,
                           local, &local_port, remote, &remote_port, &state, &inode) != 6 ||
                    local_port > 65535 || remote_port > 65535)
                        return -EBADMSG;

                /* A raw socket sees every packet of its protocol: it counts as listening. */
                listening = raw   ? true
                            : tcp ? state == PROC_TCP_LISTEN
                                  : state == PROC_TCP_CLOSE && local_port != 0 && remote_port == 0;
                if (!listening)
                        continue;
                if (*n >= max)
                        return -ENOBUFS;
                l[*n] = (ProcListener) { .inode = inode };
                (void) snprintf(l[*n].proto, sizeof l[*n].proto, "%s", proto);
                r = format_address(local, local_port, v6, l[*n].local, sizeof l[*n].local);
                if (r < 0)
                        return r;
                (*n)++;
        }
        return ferror(f) ? -EIO : 0;
}

int proc_socket_inodes(pid_t pid, uint64_t *inodes, size_t max, size_t *ret_n) {
        char path[64];
        struct dirent *de;
        DIR *d;
        size_t n = 0;
        int r = 0;

        (void) snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char target[64];
                uint64_t inode;
                ssize_t len;

                if (de->d_name[0] == '.')
                        continue;
                len = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
                if (len < 0)
                        continue; /* closed meanwhile */
                target[len] = '\0';
                if (sscanf(target, "socket:[%" SCNu64 "]", &inode) != 1)
                        continue;
                if (n >= max) {
                        r = -ENOBUFS;
                        break;
                }
                inodes[n++] = inode;
        }
        (void) closedir(d);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}
