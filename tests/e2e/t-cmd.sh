#!/usr/bin/env bash
# CMD replay on 1 real lab host: a base image's CMD, then its child's two, in that order,
# with an ARG overridden by --cmd-args and by a Clusterfile's spec.cmd_args (the flag
# winning), quotes kept, run in the rootfs with the host's env and their output streamed;
# a failing CMD stops the run naming it and its exit code, the later CMDs not run;
# --dry-run lists the CMDs expanded.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-cmd ciruncmd 10.213.15

# ---- the images: no lab needed ----
mkdir -p "$work/ctx/etc"
echo x > "$work/ctx/etc/cmd-test.txt"
cat > "$work/Kubefile.base" <<'KF'
FROM scratch
COPY etc .
ARG Greeting=hello
CMD echo "base $Greeting in $(basename "$PWD")" | tee -a record
KF
cat > "$work/Kubefile.child" <<'KF'
FROM cmdbase:v1
ARG Version=1.0
CMD echo "child one ${Version} for $Who" >> record
CMD echo 'child two $Version' "quoted  $Version" >> record
KF
cat > "$work/Kubefile.fail" <<'KF'
FROM cmdchild:v1
CMD echo three >> record; exit 3
CMD echo four >> record
KF
check "build the base image (one CMD)" "$cirun" build -t cmdbase:v1 -f "$work/Kubefile.base" "$work/ctx" || bail "no base image"
check "build the child image (two CMDs and an ARG)" "$cirun" build -t cmdchild:v1 -f "$work/Kubefile.child" "$work/ctx" || bail "no child image"
check "build an image whose 4th CMD fails" "$cirun" build -t cmdfail:v1 -f "$work/Kubefile.fail" "$work/ctx" || bail "no failing image"

plan=$("$cirun" run cmdchild:v1 -m 10.0.0.9 -p x --cmd-args Version=2.0 --dry-run 2>&1)
check_out "--dry-run: the plan lists the phase" '^phases: .*, init, cmd \(on master0\)$' printf '%s\n' "$plan"
check_out "--dry-run: CMD 1/3 is the base image's" '^  CMD 1/3: echo "base hello in \$\(basename "\$PWD"\)" \| tee -a record$' printf '%s\n' "$plan"
check_out "--dry-run: CMD 3/3 expanded, quotes kept" "^  CMD 3/3: echo 'child two \\\$Version' \"quoted  2.0\" >> record$" printf '%s\n' "$plan"
check_out "--cmd-args: a bad item is refused before anything" '--cmd-args.*b c' \
    bash -c "! '$cirun' run cmdchild:v1 -m 10.0.0.9 -p x --cmd-args 'A=1,b c=2' --dry-run 2>&1"

# ---- on a host ----
lab_begin 1
record() { hostssh 1 cat "/var/lib/cirun/data/$1/rootfs/record"; }

out=$("$cirun" run cmdchild:v1 -m "$ip1" -p "$pw" -e Who=operator --cmd-args Version=2.0 2>&1)
check_out "run: master0 went through the cmd phase" "^$ip1 +master0 +9 +ok" printf '%s\n' "$out"
check_out "run: each CMD is announced, expanded" "^\\[$ip1\\] CMD 2/3: echo \"child one 2.0 for \\\$Who\" >> record$" printf '%s\n' "$out"
check_out "run: a CMD's output is streamed with the host prefix (cwd: the rootfs)" "^\\[$ip1\\] base hello in rootfs$" printf '%s\n' "$out"
want=$(printf '%s\n' 'base hello in rootfs' 'child one 2.0 for operator' 'child two $Version quoted  2.0')
check "run: the record shows base first, then the child's in order, --cmd-args over the ARG, env and quotes" \
    test "$want" = "$(record my-cluster)"

out=$("$cirun" run cmdfail:v1 -m "$ip1" -p "$pw" -e Who=operator --cluster-name failing 2>&1)
check_out "a failing CMD fails master0 in phase cmd, naming the CMD and its exit code" \
    "^\\[$ip1\\] cmd failed: CMD 4/5 'echo three >> record; exit 3' \\(in /var/lib/cirun/data/failing/rootfs\\) exited with 3; the later CMDs were not run" printf '%s\n' "$out"
check_out "the summary says so" "^$ip1 +master0 +8 +FAILED" printf '%s\n' "$out"
want=$(printf '%s\n' 'base hello in rootfs' 'child one 1.0 for operator' 'child two $Version quoted  1.0' three)
check "the CMD after the failing one did not run (no 'four' in the record)" test "$want" = "$(record failing)"

cat > "$work/Clusterfile" <<CF
apiVersion: sealer.cloud/v2
kind: Cluster
metadata:
  name: cf-cmd
spec:
  image: cmdchild:v1
  env: [Who=clusterfile]
  cmd_args: [Version=3.0, Greeting=hi]
  ssh: {passwd: "$pw"}
  hosts:
    - ips: [$ip1]
      roles: [master]
CF
out=$("$cirun" apply -f "$work/Clusterfile" 2>&1)
check_out "apply -f: succeeds" "^$ip1 +master0 +9 +ok" printf '%s\n' "$out"
want=$(printf '%s\n' 'base hi in rootfs' 'child one 3.0 for clusterfile' 'child two $Version quoted  3.0')
check "apply -f: spec.cmd_args override the image's ARGs" test "$want" = "$(record cf-cmd)"
# the same apply again: the CMDs are recorded in master0's journal with their inputs, and
# are not replayed (the record is as it was)
out=$("$cirun" apply -f "$work/Clusterfile" 2>&1)
check_out "apply again: the CMDs done as recorded, skipped" "^\\[$ip1\\] cmd: done as recorded, skipped" printf '%s\n' "$out"
check "apply again: no CMD replayed" test "$want" = "$(record cf-cmd)"
# a changed cmd_args is a changed input: the CMDs run again (the rootfs kept: they append)
out=$("$cirun" apply -f "$work/Clusterfile" --cmd-args Version=4.0 2>&1)
want=$(printf '%s\n' "$want" 'base hi in rootfs' 'child one 4.0 for clusterfile' 'child two $Version quoted  4.0')
check "apply --cmd-args: the flag wins over spec.cmd_args (the others kept)" test "$want" = "$(record cf-cmd)"

check "lab-down" bash "$lab" down
summary
