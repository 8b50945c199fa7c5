/* The verbs on saved clusters: `cirun clusters`, `cirun delete --all`. */
#include "cmd-cluster.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "buf.h"
#include "cleanup.h"
#include "cli.h"
#include "cluster-diff.h"
#include "cluster-state.h"
#include "cmd-run.h"
#include "delete.h"
#include "ip-list.h"
#include "json-writer.h"
#include "log.h"
#include "status.h"
#include "macro.h"

/* The saved definitions hold SSH passwords: no core dump, no ptrace (as cmd-run.c). */
static int protect_secrets(struct errbuf *err)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return errbuf_set(err, negative_errno(), "cannot disable core dumps: %m");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return errbuf_set(err, negative_errno(), "cannot disable ptrace of cirun: %m");
	return 0;
}

static int parse_output(const char *s, bool *json, struct errbuf *err)
{
	if (strcmp(s, "json") == 0 || strcmp(s, "text") == 0) {
		*json = s[0] == 'j';
		return 0;
	}
	return errbuf_set(err, -EINVAL, "--output '%s': text or json", s);
}

/* ---- clusters ---- */

static const struct cli_usage clusters_usage = {
	"clusters",
	"[--output text|json]",
	"Lists the clusters saved in $CIRUN_HOME/clusters (each run and apply saves its\n"
	"cluster's definition there before touching a host): name, image, masters, nodes.\n\n"
	"options:\n"
	"  --output text|json          json: one array of {name, image, masters, nodes}\n",
};

static void ips_of(const struct cluster *c, enum host_role role, struct buf *text,
		   struct jsonw *w)
{
	if (w)
		jsonw_array_begin(w);
	for (size_t i = 0; i < c->nhosts; i++) {
		if (c->hosts[i].role != role)
			continue;
		if (w)
			jsonw_string(w, c->hosts[i].ip);
		else
			buf_printf(text, "%s%s", text->len ? "," : "", c->hosts[i].ip);
	}
	if (w)
		jsonw_array_end(w);
}

static void list_one(const char *home, const char *name, bool json, struct jsonw *w)
{
	_cleanup_buf_ struct buf m = BUF_INIT(64 << 10), n = BUF_INIT(64 << 10);
	struct errbuf e = ERRBUF_INIT;
	struct cluster c = { 0 };
	int r = cluster_state_load(home, name, &c, &e);

	if (json) {
		jsonw_object_begin(w);
		jsonw_key(w, "name");
		jsonw_string(w, name);
		if (r < 0) {
			jsonw_key(w, "error");
			jsonw_string(w, errbuf_msg(&e));
		} else {
			jsonw_key(w, "image");
			jsonw_string(w, c.image);
			jsonw_key(w, "masters");
			ips_of(&c, ROLE_MASTER, NULL, w);
			jsonw_key(w, "nodes");
			ips_of(&c, ROLE_NODE, NULL, w);
		}
		jsonw_object_end(w);
	} else if (r < 0) {
		printf("%-24s (cannot be read: %s)\n", name, errbuf_msg(&e));
	} else {
		ips_of(&c, ROLE_MASTER, &m, NULL);
		ips_of(&c, ROLE_NODE, &n, NULL);
		printf("%-24s %-40s %-32s %s\n", name, c.image, m.data, n.len ? n.data : "-");
	}
	cluster_release(&c);
}

int cmd_clusters(int argc, char **argv)
{
	enum { O_OUTPUT = 256 };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_buf_ struct buf out = BUF_INIT(16u << 20);
	struct errbuf err = ERRBUF_INIT;
	struct jsonw w;
	const char *home;
	bool json = false;
	char **names = NULL;
	size_t n = 0;
	int opt;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return cli_help(&clusters_usage);
		if (opt != O_OUTPUT)
			return cli_usage_error(&clusters_usage);
		if (parse_output(optarg, &json, &err) < 0)
			goto fail;
	}
	if (optind != argc)
		return cli_usage_error(&clusters_usage);
	if (protect_secrets(&err) < 0 || cluster_state_home(&home, &err) < 0 ||
	    cluster_state_list(home, &names, &n, &err) < 0)
		goto fail;
	if (json) {
		jsonw_init(&w, &out);
		jsonw_array_begin(&w);
	} else {
		printf("%-24s %-40s %-32s %s\n", "NAME", "IMAGE", "MASTERS", "NODES");
	}
	for (size_t i = 0; i < n; i++)
		list_one(home, names[i], json, &w);
	if (json) {
		jsonw_array_end(&w);
		if (jsonw_finish(&w) < 0) {
			errbuf_set(&err, -E2BIG, "the list of clusters is too long for JSON output");
			cluster_state_list_free(names, n);
			goto fail;
		}
		printf("%s\n", out.data);
	}
	cluster_state_list_free(names, n);
	return 0;
fail:
	log_error("%s", errbuf_msg(&err));
	return CLI_EXIT_USAGE;
}

/* ---- delete ---- */

static const struct cli_usage delete_usage = {
	"delete",
	"--all | -m IPS | -n IPS [--force] [--cluster-name NAME] [--allow-master0-removal]\n"
	"       [--parallel N] [--insecure-ignore-host-key] [--dry-run] [--output text|json]",
	"Takes a saved cluster off its hosts: the PreClean plugins; on each host (nodes first,\n"
	"then the masters, master0 last) kubeadm reset -f, the rootfs's scripts/clean.sh, the\n"
	"units, links, files and containerd mirrors its runs installed (their install record),\n"
	"the /etc/hosts block and /var/lib/cirun/data/NAME; the PostClean plugins; then the\n"
	"saved definition in $CIRUN_HOME/clusters/NAME. Works after a failed or partial install.\n"
	"A host that cannot be reached fails the delete, naming it, before anything changes.\n"
	"With -m/-n, those hosts leave the saved definition, which is then applied as 'cirun\n"
	"apply' applies it: each is drained and deleted from Kubernetes on master0, then reset\n"
	"and cleaned as above.\n\n"
	"options:\n"
	"  --all                       the whole cluster\n"
	"  -m, --masters IPS           masters to remove (never the last; master0 only with\n"
	"                              --allow-master0-removal)\n"
	"  -n, --nodes IPS             nodes to remove\n"
	"  --allow-master0-removal     master0 may go (the next master takes its place)\n"
	"  --force                     clean the hosts that can be reached and report the\n"
	"                              others as skipped; the saved definition then lists\n"
	"                              only the hosts left, and is removed (naming them) when\n"
	"                              only unreachable ones are left (-m/-n: the skipped\n"
	"                              ones stay to clean)\n"
	"  --dry-run                   -m/-n: print the plan and stop\n"
	"  --cluster-name NAME         the saved cluster (default: the only one saved)\n"
	"  --parallel N                hosts worked on at once (1-1000, default 32)\n"
	"  --insecure-ignore-host-key  do not check or record host keys\n"
	"  --output text|json          json: events as JSON lines on stdout\n",
};

/* The hosts of spec (one role) out of want, but those an earlier apply or delete already
 * took out and left to clean (in rec): a delete that failed is run again as it was typed. */
static int remove_listed(struct cluster *want, const struct cluster *rec, const char *spec,
			 enum host_role role, bool allow_master0, struct errbuf *err)
{
	char **ips = NULL;
	size_t n = 0;
	int r = parse_ip_list(spec, &ips, &n, err);

	if (r < 0)
		return errbuf_prefix(err, "%s", role == ROLE_MASTER ? "-m" : "-n");
	for (size_t k = 0; k < n; k++) {
		const struct cluster_host *h = cluster_to_clean_find(rec, ips[k]);
		bool left = h && h->role == role;
		if (r >= 0 && !left)
			r = cluster_remove_hosts(want, ips[k], role, allow_master0, err);
		free(ips[k]);
	}
	free(ips);
	return r;
}

/* delete -m/-n: the saved definition without those hosts, applied. */
static int delete_some(const char *home, const char *name, const char *masters,
		       const char *nodes, bool allow_master0, const struct run_opts *o,
		       struct errbuf *err)
{
	struct cluster saved = { 0 }, want = { 0 }, rec = { 0 };
	int r = cluster_state_load(home, name, &saved, err);

	if (r >= 0)
		r = cluster_state_load(home, name, &want, err);
	if (r >= 0)
		r = cluster_state_load_to_clean(home, name, &rec, err);
	if (r >= 0 && masters)
		r = remove_listed(&want, &rec, masters, ROLE_MASTER, allow_master0, err);
	if (r >= 0 && nodes)
		r = remove_listed(&want, &rec, nodes, ROLE_NODE, allow_master0, err);
	if (r >= 0)
		r = cluster_finish(&want, err);
	r = r >= 0 ? run_reconcile(&saved, &want, allow_master0, o) : -CLI_EXIT_USAGE;
	cluster_release(&saved);
	cluster_release(&want);
	cluster_release(&rec);
	return r;
}

/* delete --all: the hosts an apply left to clean are the cluster's too (each once: an
 * apply stopped between recording a host and saving the definition without it leaves it
 * in both). */
static int add_to_clean(const char *home, struct cluster *c, struct errbuf *err)
{
	struct cluster rec = { 0 };
	int r = cluster_state_load_to_clean(home, c->name, &rec, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < c->nhosts; i++)
		cluster_to_clean_done(&rec, c->hosts[i].ip);
	if (rec.nhosts) {
		c->hosts = xreallocarray(c->hosts, c->nhosts + rec.nhosts, sizeof(*c->hosts));
		memcpy(c->hosts + c->nhosts, rec.hosts, rec.nhosts * sizeof(*rec.hosts));
		c->nhosts += rec.nhosts;
		free(rec.hosts);
		rec.hosts = NULL;
		rec.nhosts = 0;
	}
	cluster_release(&rec);
	return 0;
}

int cmd_delete(int argc, char **argv)
{
	enum { O_ALL = 256, O_FORCE, O_NAME, O_PARALLEL, O_INSECURE, O_OUTPUT, O_MASTER0, O_DRY };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, O_ALL },
		{ "force", no_argument, NULL, O_FORCE },
		{ "cluster-name", required_argument, NULL, O_NAME },
		{ "parallel", required_argument, NULL, O_PARALLEL },
		{ "insecure-ignore-host-key", no_argument, NULL, O_INSECURE },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "masters", required_argument, NULL, 'm' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "allow-master0-removal", no_argument, NULL, O_MASTER0 },
		{ "dry-run", no_argument, NULL, O_DRY },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *name = NULL, *picked = NULL, *masters = NULL, *nodes = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct run_opts o = { .command = "delete" };
	struct cluster c = { 0 };
	const char *home;
	bool all = false, allow_master0 = false;
	unsigned long v;
	char *end;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case O_ALL:
			all = true;
			break;
		case O_FORCE:
			o.force = true;
			break;
		case O_NAME:
			free(name);
			name = xstrdup(optarg);
			break;
		case O_PARALLEL:
			v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 1000) {
				errbuf_set(&err, -EINVAL, "--parallel '%s' must be 1-1000", optarg);
				goto fail;
			}
			o.parallel = (unsigned)v;
			break;
		case O_INSECURE:
			o.insecure_ignore_host_key = true;
			break;
		case O_OUTPUT:
			if (parse_output(optarg, &o.json, &err) < 0)
				goto fail;
			break;
		case O_MASTER0:
			allow_master0 = true;
			break;
		case O_DRY:
			o.dry_run = true;
			break;
		case 'm':
			free(masters);
			masters = xstrdup(optarg);
			break;
		case 'n':
			free(nodes);
			nodes = xstrdup(optarg);
			break;
		case 'h':
			return cli_help(&delete_usage);
		default:
			return cli_usage_error(&delete_usage);
		}
	}
	if (optind != argc || all == (masters || nodes))
		return cli_usage_error(&delete_usage);
	if (all && (o.dry_run || allow_master0)) {
		errbuf_set(&err, -EINVAL, "--dry-run and --allow-master0-removal go with -m/-n, not "
			   "--all");
		goto fail;
	}
	if (protect_secrets(&err) < 0 || cluster_state_home(&home, &err) < 0 ||
	    cluster_state_pick(home, name, &picked, &err) < 0)
		goto fail;
	if (!all) {
		r = delete_some(home, picked, masters, nodes, allow_master0, &o, &err);
		if (r == -CLI_EXIT_USAGE)
			goto fail;
		return r;
	}
	if (cluster_state_load(home, picked, &c, &err) < 0 || add_to_clean(home, &c, &err) < 0)
		goto fail;
	r = cluster_delete(home, &c, &o, &err);
	cluster_release(&c);
	return r;
fail:
	log_error("%s", errbuf_msg(&err));
	cluster_release(&c);
	return CLI_EXIT_USAGE;
}

/* ---- status ---- */

static const struct cli_usage status_usage = {
	"status",
	"[NAME] [--insecure-ignore-host-key] [--output text|json]",
	"Shows each host of a saved cluster (NAME, default the only one saved) as it is now:\n"
	"its role, whether it can be reached, the states of containerd and kubelet, the image id\n"
	"and the last step its journal recorded (/var/lib/cirun/data/NAME/journal). Exit 1 when\n"
	"a host cannot be reached.\n\n"
	"options:\n"
	"  --insecure-ignore-host-key  do not check or record host keys\n"
	"  --output text|json          json: the run's events as JSON lines, the status last\n",
};

int cmd_status(int argc, char **argv)
{
	enum { O_INSECURE = 256, O_OUTPUT };
	static const struct option opts[] = {
		{ "insecure-ignore-host-key", no_argument, NULL, O_INSECURE },
		{ "output", required_argument, NULL, O_OUTPUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *picked = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct run_opts o = { .command = "status" };
	struct cluster c = { 0 };
	const char *home;
	int opt, r;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h')
			return cli_help(&status_usage);
		if (opt == O_INSECURE)
			o.insecure_ignore_host_key = true;
		else if (opt != O_OUTPUT)
			return cli_usage_error(&status_usage);
		else if (parse_output(optarg, &o.json, &err) < 0)
			goto fail;
	}
	if (optind + 1 < argc)
		return cli_usage_error(&status_usage);
	if (protect_secrets(&err) < 0 || cluster_state_home(&home, &err) < 0 ||
	    cluster_state_pick(home, optind < argc ? argv[optind] : NULL, &picked, &err) < 0 ||
	    cluster_state_load(home, picked, &c, &err) < 0)
		goto fail;
	r = cluster_status(home, &c, &o, &err);
	cluster_release(&c);
	return r;
fail:
	log_error("%s", errbuf_msg(&err));
	cluster_release(&c);
	return CLI_EXIT_USAGE;
}
