/* cirun: installs a cluster image onto hosts over SSH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: cirun COMMAND [OPTIONS]\n"
		   "\n"
		   "Installs a Kubernetes cluster image onto Linux hosts over SSH, offline.\n"
		   "\n"
		   "commands:\n"
		   "  version   print cirun's version\n"
		   "  help      show this text\n"
		   "\n"
		   "exit codes: 0 ok, 1 some hosts failed, 2 usage or configuration error\n"
		   "environment: LOG_LEVEL=error|warning|notice|info|debug, CIRUN_HOME (default "
		   "/var/lib/cirun)\n");
}

int main(int argc, char **argv)
{
	const char *level = getenv("LOG_LEVEL");
	int r;

	if (level && (r = log_level_from_string(level)) >= 0)
		log_set_max_level(r);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("cirun %s\n", CIRUN_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return 0;
	}
	log_error("unknown command '%s'; run 'cirun --help' for the list", argv[1]);
	return 2;
}
