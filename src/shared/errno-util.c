/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <mosquitto.h>
#include <sqlite3.h>

#include "hubguard/errno-util.h"
#include "hubguard/log.h"

int errno_from_mosquitto(int mosq_err) {
        switch (mosq_err) {
        case MOSQ_ERR_SUCCESS:
                return 0;
        case MOSQ_ERR_ERRNO:
                return negative_errno();
        case MOSQ_ERR_NOMEM:
                return -ENOMEM;
        case MOSQ_ERR_INVAL:
        case MOSQ_ERR_MALFORMED_UTF8:
        case MOSQ_ERR_DUPLICATE_PROPERTY:
        case MOSQ_ERR_QOS_NOT_SUPPORTED:
                return -EINVAL;
        case MOSQ_ERR_NO_CONN:
                return -ENOTCONN;
        case MOSQ_ERR_CONN_REFUSED:
                return -ECONNREFUSED;
        case MOSQ_ERR_CONN_LOST:
                return -ECONNRESET;
        case MOSQ_ERR_TLS:
        case MOSQ_ERR_TLS_HANDSHAKE:
                return -EPROTO;
        case MOSQ_ERR_PAYLOAD_SIZE:
        case MOSQ_ERR_OVERSIZE_PACKET:
                return -EMSGSIZE;
        case MOSQ_ERR_NOT_SUPPORTED:
                return -EOPNOTSUPP;
        case MOSQ_ERR_AUTH:
        case MOSQ_ERR_ACL_DENIED:
                return -EACCES;
        case MOSQ_ERR_UNKNOWN:
                return -EIO;
        case MOSQ_ERR_EAI:
                return -EHOSTUNREACH;
        case MOSQ_ERR_PROXY:
                return -ECONNREFUSED;
        case MOSQ_ERR_PROTOCOL:
        case MOSQ_ERR_MALFORMED_PACKET:
        case MOSQ_ERR_NOT_FOUND:
                return -EPROTO;
        case MOSQ_ERR_KEEPALIVE:
                return -ETIMEDOUT;
        case MOSQ_ERR_TIMEOUT:
                return -ETIMEDOUT;
        default:
                return -EIO;
        }
}

int errno_from_sqlite(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
        case SQLITE_MISUSE:
                return -EINVAL;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_IOERR:
        default:
                return -EIO;
        }
}
