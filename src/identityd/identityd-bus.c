/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * org.hubguard.identity1.Manager. Every handler: read, validate, authorise, act, emit, reply.
 * Messages that carry a password are marked sensitive, so sd-bus wipes them when they are freed;
 * our own copies live in sodium_malloc()ed memory and are wiped too.
 */

#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"
#include "hubguard/seal.h"
#include "hubguard/validate.h"
#include "identityd-args.h"
#include "identityd-manager.h"
#include "identityd-password.h"

#define ERR_WRONG_PASSWORD "org.hubguard.identity1.WrongPassword"
#define ERR_THROTTLED "org.hubguard.identity1.Throttled"
#define ERR_LOCKED_OUT "org.hubguard.identity1.LockedOut"
#define ERR_NOT_PROVISIONED "org.hubguard.identity1.NotProvisioned"
#define ERR_ALREADY_PROVISIONED "org.hubguard.identity1.AlreadyProvisioned"
#define ERR_WEAK_PASSWORD "org.hubguard.identity1.WeakPassword"
#define ERR_NOT_AVAILABLE "org.hubguard.identity1.NotAvailable"
#define ERR_CERT_REJECTED "org.hubguard.identity1.CertificateRejected"

const sd_bus_error_map identity_errors[] = {
        SD_BUS_ERROR_MAP(ERR_WRONG_PASSWORD, EPERM),
        SD_BUS_ERROR_MAP(ERR_THROTTLED, EAGAIN),
        SD_BUS_ERROR_MAP(ERR_LOCKED_OUT, ENOLCK),
        SD_BUS_ERROR_MAP(ERR_NOT_PROVISIONED, ENOKEY),
        SD_BUS_ERROR_MAP(ERR_ALREADY_PROVISIONED, EEXIST),
        SD_BUS_ERROR_MAP(ERR_WEAK_PASSWORD, EINVAL),
        SD_BUS_ERROR_MAP(ERR_NOT_AVAILABLE, ENOENT),
        SD_BUS_ERROR_MAP(ERR_CERT_REJECTED, EBADMSG),
        SD_BUS_ERROR_MAP_END,
};

static IdentityManager *manager(void *userdata) {
        return ((HubDaemon *) userdata)->userdata;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int deny(sd_bus_message *msg, const char *member, uid_t uid) {
        char field[64];

        (void) snprintf(field, sizeof field, "HUBGUARD_MEMBER=%s", member);
        log_struct(LOG_NOTICE, MESSAGE_ID_ACCESS_DENIED, STRV(field), "Refused %s for uid %u.", member, (unsigned) uid);
        return -EACCES;
}

/* Root only, or root plus hubadmin plus the configured service users. */
static int authorise(sd_bus_message *msg, IdentityManager *m, bool admins, bool verifiers, const char *member,
                     uid_t *ret_uid, sd_bus_error *error) {
        BusAccess a = {
                .admin_group = admins,
                .uids = verifiers ? m->verify_uids : NULL,
                .n_uids = verifiers ? m->n_verify_uids : 0,
        };
        uid_t uid = (uid_t) -1;
        int r;

        r = bus_verify_caller(msg, &a, &uid, error);
        if (ret_uid)
                *ret_uid = uid;
        if (r < 0)
                return r;
        if (r == 0)
                return deny(msg, member, uid);
        return 0;
}

/* ---- throttled verification, shared by VerifyPassword and ChangePassword ---- */

typedef struct Attempt {
        char source[32 + SOURCE_LABEL_MAX];
        ThrottleState account, from;
} Attempt;

static int emit_failure(IdentityManager *m, const char *account, const Attempt *a, bool locked) {
        char f1[64], f2[128], f3[32];

        (void) snprintf(f1, sizeof f1, "HUBGUARD_ACCOUNT=%s", account);
        (void) snprintf(f2, sizeof f2, "HUBGUARD_SOURCE=%s", a->source);
        (void) snprintf(f3, sizeof f3, "HUBGUARD_FAILURES=%u", a->account.failures);
        if (locked)
                log_struct(LOG_WARNING, MESSAGE_ID_AUTH_LOCKOUT, STRV(f1, f2, f3),
                           "Password attempts for account '%s' locked after %u failed attempts (this one from %s).",
                           account, MAX(a->account.failures, a->from.failures), a->source);
        else
                log_struct(LOG_NOTICE, MESSAGE_ID_AUTH_FAILURE, STRV(f1, f2, f3),
                           "Failed password attempt %u for account '%s' from %s.", a->account.failures, account,
                           a->source);
        return sd_bus_emit_signal(m->daemon->bus, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY, "AuthFailure",
                                  "ssub", account, a->source, a->account.failures, locked);
}

/*
 * Check pw for account from the caller, throttled per account and per source. Refuses throttled
 * attempts before any Argon2 work. Returns 0 on a match, or a negative errno with error set.
 */
static int verify_throttled(IdentityManager *m, const char *account, const char *pw, uid_t uid, const char *label,
                            sd_bus_error *error) {
        sqlite3 *db = m->daemon->db;
        char hash[crypto_pwhash_STRBYTES + 1];
        uint64_t now = now_usec(), next;
        Attempt a = {};
        bool locked;
        int r;

        (void) snprintf(a.source, sizeof a.source, "uid:%u%s%s", (unsigned) uid, label ? "/" : "", strempty(label));

        r = throttle_load(db, "account", account, &a.account);
        if (r >= 0)
                r = throttle_load(db, "source", a.source, &a.from);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the throttle state: %m");
        throttle_expire(&m->throttle, &a.account, now);
        throttle_expire(&m->throttle, &a.from, now);

        next = MAX(throttle_next_allowed(&m->throttle, &a.account), throttle_next_allowed(&m->throttle, &a.from));
        if (now < next) {
                unsigned long long wait = (next - now + 999999) / 1000000;

                if (a.account.locked_until_usec || a.from.locked_until_usec)
                        return sd_bus_error_setf(error, ERR_LOCKED_OUT,
                                                 "Too many failed attempts: locked for %llu more seconds.", wait);
                return sd_bus_error_setf(error, ERR_THROTTLED, "Too many failed attempts: try again in %llu s.", wait);
        }

        r = identity_load_hash(m, account, hash, sizeof hash);
        if (r == -ENOKEY)
                return sd_bus_error_set(error, ERR_NOT_PROVISIONED,
                                        "No password is set yet; root sets one with 'hubctl password set'.");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the credential: %m");

        r = password_verify(hash, pw);
        if (r == 0) {
                const HubConfig *c = &m->daemon->config;
                size_t mem = identity_hash_memory(c);
                bool rehash = password_needs_rehash(hash, c->identity.hash_iterations, mem);

                explicit_erase(hash, sizeof hash);
                (void) throttle_clear(db, "account", account);
                (void) throttle_clear(db, "source", a.source);
                /* New cost parameters take effect at the next successful login. */
                if (rehash && password_hash(pw, c->identity.hash_iterations, mem, hash) >= 0) {
                        (void) identity_store_password(m, account, hash, m->origin);
                        explicit_erase(hash, sizeof hash);
                }
                return 0;
        }
        explicit_erase(hash, sizeof hash);
        if (r != -EPERM)
                return sd_bus_error_set_errnof(error, r, "Cannot check the password: %m");

        locked = throttle_record_failure(&m->throttle, &a.account, now);
        locked = throttle_record_failure(&m->throttle, &a.from, now) || locked;
        r = db_exec(db, "BEGIN IMMEDIATE");
        if (r >= 0)
                r = throttle_store(db, "account", account, &a.account);
        if (r >= 0)
                r = throttle_store(db, "source", a.source, &a.from);
        if (r >= 0)
                r = db_exec(db, "COMMIT");
        if (r < 0) {
                (void) db_exec(db, "ROLLBACK");
                /* Not being able to count a failure must not let the attempt through. */
                log_error_errno(r, "Failed to store the throttle state: %m");
        }
        (void) emit_failure(m, account, &a, locked);
        return sd_bus_error_set(error, ERR_WRONG_PASSWORD, "Wrong password.");
}

static int method_verify_password(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        const char *account, *pw, *source = NULL;
        uid_t uid;
        int r;

        (void) sd_bus_message_sensitive(msg);
        r = sd_bus_message_read(msg, "ss", &account, &pw);
        if (r < 0)
                return r;
        r = identity_read_options(msg, &source, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        r = identity_check_account(account, error);
        if (r >= 0)
                r = identity_check_password_arg(pw, "password", error);
        if (r < 0)
                return r;
        r = authorise(msg, m, true, true, "VerifyPassword", &uid, error);
        if (r < 0)
                return r;

        r = verify_throttled(m, account, pw, uid, source, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int set_new_password(IdentityManager *m, const char *account, const char *old_pw, const char *new_pw,
                            uid_t uid, sd_bus_error *error) {
        const HubConfig *c = &m->daemon->config;
        char hash[crypto_pwhash_STRBYTES], reason[256], f1[32];
        int r;

        r = password_check_strength(new_pw, old_pw, account, reason, sizeof reason);
        if (r < 0)
                return sd_bus_error_setf(error, ERR_WEAK_PASSWORD, "The new password is too weak: %s", reason);
        r = password_hash(new_pw, c->identity.hash_iterations, identity_hash_memory(c), hash);
        if (r >= 0)
                r = identity_store_password(m, account, hash, PASSWORD_ORIGIN_OWNER);
        explicit_erase(hash, sizeof hash);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot store the new password: %m");
        (void) snprintf(f1, sizeof f1, "HUBGUARD_UID=%u", (unsigned) uid);
        log_struct(LOG_NOTICE, MESSAGE_ID_PASSWORD_CHANGED, STRV("HUBGUARD_ACCOUNT=admin", f1),
                   "The password of account '%s' was set by uid %u.", account, (unsigned) uid);
        return 0;
}

static int method_change_password(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        const char *account, *old_pw, *new_pw;
        uid_t uid;
        int r;

        (void) sd_bus_message_sensitive(msg);
        r = sd_bus_message_read(msg, "sss", &account, &old_pw, &new_pw);
        if (r < 0)
                return r;
        r = identity_check_account(account, error);
        if (r >= 0 && !(old_pw[0] == '\0'))
                r = identity_check_password_arg(old_pw, "old password", error);
        if (r >= 0)
                r = identity_check_password_arg(new_pw, "new password", error);
        if (r < 0)
                return r;
        r = authorise(msg, m, true, false, "ChangePassword", &uid, error);
        if (r < 0)
                return r;

        if (m->origin == PASSWORD_ORIGIN_NONE)
                return sd_bus_error_set(error, ERR_NOT_PROVISIONED,
                                        "No password is set yet; root sets one with 'hubctl password set'.");
        /* Root may reset a forgotten password; everyone else proves they know the current one. */
        if (uid != 0 || old_pw[0] != '\0') {
                if (old_pw[0] == '\0')
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "The old password is required.");
                r = verify_throttled(m, account, old_pw, uid, NULL, error);
                if (r < 0)
                        return r;
        }
        r = set_new_password(m, account, old_pw[0] ? old_pw : NULL, new_pw, uid, error);
        if (r < 0)
                return r;
        /* A reset ends a lockout of the account: the owner must be able to use the new password now. */
        (void) throttle_clear(m->daemon->db, "account", account);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_set_password(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        const char *account, *new_pw;
        uid_t uid;
        int r;

        (void) sd_bus_message_sensitive(msg);
        r = sd_bus_message_read(msg, "ss", &account, &new_pw);
        if (r < 0)
                return r;
        r = identity_check_account(account, error);
        if (r >= 0)
                r = identity_check_password_arg(new_pw, "new password", error);
        if (r < 0)
                return r;
        r = authorise(msg, m, false, false, "SetPassword", &uid, error);
        if (r < 0)
                return r;

        if (m->origin != PASSWORD_ORIGIN_NONE)
                return sd_bus_error_set(error, ERR_ALREADY_PROVISIONED,
                                        "A password is already set; use 'hubctl password change'.");
        r = set_new_password(m, account, NULL, new_pw, uid, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_get_initial_password(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        IdentityManager *m = manager(userdata);
        unsigned char *pw = NULL;
        size_t len;
        uid_t uid;
        int r, rc;

        r = authorise(msg, m, false, false, "GetInitialPassword", &uid, error);
        if (r < 0)
                return r;

        rc = sqlite3_prepare_v2(m->daemon->db, "SELECT blob FROM sealed WHERE name = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return -EIO;
        (void) sqlite3_bind_text(st, 1, SEALED_INITIAL_PASSWORD, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return sd_bus_error_set(error, ERR_NOT_AVAILABLE,
                                        m->origin == PASSWORD_ORIGIN_OWNER
                                                ? "The owner has set their own password; the initial one is gone."
                                                : "No initial password was generated (locked mode).");
        if (rc != SQLITE_ROW)
                return -EIO;
        r = unseal_data(m->master_key, SEALED_INITIAL_PASSWORD, sqlite3_column_blob(st, 0),
                        (size_t) sqlite3_column_bytes(st, 0), &pw, &len);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot open the sealed initial password: %m");

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_sensitive(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", (const char *) pw);
        sodium_free(pw);
        if (r < 0)
                return r;
        log_struct(LOG_NOTICE, MESSAGE_ID_PASSWORD_REVEALED, STRV("HUBGUARD_ACCOUNT=admin"),
                   "The initial admin password was revealed to uid %u.", (unsigned) uid);
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_certificate_request(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        _cleanup_free_ char *pem = NULL;
        int r;

        r = authorise(msg, m, true, false, "GetCertificateRequest", NULL, error);
        if (r < 0)
                return r;
        r = identity_cert_tool(m, STRV("csr", m->daemon->state_dir, m->device_id), NULL, 0, &pem, NULL);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot make the certificate request: %m");
        return sd_bus_reply_method_return(msg, "s", pem);
}

static int method_get_certificate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        _cleanup_free_ char *pem = NULL;
        char path[PATH_MAX];
        size_t len;
        int r;

        r = authorise(msg, m, true, false, "GetCertificate", NULL, error);
        if (r < 0)
                return r;
        r = identity_state_path(m, IDENTITY_CERT_FILE, path, sizeof path);
        if (r >= 0)
                r = read_file_bounded(path, CERT_PEM_MAX, &pem, &len);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the device certificate: %m");
        return sd_bus_reply_method_return(msg, "s", pem);
}

/* What can be told without parsing it (that is hub-identity-cert's job): the size, and a PEM header. */
static bool pem_plausible(const char *pem) {
        return strnlen(pem, CERT_PEM_MAX + 1) <= CERT_PEM_MAX && strstr(pem, "-----BEGIN CERTIFICATE-----");
}

static int method_install_certificate(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        IdentityManager *m = manager(userdata);
        const HubConfig *c = &m->daemon->config;
        CertFacts f = {};
        char f1[128];
        const char *pem;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &pem);
        if (r < 0)
                return r;
        if (!pem_plausible(pem))
                goto malformed;
        r = authorise(msg, m, false, false, "InstallCertificate", &uid, error);
        if (r < 0)
                return r;

        if (!c->identity.ca_file)
                return sd_bus_error_set(error, ERR_CERT_REJECTED,
                                        "No CA is configured to check the certificate against: set "
                                        "CertificateAuthorityFile= in [identity] of hubguard.conf.");
        r = identity_cert_tool(m, STRV("install", m->daemon->state_dir, c->identity.ca_file), pem, strlen(pem), NULL,
                               &f);
        if (r == -EBADMSG)
                goto malformed;
        if (r == -EKEYREJECTED)
                return sd_bus_error_setf(error, ERR_CERT_REJECTED, "Certificate refused: %s.",
                                         f.reason[0] ? f.reason : "the certificate could not be checked");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot store the certificate: %m");
        identity_cert_facts_apply(m, &f);
        (void) snprintf(f1, sizeof f1, "HUBGUARD_KEY_FINGERPRINT=%s", m->fingerprint);
        log_struct(LOG_NOTICE, MESSAGE_ID_CERTIFICATE_INSTALLED, STRV(f1),
                   "A device certificate issued by the configured CA was installed by uid %u.", (unsigned) uid);
        return sd_bus_reply_method_return(msg, NULL);

malformed:
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "Not exactly one PEM certificate of at most %d bytes.", CERT_PEM_MAX);
}

static int property_get_provisioned(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", manager(userdata)->origin != PASSWORD_ORIGIN_NONE);
}

static int property_get_origin(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", password_origin_to_string(manager(userdata)->origin));
}

static int property_get_device_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager(userdata)->device_id);
}

static int property_get_fingerprint(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", manager(userdata)->fingerprint);
}

static int property_get_not_after(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", (uint64_t) MAX(manager(userdata)->cert_not_after, 0) * 1000000ULL);
}

static int property_get_self_signed(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", manager(userdata)->cert_self_signed);
}

const sd_bus_vtable identity_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_PROPERTY("Provisioned", "b", property_get_provisioned, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PasswordOrigin", "s", property_get_origin, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DeviceId", "s", property_get_device_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("KeyFingerprint", "s", property_get_fingerprint, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CertificateNotAfterUSec", "t", property_get_not_after, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CertificateSelfSigned", "b", property_get_self_signed, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("VerifyPassword",
                                SD_BUS_ARGS("s", account, "s", password, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_verify_password, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ChangePassword",
                                SD_BUS_ARGS("s", account, "s", old_password, "s", new_password),
                                SD_BUS_NO_RESULT, method_change_password, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetPassword", SD_BUS_ARGS("s", account, "s", new_password), SD_BUS_NO_RESULT,
                                method_set_password, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetInitialPassword", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", password),
                                method_get_initial_password, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCertificateRequest", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", pem),
                                method_get_certificate_request, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCertificate", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", pem), method_get_certificate,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InstallCertificate", SD_BUS_ARGS("s", pem), SD_BUS_NO_RESULT,
                                method_install_certificate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("AuthFailure", SD_BUS_ARGS("s", account, "s", source, "u", failures, "b", locked),
                                0),
        SD_BUS_VTABLE_END,
};
