/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <fcntl.h>
#include <ftw.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <dirent.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"

static _noreturn_ void die(const char *what, const char *arg) {
        fprintf(stderr, "test helper: %s '%s': %m\n", what, arg);
        abort();
}

char *test_mkdtemp(const char *prefix) {
        const char *tmp = getenv("TMPDIR");
        char *dir;

        if (isempty(tmp))
                tmp = "/tmp";
        if (asprintf(&dir, "%s/%s.XXXXXX", tmp, prefix) < 0)
                die("asprintf", prefix);
        if (!mkdtemp(dir))
                die("mkdtemp", dir);
        return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (flag == FTW_DP)
                return rmdir(path) < 0 ? -1 : 0;
        return unlink(path) < 0 ? -1 : 0;
}

static int chmod_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        /* Directories a test made unreadable must be searchable again before we can empty them. */
        if (flag == FTW_D || flag == FTW_DNR)
                (void) chmod(path, 0700);
        return 0;
}

void rm_rf_free(char *dir) {
        if (!dir)
                return;
        (void) nftw(dir, chmod_one, 16, FTW_PHYS);
        if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
                fprintf(stderr, "test helper: cannot remove '%s': %m\n", dir);
        free(dir);
}

char *path_join(const char *dir, const char *name) {
        char *p;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                die("asprintf", name);
        return p;
}

void write_file_or_die(const char *path, const void *data, size_t len) {
        _cleanup_close_ int fd = -EBADF;
        const char *p = data;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                die("open", path);
        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n <= 0)
                        die("write", path);
                p += n;
                len -= (size_t) n;
        }
}

void write_string_or_die(const char *path, const char *s) {
        write_file_or_die(path, s, strlen(s));
}

char *read_file_or_die(const char *path, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = NULL;
        char *buf = NULL;
        size_t size = 0, have = 0;

        f = fopen(path, "re");
        if (!f)
                die("fopen", path);
        for (;;) {
                size_t n;

                if (have + 1 >= size) {
                        size = size ? size * 2 : 4096;
                        buf = realloc(buf, size);
                        if (!buf)
                                die("realloc", path);
                }
                n = fread(buf + have, 1, size - have - 1, f);
                have += n;
                if (n == 0)
                        break;
        }
        if (ferror(f))
                die("fread", path);
        buf[have] = '\0';
        if (ret_size)
                *ret_size = have;
        return buf;
}

size_t dir_count_entries(const char *dir) {
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        d = opendir(dir);
        if (!d)
                die("opendir", dir);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        (void) closedir(d);
        return n;
}

static void caps_set_dac(bool on) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
        unsigned mask = (1U << CAP_DAC_OVERRIDE) | (1U << CAP_DAC_READ_SEARCH);

        if (syscall(SYS_capget, &h, d) < 0)
                die("capget", "self");
        if (on)
                d[0].effective |= mask & d[0].permitted;
        else
                d[0].effective &= ~mask;
        if (syscall(SYS_capset, &h, d) < 0)
                die("capset", "self");
}

void caps_drop_dac(void) {
        caps_set_dac(false);
}

void caps_restore(void) {
        caps_set_dac(true);
}

bool test_fork_unavailable(void) {
        const char *e = getenv("HUBGUARD_TEST_NO_FORK");

        return e && strcmp(e, "1") == 0;
}

char *capture_stderr(void (*f)(void *userdata), void *userdata) {
        _cleanup_close_ int saved = -EBADF;
        int pipefd[2];
        char *buf;
        size_t have = 0, size = 65536;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe2", "stderr");
        /* The pipe must hold everything f writes: we read only after it returns. */
        (void) fcntl(pipefd[1], F_SETPIPE_SZ, (int) size);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        if (saved < 0 || dup2(pipefd[1], STDERR_FILENO) < 0)
                die("dup2", "stderr");
        (void) close(pipefd[1]);

        f(userdata);

        fflush(stderr);
        if (dup2(saved, STDERR_FILENO) < 0)
                die("dup2", "stderr");
        buf = malloc(size + 1);
        if (!buf)
                die("malloc", "stderr");
        for (;;) {
                ssize_t n = read(pipefd[0], buf + have, size - have);

                if (n < 0)
                        die("read", "stderr pipe");
                if (n == 0)
                        break;
                have += (size_t) n;
                if (have == size)
                        break;
        }
        (void) close(pipefd[0]);
        buf[have] = '\0';
        return buf;
}

char *dump_to_string(const HubConfig *c, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&buf, &size);

        assert_non_null(m);
        config_dump(c, m);
        assert_int_equal(fclose(m), 0);
        if (ret_size)
                *ret_size = size;
        return buf;
}

void assert_config_equal(const HubConfig *a, const HubConfig *b) {
        _cleanup_free_ char *ta = NULL, *tb = NULL;

        assert_int_equal(a->general.log_level, b->general.log_level);
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                assert_int_equal(a->domain[d].log_level, b->domain[d].log_level);
        ta = dump_to_string(a, NULL);
        tb = dump_to_string(b, NULL);
        assert_string_equal(ta, tb);
}
