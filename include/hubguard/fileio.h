/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with data atomically and durably: write a temporary file in the same directory,
 * fsync it, rename it over path, fsync the directory. After a crash at any instant path holds
 * either the old or the new content, never a mix. The file gets mode (umask does not apply).
 * Returns 0, or a negative errno (nothing is left behind on failure).
 */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Read all of a regular file that must be at most max_size bytes. *ret_data gets a NUL-terminated
 * copy (the NUL is not counted in *ret_size). Returns 0, -EFBIG if it is larger, -EISDIR/-EBADFD if
 * it is not a regular file, or another negative errno.
 */
int read_file_bounded(const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* Write all of buf to fd, retrying on EINTR and short writes. */
int loop_write(int fd, const void *buf, size_t len);

/* fsync the directory that contains path. */
int fsync_parent_dir(const char *path);
