#!/usr/bin/env bash
# Issue 8's run path whole, on real lab hosts, with the STAND-IN base image of
# `make standin-base-image` (stand-in kubeadm/kubelet/kubectl and control-plane images;
# real containerd, runc, registry and busybox workload) and an app image on it
# (tests/fixtures/cluster-app):
#  - 1 master + 2 nodes by `cirun run`: each host's phases in order (the run log's
#    per-host events), init on master0 with the merged config, joins, every node Ready, the
#    CMDs in order with an ARG overridden, the seed's taint plugin on the masters only and
#    a plugin `on: node` on the nodes only, the registry serving images/, a node pulling
#    busybox by its original name and every image kubeadm names through sea.hub:5000;
#  - 2 masters + 2 nodes by `cirun apply -f Clusterfile` with Config, Plugin and kubeadm
#    documents: the Clusterfile's kubeadm fields and the forced ones in init's config,
#    the second master joined with the certificate key after init, a plugin on an IP
#    list and a LABEL at PostJoin whose label a PreGuest selector then finds.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-cluster circlus 10.213.20
calls=/var/log/k8s-standin/calls.log
data=/var/lib/cirun/data

make -s -C "$top" standin-base-image > "$work/base-image.out" 2>&1 ||
    { sed 's/^/# /' "$work/base-image.out"; bail "make standin-base-image failed"; }
check "build the app image on the stand-in base" "$cirun" build -t cluster-app:v1 \
    "$top/tests/fixtures/cluster-app" || bail "no app image"

lab_begin 7
hs() { hostssh "$@"; }

# each host's phases in order, from the run log's per-host events
phases_of() {
    local log
    log=$(ls -t "$CIRUN_HOME"/logs/"$1"-*.log | head -n 1)
    sed -n "s/^[^ ]* \\[$2\\] phase \\(.*\\) done in [0-9]* ms\$/\\1/p" "$log" | paste -sd,
}

# ---- 1 master + 2 nodes by cirun run ----
out=$("$cirun" run cluster-app:v1 -m "$ip1" -n "$ip2,$ip3" -p "$pw" --cmd-args Greeting=hi 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(==>|[0-9.]+ +(master0|master|node) )' | sed 's/^/# /'
check "run: 1 master + 2 nodes succeed" test "$rc" = 0
for ip in "$ip1" "$ip2" "$ip3"; do
    check_out "run: $ip ok" "^${ip//./\\.} +(master0|node) +[0-9]+ +ok" printf '%s\n' "$out"
done
p1=$(phases_of my-cluster "$ip1") p2=$(phases_of my-cluster "$ip2")
echo "# master0: $p1"
echo "# node:    $p2"
check_out "master0's phases in order" \
    '^connect,agent,facts,journal,distribute,setup,hosts,init,registry,mirrors,kubeadm init,join data,label masters,cmd,wait Ready,PostInstall kubectl,PostInstall$' echo "$p1"
check_out "a node's phases in order" \
    '^connect,agent,facts,journal,distribute,setup,hosts,init,mirrors,join nodes,PostInstall$' echo "$p2"

check_out "master0 ran kubeadm init with the agent's config" \
    "kubeadm init --config $data/my-cluster/kubeadm-init\\.yaml --upload-certs" hs 1 cat $calls
cfg=$(hs 1 cat $data/my-cluster/kubeadm-init.yaml)
check_out "init config: controlPlaneEndpoint forced" '^controlPlaneEndpoint: apiserver\.cluster\.local:6443$' echo "$cfg"
check_out "init config: imageRepository forced" '^imageRepository: sea\.hub:5000$' echo "$cfg"
check_out "init config: the image's kubernetesVersion" '^kubernetesVersion: v1\.28\.7$' echo "$cfg"
for i in 2 3; do
    check_out "node $i joined" "kubeadm join --config $data/my-cluster/kubeadm-join\\.yaml\$" hs "$i" cat $calls
done
nodes=$(hs 1 kubectl get nodes)
printf '%s\n' "$nodes" | sed 's/^/# /'
check "every node Ready" test "$(printf '%s\n' "$nodes" | grep -c ' Ready ')" = 3

check_out "the CMDs ran on master0 in order, the ARG overridden" \
    '^cmd 1: hi world in my-cluster,cmd 2: 3 nodes joined$' bash -c "bash '$lab' ssh 1 cat /var/log/cirun-cluster-app.log | paste -sd,"
check "the CMDs ran on master0 only" bash -c "! bash '$lab' ssh 2 test -e /var/log/cirun-cluster-app.log"
check_out "the seed's taint plugin ran on the master (its legacy label)" "^taint plugin on $(hs 1 hostname)\$" \
    hs 1 cat /var/log/cirun-cluster-plugins.log
check_out "and took the control-plane taint off it" '^<none>$' \
    hs 1 "kubectl get node \$(hostname) -o json | grep -q NoSchedule && echo tainted || echo '<none>'"
for i in 2 3; do
    check_out "node $i ran the plugin on: node, not the taint plugin" "^on-node plugin on $(hs "$i" hostname)\$" \
        hs "$i" cat /var/log/cirun-cluster-plugins.log
done
check "the master did not run the plugin on: node" bash -c "! bash '$lab' ssh 1 grep -q on-node /var/log/cirun-cluster-plugins.log"

get() { hs 3 "exec 3<>/dev/tcp/sea.hub/5000 && printf 'GET $1 HTTP/1.0\\r\\nHost: sea.hub:5000\\r\\n\\r\\n' >&3 && sed -n '\$p' <&3"; }
catalog=$(get /v2/_catalog)
echo "# catalog seen from a node: $catalog"
for repo in kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd pause coredns library/busybox; do
    check_out "the registry serves $repo" "\"$repo\"" echo "$catalog"
done
pull() { hs 3 "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d $1 > /dev/null && echo pulled"; }
check_out "a node pulls docker.io/library/busybox:1.35.0 by its original name" '^pulled$' pull docker.io/library/busybox:1.35.0
check_out "and runs it" '^busybox runs$' \
    hs 3 "ctr -n k8s.io run --rm --net-host docker.io/library/busybox:1.35.0 t-bb sh -c 'echo busybox runs'"
images=$(hs 3 kubeadm config images list --image-repository sea.hub:5000 --kubernetes-version v1.28.7)
check "kubeadm names 7 images" test "$(printf '%s\n' "$images" | grep -c '^sea\.hub:5000/')" = 7
for img in $images; do
    check_out "a node pulls $img" '^pulled$' pull "$img"
done

# ---- 2 masters + 2 nodes by cirun apply -f Clusterfile ----
cat > "$work/Clusterfile" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: apply-cluster
spec:
  image: cluster-app:v1
  cmd_args: [Target=apply]
  ssh: {passwd: "$pw"}
  hosts:
  - {ips: [$ip4, $ip5], roles: [master]}
  - {ips: [$ip6, $ip7], roles: [node]}
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: app-settings}
spec:
  path: etc/app.yaml
  strategy: merge
  data: |
    app:
      replicas: 3
      mode: cluster
---
apiVersion: sealer.cloud/v2
kind: Plugin
metadata: {name: on-ip}
spec:
  type: SHELL
  action: PostInstall
  on: $ip7
  data: echo "on-ip plugin on \$(hostname)" >> /var/log/cirun-cluster-plugins.log
---
apiVersion: sealer.cloud/v2
kind: Plugin
metadata: {name: label-web}
spec:
  type: LABEL
  action: PostJoin
  data: |
    $ip6 app=web
---
apiVersion: sealer.cloud/v2
kind: Plugin
metadata: {name: on-web}
spec:
  type: SHELL
  action: PreGuest
  on: app=web
  data: echo "on-web plugin on \$(hostname)" >> /var/log/cirun-cluster-plugins.log
---
apiVersion: sealer.cloud/v2
kind: Plugin
metadata: {name: before-join}
spec:
  type: SHELL
  action: PreJoin
  on: master
  data: echo "before-join plugin on \$(hostname), \$(test -e /etc/kubernetes/kubelet.conf && echo joined || echo not joined yet)" >> /var/log/cirun-cluster-plugins.log
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
networking:
  podSubnet: 10.244.0.0/16
apiServer:
  certSANs: [cluster.example.com]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
maxPods: 50
CF
out=$("$cirun" apply -f "$work/Clusterfile" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^(==>|[0-9.]+ +(master0|master|node) )|plugin ' | sed 's/^/# /'
check "apply: 2 masters + 2 nodes succeed" test "$rc" = 0
for ip in "$ip4" "$ip5" "$ip6" "$ip7"; do
    check_out "apply: $ip ok" "^${ip//./\\.} +(master0|master|node) +[0-9]+ +ok" printf '%s\n' "$out"
done
p5=$(phases_of apply-cluster "$ip5")
echo "# master 2: $p5"
check_out "the second master's phases in order" \
    '^connect,agent,facts,journal,distribute,config,setup,hosts,init,mirrors,PreJoin,join masters,PostJoin,PreGuest,PostInstall$' echo "$p5"
cfg=$(hs 4 cat $data/apply-cluster/kubeadm-init.yaml)
check_out "init config: the Clusterfile's podSubnet" '^  podSubnet: 10\.244\.0\.0/16$' echo "$cfg"
check_out "init config: the Clusterfile's maxPods" '^maxPods: 50$' echo "$cfg"
sans=$(printf '%s\n' "$cfg" | sed -n '/certSANs:/,/^  [a-z]/p' | paste -sd' ')
check_out "init config: certSANs forced (endpoint, 127.0.0.1, both masters) and the Clusterfile's" \
    "apiserver\\.cluster\\.local.*127\\.0\\.0\\.1.*${ip4//./\\.}.*${ip5//./\\.}.*cluster\\.example\\.com" echo "$sans"
check_out "the second master joined as a control plane" \
    "kubeadm join --config $data/apply-cluster/kubeadm-join\\.yaml\$" hs 5 cat $calls
check_out "its join config carries the certificate key" '^  certificateKey: "?[0-9a-f]{64}"?$' \
    hs 5 cat $data/apply-cluster/kubeadm-join.yaml
t_init=$(hs 4 "grep -m1 'kubeadm init --config' $calls | cut -d' ' -f1")
t_join=$(hs 5 "grep -m1 'kubeadm join --config' $calls | cut -d' ' -f1")
check "the second master joined after init" test "$t_join" \> "$t_init"
check "it runs the stand-in API's control-plane manifest" hs 5 test -f /etc/kubernetes/manifests/kube-apiserver.yaml
nodes=$(hs 4 kubectl get nodes)
printf '%s\n' "$nodes" | sed 's/^/# /'
check "every node Ready" test "$(printf '%s\n' "$nodes" | grep -c ' Ready ')" = 4
check_out "control-plane nodes: 2" '^2$' bash -c "bash '$lab' ssh 4 kubectl get nodes -l node-role.kubernetes.io/control-plane -o name | wc -l"
check_out "the Config merged into the app's file" '^  replicas: 3$' hs 6 cat $data/apply-cluster/rootfs/etc/app.yaml
check_out "and kept the image's fields" '^  name: cluster-app$' hs 6 cat $data/apply-cluster/rootfs/etc/app.yaml
check_out "the CMDs took the Clusterfile's cmd_args" '^cmd 1: hello apply in apply-cluster,cmd 2: 4 nodes joined$' \
    bash -c "bash '$lab' ssh 4 cat /var/log/cirun-cluster-app.log | paste -sd,"
check_out "PreJoin ran on the joining master before its join" "^before-join plugin on $(hs 5 hostname), not joined yet\$" \
    hs 5 cat /var/log/cirun-cluster-plugins.log
check "and not on master0, which does not join" bash -c "! bash '$lab' ssh 4 grep -q before-join /var/log/cirun-cluster-plugins.log"
check_out "the plugin on an IP ran there" "on-ip plugin on $(hs 7 hostname)" hs 7 cat /var/log/cirun-cluster-plugins.log
check "and nowhere else" bash -c "! bash '$lab' ssh 6 grep -q on-ip /var/log/cirun-cluster-plugins.log"
check_out "the LABEL at PostJoin labelled the node" "^$(hs 6 hostname) " hs 4 kubectl get nodes -l app=web
check_out "the PreGuest selector found it" "on-web plugin on $(hs 6 hostname)" hs 6 cat /var/log/cirun-cluster-plugins.log
check "and only it" bash -c "! bash '$lab' ssh 7 grep -q on-web /var/log/cirun-cluster-plugins.log"
check_out "the taint plugin ran on both masters" '^2$' bash -c \
    "{ bash '$lab' ssh 4 cat /var/log/cirun-cluster-plugins.log; bash '$lab' ssh 5 cat /var/log/cirun-cluster-plugins.log; } | grep -c '^taint plugin'"

summary
