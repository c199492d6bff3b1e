/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * decl_parse() (privacy.d files, read by hub-privacyd and by the root helper) on arbitrary bytes.
 * Besides memory errors, it checks what the parser promises: a failure is -EINVAL with
 * "LINE: MESSAGE" and a line inside the input; a success gives categories, paths and commands
 * within their limits, paths absolute, and a command only with a user.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hubguard/validate.h"
#include "privacyd-decl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char err[512] = "", *text;
        unsigned lines = 1;
        DeclApp a = {};
        int r;

        if (size > DECL_FILE_MAX)
                return 0;
        text = malloc(size + 1);
        fuzz_check(text);
        memcpy(text, data, size);
        text[size] = '\0';
        for (size_t i = 0; i < size; i++)
                lines += data[i] == '\n';

        r = decl_parse("app", "/fuzz/app.conf", text, privacy_builtin_categories, privacy_n_builtin_categories, &a, err,
                       sizeof err);
        if (r < 0) {
                unsigned line = 0;

                fuzz_check(r == -EINVAL);
                fuzz_check(sscanf(err, "%u:", &line) == 1 && line <= lines);
        } else {
                fuzz_check(a.n_categories <= PRIVACY_CATEGORIES_MAX);
                for (size_t i = 0; i < a.n_categories; i++) {
                        fuzz_check(identifier_is_valid(a.categories[i].name, PRIVACY_CATEGORY_MAX));
                        fuzz_check(a.categories[i].n_recipients >= 1 && a.categories[i].n_recipients <= PRIVACY_RECIPIENTS_MAX);
                        fuzz_check(a.categories[i].retention_sec <= PRIVACY_RETENTION_MAX_SEC);
                        for (size_t k = 0; k < privacy_n_builtin_categories; k++)
                                fuzz_check(strcmp(a.categories[i].name, privacy_builtin_categories[k].name) != 0);
                }
                fuzz_check(a.n_paths <= DECL_PATHS_MAX && a.n_reset_paths <= DECL_PATHS_MAX && a.n_args <= DECL_ARGS_MAX);
                for (size_t i = 0; i < a.n_paths; i++)
                        fuzz_check(a.paths[i][0] == '/');
                for (size_t i = 0; i < a.n_reset_paths; i++)
                        fuzz_check(path_is_absolute_normal(a.reset_paths[i]));
                fuzz_check(a.n_args == 0 || (a.user && a.argv[0][0] == '/' && !a.argv[a.n_args]));
                fuzz_check(!a.database == !a.statement);
                fuzz_check(!a.database || a.user);
                fuzz_check(!a.user || strcmp(a.user, "root") != 0);
        }
        decl_app_free(&a);
        free(text);
        return 0;
}
