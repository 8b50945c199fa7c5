#include "cli.h"

#include <getopt.h>
#include <stdio.h>

#include "log.h"

int cli_help(const struct cli_usage *u)
{
	printf("usage: cirun %s %s\n", u->verb, u->synopsis);
	if (u->text && *u->text)
		printf("\n%s\n", u->text);
	return 0;
}

int cli_usage_error(const struct cli_usage *u)
{
	log_error("usage: cirun %s %s\n(run 'cirun %s --help' for the options)", u->verb,
		  u->synopsis, u->verb);
	return CLI_EXIT_USAGE;
}

int cli_no_options(int argc, char **argv, const struct cli_usage *u)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	optind = 0; /* GNU: start over, whatever parsed argv before */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return c == 'h' ? cli_help(u) : cli_usage_error(u);
	return -1;
}
