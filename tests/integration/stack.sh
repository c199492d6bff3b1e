# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# The hubguard stack on one machine, for tests/devstack and the integration tests: a private
# system-like dbus-daemon with the project's own policy files, a local device broker (mosquitto,
# loopback, password), a TLS "cloud" broker (mosquitto, mutual TLS, throw-away CA made with the
# openssl CLI), and the three daemons from a build tree, each under its own system user.
#
# Source it, set STACK_SRC (the source tree) and STACK_BUILD (a configured, built build dir), then:
#   stack_up DIR        start everything under DIR (a fresh directory); returns non-zero with one
#                       clear message if anything fails, after stopping what it started
#   stack_down          stop everything and remove DIR (unless STACK_KEEP=1)
#   stack_env           print the shell-sourceable environment (what devstack.env holds)
# STACK_STATE_TMPFS_SIZE=SIZE puts DIR/state on a tmpfs of that size (tests that fill the disk).
# Needs root: it creates the system users and starts each daemon as its own user.

STACK_DOMAINS=(identity telemetry privacy)
STACK_TIMEOUT=${STACK_TIMEOUT:-15}
declare -A STACK_PID=()

stack_log() { printf '%s\n' "$*" >&2; }
stack_fail() { stack_log "stack: $*"; return 1; }

# A TCP port for a listener: below the kernel's ephemeral range (a client's connection may take any
# port in it at any time, and then the listener's bind fails: seen once in CI), and used by no
# socket at all now, whatever its state.
stack_free_port() {
        local p i lo=32768
        read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
        ((lo > 11024)) || stack_fail "the ephemeral port range starts at $lo: no room below it for listeners" || return 1
        for ((i = 0; i < 100; i++)); do
                p=$((10000 + RANDOM % (lo - 10000)))
                if [[ -z $(ss -Htan "sport = :$p" 2>/dev/null) ]]; then
                        echo "$p"
                        return 0
                fi
        done
        stack_fail "no free TCP port found on 127.0.0.1"
}

# Wait until "$@" succeeds, up to STACK_TIMEOUT seconds; fail early if process $pid died.
stack_wait() {
        local pid=$1 what=$2
        shift 2
        local deadline=$((SECONDS + STACK_TIMEOUT))
        until "$@" >/dev/null 2>&1; do
                if ! kill -0 "$pid" 2>/dev/null; then
                        stack_fail "$what exited during start-up; its log follows:"
                        sed 's/^/    /' "$STACK_DIR/log/$what.log" >&2 2>/dev/null
                        return 1
                fi
                if ((SECONDS >= deadline)); then
                        stack_fail "$what not ready after ${STACK_TIMEOUT}s; its log follows:"
                        sed 's/^/    /' "$STACK_DIR/log/$what.log" >&2 2>/dev/null
                        return 1
                fi
                sleep 0.05
        done
}

stack_port_listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

stack_users() {
        systemd-sysusers "$STACK_SRC/systemd/sysusers.d/hubguard.conf" >/dev/null 2>&1 ||
                stack_fail "systemd-sysusers could not create the hubguard users (are you root?)"
}

stack_bus() {
        local d=$STACK_DIR/bus
        mkdir -p "$d/system.d"
        cp "$STACK_BUILD"/conf/org.hubguard.*.conf "$d/system.d/" ||
                stack_fail "no built policy files in $STACK_BUILD/conf (build first)" || return 1
        # The distribution's system bus configuration, with our socket and only our policy files.
        sed -e '/<user>/d' -e '/<fork\/>/d' -e '/<pidfile>/d' -e '/<syslog\/>/d' \
            -e '/<standard_system_servicedirs\/>/d' -e '/<servicehelper>/d' \
            -e "s|<listen>.*</listen>|<listen>unix:path=$d/socket</listen>|" \
            -e "s|<includedir>system.d</includedir>|<includedir>$d/system.d</includedir>|" \
            -e '/<includedir>\/etc\/dbus-1\/system.d<\/includedir>/d' \
            -e '/system-local.conf/d' -e '/contexts\/dbus_contexts/d' \
            /usr/share/dbus-1/system.conf >"$d/bus.conf"
        dbus-daemon --config-file="$d/bus.conf" --nofork --nosyslog --print-address=1 \
                >"$d/address" 2>"$STACK_DIR/log/dbus.log" &
        STACK_PID[dbus]=$!
        stack_wait "${STACK_PID[dbus]}" dbus test -S "$d/socket" || return 1
        STACK_BUS_ADDRESS=unix:path=$d/socket
}

stack_ca() {
        local d=$STACK_DIR/pki name
        mkdir -p "$d"
        (
                set -e
                cd "$d"
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
                        -subj "/CN=hubguard devstack CA" -keyout ca.key -out ca.pem
                # The cloud broker, and the clients: the hub's device identity (until hub-identityd
                # makes its own) and an observer that may read everything on the cloud broker.
                for name in server device observer; do
                        local cn=$name ext="extendedKeyUsage=clientAuth"
                        if [[ $name == server ]]; then
                                cn=localhost
                                ext="subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage=serverAuth"
                        fi
                        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                                -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr"
                        openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
                                -days 7 -out "$name.pem" -extfile <(printf '%s\n' "$ext")
                done
                rm -f ./*.csr ca.srl
                chmod 0600 ./*.key
        ) >"$STACK_DIR/log/pki.log" 2>&1 || stack_fail "openssl could not make the test CA (see $STACK_DIR/log/pki.log)"
}

stack_brokers() {
        local d=$STACK_DIR/mqtt
        mkdir -p "$d"
        STACK_DEVICE_PORT=$(stack_free_port) || return 1
        STACK_CLOUD_PORT=$(stack_free_port) || return 1
        STACK_DEVICE_USER=device
        STACK_DEVICE_PASSWORD=$(openssl rand -hex 16)
        STACK_HUB_PASSWORD=$(openssl rand -hex 16)
        mosquitto_passwd -b -c "$d/passwd" "$STACK_DEVICE_USER" "$STACK_DEVICE_PASSWORD" >/dev/null 2>&1 &&
                mosquitto_passwd -b "$d/passwd" hubguard "$STACK_HUB_PASSWORD" >/dev/null 2>&1 ||
                stack_fail "mosquitto_passwd failed" || return 1
        cp "$STACK_DIR/pki/ca.pem" "$STACK_DIR/pki/server.pem" "$STACK_DIR/pki/server.key" "$d/"
        cat >"$d/device.conf" <<EOF
per_listener_settings true
persistence false
# A subscriber that falls behind a burst gets its messages late rather than never.
max_queued_messages 100000
log_dest stdout
user mosquitto
listener $STACK_DEVICE_PORT 127.0.0.1
allow_anonymous false
password_file $d/passwd
EOF
        cat >"$d/cloud.conf" <<EOF
# Like a fleet's broker, it keeps what it acknowledged across a restart (for persistent sessions).
persistence true
persistence_location $d/
max_queued_messages 100000
log_dest stdout
user mosquitto
listener $STACK_CLOUD_PORT 127.0.0.1
cafile $d/ca.pem
certfile $d/server.pem
keyfile $d/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
allow_anonymous false
EOF
        # mosquitto drops to user mosquitto before it reads its files.
        chown -R mosquitto: "$d" && chmod 0700 "$d" || stack_fail "cannot hand $d to user mosquitto" || return 1
        mosquitto -c "$d/device.conf" >"$STACK_DIR/log/device-broker.log" 2>&1 &
        STACK_PID[device-broker]=$!
        mosquitto -c "$d/cloud.conf" >"$STACK_DIR/log/cloud-broker.log" 2>&1 &
        STACK_PID[cloud-broker]=$!
        stack_wait "${STACK_PID[device-broker]}" device-broker stack_port_listening "$STACK_DEVICE_PORT" || return 1
        stack_wait "${STACK_PID[cloud-broker]}" cloud-broker stack_port_listening "$STACK_CLOUD_PORT" || return 1
}

# stack_credentials DOMAIN: what systemd's LoadCredential(Encrypted)= gives the unit, made by hand:
# a directory only the service user can read, with the domain's credentials in it.
stack_credentials() {
        local dom=$1 user=hub-$1 d=$STACK_DIR/credentials/$1
        mkdir -p "$d"
        case $dom in
        identity | privacy)
                # The sealed store's master key (privacy: the key that wraps the subject keys): 32 random bytes (systemd decrypts it from a
                # systemd-creds file bound to the machine; here it is made fresh for each stack).
                [[ -e $d/master-key ]] || head -c 32 /dev/urandom >"$d/master-key"
                ;;
        telemetry)
                # The device identity hub-identityd made (LoadCredential= from its state dir).
                cp "$STACK_DIR/state/identity/device.key" "$d/device-key" &&
                        cp "$STACK_DIR/state/identity/device.pem" "$d/device-cert" ||
                        stack_fail "no device identity yet: hub-identityd must start first" || return 1
                printf '%s\n' "$STACK_HUB_PASSWORD" >"$d/device-broker-password"
                ;;
        esac
        chown -R "$user:$user" "$d" && chmod 0500 "$d" && find "$d" -type f -exec chmod 0400 {} +
}

# stack_daemon DOMAIN [VAR=VALUE...]: start hub-DOMAINd from the build tree as user hub-DOMAIN,
# with extra environment variables if given.
stack_daemon() {
        local dom=$1 user=hub-$1 bin=$STACK_BUILD/src/${1}d/hub-${1}d
        shift
        local state=$STACK_DIR/state/$dom
        [[ -x $bin ]] || stack_fail "$bin is missing (build first)" || return 1
        mkdir -p "$state"
        chown "$user:$user" "$state" && chmod 0700 "$state"
        stack_credentials "$dom" || return 1
        # Binaries and build tree must be reachable by the service users.
        setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all \
                env -i PATH=/usr/bin:/bin DBUS_SYSTEM_BUS_ADDRESS="$STACK_BUS_ADDRESS" \
                STATE_DIRECTORY="$state" CREDENTIALS_DIRECTORY="$STACK_DIR/credentials/$dom" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
                UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" "$@" \
                "$bin" --config-dir="$STACK_DIR/etc" >>"$STACK_DIR/log/hub-${dom}d.log" 2>&1 &
        STACK_PID[$dom]=$!
        stack_wait "${STACK_PID[$dom]}" "hub-${dom}d" \
                busctl --address="$STACK_BUS_ADDRESS" status "org.hubguard.${dom}1"
}

# The cloud's side of enrolment, as a fleet's CA would do it: sign the hub's CSR, install the result.
stack_enroll() {
        local hubctl=$STACK_BUILD/src/hubctl/hubctl pki=$STACK_DIR/pki
        (
                set -e
                export DBUS_SYSTEM_BUS_ADDRESS=$STACK_BUS_ADDRESS
                "$hubctl" identity csr -o "$pki/hub.csr"
                openssl x509 -req -in "$pki/hub.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
                        -days 7 -out "$pki/hub.pem" -extfile <(printf 'extendedKeyUsage=clientAuth\n')
                "$hubctl" identity install-cert "$pki/hub.pem"
        ) >>"$STACK_DIR/log/pki.log" 2>&1 || stack_fail "enrolling the hub's device identity failed (see $STACK_DIR/log/pki.log)"
}

stack_up() {
        STACK_DIR=$1
        : "${STACK_SRC:?STACK_SRC must name the source tree}" "${STACK_BUILD:?STACK_BUILD must name a build dir}"
        mkdir -p "$STACK_DIR"/{log,state,credentials,etc/hubguard.conf.d} || return 1
        # STACK_STATE_TMPFS_SIZE=SIZE: the daemons' state on a tmpfs of that size (mount(8) size=), so
        # that a test can fill it. stack_down unmounts it.
        if [[ -n ${STACK_STATE_TMPFS_SIZE:-} ]]; then
                mount -t tmpfs -o "size=$STACK_STATE_TMPFS_SIZE,mode=0711" hubguard-state "$STACK_DIR/state" ||
                        stack_fail "cannot mount a tmpfs of $STACK_STATE_TMPFS_SIZE on $STACK_DIR/state" || return 1
        fi
        # The brokers run as user mosquitto and the daemons as their own users: they must traverse DIR.
        chmod 0711 "$STACK_DIR" "$STACK_DIR/state" "$STACK_DIR/credentials"
        chmod 0755 "$STACK_DIR/etc" "$STACK_DIR/etc/hubguard.conf.d"
        cp "$STACK_SRC/conf/hubguard.conf" "$STACK_DIR/etc/hubguard.conf"
        { stack_users && stack_bus && stack_ca && stack_brokers; } || { stack_down; return 1; }
        # The stack's own settings: the test CA is the one device certificates must chain to.
        cat >"$STACK_DIR/etc/hubguard.conf.d/50-stack.conf" <<EOF
# Written by tests/integration/stack.sh for this stack.
[identity]
CertificateAuthorityFile=$STACK_DIR/pki/ca.pem

[telemetry]
DeviceBrokerHost=127.0.0.1
DeviceBrokerPort=$STACK_DEVICE_PORT
DeviceBrokerUser=hubguard
DeviceBrokerPasswordFile=$STACK_DIR/credentials/telemetry/device-broker-password
CloudBrokerHost=localhost
CloudBrokerPort=$STACK_CLOUD_PORT
CloudCAFile=$STACK_DIR/pki/ca.pem
MetricsIntervalSec=${STACK_METRICS_INTERVAL:-10}
EOF
        local dom
        for dom in "${STACK_DOMAINS[@]}"; do
                stack_daemon "$dom" || { stack_down; return 1; }
                if [[ $dom == identity ]]; then
                        stack_enroll || { stack_down; return 1; }
                fi
        done
        stack_env >"$STACK_DIR/devstack.env"
}

# stack_stop NAME: SIGTERM, then SIGKILL after 10 s; report the exit status.
stack_stop() {
        local name=$1 pid=${STACK_PID[$1]:-} i
        [[ -n $pid ]] || return 0
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 200; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        local rc=$?
        unset "STACK_PID[$name]"
        return "$rc"
}

stack_down() {
        local name
        # Daemons first, then what they use.
        for name in "${STACK_DOMAINS[@]}" device-broker cloud-broker dbus; do
                stack_stop "$name"
        done
        if [[ -n ${STACK_DIR:-} ]] && mountpoint -q "$STACK_DIR/state" 2>/dev/null && [[ ${STACK_KEEP:-0} != 1 ]]; then
                umount "$STACK_DIR/state"
        fi
        if [[ -n ${STACK_DIR:-} && -d $STACK_DIR && ${STACK_KEEP:-0} != 1 ]]; then
                rm -rf "$STACK_DIR"
        fi
        return 0
}

stack_env() {
        cat <<EOF
# hubguard devstack: source this file to reach every part of the stack.
export DBUS_SYSTEM_BUS_ADDRESS=$STACK_BUS_ADDRESS
export HUBCTL=$STACK_BUILD/src/hubctl/hubctl
export HUBGUARD_STATE_DIR=$STACK_DIR/state
export HUBGUARD_CONFIG_DIR=$STACK_DIR/etc
export HUBGUARD_LOG_DIR=$STACK_DIR/log
export HUBGUARD_DEVICE_BROKER_HOST=127.0.0.1
export HUBGUARD_DEVICE_BROKER_PORT=$STACK_DEVICE_PORT
export HUBGUARD_DEVICE_BROKER_USER=$STACK_DEVICE_USER
export HUBGUARD_DEVICE_BROKER_PASSWORD=$STACK_DEVICE_PASSWORD
export HUBGUARD_CLOUD_BROKER_HOST=localhost
export HUBGUARD_CLOUD_BROKER_PORT=$STACK_CLOUD_PORT
export HUBGUARD_CLOUD_CAFILE=$STACK_DIR/pki/ca.pem
export HUBGUARD_CLOUD_OBSERVER_CERT=$STACK_DIR/pki/observer.pem
export HUBGUARD_CLOUD_OBSERVER_KEY=$STACK_DIR/pki/observer.key
export HUBGUARD_DEVICE_CERT=$STACK_DIR/pki/device.pem
export HUBGUARD_DEVICE_KEY=$STACK_DIR/pki/device.key
EOF
}
