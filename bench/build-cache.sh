#!/usr/bin/env bash
# Build timing on a context of realistic size (one 256 MB file + 2,000 small files, like a
# base image's binaries and manifests): first build, fully cached rebuild, --no-cache
# rebuild. Prints the times and ratios; not a test, never fails on timing.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cirun=$top/build/cirun
work=$(mktemp -d /tmp/cirun-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CIRUN_HOME=$work/home
ctx=$work/ctx
mkdir -p "$ctx/bin" "$ctx/manifests"
head -c $((256 << 20)) /dev/urandom > "$ctx/bin/big"
for i in $(seq 1 2000); do echo "kind: ConfigMap # $i" > "$ctx/manifests/m$i.yaml"; done
printf 'FROM scratch\nCOPY . .\nRUN echo built > bin/stamp\nCMD echo hi\n' > "$ctx/Kubefile"
t() { local s=$(date +%s%N); "$@" > /dev/null; echo $(( ($(date +%s%N) - s) / 1000000 )); }
first=$(t "$cirun" build -t bench:v1 "$ctx")
cached=$(t "$cirun" build -t bench:v1 "$ctx")
nocache=$(t "$cirun" build --no-cache -t bench:v1 "$ctx")
size=$(du -sb "$CIRUN_HOME/images/blobs" | cut -f1)
echo "context: 256 MB file + 2000 small files; store after build: $((size >> 20)) MB"
echo "first build:     ${first} ms"
echo "cached rebuild:  ${cached} ms  (ratio first/cached: $(( first / (cached ? cached : 1) ))x)"
echo "--no-cache:      ${nocache} ms"
