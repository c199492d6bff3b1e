#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hub-identityd on a real bus: first-boot password, reveal, throttling, lockout, change, locked mode,
# device identity. EN 303 645 5.1-1, 5.1-2, 5.1-4, 5.1-5, 5.4-1, 5.4-4.
. "$(dirname "$0")/lib.sh"
it_setup

state=$HUBGUARD_STATE_DIR/identity
dropin=$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-identity-test.conf
verify() { # verify USER PASSWORD [SOURCE]: prints the error name, or "ok"
        local user=$1 pw=$2 opts=(a{sv} 0)
        [[ -n ${3:-} ]] && opts=(a{sv} 1 Source s "$3")
        local out
        if [[ $user == root ]]; then
                out=$(bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
                        VerifyPassword ssa{sv} admin "$pw" "${opts[@]:1}" 2>&1)
        else
                out=$(bus_as "$user" call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager \
                        VerifyPassword ssa{sv} admin "$pw" "${opts[@]:1}" 2>&1)
        fi
        local rc=$?
        if ((rc == 0)); then echo ok; else echo "$out"; fi
}
restart_identity() {
        stack_stop identity
        stack_daemon identity
}

# ---- first boot: a unique password, only its hash stored, revealed to root only
pw1=$("$HUBCTL" provision show-initial)
it_is "show-initial as root exits 0" 0 $?
it_match "the generated password is 4 groups of 5 from the look-alike-free alphabet" \
        '^[2-9a-hjkmnp-z]{5}(-[2-9a-hjkmnp-z]{5}){3}$' "$pw1"
it_is "provision status says generated" "true generated" \
        "$("$HUBCTL" provision status --json | jq -r '"\(.provisioned) \(.password_origin)"')"
hash=$(sqlite3 "$state/identity.db" "SELECT hash FROM credential WHERE account='admin'")
it_match "only an Argon2id hash is stored" '^\$argon2id\$v=19\$m=65536,t=2,p=1\$' "$hash"
it_ok "the password is in no log" bash -c "! grep -rqF -- '$pw1' '$HUBGUARD_LOG_DIR'"
it_ok "the password is in no file of the state dir, not even the WAL" bash -c "! grep -rqaF -- '$pw1' '$state'"
it_ok "the reveal is logged as a security event (without the password)" \
        grep -q "initial admin password was revealed to uid 0. MESSAGE_ID=b4e10cf9c81147e7a35535214bbadaa3" \
        "$HUBGUARD_LOG_DIR/hub-identityd.log"
out=$(hubctl_as "$IT_ADMIN" provision show-initial 2>&1)
it_is "a hubadmin member may not see the initial password" 1 $?
it_match "... and is told it needs root" "permission denied: this needs root" "$out"
out=$(hubctl_as "$IT_STRANGER" provision show-initial 2>&1)
it_is "nor may a stranger" 1 $?
it_is "the right password verifies (root)" ok "$(verify root "$pw1")"
it_is "the right password verifies (hubadmin)" ok "$(verify "$IT_ADMIN" "$pw1")"
it_match "a stranger is refused VerifyPassword by hub-identityd" "Access denied|AccessDenied" "$(verify "$IT_STRANGER" "$pw1")"
it_is "the stack enrolled the hub: its certificate is issued by the CA" false \
        "$("$HUBCTL" identity show --json | jq -r .certificate_self_signed)"
it_ok "... and verifies against the CA" openssl verify -CAfile "$STACK_DIR/pki/ca.pem" "$state/device.pem"
fp1=$("$HUBCTL" identity show --json | jq -r .key_fingerprint)
it_match "the device key has a SHA-256 fingerprint" '^SHA256:[0-9a-f]{64}$' "$fp1"
it_ok "the device key is 0600 in the 0700 state dir" \
        test "$(stat -c %a "$state/device.key") $(stat -c %a "$state")" = "600 700"
it_ok "nothing in the state dir is readable by others" test -z "$(find "$state" -perm /o+r ! -name device.pem)"

# ---- a second hub made from the same image: different password, different key
stack_stop identity
mv "$state" "$state.first"
stack_daemon identity
pw2=$("$HUBCTL" provision show-initial)
fp2=$("$HUBCTL" identity show --json | jq -r .key_fingerprint)
it_ok "a fresh hub gets another password" test "$pw1" != "$pw2"
it_ok "a fresh hub gets another device key" test "$fp1" != "$fp2"
it_ok "... and another device id" test "$(sqlite3 "$state.first/identity.db" "SELECT value FROM meta WHERE key='device_id'")" != \
        "$("$HUBCTL" identity show --json | jq -r .device_id)"
rm -rf "$state.first"

# ---- brute force: delays enforced, then lockout, state kept across a restart
printf '[identity]\nThrottleBaseSec=1\nThrottleMaxSec=2\nLockoutAfterFailures=5\nLockoutSec=4\n' >"$dropin"
restart_identity
bus monitor --match "type='signal',interface='org.hubguard.identity1.Manager',member='AuthFailure'" \
        >"$STACK_DIR/signals.txt" 2>/dev/null &
monitor=$!
sleep 0.3
start=$(date +%s.%N)
failures=0 throttled=0 locked=0 first_locked=
times=()
for ((i = 1; i <= 20; i++)); do
        res=$(verify root "wrong-$i" 10.0.0.7)
        case $res in
        *WrongPassword* | *"Wrong password"*) failures=$((failures + 1)); times+=("$(date +%s.%N)") ;;
        *Throttled* | *"try again"*) throttled=$((throttled + 1)); sleep 0.5; i=$((i - 1)) ;;
        *LockedOut* | *locked*) locked=$((locked + 1)); [[ -n $first_locked ]] || first_locked=$i ;;
        *) echo "# unexpected: $res" ;;
        esac
        ((throttled > 60)) && break
done
it_is "5 wrong attempts were judged, then the account was locked" "5 6" "$failures ${first_locked:-none}"
it_is "the other 15 attempts were refused as locked out" 15 "$locked"
it_ok "attempts that came too early were refused (throttled)" test "$throttled" -gt 0
gaps_ok=1
for ((k = 1; k < ${#times[@]}; k++)); do
        need=$((k == 1 ? 1 : 2))
        awk -v a="${times[k - 1]}" -v b="${times[k]}" -v n="$need" 'BEGIN { exit !(b - a >= n - 0.05) }' || gaps_ok=0
done
it_is "failures were at least the enforced delays apart (1 s, then 2 s)" 1 "$gaps_ok"
it_match "the right password is refused while locked out" "locked" "$(verify root "$pw2")"
kill "$monitor" 2>/dev/null
wait "$monitor" 2>/dev/null
it_is "an AuthFailure signal was sent for each failure" 5 "$(grep -c "Member=AuthFailure" "$STACK_DIR/signals.txt")"
it_ok "the signal names the account and source" grep -q 'STRING "uid:0/10.0.0.7"' "$STACK_DIR/signals.txt"
it_ok "the lockout is in the log with its MESSAGE_ID" \
        grep -q "locked after 5 failed attempts.*MESSAGE_ID=fac6397c754a4bdc81a8f483f9e182e0" "$HUBGUARD_LOG_DIR/hub-identityd.log"

restart_identity
it_match "a restart does not reset the lockout" "locked" "$(verify root "$pw2")"
sleep 4
it_is "after the cool-down the right password works" ok "$(verify root "$pw2")"
it_match "an unknown option is refused" "Unsupported option" \
        "$(bus call org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager VerifyPassword ssa{sv} admin x 1 Frob s y 2>&1)"
it_match "a bad source label is refused" "Source must be" "$(verify root x 'bad label;')"
it_match "an over-long password is refused before any work" "must be 1 to 256 bytes" "$(verify root "$(head -c 300 /dev/zero | tr '\0' a)")"

# ---- the owner changes the password: strength checked, initial password forgotten
out=$(printf '%s\n%s\n' "$pw2" "password1" | hubctl_as "$IT_ADMIN" password change --stdin 2>&1)
it_is "a weak new password is refused" 1 $?
it_match "... with the reason" "too weak: " "$out"
new='Quartz-Lantern-Bicycle-47'
printf '%s\n%s\n' "$pw2" "$new" | hubctl_as "$IT_ADMIN" password change --stdin >/dev/null
it_is "a hubadmin member changes the password with the old one" 0 $?
it_is "the new password verifies" ok "$(verify root "$new")"
it_match "the old one does not" "Wrong password" "$(verify root "$pw2")"
out=$("$HUBCTL" provision show-initial 2>&1)
it_is "show-initial is refused once the owner set a password" 1 $?
it_match "... saying why" "owner has set their own password" "$out"
it_is "the sealed initial password is deleted" 0 "$(sqlite3 "$state/identity.db" 'SELECT count(*) FROM sealed')"
it_ok "the initial password is nowhere in the state dir" bash -c "! grep -rqaF -- '$pw2' '$state'"
it_is "provision status says owner" owner "$("$HUBCTL" provision status --json | jq -r .password_origin)"
out=$(printf 'wrong-old\n%s\n' "Another-Strong-Pass-93" | hubctl_as "$IT_ADMIN" password change --stdin 2>&1)
it_match "a change with a wrong old password is throttled like any failed attempt" "try again in" "$out"
sleep 2.1
out=$(printf 'wrong-old\n%s\n' "Another-Strong-Pass-93" | hubctl_as "$IT_ADMIN" password change --stdin 2>&1)
it_match "... and then refused as a wrong password" "Wrong password" "$out"
it_is "... leaving the password as it was" ok "$(sleep 4.1; verify root "$new")"

# ---- root resets a forgotten password without the old one
printf '\n%s\n' "Cobalt-Meadow-Tunnel-81" | "$HUBCTL" password change --stdin >/dev/null
it_is "root resets the password with an empty old password" 0 $?
it_is "... and the new one verifies" ok "$(verify root Cobalt-Meadow-Tunnel-81)"

# ---- service users named in VerifyPasswordUsers= may verify; others may not
printf '[identity]\nVerifyPasswordUsers=hub-privacy\n' >"$dropin"
restart_identity
it_is "a service user listed in VerifyPasswordUsers= may call VerifyPassword" ok \
        "$(verify hub-privacy Cobalt-Meadow-Tunnel-81)"
it_match "a service user not listed may not" "Access denied" "$(verify hub-telemetry Cobalt-Meadow-Tunnel-81)"
rm -f "$dropin"

# ---- locked mode: no password until root sets one
stack_stop identity
rm -rf "$state"
printf '[identity]\nFirstBootPassword=none\n' >"$dropin"
stack_daemon identity
it_is "locked mode: not provisioned" "false none" \
        "$("$HUBCTL" provision status --json | jq -r '"\(.provisioned) \(.password_origin)"')"
it_match "locked mode: VerifyPassword says nothing is set" "No password is set yet" "$(verify root anything)"
out=$(echo "Granite-Harbor-Violet-58" | hubctl_as "$IT_ADMIN" password set --stdin 2>&1)
it_is "locked mode: hubadmin may not set the first password" 1 $?
echo "Granite-Harbor-Violet-58" | "$HUBCTL" password set --stdin >/dev/null
it_is "locked mode: root sets the first password" 0 $?
it_is "... which then verifies" ok "$(verify root Granite-Harbor-Violet-58)"
out=$(echo "Granite-Harbor-Violet-59" | "$HUBCTL" password set --stdin 2>&1)
it_match "a second 'password set' is refused" "already set" "$out"
rm -f "$dropin"

# ---- device identity: CSR, certificate installation with checks
"$HUBCTL" identity csr -o "$STACK_DIR/hub.csr"
it_ok "the CSR is valid and self-signed by the device key" openssl req -in "$STACK_DIR/hub.csr" -noout -verify
devid=$("$HUBCTL" identity show --json | jq -r .device_id)
it_match "the CSR names the device id" "CN *= *$devid" "$(openssl req -in "$STACK_DIR/hub.csr" -noout -subject)"
it_is "the development certificate is self-signed" true "$("$HUBCTL" identity show --json | jq -r .certificate_self_signed)"
sign() { # sign CSR CA_CERT CA_KEY OUT [DAYS]
        openssl x509 -req -in "$1" -CA "$2" -CAkey "$3" -CAcreateserial -out "$4" -days "${5:-30}" \
                -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=rogue \
        -keyout "$STACK_DIR/rogue.key" -out "$STACK_DIR/rogue.pem" 2>/dev/null
sign "$STACK_DIR/hub.csr" "$STACK_DIR/rogue.pem" "$STACK_DIR/rogue.key" "$STACK_DIR/rogue-signed.pem"
out=$("$HUBCTL" identity install-cert "$STACK_DIR/rogue-signed.pem" 2>&1)
it_is "a certificate from another CA is refused" 1 $?
it_match "... saying it does not chain" "does not chain to the configured CA" "$out"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other -keyout "$STACK_DIR/other.key" \
        -out "$STACK_DIR/other.csr" 2>/dev/null
sign "$STACK_DIR/other.csr" "$STACK_DIR/pki/ca.pem" "$STACK_DIR/pki/ca.key" "$STACK_DIR/other.pem"
it_match "a certificate for another key is refused" "not for this device's key" \
        "$("$HUBCTL" identity install-cert "$STACK_DIR/other.pem" 2>&1)"
cat "$STACK_DIR/other.pem" "$STACK_DIR/other.pem" >"$STACK_DIR/two.pem"
it_match "two certificates in one file are refused" "Not exactly one PEM certificate" \
        "$("$HUBCTL" identity install-cert "$STACK_DIR/two.pem" 2>&1)"
out=$(hubctl_as "$IT_ADMIN" identity install-cert "$STACK_DIR/other.pem" 2>&1)
it_match "a hubadmin member may not install a certificate" "permission denied" "$out"
sign "$STACK_DIR/hub.csr" "$STACK_DIR/pki/ca.pem" "$STACK_DIR/pki/ca.key" "$STACK_DIR/issued.pem"
"$HUBCTL" identity install-cert "$STACK_DIR/issued.pem" >/dev/null
it_is "the certificate the CA issued for this device is installed" 0 $?
it_is "... and is no longer self-signed" false "$("$HUBCTL" identity show --json | jq -r .certificate_self_signed)"
it_ok "... and is the device's certificate on disk" cmp -s "$STACK_DIR/issued.pem" "$state/device.pem"
restart_identity
it_is "... and survives a restart" false "$("$HUBCTL" identity show --json | jq -r .certificate_self_signed)"

# ---- a corrupt identity database is rebuilt without changing who the hub is
devid=$("$HUBCTL" identity show --json | jq -r .device_id)
stack_stop identity
head -c 8192 /dev/urandom >"$state/identity.db"
chown hub-identity: "$state/identity.db"
rm -f "$state/identity.db-wal" "$state/identity.db-shm"
stack_daemon identity
it_is "after a corrupt identity.db is rebuilt the device id is the one the certificate names" "$devid" \
        "$("$HUBCTL" identity show --json | jq -r .device_id)"
it_ok "... and the hub provisions a new password (the old hash is gone with the file)" \
        test "$("$HUBCTL" provision status --json | jq -r .password_origin)" = generated
