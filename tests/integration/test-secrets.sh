#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Secrets stay secret at run time: no daemon can be dumped or traced by its own user, a password
# typed at a terminal is not echoed, and a throttled attempt costs no Argon2 work.
# EN 303 645 5.4-1 (sensitive security parameters stored securely), 5.1-5 (brute force).
. "$(dirname "$0")/lib.sh"
it_setup

IFACE=(org.hubguard.identity1 /org/hubguard/identity1 org.hubguard.identity1.Manager)
dropin=$HUBGUARD_CONFIG_DIR/hubguard.conf.d/60-secrets-test.conf

# ---- non-dumpable: the kernel hands /proc/PID of a non-dumpable process to root, whatever its
# user, and refuses core dumps and same-user ptrace (proc(5), PR_SET_DUMPABLE in prctl(2)). (Not
# tested by reading /proc/PID/mem as the same user: Yama's ptrace_scope refuses that here anyway.)
for dom in identity telemetry privacy; do
        pid=${STACK_PID[$dom]}
        it_is "hub-${dom}d runs as hub-$dom" "hub-$dom" "$(ps -o user= -p "$pid" | tr -d ' ')"
        it_is "... and is non-dumpable: its /proc/PID/environ belongs to root" root \
                "$(stat -c %U "/proc/$pid/environ")"
done

# ---- no echo: a password typed at a terminal does not appear on it
new_pw="Tty-Secret-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
out=$(NEW_PW=$new_pw timeout 60 python3 - "$HUBCTL" <<'EOF'
import os, pty, sys, time

hubctl, pw = sys.argv[1], os.environ["NEW_PW"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(hubctl, [hubctl, "password", "change"])
seen = b""
def read_until(token, limit=20.0):
    global seen
    end = time.time() + limit
    while token not in seen and time.time() < end:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return token in seen
# root may reset without the current password: an empty answer, then the new one twice.
for prompt, answer in ((b"Current password", b""), (b"New password", pw.encode()),
                       (b"again", pw.encode())):
    if not read_until(prompt):
        break
    time.sleep(0.1)      # the prompt is printed before echo is switched off; let hubctl get there
    os.write(fd, answer + b"\n")
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
EOF
)
it_match "hubctl password change on a terminal asked for the new password" "New password" "$out"
it_match "... and succeeded" "EXIT 0" "$out"
it_ok "... and the typed password never appeared on the terminal" \
        bash -c "! grep -qF -- \"\$1\" <<<\"\$2\"" _ "$new_pw" "$out"
it_is "... and it is the password now" "" \
        "$(bus call "${IFACE[@]}" VerifyPassword ssa{sv} admin "$new_pw" 0 2>&1)"

# ---- a throttled attempt does no Argon2 work: the CPU time of many refused attempts is less than
# that of one judged attempt (an Argon2id hash of 64 MiB, 2 passes: tens of ms; a refusal: tens of us).
printf '[identity]\nThrottleBaseSec=60\nThrottleMaxSec=60\nLockoutAfterFailures=100\n' >"$dropin"
stack_stop identity >/dev/null
stack_daemon identity
cpu() { awk '{print $14 + $15}' "/proc/${STACK_PID[identity]}/stat"; }   # utime + stime, in ticks
c0=$(cpu)
out=$(bus call "${IFACE[@]}" VerifyPassword ssa{sv} admin wrong-password-1 0 2>&1)
it_match "a wrong password is judged and refused" "Invalid|invalid|wrong|Wrong" "$out"
c1=$(cpu)
refused=0
for i in $(seq 1 40); do
        out=$(bus call "${IFACE[@]}" VerifyPassword ssa{sv} admin "$new_pw" 0 2>&1)
        [[ $out == *Throttled* || $out == *"try again"* ]] && refused=$((refused + 1))
done
c2=$(cpu)
it_is "the next 40 attempts, the right password among them, are refused while throttled" 40 "$refused"
judged=$((c1 - c0))
throttled=$((c2 - c1))
echo "# CPU ticks: one judged attempt $judged, 40 throttled attempts $throttled"
it_ok "one judged attempt cost at least 2 ticks of CPU (Argon2 ran)" test "$judged" -ge 2
it_ok "40 throttled attempts cost less than half of one judged attempt (no Argon2)" \
        test $((throttled * 2)) -lt "$judged"
rm -f "$dropin"
