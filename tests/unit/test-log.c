#include "helpers.h"

#include <errno.h>
#include <fcntl.h>

#include "buf.h"
#include "log.h"

/* Captures log output through a pipe. */
static char captured[8192];

static void capture(void (*fn)(void))
{
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	log_set_fd(fds[1]);
	fn();
	log_set_fd(STDERR_FILENO);
	close(fds[1]);
	n = read(fds[0], captured, sizeof(captured) - 1);
	captured[n > 0 ? n : 0] = '\0';
	close(fds[0]);
}

static void emit_levels(void)
{
	log_set_max_level(LOG_WARNING);
	log_error("e1");
	log_warning("w1");
	log_info("i1");
	log_debug("d1");
	log_set_max_level(LOG_INFO);
}

static void test_level_filter(void **state)
{
	(void)state;
	capture(emit_levels);
	assert_string_equal(captured, "e1\nw1\n");
}

static void emit_host(void)
{
	log_host(LOG_ERR, "10.0.0.1", "phase %s failed\n\n", "init");
}

static void test_host_prefix_and_single_newline(void **state)
{
	(void)state;
	capture(emit_host);
	assert_string_equal(captured, "[10.0.0.1] phase init failed\n");
}

static void emit_journal(void)
{
	log_set_journal_prefix(true);
	log_notice("hello");
	log_set_journal_prefix(false);
}

static void test_journal_prefix(void **state)
{
	(void)state;
	capture(emit_journal);
	assert_string_equal(captured, "<5>hello\n");
}

static int ret_value;
static void emit_errno(void)
{
	ret_value = log_error_errno(ENOENT, "open 'x': %m");
	assert_int_equal(log_error_errno(-EACCES, "second"), -EACCES);
}

static void test_errno_return_and_percent_m(void **state)
{
	(void)state;
	capture(emit_errno);
	assert_int_equal(ret_value, -ENOENT);
	char want[256];
	snprintf(want, sizeof(want), "open 'x': %s\nsecond\n", strerror(ENOENT));
	assert_string_equal(captured, want);
}

static void emit_huge(void)
{
	char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_error("%s", big);
}

static void test_truncated_line_still_ends(void **state)
{
	(void)state;
	capture(emit_huge);
	size_t n = strlen(captured);
	assert_true(n > 1000);
	assert_int_equal(captured[n - 1], '\n');
	assert_null(strchr(captured, '\n') == captured + n - 1 ? NULL : "two lines");
}

static void test_level_from_string(void **state)
{
	(void)state;
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("error"), LOG_ERR);
	assert_int_equal(log_level_from_string("warn"), LOG_WARNING);
	assert_int_equal(log_level_from_string("3"), 3);
	assert_int_equal(log_level_from_string("8"), -EINVAL);
	assert_int_equal(log_level_from_string("loud"), -EINVAL);
	assert_int_equal(log_level_from_string(""), -EINVAL);
	assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_host_prefix_and_single_newline),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_errno_return_and_percent_m),
		cmocka_unit_test(test_truncated_line_still_ends),
		cmocka_unit_test(test_level_from_string),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
