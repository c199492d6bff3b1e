/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The arguments of org.hubguard.identity1.Manager's password methods (identityd-args.h), checked
 * before the caller is authorised, so anyone on the bus reaches them: the account, the passwords,
 * VerifyPassword's a{sv} options, and, for a password that passes, the strength check SetPassword
 * and ChangePassword run (libpasswdqc).
 *
 * Input: "ACCOUNT\nPASSWORD\nOLD\nSOURCE\n" then the options as records: a type byte (string, uint32,
 * boolean, array of strings), a key length byte, the key, a value length byte, the value. The
 * strings are checked directly, as raw bytes, against references written here; the options go
 * through a real sealed sd-bus message (sd-bus itself refuses strings that are not UTF-8, which the
 * direct checks still see).
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "identityd-args.h"
#include "identityd-password.h"

#define FUZZ_ARGS_SIZE_MAX 4096
#define OPTIONS_MAX 8

typedef struct Option {
        uint8_t type;
        char key[256], value[256];
        size_t value_len;
} Option;

static sd_bus *bus;

/* A bus object to build messages with: one end of a socket pair, never connected to a daemon. */
static sd_bus *fuzz_bus(void) {
        int fds[2];

        if (bus)
                return bus;
        fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        fuzz_check(sd_bus_new(&bus) >= 0);
        fuzz_check(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        fuzz_check(sd_bus_start(bus) >= 0);
        (void) close(fds[1]);
        return bus;
}

static bool ref_source(const char *s) {
        size_t n = strlen(s);

        return n >= 1 && n <= SOURCE_LABEL_MAX && strspn(s, SOURCE_LABEL_CHARS) == n;
}

/* The next '\n'-terminated field into buf (NUL-terminated, embedded NULs kept), or false. */
static bool next_field(const uint8_t **data, size_t *size, char *buf, size_t buf_size) {
        const uint8_t *nl = memchr(*data, '\n', *size);
        size_t n;

        if (!nl)
                return false;
        n = (size_t) (nl - *data);
        if (n >= buf_size)
                return false;
        memcpy(buf, *data, n);
        buf[n] = '\0';
        *size -= n + 1;
        *data = nl + 1;
        return true;
}

static bool next_bytes(const uint8_t **data, size_t *size, char *buf, size_t buf_size, size_t *ret_len) {
        size_t n;

        if (*size < 1)
                return false;
        n = (*data)[0];
        if (*size < 1 + n || n >= buf_size)
                return false;
        memcpy(buf, *data + 1, n);
        buf[n] = '\0';
        *data += 1 + n;
        *size -= 1 + n;
        if (ret_len)
                *ret_len = n;
        return true;
}

static void check_error(int r, const sd_bus_error *error) {
        fuzz_check(r < 0);
        fuzz_check(sd_bus_error_has_name(error, SD_BUS_ERROR_INVALID_ARGS));
        fuzz_check(error->message && string_is_safe(error->message, 1024));
}

static void check_strings(const char *account, const char *pw, const char *old_pw, const char *source) {
        _cleanup_(sd_bus_error_free) sd_bus_error e1 = SD_BUS_ERROR_NULL, e2 = SD_BUS_ERROR_NULL;
        bool pw_ok = strlen(pw) >= 1 && strlen(pw) <= PASSWORD_MAX && string_is_safe(pw, SIZE_MAX);
        int r;

        r = identity_check_account(account, &e1);
        fuzz_check((r == 0) == streq(account, "admin"));
        if (r < 0)
                check_error(r, &e1);

        fuzz_check(password_input_is_valid(pw) == pw_ok);
        r = identity_check_password_arg(pw, "password", &e2);
        fuzz_check((r == 0) == pw_ok);
        if (r < 0)
                check_error(r, &e2);

        fuzz_check(source_label_is_valid(source) == ref_source(source));

        /* What SetPassword and ChangePassword do with a password that passed. */
        if (pw_ok) {
                char reason[256];
                const char *old = password_input_is_valid(old_pw) ? old_pw : NULL;

                memset(reason, 0xff, sizeof reason);
                r = password_check_strength(pw, old, "admin", reason, sizeof reason);
                fuzz_check(r == 0 || r == -EINVAL);
                if (r < 0)
                        fuzz_check(strnlen(reason, sizeof reason) > 0 && string_is_safe(reason, sizeof reason - 1));
        }
}

static int append_option(sd_bus_message *m, const Option *o) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", o->key);
        if (r < 0)
                return r;
        switch (o->type % 4) {
        case 0:
                r = sd_bus_message_append(m, "v", "s", o->value);
                break;
        case 1: {
                uint32_t u = 0;

                memcpy(&u, o->value, MIN(o->value_len, sizeof u));
                r = sd_bus_message_append(m, "v", "u", u);
                break;
        }
        case 2:
                r = sd_bus_message_append(m, "v", "b", o->value_len > 0 && o->value[0] & 1);
                break;
        default:
                r = sd_bus_message_append(m, "v", "as", 2, o->value, o->key);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static void check_options(const Option *opts, size_t n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *source = NULL, *want_source = NULL;
        bool want = true;
        int r;

        fuzz_check(sd_bus_message_new_method_call(fuzz_bus(), &m, "org.hubguard.identity1", "/org/hubguard/identity1",
                                                  "org.hubguard.identity1.Manager", "VerifyPassword") >= 0);
        fuzz_check(sd_bus_message_open_container(m, 'a', "{sv}") >= 0);
        for (size_t i = 0; i < n; i++) {
                /* Strings that are not UTF-8 cannot be sent: sd-bus refuses them here, and on receipt. */
                if (append_option(m, &opts[i]) < 0)
                        return;
                if (!want)
                        continue;
                if (!streq(opts[i].key, "Source") || opts[i].type % 4 != 0 || !ref_source(opts[i].value))
                        want = false;
                else
                        want_source = opts[i].value;
        }
        fuzz_check(sd_bus_message_close_container(m) >= 0);
        fuzz_check(sd_bus_message_seal(m, 1, 0) >= 0);
        fuzz_check(sd_bus_message_rewind(m, true) >= 0);

        r = identity_read_options(m, &source, &error);
        if (want) {
                fuzz_check(r >= 0 && !sd_bus_error_is_set(&error));
                fuzz_check(want_source ? source && streq(source, want_source) : !source);
        } else
                check_error(r, &error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char account[512], pw[512], old_pw[512], source[512];
        Option opts[OPTIONS_MAX];
        size_t n = 0;

        if (outside_size_range(size, 0, FUZZ_ARGS_SIZE_MAX))
                return 0;
        if (!next_field(&data, &size, account, sizeof account) || !next_field(&data, &size, pw, sizeof pw) ||
            !next_field(&data, &size, old_pw, sizeof old_pw) || !next_field(&data, &size, source, sizeof source))
                return 0;
        check_strings(account, pw, old_pw, source);

        while (n < OPTIONS_MAX && size > 0) {
                Option *o = &opts[n];

                o->type = data[0];
                data++;
                size--;
                if (!next_bytes(&data, &size, o->key, sizeof o->key, NULL) ||
                    !next_bytes(&data, &size, o->value, sizeof o->value, &o->value_len))
                        break;
                n++;
        }
        check_options(opts, n);
        return 0;
}
