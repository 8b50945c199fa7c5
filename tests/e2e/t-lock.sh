#!/usr/bin/env bash
# The host lock on 2 real lab hosts (issue 10 point 6): while one run holds a host (its
# init.sh waits for a go file), a second run on that host is refused naming the holder,
# --force or not, and stops before changing any host; the first completes and leaves the
# lock free. A run whose cirun is killed mid-step keeps the host locked until its agent
# ends the step, which then frees the lock: a plain re-run works. A stale lock (written by hand: a past expiry, its agent gone) is reported
# and fails the run without --force, and is broken with it. A symlink or a FIFO at
# /var/lib/cirun/lock is refused, --force or not, without being followed or waited on.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-lock cirlock 10.213.33

lab_begin 2
lock=/var/lib/cirun/lock
go=/var/lib/cirun/e2e-lock-go
started=/var/lib/cirun/e2e-lock-started

mkdir -p "$work/img/scripts"
cat > "$work/img/scripts/init.sh" <<'SH'
#!/bin/bash
# holds the run (and the host's lock) until the test says go; 60 s at most
touch /var/lib/cirun/e2e-lock-started
for _ in $(seq 600); do [ -e /var/lib/cirun/e2e-lock-go ] && exit 0; sleep 0.1; done
echo "no go file within 60 s" >&2
exit 1
SH
printf 'FROM scratch\nCOPY scripts scripts\n' > "$work/Kubefile"
check "build the test image" "$cirun" build -t locktest:v1 -f "$work/Kubefile" "$work/img" || bail "no image"
run() { timeout 120 "$cirun" run locktest:v1 -p "$pw" "$@" 2>&1; }
me=$(hostname)

# ---- two runs at once on one host ----
# (the journal would skip init.sh as done: this run must reach it again)
hostssh 1 "rm -f $go $started /var/lib/cirun/data/lk/journal"
"$cirun" run locktest:v1 -m "$ip1" -p "$pw" --cluster-name lk > "$work/first.out" 2>&1 &
first=$!
check "the first run reaches init.sh on host 1" hostssh 1 \
    "for i in \$(seq 600); do [ -e $started ] && exit 0; sleep 0.1; done; exit 1" || bail "the first run did not start"
check_out "host 1's lock names the first run" "^owner-host .*
owner-pid $first
cluster lk
command run
agent-pid [0-9]+" hostssh 1 cat "$lock"
for force in "" --force; do
    out=$(run -m "$ip1" -n "$ip2" --cluster-name lk $force)
    check "a second run ${force:+with --force }fails" test $? -eq 1
    check_out "it names host 1 and the holder (control machine, pid, cluster, command, since)" \
        "^\\[$ip1\\] agent failed: host $ip1 is not free: locked by another cirun run: \`cirun run\` of cluster lk from ${me//./\\.} \\(pid $first\\), since 20[0-9-]+ [0-9:]+ UTC \\([0-9]+s ago\\)" printf '%s\n' "$out"
    check_out "and what to do" "wait for that run to end, then run again \\(--force never breaks a live lock\\)" printf '%s\n' "$out"
    check_out "it stopped before changing any host" "stopped before changing any host" printf '%s\n' "$out"
done
check "host 2 was not touched (no rootfs) and its lock is free again" hostssh 2 \
    "! test -e /var/lib/cirun/data/lk && test -f $lock && ! test -s $lock"
check_out "the first run still holds host 1" "^owner-pid $first$" hostssh 1 cat "$lock"
hostssh 1 "touch $go"
wait "$first"
check "the first run completes" test $? -eq 0
check_out "its summary says ok" "^$ip1 +master0 +[0-9]+ +ok" cat "$work/first.out"
check "it left the lock free (an empty file)" hostssh 1 "test -f $lock && ! test -s $lock"

# ---- a run whose cirun dies mid-step: its agent finishes the step, then frees the lock ----
# (the journal would skip init.sh as done: this run must reach it again)
hostssh 1 "rm -f $go $started /var/lib/cirun/data/lk/journal"
"$cirun" run locktest:v1 -m "$ip1" -p "$pw" --cluster-name lk > "$work/killed.out" 2>&1 &
victim=$!
check "a run reaches init.sh on host 1" hostssh 1 \
    "for i in \$(seq 600); do [ -e $started ] && exit 0; sleep 0.1; done; exit 1"
kill -9 "$victim"; wait "$victim" 2>/dev/null
out=$(run -m "$ip1" --cluster-name lk)
check_out "while its init.sh still runs on the host, a re-run is refused" \
    "host $ip1 is not free: locked by another cirun run: \`cirun run\` of cluster lk from ${me//./\\.} \\(pid $victim\\)" printf '%s\n' "$out"
hostssh 1 "touch $go"
check "once the step ended, the orphaned agent freed the lock (it did not die of SIGPIPE)" hostssh 1 \
    "for i in \$(seq 100); do test -f $lock && ! test -s $lock && exit 0; sleep 0.1; done; exit 1"
out=$(run -m "$ip1" --cluster-name lk)
check "and a plain re-run succeeds, without --force" test $? -eq 0

# ---- a stale lock: its agent gone, its expiry past ----
stale='cirun-host-lock 1\nowner-host ghost-ctl\nowner-pid 999\ncluster lk\ncommand apply\nagent-pid 4000000\nsince 1700000000\nexpires 1700000120\n'
hostssh 1 "printf '$stale' > $lock"
out=$(run -m "$ip1" --cluster-name lk)
check "a run on a host with a stale lock fails without --force" test $? -eq 1
check_out "it reports the stale lock, its owner and its age" \
    "host $ip1 is not free: stale lock $lock: \`cirun apply\` of cluster lk from ghost-ctl \\(pid 999\\), since 2023-11-14 22:13:20 UTC \\([0-9]+ days ago\\); its agent \\(pid 4000000\\) is gone without releasing it; if no cirun run is acting on this host, run again with --force to break it" printf '%s\n' "$out"
check_out "the stale record is left as it was" "^owner-host ghost-ctl$" hostssh 1 cat "$lock"
out=$(run -m "$ip1" --cluster-name lk --force)
check "with --force the run succeeds" test $? -eq 0
check_out "saying whose lock it broke" "^\\[$ip1\\] broke the stale lock $lock \\(--force\\): \`cirun apply\` of cluster lk from ghost-ctl \\(pid 999\\)" printf '%s\n' "$out"
check "and leaves the lock free" hostssh 1 "test -f $lock && ! test -s $lock"

# ---- not a lock file: a symlink, a FIFO ----
hostssh 1 "echo keep-me > /root/e2e-lock-victim && rm -f $lock && ln -s /root/e2e-lock-victim $lock"
for force in "" --force; do
    out=$(run -m "$ip1" --cluster-name lk $force)
    check "a symlink at the lock path fails the run${force:+ (--force too)}" test $? -eq 1
    check_out "naming it" "$lock is a symbolic link, not cirun's lock file: it is left as it is; remove it" printf '%s\n' "$out"
done
check "the symlink and its target are untouched" hostssh 1 "test -L $lock && test \"\$(cat /root/e2e-lock-victim)\" = keep-me"
hostssh 1 "rm -f $lock && mkfifo $lock"
start=$SECONDS
out=$(run -m "$ip1" --cluster-name lk --force)
check "a FIFO at the lock path fails the run" test $? -eq 1
check "without waiting on it (well under the 120 s bound)" test $((SECONDS - start)) -lt 60
check_out "naming it" "$lock is a FIFO, not cirun's lock file" printf '%s\n' "$out"
check "the FIFO is left as it was" hostssh 1 "test -p $lock"
hostssh 1 "rm -f $lock /root/e2e-lock-victim"
out=$(run -m "$ip1" --cluster-name lk)
check "once removed, a run takes the lock again" test $? -eq 0

summary
