/* A step's command ends when its shell exits: daemons it starts keep running (and keep
 * the pipes open) but do not hold the step; the timeout kills a hung script's group. */
#include "helpers.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "buf.h"
#include "exec.h"

struct collected {
	struct buf out;
};

static int collect(void *data, int stream, const void *buf, size_t n)
{
	struct collected *c = data;
	(void)stream;
	return buf_append(&c->out, buf, n);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool alive(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	/* "pid (comm) S …": a zombie is not running */
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = 0;
	fclose(f);
	return state && state != 'Z' && state != 'X';
}

/* Runs script in the test's scratch dir; returns the seconds it took. */
static double run(void **state, const char *script, unsigned timeout, struct collected *c,
		  struct exec_result *res)
{
	struct errbuf err = ERRBUF_INIT;
	double t0 = now_s();

	buf_reset(&c->out);
	assert_int_equal(exec_command(script, *state, NULL, 0, timeout, collect, c, res, &err), 0);
	return now_s() - t0;
}

/* The daemon's PID, as the script printed it on a line "pid N". */
static pid_t daemon_pid(const struct collected *c)
{
	const char *p = strstr(c->out.data, "pid ");
	assert_non_null(p);
	return (pid_t)atoi(p + 4);
}

static void check_daemon_kept(struct collected *c)
{
	pid_t pid = daemon_pid(c);
	assert_true(pid > 1);
	assert_true(alive(pid));
	kill(pid, SIGKILL);
}

static void test_background_daemon(void **state)
{
	struct collected c = { BUF_INIT(1 << 20) };
	struct exec_result res;

	double took = run(state, "sleep 300 & echo pid $!; exit 3", 60, &c, &res);
	assert_true(took < 5);
	assert_int_equal(res.exit_code, 3);
	assert_false(res.timed_out);
	check_daemon_kept(&c);
	buf_release(&c.out);
}

static void test_setsid_and_nohup(void **state)
{
	struct collected c = { BUF_INIT(1 << 20) };
	struct exec_result res;

	/* a new session, out of the step's process group */
	double took = run(state, "setsid -f sh -c 'echo pid $$; exec sleep 300'; exit 3", 60, &c, &res);
	assert_true(took < 5);
	assert_int_equal(res.exit_code, 3);
	check_daemon_kept(&c);
	/* as the whole command, setsid is the group leader and forks on its own */
	took = run(state, "setsid sh -c 'echo pid $$; exec sleep 300'", 60, &c, &res);
	assert_true(took < 5);
	assert_int_equal(res.exit_code, 0);
	check_daemon_kept(&c);

	took = run(state, "nohup sleep 300 & echo pid $!; exit 3", 60, &c, &res);
	assert_true(took < 5);
	assert_int_equal(res.exit_code, 3);
	check_daemon_kept(&c);
	buf_release(&c.out);
}

/* Everything printed before the shell exited arrives, more than a pipe holds included. */
static void test_output_delivered(void **state)
{
	struct collected c = { BUF_INIT(4 << 20) };
	struct exec_result res;

	run(state, "sleep 300 & echo pid $!; seq 1 50000; echo last line; exit 3", 60, &c, &res);
	assert_int_equal(res.exit_code, 3);
	assert_true(c.out.len > 65536);
	assert_non_null(strstr(c.out.data, "\n49999\n50000\nlast line\n"));
	check_daemon_kept(&c);
	/* and a late line from the background, within the drain */
	run(state, "(sleep 0.5; echo late) & exit 0", 60, &c, &res);
	assert_int_equal(res.exit_code, 0);
	assert_non_null(strstr(c.out.data, "late\n"));
	buf_release(&c.out);
}

/* A daemon that keeps writing after the drain is not killed by SIGPIPE: its output goes
 * on to the journal (or nowhere) through the drainer the pipes were handed to. */
static void test_daemon_writes_after_the_step(void **state)
{
	struct collected c = { BUF_INIT(1 << 20) };
	struct exec_result res;

	double took = run(state,
			  "bash -c 'sleep 3; for i in $(seq 1 2000); do echo late $i; echo err $i >&2; "
			  "done; exec sleep 300' & echo pid $!; exit 4",
			  60, &c, &res);
	assert_true(took < 5);
	assert_int_equal(res.exit_code, 4);
	assert_null(strstr(c.out.data, "late 1\n"));
	pid_t pid = daemon_pid(&c);
	/* past its writes: with the pipes closed it would have died of SIGPIPE at the first */
	for (int i = 0; i < 400; i++) {
		char comm[64] = "", path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		if (strcmp(comm, "sleep\n") == 0 || !alive(pid))
			break;
		usleep(25000);
	}
	check_daemon_kept(&c);
	buf_release(&c.out);
}

static void test_timeout_kills_group(void **state)
{
	struct collected c = { BUF_INIT(1 << 20) };
	struct exec_result res;

	/* the child of the hung script is in its group and goes with it */
	double took = run(state, "sleep 300 & echo pid $!; sleep 300", 1, &c, &res);
	assert_true(took < 8);
	assert_true(res.timed_out);
	assert_int_equal(res.exit_code, -1);
	pid_t pid = daemon_pid(&c);
	for (int i = 0; i < 100 && alive(pid); i++)
		usleep(20000);
	assert_false(alive(pid));
	buf_release(&c.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_background_daemon, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_setsid_and_nohup, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_output_delivered, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_daemon_writes_after_the_step, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, tmpdir_setup, tmpdir_teardown),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("exec", tests, NULL, NULL);
}
