# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# TAP helpers for the integration tests, and a stack that is always torn down, even on failure.
# A test script: source this file, call it_setup (starts the stack), then it_ok/it_is/... checks.

set -uo pipefail

: "${STACK_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${STACK_BUILD:=$STACK_SRC/build}"
export STACK_SRC STACK_BUILD
# shellcheck source=tests/integration/stack.sh
. "$STACK_SRC/tests/integration/stack.sh"

IT_N=0
IT_FAILED=0
IT_ADMIN=hubguard-tadmin
IT_STRANGER=nobody

it_ok() {
        local desc=$1
        shift
        IT_N=$((IT_N + 1))
        # What the check prints is not TAP: it goes to stderr.
        if "$@" >&2; then
                echo "ok $IT_N - $desc"
        else
                IT_FAILED=$((IT_FAILED + 1))
                echo "not ok $IT_N - $desc"
                echo "# failed: $*"
        fi
}

# it_is DESC EXPECTED ACTUAL
it_is() {
        IT_N=$((IT_N + 1))
        if [[ $2 == "$3" ]]; then
                echo "ok $IT_N - $1"
        else
                IT_FAILED=$((IT_FAILED + 1))
                echo "not ok $IT_N - $1"
                echo "# expected: $2"
                echo "# got:      $3"
        fi
}

# it_match DESC REGEX TEXT
it_match() {
        IT_N=$((IT_N + 1))
        if [[ $3 =~ $2 ]]; then
                echo "ok $IT_N - $1"
        else
                IT_FAILED=$((IT_FAILED + 1))
                echo "not ok $IT_N - $1"
                echo "# expected to match: $2"
                printf '%s\n' "$3" | sed 's/^/# got: /'
        fi
}

it_teardown() {
        local rc=$?
        if ((IT_FAILED > 0)) && [[ -n ${STACK_DIR:-} && -d $STACK_DIR/log ]]; then
                for f in "$STACK_DIR"/log/*.log; do
                        echo "# --- $f"
                        sed 's/^/# /' "$f" | tail -n 40
                done
        fi
        # Background helpers of the test (subscribers, fake servers) must not outlive it: they would
        # hold the test runner's output pipe open.
        local j
        for j in $(jobs -p); do
                kill "$j" 2>/dev/null
        done
        stack_down
        echo "1..$IT_N"
        ((IT_FAILED == 0 && rc == 0)) || exit 1
        exit 0
}

it_setup() {
        trap it_teardown EXIT
        trap 'exit 1' INT TERM
        if [[ $(id -u) != 0 ]]; then
                echo "Bail out! the integration tests need root (system users, setpriv)"
                exit 1
        fi
        # A hub administrator for the access tests; created before the bus reads its policy.
        systemd-sysusers "$STACK_SRC/tests/integration/test-users.conf" >/dev/null 2>&1 ||
                { echo "Bail out! cannot create test users"; exit 1; }
        STACK_DIR=$(mktemp -d /tmp/hubguard-it.XXXXXX)
        rmdir "$STACK_DIR"
        if ! stack_up "$STACK_DIR" 2>"$STACK_DIR.err"; then
                sed 's/^/# /' "$STACK_DIR.err"
                rm -f "$STACK_DIR.err"
                echo "Bail out! the stack did not start"
                exit 1
        fi
        rm -f "$STACK_DIR.err"
        # shellcheck disable=SC1091
        . "$STACK_DIR/devstack.env"
}

# Run hubctl as a user (root if none given).
hubctl_as() {
        local user=$1
        shift
        if [[ $user == root ]]; then
                "$HUBCTL" "$@"
        else
                runuser -u "$user" -- env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$HUBCTL" "$@"
        fi
}

bus() { busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@"; }

bus_as() {
        local user=$1
        shift
        runuser -u "$user" -- busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
}

# Wait up to 5 s for a condition.
it_wait() {
        local i
        for ((i = 0; i < 100; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}
