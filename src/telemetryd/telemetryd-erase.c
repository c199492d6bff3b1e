/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <jansson.h>
#include <pwd.h>
#include <time.h>

#include "hubguard/bus-util.h"
#include "hubguard/errno-util.h"
#include "hubguard/log.h"
#include "telemetryd-erase.h"

const char erase_request_schema_sql[] =
        "CREATE TABLE erase_request ("
        "  request_id TEXT PRIMARY KEY NOT NULL,"
        "  subject TEXT NOT NULL,"
        "  seq INTEGER NOT NULL,"
        "  state TEXT NOT NULL CHECK (state IN ('pending', 'acknowledged')),"
        "  changed_usec INTEGER NOT NULL) STRICT;"
        "CREATE INDEX erase_request_by_seq ON erase_request (seq);";

static uint64_t realtime_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* Subject and request ids are hub-privacyd's: lowercase hex, bounded. */
bool telemetry_erase_id_is_valid(const char *s) {
        size_t n = s ? strnlen(s, TELEMETRY_ERASE_ID_MAX + 1) : 0;

        return n > 0 && n <= TELEMETRY_ERASE_ID_MAX && strspn(s, "0123456789abcdef") == n;
}

int telemetry_purge_subject(TelemetryManager *m, const char *subject, uint64_t *ret_n) {
        int r = outbox_purge_subject(&m->outbox, subject, ret_n);

        telemetry_emit_queue(m);
        return r;
}

int telemetry_erase_state(TelemetryManager *m, const char *request_id, const char **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const char *state;
        int rc;

        /* A pending request whose message has left the outbox without an acknowledgement is lost. */
        rc = sqlite3_prepare_v2(m->daemon->db,
                                "SELECT state, EXISTS (SELECT 1 FROM outbox WHERE outbox.seq = erase_request.seq) "
                                "FROM erase_request WHERE request_id = ?1",
                                -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(rc);
        (void) sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE) {
                *ret = "unknown";
                return 0;
        }
        if (rc != SQLITE_ROW)
                return errno_from_sqlite(rc);
        state = (const char *) sqlite3_column_text(st, 0);
        if (state && streq(state, "acknowledged"))
                *ret = "acknowledged";
        else
                *ret = sqlite3_column_int(st, 1) ? "pending" : "unknown";
        return 0;
}

int telemetry_request_erase(TelemetryManager *m, const char *subject, const char *request_id) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *text = NULL;
        const char *state;
        json_t *body;
        int64_t seq;
        int r, rc;

        r = telemetry_erase_state(m, request_id, &state);
        if (r < 0)
                return r;
        if (!streq(state, "unknown"))
                return 0;

        body = json_pack("{sssssssI}", "type", "erase-request", "request_id", request_id, "subject", subject,
                         "requested_ms", (json_int_t) (realtime_usec() / 1000));
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
                return -ENOMEM;
        seq = outbox_enqueue(&m->outbox, OUTBOX_PRIORITY_SECURITY, OUTBOX_TOPIC_ERASE, text, strlen(text),
                             realtime_usec(), NULL, NULL);
        if (seq < 0)
                return (int) seq;
        /* In the transaction that holds the message: both are durable, or neither. */
        rc = sqlite3_prepare_v2(m->daemon->db,
                                "INSERT OR REPLACE INTO erase_request (request_id, subject, seq, state, changed_usec) "
                                "VALUES (?1, ?2, ?3, 'pending', ?4)",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
                (void) sqlite3_bind_int64(st, 3, seq);
                (void) sqlite3_bind_int64(st, 4, (sqlite3_int64) realtime_usec());
                rc = sqlite3_step(st);
        }
        r = telemetry_commit(m);
        if (rc != SQLITE_DONE)
                return errno_from_sqlite(rc);
        if (r < 0)
                return r;
        log_info("Queued erase request %s for the cloud.", request_id);
        return 0;
}

void telemetry_erase_acknowledged(TelemetryManager *m, int64_t seq) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int rc, r;

        /* A person's erase request: its new state must survive a power cut. */
        r = outbox_require_sync(&m->outbox);
        if (r < 0) {
                /* The removals before it (this message's among them) are undone: it is sent again,
                 * and its next PUBACK records the acknowledgement. */
                log_warning_errno(r, "Cannot record the acknowledgement of message %" PRIi64 ": %m", seq);
                telemetry_resend_from_oldest(m);
                return;
        }
        rc = sqlite3_prepare_v2(m->daemon->db,
                                "UPDATE erase_request SET state = 'acknowledged', changed_usec = ?2 "
                                "WHERE seq = ?1 AND state = 'pending'",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_int64(st, 1, seq);
                (void) sqlite3_bind_int64(st, 2, (sqlite3_int64) realtime_usec());
                rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
                log_warning_errno(errno_from_sqlite(rc), "Cannot record the acknowledgement of message %" PRIi64 ": %m",
                                  seq);
        else if (sqlite3_changes(m->daemon->db) > 0)
                log_info("The cloud broker acknowledged erase request message %" PRIi64 ".", seq);
}

/* ---- D-Bus: root and hub-privacy only ---- */

static TelemetryManager *manager(void *userdata) {
        return ((HubDaemon *) userdata)->userdata;
}

static int authorise(sd_bus_message *msg, sd_bus_error *error) {
        struct passwd *pw = getpwnam(TELEMETRY_ERASE_CALLER);
        uid_t uid = pw ? pw->pw_uid : 0;
        int r;

        r = bus_verify_caller(msg, &(BusAccess) { .uids = &uid, .n_uids = pw ? 1 : 0 }, NULL, error);
        if (r <= 0)
                return r < 0 ? r : -EACCES;
        return 0;
}

static int read_id(sd_bus_message *msg, const char **ret, sd_bus_error *error) {
        int r = sd_bus_message_read(msg, "s", ret);

        if (r < 0)
                return r;
        if (!telemetry_erase_id_is_valid(*ret))
                return sd_bus_error_setf(error, HUB_BUS_ERROR_INVALID_INPUT, "An id is 1 to %d lowercase hex digits.",
                                         TELEMETRY_ERASE_ID_MAX);
        return 0;
}

int telemetry_method_purge_subject(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *subject;
        uint64_t n = 0;
        int r;

        r = read_id(msg, &subject, error);
        if (r >= 0)
                r = authorise(msg, error);
        if (r < 0)
                return r;
        r = telemetry_purge_subject(manager(userdata), subject, &n);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot purge the outbox: %m");
        if (n > 0)
                log_info("Purged %" PRIu64 " queued messages about subject %s.", n, subject);
        return sd_bus_reply_method_return(msg, "t", n);
}

int telemetry_method_request_erase(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *subject, *request_id;
        int r;

        r = read_id(msg, &subject, error);
        if (r >= 0)
                r = read_id(msg, &request_id, error);
        if (r >= 0)
                r = authorise(msg, error);
        if (r < 0)
                return r;
        r = telemetry_request_erase(manager(userdata), subject, request_id);
        if (r == -ENOBUFS)
                return sd_bus_error_set(error, HUB_BUS_ERROR_NO_SPACE, "The outbox has no room for the erase request.");
        if (r == -ENOSPC)
                return sd_bus_error_set(error, HUB_BUS_ERROR_NO_SPACE, "The disk is full: the erase request cannot be stored.");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot queue the erase request: %m");
        return sd_bus_reply_method_return(msg, NULL);
}

int telemetry_method_erase_request_state(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *request_id, *state;
        int r;

        r = read_id(msg, &request_id, error);
        if (r >= 0)
                r = authorise(msg, error);
        if (r < 0)
                return r;
        r = telemetry_erase_state(manager(userdata), request_id, &state);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Cannot read the erase request: %m");
        return sd_bus_reply_method_return(msg, "s", state);
}
