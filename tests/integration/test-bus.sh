#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The daemons on a private bus with the project's own policy: names, users, status, access.
. "$(dirname "$0")/lib.sh"
it_setup

version=$("$HUBCTL" --version | awk '{print $2}')

# ---- each daemon owns its name, under its own user
for dom in identity telemetry privacy; do
        owner=$(bus call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                GetConnectionUnixUser s "org.hubguard.${dom}1" | awk '{print $2}')
        it_is "org.hubguard.${dom}1 is owned by user hub-$dom" "$(id -u "hub-$dom")" "$owner"
done

# ---- hubctl status as root (telemetry reports "online" once its cloud link is up)
it_wait "$HUBCTL" status
out=$("$HUBCTL" status)
it_is "hubctl status exits 0 when all are running" 0 $?
for dom in identity privacy; do
        it_match "hubctl status shows $dom running" "$dom +running +$version" "$out"
done
it_match "hubctl status shows telemetry online" "telemetry +online +$version" "$out"

json=$("$HUBCTL" status --json)
it_is "hubctl status --json exits 0" 0 $?
it_is "JSON: healthy" true "$(jq -r .healthy <<<"$json")"
for dom in identity telemetry privacy; do
        want=running
        [[ $dom == telemetry ]] && want=online
        it_is "JSON: $dom reachable/version/state" "true $version $want" \
                "$(jq -r ".domains.$dom | \"\(.reachable) \(.version) \(.state)\"" <<<"$json")"
done
it_is "--json before the command works too" "$json" "$("$HUBCTL" --json status)"

# ---- a hubadmin member may read status; a stranger may not
hubctl_as "$IT_ADMIN" status >/dev/null
it_is "a hubadmin member gets status (exit 0)" 0 $?
out=$(hubctl_as "$IT_STRANGER" status 2>&1)
it_is "a stranger's hubctl status exits 1" 1 $?
it_match "a stranger is told why and what to do" "permission denied: run as root or as a member of group hubadmin" "$out"
json=$(hubctl_as "$IT_STRANGER" status --json)
it_is "JSON for a stranger: nothing reachable" "false false false false" \
        "$(jq -r '[.healthy, .domains.identity.reachable, .domains.telemetry.reachable, .domains.privacy.reachable] | join(" ")' <<<"$json")"
it_ok "a stranger cannot read a property with busctl" \
        bash -c "! runuser -u $IT_STRANGER -- busctl --address=$DBUS_SYSTEM_BUS_ADDRESS get-property org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager State"

# ---- LogControl1: root may change the level, hubadmin may only read it
for dom in identity telemetry privacy; do
        name=org.hubguard.${dom}1
        bus set-property "$name" /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel s debug
        it_is "root sets LogLevel of $dom" 's "debug"' \
                "$(bus get-property "$name" /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel)"
        it_ok "hubadmin reads LogLevel of $dom" \
                bus_as "$IT_ADMIN" get-property "$name" /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel
        err=$(bus_as "$IT_ADMIN" set-property "$name" /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel s err 2>&1)
        it_match "the policy refuses hubadmin setting LogLevel of $dom" "denied|Access" "$err"
done
err=$(bus set-property org.hubguard.identity1 /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel s loud 2>&1)
it_match "an invalid LogLevel is refused with the reason" "Invalid LogLevel" "$err"

# ---- defence in depth: with a policy opened by hand, the daemon itself still refuses
cat >"$STACK_DIR/bus/system.d/zz-opened-by-hand.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy group="hubadmin"><allow send_destination="org.hubguard.identity1"/></policy></busconfig>
XML
bus call org.freedesktop.DBus / org.freedesktop.DBus ReloadConfig
err=$(bus_as "$IT_ADMIN" set-property org.hubguard.identity1 /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel s err 2>&1)
it_match "hub-identityd refuses a non-root LogLevel change the policy let through" "Access denied" "$err"
it_is "... and the level is unchanged" 's "debug"' \
        "$(bus get-property org.hubguard.identity1 /org/freedesktop/LogControl1 org.freedesktop.LogControl1 LogLevel)"
it_ok "... itself (not the bus), logged with uid and MESSAGE_ID ACCESS_DENIED" \
        grep -q "Refused to change LogLevel for uid $(id -u $IT_ADMIN). MESSAGE_ID=75e90da1a96c452cba4fb5e72509b616" \
        "$HUBGUARD_LOG_DIR/hub-identityd.log"
rm "$STACK_DIR/bus/system.d/zz-opened-by-hand.conf"
bus call org.freedesktop.DBus / org.freedesktop.DBus ReloadConfig

# ---- the interfaces are what conf/interfaces/ says
for dom in identity telemetry privacy; do
        iface=org.hubguard.${dom}1.Manager
        live=$("$STACK_SRC/tests/integration/introspect-iface.sh" "$DBUS_SYSTEM_BUS_ADDRESS" \
                "org.hubguard.${dom}1" "/org/hubguard/${dom}1" "$iface")
        it_is "$iface matches conf/interfaces/$iface.xml" "$(cat "$STACK_SRC/conf/interfaces/$iface.xml")" "$live"
done
