/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "telemetryd-manager.h"

int main(int argc, char *argv[]) {
        return hub_daemon_main(&telemetry_daemon_ops, argc, argv);
}
