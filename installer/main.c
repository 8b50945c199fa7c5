/* cirun: installs a cluster image onto hosts over SSH. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd-cluster.h"
#include "cmd-image.h"
#include "cmd-run.h"
#include "log.h"
#include "macro.h"

struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
};

static int verb_version(int argc, char **argv);
static int verb_help(int argc, char **argv);

static const struct verb verbs[] = {
	{ "run", cmd_run, "install an image onto hosts: run IMAGE -m IPS [-n IPS] -p PASSWD (see run --help)" },
	{ "apply", cmd_apply, "install from a Clusterfile: apply -f Clusterfile (see apply --help)" },
	{ "join", cmd_join, "add hosts to a saved cluster and join them: join -m|-n IPS [-p PASSWD] [--cluster-name NAME]" },
	{ "delete", cmd_delete, "take a saved cluster off its hosts: delete --all [--force] [--cluster-name NAME]" },
	{ "status", cmd_status, "show each host of a saved cluster now: status [NAME] [--output json]" },
	{ "clusters", cmd_clusters, "list the saved clusters (name, image, masters, nodes)" },
	{ "build", cmd_build, "build an image from a Kubefile: build -t NAME[:TAG] [-f Kubefile] [--build-arg K=V] CONTEXT" },
	{ "images", cmd_images, "list the images in the store" },
	{ "inspect", cmd_inspect, "show an image's metadata: inspect NAME|ID" },
	{ "save", cmd_save, "write images to an OCI archive: save -o FILE|- NAME..." },
	{ "load", cmd_load, "add images from an OCI archive: load -i FILE|-" },
	{ "tag", cmd_tag, "give an image another name: tag SOURCE TARGET" },
	{ "rmi", cmd_rmi, "remove images by name or ID, then unreferenced blobs: rmi NAME|ID..." },
	{ "export", cmd_export, "write an image's flattened rootfs into a directory: export NAME DIR" },
	{ "prune", cmd_prune, "remove unreferenced blobs, build leftovers and stale build cache entries" },
	{ "version", verb_version, "print cirun's version" },
	{ "help", verb_help, "show this text, or a command's: help COMMAND (the same as COMMAND --help)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cirun COMMAND [OPTIONS]\n\n"
		   "Installs a Kubernetes cluster image onto Linux hosts over SSH, offline.\n\n"
		   "commands (each answers -h/--help):\n");
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].help);
	fprintf(f, "\nexit codes: 0 ok, 1 failed, 2 usage or configuration error\n"
		   "environment: CIRUN_HOME (default /var/lib/cirun: image store, build cache, run logs,\n"
		   "             known_hosts; as a normal user, point it at a directory of yours),\n"
		   "             LOG_LEVEL=error|warning|notice|info|debug\n");
}

static int verb_version(int argc, char **argv)
{
	static const struct cli_usage u = { "version", "", "Prints cirun's version." };
	int r = argc > 0 ? cli_no_options(argc, argv, &u) : -1;

	if (r >= 0)
		return r;
	if (argc > 0 && optind != argc)
		return cli_usage_error(&u);
	printf("cirun %s\n", CIRUN_VERSION);
	return 0;
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		if (strcmp(name, verbs[i].name) == 0)
			return &verbs[i];
	return NULL;
}

/* `cirun help VERB` is `cirun VERB --help`: one text per verb, printed by the verb. */
static int verb_help(int argc, char **argv)
{
	static const struct cli_usage u = { "help", "[COMMAND]",
					    "Without COMMAND, lists the commands; with it, shows "
					    "what 'cirun COMMAND --help' shows." };
	const struct verb *v;
	int r = argc > 0 ? cli_no_options(argc, argv, &u) : -1;

	if (r >= 0)
		return r;
	if (argc <= 0 || optind == argc) {
		usage(stdout);
		return 0;
	}
	if (optind + 1 != argc)
		return cli_usage_error(&u);
	v = find_verb(argv[optind]);
	if (!v || v->run == verb_help) {
		if (v)
			return cli_help(&u);
		log_error("unknown command '%s'; run 'cirun --help' for the list", argv[optind]);
		return 2;
	}
	char *help_argv[] = { (char *)v->name, (char *)"--help", NULL };
	return v->run(2, help_argv);
}

int main(int argc, char **argv)
{
	const char *level = getenv("LOG_LEVEL");
	int r;

	if (level && (r = log_level_from_string(level)) >= 0)
		log_set_max_level(r);
	/* progress on stdout and messages on stderr keep their order in a shared pipe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0)
		return verb_version(0, NULL);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return verb_help(0, NULL);
	const struct verb *v = find_verb(argv[1]);
	if (v)
		return v->run(argc - 1, argv + 1);
	/* sealer's users type `cirun -m 10.0.0.1 -p pw image:tag`: that is a run */
	if (argv[1][0] == '-')
		return cmd_run(argc, argv);
	log_error("unknown command '%s'; run 'cirun --help' for the list", argv[1]);
	return 2;
}
