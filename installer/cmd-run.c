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

#include "buf.h"
#include "cleanup.h"
#include "cluster.h"
#include "clusterfile.h"
#include "image-store.h"
#include "log.h"
#include "macro.h"
#include "run.h"

static const char usage_text[] =
	"IMAGE -m IPS [-n IPS] [-u USER] [-p PASSWD | --passwd-file FILE] [--pk FILE [--pk-passwd P]]\n"
	"       [--port N] [-e K=V]... [--cluster-name NAME] [--parallel N] [--timeout DUR]\n"
	"       [--connect-timeout DUR] [--skip-preflight=NAME,...] [--insecure-ignore-host-key] [--dry-run]\n"
	"       [--output text|json]\n"
	"IPS: comma lists, ranges a.b.c.1-a.b.c.9, ip:port. The password may come from\n"
	"CIRUN_SSH_PASSWORD instead of -p (then it is not in ps). DUR: 90, 90s, 15m, 1h.";

/* "90", "90s", "15m", "1h" → seconds */
static int parse_duration(const char *s, unsigned *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s)
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
};
#define RUN_OPTIONS                                                                            \
	{ "parallel", required_argument, NULL, O_PARALLEL },                                   \
	{ "timeout", required_argument, NULL, O_TIMEOUT },                                     \
	{ "connect-timeout", required_argument, NULL, O_CONNECT_TIMEOUT },                     \
	{ "skip-preflight", required_argument, NULL, O_SKIP },                                 \
	{ "insecure-ignore-host-key", no_argument, NULL, O_INSECURE },                         \
	{ "dry-run", no_argument, NULL, O_DRY },                                               \
	{ "output", required_argument, NULL, O_OUTPUT }

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
		set_str(skip, arg);
		o->skip_preflight = *skip;
		return 1;
	case O_INSECURE:
		o->insecure_ignore_host_key = true;
		return 1;
	case O_DRY:
		o->dry_run = true;
		return 1;
	case O_OUTPUT:
		if (parse_output(arg, &o->json) < 0)
			return errbuf_set(err, -EINVAL, "--output '%s': text or json", arg);
		return 1;
	default:
		return 0;
	}
}

/* The common end of run and apply: the store, the run, the exit code. */
static int run_cluster(struct cluster *c, const struct run_opts *o)
{
	struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r;

	if (image_store_open(NULL, &st, &err) < 0) {
		log_error("%s", errbuf_msg(&err));
		return 1;
	}
	r = cluster_run(st, c, o, &err);
	if (r < 0) {
		log_error("%s", errbuf_msg(&err));
		r = 1;
	}
	image_store_close(st);
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
	struct run_opts o = { 0 };
	struct errbuf err = ERRBUF_INIT;
	int opt, r = 2;

	if (protect_secrets(&err) < 0)
		goto fail;
	env_password = take_env_password();
	optind = 1;
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
			set_str(&c.ssh.user, optarg);
			break;
		case 'p':
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
		case 'h':
			printf("usage: cirun run %s\n", usage_text);
			r = 0;
			goto out;
		default:
			log_error("usage: cirun run %s", usage_text);
			goto out;
		}
	}
	if (optind + 1 != argc) {
		log_error("usage: cirun run %s", usage_text);
		goto out;
	}
	c.image = xstrdup(argv[optind]);
	if (!c.ssh.password)
		c.ssh.password = TAKE_PTR(env_password);
	if (!masters) {
		errbuf_set(&err, -EINVAL, "-m: give the master addresses");
		goto fail;
	}
	if (cluster_add_hosts(&c, masters, ROLE_MASTER, "-m", &err) < 0 ||
	    (nodes && cluster_add_hosts(&c, nodes, ROLE_NODE, "-n", &err) < 0) ||
	    cluster_finish(&c, &err) < 0)
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

static const char apply_usage[] =
	"-f Clusterfile [--parallel N] [--timeout DUR] [--connect-timeout DUR]\n"
	"       [--skip-preflight=NAME,...] [--insecure-ignore-host-key] [--dry-run] [--output text|json]";

int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		RUN_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_free_ char *file = NULL, *skip = NULL;
	char *env_password = NULL;
	struct cluster c = { 0 };
	struct run_opts o = { 0 };
	struct errbuf err = ERRBUF_INIT;
	int opt, r = 2;

	if (protect_secrets(&err) < 0)
		goto fail;
	env_password = take_env_password();
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		int handled = run_option(opt, optarg, &o, &skip, &err);
		if (handled < 0)
			goto fail;
		if (handled)
			continue;
		if (opt == 'f') {
			set_str(&file, optarg);
		} else if (opt == 'h') {
			printf("usage: cirun apply %s\n", apply_usage);
			r = 0;
			goto out;
		} else {
			log_error("usage: cirun apply %s", apply_usage);
			goto out;
		}
	}
	if (!file || optind != argc) {
		log_error("usage: cirun apply %s", apply_usage);
		goto out;
	}
	if (clusterfile_load(file, &c, &err) < 0)
		goto fail;
	if (!c.ssh.password && !c.ssh.pk_file)
		c.ssh.password = TAKE_PTR(env_password);
	if (cluster_finish(&c, &err) < 0) {
		errbuf_prefix(&err, "%s", file);
		goto fail;
	}
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
