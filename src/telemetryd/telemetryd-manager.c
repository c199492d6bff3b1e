/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "hubguard/bus-names.h"
#include "telemetryd-manager.h"

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        HUB_MANAGER_COMMON_PROPERTIES,
        SD_BUS_VTABLE_END,
};

static const DbMigration migrations[] = {
        HUB_DB_MIGRATION_META,
};

const HubDaemonOps telemetry_daemon_ops = {
        .domain = HUB_DOMAIN_TELEMETRY,
        .program = "hub-telemetryd",
        .description = "The hubguard telemetry domain: device and hub telemetry to the cloud over TLS MQTT.",
        .bus_name = HUB_BUS_NAME_TELEMETRY,
        .bus_path = HUB_BUS_PATH_TELEMETRY,
        .bus_iface = HUB_BUS_IFACE_TELEMETRY,
        .vtable = manager_vtable,
        .migrations = migrations,
        .n_migrations = ELEMENTSOF(migrations),
};
