/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * org.hubguard.privacy1.Manager. Every handler: read, validate, authorise, act, emit, reply.
 * Personal data goes only to root and members of hubadmin (the household's administrators); the bus
 * policy (conf/meson.build) and bus_verify_caller() say so twice.
 */

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"
#include "hubguard/validate.h"
#include "privacyd-manager.h"

#define ERR_UNKNOWN_SUBJECT "org.hubguard.privacy1.UnknownSubject"
#define ERR_UNKNOWN_CATEGORY "org.hubguard.privacy1.UnknownCategory"
#define ERR_CONSENT_REQUIRED "org.hubguard.privacy1.ConsentRequired"
#define ERR_LIMIT "org.hubguard.privacy1.LimitReached"
#define ERR_NO_RECEIPT "org.hubguard.privacy1.NoSuchReceipt"

/*
 * Names to errnos, for sd_bus_error_get_errno() (sd-bus consults it in that direction only: an errno
 * never becomes one of these names by itself; privacy_store_error() picks them, by the store's own
 * "not there" errnos, see privacyd-store.h). The errnos are the store's, not ENOENT: a failed file
 * or SQLite operation (SQLITE_CANTOPEN is -ENOENT) must not read as "no such receipt".
 */
const sd_bus_error_map privacy_errors[] = {
        SD_BUS_ERROR_MAP(ERR_UNKNOWN_SUBJECT, ESRCH),
        SD_BUS_ERROR_MAP(ERR_UNKNOWN_CATEGORY, EDOM),
        SD_BUS_ERROR_MAP(ERR_CONSENT_REQUIRED, ENOKEY),
        SD_BUS_ERROR_MAP(ERR_LIMIT, EDQUOT),
        SD_BUS_ERROR_MAP(ERR_NO_RECEIPT, ENXIO),
        SD_BUS_ERROR_MAP_END,
};

static PrivacyManager *manager(void *userdata) {
        return ((HubDaemon *) userdata)->userdata;
}

/* Root; with admins, group hubadmin too; with apps, the users of AppUsers= too. */
static int authorise_full(sd_bus_message *msg, PrivacyManager *m, bool admins, bool apps, const char *member,
                          uid_t *ret_uid, sd_bus_error *error) {
        BusAccess a = {
                .admin_group = admins,
                .uids = apps ? m->app_uids : NULL,
                .n_uids = apps ? m->n_app_uids : 0,
        };
        uid_t uid = (uid_t) -1;
        char field[64];
        int r;

        r = bus_verify_caller(msg, &a, &uid, error);
        if (ret_uid)
                *ret_uid = uid;
        if (r != 0)
                return r < 0 ? r : 0;
        (void) snprintf(field, sizeof field, "HUBGUARD_MEMBER=%s", member);
        log_struct(LOG_NOTICE, MESSAGE_ID_ACCESS_DENIED, STRV(field), "Refused %s for uid %u.", member, (unsigned) uid);
        return -EACCES;
}

static int authorise(sd_bus_message *msg, bool admins, const char *member, uid_t *ret_uid, sd_bus_error *error) {
        return authorise_full(msg, NULL, admins, false, member, ret_uid, error);
}

static int check_subject_arg(const char *s, sd_bus_error *error) {
        if (!privacy_subject_id_is_valid(s))
                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT,
                                         "A subject id is %d lowercase hex digits.", PRIVACY_SUBJECT_ID_LEN);
        return 0;
}

/*
 * Map a store error on a subject to a D-Bus error: the store's own "not there" errnos to their names,
 * anything else (SQLite, files, memory) to a failure that says so (never "no such subject").
 */
int privacy_store_error(int r, const char *subject, sd_bus_error *error) {
        switch (r) {
        case -ESRCH:
                return sd_bus_error_setf(error, ERR_UNKNOWN_SUBJECT, "No subject '%s'.",
                                         privacy_subject_id_is_valid(subject) ? subject : "?");
        case -ENXIO:
                return sd_bus_error_set(error, ERR_NO_RECEIPT, "No such erase receipt.");
        case -ENOKEY:
                return sd_bus_error_set(error, ERR_CONSENT_REQUIRED,
                                        "This category is optional processing: the subject has not consented to it.");
        case -EDQUOT:
                return sd_bus_error_setf(error, ERR_LIMIT,
                                         "The subject holds the most allowed: %llu records or %llu MiB.",
                                         (unsigned long long) PRIVACY_SUBJECT_RECORDS_MAX,
                                         (unsigned long long) (PRIVACY_SUBJECT_BYTES_MAX >> 20));
        case -EUSERS:
                return sd_bus_error_setf(error, ERR_LIMIT, "There are already %d subjects.", PRIVACY_SUBJECTS_MAX);
        default:
                return sd_bus_error_set_errnof(error, r, "The privacy store failed: %m");
        }
}

/* ---- subjects ---- */

static int method_create_subject(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        char id[PRIVACY_SUBJECT_ID_LEN + 1];
        const char *label;
        int r;

        /* A label is a person's name: wiped with the message, like a record. */
        (void) sd_bus_message_sensitive(msg);
        r = sd_bus_message_read(msg, "s", &label);
        if (r < 0)
                return r;
        if (!privacy_label_is_valid(label))
                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT,
                                         "A label is 1 to %d bytes of UTF-8 without control characters.",
                                         PRIVACY_LABEL_MAX);
        r = authorise_full(msg, m, true, true, "CreateSubject", NULL, error);
        if (r < 0)
                return r;
        r = privacy_subject_create(&m->store, label, privacy_now_usec(), id);
        if (r < 0)
                return privacy_store_error(r, "", error);
        log_info("Created subject %s.", id);
        return sd_bus_reply_method_return(msg, "s", id);
}

static int append_subject(const PrivacySubjectInfo *i, void *userdata) {
        return sd_bus_message_append(userdata, "(sstt)", i->id, i->label, i->created_usec, i->records);
}

static int method_list_subjects(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PrivacyManager *m = manager(userdata);
        int r;

        r = authorise_full(msg, m, true, true, "ListSubjects", NULL, error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_sensitive(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sstt)");
        if (r >= 0)
                r = privacy_subjects_foreach(&m->store, append_subject, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot list the subjects: %m");
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- records ---- */

typedef struct StoreOptions {
        const char *purpose;
        const char *recipients[PRIVACY_RECIPIENTS_MAX];
        size_t n_recipients;
        uint64_t retention_sec;
} StoreOptions;

static int read_store_options(sd_bus_message *msg, StoreOptions *o, sd_bus_error *error) {
        const char *key;
        int r;

        o->retention_sec = UINT64_MAX;
        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "Purpose")) {
                        r = sd_bus_message_read(msg, "v", "s", &o->purpose);
                        if (r < 0 || !o->purpose[0] || !string_is_safe(o->purpose, PRIVACY_PURPOSE_MAX))
                                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT,
                                                         "Purpose is 1 to %d bytes of UTF-8 without control characters.",
                                                         PRIVACY_PURPOSE_MAX);
                } else if (streq(key, "Recipients")) {
                        const char *v;

                        r = sd_bus_message_enter_container(msg, 'v', "as");
                        if (r < 0)
                                return sd_bus_error_set(error, HUB_BUS_ERROR_INVALID_INPUT, "Recipients must be an array of strings.");
                        r = sd_bus_message_enter_container(msg, 'a', "s");
                        if (r < 0)
                                return r;
                        while ((r = sd_bus_message_read(msg, "s", &v)) > 0) {
                                if (o->n_recipients >= PRIVACY_RECIPIENTS_MAX || !identifier_is_valid(v, PRIVACY_RECIPIENT_MAX))
                                        return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT,
                                                                 "Recipients: at most %d names of [a-z0-9_-].",
                                                                 PRIVACY_RECIPIENTS_MAX);
                                o->recipients[o->n_recipients++] = v;
                        }
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(msg);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(msg);
                        if (r < 0)
                                return r;
                } else if (streq(key, "RetentionSec")) {
                        r = sd_bus_message_read(msg, "v", "t", &o->retention_sec);
                        if (r < 0 || o->retention_sec > PRIVACY_RETENTION_MAX_SEC)
                                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT,
                                                         "RetentionSec is an unsigned number of at most %llu.",
                                                         (unsigned long long) PRIVACY_RETENTION_MAX_SEC);
                } else
                        /* Unknown keys are refused, so a caller never believes an option took effect. */
                        return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT, "Unsupported option '%.32s'.",
                                                 string_is_safe(key, 32) ? key : "?");
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int method_store_record(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        const char *subject, *category;
        const PrivacyCategory *cat;
        StoreOptions o = {};
        const void *data;
        size_t len;
        int64_t id;
        int r;

        (void) sd_bus_message_sensitive(msg);
        r = sd_bus_message_read(msg, "ss", &subject, &category);
        if (r < 0)
                return r;
        r = sd_bus_message_read_array(msg, 'y', &data, &len);
        if (r < 0)
                return r;
        r = read_store_options(msg, &o, error);
        if (r < 0 || sd_bus_error_is_set(error))
                return r;
        r = check_subject_arg(subject, error);
        if (r < 0)
                return r;
        if (len > PRIVACY_RECORD_MAX)
                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT, "A record is at most %d bytes; this is %zu.",
                                         PRIVACY_RECORD_MAX, len);
        if (!utf8_is_valid(data, len))
                return sd_bus_error_set(error, HUB_BUS_ERROR_INVALID_INPUT,
                                        "A record must be valid UTF-8 text without NUL bytes.");
        cat = privacy_category_find(&m->store, category);
        if (!cat)
                return sd_bus_error_setf(error, ERR_UNKNOWN_CATEGORY,
                                         "Unknown category '%.32s' ('hubctl data inventory' lists them).",
                                         identifier_is_valid(category, PRIVACY_CATEGORY_MAX) ? category : "?");
        r = authorise_full(msg, m, true, true, "StoreRecord", NULL, error);
        if (r < 0)
                return r;

        r = privacy_record_store(&m->store, subject, cat, o.purpose, o.recipients, o.n_recipients, o.retention_sec,
                                 data, len, privacy_now_usec(), &id);
        if (r < 0)
                return privacy_store_error(r, subject, error);
        if (cat->retention_sec > 0 || o.retention_sec != UINT64_MAX)
                privacy_schedule_expire(m);
        return sd_bus_reply_method_return(msg, "t", (uint64_t) id);
}

static int append_record(const PrivacyRecord *rec, void *userdata) {
        sd_bus_message *reply = userdata;
        json_t *a = json_loads(rec->recipients_json ? rec->recipients_json : "[]", 0, NULL);
        size_t i;
        json_t *v;
        int r;

        if (!json_is_array(a)) {
                json_decref(a);
                return -EBADMSG;
        }
        r = sd_bus_message_open_container(reply, 'r', "tssasttts");
        if (r >= 0)
                r = sd_bus_message_append(reply, "tss", (uint64_t) rec->id, rec->category, rec->purpose);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "s");
        json_array_foreach(a, i, v)
                if (r >= 0 && json_is_string(v))
                        r = sd_bus_message_append(reply, "s", json_string_value(v));
        json_decref(a);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "ttts", rec->retention_sec, rec->created_usec, rec->expires_usec,
                                          rec->data);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int method_list_records(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PrivacyManager *m = manager(userdata);
        const char *subject, *category;
        int r;

        r = sd_bus_message_read(msg, "ss", &subject, &category);
        if (r < 0)
                return r;
        r = check_subject_arg(subject, error);
        if (r < 0)
                return r;
        if (category[0] && !privacy_category_find(&m->store, category))
                return sd_bus_error_setf(error, ERR_UNKNOWN_CATEGORY, "Unknown category '%.32s'.",
                                         identifier_is_valid(category, PRIVACY_CATEGORY_MAX) ? category : "?");
        r = authorise_full(msg, m, true, true, "ListRecords", NULL, error);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_sensitive(reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(tssasttts)");
        if (r >= 0)
                r = privacy_records_foreach(&m->store, subject, category[0] ? category : NULL, append_record, reply);
        if (r == -ESRCH)
                return privacy_store_error(r, subject, error);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the records: %m");
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- transparency ---- */

typedef struct Held {
        uint64_t subjects, records;
} Held;

static int count_held(sqlite3 *db, const char *category, Held *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db,
                                "SELECT count(DISTINCT subject), count(*) FROM record WHERE category = ?1 "
                                "AND subject NOT IN (SELECT subject FROM erase_job)",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return -EIO;
        (void) sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
                return -EIO;
        *ret = (Held) { (uint64_t) sqlite3_column_int64(st, 0), (uint64_t) sqlite3_column_int64(st, 1) };
        return 0;
}

static int method_inventory(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PrivacyManager *m = manager(userdata);
        int64_t subjects = 0;
        int r;

        r = authorise(msg, true, "Inventory", NULL, error);
        if (r < 0)
                return r;
        r = db_query_int64(m->store.db, "SELECT count(*) FROM subject WHERE id NOT IN (SELECT subject FROM erase_job)",
                           &subjects);
        if (r >= 0)
                r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sssastsstt)");
        /* The subjects' own labels: the names the household gave its members. */
        if (r >= 0)
                r = sd_bus_message_append(reply, "(sssastsstt)", "subject-labels",
                                          "The name of each household member the hub keeps data about",
                                          "telling the household's members apart", 1, "hub", (uint64_t) 0, "",
                                          "built-in", (uint64_t) subjects, (uint64_t) subjects);
        for (size_t i = 0; r >= 0 && i < m->store.n_categories; i++) {
                const PrivacyCategory *c = &m->store.categories[i];
                Held h = {};

                r = count_held(m->store.db, c->name, &h);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'r', "sssastsstt");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "sss", c->name, c->description, c->purpose);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "s");
                for (unsigned k = 0; r >= 0 && k < c->n_recipients; k++)
                        r = sd_bus_message_append(reply, "s", c->recipients[k]);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "tsstt", c->retention_sec, c->consent, c->source, h.subjects,
                                                  h.records);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot make the inventory: %m");
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- export ---- */

static int method_export(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        _cleanup_close_ int fd = -EBADF;
        char iobuf[BUFSIZ];
        _cleanup_fclose_ FILE *f = NULL;
        const char *subject;
        uid_t uid;
        off_t size;
        int r, k;

        r = sd_bus_message_read(msg, "s", &subject);
        if (r < 0)
                return r;
        r = check_subject_arg(subject, error);
        if (r < 0)
                return r;
        r = authorise(msg, true, "Export", &uid, error);
        if (r < 0)
                return r;
        r = privacy_subject_exists(&m->store, subject);
        if (r <= 0)
                return privacy_store_error(r < 0 ? r : -ESRCH, subject, error);

        /* A sealed memfd: the caller reads the document; nobody can change it under them. */
        fd = memfd_create("hubguard-privacy-export", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot make the export file: %m");
        f = fdopen(fcntl(fd, F_DUPFD_CLOEXEC, 3), "w");
        if (!f)
                return sd_bus_error_set_errnof(error, errno, "Cannot make the export file: %m");
        /* stdio's buffer holds decrypted text: ours, so that it is wiped once the file is closed. */
        (void) setvbuf(f, iobuf, _IOFBF, sizeof iobuf);
        r = privacy_export(&m->store, subject, privacy_now_usec(), f);
        k = fclose(TAKE_PTR(f)) != 0 ? -errno : 0;
        explicit_erase(iobuf, sizeof iobuf);
        if (r == -ESRCH)
                return privacy_store_error(r, subject, error);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot export the subject's data: %m");
        if (k < 0)
                return sd_bus_error_set_errnof(error, k, "Cannot write the export file: %m");
        size = lseek(fd, 0, SEEK_END);
        if (size < 0 || (uint64_t) size > PRIVACY_EXPORT_MAX_BYTES)
                return sd_bus_error_setf(error, HUB_BUS_ERROR_NO_SPACE, "The export is larger than %llu MiB.",
                                         (unsigned long long) (PRIVACY_EXPORT_MAX_BYTES >> 20));
        if (lseek(fd, 0, SEEK_SET) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
                return sd_bus_error_set_errnof(error, errno, "Cannot seal the export file: %m");
        log_info("Exported the data of subject %s (%lld bytes) for uid %u.", subject, (long long) size, (unsigned) uid);
        return sd_bus_reply_method_return(msg, "ht", fd, (uint64_t) size);
}

/* ---- erase ---- */

static int method_erase(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        char request_id[PRIVACY_REQUEST_ID_LEN + 1], reason[32];
        _cleanup_free_ char *receipt = NULL, *extra = NULL;
        const char *subject;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &subject);
        if (r < 0)
                return r;
        r = check_subject_arg(subject, error);
        if (r < 0)
                return r;
        r = authorise(msg, true, "Erase", &uid, error);
        if (r < 0)
                return r;

        (void) snprintf(reason, sizeof reason, "request of uid %u", (unsigned) uid);
        r = privacy_erase_begin(&m->store, subject, reason, uid, privacy_now_usec(), request_id);
        if (r < 0)
                return privacy_store_error(r, subject, error);
        /* The declared apps' part goes to hub-privacy-helper (root); asked before anything is destroyed. */
        if (privacy_apps_have_erase(m)) {
                json_t *a = json_array();

                r = privacy_request_app_erase(m, request_id, subject);
                if (r < 0)
                        log_warning_errno(r, "Cannot ask hub-privacy-helper to erase %s in the declared app stores; "
                                             "asked again at the next start: %m", subject);
                for (size_t i = 0; a && i < m->decl.n_apps; i++)
                        if (decl_app_has_erase(&m->decl.apps[i]))
                                (void) json_array_append_new(a, json_pack("{ssss}", "store", m->decl.apps[i].name, "result",
                                                                          "requested from hub-privacy-helper"));
                extra = a ? json_dumps(a, JSON_COMPACT) : NULL;
                json_decref(a);
        }
        r = privacy_erase_run(&m->store, request_id, extra, privacy_now_usec());
        if (r < 0)
                /* The journal holds the intent: the next start finishes it. */
                return sd_bus_error_set_errnof(error, r,
                                               "The erase of %s started but could not finish (it will at the next "
                                               "start): %m",
                                               subject);
        log_notice("Erased subject %s at the request of uid %u (request %s).", subject, (unsigned) uid, request_id);
        privacy_kick_cloud(m);
        r = privacy_receipt_json(&m->store, request_id, &receipt);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the receipt: %m");
        return sd_bus_reply_method_return(msg, "ss", request_id, receipt);
}

static int method_get_receipt(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        _cleanup_free_ char *receipt = NULL;
        const char *id;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        if (strlen(id) != PRIVACY_REQUEST_ID_LEN || strspn(id, "0123456789abcdef") != PRIVACY_REQUEST_ID_LEN)
                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT, "A request id is %d lowercase hex digits.",
                                         PRIVACY_REQUEST_ID_LEN);
        r = authorise(msg, true, "GetReceipt", NULL, error);
        if (r < 0)
                return r;
        r = privacy_receipt_json(&m->store, id, &receipt);
        if (r == -ENXIO)
                return sd_bus_error_setf(error, ERR_NO_RECEIPT, "No erase receipt '%s'.", id);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the receipt: %m");
        return sd_bus_reply_method_return(msg, "s", receipt);
}

static int append_receipt(const char *request_id, const char *subject, PrivacyCloudState cloud, void *userdata) {
        return sd_bus_message_append(userdata, "(sss)", request_id, subject, strempty(privacy_cloud_state_to_string(cloud)));
}

static int method_list_receipts(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PrivacyManager *m = manager(userdata);
        int r;

        r = authorise(msg, true, "ListReceipts", NULL, error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r >= 0)
                r = privacy_receipts_foreach(&m->store, append_receipt, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot list the receipts: %m");
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- consent ---- */

static int set_consent(sd_bus_message *msg, PrivacyManager *m, bool granted, sd_bus_error *error) {
        const char *subject, *purpose;
        uint64_t erased = 0;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "ss", &subject, &purpose);
        if (r < 0)
                return r;
        r = check_subject_arg(subject, error);
        if (r < 0)
                return r;
        if (!identifier_is_valid(purpose, PRIVACY_CONSENT_PURPOSE_MAX) || !privacy_consent_purpose_known(&m->store, purpose))
                return sd_bus_error_setf(error, ERR_UNKNOWN_CATEGORY,
                                         "Unknown consent purpose '%.32s' ('hubctl data inventory' lists them).",
                                         identifier_is_valid(purpose, PRIVACY_CONSENT_PURPOSE_MAX) ? purpose : "?");
        r = authorise(msg, true, granted ? "GrantConsent" : "RevokeConsent", &uid, error);
        if (r < 0)
                return r;
        r = privacy_consent_set(&m->store, subject, purpose, granted, uid, privacy_now_usec(), &erased);
        if (r < 0)
                return privacy_store_error(r, subject, error);
        log_info("Consent of subject %s to '%s' %s by uid %u%s.", subject, purpose, granted ? "granted" : "revoked",
                 (unsigned) uid, erased > 0 ? "; the records kept under it were erased" : "");
        return sd_bus_reply_method_return(msg, "t", erased);
}

static int method_grant_consent(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return set_consent(msg, manager(userdata), true, error);
}

static int method_revoke_consent(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return set_consent(msg, manager(userdata), false, error);
}

static int append_consent(const PrivacyConsent *c, void *userdata) {
        return sd_bus_message_append(userdata, "(ssbt)", c->subject, c->purpose, c->granted, c->changed_usec);
}

static int method_list_consents(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        PrivacyManager *m = manager(userdata);
        const char *subject;
        int r;

        r = sd_bus_message_read(msg, "s", &subject);
        if (r < 0)
                return r;
        if (subject[0]) {
                r = check_subject_arg(subject, error);
                if (r < 0)
                        return r;
        }
        r = authorise(msg, true, "ListConsents", NULL, error);
        if (r < 0)
                return r;
        if (subject[0]) {
                r = privacy_subject_exists(&m->store, subject);
                if (r <= 0)
                        return privacy_store_error(r < 0 ? r : -ESRCH, subject, error);
        }
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssbt)");
        if (r >= 0)
                r = privacy_consents_foreach(&m->store, subject[0] ? subject : NULL, append_consent, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot list the consents: %m");
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- factory reset ---- */

static int method_factory_reset(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        char id[PRIVACY_REQUEST_ID_LEN + 1], line[64];
        unsigned char raw[PRIVACY_REQUEST_ID_LEN / 2];
        uid_t uid;
        int r;

        r = authorise(msg, false, "FactoryReset", &uid, error);
        if (r < 0)
                return r;
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(id, sizeof id, raw, sizeof raw);
        (void) snprintf(line, sizeof line, "factory-reset %s\n", id);
        /* This daemon may not touch the other domains' files: hub-privacy-helper does, as root. */
        r = privacy_request_helper(m, id, line);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot ask hub-privacy-helper for the reset: %m");
        log_notice("Factory reset %s requested by uid %u: every domain's user data will be erased.", id, (unsigned) uid);
        return sd_bus_reply_method_return(msg, "s", id);
}

static int method_factory_reset_result(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        PrivacyManager *m = manager(userdata);
        _cleanup_free_ char *text = NULL;
        char path[PATH_MAX];
        json_t *o;
        int r;

        r = authorise(msg, true, "FactoryResetResult", NULL, error);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof path, "%s/%s", m->daemon->state_dir, PRIVACY_FACTORY_RESET_RESULT);
        r = read_file_bounded(path, PRIVACY_RESULT_MAX, &text, NULL);
        if (r == -ENOENT)
                return sd_bus_reply_method_return(msg, "s", "");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the result of the last reset: %m");
        /* Written by the helper as root, but still checked before it is passed on. */
        o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return sd_bus_error_set(error, HUB_BUS_ERROR_INVALID_INPUT, "The result of the last reset is damaged.");
        }
        free(text);
        text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!text)
                return -ENOMEM;
        return sd_bus_reply_method_return(msg, "s", text);
}

const sd_bus_vtable privacy_manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_METHOD_WITH_ARGS("CreateSubject", SD_BUS_ARGS("s", label), SD_BUS_RESULT("s", subject),
                                method_create_subject, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSubjects", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sstt)", subjects_label_created_records), method_list_subjects,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StoreRecord",
                                SD_BUS_ARGS("s", subject, "s", category, "ay", data, "a{sv}", options),
                                SD_BUS_RESULT("t", record), method_store_record, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRecords", SD_BUS_ARGS("s", subject, "s", category),
                                SD_BUS_RESULT("a(tssasttts)", records), method_list_records,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Inventory", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sssastsstt)", categories),
                                method_inventory, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Export", SD_BUS_ARGS("s", subject), SD_BUS_RESULT("h", json, "t", size),
                                method_export, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Erase", SD_BUS_ARGS("s", subject), SD_BUS_RESULT("s", request_id, "s", receipt),
                                method_erase, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetReceipt", SD_BUS_ARGS("s", request_id), SD_BUS_RESULT("s", receipt),
                                method_get_receipt, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListReceipts", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sss)", receipts),
                                method_list_receipts, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GrantConsent", SD_BUS_ARGS("s", subject, "s", purpose), SD_BUS_RESULT("t", erased),
                                method_grant_consent, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RevokeConsent", SD_BUS_ARGS("s", subject, "s", purpose), SD_BUS_RESULT("t", erased),
                                method_revoke_consent, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListConsents", SD_BUS_ARGS("s", subject), SD_BUS_RESULT("a(ssbt)", consents),
                                method_list_consents, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FactoryReset", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", request_id), method_factory_reset,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FactoryResetResult", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", result),
                                method_factory_reset_result, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};
