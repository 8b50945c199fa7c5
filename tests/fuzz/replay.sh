#!/usr/bin/env bash
# Replays each fuzz target's corpus (tests/fuzz/corpus/<target>/) under the sanitizers the
# binaries were built with. A target with no corpus is an error: every parser has seeds.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pass=0 fail=0
for bin in "$@"; do
    name=${bin##*/}; name=${name#fuzz-}
    corpus=$here/corpus/$name
    if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
        echo "fuzz-replay: $name has no corpus in $corpus"; fail=$((fail + 1)); continue
    fi
    if "$bin" "$corpus"; then pass=$((pass + 1)); else echo "fuzz-replay: $name FAILED"; fail=$((fail + 1)); fi
done
echo "fuzz-replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
