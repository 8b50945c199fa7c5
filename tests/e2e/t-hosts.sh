#!/usr/bin/env bash
# The hosts phase on 2 real lab hosts (issue 8 point 3): after `cirun run` every host's
# /etc/hosts holds the cluster's block (sea.hub → the registry host, here master0;
# apiserver.cluster.local → master0) and resolves both names, the rest of the file is
# kept, a second run leaves /etc/hosts byte-identical, and containerd's certs.d holds the
# mirror's hosts.toml and one per upstream registry, all in the install record.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-hosts cirhosts 10.213.18

lab_begin 2

mkdir -p "$work/img/etc"
printf 'x\n' > "$work/img/etc/note.txt"
printf 'FROM scratch\nCOPY etc .\n' > "$work/Kubefile"
check "build the test image" "$cirun" build -t hoststest:v1 -f "$work/Kubefile" "$work/img" || bail "no image"

# a line of the host's own that must survive
for n in 1 2; do hostssh $n 'printf "192.0.2.7 keep-me\n" >> /etc/hosts'; done

out=$("$cirun" run hoststest:v1 -m "$ip1" -n "$ip2" -p "$pw" --cluster-name hc 2>&1)
check_out "the run is ok on master0" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the run is ok on the node" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
block=$(printf '# BEGIN cirun hc\n%s\tsea.hub\n%s\tapiserver.cluster.local\n# END cirun hc' "$ip1" "$ip1")
rec=/var/lib/cirun/data/hc/installed
for n in 1 2; do
	check "host $n: /etc/hosts holds the block" bash -c "bash '$lab' ssh $n cat /etc/hosts | grep -A3 -x '# BEGIN cirun hc' | diff - <(printf '%s\n' '$block')"
	check_out "host $n: the host's own line is kept" '^192\.0\.2\.7 keep-me$' hostssh $n cat /etc/hosts
	check_out "host $n: getent resolves sea.hub to the registry host" "^${ip1//./\\.} +sea\\.hub$" hostssh $n getent hosts sea.hub
	check_out "host $n: getent resolves apiserver.cluster.local to master0" "^${ip1//./\\.} +apiserver\\.cluster\\.local$" hostssh $n getent hosts apiserver.cluster.local
	check_out "host $n: the mirror's hosts.toml" '^server = "http://sea.hub:5000"$' hostssh $n cat '/etc/containerd/certs.d/sea.hub:5000/hosts.toml'
	check_out "host $n: registry.k8s.io pulls ask the mirror" '^\[host."http://sea.hub:5000"\]$' hostssh $n cat /etc/containerd/certs.d/registry.k8s.io/hosts.toml
	check_out "host $n: docker.io's upstream stays its server" '^server = "https://docker.io"$' hostssh $n cat /etc/containerd/certs.d/docker.io/hosts.toml
	for f in 'sea.hub:5000' registry.k8s.io docker.io quay.io; do
		check "host $n: $f/hosts.toml is in the install record" hostssh $n "grep -qx '/etc/containerd/certs.d/$f/hosts.toml' $rec"
	done
done
sum1=$(hostssh 1 'sha256sum /etc/hosts; stat -c %i.%Y /etc/hosts'); sum2=$(hostssh 2 'sha256sum /etc/hosts; stat -c %i.%Y /etc/hosts')
# (the journals removed before the re-runs below: the hosts step's own handling of what is
# there is checked, not the journal's skip of a step done)
nojournal() { for n in 1 2; do hostssh $n rm -f /var/lib/cirun/data/hc/journal; done; }
nojournal
out=$("$cirun" run hoststest:v1 -m "$ip1" -n "$ip2" -p "$pw" --cluster-name hc 2>&1)
check_out "a second run is ok" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "it says /etc/hosts was left alone" "^\\[$ip1\\] /etc/hosts unchanged, 0 mirror file\\(s\\) written$" printf '%s\n' "$out"
check "host 1: /etc/hosts byte-identical and not rewritten after the second run" test "$sum1" = "$(hostssh 1 'sha256sum /etc/hosts; stat -c %i.%Y /etc/hosts')"
check "host 2: the same" test "$sum2" = "$(hostssh 2 'sha256sum /etc/hosts; stat -c %i.%Y /etc/hosts')"

# a hosts.toml that cirun did not install is refused, naming --force
hostssh 2 'mkdir -p /etc/containerd/certs.d/quay.io && rm -f /etc/containerd/certs.d/quay.io/hosts.toml && echo mine > /etc/containerd/certs.d/quay.io/hosts.toml && sed -i "\|certs.d/quay.io/hosts.toml|d" '"$rec"
nojournal
out=$("$cirun" run hoststest:v1 -m "$ip1" -n "$ip2" -p "$pw" --cluster-name hc 2>&1)
check_out "a foreign hosts.toml fails the host in hosts" "^$ip2 +node +[0-9]+ +FAILED .* hosts: '/etc/containerd/certs.d/quay.io/hosts.toml' exists and cirun did not install it" printf '%s\n' "$out"
check_out "the message names --force" "^\\[$ip2\\] hosts failed: .*run with --force to replace it" printf '%s\n' "$out"
check_out "the file is left as it was" '^mine$' hostssh 2 cat /etc/containerd/certs.d/quay.io/hosts.toml

summary
