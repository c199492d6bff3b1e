/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <jansson.h>
#include <stdio.h>

#include "config.h"
#include "hubctl.h"
#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/conf.h"
#include "hubguard/validate.h"

const char verb_status_usage[] =
        "hubctl status [--json]\n\n"
        "Ask each domain (identity, telemetry, privacy) over D-Bus whether it is reachable, its\n"
        "version and its state. Needs root or membership in group hubadmin.\n\n"
        "  -h --help   Show this help\n"
        "     --json   Print {\"healthy\": BOOL, \"domains\": {NAME: {\"reachable\": BOOL,\n"
        "              \"version\": STRING|null, \"state\": STRING|null, \"error\": STRING}},\n"
        "              \"security_contact\": URI, \"support_end\": \"YYYY-MM-DD\"}\n\n"
        "It also shows where to report a vulnerability and until when this release gets security\n"
        "updates (EN 303 645 5.2-1, 5.3-13); 'hubctl security-report' checks them.\n\n"
        "Exit status: 0 if every domain is reachable and running (telemetry: online), 1 otherwise,\n"
        "2 on a usage error. 'hubctl telemetry status' says why telemetry is offline or degraded.\n";

/* Longest property string we show; a daemon that sends more is not well. */
#define STATUS_STRING_MAX 256

typedef struct DomainStatus {
        const char *name, *bus_name, *path, *iface;
        bool reachable;
        char version[STATUS_STRING_MAX + 1];
        char state[STATUS_STRING_MAX + 1];
        char error[512];
} DomainStatus;

static int read_properties(sd_bus_message *reply, DomainStatus *s) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *value;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "Version") || streq(name, "State")) {
                        r = sd_bus_message_read(reply, "v", "s", &value);
                        if (r < 0)
                                return r;
                        hubctl_copy_string(streq(name, "Version") ? s->version : s->state, STATUS_STRING_MAX + 1, value);
                } else {
                        r = sd_bus_message_skip(reply, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

static void query_domain(sd_bus *bus, DomainStatus *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, s->bus_name, s->path, "org.freedesktop.DBus.Properties",
                                           "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", s->iface);
        if (r >= 0)
                r = sd_bus_call(bus, m, HUBCTL_CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                if (bus_error_is_unreachable(&error))
                        (void) snprintf(s->error, sizeof s->error, "not running (%s is not on the bus)",
                                        s->bus_name);
                else if (sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED))
                        (void) snprintf(s->error, sizeof s->error,
                                        "permission denied: run as root or as a member of group %s",
                                        HUB_ADMIN_GROUP_NAME);
                else if (r == -ETIMEDOUT || sd_bus_error_has_name(&error, SD_BUS_ERROR_TIMEOUT))
                        (void) snprintf(s->error, sizeof s->error, "no answer within %llu s",
                                        HUBCTL_CALL_TIMEOUT_USEC / 1000000ULL);
                else
                        (void) snprintf(s->error, sizeof s->error, "%s",
                                        error.message ? error.message : strerror(-r));
                return;
        }
        r = read_properties(reply, s);
        if (r < 0) {
                (void) snprintf(s->error, sizeof s->error, "malformed answer: %s", strerror(-r));
                return;
        }
        s->reachable = true;
}

/* "online" is hub-telemetryd's running: its cloud link is up. */
static bool domain_healthy(const DomainStatus *s) {
        return s->reachable && (streq(s->state, "running") || streq(s->state, "online"));
}

static int print_json(const DomainStatus *st, size_t n, bool healthy) {
        json_t *root, *domains;

        root = json_object();
        domains = json_object();
        if (!root || !domains) {
                json_decref(root);
                json_decref(domains);
                return -ENOMEM;
        }
        (void) json_object_set_new(root, "healthy", json_boolean(healthy));
        for (size_t i = 0; i < n; i++) {
                const DomainStatus *s = &st[i];
                json_t *d = json_pack("{s:b, s:o, s:o}", "reachable", s->reachable, "version",
                                      s->reachable ? json_string(s->version) : json_null(), "state",
                                      s->reachable ? json_string(s->state) : json_null());

                if (!d || (!s->reachable && json_object_set_new(d, "error", json_string(s->error)) < 0) ||
                    json_object_set_new(domains, s->name, d) < 0) {
                        json_decref(root);
                        json_decref(domains);
                        return -ENOMEM;
                }
        }
        (void) json_object_set_new(root, "domains", domains);
        if (json_object_set_new(root, "security_contact", json_string(SECURITY_CONTACT)) < 0 ||
            json_object_set_new(root, "support_end", json_string(SUPPORT_END)) < 0) {
                json_decref(root);
                return -ENOMEM;
        }
        return hubctl_print_json(root) == HUBCTL_EXIT_OK ? 0 : -EIO;
}

static void print_text(const DomainStatus *st, size_t n, bool healthy) {
        printf("%-10s %-12s %-9s %s\n", "DOMAIN", "STATE", "VERSION", "NOTE");
        for (size_t i = 0; i < n; i++) {
                const DomainStatus *s = &st[i];

                if (s->reachable)
                        printf("%-10s %-12s %s\n", s->name, s->state, s->version);
                else
                        printf("%-10s %-12s %-9s %s\n", s->name, "unreachable", "-", s->error);
        }
        printf("\n%s\n", healthy ? "All domains are healthy." : "Not all domains are healthy.");
        printf("\nReport vulnerabilities to: %s\nSecurity updates until:    %s\n", SECURITY_CONTACT, SUPPORT_END);
}

int verb_status(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        DomainStatus st[] = {
                { "identity", HUB_BUS_NAME_IDENTITY, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY },
                { "telemetry", HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY, HUB_BUS_IFACE_TELEMETRY },
                { "privacy", HUB_BUS_NAME_PRIVACY, HUB_BUS_PATH_PRIVACY, HUB_BUS_IFACE_PRIVACY },
        };
        HubctlOptions o = *global;
        bool healthy = true;
        int first, r;

        r = hubctl_verb_options(argc, argv, verb_status_usage, "j", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (first < argc) {
                fprintf(stderr, "hubctl status: takes no arguments ('%s').\nTry 'hubctl status --help'.\n",
                        argv[first]);
                return HUBCTL_EXIT_USAGE;
        }

        r = hubctl_bus_open(&bus);
        if (r < 0)
                return HUBCTL_EXIT_FAILURE;

        for (size_t i = 0; i < ELEMENTSOF(st); i++) {
                query_domain(bus, &st[i]);
                healthy = healthy && domain_healthy(&st[i]);
        }

        if (o.json)
                r = print_json(st, ELEMENTSOF(st), healthy);
        else
                print_text(st, ELEMENTSOF(st), healthy);
        if (r < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "hubctl status: cannot write the output.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        return healthy ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
}
