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
#define MESSAGE_ID_AUTH_FAILURE "ec782112eee54a65ab153396f1257baa"
#define MESSAGE_ID_AUTH_LOCKOUT "fac6397c754a4bdc81a8f483f9e182e0"
#define MESSAGE_ID_PASSWORD_GENERATED "ab10f5cec9604138b6050b6f853d73bd"
#define MESSAGE_ID_PASSWORD_REVEALED "b4e10cf9c81147e7a35535214bbadaa3"
#define MESSAGE_ID_PASSWORD_CHANGED "e58c64f433384b46b77d331003629ab2"
#define MESSAGE_ID_CERTIFICATE_INSTALLED "471bbdef70fd4f6bb2a7dffdefdaf1b1"
#define MESSAGE_ID_ANOMALY_DETECTED "2a902cff14594bb0bc67705e2f2430ec"
