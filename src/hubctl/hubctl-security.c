/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hubctl security-report: a self-assessment of the running hub against ETSI EN 303 645, from live
 * evidence (the daemons over D-Bus, /proc, the file system), one row of checks[] per provision.
 * To add a check: write a check_*() that fills a Finding, and add its row to checks[].
 */

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hubctl-security-proc.h"
#include "hubctl.h"
#include "hubguard/bus-names.h"
#include "hubguard/bus-util.h"
#include "hubguard/conf.h"
#include "hubguard/validate.h"

const char verb_security_report_usage[] =
        "hubctl security-report [--json] [--security-txt=FILE]\n\n"
        "Assess this hub against ETSI EN 303 645 from what the running system shows: for each\n"
        "provision that applies, the evidence, the verdict (pass, fail, not-applicable, unknown)\n"
        "and what to do about a failure. Run it as root: a member of group hubadmin gets 'unknown'\n"
        "for what only root may read (other users' files, /proc of the daemons).\n\n"
        "  -h --help               Show this help\n"
        "     --json               Print {\"version\", \"security_contact\", \"support_end\",\n"
        "                          \"compliant\": BOOL, \"checks\": [{\"provision\", \"title\",\n"
        "                          \"mandatory\": BOOL, \"verdict\", \"evidence\", \"remedy\"}]}\n"
        "     --security-txt=FILE  Read the disclosure policy from FILE, not " SECURITY_TXT_PATH "\n"
        "                          (for a build tree)\n\n"
        "Exit status: 0 if no mandatory provision fails or is unknown, 1 otherwise, 2 on a usage\n"
        "error.\n";

/* Longest evidence and remedy texts; longer ones are cut. */
#define FINDING_EVIDENCE_MAX 1024
#define FINDING_REMEDY_MAX 512
/* Largest /proc/PID/environ or cmdline we read, and largest security.txt. */
#define PROC_TEXT_MAX (64 * 1024)
#define SECURITY_TXT_MAX (32 * 1024)
/* How deep and how many entries of a state directory we look at. */
#define SECRETS_DEPTH_MAX 8
#define SECRETS_ENTRIES_MAX 10000

typedef enum Verdict {
        VERDICT_PASS,
        VERDICT_FAIL,
        VERDICT_NOT_APPLICABLE,
        VERDICT_UNKNOWN,
        _VERDICT_MAX,
} Verdict;

static const char *const verdict_names[_VERDICT_MAX] = {
        [VERDICT_PASS] = "pass",
        [VERDICT_FAIL] = "fail",
        [VERDICT_NOT_APPLICABLE] = "not-applicable",
        [VERDICT_UNKNOWN] = "unknown",
};

typedef struct Finding {
        Verdict verdict;
        char evidence[FINDING_EVIDENCE_MAX];
        char remedy[FINDING_REMEDY_MAX];
} Finding;

/* What the report knows about one domain's daemon. */
typedef struct Daemon {
        const char *domain, *program, *user, *bus_name, *path, *iface;
        pid_t pid;                      /* 0: not on the bus */
        char bus_error[256];            /* why pid is 0 */
        bool proc_readable;             /* its /proc/PID/environ could be read (root) */
        char state_dir[PATH_MAX];       /* $STATE_DIRECTORY, else the built-in default */
        char credentials_dir[PATH_MAX]; /* $CREDENTIALS_DIRECTORY, or "" */
        char config_dir[PATH_MAX];      /* --config-dir=, else the built-in default */
} Daemon;

typedef struct Report {
        sd_bus *bus;
        Daemon daemons[_HUB_DOMAIN_MAX];
        const char *security_txt;
} Report;

typedef struct SecurityCheck {
        const char *provision; /* EN 303 645 V2.1.1 / V3.1.3 number */
        const char *title;
        bool mandatory;
        void (*check)(Report *rep, Finding *f);
} SecurityCheck;

/* ---------------------------------------------------------------------------------------------------
 * Findings
 */

/*
 * Evidence holds file names and what daemons say: make a text that is not clean UTF-8 without
 * control characters plain ASCII, '?' for every other byte, so that it prints and fits in JSON.
 */
static void make_printable(char *s, size_t size) {
        if (string_is_safe(s, size - 1))
                return;
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
                        *s = '?';
}

static _printf_(2, 3) void evidence_add(Finding *f, const char *fmt, ...) {
        size_t len = strlen(f->evidence);
        va_list ap;

        if (len + 3 >= sizeof f->evidence)
                return;
        if (len > 0) {
                memcpy(f->evidence + len, "; ", 3);
                len += 2;
        }
        va_start(ap, fmt);
        (void) vsnprintf(f->evidence + len, sizeof f->evidence - len, fmt, ap);
        va_end(ap);
        make_printable(f->evidence + len, sizeof f->evidence - len);
}

/* Set the verdict; a failure or unknown keeps the first remedy given. */
static _printf_(3, 4) void verdict_set(Finding *f, Verdict v, const char *remedy_fmt, ...) {
        va_list ap;

        /* fail beats unknown beats pass: one failing part fails the provision. */
        if (f->verdict == VERDICT_FAIL || (f->verdict == VERDICT_UNKNOWN && v == VERDICT_PASS))
                return;
        f->verdict = v;
        if (remedy_fmt) {
                va_start(ap, remedy_fmt);
                (void) vsnprintf(f->remedy, sizeof f->remedy, remedy_fmt, ap);
                va_end(ap);
                make_printable(f->remedy, sizeof f->remedy);
        }
}

static Daemon *daemon_of(Report *rep, HubDomain d) {
        return &rep->daemons[d];
}

/* A check that needs the daemon running: say so and return false if it is not. */
static bool need_running(const Daemon *d, Finding *f) {
        if (d->pid > 0)
                return true;
        evidence_add(f, "%s is not running (%s)", d->program, d->bus_error);
        verdict_set(f, VERDICT_UNKNOWN, "Start it: systemctl start %s.service, then run the report again.",
                    d->program);
        return false;
}

static void bus_error_text(const sd_bus_error *e, int r, char *buf, size_t size) {
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                (void) snprintf(buf, size, "permission denied");
        else
                (void) snprintf(buf, size, "%s", e && e->message ? e->message : strerror(-r));
}

/* ---------------------------------------------------------------------------------------------------
 * Reading the running system
 */

/* Read a whole small file; returns its length or a negative errno. */
static ssize_t read_small_file(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        size_t have = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        while (have < size - 1) {
                ssize_t n = read(fd, buf + have, size - 1 - have);

                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                have += (size_t) n;
        }
        if (have == size - 1)
                return -EFBIG;
        buf[have] = '\0';
        return (ssize_t) have;
}

/* Value of NAME= in a NUL-separated list (environ) or of --NAME=/--NAME VALUE (cmdline). */
static const char *nul_list_find(const char *buf, size_t len, const char *prefix, bool option) {
        size_t plen = strlen(prefix);

        for (const char *p = buf; p < buf + len; p += strlen(p) + 1) {
                if (strncmp(p, prefix, plen) == 0 && p[plen] == '=')
                        return p + plen + 1;
                if (option && streq(p, prefix) && p + strlen(p) + 1 < buf + len)
                        return p + strlen(p) + 1;
        }
        return NULL;
}

static void copy_path(char *dst, const char *src) {
        (void) snprintf(dst, PATH_MAX, "%s", src);
}

static void daemon_discover(Report *rep, Daemon *d) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char path[64], buf[PROC_TEXT_MAX];
        const char *v;
        uint32_t pid;
        ssize_t n;
        int r;

        (void) snprintf(d->state_dir, sizeof d->state_dir, STATE_DIR "/%s", d->domain);
        copy_path(d->config_dir, CONF_DIR_DEFAULT);
        d->credentials_dir[0] = '\0';

        r = sd_bus_call_method(rep->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "GetConnectionUnixProcessID", &error, &reply, "s", d->bus_name);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", &pid);
        if (r < 0 || pid == 0) {
                if (bus_error_is_unreachable(&error))
                        (void) snprintf(d->bus_error, sizeof d->bus_error, "%s is not on the bus", d->bus_name);
                else
                        bus_error_text(&error, r, d->bus_error, sizeof d->bus_error);
                return;
        }
        d->pid = (pid_t) pid;

        /* Where it really keeps its state and reads its configuration: its own environment and
         * command line (systemd's StateDirectory= and CREDENTIALS_DIRECTORY, a devstack's options). */
        /* The command line is readable by all, the environment only by root. */
        (void) snprintf(path, sizeof path, "/proc/%d/cmdline", d->pid);
        n = read_small_file(path, buf, sizeof buf);
        if (n > 0) {
                v = nul_list_find(buf, (size_t) n, "--config-dir", true);
                if (v && v[0] == '/')
                        copy_path(d->config_dir, v);
        }

        (void) snprintf(path, sizeof path, "/proc/%d/environ", d->pid);
        n = read_small_file(path, buf, sizeof buf);
        if (n < 0)
                return;
        d->proc_readable = true;
        v = nul_list_find(buf, (size_t) n, "STATE_DIRECTORY", false);
        if (v && v[0] == '/')
                (void) snprintf(d->state_dir, sizeof d->state_dir, "%.*s", (int) strcspn(v, ":"), v);
        v = nul_list_find(buf, (size_t) n, "CREDENTIALS_DIRECTORY", false);
        if (v && v[0] == '/')
                copy_path(d->credentials_dir, v);
}

static int get_string_property(Report *rep, const Daemon *d, const char *name, char *buf, size_t size,
                               char *err, size_t err_size) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *s = NULL;
        int r;

        r = sd_bus_get_property_string(rep->bus, d->bus_name, d->path, d->iface, name, &error, &s);
        if (r < 0) {
                bus_error_text(&error, r, err, err_size);
                return r;
        }
        hubctl_copy_string(buf, size, s);
        return 0;
}

static int get_trivial_property(Report *rep, const Daemon *d, const char *name, char type, void *ret, char *err,
                                size_t err_size) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_trivial(rep->bus, d->bus_name, d->path, d->iface, name, &error, type, ret);
        if (r < 0)
                bus_error_text(&error, r, err, err_size);
        return r;
}

/* Whether the daemon's live object has MEMBER ("method" or "signal") on its interface. */
static int introspect_has_member(Report *rep, const Daemon *d, const char *kind, const char *member, char *err,
                                 size_t err_size) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char iface_tag[128], member_tag[128];
        const char *xml, *start, *end, *hit;
        int r;

        r = sd_bus_call_method(rep->bus, d->bus_name, d->path, "org.freedesktop.DBus.Introspectable", "Introspect",
                               &error, &reply, NULL);
        if (r >= 0)
                r = sd_bus_message_read(reply, "s", &xml);
        if (r < 0) {
                bus_error_text(&error, r, err, err_size);
                return r;
        }
        (void) snprintf(iface_tag, sizeof iface_tag, "<interface name=\"%s\">", d->iface);
        (void) snprintf(member_tag, sizeof member_tag, "<%s name=\"%s\"", kind, member);
        start = strstr(xml, iface_tag);
        if (!start)
                return 0;
        end = strstr(start, "</interface>");
        hit = strstr(start, member_tag);
        return hit && (!end || hit < end);
}

/* ---------------------------------------------------------------------------------------------------
 * The checks
 */

static void check_password(Report *rep, Finding *f) {
        const Daemon *d = daemon_of(rep, HUB_DOMAIN_IDENTITY);
        char origin[64], err[256];
        int provisioned;

        if (!need_running(d, f))
                return;
        if (get_trivial_property(rep, d, "Provisioned", 'b', &provisioned, err, sizeof err) < 0 ||
            get_string_property(rep, d, "PasswordOrigin", origin, sizeof origin, err, sizeof err) < 0) {
                evidence_add(f, "cannot read the password state from %s: %s", d->program, err);
                verdict_set(f, VERDICT_UNKNOWN, "Run the report as root or as a member of group %s.",
                            HUB_ADMIN_GROUP_NAME);
                return;
        }
        evidence_add(f, "%s: Provisioned=%s, PasswordOrigin=%s", d->program, provisioned ? "yes" : "no", origin);
        if (streq(origin, "owner"))
                evidence_add(f, "the owner set the admin password");
        else if (streq(origin, "generated"))
                evidence_add(f, "a random password made on this hub at first boot, unique to it; no shared "
                                "default exists");
        else if (streq(origin, "none"))
                evidence_add(f, "no password at all: what needs one stays locked until the owner sets it");
        else {
                verdict_set(f, VERDICT_FAIL, "Update hubguard: %s reports a password origin this hubctl does "
                                             "not know.", d->program);
                return;
        }
        verdict_set(f, VERDICT_PASS, NULL);
}

/* A host name reserved for documentation or invalid by RFC 2606/6761: the contact is a placeholder. */
static bool host_is_placeholder(const char *host, size_t len) {
        static const char *const suffixes[] = { ".example", ".invalid", ".localhost" };
        static const char *const names[] = { "example", "example.com", "example.net", "example.org", "localhost" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strlen(names[i]) == len && strncasecmp(host, names[i], len) == 0)
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t sl = strlen(suffixes[i]);

                if (len > sl && strncasecmp(host + len - sl, suffixes[i], sl) == 0)
                        return true;
        }
        return false;
}

static bool contact_is_placeholder(const char *uri) {
        const char *host;

        if (strncmp(uri, "mailto:", 7) == 0) {
                host = strchr(uri, '@');
                if (!host)
                        return true;
                host++;
                return host_is_placeholder(host, strcspn(host, "?>"));
        }
        if (strncmp(uri, "https://", 8) == 0) {
                host = uri + 8;
                return host_is_placeholder(host, strcspn(host, "/:?#"));
        }
        return true; /* neither: nothing a reporter could use */
}

/* "YYYY-MM-DD" (and "THH:MM:SSZ" if with_time) as UTC seconds; -EINVAL if malformed. */
static int parse_utc(const char *s, bool with_time, time_t *ret) {
        struct tm tm = {};
        const char *end;

        end = strptime(s, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm);
        if (!end || *end != '\0')
                return -EINVAL;
        *ret = timegm(&tm);
        return 0;
}

static void check_disclosure(Report *rep, Finding *f) {
        char buf[SECURITY_TXT_MAX], contact[256] = "", policy[256] = "", expires[64] = "";
        unsigned n_contact = 0, n_expires = 0;
        time_t expires_at;
        char *saveptr = NULL;
        ssize_t n;

        n = read_small_file(rep->security_txt, buf, sizeof buf);
        if (n < 0) {
                evidence_add(f, "%s: %s", rep->security_txt, strerror((int) -n));
                verdict_set(f, VERDICT_FAIL, "Reinstall hubguard: its package ships the disclosure policy as %s.",
                            SECURITY_TXT_PATH);
                return;
        }
        for (char *line = strtok_r(buf, "\n", &saveptr); line; line = strtok_r(NULL, "\n", &saveptr)) {
                if (strncmp(line, "Contact: ", 9) == 0 && n_contact++ == 0)
                        hubctl_copy_string(contact, sizeof contact, line + 9);
                else if (strncmp(line, "Expires: ", 9) == 0 && n_expires++ == 0)
                        hubctl_copy_string(expires, sizeof expires, line + 9);
                else if (strncmp(line, "Policy: ", 8) == 0)
                        hubctl_copy_string(policy, sizeof policy, line + 8);
        }
        evidence_add(f, "%s: Contact %s, Policy %s, Expires %s", rep->security_txt, n_contact ? contact : "(none)",
                     policy[0] ? policy : "(none)", n_expires ? expires : "(none)");

        if (n_contact == 0 || n_expires != 1 || parse_utc(expires, true, &expires_at) < 0) {
                verdict_set(f, VERDICT_FAIL, "Reinstall hubguard: %s must have a Contact and one Expires "
                                             "(RFC 9116).", rep->security_txt);
                return;
        }
        if (expires_at <= time(NULL)) {
                evidence_add(f, "the policy has expired");
                verdict_set(f, VERDICT_FAIL, "Install a supported hubguard release: this one's disclosure "
                                             "policy expired on %s.", expires);
                return;
        }
        if (contact_is_placeholder(contact)) {
                evidence_add(f, "the contact is a placeholder (a reserved example domain): no one receives "
                                "reports there");
                verdict_set(f, VERDICT_FAIL, "The hub maker sets the real contact when building the package: "
                                             "meson setup -Dsecurity_contact=URI -Dsecurity_policy_url=URL "
                                             "(SECURITY.md, 'For hub makers').");
                return;
        }
        verdict_set(f, VERDICT_PASS, NULL);
}

static void check_support(Report *rep, Finding *f) {
        time_t end, now = time(NULL);

        if (parse_utc(SUPPORT_END, false, &end) < 0) {
                evidence_add(f, "built-in support end '%s' is not a date", SUPPORT_END);
                verdict_set(f, VERDICT_FAIL, "Rebuild with -Dsupport_end=YYYY-MM-DD.");
                return;
        }
        end += 24 * 3600; /* the whole last day */
        evidence_add(f, "hubguard %s: security updates until %s (UTC)", PROJECT_VERSION, SUPPORT_END);
        if (now >= end) {
                evidence_add(f, "the support period has ended");
                verdict_set(f, VERDICT_FAIL, "No more security updates come for this release series: update to "
                                             "a supported release, or replace the hub.");
                return;
        }
        evidence_add(f, "%lld days left", (long long) ((end - now) / (24 * 3600)));
        verdict_set(f, VERDICT_PASS, NULL);
}

typedef struct SecretsWalk {
        Finding *f;
        uid_t owner;
        const char *user;
        unsigned entries;
        bool bad;
} SecretsWalk;

static void secrets_bad(SecretsWalk *w, const char *path, const char *what, const char *remedy) {
        if (w->bad)
                return; /* one example is enough; the remedy fixes the kind */
        w->bad = true;
        evidence_add(w->f, "%s %s", path, what);
        verdict_set(w->f, VERDICT_FAIL, "%s", remedy);
}

/*
 * A certificate or certificate request may be readable by all (never writable): it is public. A
 * file counts as one by its name (.pem, .crt, .csr) and by not holding a private key.
 */
static bool is_public_certificate(int dir_fd, const char *name, const struct stat *st) {
        static const char *const suffixes[] = { ".pem", ".crt", ".csr" };
        _cleanup_close_ int fd = -EBADF;
        char buf[16 * 1024];
        bool named = false;
        ssize_t n;

        if (!S_ISREG(st->st_mode) || (st->st_mode & 0022) || st->st_size >= (off_t) sizeof buf)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t len = strlen(name), sl = strlen(suffixes[i]);

                named = named || (len > sl && streq(name + len - sl, suffixes[i]));
        }
        if (!named)
                return false;
        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof buf - 1);
        if (n < 0)
                return false;
        buf[n] = '\0';
        return !strstr(buf, "PRIVATE KEY");
}

/* Every entry below dir: owned by the domain's user (or root), no access for group or others
 * (public certificates may be readable). */
static int secrets_walk(SecretsWalk *w, const char *dir, unsigned depth) {
        DIR *d;
        struct dirent *de;

        if (depth > SECRETS_DEPTH_MAX)
                return 0;
        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char path[PATH_MAX];
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (++w->entries > SECRETS_ENTRIES_MAX)
                        break;
                if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int) sizeof path ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISLNK(st.st_mode))
                        continue;
                if (st.st_uid != w->owner && st.st_uid != 0) {
                        char remedy[FINDING_REMEDY_MAX];

                        (void) snprintf(remedy, sizeof remedy, "chown %s: '%.300s' (only %s may own its state).",
                                        w->user, path, w->user);
                        secrets_bad(w, path, "belongs to another user", remedy);
                } else if ((st.st_mode & 0077) && !is_public_certificate(dirfd(d), de->d_name, &st)) {
                        char what[64], remedy[FINDING_REMEDY_MAX];

                        (void) snprintf(what, sizeof what, "is mode %04o: others may read it",
                                        (unsigned) (st.st_mode & 07777));
                        (void) snprintf(remedy, sizeof remedy, "chmod go-rwx '%.300s' (only %s may read it).", path,
                                        w->user);
                        secrets_bad(w, path, what, remedy);
                }
                if (S_ISDIR(st.st_mode))
                        (void) secrets_walk(w, path, depth + 1);
        }
        (void) closedir(d);
        return 0;
}

/* dir itself: a directory, owned by owner, exactly mode (0700 for a state directory). */
static bool secrets_dir_ok(SecretsWalk *w, const char *dir, uid_t owner, mode_t mode) {
        struct stat st;
        char what[128], remedy[FINDING_REMEDY_MAX];

        if (lstat(dir, &st) < 0) {
                evidence_add(w->f, "%s: %s", dir, strerror(errno));
                verdict_set(w->f, VERDICT_UNKNOWN, "Run the report as root.");
                return false;
        }
        if (!S_ISDIR(st.st_mode) || st.st_uid != owner || (st.st_mode & 07777) != mode) {
                (void) snprintf(what, sizeof what, "is %s, mode %04o, uid %u (want a directory, mode %04o, uid %u)",
                                S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                                (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid, (unsigned) mode,
                                (unsigned) owner);
                (void) snprintf(remedy, sizeof remedy, "chown %s: '%.200s' && chmod %04o '%.200s'", w->user, dir,
                                (unsigned) mode, dir);
                w->bad = false;
                secrets_bad(w, dir, what, remedy);
                return false;
        }
        return true;
}

static void check_secrets(Report *rep, Finding *f) {
        unsigned checked = 0;

        for (HubDomain i = 0; i < _HUB_DOMAIN_MAX; i++) {
                const Daemon *d = daemon_of(rep, i);
                SecretsWalk w = { .f = f, .user = d->user };
                struct passwd *pw = getpwnam(d->user);

                if (!pw) {
                        evidence_add(f, "user %s does not exist", d->user);
                        verdict_set(f, VERDICT_FAIL, "Reinstall hubguard: systemd-sysusers creates %s.", d->user);
                        continue;
                }
                w.owner = pw->pw_uid;
                if (d->pid > 0 && !d->proc_readable) {
                        evidence_add(f, "cannot read the environment of %s to find its state directory",
                                     d->program);
                        verdict_set(f, VERDICT_UNKNOWN, "Run the report as root.");
                        continue;
                }
                if (secrets_dir_ok(&w, d->state_dir, w.owner, 0700)) {
                        int r = secrets_walk(&w, d->state_dir, 0);

                        if (r < 0) {
                                evidence_add(f, "%s: %s", d->state_dir, strerror(-r));
                                verdict_set(f, VERDICT_UNKNOWN, "Run the report as root.");
                                continue;
                        }
                        checked++;
                }
                /* What the service manager (or a devstack) hands the daemon: its keys. */
                if (d->credentials_dir[0]) {
                        int r;

                        w.bad = false;
                        r = secrets_walk(&w, d->credentials_dir, 0);
                        if (r < 0)
                                evidence_add(f, "%s: %s", d->credentials_dir, strerror(-r));
                }
        }
        /* The sealed master key's store, made by hub-identity-keygen.service (systemd only). */
        if (access(CREDENTIALS_STORE_DIR, F_OK) == 0) {
                SecretsWalk w = { .f = f, .owner = 0, .user = "root" };

                if (secrets_dir_ok(&w, CREDENTIALS_STORE_DIR, 0, 0700))
                        (void) secrets_walk(&w, CREDENTIALS_STORE_DIR, 0);
        }
        if (f->verdict == VERDICT_PASS && checked == _HUB_DOMAIN_MAX)
                evidence_add(f, "state directories %s, %s, %s: mode 0700, each its user's; no file but public "
                                "certificates readable by others, the device key included",
                             rep->daemons[0].state_dir, rep->daemons[1].state_dir, rep->daemons[2].state_dir);
}

static void check_tls(Report *rep, Finding *f) {
        const Daemon *d = daemon_of(rep, HUB_DOMAIN_TELEMETRY);
        _cleanup_(config_done) HubConfig c = {};
        char live[300], state[64], err[256], want[300], buf[512];
        ConfigError cerr;
        struct stat st;
        int r;

        if (!need_running(d, f))
                return;
        r = config_load(d->config_dir, &c, &cerr);
        if (r < 0) {
                evidence_add(f, "%s", config_error_format(&cerr, buf, sizeof buf));
                verdict_set(f, VERDICT_UNKNOWN, "Fix the configuration (%s --check-config) or run the report "
                                                "as root.", d->program);
                return;
        }
        if (!c.telemetry.cloud_broker_host) {
                evidence_add(f, "%s: no CloudBrokerHost=, so nothing leaves the hub", d->config_dir);
                f->verdict = VERDICT_NOT_APPLICABLE;
                return;
        }
        evidence_add(f, "%s: cloud broker %s:%u, CloudTLSMinVersion=%s, CloudCAFile=%s", d->config_dir,
                     c.telemetry.cloud_broker_host, c.telemetry.cloud_broker_port, c.telemetry.cloud_tls_min_version,
                     c.telemetry.cloud_ca_file ? c.telemetry.cloud_ca_file : "(none)");
        evidence_add(f, "peer certificate and host name are always verified (no setting turns that off)");
        if (!streq(c.telemetry.cloud_tls_min_version, "tls1.2") && !streq(c.telemetry.cloud_tls_min_version, "tls1.3"))
                verdict_set(f, VERDICT_FAIL, "Set CloudTLSMinVersion=tls1.2 (or tls1.3) in [telemetry].");
        if (!c.telemetry.cloud_ca_file || stat(c.telemetry.cloud_ca_file, &st) < 0 || !S_ISREG(st.st_mode)) {
                evidence_add(f, "the CA file is missing");
                verdict_set(f, VERDICT_FAIL, "Set CloudCAFile= in [telemetry] to the CA of the cloud broker.");
        }
        if (get_string_property(rep, d, "CloudBroker", live, sizeof live, err, sizeof err) < 0 ||
            get_string_property(rep, d, "State", state, sizeof state, err, sizeof err) < 0) {
                evidence_add(f, "cannot read %s's live settings: %s", d->program, err);
                verdict_set(f, VERDICT_UNKNOWN, "Run the report as root or as a member of group %s.",
                            HUB_ADMIN_GROUP_NAME);
                return;
        }
        (void) snprintf(want, sizeof want, "%s:%u", c.telemetry.cloud_broker_host, c.telemetry.cloud_broker_port);
        if (!streq(live, want)) {
                evidence_add(f, "%s runs with CloudBroker '%s', not this configuration", d->program, live);
                verdict_set(f, VERDICT_FAIL, "Restart %s so that it runs with the configuration shown.",
                            d->program);
                return;
        }
        evidence_add(f, "%s is %s%s", d->program, state,
                     streq(state, "online") || streq(state, "degraded") ? " (a verified TLS session is up)" : "");
        verdict_set(f, VERDICT_PASS, NULL);
}

static void check_listeners(Report *rep, Finding *f) {
        static const char *const protos[] = { "tcp", "tcp6", "udp", "udp6", "raw", "raw6" };
        _cleanup_free_ ProcListener *l = NULL;
        _cleanup_free_ uint64_t *inodes = NULL;
        bool listening = false;

        l = calloc(PROC_LISTENERS_MAX, sizeof *l);
        inodes = calloc(PROC_SOCKETS_MAX, sizeof *inodes);
        if (!l || !inodes) {
                evidence_add(f, "out of memory");
                verdict_set(f, VERDICT_UNKNOWN, "Run the report again.");
                return;
        }
        for (HubDomain i = 0; i < _HUB_DOMAIN_MAX; i++) {
                const Daemon *d = daemon_of(rep, i);
                size_t n_inodes = 0, n = 0;
                bool here = false;
                int r;

                if (!need_running(d, f))
                        continue;
                r = proc_socket_inodes(d->pid, inodes, PROC_SOCKETS_MAX, &n_inodes);
                if (r < 0) {
                        evidence_add(f, "%s (pid %d): cannot list its sockets: %s", d->program, (int) d->pid,
                                     strerror(-r));
                        verdict_set(f, VERDICT_UNKNOWN, "Run the report as root.");
                        continue;
                }
                /* Its own network namespace: PrivateNetwork= gives identityd and privacyd their own. */
                for (size_t p = 0; p < ELEMENTSOF(protos); p++) {
                        _cleanup_fclose_ FILE *tbl = NULL;
                        char path[64];

                        (void) snprintf(path, sizeof path, "/proc/%d/net/%s", (int) d->pid, protos[p]);
                        tbl = fopen(path, "re");
                        if (!tbl)
                                continue; /* no such protocol in that namespace (IPv6 off) */
                        r = proc_net_parse_listeners(tbl, protos[p], l, PROC_LISTENERS_MAX, &n);
                        if (r < 0) {
                                evidence_add(f, "%s: %s", path, strerror(-r));
                                verdict_set(f, VERDICT_UNKNOWN, "Run the report again.");
                        }
                }
                for (size_t k = 0; k < n; k++)
                        for (size_t s = 0; s < n_inodes; s++)
                                if (l[k].inode == inodes[s]) {
                                        listening = here = true;
                                        evidence_add(f, "%s (pid %d) listens on %s %s", d->program, (int) d->pid,
                                                     l[k].proto, l[k].local);
                                }
                if (!here)
                        evidence_add(f, "%s (pid %d): %zu sockets, none listening or raw", d->program, (int) d->pid,
                                     n_inodes);
        }
        if (listening)
                verdict_set(f, VERDICT_FAIL, "Nothing of hubguard may listen on the network: update hubguard, and "
                                             "report this (see security.txt).");
        else
                verdict_set(f, VERDICT_PASS, NULL);
}

static void check_privileges(Report *rep, Finding *f) {
        for (HubDomain i = 0; i < _HUB_DOMAIN_MAX; i++) {
                const Daemon *d = daemon_of(rep, i);
                _cleanup_fclose_ FILE *st = NULL;
                char path[64];
                ProcStatus s;

                if (!need_running(d, f))
                        continue;
                (void) snprintf(path, sizeof path, "/proc/%d/status", (int) d->pid);
                st = fopen(path, "re");
                if (!st || proc_status_parse(st, &s) < 0) {
                        evidence_add(f, "%s: cannot read", path);
                        verdict_set(f, VERDICT_UNKNOWN, "Run the report again.");
                        continue;
                }
                evidence_add(f, "%s (pid %d): uid %u, CapEff %016" PRIx64 ", NoNewPrivs %d, Seccomp %d", d->program,
                             (int) d->pid, (unsigned) s.uid[1], s.cap_eff, s.no_new_privs, s.seccomp);
                if (s.uid[0] == 0 || s.uid[1] == 0 || s.uid[2] == 0 || s.uid[3] == 0 || s.cap_eff != 0 ||
                    s.no_new_privs != 1 || s.seccomp != 2)
                        verdict_set(f, VERDICT_FAIL, "Run the daemons from their systemd units (systemctl start "
                                                     "hubguard.target): these set User=, an empty "
                                                     "CapabilityBoundingSet=, NoNewPrivileges= and "
                                                     "SystemCallFilter=.");
        }
        verdict_set(f, VERDICT_PASS, NULL);
}

static void check_outbox(Report *rep, Finding *f) {
        const Daemon *d = daemon_of(rep, HUB_DOMAIN_TELEMETRY);
        char state[64], err[256];
        uint64_t queued;

        if (d->pid <= 0) {
                evidence_add(f, "%s is not running (%s): telemetry is neither collected nor queued", d->program,
                             d->bus_error);
                verdict_set(f, VERDICT_FAIL, "Start it: systemctl start %s.service.", d->program);
                return;
        }
        if (get_string_property(rep, d, "State", state, sizeof state, err, sizeof err) < 0 ||
            get_trivial_property(rep, d, "QueuedMessages", 't', &queued, err, sizeof err) < 0) {
                evidence_add(f, "cannot read the outbox of %s: %s", d->program, err);
                verdict_set(f, VERDICT_UNKNOWN, "Run the report as root or as a member of group %s.",
                            HUB_ADMIN_GROUP_NAME);
                return;
        }
        evidence_add(f, "%s is %s with %" PRIu64 " messages in its durable outbox%s", d->program, state, queued,
                     streq(state, "offline") ? ": kept until the cloud is back" : "");
        verdict_set(f, VERDICT_PASS, NULL);
}

static void check_member(Report *rep, Finding *f, HubDomain domain, const char *kind, const char *member,
                         const char *what, const char *remedy) {
        const Daemon *d = daemon_of(rep, domain);
        char err[256];
        int r;

        if (!need_running(d, f))
                return;
        r = introspect_has_member(rep, d, kind, member, err, sizeof err);
        if (r < 0) {
                evidence_add(f, "cannot introspect %s: %s", d->program, err);
                verdict_set(f, VERDICT_UNKNOWN, "Run the report as root or as a member of group %s.",
                            HUB_ADMIN_GROUP_NAME);
                return;
        }
        evidence_add(f, "%s %s %s.%s %s", d->program, r ? "offers" : "does not offer", d->iface, member, what);
        if (r)
                verdict_set(f, VERDICT_PASS, NULL);
        else
                verdict_set(f, VERDICT_FAIL, "%s", remedy);
}

static void check_anomaly(Report *rep, Finding *f) {
        check_member(rep, f, HUB_DOMAIN_TELEMETRY, "signal", "AnomalyDetected", "(anomaly scoring of telemetry)",
                     "Update hubguard to a release whose hub-telemetryd scores telemetry for anomalies.");
}

static void check_erase(Report *rep, Finding *f) {
        check_member(rep, f, HUB_DOMAIN_PRIVACY, "method", "Erase", "(erasure of user data)",
                     "Update hubguard to a release whose hub-privacyd can erase user data.");
}

/* One row per provision the hub can show evidence for, in the standard's order. */
static const SecurityCheck checks[] = {
        { "5.1-1", "No universal default passwords", true, check_password },
        { "5.2-1", "A vulnerability-disclosure policy is published", true, check_disclosure },
        { "5.3-13", "The support period is published and not over", true, check_support },
        { "5.4-1", "Secrets are stored securely", true, check_secrets },
        { "5.5-1", "Communication uses best-practice cryptography", true, check_tls },
        { "5.6-1", "No network interface is open that is not needed", true, check_listeners },
        { "5.6-7", "Software runs with least privilege", false, check_privileges },
        { "5.9-1", "Telemetry survives an outage (durable outbox)", false, check_outbox },
        { "5.10-1", "Telemetry is examined for security anomalies", false, check_anomaly },
        { "5.11-1", "User data can be erased", true, check_erase },
};

/* ---------------------------------------------------------------------------------------------------
 * Output
 */

static int print_json(const Finding *findings, bool compliant) {
        json_t *root, *arr;

        root = json_pack("{s:s, s:s, s:s, s:b}", "version", PROJECT_VERSION, "security_contact", SECURITY_CONTACT,
                         "support_end", SUPPORT_END, "compliant", compliant);
        arr = json_array();
        if (!root || !arr || json_object_set_new(root, "checks", arr) < 0) {
                json_decref(root);
                return -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s}", "provision", checks[i].provision, "title",
                                      checks[i].title, "mandatory", checks[i].mandatory, "verdict",
                                      verdict_names[findings[i].verdict], "evidence", findings[i].evidence, "remedy",
                                      findings[i].remedy);

                if (!o || json_array_append_new(arr, o) < 0) {
                        json_decref(root);
                        return -ENOMEM;
                }
        }
        return hubctl_print_json(root) == HUBCTL_EXIT_OK ? 0 : -EIO;
}

static void print_text(const Finding *findings, bool compliant) {
        unsigned count[_VERDICT_MAX] = {}, mandatory_bad = 0;

        printf("EN 303 645 self-assessment of this hub (hubguard %s)\n"
               "Security contact: %s; security updates until %s\n\n",
               PROJECT_VERSION, SECURITY_CONTACT, SUPPORT_END);
        printf("%-8s %-9s %-15s %s\n", "PROV.", "STATUS", "VERDICT", "TITLE");
        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                const Finding *f = &findings[i];

                count[f->verdict]++;
                if (checks[i].mandatory && (f->verdict == VERDICT_FAIL || f->verdict == VERDICT_UNKNOWN))
                        mandatory_bad++;
                printf("%-8s %-9s %-15s %s\n", checks[i].provision, checks[i].mandatory ? "mandatory" : "advised",
                       verdict_names[f->verdict], checks[i].title);
                printf("         evidence: %s\n", f->evidence[0] ? f->evidence : "-");
                if (f->verdict == VERDICT_FAIL || f->verdict == VERDICT_UNKNOWN)
                        printf("         remedy:   %s\n", f->remedy);
        }
        printf("\n%u pass, %u fail, %u not applicable, %u unknown. %s\n", count[VERDICT_PASS], count[VERDICT_FAIL],
               count[VERDICT_NOT_APPLICABLE], count[VERDICT_UNKNOWN],
               compliant ? "Every mandatory provision checked here holds."
                         : mandatory_bad == 1 ? "1 mandatory provision fails or cannot be shown."
                                              : "Mandatory provisions fail or cannot be shown.");
}

static int parse_options(int argc, char *argv[], HubctlOptions *o, const char **security_txt) {
        enum { ARG_JSON = 0x100, ARG_SECURITY_TXT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, ARG_JSON },
                { "security-txt", required_argument, NULL, ARG_SECURITY_TXT },
                {},
        };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(verb_security_report_usage, stdout);
                        return 1;
                case ARG_JSON:
                        o->json = true;
                        break;
                case ARG_SECURITY_TXT:
                        if (optarg[0] == '\0')
                                {
                                (void) hubctl_usage_error(argv[0], "--security-txt needs a file name");
                                return -1;
                        }
                        *security_txt = optarg;
                        break;
                case ':':
                        (void) hubctl_usage_error(argv[0], "option '--security-txt' needs a value");
                        return -1;
                default:
                        (void) hubctl_usage_error(argv[0], "unknown option");
                        return -1;
                }
        if (optind < argc) {
                (void) hubctl_usage_error(argv[0], "takes no arguments");
                return -1;
        }
        return 0;
}

int verb_security_report(int argc, char *argv[], const HubctlOptions *global) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Report rep = {
                .daemons = {
                        [HUB_DOMAIN_IDENTITY] = { "identity", "hub-identityd", "hub-identity", HUB_BUS_NAME_IDENTITY,
                                                  HUB_BUS_PATH_IDENTITY, HUB_BUS_IFACE_IDENTITY },
                        [HUB_DOMAIN_TELEMETRY] = { "telemetry", "hub-telemetryd", "hub-telemetry",
                                                   HUB_BUS_NAME_TELEMETRY, HUB_BUS_PATH_TELEMETRY,
                                                   HUB_BUS_IFACE_TELEMETRY },
                        [HUB_DOMAIN_PRIVACY] = { "privacy", "hub-privacyd", "hub-privacy", HUB_BUS_NAME_PRIVACY,
                                                 HUB_BUS_PATH_PRIVACY, HUB_BUS_IFACE_PRIVACY },
                },
                .security_txt = SECURITY_TXT_PATH,
        };
        Finding findings[ELEMENTSOF(checks)] = {};
        HubctlOptions o = *global;
        bool compliant = true;
        int r;

        r = parse_options(argc, argv, &o, &rep.security_txt);
        if (r != 0)
                return r > 0 ? HUBCTL_EXIT_OK : HUBCTL_EXIT_USAGE;

        r = hubctl_bus_open(&bus);
        if (r < 0)
                return HUBCTL_EXIT_FAILURE;
        rep.bus = bus;
        for (size_t i = 0; i < ELEMENTSOF(rep.daemons); i++)
                daemon_discover(&rep, &rep.daemons[i]);

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                findings[i].verdict = VERDICT_PASS;
                checks[i].check(&rep, &findings[i]);
                if (checks[i].mandatory &&
                    (findings[i].verdict == VERDICT_FAIL || findings[i].verdict == VERDICT_UNKNOWN))
                        compliant = false;
        }

        if (o.json)
                r = print_json(findings, compliant);
        else
                print_text(findings, compliant);
        if (r < 0 || fflush(stdout) != 0) {
                fprintf(stderr, "hubctl security-report: cannot write the output.\n");
                return HUBCTL_EXIT_FAILURE;
        }
        return compliant ? HUBCTL_EXIT_OK : HUBCTL_EXIT_FAILURE;
}
