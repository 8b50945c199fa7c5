/* kubeadm config merge over hostile layers. Input: one control byte (bits 0-1 the role, bit 2
 * Kubernetes 1.22 instead of 1.28), then the image's etc/kubeadm.yml, a NUL byte, and the
 * Clusterfile's documents. Any input gives an error or a config that parses again, carries
 * the forced fields and is the same on a second render. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kubeadm-config.h"
#include "ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_warning(void *userdata, const char *msg)
{
	(void)userdata;
	assert(msg[0]);
}

static void check_output(enum kubeadm_role role, const struct buf *out)
{
	struct errbuf err = ERRBUF_INIT;
	struct ydoc *d = NULL;
	const char *want = role == KUBEADM_INIT ? "ClusterConfiguration" : "JoinConfiguration";
	const char *path = role == KUBEADM_INIT ? "imageRepository"
						: "discovery.bootstrapToken.apiServerEndpoint";
	const char *value = role == KUBEADM_INIT ? KUBEADM_IMAGE_REPOSITORY : KUBEADM_API_ENDPOINT;
	bool found = false;

	assert(ydoc_parse("out", out->data, out->len, NULL, &d, &err) == 0);
	assert(ydoc_count(d) == (role == KUBEADM_INIT ? 4 : 1));
	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *root = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_get(root, "kind"));
		assert(kind && kubeadm_is_config_kind(kind));
		if (strcmp(kind, want) == 0) {
			const char *v = ynode_str(ynode_get(root, path));
			assert(v && strcmp(v, value) == 0);
			found = true;
		}
	}
	assert(found);
	if (role == KUBEADM_JOIN_NODE)
		assert(!ynode_get(ydoc_root(d, 0), "controlPlane"));
	ydoc_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const masters[] = { "10.0.0.2", "10.0.0.3" };
	static const char *const hosts[] = { "10.0.0.2", "10.0.0.3", "10.0.0.9" };
	const struct ydoc_limits lim = { .max_bytes = 1 << 20, .max_depth = 64, .max_nodes = 20000 };
	struct errbuf err = ERRBUF_INIT;
	struct ydoc *user = NULL;
	struct kubeadm_user_doc docs[16];
	struct buf out = BUF_INIT(8 << 20), again = BUF_INIT(8 << 20);
	enum kubeadm_role role;
	const char *text, *sep;
	size_t n = 0, len;

	if (size < 1)
		return 0;
	role = (enum kubeadm_role)(data[0] % 3);
	text = (const char *)data + 1;
	len = size - 1;
	sep = memchr(text, '\0', len);
	if (sep && ydoc_parse("Clusterfile", sep + 1, len - (size_t)(sep + 1 - text), &lim, &user,
			      &err) < 0)
		return 0;
	for (size_t i = 0; user && i < ydoc_count(user) && n < 16; i++)
		docs[n++] = (struct kubeadm_user_doc){ "Clusterfile", ydoc_root(user, i) };

	struct kubeadm_config_in in = {
		.k8s_version = data[0] & 4 ? "v1.22.17" : "v1.28.7",
		.masters = masters,
		.n_masters = 2,
		.host_ip = hosts[role],
		.image_yml = text,
		.image_yml_len = sep ? (size_t)(sep - text) : len,
		.user_docs = docs,
		.n_user_docs = n,
		.token = "abc123.0123456789abcdef",
		.ca_cert_hash = "sha256:668d6680f6ce8ad635cd41129d75596f78f789ec10e6cfcc588c155e82985aa4",
		.certificate_key = "f5ea1b7d6b1c7c4e53f0e5e3b5a3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5",
		.warn = on_warning,
	};
	int r = kubeadm_config_validate(&in, &err);
	if (kubeadm_config_render(role, &in, &out, &err) < 0) {
		assert(err.msg[0]);
	} else {
		/* validation checks every layer as the render does */
		assert(r == 0);
		check_output(role, &out);
		assert(kubeadm_config_render(role, &in, &again, &err) == 0);
		assert(out.len == again.len && memcmp(out.data, again.data, out.len) == 0);
	}
	buf_release(&out);
	buf_release(&again);
	ydoc_free(user);
	return 0;
}
