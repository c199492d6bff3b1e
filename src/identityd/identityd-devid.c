/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sodium.h>
#include <string.h>

#include "identityd-devid.h"

void device_id_generate(char *buf) {
        unsigned char raw[16];

        randombytes_buf(raw, sizeof raw);
        memcpy(buf, DEVICE_ID_PREFIX, 4);
        sodium_bin2hex(buf + 4, 33, raw, sizeof raw);
}

bool device_id_is_valid(const char *s) {
        if (!s || strnlen(s, DEVICE_ID_LEN + 1) != DEVICE_ID_LEN || strncmp(s, DEVICE_ID_PREFIX, 4) != 0)
                return false;
        for (const char *p = s + 4; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}
