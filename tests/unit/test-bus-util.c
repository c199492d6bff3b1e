/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <grp.h>
#include <pwd.h>

#include "common.h"
#include "hubguard/bus-util.h"

/* ---------------------------------------------------------------------------------------------------
 * bus_error_to_errno()
 */

static int errno_of(const char *name, int fallback) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        assert_true(sd_bus_error_set(&e, name, "message") < 0);
        return bus_error_to_errno(&e, fallback);
}

static void test_hub_errors_mapped(void **state) {
        /* The first call registers the map: no bus_register_errors() beforehand. */
        assert_int_equal(errno_of(HUB_BUS_ERROR_INVALID_INPUT, -EIO), -EINVAL);
        assert_int_equal(errno_of(HUB_BUS_ERROR_NOT_SUPPORTED, -EIO), -EOPNOTSUPP);
        assert_int_equal(errno_of(HUB_BUS_ERROR_BUSY, -EIO), -EBUSY);
        assert_int_equal(errno_of(HUB_BUS_ERROR_NO_SPACE, -EIO), -ENOSPC);
}

static void test_hub_errors_const_error(void **state) {
        const sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(HUB_BUS_ERROR_BUSY, "busy");

        assert_int_equal(bus_error_to_errno(&e, -EIO), -EBUSY);
}

static void test_map_table_complete(void **state) {
        /* Every entry of the exported table maps its own name to its own errno. */
        size_t n = 0;

        for (const sd_bus_error_map *m = hub_bus_errors; m->name; m++, n++) {
                assert_true(m->code > 0);
                assert_int_equal(errno_of(m->name, -EIO), -m->code);
        }
        assert_int_equal(n, 4);
}

static void test_standard_errors_mapped(void **state) {
        assert_int_equal(errno_of(SD_BUS_ERROR_ACCESS_DENIED, -EIO), -EACCES);
        assert_int_equal(errno_of(SD_BUS_ERROR_INVALID_ARGS, -EIO), -EINVAL);
        assert_int_equal(errno_of(SD_BUS_ERROR_NO_MEMORY, -EIO), -ENOMEM);
        assert_int_equal(errno_of(SD_BUS_ERROR_SERVICE_UNKNOWN, -EIO), -EHOSTUNREACH);
}

static void test_unknown_error_never_zero(void **state) {
        /* A set error with a name nobody registered is still an error. */
        assert_int_equal(errno_of("org.example.Nobody.Knows", -EPROTO), -EIO);
}

static void test_unset_error_fallback(void **state) {
        const sd_bus_error e = SD_BUS_ERROR_NULL;

        assert_int_equal(bus_error_to_errno(&e, -EPROTO), -EPROTO);
        assert_int_equal(bus_error_to_errno(NULL, -ENOTCONN), -ENOTCONN);
}

static void test_register_idempotent(void **state) {
        bus_register_errors();
        bus_register_errors();
        assert_int_equal(errno_of(HUB_BUS_ERROR_NO_SPACE, -EIO), -ENOSPC);
}

static void test_errno_to_name(void **state) {
        /* An error made from an errno (as sd-bus does for a handler's return value) maps back to it. */
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        bus_register_errors();
        assert_int_equal(sd_bus_error_set_errno(&e, EOPNOTSUPP), -EOPNOTSUPP);
        assert_non_null(e.name);
        assert_int_equal(bus_error_to_errno(&e, -EIO), -EOPNOTSUPP);
}

/* ---------------------------------------------------------------------------------------------------
 * bus_error_is_unreachable()
 */

static void test_unreachable(void **state) {
        static const char *const yes[] = { SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                           SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED,
                                           SD_BUS_ERROR_UNKNOWN_OBJECT };
        static const char *const no[] = { SD_BUS_ERROR_ACCESS_DENIED, SD_BUS_ERROR_INVALID_ARGS,
                                          SD_BUS_ERROR_UNKNOWN_METHOD, HUB_BUS_ERROR_BUSY };
        const sd_bus_error unset = SD_BUS_ERROR_NULL;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                const sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(yes[i], "x");

                assert_true(bus_error_is_unreachable(&e));
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                const sd_bus_error e = SD_BUS_ERROR_MAKE_CONST(no[i], "x");

                assert_false(bus_error_is_unreachable(&e));
        }
        assert_false(bus_error_is_unreachable(&unset));
}

/* ---------------------------------------------------------------------------------------------------
 * uid_in_group()
 */

static void test_root_in_gid_0(void **state) {
        assert_true(uid_in_group(0, 0));
}

static void test_root_not_in_foreign_group(void **state) {
        struct group *g = getgrnam("nogroup");

        if (!g)
                skip();
        assert_false(uid_in_group(0, g->gr_gid));
}

static void test_primary_group(void **state) {
        struct passwd *pw = getpwnam("nobody");

        if (!pw)
                skip();
        assert_true(uid_in_group(pw->pw_uid, pw->pw_gid));
        assert_false(uid_in_group(pw->pw_uid, 0));
}

static void test_supplementary_group(void **state) {
        /* Any user listed as a member of a group other than their primary one. */
        struct group *g;

        setgrent();
        while ((g = getgrent())) {
                for (char **m = g->gr_mem; *m; m++) {
                        struct passwd *pw = getpwnam(*m);

                        if (pw && pw->pw_gid != g->gr_gid) {
                                uid_t uid = pw->pw_uid;
                                gid_t gid = g->gr_gid;

                                endgrent();
                                assert_true(uid_in_group(uid, gid));
                                return;
                        }
                }
        }
        endgrent();
        skip();
}

static void test_unknown_uid(void **state) {
        /* A uid with no user database entry is in no group, not even gid 0. */
        uid_t uid = 3999999999U;

        assert_null(getpwuid(uid));
        assert_false(uid_in_group(uid, 0));
        assert_false(uid_in_group(uid, uid));
}

/* ---------------------------------------------------------------------------------------------------
 * bus_system_address()
 */

static void test_system_address(void **state) {
        assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/test-bus", 1), 0);
        assert_string_equal(bus_system_address(), "unix:path=/tmp/test-bus");
        assert_int_equal(unsetenv("DBUS_SYSTEM_BUS_ADDRESS"), 0);
        assert_string_equal(bus_system_address(), "unix:path=/run/dbus/system_bus_socket");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hub_errors_mapped),
                cmocka_unit_test(test_hub_errors_const_error),
                cmocka_unit_test(test_map_table_complete),
                cmocka_unit_test(test_standard_errors_mapped),
                cmocka_unit_test(test_unknown_error_never_zero),
                cmocka_unit_test(test_unset_error_fallback),
                cmocka_unit_test(test_register_idempotent),
                cmocka_unit_test(test_errno_to_name),
                cmocka_unit_test(test_unreachable),
                cmocka_unit_test(test_root_in_gid_0),
                cmocka_unit_test(test_root_not_in_foreign_group),
                cmocka_unit_test(test_primary_group),
                cmocka_unit_test(test_supplementary_group),
                cmocka_unit_test(test_unknown_uid),
                cmocka_unit_test(test_system_address),
        };

        return cmocka_run_group_tests_name("bus-util", tests, NULL, NULL);
}
