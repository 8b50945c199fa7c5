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

static char redacted[8192];
static const char *redact(const char *in)
{
	log_redact(in, redacted, sizeof(redacted));
	return redacted;
}

static void test_mask_long_secret_everywhere(void **state)
{
	(void)state;
	log_add_secret("hunter2");
	assert_string_equal(redact("pw=hunter2 and xhunter2x"), "pw=****** and x******x");
	log_clear_secrets();
	assert_string_equal(redact("pw=hunter2"), "pw=hunter2");
}

/* Short secrets used to be ignored: a 1- or 2-character password was printed as it is. */
static void test_mask_one_char_secret_as_word(void **state)
{
	(void)state;
	log_add_secret("x");
	assert_string_equal(redact("password: x"), "password: ******");
	assert_string_equal(redact("x"), "******");
	assert_string_equal(redact("'x' (x) x=x"), "'******' (******) ******=******");
	/* inside a word it is ordinary text: masking it would spell the secret out */
	assert_string_equal(redact("exit xx x1 _x"), "exit xx x1 _x");
	log_clear_secrets();
}

static void test_mask_two_char_secret(void **state)
{
	(void)state;
	log_add_secret("p!");
	assert_string_equal(redact("sudo: p! rejected; stop!"), "sudo: ****** rejected; stop!");
	log_clear_secrets();
}

static void test_mask_is_idempotent(void **state)
{
	(void)state;
	log_add_secret("*");
	log_add_secret("**");
	assert_string_equal(redact("pw * and **"), "pw ****** and ******");
	char once[64];
	snprintf(once, sizeof(once), "%s", redacted);
	assert_string_equal(redact(once), once);
	log_clear_secrets();
}

static void test_mask_longest_of_overlapping(void **state)
{
	(void)state;
	log_add_secret("abc");
	log_add_secret("abcdef");
	assert_string_equal(redact("[abcdef] [abc]"), "[******] [******]");
	log_clear_secrets();
}

/* There used to be room for 32 secrets, the others were silently not masked. */
static void test_mask_many_secrets(void **state)
{
	char s[32];
	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(s, sizeof(s), "secret-%03d", i);
		log_add_secret(s);
	}
	assert_string_equal(redact("a secret-000 b secret-099 c"), "a ****** b ****** c");
	log_clear_secrets();
}

static void emit_cut_secret(void)
{
	char big[5000];
	memset(big, 'y', 4090);
	snprintf(big + 4090, sizeof(big) - 4090, "SECRETPASSWORD and more");
	log_add_secret("SECRETPASSWORD");
	log_error("%s", big);
	log_clear_secrets();
}

/* A message longer than the line is cut: a secret cut in two must not show its first half. */
static void test_mask_secret_cut_by_truncation(void **state)
{
	(void)state;
	capture(emit_cut_secret);
	assert_null(strstr(captured, "SECRE"));
	/* the line ends in the mask (cut to the line's length in turn) */
	size_t n = strlen(captured);
	assert_true(n > 4000);
	assert_string_equal(captured + n - 4, "***\n");
}

/* A caller that cut a line itself (the run report) says so: the cut secret's beginning
 * at the end is masked, and an uncut line ending in a mere prefix is left alone. */
static void test_redact_cut_by_caller(void **state)
{
	(void)state;
	char out[256];

	log_add_secret("SECRETPASSWORD");
	log_redact_cut("output: SECRETPA", true, out, sizeof(out));
	assert_null(strstr(out, "SECRE"));
	log_redact_cut("output: SECRETPA", false, out, sizeof(out));
	assert_string_equal(out, "output: SECRETPA");
	log_clear_secrets();
}

/* --output json escapes '"' and '\\': the escaped spelling is masked too. */
static void test_json_spelling_masked(void **state)
{
	(void)state;
	char out[256];

	log_add_secret("pa\"ss\\word");
	log_redact("{\"error\":\"login with pa\\\"ss\\\\word failed\"}", out, sizeof(out));
	assert_string_equal(out, "{\"error\":\"login with ****** failed\"}");
	log_redact("raw pa\"ss\\word", out, sizeof(out));
	assert_string_equal(out, "raw ******");
	log_clear_secrets();
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
		cmocka_unit_test(test_mask_long_secret_everywhere),
		cmocka_unit_test(test_mask_one_char_secret_as_word),
		cmocka_unit_test(test_mask_two_char_secret),
		cmocka_unit_test(test_mask_is_idempotent),
		cmocka_unit_test(test_mask_longest_of_overlapping),
		cmocka_unit_test(test_mask_many_secrets),
		cmocka_unit_test(test_mask_secret_cut_by_truncation),
		cmocka_unit_test(test_redact_cut_by_caller),
		cmocka_unit_test(test_json_spelling_masked),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
