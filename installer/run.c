#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent-client.h"
#include "buf.h"
#include "cleanup.h"
#include "digest.h"
#include "fs-util.h"
#include "layer.h"
#include "log.h"
#include "pool.h"
#include "macro.h"
#include "report.h"
#include "ssh.h"
#include "ydoc.h"

#define REMOTE_ROOT "/var/lib/cirun"
#define REMOTE_AGENT REMOTE_ROOT "/bin/cirun-agent"
#define TAIL_LINES 20
#define MAX_SKEW_S 30.0

struct host_state {
	struct cluster_host *spec;
	struct ssh_conn *conn;
	struct ssh_chan *agent_ch;
	struct agent_client *ac;
	struct ynode *facts;
	double skew_s;
	bool failed;
	const char *failed_phase;
	struct errbuf err;
	unsigned phases_done;
	uint64_t bytes_sent;
	unsigned layers_sent;
	bool agent_uploaded;
	int64_t t_start_ms, t_end_ms;
	struct buf tail;	/* recent output lines, for failure reports */
	struct buf line;	/* an output line being assembled */
};

struct run {
	struct cluster *c;
	struct image_store *st;
	struct image img;
	const struct run_opts *o;
	struct host_state *hosts;
	size_t n;
	char *agent_path;
	char agent_hex[SHA256_HEX_SIZE];
	char *known_hosts;
	char **digests;	/* content layers, in order */
	uint64_t *sizes;
	size_t nlayers;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...)
	_printf_(4, 5);
static int host_fail(struct host_state *h, const char *phase, int r, const char *fmt, ...)
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

typedef int (*phase_fn)(struct run *r, struct host_state *h);

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

/* ---- connect ---- */

static int phase_connect(struct run *r, struct host_state *h)
{
	struct ssh_opts o = {
		.host = h->spec->ip,
		.port = h->spec->ssh.port,
		.user = h->spec->ssh.user,
		.password = h->spec->ssh.password,
		.pk_file = h->spec->ssh.pk_file,
		.pk_passphrase = h->spec->ssh.pk_passphrase,
		.known_hosts = r->known_hosts,
		.insecure_ignore_host_key = r->o->insecure_ignore_host_key,
		.connect_timeout_s = r->o->connect_timeout_s,
	};
	int rc;

	h->t_start_ms = now_ms();
	rc = ssh_conn_open(&o, &h->conn, &h->err);
	if (rc < 0)
		return rc;
	rc = ssh_conn_probe_root(h->conn, &h->err);
	if (rc < 0)
		return rc;
	log_host(LOG_INFO, h->spec->ip, "connected as %s (host key %s)", h->spec->ssh.user,
		 ssh_conn_fingerprint(h->conn));
	return 0;
}

/* ---- agent ---- */

/* The digest of the agent installed on the host: hex is "" when there is none (sha256sum
 * exits 1 for a missing file). Any other failure is an error: a host where it cannot be
 * checked cannot be trusted with an upload either. */
static int remote_agent_digest(struct host_state *h, char *hex)
{
	_cleanup_buf_ struct buf out = BUF_INIT(4096);
	int rc = ssh_run_root(h->conn, "sh -c 'test -e " REMOTE_AGENT " || exit 0; sha256sum "
			      REMOTE_AGENT "'", NULL, 0, &out, &h->err);

	hex[0] = '\0';
	if (rc < 0)
		return rc;
	if (rc != 0)
		return errbuf_set(&h->err, -EIO, "checking the agent %s failed (exit %d): %s",
				  REMOTE_AGENT, rc, out.data);
	if (out.len == 0)
		return 0;
	/* "HEX  PATH", maybe after a line sudo wrote to stderr */
	const char *end = strstr(out.data, "  " REMOTE_AGENT), *line = end;
	while (line && line > out.data && line[-1] != '\n')
		line--;
	if (end && end - line == 64)
		snprintf(hex, SHA256_HEX_SIZE, "%.64s", line);
	if (!sha256_hex_valid(hex))
		return errbuf_set(&h->err, -EIO, "checking the agent %s: sha256sum answered '%.80s'",
				  REMOTE_AGENT, out.data);
	return 0;
}

static int upload_agent(struct run *r, struct host_state *h)
{
	static const char install[] =
		"sh -c 'set -e; umask 022; mkdir -p " REMOTE_ROOT "/bin; "
		"t=$(mktemp " REMOTE_ROOT "/bin/.cirun-agent.XXXXXX); cat > \"$t\"; "
		"chmod 0755 \"$t\"; mv -f \"$t\" " REMOTE_AGENT "'";
	_cleanup_buf_ struct buf out = BUF_INIT(16384);
	_cleanup_close_ int fd = open(r->agent_path, O_RDONLY | O_CLOEXEC);
	char hex[SHA256_HEX_SIZE];
	int rc;

	if (fd < 0)
		return errbuf_set(&h->err, negative_errno(), "cannot read the agent '%s'", r->agent_path);
	rc = ssh_run_root_fd(h->conn, install, fd, &out, &h->err);
	if (rc < 0)
		return rc;
	if (rc != 0)
		return errbuf_set(&h->err, -EIO, "installing the agent into %s failed (exit %d): %s",
				  REMOTE_AGENT, rc, out.data);
	h->agent_uploaded = true;
	rc = remote_agent_digest(h, hex);
	if (rc >= 0 && strcmp(hex, r->agent_hex) != 0)
		rc = errbuf_set(&h->err, -EIO, "the agent arrived damaged (sha256 %s)",
				hex[0] ? hex : "none: it is not there");
	return rc;
}

static int phase_agent(struct run *r, struct host_state *h)
{
	char hex[SHA256_HEX_SIZE];
	_cleanup_free_ char *version = NULL;
	int rc = remote_agent_digest(h, hex);

	if (rc >= 0 && strcmp(hex, r->agent_hex) != 0)
		rc = upload_agent(r, h);
	if (rc < 0)
		return rc;
	rc = ssh_exec_root(h->conn, REMOTE_AGENT " serve", true, &h->agent_ch, &h->err);
	if (rc < 0)
		return rc;
	rc = agent_client_new(ssh_chan_io(h->agent_ch), &h->ac);
	if (rc >= 0)
		rc = agent_client_hello(h->ac, &version, &h->err);
	if (rc < 0)
		return rc;
	log_host(LOG_INFO, h->spec->ip, "agent %s %s", version, h->agent_uploaded ? "uploaded" : "up to date");
	return 0;
}

/* ---- facts and preflight ---- */

static double parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	double frac = 0;

	if (!rest)
		return NAN;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

static int phase_facts(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *yaml = NULL;
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct timespec now;
	int rc;

	(void)r;
	rc = agent_client_facts(h->ac, &yaml, &h->err);
	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	rc = ydoc_parse("facts", yaml, strlen(yaml), NULL, &d, &h->err);
	if (rc < 0)
		return rc;
	h->facts = ydoc_take_root(d, 0);
	h->skew_s = parse_time(ynode_str(ynode_get(h->facts, "time"))) -
		    ((double)now.tv_sec + now.tv_nsec / 1e9);
	return 0;
}

/* The preflight checks, by the names --skip-preflight takes. */
static const char *const preflight_checks[] = { "hostname", "machine-id", "clock", "arch",
						"systemd", "disk", "capabilities" };

int run_skip_list_check(const char *list, struct errbuf *err)
{
	_cleanup_free_ char *work = xstrdup(list ? list : "");
	char *save = NULL;

	for (char *name = strtok_r(work, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < ELEMENTSOF(preflight_checks); i++)
			if (strcmp(name, preflight_checks[i]) == 0)
				break;
		if (i == ELEMENTSOF(preflight_checks))
			return errbuf_set(err, -EINVAL, "--skip-preflight: unknown check '%s'; the "
					  "checks are hostname, machine-id, clock, arch, systemd, "
					  "disk, capabilities", name);
	}
	return 0;
}

static bool skipped(const struct run *r, const char *check)
{
	const char *s = r->o->skip_preflight;
	size_t n = strlen(check);

	while (s && *s) {
		if (strncmp(s, check, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return true;
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return false;
}

static bool has_cap(const struct ynode *facts, const char *cap)
{
	const struct ynode *caps = ynode_get(facts, "capabilities");
	for (size_t i = 0; i < ynode_len(caps); i++)
		if (strcmp(ynode_str(ynode_seq_at(caps, i)), cap) == 0)
			return true;
	return false;
}

/* Every check on every host, one table, before anything is changed. */
static int preflight(struct run *r)
{
	static const char *const caps[] = { "cap_sys_admin", "cap_chown", "cap_dac_override",
					    "cap_fowner", "cap_mknod", "cap_setfcap" };
	uint64_t need = 0;
	int failures = 0;

	for (size_t i = 0; i < r->nlayers; i++)
		need += r->sizes[i] * 3; /* the blob, and room for it unpacked */
	report_preflight_header();
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		struct buf problems = BUF_INIT(4096);
		if (h->failed || !h->facts)
			continue;
		const char *hostname = ynode_str(ynode_get(h->facts, "hostname"));
		const char *mid = ynode_str(ynode_get(h->facts, "machine_id"));
		const char *arch = oci_arch_from_uname(ynode_str(ynode_get(h->facts, "arch")));
		bool pid1 = false, bus = false;
		int64_t free_bytes = 0;
		ynode_get_bool(ynode_get(h->facts, "systemd.pid1"), &pid1);
		ynode_get_bool(ynode_get(h->facts, "systemd.bus"), &bus);
		ynode_get_int(ynode_get(h->facts, "var_lib_free_bytes"), &free_bytes);

		for (size_t k = 0; k < i; k++) {
			struct host_state *o = &r->hosts[k];
			if (!o->facts)
				continue;
			if (!skipped(r, "hostname") && hostname &&
			    strcmp(hostname, ynode_str(ynode_get(o->facts, "hostname")) ?: "") == 0)
				buf_printf(&problems, "hostname %s also on %s (hostname); ", hostname, o->spec->ip);
			if (!skipped(r, "machine-id") && mid &&
			    strcmp(mid, ynode_str(ynode_get(o->facts, "machine_id")) ?: "") == 0)
				buf_printf(&problems, "machine-id also on %s (machine-id); ", o->spec->ip);
		}
		if (!skipped(r, "clock") && (isnan(h->skew_s) || fabs(h->skew_s) > MAX_SKEW_S))
			buf_printf(&problems, "clock %+.0fs off (clock); ", h->skew_s);
		if (!skipped(r, "arch") && r->img.meta.arch && strcmp(arch, r->img.meta.arch) != 0)
			buf_printf(&problems, "arch %s, image is %s (arch); ", arch, r->img.meta.arch);
		if (!skipped(r, "systemd") && !(pid1 && bus))
			buf_printf(&problems, "systemd %s (systemd); ", pid1 ? "not reachable on the bus" : "not PID 1");
		if (!skipped(r, "disk") && (uint64_t)free_bytes < need)
			buf_printf(&problems, "%" PRId64 " MB free under /var/lib, need %" PRIu64 " MB (disk); ",
				   free_bytes >> 20, need >> 20);
		for (size_t k = 0; !skipped(r, "capabilities") && k < ELEMENTSOF(caps); k++)
			if (!has_cap(h->facts, caps[k]))
				buf_printf(&problems, "lacks %s (capabilities); ", caps[k]);
		if (problems.len > 2)
			buf_truncate(&problems, problems.len - 2);
		report_preflight(h->spec->ip, hostname ? hostname : "?", arch, pid1 && bus,
				 free_bytes >> 20, h->skew_s, problems.data);
		if (problems.len) {
			failures++;
			errbuf_set(&h->err, -EPERM, "preflight: %s", problems.data);
			h->failed = true;
			h->failed_phase = "preflight";
		}
		buf_release(&problems);
	}
	if (failures)
		log_error("preflight failed on %d host(s); nothing was changed. Fix them, or skip a "
			  "check with --skip-preflight=NAME (the name in brackets)", failures);
	return failures ? -EPERM : 0;
}

/* ---- distribute ---- */

static int send_layer(struct run *r, struct host_state *h, size_t i)
{
	_cleanup_free_ char *path = image_store_blob_path(r->st, r->digests[i]);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return errbuf_set(&h->err, negative_errno(), "layer %s is missing from the store",
				  r->digests[i]);
	/* generous: the transfer of a large layer takes a while on a slow link */
	ssh_conn_set_timeout(h->conn, 600);
	rc = agent_client_send_layer(h->ac, r->digests[i], r->sizes[i], fd, NULL, NULL, &h->err);
	if (rc >= 0) {
		h->bytes_sent += r->sizes[i];
		h->layers_sent++;
	}
	return rc;
}

static int phase_distribute(struct run *r, struct host_state *h)
{
	_cleanup_free_ bool *have = xcalloc(r->nlayers ? r->nlayers : 1, sizeof(*have));
	_cleanup_free_ char *detail = NULL;
	int rc = agent_client_layers(h->ac, r->digests, r->sizes, r->nlayers, have, &h->err);

	for (size_t i = 0; rc >= 0 && i < r->nlayers; i++)
		if (!have[i])
			rc = send_layer(r, h, i);
	if (rc < 0)
		return rc;
	ssh_conn_set_timeout(h->conn, r->o->timeout_s ? r->o->timeout_s : 1800);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct agent_layer_fault fault = { 0 };
		rc = agent_client_assemble(h->ac, r->c->name, r->c->image, r->digests, r->nlayers,
					   &detail, &fault, &h->err);
		_cleanup_free_ char *bad = fault.digest;
		/* an invalid layer is the image's fault: sending it again cannot help */
		if (rc >= 0 || fault.fault != LAYER_FAULT_CORRUPT || attempt == 1)
			break;
		/* the host's cached copy went bad: it was dropped there; send it again */
		log_host(LOG_WARNING, h->spec->ip, "%s; sending it again", errbuf_msg(&h->err));
		for (size_t i = 0; i < r->nlayers; i++)
			if (strcmp(r->digests[i], bad) == 0)
				rc = send_layer(r, h, i);
		if (rc < 0)
			return rc;
	}
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "rootfs ready (%u layer%s sent, %" PRIu64 " bytes; %s)",
			 h->layers_sent, h->layers_sent == 1 ? "" : "s", h->bytes_sent, detail ? detail : "");
	return rc;
}

/* ---- setup: templates, bin/, CRI, units ---- */

static int phase_setup(struct run *r, struct host_state *h)
{
	_cleanup_free_ char *detail = NULL;
	int rc;

	ssh_conn_set_timeout(h->conn, 600);
	rc = agent_client_setup(h->ac, r->c->name, h->spec->env, h->spec->nenv,
				r->o->force ? PROTO_SETUP_FORCE : 0, &detail, &h->err);
	if (rc >= 0)
		log_host(LOG_INFO, h->spec->ip, "%s", detail);
	return rc;
}

/* ---- init ---- */

static void keep_tail(struct host_state *h, const char *line)
{
	/* the last TAIL_LINES lines, for the failure report */
	size_t lines = 0;
	for (size_t i = 0; i < h->tail.len; i++)
		lines += h->tail.data[i] == '\n';
	if (lines >= TAIL_LINES) {
		char *nl = strchr(h->tail.data, '\n');
		size_t drop = (size_t)(nl - h->tail.data) + 1;
		memmove(h->tail.data, h->tail.data + drop, h->tail.len - drop + 1);
		h->tail.len -= drop;
	}
	buf_printf(&h->tail, "%s\n", line);
}

static void on_output(void *data, int stream, const char *buf, size_t n)
{
	struct host_state *h = data;

	(void)stream;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (buf_putc(&h->line, buf[i]) == 0)
				continue;
		}
		log_host(LOG_NOTICE, h->spec->ip, "%s", h->line.data);
		keep_tail(h, h->line.data);
		buf_reset(&h->line);
	}
}

static int phase_init(struct run *r, struct host_state *h)
{
	/* started in the rootfs, which always exists; init.sh itself runs in scripts/ */
	static const char script[] =
		"if [ -f scripts/init.sh ]; then cd scripts && exec bash init.sh; fi; "
		"echo 'the image has no scripts/init.sh: nothing to run'";
	_cleanup_free_ char *cwd = NULL;
	struct agent_exit ex = { 0 };
	unsigned timeout = r->o->timeout_s ? r->o->timeout_s : 1800;
	struct kv *env = xcalloc(h->spec->nenv + 1, sizeof(*env));
	int rc;

	cwd = xasprintf(REMOTE_ROOT "/data/%s/rootfs", r->c->name);
	for (size_t i = 0; i < h->spec->nenv; i++)
		env[i] = h->spec->env[i];
	ssh_conn_set_timeout(h->conn, timeout + 60);
	buf_reset(&h->tail);
	rc = agent_client_exec(h->ac, script, cwd, env, h->spec->nenv, timeout, on_output, h, &ex,
			       &h->err);
	free(env);
	if (h->line.len)
		on_output(h, 1, "\n", 1);
	if (rc < 0)
		return rc;
	if (ex.timed_out)
		return errbuf_set(&h->err, -ETIMEDOUT, "scripts/init.sh did not finish within %us; its "
				  "last lines:\n%s", timeout, h->tail.data);
	if (ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "scripts/init.sh (in %s/scripts) exited with %d%s; its "
				  "last lines:\n%s", cwd, ex.exit_code, ex.signal ? " (killed)" : "",
				  h->tail.data);
	return 0;
}

/* ---- the run ---- */

static char *find_agent(const struct run_opts *o)
{
	char self[4096];
	ssize_t n;
	const char *env = getenv("CIRUN_AGENT");

	if (o->agent_path)
		return xstrdup(o->agent_path);
	if (env && *env)
		return xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *dir = dirname(self), *p = NULL;
		/* beside cirun (the build tree), or where `make install` puts it */
		const char *cands[] = { "/cirun-agent", "/../lib/cirun/cirun-agent" };
		for (size_t i = 0; i < ELEMENTSOF(cands); i++) {
			p = xasprintf("%s%s", dir, cands[i]);
			if (access(p, R_OK) == 0)
				return p;
			free(p);
		}
	}
	return NULL;
}

static void print_summary(struct run *r)
{
	report_summary_header();
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		char first[1024] = "";
		if (h->failed)
			snprintf(first, sizeof(first), "%s: %s", h->failed_phase ? h->failed_phase : "?",
				 errbuf_msg(&h->err));
		int64_t end = h->t_end_ms ? h->t_end_ms : now_ms();
		report_host_result(h->spec->ip, i == 0 ? "master0" : role_name(h->spec->role),
				   h->phases_done, !h->failed,
				   h->t_start_ms ? (double)(end - h->t_start_ms) / 1000 : 0, h->bytes_sent,
				   first);
	}
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
	r->agent_path = find_agent(o);
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

static bool plan_wants(const char *path, void *unused)
{
	(void)unused;
	return strncmp(path, "etc", 3) == 0 || strncmp(path, "cri", 3) == 0 ||
	       strncmp(path, "scripts", 7) == 0 || strncmp(path, "bin", 3) == 0 ||
	       strncmp(path, ".wh.", 4) == 0;
}

/* What setup and init will find in the image: the units, CRI archives, bin/ and init.sh,
 * read from the store's layers (filtered: only those directories are unpacked). */
static void plan_contents(struct run *r, struct buf *units, struct buf *cri, struct buf *bins,
			  bool *has_init)
{
	_cleanup_free_ char *tmp = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct {
		const char *dir, *suffix;
		struct buf *out;
	} lists[] = { { "etc", ".service", units }, { "cri", "", cri }, { "bin", "", bins } };

	tmp = xasprintf("%s/build/tmp/plan-XXXXXX", image_store_home(r->st));
	char *parent = xstrdup(tmp);
	*strrchr(parent, '/') = '\0';
	int rc = mkdir_p(parent, 0700);
	free(parent);
	if (rc < 0 || !mkdtemp(tmp)) {
		log_warning("cannot create a directory under %s/build/tmp to read the image: %s; the "
			    "plan below leaves out units, CRI files and scripts", image_store_home(r->st),
			    strerror(rc < 0 ? -rc : errno));
		return;
	}
	for (size_t i = 0; i < r->nlayers; i++) {
		_cleanup_free_ char *blob = image_store_blob_path(r->st, r->digests[i]);
		if (layer_apply_file_filtered(tmp, blob, plan_wants, NULL, &err) < 0) {
			log_warning("reading the image for the plan: %s; the plan below may miss "
				    "units, CRI files or scripts", errbuf_msg(&err));
			break;
		}
	}
	for (size_t k = 0; k < ELEMENTSOF(lists); k++) {
		_cleanup_free_ char *d = NULL;
		struct dirent **names;
		d = xasprintf("%s/%s", tmp, lists[k].dir);
		int n = scandir(d, &names, NULL, alphasort);
		for (int i = 0; i < n; i++) {
			const char *nm = names[i]->d_name;
			size_t len = strlen(nm), sl = strlen(lists[k].suffix);
			if (nm[0] != '.' && len > sl && strcmp(nm + len - sl, lists[k].suffix) == 0)
				buf_printf(lists[k].out, "%s%s", lists[k].out->len ? " " : "", nm);
			free(names[i]);
		}
		if (n >= 0)
			free(names);
	}
	_cleanup_free_ char *init = NULL;
	init = xasprintf("%s/scripts/init.sh", tmp);
	*has_init = access(init, F_OK) == 0;
	rm_rf_at(AT_FDCWD, tmp);
}

static const char *auth_name(const struct ssh_settings *s)
{
	if (s->pk_file)
		return "a key";
	return s->password ? "a password" : "no credentials";
}

/* The plan from the image and the flags alone: a dry run never connects, so it works
 * before the hosts exist and cannot touch them. Which layers a host already holds is
 * not known here, hence "at most". */
static void dry_run_plan(struct run *r)
{
	_cleanup_buf_ struct buf units = BUF_INIT(1 << 16), cri = BUF_INIT(1 << 16),
				 bins = BUF_INIT(1 << 16);
	bool has_init = false;
	uint64_t bytes = 0;

	plan_contents(r, &units, &cri, &bins, &has_init);
	for (size_t k = 0; k < r->nlayers; k++)
		bytes += r->sizes[k];
	report_text("phases on every host: connect, agent, facts and preflight, distribute, "
		    "setup, init");
	for (size_t i = 0; i < r->n; i++) {
		struct host_state *h = &r->hosts[i];
		const struct ssh_settings *s = &h->spec->ssh;
		report_text("[%s] plan (%s): ssh %s@%s port %u with %s", h->spec->ip,
			    i == 0 ? "master0" : role_name(h->spec->role), s->user, h->spec->ip,
			    s->port, auth_name(s));
		for (size_t k = 0; k < r->nlayers; k++)
			report_text("  layer %.19s %10" PRIu64 " bytes", r->digests[k], r->sizes[k]);
		report_text("  sends at most %zu layer(s), %" PRIu64 " bytes (layers the host "
			    "already holds are not sent)", r->nlayers, bytes);
		report_text("  agent %s; rootfs " REMOTE_ROOT "/data/%s/rootfs", REMOTE_AGENT, r->c->name);
		report_text("  PATH: %s", bins.len ? bins.data : "(no bin/)");
		report_text("  CRI into /usr/bin: %s", cri.len ? cri.data : "(no cri/)");
		report_text("  units: %s%s", units.len ? units.data : "(none)",
			    strstr(units.data, "kubelet.service") ? " (kubelet.service enabled only)" : "");
		report_text("  scripts/init.sh: %s, with %zu env variable(s)",
			    has_init ? "runs" : "not in the image", h->spec->nenv);
	}
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
		dry_run_plan(&r);
		return finish(&r, 0);
	}
	run_phase(&r, "connect", phase_connect);
	/* all or nothing until preflight passed: a host that cannot be reached or checked
	 * stops the run before anything is changed anywhere */
	bool ready = live_hosts(&r) == r.n;
	if (ready) {
		run_phase(&r, "agent", phase_agent);
		run_phase(&r, "facts", phase_facts);
		ready = live_hosts(&r) == r.n && preflight(&r) >= 0;
	}
	if (ready) {
		run_phase(&r, "distribute", phase_distribute);
		run_phase(&r, "setup", phase_setup);
		run_phase(&r, "init", phase_init);
	} else {
		log_error("stopped before changing any host");
	}
	for (size_t i = 0; i < r.n; i++) {
		r.hosts[i].t_end_ms = now_ms();
		any_failed |= r.hosts[i].failed;
	}
	print_summary(&r);
	return finish(&r, any_failed || !ready ? 1 : 0);
}
