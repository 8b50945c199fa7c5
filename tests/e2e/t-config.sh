#!/usr/bin/env bash
# Clusterfile Config documents on 2 real lab hosts (issue 8 point 2): merge, override,
# insert and append land in every host's rootfs before the templates are rendered (an
# append to a .tmpl shows up rendered); the image's own Configs (its ClusterFile
# annotation) come first, for `cirun apply` and `cirun run`; re-runs give the same files;
# a Config whose path goes through a symlink out of the rootfs fails the host naming the
# Config's file:line and the path, and writes nothing outside; the dry-run plan lists the
# Configs per host.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-config circonf 10.213.14

lab_begin 2

# the image: a YAML file, a plain file, a template using the host's env, and a default
# Clusterfile (its annotation) with a Config of its own
ctx=$work/img
mkdir -p "$ctx/etc"
printf 'server:\n  port: 80\n  name: app\n' > "$ctx/etc/app.yaml"
printf 'original\n' > "$ctx/etc/plain.txt"
printf 'role={{ .HostRole }}\n' > "$ctx/etc/app.conf.tmpl"
cat > "$ctx/etc/Clusterfile" <<'CF'
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: my-cluster
spec:
  image: cfgtest:v1
---
apiVersion: sealer.cloud/v2
kind: Config
metadata:
  name: from-image
spec:
  path: etc/image-note.txt
  data: "from the image\n"
CF
printf 'FROM scratch\nCOPY etc .\n' > "$work/Kubefile"
check "build the test image" "$cirun" build -t cfgtest:v1 -f "$work/Kubefile" "$ctx" || bail "no image"

cat > "$work/Clusterfile" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: cfg
spec:
  image: cfgtest:v1
  env: [HostRole=worker]
  ssh: {passwd: "$pw"}
  hosts:
    - ips: [$ip1]
      roles: [master]
    - ips: [$ip2]
      roles: [node]
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: app-port}
spec:
  path: etc/app.yaml
  strategy: merge
  data: |
    server:
      port: 8080
    extra: true
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: plain}
spec:
  path: /etc/plain.txt
  data: "overridden\n"
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: tmpl-tail}
spec:
  path: etc/app.conf.tmpl
  strategy: append
  data: "appended={{ .HostRole }}\n"
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: tmpl-head}
spec:
  path: etc/app.conf.tmpl
  strategy: insert
  data: "# head\n"
CF
apply() { "$cirun" apply -f "$1" --insecure-ignore-host-key 2>&1; }
rootfs=/var/lib/cirun/data/cfg/rootfs
files() { hostssh "$1" "cd $rootfs/etc && sha256sum app.yaml plain.txt app.conf.tmpl app.conf image-note.txt"; }

out=$("$cirun" apply -f "$work/Clusterfile" --dry-run 2>&1)
check_out "the plan lists the Configs: the image's" "^  Config from-image \\(cfgtest:v1 \\(annotation sea.aliyun.com/ClusterFile\\):[0-9]+\\): override into rootfs/etc/image-note.txt$" printf '%s\n' "$out"
check_out "the plan lists the Configs: the Clusterfile's, with file:line" "^  Config app-port \\($work/Clusterfile:15\\): merge into rootfs/etc/app.yaml$" printf '%s\n' "$out"
check "the plan lists them for each host" test "$(printf '%s\n' "$out" | grep -c '^  Config tmpl-tail .*: append into rootfs/etc/app.conf.tmpl$')" = 2
check_out "the plan has a config phase before setup" '^phases on every host: .*distribute, config, setup, hosts, init$' printf '%s\n' "$out"

out=$(apply "$work/Clusterfile")
check_out "apply with Configs: master0 ok" "^$ip1 +master0 +9 +ok" printf '%s\n' "$out"
check_out "apply with Configs: the node ok" "^$ip2 +node +9 +ok" printf '%s\n' "$out"
check_out "each host says how many Configs it applied" "^\\[$ip2\\] 5 Configs applied to the rootfs$" printf '%s\n' "$out"
check "Config documents are no longer announced as not applied" bash -c "! printf '%s\n' '$out' | grep -q 'kind Config is read and checked'"
for n in 1 2; do
	check_out "host $n: merge kept the file's keys" '^  name: app$' hostssh $n cat $rootfs/etc/app.yaml
	check_out "host $n: merge changed a key" '^  port: 8080$' hostssh $n cat $rootfs/etc/app.yaml
	check_out "host $n: merge added a key" '^extra: true$' hostssh $n cat $rootfs/etc/app.yaml
	check_out "host $n: override replaced the file" '^overridden$' hostssh $n cat $rootfs/etc/plain.txt
	check "host $n: insert and append went into the template before it was rendered" \
		test "$(hostssh $n cat $rootfs/etc/app.conf)" = "$(printf '# head\nrole=worker\nappended=worker')"
	check_out "host $n: the image's own Config (annotation) applied" '^from the image$' hostssh $n cat $rootfs/etc/image-note.txt
done
first1=$(files 1); first2=$(files 2)
check "the files are there" test -n "$first1"
out=$(apply "$work/Clusterfile")
check_out "a second run: ok" "^$ip2 +node +9 +ok" printf '%s\n' "$out"
out=$(apply "$work/Clusterfile")
check_out "a third run: ok" "^$ip1 +master0 +9 +ok" printf '%s\n' "$out"
check "after three runs host 1's files are those of the first (append and insert landed once)" test "$first1" = "$(files 1)"
check "after three runs host 2's files are those of the first" test "$first2" = "$(files 2)"
check_out "one appended line, not three" '^1$' bash -c "bash '$lab' ssh 2 grep -c appended= $rootfs/etc/app.conf"

# cirun run: the image's annotation Configs too
out=$("$cirun" run cfgtest:v1 -m "$ip1" -p "$pw" -e HostRole=master --cluster-name cfgrun 2>&1)
check_out "cirun run: ok with the image's Config" "^$ip1 +master0 +9 +ok" printf '%s\n' "$out"
check_out "cirun run: the image's Config applied" '^from the image$' hostssh 1 cat /var/lib/cirun/data/cfgrun/rootfs/etc/image-note.txt

# a symlink out of the rootfs on the Config's path
mkdir -p "$work/evil/etc"
ln -s /tmp "$work/evil/etc/out"
printf 'FROM scratch\nCOPY etc .\n' > "$work/Kubefile.evil"
check "build an image with etc/out -> /tmp" "$cirun" build -t cfgevil:v1 -f "$work/Kubefile.evil" "$work/evil"
cat > "$work/Clusterfile.evil" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata: {name: cfgevil}
spec:
  image: cfgevil:v1
  ssh: {passwd: "$pw"}
  hosts: [{ips: [$ip1], roles: [master]}]
---
apiVersion: sealer.cloud/v2
kind: Config
metadata: {name: escape}
spec:
  path: etc/out/cirun-config-escape
  data: "pwned\n"
CF
hostssh 1 'rm -f /tmp/cirun-config-escape'
out=$(apply "$work/Clusterfile.evil")
check_out "a symlink out of the rootfs: the host fails in config, naming the Config's file:line and the path" \
	"^\\[$ip1\\] config failed: $work/Clusterfile.evil:9: Config 'escape' \\(override\\): etc/out/cirun-config-escape: " printf '%s\n' "$out"
check_out "the summary says so" "^$ip1 +master0 +5 +FAILED .* config: $work/Clusterfile.evil:9: Config 'escape'" printf '%s\n' "$out"
check "nothing was written through the symlink" hostssh 1 '! test -e /tmp/cirun-config-escape'

check "lab-down" bash "$lab" down
summary
