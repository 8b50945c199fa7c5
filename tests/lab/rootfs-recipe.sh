#!/usr/bin/env bash
# Builds the lab host root filesystem as a tarball: a minimal Debian 12 with systemd as PID 1,
# D-Bus, OpenSSH and sudo, and deliberately without libarchive or libyaml so that the static
# cirun-agent is tested for real.
#
# The lab caches the output keyed by the sha256 of this file: any change here (package list,
# hooks) yields a new cache entry, so edit this file rather than patching hosts elsewhere.
#
# usage: rootfs-recipe.sh OUTPUT.tar
set -euo pipefail

out=${1:?usage: rootfs-recipe.sh OUTPUT.tar}

packages=systemd,systemd-sysv,dbus,openssh-server,iproute2,procps,sudo,libcap2-bin

# Hooks run on the control machine with the new root as $1.
hook_common='
set -e
root="$1"
# Every host gets its own host keys and machine-id at lab-up; identical ones would hide
# trust-on-first-use and uniqueness bugs.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root"/etc/machine-id
rm -f "$root"/var/lib/dbus/machine-id
mkdir -p "$root"/etc/ssh/sshd_config.d
printf "%s\n" "PermitRootLogin yes" "PasswordAuthentication yes" "KbdInteractiveAuthentication yes" \
    "UseDNS no" > "$root"/etc/ssh/sshd_config.d/cirun-lab.conf
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo deploy
# No console getty in a container; keep the boot free of units that cannot work here.
for u in getty@tty1.service console-getty.service systemd-networkd-wait-online.service; do
    ln -sf /dev/null "$root"/etc/systemd/system/$u
done
cat > "$root"/usr/local/sbin/cirun-lab-cgroups <<"EOF"
#!/bin/sh
# A container runtime inside the host needs writable cgroup controllers. nspawn mounts the
# v1 hierarchies read-only; re-mount each controller read-write (see shared/testbed.md).
set -e
if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    mount -o remount,rw /sys/fs/cgroup
    exit 0
fi
mount -o remount,rw /sys/fs/cgroup
for c in blkio cpu cpuacct cpuset devices freezer memory pids; do
    umount -l /sys/fs/cgroup/$c 2>/dev/null || true
    mkdir -p /sys/fs/cgroup/$c
    mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c
done
EOF
chmod 0755 "$root"/usr/local/sbin/cirun-lab-cgroups
cat > "$root"/etc/systemd/system/cirun-lab-cgroups.service <<"EOF"
[Unit]
Description=Writable cgroup controllers for a container runtime (cirun lab)
DefaultDependencies=no
After=local-fs.target
Before=sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/cirun-lab-cgroups

[Install]
WantedBy=sysinit.target
EOF
mkdir -p "$root"/etc/systemd/system/sysinit.target.wants
ln -sf ../cirun-lab-cgroups.service "$root"/etc/systemd/system/sysinit.target.wants/cirun-lab-cgroups.service
for lib in libarchive13 libyaml-0-2; do
    if chroot "$root" dpkg-query -W -f="\${Status}" $lib 2>/dev/null | grep -q "ok installed"; then
        echo "rootfs-recipe: $lib must not be on a lab host (the agent is linked statically)" >&2
        exit 1
    fi
done
'

mmdebstrap --variant=apt --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="$hook_common" \
    bookworm "$out"
