/* The cluster model a run works from: hosts with roles, SSH settings (per host over the
 * global ones) and env (per host over global), resolved from flags, and validated before
 * any connection is made. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "ip-list.h"
#include "kv.h"

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

struct cluster {
	char *name;
	char *image;
	struct ssh_settings ssh;
	struct kv *env;
	size_t nenv;
	struct cluster_host *hosts; /* masters first: hosts[0] is master0 */
	size_t nhosts;
};

void cluster_release(struct cluster *c);

/* "K=V": K must be a shell identifier; "a;b" values stay as they are here (templates
 * see them as lists). */
int parse_env_item(const char *s, struct kv *ret, struct errbuf *err);

/* Adds hosts of a role from an IP list; duplicates across the cluster are refused. */
int cluster_add_hosts(struct cluster *c, const char *spec, enum host_role role, const char *flag,
		      struct errbuf *err);

/* Fills per-host SSH settings and env from the global ones and checks the whole model:
 * at least one master, a valid name, an image, a way to authenticate. */
int cluster_finish(struct cluster *c, struct errbuf *err);

/* Checks the files the run will need, before any connection: every host's SSH key must
 * be a readable regular file holding a private key (a public key, a PuTTY key or anything
 * else is refused with what to give instead). After cluster_finish. */
int cluster_check_files(const struct cluster *c, struct errbuf *err);

const char *role_name(enum host_role r);
