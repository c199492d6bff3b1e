# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by the system tests (sourced, not run; tests/run-all runs only tests/system/*.sh):
# build the hubguard .deb from a pristine copy of the work tree.
#
#   WORK=/tmp/some-dir SRC_ROOT=/path/to/checkout
#   . tests/system/lib/build-deb.sh
#   hg_apt_install apt-get install -y --no-install-recommends PKG...
#   hg_build_deb || { tail -n 60 "$WORK/build.log"; ...; }
#
# hg_build_deb copies the work tree (so uncommitted changes are built) without .git, build
# directories and whatever .gitignore excludes to $WORK/hubguard, installs missing build tools and
# build dependencies, and runs "dpkg-buildpackage -us -uc -b" there (DEB_BUILD_OPTIONS from the
# environment is honoured, e.g. "nocheck"; HG_BUILD_TIMEOUT=SECONDS limits the build). It sets
# HG_SRC, HG_VERSION, HG_ARCH, HG_DEB and HG_CHANGES, writes the build's output to
# $WORK/build.log, and returns non-zero if the build failed or did not produce the .deb and
# .changes. HG_HOST_ARCH=ARCH (e.g. arm64) cross-builds for ARCH ("dpkg-buildpackage -a ARCH";
# the caller sets DH_MESON_CROSS_FILE and DEB_BUILD_OPTIONS for the tests to run under emulation).

HG_APT_UPDATED=0
# hg_apt_install CMD...: run an apt-get command, updating the lists once if it fails.
hg_apt_install() {
        if ! DEBIAN_FRONTEND=noninteractive "$@" >"$WORK/apt.log" 2>&1; then
                if [ "$HG_APT_UPDATED" = 0 ]; then
                        HG_APT_UPDATED=1
                        apt-get update >>"$WORK/apt.log" 2>&1 || true
                        DEBIAN_FRONTEND=noninteractive "$@" >>"$WORK/apt.log" 2>&1 && return 0
                fi
                tail -n 30 "$WORK/apt.log" >&2
                return 1
        fi
}

hg_build_deb() {
        local need=()
        command -v dpkg-buildpackage >/dev/null || need+=(dpkg-dev)
        command -v dh >/dev/null || need+=(debhelper)
        if [ ${#need[@]} -gt 0 ]; then
                echo "# installing ${need[*]}"
                hg_apt_install apt-get install -y --no-install-recommends "${need[@]}" || return 1
        fi

        # --- pristine copy of the work tree ---
        HG_SRC="$WORK/hubguard"
        mkdir "$HG_SRC" || return 1
        tar -C "$SRC_ROOT" \
                --exclude-vcs --exclude-vcs-ignores \
                --exclude='./build' --exclude='./build-*' --exclude='./builddir' --exclude='./obj-*' \
                --exclude='./debian/.debhelper' --exclude='./debian/hubguard' --exclude='./debian/tmp' \
                --exclude='./debian/files' --exclude='./debian/*.substvars' \
                --exclude='./debian/debhelper-build-stamp' --exclude='./debian/*.debhelper.log' \
                -cf - . | tar -C "$HG_SRC" -xf - || return 1

        local cross=()
        [ -z "${HG_HOST_ARCH:-}" ] || cross=(-a "$HG_HOST_ARCH")
        if ! (cd "$HG_SRC" && dpkg-checkbuilddeps "${cross[@]}") >/dev/null 2>&1; then
                echo "# installing build dependencies"
                hg_apt_install apt-get build-dep -y --no-install-recommends "${cross[@]}" "$HG_SRC" || return 1
        fi

        # --- build ---
        HG_VERSION=$(cd "$HG_SRC" && dpkg-parsechangelog -S Version) || return 1
        HG_ARCH=${HG_HOST_ARCH:-$(dpkg --print-architecture)}
        HG_DEB="$WORK/hubguard_${HG_VERSION}_${HG_ARCH}.deb"
        HG_CHANGES="$WORK/hubguard_${HG_VERSION}_${HG_ARCH}.changes"

        echo "# building hubguard ${HG_VERSION} in ${HG_SRC}${DEB_BUILD_OPTIONS:+ (DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS})}"
        # HG_BUILD_TIMEOUT (seconds): give up on a build that hangs; unset: no limit.
        (cd "$HG_SRC" && ${HG_BUILD_TIMEOUT:+timeout "$HG_BUILD_TIMEOUT"} dpkg-buildpackage -us -uc -b -j2 "${cross[@]}") \
                >"$WORK/build.log" 2>&1 \
                && [ -f "$HG_DEB" ] && [ -f "$HG_CHANGES" ]
}
