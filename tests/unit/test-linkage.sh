#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Each program links only what it uses (issue "Link each daemon only with what it uses"): its ELF
# NEEDED entries, from readelf -d, against the list it is allowed. A library added to a program's
# link without being used (say libcrypto pulled in by a shared object that references it) shows up
# here, as it costs every daemon's memory (libcrypto alone: 404 KiB private per process).
# Arguments: pairs PROGRAM "LIB LIB ...", library names without "lib" and version (crypto, c).
# The sanitizers' own runtime libraries are always allowed.
set -uo pipefail

n=0
failed=0
while (($# >= 2)); do
        prog=$1 list=$2 allowed=" $2 "
        shift 2
        n=$((n + 1))
        needed=$(readelf -d "$prog" 2>/dev/null | sed -n 's/.*(NEEDED).*\[lib\([^.]*\)\.so.*\]/\1/p')
        extra=()
        for lib in $needed; do
                case $lib in asan | ubsan | lsan | gcc_s | stdc++) continue ;; esac
                [[ $allowed == *" $lib "* ]] || extra+=("$lib")
        done
        if [[ -z $needed ]]; then
                echo "not ok $n - $(basename "$prog"): no NEEDED entries read (readelf -d)"
                failed=$((failed + 1))
        elif ((${#extra[@]})); then
                echo "not ok $n - $(basename "$prog") links ${extra[*]}, not in its list ($list)"
                failed=$((failed + 1))
        else
                echo "ok $n - $(basename "$prog") links only $(tr '\n' ' ' <<<"$needed")"
        fi
done
echo "1..$n"
exit $((failed > 0))
