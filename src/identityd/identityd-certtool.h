/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * hub-identityd and hub-identity-cert(8): every operation on the device key or on a certificate
 * runs in that short-lived helper, so the daemon neither maps libcrypto (about 400 KiB of relocated
 * data private to each process that loads it, and some 200 KiB of heap) nor holds the private key.
 *
 *   hub-identity-cert setup DIR DEVICE_ID [--adopt]
 *           DIR/device.key (made if missing) and DIR/device.pem (a self-signed one made if missing
 *           or not for the key); with --adopt the device id the certificate on disk names, if
 *           any, wins over DEVICE_ID. Facts.
 *   hub-identity-cert csr DIR DEVICE_ID
 *           a PEM certificate signing request on stdout.
 *   hub-identity-cert install DIR CA_FILE
 *           a PEM certificate on stdin, checked (for the key, valid now, chains to CA_FILE) and
 *           stored as DIR/device.pem. Facts.
 *
 * Facts, on stdout, a line each: device_id=ID (setup), fingerprint=SHA256:HEX, not_after=SECONDS,
 * self_signed=0|1. Exit status: CERT_TOOL_*; a failure prints errno=N, a refusal reason=TEXT.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd-devid.h"

#define CERT_TOOL_PROGRAM "hub-identity-cert"
/* Files in the state directory. */
#define IDENTITY_KEY_FILE "device.key"
#define IDENTITY_CERT_FILE "device.pem"
#define CERT_PEM_MAX (64 * 1024)
/* What the helper may print: a CSR or the facts, far below this. */
#define CERT_TOOL_OUTPUT_MAX (16 * 1024)
/* Far below WatchdogSec= (30 s): the daemon waits for it, and a hung helper must not get it killed. */
#define CERT_TOOL_TIMEOUT_USEC (10 * 1000000ULL)

enum {
        CERT_TOOL_OK = 0,
        CERT_TOOL_FAILED = 1,    /* errno=N */
        CERT_TOOL_USAGE = 2,
        CERT_TOOL_MALFORMED = 3, /* not exactly one PEM certificate */
        CERT_TOOL_REFUSED = 4,   /* reason=TEXT */
};

enum {
        CERT_FACT_DEVICE_ID,
        CERT_FACT_FINGERPRINT,
        CERT_FACT_NOT_AFTER,
        CERT_FACT_SELF_SIGNED,
        CERT_FACT_ERRNO,
        CERT_FACT_REASON,
};
/* What setup and install print on success. */
#define CERT_FACTS_CERTIFICATE \
        ((1u << CERT_FACT_FINGERPRINT) | (1u << CERT_FACT_NOT_AFTER) | (1u << CERT_FACT_SELF_SIGNED))

typedef struct CertFacts {
        unsigned seen;                     /* 1 << CERT_FACT_* for each line read */
        char device_id[DEVICE_ID_LEN + 1]; /* setup only */
        char fingerprint[7 + 64 + 1];      /* "SHA256:" and 64 lowercase hex digits */
        int64_t not_after;                 /* seconds since the epoch */
        bool self_signed;
        int error;                         /* errno=, as a negative errno */
        char reason[256];                  /* reason=: safe text (string_is_safe()) */
} CertFacts;

/*
 * Run the helper at path with args (args[0] is the subcommand; NULL-terminated), input on its
 * stdin (NULL: none). Returns its exit status (>= 0) and its output, NUL-terminated, in *ret_output;
 * or a negative errno if it could not be run, did not finish within timeout_usec (-ETIMEDOUT; it is
 * killed), was killed by a signal (-ECHILD), or printed more than CERT_TOOL_OUTPUT_MAX (-EMSGSIZE).
 */
int cert_tool_run(const char *path, const char *const *args, const char *input, size_t input_len,
                  uint64_t timeout_usec, char **ret_output);

/* Parse the helper's key=value lines into *ret; -EBADMSG on an unknown or repeated key, a bad value
 * or a line without its newline. */
int cert_facts_parse(const char *text, CertFacts *ret);

/*
 * The negative errno for the helper's exit status: 0, -EBADMSG (malformed), -EKEYREJECTED
 * (refused), for a failure -ENOSPC, -ENOMEM or else -EIO (its own errno means nothing to our
 * callers), -EPROTO for any other status.
 */
int cert_tool_error(int status, const CertFacts *f);
