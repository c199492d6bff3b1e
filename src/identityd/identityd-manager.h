/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hubguard/daemon.h"
#include "identityd-certtool.h"
#include "identityd-throttle.h"

/* The identity domain's daemon description, run by hub_daemon_main(). */
extern const HubDaemonOps identity_daemon_ops;

/* The one account this version knows. */
#define IDENTITY_ACCOUNT_ADMIN "admin"

/* Names of the sealed secrets. */
#define SEALED_INITIAL_PASSWORD "initial-password"

/* The credential (in $CREDENTIALS_DIRECTORY) holding the master key of the sealed store. */
#define IDENTITY_MASTER_KEY_CREDENTIAL "master-key"

typedef enum PasswordOrigin {
        PASSWORD_ORIGIN_NONE,      /* no credential: locked until the owner sets one */
        PASSWORD_ORIGIN_GENERATED, /* the first-boot password, not yet replaced */
        PASSWORD_ORIGIN_OWNER,     /* set or changed by the owner */
        _PASSWORD_ORIGIN_MAX,
        _PASSWORD_ORIGIN_INVALID = -EINVAL,
} PasswordOrigin;

const char *password_origin_to_string(PasswordOrigin o);
PasswordOrigin password_origin_from_string(const char *s);

typedef struct IdentityManager {
        HubDaemon *daemon;
        unsigned char *master_key; /* sodium_malloc()ed */
        char cert_tool[PATH_MAX]; /* hub-identity-cert, beside our own executable */
        char device_id[DEVICE_ID_LEN + 1];
        char fingerprint[80];
        int64_t cert_not_after; /* seconds since the epoch */
        bool cert_self_signed;
        PasswordOrigin origin;
        ThrottleConfig throttle;
        uid_t *verify_uids;
        size_t n_verify_uids;
} IdentityManager;

/* Argon2id memory in bytes, from [identity] PasswordHashMemoryMiB=. */
size_t identity_hash_memory(const HubConfig *c);

/* Path of a file in the state directory. */
int identity_state_path(IdentityManager *m, const char *name, char *buf, size_t size);

/* The D-Bus side (identityd-bus.c). */
extern const sd_bus_vtable identity_manager_vtable[];
extern const sd_bus_error_map identity_errors[];

/* Store a new password hash for account (one transaction; the initial password is forgotten). */
int identity_store_password(IdentityManager *m, const char *account, const char *hash, PasswordOrigin origin);
int identity_load_hash(IdentityManager *m, const char *account, char *hash, size_t size);

/*
 * Run hub-identity-cert(8) with args (NULL-terminated), input on its stdin. Returns 0 with its
 * output (if ret_output) and the facts it printed (if ret_facts); or -EBADMSG (not exactly one PEM
 * certificate), -EKEYREJECTED (refused: ret_facts->reason says why), the errno it failed with, or
 * another negative errno if it could not run or broke the protocol (logged).
 */
int identity_cert_tool(IdentityManager *m, const char *const *args, const char *input, size_t input_len,
                       char **ret_output, CertFacts *ret_facts);
/* Take the certificate facts a setup or install printed, and tell the bus. */
void identity_cert_facts_apply(IdentityManager *m, const CertFacts *f);
