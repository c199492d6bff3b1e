/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "identityd-manager.h"

int main(int argc, char *argv[]) {
        return hub_daemon_main(&identity_daemon_ops, argc, argv);
}
