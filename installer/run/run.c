/* `cirun run`'s driver: the run's state from start to release, and the phases in order. */
#include "run-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent-client.h"
#include "log.h"
#include "pool.h"
#include "report.h"
#include "ssh.h"
#include "ydoc.h"

int64_t run_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...)
{
	va_list ap;

	h->failed = true;
	h->failed_phase = phase;
	if (fmt) {
		va_start(ap, fmt);
		errbuf_setv(&h->err, r < 0 ? r : -EIO, fmt, ap);
		va_end(ap);
	}
	log_host(LOG_ERR, h->spec->ip, "%s failed: %s", phase, errbuf_msg(&h->err));
	return r < 0 ? r : -EIO;
}

/* ---- parallel phases ---- */

struct phase_job {
	struct run *r;
	phase_fn fn;
	const char *name;
};

static void phase_one(void *data, size_t i)
{
	struct phase_job *job = data;
	struct host_state *h = &job->r->hosts[i];

	if (h->failed)
		return;
	if (job->fn(job->r, h) < 0) {
		if (!h->failed)
			host_fail(h, job->name, h->err.code, NULL);
	} else {
		h->phases_done++;
	}
}

/* No thread could start: each live host fails (a host never silently skips a phase). */
static void phase_no_thread(void *data, size_t i, int rc)
{
	struct phase_job *job = data;
	struct host_state *h = &job->r->hosts[i];

	if (!h->failed)
		host_fail(h, job->name, rc, "cannot start a thread for it: %s; lower --parallel or "
			  "raise the process limit", strerror(-rc));
}

static size_t live_hosts(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += !r->hosts[i].failed;
	return n;
}

static void run_phase(struct run *r, const char *name, phase_fn fn)
{
	struct phase_job job = { .r = r, .fn = fn, .name = name };

	if (live_hosts(r) == 0)
		return;
	report_phase(name, live_hosts(r));
	pool_run(r->n, r->o->parallel ? r->o->parallel : 32, phase_one, phase_no_thread, &job);
}

static void hosts_close(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		struct errbuf e = ERRBUF_INIT;
		if (h->ac && !h->failed && agent_client_bye(h->ac, &e) < 0)
			log_host(LOG_WARNING, h->spec->ip, "ending the agent's session: %s", errbuf_msg(&e));
		agent_client_free(h->ac);
		/* after a clean BYE the agent exits 0; anything else is worth a look */
		int st = h->agent_ch ? ssh_chan_close(h->agent_ch) : 0;
		if (st != 0 && !h->failed)
			log_host(LOG_WARNING, h->spec->ip, "the agent ended with %s %d (see 'journalctl "
				 "-t cirun-agent' on the host)", st < 0 ? "error" : "status", st);
		ssh_conn_close(h->conn);
		ynode_free(h->facts);
		buf_release(&h->tail);
		buf_release(&h->line);
	}
}

static int run_init(struct run *r, struct image_store *st, struct cluster *c,
		    const struct run_opts *o, struct errbuf *err)
{
	int rc;

	r->c = c;
	r->st = st;
	r->o = o;
	r->agent_path = run_find_agent(o);
	if (!r->agent_path)
		return errbuf_set(err, -ENOENT, "cannot find cirun-agent next to cirun; set "
				  "CIRUN_AGENT=/path/to/cirun-agent");
	rc = sha256_file(r->agent_path, r->agent_hex, NULL);
	if (rc < 0)
		return errbuf_set(err, rc, "cannot read the agent '%s': %s", r->agent_path, strerror(-rc));
	rc = image_store_get(st, c->image, &r->img, err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < r->img.meta.nlayers; i++) {
		if (!r->img.meta.layers[i].digest)
			continue;
		r->digests = xreallocarray(r->digests, r->nlayers + 1, sizeof(*r->digests));
		r->sizes = xreallocarray(r->sizes, r->nlayers + 1, sizeof(*r->sizes));
		r->digests[r->nlayers] = r->img.meta.layers[i].digest;
		r->sizes[r->nlayers] = r->img.meta.layers[i].size;
		r->nlayers++;
	}
	r->known_hosts = xasprintf("%s/known_hosts", image_store_home(st));
	r->n = c->nhosts;
	r->hosts = xcalloc(r->n, sizeof(*r->hosts));
	for (size_t i = 0; i < r->n; i++) {
		r->hosts[i].spec = &c->hosts[i];
		buf_init(&r->hosts[i].tail, 64 << 10);
		buf_init(&r->hosts[i].line, 64 << 10);
	}
	return ssh_global_init(8);
}

static void run_release(struct run *r)
{
	hosts_close(r);
	free(r->hosts);
	free(r->digests);
	free(r->sizes);
	free(r->agent_path);
	free(r->known_hosts);
	image_release(&r->img);
}

static void register_secrets(const struct cluster *c)
{
	log_add_secret(c->ssh.password);
	log_add_secret(c->ssh.pk_passphrase);
	for (size_t i = 0; i < c->nhosts; i++) {
		log_add_secret(c->hosts[i].ssh.password);
		log_add_secret(c->hosts[i].ssh.pk_passphrase);
	}
}

static int finish(struct run *r, int code)
{
	if (code != 0 && report_log_path())
		log_error("the full log of this run: %s", report_log_path());
	run_release(r);
	report_close();
	log_clear_secrets(); /* wipes our copies; the run is over */
	return code;
}

int cluster_run(struct image_store *st, struct cluster *c, const struct run_opts *o,
		struct errbuf *err)
{
	struct run r = { 0 };
	bool any_failed = false;
	int rc;

	register_secrets(c);
	rc = report_open(image_store_home(st), c->name, o->json, err);
	if (rc >= 0)
		rc = run_init(&r, st, c, o, err);
	if (rc < 0) {
		log_error("%s", errbuf_msg(err));
		errbuf_clear(err);
		return finish(&r, 1);
	}
	if (o->dry_run)
		report_text("DRY RUN — nothing will be changed, and no host is contacted");
	report_run_start(c->image, r.img.id, r.nlayers, c->name, r.n, o->dry_run);
	if (o->dry_run) {
		run_plan(&r);
		return finish(&r, 0);
	}
	run_phase(&r, "connect", phase_connect);
	/* all or nothing until preflight passed: a host that cannot be reached or checked
	 * stops the run before anything is changed anywhere */
	bool ready = live_hosts(&r) == r.n;
	if (ready) {
		run_phase(&r, "agent", phase_agent);
		run_phase(&r, "facts", phase_facts);
		ready = live_hosts(&r) == r.n && run_preflight(&r) >= 0;
	}
	if (ready) {
		run_phase(&r, "distribute", phase_distribute);
		run_phase(&r, "setup", phase_setup);
		run_phase(&r, "init", phase_init);
	} else {
		log_error("stopped before changing any host");
	}
	for (size_t i = 0; i < r.n; i++) {
		r.hosts[i].t_end_ms = run_now_ms();
		any_failed |= r.hosts[i].failed;
	}
	run_summary(&r);
	return finish(&r, any_failed || !ready ? 1 : 0);
}
