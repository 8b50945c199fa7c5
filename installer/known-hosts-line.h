/* One line of an OpenSSH known_hosts file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), read
 * strictly: an optional marker (@revoked, @cert-authority), the host field (a comma list
 * of patterns with '*', '?' and '!' negation, or one hashed "|1|salt|hash" name), the key
 * type and the key in base64, then an optional comment. libssh2's reader knows neither
 * markers nor patterns (it took "@revoked" and "10.1.1.*" for host names), hence this. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Longer lines are refused: a 16384-bit RSA key with a long comment still fits. */
#define KH_LINE_MAX 16384

enum kh_marker {
	KH_MARKER_NONE,
	KH_MARKER_REVOKED,	  /* the key is never accepted for the hosts the line matches */
	KH_MARKER_CERT_AUTHORITY, /* a CA of host certificates, which cirun does not check */
};

struct kh_line {
	enum kh_marker marker;
	char *hosts;		/* the host field as written */
	bool hashed;		/* hosts is "|1|salt|hash": salt and hash decoded below */
	unsigned char salt[20], hash[20];
	char *type;		/* the key type, as written and as the blob names it */
	unsigned char *blob;	/* the decoded key, as the server sends it */
	size_t blob_len;
};

/* Parses line (len bytes, no newline). 1 when the line holds an entry (*out filled, free
 * it with kh_line_free), 0 for a blank or comment line, -EBADMSG with err saying what is
 * wrong (without file or line number) for anything else. */
int kh_line_parse(const char *line, size_t len, struct kh_line *out, struct errbuf *err);
void kh_line_free(struct kh_line *l);

/* Whether the line applies to name, which must be lowercase as OpenSSH looks names up
 * ("host" or "[host]:port"): a hashed name is the HMAC-SHA1 of name under the salt; a
 * pattern list applies when one pattern matches and no negated one does. Patterns are
 * compared without regard to case. */
bool kh_line_matches(const struct kh_line *l, const char *name);

/* '*' and '?' wildcard match of the whole of s (n bytes) by pattern (pn bytes), ASCII
 * case folded. */
bool kh_pattern_match(const char *pattern, size_t pn, const char *s, size_t n);
