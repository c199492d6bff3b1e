/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * config_parse_buffer() on arbitrary bytes. Besides memory errors (ASan/UBSan), it checks what the
 * parser promises: a failure is -EINVAL with a line inside the input and leaves the configuration
 * as it was; a success gives values in range, and config_dump() of the result parses back to it.
 */

#include <string.h>
#include <syslog.h>

#include "fuzz.h"
#include "hubguard/conf.h"
#include "hubguard/macro.h"

/* Big enough for a line over CONF_LINE_MAX followed by more lines; bigger inputs only cost time. */
#define FUZZ_CONF_SIZE_MAX (4 * CONF_LINE_MAX)

static unsigned count_lines(const uint8_t *data, size_t size) {
        unsigned n = 1;

        for (size_t i = 0; i < size; i++)
                n += data[i] == '\n';
        return n;
}

/* The configuration as text: compared instead of the struct, which may come to hold pointers. */
static char *dump(const HubConfig *c, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        fuzz_check(f);
        config_dump(c, f);
        fuzz_check(fclose(f) == 0);
        if (ret_size)
                *ret_size = size;
        return buf;
}

static void check_round_trip(const HubConfig *c) {
        _cleanup_free_ char *text = NULL, *again = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig back = {};
        size_t size;

        text = dump(c, &size);
        /* Start from values the dump must overwrite, so that a key it leaves out shows. */
        fuzz_check(config_init_defaults(&back) == 0);
        back.general.log_level = c->general.log_level == LOG_EMERG ? LOG_DEBUG : LOG_EMERG;
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                back.domain[d].log_level = c->domain[d].log_level == LOG_ALERT ? LOG_CRIT : LOG_ALERT;
        fuzz_check(config_parse_buffer("dump", text, size, &back, &err) == 0);
        fuzz_check(back.general.log_level == c->general.log_level);
        for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                fuzz_check(back.domain[d].log_level == c->domain[d].log_level);
        again = dump(&back, NULL);
        fuzz_check(streq(again, text));
        config_done(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        ConfigError err = {};
        _cleanup_(config_done) HubConfig c = {};
        char line[sizeof err.file + sizeof err.message + 32];
        int r;

        if (outside_size_range(size, 0, FUZZ_CONF_SIZE_MAX))
                return 0;

        fuzz_check(config_init_defaults(&c) == 0);
        before = dump(&c, NULL);
        r = config_parse_buffer("fuzz.conf", (const char *) data, size, &c, &err);
        if (r < 0) {
                fuzz_check(r == -EINVAL);
                after = dump(&c, NULL);
                fuzz_check(streq(after, before));
                fuzz_check(streq(err.file, "fuzz.conf"));
                fuzz_check(err.line <= count_lines(data, size));
                fuzz_check(memchr(err.message, '\0', sizeof err.message));
                fuzz_check(err.message[0] != '\0');
                (void) config_error_format(&err, line, sizeof line);
                fuzz_check(strncmp(line, "fuzz.conf:", 10) == 0);
        } else {
                fuzz_check(r == 0);
                fuzz_check(c.general.log_level >= LOG_EMERG && c.general.log_level <= LOG_DEBUG);
                for (int d = 0; d < _HUB_DOMAIN_MAX; d++)
                        fuzz_check(c.domain[d].log_level >= -1 && c.domain[d].log_level <= LOG_DEBUG);
                check_round_trip(&c);
        }
        config_done(&c);
        return 0;
}
