/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Apart from errno-util.c: an object of the static library is linked only where it is used, so a
 * daemon that never calls OpenSSL does not load libcrypto (404 KiB of private memory each).
 */

#include <openssl/err.h>

#include "hubguard/errno-util.h"
#include "hubguard/log.h"

int errno_from_openssl(int fallback) {
        unsigned long e;
        char buf[256];

        while ((e = ERR_get_error()) != 0) {
                ERR_error_string_n(e, buf, sizeof buf);
                log_debug("OpenSSL: %s", buf);
        }
        return fallback < 0 ? fallback : -EIO;
}
