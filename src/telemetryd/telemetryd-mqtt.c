/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <mqtt_protocol.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "hubguard/errno-util.h"
#include "hubguard/log.h"
#include "telemetryd-mqtt.h"

static uint64_t now_usec(sd_event *e) {
        uint64_t t = 0;

        (void) sd_event_now(e, CLOCK_MONOTONIC, &t);
        return t;
}

/*
 * libmosquitto's housekeeping (mosquitto_loop_misc()) sends a PINGREQ once the link has been quiet
 * for the keep-alive interval, and gives the link up when the broker has not answered one within
 * another interval. Run every quarter of the keep-alive (7.5 s for 30 s), a PINGREQ leaves at most
 * a quarter late, well inside the broker's 1.5 intervals. The times are multiples of the interval
 * on CLOCK_MONOTONIC, so that both links' housekeeping runs in one wake-up. An idle daemon wakes a
 * few times a minute, not once a second per link (tests/bench/bench-system.sh).
 */
#define MQTT_MISC_ACCURACY_USEC (1000 * 1000ULL)

static uint64_t misc_interval_usec(const MqttClient *c) {
        return MAX(c->cfg.keepalive_sec * 1000000ULL / 4, 250 * 1000ULL);
}

/* The next multiple of the interval after now. */
static uint64_t misc_next_usec(const MqttClient *c) {
        uint64_t i = misc_interval_usec(c);

        return (now_usec(c->event) / i + 1) * i;
}

static void schedule_attempt(MqttClient *c, uint64_t delay_usec);

static void set_error(MqttClient *c, const char *what, const char *detail) {
        if (detail && detail[0])
                (void) snprintf(c->last_error, sizeof c->last_error, "%s: %s", what, detail);
        else
                (void) snprintf(c->last_error, sizeof c->last_error, "%s", what);
}

/* Forget the current libmosquitto object and its sources. Never called from within a libmosquitto callback. */
static void drop_connection(MqttClient *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->misc = sd_event_source_disable_unref(c->misc);
        if (c->mosq) {
                mosquitto_destroy(c->mosq);
                c->mosq = NULL;
        }
        c->connected = false;
}

/*
 * With hold_writes, what libmosquitto queued goes out only when the owner says nothing received is
 * waiting to be made durable: libmosquitto's queue mixes the PUBACKs of durable and not yet
 * durable messages, so it is all or nothing.
 */
static bool may_write(MqttClient *c) {
        if (c->aborted)
                return false;
        return !c->cfg.hold_writes || !c->ops->may_flush || c->ops->may_flush(c, c->userdata);
}

static void update_events(MqttClient *c) {
        if (!c->io || !c->mosq)
                return;
        (void) sd_event_source_set_io_events(c->io,
                                             EPOLLIN | (mosquitto_want_write(c->mosq) && may_write(c) ? EPOLLOUT : 0));
}

/* The link went down: say why, and try again after the backoff delay. */
static void link_down(MqttClient *c, const char *reason) {
        bool was_connected = c->connected;
        uint64_t delay;

        c->connected = false;
        /* Stop watching the socket now: libmosquitto has closed it or is about to. No more
         * housekeeping on this client either: the next attempt makes a new one. */
        c->io = sd_event_source_disable_unref(c->io);
        c->misc = sd_event_source_disable_unref(c->misc);
        if (c->stopping)
                return;
        delay = backoff_next(&c->backoff);
        if (reason)
                set_error(c, reason, c->tls_error);
        log_full(c->quiet ? LOG_DEBUG : was_connected ? LOG_WARNING : LOG_INFO, "%s %s:%u: %s; next attempt in %.1f s.", c->cfg.name,
                 c->cfg.host, c->cfg.port, c->last_error, (double) delay / 1e6);
        if (c->ops->disconnected)
                c->ops->disconnected(c, c->userdata, c->last_error);
        schedule_attempt(c, delay);
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc, int flags, const mosquitto_property *props) {
        MqttClient *c = userdata;

        if (rc != 0) {
                /* A busy or over-quota broker asks us to come back later: go straight to the cap. */
                if (rc == MQTT_RC_SERVER_BUSY || rc == MQTT_RC_QUOTA_EXCEEDED || rc == MQTT_RC_CONNECTION_RATE_EXCEEDED)
                        backoff_server_busy(&c->backoff);
                c->tls_error[0] = '\0';
                set_error(c, "refused by the broker", mosquitto_reason_string(rc));
                link_down(c, NULL);
                return;
        }
        c->timer = sd_event_source_disable_unref(c->timer);
        c->connected = true;
        c->last_error[0] = c->tls_error[0] = '\0';
        backoff_reset(&c->backoff);
        log_full(c->quiet ? LOG_DEBUG : LOG_INFO, "%s %s:%u: connected.", c->cfg.name, c->cfg.host, c->cfg.port);
        if (c->ops->connected)
                c->ops->connected(c, c->userdata);
}

static void on_disconnect(struct mosquitto *mosq, void *userdata, int rc, const mosquitto_property *props) {
        MqttClient *c = userdata;
        char why[128];

        if (c->stopping)
                return;
        if (rc == MQTT_RC_SERVER_BUSY || rc == MQTT_RC_QUOTA_EXCEEDED || rc == MQTT_RC_CONNECTION_RATE_EXCEEDED)
                backoff_server_busy(&c->backoff);
        /* libmosquitto passes a MOSQ_ERR_* for local failures and the broker's reason code otherwise. */
        (void) snprintf(why, sizeof why, "%s", rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO
                                                        ? "connection lost"
                                                : rc >= 0x80 ? mosquitto_reason_string(rc)
                                                             : mosquitto_strerror(rc));
        /* After mqtt_client_abort() its reason is the one worth telling. */
        link_down(c, c->aborted ? NULL : why);
}

static void on_publish(struct mosquitto *mosq, void *userdata, int mid, int reason_code,
                       const mosquitto_property *props) {
        MqttClient *c = userdata;

        if (c->ops->published)
                c->ops->published(c, c->userdata, mid, reason_code);
}

static void on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *m,
                       const mosquitto_property *props) {
        MqttClient *c = userdata;

        if (c->ops->message)
                c->ops->message(c, c->userdata, m);
}

static void on_log(struct mosquitto *mosq, void *userdata, int level, const char *str) {
        MqttClient *c = userdata;

        /* The only place libmosquitto tells why a TLS handshake failed: keep it for LastError. */
        if (str && strncmp(str, "OpenSSL Error", 13) == 0) {
                const char *p = strstr(str, "error:");

                (void) snprintf(c->tls_error, sizeof c->tls_error, "TLS: %s", p ? p : str);
        }
        log_debug("%s: libmosquitto: %s", c->cfg.name, strempty(str));
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        MqttClient *c = userdata;
        int rc = MOSQ_ERR_SUCCESS;

        /*
         * A refused or reset connection before CONNACK: libmosquitto 2.0 takes the TLS layer's
         * SSL_ERROR_SYSCALL for "try again", and epoll would report the hang-up for ever.
         */
        if (!c->connected && (revents & (EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;

                /* What the peer sent before it hung up, a TLS alert say, is the better reason: let
                 * libmosquitto read it (on_log() keeps OpenSSL's words) before the hang-up is told. */
                if (revents & EPOLLIN) {
                        c->in_loop++;
                        (void) mosquitto_loop_read(c->mosq, 1);
                        c->in_loop--;
                        if (!c->io)
                                return 0; /* libmosquitto took the link down, with that reason */
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err == 0)
                        err = ECONNRESET;
                set_error(c, "cannot connect", c->tls_error[0] ? c->tls_error : strerror(err));
                link_down(c, NULL);
                return 0;
        }

        /* While libmosquitto runs (and calls our callbacks), mqtt_client_flush() must not re-enter it. */
        c->in_loop++;
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP))
                rc = mosquitto_loop_read(c->mosq, 1);
        /* The read may have brought the link down (and link_down() dropped this source). */
        if (rc == MOSQ_ERR_SUCCESS && c->io && (revents & EPOLLOUT || mosquitto_want_write(c->mosq)) &&
            (!c->connected || may_write(c)))
                rc = mosquitto_loop_write(c->mosq, 1);
        c->in_loop--;
        if (rc != MOSQ_ERR_SUCCESS) {
                /* libmosquitto has already called on_disconnect for a lost link; if not, do it ourselves. */
                if (c->io)
                        link_down(c, c->aborted ? NULL : mosquitto_strerror(rc));
                return 0;
        }
        update_events(c);
        return 0;
}

static int on_misc(sd_event_source *s, uint64_t usec, void *userdata) {
        MqttClient *c = userdata;

        if (c->mosq && mosquitto_socket(c->mosq) >= 0) {
                c->in_loop++;
                (void) mosquitto_loop_misc(c->mosq);
                c->in_loop--;
                /* The keepalive check may have taken the link down, and this source with it. */
                if (c->misc != s)
                        return 0;
                /* A PINGREQ must leave even on an idle link; may_write() decides for held writes. */
                if (c->connected && mosquitto_want_write(c->mosq) && may_write(c) &&
                    mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS) {
                        if (c->io)
                                link_down(c, "connection lost");
                        return 0;
                }
                update_events(c);
        }
        /* Timer sources fire once: set the next time and switch it on again. */
        (void) sd_event_source_set_time(s, misc_next_usec(c));
        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        return 0;
}

static int on_connect_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        MqttClient *c = userdata;

        c->timer = sd_event_source_disable_unref(c->timer);
        set_error(c, "no connection within the timeout", c->tls_error);
        link_down(c, NULL);
        return 0;
}

static int configure(MqttClient *c) {
        const MqttClientConfig *cfg = &c->cfg;
        int rc;

        rc = mosquitto_int_option(c->mosq, MOSQ_OPT_PROTOCOL_VERSION,
                                  cfg->persistent_session ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5);
        if (rc == MOSQ_ERR_SUCCESS && cfg->username)
                rc = mosquitto_username_pw_set(c->mosq, cfg->username, cfg->password);
        if (rc == MOSQ_ERR_SUCCESS && cfg->tls) {
                /* Peer verification and the host name check are on, always: there is no insecure mode. */
                rc = mosquitto_tls_set(c->mosq, cfg->cafile, NULL, cfg->certfile, cfg->keyfile, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_opts_set(c->mosq, 1, streq(cfg->tls_min_version, "tls1.3") ? "tlsv1.3" : "tlsv1.2",
                                                    NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_insecure_set(c->mosq, false);
                if (rc == MOSQ_ERR_SUCCESS && cfg->alpn)
                        rc = mosquitto_string_option(c->mosq, MOSQ_OPT_TLS_ALPN, cfg->alpn);
        }
        if (rc == MOSQ_ERR_SUCCESS && cfg->will_topic)
                rc = mosquitto_will_set_v5(c->mosq, cfg->will_topic, (int) strlen(cfg->will_payload),
                                           cfg->will_payload, 1, true, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_int_option(c->mosq, MOSQ_OPT_TCP_NODELAY, 1);
        /* libmosquitto's own default is 20 in flight; the broker's Receive Maximum still caps it. */
        /* "Threaded" only tells libmosquitto not to write from inside its own calls: packets wait in
         * its queue for mosquitto_loop_write(), which we call when the owner allows it. */
        if (rc == MOSQ_ERR_SUCCESS && cfg->hold_writes)
                rc = mosquitto_threaded_set(c->mosq, true);
        if (rc == MOSQ_ERR_SUCCESS && cfg->send_maximum > 0)
                rc = mosquitto_int_option(c->mosq, MOSQ_OPT_SEND_MAXIMUM, (int) cfg->send_maximum);
        return errno_from_mosquitto(rc);
}

static void attempt(MqttClient *c) {
        int rc, r;

        drop_connection(c);
        c->attempts++;
        c->tls_error[0] = '\0';
        c->aborted = false;
        c->mosq = mosquitto_new(c->cfg.client_id, !(c->cfg.persistent_session && c->cfg.client_id), c);
        if (!c->mosq) {
                set_error(c, "cannot create an MQTT client", strerror(errno));
                link_down(c, NULL);
                return;
        }
        mosquitto_connect_v5_callback_set(c->mosq, on_connect);
        mosquitto_disconnect_v5_callback_set(c->mosq, on_disconnect);
        mosquitto_publish_v5_callback_set(c->mosq, on_publish);
        mosquitto_message_v5_callback_set(c->mosq, on_message);
        mosquitto_log_callback_set(c->mosq, on_log);

        r = configure(c);
        if (r < 0) {
                set_error(c, "invalid client settings", strerror(-r));
                link_down(c, NULL);
                return;
        }
        /* Non-blocking: the TCP connect and the TLS handshake go on in the event loop. */
        rc = mosquitto_connect_bind_async(c->mosq, c->cfg.host, (int) c->cfg.port, (int) c->cfg.keepalive_sec,
                                          NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
                /* A handshake can fail right here: then libmosquitto's log line says why. */
                set_error(c, "cannot connect",
                          rc == MOSQ_ERR_TLS && c->tls_error[0] ? c->tls_error
                          : rc == MOSQ_ERR_ERRNO              ? strerror(errno)
                                                              : mosquitto_strerror(rc));
                link_down(c, NULL);
                return;
        }
        r = sd_event_add_io(c->event, &c->io, mosquitto_socket(c->mosq), EPOLLIN | EPOLLOUT, on_io, c);
        if (r >= 0)
                r = sd_event_source_set_priority(c->io, c->cfg.priority);
        if (r >= 0)
                r = sd_event_add_time(c->event, &c->misc, CLOCK_MONOTONIC, misc_next_usec(c),
                                      MQTT_MISC_ACCURACY_USEC, on_misc, c);
        if (r >= 0)
                r = sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC,
                                               c->cfg.connect_timeout_sec * 1000000ULL, 0, on_connect_timeout, c);
        if (r < 0) {
                set_error(c, "cannot watch the connection", strerror(-r));
                link_down(c, NULL);
        }
}

static int on_attempt_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        MqttClient *c = userdata;

        c->timer = sd_event_source_disable_unref(c->timer);
        attempt(c);
        return 0;
}

static void schedule_attempt(MqttClient *c, uint64_t delay_usec) {
        int r;

        c->timer = sd_event_source_disable_unref(c->timer);
        r = sd_event_add_time(c->event, &c->timer, CLOCK_MONOTONIC, now_usec(c->event) + delay_usec, 0,
                              on_attempt_timer, c);
        if (r < 0)
                log_error_errno(r, "%s: cannot schedule a reconnect: %m", c->cfg.name);
}

int mqtt_client_start(MqttClient *c, sd_event *e, const MqttClientConfig *cfg, const MqttClientOps *ops,
                      void *userdata) {
        *c = (MqttClient) { .cfg = *cfg, .ops = ops, .userdata = userdata, .event = e };
        backoff_init(&c->backoff, cfg->reconnect_min_usec, cfg->reconnect_max_usec);
        schedule_attempt(c, 0);
        return c->timer ? 0 : -ENOMEM;
}

void mqtt_client_stop(MqttClient *c) {
        c->stopping = true;
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->mosq && c->connected) {
                /* A clean DISCONNECT: the broker does not publish our will for a planned stop. */
                (void) mosquitto_disconnect_v5(c->mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
                (void) mosquitto_loop_write(c->mosq, 1);
        }
        drop_connection(c);
}

int mqtt_client_publish(MqttClient *c, int *mid, const char *topic, const void *payload, size_t len, int qos,
                        bool retain, const mosquitto_property *props) {
        int rc;

        if (!c->connected)
                return -ENOTCONN;
        if (len > INT32_MAX)
                return -EMSGSIZE;
        rc = mosquitto_publish_v5(c->mosq, mid, topic, (int) len, payload, qos, retain, props);
        return errno_from_mosquitto(rc);
}

int mqtt_client_subscribe(MqttClient *c, const char *filter, int qos) {
        if (!c->connected)
                return -ENOTCONN;
        return errno_from_mosquitto(mosquitto_subscribe_v5(c->mosq, NULL, filter, qos, 0, NULL));
}

void mqtt_client_flush(MqttClient *c) {
        /*
         * Called from inside one of libmosquitto's callbacks, its loop_write() can deadlock on a
         * mutex the caller holds (seen when a broker went away mid-stream): on_io() writes what
         * is queued once the read returns.
         */
        if (!c->mosq || !c->io || c->in_loop > 0)
                return;
        if (mosquitto_want_write(c->mosq) && may_write(c) && mosquitto_loop_write(c->mosq, 1) != MOSQ_ERR_SUCCESS) {
                if (c->io)
                        link_down(c, "connection lost");
                return;
        }
        update_events(c);
}

void mqtt_client_abort(MqttClient *c, const char *reason) {
        int fd;

        if (!c->mosq || !c->io || c->aborted)
                return;
        c->aborted = true;
        set_error(c, reason, NULL);
        /* Nothing more leaves (may_write() says no from now on), and the read that follows sees the
         * end of the connection and takes the link down as any loss does. */
        fd = mosquitto_socket(c->mosq);
        if (fd >= 0)
                (void) shutdown(fd, SHUT_RDWR);
        update_events(c);
}
