/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A VFS over SQLite's default one, registered as the new default for the whole test program: it
 * counts xSync calls (what reaches the disk for sure) and can fail the shared-memory index the way
 * a full file system does (a -shm file that cannot grow: SQLITE_IOERR_SHMSIZE).
 */


extern unsigned test_vfs_syncs;
/* Not 0: every xShmMap fails with SQLITE_IOERR_SHMSIZE and this errno (ENOSPC: a full disk). */
extern int test_vfs_shm_errno;

/* Register once, before the first database is opened; aborts on failure. */
void test_vfs_register(void);
