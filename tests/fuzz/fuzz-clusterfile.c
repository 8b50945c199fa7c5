/* Clusterfile parser and validation: any input yields a model or an error naming the
 * file; a model that validates has a master first and every host has SSH settings. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "cluster.h"
#include "clusterfile.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster c;
	struct errbuf err = ERRBUF_INIT;

	log_set_max_level(LOG_ERR);
	if (clusterfile_parse("fuzz", (const char *)data, size, &c, &err) < 0) {
		assert(strncmp(err.msg, "fuzz", 4) == 0);
		return 0;
	}
	if (cluster_finish(&c, &err) == 0) {
		assert(c.nhosts > 0 && c.hosts[0].role == ROLE_MASTER);
		for (size_t i = 0; i < c.nhosts; i++)
			assert(c.hosts[i].ssh.user && c.hosts[i].ssh.port > 0);
	}
	cluster_release(&c);
	return 0;
}
