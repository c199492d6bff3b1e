/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* hubctl provision|password|identity: the identity domain's commands. */

#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <termios.h>

#include "hubctl.h"
#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/fileio.h"
#include "hubguard/validate.h"

/* The same bounds as hub-identityd's, so a too-long password is refused here with the same words. */
#define HUBCTL_PASSWORD_MAX 256
#define HUBCTL_PEM_MAX (64 * 1024)

const char verb_provision_usage[] =
        "hubctl provision status [--json]\n"
        "hubctl provision show-initial\n\n"
        "status        Whether an admin password is set, and where it came from: generated on first\n"
        "              boot, set by the owner, or none yet (locked until 'hubctl password set').\n"
        "show-initial  Print the password generated on first boot (root only), until the owner sets\n"
        "              their own. Every reveal is logged as a security event.\n\n"
        "  -h --help   Show this help\n"
        "     --json   Print {\"provisioned\": BOOL, \"password_origin\": STRING, \"device_id\": STRING}\n";

const char verb_password_usage[] =
        "hubctl password set [--stdin]\n"
        "hubctl password change [--stdin]\n\n"
        "set     Set the first admin password when none was generated (root only).\n"
        "change  Change the admin password: give the current one, then the new one twice. Root may\n"
        "        leave the current one empty to reset a forgotten password.\n\n"
        "Passwords are read from the terminal without echo, or with --stdin one per line from\n"
        "standard input (change: current, new). A weak password is refused with the reason.\n\n"
        "  -h --help   Show this help\n"
        "     --stdin  Read the passwords from standard input\n";

const char verb_identity_usage[] =
        "hubctl identity show [--json]\n"
        "hubctl identity csr [-o FILE]\n"
        "hubctl identity install-cert FILE\n\n"
        "show          The device id, key fingerprint and certificate of this hub.\n"
        "csr           Print (or write to FILE) a certificate signing request for the device key.\n"
        "install-cert  Install the certificate the cloud issued (root only). It must be for this\n"
        "              device's key, valid now, and chain to [identity] CertificateAuthorityFile=.\n\n"
        "  -h --help   Show this help\n"
        "     --json   Print JSON (show)\n"
        "  -o FILE     Write the CSR to FILE instead of standard output (csr)\n";

static int call(sd_bus *bus, const char *member, sd_bus_message **ret, sd_bus_error *error, bool sensitive,
                const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        /* Argon2 takes a moment on a small hub: allow more than for a property read. */
        r = hubctl_callv(bus, HUB_BUS_NAME_IDENTITY, HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY, member,
                         4 * HUBCTL_CALL_TIMEOUT_USEC, sensitive, ret, error, types, ap);
        va_end(ap);
        return r;
}

/* Explain a failed call in the user's terms; returns the exit status. */
static int call_failed(const char *what, const sd_bus_error *e, int r) {
        if (bus_error_is_unreachable(e))
                fprintf(stderr, "hubctl %s: hub-identityd is not running (start hub-identityd.service).\n", what);
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                fprintf(stderr, "hubctl %s: permission denied: this needs root%s.\n", what,
                        streq(what, "identity csr") || streq(what, "password change") ||
                                        streq(what, "provision status") || streq(what, "identity show")
                                ? " or membership in group " HUB_ADMIN_GROUP_NAME
                                : "");
        else
                fprintf(stderr, "hubctl %s: %s\n", what, e->message ? e->message : strerror(-r));
        return HUBCTL_EXIT_FAILURE;
}

static int get_properties(sd_bus *bus, sd_bus_message **ret, sd_bus_error *error) {
        return sd_bus_call_method(bus, HUB_BUS_NAME_IDENTITY, HUB_BUS_PATH_IDENTITY, "org.freedesktop.DBus.Properties",
                                  "GetAll", error, ret, "s", HUB_BUS_IFACE_IDENTITY);
}

typedef struct IdentityInfo {
        int provisioned, self_signed;
        char origin[32], device_id[64], fingerprint[96];
        uint64_t not_after;
} IdentityInfo;

static int read_info(sd_bus_message *reply, IdentityInfo *info) {
        const char *name, *s;
        int r, b;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "Provisioned") || streq(name, "CertificateSelfSigned")) {
                        r = sd_bus_message_read(reply, "v", "b", &b);
                        if (r >= 0)
                                *(streq(name, "Provisioned") ? &info->provisioned : &info->self_signed) = b;
                } else if (streq(name, "PasswordOrigin") || streq(name, "DeviceId") || streq(name, "KeyFingerprint")) {
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        if (r >= 0 && streq(name, "PasswordOrigin"))
                                hubctl_copy_string(info->origin, sizeof info->origin, s);
                        else if (r >= 0 && streq(name, "DeviceId"))
                                hubctl_copy_string(info->device_id, sizeof info->device_id, s);
                        else if (r >= 0)
                                hubctl_copy_string(info->fingerprint, sizeof info->fingerprint, s);
                } else if (streq(name, "CertificateNotAfterUSec"))
                        r = sd_bus_message_read(reply, "v", "t", &info->not_after);
                else
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : sd_bus_message_exit_container(reply);
}

static int fetch_info(sd_bus *bus, const char *what, IdentityInfo *info) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = get_properties(bus, &reply, &error);
        if (r < 0)
                return call_failed(what, &error, r);
        r = read_info(reply, info);
        if (r < 0) {
                fprintf(stderr, "hubctl %s: malformed answer from hub-identityd.\n", what);
                return HUBCTL_EXIT_FAILURE;
        }
        return HUBCTL_EXIT_OK;
}

static int provision_status(sd_bus *bus, const HubctlOptions *o) {
        IdentityInfo info = {};
        int r;

        r = fetch_info(bus, "provision status", &info);
        if (r != HUBCTL_EXIT_OK)
                return r;
        if (o->json)
                return hubctl_print_json(json_pack("{s:b, s:s, s:s}", "provisioned", info.provisioned, "password_origin",
                                                info.origin, "device_id", info.device_id));
        printf("Admin password: %s\n",
               streq(info.origin, "generated") ? "generated on first boot (root reads it: hubctl provision show-initial)"
               : streq(info.origin, "owner")   ? "set by the owner"
                                               : "none: locked until root runs 'hubctl password set'");
        printf("Device id:      %s\n", info.device_id);
        return HUBCTL_EXIT_OK;
}

static int provision_show_initial(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *pw;
        int r;

        r = call(bus, "GetInitialPassword", &reply, &error, false, NULL);
        if (r < 0)
                return call_failed("provision show-initial", &error, r);
        (void) sd_bus_message_sensitive(reply);
        r = sd_bus_message_read(reply, "s", &pw);
        if (r < 0 || !string_is_safe(pw, HUBCTL_PASSWORD_MAX)) {
                fprintf(stderr, "hubctl provision show-initial: malformed answer from hub-identityd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        printf("%s\n", pw);
        return fflush(stdout) == 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
}

int verb_provision(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        HubctlOptions o = *global;
        int first, r;

        r = hubctl_verb_options(argc, argv, verb_provision_usage, "j", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (argc - first != 1 || (!streq(argv[first], "status") && !streq(argv[first], "show-initial")))
                return hubctl_usage_error("provision", "expects 'status' or 'show-initial'");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        return streq(argv[first], "status") ? provision_status(bus, &o) : provision_show_initial(bus);
}

/* ---- password input ---- */

/*
 * Read one line into a sodium_malloc()ed buffer: from the terminal without echo (prompting on it),
 * or from standard input. Returns the buffer or NULL after printing why.
 */
static char *read_secret(const char *prompt, bool from_stdin) {
        struct termios old, quiet;
        char *buf = sodium_malloc(HUBCTL_PASSWORD_MAX + 2);
        FILE *in = stdin, *tty = NULL;
        bool restored = true;
        size_t n;

        if (!buf) {
                fprintf(stderr, "hubctl: out of memory.\n");
                return NULL;
        }
        if (!from_stdin) {
                tty = fopen("/dev/tty", "r+e");
                if (!tty) {
                        fprintf(stderr, "hubctl: no terminal to ask for the password; use --stdin.\n");
                        sodium_free(buf);
                        return NULL;
                }
                in = tty;
                /* Unbuffered: a password must not linger in stdio's own (never wiped) buffer. */
                (void) setvbuf(tty, NULL, _IONBF, 0);
                fputs(prompt, tty);
                fflush(tty);
                if (tcgetattr(fileno(tty), &old) == 0) {
                        quiet = old;
                        quiet.c_lflag &= ~(tcflag_t) ECHO;
                        restored = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) != 0;
                }
        }
        if (!fgets(buf, HUBCTL_PASSWORD_MAX + 2, in))
                buf[0] = '\0';
        if (tty) {
                if (!restored)
                        (void) tcsetattr(fileno(tty), TCSAFLUSH, &old);
                fputc('\n', tty);
                fclose(tty);
        }
        n = strlen(buf);
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
        else if (n > HUBCTL_PASSWORD_MAX) {
                fprintf(stderr, "hubctl: a password is at most %d bytes.\n", HUBCTL_PASSWORD_MAX);
                sodium_free(buf);
                return NULL;
        }
        return buf;
}

int verb_password(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        char *old_pw = NULL, *new_pw = NULL, *again = NULL;
        HubctlOptions o = *global;
        int first, r, ret = HUBCTL_EXIT_FAILURE;
        bool change;

        r = hubctl_verb_options(argc, argv, verb_password_usage, "s", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (argc - first != 1 || (!streq(argv[first], "set") && !streq(argv[first], "change")))
                return hubctl_usage_error("password", "expects 'set' or 'change'");
        change = streq(argv[first], "change");
        /* Before the first read: passwords must not linger in stdio's own (never wiped) buffer. */
        if (o.stdin_secrets)
                (void) setvbuf(stdin, NULL, _IONBF, 0);
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;

        if (change) {
                old_pw = read_secret(geteuid() == 0 ? "Current password (empty to reset as root): "
                                                    : "Current password: ",
                                     o.stdin_secrets);
                if (!old_pw)
                        goto done;
        }
        new_pw = read_secret("New password: ", o.stdin_secrets);
        if (!new_pw)
                goto done;
        if (!o.stdin_secrets) {
                again = read_secret("New password again: ", false);
                if (!again)
                        goto done;
                if (sodium_compare((unsigned char *) new_pw, (unsigned char *) again, HUBCTL_PASSWORD_MAX + 2) != 0) {
                        fprintf(stderr, "hubctl password: the two new passwords differ; nothing changed.\n");
                        goto done;
                }
        }
        if (change)
                r = call(bus, "ChangePassword", NULL, &error, true, "sss", "admin", old_pw, new_pw);
        else
                r = call(bus, "SetPassword", NULL, &error, true, "ss", "admin", new_pw);
        if (r < 0) {
                ret = call_failed(change ? "password change" : "password set", &error, r);
                goto done;
        }
        printf("The admin password is set.\n");
        ret = HUBCTL_EXIT_OK;
done:
        sodium_free(old_pw);
        sodium_free(new_pw);
        sodium_free(again);
        return ret;
}

/* ---- identity ---- */

static int identity_show(sd_bus *bus, const HubctlOptions *o) {
        IdentityInfo info = {};
        time_t t;
        char when[64] = "unknown";
        int r;

        r = fetch_info(bus, "identity show", &info);
        if (r != HUBCTL_EXIT_OK)
                return r;
        t = (time_t) (info.not_after / 1000000ULL);
        (void) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
        if (o->json)
                return hubctl_print_json(json_pack("{s:s, s:s, s:s, s:b}", "device_id", info.device_id, "key_fingerprint",
                                                info.fingerprint, "certificate_not_after", when,
                                                "certificate_self_signed", info.self_signed));
        printf("Device id:       %s\n", info.device_id);
        printf("Key:             ECDSA P-256, %s\n", info.fingerprint);
        printf("Certificate:     %s, valid until %s\n",
               info.self_signed ? "self-signed (development; install the cloud's with 'hubctl identity install-cert')"
                                : "issued by the configured CA",
               when);
        return HUBCTL_EXIT_OK;
}

static int identity_csr(sd_bus *bus, const char *out) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *pem;
        int r;

        r = call(bus, "GetCertificateRequest", &reply, &error, false, NULL);
        if (r < 0)
                return call_failed("identity csr", &error, r);
        r = sd_bus_message_read(reply, "s", &pem);
        if (r < 0 || strnlen(pem, HUBCTL_PEM_MAX + 1) > HUBCTL_PEM_MAX || !strstr(pem, "BEGIN CERTIFICATE REQUEST")) {
                fprintf(stderr, "hubctl identity csr: malformed answer from hub-identityd.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        if (!out) {
                fputs(pem, stdout);
                return fflush(stdout) == 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
        }
        r = write_file_atomic(out, pem, strlen(pem), 0644);
        if (r < 0) {
                fprintf(stderr, "hubctl identity csr: cannot write '%s': %s\n", out, strerror(-r));
                return HUBCTL_EXIT_FAILURE;
        }
        return HUBCTL_EXIT_OK;
}

static int identity_install_cert(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *pem = NULL;
        int r;

        r = read_file_bounded(path, HUBCTL_PEM_MAX, &pem, NULL);
        if (r < 0) {
                fprintf(stderr, "hubctl identity install-cert: cannot read '%s': %s\n", path,
                        r == -EFBIG ? "larger than a certificate can be" : strerror(-r));
                return HUBCTL_EXIT_FAILURE;
        }
        r = call(bus, "InstallCertificate", NULL, &error, false, "s", pem);
        if (r < 0)
                return call_failed("identity install-cert", &error, r);
        printf("Certificate installed.\n");
        return HUBCTL_EXIT_OK;
}

int verb_identity(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        HubctlOptions o = *global;
        int first, r;

        r = hubctl_verb_options(argc, argv, verb_identity_usage, "jo", &o, &first);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;
        if (argc - first < 1)
                return hubctl_usage_error("identity", "expects 'show', 'csr' or 'install-cert FILE'");
        if (streq(argv[first], "install-cert") ? argc - first != 2
            : streq(argv[first], "show") || streq(argv[first], "csr") ? argc - first != 1
                                                                          : true)
                return hubctl_usage_error("identity", "expects 'show', 'csr [-o FILE]' or 'install-cert FILE'");
        if (o.output && !streq(argv[first], "csr"))
                return hubctl_usage_error("identity", "-o goes with 'csr' only");
        if (hubctl_bus_open(&bus) < 0)
                return HUBCTL_EXIT_FAILURE;
        if (streq(argv[first], "show"))
                return identity_show(bus, &o);
        if (streq(argv[first], "csr"))
                return identity_csr(bus, o.output);
        return identity_install_cert(bus, argv[first + 1]);
}
