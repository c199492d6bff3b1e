/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>

#include "common.h"
#include "hubguard/db.h"
#include "hubguard/seal.h"
#include "privacyd-manager.h"
#include "privacyd-store.h"

/* 2025-01-01 in microseconds. */
#define T0 (1735689600ULL * 1000000ULL)
#define SEC 1000000ULL

typedef struct Fixture {
        char *dir, *path;
        sqlite3 *db;
        unsigned char master[SEAL_MASTER_KEY_SIZE];
        PrivacyStore s;
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        assert_true(sodium_init() >= 0);
        f->dir = test_mkdtemp("test-privacy-store");
        f->path = path_join(f->dir, "privacy.db");
        randombytes_buf(f->master, sizeof f->master);
        assert_int_equal(db_open(f->path, privacy_migrations, PRIVACY_N_MIGRATIONS, &f->db, NULL), 0);
        assert_int_equal(privacy_store_init(&f->s, f->db, f->master, privacy_builtin_categories,
                                            privacy_n_builtin_categories),
                         0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static const PrivacyCategory *cat(Fixture *f, const char *name) {
        const PrivacyCategory *c = privacy_category_find(&f->s, name);

        assert_non_null(c);
        return c;
}

static int64_t store(Fixture *f, const char *subject, const char *category, const char *text, uint64_t now) {
        int64_t id = 0;

        assert_int_equal(privacy_record_store(&f->s, subject, cat(f, category), NULL, NULL, 0, UINT64_MAX, text,
                                              strlen(text), now, &id),
                         0);
        assert_true(id > 0);
        return id;
}

static int64_t count(Fixture *f, const char *sql) {
        int64_t v = -1;

        assert_int_equal(db_query_int64(f->db, sql, &v), 0);
        return v;
}

typedef struct Collect {
        unsigned n;
        char texts[8][64];
} Collect;

static int collect(const PrivacyRecord *r, void *userdata) {
        Collect *c = userdata;

        if (c->n < 8)
                snprintf(c->texts[c->n], sizeof c->texts[0], "%s", r->data);
        c->n++;
        return 0;
}

static unsigned n_records(Fixture *f, const char *subject) {
        Collect c = {};

        assert_int_equal(privacy_records_foreach(&f->s, subject, NULL, collect, &c), 0);
        return c.n;
}

static void test_subject_and_records(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], b[PRIVACY_SUBJECT_ID_LEN + 1];
        Collect c = {};
        _cleanup_free_ char *bytes = NULL;
        size_t size;

        assert_int_equal(privacy_subject_create(&f->s, "Alice", T0, a), 0);
        assert_int_equal(privacy_subject_create(&f->s, "Bob", T0, b), 0);
        assert_true(privacy_subject_id_is_valid(a));
        assert_string_not_equal(a, b);
        assert_int_equal(privacy_subject_exists(&f->s, a), 1);
        assert_int_equal(privacy_subject_exists(&f->s, "0123456789abcdef0123456789abcdef"), 0);
        assert_int_equal(privacy_subject_exists(&f->s, "not an id"), 0);

        store(f, a, "presence", "alice-home-PLAINTEXT", T0);
        store(f, a, "contact-details", "alice@example.org", T0);
        store(f, b, "presence", "bob-home-PLAINTEXT", T0);
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), 0);
        assert_int_equal(c.n, 2);
        assert_string_equal(c.texts[0], "alice-home-PLAINTEXT");
        assert_string_equal(c.texts[1], "alice@example.org");
        c = (Collect) {};
        assert_int_equal(privacy_records_foreach(&f->s, a, "contact-details", collect, &c), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(count(f, "SELECT sum(records) FROM subject"), 3);

        /* At rest: neither a label nor a record is in the file in clear. */
        assert_int_equal(db_exec(f->db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
        bytes = read_file_or_die(f->path, &size);
        assert_null(memmem(bytes, size, "PLAINTEXT", 9));
        assert_null(memmem(bytes, size, "Alice", 5));
}

static void test_store_refuses(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1];
        char big[PRIVACY_RECORD_MAX + 2];
        const char *bad_rcpt[] = { "Not Valid" };
        int64_t id;

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        memset(big, 'x', sizeof big);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, UINT64_MAX, big,
                                              PRIVACY_RECORD_MAX + 1, T0, &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, UINT64_MAX, big,
                                              PRIVACY_RECORD_MAX, T0, &id),
                         0);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, UINT64_MAX, "\xff\xfe", 2,
                                              T0, &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, UINT64_MAX, "a\0b", 3, T0,
                                              &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, bad_rcpt, 1, UINT64_MAX, "x", 1, T0,
                                              &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), "bad\tpurpose", NULL, 0, UINT64_MAX, "x",
                                              1, T0, &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0,
                                              PRIVACY_RETENTION_MAX_SEC + 1, "x", 1, T0, &id),
                         -EINVAL);
        assert_int_equal(privacy_record_store(&f->s, "0123456789abcdef0123456789abcdef", cat(f, "presence"), NULL,
                                              NULL, 0, UINT64_MAX, "x", 1, T0, &id),
                         -ESRCH);
        /* Optional processing: refused until consent is granted. */
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "usage-analytics"), NULL, NULL, 0, UINT64_MAX, "x", 1,
                                              T0, &id),
                         -ENOKEY);
        assert_null(privacy_category_find(&f->s, "bogus"));
        assert_int_equal(count(f, "SELECT count(*) FROM record"), 1);
        assert_int_equal(count(f, "SELECT records FROM subject"), 1);
        assert_int_equal(privacy_subject_create(&f->s, "", T0, a), -EINVAL);
        assert_int_equal(privacy_subject_create(&f->s, "tab\there", T0, a), -EINVAL);
}

static void test_wrong_master_key(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], b[PRIVACY_SUBJECT_ID_LEN + 1], sql[128];
        unsigned char other[SEAL_MASTER_KEY_SIZE];
        Collect c = {};

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        store(f, a, "presence", "x", T0);
        randombytes_buf(other, sizeof other);
        f->s.master = other;
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), -EBADMSG);
        f->s.master = f->master;
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), 0);
        /* A record moved to another subject does not open (its subject is in the associated data). */
        assert_int_equal(privacy_subject_create(&f->s, "B", T0, b), 0);
        snprintf(sql, sizeof sql, "UPDATE record SET subject = '%s'", b);
        assert_int_equal(db_exec(f->db, sql), 0);
        assert_int_equal(privacy_records_foreach(&f->s, b, NULL, collect, &c), -EBADMSG);
}

/* The associated data names the record too: rows of one subject cannot be swapped or relabelled. */
static void test_records_bound_to_their_row(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1];
        int64_t r1, r2;
        Collect c = {};
        char sql[256];

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        r1 = store(f, a, "presence", "left at 08:00", T0);
        r2 = store(f, a, "presence", "home at 18:00", T0);
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), 0);
        assert_int_equal(c.n, 2);

        /* Same subject, same category, contents swapped between the two rows. */
        snprintf(sql, sizeof sql,
                 "DROP TABLE IF EXISTS temp.t; CREATE TEMP TABLE t AS SELECT id, data FROM record; "
                 "UPDATE record SET data = (SELECT data FROM t WHERE t.id = CASE record.id WHEN %" PRIi64
                 " THEN %" PRIi64 " ELSE %" PRIi64 " END)",
                 r1, r2, r1);
        assert_int_equal(db_exec(f->db, sql), 0);
        c = (Collect) {};
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), -EBADMSG);
        assert_int_equal(c.n, 0);
        /* Swapped back it opens; then a copy under a new id does not. */
        assert_int_equal(db_exec(f->db, sql), 0);
        c = (Collect) {};
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), 0);
        assert_int_equal(c.n, 2);
        snprintf(sql, sizeof sql,
                 "INSERT INTO record (subject, category, purpose, recipients, retention_sec, created_usec, "
                 "expires_usec, data) SELECT subject, category, purpose, recipients, retention_sec, created_usec, "
                 "expires_usec, data FROM record WHERE id = %" PRIi64,
                 r1);
        assert_int_equal(db_exec(f->db, sql), 0);
        c = (Collect) {};
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), -EBADMSG);
        snprintf(sql, sizeof sql, "DELETE FROM record WHERE id > %" PRIi64, r2);
        assert_int_equal(db_exec(f->db, sql), 0);
        /* Relabelled to another category. */
        snprintf(sql, sizeof sql, "UPDATE record SET category = 'device-events' WHERE id = %" PRIi64, r1);
        assert_int_equal(db_exec(f->db, sql), 0);
        c = (Collect) {};
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &c), -EBADMSG);
}

static void test_erase(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], b[PRIVACY_SUBJECT_ID_LEN + 1], req[PRIVACY_REQUEST_ID_LEN + 1];
        _cleanup_free_ char *receipt = NULL;
        json_t *o;

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        assert_int_equal(privacy_subject_create(&f->s, "B", T0, b), 0);
        for (int i = 0; i < 3; i++) {
                store(f, a, "presence", "a-record", T0);
                store(f, b, "presence", "b-record", T0);
        }
        assert_int_equal(privacy_consent_set(&f->s, a, "usage-analytics", true, 0, T0, NULL), 0);
        assert_int_equal(privacy_erase_begin(&f->s, a, "test", 0, T0, req), 0);
        /* From the journal entry on, the subject is gone for every API. */
        assert_int_equal(privacy_subject_exists(&f->s, a), 0);
        assert_int_equal(privacy_records_foreach(&f->s, a, NULL, collect, &(Collect) {}), -ESRCH);
        assert_int_equal(privacy_erase_begin(&f->s, a, "test", 0, T0, req), -ESRCH);

        assert_int_equal(privacy_erase_run(&f->s, req, NULL, T0 + 1), 0);
        assert_int_equal(count(f, "SELECT count(*) FROM erase_job"), 0);
        assert_int_equal(count(f, "SELECT count(*) FROM subject_key"), 1);
        assert_int_equal(count(f, "SELECT count(*) FROM subject"), 1);
        assert_int_equal(count(f, "SELECT count(*) FROM consent"), 0);
        assert_int_equal(count(f, "SELECT count(*) FROM consent_log"), 0);
        assert_int_equal(n_records(f, b), 3);
        /* Running it again changes nothing and fails cleanly. */
        assert_int_equal(privacy_erase_run(&f->s, req, NULL, T0 + 2), -ENXIO);

        assert_int_equal(privacy_receipt_json(&f->s, req, &receipt), 0);
        o = json_loads(receipt, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "subject")), a);
        assert_int_equal(json_integer_value(json_object_get(o, "records")), 3);
        assert_string_equal(json_string_value(json_object_get(o, "cloud")), "to-request");
        json_decref(o);
        assert_int_equal(privacy_receipt_set_cloud(&f->s, req, PRIVACY_CLOUD_ACKNOWLEDGED, T0 + 5), 0);
        assert_int_equal(count(f, "SELECT count(*) FROM receipt WHERE cloud = 'acknowledged' AND cloud_usec > 0"), 1);
}

/* A crash after each step: the journal entry alone, after the key, after part of the rows. */
static void test_erase_resume(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], req[PRIVACY_REQUEST_ID_LEN + 1], sql[256];
        unsigned n = 0;

        for (int step = 0; step < 3; step++) {
                assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
                for (int i = 0; i < 4; i++)
                        store(f, a, "device-events", "event", T0);
                assert_int_equal(privacy_erase_begin(&f->s, a, "test", 0, T0, req), 0);
                if (step >= 1) {
                        snprintf(sql, sizeof sql, "DELETE FROM subject_key WHERE subject = '%s'", a);
                        assert_int_equal(db_exec(f->db, sql), 0);
                }
                if (step >= 2) {
                        snprintf(sql, sizeof sql, "DELETE FROM record WHERE id IN (SELECT id FROM record WHERE subject = '%s' LIMIT 2)", a);
                        assert_int_equal(db_exec(f->db, sql), 0);
                }
                assert_int_equal(privacy_erase_resume(&f->s, T0, &n), 0);
                assert_int_equal(n, 1);
                assert_int_equal(count(f, "SELECT count(*) FROM record"), 0);
                assert_int_equal(count(f, "SELECT count(*) FROM subject"), 0);
                assert_int_equal(count(f, "SELECT count(*) FROM subject_key"), 0);
                assert_int_equal(count(f, "SELECT count(*) FROM erase_job"), 0);
                assert_int_equal(count(f, "SELECT count(*) FROM receipt"), step + 1);
        }
        assert_int_equal(privacy_erase_resume(&f->s, T0, &n), 0);
        assert_int_equal(n, 0);
}

static void test_export(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], b[PRIVACY_SUBJECT_ID_LEN + 1];
        char *buf = NULL;
        size_t len = 0;
        FILE *out;
        json_t *o, *records;

        assert_int_equal(privacy_subject_create(&f->s, "Alice \"A\"", T0, a), 0);
        assert_int_equal(privacy_subject_create(&f->s, "Bob", T0, b), 0);
        store(f, a, "presence", "line\nwith \"quotes\" and \\", T0);
        store(f, b, "presence", "BOB-ONLY", T0);
        store(f, a, "automation-rules", "rule é", T0);
        out = open_memstream(&buf, &len);
        assert_non_null(out);
        assert_int_equal(privacy_export(&f->s, a, T0, out), 0);
        fclose(out);
        o = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "subject"), "label")), "Alice \"A\"");
        records = json_object_get(o, "records");
        assert_int_equal(json_array_size(records), 2);
        assert_string_equal(json_string_value(json_object_get(json_array_get(records, 0), "data")),
                            "line\nwith \"quotes\" and \\");
        assert_string_equal(json_string_value(json_object_get(json_array_get(records, 1), "data")), "rule é");
        assert_null(strstr(buf, "BOB-ONLY"));
        assert_null(strstr(buf, b));
        json_decref(o);
        free(buf);

        out = open_memstream(&buf, &len);
        assert_int_equal(privacy_export(&f->s, "0123456789abcdef0123456789abcdef", T0, out), -ESRCH);
        fclose(out);
        free(buf);
}

static void test_consent(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1];
        uint64_t erased = 99;

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        assert_int_equal(privacy_consent_get(&f->s, a, "usage-analytics"), 0);
        assert_int_equal(privacy_consent_set(&f->s, a, "frobnicate", true, 0, T0, NULL), -EINVAL);
        assert_int_equal(privacy_consent_set(&f->s, a, "usage-analytics", true, 1000, T0, &erased), 0);
        assert_int_equal(erased, 0);
        assert_int_equal(privacy_consent_get(&f->s, a, "usage-analytics"), 1);
        store(f, a, "usage-analytics", "taps", T0);
        store(f, a, "presence", "home", T0);
        assert_int_equal(privacy_consent_set(&f->s, a, "usage-analytics", false, 1000, T0 + 1, &erased), 0);
        assert_int_equal(erased, 1);
        assert_int_equal(n_records(f, a), 1);
        assert_int_equal(count(f, "SELECT records FROM subject"), 1);
        assert_int_equal(count(f, "SELECT count(*) FROM consent_log WHERE uid = 1000"), 2);
}

static void test_expire(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1];
        uint64_t erased = 0, next = 0;
        int64_t id;

        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, 10, "short", 5, T0, &id),
                         0);
        assert_int_equal(privacy_record_store(&f->s, a, cat(f, "presence"), NULL, NULL, 0, 20, "longer", 6, T0, &id),
                         0);
        store(f, a, "contact-details", "forever", T0); /* retention 0: until erased */
        assert_int_equal(privacy_expire(&f->s, T0 + 5 * SEC, &erased, &next), 0);
        assert_int_equal(erased, 0);
        assert_int_equal(next, T0 + 10 * SEC);
        assert_int_equal(privacy_expire(&f->s, T0 + 10 * SEC, &erased, &next), 0);
        assert_int_equal(erased, 1);
        assert_int_equal(next, T0 + 20 * SEC);
        assert_int_equal(privacy_expire(&f->s, T0 + 100 * SEC, &erased, &next), 0);
        assert_int_equal(erased, 1);
        assert_int_equal(next, 0);
        assert_int_equal(n_records(f, a), 1);
        assert_int_equal(count(f, "SELECT records FROM subject"), 1);
        assert_int_equal(count(f, "SELECT bytes FROM subject"), 7);
}

static void test_bounded_logs(void **state) {
        Fixture *f = *state;
        char a[PRIVACY_SUBJECT_ID_LEN + 1], req[PRIVACY_REQUEST_ID_LEN + 1];

        /* Durability is not what this test is about: thousands of commits without fsync. */
        assert_int_equal(db_exec(f->db, "PRAGMA synchronous=OFF"), 0);
        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        for (unsigned i = 0; i < PRIVACY_CONSENT_LOG_MAX + 5; i++)
                assert_int_equal(privacy_consent_set(&f->s, a, "usage-analytics", i % 2 == 0, 0, T0 + i, NULL), 0);
        assert_int_equal(count(f, "SELECT count(*) FROM consent_log"), PRIVACY_CONSENT_LOG_MAX);
        assert_int_equal(count(f, "SELECT min(at_usec) FROM consent_log"), T0 + 5);

        for (unsigned i = 0; i < PRIVACY_RECEIPTS_MAX + 3; i++) {
                assert_int_equal(privacy_subject_create(&f->s, "B", T0, a), 0);
                assert_int_equal(privacy_erase_begin(&f->s, a, "test", 0, T0 + i, req), 0);
                assert_int_equal(privacy_erase_run(&f->s, req, NULL, T0 + i), 0);
                /* Only acknowledged receipts may go: the first two stay pending. */
                if (i >= 2)
                        assert_int_equal(privacy_receipt_set_cloud(&f->s, req, PRIVACY_CLOUD_ACKNOWLEDGED, T0 + i), 0);
        }
        assert_int_equal(count(f, "SELECT count(*) FROM receipt WHERE cloud = 'acknowledged'"), PRIVACY_RECEIPTS_MAX);
        assert_int_equal(count(f, "SELECT count(*) FROM receipt WHERE cloud = 'to-request'"), 2);
}

/* "Not there" is told from a failure: an ENOENT from SQLite (SQLITE_CANTOPEN) is no "unknown subject". */
static void test_store_error_names(void **state) {
        static const struct {
                int r;
                const char *name;
        } cases[] = {
                { -ESRCH, "org.hubguard.privacy1.UnknownSubject" },
                { -ENXIO, "org.hubguard.privacy1.NoSuchReceipt" },
                { -ENOKEY, "org.hubguard.privacy1.ConsentRequired" },
                { -EDQUOT, "org.hubguard.privacy1.LimitReached" },
                { -ENOENT, SD_BUS_ERROR_FILE_NOT_FOUND },
                { -EIO, SD_BUS_ERROR_IO_ERROR },
        };
        char a[PRIVACY_SUBJECT_ID_LEN + 1];
        Fixture *f;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;

                assert_true(privacy_store_error(cases[i].r, "0123456789abcdef0123456789abcdef", &e) < 0);
                assert_string_equal(e.name, cases[i].name);
                sd_bus_error_free(&e);
        }
        /* And the store says "not there" with those errnos. */
        assert_int_equal(fixture_setup((void **) &f), 0);
        assert_int_equal(privacy_subject_create(&f->s, "A", T0, a), 0);
        assert_int_equal(privacy_records_foreach(&f->s, "0123456789abcdef0123456789abcdef", NULL, collect,
                                                 &(Collect) {}),
                         -ESRCH);
        assert_int_equal(privacy_receipt_json(&f->s, "0123456789abcdef0123456789abcdef", &(char *) { NULL }),
                         -ENXIO);
        assert_int_equal(fixture_teardown((void **) &f), 0);
}

static void test_cloud_state_names(void **state) {
        for (PrivacyCloudState s = 0; s < _PRIVACY_CLOUD_MAX; s++)
                assert_int_equal(privacy_cloud_state_from_string(privacy_cloud_state_to_string(s)), s);
        assert_int_equal(privacy_cloud_state_from_string("bogus"), _PRIVACY_CLOUD_INVALID);
        assert_null(privacy_cloud_state_to_string(_PRIVACY_CLOUD_MAX));
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_subject_and_records),
                FIXTURE_TEST(test_store_refuses),
                FIXTURE_TEST(test_wrong_master_key),
                FIXTURE_TEST(test_records_bound_to_their_row),
                FIXTURE_TEST(test_erase),
                FIXTURE_TEST(test_erase_resume),
                FIXTURE_TEST(test_export),
                FIXTURE_TEST(test_consent),
                FIXTURE_TEST(test_expire),
                FIXTURE_TEST(test_bounded_logs),
                cmocka_unit_test(test_cloud_state_names),
                cmocka_unit_test(test_store_error_names),
        };

        return cmocka_run_group_tests_name("privacy-store", tests, NULL, NULL);
}
