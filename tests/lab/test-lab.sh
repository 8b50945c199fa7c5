#!/usr/bin/env bash
# The lab itself: up/status/down twice in a row leaves nothing behind, and a lab whose
# processes were killed (as CI's are after a session) is recovered by the next up. While a
# lab exists, the guard route keeps a run aimed at a lab that is down on this machine.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirunlt} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.8}
T_NAME=lab
. "$here/../lib.sh"
lab=$here/lab.sh
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/cirun-lab-test.XXXXXX)
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT

nothing_left() { local l; l=$(bash "$lab" leftovers); [ -z "$l" ] || { echo "$l"; return 1; }; }
guard_up() { ip route show exact 10.213.0.0/16 | grep -q '^unreachable'; }
# Other helpers' or developers' labs may be up on this machine: then the guard must stay.
guard_as_expected_after_down() {
    local others
    others=$(bash "$lab" others)
    if [ -n "$others" ]; then
        echo "other labs exist: $others"
        guard_up
    else
        ! guard_up
    fi
}
all_running() { [ "$(bash "$lab" status | grep -cE ' (running|degraded) ')" = "$1" ]; }

for round in 1 2; do
    check "round $round: lab-up N=3" bash "$lab" up 3 || bail "the lab did not come up"
    check "round $round: the guard route covers 10.213.0.0/16" guard_up
    check_out "round $round: the lab's own /24 still wins over the guard" "dev $CIRUN_LAB_PREFIX-br" ip route get "$CIRUN_LAB_SUBNET.11"
    check_out "round $round: lab-status shows 3 running hosts" "$CIRUN_LAB_PREFIX-3 .* (running|degraded) " bash "$lab" status
    check_out "round $round: lab-status names the sudo variants" "deploy\(sudo:nopasswd\).*" bash "$lab" status
    check "round $round: lab-down" bash "$lab" down
    check "round $round: nothing left (netns, veth, bridge, nspawn, state dir)" nothing_left
    check "round $round: the guard is gone unless another lab still exists" guard_as_expected_after_down
done

check "up is idempotent: second up boots nothing" bash -c "bash '$lab' up 2 && bash '$lab' up 2 2>&1 | grep -q '(0 booted now)'"
check_out "a second up keeps one guard route" '^1$' bash -c "ip route show exact 10.213.0.0/16 | wc -l"

# A run aimed at the address of a lab that is down: 10.213.99.0/24 is no lab's while the
# guard covers it (checked first: never aim cirun at an address the guard does not cover).
down_ip=10.213.99.11
if guard_up && ip route get "$down_ip" 2>&1 | grep -qE '^unreachable|No route to host' &&
    ! ip -o -4 addr show | grep -q ' 10\.213\.99\.'; then
    export CIRUN_HOME=$work/home
    mkdir -p "$work/img/etc" && echo x > "$work/img/etc/x" && printf 'FROM scratch\nCOPY etc etc\n' > "$work/img/Kubefile"
    check "build a tiny image" "$top/build/cirun" build -t guardtest:v1 "$work/img"
    t0=$(date +%s%N)
    out=$("$top/build/cirun" run guardtest:v1 -m "$down_ip" -p x --connect-timeout 30 2>&1)
    t1=$(date +%s%N)
    check_out "a run at a lab that is down fails here: no route to host, naming it" "no route to host $down_ip" printf '%s\n' "$out"
    check "and fails fast (no connect timeout)" test $(( (t1 - t0) / 1000000 )) -lt 5000
    unset CIRUN_HOME
else
    not_ok "$down_ip is not covered by the guard; not aiming cirun at it"
fi

# Simulate a session ended abruptly: nspawn killed, container init orphaned, kernel
# objects and state left behind. Only the PID the lab recorded is signalled.
state=${CIRUN_LAB_STATE:-/var/lib/cirun-lab/$CIRUN_LAB_PREFIX}
read -r pid _ < "$state/hosts/1/nspawn.pid"
kill -KILL "$pid"
# SIGKILL is delivered at once but the process may take a moment to go (a loaded machine)
check "a killed host is reported stopped" bash -c "for _ in \$(seq 1 50); do bash '$lab' status | grep -q '$CIRUN_LAB_PREFIX-1 .* stopped' && exit 0; sleep 0.1; done; exit 1"
check_out "ssh to a host that is not running sends nothing" 'is not running: nothing is sent' \
    bash -c "! bash '$lab' ssh 1 true 2>&1"
check_out "put to a host beyond the lab sends nothing" 'is not running: nothing is sent' \
    bash -c "! bash '$lab' put 7 /etc/hostname /tmp/x 2>&1"
check "up recovers the killed host" bash "$lab" up 2
check "both hosts run again" all_running 2
check "shrinking to one host removes the other" bash -c "bash '$lab' up 1 && ! ip netns list | grep -q '^$CIRUN_LAB_PREFIX-2 '"
ip netns add "$CIRUN_LAB_PREFIX-9"
check "down also removes stale objects of our names" bash "$lab" down
check "nothing left after recovery" nothing_left
check "a bad prefix is refused" bash -c "! CIRUN_LAB_PREFIX=Bad_Prefix bash '$lab' status"
check_out "a subnet the guard route does not cover is refused" 'must be 10.213.X' \
    bash -c "! CIRUN_LAB_SUBNET=192.168.77 bash '$lab' status 2>&1"
summary
