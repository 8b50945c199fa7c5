#!/usr/bin/env bash
# Transfer progress of `cirun run` on 2 lab hosts, in its three forms: stdout not a
# terminal (timestamped lines per host at the start, every few seconds and at the end, and
# a total line; not a line per frame, no escape sequence), --output json ("progress"
# events with host, bytes, total and rate), and a terminal (`script`: the block redrawn in
# place, its final state). A re-run sends nothing and shows no progress.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-progress cirprg 10.213.31

lab_begin 2

# one image per form, each with a layer the hosts do not have yet
mkimage() { # TAG MIB: FROM the previous one, a new file of MIB random MiB
    local d=$work/ctx-$1
    mkdir -p "$d/bin"
    head -c $(($2 << 20)) /dev/urandom > "$d/bin/payload-$1"
    if [ "$1" = v1 ]; then printf 'FROM scratch\nCOPY . .\n'; else printf 'FROM prog:v1\nCOPY bin bin\n'; fi > "$d/Kubefile"
    "$cirun" build -t "prog:$1" "$d" > /dev/null
}
check "build the test images" bash -c "$(declare -f mkimage); work='$work' cirun='$cirun'; mkimage v1 24 && mkimage v2 8 && mkimage v3 8" || bail "no image"

ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
t0=$(date +%s)
out=$("$cirun" run prog:v1 -m "$ip1" -n "$ip2" -p "$pw" 2>&1)
secs=$(( $(date +%s) - t0 ))
check_out "first run succeeds" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
for ip in "$ip1" "$ip2"; do
    check_out "not a terminal: $ip's start line, timestamped" "^$ts \\[$ip\\] distribute +0 B / 24\\.0 MiB +0% .*ETA" printf '%s\n' "$out"
    check_out "not a terminal: $ip's end line with its rate" "^$ts \\[$ip\\] distribute +24\\.0 MiB / 24\\.0 MiB +100% +[0-9.]+ [KMG]?i?B/s +done in [0-9.]+s" printf '%s\n' "$out"
    # 96 frames of 256 KiB: a line each would be 96
    n=$(printf '%s\n' "$out" | grep -c "^[^ ]* \\[$ip\\] distribute ")
    check "not a terminal: $ip has $n progress lines in ${secs}s, one per 5 s at most" test "$n" -le $((2 + secs / 5 + 1))
done
check_out "not a terminal: a total line" "^$ts total \\(2 hosts\\) +48\\.0 MiB / 48\\.0 MiB +100% .* in [0-9.]+s" printf '%s\n' "$out"
check "not a terminal: no escape sequence" bash -c "! printf '%s' \"\$1\" | grep -q \$'\\033'" _ "$out"

out=$("$cirun" run prog:v1 -m "$ip1" -n "$ip2" -p "$pw" 2>&1)
check_out "a re-run succeeds" "^$ip2 +node +[0-9]+ +ok +[0-9.]+ +0 " printf '%s\n' "$out"
check "a re-run sends nothing and shows no progress" bash -c "! printf '%s\n' \"\$1\" | grep -q ' distribute .* / '" _ "$out"

out=$("$cirun" run prog:v2 -m "$ip1" -n "$ip2" -p "$pw" --output json 2>/dev/null)
check "--output json: progress events with host, bytes, total and rate" python3 - "$out" "$ip1" "$ip2" <<'PY'
import json, sys
ev = [json.loads(l) for l in sys.argv[1].splitlines()]
p = [e for e in ev if e["event"] == "progress"]
for ip in sys.argv[2:]:
    mine = [e for e in p if e["host"] == ip]
    assert mine, f"no progress event for {ip}"
    first, last = mine[0], mine[-1]
    total = first["total"]
    assert 8 << 20 <= total < 9 << 20, first          # the new layer only
    assert first["bytes"] == 0 and not first["done"], first
    assert last["done"] and last["ok"] and last["bytes"] == total, last
    assert last["rate_bps"] > 0 and last["phase"] == "distribute", last
    assert all(e["total"] == total and "eta_s" in e for e in mine), mine
    assert len(mine) <= 2 + last["duration_ms"] // 1000 + 1, len(mine)
t = [e for e in ev if e["event"] == "progress-total"]
assert len(t) == 1 and t[0]["hosts"] == 2 and t[0]["bytes"] == t[0]["total"], t
PY

# a terminal: script(1) gives cirun a pseudo-terminal and copies what it drew
script -qfec "'$cirun' run prog:v3 -m '$ip1' -n '$ip2' -p '$pw'" /dev/null > "$work/tty.out" 2>&1
check "on a terminal: the block of 2 hosts and a total is redrawn in place" grep -q $'\033\\[3A\033\\[J' "$work/tty.out"
tail=$(tr -d '\r' < "$work/tty.out" | sed 's/\x1b\[[0-9]*[AJ]/\n/g' | grep -E 'distribute .* / |^total ' | tail -n 3)
check_out "on a terminal: the final block shows each host done" "^\\[$ip1\\] distribute +8\\.00 MiB / 8\\.00 MiB +100% .*done in" printf '%s\n' "$tail"
check_out "on a terminal: and the total" "^total \\(2 hosts\\) +16\\.0 MiB / 16\\.0 MiB +100%" printf '%s\n' "$tail"
check_out "on a terminal: the run succeeds" "^$ip2 +node +[0-9]+ +ok" tr -d '\r' < "$work/tty.out"

check "lab-down" bash "$lab" down
summary
