/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * SQLite databases of the domains: WAL, synchronous=FULL, foreign keys, defensive mode, forward-only
 * migrations keyed by PRAGMA user_version, and an integrity check at open. A database that is not a
 * database or fails the check is moved aside (PATH.corrupt, replacing an older one, together with
 * its -wal and -shm files) and rebuilt empty; the caller is told so it can report the loss.
 */

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "hubguard/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3 *, sqlite3_close_v2);

typedef struct DbMigration {
        int version;     /* 1, 2, 3, ...: the user_version after this step */
        const char *sql; /* run in one transaction with the user_version update */
} DbMigration;

typedef struct DbOpenInfo {
        bool created;            /* the file did not exist (or was rebuilt) */
        bool rebuilt;            /* it was corrupt; the old file is at moved_to */
        char moved_to[PATH_MAX];
        int old_version;         /* user_version found (0 for a new file) */
        int version;             /* user_version now */
        bool exclusive;          /* no room for the -shm index: this connection holds the file alone */
} DbOpenInfo;

/*
 * Open (creating if needed) the database at path and bring its schema to the last migration.
 * migrations must be sorted by version, starting at 1, without gaps. Returns 0 and *ret, or:
 * -EPROTONOSUPPORT if the file has a newer schema than we know (it is left untouched), -EUCLEAN if it
 * was corrupt and could not be rebuilt, or another negative errno from SQLite or the file system.
 */
int db_open(const char *path, const DbMigration *migrations, size_t n_migrations, sqlite3 **ret,
            DbOpenInfo *ret_info);

/* Run SQL without results. Returns 0 or a negative errno. */
int db_exec(sqlite3 *db, const char *sql);

/* The first column of the first row of sql as an integer; -ENODATA if there is no row. */
int db_query_int64(sqlite3 *db, const char *sql, int64_t *ret);

/* PRAGMA user_version. */
int db_get_user_version(sqlite3 *db, int *ret);

/* PRAGMA integrity_check: 0 if "ok", -EUCLEAN if not, or another negative errno. */
int db_check_integrity(sqlite3 *db);
