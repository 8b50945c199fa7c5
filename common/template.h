/* The template subset cluster images use in *.tmpl and statics/ files (Go text/template
 * syntax, rendered per host with that host's env):
 *
 *   {{ .Key }}                          the value (a "a;b" list prints as written)
 *   {{- … -}}                           trims the white space before / after
 *   {{ if .Key }}…{{ else }}…{{ end }}  true when the key is set and not empty
 *   {{ range .List }}{{ . }}{{ end }}   "a;b" is a list of a and b; a plain value is one item
 *   {{ .Key | default "v" }}            v when the key is missing or empty
 *   {{/ * a comment * /}}                (without the blanks: a comment)
 *
 * Anything else, and an output of a key that is not set, is an error naming file:line:
 * a template never renders to an empty value or "<no value>" by accident. */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "error.h"
#include "kv.h"

int template_render(const char *name, const char *text, size_t len, const struct kv *vars,
		    size_t nvars, struct buf *out, struct errbuf *err);
