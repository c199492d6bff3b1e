/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Logging: to the journal with structured fields when our stderr is connected to it (systemd sets
 * $JOURNAL_STREAM), else one line per message on stderr. The macros record the caller's
 * CODE_FILE/CODE_LINE/CODE_FUNC. log_*_errno(r, ...) returns -abs(r) and sets errno so that "%m"
 * in the format prints strerror(r): `return log_error_errno(r, "Failed to open '%s': %m", p);`
 *
 * src/shared logs at debug at most; only daemon and tool code logs above that.
 */

#include <stdbool.h>
#include <syslog.h>

#include "hubguard/macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,    /* journal if stderr is the journal stream, else stderr */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_STDERR,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

void log_setup(const char *identifier);
void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
LogTarget log_get_target(void);
const char *log_get_identifier(void);

/* "debug", "info", "notice", "warning", "err", "crit", "alert", "emerg" (syslog names), or a digit */
int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
const char *log_target_to_string(LogTarget t);
LogTarget log_target_from_string(const char *s);

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format,
                 ...) _printf_(6, 7);

/*
 * Structured entry: fields is a NULL-terminated array of "KEY=value" strings added to the entry (may
 * be NULL); message_id is a 32-hex-digit id from message-ids.h, or NULL.
 */
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *fields, const char *format, ...)
        _printf_(8, 9);

#define log_full_errno(level, error, ...)                                                                 \
        ({                                                                                                \
                int _level_ = (level), _e_ = (error);                                                     \
                (_level_ <= log_get_max_level())                                                          \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__)          \
                        : -abs(_e_);                                                                      \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define STRV(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* log_struct(LOG_NOTICE, MESSAGE_ID_DAEMON_STARTED, STRV("HUBGUARD_DOMAIN=identity"), "Started"); */
#define log_struct_errno(level, error, message_id, fields, ...)                                           \
        ({                                                                                                \
                int _level_ = (level), _e_ = (error);                                                     \
                (_level_ <= log_get_max_level())                                                          \
                        ? log_struct_internal(_level_, _e_, __FILE__, __LINE__, __func__, message_id,     \
                                              fields, __VA_ARGS__)                                        \
                        : -abs(_e_);                                                                      \
        })
#define log_struct(level, message_id, fields, ...)                                                        \
        (void) log_struct_errno(level, 0, message_id, fields, __VA_ARGS__)

/* Log an out-of-memory condition and return -ENOMEM. */
#define log_oom() log_full_errno(LOG_ERR, ENOMEM, "Out of memory.")
