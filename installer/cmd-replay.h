/* CMD replay's text: the image's CMDs with its ARGs expanded, the operator's cmd_args
 * (Clusterfile spec.cmd_args, --cmd-args) over the image's ARGs. Pure functions; the
 * phase that runs them on master0 is installer/run/cmd.c.
 *
 * Expansion, done on the command text before the shell sees it (as sealer does):
 *   - $NAME and ${NAME}, NAME an ARG of the image or a cmd_args key, become its value,
 *     inserted literally: no quoting added, none removed. The shell then reads the value
 *     as part of the command, so a value with blanks splits into words unless the CMD
 *     quotes the reference ("${Msg}"), and a ';' in a value ends a command. Both values
 *     come from people who can already run anything on master0 (the image's author, the
 *     operator), so this is the command they wrote, not an injection point.
 *   - Quotes are kept as written (sealer's lexer strips them, a bug): inside '…' nothing
 *     is expanded, as in the shell; inside "…" and bare text, references are.
 *   - "\$" stays as written (the shell then prints a '$').
 *   - Any other reference ($HOME, $1, $$, ${X:-d}, an unknown name) is left to the shell,
 *     which sees the host's env (sealer would expand an unknown name to nothing, but
 *     it exported no env to CMDs).
 * An ARG declared without a value expands to the empty string (the build records it
 * as ""). */
#pragma once

#include <stddef.h>

#include "error.h"
#include "kv.h"
#include "proto-msg.h"

/* The value of ARG `name` (len bytes) for CMD replay: the last of over[] with that key,
 * else args[]'s; NULL when neither has it. */
const char *cmd_arg_value(const struct kv *args, size_t nargs, const struct kv *over,
			  size_t nover, const char *name, size_t len);

/* The longest expanded CMD: what the agent takes as one command (a hostile image could
 * otherwise multiply a long ARG by many references). */
#define CMD_EXPANDED_MAX (MSG_MAX_COMMAND - 1)

/* cmd with its ARG references expanded (see above) into *ret (to free); -E2BIG, *ret
 * NULL, when the result would be longer than CMD_EXPANDED_MAX bytes. */
int cmd_expand(const char *cmd, const struct kv *args, size_t nargs, const struct kv *over,
	       size_t nover, char **ret);

/* A --cmd-args value "K=V[,K=V…]" (sealer's string-slice flag: split on commas, so a
 * value with a comma goes into spec.cmd_args instead) appended to *list; a key already
 * there takes the new value. K must be a shell identifier. -EINVAL with err naming the
 * item. */
int cmd_args_parse(const char *s, struct kv **list, size_t *n, struct errbuf *err);

/* Sets key=value in *list (a key already there takes the new value). */
void cmd_args_set(struct kv **list, size_t *n, const char *key, const char *value);
