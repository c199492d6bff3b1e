/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The daemon frame. Unlike the rest of src/shared this file is daemon code, so it logs at every
 * level: it is only linked into the daemons.
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "hubguard/bus-util.h"
#include "hubguard/daemon.h"
#include "hubguard/log.h"
#include "hubguard/message-ids.h"

#define LOG_CONTROL_PATH "/org/freedesktop/LogControl1"
#define LOG_CONTROL_IFACE "org.freedesktop.LogControl1"

int hub_property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PROJECT_VERSION);
}

int hub_property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        HubDaemon *d = userdata;

        return sd_bus_message_append(reply, "s", d->state);
}

void hub_daemon_set_state(HubDaemon *d, const char *state) {
        if (streq_ptr(d->state, state))
                return;
        d->state = state;
        if (d->bus)
                (void) sd_bus_emit_properties_changed(d->bus, d->ops->bus_path, d->ops->bus_iface, "State",
                                                      NULL);
        (void) sd_notifyf(false, "STATUS=%c%s.", state[0] - 'a' + 'A', state + 1);
}

/* org.freedesktop.LogControl1, as systemd's daemons serve it: `busctl set-property` changes the level. */

static int property_get_log_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

static int property_get_log_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_target_to_string(log_get_target()));
}

static int property_get_syslog_identifier(sd_bus *bus, const char *path, const char *interface,
                                          const char *property, sd_bus_message *reply, void *userdata,
                                          sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_get_identifier());
}

static int property_set_log(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *value, void *userdata, sd_bus_error *error) {
        sd_bus_message *m = sd_bus_get_current_message(bus);
        const char *s;
        uid_t uid = (uid_t) -1;
        int r, v;

        /* read, validate, authorise, act */
        r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        v = streq(property, "LogLevel") ? log_level_from_string(s) : (int) log_target_from_string(s);
        if (v < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Invalid %s '%.64s'.", property,
                                         s);
        r = bus_verify_caller(m, &(BusAccess) {}, &uid, error);
        if (r <= 0) {
                log_struct(LOG_NOTICE, MESSAGE_ID_ACCESS_DENIED, STRV("HUBGUARD_MEMBER=LogControl1.Set"),
                           "Refused to change %s for uid %u.", property, (unsigned) uid);
                return r < 0 ? r : -EACCES;
        }

        if (streq(property, "LogLevel"))
                log_set_max_level(v);
        else
                log_set_target((LogTarget) v);
        log_info("%s set to '%s' by uid %u.", property, s, (unsigned) uid);
        return 0;
}

/*
 * SD_BUS_VTABLE_UNPRIVILEGED turns off sd-bus's own CAP_SYS_ADMIN test, which reads the caller's
 * capabilities from /proc (racy) and cannot express "group hubadmin": every hubguard member that
 * changes state is UNPRIVILEGED and calls bus_verify_caller() itself, behind the bus policy.
 */
static const sd_bus_vtable log_control_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", property_get_log_level, property_set_log, 0,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_WRITABLE_PROPERTY("LogTarget", "s", property_get_log_target, property_set_log, 0,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("SyslogIdentifier", "s", property_get_syslog_identifier, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

static void help(const HubDaemonOps *ops) {
        printf("%s [OPTIONS...]\n\n"
               "%s\n\n"
               "  -h --help            Show this help and exit\n"
               "     --version         Show the version and exit\n"
               "     --check-config    Check the configuration, print the first error, and exit\n"
               "     --dump-config     Print the effective configuration and exit\n"
               "     --config-dir=DIR  Read DIR/hubguard.conf and DIR/hubguard.conf.d/*.conf\n"
               "                       (default: %s)\n\n"
               "State lives in $STATE_DIRECTORY (set by systemd), else " STATE_DIR "/%s.\n"
               "See %s(8) and hubguard.conf(5).\n",
               ops->program, ops->description, CONF_DIR_DEFAULT, hub_domain_to_string(ops->domain),
               ops->program);
}

typedef enum DaemonAction { ACTION_RUN, ACTION_EXIT_OK, ACTION_CHECK_CONFIG, ACTION_DUMP_CONFIG } DaemonAction;

/* Returns the action, or -EINVAL after printing a usage error. */
static int parse_argv(const HubDaemonOps *ops, int argc, char *argv[], HubDaemon *d) {
        enum { ARG_VERSION = 0x100, ARG_CHECK_CONFIG, ARG_DUMP_CONFIG, ARG_CONFIG_DIR };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "check-config", no_argument, NULL, ARG_CHECK_CONFIG },
                { "dump-config", no_argument, NULL, ARG_DUMP_CONFIG },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                {},
        };
        DaemonAction action = ACTION_RUN;
        int c;

        opterr = 0;
        /* A leading ':' makes getopt report a missing value as ':' rather than as an unknown option. */
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help(ops);
                        return ACTION_EXIT_OK;
                case ARG_VERSION:
                        printf("%s %s\n", ops->program, PROJECT_VERSION);
                        return ACTION_EXIT_OK;
                case ARG_CHECK_CONFIG:
                        action = ACTION_CHECK_CONFIG;
                        break;
                case ARG_DUMP_CONFIG:
                        action = ACTION_DUMP_CONFIG;
                        break;
                case ARG_CONFIG_DIR:
                        free(d->confdir);
                        d->confdir = strdup(optarg);
                        if (!d->confdir)
                                return log_oom();
                        break;
                case ':':
                        fprintf(stderr, "%s: option '%s' needs a value. Try '%s --help'.\n", ops->program,
                                argv[optind - 1], ops->program);
                        return -EINVAL;
                default:
                        if (optopt > 0 && optopt < 0x100)
                                fprintf(stderr, "%s: unknown option '-%c'. Try '%s --help'.\n", ops->program,
                                        optopt, ops->program);
                        else
                                fprintf(stderr, "%s: unknown option '%s'. Try '%s --help'.\n", ops->program,
                                        argv[optind - 1], ops->program);
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "%s: takes no arguments ('%s'). Try '%s --help'.\n", ops->program,
                        argv[optind], ops->program);
                return -EINVAL;
        }
        return action;
}

static int load_config(HubDaemon *d, bool quiet) {
        ConfigError err = {};
        char buf[1024];
        int r;

        r = config_load(d->confdir, &d->config, &err);
        if (r < 0) {
                config_error_format(&err, buf, sizeof buf);
                if (quiet)
                        fprintf(stderr, "%s\n", buf);
                else
                        log_struct(LOG_ERR, MESSAGE_ID_CONFIG_INVALID, STRV("HUBGUARD_CONFIG_ERROR=1"),
                                   "Invalid configuration: %s", buf);
                return r;
        }
        log_set_max_level(config_log_level(&d->config, d->ops->domain));
        return 0;
}

static int setup_state_dir(HubDaemon *d) {
        const char *e = getenv("STATE_DIRECTORY");
        struct stat st;

        /* systemd may pass several directories separated by ':'; ours is the first. */
        if (e && e[0] == '/')
                d->state_dir = strndup(e, strcspn(e, ":"));
        else if (asprintf(&d->state_dir, STATE_DIR "/%s", hub_domain_to_string(d->ops->domain)) < 0)
                d->state_dir = NULL;
        if (!d->state_dir)
                return log_oom();

        if (stat(d->state_dir, &st) < 0)
                return log_error_errno(errno,
                                       "State directory '%s' is not usable: %m. "
                                       "It is created by systemd (StateDirectory=) or by tests/devstack.",
                                       d->state_dir);
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(ENOTDIR, "State directory '%s' is not a directory.", d->state_dir);
        if (st.st_mode & 0077)
                log_warning("State directory '%s' is accessible to others (mode %04o); it should be 0700.",
                            d->state_dir, (unsigned) (st.st_mode & 07777));
        return 0;
}

static int open_database(HubDaemon *d) {
        char path[PATH_MAX];
        DbOpenInfo info;
        int r;

        if (snprintf(path, sizeof path, "%s/%s.db", d->state_dir, hub_domain_to_string(d->ops->domain)) >=
            (int) sizeof path)
                return log_error_errno(ENAMETOOLONG, "State directory path too long.");

        r = db_open(path, d->ops->migrations, d->ops->n_migrations, &d->db, &info);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "Database '%s' has a newer schema than %s %s knows; refusing to "
                                          "touch it. Install the newer version again.",
                                       path, d->ops->program, PROJECT_VERSION);
        if (r < 0)
                return log_error_errno(r, "Failed to open database '%s': %m", path);

        if (info.rebuilt) {
                char f1[PATH_MAX + 32], f2[PATH_MAX + 32];

                (void) snprintf(f1, sizeof f1, "HUBGUARD_DB_PATH=%s", path);
                (void) snprintf(f2, sizeof f2, "HUBGUARD_DB_MOVED_TO=%s", info.moved_to);
                log_struct(LOG_WARNING, MESSAGE_ID_DB_REBUILT, STRV(f1, f2),
                           "Database '%s' was corrupt: moved aside to '%s' and rebuilt empty. "
                           "Its previous content is lost.",
                           path, info.moved_to);
        } else if (info.old_version != info.version)
                log_info("Database '%s' migrated from schema %d to %d.", path, info.old_version, info.version);
        if (info.exclusive)
                log_warning("No room on the file system for the index of database '%s': opened for this "
                            "process alone until it restarts; no other program can read the file meanwhile.",
                            path);
        return 0;
}

static int setup_bus(HubDaemon *d) {
        const HubDaemonOps *ops = d->ops;
        int r;

        r = sd_bus_open_system(&d->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus at '%s': %m. Is dbus running?",
                                       bus_system_address());
        bus_register_errors();
        if (ops->errors)
                (void) sd_bus_error_add_map(ops->errors);

        r = sd_bus_add_object_vtable(d->bus, NULL, ops->bus_path, ops->bus_iface, ops->vtable, d);
        if (r < 0)
                return log_error_errno(r, "Failed to register %s: %m", ops->bus_iface);
        r = sd_bus_add_object_vtable(d->bus, NULL, LOG_CONTROL_PATH, LOG_CONTROL_IFACE, log_control_vtable, d);
        if (r < 0)
                return log_error_errno(r, "Failed to register %s: %m", LOG_CONTROL_IFACE);
        r = sd_bus_add_object_manager(d->bus, NULL, ops->bus_path);
        if (r < 0)
                return log_error_errno(r, "Failed to add object manager: %m");

        r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        /* Without the bus we are useless: stop, and let the service manager restart us. */
        r = sd_bus_set_exit_on_disconnect(d->bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit-on-disconnect: %m");
        return 0;
}

static int request_name(HubDaemon *d) {
        const char *name = d->ops->bus_name;
        int r;

        r = sd_bus_request_name(d->bus, name, 0);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "The bus policy does not let this user (uid %u) own '%s'. "
                                          "Is /usr/share/dbus-1/system.d/%s.conf installed, and was the bus "
                                          "reloaded after user creation?",
                                       (unsigned) getuid(), name, name);
        if (r == -EEXIST)
                return log_error_errno(r, "'%s' is already owned by another process; is %s already running?",
                                       name, d->ops->program);
        if (r < 0)
                return log_error_errno(r, "Failed to own '%s': %m", name);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        HubDaemon *d = userdata;

        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1");
        hub_daemon_set_state(d, HUB_STATE_STOPPING);
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int setup_event(HubDaemon *d) {
        sigset_t mask;
        int r;

        r = sd_event_default(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");

        /* sd-event needs the signals blocked before it can watch them. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        /* Sends WATCHDOG=1 at half of $WATCHDOG_USEC while the loop runs; nothing if unset. */
        r = sd_event_set_watchdog(d->event, true);
        if (r < 0)
                return log_error_errno(r, "Failed to enable the watchdog: %m");
        return 0;
}

static void hub_daemon_done(HubDaemon *d) {
        if (d->ops->teardown && d->userdata)
                d->ops->teardown(d);
        d->bus = sd_bus_flush_close_unref(d->bus);
        d->event = sd_event_unref(d->event);
        if (d->db)
                (void) sqlite3_close_v2(d->db);
        config_done(&d->config);
        free(d->confdir);
        free(d->state_dir);
}

static int run(HubDaemon *d) {
        const char *domain = hub_domain_to_string(d->ops->domain);
        char field[64];
        int r;

        /* Every domain holds secrets (the password hash and sealed store, the TLS client key, the
         * subjects' keys): no core dump of them, and no ptrace by other processes of the same user.
         * Before the first secret is read. */
        if (prctl(PR_SET_DUMPABLE, 0) < 0)
                return log_error_errno(errno, "Failed to make the process non-dumpable: %m");
        /* A peer that goes away (the cloud broker, a helper that exits before reading its input) is
         * an EPIPE to handle, not a signal that kills us; systemd's IgnoreSIGPIPE= is not everywhere. */
        if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
                return log_error_errno(errno, "Failed to ignore SIGPIPE: %m");

        r = load_config(d, false);
        if (r < 0)
                return r;
        r = setup_state_dir(d);
        if (r < 0)
                return r;
        r = open_database(d);
        if (r < 0)
                return r;
        r = setup_event(d);
        if (r < 0)
                return r;
        r = setup_bus(d);
        if (r < 0)
                return r;
        if (d->ops->setup) {
                r = d->ops->setup(d);
                if (r < 0)
                        return r;
        }
        r = request_name(d);
        if (r < 0)
                return r;

        /* A domain that tracks its own state (telemetry: online/offline) has set it already. */
        if (streq(d->state, HUB_STATE_STARTING))
                hub_daemon_set_state(d, HUB_STATE_RUNNING);
        (void) sd_notify(false, "READY=1");
        (void) snprintf(field, sizeof field, "HUBGUARD_DOMAIN=%s", domain);
        log_struct(LOG_INFO, MESSAGE_ID_DAEMON_STARTED, STRV(field), "%s %s started, serving %s.",
                   d->ops->program, PROJECT_VERSION, d->ops->bus_name);

        /* 0 after SIGTERM/SIGINT (on_signal); sd-bus exits the loop with EXIT_FAILURE when the bus goes. */
        r = sd_event_loop(d->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        if (r > 0)
                return log_error_errno(ECONNRESET, "Lost the connection to the system bus.");

        log_struct(LOG_INFO, MESSAGE_ID_DAEMON_STOPPED, STRV(field), "%s stopped.", d->ops->program);
        return 0;
}

int hub_daemon_main(const HubDaemonOps *ops, int argc, char *argv[]) {
        HubDaemon d = { .ops = ops, .state = HUB_STATE_STARTING };
        int action, r;

        log_setup(ops->program);
        config_init(&d.config);
        /* What we create is ours alone (systemd's UMask=0077 says the same; the devstack has no unit). */
        umask(0077);

        action = parse_argv(ops, argc, argv, &d);
        if (action < 0 || action == ACTION_EXIT_OK) {
                hub_daemon_done(&d);
                return action < 0 ? 2 : 0;
        }
        if (action == ACTION_CHECK_CONFIG || action == ACTION_DUMP_CONFIG) {
                r = load_config(&d, true);
                if (r >= 0 && action == ACTION_DUMP_CONFIG)
                        config_dump(&d.config, stdout);
                hub_daemon_done(&d);
                return r < 0 ? 1 : 0;
        }

        r = run(&d);
        if (r < 0)
                (void) sd_notifyf(false, "STATUS=Failed: %s\nERRNO=%d", strerror(-r), -r);
        hub_daemon_done(&d);
        return r < 0 ? 1 : 0;
}
