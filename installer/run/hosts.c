/* Phase "hosts": on every host, /etc/hosts gets the cluster's block (sea.hub → the registry
 * host: spec.registry.host, else master0; apiserver.cluster.local → master0) and containerd
 * gets certs.d hosts.toml files that send pulls of the upstream registries to the
 * cluster's registry at sea.hub:5000 (agent/hosts.h). After setup (containerd's config,
 * from the image, is in place) and before init (kubeadm pulls through it). */
#include "run-internal.h"

#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "cleanup.h"
#include "hosts-block.h"
#include "log.h"
#include "proto.h"
#include "proto-msg.h"
#include "ssh.h"

#define REGISTRY_NAME "sea.hub"
#define REGISTRY_MIRROR REGISTRY_NAME ":5000"
#define APISERVER_NAME "apiserver.cluster.local"

/* The registries whose pulls go to the cluster's registry first, whatever images/ holds:
 * a CMD may pull from them names that are not in images/ (the registry answers those
 * with not found, and containerd goes on to the upstream). The registry import adds the
 * registries its archives' images were named under (run_mirror_add); neither the
 * Clusterfile nor the environment can add one yet. */
static const char *const default_upstreams[] = { "registry.k8s.io", "docker.io", "quay.io" };

static bool is_mirror(const struct run *r, const char *host)
{
	if (strcmp(host, REGISTRY_MIRROR) == 0)
		return true;
	for (size_t i = 0; i < ELEMENTSOF(default_upstreams); i++)
		if (strcmp(host, default_upstreams[i]) == 0)
			return true;
	for (size_t i = 0; i < r->n_mirror_sources; i++)
		if (strcmp(host, r->mirror_sources[i]) == 0)
			return true;
	return false;
}

size_t run_mirror_upstreams(const struct run *r, const char **ret)
{
	size_t n = 0;

	for (size_t i = 0; i < ELEMENTSOF(default_upstreams); i++)
		ret[n++] = default_upstreams[i];
	for (size_t i = 0; i < r->n_mirror_sources; i++)
		ret[n++] = r->mirror_sources[i];
	return n;
}

int run_mirror_add(struct run *r, const char *host, struct errbuf *err)
{
	if (is_mirror(r, host))
		return 0;
	if (ELEMENTSOF(default_upstreams) + r->n_mirror_sources >= MSG_MAX_MIRRORS)
		return errbuf_set(err, -E2BIG, "the image's images/ names images of more registries "
				  "than the %u containerd mirrors cirun writes (%s is one more): pull "
				  "the others as " REGISTRY_MIRROR "/NAME", MSG_MAX_MIRRORS, host);
	r->mirror_sources = xreallocarray(r->mirror_sources, r->n_mirror_sources + 1,
					  sizeof(*r->mirror_sources));
	r->mirror_sources[r->n_mirror_sources++] = xstrdup(host);
	return 1;
}

void run_mirror_release(struct run *r)
{
	while (r->n_mirror_sources)
		free(r->mirror_sources[--r->n_mirror_sources]);
	free(r->mirror_sources);
	r->mirror_sources = NULL;
}

int run_hosts_check(const struct run *r, struct errbuf *err)
{
	const struct cluster *c = r->c;

	if (c->nhosts && !hosts_ip_valid(c->hosts[0].ip))
		return errbuf_set(err, -EINVAL, "master0 '%s' is a host name, not an IP address: "
				  "every host's /etc/hosts maps " APISERVER_NAME " to master0's "
				  "address; give the masters by IP address (-m)", c->hosts[0].ip);
	if (c->registry_host && !hosts_ip_valid(c->registry_host))
		return errbuf_set(err, -EINVAL, "spec.registry.host '%s' is a host name, not an IP "
				  "address: every host's /etc/hosts maps " REGISTRY_NAME " to it; give "
				  "the registry host's IP address", c->registry_host);
	return 0;
}

int phase_hosts(struct run *r, struct host_state *h)
{
	const struct cluster *c = r->c;
	const char *registry = c->registry_host ? c->registry_host : c->hosts[0].ip;
	const struct hosts_entry entries[] = {
		{ registry, REGISTRY_NAME },
		{ c->hosts[0].ip, APISERVER_NAME },
	};
	const char *up[MSG_MAX_MIRRORS];
	size_t nup = run_mirror_upstreams(r, up);
	_cleanup_free_ char *detail = NULL;
	int rc;

	ssh_conn_set_timeout(h->conn, 60);
	rc = agent_client_hosts(h->ac, c->name, entries, ELEMENTSOF(entries), REGISTRY_MIRROR, up,
				nup, r->o->force ? PROTO_HOSTS_FORCE : 0, &detail, &h->err);
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "%s", detail);
	return rc;
}
