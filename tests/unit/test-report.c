/* The run report: --output json lines carry no secret in any spelling, a log message in
 * JSON mode does not deadlock on the log's own lock, and the summary column masks a secret
 * before cutting the error to its width. stdout is captured through a pipe. */
#include "helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "log.h"
#include "report.h"

static char captured[1 << 16];

/* Runs fn with stdout into a pipe; a deadlock ends the test through SIGALRM. */
static void capture_stdout(void (*fn)(const char *home), const char *home)
{
	int p[2], saved;
	ssize_t n, total = 0;

	fflush(stdout);
	assert_int_equal(pipe(p), 0);
	saved = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	alarm(20);
	fn(home);
	alarm(0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	while ((n = read(p[0], captured + total, sizeof(captured) - 1 - (size_t)total)) > 0)
		total += n;
	captured[total] = '\0';
	close(p[0]);
}

static void json_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(report_open(home, "demo", true, &err), 0);
	log_add_secret("pa\"ss");
	log_notice("init.sh env: Version=v-pa\"ss-x");
	report_text("plan with pa\"ss inside");
	report_host_result("10.0.0.1", "master0", 3, false, 1.0, 0, "login with pa\"ss refused");
	report_close();
	log_clear_secrets();
}

static void test_json_masked_no_deadlock(void **state)
{
	capture_stdout(json_run, *state);
	assert_non_null(strstr(captured, "\"event\":\"log\""));
	assert_non_null(strstr(captured, "\"event\":\"host\""));
	assert_null(strstr(captured, "pa\"ss"));
	assert_null(strstr(captured, "pa\\\"ss"));
	assert_non_null(strstr(captured, "Version=v-******-x"));
}

static void summary_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;
	char error[400];

	assert_int_equal(report_open(home, "demo", false, &err), 0);
	log_add_secret("SECRETPASSWORD");
	/* the secret straddles the summary column's 160-byte cut */
	memset(error, 'e', 151);
	snprintf(error + 151, sizeof(error) - 151, "SECRETPASSWORD and the rest");
	report_host_result("10.0.0.1", "master0", 3, false, 1.0, 0, error);
	report_close();
	log_clear_secrets();
}

static void test_summary_masks_before_cutting(void **state)
{
	capture_stdout(summary_run, *state);
	assert_non_null(strstr(captured, "FAILED"));
	assert_null(strstr(captured, "SECR"));
}

static void host_phase_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(report_open(home, "demo", true, &err), 0);
	report_host_phase("10.0.0.2", "setup", true, 1234);
	report_host_phase("10.0.0.2", "init", false, 5);
	report_close();
}

/* Each host's path through the phases, in order, in JSON (and the run log). */
static void test_host_phase_events(void **state)
{
	capture_stdout(host_phase_run, *state);
	const char *a = strstr(captured, "\"event\":\"host-phase\",\"host\":\"10.0.0.2\","
				"\"phase\":\"setup\",\"ok\":true,\"duration_ms\":1234");
	const char *b = strstr(captured, "\"phase\":\"init\",\"ok\":false,\"duration_ms\":5");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_json_masked_no_deadlock, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_summary_masks_before_cutting, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_host_phase_events, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
