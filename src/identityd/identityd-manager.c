/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "hubguard/bus-names.h"
#include "identityd-manager.h"

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_VTABLE_END,
};

static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
};

const HubDaemonOps identity_daemon_ops = {
        .domain = HUB_DOMAIN_IDENTITY,
        .program = "hub-identityd",
        .description = "The hubguard identity domain: admin credentials, brute-force protection, device identity.",
        .bus_name = HUB_BUS_NAME_IDENTITY,
        .bus_path = HUB_BUS_PATH_IDENTITY,
        .bus_iface = HUB_BUS_IFACE_IDENTITY,
        .vtable = manager_vtable,
        .migrations = migrations,
        .n_migrations = ELEMENTSOF(migrations),
};
