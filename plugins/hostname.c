/* HOSTNAME: spec.data lines "ADDRESS HOSTNAME", one host each. The name must be one
 * Kubernetes accepts for a node (a lower-case DNS-1123 subdomain) and fit the kernel's
 * 64 bytes; it is set before the host joins, since a node keeps the name it joined with. */
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ip-list.h"
#include "k8s-name.h"
#include "plugin-type.h"
#include "strset.h"

#define HOSTNAME_MAX 64

static int hostname_line(struct plugin *p, unsigned idx, char **fields, size_t nfields,
			 struct errbuf *err)
{
	char **ips = NULL;
	size_t n_ips = 0;
	const char *why;
	int r;

	if (nfields != 2)
		return plugin_data_error(p, idx, err, "expected 'ADDRESS HOSTNAME' (two fields), "
					 "got %zu", nfields);
	r = plugin_data_ips(p, idx, fields[0], &ips, &n_ips, err);
	if (r < 0)
		return r;
	if (n_ips != 1) {
		ip_list_free(ips, n_ips);
		return plugin_data_error(p, idx, err, "'%.64s': one host per line (each host gets "
					 "its own name)", fields[0]);
	}
	why = k8s_dns_subdomain_invalid(fields[1], HOSTNAME_MAX);
	if (why) {
		ip_list_free(ips, n_ips);
		return plugin_data_error(p, idx, err, "host name '%.80s': %s (a node name is a "
					 "lower-case RFC 1123 name of at most %d characters)",
					 fields[1], why, HOSTNAME_MAX);
	}
	if (p->n_hostnames >= PLUGIN_ENTRIES_MAX) {
		ip_list_free(ips, n_ips);
		return plugin_data_error(p, idx, err, "more than %u lines", PLUGIN_ENTRIES_MAX);
	}
	p->hostnames = xreallocarray(p->hostnames, p->n_hostnames + 1, sizeof(*p->hostnames));
	p->hostnames[p->n_hostnames++] = (struct plugin_hostname){
		.ip = ips[0], .hostname = xstrdup(fields[1]), .line = idx,
	};
	free(ips);
	return 0;
}

/* Two names for one host, or one name for two hosts, would make two nodes fight. */
static int hostname_unique(struct plugin *p, struct errbuf *err)
{
	_cleanup_(strset_freep) struct strset *ips = strset_new();
	_cleanup_(strset_freep) struct strset *names = strset_new();

	for (size_t i = 0; i < p->n_hostnames; i++) {
		const struct plugin_hostname *h = &p->hostnames[i];
		if (strset_add(ips, h->ip) == 0)
			return plugin_data_error(p, h->line, err, "%s is named twice", h->ip);
		if (strset_add(names, h->hostname) == 0)
			return plugin_data_error(p, h->line, err, "host name '%s' is given to two "
						 "hosts", h->hostname);
	}
	return 0;
}

static int hostname_parse_data(struct plugin *p, struct errbuf *err)
{
	int r = plugin_data_lines(p, hostname_line, err);
	return r < 0 ? r : hostname_unique(p, err);
}

static void hostname_release(struct plugin *p)
{
	for (size_t i = 0; i < p->n_hostnames; i++) {
		free(p->hostnames[i].ip);
		free(p->hostnames[i].hostname);
	}
	free(p->hostnames);
}

const struct plugin_type_info plugin_type_hostname = {
	.name = "HOSTNAME",
	.phases = PLUGIN_PHASE_BIT(PLUGIN_ORIGINALLY) | PLUGIN_PHASE_BIT(PLUGIN_PRE_INIT) |
		  PLUGIN_PHASE_BIT(PLUGIN_PRE_JOIN),
	.takes_data = true,
	.parse_data = hostname_parse_data,
	.release = hostname_release,
};
