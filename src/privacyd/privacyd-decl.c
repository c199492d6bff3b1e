/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hubguard/fileio.h"
#include "hubguard/log.h"
#include "hubguard/validate.h"
#include "privacyd-decl.h"

void decl_app_free(DeclApp *a) {
        if (!a)
                return;
        free(a->file);
        free(a->categories);
        free(a->user);
        for (size_t i = 0; i < a->n_paths; i++)
                free(a->paths[i]);
        for (size_t i = 0; i < a->n_reset_paths; i++)
                free(a->reset_paths[i]);
        free(a->database);
        free(a->statement);
        for (size_t i = 0; i < a->n_args; i++)
                free(a->argv[i]);
        *a = (DeclApp) {};
}

void decl_set_free(DeclSet *s) {
        for (size_t i = 0; i < s->n_apps; i++)
                decl_app_free(&s->apps[i]);
        free(s->apps);
        free(s->categories);
        *s = (DeclSet) {};
}

bool decl_app_has_erase(const DeclApp *a) {
        return a->n_paths > 0 || a->database || a->n_args > 0;
}

/* A path template: absolute and normal once "%s" is replaced by a subject id; "%s" at most once. */
static bool path_template_is_valid(const char *s) {
        char buf[4096 + 64];
        const char *p = strstr(s, "%s");
        unsigned depth = 0;

        if (strlen(s) > 4000 || (p && strstr(p + 2, "%s")) || strchr(s, '%') != p)
                return false;
        (void) snprintf(buf, sizeof buf, "%.*s%s%s", p ? (int) (p - s) : (int) strlen(s), s,
                        p ? "0123456789abcdef0123456789abcdef" : "", p ? p + 2 : "");
        if (!path_is_absolute_normal(buf))
                return false;
        /* At least three components (/var/lib/app): a slip must not name /, /var or /var/lib. */
        for (const char *c = buf; (c = strchr(c, '/')); c++)
                depth++;
        return depth >= 3 && buf[strlen(buf) - 1] != '/';
}

static int set_string(char **dst, const char *v) {
        char *c = strdup(v);

        if (!c)
                return -ENOMEM;
        free(*dst);
        *dst = c;
        return 0;
}

typedef enum Section { SECTION_NONE, SECTION_CATEGORY, SECTION_ERASE, SECTION_RESET } Section;

static int category_done(PrivacyCategory *c, const PrivacyCategory *known, size_t n_known, const DeclApp *a,
                         char *why, size_t size) {
        if (!c->name[0] || !c->description[0] || !c->purpose[0] || c->n_recipients == 0) {
                (void) snprintf(why, size, "[Category] needs Name=, Description=, Purpose= and Recipients=");
                return -EINVAL;
        }
        for (size_t i = 0; i < n_known; i++)
                if (streq(known[i].name, c->name)) {
                        (void) snprintf(why, size, "category '%s' is already declared (%s)", c->name, known[i].source);
                        return -EEXIST;
                }
        for (size_t i = 0; i + 1 < a->n_categories; i++)
                if (streq(a->categories[i].name, c->name)) {
                        (void) snprintf(why, size, "category '%s' is declared twice", c->name);
                        return -EEXIST;
                }
        return 0;
}

static int parse_line(DeclApp *a, Section section, const char *key, const char *value, char *why, size_t size) {
        PrivacyCategory *c = section == SECTION_CATEGORY ? &a->categories[a->n_categories - 1] : NULL;

        if (c && streq(key, "Name")) {
                if (!identifier_is_valid(value, PRIVACY_CATEGORY_MAX))
                        return snprintf(why, size, "Name= must be 1-%d of [a-z0-9_-]", PRIVACY_CATEGORY_MAX), -EINVAL;
                (void) snprintf(c->name, sizeof c->name, "%s", value);
        } else if (c && streq(key, "Description")) {
                if (!value[0] || !string_is_safe(value, PRIVACY_DESCRIPTION_MAX))
                        return snprintf(why, size, "Description= must be 1-%d bytes of text", PRIVACY_DESCRIPTION_MAX),
                               -EINVAL;
                (void) snprintf(c->description, sizeof c->description, "%s", value);
        } else if (c && streq(key, "Purpose")) {
                if (!value[0] || !string_is_safe(value, PRIVACY_PURPOSE_MAX))
                        return snprintf(why, size, "Purpose= must be 1-%d bytes of text", PRIVACY_PURPOSE_MAX), -EINVAL;
                (void) snprintf(c->purpose, sizeof c->purpose, "%s", value);
        } else if (c && streq(key, "Recipients")) {
                char buf[PRIVACY_RECIPIENTS_MAX * (PRIVACY_RECIPIENT_MAX + 1) + 1], *save = NULL;

                if (strlen(value) >= sizeof buf)
                        return snprintf(why, size, "Recipients= is too long"), -EINVAL;
                strcpy(buf, value);
                c->n_recipients = 0;
                for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                        if (c->n_recipients >= PRIVACY_RECIPIENTS_MAX || !identifier_is_valid(w, PRIVACY_RECIPIENT_MAX))
                                return snprintf(why, size, "Recipients= takes at most %d names of [a-z0-9_-]",
                                                PRIVACY_RECIPIENTS_MAX),
                                       -EINVAL;
                        (void) snprintf(c->recipients[c->n_recipients++], PRIVACY_RECIPIENT_MAX + 1, "%s", w);
                }
        } else if (c && streq(key, "RetentionSec")) {
                char *end = NULL;
                unsigned long long v;

                errno = 0;
                v = strtoull(value, &end, 10);
                if (!value[0] || value[0] == '-' || errno || !end || *end || v > PRIVACY_RETENTION_MAX_SEC)
                        return snprintf(why, size, "RetentionSec= must be 0 (until erased) to %llu",
                                        (unsigned long long) PRIVACY_RETENTION_MAX_SEC),
                               -EINVAL;
                c->retention_sec = v;
        } else if (c && streq(key, "Consent")) {
                if (!identifier_is_valid(value, PRIVACY_CONSENT_PURPOSE_MAX))
                        return snprintf(why, size, "Consent= must be 1-%d of [a-z0-9_-]", PRIVACY_CONSENT_PURPOSE_MAX),
                               -EINVAL;
                (void) snprintf(c->consent, sizeof c->consent, "%s", value);
        } else if (section == SECTION_ERASE && streq(key, "Path")) {
                if (a->n_paths >= DECL_PATHS_MAX || !path_template_is_valid(value))
                        return snprintf(why, size, "Path= takes an absolute path of 3 or more components (with at most one %%s), at most %d",
                                        DECL_PATHS_MAX),
                               -EINVAL;
                a->paths[a->n_paths] = strdup(value);
                if (!a->paths[a->n_paths++])
                        return -ENOMEM;
        } else if (section == SECTION_RESET && streq(key, "Path")) {
                if (a->n_reset_paths >= DECL_PATHS_MAX || strchr(value, '%') || !path_template_is_valid(value))
                        return snprintf(why, size, "[Reset] Path= takes an absolute path of 3 or more components, at most %d", DECL_PATHS_MAX),
                               -EINVAL;
                a->reset_paths[a->n_reset_paths] = strdup(value);
                if (!a->reset_paths[a->n_reset_paths++])
                        return -ENOMEM;
        } else if (section == SECTION_ERASE && streq(key, "Database")) {
                if (!path_is_absolute_normal(value))
                        return snprintf(why, size, "Database= takes an absolute path"), -EINVAL;
                return set_string(&a->database, value);
        } else if (section == SECTION_ERASE && streq(key, "Statement")) {
                if (!value[0] || strlen(value) > DECL_STATEMENT_MAX || !strstr(value, "?1") || !utf8_is_valid(value, strlen(value)))
                        return snprintf(why, size, "Statement= is one SQL statement of at most %d bytes using ?1",
                                        DECL_STATEMENT_MAX),
                               -EINVAL;
                return set_string(&a->statement, value);
        } else if (section == SECTION_ERASE && streq(key, "User")) {
                if (!identifier_is_valid(value, 32) || streq(value, "root"))
                        return snprintf(why, size, "User= names the app's own user (not root)"), -EINVAL;
                return set_string(&a->user, value);
        } else if (section == SECTION_ERASE && streq(key, "Command")) {
                char buf[4096], *save = NULL;

                if (strlen(value) >= sizeof buf || a->n_args > 0)
                        return snprintf(why, size, "Command= is given once, at most %zu bytes", sizeof buf - 1), -EINVAL;
                strcpy(buf, value);
                for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                        if (a->n_args >= DECL_ARGS_MAX || !string_is_safe(w, 1024))
                                return snprintf(why, size, "Command= takes at most %d words", DECL_ARGS_MAX), -EINVAL;
                        a->argv[a->n_args] = strdup(w);
                        if (!a->argv[a->n_args++])
                                return -ENOMEM;
                }
                if (a->n_args == 0 || !path_is_absolute_normal(a->argv[0]))
                        return snprintf(why, size, "Command= starts with an absolute path"), -EINVAL;
        } else
                return snprintf(why, size, "unknown key '%.32s' here", key), -EINVAL;
        return 0;
}

int decl_parse(const char *name, const char *file, const char *text, const PrivacyCategory *known, size_t n_known,
               DeclApp *ret, char *err, size_t err_size) {
        DeclApp a = {};
        Section section = SECTION_NONE;
        unsigned line = 0;
        char why[200] = "";
        const char *p = text;
        int r = 0;

        if (!identifier_is_valid(name, DECL_NAME_MAX)) {
                (void) snprintf(err, err_size, "0: the file name must be NAME.conf, NAME 1-%d of [a-z0-9_-]", DECL_NAME_MAX);
                return -EINVAL;
        }
        (void) snprintf(a.name, sizeof a.name, "%s", name);
        a.file = strdup(file);
        if (!a.file)
                return -ENOMEM;
        while (r >= 0 && *p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                char buf[4200], *eq, *key, *value;

                line++;
                if (len >= sizeof buf) {
                        (void) snprintf(why, sizeof why, "line too long");
                        r = -EINVAL;
                        break;
                }
                memcpy(buf, p, len);
                buf[len] = '\0';
                p += len + (nl ? 1 : 0);
                /* Trim; skip blank lines and comments. */
                key = buf + strspn(buf, " \t");
                for (size_t n = strlen(key); n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t' || key[n - 1] == '\r'); n--)
                        key[n - 1] = '\0';
                if (!utf8_is_valid(key, strlen(key))) {
                        (void) snprintf(why, sizeof why, "not UTF-8");
                        r = -EINVAL;
                } else if (!*key || *key == '#' || *key == ';')
                        continue;
                else if (streq(key, "[Category]")) {
                        PrivacyCategory *c;

                        if (section == SECTION_CATEGORY)
                                r = category_done(&a.categories[a.n_categories - 1], known, n_known, &a, why, sizeof why);
                        if (r >= 0 && a.n_categories >= PRIVACY_CATEGORIES_MAX) {
                                (void) snprintf(why, sizeof why, "too many categories");
                                r = -EINVAL;
                        }
                        if (r < 0)
                                break;
                        c = realloc(a.categories, (a.n_categories + 1) * sizeof *c);
                        if (!c) {
                                r = -ENOMEM;
                                break;
                        }
                        a.categories = c;
                        c[a.n_categories++] = (PrivacyCategory) {};
                        (void) snprintf(c[a.n_categories - 1].source, sizeof c->source, "%s.conf", name);
                        section = SECTION_CATEGORY;
                } else if (streq(key, "[Erase]") || streq(key, "[Reset]")) {
                        if (section == SECTION_CATEGORY)
                                r = category_done(&a.categories[a.n_categories - 1], known, n_known, &a, why, sizeof why);
                        section = streq(key, "[Erase]") ? SECTION_ERASE : SECTION_RESET;
                } else if (*key == '[') {
                        (void) snprintf(why, sizeof why, "unknown section %.40s (known: [Category], [Erase], [Reset])", key);
                        r = -EINVAL;
                } else if (!(eq = strchr(key, '='))) {
                        (void) snprintf(why, sizeof why, "expected KEY=VALUE");
                        r = -EINVAL;
                } else if (section == SECTION_NONE) {
                        (void) snprintf(why, sizeof why, "KEY=VALUE before any section");
                        r = -EINVAL;
                } else {
                        *eq = '\0';
                        value = eq + 1;
                        r = parse_line(&a, section, key, value, why, sizeof why);
                }
        }
        if (r >= 0 && section == SECTION_CATEGORY)
                r = category_done(&a.categories[a.n_categories - 1], known, n_known, &a, why, sizeof why);
        if (r >= 0 && !!a.database != !!a.statement) {
                (void) snprintf(why, sizeof why, "Database= and Statement= go together");
                r = -EINVAL;
        }
        if (r >= 0 && (a.n_args > 0 || a.database) && !a.user) {
                (void) snprintf(why, sizeof why, "Command= and Database= need User= (the user they run as)");
                r = -EINVAL;
        }
        if (r < 0) {
                (void) snprintf(err, err_size, "%u: %s", line, why[0] ? why : strerror(-r));
                decl_app_free(&a);
                return r == -ENOMEM ? r : -EINVAL;
        }
        *ret = a;
        return 0;
}

/* Root's and not writable by group or others. */
static bool decl_is_roots(const struct stat *st) {
        return st->st_uid == 0 && !(st->st_mode & 0022);
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int decl_load(const char *confdir, DeclSet *ret) {
        DeclSet s = {};
        char dirpath[4096], *names[DECL_FILES_MAX + 1];
        size_t n_names = 0;
        struct dirent *de;
        struct stat st;
        DIR *d;
        int r = 0;

        (void) snprintf(dirpath, sizeof dirpath, "%s/%s", confdir, DECL_DIR);
        s.categories = malloc(sizeof(PrivacyCategory) * privacy_n_builtin_categories);
        if (!s.categories)
                return -ENOMEM;
        memcpy(s.categories, privacy_builtin_categories, sizeof(PrivacyCategory) * privacy_n_builtin_categories);
        s.n_categories = privacy_n_builtin_categories;

        d = opendir(dirpath);
        /* Read as root (hub-privacy-helper), a declaration says what root removes: only root may have
         * written it, like sudoers. The directory and each file must be root's, not writable by others. */
        if (d && geteuid() == 0 && (fstat(dirfd(d), &st) < 0 || !decl_is_roots(&st))) {
                log_error("%s is not root's, or others may write to it: no declaration is used.", dirpath);
                closedir(d);
                d = NULL;
        }
        while (d && (de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (de->d_name[0] == '.' || len < 6 || !streq(de->d_name + len - 5, ".conf"))
                        continue;
                if (n_names >= DECL_FILES_MAX) {
                        log_warning("%s: more than %d files; '%s' and any after it are ignored.", dirpath,
                                    DECL_FILES_MAX, de->d_name);
                        break;
                }
                names[n_names] = strndup(de->d_name, len - 5);
                if (!names[n_names]) {
                        r = -ENOMEM;
                        break;
                }
                n_names++;
        }
        if (d)
                closedir(d);
        qsort(names, n_names, sizeof *names, name_cmp);

        for (size_t i = 0; r >= 0 && i < n_names; i++) {
                _cleanup_free_ char *text = NULL;
                char path[4200], err[300];
                DeclApp a;
                int k;

                (void) snprintf(path, sizeof path, "%s/%s.conf", dirpath, names[i]);
                if (geteuid() == 0 && (stat(path, &st) < 0 || !decl_is_roots(&st))) {
                        log_warning("%s: not root's, or others may write to it; the file is ignored.", path);
                        continue;
                }
                k = read_file_bounded(path, DECL_FILE_MAX, &text, NULL);
                if (k < 0) {
                        log_warning_errno(k, "%s: cannot read, ignored: %m", path);
                        continue;
                }
                k = decl_parse(names[i], path, text, s.categories, s.n_categories, &a, err, sizeof err);
                if (k == -ENOMEM) {
                        r = k;
                        break;
                }
                if (k < 0) {
                        log_warning("%s:%s; the file is ignored.", path, err);
                        continue;
                }
                if (s.n_categories + a.n_categories > PRIVACY_CATEGORIES_MAX) {
                        log_warning("%s: more than %d categories in all; the file is ignored.", path,
                                    PRIVACY_CATEGORIES_MAX);
                        decl_app_free(&a);
                        continue;
                }
                {
                        PrivacyCategory *c = realloc(s.categories, (s.n_categories + a.n_categories) * sizeof *c);
                        DeclApp *apps = c ? realloc(s.apps, (s.n_apps + 1) * sizeof *apps) : NULL;

                        if (c)
                                s.categories = c;
                        if (!apps) {
                                decl_app_free(&a);
                                r = -ENOMEM;
                                break;
                        }
                        s.apps = apps;
                        /* A file may declare no category (only [Erase] or [Reset]): nothing to copy. */
                        if (a.n_categories > 0)
                                memcpy(s.categories + s.n_categories, a.categories, a.n_categories * sizeof *c);
                        s.n_categories += a.n_categories;
                        s.apps[s.n_apps++] = a;
                }
        }
        for (size_t i = 0; i < n_names; i++)
                free(names[i]);
        if (r < 0) {
                decl_set_free(&s);
                return r;
        }
        *ret = s;
        return 0;
}
