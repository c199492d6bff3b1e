/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "hubguard/fileio.h"

typedef struct Fixture {
        char *dir;
        char *path; /* dir/file, not created */
        mode_t saved_umask;
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-fileio");
        f->path = path_join(f->dir, "file");
        f->saved_umask = umask(022);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        (void) umask(f->saved_umask);
        (void) alarm(0);
        caps_restore();
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static mode_t file_mode(const char *path) {
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode & 07777;
}

/* ---------------------------------------------------------------------------------------------------
 * write_file_atomic()
 */

static void test_write_content(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *back = NULL;
        size_t n;

        assert_int_equal(write_file_atomic(f->path, "hello\0world", 11, 0600), 0);
        back = read_file_or_die(f->path, &n);
        assert_int_equal(n, 11);
        assert_memory_equal(back, "hello\0world", 11);
        /* Only the file itself is in the directory: the temporary was renamed, not copied. */
        assert_int_equal(dir_count_entries(f->dir), 1);
}

static void test_write_empty(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *back = NULL;
        size_t n = 99;

        assert_int_equal(write_file_atomic(f->path, "", 0, 0644), 0);
        back = read_file_or_die(f->path, &n);
        assert_int_equal(n, 0);
}

static void test_write_mode_ignores_umask(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *other = path_join(f->dir, "other");

        (void) umask(0077);
        assert_int_equal(write_file_atomic(f->path, "x", 1, 0644), 0);
        assert_int_equal(file_mode(f->path), 0644);

        (void) umask(0);
        assert_int_equal(write_file_atomic(other, "x", 1, 0600), 0);
        assert_int_equal(file_mode(other), 0600);
}

static void test_write_replaces_existing(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *back = NULL;
        struct stat before, after;
        size_t n;

        write_string_or_die(f->path, "a much longer old content that must not survive as a tail");
        assert_int_equal(chmod(f->path, 0666), 0);
        assert_int_equal(stat(f->path, &before), 0);

        assert_int_equal(write_file_atomic(f->path, "new", 3, 0640), 0);
        back = read_file_or_die(f->path, &n);
        assert_int_equal(n, 3);
        assert_string_equal(back, "new");
        assert_int_equal(file_mode(f->path), 0640);
        /* Replaced by rename, not rewritten in place: a reader never sees a half-written file. */
        assert_int_equal(stat(f->path, &after), 0);
        assert_int_not_equal(after.st_ino, before.st_ino);
        assert_int_equal(dir_count_entries(f->dir), 1);
}

static void test_write_missing_directory(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path_join(f->dir, "missing/file");

        assert_int_equal(write_file_atomic(p, "x", 1, 0644), -ENOENT);
        assert_int_equal(dir_count_entries(f->dir), 0);
}

static void test_write_failure_leaves_no_temp(void **state) {
        /* The target is a directory: the temporary is written, then the rename fails. */
        Fixture *f = *state;
        _cleanup_free_ char *inside = NULL;

        assert_int_equal(mkdir(f->path, 0755), 0);
        inside = path_join(f->path, "keep");
        write_string_or_die(inside, "kept");

        assert_int_equal(write_file_atomic(f->path, "x", 1, 0644), -EISDIR);
        assert_int_equal(dir_count_entries(f->dir), 1);
        assert_int_equal(dir_count_entries(f->path), 1);
}

static void test_write_unwritable_directory(void **state) {
        Fixture *f = *state;

        write_string_or_die(f->path, "old");
        assert_int_equal(chmod(f->dir, 0555), 0);
        caps_drop_dac();
        assert_int_equal(write_file_atomic(f->path, "new", 3, 0644), -EACCES);
        caps_restore();
        assert_int_equal(chmod(f->dir, 0755), 0);
        assert_int_equal(dir_count_entries(f->dir), 1);
}

static void test_write_name_too_long(void **state) {
        _cleanup_free_ char *p = malloc(PATH_MAX);

        /* Room for the path but not for the ".tmpXXXXXX" suffix. */
        assert_non_null(p);
        memset(p, 'a', PATH_MAX - 1);
        p[0] = '/';
        p[PATH_MAX - 5] = '\0';
        assert_int_equal(write_file_atomic(p, "x", 1, 0644), -ENAMETOOLONG);
}

/* ---------------------------------------------------------------------------------------------------
 * read_file_bounded()
 */

static void test_read_exact_content(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        size_t n = 0;

        write_file_or_die(f->path, "line 1\nline\0 2\n", 15);
        assert_int_equal(read_file_bounded(f->path, 4096, &data, &n), 0);
        assert_int_equal(n, 15);
        assert_memory_equal(data, "line 1\nline\0 2\n", 15);
        assert_int_equal(data[15], '\0');
}

static void test_read_empty(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        size_t n = 99;

        write_string_or_die(f->path, "");
        assert_int_equal(read_file_bounded(f->path, 0, &data, &n), 0);
        assert_int_equal(n, 0);
        assert_non_null(data);
        assert_string_equal(data, "");
}

static void test_read_size_optional(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL;

        write_string_or_die(f->path, "abc");
        assert_int_equal(read_file_bounded(f->path, 3, &data, NULL), 0);
        assert_string_equal(data, "abc");
}

static void test_read_at_limit(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        char buf[1000];
        size_t n;

        memset(buf, 'z', sizeof buf);
        write_file_or_die(f->path, buf, sizeof buf);
        assert_int_equal(read_file_bounded(f->path, sizeof buf, &data, &n), 0);
        assert_int_equal(n, sizeof buf);
        assert_memory_equal(data, buf, sizeof buf);
        assert_int_equal(data[sizeof buf], '\0');
}

static void test_read_too_large(void **state) {
        Fixture *f = *state;
        char *data = (char *) 0x1;
        size_t n = 7;

        write_string_or_die(f->path, "12345");
        assert_int_equal(read_file_bounded(f->path, 4, &data, &n), -EFBIG);
        assert_int_equal(read_file_bounded(f->path, 0, &data, &n), -EFBIG);
        /* Nothing is written to the output parameters on failure. */
        assert_ptr_equal(data, (char *) 0x1);
        assert_int_equal(n, 7);
}

static void test_read_growing_file_is_bounded(void **state) {
        /* /proc files report size 0 and have content: the read loop itself must enforce the bound. */
        _cleanup_free_ char *data = NULL;
        char *small = NULL;
        size_t n;

        assert_int_equal(read_file_bounded("/proc/self/status", 1024 * 1024, &data, &n), 0);
        assert_true(n > 16);
        assert_int_equal(strlen(data), n);
        assert_non_null(strstr(data, "Name:"));
        assert_int_equal(read_file_bounded("/proc/self/status", 16, &small, &n), -EFBIG);
        assert_null(small);
}

static void test_read_directory(void **state) {
        Fixture *f = *state;
        char *data = NULL;

        assert_int_equal(read_file_bounded(f->dir, 4096, &data, NULL), -EISDIR);
        assert_null(data);
}

static void test_read_char_device(void **state) {
        char *data = NULL;

        assert_int_equal(read_file_bounded("/dev/null", 4096, &data, NULL), -EBADFD);
        assert_null(data);
}

static void test_read_fifo_does_not_block(void **state) {
        Fixture *f = *state;
        char *data = NULL;

        /* A FIFO with no writer must be refused, not waited on; SIGALRM fails the test if it hangs. */
        assert_int_equal(mkfifo(f->path, 0644), 0);
        (void) alarm(10);
        assert_int_equal(read_file_bounded(f->path, 4096, &data, NULL), -EBADFD);
        (void) alarm(0);
        assert_null(data);
}

static void test_read_missing(void **state) {
        Fixture *f = *state;
        char *data = NULL;

        assert_int_equal(read_file_bounded(f->path, 4096, &data, NULL), -ENOENT);
        assert_null(data);
}

static void test_read_unreadable(void **state) {
        Fixture *f = *state;
        char *data = NULL;

        write_string_or_die(f->path, "secret");
        assert_int_equal(chmod(f->path, 0), 0);
        caps_drop_dac();
        assert_int_equal(read_file_bounded(f->path, 4096, &data, NULL), -EACCES);
        caps_restore();
        assert_null(data);
}

/* ---------------------------------------------------------------------------------------------------
 * loop_write(), fsync_parent_dir()
 */

static void test_loop_write_pipe(void **state) {
        _cleanup_free_ char *big = NULL, *back = NULL;
        int fds[2];
        size_t have = 0;
        pid_t pid;

        if (test_fork_unavailable())
                skip();
        big = malloc(256 * 1024);
        back = malloc(256 * 1024);
        assert_non_null(big);
        assert_non_null(back);
        for (size_t i = 0; i < 256 * 1024; i++)
                big[i] = (char) (i * 7);
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);

        /* More than a pipe buffer: loop_write has to come back after short writes. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                (void) close(fds[0]);
                _exit(loop_write(fds[1], big, 256 * 1024) == 0 ? 0 : 1);
        }
        (void) close(fds[1]);
        for (;;) {
                ssize_t n = read(fds[0], back + have, 256 * 1024 - have);

                assert_true(n >= 0);
                if (n == 0)
                        break;
                have += (size_t) n;
        }
        (void) close(fds[0]);
        assert_int_equal(have, 256 * 1024);
        assert_memory_equal(back, big, 256 * 1024);
        {
                int status;

                assert_int_equal(waitpid(pid, &status, 0), pid);
                assert_true(WIFEXITED(status));
                assert_int_equal(WEXITSTATUS(status), 0);
        }
}

static void test_loop_write_bad_fd(void **state) {
        assert_int_equal(loop_write(-1, "x", 1), -EBADF);
}

static void test_loop_write_broken_pipe(void **state) {
        struct sigaction sa = { .sa_handler = SIG_IGN }, old;
        int fds[2];

        assert_int_equal(sigaction(SIGPIPE, &sa, &old), 0);
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
        (void) close(fds[0]);
        assert_int_equal(loop_write(fds[1], "x", 1), -EPIPE);
        (void) close(fds[1]);
        assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

static void test_fsync_parent_dir(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *missing = path_join(f->dir, "nope/file");

        assert_int_equal(fsync_parent_dir(f->path), 0);
        assert_int_equal(fsync_parent_dir(missing), -ENOENT);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_write_content),
                FIXTURE_TEST(test_write_empty),
                FIXTURE_TEST(test_write_mode_ignores_umask),
                FIXTURE_TEST(test_write_replaces_existing),
                FIXTURE_TEST(test_write_missing_directory),
                FIXTURE_TEST(test_write_failure_leaves_no_temp),
                FIXTURE_TEST(test_write_unwritable_directory),
                FIXTURE_TEST(test_write_name_too_long),
                FIXTURE_TEST(test_read_exact_content),
                FIXTURE_TEST(test_read_empty),
                FIXTURE_TEST(test_read_size_optional),
                FIXTURE_TEST(test_read_at_limit),
                FIXTURE_TEST(test_read_too_large),
                FIXTURE_TEST(test_read_growing_file_is_bounded),
                FIXTURE_TEST(test_read_directory),
                FIXTURE_TEST(test_read_char_device),
                FIXTURE_TEST(test_read_fifo_does_not_block),
                FIXTURE_TEST(test_read_missing),
                FIXTURE_TEST(test_read_unreadable),
                FIXTURE_TEST(test_loop_write_pipe),
                FIXTURE_TEST(test_loop_write_bad_fd),
                FIXTURE_TEST(test_loop_write_broken_pipe),
                FIXTURE_TEST(test_fsync_parent_dir),
        };

        return cmocka_run_group_tests_name("fileio", tests, NULL, NULL);
}
