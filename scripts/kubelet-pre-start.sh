#!/usr/bin/env bash
# The kubelet's ExecStartPre (as sealer's): before every kubelet start, the settings the
# kubelet needs and a reboot or an administrator may have undone — kernel modules,
# sysctls, swap off, SELinux permissive. Self-contained (it runs from /usr/local/bin,
# linked there from the image's bin/); a setting the host refuses is a warning in the
# kubelet's journal, never a reason not to start the kubelet.
set -u

warn() { echo "kubelet-pre-start: warning: $*" >&2; }

for m in overlay br_netfilter; do
    [ -d "/sys/module/$m" ] && continue
    grep -qs "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" && continue
    [ "$m" = br_netfilter ] && [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && continue
    modprobe "$m" 2>/dev/null || warn "kernel module $m is not loaded and could not be"
done
for s in net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 \
    net.ipv4.ip_forward=1; do
    key=${s%%=*} want=${s#*=}
    path=/proc/sys/${key//.//}
    [ "$(cat "$path" 2>/dev/null)" = "$want" ] && continue
    { echo "$want" > "$path"; } 2>/dev/null || warn "sysctl $key could not be set to $want"
done
if [ -r /proc/swaps ] && [ "$(wc -l < /proc/swaps)" -gt 1 ]; then
    swapoff -a 2>/dev/null || warn "swap is on and could not be turned off"
fi
if command -v getenforce >/dev/null 2>&1 && [ "$(getenforce 2>/dev/null)" = Enforcing ]; then
    setenforce 0 2>/dev/null || warn "SELinux is enforcing and could not be set permissive"
fi
exit 0
