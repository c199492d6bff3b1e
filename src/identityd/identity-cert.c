/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-identity-cert: the one program of the identity domain that loads the device key or parses a
 * certificate; hub-identityd runs it for each such operation (identityd-certtool.h has the
 * protocol, hub-identity-cert(8) the rest). It inherits the daemon's user and sandbox.
 */

#include <errno.h>
#include <limits.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "hubguard/errno-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "identityd-cert.h"
#include "identityd-certtool.h"

static int state_path(const char *dir, const char *name, char *buf, size_t size) {
        return snprintf(buf, size, "%s/%s", dir, name) >= (int) size ? -ENAMETOOLONG : 0;
}

static int fail(int r) {
        printf("errno=%d\n", -r);
        return CERT_TOOL_FAILED;
}

typedef struct Facts {
        char fingerprint[80];
        int64_t not_after;
        bool self_signed;
} Facts;

static int facts_get(EVP_PKEY *key, X509 *cert, Facts *ret) {
        int r = devkey_fingerprint(key, ret->fingerprint, sizeof ret->fingerprint);

        if (r >= 0)
                r = cert_not_after(cert, &ret->not_after);
        ret->self_signed = cert_is_self_signed(cert);
        return r;
}

static int facts_print(const Facts *f, const char *device_id) {
        if (device_id)
                printf("device_id=%s\n", device_id);
        printf("fingerprint=%s\nnot_after=%" PRIi64 "\nself_signed=%d\n", f->fingerprint, f->not_after,
               f->self_signed);
        return fflush(stdout) == 0 ? CERT_TOOL_OK : CERT_TOOL_FAILED;
}

/* The certificate at path, NULL if there is none (-ENOENT). */
static int cert_load(const char *path, X509 **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        r = read_file_bounded(path, CERT_PEM_MAX, &data, &len);
        return r < 0 ? r : cert_parse(data, len, ret);
}

static int op_setup(const char *dir, const char *candidate, bool adopt) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *pem = NULL;
        char key_path[PATH_MAX], cert_path[PATH_MAX], device_id[DEVICE_ID_LEN + 1];
        Facts facts;
        int r;

        if (state_path(dir, IDENTITY_KEY_FILE, key_path, sizeof key_path) < 0 ||
            state_path(dir, IDENTITY_CERT_FILE, cert_path, sizeof cert_path) < 0)
                return fail(-ENAMETOOLONG);
        (void) snprintf(device_id, sizeof device_id, "%s", candidate);

        /* Only a missing certificate, or one for another key, is replaced: one that cannot be read
         * now (an I/O error, no memory) may be the cloud's, and is kept for the next start. */
        r = cert_load(cert_path, &cert);
        if (r < 0 && r != -ENOENT) {
                log_error("Failed to read the device certificate '%s': %s", cert_path, strerror(-r));
                return fail(r);
        }
        /* A rebuilt database keeps the identity the certificate already names. */
        if (cert && adopt) {
                char cn[DEVICE_ID_LEN + 2];

                if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, (int) sizeof cn) > 0 &&
                    device_id_is_valid(cn))
                        memcpy(device_id, cn, sizeof device_id);
        }

        r = devkey_load(key_path, &key);
        if (r == -ENOENT) {
                r = devkey_generate(&key);
                if (r >= 0)
                        r = devkey_save(key_path, key);
                if (r >= 0)
                        log_info("First boot: created the device key pair (ECDSA P-256).");
        }
        if (r < 0) {
                log_error("Failed to load or create the device key '%s': %s", key_path, strerror(-r));
                return fail(r);
        }

        if (cert && EVP_PKEY_eq(X509_get0_pubkey(cert), key) != 1) {
                log_warning("Certificate '%s' is not for the device key; replacing it with a self-signed one.",
                            cert_path);
                cert = (X509_free(cert), NULL);
        }
        if (!cert) {
                /* Until the cloud issues one: a self-signed development certificate, so a devstack works. */
                r = cert_make_self_signed(key, device_id, SELF_SIGNED_DAYS, &pem);
                if (r >= 0)
                        r = write_file_atomic(cert_path, pem, strlen(pem), 0644);
                if (r >= 0)
                        r = cert_parse(pem, strlen(pem), &cert);
                if (r < 0) {
                        log_error("Failed to create the device certificate '%s': %s", cert_path, strerror(-r));
                        return fail(r);
                }
        }
        r = facts_get(key, cert, &facts);
        return r < 0 ? fail(r) : facts_print(&facts, device_id);
}

static int op_csr(const char *dir, const char *device_id) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *pem = NULL;
        char key_path[PATH_MAX];
        int r;

        r = state_path(dir, IDENTITY_KEY_FILE, key_path, sizeof key_path);
        if (r >= 0)
                r = devkey_load(key_path, &key);
        if (r >= 0)
                r = csr_make(key, device_id, &pem);
        if (r < 0)
                return fail(r);
        fputs(pem, stdout);
        return fflush(stdout) == 0 ? CERT_TOOL_OK : CERT_TOOL_FAILED;
}

static int op_install(const char *dir, const char *ca_file) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *pem = malloc(CERT_PEM_MAX + 1);
        char key_path[PATH_MAX], cert_path[PATH_MAX], reason[256] = "the certificate could not be checked";
        Facts facts;
        size_t len = 0;
        ssize_t n;
        int r;

        if (!pem)
                return fail(-ENOMEM);
        /* All of stdin, one byte more than allowed to see it is too long. */
        while (len <= CERT_PEM_MAX && (n = read(STDIN_FILENO, pem + len, CERT_PEM_MAX + 1 - len)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return fail(-errno);
                }
                len += (size_t) n;
        }
        if (cert_parse(pem, len, &cert) < 0)
                return CERT_TOOL_MALFORMED;

        if (state_path(dir, IDENTITY_KEY_FILE, key_path, sizeof key_path) < 0 ||
            state_path(dir, IDENTITY_CERT_FILE, cert_path, sizeof cert_path) < 0)
                return fail(-ENAMETOOLONG);
        r = devkey_load(key_path, &key);
        if (r < 0)
                return fail(r);
        if (cert_validate(cert, key, ca_file, time(NULL), reason, sizeof reason) < 0) {
                /* One line: the reason is the helper's own text, with the CA file's name in it. */
                reason[strcspn(reason, "\n")] = '\0';
                printf("reason=%s\n", reason);
                return CERT_TOOL_REFUSED;
        }
        /* The facts first: once the file is written, what the daemon is told must be true of it. */
        r = facts_get(key, cert, &facts);
        if (r >= 0)
                r = write_file_atomic(cert_path, pem, len, 0644);
        if (r < 0)
                return fail(r);
        return facts_print(&facts, NULL);
}

static int help(void) {
        printf("%s setup DIR DEVICE_ID [--adopt]\n"
               "%s csr DIR DEVICE_ID\n"
               "%s install DIR CA_FILE  < certificate.pem\n\n"
               "The device key's helper, run by hub-identityd. See hub-identity-cert(8).\n",
               program_invocation_short_name, program_invocation_short_name, program_invocation_short_name);
        return CERT_TOOL_OK;
}

int main(int argc, char *argv[]) {
        const char *op = argc > 1 ? argv[1] : "";

        log_setup(CERT_TOOL_PROGRAM);
        /* It holds the private key: no core dump, no ptrace by its own user. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
                log_error("Cannot make the process non-dumpable: %s", strerror(errno));
                return CERT_TOOL_FAILED;
        }
        if (streq(op, "--help") || streq(op, "-h"))
                return help();
        if (argc < 4 || (argv[2][0] != '/'))
                goto usage;
        if (streq(op, "setup") && (argc == 4 || (argc == 5 && streq(argv[4], "--adopt"))) &&
            device_id_is_valid(argv[3]))
                return op_setup(argv[2], argv[3], argc == 5);
        if (streq(op, "csr") && argc == 4 && device_id_is_valid(argv[3]))
                return op_csr(argv[2], argv[3]);
        if (streq(op, "install") && argc == 4 && argv[3][0] == '/')
                return op_install(argv[2], argv[3]);
usage:
        fprintf(stderr, "%s: bad arguments; see --help.\n", program_invocation_short_name);
        return CERT_TOOL_USAGE;
}
