#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The stack's brokers are what the telemetry tests rely on: the cloud broker speaks mutual TLS 1.2+
# only, the device broker wants a password, and devstack.env reaches both.
. "$(dirname "$0")/lib.sh"
it_setup

cloud=(-h "$HUBGUARD_CLOUD_BROKER_HOST" -p "$HUBGUARD_CLOUD_BROKER_PORT" --cafile "$HUBGUARD_CLOUD_CAFILE")
observer=(--cert "$HUBGUARD_CLOUD_OBSERVER_CERT" --key "$HUBGUARD_CLOUD_OBSERVER_KEY")
device=(-h "$HUBGUARD_DEVICE_BROKER_HOST" -p "$HUBGUARD_DEVICE_BROKER_PORT")

# ---- cloud broker: the observer sees what the device identity publishes
mosquitto_sub "${cloud[@]}" "${observer[@]}" -t 'it/#' -C 1 -W 5 -v >"$STACK_DIR/sub.out" &
sub=$!
sleep 0.3
mosquitto_pub "${cloud[@]}" --cert "$HUBGUARD_DEVICE_CERT" --key "$HUBGUARD_DEVICE_KEY" -q 1 -t it/hello -m world
it_is "the device identity publishes over mutual TLS" 0 $?
wait "$sub"
it_is "the observer receives it" "it/hello world" "$(cat "$STACK_DIR/sub.out")"

mosquitto_pub "${cloud[@]}" -t it/x -m y >/dev/null 2>&1
it_ok "a client without a certificate is refused" test $? -ne 0
timeout 5 openssl s_client -connect "127.0.0.1:$HUBGUARD_CLOUD_BROKER_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
        </dev/null >/dev/null 2>&1
it_ok "TLS 1.1 is refused" test $? -ne 0
mosquitto_pub -h 127.0.0.1 -p "$HUBGUARD_CLOUD_BROKER_PORT" -t it/x -m y >/dev/null 2>&1
it_ok "plain MQTT to the cloud port is refused" test $? -ne 0

# ---- device broker: password required
mosquitto_sub "${device[@]}" -u "$HUBGUARD_DEVICE_BROKER_USER" -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" \
        -t 'dev/#' -C 1 -W 5 -v >"$STACK_DIR/dsub.out" &
sub=$!
sleep 0.3
mosquitto_pub "${device[@]}" -u "$HUBGUARD_DEVICE_BROKER_USER" -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" -t dev/t -m 21.5
it_is "a device publishes with its password" 0 $?
wait "$sub"
it_is "... and a subscriber receives it" "dev/t 21.5" "$(cat "$STACK_DIR/dsub.out")"
mosquitto_pub "${device[@]}" -u "$HUBGUARD_DEVICE_BROKER_USER" -P wrong -t dev/t -m 1 >/dev/null 2>&1
it_ok "a wrong password is refused" test $? -ne 0
it_ok "the device broker listens on loopback only" \
        bash -c "ss -Hltn 'sport = :$HUBGUARD_DEVICE_BROKER_PORT' | awk '{print \$4}' | grep -qx '127.0.0.1:$HUBGUARD_DEVICE_BROKER_PORT'"
