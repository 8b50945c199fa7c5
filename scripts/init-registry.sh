#!/usr/bin/env bash
# Starts the cluster's registry on the registry host (cirun's registry phase runs it there
# only), as sealer's init-registry.sh did but with containerd and no docker:
#   init-registry.sh [PORT] [DATA_DIR] [DOMAIN]     (sealer's order; defaults 5000,
#                                                   ROOTFS/registry, sea.hub)
# The registry image comes from images/registry.tar (a docker-archive or OCI archive),
# imported into containerd's k8s.io namespace; the container "cirun-registry" runs it with
# the host's network, DATA_DIR mounted at /var/lib/registry (where the agent writes the
# images of images/ in distribution's layout) and, when the image has one,
# etc/registry_config.yml as its config. It serves, never takes: the agent writes the
# images into DATA_DIR itself, so the registry runs read-only (distribution's maintenance
# readonly mode, the data mounted ro) and nobody who reaches port PORT, with no auth and
# no TLS, can replace an image every node pulls through sea.hub. Idempotent: a registry already running from the
# same image and data dir is left alone; containerd restarts it after a reboot.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${1:-${RegistryPort:-5000}}
data=${2:-$CIRUN_ROOTFS/registry}
domain=${3:-${RegistryDomain:-sea.hub}}
name=cirun-registry
ns=(-n k8s.io)
tar=$CIRUN_ROOTFS/images/registry.tar

case $port in '' | *[!0-9]*) echo "init-registry.sh: port '$port' is not a number" >&2; exit 2 ;; esac
[ -f "$tar" ] || { echo "init-registry.sh: $tar is missing: the image carries no registry image" >&2; exit 1; }
command -v ctr >/dev/null 2>&1 || { echo "init-registry.sh: no ctr on PATH (containerd's client)" >&2; exit 1; }
mkdir -p "$data"
data=$(cd "$data" && pwd) # the bind mount needs an absolute source

# the image's name is the one the archive carries; importing again is cheap (blobs known)
out=$(ctr "${ns[@]}" images import "$tar" 2>&1) ||
    { echo "init-registry.sh: ctr images import $tar failed: $out" >&2; exit 1; }
image=$(printf '%s\n' "$out" | sed -n 's/^unpacking \([^ ]*\) (sha256:.*/\1/p' | head -n 1)
[ -n "$image" ] || { echo "init-registry.sh: $tar names no image (ctr said: $out)" >&2; exit 1; }

answers() {
    local reply
    reply=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$port"' &&
        printf "GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 && head -n 1 <&3' 2>/dev/null) || return 1
    [[ $reply == HTTP/1.?\ 200* ]]
}

# what the running container was started with, to leave an identical one alone ("ro":
# started read-only, so one started by an older script that took pushes is replaced)
want="$image $data $port ro"
have=$(ctr "${ns[@]}" containers info "$name" 2>/dev/null |
    sed -n 's/.*"cirun.registry": "\(.*\)".*/\1/p' | head -n 1) || true
if [ "$have" = "$want" ] && ctr "${ns[@]}" tasks ls 2>/dev/null | awk -v n="$name" '$1 == n {print $3}' | grep -qx RUNNING; then
    if answers; then
        info "registry $name already runs $image on port $port"
        exit 0
    fi
fi
if ctr "${ns[@]}" containers info "$name" >/dev/null 2>&1; then
    info "replacing the registry container $name"
    # first out of containerd's restart monitor, or it may start the task again meanwhile
    ctr "${ns[@]}" containers label "$name" containerd.io/restart.status= >/dev/null 2>&1 || true
    ctr "${ns[@]}" tasks kill -s SIGKILL "$name" >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do
        ctr "${ns[@]}" tasks delete "$name" >/dev/null 2>&1 && break
        ctr "${ns[@]}" tasks ls 2>/dev/null | awk '{print $1}' | grep -qx "$name" || break
        sleep 0.5
    done
    ctr "${ns[@]}" containers delete "$name" >/dev/null
fi

args=(--net-host --label "cirun.registry=$want" --label containerd.io/restart.status=running
    --env "REGISTRY_HTTP_ADDR=:$port" --env REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=/var/lib/registry
    --env 'REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled": true}'
    --mount "type=bind,src=$data,dst=/var/lib/registry,options=rbind:ro")
if [ -f "$CIRUN_ROOTFS/etc/registry_config.yml" ]; then
    args+=(--mount "type=bind,src=$CIRUN_ROOTFS/etc/registry_config.yml,dst=/etc/docker/registry/config.yml,options=rbind:ro")
fi
ctr "${ns[@]}" run -d "${args[@]}" "$image" "$name" >/dev/null
for _ in $(seq 1 60); do
    if answers; then
        info "registry $name runs $image on port $port ($domain:$port), data in $data"
        exit 0
    fi
    sleep 0.5
done
echo "init-registry.sh: the registry does not answer GET /v2/ on port $port 30 s after its start" >&2
ctr "${ns[@]}" tasks ls >&2 || true
exit 1
