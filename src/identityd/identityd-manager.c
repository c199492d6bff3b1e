/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <grp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>

#include "hubguard/bus-names.h"
#include "hubguard/errno-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"
#include "hubguard/seal.h"
#include "identityd-manager.h"
#include "identityd-password.h"

static const char *const origin_names[_PASSWORD_ORIGIN_MAX] = {
        [PASSWORD_ORIGIN_NONE] = "none",
        [PASSWORD_ORIGIN_GENERATED] = "generated",
        [PASSWORD_ORIGIN_OWNER] = "owner",
};

const char *password_origin_to_string(PasswordOrigin o) {
        return o >= 0 && o < _PASSWORD_ORIGIN_MAX ? origin_names[o] : NULL;
}

PasswordOrigin password_origin_from_string(const char *s) {
        for (int i = 0; s && i < _PASSWORD_ORIGIN_MAX; i++)
                if (streq(s, origin_names[i]))
                        return (PasswordOrigin) i;
        return _PASSWORD_ORIGIN_INVALID;
}

static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
        { 2, "CREATE TABLE credential ("
             "  account TEXT PRIMARY KEY NOT NULL,"
             "  hash TEXT NOT NULL CHECK (hash LIKE '$argon2id$%'),"
             "  origin TEXT NOT NULL CHECK (origin IN ('generated', 'owner')),"
             "  changed_at TEXT NOT NULL) STRICT;"
             "CREATE TABLE sealed (name TEXT PRIMARY KEY NOT NULL, blob BLOB NOT NULL) STRICT;"
             "CREATE TABLE throttle ("
             "  kind TEXT NOT NULL CHECK (kind IN ('account', 'source')),"
             "  key TEXT NOT NULL,"
             "  failures INTEGER NOT NULL,"
             "  last_failure_usec INTEGER NOT NULL,"
             "  locked_until_usec INTEGER NOT NULL,"
             "  PRIMARY KEY (kind, key)) STRICT;" },
};

size_t identity_hash_memory(const HubConfig *c) {
        /* PasswordHashMemoryMiB=4096 is 4 GiB: more than a 32-bit size_t holds. */
        return (size_t) MIN((uint64_t) c->identity.hash_memory_mib << 20, (uint64_t) SIZE_MAX);
}

int identity_state_path(IdentityManager *m, const char *name, char *buf, size_t size) {
        if (snprintf(buf, size, "%s/%s", m->daemon->state_dir, name) >= (int) size)
                return -ENAMETOOLONG;
        return 0;
}

static int meta_get(sqlite3 *db, const char *key, char *buf, size_t size) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const unsigned char *v;
        int rc;

        rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        v = sqlite3_column_text(st, 0);
        if (!v || strlen((const char *) v) >= size)
                return -EBADMSG;
        strcpy(buf, (const char *) v);
        return 0;
}

static int meta_set(sqlite3 *db, const char *key, const char *value) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int identity_load_hash(IdentityManager *m, const char *account, char *hash, size_t size) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const unsigned char *h;
        int rc;

        rc = sqlite3_prepare_v2(m->daemon->db, "SELECT hash FROM credential WHERE account = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return -ENOKEY;
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        h = sqlite3_column_text(st, 0);
        if (!h || strlen((const char *) h) >= size)
                return -EBADMSG;
        strcpy(hash, (const char *) h);
        return 0;
}

static int load_origin(IdentityManager *m) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(m->daemon->db, "SELECT origin FROM credential WHERE account = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, IDENTITY_ACCOUNT_ADMIN, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                m->origin = PASSWORD_ORIGIN_NONE;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        m->origin = password_origin_from_string((const char *) sqlite3_column_text(st, 0));
        return m->origin < 0 ? -EBADMSG : 0;
}

static int exec_bound(sqlite3 *db, const char *sql, const char *a, const char *b, const void *blob, size_t blob_len,
                      const char *c) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        if (a)
                (void) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        if (b)
                (void) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
        if (blob)
                (void) sqlite3_bind_blob(st, 2, blob, (int) blob_len, SQLITE_STATIC);
        if (c)
                (void) sqlite3_bind_text(st, 3, c, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int identity_store_password(IdentityManager *m, const char *account, const char *hash, PasswordOrigin origin) {
        sqlite3 *db = m->daemon->db;
        int r;

        r = db_exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = exec_bound(db,
                       "INSERT OR REPLACE INTO credential (account, hash, origin, changed_at) "
                       "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                       account, hash, NULL, 0, password_origin_to_string(origin));
        /* Once the owner has chosen a password, the generated one is forgotten for good. */
        if (r >= 0 && origin == PASSWORD_ORIGIN_OWNER)
                r = exec_bound(db, "DELETE FROM sealed WHERE name = ?1", SEALED_INITIAL_PASSWORD, NULL, NULL, 0,
                               NULL);
        if (r >= 0)
                r = db_exec(db, "COMMIT");
        if (r < 0) {
                (void) db_exec(db, "ROLLBACK");
                return r;
        }
        /* secure_delete zeroed the freed pages; checkpoint so the WAL does not keep the old ones. */
        (void) db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        m->origin = origin;
        (void) sd_bus_emit_properties_changed(m->daemon->bus, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY,
                                              "Provisioned", "PasswordOrigin", NULL);
        return 0;
}

/* First boot: a unique random password, stored as an Argon2id hash; the password itself sealed for show-initial. */
static int provision_password(IdentityManager *m) {
        const HubConfig *c = &m->daemon->config;
        char *pw = NULL, hash[crypto_pwhash_STRBYTES];
        _cleanup_free_ void *blob = NULL;
        size_t blob_len;
        int r;

        pw = sodium_malloc(PASSWORD_GENERATED_LEN + 1);
        if (!pw)
                return log_oom();
        password_generate(pw);
        r = password_hash(pw, c->identity.hash_iterations, identity_hash_memory(c), hash);
        if (r >= 0)
                r = seal_data(m->master_key, SEALED_INITIAL_PASSWORD, pw, strlen(pw), &blob, &blob_len);
        sodium_free(pw);
        if (r < 0)
                return log_error_errno(r, "Failed to hash or seal the first-boot password: %m");

        r = db_exec(m->daemon->db, "BEGIN IMMEDIATE");
        if (r >= 0)
                r = exec_bound(m->daemon->db, "INSERT OR REPLACE INTO sealed (name, blob) VALUES (?1, ?2)",
                               SEALED_INITIAL_PASSWORD, NULL, blob, blob_len, NULL);
        if (r >= 0)
                r = exec_bound(m->daemon->db,
                               "INSERT INTO credential (account, hash, origin, changed_at) "
                               "VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                               IDENTITY_ACCOUNT_ADMIN, hash, NULL, 0, "generated");
        if (r >= 0)
                r = db_exec(m->daemon->db, "COMMIT");
        explicit_erase(hash, sizeof hash);
        if (r < 0) {
                (void) db_exec(m->daemon->db, "ROLLBACK");
                return log_error_errno(r, "Failed to store the first-boot credential: %m");
        }
        m->origin = PASSWORD_ORIGIN_GENERATED;
        log_struct(LOG_NOTICE, MESSAGE_ID_PASSWORD_GENERATED, STRV("HUBGUARD_ACCOUNT=admin"),
                   "First boot: generated a unique admin password (%.0f bits). Root can read it with "
                   "'hubctl provision show-initial' until the owner sets their own.",
                   password_generated_bits());
        return 0;
}

int identity_cert_tool(IdentityManager *m, const char *const *args, const char *input, size_t input_len,
                       char **ret_output, CertFacts *ret_facts) {
        _cleanup_free_ char *out = NULL;
        CertFacts f = {};
        int status, r;

        status = cert_tool_run(m->cert_tool, args, input, input_len, CERT_TOOL_TIMEOUT_USEC, &out);
        if (status < 0)
                return log_error_errno(status, "Failed to run %s %s: %m", m->cert_tool, args[0]);
        /* Its output is facts, except a CSR on success; what it must print, it must have printed. */
        if ((status != CERT_TOOL_OK || ret_facts) &&
            (cert_facts_parse(out, &f) < 0 ||
             (status == CERT_TOOL_OK && (f.seen & CERT_FACTS_CERTIFICATE) != CERT_FACTS_CERTIFICATE)))
                return log_error_errno(EPROTO, "%s %s printed something unexpected (exit status %d).",
                                       m->cert_tool, args[0], status);
        r = cert_tool_error(status, &f);
        if (status == CERT_TOOL_FAILED)
                log_error("%s %s failed: %s", m->cert_tool, args[0], f.error < 0 ? strerror(-f.error) : "no reason given");
        else if (r == -EPROTO)
                log_error("%s %s exited with status %d.", m->cert_tool, args[0], status);
        if (ret_facts && (status == CERT_TOOL_OK || status == CERT_TOOL_REFUSED))
                *ret_facts = f;
        if (r >= 0 && ret_output)
                *ret_output = TAKE_PTR(out);
        return r;
}

static void cert_facts_store(IdentityManager *m, const CertFacts *f) {
        (void) snprintf(m->fingerprint, sizeof m->fingerprint, "%s", f->fingerprint);
        m->cert_not_after = f->not_after;
        m->cert_self_signed = f->self_signed;
}

void identity_cert_facts_apply(IdentityManager *m, const CertFacts *f) {
        cert_facts_store(m, f);
        (void) sd_bus_emit_properties_changed(m->daemon->bus, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY,
                                              "CertificateNotAfterUSec", "CertificateSelfSigned", NULL);
}

/* hub-identity-cert is installed beside us (libexecdir, or the build tree). */
static int find_cert_tool(IdentityManager *m) {
        char exe[PATH_MAX], *slash;
        ssize_t n;

        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0)
                return log_error_errno(errno, "Cannot read /proc/self/exe: %m");
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (!slash)
                return log_error_errno(EINVAL, "Unexpected /proc/self/exe: %s", exe);
        *slash = '\0';
        if (snprintf(m->cert_tool, sizeof m->cert_tool, "%s/%s", exe, CERT_TOOL_PROGRAM) >= (int) sizeof m->cert_tool)
                return log_error_errno(ENAMETOOLONG, "Path of %s too long.", CERT_TOOL_PROGRAM);
        if (access(m->cert_tool, X_OK) < 0)
                return log_error_errno(errno, "Cannot run %s, which does every operation on the device key: %m",
                                       m->cert_tool);
        return 0;
}

/* The device id, the key pair and a certificate for it, made by hub-identity-cert on first boot. */
static int setup_device_identity(IdentityManager *m) {
        bool adopt = false;
        CertFacts f;
        int r;

        r = find_cert_tool(m);
        if (r < 0)
                return r;
        r = meta_get(m->daemon->db, "device_id", m->device_id, sizeof m->device_id);
        if (r == -ENOENT) {
                /* A new or rebuilt database: a fresh id, unless the certificate on disk names one. */
                device_id_generate(m->device_id);
                adopt = true;
        } else if (r < 0 || !device_id_is_valid(m->device_id))
                return log_error_errno(r < 0 ? r : EBADMSG, "Failed to read the device id: %m");

        r = identity_cert_tool(m, STRV("setup", m->daemon->state_dir, m->device_id, adopt ? "--adopt" : NULL),
                               NULL, 0, NULL, &f);
        if (r < 0)
                return log_error_errno(r, "Failed to load or create the device key and certificate in '%s': %m",
                                       m->daemon->state_dir);
        if (!device_id_is_valid(f.device_id))
                return log_error_errno(EPROTO, "%s setup printed no device id.", m->cert_tool);
        if (adopt) {
                memcpy(m->device_id, f.device_id, sizeof m->device_id);
                r = meta_set(m->daemon->db, "device_id", m->device_id);
                if (r < 0)
                        return log_error_errno(r, "Failed to store the device id: %m");
        }
        cert_facts_store(m, &f);
        return 0;
}

static int resolve_verify_users(IdentityManager *m) {
        char *const *names = m->daemon->config.identity.verify_password_users;
        size_t n = 0;

        for (char *const *i = names; i && *i; i++)
                n++;
        m->verify_uids = calloc(MAX(n, 1u), sizeof(uid_t));
        if (!m->verify_uids)
                return log_oom();
        for (char *const *i = names; i && *i; i++) {
                struct passwd *pw = getpwnam(*i);

                /* A user that does not exist (yet) cannot call us: skip it, but say so. */
                if (!pw) {
                        log_warning("VerifyPasswordUsers: no user '%s', ignoring.", *i);
                        continue;
                }
                m->verify_uids[m->n_verify_uids++] = pw->pw_uid;
        }
        return 0;
}

static int identity_setup(HubDaemon *d) {
        const HubConfig *c = &d->config;
        IdentityManager *m;
        char path[PATH_MAX];
        int r;

        if (sodium_init() < 0)
                return log_error_errno(EIO, "libsodium failed to initialise.");

        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        d->userdata = m;
        m->daemon = d;
        m->throttle = (ThrottleConfig) {
                .base_usec = c->identity.throttle_base_sec * 1000000ULL,
                .max_usec = c->identity.throttle_max_sec * 1000000ULL,
                .lockout_after = c->identity.lockout_after_failures,
                .lockout_usec = c->identity.lockout_sec * 1000000ULL,
                .reset_after_usec = c->identity.failure_reset_sec * 1000000ULL,
        };

        /* Deleted rows (a replaced hash, the forgotten initial password) are overwritten, not left in free pages. */
        r = db_exec(d->db, "PRAGMA secure_delete=ON");
        if (r < 0)
                return log_error_errno(r, "Failed to enable secure_delete: %m");

        r = seal_master_key_path(IDENTITY_MASTER_KEY_CREDENTIAL, path, sizeof path);
        if (r >= 0)
                r = seal_master_key_load(path, &m->master_key);
        if (r < 0)
                return log_error_errno(r,
                                       "Cannot read the master key of the sealed store ($CREDENTIALS_DIRECTORY/%s): %m. "
                                       "systemd provides it with LoadCredentialEncrypted= (hub-identityd.service); "
                                       "tests/devstack makes one.",
                                       IDENTITY_MASTER_KEY_CREDENTIAL);

        r = setup_device_identity(m);
        if (r < 0)
                return r;
        r = resolve_verify_users(m);
        if (r < 0)
                return r;
        r = load_origin(m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the credential table: %m");
        if (m->origin == PASSWORD_ORIGIN_NONE) {
                if (c->identity.first_boot_password == FIRST_BOOT_PASSWORD_GENERATE) {
                        r = provision_password(m);
                        if (r < 0)
                                return r;
                } else
                        log_notice("No admin password is set: everything that needs it stays locked until "
                                   "root sets one with 'hubctl password set'.");
        }
        return 0;
}

static void identity_teardown(HubDaemon *d) {
        IdentityManager *m = d->userdata;

        sodium_free(m->master_key);
        free(m->verify_uids);
        free(m);
        d->userdata = NULL;
}

const HubDaemonOps identity_daemon_ops = {
        .domain = HUB_DOMAIN_IDENTITY,
        .program = "hub-identityd",
        .description = "The hubguard identity domain: admin credentials, brute-force protection, device identity.",
        .bus_name = HUB_BUS_NAME_IDENTITY,
        .bus_path = HUB_BUS_PATH_IDENTITY,
        .bus_iface = HUB_BUS_IFACE_IDENTITY,
        .vtable = identity_manager_vtable,
        .errors = identity_errors,
        .migrations = migrations,
        .n_migrations = ELEMENTSOF(migrations),
        .setup = identity_setup,
        .teardown = identity_teardown,
};
