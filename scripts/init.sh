#!/usr/bin/env bash
# The base image's host preparation, run by cirun on every host after the agent put the
# rootfs, bin/, cri/ and the units in place (see scripts/README.md): the kernel and host
# settings first (modules such as overlay before containerd restarts on them), then
# containerd with the image's config. Idempotent: a re-run changes nothing. The registry
# is started apart, on its host only (init-registry.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash ./init-kube.sh
bash ./containerd.sh
