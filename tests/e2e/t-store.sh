#!/usr/bin/env bash
# The host's layer store on a real lab host (issue 9 point 1): layers arrive in one pass
# into layers/unpacked/<hex> (no compressed copy), the rootfs is hard-linked from it, a
# run with templates never alters the store, a re-run sends 0 layer bytes, a tampered
# store entry is found and sent again, and a transfer cut off mid-layer leaves nothing
# half-written and is resumed by the next run (only the cut layer is sent), and a host
# whose disk fills mid-layer fails with that reason and keeps its rootfs. A host set up by
# the previous version (compressed blobs in layers/) re-runs sending nothing.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-store cirunsto 10.213.26

lab_begin 1
run() { "$cirun" run "$@" -m "$ip1" -p "$pw" -e HostRole=worker 2>&1; }
# the bytes of layers sent to the host, from the summary table
sent() { printf '%s\n' "$1" | awk '$2 == "master0" && $4 == "ok" {print $6}'; }
store=/var/lib/cirun/layers/unpacked
rootfs=/var/lib/cirun/data/my-cluster/rootfs
# every entry of the store with its metadata, and every file's content
# (tree_hash: the layers' content only, not when they were stored)
store_hash() {
    hostssh 1 "cd $store && { find . ${1:-} -printf '%p %y %m %U %G %s %T@\n' | sort; find . ${1:-} -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum"
}
tree_hash() { store_hash "-path './*/tree/*'"; }

debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
check "build the test image" "$cirun" build -t storetest:v1 --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image" || bail "no image"

out=$(run storetest:v1 -e Version=1)
check_out "first run succeeds" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check "the store holds the layers unpacked, no compressed copy, nothing partial" \
    bash -c "[ \"\$(bash '$lab' ssh 1 'ls /var/lib/cirun/layers')\" = unpacked ] && [ -z \"\$(bash '$lab' ssh 1 'ls $store | grep -v -e \"^[0-9a-f]\\{64\\}\$\"')\" ]"
check_out "a rootfs file is a hard link into the store" '^[2-9] 1$' hostssh 1 \
    "echo \$(stat -c %h $rootfs/bin/kubeadm) \$(find $store/*/tree/bin -samefile $rootfs/bin/kubeadm | wc -l)"
# rendering replaced the rendered files: the store keeps the template's text
check_out "the rootfs has the rendered statics/ file" 'from the env: 1$' hostssh 1 cat "$rootfs/statics/audit-policy.yml"
check_out "the store still has it unrendered" '\{\{' hostssh 1 "cat $store/*/tree/statics/audit-policy.yml"
check "and they are not one file" bash -c "[ -z \"\$(bash '$lab' ssh 1 'find $store -samefile $rootfs/statics/audit-policy.yml')\" ]"
before=$(store_hash)
before_tree=$(tree_hash)

out=$(run storetest:v1 -e Version=2)
check_out "a re-run with other values succeeds" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "a re-run sends 0 layer bytes" '^0$' sent "$out"
check_out "it rendered the new values" 'from the env: 2$' hostssh 1 cat "$rootfs/statics/audit-policy.yml"
check "two runs with templates left the store as it was" test "$before" = "$(store_hash)"

# a host set up by the previous version: a layer as its compressed blob, layers/<hex>
old=$(hostssh 1 "ls $store | head -1")
blob=$(find "$CIRUN_HOME" -path "*/blobs/sha256/$old" | head -1)
hostssh 1 "rm -rf $store/$old && cat > /var/lib/cirun/layers/$old" < "$blob"
# (the journal removed before each run below with the same inputs: what distribute itself
# does with the store is checked, not the skip of a step recorded as done)
nojournal() { hostssh 1 rm -f /var/lib/cirun/data/my-cluster/journal; }
nojournal
out=$(run storetest:v1 -e Version=2)
check_out "a host with the previous version's cache re-runs fine" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "sending 0 layer bytes" '^0$' sent "$out"
check "its blob was moved into the store" hostssh 1 "test -f $store/$old/manifest && ! test -e /var/lib/cirun/layers/$old"

# a file of the store written to in place (as a write through the rootfs's link would)
f=$(hostssh 1 "cd $store && find . -path '*/tree/*' -type f -size +8c -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2-")
layer=${f%%/*}
hostssh 1 "echo tampered >> '$store/$f'"
nojournal
out=$(run storetest:v1 -e Version=2)
check_out "a tampered store entry is found" "layer sha256:$layer of image storetest:v1 in the host cache is corrupt .*damaged" printf '%s\n' "$out"
check_out "and sent again: the run succeeds" "^$ip1 +master0 +8 +ok +[0-9.]+ +[1-9]" printf '%s\n' "$out"
check "the file is whole again" bash -c "! bash '$lab' ssh 1 \"grep -q tampered '$store/$f'\""
check "the store's layers are as they were" test "$before_tree" = "$(tree_hash)"

# ---- a transfer cut off mid-layer ----
mkdir -p "$work/ctx/big"
head -c $((96 << 20)) /dev/urandom > "$work/ctx/big/blob.bin"
printf 'FROM storetest:v1\nCOPY big big\n' > "$work/Kubefile.v2"
check "build an image with a large layer on top" "$cirun" build -t storetest:v2 -f "$work/Kubefile.v2" "$work/ctx"
big=$(find "$CIRUN_HOME" -type f -size +90M -printf '%f\n' | grep -E '^[0-9a-f]{64}$' | head -1)
check "the large layer's digest is known" test -n "$big"
# the host says when that layer is being unpacked, 8 MB into it; then the connection dies
hostssh 1 "for i in \$(seq 600); do s=\$(du -sm $store/$big.partial 2>/dev/null | cut -f1); [ \"\${s:-0}\" -ge 8 ] && exit 0; sleep 0.05; done; exit 1" &
watch=$!
"$cirun" run storetest:v2 -m "$ip1" -p "$pw" -e HostRole=worker -e Version=2 > "$work/cut.out" 2>&1 &
cpid=$!
if wait "$watch"; then
    kill -9 "$cpid" 2>/dev/null
    ok "the transfer was cut off mid-layer"
else
    not_ok "the transfer was cut off mid-layer (the layer was not seen arriving)"
fi
wait "$cpid" 2>/dev/null
check "the cut layer is not held" bash -c "! bash '$lab' ssh 1 test -e $store/$big"
bigsize=$(stat -c %s "$(find "$CIRUN_HOME" -type f -name "$big" | head -1)")
out=$(run storetest:v2 -e Version=2)
check_out "the next run succeeds" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "it sent only the cut layer" "^$bigsize\$" sent "$out"
# the agent may have been ended with the connection (sshd, logind) before it cleaned up
check "nothing half-written stays" bash -c "[ -z \"\$(bash '$lab' ssh 1 'ls -d $store/*.partial 2>/dev/null')\" ]"
check_out "the large file arrived whole" "^$(sha256sum < "$work/ctx/big/blob.bin" | cut -d' ' -f1) " hostssh 1 sha256sum "$rootfs/big/blob.bin"
out=$(run storetest:v2 -e Version=2)
check_out "and a re-run sends 0 layer bytes" '^0$' sent "$out"

# ---- a disk that fills mid-layer: a 48 MB tmpfs over the store (the rootfs is beside it,
# on the host's disk); the layers are sent again into it and the large one does not fit
if hostssh 1 "mount -t tmpfs -o size=48m tmpfs $store"; then
    nojournal
    out=$(run storetest:v2 -e Version=2)
    check_out "a host whose disk fills mid-layer fails with that reason" "^\\[$ip1\\] distribute failed: the host's disk is full under /var/lib/cirun, its rootfs is left as it was: layer sha256:[0-9a-f]+: writing 'big/blob.bin': No space left on device" printf '%s\n' "$out"
    check "it keeps its previous rootfs" hostssh 1 "test -f $rootfs/big/blob.bin && test -f $rootfs/statics/audit-policy.yml"
    check "nothing of the layer stays" bash -c "[ -z \"\$(bash '$lab' ssh 1 'ls -A $store | grep partial')\" ]"
    hostssh 1 "umount $store"
else
    echo "# skip: the lab host cannot mount a tmpfs"
fi
check "lab-down" bash "$lab" down
summary
