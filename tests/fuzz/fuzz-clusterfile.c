/* Clusterfile parser and validation: any input yields a model or an error naming the
 * file; a model that validates has a master first and every host has SSH settings; every
 * Plugin, Config and kubeadm document kept has its required fields. Input with a NUL
 * byte is a template (before it) and the user's file (after it). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "cluster.h"
#include "clusterfile.h"
#include "config-apply.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_docs(const struct cluster *c)
{
	for (size_t i = 0; i < c->nplugins; i++)
		assert(c->plugins[i].name && c->plugins[i].type && *c->plugins[i].action &&
		       c->plugins[i].file && c->plugins[i].line > 0);
	for (size_t i = 0; i < c->nconfigs; i++)
		assert(config_path_check(c->configs[i].path, NULL) == 0 && c->configs[i].data &&
		       c->configs[i].name);
	for (size_t i = 0; i < c->nkubeadm; i++)
		assert(c->kubeadm[i].tree && c->kubeadm[i].api_version && c->kubeadm[i].line > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nul = memchr(data, '\0', size);
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;
	int r;

	log_set_max_level(LOG_ERR);
	if (nul)
		r = clusterfile_parse_over("tmpl", text, (size_t)(nul - text), "fuzz", nul + 1,
					   size - (size_t)(nul - text) - 1, &c, &err);
	else
		r = clusterfile_parse("fuzz", text, size, &c, &err);
	if (r < 0) {
		assert(strncmp(err.msg, "fuzz", 4) == 0 || strncmp(err.msg, "tmpl", 4) == 0);
		return 0;
	}
	check_docs(&c);
	if (cluster_finish(&c, &err) == 0) {
		assert(c.nhosts > 0 && c.hosts[0].role == ROLE_MASTER);
		for (size_t i = 0; i < c.nhosts; i++)
			assert(c.hosts[i].ssh.user && c.hosts[i].ssh.port > 0);
	}
	cluster_release(&c);
	return 0;
}
