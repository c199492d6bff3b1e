/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* D-Bus names (DESIGN.md "D-Bus"). The API only grows by adding members. */

#define HUB_BUS_NAME_IDENTITY "org.hubguard.identity1"
#define HUB_BUS_PATH_IDENTITY "/org/hubguard/identity1"
#define HUB_BUS_IFACE_IDENTITY "org.hubguard.identity1.Manager"

#define HUB_BUS_NAME_TELEMETRY "org.hubguard.telemetry1"
#define HUB_BUS_PATH_TELEMETRY "/org/hubguard/telemetry1"
#define HUB_BUS_IFACE_TELEMETRY "org.hubguard.telemetry1.Manager"

#define HUB_BUS_NAME_PRIVACY "org.hubguard.privacy1"
#define HUB_BUS_PATH_PRIVACY "/org/hubguard/privacy1"
#define HUB_BUS_IFACE_PRIVACY "org.hubguard.privacy1.Manager"

/* Group whose members may read status and administer the hub. */
#define HUB_ADMIN_GROUP_NAME "hubadmin"
