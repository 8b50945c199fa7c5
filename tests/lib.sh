# Shell test helpers for tests/lab and tests/e2e: TAP-like lines and one summary line.
# shellcheck shell=bash
t_pass=0
t_fail=0
t_name=${T_NAME:-test}

ok() { t_pass=$((t_pass + 1)); echo "ok - $*"; }
not_ok() { t_fail=$((t_fail + 1)); echo "not ok - $*"; return 1; }

# check DESC CMD…: runs CMD, passes when it exits 0; shows its output when it fails.
# Returns non-zero on failure, so a test can stop when nothing after it can pass.
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'; return 1; fi
}

# check_out DESC PATTERN CMD…: passes when CMD exits 0 and its output matches PATTERN (grep -E).
check_out() {
    local desc=$1 pat=$2 out; shift 2
    if out=$("$@" 2>&1) && printf '%s\n' "$out" | grep -Eq -- "$pat"; then
        ok "$desc"
    else
        not_ok "$desc (wanted /$pat/)"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'; return 1
    fi
}

# Ends the test early (a precondition failed): prints the summary and exits non-zero.
bail() { echo "bail out: $*"; summary; exit 1; }

summary() {
    echo "$t_name: $t_pass passed, $t_fail failed"
    [ "$t_fail" -eq 0 ]
}

# lab_env NAME PREFIX SUBNET: what every e2e file on a lab starts with ($top set first):
# its name for the summary, its lab (CIRUN_LAB_PREFIX/SUBNET when exported, else the
# file's own defaults PREFIX and SUBNET), $lab, $cirun (of $BUILD, default build), a
# private $work with CIRUN_HOME in it, the lab password $pw, and at exit the lab brought
# down and $work removed.
lab_env() {
    t_name=$1
    export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-$2} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-$3}
    lab=$top/tests/lab/lab.sh
    cirun=$top/${BUILD:-build}/cirun
    work=$(mktemp -d "/tmp/cirun-$t_name.XXXXXX") || bail "cannot make a work directory"
    export CIRUN_HOME=$work/home
    trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
    pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
}

# forget_cluster NAME: the control machine forgets cluster NAME (its saved definition, the
# copies of its journals; the hosts are left as they are), so that a run of another host
# set under that name starts a cluster of its own: a run of fewer hosts than a saved
# cluster's is refused (a run never removes hosts), and apply reconciles against it.
forget_cluster() { rm -rf "$CIRUN_HOME/clusters/$1"; }

# lab_begin N: brings up N lab hosts (bails when they do not come up) and sets ip1..ipN.
lab_begin() {
    local n=$1 i ips
    check "lab-up N=$n" bash "$lab" up "$n" || bail "the lab did not come up"
    ips=$(bash "$lab" ips)
    for ((i = 1; i <= n; i++)); do
        printf -v "ip$i" '%s' "$(printf '%s\n' "$ips" | sed -n "${i}p")"
    done
}

# hostssh I CMD…: runs CMD on lab host I.
hostssh() { bash "$lab" ssh "$@"; }
