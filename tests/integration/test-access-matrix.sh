#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bus access matrix, tests/integration/access-matrix.txt: for every method and property of
# every interface the daemons serve and every caller class (root, a hubadmin member, each service
# user, a stranger), the expected allow, deny by the bus policy or deny by the daemon, asserted on a
# private bus with the project's policy files. A member without a row fails, and so does a row for a
# member that is gone. The format of the table and what each result means are described in it.
. "$(dirname "$0")/lib.sh"

MATRIX=$STACK_SRC/tests/integration/access-matrix.txt
IFACE_DIR=$STACK_SRC/conf/interfaces
PROPS=org.freedesktop.DBus.Properties
CLASSES=(root hubadmin hub-identity hub-telemetry hub-privacy stranger)
declare -A CLASS_USER=([root]=root [hubadmin]=$IT_ADMIN [hub-identity]=hub-identity
        [hub-telemetry]=hub-telemetry [hub-privacy]=hub-privacy [stranger]=$IT_STRANGER)
# Errors that say nothing about access: the call did not get as far as the caller check.
INCONCLUSIVE=" InvalidArgs UnknownMethod UnknownObject UnknownInterface UnknownProperty ServiceUnknown
        NameHasNoOwner NoReply Timeout TimedOut Disconnected "

# it_list DESC [PROBLEM...]: ok without PROBLEMs, else not ok with one diagnostic line for each.
it_list() {
        local desc=$1
        shift
        IT_N=$((IT_N + 1))
        if (($# == 0)); then
                echo "ok $IT_N - $desc"
                return 0
        fi
        IT_FAILED=$((IT_FAILED + 1))
        echo "not ok $IT_N - $desc"
        printf '# %s\n' "$@"
}

# xml_members [FILE...]: "INTERFACE KIND MEMBER" for each member of each interface of D-Bus
# introspection XML (one element per line, as busctl and conf/interfaces/ write it): "method" for a
# method; "get" for a property, and "set" too if it is writable; "getall -" once for an interface
# with properties. Signals are not called and are left out.
xml_members() {
        awk '
        function attr(a) {
                if (match($0, a "=\"[^\"]*\""))
                        return substr($0, RSTART + length(a) + 2, RLENGTH - length(a) - 3)
                return ""
        }
        /<interface[ \t]/ { iface = attr("name"); next }
        /<\/interface>/ { iface = ""; next }
        iface == "" { next }
        /<method[ \t\/>]/ { print iface, "method", attr("name") }
        /<property[ \t]/ {
                print iface, "get", attr("name")
                if (attr("access") ~ /write/)
                        print iface, "set", attr("name")
                if (!(iface in seen)) {
                        seen[iface] = 1
                        print iface, "getall", "-"
                }
        }' "$@"
}

# ---- the table
declare -A ROW_LINE=() ROW_EXPECT=() ROW_ARGS=()
ROWS=()
problems=()
lineno=0
while IFS= read -r line || [[ -n $line ]]; do
        lineno=$((lineno + 1))
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        read -r -a f <<<"$line"
        if ((${#f[@]} < 11)); then
                problems+=("line $lineno: ${#f[@]} columns, need 11 (domain object interface member kind and 6 results)")
                continue
        fi
        dom=${f[0]} obj=${f[1]} iface=${f[2]} member=${f[3]} kind=${f[4]}
        key="$dom $obj $iface $member $kind"
        [[ $dom =~ ^[a-z]+$ ]] || problems+=("line $lineno: bad domain '$dom'")
        [[ $obj == /* ]] || problems+=("line $lineno: bad object path '$obj'")
        case $kind in
        method | get | set) [[ $member != - ]] || problems+=("line $lineno: kind $kind needs a member") ;;
        getall) [[ $member == - ]] || problems+=("line $lineno: kind getall takes member '-', not '$member'") ;;
        *) problems+=("line $lineno: unknown kind '$kind' (method, get, getall or set)") ;;
        esac
        [[ $iface != "$PROPS" ]] ||
                problems+=("line $lineno: write $PROPS calls as kind get, getall or set of the property's interface")
        [[ $kind == method || ${#f[@]} == 11 ]] || problems+=("line $lineno: only kind method takes arguments")
        for r in "${f[@]:5:6}"; do
                [[ $r =~ ^(allow|deny-bus|deny-daemon)$ ]] ||
                        problems+=("line $lineno: bad result '$r' (allow, deny-bus or deny-daemon)")
        done
        if [[ -n ${ROW_LINE[$key]:-} ]]; then
                problems+=("line $lineno: the same row as line ${ROW_LINE[$key]}: $key")
                continue
        fi
        ROW_LINE[$key]=$lineno
        ROW_EXPECT[$key]="${f[*]:5:6}"
        ROW_ARGS[$key]="${f[*]:11}"
        ROWS+=("$key")
done <"$MATRIX"
it_list "access-matrix.txt is well-formed (${#ROWS[@]} rows)" "${problems[@]}"

# ---- what needs a row: the interfaces in conf/interfaces/ ...
declare -A REQUIRED=() XML_IFACE=() DOMAIN_OBJECTS=()
DOMAINS=()
problems=()
for xml in "$IFACE_DIR"/*.xml; do
        while read -r iface kind member; do
                if [[ ! $iface =~ ^org\.hubguard\.([a-z]+)1\.Manager$ ]]; then
                        problems+=("${xml##*/}: interface $iface is not org.hubguard.<domain>1.Manager: where is it served?")
                        continue
                fi
                dom=${BASH_REMATCH[1]}
                if [[ -z ${XML_IFACE[$iface]:-} ]]; then
                        XML_IFACE[$iface]=conf/interfaces/${xml##*/}
                        DOMAINS+=("$dom")
                        DOMAIN_OBJECTS[$dom]="/org/hubguard/${dom}1 /org/freedesktop/LogControl1"
                fi
                REQUIRED["$dom /org/hubguard/${dom}1 $iface $member $kind"]=${XML_IFACE[$iface]}
        done < <(xml_members "$xml")
done
((${#DOMAINS[@]} > 0)) || problems+=("no interfaces found in $IFACE_DIR")
it_list "the interfaces in conf/interfaces/ are read (${DOMAINS[*]})" "${problems[@]}"

# coverage KEY-PATTERN: check rows against REQUIRED for the keys whose interface is (not) from the XML.
# A set row for a read-only property is a probe of its own and needs no writable property.
coverage_missing() {
        local want=$1 key src out=()
        for key in "${!REQUIRED[@]}"; do
                src=${REQUIRED[$key]}
                [[ ($want == xml && $src == conf/*) || ($want == live && $src != conf/*) ]] || continue
                [[ -n ${ROW_LINE[$key]:-} ]] || out+=("no row for: $key   (a member in $src; add a row to tests/integration/access-matrix.txt)")
        done
        ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}" | sort
}
coverage_stale() {
        local want=$1 key dom obj iface member kind out=()
        for key in "${ROWS[@]}"; do
                read -r dom obj iface member kind <<<"$key"
                if [[ -n ${XML_IFACE[$iface]:-} ]]; then
                        [[ $want == xml ]] || continue
                else
                        [[ $want == live ]] || continue
                fi
                [[ -n ${REQUIRED[$key]:-} ]] && continue
                [[ $kind == set && -n ${REQUIRED["$dom $obj $iface $member get"]:-} ]] && continue
                out+=("line ${ROW_LINE[$key]}: no such member: $key")
        done
        ((${#out[@]} == 0)) || printf '%s\n' "${out[@]}"
}
mapfile -t problems < <(coverage_missing xml)
it_list "every method and property in conf/interfaces/*.xml has a row in access-matrix.txt" "${problems[@]}"
mapfile -t problems < <(coverage_stale xml)
it_list "every row for an interface in conf/interfaces/ names a member it has" "${problems[@]}"

it_setup

# ---- ... and the other interfaces of the daemons' objects, as the live objects introspect
problems=()
for key in "${ROWS[@]}"; do
        read -r dom obj _ <<<"$key"
        [[ " ${DOMAIN_OBJECTS[$dom]:-} " == *" $obj "* ]] || DOMAIN_OBJECTS[$dom]+=" $obj"
done
for dom in "${!DOMAIN_OBJECTS[@]}"; do
        for obj in ${DOMAIN_OBJECTS[$dom]}; do
                if ! xml=$(bus introspect --xml-interface "org.hubguard.${dom}1" "$obj" 2>&1); then
                        problems+=("cannot introspect $obj of org.hubguard.${dom}1: $xml")
                        continue
                fi
                while read -r iface kind member; do
                        [[ $iface == "$PROPS" || -n ${XML_IFACE[$iface]:-} ]] && continue
                        REQUIRED["$dom $obj $iface $member $kind"]="live $obj of org.hubguard.${dom}1"
                done < <(xml_members <<<"$xml")
        done
done
it_list "the daemons' objects introspect" "${problems[@]}"
mapfile -t problems < <(coverage_missing live)
it_list "every member of the other interfaces on the daemons' objects has a row in access-matrix.txt" "${problems[@]}"
mapfile -t problems < <(coverage_stale live)
it_list "every row for another interface names a member the live object has" "${problems[@]}"

# ---- the matrix
DBUS_LOG=$STACK_DIR/log/dbus.log
CA_PEM=$(cat "$STACK_DIR/pki/ca.pem")
declare -A CLASS_UID=()
for c in "${CLASSES[@]}"; do
        CLASS_UID[$c]=$(id -u "${CLASS_USER[$c]}")
done

# probe CLASS WIRE-INTERFACE WIRE-MEMBER BUSCTL-CALL-ARGS...: make the call as the caller class and
# set RESULT (allow, deny-bus, deny-daemon, or what went wrong) and DETAIL (the reply's error).
probe() {
        local class=$1 wiface=$2 wmember=$3
        shift 3
        local uid=${CLASS_UID[$class]} size out reply type sender ename emsg rejected=false
        # shellcheck disable=SC2031 # stack.sh exports it in a subshell of its own; it_setup sets ours
        local cmd=(env SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0
                busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" --timeout=20 call -- "$@")

        size=$(stat -c %s "$DBUS_LOG")
        # sd-bus's debug log names each message it sends and gets, with the sender and error name
        # of the reply, which busctl itself does not print. The reply's body (stdout) is dropped:
        # GetInitialPassword returns a password.
        if [[ $class == root ]]; then
                out=$("${cmd[@]}" 2>&1 >/dev/null)
        else
                out=$(runuser -u "${CLASS_USER[$class]}" -- "${cmd[@]}" 2>&1 >/dev/null)
        fi
        reply=$(awk '
                function field(f) {
                        if (match($0, " " f "=[^ ]*"))
                                return substr($0, RSTART + length(f) + 2, RLENGTH - length(f) - 2)
                        return ""
                }
                /^Sent message type=method_call / && field("destination") != "org.freedesktop.DBus" {
                        cookie = field("cookie")
                }
                /^Got message type=(method_return|error) / && cookie != "" && field("reply_cookie") == cookie {
                        emsg = $0
                        sub(/.* error-message=/, "", emsg)
                        print field("type"), field("sender"), field("error-name"), emsg
                        exit
                }' <<<"$out")
        read -r type sender ename emsg <<<"$reply"

        # The bus daemon logs every message its policy refuses, with the sender's uid.
        local re="sender=\"[^\"]*\" \\(uid=$uid pid=[0-9]+ "
        while IFS= read -r l; do
                [[ $l == *"Rejected send message"* && $l == *"interface=\"$wiface\" member=\"$wmember\""* &&
                        $l =~ $re ]] && rejected=true
        done < <(tail -c +$((size + 1)) "$DBUS_LOG")

        DETAIL=
        case $type in
        method_return)
                RESULT=allow
                $rejected && RESULT="allow-but-bus-logged-rejection"
                ;;
        error)
                DETAIL="$ename: $emsg"
                if [[ $ename == org.freedesktop.DBus.Error.AccessDenied ]]; then
                        if [[ $sender == org.freedesktop.DBus ]]; then
                                RESULT=deny-bus
                                $rejected || RESULT="deny-bus-without-log-line"
                        else
                                RESULT=deny-daemon
                                $rejected && RESULT="deny-daemon-but-bus-logged-rejection"
                        fi
                elif [[ $ename == org.freedesktop.DBus.Error.* && $INCONCLUSIVE == *" ${ename##*.} "* ]]; then
                        RESULT="inconclusive:${ename##*.}"
                else
                        RESULT=allow
                fi
                ;;
        *)
                RESULT=no-reply
                DETAIL=$(tail -n 1 <<<"$out")
                ;;
        esac
}

for key in "${ROWS[@]}"; do
        read -r dom obj iface member kind <<<"$key"
        service=org.hubguard.${dom}1
        desc="$dom $obj $iface.$member ($kind)"
        [[ $kind == getall ]] && desc="$dom $obj $iface (getall)"
        desc+=" [access-matrix.txt:${ROW_LINE[$key]}]"
        case $kind in
        get) call=("$PROPS" Get ss "$iface" "$member") ;;
        getall) call=("$PROPS" GetAll s "$iface") ;;
        set)
                # Set it to what it is, so that an allowed call changes nothing.
                cur=$(bus get-property --json=short "$service" "$obj" "$iface" "$member" 2>&1)
                sig=$(jq -r .type <<<"$cur" 2>/dev/null)
                if [[ ! $sig =~ ^[sbynqiuxtdog]$ ]]; then
                        it_list "$desc" "cannot read the current value of a basic type to set it again: $cur"
                        continue
                fi
                call=("$PROPS" Set ssv "$iface" "$member" "$sig" "$(jq -r .data <<<"$cur")")
                ;;
        method)
                read -r -a margs <<<"${ROW_ARGS[$key]}"
                call=("$iface" "$member")
                ;;
        esac
        got=() notes=()
        for class in "${CLASSES[@]}"; do
                args=("${call[@]}")
                if [[ $kind == method ]]; then
                        for a in "${margs[@]}"; do
                                [[ $a == @CA_PEM@ ]] && a=$CA_PEM
                                args+=("${a//@CALLER@/$class}")
                        done
                fi
                wiface=$PROPS wmember=${call[1]}
                [[ $kind == method ]] && wiface=$iface wmember=$member
                probe "$class" "$wiface" "$wmember" "$service" "$obj" "${args[@]}"
                got+=("$RESULT")
                [[ -n $DETAIL ]] && notes+=("$class: $DETAIL")
        done
        expected=${ROW_EXPECT[$key]}
        it_is "$desc" "$expected" "${got[*]}"
        # The replies behind a mismatch; and for a row that passes, the errors an allowed caller got.
        read -r -a exp <<<"$expected"
        for i in "${!CLASSES[@]}"; do
                if [[ ${exp[i]} != "${got[i]}" ]]; then
                        echo "#   ${CLASSES[i]}: expected ${exp[i]}, got ${got[i]}"
                fi
        done
        for n in "${notes[@]}"; do
                [[ ${expected} == "${got[*]}" && $n == *AccessDenied* ]] && continue
                echo "#   ${n:0:300}"
        done
done
