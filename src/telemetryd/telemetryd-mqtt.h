/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * An MQTT v5 client driven by sd-event: libmosquitto without its threads. The socket is watched
 * by an io source (EPOLLOUT only while libmosquitto has something to write), mosquitto_loop_misc()
 * runs on a one-second timer, the connection is made with mosquitto_connect_async() under our own
 * timeout, and every attempt gets a fresh libmosquitto object (destroying it is the only way to
 * abandon a half-open TLS handshake). Reconnects follow a Backoff, for ever.
 */

#include <mosquitto.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "telemetryd-backoff.h"

typedef struct MqttClient MqttClient;

typedef struct MqttClientConfig {
        const char *name;         /* for logs: "cloud broker", "device broker" */
        const char *host;
        unsigned port;
        const char *client_id;    /* NULL: the broker assigns one */
        const char *username, *password;
        bool tls;
        const char *cafile, *certfile, *keyfile;
        const char *tls_min_version; /* "tls1.2" or "tls1.3" */
        const char *alpn;            /* NULL: none */
        const char *will_topic, *will_payload; /* NULL: no will */
        unsigned keepalive_sec;
        unsigned send_maximum;       /* QoS 1 messages in flight at most; 0: libmosquitto's default */
        /*
         * Hold what libmosquitto queues to send (above all the PUBACKs of received messages) while
         * ops->may_flush() says no: so that a message is acknowledged only once the owner has made
         * it durable. The owner calls mqtt_client_flush() when that changes.
         */
        bool hold_writes;
        /*
         * Keep the session at the broker while we are away (needs client_id): what arrives for our
         * subscriptions is queued for us, and what we received but never acknowledged is sent again.
         * MQTT 3.1.1 with clean_session false: libmosquitto 2.0 sends MQTT v5's Session Expiry
         * Interval only from its blocking connect, and a v3.1.1 session does not expire on mosquitto.
         */
        bool persistent_session;
        unsigned connect_timeout_sec;
        uint64_t reconnect_min_usec, reconnect_max_usec;
        int64_t priority;            /* of the socket's sd-event source: lower runs first */
} MqttClientConfig;

typedef struct MqttClientOps {
        /* CONNACK with success. */
        void (*connected)(MqttClient *c, void *userdata);
        /* The link is down (or an attempt failed); reason says why, in words. */
        void (*disconnected)(MqttClient *c, void *userdata, const char *reason);
        void (*message)(MqttClient *c, void *userdata, const struct mosquitto_message *m);
        /* PUBACK for mid, with its MQTT v5 reason code (< 0x80: accepted). */
        void (*published)(MqttClient *c, void *userdata, int mid, int reason_code);
        /* With hold_writes: may what is queued go out now (nothing received is waiting to be made durable)? */
        bool (*may_flush)(MqttClient *c, void *userdata);
} MqttClientOps;

struct MqttClient {
        MqttClientConfig cfg;
        const MqttClientOps *ops;
        void *userdata;
        sd_event *event;
        struct mosquitto *mosq;
        sd_event_source *io, *misc, *timer;
        Backoff backoff;
        bool connected;
        bool aborted;                /* mqtt_client_abort(): nothing more is written on this connection */
        bool stopping;
        bool quiet;                     /* the owner knows why it keeps failing: link changes logged at debug level */
        unsigned in_loop;               /* inside mosquitto_loop_*(), i.e. maybe inside a callback */
        unsigned attempts;              /* connection attempts made */
        char last_error[256];           /* the latest reason the link went down, "" if none */
        char tls_error[192];            /* the latest TLS error libmosquitto logged */
};

/* Start connecting now. cfg's strings must outlive the client. */
int mqtt_client_start(MqttClient *c, sd_event *e, const MqttClientConfig *cfg, const MqttClientOps *ops,
                      void *userdata);

/* Disconnect (sending DISCONNECT if connected, without a will) and free everything. */
void mqtt_client_stop(MqttClient *c);

/* Publish QoS 1 (or 0) with MQTT v5 properties (may be NULL). Returns 0 with *mid set, or a negative errno. */
int mqtt_client_publish(MqttClient *c, int *mid, const char *topic, const void *payload, size_t len, int qos,
                        bool retain, const mosquitto_property *props);

int mqtt_client_subscribe(MqttClient *c, const char *filter, int qos);

/* Let libmosquitto write what it queued now, and watch for writability while it has more. */
void mqtt_client_flush(MqttClient *c);

/*
 * Drop the connection without sending anything still queued (above all held PUBACKs): after a failed
 * commit, so that the broker keeps the messages and, with a persistent session, sends them again.
 * Safe from inside the client's callbacks; the link goes down and is attempted again as after a loss.
 */
void mqtt_client_abort(MqttClient *c, const char *reason);
