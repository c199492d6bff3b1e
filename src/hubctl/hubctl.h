/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

/* Exit statuses, documented in hubctl(1). */
#define HUBCTL_EXIT_OK 0
#define HUBCTL_EXIT_FAILURE 1   /* the command failed, or (status) something is not healthy */
#define HUBCTL_EXIT_USAGE 2     /* the command line is wrong */

/* Longest we wait for one daemon's answer. */
#define HUBCTL_CALL_TIMEOUT_USEC (5ULL * 1000000ULL)

typedef struct HubctlOptions {
        bool json;
        bool stdin_secrets;  /* --stdin: read passwords from standard input */
        const char *output;  /* -o FILE */
} HubctlOptions;

/* A subcommand: argv[0] is its name; returns an exit status. */
typedef struct HubctlVerb {
        const char *name;
        const char *summary;      /* one line for the command list */
        const char *usage;        /* its --help text */
        int (*run)(int argc, char *argv[], const HubctlOptions *o);
} HubctlVerb;

/* Parse the command line and run the verb; returns the process exit status. */
int hubctl_main(int argc, char *argv[]);

/* Connect to the system bus, or print what to do and return a negative errno. */
int hubctl_bus_open(sd_bus **ret);

/*
 * Parse a verb's own options (--help, --json, --stdin, -o FILE) in argv[1..]; positional arguments are left in
 * argv[*ret_first..argc-1]. Returns 0 to go on, 1 after printing help, or HUBCTL_EXIT_USAGE's
 * negative after printing a usage error. allowed lists the options the verb takes: 'j' --json,
 * 's' --stdin, 'o' -o FILE.
 */
int hubctl_verb_options(int argc, char *argv[], const char *usage, const char *allowed, HubctlOptions *o,
                        int *ret_first);

/*
 * What a daemon says is still input: copy src to dst (size bytes) only if it fits and is printable
 * UTF-8, else "?".
 */
void hubctl_copy_string(char *dst, size_t size, const char *src);

/* Print "hubctl VERB: MESSAGE" and the help hint; returns HUBCTL_EXIT_USAGE. */
int hubctl_usage_error(const char *verb, const char *message);

int verb_provision(int argc, char *argv[], const HubctlOptions *o);
int verb_password(int argc, char *argv[], const HubctlOptions *o);
int verb_identity(int argc, char *argv[], const HubctlOptions *o);
int verb_telemetry(int argc, char *argv[], const HubctlOptions *o);
extern const char verb_telemetry_usage[];
extern const char verb_provision_usage[], verb_password_usage[], verb_identity_usage[];

int verb_data(int argc, char *argv[], const HubctlOptions *o);
int verb_consent(int argc, char *argv[], const HubctlOptions *o);
int verb_factory_reset(int argc, char *argv[], const HubctlOptions *o);
extern const char verb_data_usage[], verb_consent_usage[], verb_factory_reset_usage[];

/* Calls to hub-privacyd (hubctl-data.c), shared by data, consent and factory-reset. */
struct json_t;
int hubctl_privacy_call(sd_bus *bus, const char *member, sd_bus_message **ret, sd_bus_error *error,
                        const char *types, ...);
/* Explain a failed call in the user's terms; returns the exit status. */
int hubctl_privacy_failed(const char *what, const sd_bus_error *e, int r);

/* Shared by the verbs (hubctl-main.c). */
/* A method call to a daemon, with the caller's timeout; sensitive: the message holds a secret. */
int hubctl_callv(sd_bus *bus, const char *destination, const char *path, const char *interface, const char *member,
                 uint64_t timeout_usec, bool sensitive, sd_bus_message **ret, sd_bus_error *error, const char *types,
                 va_list ap);
/* Print (and free) a JSON value; returns the exit status. */
int hubctl_print_json(struct json_t *o);
/* usec since the epoch as ISO 8601 UTC, or "?". */
void hubctl_format_time(uint64_t usec, char *buf, size_t size);

int verb_status(int argc, char *argv[], const HubctlOptions *o);
extern const char verb_status_usage[];

int verb_security_report(int argc, char *argv[], const HubctlOptions *o);
extern const char verb_security_report_usage[];
