/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The device id: "hub-" and 128 random bits in lowercase hex, the CN of the device certificate. */

#include <stdbool.h>

#define DEVICE_ID_PREFIX "hub-"
#define DEVICE_ID_LEN (4 + 32)

/* A fresh device id into buf (DEVICE_ID_LEN + 1 bytes). */
void device_id_generate(char *buf);
bool device_id_is_valid(const char *s);
