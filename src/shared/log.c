/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "hubguard/log.h"
#include <assert.h>

/* One message, formatted; longer ones are cut (they are our own words, not data). */
#define LOG_LINE_MAX 2048
#define LOG_FIELDS_MAX 16

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_AUTO;
static const char *identifier = "hubguard";
static int use_journal = -1; /* resolved lazily from LOG_TARGET_AUTO */

static const char *const level_names[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit",  [LOG_ERR] = "err",
        [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

static const char *const target_names[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_STDERR] = "console",
};

/* Is stderr the stream systemd connected to the journal? ($JOURNAL_STREAM is "dev:inode".) */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(const char *ident) {
        if (ident)
                identifier = ident;
        use_journal = -1;
}

const char *log_get_identifier(void) {
        return identifier;
}

void log_set_max_level(int level) {
        assert(level >= LOG_EMERG && level <= LOG_DEBUG);
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_target(LogTarget t) {
        assert(t >= 0 && t < _LOG_TARGET_MAX);
        target = t;
        use_journal = -1;
}

LogTarget log_get_target(void) {
        return target;
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_names); i++)
                if (streq(s, level_names[i]))
                        return (int) i;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_names))
                return NULL;
        return level_names[level];
}

const char *log_target_to_string(LogTarget t) {
        if (t < 0 || t >= _LOG_TARGET_MAX)
                return NULL;
        return target_names[t];
}

LogTarget log_target_from_string(const char *s) {
        if (!s)
                return _LOG_TARGET_INVALID;
        for (int i = 0; i < _LOG_TARGET_MAX; i++)
                if (streq(s, target_names[i]))
                        return (LogTarget) i;
        return _LOG_TARGET_INVALID;
}

static bool journal_wanted(void) {
        if (target == LOG_TARGET_JOURNAL)
                return true;
        if (target == LOG_TARGET_STDERR)
                return false;
        if (use_journal < 0)
                use_journal = stderr_is_journal();
        return use_journal;
}

static void write_stderr(int level, const char *message_id, const char *const *fields, const char *msg) {
        /* One write per line, so lines of concurrent writers do not interleave. */
        char buf[LOG_LINE_MAX + 256];
        int n;

        n = snprintf(buf, sizeof buf, "%s[%s]: %s", identifier, strna(log_level_to_string(level)), msg);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof buf)
                n = sizeof buf - 1;
        /* Structured fields travel as key=value after the text, so scripts can grep for them. */
        if (message_id && (size_t) n < sizeof buf)
                n += snprintf(buf + n, sizeof buf - n, " MESSAGE_ID=%s", message_id);
        for (const char *const *f = fields; f && *f && (size_t) n < sizeof buf; f++)
                n += snprintf(buf + n, sizeof buf - n, " %s", *f);
        if ((size_t) n >= sizeof buf - 1)
                n = sizeof buf - 2;
        buf[n++] = '\n';
        (void) !write(STDERR_FILENO, buf, (size_t) n);
}

static int send_journal(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *fields, const char *msg) {
        char prio[32], mid[64], err[32], code_file[256], code_line[32], ident[96], text[LOG_LINE_MAX + 16];
        struct iovec iov[LOG_FIELDS_MAX + 8];
        int n = 0;

#define ADD(s) (iov[n++] = (struct iovec){ .iov_base = (void *) (s), .iov_len = strlen(s) })
        (void) snprintf(text, sizeof text, "MESSAGE=%s", msg);
        ADD(text);
        (void) snprintf(prio, sizeof prio, "PRIORITY=%d", level);
        ADD(prio);
        (void) snprintf(ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", identifier);
        ADD(ident);
        if (message_id) {
                (void) snprintf(mid, sizeof mid, "MESSAGE_ID=%s", message_id);
                ADD(mid);
        }
        if (error != 0) {
                (void) snprintf(err, sizeof err, "ERRNO=%d", abs(error));
                ADD(err);
        }
        for (const char *const *f = fields; f && *f && n < (int) ELEMENTSOF(iov); f++)
                ADD(*f);
#undef ADD
        (void) snprintf(code_file, sizeof code_file, "CODE_FILE=%s", file);
        (void) snprintf(code_line, sizeof code_line, "CODE_LINE=%d", line);
        return sd_journal_sendv_with_location(code_file, code_line, func, iov, n);
}

/* _printf_(8, 0): format is checked at our callers, and clang's -Wformat-nonliteral is satisfied here. */
_printf_(8, 0) static int log_dispatch(int level, int error, const char *file, int line, const char *func,
                                       const char *message_id, const char *const *fields, const char *format,
                                       va_list ap) {
        char msg[LOG_LINE_MAX];
        int saved = errno;

        /* Make %m print the error we were given. */
        errno = abs(error);
        (void) vsnprintf(msg, sizeof msg, format, ap);
        /* Our own text only, but a quoted user string could carry a newline: keep one line. */
        for (char *p = msg; *p; p++)
                if ((unsigned char) *p < ' ')
                        *p = ' ';

        if (!journal_wanted() || send_journal(level, error, file, line, func, message_id, fields, msg) < 0)
                write_stderr(level, message_id, fields, msg);

        errno = saved;
        if (error != 0)
                errno = abs(error);
        return -abs(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_dispatch(level, error, file, line, func, NULL, NULL, format, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *fields, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_dispatch(level, error, file, line, func, message_id, fields, format, ap);
        va_end(ap);
        return r;
}
