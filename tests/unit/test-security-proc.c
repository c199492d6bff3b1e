/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* The /proc readers of 'hubctl security-report' (src/hubctl/hubctl-security-proc.c). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "common.h"
#include "hubctl-security-proc.h"

static FILE *text(const char *s) {
        FILE *f = fmemopen((void *) s, strlen(s), "r");

        assert_non_null(f);
        return f;
}

/* ---------------------------------------------------------------------------------------------------
 * proc_status_parse()
 */

static const char status_sandboxed[] =
        "Name:\thub-identityd\n"
        "Uid:\t994\t994\t994\t994\n"
        "Gid:\t994\t994\t994\t994\n"
        "CapInh:\t0000000000000000\n"
        "CapEff:\t0000000000000000\n"
        "CapBnd:\t0000000000000000\n"
        "NoNewPrivs:\t1\n"
        "Seccomp:\t2\n"
        "Seccomp_filters:\t3\n";

static void test_status_sandboxed(void **state) {
        ProcStatus s;
        FILE *f = text(status_sandboxed);

        assert_int_equal(proc_status_parse(f, &s), 0);
        fclose(f);
        for (size_t i = 0; i < 4; i++)
                assert_int_equal(s.uid[i], 994);
        assert_int_equal(s.cap_eff, 0);
        assert_int_equal(s.no_new_privs, 1);
        assert_int_equal(s.seccomp, 2);
}

static void test_status_root(void **state) {
        ProcStatus s;
        FILE *f = text("Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\n");

        assert_int_equal(proc_status_parse(f, &s), 0);
        fclose(f);
        assert_int_equal(s.uid[1], 0);
        assert_int_equal(s.cap_eff, 0x1ffffffffffULL);
        assert_int_equal(s.no_new_privs, 0);
        assert_int_equal(s.seccomp, 0);
}

static void test_status_incomplete(void **state) {
        static const char *const bad[] = {
                "Uid:\t1\t1\t1\t1\nCapEff:\t0\nNoNewPrivs:\t1\n",           /* no Seccomp (old kernel) */
                "CapEff:\t0\nNoNewPrivs:\t1\nSeccomp:\t2\n",                /* no Uid */
                "Uid:\t1\t1\t1\t1\nCapEff:\t0\nNoNewPrivs:\t7\nSeccomp:\t2\n", /* out of range */
                "",
        };
        ProcStatus s = { .seccomp = 42 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                FILE *f = fmemopen((void *) bad[i], strlen(bad[i]) + 1, "r");

                assert_non_null(f);
                assert_int_equal(proc_status_parse(f, &s), -EBADMSG);
                fclose(f);
                assert_int_equal(s.seccomp, 42); /* unchanged */
        }
}

/* ---------------------------------------------------------------------------------------------------
 * proc_net_parse_listeners()
 */

static const char tcp4[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000   115        0 31337 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:A1B2 0100007F:075B 01 00000000:00000000 00:00000000 00000000   993        0 4242 1 0000000000000000 20 4 30 10 -1\n"
        "   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n";

static void test_tcp_listeners(void **state) {
        ProcListener l[4];
        size_t n = 0;
        FILE *f = text(tcp4);

        assert_int_equal(proc_net_parse_listeners(f, "tcp", l, ELEMENTSOF(l), &n), 0);
        fclose(f);
        /* The established connection (state 01) is not listed. */
        assert_int_equal(n, 2);
        assert_int_equal(l[0].inode, 31337);
        assert_string_equal(l[0].proto, "tcp");
        assert_string_equal(l[0].local, "127.0.0.1:1883");
        assert_int_equal(l[1].inode, 777);
        assert_string_equal(l[1].local, "0.0.0.0:22");
}

static void test_tcp6_listener(void **state) {
        static const char tcp6[] =
                "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
                "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0\n";
        ProcListener l[2];
        size_t n = 0;
        FILE *f = text(tcp6);

        /* The kernel prints each 32-bit word of the address in host order: the text above is ::1
         * on a little-endian machine (x86-64, arm64 as the Pi runs it). */
        assert_int_equal(proc_net_parse_listeners(f, "tcp6", l, ELEMENTSOF(l), &n), 0);
        fclose(f);
        assert_int_equal(n, 1);
        assert_int_equal(l[0].inode, 555);
        assert_string_equal(l[0].proto, "tcp6");
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        assert_string_equal(l[0].local, "[::1]:8080");
#endif
}

static void test_udp_listeners(void **state) {
        static const char udp[] =
                "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
                /* bound, unconnected: a receiver */
                "  100: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000   104        0 9001 2 0000000000000000 0\n"
                /* connected (a resolver's query): not a listener */
                "  200: 0100007F:C350 0100007F:0035 01 00000000:00000000 00:00000000 00000000   993        0 9002 2 0000000000000000 0\n";
        ProcListener l[4];
        size_t n = 0;
        FILE *f = text(udp);

        assert_int_equal(proc_net_parse_listeners(f, "udp", l, ELEMENTSOF(l), &n), 0);
        fclose(f);
        assert_int_equal(n, 1);
        assert_int_equal(l[0].inode, 9001);
        assert_string_equal(l[0].local, "0.0.0.0:5353");
}

static void test_raw_listener(void **state) {
        static const char raw[] =
                "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
                /* an ICMP raw socket: sees every ICMP packet, whatever its state */
                "    1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4711 2 0000000000000000 0\n";
        ProcListener l[2];
        size_t n = 0;
        FILE *f = text(raw);

        assert_int_equal(proc_net_parse_listeners(f, "raw", l, ELEMENTSOF(l), &n), 0);
        fclose(f);
        assert_int_equal(n, 1);
        assert_int_equal(l[0].inode, 4711);
        assert_string_equal(l[0].proto, "raw");
}

static void test_listeners_limits(void **state) {
        ProcListener l[1];
        size_t n = 0;
        FILE *f;

        f = text(tcp4);
        assert_int_equal(proc_net_parse_listeners(f, "tcp", l, ELEMENTSOF(l), &n), -ENOBUFS);
        fclose(f);

        n = 0;
        f = text(tcp4);
        assert_int_equal(proc_net_parse_listeners(f, "sctp", l, ELEMENTSOF(l), &n), -EINVAL);
        fclose(f);

        n = 0;
        f = text("header\n   0: ZZZ:0016 00000000:0000 0A\n");
        assert_int_equal(proc_net_parse_listeners(f, "tcp", l, ELEMENTSOF(l), &n), -EBADMSG);
        fclose(f);
        assert_int_equal(n, 0);
}

/* The real thing: a socket we listen on is among our fds and in our namespace's table. */
static void test_real_listener(void **state) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        uint64_t inodes[64];
        ProcListener l[256];
        size_t n_inodes = 0, n = 0;
        struct stat st;
        bool found = false;
        FILE *f;
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        assert_int_equal(listen(fd, 1), 0);
        assert_int_equal(fstat(fd, &st), 0);

        assert_int_equal(proc_socket_inodes(getpid(), inodes, ELEMENTSOF(inodes), &n_inodes), 0);
        for (size_t i = 0; i < n_inodes; i++)
                found = found || inodes[i] == (uint64_t) st.st_ino;
        assert_true(found);

        f = fopen("/proc/self/net/tcp", "re");
        assert_non_null(f);
        assert_int_equal(proc_net_parse_listeners(f, "tcp", l, ELEMENTSOF(l), &n), 0);
        fclose(f);
        found = false;
        for (size_t i = 0; i < n; i++)
                found = found || l[i].inode == (uint64_t) st.st_ino;
        assert_true(found);
        close(fd);
}

static void test_socket_inodes_gone(void **state) {
        uint64_t inodes[4];
        size_t n = 0;

        /* PIDs above pid_max do not exist. */
        assert_int_equal(proc_socket_inodes(0x7ffffff0, inodes, ELEMENTSOF(inodes), &n), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_sandboxed),
                cmocka_unit_test(test_status_root),
                cmocka_unit_test(test_status_incomplete),
                cmocka_unit_test(test_tcp_listeners),
                cmocka_unit_test(test_tcp6_listener),
                cmocka_unit_test(test_udp_listeners),
                cmocka_unit_test(test_raw_listener),
                cmocka_unit_test(test_listeners_limits),
                cmocka_unit_test(test_real_listener),
                cmocka_unit_test(test_socket_inodes_gone),
        };

        return cmocka_run_group_tests_name("security-proc", tests, NULL, NULL);
}
