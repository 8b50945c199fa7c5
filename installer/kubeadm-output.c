#include "kubeadm-output.h"

#include <arpa/inet.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "digest.h"
#include "k8s-name.h"
#include "macro.h"

#define LINE_MAX_LEN 4096 /* a line of any of these outputs; longer is not theirs */

static bool all_of(const char *s, size_t n, const char *set)
{
	return strlen(s) >= n && strspn(s, set) >= n;
}

#define LOWER_ALNUM "abcdefghijklmnopqrstuvwxyz0123456789"
#define LOWER_HEX "0123456789abcdef"

bool kubeadm_token_valid(const char *s)
{
	return strlen(s) == KUBEADM_TOKEN_LEN && all_of(s, 6, LOWER_ALNUM) && s[6] == '.' &&
	       all_of(s + 7, 16, LOWER_ALNUM);
}

bool kubeadm_ca_hash_valid(const char *s)
{
	return strlen(s) == KUBEADM_CA_HASH_LEN && strncmp(s, "sha256:", 7) == 0 &&
	       all_of(s + 7, 64, LOWER_HEX);
}

bool kubeadm_cert_key_valid(const char *s)
{
	return strlen(s) == KUBEADM_CERT_KEY_LEN && all_of(s, 64, LOWER_HEX);
}

/* host:port, host a DNS name or an IPv4 address, or [IPv6]:port */
static bool endpoint_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	char host[KUBEADM_ENDPOINT_MAX + 1];
	size_t hl;
	char *end;
	long port;
	unsigned char a[16];

	if (!colon || strlen(s) > KUBEADM_ENDPOINT_MAX)
		return false;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535 || colon[1] == '0' || colon[1] == '+')
		return false;
	hl = (size_t)(colon - s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, a) == 1;
	}
	return inet_pton(AF_INET, host, a) == 1 || !k8s_dns_subdomain_invalid(host, 253);
}

/* text as a NUL-terminated copy; an embedded NUL or an over-long line is not the tool's
 * output */
static int text_copy(const char *text, size_t len, const char *what, char **ret,
		     struct errbuf *err)
{
	size_t run = 0;

	if (memchr(text, '\0', len))
		return errbuf_set(err, -EBADMSG, "%s holds a NUL byte", what);
	for (size_t i = 0; i < len; i++) {
		run = text[i] == '\n' ? 0 : run + 1;
		if (run > LINE_MAX_LEN)
			return errbuf_set(err, -EBADMSG, "%s has a line over %u bytes", what, LINE_MAX_LEN);
	}
	*ret = xstrndup(text, len);
	return 0;
}

static int join_field(const char *flag, const char *v, size_t cap, char *dst, bool (*ok)(const char *),
		      struct errbuf *err)
{
	if (!v)
		return errbuf_set(err, -EBADMSG, "the join command's %s has no value", flag);
	if (!ok(v) || strlen(v) > cap)
		return errbuf_set(err, -EBADMSG, "the join command's %s '%.80s' is not in kubeadm's "
				  "format", flag, v);
	if (!*dst)
		memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int parse_join_words(char *line, struct kubeadm_join_cmd *j, struct errbuf *err)
{
	char *save = NULL, *w;
	int r = 0;

	strtok_r(line, " \t\r\\", &save); /* kubeadm */
	strtok_r(NULL, " \t\r\\", &save); /* join */
	while (r >= 0 && (w = strtok_r(NULL, " \t\r\\", &save))) {
		if (strcmp(w, "--token") == 0)
			r = join_field(w, strtok_r(NULL, " \t\r\\", &save), KUBEADM_TOKEN_LEN, j->token,
				       kubeadm_token_valid, err);
		else if (strcmp(w, "--discovery-token-ca-cert-hash") == 0)
			r = join_field(w, strtok_r(NULL, " \t\r\\", &save), KUBEADM_CA_HASH_LEN,
				       j->ca_hash, kubeadm_ca_hash_valid, err);
		else if (strcmp(w, "--certificate-key") == 0) {
			char ignored[KUBEADM_CERT_KEY_LEN + 1] = "";
			r = join_field(w, strtok_r(NULL, " \t\r\\", &save), KUBEADM_CERT_KEY_LEN, ignored,
				       kubeadm_cert_key_valid, err);
			explicit_bzero(ignored, sizeof(ignored));
		} else if (strcmp(w, "--control-plane") == 0)
			continue;
		else if (w[0] != '-' && !j->endpoint[0] && endpoint_valid(w))
			memcpy(j->endpoint, w, strlen(w) + 1);
		else
			r = errbuf_set(err, -EBADMSG, "the join command has an unexpected word '%.80s'", w);
	}
	return r;
}

int kubeadm_parse_join_command(const char *text, size_t len, struct kubeadm_join_cmd *ret,
			       struct errbuf *err)
{
	_cleanup_free_ char *copy = NULL;
	struct kubeadm_join_cmd j = { 0 };
	char *line = NULL, *save = NULL;
	int r = text_copy(text, len, "kubeadm's join command", &copy, err);

	if (r < 0)
		return r;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strncmp(l, "kubeadm join ", 13) == 0)
			line = l;
	if (!line)
		r = errbuf_set(err, -EBADMSG, "kubeadm printed no line 'kubeadm join …'");
	if (r >= 0)
		r = parse_join_words(line, &j, err);
	if (r >= 0 && (!j.endpoint[0] || !j.token[0] || !j.ca_hash[0]))
		r = errbuf_set(err, -EBADMSG, "the join command lacks its %s",
			       !j.endpoint[0] ? "API server endpoint" : !j.token[0] ? "--token" :
			       "--discovery-token-ca-cert-hash");
	if (r >= 0)
		*ret = j;
	explicit_bzero(&j, sizeof(j));
	explicit_bzero(copy, len);
	return r;
}

int kubeadm_parse_upload_certs(const char *text, size_t len, char *ret, struct errbuf *err)
{
	_cleanup_free_ char *copy = NULL;
	char *last = NULL, *save = NULL;
	int r = text_copy(text, len, "kubeadm's upload-certs output", &copy, err);

	if (r < 0)
		return r;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		l[strcspn(l, "\r")] = '\0';
		if (*l)
			last = l;
	}
	if (!last)
		r = errbuf_set(err, -EBADMSG, "kubeadm printed nothing (no certificate key)");
	else if (!kubeadm_cert_key_valid(last))
		r = errbuf_set(err, -EBADMSG, "the last line kubeadm printed is not a certificate key "
			       "(64 lower-case hex digits)");
	else
		memcpy(ret, last, KUBEADM_CERT_KEY_LEN + 1);
	explicit_bzero(copy, len);
	return r;
}

static bool sets_systemd_cgroup(const char *line)
{
	line += strspn(line, " \t");
	if (strncmp(line, "SystemdCgroup", 13) != 0)
		return false;
	line += 13;
	line += strspn(line, " \t");
	if (*line++ != '=')
		return false;
	line += strspn(line, " \t");
	if (strncmp(line, "true", 4) != 0)
		return false;
	line += 4;
	line += strspn(line, " \t\r");
	return *line == '\0' || *line == '#';
}

const char *containerd_cgroup_driver(const char *toml, size_t len)
{
	const char *p = toml, *end = toml + len;
	char line[LINE_MAX_LEN + 1];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n <= LINE_MAX_LEN && !memchr(p, '\0', n)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sets_systemd_cgroup(line))
				return "systemd";
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return "cgroupfs";
}

int kubeadm_ca_hash_of_pem(const char *pem, size_t len, char *ret, struct errbuf *err)
{
	char hex[SHA256_HEX_SIZE];
	unsigned char *der = NULL;
	X509 *x = NULL;
	BIO *b;
	int n, r = -EBADMSG;

	if (len > INT_MAX || !(b = BIO_new_mem_buf(pem, (int)len)))
		return errbuf_set(err, -ENOMEM, "cannot read a certificate of %zu bytes", len);
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (x && (n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der)) > 0 &&
	    sha256_buf(der, (size_t)n, hex) >= 0) {
		snprintf(ret, KUBEADM_CA_HASH_LEN + 1, "sha256:%s", hex);
		r = 0;
	}
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	if (r < 0)
		ERR_clear_error(); /* nothing of this answer may show in a later OpenSSL error */
	return r < 0 ? errbuf_set(err, r, "not a PEM certificate") : 0;
}
