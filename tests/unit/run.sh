#!/usr/bin/env bash
# Runs cmocka test binaries; each prints its own summary. Ends with one total line.
set -u
pass=0 fail=0 failed=()
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        failed+=("${t##*/}")
        [ -z "$f" ] && fail=$((fail + 1))   # crashed before its summary
    fi
done
echo "unit: $pass passed, $fail failed"
if [ ${#failed[@]} -gt 0 ]; then
    echo "unit: failing binaries: ${failed[*]}" >&2
    exit 1
fi
