/* kubectl's JSON answers (plugins/kube-nodes.c): any text yields nodes or an error; a node
 * that decodes has a Kubernetes name (never a flag) and, if any, an InternalIP that is an
 * address; finding a host never crosses nodes; pods decode or fail the same way. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s-name.h"
#include "kube-nodes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf err = ERRBUF_INIT;
	struct kube_nodes nodes;
	unsigned char a[16];
	size_t npods;
	char *bad = NULL;

	if (kube_nodes_parse((const char *)data, size, &nodes, &err) < 0) {
		assert(err.msg[0] && nodes.n == 0 && !nodes.v);
	} else {
		for (size_t i = 0; i < nodes.n; i++) {
			const struct kube_node *k = &nodes.v[i];
			assert(!k8s_dns_subdomain_invalid(k->name, 253) && k->name[0] != '-');
			assert(!k->ip || inet_pton(AF_INET, k->ip, a) == 1 ||
			       inet_pton(AF_INET6, k->ip, a) == 1);
			if (k->ip) {
				int f = kube_nodes_find_ip(&nodes, k->ip, &err);
				assert(f == -EEXIST || (f >= 0 && strcmp(nodes.v[f].ip, k->ip) == 0));
			}
		}
		kube_nodes_release(&nodes);
	}
	if (kube_pods_parse((const char *)data, size, &npods, &bad, &err) < 0)
		assert(err.msg[0] && !bad);
	free(bad);
	return 0;
}
