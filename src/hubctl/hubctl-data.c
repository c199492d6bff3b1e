/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubctl data: the personal data hub-privacyd holds: who, what, why, how long; export and erase. */

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hubctl.h"
#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/fileio.h"
#include "hubguard/validate.h"

const char verb_data_usage[] =
        "hubctl data subjects [--json]\n"
        "hubctl data inventory [--json]\n"
        "hubctl data export SUBJECT [-o FILE]\n"
        "hubctl data erase SUBJECT [--json]\n"
        "hubctl data receipts [--json]\n"
        "hubctl data receipt REQUEST-ID [--json]\n\n"
        "The personal data the hub keeps (EN 303 645 5.8, 5.11, clause 6). Needs root or group hubadmin.\n\n"
        "  subjects    The household members the hub keeps data about: id, name, records\n"
        "  inventory   What personal data is held, why, for how long and where it goes\n"
        "  export      A subject's data as one JSON document (data portability)\n"
        "  erase       Erase a subject: its key first, then its data, here and (by request) in the cloud;\n"
        "              prints the receipt\n"
        "  receipts    The erase receipts, with the cloud's acknowledgement\n"
        "  receipt     One erase receipt\n\n"
        "  -h --help   Show this help\n"
        "     --json   Print JSON (subjects, inventory, erase, receipts, receipt)\n"
        "  -o FILE     Write the export to FILE (mode 0600) instead of standard output\n\n"
        "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n";

/* What we accept from hub-privacyd for an export: its own limit. */
#define EXPORT_MAX (1024ULL << 20)

int hubctl_privacy_call(sd_bus *bus, const char *member, sd_bus_message **ret, sd_bus_error *error,
                        const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        /* An erase or export of a large subject takes a while on a small hub. */
        r = hubctl_callv(bus, HUB_BUS_NAME_PRIVACY, HUB_BUS_PATH_PRIVACY, HUB_BUS_IFACE_PRIVACY, member,
                         12 * HUBCTL_CALL_TIMEOUT_USEC, false, ret, error, types, ap);
        va_end(ap);
        return r;
}

int hubctl_privacy_failed(const char *what, const sd_bus_error *e, int r) {
        if (bus_error_is_unreachable(e))
                fprintf(stderr, "hubctl %s: hub-privacyd is not running (start hub-privacyd.service).\n", what);
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                fprintf(stderr, "hubctl %s: permission denied: this needs root or membership in group %s.\n", what,
                        HUB_ADMIN_GROUP_NAME);
        else {
                char msg[512];

                hubctl_copy_string(msg, sizeof msg, e && e->message ? e->message : strerror(-r));
                fprintf(stderr, "hubctl %s: %s\n", what, msg);
        }
        return HUBCTL_EXIT_FAILURE;
}

/* "30 days", "12 hours", "until erased". */
static void format_retention(uint64_t sec, char *buf, size_t size) {
        if (sec == 0)
                (void) snprintf(buf, size, "until erased");
        else if (sec % 86400 == 0)
                (void) snprintf(buf, size, "%" PRIu64 " day%s", sec / 86400, sec == 86400 ? "" : "s");
        else if (sec % 3600 == 0)
                (void) snprintf(buf, size, "%" PRIu64 " hour%s", sec / 3600, sec == 3600 ? "" : "s");
        else
                (void) snprintf(buf, size, "%" PRIu64 " s", sec);
}

static int data_subjects(sd_bus *bus, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id, *label;
        uint64_t created, records;
        json_t *a = json_array();
        unsigned n = 0;
        int r;

        r = hubctl_privacy_call(bus, "ListSubjects", &reply, &error, NULL);
        if (r < 0) {
                json_decref(a);
                return hubctl_privacy_failed("data subjects", &error, r);
        }
        r = sd_bus_message_enter_container(reply, 'a', "(sstt)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sstt)", &id, &label, &created, &records)) > 0) {
                char l[128], i[64], when[64];

                hubctl_copy_string(i, sizeof i, id);
                hubctl_copy_string(l, sizeof l, label);
                hubctl_format_time(created, when, sizeof when);
                if (o->json)
                        (void) json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "id", i, "label", l,
                                                                  "created", when, "records", (json_int_t) records));
                else {
                        if (n == 0)
                                printf("%-32s  %-24s  %-20s  %s\n", "SUBJECT", "NAME", "SINCE", "RECORDS");
                        printf("%-32s  %-24s  %-20s  %" PRIu64 "\n", i, l, when, records);
                }
                n++;
        }
        if (r < 0) {
                json_decref(a);
                fprintf(stderr, "hubctl data subjects: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (o->json)
                return hubctl_print_json(a);
        json_decref(a);
        if (n == 0)
                printf("The hub keeps no personal data about anyone.\n");
        return HUBCTL_EXIT_OK;
}

static int data_inventory(sd_bus *bus, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        json_t *a = json_array();
        int r;

        r = hubctl_privacy_call(bus, "Inventory", &reply, &error, NULL);
        if (r < 0) {
                json_decref(a);
                return hubctl_privacy_failed("data inventory", &error, r);
        }
        if (!o->json)
                printf("Personal data on this hub: what is kept, why, for how long, and who receives it.\n");
        r = sd_bus_message_enter_container(reply, 'a', "(sssastsstt)");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'r', "sssastsstt")) > 0) {
                const char *cat, *desc, *purpose, *consent, *source, *v;
                char c[64], d[256], p[256], cs[64], src[128], keep[64], to[512] = "";
                uint64_t retention, subjects, records;
                json_t *rcpt = json_array();

                r = sd_bus_message_read(reply, "sss", &cat, &desc, &purpose);
                if (r >= 0)
                        r = sd_bus_message_enter_container(reply, 'a', "s");
                while (r >= 0 && (r = sd_bus_message_read(reply, "s", &v)) > 0) {
                        char one[64];

                        hubctl_copy_string(one, sizeof one, v);
                        (void) json_array_append_new(rcpt, json_string(one));
                        if (strlen(to) + strlen(one) + 3 < sizeof to)
                                (void) snprintf(to + strlen(to), sizeof to - strlen(to), "%s%s", to[0] ? ", " : "", one);
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "tsstt", &retention, &consent, &source, &subjects, &records);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0) {
                        json_decref(rcpt);
                        break;
                }
                hubctl_copy_string(c, sizeof c, cat);
                hubctl_copy_string(d, sizeof d, desc);
                hubctl_copy_string(p, sizeof p, purpose);
                hubctl_copy_string(cs, sizeof cs, consent);
                hubctl_copy_string(src, sizeof src, source);
                format_retention(retention, keep, sizeof keep);
                if (o->json) {
                        (void) json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:o, s:I, s:s, s:s, s:I, s:I}",
                                                                  "category", c, "description", d, "purpose", p,
                                                                  "recipients", rcpt, "retention_sec",
                                                                  (json_int_t) retention, "consent", cs, "source", src,
                                                                  "subjects", (json_int_t) subjects, "records",
                                                                  (json_int_t) records));
                        continue;
                }
                json_decref(rcpt);
                printf("\n%s (%s)\n", c, src);
                printf("  What:       %s\n", d);
                printf("  Why:        %s\n", p);
                printf("  Kept:       %s\n", keep);
                printf("  Goes to:    %s\n", to);
                if (cs[0])
                        printf("  Optional:   only with the person's consent '%s' (hubctl consent grant)\n", cs);
                printf("  Held now:   %" PRIu64 " record%s about %" PRIu64 " person%s\n", records,
                       records == 1 ? "" : "s", subjects, subjects == 1 ? "" : "s");
        }
        if (r < 0) {
                json_decref(a);
                fprintf(stderr, "hubctl data inventory: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (o->json)
                return hubctl_print_json(a);
        json_decref(a);
        return HUBCTL_EXIT_OK;
}

static int copy_fd(int from, int to, uint64_t max) {
        char buf[65536];
        uint64_t total = 0;

        for (;;) {
                ssize_t n = read(from, buf, sizeof buf);

                if (n < 0)
                        return -errno;
                if (n == 0)
                        return 0;
                total += (uint64_t) n;
                if (total > max)
                        return -EFBIG;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(to, buf + off, (size_t) (n - off));

                        if (w < 0)
                                return -errno;
                        off += w;
                }
        }
}

static int data_export(sd_bus *bus, const char *subject, const char *out) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        char tmp[PATH_MAX];
        uint64_t size;
        int fd, dst, r;

        r = hubctl_privacy_call(bus, "Export", &reply, &error, "s", subject);
        if (r < 0)
                return hubctl_privacy_failed("data export", &error, r);
        r = sd_bus_message_read(reply, "ht", &fd, &size);
        if (r < 0 || size > EXPORT_MAX) {
                fprintf(stderr, "hubctl data export: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (!out) {
                r = copy_fd(fd, STDOUT_FILENO, EXPORT_MAX);
                if (r < 0) {
                        fprintf(stderr, "hubctl data export: %s\n", strerror(-r));
                        return HUBCTL_EXIT_FAILURE;
                }
                return HUBCTL_EXIT_OK;
        }
        /* Personal data: only the caller may read the file; it appears whole or not at all. */
        if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", out) >= (int) sizeof tmp) {
                fprintf(stderr, "hubctl data export: '%s' is too long a path.\n", out);
                return HUBCTL_EXIT_FAILURE;
        }
        dst = mkostemp(tmp, O_CLOEXEC);
        if (dst < 0) {
                fprintf(stderr, "hubctl data export: cannot write '%s': %s\n", out, strerror(errno));
                return HUBCTL_EXIT_FAILURE;
        }
        r = copy_fd(fd, dst, EXPORT_MAX);
        if (r >= 0 && (fchmod(dst, 0600) < 0 || fsync(dst) < 0))
                r = -errno;
        if (close(dst) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, out) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                fprintf(stderr, "hubctl data export: cannot write '%s': %s\n", out, strerror(-r));
                return HUBCTL_EXIT_FAILURE;
        }
        fprintf(stderr, "Exported %" PRIu64 " bytes to %s.\n", size, out);
        return HUBCTL_EXIT_OK;
}

/* Print a receipt (JSON from hub-privacyd) in words, or as it is with --json. */
static int print_receipt(const char *text, bool as_json) {
        json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL), *stores, *v;
        const char *id = NULL, *subject = NULL, *cloud = NULL, *meaning = NULL;
        json_int_t requested = 0, completed = 0, records = 0, cloud_usec = 0;
        char when[64], done[64], acked[64];
        size_t i;

        if (!o || json_unpack(o, "{s:s, s:s, s:I, s:I, s:I, s:o, s:s, s:s, s:I}", "request_id", &id, "subject",
                              &subject, "requested_usec", &requested, "completed_usec", &completed, "records",
                              &records, "stores", &stores, "cloud", &cloud, "cloud_meaning", &meaning, "cloud_usec",
                              &cloud_usec) < 0 ||
            !string_is_safe(id, 64) || !string_is_safe(subject, 64) || !string_is_safe(cloud, 32) ||
            !string_is_safe(meaning, 512)) {
                json_decref(o);
                fprintf(stderr, "hubctl data: malformed receipt from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (as_json)
                return hubctl_print_json(o);
        hubctl_format_time((uint64_t) requested, when, sizeof when);
        hubctl_format_time((uint64_t) completed, done, sizeof done);
        hubctl_format_time((uint64_t) cloud_usec, acked, sizeof acked);
        printf("Erase receipt %s\n", id);
        printf("  Subject:    %s\n", subject);
        printf("  Requested:  %s\n", when);
        printf("  Completed:  %s (on this hub: the subject's key destroyed first, then %" PRIi64 " record%s)\n", done,
               (int64_t) records, records == 1 ? "" : "s");
        printf("  Stores:\n");
        json_array_foreach(stores, i, v) {
                const char *store = NULL, *result = NULL;

                if (json_unpack(v, "{s:s, s:s}", "store", &store, "result", &result) == 0 && string_is_safe(store, 256) &&
                    string_is_safe(result, 512))
                        printf("    %-24s %s\n", store, result);
        }
        printf("  Cloud:      %s%s%s\n", cloud, streq(cloud, "acknowledged") ? " at " : "",
               streq(cloud, "acknowledged") ? acked : "");
        printf("              (%s)\n", meaning);
        json_decref(o);
        return HUBCTL_EXIT_OK;
}

static int data_erase(sd_bus *bus, const char *subject, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id, *receipt;
        int r;

        r = hubctl_privacy_call(bus, "Erase", &reply, &error, "s", subject);
        if (r < 0)
                return hubctl_privacy_failed("data erase", &error, r);
        r = sd_bus_message_read(reply, "ss", &id, &receipt);
        if (r < 0) {
                fprintf(stderr, "hubctl data erase: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        return print_receipt(receipt, o->json);
}

static int data_receipt(sd_bus *bus, const char *id, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *receipt;
        int r;

        r = hubctl_privacy_call(bus, "GetReceipt", &reply, &error, "s", id);
        if (r < 0)
                return hubctl_privacy_failed("data receipt", &error, r);
        r = sd_bus_message_read(reply, "s", &receipt);
        if (r < 0) {
                fprintf(stderr, "hubctl data receipt: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        return print_receipt(receipt, o->json);
}

static int data_receipts(sd_bus *bus, const HubctlOptions *o) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *id, *subject, *cloud;
        json_t *a = json_array();
        unsigned n = 0;
        int r;

        r = hubctl_privacy_call(bus, "ListReceipts", &reply, &error, NULL);
        if (r < 0) {
                json_decref(a);
                return hubctl_privacy_failed("data receipts", &error, r);
        }
        r = sd_bus_message_enter_container(reply, 'a', "(sss)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(sss)", &id, &subject, &cloud)) > 0) {
                char i[64], s[64], c[32];

                hubctl_copy_string(i, sizeof i, id);
                hubctl_copy_string(s, sizeof s, subject);
                hubctl_copy_string(c, sizeof c, cloud);
                if (o->json)
                        (void) json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "request_id", i, "subject", s,
                                                                  "cloud", c));
                else {
                        if (n == 0)
                                printf("%-32s  %-32s  %s\n", "REQUEST", "SUBJECT", "CLOUD");
                        printf("%-32s  %-32s  %s\n", i, s, c);
                }
                n++;
        }
        if (r < 0) {
                json_decref(a);
                fprintf(stderr, "hubctl data receipts: malformed answer from hub-privacyd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (o->json)
                return hubctl_print_json(a);
        json_decref(a);
        if (n == 0)
                printf("No subject has been erased.\n");
        return HUBCTL_EXIT_OK;
}

int verb_data(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        HubctlOptions o = *global;
        const char *cmd;
        int first, r, n;

        r = hubctl_verb_options(argc, argv, verb_data_usage, "jo", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (argc - first < 1)
                return hubctl_usage_error("data", "expects 'subjects', 'inventory', 'export', 'erase', 'receipts' or "
                                                  "'receipt'");
        cmd = argv[first];
        n = argc - first - 1;
        if (streq(cmd, "subjects") || streq(cmd, "inventory") || streq(cmd, "receipts")) {
                if (n != 0)
                        return hubctl_usage_error("data", "this command takes no argument");
        } else if (streq(cmd, "export") || streq(cmd, "erase") || streq(cmd, "receipt")) {
                if (n != 1)
                        return hubctl_usage_error("data", "expects one SUBJECT (or REQUEST-ID) argument");
        } else
                return hubctl_usage_error("data", "expects 'subjects', 'inventory', 'export', 'erase', 'receipts' or "
                                                  "'receipt'");
        if (o.output && !streq(cmd, "export"))
                return hubctl_usage_error("data", "-o goes with 'export' only");
        if (o.json && streq(cmd, "export"))
                return hubctl_usage_error("data", "an export is JSON already; --json does not apply");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        if (streq(cmd, "subjects"))
                return data_subjects(bus, &o);
        if (streq(cmd, "inventory"))
                return data_inventory(bus, &o);
        if (streq(cmd, "receipts"))
                return data_receipts(bus, &o);
        if (streq(cmd, "export"))
                return data_export(bus, argv[first + 1], o.output);
        if (streq(cmd, "erase"))
                return data_erase(bus, argv[first + 1], &o);
        return data_receipt(bus, argv[first + 1], &o);
}
