/* Host lists as `cirun run -m` takes them, shared by the installer's flags and the plugins'
 * `on` selectors and data lines: "a,b" lists, "10.0.0.1-10.0.0.9" and "10.0.0.1-9" ranges,
 * host names, and an optional ":port" per item. */
#pragma once

#include <stddef.h>

#include "error.h"

#define IP_LIST_MAX 10000

/* Expands "a,b,10.0.0.1-10.0.0.9,host:2222" into addresses (with an optional port each),
 * at most IP_LIST_MAX of them. Items are separated by ',' or spaces. */
int parse_ip_list(const char *spec, char ***ret, size_t *ret_n, struct errbuf *err);

void ip_list_free(char **v, size_t n);
