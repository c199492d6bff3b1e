#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Start, notify, watchdog, stop, crash and restart of the daemons.
. "$(dirname "$0")/lib.sh"
it_setup

: "${NOTIFY_RECV:=$STACK_BUILD/tests/integration/notify-recv}"

# ---- a peer that goes away (the cloud broker, a helper that exits early) is an EPIPE, not a SIGPIPE
# that kills the daemon, with or without systemd's IgnoreSIGPIPE=
for dom in "${STACK_DOMAINS[@]}"; do
        ign=$(awk '/^SigIgn:/ { print $2 }' "/proc/${STACK_PID[$dom]}/status")
        it_is "hub-${dom}d ignores SIGPIPE (SigIgn ${ign:-?})" 1 "$(((16#${ign:-0} >> 12) & 1))"
done

# ---- SIGTERM: a clean stop, logged, name released
stack_stop identity
it_is "hub-identityd exits 0 on SIGTERM" 0 $?
it_ok "its stop is logged with MESSAGE_ID DAEMON_STOPPED" \
        grep -q "stopped. MESSAGE_ID=4b96629c9d114a06b2b48e5ffe50e4a4" "$HUBGUARD_LOG_DIR/hub-identityd.log"
it_ok "org.hubguard.identity1 is released" bash -c "! busctl --address=$DBUS_SYSTEM_BUS_ADDRESS status org.hubguard.identity1"
created=$(sqlite3 "$HUBGUARD_STATE_DIR/identity/identity.db" "SELECT value FROM meta WHERE key='created'")
it_match "its database holds its creation time" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$created"

# ---- READY, STATUS, WATCHDOG and STOPPING through $NOTIFY_SOCKET, as under systemd
sock=$STACK_DIR/notify.sock
"$NOTIFY_RECV" "$sock" 2500 >"$STACK_DIR/notify.out" &
recv=$!
it_wait test -S "$sock"
stack_daemon identity NOTIFY_SOCKET="$sock" WATCHDOG_USEC=200000
it_is "hub-identityd is back" 0 $?
sleep 1
stack_stop identity
it_is "... and stops with 0 again" 0 $?
wait "$recv"
notes=$(cat "$STACK_DIR/notify.out")
it_match "READY=1 is sent" "READY=1" "$notes"
it_match "STATUS says running" "STATUS=Running\\." "$notes"
it_ok "WATCHDOG=1 is sent at least twice a second with WatchdogSec=0.2s" \
        test "$(grep -c '^WATCHDOG=1$' "$STACK_DIR/notify.out")" -ge 2
it_match "STOPPING=1 is sent on SIGTERM" "STOPPING=1" "$notes"
it_ok "READY=1 comes after the name is owned (first line of the first message is not STOPPING)" \
        grep -qm1 -e '^STATUS=Running' -e '^READY=1' "$STACK_DIR/notify.out"

# ---- the state survives a restart
stack_daemon identity
it_is "hub-identityd restarts on the same state" 0 $?
it_is "the database is the same one (creation time kept)" "$created" \
        "$(sqlite3 "$HUBGUARD_STATE_DIR/identity/identity.db" "SELECT value FROM meta WHERE key='created'")"

# ---- SIGKILL: hubctl reports the domain unreachable, the others unaffected
kill -KILL "${STACK_PID[telemetry]}"
wait "${STACK_PID[telemetry]}" 2>/dev/null
unset "STACK_PID[telemetry]"
it_wait bash -c "! busctl --address=$DBUS_SYSTEM_BUS_ADDRESS status org.hubguard.telemetry1"
out=$("$HUBCTL" status)
it_is "hubctl status exits 1 with a domain down" 1 $?
it_match "telemetry is reported unreachable, with the reason" "telemetry +unreachable +- +not running" "$out"
it_match "identity is still running" "identity +running" "$out"
json=$("$HUBCTL" status --json)
it_is "JSON: telemetry not reachable, others are" "false false true true" \
        "$(jq -r '[.healthy, .domains.telemetry.reachable, .domains.identity.reachable, .domains.privacy.reachable] | join(" ")' <<<"$json")"
it_is "JSON: an unreachable domain has null version and state" "null null" \
        "$(jq -r '.domains.telemetry | "\(.version) \(.state)"' <<<"$json")"

stack_daemon telemetry
it_is "hub-telemetryd restarts after SIGKILL" 0 $?
it_ok "hubctl status is healthy again once its cloud link is up" it_wait "$HUBCTL" status

# ---- losing the bus: every daemon stops by itself, with an error, instead of lingering
pids=("${STACK_PID[identity]}" "${STACK_PID[telemetry]}" "${STACK_PID[privacy]}")
stack_stop dbus
for pid in "${pids[@]}"; do
        it_wait bash -c "! kill -0 $pid"
done
for dom in identity telemetry privacy; do
        wait "${STACK_PID[$dom]}" 2>/dev/null
        rc=$?
        unset "STACK_PID[$dom]"
        it_is "hub-${dom}d exits 1 when the bus goes away" 1 "$rc"
        it_ok "... and says so" grep -q "Lost the connection to the system bus" "$HUBGUARD_LOG_DIR/hub-${dom}d.log"
done
