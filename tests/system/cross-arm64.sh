#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The arm64 package (Raspberry Pi 3/4/5, i.MX 8), cross-built on this machine from a pristine copy
# of the work tree with "dpkg-buildpackage -a arm64", its unit and fuzz-replay tests run under
# qemu-user inside the build:
#   build       the build succeeds and leaves hubguard_VERSION_arm64.deb
#   tests-ran   dh_auto_test ran the cross-built tests through cross/aarch64-linux-gnu.ini's
#               exe_wrapper (qemu-aarch64-static): meson's summary shows them all run, none failed
#               or skipped (without the exe_wrapper meson would skip every one and the build would
#               still pass, which is what this check exists to catch)
#   arch        the .deb says Architecture: arm64 and every ELF file in it is AArch64
#   runs        its hubctl, run under qemu-user, prints its version
# What does not run under qemu here, and why (README "Building for the Raspberry Pi"): the
# integration suite (it starts the daemons as other users through setpriv, which needs binfmt_misc
# to exec an arm64 file; this machine has none) and the tests that fork (qemu-user 7.2 hangs in a
# forked child of a dynamically linked program; they skip themselves, see test_fork_unavailable()).
# The unit-exposure tests run as in a native build: host systemd-analyze on the generated unit
# files, which do not depend on the architecture.
#
# Needs root and the cross toolchain (tests/install-deps installs it). Measured on a 2-core machine:
# about 2 minutes (the build with its tests under qemu), plus 35 s for tests/install-deps to add the
# toolchain. Environment: KEEP=1 keeps the temporary directory; HUBGUARD_NO_CROSS=1 leaves it all out
# (as it does for tests/install-deps). Prints "N passed, N failed" last; exits non-zero if any check failed.

set -euo pipefail
export LC_ALL=C.UTF-8

SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/system/lib/check.sh
. "$SRC_ROOT/tests/system/lib/check.sh"

if [ "${HUBGUARD_NO_CROSS:-0}" = 1 ]; then
        echo "# HUBGUARD_NO_CROSS=1: the arm64 cross build is left out (tests/install-deps did not install it)"
        summary
        exit 0
fi

QEMU=qemu-aarch64-static
SYSROOT=/usr/aarch64-linux-gnu
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(crossbuild-essential-arm64)
command -v aarch64-linux-gnu-pkg-config >/dev/null || missing+=(pkgconf:arm64)
command -v "$QEMU" >/dev/null || missing+=(qemu-user-static)
if [ ${#missing[@]} -gt 0 ]; then
        fail "cross toolchain: missing ${missing[*]} (run tests/install-deps)"
        summary
        exit 1
fi

WORK=$(mktemp -d /tmp/hubguard-cross-arm64.XXXXXX)
# shellcheck source=tests/system/lib/build-deb.sh
. "$SRC_ROOT/tests/system/lib/build-deb.sh"

# The two settings without which a cross build skips its tests in silence: our cross file (it has
# the exe_wrapper; debcrossgen's does not) and crossbuildcanrunhostbinaries (tells dh that the
# host's binaries can run here). nocheck must not be set.
DEB_BUILD_OPTIONS=$(sed -e 's/\bnocheck\b//g' <<<"${DEB_BUILD_OPTIONS:-}")
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:+$DEB_BUILD_OPTIONS }crossbuildcanrunhostbinaries"
export HG_HOST_ARCH=arm64
# build-deb.sh builds in $WORK/hubguard, a copy that has the cross file too.
export DH_MESON_CROSS_FILE="$WORK/hubguard/cross/aarch64-linux-gnu.ini"

start=$SECONDS
if hg_build_deb; then
        pass "build: $(basename "$HG_DEB") in $((SECONDS - start)) s"
else
        tail -n 60 "$WORK/build.log" 2>/dev/null || true
        fail "build (log above)"
        for c in tests-ran arch runs; do fail "$c (not run: no package)"; done
        summary
        exit 1
fi

# --- tests-ran: meson's own summary from inside dh_auto_test ------------------------------------
expected=$(grep -cE '^ *[0-9]+/[0-9]+ hubguard:(unit|fuzz) / ' "$WORK/build.log" || true)
ok=$(awk '/^Ok:/ {print $2}' "$WORK/build.log" | tail -n 1)
bad=$(awk '/^(Fail|Timeout|Skipped|Unexpected Pass|Expected Fail):/ {s += $NF} END {print s + 0}' "$WORK/build.log")
if [ "${expected:-0}" -gt 0 ] && [ "${ok:-0}" = "$expected" ] && [ "$bad" = 0 ] &&
   grep -q "MESON_EXE_WRAPPER\|Exe wrapper\|$QEMU" "$WORK/hubguard/obj-aarch64-linux-gnu/meson-logs/testlog.txt" 2>/dev/null; then
        pass "tests-ran: ${ok} unit and fuzz tests passed under ${QEMU}"
else
        grep -E '^ *[0-9]+/[0-9]+ hubguard:|^(Ok|Fail|Timeout|Skipped):' "$WORK/build.log" | sed 's/^/# /' || true
        fail "tests-ran: expected ${expected:-0} tests run and passed under ${QEMU}, got ok=${ok:-none}, failed/skipped=${bad}"
fi

# --- arch --------------------------------------------------------------------------------------
deb_arch=$(dpkg-deb -f "$HG_DEB" Architecture)
mkdir "$WORK/root"
dpkg-deb -x "$HG_DEB" "$WORK/root"
non_arm=()
n_elf=0
while IFS= read -r -d '' f; do
        if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then
                n_elf=$((n_elf + 1))
                machine=$(readelf -h "$f" | sed -n 's/^ *Machine: *//p')
                [ "$machine" = AArch64 ] || non_arm+=("${f#"$WORK/root"}: $machine")
        fi
done < <(find "$WORK/root" -type f -print0)
if [ "$deb_arch" = arm64 ] && [ "$n_elf" -ge 4 ] && [ ${#non_arm[@]} -eq 0 ]; then
        pass "arch: Architecture: arm64, ${n_elf} ELF files, all AArch64"
else
        printf '# %s\n' "${non_arm[@]}"
        fail "arch: Architecture: ${deb_arch}, ${n_elf} ELF files, ${#non_arm[@]} not AArch64"
fi

# --- runs --------------------------------------------------------------------------------------
if out=$("$QEMU" -L "$SYSROOT" "$WORK/root/usr/bin/hubctl" --version 2>&1) && [ "$out" = "hubctl ${HG_VERSION%%-*}" ]; then
        pass "runs: '${out}' under ${QEMU}"
else
        fail "runs: hubctl --version under ${QEMU} said '${out}'"
fi

summary
