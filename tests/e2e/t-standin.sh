#!/usr/bin/env bash
# The STAND-IN kubeadm/kubelet/kubectl (tests/fixtures/k8s-standin) on 2 real lab hosts,
# installed by hand (not through cirun yet): init, joins refused and accepted, nodes Ready,
# labels, taints, selectors, reset. See tests/fixtures/k8s-standin/test.sh.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirunsti} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.12}
export T_NAME=e2e-standin
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
trap 'bash "$lab" down >/dev/null 2>&1' EXIT

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
check "lab-up N=2" bash "$lab" up 2 || bail "the lab did not come up"
bash "$top/tests/fixtures/k8s-standin/test.sh" "$top/${BUILD:-build}/k8s-standin"
