/* A cluster taken off a host (the agent's CLEAN, the end of `cirun delete --all` on one
 * host, after the PreClean plugins, `kubeadm reset -f` and the rootfs's scripts/clean.sh,
 * which cirun runs through EXEC):
 *
 *   1. the units the cluster's runs installed (the install record's unit files directly
 *      in /etc/systemd/system) stopped and disabled over sd-bus;
 *   2. every other path of the record removed, files first, then the directories the runs
 *      created when they are empty (the deepest first); a file a run moved aside
 *      (NAME.cirun-backup) put back; daemon-reload;
 *   3. the cluster's block taken out of /etc/hosts;
 *   4. ROOT/data/<cluster> (rootfs, record, kubeadm files, journal) removed; the record
 *      written back with only the lines left alone for a symlink on the way, if any (a
 *      later run must still take those files for cirun's).
 *
 * The record is the only list: nothing is found by globbing. Its lines are hostile: a
 * path is acted on only when it is absolute, has no control character, no "." or ".."
 * or empty component, and lies beneath the places a run writes (/usr/bin,
 * /usr/local/bin, /etc/systemd/system, /etc/containerd); it is reached one component at
 * a time without following a symlink, and a symlink is removed as a link, never
 * followed. A path in another cluster's record on the host is that cluster's too: kept
 * (a unit: neither stopped nor disabled). A record that is there but cannot be read (or
 * is over the cap), the cluster's or another's, fails the clean before any change.
 * What is absent already (a failed or partial install) is no error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct clean_report {
	unsigned units;	    /* stopped and disabled */
	unsigned removed;   /* paths of the record removed */
	unsigned restored;  /* NAME.cirun-backup put back */
	unsigned shared;    /* kept: another cluster's record lists them */
	unsigned kept;	    /* directories not empty, kept */
	unsigned refused;   /* record lines outside the places a run writes, left alone */
	bool hosts_block;   /* /etc/hosts held the block */
	bool data;	    /* ROOT/data/<cluster> was there and is gone */
};

int host_clean(const char *cluster, struct clean_report *rep, struct errbuf *err);

/* Tests: where a run writes (a path of the record must lie beneath one of them), the
 * systemd unit directory, and whether to talk to systemd. */
struct clean_paths {
	const char *const *roots;
	size_t nroots;
	const char *systemd_dir;
	bool use_bus;
};
void clean_set_paths(const struct clean_paths *p);

/* The check every record line passes before it is acted on (see above). */
bool clean_path_ok(const char *path);
