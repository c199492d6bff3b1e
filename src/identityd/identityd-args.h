/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The checks of org.hubguard.identity1.Manager's method arguments, before the caller is
 * authorised: pure functions of the arguments, so that tests/fuzz/fuzz-identity-args.c drives them
 * with every byte sequence a caller could send.
 */

#include <stdbool.h>
#include <systemd/sd-bus.h>

/* A front end's label for where an attempt came from, e.g. a remote address. */
#define SOURCE_LABEL_MAX 64
#define SOURCE_LABEL_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:_-[]"

/* 1..SOURCE_LABEL_MAX characters of SOURCE_LABEL_CHARS. */
bool source_label_is_valid(const char *s);

/* The account argument: an identifier of at most 32 bytes naming a known account. */
int identity_check_account(const char *account, sd_bus_error *error);

/* A password argument (what: "password", "new password", ...) as password_input_is_valid() wants it. */
int identity_check_password_arg(const char *pw, const char *what, sd_bus_error *error);

/*
 * VerifyPassword's options, a{sv}: only "Source" (a string, source_label_is_valid()). Unknown keys
 * and wrong types are refused. Returns < 0, or >= 0 with error set on a refusal, or >= 0 with
 * *ret_source set (NULL if absent; points into msg).
 */
int identity_read_options(sd_bus_message *msg, const char **ret_source, sd_bus_error *error);
