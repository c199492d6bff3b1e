/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common.h"
#include "privacyd-decl.h"

static const char good[] =
        "# a comment\n"
        "[Category]\n"
        "Name=door-clips\n"
        "Description=Video clips of people at the door\n"
        "Purpose=showing who came\n"
        "Recipients=hub cloud-video\n"
        "RetentionSec=604800\n"
        "\n"
        "[Category]\n"
        "Name=door-faces\n"
        "Description=Faces the camera learnt\n"
        "Purpose=recognising the household\n"
        "Recipients=hub\n"
        "Consent=face-recognition\n"
        "[Erase]\n"
        "User=doorcam\n"
        "Path=/var/lib/doorcam/clips/%s\n"
        "Path=/var/lib/doorcam/faces/%s.bin\n"
        "Database=/var/lib/doorcam/app.db\n"
        "Statement=DELETE FROM clips WHERE subject = ?1\n"
        "Command=/usr/libexec/doorcam-erase --subject %s\n"
        "[Reset]\n"
        "Path=/var/lib/doorcam\n";

static void test_good(void **state) {
        DeclApp a;
        char err[256] = "";

        assert_int_equal(decl_parse("doorcam", "/x/doorcam.conf", good, privacy_builtin_categories,
                                    privacy_n_builtin_categories, &a, err, sizeof err),
                         0);
        assert_int_equal(a.n_categories, 2);
        assert_string_equal(a.categories[0].name, "door-clips");
        assert_int_equal(a.categories[0].n_recipients, 2);
        assert_string_equal(a.categories[0].recipients[1], "cloud-video");
        assert_int_equal(a.categories[0].retention_sec, 604800);
        assert_string_equal(a.categories[0].source, "doorcam.conf");
        assert_string_equal(a.categories[1].consent, "face-recognition");
        assert_int_equal(a.n_paths, 2);
        assert_string_equal(a.user, "doorcam");
        assert_string_equal(a.statement, "DELETE FROM clips WHERE subject = ?1");
        assert_int_equal(a.n_args, 3);
        assert_string_equal(a.argv[2], "%s");
        assert_null(a.argv[3]);
        assert_int_equal(a.n_reset_paths, 1);
        assert_true(decl_app_has_erase(&a));
        decl_app_free(&a);
}

static void expect_bad(const char *text, const char *want) {
        DeclApp a = {};
        char err[256] = "";

        if (decl_parse("app", "/x/app.conf", text, privacy_builtin_categories, privacy_n_builtin_categories, &a, err,
                       sizeof err) != -EINVAL)
                fail_msg("accepted: %s", text);
        if (!strstr(err, want))
                fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_bad(void **state) {
        expect_bad("Name=x\n", "1: KEY=VALUE before any section");
        expect_bad("[Category]\nName=presence\nDescription=d\nPurpose=p\nRecipients=hub\n", "already declared (built-in)");
        expect_bad("[Category]\nName=x\n", "needs Name=, Description=, Purpose= and Recipients=");
        expect_bad("[Category]\nName=Bad Name\n", "2: Name= must be");
        expect_bad("[Category]\nName=x\nRetentionSec=-1\n", "3: RetentionSec=");
        expect_bad("[Category]\nName=x\nRecipients=a b c d e f g h i\n", "Recipients= takes at most 8");
        expect_bad("[Frob]\n", "unknown section");
        expect_bad("[Erase]\nPath=relative/%s\n", "2: Path= takes an absolute path");
        expect_bad("[Erase]\nPath=/var/lib/%s/%s\n", "Path= takes");
        expect_bad("[Erase]\nPath=/var/lib/../etc\n", "Path= takes");
        expect_bad("[Erase]\nPath=/%s\n", "Path= takes");
        expect_bad("[Erase]\nPath=/var/%s\n", "Path= takes");
        expect_bad("[Reset]\nPath=/var/lib\n", "[Reset] Path=");
        expect_bad("[Erase]\nCommand=/bin/true %s\n", "need User=");
        expect_bad("[Erase]\nDatabase=/var/lib/app/app.db\nStatement=DELETE FROM t WHERE s = ?1\n", "need User=");
        expect_bad("[Erase]\nUser=root\n", "not root");
        expect_bad("[Erase]\nUser=app\nCommand=rm -rf %s\n", "starts with an absolute path");
        expect_bad("[Erase]\nDatabase=/var/lib/app.db\n", "Database= and Statement= go together");
        expect_bad("[Erase]\nDatabase=/var/lib/app.db\nStatement=DELETE FROM t\n", "using ?1");
        expect_bad("[Reset]\nPath=/var/lib/app/%s\n", "[Reset] Path=");
        expect_bad("[Category]\nName=\xff\n", "not UTF-8");
        expect_bad("[Category]\nFoo=1\n", "unknown key 'Foo'");
}

static void test_load(void **state) {
        _cleanup_rm_rf_ char *dir = test_mkdtemp("test-privacy-decl");
        _cleanup_free_ char *d = path_join(dir, "privacy.d"), *f1 = NULL, *f2 = NULL, *f3 = NULL;
        DeclSet s;

        assert_int_equal(decl_load(dir, &s), 0); /* no privacy.d at all */
        assert_int_equal(s.n_apps, 0);
        assert_int_equal(s.n_categories, privacy_n_builtin_categories);
        decl_set_free(&s);

        assert_int_equal(mkdir(d, 0755), 0);
        f1 = path_join(d, "doorcam.conf");
        f2 = path_join(d, "broken.conf");
        f3 = path_join(d, "other.conf");
        write_string_or_die(f1, good);
        write_string_or_die(f2, "[Category]\nNope=1\n");
        /* Its category is doorcam's already: the whole file is ignored. */
        write_string_or_die(f3, "[Category]\nName=door-clips\nDescription=d\nPurpose=p\nRecipients=hub\n");
        assert_int_equal(decl_load(dir, &s), 0);
        assert_int_equal(s.n_apps, 1);
        assert_string_equal(s.apps[0].name, "doorcam");
        assert_int_equal(s.n_categories, privacy_n_builtin_categories + 2);
        assert_string_equal(s.categories[privacy_n_builtin_categories + 1].name, "door-faces");
        decl_set_free(&s);

        /* A file with no [Category] at all (only what to erase) is an app too (it once made UBSan abort). */
        _cleanup_free_ char *f4 = path_join(d, "cacheonly.conf");
        write_string_or_die(f4, "[Reset]\nPath=/var/lib/cacheonly/cache\n");
        assert_int_equal(decl_load(dir, &s), 0);
        assert_int_equal(s.n_apps, 2);
        assert_string_equal(s.apps[0].name, "cacheonly");
        assert_int_equal(s.apps[0].n_categories, 0);
        assert_int_equal(s.apps[0].n_reset_paths, 1);
        assert_int_equal(s.n_categories, privacy_n_builtin_categories + 2);
        decl_set_free(&s);

        /* Read by root, a file that others may write, or that is not root's, is not used. */
        if (geteuid() == 0) {
                _cleanup_free_ char *f5 = path_join(d, "loose.conf");

                write_string_or_die(f5, "[Reset]\nPath=/var/lib/loose/cache\n");
                assert_int_equal(chmod(f5, 0666), 0);
                assert_int_equal(decl_load(dir, &s), 0);
                assert_int_equal(s.n_apps, 2);
                decl_set_free(&s);
                assert_int_equal(chmod(f5, 0644), 0);
                assert_int_equal(chown(f5, 65534, 65534), 0);
                assert_int_equal(decl_load(dir, &s), 0);
                assert_int_equal(s.n_apps, 2);
                decl_set_free(&s);
                assert_int_equal(chown(f5, 0, 0), 0);
                assert_int_equal(decl_load(dir, &s), 0);
                assert_int_equal(s.n_apps, 3);
                decl_set_free(&s);
                /* Nor is anything in a directory that others may write. */
                assert_int_equal(chmod(d, 0777), 0);
                assert_int_equal(decl_load(dir, &s), 0);
                assert_int_equal(s.n_apps, 0);
                assert_int_equal(s.n_categories, privacy_n_builtin_categories);
                decl_set_free(&s);
                assert_int_equal(chmod(d, 0755), 0);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_load),
        };

        return cmocka_run_group_tests_name("privacy-decl", tests, NULL, NULL);
}
