/* The step journal (common/journal.h) at the pipeline's level: phase "journal" reads each
 * host's journal (the truth; mirrored in $CIRUN_HOME/clusters/NAME/journal/IP) and decides
 * where the host resumes; the pipeline then skips the phases before that point
 * (run_journal_skips) and has each phase that changes a host recorded once it succeeded on
 * it (run_journal_record).
 *
 * Only the phases of the table below are recorded and skipped; the others (connect, agent,
 * facts, mirrors, the kubectl rows, label masters, wait Ready) only read or converge, and
 * run every time: a complete cluster run again is checked by them; join data runs when
 * some host joins. A recorded phase is done on a host
 * when its last record carries the inputs the phase would consume now and comes after the
 * record of the host's phase before it (a phase that ran again makes those after it run
 * again), and a cheap check agrees (the rootfs, admin.conf, kubelet.conf are there). The
 * host resumes at its first phase that is not done; every phase from there on runs. */
#include "run-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-client.h"
#include "cleanup.h"
#include "fs-util.h"
#include "hosts-block.h"
#include "journal.h"
#include "log.h"
#include "proto-msg.h"
#include "report.h"
#include "ssh.h"

typedef void (*inputs_fn)(const struct run *r, const struct host_state *h, const char *phase,
			  struct buf *out);
typedef const char *(*verify_fn)(struct run *r, struct host_state *h, int *rc);

enum step_kind {
	STEP_RECORDED, /* recorded when done; skipped when its record matches */
	STEP_IF_JOINS, /* not recorded; runs only when some host will join (join data) */
};

struct step_rule {
	const char *phase;
	enum step_kind kind;
	inputs_fn inputs;
	verify_fn verify;
	/* what a later run needs back from it, recorded after the inputs */
	void (*outputs)(const struct run *r, const struct host_state *h, struct buf *out);
};

/* ---- inputs: digests of what a phase consumes ---- */

static void digest_of(struct sha256 *s, const char *key, struct buf *out)
{
	char hex[SHA256_HEX_SIZE] = "";

	sha256_final(s, hex);
	sha256_free(s);
	/* 64 bits tell a change; the whole digest would only make the line long */
	buf_printf(out, " %s=%.16s", key, hex);
}

static struct sha256 *dig_new(void)
{
	struct sha256 *s = NULL;

	if (sha256_new(&s) < 0)
		abort(); /* libcrypto out of memory, as xmalloc */
	return s;
}

/* each string with its NUL, so "ab","c" and "a","bc" differ */
static void dig_str(struct sha256 *s, const char *str)
{
	str = str ? str : "";
	sha256_update(s, str, strlen(str) + 1);
}

static void dig_u(struct sha256 *s, unsigned long long v)
{
	char n[24];

	snprintf(n, sizeof(n), "%llu", v);
	dig_str(s, n);
}

static int kv_by_key(const void *a, const void *b)
{
	const struct kv *x = *(const struct kv *const *)a, *y = *(const struct kv *const *)b;
	int c = strcmp(x->key ? x->key : "", y->key ? y->key : "");

	return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

/* by key: the env is a set (cluster-diff compares it so), its order no change */
static void in_env(const struct host_state *h, struct buf *out)
{
	struct sha256 *s = dig_new();
	_cleanup_free_ const struct kv **sorted = xcalloc(h->spec->nenv + 1, sizeof(*sorted));

	for (size_t i = 0; i < h->spec->nenv; i++)
		sorted[i] = &h->spec->env[i];
	qsort(sorted, h->spec->nenv, sizeof(*sorted), kv_by_key);
	for (size_t i = 0; i < h->spec->nenv; i++) {
		dig_str(s, sorted[i]->key);
		dig_str(s, sorted[i]->value);
	}
	digest_of(s, "env", out);
}

static void in_img(const struct run *r, struct buf *out)
{
	buf_printf(out, " img=%s", r->img.id);
}

static void in_plugins(const struct run *r, const struct host_state *h, const char *phase,
		       struct buf *out)
{
	struct sha256 *s = dig_new();

	for (size_t i = 0; i < r->plugins.n; i++) {
		const struct plugin *p = &r->plugins.v[i];
		bool here = false;
		for (unsigned k = 0; k < _PLUGIN_PHASE_MAX; k++)
			here |= (p->phases & PLUGIN_PHASE_BIT(k)) &&
				strcmp(plugin_phase_name(k), phase) == 0;
		if (!here)
			continue;
		dig_str(s, p->name);
		dig_u(s, p->type);
		dig_u(s, p->on.kind);
		for (size_t k = 0; k < p->on.n_ips; k++)
			dig_str(s, p->on.ips[k]);
		dig_str(s, p->on.label_key);
		dig_str(s, p->on.label_value);
		dig_str(s, p->data);
	}
	digest_of(s, "plugins", out);
	in_env(h, out);
}

static void in_config(const struct run *r, const struct host_state *h, const char *phase,
		      struct buf *out);

static void in_distribute(const struct run *r, const struct host_state *h, const char *phase,
			  struct buf *out)
{
	char *const *digests;
	const uint64_t *sizes;
	size_t n;
	struct sha256 *s = dig_new();

	in_img(r, out);
	run_host_layers(r, (size_t)(h - r->hosts), &digests, &sizes, &n);
	for (size_t i = 0; i < n; i++)
		dig_str(s, digests[i]);
	digest_of(s, "layers", out);
	/* config and setup change the rootfs in place (a merge, the rendered templates over
	 * theirs): to run again they need it freshly assembled, so what they consume is
	 * distribute's input too */
	in_config(r, h, phase, out);
	in_env(h, out);
}

static void in_config(const struct run *r, const struct host_state *h, const char *phase,
		      struct buf *out)
{
	struct sha256 *s = dig_new();

	(void)h, (void)phase;
	for (size_t i = 0; i < r->c->nconfigs; i++) {
		dig_str(s, r->c->configs[i].name);
		dig_str(s, r->c->configs[i].path);
		dig_str(s, r->c->configs[i].data);
		dig_u(s, r->c->configs[i].strategy);
	}
	digest_of(s, "cfg", out);
}

static void in_env_only(const struct run *r, const struct host_state *h, const char *phase,
			struct buf *out)
{
	(void)r, (void)phase;
	in_env(h, out);
}

static void in_hosts(const struct run *r, const struct host_state *h, const char *phase,
		     struct buf *out)
{
	struct sha256 *s = dig_new();

	(void)h, (void)phase;
	dig_str(s, r->c->registry_host ? r->c->registry_host : r->c->hosts[0].ip);
	dig_str(s, r->c->hosts[0].ip);
	digest_of(s, "hosts", out);
}

static void in_registry(const struct run *r, const struct host_state *h, const char *phase,
			struct buf *out)
{
	struct sha256 *s = dig_new();

	(void)h, (void)phase;
	for (size_t i = 0; i < r->narchives; i++)
		dig_str(s, r->archives[i]);
	digest_of(s, "archives", out);
}

/* The kubeadm config as it would be rendered for h, with fixed stand-ins for what each run
 * makes afresh (the join token, the CA hash, the certificate key) and what master0 answers
 * (the cgroup driver): the inputs the config is made of, never a secret. */
static void in_kubeadm(const struct run *r, const struct host_state *h, const char *phase,
		       struct buf *out)
{
	_cleanup_buf_ struct buf cfg = BUF_INIT(MSG_MAX_KUBEADM_CONFIG);
	struct errbuf ignored = ERRBUF_INIT;
	struct kubeadm_config_in in;
	enum kubeadm_role role = strcmp(phase, "kubeadm init") == 0 ? KUBEADM_INIT
				 : h->spec->role == ROLE_MASTER	   ? KUBEADM_JOIN_MASTER
								   : KUBEADM_JOIN_NODE;
	struct sha256 *s = dig_new();

	run_kubeadm_in(r, h, &in);
	in.cgroup_driver = NULL;
	in.warn = NULL;
	in.token = "abcdef.0123456789abcdef";
	in.ca_cert_hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	in.certificate_key = "0000000000000000000000000000000000000000000000000000000000000000";
	if (kubeadm_config_render(role, &in, &cfg, &ignored) < 0)
		buf_reset(&cfg); /* refused before any host (run_kubeadm_load): not here */
	dig_str(s, cfg.data);
	digest_of(s, "kubeadm", out);
}

static void in_cmd(const struct run *r, const struct host_state *h, const char *phase,
		   struct buf *out)
{
	struct sha256 *s = dig_new();

	(void)phase;
	in_img(r, out);
	for (size_t i = 0; i < r->img.meta.ncmds; i++)
		dig_str(s, r->img.meta.cmds[i]);
	for (size_t i = 0; i < r->c->ncmd_args; i++) {
		dig_str(s, r->c->cmd_args[i].key);
		dig_str(s, r->c->cmd_args[i].value);
	}
	digest_of(s, "cmds", out);
	in_env(h, out);
}

/* ---- outputs: what a later run that skips the phase needs from it ---- */

/* the registry hosts the import found in images/: the mirrors phase writes them on every
 * host, also in a run that skips the import */
static void out_registry(const struct run *r, const struct host_state *h, struct buf *out)
{
	(void)h;
	buf_puts(out, " found=");
	for (size_t i = 0; i < r->n_mirror_sources; i++)
		buf_printf(out, "%s%s", i ? "," : "", r->mirror_sources[i]);
	if (!r->n_mirror_sources)
		buf_puts(out, "-");
}

/* master0's cgroup driver: a join renders its config with it */
static void out_kubeadm_init(const struct run *r, const struct host_state *h, struct buf *out)
{
	(void)h;
	buf_printf(out, " cgroup=%s", r->cgroup_driver ? r->cgroup_driver : "-");
	if (r->init_skipped)
		buf_puts(out, " init=skipped");
}

/* ---- cheap checks that a phase recorded as done still is ---- */

static const char *verify_path(struct host_state *h, const char *path, const char *what,
			       int *rc)
{
	*rc = run_host_test(h, path);
	return *rc == 0 ? what : NULL;
}

static const char *verify_rootfs(struct run *r, struct host_state *h, int *rc)
{
	_cleanup_free_ char *p = xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);

	return verify_path(h, p, "its rootfs is gone", rc);
}

static const char *verify_admin(struct run *r, struct host_state *h, int *rc)
{
	(void)r;
	return verify_path(h, "/etc/kubernetes/admin.conf", "/etc/kubernetes/admin.conf is gone",
			   rc);
}

static const char *verify_kubelet(struct run *r, struct host_state *h, int *rc)
{
	(void)r;
	return verify_path(h, "/etc/kubernetes/kubelet.conf",
			   "/etc/kubernetes/kubelet.conf is gone", rc);
}

static const struct step_rule rules[] = {
	{ "Originally", STEP_RECORDED, in_plugins, NULL, NULL },
	{ "distribute", STEP_RECORDED, in_distribute, verify_rootfs, NULL },
	{ "config", STEP_RECORDED, in_config, NULL, NULL },
	{ "setup", STEP_RECORDED, in_env_only, NULL, NULL },
	{ "hosts", STEP_RECORDED, in_hosts, NULL, NULL },
	{ "init", STEP_RECORDED, in_env_only, NULL, NULL },
	{ "registry", STEP_RECORDED, in_registry, NULL, out_registry },
	{ "PreInit", STEP_RECORDED, in_plugins, NULL, NULL },
	{ "kubeadm init", STEP_RECORDED, in_kubeadm, verify_admin, out_kubeadm_init },
	{ "join data", STEP_IF_JOINS, NULL, NULL, NULL },
	{ "PreJoin", STEP_RECORDED, in_plugins, NULL, NULL },
	{ "join masters", STEP_RECORDED, in_kubeadm, verify_kubelet, NULL },
	{ "join nodes", STEP_RECORDED, in_kubeadm, verify_kubelet, NULL },
	{ "PostJoin", STEP_RECORDED, in_plugins, NULL, NULL },
	{ "PreGuest", STEP_RECORDED, in_plugins, NULL, NULL },
	{ "cmd", STEP_RECORDED, in_cmd, NULL, NULL },
	{ "PostInstall", STEP_RECORDED, in_plugins, NULL, NULL },
};

static const struct step_rule *rule_of(const char *phase)
{
	for (size_t i = 0; i < ELEMENTSOF(rules); i++)
		if (strcmp(rules[i].phase, phase) == 0)
			return &rules[i];
	return NULL;
}

static long phase_index(const struct phase *p)
{
	if (p < run_pipeline || p >= run_pipeline + run_pipeline_len)
		return -1; /* another table (a unit test's): nothing is journaled */
	return p - run_pipeline;
}

static long index_of(const char *name)
{
	for (size_t k = 0; k < run_pipeline_len; k++)
		if (strcmp(run_pipeline[k].name, name) == 0)
			return (long)k;
	return -1;
}

/* Whether phase k of the table is part of this run on host i and recorded */
static bool recorded_here(const struct run *r, size_t k, size_t i)
{
	const struct phase *p = &run_pipeline[k];
	const struct step_rule *rule = rule_of(p->name);

	return rule && rule->kind == STEP_RECORDED && !(p->skip && p->skip(r)) &&
	       (!p->on || p->on->pick(r, i));
}

int run_journal_inputs(const struct run *r, const struct host_state *h, const char *phase,
		       struct buf *out)
{
	const struct step_rule *rule = rule_of(phase);

	buf_reset(out);
	if (!rule || !rule->inputs)
		return -ENOENT;
	rule->inputs(r, h, phase, out);
	/* each input added " k=v": the line wants "k=v k=v" */
	if (out->len && out->data[0] == ' ') {
		memmove(out->data, out->data + 1, out->len);
		out->len--;
	}
	return 0;
}

/* ---- the decision ---- */

/* config and setup change the rootfs in place (an append, templates rendered over their
 * text): one that failed half-way, or runs again, gets it assembled afresh first, as every
 * run did before the journal */
static size_t in_place(const struct run *r, size_t i, size_t k, const char **why)
{
	long d = index_of("distribute");
	const char *name = run_pipeline[k].name;

	if ((strcmp(name, "config") != 0 && strcmp(name, "setup") != 0) || d < 0 ||
	    !recorded_here(r, (size_t)d, i))
		return k;
	*why = strcmp(name, "config") == 0 ? "config changes the rootfs in place: assembled afresh "
					     "for it"
					   : "setup changes the rootfs in place: assembled afresh "
					     "for it";
	return (size_t)d;
}

/* kubeadm init never runs on a master0 that has admin.conf (phase_kubeadm_init), and
 * phase_journal checks that it still has it: a config changed since (a master added to the
 * certSANs, a kubeadm document) could not be applied by running it again, which would only
 * re-record it and make every later step of master0, and the joins, run again */
static bool applied_once(const char *phase)
{
	return strcmp(phase, "kubeadm init") == 0;
}

/* A kubeadm init recorded where master0 was already initialised changed nothing: the
 * steps after it need not run again for it (a record without the mark, an older
 * version's, is taken as a real init) */
static bool changed_nothing(const struct journal *j, const char *phase, long last)
{
	const char *v = journal_get(j, (size_t)last, "init");

	return strcmp(phase, "kubeadm init") == 0 && v && strcmp(v, "skipped") == 0;
}

size_t run_journal_decide(const struct run *r, const struct host_state *h,
			  const struct journal *j, const char **ret_why)
{
	size_t i = (size_t)(h - r->hosts);
	long prev = -1;

	*ret_why = NULL;
	for (size_t k = 0; k < run_pipeline_len; k++) {
		_cleanup_buf_ struct buf in = BUF_INIT(JOURNAL_MAX_LINE);
		char step[JOURNAL_MAX_STEP + 1];
		long last;

		if (!recorded_here(r, k, i))
			continue;
		if (!journal_step_name(run_pipeline[k].name, step, sizeof(step)))
			return k;
		run_journal_inputs(r, h, run_pipeline[k].name, &in);
		last = journal_last(j, step);
		if (last < 0)
			*ret_why = "not recorded";
		else if (last <= prev)
			*ret_why = "recorded before a step it follows ran again";
		else if (!journal_matches(j, (size_t)last, in.data) &&
			 !applied_once(run_pipeline[k].name))
			*ret_why = "its inputs changed";
		if (*ret_why)
			return in_place(r, i, k, ret_why);
		if (!changed_nothing(j, run_pipeline[k].name, last))
			prev = last;
	}
	return run_pipeline_len;
}

static char *mirror_path(const struct run *r, const struct host_state *h)
{
	return xasprintf("%s/clusters/%s/journal/%s", image_store_home(r->st), r->c->name,
			 h->spec->ip);
}

/* The host's journal, checked to parse, as the control machine's copy (for status and the
 * offline view; never read back by a run) */
static int mirror(const struct run *r, struct host_state *h, const char *text)
{
	_cleanup_free_ char *path = mirror_path(r, h);
	_cleanup_free_ char *dir = xasprintf("%s/clusters/%s/journal", image_store_home(r->st),
					     r->c->name);
	int rc = mkdir_p(dir, 0700);

	if (rc >= 0)
		rc = write_file_atomic(path, text, strlen(text), 0600);
	if (rc < 0)
		return errbuf_set(&h->err, rc, "cannot write the journal's copy %s: %s", path,
				  strerror(-rc));
	return 0;
}

static int parse_host_journal(struct host_state *h, const char *text, struct journal **ret)
{
	bool torn = false;
	int rc = journal_parse(text, strlen(text), ret, &torn, &h->err);

	if (rc < 0)
		return errbuf_prefix(&h->err, "its journal " REMOTE_ROOT "/data/…/journal is not "
				     "valid (fix it, or remove it to run every step again)");
	if (torn)
		log_host(LOG_WARNING, h->spec->ip, "journal: its last record was cut short (a crash "
			 "while it was written): that step runs again");
	return 0;
}

/* Phase "journal" (every host, all or nothing, before anything changes): the host's
 * journal read, mirrored, and where it resumes decided, each phase it would skip checked
 * cheaply; run_journal_after settles what spans hosts. */
int phase_journal(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *text = NULL;
	struct journal *j = NULL;
	const char *why = NULL;
	int rc;

	ssh_conn_set_timeout(h->conn, 60);
	rc = agent_client_journal_read(h->ac, r->c->name, &text, &h->err);
	if (rc >= 0)
		rc = parse_host_journal(h, text ? text : "", &j);
	if (rc >= 0)
		rc = mirror(r, h, text ? text : "");
	if (rc < 0)
		return rc;
	h->resume_at = run_journal_decide(r, h, j, &why);
	h->resume_why = why;
	/* the phases it would skip: each still as recorded? */
	for (size_t k = 0; rc >= 0 && k < h->resume_at; k++) {
		const struct step_rule *rule = rule_of(run_pipeline[k].name);
		if (!recorded_here(r, k, (size_t)(h - r->hosts)) || !rule->verify)
			continue;
		why = rule->verify(r, h, &rc);
		if (why && rc >= 0) {
			h->resume_at = k;
			h->resume_why = why;
		}
	}
	if (rc >= 0) {
		h->journal = j;
		h->journal_on = true;
	} else {
		journal_free(j);
	}
	return rc;
}

static void resume_no_later_than(struct host_state *h, long k, const char *why)
{
	if (k >= 0 && (size_t)k < h->resume_at) {
		h->resume_at = (size_t)k;
		h->resume_why = why;
	}
}

static const char *record_value(const struct host_state *h, const char *phase, const char *key)
{
	char step[JOURNAL_MAX_STEP + 1];
	long last;

	if (!journal_step_name(phase, step, sizeof(step)))
		return NULL;
	last = journal_last(h->journal, step);
	return last < 0 ? NULL : journal_get(h->journal, (size_t)last, key);
}

/* what a skipped registry found in images/, back into the run for the mirrors phase */
static void restore_registry(struct run *r)
{
	long k = index_of("registry");
	struct host_state *h = &r->hosts[r->registry_host];
	_cleanup_free_ char *list = NULL;
	char *save = NULL;
	struct errbuf ignored = ERRBUF_INIT;

	if (k < 0 || h->failed || !h->journal_on || h->resume_at <= (size_t)k ||
	    !recorded_here(r, (size_t)k, r->registry_host))
		return;
	list = xstrdup(record_value(h, "registry", "found") ?: "");
	for (char *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "-") == 0)
			continue;
		if (!hosts_registry_valid(w) || run_mirror_add(r, w, &ignored) < 0) {
			run_mirror_release(r);
			resume_no_later_than(h, k, "its record of the registries found is not valid");
			return;
		}
	}
	if (!record_value(h, "registry", "found"))
		resume_no_later_than(h, k, "its record lacks the registries found");
}

/* master0's cgroup driver from a skipped kubeadm init; and when init runs on master0 (it
 * may make a new CA), every other host's join runs too: phase_join then finds a host that
 * joined the old one */
static void restore_kubeadm(struct run *r)
{
	long k = index_of("kubeadm init");
	struct host_state *m0 = &r->hosts[0];
	const char *cg;

	if (k < 0 || !recorded_here(r, (size_t)k, 0) || !m0->journal_on)
		return;
	if (m0->resume_at > (size_t)k) {
		cg = record_value(m0, "kubeadm init", "cgroup");
		if (cg && strcmp(cg, "systemd") == 0)
			r->cgroup_driver = "systemd";
		else if (cg && strcmp(cg, "cgroupfs") == 0)
			r->cgroup_driver = "cgroupfs";
		else
			resume_no_later_than(m0, k, "its record lacks the cgroup driver");
	}
	/* resumed before init for an earlier step, it is still skipped where admin.conf is:
	 * no new CA, nothing to join again */
	if (m0->resume_at > (size_t)k || run_host_test(m0, "/etc/kubernetes/admin.conf") > 0)
		return;
	for (size_t i = 1; i < r->n; i++) {
		long jk = index_of(r->hosts[i].spec->role == ROLE_MASTER ? "join masters"
									 : "join nodes");
		if (r->hosts[i].journal_on && recorded_here(r, (size_t)jk, i))
			resume_no_later_than(&r->hosts[i], jk, "master0 is initialised again");
	}
}

static void log_resume(const struct run *r, const struct host_state *h)
{
	_cleanup_buf_ struct buf done = BUF_INIT(4096);
	size_t i = (size_t)(h - r->hosts);
	unsigned n = 0;

	for (size_t k = 0; k < h->resume_at && k < run_pipeline_len; k++)
		if (recorded_here(r, k, i)) {
			buf_printf(&done, "%s%s", n ? ", " : "", run_pipeline[k].name);
			n++;
		}
	if (h->resume_at >= run_pipeline_len && n)
		log_host(LOG_NOTICE, h->spec->ip, "journal: every step done as recorded (%s): "
			 "skipped; what only reads or converges runs again", done.data);
	else if (n)
		log_host(LOG_NOTICE, h->spec->ip, "journal: resumed at %s (%s); done as recorded "
			 "and skipped: %s", run_pipeline[h->resume_at].name, h->resume_why,
			 done.data);
	else if (journal_count(h->journal) && h->resume_at < run_pipeline_len)
		log_host(LOG_NOTICE, h->spec->ip, "journal: resumed at %s (%s): every step runs",
			 run_pipeline[h->resume_at].name, h->resume_why);
	else
		log_host(LOG_INFO, h->spec->ip, "journal: nothing recorded: every step runs");
}

int run_journal_after(struct run *r)
{
	/* the last point before the first change: every host reached, locked and checked */
	if (run_save_definition(r) < 0)
		return -1;
	restore_registry(r);
	restore_kubeadm(r);
	r->joins_pending = false;
	for (size_t i = 1; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		long jk = index_of(h->spec->role == ROLE_MASTER ? "join masters" : "join nodes");
		if (!h->failed && (!h->journal_on || jk < 0 || h->resume_at <= (size_t)jk))
			r->joins_pending = true;
	}
	for (size_t i = 0; i < r->n; i++)
		if (r->hosts[i].journal_on)
			log_resume(r, &r->hosts[i]);
	return 0;
}

bool run_journal_skips(struct run *r, struct host_state *h, const struct phase *p)
{
	long k = phase_index(p);
	const struct step_rule *rule = k < 0 ? NULL : rule_of(p->name);

	if (!rule || !h->journal_on)
		return false;
	if (rule->kind == STEP_IF_JOINS) {
		if (!r->joins_pending)
			log_host(LOG_INFO, h->spec->ip, "%s: not needed (every host joined, as "
				 "recorded)", p->name);
		return !r->joins_pending;
	}
	if ((size_t)k >= h->resume_at)
		return false;
	h->steps_skipped++;
	log_host(LOG_INFO, h->spec->ip, "%s: done as recorded, skipped", p->name);
	return true;
}

int run_journal_record(struct run *r, struct host_state *h, const struct phase *p)
{
	_cleanup_buf_ struct buf in = BUF_INIT(JOURNAL_MAX_LINE);
	_cleanup_buf_ struct buf line = BUF_INIT(JOURNAL_MAX_LINE);
	_cleanup_free_ char *text = NULL;
	const struct step_rule *rule = phase_index(p) < 0 ? NULL : rule_of(p->name);
	char step[JOURNAL_MAX_STEP + 1];
	struct journal *j = NULL;
	int rc;

	/* a host marked failed while its phase returned success did not get through it */
	if (!rule || rule->kind != STEP_RECORDED || !h->journal_on || h->failed)
		return 0;
	run_journal_inputs(r, h, p->name, &in);
	if (rule->outputs)
		rule->outputs(r, h, &in); /* " k=v" after the inputs, which every such rule has */
	if (!journal_step_name(p->name, step, sizeof(step)) ||
	    journal_line(step, (int64_t)time(NULL), in.data, &line) < 0)
		return errbuf_set(&h->err, -EINVAL, "%s succeeded, but its journal record '%.200s' "
				  "is not valid", p->name, in.data);
	ssh_conn_set_timeout(h->conn, 60);
	rc = agent_client_journal_append(h->ac, r->c->name, line.data, &text, &h->err);
	if (rc < 0)
		return errbuf_prefix(&h->err, "%s succeeded, but recording it in the host's journal "
				     "failed (it runs again next time)", p->name);
	rc = parse_host_journal(h, text ? text : "", &j);
	journal_free(j);
	return rc < 0 ? rc : mirror(r, h, text);
}

void run_journal_summary(const struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct host_state *h = &r->hosts[i];
		if (!h->journal_on || !h->steps_skipped)
			continue;
		if (h->resume_at < run_pipeline_len)
			report_text("%s: resumed at %s, %u step%s skipped as done (" REMOTE_ROOT
				    "/data/%s/journal)", h->spec->ip, run_pipeline[h->resume_at].name,
				    h->steps_skipped, h->steps_skipped == 1 ? "" : "s", r->c->name);
		else
			report_text("%s: every step done before, %u skipped as done", h->spec->ip,
				    h->steps_skipped);
	}
}

void run_journal_release(struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		r->hosts[i].journal = journal_free(r->hosts[i].journal);
}
