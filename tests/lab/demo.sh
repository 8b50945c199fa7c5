#!/usr/bin/env bash
# `make demo`: boots 3 lab hosts, builds the STAND-IN base image kubernetes:v1.28.7 with
# `make standin-base-image` (the same `make base-image` a user runs on upstream's files;
# stand-in kubeadm/kubelet/kubectl and stand-in control-plane images, no Kubernetes binaries
# offline; real registry, containerd, runc and busybox workload) and an app image on it
# (tests/fixtures/demo-app), installs it with cirun run, then shows the registry's catalog
# seen from a node, the busybox workload pulled and run on a node, and the recorded kubeadm
# calls.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
lab=$top/tests/lab/lab.sh
cirun=$top/build/cirun
export CIRUN_HOME=${CIRUN_HOME:-/var/lib/cirun-demo}

bash "$lab" up 3
bash "$lab" status
ips=$(bash "$lab" ips | paste -sd,)
master=${ips%%,*}
nodes=${ips#*,}

echo
echo "---- what cirun-agent sees on $master"
bash "$lab" put 1 "$top/build/cirun-agent" /usr/local/bin/cirun-agent
bash "$lab" ssh 1 cirun-agent facts | head -12

echo
echo "---- building the STAND-IN base image (make standin-base-image) and the demo app on it"
make -s -C "$top" standin-base-image
"$cirun" build -t demo-app:v1 "$top/tests/fixtures/demo-app"
"$cirun" images

echo
echo "---- cirun run demo-app:v1 -m $master -n $nodes -p …"
# the lab's hosts get new host keys whenever they are re-created
rm -f "$CIRUN_HOME/known_hosts"
start=$(date +%s)
"$cirun" run demo-app:v1 -m "$master" -n "$nodes" -p "${CIRUN_LAB_PASSWORD:-cirun-lab}" \
    --cmd-args Greeting=hi
echo "(the install of the 3 hosts took $(($(date +%s) - start)) s)"

echo
echo "---- the cluster's nodes, as the STAND-IN kubectl on $master lists them"
bash "$lab" ssh 1 kubectl get nodes -o wide

echo
echo "---- the cluster's registry (sea.hub:5000) seen from node ${nodes%%,*}"
bash "$lab" ssh 2 "exec 3<>/dev/tcp/sea.hub/5000 && printf 'GET /v2/_catalog HTTP/1.0\r\nHost: sea.hub:5000\r\n\r\n' >&3 && sed -n '\$p' <&3"
echo
echo "---- node ${nodes%%,*} pulls docker.io/library/busybox:1.35.0 by its original name (through sea.hub:5000) and runs it"
bash "$lab" ssh 2 'ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d docker.io/library/busybox:1.35.0 | tail -n 1 &&
    ctr -n k8s.io run --rm --net-host docker.io/library/busybox:1.35.0 demo-bb sh -c "echo busybox \$(busybox | head -n 1 | cut -d\" \" -f2) runs in a container on the node"'
echo
echo "---- the STAND-IN kubeadm calls recorded on each host (/var/log/k8s-standin/calls.log)"
for i in 1 2 3; do
    echo "host $i:"
    bash "$lab" ssh "$i" 'grep " kubeadm " /var/log/k8s-standin/calls.log 2>/dev/null | sed "s/^/  /" || echo "  (none recorded)"'
done
echo
echo "The lab stays up: 'make lab-status' shows it, 'make lab-down' removes it."
