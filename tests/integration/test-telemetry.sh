#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hub-telemetryd with a real TLS mosquitto, a real device broker and real SQLite files: delivery,
# order, outages of the broker and of the daemon, TLS refusals, caps, bad input.
# EN 303 645 5.5-1, 5.9-1/2, 5.13-1B.
. "$(dirname "$0")/lib.sh"
STACK_METRICS_INTERVAL=0
it_setup

dropin=$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-telemetry-test.conf
db=$HUBGUARD_STATE_DIR/telemetry/telemetry.db
cloud=(-h "$HUBGUARD_CLOUD_BROKER_HOST" -p "$HUBGUARD_CLOUD_BROKER_PORT" --cafile "$HUBGUARD_CLOUD_CAFILE"
        --cert "$HUBGUARD_CLOUD_OBSERVER_CERT" --key "$HUBGUARD_CLOUD_OBSERVER_KEY" -V mqttv5)
device=(-h "$HUBGUARD_DEVICE_BROKER_HOST" -p "$HUBGUARD_DEVICE_BROKER_PORT" -u "$HUBGUARD_DEVICE_BROKER_USER"
        -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" -V mqttv5)
prop() { bus get-property org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager "$1" | cut -d' ' -f2-; }
dropped() { bus get-property org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager DroppedMessages |
        tr -d '"' | awk -v k="$1" '{for (i = 3; i < NF; i += 2) if ($i == k) print $(i + 1)}'; }
online() { [[ $(prop State) == '"online"' ]]; }
# wait_eq EXPECTED CMD...: wait up to 10 s for CMD's output to be EXPECTED (CMD is run each time).
wait_eq() {
        local want=$1 i
        shift
        for ((i = 0; i < 200; i++)); do
                [[ $("$@") == "$want" ]] && return 0
                sleep 0.05
        done
        return 1
}
outbox_count() { sqlite3 "$db" "SELECT count(*) FROM outbox${1:+ WHERE $1}"; }
restart_telemetry() { stack_stop telemetry; stack_daemon telemetry && it_wait online; }
stop_cloud() { stack_stop cloud-broker; }
start_cloud() {
        mosquitto -c "$STACK_DIR/mqtt/cloud.conf" >>"$STACK_DIR/log/cloud-broker.log" 2>&1 &
        STACK_PID[cloud-broker]=$!
        it_wait stack_port_listening "$HUBGUARD_CLOUD_BROKER_PORT"
}
# Subscribe on the cloud broker; lines are "MESSAGE-ID PAYLOAD".
subscribe() { mosquitto_sub "${cloud[@]}" -t "hubguard/+/devices/+/telemetry" -q 1 -F '%P %p' >>"$1" 2>/dev/null & }
# publish_seq DEVICE FROM TO: device messages {"n": FROM..TO}, QoS 1, one connection.
publish_seq() { seq "$2" "$3" | sed 's/.*/{"n": &}/' | mosquitto_pub "${device[@]}" -t "devices/$1/telemetry" -q 1 -l; }
# check_arrived FILE FROM TO: every n arrived at least once, in order of first arrival.
check_arrived() {
        awk -v from="$2" -v to="$3" '
                { if (match($0, /"n": *[0-9]+/)) { n = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", n); n += 0
                        if (!(n in seen)) { seen[n] = 1; if (n < last) bad++; last = n; count++ } } }
                END { for (i = from; i <= to; i++) if (!(i in seen)) missing++
                        printf "%d missing, %d out of order\n", missing + 0, bad + 0 }' "$1"
}
wait_arrived() { # FILE COUNT [SECONDS]
        local i
        for ((i = 0; i < ${3:-60} * 10; i++)); do
                (($(grep -c '"n":' "$1") >= $2)) && return 0
                sleep 0.1
        done
        return 1
}

printf '[telemetry]\nDeviceRatePerSec=10000\nDeviceBurst=100000\nDrainRatePerSec=0\nReconnectMinSec=1\nReconnectMaxSec=2\n' >"$dropin"
restart_telemetry
it_ok "hub-telemetryd is online with the stack's cloud broker" online
hub=$(prop HubId | tr -d '"')
it_match "its hub id is the device id from hub-identityd" '^hub-[0-9a-f]{32}$' "$hub"

# ---- a device's message is acknowledged only once it is durable: the PUBACK follows the fdatasync
strace -f -tt -p "$(pgrep -f "hub-telemetryd --config-dir=$HUBGUARD_CONFIG_DIR" | head -1)" \
        -e trace=fdatasync,write -o "$STACK_DIR/strace.txt" 2>/dev/null &
tracer=$!
sleep 0.5
mosquitto_pub "${device[@]}" -t devices/durable/telemetry -m '{"t": 1}' -q 1 -i it-durable-device
sleep 0.5
kill "$tracer" 2>/dev/null
wait "$tracer" 2>/dev/null
order=$(grep -oE 'fdatasync|write\([0-9]+, "@\\2' "$STACK_DIR/strace.txt" | sed 's/write.*/puback/' | tr '\n' ' ')
it_match "the PUBACK to the device broker comes after the commit's fdatasync" '^(fdatasync )+puback' "$order"

# ---- 10,000 messages arrive, each id at least once, in order
out=$STACK_DIR/cloud-1.txt
subscribe "$out"
sub=$!
sleep 0.5
publish_seq sim-1 1 10000
it_ok "10,000 device messages reach the cloud broker" wait_arrived "$out" 10000 120
it_is "... none missing, in order" "0 missing, 0 out of order" "$(check_arrived "$out" 1 10000)"
it_ok "... each with a message-id user property hub-id-sequence" \
        bash -c "head -1 '$out' | grep -Eq '^message-id:$hub-[0-9a-f]{8}-[0-9]+ '"
it_is "... and distinct ids" "$(grep -c '"n":' "$out")" "$(awk '{print $1}' "$out" | sort -u | wc -l)"
it_ok "the outbox is empty once the broker acknowledged everything" wait_eq 0 prop QueuedMessages
kill "$sub" 2>/dev/null

# ---- the cloud broker stops in the middle of a stream and comes back: everything arrives
# (a durable subscriber: what the broker acknowledged to the hub, it keeps for the subscriber)
out=$STACK_DIR/cloud-2.txt
durable=(-c -i it-durable-observer -x 3600)
mosquitto_sub "${cloud[@]}" "${durable[@]}" -t "hubguard/+/devices/sim-2/telemetry" -q 1 -F '%P %p' >>"$out" 2>/dev/null &
sub=$!
sleep 0.5
publish_seq sim-2 1 6000 &
pub=$!
wait_arrived "$out" 1000 60
kill -TERM "${STACK_PID[cloud-broker]}"
wait "${STACK_PID[cloud-broker]}" 2>/dev/null
unset "STACK_PID[cloud-broker]"
wait "$pub"
it_ok "while the broker is down, telemetry says offline" wait_eq '"offline"' prop State
it_match "... and says why" "cloud broker: " "$(prop LastError)"
it_match "hubctl telemetry status says unreachable since when, and how many wait" \
        "unreachable since [0-9T:-]+Z.*Waiting: +[0-9]+ messages? .*nothing lost" "$("$HUBCTL" telemetry status | tr '\n' ' ')"
"$HUBCTL" telemetry status >/dev/null
it_is "hubctl telemetry status exits 1 while offline" 1 $?
kill "$sub" 2>/dev/null
start_cloud
mosquitto_sub "${cloud[@]}" "${durable[@]}" -t "hubguard/+/devices/sim-2/telemetry" -q 1 -F '%P %p' >>"$out" 2>/dev/null &
sub=$!
it_ok "after the outage all 6,000 arrive" wait_arrived "$out" 6000 120
it_is "... none missing, in order of first arrival" "0 missing, 0 out of order" "$(check_arrived "$out" 1 6000)"
it_ok "telemetry is online again by itself" it_wait online
kill "$sub" 2>/dev/null

# ---- hub-telemetryd is killed with SIGKILL: every committed message still arrives
stop_cloud
it_ok "offline with the broker stopped" wait_eq '"offline"' prop State
publish_seq sim-3 1 2000
it_ok "2,000 messages are queued" wait_eq 2000 prop QueuedMessages
# QueuedMessages counts rows of the open group commit too; a reader of the file sees only committed
# ones. Wait for those, then kill: what was committed must survive.
it_ok "... and committed" wait_eq 2000 sqlite3 "$db" 'SELECT count(*) FROM outbox'
kill -KILL "${STACK_PID[telemetry]}"
wait "${STACK_PID[telemetry]}" 2>/dev/null
unset "STACK_PID[telemetry]"
it_is "the outbox on disk holds all 2,000 after SIGKILL" 2000 "$(sqlite3 "$db" 'SELECT count(*) FROM outbox')"
it_is "... and is not corrupt" ok "$(sqlite3 "$db" 'PRAGMA integrity_check')"
start_cloud
out=$STACK_DIR/cloud-3.txt
subscribe "$out"
sub=$!
sleep 0.5
stack_daemon telemetry
it_ok "after the restart all 2,000 arrive" wait_arrived "$out" 2000 60
it_is "... none missing, in order" "0 missing, 0 out of order" "$(check_arrived "$out" 1 2000)"

# ---- hub-telemetryd is away (an upgrade, a crash): what devices publish meanwhile is kept for its
# persistent session by the device broker, and arrives once it is back
kill "$sub" 2>/dev/null
out=$STACK_DIR/cloud-away.txt
mosquitto_sub "${cloud[@]}" -t "hubguard/+/devices/sim-4/telemetry" -q 1 -F '%P %p' >>"$out" 2>/dev/null &
sub=$!
sleep 0.5
stack_stop telemetry >/dev/null
publish_seq sim-4 1 300
stack_daemon telemetry
it_ok "300 published while hub-telemetryd was stopped arrive after it starts again" wait_arrived "$out" 300 60
it_is "... none missing" "0 missing, 0 out of order" "$(check_arrived "$out" 1 300)"
kill "$sub" 2>/dev/null

# ---- bad input from devices: refused, counted, the daemon stays up
before=$(dropped invalid)
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m 'not json'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m '{"temp": "21.5\u0001"}'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m '{"a": {"b": {"c": 1}}}'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m '{"temp": [1, 2]}'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m '{"ts": "yesterday", "t": 1}'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m '{"t": 1, "t": 2}'
mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -m "{\"x\": \"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
printf '{"t": "\xff\xfe"}' | mosquitto_pub "${device[@]}" -t devices/bad1/telemetry -s
mosquitto_pub "${device[@]}" -t 'devices/bad$id/telemetry' -m '{"t": 1}'
it_ok "9 malformed messages are counted as invalid" wait_eq "$((before + 9))" dropped invalid
it_ok "... and listed for the device" bash -c "busctl --address=$DBUS_SYSTEM_BUS_ADDRESS call org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager ListDevices | grep -q '\"bad1\" 0 8 0'"
it_ok "hub-telemetryd is still up" kill -0 "${STACK_PID[telemetry]}"

# ---- many devices: the device table grows (it starts at 32 slots, at most half full) and keeps each
list_devices() {
        busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" call org.hubguard.telemetry1 /org/hubguard/telemetry1 \
                org.hubguard.telemetry1.Manager ListDevices
}
for round in 1 2; do
        for i in $(seq -w 0 99); do mosquitto_pub "${device[@]}" -t "devices/many-$i/telemetry" -m "{\"round\": $round}"; done
done
many_listed() { [[ $(list_devices | grep -o '"many-[0-9]*" 2 0 0' | wc -l) == 100 ]]; }
it_ok "100 devices with 2 messages each are all listed with their own counts" it_wait many_listed

# ---- a flooding device is rate-limited
printf '[telemetry]\nDeviceRatePerSec=1\nDeviceBurst=20\nDrainRatePerSec=0\n' >"$dropin"
restart_telemetry
publish_seq flood 1 200
sleep 1
limited=$(dropped rate-limited)
it_ok "a device sending 200 at once with a burst of 20 is rate-limited ($limited dropped)" \
        test "$limited" -ge 170 -a "$limited" -le 181

# ---- a full outbox drops the oldest routine telemetry and keeps security events
stop_cloud
printf '[telemetry]\nDeviceRatePerSec=10000\nDeviceBurst=100000\nOutboxMaxMessages=100\nSecurityEventsMaxMessages=50\n[identity]\nThrottleBaseSec=1\nThrottleMaxSec=1\n' >"$dropin"
stack_stop identity && stack_daemon identity
restart_telemetry_offline() { stack_stop telemetry; stack_daemon telemetry; }
restart_telemetry_offline
sqlite3 "$db" 'SELECT count(*) FROM outbox' >/dev/null
for i in 1 2 3; do
        bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
                VerifyPassword ssa{sv} admin "wrong-$i" 0 >/dev/null 2>&1
        sleep 1.1
done
it_ok "3 failed logins are queued as security events" wait_eq 3 outbox_count "priority = 0"
full_before=$(dropped full)
publish_seq fill 1 150
it_ok "the outbox stays at its cap of 100" wait_eq 100 prop QueuedMessages
it_is "... keeping the 3 security events" 3 "$(sqlite3 "$db" 'SELECT count(*) FROM outbox WHERE priority = 0')"
it_is "... and dropping the oldest routine messages, counted" "$((full_before + 53))" "$(dropped full)"
it_is "... the newest routine messages are kept" '{"n":150}' \
        "$(sqlite3 "$db" "SELECT json_extract(payload, '$.data') FROM outbox WHERE priority = 1 ORDER BY seq DESC LIMIT 1")"
it_match "hubctl telemetry status says some telemetry was dropped" "dropped for room" "$("$HUBCTL" telemetry status)"
start_cloud
out=$STACK_DIR/cloud-4.txt
mosquitto_sub "${cloud[@]}" -t "hubguard/+/security/#" -q 1 -F '%p' >"$out" 2>/dev/null &
sub=$!
it_ok "the security events reach the cloud when it is back" wait_eq 3 grep -c auth- "$out"
kill "$sub" 2>/dev/null
it_match "... naming the account and the source" '"event":"auth-failure","account":"admin","source":"uid:0"' "$(head -1 "$out")"

# ---- TLS: a broker that is not who it says, or too old, is refused, and LastError says why
pki=$STACK_DIR/pki
mk_server() { # NAME CN SAN CA-CERT CA-KEY
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" -keyout "$pki/$1.key" \
                -out "$pki/$1.csr" 2>/dev/null
        openssl x509 -req -in "$pki/$1.csr" -CA "$4" -CAkey "$5" -CAcreateserial -days 2 -out "$pki/$1.pem" \
                -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$3") 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=rogue-ca \
        -keyout "$pki/rogue-ca.key" -out "$pki/rogue-ca.pem" 2>/dev/null
mk_server rogue localhost "DNS:localhost,IP:127.0.0.1" "$pki/rogue-ca.pem" "$pki/rogue-ca.key"
mk_server wrongname elsewhere.example "DNS:elsewhere.example" "$pki/ca.pem" "$pki/ca.key"
try_broker() { # DESC CERT KEY [openssl s_server options...]: point the daemon at a bad TLS server
        local desc=$1 cert=$2 key=$3 port
        shift 3
        port=$(stack_free_port)
        openssl s_server -quiet -accept "$port" -cert "$cert" -key "$key" -naccept 50 "$@" \
                </dev/null >/dev/null 2>&1 &
        local srv=$!
        it_wait stack_port_listening "$port"
        printf '[telemetry]\nCloudBrokerPort=%s\nReconnectMinSec=1\nReconnectMaxSec=1\n' "$port" >"$dropin"
        stack_stop telemetry
        stack_daemon telemetry
        sleep 3
        res="$(prop State) $(prop LastError)"
        kill "$srv" 2>/dev/null
        wait "$srv" 2>/dev/null
}
try_broker rogue "$pki/rogue.pem" "$pki/rogue.key"
it_match "a broker with a certificate from another CA is refused" '"offline" .*certificate verify failed' "$res"
try_broker wrongname "$pki/wrongname.pem" "$pki/wrongname.key"
it_match "a broker whose name does not match is refused" '"offline" .*certificate verify failed' "$res"
try_broker tls11 "$pki/server.pem" "$pki/server.key" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
it_match "a broker offering only TLS 1.1 is refused" '"offline" .*(protocol version|no protocols available|unsupported protocol|alert)' "$res"

# ---- ALPN (e.g. AWS IoT Core on 443): the configured protocol is offered in the handshake
port=$(stack_free_port)
sleep 10 | openssl s_server -accept "$port" -cert "$pki/server.pem" -key "$pki/server.key" \
        -alpn x-hubguard-test -naccept 1 >"$STACK_DIR/alpn.txt" 2>&1 &
it_wait stack_port_listening "$port"
printf '[telemetry]\nCloudBrokerPort=%s\nCloudALPN=x-hubguard-test\n' "$port" >"$dropin"
stack_stop telemetry
stack_daemon telemetry
it_ok "CloudALPN= is offered to the broker" wait_eq 1 grep -c "ALPN protocols advertised by the client: x-hubguard-test" "$STACK_DIR/alpn.txt"
rm -f "$dropin"
