#include "known-hosts-line.h"

#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

#define HASH_MAGIC "|1|"
#define TYPE_MAX 64

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The next field separated by blanks from *p on; false when there is none. */
static bool next_field(const char **p, const char *end, const char **f, size_t *fn)
{
	const char *s = *p, *e;

	while (s < end && is_space(*s))
		s++;
	for (e = s; e < end && !is_space(*e); e++)
		;
	*f = s;
	*fn = (size_t)(e - s);
	*p = e;
	return *fn > 0;
}

/* Standard base64 with its padding, as ssh-keygen writes it; the decoded length in
 * *outlen. out holds n / 4 * 3 bytes. */
static int b64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
	size_t pad = 0;
	int r;

	if (n == 0 || n % 4 != 0 || n > INT_MAX)
		return -EBADMSG;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '/'))
			return -EBADMSG;
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	if (r < 0 || (size_t)r != n / 4 * 3)
		return -EBADMSG;
	*outlen = (size_t)r - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	return 0;
}

/* "|1|" base64(salt) "|" base64(HMAC-SHA1(salt, name)), both of 20 bytes. */
static int parse_hashed(const char *f, size_t fn, struct kh_line *l, struct errbuf *err)
{
	const char *salt = f + strlen(HASH_MAGIC), *end = f + fn, *bar = NULL;
	unsigned char tmp[32];
	size_t n = 0;

	if (fn > strlen(HASH_MAGIC) && memcmp(f, HASH_MAGIC, strlen(HASH_MAGIC)) == 0)
		bar = memchr(salt, '|', (size_t)(end - salt));
	if (!bar)
		return errbuf_set(err, -EBADMSG, "a hashed host name is not |1|salt|hash");
	if ((size_t)(bar - salt) > 28 || b64_decode(salt, (size_t)(bar - salt), tmp, &n) < 0 ||
	    n != sizeof(l->salt))
		return errbuf_set(err, -EBADMSG, "the salt of a hashed host name is not 20 bytes of base64");
	memcpy(l->salt, tmp, n);
	if ((size_t)(end - bar - 1) > 28 || b64_decode(bar + 1, (size_t)(end - bar - 1), tmp, &n) < 0 ||
	    n != sizeof(l->hash))
		return errbuf_set(err, -EBADMSG, "the hash of a hashed host name is not 20 bytes of base64");
	memcpy(l->hash, tmp, n);
	l->hashed = true;
	return 0;
}

/* A comma list of patterns, each maybe negated by '!': none empty, printable ASCII. */
static int parse_patterns(const char *f, size_t fn, struct errbuf *err)
{
	for (size_t i = 0, start = 0; i <= fn; i++) {
		if (i < fn && f[i] != ',') {
			if (f[i] < 0x21 || f[i] > 0x7e)
				return errbuf_set(err, -EBADMSG, "a host pattern holds byte 0x%02x",
						  (unsigned char)f[i]);
			continue;
		}
		if (i == start || (f[start] == '!' && i == start + 1))
			return errbuf_set(err, -EBADMSG, "an empty host pattern in '%.*s'",
					  (int)MIN(fn, (size_t)200), f);
		start = i + 1;
	}
	return 0;
}

static int parse_marker(const char *f, size_t fn, struct kh_line *l, struct errbuf *err)
{
	if (fn == strlen("@revoked") && memcmp(f, "@revoked", fn) == 0)
		l->marker = KH_MARKER_REVOKED;
	else if (fn == strlen("@cert-authority") && memcmp(f, "@cert-authority", fn) == 0)
		l->marker = KH_MARKER_CERT_AUTHORITY;
	else
		return errbuf_set(err, -EBADMSG, "unknown marker '%.*s' (only @revoked and "
				  "@cert-authority are)", (int)MIN(fn, (size_t)64), f);
	return 0;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Every public key blob (RFC 4253 6.6, RFC 5656, RFC 8709) is a sequence of strings and
 * mpints, all length-prefixed: the type name and at least one more, nothing left over. A
 * truncated key fails here. */
static bool blob_well_formed(const unsigned char *b, size_t len)
{
	size_t fields = 0;

	for (size_t off = 0; off < len; fields++) {
		if (len - off < 4 || get_u32(b + off) > len - off - 4)
			return false;
		off += 4 + get_u32(b + off);
	}
	return fields >= 2;
}

/* The key type field and the blob: the blob starts with the same type name. */
static int parse_key(const char *t, size_t tn, const char *k, size_t kn, struct kh_line *l,
		     struct errbuf *err)
{
	uint32_t n;

	if (tn > TYPE_MAX)
		return errbuf_set(err, -EBADMSG, "the key type is longer than %d bytes", TYPE_MAX);
	for (size_t i = 0; i < tn; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z') ||
		      (t[i] >= '0' && t[i] <= '9') || strchr("@._-+", t[i])))
			return errbuf_set(err, -EBADMSG, "the key type '%.*s' is not a key type name",
					  (int)tn, t);
	l->type = xstrndup(t, tn);
	l->blob = xmalloc(kn / 4 * 3 + 1);
	if (b64_decode(k, kn, l->blob, &l->blob_len) < 0)
		return errbuf_set(err, -EBADMSG, "the %s key is not base64", l->type);
	if (l->blob_len < 4)
		return errbuf_set(err, -EBADMSG, "the %s key is truncated", l->type);
	n = get_u32(l->blob);
	if (n != tn || l->blob_len - 4 < n || memcmp(l->blob + 4, t, tn) != 0)
		return errbuf_set(err, -EBADMSG, "the key is not of the type '%s' the line names",
				  l->type);
	if (!blob_well_formed(l->blob, l->blob_len))
		return errbuf_set(err, -EBADMSG, "the %s key is truncated or malformed", l->type);
	return 0;
}

int kh_line_parse(const char *line, size_t len, struct kh_line *out, struct errbuf *err)
{
	struct kh_line l = { .marker = KH_MARKER_NONE };
	const char *p = line, *end = line + len, *f = NULL, *t = NULL, *k = NULL;
	size_t fn = 0, tn = 0, kn = 0;
	int r;

	if (len > KH_LINE_MAX)
		return errbuf_set(err, -EBADMSG, "the line is longer than %d bytes", KH_LINE_MAX);
	if (memchr(line, '\0', len))
		return errbuf_set(err, -EBADMSG, "a NUL byte in the line");
	if (!next_field(&p, end, &f, &fn) || f[0] == '#')
		return 0;
	if (f[0] == '@') {
		r = parse_marker(f, fn, &l, err);
		if (r < 0)
			return r;
		if (!next_field(&p, end, &f, &fn))
			return errbuf_set(err, -EBADMSG, "no host names after the marker");
	}
	if (!next_field(&p, end, &t, &tn) || !next_field(&p, end, &k, &kn))
		return errbuf_set(err, -EBADMSG, "not 'hosts key-type key': a field is missing");
	r = f[0] == '|' ? parse_hashed(f, fn, &l, err) : parse_patterns(f, fn, err);
	if (r >= 0)
		r = parse_key(t, tn, k, kn, &l, err);
	if (r < 0) {
		kh_line_free(&l);
		return r;
	}
	l.hosts = xstrndup(f, fn);
	*out = l;
	return 1;
}

void kh_line_free(struct kh_line *l)
{
	free(l->hosts);
	free(l->type);
	free(l->blob);
	*l = (struct kh_line){ .marker = KH_MARKER_NONE };
}

/* Greedy with one backtrack point: linear in practice, and never exponential, whatever
 * the number of '*' (a recursive matcher is, on hostile patterns). */
bool kh_pattern_match(const char *p, size_t pn, const char *s, size_t n)
{
	size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < n) {
		if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < pn && (p[pi] == '?' || fold(p[pi]) == fold(s[si]))) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static bool hashed_match(const struct kh_line *l, const char *name)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!HMAC(EVP_sha1(), l->salt, sizeof(l->salt), (const unsigned char *)name, strlen(name),
		  md, &mdlen) || mdlen != sizeof(l->hash))
		return false;
	return CRYPTO_memcmp(md, l->hash, sizeof(l->hash)) == 0;
}

bool kh_line_matches(const struct kh_line *l, const char *name)
{
	bool positive = false;
	size_t n = strlen(name);

	if (l->hashed)
		return hashed_match(l, name);
	for (const char *e = l->hosts; *e;) {
		size_t en = strcspn(e, ",");
		bool negated = e[0] == '!';

		if (kh_pattern_match(e + negated, en - negated, name, n)) {
			if (negated)
				return false; /* as OpenSSH: a negated match wins over the rest */
			positive = true;
		}
		e += en + (e[en] == ',');
	}
	return positive;
}
