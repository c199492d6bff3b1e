/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "hubguard/bus-names.h"
#include "privacyd-manager.h"

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_VTABLE_END,
};

static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
};

const HubDaemonOps privacy_daemon_ops = {
        .domain = HUB_DOMAIN_PRIVACY,
        .program = "hub-privacyd",
        .description = "The hubguard privacy domain: personal data, consent, export and erasure.",
        .bus_name = HUB_BUS_NAME_PRIVACY,
        .bus_path = HUB_BUS_PATH_PRIVACY,
        .bus_iface = HUB_BUS_IFACE_PRIVACY,
        .vtable = manager_vtable,
        .migrations = migrations,
        .n_migrations = ELEMENTSOF(migrations),
};
