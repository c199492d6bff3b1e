/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Cleanup helpers in the style of systemd's _cleanup_ family: a variable declared with
 * _cleanup_(f) has f(&var) called when it leaves scope. Destructors accept NULL.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdio.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _sentinel_ __attribute__((sentinel))
#define _fallthrough_ __attribute__((__fallthrough__))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))

#define ELEMENTSOF(x)                                                                                     \
        (__builtin_choose_expr(!__builtin_types_compatible_p(__typeof__(x), __typeof__(&*(x))),          \
                               sizeof(x) / sizeof((x)[0]), (void) 0))

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Take ownership of a pointer or fd out of a _cleanup_ variable. */
#define TAKE_GENERIC(var, type, nullvalue)                                                                \
        ({                                                                                                \
                type *_pvar_ = &(var);                                                                    \
                type _var_ = *_pvar_;                                                                     \
                type _nullvalue_ = nullvalue;                                                             \
                *_pvar_ = _nullvalue_;                                                                    \
                _var_;                                                                                    \
        })
#define TAKE_PTR(ptr) TAKE_GENERIC(ptr, __typeof__(ptr), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                           \
        static inline void func##p(type *p) {                                                             \
                if (*p)                                                                                   \
                        func(*p);                                                                         \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Free a NULL-terminated array of strings and the array itself. */
static inline char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/*
 * Secrets: erase before the memory goes back to the allocator. erase_and_free() works on any
 * malloc()ed block (it asks the allocator for the block's real size), so it also catches the
 * slack after a string's terminator.
 */
void *erase_and_free(void *p);
static inline void erase_and_freep(void *p) {
        erase_and_free(*(void **) p);
}
#define _cleanup_erase_free_ _cleanup_(erase_and_freep)

/* Overwrite a buffer in a way the compiler may not elide (sodium_memzero). */
void explicit_erase(void *p, size_t n);

/* A NUL-terminated copy of n bytes that need not be NUL-terminated themselves (unlike strndup()). */
static inline char *memdup_str(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline int streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

#define streq(a, b) (strcmp((a), (b)) == 0)
#define isempty(s) (!(s) || (s)[0] == '\0')
