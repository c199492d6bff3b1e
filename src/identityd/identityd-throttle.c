/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "hubguard/db.h"
#include "hubguard/errno-util.h"
#include "identityd-throttle.h"

uint64_t throttle_delay(const ThrottleConfig *c, unsigned n) {
        uint64_t d = c->base_usec;

        if (n == 0)
                return 0;
        /* Doubling, checked against the cap before it can overflow. */
        for (unsigned i = 1; i < n && d < c->max_usec; i++)
                d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
        return d < c->max_usec ? d : c->max_usec;
}

void throttle_expire(const ThrottleConfig *c, ThrottleState *s, uint64_t now) {
        if (s->locked_until_usec != 0) {
                if (now >= s->locked_until_usec)
                        *s = (ThrottleState) {};
                return;
        }
        if (s->failures > 0 && now > s->last_failure_usec && now - s->last_failure_usec >= c->reset_after_usec)
                *s = (ThrottleState) {};
}

uint64_t throttle_next_allowed(const ThrottleConfig *c, const ThrottleState *s) {
        uint64_t t;

        if (s->locked_until_usec != 0)
                return s->locked_until_usec;
        if (s->failures == 0)
                return 0;
        t = s->last_failure_usec + throttle_delay(c, s->failures);
        return t < s->last_failure_usec ? UINT64_MAX : t;
}

bool throttle_record_failure(const ThrottleConfig *c, ThrottleState *s, uint64_t now) {
        /* A clock that went back must not shorten the delay: count from the later instant. */
        if (now < s->last_failure_usec)
                now = s->last_failure_usec;
        if (s->failures < UINT32_MAX)
                s->failures++;
        s->last_failure_usec = now;
        if (c->lockout_after > 0 && s->failures >= c->lockout_after && s->locked_until_usec == 0) {
                s->locked_until_usec = now + c->lockout_usec;
                return true;
        }
        return false;
}

int throttle_load(sqlite3 *db, const char *kind, const char *key, ThrottleState *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db,
                                "SELECT failures, last_failure_usec, locked_until_usec FROM throttle "
                                "WHERE kind = ?1 AND key = ?2",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret = (ThrottleState) {};
                return 0;
        }
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        /* Rows are input too: a negative or absurd value from a damaged file becomes "locked now". */
        *ret = (ThrottleState) {
                .failures = (unsigned) MIN(MAX(sqlite3_column_int64(st, 0), 0), (sqlite3_int64) UINT32_MAX),
                .last_failure_usec = (uint64_t) MAX(sqlite3_column_int64(st, 1), 0),
                .locked_until_usec = (uint64_t) MAX(sqlite3_column_int64(st, 2), 0),
        };
        return 0;
}

int throttle_store(sqlite3 *db, const char *kind, const char *key, const ThrottleState *s) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL, *trim = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO throttle (kind, key, failures, last_failure_usec, locked_until_usec) "
                                "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, key) DO UPDATE SET "
                                "failures = ?3, last_failure_usec = ?4, locked_until_usec = ?5",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        (void) sqlite3_bind_int64(st, 3, s->failures);
        (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) MIN(s->last_failure_usec, (uint64_t) INT64_MAX));
        (void) sqlite3_bind_int64(st, 5, (sqlite3_int64) MIN(s->locked_until_usec, (uint64_t) INT64_MAX));
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
                return errno_from_sqlite(rc);

        /* Bounded: an attacker who varies the source label must not grow the table without end. */
        rc = sqlite3_prepare_v2(db,
                                "DELETE FROM throttle WHERE rowid IN (SELECT rowid FROM throttle "
                                "WHERE locked_until_usec = 0 ORDER BY last_failure_usec "
                                "LIMIT max(0, (SELECT count(*) FROM throttle) - ?1))",
                                -1, &trim, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_int(trim, 1, THROTTLE_KEYS_MAX);
        rc = sqlite3_step(trim);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}

int throttle_clear(sqlite3 *db, const char *kind, const char *key) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, "DELETE FROM throttle WHERE kind = ?1 AND key = ?2", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        return rc == SQLITE_DONE ? 0 : errno_from_sqlite(rc);
}
