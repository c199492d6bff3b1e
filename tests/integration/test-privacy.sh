#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# hub-privacyd on a real bus with real SQLite files: the personal data store, encryption at rest,
# export, erase (here, in hub-telemetryd's outbox and by request in the cloud), erase across
# SIGKILL, retention, consent, bad input. EN 303 645 5.8, 5.11, clause 6.
. "$(dirname "$0")/lib.sh"
STACK_METRICS_INTERVAL=0
it_setup

pstate=$HUBGUARD_STATE_DIR/privacy
pdb=$pstate/privacy.db
tdb=$HUBGUARD_STATE_DIR/telemetry/telemetry.db
P=(org.hubguard.privacy1 /org/hubguard/privacy1 org.hubguard.privacy1.Manager)
T=(org.hubguard.telemetry1 /org/hubguard/telemetry1 org.hubguard.telemetry1.Manager)
cloud=(-h "$HUBGUARD_CLOUD_BROKER_HOST" -p "$HUBGUARD_CLOUD_BROKER_PORT" --cafile "$HUBGUARD_CLOUD_CAFILE"
        --cert "$HUBGUARD_CLOUD_OBSERVER_CERT" --key "$HUBGUARD_CLOUD_OBSERVER_KEY" -V mqttv5)
device=(-h "$HUBGUARD_DEVICE_BROKER_HOST" -p "$HUBGUARD_DEVICE_BROKER_PORT" -u "$HUBGUARD_DEVICE_BROKER_USER"
        -P "$HUBGUARD_DEVICE_BROKER_PASSWORD" -V mqttv5)

pcall() { bus call "${P[@]}" "$@"; }
# The error name of a failed call (busctl prints the message; --verbose is not needed: we match words).
pcall_as() { local u=$1; shift; bus_as "$u" call "${P[@]}" "$@" 2>&1; }
new_subject() { pcall CreateSubject s "$1" | sed -n 's/^s "\([0-9a-f]*\)"$/\1/p'; }
# store SUBJECT CATEGORY TEXT [a{sv} options, busctl style; default none]
store() {
        local subj=$1 cat=$2 text=$3
        shift 3
        local -a bytes
        read -r -a bytes <<<"$(printf '%s' "$text" | od -An -tu1 -v | tr -s ' \n' ' ')"
        pcall StoreRecord ssaya{sv} "$subj" "$cat" "${#bytes[@]}" "${bytes[@]}" "${@:-0}"
}
record_count() { pcall ListRecords ss "$1" "" | awk '{print $2}'; }
restart_privacy() { stack_stop privacy; stack_daemon privacy; }
tprop() { bus get-property "${T[@]}" "$1" | cut -d' ' -f2-; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
        local deadline=$((SECONDS + $1)) i
        shift
        until "$@" >/dev/null 2>&1; do
                ((SECONDS >= deadline)) && return 1
                sleep 0.2
        done
}
# Hex of every DB file (db, WAL, shm) on one line, for byte searches that ignore line breaks.
raw_hex() { cat "$pdb" "$pdb-wal" "$pdb-shm" 2>/dev/null | od -An -tx1 -v | tr -d ' \n'; }
raw_has() { grep -qaF -- "$1" "$pdb" "$pdb-wal" "$pdb-shm" 2>/dev/null; }

# ---- three household members, each with marker strings in every built-in category
declare -A SUBJ MARKS
for who in A B C; do
        tag=$(openssl rand -hex 6)
        SUBJ[$who]=$(new_subject "Person-$who LABEL-$tag")
        MARKS[$who]="LABEL-$tag"
        for cat in presence device-events automation-rules contact-details presence; do
                m="MARK-$who-$cat-$(openssl rand -hex 6)"
                MARKS[$who]+=" $m"
                store "${SUBJ[$who]}" "$cat" "{\"note\":\"$m\"}" >/dev/null
        done
done
A=${SUBJ[A]} B=${SUBJ[B]} C=${SUBJ[C]}
it_match "subjects get random 128-bit ids" '^[0-9a-f]{32} [0-9a-f]{32} [0-9a-f]{32}$' "$A $B $C"
it_is "hubctl data subjects lists the three, 5 records each" "3 15" \
        "$("$HUBCTL" data subjects --json | jq -r '"\(length) \(map(.records) | add)"')"
it_match "... and names them (decrypted for the administrator)" "Person-B LABEL-" "$("$HUBCTL" data subjects)"
it_is "ListRecords returns the five records of B, decrypted" 5 "$(record_count "$B")"
leaks=0
for who in A B C; do
        for m in ${MARKS[$who]}; do raw_has "$m" && leaks=$((leaks + 1)); done
done
it_is "no label or record is in clear in the database, its WAL or shm (encrypted at rest)" 0 "$leaks"

# ---- transparency
inv=$("$HUBCTL" data inventory --json)
it_is "the inventory counts what is held per category" "6 3 6" \
        "$(jq -r '"\(map(select(.category == "presence"))[0].records) \(map(select(.category == "presence"))[0].subjects) \(map(select(.category == "subject-labels" or .category == "contact-details")) | map(.records) | add)"' <<<"$inv")"
it_is "... with why, how long and where it goes" "2592000 hub" \
        "$(jq -r 'map(select(.category == "presence"))[0] | "\(.retention_sec) \(.recipients | join(","))"' <<<"$inv")"
text=$("$HUBCTL" data inventory)
it_match "hubctl data inventory prints it for a person to read" \
        "presence \(built-in\).*Why: +home automation.*Kept: +30 days.*Goes to: +hub.*Held now: +6 records about 3 persons" \
        "$(tr '\n' ' ' <<<"$text")"
it_match "... and says which processing is optional, needing consent" "Optional: +only with the person's consent 'usage-analytics'" "$text"

# ---- export: every record of the subject, nothing of anyone else
out=$STACK_DIR/export-B.json
"$HUBCTL" data export "$B" -o "$out" 2>/dev/null
it_is "hubctl data export -o writes the file" 0 $?
it_is "... readable by its owner only" 600 "$(stat -c %a "$out")"
it_is "... as one JSON document of B's 5 records, label and id" "hubguard-privacy-export/1 $B 5" \
        "$(jq -r '"\(.format) \(.subject.id) \(.records | length)"' "$out")"
missing=0
for m in ${MARKS[B]}; do grep -qF -- "$m" "$out" || missing=$((missing + 1)); done
it_is "every marker of B is in the export" 0 "$missing"
foreign=0
for m in ${MARKS[A]} ${MARKS[C]} "$A" "$C"; do grep -qF -- "$m" "$out" && foreign=$((foreign + 1)); done
it_is "nothing of A or C is in it" 0 "$foreign"
it_ok "the export to standard output is the same document (but its time)" \
        bash -c "diff <(jq -S 'del(.exported_usec)' '$out') <(\"\$HUBCTL\" data export '$B' | jq -S 'del(.exported_usec)')"
it_match "a hubadmin member may export" '"format"' "$(hubctl_as "$IT_ADMIN" data export "$B" | head -c 100)"
out2=$(hubctl_as "$IT_STRANGER" data export "$B" 2>&1)
it_is "a stranger may not" 1 $?
it_match "... and is told why" "permission denied" "$out2"

# ---- the cloud side: messages about A wait in hub-telemetryd's outbox while the cloud is down
observer=(-c -i it-privacy-observer -x 3600 -t 'hubguard/+/privacy/erase' -q 1 -F '%t %p')
mosquitto_sub "${cloud[@]}" "${observer[@]}" -C 1 -W 3 >/dev/null 2>&1
stack_stop cloud-broker
it_ok "telemetry is offline with the cloud broker stopped" wait_for 20 bash -c "[[ \$(busctl --address=$DBUS_SYSTEM_BUS_ADDRESS get-property ${T[*]} State) == 's \"offline\"' ]]"
for who in A B A; do
        mosquitto_pub "${device[@]}" -t devices/cam-1/telemetry -q 1 -m "{\"subject\":\"${SUBJ[$who]}\",\"motion\":true}"
done
mosquitto_pub "${device[@]}" -t devices/lock-1/telemetry -q 1 -m "{\"state\":{\"subject\":\"$A\",\"locked\":true}}"
it_ok "four messages are queued" wait_for 10 bash -c "[[ \$(busctl --address=$DBUS_SYSTEM_BUS_ADDRESS get-property ${T[*]} QueuedMessages) == 't 4' ]]"

# The raw bytes that must be gone after the erase: A's ciphertexts, wrapped key and label, and for
# control, B's (which must stay findable).
frag() { sqlite3 "$pdb" "$1" | tr 'A-F' 'a-f'; }
a_frags=$(frag "SELECT hex(substr(data, 25, 16)) FROM record WHERE subject = '$A'
                UNION ALL SELECT hex(substr(wrapped, 5, 16)) FROM subject_key WHERE subject = '$A'
                UNION ALL SELECT hex(substr(label, 25, 16)) FROM subject WHERE id = '$A'")
b_frags=$(frag "SELECT hex(substr(data, 25, 16)) FROM record WHERE subject = '$B'")
it_is "A has 7 blobs to look for (5 records, its key, its label)" 7 "$(wc -w <<<"$a_frags")"

# ---- erase A
receipt=$("$HUBCTL" data erase "$A" --json)
it_is "hubctl data erase exits 0" 0 $?
it_is "the receipt names the subject, its 5 records and the stores" "$A 5 privacy:erased" \
        "$(jq -r '"\(.subject) \(.records) \(.stores | map("\(.store):\(.result)") | join(","))"' <<<"$receipt")"
it_match "... and when" '^1[0-9]{15} 1[0-9]{15}$' "$(jq -r '"\(.requested_usec) \(.completed_usec)"' <<<"$receipt")"
req=$(jq -r .request_id <<<"$receipt")
it_is "A is gone from ListSubjects" "2 0" \
        "$("$HUBCTL" data subjects --json | jq -r --arg a "$A" '"\(length) \(map(select(.id == $a)) | length)"')"
it_match "ListRecords of A: UnknownSubject" "No subject" "$(pcall ListRecords ss "$A" "" 2>&1)"
it_match "Export of A: UnknownSubject" "No subject" "$("$HUBCTL" data export "$A" 2>&1)"
it_match "ListConsents of A: UnknownSubject" "No subject" "$("$HUBCTL" consent list "$A" 2>&1)"
it_match "StoreRecord for A: UnknownSubject" "No subject" "$(store "$A" presence x 2>&1)"
it_match "Erase of A again: UnknownSubject" "No subject" "$("$HUBCTL" data erase "$A" 2>&1)"
it_is "the inventory holds 10 records about 2 persons" "10 2" \
        "$("$HUBCTL" data inventory --json | jq -r '"\(map(select(.category != "subject-labels") | .records) | add) \(map(select(.category == "subject-labels"))[0].subjects)"')"
it_is "B and C are intact: 5 records each" "5 5" "$(record_count "$B") $(record_count "$C")"
intact=0
for m in ${MARKS[B]#LABEL-* }; do [[ $(pcall ListRecords ss "$B" "") == *"$m"* ]] || intact=1; done
it_is "... and every record of B reads as it was stored" 0 "$intact"
it_is "no row of A is left in any table" "0 0 0 0 0" \
        "$(sqlite3 "$pdb" "SELECT (SELECT count(*) FROM record WHERE subject = '$A') || ' ' ||
                (SELECT count(*) FROM subject WHERE id = '$A') || ' ' || (SELECT count(*) FROM subject_key WHERE subject = '$A') || ' ' ||
                (SELECT count(*) FROM consent WHERE subject = '$A') || ' ' || (SELECT count(*) FROM erase_job)")"
hex=$(raw_hex)
found=0
for f in $a_frags; do [[ $hex == *"$f"* ]] && found=$((found + 1)); done
it_is "none of A's ciphertexts, wrapped key or label is in the raw bytes of the database, WAL or shm" 0 "$found"
found=0
for f in $b_frags; do [[ $hex == *"$f"* ]] && found=$((found + 1)); done
it_is "(control: the same search finds all 5 of B's)" 5 "$found"
leaks=0
for m in ${MARKS[A]}; do raw_has "$m" && leaks=$((leaks + 1)); done
it_is "A's marker strings are in no DB file" 0 "$leaks"
leaks=0
for m in ${MARKS[A]}; do grep -rqF -- "$m" "$HUBGUARD_LOG_DIR" && leaks=$((leaks + 1)); done
it_is "A's marker strings are in no log" 0 "$leaks"

it_ok "hub-telemetryd purged the queued messages about A (B's stays), and queued the erase request" \
        wait_for 20 bash -c "[[ \$(sqlite3 '$tdb' \"SELECT group_concat(topic, ' ') FROM (SELECT topic FROM outbox ORDER BY topic)\") == 'devices/cam-1/telemetry privacy/erase' ]]"
it_is "... the message left is B's" 1 "$(sqlite3 "$tdb" "SELECT count(*) FROM outbox WHERE CAST(payload AS TEXT) LIKE '%$B%'")"
it_ok "the receipt's cloud state becomes pending while the cloud is down" \
        wait_for 20 bash -c "\"\$HUBCTL\" data receipt $req --json | jq -e '.cloud == \"pending\"'"
it_match "hubctl data receipt says what pending means" "sent again until the cloud broker acknowledges" \
        "$("$HUBCTL" data receipt "$req")"

mosquitto -c "$STACK_DIR/mqtt/cloud.conf" >>"$STACK_DIR/log/cloud-broker.log" 2>&1 &
STACK_PID[cloud-broker]=$!
it_wait stack_port_listening "$HUBGUARD_CLOUD_BROKER_PORT"
got=$(mosquitto_sub "${cloud[@]}" "${observer[@]}" -C 1 -W 90 2>/dev/null)
it_match "after the outage the cloud receives the erase request for A" \
        "^hubguard/[^/]+/privacy/erase \{\"type\":\"erase-request\",\"request_id\":\"$req\",\"subject\":\"$A\"" "$got"
it_ok "... and the receipt says acknowledged (the cloud broker's PUBACK)" \
        wait_for 90 bash -c "\"\$HUBCTL\" data receipt $req --json | jq -e '.cloud == \"acknowledged\"'"
it_match "hubctl data receipts lists it" "$req +$A +acknowledged" "$("$HUBCTL" data receipts)"

# ---- an erase interrupted after its journal entry finishes at the next start
D=$(new_subject "Person-D")
for i in 1 2 3; do store "$D" presence "MARK-D-$i" >/dev/null; done
stack_stop privacy
sqlite3 "$pdb" "INSERT INTO erase_job (request_id, subject, reason, uid, requested_usec, records)
                VALUES ('$(openssl rand -hex 16)', '$D', 'test', 0, 1, 3)"
stack_daemon privacy
it_match "an erase journalled before a crash completes at the next start" "^0 0 [0-9]+ 1$" \
        "$(sqlite3 "$pdb" "SELECT (SELECT count(*) FROM record WHERE subject = '$D') || ' ' || (SELECT count(*) FROM subject_key WHERE subject = '$D') || ' ' ||
                (SELECT count(*) FROM receipt) || ' ' || (SELECT count(*) FROM receipt WHERE subject = '$D')")"
it_ok "... and says so in the log" grep -q "Finished 1 erase(s) interrupted" "$HUBGUARD_LOG_DIR/hub-privacyd.log"

# ---- SIGKILL at random points of an erase, 30 times: after restart it is complete, never half-done
completed=0 untouched=0 half=0 resumed_before=$(grep -c "interrupted by a stop" "$HUBGUARD_LOG_DIR/hub-privacyd.log")
for ((i = 1; i <= 30; i++)); do
        K=$(new_subject "Person-K$i")
        store "$K" presence "MARK-K$i-a" >/dev/null
        store "$K" contact-details "MARK-K$i-b" >/dev/null
        # 2,000 more records, so that the erase takes a while: copies of the first, under another category
        # (a copy does not open: its id and category are in the associated data; only presence is listed).
        stack_stop privacy
        sqlite3 "$pdb" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
                INSERT INTO record (subject, category, purpose, recipients, retention_sec, created_usec, expires_usec, data)
                SELECT subject, 'device-events', purpose, recipients, retention_sec, created_usec, expires_usec, data FROM record, n WHERE subject = '$K';
                UPDATE subject SET records = 2002 WHERE id = '$K';"
        stack_daemon privacy
        pcall Erase s "$K" >/dev/null 2>&1 &
        caller=$!
        sleep "0.0$((RANDOM % 10))$((RANDOM % 10))"
        kill -KILL "${STACK_PID[privacy]}"
        wait "${STACK_PID[privacy]}" 2>/dev/null
        unset "STACK_PID[privacy]"
        wait "$caller" 2>/dev/null
        stack_daemon privacy
        state=$(sqlite3 "$pdb" "SELECT (SELECT count(*) FROM record WHERE subject = '$K') || ' ' || (SELECT count(*) FROM subject WHERE id = '$K') || ' ' ||
                (SELECT count(*) FROM subject_key WHERE subject = '$K') || ' ' || (SELECT count(*) FROM erase_job) || ' ' ||
                (SELECT count(*) FROM receipt WHERE subject = '$K')")
        listed=$(pcall ListRecords ss "$K" presence 2>&1 | awk '{print $2}')
        case "$state/$listed" in
        "0 0 0 0 1/"*) completed=$((completed + 1)) ;;
        "2002 1 1 0 0/1") untouched=$((untouched + 1)) ;;
        *) half=$((half + 1)); echo "# iteration $i: half-done: rows/subject/key/jobs/receipts $state, listed $listed" ;;
        esac
done
resumed=$(($(grep -c "interrupted by a stop" "$HUBGUARD_LOG_DIR/hub-privacyd.log") - resumed_before))
echo "# SIGKILL during erase: $completed completed ($resumed of them finished at restart), $untouched killed before the erase began, $half half-done"
it_is "after 30 SIGKILLs during erases, no erase is half-done" "30 0" "$((completed + untouched)) $half"
it_ok "... and most erases did begin (the kill landed during or after them)" test "$completed" -ge 10
it_ok "the database is sound" test "$(sqlite3 "$pdb" 'PRAGMA integrity_check')" = ok
it_is "B and C are still intact" "5 5" "$(record_count "$B") $(record_count "$C")"

# ---- retention: a record kept 2 s is erased by the timer
store "$B" presence "MARK-B-SHORT" 1 RetentionSec t 2 >/dev/null
it_is "a record with a 2 s retention is stored" 6 "$(record_count "$B")"
it_ok "the retention timer erases it when it expires" wait_for 15 bash -c "[[ \$(sqlite3 '$pdb' \"SELECT count(*) FROM record WHERE subject = '$B'\") == 5 ]]"
it_is "... B's other records stay" 5 "$(record_count "$B")"
it_is "... and B's counters follow" 5 "$("$HUBCTL" data subjects --json | jq -r --arg b "$B" 'map(select(.id == $b))[0].records')"

# ---- consent: optional processing is off until granted; a revoke erases what it allowed
it_match "optional processing without consent is refused" "not consented" "$(store "$C" usage-analytics '{"taps":3}' 2>&1)"
"$HUBCTL" consent grant "$C" usage-analytics >/dev/null
it_is "hubctl consent grant exits 0" 0 $?
it_match "with consent it is stored" "^t [0-9]+$" "$(store "$C" usage-analytics '{"taps":3}')"
it_is "hubctl consent list shows it granted, and when" "$C usage-analytics true" \
        "$("$HUBCTL" consent list --json | jq -r '.[] | "\(.subject) \(.purpose) \(.granted)"')"
it_match "hubctl consent revoke erases what was kept under it" "1 record kept under it erased" \
        "$("$HUBCTL" consent revoke "$C" usage-analytics)"
it_is "... leaving C's other 5" 5 "$(record_count "$C")"
it_match "... and optional processing is refused again" "not consented" "$(store "$C" usage-analytics '{"taps":4}' 2>&1)"
it_is "grant and revoke are both recorded, with the caller" "1:0 0:0" \
        "$(sqlite3 "$pdb" "SELECT group_concat(granted || ':' || uid, ' ') FROM (SELECT granted, uid FROM consent_log WHERE subject = '$C' ORDER BY id)")"
it_match "an unknown consent purpose is refused" "Unknown consent purpose" "$("$HUBCTL" consent grant "$C" frobnicate 2>&1)"

# ---- bad input: a clear error, nothing changed
snapshot() { sqlite3 "$pdb" "SELECT count(*), coalesce(sum(length(data)), 0) FROM record; SELECT count(*) FROM subject; SELECT count(*) FROM consent_log; SELECT count(*) FROM receipt"; }
before=$(snapshot)
Z=00000000000000000000000000000000
it_match "unknown subject" "org.hubguard.privacy1.UnknownSubject|No subject" "$(store "$Z" presence x 2>&1)"
it_match "a malformed subject id" "32 lowercase hex" "$(store "not-a-subject" presence x 2>&1)"
big=$(head -c 65537 /dev/zero | od -An -tu1 -v | tr -s ' \n' ' ' | sed 's/\b0\b/97/g')
it_match "an oversize record (65,537 bytes)" "at most 65536 bytes" \
        "$(pcall StoreRecord ssaya{sv} "$B" presence 65537 $big 0 2>&1)"
it_match "a record that is not UTF-8" "valid UTF-8" "$(pcall StoreRecord ssaya{sv} "$B" presence 3 97 255 254 0 2>&1)"
it_match "a record with a NUL byte" "valid UTF-8" "$(pcall StoreRecord ssaya{sv} "$B" presence 3 97 0 98 0 2>&1)"
it_match "an unknown category" "Unknown category 'bogus'" "$(store "$B" bogus x 2>&1)"
it_match "an unknown option" "Unsupported option" "$(store "$B" presence x 1 Frob s y 2>&1)"
it_match "a bad recipient" "Recipients" "$(store "$B" presence x 1 Recipients as 1 'Not Valid' 2>&1)"
it_match "a label with a control character" "A label is 1 to 64 bytes" "$(pcall CreateSubject s $'bad\tlabel' 2>&1)"
it_match "a stranger is refused (by hub-privacyd: StoreRecord is open at the bus for AppUsers=)" "Access denied|AccessDenied" "$(pcall_as "$IT_STRANGER" StoreRecord ssaya{sv} "$B" presence 1 97 0)"
it_match "... and may not list subjects" "Access denied|AccessDenied" "$(pcall_as "$IT_STRANGER" ListSubjects)"
it_match "... nor erase (by the bus)" "Access denied|AccessDenied" "$(pcall_as "$IT_STRANGER" Erase s "$B")"
it_ok "... and the refusals are logged with the member" grep -q "Refused StoreRecord for uid 65534. MESSAGE_ID=75e90da1a96c452cba4fb5e72509b616" "$HUBGUARD_LOG_DIR/hub-privacyd.log"
it_match "another service user is refused too" "Access denied|AccessDenied" "$(pcall_as hub-telemetry Erase s "$B")"
it_match "a stranger may not ask hub-telemetryd to purge or erase" "Access denied|AccessDenied" \
        "$(bus_as "$IT_STRANGER" call "${T[@]}" RequestErase ss "$B" 00 2>&1)"
it_match "... nor may a hubadmin member" "Access denied|AccessDenied" \
        "$(bus_as "$IT_ADMIN" call "${T[@]}" PurgeSubject s "$B" 2>&1)"
it_is "none of that changed anything" "$before" "$(snapshot)"
out=$("$HUBCTL" data export 2>&1)
it_is "hubctl data export without a subject is a usage error" 2 $?
it_match "... saying what it expects" "expects one SUBJECT" "$out"

# ---- other hub apps declare their personal data in privacy.d; erase reaches their stores
HELPER=$STACK_BUILD/src/privacyd/hub-privacy-helper
app=$STACK_DIR/app
mkdir -p "$app/clips" "$app/cache" "$app/thumbs"
sqlite3 "$app/app.db" "PRAGMA journal_mode=WAL; CREATE TABLE clips (subject TEXT, clip TEXT);" >/dev/null
printf '#!/bin/sh\necho "$1" >>%s/erased.log\n' "$app" >"$app/erase.sh"
chmod 0755 "$app/erase.sh"
chown -R nobody: "$app"
chmod 0711 "$app"
mkdir -p "$HUBGUARD_CONFIG_DIR/privacy.d"
cat >"$HUBGUARD_CONFIG_DIR/privacy.d/doorcam.conf" <<EOC
# The door camera app (a test app)
[Category]
Name=door-clips
Description=Video clips of people at the front door
Purpose=showing the household who came to the door
Recipients=hub cloud-video
RetentionSec=604800

[Erase]
User=nobody
Path=$app/clips/%s
Path=$app/thumbs/%s/thumb.jpg
Database=$app/app.db
Statement=DELETE FROM clips WHERE subject = ?1
Command=$app/erase.sh %s

[Reset]
Path=$app/cache
EOC
printf '[Category]\nName=broken\nFrobnicate=1\n' >"$HUBGUARD_CONFIG_DIR/privacy.d/broken.conf"
# A hub app's user (here the service user hub-identity plays the app) may store and read records.
printf '[privacy]\nAppUsers=hub-identity no-such-user\n' >"$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-privacy-test.conf"
restart_privacy
it_match "a user of AppUsers= may store a record" "^t [0-9]+$" \
        "$(pcall_as hub-identity StoreRecord ssaya{sv} "$B" presence 3 97 112 112 0)"
it_match "... and read records back" "^a\(tssasttts\) 6 " "$(pcall_as hub-identity ListRecords ss "$B" "")"
it_match "... but not export" "Access denied|AccessDenied" "$(pcall_as hub-identity Export s "$B")"
it_match "... nor erase" "Access denied|AccessDenied" "$(pcall_as hub-identity Erase s "$B")"
it_match "a user not listed still may not store" "Access denied|AccessDenied" \
        "$(pcall_as hub-telemetry StoreRecord ssaya{sv} "$B" presence 1 97 0)"
it_ok "a name of AppUsers= that is no user is skipped with a warning" \
        grep -q "AppUsers: no user 'no-such-user', ignoring." "$HUBGUARD_LOG_DIR/hub-privacyd.log"
it_ok "a bad privacy.d file is skipped with its file and line" \
        grep -q "broken.conf:3: unknown key 'Frobnicate' here; the file is ignored" "$HUBGUARD_LOG_DIR/hub-privacyd.log"
it_match "the inventory shows the category an app declares, and where it comes from" \
        "door-clips \(doorcam.conf\).*Why: +showing the household who came.*Kept: +7 days.*Goes to: +hub, cloud-video" \
        "$("$HUBCTL" data inventory | tr '\n' ' ')"
E=$(new_subject "Person-E")
it_match "a record of a declared category is stored" "^t [0-9]+$" "$(store "$E" door-clips '{"clip":"c1"}')"
mkdir -p "$app/clips/$E" && touch "$app/clips/$E/clip-1.mp4" "$app/clips/$E/clip-2.mp4"
sqlite3 "$app/app.db" "INSERT INTO clips VALUES ('$E', 'CLIP-MARKER-E-1'), ('$E', 'CLIP-MARKER-E-2'), ('$B', 'CLIP-OF-B')"
chown -R nobody: "$app"
receipt=$("$HUBCTL" data erase "$E" --json)
reqE=$(jq -r .request_id <<<"$receipt")
it_is "the receipt lists the app's store as requested" "privacy:erased doorcam:requested from hub-privacy-helper" \
        "$(jq -r '.stores | map("\(.store):\(.result)") | join(" ")' <<<"$receipt")"
it_is "hub-privacyd left the request for the helper, owned by hub-privacy" "hub-privacy erase-subject $E $reqE" \
        "$(stat -c %U "$pstate/requests/$reqE.req") $(cat "$pstate/requests/$reqE.req")"
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_is "hub-privacy-helper (root) performs it and exits 0" 0 $?
it_ok "the request is gone" test ! -e "$pstate/requests/$reqE.req"
it_ok "the app's files for E are removed" test ! -e "$app/clips/$E"
it_is "the app's database rows for E are deleted, B's stay" "CLIP-OF-B" "$(sqlite3 "$app/app.db" 'SELECT group_concat(clip) FROM clips')"
it_ok "... and are in none of its files (secure_delete, WAL truncated)" bash -c "! grep -qa CLIP-MARKER-E '$app'/app.db*"
it_is "the app's command ran, as the app's user, with the subject id" "$E nobody" \
        "$(cat "$app/erased.log") $(stat -c %U "$app/erased.log")"
it_ok "the receipt reports each action of the app's store" wait_for 10 bash -c \
        "\"\$HUBCTL\" data receipt $reqE --json | jq -e '.stores[1].result | test(\"^removed 1 path\\\\(s\\\\), 1 not present; deleted 2 row\\\\(s\\\\) from .*; command .*erase.sh exited with 0\$\")'"

# an app's Path= is removed as the app's user: a symlink it plants cannot make root remove others' files
F=$(new_subject "Person-F")
mkdir -p "$STACK_DIR/victim" && touch "$STACK_DIR/victim/thumb.jpg"
ln -s "$STACK_DIR/victim" "$app/thumbs/$F" && chown -h nobody: "$app/thumbs/$F"
reqF=$("$HUBCTL" data erase "$F" --json | jq -r .request_id)
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_ok "a path through the app's symlink into a root-owned directory is not removed" test -e "$STACK_DIR/victim/thumb.jpg"
it_ok "... and the receipt says the removal failed" wait_for 10 bash -c \
        "\"\$HUBCTL\" data receipt $reqF --json | jq -e '.stores[1].result | test(\"^failed: failed to remove .*thumb.jpg: .*/thumbs/$F is a symlink \\\\(not followed\\\\)\")'"

# an app without User= has its paths removed by root: then no directory on the way may be another
# user's (who could swap its entries), and no symlink is followed, not even in the middle of a path
H=$(new_subject "Person-H")
mkdir -p "$STACK_DIR/rootapp/$H" "$STACK_DIR/victim2/$H" "$STACK_DIR/rootlink"
touch "$STACK_DIR/rootapp/$H/data" "$STACK_DIR/victim2/$H/data" "$STACK_DIR/victim2/$H/other"
chown -R nobody: "$STACK_DIR/rootapp"
ln -s "$STACK_DIR/victim2" "$STACK_DIR/rootlink/sub"
printf '[Erase]\nPath=%s/rootapp/%%s/data\nPath=%s/rootlink/sub/%%s\n' "$STACK_DIR" "$STACK_DIR" \
        >"$HUBGUARD_CONFIG_DIR/privacy.d/rootapp.conf"
reqH=$("$HUBCTL" data erase "$H" --json | jq -r .request_id)
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_ok "root does not remove a path under a directory another user owns" test -e "$STACK_DIR/rootapp/$H/data"
it_ok "... nor follow a symlink in the middle of a path" test -e "$STACK_DIR/victim2/$H/other"
it_ok "... and the receipt says why for both" wait_for 10 bash -c \
        "\"\$HUBCTL\" data receipt $reqH --json | jq -e '.stores | map(select(.store == \"rootapp\"))[0].result | test(\"rootapp is not root.s own directory \\\\(set User=\\\\).*rootlink/sub is a symlink\")'"
rm "$HUBGUARD_CONFIG_DIR/privacy.d/rootapp.conf"

# nor can hub-privacy redirect where root writes a result
G=$(new_subject "Person-G")
mkdir -p "$STACK_DIR/elsewhere"
mv "$pstate/results" "$pstate/results.real" && ln -s "$STACK_DIR/elsewhere" "$pstate/results" && chown -h hub-privacy: "$pstate/results"
"$HUBCTL" data erase "$G" >/dev/null
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_is "a results directory replaced by a symlink gets no result from the helper" 0 "$(ls -A "$STACK_DIR/elsewhere" | wc -l)"
it_ok "... which says why" grep -q "Cannot open '$pstate/results'" "$HUBGUARD_LOG_DIR/helper.log"
rm "$pstate/results" && mv "$pstate/results.real" "$pstate/results"
rm -f "$pstate"/requests/*.req

# the helper accepts only hub-privacy's own request files, and only its closed list of operations
n_subjects=$("$HUBCTL" data subjects --json | jq length)
printf 'factory-reset %s\n' "$(openssl rand -hex 16)" >"$pstate/requests/forged.req"
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_ok "a request file that hub-privacy does not own is refused and removed" test ! -e "$pstate/requests/forged.req"
it_is "... and nothing was reset" "$n_subjects" "$("$HUBCTL" data subjects --json | jq length)"
printf 'reboot now\n' >"$pstate/requests/other.req" && chown hub-privacy: "$pstate/requests/other.req"
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_ok "an operation outside the closed list is refused" grep -q "Refused request 'other.req': not one of the operations" "$HUBGUARD_LOG_DIR/helper.log"
it_is "... with nothing done" "$n_subjects 0" "$("$HUBCTL" data subjects --json | jq length) $(ls "$pstate/requests" | wc -l)"
fake=$(openssl rand -hex 16)
printf 'erase-subject %s %s\n\0factory-reset\n' "$B" "$fake" >"$pstate/requests/nul.req"
printf '  erase-subject\t%s  %s' "$B" "$fake" >"$pstate/requests/loose.req"
chown hub-privacy: "$pstate"/requests/*.req
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_is "a request with a NUL hiding more, or not in the one form hub-privacyd writes, is refused and removed" \
        "0 0" "$(ls "$pstate/requests" | wc -l) $(ls "$pstate/results" | grep -c "$fake")"
it_ok "... and a request file name is logged only as plain text" \
        grep -q "Refused request 'loose.req': not one of the operations" "$HUBGUARD_LOG_DIR/helper.log"

# a factory reset reads hub-privacy's subjects as hub-privacy: a privacy.db that hub-privacy links to a
# root-only database is not read with root's rights (a scratch state root, so nothing else is reset)
fr=$STACK_DIR/fr2
X=$(openssl rand -hex 16)
mkdir -p "$fr/privacy/requests" "$fr/conf/privacy.d" "$fr/creds" "$fr/journal" "$STACK_DIR/rootonly"
chmod 0700 "$STACK_DIR/rootonly"
sqlite3 "$STACK_DIR/rootonly/secret.db" "CREATE TABLE subject (id TEXT); INSERT INTO subject VALUES ('$X')"
ln -s "$STACK_DIR/rootonly/secret.db" "$fr/privacy/privacy.db"
printf 'factory-reset %s\n' "$(openssl rand -hex 16)" >"$fr/privacy/requests/r.req"
chown -hR hub-privacy: "$fr/privacy"
printf '#!/bin/sh\necho "$1" >>%s/fr2.log\n' "$app" >"$app/fr2.sh" && chmod 0755 "$app/fr2.sh"
printf '[Erase]\nUser=nobody\nCommand=%s/fr2.sh %%s\n' "$app" >"$fr/conf/privacy.d/logapp.conf"
"$HELPER" --state-root="$fr" --config-dir="$fr/conf" --credentials-dir="$fr/creds" --journal-dir="$fr/journal" \
        --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_ok "a factory reset does not read, as root, a database that hub-privacy links to root's files" test ! -e "$app/fr2.log"
it_is "... and reports that it could not read the subjects" "failed" \
        "$(jq -r '.stores | map(select(.store == "subjects"))[0].result | split(":")[0]' "$fr/privacy/factory-reset.json")"

# ---- factory reset: every domain's user data; the next start provisions a new password and key
pw1=$("$HUBCTL" provision show-initial)
fp1=$("$HUBCTL" identity show --json | jq -r .key_fingerprint)
out=$("$HUBCTL" factory-reset </dev/null 2>&1)
it_is "hubctl factory-reset without --yes and without a terminal does nothing" "1 0" "$? $(ls "$pstate/requests" | wc -l)"
it_match "... saying so" "not confirmed" "$out"
out=$(hubctl_as "$IT_ADMIN" factory-reset --yes 2>&1)
it_match "a hubadmin member may not reset the hub" "permission denied" "$out"
it_is "... nothing was requested" 0 "$(ls "$pstate/requests" | wc -l)"
"$HUBCTL" factory-reset --yes >/dev/null
it_is "root may: hub-privacyd leaves the request" "factory-reset" "$(cut -d' ' -f1 "$pstate"/requests/*.req)"
mkdir -p "$STACK_DIR/creds" "$STACK_DIR/journal/machine"
touch "$STACK_DIR/creds/identity-master-key.cred" "$STACK_DIR/creds/privacy-master-key.cred" "$STACK_DIR/journal/machine/system.journal"
touch "$app/cache/thumbnail"
# What systemctl stop hubguard.target does in the system: the daemons stop first.
for dom in privacy telemetry identity; do stack_stop "$dom"; done
"$HELPER" --state-root="$HUBGUARD_STATE_DIR" --config-dir="$HUBGUARD_CONFIG_DIR" --credentials-dir="$STACK_DIR/creds" \
        --journal-dir="$STACK_DIR/journal" --no-systemctl 2>>"$HUBGUARD_LOG_DIR/helper.log"
it_is "the helper performs the reset and exits 0" 0 $?
it_is "every domain's state directory is empty (but the reset's result)" "0 0 factory-reset.json" \
        "$(ls -A "$HUBGUARD_STATE_DIR/identity" | wc -l) $(ls -A "$HUBGUARD_STATE_DIR/telemetry" | wc -l) $(ls -A "$pstate")"
it_is "... the state directories themselves are kept, with their owners" "hub-identity hub-telemetry hub-privacy" \
        "$(stat -c %U "$HUBGUARD_STATE_DIR/identity" "$HUBGUARD_STATE_DIR/telemetry" "$pstate" | tr '\n' ' ' | sed 's/ $//')"
it_is "the master key credentials and the journal's files are removed" "0 0" \
        "$(ls -A "$STACK_DIR/creds" | wc -l) $(find "$STACK_DIR/journal" -type f | wc -l)"
it_ok "the declared app data is gone ([Reset] paths)" test ! -e "$app/cache"
stack_daemon identity && stack_daemon telemetry && stack_daemon privacy
pw2=$("$HUBCTL" provision show-initial)
fp2=$("$HUBCTL" identity show --json | jq -r .key_fingerprint)
it_match "the next start provisions a new password" '^[2-9a-hjkmnp-z]{5}(-[2-9a-hjkmnp-z]{5}){3}$' "$pw2"
it_ok "... different from the old one" test "$pw1" != "$pw2"
it_ok "... and a different device key" test -n "$fp2" -a "$fp1" != "$fp2"
it_is "the privacy store is empty: no subject, no receipt" "0 0" \
        "$("$HUBCTL" data subjects --json | jq length) $("$HUBCTL" data receipts --json | jq length)"
it_is "the telemetry outbox is empty" "t 0" "$(bus get-property "${T[@]}" QueuedMessages)"
res=$("$HUBCTL" factory-reset result --json)
it_is "hub-privacyd reports what the reset did, store by store" \
        "services? doorcam credentials journal identity telemetry privacy" \
        "$(jq -r '.stores | map(.store) | join(" ") | "services? " + .' <<<"$res")"
it_is "... none failed" 0 "$(jq '[.stores[] | select(.result | startswith("failed"))] | length' <<<"$res")"
it_match "hubctl factory-reset result prints it" "identity +state directory emptied" "$("$HUBCTL" factory-reset result)"
