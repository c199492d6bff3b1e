/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * bench-publisher: the load generator and the receiving end of tests/bench/bench-telemetry.sh.
 *
 *   bench-publisher pub [CONNECTION] --topic T --count N [--size BYTES] [--json] [--devices D]
 *                       [--window W] [--qos 0|1]
 *       Publishes N messages as fast as the broker acknowledges them (QoS 1 by default), with at
 *       most W unacknowledged at once (the client's MQTT v5 send maximum is set to W too, so the
 *       window is the real one on the wire unless the broker's Receive Maximum is lower). A "{n}"
 *       in T is replaced by the message number modulo D (device ids dev-0000, dev-0001, ...).
 *       --json makes each payload a valid hub device message ({"seq":..,"temp":..,"p0":"..."}),
 *       padded to BYTES.
 *
 *   bench-publisher sub [CONNECTION] --topic FILTER --count N [--timeout SEC] [--ready-file F]
 *       Subscribes to FILTER and counts messages until N distinct ones have arrived (duplicates
 *       are recognised by the hub's "message-id" user property), or until SEC seconds pass with
 *       nothing arriving. Creates F once the subscription is acknowledged.
 *
 *   CONNECTION: --host H (127.0.0.1) --port P [--cafile F --cert F --key F] [--user U
 *               --password-file F] [--client-id ID]. Always MQTT v5; TLS when --cafile is given,
 *               with the broker's name (H) verified.
 *
 * Output: one line of KEY=VALUE pairs on stdout (times as CLOCK_REALTIME seconds, so that a
 * publisher's and a subscriber's lines can be compared; cpu_s is the process's own user + system
 * time), for example
 *   pub: messages=20000 acked=20000 failed=0 elapsed_s=1.234 rate_msgs_per_s=16207.5 first_publish_s=... last_ack_s=...
 *   sub: messages=20000 duplicates=0 elapsed_s=... rate_msgs_per_s=... first_arrival_s=... last_arrival_s=...
 * Exit status: 0 on success, 1 on usage or connection errors, 2 on refused publishes, 3 on a
 * subscriber timeout (the line is printed all the same).
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_MAX (256 * 1024)
#define PAD_STRING_MAX 120 /* below the hub's 128-character limit for one string */

typedef struct Options {
        bool sub;
        const char *host, *cafile, *cert, *key, *user, *password_file, *client_id, *topic, *ready_file;
        int port, qos, window, devices, size;
        long count;
        bool json;
        double timeout_sec;
} Options;

typedef struct State {
        const Options *o;
        int connected; /* 0 not yet, 1 yes, -1 refused or lost */
        int connect_rc;
        int server_receive_max;
        bool subscribed;
        long sent, acked, failed;
        double first_publish, last_ack;
        /* subscriber */
        long received, duplicates;
        double first_arrival, last_arrival;
        uint8_t *seen; /* bit per hub sequence number */
        size_t seen_bytes;
} State;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
        interrupted = sig;
}

static double now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* This process's CPU time so far, user + system. */
static double cpu_seconds(void) {
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double now_real(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void on_connect(struct mosquitto *mosq, void *userdata, int rc, int flags, const mosquitto_property *props) {
        State *s = userdata;
        uint16_t v = 0;

        s->connect_rc = rc;
        if (rc != 0) {
                s->connected = -1;
                return;
        }
        s->connected = 1;
        s->server_receive_max = 65535; /* absent: no limit from the broker */
        if (mosquitto_property_read_int16(props, MQTT_PROP_RECEIVE_MAXIMUM, &v, false))
                s->server_receive_max = v;
        if (s->o->sub && mosquitto_subscribe_v5(mosq, NULL, s->o->topic, s->o->qos, 0, NULL) != MOSQ_ERR_SUCCESS)
                s->connected = -1;
}

static void on_disconnect(struct mosquitto *mosq, void *userdata, int rc, const mosquitto_property *props) {
        State *s = userdata;

        s->connect_rc = rc;
        s->connected = -1;
}

static void on_subscribe(struct mosquitto *mosq, void *userdata, int mid, int qos_count, const int *granted,
                         const mosquitto_property *props) {
        State *s = userdata;

        if (qos_count < 1 || granted[0] >= 0x80) {
                fprintf(stderr, "bench-publisher: subscription to '%s' refused (0x%02x)\n", s->o->topic,
                        qos_count < 1 ? 0 : granted[0]);
                s->connected = -1;
                return;
        }
        s->subscribed = true;
}

static void on_publish(struct mosquitto *mosq, void *userdata, int mid, int reason, const mosquitto_property *props) {
        State *s = userdata;

        s->acked++;
        if (reason >= 0x80)
                s->failed++;
        s->last_ack = now_real();
}

/* The hub's message id is "<hub-id>-<seq>": a bit per seq finds duplicates (at-least-once). */
static bool seen_before(State *s, const mosquitto_property *props) {
        char *name = NULL, *value = NULL;
        const mosquitto_property *p;
        bool dup = false;

        for (p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false); p;
             p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, true)) {
                if (name && value && strcmp(name, "message-id") == 0) {
                        const char *dash = strrchr(value, '-');
                        char *end = NULL;
                        unsigned long long seq = dash ? strtoull(dash + 1, &end, 10) : 0;

                        if (dash && end && *end == '\0' && seq < (1ULL << 32)) {
                                size_t byte = (size_t) (seq / 8);

                                if (byte >= s->seen_bytes) {
                                        size_t n = (byte + 1) * 2;
                                        uint8_t *b = realloc(s->seen, n);

                                        if (b) {
                                                memset(b + s->seen_bytes, 0, n - s->seen_bytes);
                                                s->seen = b;
                                                s->seen_bytes = n;
                                        }
                                }
                                if (byte < s->seen_bytes) {
                                        dup = s->seen[byte] & (1u << (seq % 8));
                                        s->seen[byte] |= (uint8_t) (1u << (seq % 8));
                                }
                        }
                }
                free(name);
                free(value);
                name = value = NULL;
        }
        return dup;
}

static void on_message(struct mosquitto *mosq, void *userdata, const struct mosquitto_message *m,
                       const mosquitto_property *props) {
        State *s = userdata;
        double t = now_real();

        if (seen_before(s, props)) {
                s->duplicates++;
                return;
        }
        if (s->received == 0)
                s->first_arrival = t;
        s->last_arrival = t;
        s->received++;
}

/* One turn of the event loop: wait up to timeout_ms for the socket, then read, write, keep alive. */
static int loop_once(struct mosquitto *mosq, int timeout_ms) {
        static double last_misc;
        struct pollfd p = { .fd = mosquitto_socket(mosq), .events = POLLIN };
        int rc = MOSQ_ERR_SUCCESS;

        if (p.fd < 0)
                return MOSQ_ERR_NO_CONN;
        if (mosquitto_want_write(mosq))
                p.events |= POLLOUT;
        if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
                return MOSQ_ERR_ERRNO;
        if (p.revents & (POLLIN | POLLERR | POLLHUP))
                rc = mosquitto_loop_read(mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && ((p.revents & POLLOUT) || mosquitto_want_write(mosq)))
                rc = mosquitto_loop_write(mosq, 1);
        if (rc == MOSQ_ERR_SUCCESS && now_mono() - last_misc >= 1.0) {
                last_misc = now_mono();
                rc = mosquitto_loop_misc(mosq);
        }
        return rc;
}

/* The topic for message i: T with "{n}" replaced by the device id. */
static void make_topic(const Options *o, long i, char *buf, size_t size) {
        const char *at = strstr(o->topic, "{n}");

        if (!at) {
                (void) snprintf(buf, size, "%s", o->topic);
                return;
        }
        (void) snprintf(buf, size, "%.*sdev-%04ld%s", (int) (at - o->topic), o->topic, i % o->devices, at + 3);
}

/* Payload of message i, exactly o->size bytes (a JSON message can be a few bytes longer if size is tiny). */
static size_t make_payload(const Options *o, long i, char *buf) {
        size_t len, want = (size_t) o->size;
        int pad = 0;

        if (!o->json) {
                len = (size_t) snprintf(buf, PAYLOAD_MAX, "%ld:", i);
                if (len < want)
                        memset(buf + len, 'x', want - len);
                return want > len ? want : len;
        }
        len = (size_t) snprintf(buf, PAYLOAD_MAX, "{\"seq\":%ld,\"temp\":%.1f", i, 15.0 + (double) (i % 100) / 10.0);
        /* Each pad member costs 8 bytes of syntax (,"pN":"") plus its characters. */
        while (len + 1 + 9 < want && pad < 60) {
                size_t room = want - len - 1 - 9, n = room < PAD_STRING_MAX ? room : PAD_STRING_MAX;

                len += (size_t) snprintf(buf + len, PAYLOAD_MAX - len, ",\"p%d\":\"", pad++);
                memset(buf + len, 'a' + (char) (i % 26), n);
                len += n;
                buf[len++] = '"';
        }
        buf[len++] = '}';
        while (len < want && len < PAYLOAD_MAX) /* whitespace after the object is still valid JSON */
                buf[len++] = ' ';
        return len;
}

static char *read_password(const char *path) {
        char buf[1024];
        FILE *f = fopen(path, "re");

        if (!f || !fgets(buf, sizeof buf, f)) {
                fprintf(stderr, "bench-publisher: cannot read %s: %s\n", path, strerror(errno));
                if (f)
                        fclose(f);
                return NULL;
        }
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        return strdup(buf);
}

static struct mosquitto *client_connect(const Options *o, State *s) {
        char id[64];
        struct mosquitto *mosq;
        char *pw = NULL;
        int rc;

        if (o->client_id)
                (void) snprintf(id, sizeof id, "%s", o->client_id);
        else
                (void) snprintf(id, sizeof id, "bench-%s-%ld", o->sub ? "sub" : "pub", (long) getpid());
        mosq = mosquitto_new(id, true, s);
        if (!mosq) {
                fprintf(stderr, "bench-publisher: mosquitto_new: %s\n", strerror(errno));
                return NULL;
        }
        mosquitto_connect_v5_callback_set(mosq, on_connect);
        mosquitto_disconnect_v5_callback_set(mosq, on_disconnect);
        mosquitto_publish_v5_callback_set(mosq, on_publish);
        mosquitto_subscribe_v5_callback_set(mosq, on_subscribe);
        mosquitto_message_v5_callback_set(mosq, on_message);

        rc = mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
        /* libmosquitto's own defaults are 20 each way: make the window the one asked for. */
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, o->window);
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_int_option(mosq, MOSQ_OPT_RECEIVE_MAXIMUM, 65535);
        if (rc == MOSQ_ERR_SUCCESS && o->user) {
                if (o->password_file && !(pw = read_password(o->password_file))) {
                        mosquitto_destroy(mosq);
                        return NULL;
                }
                rc = mosquitto_username_pw_set(mosq, o->user, pw);
                free(pw);
        }
        if (rc == MOSQ_ERR_SUCCESS && o->cafile) {
                rc = mosquitto_tls_set(mosq, o->cafile, NULL, o->cert, o->key, NULL);
                if (rc == MOSQ_ERR_SUCCESS)
                        rc = mosquitto_tls_opts_set(mosq, 1, "tlsv1.2", NULL);
        }
        if (rc == MOSQ_ERR_SUCCESS)
                rc = mosquitto_connect_bind_v5(mosq, o->host, o->port, 60, NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
                fprintf(stderr, "bench-publisher: cannot connect to %s:%d: %s\n", o->host, o->port,
                        rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
                mosquitto_destroy(mosq);
                return NULL;
        }
        double deadline = now_mono() + 15;
        while (s->connected == 0 && !interrupted && now_mono() < deadline)
                if (loop_once(mosq, 100) != MOSQ_ERR_SUCCESS)
                        break;
        if (s->connected != 1) {
                fprintf(stderr, "bench-publisher: connection to %s:%d %s: %s\n", o->host, o->port,
                        s->connected == 0 ? "timed out" : "refused or lost",
                        s->connect_rc ? mosquitto_reason_string(s->connect_rc) : "no CONNACK");
                mosquitto_destroy(mosq);
                return NULL;
        }
        return mosq;
}

static int run_pub(const Options *o, State *s, struct mosquitto *mosq) {
        static char payload[PAYLOAD_MAX];
        char topic[512];
        double t0 = 0, t1;
        int rc = MOSQ_ERR_SUCCESS;

        while (s->acked < o->count && !interrupted && s->connected == 1) {
                while (s->sent < o->count && s->sent - s->acked < o->window) {
                        size_t len = make_payload(o, s->sent, payload);

                        make_topic(o, s->sent, topic, sizeof topic);
                        if (s->sent == 0) {
                                t0 = now_mono();
                                s->first_publish = now_real();
                        }
                        rc = mosquitto_publish_v5(mosq, NULL, topic, (int) len, payload, o->qos, false, NULL);
                        if (rc != MOSQ_ERR_SUCCESS) {
                                fprintf(stderr, "bench-publisher: publish: %s\n", mosquitto_strerror(rc));
                                return 1;
                        }
                        s->sent++;
                }
                rc = loop_once(mosq, 1000);
                if (rc != MOSQ_ERR_SUCCESS)
                        break;
        }
        t1 = now_mono();
        if (rc != MOSQ_ERR_SUCCESS || s->connected != 1)
                fprintf(stderr, "bench-publisher: link lost after %ld acknowledged: %s\n", s->acked,
                        mosquitto_strerror(rc != MOSQ_ERR_SUCCESS ? rc : s->connect_rc));
        (void) mosquitto_disconnect_v5(mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
        (void) mosquitto_loop_write(mosq, 1);

        double elapsed = t1 - t0;
        printf("messages=%ld acked=%ld failed=%ld size=%d window=%d server_receive_max=%d elapsed_s=%.6f "
               "rate_msgs_per_s=%.1f first_publish_s=%.6f last_ack_s=%.6f cpu_s=%.6f\n",
               s->sent, s->acked, s->failed, o->size, o->window, s->server_receive_max, elapsed,
               elapsed > 0 ? (double) s->acked / elapsed : 0.0, s->first_publish, s->last_ack, cpu_seconds());
        if (s->acked < o->count)
                return 1;
        return s->failed ? 2 : 0;
}

static int run_sub(const Options *o, State *s, struct mosquitto *mosq) {
        double last_activity = now_mono();
        long last_count = 0;
        int rc = MOSQ_ERR_SUCCESS;
        bool timed_out = false;

        while (!s->subscribed && s->connected == 1 && !interrupted && now_mono() - last_activity < 15)
                if ((rc = loop_once(mosq, 100)) != MOSQ_ERR_SUCCESS)
                        break;
        if (!s->subscribed) {
                fprintf(stderr, "bench-publisher: no subscription to '%s'\n", o->topic);
                return 1;
        }
        if (o->ready_file) {
                FILE *f = fopen(o->ready_file, "we");

                if (!f || fclose(f) != 0) {
                        fprintf(stderr, "bench-publisher: cannot create %s: %s\n", o->ready_file, strerror(errno));
                        return 1;
                }
        }
        last_activity = now_mono();
        while (s->received < o->count && s->connected == 1 && !interrupted) {
                rc = loop_once(mosq, 100);
                if (rc != MOSQ_ERR_SUCCESS)
                        break;
                if (s->received + s->duplicates != last_count) {
                        last_count = s->received + s->duplicates;
                        last_activity = now_mono();
                } else if (now_mono() - last_activity > o->timeout_sec) {
                        timed_out = true;
                        break;
                }
        }
        if (s->received < o->count && !timed_out)
                fprintf(stderr, "bench-publisher: link lost after %ld messages: %s\n", s->received,
                        mosquitto_strerror(rc != MOSQ_ERR_SUCCESS ? rc : s->connect_rc));
        (void) mosquitto_disconnect_v5(mosq, MQTT_RC_NORMAL_DISCONNECTION, NULL);
        (void) mosquitto_loop_write(mosq, 1);

        double elapsed = s->received > 0 ? s->last_arrival - s->first_arrival : 0;
        printf("messages=%ld duplicates=%ld elapsed_s=%.6f rate_msgs_per_s=%.1f first_arrival_s=%.6f "
               "last_arrival_s=%.6f cpu_s=%.6f\n",
               s->received, s->duplicates, elapsed, elapsed > 0 ? (double) (s->received - 1) / elapsed : 0.0,
               s->first_arrival, s->last_arrival, cpu_seconds());
        if (timed_out)
                fprintf(stderr, "bench-publisher: %ld of %ld messages, then nothing for %.0f s\n", s->received,
                        o->count, o->timeout_sec);
        return s->received >= o->count ? 0 : 3;
}

static void usage(FILE *f) {
        fputs("Usage: bench-publisher pub|sub --port P --topic T --count N [OPTIONS]\n"
              "  --host H            broker address (127.0.0.1)\n"
              "  --port P            broker port\n"
              "  --cafile F --cert F --key F   TLS with a client certificate\n"
              "  --user U --password-file F    user name and password\n"
              "  --client-id ID      MQTT client id (bench-pub-PID / bench-sub-PID)\n"
              "  --topic T           pub: topic, \"{n}\" replaced by dev-NNNN; sub: topic filter\n"
              "  --count N           messages to publish, or to wait for\n"
              "  --size BYTES        payload size (200)\n"
              "  --json              valid hub device JSON payloads\n"
              "  --devices D         device ids for \"{n}\" (100)\n"
              "  --window W          unacknowledged messages at most (64)\n"
              "  --qos Q             0 or 1 (1)\n"
              "  --timeout SEC       sub: give up after SEC seconds with nothing new (30)\n"
              "  --ready-file F      sub: create F once subscribed\n",
              f);
}

int main(int argc, char **argv) {
        enum { O_HOST = 256, O_PORT, O_CAFILE, O_CERT, O_KEY, O_USER, O_PWFILE, O_CLIENT_ID, O_TOPIC, O_COUNT,
               O_SIZE, O_JSON, O_DEVICES, O_WINDOW, O_QOS, O_TIMEOUT, O_READY };
        static const struct option opts[] = {
                { "host", required_argument, NULL, O_HOST },       { "port", required_argument, NULL, O_PORT },
                { "cafile", required_argument, NULL, O_CAFILE },   { "cert", required_argument, NULL, O_CERT },
                { "key", required_argument, NULL, O_KEY },         { "user", required_argument, NULL, O_USER },
                { "password-file", required_argument, NULL, O_PWFILE },
                { "client-id", required_argument, NULL, O_CLIENT_ID },
                { "topic", required_argument, NULL, O_TOPIC },     { "count", required_argument, NULL, O_COUNT },
                { "size", required_argument, NULL, O_SIZE },       { "json", no_argument, NULL, O_JSON },
                { "devices", required_argument, NULL, O_DEVICES }, { "window", required_argument, NULL, O_WINDOW },
                { "qos", required_argument, NULL, O_QOS },         { "timeout", required_argument, NULL, O_TIMEOUT },
                { "ready-file", required_argument, NULL, O_READY },
                { "help", no_argument, NULL, 'h' },                {},
        };
        Options o = { .host = "127.0.0.1", .qos = 1, .window = 64, .devices = 100, .size = 200, .timeout_sec = 30 };
        State s = { .o = &o };
        struct mosquitto *mosq;
        int c, r;

        if (argc < 2 || (strcmp(argv[1], "pub") != 0 && strcmp(argv[1], "sub") != 0)) {
                usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
                return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 1;
        }
        o.sub = strcmp(argv[1], "sub") == 0;
        optind = 2;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case O_HOST: o.host = optarg; break;
                case O_PORT: o.port = atoi(optarg); break;
                case O_CAFILE: o.cafile = optarg; break;
                case O_CERT: o.cert = optarg; break;
                case O_KEY: o.key = optarg; break;
                case O_USER: o.user = optarg; break;
                case O_PWFILE: o.password_file = optarg; break;
                case O_CLIENT_ID: o.client_id = optarg; break;
                case O_TOPIC: o.topic = optarg; break;
                case O_COUNT: o.count = atol(optarg); break;
                case O_SIZE: o.size = atoi(optarg); break;
                case O_JSON: o.json = true; break;
                case O_DEVICES: o.devices = atoi(optarg); break;
                case O_WINDOW: o.window = atoi(optarg); break;
                case O_QOS: o.qos = atoi(optarg); break;
                case O_TIMEOUT: o.timeout_sec = atof(optarg); break;
                case O_READY: o.ready_file = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 1;
                }
        }
        if (optind != argc || o.port <= 0 || o.port > 65535 || !o.topic || o.count <= 0 || o.size < 1 ||
            o.size > PAYLOAD_MAX / 2 || o.devices < 1 || o.window < 1 || o.window > 65535 || (o.qos != 0 && o.qos != 1) ||
            o.timeout_sec <= 0 || (o.cert && !o.cafile) || (!o.cert != !o.key) || (o.password_file && !o.user)) {
                usage(stderr);
                return 1;
        }

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGPIPE, SIG_IGN);
        mosquitto_lib_init();
        mosq = client_connect(&o, &s);
        if (!mosq) {
                mosquitto_lib_cleanup();
                return 1;
        }
        r = o.sub ? run_sub(&o, &s, mosq) : run_pub(&o, &s, mosq);
        fflush(stdout);
        mosquitto_destroy(mosq);
        mosquitto_lib_cleanup();
        free(s.seen);
        return r;
}
