#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The hubguard .deb on a booted Debian 12 (bookworm) under systemd-nspawn, systemd as PID 1:
#   install     dpkg -i works; users hub-identity, hub-telemetry, hub-privacy and group hubadmin
#               exist; the three services and hubguard.target are active; the bus names are owned
#   keygen      hub-identity-keygen.service made the systemd-creds encrypted master key and
#               hub-identityd got it through LoadCredentialEncrypted=
#   provision   'hubctl provision status --json' says generated; 'hubctl provision show-initial'
#               prints the password to root (and to nobody else)
#   reveal      hub-identity-reveal.service printed the password on the console (captured from
#               nspawn's --console=read-only output) and it is nowhere in the journal
#   status      'hubctl status' for root and a hubadmin member (identity and privacy running,
#               telemetry offline: "no cloud broker configured"); a stranger is refused
#   hardening   every service runs with CapEff 0, NoNewPrivs 1, Seccomp 2; no hubguard process
#               has a listening TCP socket or an unconnected UDP/raw socket
#   security    'hubctl security-report --json' as root under systemd: the sandbox (5.6-7), secrets
#               (5.4-1), no listener (5.6-1) and the password (5.1-1) pass; 5.2-1 fails on the
#               placeholder contact; the exit status agrees with "compliant"; security.txt installed
#   restart     poweroff and boot again on the same overlay: same device id, password hash and
#               password; the password is not shown on the console again
#   upgrade     a newer build of the same tree installed over it: services restart, state is kept
#   reset       hubctl factory-reset: the path unit runs the root helper; services back, a new
#               password, device key and master key credential, an empty privacy store
#   purge       dpkg --purge removes units, bus policy and /var/lib/hubguard; no failed hubguard unit
#   image       a second container from the same image, the package installed into it unbooted (as
#               a hub image is made), first boot: keygen, services and console reveal run at boot;
#               a different password and device key than the first
#
# The rootfs (debootstrap --variant=minbase, systemd, dbus and the .deb's runtime libraries) is
# cached in /var/cache/hubguard-nspawn/rootfs-KEY (KEY: a hash of suite, mirror, architecture and
# package list) and built only when missing; each container runs on its own overlayfs (lower: the
# cache, upper: a temporary directory), so the cache stays clean. The .deb is built from the work
# tree with DEB_BUILD_OPTIONS=nocheck (deb-lint.sh builds it with the tests).
#
# Run as root:  bash tests/system/nspawn.sh
# Environment:  HUBGUARD_DEB=FILE  test this .deb instead of building one
#               KEEP=1             keep the temporary directory (boot logs, overlays)
#               HUBGUARD_NSPAWN_CACHE=DIR  the rootfs cache (default /var/cache/hubguard-nspawn)
# Prints "ok - ..." / "not ok - ..." per check and "N passed, N failed" last; exits non-zero if
# any check failed.

# check NAME eval '...': the expression is expanded by eval, when the check runs.
# shellcheck disable=SC2016,SC2034

set -uo pipefail
export LC_ALL=C.UTF-8

SRC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE_DIR=${HUBGUARD_NSPAWN_CACHE:-/var/cache/hubguard-nspawn}
SUITE=bookworm
# Bump when the preparation of the cached rootfs below changes.
ROOTFS_RECIPE=1
BOOT_TIMEOUT=60
CMD_TIMEOUT=60

PASSED=0
FAILED=0
pass() { echo "ok - $1"; PASSED=$((PASSED + 1)); }
fail() { echo "not ok - $1"; FAILED=$((FAILED + 1)); }
# check NAME CONDITION-COMMAND...: ok if the command succeeds.
check() {
        local name=$1
        shift
        if "$@"; then pass "$name"; else fail "$name"; fi
}
note() { sed 's/^/# /'; }
SUMMARY_DONE=0
summary() {
        SUMMARY_DONE=1
        echo "${PASSED} passed, ${FAILED} failed"
        [ "$FAILED" -eq 0 ]
}

T=
ROOTFS_TMP=
NSPID=
L=
MOUNTS=()

# remove_tree DIR: rm -rf that does not follow into mounts (debootstrap mounts /proc and /sys in
# its target; an overlay may still be mounted if umount failed).
remove_tree() {
        local m
        [ -e "$1" ] || return 0
        for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r); do
                umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
        done
        rm -rf --one-file-system "$1"
}

# --- containers ---------------------------------------------------------------------------------
# ct CMD...: run a command inside the running container (all its namespaces), clean environment.
ct() {
        timeout --kill-after=5 "$CMD_TIMEOUT" nsenter -t "$L" -a \
                env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb HOME=/root "$@"
}

# ct_mount NAME: an overlayfs on the cached rootfs at $T/NAME/root; its upper dir persists across
# boots of the same NAME.
ct_mount() {
        local d="$T/$1"
        mkdir -p "$d/upper" "$d/work" "$d/root" || return 1
        mount -t overlay overlay -o "lowerdir=${ROOTFS},upperdir=${d}/upper,workdir=${d}/work" "$d/root" \
                || return 1
        MOUNTS+=("$d/root")
}

# ct_boot NAME LOG: boot the container on $T/NAME/root; sets NSPID (systemd-nspawn) and L (the
# container's PID 1, as seen from here). The console goes to LOG.
ct_boot() {
        local name=$1 log=$2 deadline c state
        # --console=read-only: the container's /dev/console (where hub-identity-reveal.service shows
        # the password) is copied to our stdout. With "passive" the pty is connected nowhere.
        # --register=no --keep-unit: there is no systemd (machined) on this side.
        # --system-call-filter=bpf: so that IPAddressDeny= can be enforced in the container.
        # --private-network: only a loopback, so that hub-telemetryd cannot meet a broker of this
        # machine on 127.0.0.1:1883 (the integration tests or tests/devstack may run one).
        systemd-nspawn -q -D "$T/$name/root" -M "hg-$name" --register=no --keep-unit \
                --system-call-filter=bpf --private-network --bind-ro="$T/debs:/mnt/debs" \
                --console=read-only -b >"$log" 2>&1 </dev/null &
        NSPID=$!
        L=
        deadline=$((SECONDS + BOOT_TIMEOUT))
        # The container's PID 1 is the child of systemd-nspawn whose comm is "systemd".
        while [ -z "$L" ] && [ $SECONDS -lt $deadline ]; do
                kill -0 "$NSPID" 2>/dev/null || break
                for c in $(ps -o pid= --ppid "$NSPID" 2>/dev/null); do
                        [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && L=$c
                done
                [ -n "$L" ] || sleep 0.05
        done
        if [ -z "$L" ]; then
                echo "# no container PID 1 found; nspawn said:"
                tail -n 20 "$log" | note
                return 1
        fi
        until timeout 5 nsenter -t "$L" -m test -S /run/systemd/private; do
                if [ $SECONDS -ge $deadline ] || ! kill -0 "$NSPID" 2>/dev/null; then
                        echo "# systemd in the container did not come up"
                        tail -n 20 "$log" | note
                        return 1
                fi
                sleep 0.05
        done
        state=$(timeout "$BOOT_TIMEOUT" nsenter -t "$L" -a systemctl is-system-running --wait 2>&1)
        echo "# ${name}: system ${state}"
        case "$state" in
        running) return 0 ;;
        degraded)
                local failed
                failed=$(ct systemctl --failed --no-legend --plain)
                note <<<"$failed"
                # Other units failing is noise (a minimal container); a hubguard unit failing is not.
                ! grep -qE '(^|[[:space:]])(hub-|hubguard)' <<<"$failed"
                ;;
        *) return 1 ;;
        esac
}

# ct_poweroff: stop the running container and wait for systemd-nspawn to exit.
ct_poweroff() {
        local deadline
        [ -n "$NSPID" ] || return 0
        if [ -n "$L" ]; then
                timeout 10 nsenter -t "$L" -a systemctl poweroff >/dev/null 2>&1 || true
        fi
        deadline=$((SECONDS + 30))
        while kill -0 "$NSPID" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        if kill -0 "$NSPID" 2>/dev/null; then
                echo "# container did not power off within 30 s: killing it"
                kill -KILL "$NSPID" 2>/dev/null
                [ -n "$L" ] && kill -KILL "$L" 2>/dev/null
                sleep 0.5
        fi
        wait "$NSPID" 2>/dev/null
        NSPID=
        L=
        return 0
}

cleanup() {
        local rc=$? m
        trap - EXIT INT TERM
        ct_poweroff
        for m in "${MOUNTS[@]}"; do
                umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done
        [ -z "$ROOTFS_TMP" ] || remove_tree "$ROOTFS_TMP"
        if [ -n "$T" ]; then
                if [ "${KEEP:-0}" = 1 ]; then
                        echo "# kept ${T}"
                else
                        remove_tree "$T"
                fi
        fi
        if [ "$SUMMARY_DONE" = 0 ]; then
                echo "# nspawn.sh: aborted (exit status ${rc})"
                echo "${PASSED} passed, $((FAILED + 1)) failed"
                exit 1
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$(id -u)" -ne 0 ]; then
        echo "nspawn.sh: must run as root (debootstrap, systemd-nspawn, mount)" >&2
        exit 2
fi
START=$SECONDS
T=$(mktemp -d /tmp/hubguard-nspawn.XXXXXX)
WORK="$T/build"
mkdir -p "$WORK" "$T/debs"

# --- tools --------------------------------------------------------------------------------------
# shellcheck source=tests/system/lib/build-deb.sh
. "$SRC_ROOT/tests/system/lib/build-deb.sh"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v systemd-nspawn >/dev/null || need+=(systemd-container)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
        echo "# installing ${need[*]}"
        hg_apt_install apt-get install -y --no-install-recommends "${need[@]}" || exit 1
fi

# --- the .deb -----------------------------------------------------------------------------------
if [ -n "${HUBGUARD_DEB:-}" ]; then
        if [ -f "$HUBGUARD_DEB" ]; then
                cp "$HUBGUARD_DEB" "$T/debs/" && pass "package (given: ${HUBGUARD_DEB})"
        else
                fail "package (${HUBGUARD_DEB} does not exist)"
        fi
else
        t0=$SECONDS
        if DEB_BUILD_OPTIONS="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" HG_BUILD_TIMEOUT=900 hg_build_deb; then
                cp "$HG_DEB" "$T/debs/"
                pass "package built ($((SECONDS - t0)) s)"
        else
                tail -n 60 "$WORK/build.log" 2>/dev/null | note
                fail "package built (log above)"
        fi
fi
DEB=$(find "$T/debs" -name 'hubguard_*.deb' | head -n 1)
if [ -z "$DEB" ]; then
        summary
        exit 1
fi
DEB_IN=/mnt/debs/$(basename "$DEB")

# --- the cached rootfs ----------------------------------------------------------------------------
# The runtime packages: from each alternative group of the .deb's Depends, the first real (not
# purely virtual) package; a group of virtual packages only (the system bus) is covered by dbus.
packages=(systemd systemd-sysv dbus libnss-systemd)
mapfile -t groups < <(dpkg-deb -f "$DEB" Depends | tr ',' '\n' | sed 's/([^)]*)//g; s/[[:space:]]//g' | grep .)
# known NAME...: the real packages among the names (one apt-cache call: each takes most of a second).
known() { apt-cache show --no-all-versions "$@" 2>/dev/null | sed -n 's/^Package: //p' | sort -u; }
mapfile -t names < <(printf '%s\n' "${groups[@]}" | tr '|' '\n')
real=$(known "${names[@]}")
grep -qx libc6 <<<"$real" || {
        apt-get update >"$T/apt-update.log" 2>&1 || note <"$T/apt-update.log"
        real=$(known "${names[@]}")
}
for group in "${groups[@]}"; do
        for alt in ${group//|/ }; do
                if grep -qxF "$alt" <<<"$real"; then
                        packages+=("$alt")
                        break
                fi
        done
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
MIRROR=$(awk 'tolower($1) == "uris:" { u = $2 } tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print u; exit } }' \
        /etc/apt/sources.list.d/debian.sources 2>/dev/null)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
ARCH=$(dpkg --print-architecture)
KEY=$(printf '%s\n' "$ROOTFS_RECIPE" "$SUITE" "$MIRROR" "$ARCH" "${packages[@]}" | sha256sum | cut -c1-16)
ROOTFS="$CACHE_DIR/rootfs-$KEY"
ROOTFS_TMP="$ROOTFS.tmp.$$"
echo "# rootfs ${ROOTFS}: ${SUITE} from ${MIRROR}, minbase + ${packages[*]}"

build_rootfs() {
        local tmp=$ROOTFS_TMP inc
        inc=$(IFS=,; echo "${packages[*]}")
        remove_tree "$tmp"
        echo "# debootstrap (log: ${T}/debootstrap.log)"
        if ! timeout 900 debootstrap --variant=minbase --include="$inc" "$SUITE" "$tmp" "$MIRROR" \
                >"$T/debootstrap.log" 2>&1; then
                tail -n 30 "$T/debootstrap.log" | note
                remove_tree "$tmp"
                return 1
        fi
        # A smaller image; the package's own files come from the .deb.
        rm -f "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages* 2>/dev/null
        # debootstrap leaves the host's name in /etc/hostname: the container gets its own (-M).
        rm -f "$tmp/etc/hostname"
        [ -s "$tmp/etc/machine-id" ] || systemd-machine-id-setup --root="$tmp" >/dev/null
        echo "$KEY ${packages[*]}" >"$tmp/.hubguard-nspawn-rootfs"
        mv "$tmp" "$ROOTFS"
}

mkdir -p "$CACHE_DIR"
t0=$SECONDS
# One build at a time (another run may be making the same rootfs). Exit status 0: it was cached.
(
        flock -w 1200 9 || exit 1
        [ -f "$ROOTFS/.hubguard-nspawn-rootfs" ] && exit 0
        build_rootfs && exit 3
) 9>"$CACHE_DIR/.lock"
rc=$?
if [ $rc -eq 0 ] || [ $rc -eq 3 ] && [ -f "$ROOTFS/.hubguard-nspawn-rootfs" ]; then
        pass "rootfs ($([ $rc -eq 0 ] && echo cached || echo "built in $((SECONDS - t0)) s"))"
else
        fail "rootfs (debootstrap failed)"
        summary
        exit 1
fi

# --- helpers for the checks -----------------------------------------------------------------------
# json_get EXPR: read JSON on stdin, print the Python expression EXPR over it (j), or fail.
json_get() {
        python3 -c 'import json, sys
j = json.load(sys.stdin)
v = eval(sys.argv[1])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" 2>/dev/null
}

# units_active: wait up to 30 s for the three services and the target to be active.
UNITS=(hub-identityd.service hub-telemetryd.service hub-privacyd.service hubguard.target)
wait_active() {
        local deadline=$((SECONDS + 30))
        until ct systemctl is-active --quiet "${UNITS[@]}"; do
                [ $SECONDS -lt $deadline ] || return 1
                sleep 0.2
        done
}

# boot_or_die NAME LOG WHAT: boot, or count a failure and stop (nothing else can be checked).
boot_or_die() {
        if ct_boot "$1" "$2"; then
                pass "$3"
        else
                fail "$3"
                summary
                exit 1
        fi
}

# install_or_die WHAT: dpkg -i the package in the running container.
install_or_die() {
        if ct dpkg -i "$DEB_IN" >"$T/dpkg-i.log" 2>&1; then
                pass "$1"
        else
                note <"$T/dpkg-i.log"
                fail "$1"
                summary
                exit 1
        fi
}

# console_shows LOG TEXT: the container's console output has TEXT (nspawn copies it asynchronously).
console_shows() {
        local deadline=$((SECONDS + 5))
        until grep -qF "$2" "$1"; do
                [ $SECONDS -lt $deadline ] || return 1
                sleep 0.1
        done
}

# unit_failures EXPORT: the journal entries (journalctl -o export) in which systemd says a hubguard
# unit failed, e.g. a daemon that exits with an error while the system shuts down: after the
# reboot "systemctl --failed" no longer shows that.
unit_failures() {
        python3 - "$1" <<'EOF'
import sys
for entry in open(sys.argv[1], "rb").read().split(b"\n\n"):
    f = dict(l.split(b"=", 1) for l in entry.split(b"\n") if b"=" in l)
    unit = (f.get(b"UNIT") or f.get(b"_SYSTEMD_UNIT") or b"").decode(errors="replace")
    msg = f.get(b"MESSAGE", b"").decode(errors="replace")
    if unit.startswith(("hub-", "hubguard")) and f.get(b"_PID") == b"1" and "Failed with result" in msg:
        print(f.get(b"_BOOT_ID", b"?").decode()[:8], msg)
EOF
}

# unit_props UNIT PROP...: the values, in the order asked, separated by spaces.
unit_props() {
        local u=$1 p vals=()
        shift
        for p in "$@"; do vals+=("$(ct systemctl show -p "$p" --value "$u")"); done
        echo "${vals[*]}"
}

identity_db() { echo "$T/$1/root/var/lib/hubguard/identity/identity.db"; }
password_hash() {
        sqlite3 -readonly "$(identity_db "$1")" "SELECT hash FROM credential WHERE account = 'admin'" 2>/dev/null
}

# --- container 1: install ---------------------------------------------------------------------------
ct_mount ct1 || { fail "overlay mount"; summary; exit 1; }
boot_or_die ct1 "$T/ct1-boot1.log" "container 1 boots (systemd as PID 1)"
install_or_die "dpkg -i $(basename "$DEB")"

missing=()
for u in hub-identity hub-telemetry hub-privacy; do
        ct getent passwd "$u" >/dev/null || missing+=("user $u")
done
ct getent group hubadmin >/dev/null || missing+=("group hubadmin")
check "users hub-identity, hub-telemetry, hub-privacy and group hubadmin exist${missing:+ (missing: ${missing[*]})}" \
        test ${#missing[@]} -eq 0

wait_active
for u in "${UNITS[@]}"; do
        state=$(ct systemctl is-active "$u")
        check "$u is active (${state})" test "$state" = active
done
for d in identity telemetry privacy; do
        owner=$(ct busctl --system status "org.hubguard.${d}1" 2>/dev/null | sed -n 's/^Comm=//p')
        check "bus name org.hubguard.${d}1 is owned (by ${owner:-nobody})" test "$owner" = "hub-${d}d"
done

# --- master key -------------------------------------------------------------------------------
cred=/var/lib/hubguard/credentials/identity-master-key.cred
keygen=$(unit_props hub-identity-keygen.service ActiveState Result)
perm=$(ct stat -c '%a %U' "$cred" 2>/dev/null)
echo "# hub-identity-keygen.service: ${keygen}; ${cred}: ${perm:-missing}"
check "hub-identity-keygen.service made ${cred} (mode 600, root)" \
        test "$keygen" = "active success" -a "$perm" = "600 root"
# The credential decrypts (on this machine) to the 32-byte key; systemd handed it to hub-identityd.
keylen=$(ct sh -c "systemd-creds decrypt --name=master-key $cred - | wc -c" 2>/dev/null)
idpid=$(ct systemctl show -p MainPID --value hub-identityd.service)
credenv=$(ct sh -c "tr '\\0' '\\n' </proc/$idpid/environ | grep ^CREDENTIALS_DIRECTORY=" 2>/dev/null)
credlen=$(ct sh -c "wc -c <${credenv#CREDENTIALS_DIRECTORY=}/master-key" 2>/dev/null)
echo "# decrypted key: ${keylen:-?} bytes; hub-identityd: ${credenv:-no CREDENTIALS_DIRECTORY}, master-key ${credlen:-?} bytes"
check "hub-identityd got the master key via LoadCredentialEncrypted= (32 bytes in \$CREDENTIALS_DIRECTORY)" \
        test "${keylen:-0}" = 32 -a "${credlen:-0}" = 32

# --- provisioning -------------------------------------------------------------------------------
prov=$(ct hubctl provision status --json)
origin=$(json_get 'j["password_origin"]' <<<"$prov")
provisioned=$(json_get 'j["provisioned"]' <<<"$prov")
devid1=$(json_get 'j["device_id"]' <<<"$prov")
check "hubctl provision status --json: provisioned ${provisioned:-?}, password_origin ${origin:-?}" \
        test "$provisioned" = true -a "$origin" = generated
pw1=$(ct hubctl provision show-initial 2>/dev/null)
pwre='^[[:alnum:]]{3,}(-[[:alnum:]]{3,}){2,}$'
check "hubctl provision show-initial as root prints a password (${#pw1} characters)" \
        eval '[[ $pw1 =~ $pwre ]]'
ident=$(ct hubctl identity show --json)
fp1=$(json_get 'j["key_fingerprint"]' <<<"$ident")
echo "# device id ${devid1:-?}, key ${fp1:-?}"

ct useradd --no-create-home --shell /usr/sbin/nologin -G hubadmin hgadmin
out=$(ct runuser -u hgadmin -- hubctl provision show-initial 2>&1)
rc=$?
check "hubctl provision show-initial as a hubadmin member is refused (exit ${rc}: ${out})" \
        eval '[ $rc -ne 0 ] && [[ $out == *"permission denied"* ]] && [[ $out != *"$pw1"* ]]'

# --- the console reveal -------------------------------------------------------------------------
reveal=$(unit_props hub-identity-reveal.service ActiveState Result ExecMainStatus)
echo "# hub-identity-reveal.service: ${reveal}"
check "hub-identity-reveal.service succeeded and marked the password shown" \
        eval '[ "$reveal" = "active success 0" ] && ct test -e /var/lib/hubguard/credentials/initial-password-shown'
check "the console (nspawn --console=read-only) shows the password" \
        console_shows "$T/ct1-boot1.log" "the admin password of this hub is  ${pw1:-(none)}"
ct journalctl -o export --no-pager >"$T/journal-ct1.export" 2>/dev/null
echo "# journal: $(grep -c '^MESSAGE=' "$T/journal-ct1.export") entries"
check "the journal does not contain the password" \
        eval '[ -s "$T/journal-ct1.export" ] && [ -n "$pw1" ] && ! grep -aqF "$pw1" "$T/journal-ct1.export"'

# --- hubctl status ------------------------------------------------------------------------------
# status_ok WHO JSON RC: identity and privacy running, telemetry offline (no cloud broker); exit 1.
status_ok() {
        local s
        s=$(json_get '" ".join(j["domains"][d]["state"] or "-" for d in ("identity", "telemetry", "privacy"))' <<<"$2")
        echo "# hubctl status as $1: exit $3, identity/telemetry/privacy: ${s:-?}"
        [ "$s" = "running offline running" ] && [ "$3" = 1 ]
}
out=$(ct hubctl status --json)
rc=$?
check "hubctl status --json as root: identity and privacy running, telemetry offline" status_ok root "$out" "$rc"
out=$(ct hubctl status)
rc=$?
rows=$(awk '$1 ~ /^(identity|telemetry|privacy)$/ { printf "%s=%s ", $1, $2 }' <<<"$out")
check "hubctl status as root (text, exit ${rc}): ${rows}" \
        test "$rows" = "identity=running telemetry=offline privacy=running " -a "$rc" = 1
tel=$(ct hubctl telemetry status --json)
lasterr=$(json_get 'j["last_error"]' <<<"$tel")
check "hubctl telemetry status: LastError \"${lasterr}\"" eval '[[ $lasterr == "no cloud broker configured"* ]]'
out=$(ct runuser -u hgadmin -- hubctl status --json)
rc=$?
check "hubctl status as a hubadmin member: identity and privacy running, telemetry offline" \
        status_ok hgadmin "$out" "$rc"
out=$(ct runuser -u nobody -- hubctl status 2>&1)
rc=$?
ndenied=$(grep -c 'permission denied' <<<"$out")
check "hubctl status as nobody is refused (exit ${rc}, ${ndenied} of 3 domains: permission denied)" \
        test "$rc" -ne 0 -a "$ndenied" = 3
out=$(ct runuser -u nobody -- busctl --system call org.hubguard.identity1 /org/hubguard/identity1 \
        org.freedesktop.DBus.Properties GetAll s org.hubguard.identity1.Manager 2>&1)
rc=$?
check "the bus refuses nobody's call to hub-identityd (exit ${rc}: ${out})" \
        eval '[ $rc -ne 0 ] && [[ $out == *"ccess denied"* ]]'

# --- hardening ---------------------------------------------------------------------------------
for d in identity telemetry privacy; do
        pid=$(ct systemctl show -p MainPID --value "hub-${d}d.service")
        st=$(ct grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' "/proc/${pid:-0}/status" 2>/dev/null)
        capeff=$(awk '$1 == "CapEff:" { print $2 }' <<<"$st")
        nnp=$(awk '$1 == "NoNewPrivs:" { print $2 }' <<<"$st")
        sc=$(awk '$1 == "Seccomp:" { print $2 }' <<<"$st")
        uid=$(awk '$1 == "Uid:" { print $2 }' <<<"$st")
        user=$(ct getent passwd "$uid" | cut -d: -f1)
        check "hub-${d}d (pid ${pid}, user ${user}): CapEff ${capeff}, NoNewPrivs ${nnp}, Seccomp ${sc}" \
                test "$capeff" = 0000000000000000 -a "$nnp" = 1 -a "$sc" = 2 -a "$user" = "hub-${d}"
done

# Every process of the three services: its socket inodes against its own network namespace's
# /proc/PID/net tables (identity and privacy have a private one). A listening TCP socket (state 0A)
# or an unconnected UDP/raw socket (remote port 0) is a listener. Output: "sockets UNIT PID N" per
# process (N: all its sockets, to show the mapping saw them), "LISTEN UNIT ..." per listener.
sockets=$(ct bash -s <<'EOF'
for u in hub-identityd hub-telemetryd hub-privacyd; do
        # The unit's processes, whichever cgroup hierarchy (v1, hybrid or unified) systemd uses.
        for pid in $(grep -lE ":/system.slice/$u.service\$" /proc/[0-9]*/cgroup 2>/dev/null | cut -d/ -f3); do
                inodes=$(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | tr '\n' ' ')
                echo "sockets $u $pid $(wc -w <<<"$inodes")"
                for f in tcp tcp6 udp udp6 raw raw6; do
                        awk -v f="$f" -v u="$u" -v inodes="$inodes" '
                                BEGIN { n = split(inodes, a, " "); for (i = 1; i <= n; i++) own[a[i]] = 1 }
                                FNR > 1 && ($10 in own) {
                                        split($3, rem, ":")
                                        if ((f ~ /^tcp/ && $4 == "0A") || (f !~ /^tcp/ && rem[2] == "0000"))
                                                print "LISTEN " u " " f " local " $2 " state " $4
                                }' "/proc/$pid/net/$f" 2>/dev/null
                done
        done
done
EOF
)
note <<<"$sockets"
listeners=$(grep '^LISTEN ' <<<"$sockets")
# Each daemon has at least its bus connection: if a unit shows no socket, the inspection is broken.
seen=$(awk '$1 == "sockets" && $4 > 0 { print $2 }' <<<"$sockets" | sort -u | wc -l)
check "no hubguard process listens on a network socket (sockets of ${seen} of 3 units inspected)" \
        test -z "$listeners" -a "$seen" = 3

failed_units=$(ct systemctl --failed --no-legend --plain)
[ -z "$failed_units" ] || note <<<"$failed_units"
check "no failed hubguard unit after install" eval '! grep -qE "(^|[[:space:]])(hub-|hubguard)" <<<"$failed_units"'

hash1=$(password_hash ct1)
echo "# password hash: ${hash1:0:30}..."

# --- security report ------------------------------------------------------------------------------
# The same evidence the checks above read by hand, as hubctl security-report reads it itself.
ct hubctl security-report 2>&1 | note
report=$(ct hubctl security-report --json 2>/dev/null)
rc=$?
verdicts=$(json_get '" ".join(c["provision"] + "=" + c["verdict"] for c in j["checks"])' <<<"$report")
compliant=$(json_get 'j["compliant"]' <<<"$report")
check "hubctl security-report --json as root gives a verdict per provision (${verdicts:-no JSON})" \
        test -n "$verdicts"
for pv in 5.1-1=pass 5.3-13=pass 5.4-1=pass 5.5-1=not-applicable 5.6-1=pass 5.6-7=pass 5.9-1=pass; do
        check "security-report under systemd: ${pv}" eval '[[ " $verdicts " == *" $pv "* ]]'
done
remedy=$(json_get '[c["remedy"] for c in j["checks"] if c["provision"] == "5.2-1"][0]' <<<"$report")
check "security-report: 5.2-1 fails on the placeholder contact and says to set -Dsecurity_contact" \
        eval '[[ " $verdicts " == *" 5.2-1=fail "* && $remedy == *-Dsecurity_contact=* ]]'
check "security-report exits ${rc}, as \"compliant\": ${compliant:-?} says" \
        eval '[[ ($compliant == true && $rc == 0) || ($compliant == false && $rc == 1) ]]'
check "security.txt is installed in /usr/share/hubguard and linked from /usr/share/doc/hubguard" \
        ct test -f /usr/share/hubguard/security.txt -a -L /usr/share/doc/hubguard/security.txt -a \
        -f /usr/share/doc/hubguard/security.txt

# --- restart ------------------------------------------------------------------------------------
ct_poweroff
boot_or_die ct1 "$T/ct1-boot2.log" "container 1 boots again on the same overlay"
if wait_active; then
        pass "after the restart the services and hubguard.target are active"
else
        ct systemctl status --no-pager "${UNITS[@]}" 2>&1 | tail -n 30 | note
        fail "after the restart the services and hubguard.target are active"
fi
devid1b=$(ct hubctl provision status --json | json_get 'j["device_id"]')
fp1b=$(ct hubctl identity show --json | json_get 'j["key_fingerprint"]')
hash1b=$(password_hash ct1)
pw1b=$(ct hubctl provision show-initial 2>/dev/null)
check "after the restart: same device id, device key, password hash and password" \
        eval '[ -n "$devid1" ] && [ "$devid1b" = "$devid1" ] && [ -n "$fp1" ] && [ "$fp1b" = "$fp1" ] &&
              [ -n "$hash1" ] && [ "$hash1b" = "$hash1" ] && [ -n "$pw1" ] && [ "$pw1b" = "$pw1" ]'
reveal=$(unit_props hub-identity-reveal.service ActiveState ConditionResult)
check "after the restart the password is not shown again on the console (reveal: ${reveal})" \
        eval '[ "$reveal" = "inactive no" ] && [ -n "$pw1" ] && ! grep -qF "$pw1" "$T/ct1-boot2.log"'
ct journalctl -o export --no-pager >"$T/journal-ct1b.export" 2>/dev/null
boots=$(ct journalctl --list-boots 2>/dev/null | grep -cE '[0-9a-f]{32}')
check "the journal of both boots (${boots}) does not contain the password" \
        eval '[ "$boots" -ge 2 ] && [ -n "$pw1" ] && ! grep -aqF "$pw1" "$T/journal-ct1b.export"'
failures=$(unit_failures "$T/journal-ct1b.export")
[ -z "$failures" ] || note <<<"$failures"
check "no hubguard unit failed during the first boot, its shutdown or the second boot (journal)" \
        test -z "$failures"

# --- upgrade ------------------------------------------------------------------------------------
# A newer build of the same tree (the changelog gets a higher version) installed over the running
# one: the services restart on the new package and keep their state. Each daemon runs its
# database migrations at start; this version has no newer schema to migrate to, so what is
# checked is that the state is kept, not a migration.
if [ -n "${HG_SRC:-}" ] && [ -d "$HG_SRC" ]; then
        up_version="${HG_VERSION}+upgradetest1"
        {
                printf 'hubguard (%s) unstable; urgency=medium\n\n  * Upgrade test build.\n\n' "$up_version"
                printf ' -- hubguard tests <devel@hubguard.example>  %s\n\n' "$(date -R)"
                cat "$HG_SRC/debian/changelog"
        } >"$T/changelog.new" && mv "$T/changelog.new" "$HG_SRC/debian/changelog"
        mkdir -p "$T/debs/upgrade"
        if (cd "$HG_SRC" && DEB_BUILD_OPTIONS=nocheck timeout 900 dpkg-buildpackage -us -uc -b -j2) \
                   >"$T/build-upgrade.log" 2>&1 &&
           cp "$WORK/hubguard_${up_version}_${HG_ARCH}.deb" "$T/debs/upgrade/"; then
                pass "an upgrade package ${up_version} built"
                pids_before=$(for d in identity telemetry privacy; do
                        ct systemctl show -p MainPID --value "hub-${d}d.service"; done | tr '\n' ' ')
                if ct dpkg -i "/mnt/debs/upgrade/hubguard_${up_version}_${HG_ARCH}.deb" >"$T/dpkg-upgrade.log" 2>&1; then
                        pass "dpkg -i of the newer build over the running one"
                else
                        note <"$T/dpkg-upgrade.log"
                        fail "dpkg -i of the newer build over the running one"
                fi
                installed=$(ct dpkg-query -W -f='${Version}' hubguard 2>/dev/null)
                check "the newer version is installed (${installed})" test "$installed" = "$up_version"
                if wait_active; then
                        pass "after the upgrade the services and hubguard.target are active"
                else
                        fail "after the upgrade the services and hubguard.target are active"
                fi
                pids_after=$(for d in identity telemetry privacy; do
                        ct systemctl show -p MainPID --value "hub-${d}d.service"; done | tr '\n' ' ')
                check "the services were restarted on the new package (${pids_before}-> ${pids_after})" \
                        eval '[ "$pids_before" != "$pids_after" ]'
                devid1c=$(ct hubctl provision status --json | json_get 'j["device_id"]')
                hash1c=$(password_hash ct1)
                check "after the upgrade: same device id and password hash" \
                        eval '[ -n "$devid1" ] && [ "$devid1c" = "$devid1" ] && [ -n "$hash1" ] && [ "$hash1c" = "$hash1" ]'
        else
                tail -n 40 "$T/build-upgrade.log" | note
                fail "an upgrade package ${up_version} built"
        fi
else
        note <<<"upgrade not tested: the package was given (HUBGUARD_DEB), not built from this tree"
fi

# --- factory reset ------------------------------------------------------------------------------
# hubctl factory-reset: hub-privacyd leaves a request, hub-privacy-helper.path starts the root
# helper, which stops hubguard.target, erases every domain's user data and starts the target
# again; the hub provisions itself anew: a new password and a new device key.
fr_pw1=$(ct hubctl provision show-initial 2>/dev/null)
fr_fp1=$(ct hubctl identity show --json | json_get 'j["key_fingerprint"]')
fr_cred1=$(ct sha256sum /var/lib/hubguard/credentials/identity-master-key.cred 2>/dev/null | cut -d' ' -f1)
ct busctl call org.hubguard.privacy1 /org/hubguard/privacy1 org.hubguard.privacy1.Manager \
        CreateSubject s nspawn-person >/dev/null 2>&1
fr_before=$(ct hubctl data subjects --json 2>/dev/null | json_get 'len(j)')
out=$(ct hubctl factory-reset --yes 2>&1)
rc=$?
check "hubctl factory-reset --yes as root (exit ${rc}; ${fr_before:-?} subject before)" \
        eval '[ "$rc" = 0 ] && [ "${fr_before:-0}" -ge 1 ]'
fr_id=
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
        fr_id=$(ct hubctl factory-reset result --json 2>/dev/null | json_get 'j["request_id"] if j else None')
        [ -n "$fr_id" ] && [ "$fr_id" != null ] && break
        sleep 1
done
helper=$(unit_props hub-privacy-helper.service Result ExecMainStatus)
check "hub-privacy-helper.path started the root helper, which succeeded (${helper}; result ${fr_id:-none})" \
        eval '[ -n "$fr_id" ] && [ "$fr_id" != null ] && [ "$helper" = "success 0" ]'
if wait_active; then
        pass "after the factory reset the services and hubguard.target are active again"
else
        ct systemctl status --no-pager "${UNITS[@]}" hub-privacy-helper.service 2>&1 | tail -n 30 | note
        fail "after the factory reset the services and hubguard.target are active again"
fi
fr_pw2=$(ct hubctl provision show-initial 2>/dev/null)
fr_fp2=$(ct hubctl identity show --json | json_get 'j["key_fingerprint"]')
check "after the factory reset: a new password and a new device key" \
        eval '[[ $fr_pw2 =~ $pwre ]] && [ -n "$fr_pw1" ] && [ "$fr_pw2" != "$fr_pw1" ] &&
              [ -n "$fr_fp2" ] && [ -n "$fr_fp1" ] && [ "$fr_fp2" != "$fr_fp1" ]'
fr_cred2=$(ct sha256sum /var/lib/hubguard/credentials/identity-master-key.cred 2>/dev/null | cut -d' ' -f1)
check "... and a new identity master key credential" eval '[ -n "$fr_cred2" ] && [ "$fr_cred2" != "$fr_cred1" ]'
fr_after=$(ct hubctl data subjects --json 2>/dev/null | json_get 'len(j)')
fr_failed=$(ct hubctl factory-reset result --json 2>/dev/null |
        json_get 'len([s for s in j["stores"] if s["result"].startswith("failed")])')
ct hubctl factory-reset result 2>&1 | note
check "the privacy store is empty (${fr_after:-?} subjects) and no step of the reset failed (${fr_failed:-?})" \
        eval '[ "$fr_after" = 0 ] && [ "$fr_failed" = 0 ]'

# --- purge --------------------------------------------------------------------------------------
if ct dpkg --purge hubguard >"$T/dpkg-purge.log" 2>&1; then
        pass "dpkg --purge hubguard"
else
        note <"$T/dpkg-purge.log"
        fail "dpkg --purge hubguard"
fi
left=$(ct sh -c 'ls -d /lib/systemd/system/hub* /usr/lib/systemd/system/hub* /etc/systemd/system/hub* \
        /etc/systemd/system/*/hub* /var/lib/systemd/deb-systemd-helper-enabled/*hub* \
        /var/lib/systemd/deb-systemd-helper-enabled/*/hub* /usr/share/dbus-1/system.d/org.hubguard.* \
        /usr/lib/sysusers.d/hubguard.conf /usr/lib/tmpfiles.d/hubguard.conf /var/lib/hubguard /etc/hubguard \
        /usr/libexec/hubguard /usr/bin/hubctl 2>/dev/null')
[ -z "$left" ] || note <<<"$left"
check "purge removed the units, the bus policy and /var/lib/hubguard" test -z "$left"
loaded=$(ct systemctl list-units --all --no-legend --plain 'hub*')
[ -z "$loaded" ] || note <<<"$loaded"
check "no hubguard unit is loaded or running after the purge" test -z "$loaded"
failed_units=$(ct systemctl --failed --no-legend --plain)
[ -z "$failed_units" ] || note <<<"$failed_units"
check "systemctl --failed lists no hubguard unit after the purge" \
        eval '! grep -qE "(^|[[:space:]])(hub-|hubguard)" <<<"$failed_units"'
owned=
for d in identity telemetry privacy; do
        ct busctl --system status "org.hubguard.${d}1" >/dev/null 2>&1 && owned+=" org.hubguard.${d}1"
done
check "no hubguard bus name is owned after the purge${owned:+ (owned:${owned})}" test -z "$owned"
ct_poweroff

# --- container 2: a second hub from the same image, package preinstalled ---------------------------
# As a hub image is made: the package is installed into the tree with no systemd running (the
# postinst creates the users and enables the units, starts nothing), then the hub boots for the
# first time: hub-identity-keygen, hub-identityd and hub-identity-reveal run during boot. Every hub
# made from one image must still get its own password and device key.
ct_mount ct2 || { fail "overlay mount"; summary; exit 1; }
if timeout --kill-after=5 120 systemd-nspawn -q -D "$T/ct2/root" -M hg-ct2 --register=no --keep-unit \
        --bind-ro="$T/debs:/mnt/debs" --console=pipe --as-pid2 \
        dpkg -i "$DEB_IN" >"$T/dpkg-i-offline.log" 2>&1 </dev/null; then
        pass "dpkg -i into the image of container 2 (not booted)"
else
        note <"$T/dpkg-i-offline.log"
        fail "dpkg -i into the image of container 2 (not booted)"
        summary
        exit 1
fi
check "nothing of hubguard ran at image build time (no credential, no state)" \
        test ! -e "$T/ct2/root/var/lib/hubguard/credentials/identity-master-key.cred" \
        -a ! -e "$T/ct2/root/var/lib/hubguard/identity"
boot_or_die ct2 "$T/ct2-boot1.log" "container 2 boots for the first time with hubguard preinstalled"
if wait_active; then
        pass "container 2: the services and hubguard.target are active after the first boot"
else
        ct systemctl status --no-pager "${UNITS[@]}" 2>&1 | tail -n 30 | note
        fail "container 2: the services and hubguard.target are active after the first boot"
fi
keygen=$(unit_props hub-identity-keygen.service ActiveState Result)
reveal=$(unit_props hub-identity-reveal.service ActiveState Result ExecMainStatus)
echo "# container 2: hub-identity-keygen.service: ${keygen}; hub-identity-reveal.service: ${reveal}"
check "container 2: hub-identity-keygen and hub-identity-reveal succeeded during boot" \
        test "$keygen" = "active success" -a "$reveal" = "active success 0"
pw2=$(ct hubctl provision show-initial 2>/dev/null)
fp2=$(ct hubctl identity show --json | json_get 'j["key_fingerprint"]')
devid2=$(ct hubctl provision status --json | json_get 'j["device_id"]')
echo "# container 2: device id ${devid2:-?}, key ${fp2:-?}"
check "container 2 has a different password" eval '[[ $pw2 =~ $pwre ]] && [ "$pw2" != "$pw1" ]'
check "container 2 has a different device key and device id" \
        eval '[ -n "$fp2" ] && [ "$fp2" != "$fp1" ] && [ -n "$devid2" ] && [ "$devid2" != "$devid1" ]'
ct journalctl -o export --no-pager >"$T/journal-ct2.export" 2>/dev/null
check "container 2: the console shows its password at boot, the journal does not" \
        eval 'console_shows "$T/ct2-boot1.log" "the admin password of this hub is  ${pw2:-(none)}" &&
              [ -s "$T/journal-ct2.export" ] && ! grep -aqF "${pw2:-(none)}" "$T/journal-ct2.export"'
failed_units=$(ct systemctl --failed --no-legend --plain)
[ -z "$failed_units" ] || note <<<"$failed_units"
check "container 2: no failed hubguard unit" eval '! grep -qE "(^|[[:space:]])(hub-|hubguard)" <<<"$failed_units"'
ct_poweroff
# The shutdown too: its journal, read from here once the container is off.
journalctl -D "$T/ct2/root/var/log/journal" -o export --no-pager >"$T/journal-ct2-off.export" 2>/dev/null
failures=$(unit_failures "$T/journal-ct2-off.export")
[ -z "$failures" ] || note <<<"$failures"
stopped=$(grep -ac '^MESSAGE=Stopped hub-identityd.service' "$T/journal-ct2-off.export")
check "container 2: no hubguard unit failed, shutdown included (journal; hub-identityd stopped ${stopped}x)" \
        test -z "$failures" -a "$stopped" -ge 1

echo "# $((SECONDS - START)) s"
summary
