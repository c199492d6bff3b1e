/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The frame every hubguard daemon runs in: command line (--help, --version, --check-config,
 * --dump-config, --config-dir), configuration, logging, the state directory and its SQLite database,
 * one sd-event loop, the bus connection and name, org.freedesktop.LogControl1, sd_notify READY,
 * STATUS, STOPPING and WATCHDOG, and a clean stop on SIGTERM/SIGINT. A domain supplies a HubDaemonOps
 * and its own main() is one line.
 */

#include <sqlite3.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "hubguard/conf.h"
#include "hubguard/db.h"

typedef struct HubDaemon HubDaemon;

/* The values of the Manager's State property common to every domain; domains may add their own. */
#define HUB_STATE_STARTING "starting"
#define HUB_STATE_RUNNING "running"
#define HUB_STATE_DEGRADED "degraded"
#define HUB_STATE_STOPPING "stopping"

typedef struct HubDaemonOps {
        HubDomain domain;
        const char *program;        /* "hub-identityd" */
        const char *description;    /* one line for --help */
        const char *bus_name, *bus_path, *bus_iface;
        const sd_bus_vtable *vtable; /* the Manager interface; userdata is the HubDaemon */
        const sd_bus_error_map *errors; /* may be NULL */
        const DbMigration *migrations;
        size_t n_migrations;
        /* After config, database and bus are ready, before the name is requested. May be NULL. */
        int (*setup)(HubDaemon *d);
        /* Free what setup() made. May be NULL. */
        void (*teardown)(HubDaemon *d);
} HubDaemonOps;

struct HubDaemon {
        const HubDaemonOps *ops;
        sd_event *event;
        sd_bus *bus;
        sqlite3 *db;
        HubConfig config;
        char *confdir;
        char *state_dir;
        const char *state;
        void *userdata; /* the domain's own data, set by setup() */
};

/* Run a daemon: parse argv, run until stopped. Returns the process exit status. */
int hub_daemon_main(const HubDaemonOps *ops, int argc, char *argv[]);

/* Change the State property and emit PropertiesChanged. */
void hub_daemon_set_state(HubDaemon *d, const char *state);

/* The Version and State properties every Manager interface starts with. */
int hub_property_get_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error);
int hub_property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error);

#define HUB_MANAGER_COMMON_PROPERTIES                                                                     \
        SD_BUS_PROPERTY("Version", "s", hub_property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),       \
        SD_BUS_PROPERTY("State", "s", hub_property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

/* The migration every domain's database starts with: a table of facts about the database itself. */
#define HUB_DB_MIGRATION_META                                                                             \
        { 1, "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT;"             \
             "INSERT INTO meta (key, value) VALUES ('created', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));" }
