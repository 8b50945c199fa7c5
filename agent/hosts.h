/* Name resolution a cluster needs on every host, after setup (docs/run.md "Hosts"):
 *
 *   1. /etc/hosts: the cluster's block (common/hosts-block.h), e.g. sea.hub → the registry
 *      host and apiserver.cluster.local → master0, written only when it changes, through
 *      a file beside it renamed over it, with its mode and owner kept. A symlinked
 *      /etc/hosts (some systems point it into /run or a config store) is refused, never
 *      followed: the file it names is someone else's to manage.
 *   2. containerd mirrors: /etc/containerd/certs.d/MIRROR/hosts.toml serving the
 *      cluster's registry over http, and for each upstream registry (registry.k8s.io,
 *      docker.io, …) a hosts.toml that asks that mirror first. containerd reads these per
 *      pull when its config names certs.d as config_path (the image's containerd config).
 *      They are recorded in ROOT/data/<cluster>/installed as setup records its files
 *      (agent/setup.h): one that no run installed is refused, or with HOSTS_FORCE moved
 *      to NAME.cirun-backup (recorded). */
#pragma once

#include <stddef.h>

#include "error.h"
#include "hosts-block.h"

enum {
	HOSTS_FORCE = 1 << 0,
};

struct hosts_report {
	bool hosts_changed; /* /etc/hosts was rewritten (false: it already held the block) */
	unsigned mirrors_written; /* hosts.toml files whose content changed */
};

int host_hosts(const char *cluster, const struct hosts_entry *e, size_t n, const char *mirror,
	       char *const *upstreams, size_t nup, unsigned flags, struct hosts_report *rep,
	       struct errbuf *err);

/* Takes the cluster's block out of /etc/hosts (the rest kept byte for byte, the file
 * replaced as above, only when it held the block: *ret_changed). The containerd files
 * are the install record's, removed with the rest of it (agent/clean.h). */
int host_hosts_remove(const char *cluster, bool *ret_changed, struct errbuf *err);

/* Where the files go; tests point them at a scratch dir. */
struct hosts_paths {
	const char *etc_hosts;	/* /etc/hosts */
	const char *certs_dir;	/* /etc/containerd/certs.d */
};
void hosts_set_paths(const struct hosts_paths *p);

/* The text of MIRROR's own hosts.toml (upstream NULL) or of upstream's, into out. */
int hosts_toml(const char *mirror, const char *upstream, struct buf *out);
