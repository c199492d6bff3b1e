/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>

#include "hubguard/bus-util.h"
#include "hubguard/bus-names.h"
#include "hubguard/log.h"

/* Upper bound on supplementary groups we look at for one user. */
#define GROUPS_MAX 1024

const sd_bus_error_map hub_bus_errors[] = {
        SD_BUS_ERROR_MAP(HUB_BUS_ERROR_INVALID_INPUT, EINVAL),
        SD_BUS_ERROR_MAP(HUB_BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(HUB_BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(HUB_BUS_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP_END,
};

void bus_register_errors(void) {
        static bool done = false;

        if (!done && sd_bus_error_add_map(hub_bus_errors) >= 0)
                done = true;
}

bool uid_in_group(uid_t uid, gid_t gid) {
        struct passwd pw, *pwp = NULL;
        gid_t groups[GROUPS_MAX];
        int n = GROUPS_MAX;
        char buf[4096];

        if (getpwuid_r(uid, &pw, buf, sizeof buf, &pwp) != 0 || !pwp)
                return false;
        if (pw.pw_gid == gid)
                return true;
        /* More groups than GROUPS_MAX: judge by the first GROUPS_MAX, as n then says how many fit. */
        if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
                n = GROUPS_MAX;
        for (int i = 0; i < n; i++)
                if (groups[i] == gid)
                        return true;
        return false;
}

static bool admin_gid(gid_t *ret) {
        struct group gr, *grp = NULL;
        char buf[4096];

        if (getgrnam_r(HUB_ADMIN_GROUP_NAME, &gr, buf, sizeof buf, &grp) != 0 || !grp)
                return false;
        *ret = gr.gr_gid;
        return true;
}

int bus_verify_caller(sd_bus_message *m, const BusAccess *access, uid_t *ret_uid, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        gid_t gid;
        int r;

        /* The uid the bus daemon saw when the peer connected: not forgeable by the peer. */
        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (ret_uid)
                *ret_uid = uid;

        if (uid == 0)
                return 1;
        for (size_t i = 0; access && i < access->n_uids; i++)
                if (access->uids[i] == uid)
                        return 1;
        if (access && access->admin_group && admin_gid(&gid) && uid_in_group(uid, gid))
                return 1;

        sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED, "%s.%s is not allowed for uid %u.",
                          strempty(sd_bus_message_get_interface(m)), strempty(sd_bus_message_get_member(m)),
                          (unsigned) uid);
        return 0;
}

int bus_error_to_errno(const sd_bus_error *e, int fallback) {
        int r;

        bus_register_errors();
        r = sd_bus_error_get_errno(e);
        return r > 0 ? -r : fallback;
}

bool bus_error_is_unreachable(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED,
                                      SD_BUS_ERROR_UNKNOWN_OBJECT);
}

const char *bus_system_address(void) {
        const char *e = getenv("DBUS_SYSTEM_BUS_ADDRESS");

        return e ? e : "unix:path=/run/dbus/system_bus_socket";
}
