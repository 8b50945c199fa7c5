/* Plugins: loaded and validated before any host is touched (run_plugins_load), then run
 * at their phase points, the rows Originally, PreInit, PreJoin, PostJoin, PreGuest and
 * PostInstall of the table. PreClean and PostClean belong to a delete, not to a run.
 *
 * At a point, the plugins that act through kubectl (LABEL, TAINT, CLUSTERCHECK) and the
 * label selectors go first, in the row "PHASE kubectl" on master0 (plugins-kubectl.c);
 * then, in the row "PHASE", each host takes the point's SHELL and HOSTNAME plugins in
 * order, and fails with the message master0 left for it when its node's LABEL or TAINT
 * failed there. */
#include "plugins-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent-client.h"
#include "cleanup.h"
#include "fs-util.h"
#include "layer.h"
#include "log.h"
#include "plugin-dir.h"
#include "report.h"
#include "ssh.h"
#include "ydoc.h"


/* The points of a run. */
#define RUN_PLUGIN_PHASES                                                                      \
	(PLUGIN_PHASE_BIT(PLUGIN_ORIGINALLY) | PLUGIN_PHASE_BIT(PLUGIN_PRE_INIT) |             \
	 PLUGIN_PHASE_BIT(PLUGIN_PRE_JOIN) | PLUGIN_PHASE_BIT(PLUGIN_POST_JOIN) |              \
	 PLUGIN_PHASE_BIT(PLUGIN_PRE_GUEST) | PLUGIN_PHASE_BIT(PLUGIN_POST_INSTALL))

static bool image_plugin_path(const char *path, void *unused)
{
	(void)unused;
	/* plugins/ and sealer 0.6's plugin/, and the whiteouts that may delete them */
	return strncmp(path, "plugin", 6) == 0 || strncmp(path, ".wh.plugin", 10) == 0;
}

bool run_plugins_may_want(const char *path)
{
	/* the layer's own spellings of a top-level name ("./plugins/x", "/plugin/x",
	 * ".//plugins"), as the filtered unpack normalises them; no more: a base image's
	 * /usr/lib holds many a "plugin", and a match unpacks its whole layer */
	while (path[0] == '/' || (path[0] == '.' && path[1] == '/'))
		path += path[0] == '/' ? 1 : 2;
	return image_plugin_path(path, NULL);
}

/* The image's plugins/ (and plugin/): the layers hold them, not a rootfs on this machine,
 * so they are unpacked (filtered) into a private directory and read from there; only the
 * layers the scan saw any of them in (a base image's large layers have none). */
static int load_image_plugins(struct run *r, struct errbuf *err)
{
	_cleanup_free_ char *tmp = NULL, *parent = NULL;
	_cleanup_close_ int fd = -EBADF;
	int rc = 0;

	tmp = xasprintf("%s/build/tmp/plugins-XXXXXX", image_store_home(r->st));
	parent = xstrdup(tmp);
	*strrchr(parent, '/') = '\0';
	rc = mkdir_p(parent, 0700);
	if (rc < 0 || !mkdtemp(tmp))
		return errbuf_set(err, rc < 0 ? rc : -errno, "cannot create a directory under %s to "
				  "read the image's plugins: %s", parent, strerror(rc < 0 ? -rc : errno));
	if (!r->layers_scanned)
		rc = run_layers_scan(r, err);
	for (size_t i = 0; i < r->nlayers && rc >= 0; i++) {
		if (!r->layer_may_have_plugins[i])
			continue;
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		rc = layer_apply_file_filtered(tmp, blob, image_plugin_path, NULL, err);
		if (rc < 0)
			errbuf_prefix(err, "reading the plugins of image %s", r->c->image);
	}
	if (rc >= 0) {
		fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? errbuf_set(err, -errno, "%s: %s", tmp, strerror(errno)) : 0;
	}
	if (rc >= 0) {
		rc = plugin_load_image(fd, &r->plugins, err);
		if (rc < 0)
			errbuf_prefix(err, "image %s", r->c->image);
	}
	rm_rf_at(AT_FDCWD, tmp);
	return rc;
}

/* A source of the Clusterfile's plugins: the user's file, or the image's default
 * Clusterfile (its annotation, laid under the user's file as a template), which is no
 * file: clusterfile.c names it, and its text is in the image's config. */
static int parse_source(const struct run *r, const char *file, struct ydoc **ret,
			struct errbuf *err)
{
	const char *tmpl = r->img.meta.clusterfile;
	int rc = ydoc_parse_file(file, NULL, ret, err);

	if (rc == -ENOENT && tmpl) {
		errbuf_clear(err);
		rc = ydoc_parse(file, tmpl, strlen(tmpl), NULL, ret, err);
	}
	return rc;
}

/* The Clusterfile's plugins as the merge left them (c->plugins: the template's first, a
 * user's one replacing the template's of its name), each parsed again from its document
 * so that every error names the line in the file it came from. */
static int load_clusterfile_plugins(struct run *r, struct errbuf *err)
{
	const struct cluster *c = r->c;
	struct ydoc **docs = xcalloc(c->nplugins + 1, sizeof(*docs));
	int rc = 0;

	for (size_t i = 0; i < c->nplugins && rc >= 0; i++) {
		const struct cluster_plugin *cp = &c->plugins[i];
		const struct ynode *doc = NULL;
		size_t src = i;
		struct plugin p;

		for (size_t k = 0; k < i; k++)
			if (strcmp(c->plugins[k].file, cp->file) == 0) {
				src = k;
				break;
			}
		if (src == i)
			rc = parse_source(r, cp->file, &docs[i], err);
		for (size_t d = 0; rc >= 0 && d < ydoc_count(docs[src]) && !doc; d++)
			if (ynode_line(ydoc_root(docs[src], d)) == cp->line)
				doc = ydoc_root(docs[src], d);
		if (rc >= 0 && !doc)
			rc = errbuf_set(err, -EIO, "%s:%u: plugin '%s': the document changed while read",
					cp->file, cp->line, cp->name);
		if (rc >= 0)
			rc = plugin_parse(doc, cp->file, &p, err);
		if (rc >= 0) {
			r->plugins.v = xreallocarray(r->plugins.v, r->plugins.n + 1, sizeof(p));
			r->plugins.v[r->plugins.n++] = p;
		}
	}
	for (size_t i = 0; i < c->nplugins; i++)
		ydoc_free(docs[i]);
	free(docs);
	return rc;
}

int run_plugins_load(struct run *r, struct errbuf *err)
{
	int rc;

	r->plugin_hosts = xcalloc(r->n ? r->n : 1, sizeof(*r->plugin_hosts));
	for (size_t i = 0; i < r->n; i++)
		r->plugin_hosts[i] = (struct plugin_host){ .ip = r->hosts[i].spec->ip,
			.master = r->hosts[i].spec->role == ROLE_MASTER, .master0 = i == 0 };
	rc = load_clusterfile_plugins(r, err);
	if (rc >= 0)
		rc = load_image_plugins(r, err);
	r->plugin_selected = xcalloc(r->plugins.n ? r->plugins.n : 1, sizeof(*r->plugin_selected));
	for (size_t i = 0; i < r->plugins.n; i++) {
		r->plugin_selected[i].host_err = xcalloc(r->n ? r->n : 1, sizeof(char *));
		r->plugin_selected[i].point = -1;
	}
	/* plugin_parse held each type to its phases and each label selector to the points
	 * where the cluster is up; what is left is whether the addresses are hosts */
	for (size_t i = 0; i < r->plugins.n && rc >= 0; i++)
		rc = plugin_check_hosts(&r->plugins.v[i], r->plugin_hosts, r->n, err);
	return rc;
}

void run_plugin_point_reset(struct run *r, enum plugin_phase ph)
{
	for (size_t i = 0; r->plugin_selected && i < r->plugins.n; i++) {
		struct plugin_selected *ps = &r->plugin_selected[i];

		if (!(r->plugins.v[i].phases & PLUGIN_PHASE_BIT(ph)))
			continue;
		for (size_t k = 0; k < ps->n; k++)
			free(ps->ips[k]);
		free(ps->ips);
		ps->ips = NULL;
		ps->n = 0;
		ps->resolved = ps->done = false;
		for (size_t k = 0; k < r->n; k++) {
			free(ps->host_err[k]);
			ps->host_err[k] = NULL;
		}
		ps->point = ph;
	}
}

void run_plugins_release(struct run *r)
{
	for (int ph = 0; ph < _PLUGIN_PHASE_MAX; ph++)
		run_plugin_point_reset(r, (enum plugin_phase)ph);
	for (size_t i = 0; r->plugin_selected && i < r->plugins.n; i++)
		free(r->plugin_selected[i].host_err);
	free(r->plugin_selected);
	r->plugin_selected = NULL;
	plugin_list_release(&r->plugins);
	free(r->plugin_hosts);
	r->plugin_hosts = NULL;
}

bool run_plugin_through_kubectl(const struct plugin *p)
{
	return p->type == PLUGIN_LABEL || p->type == PLUGIN_TAINT || p->type == PLUGIN_CLUSTERCHECK;
}

/* The row on the hosts has work at ph: a plugin there that runs on its hosts, or a LABEL
 * or TAINT whose failure master0 may hand to a host (CLUSTERCHECK stays on master0). */
static bool none_at(const struct run *r, enum plugin_phase ph)
{
	for (size_t i = 0; i < r->plugins.n; i++)
		if ((r->plugins.v[i].phases & PLUGIN_PHASE_BIT(ph)) &&
		    r->plugins.v[i].type != PLUGIN_CLUSTERCHECK)
			return false;
	return true;
}

bool run_no_plugins_originally(const struct run *r)
{
	return none_at(r, PLUGIN_ORIGINALLY);
}

bool run_no_plugins_post_install(const struct run *r)
{
	return none_at(r, PLUGIN_POST_INSTALL);
}

bool run_no_plugins_pre_init(const struct run *r)
{
	return none_at(r, PLUGIN_PRE_INIT);
}

bool run_no_plugins_pre_join(const struct run *r)
{
	return none_at(r, PLUGIN_PRE_JOIN);
}

bool run_no_plugins_post_join(const struct run *r)
{
	return none_at(r, PLUGIN_POST_JOIN);
}

bool run_no_plugins_pre_guest(const struct run *r)
{
	return none_at(r, PLUGIN_PRE_GUEST);
}

bool run_plugin_phase_host(const struct run *r, enum plugin_phase ph, size_t i)
{
	(void)r;
	return ph != PLUGIN_PRE_JOIN || i != 0;
}

static bool pick_joining(const struct run *r, size_t i)
{
	return run_plugin_phase_host(r, PLUGIN_PRE_JOIN, i);
}

const struct phase_hosts phase_on_joining = { "on the hosts that join", pick_joining };

/* The action of p for host `me` at this phase, if any. A label selector picks the hosts
 * master0 listed for it; unresolved (master0 failed before), the plugin fails here. */
int run_plugin_plan_for(const struct run *r, const struct plugin *p, enum plugin_phase ph,
			size_t me, struct plugin_plan *plan, const struct plugin_action **ret,
			struct errbuf *err)
{
	_cleanup_free_ bool *sel = xcalloc(r->n ? r->n : 1, sizeof(*sel));
	_cleanup_free_ struct plugin_host *hosts = xcalloc(r->n ? r->n : 1, sizeof(*hosts));
	const struct plugin_selected *ps = &r->plugin_selected[p - r->plugins.v];
	struct kv label = { p->on.label_key, p->on.label_value };
	int rc = 0;

	*ret = NULL;
	memcpy(hosts, r->plugin_hosts, r->n * sizeof(*hosts));
	/* what master0 answered at an earlier point (a plugin at PostJoin|PostInstall, master0
	 * failed since) is not this point's answer */
	if (p->on.kind == PLUGIN_ON_LABEL && (!ps->resolved || ps->point != (int)ph))
		return errbuf_set(err, -EIO, "plugin '%s' (%s:%u): its label selector %s=%s was not "
				  "resolved at %s: master0 failed before", p->name, p->file, p->line,
				  p->on.label_key, p->on.label_value, plugin_phase_name(ph));
	for (size_t i = 0; p->on.kind == PLUGIN_ON_LABEL && i < r->n; i++) {
		hosts[i].labels_known = true;
		for (size_t k = 0; k < ps->n; k++)
			if (strcmp(ps->ips[k], hosts[i].ip) == 0) {
				hosts[i].labels = &label;
				hosts[i].n_labels = 1;
			}
	}
	rc = plugin_select_hosts(p, hosts, r->n, sel, err);
	for (size_t i = 0; i < r->n; i++)
		sel[i] = sel[i] && run_plugin_phase_host(r, ph, i);
	if (rc >= 0)
		rc = plugin_plan(p, hosts, r->n, sel, plan, err);
	for (size_t k = 0; rc >= 0 && k < plan->n_actions; k++)
		if (plan->actions[k].host == me)
			*ret = &plan->actions[k];
	return rc;
}
void run_plugin_output(void *data, int stream, const char *buf, size_t n)
{
	struct host_state *h = data;

	(void)stream;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n' && buf_putc(&h->line, buf[i]) == 0)
			continue;
		log_host(LOG_NOTICE, h->spec->ip, "%s", h->line.data);
		run_host_keep_tail(h, h->line.data);
		buf_reset(&h->line);
	}
}

/* A script with bash, in the rootfs (in / at Originally: the rootfs is not there yet),
 * the host's env exported (and extra, when not NULL), output streamed, --timeout. */
static int run_shell(struct run *r, struct host_state *h, const struct plugin *p,
		     enum plugin_phase ph, const char *script, const struct kv *extra)
{
	_cleanup_free_ char *cwd = NULL;
	_cleanup_free_ struct kv *env = xcalloc(h->spec->nenv + 1, sizeof(*env));
	size_t nenv = h->spec->nenv;
	struct agent_exit ex = { 0 };
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;
	int rc;

	/* a delete's points in / too: the rootfs of a failed install may be missing, and is
	 * gone at PostClean */
	cwd = ph == PLUGIN_ORIGINALLY || ph == PLUGIN_PRE_CLEAN || ph == PLUGIN_POST_CLEAN
		      ? xstrdup("/")
		      : xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);
	for (size_t i = 0; i < h->spec->nenv; i++)
		env[i] = h->spec->env[i];
	if (extra)
		env[nenv++] = *extra;
	ssh_conn_set_timeout(h->conn, timeout + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, script, cwd, env, nenv, timeout, run_plugin_output, h, &ex, &h->err);
	if (h->line.len)
		run_plugin_output(h, 1, "\n", 1);
	if (rc < 0)
		return errbuf_prefix(&h->err, "plugin '%s' at %s", p->name, plugin_phase_name(ph));
	if (ex.timed_out)
		return errbuf_set(&h->err, -ETIMEDOUT, "plugin '%s' (%s:%u) at %s did not finish "
				  "within %us; its last lines:\n%s", p->name, p->file, p->line,
				  plugin_phase_name(ph), timeout, h->tail.data);
	if (ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "plugin '%s' (%s:%u) at %s exited with %d%s; its "
				  "last lines:\n%s", p->name, p->file, p->line, plugin_phase_name(ph),
				  ex.exit_code, ex.signal ? " (killed)" : "", h->tail.data);
	return 0;
}

/* HOSTNAME: the name goes in the environment, never through the shell's parser;
 * hostnamectl where systemd-hostnamed answers, else hostname(1) and /etc/hostname
 * replaced atomically. */
static int run_hostname(struct run *r, struct host_state *h, const struct plugin *p,
			enum plugin_phase ph, const char *name)
{
	static const char script[] =
		"if command -v hostnamectl >/dev/null 2>&1 && "
		"hostnamectl set-hostname \"$CIRUN_HOSTNAME\" 2>/dev/null; then exit 0; fi\n"
		"set -e\n"
		"hostname \"$CIRUN_HOSTNAME\"\n"
		"printf '%s\\n' \"$CIRUN_HOSTNAME\" > /etc/.hostname.cirun\n"
		"mv -f /etc/.hostname.cirun /etc/hostname\n";
	_cleanup_free_ char *key = xstrdup("CIRUN_HOSTNAME"), *value = xstrdup(name);
	struct kv kv = { key, value };

	log_host(LOG_INFO, h->spec->ip, "plugin %s: hostname %s", p->name, name);
	return run_shell(r, h, p, ph, script, &kv);
}

/* Each plugin of the phase in order (the Clusterfile's, then the image's) on this host
 * when it is selected; the first failure stops the host. */

/* Where master0 left this host's LABEL or TAINT of p: not reached (master0 failed
 * before), failed (its message), or done. */
static int kubectl_outcome(const struct run *r, struct host_state *h, const struct plugin *p,
			   enum plugin_phase ph)
{
	const struct plugin_selected *ps = &r->plugin_selected[p - r->plugins.v];
	const char *why = ps->point == (int)ph ? ps->host_err[h - r->hosts] : NULL;

	if ((!ps->done || ps->point != (int)ph) && !why)
		return errbuf_set(&h->err, -EIO, "plugin '%s' (%s, %s:%u) at %s was not applied to "
				  "this host's node: master0, where kubectl runs, failed before",
				  p->name, plugin_type_name(p->type), p->file, p->line,
				  plugin_phase_name(ph));
	return why ? errbuf_set(&h->err, -EIO, "%s", why) : 0;
}

/* Each plugin of the phase in order (the Clusterfile's, then the image's) on this host
 * when it is selected; the first failure stops the host. LABEL and TAINT ran on master0
 * in the row before: here the host takes their outcome for its node. */
static int run_at(struct run *r, struct host_state *h, enum plugin_phase ph)
{
	size_t me = (size_t)(h - r->hosts);

	for (size_t i = 0; i < r->plugins.n; i++) {
		const struct plugin *p = &r->plugins.v[i];
		struct plugin_plan plan = { 0 };
		const struct plugin_action *a;
		int rc;

		if (!(p->phases & PLUGIN_PHASE_BIT(ph)) || p->type == PLUGIN_CLUSTERCHECK)
			continue;
		rc = run_plugin_plan_for(r, p, ph, me, &plan, &a, &h->err);
		/* one line per plugin: the first host it acts on says it (master0 said it for
		 * LABEL and TAINT, when it ran them) */
		if (rc >= 0 && plan.n_actions && plan.actions[0].host == me &&
		    !run_plugin_through_kubectl(p))
			log_info("plugin %s (%s) at %s on %zu host%s", p->name, plugin_type_name(p->type),
				 plugin_phase_name(ph), plan.n_hosts, plan.n_hosts == 1 ? "" : "s");
		if (rc >= 0 && a && run_plugin_through_kubectl(p))
			rc = kubectl_outcome(r, h, p, ph);
		else if (rc >= 0 && a && p->type == PLUGIN_HOSTNAME)
			rc = run_hostname(r, h, p, ph, a->hostname);
		else if (rc >= 0 && a)
			rc = run_shell(r, h, p, ph, a->script, NULL);
		plugin_plan_release(&plan);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int phase_plugins_originally(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_ORIGINALLY);
}

int phase_plugins_pre_init(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_PRE_INIT);
}

int phase_plugins_pre_join(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_PRE_JOIN);
}

int phase_plugins_post_join(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_POST_JOIN);
}

int phase_plugins_pre_guest(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_PRE_GUEST);
}

int phase_plugins_post_install(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_POST_INSTALL);
}

/* "NAME (TYPE)" and what it does on this host, for the plan. */
static void plan_entry(const struct run *r, const struct plugin *p, enum plugin_phase ph,
		       size_t host, struct buf *names)
{
	struct plugin_plan plan = { 0 };
	const struct plugin_action *a = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *sep = names->len ? ", " : "";

	if (p->on.kind == PLUGIN_ON_LABEL) {
		if (run_plugin_phase_host(r, ph, host))
			buf_printf(names, "%s%s (%s, if the node is labelled %s=%s)", sep, p->name,
				   plugin_type_name(p->type), p->on.label_key, p->on.label_value);
		return;
	}
	if (run_plugin_plan_for(r, p, ph, host, &plan, &a, &err) >= 0 && a) {
		if (p->type == PLUGIN_LABEL || p->type == PLUGIN_TAINT) {
			buf_printf(names, "%s%s (%s", sep, p->name, plugin_type_name(p->type));
			/* every data line for this host's node, in order */
			for (size_t k = 0; k < plan.n_actions; k++) {
				const struct plugin_action *x = &plan.actions[k];
				_cleanup_free_ char *arg = NULL;
				if (x->host != host)
					continue;
				arg = p->type == PLUGIN_LABEL ? plugin_label_arg(x->key, x->value)
							      : plugin_taint_arg(x);
				buf_printf(names, " %s", arg);
			}
			buf_printf(names, ", by kubectl on master0)");
		} else if (p->type == PLUGIN_CLUSTERCHECK) {
			buf_printf(names, "%s%s (CLUSTERCHECK: waits until every node is Ready and "
				   "every kube-system pod runs, at most %us)", sep, p->name,
				   r->o->timeout_s ? r->o->timeout_s : PLUGIN_CLUSTERCHECK_TIMEOUT_S);
		} else {
			buf_printf(names, "%s%s (%s)", sep, p->name, plugin_type_name(p->type));
		}
	}
	plugin_plan_release(&plan);
}

void run_plugins_plan(const struct run *r, size_t host)
{
	for (int ph = 0; ph < _PLUGIN_PHASE_MAX; ph++) {
		_cleanup_buf_ struct buf names = BUF_INIT(4096);

		if (!(RUN_PLUGIN_PHASES & PLUGIN_PHASE_BIT(ph)))
			continue;
		for (size_t i = 0; i < r->plugins.n; i++)
			if (r->plugins.v[i].phases & PLUGIN_PHASE_BIT(ph))
				plan_entry(r, &r->plugins.v[i], (enum plugin_phase)ph, host, &names);
		if (names.len)
			report_text("  plugins at %s: %s", plugin_phase_name(ph), names.data);
	}
}

/* delete.c: the points of a delete */
int phase_plugins_pre_clean(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_PRE_CLEAN);
}

int phase_plugins_post_clean(struct run *r, struct host_state *h)
{
	return run_at(r, h, PLUGIN_POST_CLEAN);
}

bool run_no_plugins_pre_clean(const struct run *r)
{
	return none_at(r, PLUGIN_PRE_CLEAN);
}

bool run_no_plugins_post_clean(const struct run *r)
{
	return none_at(r, PLUGIN_POST_CLEAN);
}
