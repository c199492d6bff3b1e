/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "hubguard/macro.h"

/*
 * Who may call a state-changing or secret-touching method, checked in the handler on top of the bus
 * policy (defence in depth: a policy file edited by hand must not open a method). Root is always
 * allowed.
 */
typedef struct BusAccess {
        bool admin_group;        /* members of group hubadmin (by the user database, like the bus policy) */
        const uid_t *uids;       /* further allowed users, e.g. service users */
        size_t n_uids;
} BusAccess;

/*
 * Check the sender of m against access, with the caller's uid taken from the bus (not from the
 * message). Returns 1 if allowed; 0 with error set to org.freedesktop.DBus.Error.AccessDenied if not;
 * a negative errno if the credentials could not be read. *ret_uid (if not NULL) gets the caller's uid.
 */
int bus_verify_caller(sd_bus_message *m, const BusAccess *access, uid_t *ret_uid, sd_bus_error *error);

/* Is uid a member of group gid, by primary or supplementary group in the user database? */
bool uid_in_group(uid_t uid, gid_t gid);

/* Map a D-Bus error to a negative errno, with our maps registered; never 0 for a set error. */
int bus_error_to_errno(const sd_bus_error *e, int fallback);

/* True for the errors that mean "nobody owns that name / the name is not there". */
bool bus_error_is_unreachable(const sd_bus_error *e);

/*
 * org.hubguard.*.Error names shared by every domain, mapped to errnos. Domain-specific errors are
 * named org.hubguard.<domain>1.<Name> and registered next to the domain's vtable.
 */
extern const sd_bus_error_map hub_bus_errors[];
#define HUB_BUS_ERROR_INVALID_INPUT "org.hubguard.Error.InvalidInput"
#define HUB_BUS_ERROR_NOT_SUPPORTED "org.hubguard.Error.NotSupported"
#define HUB_BUS_ERROR_BUSY "org.hubguard.Error.Busy"
#define HUB_BUS_ERROR_NO_SPACE "org.hubguard.Error.NoSpace"

/* Register hub_bus_errors once per process (idempotent). */
void bus_register_errors(void);

/* The bus we talk to: sd_bus_open_system(), which honours $DBUS_SYSTEM_BUS_ADDRESS. */
const char *bus_system_address(void);
