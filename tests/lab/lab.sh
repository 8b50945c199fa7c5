#!/usr/bin/env bash
# The cirun lab: N real test hosts on this machine. Each host is a systemd-nspawn container
# booted with systemd as PID 1 inside its own network namespace, attached to a private
# bridge. Only the addresses of these namespaces are ever used.
#
# usage: lab.sh up [N] | down | status | ips | ssh I [CMD…] | put I SRC DST | leftovers | others
#        | recipe-key
#
# Environment (so a developer's lab and a CI lab never collide):
#   CIRUN_LAB_PREFIX    name prefix for hosts, netns, links (1-8 of [a-z0-9]; default cirunlab)
#   CIRUN_LAB_SUBNET    first three octets of the private /24 (default 10.213.7)
#   CIRUN_LAB_STATE     state dir (default /var/lib/cirun-lab/$CIRUN_LAB_PREFIX)
#   CIRUN_LAB_CACHE     rootfs cache (default /var/cache/cirun-lab), kept across labs
#   CIRUN_LAB_PASSWORD  password of root and deploy (default cirun-lab)
#
# While any lab exists, an `unreachable` route for the whole 10.213.0.0/16 (the guard) sits in
# this machine's main routing table: the per-lab /24 of a bridge is more specific and wins,
# and a run aimed at the address of a lab that is down fails here instead of leaving the
# machine by the default route. `unreachable`, not `blackhole`: connect(2) then fails with
# EHOSTUNREACH ("No route to host"), where a blackhole route gives EINVAL ("Invalid
# argument"), which would send the user looking for a bug in their command line.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prefix=${CIRUN_LAB_PREFIX:-cirunlab}
subnet=${CIRUN_LAB_SUBNET:-10.213.7}
state=${CIRUN_LAB_STATE:-/var/lib/cirun-lab/$prefix}
cache=${CIRUN_LAB_CACHE:-/var/cache/cirun-lab}
password=${CIRUN_LAB_PASSWORD:-cirun-lab}
bridge=$prefix-br
guard_net=10.213.0.0/16
labs_root=/var/lib/cirun-lab
boot_timeout=${CIRUN_LAB_BOOT_TIMEOUT:-120}

die() { echo "lab: $*" >&2; exit 1; }
say() { echo "lab: $*" >&2; }

[[ $prefix =~ ^[a-z0-9]{1,8}$ ]] || die "CIRUN_LAB_PREFIX '$prefix' must be 1-8 of [a-z0-9] (it names network links, which are limited to 15 bytes)"
# Only 10.213.x: the guard route below covers exactly 10.213.0.0/16, so a lab elsewhere
# would have no guard while it is down.
[[ $subnet =~ ^10\.213\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] || die "CIRUN_LAB_SUBNET '$subnet' must be 10.213.X (X 0-255): the lab's guard route covers 10.213.0.0/16 only"
[ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces, nspawn); run it as root"

host_name() { echo "$prefix-$1"; }
host_ip() { echo "$subnet.$((10 + $1))"; }
host_dir() { echo "$state/hosts/$1"; }
veth_name() { echo "$prefix-v$1"; }

# A recorded process is "ours" only if the PID is alive with the start time we recorded:
# PIDs are reused, and we must never signal a process the lab did not start.
# A zombie counts as gone: its parent (often PID 1 here) may take a while to reap it.
proc_starttime() { awk '{ sub(/^.*\) /, ""); if ($1 != "Z" && $1 != "X") print $20 }' "/proc/$1/stat" 2>/dev/null; }
recorded_alive() {
    local file=$1 pid start
    [ -s "$file" ] || return 1
    read -r pid start < "$file" || return 1
    [ -n "$pid" ] && [ "$(proc_starttime "$pid")" = "$start" ]
}
recorded_pid() { local pid _s; read -r pid _s < "$1"; echo "$pid"; }
record_pid() { echo "$2 $(proc_starttime "$2")" > "$1"; }

recipe_key() { sha256sum "$here/rootfs-recipe.sh" | cut -c1-16; }

ensure_rootfs() {
    local key tar
    key=$(recipe_key)
    tar=$cache/rootfs-$key.tar
    if [ ! -f "$tar" ] || [ ! -s "$tar" ]; then
        command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run 'make deps'"
        mkdir -p "$cache"
        say "building host rootfs $tar (cached for later labs)"
        # mmdebstrap picks the output format from the name: keep the .tar suffix.
        local tmp=$cache/rootfs-$key.partial.tar
        rm -rf "$tmp" "$tar"
        if ! bash "$here/rootfs-recipe.sh" "$tmp" > "$cache/build-$key.log" 2>&1; then
            tail -n 30 "$cache/build-$key.log" >&2
            die "building the host rootfs failed; full log: $cache/build-$key.log"
        fi
        [ -f "$tmp" ] || die "the rootfs recipe did not produce a tarball at $tmp"
        mv "$tmp" "$tar"
    fi
    echo "$tar"
}

sshopts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
         -o ConnectTimeout=5 -o PreferredAuthentications=password,keyboard-interactive
         -o PubkeyAuthentication=no)
lab_ssh() {
    local ip=$1; shift
    SSHPASS=$password sshpass -e ssh "${sshopts[@]}" "root@$ip" "$@"
}

host_count() { cat "$state/count" 2>/dev/null || echo 0; }

# Stops one host and removes its kernel objects; safe on a half-made or stale host.
teardown_host() {
    local i=$1 dir name veth pid
    dir=$(host_dir "$i"); name=$(host_name "$i"); veth=$(veth_name "$i")
    if recorded_alive "$dir/nspawn.pid"; then
        pid=$(recorded_pid "$dir/nspawn.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do recorded_alive "$dir/nspawn.pid" || break; sleep 0.1; done
        recorded_alive "$dir/nspawn.pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    # If nspawn itself was killed, the container's init survives it; killing the init of a
    # PID namespace ends every process in it.
    if recorded_alive "$dir/leader.pid"; then
        pid=$(recorded_pid "$dir/leader.pid")
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do recorded_alive "$dir/leader.pid" || break; sleep 0.1; done
        recorded_alive "$dir/leader.pid" && die "host $name: init $pid did not exit"
    fi
    ip link del "$veth" 2>/dev/null || true
    ip netns del "$name" 2>/dev/null || true
    if [ -d "$dir" ]; then
        if findmnt -rn -o TARGET | grep -q "^$dir/"; then
            findmnt -rn -o TARGET | grep "^$dir/" | sort -r | xargs -r -n1 umount -l
        fi
        rm -rf --one-file-system "$dir"
    fi
}

host_running() {
    local i=$1 dir
    dir=$(host_dir "$i")
    recorded_alive "$dir/nspawn.pid" && [ -e "/run/netns/$(host_name "$i")" ]
}

# ssh and put send the lab's password: only ever to a host of this lab that is up (with
# no lab up there is no guard route, and the address would leave the machine).
must_be_running() {
    [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$(host_count)" ] && host_running "$1" ||
        die "host $1 of lab $prefix is not running: nothing is sent to $(host_ip "${1//[^0-9]/}")"
}

prepare_root() {
    local i=$1 tar=$2 dir root name ip
    dir=$(host_dir "$i"); root=$dir/root; name=$(host_name "$i"); ip=$(host_ip "$i")
    mkdir -p "$root"
    tar -xpf "$tar" -C "$root" --numeric-owner
    echo "$name" > "$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n' \
        "$ip" "$name" > "$root/etc/hosts"
    tr -d '-' < /proc/sys/kernel/random/uuid > "$root/etc/machine-id"
    ssh-keygen -q -t ed25519 -N '' -C "root@$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
    printf 'root:%s\ndeploy:%s\n' "$password" "$password" | chroot "$root" chpasswd
    # Odd hosts give deploy passwordless sudo, even hosts ask for the password, so both
    # ways of becoming root are tested.
    if (( i % 2 == 1 )); then
        echo 'deploy ALL=(ALL:ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/deploy"
        echo nopasswd > "$dir/deploy-sudo"
    else
        echo password > "$dir/deploy-sudo"
    fi
    chmod 0440 "$root/etc/sudoers.d/deploy" 2>/dev/null || true
}

# The guard is shared by every lab on the machine; one lock orders its checks and changes.
# A lab's state dir exists before its up adds the guard and until its down is over, so a
# down that sees no other state dir may remove it.
guard_lock() {
    mkdir -p /run/lock
    exec 8> /run/lock/cirun-lab-guard.lock
    flock -w 60 8 || die "another lab command holds /run/lock/cirun-lab-guard.lock"
}
guard_unlock() { exec 8>&-; }

guard_route() { ip route show exact "$guard_net" table main 2>/dev/null; }

guard_add() {
    local cur
    guard_lock
    cur=$(guard_route)
    case $cur in
        "") ip route add unreachable "$guard_net" table main ;;
        unreachable*) ;;
        *) guard_unlock; die "this machine already routes $guard_net ($cur): the lab will not replace that route" ;;
    esac
    guard_unlock
}

# Other labs on this machine: their state dirs (made before an up adds the guard, even if
# still empty), and bridges holding a 10.213.x.1 address (a lab whose state dir is
# elsewhere). Stale ones count too: keeping the guard is the safe side.
other_labs() {
    local d dev addr
    for d in "$labs_root"/*/; do
        d=${d%/}
        [ -d "$d" ] && [ "$d" != "$state" ] && echo "state $d"
    done
    ip -o -4 addr show 2>/dev/null | awk '{print $2, $4}' | while read -r dev addr; do
        [[ $dev == *-br && $dev != "$bridge" && $addr == 10.213.* ]] && echo "bridge $dev"
    done
    return 0
}

guard_del_unless_others() {
    guard_lock
    if [ -z "$(other_labs)" ] && [[ $(guard_route) == unreachable* ]]; then
        ip route del unreachable "$guard_net" table main
    fi
    guard_unlock
}

ensure_bridge() {
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        if ip -o -4 addr show | awk '{print $4}' | grep -qx "$subnet.1/24"; then
            die "subnet $subnet.0/24 is in use by another interface; set CIRUN_LAB_SUBNET"
        fi
        ip link add "$bridge" type bridge
        ip addr add "$subnet.1/24" dev "$bridge"
    fi
    ip link set "$bridge" up
}

start_host() {
    local i=$1 dir name ip veth pid leader
    dir=$(host_dir "$i"); name=$(host_name "$i"); ip=$(host_ip "$i"); veth=$(veth_name "$i")
    ip netns add "$name"
    ip link add "$veth" type veth peer name "$prefix-p$i"
    ip link set "$prefix-p$i" netns "$name"
    ip -n "$name" link set "$prefix-p$i" name eth0
    ip -n "$name" addr add "$ip/24" dev eth0
    ip -n "$name" link set lo up
    ip -n "$name" link set eth0 up
    ip -n "$name" route add default via "$subnet.1"
    ip link set "$veth" master "$bridge" up
    # Without job control the background child is no process-group leader, so setsid does
    # not fork and $! is nspawn's own PID.
    SYSTEMD_SECCOMP=0 SYSTEMD_NSPAWN_API_VFS_WRITABLE=1 \
        setsid systemd-nspawn -b -q -D "$dir/root" -M "$name" --register=no --keep-unit \
        --network-namespace-path="/run/netns/$name" --console=passive --capability=all \
        --link-journal=no --resolv-conf=off --timezone=off \
        > "$dir/console.log" 2>&1 < /dev/null 9>&- &
    pid=$!
    record_pid "$dir/nspawn.pid" "$pid"
    for _ in $(seq 1 100); do
        leader=$(find_leader "$name")
        [ -n "$leader" ] && break
        recorded_alive "$dir/nspawn.pid" || { tail -n 20 "$dir/console.log" >&2; die "host $name: systemd-nspawn exited"; }
        sleep 0.1
    done
    [ -n "$leader" ] || die "host $name: no init process appeared in its namespace"
    record_pid "$dir/leader.pid" "$leader"
}

# The container's init is the process in the host's netns that is PID 1 of its own PID ns.
find_leader() {
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do
        if awk '/^NSpid:/ { exit !($NF == 1) }' "/proc/$p/status" 2>/dev/null; then
            echo "$p"; return
        fi
    done
}

wait_host() {
    local i=$1 ip name deadline st=""
    ip=$(host_ip "$i"); name=$(host_name "$i")
    deadline=$((SECONDS + boot_timeout))
    while (( SECONDS < deadline )); do
        host_running "$i" || { tail -n 20 "$(host_dir "$i")/console.log" >&2; die "host $name stopped while booting"; }
        st=$(lab_ssh "$ip" 'systemctl is-system-running' 2>/dev/null || true)
        case $st in
            running|degraded) return 0 ;;
        esac
        sleep 1
    done
    tail -n 20 "$(host_dir "$i")/console.log" >&2
    die "host $name ($ip) not ready after ${boot_timeout}s (last state: '${st:-no ssh}')"
}

cmd_up() {
    local n=${1:-3} tar i old
    [[ $n =~ ^[0-9]+$ ]] && (( n >= 1 && n <= 40 )) || die "N must be 1..40, got '$n'"
    command -v systemd-nspawn >/dev/null || die "systemd-nspawn is missing: run 'make deps'"
    command -v sshpass >/dev/null || die "sshpass is missing: run 'make deps'"
    tar=$(ensure_rootfs)
    old=$(highest_index)
    # Hosts beyond N and hosts left stale by a killed lab go first.
    for ((i = n + 1; i <= (old > n ? old : n); i++)); do teardown_host "$i"; done
    guard_add
    ensure_bridge
    echo "$n" > "$state/count"
    local started=()
    for ((i = 1; i <= n; i++)); do
        if host_running "$i"; then continue; fi
        teardown_host "$i"
        prepare_root "$i" "$tar"
        start_host "$i"
        started+=("$i")
    done
    for i in "${started[@]}"; do wait_host "$i"; done
    for ((i = 1; i <= n; i++)); do wait_host "$i"; done
    say "$n host(s) up (${#started[@]} booted now)"
}

# The highest host index anything of this lab still exists for: the recorded count, host
# dirs, and netns/links of our names left behind by a lab whose state dir is gone.
highest_index() {
    local n i
    n=$(host_count)
    for i in $( (ls "$state/hosts" 2>/dev/null
                 ip netns list | awk '{print $1}' | sed -n "s/^$prefix-\([0-9]\+\)$/\1/p"
                 ip -o link show | awk -F': ' '{print $2}' | sed -n "s/^$prefix-[vp]\([0-9]\+\)\(@.*\)\?$/\1/p") | sort -u); do
        [[ $i =~ ^[0-9]+$ ]] && (( i > n )) && n=$i
    done
    echo "$n"
}

cmd_down() {
    local n i
    n=$(highest_index)
    for ((i = 1; i <= n; i++)); do teardown_host "$i"; done
    ip link del "$bridge" 2>/dev/null || true
    rm -rf --one-file-system "$state"
    guard_del_unless_others
    say "down"
}

cmd_status() {
    local n i ip name st users
    n=$(host_count)
    if (( n == 0 )); then echo "no lab (prefix $prefix)"; return 0; fi
    printf '%-14s %-15s %-10s %s\n' HOST IP STATE USERS
    for ((i = 1; i <= n; i++)); do
        ip=$(host_ip "$i"); name=$(host_name "$i")
        if host_running "$i"; then
            st=$(lab_ssh "$ip" 'systemctl is-system-running' 2>/dev/null || true)
            st=${st:-no-ssh}
        else
            st=stopped
        fi
        users="root(password) deploy(sudo:$(cat "$(host_dir "$i")/deploy-sudo" 2>/dev/null || echo '?'))"
        printf '%-14s %-15s %-10s %s\n' "$name" "$ip" "$st" "$users"
    done
    echo "password: \$CIRUN_LAB_PASSWORD (default cirun-lab); state: $state"
}

cmd_ips() {
    local n i
    n=$(host_count)
    for ((i = 1; i <= n; i++)); do host_ip "$i"; done
}

# Lists what this lab left in the kernel and process table; empty when fully down.
cmd_leftovers() {
    ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$prefix-(br|v[0-9]+|p[0-9]+)$" | sed 's/^/link /' || true
    ip netns list | awk '{print $1}' | grep -E "^$prefix-[0-9]+$" | sed 's/^/netns /' || true
    local p
    for p in $(pgrep -x systemd-nspawn || true); do
        tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qE -- "-M $prefix-[0-9]+ " && echo "process $p"
    done
    [ -e "$state" ] && echo "dir $state"
    # the guard is this lab's leftover only when no other lab still needs it
    [ -n "$(guard_route)" ] && [ -z "$(other_labs)" ] && echo "route $guard_net (the lab guard)"
    return 0
}

with_lock() {
    mkdir -p /run/lock
    exec 9> "/run/lock/cirun-lab-$prefix.lock"
    flock -n 9 || { say "waiting for another lab command on prefix '$prefix'"; flock -w 600 9; } || die "another lab command for prefix '$prefix' holds the lock"
    mkdir -p "$state"
}

cmd=${1:-status}; shift || true
case $cmd in
    up) with_lock; cmd_up "$@" ;;
    down) with_lock; cmd_down ;;
    status) cmd_status ;;
    ips) cmd_ips ;;
    leftovers) cmd_leftovers ;;
    others) other_labs ;;
    ssh) i=${1:?host index}; shift; must_be_running "$i"; lab_ssh "$(host_ip "$i")" "$@" ;;
    put)
        i=${1:?host index}; src=${2:?src}; dst=${3:?dst}; must_be_running "$i"
        SSHPASS=$password sshpass -e scp -q "${sshopts[@]}" "$src" "root@$(host_ip "$i"):$dst" ;;
    recipe-key) recipe_key ;;
    *) die "unknown command '$cmd' (up [N] | down | status | ips | ssh I CMD | put I SRC DST | leftovers | others)" ;;
esac
