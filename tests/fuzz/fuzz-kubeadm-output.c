/* The parsers of what kubeadm, kubectl and containerd's config print on a host
 * (installer/kubeadm-output.h) on hostile output: any bytes, no crash, no read past the
 * input, and whatever is accepted keeps kubeadm's formats. The first byte picks the parser. */
#include <assert.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "kubeadm-output.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errbuf err = ERRBUF_INIT;
	const char *text = (const char *)data + 1;
	size_t len = size ? size - 1 : 0;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: {
		struct kubeadm_join_cmd j;
		if (kubeadm_parse_join_command(text, len, &j, &err) == 0) {
			assert(kubeadm_token_valid(j.token) && kubeadm_ca_hash_valid(j.ca_hash));
			assert(j.endpoint[0] && strlen(j.endpoint) <= KUBEADM_ENDPOINT_MAX);
			assert(!strpbrk(j.endpoint, " \t\n'\";$`\\"));
		} else {
			assert(err.code < 0 && err.msg[0]);
		}
		break;
	}
	case 1: {
		char key[KUBEADM_CERT_KEY_LEN + 1];
		if (kubeadm_parse_upload_certs(text, len, key, &err) == 0)
			assert(kubeadm_cert_key_valid(key));
		break;
	}
	case 2: {
		struct kube_node *v = NULL;
		size_t n = 0;
		unsigned char a[16];
		if (kubectl_parse_nodes(text, len, &v, &n, &err) == 0) {
			assert(n <= KUBE_NODES_MAX);
			for (size_t i = 0; i < n; i++) {
				assert(v[i].name[0] && !strpbrk(v[i].name, " '\"/;$`\\"));
				assert(!v[i].ip || inet_pton(AF_INET, v[i].ip, a) == 1 ||
				       inet_pton(AF_INET6, v[i].ip, a) == 1);
			}
			kube_nodes_free(v, n);
		}
		break;
	}
	default: {
		const char *d = containerd_cgroup_driver(text, len);
		assert(strcmp(d, "systemd") == 0 || strcmp(d, "cgroupfs") == 0);
	}
	}
	return 0;
}
