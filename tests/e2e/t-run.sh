#!/usr/bin/env bash
# cirun run on 3 real lab hosts: the rootfs arrives whole and equals `cirun export`, init.sh
# sees the exported env, a re-run sends nothing, a changed image sends only its new layer,
# failures (wrong password, changed host key or key type) name the host, sudo users work, --dry-run
# changes nothing, and a layer corrupted in a host's cache is re-sent, not used.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-run cirunrun 10.213.10

lab_begin 3

# the test image: tests/fixtures/run-image (real containerd + runc from Debian's .debs in
# cri/, units, templates, init.sh; kubelet/kubeadm are stand-ins)
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
check "build the test image" "$cirun" build -t runtest:v1 --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image" || bail "no image"
ctx=$work/ctx
mkdir -p "$ctx/etc"

run() { "$cirun" run "$@" 2>&1; }
t0=$(date +%s%N)
out=$(run runtest:v1 -m "$ip1" -n "$ip2,$ip3" -p "$pw" -e HostRole=worker -e 'DnsServers=10.0.0.2;10.0.0.3' -e Version=1.19.8 -e 'Tricky=a b;$(touch /tmp/pwned)')
t1=$(date +%s%N)
echo "# first run: $(( (t1 - t0) / 1000000 )) ms"
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check_out "first run succeeds on 3 hosts" "^$ip3 +node +8 +ok" printf '%s\n' "$out"
check_out "init.sh output is streamed with a host prefix" "^\\[$ip2\\] init.sh on $CIRUN_LAB_PREFIX-2: containerd [0-9]" printf '%s\n' "$out"
check_out "first run sent the layers" "^$ip1 +master0 +8 +ok +[0-9.]+ +[1-9][0-9]* " printf '%s\n' "$out"
"$cirun" export runtest:v1 "$work/export" > /dev/null
for i in 1 2 3; do
    # rendering writes the .tmpl outputs and rewrites statics/: compare the rest
    check "host $i: rootfs equals cirun export" bash -c "diff <(cd '$work/export' && find . -printf '%p %y %m %s\n' | grep -v '^./statics/' | sort) <(bash '$lab' ssh $i 'cd /var/lib/cirun/data/my-cluster/rootfs && find . -printf \"%p %y %m %s\n\" | grep -v -e ^./statics/ -e \"^./etc/cluster.yaml \" | sort')"
    check_out "host $i: init.sh saw the env, quoted safely" '^Tricky=a b;\$\(touch /tmp/pwned\)$' hostssh "$i" cat /var/lib/cirun/init-env.txt
    check "host $i: nothing ran from an env value" bash -c "! bash '$lab' ssh $i test -e /tmp/pwned"
    check_out "host $i: containerd.service is active" '^active$' hostssh "$i" systemctl is-active containerd
    check_out "host $i: ctr version answers" 'Version: +1\.' hostssh "$i" ctr version
    check_out "host $i: kubelet.service is enabled, not started" '^enabled inactive$' hostssh "$i" 'echo $(systemctl is-enabled kubelet) $(systemctl is-active kubelet)'
    check_out "host $i: the kubeadm drop-in is in place" 'kubelet.service.d/10-kubeadm.conf' hostssh "$i" systemctl cat kubelet
    check_out "host $i: a .tmpl rendered with the host's values" '^  - 10\.0\.0\.3$' hostssh "$i" cat /var/lib/cirun/data/my-cluster/rootfs/etc/cluster.yaml
    check_out "host $i: a statics/ file rendered" 'from the env: 1\.19\.8$' hostssh "$i" cat /var/lib/cirun/data/my-cluster/rootfs/statics/audit-policy.yml
    check_out "host $i: bin/ is on PATH for init.sh" '^/usr/local/bin/kubeadm$' hostssh "$i" cat /var/lib/cirun/init-path.txt
    check_out "host $i: installed files are recorded for clean" '^/usr/bin/runc$' hostssh "$i" cat /var/lib/cirun/data/my-cluster/installed
done
check_out "the agent logs to the journal" 'assembling the rootfs of cluster my-cluster' hostssh 1 journalctl -t cirun-agent --no-pager

t0=$(date +%s%N)
out=$(run runtest:v1 -m "$ip1" -n "$ip2,$ip3" -p "$pw" -e HostRole=worker -e Version=1)
t1=$(date +%s%N)
echo "# second run: $(( (t1 - t0) / 1000000 )) ms"
check "the install record lists each path once after a re-run" bash -c "[ -z \"\$(bash '$lab' ssh 1 'sort /var/lib/cirun/data/my-cluster/installed | uniq -d')\" ]"
check_out "a re-run sends 0 layer bytes" '^0$' bash -c "printf '%s\n' \"\$1\" | awk '\$2 ~ /^(master0|node)\$/ && \$4 == \"ok\" {s += \$6; n++} END {print (n == 3 ? s : \"missing\")}'" _ "$out"

echo 'value: 2' > "$ctx/etc/extra.yaml"
printf 'FROM runtest:v1\nCOPY etc/extra.yaml etc\n' > "$work/Kubefile.v2"
check "build a changed image FROM the first" "$cirun" build -t runtest:v2 -f "$work/Kubefile.v2" "$ctx"
newsize=$("$cirun" inspect runtest:v2 | grep -B2 'value: etc/extra.yaml etc' | sed -n 's/^    size: //p')
# debug: the installer says how many layer bytes it read from its files for those it sent
out=$(LOG_LEVEL=debug run runtest:v2 -m "$ip1" -n "$ip2,$ip3" -p "$pw" -e HostRole=worker -e Version=1)
check_out "a changed image sends only the new layer" "^$newsize $newsize $newsize\$" bash -c "printf '%s\n' \"\$1\" | awk '\$2 ~ /^(master0|node)\$/ {printf \"%s \", \$6} END {print \"\"}' | sed 's/ \$//'" _ "$out"
check_out "the 3 hosts shared one read of the new layer" "layers: $newsize bytes read from the files for $((3 * newsize)) sent" printf '%s\n' "$out"
check "the new file arrived" hostssh 2 test -f /var/lib/cirun/data/my-cluster/rootfs/etc/extra.yaml

# a stored layer corrupted on a host is found, dropped and sent again: its largest file
# overwritten in place, same size (the store's manifest sees the mtime)
f=$(hostssh 3 'cd /var/lib/cirun/layers/unpacked && find . -path "*/tree/*" -type f -size +8c -printf "%s %P\n" | sort -n | tail -1 | cut -d" " -f2-')
layer=${f%%/*}
hostssh 3 "printf 'XXXXXXXX' | dd of='/var/lib/cirun/layers/unpacked/$f' bs=1 seek=0 conv=notrunc status=none"
# (its journal removed: a host whose journal says distribute is done skips it, and the
# check of the cache comes with the assembly)
hostssh 3 rm /var/lib/cirun/data/my-cluster/journal
out=$(run runtest:v2 -m "$ip1" -n "$ip2,$ip3" -p "$pw" -e HostRole=worker -e Version=1)
check_out "a corrupted cached layer is detected and sent again" "\\[$ip3\\] layer sha256:$layer of image runtest:v2 in the host cache is corrupt" printf '%s\n' "$out"
check_out "and the run succeeds" "^$ip3 +node +8 +ok" printf '%s\n' "$out"

# failures name the host. From here on, runs of other host sets under the same name: each
# a cluster of its own for these checks, the saved one forgotten first (a run of fewer
# hosts than a saved cluster's is refused: a run never removes hosts)
run() { forget_cluster my-cluster; "$cirun" run "$@" 2>&1; }
t0=$(date +%s)
out=$(CIRUN_SSH_PASSWORD=wrong run runtest:v2 -m "$ip1" --connect-timeout 10)
t1=$(date +%s)
check_out "a wrong password fails naming the host" "^$ip1 .*FAILED.*connect: $ip1: .*authentication as root failed" printf '%s\n' "$out"
check "within the connect timeout" test $((t1 - t0)) -le 15
check_out "nothing is changed when a host is not reachable" 'stopped before changing any host' printf '%s\n' "$out"
check_out "a failed run names its log file" "the full log of this run: $CIRUN_HOME/logs/" printf '%s\n' "$out"

# --output json: the same events as JSON lines; secrets masked everywhere, also in what a
# script prints
out=$(run runtest:v2 -m "$ip1" -p "$pw" -e HostRole=worker -e "Version=v-$pw-x" --output json)
check "--output json: every line is one JSON object" python3 -c "import json,sys; [json.loads(l) for l in sys.argv[1].splitlines()]" "$out"
check_out "--output json: a host result event" '"event":"host","host":"'"$ip1"'","role":"master0","phases_done":8,"ok":true' printf '%s\n' "$out"
check_out "--output json: script output as log events, the password masked" 'init.sh env: Version=v-\*\*\*\*\*\*-x' printf '%s\n' "$out"
check "the password appears nowhere in the output" bash -c "! printf '%s\n' \"\$1\" | grep -q -- \"\$2\"" _ "$out" "$pw"
logfile=$(printf '%s\n' "$out" | sed -n 's/.*"log_file":"\([^"]*\)".*/\1/p' | head -1)
check_out "the run's log file exists, readable by root only" '^600$' stat -c %a "$logfile"
check_out "the log file has the whole run" 'init.sh env: Version=v-\*\*\*\*\*\*-x' cat "$logfile"
check "and no password" bash -c "! grep -q -- '$pw' '$logfile'"

# a host known by its ED25519 key that now offers only an ECDSA one: a changed key, never a
# second trust on first use
re_esc() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }
fp_of() { hostssh 2 "ssh-keygen -lf /etc/ssh/ssh_host_$1_key.pub" | awk '{print $2}'; }
hostssh 2 'rm -f /etc/ssh/ssh_host_ecdsa_key* && ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key &&
    echo "HostKey /etc/ssh/ssh_host_ecdsa_key" > /etc/ssh/sshd_config.d/cirun-test-hostkey.conf && systemctl restart ssh'
known_fp=$(fp_of ed25519); offered_fp=$(fp_of ecdsa)
kh_before=$(sha256sum < "$CIRUN_HOME/known_hosts")
out=$(run runtest:v2 -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1)
check_out "another key type is a changed key, refused with both fingerprints" \
    "host key of $ip2:22 has changed: known $(re_esc "$known_fp") \\(ED25519\\); now $(re_esc "$offered_fp") \\(ECDSA\\)" printf '%s\n' "$out"
check "and the ECDSA key is not recorded" test "$kh_before" = "$(sha256sum < "$CIRUN_HOME/known_hosts")"
out=$(run runtest:v2 -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1)
check_out "a second try is refused the same" "host key of $ip2:22 has changed: .*\\(ECDSA\\)" printf '%s\n' "$out"
# temporaries are .cirun-tmp-*, a lock would be known_hosts.*: neither may stay
check "no lock or temporary file beside known_hosts" bash -c "[ -z \"\$(ls -A '$CIRUN_HOME' | grep -e known_hosts -e '^\.cirun-tmp-' | grep -vx known_hosts)\" ]"
# with both keys offered, the known type is asked for first (libssh2 alone would take ECDSA)
hostssh 2 'rm -f /etc/ssh/sshd_config.d/cirun-test-hostkey.conf && systemctl restart ssh'
out=$(run runtest:v2 -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1)
check_out "a host with a new ECDSA key beside its known ED25519 one is checked by the known one" "^$ip2 +node +8 +ok" printf '%s\n' "$out"

hostssh 2 'rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh'
out=$(run runtest:v2 -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1)
check_out "a changed host key is refused with both fingerprints" "host key of $ip2:22 has changed: known SHA256:[^ ]+ \\(ED25519\\); now SHA256:[^ ]+ \\(ED25519\\)" printf '%s\n' "$out"
out=$(run runtest:v2 -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key)
check_out "--insecure-ignore-host-key lets it through" "^$ip2 +node +8 +ok" printf '%s\n' "$out"

# public keys: ed25519 with a passphrase, ecdsa without; a wrong passphrase is named
ssh-keygen -q -t ed25519 -N 'key-pass-123' -C cirun-test -f "$work/id_ed25519"
ssh-keygen -q -t ecdsa -N '' -C cirun-test -f "$work/id_ecdsa"
hostssh 3 'mkdir -p /root/.ssh && chmod 700 /root/.ssh'
cat "$work/id_ed25519.pub" "$work/id_ecdsa.pub" > "$work/authorized_keys"
bash "$lab" put 3 "$work/authorized_keys" /root/.ssh/authorized_keys
out=$(run runtest:v2 -m "$ip3" --pk "$work/id_ed25519" --pk-passwd key-pass-123 -e HostRole=worker -e Version=1 --cluster-name pk-test)
check_out "an ed25519 key with a passphrase logs in" "^$ip3 +master0 +8 +ok" printf '%s\n' "$out"
out=$(run runtest:v2 -m "$ip3" --pk "$work/id_ecdsa" -e HostRole=worker -e Version=1 --cluster-name pk-test)
check_out "an ecdsa key logs in" "^$ip3 +master0 +8 +ok" printf '%s\n' "$out"
out=$(run runtest:v2 -m "$ip3" --pk "$work/id_ed25519" --pk-passwd wrong -e HostRole=worker --cluster-name pk-test)
check_out "a wrong passphrase is named" "\\[$ip3\\] connect failed: .*the key '.*id_ed25519' was not accepted.*Wrong passphrase" printf '%s\n' "$out"

# preflight: a duplicate hostname stops the run before any change, naming the check;
# --skip-preflight lets it through
hostssh 3 'hostname '"$CIRUN_LAB_PREFIX"'-2'
# (but the host's lock, /var/lib/cirun/lock, which the run took and released)
untouched() { hostssh 3 'find /var/lib/cirun -path /var/lib/cirun/lock -prune -o -printf "%p %s %T@\n" | sort | sha256sum'; }
before=$(untouched)
out=$(run runtest:v2 -m "$ip2" -n "$ip3" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key --cluster-name pf)
check_out "preflight names a duplicate hostname" "^$ip3 .*hostname $CIRUN_LAB_PREFIX-2 also on $ip2 \\(hostname\\)" printf '%s\n' "$out"
check_out "and the run stops before changing anything" 'preflight failed on 1 host\(s\); nothing was changed' printf '%s\n' "$out"
check "the host is untouched" test "$before" = "$(untouched)"
out=$(run runtest:v2 -m "$ip2" -n "$ip3" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key --cluster-name pf --skip-preflight=hostname)
check_out "--skip-preflight=hostname skips that check" "^$ip3 +node +8 +ok" printf '%s\n' "$out"
hostssh 3 'hostname '"$CIRUN_LAB_PREFIX"'-3'

# a unit that does not start is named, with its journal lines
mkdir -p "$work/badunit/etc"
printf '[Unit]\nDescription=fails on purpose\n[Service]\nExecStart=/bin/sh -c "echo broken-unit-says-bye; exit 3"\n[Install]\nWantedBy=multi-user.target\n' > "$work/badunit/etc/broken.service"
printf 'FROM runtest:v2\nCOPY etc/broken.service etc/\n' > "$work/badunit/Kubefile"
check "build an image with a failing unit" "$cirun" build -t runtest:broken "$work/badunit"
out=$(run runtest:broken -m "$ip1" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key --cluster-name broken)
check_out "a unit that fails to start is named" "^\\[$ip1\\] setup failed: unit broken.service did not start" printf '%s\n' "$out"
check_out "with its last journal lines" 'broken-unit-says-bye' printf '%s\n' "$out"

# an init.sh that starts a daemon (which keeps stdout/stderr open) ends with the script,
# and the daemon keeps running
mkdir -p "$work/daemon"
printf '#!/bin/bash\nsleep 3000 &\necho $! > /var/lib/cirun/e2e-daemon.pid\necho "started daemon $!"\nexit 0\n' > "$work/daemon/init.sh"
printf 'FROM runtest:v2\nCOPY init.sh scripts\n' > "$work/daemon/Kubefile"
check "build an image whose init.sh starts a daemon" "$cirun" build -t runtest:daemon "$work/daemon"
t0=$(date +%s)
out=$(run runtest:daemon -m "$ip1" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key --cluster-name daemon --timeout 90s)
t1=$(date +%s)
check_out "an init.sh that starts a daemon finishes" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check "at once, not at the timeout" test $((t1 - t0)) -lt 60
check "the daemon still runs on the host" hostssh 1 'kill -0 $(cat /var/lib/cirun/e2e-daemon.pid)'
hostssh 1 'kill $(cat /var/lib/cirun/e2e-daemon.pid); rm -f /var/lib/cirun/e2e-daemon.pid'

# a non-root user through sudo: host 1 has passwordless sudo, host 2 asks for the password
out=$(run runtest:v2 -u deploy -m "$ip1" -n "$ip2" -p "$pw" -e HostRole=worker -e Version=1 --insecure-ignore-host-key --cluster-name sudo-test)
check_out "deploy via sudo without password (odd host)" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "deploy via sudo with password (even host)" "^$ip2 +node +8 +ok" printf '%s\n' "$out"
check "the sudo password is not in any process list on the host" bash -c "! bash '$lab' ssh 2 'ps -eo args' | grep -q -- '$pw'"

before=$(for i in 1 2 3; do hostssh $i 'find /var/lib/cirun -printf "%p %s %T@\n" | sort | sha256sum'; done)
out=$(run runtest:v2 -m "$ip1" -n "$ip2,$ip3" -p "$pw" --dry-run --insecure-ignore-host-key --cluster-name dry)
after=$(for i in 1 2 3; do hostssh $i 'find /var/lib/cirun -printf "%p %s %T@\n" | sort | sha256sum'; done)
check_out "--dry-run prints each host's plan" "^\\[$ip3\\] plan \\(node\\):" printf '%s\n' "$out"
check "--dry-run leaves every host untouched" test "$before" = "$after"
check_out "--dry-run lists the units" '^  units: containerd.service kubelet.service \(kubelet.service enabled only\)$' printf '%s\n' "$out"
check_out "--dry-run says it is one" '^DRY RUN — nothing will be changed' printf '%s\n' "$out"
check_out "--dry-run lists the layers to send with sizes" '^  layer sha256:[0-9a-f]{12} +[0-9]+ bytes$' printf '%s\n' "$out"
check_out "--dry-run names init.sh and the CRI" 'CRI into /usr/bin: containerd.tar.gz' printf '%s\n' "$out"

# a Clusterfile: hosts with roles, a host-level env over the global one
cat > "$work/Clusterfile" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: cf-test
spec:
  image: runtest:v2
  env: [HostRole=worker, Version=2.0, "DnsServers=10.1.0.1;10.1.0.2"]
  ssh: {passwd: "$pw"}
  hosts:
    - ips: [$ip2, $ip3]
      roles: [node]
    - ips: [$ip1]
      roles: [master]
      env: [HostRole=control-plane]
CF
out=$("$cirun" apply -f "$work/Clusterfile" --insecure-ignore-host-key 2>&1)
check_out "apply -f Clusterfile: master0 is the first master" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "apply: the nodes too" "^$ip3 +node +8 +ok" printf '%s\n' "$out"
check_out "apply: a host-level env overrides the global one" '^role: control-plane$' hostssh 1 cat /var/lib/cirun/data/cf-test/rootfs/etc/cluster.yaml
check_out "apply: other hosts keep the global value" '^role: worker$' hostssh 2 cat /var/lib/cirun/data/cf-test/rootfs/etc/cluster.yaml
check_out "apply: init.sh got the host's env" '^HostRole=control-plane$' hostssh 1 cat /var/lib/cirun/init-env.txt
printf 'kind: Cluster\nmetadata: {name: x}\nspec:\n  image: runtest:v2\n  env: [etcd-dir=/data]\n  hosts: [{ips: [%s], roles: [master]}]\n' "$ip1" > "$work/Clusterfile.bad"
check_out "apply: a bad env key is refused at validation, naming file:line and field" 'Clusterfile.bad:5:[0-9]+: spec.env: .*etcd-dir' \
    bash -c "! '$cirun' apply -f '$work/Clusterfile.bad' 2>&1"

check "lab-down" bash "$lab" down
summary
