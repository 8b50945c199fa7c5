#include "host-lock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "macro.h"
#include "name.h"

#define RECORD_MAGIC "cirun-host-lock 1"
#define RECORD_MAX_LINES 64
#define RECORD_MAX_DIGITS 12 /* unix seconds up to the year 33658 */
/* Taking the lock is a short critical section under a flock on ROOT itself; another
 * agent in it is waited for this long at most (100 ms steps). */
#define DIR_LOCK_TRIES 100
/* A holder seen releasing (flocked, record already emptied) is waited for this many times
 * 50 ms before it counts as a holder that left no record. */
#define RELEASE_TRIES 20

struct host_lock {
	int rootfd;
	int fd;
	char *path; /* for messages */
	dev_t dev;
	ino_t ino;
	struct host_lock_owner me;
	pthread_mutex_t mu; /* me.expires and the file's record */
	pthread_cond_t wake;
	pthread_t thread;
	bool thread_started, stop;
	int watch[2];
	unsigned interval_ms;
	bool lost; /* __atomic */
};

/* The fd of the lock this process holds (the last taken), for the fatal signals' handler:
 * an fd and ftruncate() are all it may use. */
static volatile sig_atomic_t held_fd = -1;

/* ---- the record ---- */

enum field { F_HOST, F_PID, F_CLUSTER, F_COMMAND, F_AGENT_PID, F_SINCE, F_EXPIRES, F_N };
static const char *const field_names[F_N] = {
	"owner-host", "owner-pid", "cluster", "command", "agent-pid", "since", "expires",
};

static int parse_number(const char *v, uint64_t max, uint64_t *ret)
{
	size_t n = strlen(v);
	uint64_t x = 0;

	if (n == 0 || n > RECORD_MAX_DIGITS || (n > 1 && v[0] == '0'))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -EBADMSG;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (x > max)
		return -EBADMSG;
	*ret = x;
	return 0;
}

static int set_field(struct host_lock_owner *o, enum field f, const char *v, struct errbuf *err)
{
	uint64_t x = 0;
	int r = 0;

	switch (f) {
	case F_HOST:
		if (!msg_lock_host_valid(v))
			return errbuf_set(err, -EBADMSG, "owner-host is not a host name");
		snprintf(o->host, sizeof(o->host), "%s", v);
		return 0;
	case F_CLUSTER:
		if (!cluster_name_valid(v))
			return errbuf_set(err, -EBADMSG, "cluster is not a cluster name");
		snprintf(o->cluster, sizeof(o->cluster), "%s", v);
		return 0;
	case F_COMMAND:
		if (!msg_lock_command_valid(v))
			return errbuf_set(err, -EBADMSG, "command is not 1-32 bytes of [a-z-]");
		snprintf(o->command, sizeof(o->command), "%s", v);
		return 0;
	case F_PID:
	case F_AGENT_PID:
		r = parse_number(v, MSG_MAX_LOCK_PID, &x);
		if (r < 0 || x == 0)
			return errbuf_set(err, -EBADMSG, "%s is not a process id", field_names[f]);
		*(f == F_PID ? &o->pid : &o->agent_pid) = (uint32_t)x;
		return 0;
	case F_SINCE:
	case F_EXPIRES:
		r = parse_number(v, UINT64_MAX, &x);
		if (r < 0 || x == 0)
			return errbuf_set(err, -EBADMSG, "%s is not a time (unix seconds)", field_names[f]);
		*(f == F_SINCE ? &o->since : &o->expires) = (int64_t)x;
		return 0;
	case F_N:
		break;
	}
	return -EINVAL;
}

static bool key_valid(const char *k, size_t n)
{
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '-'))
			return false;
	return true;
}

static bool text_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* One "key value" line; an unknown key of the right shape is passed over (a later
 * version may add one), a known one twice is refused. */
static int parse_line(const char *line, size_t len, struct host_lock_owner *o, unsigned *seen,
		      struct errbuf *err)
{
	const char *sp = memchr(line, ' ', len);
	char value[MSG_MAX_LOCK_HOST + 1];
	size_t klen = sp ? (size_t)(sp - line) : len, vlen = sp ? len - klen - 1 : 0;

	if (!sp || !key_valid(line, klen))
		return errbuf_set(err, -EBADMSG, "a line is not 'key value'");
	if (!text_printable(sp + 1, vlen))
		return errbuf_set(err, -EBADMSG, "%.*s holds control characters", (int)klen, line);
	for (int f = 0; f < F_N; f++) {
		if (strlen(field_names[f]) != klen || memcmp(field_names[f], line, klen) != 0)
			continue;
		if (*seen & (1u << f))
			return errbuf_set(err, -EBADMSG, "%s appears twice", field_names[f]);
		if (vlen >= sizeof(value))
			return errbuf_set(err, -EBADMSG, "%s is too long", field_names[f]);
		memcpy(value, sp + 1, vlen);
		value[vlen] = '\0';
		*seen |= 1u << f;
		return set_field(o, (enum field)f, value, err);
	}
	return 0;
}

int host_lock_record_parse(const char *data, size_t n, struct host_lock_owner *ret,
			   struct errbuf *err)
{
	struct host_lock_owner o = { 0 };
	const char *p = data, *end = data + n;
	unsigned seen = 0, lines = 0;
	int r;

	if (n > HOST_LOCK_MAX)
		return errbuf_set(err, -E2BIG, "it is over %u bytes", HOST_LOCK_MAX);
	if (memchr(data, '\0', n))
		return errbuf_set(err, -EBADMSG, "it holds a NUL byte");
	if (n == 0 || data[n - 1] != '\n')
		return errbuf_set(err, -EBADMSG, "it is cut short (no final newline)");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)(nl - p);
		if (++lines > RECORD_MAX_LINES)
			return errbuf_set(err, -EBADMSG, "it has over %u lines", RECORD_MAX_LINES);
		if (lines == 1) {
			if (len != strlen(RECORD_MAGIC) || memcmp(p, RECORD_MAGIC, len) != 0)
				return errbuf_set(err, -EBADMSG, "it does not start with '" RECORD_MAGIC "'");
		} else if ((r = parse_line(p, len, &o, &seen, err)) < 0) {
			return errbuf_prefix(err, "line %u", lines);
		}
		p = nl + 1;
	}
	for (int f = 0; f < F_N; f++)
		if (!(seen & (1u << f)))
			return errbuf_set(err, -EBADMSG, "it has no %s", field_names[f]);
	if (o.expires < o.since)
		return errbuf_set(err, -EBADMSG, "it expires before it was taken");
	*ret = o;
	return 0;
}

int host_lock_record_format(const struct host_lock_owner *o, char *buf, size_t size)
{
	int n = snprintf(buf, size,
			 RECORD_MAGIC "\nowner-host %s\nowner-pid %" PRIu32 "\ncluster %s\n"
			 "command %s\nagent-pid %" PRIu32 "\nsince %" PRId64 "\nexpires %" PRId64 "\n",
			 o->host, o->pid, o->cluster, o->command, o->agent_pid, o->since, o->expires);
	return n < 0 || (size_t)n >= size ? -E2BIG : n;
}

/* ---- describing a holder ---- */

static void fmt_time(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "@%" PRId64, t);
}

static void fmt_span(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, size, "%" PRId64 "s", s);
	else if (s < 7200)
		snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else if (s < 172800)
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 " days", s / 86400);
}

/* "`cirun run` of cluster demo from ctl-1 (pid 1234), since 2026-… UTC (42s ago)" */
static void describe(const struct host_lock_owner *o, int64_t now, char *buf, size_t size)
{
	char since[64], age[32];

	fmt_time(o->since, since, sizeof(since));
	fmt_span(now - o->since, age, sizeof(age));
	snprintf(buf, size, "`cirun %s` of cluster %s from %s (pid %" PRIu32 "), since %s (%s ago)",
		 o->command, o->cluster, o->host, o->pid, since, age);
}

/* ---- the file ---- */

static const char *type_name(mode_t m)
{
	return S_ISLNK(m) ? "a symbolic link" : S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory"
	       : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "not a file";
}

static int not_ours(const char *path, const char *what, struct errbuf *err)
{
	return errbuf_set(err, -EINVAL, "%s is %s, not cirun's lock file: it is left as it is; "
			  "remove it if nothing else needs it, then run again", path, what);
}

/* ROOT/lock opened read-write without following a symlink, opening a FIFO or device for
 * I/O (looked at first with fstatat, then compared with what was opened), or writing
 * through a hard link into another file. */
static int open_lock_file(int rootfd, const char *path, struct stat *ret, struct errbuf *err)
{
	struct stat st, fst;
	_cleanup_close_ int fd = -1;

	if (fstatat(rootfd, HOST_LOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return errbuf_set(err, negative_errno(), "cannot look at %s: %m", path);
		fd = openat(rootfd, HOST_LOCK_FILE, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0644);
		if (fd < 0)
			return errbuf_set(err, negative_errno(), "cannot create %s: %m", path);
	} else {
		if (!S_ISREG(st.st_mode))
			return not_ours(path, type_name(st.st_mode), err);
		fd = openat(rootfd, HOST_LOCK_FILE,
			    O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return errbuf_set(err, negative_errno(), "cannot open %s: %m", path);
	}
	if (fstat(fd, &fst) < 0)
		return errbuf_set(err, negative_errno(), "cannot look at %s: %m", path);
	if (!S_ISREG(fst.st_mode))
		return not_ours(path, type_name(fst.st_mode), err);
	if (fst.st_nlink != 1)
		return not_ours(path, "a file with other names (hard links)", err);
	if (fst.st_uid != geteuid())
		return not_ours(path, "a file owned by another user", err);
	*ret = fst;
	return TAKE_FD(fd);
}

/* The record, or *empty when the file holds none (a released lock). An unreadable one is
 * reported in why, with ret untouched. */
static int read_record(int fd, struct host_lock_owner *ret, bool *empty, struct errbuf *why)
{
	_cleanup_free_ char *data = xmalloc(HOST_LOCK_MAX + 1);
	ssize_t n = pread(fd, data, HOST_LOCK_MAX + 1, 0);

	*empty = false;
	if (n < 0)
		return errbuf_set(why, negative_errno(), "it cannot be read: %m");
	if (n == 0) {
		*empty = true;
		return 0;
	}
	return host_lock_record_parse(data, (size_t)n, ret, why);
}

static int write_record(int fd, const struct host_lock_owner *o, bool sync, const char *path,
			struct errbuf *err)
{
	char rec[HOST_LOCK_MAX];
	int n = host_lock_record_format(o, rec, sizeof(rec));

	if (n < 0)
		return errbuf_set(err, n, "the record for %s does not fit in %u bytes", path,
				  HOST_LOCK_MAX);
	if (pwrite(fd, rec, (size_t)n, 0) != n || ftruncate(fd, n) < 0 || (sync && fdatasync(fd) < 0))
		return errbuf_set(err, negative_errno(), "cannot write %s: %m", path);
	return 0;
}

static int dir_lock(int rootfd, const char *root, struct errbuf *err)
{
	for (int i = 0; i < DIR_LOCK_TRIES; i++) {
		if (flock(rootfd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return errbuf_set(err, negative_errno(), "cannot lock %s: %m", root);
		usleep(100 * 1000);
	}
	return errbuf_set(err, -EBUSY, "another cirun agent has been taking the lock in %s for "
			  "%d s: run again in a moment", root, DIR_LOCK_TRIES / 10);
}

/* A stale lock whose holder still holds the flock (hung, or stopped): a new file takes its
 * place, renamed over it, so the old holder keeps a lock on a file no longer at the path
 * (it sees that at its next check and changes nothing more). */
static int replace_lock_file(struct host_lock *l, const struct host_lock_owner *me,
			     struct errbuf *err)
{
	char tmp[64];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	snprintf(tmp, sizeof(tmp), ".%s.%ld", HOST_LOCK_FILE, (long)getpid());
	(void)unlinkat(l->rootfd, tmp, 0); /* a leftover of this pid's agent: never in use */
	fd = openat(l->rootfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0)
		return errbuf_set(err, negative_errno(), "cannot make a new %s: %m", l->path);
	r = write_record(fd, me, true, l->path, err);
	if (r >= 0 && renameat(l->rootfd, tmp, l->rootfd, HOST_LOCK_FILE) < 0)
		r = errbuf_set(err, negative_errno(), "cannot put a new %s in place: %m", l->path);
	if (r < 0) {
		(void)unlinkat(l->rootfd, tmp, 0);
		return r;
	}
	close(l->fd);
	l->fd = TAKE_FD(fd);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

/* What is at ROOT/lock decides: free (empty, nobody holds it), held (flock held, record
 * unexpired, or unreadable: its expiry cannot be known), or stale (a record nobody holds
 * any more, or one held past its expiry). */
static int judge(struct host_lock *l, const struct host_lock_owner *me, unsigned flags,
		 int64_t now, bool last_try, char *note, size_t note_size, struct errbuf *err)
{
	struct host_lock_owner o = { 0 };
	struct errbuf why = ERRBUF_INIT;
	char who[768], until[64], span[32];
	bool empty = false, held = false;
	int rr;

	if (flock(l->fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			return errbuf_set(err, negative_errno(), "cannot lock %s: %m", l->path);
		held = true;
	}
	rr = read_record(l->fd, &o, &empty, &why);
	if (rr >= 0 && empty && !held)
		return 0;
	if (rr >= 0 && !empty)
		describe(&o, now, who, sizeof(who));
	/* a holder between emptying its record and closing the file: it is releasing */
	if (held && rr >= 0 && empty && !last_try)
		return -EAGAIN;
	if (held && (rr < 0 || empty))
		return errbuf_set(err, -EBUSY, "%s is held by a running process whose record %s: "
				  "it is never broken; find it with 'fuser -v %s'", l->path,
				  empty ? "is empty" : errbuf_msg(&why), l->path);
	if (held && now < o.expires) {
		fmt_time(o.expires, until, sizeof(until));
		return errbuf_set(err, -EBUSY, "locked by another cirun run: %s; its agent (pid %"
				  PRIu32 ") holds it until %s and renews it while that run lasts: "
				  "wait for that run to end, then run again (--force never breaks a "
				  "live lock)", who, o.agent_pid, until);
	}
	/* stale */
	if (rr < 0)
		snprintf(who, sizeof(who), "an unreadable record (%s) that no process holds",
			 errbuf_msg(&why));
	else if (held) {
		fmt_span(now - o.expires, span, sizeof(span));
		snprintf(who + strlen(who), sizeof(who) - strlen(who), "; its agent (pid %" PRIu32
			 ") still holds it but stopped renewing it %s ago (hung or stopped)",
			 o.agent_pid, span);
	} else
		snprintf(who + strlen(who), sizeof(who) - strlen(who), "; its agent (pid %" PRIu32
			 ") is gone without releasing it", o.agent_pid);
	if (!(flags & HOST_LOCK_BREAK_STALE))
		return errbuf_set(err, -ESTALE, "stale lock %s: %s; if no cirun run is acting on this "
				  "host, run again with --force to break it", l->path, who);
	if (held && replace_lock_file(l, me, err) < 0)
		return err->code;
	snprintf(note, note_size, "broke the stale lock %s (--force): %s", l->path, who);
	return 1;
}

int host_lock_take(const char *root, const struct host_lock_owner *me, unsigned flags,
		   int64_t now, struct host_lock **ret, char *note, size_t note_size,
		   struct errbuf *err)
{
	_cleanup_free_ struct host_lock *l = xcalloc(1, sizeof(*l));
	_cleanup_free_ char *path = xasprintf("%s/" HOST_LOCK_FILE, root);
	struct stat st = { 0 };
	int r;

	if (note_size)
		note[0] = '\0';
	l->path = path;
	l->fd = -1;
	l->me = *me;
	l->me.agent_pid = (uint32_t)getpid();
	l->me.since = now;
	l->me.expires = now + HOST_LOCK_TTL_S;
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		return errbuf_set(err, negative_errno(), "cannot make %s: %m", root);
	l->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->rootfd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s: %m", root);
	r = dir_lock(l->rootfd, root, err);
	if (r >= 0)
		r = l->fd = open_lock_file(l->rootfd, path, &st, err);
	if (r >= 0) {
		l->dev = st.st_dev;
		l->ino = st.st_ino;
		for (int i = 0; (r = judge(l, &l->me, flags, now, i == RELEASE_TRIES, note, note_size,
					   err)) == -EAGAIN; i++)
			usleep(50 * 1000);
	}
	if (r >= 0 && (r = write_record(l->fd, &l->me, true, path, err)) >= 0)
		r = note_size && note[0] ? 1 : 0;
	(void)flock(l->rootfd, LOCK_UN);
	if (r < 0) {
		if (l->fd >= 0)
			close(l->fd);
		close(l->rootfd);
		return r;
	}
	held_fd = l->fd;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->wake, NULL);
	l->watch[0] = l->watch[1] = -1;
	TAKE_PTR(path);
	*ret = TAKE_PTR(l);
	return r;
}

static void set_lost(struct host_lock *l)
{
	__atomic_store_n(&l->lost, true, __ATOMIC_RELEASE);
}

int host_lock_check(struct host_lock *l, struct errbuf *err)
{
	struct stat st;

	if (!__atomic_load_n(&l->lost, __ATOMIC_ACQUIRE) &&
	    fstatat(l->rootfd, HOST_LOCK_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		return 0;
	set_lost(l);
	return errbuf_set(err, -ESTALE, "this session's lock %s was broken by another run (as "
			  "stale, with --force): this session changes nothing more on the host",
			  l->path);
}

int host_lock_refresh(struct host_lock *l, int64_t now, struct errbuf *err)
{
	int r = host_lock_check(l, err);

	if (r < 0)
		return r;
	pthread_mutex_lock(&l->mu);
	l->me.expires = now + HOST_LOCK_TTL_S;
	r = write_record(l->fd, &l->me, false, l->path, err);
	pthread_mutex_unlock(&l->mu);
	return r;
}

static bool hung_up(const int *fds, size_t n)
{
	struct pollfd p[2];
	size_t k = 0;

	for (size_t i = 0; i < n && k < ELEMENTSOF(p); i++)
		if (fds[i] >= 0)
			p[k++] = (struct pollfd){ .fd = fds[i], .events = 0 };
	if (k == 0 || poll(p, k, 0) <= 0)
		return false;
	for (size_t i = 0; i < k; i++)
		if (p[i].revents & (POLLHUP | POLLERR | POLLNVAL))
			return true;
	return false;
}

static void *keeper(void *data)
{
	struct host_lock *l = data;
	struct errbuf err = ERRBUF_INIT;

	pthread_mutex_lock(&l->mu);
	while (!l->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += l->interval_ms / 1000;
		until.tv_nsec += (long)(l->interval_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		while (!l->stop && pthread_cond_timedwait(&l->wake, &l->mu, &until) == 0)
			;
		if (l->stop)
			break;
		if (hung_up(l->watch, ELEMENTSOF(l->watch))) {
			log_warning("the session's channel is closed: %s is no longer renewed and goes "
				    "stale at its expiry", l->path);
			break;
		}
		pthread_mutex_unlock(&l->mu);
		int r = host_lock_refresh(l, (int64_t)time(NULL), &err);
		pthread_mutex_lock(&l->mu);
		if (r < 0) {
			log_error("%s", errbuf_msg(&err));
			break;
		}
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

int host_lock_keep(struct host_lock *l, const int *watch_fds, size_t n, unsigned interval_ms)
{
	int r;

	if (l->thread_started)
		return -EALREADY;
	for (size_t i = 0; i < n && i < ELEMENTSOF(l->watch); i++)
		l->watch[i] = watch_fds[i];
	l->interval_ms = interval_ms ? interval_ms : 1;
	r = -pthread_create(&l->thread, NULL, keeper, l);
	if (r < 0)
		return r;
	l->thread_started = true;
	return 0;
}

const struct host_lock_owner *host_lock_owner(const struct host_lock *l)
{
	return &l->me;
}

/* After a break, held_fd is a file no longer at the path: emptying it harms no one. */
static void on_fatal_signal(int sig)
{
	int fd = held_fd;

	if (fd >= 0)
		(void)!ftruncate(fd, 0);
	signal(sig, SIG_DFL);
	raise(sig);
}

int host_lock_release_on_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGHUP, SIGINT };
	struct sigaction sa = { .sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return negative_errno();
	return 0;
}

struct host_lock *host_lock_release(struct host_lock *l)
{
	struct errbuf err = ERRBUF_INIT;

	if (!l)
		return NULL;
	if (l->thread_started) {
		pthread_mutex_lock(&l->mu);
		l->stop = true;
		pthread_cond_signal(&l->wake);
		pthread_mutex_unlock(&l->mu);
		pthread_join(l->thread, NULL);
	}
	if (held_fd == l->fd)
		held_fd = -1;
	/* emptied while still flocked: a free lock, never taken for a stale one */
	if (host_lock_check(l, &err) >= 0 && ftruncate(l->fd, 0) < 0)
		log_warning("cannot clear %s: %m; the next run will find it stale", l->path);
	close(l->fd);
	close(l->rootfd);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->wake);
	free(l->path);
	free(l);
	return NULL;
}
