#!/usr/bin/env bash
# `cirun run` of an image with a 256 MB layer to 3 lab hosts: time, bytes sent and the
# installer's peak memory for the first run and a re-run. Memory should not grow with the
# image (layers are streamed). Not a test; prints figures only. Needs root (the lab).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirunbn} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.11}
lab=$top/tests/lab/lab.sh
cirun=$top/build/cirun
work=$(mktemp -d /tmp/cirun-bench-run.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
bash "$lab" up 3 >/dev/null 2>&1
mkdir -p "$work/ctx/bin"
head -c $((256 << 20)) /dev/urandom > "$work/ctx/bin/big"
printf 'FROM scratch\nCOPY . .\n' > "$work/ctx/Kubefile"
"$cirun" build -t bench:v1 "$work/ctx" > /dev/null
ips=$(bash "$lab" ips | paste -sd,)
m=${ips%%,*}; n=${ips#*,}
for pass in first re-run; do
    /usr/bin/time -f '%e %M' -o "$work/time" "$cirun" run bench:v1 -m "$m" -n "$n" \
        -p "${CIRUN_LAB_PASSWORD:-cirun-lab}" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
    read -r secs rss < "$work/time"
    sent=$(awk '$2 ~ /^(master0|node)$/ {s += $6} END {print s}' "$work/out")
    echo "$pass run: ${secs}s, ${sent} bytes sent to 3 hosts, peak RSS of cirun $((rss / 1024)) MB"
done
