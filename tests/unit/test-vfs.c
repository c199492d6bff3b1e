/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <assert.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "test-vfs.h"

unsigned test_vfs_syncs;
int test_vfs_shm_errno;

static sqlite3_vfs *real_vfs;

typedef struct ShimFile {
        sqlite3_file base;
        sqlite3_file *real; /* follows this struct, szOsFile of the real VFS */
} ShimFile;

#define REAL(f) (((ShimFile *) (f))->real)
static int s_close(sqlite3_file *f) { return REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK; }
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xWrite(REAL(f), b, n, o); }
static int s_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int s_sync(sqlite3_file *f, int flags) { test_vfs_syncs++; return REAL(f)->pMethods->xSync(REAL(f), flags); }
static int s_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int s_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int s_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int s_check(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int s_fcntl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int s_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int s_dev(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int s_shmmap(sqlite3_file *f, int i, int sz, int ext, void volatile **p) {
        if (test_vfs_shm_errno) {
                *p = NULL;
                errno = test_vfs_shm_errno; /* what sqlite3_system_errno() reports, as the unix VFS's */
                return SQLITE_IOERR_SHMSIZE;
        }
        return REAL(f)->pMethods->xShmMap(REAL(f), i, sz, ext, p);
}
static int s_shmlock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void s_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int s_shmunmap(sqlite3_file *f, int d) { return REAL(f)->pMethods->xShmUnmap(REAL(f), d); }

static const sqlite3_io_methods shim_io = {
        .iVersion = 2, .xClose = s_close, .xRead = s_read, .xWrite = s_write, .xTruncate = s_truncate,
        .xSync = s_sync, .xFileSize = s_size, .xLock = s_lock, .xUnlock = s_unlock,
        .xCheckReservedLock = s_check, .xFileControl = s_fcntl, .xSectorSize = s_sector,
        .xDeviceCharacteristics = s_dev, .xShmMap = s_shmmap, .xShmLock = s_shmlock,
        .xShmBarrier = s_shmbarrier, .xShmUnmap = s_shmunmap,
};

static int s_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out) {
        ShimFile *s = (ShimFile *) f;
        int rc;

        (void) vfs;
        s->real = (sqlite3_file *) (s + 1);
        rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out);
        s->base.pMethods = rc == SQLITE_OK ? &shim_io : NULL;
        return rc;
}

static sqlite3_vfs shim_vfs;

void test_vfs_register(void) {
        real_vfs = sqlite3_vfs_find(NULL);
        if (!real_vfs)
                abort();
        shim_vfs = *real_vfs;
        shim_vfs.zName = "hubguard-test";
        shim_vfs.szOsFile = (int) sizeof(ShimFile) + real_vfs->szOsFile;
        shim_vfs.xOpen = s_open;
        shim_vfs.pNext = NULL;
        if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK)
                abort();
}
