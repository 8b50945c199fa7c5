/* Inside plugins/: what each type module (shell.c, label.c, taint.c, hostname.c,
 * clustercheck.c) provides to the one table in plugin.c, and the helpers they share for
 * reading spec.data line by line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "macro.h"
#include "plugin.h"

/* Caps on what one plugin's data may expand to (an IP range per line multiplies). */
#define PLUGIN_DATA_MAX (1u << 20)
#define PLUGIN_ENTRIES_MAX 65536u
#define PLUGIN_DATA_FIELDS_MAX 8

struct plugin_type_info {
	const char *name;  /* as sealer spells it */
	const char *alias; /* another spelling sealer accepted, or NULL */
	unsigned phases;   /* where it can act */
	bool takes_data;   /* spec.data is required (and refused when false) */
	/* decodes p->data into p's per-type arrays; errors through plugin_data_error() */
	int (*parse_data)(struct plugin *p, struct errbuf *err);
	void (*release)(struct plugin *p);
};

extern const struct plugin_type_info plugin_type_shell;
extern const struct plugin_type_info plugin_type_label;
extern const struct plugin_type_info plugin_type_taint;
extern const struct plugin_type_info plugin_type_hostname;
extern const struct plugin_type_info plugin_type_clustercheck;

/* Called for each line of spec.data that is neither blank nor a '#' comment, with its
 * whitespace-separated fields (at most PLUGIN_DATA_FIELDS_MAX; nfields counts them all).
 * idx is the 1-based line number inside spec.data. */
typedef int (*plugin_line_fn)(struct plugin *p, unsigned idx, char **fields, size_t nfields,
			      struct errbuf *err);
int plugin_data_lines(struct plugin *p, plugin_line_fn fn, struct errbuf *err);

/* "FILE:LINE: plugin 'NAME' (TYPE): spec.data line IDX (line L): why" into err; -EINVAL. */
int plugin_data_error(const struct plugin *p, unsigned idx, struct errbuf *err, const char *fmt,
		      ...) _printf_(4, 5);

/* Expands the address field of a data line ("a,b", "a-b") for line idx. */
int plugin_data_ips(const struct plugin *p, unsigned idx, const char *field, char ***ret,
		    size_t *ret_n, struct errbuf *err);
