#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The built units' exposure as systemd-analyze scores it (EN 303 645 5.6; issue: "at most 1.5 for
# each unit; a test fails the build above the bound"). For reference, systemd's own hostnamed
# scores 1.5 and timesyncd 2.3. Arguments: THRESHOLD UNIT-FILE...
set -uo pipefail

threshold=$1
shift
n=0
failed=0
for unit in "$@"; do
        n=$((n + 1))
        name=$(basename "$unit")
        # (v252's --threshold= takes whole numbers only: compare the printed score ourselves.)
        out=$(systemd-analyze security --offline=yes "$unit" 2>&1)
        score=$(sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p' <<<"$out")
        if [[ -n $score ]] && awk -v s="$score" -v t="$threshold" 'BEGIN { exit !(s <= t) }'; then
                echo "ok $n - $name: exposure $score (at most $threshold)"
        else
                failed=$((failed + 1))
                echo "not ok $n - $name: exposure ${score:-unknown} (at most $threshold)"
                grep '✗' <<<"$out" | sed 's/^/# /' | head -n 20
        fi
done
echo "1..$n"
((failed == 0))
