#include "cluster.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "macro.h"
#include "name.h"
#include "ydoc.h"

const char *role_name(enum host_role r)
{
	return r == ROLE_MASTER ? "master" : "node";
}

static void ssh_settings_release(struct ssh_settings *s)
{
	if (s->password)
		explicit_bzero(s->password, strlen(s->password));
	if (s->pk_passphrase)
		explicit_bzero(s->pk_passphrase, strlen(s->pk_passphrase));
	free(s->user);
	free(s->password);
	free(s->pk_file);
	free(s->pk_passphrase);
	memset(s, 0, sizeof(*s));
}

static void kv_list_free(struct kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

void cluster_plugin_release(struct cluster_plugin *p)
{
	free(p->name);
	free(p->type);
	free(p->action);
	free(p->on);
	free(p->data);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

void cluster_kubeadm_doc_release(struct cluster_kubeadm_doc *k)
{
	free(k->kind);
	free(k->api_version);
	ynode_free(k->tree);
	free(k->file);
	memset(k, 0, sizeof(*k));
}

void cluster_release(struct cluster *c)
{
	for (size_t i = 0; i < c->nhosts; i++) {
		free(c->hosts[i].ip);
		ssh_settings_release(&c->hosts[i].ssh);
		kv_list_free(c->hosts[i].env, c->hosts[i].nenv);
	}
	free(c->hosts);
	free(c->name);
	free(c->image);
	ssh_settings_release(&c->ssh);
	kv_list_free(c->env, c->nenv);
	kv_list_free(c->cmd_args, c->ncmd_args);
	free(c->registry_host);
	for (size_t i = 0; i < c->nplugins; i++)
		cluster_plugin_release(&c->plugins[i]);
	free(c->plugins);
	for (size_t i = 0; i < c->nconfigs; i++)
		config_doc_release(&c->configs[i]);
	free(c->configs);
	for (size_t i = 0; i < c->nkubeadm; i++)
		cluster_kubeadm_doc_release(&c->kubeadm[i]);
	free(c->kubeadm);
	memset(c, 0, sizeof(*c));
}

int parse_env_item(const char *s, struct kv *ret, struct errbuf *err)
{
	const char *eq = strchr(s, '=');
	size_t klen = eq ? (size_t)(eq - s) : 0;

	if (!eq || klen == 0)
		return errbuf_set(err, -EINVAL, "env '%s' must be KEY=VALUE with KEY a shell "
				  "identifier (letters, digits, '_')", s);
	if (!shell_identifier_valid(s, klen))
		return errbuf_set(err, -EINVAL, "env key '%.*s' is not a shell identifier "
				  "(letters, digits, '_'; init.sh gets it exported)", (int)klen, s);
	ret->key = xstrndup(s, klen);
	ret->value = xstrdup(eq + 1);
	return 0;
}

int cluster_add_hosts(struct cluster *c, const char *spec, enum host_role role, const char *flag,
		      struct errbuf *err)
{
	char **ips = NULL;
	size_t n = 0;
	int r = parse_ip_list(spec, &ips, &n, err);

	if (r < 0)
		return errbuf_prefix(err, "%s", flag);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; r >= 0 && k < c->nhosts; k++)
			if (strcmp(c->hosts[k].ip, ips[i]) == 0)
				r = errbuf_set(err, -EINVAL, "%s: host %s is listed twice", flag, ips[i]);
		if (r < 0) {
			for (size_t k = i; k < n; k++)
				free(ips[k]);
			break;
		}
		c->hosts = xreallocarray(c->hosts, c->nhosts + 1, sizeof(*c->hosts));
		c->hosts[c->nhosts++] = (struct cluster_host){ .ip = ips[i], .role = role };
	}
	free(ips);
	return r;
}

/* Fills *field from fallback when the host did not set it. */
static void fill(char **field, const char *fallback)
{
	if (!*field && fallback)
		*field = xstrdup(fallback);
}

/* "10.0.0.1:2222" is host 10.0.0.1 (the port is stripped later in cluster_finish). */
static bool same_host(const char *entry, const char *host)
{
	const char *colon = strrchr(entry, ':');
	size_t len = colon && strchr(entry, ':') == colon ? (size_t)(colon - entry) : strlen(entry);
	return strlen(host) == len && strncmp(entry, host, len) == 0;
}

int cluster_finish(struct cluster *c, struct errbuf *err)
{
	size_t masters = 0;

	if (!c->name)
		c->name = xstrdup("my-cluster");
	if (!cluster_name_valid(c->name))
		return errbuf_set(err, -EINVAL, "--cluster-name '%s': use lower-case letters, digits, "
				  "'.', '_', '-' (at most 63)", c->name);
	if (!c->image)
		return errbuf_set(err, -EINVAL, "no image: give the cluster image to install");
	for (size_t i = 0; i < c->nhosts; i++)
		masters += c->hosts[i].role == ROLE_MASTER;
	if (masters == 0)
		return errbuf_set(err, -EINVAL, "-m: at least one master is needed (master0 is the "
				  "first of them)");
	/* masters first, in the order given: master0 is always a master */
	for (size_t i = 0, m = 0; i < c->nhosts; i++) {
		if (c->hosts[i].role == ROLE_MASTER) {
			struct cluster_host t = c->hosts[i];
			memmove(c->hosts + m + 1, c->hosts + m, (i - m) * sizeof(*c->hosts));
			c->hosts[m++] = t;
		}
	}
	if (c->registry_host) {
		size_t i;
		for (i = 0; i < c->nhosts && !same_host(c->hosts[i].ip, c->registry_host); i++)
			;
		if (i == c->nhosts)
			return errbuf_set(err, -EINVAL, "spec.registry.host %s is not one of the "
					  "cluster's hosts: the registry runs on a cluster host (the agent "
					  "starts it)", c->registry_host);
	}
	if (!c->ssh.password && !c->ssh.pk_file) {
		for (size_t i = 0; i < c->nhosts; i++)
			if (!c->hosts[i].ssh.password && !c->hosts[i].ssh.pk_file)
				return errbuf_set(err, -EINVAL, "no SSH credentials for %s: give -p, "
						  "--passwd-file, CIRUN_SSH_PASSWORD or --pk (or ssh.passwd "
						  "in the Clusterfile)", c->hosts[i].ip);
	}
	for (size_t i = 0; i < c->nhosts; i++) {
		struct cluster_host *h = &c->hosts[i];
		char *colon = strrchr(h->ip, ':');
		if (colon && strchr(h->ip, ':') == colon) {
			h->ssh.port = (unsigned)atoi(colon + 1);
			*colon = '\0';
		}
		fill(&h->ssh.user, c->ssh.user ? c->ssh.user : "root");
		fill(&h->ssh.password, c->ssh.password);
		/* the sources refuse it with their own names; this is the last line */
		if (h->ssh.password && !*h->ssh.password)
			return errbuf_set(err, -EINVAL, "the SSH password for %s is empty", h->ip);
		fill(&h->ssh.pk_file, c->ssh.pk_file);
		fill(&h->ssh.pk_passphrase, c->ssh.pk_passphrase);
		if (!h->ssh.port)
			h->ssh.port = c->ssh.port ? c->ssh.port : 22;
		/* global env first, a host's own over it */
		struct kv *merged = NULL;
		size_t n = 0;
		for (int pass = 0; pass < 2; pass++) {
			const struct kv *src = pass ? h->env : c->env;
			size_t ns = pass ? h->nenv : c->nenv;
			for (size_t k = 0; k < ns; k++) {
				size_t j;
				for (j = 0; j < n && strcmp(merged[j].key, src[k].key) != 0; j++)
					;
				if (j == n) {
					merged = xreallocarray(merged, n + 1, sizeof(*merged));
					merged[n++] = (struct kv){ xstrdup(src[k].key), xstrdup(src[k].value) };
				} else {
					free(merged[j].value);
					merged[j].value = xstrdup(src[k].value);
				}
			}
		}
		kv_list_free(h->env, h->nenv);
		h->env = merged;
		h->nenv = n;
	}
	return 0;
}

#define KEY_FILE_MAX (64u << 10)

/* Only the armour line is looked at: libssh2 parses the key when it logs in; this is to
 * say early, and plainly, that the file given is not one. */
static int check_key_file(const char *path, struct errbuf *err)
{
	static const char begin[] = "-----BEGIN ", end[] = "PRIVATE KEY-----";
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char head[256];
	struct stat st;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return errbuf_set(err, negative_errno(), "SSH key '%s': %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return errbuf_set(err, -EINVAL, "SSH key '%s' is not a regular file", path);
	if (st.st_size > KEY_FILE_MAX)
		return errbuf_set(err, -EINVAL, "SSH key '%s' is too large to be a private key", path);
	n = read(fd, head, sizeof(head) - 1);
	if (n < 0)
		return errbuf_set(err, negative_errno(), "SSH key '%s': %s", path, strerror(errno));
	head[n] = '\0';
	char *nl = strpbrk(head, "\r\n");
	if (nl)
		*nl = '\0';
	size_t len = strlen(head);
	bool ok = strncmp(head, begin, strlen(begin)) == 0 && len >= strlen(end) &&
		  strcmp(head + len - strlen(end), end) == 0;
	bool pub = strncmp(head, "ssh-", 4) == 0 || strncmp(head, "ecdsa-", 6) == 0 ||
		   strncmp(head, "sk-", 3) == 0;
	bool putty = strncmp(head, "PuTTY-User-Key-File", 19) == 0;
	explicit_bzero(head, sizeof(head)); /* past the first line: key material */
	if (ok)
		return 0;
	if (pub)
		return errbuf_set(err, -EINVAL, "SSH key '%s' is a public key: give the private key "
				  "(the file without .pub)", path);
	if (putty)
		return errbuf_set(err, -EINVAL, "SSH key '%s' is a PuTTY key: convert it with "
				  "'puttygen KEY -O private-openssh -o KEY.pem'", path);
	return errbuf_set(err, -EINVAL, "SSH key '%s' is not a private key (no '-----BEGIN "
			  "... PRIVATE KEY-----' line)", path);
}

int cluster_check_files(const struct cluster *c, struct errbuf *err)
{
	for (size_t i = 0; i < c->nhosts; i++) {
		const char *pk = c->hosts[i].ssh.pk_file;
		bool seen = false;
		if (!pk)
			continue;
		for (size_t k = 0; k < i && !seen; k++)
			seen = c->hosts[k].ssh.pk_file && strcmp(c->hosts[k].ssh.pk_file, pk) == 0;
		if (!seen) {
			int r = check_key_file(pk, err);
			if (r < 0)
				return errbuf_prefix(err, "host %s", c->hosts[i].ip);
		}
	}
	return 0;
}
