#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Build the hubguard .deb from a pristine copy of the work tree and check it:
#   build         dpkg-buildpackage -us -uc -b succeeds (unit and fuzz suites run inside it)
#   builddeps     every package providing a library, pkg-config file or program the build used
#                 is in Build-Depends (this machine has them all; a clean chroot would not)
#   lintian       lintian -I --pedantic on the .changes (its .deb, dbgsym and .buildinfo):
#                 no E: or W: line
#   contents      dpkg -c: every expected file is there, no build artefact, private key or test
#                 file; /etc/hubguard/hubguard.conf is a conffile; sysusers/tmpfiles shipped once
#   maintscripts  postinst creates the users and reloads the bus before the debhelper code that
#                 enables and starts the units; postrm deletes the state on purge only
#
# The copy is the work tree (so uncommitted changes are tested) without .git, build directories
# and whatever .gitignore excludes. Run as root, from any directory:
#   bash tests/system/deb-lint.sh
# Environment: KEEP=1 keeps the temporary directory (its path is printed).
# Prints "N passed, N failed" last; exits non-zero if any check failed.

set -euo pipefail
export LC_ALL=C.UTF-8

SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/system/lib/check.sh
. "$SRC_ROOT/tests/system/lib/check.sh"

WORK=$(mktemp -d /tmp/hubguard-deb-lint.XXXXXX)

# --- build (shared with the other system tests) ----------------------------------------------
# shellcheck source=tests/system/lib/build-deb.sh
. "$SRC_ROOT/tests/system/lib/build-deb.sh"

if ! command -v lintian >/dev/null; then
        echo "# installing lintian"
        hg_apt_install apt-get install -y --no-install-recommends lintian
fi

if hg_build_deb; then
        pass "build"
else
        tail -n 60 "$WORK/build.log" 2>/dev/null || true
        fail "build (log above)"
        for c in builddeps lintian contents maintscripts; do fail "$c (not run: no package)"; done
        summary
        exit 1
fi
SRC=$HG_SRC
DEB=$HG_DEB
CHANGES=$HG_CHANGES

# --- build dependencies -------------------------------------------------------------------------
# This machine has every library installed, so a dependency added to meson.build but not to
# debian/control would go unnoticed here and fail in a clean build chroot. Every package that
# provides something the build used (a library it linked, a pkg-config file, a program meson
# found) must be named in Build-Depends, unless it is essential or part of the C toolchain.
problems=()
build_depends=$(cd "$SRC" && perl -MDpkg::Control::Info -e '
        my $src = Dpkg::Control::Info->new("debian/control")->get_source;
        my $bd = join(",", grep { defined } @$src{qw(Build-Depends Build-Depends-Arch)});
        for (split /[,|]/, $bd) { s/[(<\[].*//s; s/\s+//g; print "$_\n" if length }')
builddir=$(find "$SRC" -maxdepth 1 -type d -name 'obj-*' | head -n 1)
used_paths=()
owners=()
# Libraries on the link lines of "ninja -v": full paths, or -lNAME (meson's find_library()).
while IFS= read -r arg; do
        case "$arg" in
        -l*) arg=$(cc -print-file-name="lib${arg#-l}.so") ;;
        esac
        case "$arg" in
        /*) used_paths+=("$(realpath -s "$arg")") ;;
        esac
done < <(grep -E '^\[[0-9]+/[0-9]+\] ' "$WORK/build.log" | grep -e ' -o ' | grep -v -e ' -c ' \
        | grep -oE '(^| )(/[^ ]+\.so(\.[0-9]+)*|-l[^ ]+)' | sed 's/^ //' | sort -u)
if [ -n "$builddir" ]; then
        # pkg-config files of the dependencies meson found (this covers systemd.pc).
        while IFS= read -r name; do
                pc=$(pkg-config --path "$name" 2>/dev/null || true)
                [ -n "$pc" ] && used_paths+=("$(realpath -s "$pc")")
        done < <(meson introspect "$builddir" --dependencies | grep -oE '"name": "[^"]+"' | cut -d'"' -f4)
        # Programs meson found (scdoc, ...).
        while IFS= read -r prog; do
                used_paths+=("$prog")
        done < <(grep -ohE 'Program [^ ]+ found: YES \(/[^ )]+' "$builddir"/meson-logs/meson-log.txt \
                | sed 's/.*(//' | sort -u)
else
        problems+=("no meson build directory obj-* in the build tree")
fi
for path in "${used_paths[@]}"; do
        owner=$(dpkg-query -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        if [ -z "$owner" ]; then
                # Merged /usr: the file may be registered under the other spelling of its path.
                case "$path" in
                /usr/*) alt=${path#/usr} ;;
                *) alt=/usr$path ;;
                esac
                owner=$(dpkg-query -S "$alt" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        fi
        if [ -z "$owner" ]; then
                problems+=("${path}: no package owns it")
                continue
        fi
        case "$owner" in
        libc6-dev|libgcc-*-dev|libcrypt-dev|linux-libc-dev|gcc-*|cpp-*|binutils*) continue ;;
        esac
        [ "$(dpkg-query -W -f='${Essential}' "$owner" 2>/dev/null)" = yes ] && continue
        owners+=("$owner")
        grep -qxF "$owner" <<<"$build_depends" || problems+=("${owner} (${path}) is not in Build-Depends")
done
echo "# builddeps: the build used $(printf '%s\n' "${owners[@]}" | sort -u | tr '\n' ' ')"
if [ ${#problems[@]} -eq 0 ]; then
        pass "builddeps ($(printf '%s\n' "${owners[@]}" | sort -u | wc -l) packages, all in Build-Depends)"
else
        printf '# builddeps: %s\n' "${problems[@]}"
        fail "builddeps (${#problems[@]} problems)"
fi

# --- lintian ----------------------------------------------------------------------------------
# The .changes names the .deb, the dbgsym package and the .buildinfo; lintian checks them all.
lrc=0
lintian -I --pedantic --fail-on none "$CHANGES" >"$WORK/lintian.log" 2>&1 || lrc=$?
grep -vx 'running with root privileges is not recommended!' "$WORK/lintian.log" | sed 's/^/# lintian: /' || true
bad=$(grep -E '^[EW]: ' "$WORK/lintian.log" || true)
if [ "$lrc" -ne 0 ]; then
        fail "lintian (lintian itself exited ${lrc})"
elif [ -n "$bad" ]; then
        echo "$bad"
        fail "lintian ($(echo "$bad" | wc -l) error/warning tags)"
else
        pass "lintian ($(grep -c '^[IPX]: ' "$WORK/lintian.log" || true) info/pedantic/experimental tags)"
fi

# --- contents ---------------------------------------------------------------------------------
problems=()
dpkg -c "$DEB" >"$WORK/contents.txt"
# Field 6 of "dpkg -c" is "./path" (directories end in /; a symlink's " -> target" is dropped).
awk '{ print $6 }' "$WORK/contents.txt" | sed 's|^\./|/|' >"$WORK/paths.txt"

expected=(
        /usr/bin/hubctl
        /usr/libexec/hubguard/hub-identityd
        /usr/libexec/hubguard/hub-telemetryd
        /usr/libexec/hubguard/hub-privacyd
        /lib/systemd/system/hubguard.target
        /lib/systemd/system/hub-identityd.service
        /lib/systemd/system/hub-telemetryd.service
        /lib/systemd/system/hub-privacyd.service
        /usr/lib/sysusers.d/hubguard.conf
        /usr/lib/tmpfiles.d/hubguard.conf
        /usr/share/dbus-1/system.d/org.hubguard.identity1.conf
        /usr/share/dbus-1/system.d/org.hubguard.telemetry1.conf
        /usr/share/dbus-1/system.d/org.hubguard.privacy1.conf
        /etc/hubguard/hubguard.conf
        /usr/lib/systemd/catalog/hubguard.catalog
        /usr/share/dbus-1/interfaces/org.hubguard.identity1.Manager.xml
        /usr/share/dbus-1/interfaces/org.hubguard.telemetry1.Manager.xml
        /usr/share/dbus-1/interfaces/org.hubguard.privacy1.Manager.xml
        /usr/share/man/man1/hubctl.1.gz
        /usr/share/man/man5/hubguard.conf.5.gz
        /usr/share/man/man8/hub-identityd.8.gz
        /usr/share/man/man8/hub-telemetryd.8.gz
        /usr/share/man/man8/hub-privacyd.8.gz
        /usr/share/doc/hubguard/copyright
)
for f in "${expected[@]}"; do
        grep -qxF "$f" "$WORK/paths.txt" || problems+=("missing ${f}")
done

# Build artefacts, test files and anything that looks like a key or certificate.
while IFS= read -r p; do
        case "$p" in
        */) continue ;;
        esac
        case "$p" in
        *.o|*.a|*.la|*.so.p/*|*.p/*|*/meson-*|*/build.ninja|*/.ninja_*|*/compile_commands.json|*/config.h|*.gcno|*.gcda)
                problems+=("build artefact ${p}") ;;
        */tests/*|*/test/*|*/test-*|*/test_*|*-test|*_test|*/fuzz*|*/corpus/*|*/notify-recv|*cmocka*|*/testdata/*)
                problems+=("test file ${p}") ;;
        *.key|*.pem|*.p12|*.pfx|*.der|*.crt|*.csr|*/id_rsa*|*/id_ed25519*|*.sealed)
                problems+=("key or certificate ${p}") ;;
        esac
done <"$WORK/paths.txt"

# Nothing outside the places this package installs to (e.g. /var/lib state, /home, /tmp, /root).
while IFS= read -r p; do
        case "$p" in
        /|/etc/|/etc/hubguard/*|/lib/|/lib/systemd/|/lib/systemd/system/*|/usr/|/usr/bin/*|/usr/libexec/*|/usr/lib/|/usr/lib/sysusers.d/*|/usr/lib/tmpfiles.d/*|/usr/lib/systemd/*|/usr/share/*)
                ;;
        *)
                problems+=("unexpected path ${p}") ;;
        esac
done <"$WORK/paths.txt"

mkdir "$WORK/root" "$WORK/control"
dpkg-deb -x "$DEB" "$WORK/root"
dpkg-deb -e "$DEB" "$WORK/control"
if grep -rlE -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----' "$WORK/root" >"$WORK/keys.txt"; then
        while IFS= read -r k; do problems+=("private key in ${k#"$WORK"/root}"); done <"$WORK/keys.txt"
fi
# setuid/setgid files, world-writable files, files not owned by root.
# Mode string: type, then user, group and other rwx; char 9 is other-write, 4 and 7 set[ug]id.
if awk '$1 !~ /^l/ && ($1 ~ /^........w/ || $1 ~ /^...[sS]/ || $1 ~ /^......[sS]/ || $2 != "root/root")' \
        "$WORK/contents.txt" | grep . >"$WORK/perms.txt"; then
        while IFS= read -r l; do problems+=("bad owner or mode: ${l}"); done <"$WORK/perms.txt"
fi
if ! grep -qxF /etc/hubguard/hubguard.conf "$WORK/control/conffiles" 2>/dev/null; then
        problems+=("/etc/hubguard/hubguard.conf is not a conffile")
fi
for d in /usr/lib/sysusers.d /usr/lib/tmpfiles.d; do
        n=$(grep -c "^${d}/." "$WORK/paths.txt" || true)
        [ "$n" -eq 1 ] || problems+=("${d} holds ${n} files, expected exactly 1")
done

if [ ${#problems[@]} -eq 0 ]; then
        pass "contents ($(grep -vc '/$' "$WORK/paths.txt") files)"
else
        printf '# contents: %s\n' "${problems[@]}"
        fail "contents (${#problems[@]} problems)"
fi

# --- maintainer scripts -----------------------------------------------------------------------
problems=()
postinst="$WORK/control/postinst"
postrm="$WORK/control/postrm"
line_of() { grep -n -m1 -E -- "$1" "$2" | cut -d: -f1; }
if [ -f "$postinst" ]; then
        grep -q '#DEBHELPER#' "$postinst" && problems+=("postinst: #DEBHELPER# was not substituted")
        users=$(line_of '^[[:space:]]*systemd-sysusers .*hubguard\.conf' "$postinst")
        reload=$(line_of 'org\.freedesktop\.DBus\.ReloadConfig' "$postinst")
        enable=$(line_of "deb-systemd-helper enable '" "$postinst")
        start=$(line_of 'deb-systemd-invoke ' "$postinst")
        [ -n "$users" ] || problems+=("postinst: no systemd-sysusers call")
        [ -n "$reload" ] || problems+=("postinst: no bus ReloadConfig")
        [ -n "$enable" ] || problems+=("postinst: units are not enabled")
        [ -n "$start" ] || problems+=("postinst: units are not started")
        if [ -n "$users" ] && [ -n "$reload" ] && [ -n "$enable" ] && [ -n "$start" ]; then
                { [ "$users" -lt "$reload" ] && [ "$reload" -lt "$enable" ] && [ "$reload" -lt "$start" ]; } \
                        || problems+=("postinst: users and bus reload must come before enabling/starting units")
        fi
        # dh_installsystemd: "start" on a fresh install, "restart" on upgrade (i.e. with $2 set).
        grep -q '_dh_action=restart' "$postinst" && grep -q '_dh_action=start' "$postinst" \
                || problems+=("postinst: units are not started on install and restarted on upgrade")
        # shellcheck disable=SC2016 # a literal $_dh_action
        starts=$(grep -E '^[[:space:]]*deb-systemd-invoke \$_dh_action ' "$postinst" || true)
        stops=$(grep -E '^[[:space:]]*deb-systemd-invoke stop ' "$WORK/control/prerm" 2>/dev/null || true)
        for u in hubguard.target hub-identityd.service hub-telemetryd.service hub-privacyd.service; do
                grep -qF "deb-systemd-helper enable '${u}'" "$postinst" \
                        || problems+=("postinst: ${u} is not enabled")
                grep -qF "'${u}'" <<<"$starts" || problems+=("postinst: ${u} is not started/restarted")
                grep -qF "'${u}'" <<<"$stops" || problems+=("prerm: ${u} is not stopped on remove")
        done
        sh -n "$postinst" || problems+=("postinst: syntax error")
else
        problems+=("no postinst")
fi
if [ -f "$WORK/control/prerm" ]; then
        # shellcheck disable=SC2016 # a literal "$1"
        grep -qE '"\$1" = remove' "$WORK/control/prerm" \
                || problems+=("prerm: units are stopped on upgrade too, not on remove only")
else
        problems+=("no prerm")
fi
if [ -f "$postrm" ]; then
        grep -q '#DEBHELPER#' "$postrm" && problems+=("postrm: #DEBHELPER# was not substituted")
        # The state is removed only in the purge branch.
        awk '/^if \[ "\$1" = "purge" \]; then/ { inpurge = 1 } inpurge && /^fi/ { inpurge = 0 }
             /rm -rf .*\/var\/lib\/hubguard/ { found = 1; if (!inpurge) bad = 1 }
             END { exit !(found && !bad) }' "$postrm" \
                || problems+=("postrm: /var/lib/hubguard is not removed on purge only")
        sh -n "$postrm" || problems+=("postrm: syntax error")
else
        problems+=("no postrm")
fi
if [ ${#problems[@]} -eq 0 ]; then
        pass "maintscripts"
else
        printf '# maintscripts: %s\n' "${problems[@]}"
        fail "maintscripts (${#problems[@]} problems)"
fi

summary
