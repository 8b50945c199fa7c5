#!/usr/bin/env bash
# Undoes what init.sh and init-registry.sh did, and only that: the registry container,
# the files these scripts installed (their record, beside cirun's), each put back as it was
# when the host had its own (NAME.cirun-backup). What cirun's agent installed (bin/, cri/,
# the units, the kubelet drop-in: its install record) is the agent's to remove, and is not
# touched. Runtime kernel state (loaded modules, sysctl values, swap) is left as it is:
# turning ip_forward or bridge filtering off under running workloads is not safe, and the
# next boot no longer sets them. Never fails on what is already gone.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if command -v ctr >/dev/null 2>&1 && ctr -n k8s.io containers info cirun-registry >/dev/null 2>&1; then
    # first out of containerd's restart monitor, or it may start the task again meanwhile
    ctr -n k8s.io containers label cirun-registry containerd.io/restart.status= >/dev/null 2>&1
    ctr -n k8s.io tasks kill -s SIGKILL cirun-registry >/dev/null 2>&1
    for _ in $(seq 1 20); do
        ctr -n k8s.io tasks delete cirun-registry >/dev/null 2>&1 && break
        ctr -n k8s.io tasks ls 2>/dev/null | awk '{print $1}' | grep -qx cirun-registry || break
        sleep 0.5
    done
    if ctr -n k8s.io containers delete cirun-registry >/dev/null 2>&1; then
        info "removed the registry container cirun-registry"
    else
        warn "the registry container cirun-registry could not be removed"
    fi
fi

if [ -f "$CIRUN_SCRIPTS_RECORD" ]; then
    while IFS= read -r f; do
        case $f in /*) ;; *) continue ;; esac
        if [ -e "$f.cirun-backup" ]; then
            mv -f "$f.cirun-backup" "$f" && info "restored $f"
        elif [ -f "$f" ] || [ -L "$f" ]; then
            rm -f "$f" && info "removed $f"
        fi
    done < "$CIRUN_SCRIPTS_RECORD"
    rm -f "$CIRUN_SCRIPTS_RECORD"
fi
exit 0
