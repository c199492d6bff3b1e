/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * notify-recv SOCKET MILLISECONDS: receive sd_notify() datagrams on a fresh AF_UNIX socket at SOCKET
 * for the given time and print each one, its fields one per line, followed by "--". The integration
 * tests use it as the service manager's end of $NOTIFY_SOCKET.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        long long deadline;
        char buf[4096];
        int fd;

        if (argc != 3 || strlen(argv[1]) >= sizeof sa.sun_path) {
                fprintf(stderr, "usage: notify-recv SOCKET MILLISECONDS\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0 || chmod(argv[1], 0666) < 0) {
                fprintf(stderr, "notify-recv: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        deadline = now_ms() + atoll(argv[2]);
        for (long long left; (left = deadline - now_ms()) > 0;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, (int) left) <= 0)
                        continue;
                n = recv(fd, buf, sizeof buf - 1, 0);
                if (n < 0)
                        continue;
                buf[n] = '\0';
                printf("%s%s--\n", buf, n > 0 && buf[n - 1] == '\n' ? "" : "\n");
        }
        unlink(argv[1]);
        return 0;
}
