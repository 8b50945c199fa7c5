#!/usr/bin/env bash
# `make demo` (for now): boots 3 lab hosts and shows what cirun-agent sees on each.
# Once `cirun run` exists this installs the demo cluster image onto the same hosts.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lab=$top/tests/lab/lab.sh
bash "$lab" up 3
bash "$lab" status
n=$(bash "$lab" ips | wc -l)
for ((i = 1; i <= n; i++)); do
    bash "$lab" put "$i" "$top/build/cirun-agent" /usr/local/bin/cirun-agent
    echo
    echo "---- cirun-agent facts on host $i ($(bash "$lab" ips | sed -n "${i}p"))"
    bash "$lab" ssh "$i" cirun-agent facts
done
echo
echo "The lab stays up: 'make lab-status' shows it, 'make lab-down' removes it."
