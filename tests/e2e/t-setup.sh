#!/usr/bin/env bash
# The agent's setup step on 2 real lab hosts: a file cirun did not install is refused
# (naming it) unless --force, which keeps it beside; a re-run restarts containerd only when
# its unit changed; cri/ archives land flat with their hard links and are recorded; an
# image whose symlinks point out of the rootfs (statics -> /etc, etc/x.service ->
# /etc/shadow) fails naming the path and leaves /etc as it was.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-setup cirunset 10.213.11

lab_begin 2
# each run here is a cluster of its own (one host, or two): the saved one is forgotten
# first, as a run of fewer hosts than a saved cluster's is refused (it never removes hosts)
run() { forget_cluster my-cluster; "$cirun" run "$@" -p "$pw" -e HostRole=worker -e Version=1 2>&1; }

debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
check "build the test image" "$cirun" build -t setuptest:v1 --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image" || bail "no image"

# ---- a file in the way that cirun did not install (point 5) ----
hostssh 2 'mkdir -p /usr/local/bin && printf "#!/bin/sh\necho theirs\n" > /usr/local/bin/kubeadm && chmod 755 /usr/local/bin/kubeadm'
out=$(run setuptest:v1 -m "$ip1" -n "$ip2")
check_out "a host with a kubeadm of its own fails, naming it" "^\\[$ip2\\] setup failed: '/usr/local/bin/kubeadm' exists and cirun did not install it .*--force" printf '%s\n' "$out"
check_out "the other host goes on" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "their kubeadm is untouched" '^echo theirs$' hostssh 2 cat /usr/local/bin/kubeadm
out=$(run setuptest:v1 -m "$ip1" -n "$ip2" --force)
check_out "--force: the host succeeds" "^$ip2 +node +8 +ok" printf '%s\n' "$out"
check_out "--force: their kubeadm is kept beside" '^echo theirs$' hostssh 2 cat /usr/local/bin/kubeadm.cirun-backup
check_out "--force: the backup is in the install record" '^/usr/local/bin/kubeadm.cirun-backup$' hostssh 2 cat /var/lib/cirun/data/my-cluster/installed
check_out "--force: kubeadm is now the image's" 'data/my-cluster/rootfs/bin/kubeadm$' hostssh 2 readlink /usr/local/bin/kubeadm

# ---- restarts only for what changed (point 10) ----
pid() { hostssh 1 'systemctl show -p MainPID --value containerd; systemctl show -p ActiveEnterTimestamp --value containerd'; }
before=$(pid)
check "containerd runs on host 1" test "$(printf '%s\n' "$before" | head -1)" -gt 0
# (its journal removed: what setup itself does on a re-run is checked here, not its skip)
hostssh 1 rm /var/lib/cirun/data/my-cluster/journal
out=$(run setuptest:v1 -m "$ip1")
check_out "an unchanged re-run succeeds" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "and says nothing was restarted" "^\\[$ip1\\] .*units: containerd.service kubelet.service$" printf '%s\n' "$out"
check "an unchanged re-run leaves containerd alone (same MainPID and start time)" test "$before" = "$(pid)"

# the changed image: containerd's unit file differs, and a second CRI archive packed like
# the upstream tarballs (bin/…) with a hard link
ctx=$work/v2
mkdir -p "$ctx/etc" "$ctx/cri" "$work/x/bin"
sed 's/^LimitNOFILE=infinity$/LimitNOFILE=infinity\nEnvironment=CIRUN_SETUP_TEST=2/' "$top/tests/fixtures/run-image/etc/containerd.service" > "$ctx/etc/containerd.service"
printf '#!/bin/sh\necho hello from cri\n' > "$work/x/bin/cirun-hello"
chmod 755 "$work/x/bin/cirun-hello"
ln "$work/x/bin/cirun-hello" "$work/x/bin/cirun-hello-again"
tar -czf "$ctx/cri/extra.tar.gz" -C "$work/x" bin
check "the archive holds a hard link" bash -c "tar -tvzf '$ctx/cri/extra.tar.gz' | grep -q 'cirun-hello-again link to bin/cirun-hello'"
printf 'FROM setuptest:v1\nCOPY etc/containerd.service etc/\nCOPY cri/extra.tar.gz cri/\n' > "$work/Kubefile.v2"
check "build a changed image" "$cirun" build -t setuptest:v2 -f "$work/Kubefile.v2" "$ctx"
out=$(run setuptest:v2 -m "$ip1")
check_out "a changed unit file: the run succeeds" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "and says containerd was restarted" "^\\[$ip1\\] .*units: containerd.service \\(restarted\\) kubelet.service$" printf '%s\n' "$out"
after=$(pid)
check "containerd was restarted (MainPID and start time changed)" bash -c "[ '$(printf '%s\n' "$before" | head -1)' != '$(printf '%s\n' "$after" | head -1)' ] && [ '$(printf '%s\n' "$before" | tail -1)' != '$(printf '%s\n' "$after" | tail -1)' ]"
check_out "containerd runs with the new unit" 'CIRUN_SETUP_TEST=2' hostssh 1 systemctl show -p Environment containerd
check "a second run of the same image restarts nothing" test "$after" = "$(run setuptest:v2 -m "$ip1" >/dev/null; pid)"

# ---- cri/ flat, hard links included, recorded (point 9) ----
check_out "bin/cirun-hello in an archive lands in /usr/bin" '^hello from cri$' hostssh 1 /usr/bin/cirun-hello
check "its hard link is a link to the same file" hostssh 1 'test /usr/bin/cirun-hello -ef /usr/bin/cirun-hello-again'
check "no bin/ directory was made under /usr/bin" hostssh 1 '! test -e /usr/bin/bin'
check_out "both are in the install record" '^/usr/bin/cirun-hello-again$' hostssh 1 cat /var/lib/cirun/data/my-cluster/installed
check_out "both are in the install record" '^/usr/bin/cirun-hello$' hostssh 1 cat /var/lib/cirun/data/my-cluster/installed

# ---- symlinks out of the rootfs (point 2) ----
etc_state() { hostssh 1 'sha256sum /etc/shadow; find /etc -printf "%p %s %T@ %m\n" | sort | sha256sum'; }
mkdir -p "$work/evil1/etc" "$work/evil2/etc"
printf 'x: {{ .HostRole }}\n' > "$work/evil1/etc/ok.yaml.tmpl"
ln -s /etc "$work/evil1/statics"
ln -s /etc/shadow "$work/evil2/etc/x.service"
printf 'FROM scratch\nCOPY etc statics .\n' > "$work/Kubefile.evil1"
printf 'FROM scratch\nCOPY etc .\n' > "$work/Kubefile.evil2"
check "build an image with statics -> /etc" "$cirun" build -t setupevil:1 -f "$work/Kubefile.evil1" "$work/evil1"
check "build an image with etc/x.service -> /etc/shadow" "$cirun" build -t setupevil:2 -f "$work/Kubefile.evil2" "$work/evil2"
"$cirun" export setupevil:1 "$work/export1" > /dev/null
"$cirun" export setupevil:2 "$work/export2" > /dev/null
check_out "the build kept the symlink statics -> /etc" '^/etc$' readlink "$work/export1/statics"
check_out "the build kept the symlink etc/x.service -> /etc/shadow" '^/etc/shadow$' readlink "$work/export2/etc/x.service"

before=$(etc_state)
out=$(run setupevil:1 -m "$ip1" --cluster-name evil1)
check_out "statics -> /etc: the host fails, naming the path" "^\\[$ip1\\] setup failed: 'statics' is a symlink \\(to '/etc'\\)" printf '%s\n' "$out"
check "statics -> /etc: /etc and /etc/shadow are untouched" test "$before" = "$(etc_state)"
out=$(run setupevil:2 -m "$ip1" --cluster-name evil2)
check_out "etc/x.service -> /etc/shadow: the host fails, naming the path" "^\\[$ip1\\] setup failed: 'etc/x.service' is a symlink to '/etc/shadow', outside the rootfs" printf '%s\n' "$out"
check "etc/x.service -> /etc/shadow: /etc and /etc/shadow are untouched" test "$before" = "$(etc_state)"
check "no x.service was installed" hostssh 1 '! test -e /etc/systemd/system/x.service'

check "lab-down" bash "$lab" down
summary
