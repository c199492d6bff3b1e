#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hubctl security-report against a live stack: the verdicts it can show from this stack, JSON that
# parses, and each kind of breakage (a readable key, a stopped daemon, a placeholder or expired
# disclosure policy) failing its provision with a remedy and the exit status that says so.
. "$(dirname "$0")/lib.sh"
it_setup

build_txt=$STACK_BUILD/conf/security.txt
good_txt=$STACK_DIR/security.txt
# What this build was configured with (meson -Dsecurity_contact= -Dsupport_end=).
built_contact=$(sed -n 's/^Contact: //p' "$build_txt")
built_end=$(sed -n 's/^Expires: \(.*\)T23:59:59Z$/\1/p' "$build_txt")
# A policy with a contact that is not a placeholder (.test is reserved for tests, not for examples).
sed -e 's|^Contact: .*|Contact: mailto:psirt@hub-maker.test|' -e 's|^Policy: .*|Policy: https://hub-maker.test/security|' \
        "$build_txt" >"$good_txt"

# report [ARGS...]: the JSON report as root; REPORT_RC is its exit status.
report() {
        REPORT=$("$HUBCTL" security-report --json "$@")
        REPORT_RC=$?
}
# verdict PROVISION: its verdict in $REPORT
verdict() { jq -r --arg p "$1" '.checks[] | select(.provision == $p) | .verdict' <<<"$REPORT"; }
field() { jq -r --arg p "$1" --arg f "$2" '.checks[] | select(.provision == $p) | .[$f]' <<<"$REPORT"; }
# The exit status must follow the mandatory rows: 1 if one fails or is unknown, else 0.
expected_rc() {
        jq -e '[.checks[] | select(.mandatory and (.verdict == "fail" or .verdict == "unknown"))] | length == 0' \
                <<<"$REPORT" >/dev/null && echo 0 || echo 1
}

# ---- a healthy stack
report --security-txt="$good_txt"
it_ok "--json is valid JSON (python3 -m json.tool)" python3 -m json.tool <<<"$REPORT"
it_is "one row per check, 10 checks" 10 "$(jq '.checks | length' <<<"$REPORT")"
it_is "every verdict is one of the four" 0 \
        "$(jq '[.checks[] | select(.verdict | IN("pass","fail","not-applicable","unknown") | not)] | length' <<<"$REPORT")"
it_is "the report names the security contact and the support end built in" \
        "$built_contact $built_end" "$(jq -r '"\(.security_contact) \(.support_end)"' <<<"$REPORT")"
it_is "5.1-1 (no universal password) passes: a generated per-device password" pass "$(verdict 5.1-1)"
it_match "5.1-1 evidence is the daemon's PasswordOrigin" 'PasswordOrigin=generated' "$(field 5.1-1 evidence)"
it_is "5.2-1 (disclosure policy) passes with a real contact" pass "$(verdict 5.2-1)"
it_is "5.3-13 (support period) passes" pass "$(verdict 5.3-13)"
it_is "5.4-1 (secrets stored securely) passes" pass "$(verdict 5.4-1)"
it_is "5.5-1 (TLS to the cloud) passes" pass "$(verdict 5.5-1)"
it_match "5.5-1 evidence: minimum TLS 1.2 and the CA file, as the running daemon uses them" \
        "CloudTLSMinVersion=tls1.2, CloudCAFile=$STACK_DIR/pki/ca.pem" "$(field 5.5-1 evidence)"
it_is "5.6-1 (no listening socket) passes" pass "$(verdict 5.6-1)"
it_match "5.6-1 evidence covers all three daemons' sockets" \
        'hub-identityd \(pid [0-9]+\): [0-9]+ sockets, none listening.*hub-telemetryd.*hub-privacyd' \
        "$(field 5.6-1 evidence)"
# The stack runs the daemons with setpriv, not in their units: no seccomp, no NoNewPrivs.
it_is "5.6-7 (least privilege) fails outside the systemd units, and says why" fail "$(verdict 5.6-7)"
it_match "5.6-7 evidence: no capabilities, but no seccomp filter" 'CapEff 0000000000000000, NoNewPrivs 0, Seccomp 0' \
        "$(field 5.6-7 evidence)"
it_match "5.6-7 remedy: the systemd units" 'systemctl start hubguard.target' "$(field 5.6-7 remedy)"
it_is "5.9-1 (durable outbox) passes" pass "$(verdict 5.9-1)"
# Anomaly scoring and erase land on other branches: the verdicts follow the live interfaces.
for row in "5.10-1 telemetry1 AnomalyDetected" "5.11-1 privacy1 Erase"; do
        read -r prov dom member <<<"$row"
        if bus introspect "org.hubguard.$dom" "/org/hubguard/$dom" "org.hubguard.$dom.Manager" | grep -q "^\.$member "; then
                want=pass
        else
                want=fail
        fi
        it_is "$prov follows whether org.hubguard.$dom.Manager has $member ($want)" "$want" "$(verdict "$prov")"
done
it_is "the exit status follows the mandatory rows" "$(expected_rc)" "$REPORT_RC"

text=$("$HUBCTL" security-report --security-txt="$good_txt")
it_match "the text report has one line per provision with its verdict" \
        '5\.4-1 +mandatory +pass +Secrets are stored securely' "$text"
it_match "the text report ends with the counts" '[0-9]+ pass, [0-9]+ fail, [0-9]+ not applicable, [0-9]+ unknown\.' "$text"

# ---- hubctl status shows the contact and the support end too
it_is "hubctl status --json: security_contact and support_end" "$built_contact $built_end" \
        "$("$HUBCTL" status --json | jq -r '"\(.security_contact) \(.support_end)"')"
it_match "hubctl status: where to report, and until when" \
        "Report vulnerabilities to: $built_contact.*Security updates until: +$built_end" \
        "$("$HUBCTL" status | tr '\n' ' ')"

# ---- a placeholder contact (the default build's): 5.2-1 fails and says who fixes it
sed 's|^Contact: .*|Contact: mailto:devel@hubguard.example|' "$good_txt" >"$STACK_DIR/placeholder.txt"
report --security-txt="$STACK_DIR/placeholder.txt"
it_is "5.2-1 fails with the placeholder contact" fail "$(verdict 5.2-1)"
it_match "5.2-1 remedy: the maker sets -Dsecurity_contact" '-Dsecurity_contact=' "$(field 5.2-1 remedy)"
it_is "a failing mandatory provision exits 1" 1 "$REPORT_RC"

# ---- an expired policy, and none at all
sed 's|^Expires: .*|Expires: 2020-01-01T00:00:00Z|' "$good_txt" >"$STACK_DIR/expired.txt"
report --security-txt="$STACK_DIR/expired.txt"
it_is "5.2-1 fails when the policy has expired" fail "$(verdict 5.2-1)"
report --security-txt="$STACK_DIR/missing.txt"
it_is "5.2-1 fails when the policy is missing" fail "$(verdict 5.2-1)"
it_match "... and says to reinstall" 'Reinstall hubguard' "$(field 5.2-1 remedy)"

# ---- a private key readable by others
key=$HUBGUARD_STATE_DIR/identity/device.key
chmod 0644 "$key"
report --security-txt="$good_txt"
it_is "5.4-1 fails when the device key is mode 0644" fail "$(verdict 5.4-1)"
it_match "5.4-1 evidence names the key and its mode" "device.key is mode 0644" "$(field 5.4-1 evidence)"
it_match "5.4-1 remedy: chmod go-rwx on it" "chmod go-rwx '.*device.key'" "$(field 5.4-1 remedy)"
it_is "... and the report exits 1" 1 "$REPORT_RC"
text=$("$HUBCTL" security-report --security-txt="$good_txt")
it_match "the text report prints the remedy under the failing row" \
        "5\.4-1 +mandatory +fail .*"$'\n'" +evidence: .*device.key.*"$'\n'" +remedy: +chmod go-rwx" "$text"
chmod 0600 "$key"
chmod 0755 "$HUBGUARD_STATE_DIR/privacy"
report --security-txt="$good_txt"
it_is "5.4-1 fails when a state directory is 0755" fail "$(verdict 5.4-1)"
it_match "5.4-1 remedy: chmod 0700 the directory" "chmod 0700 '$HUBGUARD_STATE_DIR/privacy'" "$(field 5.4-1 remedy)"
chmod 0700 "$HUBGUARD_STATE_DIR/privacy"
odd=$HUBGUARD_STATE_DIR/privacy/$'odd\nname\xff'
install -m 0644 -o hub-privacy /dev/null "$odd"
report --security-txt="$good_txt"
it_ok "a file name with a newline and invalid UTF-8 still gives valid JSON" python3 -m json.tool <<<"$REPORT"
it_match "... and 5.4-1 names it, made printable" 'privacy/odd\?name\? is mode 0644' "$(field 5.4-1 evidence)"
rm -f "$odd"
report --security-txt="$good_txt"
it_is "5.4-1 passes again once fixed" pass "$(verdict 5.4-1)"

# ---- a hub administrator sees what the bus shows, and 'unknown' for what only root may read
REPORT=$(hubctl_as "$IT_ADMIN" security-report --json --security-txt="$good_txt")
REPORT_RC=$?
it_is "as hubadmin, 5.1-1 still passes (properties are open to the group)" pass "$(verdict 5.1-1)"
it_is "as hubadmin, 5.5-1 passes (the daemon's command line names its configuration)" pass "$(verdict 5.5-1)"
it_is "as hubadmin, 5.6-1 is unknown (other users' /proc/PID/fd)" unknown "$(verdict 5.6-1)"
it_match "... with a remedy: run as root" 'as root' "$(field 5.6-1 remedy)"
it_is "as hubadmin, the exit status is 1 (a mandatory provision cannot be shown)" 1 "$REPORT_RC"

# ---- a stranger may not read the daemons at all
REPORT=$(hubctl_as "$IT_STRANGER" security-report --json --security-txt="$good_txt")
it_is "as a stranger, 5.1-1 is unknown (the bus policy denies the properties)" unknown "$(verdict 5.1-1)"

# ---- hub-telemetryd stopped
stack_stop telemetry
report --security-txt="$good_txt"
it_is "with hub-telemetryd stopped, 5.9-1 (outbox) fails" fail "$(verdict 5.9-1)"
it_match "... with a remedy to start it" 'systemctl start hub-telemetryd.service' "$(field 5.9-1 remedy)"
it_is "... 5.5-1 (TLS in force) is unknown" unknown "$(verdict 5.5-1)"
it_is "... and the report exits 1" 1 "$REPORT_RC"

# ---- usage
"$HUBCTL" security-report extra >/dev/null 2>&1
it_is "an argument is a usage error (exit 2)" 2 $?
"$HUBCTL" security-report --bogus >/dev/null 2>&1
it_is "an unknown option is a usage error (exit 2)" 2 $?
it_match "--help describes the exit status" 'Exit status: 0 if no mandatory provision fails' \
        "$("$HUBCTL" security-report --help)"
