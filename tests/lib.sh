# Shell test helpers for tests/lab and tests/e2e: TAP-like lines and one summary line.
# shellcheck shell=bash
t_pass=0
t_fail=0
t_name=${T_NAME:-test}

ok() { t_pass=$((t_pass + 1)); echo "ok - $*"; }
not_ok() { t_fail=$((t_fail + 1)); echo "not ok - $*"; }

# check DESC CMD…: runs CMD, passes when it exits 0; shows its output when it fails.
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'; fi
}

# check_out DESC PATTERN CMD…: passes when CMD exits 0 and its output matches PATTERN (grep -E).
check_out() {
    local desc=$1 pat=$2 out; shift 2
    if out=$("$@" 2>&1) && printf '%s\n' "$out" | grep -Eq -- "$pat"; then
        ok "$desc"
    else
        not_ok "$desc (wanted /$pat/)"; printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
    fi
}

summary() {
    echo "$t_name: $t_pass passed, $t_fail failed"
    [ "$t_fail" -eq 0 ]
}
