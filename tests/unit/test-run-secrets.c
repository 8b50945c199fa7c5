/* The installer's hold on secrets: the password leaves the environment before anything can
 * start a child, -p's argv copy is overwritten, core dumps and ptrace are off. Each verb is
 * called with arguments that fail right after the options are read (no -m, no file). */
#include "helpers.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include "cmd-run.h"

static void assert_wiped(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(p[i], '\0');
}

/* What a child started after the verb sees of CIRUN_SSH_PASSWORD. */
static void assert_child_sees_no_password(void)
{
	char line[128] = "";
	FILE *f = popen("echo \"${CIRUN_SSH_PASSWORD-unset}\"", "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	assert_string_equal(line, "unset\n");
}

static void assert_protected(void)
{
	struct rlimit rl;
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
}

static void test_run_takes_env_password(void **state)
{
	char a0[] = "run", a1[] = "img:v1";
	char *argv[] = { a0, a1, NULL };
	(void)state;

	assert_int_equal(setenv("CIRUN_SSH_PASSWORD", "env-secret-1", 1), 0);
	char *value = getenv("CIRUN_SSH_PASSWORD");
	assert_int_equal(cmd_run(2, argv), 2); /* no -m */
	assert_null(getenv("CIRUN_SSH_PASSWORD"));
	assert_wiped(value, strlen("env-secret-1")); /* glibc keeps setenv's strings */
	assert_child_sees_no_password();
	assert_protected();
}

/* -p wins over the environment, which is cleared all the same. */
static void test_run_clears_env_when_p_given(void **state)
{
	char a0[] = "run", a1[] = "-p", a2[] = "argv-secret", a3[] = "img:v1";
	char *argv[] = { a0, a1, a2, a3, NULL };
	(void)state;

	assert_int_equal(setenv("CIRUN_SSH_PASSWORD", "env-secret-2", 1), 0);
	assert_int_equal(cmd_run(4, argv), 2);
	assert_null(getenv("CIRUN_SSH_PASSWORD"));
	assert_child_sees_no_password();
	assert_wiped(a2, sizeof(a2) - 1); /* out of ps */
}

static void test_apply_takes_env_password(void **state)
{
	char a0[] = "apply", a1[] = "-f", a2[] = "/nonexistent/Clusterfile";
	char *argv[] = { a0, a1, a2, NULL };
	(void)state;

	assert_int_equal(setenv("CIRUN_SSH_PASSWORD", "env-secret-3", 1), 0);
	char *value = getenv("CIRUN_SSH_PASSWORD");
	assert_int_equal(cmd_apply(3, argv), 2);
	assert_null(getenv("CIRUN_SSH_PASSWORD"));
	assert_wiped(value, strlen("env-secret-3"));
	assert_child_sees_no_password();
	assert_protected();
}

static int restore_dumpable(void **state)
{
	(void)state;
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_run_takes_env_password, restore_dumpable),
		cmocka_unit_test_teardown(test_run_clears_env_when_p_given, restore_dumpable),
		cmocka_unit_test_teardown(test_apply_takes_env_password, restore_dumpable),
	};
	return cmocka_run_group_tests_name("run-secrets", tests, NULL, NULL);
}
