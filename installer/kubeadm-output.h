/* What kubeadm, kubectl and containerd's config on a host say, read back by the run. All of
 * it comes from a host and is hostile: every parser is bounded by its input, checks each
 * field against the format the real tools print (kubeadm v1.28, recorded in
 * /work/shared/reference/kubernetes-1.28/), and refuses anything else with the reason. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define KUBEADM_TOKEN_LEN 23	/* [a-z0-9]{6}.[a-z0-9]{16} */
#define KUBEADM_CA_HASH_LEN 71	/* sha256:<64 lower-case hex> */
#define KUBEADM_CERT_KEY_LEN 64 /* 32 bytes in hex */
#define KUBEADM_ENDPOINT_MAX 261 /* host (<= 253) ':' port */

/* The join command `kubeadm token create --print-join-command` printed. */
struct kubeadm_join_cmd {
	char endpoint[KUBEADM_ENDPOINT_MAX + 1];
	char token[KUBEADM_TOKEN_LEN + 1];
	char ca_hash[KUBEADM_CA_HASH_LEN + 1];
};

bool kubeadm_token_valid(const char *s);
bool kubeadm_ca_hash_valid(const char *s);
bool kubeadm_cert_key_valid(const char *s);

/* The last line of text starting "kubeadm join ": ENDPOINT, --token T,
 * --discovery-token-ca-cert-hash H (the first, if several), --control-plane and
 * --certificate-key K allowed and ignored. Another flag, a missing or malformed field,
 * is -EBADMSG. */
int kubeadm_parse_join_command(const char *text, size_t len, struct kubeadm_join_cmd *ret,
			       struct errbuf *err);

/* `kubeadm init phase upload-certs --upload-certs`: its last non-empty line is the key
 * (64 lower-case hex digits). ret: KUBEADM_CERT_KEY_LEN + 1 bytes. */
int kubeadm_parse_upload_certs(const char *text, size_t len, char *ret, struct errbuf *err);

/* One row of `kubectl get nodes -o wide`. */
struct kube_node {
	char *name;
	char *ip; /* INTERNAL-IP; NULL for <none> */
	bool ready;
};

#define KUBE_NODES_MAX 5000

/* The table of `kubectl get nodes -o wide` (header NAME STATUS ROLES AGE VERSION
 * INTERNAL-IP …). STATUS "Ready" or "Ready,SchedulingDisabled" is ready; a name that is
 * not a DNS-1123 subdomain or an address that is not an IP is -EBADMSG. "No resources
 * found" (on stderr, nothing on stdout) is an empty list. */
int kubectl_parse_nodes(const char *text, size_t len, struct kube_node **ret, size_t *ret_n,
			struct errbuf *err);
void kube_nodes_free(struct kube_node *v, size_t n);

/* The cgroup driver kubelet must use with this /etc/containerd/config.toml, as sealer
 * decided it: "systemd" when an uncommented line sets SystemdCgroup = true, else
 * "cgroupfs". */
const char *containerd_cgroup_driver(const char *toml, size_t len);
