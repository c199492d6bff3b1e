#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proof under stress, faults (issue 5): a steady stream of device telemetry and failed logins while
# a chaos driver, at random instants, stops the cloud broker and starts it again on the same port,
# cuts the link to it (nftables drop), kills one daemon with SIGKILL and restarts it as systemd would,
# or cuts the power (SIGKILL of every daemon at once, then a restart). Checked at the end: every
# device message the device broker acknowledged (QoS 1 PUBACK) to the producer while hub-telemetryd
# was running reached the cloud broker at least once (seen by an observer with a persistent
# session); no database is corrupt; every daemon came back; memory stayed within a stated budget.
# Every domain in stack.sh's STACK_DOMAINS takes part: a new daemon is killed, checked and measured
# like the others.
# EN 303 645 5.5-1, 5.9-1/2/3.
#
# Short form (the integration suite): about 75 s of chaos. Long form, e.g. 30 minutes:
#   HUBGUARD_SOAK_MINUTES=30 meson test -C BUILD test-stress-soak --timeout-multiplier 4
# HUBGUARD_SOAK_RATE (messages/s, default 10), HUBGUARD_SOAK_PSS_MIB (the PSS budget of every daemon,
# overriding the defaults: 32 MiB for hub-telemetryd and hub-privacyd, 80 MiB for hub-identityd, whose
# every password check takes the Argon2id memory of the stored hash, 64 MiB as shipped; 400 MiB each
# when the daemons run under AddressSanitizer, whose shadow memory and quarantine dwarf their own).
#
# Messages the device broker acknowledged while hub-telemetryd was down (from 1 s before its SIGKILL,
# which covers a message in its group commit, to 2 s after it runs again) are counted apart and
# checked by their own line: the broker keeps them for hub-telemetryd's persistent session. A
# message missing outside those windows is printed with the chaos events around it.
. "$(dirname "$0")/lib.sh"
STACK_METRICS_INTERVAL=0
it_setup

soak_seconds=$(awk -v m="${HUBGUARD_SOAK_MINUTES:-0}" 'BEGIN { print (m > 0 ? int(m * 60) : 75) }')
rate=${HUBGUARD_SOAK_RATE:-10}
state=$HUBGUARD_STATE_DIR
w=$STACK_DIR/soak
mkdir -p "$w"
dropin=$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-stress-soak.conf
cloud=(-h "$HUBGUARD_CLOUD_BROKER_HOST" -p "$HUBGUARD_CLOUD_BROKER_PORT" --cafile "$HUBGUARD_CLOUD_CAFILE"
        --cert "$HUBGUARD_CLOUD_OBSERVER_CERT" --key "$HUBGUARD_CLOUD_OBSERVER_KEY" -V mqttv5)
device=(-h "$HUBGUARD_DEVICE_BROKER_HOST" -p "$HUBGUARD_DEVICE_BROKER_PORT" -u "$HUBGUARD_DEVICE_BROKER_USER"
        -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" -V mqttv5)
tprop() { bus get-property org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager "$1" | cut -d' ' -f2-; }
now() { date +%s.%N; }
rand() { echo $(($1 + RANDOM % ($2 - $1 + 1))); } # rand LO HI
nft_table=hubguard_soak_$$

start_cloud() {
        mosquitto -c "$STACK_DIR/mqtt/cloud.conf" >>"$STACK_DIR/log/cloud-broker.log" 2>&1 &
        STACK_PID[cloud-broker]=$!
        it_wait stack_port_listening "$HUBGUARD_CLOUD_BROKER_PORT"
}
link_cut() {
        nft -f - <<EOF2
table inet $nft_table {
        chain out {
                type filter hook output priority 0; policy accept;
                tcp dport $HUBGUARD_CLOUD_BROKER_PORT drop
                tcp sport $HUBGUARD_CLOUD_BROKER_PORT drop
        }
}
EOF2
}
link_restore() { nft delete table inet "$nft_table" 2>/dev/null; }
cleanup_soak() {
        link_restore
        touch "$w/stop"
}
trap 'cleanup_soak; it_teardown' EXIT

printf '[telemetry]\nDeviceRatePerSec=10000\nDeviceBurst=100000\nReconnectMinSec=1\nReconnectMaxSec=4\n[identity]\nThrottleBaseSec=1\nThrottleMaxSec=1\nFailureResetSec=1\nLockoutAfterFailures=1000\nPasswordHashMemoryMiB=8\n' >"$dropin"
stack_stop identity && stack_daemon identity
stack_stop telemetry && stack_daemon telemetry
online() { [[ $(tprop State) == '"online"' ]]; }
it_ok "telemetry is online before the soak" it_wait online

# ---- the observer: a persistent session on the cloud broker, reconnecting whenever it loses it
observer() {
        local child=
        trap '[[ -n $child ]] && kill "$child" 2>/dev/null; exit 0' TERM
        while [[ ! -e $w/stop-observer ]]; do
                mosquitto_sub "${cloud[@]}" -c -i soak-observer -x 3600 -q 1 -F '%P %p' \
                        -t "hubguard/+/devices/soak/telemetry" -t "hubguard/+/security/#" >>"$w/cloud.txt" 2>/dev/null &
                child=$!
                wait "$child"
                sleep 0.2
        done
}
# The session exists before the first message, so the broker keeps everything for it from then on.
mosquitto_sub "${cloud[@]}" -c -i soak-observer -x 3600 -q 1 -t "hubguard/+/devices/soak/telemetry" \
        -t "hubguard/+/security/#" -W 1 >/dev/null 2>&1
observer &
observer_pid=$!

# ---- the producer: QoS 1, one connection per message; mosquitto_pub exits 0 only after the PUBACK
producer() {
        local n=0 delay
        delay=$(awk -v r="$rate" 'BEGIN { printf "%.3f", 1 / r }')
        while [[ ! -e $w/stop ]]; do
                n=$((n + 1))
                if mosquitto_pub "${device[@]}" -t devices/soak/telemetry -m "{\"n\": $n}" -q 1 2>/dev/null; then
                        echo "$n $(now)" >>"$w/acked"
                else
                        echo "$n" >>"$w/refused"
                fi
                sleep "$delay"
        done
}
producer &
producer_pid=$!

# ---- failed logins: each one an AuthFailure signal, a security event for the cloud
logins() {
        local i=0 out
        while [[ ! -e $w/stop ]]; do
                i=$((i + 1))
                out=$(bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
                        VerifyPassword ssa{sv} admin "soak-wrong-$i" 1 Source s "soak-$i" 2>&1)
                [[ $out == *"Wrong password"* ]] && echo "$i" >>"$w/wrong"
                sleep 1.2
        done
}
logins &
logins_pid=$!

# ---- memory: PSS and RSS of each daemon every second (the current process of each, across restarts)
sampler() {
        local dom pid pss rss
        while [[ ! -e $w/stop ]]; do
                for dom in "${STACK_DOMAINS[@]}"; do
                        pid=$(pgrep -f "hub-${dom}d --config-dir=$HUBGUARD_CONFIG_DIR" | head -1)
                        [[ -n $pid ]] || continue
                        pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
                        rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null)
                        [[ -n $pss ]] && echo "$dom $pss $rss" >>"$w/memory"
                        if [[ ! -e $w/asan-$dom ]] && grep -q libasan "/proc/$pid/maps" 2>/dev/null; then
                                : >"$w/asan-$dom"
                        fi
                done
                sleep 1
        done
}
sampler &
sampler_pid=$!

# ---- the chaos driver
restart_daemon() { # DOMAIN: as systemd's Restart=on-failure would
        stack_daemon "$1" || { echo "# hub-$1d did not come back" >&2; return 1; }
}
kill_daemon() { # DOMAIN: SIGKILL, reaped
        local pid=${STACK_PID[$1]:-}
        [[ -n $pid ]] || return 0
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        unset "STACK_PID[$1]"
}
telemetry_down() { echo "$(now)" >>"$w/telemetry-down"; }
telemetry_up() { echo "$(now)" >>"$w/telemetry-up"; }
chaos_log() { echo "$(now) $*" >>"$w/chaos"; }
declare -A did=([broker]=0 [link]=0 [kill]=0 [power]=0)
restarts_failed=0
cycles=0
end=$((SECONDS + soak_seconds))
while ((SECONDS < end)); do
        sleep "$(rand 2 5)"
        action=$((RANDOM % 4))
        chaos_log "begin $action"
        case $action in
        0)      stack_stop cloud-broker
                sleep "$(rand 1 3)"
                start_cloud || restarts_failed=$((restarts_failed + 1))
                did[broker]=$((did[broker] + 1)) ;;
        1)      link_cut
                sleep "$(rand 2 5)"
                link_restore
                did[link]=$((did[link] + 1)) ;;
        2)      dom=${STACK_DOMAINS[RANDOM % ${#STACK_DOMAINS[@]}]}
                [[ $dom == telemetry ]] && telemetry_down
                kill_daemon "$dom"
                sleep 0.5
                restart_daemon "$dom" || restarts_failed=$((restarts_failed + 1))
                [[ $dom == telemetry ]] && telemetry_up
                did[kill]=$((did[kill] + 1)) ;;
        3)      telemetry_down
                for dom in "${STACK_DOMAINS[@]}"; do
                        kill -KILL "${STACK_PID[$dom]}" 2>/dev/null
                done
                for dom in "${STACK_DOMAINS[@]}"; do
                        wait "${STACK_PID[$dom]}" 2>/dev/null
                        unset "STACK_PID[$dom]"
                done
                sleep 1
                for dom in "${STACK_DOMAINS[@]}"; do
                        restart_daemon "$dom" || restarts_failed=$((restarts_failed + 1))
                done
                telemetry_up
                did[power]=$((did[power] + 1)) ;;
        esac
        if ((action == 2)); then chaos_log "end $action $dom"; else chaos_log "end $action"; fi
        cycles=$((cycles + 1))
done
touch "$w/stop"
wait "$producer_pid" "$logins_pid" "$sampler_pid" 2>/dev/null
link_restore
[[ -n ${STACK_PID[cloud-broker]:-} ]] && kill -0 "${STACK_PID[cloud-broker]}" 2>/dev/null || start_cloud

echo "# $cycles chaos cycles in ${soak_seconds}s: ${did[broker]} broker restarts, ${did[link]} link cuts, ${did[kill]} daemon kills, ${did[power]} power cuts"
it_ok "the chaos driver ran at least 5 cycles ($cycles)" test "$cycles" -ge 5
it_is "every daemon restart succeeded" 0 "$restarts_failed"

# ---- recovery: telemetry online by itself, the outbox drained
wait_online() {
        local i
        for ((i = 0; i < 1200; i++)); do
                [[ $(tprop State 2>/dev/null) == '"online"' && $(tprop QueuedMessages 2>/dev/null) == 0 ]] && return 0
                sleep 0.1
        done
        return 1
}
it_ok "telemetry is online again and its outbox drained" wait_online
for dom in "${STACK_DOMAINS[@]}"; do
        it_ok "hub-${dom}d is running and on the bus" bus status "org.hubguard.${dom}1"
done
sleep 2
touch "$w/stop-observer"
kill "$observer_pid" 2>/dev/null
wait "$observer_pid" 2>/dev/null

# ---- the invariants
acked=$(wc -l <"$w/acked")
refused=$(cat "$w/refused" 2>/dev/null | wc -l)
# Each acked n: was hub-telemetryd down (between a down mark and its up mark + 2 s) when it was acked?
touch "$w/telemetry-down" "$w/telemetry-up"
verdict=$(awk -v down="$w/telemetry-down" -v up="$w/telemetry-up" '
        BEGIN { while ((getline t < down) > 0) d[nd++] = t; while ((getline t < up) > 0) u[nu++] = t }
        FILENAME ~ /cloud.txt$/ { if (match($0, /"n": *[0-9]+/)) { n = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", n); seen[n + 0] = 1 }; next }
        { n = $1; t = $2; gap = 0
          for (i = 0; i < nd; i++) if (t >= d[i] - 1 && (i >= nu || t <= u[i] + 2)) gap = 1
          if (gap) { ingap++; if (!(n in seen)) lostgap++ } else { up_n++; if (!(n in seen)) { lost++; if (lost <= 5) ex = ex " " n } } }
        END { printf "%d %d %d %d%s\n", up_n, lost, ingap, lostgap, ex }' "$w/cloud.txt" "$w/acked")
read -r n_up lost n_gap lost_gap examples <<<"$verdict"
echo "# $acked device messages acknowledged to the producer ($refused refused); $n_up while hub-telemetryd ran, $n_gap while it was down"
it_ok "the producer had messages acknowledged ($acked)" test "$acked" -gt 0
it_is "every message acknowledged while hub-telemetryd ran reached the cloud (of $n_up)" 0 "$lost"
if [[ -n $examples ]]; then
        echo "# e.g. missing: $examples (the chaos events within 5 s of each; actions: 0 broker restart, 1 link cut, 2 kill, 3 power cut)"
        for n in $examples; do
                t=$(awk -v n="$n" '$1 == n { print $2 }' "$w/acked")
                awk -v n="$n" -v t="$t" '$1 >= t - 5 && $1 <= t + 5 { printf "#   n=%s acked at %.3f: %+.3f s %s %s %s\n", n, t, $1 - t, $2, $3, $4 }' "$w/chaos"
        done
fi
if ((lost_gap > 0)); then
        echo "not ok $((IT_N + 1)) - $lost_gap of $n_gap acknowledged while hub-telemetryd was down were lost"
        IT_FAILED=$((IT_FAILED + 1))
else
        echo "ok $((IT_N + 1)) - all $n_gap acknowledged while hub-telemetryd was down arrived too"
fi
IT_N=$((IT_N + 1))
wrong=$(cat "$w/wrong" 2>/dev/null | wc -l)
events=$(grep -c '"event":"auth-' "$w/cloud.txt")
echo "# $wrong failed logins, $events security events reached the cloud (a signal sent while hub-telemetryd is down is not queued)"
it_ok "security events reached the cloud during the soak ($events of $wrong)" test "$events" -gt 0

for dom in "${STACK_DOMAINS[@]}"; do
        it_is "$dom.db passes the integrity check" ok "$(sqlite3 "$state/$dom/$dom.db" 'PRAGMA integrity_check' 2>&1)"
done

for dom in "${STACK_DOMAINS[@]}"; do
        budget=32
        [[ $dom == identity ]] && budget=80
        budget=${HUBGUARD_SOAK_PSS_MIB:-$budget}
        [[ -e $w/asan-$dom ]] && budget=${HUBGUARD_SOAK_PSS_MIB:-400}
        max=$(awk -v d="$dom" '$1 == d && $2 > m { m = $2 } END { print m + 0 }' "$w/memory")
        max_rss=$(awk -v d="$dom" '$1 == d && $3 > m { m = $3 } END { print m + 0 }' "$w/memory")
        echo "# hub-${dom}d: peak PSS $((max / 1024)) MiB, peak RSS $((max_rss / 1024)) MiB (budget PSS $budget MiB)"
        it_ok "hub-${dom}d's PSS stayed within $budget MiB (peak $((max / 1024)) MiB)" test "$max" -gt 0 -a "$max" -le $((budget * 1024))
done
rm -f "$dropin"
