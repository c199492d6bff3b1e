/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The durable outbox: every accepted message, in an SQLite table (WAL, synchronous=FULL), until the
 * cloud broker acknowledges it (PUBACK).
 *
 * Durability: outbox_enqueue() adds the row inside an open transaction; the transaction is
 * committed by outbox_commit() (the daemon calls it at most OUTBOX_COMMIT_USEC after the first
 * uncommitted row, or when OUTBOX_COMMIT_ROWS are pending: a group commit). A message is durable
 * when the commit that holds it has returned; only then is its completion callback run (the
 * producer's acknowledgement), and only then may it be sent, so that a message id (hub id +
 * sequence) is never reused after a crash.
 *
 * Only what must survive a power cut is synced (synchronous=FULL): new messages, counters, and what
 * the caller writes after outbox_require_sync(). A transaction that only removes acknowledged
 * messages runs with synchronous=NORMAL: in WAL mode still atomic and consistent; if a power cut
 * undoes it, the messages are sent again, which their message ids make harmless, and the next
 * synced commit makes it durable too. Such a transaction may also wait longer before its commit
 * (OUTBOX_ACK_COMMIT_USEC). SQLite fixes the level when a transaction begins, so a change that must
 * be synced commits an open unsynced transaction first.
 *
 * Caps: at most max_rows messages and max_bytes of payload. When an enqueue would pass a cap, the
 * oldest routine message is dropped (counted as "full"); security events are kept until they alone
 * reach max_security, then the oldest security event goes (counted as "security-full").
 */

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define OUTBOX_COMMIT_USEC (5 * 1000ULL)
#define OUTBOX_COMMIT_ROWS 512
#define OUTBOX_ACK_COMMIT_USEC (100 * 1000ULL) /* a transaction of removals only */
#define OUTBOX_TOPIC_MAX 256
/*
 * Erase requests to the cloud (hub-privacyd, via RequestErase): security class, and never dropped
 * for room: a person's request to be forgotten must outlive any outage.
 */
#define OUTBOX_TOPIC_ERASE "privacy/erase"

typedef enum OutboxPriority {
        OUTBOX_PRIORITY_SECURITY = 0, /* sent first, kept longest */
        OUTBOX_PRIORITY_ROUTINE = 1,
        _OUTBOX_PRIORITY_MAX,
} OutboxPriority;

typedef enum OutboxDrop {
        OUTBOX_DROP_FULL,          /* routine telemetry dropped for room */
        OUTBOX_DROP_SECURITY_FULL, /* security events over their own cap */
        OUTBOX_DROP_REJECTED,      /* the broker refused a message for good (e.g. not authorised) */
        _OUTBOX_DROP_MAX,
} OutboxDrop;

const char *outbox_drop_to_string(OutboxDrop d);

typedef void (*OutboxDone)(void *userdata, int error);

typedef struct OutboxWaiter OutboxWaiter;

typedef struct Outbox {
        sqlite3 *db;
        uint64_t max_rows, max_bytes, max_security;
        uint64_t rows, bytes, security_rows, security_bytes; /* including uncommitted rows */
        uint64_t dropped[_OUTBOX_DROP_MAX];       /* persisted in the counters table */
        int64_t committed_seq;                    /* rows up to here are durable */
        int64_t pending_first_seq;                /* first uncommitted seq, 0 if none */
        unsigned pending_rows;
        unsigned pending_removals;                /* messages deleted in the open transaction */
        bool synced;                              /* false inside an unsynced transaction (NORMAL) */
        OutboxWaiter *waiters, *waiters_tail;     /* completion callbacks of the open transaction */
        sqlite3_stmt *insert, *lookup, *delete, *next;
} Outbox;

/* The schema, as the daemon's migration 2. */
extern const char outbox_schema_sql[];

/* Attach to a database that has outbox_schema_sql applied. */
int outbox_init(Outbox *o, sqlite3 *db, uint64_t max_rows, uint64_t max_bytes, uint64_t max_security);
/* Commit what is pending and free the statements (the database stays open). */
void outbox_done(Outbox *o);

/*
 * Append a message. done (may be NULL) is called once the message is durable (error 0) or the
 * commit failed (error < 0, the message is lost and was never acknowledged). Returns the
 * message's sequence number (> 0), or a negative errno if it was not added (-EINVAL for a bad
 * topic or size; -ENOBUFS if the outbox's caps left no room for it, which is not a storage error;
 * a storage error as such, -ENOSPC for a full disk, -EIO...).
 */
int64_t outbox_enqueue(Outbox *o, OutboxPriority prio, const char *topic, const void *payload, size_t len,
                       uint64_t now_usec, OutboxDone done, void *userdata);

/* Is a transaction open (rows added, or removed) that outbox_commit() must close? */
static inline bool outbox_in_transaction(const Outbox *o) {
        return o->db && !sqlite3_get_autocommit(o->db);
}

/* Is the open transaction one that is synced at its commit (more than removals)? */
static inline bool outbox_must_sync(const Outbox *o) {
        return outbox_in_transaction(o) && o->synced;
}

/* Open a synced transaction (committing an open unsynced one first), for the caller's own changes
 * that must survive a power cut. */
int outbox_require_sync(Outbox *o);

/* Commit the open transaction, then run its completion callbacks. */
int outbox_commit(Outbox *o);

typedef struct OutboxMessage {
        int64_t seq;
        OutboxPriority priority;
        const char *topic;   /* valid until the next outbox call */
        const void *payload;
        size_t len;
        uint64_t created_usec;
} OutboxMessage;

/*
 * The next durable message after after_seq in sending order (security first, then by sequence):
 * 1 with *ret filled, 0 if there is none.
 */
int outbox_next(Outbox *o, OutboxPriority prio, int64_t after_seq, OutboxMessage *ret);

/* The broker has it (or refused it for good, with drop set): delete it. */
int outbox_remove(Outbox *o, int64_t seq, bool rejected);

/*
 * Remove, with secure_delete and a WAL checkpoint(TRUNCATE), every queued message about a data
 * subject: a JSON payload with a "subject" member equal to subject at any depth (a device's own
 * field inside the envelope's "data", or a hub message's). Erase requests are kept. Commits what
 * was pending first.
 */
int outbox_purge_subject(Outbox *o, const char *subject, uint64_t *ret_n);

/* Count a loss that did not go through the outbox. */
int outbox_count_drop(Outbox *o, OutboxDrop d, uint64_t n);

/*
 * The outbox's epoch: 8 hex digits made when the database was created (and made anew when a
 * corrupt one is rebuilt), part of every message id, so that the ids of a rebuilt outbox, whose
 * sequence starts again at 1, never repeat ids the cloud has seen.
 */
int outbox_epoch(sqlite3 *db, char *buf, size_t size);
