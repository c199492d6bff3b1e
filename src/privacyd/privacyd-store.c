/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>

#include "hubguard/daemon.h"
#include "hubguard/errno-util.h"
#include "hubguard/log.h"
#include "hubguard/seal.h"
#include "hubguard/validate.h"
#include "privacyd-store.h"

#define NONCE_SIZE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_SIZE crypto_aead_xchacha20poly1305_ietf_ABYTES

const DbMigration privacy_migrations[PRIVACY_N_MIGRATIONS] = {
        HUB_DB_MIGRATION_META,
        { 2, "CREATE TABLE subject ("
             "  id TEXT PRIMARY KEY NOT NULL,"
             "  label BLOB NOT NULL,"              /* nonce | ciphertext | tag, under the subject key */
             "  created_usec INTEGER NOT NULL,"
             "  records INTEGER NOT NULL DEFAULT 0,"
             "  bytes INTEGER NOT NULL DEFAULT 0) STRICT;"
             "CREATE TABLE subject_key ("
             "  subject TEXT PRIMARY KEY NOT NULL,"
             "  wrapped BLOB NOT NULL) STRICT;"      /* seal.h blob under the master key */
             "CREATE TABLE record ("
             "  id INTEGER PRIMARY KEY,"
             "  subject TEXT NOT NULL,"
             "  category TEXT NOT NULL,"
             "  purpose TEXT NOT NULL,"
             "  recipients TEXT NOT NULL,"
             "  retention_sec INTEGER NOT NULL,"
             "  created_usec INTEGER NOT NULL,"
             "  expires_usec INTEGER NOT NULL,"     /* 0: until the subject is erased */
             "  data BLOB NOT NULL) STRICT;"        /* nonce | ciphertext | tag, under the subject key */
             "CREATE INDEX record_by_subject ON record (subject, id);"
             "CREATE INDEX record_by_expiry ON record (expires_usec) WHERE expires_usec > 0;"
             "CREATE TABLE consent ("
             "  subject TEXT NOT NULL,"
             "  purpose TEXT NOT NULL,"
             "  granted INTEGER NOT NULL CHECK (granted IN (0, 1)),"
             "  changed_usec INTEGER NOT NULL,"
             "  PRIMARY KEY (subject, purpose)) STRICT;"
             "CREATE TABLE consent_log ("
             "  id INTEGER PRIMARY KEY,"
             "  subject TEXT NOT NULL,"
             "  purpose TEXT NOT NULL,"
             "  granted INTEGER NOT NULL,"
             "  at_usec INTEGER NOT NULL,"
             "  uid INTEGER NOT NULL) STRICT;"
             "CREATE INDEX consent_log_by_subject ON consent_log (subject);"
             /* The journal: committed before an erase starts, deleted when its receipt is written. */
             "CREATE TABLE erase_job ("
             "  request_id TEXT PRIMARY KEY NOT NULL,"
             "  subject TEXT NOT NULL,"
             "  reason TEXT NOT NULL,"
             "  uid INTEGER NOT NULL,"
             "  requested_usec INTEGER NOT NULL,"
             "  records INTEGER NOT NULL) STRICT;"
             "CREATE TABLE receipt ("
             "  request_id TEXT PRIMARY KEY NOT NULL,"
             "  subject TEXT NOT NULL,"
             "  reason TEXT NOT NULL,"
             "  uid INTEGER NOT NULL,"
             "  requested_usec INTEGER NOT NULL,"
             "  completed_usec INTEGER NOT NULL,"
             "  records INTEGER NOT NULL,"
             "  stores TEXT NOT NULL,"
             "  cloud TEXT NOT NULL CHECK (cloud IN ('to-request', 'pending', 'acknowledged')),"
             "  cloud_usec INTEGER NOT NULL) STRICT;" },
};

#define DAY (24ULL * 3600ULL)

/* What the hub itself keeps about people. Other hub apps add theirs in /etc/hubguard/privacy.d. */
const PrivacyCategory privacy_builtin_categories[] = {
        { .name = "presence",
          .description = "Who is at home and when: arrivals and departures of household members",
          .purpose = "home automation and the alarm's away mode",
          .recipients = { "hub" }, .n_recipients = 1,
          .retention_sec = 30 * DAY, .source = "built-in" },
        { .name = "device-events",
          .description = "Device events tied to a person (a door unlocked by someone, a code used)",
          .purpose = "the activity history shown to the household",
          .recipients = { "hub" }, .n_recipients = 1,
          .retention_sec = 90 * DAY, .source = "built-in" },
        { .name = "automation-rules",
          .description = "Automation rules that name a person",
          .purpose = "running the household's automations",
          .recipients = { "hub" }, .n_recipients = 1,
          .retention_sec = 0, .source = "built-in" },
        { .name = "contact-details",
          .description = "Names, phone numbers and e-mail addresses for notifications",
          .purpose = "sending the household's alarms and notifications",
          .recipients = { "hub", "cloud-notifications" }, .n_recipients = 2,
          .retention_sec = 0, .source = "built-in" },
        { .name = "usage-analytics",
          .description = "How a person uses the hub's apps (optional telemetry)",
          .purpose = "improving the product; sent only with consent",
          .recipients = { "hub", "cloud-analytics" }, .n_recipients = 2,
          .retention_sec = 180 * DAY, .consent = "usage-analytics", .source = "built-in" },
};
const size_t privacy_n_builtin_categories = ELEMENTSOF(privacy_builtin_categories);

static const char *const cloud_names[_PRIVACY_CLOUD_MAX] = {
        [PRIVACY_CLOUD_TO_REQUEST] = "to-request",
        [PRIVACY_CLOUD_PENDING] = "pending",
        [PRIVACY_CLOUD_ACKNOWLEDGED] = "acknowledged",
};

const char *privacy_cloud_state_to_string(PrivacyCloudState s) {
        return s >= 0 && s < _PRIVACY_CLOUD_MAX ? cloud_names[s] : NULL;
}

PrivacyCloudState privacy_cloud_state_from_string(const char *s) {
        for (int i = 0; s && i < _PRIVACY_CLOUD_MAX; i++)
                if (streq(s, cloud_names[i]))
                        return (PrivacyCloudState) i;
        return _PRIVACY_CLOUD_INVALID;
}

/* ---- small SQLite helpers ---- */

static int prepare(PrivacyStore *s, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);

        return rc == SQLITE_OK ? 0 : errno_from_sqlite(rc);
}

static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* Run sql with ?1 (and ?2 unless b is NULL) bound to text, to its first row: 1 with *ret on it, 0 if
 * there is none, or a negative errno. */
static int select_row(PrivacyStore *s, const char *sql, const char *a, const char *b, sqlite3_stmt **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = prepare(s, sql, &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        if (b)
                (void) sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        *ret = TAKE_PTR(st);
        return 1;
}

/* Run sql with ?1 bound to a text; 0 or a negative errno. */
static int exec_text(PrivacyStore *s, const char *sql, const char *a) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(s, sql, &st);

        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
        return step_done(st);
}

static int begin(PrivacyStore *s) {
        return db_exec(s->db, "BEGIN IMMEDIATE");
}

static int commit_or_rollback(PrivacyStore *s, int r) {
        if (r >= 0)
                r = db_exec(s->db, "COMMIT");
        if (r < 0)
                (void) db_exec(s->db, "ROLLBACK");
        return r;
}

int privacy_checkpoint(PrivacyStore *s) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = prepare(s, "PRAGMA wal_checkpoint(TRUNCATE)", &st);

        if (r < 0)
                return r;
        /* One row: busy, WAL pages, checkpointed pages. busy means a reader held it back. */
        if (sqlite3_step(st) != SQLITE_ROW)
                return -EIO;
        return sqlite3_column_int(st, 0) == 0 ? 0 : -EBUSY;
}

/* ---- validation ---- */

static bool is_lower_hex(const char *s, size_t len) {
        return s && strnlen(s, len + 1) == len && strspn(s, "0123456789abcdef") == len;
}

bool privacy_subject_id_is_valid(const char *s) {
        return is_lower_hex(s, PRIVACY_SUBJECT_ID_LEN);
}

bool privacy_label_is_valid(const char *s) {
        return s && s[0] && string_is_safe(s, PRIVACY_LABEL_MAX);
}

const PrivacyCategory *privacy_category_find(const PrivacyStore *s, const char *name) {
        for (size_t i = 0; name && i < s->n_categories; i++)
                if (streq(s->categories[i].name, name))
                        return &s->categories[i];
        return NULL;
}

bool privacy_consent_purpose_known(const PrivacyStore *s, const char *purpose) {
        for (size_t i = 0; purpose && purpose[0] && i < s->n_categories; i++)
                if (streq(s->categories[i].consent, purpose))
                        return true;
        return false;
}

int privacy_store_init(PrivacyStore *s, sqlite3 *db, const unsigned char *master, const PrivacyCategory *categories,
                       size_t n_categories) {
        *s = (PrivacyStore) { .db = db, .master = master, .categories = categories, .n_categories = n_categories };
        /* Deleted cells and freed pages are overwritten with zeros, not left for a forensic read. */
        return db_exec(db, "PRAGMA secure_delete=ON");
}

/* ---- keys and contents ---- */

static void random_hex(char *buf, size_t hex_len) {
        unsigned char raw[64];

        randombytes_buf(raw, hex_len / 2);
        sodium_bin2hex(buf, hex_len + 1, raw, hex_len / 2);
}

static void key_name(const char *subject, char buf[static SEAL_NAME_MAX + 1]) {
        (void) snprintf(buf, SEAL_NAME_MAX + 1, "subject-%s", subject);
}

/* The subject's key, unwrapped into sodium_malloc()ed memory. -ENOKEY if it is gone. */
static int subject_key_load(PrivacyStore *s, const char *subject, unsigned char **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        char name[SEAL_NAME_MAX + 1];
        unsigned char *key = NULL;
        size_t len;
        int r;

        r = select_row(s, "SELECT wrapped FROM subject_key WHERE subject = ?1", subject, NULL, &st);
        if (r <= 0)
                return r < 0 ? r : -ENOKEY;
        key_name(subject, name);
        r = unseal_data(s->master, name, sqlite3_column_blob(st, 0), (size_t) sqlite3_column_bytes(st, 0), &key,
                        &len);
        if (r < 0)
                return r;
        if (len != PRIVACY_KEY_SIZE) {
                sodium_free(key);
                return -EBADMSG;
        }
        *ret = key;
        return 0;
}

static int encrypt_blob(const unsigned char *key, const char *ad, const void *data, size_t len, unsigned char **ret,
                        size_t *ret_len) {
        unsigned char *out = malloc(NONCE_SIZE + len + TAG_SIZE);
        unsigned long long clen;

        if (!out)
                return -ENOMEM;
        randombytes_buf(out, NONCE_SIZE);
        (void) crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_SIZE, &clen, data, len,
                                                          (const unsigned char *) ad, strlen(ad), NULL, out, key);
        *ret = out;
        *ret_len = NONCE_SIZE + (size_t) clen;
        return 0;
}

/* Decrypt into a malloc()ed, NUL-terminated buffer. -EBADMSG if it does not open. */
static int decrypt_blob(const unsigned char *key, const char *ad, const void *blob, size_t len, char **ret,
                        size_t *ret_len) {
        const unsigned char *b = blob;
        unsigned long long plen;
        char *out;

        if (!b || len < NONCE_SIZE + TAG_SIZE || len - NONCE_SIZE - TAG_SIZE > PRIVACY_RECORD_MAX)
                return -EBADMSG;
        out = malloc(len - NONCE_SIZE - TAG_SIZE + 1);
        if (!out)
                return -ENOMEM;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *) out, &plen, NULL, b + NONCE_SIZE,
                                                       len - NONCE_SIZE, (const unsigned char *) ad, strlen(ad), b,
                                                       key) != 0) {
                free(out);
                return -EBADMSG;
        }
        out[plen] = '\0';
        *ret = out;
        *ret_len = (size_t) plen;
        return 0;
}

/*
 * A record's contents are bound to its subject, its row id and its category: a blob copied to another
 * subject, another record of the same subject (same category or not) or relabelled does not open.
 * (No release has carried the store without the id, so there is no older form to read.)
 */
static void record_ad(const char *subject, int64_t id, const char *category, char buf[static 128]) {
        (void) snprintf(buf, 128, "record/%s/%" PRIi64 "/%s", subject, id, category);
}


static void label_ad(const char *subject, char buf[static 128]) {
        (void) snprintf(buf, 128, "label/%s", subject);
}

/* ---- subjects ---- */

int privacy_subject_create(PrivacyStore *s, const char *label, uint64_t now_usec,
                           char ret_id[static PRIVACY_SUBJECT_ID_LEN + 1]) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ unsigned char *label_blob = NULL;
        _cleanup_free_ void *wrapped = NULL;
        unsigned char *key = NULL;
        char name[SEAL_NAME_MAX + 1], ad[128];
        size_t wrapped_len, label_len;
        int64_t n;
        int r;

        if (!privacy_label_is_valid(label))
                return -EINVAL;
        r = db_query_int64(s->db, "SELECT count(*) FROM subject", &n);
        if (r < 0)
                return r;
        if (n >= PRIVACY_SUBJECTS_MAX)
                return -EUSERS;

        random_hex(ret_id, PRIVACY_SUBJECT_ID_LEN);
        key = sodium_malloc(PRIVACY_KEY_SIZE);
        if (!key)
                return -ENOMEM;
        crypto_aead_xchacha20poly1305_ietf_keygen(key);
        key_name(ret_id, name);
        label_ad(ret_id, ad);
        r = seal_data(s->master, name, key, PRIVACY_KEY_SIZE, &wrapped, &wrapped_len);
        if (r >= 0)
                r = encrypt_blob(key, ad, label, strlen(label), &label_blob, &label_len);
        sodium_free(key);
        if (r < 0)
                return r;

        r = begin(s);
        if (r < 0)
                return r;
        r = prepare(s, "INSERT INTO subject_key (subject, wrapped) VALUES (?1, ?2)", &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, ret_id, -1, SQLITE_STATIC);
                (void) sqlite3_bind_blob(st, 2, wrapped, (int) wrapped_len, SQLITE_STATIC);
                r = step_done(st);
        }
        sqlite3_finalize(TAKE_PTR(st));
        if (r >= 0)
                r = prepare(s, "INSERT INTO subject (id, label, created_usec) VALUES (?1, ?2, ?3)", &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, ret_id, -1, SQLITE_STATIC);
                (void) sqlite3_bind_blob(st, 2, label_blob, (int) label_len, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 3, (sqlite3_int64) now_usec);
                r = step_done(st);
        }
        return commit_or_rollback(s, r);
}

int privacy_subject_exists(PrivacyStore *s, const char *id) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        if (!privacy_subject_id_is_valid(id))
                return 0;
        /* A subject whose erase has started is gone for every API, even before its rows are. */
        r = prepare(s, "SELECT 1 FROM subject WHERE id = ?1 AND id NOT IN (SELECT subject FROM erase_job)", &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int privacy_subjects_foreach(PrivacyStore *s, PrivacySubjectCb cb, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = prepare(s,
                    "SELECT id, label, created_usec, records, bytes FROM subject "
                    "WHERE id NOT IN (SELECT subject FROM erase_job) ORDER BY created_usec, id",
                    &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                unsigned char *key = NULL;
                char ad[128], *label = NULL;
                size_t len = 0;

                if (!privacy_subject_id_is_valid(id))
                        return -EBADMSG;
                r = subject_key_load(s, id, &key);
                if (r < 0)
                        return r;
                label_ad(id, ad);
                r = decrypt_blob(key, ad, sqlite3_column_blob(st, 1), (size_t) sqlite3_column_bytes(st, 1), &label,
                                 &len);
                sodium_free(key);
                if (r < 0)
                        return r;
                r = cb(&(PrivacySubjectInfo) {
                               .id = id,
                               .label = label,
                               .created_usec = (uint64_t) MAX(sqlite3_column_int64(st, 2), 0),
                               .records = (uint64_t) MAX(sqlite3_column_int64(st, 3), 0),
                               .bytes = (uint64_t) MAX(sqlite3_column_int64(st, 4), 0),
                       },
                       userdata);
                erase_and_free(label); /* plaintext: wiped before it goes back */
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* ---- records ---- */

static int recipients_json(const PrivacyCategory *cat, const char *const *recipients, size_t n, char **ret) {
        json_t *a = json_array();
        char *text;

        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < (n > 0 ? n : cat->n_recipients); i++) {
                const char *v = n > 0 ? recipients[i] : cat->recipients[i];

                if (!identifier_is_valid(v, PRIVACY_RECIPIENT_MAX) || json_array_append_new(a, json_string(v)) < 0) {
                        json_decref(a);
                        return -EINVAL;
                }
        }
        text = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int privacy_record_store(PrivacyStore *s, const char *subject, const PrivacyCategory *cat, const char *purpose,
                         const char *const *recipients, size_t n_recipients, uint64_t retention_sec,
                         const void *data, size_t len, uint64_t now_usec, int64_t *ret_id) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ unsigned char *blob = NULL;
        _cleanup_free_ char *rcpt = NULL;
        unsigned char *key = NULL;
        uint64_t expires;
        size_t blob_len = 0;
        char ad[128];
        int64_t id = 0;
        int r, rc;

        if (!cat || len > PRIVACY_RECORD_MAX || !utf8_is_valid(data, len) || n_recipients > PRIVACY_RECIPIENTS_MAX ||
            (purpose && !(purpose[0] && string_is_safe(purpose, PRIVACY_PURPOSE_MAX))) ||
            (retention_sec != UINT64_MAX && retention_sec > PRIVACY_RETENTION_MAX_SEC))
                return -EINVAL;
        r = recipients_json(cat, recipients, n_recipients, &rcpt);
        if (r < 0)
                return r;
        if (retention_sec == UINT64_MAX)
                retention_sec = cat->retention_sec;
        expires = retention_sec > 0 ? now_usec + retention_sec * 1000000ULL : 0;

        r = privacy_subject_exists(s, subject);
        if (r <= 0)
                return r < 0 ? r : -ESRCH;
        if (cat->consent[0]) {
                r = privacy_consent_get(s, subject, cat->consent);
                if (r <= 0)
                        return r < 0 ? r : -ENOKEY;
        }
        r = subject_key_load(s, subject, &key);
        if (r < 0)
                return r;

        r = begin(s);
        if (r < 0) {
                sodium_free(key);
                return r;
        }
        /* The id is chosen here, under the write lock, so that it can be in the associated data. */
        r = db_query_int64(s->db, "SELECT coalesce(max(id), 0) + 1 FROM record", &id);
        if (r >= 0) {
                record_ad(subject, id, cat->name, ad);
                r = encrypt_blob(key, ad, data, len, &blob, &blob_len);
        }
        sodium_free(key);
        /* The limits are checked and the counters moved in the transaction that adds the row. */
        if (r >= 0)
                r = prepare(s,
                            "UPDATE subject SET records = records + 1, bytes = bytes + ?2 "
                            "WHERE id = ?1 AND records < ?3 AND bytes + ?2 <= ?4",
                            &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 2, (sqlite3_int64) len);
                (void) sqlite3_bind_int64(st, 3, (sqlite3_int64) PRIVACY_SUBJECT_RECORDS_MAX);
                (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) PRIVACY_SUBJECT_BYTES_MAX);
                r = step_done(st);
                if (r >= 0 && sqlite3_changes(s->db) != 1)
                        r = -EDQUOT;
        }
        sqlite3_finalize(TAKE_PTR(st));
        if (r >= 0)
                r = prepare(s,
                            "INSERT INTO record (subject, category, purpose, recipients, retention_sec, created_usec, "
                            "expires_usec, data, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 2, cat->name, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 3, purpose ? purpose : cat->purpose, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 4, rcpt, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 5, (sqlite3_int64) retention_sec);
                (void) sqlite3_bind_int64(st, 6, (sqlite3_int64) now_usec);
                (void) sqlite3_bind_int64(st, 7, (sqlite3_int64) expires);
                (void) sqlite3_bind_blob(st, 8, blob, (int) blob_len, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 9, id);
                rc = sqlite3_step(st);
                r = rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
        }
        if (r >= 0 && ret_id)
                *ret_id = id;
        return commit_or_rollback(s, r);
}

int privacy_records_foreach(PrivacyStore *s, const char *subject, const char *category, PrivacyRecordCb cb,
                            void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        unsigned char *key = NULL;
        int r, rc;

        r = privacy_subject_exists(s, subject);
        if (r <= 0)
                return r < 0 ? r : -ESRCH;
        r = prepare(s,
                    "SELECT id, category, purpose, recipients, retention_sec, created_usec, expires_usec, data "
                    "FROM record WHERE subject = ?1 AND (?2 IS NULL OR category = ?2) ORDER BY id",
                    &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
        if (category)
                (void) sqlite3_bind_text(st, 2, category, -1, SQLITE_STATIC);
        r = subject_key_load(s, subject, &key);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *cat = (const char *) sqlite3_column_text(st, 1);
                char ad[128], *data = NULL;
                size_t len = 0;

                if (!cat || !identifier_is_valid(cat, PRIVACY_CATEGORY_MAX)) {
                        r = -EBADMSG;
                        break;
                }
                record_ad(subject, sqlite3_column_int64(st, 0), cat, ad);
                r = decrypt_blob(key, ad, sqlite3_column_blob(st, 7), (size_t) sqlite3_column_bytes(st, 7), &data,
                                 &len);
                if (r < 0)
                        break;
                r = cb(&(PrivacyRecord) {
                               .id = sqlite3_column_int64(st, 0),
                               .subject = subject,
                               .category = cat,
                               .purpose = (const char *) sqlite3_column_text(st, 2),
                               .recipients_json = (const char *) sqlite3_column_text(st, 3),
                               .retention_sec = (uint64_t) MAX(sqlite3_column_int64(st, 4), 0),
                               .created_usec = (uint64_t) MAX(sqlite3_column_int64(st, 5), 0),
                               .expires_usec = (uint64_t) MAX(sqlite3_column_int64(st, 6), 0),
                               .data = data,
                               .len = len,
                       },
                       userdata);
                erase_and_free(data); /* plaintext: wiped before it goes back */
                if (r < 0)
                        break;
        }
        sodium_free(key);
        if (r < 0)
                return r;
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* ---- export ---- */

/* One fwrite per value: json_dumpf() writes token by token, a locked stdio call each (tests/bench). */
static int dump_value(FILE *f, json_t *v) {
        char buf[8192];
        size_t n;
        int r = 0;

        if (!v)
                return -ENOMEM;
        n = json_dumpb(v, buf, sizeof buf, JSON_COMPACT | JSON_ENCODE_ANY);
        if (n == 0)
                r = -ENOMEM;
        else if (n <= sizeof buf)
                r = fwrite(buf, 1, n, f) == n ? 0 : -EIO;
        else {
                _cleanup_erase_free_ char *big = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

                r = !big ? -ENOMEM : fputs(big, f) >= 0 ? 0 : -EIO;
        }
        /* The record's decrypted text was in it. */
        explicit_erase(buf, MIN(n, sizeof buf));
        json_decref(v);
        return r;
}

typedef struct ExportCtx {
        FILE *f;
        uint64_t n;
        char *last_recipients;   /* records of a subject mostly share their recipients: parsed once */
        json_t *recipients;
} ExportCtx;

static int export_record(const PrivacyRecord *rec, void *userdata) {
        ExportCtx *c = userdata;
        const char *rj = rec->recipients_json ? rec->recipients_json : "[]";

        if (!c->last_recipients || !streq(c->last_recipients, rj)) {
                json_decref(c->recipients);
                free(c->last_recipients);
                c->recipients = json_loads(rj, 0, NULL);
                c->last_recipients = strdup(rj);
                if (!json_is_array(c->recipients) || !c->last_recipients)
                        return -EBADMSG;
        }
        if (c->n++ > 0)
                fputc(',', c->f);
        return dump_value(c->f, json_pack("{sIsssssOsIsIsIss%}", "id", (json_int_t) rec->id, "category",
                                          rec->category, "purpose", rec->purpose ? rec->purpose : "", "recipients",
                                          c->recipients, "retention_sec", (json_int_t) rec->retention_sec,
                                          "created_usec", (json_int_t) rec->created_usec, "expires_usec",
                                          (json_int_t) rec->expires_usec, "data", rec->data, rec->len));
}

typedef struct SubjectFind {
        const char *id;
        json_t *found;
} SubjectFind;

static int find_subject(const PrivacySubjectInfo *i, void *userdata) {
        SubjectFind *sf = userdata;

        if (streq(i->id, sf->id) && !sf->found)
                sf->found = json_pack("{sssssI}", "id", i->id, "label", i->label, "created_usec",
                                      (json_int_t) i->created_usec);
        return 0;
}

static int export_consent(const PrivacyConsent *c, void *userdata) {
        json_t *a = userdata;

        return json_array_append_new(a, json_pack("{sssbsI}", "purpose", c->purpose, "granted", c->granted,
                                                  "changed_usec", (json_int_t) c->changed_usec)) < 0
                       ? -ENOMEM
                       : 0;
}

int privacy_export(PrivacyStore *s, const char *subject, uint64_t now_usec, FILE *f) {
        SubjectFind sf = { .id = subject };
        ExportCtx c = { .f = f };
        json_t *consents;
        int r;

        r = privacy_subject_exists(s, subject);
        if (r <= 0)
                return r < 0 ? r : -ESRCH;
        r = privacy_subjects_foreach(s, find_subject, &sf);
        if (r < 0 || !sf.found) {
                json_decref(sf.found);
                return r < 0 ? r : -ESRCH;
        }
        consents = json_array();
        r = consents ? privacy_consents_foreach(s, subject, export_consent, consents) : -ENOMEM;
        if (r < 0) {
                json_decref(consents);
                json_decref(sf.found);
                return r;
        }
        fprintf(f, "{\"format\":\"hubguard-privacy-export/1\",\"exported_usec\":%" PRIu64 ",\"subject\":", now_usec);
        r = dump_value(f, sf.found);
        if (r >= 0) {
                fputs(",\"consents\":", f);
                r = dump_value(f, consents);
        } else
                json_decref(consents);
        if (r < 0)
                return r;
        fputs(",\"records\":[", f);
        r = privacy_records_foreach(s, subject, NULL, export_record, &c);
        json_decref(c.recipients);
        free(c.last_recipients);
        if (r < 0)
                return r;
        fputs("]}\n", f);
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}

/* ---- consent ---- */

int privacy_consent_get(PrivacyStore *s, const char *subject, const char *purpose) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = select_row(s, "SELECT granted FROM consent WHERE subject = ?1 AND purpose = ?2", subject, purpose, &st);
        if (r <= 0)
                return r; /* none: never asked, and optional processing is off */
        return sqlite3_column_int(st, 0) == 1;
}

/* Delete records matching a WHERE clause (?1 subject, ?2 category or now); keeps the counters true. */
static int delete_records(PrivacyStore *s, const char *where, const char *subject, const char *category,
                          uint64_t now_usec, uint64_t *ret_n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL, *upd = NULL;
        char sql[512];
        uint64_t n = 0;
        int r, rc;

        (void) snprintf(sql, sizeof sql, "DELETE FROM record WHERE %s RETURNING subject, length(data) - %d", where,
                        NONCE_SIZE + TAG_SIZE);
        r = prepare(s, sql, &st);
        if (r >= 0)
                r = prepare(s, "UPDATE subject SET records = max(records - 1, 0), bytes = max(bytes - ?2, 0) "
                               "WHERE id = ?1",
                            &upd);
        if (r < 0)
                return r;
        if (subject)
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
        if (category)
                (void) sqlite3_bind_text(st, 2, category, -1, SQLITE_STATIC);
        else
                (void) sqlite3_bind_int64(st, 2, (sqlite3_int64) now_usec);
        /* RETURNING rows are all computed before the first is returned: updating subject meanwhile is safe. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                (void) sqlite3_reset(upd);
                (void) sqlite3_bind_text(upd, 1, (const char *) sqlite3_column_text(st, 0), -1, SQLITE_TRANSIENT);
                (void) sqlite3_bind_int64(upd, 2, sqlite3_column_int64(st, 1));
                r = step_done(upd);
                if (r < 0)
                        return r;
                n++;
        }
        if (rc != SQLITE_DONE)
                return errno_from_sqlite(rc);
        *ret_n = n;
        return 0;
}

int privacy_consent_set(PrivacyStore *s, const char *subject, const char *purpose, bool granted, uid_t uid,
                        uint64_t now_usec, uint64_t *ret_erased) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        uint64_t erased = 0;
        int r;

        if (!privacy_consent_purpose_known(s, purpose))
                return -EINVAL;
        r = privacy_subject_exists(s, subject);
        if (r <= 0)
                return r < 0 ? r : -ESRCH;
        r = begin(s);
        if (r < 0)
                return r;
        r = prepare(s,
                    "INSERT INTO consent (subject, purpose, granted, changed_usec) VALUES (?1, ?2, ?3, ?4) "
                    "ON CONFLICT (subject, purpose) DO UPDATE SET granted = ?3, changed_usec = ?4",
                    &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 2, purpose, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int(st, 3, granted);
                (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) now_usec);
                r = step_done(st);
        }
        sqlite3_finalize(TAKE_PTR(st));
        if (r >= 0)
                r = prepare(s, "INSERT INTO consent_log (subject, purpose, granted, at_usec, uid) VALUES (?1, ?2, ?3, ?4, ?5)",
                            &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 2, purpose, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int(st, 3, granted);
                (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) now_usec);
                (void) sqlite3_bind_int64(st, 5, (sqlite3_int64) uid);
                r = step_done(st);
        }
        sqlite3_finalize(TAKE_PTR(st));
        /* Bounded: the newest PRIVACY_CONSENT_LOG_MAX entries of the subject are kept. */
        if (r >= 0)
                r = prepare(s, "DELETE FROM consent_log WHERE subject = ?1 AND id NOT IN (SELECT id FROM consent_log "
                               "WHERE subject = ?1 ORDER BY id DESC LIMIT " STRINGIFY(PRIVACY_CONSENT_LOG_MAX) ")",
                            &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                r = step_done(st);
        }
        /* Withdrawn consent: what was kept under it goes, in the same transaction. */
        for (size_t i = 0; r >= 0 && !granted && i < s->n_categories; i++) {
                uint64_t n = 0;

                if (!streq(s->categories[i].consent, purpose))
                        continue;
                r = delete_records(s, "subject = ?1 AND category = ?2", subject, s->categories[i].name, 0, &n);
                erased += n;
        }
        r = commit_or_rollback(s, r);
        if (r < 0)
                return r;
        if (erased > 0)
                (void) privacy_checkpoint(s);
        if (ret_erased)
                *ret_erased = erased;
        return 0;
}

int privacy_consents_foreach(PrivacyStore *s, const char *subject, PrivacyConsentCb cb, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = prepare(s,
                    "SELECT subject, purpose, granted, changed_usec FROM consent "
                    "WHERE (?1 IS NULL OR subject = ?1) AND subject NOT IN (SELECT subject FROM erase_job) "
                    "ORDER BY subject, purpose",
                    &st);
        if (r < 0)
                return r;
        if (subject)
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb(&(PrivacyConsent) {
                               .subject = (const char *) sqlite3_column_text(st, 0),
                               .purpose = (const char *) sqlite3_column_text(st, 1),
                               .granted = sqlite3_column_int(st, 2) == 1,
                               .changed_usec = (uint64_t) MAX(sqlite3_column_int64(st, 3), 0),
                       },
                       userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* ---- erase ---- */

int privacy_erase_begin(PrivacyStore *s, const char *subject, const char *reason, uid_t uid, uint64_t now_usec,
                        char ret_request_id[static PRIVACY_REQUEST_ID_LEN + 1]) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = privacy_subject_exists(s, subject);
        if (r <= 0)
                return r < 0 ? r : -ESRCH;
        random_hex(ret_request_id, PRIVACY_REQUEST_ID_LEN);
        /* The journal entry is committed (synchronous=FULL) before anything is destroyed. */
        r = prepare(s,
                    "INSERT INTO erase_job (request_id, subject, reason, uid, requested_usec, records) "
                    "SELECT ?1, ?2, ?3, ?4, ?5, records FROM subject WHERE id = ?2",
                    &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, ret_request_id, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) uid);
        (void) sqlite3_bind_int64(st, 5, (sqlite3_int64) now_usec);
        r = step_done(st);
        if (r >= 0 && sqlite3_changes(s->db) != 1)
                r = -ESRCH;
        return r;
}

int privacy_erase_run(PrivacyStore *s, const char *request_id, const char *extra_stores_json, uint64_t now_usec) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *subject = NULL, *stores = NULL;
        json_t *a;
        int r;

        r = select_row(s, "SELECT subject FROM erase_job WHERE request_id = ?1", request_id, NULL, &st);
        if (r <= 0)
                return r < 0 ? r : -ENXIO;
        subject = strdup((const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(TAKE_PTR(st));
        if (!subject)
                return -ENOMEM;

        /* Step 1: the key. From this commit on, the subject's data cannot be decrypted. */
        r = exec_text(s, "DELETE FROM subject_key WHERE subject = ?1", subject);
        if (r < 0)
                return r;
        r = privacy_checkpoint(s);
        if (r < 0)
                return r;

        /* Step 2: the rows, and the journal turned into the receipt, in one transaction. */
        a = extra_stores_json ? json_loads(extra_stores_json, 0, NULL) : json_array();
        if (!json_is_array(a)) {
                json_decref(a);
                return -EINVAL;
        }
        json_array_insert_new(a, 0, json_pack("{ssss}", "store", "privacy", "result", "erased"));
        stores = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (!stores)
                return -ENOMEM;

        r = begin(s);
        if (r < 0)
                return r;
        r = exec_text(s, "DELETE FROM record WHERE subject = ?1", subject);
        if (r >= 0)
                r = exec_text(s, "DELETE FROM consent WHERE subject = ?1", subject);
        if (r >= 0)
                r = exec_text(s, "DELETE FROM consent_log WHERE subject = ?1", subject);
        if (r >= 0)
                r = exec_text(s, "DELETE FROM subject WHERE id = ?1", subject);
        if (r >= 0)
                r = prepare(s,
                            "INSERT OR IGNORE INTO receipt (request_id, subject, reason, uid, requested_usec, "
                            "completed_usec, records, stores, cloud, cloud_usec) "
                            "SELECT request_id, subject, reason, uid, requested_usec, ?2, records, ?3, 'to-request', 0 "
                            "FROM erase_job WHERE request_id = ?1",
                            &st);
        if (r >= 0) {
                (void) sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 2, (sqlite3_int64) now_usec);
                (void) sqlite3_bind_text(st, 3, stores, -1, SQLITE_STATIC);
                r = step_done(st);
        }
        if (r >= 0)
                r = exec_text(s, "DELETE FROM erase_job WHERE request_id = ?1", request_id);
        /* Bounded: acknowledged receipts older than the newest PRIVACY_RECEIPTS_MAX go; pending ones stay. */
        if (r >= 0)
                r = db_exec(s->db, "DELETE FROM receipt WHERE cloud = 'acknowledged' AND request_id NOT IN "
                                   "(SELECT request_id FROM receipt ORDER BY completed_usec DESC, request_id LIMIT "
                                   STRINGIFY(PRIVACY_RECEIPTS_MAX) ")");
        r = commit_or_rollback(s, r);
        if (r < 0)
                return r;
        return privacy_checkpoint(s);
}

int privacy_erase_jobs_foreach(PrivacyStore *s, PrivacyReceiptCb cb, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = prepare(s, "SELECT request_id, subject FROM erase_job ORDER BY requested_usec", &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0), *subject = (const char *) sqlite3_column_text(st, 1);

                if (!is_lower_hex(id, PRIVACY_REQUEST_ID_LEN) || !privacy_subject_id_is_valid(subject))
                        return -EBADMSG;
                r = cb(id, subject, PRIVACY_CLOUD_TO_REQUEST, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int privacy_erase_resume(PrivacyStore *s, uint64_t now_usec, unsigned *ret_n) {
        unsigned n = 0;
        int r;

        for (;;) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
                char id[PRIVACY_REQUEST_ID_LEN + 1];
                int rc;

                r = prepare(s, "SELECT request_id FROM erase_job ORDER BY requested_usec LIMIT 1", &st);
                if (r < 0)
                        return r;
                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        break;
                if (rc != SQLITE_ROW)
                        return errno_from_sqlite(rc);
                if (!is_lower_hex((const char *) sqlite3_column_text(st, 0), PRIVACY_REQUEST_ID_LEN))
                        return -EBADMSG;
                memcpy(id, sqlite3_column_text(st, 0), sizeof id);
                sqlite3_finalize(TAKE_PTR(st));
                r = privacy_erase_run(s, id, NULL, now_usec);
                if (r < 0)
                        return r;
                n++;
        }
        if (ret_n)
                *ret_n = n;
        return 0;
}

int privacy_receipt_set_cloud(PrivacyStore *s, const char *request_id, PrivacyCloudState state, uint64_t now_usec) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = prepare(s, "UPDATE receipt SET cloud = ?2, cloud_usec = ?3 WHERE request_id = ?1 AND cloud != ?2", &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, privacy_cloud_state_to_string(state), -1, SQLITE_STATIC);
        (void) sqlite3_bind_int64(st, 3, (sqlite3_int64) now_usec);
        return step_done(st);
}

int privacy_receipt_merge_stores(PrivacyStore *s, const char *request_id, const char *stores_json) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *text = NULL;
        json_t *have, *add, *v;
        size_t i;
        int r;

        add = json_loads(stores_json, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_array(add) || json_array_size(add) > 64) {
                json_decref(add);
                return -EINVAL;
        }
        r = select_row(s, "SELECT stores FROM receipt WHERE request_id = ?1", request_id, NULL, &st);
        if (r <= 0) {
                json_decref(add);
                return r < 0 ? r : -ENXIO;
        }
        have = json_loads((const char *) sqlite3_column_text(st, 0), 0, NULL);
        sqlite3_finalize(TAKE_PTR(st));
        if (!json_is_array(have)) {
                json_decref(have);
                have = json_array();
        }
        /* Each store's entry is replaced by the newer one, or added. */
        json_array_foreach(add, i, v) {
                const char *name = json_string_value(json_object_get(v, "store"));
                const char *result = json_string_value(json_object_get(v, "result"));
                json_t *h;
                size_t k;
                bool found = false;

                if (!name || !result || !identifier_is_valid(name, 64) || !string_is_safe(result, 2048))
                        continue;
                json_array_foreach(have, k, h)
                        if (json_is_string(json_object_get(h, "store")) &&
                            streq(json_string_value(json_object_get(h, "store")), name)) {
                                json_object_set_new(h, "result", json_string(result));
                                found = true;
                        }
                if (!found)
                        json_array_append_new(have, json_pack("{ssss}", "store", name, "result", result));
        }
        json_decref(add);
        text = json_dumps(have, JSON_COMPACT);
        json_decref(have);
        if (!text)
                return -ENOMEM;
        r = prepare(s, "UPDATE receipt SET stores = ?2 WHERE request_id = ?1", &st);
        if (r < 0)
                return r;
        (void) sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        return step_done(st);
}

int privacy_receipt_json(PrivacyStore *s, const char *request_id, char **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        json_t *o, *stores;
        const char *cloud;
        int r;

        r = select_row(s,
                    "SELECT request_id, subject, reason, uid, requested_usec, completed_usec, records, stores, "
                    "cloud, cloud_usec FROM receipt WHERE request_id = ?1",
                    request_id, NULL, &st);
        if (r <= 0)
                return r < 0 ? r : -ENXIO;
        stores = json_loads((const char *) sqlite3_column_text(st, 7), 0, NULL);
        cloud = (const char *) sqlite3_column_text(st, 8);
        o = json_pack("{sssssssIsIsIsIso*sssssIss}", "request_id", (const char *) sqlite3_column_text(st, 0),
                      "subject", (const char *) sqlite3_column_text(st, 1), "reason",
                      (const char *) sqlite3_column_text(st, 2), "uid", (json_int_t) sqlite3_column_int64(st, 3),
                      "requested_usec", (json_int_t) sqlite3_column_int64(st, 4), "completed_usec",
                      (json_int_t) sqlite3_column_int64(st, 5), "records", (json_int_t) sqlite3_column_int64(st, 6),
                      "stores", stores, "cloud", cloud,
                      "cloud_meaning",
                      streq(cloud, "acknowledged")
                              ? "the cloud broker acknowledged the erase request (MQTT PUBACK at QoS 1): the "
                                "cloud has received it; carrying it out is the cloud service's duty"
                              : "the erase request waits in hub-telemetryd's outbox and is sent again until the "
                                "cloud broker acknowledges it",
                      "cloud_usec", (json_int_t) sqlite3_column_int64(st, 9), "erased_key_first",
                      "the subject's key was destroyed before its records were deleted");
        if (!o)
                return -ENOMEM;
        *ret = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return *ret ? 0 : -ENOMEM;
}

int privacy_receipts_foreach(PrivacyStore *s, PrivacyReceiptCb cb, void *userdata) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r, rc;

        r = prepare(s, "SELECT request_id, subject, cloud FROM receipt ORDER BY completed_usec, request_id", &st);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = cb((const char *) sqlite3_column_text(st, 0), (const char *) sqlite3_column_text(st, 1),
                       privacy_cloud_state_from_string((const char *) sqlite3_column_text(st, 2)), userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

/* ---- retention ---- */

int privacy_expire(PrivacyStore *s, uint64_t now_usec, uint64_t *ret_erased, uint64_t *ret_next_usec) {
        int64_t next = 0;
        uint64_t n = 0;
        int r;

        r = begin(s);
        if (r < 0)
                return r;
        r = delete_records(s, "expires_usec > 0 AND expires_usec <= ?2", NULL, NULL, now_usec, &n);
        r = commit_or_rollback(s, r);
        if (r < 0)
                return r;
        if (n > 0) {
                r = privacy_checkpoint(s);
                if (r < 0)
                        return r;
        }
        r = db_query_int64(s->db, "SELECT coalesce(min(expires_usec), 0) FROM record WHERE expires_usec > 0", &next);
        if (r < 0)
                return r;
        if (ret_erased)
                *ret_erased = n;
        if (ret_next_usec)
                *ret_next_usec = (uint64_t) MAX(next, 0);
        return 0;
}
