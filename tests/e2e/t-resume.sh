#!/usr/bin/env bash
# Resuming after a failure (issue 10): each host's step journal (/var/lib/cirun/data/CLUSTER/
# journal, mirrored in $CIRUN_HOME/clusters/NAME/journal/IP) records a step only once it
# succeeded, and a plain re-run resumes every host at its first step not done. 1 master + 2
# nodes with the STAND-IN kubeadm (tests/fixtures/k8s-standin: not Kubernetes), failures
# injected at three points: init.sh fails on node 2 (a marker file) while node 3's kubeadm
# join fails (a ca.crt in its way, kubeadm's preflight); then the connection to node 3 drops
# in the middle of a large layer's transfer. Each run fails naming host and step; once the
# cause is gone a plain re-run completes, and the journals (and the stand-in's own record of
# its calls) show that nothing done was done again: no layer re-sent, kubeadm init run once
# on master0, init.sh once per host.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-resume cirjour 10.213.32
calls=/var/log/k8s-standin/calls.log
marker=/etc/cirun-test-fail-init
jpath=/var/lib/cirun/data/my-cluster/journal

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
ctx=$work/ctx
mkdir -p "$ctx"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
# init.sh fails where the marker is, and counts its runs that got past it
{ head -n 1 "$top/scripts/init.sh"
  echo "[ -e $marker ] && { echo 'init.sh: $marker is there: failing'; exit 3; }"
  echo 'date +%s >> /var/lib/cirun-test-init-runs'
  tail -n +2 "$top/scripts/init.sh"; } > "$ctx/scripts/init.sh"
printf 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.28.7\n' > "$ctx/kubeadm.yml"
{ cat "$top/tests/fixtures/base-image/Kubefile"; echo "COPY kubeadm.yml etc/"; } > "$ctx/Kubefile"
"$cirun" build -t resume:v1 --build-arg "DEBS=$debs" -f "$ctx/Kubefile" "$ctx" > /dev/null 2>&1 ||
    bail "cannot build resume:v1"
# v2: one large layer more, whose transfer is long enough to be cut
mkdir -p "$work/big"
head -c $((48 << 20)) /dev/urandom > "$work/big/blob.bin"
printf 'FROM resume:v1\nCOPY blob.bin opt/\n' > "$work/big/Kubefile"
"$cirun" build -t resume:v2 "$work/big" > /dev/null 2>&1 || bail "cannot build resume:v2"

lab_begin 3
run() { "$cirun" run "$1" -m "$ip1" -n "$ip2,$ip3" -p "$pw" --ready-timeout 90 2>&1; }
journal() { hostssh "$1" cat "$jpath"; }
steps() { journal "$1" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//'; }
bytes() { printf '%s\n' "$1" | awk -v ip="$2" '$1 == ip && $2 ~ /^(master0|node)$/ {print $6}'; }

# ---- 1: init.sh fails on node 2, kubeadm join on node 3 ----
hostssh 2 touch "$marker"
hostssh 3 'mkdir -p /etc/kubernetes/pki && echo in-the-way > /etc/kubernetes/pki/ca.crt'
out=$(run resume:v1)
rc=$?
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check "run 1 fails" test "$rc" != 0
check_out "naming node 2 and its step: init" "^$ip2 +node +[0-9]+ +FAILED .*init: .*exited with 3" printf '%s\n' "$out"
check_out "naming node 3 and its step: join nodes" "^$ip3 +node +[0-9]+ +FAILED .*join nodes: " printf '%s\n' "$out"
check_out "master0 got through" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "master0's journal: every step it ran, kubeadm init with its inputs" \
    '^distribute setup hosts init kubeadm-init$' steps 1
check_out "a record: step, time, the image id and digests of what it consumed" \
    '^distribute [0-9]{10} img=[0-9a-f]{64} layers=[0-9a-f]{16} cfg=[0-9a-f]{16} env=[0-9a-f]{16}$' bash -c "bash '$lab' ssh 1 head -n 1 $jpath"
check_out "kubeadm init's record: its config's digest, the cgroup driver" \
    '^kubeadm-init [0-9]{10} kubeadm=[0-9a-f]{16} cgroup=(systemd|cgroupfs)$' bash -c "bash '$lab' ssh 1 tail -n 1 $jpath"
check_out "node 2: nothing recorded past hosts (init failed: not recorded)" '^distribute setup hosts$' steps 2
check_out "node 3: nothing past init (its join failed)" '^distribute setup hosts init$' steps 3
for i in 1 2 3; do
    ip=ip$i
    check "host $i: the control machine's copy is the host's journal" \
        cmp -s "$CIRUN_HOME/clusters/my-cluster/journal/${!ip}" <(journal "$i")
done
check_out "the journal is 0600" '^600$' hostssh 1 stat -c %a "$jpath"
j1=$(journal 1)
j3=$(journal 3)

# ---- 2: causes removed, a plain re-run resumes ----
hostssh 2 rm "$marker"
hostssh 3 rm /etc/kubernetes/pki/ca.crt
out=$(run resume:v1)
rc=$?
printf '%s\n' "$out" | grep -E 'journal:|resumed|^HOST|(master0|node) +[0-9]' | sed 's/^/# /'
check "run 2 completes" test "$rc" = 0
check_out "master0: every step done as recorded" "^\\[$ip1\\] journal: every step done as recorded" printf '%s\n' "$out"
check_out "node 2 resumed at init" "^\\[$ip2\\] journal: resumed at init \\(not recorded\\); done as recorded and skipped: distribute, setup, hosts$" printf '%s\n' "$out"
check_out "node 3 resumed at join nodes" "^\\[$ip3\\] journal: resumed at join nodes" printf '%s\n' "$out"
check_out "the summary says where each resumed" "^$ip3: resumed at join nodes, 4 steps skipped as done" printf '%s\n' "$out"
check "master0's journal is as it was: no step repeated" test "$(journal 1)" = "$j1"
check_out "kubeadm init ran once on master0 (the stand-in's calls)" '^1$' hostssh 1 "grep -c 'kubeadm init --config' $calls"
runs=$(for i in 1 2 3; do hostssh "$i" cat /var/lib/cirun-test-init-runs < /dev/null | wc -l; done)
check "init.sh ran once on each host" test "$(echo $runs)" = "1 1 1"
check "node 3's journal: the earlier records kept, join nodes added" \
    test "$(journal 3)" = "$j3"$'\n'"$(journal 3 | tail -n 1)"
check_out "node 3: join nodes recorded last" '^join-nodes [0-9]{10} kubeadm=[0-9a-f]{16}$' bash -c "bash '$lab' ssh 3 tail -n 1 $jpath"
check "no layer sent again" test "$(bytes "$out" "$ip1") $(bytes "$out" "$ip2") $(bytes "$out" "$ip3")" = "0 0 0"
check_out "every node Ready" '^3$' bash -c "bash '$lab' ssh 1 kubectl get nodes | grep -c ' Ready '"
joins=$(hostssh 3 "grep -c 'kubeadm join --config' $calls")
# a run of a complete cluster: nothing but the checks
out=$(run resume:v1)
rc=$?
check "run 3 (nothing to do) completes" test "$rc" = 0
check "and changes no journal" test "$(journal 1)" = "$j1"
check_out "every host: every step done as recorded" '^3$' bash -c "printf '%s\n' \"\$1\" | grep -c 'journal: every step done as recorded'" _ "$out"
j1=$(journal 1)
j2=$(journal 2)

# ---- 3: node 3's connection dropped in the middle of a large layer's transfer ----
newsize=$("$cirun" inspect resume:v2 | grep -B2 'value: blob.bin opt/' | sed -n 's/^    size: //p')
# on node 3 itself, so that it strikes while the layer is arriving: a watcher drops the
# connection (kills, by PID, the sshd processes of the agent's session, below the listening
# sshd: what a dropped link ends in) once the layer's unpacking has begun. The agent sees
# its channel close, drops the partial layer and frees the host's lock, so the re-run
# needs no --force (a kill -9 of the agent itself would leave a stale lock, by design)
hostssh 3 'cat > /run/cirun-test-watch.sh' <<'WATCH'
for i in $(seq 1200); do
    if ls -d /var/lib/cirun/layers/unpacked/*.partial > /dev/null 2>&1; then
        a=$(pgrep -xo cirun-agent) || exit 1
        pids= s=$a
        while s=$(awk '{print $4}' /proc/$s/stat) && [ "$s" -gt 1 ]; do
            [ "$(awk '{print $4}' /proc/$s/stat)" -le 1 ] && break # the listening sshd
            [ "$(cat /proc/$s/comm)" = sshd ] && pids="$pids $s"
        done
        kill -9 $pids
        echo "$pids" > /run/cirun-test-killed
        exit 0
    fi
    sleep 0.05
done
WATCH
hostssh 3 'setsid bash /run/cirun-test-watch.sh > /dev/null 2>&1 < /dev/null & echo $! > /run/cirun-test-watcher'
out=$(run resume:v2)
rc=$?
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check "the watcher dropped node 3's session" hostssh 3 test -s /run/cirun-test-killed
w=$(hostssh 3 cat /run/cirun-test-watcher)
hostssh 3 "kill $w 2>/dev/null; true"
check "run 4 fails" test "$rc" != 0
check_out "naming node 3 and its step: distribute" "^$ip3 +node +[0-9]+ +FAILED .*distribute: " printf '%s\n' "$out"
check_out "master0 and node 2 went on with the new image" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "node 3: its journal has no record of the new image" '^1$' hostssh 3 "grep -c '^distribute ' $jpath"
check_out "kubeadm init was still run only once" '^1$' hostssh 1 "grep -c 'kubeadm init --config' $calls"
j1=$(journal 1)
j2=$(journal 2)

# ---- 4: the plain re-run completes; only node 3 gets only the large layer ----
out=$(run resume:v2)
rc=$?
printf '%s\n' "$out" | grep -E 'journal:|resumed|^HOST|(master0|node) +[0-9]' | sed 's/^/# /'
check "run 5 completes" test "$rc" = 0
check_out "node 3 resumed at distribute" "^\\[$ip3\\] journal: resumed at distribute \\(its inputs changed\\)" printf '%s\n' "$out"
check "bytes sent: none to master0 and node 2, the large layer alone to node 3" \
    test "$(bytes "$out" "$ip1") $(bytes "$out" "$ip2") $(bytes "$out" "$ip3")" = "0 0 $newsize"
check "master0's and node 2's journals unchanged" test "$(journal 1)$(journal 2)" = "$j1$j2"
check_out "the blob is on node 3" "^$((48 << 20))\$" hostssh 3 stat -c %s /var/lib/cirun/data/my-cluster/rootfs/opt/blob.bin
check_out "init.sh ran twice on node 3 (v1, then v2 once)" '^2$' hostssh 3 "wc -l < /var/lib/cirun-test-init-runs"
check_out "kubeadm init ran once on master0, all along" '^1$' hostssh 1 "grep -c 'kubeadm init --config' $calls"
check_out "node 3 did not join again (already joined: skipped)" "^$joins\$" hostssh 3 "grep -c 'kubeadm join --config' $calls"
echo "# node 3's journal after the resumed run:"
journal 3 | sed 's/^/#   /'
summary
