#!/usr/bin/env bash
# Each host gets what its role needs (issue 9 point 2), as sealer does: images/ and
# registry/ go to the registry host alone (master0 here). An image whose layers hold
# images/ (registry.tar and a small archive: a layer of nothing else, so the node is not
# sent it at all) and registry/ beside etc/ (a layer the node gets as a view of its own),
# run on master0 and a node: the node's rootfs has neither, master0's has both, the node
# still pulls the archive's image through the registry, the node was sent fewer bytes; the
# plan and the summary say what the node is not sent (and the JSON events); a re-run sends
# no layer to either; a view damaged in the control machine's cache is made again, with its
# digest, so the node still has it; removing the image removes its views.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-roles cirrole 10.213.27
data=/var/lib/cirun/data/my-cluster

make -s -C "$top" k8s-standin > /dev/null || bail "make k8s-standin failed"
debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
reg=$(bash "$top/tests/fixtures/registry-image/registry-tar.sh") || bail "cannot make a registry.tar"
ctx=$work/ctx
mkdir -p "$ctx/images" "$ctx/mixed/etc" "$ctx/mixed/registry/docker"
cp -r "$top/scripts" "$top/units" "$ctx/"
cp -r "$top/${BUILD:-build}/k8s-standin/bin" "$ctx/bin"
cp "$reg" "$ctx/images/registry.tar"
echo "kept on every host" > "$ctx/mixed/etc/roles.conf"
head -c 300000 /dev/urandom > "$ctx/mixed/registry/docker/blob"
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
{ cat "$top/tests/fixtures/base-image/Kubefile"; echo "COPY images images"; echo "COPY mixed/etc mixed/registry ."; } > "$work/Kubefile"
check "build an image with images/ in a layer of its own and registry/ beside etc/" \
    "$cirun" build -t roles:v1 --build-arg "DEBS=$debs" -f "$work/Kubefile" "$ctx" || bail "no image"

lab_begin 2
run() { "$cirun" run roles:v1 -m "$ip1" -n "$ip2" -p "$pw" "$@" 2>&1; }
skip_re="images/, registry/: not sent \\(not the registry host; 2 layers filtered, [0-9]+ bytes fewer\\)"

out=$(run --dry-run)
check_out "the plan: the node is not sent images/ and registry/" "^  $skip_re\$" printf '%s\n' "$out"
check_out "the plan made the view of the layer with registry/ beside etc/" \
    'layer sha256:[0-9a-f]{12} without images/, registry/: sha256:[0-9a-f]{12}, [0-9]+ bytes instead of [0-9]+ \([0-9]+ entries left out\)' \
    printf '%s\n' "$out"
check_out "and found the layer of images/ alone not to be sent" \
    'layer sha256:[0-9a-f]{12} holds only images/, registry/: not sent to the other hosts' printf '%s\n' "$out"
check_out "the plan says it once (for the node only)" '^1$' \
    bash -c 'printf "%s\n" "$1" | grep -c "not sent (not the registry host"' _ "$out"
most() { printf '%s\n' "$out" | sed -n "/^\\[$1\\] plan/,/sends at most/s/^  sends at most [0-9]* layer(s), \\([0-9]*\\) bytes.*/\\1/p"; }
m0=$(most "$ip1") n0=$(most "$ip2")
echo "# plan: master0 at most $m0 bytes, the node $n0"
check "the plan: the node gets fewer bytes than master0" test -n "$m0" -a -n "$n0" -a "${n0:-0}" -lt "${m0:-0}"

out=$(run)
printf '%s\n' "$out" | grep -E "not sent|without images|holds only|rootfs ready" | sed 's/^/# /'
check_out "the run is ok on master0" "^$ip1 +master0 +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the run is ok on the node" "^$ip2 +node +[0-9]+ +ok" printf '%s\n' "$out"
check_out "the summary: what the node was not sent" "^$ip2 +$skip_re\$" printf '%s\n' "$out"
check_out "the distribute phase says it for the node" "^\\[$ip2\\] $skip_re\$" printf '%s\n' "$out"
sent() { printf '%s\n' "$out" | awk -v h="$1" '$1 == h && ($2 == "master0" || $2 == "node") {print $6}'; }
s1=$(sent "$ip1") s2=$(sent "$ip2")
echo "# sent: master0 $s1 bytes, the node $s2"
check "the node was sent fewer bytes than master0" test -n "$s1" -a -n "$s2" -a "${s2:-0}" -lt "${s1:-0}" -a "${s2:-0}" -gt 0
check "the node: no rootfs/registry" hostssh 2 "! test -e $data/rootfs/registry"
check "the node: no rootfs/images" hostssh 2 "! test -e $data/rootfs/images"
check "the node: the rest of the layer that held registry/ is there" hostssh 2 "test -s $data/rootfs/etc/roles.conf"
check "master0: rootfs/registry" hostssh 1 "test -s $data/rootfs/registry/docker/blob"
check "master0: rootfs/images" hostssh 1 "test -s $data/rootfs/images/pause.tar"
check_out "the registry serves the archive's image" '\{"repositories":\["pause"\]\}' \
    hostssh 1 "exec 3<>/dev/tcp/127.0.0.1/5000 && printf 'GET /v2/_catalog HTTP/1.0\r\n\r\n' >&3 && cat <&3"
check_out "the node pulls it through the registry" '^done' \
    hostssh 2 "ctr -n k8s.io images pull --hosts-dir /etc/containerd/certs.d registry.k8s.io/pause:3.9 2>&1 | tail -n 3"
check "the views are cached on the control machine" \
    test -n "$(ls "$CIRUN_HOME"/views/blobs/sha256/ 2>/dev/null)"

out=$(run --output json)
check_out "a re-run sends no layer bytes to master0" "\"event\":\"host\",\"host\":\"$ip1\".*\"bytes_sent\":0[,}]" \
    printf '%s\n' "$out"
check_out "nor to the node" "\"event\":\"host\",\"host\":\"$ip2\".*\"bytes_sent\":0[,}]" printf '%s\n' "$out"
check_out "the JSON event of what the node was not sent" \
    "\"event\":\"host-skipped\",\"host\":\"$ip2\",\"skipped\":\"$skip_re\",\"layers_filtered\":2,\"bytes_not_sent\":[1-9][0-9]*\\}" \
    printf '%s\n' "$out"
check_out "the re-run made no view" '^0$' \
    bash -c 'printf "%s\n" "$1" | grep -c "without images/, registry/:"; true' _ "$out"

# a view blob altered in place on the control machine: found, made again with its digest
blob=$(ls "$CIRUN_HOME"/views/blobs/sha256/* | head -n 1)
printf 'X' | dd of="$blob" bs=1 seek=40 conv=notrunc status=none
out=$(run)
check_out "a damaged view is found and made again" \
    "the cached view of layer sha256:[0-9a-f]{12} was damaged \\(its blob .* does not match its digest or size\\); made again" \
    printf '%s\n' "$out"
check_out "and the node still holds it: nothing sent" "^$ip2 +node +[0-9]+ +ok +[0-9.]+ +0 " printf '%s\n' "$out"
check "the view has its digest again" test "$(sha256sum < "$blob" | cut -c1-64)" = "$(basename "$blob")"

# the image removed, its views go with its blobs
check "views are there before" test -n "$(find "$CIRUN_HOME/views/blobs" -type f)"
check "rmi the image" "$cirun" rmi roles:v1
check "its views are gone from the control machine" \
    test -z "$(find "$CIRUN_HOME/views/blobs" "$CIRUN_HOME/views/no-images-registry-v1" -type f)"

summary
