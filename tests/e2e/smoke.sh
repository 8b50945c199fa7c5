#!/usr/bin/env bash
# Smoke test on real hosts: 3 lab hosts boot with systemd, accept a password login, and run
# the statically linked cirun-agent, whose facts match the host.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirune2e} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.9}
T_NAME=e2e-smoke
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
agent=$top/build/cirun-agent
trap 'bash "$lab" down >/dev/null 2>&1' EXIT

[ -x "$agent" ] || { echo "build the agent first (make)"; exit 1; }
check "lab-up N=3" bash "$lab" up 3 || bail "the lab did not come up"

for i in 1 2 3; do
    name=$CIRUN_LAB_PREFIX-$i
    check_out "$name: password login and systemd state" '^(running|degraded)$' \
        bash "$lab" ssh "$i" systemctl is-system-running
    check "$name: copy cirun-agent" bash "$lab" put "$i" "$agent" /usr/local/bin/cirun-agent
    check "$name: no libarchive or libyaml installed on the host" \
        bash "$lab" ssh "$i" '! ls /usr/lib/x86_64-linux-gnu/ | grep -Eq "^lib(archive|yaml)"'
    check "$name: ldd cirun-agent has no missing library" \
        bash "$lab" ssh "$i" 'ldd /usr/local/bin/cirun-agent && ! ldd /usr/local/bin/cirun-agent | grep -q "not found"'
    check_out "$name: agent version names its static libraries" 'libarchive 3.*libyaml 0\.2' \
        bash "$lab" ssh "$i" cirun-agent version
    facts=$(bash "$lab" ssh "$i" cirun-agent facts 2>&1)
    check_out "$name: facts hostname matches" "^hostname: $name\$" printf '%s\n' "$facts"
    check_out "$name: facts say systemd is PID 1" '^  pid1: true$' printf '%s\n' "$facts"
    check_out "$name: facts reach systemd over sd-bus" '^  bus: true$' printf '%s\n' "$facts"
    check_out "$name: facts carry systemd's version" "^  version: [\"']?252" printf '%s\n' "$facts"
    check_out "$name: facts list capabilities" '^- cap_sys_admin$' printf '%s\n' "$facts"
    check_out "$name: facts have os-release" '^  id: debian$' printf '%s\n' "$facts"
    check_out "$name: machine-id is the host's own" \
        "^machine_id: [\"']?$(bash "$lab" ssh "$i" cat /etc/machine-id)[\"']?\$" printf '%s\n' "$facts"
done

m1=$(bash "$lab" ssh 1 cat /etc/machine-id); m2=$(bash "$lab" ssh 2 cat /etc/machine-id)
check "machine-ids differ between hosts" test "$m1" != "$m2"

pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
ip1=$(bash "$lab" ips | sed -n 1p); ip2=$(bash "$lab" ips | sed -n 2p)
sshd=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o PubkeyAuthentication=no)
check_out "deploy on an odd host: sudo without password" '^0$' \
    env SSHPASS="$pw" sshpass -e ssh "${sshd[@]}" "deploy@$ip1" 'sudo -n id -u'
check "deploy on an even host: sudo -n is refused" \
    bash -c "! SSHPASS='$pw' sshpass -e ssh ${sshd[*]} deploy@$ip2 'sudo -n true' 2>/dev/null"
check_out "deploy on an even host: sudo with the password" '^0$' \
    env SSHPASS="$pw" sshpass -e ssh "${sshd[@]}" "deploy@$ip2" "echo '$pw' | sudo -S -p '' id -u"
check_out "host keys are ed25519 and differ per host" '^2$' \
    bash -c "for i in 1 2; do bash '$lab' ssh \$i 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub'; done | awk '{print \$2}' | sort -u | wc -l"
check "a container runtime's cgroups are writable" \
    bash "$lab" ssh 1 'mkdir /sys/fs/cgroup/pids/cirun-test && rmdir /sys/fs/cgroup/pids/cirun-test'

check "lab-down" bash "$lab" down
check_out "nothing left behind" '^$' bash "$lab" leftovers
summary
