#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench-telemetry.sh: the performance benchmark of hub-telemetryd's path, device broker -> durable
# outbox -> TLS cloud broker (QoS 1, MQTT v5). Not part of the test suite. Run it as root:
#
#   sudo tests/bench/bench-telemetry.sh [--build-dir DIR] [--messages N] [--backlog N] [--runs R]
#                                       [--backlog-runs R] [--size BYTES] [--devices D]
#                                       [--wan-delay-ms D] [--wan-messages N] [--keep]
#
#   --build-dir DIR    a configured and built build dir (default: $STACK_BUILD, else build/ in
#                      the source tree)
#   --messages N       messages per throughput run (20000)
#   --backlog N        messages queued while the cloud broker is down (100000)
#   --runs R           repetitions of each throughput measurement (5)
#   --backlog-runs R   repetitions of the outage/backlog measurement (default: --runs)
#   --size BYTES       payload size (200)
#   --devices D        device ids the device messages are spread over (100, at most 1024)
#   --wan-delay-ms D   one-way delay of the wide-area rows (10, so a 20 ms round trip; 0: no such rows)
#   --wan-messages N   messages per wide-area run (3000)
#   --keep             keep the stack's directory (logs, outbox) under /tmp
#
# bench-publisher comes from DIR/tests/bench/bench-publisher; if the build dir has none it is
# compiled by hand (cc + pkg-config libmosquitto) into the work directory.
#
# Everything runs on this machine only, on loopback: tests/integration/stack.sh starts a private
# D-Bus, the local device broker, the TLS cloud broker (throw-away CA) and the daemons from the
# build dir. A drop-in, written into the stack's configuration directory before the daemons start,
# sets DrainRatePerSec=0 (unlimited), MetricsIntervalSec=0 (no metrics in the way), per-device
# limits high enough for the load, and ReconnectMinSec=ReconnectMaxSec=1 so that the drain starts
# within a second of the cloud broker's return.
#
# What it measures, each R times, and prints as median, min and max:
#   baseline       bench-publisher -> cloud broker directly (TLS, the observer's certificate, QoS 1,
#                  window 64): N messages of BYTES, messages/s from first publish to last PUBACK.
#                  For context only, the same with a bench subscriber counting them on the cloud
#                  broker (the broker's forwarding work in the whole path), N / (last arrival -
#                  first publish)
#   whole path     bench-publisher -> device broker (QoS 1, valid device JSON of BYTES, spread over D
#                  device ids) -> hub-telemetryd -> cloud broker -> bench subscriber:
#                  N / (last arrival - first publish); and hub-telemetryd's CPU time per message
#   ratio          median(whole path) / median(baseline); the goal is >= 0.8
#   outage         the cloud broker is stopped, the backlog is published to the device broker, and
#                  once it is all in the outbox: hub-telemetryd's CPU use over 2 s of waiting and its
#                  PSS (/proc/PID/smaps_rollup); then the cloud broker is started again (as
#                  stack_brokers does): the time until the first message leaves the outbox, and the
#                  drain time from there until the outbox is empty (QueuedMessages, polled every
#                  0.1 s), with the backlog / that time
#   PSS idle       hub-telemetryd's PSS with an empty outbox: after start, after the whole-path runs
#                  and after each drain
#   CPU            every process's CPU time per message on each path (both brokers, the bench
#                  clients, hub-telemetryd), and the rate those costs allow on this machine's cores
#   wide area      the baseline and the whole path again with the cloud broker behind
#                  tests/bench/delay-proxy.py (D ms each way, as a real cloud broker is): then both
#                  are bound by the round trip and the broker's Receive Maximum, not by this
#                  machine's CPU, and the ratio shows whether hub-telemetryd keeps its window full
#                  (a daemon that waited for a commit or an acknowledgement per message would not)
# Performance goals here are ratios against the baseline measured in the same run, never timings.

set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${STACK_BUILD:-$SRC/build}
MESSAGES=20000
BACKLOG=100000
RUNS=5
BACKLOG_RUNS=
SIZE=200
DEVICES=100
WAN_DELAY_MS=10
WAN_MESSAGES=3000
KEEP=0

die() {
        printf 'bench-telemetry: %s\n' "$*" >&2
        exit 1
}

while (($#)); do
        case $1 in
        --build-dir) BUILD=$2; shift ;;
        --messages) MESSAGES=$2; shift ;;
        --backlog) BACKLOG=$2; shift ;;
        --runs) RUNS=$2; shift ;;
        --backlog-runs) BACKLOG_RUNS=$2; shift ;;
        --size) SIZE=$2; shift ;;
        --devices) DEVICES=$2; shift ;;
        --wan-delay-ms) WAN_DELAY_MS=$2; shift ;;
        --wan-messages) WAN_MESSAGES=$2; shift ;;
        --keep) KEEP=1 ;;
        -h | --help) sed -n '3,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
done
BACKLOG_RUNS=${BACKLOG_RUNS:-$RUNS}
[[ $WAN_DELAY_MS =~ ^[0-9]+$ ]] || die "--wan-delay-ms must be a number of milliseconds"
for v in MESSAGES BACKLOG RUNS BACKLOG_RUNS SIZE DEVICES WAN_MESSAGES; do
        if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} == 0)); then
                v=${v,,}; die "--${v//_/-} must be a positive number"
        fi
done
((DEVICES <= 1024)) || die "--devices above 1024 would escape hub-telemetryd's per-device rate limit"
((SIZE >= 40 && SIZE <= 4096)) || die "--size must be 40-4096 (a device message is at most MaxPayloadBytes)"
((EUID == 0)) || die "needs root (stack.sh creates system users and runs each daemon as its own user)"
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || die "no build dir '$BUILD' (--build-dir)"
[[ -x $BUILD/src/telemetryd/hub-telemetryd ]] || die "$BUILD has no hub-telemetryd: build it first (ninja -C $BUILD)"

WORK=$(mktemp -d /tmp/hubguard-bench.XXXXXX) || die "mktemp failed"
chmod 0711 "$WORK"
BG_PIDS=()

cleanup() {
        local rc=$? pid
        trap - EXIT INT TERM
        for pid in "${BG_PIDS[@]}"; do
                kill "$pid" 2>/dev/null
        done
        if declare -F stack_down >/dev/null; then
                if ((KEEP)); then STACK_KEEP=1; fi
                stack_down
        fi
        if ((KEEP)); then
                printf 'bench-telemetry: kept %s\n' "$WORK" >&2
        else
                rm -rf "$WORK"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PUB=$BUILD/tests/bench/bench-publisher
if [[ ! -x $PUB ]]; then
        PUB=$WORK/bench-publisher
        # shellcheck disable=SC2046
        cc -std=gnu11 -O2 -D_GNU_SOURCE -o "$PUB" "$SRC/tests/bench/bench-publisher.c" \
                $(pkg-config --cflags --libs libmosquitto) || die "cannot build bench-publisher"
fi

# shellcheck source-path=SCRIPTDIR source=../integration/stack.sh
source "$SRC/tests/integration/stack.sh"
export STACK_SRC=$SRC STACK_BUILD=$BUILD STACK_METRICS_INTERVAL=0
STACK_DIR=$WORK/stack

# The bench's own settings, read after stack.sh's 50-stack.conf (drop-ins go in lexical order).
mkdir -p "$STACK_DIR/etc/hubguard.conf.d"
outbox_max=$((BACKLOG > 100000 ? BACKLOG + 1000 : 100000))
outbox_mib=$(((BACKLOG * (SIZE + 200)) / 1048576 + 64))
cat >"$STACK_DIR/etc/hubguard.conf.d/90-bench.conf" <<EOF
# Written by tests/bench/bench-telemetry.sh.
[telemetry]
DrainRatePerSec=0
MetricsIntervalSec=0
DeviceRatePerSec=10000
DeviceBurst=100000
ReconnectMinSec=1
ReconnectMaxSec=1
OutboxMaxMessages=$outbox_max
OutboxMaxMiB=$outbox_mib
EOF
chmod 0644 "$STACK_DIR/etc/hubguard.conf.d/90-bench.conf"

log() { printf '[%5.1fs] %s\n' "$(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$*" >&2; }
T_START=$(date +%s.%N)

log "starting the stack (build dir $BUILD)"
stack_up "$STACK_DIR" || die "the stack did not start"
TPID=${STACK_PID[telemetry]}
PKI=$STACK_DIR/pki
printf '%s\n' "$STACK_DEVICE_PASSWORD" >"$WORK/device-password"
chmod 0600 "$WORK/device-password"

CLOUD=(--host 127.0.0.1 --port "$STACK_CLOUD_PORT" --cafile "$PKI/ca.pem" --cert "$PKI/observer.pem" --key "$PKI/observer.key")
DEVICE=(--host 127.0.0.1 --port "$STACK_DEVICE_PORT" --user "$STACK_DEVICE_USER" --password-file "$WORK/device-password")

prop() {
        busctl --address="$STACK_BUS_ADDRESS" get-property org.hubguard.telemetry1 /org/hubguard/telemetry1 \
                org.hubguard.telemetry1.Manager "$1" 2>/dev/null | sed -e 's/^[a-z]* //' -e 's/"//g'
}
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$TPID/smaps_rollup"; }
# field KEY LINE: the value of KEY=VALUE in a bench-publisher output line.
field() { sed -n "s/.*\<$1=\([^ ]*\).*/\1/p" <<<"$2"; }
now() { date +%s.%N; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.1 s.
wait_for() {
        local limit=$1 what=$2 deadline
        shift 2
        deadline=$((SECONDS + limit))
        until "$@"; do
                kill -0 "$TPID" 2>/dev/null || die "hub-telemetryd died while waiting for $what (see $STACK_DIR/log)"
                ((SECONDS < deadline)) || die "timed out after ${limit}s waiting for $what (queued: $(prop QueuedMessages), state: $(prop State))"
                sleep 0.1
        done
}
# DroppedMessages as "full=0 security-full=0 ...".
dropped() { prop DroppedMessages | awk '{ for (i = 3; i < NF; i += 2) printf "%s%s=%s", (i > 3 ? " " : ""), $i, $(i + 1) }'; }
queue_is() { [[ $(prop QueuedMessages) == "$1" ]]; }
state_is() { [[ $(prop State) == "$1" ]]; }
accepted_reaches() { local a; a=$(prop AcceptedMessages); [[ -n $a ]] && ((a >= $1)); }

wait_for 30 "the cloud link" state_is online

# mosquitto keeps at most max_queued_messages QoS 1 messages queued for a client (1000 unless the
# configuration says otherwise) and drops the rest without a word: a publisher that outruns
# hub-telemetryd would lose messages at the device broker, before the hub sees them. The bench wants
# hub-telemetryd's own pace, so its device broker queues without limit (the cloud broker is left as
# stack.sh made it).
if grep -q '^max_queued_messages ' "$STACK_DIR/mqtt/device.conf"; then
        sed -i 's/^max_queued_messages .*/max_queued_messages 0/' "$STACK_DIR/mqtt/device.conf"
else
        printf 'max_queued_messages 0\n' >>"$STACK_DIR/mqtt/device.conf"
fi
stack_stop device-broker
mosquitto -c "$STACK_DIR/mqtt/device.conf" >>"$STACK_DIR/log/device-broker.log" 2>&1 &
STACK_PID[device-broker]=$!
stack_wait "${STACK_PID[device-broker]}" device-broker stack_port_listening "$STACK_DEVICE_PORT" ||
        die "the device broker did not come back"
sleep 0.2
wait_for 30 "the device link" state_is online

declare -A RESULTS=()
record() { RESULTS[$1]+="$2 "; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, in 1/100 s
# CPU per message of each long-running process of the path: cpu_mark before a run, then
# cpu_record PREFIX N NAME... after it records PREFIX_cpu_NAME in microseconds per message.
declare -A CPU_MARK=()
cpu_pid() { if [[ $1 == telemetry ]]; then echo "$TPID"; else echo "${STACK_PID[$1]}"; fi; }
cpu_mark() { local p; for p in telemetry device-broker cloud-broker; do CPU_MARK[$p]=$(cpu_ticks "$(cpu_pid "$p")"); done; }
cpu_record() {
        local prefix=$1 n=$2 p
        shift 2
        for p in "$@"; do
                record "${prefix}_cpu_${p//-/_}" "$(awk -v t=$(($(cpu_ticks "$(cpu_pid "$p")") - CPU_MARK[$p])) -v n="$n" \
                        'BEGIN { printf "%.2f", t * 10000 / n }')"
        done
}

# through FILTER N PUBLISHER-ARGS...: a bench subscriber on the cloud broker counts N messages under
# FILTER while bench-publisher publishes N with PUBLISHER-ARGS; sets OUT (the publisher's line), SOUT
# (the subscriber's) and RATE, N / (last arrival - first publish).
through() {
        local filter=$1 n=$2 sub first last
        shift 2
        rm -f "$WORK/sub-ready"
        "$PUB" sub "${CLOUD[@]}" --topic "$filter" --count "$n" --timeout 30 --ready-file "$WORK/sub-ready" \
                >"$WORK/sub.out" 2>"$WORK/sub.err" &
        sub=$!
        BG_PIDS+=("$sub")
        wait_for 15 "the bench subscriber" test -e "$WORK/sub-ready"
        OUT=$("$PUB" pub "$@" --count "$n" --size "$SIZE" --window 64) || die "bench-publisher failed: $OUT"
        wait "$sub" || die "the subscriber saw only $(cat "$WORK/sub.out") $(cat "$WORK/sub.err")"
        SOUT=$(cat "$WORK/sub.out")
        first=$(field first_publish_s "$OUT")
        last=$(field last_arrival_s "$SOUT")
        RATE=$(awk -v n="$n" -v a="$first" -v b="$last" 'BEGIN { printf "%.1f", n / (b - a) }')
}

# ---- 1. baseline: straight to the cloud broker ----
for ((run = 1; run <= RUNS; run++)); do
        cpu_mark
        OUT=$("$PUB" pub "${CLOUD[@]}" --topic bench/baseline --count "$MESSAGES" --size "$SIZE" --window 64) ||
                die "baseline run $run failed: $OUT"
        cpu_record base "$MESSAGES" cloud-broker
        record base_cpu_publisher "$(awk -v c="$(field cpu_s "$OUT")" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        record baseline "$(field rate_msgs_per_s "$OUT")"
        log "baseline $run/$RUNS: $(field rate_msgs_per_s "$OUT") msg/s (the broker's receive maximum: $(field server_receive_max "$OUT"))"
        # Context, not the goal's baseline: the same, with the cloud broker also forwarding to a subscriber.
        through bench/baseline "$MESSAGES" "${CLOUD[@]}" --topic bench/baseline
        record baseline_sub "$RATE"
done

# ---- 2. whole path: device broker -> hub-telemetryd -> cloud broker ----
record pss_idle "$(pss_kib)"
through 'hubguard/+/devices/#' $((MESSAGES < 1000 ? MESSAGES : 1000)) "${DEVICE[@]}" --topic 'devices/{n}/telemetry' \
        --devices "$DEVICES" --json
wait_for 30 "an empty outbox" queue_is 0
log "whole path warm-up: $RATE msg/s"
published=$((MESSAGES < 1000 ? MESSAGES : 1000))
for ((run = 1; run <= RUNS; run++)); do
        c0=$(cpu_ticks "$TPID")
        cpu_mark
        through 'hubguard/+/devices/#' "$MESSAGES" "${DEVICE[@]}" --topic 'devices/{n}/telemetry' \
                --devices "$DEVICES" --json
        c1=$(cpu_ticks "$TPID")
        cpu_record whole "$MESSAGES" device-broker telemetry cloud-broker
        record whole_cpu_publisher "$(awk -v c="$(field cpu_s "$OUT")" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        record whole_cpu_subscriber "$(awk -v c="$(field cpu_s "$SOUT")" -v n="$MESSAGES" 'BEGIN { printf "%.2f", c * 1e6 / n }')"
        wait_for 30 "an empty outbox" queue_is 0
        published=$((published + MESSAGES))
        record whole "$RATE"
        record ingest "$(field rate_msgs_per_s "$OUT")"
        record cpu_per_msg "$(awk -v t=$((c1 - c0)) -v n="$MESSAGES" 'BEGIN { printf "%.1f", t * 10000 / n }')"
        record dups "$(field duplicates "$SOUT")"
        log "whole path $run/$RUNS: $RATE msg/s (device publisher: $(field rate_msgs_per_s "$OUT") msg/s; hub-telemetryd CPU $((c1 - c0))0 ms)"
done
sleep 1
record pss_idle "$(pss_kib)"

# ---- 3. outage: a backlog queued while the cloud broker is down, then drained ----
dropped_before=$(dropped)
for ((run = 1; run <= BACKLOG_RUNS; run++)); do
        wait_for 30 "an empty outbox" queue_is 0
        stack_stop cloud-broker
        wait_for 15 "hub-telemetryd to notice the outage" state_is offline
        acc=$(prop AcceptedMessages)
        t0=$(now)
        OUT=$("$PUB" pub "${DEVICE[@]}" --topic 'devices/{n}/telemetry' --devices "$DEVICES" --json \
                --count "$BACKLOG" --size "$SIZE" --window 64) || die "backlog run $run: bench-publisher failed: $OUT"
        wait_for 120 "hub-telemetryd to take the backlog" accepted_reaches $((acc + BACKLOG))
        wait_for 30 "the backlog in the outbox" queue_is "$BACKLOG"
        t1=$(now)
        published=$((published + BACKLOG))
        record queue_rate "$(awk -v n="$BACKLOG" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')"
        # Nothing to do but wait for the cloud: hub-telemetryd should be idle.
        c0=$(cpu_ticks "$TPID")
        sleep 2
        c1=$(cpu_ticks "$TPID")
        record cpu_offline "$(((c1 - c0) * 100 / 200))"
        record pss_backlog "$(pss_kib)"

        # The cloud broker again, as stack_brokers starts it.
        mosquitto -c "$STACK_DIR/mqtt/cloud.conf" >>"$STACK_DIR/log/cloud-broker.log" 2>&1 &
        STACK_PID[cloud-broker]=$!
        stack_wait "${STACK_PID[cloud-broker]}" cloud-broker stack_port_listening "$STACK_CLOUD_PORT" ||
                die "the cloud broker did not come back"
        t2=$(now)
        t3=
        deadline=$((SECONDS + 300))
        while :; do
                q=$(prop QueuedMessages)
                if [[ -z $t3 && -n $q ]] && ((q < BACKLOG)); then t3=$(now); fi
                [[ $q == 0 ]] && break
                ((SECONDS < deadline)) || die "backlog run $run: still $q queued after 300 s"
                sleep 0.1
        done
        t4=$(now)
        record reconnect "$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }')"
        record drain "$(awk -v a="$t3" -v b="$t4" 'BEGIN { printf "%.2f", b - a }')"
        record drain_rate "$(awk -v n="$BACKLOG" -v a="$t3" -v b="$t4" 'BEGIN { printf "%.1f", n / (b - a) }')"
        sleep 0.5
        record pss_idle "$(pss_kib)"
        log "backlog $run/$BACKLOG_RUNS: queued at $(awk -v n="$BACKLOG" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }') msg/s, CPU while offline $(((c1 - c0) * 100 / 200))%, PSS $(pss_kib) KiB, first message out $(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.2f", b - a }') s after the broker's return, drained in $(awk -v a="$t3" -v b="$t4" 'BEGIN { printf "%.2f", b - a }') s"
done
dropped_after=$(dropped)
accepted=$(prop AcceptedMessages)

# ---- 4. a wide-area link: the cloud broker behind a delay proxy ----
if ((WAN_DELAY_MS > 0)); then
        wan_port=$(stack_free_port) || die "no free port for the delay proxy"
        python3 "$SRC/tests/bench/delay-proxy.py" --listen-port "$wan_port" --to "127.0.0.1:$STACK_CLOUD_PORT" \
                --delay-ms "$WAN_DELAY_MS" --ready-file "$WORK/proxy-ready" >>"$STACK_DIR/log/delay-proxy.log" 2>&1 &
        BG_PIDS+=("$!")
        wait_for 10 "the delay proxy" test -e "$WORK/proxy-ready"
        WAN=(--host 127.0.0.1 --port "$wan_port" --cafile "$PKI/ca.pem" --cert "$PKI/observer.pem" --key "$PKI/observer.key")
        # Measured as the whole path is: from the first publish to the last arrival at a subscriber
        # on the cloud broker (the subscriber's own link is not delayed).
        for ((run = 1; run <= RUNS; run++)); do
                through bench/wan "$WAN_MESSAGES" "${WAN[@]}" --topic bench/wan
                record wan_baseline "$RATE"
                log "wide-area baseline $run/$RUNS: $RATE msg/s (publisher to its last PUBACK: $(field rate_msgs_per_s "$OUT") msg/s)"
        done
        # hub-telemetryd again, its cloud link through the proxy.
        printf '# Written by tests/bench/bench-telemetry.sh.\n[telemetry]\nCloudBrokerPort=%s\n' "$wan_port" \
                >"$STACK_DIR/etc/hubguard.conf.d/95-bench-wan.conf"
        chmod 0644 "$STACK_DIR/etc/hubguard.conf.d/95-bench-wan.conf"
        stack_stop telemetry
        stack_daemon telemetry || die "hub-telemetryd did not start again"
        TPID=${STACK_PID[telemetry]}
        wait_for 30 "the cloud link through the delay proxy" state_is online
        for ((run = 1; run <= RUNS; run++)); do
                through 'hubguard/+/devices/#' "$WAN_MESSAGES" "${DEVICE[@]}" --topic 'devices/{n}/telemetry' \
                        --devices "$DEVICES" --json
                wait_for 60 "an empty outbox" queue_is 0
                record wan_whole "$RATE"
                record dups "$(field duplicates "$SOUT")"
                log "wide-area whole path $run/$RUNS: $RATE msg/s"
        done
fi

# ---- the table ----
# stats "v1 v2 ...": median min max
stats() {
        tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -g | awk '
                { v[NR] = $1 }
                END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[1], v[NR] }'
}
row() { # row METRIC KEY UNIT [SCALE]
        local s
        read -r -a s <<<"$(stats "${RESULTS[$2]}")"
        awk -v name="$1" -v unit="$3" -v k="${4:-1}" -v a="${s[0]}" -v b="${s[1]}" -v c="${s[2]}" \
                -v n="$(wc -w <<<"${RESULTS[$2]}")" \
                'BEGIN { printf "%-42s %10.1f %10.1f %10.1f  %-8s %d\n", name, a / k, b / k, c / k, unit, n }'
}

printf '\nhub-telemetryd benchmark: %s messages of %s bytes, backlog %s, %s devices, %s runs; build %s\n' \
        "$MESSAGES" "$SIZE" "$BACKLOG" "$DEVICES" "$RUNS" "$BUILD"
printf '%-42s %10s %10s %10s  %-8s %s\n' metric median min max unit runs
row "baseline: bench-publisher -> cloud broker" baseline msg/s
row "  (context: same, plus a subscriber)" baseline_sub msg/s
row "whole path: device -> hub -> cloud" whole msg/s
row "  device publisher during the whole path" ingest msg/s
row "  hub-telemetryd CPU per message" cpu_per_msg us
row "outage: queueing into the outbox" queue_rate msg/s
row "outage: hub-telemetryd CPU while offline" cpu_offline "% core"
row "outage: first message out after return" reconnect s
row "outage: drain time of the backlog" drain s
row "outage: drain rate" drain_rate msg/s
row "PSS idle (outbox empty)" pss_idle MiB 1024
row "PSS with the backlog queued" pss_backlog MiB 1024
if ((WAN_DELAY_MS > 0)); then
        row "wide area ($((2 * WAN_DELAY_MS)) ms round trip): baseline" wan_baseline msg/s
        row "wide area: whole path" wan_whole msg/s
fi
# Where the CPU goes: every process of each path, in microseconds per message (medians). Both
# brokers and the clients run on this machine's cores, so a path's rate can be no more than
# cores / (its CPU per message): the bound shows how much of a ratio is the work of the path itself.
cpu_med() { stats "${RESULTS[$1]}" | awk '{ print $1 }'; }
printf '\nCPU per message by process (us, median)\n'
base_total=0
whole_total=0
for p in publisher cloud_broker; do
        v=$(cpu_med "base_cpu_$p")
        printf '  baseline    %-16s %6.1f\n' "${p//_/-}" "$v"
        base_total=$(awk -v a="$base_total" -v b="$v" 'BEGIN { print a + b }')
done
for p in publisher device_broker telemetry cloud_broker subscriber; do
        v=$(cpu_med "whole_cpu_$p")
        n=${p//_/-}; [[ $n == telemetry ]] && n=hub-telemetryd
        printf '  whole path  %-16s %6.1f\n' "$n" "$v"
        whole_total=$(awk -v a="$whole_total" -v b="$v" 'BEGIN { print a + b }')
done
cores=$(nproc)
printf '  total       baseline %.1f, whole path %.1f\n' "$base_total" "$whole_total"
awk -v b="$base_total" -v w="$whole_total" -v c="$cores" 'BEGIN {
        printf "  (CPU bound at these costs: baseline %.0f msg/s, whole path %.0f msg/s, ratio of the bounds %.2f)\n",
                c * 1e6 / b, c * 1e6 / w, b / w }'

read -r bmed _ <<<"$(stats "${RESULTS[baseline]}")"
read -r wmed _ <<<"$(stats "${RESULTS[whole]}")"
ratio=$(awk -v w="$wmed" -v b="$bmed" 'BEGIN { printf "%.2f", w / b }')
read -r smed _ <<<"$(stats "${RESULTS[baseline_sub]}")"
printf '\nratio whole-path / baseline: %s (goal >= 0.8: %s)\n' "$ratio" \
        "$(awk -v r="$ratio" 'BEGIN { print (r >= 0.8 ? "met" : "NOT met") }')"
printf 'ratio whole-path / baseline with the same subscriber (like for like, context): %s\n' \
        "$(awk -v w="$wmed" -v b="$smed" 'BEGIN { printf "%.2f", w / b }')"
if ((WAN_DELAY_MS > 0)); then
        read -r wanb _ <<<"$(stats "${RESULTS[wan_baseline]}")"
        read -r wanw _ <<<"$(stats "${RESULTS[wan_whole]}")"
        printf 'ratio over a %d ms round trip, whole path / baseline: %s\n' $((2 * WAN_DELAY_MS)) \
                "$(awk -v w="$wanw" -v b="$wanb" 'BEGIN { printf "%.2f", w / b }')"
fi
printf 'device messages published %s, accepted by hub-telemetryd %s; duplicates at the subscriber %s\n' \
        "$published" "$accepted" "$(awk '{ for (i = 1; i <= NF; i++) n += $i } END { print n + 0 }' <<<"${RESULTS[dups]}")"
printf 'dropped counters before the outage runs: %s\n                      after: %s\n' "$dropped_before" "$dropped_after"

# ---- for tests/bench/run: BENCH<TAB>metric<TAB>value<TAB>unit<TAB>baseline<TAB>goal (medians)
med() { stats "${RESULTS[$1]}" | awk -v k="${2:-1}" '{ printf "%.1f", $1 / k }'; }
bench() { printf 'BENCH\t%s\t%s\t%s\t%s\t%s\n' "$@"; }
bench "telemetry whole path device->hub->cloud" "$(med whole)" msg/s "$(med baseline)" ">= 0.8"
if ((WAN_DELAY_MS > 0)); then
        bench "telemetry whole path, $((2 * WAN_DELAY_MS)) ms round trip to the cloud" "$(med wan_whole)" msg/s \
                "$(med wan_baseline)" ">= 0.8"
fi
bench "telemetry CPU per message" "$(med cpu_per_msg)" us - -
bench "telemetry outbox queueing (cloud away)" "$(med queue_rate)" msg/s - -
bench "telemetry backlog drain ($BACKLOG)" "$(med drain_rate)" msg/s "$(med baseline)" -
bench "telemetry first message out after return" "$(med reconnect)" s - "value <= 2"
bench "hub-telemetryd PSS idle (bench-telemetry)" "$(med pss_idle 1024)" MiB - -
bench "hub-telemetryd PSS with $BACKLOG queued (bench-telemetry)" "$(med pss_backlog 1024)" MiB - -
log "done"
