#!/usr/bin/env bash
# Scaling a saved cluster (issue 10 points 3-4) with the STAND-IN kubeadm/kubelet/kubectl
# (tests/fixtures/k8s-standin: not Kubernetes) on 5 lab hosts: apply 1 master + 1 node;
# apply adding 1 master + 1 node; a --dry-run that prints the plan of the next apply and
# changes nothing (no host contacted, nothing saved); the apply that removes the first node
# and adds another, in one apply (joined first, then drained on master0, reset, cleaned and
# its Node deleted), with the removed node's clean.sh failing first (the apply fails naming
# host and step, the node stays to clean) and the same apply run again to finish it;
# `cirun delete -n` of a node that cannot be reached (its port 22
# refused): refused naming it, with --force skipped and kept to clean; `cirun join -n` of
# the removed node (the node left to clean tried again, skipped again with --force);
# `cirun delete --all`, which also cleans the host left to clean. Each step is checked on the
# hosts: master0's node list, kubelet.conf on joined hosts, removed hosts clean (no units,
# no rootfs, no /etc/hosts block, nothing on PATH, no data/<cluster>).
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-scale cirscale 10.213.37
calls=/var/log/k8s-standin/calls.log
t0=$SECONDS
took() { echo "# $1: $((SECONDS - t0)) s"; t0=$SECONDS; }

# the lab boots while the image is built
bash "$lab" up 5 > "$work/lab-up.log" 2>&1 &
lab_pid=$!

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
ctx=$work/ctx
mkdir -p "$ctx"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
# a clean.sh that fails while /root/fail-clean is there: a removal that fails half-way
sed -i '/^set -uo pipefail$/a [ -e /root/fail-clean ] \&\& { echo "clean.sh fails on purpose"; exit 4; }' "$ctx/scripts/clean.sh"
grep -q fail-clean "$ctx/scripts/clean.sh" || bail "cannot put the failure hook in clean.sh"
printf 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nkubernetesVersion: v1.28.7\n' > "$ctx/kubeadm.yml"
{ cat "$top/tests/fixtures/base-image/Kubefile"; echo "COPY kubeadm.yml etc/"; } > "$ctx/Kubefile"
check "build the stand-in base image" "$cirun" build -t scaletest:v1 --build-arg "DEBS=$debs" \
    -f "$ctx/Kubefile" "$ctx" || bail "no image"
took "image"
wait "$lab_pid" || { tail -n 20 "$work/lab-up.log"; bail "the lab did not come up"; }
lab_begin 5
took "lab up"
# cf FILE MASTERS NODES: the Clusterfile of cluster sc (comma lists)
cf() {
	cat > "$1" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata: {name: sc}
spec:
  image: scaletest:v1
  ssh: {passwd: "$pw"}
  hosts:
  - {ips: [$2], roles: [master]}
  - {ips: [$3], roles: [node]}
CF
}
apply() { "$cirun" apply -f "$1" --ready-timeout 60 "${@:2}" 2>&1; }
# the InternalIPs of master0's node list, sorted
node_ips() { hostssh 1 'kubectl get nodes -o wide --no-headers' | awk '{print $6}' | sort | paste -sd' '; }
sorted() { printf '%s\n' "$@" | sort | paste -sd' '; }
joined() { hostssh "$1" 'test -s /etc/kubernetes/kubelet.conf && systemctl is-active -q kubelet'; }
# removed N: host N holds nothing of cluster sc (what is left, looked at once)
removed() {
	local n=$1 left
	left=$(hostssh "$n" 'test -e /etc/kubernetes/kubelet.conf && echo kubelet.conf
		systemctl is-active -q kubelet && echo kubelet-active
		ls -d /etc/systemd/system/containerd.service /etc/systemd/system/kubelet.service /etc/systemd/system/kubelet.service.d /etc/systemd/system/*.wants/kubelet.service 2>/dev/null | sed "s/^/unit /"
		ls /usr/local/bin/kubeadm /usr/local/bin/kubelet /usr/local/bin/kubectl /usr/bin/ctr /usr/bin/containerd /usr/bin/runc 2>/dev/null | sed "s/^/path /"
		grep -q "cirun sc" /etc/hosts && echo hosts-block
		test -e /var/lib/cirun/data/sc && echo data
		echo looked') || true
	check_out "host $n: looked at" '^looked$' printf '%s\n' "$left"
	check "host $n: no kubelet.conf, kubelet stopped" bash -c "! printf '%s\n' \"\$1\" | grep -E '^kubelet'" _ "$left"
	check "host $n: no units" bash -c "! printf '%s\n' \"\$1\" | grep '^unit '" _ "$left"
	check "host $n: nothing left on PATH" bash -c "! printf '%s\n' \"\$1\" | grep '^path '" _ "$left"
	check "host $n: no /etc/hosts block" bash -c "! printf '%s\n' \"\$1\" | grep '^hosts-block'" _ "$left"
	check "host $n: no rootfs, no data/sc" bash -c "! printf '%s\n' \"\$1\" | grep '^data'" _ "$left"
}
# ---- 1 master + 1 node ----
cf "$work/c1.yaml" "$ip1" "$ip2"
out=$(apply "$work/c1.yaml")
check "apply 1 master + 1 node (nothing saved: a plain run)" test $? -eq 0 || { printf '%s\n' "$out" | tail -30; bail "no cluster"; }
check_out "master0's node list: both" "^$(sorted "$ip1" "$ip2")\$" node_ips
check "host 2 joined (kubelet.conf, kubelet active)" joined 2
took "apply 1"

# ---- apply adding 1 master + 1 node ----
cf "$work/c2.yaml" "$ip1, $ip3" "$ip2, $ip4"
out=$(apply "$work/c2.yaml"); rc=$?
check "apply adding a master and a node succeeds" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -30
check_out "the plan names the master added" "^  \\+ master $ip3 +prepared and joined" printf '%s\n' "$out"
check_out "the plan names the node added" "^  \\+ node   $ip4 +prepared and joined" printf '%s\n' "$out"
check_out "master0's node list: all four" "^$(sorted "$ip1" "$ip2" "$ip3" "$ip4")\$" node_ips
for n in 3 4; do check "host $n joined" joined $n; done
check_out "master0 was not initialised again" '^1$' hostssh 1 "grep -c 'kubeadm init --config' $calls"
check_out "host 2 was not joined again" '^1$' hostssh 2 "grep -c 'kubeadm join' $calls"
check_out "the new master joined as a control plane" 'kube-apiserver' hostssh 3 ls /etc/kubernetes/manifests
check_out "the same Clusterfile again: nothing to change (its dry run)" '^  nothing to change' apply "$work/c2.yaml" --dry-run
took "apply 2"

# ---- the next apply: node 2 out, node 5 in; its dry run first ----
cf "$work/c3.yaml" "$ip1, $ip3" "$ip4, $ip5"
cp "$CIRUN_HOME/clusters/sc/Clusterfile" "$work/saved.before"
out=$(apply "$work/c3.yaml" --dry-run); rc=$?
check "--dry-run exits 0" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -20
check_out "the plan: node 5 added" "^  \\+ node   $ip5 +prepared and joined" printf '%s\n' "$out"
check_out "the plan: node 2 drained, deleted, reset and cleaned" "^  - node   $ip2 +drained, deleted from the cluster, reset and cleaned" printf '%s\n' "$out"
check_out "the plan: the order, joins first" "order: every host of the new definition through the run .*then the removed hosts" printf '%s\n' "$out"
check "--dry-run saved nothing" cmp -s "$work/saved.before" "$CIRUN_HOME/clusters/sc/Clusterfile"
check "--dry-run left nothing to clean" test ! -e "$CIRUN_HOME/clusters/sc/to-clean"
check "--dry-run contacted no host (no agent on host 5)" hostssh 5 '! test -e /var/lib/cirun/bin/cirun-agent'
check "--dry-run changed nothing (node 2 still Ready)" joined 2

# node 2's clean.sh fails: node 5 joins all the same, node 2 stays to clean
hostssh 2 touch /root/fail-clean
out1=$(apply "$work/c3.yaml"); rc=$?
check "apply removing node 2 and adding node 5, node 2's clean.sh failing: exit 1" test "$rc" -eq 1 || printf '%s\n' "$out1" | tail -30
printf "%s\n" "$out1" | grep -E "not removed|still to clean|changes against|^  [-+~o]" | sed "s/^/# /"
check_out "naming the host and the step" "$ip2: not removed \\(clean nodes\\): scripts/clean.sh exited with 4" printf '%s\n' "$out1"
check_out "  … and how to finish it" "cluster sc: still to clean on $ip2 .*'cirun apply -f" printf '%s\n' "$out1"
check "joined first, then removed" bash -c "printf '%s\n' \"\$1\" | grep -n -e 'kubeadm join --config' -e 'kubectl drain' | head -1 | grep -q 'kubeadm join'" _ "$out1"
check "host 5 joined" joined 5
check_out "node 2 stays to clean" "$ip2" cat "$CIRUN_HOME/clusters/sc/to-clean"
check "the saved definition is the new one" bash -c "grep -q '$ip5' '$CIRUN_HOME/clusters/sc/Clusterfile' && ! grep -q '$ip2' '$CIRUN_HOME/clusters/sc/Clusterfile'"
n2=$(hostssh 2 hostname 2>/dev/null || echo host2)
check_out "node 2 was drained (cordoned) on master0" "^$n2 +[A-Za-z]+,SchedulingDisabled " hostssh 1 kubectl get nodes
# the cause removed, the same apply again finishes it
hostssh 2 rm -f /root/fail-clean
out=$(apply "$work/c3.yaml"); rc=$?
check "the same apply again succeeds" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -30
check_out "  … its plan: nothing changed, node 2 still to clean" "^  - node   $ip2 +still to clean from an earlier apply" printf '%s\n' "$out"
check_out "  … drained again: already cordoned" "node/$n2 already cordoned" printf '%s\n' "$out"
check_out "master0's node list: node 2 gone, node 5 in" "^$(sorted "$ip1" "$ip3" "$ip4" "$ip5")\$" node_ips
check_out "node 2 drained on master0 (the stand-in's record of kubectl)" "kubectl drain $n2 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s" hostssh 1 cat $calls
check_out "  … and its Node deleted" "kubectl delete node $n2 --ignore-not-found" hostssh 1 cat $calls
removed 2
check "nothing left to clean" test ! -e "$CIRUN_HOME/clusters/sc/to-clean"
check "node 2's journal copy is gone, node 5's is there" bash -c "test ! -e '$CIRUN_HOME/clusters/sc/journal/$ip2' && test -s '$CIRUN_HOME/clusters/sc/journal/$ip5'"
took "apply 3"

# ---- delete -n with the node unreachable: refused; --force skips it and keeps it ----
# its port 22 refused in its own network namespace (the lab's: tests/lab/lab.sh names it
# after the host), so that it can be opened again from here
ssh4() { ip netns exec "$CIRUN_LAB_PREFIX-4" iptables -w "$1" INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset; }
ssh4 -I || bail "cannot close host 4's port 22"
# with node 5, reachable: refused for node 4, the removal does not run at all, and node 5
# (out of the definition already) stays to clean, untouched, instead of being forgotten
out=$("$cirun" delete -n "$ip4,$ip5" 2>&1); rc=$?
check "delete -n of an unreachable node fails" test "$rc" -eq 1 || printf '%s\n' "$out" | tail -20
check_out "naming it, nothing removed" "cannot reach $ip4: no host was removed" printf '%s\n' "$out"
check_out "  … it stays to clean" "$ip4" cat "$CIRUN_HOME/clusters/sc/to-clean"
check_out "  … and so does node 5, which the removal never reached" "$ip5" cat "$CIRUN_HOME/clusters/sc/to-clean"
check "node 5 still joined (not drained, not reset)" joined 5
out=$("$cirun" join -n "$ip5" --force --ready-timeout 60 2>&1); rc=$?
check "join -n takes node 5 back (node 4 skipped with --force)" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -20
check "  … node 5 no longer to clean" bash -c "! grep -q '$ip5' '$CIRUN_HOME/clusters/sc/to-clean'"
out=$("$cirun" delete -n "$ip4" --force 2>&1); rc=$?
check "the same delete again with --force exits 0 (typed as before: the node is already out)" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -20
check_out "  … skipping it" "--force: skipping $ip4 \\(unreachable\\)" printf '%s\n' "$out"
check_out "  … still to clean" "cluster sc: still to clean on $ip4" printf '%s\n' "$out"
check "the saved definition no longer has it" bash -c "! grep -q '$ip4' '$CIRUN_HOME/clusters/sc/Clusterfile'"

# ---- join -n: node 2 back; node 4, still down, is tried again and skipped (--force) ----
out=$("$cirun" join -n "$ip2" --ready-timeout 60 --force 2>&1); rc=$?
check "join -n of node 2 succeeds" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -30
check_out "  … its plan names node 4, left by the delete" "^  - node   $ip4 +still to clean from an earlier apply" printf '%s\n' "$out"
check_out "  … skipped again" "--force: skipping $ip4 \\(unreachable\\)" printf '%s\n' "$out"
check "host 2 joined again" joined 2
check_out "master0's node list has node 2 again" "$ip2" node_ips
took "delete -n, join -n"

# ---- delete --all: node 4 (still to clean, reachable again) too ----
ssh4 -D || bail "cannot open host 4's port 22 again"
out=$("$cirun" delete --all 2>&1); rc=$?
check "delete --all succeeds" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -30
for n in 1 2 3 4 5; do removed $n; done
check "the saved cluster is gone" test ! -e "$CIRUN_HOME/clusters/sc"
took "delete --all"

summary
