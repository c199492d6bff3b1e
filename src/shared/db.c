/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <stdio.h>

#include "hubguard/db.h"
#include "hubguard/errno-util.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"

#define DB_BUSY_TIMEOUT_MS 5000

int db_exec(sqlite3 *db, const char *sql) {
        char *msg = NULL;
        int rc;

        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
                log_debug("SQLite: %s", strna(msg));
                sqlite3_free(msg);
                return errno_from_sqlite(rc);
        }
        return 0;
}

int db_query_int64(sqlite3 *db, const char *sql, int64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENODATA : errno_from_sqlite(rc);
        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int db_query_int(sqlite3 *db, const char *sql, int *ret) {
        int64_t v;
        int r = db_query_int64(db, sql, &v);

        if (r >= 0)
                *ret = (int) MIN(MAX(v, (int64_t) INT_MIN), (int64_t) INT_MAX);
        return r;
}

int db_get_user_version(sqlite3 *db, int *ret) {
        return db_query_int(db, "PRAGMA user_version", ret);
}

int db_check_integrity(sqlite3 *db) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const unsigned char *s;
        int rc;

        rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc == SQLITE_DONE ? SQLITE_CORRUPT : rc);
        s = sqlite3_column_text(st, 0);
        return s && streq((const char *) s, "ok") ? 0 : -EUCLEAN;
}

static int db_configure(sqlite3 *db) {
        int r, n_objects;

        /* Defensive mode: no writes to the schema behind SQLite's back, even by a crafted statement. */
        (void) sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        (void) sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        (void) sqlite3_busy_timeout(db, DB_BUSY_TIMEOUT_MS);

        /* The first read of the file: a file that is not a database fails here with -EUCLEAN. */
        r = db_exec(db, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA cell_size_check=ON");
        if (r < 0)
                return r;
        r = db_query_int(db, "SELECT count(*) FROM sqlite_schema", &n_objects);
        if (r < 0)
                return r;
        return db_check_integrity(db);
}

static int db_migrate(sqlite3 *db, const DbMigration *m, size_t n, DbOpenInfo *info) {
        int version, r;

        r = db_get_user_version(db, &version);
        if (r < 0)
                return r;
        info->old_version = version;
        if (n > 0 && version > m[n - 1].version)
                return -EPROTONOSUPPORT;
        /* Only now that the schema is known to be ours: switching to WAL rewrites the file header. */
        r = db_exec(db, "PRAGMA journal_mode=WAL");
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                char sql[64];

                assert(m[i].version == (int) i + 1);
                if (m[i].version <= version)
                        continue;
                r = db_exec(db, "BEGIN IMMEDIATE");
                if (r < 0)
                        return r;
                (void) snprintf(sql, sizeof sql, "PRAGMA user_version=%d", m[i].version);
                r = db_exec(db, m[i].sql);
                if (r >= 0)
                        r = db_exec(db, sql);
                if (r >= 0)
                        r = db_exec(db, "COMMIT");
                if (r < 0) {
                        (void) db_exec(db, "ROLLBACK");
                        return r;
                }
                version = m[i].version;
        }
        info->version = version;
        return 0;
}

/*
 * Process-wide, before SQLite initialises: no bulk page-cache allocation per connection (by
 * default 20 pages, about 87 KiB, written at once and so resident even in an idle daemon); pages
 * are allocated as they are used. After initialisation (something opened a database first) this
 * fails, and SQLite's default stays: it is only memory.
 */
static void db_global_config(void) {
        static bool done;

        if (done)
                return;
        done = true;
        (void) sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

/* The WAL index (-shm) could not be created, grown or mapped for want of room (not for an I/O error
 * or a lack of memory, which the fallback would hide). */
static bool db_shm_no_room(sqlite3 *db) {
        switch (sqlite3_extended_errcode(db)) {
        case SQLITE_IOERR_SHMOPEN:
        case SQLITE_IOERR_SHMSIZE:
        case SQLITE_IOERR_SHMMAP:
                return sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT;
        default:
                return false;
        }
}

/*
 * Open and check one file. A WAL database needs room for its -shm index at every open (a clean
 * close deletes it, and the first opener after a crash truncates and grows it again), so on a full
 * file system it fails. It is opened then in exclusive locking mode, set before the first read:
 * SQLite keeps the index in the heap and needs no new block to read, and writes fail cleanly as on
 * any full disk. The cost, until the next open: the connection holds the file's lock, so no other
 * process reads it meanwhile.
 */
static int db_open_one(const char *path, bool *exclusive, sqlite3 **ret) {
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        int rc, r;

        db_global_config();

        rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOFOLLOW |
                                     SQLITE_OPEN_NOMUTEX,
                             NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        r = *exclusive ? db_exec(db, "PRAGMA locking_mode=EXCLUSIVE") : 0;
        if (r >= 0)
                r = db_configure(db);
        if (r < 0) {
                bool retry = !*exclusive && db_shm_no_room(db);

                /* Closing must neither checkpoint a WAL into a bad file nor delete it: db_move_aside()
                 * keeps both for diagnosis. */
                (void) sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
                if (!retry)
                        return r;
                sqlite3_close_v2(TAKE_PTR(db));
                *exclusive = true;
                return db_open_one(path, exclusive, ret);
        }
        *ret = TAKE_PTR(db);
        return 0;
}

/* Move path and its WAL and shared-memory files to path.corrupt*, replacing an older copy. */
static int db_move_aside(const char *path, DbOpenInfo *info) {
        static const char *const suffixes[] = { "-wal", "-shm" };
        char from[PATH_MAX], to[PATH_MAX];

        if (snprintf(to, sizeof to, "%s.corrupt", path) >= (int) sizeof to)
                return -ENAMETOOLONG;
        if (rename(path, to) < 0)
                return negative_errno();
        (void) snprintf(info->moved_to, sizeof info->moved_to, "%s", to);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                (void) snprintf(from, sizeof from, "%s%s", path, suffixes[i]);
                (void) snprintf(to, sizeof to, "%s.corrupt%s", path, suffixes[i]);
                if (rename(from, to) >= 0)
                        continue;
                if (errno != ENOENT)
                        return negative_errno();
                (void) unlink(to); /* a stale one from an older incident would mislead */
        }
        return fsync_parent_dir(path);
}

int db_open(const char *path, const DbMigration *migrations, size_t n_migrations, sqlite3 **ret,
            DbOpenInfo *ret_info) {
        _cleanup_(sqlite3_close_v2p) sqlite3 *db = NULL;
        DbOpenInfo info = {};
        int r;

        info.created = access(path, F_OK) < 0 && errno == ENOENT;
        r = db_open_one(path, &info.exclusive, &db);
        if (r == -EUCLEAN) {
                sqlite3_close_v2(TAKE_PTR(db));
                r = db_move_aside(path, &info);
                if (r < 0)
                        return r;
                info.rebuilt = info.created = true;
                r = db_open_one(path, &info.exclusive, &db);
                if (r == -EUCLEAN)
                        return -EUCLEAN;
        }
        if (r < 0)
                return r;

        r = db_migrate(db, migrations, n_migrations, &info);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(db);
        if (ret_info)
                *ret_info = info;
        return 0;
}
