/* Running a command for cirun on the host: bash -c with a given working directory and
 * environment (values are passed in the environment, never spliced into the command
 * line, so no quoting can go wrong), output streamed back as it comes, and a timeout
 * after which the whole process group is killed. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "kv.h"

/* Called with each piece of output (stream 1 stdout, 2 stderr). A negative return stops
 * the command. */
typedef int (*exec_output_fn)(void *data, int stream, const void *buf, size_t n);

struct exec_result {
	int exit_code;	 /* -1 when killed by a signal */
	int signal;
	int timed_out;
};

int exec_command(const char *command, const char *cwd, const struct kv *env, size_t nenv,
		 unsigned timeout_s, exec_output_fn out, void *data, struct exec_result *res,
		 struct errbuf *err);
