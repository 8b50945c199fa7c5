#include "ip-list.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "macro.h"

#define MAX_HOSTS IP_LIST_MAX

void ip_list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void push(char ***v, size_t *n, char *s)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = s;
}

/* "a.b.c.d-a.b.c.e" or "a.b.c.d-e" */
static int expand_range(const char *item, char ***v, size_t *n, struct errbuf *err)
{
	const char *dash = strchr(item, '-');
	_cleanup_free_ char *lo_s = xstrndup(item, (size_t)(dash - item));
	_cleanup_free_ char *hi_s = NULL;
	struct in_addr lo, hi;

	if (strchr(dash + 1, '.'))
		hi_s = xstrdup(dash + 1);
	else hi_s = xasprintf("%.*s%s", (int)(strrchr(lo_s, '.') ? strrchr(lo_s, '.') - lo_s + 1 : 0), lo_s, dash + 1);
	if (inet_pton(AF_INET, lo_s, &lo) != 1 || inet_pton(AF_INET, hi_s, &hi) != 1)
		return errbuf_set(err, -EINVAL, "'%s' is not an address range (a.b.c.1-a.b.c.9)", item);
	uint32_t a = ntohl(lo.s_addr), b = ntohl(hi.s_addr);
	if (b < a || b - a >= MAX_HOSTS)
		return errbuf_set(err, -EINVAL, "range '%s' is empty or too large", item);
	for (uint32_t x = a; x <= b; x++) {
		struct in_addr ia = { htonl(x) };
		char buf[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ia, buf, sizeof(buf));
		push(v, n, xstrdup(buf));
	}
	return 0;
}

static bool valid_host(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, h, &a4) == 1 || inet_pton(AF_INET6, h, &a6) == 1)
		return true;
	/* a host name; digits and dots alone must have been an IPv4 address */
	if (!*h || strlen(h) > 253 || strspn(h, "0123456789.") == strlen(h))
		return false;
	for (const char *p = h; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '.'))
			return false;
	return true;
}

int parse_ip_list(const char *spec, char ***ret, size_t *ret_n, struct errbuf *err)
{
	_cleanup_free_ char *work = xstrdup(spec ? spec : "");
	char **v = NULL, *save = NULL;
	size_t n = 0;
	int r = 0;

	for (char *item = strtok_r(work, ", ", &save); item; item = strtok_r(NULL, ", ", &save)) {
		const char *colon = strrchr(item, ':');
		if (strchr(item, '-') && !strchr(item, ':') && isdigit((unsigned char)item[0])) {
			r = expand_range(item, &v, &n, err);
		} else {
			_cleanup_free_ char *host = colon && strchr(item, ':') == colon
							    ? xstrndup(item, (size_t)(colon - item))
							    : xstrdup(item);
			if (colon && strchr(item, ':') == colon) {
				char *end;
				long port = strtol(colon + 1, &end, 10);
				if (*end || port < 1 || port > 65535)
					r = errbuf_set(err, -EINVAL, "'%s': the port must be 1-65535", item);
			}
			if (r >= 0 && !valid_host(host))
				r = errbuf_set(err, -EINVAL, "'%s' is not an IP address or host name", item);
			if (r >= 0)
				push(&v, &n, xstrdup(item));
		}
		if (r >= 0 && n > MAX_HOSTS)
			r = errbuf_set(err, -E2BIG, "'%.64s…' names more than %d hosts", spec, MAX_HOSTS);
		if (r < 0)
			break;
	}
	if (r >= 0 && n == 0)
		r = errbuf_set(err, -EINVAL, "no addresses in '%s'", spec ? spec : "");
	if (r < 0) {
		ip_list_free(v, n);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

