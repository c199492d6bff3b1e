#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The built security.txt against RFC 9116 (EN 303 645 5.2-1): every line a comment or "Field: value";
# Contact at least once, each a mailto:/https: URI; Expires exactly once, an RFC 3339 UTC time in
# the future (now, at build time); Policy, Canonical https: URLs; Preferred-Languages at most once.
# Then that it says what the build was configured with, and that SECURITY.md states the default
# contact and support end of meson_options.txt.
# Arguments: SECURITY.TXT CONTACT SUPPORT_END SECURITY.MD MESON_OPTIONS.TXT
set -uo pipefail

txt=$1 contact=$2 support_end=$3 security_md=$4 options=$5
n=0
failed=0
check() {
        local desc=$1
        shift
        n=$((n + 1))
        if "$@"; then
                echo "ok $n - $desc"
        else
                failed=$((failed + 1))
                echo "not ok $n - $desc"
        fi
}
fields() { sed -n "s/^$1: //p" "$txt"; }

bad_lines=$(grep -nvE '^(#.*|[A-Za-z0-9-]+: [^ ].*|)$' "$txt")
check "every line is a comment, blank, or 'Field: value'" test -z "$bad_lines"
[[ -z $bad_lines ]] || sed 's/^/# /' <<<"$bad_lines"

contacts=$(fields Contact)
check "Contact is present" test -n "$contacts"
check "every Contact is a mailto: or https: URI" \
        bash -c '! grep -vqE "^(mailto:[^@ ]+@[^@ ]+|https://[^ ]+)$" <<<"$1"' _ "$contacts"

expires=$(fields Expires)
check "Expires appears exactly once" test "$(grep -c '^Expires: ' "$txt")" = 1
check "Expires is an RFC 3339 UTC time" \
        bash -c '[[ $1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]]' _ "$expires"
expires_epoch=$(date -u -d "$expires" +%s 2>/dev/null || echo 0)
check "Expires ($expires) is in the future" test "$expires_epoch" -gt "$(date -u +%s)"

for f in Policy Canonical; do
        v=$(fields "$f")
        check "$f, if present, is an https: URL" bash -c '[[ -z $1 ]] || ! grep -vqE "^https://[^ ]+$" <<<"$1"' _ "$v"
done
check "Preferred-Languages appears at most once" test "$(grep -c '^Preferred-Languages: ' "$txt")" -le 1
check "Preferred-Languages is a list of language tags" \
        bash -c '[[ -z $1 || $1 =~ ^[A-Za-z]{2,3}(-[A-Za-z0-9]+)*(,\ ?[A-Za-z]{2,3}(-[A-Za-z0-9]+)*)*$ ]]' _ "$(fields Preferred-Languages)"

check "Contact is the configured security_contact ($contact)" test "$contacts" = "$contact"
check "Expires is the end of the configured support_end ($support_end)" test "$expires" = "${support_end}T23:59:59Z"

default_contact=$(sed -n "/^option('security_contact'/,/)/s/.*value : 'mailto:\([^']*\)'.*/\1/p" "$options")
default_end=$(sed -n "/^option('support_end'/,/)/s/.*value : '\([^']*\)'.*/\1/p" "$options")
check "SECURITY.md names the default contact ($default_contact)" grep -qF "$default_contact" "$security_md"
check "SECURITY.md names the default support end ($default_end)" grep -qF "| $default_end |" "$security_md"

echo "1..$n"
((failed == 0))
