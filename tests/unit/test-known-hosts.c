/* known_hosts on fixture files (tests/fixtures/known-hosts/): a host known under any key
 * type is accepted only with a key it is known by; the expected fingerprints are the ones
 * `ssh-keygen -l` printed for the fixture keys. */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "buf.h"
#include "cleanup.h"
#include "known-hosts-line.h"
#include "known-hosts.h"
#include "macro.h"

#define FIX "tests/fixtures/known-hosts/"
#define FP_ED25519 "SHA256:jUmOtTT7UC5rF4pnq4mGxlsNBhd70rsWaCixW53I+c4 (ED25519)"
#define FP_OTHER "SHA256:kknCDMn/TziVz3AjKgfXdsoBMlw+n4iRpC2PZjvAaiY (ED25519)"
#define FP_ECDSA "SHA256:FHsvUwe5sZ2boIgX5LmnIGwCFHrZsvPy10IXWWdBg9o (ECDSA)"
#define FP_RSA "SHA256:thGVsdYr6UnIpg4Tvy69LdcG8Bl3ImnwERMDXbpvh3w (RSA)"

struct key {
	unsigned char blob[1024];
	size_t len;
	char line[2048]; /* "TYPE BASE64" as in the .pub file */
};

static void load_key(const char *name, struct key *k)
{
	char path[256];
	struct buf b = BUF_INIT(4096);

	snprintf(path, sizeof(path), FIX "%s.pub", name);
	assert_int_equal(buf_read_file(&b, path), 0);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = '\0';
	snprintf(k->line, sizeof(k->line), "%s", b.data);
	const char *b64 = strchr(b.data, ' ') + 1;
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	int n = 0, fin = 0;
	EVP_DecodeInit(ctx);
	assert_true(EVP_DecodeUpdate(ctx, k->blob, &n, (const unsigned char *)b64, (int)strlen(b64)) >= 0);
	assert_true(EVP_DecodeFinal(ctx, k->blob + n, &fin) >= 0);
	EVP_ENCODE_CTX_free(ctx);
	k->len = (size_t)(n + fin);
	buf_release(&b);
}

static char *slurp(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);
	assert_int_equal(buf_read_file(&b, path), 0);
	return buf_detach(&b, NULL);
}

/* Copies fixture name to DIR/known_hosts and returns that path. */
static char *install(void **state, const char *name)
{
	char *dst = tmp_path(state, "known_hosts");
	char src[256];
	snprintf(src, sizeof(src), FIX "%s", name);
	char *data = slurp(src);
	FILE *f = fopen(dst, "w");
	assert_non_null(f);
	fputs(data, f);
	fclose(f);
	free(data);
	return dst;
}

/* Only known_hosts itself is in the directory: no lock file, no temporary file. */
static void assert_alone(void **state)
{
	DIR *d = opendir(*state);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			assert_string_equal(e->d_name, "known_hosts");
	closedir(d);
}

static int check(const char *path, const char *host, unsigned port, const char *keyname,
		 struct errbuf *err)
{
	struct key k;
	load_key(keyname, &k);
	errbuf_clear(err);
	return known_hosts_check(path, host, port, k.blob, k.len, err);
}

static void test_fingerprint_as_openssh(void **state)
{
	struct key k;
	char fp[80];
	(void)state;
	load_key("ecdsa", &k);
	known_hosts_fingerprint(k.blob, k.len, fp, sizeof(fp));
	assert_string_equal(fp, "SHA256:FHsvUwe5sZ2boIgX5LmnIGwCFHrZsvPy10IXWWdBg9o");
}

static void test_new_host_is_recorded(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	struct errbuf err = ERRBUF_INIT;
	struct key k;

	/* no file yet: created, 0600, one line */
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
	load_key("ed25519", &k);
	char want[2200];
	snprintf(want, sizeof(want), "10.0.0.1 %s\n", k.line);
	_cleanup_free_ char *got = slurp(path);
	assert_string_equal(got, want);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_alone(state);
	/* and known from now on */
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 22, "ecdsa", &err), -EKEYREJECTED);
}

static void test_new_host_keeps_other_lines(void **state)
{
	_cleanup_free_ char *path = install(state, "plain");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;
	struct key k;

	assert_int_equal(check(path, "10.0.0.2", 22, "ecdsa", &err), KNOWN_HOSTS_ADDED);
	load_key("ecdsa", &k);
	_cleanup_free_ char *after = slurp(path);
	char *want = NULL;
	assert_true(asprintf(&want, "%s10.0.0.2 %s\n", before, k.line) > 0);
	assert_string_equal(after, want); /* comments, blank lines and comments of keys kept */
	free(want);
	assert_alone(state);
}

static void test_same_key_matches(void **state)
{
	_cleanup_free_ char *path = install(state, "plain");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	/* one of several names of a line */
	assert_int_equal(check(path, "web", 22, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.5", 0, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
	assert_alone(state);
}

static void test_other_key_same_type_refused(void **state)
{
	_cleanup_free_ char *path = install(state, "plain");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519-other", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "host key of 10.0.0.1:22 has changed: known "
					  FP_ED25519 "; now " FP_OTHER ". "));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
}

/* The hole this closes: a host known by its ED25519 key that now offers ECDSA was taken
 * as a new host and its ECDSA key recorded. */
static void test_other_key_type_refused(void **state)
{
	_cleanup_free_ char *path = install(state, "plain");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.1", 22, "ecdsa", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_ECDSA ". "));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before); /* no second trust on first use */
	assert_alone(state);
	/* a second try is refused just the same */
	assert_int_equal(check(path, "10.0.0.1", 22, "ecdsa", &err), -EKEYREJECTED);
}

static void test_every_known_key_is_named(void **state)
{
	_cleanup_free_ char *path = install(state, "two-types");
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.1", 22, "rsa", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 22, "ecdsa", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 ", " FP_RSA "; now " FP_ECDSA));
}

static void test_hashed_entries(void **state)
{
	_cleanup_free_ char *path = install(state, "hashed");
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519-other", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_OTHER));
	assert_int_equal(check(path, "10.0.0.1", 22, "ecdsa", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_ECDSA));
	/* a hashed "[host]:port" */
	assert_int_equal(check(path, "10.0.0.1", 2222, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 2222, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "host key of 10.0.0.1:2222 has changed: known "
					  FP_ECDSA "; now " FP_ED25519));
	assert_int_equal(check(path, "10.0.0.9", 22, "ed25519-other", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.9", 22, "rsa", &err), -EKEYREJECTED);
	assert_alone(state);
}

static void test_port_entries(void **state)
{
	_cleanup_free_ char *path = install(state, "port");
	struct errbuf err = ERRBUF_INIT;
	struct key k;

	/* [10.0.0.1]:2222 has one key, port 22 another: each port by its own entry */
	assert_int_equal(check(path, "10.0.0.1", 2222, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519-other", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.1", 2222, "ed25519-other", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_OTHER));
	assert_int_equal(check(path, "10.0.0.1", 2222, "ecdsa", &err), -EKEYREJECTED);
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_OTHER "; now " FP_ED25519));
	/* another port is another host, as for OpenSSH, and is recorded as [host]:port */
	assert_int_equal(check(path, "10.0.0.1", 2200, "ecdsa", &err), KNOWN_HOSTS_ADDED);
	load_key("ecdsa", &k);
	_cleanup_free_ char *after = slurp(path);
	char want[2200];
	snprintf(want, sizeof(want), "\n[10.0.0.1]:2200 %s\n", k.line);
	assert_non_null(strstr(after, want));
	assert_int_equal(check(path, "10.0.0.1", 2200, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	assert_alone(state);
}

static void test_broken_file_refused_and_kept(void **state)
{
	_cleanup_free_ char *path = install(state, "broken");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "known_hosts:2: "));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
}

static void test_unterminated_last_line(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	struct errbuf err = ERRBUF_INIT;
	struct key k;

	load_key("ed25519", &k);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "10.0.0.1 %s", k.line);
	fclose(f);
	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
}

static const char *const supported[] = {
	"ecdsa-sha2-nistp256", "ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa",
};

/* A host known by ED25519 that has an ECDSA key too is asked for its ED25519 one first
 * (libssh2's own order puts ECDSA first, which would be refused as a changed key). */
static void test_known_key_types_asked_first(void **state)
{
	(void)state;
	_cleanup_free_ char *p1 = known_hosts_hostkey_prefs(FIX "plain", "10.0.0.1", 22, supported, 5);
	assert_string_equal(p1, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	_cleanup_free_ char *p2 = known_hosts_hostkey_prefs(FIX "two-types", "10.0.0.1", 0, supported, 5);
	assert_string_equal(p2, "ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256");
	_cleanup_free_ char *p3 = known_hosts_hostkey_prefs(FIX "hashed", "10.0.0.1", 22, supported, 5);
	assert_string_equal(p3, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	_cleanup_free_ char *p4 = known_hosts_hostkey_prefs(FIX "hashed", "10.0.0.1", 2222, supported, 5);
	assert_string_equal(p4, "ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	/* unknown host, missing file: libssh2's order */
	assert_null(known_hosts_hostkey_prefs(FIX "plain", "10.0.0.2", 22, supported, 5));
	assert_null(known_hosts_hostkey_prefs(FIX "missing", "10.0.0.1", 22, supported, 5));
}

/* Several cirun processes recording hosts at once: the lock and the re-check of a file
 * replaced while waiting make every one of them land. */
static void test_concurrent_writers_all_recorded(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	struct errbuf err = ERRBUF_INIT;
	enum { N = 8 };
	pid_t pids[N];

	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char host[32];
			snprintf(host, sizeof(host), "10.0.1.%d", i);
			_exit(check(path, host, 22, "ed25519", &err) == KNOWN_HOSTS_ADDED ? 0 : 1);
		}
	}
	for (int i = 0; i < N; i++) {
		int status = -1;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	for (int i = 0; i < N; i++) {
		char host[32];
		snprintf(host, sizeof(host), "10.0.1.%d", i);
		assert_int_equal(check(path, host, 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	}
	assert_alone(state);
}

/* The lines below apply as OpenSSH applies them: libssh2 took markers and patterns for
 * host names (a revoked key was accepted, "10.1.1.*" never matched). */
static void test_revoked_key_alone_is_refused(void **state)
{
	_cleanup_free_ char *path = install(state, "revoked");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.1.1.1", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "host key of 10.1.1.1:22 is revoked: " FP_ED25519
					  " is marked @revoked in "));
	assert_non_null(strstr(errbuf_msg(&err), "(line 2)"));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before); /* never recorded */
	/* a revoked line does not make the host known: another key is a first use */
	assert_int_equal(check(path, "10.1.1.1", 22, "ecdsa", &err), KNOWN_HOSTS_ADDED);
	assert_int_equal(check(path, "10.1.1.1", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "revoked"));
	assert_alone(state);
}

static void test_revoked_wins_over_a_plain_line(void **state)
{
	_cleanup_free_ char *path = install(state, "revoked-wildcard");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.1.1.1", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "is revoked: " FP_ED25519));
	assert_int_equal(check(path, "10.1.1.1", 22, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	/* "*": every host, on every port */
	assert_int_equal(check(path, "10.9.9.9", 22, "ed25519", &err), -EKEYREJECTED);
	assert_int_equal(check(path, "10.9.9.9", 2222, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "host key of 10.9.9.9:2222 is revoked"));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
}

static void test_wildcard_patterns(void **state)
{
	_cleanup_free_ char *path = install(state, "wildcard");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	/* known by "10.1.1.*" with ECDSA: ED25519 is a changed key, not a first use */
	assert_int_equal(check(path, "10.1.1.7", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "host key of 10.1.1.7:22 has changed: known "
					  FP_ECDSA "; now " FP_ED25519 ". "));
	assert_int_equal(check(path, "10.1.1.7", 22, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	/* '?' is one character */
	assert_int_equal(check(path, "node1", 22, "ed25519-other", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "node1", 22, "ed25519", &err), -EKEYREJECTED);
	/* "[10.1.2.*]:2222" on that port only */
	assert_int_equal(check(path, "10.1.2.3", 2222, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "10.1.2.3", 2222, "ecdsa", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_ECDSA));
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
	/* and nothing more than the pattern says */
	assert_int_equal(check(path, "10.1.10.1", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
	assert_int_equal(check(path, "node12", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
	assert_int_equal(check(path, "10.1.2.3", 22, "ecdsa", &err), KNOWN_HOSTS_ADDED);
	assert_alone(state);
}

static void test_negated_pattern(void **state)
{
	_cleanup_free_ char *path = install(state, "negated");
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "10.1.1.2", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ECDSA "; now " FP_ED25519));
	assert_int_equal(check(path, "10.1.1.2", 22, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	/* "!10.1.1.1": the line does not apply to it at all */
	assert_int_equal(check(path, "10.1.1.1", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
	assert_int_equal(check(path, "10.1.1.1", 22, "ecdsa", &err), -EKEYREJECTED);
}

static void test_cert_authority_is_no_plain_key(void **state)
{
	_cleanup_free_ char *path = install(state, "cert-authority");
	_cleanup_free_ char *before = slurp(path);
	struct errbuf err = ERRBUF_INIT;

	/* known only through a CA: refused, saying so, not trusted on first use */
	assert_int_equal(check(path, "node1.example.com", 22, "ed25519", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "node1.example.com:22 is known only through a "
					  "@cert-authority line of "));
	assert_non_null(strstr(errbuf_msg(&err), "does not check host certificates"));
	/* the CA key of 10.1.1.1 is not one of its keys */
	assert_int_equal(check(path, "10.1.1.1", 22, "ecdsa", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "has changed: known " FP_ED25519 "; now " FP_ECDSA
					  ". "));
	assert_int_equal(check(path, "10.1.1.1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	_cleanup_free_ char *after = slurp(path);
	assert_string_equal(after, before);
	assert_int_equal(check(path, "10.1.1.2", 22, "ed25519", &err), KNOWN_HOSTS_ADDED);
}

/* OpenSSH lowercases the name it looks up: "-m node1" is the host of a "NODE1" line. */
static void test_names_without_regard_to_case(void **state)
{
	_cleanup_free_ char *path = install(state, "uppercase");
	struct errbuf err = ERRBUF_INIT;
	struct key k;

	assert_int_equal(check(path, "node1", 22, "ed25519-other", &err), -EKEYREJECTED);
	assert_non_null(strstr(errbuf_msg(&err), "known " FP_ED25519 "; now " FP_OTHER));
	assert_int_equal(check(path, "node1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "Node1", 22, "ed25519", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "WEB3", 22, "ecdsa", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "web3", 22, "ed25519", &err), -EKEYREJECTED);
	/* the hashed line was written for "node2" */
	assert_int_equal(check(path, "NODE2", 22, "ed25519-other", &err), KNOWN_HOSTS_MATCH);
	assert_int_equal(check(path, "NODE2", 22, "ed25519", &err), -EKEYREJECTED);
	/* recorded lowercase, so that ssh finds it too */
	assert_int_equal(check(path, "NODE9", 2222, "ed25519", &err), KNOWN_HOSTS_ADDED);
	load_key("ed25519", &k);
	_cleanup_free_ char *after = slurp(path);
	char want[2200];
	snprintf(want, sizeof(want), "\n[node9]:2222 %s\n", k.line);
	assert_non_null(strstr(after, want));
	assert_int_equal(check(path, "node9", 2222, "ed25519-other", &err), -EKEYREJECTED);
}

/* Writes content to DIR/known_hosts. */
static char *write_hosts(void **state, const char *content)
{
	char *path = tmp_path(state, "known_hosts");
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

/* A line we cannot read fails the file, naming the line: skipping it could skip a
 * @revoked line. */
static void test_bad_lines_refused(void **state)
{
	struct key ed, ec;
	load_key("ed25519", &ed);
	load_key("ecdsa", &ec);
	const char *ed_b64 = strchr(ed.line, ' ') + 1;
	char *lines[] = {
		xasprintf("@revokd 10.1.1.1 %s\n", ed.line),
		xasprintf("@revoked %s\n", ed.line),
		xasprintf("|1|abc|def %s\n", ed.line),
		xasprintf("|2|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|4laHx1mOZGOf+J6rPq6sFwbKiVE= %s\n", ed.line),
		xasprintf("10.1.1.1,,10.1.1.2 %s\n", ed.line),
		xasprintf("!,10.1.1.2 %s\n", ed.line),
		xasprintf("10.1.1.1 ecdsa-sha2-nistp256 %s\n", ed_b64), /* blob of another type */
		xasprintf("10.1.1.1 ssh-ed25519 %.40s\n", ed_b64),	  /* truncated base64 */
		xasprintf("10.1.1.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5\n"), /* no key after the name */
		NULL, /* trailing bytes after the key: below */
		NULL, /* too long, with its comment: below */
	};
	unsigned char tail[sizeof(ed.blob) + 2] = { 0 };
	char b64[sizeof(tail) * 2];
	memcpy(tail, ed.blob, ed.len);
	EVP_EncodeBlock((unsigned char *)b64, tail, (int)ed.len + 2);
	lines[ELEMENTSOF(lines) - 2] = xasprintf("10.1.1.1 ssh-ed25519 %s\n", b64);
	char *pad = xmalloc(KH_LINE_MAX + 1);
	memset(pad, 'c', KH_LINE_MAX);
	pad[KH_LINE_MAX] = '\0';
	lines[ELEMENTSOF(lines) - 1] = xasprintf("10.1.1.1 %s %s\n", ed.line, pad);
	free(pad);

	for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
		char *content = xasprintf("10.1.1.9 %s\n%s", ec.line, lines[i]);
		_cleanup_free_ char *path = write_hosts(state, content);
		struct errbuf err = ERRBUF_INIT;

		int r = check(path, "10.1.1.1", 22, "ed25519", &err);
		if (r != -EBADMSG)
			print_error("line %zu: %d %s\n", i, r, errbuf_msg(&err));
		assert_int_equal(r, -EBADMSG);
		assert_non_null(strstr(errbuf_msg(&err), "known_hosts:2: "));
		assert_non_null(strstr(errbuf_msg(&err), "fix or remove that line"));
		_cleanup_free_ char *after = slurp(path);
		assert_string_equal(after, content);
		free(content);
		free(lines[i]);
	}
}

static void test_host_names_that_a_line_cannot_hold(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check(path, "a,b", 22, "ed25519", &err), -EINVAL);
	assert_int_equal(check(path, "*", 22, "ed25519", &err), -EINVAL);
	assert_int_equal(check(path, "a b", 22, "ed25519", &err), -EINVAL);
	assert_int_equal(check(path, "", 22, "ed25519", &err), -EINVAL);
}

/* known_hosts is cirun's own file: a link there is refused, never followed or replaced. */
static void test_symlink_refused(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	_cleanup_free_ char *real = tmp_path(state, "real");
	_cleanup_free_ char *nowhere = tmp_path(state, "nowhere");
	struct errbuf err = ERRBUF_INIT;
	struct key k;
	struct stat st;

	load_key("ed25519", &k);
	FILE *f = fopen(real, "w");
	assert_non_null(f);
	fprintf(f, "10.0.0.1 %s\n", k.line);
	fclose(f);
	_cleanup_free_ char *before = slurp(real);
	assert_int_equal(symlink(real, path), 0);
	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), -ELOOP);
	assert_non_null(strstr(errbuf_msg(&err), "is a symbolic link"));
	assert_int_equal(check(path, "10.0.0.1", 22, "ed25519", &err), -ELOOP);
	assert_null(known_hosts_hostkey_prefs(path, "10.0.0.1", 22, supported, 5));
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode)); /* still the link */
	_cleanup_free_ char *after = slurp(real);
	assert_string_equal(after, before);

	/* a dangling link creates nothing where it points */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(nowhere, path), 0);
	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), -ELOOP);
	assert_int_equal(lstat(nowhere, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	unlink(path);
	unlink(real);
}

static void test_not_a_regular_file(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "known_hosts");
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(check(path, "10.0.0.2", 22, "ed25519", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "not a regular file"));
	unlink(path);
}

/* Only the plain lines that apply count for the order; revoked and CA keys do not. */
static void test_prefs_follow_patterns_and_markers(void **state)
{
	(void)state;
	_cleanup_free_ char *p1 = known_hosts_hostkey_prefs(FIX "wildcard", "10.1.1.7", 22, supported, 5);
	assert_string_equal(p1, "ecdsa-sha2-nistp256,ssh-ed25519,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	_cleanup_free_ char *p2 = known_hosts_hostkey_prefs(FIX "wildcard", "10.1.2.3", 2222, supported, 5);
	assert_string_equal(p2, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	_cleanup_free_ char *p3 = known_hosts_hostkey_prefs(FIX "uppercase", "NODE1", 22, supported, 5);
	assert_string_equal(p3, "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256,ssh-rsa");
	assert_null(known_hosts_hostkey_prefs(FIX "revoked-wildcard", "10.1.1.2", 22, supported, 5));
	assert_null(known_hosts_hostkey_prefs(FIX "negated", "10.1.1.1", 22, supported, 5));
	assert_null(known_hosts_hostkey_prefs(FIX "cert-authority", "node1.example.com", 22, supported, 5));
}

/* The matcher alone: OpenSSH's wildcards, case folded, the whole name. */
static void test_pattern_match(void **state)
{
	(void)state;
#define M(p, s) kh_pattern_match(p, strlen(p), s, strlen(s))
	assert_true(M("*", ""));
	assert_true(M("*", "anything"));
	assert_true(M("10.1.1.*", "10.1.1.200"));
	assert_false(M("10.1.1.*", "10.1.10.1"));
	assert_true(M("node?", "node1"));
	assert_false(M("node?", "node"));
	assert_false(M("node?", "node12"));
	assert_true(M("*.Example.COM", "a.b.example.com"));
	assert_true(M("[10.1.2.*]:2222", "[10.1.2.3]:2222"));
	assert_false(M("[10.1.2.*]:2222", "[10.1.2.3]:22"));
	assert_true(M("a*b*c", "aXXbYYbZZc"));
	assert_false(M("a*b*c", "aXXbYYbZZ"));
	assert_false(M("abc", "ab"));
	assert_false(M("ab", "abc"));
	assert_true(M("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_false(M("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
#undef M
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint_as_openssh),
		cmocka_unit_test_setup_teardown(test_new_host_is_recorded, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_new_host_keeps_other_lines, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_same_key_matches, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_other_key_same_type_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_other_key_type_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_every_known_key_is_named, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_hashed_entries, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_port_entries, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_broken_file_refused_and_kept, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_last_line, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_known_key_types_asked_first),
		cmocka_unit_test_setup_teardown(test_concurrent_writers_all_recorded, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_revoked_key_alone_is_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_revoked_wins_over_a_plain_line, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_wildcard_patterns, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_negated_pattern, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_cert_authority_is_no_plain_key, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_names_without_regard_to_case, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_host_names_that_a_line_cannot_hold, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_not_a_regular_file, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_prefs_follow_patterns_and_markers),
		cmocka_unit_test(test_pattern_match),
	};
	return cmocka_run_group_tests_name("known-hosts", tests, NULL, NULL);
}
