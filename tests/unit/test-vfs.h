/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A VFS over SQLite's default one, registered as the new default for the whole test program: it
 * counts xSync calls (what reaches the disk for sure) and can fail the shared-memory index the way
 * a full file system does (a -shm file that cannot grow: SQLITE_IOERR_SHMSIZE).
 */

#include <stdbool.h>

extern unsigned test_vfs_syncs;
extern bool test_vfs_shm_full;

/* Register once, before the first database is opened; aborts on failure. */
void test_vfs_register(void);
