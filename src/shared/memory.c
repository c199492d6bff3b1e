/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <malloc.h>
#include <sodium.h>

#include "hubguard/macro.h"

void explicit_erase(void *p, size_t n) {
        if (p && n > 0)
                sodium_memzero(p, n);
}

void *erase_and_free(void *p) {
        if (!p)
                return NULL;
        /* The whole block, not just strlen(): a secret may have been longer before it was shortened. */
        sodium_memzero(p, malloc_usable_size(p));
        free(p);
        return NULL;
}
