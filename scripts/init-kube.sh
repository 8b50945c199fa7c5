#!/usr/bin/env bash
# Prepares the kernel and the host for the kubelet, as sealer's init-kube.sh did: kernel
# modules, sysctls (kept for the next boot in /etc/modules-load.d and /etc/sysctl.d), swap
# off, SELinux permissive, a host firewall that would block the cluster stopped, and the
# CNI plugins and the fallback bridge network in place. What the host does not allow is a
# warning naming it. Idempotent: a second run writes nothing.
# (The kubelet unit, its drop-in and bin/ are installed by cirun's agent before init.sh.)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# overlay: containerd's snapshotter; br_netfilter: bridged pod traffic seen by iptables;
# the ip_vs set and nf_conntrack: kube-proxy in ipvs mode (sealer loaded them too).
modules=(overlay br_netfilter ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh nf_conntrack)
sysctls=(
    net.bridge.bridge-nf-call-iptables=1
    net.bridge.bridge-nf-call-ip6tables=1
    net.ipv4.ip_forward=1
    # sealer's: IPIP-based CNIs (calico) answer on another interface than they receive on
    net.ipv4.conf.all.rp_filter=0
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- kernel modules
{
    echo "# written by the cluster image's scripts/init-kube.sh (cirun); clean.sh removes it"
    printf '%s\n' "${modules[@]}"
} > "$tmp/modules.conf"
if put_file "$tmp/modules.conf" /etc/modules-load.d/cirun-k8s.conf; then
    info "wrote /etc/modules-load.d/cirun-k8s.conf"
fi
for m in "${modules[@]}"; do
    load_module "$m" || true
done

# --- sysctls
{
    echo "# written by the cluster image's scripts/init-kube.sh (cirun); clean.sh removes it"
    for s in "${sysctls[@]}"; do
        [ "${s#\#}" = "$s" ] && echo "${s%%=*} = ${s#*=}"
    done
} > "$tmp/sysctl.conf"
if put_file "$tmp/sysctl.conf" /etc/sysctl.d/90-cirun-k8s.conf; then
    info "wrote /etc/sysctl.d/90-cirun-k8s.conf"
fi
for s in "${sysctls[@]}"; do
    set_sysctl "${s%%=*}" "${s#*=}" || true
done

# --- swap: the kubelet refuses to start with swap on (failSwapOn)
if [ -r /proc/swaps ] && [ "$(wc -l < /proc/swaps)" -gt 1 ]; then
    if swapoff -a 2>/dev/null; then
        info "swap turned off (swapoff -a); kubelet-pre-start.sh repeats it at every kubelet start"
    else
        warn "swap is on and could not be turned off (swapoff -a failed)"
    fi
fi

# --- SELinux (RHEL family): permissive, as kubeadm's install guide says
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce 2>/dev/null)" = Enforcing ]; then
    setenforce 0 2>/dev/null && info "SELinux set to permissive (setenforce 0)" ||
        warn "SELinux is enforcing and could not be set permissive"
fi
if [ -f /etc/selinux/config ] && grep -q '^SELINUX=enforcing' /etc/selinux/config; then
    sed -i 's/^SELINUX=enforcing/SELINUX=permissive/' /etc/selinux/config
    info "SELinux permissive from the next boot (/etc/selinux/config)"
fi

# --- host firewalls that drop the cluster's ports (sealer stopped them too)
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet firewalld 2>/dev/null; then
    warn "firewalld was running: stopped and disabled (the cluster's ports would be blocked)"
    systemctl disable --now firewalld >/dev/null 2>&1 || warn "firewalld could not be stopped"
fi
if command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q 'Status: active'; then
    warn "ufw was active: disabled (the cluster's ports would be blocked)"
    ufw disable >/dev/null 2>&1 || warn "ufw could not be disabled"
fi

# --- CNI: the image's cni/ plugins into /opt/cni/bin, and the fallback bridge network
n=0
if [ -d "$CIRUN_ROOTFS/cni" ]; then
    for f in "$CIRUN_ROOTFS"/cni/*; do
        [ -f "$f" ] && [ ! -L "$f" ] && [ -x "$f" ] || continue
        if put_file "$f" "/opt/cni/bin/$(basename "$f")" 0755; then n=$((n + 1)); fi
    done
fi
[ "$n" -gt 0 ] && info "installed $n CNI plugin(s) into /opt/cni/bin"
conf=$CIRUN_ROOTFS/etc/cni/net.d/10-cirun-bridge.conflist
if [ -f "$conf" ]; then
    if put_file "$conf" /etc/cni/net.d/10-cirun-bridge.conflist; then
        info "wrote /etc/cni/net.d/10-cirun-bridge.conflist"
    fi
fi
exit 0
