/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The personal data store of hub-privacyd (EN 303 645 5.8, 5.11, clause 6).
 *
 * Subjects (household members) have random ids. Everything personal about a subject (its label,
 * the contents of its records) is encrypted at rest with XChaCha20-Poly1305 under the subject's
 * own 32-byte key (associated data: the subject, and for a record its id and category, so rows
 * cannot be swapped); that key is stored only wrapped (seal.h) under the domain's master key. What is
 * kept in clear is what the inventory must show: category, purpose, recipients, retention, times.
 *
 * Erasure is crypto-shredding first, deletion second: the wrapped key row goes in its own
 * transaction (from then on the subject's data cannot be read by anyone), then the data rows; the
 * database runs with secure_delete (freed cells and pages are zeroed) and every step ends with
 * wal_checkpoint(TRUNCATE), so no old page survives in the WAL. The intent is journalled (an
 * erase_job row committed before any work), each step is idempotent, and an interrupted erase is
 * finished by privacy_erase_resume() at the next start.
 */

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hubguard/db.h"

/*
 * "Not there" has errnos of its own, which no failure below (SQLite, seal, JSON, files) maps to:
 * SQLITE_CANTOPEN becomes -ENOENT, and must not reach a caller as "no such subject".
 *   -ESRCH   no such subject (or it is being erased)
 *   -ENXIO   no such erase job or receipt
 */

#define PRIVACY_SUBJECT_ID_LEN 32               /* hex of 16 random bytes */
#define PRIVACY_REQUEST_ID_LEN 32
#define PRIVACY_KEY_SIZE 32
#define PRIVACY_LABEL_MAX 64                    /* bytes of UTF-8, a person's name for the owner */
#define PRIVACY_PURPOSE_MAX 128                 /* bytes of UTF-8 */
#define PRIVACY_CATEGORY_MAX 32                 /* an identifier */
#define PRIVACY_DESCRIPTION_MAX 160
#define PRIVACY_RECIPIENT_MAX 32                /* an identifier */
#define PRIVACY_RECIPIENTS_MAX 8
#define PRIVACY_RECORD_MAX (64 * 1024)          /* bytes of one record's contents */
#define PRIVACY_SUBJECTS_MAX 1024
#define PRIVACY_SUBJECT_RECORDS_MAX 1000000ULL  /* records of one subject */
#define PRIVACY_SUBJECT_BYTES_MAX (256ULL << 20) /* bytes of record contents of one subject */
#define PRIVACY_RETENTION_MAX_SEC (10ULL * 366 * 24 * 3600)
#define PRIVACY_CATEGORIES_MAX 64               /* built-in plus declared */
#define PRIVACY_CONSENT_PURPOSE_MAX 32          /* an identifier */
#define PRIVACY_RECEIPTS_MAX 1000               /* acknowledged receipts older than the newest N go */
#define PRIVACY_CONSENT_LOG_MAX 1000            /* entries kept per subject, the newest */

/* A category of personal data: what it is, why it is kept, where it goes, how long. */
typedef struct PrivacyCategory {
        char name[PRIVACY_CATEGORY_MAX + 1];
        char description[PRIVACY_DESCRIPTION_MAX + 1];
        char purpose[PRIVACY_PURPOSE_MAX + 1];
        char recipients[PRIVACY_RECIPIENTS_MAX][PRIVACY_RECIPIENT_MAX + 1];
        unsigned n_recipients;
        uint64_t retention_sec;                  /* 0: kept until the subject is erased */
        char consent[PRIVACY_CONSENT_PURPOSE_MAX + 1]; /* "" or the consent it needs (optional processing) */
        char source[80];                         /* "built-in" or the declaring file */
} PrivacyCategory;

extern const PrivacyCategory privacy_builtin_categories[];
extern const size_t privacy_n_builtin_categories;

typedef struct PrivacyStore {
        sqlite3 *db;
        const unsigned char *master;             /* SEAL_MASTER_KEY_SIZE bytes, owned by the caller */
        const PrivacyCategory *categories;
        size_t n_categories;
} PrivacyStore;

#define PRIVACY_N_MIGRATIONS 2
extern const DbMigration privacy_migrations[PRIVACY_N_MIGRATIONS];

/* secure_delete on; call once after db_open(). */
int privacy_store_init(PrivacyStore *s, sqlite3 *db, const unsigned char *master, const PrivacyCategory *categories,
                       size_t n_categories);

const PrivacyCategory *privacy_category_find(const PrivacyStore *s, const char *name);
/* Is purpose the consent of some category? */
bool privacy_consent_purpose_known(const PrivacyStore *s, const char *purpose);

bool privacy_subject_id_is_valid(const char *s);
bool privacy_label_is_valid(const char *s);

/* A new subject with a fresh key. -EUSERS when PRIVACY_SUBJECTS_MAX exist. */
int privacy_subject_create(PrivacyStore *s, const char *label, uint64_t now_usec, char ret_id[static PRIVACY_SUBJECT_ID_LEN + 1]);
/* 1 if the subject exists and is not being erased, 0 if not. */
int privacy_subject_exists(PrivacyStore *s, const char *id);

typedef struct PrivacySubjectInfo {
        const char *id;
        const char *label;                       /* decrypted */
        uint64_t created_usec, records, bytes;
} PrivacySubjectInfo;
typedef int (*PrivacySubjectCb)(const PrivacySubjectInfo *i, void *userdata);
int privacy_subjects_foreach(PrivacyStore *s, PrivacySubjectCb cb, void *userdata);

/*
 * Store one record. data must be valid UTF-8 of at most PRIVACY_RECORD_MAX bytes (checked here
 * too). purpose NULL and n_recipients 0 and retention_sec UINT64_MAX take the category's values.
 * -ESRCH unknown subject, -ENOKEY needs a consent not granted, -EDQUOT over a subject limit.
 */
int privacy_record_store(PrivacyStore *s, const char *subject, const PrivacyCategory *cat, const char *purpose,
                         const char *const *recipients, size_t n_recipients, uint64_t retention_sec,
                         const void *data, size_t len, uint64_t now_usec, int64_t *ret_id);

typedef struct PrivacyRecord {
        int64_t id;
        const char *subject, *category, *purpose;
        const char *recipients_json;             /* a JSON array of identifiers */
        uint64_t retention_sec, created_usec, expires_usec;
        const char *data;                        /* decrypted, NUL-terminated */
        size_t len;
} PrivacyRecord;
typedef int (*PrivacyRecordCb)(const PrivacyRecord *r, void *userdata);
/* Records of subject (category NULL: all) in id order. -ESRCH if the subject does not exist. */
int privacy_records_foreach(PrivacyStore *s, const char *subject, const char *category, PrivacyRecordCb cb,
                            void *userdata);

/* The subject's data as one JSON document (data portability). */
int privacy_export(PrivacyStore *s, const char *subject, uint64_t now_usec, FILE *f);

/* Consent. Granting or revoking is logged (consent_log); a revoke erases the records that needed it. */
int privacy_consent_set(PrivacyStore *s, const char *subject, const char *purpose, bool granted, uid_t uid,
                        uint64_t now_usec, uint64_t *ret_erased);
/* 1 granted, 0 not. */
int privacy_consent_get(PrivacyStore *s, const char *subject, const char *purpose);
typedef struct PrivacyConsent {
        const char *subject, *purpose;
        bool granted;
        uint64_t changed_usec;
} PrivacyConsent;
typedef int (*PrivacyConsentCb)(const PrivacyConsent *c, void *userdata);
int privacy_consents_foreach(PrivacyStore *s, const char *subject, PrivacyConsentCb cb, void *userdata);

/*
 * Erase. privacy_erase_begin() commits the intent (the journal) and returns its request id;
 * privacy_erase_run() does the local steps (idempotent; safe to repeat after a crash at any point)
 * and turns the job into a receipt. privacy_erase_resume() runs every unfinished job.
 */
int privacy_erase_begin(PrivacyStore *s, const char *subject, const char *reason, uid_t uid, uint64_t now_usec,
                        char ret_request_id[static PRIVACY_REQUEST_ID_LEN + 1]);
/* extra_stores: a JSON array of {"store":..,"result":..} from the declared app stores, or NULL. */
int privacy_erase_run(PrivacyStore *s, const char *request_id, const char *extra_stores_json, uint64_t now_usec);
int privacy_erase_resume(PrivacyStore *s, uint64_t now_usec, unsigned *ret_n);

/* The cloud side of a receipt. */
typedef enum PrivacyCloudState {
        PRIVACY_CLOUD_TO_REQUEST,   /* hub-telemetryd has not yet taken the request */
        PRIVACY_CLOUD_PENDING,      /* queued in hub-telemetryd's outbox, kept across outages */
        PRIVACY_CLOUD_ACKNOWLEDGED, /* the cloud broker acknowledged it (MQTT PUBACK) */
        _PRIVACY_CLOUD_MAX,
        _PRIVACY_CLOUD_INVALID = -EINVAL,
} PrivacyCloudState;
const char *privacy_cloud_state_to_string(PrivacyCloudState s);
PrivacyCloudState privacy_cloud_state_from_string(const char *s);

int privacy_receipt_set_cloud(PrivacyStore *s, const char *request_id, PrivacyCloudState state, uint64_t now_usec);
/* Merge the results of other stores (a JSON array of {"store", "result"}) into a receipt. */
int privacy_receipt_merge_stores(PrivacyStore *s, const char *request_id, const char *stores_json);
/* The receipt as a JSON object (malloc()ed). -ENXIO if there is none. */
int privacy_receipt_json(PrivacyStore *s, const char *request_id, char **ret);
typedef int (*PrivacyReceiptCb)(const char *request_id, const char *subject, PrivacyCloudState cloud, void *userdata);
int privacy_receipts_foreach(PrivacyStore *s, PrivacyReceiptCb cb, void *userdata);
/* The unfinished erases (cloud is always PRIVACY_CLOUD_TO_REQUEST). */
int privacy_erase_jobs_foreach(PrivacyStore *s, PrivacyReceiptCb cb, void *userdata);

/* Retention: erase expired records (securely). *ret_next_usec: the next expiry, 0 if none. */
int privacy_expire(PrivacyStore *s, uint64_t now_usec, uint64_t *ret_erased, uint64_t *ret_next_usec);

/* The end of every erasing step: zeroed pages leave the WAL too. */
int privacy_checkpoint(PrivacyStore *s);
