/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "hubctl.h"

int main(int argc, char *argv[]) {
        return hubctl_main(argc, argv);
}
