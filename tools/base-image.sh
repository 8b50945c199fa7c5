#!/usr/bin/env bash
# Builds the base cluster image kubernetes:vX.Y.Z with `cirun build`, from a Kubernetes release
# directory laid out as upstream ships the files (docs/base-image.md):
#
#   K8S_DIR/bin/      kubeadm, kubelet, kubectl, crictl (every file is carried: helpers too)
#   K8S_DIR/cni/      the CNI plugin binaries (optional)
#   K8S_DIR/images/   docker-archive or OCI tars of the control-plane images (whatever is there)
#   K8S_DIR/cri/      containerd and runc as archives (optional; else Debian's packages)
#
# plus a registry image, the project's scripts/ and units/ and etc/kubeadm.yml (the version).
# Called by `make base-image K8S_DIR=DIR [TAG=…]`; environment:
#   CIRUN          the cirun binary (default build/cirun)
#   REGISTRY_TAR   the registry image (default K8S_DIR/images/registry.tar, else Debian's
#                  docker-registry packed by tests/fixtures/registry-image/registry-tar.sh)
#   CRI_DIR        archives holding containerd and runc (default K8S_DIR/cri/, else Debian's
#                  containerd and runc .debs, tests/fixtures/run-image/debs.sh)
# This is a build tool of the project, not image content: scripts/ is what the image ships.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/.." && pwd)

say() { printf 'base-image: %s\n' "$*" >&2; }
warn() { printf 'base-image: warning: %s\n' "$*" >&2; }
die() { printf 'base-image: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] ||
    die "usage: make base-image K8S_DIR=DIR [TAG=name:tag]  (tools/base-image.sh DIR [TAG]; docs/base-image.md)"
dir=$(cd "$1" 2>/dev/null && pwd) ||
    die "K8S_DIR '$1' is not a directory: give the Kubernetes release directory (bin/, cni/, images/; docs/base-image.md)"
tag=${2:-}
cirun=${CIRUN:-$top/build/cirun}
[ -x "$cirun" ] || die "no cirun at $cirun: run 'make' first (or set CIRUN)"

# --- tools: installed like `make deps` does, when missing
need=()
command -v skopeo >/dev/null || need+=(skopeo)
command -v python3 >/dev/null || need+=(python3)
command -v zstd >/dev/null || need+=(zstd)
command -v dpkg-deb >/dev/null || need+=(dpkg)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing ${need[*]}: install them (apt-get install ${need[*]}) or run as root"
    say "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
        { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; }
fi
names_of() { python3 "$here/image-archive.py" "$1"; }

# --- bin/: kubeadm tells the version
[ -d "$dir/bin" ] || die "$dir has no bin/: put kubeadm, kubelet, kubectl (and crictl) there (docs/base-image.md says where to download them)"
for b in kubeadm kubelet kubectl; do
    [ -e "$dir/bin/$b" ] ||
        die "$dir/bin/$b is missing: download it from https://dl.k8s.io/release/VERSION/bin/linux/amd64/$b into $dir/bin/ and chmod +x it (docs/base-image.md)"
    [ -f "$dir/bin/$b" ] && [ -x "$dir/bin/$b" ] || die "$dir/bin/$b is not an executable file: chmod +x it"
done
[ -e "$dir/bin/crictl" ] ||
    warn "$dir/bin/crictl is missing: the hosts get no crictl (cri-tools' release tarball has it; docs/base-image.md); ctr works without it"
ver=$(timeout 60 "$dir/bin/kubeadm" version -o short 2>&1) ||
    die "'$dir/bin/kubeadm version -o short' failed: ${ver:0:300}"
[[ $ver =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] ||
    die "'$dir/bin/kubeadm version -o short' printed '${ver:0:100}', not a version like v1.28.7: is $dir/bin/kubeadm kubeadm?"
major=$((10#${BASH_REMATCH[1]})) minor=$((10#${BASH_REMATCH[2]}))
# the kubeadm config's apiVersion follows the version (docs/kubeadm-config.md, same table)
if [ "$major" -ne 1 ] || [ "$minor" -lt 15 ]; then
    die "Kubernetes $ver is too old: cirun writes kubeadm.k8s.io/v1beta2 or v1beta3, read by 1.15 to 1.30"
elif [ "$minor" -ge 31 ]; then
    die "Kubernetes $ver reads kubeadm.k8s.io/v1beta4, which cirun does not write yet (it supports 1.15 to 1.30)"
elif [ "$minor" -lt 23 ]; then
    api=kubeadm.k8s.io/v1beta2
else
    api=kubeadm.k8s.io/v1beta3
fi
tag=${tag:-kubernetes:$ver}
# $dir as comments of the Kubefile and etc/kubeadm.yml name it: one line of plain characters
# (a directory name may hold a newline, which would start a Kubefile instruction or a YAML key)
shown=${dir//[^[:alnum:]\/._+@=,~-]/?}
say "Kubernetes $ver from $dir, into image $tag"

work=$(mktemp -d "${TMPDIR:-/tmp}/cirun-base-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
ctx=$work/ctx
mkdir -p "$ctx/bin" "$ctx/cni" "$ctx/images" "$ctx/cri" "$ctx/etc"
cp -r "$top/scripts" "$top/units" "$ctx/"
# every file of bin/, symlinks resolved (the image must not point back into this machine)
cp -rL "$dir/bin/." "$ctx/bin/"
nbin=$(find "$ctx/bin" -type f | wc -l)

# --- cni/
ncni=0
if [ -d "$dir/cni" ]; then
    for f in "$dir"/cni/*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        cp -L "$f" "$ctx/cni/" && ncni=$((ncni + 1))
    done
fi
[ "$ncni" -gt 0 ] ||
    warn "no CNI plugin binaries in $dir/cni: pods get no network unless an app image brings a CNI (containernetworking/plugins; docs/base-image.md)"

# --- images/: names as kubeadm asks for them
# the path of a reference without its registry host, and its tag: what sea.hub:5000 serves
# (docs/registry.md: registry.k8s.io/pause:3.9 is pause:3.9, busybox:1.36 library/busybox:1.36)
path_tag() {
    local n=$1 first=${1%%/*} host=docker.io
    if [[ $n == */* ]] && { [[ $first == *[.:]* ]] || [ "$first" = localhost ]; }; then
        host=$first n=${n#*/}
    fi
    if [[ $n != */* ]] && { [ "$host" = docker.io ] || [ "$host" = index.docker.io ]; }; then n=library/$n; fi
    printf '%s\n' "$n"
}
declare -A want=() have=()
# every line must be an image reference with a registry and a tag, or the list is not used
ref_re='^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+$'
if lst=$(timeout 60 "$dir/bin/kubeadm" config images list --kubernetes-version "$ver" 2>/dev/null) &&
    [ -n "$lst" ] && ! grep -qvE "$ref_re" <<< "$lst"; then
    while read -r n; do want[$(path_tag "$n")]=$n; done <<< "$lst"
else
    warn "'kubeadm config images list --kubernetes-version $ver' gave no list of image names: images/ is not checked against it, and archives named kube-*-ARCH are renamed to kube-*"
fi
arch_re='^(.*)-(amd64|arm64|arm|ppc64le|s390x)(:[^/]*)$'
# NAME -> the name kubeadm asks for, or empty: upstream's server tarball names its archives
# registry.k8s.io/kube-apiserver-amd64:vX, kubeadm wants registry.k8s.io/kube-apiserver:vX
plain_name() {
    local n=$1
    [[ $n =~ $arch_re ]] || return 0
    local s=${BASH_REMATCH[1]}${BASH_REMATCH[3]}
    if [ ${#want[@]} -gt 0 ]; then
        [ -n "${want[$(path_tag "$s")]:-}" ] && printf '%s\n' "$s"
    else
        [[ ${s##*/} == kube-* ]] && printf '%s\n' "$s"
    fi
    return 0
}
# image archives are big: a hard link into the build context where the file system allows
put() { ln -- "$1" "$2" 2>/dev/null || cp -- "$1" "$2"; }
decompress() {  # FILE COMPRESSION OUT
    case $2 in
        gzip) gzip -dc -- "$1" > "$3" ;; bzip2) bzip2 -dc -- "$1" > "$3" ;;
        xz) xz -dc -- "$1" > "$3" ;; zstd) zstd -q -dc -- "$1" > "$3" ;;
    esac
}
nimg=0 nretag=0
have_registry=
for f in "$dir"/images/*; do
    [ -e "$f" ] || continue
    base=${f##*/}
    case $base in
        registry.tar) have_registry=$f; continue ;;
        *.md|*.txt|*.sha256|*.sha512|*.asc|*.sig) say "skipping $base (not an image archive)"; continue ;;
    esac
    [ -f "$f" ] || die "$f is not a file: images/ holds image archives only"
    # the run imports only archives whose name is a plain file name (proto-msg's rule)
    [[ $base != *[[:cntrl:]]* ]] ||
        die "images/${base//[[:cntrl:]]/?}: a control character in its name: the run would not import it; rename it"
    out=$(names_of "$f" 2>&1) || die "$f: ${out:0:400} (images/ holds docker-archive or OCI tars; docs/base-image.md)"
    fmt=$(printf '%s\n' "$out" | awk 'NR==1 {print $1}')
    comp=$(printf '%s\n' "$out" | awk 'NR==1 {print $2}')
    mapfile -t names < <(printf '%s\n' "$out" | awk '{print $4}')
    nimages=$(printf '%s\n' "$out" | awk '{print $3}' | sort -u | wc -l)
    new=() keep=()
    for n in "${names[@]}"; do
        [ "$n" != - ] || die "$f: an image in it has no name, so the registry cannot serve it: save it with its name (docker save NAME:TAG, skopeo copy … docker-archive:F:NAME:TAG)"
        [ "$fmt" = docker ] || [[ $n == */* || $n == *:* ]] ||
            die "$f: its OCI name '$n' is a bare tag, not an image reference: export it as oci-archive:F:registry.k8s.io/NAME:TAG"
        p=$(plain_name "$n")
        if [ -n "$p" ]; then new+=("$p"); else keep+=("$n"); fi
    done
    dst=$ctx/images/$base
    if [ ${#new[@]} -gt 0 ]; then
        [ "$nimages" -eq 1 ] ||
            die "$f: an archive of $nimages images, one to rename: split it (skopeo copy, one image per archive)"
        src=$f
        if [ "$comp" != none ]; then
            src=$work/unpacked.tar
            decompress "$f" "$comp" "$src" || die "$f: cannot decompress it ($comp)"
        fi
        dst=$ctx/images/${base%%.tar*}.tar
        [ ! -e "$dst" ] || die "$f: renaming it gives ${dst##*/}, which another archive of $dir/images already is"
        extra=()
        for n in "${new[@]:1}" "${keep[@]}"; do [ -n "$n" ] && extra+=(--additional-tag "$n"); done
        # skopeo cuts a docker-archive:/oci-archive: reference at its first ':': the archives
        # are named by plain relative paths in $work, whatever $dir and TMPDIR hold
        ln -sfn -- "$src" "$work/src.tar"
        if [ "$fmt" = docker ]; then
            (cd "$work" && skopeo copy -q ${extra[@]+"${extra[@]}"} docker-archive:src.tar "docker-archive:out.tar:${new[0]}") ||
                die "$f: skopeo could not rewrite it under the name ${new[0]}"
        else
            (cd "$work" && skopeo copy -q --all oci-archive:src.tar "oci-archive:out.tar:${new[0]}") ||
                die "$f: skopeo could not rewrite it under the name ${new[0]}"
        fi
        mv -- "$work/out.tar" "$dst"
        rm -f "$work/unpacked.tar" "$work/src.tar"
        say "renamed ${names[*]} to ${new[*]} (kubeadm's name) in ${dst##*/}"
        nretag=$((nretag + 1))
    else
        [ ! -e "$dst" ] || die "$f: two archives named ${base}"
        put "$f" "$dst"
    fi
    for n in "${new[@]}" "${keep[@]}"; do
        k=$(path_tag "$n")
        [ -z "${have[$k]:-}" ] || die "$f and ${have[$k]} both name $k: the registry serves one image per name; keep one"
        have[$k]=${f##*/}
    done
    nimg=$((nimg + 1))
done
for k in "${!want[@]}"; do
    [ -n "${have[$k]:-}" ] ||
        warn "no archive in $dir/images names ${want[$k]}: the hosts cannot pull it offline (docs/base-image.md says how to export it)"
done

# --- the registry image
reg=${REGISTRY_TAR:-$have_registry}
if [ -z "$reg" ]; then
    reg=$(bash "$top/tests/fixtures/registry-image/registry-tar.sh") ||
        die "cannot make the default registry image from Debian's docker-registry: give one with REGISTRY_TAR=FILE"
    say "registry image: Debian's docker-registry ($reg)"
fi
[ -f "$reg" ] || die "REGISTRY_TAR '$reg' is not a file"
out=$(names_of "$reg" 2>&1) || die "registry image $reg: ${out:0:400}"
put "$reg" "$ctx/images/registry.tar"

# --- cri/: containerd and runc
cri=${CRI_DIR:-}
[ -n "$cri" ] || { [ -d "$dir/cri" ] && cri=$dir/cri; } || true
if [ -n "$cri" ]; then
    [ -d "$cri" ] || die "CRI_DIR '$cri' is not a directory"
    for f in "$cri"/*; do
        case $f in *.tar|*.tar.gz|*.tgz|*.tar.zst) cp -L -- "$f" "$ctx/cri/" ;; esac
    done
    crifrom=$cri
else
    debs=$(bash "$top/tests/fixtures/run-image/debs.sh") ||
        die "cannot get Debian's containerd and runc packages: give archives of your own with CRI_DIR=DIR"
    t=$work/debs
    mkdir -p "$t"
    for d in "$debs"/containerd_*.deb "$debs"/runc_*.deb; do dpkg-deb -x "$d" "$t"; done
    tar -czf "$ctx/cri/containerd.tar.gz" -C "$t/usr/bin" containerd containerd-shim-runc-v2 ctr -C "$t/usr/sbin" runc
    crifrom="Debian's $(basename "$debs"/containerd_*.deb) and $(basename "$debs"/runc_*.deb)"
fi
crilist=$(for f in "$ctx"/cri/*; do [ -f "$f" ] && tar -tf "$f"; done 2>/dev/null | sed 's|.*/||' | sort -u)
for b in containerd runc; do
    printf '%s\n' "$crilist" | grep -qx "$b" ||
        die "no $b in the archives of ${crifrom}: cri/ needs containerd (containerd-VERSION-linux-amd64.tar.gz) and runc (a tar of runc.amd64 named runc; docs/base-image.md)"
done

# --- etc/kubeadm.yml: the version, as the run reads it (BRIEF9's contract, docs/kubeadm-config.md)
cat > "$ctx/etc/kubeadm.yml" <<EOF
# Written by cirun's tools/base-image.sh from '${shown##*/}/bin/kubeadm version -o short'.
# cirun's run merges its forced fields and the Clusterfile's kubeadm documents over this.
apiVersion: $api
kind: ClusterConfiguration
kubernetesVersion: $ver
EOF

# The Kubefile is written here: which COPY lines there are depends on what the directory has
# (an empty cni/ is not copied), and the layout is the one units/README.md describes.
{
    echo "# made by tools/base-image.sh: Kubernetes $ver from $shown"
    echo "FROM scratch"
    echo "LABEL io.cirun.kubernetes-version=$ver"
    echo "COPY scripts scripts"
    echo "COPY units/containerd.service units/kubelet.service units/10-kubeadm.conf etc/"
    echo "COPY units/containerd/config.toml.tmpl etc/containerd/"
    echo "COPY units/cni/10-cirun-bridge.conflist.tmpl etc/cni/net.d/"
    echo "COPY etc/kubeadm.yml etc/"
    echo "COPY bin bin"
    echo "COPY scripts/kubelet-pre-start.sh bin/"
    [ "$ncni" -eq 0 ] || echo "COPY cni cni"
    echo "COPY cri cri"
    echo "COPY images images"
} > "$work/Kubefile"
"$cirun" build -t "$tag" -f "$work/Kubefile" "$ctx" >&2 || die "cirun build of $tag failed"
say "built $tag: Kubernetes $ver ($api), $nbin file(s) in bin/, $ncni CNI plugin(s), $nimg image archive(s) ($nretag renamed) + registry.tar, cri/ from $crifrom"
printf '%s\n' "$tag"
