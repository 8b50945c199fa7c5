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
