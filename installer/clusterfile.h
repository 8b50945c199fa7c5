/* Clusterfile: a multi-document YAML file into the cluster model. Errors name the file,
 * line and field.
 *
 * Documents, selected by kind:
 *   Cluster (sealer.cloud/v2, or none given): metadata.name, spec.image, spec.env,
 *     spec.cmd_args (KEY=VALUE overrides of the image's ARGs for CMD replay; the last of a
 *     repeated key wins), spec.ssh, spec.hosts, spec.registry ({host: IP}: the cluster
 *     host that runs the registry; cirun's own field, sealer names it only in the image's
 *     etc/registry.yml). At most one. master0 is the first host with role master.
 *   Cluster zlink.aliyun.com/v1alpha1 (sealer's v1): converted as sealer does, with a
 *     notice: spec.masters.ipList and spec.nodes.ipList become host groups, ssh, env,
 *     image and the name are kept, provider, network and certSANS dropped.
 *   Plugin (sealer.aliyun.com/v1alpha1 or sealer.cloud/v2): kept as written (struct
 *     cluster_plugin); plugins/ validates phases, types and `on`.
 *   Config (the same apiVersions): spec.path, spec.data, spec.strategy (config-apply.h).
 *   InitConfiguration, ClusterConfiguration, JoinConfiguration (kubeadm.k8s.io/v1beta2 or
 *     v1beta3), KubeletConfiguration (kubelet.config.k8s.io/v1beta1),
 *     KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1): kept whole, one of each.
 * Unlike sealer, the text is not run through a template first (a `{{` in a plugin's
 * shell stays as written), and unknown fields of Plugin and Config specs are refused.
 *
 * The image's default Clusterfile (the sea.aliyun.com/ClusterFile annotation) is the
 * template the user's file is laid over (clusterfile_parse_over):
 *   - Cluster: the user's name, image, registry and each ssh field win when given; env
 *     and cmd_args merge key by key (the user's value wins); the user's hosts replace the
 *     template's as a whole.
 *   - Plugin and Config: the template's first, then the user's; a user's document with
 *     the name of a template's one replaces it in place.
 *   - kubeadm documents: the user's document of a kind is merged over the template's of
 *     that kind (maps key by key, lists replaced) when both have the same apiVersion, and
 *     replaces it otherwise.
 * Within one file, a second Plugin or Config of the same name, or a second kubeadm
 * document of a kind, is an error. */
#pragma once

#include "cluster.h"
#include "error.h"

int clusterfile_load(const char *path, struct cluster *ret, struct errbuf *err);
int clusterfile_parse(const char *name, const char *text, size_t len, struct cluster *ret,
		      struct errbuf *err);

/* The user's Clusterfile (name/text) over the template (tmpl_name/tmpl, e.g. "IMAGE
 * (annotation sea.aliyun.com/ClusterFile)"). tmpl NULL: no template. text NULL: the
 * template alone (`cirun run`, where flags give the hosts): then nothing is required
 * here, cluster_finish() checks the result. With text, the merged Cluster must have a
 * name, an image and hosts. */
int clusterfile_parse_over(const char *tmpl_name, const char *tmpl, size_t tmpl_len,
			   const char *name, const char *text, size_t len, struct cluster *ret,
			   struct errbuf *err);
int clusterfile_load_over(const char *tmpl_name, const char *tmpl, size_t tmpl_len,
			  const char *path, struct cluster *ret, struct errbuf *err);
