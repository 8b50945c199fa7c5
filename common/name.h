/* The name rules both sides must agree on: what may be a shell variable (env keys, ARGs)
 * and what may be a cluster name (it becomes a path component on every host). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* [A-Za-z_][A-Za-z0-9_]*, n bytes of s. */
bool shell_identifier_valid(const char *s, size_t n);

/* [a-z0-9._-], 1-63 bytes, not starting with '.' or '-'. */
bool cluster_name_valid(const char *s);
