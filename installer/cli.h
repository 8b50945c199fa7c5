/* What every verb answers to -h/--help and to a usage error, so they all do it alike:
 * help is the whole text on stdout (exit 0, nothing touched), a usage error is the
 * synopsis on stderr with where to read more (exit 2). */
#pragma once

#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct cli_usage {
	const char *verb;
	const char *synopsis; /* what follows "cirun VERB " */
	const char *text;     /* what it does and its options, for --help */
};

/* Prints "usage: cirun VERB SYNOPSIS" and the text on stdout; returns 0. */
int cli_help(const struct cli_usage *u);

/* Prints the synopsis and "run 'cirun VERB --help'" on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_usage *u);

/* For verbs that take no options: handles -h/--help and refuses any other option.
 * Returns -1 to go on (optind is then at the first operand), else the exit code. */
int cli_no_options(int argc, char **argv, const struct cli_usage *u);
