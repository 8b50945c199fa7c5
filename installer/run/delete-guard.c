/* What a delete may do on a host before it changes it, and what `delete --all --force`
 * leaves of the saved definition (run-internal.h). */
#include "run-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent-client.h"
#include "buf.h"
#include "cleanup.h"
#include "cluster-state.h"
#include "log.h"
#include "name.h"
#include "report.h"

/* One line: "absent" (no ROOT/data/<name>: a run never got this far, or a clean already
 * finished), "shared OTHER" (another cluster's install record lists kubeadm or kubelet
 * files, or cannot be read: that cluster's kubelet and control plane live here), else
 * "ours". The name is a validated cluster name: safe inside the quotes. */
static char *probe_script(const char *name)
{
	return xasprintf(
		"D='" REMOTE_ROOT "/data'\n"
		"if [ ! -e \"$D/%s\" ] && [ ! -L \"$D/%s\" ]; then echo absent; exit 0; fi\n"
		"for f in \"$D\"/*/installed; do\n"
		"  c=${f%%/installed}; c=${c##*/}\n"
		"  [ \"$c\" = '%s' ] && continue\n"
		"  case $c in *[!a-z0-9._-]*) continue;; esac\n"
		"  [ -e \"$f\" ] || [ -L \"$f\" ] || continue\n"
		"  grep -Eq '/(kubeadm|kubelet)(\\.service(\\.d(/.*)?)?)?$' \"$f\"\n"
		"  [ $? -eq 1 ] || { echo \"shared $c\"; exit 0; }\n"
		"done\n"
		"echo ours\n", name, name, name);
}

int run_clean_probe(struct run *r, struct host_state *h, char **ret_other)
{
	_cleanup_free_ char *script = probe_script(r->c->name);
	_cleanup_buf_ struct buf out = BUF_INIT(4096);
	struct agent_exit ex;
	const char *a;
	int rc = run_host_exec(h, script, 60, &out, &ex);

	if (rc < 0)
		return errbuf_prefix(&h->err, "checking what of cluster %s is on the host", r->c->name);
	if (ex.timed_out || ex.exit_code != 0)
		return errbuf_set(&h->err, -EIO, "checking what of cluster %s is on the host: the "
				  "check %s; its last lines:\n%s", r->c->name, ex.timed_out ?
				  "did not finish" : "failed", h->tail.data);
	if (out.len && out.data[out.len - 1] == '\n')
		out.data[--out.len] = '\0';
	a = out.len ? out.data : "";
	if (strcmp(a, "absent") == 0)
		return CLEAN_ABSENT;
	if (strcmp(a, "ours") == 0)
		return CLEAN_OURS;
	/* the host's answer is hostile: only a cluster name is taken from it (anything else
	 * after "shared " still means: do not reset) */
	if (strncmp(a, "shared ", 7) == 0) {
		*ret_other = xstrdup(cluster_name_valid(a + 7) ? a + 7 : "(not a cluster name)");
		return CLEAN_SHARED;
	}
	return errbuf_set(&h->err, -EPROTO, "checking what of cluster %s is on the host: "
			  "unexpected answer (%zu bytes)", r->c->name, out.len);
}

static size_t failed_hosts(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->hosts[i].failed;
	return n;
}

/* Keeps, of the saved definition, the hosts a later delete still has to clean; master0
 * too when no master is among them, and the registry host, so that it still reads back
 * as a cluster (a later delete finds nothing of the cluster on those and says so). */
static int save_left(struct run *r, const char *home, struct errbuf *err)
{
	const struct cluster *c = r->c;
	_cleanup_free_ struct cluster_host *hosts = xcalloc(c->nhosts, sizeof(*hosts));
	struct cluster left = *c;
	bool master = false;

	left.nhosts = 0;
	for (size_t i = 0; i < r->n; i++)
		master |= r->hosts[i].failed && c->hosts[i].role == ROLE_MASTER;
	for (size_t i = 0; i < r->n; i++) {
		bool keep = (i == 0 && !master) ||
			    (c->registry_host && strcmp(c->hosts[i].ip, c->registry_host) == 0);
		if (!r->hosts[i].failed && keep)
			log_info("%s stays in the saved definition, clean already: %s", c->hosts[i].ip,
				 i == 0 ? "master0 (a cluster has one)" : "the registry host");
		if (r->hosts[i].failed || keep)
			hosts[left.nhosts++] = c->hosts[i];
	}
	left.hosts = hosts;
	return cluster_state_save(home, &left, err);
}

/* Every host reached held nothing of the cluster. */
static bool nothing_found(const struct run *r)
{
	for (size_t i = 0; i < r->n; i++)
		if (!r->hosts[i].failed && !r->hosts[i].clean_absent)
			return false;
	return true;
}

int run_delete_forced_end(struct run *r, const char *home, size_t unreachable,
			  const char *left)
{
	struct errbuf e = ERRBUF_INIT;
	const char *name = r->c->name;

	/* only hosts that cannot be reached are left, and none of the others held anything:
	 * asking again cannot clean more. The definition goes, the hosts are named. */
	if (unreachable && unreachable == failed_hosts(r) && nothing_found(r)) {
		if (cluster_state_remove(home, name, &e) < 0) {
			log_error("%s", errbuf_msg(&e));
			return 1;
		}
		log_warning("never cleaned: %s (unreachable); whatever cluster %s put there is "
			    "still there", left, name);
		report_text("cluster %s: the saved definition is removed (--force, only unreachable "
			    "hosts were left); %s never cleaned", name, left);
		return 0;
	}
	if (save_left(r, home, &e) < 0) {
		log_error("%s; the saved definition is kept whole", errbuf_msg(&e));
		return 1;
	}
	report_text("cluster %s: still to clean on %s; the saved definition (%s/clusters/%s) now "
		    "lists only the hosts left (--force): run 'cirun delete --all --cluster-name %s' "
		    "again once %s", name, left, home, name, name, unreachable ?
		    "they are reachable, or with --force to forget those that stay unreachable" :
		    "the cause is removed");
	return unreachable == failed_hosts(r) ? 0 : 1;
}
