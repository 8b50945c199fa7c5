/* What a host is, as the installer's preflight needs it: arch, OS, kernel, identity, clock,
 * whether systemd runs and answers on the bus, disk space and capabilities. */
#pragma once

#include <stddef.h>

#include "ydoc.h"

/* Builds the facts as a YAML map. Facts that cannot be read are reported inside the map
 * (an "error" field next to them) rather than failing the whole call: a preflight table
 * wants to show every host, even a broken one. */
int facts_collect(struct ynode **ret);

/* Reads KEY=value lines of an os-release file; returns the unquoted value of key in *ret
 * (malloc'd) or -ENOENT. */
int os_release_get(const char *path, const char *key, char **ret);
int os_release_parse(const char *text, size_t len, const char *key, char **ret);
