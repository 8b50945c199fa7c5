#!/usr/bin/env bash
# The lab itself: up/status/down twice in a row leaves nothing behind, and a lab whose
# processes were killed (as CI's are after a session) is recovered by the next up.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirunlt} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.8}
T_NAME=lab
. "$here/../lib.sh"
lab=$here/lab.sh
trap 'bash "$lab" down >/dev/null 2>&1' EXIT

nothing_left() { local l; l=$(bash "$lab" leftovers); [ -z "$l" ] || { echo "$l"; return 1; }; }
all_running() { [ "$(bash "$lab" status | grep -cE ' (running|degraded) ')" = "$1" ]; }

for round in 1 2; do
    check "round $round: lab-up N=3" bash "$lab" up 3 || bail "the lab did not come up"
    check_out "round $round: lab-status shows 3 running hosts" "$CIRUN_LAB_PREFIX-3 .* (running|degraded) " bash "$lab" status
    check_out "round $round: lab-status names the sudo variants" "deploy\(sudo:nopasswd\).*" bash "$lab" status
    check "round $round: lab-down" bash "$lab" down
    check "round $round: nothing left (netns, veth, bridge, nspawn, state dir)" nothing_left
done

check "up is idempotent: second up boots nothing" bash -c "bash '$lab' up 2 && bash '$lab' up 2 2>&1 | grep -q '(0 booted now)'"

# Simulate a session ended abruptly: nspawn killed, container init orphaned, kernel
# objects and state left behind. Only the PID the lab recorded is signalled.
state=${CIRUN_LAB_STATE:-/var/lib/cirun-lab/$CIRUN_LAB_PREFIX}
read -r pid _ < "$state/hosts/1/nspawn.pid"
kill -KILL "$pid"
check "a killed host is reported stopped" bash -c "bash '$lab' status | grep -q '$CIRUN_LAB_PREFIX-1 .* stopped'"
check "up recovers the killed host" bash "$lab" up 2
check "both hosts run again" all_running 2
check "shrinking to one host removes the other" bash -c "bash '$lab' up 1 && ! ip netns list | grep -q '^$CIRUN_LAB_PREFIX-2 '"
ip netns add "$CIRUN_LAB_PREFIX-9"
check "down also removes stale objects of our names" bash "$lab" down
check "nothing left after recovery" nothing_left
check "a bad prefix is refused" bash -c "! CIRUN_LAB_PREFIX=Bad_Prefix bash '$lab' status"
summary
