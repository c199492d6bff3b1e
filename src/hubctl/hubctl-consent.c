/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubctl consent: a household member's consent to optional processing, and its record. */

#include <jansson.h>
#include <stdio.h>

#include "hubctl.h"
#include "hubguard/bus-util.h"

const char verb_consent_usage[] =
        "hubctl consent list [SUBJECT] [--json]\n"
        "hubctl consent grant SUBJECT PURPOSE\n"
        "hubctl consent revoke SUBJECT PURPOSE\n\n"
        "Consent to optional processing (EN 303 645 clause 6): it stays off until granted. A revoke\n"
        "erases what was kept under the consent. Each grant and revoke is recorded with its time.\n"
        "The purposes that need consent are in 'hubctl data inventory'. Needs root or group hubadmin.\n\n"
        "  -h --help   Show this help\n"
        "     --json   Print [{\"subject\", \"purpose\", \"granted\", \"changed\"}] (list)\n\n"
        "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n";

static int consent_list(sd_bus *bus, const char *subject, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *s, *p;
        json_t *a = json_array();
        uint64_t changed;
        unsigned n = 0;
        int granted, r;

        r = hubctl_privacy_call(bus, "ListConsents", &reply, &error, "s", subject ? subject : "");
        if (r < 0) {
                json_decref(a);
                return hubctl_privacy_failed("consent list", &error, r);
        }
        r = sd_bus_message_enter_container(reply, 'a', "(ssbt)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssbt)", &s, &p, &granted, &changed)) > 0) {
                char subj[64], purpose[64], when[64];

                hubctl_copy_string(subj, sizeof subj, s);
                hubctl_copy_string(purpose, sizeof purpose, p);
                hubctl_format_time(changed, when, sizeof when);
                if (o->json)
                        (void) json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:s}", "subject", subj, "purpose",
                                                                  purpose, "granted", granted, "changed", when));
                else {
                        if (n == 0)
                                printf("%-32s  %-20s  %-8s  %s\n", "SUBJECT", "PURPOSE", "CONSENT", "SINCE");
                        printf("%-32s  %-20s  %-8s  %s\n", subj, purpose, granted ? "granted" : "revoked", when);
                }
                n++;
        }
        if (r < 0) {
                json_decref(a);
                fprintf(stderr, "hubctl consent list: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (o->json)
                return hubctl_print_json(a);
        json_decref(a);
        if (n == 0)
                printf("No consent has been granted: optional processing is off.\n");
        return HUBCTL_EXIT_OK;
}

static int consent_set(sd_bus *bus, const char *subject, const char *purpose, bool grant) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t erased = 0;
        int r;

        r = hubctl_privacy_call(bus, grant ? "GrantConsent" : "RevokeConsent", &reply, &error, "ss", subject, purpose);
        if (r < 0)
                return hubctl_privacy_failed(grant ? "consent grant" : "consent revoke", &error, r);
        (void) sd_bus_message_read(reply, "t", &erased);
        if (grant)
                printf("Consent granted.\n");
        else
                printf("Consent revoked; %" PRIu64 " record%s kept under it erased.\n", erased, erased == 1 ? "" : "s");
        return HUBCTL_EXIT_OK;
}

int verb_consent(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        HubctlOptions o = *global;
        int first, r, n;

        r = hubctl_verb_options(argc, argv, verb_consent_usage, "j", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        n = argc - first - 1;
        if (n < 0)
                return hubctl_usage_error("consent", "expects 'list', 'grant' or 'revoke'");
        if (streq(argv[first], "list")) {
                if (n > 1)
                        return hubctl_usage_error("consent", "'list' takes at most one SUBJECT");
        } else if (streq(argv[first], "grant") || streq(argv[first], "revoke")) {
                if (n != 2)
                        return hubctl_usage_error("consent", "expects SUBJECT and PURPOSE");
                if (o.json)
                        return hubctl_usage_error("consent", "--json goes with 'list' only");
        } else
                return hubctl_usage_error("consent", "expects 'list', 'grant' or 'revoke'");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        if (streq(argv[first], "list"))
                return consent_list(bus, n == 1 ? argv[first + 1] : NULL, &o);
        return consent_set(bus, argv[first + 1], argv[first + 2], streq(argv[first], "grant"));
}
