#!/usr/bin/env bash
# Runs the lab test and every end-to-end test; each prints its own summary line.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "e2e: the lab needs root"; exit 1; }
rc=0
for t in "$top"/tests/lab/test-*.sh "$top"/tests/e2e/t-*.sh "$top"/tests/e2e/smoke.sh; do
    [ -f "$t" ] || continue
    echo "== ${t#$top/}"
    bash "$t" || rc=1
done
exit $rc
