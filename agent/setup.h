/* Preparing a host from its assembled rootfs, before init.sh (the image contract, see
 * docs/run.md "Setup"). The rootfs is read only through common/rootfs-walk.h: no symlink
 * followed out of it, only regular files read.
 *
 *   1. render: every *.tmpl under etc/, charts/, manifests/ becomes the file without
 *      .tmpl (truncated first), every file under statics/ is rendered in place, all with
 *      this host's env;
 *   2. every file in bin/: linked into /usr/local/bin (on $PATH);
 *   3. archives in cri/ (.tar, .tar.gz, .tgz, .tar.zst): extracted flat into /usr/bin
 *      (bin/ctr → /usr/bin/ctr), hard links kept, symlinks kept when they end at a file
 *      of the same archive;
 *   4. units: the .service files of etc/ into /etc/systemd/system/, etc/10-kubeadm.conf into
 *      /etc/systemd/system/kubelet.service.d/; then over sd-bus Reload, EnableUnitFiles,
 *      and StartUnit for each but kubelet.service (kubeadm starts that), each job waited
 *      for and its result checked; on a re-run a unit whose file, drop-in or started
 *      program changed is restarted instead (try-restart for kubelet).
 *
 * Every path put outside the rootfs is recorded in ROOT/data/<cluster>/installed, so a
 * clean can remove exactly what a run added (a name with a control character is refused:
 * the record is one path per line), and their digests in installed.sha256 (the restarts
 * are decided on them; a failed run records those of the units it started). A file in the way that no run installed is refused, or
 * with SETUP_FORCE moved to NAME.cirun-backup (recorded). */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "kv.h"
#include "units.h"

struct setup_report {
	unsigned rendered;
	unsigned linked;
	unsigned cri_files;
	struct buf units; /* names started or enabled */
};

/* SETUP_FORCE: a file in the way that no run of this cluster installed is moved beside
 * (NAME.cirun-backup, recorded) instead of refused. */
enum {
	SETUP_FORCE = 1 << 0,
};

int host_setup(const char *cluster, const struct kv *env, size_t nenv, unsigned flags,
	       struct setup_report *rep, struct errbuf *err);

/* Where the rendered and installed files go; tests point them at a scratch dir. */
struct setup_paths {
	const char *usr_bin;	   /* /usr/bin */
	const char *usr_local_bin; /* /usr/local/bin */
	const char *systemd_dir;   /* /etc/systemd/system */
	int use_bus;		   /* 0: write unit files only */
	units_start_fn start;	   /* with use_bus: instead of units_enable_start (tests) */
};
void setup_set_paths(const struct setup_paths *p);
