#!/usr/bin/env bash
# cirun delete --all on 2 real lab hosts (issue 10 point 4): after an install, delete takes
# everything the run put on the hosts off them (units stopped, disabled and gone, the bin/
# links, the CRI binaries, the /etc/hosts block, the containerd mirror files, the rootfs
# and data/<cluster>), runs PreClean, kubeadm reset -f, scripts/clean.sh and PostClean, and
# removes the saved definition; it works after an install whose init.sh failed; with a host
# down it fails naming that host and changes nothing, and with --force it cleans the other
# host, names the skipped one and keeps the saved definition down to the hosts left; a
# second --force with only that host left removes it, naming the host never cleaned. A
# host without data/<cluster> is left alone (never a kubeadm reset of a cluster of its
# own), one where another cluster's record lists kubelet is not reset, and units another
# cluster's record lists keep running. `cirun clusters` lists what run saved.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-delete cirdel 10.213.34

lab_begin 2

debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
check "build the test image" "$cirun" build -t deltest:base --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image" || bail "no image"
# over it: a clean.sh and PreClean/PostClean plugins, each leaving a mark outside the
# places cirun cleans; and a second image whose init.sh fails
ctx=$work/ctx
mkdir -p "$ctx/scripts" "$ctx/plugins" "$work/bad/scripts"
printf '#!/bin/bash\nif [ -e /root/fail-clean ]; then echo "clean.sh fails on purpose"; exit 4; fi\necho "clean.sh in $(pwd)" > /root/clean-ran\n' > "$ctx/scripts/clean.sh"
cat > "$ctx/plugins/clean.yaml" <<'EOF'
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: pre}
spec: {type: SHELL, action: PreClean, data: 'echo "pre $(test -d /var/lib/cirun/data/dc/rootfs && echo with-rootfs)" > /root/preclean-ran'}
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: post}
spec: {type: SHELL, action: PostClean, data: 'echo "post $(test -d /var/lib/cirun/data/dc && echo data-left || echo data-gone)" > /root/postclean-ran'}
EOF
printf 'FROM deltest:base\nCOPY scripts plugins .\n' > "$ctx/Kubefile"
check "build the image with clean.sh and plugins" "$cirun" build -t deltest:v1 "$ctx" || bail "no image"
printf '#!/bin/bash\necho "init.sh fails here"\nexit 3\n' > "$work/bad/scripts/init.sh"
printf 'FROM deltest:v1\nCOPY scripts scripts\n' > "$work/bad/Kubefile"
check "build an image whose init.sh fails" "$cirun" build -t deltest:bad "$work/bad" || bail "no image"

run() { "$cirun" run "$@" -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1 --cluster-name dc 2>&1; }
rec=/var/lib/cirun/data/dc/installed

# on a host: whether a path is there, a dangling symlink too ([ -e ] follows links: one
# left pointing into the removed rootfs would pass)
EX='ex() { [ -e "$1" ] || [ -L "$1" ]; };'
# clean_checks N: host N holds nothing of cluster dc
clean_checks() {
	local n=$1
	check_out "host $n: the record held the run's files before" '/usr/local/bin/kubeadm' hostssh "$n" cat /root/installed.before
	check "host $n: no file of the install record is left" hostssh "$n" "$EX ! while read -r p; do ex \"\$p\" && [ ! -d \"\$p\" ] && echo \"left: \$p\"; done < /root/installed.before | grep ."
	check "host $n: containerd and kubelet units gone" hostssh "$n" "$EX"' ! ex /etc/systemd/system/containerd.service && ! ex /etc/systemd/system/kubelet.service && ! ex /etc/systemd/system/kubelet.service.d'
	check "host $n: their enable links gone" hostssh "$n" '! ls /etc/systemd/system/*.wants/containerd.service /etc/systemd/system/*.wants/kubelet.service 2>/dev/null | grep .'
	check_out "host $n: containerd stopped, unknown to systemd" '^(inactive|unknown)$' hostssh "$n" 'systemctl is-active containerd; true'
	check "host $n: nothing on PATH (kubeadm, kubelet, ctr, containerd, runc)" hostssh "$n" "$EX"' ! ex /usr/local/bin/kubeadm && ! ex /usr/local/bin/kubelet && ! ex /usr/bin/ctr && ! ex /usr/bin/containerd && ! ex /usr/bin/runc'
	check "host $n: no /etc/hosts block" hostssh "$n" '! grep -q "cirun dc" /etc/hosts'
	check_out "host $n: the host's own /etc/hosts line kept" '^192\.0\.2\.7 keep-me$' hostssh "$n" cat /etc/hosts
	check "host $n: no containerd mirror files" hostssh "$n" "$EX"' ! ex "/etc/containerd/certs.d/sea.hub:5000" && ! ex /etc/containerd/certs.d/docker.io'
	check "host $n: no rootfs, no data/dc" hostssh "$n" "$EX"' ! ex /var/lib/cirun/data/dc'
}

for n in 1 2; do hostssh $n 'printf "192.0.2.7 keep-me\n" >> /etc/hosts'; done

# ---- install, list, delete ----
out=$(run deltest:v1)
check_out "the install is ok on both hosts" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out" || bail "no install"
check_out "the saved definition is 0600" '^600$' stat -c %a "$CIRUN_HOME/clusters/dc/Clusterfile"
check_out "in a 0700 directory" '^700$' stat -c %a "$CIRUN_HOME/clusters/dc"
check "the password is not in the run's log" bash -c "! grep -rqF -- '$pw' '$CIRUN_HOME/logs'"
check_out "cirun clusters lists it" "^dc +deltest:v1 +$ip1 +$ip2$" "$cirun" clusters
check_out "cirun clusters --output json" "^\\[\\{\"name\":\"dc\",\"image\":\"deltest:v1\",\"masters\":\\[\"$ip1\"\\],\"nodes\":\\[\"$ip2\"\\]\\}\\]$" "$cirun" clusters --output json
check_out "cirun apply -f takes the saved definition (dry run)" "DRY RUN" "$cirun" apply -f "$CIRUN_HOME/clusters/dc/Clusterfile" --dry-run
# the saved definition is replaced only once every host was reached, locked and checked:
# a run with a mistyped password, or one that leaves a host out, changes nothing of it
sum0=$(sha256sum "$CIRUN_HOME/clusters/dc/Clusterfile")
out=$("$cirun" run deltest:v1 -m "$ip1" -n "$ip2" -p "not-$pw" -e HostRole=worker -e Version=1 --cluster-name dc --connect-timeout 10s 2>&1)
check "a run with a wrong password fails" test $? -ne 0
check_out "at connect" "connect" printf '%s\n' "$out"
check_out "the saved definition is as it was (the working password kept)" "^$sum0\$" sha256sum "$CIRUN_HOME/clusters/dc/Clusterfile"
out=$("$cirun" run deltest:v1 -m "$ip1" -p "$pw" --cluster-name dc 2>&1); rc=$?
check_out "a run leaving out a host of the saved cluster is refused (exit 2)" '^2$' echo $rc
check_out "naming the host and what to do" "leaves out \($ip2\).*cirun delete -m/-n" printf '%s\n' "$out"
check_out "the saved definition is as it was" "^$sum0\$" sha256sum "$CIRUN_HOME/clusters/dc/Clusterfile"
# status: the journal is the journal helper's; here a line of the contract's form, and
# one with a terminal escape that must not reach the terminal
hostssh 1 'printf "distribute 1764400000 img=sha256:abc123\nsetup 1764400001 x=\033[2J\n" >> /var/lib/cirun/data/dc/journal'
out=$("$cirun" status 2>&1); rc=$?
check "cirun status (the only saved cluster) exits 0" test "$rc" -eq 0
check_out "status: master0 reachable, containerd active, kubelet inactive, the journal's image id and last line" "^$ip1 +master0 +yes +active +inactive +sha256:abc123 +setup 1764400001 x=\?\[2J$" printf '%s\n' "$out"
check_out "status: the node reachable too" "^$ip2 +node +yes +active +inactive " printf '%s\n' "$out"
check "status: no escape reaches the terminal" bash -c "! printf '%s' \"\$1\" | grep -q \$'\\033'" _ "$out"
check_out "status --output json: the last line" "^\\{\"cluster\":\"dc\",\"image\":\"deltest:v1\",\"image_id\":\"[0-9a-f]+\",\"hosts\":\\[\\{\"host\":\"$ip1\",\"role\":\"master0\",\"reachable\":true,\"error\":null,\"cri\":\"active\",\"kubelet\":\"inactive\",\"image_id\":\"sha256:abc123\"" bash -c "'$cirun' status dc --output json 2>/dev/null | tail -1"
# a journal line over 64 KiB (status reads at most 1 KiB of it): the host is reachable
hostssh 2 'head -c 70000 /dev/zero | tr "\\0" x >> /var/lib/cirun/data/dc/journal; echo >> /var/lib/cirun/data/dc/journal'
out=$("$cirun" status 2>&1); rc=$?
check "status with a journal line over 64 KiB exits 0" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -5
check_out "status: that host reachable, its journal line cut" "^$ip2 +node +yes +active +inactive +[^ ]+ +x{200}$" printf '%s\n' "$out"
for n in 1 2; do
	hostssh $n "cp $rec /root/installed.before"
	check_out "host $n: containerd runs before the delete" '^active$' hostssh $n systemctl is-active containerd
done
# what kubeadm init leaves on master0 (the stand-in image never runs it): the run's copy
# of admin.conf in /root/.kube goes, a kubeconfig of the node's own stays
hostssh 1 'mkdir -p /etc/kubernetes /root/.kube && echo conf > /etc/kubernetes/admin.conf && install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config'
hostssh 2 'mkdir -p /etc/kubernetes /root/.kube && echo conf > /etc/kubernetes/admin.conf && echo mine > /root/.kube/config'
out=$("$cirun" delete --all 2>&1)
check "delete --all (the only saved cluster) succeeds" test $? -eq 0 || printf '%s\n' "$out" | tail -20
check_out "it cleaned the node before master0" "\\[$ip2\\] cleaned: .*" printf '%s\n' "$out"
check "nodes first, master0 last" bash -c "printf '%s\n' \"\$1\" | grep -n 'cleaned:' | head -1 | grep -q '$ip2'" _ "$out"
check_out "it says the definition is gone" "cluster dc deleted from 2 hosts; its saved definition removed" printf '%s\n' "$out"
for n in 1 2; do
	clean_checks $n
	check_out "host $n: PreClean ran with the rootfs there" '^pre with-rootfs$' hostssh $n cat /root/preclean-ran
	check_out "host $n: clean.sh ran in the rootfs's scripts/" 'clean.sh in /var/lib/cirun/data/dc/rootfs/scripts$' hostssh $n cat /root/clean-ran
	check_out "host $n: PostClean ran after the data went" '^post data-gone$' hostssh $n cat /root/postclean-ran
	check_out "host $n: kubeadm reset -f ran (the stand-in's log)" '^kubeadm reset -f$' hostssh $n 'tail -1 /var/lib/cirun/kubeadm-stand-in.log'
	hostssh $n 'rm -f /root/preclean-ran /root/clean-ran /root/postclean-ran'
done
check "host 1: /root/.kube/config, the copy of admin.conf, is gone" hostssh 1 '! test -e /root/.kube/config'
check_out "host 2: a kubeconfig of its own is kept" '^mine$' hostssh 2 cat /root/.kube/config
hostssh 1 'rm -rf /etc/kubernetes'; hostssh 2 'rm -rf /etc/kubernetes /root/.kube'

check "the saved definition is gone" test ! -e "$CIRUN_HOME/clusters/dc"
out=$("$cirun" delete --all 2>&1); rc=$?
check "a second delete fails (exit 2)" test "$rc" -eq 2
check_out "saying there is nothing saved" "no saved cluster in $CIRUN_HOME/clusters" printf '%s\n' "$out"

# ---- after a failed install ----
out=$(run deltest:bad)
check_out "the install with a failing init.sh fails" "init.sh .* exited with 3" printf '%s\n' "$out"
for n in 1 2; do hostssh $n "cp $rec /root/installed.before"; done
out=$("$cirun" delete --all --cluster-name dc 2>&1)
check "delete --all after the failed install succeeds" test $? -eq 0 || printf '%s\n' "$out" | tail -20
for n in 1 2; do clean_checks $n; done
check "the saved definition is gone" test ! -e "$CIRUN_HOME/clusters/dc"

# ---- a step that fails on one host ----
out=$(run deltest:v1)
check_out "a fresh install is ok" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out" || bail "no install"
for n in 1 2; do hostssh $n "cp $rec /root/installed.before"; done
hostssh 2 'touch /root/fail-clean'
out=$("$cirun" delete --all 2>&1); rc=$?
check "a clean.sh that fails on the node fails the delete" test "$rc" -eq 1
check_out "naming the host and the step" "$ip2: not cleaned \\(clean nodes\\): scripts/clean.sh exited with 4" printf '%s\n' "$out"
check_out "and the hosts still to clean" "cluster dc: still to clean on $ip2; the saved definition .* is kept" printf '%s\n' "$out"
clean_checks 1
check "the node's rootfs is kept for the next try" hostssh 2 'test -d /var/lib/cirun/data/dc/rootfs'
hostssh 2 'rm -f /root/fail-clean'
out=$("$cirun" delete --all 2>&1); rc=$?
check "once the cause is gone, delete --all again succeeds (master0, clean already, is no error)" test "$rc" -eq 0
check_out "master0, clean already, holds nothing of the cluster: nothing done there" "nothing of cluster dc on $ip1" printf '%s\n' "$out"
clean_checks 2
check "the saved definition is gone" test ! -e "$CIRUN_HOME/clusters/dc"

# ---- a host down ----
out=$(run deltest:v1)
check_out "a fresh install is ok" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out" || bail "no install"
for n in 1 2; do hostssh $n "cp $rec /root/installed.before"; done
# the node's sshd stopped through the lab's own ssh: its address stays up, in this lab
hostssh 2 'systemctl stop ssh.socket ssh.service sshd.service 2>/dev/null; true'
out=$("$cirun" delete --all 2>&1); rc=$?
check "without --force: the delete fails" test "$rc" -eq 1
check_out "naming the host it cannot reach" "cannot reach $ip2: nothing was deleted" printf '%s\n' "$out"
out=$("$cirun" status 2>&1); rc=$?
check "status with a host down exits 1" test "$rc" -eq 1
check_out "status: the node is not reachable, saying why" "^$ip2 +node +no " printf '%s\n' "$out"
check_out "status: master0 still is" "^$ip1 +master0 +yes +active " printf '%s\n' "$out"
check "master0 was left alone" hostssh 1 'test -d /var/lib/cirun/data/dc/rootfs && systemctl is-active -q containerd'
# another cluster's install record on master0 lists containerd's unit and kubelet: its
# containerd is left running and the host is not reset
hostssh 1 'mkdir -p /var/lib/cirun/data/other && printf "/etc/systemd/system/containerd.service\n/usr/local/bin/kubelet\n" > /var/lib/cirun/data/other/installed && rm -f /var/lib/cirun/kubeadm-stand-in.log'
out=$("$cirun" delete --all --force 2>&1); rc=$?
check "with --force: the delete succeeds for what it could reach" test "$rc" -eq 0
check_out "it names the skipped host" "--force: skipping $ip2 \\(unreachable\\); cleaning $ip1" printf '%s\n' "$out"
check_out "it names the host still to clean, the definition down to it" "cluster dc: still to clean on $ip2; the saved definition .* now lists only the hosts left" printf '%s\n' "$out"
check_out "master0 not reset, naming the cluster whose kubelet is there too" "kubeadm reset -f skipped .*cluster other's install record" printf '%s\n' "$out"
check "host 1: kubeadm reset did not run" hostssh 1 '! grep -q reset /var/lib/cirun/kubeadm-stand-in.log 2>/dev/null'
check_out "host 1: containerd, the other cluster's too, still runs" '^active$' hostssh 1 systemctl is-active containerd
check "host 1: and its unit and kubelet (a link into dc's rootfs here) are kept" hostssh 1 'test -f /etc/systemd/system/containerd.service && test -L /usr/local/bin/kubelet'
check "host 1: the rest of dc is gone" hostssh 1 "$EX"' ! ex /usr/local/bin/kubeadm && ! ex /var/lib/cirun/data/dc'
check "the saved definition is kept" test -f "$CIRUN_HOME/clusters/dc/Clusterfile"
check_out "cirun clusters still lists it (master0 stays: a cluster has one)" "^dc +deltest:v1 +$ip1 +$ip2$" "$cirun" clusters
# master0 now holds nothing of dc, but a kubeadm cluster of its own: a kubeadm on PATH
# and a kubeconfig copied from its admin.conf
hostssh 1 'printf "#!/bin/sh\necho \"\$@\" > /root/foreign-kubeadm-ran\n" > /usr/sbin/kubeadm && chmod 755 /usr/sbin/kubeadm && mkdir -p /etc/kubernetes /root/.kube && echo own > /etc/kubernetes/admin.conf && cp /etc/kubernetes/admin.conf /root/.kube/config && rm -rf /var/lib/cirun/data/other'
out=$("$cirun" delete --all --force 2>&1); rc=$?
check "--force again, only the unreachable host left: succeeds" test "$rc" -eq 0 || printf '%s\n' "$out" | tail -20
check_out "nothing of dc on master0: nothing done there" "nothing of cluster dc on $ip1" printf '%s\n' "$out"
check "host 1: the host's own kubeadm was not run" hostssh 1 "$EX"' ! ex /root/foreign-kubeadm-ran'
check_out "host 1: its own kubeconfig is kept" '^own$' hostssh 1 cat /root/.kube/config
check_out "it names the host never cleaned" "never cleaned: $ip2" printf '%s\n' "$out"
check_out "and says the definition is removed" "cluster dc: the saved definition is removed" printf '%s\n' "$out"
check "the saved definition is gone" test ! -e "$CIRUN_HOME/clusters/dc"
hostssh 1 'rm -rf /usr/sbin/kubeadm /etc/kubernetes /root/.kube /root/foreign-kubeadm-ran'

summary
