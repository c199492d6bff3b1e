/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * bench-privacy: the cost of hub-privacyd's erase and export, on real SQLite files (WAL,
 * synchronous=FULL, as the daemon opens them). Not a test. Run it by hand:
 *
 *   build/tests/bench/bench-privacy [--records N] [--subject-records K] [--export-records E]
 *                                   [--runs R] [--dir DIR]
 *
 * It builds one store of N records (default 1,000,000) spread over N / K subjects of K records
 * (default 1,000) and one more subject of E records (default 100,000), then measures, R times
 * each (default 5), and prints median, min and max:
 *
 *   erase      privacy_erase_begin() + privacy_erase_run() of one K-record subject: the journal
 *              commit, the key row deleted and checkpointed, the rows deleted with secure_delete,
 *              the receipt, the WAL checkpoint(TRUNCATE)
 *   baseline   a plain "DELETE FROM record WHERE subject = ?" of another K-record subject in one
 *              transaction, on the same file with secure_delete off
 *   export     privacy_export() of the E-record subject to /dev/null (unwrap the key, decrypt each
 *              record, write JSON)
 *   baseline   a plain SELECT of the same E rows' columns, reading every blob
 *
 * and the ratios median(erase)/median(baseline) and median(export)/median(baseline). Each erase
 * run takes a subject not erased before, so every run starts from the same state.
 *
 * The store is built quickly: one record per subject goes through privacy_record_store(), then
 * SQL copies that row K - 1 times (an erase does not decrypt, so copies do); the export subject's
 * E records all go through privacy_record_store() (copies would not open: the record id is in the
 * associated data), with synchronous=OFF while building.
 */

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "hubguard/db.h"
#include "hubguard/log.h"
#include "hubguard/seal.h"
#include "privacyd-store.h"

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static uint64_t wall_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n) {
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void report(const char *what, double *v, unsigned n, const char *unit) {
        double med = median(v, n);

        printf("%-34s median %10.2f %s   min %10.2f   max %10.2f\n", what, med, unit, v[0], v[n - 1]);
}

static void die(const char *what, int r) {
        fprintf(stderr, "bench-privacy: %s: %s\n", what, strerror(r < 0 ? -r : r));
        exit(EXIT_FAILURE);
}

/* Copy the subject's only record so that it has k records; counters follow. */
static void replicate(sqlite3 *db, const char *subject, unsigned k) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        char sql[1024];
        int rc;

        (void) snprintf(sql, sizeof sql,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %u) "
                        "INSERT INTO record (subject, category, purpose, recipients, retention_sec, created_usec, "
                        "expires_usec, data) SELECT subject, category, purpose, recipients, retention_sec, "
                        "created_usec, expires_usec, data FROM record, n WHERE subject = ?1",
                        k - 1);
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
                die("replicating records", -EIO);
        sqlite3_finalize(TAKE_PTR(st));
        rc = sqlite3_prepare_v2(db, "UPDATE subject SET records = ?2, bytes = bytes * ?2 WHERE id = ?1", -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 2, k);
                rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
                die("updating counters", -EIO);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "records", required_argument, NULL, 'n' },
                { "subject-records", required_argument, NULL, 'k' },
                { "export-records", required_argument, NULL, 'e' },
                { "runs", required_argument, NULL, 'r' },
                { "dir", required_argument, NULL, 'd' },
                {},
        };
        unsigned long n_records = 1000000, per_subject = 1000, export_records = 100000, runs = 5;
        const char *dir = NULL;
        char tmpl[] = "/var/tmp/bench-privacy.XXXXXX", path[4096], export_subject[PRIVACY_SUBJECT_ID_LEN + 1];
        unsigned char master[SEAL_MASTER_KEY_SIZE];
        static const char text[] = "{\"event\":\"arrived\",\"where\":\"front door\",\"by\":\"phone of a household member\"}";
        char (*subjects)[PRIVACY_SUBJECT_ID_LEN + 1];
        double *erase, *erase_base, *exp, *exp_base;
        unsigned long n_subjects;
        PrivacyStore s;
        sqlite3 *db;
        uint64_t t;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'n': n_records = strtoul(optarg, NULL, 10); break;
                case 'k': per_subject = strtoul(optarg, NULL, 10); break;
                case 'e': export_records = strtoul(optarg, NULL, 10); break;
                case 'r': runs = strtoul(optarg, NULL, 10); break;
                case 'd': dir = optarg; break;
                default:
                        fprintf(stderr, "Usage: bench-privacy [--records N] [--subject-records K] "
                                        "[--export-records E] [--runs R] [--dir DIR]\n");
                        return EXIT_FAILURE;
                }
        n_subjects = per_subject ? n_records / per_subject : 0;
        if (per_subject < 1 || runs < 1 || runs > 100 || n_subjects < 2 * runs || n_subjects + 1 > PRIVACY_SUBJECTS_MAX ||
            export_records < 1) {
                fprintf(stderr, "bench-privacy: need 1 <= runs <= 100, 2 * runs <= records / subject-records < %d.\n",
                        PRIVACY_SUBJECTS_MAX);
                return EXIT_FAILURE;
        }
        log_setup("bench-privacy");
        log_set_max_level(LOG_WARNING);
        if (sodium_init() < 0)
                die("sodium_init", -EIO);
        if (!dir && !(dir = mkdtemp(tmpl)))
                die("mkdtemp", -errno);
        (void) snprintf(path, sizeof path, "%s/privacy.db", dir);
        randombytes_buf(master, sizeof master);
        r = db_open(path, privacy_migrations, PRIVACY_N_MIGRATIONS, &db, NULL);
        if (r < 0)
                die("db_open", r);
        r = privacy_store_init(&s, db, master, privacy_builtin_categories, privacy_n_builtin_categories);
        if (r < 0)
                die("store init", r);

        subjects = calloc(n_subjects, sizeof *subjects);
        erase = calloc(4 * runs, sizeof(double));
        if (!subjects || !erase)
                die("calloc", -ENOMEM);
        erase_base = erase + runs;
        exp = erase + 2 * runs;
        exp_base = erase + 3 * runs;

        fprintf(stderr, "Building %lu subjects of %lu records and one of %lu in %s...\n", n_subjects, per_subject,
                export_records, path);
        t = now_ns();
        for (unsigned long i = 0; i <= n_subjects; i++) {
                char *id = i < n_subjects ? subjects[i] : export_subject;

                r = privacy_subject_create(&s, "a household member", wall_usec(), id);
                if (r >= 0)
                        r = privacy_record_store(&s, id, privacy_category_find(&s, "presence"), NULL, NULL, 0,
                                                 UINT64_MAX, text, strlen(text), wall_usec(), NULL);
                if (r < 0)
                        die("storing", r);
        }
        if (db_exec(db, "BEGIN") < 0)
                die("BEGIN", -EIO);
        for (unsigned long i = 0; i < n_subjects; i++)
                replicate(db, subjects[i], (unsigned) per_subject);
        if (db_exec(db, "COMMIT") < 0)
                die("COMMIT", -EIO);
        /* The exported records are decrypted, so each must be its own ciphertext (the record id is in the
         * associated data: a copied row does not open). Stored one by one, without fsync while building. */
        if (db_exec(db, "PRAGMA synchronous=OFF") < 0)
                die("synchronous", -EIO);
        for (unsigned long i = 1; i < export_records; i++) {
                r = privacy_record_store(&s, export_subject, privacy_category_find(&s, "presence"), NULL, NULL, 0,
                                         UINT64_MAX, text, strlen(text), wall_usec(), NULL);
                if (r < 0)
                        die("storing", r);
        }
        if (db_exec(db, "PRAGMA synchronous=FULL") < 0 || privacy_checkpoint(&s) < 0)
                die("checkpoint", -EIO);
        fprintf(stderr, "Built in %.1f s.\n", (double) (now_ns() - t) / 1e9);

        for (unsigned long i = 0; i < runs; i++) {
                char req[PRIVACY_REQUEST_ID_LEN + 1];
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
                FILE *null;

                /* erase: subject i */
                t = now_ns();
                r = privacy_erase_begin(&s, subjects[i], "bench", 0, wall_usec(), req);
                if (r >= 0)
                        r = privacy_erase_run(&s, req, NULL, wall_usec());
                if (r < 0)
                        die("erase", r);
                erase[i] = (double) (now_ns() - t) / 1e6;

                /* baseline: a plain DELETE of subject runs + i, secure_delete off */
                if (db_exec(db, "PRAGMA secure_delete=OFF") < 0 ||
                    sqlite3_prepare_v2(db, "DELETE FROM record WHERE subject = ?1", -1, &st, NULL) != SQLITE_OK)
                        die("baseline", -EIO);
                (void) sqlite3_bind_text(st, 1, subjects[runs + i], -1, SQLITE_STATIC);
                t = now_ns();
                if (db_exec(db, "BEGIN IMMEDIATE") < 0 || sqlite3_step(st) != SQLITE_DONE || db_exec(db, "COMMIT") < 0)
                        die("baseline delete", -EIO);
                erase_base[i] = (double) (now_ns() - t) / 1e6;
                sqlite3_finalize(TAKE_PTR(st));
                if (db_exec(db, "PRAGMA secure_delete=ON") < 0 || privacy_checkpoint(&s) < 0)
                        die("secure_delete", -EIO);

                /* export of the big subject */
                null = fopen("/dev/null", "we");
                if (!null)
                        die("/dev/null", -errno);
                t = now_ns();
                r = privacy_export(&s, export_subject, wall_usec(), null);
                exp[i] = (double) (now_ns() - t) / 1e6;
                fclose(null);
                if (r < 0)
                        die("export", r);

                /* baseline: read the same rows, every column */
                if (sqlite3_prepare_v2(db,
                                       "SELECT id, category, purpose, recipients, retention_sec, created_usec, "
                                       "expires_usec, data FROM record WHERE subject = ?1 ORDER BY id",
                                       -1, &st, NULL) != SQLITE_OK)
                        die("baseline select", -EIO);
                (void) sqlite3_bind_text(st, 1, export_subject, -1, SQLITE_STATIC);
                t = now_ns();
                {
                        uint64_t bytes = 0, rows = 0;

                        while (sqlite3_step(st) == SQLITE_ROW) {
                                (void) sqlite3_column_text(st, 1);
                                bytes += (uint64_t) sqlite3_column_bytes(st, 7) + (uint64_t) sqlite3_column_bytes(st, 3);
                                rows++;
                        }
                        exp_base[i] = (double) (now_ns() - t) / 1e6;
                        if (rows != export_records || bytes == 0)
                                die("baseline select: wrong row count", -EIO);
                }
        }

        printf("bench-privacy: %lu records in %lu subjects of %lu; export of %lu records; %lu runs\n", n_records,
               n_subjects, per_subject, export_records, runs);
        report("erase one subject (journalled)", erase, (unsigned) runs, "ms");
        report("baseline: plain DELETE", erase_base, (unsigned) runs, "ms");
        report("export (decrypt + JSON)", exp, (unsigned) runs, "ms");
        report("baseline: plain SELECT", exp_base, (unsigned) runs, "ms");
        printf("ratio erase/DELETE   %.2f\n", median(erase, (unsigned) runs) / median(erase_base, (unsigned) runs));
        printf("ratio export/SELECT  %.2f\n", median(exp, (unsigned) runs) / median(exp_base, (unsigned) runs));
        printf("export throughput    %.0f records/s\n", (double) export_records / (median(exp, (unsigned) runs) / 1e3));

        sqlite3_close(db);
        free(subjects);
        free(erase);
        if (dir == tmpl) {
                char f[4200];

                for (const char *suffix = ""; suffix; suffix = streq(suffix, "") ? "-wal" : streq(suffix, "-wal") ? "-shm" : NULL) {
                        (void) snprintf(f, sizeof f, "%s%s", path, suffix);
                        (void) unlink(f);
                }
                (void) rmdir(tmpl);
        }
        return EXIT_SUCCESS;
}
