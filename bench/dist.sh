#!/usr/bin/env bash
# bench/dist.sh [--small] [N_HOSTS]: the distribution benchmark of issue 9, side by side on
# N lab hosts (default 1). The payload (1.1 GB: ~680 MB of real ELF binaries from /usr/bin
# and /usr/lib, copied again with every 4 KiB block changed per copy so nothing dedups,
# 300 MB of incompressible archives, 4,000 small files) is built once and cached under
# $BENCH_CACHE, keyed by its recipe and the source files. Then, in rounds (the order of the
# methods rotates each round) with every host emptied before each method:
#   tar|ssh      tar -c | ssh host tar -x, to every host in parallel (OpenSSH, lab password)
#   rsync        rsync -a over the same ssh, to every host in parallel
#   cirun        cirun run of an image holding the payload (first copy), then the same
#                run again (re-run: nothing should be sent)
# and prints each median, its ratio to tar|ssh, the bytes on the wire (the hosts' veth
# counters, both directions) and cirun's peak RSS. A benchmark, not a test: it never fails
# on timing; it fails only when the lab or a method does not work. Needs root (the lab).
#
# Knobs (env): BENCH_ROUNDS (3), BENCH_SMALL=1 or --small (a payload 1/16 the size, one
# round unless BENCH_ROUNDS is set: for trying the script), BENCH_CACHE
# (/var/cache/cirun-lab/bench), BENCH_PERF=1 (one more cirun first copy under
# `perf record -a -g`, then the top symbols of cirun and cirun-agent), and the lab's own
# CIRUN_LAB_PREFIX / CIRUN_LAB_SUBNET (default cirbench / 10.213.30).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
small=${BENCH_SMALL:-0}
hosts=1
for arg in "$@"; do
    case $arg in
        --small) small=1 ;;
        *) hosts=$arg ;;
    esac
done
[[ $hosts =~ ^[1-9][0-9]?$ ]] || { echo "usage: bench/dist.sh [--small] [N_HOSTS 1-99]" >&2; exit 2; }
rounds=${BENCH_ROUNDS:-$([ "$small" = 1 ] && echo 1 || echo 3)}
cache=${BENCH_CACHE:-/var/cache/cirun-lab/bench}
export CIRUN_LAB_PREFIX=${CIRUN_LAB_PREFIX:-cirbench} CIRUN_LAB_SUBNET=${CIRUN_LAB_SUBNET:-10.213.30}
lab=$top/tests/lab/lab.sh
cirun=$top/${BUILD:-build}/cirun
pw=${CIRUN_LAB_PASSWORD:-cirun-lab}
[ "$(id -u)" = 0 ] || { echo "bench/dist.sh: the lab needs root" >&2; exit 1; }
[ -x "$cirun" ] || { echo "bench/dist.sh: build cirun first (make)" >&2; exit 1; }
for tool in rsync sshpass python3 /usr/bin/time; do
    command -v "$tool" > /dev/null || { echo "bench/dist.sh: $tool is missing (apt-get install ${tool##*/})" >&2; exit 1; }
done

work=$(mktemp -d /tmp/cirun-bench-dist.XXXXXX)
export CIRUN_HOME=$work/home
trap 'bash "$lab" down > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
say() { echo "# $*" >&2; }

# ---- the payload, cached ------------------------------------------------------------
if [ "$small" = 1 ]; then elf_mb=42 arch_mb=19 nsmall=400; else elf_mb=680 arch_mb=300 nsmall=4000; fi
payload_py=$(cat <<'PY'
import hashlib, os, random, stat, sys
mode, elf_bytes, arch_bytes, nsmall = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]) << 20, int(sys.argv[4])

def sources():
    out = []
    for root in ("/usr/bin", "/usr/lib"):
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                try:
                    st = os.lstat(p)
                    if not stat.S_ISREG(st.st_mode) or not 16 << 10 <= st.st_size <= 64 << 20:
                        continue
                    with open(p, "rb") as fh:
                        if fh.read(4) != b"\x7fELF":
                            continue
                except OSError:
                    continue
                out.append((p, st.st_size, int(st.st_mtime)))
    return out

srcs = sources()
if mode == "key":
    h = hashlib.sha256(sys.argv[5].encode())  # the recipe: this program's hash and the sizes
    for s in srcs:
        h.update(("%s %d %d\n" % s).encode())
    print(h.hexdigest()[:16])
    sys.exit(0)

dest = sys.argv[5]
rng = random.Random(9)
total, copy = 0, 0
while total < elf_bytes:
    for p, size, _ in srcs:
        data = open(p, "rb").read()
        if copy:
            # every 4 KiB block differs from the other copies: no block- or file-level dedup
            b = bytearray(data)
            for off in range((copy * 61) % 4096, len(b), 4096):
                b[off] ^= ((copy * 131 + off // 4096) % 255) + 1
            data = bytes(b)
        q = os.path.join(dest, "elf", "c%d" % copy, p.lstrip("/"))
        os.makedirs(os.path.dirname(q), exist_ok=True)
        with open(q, "wb") as fh:
            fh.write(data)
        os.chmod(q, 0o755)
        total += len(data)
        if total >= elf_bytes:
            break
    copy += 1
os.makedirs(os.path.join(dest, "archives"))
left, i = arch_bytes, 0
while left > 0:
    n = min(left, 10 << 20)
    with open(os.path.join(dest, "archives", "a%03d.tar.zst" % i), "wb") as fh:
        fh.write(rng.randbytes(n))
    left -= n
    i += 1
words = ["apiVersion", "kind", "metadata", "name", "spec", "image", "replicas", "labels",
         "containers", "ports", "value", "data", "namespace", "selector", "volumes"]
for i in range(nsmall):
    q = os.path.join(dest, "small", "d%02d" % (i // 100), "f%04d.yaml" % i)
    os.makedirs(os.path.dirname(q), exist_ok=True)
    lines, size = [], rng.randint(100, 8000)
    while sum(map(len, lines)) < size:
        lines.append("%s: %s-%d\n" % (rng.choice(words), rng.choice(words), rng.randint(0, 99999)))
    with open(q, "w") as fh:
        fh.writelines(lines)
PY
)
recipe="elf=$elf_mb arch=$arch_mb small=$nsmall $(printf '%s' "$payload_py" | sha256sum | cut -c1-16)"
key=$(python3 -c "$payload_py" key "$elf_mb" "$arch_mb" "$nsmall" "$recipe")
payload=$cache/payload-$key
if [ ! -d "$payload" ]; then
    say "building the payload ($recipe) in $payload"
    mkdir -p "$cache"
    rm -rf "$payload.tmp"
    python3 -c "$payload_py" build "$elf_mb" "$arch_mb" "$nsmall" "$payload.tmp"
    mv "$payload.tmp" "$payload"
fi
pbytes=$(du -sb "$payload" | cut -f1)
pfiles=$(find "$payload" -type f | wc -l)

# ---- the image and the lab ------------------------------------------------------------
say "building the image of the payload"
ctx=$work/ctx
mkdir -p "$ctx"
printf 'FROM scratch\nCOPY . .\n' > "$ctx/Kubefile"
# the build context is the cached payload itself plus the Kubefile, without a copy
t0=$(date +%s%N)
"$cirun" build -t "bench-dist:$key" -f "$ctx/Kubefile" "$payload" > /dev/null
build_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
layer_bytes=$(du -sb "$CIRUN_HOME/images/blobs" 2>/dev/null | cut -f1 || echo 0)

say "lab: $hosts host(s) as $CIRUN_LAB_PREFIX on $CIRUN_LAB_SUBNET.0/24"
bash "$lab" up "$hosts" > /dev/null
mapfile -t ips < <(bash "$lab" ips)
sshopts=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
         -o ConnectTimeout=5 -o PreferredAuthentications=password,keyboard-interactive
         -o PubkeyAuthentication=no)
export SSHPASS=$pw
hssh() { local ip=$1; shift; sshpass -e ssh "${sshopts[@]}" "root@$ip" "$@"; }

# rsync on the hosts: the lab's rootfs has none, and the shared recipe stays as it is; the
# control machine's binary goes in with the libraries it needs, under /opt/bench-rsync
rs_bundle=$work/rsync-bundle
mkdir -p "$rs_bundle"
cp /usr/bin/rsync "$rs_bundle/"
ldd /usr/bin/rsync | awk '$3 ~ /^\// && $1 !~ /^libc\.so/ {print $3}' | xargs -r cp -L -t "$rs_bundle"
for ip in "${ips[@]}"; do
    tar -C "$rs_bundle" -cf - . | hssh "$ip" 'mkdir -p /opt/bench-rsync && tar -C /opt/bench-rsync -xf -'
done
rsync_path="LD_LIBRARY_PATH=/opt/bench-rsync /opt/bench-rsync/rsync"

wire() { # the bytes through every host's veth so far, both directions
    local i s=0 v
    for ((i = 1; i <= hosts; i++)); do
        v=/sys/class/net/$CIRUN_LAB_PREFIX-v$i/statistics
        s=$((s + $(cat "$v/rx_bytes") + $(cat "$v/tx_bytes")))
    done
    echo "$s"
}
# Back to a host cirun never saw: its data, and what its hosts phase put outside it (the
# containerd mirror files and the /etc/hosts block), which a next first copy would
# otherwise refuse as files it did not install (the install record went with the data).
empty_hosts() {
    local ip
    for ip in "${ips[@]}"; do
        hssh "$ip" 'rm -rf /root/bench /var/lib/cirun /etc/containerd/certs.d
            sed -i "/^# BEGIN cirun /,/^# END cirun /d" /etc/hosts; sync' &
    done
    wait
}
parallel() { # CMD…: runs CMD IP for every host at once; fails when one fails
    local ip pids=() rc=0
    for ip in "${ips[@]}"; do "$@" "$ip" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}
tar_one() { tar -C "$payload" -cf - . | hssh "$1" 'mkdir -p /root/bench && tar -C /root/bench -xf -'; }
rsync_one() {
    rsync -a -e "sshpass -e ssh ${sshopts[*]}" --rsync-path="$rsync_path" "$payload/" "root@$1:/root/bench/"
}
cirun_args=(-m "${ips[0]}" -p "$pw")
[ "$hosts" -gt 1 ] && cirun_args+=(-n "$(IFS=,; echo "${ips[*]:1}")")
cirun_run() {
    /usr/bin/time -f %M -o "$work/rss" "$cirun" run "bench-dist:$key" "${cirun_args[@]}" > "$work/cirun.out" 2>&1
}

# one measurement: NAME CMD… → appends "ms wire rss" to $work/NAME; "failed" when it fails
measure() {
    local name=$1 w0 t0 ms rc=0; shift
    w0=$(wire)
    t0=$(date +%s%N)
    rm -f "$work/rss" "$work/cirun.out"
    "$@" || rc=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "$((t0 / 1000000)) $ms" > "$work/$name.span"
    if [ "$rc" != 0 ]; then
        say "$name failed (exit $rc)"
        [ -f "$work/cirun.out" ] && tail -n 5 "$work/cirun.out" >&2
        echo failed >> "$work/$name"
        return 0
    fi
    local rss=-
    [ -f "$work/rss" ] && rss=$(tail -n 1 "$work/rss")
    echo "$ms $(( $(wire) - w0 )) $rss" >> "$work/$name"
    say "round $r: $name ${ms} ms"
}

methods=(tar rsync cirun)
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        m=${methods[$(( (k + r - 1) % 3 ))]}
        empty_hosts
        case $m in
            tar) measure tar-ssh parallel tar_one ;;
            rsync) measure rsync parallel rsync_one ;;
            cirun)
                measure cirun-first cirun_run
                cp "$work/cirun.out" "$work/cirun-first.out"
                ls -t "$CIRUN_HOME"/logs/*.log | head -n 1 > "$work/cirun-first.log"
                measure cirun-rerun cirun_run
                cp "$work/cirun.out" "$work/cirun-rerun.out"
                ls -t "$CIRUN_HOME"/logs/*.log | head -n 1 > "$work/cirun-rerun.log" ;;
        esac
    done
done

# ---- figures ---------------------------------------------------------------------------
median() { # FILE COLUMN: the median of the rounds that did not fail
    grep -v failed "$1" 2>/dev/null | awk -v c="$2" '{print $c}' | sort -n |
        awk '{v[NR] = $1} END {if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
base=$(median "$work/tar-ssh" 1)
echo "payload: $((pbytes >> 20)) MiB in $pfiles files ($elf_mb MiB ELF, $arch_mb MiB random archives, $nsmall small files); image layers $((layer_bytes >> 20)) MiB, built in $build_ms ms"
echo "hosts: $hosts, rounds: $rounds, $(nproc) cores; medians (tar|ssh = 1.00):"
printf '%-14s %10s %7s %14s %12s\n' METHOD MEDIAN_MS RATIO WIRE_MIB PEAK_RSS_MIB
for name in tar-ssh rsync cirun-first cirun-rerun; do
    ms=$(median "$work/$name" 1)
    wb=$(median "$work/$name" 2)
    rss=$(median "$work/$name" 3)
    ratio=-
    [[ $ms =~ ^[0-9]+$ && $base =~ ^[1-9][0-9]*$ ]] && ratio=$(awk -v a="$ms" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
    [[ $wb =~ ^[0-9]+$ ]] && wb=$((wb >> 20))
    [[ $rss =~ ^[0-9]+$ ]] && rss=$((rss >> 10))
    fails=$(grep -c failed "$work/$name" 2>/dev/null || true)
    printf '%-14s %10s %7s %14s %12s%s\n' "$name" "$ms" "$ratio" "$wb" "$rss" "$([ "${fails:-0}" -gt 0 ] && echo "  ($fails failed)")"
done
sent=$(awk '$2 ~ /^(master0|node)$/ {s += $6} END {print s + 0}' "$work/cirun-rerun.out" 2>/dev/null || echo "?")
echo "cirun re-run: $sent layer bytes sent (the summary's SENT column)"
# Where the time of the last round's runs went: each phase from its header line in the run
# log to the next (all hosts, the installer's own work included), and from the log's first
# line to the phases and from the last phase to the log's end.
timeline() { # LOG START_MS WALL_MS
    local first
    first=$(date -d "$(head -n 1 "$1" | cut -d' ' -f1)" +%s%3N)
    echo "  before the run log's first line (loading the image, the checks of the run) $((first - $2))"
    awk -v wall="$3" -v before="$((first - $2))" '{ split(substr($1, 12, 12), t, ":"); ms = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000
           if (NR == 1) first = ms; last = ms
           if ($2 == "==>") { if (name != "") out = out sprintf("%s %d, ", name, ms - at); else pre = ms - first
                              name = $3; at = ms } }
         END { if (name != "") out = out sprintf("%s %d", name, last - at)
               printf "  %s; after the log %d; wall %d\n", out, wall - before - (last - first), wall }' "$1"
}
for run in first rerun; do
    log=$(cat "$work/cirun-$run.log" 2>/dev/null || true)
    [ -n "$log" ] && [ -f "$log" ] || continue
    read -r start wall < "$work/cirun-$run.span" || continue
    echo "cirun $run, ms per phase (run log, last round):"
    timeline "$log" "$start" "$wall"
done

if [ "${BENCH_PERF:-0}" = 1 ]; then
    empty_hosts
    say "profiling one cirun first copy (perf record -a -g)"
    perf record -q -a -g -o "${BENCH_PERF_DATA:-$work/perf.data}" -- "$cirun" run "bench-dist:$key" "${cirun_args[@]}" > /dev/null 2>&1 || true
    # system-wide: whatever else runs on the machine shows too
    echo "perf: CPU time by process (all CPUs, self %):"
    { perf report -q -i "${BENCH_PERF_DATA:-$work/perf.data}" --no-children -g none --sort comm 2>/dev/null || true; } |
        { grep -v '^$' || true; } | head -n 10 | sed 's/^/  /'
    # the agent's binary is on the hosts, not here: its symbols come from build/ (--symfs),
    # which hides the kernel's; the split by dso says how much of it is the kernel's
    symfs=$work/symfs
    mkdir -p "$symfs/var/lib/cirun/bin"
    cp "$top/${BUILD:-build}/cirun-agent" "$symfs/var/lib/cirun/bin/"
    for comm in cirun cirun-agent; do
        for sort in dso dso,sym; do
            echo "perf: $comm by $sort (self %, of that process):"
            { perf report -q -i "${BENCH_PERF_DATA:-$work/perf.data}" --comms "$comm" --no-children \
                -g none --percentage relative --sort "$sort" \
                $([ "$comm,$sort" = cirun-agent,dso,sym ] && echo "--symfs=$symfs") 2>/dev/null || true; } |
                { grep -v '^$' || true; } | head -n $([ "$sort" = dso ] && echo 5 || echo 12) | sed 's/^/  /'
        done
    done
fi
