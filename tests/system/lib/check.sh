# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# The check harness of the system-tier scripts that build the package (deb-lint.sh, cross-arm64.sh):
# pass/fail lines, one closing "N passed, N failed" line even when the script aborts (set -e, a
# missing tool), and the temporary directory $WORK removed at exit unless KEEP=1.
# Source it after `set -euo pipefail`; set WORK once the directory exists; end with `summary`.

CHECK_NAME=$(basename "$0")
PASSED=0
FAILED=0
SUMMARY_DONE=0
WORK=

pass() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL - $1"; FAILED=$((FAILED + 1)); }

summary() {
        SUMMARY_DONE=1
        echo "${PASSED} passed, ${FAILED} failed"
        [ "$FAILED" -eq 0 ]
}

check_cleanup() {
        local rc=$?
        if [ -n "$WORK" ]; then
                if [ "${KEEP:-0}" = 1 ]; then
                        echo "# kept ${WORK}"
                else
                        rm -rf "$WORK"
                fi
        fi
        # Aborted before the end: still one closing line, counting the abort as a failure.
        if [ "$SUMMARY_DONE" = 0 ]; then
                echo "# ${CHECK_NAME}: aborted (exit status ${rc})"
                echo "${PASSED} passed, $((FAILED + 1)) failed"
                [ "$rc" -ne 0 ] || exit 1
        fi
}
trap check_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
        echo "${CHECK_NAME}: must run as root (installs missing build dependencies)" >&2
        exit 2
fi
