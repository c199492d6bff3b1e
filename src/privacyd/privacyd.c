/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "privacyd-manager.h"

int main(int argc, char *argv[]) {
        return hub_daemon_main(&privacy_daemon_ops, argc, argv);
}
