/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "common.h"
#include "hubguard/db.h"
#include "identityd-throttle.h"

#define SEC 1000000ULL
#define MIN_USEC (60 * SEC)
#define HOUR (60 * MIN_USEC)

/* A plausible CLOCK_REALTIME instant (2025-01-01), in microseconds. */
#define T0 (1735689600ULL * SEC)

/* The defaults (src/shared/conf.c): 1 s doubling up to 5 min, locked for 15 min after 10 failures,
 * failures forgotten after 1 h. */
static const ThrottleConfig config = {
        .base_usec = 1 * SEC,
        .max_usec = 300 * SEC,
        .lockout_after = 10,
        .lockout_usec = 15 * MIN_USEC,
        .reset_after_usec = HOUR,
};

/* The throttle table exactly as migration 2 in src/identityd/identityd-manager.c creates it. */
static const DbMigration migrations[] = {
        { 1, "CREATE TABLE throttle ("
             "  kind TEXT NOT NULL CHECK (kind IN ('account', 'source')),"
             "  key TEXT NOT NULL,"
             "  failures INTEGER NOT NULL,"
             "  last_failure_usec INTEGER NOT NULL,"
             "  locked_until_usec INTEGER NOT NULL,"
             "  PRIMARY KEY (kind, key)) STRICT;" },
};

typedef struct Fixture {
        char *dir;
        sqlite3 *db; /* dir/identity.db */
} Fixture;

static int fixture_setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        _cleanup_free_ char *path = NULL;

        assert_non_null(f);
        f->dir = test_mkdtemp("test-throttle");
        path = path_join(f->dir, "identity.db");
        assert_int_equal(db_open(path, migrations, ELEMENTSOF(migrations), &f->db, NULL), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state) {
        Fixture *f = *state;

        assert_int_equal(sqlite3_close_v2(f->db), SQLITE_OK);
        rm_rf_free(f->dir);
        free(f);
        return 0;
}

static int query_int(sqlite3 *db, const char *sql) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        return sqlite3_column_int(st, 0);
}

static void assert_state_equal(const ThrottleState *a, const ThrottleState *b) {
        assert_int_equal(a->failures, b->failures);
        assert_int_equal(a->last_failure_usec, b->last_failure_usec);
        assert_int_equal(a->locked_until_usec, b->locked_until_usec);
}

/* ---------------------------------------------------------------------------------------------------
 * throttle_delay()
 */

static void test_delay_doubles(void **state) {
        assert_int_equal(throttle_delay(&config, 0), 0);
        assert_int_equal(throttle_delay(&config, 1), 1 * SEC);
        assert_int_equal(throttle_delay(&config, 2), 2 * SEC);
        assert_int_equal(throttle_delay(&config, 3), 4 * SEC);
        assert_int_equal(throttle_delay(&config, 4), 8 * SEC);
        assert_int_equal(throttle_delay(&config, 9), 256 * SEC);
        for (unsigned n = 2; n <= 9; n++)
                assert_int_equal(throttle_delay(&config, n), 2 * throttle_delay(&config, n - 1));
}

static void test_delay_cap(void **state) {
        /* 2^9 s > 300 s: capped from the 10th failure on. */
        assert_int_equal(throttle_delay(&config, 10), 300 * SEC);
        assert_int_equal(throttle_delay(&config, 11), 300 * SEC);
        assert_int_equal(throttle_delay(&config, 64), 300 * SEC);
        for (unsigned n = 1; n < 100; n++)
                assert_true(throttle_delay(&config, n) <= config.max_usec);
}

static void test_delay_no_overflow(void **state) {
        ThrottleConfig huge = config;

        /* Doubling 2^32 - 1 times must neither wrap nor take forever. */
        assert_int_equal(throttle_delay(&config, UINT32_MAX), 300 * SEC);
        assert_int_equal(throttle_delay(&config, 65), 300 * SEC);

        /* A cap that doubling can never reach: saturate at UINT64_MAX, never wrap to a small delay. */
        huge.max_usec = UINT64_MAX;
        huge.base_usec = 1;
        assert_int_equal(throttle_delay(&huge, 64), 1ULL << 63);
        assert_int_equal(throttle_delay(&huge, 65), UINT64_MAX);
        assert_int_equal(throttle_delay(&huge, 200), UINT64_MAX);
        for (unsigned n = 2; n < 200; n++)
                assert_true(throttle_delay(&huge, n) >= throttle_delay(&huge, n - 1));

        huge.base_usec = UINT64_MAX / 2 + 1;
        assert_int_equal(throttle_delay(&huge, 1), UINT64_MAX / 2 + 1);
        assert_int_equal(throttle_delay(&huge, 2), UINT64_MAX);
}

static void test_delay_base_above_cap(void **state) {
        ThrottleConfig c = config;

        c.base_usec = 10 * SEC;
        c.max_usec = 5 * SEC;
        assert_int_equal(throttle_delay(&c, 1), 5 * SEC);
        assert_int_equal(throttle_delay(&c, 5), 5 * SEC);
}

/* ---------------------------------------------------------------------------------------------------
 * throttle_record_failure(), throttle_next_allowed(), throttle_expire()
 */

static void test_next_allowed(void **state) {
        ThrottleState s = {};

        assert_int_equal(throttle_next_allowed(&config, &s), 0);

        assert_false(throttle_record_failure(&config, &s, T0));
        assert_int_equal(s.failures, 1);
        assert_int_equal(s.last_failure_usec, T0);
        assert_int_equal(s.locked_until_usec, 0);
        assert_int_equal(throttle_next_allowed(&config, &s), T0 + 1 * SEC);

        assert_false(throttle_record_failure(&config, &s, T0 + 1 * SEC));
        assert_int_equal(throttle_next_allowed(&config, &s), T0 + 1 * SEC + 2 * SEC);

        assert_false(throttle_record_failure(&config, &s, T0 + 10 * SEC));
        assert_int_equal(s.failures, 3);
        assert_int_equal(throttle_next_allowed(&config, &s), T0 + 10 * SEC + 4 * SEC);
}

static void test_next_allowed_saturates(void **state) {
        ThrottleConfig c = config;
        ThrottleState s = { .failures = 1, .last_failure_usec = UINT64_MAX - 5 };

        c.max_usec = UINT64_MAX;
        c.base_usec = 1000;
        assert_int_equal(throttle_next_allowed(&c, &s), UINT64_MAX);
        s.failures = 100;
        assert_int_equal(throttle_next_allowed(&c, &s), UINT64_MAX);
}

static void test_lockout_exactly_once(void **state) {
        ThrottleState s = {};
        uint64_t now = T0;

        for (unsigned i = 1; i < config.lockout_after; i++) {
                assert_false(throttle_record_failure(&config, &s, now));
                assert_int_equal(s.locked_until_usec, 0);
                now = throttle_next_allowed(&config, &s);
        }
        assert_true(throttle_record_failure(&config, &s, now));
        assert_int_equal(s.failures, config.lockout_after);
        assert_int_equal(s.locked_until_usec, now + config.lockout_usec);
        assert_int_equal(throttle_next_allowed(&config, &s), now + config.lockout_usec);

        /* More failures while locked (a race, or a caller that did not check) do not lock again,
         * nor extend the lockout. */
        for (unsigned i = 0; i < 5; i++) {
                assert_false(throttle_record_failure(&config, &s, now + (i + 1) * SEC));
                assert_int_equal(s.locked_until_usec, now + config.lockout_usec);
        }
        assert_int_equal(s.failures, config.lockout_after + 5);
}

static void test_lockout_disabled(void **state) {
        ThrottleConfig c = config;
        ThrottleState s = {};

        c.lockout_after = 0;
        for (unsigned i = 0; i < 50; i++)
                assert_false(throttle_record_failure(&c, &s, T0 + i * HOUR / 2));
        assert_int_equal(s.locked_until_usec, 0);
        assert_int_equal(throttle_next_allowed(&c, &s), T0 + 49 * HOUR / 2 + c.max_usec);
}

static void test_expire_after_lockout(void **state) {
        ThrottleState s = {};
        uint64_t until;

        for (unsigned i = 0; i < config.lockout_after; i++)
                (void) throttle_record_failure(&config, &s, T0 + i * SEC);
        until = s.locked_until_usec;
        assert_int_equal(until, T0 + (config.lockout_after - 1) * SEC + config.lockout_usec);

        /* Still locked a microsecond before the end, even though the failures are "old" by then if
         * reset_after were shorter than the lockout. */
        throttle_expire(&config, &s, until - 1);
        assert_int_equal(s.locked_until_usec, until);
        assert_int_equal(s.failures, config.lockout_after);

        throttle_expire(&config, &s, until);
        assert_int_equal(s.failures, 0);
        assert_int_equal(s.last_failure_usec, 0);
        assert_int_equal(s.locked_until_usec, 0);
        assert_int_equal(throttle_next_allowed(&config, &s), 0);

        /* A fresh start: the next failure is the first again, and a second lockout can happen. */
        assert_false(throttle_record_failure(&config, &s, until + SEC));
        assert_int_equal(throttle_next_allowed(&config, &s), until + 2 * SEC);
        for (unsigned i = 1; i < config.lockout_after - 1; i++)
                assert_false(throttle_record_failure(&config, &s, until + (i + 1) * SEC));
        assert_true(throttle_record_failure(&config, &s, until + HOUR / 2));
}

static void test_expire_lockout_longer_than_reset(void **state) {
        ThrottleConfig c = config;
        ThrottleState s = {};

        c.lockout_usec = 2 * HOUR; /* longer than reset_after */
        for (unsigned i = 0; i < c.lockout_after; i++)
                (void) throttle_record_failure(&c, &s, T0);
        throttle_expire(&c, &s, T0 + HOUR + MIN_USEC);
        assert_int_equal(s.locked_until_usec, T0 + 2 * HOUR);
        throttle_expire(&c, &s, T0 + 2 * HOUR);
        assert_int_equal(s.locked_until_usec, 0);
        assert_int_equal(s.failures, 0);
}

static void test_reset_after(void **state) {
        ThrottleState s = {};

        for (unsigned i = 0; i < 5; i++)
                (void) throttle_record_failure(&config, &s, T0 + i * MIN_USEC);
        assert_int_equal(s.failures, 5);

        /* Not yet: one microsecond short of reset_after since the last failure. */
        throttle_expire(&config, &s, T0 + 4 * MIN_USEC + HOUR - 1);
        assert_int_equal(s.failures, 5);
        assert_int_equal(s.last_failure_usec, T0 + 4 * MIN_USEC);

        throttle_expire(&config, &s, T0 + 4 * MIN_USEC + HOUR);
        assert_int_equal(s.failures, 0);
        assert_int_equal(s.last_failure_usec, 0);
        assert_int_equal(throttle_next_allowed(&config, &s), 0);
}

static void test_expire_nothing(void **state) {
        ThrottleState s = {};

        throttle_expire(&config, &s, T0);
        assert_int_equal(s.failures, 0);
        assert_int_equal(s.locked_until_usec, 0);
        throttle_expire(&config, &s, 0);
        throttle_expire(&config, &s, UINT64_MAX);
        assert_int_equal(s.failures, 0);
}

static void test_clock_backwards_record(void **state) {
        ThrottleState s = {};
        uint64_t before;

        (void) throttle_record_failure(&config, &s, T0);
        (void) throttle_record_failure(&config, &s, T0 + 2 * SEC);
        before = throttle_next_allowed(&config, &s);
        assert_int_equal(before, T0 + 2 * SEC + 2 * SEC);

        /* The clock jumps back an hour: the failure counts from the later instant. */
        (void) throttle_record_failure(&config, &s, T0 - HOUR);
        assert_int_equal(s.failures, 3);
        assert_int_equal(s.last_failure_usec, T0 + 2 * SEC);
        assert_int_equal(throttle_next_allowed(&config, &s), T0 + 2 * SEC + 4 * SEC);
        assert_true(throttle_next_allowed(&config, &s) >= before);
}

static void test_clock_backwards_expire(void **state) {
        ThrottleState s = {};

        (void) throttle_record_failure(&config, &s, T0);
        (void) throttle_record_failure(&config, &s, T0 + SEC);

        /* Far in the past: "no time has passed", certainly not more than reset_after. */
        throttle_expire(&config, &s, T0 - 2 * HOUR);
        assert_int_equal(s.failures, 2);
        throttle_expire(&config, &s, 0);
        assert_int_equal(s.failures, 2);
        assert_int_equal(throttle_next_allowed(&config, &s), T0 + SEC + 2 * SEC);
}

static void test_clock_backwards_lockout(void **state) {
        ThrottleState s = {};

        for (unsigned i = 0; i < config.lockout_after - 1; i++)
                (void) throttle_record_failure(&config, &s, T0 + i * SEC);
        /* The locking failure comes with a clock set back by a day: the lockout still runs from the
         * latest failure, and expire() at the earlier clock keeps it. */
        assert_true(throttle_record_failure(&config, &s, T0 - 24 * HOUR));
        assert_int_equal(s.locked_until_usec, T0 + (config.lockout_after - 2) * SEC + config.lockout_usec);
        throttle_expire(&config, &s, T0 - 24 * HOUR);
        assert_true(s.locked_until_usec != 0);
}

static void test_failures_saturate(void **state) {
        ThrottleState s = {
                .failures = UINT32_MAX,
                .last_failure_usec = T0,
                .locked_until_usec = T0 + HOUR,
        };

        assert_false(throttle_record_failure(&config, &s, T0 + SEC));
        assert_int_equal(s.failures, UINT32_MAX);
}

/* ---------------------------------------------------------------------------------------------------
 * throttle_store(), throttle_load(), throttle_clear()
 */

static void test_store_load_round_trip(void **state) {
        Fixture *f = *state;
        ThrottleState s = {}, back;

        for (unsigned i = 0; i < config.lockout_after; i++)
                (void) throttle_record_failure(&config, &s, T0 + i * SEC);
        assert_int_equal(throttle_store(f->db, "account", "admin", &s), 0);
        memset(&back, 0xaa, sizeof back);
        assert_int_equal(throttle_load(f->db, "account", "admin", &back), 0);
        assert_state_equal(&back, &s);

        /* The same key of the other kind is another row. */
        memset(&back, 0xaa, sizeof back);
        assert_int_equal(throttle_load(f->db, "source", "admin", &back), 0);
        assert_int_equal(back.failures, 0);

        /* An update replaces the row. */
        s = (ThrottleState) { .failures = 2, .last_failure_usec = T0 + HOUR };
        assert_int_equal(throttle_store(f->db, "account", "admin", &s), 0);
        assert_int_equal(throttle_load(f->db, "account", "admin", &back), 0);
        assert_state_equal(&back, &s);
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM throttle"), 1);
}

static void test_store_survives_reopen(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *path = path_join(f->dir, "identity.db");
        ThrottleState s = { .failures = 7, .last_failure_usec = T0, .locked_until_usec = 0 }, back;

        assert_int_equal(throttle_store(f->db, "source", "uid:1000/web", &s), 0);
        assert_int_equal(sqlite3_close_v2(f->db), SQLITE_OK);
        f->db = NULL;
        assert_int_equal(db_open(path, migrations, ELEMENTSOF(migrations), &f->db, NULL), 0);
        assert_int_equal(throttle_load(f->db, "source", "uid:1000/web", &back), 0);
        assert_state_equal(&back, &s);
}

static void test_store_clamps_to_int64(void **state) {
        Fixture *f = *state;
        ThrottleState s = { .failures = UINT32_MAX, .last_failure_usec = UINT64_MAX,
                            .locked_until_usec = UINT64_MAX }, back;

        assert_int_equal(throttle_store(f->db, "account", "admin", &s), 0);
        assert_int_equal(throttle_load(f->db, "account", "admin", &back), 0);
        assert_int_equal(back.failures, UINT32_MAX);
        assert_int_equal(back.last_failure_usec, INT64_MAX);
        assert_int_equal(back.locked_until_usec, INT64_MAX);
}

static void test_clear(void **state) {
        Fixture *f = *state;
        ThrottleState s = { .failures = 3, .last_failure_usec = T0 }, back;

        assert_int_equal(throttle_store(f->db, "account", "admin", &s), 0);
        assert_int_equal(throttle_store(f->db, "source", "uid:0", &s), 0);
        assert_int_equal(throttle_clear(f->db, "account", "admin"), 0);
        assert_int_equal(throttle_load(f->db, "account", "admin", &back), 0);
        assert_int_equal(back.failures, 0);
        assert_int_equal(back.last_failure_usec, 0);
        assert_int_equal(back.locked_until_usec, 0);
        /* Only that row. */
        assert_int_equal(throttle_load(f->db, "source", "uid:0", &back), 0);
        assert_state_equal(&back, &s);
        /* Clearing what is not there is fine. */
        assert_int_equal(throttle_clear(f->db, "account", "admin"), 0);
        assert_int_equal(throttle_clear(f->db, "account", "nobody"), 0);
}

static void test_load_unknown_key(void **state) {
        Fixture *f = *state;
        ThrottleState back;

        memset(&back, 0xaa, sizeof back);
        assert_int_equal(throttle_load(f->db, "account", "nobody", &back), 0);
        assert_int_equal(back.failures, 0);
        assert_int_equal(back.last_failure_usec, 0);
        assert_int_equal(back.locked_until_usec, 0);
}

static void test_load_damaged_rows(void **state) {
        static const char damage[] =
                "INSERT INTO throttle VALUES ('account', 'neg', -5, -1000, -1);"
                "INSERT INTO throttle VALUES ('account', 'min', -9223372036854775808, -9223372036854775808,"
                "                             -9223372036854775808);"
                "INSERT INTO throttle VALUES ('account', 'huge', 1000000000000, 9223372036854775807,"
                "                             9223372036854775807);";
        Fixture *f = *state;
        ThrottleState back;

        assert_int_equal(db_exec(f->db, damage), 0);

        assert_int_equal(throttle_load(f->db, "account", "neg", &back), 0);
        assert_int_equal(back.failures, 0);
        assert_int_equal(back.last_failure_usec, 0);
        assert_int_equal(back.locked_until_usec, 0);

        assert_int_equal(throttle_load(f->db, "account", "min", &back), 0);
        assert_int_equal(back.failures, 0);
        assert_int_equal(back.last_failure_usec, 0);
        assert_int_equal(back.locked_until_usec, 0);

        /* Too many failures to count: the most there can be, not a wrapped small number. */
        assert_int_equal(throttle_load(f->db, "account", "huge", &back), 0);
        assert_int_equal(back.failures, UINT32_MAX);
        assert_int_equal(back.last_failure_usec, INT64_MAX);
        assert_int_equal(back.locked_until_usec, INT64_MAX);
        /* And the arithmetic on it stays sane. */
        assert_int_equal(throttle_next_allowed(&config, &back), INT64_MAX);
        back.locked_until_usec = 0;
        assert_int_equal(throttle_next_allowed(&config, &back), (uint64_t) INT64_MAX + config.max_usec);
        throttle_expire(&config, &back, T0);
        assert_int_equal(back.failures, UINT32_MAX);
}

static void test_no_table(void **state) {
        Fixture *f = *state;
        ThrottleState s = { .failures = 1 }, back;

        assert_int_equal(db_exec(f->db, "DROP TABLE throttle"), 0);
        assert_true(throttle_load(f->db, "account", "admin", &back) < 0);
        assert_true(throttle_store(f->db, "account", "admin", &s) < 0);
        assert_true(throttle_clear(f->db, "account", "admin") < 0);
}

static void test_table_bounded(void **state) {
        Fixture *f = *state;
        const unsigned n_locked = 20, n_total = THROTTLE_KEYS_MAX + 10;
        char key[32];

        /*
         * The locked rows have the oldest failures of all: the trim must still keep them and
         * drop the oldest unlocked ones instead. One transaction, as identityd-bus.c does it.
         */
        assert_int_equal(db_exec(f->db, "BEGIN IMMEDIATE"), 0);
        for (unsigned i = 0; i < n_total; i++) {
                ThrottleState s = {
                        .failures = i < n_locked ? config.lockout_after : 1,
                        .last_failure_usec = T0 + i * SEC,
                        .locked_until_usec = i < n_locked ? T0 + i * SEC + config.lockout_usec : 0,
                };

                (void) snprintf(key, sizeof key, "uid:1000/flood-%05u", i);
                assert_int_equal(throttle_store(f->db, "source", key, &s), 0);
                assert_true(query_int(f->db, "SELECT count(*) FROM throttle") <= THROTTLE_KEYS_MAX);
        }
        assert_int_equal(db_exec(f->db, "COMMIT"), 0);

        assert_int_equal(query_int(f->db, "SELECT count(*) FROM throttle"), THROTTLE_KEYS_MAX);
        assert_int_equal(query_int(f->db, "SELECT count(*) FROM throttle WHERE locked_until_usec != 0"),
                         n_locked);
        for (unsigned i = 0; i < n_total; i++) {
                ThrottleState back;

                (void) snprintf(key, sizeof key, "uid:1000/flood-%05u", i);
                assert_int_equal(throttle_load(f->db, "source", key, &back), 0);
                if (i < n_locked)
                        assert_int_not_equal(back.locked_until_usec, 0);
                /* The 10 oldest unlocked rows are gone, the rest are kept. */
                if (i >= n_locked && i < n_locked + 10)
                        assert_int_equal(back.failures, 0);
                else
                        assert_int_not_equal(back.failures, 0);
        }
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_delay_doubles),
                cmocka_unit_test(test_delay_cap),
                cmocka_unit_test(test_delay_no_overflow),
                cmocka_unit_test(test_delay_base_above_cap),
                cmocka_unit_test(test_next_allowed),
                cmocka_unit_test(test_next_allowed_saturates),
                cmocka_unit_test(test_lockout_exactly_once),
                cmocka_unit_test(test_lockout_disabled),
                cmocka_unit_test(test_expire_after_lockout),
                cmocka_unit_test(test_expire_lockout_longer_than_reset),
                cmocka_unit_test(test_reset_after),
                cmocka_unit_test(test_expire_nothing),
                cmocka_unit_test(test_clock_backwards_record),
                cmocka_unit_test(test_clock_backwards_expire),
                cmocka_unit_test(test_clock_backwards_lockout),
                cmocka_unit_test(test_failures_saturate),
                FIXTURE_TEST(test_store_load_round_trip),
                FIXTURE_TEST(test_store_survives_reopen),
                FIXTURE_TEST(test_store_clamps_to_int64),
                FIXTURE_TEST(test_clear),
                FIXTURE_TEST(test_load_unknown_key),
                FIXTURE_TEST(test_load_damaged_rows),
                FIXTURE_TEST(test_no_table),
                FIXTURE_TEST(test_table_bounded),
        };

        return cmocka_run_group_tests_name("throttle", tests, NULL, NULL);
}
