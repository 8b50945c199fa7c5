/* The cluster model a run works from: hosts with roles, SSH settings (per host over the
 * global ones) and env (per host over global), resolved from flags, and validated before
 * any connection is made. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config-apply.h"
#include "error.h"
#include "ip-list.h"
#include "kv.h"

struct ynode;

enum host_role {
	ROLE_MASTER,
	ROLE_NODE,
};

struct ssh_settings {
	char *user;
	char *password;
	char *pk_file;
	char *pk_passphrase;
	unsigned port;
};

struct cluster_host {
	char *ip;
	enum host_role role;
	struct ssh_settings ssh;
	struct kv *env; /* global env, then this host's over it */
	size_t nenv;
};

/* A Clusterfile `kind: Plugin` document as written, checked for shape only (strings where
 * strings belong, type and action present); phases, types and `on` are validated by
 * plugins/ before any host is touched. */
struct cluster_plugin {
	char *name;   /* metadata.name */
	char *type;   /* spec.type */
	char *action; /* spec.action: one phase or several joined by '|' */
	char *on;     /* spec.on, NULL when absent (all hosts) */
	char *data;   /* spec.data, NULL when absent */
	char *file;   /* where the document came from */
	unsigned line;
};

/* A kubeadm, kubelet or kube-proxy configuration document of the Clusterfile, kept whole
 * for the kubeadm config merge; apiVersion checked against its kind. */
struct cluster_kubeadm_doc {
	char *kind;	    /* InitConfiguration, ClusterConfiguration, JoinConfiguration,
			     * KubeletConfiguration, KubeProxyConfiguration */
	char *api_version;
	struct ynode *tree; /* the whole document, owned */
	char *file;
	unsigned line;
};

struct cluster {
	char *name;
	char *image;
	struct ssh_settings ssh;
	struct kv *env;
	size_t nenv;
	struct cluster_host *hosts; /* masters first: hosts[0] is master0 */
	size_t nhosts;
	struct kv *cmd_args; /* spec.cmd_args: overrides of the image's ARGs for CMD replay */
	size_t ncmd_args;
	char *registry_host; /* spec.registry.host; NULL: the image's etc/registry.yml or master0 */
	struct cluster_plugin *plugins; /* in document order (the template's first) */
	size_t nplugins;
	struct config_doc *configs;
	size_t nconfigs;
	struct cluster_kubeadm_doc *kubeadm; /* at most one of each kind */
	size_t nkubeadm;
};

void cluster_release(struct cluster *c);
void cluster_plugin_release(struct cluster_plugin *p);
void cluster_kubeadm_doc_release(struct cluster_kubeadm_doc *k);

/* "K=V": K must be a shell identifier; "a;b" values stay as they are here (templates
 * see them as lists). */
int parse_env_item(const char *s, struct kv *ret, struct errbuf *err);

/* Adds hosts of a role from an IP list; duplicates across the cluster are refused. */
int cluster_add_hosts(struct cluster *c, const char *spec, enum host_role role, const char *flag,
		      struct errbuf *err);

/* Fills per-host SSH settings and env from the global ones and checks the whole model:
 * at least one master, a valid name, an image, a way to authenticate, a registry host
 * that is one of the hosts. */
int cluster_finish(struct cluster *c, struct errbuf *err);

/* Checks the files the run will need, before any connection: every host's SSH key must
 * be a readable regular file holding a private key (a public key, a PuTTY key or anything
 * else is refused with what to give instead). After cluster_finish. */
int cluster_check_files(const struct cluster *c, struct errbuf *err);

const char *role_name(enum host_role r);
