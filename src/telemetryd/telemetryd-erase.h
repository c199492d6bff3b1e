/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The cloud side of a data subject's erasure, for hub-privacyd: purge the outbox of messages about
 * the subject, and queue an erase request to the cloud (topic OUTBOX_TOPIC_ERASE, security class,
 * never dropped for room), tracked in the erase_request table until the cloud broker's PUBACK.
 * "Acknowledged" means exactly that: the cloud broker accepted the QoS 1 message for delivery.
 */

#include <systemd/sd-bus.h>

#include "telemetryd-manager.h"

#define TELEMETRY_ERASE_ID_MAX 64

/* The erase_request table: the daemon's migration 3. */
extern const char erase_request_schema_sql[];

/* The service user that may call the erase members (besides root). */
#define TELEMETRY_ERASE_CALLER "hub-privacy"

int telemetry_purge_subject(TelemetryManager *m, const char *subject, uint64_t *ret_n);
/* Idempotent: a request already queued or acknowledged is not queued again. */
int telemetry_request_erase(TelemetryManager *m, const char *subject, const char *request_id);
/* "pending", "acknowledged", or "unknown" (never queued, or its message was refused or lost). */
int telemetry_erase_state(TelemetryManager *m, const char *request_id, const char **ret);
/* The cloud broker acknowledged outbox message seq (call inside the outbox's open transaction). */
void telemetry_erase_acknowledged(TelemetryManager *m, int64_t seq);

bool telemetry_erase_id_is_valid(const char *s);

/* The D-Bus members (telemetryd-bus.c appends them to the vtable). */
int telemetry_method_purge_subject(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int telemetry_method_request_erase(sd_bus_message *msg, void *userdata, sd_bus_error *error);
int telemetry_method_erase_request_state(sd_bus_message *msg, void *userdata, sd_bus_error *error);
