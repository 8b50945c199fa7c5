/* The config file `kubeadm init|join --config FILE` reads, merged from four layers, document
 * by document (matched by kind), the upper layer winning field by field:
 *
 *   forced fields  >  the Clusterfile's kubeadm documents  >  the image's etc/kubeadm.yml
 *                  >  a built-in default (kubeadm v1.28's own defaults, minus what must not
 *                     be defaulted: example token, node name, advertise address, and fields
 *                     kubeadm derives from others such as the kubelet's clusterDNS)
 *
 * Forced: InitConfiguration.localAPIEndpoint (master0, port 6443),
 * ClusterConfiguration.controlPlaneEndpoint (apiserver.cluster.local:6443), imageRepository
 * (sea.hub:5000), kubernetesVersion (the image's), apiServer.certSANs (apiserver.cluster.local,
 * 127.0.0.1, every master, then the SANs of the Clusterfile and the image, no duplicates);
 * JoinConfiguration.discovery (bootstrap token, CA hash, endpoint as kubeadm printed them),
 * and for a joining master controlPlane.localAPIEndpoint (its IP, port 6443) and certificateKey.
 * A layer that sets a forced field to another value gets a warning naming file, line and
 * field. Lists from an upper layer replace the lower layer's (certSANs excepted, above).
 *
 * apiVersion follows the Kubernetes version: kubeadm.k8s.io/v1beta2 for 1.15 to 1.22,
 * v1beta3 for 1.23 to 1.30. 1.31 and later read v1beta4 (structured extraArgs, a timeouts
 * block), which this module does not write yet: such versions are refused. A document in the
 * other of v1beta2/v1beta3 is converted where both carry the same fields, and refused, naming
 * file, line and field, where they differ.
 *
 * Same inputs give the same bytes. The output holds the join token and certificate key: it
 * is a secret (register both with log_add_secret, write the file 0600). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "ydoc.h"

#define KUBEADM_API_ENDPOINT_HOST "apiserver.cluster.local"
#define KUBEADM_API_ENDPOINT "apiserver.cluster.local:6443"
#define KUBEADM_IMAGE_REPOSITORY "sea.hub:5000"

enum kubeadm_role {
	KUBEADM_INIT,	     /* master0: Init, Cluster, Kubelet and KubeProxy documents */
	KUBEADM_JOIN_MASTER, /* JoinConfiguration with controlPlane */
	KUBEADM_JOIN_NODE,   /* JoinConfiguration without controlPlane */
};

/* One kubeadm document of the Clusterfile, as parsed (its lines are the file's own). */
struct kubeadm_user_doc {
	const char *file; /* for messages: the Clusterfile's path */
	const struct ynode *root;
};

struct kubeadm_config_in {
	const char *k8s_version;   /* the image's, "v1.28.7" */
	const char *const *masters; /* IPs, master0 first */
	size_t n_masters;
	const char *host_ip;	   /* the host the config is for (master0 for init) */
	const char *node_name;	   /* optional: nodeRegistration.name; NULL leaves kubeadm's
				    * default, the hostname */
	const char *cgroup_driver; /* optional: "systemd" or "cgroupfs", as containerd uses */

	/* optional: the image's etc/kubeadm.yml (any of the five kinds, several documents) */
	const char *image_yml;
	size_t image_yml_len;
	const char *image_yml_name; /* for messages, e.g. "kubernetes:v1.28.7:etc/kubeadm.yml" */

	const struct kubeadm_user_doc *user_docs;
	size_t n_user_docs;

	/* join only, as kubeadm printed them on master0 (checked for kubeadm's format) */
	const char *token;	     /* [a-z0-9]{6}.[a-z0-9]{16} */
	const char *ca_cert_hash;    /* sha256:<64 hex> */
	const char *certificate_key; /* 64 hex, masters only */

	/* optional: called once per warning (a forced field overridden, a field dropped) */
	void (*warn)(void *userdata, const char *msg);
	void *warn_userdata;
};

/* kubeadm.k8s.io/v1beta2 or v1beta3 for a version such as "v1.28.7"; -EINVAL (with the
 * reason in err) for a malformed version or one outside 1.15 to 1.30. */
int kubeadm_api_version(const char *k8s_version, const char **ret, struct errbuf *err);

/* Whether kind is one of the five kubeadm document kinds a Clusterfile may carry. */
bool kubeadm_is_config_kind(const char *kind);

/* Renders the config for role into out (appended). -EINVAL with "FILE:LINE: Kind.field: …"
 * in err for a document kubeadm would not take or cirun cannot convert. */
int kubeadm_config_render(enum kubeadm_role role, const struct kubeadm_config_in *in,
			  struct buf *out, struct errbuf *err);

/* Checks every document of every layer as the renders will, and reports the warnings (via
 * in->warn) once, before any host is touched. host_ip and the join fields are not looked at
 * (they may be NULL): a render checks them. */
int kubeadm_config_validate(const struct kubeadm_config_in *in, struct errbuf *err);
