/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <string.h>

#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "identityd-args.h"
#include "identityd-manager.h"
#include "identityd-password.h"

bool source_label_is_valid(const char *s) {
        size_t n = strnlen(s, SOURCE_LABEL_MAX + 1);

        if (n == 0 || n > SOURCE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr(SOURCE_LABEL_CHARS, s[i]))
                        return false;
        return true;
}

int identity_check_account(const char *account, sd_bus_error *error) {
        if (!identifier_is_valid(account, 32))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid account name.");
        if (!streq(account, IDENTITY_ACCOUNT_ADMIN))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown account '%s'.", account);
        return 0;
}

int identity_check_password_arg(const char *pw, const char *what, sd_bus_error *error) {
        if (!password_input_is_valid(pw))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The %s must be 1 to %d bytes of UTF-8 without control characters.", what,
                                         PASSWORD_MAX);
        return 0;
}

int identity_read_options(sd_bus_message *msg, const char **ret_source, sd_bus_error *error) {
        const char *key;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                /* Unknown keys are refused, so a caller never believes an option took effect that did not. */
                /* The key is echoed only if it is short, safe text: the message goes back to a terminal. */
                if (!streq(key, "Source")) {
                        if (!string_is_safe(key, 32))
                                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Unsupported option.");
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unsupported option '%s'.", key);
                }
                r = sd_bus_message_read(msg, "v", "s", ret_source);
                if (r < 0)
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Source must be a string.");
                if (!source_label_is_valid(*ret_source))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Source must be 1-%d characters of [A-Za-z0-9.:_-[]].",
                                                 SOURCE_LABEL_MAX);
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}
