/* The cluster's block in /etc/hosts, rewritten as text (common/hosts-block.h). */
#include "hosts-block.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"

bool hosts_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > HOSTS_MAX_NAME || name[0] == '-' || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return false;
	}
	return true;
}

bool hosts_registry_valid(const char *s)
{
	const char *colon = s ? strchr(s, ':') : NULL;
	char name[HOSTS_MAX_NAME + 1];
	size_t n = colon ? (size_t)(colon - s) : 0;

	if (!colon)
		return hosts_name_valid(s);
	if (n == 0 || n > HOSTS_MAX_NAME || !colon[1] || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || colon[1] == '0' ||
	    atoi(colon + 1) > 65535)
		return false;
	memcpy(name, s, n);
	name[n] = '\0';
	return hosts_name_valid(name);
}

bool hosts_ip_valid(const char *ip)
{
	unsigned char a[sizeof(struct in6_addr)];

	return ip && (inet_pton(AF_INET, ip, a) == 1 || inet_pton(AF_INET6, ip, a) == 1);
}

/* Whether the line [p, p+n) (without its "\n", maybe with a "\r") is exactly marker. */
static bool line_is(const char *p, size_t n, const char *marker)
{
	size_t m = strlen(marker);

	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n == m && memcmp(p, marker, m) == 0;
}

static int put_block(struct buf *out, const char *begin, const char *end,
		     const struct hosts_entry *e, size_t n, const char *eol)
{
	int r = buf_printf(out, "%s%s", begin, eol);

	for (size_t i = 0; r >= 0 && i < n; i++)
		r = buf_printf(out, "%s\t%s%s", e[i].ip, e[i].name, eol);
	if (r >= 0)
		r = buf_printf(out, "%s%s", end, eol);
	return r;
}

/* drop: the block goes, nothing takes its place (a delete) */
static int rewrite(const char *in, size_t len, const char *cluster, const struct hosts_entry *e,
		   size_t n, bool drop, struct buf *out, struct errbuf *err)
{
	char begin[96], end[96];
	const char *eol = "\n";
	bool inside = false, placed = false;
	size_t start = out->len, line_no = 0;
	int r = 0;

	if (!cluster_name_valid(cluster))
		return errbuf_set(err, -EINVAL, "hosts block: invalid cluster name");
	if (n > HOSTS_MAX_ENTRIES)
		return errbuf_set(err, -E2BIG, "hosts block: %zu entries, at most %d", n,
				  HOSTS_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		if (!hosts_ip_valid(e[i].ip))
			return errbuf_set(err, -EINVAL, "hosts block: '%s' is not an IP address",
					  e[i].ip ? e[i].ip : "");
		if (!hosts_name_valid(e[i].name))
			return errbuf_set(err, -EINVAL, "hosts block: '%s' is not a host name",
					  e[i].name ? e[i].name : "");
	}
	snprintf(begin, sizeof(begin), "# BEGIN cirun %s", cluster);
	snprintf(end, sizeof(end), "# END cirun %s", cluster);

	const char *nl = memchr(in, '\n', len);
	if (nl && nl > in && nl[-1] == '\r')
		eol = "\r\n";

	for (size_t off = 0; off < len && r >= 0;) {
		const char *p = in + off;
		const char *q = memchr(p, '\n', len - off);
		size_t n_line = q ? (size_t)(q - p) : len - off;
		size_t n_take = q ? n_line + 1 : n_line;

		line_no++;
		off += n_take;
		if (line_is(p, n_line, begin)) {
			if (inside || placed) {
				r = errbuf_set(err, -EBADMSG, "line %zu: a second '%s'", line_no,
					       begin);
				break;
			}
			inside = true;
			continue;
		}
		if (inside) {
			if (line_is(p, n_line, end)) {
				inside = false;
				placed = true;
				if (!drop)
					r = put_block(out, begin, end, e, n, eol);
			}
			continue;
		}
		if (line_is(p, n_line, end)) {
			r = errbuf_set(err, -EBADMSG, "line %zu: '%s' without its begin", line_no,
				       end);
			break;
		}
		r = buf_append(out, p, n_take);
		/* the last line had no newline: the block appended after it needs one */
		if (r >= 0 && !q && !placed && !drop)
			r = buf_puts(out, eol);
	}
	if (r >= 0 && inside)
		r = errbuf_set(err, -EBADMSG, "'%s' without its '%s'", begin, end);
	if (r >= 0 && !placed && !drop)
		r = put_block(out, begin, end, e, n, eol);
	if (r < 0) {
		buf_truncate(out, start);
		if (r == -E2BIG && (!err || err->code == 0))
			errbuf_set(err, r, "hosts block: the file is too large");
	}
	return r;
}

int hosts_block_rewrite(const char *in, size_t len, const char *cluster,
			const struct hosts_entry *e, size_t n, struct buf *out,
			struct errbuf *err)
{
	return rewrite(in, len, cluster, e, n, false, out, err);
}

int hosts_block_remove(const char *in, size_t len, const char *cluster, struct buf *out,
		       struct errbuf *err)
{
	return rewrite(in, len, cluster, NULL, 0, true, out, err);
}
