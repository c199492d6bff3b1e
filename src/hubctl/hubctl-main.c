/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <time.h>

#include "config.h"
#include "hubctl.h"
#include "hubguard/bus-util.h"
#include "hubguard/log.h"
#include "hubguard/validate.h"

static const HubctlVerb verbs[] = {
        { "status", "Show whether each domain is reachable, its version and state", verb_status_usage,
          verb_status },
        { "provision", "Show the first-boot provisioning, reveal the initial password", verb_provision_usage,
          verb_provision },
        { "password", "Set or change the admin password", verb_password_usage, verb_password },
        { "identity", "Show the device identity, export its CSR, install its certificate", verb_identity_usage,
          verb_identity },
        { "telemetry", "Show whether telemetry reaches the cloud, what waits or was dropped, anomalies",
          verb_telemetry_usage, verb_telemetry },
        { "security-report", "Assess this hub against EN 303 645 from live evidence", verb_security_report_usage,
          verb_security_report },
        { "data", "Show, export or erase the personal data the hub keeps", verb_data_usage, verb_data },
        { "consent", "List, grant or revoke consent to optional processing", verb_consent_usage, verb_consent },
        { "factory-reset", "Erase all user data; the hub provisions itself anew", verb_factory_reset_usage,
          verb_factory_reset },
};

static void help(void) {
        printf("hubctl [OPTIONS...] COMMAND [ARGS...]\n\n"
               "Control and inspect the hubguard security core of this hub.\n\n"
               "Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-16s %s\n", verbs[i].name, verbs[i].summary);
        printf("  %-16s %s\n", "help", "Show this help, or a command's help");
        printf("\nOptions:\n"
               "  -h --help     Show this help\n"
               "     --version  Show the version\n"
               "     --json     Print machine-readable JSON (every read command)\n\n"
               "Run 'hubctl COMMAND --help' for a command's options. See hubctl(1).\n");
}

static const HubctlVerb *find_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verbs[i].name, name))
                        return &verbs[i];
        return NULL;
}

static int usage_error(const char *what, const char *arg) {
        fprintf(stderr, "hubctl: unknown %s '%s'.\nTry 'hubctl --help'.\n", what, arg);
        return HUBCTL_EXIT_USAGE;
}

/* The option getopt just refused, as the user typed it: "-x" from a cluster, or the whole "--long". */
static const char *bad_option(char *argv[], char buf[static 3]) {
        if (optopt > 0 && optopt < 0x100) {
                buf[0] = '-';
                buf[1] = (char) optopt;
                buf[2] = '\0';
                return buf;
        }
        return argv[optind - 1];
}

int hubctl_bus_open(sd_bus **ret) {
        int r;

        r = sd_bus_open_system(ret);
        if (r < 0) {
                fprintf(stderr,
                        "hubctl: cannot connect to the system bus at '%s': %s.\n"
                        "Is dbus running? For a devstack, source the devstack.env file it printed.\n",
                        bus_system_address(), strerror(-r));
                return r;
        }
        bus_register_errors();
        return 0;
}

int hubctl_callv(sd_bus *bus, const char *destination, const char *path, const char *interface, const char *member,
                 uint64_t timeout_usec, bool sensitive, sd_bus_message **ret, sd_bus_error *error, const char *types,
                 va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, destination, path, interface, member);
        if (r < 0)
                return r;
        if (sensitive)
                (void) sd_bus_message_sensitive(m);
        if (types) {
                r = sd_bus_message_appendv(m, types, ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_call(bus, m, timeout_usec, error, ret);
}

int hubctl_print_json(json_t *o) {
        int r;

        if (!o)
                return HUBCTL_EXIT_FAILURE;
        r = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        putchar('\n');
        return r < 0 || fflush(stdout) != 0 ? HUBCTL_EXIT_FAILURE : HUBCTL_EXIT_OK;
}

void hubctl_format_time(uint64_t usec, char *buf, size_t size) {
        time_t t = (time_t) (usec / 1000000ULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                (void) snprintf(buf, size, "?");
}

void hubctl_copy_string(char *dst, size_t size, const char *src) {
        (void) snprintf(dst, size, "%s", string_is_safe(src, size - 1) ? src : "?");
}

int hubctl_usage_error(const char *verb, const char *message) {
        fprintf(stderr, "hubctl %s: %s.\nTry 'hubctl %s --help'.\n", verb, message, verb);
        return HUBCTL_EXIT_USAGE;
}

int hubctl_verb_options(int argc, char *argv[], const char *usage, const char *allowed, HubctlOptions *o,
                        int *ret_first) {
        enum { ARG_JSON = 0x100, ARG_STDIN };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "stdin", no_argument, NULL, ARG_STDIN },
                {},
        };
        int c;

        /* Options may follow the sub-command ("identity csr -o FILE"): no '+', GNU getopt permutes. */
        optind = 0; /* GNU getopt: start afresh on this argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0) {
                /* Every verb parses the same options; each accepts only those that mean something to it. */
                const char *which = c == ARG_JSON ? "--json" : c == ARG_STDIN ? "--stdin" : c == 'o' ? "-o" : NULL;

                if (which && !strchr(allowed, c == ARG_JSON ? 'j' : c == ARG_STDIN ? 's' : 'o')) {
                        fprintf(stderr, "hubctl %s: option '%s' does not apply here.\nTry 'hubctl %s --help'.\n",
                                argv[0], which, argv[0]);
                        return -HUBCTL_EXIT_USAGE;
                }
                switch (c) {
                case 'h':
                        fputs(usage, stdout);
                        return 1;
                case ARG_JSON:
                        o->json = true;
                        break;
                case ARG_STDIN:
                        o->stdin_secrets = true;
                        break;
                case 'o':
                        o->output = optarg;
                        break;
                case ':':
                        fprintf(stderr, "hubctl %s: option '%s' needs a value.\nTry 'hubctl %s --help'.\n",
                                argv[0], argv[optind - 1], argv[0]);
                        return -HUBCTL_EXIT_USAGE;
                default: {
                        char buf[3];

                        fprintf(stderr, "hubctl %s: unknown option '%s'.\nTry 'hubctl %s --help'.\n", argv[0],
                                bad_option(argv, buf), argv[0]);
                        return -HUBCTL_EXIT_USAGE;
                }
                }
        }
        *ret_first = optind;
        return 0;
}

int hubctl_main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_JSON };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        HubctlOptions o = {};
        const HubctlVerb *v;
        int c;

        /* sodium_malloc() for passwords needs it, and aborts without it. */
        if (sodium_init() < 0) {
                fprintf(stderr, "hubctl: libsodium failed to initialise.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        log_setup("hubctl");
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_WARNING);

        /* '+': stop at the command; what follows belongs to it. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return HUBCTL_EXIT_OK;
                case ARG_VERSION:
                        printf("hubctl %s\n", PROJECT_VERSION);
                        return HUBCTL_EXIT_OK;
                case ARG_JSON:
                        o.json = true;
                        break;
                default: {
                        char buf[3];

                        return usage_error("option", bad_option(argv, buf));
                }
                }

        if (optind >= argc) {
                fprintf(stderr, "hubctl: missing command.\nTry 'hubctl --help'.\n");
                return HUBCTL_EXIT_USAGE;
        }
        if (streq(argv[optind], "help")) {
                if (optind + 1 >= argc) {
                        help();
                        return HUBCTL_EXIT_OK;
                }
                v = find_verb(argv[optind + 1]);
                if (!v)
                        return usage_error("command", argv[optind + 1]);
                fputs(v->usage, stdout);
                return HUBCTL_EXIT_OK;
        }
        v = find_verb(argv[optind]);
        if (!v)
                return usage_error("command", argv[optind]);

        optind++;
        return v->run(argc - optind + 1, argv + optind - 1, &o);
}
