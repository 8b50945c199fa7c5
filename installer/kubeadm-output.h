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

/* kubeadm's CA hash of a PEM certificate (its first): "sha256:" and the SHA-256 of its
 * SubjectPublicKeyInfo in DER, as --discovery-token-ca-cert-hash names a cluster's CA.
 * ret: KUBEADM_CA_HASH_LEN + 1 bytes. -EBADMSG when pem holds no certificate. */
int kubeadm_ca_hash_of_pem(const char *pem, size_t len, char *ret, struct errbuf *err);

/* The cgroup driver kubelet must use with this /etc/containerd/config.toml, as sealer
 * decided it: "systemd" when an uncommented line sets SystemdCgroup = true, else
 * "cgroupfs". */
const char *containerd_cgroup_driver(const char *toml, size_t len);
