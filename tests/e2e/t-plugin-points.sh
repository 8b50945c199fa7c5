#!/usr/bin/env bash
# The plugin points of a create and the types that act through the cluster, on 2 lab hosts
# (1 master, 1 node) through `cirun apply -f`. kubeadm is not driven by cirun here: the
# cluster is made by hand first with the STAND-IN kubeadm/kubelet/kubectl
# (tests/fixtures/k8s-standin), as t-standin.sh does, and the master gets the legacy label
# node-role.kubernetes.io/master= by hand. Then one run with SHELL plugins at PreInit,
# PreJoin, PostJoin (on a label a LABEL plugin of the same point set), PreGuest and
# PostInstall writing a per-host marker log with init.sh and the CMD; LABEL at PostJoin,
# CLUSTERCHECK at PreGuest, and the seed's PostInstall taint plugin (`on:
# node-role.kubernetes.io/master=`) as a TAINT: each ran where and when selected. Then a
# kubectl that fails for one node fails that host alone, naming plugin, point and data line.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirplug} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.22}
T_NAME=e2e-plugin-points
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
cirun=$top/build/cirun
work=$(mktemp -d /tmp/cirun-e2e-points.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
log=/var/lib/cirun-points-test.log
h() { bash "$lab" ssh "$@"; }

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
standin=$top/${BUILD:-build}/k8s-standin

# the image: init.sh and a CMD, each appending to the marker log
ctx=$work/ctx
mkdir -p "$ctx/scripts"
cat > "$ctx/scripts/init.sh" <<EOF
echo "init \$(hostname)" >> $log
EOF
printf 'FROM scratch\nCOPY . .\nCMD echo "cmd $(hostname)" >> %s\n' "$log" > "$ctx/Kubefile"
check "build the test image" "$cirun" build -t pointstest:v1 "$ctx" || bail "no image"

check "lab-up N=2" bash "$lab" up 2 || bail "the lab did not come up"
ip1=$(bash "$lab" ips | sed -n 1p); ip2=$(bash "$lab" ips | sed -n 2p)
n1=$(h 1 hostname); n2=$(h 2 hostname)

# ---- the cluster, by hand, with the stand-ins ----
tar -C "$standin" -cf "$work/standin.tar" bin kubelet.service
for i in 1 2; do
    bash "$lab" put $i "$work/standin.tar" /root/standin.tar || bail "cannot put the stand-ins on host $i"
    h $i "d=\$(mktemp -d) && tar -xf /root/standin.tar -C \$d && install -m 755 \$d/bin/* /usr/bin/ &&
        install -m 644 \$d/kubelet.service /etc/systemd/system/ && rm -rf \$d /root/standin.tar /var/log/k8s-standin &&
        { grep -q apiserver.cluster.local /etc/hosts || echo '$ip1 apiserver.cluster.local' >> /etc/hosts; } &&
        rm -f $log && systemctl daemon-reload && systemctl enable --now -q kubelet" || bail "cannot install on host $i"
done
ver=$(cat "$standin/VERSION")
h 1 "cat > /root/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $ip1
  bindPort: 6443
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: $ver
controlPlaneEndpoint: apiserver.cluster.local:6443
imageRepository: sea.hub:5000
EOF
h 1 'kubeadm init --config /root/kubeadm.yaml > /root/init.out 2>&1 && mkdir -p /root/.kube &&
    cp /etc/kubernetes/admin.conf /root/.kube/config' || { h 1 tail -n 20 /root/init.out; bail "kubeadm init failed"; }
join=$(h 1 kubeadm token create --print-join-command) || bail "no join command"
h 2 "$join > /root/join.out 2>&1" || { h 2 tail -n 20 /root/join.out; bail "kubeadm join failed"; }
wait_ready() {
    h 1 "for i in \$(seq 1 40); do [ \$(kubectl get nodes 2>/dev/null | grep -c ' Ready ') -ge 2 ] && exit 0; sleep 0.5; done; kubectl get nodes; exit 1"
}
check "the stand-in cluster: both nodes Ready" wait_ready || bail "no cluster"
check "the master gets the legacy label by hand (kubeadm >= 1.24 sets only control-plane)" \
    h 1 kubectl label node "$n1" node-role.kubernetes.io/master= --overwrite

# ---- the run ----
cat > "$work/points.yaml" <<EOF
kind: Cluster
metadata: {name: points}
spec:
  image: pointstest:v1
  ssh: {passwd: $pw}
  hosts:
  - {ips: [$ip1], roles: [master]}
  - {ips: [$ip2], roles: [node]}
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: pre-init}
spec:
  type: SHELL
  action: PreInit
  data: echo "PreInit \$(hostname)" >> $log
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: pre-join}
spec:
  type: SHELL
  action: PreJoin
  data: echo "PreJoin \$(hostname)" >> $log
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: label-nodes}
spec:
  type: LABEL
  action: PostJoin
  data: |
    # every host joined; the node is the worker
    $ip1,$ip2 cirun.test/joined=yes
    $ip2 tier=worker,cirun.test/empty=
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: post-join}
spec:
  type: SHELL
  action: PostJoin
  on: tier=worker
  data: echo "PostJoin \$(hostname)" >> $log
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: healthy}
spec:
  type: CLUSTERCHECK
  action: PreGuest
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: pre-guest}
spec:
  type: SHELL
  action: PreGuest
  on: master0
  data: echo "PreGuest \$(hostname) joined=\$(kubectl get nodes -l cirun.test/joined=yes -o name | wc -l)" >> $log
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: taint}
spec:
  type: TAINT
  action: PostInstall
  on: node-role.kubernetes.io/master=
  data: |
    $ip1,$ip2 dedicated=infra:NoSchedule
    $ip1,$ip2 node-role.kubernetes.io/control-plane:NoSchedule-
    $ip1 never-there-
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: post-install}
spec:
  type: SHELL
  action: PostInstall
  data: echo "PostInstall \$(hostname)" >> $log
EOF
out=$("$cirun" apply -f "$work/points.yaml" --dry-run 2>&1)
check_out "the dry-run lists the points, each kubectl row on master0" \
    "phases: connect, agent, facts and preflight, journal, distribute, setup, hosts, init, PreInit, PreJoin \(on the hosts that join\), PostJoin kubectl \(on master0\), PostJoin, PreGuest kubectl \(on master0\), PreGuest, cmd \(on master0\), PostInstall kubectl \(on master0\), PostInstall" \
    printf '%s\n' "$out"
check_out "the plan: the node's LABEL lines" "^  plugins at PostJoin: label-nodes \(LABEL cirun.test/joined=yes tier=worker cirun.test/empty=, by kubectl on master0\), post-join \(SHELL, if the node is labelled tier=worker\)\$" printf '%s\n' "$out"
check_out "the plan: the master's TAINT lines" "^  plugins at PostInstall: taint \(TAINT, if the node is labelled node-role.kubernetes.io/master=\), post-install \(SHELL\)\$" printf '%s\n' "$out"
check_out "the plan: the CLUSTERCHECK on master0" "^  plugins at PreGuest: healthy \(CLUSTERCHECK: waits until every node is Ready" printf '%s\n' "$out"
check "the plan: PreJoin for the node only" bash -c "printf '%s\n' \"\$1\" | grep -c '^  plugins at PreJoin: pre-join (SHELL)\$' | grep -qx 1" _ "$out"

out=$("$cirun" apply -f "$work/points.yaml" 2>&1)
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check_out "the run succeeds on the master" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the run succeeds on the node" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "PreInit logged on 2 hosts" "plugin pre-init \(SHELL\) at PreInit on 2 hosts$" printf '%s\n' "$out"
check_out "PreJoin fired in a create (sealer did not), on the joining host" "plugin pre-join \(SHELL\) at PreJoin on 1 host$" printf '%s\n' "$out"
check_out "LABEL logged on 2 hosts" "plugin label-nodes \(LABEL\) at PostJoin on 2 hosts$" printf '%s\n' "$out"
check_out "CLUSTERCHECK logged on master0" "plugin healthy \(CLUSTERCHECK\) at PreGuest on 1 host$" printf '%s\n' "$out"
check_out "CLUSTERCHECK found the cluster healthy" "plugin healthy: the cluster is healthy: 2 nodes Ready, 0 kube-system pods running" printf '%s\n' "$out"
check_out "the seed's taint plugin logged on the master only" "plugin taint \(TAINT\) at PostInstall on 1 host$" printf '%s\n' "$out"
check_out "removing a taint the node does not have is no failure" "plugin taint: node $n1 has no taint never-there- to remove" printf '%s\n' "$out"
check "master: init.sh, PreInit, PreGuest (labels already set), the CMD, PostInstall — in that order" \
    bash -c "[ \"\$(bash '$lab' ssh 1 cat $log)\" = \"\$(printf 'init %s\nPreInit %s\nPreGuest %s joined=2\ncmd %s\nPostInstall %s' $n1 $n1 $n1 $n1 $n1)\" ]"
check "node: init.sh, PreInit, PreJoin, PostJoin (its label set by then), PostInstall" \
    bash -c "[ \"\$(bash '$lab' ssh 2 cat $log)\" = \"\$(printf 'init %s\nPreInit %s\nPreJoin %s\nPostJoin %s\nPostInstall %s' $n2 $n2 $n2 $n2 $n2)\" ]"
for i in 1 2; do echo "# host $i:"; h $i cat $log | sed 's/^/#   /'; done
h 1 kubectl get nodes --show-labels -o wide > "$work/nodes" 2>&1
h 1 kubectl get nodes -o json > "$work/nodes.json" 2>&1
sed 's/^/# /' "$work/nodes"
check_out "both nodes labelled joined" "^$n1 .*cirun.test/joined=yes" cat "$work/nodes"
check_out "  … the node too" "^$n2 .*cirun.test/joined=yes" cat "$work/nodes"
check_out "the node labelled tier=worker, and an empty value" "^$n2 .*tier=worker,cirun.test/empty=( |$)" cat "$work/nodes"
check "the master not labelled tier" bash -c "! grep -E '^$n1 .*tier=worker' '$work/nodes'"
taints() { # NODE: its taints as KEY[=VALUE]:EFFECT, one a line
    python3 - "$work/nodes.json" "$1" <<'PY'
import json, sys
for n in json.load(open(sys.argv[1]))["items"]:
    if n["metadata"]["name"] == sys.argv[2]:
        for t in n["spec"].get("taints", []):
            print(t["key"] + ("=" + t["value"] if t.get("value") else "") + ":" + t["effect"])
PY
}
check "the master: tainted dedicated=infra, its control-plane taint removed" \
    test "$(taints "$n1")" = "dedicated=infra:NoSchedule"
check "the node, not selected by the master label, untouched" test -z "$(taints "$n2")"
check_out "kubectl label was called on master0 with the node's name" \
    "kubectl label node $n2 tier=worker --overwrite" h 1 cat /var/log/k8s-standin/calls.log
check "kubectl was never called on the node" bash -c "! bash '$lab' ssh 2 grep -q kubectl /var/log/k8s-standin/calls.log"

# ---- a LABEL that kubectl refuses for one node fails that host alone ----
# (a kubectl first on master0's PATH that fails for the node, the real one otherwise)
h 1 "cat > /usr/local/bin/kubectl && chmod 755 /usr/local/bin/kubectl" <<EOF
#!/bin/bash
for a; do [ "\$a" = "$n2" ] && [ "\$1" = label ] && { echo "error: injected failure for $n2" >&2; exit 1; }; done
exec /usr/bin/kubectl "\$@"
EOF
cat > "$work/fail.yaml" <<EOF
kind: Cluster
metadata: {name: points}
spec:
  image: pointstest:v1
  ssh: {passwd: $pw}
  hosts:
  - {ips: [$ip1], roles: [master]}
  - {ips: [$ip2], roles: [node]}
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: relabel}
spec:
  type: LABEL
  action: PreGuest
  data: |
    $ip1 again=1
    $ip2 again=1
EOF
out=$("$cirun" apply -f "$work/fail.yaml" 2>&1); rc=$?
h 1 rm -f /usr/local/bin/kubectl
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check "a failing LABEL fails the run" test "$rc" != 0
check_out "the node failed at PreGuest" "^$ip2 +node .*PreGuest" printf '%s\n' "$out"
check_out "naming the plugin, its type, the data line in the file and the point" \
    "plugin 'relabel' \(LABEL, $work/fail.yaml:18\) at PreGuest: kubectl label node $n2 again=1 --overwrite on master0 failed" \
    printf '%s\n' "$out"
check_out "with kubectl's own words" "error: injected failure for $n2" printf '%s\n' "$out"
check_out "master0 went on and is fine" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "master0's node was labelled" "^$n1 .*again=1" h 1 kubectl get nodes --show-labels

# ---- CLUSTERCHECK: a host that is no node (its kubelet stopped, its node deleted) ----
h 2 systemctl stop kubelet
h 1 kubectl delete nodes "$n2" > /dev/null
cat > "$work/check.yaml" <<EOF
kind: Cluster
metadata: {name: points}
spec:
  image: pointstest:v1
  ssh: {passwd: $pw}
  hosts:
  - {ips: [$ip1], roles: [master]}
  - {ips: [$ip2], roles: [node]}
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: healthy}
spec:
  type: CLUSTERCHECK
  action: PreGuest
EOF
start=$(date +%s)
out=$("$cirun" apply -f "$work/check.yaml" --timeout 3s 2>&1); rc=$?
took=$(( $(date +%s) - start ))
h 2 systemctl start kubelet
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check "an unhealthy cluster fails the run" test "$rc" != 0
check_out "CLUSTERCHECK waited, saying why" "plugin healthy: waiting for the cluster: no node has InternalIP $ip2" printf '%s\n' "$out"
check_out "master0 failed in PreGuest kubectl at the timeout, naming the plugin and what was wrong" \
    "PreGuest kubectl failed: plugin 'healthy' \(CLUSTERCHECK, $work/check.yaml:[0-9]+\) at PreGuest: the cluster was not healthy within 3s: no node has InternalIP $ip2" \
    printf '%s\n' "$out"
check "within the timeout, not sealer's 15 minutes ($took s)" test "$took" -lt 30
check_out "master0 failed there" "^$ip1 +master0 .*FAILED .*PreGuest kubectl: plugin 'healthy'" printf '%s\n' "$out"

summary
