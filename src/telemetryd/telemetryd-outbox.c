/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <sodium.h>
#include <stdio.h>

#include "hubguard/db.h"
#include "hubguard/errno-util.h"
#include "hubguard/log.h"
#include "telemetryd-outbox.h"

struct OutboxWaiter {
        OutboxDone done;
        void *userdata;
        OutboxWaiter *next;
};

const char outbox_schema_sql[] =
        "CREATE TABLE outbox ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  priority INTEGER NOT NULL CHECK (priority IN (0, 1)),"
        "  topic TEXT NOT NULL,"
        "  payload BLOB NOT NULL,"
        "  created_usec INTEGER NOT NULL) STRICT;"
        "CREATE INDEX outbox_by_priority ON outbox (priority, seq);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) STRICT;";

static const char *const drop_names[_OUTBOX_DROP_MAX] = {
        [OUTBOX_DROP_FULL] = "full",
        [OUTBOX_DROP_SECURITY_FULL] = "security-full",
        [OUTBOX_DROP_REJECTED] = "rejected",
};

const char *outbox_drop_to_string(OutboxDrop d) {
        return d >= 0 && d < _OUTBOX_DROP_MAX ? drop_names[d] : NULL;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret, NULL);

        return rc == SQLITE_OK ? 0 : errno_from_sqlite(rc);
}

/* A count or sum: never negative, even from a damaged file. */
static int query_u64(sqlite3 *db, const char *sql, uint64_t *ret) {
        int64_t v;
        int r = db_query_int64(db, sql, &v);

        if (r >= 0)
                *ret = (uint64_t) MAX(v, 0);
        return r;
}

int outbox_init(Outbox *o, sqlite3 *db, uint64_t max_rows, uint64_t max_bytes, uint64_t max_security) {
        uint64_t seq = 0;
        int r;

        *o = (Outbox) { .db = db, .max_rows = max_rows, .max_bytes = max_bytes, .max_security = max_security,
                        .synced = true };

        r = query_u64(db, "SELECT count(*) FROM outbox", &o->rows);
        if (r >= 0)
                r = query_u64(db, "SELECT coalesce(sum(length(payload)), 0) FROM outbox", &o->bytes);
        if (r >= 0)
                r = query_u64(db, "SELECT count(*) FROM outbox WHERE priority = 0", &o->security_rows);
        if (r >= 0)
                r = query_u64(db, "SELECT coalesce(sum(length(payload)), 0) FROM outbox WHERE priority = 0",
                              &o->security_bytes);
        if (r >= 0)
                r = query_u64(db, "SELECT coalesce(max(seq), 0) FROM outbox", &seq);
        for (int d = 0; r >= 0 && d < _OUTBOX_DROP_MAX; d++) {
                char sql[128];

                (void) snprintf(sql, sizeof sql, "SELECT coalesce(max(value), 0) FROM counters WHERE name = '%s'",
                                drop_names[d]);
                r = query_u64(db, sql, &o->dropped[d]);
        }
        if (r < 0)
                return r;
        o->committed_seq = (int64_t) seq;

        r = prepare(db, "INSERT INTO outbox (priority, topic, payload, created_usec) VALUES (?1, ?2, ?3, ?4)",
                    &o->insert);
        if (r >= 0)
                r = prepare(db, "SELECT priority, length(payload) FROM outbox WHERE seq = ?1", &o->lookup);
        if (r >= 0)
                r = prepare(db, "DELETE FROM outbox WHERE seq = ?1", &o->delete);
        if (r >= 0)
                r = prepare(db,
                            "SELECT seq, topic, payload, created_usec FROM outbox "
                            "WHERE priority = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq LIMIT 1",
                            &o->next);
        return r;
}

static void run_waiters(Outbox *o, int error) {
        OutboxWaiter *w = o->waiters;

        o->waiters = o->waiters_tail = NULL;
        while (w) {
                OutboxWaiter *next = w->next;

                w->done(w->userdata, error);
                free(w);
                w = next;
        }
}

void outbox_done(Outbox *o) {
        if (!o->db)
                return;
        (void) outbox_commit(o);
        sqlite3_finalize(o->insert);
        sqlite3_finalize(o->lookup);
        sqlite3_finalize(o->delete);
        sqlite3_finalize(o->next);
        *o = (Outbox) {};
}

static void recount(Outbox *o) {
        (void) query_u64(o->db, "SELECT count(*) FROM outbox", &o->rows);
        (void) query_u64(o->db, "SELECT coalesce(sum(length(payload)), 0) FROM outbox", &o->bytes);
        (void) query_u64(o->db, "SELECT count(*) FROM outbox WHERE priority = 0", &o->security_rows);
        (void) query_u64(o->db, "SELECT coalesce(sum(length(payload)), 0) FROM outbox WHERE priority = 0",
                         &o->security_bytes);
        for (int d = 0; d < _OUTBOX_DROP_MAX; d++) {
                char sql[128];

                (void) snprintf(sql, sizeof sql, "SELECT coalesce(max(value), 0) FROM counters WHERE name = '%s'",
                                drop_names[d]);
                (void) query_u64(o->db, sql, &o->dropped[d]);
        }
}

/* The open transaction is gone (a failed COMMIT, or SQLite rolled it back on an I/O or full-disk
 * error): its rows were never durable. Tell their producers, and count again from the file. */
static void transaction_lost(Outbox *o, int error) {
        run_waiters(o, error);
        o->pending_first_seq = 0;
        o->pending_rows = 0;
        o->pending_removals = 0;
        recount(o);
}

/* Outside an unsynced transaction the connection is FULL, as db_open() made it: every other
 * write of the daemon (autocommit statements included) is synced. */
static void restore_full(Outbox *o) {
        if (o->synced)
                return;
        if (db_exec(o->db, "PRAGMA synchronous=FULL") >= 0)
                o->synced = true;
        else
                log_error("Cannot set the outbox database back to synchronous=FULL.");
}

/*
 * An open transaction, synced at commit if sync. SQLite fixes a transaction's safety level at its
 * start, so an open unsynced one (removals only) is committed first when a synced one is wanted.
 */
static int begin_if_needed(Outbox *o, bool sync) {
        int r;

        if (!sqlite3_get_autocommit(o->db)) {
                if (!sync || o->synced)
                        return 0;
                r = outbox_commit(o);
                if (r < 0)
                        return r;
        }
        if (o->pending_rows > 0 || o->waiters)
                transaction_lost(o, -EIO);
        if (!sync) {
                r = db_exec(o->db, "PRAGMA synchronous=NORMAL");
                if (r < 0)
                        return r;
                o->synced = false;
        }
        r = db_exec(o->db, "BEGIN IMMEDIATE");
        if (r < 0)
                restore_full(o);
        return r;
}

int outbox_require_sync(Outbox *o) {
        return begin_if_needed(o, true);
}

/*
 * Delete one row by seq; adjusts the totals by what was really there. A lookup by rowid and a plain
 * DELETE: DELETE ... RETURNING costs twice as much per row (its results go through a temporary
 * table), and this runs once per acknowledged message.
 */
static int delete_row(Outbox *o, int64_t seq, bool *ret_deleted) {
        uint64_t len;
        int rc, prio;

        *ret_deleted = false;
        (void) sqlite3_reset(o->lookup);
        (void) sqlite3_bind_int64(o->lookup, 1, seq);
        rc = sqlite3_step(o->lookup);
        if (rc != SQLITE_ROW) {
                (void) sqlite3_reset(o->lookup);
                return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
        }
        prio = sqlite3_column_int(o->lookup, 0);
        len = (uint64_t) MAX(sqlite3_column_int64(o->lookup, 1), 0);
        (void) sqlite3_reset(o->lookup);

        (void) sqlite3_reset(o->delete);
        (void) sqlite3_bind_int64(o->delete, 1, seq);
        rc = sqlite3_step(o->delete);
        (void) sqlite3_reset(o->delete);
        if (rc != SQLITE_DONE)
                return errno_from_sqlite(rc);
        o->rows -= o->rows > 0;
        o->bytes -= MIN(o->bytes, len);
        if (prio == OUTBOX_PRIORITY_SECURITY) {
                o->security_rows -= o->security_rows > 0;
                o->security_bytes -= MIN(o->security_bytes, len);
        }
        *ret_deleted = true;
        return 0;
}

static int bump_counter(Outbox *o, OutboxDrop d, uint64_t n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        o->dropped[d] += n;
        rc = sqlite3_prepare_v2(o->db, "INSERT INTO counters (name, value) VALUES (?1, ?2) "
                                       "ON CONFLICT (name) DO UPDATE SET value = value + ?2",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, drop_names[d], -1, SQLITE_STATIC);
        (void) sqlite3_bind_int64(st, 2, (sqlite3_int64) n);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int outbox_count_drop(Outbox *o, OutboxDrop d, uint64_t n) {
        int r = begin_if_needed(o, true);

        return r < 0 ? r : bump_counter(o, d, n);
}

/* Drop the oldest message of a priority; 0 if there was none. */
static int drop_oldest(Outbox *o, OutboxPriority prio, OutboxDrop why) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        bool deleted;
        int64_t seq;
        int rc, r;

        rc = sqlite3_prepare_v2(o->db,
                                "SELECT seq FROM outbox WHERE priority = ?1 AND topic != '" OUTBOX_TOPIC_ERASE "' "
                                "ORDER BY seq LIMIT 1",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_int(st, 1, prio);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        seq = sqlite3_column_int64(st, 0);
        r = delete_row(o, seq, &deleted);
        if (r < 0)
                return r;
        r = bump_counter(o, why, 1);
        return r < 0 ? r : 1;
}

/* Make room for one more message of len bytes and priority prio. */
static int make_room(Outbox *o, OutboxPriority prio, size_t len) {
        int r;

        /* Routine telemetry that would not fit even with every routine message gone is refused
         * before anything is dropped for it. */
        if (prio == OUTBOX_PRIORITY_ROUTINE &&
            (o->security_rows + 1 > o->max_rows || o->security_bytes + len > o->max_bytes))
                return -ENOBUFS;
        if (prio == OUTBOX_PRIORITY_SECURITY && o->security_rows >= o->max_security) {
                r = drop_oldest(o, OUTBOX_PRIORITY_SECURITY, OUTBOX_DROP_SECURITY_FULL);
                if (r < 0)
                        return r;
        }
        while (o->rows + 1 > o->max_rows || o->bytes + len > o->max_bytes) {
                r = drop_oldest(o, OUTBOX_PRIORITY_ROUTINE, OUTBOX_DROP_FULL);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                /* Only security events are left: they go before routine telemetry is refused... */
                if (prio == OUTBOX_PRIORITY_ROUTINE)
                        return -ENOBUFS;
                /* ...and a security event displaces the oldest security event. */
                r = drop_oldest(o, OUTBOX_PRIORITY_SECURITY, OUTBOX_DROP_SECURITY_FULL);
                if (r <= 0)
                        return r < 0 ? r : -ENOBUFS;
        }
        return 0;
}

int64_t outbox_enqueue(Outbox *o, OutboxPriority prio, const char *topic, const void *payload, size_t len,
                       uint64_t now_usec, OutboxDone done, void *userdata) {
        OutboxWaiter *w = NULL;
        int64_t seq;
        int rc, r;

        if (!topic || strnlen(topic, OUTBOX_TOPIC_MAX + 1) > OUTBOX_TOPIC_MAX || len > o->max_bytes ||
            (prio != OUTBOX_PRIORITY_SECURITY && prio != OUTBOX_PRIORITY_ROUTINE))
                return -EINVAL;
        if (done) {
                w = calloc(1, sizeof *w);
                if (!w)
                        return -ENOMEM;
                *w = (OutboxWaiter) { .done = done, .userdata = userdata };
        }

        r = begin_if_needed(o, true);
        if (r >= 0)
                r = make_room(o, prio, len);
        if (r < 0) {
                free(w);
                return r;
        }
        (void) sqlite3_reset(o->insert);
        (void) sqlite3_bind_int(o->insert, 1, prio);
        (void) sqlite3_bind_text(o->insert, 2, topic, -1, SQLITE_STATIC);
        (void) sqlite3_bind_blob64(o->insert, 3, payload ? payload : "", len, SQLITE_STATIC);
        (void) sqlite3_bind_int64(o->insert, 4, (sqlite3_int64) MIN(now_usec, (uint64_t) INT64_MAX));
        rc = sqlite3_step(o->insert);
        (void) sqlite3_reset(o->insert);
        if (rc != SQLITE_DONE) {
                free(w);
                return errno_from_sqlite(rc);
        }
        seq = sqlite3_last_insert_rowid(o->db);
        o->rows++;
        o->bytes += len;
        if (prio == OUTBOX_PRIORITY_SECURITY) {
                o->security_rows++;
                o->security_bytes += len;
        }
        if (o->pending_first_seq == 0)
                o->pending_first_seq = seq;
        o->pending_rows++;
        if (w) {
                if (o->waiters_tail)
                        o->waiters_tail->next = w;
                else
                        o->waiters = w;
                o->waiters_tail = w;
        }
        return seq;
}

int outbox_commit(Outbox *o) {
        int r;

        if (sqlite3_get_autocommit(o->db)) {
                restore_full(o);
                /* SQLite rolled the transaction back by itself after an error. */
                if (o->pending_rows > 0 || o->waiters) {
                        transaction_lost(o, -EIO);
                        return -EIO;
                }
                return 0;
        }
        r = db_exec(o->db, "COMMIT");
        if (r < 0)
                /* The rows never became durable: roll back (below, the producers are told). */
                (void) db_exec(o->db, "ROLLBACK");
        restore_full(o);
        if (r < 0) {
                log_debug("Outbox commit failed: %s", strerror(-r));
                transaction_lost(o, r);
                return r;
        }
        if (o->pending_rows > 0)
                o->committed_seq = MAX(o->committed_seq, o->pending_first_seq + (int64_t) o->pending_rows - 1);
        o->pending_first_seq = 0;
        o->pending_rows = 0;
        o->pending_removals = 0;
        run_waiters(o, 0);
        return 0;
}

int outbox_next(Outbox *o, OutboxPriority prio, int64_t after_seq, OutboxMessage *ret) {
        int rc;

        (void) sqlite3_reset(o->next);
        (void) sqlite3_bind_int(o->next, 1, prio);
        (void) sqlite3_bind_int64(o->next, 2, after_seq);
        (void) sqlite3_bind_int64(o->next, 3, o->committed_seq);
        rc = sqlite3_step(o->next);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        *ret = (OutboxMessage) {
                .seq = sqlite3_column_int64(o->next, 0),
                .priority = prio,
                .topic = (const char *) sqlite3_column_text(o->next, 1),
                .payload = sqlite3_column_blob(o->next, 2),
                .len = (size_t) sqlite3_column_bytes(o->next, 2),
                .created_usec = (uint64_t) MAX(sqlite3_column_int64(o->next, 3), 0),
        };
        /* A row damaged on disk is not sent as it is. */
        if (!ret->topic || strnlen(ret->topic, OUTBOX_TOPIC_MAX + 1) > OUTBOX_TOPIC_MAX)
                return -EBADMSG;
        return 1;
}

int outbox_remove(Outbox *o, int64_t seq, bool rejected) {
        bool deleted;
        int r;

        /* A refusal's counter must survive a power cut; a removal alone need not. */
        r = begin_if_needed(o, rejected);
        if (r < 0)
                return r;
        r = delete_row(o, seq, &deleted);
        if (r >= 0 && deleted)
                o->pending_removals++;
        if (r >= 0 && deleted && rejected)
                r = bump_counter(o, OUTBOX_DROP_REJECTED, 1);
        return r;
}

int outbox_purge_subject(Outbox *o, const char *subject, uint64_t *ret_n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int64_t was = 0;
        int r, rc;

        r = outbox_commit(o);
        if (r >= 0)
                r = db_query_int64(o->db, "PRAGMA secure_delete", &was);
        if (r < 0)
                return r;
        /* These deletions are zeroed whatever the build's default; the default is restored after. */
        r = db_exec(o->db, "PRAGMA secure_delete=ON");
        if (r >= 0)
                r = db_exec(o->db, "BEGIN IMMEDIATE");
        if (r < 0)
                goto finish;
        rc = sqlite3_prepare_v2(o->db,
                                "DELETE FROM outbox WHERE topic != '" OUTBOX_TOPIC_ERASE "' "
                                "AND json_valid(CAST(payload AS TEXT)) "
                                "AND EXISTS (SELECT 1 FROM json_tree(CAST(payload AS TEXT)) "
                                "            WHERE key = 'subject' AND type = 'text' AND atom = ?1)",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
        }
        r = rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
        if (r >= 0 && ret_n)
                *ret_n = (uint64_t) sqlite3_changes(o->db);
        if (r >= 0)
                r = db_exec(o->db, "COMMIT");
        if (r < 0)
                (void) db_exec(o->db, "ROLLBACK");
        if (r >= 0)
                r = db_exec(o->db, "PRAGMA wal_checkpoint(TRUNCATE)");
finish:
        (void) db_exec(o->db, was ? "PRAGMA secure_delete=ON" : "PRAGMA secure_delete=OFF");
        recount(o);
        return r;
}

int outbox_epoch(sqlite3 *db, char *buf, size_t size) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        unsigned char raw[4];
        int rc;

        rc = sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'outbox_epoch'", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const char *v = (const char *) sqlite3_column_text(st, 0);

                if (!v || strlen(v) != 8 || strspn(v, "0123456789abcdef") != 8 || size < 9)
                        return -EBADMSG;
                memcpy(buf, v, 9);
                return 0;
        }
        if (rc != SQLITE_DONE)
                return errno_from_sqlite(rc);
        sqlite3_finalize(TAKE_PTR(st));

        randombytes_buf(raw, sizeof raw);
        if (size < 9)
                return -ENOBUFS;
        sodium_bin2hex(buf, size, raw, sizeof raw);
        rc = sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES ('outbox_epoch', ?1)", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, buf, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}
