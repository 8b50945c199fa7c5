#!/usr/bin/env bash
# The command line as a new user meets it, no lab and no root needed: every verb's help,
# usage errors, read-only verbs that never create the store, the local quick start
# (build, inspect, save, load, also through a pipe), rmi by ID, every bad flag of run and
# apply refused (exit 2) before any connection, and --dry-run printing its plan without
# contacting a host. Host addresses are loopback ones on port 1 (nothing listens there):
# no packet can leave this machine whatever cirun does, and strace (when present) proves
# that no connection is even attempted.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
T_NAME=e2e-cli
. "$top/tests/lib.sh"
cirun=${CIRUN_BIN:-$top/build/cirun}  # CIRUN_BIN: test another build
[ -x "$cirun" ] || bail "build/cirun is missing: run make first"
work=$(mktemp -d /tmp/cirun-e2e-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || bail "no work dir"  # whatever a verb writes by mistake lands here
export CIRUN_HOME=$work/home
unset CIRUN_SSH_PASSWORD
hosts=(-m 127.0.0.11:1 -n 127.0.0.12:1,127.0.0.13:1)

# cli OUT ERR ARGS…: runs cirun, stdout and stderr into files; returns its exit code
cli() { local o=$1 e=$2; shift 2; "$cirun" "$@" >"$o" 2>"$e"; }
no_home() { [ ! -e "$CIRUN_HOME" ]; }

# ---- help and usage errors, for every verb the help lists ----
verbs=$("$cirun" --help | sed -n '/^commands/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
check_out "cirun --help lists the verbs" '^run join delete status clusters build images inspect save load tag rmi export ' \
    bash -c "printf '%s\n' \"\$1\" | tr '\n' ' ' | sed 's/apply //'" _ "$verbs"
for v in $verbs; do
    rc=0; cli "$work/h1" "$work/e1" "$v" --help || rc=$?
    check "$v --help: exit 0, usage on stdout, nothing on stderr" \
        bash -c "[ $rc = 0 ] && grep -q '^usage: cirun $v' '$work/h1' && [ ! -s '$work/e1' ]"
    cli "$work/h2" "$work/e2" "$v" -h
    cli "$work/h3" "$work/e3" help "$v"
    check "$v -h and 'cirun help $v' print the same" cmp "$work/h1" "$work/h2"
    check "'cirun help $v' prints the same" cmp "$work/h1" "$work/h3"
    rc=0; cli "$work/o" "$work/e" "$v" --bogus || rc=$?
    check "$v --bogus: exit 2, usage on stderr, nothing on stdout" \
        bash -c "[ $rc = 2 ] && grep -q 'usage: cirun $v' '$work/e' && [ ! -s '$work/o' ]"
    check "$v --help/--bogus touched nothing (CIRUN_HOME absent)" no_home
done
check "cirun with no command: exit 2" bash -c "! '$cirun' 2>/dev/null; [ \$? ] && { '$cirun' >/dev/null 2>&1; [ \$? = 2 ]; }"
check "an unknown command: exit 2" bash -c "'$cirun' frobnicate 2>/dev/null; [ \$? = 2 ]"
check "help of an unknown command: exit 2" bash -c "'$cirun' help frobnicate 2>/dev/null; [ \$? = 2 ]"
check "run's help names the preflight checks" grep -q 'hostname, machine-id, clock,' <("$cirun" run --help)
check "save and load spell the long options as sealer does" \
    bash -c "'$cirun' save --help | grep -q -- '-o, --output FILE' && '$cirun' load --help | grep -q -- '-i, --input FILE'"

# ---- read-only verbs never create the store ----
check_out "images without a store: the header, exit 0" '^NAME +IMAGE ID' "$cirun" images
check_out "inspect without a store: not found" "no image 'app:v1': there is no image store" \
    bash -c "! '$cirun' inspect app:v1 2>&1"
check "save without a store: fails, writes no file" bash -c "! '$cirun' save -o '$work/x.tar' app:v1 2>/dev/null && [ ! -e '$work/x.tar' ]"
check "export without a store: fails" bash -c "! '$cirun' export app:v1 '$work/x' 2>/dev/null"
check "export of an unknown image leaves no directory" bash -c "[ ! -e '$work/x' ]"
check_out "prune without a store: nothing to prune, exit 0" '^pruned 0 blobs' "$cirun" prune
check "none of them created CIRUN_HOME" no_home
check_out "CIRUN_HOME set but empty is refused (exit 2)" '^CIRUN_HOME is set but empty' \
    bash -c "CIRUN_HOME= '$cirun' images 2>&1; [ \$? = 2 ]"
check_out "also for verbs that write" '^CIRUN_HOME is set but empty' bash -c "CIRUN_HOME= '$cirun' load -i /dev/null 2>&1; [ \$? = 2 ]"

# ---- the local quick start, as any user ----
ctx=$work/ctx
mkdir -p "$ctx/etc" "$ctx/bin" "$ctx/scripts"
printf 'FROM scratch\nCOPY . .\nCMD echo hello\n' > "$ctx/Kubefile"
printf '[Service]\nExecStart=/usr/local/bin/hello\n' > "$ctx/etc/demo.service"
printf '#!/bin/sh\necho hello\n' > "$ctx/bin/hello"
printf 'echo init\n' > "$ctx/scripts/init.sh"
chmod +x "$ctx/bin/hello"
check "build (COPY and CMD only: no root needed)" "$cirun" build -t demo:v1 "$ctx" || bail "no image to work with"
id=$("$cirun" inspect demo:v1 | sed -n "s/^  id: //p" | tr -d "'")
check_out "inspect by name" '^kind: Image' "$cirun" inspect demo:v1
check_out "inspect by ID prefix" "^  id: '?$id'?$" "$cirun" inspect "${id:0:12}"
check "save -o FILE" "$cirun" save -o "$work/demo.tar" demo:v1
check "save --output FILE" "$cirun" save --output "$work/demo2.tar" demo:v1
check "both archives are the same" cmp "$work/demo.tar" "$work/demo2.tar"
check_out "save -o - streams the archive to stdout (the message goes to stderr)" '^same$' \
    bash -c "'$cirun' save -o - demo:v1 2>/dev/null | cmp - '$work/demo.tar' && echo same"
check_out "load -i FILE into another store" 'Loaded image: demo:v1' env CIRUN_HOME="$work/home2" "$cirun" load -i "$work/demo.tar"
check_out "save -o - | load -i -: a pipe end to end" 'Loaded image: demo:v1' \
    bash -c "'$cirun' save -o - demo:v1 | CIRUN_HOME='$work/home3' '$cirun' load --input -"
check_out "the piped image has the same ID" "^  id: '?$id'?$" env CIRUN_HOME="$work/home3" "$cirun" inspect demo:v1
check_out "load -i - refuses garbage on stdin, nothing kept" 'nothing was loaded' \
    bash -c "! echo garbage | CIRUN_HOME='$work/home4' '$cirun' load -i - 2>&1"
check_out "the refused load kept no image" '^0$' bash -c "CIRUN_HOME='$work/home4' '$cirun' images | tail -n +2 | wc -l"
check_out "save -o - refuses a terminal" 'terminal' bash -c "script -qec \"'$cirun' save -o - demo:v1\" /dev/null 2>&1; true"

# ---- rmi by ID ----
check "tag a second name" "$cirun" tag demo:v1 demo:v2
check_out "rmi ID of an image with two names is refused, naming them" 'has 2 names \(demo:v1, demo:v2\)' \
    bash -c "! '$cirun' rmi '${id:0:12}' 2>&1"
check "rmi by name" "$cirun" rmi demo:v2
check_out "rmi by ID prefix removes its one name" '^Untagged: demo:v1$' "$cirun" rmi "${id:0:8}"
check_out "the store is empty again" '^0$' bash -c "'$cirun' images | tail -n +2 | wc -l"
check "load it back for the run checks" "$cirun" load -i "$work/demo.tar"

# ---- run and apply: every bad flag refused before any connection ----
have_strace=0
if command -v strace >/dev/null && strace -f -qq -e trace=connect -o /dev/null true 2>/dev/null; then
    have_strace=1
fi
# traced OUT ARGS…: runs cirun (under strace when it works), all output into OUT; the
# socket connections it attempted go to OUT.connect
traced() {
    local o=$1; shift
    if [ $have_strace = 1 ]; then
        strace -f -qq -e trace=connect -o "$o.trace" "$cirun" "$@" >"$o" 2>&1
        local rc=$?
        grep -E 'AF_INET6?[,}]' "$o.trace" > "$o.connect"
        return $rc
    fi
    : > "$o.connect"
    "$cirun" "$@" >"$o" 2>&1
}
# refused DESC PATTERN ARGS…: exit 2, PATTERN in the output, no connection attempted
refused() {
    local desc=$1 pat=$2 rc=0; shift 2
    traced "$work/r" "$@" || rc=$?
    if [ $rc = 2 ] && grep -Eq -- "$pat" "$work/r" && [ ! -s "$work/r.connect" ]; then
        ok "$desc"
    else
        not_ok "$desc (exit $rc, $(wc -l < "$work/r.connect") connection(s) tried; wanted exit 2, /$pat/, none)"
        sed 's/^/#   /' "$work/r" "$work/r.connect" | tail -n 12
    fi
}
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGsv me@host\n' > "$work/id.pub"
: > "$work/empty"
refused "--skip-preflight with an unknown check, listing the known ones" "unknown check 'dsk'.*hostname, machine-id, clock, arch, systemd, disk, capabilities" \
    run demo:v1 "${hosts[@]}" -p pw --skip-preflight=clock,dsk
refused "--pk that does not exist" "SSH key '$work/nope'" run demo:v1 "${hosts[@]}" --pk "$work/nope"
refused "--pk that is a public key" "is a public key" run demo:v1 "${hosts[@]}" --pk "$work/id.pub"
refused "--pk that is a directory" "not a regular file" run demo:v1 "${hosts[@]}" --pk "$work"
refused "--pk-passwd without --pk" "--pk-passwd is the passphrase of a key" run demo:v1 "${hosts[@]}" -p pw --pk-passwd x
refused "--passwd-file that does not exist" "--passwd-file '$work/nope'" run demo:v1 "${hosts[@]}" --passwd-file "$work/nope"
refused "--passwd-file that is empty" "is empty" run demo:v1 "${hosts[@]}" --passwd-file "$work/empty"
refused "an image that is not in the store" "no image 'nope:v1'" run nope:v1 "${hosts[@]}" -p pw
refused "an address that is not one" "not an IP address" run demo:v1 -m 10.0.0.300 -p pw
refused "a port out of range" "--port '70000'" run demo:v1 "${hosts[@]}" -p pw --port 70000
refused "a bad --timeout" "--timeout '5x'" run demo:v1 "${hosts[@]}" -p pw --timeout 5x
refused "a --timeout that overflows" "--timeout '99999999999999999999h'" run demo:v1 "${hosts[@]}" -p pw --timeout 99999999999999999999h
refused "a zero --connect-timeout" "--connect-timeout '0'" run demo:v1 "${hosts[@]}" -p pw --connect-timeout 0
refused "a bad --parallel" "--parallel '0'" run demo:v1 "${hosts[@]}" -p pw --parallel 0
refused "a bad --output" "--output 'xml'" run demo:v1 "${hosts[@]}" -p pw --output xml
refused "an env key that is not a shell identifier" "not a shell identifier" run demo:v1 "${hosts[@]}" -p pw -e bad-key=1
refused "a bad cluster name" "--cluster-name 'Bad_Name!'" run demo:v1 "${hosts[@]}" -p pw --cluster-name 'Bad_Name!'
refused "an empty -u" "-u '' is not a user name" run demo:v1 "${hosts[@]}" -p pw -u ''
refused "no credentials" "no SSH credentials" run demo:v1 "${hosts[@]}"
refused "an unknown option" "usage: cirun run" run demo:v1 "${hosts[@]}" -p pw --bogus
refused "sealer style without the verb, bad flag" "unknown check 'x'" "${hosts[@]}" -p pw --skip-preflight=x demo:v1
refused "apply: a Clusterfile that does not exist" "cannot read the Clusterfile" apply -f "$work/nope.yaml"
printf 'kind: Clustr\nmetadata: {name: c}\n' > "$work/cf-kind.yaml"
refused "apply: an unknown kind, naming the known ones" "unknown kind 'Clustr'; the known kinds are Cluster, Plugin" apply -f "$work/cf-kind.yaml"
cat > "$work/cf-pk.yaml" <<EOF
kind: Cluster
metadata: {name: c}
spec:
  image: demo:v1
  ssh: {pk: $work/id.pub}
  hosts: [{ips: [127.0.0.11:1], roles: [master]}]
EOF
refused "apply: a Clusterfile's ssh.pk that is a public key" "is a public key" apply -f "$work/cf-pk.yaml"
refused "apply: an unknown --skip-preflight name" "unknown check 'nope'" apply -f "$work/cf-pk.yaml" --skip-preflight=nope

# An empty password is no credential: refused, naming where it came from, before connecting.
refused "an empty -p" "-p: the SSH password is empty" run demo:v1 "${hosts[@]}" -p ''
CIRUN_SSH_PASSWORD= refused "an empty CIRUN_SSH_PASSWORD" "CIRUN_SSH_PASSWORD is set but empty" run demo:v1 "${hosts[@]}"
cat > "$work/cf-nopw.yaml" <<EOF
kind: Cluster
metadata: {name: c}
spec:
  image: demo:v1
  ssh: {passwd: ""}
  hosts: [{ips: [127.0.0.11:1], roles: [master]}]
EOF
refused "apply: a Clusterfile's empty ssh.passwd, naming file:line" "cf-nopw\.yaml:5:[0-9]+: spec\.ssh\.passwd: .*empty" apply -f "$work/cf-nopw.yaml"
cat > "$work/cf-nopw2.yaml" <<EOF
kind: Cluster
metadata: {name: c}
spec:
  image: demo:v1
  ssh: {passwd: pw}
  hosts: [{ips: [127.0.0.11:1], roles: [master], ssh: {passwd: ''}}]
EOF
refused "apply: a host's empty ssh.passwd" "cf-nopw2\.yaml:6:[0-9]+: spec\.hosts\[0\]\.ssh\.passwd: .*empty" apply -f "$work/cf-nopw2.yaml"
cat > "$work/cf-envpw.yaml" <<EOF
kind: Cluster
metadata: {name: c}
spec:
  image: demo:v1
  hosts: [{ips: [127.0.0.11:1], roles: [master]}]
EOF
CIRUN_SSH_PASSWORD= refused "apply: an empty CIRUN_SSH_PASSWORD it would use" "CIRUN_SSH_PASSWORD is set but empty" apply -f "$work/cf-envpw.yaml"
# ---- --dry-run: the plan, no host contacted ----
t0=$(date +%s%N)
rc=0; traced "$work/dry" run demo:v1 "${hosts[@]}" -p Secr3t-dry -e A=1 --dry-run || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# dry run took $ms ms (strace: $have_strace)"
check "--dry-run against hosts that cannot be reached: exit 0" test "$rc" = 0
check "--dry-run attempted no connection" test ! -s "$work/dry.connect"
check "--dry-run finished quickly (under 10 s)" test "$ms" -lt 10000
check_out "--dry-run says so" '^DRY RUN — nothing will be changed, and no host is contacted$' cat "$work/dry"
check_out "--dry-run names the phases (the image has a CMD: replayed on master0)" '^phases: connect, agent, facts and preflight, journal, distribute, setup, hosts, init, cmd \(on master0\)$' cat "$work/dry"
check_out "--dry-run lists the CMD" '^  CMD 1/1: echo hello$' cat "$work/dry"
check_out "--dry-run: master0 and its ssh" '^\[127\.0\.0\.11\] plan \(master0\): ssh root@127\.0\.0\.11 port 1 with a password$' cat "$work/dry"
check_out "--dry-run: every node" '^\[127\.0\.0\.13\] plan \(node\):' cat "$work/dry"
check_out "--dry-run: layers with bytes" '^  layer sha256:[0-9a-f]{12} +[0-9]+ bytes$' cat "$work/dry"
check_out "--dry-run: bytes per host" '^  sends at most 1 layer\(s\), [0-9]+ bytes' cat "$work/dry"
check_out "--dry-run: units" '^  units: demo.service$' cat "$work/dry"
check_out "--dry-run: PATH" '^  PATH: hello$' cat "$work/dry"
check_out "--dry-run: scripts" '^  scripts/init.sh: runs, with 1 env variable\(s\)$' cat "$work/dry"
check "--dry-run shows the password nowhere (output, run log)" bash -c "! grep -rqF Secr3t-dry '$work/dry' '$CIRUN_HOME/logs'"
cat > "$work/cf.yaml" <<EOF
kind: Cluster
metadata: {name: cf-dry}
spec:
  image: demo:v1
  ssh: {passwd: secret-pw}
  hosts:
    - {ips: [127.0.0.21:1], roles: [master]}
    - {ips: [127.0.0.22:1], roles: [node]}
EOF
rc=0; traced "$work/adry" apply -f "$work/cf.yaml" --dry-run || rc=$?
check "apply --dry-run: exit 0, no connection" bash -c "[ $rc = 0 ] && [ ! -s '$work/adry.connect' ]"
check_out "apply --dry-run: the Clusterfile's hosts" '^\[127\.0\.0\.22\] plan \(node\)' cat "$work/adry"
# sealer's v1 Cluster is converted (it was refused); a misspelt Plugin field is refused
cat > "$work/cf-v1.yaml" <<EOF
apiVersion: zlink.aliyun.com/v1alpha1
kind: Cluster
metadata: {name: cf-v1}
spec:
  image: demo:v1
  ssh: {passwd: secret-pw}
  masters: {ipList: [127.0.0.31:1]}
  nodes: {ipList: [127.0.0.32:1]}
EOF
rc=0; traced "$work/av1" apply -f "$work/cf-v1.yaml" --dry-run || rc=$?
check "apply --dry-run of a v1 Cluster: exit 0, no connection" bash -c "[ $rc = 0 ] && [ ! -s '$work/av1.connect' ]"
check_out "apply: a v1 Cluster's nodes.ipList are nodes" '^\[127\.0\.0\.32\] plan \(node\)' cat "$work/av1"
{ cat "$work/cf.yaml"; printf -- '---\napiVersion: sealer.aliyun.com/v1alpha1\nkind: Plugin\nmetadata: {name: p}\nspec:\n  type: SHELL\n  acton: PreInit\n'; } > "$work/cf-plugin.yaml"
refused "apply: a Plugin's misspelt field, naming file:line" "cf-plugin\.yaml:15:[0-9]+: spec: unknown field 'acton'" apply -f "$work/cf-plugin.yaml"

summary
