#!/usr/bin/env bash
# Configures containerd from the image's etc/containerd/config.toml (rendered by cirun's
# agent from config.toml.tmpl with the host's env) and makes sure it runs with it.
#
# Two values of the template may be left "auto" and are decided here, per host:
#   SystemdCgroup           true when systemd is PID 1 and owns the cgroup tree: cgroup v2,
#                           or cgroup v1 on a machine that is not a container. A container
#                           on cgroup v1 (an nspawn host, a kind node on an old host) does not
#                           own its v1 controllers: cgroupfs (false) there. The kubelet must
#                           use the same driver: the run is to read it back from the
#                           installed file (`SystemdCgroup = true`), as sealer did.
#   restrict_oom_score_adj  true in a container, which cannot lower oom_score_adj (runc
#                           fails every container otherwise), false on a machine.
#
# The agent installed containerd.service from etc/, enabled and started it before init.sh
# (without this config on a first run). Here: the config is checked by containerd itself,
# installed as /etc/containerd/config.toml when it differs, and containerd is enabled only
# if it is not, and restarted only when its config changed or it is not running.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

src=$CIRUN_ROOTFS/etc/containerd/config.toml
dest=/etc/containerd/config.toml

command -v containerd >/dev/null 2>&1 ||
    { echo "containerd.sh: no containerd on PATH: the image's cri/ should have brought it" >&2; exit 1; }
[ -f "$src" ] ||
    { echo "containerd.sh: $src is missing: the image needs etc/containerd/config.toml.tmpl" >&2; exit 1; }

systemd_cgroup=false
if [ -d /run/systemd/system ]; then
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        systemd_cgroup=true
    elif ! in_container; then
        systemd_cgroup=true
    fi
fi
restrict_oom=false
in_container && restrict_oom=true

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed -e "s/^\([[:space:]]*SystemdCgroup[[:space:]]*=[[:space:]]*\)auto[[:space:]]*\$/\1$systemd_cgroup/" \
    -e "s/^\([[:space:]]*restrict_oom_score_adj[[:space:]]*=[[:space:]]*\)auto[[:space:]]*\$/\1$restrict_oom/" \
    "$src" > "$tmp/config.toml"
if grep -Eq '^[[:space:]]*(SystemdCgroup|restrict_oom_score_adj)[[:space:]]*=[[:space:]]*auto' "$tmp/config.toml"; then
    echo "containerd.sh: an 'auto' value left in $src (only SystemdCgroup and restrict_oom_score_adj may be auto)" >&2
    exit 1
fi
if ! err=$(containerd --config "$tmp/config.toml" config dump 2>&1 >/dev/null); then
    echo "containerd.sh: containerd refuses the rendered $src: $err" >&2
    exit 1
fi
info "containerd: cgroup driver $( [ "$systemd_cgroup" = true ] && echo systemd || echo cgroupfs ), restrict_oom_score_adj $restrict_oom"

changed=0
if put_file "$tmp/config.toml" "$dest"; then
    changed=1
    info "wrote $dest"
fi
# where the registry work puts a hosts.toml per mirrored registry (config_path)
mkdir -p /etc/containerd/certs.d

if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then
    echo "containerd.sh: systemd is not running here: containerd cannot be managed" >&2
    exit 1
fi
if ! systemctl cat containerd.service >/dev/null 2>&1; then
    echo "containerd.sh: there is no containerd.service: the image needs etc/containerd.service" >&2
    exit 1
fi
if [ "$(systemctl is-enabled containerd.service 2>/dev/null)" != enabled ]; then
    systemctl enable containerd.service
fi
if [ "$changed" = 1 ] || ! systemctl is-active --quiet containerd.service; then
    info "restarting containerd"
    systemctl restart containerd.service
else
    info "containerd: running, config unchanged"
fi

# answer before the next step (kubeadm, the registry) talks to the socket
for _ in $(seq 1 60); do
    ctr version >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "containerd.sh: containerd does not answer on its socket 30 s after its start; see journalctl -u containerd" >&2
exit 1
