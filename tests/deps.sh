#!/usr/bin/env bash
# Installs every Debian package the build and the tests need; does nothing when all are
# present, so `make test` can call it on every run.
set -euo pipefail

packages=(
    # build
    gcc make pkg-config
    libssh2-1-dev libyaml-dev libarchive-dev libsystemd-dev libcap-dev libssl-dev
    # static link of the agent: libarchive's own dependencies as .a files
    libacl1-dev libzstd-dev liblz4-dev libbz2-dev liblzma-dev zlib1g-dev
    # tests: unit, fuzz (clang's libFuzzer), lab hosts and the SSH client checks
    libcmocka-dev clang libclang-rt-14-dev
    systemd-container mmdebstrap iproute2 sshpass openssh-client util-linux procps
    # image tests: skopeo reads our OCI archives, zstd lets tar list our layers
    skopeo zstd python3
    # t-base.sh checks the base image scripts with it
    shellcheck
    # make base-image / the stand-in images: umoci builds them, jq reads them back in t-base.sh
    umoci jq
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${missing[*]}; run 'make deps' as root" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
