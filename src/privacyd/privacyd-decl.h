/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Declarations of personal data by other hub apps: CONF_DIR/privacy.d/NAME.conf, one file per app
 * (its store NAME: 1-32 of [a-z0-9_-]). The format is in hub-privacyd(8), PRIVACY.D. Both
 * hub-privacyd (the categories, for the inventory and for StoreRecord) and hub-privacy-helper (the
 * erase and reset actions, run as root) read them; the files are root's, like the unit files.
 */

#include <stdbool.h>
#include <stddef.h>

#include "privacyd-store.h"

#define DECL_DIR "privacy.d"
#define DECL_FILES_MAX 32
#define DECL_FILE_MAX (64 * 1024)
#define DECL_NAME_MAX 32
#define DECL_PATHS_MAX 16
#define DECL_ARGS_MAX 16
#define DECL_STATEMENT_MAX 1024

typedef struct DeclApp {
        char name[DECL_NAME_MAX + 1];
        char *file;                        /* the path it came from */
        PrivacyCategory *categories;
        size_t n_categories;
        /* [Erase]: what to do for one subject ("%s" in paths and arguments is the subject id) */
        char *user;                        /* commands run as this user; NULL: no command */
        char *paths[DECL_PATHS_MAX];
        size_t n_paths;
        char *database, *statement;        /* statement has ?1 for the subject id */
        char *argv[DECL_ARGS_MAX + 1];     /* the command, NULL-terminated; argv[0] absolute */
        size_t n_args;
        /* [Reset]: removed entirely by a factory reset */
        char *reset_paths[DECL_PATHS_MAX];
        size_t n_reset_paths;
} DeclApp;

typedef struct DeclSet {
        DeclApp *apps;
        size_t n_apps;
        /* The built-in categories followed by every app's: what PrivacyStore.categories points to. */
        PrivacyCategory *categories;
        size_t n_categories;
} DeclSet;

/*
 * Parse one file's text. name is the store name. On an error, returns -EINVAL and writes
 * "LINE: MESSAGE" to err. known (may be NULL) are categories already taken.
 */
int decl_parse(const char *name, const char *file, const char *text, const PrivacyCategory *known, size_t n_known,
               DeclApp *ret, char *err, size_t err_size);
void decl_app_free(DeclApp *a);

/*
 * Load CONFDIR/privacy.d/\*.conf in name order. A file that is unreadable or invalid is skipped
 * with a warning naming file and line (the others still count); more than DECL_FILES_MAX files
 * is an error for the rest. Never fails for a missing directory.
 */
int decl_load(const char *confdir, DeclSet *ret);
void decl_set_free(DeclSet *s);

/* Does the app have anything to do when a subject is erased? */
bool decl_app_has_erase(const DeclApp *a);
