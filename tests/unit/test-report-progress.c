/* Transfer progress on a terminal: the run's stdout and stderr are a pseudo-terminal, the
 * bytes it receives are replayed through a small terminal model (cursor up, clear to end
 * of screen, newline), and the screen is checked: each host's line and the total line are
 * redrawn in place (one block at the bottom, never a second copy), a host's log line
 * printed meanwhile lands above the block whole, and the final block shows each host's
 * end. Also: JSON "progress" events carry host, bytes, total and rate. */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "log.h"
#include "report.h"

#define SCREEN_ROWS 64
#define SCREEN_COLS 200

static char raw[1 << 18];
static size_t nraw;
static int master_fd;

static void *reader(void *arg)
{
	(void)arg;
	ssize_t n;
	while (nraw < sizeof(raw) - 1 &&
	       (n = read(master_fd, raw + nraw, sizeof(raw) - 1 - nraw)) > 0)
		nraw += (size_t)n;
	raw[nraw] = '\0';
	return NULL;
}

/* Runs fn with stdout and stderr on a new pseudo-terminal; raw[] gets what it wrote. */
static void on_pty(void (*fn)(const char *home), const char *home)
{
	struct termios tio;
	struct winsize ws = { .ws_row = 40, .ws_col = 120 };
	pthread_t t;
	int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);

	master_fd = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(master_fd >= 0);
	assert_int_equal(grantpt(master_fd), 0);
	assert_int_equal(unlockpt(master_fd), 0);
	int slave = open(ptsname(master_fd), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	tcgetattr(slave, &tio);
	cfmakeraw(&tio); /* the bytes as written: no \r added, no echo */
	tcsetattr(slave, TCSANOW, &tio);
	ioctl(slave, TIOCSWINSZ, &ws);
	nraw = 0;
	assert_int_equal(pthread_create(&t, NULL, reader, NULL), 0);
	fflush(stdout);
	dup2(slave, STDOUT_FILENO);
	dup2(slave, STDERR_FILENO);
	close(slave);
	alarm(20);
	fn(home);
	alarm(0);
	fflush(stdout);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	/* every slave fd is closed: the reader sees EOF (EIO) */
	pthread_join(t, NULL);
	close(master_fd);
}

static char screen[SCREEN_ROWS][SCREEN_COLS];
static int last_row; /* the highest row written */

/* The subset of a terminal the report may use; anything else fails the test. */
static void replay(void)
{
	int row = 0, col = 0;

	memset(screen, 0, sizeof(screen));
	last_row = 0;
	for (size_t i = 0; i < nraw; i++) {
		char c = raw[i];
		if (c == '\033') {
			assert_int_equal(raw[i + 1], '[');
			char *end;
			long n = strtol(raw + i + 2, &end, 10);
			if (*end == 'A') {
				row -= (int)(n ? n : 1);
				assert_true(row >= 0);
			} else if (*end == 'J') {
				assert_int_equal(n, 0);
				memset(&screen[row][col], 0, SCREEN_COLS - (size_t)col);
				for (int r = row + 1; r < SCREEN_ROWS; r++)
					memset(screen[r], 0, SCREEN_COLS);
			} else {
				fail_msg("unexpected escape sequence %.8s", raw + i);
			}
			i = (size_t)(end - raw);
		} else if (c == '\n') {
			row++;
			col = 0;
			assert_true(row < SCREEN_ROWS);
		} else if (c == '\r') {
			col = 0;
		} else {
			assert_true(col < SCREEN_COLS - 1);
			screen[row][col++] = c;
			last_row = row > last_row ? row : last_row;
		}
	}
}

static int rows_with(const char *s)
{
	int n = 0;
	for (int r = 0; r < SCREEN_ROWS; r++)
		n += strstr(screen[r], s) != NULL;
	return n;
}

static int row_of(const char *s)
{
	for (int r = 0; r < SCREEN_ROWS; r++)
		if (strstr(screen[r], s))
			return r;
	return -1;
}

static void tty_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(report_open(home, "demo", false, &err), 0);
	report_phase("distribute", 2);
	report_progress_start("10.0.0.1", "distribute", 40u << 20);
	report_progress_start("10.0.0.2", "distribute", 20u << 20);
	for (int i = 1; i <= 20; i++) {
		report_progress("10.0.0.1", (uint64_t)i << 20);
		report_progress("10.0.0.2", (uint64_t)i << 19);
		if (i == 10)
			log_host(LOG_INFO, "10.0.0.9", "a line of the host's own output");
		usleep(12 * 1000);
	}
	report_progress_end("10.0.0.2", false);
	for (int i = 21; i <= 40; i++) {
		report_progress("10.0.0.1", (uint64_t)i << 20);
		usleep(6 * 1000);
	}
	report_progress_end("10.0.0.1", true);
	report_text("after the transfer");
	report_close();
}

static void test_tty_block_in_place(void **state)
{
	on_pty(tty_run, *state);
	/* redrawn in place: the cursor went up over the block, and cleared it */
	assert_non_null(strstr(raw, "\033[3A\033[J"));
	replay();
	if (getenv("SHOW_SCREEN"))
		for (int r = 0; r <= last_row; r++)
			fprintf(stderr, "%s\n", screen[r]);
	int header = row_of("==> distribute (2 hosts)");
	int logl = row_of("[10.0.0.9] a line of the host's own output");
	int h1 = row_of("[10.0.0.1] distribute");
	int h2 = row_of("[10.0.0.2] distribute");
	int tot = row_of("total (2 hosts)");
	int after = row_of("after the transfer");

	/* one of each, in this order, nothing else on the screen */
	assert_int_equal(header, 0);
	assert_int_equal(logl, 1);
	assert_int_equal(h1, 2);
	assert_int_equal(h2, 3);
	assert_int_equal(tot, 4);
	assert_int_equal(after, 5);
	assert_int_equal(last_row, 5);
	assert_int_equal(rows_with("[10.0.0.1]"), 1);
	assert_int_equal(rows_with("total"), 1);
	/* the final state of each */
	assert_non_null(strstr(screen[h1], "40.0 MiB / 40.0 MiB"));
	assert_non_null(strstr(screen[h1], "100%"));
	assert_non_null(strstr(screen[h1], "done in"));
	assert_non_null(strstr(screen[h2], "10.0 MiB / 20.0 MiB"));
	assert_non_null(strstr(screen[h2], " 50%"));
	assert_non_null(strstr(screen[h2], "FAILED after"));
	assert_non_null(strstr(screen[tot], "50.0 MiB / 60.0 MiB"));
	assert_non_null(strstr(screen[tot], "/s"));
	/* while it ran, a line showed a rate and a time left */
	assert_non_null(strstr(raw, "ETA "));
}

static char captured[1 << 16];

static void json_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(report_open(home, "demo", true, &err), 0);
	report_progress_start("10.0.0.1", "distribute", 1000);
	report_progress("10.0.0.1", 500);
	usleep(20 * 1000);
	report_progress("10.0.0.1", 1000);
	report_progress_end("10.0.0.1", true);
	report_close();
}

static void test_json_events(void **state)
{
	int p[2], saved;
	ssize_t n, total = 0;

	fflush(stdout);
	assert_int_equal(pipe(p), 0);
	saved = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	json_run(*state);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	while ((n = read(p[0], captured + total, sizeof(captured) - 1 - (size_t)total)) > 0)
		total += n;
	captured[total] = '\0';
	close(p[0]);
	/* the start, then (frames within a second are not events) the end */
	const char *a = strstr(captured, "\"event\":\"progress\",\"host\":\"10.0.0.1\","
					 "\"phase\":\"distribute\",\"bytes\":0,\"total\":1000,");
	const char *b = strstr(captured, "\"bytes\":1000,\"total\":1000,\"rate_bps\":");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	assert_non_null(strstr(b, "\"done\":true,\"ok\":true"));
	assert_null(strstr(captured, "\"bytes\":500"));
	/* no escape sequence reaches a JSON reader */
	assert_null(strchr(captured, '\033'));
}

static void plain_run(const char *home)
{
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(report_open(home, "demo", false, &err), 0);
	report_progress_start("10.0.0.1", "distribute", 100u << 20);
	report_progress_start("10.0.0.2", "distribute", 100u << 20);
	for (uint64_t i = 1; i <= 400; i++) {
		report_progress("10.0.0.1", i << 18);
		report_progress("10.0.0.2", i << 18);
	}
	report_progress_end("10.0.0.1", true);
	report_progress_end("10.0.0.2", true);
	report_close();
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Not a terminal: 400 frames a host within a few milliseconds are a start line and an end
 * line each, timestamped, then the total; no escape sequence. */
static void test_plain_lines_not_per_frame(void **state)
{
	int p[2], saved;
	ssize_t n, total = 0;

	fflush(stdout);
	assert_int_equal(pipe(p), 0);
	saved = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	plain_run(*state);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	while ((n = read(p[0], captured + total, sizeof(captured) - 1 - (size_t)total)) > 0)
		total += n;
	captured[total] = '\0';
	close(p[0]);
	if (getenv("SHOW_SCREEN"))
		fputs(captured, stderr);
	assert_int_equal(count(captured, "[10.0.0.1] distribute"), 2);
	assert_int_equal(count(captured, "[10.0.0.2] distribute"), 2);
	assert_non_null(strstr(captured, "Z [10.0.0.1] distribute       0 B / 100 MiB     0%"));
	assert_non_null(strstr(captured, "Z [10.0.0.2] distribute   100 MiB / 100 MiB   100%"));
	assert_non_null(strstr(captured, "Z total (2 hosts)   200 MiB / 200 MiB   100%"));
	assert_null(strchr(captured, '\033'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tty_block_in_place, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_json_events, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_plain_lines_not_per_frame, tmpdir_setup,
						tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("report-progress", tests, NULL, NULL);
}
