#!/usr/bin/env bash
# `make demo`: boots 3 lab hosts, builds the demo cluster image (tests/fixtures/run-image:
# Debian's containerd and runc in cri/, units, templates, init.sh; kubelet and kubeadm are
# stand-ins, no Kubernetes binaries offline) and installs it onto them with cirun run.
# The cluster stops at what the run path does so far: rootfs, CRI and units, init.sh.
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
echo "---- building the demo cluster image"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh")
"$cirun" build -t demo-cluster:v1 --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image"
"$cirun" images

echo
echo "---- cirun run demo-cluster:v1 -m $master -n $nodes -p …"
# the lab's hosts get new host keys whenever they are re-created
rm -f "$CIRUN_HOME/known_hosts"
CIRUN_SSH_PASSWORD=${CIRUN_LAB_PASSWORD:-cirun-lab} "$cirun" run demo-cluster:v1 -m "$master" -n "$nodes" \
    -e HostRole=worker -e Version=1.0.0 -e 'DnsServers=10.96.0.10'

echo
echo "---- on $master after the run"
bash "$lab" ssh 1 'systemctl is-active containerd; ctr version | sed -n 1,3p; cat /var/lib/cirun/data/my-cluster/rootfs/etc/cluster.yaml'
echo
echo "The lab stays up: 'make lab-status' shows it, 'make lab-down' removes it."
