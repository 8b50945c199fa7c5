#!/usr/bin/env bash
# `make test`: deps, build, unit tests, the same under sanitizers, fuzz-corpus replay and
# the lab/e2e tests. Every stage runs even after a failure, so one run shows all of them.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
failed=()
stage() {
    local name=$1 t0=$SECONDS; shift
    echo "==== $name"
    if "$@"; then echo "==== $name: ok ($((SECONDS - t0))s)"; else failed+=("$name"); echo "==== $name: FAILED ($((SECONDS - t0))s)"; fi
}
stage deps make --no-print-directory deps
[ ${#failed[@]} -eq 0 ] || { echo "make test: cannot install dependencies"; exit 1; }
stage build make --no-print-directory -j"$(nproc)" all
stage unit make --no-print-directory -j"$(nproc)" unit
stage check make --no-print-directory -j"$(nproc)" check
stage fuzz-replay make --no-print-directory -j"$(nproc)" fuzz-replay
stage headers make --no-print-directory check-headers
stage e2e make --no-print-directory e2e
if [ ${#failed[@]} -gt 0 ]; then
    echo "make test: FAILED stages: ${failed[*]} ($((SECONDS - start))s)"
    exit 1
fi
echo "make test: all stages passed ($((SECONDS - start))s)"
