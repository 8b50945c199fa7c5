#include "helpers.h"

#include <errno.h>
#include <regex.h>

#include "cleanup.h"
#include "facts.h"

static void test_os_release(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "os-release");
	char *v = NULL;
	FILE *f = fopen(path, "w");

	fputs("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=Debian\nVERSION_ID='12'\n"
	      "ID=debian\nIDX=wrong\n", f);
	fclose(f);
	assert_int_equal(os_release_get(path, "ID", &v), 0);
	assert_string_equal(v, "debian");
	free(v);
	assert_int_equal(os_release_get(path, "VERSION_ID", &v), 0);
	assert_string_equal(v, "12");
	free(v);
	assert_int_equal(os_release_get(path, "PRETTY_NAME", &v), 0);
	assert_string_equal(v, "Debian GNU/Linux 12 (bookworm)");
	free(v);
	assert_int_equal(os_release_get(path, "VERSION", &v), -ENOENT);
	assert_int_equal(os_release_get("/nonexistent", "ID", &v), -ENOENT);
}

static void expect_os(const char *file, const char *id, const char *version)
{
	char path[256], *v = NULL;

	snprintf(path, sizeof(path), "tests/fixtures/os-release/%s", file);
	assert_int_equal(os_release_get(path, "ID", &v), 0);
	assert_string_equal(v, id);
	free(v);
	assert_int_equal(os_release_get(path, "VERSION_ID", &v), 0);
	assert_string_equal(v, version);
	free(v);
}

static void test_os_release_real_files(void **state)
{
	(void)state;
	expect_os("debian-12", "debian", "12");
	expect_os("ubuntu-22.04", "ubuntu", "22.04");
	expect_os("centos-7", "centos", "7");
	expect_os("alpine-noeol", "alpine", "3.19.1");
}

static void test_collect_shape(void **state)
{
	(void)state;
	_cleanup_(ynode_freep) struct ynode *f = NULL;
	char host[256] = "";
	regex_t re;

	assert_int_equal(facts_collect(&f), 0);
	gethostname(host, sizeof(host) - 1);
	assert_string_equal(ynode_str(ynode_get(f, "hostname")), host);
	assert_non_null(ynode_str(ynode_get(f, "arch")));
	assert_non_null(ynode_str(ynode_get(f, "kernel")));
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
				 REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, ynode_str(ynode_get(f, "time")), 0, NULL, 0), 0);
	regfree(&re);
	/* systemd: either reachable with a version, or not with the reason */
	bool bus;
	assert_int_equal(ynode_get_bool(ynode_get(f, "systemd.bus"), &bus), 0);
	if (bus)
		assert_non_null(ynode_str(ynode_get(f, "systemd.version")));
	else
		assert_non_null(ynode_str(ynode_get(f, "systemd.error")));
	int64_t free_bytes;
	assert_int_equal(ynode_get_int(ynode_get(f, "var_lib_free_bytes"), &free_bytes), 0);
	assert_true(free_bytes > 0);
	assert_int_equal(ynode_kind(ynode_get(f, "capabilities")), YNODE_SEQ);
	if (geteuid() == 0) {
		bool chown_found = false;
		for (size_t i = 0; i < ynode_len(ynode_get(f, "capabilities")); i++)
			if (strcmp(ynode_str(ynode_seq_at(ynode_get(f, "capabilities"), i)), "cap_chown") == 0)
				chown_found = true;
		assert_true(chown_found);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_os_release, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_os_release_real_files),
		cmocka_unit_test(test_collect_shape),
	};
	return cmocka_run_group_tests_name("facts", tests, NULL, NULL);
}
