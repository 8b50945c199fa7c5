/* What the CLI checks before it does anything: the store a read-only verb opens is never
 * created, CIRUN_HOME set but empty is refused, --skip-preflight names are known ones,
 * and an SSH key file is a private key. */
#include "helpers.h"

#include <errno.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "cluster.h"
#include "image-store.h"
#include "run.h"

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_store_ro(void **state)
{
	_cleanup_free_ char *home = tmp_path(state, "home");
	struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	struct stat s;

	assert_int_equal(image_store_open_ro(home, &st, &err), -ENOENT);
	assert_null(st);
	assert_non_null(strstr(errbuf_msg(&err), "no image store"));
	assert_int_equal(stat(home, &s), -1); /* nothing was created */

	assert_int_equal(image_store_open(home, &st, &err), 0);
	image_store_close(st);
	st = NULL;
	assert_int_equal(image_store_open_ro(home, &st, &err), 0);
	assert_non_null(st);
	/* a read-only store refuses to write */
	struct blob_writer *w = NULL;
	assert_int_equal(blob_writer_new(st, &w, &err), -EROFS);
	assert_int_equal(image_store_set_ref(st, "a:b", "sha256:0000000000000000000000000000000000000000000000000000000000000000",
					     1, &err), -EROFS);
	image_store_close(st);
}

static void test_empty_home(void **state)
{
	struct image_store *st = NULL;
	struct errbuf err = ERRBUF_INIT;
	const char *old = getenv("CIRUN_HOME");
	_cleanup_free_ char *saved = old ? strdup(old) : NULL;

	(void)state;
	setenv("CIRUN_HOME", "", 1);
	assert_int_equal(image_store_open(NULL, &st, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "CIRUN_HOME is set but empty"));
	errbuf_clear(&err);
	assert_int_equal(image_store_open_ro(NULL, &st, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "CIRUN_HOME is set but empty"));
	assert_null(st);
	if (saved)
		setenv("CIRUN_HOME", saved, 1);
	else
		unsetenv("CIRUN_HOME");
}

static void test_skip_names(void **state)
{
	struct errbuf err = ERRBUF_INIT;

	(void)state;
	assert_int_equal(run_skip_list_check("clock", &err), 0);
	assert_int_equal(run_skip_list_check("hostname,machine-id,clock,arch,systemd,disk,capabilities",
					     &err), 0);
	assert_int_equal(run_skip_list_check("clock,dsk", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "unknown check 'dsk'"));
	assert_non_null(strstr(errbuf_msg(&err), "hostname, machine-id, clock, arch, systemd, disk, capabilities"));
	assert_int_equal(run_skip_list_check("Clock", &err), -EINVAL);
	assert_int_equal(run_skip_list_check("all", &err), -EINVAL);
}

static int check_key(void **state, const char *content, struct errbuf *err)
{
	_cleanup_free_ char *key = tmp_path(state, "key");
	struct cluster c = { 0 };
	struct cluster_host h = { .ip = (char *)"10.0.0.1", .ssh = { .pk_file = key } };

	if (content)
		write_text(key, content);
	c.hosts = &h;
	c.nhosts = 1;
	return cluster_check_files(&c, err);
}

static void test_key_files(void **state)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(check_key(state, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"
				   "-----END OPENSSH PRIVATE KEY-----\n", &err), 0);
	assert_int_equal(check_key(state, "-----BEGIN RSA PRIVATE KEY-----\r\nMIIE\r\n", &err), 0);
	assert_int_equal(check_key(state, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA me@host\n", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "is a public key"));
	assert_non_null(strstr(errbuf_msg(&err), "host 10.0.0.1"));
	assert_int_equal(check_key(state, "PuTTY-User-Key-File-3: ssh-ed25519\n", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "PuTTY"));
	assert_int_equal(check_key(state, "password123\n", &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "not a private key"));
	assert_int_equal(check_key(state, "", &err), -EINVAL);

	_cleanup_free_ char *key = tmp_path(state, "key");
	unlink(key);
	assert_int_equal(check_key(state, NULL, &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "No such file"));
	assert_int_equal(mkdir(key, 0700), 0);
	assert_int_equal(check_key(state, NULL, &err), -EINVAL);
	assert_non_null(strstr(errbuf_msg(&err), "not a regular file"));
	rmdir(key);
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_store_ro),
		cmocka_unit_test(test_empty_home),
		cmocka_unit_test(test_skip_names),
		T(test_key_files),
	};
	return cmocka_run_group_tests_name("cli-checks", tests, NULL, NULL);
}
