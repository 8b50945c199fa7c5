/* The parsers of what kubeadm and containerd's config print on a host
 * (installer/kubeadm-output.h) on hostile output: any bytes, no crash, no read past the
 * input, and whatever is accepted keeps kubeadm's formats. The first byte picks the parser. */
#include <assert.h>
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
	switch (data[0] % 3) {
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
	default: {
		const char *d = containerd_cgroup_driver(text, len);
		assert(strcmp(d, "systemd") == 0 || strcmp(d, "cgroupfs") == 0);
	}
	}
	return 0;
}
