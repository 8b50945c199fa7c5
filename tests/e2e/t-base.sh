#!/usr/bin/env bash
# The project's base-image content (scripts/, units/) on a real lab host through
# `cirun run`: init.sh prepares an nspawn host with warnings naming what it may not set,
# containerd runs with the rendered config (the sea.hub pause image, certs.d mirrors, the
# cgroup driver chosen for a container on cgroup v1), kubelet is enabled with kubeadm's
# drop-in, a host's own containerd config is kept aside and put back, a re-run changes
# nothing, clean.sh undoes only what the scripts did. kubelet/kubeadm are STAND-INS.
# The image is built by `make base-image` (tools/base-image.sh) from the STAND-IN release dir:
# its etc/kubeadm.yml, bin/, images/ (renamed -amd64 archives) and refusals are checked, and
# on a 2-host lab a node pulls the real busybox workload and kubeadm's image names through
# sea.hub:5000.
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

check "shellcheck -S warning on scripts/ and the image builders" shellcheck -S warning -x "$top"/scripts/*.sh \
    "$top"/tools/base-image.sh "$top"/tests/fixtures/k8s-standin/images.sh
mk() { make -s -C "$top" BUILD="${BUILD:-build}" "$@" 2>&1; }
standin=$top/${BUILD:-build}/k8s-standin
# the image's rootfs (its layers in order, from `cirun save`) into DIR
tree() {
    local d=$2 m l
    rm -rf "$d" && mkdir -p "$d/oci" "$d/root" || return 1
    "$cirun" save -o "$d/img.tar" "$1" >/dev/null && tar -xf "$d/img.tar" -C "$d/oci" || return 1
    m=$(jq -r '.manifests[0].digest' "$d/oci/index.json") || return 1
    for l in $(jq -r '.layers[].digest' "$d/oci/blobs/sha256/${m#sha256:}"); do
        tar -xf "$d/oci/blobs/sha256/${l#sha256:}" -C "$d/root" || return 1
    done
}
names() { for f in "$1"/images/*; do python3 "$top/tools/image-archive.py" "$f" | sed "s|^|${f##*/} |"; done; }

# --- make base-image on the STAND-IN release dir (bin/ cni/ images/ as upstream ships them)
out=$(mk standin-base-image)
printf '%s\n' "$out" | grep '^base-image:' | sed 's/^/# /'
check_out "make standin-base-image builds kubernetes:v1.28.7 (version from kubeadm)" \
    '^base-image: built kubernetes:v1\.28\.7: Kubernetes v1\.28\.7 \(kubeadm\.k8s\.io/v1beta3\)' printf '%s\n' "$out"
check_out "it says crictl is missing (Debian 12 has no cri-tools; the stand-in dir has none)" \
    'bin/crictl is missing' printf '%s\n' "$out"
tree kubernetes:v1.28.7 "$work/t1" || bail "cannot read the image back"
r=$work/t1/root
check_out "etc/kubeadm.yml: a ClusterConfiguration with the version" \
    '^apiVersion: kubeadm\.k8s\.io/v1beta3 kind: ClusterConfiguration kubernetesVersion: v1\.28\.7$' \
    bash -c "grep -v '^#' '$r/etc/kubeadm.yml' | tr '\n' ' ' | sed 's/ \$//'"
for f in "$standin"/bin/*; do
    check "bin/${f##*/} of the release dir is in the image, same bytes" cmp "$f" "$r/bin/${f##*/}"
done
check "the project's scripts/ and units/ placed as the image contract wants" test -f "$r/scripts/init.sh" -a \
    -f "$r/etc/kubelet.service" -a -f "$r/etc/containerd/config.toml.tmpl" -a -x "$r/bin/kubelet-pre-start.sh"
check_out "cri/ holds Debian's containerd and runc" '^runc$' bash -c "tar -tzf '$r/cri/containerd.tar.gz' | sort"
check "images/ has registry.tar (the real registry image)" test -s "$r/images/registry.tar"
nm=$(names "$r")
printf '%s\n' "$nm" | sed 's/^/# /'
while read -r want; do
    check_out "images/ names $want" " ${want//./\\.}\$" printf '%s\n' "$nm"
done < <("$standin/bin/kubeadm" config images list; echo docker.io/library/busybox:1.35.0)
check "images/ has no README (only archives reach the registry)" test ! -e "$r/images/README.md"

# --- refusals: kubeadm missing, a version that is not one, one cirun cannot write a config for
bad=$work/bad
mkdir -p "$bad/bin"
cp "$standin/bin/kubelet" "$standin/bin/kubectl" "$bad/bin/"
check_out "a dir without bin/kubeadm is refused, saying where to get it" \
    'bad/bin/kubeadm is missing: download it from https://dl\.k8s\.io/release/VERSION/bin/linux/amd64/kubeadm' \
    bash -c "! make -s -C '$top' base-image K8S_DIR='$bad' TAG=bad:v1 2>&1"
printf '#!/bin/sh\necho 1.28.7\n' > "$bad/bin/kubeadm" && chmod +x "$bad/bin/kubeadm"
check_out "a kubeadm whose version is malformed is refused" \
    "printed '1\\.28\\.7', not a version like v1\\.28\\.7" bash -c "! make -s -C '$top' base-image K8S_DIR='$bad' TAG=bad:v1 2>&1"
printf '#!/bin/sh\necho v1.31.0\n' > "$bad/bin/kubeadm"
check_out "Kubernetes 1.31 is refused (kubeadm v1beta4, not written yet)" \
    'Kubernetes v1\.31\.0 reads kubeadm\.k8s\.io/v1beta4' bash -c "! make -s -C '$top' base-image K8S_DIR='$bad' TAG=bad:v1 2>&1"
check "none of them made an image" bash -c "! '$cirun' images | grep -q '^bad'"
# 1.22: kubeadm.k8s.io/v1beta2; containerd and runc from CRI_DIR, the registry from REGISTRY_TAR
printf '#!/bin/sh\necho v1.22.17\n' > "$bad/bin/kubeadm"
mkdir -p "$work/cri/x" && printf '#!/bin/sh\n' > "$work/cri/x/containerd" && chmod +x "$work/cri/x/containerd"
tar -czf "$work/cri/containerd.tar.gz" -C "$work/cri/x" containerd
check_out "CRI_DIR without runc is refused" 'no runc in the archives of' \
    bash -c "! CRI_DIR='$work/cri' make -s -C '$top' base-image K8S_DIR='$bad' TAG=old:v1 2>&1"
cp "$work/cri/x/containerd" "$work/cri/x/runc" && tar -czf "$work/cri/runc.tar.gz" -C "$work/cri/x" runc
mkdir -p "$bad/images"
skopeo copy -q "docker-archive:$standin/images/kube-scheduler.tar" \
    "docker-archive:$bad/images/kube-scheduler.tar:k8s.gcr.io/kube-scheduler-amd64:v1.22.17"
out=$(CRI_DIR="$work/cri" REGISTRY_TAR="$standin/images/pause.tar" make -s -C "$top" base-image K8S_DIR="$bad" TAG=old:v1 2>&1)
printf '%s\n' "$out" | grep '^base-image:' | sed 's/^/# /'
check_out "a 1.22 dir with CRI_DIR and REGISTRY_TAR builds" '^base-image: built old:v1: Kubernetes v1\.22\.17' printf '%s\n' "$out"
check_out "a kubeadm whose image list is not one is said so" "gave no list of image names" printf '%s\n' "$out"
check_out "without kubeadm's list, a kube-*-amd64 name is still renamed" \
    '^base-image: renamed k8s\.gcr\.io/kube-scheduler-amd64:v1\.22\.17 to k8s\.gcr\.io/kube-scheduler:v1\.22\.17' printf '%s\n' "$out"
tree old:v1 "$work/t2" || bail "cannot read old:v1 back"
check_out "1.22: etc/kubeadm.yml is kubeadm.k8s.io/v1beta2" '^apiVersion: kubeadm\.k8s\.io/v1beta2$' cat "$work/t2/root/etc/kubeadm.yml"
check "1.22: cri/ is CRI_DIR's archives" test -f "$work/t2/root/cri/runc.tar.gz" -a -f "$work/t2/root/cri/containerd.tar.gz"
check "1.22: images/registry.tar is REGISTRY_TAR" cmp "$standin/images/pause.tar" "$work/t2/root/images/registry.tar"

# --- images/ that is not what it should be: each refused before anything is built
hos=$work/hostile
mkdir -p "$hos/images" "$work/h"
cp -r "$standin/bin" "$hos/"
refused() {  # NAME REGEX: the build of $hos is refused with REGEX
    check_out "$1" "$2" bash -c "! make -s -C '$top' base-image K8S_DIR='$hos' TAG=hostile:v1 2>&1"
    rm -f "$hos"/images/*
}
printf 'x\n' > "$work/h/hello" && tar -cf "$hos/images/junk.tar" -C "$work/h" hello
refused "a tar that is no image archive is refused" 'junk\.tar: neither a docker-archive \(manifest\.json\) nor an OCI image layout'
printf '[{"Config": ' > "$work/h/manifest.json" && tar -cf "$hos/images/bad.tar" -C "$work/h" manifest.json
refused "a manifest.json that is not JSON is refused" 'bad\.tar: its image index is not the JSON of an image archive'
printf '{"Config": "x"}' > "$work/h/manifest.json" && tar -cf "$hos/images/bad.tar" -C "$work/h" manifest.json
refused "a manifest.json of the wrong shape is refused" 'bad\.tar: its image index is not the JSON of an image archive'
ln -sf /etc/passwd "$work/h/manifest.json" && tar -cf "$hos/images/link.tar" -C "$work/h" manifest.json
refused "a manifest.json that is a symlink is not read" 'link\.tar: neither a docker-archive'
printf '[{"Config": "c.json", "RepoTags": null, "Layers": []}]' > "$work/h/m.json"
rm -f "$work/h/manifest.json" && cp "$work/h/m.json" "$work/h/manifest.json" && tar -cf "$hos/images/anon.tar" -C "$work/h" manifest.json
refused "an image without a name is refused" 'anon\.tar: an image in it has no name'
cp "$standin/images/pause.tar" "$hos/images/a.tar" && cp "$standin/images/pause.tar" "$hos/images/b.tar"
refused "two archives with one name are refused" '(a|b)\.tar and .* both name pause:3\.9'
skopeo copy -q "docker-archive:$standin/images/etcd.tar" "docker-archive:$work/h/etcd.tar:registry.k8s.io/etcd-amd64:3.5.10-0"
zstd -q "$work/h/etcd.tar" -o "$hos/images/etcd.tar.zst"
out=$(make -s -C "$top" base-image K8S_DIR="$hos" TAG=hostile:v1 2>&1)
check_out "a zstd docker-archive named -amd64 is decompressed and renamed" \
    '^base-image: renamed registry\.k8s\.io/etcd-amd64:3\.5\.10-0 to registry\.k8s\.io/etcd:3\.5\.10-0 \(kubeadm.s name\) in etcd\.tar$' printf '%s\n' "$out"

# --- upstream's server tarball names: registry.k8s.io/kube-apiserver-amd64:vX, renamed to
# kubeadm's name; gzip'd docker-archive and an OCI archive; a missing image is warned about
amd=$work/amd
cp -r "$standin" "$amd"
rm "$amd/images/kube-apiserver.tar" "$amd/images/kube-proxy.tar" "$amd/images/etcd.tar"
skopeo copy -q "docker-archive:$standin/images/kube-apiserver.tar" \
    "docker-archive:$amd/images/kube-apiserver.tar:registry.k8s.io/kube-apiserver-amd64:v1.28.7" && gzip "$amd/images/kube-apiserver.tar"
skopeo copy -q "docker-archive:$standin/images/kube-proxy.tar" \
    "oci-archive:$amd/images/kube-proxy.tar:registry.k8s.io/kube-proxy-amd64:v1.28.7"
out=$(mk base-image K8S_DIR="$amd" TAG=amdtest:v1)
printf '%s\n' "$out" | grep '^base-image:' | sed 's/^/# /'
check_out "the -amd64 names are renamed, said so" '^base-image: renamed registry\.k8s\.io/kube-apiserver-amd64:v1\.28\.7 to registry\.k8s\.io/kube-apiserver:v1\.28\.7' printf '%s\n' "$out"
check_out "a missing image is warned about by name" 'no archive in .* names registry\.k8s\.io/etcd:3\.5\.10-0' printf '%s\n' "$out"
tree amdtest:v1 "$work/t3" || bail "cannot read amdtest:v1 back"
nm=$(names "$work/t3/root")
check_out "kube-apiserver.tar.gz became kube-apiserver.tar named as kubeadm asks" \
    '^kube-apiserver\.tar docker none 0 registry\.k8s\.io/kube-apiserver:v1\.28\.7$' printf '%s\n' "$nm"
check_out "the OCI archive too" '^kube-proxy\.tar oci none 0 registry\.k8s\.io/kube-proxy:v1\.28\.7$' printf '%s\n' "$nm"
check "no -amd64 name is left" bash -c "! printf '%s\n' \"\$1\" | grep -q amd64" _ "$nm"

check "lab-up N=2" bash "$lab" up 2 || bail "the lab did not come up"
ip=$(bash "$lab" ips | sed -n 1p)
ip2=$(bash "$lab" ips | sed -n 2p)
hs() { bash "$lab" ssh 1 "$@"; }

# a host with its own containerd config: kept aside, put back by clean.sh
hs 'mkdir -p /etc/containerd && echo "# the host admin config" > /etc/containerd/config.toml'

run() { "$cirun" run kubernetes:v1.28.7 -m "$ip" -n "$ip2" -p "$pw" 2>&1; }
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
check_out "kubelet.service is enabled, and active once kubeadm init started it" '^enabled active$' \
    hs 'echo $(systemctl is-enabled kubelet) $(systemctl is-active kubelet)'
kcat=$(hs systemctl cat kubelet)
check_out "kubelet: kubeadm's drop-in in place" 'kubelet\.service\.d/10-kubeadm\.conf' printf '%s\n' "$kcat"
check_out "kubelet: kubeadm's flags file" '^EnvironmentFile=-/var/lib/kubelet/kubeadm-flags\.env$' printf '%s\n' "$kcat"
check_out "kubelet: never gives up restarting" '^StartLimitIntervalSec=0$' printf '%s\n' "$kcat"
check_out "kubelet-pre-start.sh is on PATH and exits 0 on this host" '^rc=0$' \
    hs '/usr/local/bin/kubelet-pre-start.sh >/dev/null 2>&1; echo rc=$?'
check_out "the scripts' record lists what they installed" '^/etc/containerd/config\.toml$' hs cat "$data/scripts-installed"

# the registry phase served images/ from master0: the node pulls through sea.hub:5000 (ctr reads
# the certs.d mirrors the hosts phase wrote), by the original name and by kubeadm's
n2() { bash "$lab" ssh 2 "$@"; }
pull() { n2 "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d $1 2>&1 | tail -n 3"; }
check_out "node: the registry's catalog lists the images of images/" \
    '"repositories":\[.*"coredns/coredns".*"kube-apiserver".*"library/busybox"' \
    n2 "exec 3<>/dev/tcp/sea.hub/5000 && printf 'GET /v2/_catalog HTTP/1.0\r\nHost: sea.hub:5000\r\n\r\n' >&3 && cat <&3"
check_out "node: ctr pulls docker.io/library/busybox:1.35.0 by its original name" '^done' pull docker.io/library/busybox:1.35.0
check_out "node: and runs it (the real workload from Debian's busybox-static)" '^hello from busybox$' \
    n2 'ctr -n k8s.io run --rm --net-host docker.io/library/busybox:1.35.0 t-bb sh -c "echo hello from busybox" 2>&1'
check_out "node: ctr pulls sea.hub:5000/kube-apiserver:v1.28.7 (kubeadm's name)" '^done' pull sea.hub:5000/kube-apiserver:v1.28.7
check_out "node: that image says it is a stand-in" 'STAND-IN for registry\.k8s\.io/kube-apiserver:v1\.28\.7' \
    n2 'ctr -n k8s.io run --rm --net-host sea.hub:5000/kube-apiserver:v1.28.7 t-ka 2>&1; true'
check_out "node: registry.k8s.io/pause:3.9 by its original name" '^done' pull registry.k8s.io/pause:3.9

# a re-run: nothing written, containerd not restarted
state() { hs "md5sum /etc/containerd/config.toml /etc/sysctl.d/90-cirun-k8s.conf /etc/modules-load.d/cirun-k8s.conf /etc/cni/net.d/10-cirun-bridge.conflist $data/scripts-installed; systemctl show -p MainPID -p NRestarts containerd"; }
before=$(state)
# (master0's journal removed: init.sh's own idempotence is checked, not the journal's skip)
hs "rm -f $data/journal"
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
