#!/usr/bin/env bash
# The registry phase on a real lab host: an image with images/registry.tar (a real
# registry), a small docker-archive and the project's scripts; `cirun run` starts the
# registry on the registry host (master0 here) with scripts/init-registry.sh and the agent
# imports the archive into its data dir, so the registry serves it under sealer's name
# (registry.k8s.io/pause:3.9 as pause:3.9); a re-run (which assembles a new rootfs)
# imports nothing new and leaves the registry running and serving (its data is beside the
# rootfs, in data/CLUSTER/registry); the dry-run plan names the registry host and the archives.
# Then containerd's mirrors for the registries of images/ (phase mirrors): an archive named
# under two registries outside the fixed list, one with a port, re-run with a node: every
# host gets a hosts.toml for each pointing at sea.hub:5000, and the node pulls the original
# names through it (the names are under .example, which never resolves: a pull that did not
# go to sea.hub would fail).
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-registry cirreg 10.213.19
data=/var/lib/cirun/data/my-cluster

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
reg=$(bash "$top/tests/fixtures/registry-image/registry-tar.sh") || bail "cannot make a registry.tar"
ctx=$work/ctx
mkdir -p "$ctx/images"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
cp "$reg" "$ctx/images/registry.tar"
# a tiny docker-archive: one layer with one file, named as kubeadm would pull it
python3 - "$ctx/images/pause.tar" <<'PY' || bail "cannot make the small image archive"
import hashlib, io, json, sys, tarfile
def tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 0
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()
layer = tar([("pause", b"#!/bin/sh\nexec sleep 3600\n")])
lh = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/pause"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": ch + ".json", "RepoTags": ["registry.k8s.io/pause:3.9"],
                   "Layers": [lh + "/layer.tar"]}]).encode()
open(sys.argv[1], "wb").write(tar([(ch + ".json", cfg), (lh + "/layer.tar", layer), ("manifest.json", man)]))
PY
{ cat "$top/tests/fixtures/base-image/Kubefile"; echo "COPY images images"; } > "$work/Kubefile"
check "build an image with images/registry.tar and images/pause.tar" "$cirun" build -t regtest:v1 \
    --build-arg "DEBS=$debs" -f "$work/Kubefile" "$ctx" || bail "no image"

lab_begin 2
ip=$ip1
hs() { bash "$lab" ssh 1 "$@"; }
run() { "$cirun" run regtest:v1 -m "$ip" -p "$pw" "$@" 2>&1; }

check_out "the plan names the registry host and the archives" \
    "registry host: scripts/init-registry\\.sh starts the registry on port 5000 \\(sea\\.hub\\), data in /var/lib/cirun/data/my-cluster/registry; imports pause\\.tar" run --dry-run
check_out "the plan lists the registry phase on the registry host" "init, registry \\(on the registry host\\)" run --dry-run

out=$(run)
printf '%s\n' "$out" | grep -E "^\\[$ip\\] .*regist" | sed 's/^/# /'
check_out "the run succeeds" "^$ip +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "init-registry.sh started the registry" \
    "^\\[$ip\\] registry cirun-registry runs docker\\.io/library/registry:2\\.8\\.2 on port 5000 \\(sea\\.hub:5000\\), data in $data/registry\$" \
    printf '%s\n' "$out"
check_out "the agent imported the archive and said what it serves" \
    "^\\[$ip\\] registry: images/pause\\.tar: 1 image: pause:3\\.9 \\(3 new blobs, 0 kept\\)" printf '%s\n' "$out"
catalog() { hs "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /v2/_catalog HTTP/1.0\r\n\r\n' >&3 && cat <&3"; }
check_out "the registry serves the imported image (/v2/_catalog)" '\{"repositories":\["pause"\]\}' catalog
check_out "and its tag (/v2/pause/tags/list)" '"tags":\["3\.9"\]' \
    hs "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /v2/pause/tags/list HTTP/1.0\r\n\r\n' >&3 && cat <&3"
# nobody may push: a blob upload is refused, and the data is not writable from the container
check_out "the registry refuses a push (blob upload POST)" '^HTTP/1\.[01] (405|503) ' \
    hs "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'POST /v2/pause/blobs/uploads/ HTTP/1.0\r\nContent-Length: 0\r\n\r\n' >&3 && head -n 1 <&3"
check_out "its storage is mounted read-only" '"options":\["rbind","ro"\]' \
    hs "ctr -n k8s.io containers info cirun-registry | grep -A8 '/var/lib/registry' | tr -d ' \n'"

pid() { hs "ctr -n k8s.io tasks ls | awk '\$1 == \"cirun-registry\" {print \$2}'"; }
before=$(pid)
# (the journal removed before the re-runs below: the registry step's own handling of what
# is there is checked, not the journal's skip of a step done)
hs "rm -f $data/journal"
out=$(run)
check_out "a re-run succeeds" "^$ip +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "a re-run leaves the registry running" "^\\[$ip\\] registry cirun-registry already runs" printf '%s\n' "$out"
check_out "a re-run imports nothing new" \
    "^\\[$ip\\] registry: images/pause\\.tar: 1 image: pause:3\\.9 \\(0 new blobs, 3 kept\\)" printf '%s\n' "$out"
check "the registry task is the same one" test -n "$before" -a "$before" = "$(pid)"
check_out "the registry still serves it" '\{"repositories":\["pause"\]\}' catalog

# a blob altered in the store, its size kept: the next run hashes it and puts it back
blob=$(hs "find $data/registry/docker/registry/v2/blobs -name data -type f | sort | head -n 1")
hs "n=\$(stat -c %s '$blob') && head -c \$n /dev/zero | tr '\\0' X > '$blob.x' && mv '$blob.x' '$blob'"
hs "rm -f $data/journal"
out=$(run)
check_out "a blob altered in the store is replaced, and said so" \
    "^\\[$ip\\] registry: images/pause\\.tar: 1 image: pause:3\\.9 \\(1 new blobs, 2 kept\\), 1 replaced: they no longer had their digest" \
    printf '%s\n' "$out"
check "the blob has its digest again" hs "test \"\$(sha256sum < '$blob' | cut -c1-64)\" = \"\$(basename \$(dirname '$blob'))\""

# an image with images/ but no registry.tar, whose two archives serve pause:3.9 with other
# content: imported all the same with a warning, the clash fails the host naming both
mkdir -p "$work/ctx2/images"
python3 - "$ctx/images/pause.tar" "$work/ctx2/images/b-other.tar" <<'PY' || bail "cannot make the clashing archive"
import hashlib, io, json, sys, tarfile
def tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 0
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()
layer = tar([("pause", b"another pause\n")])
lh = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": ch + ".json", "RepoTags": ["registry.k8s.io/pause:3.9"],
                   "Layers": [lh + "/layer.tar"]}]).encode()
open(sys.argv[2], "wb").write(tar([(ch + ".json", cfg), (lh + "/layer.tar", layer), ("manifest.json", man)]))
PY
cp "$ctx/images/pause.tar" "$work/ctx2/images/a-pause.tar"
printf 'FROM scratch\nCOPY images images\n' > "$work/Kubefile2"
check "build an image whose images/ has no registry.tar and two archives serving pause:3.9" \
    "$cirun" build -t regclash:v1 -f "$work/Kubefile2" "$work/ctx2" || bail "no image"
out=$("$cirun" run regclash:v1 -m "$ip" -p "$pw" --cluster-name clash 2>&1)
printf '%s\n' "$out" | grep -E "^\\[$ip\\] .*regist|FAIL|fail" | sed 's/^/# /'
check_out "no registry.tar: a warning that nothing serves the archives" \
    "^\\[$ip\\] registry: the image has images/ but no images/registry\\.tar: its archives go into /var/lib/cirun/data/clash/registry, and no registry serves them" \
    printf '%s\n' "$out"
check_out "the first archive is imported all the same" \
    "^\\[$ip\\] registry: images/a-pause\\.tar: 1 image: pause:3\\.9 " printf '%s\n' "$out"
check_out "the clash fails the host naming both archives" \
    "images/a-pause\\.tar and images/b-other\\.tar both serve pause:3\\.9, with different content" \
    printf '%s\n' "$out"
check_out "the run reports the host failed in registry" "^$ip +master0 +[0-9]+ +FAILED .* registry: images/a-pause" printf '%s\n' "$out"
check_out "the first cluster's registry is untouched" '\{"repositories":\["pause"\]\}' catalog

# ---- containerd mirrors for the registries of images/ ----
mkdir -p "$work/ctx3/images"
python3 - "$work/ctx3/images/other.tar" <<'PY' || bail "cannot make the archive of other registries"
import hashlib, io, json, sys, tarfile
def tar(files):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in files:
            i = tarfile.TarInfo(name); i.size = len(data); i.mtime = 0
            t.addfile(i, io.BytesIO(data))
    return b.getvalue()
layer = tar([("hello", b"hello from images.example\n")])
lh = hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lh]}}).encode()
ch = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": ch + ".json", "RepoTags": ["images.example/team/hello:1",
                   "myreg.example:5000/team/app:2"], "Layers": [lh + "/layer.tar"]}]).encode()
open(sys.argv[1], "wb").write(tar([(ch + ".json", cfg), (lh + "/layer.tar", layer), ("manifest.json", man)]))
PY
printf 'FROM regtest:v1\nCOPY images images\n' > "$work/Kubefile3"
check "build an image whose images/ adds an archive named under images.example and myreg.example:5000" \
    "$cirun" build -t regmirr:v1 -f "$work/Kubefile3" "$work/ctx3" || bail "no image"
mrun() { "$cirun" run regmirr:v1 -m "$ip1" -n "$ip2" -p "$pw" "$@" 2>&1; }
out=$(mrun --dry-run)
check_out "the plan: mirrors on every host right after the registry" \
    ', init, registry \(on the registry host\), mirrors(,|$)' printf '%s\n' "$out"
check_out "the plan: the fixed mirrors now, those of images/ once imported" \
    '^containerd mirrors \(every host\): pulls from registry\.k8s\.io docker\.io quay\.io go to sea\.hub:5000 first; the registries the images of images/ are named under are added once imported \(phase mirrors\)$' \
    printf '%s\n' "$out"
phases_of() {
    sed -n "s/^[^ ]* \\[$2\\] phase \\(.*\\) done in [0-9]* ms\$/\\1/p" "$(ls -t "$CIRUN_HOME"/logs/"$1"-*.log | head -n 1)" | paste -sd,
}
out=$(mrun)
printf '%s\n' "$out" | grep -E "registry: images/other|mirror file" | sed 's/^/# /'
check_out "the run is ok on master0" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the run is ok on the node" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the import names the registries of the archive" \
    "^\\[$ip1\\] registry: images/other\\.tar: 2 images: team/hello:1 team/app:2 \\(.*\\); from images\\.example, myreg\\.example:5000\$" \
    printf '%s\n' "$out"
check_out "master0: mirrors right after registry" '^connect,agent,facts,journal,distribute,setup,hosts,init,registry,mirrors$' phases_of my-cluster "$ip1"
check_out "the node: mirrors after init (no registry there)" '^connect,agent,facts,journal,distribute,setup,hosts,init,mirrors$' phases_of my-cluster "$ip2"
check_out "the node: mirrors wrote the two new files only" "^\\[$ip2\\] /etc/hosts unchanged, 2 mirror file\\(s\\) written\$" printf '%s\n' "$out"
for n in 1 2; do
    for r in images.example myreg.example:5000; do
        check_out "host $n: $r/hosts.toml keeps its upstream as server" "^server = \"https://$r\"\$" \
            hostssh $n cat "/etc/containerd/certs.d/$r/hosts.toml"
        check_out "host $n: $r/hosts.toml asks sea.hub:5000 first" '^\[host\."http://sea\.hub:5000"\]$' \
            hostssh $n cat "/etc/containerd/certs.d/$r/hosts.toml"
        check "host $n: $r/hosts.toml is in the install record" \
            hostssh $n "grep -qx '/etc/containerd/certs.d/$r/hosts.toml' $data/installed"
    done
    check "host $n: the fixed list is still there" hostssh $n test -s /etc/containerd/certs.d/quay.io/hosts.toml
done
pull() { hostssh 2 "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d $1 2>&1 | tail -n 3"; }
check_out "node: ctr pulls images.example/team/hello:1 by its original name" '^done' pull images.example/team/hello:1
check_out "node: ctr pulls myreg.example:5000/team/app:2 by its original name" '^done' pull myreg.example:5000/team/app:2
inode() { hostssh 2 "stat -c %i.%Y /etc/containerd/certs.d/images.example/hosts.toml"; }
before=$(inode)
hostssh 2 "rm -f $data/journal"
out=$(mrun)
check_out "a re-run is ok on the node" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "a re-run: the node's mirrors phase writes nothing" "^\\[$ip2\\] /etc/hosts unchanged, 0 mirror file\\(s\\) written\$" printf '%s\n' "$out"
check_out "and neither does its hosts phase (two such lines)" '^2$' \
    bash -c 'printf "%s\n" "$1" | grep -cxF "[$2] /etc/hosts unchanged, 0 mirror file(s) written"' _ "$out" "$ip2"
check "a re-run: images.example/hosts.toml not rewritten" test "$before" = "$(inode)"

summary
