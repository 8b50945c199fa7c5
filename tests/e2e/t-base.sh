#!/usr/bin/env bash
# The project's base-image content (scripts/, units/) on a real lab host through
# `cirun run`: init.sh prepares an nspawn host with warnings naming what it may not set,
# containerd runs with the rendered config (the sea.hub pause image, certs.d mirrors, the
# cgroup driver chosen for a container on cgroup v1), kubelet is enabled with kubeadm's
# drop-in, a host's own containerd config is kept aside and put back, a re-run changes
# nothing, clean.sh undoes only what the scripts did. kubelet/kubeadm are STAND-INS.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirbase} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.17}
export T_NAME=e2e-base
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
cirun=$top/${BUILD:-build}/cirun
work=$(mktemp -d /tmp/cirun-e2e-base.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
data=/var/lib/cirun/data/my-cluster

check "shellcheck -S warning on scripts/" shellcheck -S warning -x "$top"/scripts/*.sh
make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
ctx=$work/ctx
mkdir -p "$ctx"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
check "build the base test image" "$cirun" build -t basetest:v1 --build-arg "DEBS=$debs" \
    -f "$top/tests/fixtures/base-image/Kubefile" "$ctx" || bail "no image"

check "lab-up N=1" bash "$lab" up 1 || bail "the lab did not come up"
ip=$(bash "$lab" ips | sed -n 1p)
hs() { bash "$lab" ssh 1 "$@"; }

# a host with its own containerd config: kept aside, put back by clean.sh
hs 'mkdir -p /etc/containerd && echo "# the host admin config" > /etc/containerd/config.toml'

run() { "$cirun" run basetest:v1 -m "$ip" -p "$pw" 2>&1; }
out=$(run)
printf '%s\n' "$out" | grep -E "^\\[$ip\\] " | sed 's/^/# /'
check_out "first run succeeds" "^$ip +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "init.sh warns, naming a module or sysctl the nspawn host refuses" \
    "^\\[$ip\\] warning: (kernel module [a-z_]+|sysctl [a-z0-9._-]+) " printf '%s\n' "$out"
check_out "the host's own config was kept aside, said so" \
    "^\\[$ip\\] warning: /etc/containerd/config.toml was not installed by cirun: kept as /etc/containerd/config.toml.cirun-backup" printf '%s\n' "$out"
check_out "containerd.sh chose cgroupfs and restrict_oom_score_adj in a container on cgroup v1" \
    "^\\[$ip\\] containerd: cgroup driver cgroupfs, restrict_oom_score_adj true" printf '%s\n' "$out"
check_out "containerd.service is active" '^active$' hs systemctl is-active containerd
check_out "ctr version answers the server" 'Server:' hs ctr version
cfg=$(hs cat /etc/containerd/config.toml)
check_out "config: the sea.hub pause image" '^ *sandbox_image = "sea.hub:5000/pause:3\.9"$' printf '%s\n' "$cfg"
check_out "config: registry mirrors from certs.d" '^ *config_path = "/etc/containerd/certs\.d"$' printf '%s\n' "$cfg"
check_out "config: SystemdCgroup decided (false here)" '^ *SystemdCgroup = false$' printf '%s\n' "$cfg"
check "config: no auto left" bash -c "! printf '%s\n' \"\$1\" | grep -q '= auto'" _ "$cfg"
check_out "the running containerd loaded it (its CRI config in the journal)" \
    'ConfigPath:/etc/containerd/certs\.d .*SandboxImage:sea\.hub:5000/pause:3\.9 .*RestrictOOMScoreAdj:true' \
    hs "journalctl -u containerd --no-pager -o cat | grep 'Start cri plugin with config' | tail -n 1"
check_out "the CNI bridge config rendered with the default pod subnet" '"subnet": "100\.64\.0\.0/10"' \
    hs cat /etc/cni/net.d/10-cirun-bridge.conflist
check_out "sysctls kept for the next boot" '^net\.ipv4\.ip_forward = 1$' hs cat /etc/sysctl.d/90-cirun-k8s.conf
check_out "ip_forward is on" '^1$' hs cat /proc/sys/net/ipv4/ip_forward
check_out "kubelet.service is enabled, not started" '^enabled inactive$' \
    hs 'echo $(systemctl is-enabled kubelet) $(systemctl is-active kubelet)'
kcat=$(hs systemctl cat kubelet)
check_out "kubelet: kubeadm's drop-in in place" 'kubelet\.service\.d/10-kubeadm\.conf' printf '%s\n' "$kcat"
check_out "kubelet: kubeadm's flags file" '^EnvironmentFile=-/var/lib/kubelet/kubeadm-flags\.env$' printf '%s\n' "$kcat"
check_out "kubelet: never gives up restarting" '^StartLimitIntervalSec=0$' printf '%s\n' "$kcat"
check_out "kubelet-pre-start.sh is on PATH and exits 0 on this host" '^rc=0$' \
    hs '/usr/local/bin/kubelet-pre-start.sh >/dev/null 2>&1; echo rc=$?'
check_out "the scripts' record lists what they installed" '^/etc/containerd/config\.toml$' hs cat "$data/scripts-installed"

# a re-run: nothing written, containerd not restarted
state() { hs "md5sum /etc/containerd/config.toml /etc/sysctl.d/90-cirun-k8s.conf /etc/modules-load.d/cirun-k8s.conf /etc/cni/net.d/10-cirun-bridge.conflist $data/scripts-installed; systemctl show -p MainPID -p NRestarts containerd"; }
before=$(state)
out=$(run)
check_out "a re-run succeeds" "^$ip +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "a re-run finds containerd running with its config" "^\\[$ip\\] containerd: running, config unchanged" printf '%s\n' "$out"
check "a re-run writes no file" bash -c "! printf '%s\n' \"\$1\" | grep -E '^\\[[0-9.]+\\] (wrote|restarting|loaded|set sysctl)'" _ "$out"
check "a re-run changes nothing (files, containerd's pid)" test "$before" = "$(state)"

# init-registry.sh with a real registry image (Debian's docker-registry as a docker-archive),
# from a scratch copy of the scripts beside an images/registry.tar
reg=$(bash "$top/tests/fixtures/registry-image/registry-tar.sh") || bail "cannot make a registry.tar"
hs "rm -rf /tmp/regtest && mkdir -p /tmp/regtest/images /tmp/regtest/registry/docker/registry/v2/repositories/probe/_layers && cp -r $data/rootfs/scripts /tmp/regtest/"
bash "$lab" put 1 "$reg" /tmp/regtest/images/registry.tar
check_out "init-registry.sh imports registry.tar and starts the registry" \
    '^registry cirun-registry runs docker\.io/library/registry:2\.8\.2 on port 5000 \(sea\.hub:5000\), data in /tmp/regtest/registry$' \
    hs 'bash /tmp/regtest/scripts/init-registry.sh 5000 /tmp/regtest/registry'
catalog() { hs "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /v2/_catalog HTTP/1.0\r\n\r\n' >&3 && cat <&3"; }
check_out "the registry serves its data dir (/v2/_catalog)" '\{"repositories":\["probe"\]\}' catalog
check_out "init-registry.sh again: the running registry is left alone" '^registry cirun-registry already runs' \
    hs 'bash /tmp/regtest/scripts/init-registry.sh 5000 /tmp/regtest/registry'
check_out "init-registry.sh on another port replaces the container" \
    '^replacing the registry container cirun-registry$' hs 'bash /tmp/regtest/scripts/init-registry.sh 5001 /tmp/regtest/registry'
check_out "and the registry answers there" 'HTTP/1\.[01] 200' \
    hs "exec 3<>/dev/tcp/127.0.0.1/5001 && printf 'GET /v2/ HTTP/1.0\r\n\r\n' >&3 && head -n 1 <&3"
hs 'ctr plugins ls' | grep -i restart | sed 's/^/# containerd: /'

check_out "clean.sh runs without error" '^rc=0$' hs "bash $data/rootfs/scripts/clean.sh; echo rc=\$?"
check_out "clean.sh put the host's own config back" '^# the host admin config$' hs cat /etc/containerd/config.toml
check "clean.sh removed what the scripts installed" hs '! test -e /etc/sysctl.d/90-cirun-k8s.conf && ! test -e /etc/cni/net.d/10-cirun-bridge.conflist && ! test -e /etc/modules-load.d/cirun-k8s.conf'
check "clean.sh removed the registry container" hs '! ctr -n k8s.io containers ls -q | grep -qx cirun-registry'
check "clean.sh left what the agent installed" hs "test -x /usr/bin/containerd && grep -qx /usr/bin/runc $data/installed"
check_out "clean.sh run twice: no error" '^rc=0$' hs "bash $data/rootfs/scripts/clean.sh; echo rc=\$?"
summary
