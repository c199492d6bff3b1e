/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-identityd's side of hub-identity-cert(8): cert_tool_run() and cert_facts_parse(), against the
 * real helper (its path is the first argument) and against programs that misbehave.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"
#include "hubguard/log.h"
#include "identityd-certtool.h"

static const char *tool;

#define ID_A "hub-0123456789abcdef0123456789abcdef"
#define ID_B "hub-fedcba9876543210fedcba9876543210"
#define TIMEOUT (20 * 1000000ULL)

typedef struct Fixture {
        char *dir, *other; /* two state directories, two device keys */
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-certtool");
        f->other = test_mkdtemp("test-certtool-other");
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        rm_rf_free(f->dir);
        rm_rf_free(f->other);
        free(f);
        return 0;
}

/* Under qemu-user (the cross build's tests) a spawned child never runs: see test_fork_unavailable(). */
#define REQUIRE_SPAWN()                          \
        do {                                     \
                if (test_fork_unavailable())     \
                        skip();                  \
        } while (0)

/* Run the helper; returns its status, its output parsed into *facts when it is facts. */
static int run(const char *const *args, const char *input, CertFacts *facts, char **ret_out) {
        char *out = NULL;
        int status;

        status = cert_tool_run(tool, args, input, input ? strlen(input) : 0, TIMEOUT, &out);
        assert_true(status >= 0);
        if (facts)
                assert_int_equal(cert_facts_parse(out, facts), 0);
        if (ret_out)
                *ret_out = out;
        else
                free(out);
        return status;
}

static void test_setup_makes_key_and_certificate(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *key = path_join(f->dir, IDENTITY_KEY_FILE), *cert = path_join(f->dir, IDENTITY_CERT_FILE);
        CertFacts a, b;
        struct stat st;
        int64_t now = (int64_t) time(NULL);
        REQUIRE_SPAWN();

        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &a, NULL), CERT_TOOL_OK);
        assert_string_equal(a.device_id, ID_A);
        assert_true(a.self_signed);
        assert_int_equal(strlen(a.fingerprint), 7 + 64);
        assert_memory_equal(a.fingerprint, "SHA256:", 7);
        /* SELF_SIGNED_DAYS, 3650 days, give or take the test's own time. */
        assert_in_range(a.not_after, now + 3650LL * 86400 - 60, now + 3650LL * 86400 + 60);
        assert_int_equal(stat(key, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(stat(cert, &st), 0);

        /* Again: the same key; another candidate id does not replace the certificate... */
        assert_int_equal(run(STRV("setup", f->dir, ID_B), NULL, &b, NULL), CERT_TOOL_OK);
        assert_string_equal(b.fingerprint, a.fingerprint);
        assert_int_equal(b.not_after, a.not_after);
        assert_string_equal(b.device_id, ID_B);
        /* ... and with --adopt the id the certificate names wins (a rebuilt database). */
        assert_int_equal(run(STRV("setup", f->dir, ID_B, "--adopt"), NULL, &b, NULL), CERT_TOOL_OK);
        assert_string_equal(b.device_id, ID_A);
}

static void test_setup_replaces_a_certificate_for_another_key(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *cert = path_join(f->dir, IDENTITY_CERT_FILE), *other = path_join(f->other, IDENTITY_CERT_FILE);
        _cleanup_free_ char *pem = NULL, *before = NULL;
        CertFacts a, b;
        REQUIRE_SPAWN();

        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &a, NULL), CERT_TOOL_OK);
        assert_int_equal(run(STRV("setup", f->other, ID_B), NULL, &b, NULL), CERT_TOOL_OK);
        assert_string_not_equal(a.fingerprint, b.fingerprint);
        before = read_file_or_die(other, NULL);
        write_string_or_die(cert, before);
        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &b, NULL), CERT_TOOL_OK);
        assert_string_equal(b.fingerprint, a.fingerprint);
        pem = read_file_or_die(cert, NULL);
        assert_string_not_equal(pem, before);
}

static void test_csr(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *out = NULL;
        CertFacts x;
        REQUIRE_SPAWN();

        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &x, NULL), CERT_TOOL_OK);
        assert_int_equal(run(STRV("csr", f->dir, ID_A), NULL, NULL, &out), CERT_TOOL_OK);
        assert_memory_equal(out, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
        /* No key: it fails, and says with which errno. */
        assert_int_equal(run(STRV("csr", f->other, ID_A), NULL, &x, NULL), CERT_TOOL_FAILED);
        assert_int_equal(x.error, -ENOENT);
}

static void test_install(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *own = path_join(f->dir, IDENTITY_CERT_FILE), *other = path_join(f->other, IDENTITY_CERT_FILE);
        _cleanup_free_ char *own_pem = NULL, *other_pem = NULL, *after = NULL;
        CertFacts a, x;
        REQUIRE_SPAWN();

        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &a, NULL), CERT_TOOL_OK);
        assert_int_equal(run(STRV("setup", f->other, ID_B), NULL, &x, NULL), CERT_TOOL_OK);
        own_pem = read_file_or_die(own, NULL);
        other_pem = read_file_or_die(other, NULL);

        assert_int_equal(run(STRV("install", f->dir, other), "garbage\n", NULL, NULL), CERT_TOOL_MALFORMED);
        assert_int_equal(run(STRV("install", f->dir, other), "", NULL, NULL), CERT_TOOL_MALFORMED);
        assert_int_equal(run(STRV("install", f->dir, own), other_pem, &x, NULL), CERT_TOOL_REFUSED);
        assert_string_equal(x.reason, "the certificate is not for this device's key");
        assert_int_equal(run(STRV("install", f->dir, other), own_pem, &x, NULL), CERT_TOOL_REFUSED);
        assert_non_null(strstr(x.reason, "does not chain to the configured CA"));
        after = read_file_or_die(own, NULL);
        assert_string_equal(after, own_pem);

        /* Its own certificate as the CA: it chains, and is stored. */
        assert_int_equal(run(STRV("install", f->dir, own), own_pem, &x, NULL), CERT_TOOL_OK);
        assert_string_equal(x.fingerprint, a.fingerprint);
        assert_int_equal(x.not_after, a.not_after);
        assert_string_equal(x.device_id, "");
}

static void test_bad_arguments(void **state) {
        Fixture *f = *state;

        REQUIRE_SPAWN();
        assert_int_equal(run(STRV("setup", f->dir, "not-an-id"), NULL, NULL, NULL), CERT_TOOL_USAGE);
        assert_int_equal(run(STRV("setup", "relative", ID_A), NULL, NULL, NULL), CERT_TOOL_USAGE);
        assert_int_equal(run(STRV("install", f->dir, "relative.pem"), NULL, NULL, NULL), CERT_TOOL_USAGE);
        assert_int_equal(run(STRV("frobnicate", f->dir, ID_A), NULL, NULL, NULL), CERT_TOOL_USAGE);
}

/* Programs that break the protocol: too slow, too talkative, killed, missing. */
static void test_run_limits(void **state) {
        char *big, *out = NULL;
        uint64_t t0;
        struct timespec ts;

        REQUIRE_SPAWN();
        big = malloc(4 * CERT_PEM_MAX + 1); /* four times a pipe's buffer */
        assert_non_null(big);
        memset(big, 'x', 4 * CERT_PEM_MAX);
        big[4 * CERT_PEM_MAX] = '\0';

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
        assert_int_equal(cert_tool_run("/bin/sleep", STRV("30"), NULL, 0, 200000, &out), -ETIMEDOUT);
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        assert_true((uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000 - t0 < 10000000ULL);

        /* cat echoes its stdin: all of a small one, and a large one is too much output. */
        assert_int_equal(cert_tool_run("/bin/cat", STRV("-"), "a=b\n", 4, TIMEOUT, &out), 0);
        assert_string_equal(out, "a=b\n");
        free(out);
        out = NULL;
        assert_int_equal(cert_tool_run("/bin/cat", STRV("-"), big, CERT_PEM_MAX, TIMEOUT, &out), -EMSGSIZE);
        assert_null(out);

        /* One that exits without reading its input: its status counts, not the broken pipe. */
        assert_int_equal(cert_tool_run("/bin/sh", STRV("-c", "exit 3"), big, 4 * CERT_PEM_MAX, TIMEOUT, &out), 3);
        assert_string_equal(out, "");
        free(out);
        out = NULL;
        assert_int_equal(cert_tool_run("/bin/sh", STRV("-c", "kill -9 $$"), NULL, 0, TIMEOUT, &out), -ECHILD);
        assert_int_equal(cert_tool_run("/nonexistent/hub-identity-cert", STRV("setup"), NULL, 0, TIMEOUT, &out),
                         -ENOENT);
        assert_null(out);
        free(big);
}

/* A certificate that cannot be read now may be the cloud's: setup fails, and replaces nothing. */
static void test_setup_keeps_an_unreadable_certificate(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *cert = path_join(f->dir, IDENTITY_CERT_FILE);
        struct stat st;
        CertFacts x;

        REQUIRE_SPAWN();
        assert_int_equal(mkdir(cert, 0700), 0); /* reading it fails with EISDIR */
        assert_int_equal(run(STRV("setup", f->dir, ID_A), NULL, &x, NULL), CERT_TOOL_FAILED);
        assert_int_equal(x.error, -EISDIR);
        assert_int_equal(stat(cert, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
}

static size_t open_fds(void) {
        return dir_count_entries("/proc/self/fd");
}

/* What a run leaves behind (nothing: no fd, no child), and what the child does not inherit. */
static void test_run_hygiene(void **state) {
        char *big, *out = NULL, *ign;
        size_t fds;
        sigset_t term, old;

        REQUIRE_SPAWN();
        big = malloc(1 << 20);
        assert_non_null(big);
        memset(big, 'x', 1 << 20);
        fds = open_fds();
        /* It never reads: the write end of its stdin stays full when the time is up. */
        assert_int_equal(cert_tool_run("/bin/sleep", STRV("30"), big, 1 << 20, 200000, &out), -ETIMEDOUT);
        assert_int_equal(open_fds(), fds);
        /* It closes its stdout and lingers: the deadline still holds. */
        assert_int_equal(cert_tool_run("/bin/sh", STRV("-c", "exec >&-; exec sleep 30"), NULL, 0, 200000, &out), -ETIMEDOUT);
        assert_int_equal(open_fds(), fds);
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* no child left: all reaped */
        assert_int_equal(errno, ECHILD);
        /* A NUL in its output. */
        assert_int_equal(cert_tool_run("/bin/sh", STRV("-c", "printf 'a=b\\0\\n'"), NULL, 0, TIMEOUT, &out), -EBADMSG);
        assert_null(out);

        /* Our environment's secrets and our signal dispositions stay here. */
        assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x", 1), 0);
        assert_int_equal(setenv("JOURNAL_STREAM", "8:1234", 1), 0);
        assert_int_equal(cert_tool_run("/usr/bin/env", STRV(NULL), NULL, 0, TIMEOUT, &out), 0);
        assert_null(strstr(out, "CREDENTIALS_DIRECTORY"));
        assert_non_null(strstr(out, "JOURNAL_STREAM=8:1234\n"));
        free(out);
        out = NULL;
        (void) unsetenv("CREDENTIALS_DIRECTORY");
        (void) unsetenv("JOURNAL_STREAM");
        (void) sigemptyset(&term);
        (void) sigaddset(&term, SIGTERM);
        assert_int_equal(sigprocmask(SIG_BLOCK, &term, &old), 0);
        assert_int_equal(cert_tool_run("/bin/grep", STRV("-E", "^Sig(Blk|Ign)", "/proc/self/status"), NULL, 0, TIMEOUT,
                                       &out),
                         0);
        assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
        assert_non_null(strstr(out, "SigBlk:\t0000000000000000\n"));
        /* (glibc's posix_spawn leaves its own two internal signals, 32 and 33, ignored.) */
        ign = strstr(out, "SigIgn:\t");
        assert_non_null(ign);
        assert_int_equal(strtoull(ign + 8, NULL, 16) & ((1ULL << (SIGPIPE - 1)) | (1ULL << (SIGTERM - 1))), 0);
        free(out);
        free(big);
}

#define FP "SHA256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_facts_parse(void **state) {
        CertFacts x;

        assert_int_equal(cert_facts_parse("", &x), 0);
        assert_int_equal(x.seen, 0u);
        assert_int_equal(cert_facts_parse("device_id=" ID_A "\nfingerprint=" FP "\nnot_after=-5\nself_signed=1\n", &x), 0);
        assert_string_equal(x.device_id, ID_A);
        assert_string_equal(x.fingerprint, FP);
        assert_int_equal(x.not_after, -5);
        assert_true(x.self_signed);
        assert_int_equal(x.seen & CERT_FACTS_CERTIFICATE, CERT_FACTS_CERTIFICATE);
        assert_int_equal(cert_facts_parse("errno=2\nreason=the reason, with = in it\n", &x), 0);
        assert_int_equal(x.error, -ENOENT);
        assert_string_equal(x.reason, "the reason, with = in it");
        assert_int_equal(x.seen & CERT_FACTS_CERTIFICATE, 0u);

        static const char *const bad[] = {
                "device_id=hub-x\n",         ("fingerprint=" FP),       "no equals sign\n",
                "not_after=12x\n",           "not_after=\n",           "self_signed=2\n",
                "errno=0\n",                 "errno=-1\n",             "errno=99999\n",
                "colour=blue\n",             "not_after=99999999999999999999\n",
                "fingerprint=SHA256:ab\n",   "fingerprint=MD5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
                "fingerprint=SHA256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\n",
                "not_after=1\nnot_after=2\n", "reason=a\x01b\n",       "reason=\xff\xfe\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(cert_facts_parse(bad[i], &x), -EBADMSG);
}

/* The helper's errno is its own business: only a full disk or no memory reaches a caller as such. */
static void test_error_mapping(void **state) {
        CertFacts f = {};

        assert_int_equal(cert_tool_error(CERT_TOOL_OK, &f), 0);
        assert_int_equal(cert_tool_error(CERT_TOOL_MALFORMED, &f), -EBADMSG);
        assert_int_equal(cert_tool_error(CERT_TOOL_REFUSED, &f), -EKEYREJECTED);
        assert_int_equal(cert_tool_error(CERT_TOOL_USAGE, &f), -EPROTO);
        assert_int_equal(cert_tool_error(77, &f), -EPROTO);
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -EIO);
        f.error = -EBADMSG; /* a damaged device.key: not the caller's malformed certificate */
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -EIO);
        f.error = -EPERM;
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -EIO);
        f.error = -ENOSPC;
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -ENOSPC);
        f.error = -EDQUOT;
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -ENOSPC);
        f.error = -ENOMEM;
        assert_int_equal(cert_tool_error(CERT_TOOL_FAILED, &f), -ENOMEM);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_setup_makes_key_and_certificate),
                FIXTURE_TEST(test_setup_replaces_a_certificate_for_another_key),
                FIXTURE_TEST(test_csr),
                FIXTURE_TEST(test_install),
                FIXTURE_TEST(test_bad_arguments),
                cmocka_unit_test(test_run_limits),
                cmocka_unit_test(test_run_hygiene),
                cmocka_unit_test(test_facts_parse),
                cmocka_unit_test(test_error_mapping),
                FIXTURE_TEST(test_setup_keeps_an_unreadable_certificate),
        };

        if (argc != 2) {
                fprintf(stderr, "usage: %s PATH-OF-hub-identity-cert\n", argv[0]);
                return 2;
        }
        tool = argv[1];
        /* As every daemon does (daemon.c): a child that stops reading is an EPIPE, not a signal. */
        (void) signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests_name("certtool", tests, NULL, NULL);
}
