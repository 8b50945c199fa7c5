#include "kubeadm-config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "macro.h"

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

#define API_V1BETA2 "kubeadm.k8s.io/v1beta2"
#define API_V1BETA3 "kubeadm.k8s.io/v1beta3"
#define MAX_MASTERS 1000
/* SANs are de-duplicated pairwise: a cap keeps a hostile image from making that slow. */
#define MAX_SANS 1000
#define API_PORT "6443" /* the port of KUBEADM_API_ENDPOINT */

enum kind { K_INIT, K_CLUSTER, K_JOIN, K_KUBELET, K_PROXY, K__N };

/* api NULL: a kubeadm.k8s.io kind, whose version follows Kubernetes'. */
static const struct {
	const char *name;
	const char *api;
} kinds[K__N] = {
	[K_INIT] = { "InitConfiguration", NULL },
	[K_CLUSTER] = { "ClusterConfiguration", NULL },
	[K_JOIN] = { "JoinConfiguration", NULL },
	[K_KUBELET] = { "KubeletConfiguration", "kubelet.config.k8s.io/v1beta1" },
	[K_PROXY] = { "KubeProxyConfiguration", "kubeproxy.config.k8s.io/v1alpha1" },
};

enum layer { L_DEFAULT, L_IMAGE, L_USER, L__N };

/* kubeadm v1.28's `config print init-defaults|join-defaults` without what must not be
 * defaulted: the example token and tlsBootstrapToken, unsafeSkipCAVerification, the node
 * names, advertiseAddress 1.2.3.4, `taints: null`; and without the component-config fields
 * kubeadm derives from the ClusterConfiguration (clusterDNS, clusterDomain, clusterCIDR) or
 * prints as zero placeholders. podSubnet is sealer's default, so that node CIDRs are
 * allocated for a bridge CNI. kubeadm kinds get their apiVersion from the version. */
static const char builtin_default[] =
	"kind: InitConfiguration\n"
	"localAPIEndpoint:\n"
	"  bindPort: 6443\n"
	"nodeRegistration:\n"
	"  criSocket: unix:///var/run/containerd/containerd.sock\n"
	"---\n"
	"kind: ClusterConfiguration\n"
	"apiServer:\n"
	"  timeoutForControlPlane: 4m0s\n"
	"certificatesDir: /etc/kubernetes/pki\n"
	"clusterName: kubernetes\n"
	"controllerManager: {}\n"
	"dns: {}\n"
	"etcd:\n"
	"  local:\n"
	"    dataDir: /var/lib/etcd\n"
	"networking:\n"
	"  dnsDomain: cluster.local\n"
	"  serviceSubnet: 10.96.0.0/12\n"
	"  podSubnet: 100.64.0.0/10\n"
	"scheduler: {}\n"
	"---\n"
	"kind: JoinConfiguration\n"
	"caCertPath: /etc/kubernetes/pki/ca.crt\n"
	"discovery:\n"
	"  timeout: 5m0s\n"
	"nodeRegistration:\n"
	"  criSocket: unix:///var/run/containerd/containerd.sock\n"
	"---\n"
	"apiVersion: kubelet.config.k8s.io/v1beta1\n"
	"kind: KubeletConfiguration\n"
	"cgroupDriver: systemd\n"
	"---\n"
	"apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
	"kind: KubeProxyConfiguration\n";

struct ctx {
	const struct kubeadm_config_in *in;
	const char *api;
	char version[64];    /* "v1.28.7" */
	char node_name[254]; /* lower-cased, "" when not given */
	bool warn;
	struct errbuf *err;
	struct ynode *doc[L__N][K__N];
	const char *file[L__N][K__N];
};

static void ctx_done(struct ctx *c)
{
	for (size_t l = 0; l < L__N; l++)
		for (size_t k = 0; k < K__N; k++)
			ynode_free(c->doc[l][k]);
}

static void warnf(struct ctx *c, const char *fmt, ...) _printf_(2, 3);
static void warnf(struct ctx *c, const char *fmt, ...)
{
	char msg[ERRBUF_MSG_MAX];
	va_list ap;

	if (!c->warn || !c->in->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->in->warn(c->in->warn_userdata, msg);
}

/* "v1.28.7", "1.28.7", "v1.28.7-rc.0+abc": numbers of up to 4 digits, a suffix of
 * [0-9A-Za-z.+-]. The normalized form always starts with 'v'. */
static int parse_version(const char *s, unsigned *major, unsigned *minor, char *norm,
			 size_t normsz)
{
	unsigned num[3] = { 0 };
	const char *p = s;

	if (!s || strlen(s) >= normsz - 1)
		return -EINVAL;
	if (*p == 'v')
		p++;
	for (int i = 0; i < 3; i++) {
		size_t digits = 0;
		if (p[0] == '0' && isdigit((unsigned char)p[1])) /* semver has no leading zeros */
			return -EINVAL;
		while (isdigit((unsigned char)*p) && digits < 5) {
			num[i] = num[i] * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 4)
			return -EINVAL;
		if (i < 2 && *p++ != '.')
			return -EINVAL;
	}
	if (*p && *p != '-' && *p != '+')
		return -EINVAL;
	for (const char *q = p; *q; q++)
		if (!isalnum((unsigned char)*q) && !strchr(".+-", *q))
			return -EINVAL;
	*major = num[0];
	*minor = num[1];
	snprintf(norm, normsz, "v%s", s[0] == 'v' ? s + 1 : s);
	return 0;
}

int kubeadm_api_version(const char *k8s_version, const char **ret, struct errbuf *err)
{
	unsigned major, minor;
	char norm[64];

	if (parse_version(k8s_version, &major, &minor, norm, sizeof(norm)) < 0)
		return errbuf_set(err, -EINVAL,
				  "Kubernetes version '%.64s' is not of the form v1.28.7",
				  k8s_version ? k8s_version : "");
	if (major != 1 || minor < 15)
		return errbuf_set(err, -EINVAL,
				  "Kubernetes %s is too old: cirun writes kubeadm configs for 1.15 and later",
				  norm);
	if (minor >= 31)
		return errbuf_set(err, -EINVAL,
				  "Kubernetes %s reads kubeadm.k8s.io/v1beta4, which cirun does not write yet (it supports 1.15 to 1.30)",
				  norm);
	*ret = minor < 23 ? API_V1BETA2 : API_V1BETA3;
	return 0;
}

bool kubeadm_is_config_kind(const char *kind)
{
	for (size_t k = 0; kind && k < K__N; k++)
		if (streq(kind, kinds[k].name))
			return true;
	return false;
}

/* ---- input checks ---- */

static bool is_ip(const char *s)
{
	unsigned char a[16];
	return s && (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1);
}

static bool charset_len(const char *s, const char *set, size_t len)
{
	if (!s || strlen(s) != len)
		return false;
	return strspn(s, set) == len;
}

#define LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define LOWER_HEX "0123456789abcdef"

static bool is_token(const char *s)
{
	return s && strlen(s) == 23 && s[6] == '.' && strspn(s, LOWER_ALNUM) == 6 &&
	       strspn(s + 7, LOWER_ALNUM) == 16;
}

static bool is_ca_hash(const char *s)
{
	return s && strncmp(s, "sha256:", 7) == 0 && charset_len(s + 7, LOWER_HEX, 64);
}

static int check_node_name(struct ctx *c)
{
	const char *s = c->in->node_name;
	size_t n = s ? strlen(s) : 0;

	c->node_name[0] = '\0';
	if (!s)
		return 0;
	/* kubeadm lower-cases the hostname it defaults to; a name as given must be a DNS-1123
	 * subdomain. */
	if (n == 0 || n >= sizeof(c->node_name))
		return errbuf_set(c->err, -EINVAL, "node name '%.64s' is empty or too long", s);
	for (size_t i = 0; i <= n; i++)
		c->node_name[i] = (char)tolower((unsigned char)s[i]);
	if (strspn(c->node_name, LOWER_ALNUM ".-") != n || !isalnum((unsigned char)c->node_name[0]) ||
	    !isalnum((unsigned char)c->node_name[n - 1]))
		return errbuf_set(c->err, -EINVAL,
				  "node name '%.64s' is not a valid Kubernetes node name (letters, digits, '.', '-')",
				  s);
	return 0;
}

static bool is_master(const struct kubeadm_config_in *in, const char *ip, size_t from)
{
	for (size_t i = from; i < in->n_masters; i++)
		if (streq(in->masters[i], ip))
			return true;
	return false;
}

/* Validation (not rendering) checks what every host's config shares. */
static int check_inputs(struct ctx *c, enum kubeadm_role role, bool rendering)
{
	const struct kubeadm_config_in *in = c->in;
	unsigned major, minor;
	int r;

	r = kubeadm_api_version(in->k8s_version, &c->api, c->err);
	if (r < 0)
		return r;
	(void)parse_version(in->k8s_version, &major, &minor, c->version, sizeof(c->version));
	if (in->n_masters == 0 || in->n_masters > MAX_MASTERS || !in->masters)
		return errbuf_set(c->err, -EINVAL, "a kubeadm config needs 1 to %d masters, not %zu",
				  MAX_MASTERS, in->n_masters);
	for (size_t i = 0; i < in->n_masters; i++)
		if (!is_ip(in->masters[i]))
			return errbuf_set(c->err, -EINVAL, "master %zu '%.64s' is not an IP address",
					  i, in->masters[i] ? in->masters[i] : "");
	if (in->cgroup_driver && !streq(in->cgroup_driver, "systemd") &&
	    !streq(in->cgroup_driver, "cgroupfs"))
		return errbuf_set(c->err, -EINVAL, "cgroup driver '%.32s' is neither systemd nor cgroupfs",
				  in->cgroup_driver);
	r = check_node_name(c);
	if (r < 0 || !rendering)
		return r;
	if (!is_ip(in->host_ip))
		return errbuf_set(c->err, -EINVAL, "host '%.64s' is not an IP address",
				  in->host_ip ? in->host_ip : "");
	if (role == KUBEADM_INIT && !streq(in->host_ip, in->masters[0]))
		return errbuf_set(c->err, -EINVAL, "kubeadm init runs on master0 %s, not on %s",
				  in->masters[0], in->host_ip);
	if (role == KUBEADM_JOIN_MASTER && !is_master(in, in->host_ip, 1))
		return errbuf_set(c->err, -EINVAL,
				  "%s joins as a master but is not one of the masters after master0",
				  in->host_ip);
	if (role == KUBEADM_JOIN_NODE && is_master(in, in->host_ip, 0))
		return errbuf_set(c->err, -EINVAL, "%s is a master; it cannot join as a node",
				  in->host_ip);
	if (role == KUBEADM_INIT)
		return 0;
	/* What kubeadm printed on master0 is host output: its format is checked before it goes
	 * into a file. Values are never echoed: they are secrets. */
	if (!is_token(in->token))
		return errbuf_set(c->err, -EINVAL,
				  "the bootstrap token from master0 is not of kubeadm's form [a-z0-9]{6}.[a-z0-9]{16}");
	if (!is_ca_hash(in->ca_cert_hash))
		return errbuf_set(c->err, -EINVAL,
				  "the CA certificate hash from master0 is not of the form sha256:<64 hex digits>");
	if (role == KUBEADM_JOIN_MASTER && !charset_len(in->certificate_key, LOWER_HEX, 64))
		return errbuf_set(c->err, -EINVAL,
				  "the certificate key from master0 is not 64 hex digits");
	return 0;
}

/* ---- checking and converting one document ---- */

static int field_err(struct ctx *c, const char *file, const struct ynode *at, enum kind k,
		     const char *field, const char *fmt, ...) _printf_(6, 7);
static int field_err(struct ctx *c, const char *file, const struct ynode *at, enum kind k,
		     const char *field, const char *fmt, ...)
{
	char what[ERRBUF_MSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	c->err->line = ynode_line(at);
	return errbuf_set(c->err, -EINVAL, "%s:%u: %s%s%s: %s", file, ynode_line(at),
			  kinds[k].name, field[0] ? "." : "", field, what);
}

/* A field one API version has and the other has not: refused, the user must remove it. */
static int refuse_field(struct ctx *c, struct ynode *doc, const char *file, enum kind k,
			const char *field, const char *from)
{
	struct ynode *n = ynode_get(doc, field);

	if (!n)
		return 0;
	return field_err(c, file, n, k, field,
			 "exists in %s but not in %s, which Kubernetes %s reads; remove it", from,
			 c->api, c->version);
}

/* Drops field when it holds the one value the target version implies, refuses it else. */
static int drop_if(struct ctx *c, struct ynode *doc, const char *file, enum kind k,
		   const char *parent, const char *key, const char *implied, const char *why)
{
	struct ynode *p = parent ? ynode_get(doc, parent) : doc;
	struct ynode *n = ynode_map_get(p, key);
	char field[64];

	if (!n)
		return 0;
	snprintf(field, sizeof(field), "%s%s%s", parent ? parent : "", parent ? "." : "", key);
	if (!ynode_str(n) || strcasecmp(ynode_str(n), implied) != 0)
		return field_err(c, file, n, k, field, "cannot be converted to %s: %s", c->api, why);
	return ynode_map_remove(p, key);
}

static int convert(struct ctx *c, struct ynode *doc, const char *file, enum kind k,
		   const char *from)
{
	int r = 0;

	if (streq(c->api, API_V1BETA3) && k == K_CLUSTER) {
		r = drop_if(c, doc, file, k, NULL, "useHyperKubeImage", "false",
			    "the hyperkube image is gone; remove the field");
		if (r >= 0)
			r = drop_if(c, doc, file, k, "dns", "type", "CoreDNS",
				    "CoreDNS is the only DNS kubeadm installs; remove the field");
	} else if (streq(c->api, API_V1BETA2) && (k == K_INIT || k == K_JOIN)) {
		static const char *const added[] = { "skipPhases", "patches",
						     "nodeRegistration.imagePullPolicy" };
		for (size_t i = 0; r >= 0 && i < ELEMENTSOF(added); i++)
			r = refuse_field(c, doc, file, k, added[i], from);
	}
	if (r < 0)
		return r;
	return ynode_map_set(doc, "apiVersion", ynode_new_str(c->api));
}

/* Each step of path must be a map (or null, or absent) so that forced fields can go in. */
static int check_maps(struct ctx *c, struct ynode *doc, const char *file, enum kind k,
		      const char *path)
{
	char prefix[128];

	for (const char *dot = path;; dot++) {
		if (*dot && *dot != '.')
			continue;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(dot - path), path);
		struct ynode *n = ynode_get(doc, prefix);
		if (n && ynode_kind(n) != YNODE_MAP && !ynode_is_null(n))
			return field_err(c, file, n, k, prefix, "must be a map");
		if (!*dot)
			return 0;
	}
}

static void warn_forced(struct ctx *c, struct ynode *doc, const char *file, enum kind k,
			const char *field, const char *forced)
{
	struct ynode *n = ynode_get(doc, field);

	if (!n || ynode_is_null(n) || (forced && ynode_str(n) && streq(ynode_str(n), forced)))
		return;
	if (forced)
		warnf(c, "%s:%u: %s.%s is set; cirun sets it to %s", file, ynode_line(n),
		      kinds[k].name, field, forced);
	else
		warnf(c, "%s:%u: %s.%s is set; cirun sets it for each host and ignores this one",
		      file, ynode_line(n), kinds[k].name, field);
}

static int check_sans(struct ctx *c, struct ynode *doc, const char *file)
{
	struct ynode *sans = ynode_get(doc, "apiServer.certSANs");

	if (!sans || ynode_is_null(sans))
		return 0;
	if (ynode_kind(sans) != YNODE_SEQ)
		return field_err(c, file, sans, K_CLUSTER, "apiServer.certSANs",
				 "must be a list of names and addresses");
	if (ynode_len(sans) > MAX_SANS)
		return field_err(c, file, sans, K_CLUSTER, "apiServer.certSANs",
				 "has %zu entries, more than the %d an API server certificate here may carry",
				 ynode_len(sans), MAX_SANS);
	for (size_t i = 0; i < ynode_len(sans); i++) {
		const char *s = ynode_str(ynode_seq_at(sans, i));
		if (!s || !*s || strlen(s) > 253 || strpbrk(s, " \t\r\n,"))
			return field_err(c, file, ynode_seq_at(sans, i), K_CLUSTER,
					 "apiServer.certSANs",
					 "item %zu is not a DNS name or an IP address", i);
	}
	return 0;
}

static int check_forced(struct ctx *c, struct ynode *doc, const char *file, enum kind k)
{
	static const char *const maps[K__N][5] = {
		[K_INIT] = { "localAPIEndpoint", "nodeRegistration", "nodeRegistration.kubeletExtraArgs" },
		[K_CLUSTER] = { "apiServer" },
		[K_JOIN] = { "discovery.bootstrapToken", "controlPlane.localAPIEndpoint",
			     "nodeRegistration", "nodeRegistration.kubeletExtraArgs" },
	};
	const struct kubeadm_config_in *in = c->in;
	const char *name = c->node_name[0] ? c->node_name : NULL;

	for (size_t i = 0; i < ELEMENTSOF(maps[k]) && maps[k][i]; i++) {
		int r = check_maps(c, doc, file, k, maps[k][i]);
		if (r < 0)
			return r;
	}
	switch (k) {
	case K_INIT:
		warn_forced(c, doc, file, k, "localAPIEndpoint.advertiseAddress", in->masters[0]);
		warn_forced(c, doc, file, k, "localAPIEndpoint.bindPort", API_PORT);
		if (name)
			warn_forced(c, doc, file, k, "nodeRegistration.name", name);
		warn_forced(c, doc, file, k, "nodeRegistration.kubeletExtraArgs.node-ip", in->masters[0]);
		return 0;
	case K_CLUSTER:
		warn_forced(c, doc, file, k, "controlPlaneEndpoint", KUBEADM_API_ENDPOINT);
		warn_forced(c, doc, file, k, "imageRepository", KUBEADM_IMAGE_REPOSITORY);
		/* "1.28.7" is the same version: kubeadm takes both spellings */
		if (!ynode_str(ynode_get(doc, "kubernetesVersion")) ||
		    !streq(ynode_str(ynode_get(doc, "kubernetesVersion")), c->version + 1))
			warn_forced(c, doc, file, k, "kubernetesVersion", c->version);
		return check_sans(c, doc, file);
	case K_JOIN:
		warn_forced(c, doc, file, k, "discovery.bootstrapToken.apiServerEndpoint",
			    KUBEADM_API_ENDPOINT);
		warn_forced(c, doc, file, k, "discovery.bootstrapToken.token", NULL);
		warn_forced(c, doc, file, k, "discovery.bootstrapToken.caCertHashes", NULL);
		warn_forced(c, doc, file, k, "discovery.tlsBootstrapToken", NULL);
		warn_forced(c, doc, file, k, "discovery.file", NULL);
		warn_forced(c, doc, file, k, "controlPlane.localAPIEndpoint.advertiseAddress", NULL);
		warn_forced(c, doc, file, k, "controlPlane.localAPIEndpoint.bindPort", API_PORT);
		warn_forced(c, doc, file, k, "controlPlane.certificateKey", NULL);
		/* One JoinConfiguration serves every joining host: a fixed name would collide. */
		warn_forced(c, doc, file, k, "nodeRegistration.name", name);
		warn_forced(c, doc, file, k, "nodeRegistration.kubeletExtraArgs.node-ip", NULL);
		return 0;
	case K_KUBELET:
		if (in->cgroup_driver)
			warn_forced(c, doc, file, k, "cgroupDriver", in->cgroup_driver);
		return 0;
	default:
		return 0;
	}
}

static int add_doc(struct ctx *c, enum layer l, struct ynode *doc_owned, const char *file)
{
	_cleanup_(ynode_freep) struct ynode *doc = doc_owned;
	const struct ynode *kn, *an;
	const char *api;
	size_t k;
	int r;

	if (ynode_is_null(doc)) /* an empty document, as a trailing "---" gives */
		return 0;
	if (ynode_kind(doc) != YNODE_MAP) {
		c->err->line = ynode_line(doc);
		return errbuf_set(c->err, -EINVAL, "%s:%u: a kubeadm document must be a map", file,
				  ynode_line(doc));
	}
	kn = ynode_map_get(doc, "kind");
	for (k = 0; k < K__N && !(ynode_str(kn) && streq(ynode_str(kn), kinds[k].name)); k++)
		;
	if (k == K__N) {
		c->err->line = ynode_line(kn ? kn : doc);
		return errbuf_set(c->err, -EINVAL,
				  "%s:%u: kind: '%.64s' is not a kubeadm document kind (InitConfiguration, ClusterConfiguration, JoinConfiguration, KubeletConfiguration, KubeProxyConfiguration)",
				  file, ynode_line(kn ? kn : doc),
				  ynode_str(kn) ? ynode_str(kn) : "");
	}
	if (c->doc[l][k]) {
		c->err->line = ynode_line(doc);
		return errbuf_set(c->err, -EINVAL, "%s:%u: a second %s (the first is at %s:%u)",
				  file, ynode_line(doc), kinds[k].name, c->file[l][k],
				  ynode_line(c->doc[l][k]));
	}
	/* No apiVersion: the one this Kubernetes version reads (sealer ignored it). */
	an = ynode_map_get(doc, "apiVersion");
	api = an ? ynode_str(an) : (kinds[k].api ? kinds[k].api : c->api);
	if (!api)
		return field_err(c, file, an, k, "apiVersion", "must be a string");
	if (kinds[k].api && !streq(api, kinds[k].api))
		return field_err(c, file, an, k, "apiVersion", "'%.64s' is not %s", api,
				 kinds[k].api);
	if (!kinds[k].api && !streq(api, API_V1BETA2) && !streq(api, API_V1BETA3))
		return field_err(c, file, an, k, "apiVersion",
				 "'%.64s' is not kubeadm.k8s.io/v1beta2 or v1beta3 (Kubernetes %s reads %s)",
				 api, c->version, c->api);
	if (!kinds[k].api) {
		r = convert(c, doc, file, k, api);
		if (r < 0)
			return r;
	}
	r = check_forced(c, doc, file, k);
	if (r < 0)
		return r;
	c->doc[l][k] = TAKE_PTR(doc);
	c->file[l][k] = file;
	return 0;
}

static int load_text(struct ctx *c, enum layer l, const char *name, const char *text,
		     size_t len)
{
	static const struct ydoc_limits lim = { .max_bytes = 1 << 20,
						.max_depth = 64,
						.max_nodes = 100000 };
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	int r;

	r = ydoc_parse(name, text, len, &lim, &d, c->err);
	if (r < 0)
		return r;
	for (size_t i = 0; ydoc_count(d) > 0;) {
		r = add_doc(c, l, ydoc_take_root(d, i), name);
		if (r < 0)
			return r;
	}
	return 0;
}

static int load_layers(struct ctx *c)
{
	const struct kubeadm_config_in *in = c->in;
	int r;

	r = load_text(c, L_DEFAULT, "built-in kubeadm default", builtin_default,
		      sizeof(builtin_default) - 1);
	if (r < 0)
		return r;
	if (in->image_yml) {
		r = load_text(c, L_IMAGE, in->image_yml_name ? in->image_yml_name : "etc/kubeadm.yml",
			      in->image_yml, in->image_yml_len);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < in->n_user_docs; i++) {
		const struct kubeadm_user_doc *u = &in->user_docs[i];
		r = add_doc(c, L_USER, ynode_dup(u->root), u->file ? u->file : "Clusterfile");
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the merged document and its forced fields ---- */

/* The map at key in m, made (over a null or absent value) when missing. Layers were checked
 * to hold maps or nulls along forced paths, so nothing else is replaced here. */
static struct ynode *child_map(struct ynode *m, const char *key)
{
	struct ynode *n = ynode_map_get(m, key);

	if (n && ynode_kind(n) == YNODE_MAP)
		return n;
	n = ynode_new_map();
	ynode_map_set(m, key, n);
	return n;
}

static void set_str(struct ynode *m, const char *key, const char *value)
{
	ynode_map_set(m, key, ynode_new_str(value));
}

static bool seq_has(const struct ynode *seq, const char *s)
{
	for (size_t i = 0; i < ynode_len(seq); i++)
		if (strcasecmp(ynode_str(ynode_seq_at(seq, i)), s) == 0)
			return true;
	return false;
}

static void add_sans(struct ynode *seq, const struct ynode *from)
{
	for (size_t i = 0; i < ynode_len(from); i++) {
		const char *s = ynode_str(ynode_seq_at(from, i));
		if (s && !seq_has(seq, s))
			ynode_seq_append(seq, ynode_new_str(s));
	}
}

/* Every apiserver listens where controlPlaneEndpoint points. */
static void force_endpoint(struct ynode *ep, const char *ip)
{
	set_str(ep, "advertiseAddress", ip);
	ynode_map_set(ep, "bindPort", ynode_new_plain(API_PORT));
}

static void force_cluster(struct ctx *c, struct ynode *m)
{
	struct ynode *sans = ynode_new_seq();

	set_str(m, "controlPlaneEndpoint", KUBEADM_API_ENDPOINT);
	set_str(m, "imageRepository", KUBEADM_IMAGE_REPOSITORY);
	set_str(m, "kubernetesVersion", c->version);
	ynode_seq_append(sans, ynode_new_str(KUBEADM_API_ENDPOINT_HOST));
	ynode_seq_append(sans, ynode_new_str("127.0.0.1"));
	for (size_t i = 0; i < c->in->n_masters; i++)
		if (!seq_has(sans, c->in->masters[i]))
			ynode_seq_append(sans, ynode_new_str(c->in->masters[i]));
	/* Every layer's SANs are kept, as sealer concatenated them: an image may name a
	 * load balancer the user does not know of. */
	for (int l = L_USER; l >= L_DEFAULT; l--)
		add_sans(sans, ynode_get(c->doc[l][K_CLUSTER], "apiServer.certSANs"));
	ynode_map_set(child_map(m, "apiServer"), "certSANs", sans);
}

static void force_node_name(struct ctx *c, struct ynode *m, bool join)
{
	struct ynode *reg = child_map(m, "nodeRegistration");

	if (c->node_name[0])
		set_str(reg, "name", c->node_name);
	else if (join)
		(void)ynode_map_remove(reg, "name"); /* kubeadm takes the hostname */
}

/* The kubelet's node IP is the host's address in the Clusterfile: left to itself it takes
 * the default route's, and the run finds each host's node by its InternalIP. */
static void force_node_ip(struct ynode *m, const char *ip)
{
	if (ip)
		set_str(child_map(child_map(m, "nodeRegistration"), "kubeletExtraArgs"), "node-ip", ip);
}

static void force_join(struct ctx *c, enum kubeadm_role role, struct ynode *m)
{
	const struct kubeadm_config_in *in = c->in;
	struct ynode *disc = child_map(m, "discovery");
	struct ynode *bt = child_map(disc, "bootstrapToken");
	struct ynode *hashes = ynode_new_seq();

	(void)ynode_map_remove(disc, "file"); /* token discovery and a file exclude each other */
	set_str(bt, "apiServerEndpoint", KUBEADM_API_ENDPOINT);
	set_str(bt, "token", in->token);
	ynode_seq_append(hashes, ynode_new_str(in->ca_cert_hash));
	ynode_map_set(bt, "caCertHashes", hashes);
	set_str(disc, "tlsBootstrapToken", in->token);
	force_node_name(c, m, true);
	force_node_ip(m, in->host_ip);
	if (role == KUBEADM_JOIN_NODE) {
		(void)ynode_map_remove(m, "controlPlane");
		return;
	}
	struct ynode *cp = child_map(m, "controlPlane");
	force_endpoint(child_map(cp, "localAPIEndpoint"), in->host_ip);
	set_str(cp, "certificateKey", in->certificate_key);
}

static int merged(struct ctx *c, enum kubeadm_role role, enum kind k, struct ynode **ret)
{
	_cleanup_(ynode_freep) struct ynode *m = ynode_new_map();
	int r;

	set_str(m, "apiVersion", kinds[k].api ? kinds[k].api : c->api);
	set_str(m, "kind", kinds[k].name);
	for (size_t l = 0; l < L__N; l++) {
		if (!c->doc[l][k])
			continue;
		r = ynode_merge(m, c->doc[l][k], YMERGE_LIST_REPLACE);
		if (r < 0)
			return errbuf_set(c->err, r, "merging %s from %s failed", kinds[k].name,
					  c->file[l][k]);
	}
	switch (k) {
	case K_INIT:
		force_endpoint(child_map(m, "localAPIEndpoint"), c->in->masters[0]);
		force_node_name(c, m, false);
		force_node_ip(m, c->in->masters[0]);
		break;
	case K_CLUSTER:
		force_cluster(c, m);
		break;
	case K_JOIN:
		force_join(c, role, m);
		break;
	case K_KUBELET:
		if (c->in->cgroup_driver)
			set_str(m, "cgroupDriver", c->in->cgroup_driver);
		break;
	default:
		break;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

static int prepare(struct ctx *c, enum kubeadm_role role, bool rendering)
{
	int r = check_inputs(c, role, rendering);
	return r < 0 ? r : load_layers(c);
}

int kubeadm_config_render(enum kubeadm_role role, const struct kubeadm_config_in *in,
			  struct buf *out, struct errbuf *err)
{
	/* kubeadm join reads only the JoinConfiguration of its file and warns about the rest:
	 * a joining kubelet takes its config from the cluster's kubelet-config ConfigMap. */
	static const enum kind init_kinds[] = { K_INIT, K_CLUSTER, K_KUBELET, K_PROXY };
	static const enum kind join_kinds[] = { K_JOIN };
	const enum kind *want = role == KUBEADM_INIT ? init_kinds : join_kinds;
	size_t n = role == KUBEADM_INIT ? ELEMENTSOF(init_kinds) : ELEMENTSOF(join_kinds);
	struct ctx c = { .in = in, .err = err };
	struct ynode *docs[ELEMENTSOF(init_kinds)] = { NULL };
	int r;

	r = prepare(&c, role, true);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = merged(&c, role, want[i], &docs[i]);
	if (r >= 0) {
		r = ydoc_emit(docs, n, out);
		if (r < 0)
			errbuf_set(err, r, "writing the kubeadm config failed");
	}
	for (size_t i = 0; i < n; i++)
		ynode_free(docs[i]);
	ctx_done(&c);
	return r;
}

int kubeadm_config_validate(const struct kubeadm_config_in *in, struct errbuf *err)
{
	struct ctx c = { .in = in, .err = err, .warn = true };
	int r = prepare(&c, KUBEADM_INIT, false);

	ctx_done(&c);
	return r;
}
