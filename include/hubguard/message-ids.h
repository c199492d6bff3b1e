/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Fixed journal MESSAGE_IDs. Never change a published id; add new ones. Each has an entry in
 * conf/hubguard.catalog (installed to /usr/lib/systemd/catalog/), so `journalctl -x` explains it and
 * `journalctl MESSAGE_ID=...` finds every occurrence.
 */

#define MESSAGE_ID_DAEMON_STARTED "6d19187d4917440499192c3acd2a366a"
#define MESSAGE_ID_DAEMON_STOPPED "4b96629c9d114a06b2b48e5ffe50e4a4"
#define MESSAGE_ID_DB_REBUILT "fdfc3981599541aebdc968c1da314e49"
#define MESSAGE_ID_CONFIG_INVALID "43ccbdc92340475f80c43d52c008625f"
#define MESSAGE_ID_ACCESS_DENIED "75e90da1a96c452cba4fb5e72509b616"
