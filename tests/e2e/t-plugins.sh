#!/usr/bin/env bash
# Plugins on 2 lab hosts (1 master, 1 node) through `cirun apply -f`: SHELL plugins from the
# Clusterfile and from the image's plugins/ run where `on` selects (a label selector through
# a stand-in kubectl on master0) and when their phase says, relative to init.sh; HOSTNAME
# renames at Originally; an invalid plugin is refused before any host is contacted.
# (LABEL, TAINT, CLUSTERCHECK and the points between them: t-plugin-points.sh.)
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirunplg} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.16}
T_NAME=e2e-plugins
. "$top/tests/lib.sh"
lab=$top/tests/lab/lab.sh
cirun=$top/build/cirun
work=$(mktemp -d /tmp/cirun-e2e-plugins.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down >/dev/null 2>&1; rm -rf "$work"' EXIT
pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
log=/var/lib/cirun-plugins-test.log

# the image: init.sh and a plugin of its own in plugins/, each appending to one log
ctx=$work/ctx
mkdir -p "$ctx/scripts" "$ctx/plugins"
cat > "$ctx/scripts/init.sh" <<EOF
echo "init \$(hostname)" >> $log
EOF
cat > "$ctx/plugins/image.yaml" <<EOF
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: from-image}
spec:
  type: SHELL
  action: PostInstall
  data: echo "image-plugin \$(hostname)" >> $log
EOF
printf 'FROM scratch\nCOPY . .\n' > "$ctx/Kubefile"
check "build the test image" "$cirun" build -t plgtest:v1 "$ctx" || bail "no image"

# cf NAME HOSTS-AND-PLUGINS: a Clusterfile for the two hosts, then the plugin documents
# Until the lab is up the hosts are loopback addresses: a regression that connects
# despite a refusal must never aim at a lab address while that lab is down.
ip1=127.0.0.11 ip2=127.0.0.12
cf() {
    cat > "$work/$1" <<EOF
kind: Cluster
metadata: {name: plg}
spec:
  image: ${img:-plgtest:v1}
  ssh: {passwd: $pw}
  hosts:
  - {ips: [$ip1], roles: [master]}
  - {ips: [$ip2], roles: [node]}
EOF
    cat >> "$work/$1"
}

# ---- refused before any connection: the lab is not even up yet ----
have_strace=0
if command -v strace >/dev/null && strace -f -qq -e trace=connect -o /dev/null true 2>/dev/null; then
    have_strace=1
fi
# refused DESC PATTERN FILE: `apply -f FILE` exits 2 showing PATTERN, and tried no connection
refused() {
    local desc=$1 pat=$2 f=$3 rc=0
    if [ $have_strace = 1 ]; then
        strace -f -qq -e trace=connect -o "$work/r.trace" "$cirun" apply -f "$work/$f" >"$work/r" 2>&1 || rc=$?
        grep -E 'AF_INET6?[,}]' "$work/r.trace" > "$work/r.connect"
    else
        "$cirun" apply -f "$work/$f" >"$work/r" 2>&1 || rc=$?
        : > "$work/r.connect"
    fi
    if [ $rc = 2 ] && grep -Eq -- "$pat" "$work/r" && [ ! -s "$work/r.connect" ]; then
        ok "$desc"
    else
        not_ok "$desc (exit $rc, $(wc -l < "$work/r.connect") connection(s) tried; wanted exit 2, /$pat/, none)"
        sed 's/^/#   /' "$work/r" "$work/r.connect" | tail -n 12
    fi
}
cf bad-phase.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: typo}
spec:
  type: SHELL
  action: PostInstal
  data: touch /tmp/never
EOF
refused "a misspelt phase, with file:line" "bad-phase\.yaml:1[0-9]:[0-9]+: .*PostInstal" bad-phase.yaml
cf preinit-label.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: early}
spec:
  type: SHELL
  action: PreInit
  on: node-role.kubernetes.io/master=
  data: touch /tmp/never
EOF
refused "a label selector at PreInit, with file:line" "preinit-label\.yaml:1[0-9]:[0-9]+: .*label selector" preinit-label.yaml
cf label-type.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: lbl}
spec:
  type: LABEL
  action: PreJoin
  data: $ip2 a=b
EOF
refused "a LABEL where the cluster is not up (PreJoin), with file:line" "label-type\.yaml:1[0-9]:[0-9]+: .*a LABEL plugin cannot act at PreJoin" label-type.yaml
cf not-a-host.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: stray}
spec:
  type: SHELL
  action: PostInstall
  on: 10.99.99.99
  data: touch /tmp/never
EOF
refused "an address in on that is not a host" "10\.99\.99\.99" not-a-host.yaml

# ---- the run ----
check "lab-up N=2" bash "$lab" up 2 || bail "the lab did not come up"
ip1=$(bash "$lab" ips | sed -n 1p); ip2=$(bash "$lab" ips | sed -n 2p)
h1=$(bash "$lab" ssh 1 hostname); h2=$(bash "$lab" ssh 2 hostname)
cf good.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: on-nodes}
spec:
  type: SHELL
  action: Originally
  on: node
  data: echo "Originally \$(hostname) \$(pwd)" >> $log
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: on-ip}
spec:
  type: SHELL
  action: PostInstall
  on: $ip1
  data: |
    echo "PostInstall \$(hostname) \$(pwd)" >> $log
    echo "marker written on \$(hostname)"
EOF
out=$("$cirun" apply -f "$work/good.yaml" --dry-run 2>&1)
check_out "the dry-run lists the phases" "phases on every host: connect, agent, facts and preflight, journal, Originally, distribute, setup, hosts, init, PostInstall" printf '%s\n' "$out"
check_out "the dry-run plan lists the node's Originally plugin" "^  plugins at Originally: on-nodes \(SHELL\)" printf '%s\n' "$out"
check "the dry-run plan lists each host's PostInstall plugins" bash -c "printf '%s\n' \"\$1\" | grep -c '^  plugins at PostInstall: ' | grep -qx 2 && printf '%s\n' \"\$1\" | grep -q '^  plugins at PostInstall: on-ip (SHELL), from-image (SHELL)\$'" _ "$out"

out=$("$cirun" apply -f "$work/good.yaml" 2>&1)
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check_out "the run succeeds on both hosts" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "each plugin run is logged with its host count" "plugin on-nodes \(SHELL\) at Originally on 1 host$" printf '%s\n' "$out"
check_out "the image's plugin is logged on 2 hosts" "plugin from-image \(SHELL\) at PostInstall on 2 hosts$" printf '%s\n' "$out"
check_out "plugin output is streamed with a host prefix" "^\\[$ip1\\] marker written on $h1\$" printf '%s\n' "$out"
rootfs=/var/lib/cirun/data/plg/rootfs
check "master: init, then the IP-list plugin (in the rootfs), then the image's" \
    bash -c "[ \"\$(bash '$lab' ssh 1 cat $log)\" = \"\$(printf 'init %s\nPostInstall %s %s\nimage-plugin %s' $h1 $h1 $rootfs $h1)\" ]"
check "node: the node plugin before init (in /), then the image's" \
    bash -c "[ \"\$(bash '$lab' ssh 2 cat $log)\" = \"\$(printf 'Originally %s /\ninit %s\nimage-plugin %s' $h2 $h2 $h2)\" ]"
for i in 1 2; do echo "# host $i:"; bash "$lab" ssh $i cat $log | sed 's/^/#   /'; done

# a label selector at PostInstall: master0's kubectl says which nodes carry the label
cat > "$work/selector.plugins" <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: workers}
spec:
  type: SHELL
  action: PostInstall
  on: role=worker
  data: echo "labelled \$(hostname)" >> $log
EOF
cf selector.yaml < "$work/selector.plugins"
out=$("$cirun" apply -f "$work/selector.yaml" 2>&1); rc=$?
check "without kubectl on master0, a label selector fails the run" test "$rc" != 0
check_out "master0 says kubectl is not there" "plugin 'workers'.*cannot resolve the label selector 'role=worker' at PostInstall: kubectl get nodes -l role=worker on master0 is not there" printf '%s\n' "$out"
check_out "master0 failed in the kubectl row" "^$ip1 +master0 .*PostInstall kubectl" printf '%s\n' "$out"
check_out "the node fails the plugin, not passing it over" "its label selector role=worker was not resolved" printf '%s\n' "$out"
check "and no marker was written" bash -c "! bash '$lab' ssh 2 grep -q labelled $log"
# a stand-in kubectl in the image's bin/ (on PATH after setup), answering for role=worker
mkdir -p "$ctx/bin"
cat > "$ctx/bin/kubectl" <<EOF
#!/bin/sh
echo "\$*" >> /var/lib/cirun-plugins-kubectl.log
[ "\$*" = "get nodes -o json -l role=worker" ] && echo '{"apiVersion": "v1", "kind": "List", "items": [{"metadata": {"name": "worker"}, "status": {"addresses": [{"type": "InternalIP", "address": "$ip2"}]}}]}'
exit 0
EOF
chmod +x "$ctx/bin/kubectl"
printf 'FROM plgtest:v1\nCOPY bin bin\n' > "$work/Kubefile.v2"
check "build the image with a stand-in kubectl" "$cirun" build -t plgtest:v2 -f "$work/Kubefile.v2" "$ctx" || bail "no image"
img=plgtest:v2 cf selector2.yaml < "$work/selector.plugins"
out=$("$cirun" apply -f "$work/selector2.yaml" 2>&1)
printf '%s\n' "$out" | sed -n '/^HOST  *ROLE/,$p' | sed 's/^/# /'
check_out "with kubectl on master0, the run succeeds" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the selector's plugin is logged on 1 host" "plugin workers \(SHELL\) at PostInstall on 1 host$" printf '%s\n' "$out"
check_out "kubectl was asked on master0 with the selector" "^get nodes -o json -l role=worker$" bash "$lab" ssh 1 cat /var/lib/cirun-plugins-kubectl.log
check "only master0 was asked" bash -c "! bash '$lab' ssh 2 test -e /var/lib/cirun-plugins-kubectl.log"
check_out "the labelled node ran it" "^labelled $h2\$" bash "$lab" ssh 2 cat $log
check "the master did not" bash -c "! bash '$lab' ssh 1 grep -q labelled $log"

# a failing plugin fails its host, naming the plugin and showing its output
cf fail.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: broken}
spec:
  type: SHELL
  action: PostInstall
  on: node
  data: |
    echo "about to fail"
    exit 7
EOF
out=$("$cirun" apply -f "$work/fail.yaml" 2>&1); rc=$?
check "a failing plugin fails the run" test "$rc" != 0
check_out "naming the plugin, its exit code and its last lines" "plugin 'broken' \(.*fail\.yaml:1[0-9]\) at PostInstall exited with 7.*" printf '%s\n' "$out"
check_out "only the node failed" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"

# HOSTNAME at Originally: the node is renamed before the rootfs arrives, init.sh sees it
cf hostname.yaml <<EOF
---
apiVersion: sealer.aliyun.com/v1alpha1
kind: Plugin
metadata: {name: names}
spec:
  type: HOSTNAME
  action: Originally
  data: |
    $ip2 plg-node-renamed
EOF
out=$("$cirun" apply -f "$work/hostname.yaml" 2>&1)
check_out "a HOSTNAME plugin runs at Originally on 1 host" "plugin names \(HOSTNAME\) at Originally on 1 host$" printf '%s\n' "$out"
check_out "and the run succeeds" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the node has its new name" "^plg-node-renamed$" bash "$lab" ssh 2 hostname
check_out "in /etc/hostname too" "^plg-node-renamed$" bash "$lab" ssh 2 cat /etc/hostname
check_out "init.sh ran after it, under the new name" "^init plg-node-renamed$" bash -c "bash '$lab' ssh 2 cat $log | tail -n 2"
check_out "the master kept its name" "^$h1$" bash "$lab" ssh 1 hostname

summary
