/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubctl factory-reset: erase all user data of every domain; the hub provisions itself anew. */

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "hubctl.h"
#include "hubguard/bus-util.h"
#include "hubguard/validate.h"

const char verb_factory_reset_usage[] =
        "hubctl factory-reset [--yes]\n"
        "hubctl factory-reset result [--json]\n\n"
        "Erase all user data of every domain: the personal data store, the admin credentials and\n"
        "device keys, the telemetry outbox, the data other hub apps declare in privacy.d, and the\n"
        "journal's files. The hub then restarts its services and provisions itself anew: a new unique\n"
        "password, new keys. Asks for confirmation unless --yes. Needs root.\n\n"
        "  result      What the last reset did, store by store\n\n"
        "  -h --help   Show this help\n"
        "  -y --yes    Do not ask\n"
        "     --json   Print the result as JSON (result)\n\n"
        "Exit status: 0 on success, 1 on failure or if not confirmed, 2 on a usage error.\n";

static int show_result(sd_bus *bus, bool as_json) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        json_t *o, *stores, *v;
        const char *text, *id = NULL;
        json_int_t completed = 0;
        char when[64];
        size_t i;
        int r;

        r = hubctl_privacy_call(bus, "FactoryResetResult", &reply, &error, NULL);
        if (r < 0)
                return hubctl_privacy_failed("factory-reset result", &error, r);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0) {
                fprintf(stderr, "hubctl factory-reset result: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (!text[0]) {
                if (as_json)
                        return hubctl_print_json(json_null());
                printf("This hub has not been reset.\n");
                return HUBCTL_EXIT_OK;
        }
        o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (!o || json_unpack(o, "{s:s, s:I, s:o}", "request_id", &id, "completed_usec", &completed, "stores", &stores) < 0 ||
            !string_is_safe(id, 64)) {
                json_decref(o);
                fprintf(stderr, "hubctl factory-reset result: malformed result.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (as_json)
                return hubctl_print_json(o);
        hubctl_format_time((uint64_t) completed, when, sizeof when);
        printf("Factory reset %s, completed %s\n", id, when);
        json_array_foreach(stores, i, v) {
                const char *store = NULL, *result = NULL;

                if (json_unpack(v, "{s:s, s:s}", "store", &store, "result", &result) == 0 && string_is_safe(store, 64) &&
                    string_is_safe(result, 2048))
                        printf("  %-16s %s\n", store, result);
        }
        json_decref(o);
        return HUBCTL_EXIT_OK;
}

int verb_factory_reset(int argc, char *argv[], const HubctlOptions *global) {
        enum { ARG_JSON = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "yes", no_argument, NULL, 'y' },
                { "json", no_argument, NULL, ARG_JSON },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool yes = false, json = global->json, result;
        const char *id;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "hy", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(verb_factory_reset_usage, stdout);
                        return HUBCTL_EXIT_OK;
                case 'y':
                        yes = true;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                default:
                        return hubctl_usage_error("factory-reset", "unknown option");
                }
        result = optind < argc && streq(argv[optind], "result");
        if (argc - optind > (result ? 1 : 0))
                return hubctl_usage_error("factory-reset", "expects no argument, or 'result'");
        if (json && !result)
                return hubctl_usage_error("factory-reset", "--json goes with 'result' only");
        if (yes && result)
                return hubctl_usage_error("factory-reset", "--yes does not apply to 'result'");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        if (result)
                return show_result(bus, json);

        if (!yes) {
                char answer[16] = "";

                if (!isatty(STDIN_FILENO)) {
                        fprintf(stderr, "hubctl factory-reset: not confirmed (no terminal to ask on); use --yes.\n");
                        return HUBCTL_EXIT_FAILURE;
                }
                printf("This erases ALL user data of this hub: household members and their data, the admin\n"
                       "password, the device keys, queued telemetry, app data and the journal. It cannot be undone.\n"
                       "Type 'yes' to reset: ");
                fflush(stdout);
                if (!fgets(answer, sizeof answer, stdin) || !streq(answer, "yes\n")) {
                        fprintf(stderr, "hubctl factory-reset: not confirmed; nothing was changed.\n");
                        return HUBCTL_EXIT_FAILURE;
                }
        }
        r = hubctl_privacy_call(bus, "FactoryReset", &reply, &error, NULL);
        if (r < 0)
                return hubctl_privacy_failed("factory-reset", &error, r);
        r = sd_bus_message_read(reply, "s", &id);
        if (r < 0 || !string_is_safe(id, 64)) {
                fprintf(stderr, "hubctl factory-reset: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        printf("Factory reset %s started: the services stop, every domain's data is erased, and the hub\n"
               "starts again with a new password and new keys. 'hubctl factory-reset result' tells what was done.\n",
               id);
        return HUBCTL_EXIT_OK;
}
