#!/usr/bin/env bash
# tools/base-image.sh with odd names, on this machine alone (no lab, a few seconds): the
# release directory's own name cannot add a line to the Kubefile or a key to
# etc/kubeadm.yml (a newline in it), a ':' in its path does not break skopeo's rename of an
# -amd64 archive, and an archive whose name the run would not import (a control character)
# is refused. cirun is a recorder here (CIRUN=): what the builder hands to `cirun build`
# is what is checked; the real build is t-base.sh's.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export T_NAME=e2e-base-names
. "$top/tests/lib.sh"
work=$(mktemp -d /tmp/cirun-e2e-base-names.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- a release dir: a kubeadm that answers as kubeadm, kubelet, kubectl
mkrel() {
    local d=$1
    mkdir -p "$d/bin" "$d/images" "$d/cri" || return 1
    cat > "$d/bin/kubeadm" <<'EOF'
#!/bin/sh
case "$*" in
"version -o short") echo v1.28.7 ;;
"config images list --kubernetes-version v1.28.7") echo registry.k8s.io/kube-apiserver:v1.28.7 ;;
*) exit 1 ;;
esac
EOF
    printf '#!/bin/sh\n' > "$d/bin/kubelet" && printf '#!/bin/sh\n' > "$d/bin/kubectl" &&
        chmod +x "$d/bin/kubeadm" "$d/bin/kubelet" "$d/bin/kubectl" || return 1
    mkdir -p "$work/crib" && : > "$work/crib/containerd" && : > "$work/crib/runc" &&
        tar -czf "$d/cri/containerd.tar.gz" -C "$work/crib" containerd runc
}
# a docker-archive of one empty-layer image named $2
mkarchive() {
    python3 - "$1" "$2" <<'EOF'
import hashlib, io, json, sys, tarfile
out, name = sys.argv[1], sys.argv[2]
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w") as t:
    ti = tarfile.TarInfo("hello"); data = b"hi\n"; ti.size = len(data); t.addfile(ti, io.BytesIO(data))
layer = lb.getvalue(); lsha = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lsha]}}).encode()
csha = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": csha + ".json", "RepoTags": [name], "Layers": [lsha + "/layer.tar"]}]).encode()
with tarfile.open(out, mode="w") as t:
    for n, b in ((csha + ".json", cfg), (lsha + "/layer.tar", layer), ("manifest.json", man)):
        ti = tarfile.TarInfo(n); ti.size = len(b); t.addfile(ti, io.BytesIO(b))
EOF
}
# the recording cirun: keeps the Kubefile and the context's etc/kubeadm.yml and images/
cat > "$work/cirun" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case \$1 in -f) kf=\$2; shift ;; -t) shift ;; build) ;; *) ctx=\$1 ;; esac; shift; done
cp "\$kf" "$work/Kubefile" && cp "\$ctx/etc/kubeadm.yml" "$work/kubeadm.yml" && ls "\$ctx/images" > "$work/images" &&
    rm -rf "$work/ctx-images" && cp -r "\$ctx/images" "$work/ctx-images"
EOF
chmod +x "$work/cirun"
mkarchive "$work/registry.tar" docker.io/library/registry:2 || bail "cannot make a test archive"
export CIRUN=$work/cirun REGISTRY_TAR=$work/registry.tar CRI_DIR=
build() { bash "$top/tools/base-image.sh" "$1" 2>&1; }

# --- a ':' in the release dir's path: skopeo's references are cut at the first ':'
rel=$work/k8s:v1.28.7/rel
mkrel "$rel" || bail "cannot make the release dir"
mkarchive "$rel/images/kube-apiserver-amd64.tar" registry.k8s.io/kube-apiserver-amd64:v1.28.7 ||
    bail "cannot make a test archive"
check_out "an -amd64 archive in a path with ':' is renamed to kubeadm's name" \
    'renamed registry.k8s.io/kube-apiserver-amd64:v1.28.7 to registry.k8s.io/kube-apiserver:v1.28.7' \
    build "$rel"
check_out "the renamed archive is in the build context" '^kube-apiserver-amd64\.tar$' cat "$work/images"
check_out "it holds kubeadm's name" '^docker none 0 registry\.k8s\.io/kube-apiserver:v1\.28\.7$' \
    python3 "$top/tools/image-archive.py" "$work/ctx-images/kube-apiserver-amd64.tar"

# --- a newline in the release dir's name
rm -f "$work/Kubefile" "$work/kubeadm.yml"
rel="$work/rel
RUN touch $work/pwned
kubernetesVersion: v0.0.1
x"
mkrel "$rel" || bail "cannot make the release dir"
mkarchive "$rel/images/kube-apiserver.tar" registry.k8s.io/kube-apiserver:v1.28.7 ||
    bail "cannot make a test archive"
check_out "a release dir named with newlines is built" '^base-image: built kubernetes:v1\.28\.7' build "$rel"
check "the Kubefile has only the builder's instructions (the dir's newlines add none)" \
    bash -c "test -s '$work/Kubefile' && ! grep -vE '^(#|FROM |LABEL |COPY )' '$work/Kubefile'"
check_out "etc/kubeadm.yml is the three keys of the contract" \
    '^apiVersion: kubeadm\.k8s\.io/v1beta3 kind: ClusterConfiguration kubernetesVersion: v1\.28\.7$' \
    bash -c "grep -v '^#' '$work/kubeadm.yml' | tr '\n' ' ' | sed 's/ \$//'"
check "nothing ran from the directory's name" test ! -e "$work/pwned"

# --- an archive the run would not import (a control character in its name)
rel2=$work/rel2
mkrel "$rel2" || bail "cannot make the release dir"
mkarchive "$rel2/images/kube-apiserver.tar" registry.k8s.io/kube-apiserver:v1.28.7
mkarchive "$rel2/images/app"$'\t'".tar" docker.io/library/app:1
check_out "an archive named with a control character is refused, saying the run would not import it" \
    'images/app\?\.tar: a control character in its name: the run would not import it' \
    bash -c "! bash '$top/tools/base-image.sh' '$rel2' 2>&1"

# --- an image name with a control character (an escape sequence to the terminal)
rm -f "$rel2/images/app"$'\t'".tar"
mkarchive "$rel2/images/esc.tar" $'docker.io/library/esc\e[2J:1'
check_out "an image named with a control character is refused" \
    "esc\\.tar: image name .* is not a name" bash -c "! bash '$top/tools/base-image.sh' '$rel2' 2>&1"

summary
