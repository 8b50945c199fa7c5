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
#include "known-hosts.h"

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
	};
	return cmocka_run_group_tests_name("known-hosts", tests, NULL, NULL);
}
