#include "cmd-run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "apply.h"
#include "buf.h"
#include "cleanup.h"
#include "cli.h"
#include "cluster-diff.h"
#include "cluster-state.h"
#include "cluster.h"
#include "clusterfile.h"
#include "cmd-replay.h"
#include "image-store.h"
#include "log.h"
#include "macro.h"
#include "run.h"
#include "ydoc.h"

#define RUN_OPTIONS_HELP                                                                       \
	"  --parallel N                hosts worked on at once (1-1000, default 32)\n"          \
	"  --timeout DUR               bound on a remote step such as init.sh (default 30m)\n"  \
	"  --connect-timeout DUR       bound on connecting and logging in (default 10s)\n"      \
	"  --skip-preflight=NAME,...   skip preflight checks: hostname, machine-id, clock,\n"   \
	"                              arch, systemd, disk, capabilities\n"                      \
	"  --insecure-ignore-host-key  do not check or record host keys\n"                      \
	"  --dry-run                   print the plan (hosts, roles, phases, layers, units,\n"   \
	"                              scripts) and stop; never connects to any host\n"          \
	"  --output text|json          json: events as JSON lines on stdout\n"                  \
	"  --force                     a file cirun did not install (in /usr/local/bin, /usr/bin,\n" \
	"                              units, drop-ins) is moved aside as NAME.cirun-backup\n" \
	"                              instead of failing the host; and a host's stale lock\n" \
	"                              (its run gone, or hung past its expiry) is broken (a\n"  \
	"                              live one never is)\n"                                    \
	"  --cmd-args K=V[,K=V]        values for the image's ARGs in its CMDs, over the image's\n" \
	"                              and the Clusterfile's spec.cmd_args (repeatable)\n"     \
	"  --ready-timeout DUR         bound on waiting for every node to be Ready after the\n" \
	"                              kubeadm joins (default 5m)\n"                            \
	"  -h, --help                  this text\n\n"                                           \
	"DUR: 90, 90s, 15m, 1h. Every flag and file is checked before the first connection\n"    \
	"(exit 2). Exit 1 when a host failed; the run log is in $CIRUN_HOME/logs/."

static const struct cli_usage run_usage = {
	"run",
	"IMAGE -m IPS [-n IPS] [-u USER] [-p PASSWD | --passwd-file FILE] [--pk FILE [--pk-passwd P]]\n"
	"       [--port N] [-e K=V]... [--cluster-name NAME] [--parallel N] [--timeout DUR]\n"
	"       [--connect-timeout DUR] [--skip-preflight=NAME,...] [--insecure-ignore-host-key]\n"
	"       [--dry-run] [--output text|json] [--force] [--cmd-args K=V[,K=V]]\n"
	"       [--ready-timeout DUR]",
	"Installs the cluster image IMAGE from the local store onto the hosts over SSH: the\n"
	"agent, a preflight of every host, the layers a host lacks, the rootfs, templates,\n"
	"bin/, the CRI, units, then scripts/init.sh, then the image's CMDs on master0.\n"
	"Also: cirun -m IPS -p PASSWD IMAGE.\n\n"
	"options:\n"
	"  -m, --masters IPS           master addresses (a,b, ranges a.b.c.1-9, ip:port);\n"
	"                              the first is master0\n"
	"  -n, --nodes IPS             node addresses, written the same way\n"
	"  -u, --user USER             SSH user (default root; others go through sudo)\n"
	"  -p, --passwd PASSWD         SSH password (CIRUN_SSH_PASSWORD keeps it out of ps)\n"
	"  --passwd-file FILE          read the SSH password from FILE\n"
	"  --pk FILE                   SSH private key\n"
	"  --pk-passwd P               the key's passphrase\n"
	"  --port N                    SSH port (default 22; ip:port sets one host's)\n"
	"  -e, --env K=V               env for templates and init.sh (repeatable)\n"
	"  --cluster-name NAME         default my-cluster\n"
	RUN_OPTIONS_HELP,
};

/* "90", "90s", "15m", "1h" → seconds */
static int parse_duration(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s) || v > 7 * 24 * 3600)
		return -EINVAL;
	if (*end == 'm')
		v *= 60, end++;
	else if (*end == 'h')
		v *= 3600, end++;
	else if (*end == 's')
		end++;
	if (*end || v == 0 || v > 7 * 24 * 3600)
		return -EINVAL;
	*ret = (unsigned)v;
	return 0;
}

/* Read into a fixed buffer, not a growing one: a realloc would leave copies behind. */
static int read_secret_file(const char *path, char **ret, struct errbuf *err)
{
	char tmp[4097];
	size_t len = 0;
	int r = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return errbuf_set(err, negative_errno(), "--passwd-file '%s': %m", path);
	while (len < sizeof(tmp)) {
		ssize_t n = read(fd, tmp + len, sizeof(tmp) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = errbuf_set(err, negative_errno(), "--passwd-file '%s': %m", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == sizeof(tmp)) {
		r = errbuf_set(err, -E2BIG, "--passwd-file '%s': longer than %zu bytes; it should "
			       "hold the password alone", path, sizeof(tmp) - 1);
		goto out;
	}
	while (len && (tmp[len - 1] == '\n' || tmp[len - 1] == '\r'))
		len--;
	if (len == 0) {
		r = errbuf_set(err, -EINVAL, "--passwd-file '%s' is empty", path);
		goto out;
	}
	*ret = xstrndup(tmp, len);
out:
	explicit_bzero(tmp, sizeof(tmp));
	return r;
}

static void set_secret(char **dst, const char *v)
{
	if (*dst)
		explicit_bzero(*dst, strlen(*dst));
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

/* Before any secret is read: no core dump and no ptrace attach (PR_SET_DUMPABLE 0 also
 * makes /proc/PID/mem and environ root's only) may show the passwords in our memory. */
static int protect_secrets(struct errbuf *err)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) < 0)
		return errbuf_set(err, negative_errno(), "cannot disable core dumps: %m");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return errbuf_set(err, negative_errno(), "cannot disable ptrace of cirun: %m");
	return 0;
}

/* CIRUN_SSH_PASSWORD leaves the environment at once, used or not, so no child process
 * gets it; its bytes are wiped where they were (the initial environment block is what
 * /proc/PID/environ shows). */
static char *take_env_password(void)
{
	char *v = getenv("CIRUN_SSH_PASSWORD");
	char *copy = v ? xstrdup(v) : NULL;

	if (v)
		explicit_bzero(v, strlen(v));
	unsetenv("CIRUN_SSH_PASSWORD");
	return copy;
}

/* An empty CIRUN_SSH_PASSWORD is a mistake (a variable left blank, a $(...) that failed),
 * not a password: refused before any connection. */
static int use_env_password(char **dst, char **env_password, const char *instead,
			    struct errbuf *err)
{
	if (!*env_password)
		return 0;
	if (!**env_password)
		return errbuf_set(err, -EINVAL, "CIRUN_SSH_PASSWORD is set but empty: give the "
				  "password there, or unset it and use %s", instead);
	*dst = TAKE_PTR(*env_password);
	return 0;
}

static int parse_output(const char *s, bool *json)
{
	if (strcmp(s, "json") == 0)
		*json = true;
	else if (strcmp(s, "text") == 0)
		*json = false;
	else
		return -EINVAL;
	return 0;
}

static void set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* Options both `run` and `apply` take (how to run, not what). */
enum {
	O_PARALLEL = 300,
	O_TIMEOUT,
	O_CONNECT_TIMEOUT,
	O_SKIP,
	O_INSECURE,
	O_DRY,
	O_OUTPUT,
	O_FORCE,
	O_CMD_ARGS,
	O_READY_TIMEOUT,
};
#define RUN_OPTIONS                                                                            \
	{ "parallel", required_argument, NULL, O_PARALLEL },                                   \
	{ "timeout", required_argument, NULL, O_TIMEOUT },                                     \
	{ "connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT },                     \
	{ "skip-preflight", required_argument, NULL, O_SKIP },                                 \
	{ "insecure-ignore-host-key", no_argument, NULL, O_INSECURE },                         \
	{ "dry-run", no_argument, NULL, O_DRY },                                               \
	{ "output", required_argument, NULL, O_OUTPUT },                                       \
	{ "force", no_argument, NULL, O_FORCE },                                               \
	{ "cmd-args", required_argument, NULL, O_CMD_ARGS },                                   \
	{ "ready-timeout", required_argument, NULL, O_READY_TIMEOUT }

/* 1 when opt was one of RUN_OPTIONS, 0 when not, <0 (with err) when its value is bad. */
static int run_option(int opt, const char *arg, struct run_opts *o, char **skip, struct errbuf *err)
{
	unsigned long v;
	char *end;

	switch (opt) {
	case O_PARALLEL:
		v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > 1000)
			return errbuf_set(err, -EINVAL, "--parallel '%s' must be 1-1000", arg);
		o->parallel = (unsigned)v;
		return 1;
	case O_TIMEOUT:
		if (parse_duration(arg, &o->timeout_s) < 0)
			return errbuf_set(err, -EINVAL, "--timeout '%s': use 90, 90s, 15m or 1h", arg);
		return 1;
	case O_CONNECT_TIMEOUT:
		if (parse_duration(arg, &o->connect_timeout_s) < 0)
			return errbuf_set(err, -EINVAL, "--connect-timeout '%s': use 10 or 10s", arg);
		return 1;
	case O_SKIP:
		if (run_skip_list_check(arg, err) < 0)
			return err->code;
		set_str(skip, arg);
		o->skip_preflight = *skip;
		return 1;
	case O_INSECURE:
		o->insecure_ignore_host_key = true;
		return 1;
	case O_DRY:
		o->dry_run = true;
		return 1;
	case O_FORCE:
		o->force = true;
		return 1;
	case O_OUTPUT:
		if (parse_output(arg, &o->json) < 0)
			return errbuf_set(err, -EINVAL, "--output '%s': text or json", arg);
		return 1;
	case O_READY_TIMEOUT:
		if (parse_duration(arg, &o->ready_timeout_s) < 0 || o->ready_timeout_s == 0)
			return errbuf_set(err, -EINVAL, "--ready-timeout '%s': use 90, 90s, 5m or 1h", arg);
		return 1;
	default:
		return 0;
	}
}

/* The image must be in the store before anything else happens; looking does not create
 * the store. */
static int check_image(const char *image, struct errbuf *err)
{
	struct image_store *st = NULL;
	struct image img = { 0 };
	int r = image_store_open_ro(NULL, &st, err);

	if (r == -ENOENT)
		errbuf_prefix(err, "no image '%s'", image);
	if (r >= 0)
		r = image_store_get(st, image, &img, err);
	image_release(&img);
	image_store_close(st);
	return r;
}

#define CLUSTERFILE_TEXT_MAX (4u << 20) /* as clusterfile.c reads it */

/* The image's default Clusterfile (its ClusterFile annotation), the template a run's
 * Clusterfile is laid over; NULL when it has none. An image missing from the store gives
 * NULL too: check_image() then says so, with the run's other local checks. */
static char *image_template(const char *image, char **ret_name)
{
	struct image_store *st = NULL;
	struct image img = { 0 };
	struct errbuf e = ERRBUF_INIT;
	char *tmpl = NULL;

	if (image_store_open_ro(NULL, &st, &e) >= 0 && image_store_get(st, image, &img, &e) >= 0 &&
	    img.meta.clusterfile) {
		tmpl = TAKE_PTR(img.meta.clusterfile);
		*ret_name = xasprintf("%s (annotation " ANNOTATION_CLUSTERFILE ")", image);
	}
	image_release(&img);
	image_store_close(st);
	return tmpl;
}

/* `cirun run`: the documents of the image's template the flags have no say in (Configs,
 * Plugins, kubeadm documents) join the cluster the flags describe. */
static int take_template_docs(struct cluster *c, struct errbuf *err)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_free_ char *tmpl = image_template(c->image, &name);
	struct cluster t = { 0 };

	if (!tmpl)
		return 0;
	if (clusterfile_parse_over(name, tmpl, strlen(tmpl), NULL, NULL, 0, &t, err) < 0)
		return -EINVAL;
	/* the flags give none of these: c has none to keep */
	c->configs = TAKE_PTR(t.configs);
	c->nconfigs = t.nconfigs;
	c->plugins = TAKE_PTR(t.plugins);
	c->nplugins = t.nplugins;
	c->kubeadm = TAKE_PTR(t.kubeadm);
	c->nkubeadm = t.nkubeadm;
	t.nconfigs = t.nplugins = t.nkubeadm = 0;
	cluster_release(&t);
	return 0;
}

/* The image a Clusterfile's Cluster document names (spec.image, in v1 and v2 alike), read
 * quietly: the file is parsed for real, with its notices and errors, over the template. */
static char *clusterfile_image(const char *file, const struct buf *text)
{
	_cleanup_(ydoc_freep) struct ydoc *d = NULL;
	struct errbuf e = ERRBUF_INIT;

	if (ydoc_parse(file, text->data, text->len, NULL, &d, &e) < 0)
		return NULL;
	for (size_t i = 0; i < ydoc_count(d); i++) {
		const struct ynode *doc = ydoc_root(d, i);
		const char *kind = ynode_str(ynode_map_get(doc, "kind"));
		const char *image = ynode_str(ynode_get(doc, "spec.image"));
		if (kind && strcmp(kind, "Cluster") == 0)
			return image && *image ? xstrdup(image) : NULL;
	}
	return NULL;
}

/* `cirun apply`: the user's Clusterfile over its image's template, when there is one. */
static int load_clusterfile(const char *file, struct cluster *c, struct errbuf *err)
{
	_cleanup_buf_ struct buf b = BUF_INIT(CLUSTERFILE_TEXT_MAX);
	_cleanup_free_ char *image = NULL, *name = NULL, *tmpl = NULL;
	int r = buf_read_file(&b, file);

	if (r < 0)
		return errbuf_set(err, r, "cannot read the Clusterfile '%s': %s", file, strerror(-r));
	image = clusterfile_image(file, &b);
	if (image)
		tmpl = image_template(image, &name);
	r = clusterfile_parse_over(name, tmpl, tmpl ? strlen(tmpl) : 0, file, b.data, b.len, c, err);
	/* it may hold SSH passwords: wiped, as clusterfile_load() does */
	if (b.data)
		explicit_bzero(b.data, b.len);
	return r;
}

/* What is left to check locally (key files, the image), then the store: 0 with *ret_st
 * open, else the exit code (logged). */
static int open_for_run(const struct cluster *c, struct image_store **ret_st)
{
	struct errbuf err = ERRBUF_INIT;

	if (cluster_check_files(c, &err) < 0 || check_image(c->image, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return 2;
	}
	if (image_store_open(NULL, ret_st, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return 1;
	}
	return 0;
}

/* The common end of run and apply: the local checks and the store, the run, the exit
 * code. */
static int run_cluster(struct cluster *c, const struct run_opts *o)
{
	struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r = open_for_run(c, &st);

	if (r != 0)
		return r;
	r = cluster_run(st, c, o, &err);
	if (r < 0) {
		log_error("%s", errbuf_msg(&err));
		r = 1;
	}
	image_store_close(st);
	return r;
}

int run_reconcile(const struct cluster *saved, struct cluster *want, bool allow_master0,
		  const struct run_opts *o)
{
	struct image_store *st = NULL;
	int r = open_for_run(want, &st);

	if (r != 0)
		return r;
	r = cluster_apply(st, saved, want, allow_master0, o);
	image_store_close(st);
	return r;
}

/* apply: a cluster whose definition is saved is reconciled against it; -ENOENT none. */
static int apply_saved(struct cluster *c, bool allow_master0, const struct run_opts *o,
		       struct errbuf *err)
{
	struct cluster saved = { 0 };
	const char *home;
	int r = cluster_state_home(&home, err);

	if (r >= 0)
		r = cluster_state_load(home, c->name, &saved, err);
	if (r == -ENOENT) {
		errbuf_clear(err);
		return r;
	}
	if (r < 0)
		return CLI_EXIT_USAGE;
	r = run_reconcile(&saved, c, allow_master0, o);
	cluster_release(&saved);
	return r;
}

/* `run` of a saved cluster: the same hosts (resumed, the journal skipping what is done) or
 * more (joined); never fewer. A run is typed again by hand, and a host left out of it by
 * a slip must not be drained and reset: removing hosts is apply's or delete's, which
 * print the plan first. */
static int check_run_keeps_hosts(struct cluster *c, struct errbuf *err)
{
	struct cluster saved = { 0 };
	struct cluster_diff d;
	const char *home;
	int r = cluster_state_home(&home, err);

	if (r >= 0)
		r = cluster_state_load(home, c->name, &saved, err);
	if (r == -ENOENT) {
		errbuf_clear(err);
		return 0;
	}
	bool diffed = false;
	if (r >= 0)
		/* allowed here: a master0 left out is then named with the others below */
		diffed = (r = cluster_diff(&saved, c, true, &d, err)) >= 0;
	if (diffed && d.nremoved) {
		char list[512] = "";
		for (size_t i = 0; i < d.nremoved; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? ", " : "", d.removed[i]->ip);
		r = errbuf_set(err, -EINVAL, "cluster %s is installed on hosts this run leaves out "
			       "(%s): a run never removes hosts; remove them with 'cirun delete -m/-n "
			       "IPS' (or 'cirun apply -f' with the new hosts), or give this cluster "
			       "another --cluster-name", c->name, list);
	}
	if (diffed)
		cluster_diff_release(&d);
	if (r < 0)
		errbuf_prefix(err, "cirun run");
	cluster_release(&saved);
	return r;
}

int cmd_run(int argc, char **argv)
{
	enum { O_PASSWD_FILE = 256, O_PK, O_PK_PASSWD, O_PORT, O_NAME };
	static const struct option opts[] = {
		{ "masters", required_argument, NULL, 'm' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "passwd", required_argument, NULL, 'p' },
		{ "passwd-file", required_argument, NULL, O_PASSWD_FILE },
		{ "pk", required_argument, NULL, O_PK },
		{ "pk-passwd", required_argument, NULL, O_PK_PASSWD },
		{ "port", required_argument, NULL, O_PORT },
		{ "env", required_argument, NULL, 'e' },
		{ "cluster-name", required_argument, NULL, O_NAME },
		RUN_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *masters = NULL, *nodes = NULL, *skip = NULL;
	char *env_password = NULL;
	struct cluster c = { 0 };
	struct run_opts o = { .command = "run" };
	struct errbuf err = ERRBUF_INIT;
	int opt, r = 2;

	if (protect_secrets(&err) < 0)
		goto fail;
	env_password = take_env_password();
	optind = 0; /* 0: getopt starts afresh (help VERB calls a verb again) */
	while ((opt = getopt_long(argc, argv, "m:n:u:p:e:h", opts, NULL)) != -1) {
		unsigned long v;
		char *end;
		int handled = run_option(opt, optarg, &o, &skip, &err);
		if (handled < 0)
			goto fail;
		if (handled)
			continue;
		switch (opt) {
		case 'm':
			set_str(&masters, optarg);
			break;
		case 'n':
			set_str(&nodes, optarg);
			break;
		case 'u':
			if (!*optarg || optarg[strcspn(optarg, " \t\n\r:/")]) {
				errbuf_set(&err, -EINVAL, "-u '%s' is not a user name", optarg);
				goto fail;
			}
			set_str(&c.ssh.user, optarg);
			break;
		case 'p':
			if (!*optarg) {
				errbuf_set(&err, -EINVAL, "-p: the SSH password is empty; give it, or "
					   "use --passwd-file, CIRUN_SSH_PASSWORD or --pk");
				goto fail;
			}
			set_secret(&c.ssh.password, optarg);
			/* keep it out of ps as far as we can: overwrite our argv copy */
			explicit_bzero(optarg, strlen(optarg));
			break;
		case O_PASSWD_FILE:
			set_secret(&c.ssh.password, NULL);
			if (read_secret_file(optarg, &c.ssh.password, &err) < 0)
				goto fail;
			break;
		case O_PK:
			set_str(&c.ssh.pk_file, optarg);
			break;
		case O_PK_PASSWD:
			set_secret(&c.ssh.pk_passphrase, optarg);
			explicit_bzero(optarg, strlen(optarg));
			break;
		case O_PORT:
			v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 65535) {
				errbuf_set(&err, -EINVAL, "--port '%s' must be 1-65535", optarg);
				goto fail;
			}
			c.ssh.port = (unsigned)v;
			break;
		case 'e': {
			struct kv item;
			if (parse_env_item(optarg, &item, &err) < 0) {
				errbuf_prefix(&err, "-e");
				goto fail;
			}
			c.env = xreallocarray(c.env, c.nenv + 1, sizeof(*c.env));
			c.env[c.nenv++] = item;
			break;
		}
		case O_NAME:
			set_str(&c.name, optarg);
			break;
		case O_CMD_ARGS:
			if (cmd_args_parse(optarg, &c.cmd_args, &c.ncmd_args, &err) < 0)
				goto fail;
			break;
		case 'h':
			r = cli_help(&run_usage);
			goto out;
		default:
			r = cli_usage_error(&run_usage);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		r = cli_usage_error(&run_usage);
		goto out;
	}
	if (c.ssh.pk_passphrase && !c.ssh.pk_file) {
		errbuf_set(&err, -EINVAL, "--pk-passwd is the passphrase of a key: give the key with --pk");
		goto fail;
	}
	c.image = xstrdup(argv[optind]);
	if (!c.ssh.password &&
	    use_env_password(&c.ssh.password, &env_password, "-p, --passwd-file or --pk", &err) < 0)
		goto fail;
	if (!masters) {
		errbuf_set(&err, -EINVAL, "-m: give the master addresses");
		goto fail;
	}
	if (take_template_docs(&c, &err) < 0)
		goto fail;
	if (cluster_add_hosts(&c, masters, ROLE_MASTER, "-m", &err) < 0 ||
	    (nodes && cluster_add_hosts(&c, nodes, ROLE_NODE, "-n", &err) < 0) ||
	    cluster_finish(&c, &err) < 0 || check_run_keeps_hosts(&c, &err) < 0)
		goto fail;
	r = run_cluster(&c, &o);
	goto out;
fail:
	log_error("%s", errbuf_msg(&err));
	r = 2;
out:
	set_secret(&env_password, NULL);
	cluster_release(&c);
	return r;
}

static const struct cli_usage apply_usage = {
	"apply",
	"-f Clusterfile [--parallel N] [--timeout DUR] [--connect-timeout DUR]\n"
	"       [--skip-preflight=NAME,...] [--insecure-ignore-host-key] [--dry-run] [--output text|json]\n"
	"       [--force] [--cmd-args K=V[,K=V]]",
	"Installs what a Clusterfile's 'kind: Cluster' document (sealer.cloud/v2) describes:\n"
	"its image, its hosts with roles, SSH settings and env per host over the global ones.\n\n"
	"options:\n"
	"  -f, --file FILE             the Clusterfile (also --Clusterfile)\n"
	"  --allow-master0-removal     the Clusterfile may leave out master0 of a saved cluster\n"
	"                              while other masters stay (the next one takes its place)\n"
	RUN_OPTIONS_HELP "\n\n"
	"A cluster whose definition is saved ($CIRUN_HOME/clusters/NAME, by its last run or\n"
	"apply) is reconciled against that definition, never against a kubeconfig: the plan\n"
	"(hosts added and removed, inputs changed) is printed; new hosts are prepared and\n"
	"joined, then removed hosts are drained, deleted from Kubernetes, reset and cleaned.\n"
	"--force: a removed host that cannot be reached is skipped and kept to clean.",
};

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "Clusterfile", required_argument, NULL, 'f' }, /* sealer's spelling */
		RUN_OPTIONS,
		{ "allow-master0-removal", no_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *file = NULL, *skip = NULL;
	char *env_password = NULL;
	struct kv *cmd_args = NULL;
	size_t ncmd_args = 0;
	struct cluster c = { 0 };
	struct run_opts o = { .command = "apply" };
	struct errbuf err = ERRBUF_INIT;
	bool allow_master0 = false;
	int opt, r = 2;

	if (protect_secrets(&err) < 0)
		goto fail;
	env_password = take_env_password();
	optind = 0; /* 0: getopt starts afresh (help VERB calls a verb again) */
	while ((opt = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		int handled = run_option(opt, optarg, &o, &skip, &err);
		if (handled < 0)
			goto fail;
		if (handled)
			continue;
		if (opt == 'f') {
			set_str(&file, optarg);
		} else if (opt == 'M') {
			allow_master0 = true;
		} else if (opt == O_CMD_ARGS) {
			if (cmd_args_parse(optarg, &cmd_args, &ncmd_args, &err) < 0)
				goto fail;
		} else if (opt == 'h') {
			r = cli_help(&apply_usage);
			goto out;
		} else {
			r = cli_usage_error(&apply_usage);
			goto out;
		}
	}
	if (!file || optind != argc) {
		r = cli_usage_error(&apply_usage);
		goto out;
	}
	if (load_clusterfile(file, &c, &err) < 0)
		goto fail;
	for (size_t i = 0; i < ncmd_args; i++) /* the flag over spec.cmd_args */
		cmd_args_set(&c.cmd_args, &c.ncmd_args, cmd_args[i].key, cmd_args[i].value);
	if (!c.ssh.password && !c.ssh.pk_file &&
	    use_env_password(&c.ssh.password, &env_password, "ssh.passwd or ssh.pk in the "
			     "Clusterfile", &err) < 0)
		goto fail;
	if (cluster_finish(&c, &err) < 0) {
		errbuf_prefix(&err, "%s", file);
		goto fail;
	}
	r = apply_saved(&c, allow_master0, &o, &err);
	if (r == CLI_EXIT_USAGE && err.code < 0)
		goto fail;
	if (r == -ENOENT)
		r = run_cluster(&c, &o);
	goto out;
fail:
	log_error("%s", errbuf_msg(&err));
	r = 2;
out:
	set_secret(&env_password, NULL);
	for (size_t i = 0; i < ncmd_args; i++) {
		free(cmd_args[i].key);
		free(cmd_args[i].value);
	}
	free(cmd_args);
	cluster_release(&c);
	return r;
}

static const struct cli_usage join_usage = {
	"join",
	"-m IPS | -n IPS [-u USER] [-p PASSWD | --passwd-file FILE] [--pk FILE [--pk-passwd P]]\n"
	"       [--port N] [-e K=V]... [--cluster-name NAME] [--parallel N] [--timeout DUR]\n"
	"       [--connect-timeout DUR] [--insecure-ignore-host-key] [--dry-run]\n"
	"       [--output text|json] [--force] [--ready-timeout DUR]",
	"Adds hosts to a saved cluster (NAME, default the only one saved): its saved definition\n"
	"gets them, with the SSH settings and env given here as their own, and is then applied\n"
	"as 'cirun apply' applies it: the new hosts are prepared and joined, masters one at a\n"
	"time; what is done already on the others is skipped. A host already in the cluster is\n"
	"refused.\n\n"
	"options:\n"
	"  -m, --masters IPS           masters to add (a,b, ranges a.b.c.1-9, ip:port)\n"
	"  -n, --nodes IPS             nodes to add\n"
	"  -u, --user USER             their SSH user (default: the cluster's)\n"
	"  -p, --passwd PASSWD         their SSH password (default: the cluster's)\n"
	"  --passwd-file FILE          read it from FILE\n"
	"  --pk FILE                   their SSH private key\n"
	"  --pk-passwd P               the key's passphrase\n"
	"  --port N                    their SSH port\n"
	"  -e, --env K=V               their own env (repeatable)\n"
	"  --cluster-name NAME         the saved cluster (default: the only one saved)\n"
	RUN_OPTIONS_HELP,
};

/* What join's flags give: the hosts, their own ssh settings and env, the cluster. */
struct join_flags {
	struct ssh_settings ssh;
	struct kv *env;
	size_t nenv;
	char *masters, *nodes, *name;
};

static int join_option(int opt, const char *arg, struct join_flags *f, struct errbuf *err)
{
	unsigned long v;
	char *end;
	struct kv item;

	switch (opt) {
	case 'm':
		set_str(&f->masters, arg);
		return 0;
	case 'n':
		set_str(&f->nodes, arg);
		return 0;
	case 'u':
		if (!*arg || arg[strcspn(arg, " \t\n\r:/")])
			return errbuf_set(err, -EINVAL, "-u '%s' is not a user name", arg);
		set_str(&f->ssh.user, arg);
		return 0;
	case 'p':
		if (!*arg)
			return errbuf_set(err, -EINVAL, "-p: the SSH password is empty");
		set_secret(&f->ssh.password, arg);
		explicit_bzero((char *)arg, strlen(arg));
		return 0;
	case 'P':
		set_secret(&f->ssh.password, NULL);
		return read_secret_file(arg, &f->ssh.password, err);
	case 'k':
		set_str(&f->ssh.pk_file, arg);
		return 0;
	case 'K':
		set_secret(&f->ssh.pk_passphrase, arg);
		explicit_bzero((char *)arg, strlen(arg));
		return 0;
	case 'O':
		v = strtoul(arg, &end, 10);
		if (*end || v < 1 || v > 65535)
			return errbuf_set(err, -EINVAL, "--port '%s' must be 1-65535", arg);
		f->ssh.port = (unsigned)v;
		return 0;
	case 'e':
		if (parse_env_item(arg, &item, err) < 0)
			return errbuf_prefix(err, "-e");
		f->env = xreallocarray(f->env, f->nenv + 1, sizeof(*f->env));
		f->env[f->nenv++] = item;
		return 0;
	case 'N':
		set_str(&f->name, arg);
		return 0;
	default:
		return -ENOTSUP;
	}
}

static bool ssh_given(const struct ssh_settings *s)
{
	return s->user || s->password || s->pk_file || s->pk_passphrase || s->port;
}

/* The saved cluster with the hosts added, then applied. */
static int join_saved(struct join_flags *f, const struct run_opts *o, struct errbuf *err)
{
	_cleanup_free_ char *picked = NULL;
	struct cluster saved = { 0 }, want = { 0 };
	const struct ssh_settings *ssh = ssh_given(&f->ssh) ? &f->ssh : NULL;
	const char *home;
	int r = cluster_state_home(&home, err);

	if (r >= 0)
		r = cluster_state_pick(home, f->name, &picked, err);
	if (r >= 0)
		r = cluster_state_load(home, picked, &saved, err);
	if (r >= 0)
		r = cluster_state_load(home, picked, &want, err);
	if (r >= 0 && f->masters)
		r = cluster_join_hosts(&want, f->masters, ROLE_MASTER, ssh, f->env, f->nenv, err);
	if (r >= 0 && f->nodes)
		r = cluster_join_hosts(&want, f->nodes, ROLE_NODE, ssh, f->env, f->nenv, err);
	if (r >= 0)
		r = cluster_finish(&want, err);
	if (r >= 0)
		r = run_reconcile(&saved, &want, false, o);
	else
		r = -CLI_EXIT_USAGE;
	cluster_release(&saved);
	cluster_release(&want);
	return r;
}

int cmd_join(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "masters", required_argument, NULL, 'm' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "passwd", required_argument, NULL, 'p' },
		{ "passwd-file", required_argument, NULL, 'P' },
		{ "pk", required_argument, NULL, 'k' },
		{ "pk-passwd", required_argument, NULL, 'K' },
		{ "port", required_argument, NULL, 'O' },
		{ "env", required_argument, NULL, 'e' },
		{ "cluster-name", required_argument, NULL, 'N' },
		RUN_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *skip = NULL;
	struct join_flags f = { 0 };
	struct run_opts o = { .command = "join" };
	struct errbuf err = ERRBUF_INIT;
	int opt, r = 2;

	if (protect_secrets(&err) < 0)
		goto fail;
	optind = 0;
	while ((opt = getopt_long(argc, argv, "m:n:u:p:e:h", opts, NULL)) != -1) {
		int handled = run_option(opt, optarg, &o, &skip, &err);
		if (handled < 0)
			goto fail;
		if (handled)
			continue;
		if (opt == 'h') {
			r = cli_help(&join_usage);
			goto out;
		}
		if (opt == O_CMD_ARGS || (r = join_option(opt, optarg, &f, &err)) == -ENOTSUP) {
			r = cli_usage_error(&join_usage);
			goto out;
		}
		if (r < 0)
			goto fail;
	}
	if (optind != argc || (!f.masters && !f.nodes)) {
		r = cli_usage_error(&join_usage);
		goto out;
	}
	if (f.ssh.pk_passphrase && !f.ssh.pk_file) {
		errbuf_set(&err, -EINVAL, "--pk-passwd is the passphrase of a key: give the key with --pk");
		goto fail;
	}
	r = join_saved(&f, &o, &err);
	if (r == -CLI_EXIT_USAGE)
		goto fail;
	goto out;
fail:
	log_error("%s", errbuf_msg(&err));
	r = 2;
out:
	set_secret(&f.ssh.password, NULL);
	set_secret(&f.ssh.pk_passphrase, NULL);
	free(f.ssh.user);
	free(f.ssh.pk_file);
	for (size_t i = 0; i < f.nenv; i++) {
		free(f.env[i].key);
		free(f.env[i].value);
	}
	free(f.env);
	free(f.masters);
	free(f.nodes);
	free(f.name);
	return r;
}
