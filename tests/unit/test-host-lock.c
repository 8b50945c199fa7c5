/* The host lock (agent/host-lock.h) in a temp root: take, refuse a live holder, report and
 * break a stale one (holder gone; holder hung past its expiry), renew, release, and the
 * hostile things that can sit at ROOT/lock. Two takes in one process conflict as two
 * agents would: each opens the file anew, and flock(2) locks are per open file. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "host-lock.h"
#include "macro.h"

#define T0 1764400000 /* 2025-11-29 */

static const struct host_lock_owner first = { .host = "ctl-1", .pid = 4242, .cluster = "demo",
					      .command = "run" };
static const struct host_lock_owner second = { .host = "ctl-2.example", .pid = 77,
					       .cluster = "other", .command = "apply" };

static char *path_in(const char *root, const char *name)
{
	static char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", root, name);
	return buf;
}

static void write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static char *read_lock(const char *root, size_t *len)
{
	static char buf[8192];
	int fd = open(path_in(root, "lock"), O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	if (len)
		*len = (size_t)n;
	return buf;
}

static struct host_lock_owner record_of(const char *root)
{
	struct host_lock_owner o;
	struct errbuf err = ERRBUF_INIT;
	size_t n;
	char *data = read_lock(root, &n);

	assert_int_equal(host_lock_record_parse(data, n, &o, &err), 0);
	return o;
}

/* a record as a dead agent would have left it */
static void leave_record(const char *root, const struct host_lock_owner *o)
{
	char rec[HOST_LOCK_MAX];
	int n = host_lock_record_format(o, rec, sizeof(rec));
	assert_true(n > 0);
	write_file(path_in(root, "lock"), rec, (size_t)n);
}

static void test_take_free_and_release(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	struct stat st;
	char note[512];

	assert_int_equal(host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err), 0);
	assert_string_equal(note, "");
	assert_int_equal(lstat(path_in(root, "lock"), &st), 0);
	assert_true(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 && st.st_nlink == 1);
	struct host_lock_owner o = record_of(root);
	assert_string_equal(o.host, "ctl-1");
	assert_int_equal(o.pid, 4242);
	assert_string_equal(o.cluster, "demo");
	assert_string_equal(o.command, "run");
	assert_int_equal(o.agent_pid, getpid());
	assert_int_equal(o.since, T0);
	assert_int_equal(o.expires, T0 + HOST_LOCK_TTL_S);
	l = host_lock_release(l);
	assert_null(l);
	/* released: empty, so free for the next run (not stale) */
	size_t n;
	read_lock(root, &n);
	assert_int_equal(n, 0);
	assert_int_equal(host_lock_take(root, &second, 0, T0 + 5, &l, note, sizeof(note), &err), 0);
	assert_string_equal(record_of(root).cluster, "other");
	host_lock_release(l);
}

/* A live, unexpired holder is refused by name, and never broken, with BREAK_STALE too. */
static void test_live_holder_refused(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l1 = NULL, *l2 = NULL;
	char note[512];

	assert_int_equal(host_lock_take(root, &first, 0, T0, &l1, note, sizeof(note), &err), 0);
	for (unsigned flags = 0; flags <= HOST_LOCK_BREAK_STALE; flags++) {
		assert_int_equal(host_lock_take(root, &second, flags, T0 + 61, &l2, note, sizeof(note),
						&err), -EBUSY);
		assert_null(l2);
		assert_non_null(strstr(errbuf_msg(&err), "locked by another cirun run: `cirun run` of "
				       "cluster demo from ctl-1 (pid 4242), since 2025-11-29 07:06:40 UTC "
				       "(61s ago)"));
		assert_non_null(strstr(errbuf_msg(&err), "until 2025-11-29 07:08:40 UTC"));
	}
	assert_string_equal(record_of(root).host, "ctl-1");
	assert_int_equal(host_lock_check(l1, &err), 0);
	host_lock_release(l1);
}

/* A record whose holder is gone (no flock) is stale, expired or not: reported with its
 * owner and age, taken only with BREAK_STALE. */
static void test_gone_holder_is_stale(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	struct host_lock_owner dead = first;
	char note[512];

	dead.agent_pid = 999;
	dead.since = T0 - 7200;
	for (int expired = 0; expired < 2; expired++) {
		dead.expires = expired ? T0 - 3600 : T0 + 60;
		leave_record(root, &dead);
		assert_int_equal(host_lock_take(root, &second, 0, T0, &l, note, sizeof(note), &err),
				 -ESTALE);
		assert_non_null(strstr(errbuf_msg(&err), "stale lock "));
		assert_non_null(strstr(errbuf_msg(&err), "`cirun run` of cluster demo from ctl-1 (pid "
				       "4242), since 2025-11-29 05:06:40 UTC (2h00m ago); its agent "
				       "(pid 999) is gone without releasing it; if no cirun run is "
				       "acting on this host, run again with --force to break it"));
		assert_int_equal(record_of(root).agent_pid, 999); /* left as it was */
		assert_int_equal(host_lock_take(root, &second, HOST_LOCK_BREAK_STALE, T0, &l, note,
						sizeof(note), &err), 1);
		assert_non_null(strstr(note, "broke the stale lock "));
		assert_non_null(strstr(note, "(pid 999) is gone"));
		assert_string_equal(record_of(root).host, "ctl-2.example");
		l = host_lock_release(l);
	}
}

/* A holder that still holds the flock but stopped renewing (hung, SIGSTOPped) is stale
 * past its expiry; breaking it puts a new file in its place, and the old holder finds
 * itself lost: it changes nothing more and does not clear the new holder's record. */
static void test_hung_holder_broken(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l1 = NULL, *l2 = NULL;
	char note[512];
	int64_t later = T0 + HOST_LOCK_TTL_S + 300;

	assert_int_equal(host_lock_take(root, &first, 0, T0, &l1, note, sizeof(note), &err), 0);
	assert_int_equal(host_lock_take(root, &second, 0, later, &l2, note, sizeof(note), &err),
			 -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "still holds it but stopped renewing it 5m00s ago "
			       "(hung or stopped); if no cirun run is acting on this host, run again "
			       "with --force"));
	assert_int_equal(host_lock_take(root, &second, HOST_LOCK_BREAK_STALE, later, &l2, note,
					sizeof(note), &err), 1);
	assert_non_null(strstr(note, "stopped renewing it"));
	assert_int_equal(host_lock_check(l2, &err), 0);
	assert_int_equal(host_lock_check(l1, &err), -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "was broken by another run"));
	assert_int_equal(host_lock_refresh(l1, later + 1, &err), -ESTALE);
	host_lock_release(l1);
	assert_string_equal(record_of(root).host, "ctl-2.example");
	/* the new holder is live: a third is refused */
	struct host_lock *l3 = NULL;
	assert_int_equal(host_lock_take(root, &first, HOST_LOCK_BREAK_STALE, later + 2, &l3, note,
					sizeof(note), &err), -EBUSY);
	host_lock_release(l2);
	/* no temp file left behind */
	assert_int_equal(access(path_in(root, ".lock.1"), F_OK), -1);
}

/* Renewal moves the expiry; so does the keeper thread while its fds are open, and it
 * stops once they are hung up (the session's cirun went away). */
static void test_refresh_and_keep(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	char note[512];
	int p[2];
	int64_t now = (int64_t)time(NULL);

	assert_int_equal(host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err), 0);
	assert_int_equal(host_lock_refresh(l, T0 + 1000, &err), 0);
	assert_int_equal(record_of(root).expires, T0 + 1000 + HOST_LOCK_TTL_S);
	assert_int_equal(record_of(root).since, T0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(host_lock_keep(l, p, 2, 20), 0);
	usleep(200 * 1000);
	assert_true(record_of(root).expires >= now + HOST_LOCK_TTL_S);
	host_lock_release(l);

	/* a closed channel: no renewal, the record keeps its old expiry */
	assert_int_equal(host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err), 0);
	close(p[1]);
	int watch[2] = { p[0], -1 };
	assert_int_equal(host_lock_keep(l, watch, 2, 20), 0);
	usleep(200 * 1000);
	assert_int_equal(record_of(root).expires, T0 + HOST_LOCK_TTL_S);
	host_lock_release(l);
	close(p[0]);
}

/* SIGTERM (sshd or logind ending the session) clears the record as a clean end does;
 * SIGKILL cannot, and leaves it stale. */
static void test_signals(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	char note[512];
	int sigs[] = { SIGTERM, SIGKILL }, status;

	for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
		int p[2];
		char c;
		assert_int_equal(pipe(p), 0);
		pid_t pid = fork();
		if (pid == 0) {
			if (host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err) < 0 ||
			    host_lock_release_on_signals() < 0)
				_exit(1);
			(void)!write(p[1], "x", 1);
			pause();
			_exit(2);
		}
		assert_int_equal(read(p[0], &c, 1), 1);
		kill(pid, sigs[i]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == sigs[i]);
		size_t n;
		read_lock(root, &n);
		if (sigs[i] == SIGTERM) {
			assert_int_equal(n, 0);
			assert_int_equal(host_lock_take(root, &second, 0, T0, &l, note, sizeof(note),
							&err), 0);
			l = host_lock_release(l);
		} else {
			assert_true(n > 0);
			assert_int_equal(host_lock_take(root, &second, 0, T0, &l, note, sizeof(note),
							&err), -ESTALE);
		}
		close(p[0]);
		close(p[1]);
	}
}

static void *release_later(void *data)
{
	usleep(200 * 1000);
	host_lock_release(data);
	return NULL;
}

/* A holder caught releasing (its record emptied, its flock not yet dropped) is waited
 * for, not reported; one that stays so is refused as a holder that left no record. */
static void test_holder_releasing(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l1 = NULL, *l2 = NULL;
	char note[512];
	pthread_t t;

	assert_int_equal(host_lock_take(root, &first, 0, T0, &l1, note, sizeof(note), &err), 0);
	write_file(path_in(root, "lock"), "", 0); /* emptied, still flocked */
	assert_int_equal(host_lock_take(root, &second, HOST_LOCK_BREAK_STALE, T0, &l2, note,
					sizeof(note), &err), -EBUSY);
	assert_non_null(strstr(errbuf_msg(&err), "is held by a running process whose record is "
			       "empty: it is never broken; find it with 'fuser -v "));
	assert_int_equal(pthread_create(&t, NULL, release_later, l1), 0);
	assert_int_equal(host_lock_take(root, &second, 0, T0, &l2, note, sizeof(note), &err), 0);
	pthread_join(t, NULL);
	assert_string_equal(record_of(root).host, "ctl-2.example");
	host_lock_release(l2);
}

static void on_alarm(int sig)
{
	(void)sig;
	fail_msg("taking the lock hung");
}

/* What is not a plain file of ours at ROOT/lock is refused, --force or not, without being
 * followed, opened for I/O, waited on or changed. */
static void test_hostile_lock_path(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	char note[512], target[4096], buf[64];
	struct stat st;
	int fd;

	signal(SIGALRM, on_alarm);
	alarm(10);
	snprintf(target, sizeof(target), "%s/victim", root);
	write_file(target, "keep me\n", 8);
	static const char *const what[] = {
		"a symbolic link", "a FIFO", "a directory", "a file with other names (hard links)",
	};
	for (size_t i = 0; i < ELEMENTSOF(what); i++) {
		const char *lock = path_in(root, "lock");
		switch (i) {
		case 0: assert_int_equal(symlink(target, lock), 0); break;
		case 1: assert_int_equal(mkfifo(lock, 0600), 0); break;
		case 2: assert_int_equal(mkdir(lock, 0700), 0); break;
		case 3: assert_int_equal(link(target, lock), 0); break;
		}
		for (unsigned flags = 0; flags <= HOST_LOCK_BREAK_STALE; flags++) {
			assert_int_equal(host_lock_take(root, &first, flags, T0, &l, note, sizeof(note),
							&err), -EINVAL);
			assert_non_null(strstr(errbuf_msg(&err), what[i]));
			assert_non_null(strstr(errbuf_msg(&err), "not cirun's lock file"));
		}
		lock = path_in(root, "lock");
		assert_int_equal(lstat(lock, &st), 0); /* still there, as it was */
		assert_int_equal(i == 2 ? rmdir(lock) : unlink(lock), 0);
	}
	/* another user's file (as root only: others cannot give files away) */
	if (geteuid() == 0) {
		write_file(path_in(root, "lock"), "", 0);
		assert_int_equal(chown(path_in(root, "lock"), 1234, 1234), 0);
		assert_int_equal(host_lock_take(root, &first, HOST_LOCK_BREAK_STALE, T0, &l, note,
						sizeof(note), &err), -EINVAL);
		assert_non_null(strstr(errbuf_msg(&err), "a file owned by another user"));
		unlink(path_in(root, "lock"));
	}
	fd = open(target, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 8);
	close(fd);
	assert_memory_equal(buf, "keep me\n", 8);
	alarm(0);
}

/* A record that is not one (garbage, too long) held by nobody is stale, its reason shown;
 * BREAK_STALE takes it. */
static void test_unreadable_record(void **state)
{
	const char *root = *state;
	struct errbuf err = ERRBUF_INIT;
	struct host_lock *l = NULL;
	char note[512], *big = malloc(HOST_LOCK_MAX + 10);

	write_file(path_in(root, "lock"), "\x01garbage", 8);
	assert_int_equal(host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err), -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "an unreadable record (it is cut short (no final "
			       "newline)) that no process holds"));
	memset(big, 'x', HOST_LOCK_MAX + 10);
	write_file(path_in(root, "lock"), big, HOST_LOCK_MAX + 10);
	assert_int_equal(host_lock_take(root, &first, 0, T0, &l, note, sizeof(note), &err), -ESTALE);
	assert_non_null(strstr(errbuf_msg(&err), "it is over 4096 bytes"));
	assert_int_equal(host_lock_take(root, &first, HOST_LOCK_BREAK_STALE, T0, &l, note,
					sizeof(note), &err), 1);
	assert_string_equal(record_of(root).host, "ctl-1");
	host_lock_release(l);
	free(big);
}

static void expect_bad(const char *rec, const char *why)
{
	struct host_lock_owner o;
	struct errbuf err = ERRBUF_INIT;

	assert_true(host_lock_record_parse(rec, strlen(rec), &o, &err) < 0);
	if (!strstr(errbuf_msg(&err), why))
		fail_msg("'%s': got '%s', want '%s'", rec, errbuf_msg(&err), why);
}

#define HEAD "cirun-host-lock 1\n"
#define GOOD_TAIL "cluster demo\ncommand run\nagent-pid 9\nsince 100\nexpires 220\n"

static void test_record_parse(void **state)
{
	struct host_lock_owner o, back;
	struct errbuf err = ERRBUF_INIT;
	char rec[HOST_LOCK_MAX];
	const char *good = HEAD "owner-host ctl\nowner-pid 5\n" GOOD_TAIL;
	(void)state;

	assert_int_equal(host_lock_record_parse(good, strlen(good), &o, &err), 0);
	assert_int_equal(o.expires, 220);
	int n = host_lock_record_format(&o, rec, sizeof(rec));
	assert_int_equal(n, (int)strlen(good));
	assert_string_equal(rec, good);
	/* an unknown key of the right shape: a later version's */
	const char *later = HEAD "owner-host ctl\nowner-pid 5\nnew-field x y\n" GOOD_TAIL;
	assert_int_equal(host_lock_record_parse(later, strlen(later), &back, &err), 0);
	assert_memory_equal(&o, &back, sizeof(o));
	assert_int_equal(host_lock_record_format(&o, rec, 10), -E2BIG);

	expect_bad("", "cut short");
	expect_bad("cirun-host-lock 2\n", "does not start with");
	expect_bad(HEAD "owner-host ctl\nowner-pid 5\n" GOOD_TAIL "x", "cut short");
	expect_bad(HEAD "owner-pid 5\n" GOOD_TAIL, "it has no owner-host");
	expect_bad(HEAD "owner-host ctl\nowner-host ctl\nowner-pid 5\n" GOOD_TAIL, "line 3: "
		   "owner-host appears twice");
	expect_bad(HEAD "owner-host ../etc\nowner-pid 5\n" GOOD_TAIL, "not a host name");
	expect_bad(HEAD "owner-host a b\nowner-pid 5\n" GOOD_TAIL, "not a host name");
	expect_bad(HEAD "owner-host c\x1b[2J\nowner-pid 5\n" GOOD_TAIL, "control characters");
	expect_bad(HEAD "owner-host ctl\nowner-pid 0\n" GOOD_TAIL, "owner-pid is not a process id");
	expect_bad(HEAD "owner-host ctl\nowner-pid 05\n" GOOD_TAIL, "owner-pid is not a process id");
	expect_bad(HEAD "owner-host ctl\nowner-pid -5\n" GOOD_TAIL, "owner-pid is not a process id");
	expect_bad(HEAD "owner-host ctl\nowner-pid 4194305\n" GOOD_TAIL, "not a process id");
	expect_bad(HEAD "owner-host ctl\nowner-pid 5\ncluster ../x\n", "cluster is not");
	expect_bad(HEAD "owner-host ctl\nowner-pid 5\ncluster d\ncommand rm -rf\n", "command is not");
	expect_bad(HEAD "owner-host ctl\nowner-pid 5\ncluster d\ncommand run\nagent-pid 9\n"
		   "since 300\nexpires 220\n", "expires before it was taken");
	expect_bad(HEAD "owner-host ctl\nowner-pid 5\ncluster d\ncommand run\nagent-pid 9\n"
		   "since 1\nexpires 9999999999999\n", "expires is not a time");
	expect_bad(HEAD "Owner-host ctl\n", "not 'key value'");
	expect_bad(HEAD "owner-host\n", "not 'key value'");
	char longhost[400];
	snprintf(longhost, sizeof(longhost), HEAD "owner-host %0300d\n", 0);
	expect_bad(longhost, "owner-host is too long");
	char many[HOST_LOCK_MAX];
	strcpy(many, HEAD);
	for (int i = 0; i < 70; i++)
		strcat(many, "x y\n");
	expect_bad(many, "over 64 lines");
	struct host_lock_owner z;
	assert_int_equal(host_lock_record_parse("a\0b\n", 4, &z, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "NUL"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, tmpdir_setup, tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_take_free_and_release),
		T(test_live_holder_refused),
		T(test_gone_holder_is_stale),
		T(test_hung_holder_broken),
		T(test_refresh_and_keep),
		T(test_signals),
		T(test_holder_releasing),
		T(test_hostile_lock_path),
		T(test_unreadable_record),
		cmocka_unit_test(test_record_parse),
	};
	return cmocka_run_group_tests_name("host-lock", tests, NULL, NULL);
}
