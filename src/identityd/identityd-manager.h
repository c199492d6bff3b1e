/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <sys/types.h>

#include "hubguard/daemon.h"
#include "identityd-cert.h"
#include "identityd-throttle.h"

/* The identity domain's daemon description, run by hub_daemon_main(). */
extern const HubDaemonOps identity_daemon_ops;

/* The one account this version knows. */
#define IDENTITY_ACCOUNT_ADMIN "admin"

/* Names of the sealed secrets. */
#define SEALED_INITIAL_PASSWORD "initial-password"

/* Files in the state directory. */
#define IDENTITY_KEY_FILE "device.key"
#define IDENTITY_CERT_FILE "device.pem"

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
        EVP_PKEY *key;
        X509 *cert;
        char device_id[DEVICE_ID_LEN + 1];
        char fingerprint[80];
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
int identity_install_certificate(IdentityManager *m, X509 *cert, const char *pem, size_t len);
