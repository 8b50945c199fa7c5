/* Phase "facts": every host's facts; then, once all hosts answered, the preflight table
 * (the checks --skip-preflight names), which stops the run on a failed check. */
#include "run-internal.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent-client.h"
#include "cleanup.h"
#include "k8s-name.h"
#include "log.h"
#include "report.h"
#include "ydoc.h"

#define MAX_SKEW_S 30.0

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

int phase_facts(struct run *r, struct host_state *h)
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

/* kubeadm and the kubelet name a host's node after its hostname, lower-cased: one that is
 * no Kubernetes name then (an underscore, say) would fail kubeadm's preflight only after
 * the hosts were changed. Not checked when a HOSTNAME plugin may rename hosts first. */
static void node_name_problem(const struct run *r, const char *hostname, struct buf *problems)
{
	_cleanup_free_ char *lower = NULL;
	const char *why;

	if (!r->has_kubeadm || !hostname || skipped(r, "hostname"))
		return;
	/* a HOSTNAME plugin may rename the host before kubeadm runs */
	for (size_t i = 0; i < r->plugins.n; i++)
		if (r->plugins.v[i].type == PLUGIN_HOSTNAME)
			return;
	lower = xstrdup(hostname);
	for (char *c = lower; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if ((why = k8s_dns_subdomain_invalid(lower, 253)))
		buf_printf(problems, "hostname %s is no Kubernetes node name once lower-cased, as "
			   "kubeadm names the node: %s; rename the host (hostname); ", hostname, why);
}

/* Every check on every host, one table, before anything is changed. */
int run_preflight(struct run *r)
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
			/* case-blind: names are (DNS, and kubeadm's node names lower-cased) */
			if (!skipped(r, "hostname") && hostname &&
			    strcasecmp(hostname, ynode_str(ynode_get(o->facts, "hostname")) ?: "") == 0)
				buf_printf(&problems, "hostname %s also on %s (hostname); ", hostname, o->spec->ip);
			if (!skipped(r, "machine-id") && mid &&
			    strcmp(mid, ynode_str(ynode_get(o->facts, "machine_id")) ?: "") == 0)
				buf_printf(&problems, "machine-id also on %s (machine-id); ", o->spec->ip);
		}
		node_name_problem(r, hostname, &problems);
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
