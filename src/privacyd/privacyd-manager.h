/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "hubguard/daemon.h"

/* The privacy domain's daemon description, run by hub_daemon_main(). */
extern const HubDaemonOps privacy_daemon_ops;
