#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad configuration, a missing bus, bad command lines, corrupt and too-new databases: each gets one
# clear message naming what is wrong and where, a non-zero exit, and changes nothing.
. "$(dirname "$0")/lib.sh"
it_setup

bin() { echo "$STACK_BUILD/src/${1}d/hub-${1}d"; }
etc=$HUBGUARD_CONFIG_DIR
dropin=$etc/hubguard.conf.d/50-test.conf

# ---- configuration
out=$("$(bin identity)" --check-config --config-dir="$etc" 2>&1)
it_is "--check-config accepts the shipped hubguard.conf" "0:" "$?:$out"
"$(bin identity)" --dump-config --config-dir="$etc" >"$STACK_DIR/dump.conf"
mkdir -p "$STACK_DIR/etc2" && cp "$STACK_DIR/dump.conf" "$STACK_DIR/etc2/hubguard.conf"
it_ok "--dump-config prints a configuration --check-config accepts" \
        "$(bin telemetry)" --check-config --config-dir="$STACK_DIR/etc2"

printf '[identity]\n# a comment\nFoo=1\n' >"$dropin"
out=$("$(bin identity)" --check-config --config-dir="$etc" 2>&1)
it_is "an unknown key fails --check-config" 1 $?
it_is "... naming file, line and key" "$dropin:3: unknown key 'Foo' in section [identity]" "$out"

printf '[general]\nLogLevel=loud\n' >"$dropin"
out=$("$(bin privacy)" --check-config --config-dir="$etc" 2>&1)
it_is "a bad value fails, naming file, line, value and what is expected" \
        "$dropin:2: invalid value 'loud' for LogLevel (expected one of emerg, alert, crit, err, warning, notice, info, debug)" "$out"

printf '[cloud]\n' >"$dropin"
out=$("$(bin privacy)" --check-config --config-dir="$etc" 2>&1)
it_match "an unknown section fails" "^$dropin:1: unknown section \[cloud\]" "$out"

printf '[general]\nLogLevel=debug\n' >"$dropin" && chmod 0600 "$dropin"
out=$(setpriv --reuid=hub-identity --regid=hub-identity --init-groups "$(bin identity)" --check-config --config-dir="$etc" 2>&1)
it_is "an unreadable drop-in fails, naming the file" "1:$dropin: cannot read: Permission denied" "$?:$out"
chmod 0644 "$dropin"

mkdir -p "$STACK_DIR/etc3" && printf '[telemetry]\nCloudBrokerHost=mqtt.example.net\n' >"$STACK_DIR/etc3/hubguard.conf"
out=$("$(bin telemetry)" --check-config --config-dir="$STACK_DIR/etc3" 2>&1)
it_is "a cloud broker without a CA is refused: no plaintext fallback" 1 $?
it_match "... saying so" "CloudBrokerHost= is set but CloudCAFile= is not: hubguard only talks to a cloud broker over TLS" "$out"

# A daemon started on a bad configuration stops before it touches anything.
printf '[identity]\nLogLevel=loud\n' >"$dropin"
stack_stop identity
rm -rf "$HUBGUARD_STATE_DIR/identity" && mkdir -p "$HUBGUARD_STATE_DIR/identity" &&
        chown hub-identity: "$HUBGUARD_STATE_DIR/identity" && chmod 0700 "$HUBGUARD_STATE_DIR/identity"
: >"$HUBGUARD_LOG_DIR/hub-identityd.log"
STACK_TIMEOUT=3 stack_daemon identity 2>/dev/null
it_is "hub-identityd refuses to start on a bad configuration" 1 $?
wait "${STACK_PID[identity]}" 2>/dev/null
it_is "... exits with status 1" 1 $?
unset "STACK_PID[identity]"
it_ok "... logs the file and line with MESSAGE_ID CONFIG_INVALID" \
        grep -q "Invalid configuration: $dropin:2: invalid value 'loud'.*MESSAGE_ID=43ccbdc92340475f80c43d52c008625f" \
        "$HUBGUARD_LOG_DIR/hub-identityd.log"
it_ok "... and created no database" test ! -e "$HUBGUARD_STATE_DIR/identity/identity.db"
rm -f "$dropin"
stack_daemon identity
it_is "it starts once the configuration is fixed" 0 $?

# ---- command lines
out=$("$(bin identity)" --frobnicate 2>&1)
it_is "a daemon refuses an unknown option with exit 2" 2 $?
it_match "... and says what to do" "unknown option '--frobnicate'. Try 'hub-identityd --help'" "$out"
"$(bin identity)" extra >/dev/null 2>&1
it_is "a daemon refuses positional arguments with exit 2" 2 $?
it_match "--version prints the version" "^hub-privacyd [0-9]+\.[0-9]+\.[0-9]+$" "$("$(bin privacy)" --version)"
it_match "--help documents --check-config" "--check-config" "$("$(bin telemetry)" --help)"

out=$("$HUBCTL" frobnicate 2>&1)
it_is "hubctl refuses an unknown command with exit 2" 2 $?
it_is "... and says what to do" "hubctl: unknown command 'frobnicate'.
Try 'hubctl --help'." "$out"
out=$("$HUBCTL" --frobnicate 2>&1)
it_is "hubctl refuses an unknown option with exit 2" 2 $?
out=$("$HUBCTL" status extra 2>&1)
it_is "hubctl status refuses arguments with exit 2" "2:hubctl status: takes no arguments ('extra').
Try 'hubctl status --help'." "$?:$out"
out=$("$HUBCTL" status --frobnicate 2>&1)
it_is "hubctl status refuses an unknown option with exit 2" 2 $?
it_match "hubctl status --help prints its usage and exit statuses" "^hubctl status \[--json\].*Exit status" \
        "$("$HUBCTL" status --help | tr '\n' ' ')"
it_is "hubctl help status is the same text" "$("$HUBCTL" status --help)" "$("$HUBCTL" help status)"
it_match "hubctl --help lists status" "status +Show whether each domain" "$("$HUBCTL" --help)"
"$HUBCTL" >/dev/null 2>&1
it_is "hubctl without a command exits 2" 2 $?

# ---- a missing bus
out=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=$STACK_DIR/no-such-socket "$HUBCTL" status 2>&1)
it_is "hubctl without a bus exits 1" 1 $?
it_match "... naming the address and what to do" \
        "cannot connect to the system bus at 'unix:path=$STACK_DIR/no-such-socket'.*Is dbus running" "$(tr '\n' ' ' <<<"$out")"
out=$(setpriv --reuid=hub-privacy --regid=hub-privacy --init-groups env STATE_DIRECTORY="$HUBGUARD_STATE_DIR/privacy" \
        DBUS_SYSTEM_BUS_ADDRESS=unix:path=$STACK_DIR/no-such-socket "$(bin privacy)" --config-dir="$etc" 2>&1)
it_is "a daemon without a bus exits 1" 1 $?
it_match "... naming the address" "Failed to connect to the system bus at 'unix:path=$STACK_DIR/no-such-socket'" "$out"

# ---- a database that is not a database: moved aside, rebuilt, reported
stack_stop privacy
db=$HUBGUARD_STATE_DIR/privacy/privacy.db
head -c 8192 /dev/urandom >"$db"
chown hub-privacy: "$db"
cp "$db" "$STACK_DIR/garbage"
: >"$HUBGUARD_LOG_DIR/hub-privacyd.log"
stack_daemon privacy
it_is "hub-privacyd starts on a corrupt database" 0 $?
it_ok "the corrupt file is kept as privacy.db.corrupt" cmp -s "$STACK_DIR/garbage" "$db.corrupt"
it_ok "the loss is reported with MESSAGE_ID DB_REBUILT" \
        grep -q "was corrupt: moved aside.*MESSAGE_ID=fdfc3981599541aebdc968c1da314e49" "$HUBGUARD_LOG_DIR/hub-privacyd.log"
it_is "the new database passes the integrity check" ok "$(sqlite3 "$db" 'PRAGMA integrity_check')"
it_is "hubctl status shows privacy running" 0 "$("$HUBCTL" status >/dev/null; echo $?)"

# A database with a torn page inside (valid header, damaged b-tree).
stack_stop privacy
sqlite3 "$db" "CREATE TABLE filler(x); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2000) INSERT INTO filler SELECT randomblob(200) FROM c; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
# A page of the filler table (the last pages of the file), whatever the schema's own tables take first.
printf '\xff%.0s' $(seq 1 600) | dd of="$db" bs=1 seek=$(($(stat -c %s "$db") - 4096 * 50 + 8)) conv=notrunc status=none
: >"$HUBGUARD_LOG_DIR/hub-privacyd.log"
stack_daemon privacy
it_is "hub-privacyd starts on a database with a damaged page" 0 $?
it_ok "... having found it with the integrity check and rebuilt it" \
        grep -q "MESSAGE_ID=fdfc3981599541aebdc968c1da314e49" "$HUBGUARD_LOG_DIR/hub-privacyd.log"

# ---- a database from a newer version: refused, untouched
stack_stop privacy
sqlite3 "$db" "PRAGMA user_version=99"
sum=$(sha256sum <"$db")
STACK_TIMEOUT=3 stack_daemon privacy 2>/dev/null
wait "${STACK_PID[privacy]}" 2>/dev/null
it_is "hub-privacyd refuses a database with a newer schema (exit 1)" 1 $?
unset "STACK_PID[privacy]"
it_ok "... saying why" grep -q "has a newer schema than hub-privacyd" "$HUBGUARD_LOG_DIR/hub-privacyd.log"
it_is "... and leaves it untouched" "$sum" "$(sha256sum <"$db")"
