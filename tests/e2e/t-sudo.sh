#!/usr/bin/env bash
# cirun as a non-root user through sudo on 2 real lab hosts: the password is sent only
# when sudo asks for it. A sudo that runs sh without asking (NOPASSWD for sh only) gets
# no password, so it never reaches a command's stdin (it once went into the uploaded
# agent binary); a wrong password fails naming sudo and the host, sent once; a sudo that
# asks while no password was given says how to give one; a sudo that never starts the
# command ends within the connect timeout.
set -u
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$top/tests/lib.sh"
lab_env e2e-sudo cirunsu 10.213.13
unset CIRUN_SSH_PASSWORD

lab_begin 2
run() { "$cirun" run "$@" -u deploy -e HostRole=worker -e Version=1 --insecure-ignore-host-key 2>&1; }
sudo_fails() { hostssh 2 'journalctl --no-pager -t sudo | grep -c "incorrect password attempt"'; }

debs=$(bash "$top/tests/fixtures/run-image/debs.sh") || bail "cannot get the containerd and runc .debs"
check "build the test image" "$cirun" build -t sudotest:v1 --build-arg "DEBS=$debs" "$top/tests/fixtures/run-image" || bail "no image"

# host 2 (even) asks deploy for the password, except for sh
hostssh 2 "echo 'deploy ALL=(ALL:ALL) NOPASSWD: /usr/bin/sh, /bin/sh' > /etc/sudoers.d/deploy-sh && chmod 0440 /etc/sudoers.d/deploy-sh"
check "host 2: deploy's sudo asks for true" bash -c "! bash '$lab' ssh 2 \"su -s /bin/sh deploy -c 'sudo -n true'\""
check "host 2: but not for sh" hostssh 2 "su -s /bin/sh deploy -c 'sudo -n sh -c true'"

out=$(CIRUN_SSH_PASSWORD=$pw run sudotest:v1 -m "$ip1" -n "$ip2")
check_out "NOPASSWD for sh only: the run succeeds (odd host: sudo without password)" "^$ip1 +master0 +8 +ok" printf '%s\n' "$out"
check_out "NOPASSWD for sh only: the run succeeds (even host)" "^$ip2 +node +8 +ok" printf '%s\n' "$out"
want=$(sha256sum < "$top/build/cirun-agent" | cut -c1-64)
check_out "the agent on the host is byte-identical to build/cirun-agent" "^$want " hostssh 2 sha256sum /var/lib/cirun/bin/cirun-agent
check "no file under /var/lib/cirun holds the password" bash -c "! bash '$lab' ssh 2 \"grep -rlF -- '$pw' /var/lib/cirun\""
check "the agent's journal does not hold the password" bash -c "! bash '$lab' ssh 2 \"journalctl --no-pager -t cirun-agent | grep -F -- '$pw'\""
check_out "the agent ran and logged" 'assembling the rootfs of cluster my-cluster' hostssh 2 journalctl -t cirun-agent --no-pager
check "no sudo password was refused" test "$(sudo_fails)" = 0

# a host whose sudo asks: a wrong sudo password (the login is by key) is named, sent once
hostssh 2 rm -f /etc/sudoers.d/deploy-sh
ssh-keygen -q -t ed25519 -N '' -C cirun-test -f "$work/id"
hostssh 2 'install -d -o deploy -g deploy -m 700 /home/deploy/.ssh'
bash "$lab" put 2 "$work/id.pub" /home/deploy/.ssh/authorized_keys
hostssh 2 'chown deploy: /home/deploy/.ssh/authorized_keys'
out=$(run sudotest:v1 -m "$ip2" --pk "$work/id" -p wrong-sudo-pw --cluster-name wrong)
check_out "a wrong sudo password fails, naming sudo and the host" "sudo refused the password for deploy on $ip2" printf '%s\n' "$out"
check_out "at connect, before any change" "^$ip2 +master0 +0 +FAILED" printf '%s\n' "$out"
check_out "the password was sent once" '^1$' sudo_fails
out=$(run sudotest:v1 -m "$ip2" --pk "$work/id" --cluster-name nopw)
check_out "a sudo that asks while no password was given says how to give one" "$ip2: deploy needs a password for sudo; give it with -p or CIRUN_SSH_PASSWORD" printf '%s\n' "$out"
out=$(run sudotest:v1 -m "$ip2" --pk "$work/id" -p "$pw" --cluster-name keyed)
check_out "by key, with the right sudo password: the run succeeds" "^$ip2 +master0 +8 +ok" printf '%s\n' "$out"
check "still no file under /var/lib/cirun holds the password" bash -c "! bash '$lab' ssh 2 \"grep -rlF -- '$pw' /var/lib/cirun\""

# a sudo that never starts the command (a PAM prompt that is not ours): the connect
# timeout ends the wait, with what it printed
hostssh 2 'printf "#!/bin/sh\necho Verification code: >&2\nexec sleep 120\n" > /usr/local/bin/sudo && chmod 755 /usr/local/bin/sudo'
t0=$(date +%s)
out=$(run sudotest:v1 -m "$ip2" --pk "$work/id" -p "$pw" --cluster-name stuck --connect-timeout 3)
t1=$(date +%s)
hostssh 2 rm -f /usr/local/bin/sudo
check_out "a sudo that never starts the command times out, saying what it printed" "$ip2: sudo as deploy did not start the command within 3s \\(it said: 'Verification code:'\\)" printf '%s\n' "$out"
check "within the connect timeout, not the I/O one" test $((t1 - t0)) -lt 20

summary
