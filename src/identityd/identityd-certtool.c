/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hubguard/errno-util.h"
#include "hubguard/macro.h"
#include "identityd-certtool.h"

extern char **environ;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static void close_pair(int p[2]) {
        for (int i = 0; i < 2; i++)
                if (p[i] >= 0) {
                        (void) close(p[i]);
                        p[i] = -EBADF;
                }
}

/* Feed input and collect the output until EOF or the deadline. */
static int exchange(int in_fd, const char *input, size_t input_len, int out_fd, char *buf, size_t *len,
                    uint64_t deadline) {
        size_t written = 0;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = out_fd, .events = POLLIN },
                        { .fd = in_fd, .events = POLLOUT },
                };
                uint64_t now = now_usec();
                ssize_t n;
                int k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                k = poll(p, in_fd >= 0 ? 2 : 1, (int) ((deadline - now + 999) / 1000));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (in_fd >= 0 && p[1].revents) {
                        n = write(in_fd, input + written, input_len - written);
                        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EPIPE)
                                return -errno;
                        if (n > 0)
                                written += (size_t) n;
                        /* EPIPE (SIGPIPE is ignored, daemon.c): it stopped reading; its status says why. */
                        if (written == input_len || (n < 0 && errno == EPIPE)) {
                                (void) close(in_fd);
                                in_fd = -EBADF;
                        }
                }
                if (p[0].revents) {
                        n = read(out_fd, buf + *len, CERT_TOOL_OUTPUT_MAX + 1 - *len);
                        if (n < 0) {
                                if (errno == EINTR || errno == EAGAIN)
                                        continue;
                                return -errno;
                        }
                        if (n == 0)
                                break;
                        *len += (size_t) n;
                        if (*len > CERT_TOOL_OUTPUT_MAX)
                                return -EMSGSIZE;
                }
        }
        if (in_fd >= 0)
                (void) close(in_fd);
        return 0;
}

int cert_tool_run(const char *path, const char *const *args, const char *input, size_t input_len,
                  uint64_t timeout_usec, char **ret_output) {
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, status, r;
        const char *argv[8] = { CERT_TOOL_PROGRAM };
        _cleanup_free_ char *buf = malloc(CERT_TOOL_OUTPUT_MAX + 2);
        posix_spawn_file_actions_t fa;
        size_t n_args = 0, len = 0;
        pid_t pid;

        if (!buf)
                return -ENOMEM;
        while (args[n_args]) {
                if (n_args + 2 >= ELEMENTSOF(argv))
                        return -E2BIG;
                argv[n_args + 1] = args[n_args];
                n_args++;
        }
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
                r = -errno;
                close_pair(in);
                close_pair(out);
                return r;
        }
        r = -posix_spawn_file_actions_init(&fa);
        if (r == 0)
                r = -posix_spawn_file_actions_adddup2(&fa, in[0], STDIN_FILENO);
        if (r == 0)
                r = -posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
        /* stderr stays the daemon's: the helper's log lines go where the daemon's go. */
        if (r == 0)
                r = -posix_spawn(&pid, path, &fa, NULL, (char *const *) argv, environ);
        (void) posix_spawn_file_actions_destroy(&fa);
        (void) close(in[0]);
        (void) close(out[1]);
        if (r < 0) {
                (void) close(in[1]);
                (void) close(out[0]);
                return r;
        }
        (void) fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (!input) {
                (void) close(in[1]);
                in[1] = -EBADF;
        }

        r = exchange(in[1], input, input_len, out[0], buf, &len, now_usec() + timeout_usec);
        (void) close(out[0]);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r < 0)
                return r;
        if (!WIFEXITED(status))
                return -ECHILD;
        buf[len] = '\0';
        if (ret_output)
                *ret_output = TAKE_PTR(buf);
        return WEXITSTATUS(status);
}

static int copy_value(char *dst, size_t size, const char *v) {
        return snprintf(dst, size, "%s", v) >= (int) size ? -EBADMSG : 0;
}

static int int_value(const char *v, long long min, long long max, long long *ret) {
        char *end;

        errno = 0;
        *ret = strtoll(v, &end, 10);
        return errno || end == v || *end || *ret < min || *ret > max ? -EBADMSG : 0;
}

int cert_facts_parse(const char *text, CertFacts *ret) {
        CertFacts f = {};

        for (const char *line = text; *line;) {
                size_t n = strcspn(line, "\n");
                char l[320], *v;
                long long x = 0;
                int r;

                if (line[n] != '\n' || n >= sizeof l)
                        return -EBADMSG;
                memcpy(l, line, n);
                l[n] = '\0';
                line += n + 1;
                v = strchr(l, '=');
                if (!v)
                        return -EBADMSG;
                *v++ = '\0';
                if (streq(l, "device_id"))
                        r = device_id_is_valid(v) ? copy_value(f.device_id, sizeof f.device_id, v) : -EBADMSG;
                else if (streq(l, "fingerprint"))
                        r = copy_value(f.fingerprint, sizeof f.fingerprint, v);
                else if (streq(l, "reason"))
                        r = copy_value(f.reason, sizeof f.reason, v);
                else if (streq(l, "not_after") && (r = int_value(v, INT64_MIN, INT64_MAX, &x)) >= 0)
                        f.not_after = x;
                else if (streq(l, "self_signed") && (r = int_value(v, 0, 1, &x)) >= 0)
                        f.self_signed = x;
                else if (streq(l, "errno") && (r = int_value(v, 1, 4095, &x)) >= 0)
                        f.error = (int) -x;
                else
                        r = -EBADMSG;
                if (r < 0)
                        return r;
        }
        *ret = f;
        return 0;
}
