#!/usr/bin/env bash
# kubeadm through `cirun run` on real lab hosts with the STAND-IN kubeadm/kubelet/kubectl
# (tests/fixtures/k8s-standin: not Kubernetes) in a base test image built as t-base.sh
# builds it, plus etc/kubeadm.yml (kubernetesVersion v1.28.7): 1 master + 2 nodes (init with
# the merged config, joins, every node Ready, the legacy master label, admin.conf saved
# 0600, a re-run skipping what is done), then after `kubeadm reset -f` 2 masters + 1 node
# (the second master joins with the certificate key, after master0), then a node whose
# kubelet cannot start: the wait times out naming it, with its kubelet's journal; last,
# master0's API server stopped (the join data's error says what to check), then master0
# reset alone (the second master, of the old cluster, fails its join naming both CAs).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirkadm} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.21}
export T_NAME=e2e-kubeadm
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
cirun=$top/${BUILD:-build}/cirun
work=$(mktemp -d /tmp/cirun-e2e-kubeadm.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
calls=/var/log/k8s-standin/calls.log

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
ctx=$work/ctx
mkdir -p "$ctx"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
# the base-image contract: the version in etc/kubeadm.yml; also the config's image layer
cat > "$ctx/kubeadm.yml" <<'YML'
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.28.7
networking:
  podSubnet: 100.64.0.0/10
  serviceSubnet: 10.96.0.0/22
YML
{ cat "$top/tests/fixtures/base-image/Kubefile"; echo "COPY kubeadm.yml etc/"; } > "$ctx/Kubefile"
check "build the stand-in base image" "$cirun" build -t k8stest:v1 --build-arg "DEBS=$debs" \
    -f "$ctx/Kubefile" "$ctx" || bail "no image"

# before any host: the plan lists the kubeadm phases; a version missing from etc/kubeadm.yml
# is refused (exit 2); an image with bin/kubeadm but no etc/kubeadm.yml keeps the phases of
# an image without kubeadm, with a warning
out=$("$cirun" run k8stest:v1 -m $CIRUN_LAB_SUBNET.11,$CIRUN_LAB_SUBNET.12 -n $CIRUN_LAB_SUBNET.13 -p "$pw" --dry-run 2>&1)
check_out "the plan lists the kubeadm phases" ', init, kubeadm init \(on master0\), join data \(on master0\), join masters \(on the other masters, one at a time\), join nodes \(on the nodes\), label masters \(on master0\), wait Ready \(on master0\)$' printf '%s\n' "$out"
check_out "the plan says what master0 runs" 'kubeadm init \(Kubernetes v1\.28\.7\) with /var/lib/cirun/data/my-cluster/kubeadm-init\.yaml' printf '%s\n' "$out"
mkdir -p "$work/nover/etc" "$work/nokadm"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$work/nover/bin"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$work/nokadm/bin"
printf 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nimageRepository: x\n' > "$work/nover/etc/kubeadm.yml"
printf 'FROM scratch\nCOPY bin bin\nCOPY etc etc\n' > "$work/nover/Kubefile"
printf 'FROM scratch\nCOPY bin bin\n' > "$work/nokadm/Kubefile"
"$cirun" build -t nover:v1 "$work/nover" > /dev/null 2>&1 || bail "cannot build nover:v1"
"$cirun" build -t nokadm:v1 "$work/nokadm" > /dev/null 2>&1 || bail "cannot build nokadm:v1"
out=$("$cirun" run nover:v1 -m $CIRUN_LAB_SUBNET.11 -p "$pw" --dry-run 2>&1)
rc=$?
check "etc/kubeadm.yml without a version: refused, exit 2" test "$rc" = 2
check_out "naming the file and what it lacks" 'nover:v1:etc/kubeadm\.yml: no ClusterConfiguration with a kubernetesVersion' printf '%s\n' "$out"
out=$("$cirun" run nokadm:v1 -m $CIRUN_LAB_SUBNET.11 -n $CIRUN_LAB_SUBNET.12 -p "$pw" --dry-run 2>&1)
check_out "bin/kubeadm without etc/kubeadm.yml: a warning" 'has bin/kubeadm but no etc/kubeadm\.yml.*kubeadm phases are skipped' printf '%s\n' "$out"
check "and no kubeadm phase in its plan" bash -c "! printf '%s\n' \"\$1\" | grep -q 'kubeadm init\|join\|wait Ready'" _ "$out"
cat > "$work/bad.yaml" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata: {name: bad}
spec:
  image: k8stest:v1
  ssh: {passwd: x}
  hosts:
  - {ips: [$CIRUN_LAB_SUBNET.11], roles: [master]}
---
apiVersion: kubeadm.k8s.io/v1beta2
kind: ClusterConfiguration
useHyperKubeImage: true
CF
out=$("$cirun" apply -f "$work/bad.yaml" --dry-run 2>&1)
rc=$?
check "a kubeadm document kubeadm would refuse: exit 2 before any host" test "$rc" = 2
check_out "naming the file, line and field" 'bad\.yaml:[0-9]+.*useHyperKubeImage' printf '%s\n' "$out"

check "lab-up N=3" bash "$lab" up 3 || bail "the lab did not come up"
mapfile -t ips < <(bash "$lab" ips)
hs() { local i=$1; shift; bash "$lab" ssh "$i" "$@"; }

# a Clusterfile's kubeadm documents over the image's: run through `cirun apply`? No: `run`
# takes no Clusterfile, so the forced fields and the image's layer are what is checked here.
out=$("$cirun" run k8stest:v1 -m "${ips[0]}" -n "${ips[1]},${ips[2]}" -p "$pw" --ready-timeout 90 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E "kubeadm|Ready|join|phase|failed" | sed 's/^/# /' | head -n 60
check "1 master + 2 nodes: the run succeeds" test "$rc" = 0
check_out "every host ok" "^${ips[2]} +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "master0 ran kubeadm init with the config the agent wrote, --upload-certs" \
    "kubeadm init --config /var/lib/cirun/data/my-cluster/kubeadm-init\\.yaml --upload-certs" hs 1 cat $calls
check_out "the init config is 0600" '^600$' hs 1 stat -c %a /var/lib/cirun/data/my-cluster/kubeadm-init.yaml
cfg=$(hs 1 cat /var/lib/cirun/data/my-cluster/kubeadm-init.yaml)
check_out "config: controlPlaneEndpoint forced" '^controlPlaneEndpoint: apiserver\.cluster\.local:6443$' printf '%s\n' "$cfg"
check_out "config: imageRepository sea.hub:5000" '^imageRepository: sea\.hub:5000$' printf '%s\n' "$cfg"
check_out "config: kubernetesVersion from the image" '^kubernetesVersion: v1\.28\.7$' printf '%s\n' "$cfg"
check_out "config: advertiseAddress master0" "^  advertiseAddress: '?${ips[0]//./\\.}'?\$" printf '%s\n' "$cfg"
check_out "config: certSANs with apiserver.cluster.local, 127.0.0.1, master0" \
    "apiserver\\.cluster\\.local.*127\\.0\\.0\\.1.*${ips[0]//./\\.}" bash -c "printf '%s\n' \"\$1\" | sed -n '/certSANs:/,/^[a-z]/p' | tr '\n' ' '" _ "$cfg"
check_out "config: the image's serviceSubnet kept (its layer)" 'serviceSubnet: 10\.96\.0\.0/22' printf '%s\n' "$cfg"
check_out "config: cgroupDriver as containerd on master0 uses it" '^cgroupDriver: cgroupfs$' printf '%s\n' "$cfg"
check_out "the stand-in kubeadm took the certSANs from the config" \
    "^apiserver\\.cluster\\.local\$" hs 1 cat /var/lib/etcd/k8s-standin/certsans
for i in 2 3; do
    check_out "node $i joined with --config (no flag mixed in)" \
        "kubeadm join --config /var/lib/cirun/data/my-cluster/kubeadm-join\\.yaml\$" hs "$i" cat $calls
    check_out "node $i: its join config has no controlPlane" '^0$' hs "$i" "grep -c controlPlane /var/lib/cirun/data/my-cluster/kubeadm-join.yaml || true"
done
check_out "master0 made the join data" 'kubeadm token create --print-join-command' hs 1 cat $calls
nodes=$(hs 1 kubectl get nodes)
printf '%s\n' "$nodes" | sed 's/^/# /'
check "every node Ready" test "$(printf '%s\n' "$nodes" | grep -c ' Ready ')" = 3
check_out "the masters carry the legacy label" "^$(hs 1 hostname) " \
    hs 1 kubectl get nodes -l node-role.kubernetes.io/master=
check "nodes do not" test "$(hs 1 kubectl get nodes -l node-role.kubernetes.io/master= -o name | wc -l)" = 1
check_out "/root/.kube/config on master0" 'apiserver\.cluster\.local:6443' hs 1 cat /root/.kube/config
conf=$CIRUN_HOME/clusters/my-cluster/admin.conf
check_out "admin.conf saved 0600" '^600$' stat -c %a "$conf"
check "admin.conf is master0's" cmp -s "$conf" <(hs 1 cat /etc/kubernetes/admin.conf)
token=$(hs 2 "sed -n 's/^ *token: //p' /var/lib/cirun/data/my-cluster/kubeadm-join.yaml" | tr -d "'\"")
check "the join config holds a token" test -n "$token"
check "the token was never printed" bash -c "! printf '%s\n' \"\$1\" | grep -qF \"\$2\"" _ "$out" "$token"
check_out "init's own token and key were masked" 'kubeadm join apiserver\.cluster\.local:6443 --token <hidden>' printf '%s\n' "$out"
check "nothing that looks like a certificate key was printed" \
    bash -c "! printf '%s\n' \"\$1\" | grep -Eq '(^|[^:0-9a-f])[0-9a-f]{64}([^0-9a-f]|\$)'" _ "$out"
check_out "phases done: 12 on master0 (8 + kubeadm init, join data, label masters, wait Ready)" \
    "^${ips[0]} +master0 +12 +ok" printf '%s\n' "$out"
check_out "phases done: 9 on a node (8 + join nodes)" "^${ips[1]} +node +9 +ok" printf '%s\n' "$out"

# a re-run: init and joins done as the journal recorded them, skipped, the cluster still Ready
out=$("$cirun" run k8stest:v1 -m "${ips[0]}" -n "${ips[1]},${ips[2]}" -p "$pw" --ready-timeout 90 2>&1)
rc=$?
check "a re-run succeeds" test "$rc" = 0
check_out "a re-run skips init, saying so" "^\\[${ips[0]}\\] kubeadm init: done as recorded, skipped" printf '%s\n' "$out"
check_out "a re-run skips the joins, saying so" "^\\[${ips[1]}\\] join nodes: done as recorded, skipped" printf '%s\n' "$out"
check "init ran once" test "$(hs 1 grep -c -e "'kubeadm init --config'" $calls)" = 1

# 2 masters + 1 node on the same hosts, reset first
for i in 1 2 3; do hs "$i" 'kubeadm reset -f >/dev/null 2>&1; : > /var/log/k8s-standin/calls.log'; done
# (another cluster under the same name: the control machine forgets the first one, else
# the apply would reconcile against it and refuse the second host's change of role)
forget_cluster my-cluster
cat > "$work/Clusterfile" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: my-cluster
spec:
  image: k8stest:v1
  ssh: {passwd: "$pw"}
  hosts:
    - ips: [${ips[0]}, ${ips[1]}]
      roles: [master]
    - ips: [${ips[2]}]
      roles: [node]
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
apiServer:
  certSANs: [extra.example.org]
networking:
  serviceSubnet: 10.96.8.0/22
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
maxPods: 50
CF
out=$("$cirun" apply -f "$work/Clusterfile" --ready-timeout 90 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E "kubeadm|join|failed" | sed 's/^/# /' | head -n 30
check "2 masters + 1 node by apply -f Clusterfile: the run succeeds" test "$rc" = 0
cfg=$(hs 1 cat /var/lib/cirun/data/my-cluster/kubeadm-init.yaml)
check_out "config: the Clusterfile's serviceSubnet over the image's" 'serviceSubnet: 10\.96\.8\.0/22' printf '%s\n' "$cfg"
check_out "config: the Clusterfile's certSAN added to the forced ones" 'extra\.example\.org' printf '%s\n' "$cfg"
check_out "config: both masters in certSANs" "${ips[1]//./\\.}" bash -c "printf '%s\n' \"\$1\" | sed -n '/certSANs:/,/^[a-z]/p'" _ "$cfg"
check_out "config: the Clusterfile's KubeletConfiguration field" '^maxPods: 50$' printf '%s\n' "$cfg"
check_out "config: still the forced endpoint" '^controlPlaneEndpoint: apiserver\.cluster\.local:6443$' printf '%s\n' "$cfg"
check_out "the second master's join config carries controlPlane and the certificate key" \
    '^ +certificateKey: <key>$' bash -c "bash '$lab' ssh 2 cat /var/lib/cirun/data/my-cluster/kubeadm-join.yaml | sed -E \"s/certificateKey: '?[0-9a-f]{64}'?\\\$/certificateKey: <key>/\""
check_out "the key is the one master0 uploaded" "$(hs 1 'cat /var/lib/etcd/k8s-standin/certificate-key' 2>/dev/null || echo none)" \
    hs 2 cat /var/lib/cirun/data/my-cluster/kubeadm-join.yaml
check_out "master0 uploaded the certs for it, with the init config (its certificatesDir, etcd)" \
    'kubeadm init phase upload-certs --upload-certs --config /var/lib/cirun/data/my-cluster/kubeadm-init\.yaml' hs 1 cat $calls
t_init=$(hs 1 "grep 'kubeadm init --config' $calls | cut -d' ' -f1")
t_join=$(hs 2 "grep 'kubeadm join' $calls | cut -d' ' -f1")
check "the second master joined after master0's init" test "$t_init" \< "$t_join"
check_out "the second master has a control plane" 'kube-apiserver' hs 2 ls /etc/kubernetes/manifests
check_out "both masters labelled" '^2$' bash -c "bash '$lab' ssh 1 kubectl get nodes -l node-role.kubernetes.io/master= -o name | wc -l"
check_out "/root/.kube/config on the second master" 'apiserver\.cluster\.local:6443' hs 2 cat /root/.kube/config
check_out "phases done: join masters on the second master" "^${ips[1]} +master +9 +ok" printf '%s\n' "$out"

# a joined node whose kubelet stops and is gone from the API: the wait times out naming it,
# with its kubelet's journal, and the run stops there (the joins are skipped: kubelet.conf)
hs 3 'mkdir -p /etc/systemd/system/kubelet.service.d && printf "[Service]\nExecStartPre=/bin/false\n" > /etc/systemd/system/kubelet.service.d/99-broken.conf && systemctl daemon-reload && { systemctl restart kubelet 2>/dev/null; true; }'
hs 1 "kubectl delete nodes $(hs 3 hostname)" > /dev/null
out=$("$cirun" run k8stest:v1 -m "${ips[0]},${ips[1]}" -n "${ips[2]}" -p "$pw" --ready-timeout 6 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E "Ready|kubelet:|FAILED|stopped" | sed 's/^/# /' | head -n 20
check "a node that never gets Ready fails the run" test "$rc" = 1
check_out "the error names the node not Ready" "^${ips[2]} +node .*wait Ready: node \(not registered\) \(${ips[2]//./\\.}\) was not Ready within 6s" printf '%s\n' "$out"
check_out "and carries its kubelet's journal, fetched from that host" "^\\[${ips[2]//./\\.}\\] kubelet: .*kubelet\\.service" printf '%s\n' "$out"
check_out "the run stopped after the wait" 'stopped after wait Ready' printf '%s\n' "$out"

# a join that fails (its kubelet cannot start; the stand-in's join gives up after 5 s, as the
# real one after 40 s): the host fails in join nodes with its kubelet's journal
hs 3 'kubeadm reset -f > /dev/null 2>&1'
out=$("$cirun" run k8stest:v1 -m "${ips[0]},${ips[1]}" -n "${ips[2]}" -p "$pw" -e K8S_STANDIN_WAIT=5 --ready-timeout 6 2>&1)
rc=$?
check "a failed join fails the run" test "$rc" = 1
check_out "the node failed in join nodes" "^${ips[2]} +node .*FAILED .*join nodes: kubeadm join failed" printf '%s\n' "$out"
check_out "with its kubelet's journal logged" "^\\[${ips[2]//./\\.}\\] kubelet: " printf '%s\n' "$out"
check_out "saying how to start the host afresh (what the join wrote fails its next preflight)" \
    "^\\[${ips[2]//./\\.}\\] join nodes failed: kubeadm join failed .*run 'kubeadm reset -f' on the host before running cirun again" \
    printf '%s\n' "$out"
hs 3 'rm -f /etc/systemd/system/kubelet.service.d/99-broken.conf; systemctl daemon-reload'
# master0's API server down (as after an init that failed past writing admin.conf): init
# is skipped, and the join data's failure says what to check and how to start afresh
hs 1 'systemctl stop kubelet' >/dev/null 2>&1
out=$("$cirun" run k8stest:v1 -m "${ips[0]},${ips[1]}" -n "${ips[2]}" -p "$pw" --ready-timeout 30 2>&1)
rc=$?
check "master0's API down: the run fails (exit 1)" test "$rc" = 1
check_out "master0 fails in join data, asking whether its API server is up, and how to start afresh" \
    "^\\[${ips[0]//./\\.}\\] join data failed: .*kubeadm token create --print-join-command failed \\(is master0's API server up\\? .*'kubeadm reset -f' on master0" \
    printf '%s\n' "$out"

# master0 alone reset: init makes a new cluster (a new CA); the second master holds
# kubelet.conf of the old one and would never register: it fails in its join, saying what
# to do, instead of being taken as joined and the run timing out on it
hs 1 'kubeadm reset -f >/dev/null 2>&1'
out=$("$cirun" run k8stest:v1 -m "${ips[0]},${ips[1]}" -n "${ips[2]}" -p "$pw" --ready-timeout 30 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E "joined|FAILED" | sed 's/^/# /' | head -n 6
check "master0 reset alone: the run fails (exit 1)" test "$rc" = 1
check_out "a master of the old cluster fails in join masters, naming the CA and what to do" \
    "^\\[${ips[1]//./\\.}\\] join masters failed: the host has joined another cluster .*its CA sha256:[0-9a-f]{64} is not master0's sha256:[0-9a-f]{64}.*run 'kubeadm reset -f' on it" \
    printf '%s\n' "$out"
check_out "master0 initialised afresh" "^${ips[0]} +master0 +[0-9]+ +ok" printf '%s\n' "$out"
summary
