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
#include "hubguard/validate.h"
#include "identityd-certtool.h"

extern char **environ;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static void close_fd(int *fd) {
        if (*fd >= 0) {
                (void) close(*fd);
                *fd = -EBADF;
        }
}

/* Feed input and collect the output until EOF or the deadline. The caller closes both fds. */
static int exchange(int *in_fd, const char *input, size_t input_len, int out_fd, char *buf, size_t *len,
                    uint64_t deadline) {
        size_t written = 0;

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = out_fd, .events = POLLIN },
                        { .fd = *in_fd, .events = POLLOUT },
                };
                uint64_t now = now_usec();
                ssize_t n;
                int k;

                if (now >= deadline)
                        return -ETIMEDOUT;
                k = poll(p, *in_fd >= 0 ? 2 : 1, (int) ((deadline - now + 999) / 1000));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (*in_fd >= 0 && p[1].revents) {
                        n = write(*in_fd, input + written, input_len - written);
                        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EPIPE)
                                return -errno;
                        if (n > 0)
                                written += (size_t) n;
                        /* EPIPE (SIGPIPE is ignored, daemon.c): it stopped reading; its status says why. */
                        if (written == input_len || (n < 0 && errno == EPIPE))
                                close_fd(in_fd);
                }
                if (p[0].revents) {
                        n = read(out_fd, buf + *len, CERT_TOOL_OUTPUT_MAX + 1 - *len);
                        if (n < 0) {
                                if (errno == EINTR || errno == EAGAIN)
                                        continue;
                                return -errno;
                        }
                        if (n == 0)
                                return 0;
                        *len += (size_t) n;
                        if (*len > CERT_TOOL_OUTPUT_MAX)
                                return -EMSGSIZE;
                }
        }
}

/* Reap pid by the deadline, or kill it then: it may close its output and still not exit. */
static int reap(pid_t pid, uint64_t deadline, int *ret_status) {
        for (;;) {
                pid_t p = waitpid(pid, ret_status, WNOHANG);

                if (p == pid)
                        return 0;
                if (p < 0 && errno != EINTR)
                        return -errno;
                if (now_usec() >= deadline) {
                        (void) kill(pid, SIGKILL);
                        while (waitpid(pid, ret_status, 0) < 0)
                                if (errno != EINTR)
                                        return -errno;
                        return -ETIMEDOUT;
                }
                (void) poll(NULL, 0, 5);
        }
}

/*
 * What the helper gets: only what it uses from our environment (where its log goes, the
 * sanitizers' options in a test build), not $CREDENTIALS_DIRECTORY, $NOTIFY_SOCKET or the like.
 */
static void child_environment(const char *envp[static 8]) {
        static const char *const keep[] = { "JOURNAL_STREAM", "SYSTEMD_LOG_LEVEL", "ASAN_OPTIONS",
                                            "UBSAN_OPTIONS", "LSAN_OPTIONS" };
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                for (char **e = environ; *e; e++)
                        if (strncmp(*e, keep[i], strlen(keep[i])) == 0 && (*e)[strlen(keep[i])] == '=') {
                                envp[n++] = *e;
                                break;
                        }
        envp[n] = NULL;
}

static int spawn(const char *path, const char *const *argv, int in_fd, int out_fd, pid_t *ret) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        const char *envp[8];
        sigset_t none, dfl;
        int r;

        child_environment(envp);
        /* Our blocked signals (sd-event's SIGTERM) and ignored SIGPIPE are not the helper's. */
        (void) sigemptyset(&none);
        (void) sigemptyset(&dfl);
        (void) sigaddset(&dfl, SIGPIPE);
        (void) sigaddset(&dfl, SIGTERM);
        (void) sigaddset(&dfl, SIGINT);
        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return -r;
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        if (r == 0)
                r = posix_spawnattr_setsigmask(&attr, &none);
        if (r == 0)
                r = posix_spawnattr_setsigdefault(&attr, &dfl);
        if (r == 0) {
                r = posix_spawn_file_actions_init(&fa);
                if (r == 0) {
                        r = posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
                        if (r == 0)
                                r = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
                        /* stderr stays ours: the helper's log lines go where the daemon's go. */
                        if (r == 0)
                                r = posix_spawn(ret, path, &fa, &attr, (char *const *) argv, (char *const *) envp);
                        (void) posix_spawn_file_actions_destroy(&fa);
                }
        }
        (void) posix_spawnattr_destroy(&attr);
        return -r;
}

int cert_tool_run(const char *path, const char *const *args, const char *input, size_t input_len,
                  uint64_t timeout_usec, char **ret_output) {
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, status = 0, r, k;
        const char *argv[8] = { CERT_TOOL_PROGRAM };
        _cleanup_free_ char *buf = malloc(CERT_TOOL_OUTPUT_MAX + 2);
        uint64_t deadline = now_usec() + timeout_usec;
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
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
                r = -errno;
        else
                r = spawn(path, argv, in[0], out[1], &pid);
        close_fd(&in[0]);
        close_fd(&out[1]);
        if (r < 0) {
                close_fd(&in[1]);
                close_fd(&out[0]);
                return r;
        }
        (void) fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (!input)
                close_fd(&in[1]);

        r = exchange(&in[1], input, input_len, out[0], buf, &len, deadline);
        close_fd(&in[1]);
        close_fd(&out[0]);
        if (r < 0)
                (void) kill(pid, SIGKILL);
        k = reap(pid, deadline, &status);
        if (r < 0)
                return r;
        if (k < 0)
                return k;
        if (!WIFEXITED(status))
                return -ECHILD;
        /* Text: a NUL inside would cut it short unseen. */
        if (memchr(buf, '\0', len))
                return -EBADMSG;
        buf[len] = '\0';
        if (ret_output)
                *ret_output = TAKE_PTR(buf);
        return WEXITSTATUS(status);
}

static int int_value(const char *v, long long min, long long max, long long *ret) {
        char *end;

        errno = 0;
        *ret = strtoll(v, &end, 10);
        return errno || end == v || *end || *ret < min || *ret > max ? -EBADMSG : 0;
}

static bool fingerprint_is_valid(const char *v) {
        if (strlen(v) != 7 + 64 || strncmp(v, "SHA256:", 7) != 0)
                return false;
        for (v += 7; *v; v++)
                if (!((*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'f')))
                        return false;
        return true;
}

int cert_facts_parse(const char *text, CertFacts *ret) {
        static const char *const keys[] = {
                [CERT_FACT_DEVICE_ID] = "device_id", [CERT_FACT_FINGERPRINT] = "fingerprint",
                [CERT_FACT_NOT_AFTER] = "not_after", [CERT_FACT_SELF_SIGNED] = "self_signed",
                [CERT_FACT_ERRNO] = "errno",         [CERT_FACT_REASON] = "reason",
        };
        CertFacts f = {};

        for (const char *line = text; *line;) {
                size_t n = strcspn(line, "\n"), k;
                char l[320], *v;
                long long x = 0;
                int r = 0;

                if (line[n] != '\n' || n >= sizeof l)
                        return -EBADMSG;
                memcpy(l, line, n);
                l[n] = '\0';
                line += n + 1;
                v = strchr(l, '=');
                if (!v)
                        return -EBADMSG;
                *v++ = '\0';
                for (k = 0; k < ELEMENTSOF(keys) && !streq(l, keys[k]); k++)
                        ;
                if (k == ELEMENTSOF(keys) || f.seen & (1u << k))
                        return -EBADMSG; /* unknown, or twice */
                f.seen |= 1u << k;
                switch (k) {
                case CERT_FACT_DEVICE_ID:
                        if (!device_id_is_valid(v))
                                return -EBADMSG;
                        memcpy(f.device_id, v, sizeof f.device_id);
                        break;
                case CERT_FACT_FINGERPRINT:
                        if (!fingerprint_is_valid(v))
                                return -EBADMSG;
                        memcpy(f.fingerprint, v, strlen(v) + 1);
                        break;
                case CERT_FACT_NOT_AFTER:
                        r = int_value(v, INT64_MIN, INT64_MAX, &x);
                        f.not_after = x;
                        break;
                case CERT_FACT_SELF_SIGNED:
                        r = int_value(v, 0, 1, &x);
                        f.self_signed = x;
                        break;
                case CERT_FACT_ERRNO:
                        r = int_value(v, 1, 4095, &x);
                        f.error = (int) -x;
                        break;
                case CERT_FACT_REASON:
                        /* It goes into a D-Bus error message: valid UTF-8, no control characters. */
                        if (!string_is_safe(v, sizeof f.reason - 1))
                                return -EBADMSG;
                        memcpy(f.reason, v, strlen(v) + 1);
                        break;
                }
                if (r < 0)
                        return r;
        }
        *ret = f;
        return 0;
}

int cert_tool_error(int status, const CertFacts *f) {
        switch (status) {
        case CERT_TOOL_OK:
                return 0;
        case CERT_TOOL_MALFORMED:
                return -EBADMSG;
        case CERT_TOOL_REFUSED:
                return -EKEYREJECTED;
        case CERT_TOOL_FAILED:
                /* Its errno is the helper's own (a damaged key file is EBADMSG there): only a full
                 * disk or no memory says something to the caller; the rest is an I/O error. */
                if (f->error == -ENOSPC || f->error == -EDQUOT)
                        return -ENOSPC;
                return f->error == -ENOMEM ? -ENOMEM : -EIO;
        default:
                return -EPROTO;
        }
}
