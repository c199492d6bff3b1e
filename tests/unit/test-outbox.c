/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"
#include "hubguard/daemon.h"
#include "hubguard/db.h"
#include "telemetryd-outbox.h"
#include "test-vfs.h"

/* A plausible CLOCK_REALTIME instant (2025-01-01), in microseconds. */
#define T0 (1735689600ULL * 1000000ULL)

/* The defaults of OutboxMaxMessages=, OutboxMaxMiB= and SecurityEventsMaxMessages= (src/shared/conf.c). */
#define MAX_ROWS 100000
#define MAX_BYTES (64ULL << 20)
#define MAX_SECURITY 10000

#define TOPIC_SECURITY "hub/h1/security"
#define TOPIC_ROUTINE "hub/h1/telemetry"

/* The outbox database exactly as src/telemetryd/telemetryd-manager.c creates it. */
static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
        { 2, outbox_schema_sql },
};

typedef struct Fixture {
        char *dir;
        char *path;    /* dir/telemetry.db */
        sqlite3 *db;
        sqlite3 *peer; /* a second connection: what survives, as another process would see it */
        Outbox o;
} Fixture;

static void fixture_open(Fixture *f, uint64_t max_rows, uint64_t max_bytes, uint64_t max_security) {
        assert_null(f->db);
        assert_int_equal(db_open(f->path, migrations, ELEMENTSOF(migrations), &f->db, NULL), 0);
        assert_int_equal(outbox_init(&f->o, f->db, max_rows, max_bytes, max_security), 0);
}

static void fixture_close(Fixture *f) {
        outbox_done(&f->o);
        assert_null(f->o.db);
        /* sqlite3_close(), not _v2(): a statement the outbox forgot to finalize fails the test. */
        assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
        f->db = NULL;
}

/* What a crash leaves: the open transaction is never committed (outbox_done() would commit it). */
static void fixture_crash(Fixture *f) {
        assert_true(outbox_in_transaction(&f->o));
        assert_null(f->o.waiters);
        sqlite3_finalize(f->o.insert);
        sqlite3_finalize(f->o.lookup);
        sqlite3_finalize(f->o.delete);
        sqlite3_finalize(f->o.next);
        assert_int_equal(sqlite3_close(f->db), SQLITE_OK);
        f->o = (Outbox) {};
        f->db = NULL;
}

/* Other caps on the same database. */
static void fixture_caps(Fixture *f, uint64_t max_rows, uint64_t max_bytes, uint64_t max_security) {
        outbox_done(&f->o);
        assert_int_equal(outbox_init(&f->o, f->db, max_rows, max_bytes, max_security), 0);
}

static unsigned done_order;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);

        assert_non_null(f);
        f->dir = test_mkdtemp("test-outbox");
        f->path = path_join(f->dir, "telemetry.db");
        fixture_open(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_int_equal(sqlite3_open_v2(f->path, &f->peer, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        done_order = 0;
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        if (f->db)
                fixture_close(f);
        assert_int_equal(sqlite3_close(f->peer), SQLITE_OK);
        rm_rf_free(f->dir);
        free(f->path);
        free(f);
        return 0;
}

static int64_t query_i64(sqlite3 *db, const char *sql, int64_t arg) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_bind_parameter_count(st) > 0)
                assert_int_equal(sqlite3_bind_int64(st, 1, arg), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        return sqlite3_column_int64(st, 0);
}

static int64_t count_rows(sqlite3 *db) {
        return query_i64(db, "SELECT count(*) FROM outbox", 0);
}

static bool has_row(sqlite3 *db, int64_t seq) {
        return query_i64(db, "SELECT count(*) FROM outbox WHERE seq = ?1", seq) > 0;
}

static int64_t max_seq(sqlite3 *db) {
        return query_i64(db, "SELECT coalesce(max(seq), 0) FROM outbox", 0);
}

/* The in-memory totals are what the table holds, and within the caps. */
static void assert_totals(Fixture *f) {
        assert_int_equal(f->o.rows, count_rows(f->db));
        assert_int_equal(f->o.bytes,
                         query_i64(f->db, "SELECT coalesce(sum(length(payload)), 0) FROM outbox", 0));
        assert_int_equal(f->o.security_rows,
                         query_i64(f->db, "SELECT count(*) FROM outbox WHERE priority = 0", 0));
        assert_true(f->o.rows <= f->o.max_rows);
        assert_true(f->o.bytes <= f->o.max_bytes);
        assert_true(f->o.security_rows <= MAX(f->o.max_security, 1u));
}

/* Each drop counter, in memory and in the counters table. */
static void assert_dropped(Fixture *f, uint64_t full, uint64_t security_full, uint64_t rejected) {
        const uint64_t want[_OUTBOX_DROP_MAX] = { full, security_full, rejected };
        static const char sql[] = "SELECT value FROM counters WHERE name = ?1";

        for (OutboxDrop d = 0; d < _OUTBOX_DROP_MAX; d++) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
                int64_t stored = 0;

                assert_int_equal(f->o.dropped[d], want[d]);
                assert_int_equal(sqlite3_prepare_v2(f->db, sql, -1, &st, NULL), SQLITE_OK);
                (void) sqlite3_bind_text(st, 1, outbox_drop_to_string(d), -1, SQLITE_STATIC);
                if (sqlite3_step(st) == SQLITE_ROW)
                        stored = sqlite3_column_int64(st, 0);
                assert_int_equal(stored, want[d]);
        }
}

static const char *topic_of(OutboxPriority prio) {
        return prio == OUTBOX_PRIORITY_SECURITY ? TOPIC_SECURITY : TOPIC_ROUTINE;
}

/* Enqueue len bytes of payload (a recognisable pattern) and check the totals. */
static int64_t enqueue_len(Fixture *f, OutboxPriority prio, size_t len) {
        static char buf[4096];
        int64_t seq;

        assert_true(len <= sizeof buf);
        for (size_t i = 0; i < len; i++)
                buf[i] = (char) ('a' + i % 26);
        seq = outbox_enqueue(&f->o, prio, topic_of(prio), buf, len, T0, NULL, NULL);
        assert_true(seq > 0);
        assert_true(outbox_in_transaction(&f->o));
        assert_totals(f);
        return seq;
}

static int64_t enqueue(Fixture *f, OutboxPriority prio) {
        return enqueue_len(f, prio, 10);
}

static void commit(Fixture *f) {
        assert_int_equal(outbox_commit(&f->o), 0);
        assert_false(outbox_in_transaction(&f->o));
        assert_totals(f);
}

/* The seq of the next message of prio after after_seq, 0 if there is none. */
static int64_t next_seq(Fixture *f, OutboxPriority prio, int64_t after_seq) {
        OutboxMessage m;
        int r;

        r = outbox_next(&f->o, prio, after_seq, &m);
        assert_true(r == 0 || r == 1);
        if (r == 0)
                return 0;
        assert_int_equal(m.priority, prio);
        assert_true(m.seq > after_seq);
        assert_true(m.seq <= f->o.committed_seq);
        return m.seq;
}

/* Drain like the daemon (security first, each priority in seq order), into order[]; returns the count. */
static size_t drain(Fixture *f, int64_t *order, size_t max) {
        int64_t last[_OUTBOX_PRIORITY_MAX] = {};
        size_t n = 0;

        for (;;) {
                int64_t seq = 0;
                OutboxPriority p;

                for (p = 0; p < _OUTBOX_PRIORITY_MAX && seq == 0; p++)
                        seq = next_seq(f, p, last[p]);
                if (seq == 0)
                        break;
                assert_true(n < max);
                order[n++] = seq;
                last[p - 1] = seq;
                assert_int_equal(outbox_remove(&f->o, seq, false), 0);
                assert_totals(f);
        }
        commit(f);
        return n;
}

/* A completion callback's record. */
typedef struct Done {
        Fixture *f;
        int64_t seq;         /* the message it is for */
        unsigned calls;
        int error;
        unsigned order;      /* 1, 2, ... across all callbacks of a test */
        bool in_transaction; /* at the time of the call */
        bool durable;        /* the second connection saw the row at the time of the call */
} Done;

static void on_done(void *userdata, int error) {
        Done *d = userdata;

        d->calls++;
        d->error = error;
        d->order = ++done_order;
        d->in_transaction = outbox_in_transaction(&d->f->o);
        d->durable = has_row(d->f->peer, d->seq);
}

/* outbox_enqueue() of len bytes (which are not read if len is refused), reporting to d if not NULL. */
static int64_t try_enqueue(Fixture *f, OutboxPriority prio, const char *topic, size_t len, Done *d) {
        static const char payload[16] = "0123456789abcde";

        if (d)
                *d = (Done) { .f = f };
        return outbox_enqueue(&f->o, prio, topic, payload, len, T0, d ? on_done : NULL, d);
}

static int64_t enqueue_done(Fixture *f, OutboxPriority prio, Done *d) {
        int64_t seq;

        *d = (Done) { .f = f };
        seq = outbox_enqueue(&f->o, prio, topic_of(prio), "{}", 2, T0, on_done, d);
        assert_true(seq > 0);
        d->seq = seq;
        assert_int_equal(d->calls, 0);
        assert_totals(f);
        return seq;
}

/* ---------------------------------------------------------------------------------------------------
 * outbox_enqueue(), outbox_commit(), outbox_next(), outbox_remove()
 */

static void test_round_trip(void **state) {
        static const char binary[] = { 'a', '\0', '\xff', '\n', 'z' };
        Fixture *f = *state;
        int64_t s, r, e;
        OutboxMessage m;

        assert_int_equal(f->o.rows, 0);
        assert_false(outbox_in_transaction(&f->o));
        r = outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, binary, sizeof binary, T0 + 1, NULL,
                           NULL);
        s = outbox_enqueue(&f->o, OUTBOX_PRIORITY_SECURITY, TOPIC_SECURITY, "{\"ev\":1}", 8, T0 + 2, NULL,
                           NULL);
        e = outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, "t/empty", NULL, 0, UINT64_MAX, NULL, NULL);
        assert_true(r > 0 && s > r && e > s);
        assert_totals(f);
        assert_int_equal(f->o.rows, 3);
        assert_int_equal(f->o.bytes, sizeof binary + 8);
        assert_int_equal(f->o.security_rows, 1);
        commit(f);
        assert_int_equal(f->o.committed_seq, e);

        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_SECURITY, 0, &m), 1);
        assert_int_equal(m.seq, s);
        assert_int_equal(m.priority, OUTBOX_PRIORITY_SECURITY);
        assert_string_equal(m.topic, TOPIC_SECURITY);
        assert_int_equal(m.len, 8);
        assert_memory_equal(m.payload, "{\"ev\":1}", 8);
        assert_int_equal(m.created_usec, T0 + 2);
        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_SECURITY, s, &m), 0);

        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_ROUTINE, 0, &m), 1);
        assert_int_equal(m.seq, r);
        assert_int_equal(m.priority, OUTBOX_PRIORITY_ROUTINE);
        assert_string_equal(m.topic, TOPIC_ROUTINE);
        assert_int_equal(m.len, sizeof binary);
        assert_memory_equal(m.payload, binary, sizeof binary);
        assert_int_equal(m.created_usec, T0 + 1);

        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_ROUTINE, r, &m), 1);
        assert_int_equal(m.seq, e);
        assert_string_equal(m.topic, "t/empty");
        assert_int_equal(m.len, 0);
        /* Stored as INT64_MAX: the column is a signed 64-bit integer. */
        assert_int_equal(m.created_usec, INT64_MAX);

        assert_int_equal(outbox_remove(&f->o, s, false), 0);
        assert_totals(f);
        assert_int_equal(outbox_remove(&f->o, r, false), 0);
        assert_totals(f);
        assert_int_equal(outbox_remove(&f->o, e, false), 0);
        assert_totals(f);
        commit(f);
        assert_int_equal(count_rows(f->peer), 0);
        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_SECURITY, 0, &m), 0);
        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_ROUTINE, 0, &m), 0);
        assert_int_equal(f->o.rows, 0);
        assert_int_equal(f->o.bytes, 0);
        assert_int_equal(f->o.security_rows, 0);
        assert_dropped(f, 0, 0, 0);
}

static void test_next_never_uncommitted(void **state) {
        Fixture *f = *state;
        int64_t a, b, c;

        /* Enqueued, not committed: nothing to send, and nothing another connection can see. */
        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        b = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), 0);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), 0);
        assert_int_equal(count_rows(f->peer), 0);
        commit(f);
        assert_int_equal(count_rows(f->peer), 2);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), a);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), b);

        /* Committed rows are sent while newer ones wait for their commit. */
        c = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        (void) enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), a);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, a), 0);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, b), 0);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, a), c);
}

static void test_next_after_counter_row(void **state) {
        Fixture *f = *state;
        int64_t a, b;

        /*
         * The first "rejected" drop inserts a row into the counters table in the same transaction as
         * a new message: the message is still sendable once committed.
         */
        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        b = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_int_equal(outbox_remove(&f->o, a, true), 0);
        commit(f);
        assert_int_equal(f->o.committed_seq, b);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), b);
}

static void test_next_never_uncommitted_after_counter_rows(void **state) {
        Fixture *f = *state;
        int64_t a, b;

        /* Four counter rows written after message 1: the commit must not mistake a counter's rowid
         * (up to 4) for the last committed message. */
        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        for (OutboxDrop d = 0; d < _OUTBOX_DROP_MAX; d++)
                assert_int_equal(outbox_count_drop(&f->o, d, 1), 0);
        commit(f);
        assert_int_equal(f->o.committed_seq, a);
        b = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_true(b > a);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), a);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, a), 0);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, a), b);
}

static void test_order(void **state) {
        Fixture *f = *state;
        int64_t r1, s1, r2, s2, r3, s3, r4, order[8];

        r1 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        s1 = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        r2 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        s2 = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        commit(f);
        r3 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        s3 = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        commit(f);
        r4 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);

        /* Every security event, oldest first, then the routine messages, oldest first. */
        assert_int_equal(drain(f, order, ELEMENTSOF(order)), 7);
        assert_int_equal(order[0], s1);
        assert_int_equal(order[1], s2);
        assert_int_equal(order[2], s3);
        assert_int_equal(order[3], r1);
        assert_int_equal(order[4], r2);
        assert_int_equal(order[5], r3);
        assert_int_equal(order[6], r4);
        assert_int_equal(f->o.rows, 0);
}

static void test_next_skips_removed(void **state) {
        Fixture *f = *state;
        int64_t a, b, c;

        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        b = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        c = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        assert_int_equal(outbox_remove(&f->o, b, false), 0);
        assert_totals(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, a), c);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), a);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, c), 0);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, INT64_MAX), 0);
        /* The other priority's queue does not see them. */
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), 0);
        commit(f);
}

/* ---------------------------------------------------------------------------------------------------
 * Completion callbacks
 */

static void test_done_after_commit(void **state) {
        Fixture *f = *state;
        Done d[3];

        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[0]);
        (void) enqueue_done(f, OUTBOX_PRIORITY_SECURITY, &d[1]);
        /* A message without a callback among them. */
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[2]);
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                assert_int_equal(d[i].calls, 0);

        commit(f);
        for (size_t i = 0; i < ELEMENTSOF(d); i++) {
                assert_int_equal(d[i].calls, 1);
                assert_int_equal(d[i].error, 0);
                /* In enqueue order, after the transaction is closed and the row is on disk. */
                assert_int_equal(d[i].order, i + 1);
                assert_false(d[i].in_transaction);
                assert_true(d[i].durable);
        }

        /* Run once: a later commit does not repeat them. */
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        assert_int_equal(outbox_commit(&f->o), 0);
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                assert_int_equal(d[i].calls, 1);
}

static void test_done_on_outbox_done(void **state) {
        Fixture *f = *state;
        Done d;

        /* Shutting the outbox down commits what is pending, then acknowledges it. */
        (void) enqueue_done(f, OUTBOX_PRIORITY_SECURITY, &d);
        outbox_done(&f->o);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.error, 0);
        assert_true(d.durable);
        assert_int_equal(count_rows(f->peer), 1);
        assert_int_equal(outbox_init(&f->o, f->db, MAX_ROWS, MAX_BYTES, MAX_SECURITY), 0);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), d.seq);
}

/* After a failed commit: every callback ran once with error, the rows are gone, the rest is intact. */
static void assert_commit_failed(Fixture *f, Done *d, size_t n, int error, int64_t kept) {
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(d[i].calls, 1);
                assert_int_equal(d[i].error, error);
                assert_int_equal(d[i].order, i + 1);
                assert_false(d[i].in_transaction);
                assert_false(d[i].durable);
                assert_false(has_row(f->db, d[i].seq));
        }
        assert_false(outbox_in_transaction(&f->o));
        assert_totals(f);
        assert_int_equal(f->o.rows, 1);
        assert_true(has_row(f->db, kept));
        assert_int_equal(count_rows(f->peer), 1);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), kept);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, kept), 0);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), 0);
        assert_int_equal(f->o.pending_rows, 0);
        assert_int_equal(f->o.pending_first_seq, 0);
}

/* The outbox works again after a failed commit, and never hands out a committed seq again. */
static void assert_recovers(Fixture *f, int64_t committed_max) {
        Done d;
        int64_t seq;

        seq = enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d);
        assert_true(seq > committed_max);
        commit(f);
        assert_int_equal(d.calls, 1);
        assert_int_equal(d.error, 0);
        assert_true(d.durable);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, committed_max), seq);
}

static void test_commit_fails_constraint(void **state) {
        Fixture *f = *state;
        int64_t kept;
        Done d[3];

        /*
         * A deferred foreign key is checked by COMMIT itself: a violation written in the same
         * transaction makes COMMIT fail and leaves the transaction open.
         */
        assert_int_equal(db_exec(f->db, "CREATE TABLE parent (id INTEGER PRIMARY KEY) STRICT;"
                                        "CREATE TABLE child (pid INTEGER REFERENCES parent (id) "
                                        "  DEFERRABLE INITIALLY DEFERRED) STRICT"),
                         0);
        kept = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);

        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[0]);
        (void) enqueue_done(f, OUTBOX_PRIORITY_SECURITY, &d[1]);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[2]);
        assert_int_equal(db_exec(f->db, "INSERT INTO child (pid) VALUES (42)"), 0);
        assert_int_equal(outbox_commit(&f->o), -EEXIST);
        assert_commit_failed(f, d, ELEMENTSOF(d), -EEXIST, kept);
        assert_int_equal(query_i64(f->db, "SELECT count(*) FROM child", 0), 0);
        assert_recovers(f, kept);
}

static int refuse_commit(void *userdata) {
        unsigned *n = userdata;

        (*n)++;
        return 1;
}

static void test_commit_fails_hook(void **state) {
        Fixture *f = *state;
        unsigned n_hook = 0;
        int64_t kept;
        Done d[2];

        /* A commit hook that says no: SQLite turns the COMMIT into a ROLLBACK and fails it. */
        kept = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[0]);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[1]);
        (void) sqlite3_commit_hook(f->db, refuse_commit, &n_hook);
        assert_int_equal(outbox_commit(&f->o), -EEXIST);
        (void) sqlite3_commit_hook(f->db, NULL, NULL);
        assert_int_equal(n_hook, 1);
        assert_commit_failed(f, d, ELEMENTSOF(d), -EEXIST, kept);
        assert_recovers(f, kept);
}

static void test_commit_fails_file_size_limit(void **state) {
        Fixture *f = *state;
        struct rlimit old, small;
        void (*old_handler)(int);
        int64_t kept;
        Done d[2];
        int r;

        /* The file system refuses to grow the WAL (as when the disk is full): EFBIG at COMMIT. */
        kept = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        assert_int_equal(db_exec(f->db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[0]);
        (void) enqueue_done(f, OUTBOX_PRIORITY_ROUTINE, &d[1]);

        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        small = (struct rlimit) { .rlim_cur = 0, .rlim_max = old.rlim_max };
        old_handler = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        r = outbox_commit(&f->o);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        (void) signal(SIGXFSZ, old_handler);

        assert_true(r == -EIO || r == -ENOSPC);
        assert_commit_failed(f, d, ELEMENTSOF(d), r, kept);
        assert_recovers(f, kept);
}

/*
 * A full disk is a storage error, never the outbox's own "no room" (-ENOBUFS): the daemon
 * acknowledges a message refused for room, and must not acknowledge one that was not stored. Here
 * the disk fills while removals wait in an unsynced transaction, which the enqueue must commit
 * first.
 */
static void test_enqueue_disk_full_is_not_no_room(void **state) {
        Fixture *f = *state;
        struct rlimit old, small;
        void (*old_handler)(int);
        int64_t a, r;

        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        assert_int_equal(db_exec(f->db, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
        assert_int_equal(outbox_remove(&f->o, a, false), 0);
        assert_false(outbox_must_sync(&f->o));

        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        small = (struct rlimit) { .rlim_cur = 0, .rlim_max = old.rlim_max };
        old_handler = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        r = outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, "{}", 2, T0, NULL, NULL);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        (void) signal(SIGXFSZ, old_handler);

        assert_true(r == -ENOSPC || r == -EIO);
        /* The removal was rolled back with its transaction: the message is still there, and sent again. */
        assert_false(outbox_in_transaction(&f->o));
        assert_true(has_row(f->peer, a));
        assert_int_equal(f->o.rows, 2);
        assert_dropped(f, 0, 0, 0);
        /* Space again: it all works. */
        assert_true(enqueue(f, OUTBOX_PRIORITY_ROUTINE) > 0);
        commit(f);
        assert_int_equal(count_rows(f->peer), 3);
}

static void test_enqueue_busy(void **state) {
        Fixture *f = *state;
        unsigned calls_before;
        Done d;

        /* Another writer holds the database: the message is refused at once, not half-added. */
        sqlite3_busy_timeout(f->db, 0);
        assert_int_equal(db_exec(f->peer, "BEGIN IMMEDIATE"), 0);
        calls_before = done_order;
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_SECURITY, TOPIC_SECURITY, 1, &d), -EBUSY);
        assert_false(outbox_in_transaction(&f->o));
        assert_int_equal(f->o.pending_rows, 0);
        assert_null(f->o.waiters);
        assert_int_equal(db_exec(f->peer, "ROLLBACK"), 0);
        assert_totals(f);
        assert_int_equal(outbox_commit(&f->o), 0);
        assert_int_equal(d.calls, 0);
        assert_int_equal(done_order, calls_before);
        assert_recovers(f, 0);
}

/* ---------------------------------------------------------------------------------------------------
 * Sequence numbers
 */

static void test_seq_strictly_increasing(void **state) {
        Fixture *f = *state;
        int64_t last = 0;

        for (unsigned round = 0; round < 10; round++) {
                for (unsigned i = 0; i < 7; i++) {
                        int64_t seq = enqueue(f, i % 3 ? OUTBOX_PRIORITY_ROUTINE : OUTBOX_PRIORITY_SECURITY);

                        assert_true(seq > last);
                        last = seq;
                }
                commit(f);
                assert_int_equal(f->o.committed_seq, last);
                /* Removing the newest rows does not bring their numbers back. */
                assert_int_equal(outbox_remove(&f->o, last, false), 0);
                assert_int_equal(outbox_remove(&f->o, last - 1, true), 0);
                commit(f);
        }
}

static void test_seq_never_reused_after_close_in_transaction(void **state) {
        Fixture *f = *state;
        int64_t committed[5], pending[3], seq;

        for (size_t i = 0; i < ELEMENTSOF(committed); i++)
                committed[i] = enqueue(f, i % 2 ? OUTBOX_PRIORITY_SECURITY : OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        for (size_t i = 0; i < ELEMENTSOF(pending); i++)
                pending[i] = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        fixture_crash(f);

        fixture_open(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_totals(f);
        assert_int_equal(f->o.rows, ELEMENTSOF(committed));
        assert_int_equal(f->o.committed_seq, committed[4]);
        for (size_t i = 0; i < ELEMENTSOF(pending); i++)
                assert_false(has_row(f->db, pending[i]));
        for (size_t i = 0; i < ELEMENTSOF(committed); i++)
                assert_true(has_row(f->db, committed[i]));
        /* Everything committed is sendable again after the restart. */
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), committed[0]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), committed[1]);

        seq = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_true(seq > committed[4]);
        commit(f);

        /* Even from an empty outbox, the numbers go on (AUTOINCREMENT, not max(seq) + 1). */
        for (int64_t s = 1; s <= seq; s++)
                assert_int_equal(outbox_remove(&f->o, s, false), 0);
        commit(f);
        assert_int_equal(f->o.rows, 0);
        fixture_close(f);
        fixture_open(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_int_equal(f->o.committed_seq, 0);
        assert_true(enqueue(f, OUTBOX_PRIORITY_SECURITY) > seq);
        commit(f);
}

/* Runs in a child: commit 5 messages, enqueue 3 more and die without committing them. */
static _noreturn_ void crash_child(const char *path) {
        sqlite3 *db = NULL;
        Outbox o;

        if (db_open(path, migrations, ELEMENTSOF(migrations), &db, NULL) < 0 ||
            outbox_init(&o, db, MAX_ROWS, MAX_BYTES, MAX_SECURITY) < 0)
                _exit(EXIT_FAILURE);
        for (int i = 0; i < 5; i++)
                if (outbox_enqueue(&o, OUTBOX_PRIORITY_SECURITY, "committed", "c", 1, T0, NULL, NULL) <= 0)
                        _exit(EXIT_FAILURE);
        if (outbox_commit(&o) < 0)
                _exit(EXIT_FAILURE);
        for (int i = 0; i < 3; i++)
                if (outbox_enqueue(&o, OUTBOX_PRIORITY_SECURITY, "pending", "p", 1, T0, NULL, NULL) <= 0)
                        _exit(EXIT_FAILURE);
        (void) raise(SIGKILL);
        _exit(EXIT_FAILURE);
}

static void test_seq_never_reused_after_crash(void **state) {
        Fixture *f = *state;
        int64_t before, committed_max, seq;
        int status;
        pid_t pid;

        if (test_fork_unavailable())
                skip();
        before = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        /* No SQLite connection may cross fork() (SQLite's per-process lock table would go along):
         * close ours first. */
        fixture_close(f);
        assert_int_equal(sqlite3_close(f->peer), SQLITE_OK);
        f->peer = NULL;
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
                crash_child(f->path);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);

        fixture_open(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_int_equal(sqlite3_open_v2(f->path, &f->peer, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_totals(f);
        assert_int_equal(f->o.rows, 6);
        assert_int_equal(query_i64(f->db, "SELECT count(*) FROM outbox WHERE topic = 'committed'", 0), 5);
        assert_int_equal(query_i64(f->db, "SELECT count(*) FROM outbox WHERE topic = 'pending'", 0), 0);
        committed_max = max_seq(f->db);
        assert_int_equal(committed_max, before + 5);
        assert_int_equal(f->o.committed_seq, committed_max);

        seq = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_true(seq > committed_max);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, committed_max), seq);
}

/* ---------------------------------------------------------------------------------------------------
 * Caps
 */

static void test_cap_rows(void **state) {
        Fixture *f = *state;
        int64_t s, r[6], s2;

        fixture_caps(f, 5, MAX_BYTES, 5);
        s = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        for (size_t i = 0; i < 4; i++)
                r[i] = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_int_equal(f->o.rows, 5);
        assert_dropped(f, 0, 0, 0);

        /* Full: the oldest routine message goes, never the older security event. */
        r[4] = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_int_equal(f->o.rows, 5);
        assert_false(has_row(f->db, r[0]));
        assert_true(has_row(f->db, s));
        assert_dropped(f, 1, 0, 0);
        commit(f);

        r[5] = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_false(has_row(f->db, r[1]));
        assert_dropped(f, 2, 0, 0);
        /* A security event makes room the same way. */
        s2 = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_false(has_row(f->db, r[2]));
        assert_dropped(f, 3, 0, 0);
        commit(f);

        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), s);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, s), s2);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), r[3]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, r[3]), r[4]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, r[4]), r[5]);
        assert_int_equal(f->o.rows, 5);
}

static void test_cap_bytes(void **state) {
        Fixture *f = *state;
        int64_t r1, r2, r3, r4, s1, s2;

        fixture_caps(f, 100, 100, 100);
        r1 = enqueue_len(f, OUTBOX_PRIORITY_ROUTINE, 40);
        r2 = enqueue_len(f, OUTBOX_PRIORITY_ROUTINE, 40);
        assert_int_equal(f->o.bytes, 80);
        r3 = enqueue_len(f, OUTBOX_PRIORITY_ROUTINE, 20);
        assert_int_equal(f->o.bytes, 100);
        assert_dropped(f, 0, 0, 0);

        /* One more byte: the oldest routine message goes. */
        r4 = enqueue_len(f, OUTBOX_PRIORITY_ROUTINE, 1);
        assert_false(has_row(f->db, r1));
        assert_int_equal(f->o.bytes, 61);
        assert_dropped(f, 1, 0, 0);

        /* A security event of 80 bytes needs two of them to go. */
        s1 = enqueue_len(f, OUTBOX_PRIORITY_SECURITY, 80);
        assert_false(has_row(f->db, r2));
        assert_false(has_row(f->db, r3));
        assert_true(has_row(f->db, r4));
        assert_int_equal(f->o.bytes, 81);
        assert_dropped(f, 3, 0, 0);
        commit(f);

        /* The whole cap at once: everything else goes, routine first, then the security event. */
        s2 = enqueue_len(f, OUTBOX_PRIORITY_SECURITY, 100);
        assert_false(has_row(f->db, r4));
        assert_false(has_row(f->db, s1));
        assert_int_equal(f->o.rows, 1);
        assert_int_equal(f->o.bytes, 100);
        assert_dropped(f, 4, 1, 0);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), s2);

        /* Larger than the cap: refused, not made room for. */
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, 101, NULL), -EINVAL);
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_SECURITY, TOPIC_SECURITY, 101, NULL), -EINVAL);
        assert_true(has_row(f->db, s2));
        assert_totals(f);
        assert_dropped(f, 4, 1, 0);
}

static void test_cap_security_only(void **state) {
        Fixture *f = *state;
        int64_t s[4];
        Done d;

        fixture_caps(f, 3, MAX_BYTES, 10);
        for (size_t i = 0; i < 3; i++)
                s[i] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        commit(f);

        /* Only security events: routine telemetry is refused, and nothing is dropped for it. */
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, 1, &d), -ENOBUFS);
        assert_totals(f);
        assert_int_equal(f->o.rows, 3);
        assert_dropped(f, 0, 0, 0);
        commit(f);
        assert_int_equal(d.calls, 0);

        /* A new security event displaces the oldest one. */
        s[3] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_false(has_row(f->db, s[0]));
        assert_int_equal(f->o.rows, 3);
        assert_int_equal(f->o.security_rows, 3);
        assert_dropped(f, 0, 1, 0);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), s[1]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, s[1]), s[2]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, s[2]), s[3]);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_ROUTINE, 0), 0);

        /* By bytes too: routine refused while the security events fill max_bytes. */
        fixture_caps(f, 100, 30, 10);
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, 10, NULL), -ENOBUFS);
        assert_totals(f);
        assert_dropped(f, 0, 1, 0);
        commit(f);
}

static void test_cap_security(void **state) {
        Fixture *f = *state;
        int64_t r1, r2, s[5];

        fixture_caps(f, 100, MAX_BYTES, 3);
        r1 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        for (size_t i = 0; i < 3; i++)
                s[i] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        r2 = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_int_equal(f->o.security_rows, 3);
        assert_dropped(f, 0, 0, 0);

        /* Their own cap: the oldest security event goes, the routine messages stay. */
        s[3] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_false(has_row(f->db, s[0]));
        assert_int_equal(f->o.security_rows, 3);
        assert_dropped(f, 0, 1, 0);
        commit(f);
        s[4] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        assert_false(has_row(f->db, s[1]));
        assert_dropped(f, 0, 2, 0);
        assert_true(has_row(f->db, r1));
        assert_true(has_row(f->db, r2));
        assert_int_equal(f->o.rows, 5);

        /* Routine messages do not count against it. */
        for (int i = 0; i < 10; i++)
                (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        assert_int_equal(f->o.security_rows, 3);
        assert_dropped(f, 0, 2, 0);
        commit(f);
        assert_int_equal(next_seq(f, OUTBOX_PRIORITY_SECURITY, 0), s[2]);
}

/* ---------------------------------------------------------------------------------------------------
 * Counters, removal, bad input
 */

static void test_drop_to_string(void **state) {
        assert_string_equal(outbox_drop_to_string(OUTBOX_DROP_FULL), "full");
        assert_string_equal(outbox_drop_to_string(OUTBOX_DROP_SECURITY_FULL), "security-full");
        assert_string_equal(outbox_drop_to_string(OUTBOX_DROP_REJECTED), "rejected");
        assert_null(outbox_drop_to_string(_OUTBOX_DROP_MAX));
        assert_null(outbox_drop_to_string((OutboxDrop) -1));
}

static void test_counters_survive_reopen(void **state) {
        Fixture *f = *state;
        int64_t r;

        fixture_caps(f, 2, MAX_BYTES, 1);
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);   /* full: 1 */
        (void) enqueue(f, OUTBOX_PRIORITY_SECURITY);  /* full: 2 */
        (void) enqueue(f, OUTBOX_PRIORITY_SECURITY);  /* security-full: 1 */
        r = enqueue(f, OUTBOX_PRIORITY_ROUTINE);      /* full: 3 */
        commit(f);
        assert_int_equal(outbox_remove(&f->o, r, true), 0);
        assert_int_equal(outbox_count_drop(&f->o, OUTBOX_DROP_REJECTED, 1000), 0);
        assert_dropped(f, 3, 1, 1001);
        commit(f);

        fixture_close(f);
        fixture_open(f, 2, MAX_BYTES, 1);
        assert_dropped(f, 3, 1, 1001);
        assert_totals(f);

        /* They go on counting from there. */
        assert_int_equal(outbox_count_drop(&f->o, OUTBOX_DROP_REJECTED, 1), 0);
        assert_int_equal(outbox_count_drop(&f->o, OUTBOX_DROP_FULL, 2), 0);
        commit(f);
        fixture_close(f);
        fixture_open(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_dropped(f, 5, 1, 1002);
}

static void test_remove_unknown(void **state) {
        Fixture *f = *state;
        int64_t a;

        a = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        commit(f);
        assert_int_equal(outbox_remove(&f->o, a + 1000, true), 0);
        assert_int_equal(outbox_remove(&f->o, 0, false), 0);
        assert_int_equal(outbox_remove(&f->o, -1, true), 0);
        assert_int_equal(outbox_remove(&f->o, INT64_MAX, true), 0);
        assert_totals(f);
        assert_int_equal(f->o.rows, 1);
        assert_dropped(f, 0, 0, 0);
        commit(f);

        /* Twice the same: the second is a no-op, and counts nothing. */
        assert_int_equal(outbox_remove(&f->o, a, true), 0);
        assert_int_equal(outbox_remove(&f->o, a, true), 0);
        assert_totals(f);
        assert_dropped(f, 0, 0, 1);
        commit(f);
        assert_int_equal(f->o.rows, 0);
        assert_int_equal(outbox_remove(&f->o, a, false), 0);
        commit(f);
        assert_dropped(f, 0, 0, 1);
}

static void test_remove_rejected(void **state) {
        Fixture *f = *state;
        int64_t a, b, c;

        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        b = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        c = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);

        /* Acknowledged: gone, not counted. Refused for good: gone and counted. */
        assert_int_equal(outbox_remove(&f->o, a, false), 0);
        assert_dropped(f, 0, 0, 0);
        assert_int_equal(outbox_remove(&f->o, b, true), 0);
        assert_totals(f);
        assert_dropped(f, 0, 0, 1);
        assert_int_equal(outbox_remove(&f->o, c, true), 0);
        assert_dropped(f, 0, 0, 2);
        commit(f);
        assert_int_equal(f->o.rows, 0);
        assert_int_equal(f->o.security_rows, 0);
        assert_int_equal(count_rows(f->peer), 0);
}

static void test_enqueue_invalid(void **state) {
        Fixture *f = *state;
        char topic[OUTBOX_TOPIC_MAX + 2];
        Done d;
        int64_t seq;

        memset(topic, 't', sizeof topic - 1);
        topic[sizeof topic - 1] = '\0';
        assert_int_equal(strlen(topic), OUTBOX_TOPIC_MAX + 1);

        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, NULL, 1, &d), -EINVAL);
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, topic, 1, &d), -EINVAL);
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_SECURITY, topic, 1, &d), -EINVAL);
        assert_int_equal(try_enqueue(f, _OUTBOX_PRIORITY_MAX, TOPIC_ROUTINE, 1, &d), -EINVAL);
        assert_int_equal(try_enqueue(f, (OutboxPriority) -1, TOPIC_ROUTINE, 1, &d), -EINVAL);
        /* The sizes are checked before the payload is looked at. */
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, MAX_BYTES + 1, &d), -EINVAL);
        assert_int_equal(try_enqueue(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, SIZE_MAX, &d), -EINVAL);
        /* Refused before anything was started: no transaction, no callback ever. */
        assert_false(outbox_in_transaction(&f->o));
        assert_totals(f);
        assert_int_equal(f->o.rows, 0);
        assert_int_equal(outbox_commit(&f->o), 0);
        assert_int_equal(d.calls, 0);

        /* OUTBOX_TOPIC_MAX itself is fine. */
        topic[OUTBOX_TOPIC_MAX] = '\0';
        seq = outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, topic, "x", 1, T0, NULL, NULL);
        assert_true(seq > 0);
        commit(f);
        {
                OutboxMessage m;

                assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_ROUTINE, 0, &m), 1);
                assert_int_equal(strlen(m.topic), OUTBOX_TOPIC_MAX);
        }
}

static void test_next_damaged_row(void **state) {
        Fixture *f = *state;
        char sql[512];
        OutboxMessage m;

        /* A row whose topic is longer than any enqueue allows (damage, or another writer) is not sent. */
        (void) snprintf(sql, sizeof sql,
                        "INSERT INTO outbox (priority, topic, payload, created_usec) "
                        "VALUES (1, replace(hex(zeroblob(%d)), '00', 'x'), x'00', 0)",
                        OUTBOX_TOPIC_MAX + 1);
        assert_int_equal(db_exec(f->db, sql), 0);
        fixture_caps(f, MAX_ROWS, MAX_BYTES, MAX_SECURITY);
        assert_totals(f);
        assert_int_equal(outbox_next(&f->o, OUTBOX_PRIORITY_ROUTINE, 0, &m), -EBADMSG);
}

/* ---------------------------------------------------------------------------------------------------
 * A full-size outbox
 */

/*
 * The default OutboxMaxMessages=. Under AddressSanitizer each of SQLite's allocations costs several
 * times more (draining 100,000 rows took 2.6 s of CPU there): 20,000 keep that build near 1 s.
 */
#if defined(__SANITIZE_ADDRESS__)
#define BIG_ROWS 20000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BIG_ROWS 20000
#endif
#endif
#ifndef BIG_ROWS
#define BIG_ROWS MAX_ROWS
#endif
#define BIG_BATCH OUTBOX_COMMIT_ROWS

/* A commit in the big test: the totals are compared with full table scans only every 16 batches. */
static void commit_batch(Fixture *f) {
        static unsigned n;

        assert_int_equal(outbox_commit(&f->o), 0);
        assert_false(outbox_in_transaction(&f->o));
        if (++n % 16 == 0)
                assert_totals(f);
}

static void test_large(void **state) {
        Fixture *f = *state;
        _cleanup_free_ int64_t *seqs = NULL;
        int64_t last[_OUTBOX_PRIORITY_MAX] = {};
        size_t n_sent = 0, n_security = 0, n_removed = 0;
        OutboxPriority cur = OUTBOX_PRIORITY_SECURITY;

        seqs = calloc(BIG_ROWS, sizeof *seqs);
        assert_non_null(seqs);
        for (unsigned i = 0; i < BIG_ROWS; i++) {
                OutboxPriority p = i % 10 == 3 ? OUTBOX_PRIORITY_SECURITY : OUTBOX_PRIORITY_ROUTINE;
                char payload[32];
                int n = snprintf(payload, sizeof payload, "{\"i\":%u}", i);

                seqs[i] = outbox_enqueue(&f->o, p, topic_of(p), payload, (size_t) n, T0 + i, NULL, NULL);
                assert_true(seqs[i] > (i > 0 ? seqs[i - 1] : 0));
                n_security += p == OUTBOX_PRIORITY_SECURITY;
                if (f->o.pending_rows >= BIG_BATCH)
                        commit_batch(f);
        }
        commit(f);
        assert_int_equal(f->o.rows, BIG_ROWS);
        assert_int_equal(f->o.security_rows, n_security);
        assert_dropped(f, 0, 0, 0);

        /* Drain: every security event in order, then every routine message in order, nothing lost. */
        for (;;) {
                OutboxMessage m;
                unsigned i;
                int r;

                r = outbox_next(&f->o, cur, last[cur], &m);
                assert_true(r >= 0);
                if (r == 0) {
                        if (cur == OUTBOX_PRIORITY_ROUTINE)
                                break;
                        assert_int_equal(n_sent, n_security);
                        cur = OUTBOX_PRIORITY_ROUTINE;
                        continue;
                }
                assert_true(m.seq > last[cur]);
                assert_int_equal(sscanf((const char *) m.payload, "{\"i\":%u}", &i), 1);
                assert_true(i < BIG_ROWS);
                assert_int_equal(m.seq, seqs[i]);
                assert_int_equal(m.created_usec, T0 + i);
                assert_int_equal(i % 10 == 3, cur == OUTBOX_PRIORITY_SECURITY);
                last[cur] = m.seq;
                n_sent++;
                assert_int_equal(outbox_remove(&f->o, m.seq, false), 0);
                if (++n_removed % BIG_BATCH == 0)
                        commit_batch(f);
        }
        commit(f);
        assert_int_equal(n_sent, BIG_ROWS);
        assert_int_equal(f->o.rows, 0);
        assert_int_equal(f->o.bytes, 0);
        assert_int_equal(f->o.security_rows, 0);
        assert_int_equal(count_rows(f->peer), 0);
}

/* A routine message that cannot fit even with every routine message gone drops nothing. */
static void test_routine_refused_before_dropping(void **state) {
        Fixture *f = *state;
        int64_t a;

        fixture_caps(f, 10, 100, 10);
        a = enqueue_len(f, OUTBOX_PRIORITY_ROUTINE, 10);
        assert_true(a > 0);
        assert_true(enqueue_len(f, OUTBOX_PRIORITY_SECURITY, 80) > 0);
        assert_int_equal(outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, "r", "012345678901234567890123456789", 30,
                                        T0, NULL, NULL),
                         -ENOBUFS);
        commit(f);
        assert_dropped(f, 0, 0, 0);
        assert_int_equal(f->o.rows, 2);
        assert_int_equal(f->o.security_bytes, 80);
        assert_totals(f);
}

/* ---------------------------------------------------------------------------------------------------
 * Erasure (hub-privacyd): purge of the messages about a subject; erase requests never dropped
 */

static int64_t enqueue_text(Fixture *f, OutboxPriority prio, const char *topic, const char *text) {
        int64_t seq = outbox_enqueue(&f->o, prio, topic, text, strlen(text), T0, NULL, NULL);

        assert_true(seq > 0);
        return seq;
}

static void test_purge_subject(void **state) {
        Fixture *f = *state;
        int64_t keep[4], gone[3], erase;
        _cleanup_free_ char *db_bytes = NULL, *wal = NULL, *wal_bytes = NULL;
        uint64_t n = 99;
        size_t size;

        int64_t secure_before = query_i64(f->db, "PRAGMA secure_delete", 0);

        gone[0] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE,
                               "{\"device\":\"cam\",\"data\":{\"subject\":\"aa11\",\"m\":\"MARKER-GONE-1\"}}");
        keep[0] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE,
                               "{\"device\":\"cam\",\"data\":{\"subject\":\"bb22\",\"m\":\"MARKER-KEEP-1\"}}");
        gone[1] = enqueue_text(f, OUTBOX_PRIORITY_SECURITY, TOPIC_SECURITY, "{\"subject\":\"aa11\",\"m\":\"MARKER-GONE-2\"}");
        gone[2] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE,
                               "{\"data\":{\"lock\":{\"subject\":\"aa11\"}},\"m\":\"MARKER-GONE-3\"}");
        /* Not about aa11: another value, a number, a prefix, not JSON, a "subject" value elsewhere. */
        keep[1] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, "{\"subject\":11,\"x\":\"aa11x\"}");
        keep[2] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, "not json aa11");
        keep[3] = enqueue_text(f, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, "{\"who\":\"aa11\",\"subject\":\"cc\"}");
        /* The erase request itself names the subject and must stay. */
        erase = enqueue_text(f, OUTBOX_PRIORITY_SECURITY, OUTBOX_TOPIC_ERASE, "{\"subject\":\"aa11\"}");
        /* Uncommitted rows too: the purge commits them first. */
        assert_true(outbox_in_transaction(&f->o));

        assert_int_equal(outbox_purge_subject(&f->o, "aa11", &n), 0);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < ELEMENTSOF(gone); i++)
                assert_false(has_row(f->peer, gone[i]));
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                assert_true(has_row(f->peer, keep[i]));
        assert_true(has_row(f->peer, erase));
        assert_totals(f);
        assert_dropped(f, 0, 0, 0);
        /* Zeroed and checkpointed: the purged payloads are in no file; the kept one is found. */
        db_bytes = read_file_or_die(f->path, &size);
        assert_null(memmem(db_bytes, size, "MARKER-GONE", 11));
        assert_non_null(memmem(db_bytes, size, "MARKER-KEEP-1", 13));
        wal = path_join(f->dir, "telemetry.db-wal");
        wal_bytes = read_file_or_die(wal, &size);
        assert_int_equal(size, 0);
        /* The connection's secure_delete setting is what it was. */
        assert_int_equal(query_i64(f->db, "PRAGMA secure_delete", 0), secure_before);
        assert_int_equal(outbox_purge_subject(&f->o, "aa11", &n), 0);
        assert_int_equal(n, 0);
}

static void test_erase_request_never_dropped(void **state) {
        Fixture *f = *state;
        int64_t erase, s[4];

        fixture_caps(f, 4, MAX_BYTES, 2);
        erase = enqueue_text(f, OUTBOX_PRIORITY_SECURITY, OUTBOX_TOPIC_ERASE, "{\"subject\":\"aa11\"}");
        /* Security events over their cap displace each other, never the erase request. */
        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                s[i] = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        commit(f);
        assert_true(has_row(f->db, erase));
        assert_false(has_row(f->db, s[0]));
        assert_true(has_row(f->db, s[3]));
        /* Routine telemetry cannot push it out either. */
        for (int i = 0; i < 10; i++)
                (void) outbox_enqueue(&f->o, OUTBOX_PRIORITY_ROUTINE, TOPIC_ROUTINE, "x", 1, T0, NULL, NULL);
        commit(f);
        assert_true(has_row(f->db, erase));
        assert_totals(f);
}

/*
 * Only what must survive a power cut is synced: a message before its producer hears it is safe, a
 * refusal's counter, and what the caller asks for. Removing an acknowledged message is not: lost,
 * it is sent again, and the cloud drops the duplicate by its message id.
 */
static void test_sync_only_what_must_survive(void **state) {
        Fixture *f = *state;
        int64_t a, b, c, d;

        a = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        b = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        c = enqueue(f, OUTBOX_PRIORITY_SECURITY);
        d = enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        test_vfs_syncs = 0;
        commit(f);
        assert_true(test_vfs_syncs > 0);

        /* Acknowledged: committed without a sync, and still the connection's default after. */
        assert_int_equal(outbox_remove(&f->o, a, false), 0);
        assert_false(outbox_must_sync(&f->o));
        test_vfs_syncs = 0;
        commit(f);
        assert_int_equal(test_vfs_syncs, 0);
        assert_false(has_row(f->peer, a));
        assert_int_equal(query_i64(f->db, "PRAGMA synchronous", 0), 2);

        /* Refused for good: its counter is kept for sure. */
        assert_int_equal(outbox_remove(&f->o, b, true), 0);
        assert_true(outbox_must_sync(&f->o));
        test_vfs_syncs = 0;
        commit(f);
        assert_true(test_vfs_syncs > 0);

        /* The caller's own change in the same transaction (an erase request's acknowledgement). */
        assert_int_equal(outbox_remove(&f->o, c, false), 0);
        assert_int_equal(outbox_require_sync(&f->o), 0);
        assert_true(outbox_must_sync(&f->o));
        assert_false(has_row(f->peer, c));
        assert_int_equal(sqlite3_exec(f->db, "INSERT INTO counters (name, value) VALUES ('caller', 1)", NULL, NULL,
                                      NULL),
                         SQLITE_OK);
        test_vfs_syncs = 0;
        commit(f);
        assert_true(test_vfs_syncs > 0);
        assert_int_equal(query_i64(f->peer, "SELECT count(*) FROM counters WHERE name = 'caller'", 0), 1);

        /* A new message after removals: synced, and the removals with it. */
        assert_int_equal(outbox_remove(&f->o, d, false), 0);
        test_vfs_syncs = 0;
        (void) enqueue(f, OUTBOX_PRIORITY_ROUTINE);
        commit(f);
        assert_true(test_vfs_syncs > 0);
        assert_int_equal(count_rows(f->peer), 1);
        assert_int_equal(query_i64(f->db, "PRAGMA synchronous", 0), 2);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                FIXTURE_TEST(test_round_trip),
                FIXTURE_TEST(test_routine_refused_before_dropping),
                FIXTURE_TEST(test_next_never_uncommitted),
                FIXTURE_TEST(test_next_after_counter_row),
                FIXTURE_TEST(test_next_never_uncommitted_after_counter_rows),
                FIXTURE_TEST(test_order),
                FIXTURE_TEST(test_next_skips_removed),
                FIXTURE_TEST(test_done_after_commit),
                FIXTURE_TEST(test_done_on_outbox_done),
                FIXTURE_TEST(test_commit_fails_constraint),
                FIXTURE_TEST(test_commit_fails_hook),
                FIXTURE_TEST(test_commit_fails_file_size_limit),
                FIXTURE_TEST(test_enqueue_busy),
                FIXTURE_TEST(test_enqueue_disk_full_is_not_no_room),
                FIXTURE_TEST(test_seq_strictly_increasing),
                FIXTURE_TEST(test_seq_never_reused_after_close_in_transaction),
                FIXTURE_TEST(test_seq_never_reused_after_crash),
                FIXTURE_TEST(test_cap_rows),
                FIXTURE_TEST(test_cap_bytes),
                FIXTURE_TEST(test_cap_security_only),
                FIXTURE_TEST(test_cap_security),
                cmocka_unit_test(test_drop_to_string),
                FIXTURE_TEST(test_counters_survive_reopen),
                FIXTURE_TEST(test_remove_unknown),
                FIXTURE_TEST(test_remove_rejected),
                FIXTURE_TEST(test_enqueue_invalid),
                FIXTURE_TEST(test_next_damaged_row),
                FIXTURE_TEST(test_large),
                FIXTURE_TEST(test_purge_subject),
                FIXTURE_TEST(test_erase_request_never_dropped),
                FIXTURE_TEST(test_sync_only_what_must_survive),
        };

        test_vfs_register();

        return cmocka_run_group_tests_name("outbox", tests, NULL, NULL);
}
