#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The D-Bus man pages against the interface XML, and a man page for every installed program.
#
# For each conf/interfaces/org.hubguard.DOMAIN1.Manager.xml, man/org.hubguard.DOMAIN1.5.scd must
# exist and describe every method and signal as "*Name*(" with each argument as TYPE _name_, every
# property as "*Name* (TYPE, ...", list each in its SYNOPSIS block, and name each in HISTORY. A
# member added to the XML without its documentation fails here, which tells whoever merges what to
# write. With --installed INTRO-INSTALLED.JSON (the build's meson-info), every program installed to
# a bin or libexec directory must have a man page installed too.
# (bash and sed, not python: nothing outside Build-Depends; the XML is introspection output, one
# element per line.)
# Usage: test-dbus-man.sh SOURCE-ROOT [--installed INTRO-INSTALLED.JSON]; prints TAP.
set -uo pipefail

root=$1
n=0
failed=0
check() { # check DESC COMMAND...
        local desc=$1
        shift
        n=$((n + 1))
        if "$@" >/dev/null 2>&1; then
                echo "ok $n - $desc"
        else
                failed=$((failed + 1))
                echo "not ok $n - $desc"
        fi
}
# section FILE TITLE: the text of "# TITLE" up to the next "# " heading
section() { awk -v t="# $2" '$0 == t {on = 1; next} /^# / {on = 0} on' "$1"; }
re_quote() { sed 's/[][\.*^$(){}+?|/]/\\&/g' <<<"$1"; }

xmls=("$root"/conf/interfaces/*.xml)
check "conf/interfaces has interface XML" test -e "${xmls[0]}"
for xml in "${xmls[@]}"; do
        iface=$(sed -n 's/.*<interface name="\([^"]*\)">.*/\1/p' "$xml")
        bus_name=${iface%.*}
        page=$root/man/$bus_name.5.scd
        check "$bus_name(5) exists for $(basename "$xml")" test -f "$page"
        [[ -f $page ]] || continue
        synopsis=$(section "$page" SYNOPSIS)
        history=$(section "$page" HISTORY)
        kind='' member='' type='' args=()
        # flush: check the member collected so far
        flush() {
                [[ -n $member ]] || return 0
                local m q
                m=$member
                q=$(re_quote "$m")
                if [[ $kind == property ]]; then
                        check "$bus_name(5) describes property $m" grep -qE "^\*$q\* \($(re_quote "$type"), " "$page"
                        check "$bus_name(5) lists property $m in SYNOPSIS" grep -qE " $(re_quote "$type") $q = " <<<"$synopsis"
                else
                        check "$bus_name(5) describes $kind $m" grep -qE "^\*$q\*\(" "$page"
                        check "$bus_name(5) lists $kind $m in SYNOPSIS" grep -qE "^ +$q\(" <<<"$synopsis"
                        local line a
                        line=$(grep -E "^\*$q\*\(" "$page" | head -n 1)
                        for a in "${args[@]}"; do
                                local at=${a%% *} an=${a#* }
                                check "$bus_name(5): $m shows argument $at $an" \
                                        grep -qF "$at _${an//_/\\_}_" <<<"$line"
                        done
                fi
                check "$bus_name(5) names $kind $m in HISTORY" grep -qF "*$m*" <<<"$history"
                member='' args=()
        }
        while IFS= read -r l; do
                if [[ $l =~ \<(method|signal)\ name=\"([^\"]+)\" ]]; then
                        flush
                        kind=${BASH_REMATCH[1]} member=${BASH_REMATCH[2]}
                elif [[ $l =~ \<property\ name=\"([^\"]+)\"\ type=\"([^\"]+)\" ]]; then
                        flush
                        kind=property member=${BASH_REMATCH[1]} type=${BASH_REMATCH[2]}
                elif [[ $kind != property && $l =~ \<arg\ type=\"([^\"]+)\"\ name=\"([^\"]+)\" ]]; then
                        args+=("${BASH_REMATCH[1]} ${BASH_REMATCH[2]}")
                fi
        done <"$xml"
        flush
done

if [[ ${2:-} == --installed ]]; then
        installed=$(grep -oE '": "[^"]+"' "$3" | sed 's/^": "//; s/"$//')
        programs=$(grep -E '/(s?bin|libexec)(/|$)' <<<"$installed")
        check "the build installs programs" test -n "$programs"
        while IFS= read -r p; do
                [[ -n $p ]] || continue
                prog=$(basename "$p")
                sec=8
                [[ $p == */bin/* ]] && sec=1
                check "$prog has a man page ($prog($sec))" grep -qE "/man/man$sec/$(re_quote "$prog").$sec\$" <<<"$installed"
        done <<<"$programs"
fi
echo "1..$n"
((failed == 0))
