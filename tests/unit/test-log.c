/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"

/* Every test starts from the same global state: stderr, level info, our identifier. */
static int log_fixture_setup(void **state) {
        log_setup("test-log");
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_INFO);
        (void) unsetenv("JOURNAL_STREAM");
        return 0;
}

/* ---------------------------------------------------------------------------------------------------
 * log_level_from_string(), log_level_to_string()
 */

static void test_level_round_trip(void **state) {
        for (int level = LOG_EMERG; level <= LOG_DEBUG; level++) {
                const char *s = log_level_to_string(level);

                assert_non_null(s);
                assert_int_equal(log_level_from_string(s), level);
        }
}

static void test_level_names(void **state) {
        assert_string_equal(log_level_to_string(LOG_EMERG), "emerg");
        assert_string_equal(log_level_to_string(LOG_ALERT), "alert");
        assert_string_equal(log_level_to_string(LOG_CRIT), "crit");
        assert_string_equal(log_level_to_string(LOG_ERR), "err");
        assert_string_equal(log_level_to_string(LOG_WARNING), "warning");
        assert_string_equal(log_level_to_string(LOG_NOTICE), "notice");
        assert_string_equal(log_level_to_string(LOG_INFO), "info");
        assert_string_equal(log_level_to_string(LOG_DEBUG), "debug");
}

static void test_level_digits(void **state) {
        char s[2] = "0";

        for (int level = 0; level <= 7; level++) {
                s[0] = (char) ('0' + level);
                assert_int_equal(log_level_from_string(s), level);
        }
}

static void test_level_invalid(void **state) {
        assert_int_equal(log_level_from_string("8"), -EINVAL);
        assert_int_equal(log_level_from_string("-1"), -EINVAL);
        assert_int_equal(log_level_from_string("07"), -EINVAL);
        assert_int_equal(log_level_from_string("1 "), -EINVAL);
        assert_int_equal(log_level_from_string(""), -EINVAL);
        assert_int_equal(log_level_from_string("INFO"), -EINVAL);
        assert_int_equal(log_level_from_string("info "), -EINVAL);
        assert_int_equal(log_level_from_string("error"), -EINVAL);
        assert_int_equal(log_level_from_string("warn"), -EINVAL);
        assert_int_equal(log_level_from_string(NULL), -EINVAL);
        assert_null(log_level_to_string(-1));
        assert_null(log_level_to_string(8));
}

/* ---------------------------------------------------------------------------------------------------
 * log_target_from_string(), log_target_to_string(), log_set_target(), log_set_max_level()
 */

static void test_target_round_trip(void **state) {
        for (LogTarget t = 0; t < _LOG_TARGET_MAX; t++)
                assert_int_equal(log_target_from_string(log_target_to_string(t)), t);
        assert_string_equal(log_target_to_string(LOG_TARGET_AUTO), "auto");
        assert_string_equal(log_target_to_string(LOG_TARGET_JOURNAL), "journal");
        assert_string_equal(log_target_to_string(LOG_TARGET_STDERR), "console");
}

static void test_target_invalid(void **state) {
        assert_int_equal(log_target_from_string("stderr"), -EINVAL);
        assert_int_equal(log_target_from_string("Journal"), -EINVAL);
        assert_int_equal(log_target_from_string(""), -EINVAL);
        assert_int_equal(log_target_from_string(NULL), -EINVAL);
        assert_null(log_target_to_string(_LOG_TARGET_MAX));
        assert_null(log_target_to_string(_LOG_TARGET_INVALID));
}

static void test_setters_and_getters(void **state) {
        log_set_target(LOG_TARGET_JOURNAL);
        assert_int_equal(log_get_target(), LOG_TARGET_JOURNAL);
        log_set_max_level(LOG_DEBUG);
        assert_int_equal(log_get_max_level(), LOG_DEBUG);
        log_setup("other");
        assert_string_equal(log_get_identifier(), "other");
        /* NULL keeps the identifier. */
        log_setup(NULL);
        assert_string_equal(log_get_identifier(), "other");
}

/* ---------------------------------------------------------------------------------------------------
 * log_*_errno(): return value and errno
 */

static void test_errno_return_negative(void **state) {
        errno = 0;
        log_set_max_level(LOG_EMERG); /* nothing printed: the return value does not depend on it */
        assert_int_equal(log_error_errno(-ENOENT, "x"), -ENOENT);
        assert_int_equal(log_error_errno(ENOENT, "x"), -ENOENT);
        assert_int_equal(log_debug_errno(-EACCES, "x"), -EACCES);
        assert_int_equal(log_warning_errno(EPERM, "x"), -EPERM);
}

static int errno_after;

static void log_errno_sets_errno(void *userdata) {
        int *r = userdata;

        errno = 0;
        *r = log_error_errno(-EACCES, "denied");
        errno_after = errno;
}

static void test_errno_sets_errno(void **state) {
        _cleanup_free_ char *out = NULL;
        int r = 0;

        out = capture_stderr(log_errno_sets_errno, &r);
        assert_int_equal(r, -EACCES);
        assert_int_equal(errno_after, EACCES);
        assert_string_equal(out, "test-log[err]: denied\n");
}

static void log_positive_errno(void *userdata) {
        int *r = userdata;

        errno = 0;
        *r = log_notice_errno(ENOSPC, "full: %m");
        errno_after = errno;
}

static void test_errno_positive_input(void **state) {
        _cleanup_free_ char *out = NULL;
        int r = 0;

        out = capture_stderr(log_positive_errno, &r);
        assert_int_equal(r, -ENOSPC);
        assert_int_equal(errno_after, ENOSPC);
        assert_string_equal(out, "test-log[notice]: full: No space left on device\n");
}

static void log_no_error(void *userdata) {
        errno = EEXIST;
        log_info("no error here");
        errno_after = errno;
}

static void test_log_without_error_keeps_errno(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_no_error, NULL);

        assert_int_equal(errno_after, EEXIST);
        assert_string_equal(out, "test-log[info]: no error here\n");
}

static void test_log_oom(void **state) {
        log_set_max_level(LOG_EMERG);
        assert_int_equal(log_oom(), -ENOMEM);
}

/* ---------------------------------------------------------------------------------------------------
 * stderr output
 */

static void log_percent_m(void *userdata) {
        (void) log_error_errno(-ENOENT, "Failed to open '%s': %m", "/etc/x.conf");
}

static void test_stderr_format(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_percent_m, NULL);

        assert_string_equal(out, "test-log[err]: Failed to open '/etc/x.conf': No such file or directory\n");
}

static void log_each_level(void *userdata) {
        log_set_max_level(LOG_DEBUG);
        log_full(LOG_EMERG, "a");
        log_full(LOG_ALERT, "b");
        log_full(LOG_CRIT, "c");
        log_error("d");
        log_warning("e");
        log_notice("f");
        log_info("g");
        log_debug("h");
}

static void test_stderr_each_level(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_each_level, NULL);

        assert_string_equal(out, "test-log[emerg]: a\ntest-log[alert]: b\ntest-log[crit]: c\n"
                                 "test-log[err]: d\ntest-log[warning]: e\ntest-log[notice]: f\n"
                                 "test-log[info]: g\ntest-log[debug]: h\n");
}

static void log_filtered(void *userdata) {
        log_set_max_level(LOG_WARNING);
        log_debug("debug");
        log_info("info");
        log_notice("notice");
        log_warning("warning");
        log_error("error");
}

static void test_stderr_max_level_filters(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_filtered, NULL);

        assert_string_equal(out, "test-log[warning]: warning\ntest-log[err]: error\n");
}

static int format_evaluations;

static const char *count_evaluation(void) {
        format_evaluations++;
        return "x";
}

static void log_suppressed_args(void *userdata) {
        log_debug("%s", count_evaluation());
}

static void test_suppressed_arguments_not_evaluated(void **state) {
        _cleanup_free_ char *out = NULL;

        format_evaluations = 0;
        out = capture_stderr(log_suppressed_args, NULL);
        assert_string_equal(out, "");
        assert_int_equal(format_evaluations, 0);
}

static void log_structured(void *userdata) {
        log_struct(LOG_NOTICE, MESSAGE_ID_DAEMON_STARTED, STRV("HUBGUARD_DOMAIN=identity", "HUB_TOPIC=a/b"),
                   "Started %s", "hub-identityd");
}

static void test_stderr_structured_fields(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_structured, NULL);

        assert_string_equal(out, "test-log[notice]: Started hub-identityd"
                                 " MESSAGE_ID=" MESSAGE_ID_DAEMON_STARTED
                                 " HUBGUARD_DOMAIN=identity HUB_TOPIC=a/b\n");
}

static void log_struct_with_error(void *userdata) {
        int *r = userdata;

        *r = log_struct_errno(LOG_ERR, -EIO, NULL, NULL, "I/O: %m");
}

static void test_stderr_struct_errno(void **state) {
        _cleanup_free_ char *out = NULL;
        int r = 0;

        out = capture_stderr(log_struct_with_error, &r);
        assert_int_equal(r, -EIO);
        assert_string_equal(out, "test-log[err]: I/O: Input/output error\n");
}

static void log_control_characters(void *userdata) {
        log_info("name '%s'", "evil\nfake-line\r\x1b[31m");
}

static void test_stderr_control_characters_replaced(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_control_characters, NULL);

        assert_string_equal(out, "test-log[info]: name 'evil fake-line  [31m'\n");
}

static void log_very_long(void *userdata) {
        char *big = malloc(10000);

        assert_non_null(big);
        memset(big, 'x', 9999);
        big[9999] = '\0';
        log_struct(LOG_INFO, MESSAGE_ID_DAEMON_STARTED, STRV("K=v"), "%s", big);
        free(big);
}

static void test_stderr_long_message_one_line(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_very_long, NULL);
        size_t n = strlen(out);

        /* Cut, but still exactly one line, ending in a newline. */
        assert_true(n > 2000);
        assert_true(n < 3000);
        assert_int_equal(out[n - 1], '\n');
        assert_null(memchr(out, '\n', n - 1));
        assert_memory_equal(out, "test-log[info]: xxxx", 20);
}

static void log_auto_target(void *userdata) {
        log_set_target(LOG_TARGET_AUTO);
        log_info("auto");
}

static void test_auto_without_journal_stream_is_stderr(void **state) {
        _cleanup_free_ char *out = capture_stderr(log_auto_target, NULL);

        assert_string_equal(out, "test-log[info]: auto\n");
}

static void test_auto_foreign_journal_stream_is_stderr(void **state) {
        _cleanup_free_ char *out = NULL;

        /* $JOURNAL_STREAM names some other file than our stderr (inherited from a parent). */
        assert_int_equal(setenv("JOURNAL_STREAM", "1:1", 1), 0);
        out = capture_stderr(log_auto_target, NULL);
        assert_string_equal(out, "test-log[info]: auto\n");
        free(out);

        assert_int_equal(setenv("JOURNAL_STREAM", "garbage", 1), 0);
        out = capture_stderr(log_auto_target, NULL);
        assert_string_equal(out, "test-log[info]: auto\n");
}

#define LOG_TEST(t) cmocka_unit_test_setup(t, log_fixture_setup)

int main(void) {
        const struct CMUnitTest tests[] = {
                LOG_TEST(test_level_round_trip),
                LOG_TEST(test_level_names),
                LOG_TEST(test_level_digits),
                LOG_TEST(test_level_invalid),
                LOG_TEST(test_target_round_trip),
                LOG_TEST(test_target_invalid),
                LOG_TEST(test_setters_and_getters),
                LOG_TEST(test_errno_return_negative),
                LOG_TEST(test_errno_sets_errno),
                LOG_TEST(test_errno_positive_input),
                LOG_TEST(test_log_without_error_keeps_errno),
                LOG_TEST(test_log_oom),
                LOG_TEST(test_stderr_format),
                LOG_TEST(test_stderr_each_level),
                LOG_TEST(test_stderr_max_level_filters),
                LOG_TEST(test_suppressed_arguments_not_evaluated),
                LOG_TEST(test_stderr_structured_fields),
                LOG_TEST(test_stderr_struct_errno),
                LOG_TEST(test_stderr_control_characters_replaced),
                LOG_TEST(test_stderr_long_message_one_line),
                LOG_TEST(test_auto_without_journal_stream_is_stderr),
                LOG_TEST(test_auto_foreign_journal_stream_is_stderr),
        };

        return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
