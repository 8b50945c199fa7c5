# shellcheck shell=bash
# Shared by the base image's scripts (sourced, not run). The scripts run as root in
# ROOTFS/scripts, from cirun's init phase or by hand; everything here is idempotent.

# The cluster's rootfs (/var/lib/cirun/data/<cluster>/rootfs) and the record of the files
# these scripts put outside it, beside cirun's own install record (which the agent owns and
# cleans: nothing the scripts install is in it, nothing in it is touched by them).
CIRUN_ROOTFS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CIRUN_SCRIPTS_RECORD=${CIRUN_SCRIPTS_RECORD:-$(dirname "$CIRUN_ROOTFS")/scripts-installed}

# A step the host does not allow (a module on a kernel without it, a sysctl in a container)
# is a warning naming it, not a failure: kind's nodes and nspawn hosts are such hosts.
warn() { echo "warning: $*" >&2; }
info() { echo "$*"; }

# put_file SRC DEST [MODE]: installs SRC at DEST unless DEST already has the same bytes;
# returns 0 when it wrote, 1 when DEST was already right. A DEST these scripts did not
# install (not in the record) is kept as DEST.cirun-backup, which clean.sh puts back.
put_file() {
    local src=$1 dest=$2 mode=${3:-0644} tmp
    # already right: ours from an earlier run, or the host's own that happens to match (not
    # claimed, so clean.sh leaves it)
    if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
        return 1
    fi
    if [ -e "$dest" ] && ! record_has "$dest" && [ ! -e "$dest.cirun-backup" ]; then
        warn "$dest was not installed by cirun: kept as $dest.cirun-backup"
        mv -f "$dest" "$dest.cirun-backup"
    fi
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp "$dest.XXXXXX")
    cat "$src" > "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
    record_add "$dest"
    return 0
}

record_has() { [ -f "$CIRUN_SCRIPTS_RECORD" ] && grep -qxF -- "$1" "$CIRUN_SCRIPTS_RECORD"; }
record_add() {
    record_has "$1" && return 0
    mkdir -p "$(dirname "$CIRUN_SCRIPTS_RECORD")"
    printf '%s\n' "$1" >> "$CIRUN_SCRIPTS_RECORD"
}

# True when the host is a container (nspawn, lxc, docker, kind's nodes): some kernel
# settings belong to the machine around it there.
in_container() {
    local v
    if command -v systemd-detect-virt >/dev/null 2>&1; then
        v=$(systemd-detect-virt --container 2>/dev/null) || true
        [ -n "$v" ] && [ "$v" != none ] && return 0
        return 1
    fi
    [ -f /run/systemd/container ] || [ -f /.dockerenv ] || grep -qa 'container=' /proc/1/environ 2>/dev/null
}

# load_module NAME: loaded already, or modprobe'd; a warning naming it otherwise.
load_module() {
    local m=$1
    [ -d "/sys/module/$m" ] && return 0
    # built into the kernel: nothing to load (br_netfilter shows itself by its sysctls)
    grep -qs "/$m.ko" "/lib/modules/$(uname -r)/modules.builtin" && return 0
    [ "$m" = br_netfilter ] && [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && return 0
    if ! command -v modprobe >/dev/null 2>&1; then
        warn "kernel module $m is not loaded and there is no modprobe on this host"
        return 1
    fi
    if ! modprobe "$m" 2>/dev/null; then
        warn "kernel module $m could not be loaded (modprobe $m failed)"
        return 1
    fi
    info "loaded kernel module $m"
}

# set_sysctl KEY VALUE: left alone when it already has VALUE; a warning naming it when the
# key does not exist here or cannot be written.
set_sysctl() {
    local key=$1 want=$2 path cur
    path=/proc/sys/${key//.//}
    if [ ! -e "$path" ]; then
        warn "sysctl $key does not exist on this host (not set to $want)"
        return 1
    fi
    cur=$(cat "$path" 2>/dev/null) || cur=
    [ "$cur" = "$want" ] && return 0
    if ! { echo "$want" > "$path"; } 2>/dev/null; then
        warn "sysctl $key could not be set to $want (it is $cur)"
        return 1
    fi
    info "set sysctl $key = $want"
}
