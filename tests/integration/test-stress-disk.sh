#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proof under stress, storage (issue 5): the daemons' state on a small tmpfs that fills up, and
# every domain's database damaged in the middle of a page or cut short. A full disk is reported, keeps
# what was stored, corrupts nothing, and heals by itself when space returns; a damaged database is
# found at start, moved aside as PATH.corrupt, rebuilt, reported with MESSAGE_ID DB_REBUILT, and the
# daemon runs. Every domain in stack.sh's STACK_DOMAINS is covered. EN 303 645 5.5-1 (integrity of
# stored data), 5.9-1/2 (resilience).
. "$(dirname "$0")/lib.sh"
STACK_METRICS_INTERVAL=0
STACK_STATE_TMPFS_SIZE=24m
it_setup

state=$HUBGUARD_STATE_DIR
dropin=$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-stress-disk.conf
cloud=(-h "$HUBGUARD_CLOUD_BROKER_HOST" -p "$HUBGUARD_CLOUD_BROKER_PORT" --cafile "$HUBGUARD_CLOUD_CAFILE"
        --cert "$HUBGUARD_CLOUD_OBSERVER_CERT" --key "$HUBGUARD_CLOUD_OBSERVER_KEY" -V mqttv5)
device=(-h "$HUBGUARD_DEVICE_BROKER_HOST" -p "$HUBGUARD_DEVICE_BROKER_PORT" -u "$HUBGUARD_DEVICE_BROKER_USER"
        -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" -V mqttv5)
tprop() { bus get-property org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager "$1" | cut -d' ' -f2-; }
wait_eq() { # EXPECTED CMD...: up to 20 s
        local want=$1 i
        shift
        for ((i = 0; i < 400; i++)); do
                [[ $("$@" 2>/dev/null) == "$want" ]] && return 0
                sleep 0.05
        done
        return 1
}
wait_match() { # REGEX CMD...: up to 20 s
        local re=$1 i
        shift
        for ((i = 0; i < 400; i++)); do
                [[ $("$@" 2>/dev/null) =~ $re ]] && return 0
                sleep 0.05
        done
        return 1
}
publish_seq() { seq "$2" "$3" | sed 's/.*/{"n": &}/' | mosquitto_pub "${device[@]}" -t "devices/$1/telemetry" -q 1 -l; }
# count_arrived FILE FROM TO: how many of n = FROM..TO arrived at least once.
count_arrived() {
        awk -v from="$2" -v to="$3" '
                { if (match($0, /"n": *[0-9]+/)) { n = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", n); seen[n + 0] = 1 } }
                END { for (i = from; i <= to; i++) if (i in seen) c++; print c + 0 }' "$1"
}
integrity() { sqlite3 "$state/$1/$1.db" 'PRAGMA integrity_check' 2>&1; }
start_cloud() {
        mosquitto -c "$STACK_DIR/mqtt/cloud.conf" >>"$STACK_DIR/log/cloud-broker.log" 2>&1 &
        STACK_PID[cloud-broker]=$!
        it_wait stack_port_listening "$HUBGUARD_CLOUD_BROKER_PORT"
}
bus_status() { bus status "org.hubguard.${1}1" >/dev/null; }
verify() { # PASSWORD: prints the D-Bus error name, or "ok"
        local out
        out=$(bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
                VerifyPassword ssa{sv} admin "$1" 0 2>&1) && { echo ok; return; }
        printf '%s\n' "$out"
}

printf '[telemetry]\nDeviceRatePerSec=10000\nDeviceBurst=100000\nReconnectMinSec=1\nReconnectMaxSec=2\n[identity]\nThrottleBaseSec=1\nThrottleMaxSec=1\n' >"$dropin"
stack_stop identity && stack_daemon identity
stack_stop telemetry && stack_daemon telemetry
it_ok "telemetry is online" wait_eq '"online"' tprop State
password=$("$HUBCTL" provision show-initial 2>/dev/null | grep -oE '[2-9a-z]{5}(-[2-9a-z]{5}){3}' | head -1)
it_match "the initial admin password can be read" '^[2-9a-z]{5}(-[2-9a-z]{5}){3}$' "$password"

# A subscriber with a persistent session on the cloud broker keeps everything the hub delivered.
out=$STACK_DIR/cloud-disk.txt
durable=(-c -i it-disk-observer -x 3600 -t "hubguard/+/devices/disk/telemetry" -q 1 -F '%P %p')
mosquitto_sub "${cloud[@]}" "${durable[@]}" >>"$out" 2>/dev/null &
sub=$!
sleep 0.5
kill "$sub"
wait "$sub" 2>/dev/null

# ---- before: 500 messages queued while the cloud is away
stack_stop cloud-broker
it_ok "offline with the cloud broker stopped" wait_eq '"offline"' tprop State
publish_seq disk 1 500
it_ok "500 messages are queued" wait_eq 500 tprop QueuedMessages

# ---- the disk fills up
dd if=/dev/zero of="$state/filler" bs=64k status=none 2>/dev/null
it_is "the state file system is full" 0 "$(df --output=avail -B1 "$state" | tail -1 | tr -d ' ')"
# Enough to need new pages in the outbox's WAL whatever it had room for.
publish_seq disk 501 3000
sleep 2
it_ok "hub-telemetryd is still running on a full disk" kill -0 "${STACK_PID[telemetry]}"
it_match "... and says the outbox cannot be written (State degraded or offline, LastError)" \
        'outbox: .*(No space left|disk|full)' "$(tprop LastError)"
it_ok "... and the journal has the failed commit" grep -Eq "Outbox (commit|insert) failed" "$HUBGUARD_LOG_DIR/hub-telemetryd.log"
queued_full=$(tprop QueuedMessages)
it_ok "... having kept at least the 500 from before ($queued_full queued)" test "$queued_full" -ge 500

it_match "hub-identityd refuses a wrong password on a full disk" 'Wrong password' "$(verify wrong-password-1)"
it_is "... and accepts the right one" ok "$(verify "$password")"
out_change=$(bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
        ChangePassword sss admin "$password" 'Stress-Test-Passw0rd-Disk!' 2>&1)
it_match "... and a password change fails with a clear error instead of half-storing it" \
        'Cannot store the new password: No space left on device' "$out_change"
it_ok "hub-identityd is still running" kill -0 "${STACK_PID[identity]}"

# A restart on the full disk (a crash, an upgrade): each daemon comes up with what it had. A clean
# stop deletes the WAL index (-shm) when its checkpoint succeeds, which a full disk may not let it
# do; here it is always gone (with no connection open it is only a cache of the WAL), and what it
# held is taken by another writer first, as any program on the system may: the database must open
# without a new block.
refill() { dd if=/dev/zero of="$state/filler.$1" bs=4k status=none 2>/dev/null; }
restart_full() { # DOMAIN
        stack_stop "$1"
        rm -f "$state/$1/$1.db-shm"
        refill "$1"
        stack_daemon "$1"
}
noshm='No room on the file system for the index of database'
restart_full telemetry
it_is "hub-telemetryd starts again on the full disk" 0 $?
it_ok "... saying its database is its alone until it restarts" grep -q "$noshm" "$HUBGUARD_LOG_DIR/hub-telemetryd.log"
it_ok "... with the 500 messages still queued" wait_eq 500 tprop QueuedMessages
restart_full identity
it_is "hub-identityd starts again on the full disk" 0 $?
it_ok "... saying its database is its alone until it restarts" grep -q "$noshm" "$HUBGUARD_LOG_DIR/hub-identityd.log"
it_is "... and still accepts the password" ok "$(verify "$password")"
for dom in "${STACK_DOMAINS[@]}"; do
        [[ $dom == identity || $dom == telemetry ]] && continue
        restart_full "$dom"
        it_is "hub-${dom}d starts again on the full disk" 0 $?
        it_ok "... saying its database is its alone until it restarts" grep -q "$noshm" "$HUBGUARD_LOG_DIR/hub-${dom}d.log"
done

# ---- the cloud returns while the disk is still full: what is queued is sent, and a message that
# cannot be stored makes the state degraded, in words
start_cloud
mosquitto_sub "${cloud[@]}" "${durable[@]}" >>"$out" 2>/dev/null &
sub=$!
publish_seq disk 3001 3100
it_ok "with the cloud back on a full disk, State is degraded" wait_eq '"degraded"' tprop State
it_match "... and hubctl telemetry status says the outbox cannot be written" \
        "degraded: online to .*, but the outbox cannot be written" "$("$HUBCTL" telemetry status)"
it_ok "hub-telemetryd is still running" kill -0 "${STACK_PID[telemetry]}"

# ---- space returns
rm -f "$state"/filler*
publish_seq disk 3101 3500
it_ok "telemetry is online again by itself" wait_eq '"online"' tprop State
# Including the rows whose removal (on a PUBACK) was rolled back with a commit on the full disk.
it_ok "... the outbox drains" wait_eq 0 tprop QueuedMessages
sleep 1
it_is "all 500 queued before the disk filled reached the cloud" 500 "$(count_arrived "$out" 1 500)"
it_is "all 400 published after space returned reached the cloud" 400 "$(count_arrived "$out" 3101 3500)"
# Those published while the disk was full were never acknowledged by hub-telemetryd (a failed commit
# drops its link to the device broker with the PUBACKs unsent): the broker kept them for its
# persistent session and sends them again once a commit succeeds.
arrived_all() { [[ $(count_arrived "$out" 501 3100) == 2600 ]]; }
for ((i = 0; i < 120; i++)); do arrived_all && break; sleep 0.5; done
it_is "all 2,600 published while the disk was full reached the cloud too" 2600 "$(count_arrived "$out" 501 3100)"
# A full disk is a storage error, not a full outbox: nothing may be counted as dropped for room (a
# disk-full insert once was, and its message acknowledged and lost).
it_is "... and none was counted as dropped for want of outbox room" 0 \
        "$(tprop DroppedMessages | grep -o '"full" [0-9]*' | awk '{ print $2 }')"
it_is "LastError is clear again" '""' "$(tprop LastError)"
# One incident is told once per start of the daemon, not at every retry of the device link (about
# one a second): hub-telemetryd ran twice on the full disk. Debug messages are not in this log.
tlog=$HUBGUARD_LOG_DIR/hub-telemetryd.log
n=$(grep -Ec 'Outbox (commit|insert) failed' "$tlog")
it_ok "the failed commit is in the journal once per start during the incident (${n}x)" test "$n" -ge 1 -a "$n" -le 2
n=$(grep -c 'Device broker .*the outbox cannot store messages' "$tlog")
it_ok "... and so is the device link it drops (${n}x)" test "$n" -ge 1 -a "$n" -le 2
it_ok "... and the end of the incident" grep -q 'Outbox commits succeed again' "$tlog"
kill "$sub" 2>/dev/null

it_is "the old password still works (the change was not half-stored)" ok "$(verify "$password")"
# Each daemon started on the full disk holds its file alone: checked between a stop and a start.
for dom in "${STACK_DOMAINS[@]}"; do
        stack_stop "$dom"
        it_is "$dom.db passes the integrity check after the full disk" ok "$(integrity "$dom")"
        stack_daemon "$dom"
done

# ---- damaged databases: a page overwritten in the middle, or the file cut short
# damage DOMAIN page|truncate: stop the daemon, damage its database, start it again.
damage() {
        local dom=$1 how=$2 db=$state/$1/$1.db size
        stack_stop "$dom"
        # Enough pages that the damage lands inside the b-tree, not in free space after it.
        sqlite3 "$db" "CREATE TABLE IF NOT EXISTS stress_filler(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 400) INSERT INTO stress_filler SELECT randomblob(300) FROM c; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
        size=$(stat -c %s "$db")
        case $how in
        page) # the middle leaf page of the filler's b-tree: 512 bytes of 0xa5 over its header and cell
                # pointers (damage inside payload bytes alone is invisible to any integrity check)
                pageno=$(sqlite3 "$db" "SELECT pageno FROM dbstat WHERE name = 'stress_filler' AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET (SELECT count(*) / 2 FROM dbstat WHERE name = 'stress_filler' AND pagetype = 'leaf')")
                head -c 512 /dev/zero | tr '\0' '\245' | dd of="$db" bs=1 seek=$((4096 * (pageno - 1))) conv=notrunc status=none ;;
        truncate) # half the file, cut inside a page
                truncate -s $((size / 2 + 1000)) "$db" ;;
        esac
        cp "$db" "$STACK_DIR/damaged-$dom-$how.db"
        : >"$HUBGUARD_LOG_DIR/hub-${dom}d.log"
        stack_daemon "$dom"
}
for dom in "${STACK_DOMAINS[@]}"; do
        for how in page truncate; do
                db=$state/$dom/$dom.db
                damage "$dom" "$how"
                it_is "hub-${dom}d starts on a database with a $how damage" 0 $?
                it_ok "... keeps the damaged file as $dom.db.corrupt" cmp -s "$STACK_DIR/damaged-$dom-$how.db" "$db.corrupt"
                it_ok "... reports it with MESSAGE_ID DB_REBUILT" \
                        grep -q "was corrupt: moved aside.*MESSAGE_ID=fdfc3981599541aebdc968c1da314e49" "$HUBGUARD_LOG_DIR/hub-${dom}d.log"
                it_is "... and the rebuilt database passes the integrity check" ok "$(integrity "$dom")"
                it_ok "... and serves the bus" bus_status "$dom"
        done
done
# Telemetry must find its identity again after identity.db was rebuilt.
stack_stop telemetry && stack_daemon telemetry
it_ok "after all that, telemetry is online" wait_eq '"online"' tprop State
it_ok "hubctl status reports every daemon" "$HUBCTL" status
rm -f "$dropin"
