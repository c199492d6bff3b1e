/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A main() for builds without libFuzzer (systemd src/fuzz/fuzz-main.c): replay every file given,
 * and every regular file in every directory given, through LLVMFuzzerTestOneInput() once. meson runs
 * this over tests/fuzz/corpus/<target>/ in suite 'fuzz', so gcc and sanitizer builds check that no
 * corpus input (every crash ever found among them) crashes again.
 *
 * Usage: fuzz-TARGET FILE|DIR...
 */

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "hubguard/fileio.h"
#include "hubguard/macro.h"

/* Larger than any target's own bound, so that the bound itself is exercised. */
#define FUZZ_INPUT_MAX (16 * 1024 * 1024)

static int run_one(const char *path) {
        _cleanup_free_ char *data = NULL, *exact = NULL;
        size_t size;
        int r;

        r = read_file_bounded(path, FUZZ_INPUT_MAX, &data, &size);
        if (r < 0) {
                fprintf(stderr, "Failed to read '%s': %s\n", path, strerror(-r));
                return r;
        }
        /* A block of exactly size bytes, without the terminator read_file_bounded() adds, so that
         * AddressSanitizer sees a read of one byte too many. */
        exact = malloc(MAX(size, (size_t) 1));
        if (!exact)
                return -ENOMEM;
        memcpy(exact, data, size);

        printf("%s (%zu bytes)\n", path, size);
        fflush(stdout);
        (void) LLVMFuzzerTestOneInput((const uint8_t *) exact, size);
        return 0;
}

static int run_dir(const char *dir, size_t *n_run) {
        struct dirent **list = NULL;
        int n, r = 0;

        n = scandir(dir, &list, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "Failed to list '%s': %m\n", dir);
                return -errno;
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;
                const char *name = list[i]->d_name;
                struct stat st;

                /* After a failure, only free the rest of the list. */
                if (r >= 0 && name[0] != '.') {
                        if (asprintf(&path, "%s/%s", dir, name) < 0)
                                r = -ENOMEM;
                        else if (stat(path, &st) >= 0 && S_ISREG(st.st_mode) && (r = run_one(path)) >= 0)
                                (*n_run)++;
                }
                free(list[i]);
        }
        free(list);
        return r;
}

int main(int argc, char *argv[]) {
        size_t n_run = 0;

        if (argc < 2) {
                fprintf(stderr, "Usage: %s FILE|DIR...\n", argv[0]);
                return EXIT_FAILURE;
        }
        for (int i = 1; i < argc; i++) {
                struct stat st;
                int r;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "Failed to stat '%s': %m\n", argv[i]);
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode))
                        r = run_dir(argv[i], &n_run);
                else {
                        r = run_one(argv[i]);
                        if (r >= 0)
                                n_run++;
                }
                if (r < 0)
                        return EXIT_FAILURE;
        }
        /* An empty corpus would pass without testing anything. */
        if (n_run == 0) {
                fprintf(stderr, "No inputs found.\n");
                return EXIT_FAILURE;
        }
        printf("%zu inputs replayed, no crash.\n", n_run);
        return EXIT_SUCCESS;
}
