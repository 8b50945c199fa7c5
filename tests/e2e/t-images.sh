#!/usr/bin/env bash
# Cluster images end to end (root, real overlay): build a base FROM scratch and the seed's
# example Kubefile on top, inspect, flatten, rebuild from cache, save/load through an OCI
# archive (read by skopeo too), refuse tampered archives, tag, rmi.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
T_NAME=e2e-images
. "$top/tests/lib.sh"
cirun=$top/build/cirun
fix=$top/tests/fixtures/images
work=$(mktemp -d /tmp/cirun-e2e-images.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CIRUN_HOME=$work/home

in_store() { CIRUN_HOME=$1 "$cirun" "${@:2}"; }
inspect_has() { "$cirun" inspect "$1" | grep -Eq -- "$2"; }
image_id() { CIRUN_HOME=${2:-$CIRUN_HOME} "$cirun" inspect "$1" | sed -n "s/^  id: //p" | tr -d "'"; }
layer_ids() { "$cirun" inspect "$1" | sed -n 's/^  - id: //p'; }
export -f layer_ids
export cirun

check "build the base image FROM scratch" "$cirun" build -t base:v1 "$fix/base" || bail "no base image"
t0=$(date +%s%N)
check "build the seed's example Kubefile FROM base:v1" "$cirun" build -t app:v1 "$fix/app" || bail "no app image"
t1=$(date +%s%N)
out=$("$cirun" build -t app:v1 "$fix/app")
t2=$(date +%s%N)
echo "# timing: first build $(( (t1 - t0) / 1000000 )) ms, cached rebuild $(( (t2 - t1) / 1000000 )) ms"
check_out "rebuild: every layer from the cache" '^6$' bash -c "printf '%s\n' \"\$1\" | grep -c 'using cache'" _ "$out"
id1=$(image_id app:v1)
check_out "rebuild keeps the image id" "^Successfully built ${id1:0:12} as app:v1" printf '%s\n' "$out"

insp=$("$cirun" inspect app:v1)
check_out "inspect: kind Image, named" '^kind: Image' printf '%s\n' "$insp"
check_out "inspect: layer types in order" '^COPY RUN COPY COPY COPY COPY COPY CMD CMD $' \
    bash -c "printf '%s\n' \"\$1\" | sed -n 's/^  [ -] type: //p' | tr '\n' ' '" _ "$insp"
check_out "inspect: the RUN layer keeps its text" '^    value: echo \$\{Version\} > version.txt' printf '%s\n' "$insp"
check_out "inspect: ARG Version" "^      Version: '?4\.0\.0'?$" printf '%s\n' "$insp"
check_out "inspect: CMDs kept whole (commas too)" '^    - helm install mytest charts/traefik --set image.tag=\$\{Version\},replicas=2$' printf '%s\n' "$insp"
check_out "inspect: two CMDs" '^2$' bash -c "printf '%s\n' \"\$1\" | sed -n '/^    cmd:/,/^    labels/p' | grep -c '^    - '" _ "$insp"
check_out "inspect: images from imageList" '^  - nginx:1\.25$' printf '%s\n' "$insp"
check_out "inspect: images from manifests/*.yaml" '^  - kubernetesui/metrics-scraper:v1\.0\.6$' printf '%s\n' "$insp"
check_out "inspect: images from charts/*/values.yaml" '^  - docker\.io/traefik:' printf '%s\n' "$insp"
check_out "inspect: default Clusterfile annotation names the image" '^        image: app:v1$' printf '%s\n' "$insp"
check_out "inspect: platform" '^    architecture: (amd64|arm64)' printf '%s\n' "$insp"

check "export flattens the image" "$cirun" export app:v1 "$work/rootfs"
r=$work/rootfs
check "flattened: the file RUN deleted is gone" test ! -e "$r/etc/config.yaml"
check "flattened: the other base file stays" test -f "$r/etc/keep.yaml"
check_out "flattened: the re-created dir has only the new content" '^new\.sh$' ls "$r/scripts"
check_out "flattened: RUN saw the ARG" '^4\.0\.0$' cat "$r/version.txt"
check "flattened: COPY into images/, manifests/, charts/, plugins/" \
    test -f "$r/images/mysql.tar" -a -f "$r/manifests/imageList" -a -f "$r/manifests/recommended.yaml" \
         -a -f "$r/charts/traefik/values.yaml" -a -f "$r/plugins/shell.yaml"
check "flattened: modes kept (bin/tool executable)" test -x "$r/bin/tool"
check "export refuses a non-empty directory" bash -c "! '$cirun' export app:v1 '$r' 2>/dev/null"

out=$("$cirun" build -t app:v5 --build-arg Version=5.0.0 "$fix/app")
check_out "--build-arg overrides the ARG and misses the RUN cache" '^ ---> layer ' bash -c "printf '%s\n' \"\$1\" | sed -n '/RUN/{n;p}'" _ "$out"
check "export of the --build-arg image" "$cirun" export app:v5 "$work/v5"
check_out "RUN saw the --build-arg" '^5\.0\.0$' cat "$work/v5/version.txt"

check "rebuild with --no-cache" "$cirun" build --no-cache -t app:nocache "$fix/app"
check_out "same inputs give the same COPY layer digests (5 COPY + the base)" '^6$' \
    bash -c "comm -12 <(layer_ids app:v1 | sort) <(layer_ids app:nocache | sort) | wc -l" 
check "copy-and-compare fallback for RUN" "$cirun" build --copy-fallback --no-cache -t app:fallback "$fix/app"
run_layer() { "$cirun" inspect "$1" | grep -B3 '    type: RUN' | sed -n 's/^  - id: sha256://p'; }
list_layer() { tar --zstd -tvf "$CIRUN_HOME/images/blobs/sha256/$(run_layer "$1")" | awk '{print $1, $NF}'; }
export -f run_layer list_layer
check_out "fallback and overlay RUN layers hold the same entries" '^same$' \
    bash -c "[ \"\$(list_layer app:v1)\" = \"\$(list_layer app:fallback)\" ] && echo same || { list_layer app:v1; list_layer app:fallback; }"
check "the fallback image flattens the same" "$cirun" export app:fallback "$work/fb"
check_out "the trees are equal" '^same$' \
    bash -c "diff <(cd '$r' && find . -printf '%p %y %m\n' | sort) <(cd '$work/fb' && find . -printf '%p %y %m\n' | sort) && echo same"

check "save to an OCI archive" "$cirun" save -o "$work/app.tar" app:v1
check_out "skopeo reads the archive" '"Architecture": "(amd64|arm64)"' skopeo inspect "oci-archive:$work/app.tar"
check_out "skopeo sees the 7 content layers" '^7$' bash -c "skopeo inspect 'oci-archive:$work/app.tar' | sed -n '/\"Layers\"/,/]/p' | grep -c sha256:"
check "load into an empty CIRUN_HOME" in_store "$work/home2" load -i "$work/app.tar"
check_out "loaded image has the same id" "^$id1\$" image_id app:v1 "$work/home2"

python3 - "$work/app.tar" "$work/flipped.tar" <<'PY'
import sys, tarfile
data = bytearray(open(sys.argv[1], 'rb').read())
biggest = max((m for m in tarfile.open(sys.argv[1]).getmembers() if m.name.startswith('blobs/')), key=lambda m: m.size)
data[biggest.offset_data + biggest.size // 2] ^= 0x01
open(sys.argv[2], 'wb').write(bytes(data))
PY
check_out "a flipped byte in a blob is refused" 'is corrupt' bash -c "! CIRUN_HOME='$work/home3' '$cirun' load -i '$work/flipped.tar' 2>&1"
check_out "and nothing was added" '^0$' bash -c "find '$work/home3/images/blobs' '$work/home3/images/tmp' -type f | wc -l"
head -c 3000 "$work/app.tar" > "$work/truncated.tar"
check_out "a truncated archive is refused" 'nothing was loaded' bash -c "! CIRUN_HOME='$work/home3' '$cirun' load -i '$work/truncated.tar' 2>&1"
check_out "the store stays empty" '^NAME' bash -c "CIRUN_HOME='$work/home3' '$cirun' images | tail -1"

# Archives whose parts disagree (the store's own verifier, image_verify_parts, decides):
# refused naming the image and the part, nothing kept.
cat > "$work/craft.py" <<'PY'
import sys, tarfile, json, hashlib, io
src, dst, mode = sys.argv[1:4]
tin = tarfile.open(src)
files = {m.name: tin.extractfile(m).read() for m in tin.getmembers() if m.isfile()}
def blob(d): return 'blobs/sha256/' + d.split(':')[1]
def put(data):
    d = 'sha256:' + hashlib.sha256(data).hexdigest(); files[blob(d)] = data; return d, len(data)
index = json.loads(files['index.json'])
desc = index['manifests'][0]
man = json.loads(files[blob(desc['digest'])])
cfg_raw = files[blob(man['config']['digest'])]
cfg = json.loads(cfg_raw)
if mode == 'corrupt-config':
    files[blob(man['config']['digest'])] = cfg_raw.replace(b'"os":"linux"', b'"os":"linuX"')
elif mode == 'missing-layer':
    del files[blob(man['layers'][1]['digest'])]
elif mode == 'fewer-layers':
    man['layers'].pop()
elif mode == 'extra-claim':
    cfg['cirun']['layers'].append({'id': 'sha256:' + 'ab' * 32, 'type': 'COPY', 'value': 'extra x'})
    cfg['rootfs']['diff_ids'].append('sha256:' + 'cd' * 32)
    man['config']['digest'], man['config']['size'] = put(json.dumps(cfg, separators=(',', ':')).encode())
if mode in ('fewer-layers', 'extra-claim'):
    desc['digest'], desc['size'] = put(json.dumps(man, separators=(',', ':')).encode())
    files['index.json'] = json.dumps(index).encode()
tout = tarfile.open(dst, 'w')
for name, data in files.items():
    ti = tarfile.TarInfo(name); ti.size = len(data); tout.addfile(ti, io.BytesIO(data))
tout.close()
PY
want_corrupt_config='its config sha256:[0-9a-f]{64} is corrupt'
want_missing_layer='its layer 2 sha256:[0-9a-f]{64} is missing from the archive'
want_fewer_layers='claims layer sha256:[0-9a-f]{64} \(COPY .*\) that the manifest lacks \(manifest: 6 layers, metadata: 7\)'
want_extra_claim='claims layer sha256:(ab){32} \(COPY extra x\) that the manifest lacks'
for m in corrupt-config missing-layer fewer-layers extra-claim; do
    python3 "$work/craft.py" "$work/app.tar" "$work/$m.tar" "$m" || bail "cannot craft $m"
    want=want_${m//-/_}
    check_out "load refuses an archive with $m, naming the image" "image 'app:v1' is inconsistent: .*${!want}" \
        bash -c "! CIRUN_HOME='$work/home4' '$cirun' load -i '$work/$m.tar' 2>&1"
    check_out "$m: no blob, temp file or name kept" '^0 0$' bash -c \
        "echo \$(find '$work/home4/images/blobs' '$work/home4/images/tmp' -type f | wc -l) \$(grep -c sha256 '$work/home4/images/index.json')"
done

# Two builds and a garbage collection at once on one store: all must end well.
( "$cirun" build --no-cache -t para:one "$fix/app" > "$work/p1.log" 2>&1; echo $? > "$work/p1.rc" ) &
( "$cirun" build --no-cache --build-arg Version=9 -t para:two "$fix/app" > "$work/p2.log" 2>&1; echo $? > "$work/p2.rc" ) &
( "$cirun" rmi app:nocache > "$work/p3.log" 2>&1; echo $? > "$work/p3.rc" ) &
wait
check_out "concurrent builds and rmi all succeed" '^0 0 0$' bash -c "echo \$(cat '$work/p1.rc' '$work/p2.rc' '$work/p3.rc')"
check "both concurrent images are whole" bash -c "'$cirun' export para:one '$work/p1' && '$cirun' export para:two '$work/p2' && grep -qx 9 '$work/p2/version.txt'"
check "rmi them" "$cirun" rmi para:one para:two

check "tag" "$cirun" tag app:v1 registry.local:5000/team/app:stable
check_out "tagged name has the same id" "^$id1\$" image_id registry.local:5000/team/app:stable
check "rmi removes a name" "$cirun" rmi app:v1
check "the other name still works" "$cirun" inspect registry.local:5000/team/app:stable
check "rmi the rest" "$cirun" rmi registry.local:5000/team/app:stable app:v5 app:fallback base:v1
check_out "no blob is left" '^0$' bash -c "ls '$CIRUN_HOME/images/blobs/sha256' | wc -l"
check_out "nor an unpacked layer of the builder" '^0$' bash -c "ls '$CIRUN_HOME/build/layers' | wc -l"

cat > "$work/Kubefile.bad" <<'K'
FROM scratch
COPY https://example.com/recommended.yaml manifests
K
check_out "a URL source fails offline, naming file:line" 'Kubefile.bad:2: .*not available offline' \
    bash -c "! '$cirun' build -t bad:v1 -f '$work/Kubefile.bad' '$fix/app' 2>&1"
printf 'FROM scratch\nCOPY nothere etc\n' > "$work/Kubefile.missing"
check_out "a missing source names the line" 'Kubefile.missing:2: COPY nothere etc: source .nothere. does not exist in the build context' \
    bash -c "! '$cirun' build -t bad:v1 -f '$work/Kubefile.missing' '$fix/app' 2>&1"
printf 'FROM scratch\nRUN exit 3\n' > "$work/Kubefile.fail"
check_out "a failing RUN names the line and the exit code" 'Kubefile.fail:2: RUN exit 3: the command exited with code 3' \
    bash -c "! '$cirun' build -t bad:v1 -f '$work/Kubefile.fail' '$fix/app' 2>&1"
# From a terminal, RUN has no stdin (/dev/null, as in docker build) and no controlling
# terminal: reading or setting the terminal must end the command, not stop it for ever with
# SIGTTIN/SIGTTOU while the build waits. script(1) gives cirun a terminal.
in_tty() { timeout -k 5 30 script -qec "$1" /dev/null </dev/null 2>&1; echo "rc=$?"; }
export -f in_tty
printf 'FROM scratch\nRUN read x\n' > "$work/Kubefile.read"
out=$(in_tty "'$cirun' build -t tty:v1 -f '$work/Kubefile.read' '$work'")
check_out "from a terminal, a RUN reading stdin gets EOF and fails with its exit code" \
    'Kubefile.read:2: RUN read x: the command exited with code 1' printf '%s\n' "$out"
check_out "and the build ends with an error, not by the timeout" '^rc=[1-9]$' bash -c "printf '%s\n' \"\$1\" | tail -1 | tr -d '\r'" _ "$out"
printf 'FROM scratch\nRUN stty -echo <&2; stty sane </dev/tty; echo ran-past-stty\n' > "$work/Kubefile.stty"
out=$(in_tty "'$cirun' build -t tty:v1 -f '$work/Kubefile.stty' '$work'")
check_out "a RUN that sets the terminal (stty) is not stopped, its output still shows" '^ran-past-stty' printf '%s\n' "$out"
check_out "and the build succeeds" '^rc=0$' bash -c "printf '%s\n' \"\$1\" | tail -1 | tr -d '\r'" _ "$out"
check_out "FROM an unknown image says how to get it" "cirun load -i FILE" \
    bash -c "! '$cirun' build -t bad:v1 -f '$fix/app/Kubefile' '$fix/app' 2>&1"
# COPY as sealer places things, owners 0:0, LABEL, unconsumed --build-arg, RUN's environment.
c=$work/ctx-copy
mkdir -p "$c/bin" "$c/etc" "$c/traefik" "$c/single"
echo hello > "$c/bin/hello"; echo e > "$c/etc/a.conf"; echo t > "$c/traefik/values.yaml"
echo s > "$c/single/hello"
chown -R 1234:1234 "$c"
cat > "$c/Kubefile" <<'K'
FROM scratch
ARG Marker=visible
LABEL k=v "quoted key"="a b" version=${Marker}
COPY bin bin
COPY etc etc
COPY traefik charts
COPY single/hello opt/hello
RUN env > env.txt
K
out=$(CIRUN_SSH_PASSWORD=secret "$cirun" build -t copy:v1 --build-arg Nope=1 --build-arg Marker=given "$c" 2>&1)
check_out "an unconsumed --build-arg is warned about" '^\[Warning\] one or more build args were not consumed: \[Nope\]$' printf '%s\n' "$out"
check "export the COPY image" "$cirun" export copy:v1 "$work/copy"
check_out "COPY bin bin gives bin/hello, COPY etc etc gives etc/a.conf" '^bin/hello charts/traefik/values.yaml etc/a.conf opt/hello $' \
    bash -c "cd '$work/copy' && find bin charts etc opt -type f | sort | tr '\n' ' '"
check_out "COPY traefik charts gives charts/traefik" '^t$' cat "$work/copy/charts/traefik/values.yaml"
copy_owners() { for d in $("$cirun" inspect copy:v1 | grep -B3 '    type: COPY' | sed -n 's/^  - id: sha256://p'); do tar --zstd -tvf "$CIRUN_HOME/images/blobs/sha256/$d"; done | awk '{print $2}' | sort -u; }
export -f copy_owners
check_out "files a COPY adds are owned 0:0" '^0/0$' bash -c copy_owners
check_out "RUN's environment has the ARG" '^Marker=given$' cat "$work/copy/env.txt"
check_out "RUN's environment has HOME=/root and a fixed PATH" '^HOME=/root PATH=[^ ]*/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $' \
    bash -c "grep -E '^(HOME|PATH)=' '$work/copy/env.txt' | sort | tr '\n' ' '"
check_out "nothing of the caller's environment reaches RUN" '^0$' \
    bash -c "grep -cE 'secret|CIRUN_|^USER=|^TERM=|^SHELL=' '$work/copy/env.txt' || true"
insp=$("$cirun" inspect copy:v1)
check_out "inspect shows the LABELs" '^      k: v$' printf '%s\n' "$insp"
check_out "inspect shows a quoted LABEL and the ARG expanded in it" "^      quoted key: a b\$" printf '%s\n' "$insp"
check_out "LABEL values expand ARGs" '^      version: given$' printf '%s\n' "$insp"
# Messages name the user's files, never a scratch path.
# A YAML error in a built image's manifests/ names the build-context file it came from and
# the Kubefile line that put it there, or the RUN that wrote it.
y=$work/ctx-yaml
mkdir -p "$y/k8s"
printf 'apiVersion: v1\nkind: Pod\nspec: [a,\n  b: c\n' > "$y/k8s/bad.yaml"
printf 'FROM scratch\nARG x=1\nLABEL a=b\n\nCOPY k8s/bad.yaml manifests\n' > "$y/Kubefile"
out=$("$cirun" build -t yaml:v1 "$y" 2>&1)
check_out "a YAML error in manifests/ names the context file k8s/bad.yaml:LINE:COL" ': k8s/bad\.yaml:[0-9]+:[0-9]+: ' printf '%s\n' "$out"
check_out "and the COPY that put it there" "\\(copied to manifests/bad\\.yaml by $y/Kubefile:5: COPY k8s/bad\\.yaml manifests\\)" printf '%s\n' "$out"
check_out "and no scratch path" '^0$' bash -c "printf '%s\n' \"\$1\" | grep -c -e '$CIRUN_HOME' -e '/scan' -e 'XXXX' || true" _ "$out"
printf 'FROM scratch\nRUN mkdir manifests && printf "a: [\\n" > manifests/gen.yaml\n' > "$y/Kubefile.run"
out=$("$cirun" build -t yaml:v1 -f "$y/Kubefile.run" "$y" 2>&1)
check_out "one a RUN wrote names its image path and the RUN line" \
    ": manifests/gen\\.yaml:[0-9]+:[0-9]+: .*\\(written to manifests/gen\\.yaml by $y/Kubefile\\.run:2: RUN mkdir" printf '%s\n' "$out"
mkdir -p "$work/ro"; chmod 0555 "$work/ro"
out=$(CIRUN_HOME=$work/home "$cirun" save -o "$work/ro/sub/x.tar" copy:v1 2>&1)
check_out "save to an impossible path names it and the reason, not a temp file" \
    "cannot create '$work/ro/sub/x\.tar': No such file or directory" printf '%s\n' "$out"
check_out "no .partial name in the message" '^0$' bash -c "printf '%s\n' \"\$1\" | grep -c partial || true" _ "$out"
# Interrupts and crashes leave nothing behind. A script's background jobs ignore SIGINT, so
# cirun is started with the default action, as from a terminal. Readers that wait on a FIFO
# hold each verb mid-way deterministically.
dfl=(python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])')
wait_for() { local i; for i in $(seq 200); do eval "$1" && return 0; sleep 0.05; done; return 1; }
store_temps() { find "$1/images/tmp" "$1/build/tmp" -mindepth 1 2>/dev/null | wc -l; }
export -f store_temps
big=$work/ctx-big
mkdir -p "$big/data"
head -c 48M /dev/urandom > "$big/data/random.bin"
printf 'FROM scratch\nCOPY data data\n' > "$big/Kubefile"
check "build a big image (48 MB)" "$cirun" build -t big:v1 "$big" >/dev/null || bail "no big image"
bl=$("$cirun" inspect big:v1 | sed -n 's/^  - id: sha256://p')
blob=$CIRUN_HOME/images/blobs/sha256/$bl
mv "$blob" "$blob.real" && mkfifo "$blob"
{ head -c 20000000 "$blob.real"; sleep 30; } > "$blob" & feeder=$!
mkdir -p "$work/out"
"${dfl[@]}" "$cirun" save -o "$work/out/big.tar" big:v1 & victim=$!
wait_for "[ \$(stat -c %s '$work/out/'big.tar.partial-* 2>/dev/null || echo 0) -gt 10000000 ]"
check_out "save is mid-way (a partial archive of more than 10 MB)" 'partial' bash -c "ls '$work/out'"
kill -INT $victim; wait $victim; rc=$?
kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
rm -f "$blob"; mv "$blob.real" "$blob"
check_out "SIGINT ends save by the signal" '^130$' echo $rc
check_out "no partial archive nor output is left beside the output" '^0$' bash -c "ls -A '$work/out' | wc -l"
check "save works again" "$cirun" save -o "$work/out/big.tar" big:v1

mkfifo "$work/in.fifo"
{ head -c 30000000 "$work/out/big.tar"; sleep 30; } > "$work/in.fifo" & feeder=$!
CIRUN_HOME=$work/home5 "${dfl[@]}" "$cirun" load -i "$work/in.fifo" & victim=$!
wait_for "[ \$(find '$work/home5/images/tmp' -name 'blob-*' -size +10M 2>/dev/null | wc -l) -gt 0 ]"
check_out "load is mid-way (a blob of more than 10 MB staged)" '^[1-9]' bash -c "find '$work/home5/images/tmp' -name 'blob-*' | wc -l"
kill -INT $victim; wait $victim; rc=$?
kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
check_out "SIGINT ends load by the signal" '^130$' echo $rc
check_out "no staged blob, blob or name is left" '^0 0 0$' bash -c \
    "echo \$(store_temps '$work/home5') \$(find '$work/home5/images/blobs' -type f | wc -l) \$(grep -c sha256 '$work/home5/images/index.json')"

slow=$work/ctx-slow
mkdir -p "$slow"
nap=61.$$ # this run's own: a RUN child of an earlier run must not count
printf 'FROM big:v1\nRUN sleep %s\n' "$nap" > "$slow/Kubefile"
"${dfl[@]}" "$cirun" build --no-cache -t slow:v1 "$slow" > /dev/null 2>&1 & victim=$!
wait_for "grep -q '$CIRUN_HOME/build/tmp' /proc/mounts && pgrep -fx 'sleep $nap' >/dev/null"
check "build is mid-way (RUN's overlay is mounted)" grep -q "$CIRUN_HOME/build/tmp" /proc/mounts
kill -INT $victim; wait $victim; rc=$?
check_out "SIGINT ends build by the signal" '^130$' echo $rc
check_out "no overlay mount, scratch dir, staged blob or RUN child is left" '^0 0 0$' bash -c \
    "echo \$(grep -c '$CIRUN_HOME' /proc/mounts) \$(store_temps '$CIRUN_HOME') \$(pgrep -fx 'sleep $nap' | wc -l)"

mv "$blob" "$blob.real" && mkfifo "$blob"
{ head -c 20000000 "$blob.real"; sleep 30; } > "$blob" & feeder=$!
"${dfl[@]}" "$cirun" export big:v1 "$work/exported" & victim=$!
wait_for "[ \$(stat -c %s '$work/exported/data/random.bin' 2>/dev/null || echo 0) -gt 1000000 ]"
kill -TERM $victim; wait $victim; rc=$?
kill $feeder 2>/dev/null; wait $feeder 2>/dev/null
rm -f "$blob"; mv "$blob.real" "$blob"
check_out "SIGTERM ends export by the signal" '^143$' echo $rc
check "and removes the half-written rootfs it created" test ! -e "$work/exported"

# A crash (SIGKILL) cannot clean up: the next writer sweeps what the dead process left.
"$cirun" build --no-cache -t slow:v1 "$slow" > /dev/null 2>&1 & victim=$!
wait_for "grep -q '$CIRUN_HOME/build/tmp' /proc/mounts && pgrep -fx 'sleep $nap' >/dev/null"
kill -KILL $victim; wait $victim 2>/dev/null
for orphan in $(pgrep -fx "sleep $nap"); do kill "$orphan"; done
check_out "a killed build leaves its scratch dir and overlay" '^[1-9]+ [1-9]' bash -c \
    "echo \$(store_temps '$CIRUN_HOME') \$(grep -c '$CIRUN_HOME' /proc/mounts)"
check "the next build runs" "$cirun" build -t copy:v2 "$c"
check_out "and has swept the dead build's leftovers (mount included)" '^0 0$' bash -c \
    "echo \$(store_temps '$CIRUN_HOME') \$(grep -c '$CIRUN_HOME' /proc/mounts)"

printf 'FROM big:v1\nRUN echo x > x\n' > "$slow/Kubefile"
check "a build FROM the big image unpacks its layer" "$cirun" build -t onbig:v1 "$slow"
check "rmi the child image" "$cirun" rmi onbig:v1
check_out "prune frees the unpacked copy and stale cache entries" '^pruned [0-9]+ blobs, freed (4[89]|5[0-9])\.[0-9] MB$' "$cirun" prune
check_out "a second prune has nothing left to free" '^pruned 0 blobs, freed 0\.0 MB$' "$cirun" prune
check "big:v1 still exports after prune" "$cirun" export big:v1 "$work/big-after-prune"
summary
