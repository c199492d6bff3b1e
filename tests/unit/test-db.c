/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "common.h"
#include "hubguard/db.h"
#include "test-vfs.h"

typedef struct Fixture {
        char *dir;
        char *path; /* dir/test.db, not created */
} Fixture;

/*
 * Migration 1 creates a table without IF NOT EXISTS, so running it twice fails; migration 2 adds a
 * row, so running it twice shows in the row count.
 */
static const DbMigration migrations[] = {
        { 1, "CREATE TABLE device (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL) STRICT;"
             "CREATE TABLE event (device TEXT NOT NULL REFERENCES device(id),"
             "                    at INTEGER NOT NULL) STRICT;" },
        { 2, "INSERT INTO device (id, name) VALUES ('lamp', 'Living room lamp');" },
        { 3, "ALTER TABLE device ADD COLUMN room TEXT;" },
};

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-db");
        f->path = path_join(f->dir, "test.db");
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        test_vfs_shm_errno = 0;
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

/* Run a query that yields one integer. */
static int query_int(sqlite3 *db, const char *sql) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        return sqlite3_column_int(st, 0);
}

/* Run a query that yields one string; returns a copy. */
static char *query_text(sqlite3 *db, const char *sql) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        char *s;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        s = strdup((const char *) sqlite3_column_text(st, 0));
        assert_non_null(s);
        return s;
}

static bool table_exists(sqlite3 *db, const char *name) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?",
                                            -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC), SQLITE_OK);
        return sqlite3_step(st) == SQLITE_ROW;
}

/* Open path with plain SQLite (no migrations, no configuration), read-only. */
static sqlite3 *open_raw(const char *path) {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        return db;
}

/* Create a database at path with plain SQLite and a given user_version, in rollback-journal mode. */
static void make_raw_db(const char *path, int user_version) {
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        char sql[128];

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                         SQLITE_OK);
        (void) snprintf(sql, sizeof sql, "CREATE TABLE future (x INTEGER); PRAGMA user_version=%d;",
                        user_version);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

static bool file_exists(const char *path) {
        return access(path, F_OK) >= 0;
}

/* ---------------------------------------------------------------------------------------------------
 * db_open(): creation and migrations
 */

static void test_open_creates_and_migrates(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        DbOpenInfo info;

        memset(&info, 0xff, sizeof info);
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_non_null(db);
        assert_true(info.created);
        assert_false(info.rebuilt);
        assert_int_equal(info.old_version, 0);
        assert_int_equal(info.version, 3);
        assert_true(file_exists(f->path));
        assert_int_equal(query_int(db, "PRAGMA user_version"), 3);
        assert_true(table_exists(db, "device"));
        assert_true(table_exists(db, "event"));
        assert_int_equal(query_int(db, "SELECT count(*) FROM device WHERE room IS NULL"), 1);
}

static void test_open_without_info(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        assert_non_null(db);
}

static void test_open_no_migrations(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        DbOpenInfo info;

        assert_int_equal(db_open(f->path, NULL, 0, &db, &info), 0);
        assert_true(info.created);
        assert_int_equal(info.version, 0);
}

static void test_reopen_does_not_rerun_migrations(void **state) {
        Fixture *f = *state;
        sqlite3 *db = NULL;
        DbOpenInfo info;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        sqlite3_close_v2(db);
        db = NULL;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_false(info.created);
        assert_false(info.rebuilt);
        assert_int_equal(info.old_version, 3);
        assert_int_equal(info.version, 3);
        /* Migration 2 inserted one row; a second run would have failed on the primary key. */
        assert_int_equal(query_int(db, "SELECT count(*) FROM device"), 1);
        sqlite3_close_v2(db);
}

static void test_reopen_runs_only_new_migrations(void **state) {
        Fixture *f = *state;
        sqlite3 *db = NULL;
        DbOpenInfo info;

        assert_int_equal(db_open(f->path, migrations, 2, &db, &info), 0);
        assert_int_equal(info.version, 2);
        sqlite3_close_v2(db);
        db = NULL;

        assert_int_equal(db_open(f->path, migrations, 3, &db, &info), 0);
        assert_false(info.created);
        assert_int_equal(info.old_version, 2);
        assert_int_equal(info.version, 3);
        assert_int_equal(query_int(db, "SELECT count(*) FROM device WHERE room IS NULL"), 1);
        sqlite3_close_v2(db);
}

static void test_failed_migration_rolls_back(void **state) {
        static const DbMigration bad[] = {
                { 1, "CREATE TABLE a (x INTEGER) STRICT;" },
                /* The first statement succeeds, the second fails: both must be undone. */
                { 2, "CREATE TABLE b (x INTEGER) STRICT; INSERT INTO no_such_table VALUES (1);" },
                { 3, "CREATE TABLE c (x INTEGER) STRICT;" },
        };
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL, *raw = NULL;
        DbOpenInfo info = {};

        assert_int_equal(db_open(f->path, bad, ELEMENTSOF(bad), &db, &info), -EIO);
        assert_null(db);

        raw = open_raw(f->path);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 1);
        assert_true(table_exists(raw, "a"));
        assert_false(table_exists(raw, "b"));
        assert_false(table_exists(raw, "c"));
}

static void test_failed_migration_constraint(void **state) {
        static const DbMigration bad[] = {
                { 1, "CREATE TABLE a (x INTEGER PRIMARY KEY) STRICT; INSERT INTO a VALUES (1);" },
                { 2, "INSERT INTO a VALUES (2); INSERT INTO a VALUES (1);" },
        };
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL, *raw = NULL;

        assert_int_equal(db_open(f->path, bad, ELEMENTSOF(bad), &db, NULL), -EEXIST);
        raw = open_raw(f->path);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 1);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM a"), 1);
}

static void test_failed_migration_retried_on_next_open(void **state) {
        static const DbMigration bad[] = {
                { 1, "CREATE TABLE a (x INTEGER) STRICT;" },
                { 2, "INSERT INTO missing VALUES (1);" },
        };
        static const DbMigration fixed[] = {
                { 1, "CREATE TABLE a (x INTEGER) STRICT;" },
                { 2, "INSERT INTO a VALUES (1);" },
        };
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        DbOpenInfo info;

        assert_int_equal(db_open(f->path, bad, ELEMENTSOF(bad), &db, NULL), -EIO);
        assert_int_equal(db_open(f->path, fixed, ELEMENTSOF(fixed), &db, &info), 0);
        assert_int_equal(info.old_version, 1);
        assert_int_equal(info.version, 2);
        assert_int_equal(query_int(db, "SELECT count(*) FROM a"), 1);
}

/* ---------------------------------------------------------------------------------------------------
 * db_open(): a schema newer than ours
 */

static void assert_newer_refused_untouched(const char *path) {
        _cleanup_free_ char *before = NULL, *after = NULL;
        _cleanup_(sqlite3_close_v2p) sqlite3 *raw = NULL;
        sqlite3 *db = NULL;
        size_t n_before, n_after;
        struct stat st_before, st_after;

        before = read_file_or_die(path, &n_before);
        assert_int_equal(stat(path, &st_before), 0);

        assert_int_equal(db_open(path, migrations, 2, &db, NULL), -EPROTONOSUPPORT);
        assert_null(db);

        after = read_file_or_die(path, &n_after);
        assert_int_equal(stat(path, &st_after), 0);
        assert_int_equal(n_after, n_before);
        assert_memory_equal(after, before, n_before);
        assert_int_equal(st_after.st_ino, st_before.st_ino);
        raw = open_raw(path);
        assert_int_equal(query_int(raw, "PRAGMA user_version"), 3);
}

static void test_newer_version_refused(void **state) {
        Fixture *f = *state;
        sqlite3 *db = NULL;

        /* A file written by a newer hubguard, which knows migration 3. */
        assert_int_equal(db_open(f->path, migrations, 3, &db, NULL), 0);
        sqlite3_close_v2(db);
        assert_newer_refused_untouched(f->path);
}

static void test_newer_version_rollback_journal_untouched(void **state) {
        /* The same, for a file that is not in WAL mode: even the journal mode must not change. */
        Fixture *f = *state;
        _cleanup_free_ char *wal = NULL;

        make_raw_db(f->path, 3);
        assert_newer_refused_untouched(f->path);
        wal = path_join(f->dir, "test.db-wal");
        assert_false(file_exists(wal));
}

static void test_ret_untouched_on_failure(void **state) {
        Fixture *f = *state;
        sqlite3 *db = (sqlite3 *) 0x1;
        DbOpenInfo info = { .version = 42 };

        make_raw_db(f->path, 7);
        assert_int_equal(db_open(f->path, migrations, 3, &db, &info), -EPROTONOSUPPORT);
        assert_ptr_equal(db, (sqlite3 *) 0x1);
        assert_int_equal(info.version, 42);
}

/* ---------------------------------------------------------------------------------------------------
 * db_open(): corrupt files
 */

static void write_garbage(const char *path) {
        char buf[8192];

        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = "this is not an SQLite database\n"[i % 31];
        write_file_or_die(path, buf, sizeof buf);
}

static void test_garbage_moved_aside_and_rebuilt(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *corrupt = NULL, *content = NULL;
        DbOpenInfo info;
        size_t n;

        write_garbage(f->path);
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_true(info.rebuilt);
        assert_true(info.created);
        corrupt = path_join(f->dir, "test.db.corrupt");
        assert_string_equal(info.moved_to, corrupt);
        assert_int_equal(info.old_version, 0);
        assert_int_equal(info.version, 3);
        assert_int_equal(query_int(db, "SELECT count(*) FROM device"), 1);

        /* The old file is kept, byte for byte, for diagnosis. */
        content = read_file_or_die(corrupt, &n);
        assert_int_equal(n, 8192);
        assert_memory_equal(content, "this is not an SQLite database\n", 31);
}

static void test_short_garbage_rebuilt(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        DbOpenInfo info;

        write_string_or_die(f->path, "garbage");
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_true(info.rebuilt);
}

static void test_empty_file_is_a_new_database(void **state) {
        /* SQLite reads an empty file as an empty database: nothing is lost, nothing to move aside. */
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *corrupt = NULL;
        DbOpenInfo info;

        write_string_or_die(f->path, "");
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_false(info.rebuilt);
        assert_false(info.created);
        assert_int_equal(info.version, 3);
        corrupt = path_join(f->dir, "test.db.corrupt");
        assert_false(file_exists(corrupt));
}

static void test_corrupt_replaces_older_corrupt(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *corrupt = NULL, *corrupt_wal = NULL, *corrupt_shm = NULL, *content = NULL;
        DbOpenInfo info;

        corrupt = path_join(f->dir, "test.db.corrupt");
        corrupt_wal = path_join(f->dir, "test.db.corrupt-wal");
        corrupt_shm = path_join(f->dir, "test.db.corrupt-shm");
        write_string_or_die(corrupt, "older incident");
        write_string_or_die(corrupt_wal, "older incident wal");
        write_string_or_die(corrupt_shm, "older incident shm");
        write_garbage(f->path);

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_true(info.rebuilt);
        content = read_file_or_die(corrupt, NULL);
        assert_memory_equal(content, "this is not an SQLite database\n", 31);
        /* The current file had no -wal or -shm: stale ones from the older incident would mislead. */
        assert_false(file_exists(corrupt_wal));
        assert_false(file_exists(corrupt_shm));
}

static void test_corrupt_wal_moved_along(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *wal = NULL, *corrupt_wal = NULL, *content = NULL;
        DbOpenInfo info;

        wal = path_join(f->dir, "test.db-wal");
        corrupt_wal = path_join(f->dir, "test.db.corrupt-wal");
        write_garbage(f->path);
        write_string_or_die(wal, "the wal that goes with it");

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_true(info.rebuilt);
        assert_true(file_exists(corrupt_wal));
        content = read_file_or_die(corrupt_wal, NULL);
        assert_string_equal(content, "the wal that goes with it");
        /* The new database did not inherit the old WAL. */
        assert_int_equal(query_int(db, "SELECT count(*) FROM device"), 1);
}

static void test_corrupt_page_fails_integrity_and_is_rebuilt(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *content = NULL;
        sqlite3 *raw = NULL;
        DbOpenInfo info;
        size_t n, page;

        /* A real database whose header is fine but whose table pages are not. */
        assert_int_equal(sqlite3_open_v2(f->path, &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_exec(raw,
                                      "PRAGMA page_size=4096; CREATE TABLE t (x TEXT);"
                                      "WITH RECURSIVE n(i) AS"
                                      " (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)"
                                      " INSERT INTO t SELECT printf('row %d %0100d', i, i) FROM n;"
                                      "CREATE INDEX t_x ON t (x);",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close_v2(raw);

        content = read_file_or_die(f->path, &n);
        page = 4096;
        assert_true(n >= 8 * page);
        /* Scribble over the middle of the file, leaving page 1 (header and schema) intact. */
        memset(content + 3 * page, 0xa5, 3 * page);
        write_file_or_die(f->path, content, n);

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_true(info.rebuilt);
        assert_int_equal(info.version, 3);
        assert_false(table_exists(db, "t"));
}

static void test_missing_directory(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *p = path_join(f->dir, "no/such/dir/test.db");
        sqlite3 *db = NULL;

        assert_int_equal(db_open(p, migrations, ELEMENTSOF(migrations), &db, NULL), -ENOENT);
        assert_null(db);
}

/* ---------------------------------------------------------------------------------------------------
 * db_open(): connection settings
 */

static void test_wal_and_synchronous_full(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        _cleanup_free_ char *mode = NULL, *wal = NULL;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        mode = query_text(db, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
        assert_int_equal(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
        wal = path_join(f->dir, "test.db-wal");
        assert_true(file_exists(wal));
}

static void test_wal_persists_in_file(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *raw = NULL;
        _cleanup_free_ char *mode = NULL;
        sqlite3 *db = NULL;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        sqlite3_close_v2(db);
        raw = open_raw(f->path);
        mode = query_text(raw, "PRAGMA journal_mode");
        assert_string_equal(mode, "wal");
}

/*
 * A full file system: a cleanly closed WAL database needs a new -shm file (its index) at the next
 * open, and a crash leaves one that SQLite truncates and grows again. Without room for it the
 * daemon must still start with what it has: the index goes to the heap, and the connection keeps
 * the file to itself.
 */
static void test_no_room_for_shm_opens_exclusive(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *raw = NULL;
        _cleanup_free_ char *mode = NULL;
        sqlite3 *db = NULL;
        DbOpenInfo info;

        /* A crash: the last row only in the WAL. */
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_false(info.exclusive);
        assert_int_equal(db_exec(db, "INSERT INTO device (id, name) VALUES ('plug', 'Plug')"), 0);
        assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL), SQLITE_OK);
        sqlite3_close_v2(db);
        db = NULL;

        /* An index that fails for another reason (an I/O error) is an error, not a full disk. */
        test_vfs_shm_errno = EIO;
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), -EIO);
        assert_null(db);

        test_vfs_shm_errno = ENOSPC;
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        test_vfs_shm_errno = 0;
        assert_true(info.exclusive);
        assert_false(info.rebuilt);
        mode = query_text(db, "PRAGMA locking_mode");
        assert_string_equal(mode, "exclusive");
        assert_int_equal(query_int(db, "SELECT count(*) FROM device WHERE id = 'plug'"), 1);
        assert_int_equal(db_exec(db, "INSERT INTO device (id, name) VALUES ('fan', 'Fan')"), 0);
        /* The price: nobody else reads the file meanwhile. */
        raw = open_raw(f->path);
        assert_int_equal(sqlite3_exec(raw, "SELECT count(*) FROM device", NULL, NULL, NULL), SQLITE_BUSY);
        sqlite3_close_v2(TAKE_PTR(raw));
        sqlite3_close_v2(db);
        db = NULL;

        /* With room again, the next open shares the file as usual and has both rows. */
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, &info), 0);
        assert_false(info.exclusive);
        raw = open_raw(f->path);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM device WHERE id IN ('plug', 'fan')"), 2);
        sqlite3_close_v2(db);
}

static void test_foreign_keys_enforced(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
        assert_int_equal(db_exec(db, "INSERT INTO event (device, at) VALUES ('lamp', 1)"), 0);
        assert_int_equal(db_exec(db, "INSERT INTO event (device, at) VALUES ('toaster', 2)"), -EEXIST);
        assert_int_equal(query_int(db, "SELECT count(*) FROM event"), 1);
}

static void test_defensive_mode(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        int on = -1;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, -1, &on), SQLITE_OK);
        assert_int_equal(on, 1);
        /* Defensive mode forbids writing the schema table even with writable_schema. */
        assert_int_equal(db_exec(db, "PRAGMA writable_schema=ON"), 0);
        assert_int_not_equal(db_exec(db, "UPDATE sqlite_schema SET sql='x' WHERE name='device'"), 0);
}

static void test_refuses_symlink(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *target = path_join(f->dir, "real.db");
        sqlite3 *db = NULL;

        assert_int_equal(db_open(target, migrations, 1, &db, NULL), 0);
        sqlite3_close_v2(db);
        db = NULL;
        assert_int_equal(symlink("real.db", f->path), 0);
        assert_int_equal(db_open(f->path, migrations, 1, &db, NULL), -ENOENT);
        assert_null(db);
}

/* ---------------------------------------------------------------------------------------------------
 * db_exec(), db_get_user_version(), db_check_integrity()
 */

static void test_exec_and_errors(void **state) {
        Fixture *f = *state;
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        int v = -1;

        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &db, NULL), 0);
        assert_int_equal(db_exec(db, "INSERT INTO device (id, name) VALUES ('plug', 'Plug')"), 0);
        assert_int_equal(db_exec(db, "INSERT INTO device (id, name) VALUES ('plug', 'Again')"), -EEXIST);
        assert_int_equal(db_exec(db, "INSERT INTO device (id, name) VALUES ('x', x'00')"), -EEXIST);
        assert_int_equal(db_exec(db, "INSERT INTO nowhere VALUES (1)"), -EIO);
        assert_int_equal(db_exec(db, "SELEKT 1"), -EIO);
        assert_int_equal(db_get_user_version(db, &v), 0);
        assert_int_equal(v, 3);
        assert_int_equal(db_check_integrity(db), 0);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_open_creates_and_migrates),
                FIXTURE_TEST(test_open_without_info),
                FIXTURE_TEST(test_open_no_migrations),
                FIXTURE_TEST(test_reopen_does_not_rerun_migrations),
                FIXTURE_TEST(test_reopen_runs_only_new_migrations),
                FIXTURE_TEST(test_failed_migration_rolls_back),
                FIXTURE_TEST(test_failed_migration_constraint),
                FIXTURE_TEST(test_failed_migration_retried_on_next_open),
                FIXTURE_TEST(test_newer_version_refused),
                FIXTURE_TEST(test_newer_version_rollback_journal_untouched),
                FIXTURE_TEST(test_ret_untouched_on_failure),
                FIXTURE_TEST(test_garbage_moved_aside_and_rebuilt),
                FIXTURE_TEST(test_short_garbage_rebuilt),
                FIXTURE_TEST(test_empty_file_is_a_new_database),
                FIXTURE_TEST(test_corrupt_replaces_older_corrupt),
                FIXTURE_TEST(test_corrupt_wal_moved_along),
                FIXTURE_TEST(test_corrupt_page_fails_integrity_and_is_rebuilt),
                FIXTURE_TEST(test_missing_directory),
                FIXTURE_TEST(test_wal_and_synchronous_full),
                FIXTURE_TEST(test_wal_persists_in_file),
                FIXTURE_TEST(test_no_room_for_shm_opens_exclusive),
                FIXTURE_TEST(test_foreign_keys_enforced),
                FIXTURE_TEST(test_defensive_mode),
                FIXTURE_TEST(test_refuses_symlink),
                FIXTURE_TEST(test_exec_and_errors),
        };

        test_vfs_register();
        return cmocka_run_group_tests_name("db", tests, NULL, NULL);
}
