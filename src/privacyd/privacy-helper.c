/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * hub-privacy-helper: the one privileged step of the privacy domain, kept apart from the
 * unprivileged hub-privacyd (the pattern of chrony's privileged helper and OpenSSH's monitor).
 * hub-privacy-helper.path starts it (as root, sandboxed: hub-privacy-helper.service) when
 * hub-privacyd leaves a request file in its own state directory. It accepts only a closed list of
 * operations:
 *
 *   erase-subject SUBJECT REQUEST-ID   run the erase actions other hub apps declare in
 *                                      privacy.d for one data subject
 *   factory-reset REQUEST-ID           erase all user data of every domain (see hub-privacyd(8))
 *
 * Who asked is checked by the file system: the requests directory and each request file must be
 * owned by the user hub-privacy, not writable by anybody else, and regular files (no symlink). A
 * request that is not exactly one of the lines above is refused, removed and reported.
 * Each request gets a result file, written atomically and handed to hub-privacy; the request is
 * removed after its result is written (a crash before that runs it again: every action is
 * idempotent).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/validate.h"
#include "privacyd-decl.h"

#define REQUEST_MAX 256
#define REQUESTS_PER_RUN 64
#define COMMAND_TIMEOUT_SEC 60
#define PRIVACY_USER "hub-privacy"

static const char *arg_state_root = STATE_DIR;
static const char *arg_config_dir = CONF_DIR;
static const char *arg_credentials_dir = STATE_DIR "/credentials";
static const char *arg_journal_dir = NULL;
static bool arg_systemctl = true;
static uid_t privacy_uid;
static gid_t privacy_gid;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static bool is_hex(const char *s, size_t len) {
        return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* ---- removal without following symlinks ---- */

#define RM_DEPTH_MAX 64

/*
 * A directory we may walk through, or whose entries we may remove, as root: root's, and not
 * writable by anybody else unless sticky (then nobody else can rename or replace its entries).
 * A directory another user controls could have its entries swapped under us; such a path needs
 * User= (the removal then runs as that user, and the kernel checks every step).
 */
static bool dir_is_safe_for_root(const struct stat *st) {
        return st->st_uid == 0 && (!(st->st_mode & 0022) || (st->st_mode & S_ISVTX));
}

/*
 * Open the parent directory of path (absolute, normal) one component at a time, never following a
 * symlink (O_NOFOLLOW on each step: a symlink anywhere on the way is refused, -ELOOP). As root,
 * every directory on the way must pass dir_is_safe_for_root() (-EPERM otherwise; *ret_bad names it).
 * Returns the fd; *ret_base points into path at the last component.
 */
static int open_parent_nofollow(const char *path, const char **ret_base, char *bad, size_t bad_size) {
        const char *p = path;
        int fd;

        if (path[0] != '/')
                return -EINVAL;
        /* O_PATH: walking through needs search permission only, as with a path lookup. */
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                const char *slash;
                char comp[256];
                struct stat st;
                size_t len;
                int nfd;

                if (fstat(fd, &st) < 0) {
                        nfd = -errno;
                        close(fd);
                        return nfd;
                }
                if (!S_ISDIR(st.st_mode)) {
                        close(fd);
                        return -ENOTDIR;
                }
                if (geteuid() == 0 && !dir_is_safe_for_root(&st)) {
                        (void) snprintf(bad, bad_size, "%.*s", (int) MAX(p - path, 1), path);
                        close(fd);
                        return -EPERM;
                }
                p += strspn(p, "/");
                slash = strchr(p, '/');
                if (!slash) {
                        *ret_base = p;
                        return fd;
                }
                len = (size_t) (slash - p);
                if (len == 0 || len >= sizeof comp) {
                        close(fd);
                        return -EINVAL;
                }
                memcpy(comp, p, len);
                comp[len] = '\0';
                nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd < 0) {
                        nfd = errno == ENOTDIR && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)
                                      ? -ELOOP
                                      : -errno;
                        (void) snprintf(bad, bad_size, "%.*s", (int) (slash - path), path);
                        close(fd);
                        return nfd;
                }
                close(fd);
                fd = nfd;
                p = slash;
        }
}

/* Remove everything inside the directory dfd (on device dev), through fds only. Counts into *n. */
static int rm_children(int dfd, dev_t dev, unsigned depth, unsigned *n) {
        struct dirent *de;
        int r = 0, fd;
        DIR *d;

        if (depth >= RM_DEPTH_MAX)
                return -ELOOP;
        fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        while ((de = readdir(d))) {
                struct stat st;
                int k = 0;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT && r >= 0)
                                r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int cfd;

                        /* Another file system mounted here is not ours to empty (like rm --one-file-system). */
                        if (st.st_dev != dev) {
                                r = r < 0 ? r : -EXDEV;
                                continue;
                        }
                        cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                k = errno == ENOENT ? 0 : -errno;
                        else {
                                struct stat cst;

                                /* Still the directory we looked at (not swapped since). */
                                if (fstat(cfd, &cst) < 0 || cst.st_ino != st.st_ino || cst.st_dev != st.st_dev)
                                        k = -ESTALE;
                                else
                                        k = rm_children(cfd, dev, depth + 1, n);
                                close(cfd);
                                if (k >= 0 && unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                                        k = -errno;
                        }
                } else if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT)
                        k = -errno;
                if (k < 0 && r >= 0)
                        r = k;
                else if (k >= 0 && depth == 0)
                        (*n)++;
        }
        closedir(d);
        return r;
}

/*
 * Remove path (a file, a symlink itself, or a tree) without following any symlink, on its own
 * file system only. 1 removed, 0 was not there, < 0 error (bad names the offending directory).
 */
static int rm_rf(const char *path, char *bad, size_t bad_size) {
        const char *base;
        struct stat st;
        unsigned n = 0;
        int pfd, fd, r;

        bad[0] = '\0';
        pfd = open_parent_nofollow(path, &base, bad, bad_size);
        if (pfd == -ENOENT)
                return 0;
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = errno == ENOENT ? 0 : -errno;
                close(pfd);
                return r;
        }
        if (!S_ISDIR(st.st_mode)) {
                r = unlinkat(pfd, base, 0) < 0 ? (errno == ENOENT ? 0 : -errno) : 1;
                close(pfd);
                return r;
        }
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                close(pfd);
                return r;
        }
        r = rm_children(fd, st.st_dev, 0, &n);
        close(fd);
        if (r >= 0)
                r = unlinkat(pfd, base, AT_REMOVEDIR) < 0 ? -errno : 1;
        close(pfd);
        return r;
}

/* Remove everything inside dir, keeping dir itself (its owner and mode). */
static int empty_dir(const char *dir, unsigned *ret_n) {
        char bad[256];
        const char *base;
        struct stat st;
        int pfd, fd, r;

        *ret_n = 0;
        pfd = open_parent_nofollow(dir, &base, bad, sizeof bad);
        if (pfd < 0)
                return pfd == -ENOENT ? 0 : log_error_errno(pfd, "Cannot open '%s' safely (at '%s'): %m", dir, bad);
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        r = fd < 0 ? -errno : 0;
        close(pfd);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Cannot open '%s' without following a symlink: %m", dir);
        r = fstat(fd, &st) < 0 ? -errno : rm_children(fd, st.st_dev, 0, ret_n);
        close(fd);
        return r;
}

static void subst(const char *tmpl, const char *subject, char *buf, size_t size) {
        const char *p = strstr(tmpl, "%s");

        if (p)
                (void) snprintf(buf, size, "%.*s%s%s", (int) (p - tmpl), tmpl, subject ? subject : "", p + 2);
        else
                (void) snprintf(buf, size, "%s", tmpl);
}

/* ---- work as the app's own user, in a child ---- */

static int drop_to(const char *user) {
        struct passwd *pw = getpwnam(user);

        if (!pw)
                return -ESRCH;
        /* User= is not root by name; nor may it be root by number (a second uid-0 account). */
        if (pw->pw_uid == 0 || pw->pw_gid == 0)
                return -EPERM;
        /* Groups, then gid, then uid (after setresuid() there is no right left to change the others). */
        if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                return -errno;
        /* And it holds: there is no way back to root. */
        if (setresuid(0, 0, 0) >= 0 || geteuid() != pw->pw_uid || getegid() != pw->pw_gid)
                return -EPERM;
        if (chdir("/") < 0)
                return -errno;
        return 0;
}

/* The app's statement for one subject, on its database, with secure_delete and a WAL truncation. */
static int run_statement(const DeclApp *a, const char *subject, int64_t *ret_changes) {
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_open_v2(a->database, &db, SQLITE_OPEN_READWRITE, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_busy_timeout(db, 10000);
        if (rc == SQLITE_OK)
                rc = sqlite3_exec(db, "PRAGMA secure_delete=ON", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(db, a->statement, -1, &st, NULL);
        if (rc == SQLITE_OK) {
                (void) sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        ;
                if (rc == SQLITE_DONE)
                        rc = SQLITE_OK;
        }
        if (rc == SQLITE_OK) {
                *ret_changes = sqlite3_changes(db);
                (void) sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        }
        sqlite3_finalize(st);
        sqlite3_close_v2(db);
        return rc == SQLITE_OK ? 0 : -EIO;
}

typedef enum Action {
        ACTION_PATHS,       /* [Erase] Path= for one subject */
        ACTION_RESET_PATHS, /* [Reset] Path= */
        ACTION_STATEMENT,
        ACTION_COMMAND,
} Action;

/* Remove the paths; a one-line report. 0, or the last error. */
static int remove_paths(char *const *paths, size_t n, const char *subject, char *out, size_t size) {
        unsigned removed = 0, missing = 0;
        int r = 0;

        out[0] = '\0';
        for (size_t i = 0; i < n; i++) {
                char p[4200], bad[256];
                int k;


                subst(paths[i], subject, p, sizeof p);
                k = rm_rf(p, bad, sizeof bad);
                if (k == -ELOOP && bad[0])
                        (void) snprintf(out + strlen(out), size - strlen(out),
                                        "failed to remove %.200s: %.200s is a symlink (not followed); ", p, bad);
                else if (k == -EPERM && bad[0])
                        (void) snprintf(out + strlen(out), size - strlen(out),
                                        "failed to remove %.200s: %.200s is not root's own directory (set User=); ", p,
                                        bad);
                else if (k < 0)
                        (void) snprintf(out + strlen(out), size - strlen(out), "failed to remove %.200s: %s; ", p,
                                        strerror(-k));
                if (k < 0) {
                        r = k;
                } else if (k > 0)
                        removed++;
                else
                        missing++;
        }
        (void) snprintf(out + strlen(out), size - strlen(out), "removed %u path(s), %u not present", removed, missing);
        return r;
}

/*
 * Do one action in a child, as the app's User= if it has one (so that a path the app controls,
 * a symlink planted in its directory say, cannot make root remove anything the app could not);
 * its one-line report comes back through a pipe.
 */
static int as_user(const char *user, const DeclApp *a, const char *subject, Action action, char *out, size_t size) {
        bool command = action == ACTION_COMMAND;
        int fds[2], status = 0;
        pid_t pid;
        ssize_t n;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char msg[256];
                int r;

                close(fds[0]);
                r = user ? drop_to(user) : 0;
                if (r < 0) {
                        n = snprintf(msg, sizeof msg, "cannot become user %s: %s", user, strerror(-r));
                        (void) !write(fds[1], msg, (size_t) n);
                        _exit(EXIT_FAILURE);
                }
                if (command) {
                        char args[DECL_ARGS_MAX + 1][1100];
                        char *argv[DECL_ARGS_MAX + 1] = {};
                        char *envp[] = { (char *) "PATH=/usr/bin:/bin", NULL };

                        for (size_t i = 0; i < a->n_args; i++) {
                                subst(a->argv[i], subject, args[i], sizeof args[i]);
                                argv[i] = args[i];
                        }
                        /* What the command prints is not our report (its exit status is); stderr goes to the journal. */
                        r = open("/dev/null", O_WRONLY | O_CLOEXEC);
                        if (r < 0 || dup2(r, STDOUT_FILENO) < 0)
                                _exit(EXIT_FAILURE);
                        execve(argv[0], argv, envp);
                        n = snprintf(msg, sizeof msg, "cannot run %s: %s", argv[0], strerror(errno));
                        (void) !write(fds[1], msg, (size_t) n);
                        _exit(127);
                } else if (action == ACTION_PATHS || action == ACTION_RESET_PATHS) {
                        char rep[1024];

                        r = action == ACTION_PATHS ? remove_paths(a->paths, a->n_paths, subject, rep, sizeof rep)
                                                   : remove_paths(a->reset_paths, a->n_reset_paths, NULL, rep, sizeof rep);
                        (void) !write(fds[1], rep, strlen(rep));
                        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                } else {
                        int64_t changes = 0;

                        r = run_statement(a, subject, &changes);
                        n = r < 0 ? snprintf(msg, sizeof msg, "failed: the statement on %s did not run", a->database)
                                  : snprintf(msg, sizeof msg, "deleted %" PRIi64 " row(s) from %s", changes, a->database);
                        (void) !write(fds[1], msg, (size_t) n);
                        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                }
        }
        close(fds[1]);
        for (int waited = 0;; waited++) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w == pid)
                        break;
                if (w < 0) {
                        close(fds[0]);
                        return -errno;
                }
                if (waited >= COMMAND_TIMEOUT_SEC * 10) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, &status, 0);
                        close(fds[0]);
                        (void) snprintf(out, size, "failed: killed after %d s", COMMAND_TIMEOUT_SEC);
                        return -ETIME;
                }
                (void) usleep(100000);
        }
        n = read(fds[0], out, size - 1);
        close(fds[0]);
        out[n > 0 ? n : 0] = '\0';
        if (command) {
                if (!out[0] || WIFEXITED(status))
                        (void) snprintf(out + strlen(out), size - strlen(out), "%scommand %s %s %d", out[0] ? "; " : "",
                                        a->argv[0], WIFEXITED(status) ? "exited with" : "killed by signal",
                                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The app's erase actions for one subject; a one-line result. */
static int erase_app(const DeclApp *a, const char *subject, char *out, size_t size) {
        static const Action actions[] = { ACTION_PATHS, ACTION_STATEMENT, ACTION_COMMAND };
        int r = 0, k;

        out[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(actions); i++) {
                char msg[1100];

                if ((actions[i] == ACTION_PATHS && a->n_paths == 0) || (actions[i] == ACTION_STATEMENT && !a->database) ||
                    (actions[i] == ACTION_COMMAND && a->n_args == 0))
                        continue;
                k = as_user(a->user, a, subject, actions[i], msg, sizeof msg);
                (void) snprintf(out + strlen(out), size - strlen(out), "%s; ", msg);
                if (k < 0)
                        r = k;
        }
        if (strlen(out) >= 2)
                out[strlen(out) - 2] = '\0';
        if (r < 0 && size > 9) {
                memmove(out + 8, out, MIN(strlen(out) + 1, size - 9));
                memcpy(out, "failed: ", 8);
                out[size - 1] = '\0';
        }
        return r;
}

/* ---- results ---- */

/*
 * Write a result as dir/name: atomically, already hub-privacy's when it appears (hub-privacyd reads
 * it at once), and relative to a directory opened without following symlinks and checked to be
 * hub-privacy's, so that hub-privacy cannot redirect root's write elsewhere.
 */
static int write_result(const char *dir, const char *name, json_t *o) {
        _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
        unsigned char raw[8];
        char tmp[256];
        struct stat st;
        int dfd, fd, r = 0;

        if (!text)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(errno, "Cannot open '%s': %m", dir);
        if (fstat(dfd, &st) < 0 || st.st_uid != privacy_uid || (st.st_mode & 0022)) {
                close(dfd);
                return log_error_errno(EPERM, "'%s' is not %s's own directory; no result written.", dir, PRIVACY_USER);
        }
        randombytes_buf(raw, sizeof raw);
        (void) snprintf(tmp, sizeof tmp, ".%s.%02x%02x%02x%02x%02x%02x%02x%02x", name, raw[0], raw[1], raw[2], raw[3],
                        raw[4], raw[5], raw[6], raw[7]);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                r = -errno;
        if (r >= 0 && fchown(fd, privacy_uid, privacy_gid) < 0)
                r = -errno;
        if (r >= 0)
                r = loop_write(fd, text, strlen(text));
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (fd >= 0 && close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        else if (fsync(dfd) < 0)
                r = -errno;
        close(dfd);
        if (r < 0)
                return log_error_errno(r, "Cannot write the result '%s/%s': %m", dir, name);
        return 0;
}

static json_t *stores_for_subject(const DeclSet *decl, const char *subject, unsigned *ret_failed) {
        json_t *stores = json_array();

        for (size_t i = 0; stores && i < decl->n_apps; i++) {
                char out[2048];

                if (!decl_app_has_erase(&decl->apps[i]))
                        continue;
                if (erase_app(&decl->apps[i], subject, out, sizeof out) < 0)
                        (*ret_failed)++;
                (void) json_array_append_new(stores, json_pack("{ssss}", "store", decl->apps[i].name, "result", out));
        }
        return stores;
}

static int op_erase_subject(const DeclSet *decl, const char *subject, const char *request_id, const char *resdir) {
        char name[PRIVACY_REQUEST_ID_LEN + 8];
        unsigned failed = 0;
        json_t *o = json_pack("{sssssssIso}", "op", "erase-subject", "request_id", request_id, "subject", subject,
                              "completed_usec", (json_int_t) now_usec(), "stores",
                              stores_for_subject(decl, subject, &failed));
        int r;

        if (!o)
                return -ENOMEM;
        (void) snprintf(name, sizeof name, "%s.json", request_id);
        r = write_result(resdir, name, o);
        json_decref(o);
        log_info("Erase %s: the declared app stores were processed (%u failed).", request_id, failed);
        return r;
}

static int run_tool(const char *const argv[]) {
        int status;
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void add_result(json_t *stores, const char *store, int r, const char *ok) {
        char msg[300];

        if (r < 0)
                (void) snprintf(msg, sizeof msg, "failed: %s", strerror(-r));
        else
                (void) snprintf(msg, sizeof msg, "%s", ok);
        (void) json_array_append_new(stores, json_pack("{ssss}", "store", store, "result", msg));
}

#define ADD_RESULT(stores, store, r, ...)                                                                 \
        do {                                                                                              \
                char _m[300];                                                                             \
                (void) snprintf(_m, sizeof _m, __VA_ARGS__);                                              \
                add_result(stores, store, r, _m);                                                         \
        } while (0)

/*
 * The ids of hub-privacy's subjects, each NUL-terminated, the list ended by an empty one. Read in a child running as hub-privacy: the
 * database is hub-privacy's file, so root neither parses it nor opens it (nor its -wal and -shm, which
 * hub-privacy could have made symlinks) with root's rights. Every id is checked here.
 */
static int read_subjects(char **ret) {
        size_t size = PRIVACY_SUBJECTS_MAX * (PRIVACY_SUBJECT_ID_LEN + 1) + 1, have = 0, out = 0;
        _cleanup_free_ char *buf = malloc(size), *ids = malloc(size);
        int fds[2], status;
        pid_t pid;
        ssize_t n;

        if (!buf || !ids)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(fds[0]);
                close(fds[1]);
                return -errno;
        }
        if (pid == 0) {
                char path[4200];
                sqlite3 *db = NULL;
                sqlite3_stmt *st = NULL;
                FILE *f;
                int rc;

                close(fds[0]);
                if (drop_to(PRIVACY_USER) < 0)
                        _exit(EXIT_FAILURE);
                f = fdopen(fds[1], "w");
                (void) snprintf(path, sizeof path, "%s/privacy/privacy.db", arg_state_root);
                if (access(path, F_OK) < 0 && errno == ENOENT)
                        _exit(EXIT_SUCCESS);
                /* Once in three nspawn runs this read failed (exit status only; cause not established).
                 * Now: read-write without create, as the file's owner (a read-only connection to a WAL
                 * database has extra ways to fail), a busy timeout, and SQLite's own words in the log. */
                if (!f || sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
                    sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
                    sqlite3_prepare_v2(db, "SELECT id FROM subject LIMIT " STRINGIFY(PRIVACY_SUBJECTS_MAX), -1, &st,
                                       NULL) != SQLITE_OK) {
                        log_error("Cannot read the subjects in %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
                        _exit(EXIT_FAILURE);
                }
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        fprintf(f, "%.*s\n", PRIVACY_SUBJECT_ID_LEN + 1, (const char *) sqlite3_column_text(st, 0));
                if (rc != SQLITE_DONE) {
                        log_error("Cannot read the subjects in %s: %s", path, sqlite3_errmsg(db));
                        _exit(EXIT_FAILURE);
                }
                _exit(fclose(f) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
        }
        close(fds[1]);
        while (have < size - 1 && (n = read(fds[0], buf + have, size - 1 - have)) != 0) {
                if (n < 0 && errno != EINTR)
                        break;
                have += n > 0 ? (size_t) n : 0;
        }
        close(fds[0]);
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        buf[have] = '\0';
        /* Only whole lines of exactly one id each; anything else is skipped. */
        for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
                *nl = '\0';
                if (!is_hex(line, PRIVACY_SUBJECT_ID_LEN))
                        continue;
                memcpy(ids + out, line, PRIVACY_SUBJECT_ID_LEN);
                ids[out + PRIVACY_SUBJECT_ID_LEN] = '\0';
                out += PRIVACY_SUBJECT_ID_LEN + 1;
        }
        ids[out] = '\0';
        *ret = TAKE_PTR(ids);
        return 0;
}

static int op_factory_reset(const DeclSet *decl, const char *request_id) {
        static const char *const domains[] = { "identity", "telemetry", "privacy" };
        json_t *stores = json_array(), *o;
        char path[4200];
        unsigned failed = 0, n;
        int r;

        if (!stores)
                return -ENOMEM;
        log_notice("Factory reset %s: erasing all user data of every domain.", request_id);
        if (arg_systemctl) {
                r = run_tool((const char *const[]) { "/bin/systemctl", "stop", "hubguard.target", NULL });
                add_result(stores, "services", r, "stopped hubguard.target");
        }

        /* The declared app data: each subject's erase actions, then the app's [Reset] paths. */
        {
                _cleanup_free_ char *ids = NULL;

                r = read_subjects(&ids);
                if (r < 0) {
                        log_error_errno(r, "Cannot read the subjects of %s's store (as %s): %m", PRIVACY_USER, PRIVACY_USER);
                        add_result(stores, "subjects", r, "");
                }
                failed += r < 0;
                for (const char *id = ids; id && *id; id += PRIVACY_SUBJECT_ID_LEN + 1)
                        json_decref(stores_for_subject(decl, id, &failed));
        }
        for (size_t i = 0; i < decl->n_apps; i++) {
                const DeclApp *a = &decl->apps[i];

                char msg[1100] = "no reset paths";

                r = a->n_reset_paths > 0 ? as_user(a->user, a, NULL, ACTION_RESET_PATHS, msg, sizeof msg) : 0;
                if (decl_app_has_erase(a) || a->n_reset_paths > 0)
                        ADD_RESULT(stores, a->name, r, "erased every subject's data; [Reset] %s", msg);
                failed += r < 0;
        }

        /* The master keys: made anew (hub-identity-keygen, hub-privacy-keygen) at the next start. */
        {
                DIR *d = opendir(arg_credentials_dir);
                struct dirent *de;

                n = 0;
                r = 0;
                while (d && (de = readdir(d))) {
                        size_t len = strlen(de->d_name);

                        if (len > 5 && streq(de->d_name + len - 5, ".cred")) {
                                (void) snprintf(path, sizeof path, "%s/%s", arg_credentials_dir, de->d_name);
                                if (unlink(path) < 0)
                                        r = -errno;
                                else
                                        n++;
                        }
                }
                if (d)
                        closedir(d);
                ADD_RESULT(stores, "credentials", r, "removed %u master key credential(s)", n);
                failed += r < 0;
        }

        if (arg_journal_dir) {
                r = empty_dir(arg_journal_dir, &n);
                ADD_RESULT(stores, "journal", r, "removed %u journal file(s)", n);
        } else {
                /* Rotate, so that everything so far is in archived files, then remove them all. */
                r = run_tool((const char *const[]) { "/bin/journalctl", "--rotate", NULL });
                if (r >= 0)
                        r = run_tool((const char *const[]) { "/bin/journalctl", "--vacuum-time=1s", "--quiet", NULL });
                add_result(stores, "journal", r, "rotated and vacuumed");
        }
        failed += r < 0;

        /* The domains' state last, the privacy domain's (which holds this request) at the very end:
         * until then a crash leaves the request, and the reset runs again from the start. */
        for (size_t i = 0; i < ELEMENTSOF(domains); i++) {
                (void) snprintf(path, sizeof path, "%s/%s", arg_state_root, domains[i]);
                r = empty_dir(path, &n);
                ADD_RESULT(stores, domains[i], r, "state directory emptied (%u entries)", n);
                failed += r < 0;
        }

        o = json_pack("{sssssIso}", "op", "factory-reset", "request_id", request_id, "completed_usec",
                      (json_int_t) now_usec(), "stores", stores);
        (void) snprintf(path, sizeof path, "%s/privacy", arg_state_root);
        r = o ? write_result(path, "factory-reset.json", o) : -ENOMEM;
        json_decref(o);
        log_notice("Factory reset %s done (%u step(s) failed); the hub provisions itself anew.", request_id, failed);
        if (arg_systemctl)
                (void) run_tool((const char *const[]) { "/bin/systemctl", "--no-block", "start", "hubguard.target", NULL });
        return r;
}

/* ---- requests ---- */

/* Read a request file, checking it is hub-privacy's own regular file. */
static int read_request(int dirfd, const char *name, char *buf, size_t size) {
        struct stat st;
        ssize_t n;
        int fd;

        fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != privacy_uid || (st.st_mode & 0022) ||
            st.st_size <= 0 || (size_t) st.st_size >= size) {
                close(fd);
                return -EPERM;
        }
        n = read(fd, buf, size - 1);
        close(fd);
        if (n <= 0)
                return -EIO;
        buf[n] = '\0';
        /* Text, not a NUL in the middle hiding what follows from the parser. */
        return strlen(buf) == (size_t) n ? 0 : -EBADMSG;
}

/* Is buf exactly "OP A1\n" (a2 NULL) or "OP A1 A2\n", as hub-privacyd writes it: one space, one line? */
static bool request_is_canonical(const char *buf, const char *op, const char *a1, const char *a2) {
        char canon[REQUEST_MAX + 1];

        if (snprintf(canon, sizeof canon, "%s %s%s%s\n", op, a1, a2 ? " " : "", strempty(a2)) >= (int) sizeof canon)
                return false;
        return streq(buf, canon);
}

static int process(const DeclSet *decl) {
        char reqdir[4200], resdir[4200];
        struct stat st;
        unsigned done = 0;
        int dirfd, r = 0;
        DIR *d;
        struct dirent *de;

        (void) snprintf(reqdir, sizeof reqdir, "%s/privacy/requests", arg_state_root);
        (void) snprintf(resdir, sizeof resdir, "%s/privacy/results", arg_state_root);
        dirfd = open(reqdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dirfd < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(errno, "Cannot open '%s': %m", reqdir);
        }
        if (fstat(dirfd, &st) < 0 || st.st_uid != privacy_uid || (st.st_mode & 0022)) {
                close(dirfd);
                return log_error_errno(EPERM, "'%s' is not %s's own directory; nothing done.", reqdir, PRIVACY_USER);
        }
        d = fdopendir(dirfd);
        if (!d) {
                close(dirfd);
                return -errno;
        }
        while ((de = readdir(d)) && done < REQUESTS_PER_RUN) {
                char buf[REQUEST_MAX + 1], op[32] = "", a1[80] = "", a2[80] = "", extra[8] = "";
                size_t len = strlen(de->d_name);
                int k, fields;

                if (de->d_name[0] == '.' || len < 5 || !streq(de->d_name + len - 4, ".req"))
                        continue;
                done++;
                k = read_request(dirfd, de->d_name, buf, sizeof buf);
                if (k < 0) {
                        log_warning("Refused request file '%s/%s': not a regular text file of %s's under %d bytes.",
                                    reqdir, string_is_safe(de->d_name, 255) ? de->d_name : "?", PRIVACY_USER,
                                    REQUEST_MAX);
                        (void) unlinkat(dirfd, de->d_name, 0);
                        continue;
                }
                fields = sscanf(buf, "%31s %79s %79s %7s", op, a1, a2, extra);
                if (fields == 3 && streq(op, "erase-subject") && is_hex(a1, PRIVACY_SUBJECT_ID_LEN) &&
                    is_hex(a2, PRIVACY_REQUEST_ID_LEN) && request_is_canonical(buf, op, a1, a2)) {
                        k = op_erase_subject(decl, a1, a2, resdir);
                } else if (fields == 2 && streq(op, "factory-reset") && is_hex(a1, PRIVACY_REQUEST_ID_LEN) &&
                           request_is_canonical(buf, op, a1, NULL)) {
                        /* The request goes with the privacy state directory, the reset's last step. */
                        k = op_factory_reset(decl, a1);
                        (void) unlinkat(dirfd, de->d_name, 0);
                        r = k < 0 ? k : r;
                        break;
                } else {
                        /* The name is hub-privacy's choice: logged only if it is plain text (no forged lines). */
                        log_warning("Refused request '%s': not one of the operations this helper performs.",
                                    string_is_safe(de->d_name, 255) ? de->d_name : "?");
                        k = 0;
                }
                if (k >= 0)
                        (void) unlinkat(dirfd, de->d_name, 0);
                else
                        r = k;
        }
        closedir(d);
        return r;
}

static int help(void) {
        printf("%s [OPTIONS...]\n\n"
               "The privileged helper of hub-privacyd: performs the requests it left in its state\n"
               "directory (erase-subject, factory-reset) and writes their results. See hub-privacyd(8).\n\n"
               "  -h --help                  Show this help\n"
               "     --state-root=DIR        The domains' state directories are DIR/identity, ... (%s)\n"
               "     --config-dir=DIR        Read DIR/privacy.d (%s)\n"
               "     --credentials-dir=DIR   The master key credentials (%s/credentials)\n"
               "     --journal-dir=DIR       Empty DIR instead of rotating and vacuuming the journal\n"
               "     --no-systemctl          Do not stop and start hubguard.target around a factory reset\n",
               program_invocation_short_name, STATE_DIR, CONF_DIR, STATE_DIR);
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_STATE_ROOT = 0x100, ARG_CONFIG_DIR, ARG_CREDENTIALS_DIR, ARG_JOURNAL_DIR, ARG_NO_SYSTEMCTL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "state-root", required_argument, NULL, ARG_STATE_ROOT },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "credentials-dir", required_argument, NULL, ARG_CREDENTIALS_DIR },
                { "journal-dir", required_argument, NULL, ARG_JOURNAL_DIR },
                { "no-systemctl", no_argument, NULL, ARG_NO_SYSTEMCTL },
                {},
        };
        DeclSet decl = {};
        struct passwd *pw;
        int c, r;

        log_setup("hub-privacy-helper");
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_STATE_ROOT: arg_state_root = optarg; break;
                case ARG_CONFIG_DIR: arg_config_dir = optarg; break;
                case ARG_CREDENTIALS_DIR: arg_credentials_dir = optarg; break;
                case ARG_JOURNAL_DIR: arg_journal_dir = optarg; break;
                case ARG_NO_SYSTEMCTL: arg_systemctl = false; break;
                default:
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "%s takes no arguments.\n", program_invocation_short_name);
                return 2;
        }
        if (geteuid() != 0) {
                log_error("This helper runs as root (hub-privacy-helper.service).");
                return 1;
        }
        pw = getpwnam(PRIVACY_USER);
        if (!pw) {
                log_error("There is no user %s.", PRIVACY_USER);
                return 1;
        }
        privacy_uid = pw->pw_uid;
        privacy_gid = pw->pw_gid;
        if (sodium_init() < 0) {
                log_error("libsodium failed to initialise.");
                return 1;
        }
        umask(0077);
        r = decl_load(arg_config_dir, &decl);
        if (r < 0) {
                log_error_errno(r, "Cannot read %s/%s: %m", arg_config_dir, DECL_DIR);
                return 1;
        }
        r = process(&decl);
        decl_set_free(&decl);
        return r < 0 ? 1 : 0;
}
