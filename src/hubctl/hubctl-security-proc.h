/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What 'hubctl security-report' reads from /proc about a daemon: its credentials and sandbox
 * (/proc/PID/status), its sockets (/proc/PID/fd), and the listening sockets of its network
 * namespace (/proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6}). The parsers take a FILE so the unit tests can feed
 * them text.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Most socket inodes collected from one process, and most listeners from one table. */
#define PROC_SOCKETS_MAX 4096
#define PROC_LISTENERS_MAX 4096

typedef struct ProcStatus {
        uid_t uid[4];       /* real, effective, saved, file system */
        uint64_t cap_eff;   /* CapEff */
        int no_new_privs;   /* NoNewPrivs: 0 or 1 */
        int seccomp;        /* Seccomp: 0 off, 1 strict, 2 filter */
} ProcStatus;

/*
 * Parse a /proc/PID/status text. Returns 0, or -EBADMSG if Uid, CapEff, NoNewPrivs or Seccomp is
 * missing or malformed (*ret is then unchanged).
 */
int proc_status_parse(FILE *f, ProcStatus *ret);

typedef struct ProcListener {
        uint64_t inode;
        char proto[5];   /* "tcp", "tcp6", "udp", "udp6", "raw", "raw6" */
        char local[64];  /* "ADDRESS:PORT", IPv6 in brackets */
} ProcListener;

/*
 * Parse one /proc/net/PROTO table (proto "tcp", "tcp6", "udp", "udp6", "raw" or "raw6") and append
 * its listening sockets to l[*n..max-1]: TCP in state LISTEN, UDP bound to a port and not
 * connected, every raw socket. Returns 0,
 * -EBADMSG on a malformed line, -ENOBUFS when more than max would be needed, -EINVAL for an unknown
 * proto.
 */
int proc_net_parse_listeners(FILE *f, const char *proto, ProcListener *l, size_t max, size_t *n);

/*
 * The inodes of the sockets among pid's open file descriptors (readlink "socket:[N]"), into
 * inodes[0..max-1]. Returns 0 with *ret_n set, -ENOBUFS above max, or the errno of opening
 * /proc/PID/fd (-EACCES unless root, -ENOENT if pid is gone).
 */
int proc_socket_inodes(pid_t pid, uint64_t *inodes, size_t max, size_t *ret_n);
