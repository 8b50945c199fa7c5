#include "proto-msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "hosts-block.h"
#include "journal.h"
#include "macro.h"
#include "name.h"
#include "proto.h"

#define DIGEST_LEN 71 /* "sha256:" + 64 */

/* Every decoder works on one of these: the payload, the message's name for errors. */
struct dec {
	struct cursor c;
	const char *msg;
	struct errbuf *err;
};

static struct dec dec_of(uint8_t type, const void *p, size_t n, struct errbuf *err)
{
	return (struct dec){ cursor_of(p, n), proto_msg_name(type), err };
}

static int bad(struct dec *d, int code, const char *field, const char *what)
{
	return errbuf_set(d->err, code, "malformed %s: %s %s", d->msg, field, what);
}

static int get_u32(struct dec *d, const char *field, uint32_t *ret)
{
	return cur_u32(&d->c, ret) < 0 ? bad(d, -EBADMSG, field, "is missing") : 0;
}

static int get_u64(struct dec *d, const char *field, uint64_t *ret)
{
	return cur_u64(&d->c, ret) < 0 ? bad(d, -EBADMSG, field, "is missing") : 0;
}

static int get_str(struct dec *d, const char *field, size_t max, char **ret)
{
	int r = cur_str(&d->c, max, ret);

	if (r == -E2BIG)
		return errbuf_set(d->err, -E2BIG, "malformed %s: %s is longer than %zu bytes", d->msg,
				  field, max);
	if (r < 0)
		return bad(d, -EBADMSG, field, "is truncated or holds a NUL byte");
	return 0;
}

static int get_digest(struct dec *d, const char *field, char **ret)
{
	int r = get_str(d, field, DIGEST_LEN, ret);

	if (r >= 0 && !digest_ref_valid(*ret)) {
		r = bad(d, -EBADMSG, field, "is not a digest (sha256: and 64 lower-case hex digits)");
		free(*ret);
		*ret = NULL;
	}
	return r;
}

static int get_cluster(struct dec *d, char **ret)
{
	int r = get_str(d, "cluster", 64, ret);

	if (r >= 0 && !cluster_name_valid(*ret)) {
		r = bad(d, -EBADMSG, "cluster", "is not a valid name ([a-z0-9._-], 1-63 bytes)");
		free(*ret);
		*ret = NULL;
	}
	return r;
}

/* A count of items that take at least min_item bytes each, bounded by max and by what
 * is left of the payload, so a lie never drives an allocation. */
static int get_count(struct dec *d, const char *field, uint32_t max, size_t min_item,
		     uint32_t *ret)
{
	int r = get_u32(d, field, ret);

	if (r < 0)
		return r;
	if (*ret > max)
		return errbuf_set(d->err, -E2BIG, "malformed %s: %s %u is more than %u", d->msg, field,
				  *ret, max);
	if (*ret > d->c.left / min_item)
		return bad(d, -EBADMSG, field, "is more than the message holds");
	return 0;
}

static int end(struct dec *d)
{
	return cur_end(&d->c) < 0 ? errbuf_set(d->err, -EBADMSG, "malformed %s: %zu trailing "
					       "byte(s)", d->msg, d->c.left) : 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

bool msg_cwd_valid(const char *cwd)
{
	const char *p = cwd;

	if (!*cwd)
		return true;
	if (*cwd != '/')
		return false;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
	}
	return true;
}

static void env_release(struct kv *env, size_t n)
{
	for (size_t i = 0; env && i < n; i++) {
		free(env[i].key);
		free(env[i].value);
	}
	free(env);
}

/* u32 n, n × (key, value): keys are shell identifiers (they become variables). */
static int get_env(struct dec *d, uint32_t *ret_n, struct kv **ret)
{
	uint32_t n;
	int r = get_count(d, "env count", MSG_MAX_ENV, 8, &n);
	struct kv *env;

	if (r < 0)
		return r;
	env = xcalloc(n ? n : 1, sizeof(*env));
	for (uint32_t i = 0; r >= 0 && i < n; i++) {
		r = get_str(d, "env key", MSG_MAX_ENV_KEY, &env[i].key);
		if (r >= 0 && !shell_identifier_valid(env[i].key, strlen(env[i].key)))
			r = errbuf_set(d->err, -EBADMSG, "malformed %s: env key '%s' is not a shell "
				       "identifier", d->msg, env[i].key);
		if (r >= 0)
			r = get_str(d, "env value", MSG_MAX_ENV_VALUE, &env[i].value);
	}
	if (r < 0) {
		env_release(env, n);
		return r;
	}
	*ret_n = n;
	*ret = env;
	return 0;
}

int msg_hello_decode(const void *p, size_t n, struct msg_hello *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_HELLO, p, n, err);
	struct msg_hello m = { 0 };
	int r = get_u32(&d, "version", &m.version);

	if (r >= 0)
		r = get_str(&d, "client version", MSG_MAX_VERSION, &m.client);
	if (r >= 0 && !printable(m.client))
		r = bad(&d, -EBADMSG, "client version", "holds control characters");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_hello_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_layers_req_decode(const void *p, size_t n, struct msg_layers_req *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_LAYERS_REQ, p, n, err);
	struct msg_layers_req m = { 0 };
	uint32_t count;
	int r = get_count(&d, "layer count", MSG_MAX_LAYERS, 4 + DIGEST_LEN + 8, &count);

	if (r < 0)
		return r;
	m.layers = xcalloc(count ? count : 1, sizeof(*m.layers));
	m.n = count;
	for (uint32_t i = 0; r >= 0 && i < count; i++) {
		r = get_digest(&d, "digest", &m.layers[i].digest);
		if (r >= 0)
			r = get_u64(&d, "size", &m.layers[i].size);
		if (r >= 0 && m.layers[i].size > MSG_MAX_LAYER_SIZE)
			r = bad(&d, -E2BIG, "size", "is beyond any layer");
	}
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_layers_req_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_layer_begin_decode(const void *p, size_t n, struct msg_layer_begin *ret,
			   struct errbuf *err)
{
	struct dec d = dec_of(MSG_LAYER_BEGIN, p, n, err);
	struct msg_layer_begin m = { 0 };
	int r = get_digest(&d, "digest", &m.digest);

	if (r >= 0)
		r = get_u64(&d, "size", &m.size);
	if (r >= 0 && m.size > MSG_MAX_LAYER_SIZE)
		r = bad(&d, -E2BIG, "size", "is beyond any layer");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_layer_begin_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_layer_data_decode(const void *p, size_t n, struct msg_layer_data *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_LAYER_DATA, p, n, err);
	struct msg_layer_data m;
	int r = cur_blob(&d.c, &m.data, &m.len) < 0 ? bad(&d, -EBADMSG, "data", "is truncated") : 0;

	if (r >= 0 && m.len > PROTO_DATA_CHUNK)
		r = errbuf_set(err, -E2BIG, "malformed %s: data is longer than %u bytes", d.msg,
			       PROTO_DATA_CHUNK);
	if (r >= 0)
		r = end(&d);
	if (r >= 0)
		*ret = m;
	return r;
}

int msg_assemble_decode(const void *p, size_t n, struct msg_assemble *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_ASSEMBLE, p, n, err);
	struct msg_assemble m = { 0 };
	uint32_t count = 0;
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_count(&d, "layer count", MSG_MAX_LAYERS, 4 + DIGEST_LEN, &count);
	if (r >= 0) {
		m.digests = xcalloc(count ? count : 1, sizeof(*m.digests));
		m.n = count;
	}
	for (uint32_t i = 0; r >= 0 && i < count; i++)
		r = get_digest(&d, "digest", &m.digests[i]);
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_assemble_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_exec_decode(const void *p, size_t n, struct msg_exec *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_EXEC, p, n, err);
	struct msg_exec m = { 0 };
	int r = get_str(&d, "command", MSG_MAX_COMMAND, &m.command);

	if (r >= 0 && !*m.command)
		r = bad(&d, -EBADMSG, "command", "is empty");
	if (r >= 0)
		r = get_str(&d, "cwd", MSG_MAX_PATH, &m.cwd);
	if (r >= 0 && !msg_cwd_valid(m.cwd))
		r = bad(&d, -EBADMSG, "cwd", "is not an absolute path without '.' or '..'");
	if (r >= 0)
		r = get_u32(&d, "timeout", &m.timeout_s);
	if (r >= 0 && m.timeout_s > MSG_MAX_TIMEOUT_S)
		r = errbuf_set(err, -E2BIG, "malformed %s: timeout %us is more than %us", d.msg,
			       m.timeout_s, MSG_MAX_TIMEOUT_S);
	if (r >= 0)
		r = get_env(&d, &m.nenv, &m.env);
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_exec_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_setup_decode(const void *p, size_t n, struct msg_setup *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_SETUP, p, n, err);
	struct msg_setup m = { 0 };
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_env(&d, &m.nenv, &m.env);
	/* the flags came later: an older client sends none */
	if (r >= 0 && d.c.left)
		r = get_u32(&d, "flags", &m.flags);
	if (r >= 0 && (m.flags & ~PROTO_SETUP_FORCE))
		r = bad(&d, -EBADMSG, "flags", "has unknown bits");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_setup_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

/* A printable string field that must not be empty. */
static int get_label(struct dec *d, const char *field, size_t max, char **ret)
{
	int r = get_str(d, field, max, ret);

	if (r >= 0 && (!**ret || !printable(*ret)))
		r = bad(d, -EBADMSG, field, "is empty or holds control characters");
	return r;
}

static int get_config_path(struct dec *d, char **ret)
{
	struct errbuf why = ERRBUF_INIT;
	int r = get_str(d, "path", MSG_MAX_PATH, ret);

	if (r >= 0 && config_path_check(*ret, &why) < 0)
		r = errbuf_set(d->err, -EBADMSG, "malformed %s: path: %s", d->msg, errbuf_msg(&why));
	return r;
}

int msg_config_decode(const void *p, size_t n, struct msg_config *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_CONFIG, p, n, err);
	struct msg_config m = { 0 };
	uint32_t strategy = 0;
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_label(&d, "name", MSG_MAX_CONFIG_NAME, &m.doc.name);
	if (r >= 0)
		r = get_config_path(&d, &m.doc.path);
	if (r >= 0)
		r = get_str(&d, "data", MSG_MAX_CONFIG_DATA, &m.doc.data);
	if (r >= 0)
		r = get_u32(&d, "strategy", &strategy);
	if (r >= 0 && strategy > CONFIG_APPEND)
		r = bad(&d, -EBADMSG, "strategy", "is not one of merge, override, insert, append");
	m.doc.strategy = (enum config_strategy)strategy;
	if (r >= 0)
		r = get_label(&d, "file", MSG_MAX_PATH, &m.doc.file);
	if (r >= 0)
		r = get_u32(&d, "line", &m.doc.line);
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_config_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

bool msg_archive_name_valid(const char *name)
{
	return *name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/') &&
	       printable(name);
}

int msg_registry_import_decode(const void *p, size_t n, struct msg_registry_import *ret,
			       struct errbuf *err)
{
	struct dec d = dec_of(MSG_REGISTRY_IMPORT, p, n, err);
	struct msg_registry_import m = { 0 };
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_str(&d, "archive", MSG_MAX_ARCHIVE_NAME, &m.archive);
	if (r >= 0 && !msg_archive_name_valid(m.archive))
		r = bad(&d, -EBADMSG, "archive", "is not a plain file name (empty, '.', '..', a '/' "
			"or control characters)");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_registry_import_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

static int get_host_name(struct dec *d, const char *field, char **ret)
{
	int r = get_str(d, field, HOSTS_MAX_NAME, ret);

	if (r >= 0 && !hosts_name_valid(*ret))
		r = bad(d, -EBADMSG, field, "is not a host name ([A-Za-z0-9.-])");
	return r;
}

/* "NAME:PORT", the port 1-65535 in decimal. */
static int get_mirror(struct dec *d, char **ret)
{
	int r = get_str(d, "mirror", HOSTS_MAX_NAME + 6, ret);
	char *colon = r >= 0 ? strrchr(*ret, ':') : NULL;

	if (r < 0)
		return r;
	if (!colon || strspn(colon + 1, "0123456789") != strlen(colon + 1) || !colon[1] ||
	    strlen(colon + 1) > 5 || atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return bad(d, -EBADMSG, "mirror", "is not NAME:PORT");
	*colon = '\0';
	bool ok = hosts_name_valid(*ret);
	*colon = ':';
	return ok ? 0 : bad(d, -EBADMSG, "mirror", "is not NAME:PORT");
}

int msg_hosts_decode(const void *p, size_t n, struct msg_hosts *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_HOSTS, p, n, err);
	struct msg_hosts m = { 0 };
	uint32_t count = 0;
	int r = get_cluster(&d, &m.cluster);

	/* an entry is at least two empty strings, an upstream one */
	if (r >= 0)
		r = get_count(&d, "entries", HOSTS_MAX_ENTRIES, 8, &count);
	if (r >= 0)
		m.entries = xcalloc(count ? count : 1, sizeof(*m.entries));
	for (; r >= 0 && m.n < count; m.n++) {
		struct kv *e = &m.entries[m.n];
		r = get_str(&d, "entry address", 64, &e->key);
		if (r >= 0 && !hosts_ip_valid(e->key))
			r = bad(&d, -EBADMSG, "entry address", "is not an IP address");
		if (r >= 0)
			r = get_host_name(&d, "entry name", &e->value);
	}
	if (r >= 0)
		r = get_mirror(&d, &m.mirror);
	if (r >= 0)
		r = get_count(&d, "upstreams", MSG_MAX_MIRRORS, 4, &count);
	if (r >= 0)
		m.upstreams = xcalloc(count ? count : 1, sizeof(*m.upstreams));
	for (; r >= 0 && m.nup < count; m.nup++) {
		/* a registry of images/ may have a port: myreg.example:5000 */
		r = get_str(&d, "upstream", HOSTS_MAX_NAME + 6, &m.upstreams[m.nup]);
		if (r >= 0 && !hosts_registry_valid(m.upstreams[m.nup]))
			r = bad(&d, -EBADMSG, "upstream", "is not a registry host (HOST[:PORT])");
	}
	if (r >= 0)
		r = get_u32(&d, "flags", &m.flags);
	if (r >= 0 && (m.flags & ~PROTO_HOSTS_FORCE))
		r = bad(&d, -EBADMSG, "flags", "has unknown bits");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_hosts_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_registry_imported_decode(const void *p, size_t n, struct msg_registry_imported *ret,
				 struct errbuf *err)
{
	struct dec d = dec_of(MSG_REGISTRY_IMPORTED, p, n, err);
	struct msg_registry_imported m = { 0 };
	uint32_t count = 0;
	int r = get_str(&d, "detail", MSG_MAX_DETAIL, &m.detail);

	if (r >= 0)
		r = get_count(&d, "registry hosts", MSG_MAX_REGISTRY_SOURCES, 4, &count);
	if (r >= 0)
		m.sources = xcalloc(count ? count : 1, sizeof(*m.sources));
	for (; r >= 0 && m.n < count; m.n++) {
		char **s = &m.sources[m.n];
		r = get_str(&d, "registry host", HOSTS_MAX_NAME + 6, s);
		if (r >= 0 && !hosts_registry_valid(*s))
			r = bad(&d, -EBADMSG, "registry host", "is not HOST[:PORT]");
		/* each host once: the list is a set the run unites with others */
		for (uint32_t k = 0; r >= 0 && k < m.n; k++)
			if (strcmp(m.sources[k], *s) == 0)
				r = bad(&d, -EBADMSG, "registry host", "is listed twice");
	}
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_registry_imported_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void msg_registry_imported_release(struct msg_registry_imported *m)
{
	/* n counts the hosts a decode touched, the one it failed on included */
	for (uint32_t i = 0; m->sources && i < m->n; i++)
		free(m->sources[i]);
	free(m->sources);
	free(m->detail);
	*m = (struct msg_registry_imported){ 0 };
}

int msg_empty_decode(uint8_t type, const void *p, size_t n, struct errbuf *err)
{
	struct dec d = dec_of(type, p, n, err);
	return end(&d);
}

void msg_hello_release(struct msg_hello *m)
{
	free(m->client);
	*m = (struct msg_hello){ 0 };
}

void msg_layers_req_release(struct msg_layers_req *m)
{
	for (uint32_t i = 0; m->layers && i < m->n; i++)
		free(m->layers[i].digest);
	free(m->layers);
	*m = (struct msg_layers_req){ 0 };
}

void msg_layer_begin_release(struct msg_layer_begin *m)
{
	free(m->digest);
	*m = (struct msg_layer_begin){ 0 };
}

void msg_assemble_release(struct msg_assemble *m)
{
	for (uint32_t i = 0; m->digests && i < m->n; i++)
		free(m->digests[i]);
	free(m->digests);
	free(m->cluster);
	*m = (struct msg_assemble){ 0 };
}

void msg_exec_release(struct msg_exec *m)
{
	free(m->command);
	free(m->cwd);
	env_release(m->env, m->nenv);
	*m = (struct msg_exec){ 0 };
}

void msg_setup_release(struct msg_setup *m)
{
	free(m->cluster);
	env_release(m->env, m->nenv);
	*m = (struct msg_setup){ 0 };
}

void msg_hosts_release(struct msg_hosts *m)
{
	/* n and nup count the items a decode touched, the one it failed on included */
	for (uint32_t i = 0; m->entries && i < m->n; i++) {
		free(m->entries[i].key);
		free(m->entries[i].value);
	}
	free(m->entries);
	free(m->mirror);
	for (uint32_t i = 0; m->upstreams && i < m->nup; i++)
		free(m->upstreams[i]);
	free(m->upstreams);
	free(m->cluster);
	*m = (struct msg_hosts){ 0 };
}

void msg_config_release(struct msg_config *m)
{
	free(m->cluster);
	config_doc_release(&m->doc);
	*m = (struct msg_config){ 0 };
}

void msg_registry_import_release(struct msg_registry_import *m)
{
	free(m->cluster);
	free(m->archive);
	*m = (struct msg_registry_import){ 0 };
}

bool msg_kubeadm_name_valid(const char *name)
{
	size_t n = strlen(name), stem;

	if (n <= strlen("kubeadm-.yaml") || strncmp(name, "kubeadm-", 8) != 0 ||
	    strcmp(name + n - 5, ".yaml") != 0)
		return false;
	stem = n - strlen("kubeadm-.yaml");
	if (stem > 32)
		return false;
	for (size_t i = 8; i < 8 + stem; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return false;
	return true;
}

/* YAML text: no control character but tab, newline and carriage return */
static bool yaml_text(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' && *s != '\r') || *s == 0x7f)
			return false;
	return true;
}

int msg_kubeadm_config_decode(const void *p, size_t n, struct msg_kubeadm_config *ret,
			      struct errbuf *err)
{
	struct dec d = dec_of(MSG_KUBEADM_CONFIG, p, n, err);
	struct msg_kubeadm_config m = { 0 };
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_str(&d, "name", 64, &m.name);
	if (r >= 0 && !msg_kubeadm_name_valid(m.name))
		r = bad(&d, -EBADMSG, "name", "is not kubeadm-NAME.yaml (NAME of [a-z0-9-], 1-32 bytes)");
	if (r >= 0)
		r = get_str(&d, "data", MSG_MAX_KUBEADM_CONFIG, &m.data);
	if (r >= 0 && !yaml_text(m.data))
		r = bad(&d, -EBADMSG, "data", "holds control characters");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_kubeadm_config_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void msg_kubeadm_config_release(struct msg_kubeadm_config *m)
{
	free(m->cluster);
	free(m->name);
	if (m->data)
		explicit_bzero(m->data, strlen(m->data)); /* the join token, the certificate key */
	free(m->data);
	*m = (struct msg_kubeadm_config){ 0 };
}

static bool all_of(const char *s, size_t max, const char *extra, bool upper_digits)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++) {
		char ch = *s;
		if ((ch >= 'a' && ch <= 'z') || strchr(extra, ch))
			continue;
		if (upper_digits && ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
			continue;
		return false;
	}
	return true;
}

bool msg_lock_host_valid(const char *s)
{
	return all_of(s, MSG_MAX_LOCK_HOST, "._-", true);
}

bool msg_lock_command_valid(const char *s)
{
	return all_of(s, MSG_MAX_LOCK_COMMAND, "-", false);
}

int msg_lock_decode(const void *p, size_t n, struct msg_lock *ret, struct errbuf *err)
{
	struct dec d = dec_of(MSG_LOCK, p, n, err);
	struct msg_lock m = { 0 };
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_str(&d, "command", MSG_MAX_LOCK_COMMAND, &m.command);
	if (r >= 0 && !msg_lock_command_valid(m.command))
		r = bad(&d, -EBADMSG, "command", "is not 1-32 bytes of [a-z-]");
	if (r >= 0)
		r = get_str(&d, "owner host", MSG_MAX_LOCK_HOST, &m.owner);
	if (r >= 0 && !msg_lock_host_valid(m.owner))
		r = bad(&d, -EBADMSG, "owner host", "is not a host name ([A-Za-z0-9._-], 1-253 bytes)");
	if (r >= 0)
		r = get_u32(&d, "owner pid", &m.pid);
	if (r >= 0 && (m.pid == 0 || m.pid > MSG_MAX_LOCK_PID))
		r = bad(&d, -EBADMSG, "owner pid", "is not a process id");
	if (r >= 0)
		r = get_u32(&d, "flags", &m.flags);
	if (r >= 0 && (m.flags & ~PROTO_LOCK_FORCE))
		r = bad(&d, -EBADMSG, "flags", "has unknown bits");
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_lock_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

int msg_journal_read_decode(const void *p, size_t n, struct msg_journal *ret,
			    struct errbuf *err)
{
	struct dec d = dec_of(MSG_JOURNAL_READ, p, n, err);
	struct msg_journal m = { 0 };
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_journal_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void msg_lock_release(struct msg_lock *m)
{
	free(m->cluster);
	free(m->command);
	free(m->owner);
	*m = (struct msg_lock){ 0 };
}

int msg_clean_decode(const void *p, size_t n, char **ret_cluster, struct errbuf *err)
{
	struct dec d = dec_of(MSG_CLEAN, p, n, err);
	char *cluster = NULL;
	int r = get_cluster(&d, &cluster);

	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		free(cluster);
		return r;
	}
	*ret_cluster = cluster;
	return 0;
}
int msg_journal_append_decode(const void *p, size_t n, struct msg_journal *ret,
			      struct errbuf *err)
{
	struct dec d = dec_of(MSG_JOURNAL_APPEND, p, n, err);
	struct msg_journal m = { 0 };
	struct errbuf e = ERRBUF_INIT;
	int r = get_cluster(&d, &m.cluster);

	if (r >= 0)
		r = get_str(&d, "line", JOURNAL_MAX_LINE, &m.line);
	if (r >= 0 && journal_line_check(m.line, &e) < 0)
		r = errbuf_set(err, -EBADMSG, "malformed %s: line %s", d.msg, errbuf_msg(&e));
	if (r >= 0)
		r = end(&d);
	if (r < 0) {
		msg_journal_release(&m);
		return r;
	}
	*ret = m;
	return 0;
}

void msg_journal_release(struct msg_journal *m)
{
	free(m->cluster);
	free(m->line);
	*m = (struct msg_journal){ 0 };
}
