#include "image-ref.h"

#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "macro.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

/* [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*, n bytes of s */
static bool component_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	while (i < n) {
		if (is_lower_alnum(s[i])) {
			i++;
			continue;
		}
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
		if (i >= n || !is_lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool path_valid_n(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0 || n > IMGREF_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '/')
			continue;
		if (!component_valid(s + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

bool imgref_path_valid(const char *path)
{
	return path && path_valid_n(path, strlen(path));
}

bool imgref_tag_valid(const char *tag)
{
	size_t n = tag ? strlen(tag) : 0;

	if (n == 0 || n > IMGREF_TAG_MAX || !is_word(tag[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return false;
	return true;
}

/* [a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])? joined by '.' */
static bool hostname_valid(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && s[i] != '.') {
			if (!is_alnum(s[i]) && s[i] != '-')
				return false;
			continue;
		}
		if (i == start || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
			return false;
		start = i + 1;
	}
	return true;
}

static bool ipv6_valid(const char *s, size_t n)
{
	if (n < 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F') || s[i] == ':'))
			return false;
	return memchr(s, ':', n) != NULL;
}

static bool domain_valid_n(const char *s, size_t n)
{
	size_t host_end = n;

	if (n == 0 || n > IMGREF_NAME_MAX)
		return false;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || !ipv6_valid(s + 1, (size_t)(close - s) - 1))
			return false;
		host_end = (size_t)(close - s) + 1;
	} else {
		const char *colon = memchr(s, ':', n);
		if (colon)
			host_end = (size_t)(colon - s);
		if (!hostname_valid(s, host_end))
			return false;
	}
	if (host_end == n)
		return true;
	if (s[host_end] != ':' || host_end + 1 == n || n - host_end - 1 > 5)
		return false;
	for (size_t i = host_end + 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool imgref_domain_valid(const char *domain)
{
	return domain && domain_valid_n(domain, strlen(domain));
}

static bool has_upper(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return true;
	return false;
}

/* distribution's splitDockerDomain: a first component is a registry host when it could not
 * be a repository path component (it holds '.', ':' or upper case) or is "localhost". */
static bool looks_like_domain(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && memcmp(s, "localhost", 9) == 0) ||
	       has_upper(s, n);
}

static int copy_part(char *dst, size_t size, const char *s, size_t n)
{
	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int check_chars(const char *s, struct errbuf *err)
{
	size_t n = strnlen(s, IMGREF_INPUT_MAX + 1);

	if (n == 0)
		return errbuf_set(err, -EINVAL, "image reference is empty");
	if (n > IMGREF_INPUT_MAX)
		return errbuf_set(err, -ENAMETOOLONG, "image reference is longer than %d bytes",
				  IMGREF_INPUT_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return errbuf_set(err, -EINVAL,
					  "image reference has a space, control or non-ASCII "
					  "character at byte %zu", i + 1);
	if (n == 64 && sha256_hex_valid(s))
		return errbuf_set(err, -EINVAL,
				  "image reference '%s' is 64 hex digits, which is an image id, "
				  "not a name", s);
	return 0;
}

static int parse_digest(const char *at, struct imgref *r, const char *s, struct errbuf *err)
{
	if (!digest_ref_valid(at))
		return errbuf_set(err, -EINVAL,
				  "image reference '%s': digest '%s' is not sha256: followed by 64 "
				  "lower-case hex digits", s, at);
	memcpy(r->digest, at, strlen(at) + 1);
	return 0;
}

static int split_domain(const char *name, size_t n, struct imgref *r, const char **rest,
			const char *s, struct errbuf *err)
{
	const char *slash = memchr(name, '/', n);
	size_t dlen = slash ? (size_t)(slash - name) : 0;

	if (!slash || !looks_like_domain(name, dlen)) {
		memcpy(r->domain, DEFAULT_DOMAIN, sizeof(DEFAULT_DOMAIN));
		*rest = name;
		return 0;
	}
	if (!domain_valid_n(name, dlen))
		return errbuf_set(err, -EINVAL,
				  "image reference '%s': registry host '%.*s' is invalid: use a host "
				  "name, an IPv4 address or [IPv6], then an optional :port", s,
				  (int)dlen, name);
	if (copy_part(r->domain, sizeof(r->domain), name, dlen) < 0)
		return errbuf_set(err, -ENAMETOOLONG, "image reference '%s': registry host is too long", s);
	/* zero-filled, so equal references compare equal as memory too */
	if (strcmp(r->domain, LEGACY_DEFAULT_DOMAIN) == 0)
		strncpy(r->domain, DEFAULT_DOMAIN, sizeof(r->domain));
	*rest = slash + 1;
	return 0;
}

int imgref_parse(const char *s, struct imgref *ret, struct errbuf *err)
{
	struct imgref r = { 0 };
	const char *at, *rest = s, *colon;
	size_t name_len, path_len;
	int k;

	if (!s)
		return errbuf_set(err, -EINVAL, "image reference is empty");
	k = check_chars(s, err);
	if (k < 0)
		return k;
	at = strchr(s, '@');
	if (at) {
		k = parse_digest(at + 1, &r, s, err);
		if (k < 0)
			return k;
	}
	name_len = at ? (size_t)(at - s) : strlen(s);
	if (name_len == 0)
		return errbuf_set(err, -EINVAL, "image reference '%s' has no name", s);
	k = split_domain(s, name_len, &r, &rest, s, err);
	if (k < 0)
		return k;
	name_len -= (size_t)(rest - s);
	colon = memchr(rest, ':', name_len);
	path_len = colon ? (size_t)(colon - rest) : name_len;
	if (has_upper(rest, path_len))
		return errbuf_set(err, -EINVAL,
				  "image reference '%s': repository '%.*s' must be lower case", s,
				  (int)path_len, rest);
	if (!path_valid_n(rest, path_len))
		return errbuf_set(err, -EINVAL,
				  "image reference '%s': repository '%.*s' is invalid: use '/'-separated "
				  "components of a-z and 0-9, joined inside by '.', '_', '__' or '-'",
				  s, (int)path_len, rest);
	if (colon) {
		size_t tlen = name_len - path_len - 1;
		if (copy_part(r.tag, sizeof(r.tag), colon + 1, tlen) < 0 || !imgref_tag_valid(r.tag))
			return errbuf_set(err, -EINVAL,
					  "image reference '%s': tag '%.*s' is invalid: 1-128 of "
					  "A-Z, a-z, 0-9, '_', '.', '-', not starting with '.' or '-'",
					  s, (int)tlen, colon + 1);
	}
	/* docker.io names of one component are official images */
	if (strcmp(r.domain, DEFAULT_DOMAIN) == 0 && !memchr(rest, '/', path_len)) {
		memcpy(r.path, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX));
		k = copy_part(r.path + strlen(OFFICIAL_PREFIX), sizeof(r.path) - strlen(OFFICIAL_PREFIX),
			      rest, path_len);
	} else {
		k = copy_part(r.path, sizeof(r.path), rest, path_len);
	}
	if (k < 0 || strlen(r.domain) + 1 + strlen(r.path) > IMGREF_NAME_MAX)
		return errbuf_set(err, -ENAMETOOLONG,
				  "image reference '%s': the full name is longer than %d bytes", s,
				  IMGREF_NAME_MAX);
	if (!r.tag[0] && !r.digest[0])
		memcpy(r.tag, "latest", sizeof("latest"));
	*ret = r;
	return 0;
}

static int format_with(const struct imgref *r, const char *prefix, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s%s%s%s%s", prefix ? prefix : "", prefix ? "/" : "",
			 r->path, r->tag[0] ? ":" : "", r->tag);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (r->digest[0]) {
		int m = snprintf(buf + n, size - (size_t)n, "@%s", r->digest);
		if (m < 0 || (size_t)m >= size - (size_t)n)
			return -ENAMETOOLONG;
	}
	return 0;
}

int imgref_format(const struct imgref *r, char *buf, size_t size)
{
	return format_with(r, r->domain, buf, size);
}

int imgref_format_local(const struct imgref *r, char *buf, size_t size)
{
	return format_with(r, NULL, buf, size);
}

int imgref_format_at(const struct imgref *r, const char *registry, char *buf, size_t size)
{
	if (!imgref_domain_valid(registry))
		return -EINVAL;
	return format_with(r, registry, buf, size);
}

int imgref_kubeadm_alias(const struct imgref *r, char *buf, size_t size)
{
	static const char *const domains[] = { "registry.k8s.io", "k8s.gcr.io" };

	if (strcmp(r->path, "coredns/coredns") != 0)
		return 0;
	for (size_t i = 0; i < ELEMENTSOF(domains); i++)
		if (strcmp(r->domain, domains[i]) == 0)
			return copy_part(buf, size, "coredns", strlen("coredns")) < 0 ? -ENAMETOOLONG : 1;
	return 0;
}
