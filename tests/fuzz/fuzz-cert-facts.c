/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-identity-cert's answer as hub-identityd reads it (identityd-certtool.h): cert_facts_parse() on
 * arbitrary bytes, up to the daemon's answer limit. Promises checked: it returns 0 or -EBADMSG;
 * what it accepts has only known keys, each once (seen has no other bit), a device id that
 * device_id_is_valid() takes, a fingerprint of "SHA256:" and 64 lowercase hex digits, a reason
 * string_is_safe() takes, an errno in 1..4095; cert_tool_error() maps every exit status to 0 or one
 * of its documented errors.
 */

#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/macro.h"
#include "hubguard/validate.h"
#include "identityd-certtool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CertFacts f;
        char *text;
        int r;

        if (outside_size_range(size, 0, CERT_TOOL_OUTPUT_MAX))
                return 0;
        /* The daemon refuses an answer with a NUL before it parses; the parser sees C text. */
        text = malloc(size + 1);
        fuzz_check(text);
        memcpy(text, data, size);
        text[size] = '\0';

        r = cert_facts_parse(text, &f);
        fuzz_check(r == 0 || r == -EBADMSG);
        if (r == 0) {
                fuzz_check((f.seen & ~((1u << (CERT_FACT_REASON + 1)) - 1)) == 0);
                if (f.seen & (1u << CERT_FACT_DEVICE_ID))
                        fuzz_check(device_id_is_valid(f.device_id));
                if (f.seen & (1u << CERT_FACT_FINGERPRINT)) {
                        fuzz_check(strlen(f.fingerprint) == 7 + 64 && strncmp(f.fingerprint, "SHA256:", 7) == 0);
                        fuzz_check(strspn(f.fingerprint + 7, "0123456789abcdef") == 64);
                }
                if (f.seen & (1u << CERT_FACT_REASON))
                        fuzz_check(string_is_safe(f.reason, sizeof f.reason - 1));
                if (f.seen & (1u << CERT_FACT_ERRNO))
                        fuzz_check(f.error <= -1 && f.error >= -4095);
                if (f.seen & (1u << CERT_FACT_SELF_SIGNED))
                        fuzz_check(f.self_signed == 0 || f.self_signed == 1);
        }
        for (int status = -1; status <= 256; status++) {
                int e = cert_tool_error(status, &f);

                fuzz_check(e == 0 || e == -EBADMSG || e == -EKEYREJECTED || e == -ENOSPC || e == -ENOMEM ||
                           e == -EIO || e == -EPROTO);
                fuzz_check((e == 0) == (status == CERT_TOOL_OK));
        }
        free(text);
        return 0;
}
