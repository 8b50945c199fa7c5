#include "interrupt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "macro.h"

#define SLOTS 64
#define MAX_DEPTH 48 /* deeper trees are left to the next sweep */

struct slot {
	volatile sig_atomic_t used;
	enum interrupt_kind kind;
	pid_t pid;
	char path[PATH_MAX];
	char prefix[NAME_MAX + 1];
};

/* getdents64's record: glibc does not declare it, readdir is not async-signal-safe. */
struct dirent64_raw {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static struct slot slots[SLOTS];
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
static const int handled[] = { SIGINT, SIGTERM, SIGHUP };

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

static bool has_prefix(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return false;
	return true;
}

static int remove_at(int parent, const char *name, dev_t dev, int depth);

/* Unlinking while reading a directory may skip entries: read it again until a pass
 * removes nothing. */
static void remove_children(int fd, dev_t dev, int depth)
{
	char buf[2048];

	for (int pass = 0; pass < 16; pass++) {
		bool removed = false;
		long n;

		if (lseek(fd, 0, SEEK_SET) < 0)
			return;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
				off += d->reclen;
				if (!is_dot(d->name) && remove_at(fd, d->name, dev, depth + 1) == 0)
					removed = true;
			}
		}
		if (!removed)
			return;
	}
}

/* Never leaves the file system it started on, never follows a symlink. */
static int remove_at(int parent, const char *name, dev_t dev, int depth)
{
	struct stat st;
	int fd;

	if (unlinkat(parent, name, 0) == 0)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth > MAX_DEPTH)
		return -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || st.st_dev != dev) {
		close(fd);
		return -1;
	}
	remove_children(fd, dev, depth);
	close(fd);
	return unlinkat(parent, name, AT_REMOVEDIR);
}

int interrupt_remove_tree(const char *path, int keep_top)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
		return keep_top ? 0 : RET_NERRNO(unlink(path)); /* a file or a symlink: the name */
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	remove_children(fd, st.st_dev, 0);
	close(fd);
	return keep_top ? 0 : RET_NERRNO(rmdir(path));
}

static void remove_prefixed(const char *dir, const char *prefix)
{
	char buf[2048];
	long n;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return;
	for (int pass = 0; pass < 16; pass++) {
		bool removed = false;
		if (lseek(fd, 0, SEEK_SET) < 0)
			break;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				struct dirent64_raw *d = (struct dirent64_raw *)(buf + off);
				off += d->reclen;
				if (has_prefix(d->name, prefix) && unlinkat(fd, d->name, 0) == 0)
					removed = true;
			}
		}
		if (!removed)
			break;
	}
	close(fd);
}

static void undo(enum interrupt_kind kind)
{
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		if (!s->used || s->kind != kind)
			continue;
		switch (kind) {
		case INTERRUPT_CHILD:
			if (kill(-s->pid, SIGKILL) == 0 || kill(s->pid, SIGKILL) == 0)
				while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
					;
			break;
		case INTERRUPT_MOUNT:
			umount2(s->path, MNT_DETACH);
			break;
		case INTERRUPT_FILE:
			unlink(s->path);
			break;
		case INTERRUPT_PREFIX:
			remove_prefixed(s->path, s->prefix);
			break;
		case INTERRUPT_DIR:
		case INTERRUPT_CONTENTS:
			interrupt_remove_tree(s->path, kind == INTERRUPT_CONTENTS);
			break;
		}
		s->used = 0;
	}
}

/* Children first (they write into the mounts), mounts before the directories they are
 * in; then the default action, so the exit status says which signal it was. */
static void on_signal(int sig)
{
	static const enum interrupt_kind order[] = {
		INTERRUPT_CHILD, INTERRUPT_MOUNT, INTERRUPT_FILE,
		INTERRUPT_PREFIX, INTERRUPT_DIR, INTERRUPT_CONTENTS,
	};
	int saved = errno;

	for (size_t i = 0; i < ELEMENTSOF(order); i++)
		undo(order[i]);
	errno = saved;
	raise(sig); /* pending until we return: SA_RESETHAND made it the default again */
}

/* A signal someone chose to ignore (nohup, a shell's background job) stays ignored. */
static void install(void)
{
	for (size_t i = 0; i < ELEMENTSOF(handled); i++) {
		struct sigaction cur, sa = { .sa_handler = on_signal, .sa_flags = SA_RESETHAND };
		if (sigaction(handled[i], NULL, &cur) < 0 || (cur.sa_flags & SA_SIGINFO) ||
		    cur.sa_handler != SIG_DFL)
			continue;
		sigfillset(&sa.sa_mask);
		sigaction(handled[i], &sa, NULL);
	}
	installed = true;
}

static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < ELEMENTSOF(handled); i++)
		sigaddset(&set, handled[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

int interrupt_track(enum interrupt_kind kind, const char *path, const char *prefix, pid_t pid)
{
	sigset_t old;
	int r = -ENOSPC;

	if ((path && strlen(path) >= PATH_MAX) || (prefix && strlen(prefix) > NAME_MAX))
		return -ENAMETOOLONG;
	block_signals(&old);
	pthread_mutex_lock(&slots_lock);
	if (!installed)
		install();
	for (size_t i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->used)
			continue;
		s->kind = kind;
		s->pid = pid;
		snprintf(s->path, sizeof(s->path), "%s", path ? path : "");
		snprintf(s->prefix, sizeof(s->prefix), "%s", prefix ? prefix : "");
		s->used = 1;
		r = (int)i;
		break;
	}
	pthread_mutex_unlock(&slots_lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

void interrupt_untrack(int slot)
{
	sigset_t old;

	if (slot < 0 || slot >= SLOTS)
		return;
	block_signals(&old);
	slots[slot].used = 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

pid_t interrupt_fork(int *ret_slot)
{
	sigset_t old;
	pid_t pid;
	int sync[2], saved;
	char c;

	*ret_slot = -1;
	if (pipe2(sync, O_CLOEXEC) < 0)
		return -1;
	block_signals(&old);
	pid = fork();
	saved = errno;
	if (pid == 0) {
		/* A session of its own: a process group, so what it starts in the background
		 * goes with it, and no controlling terminal, so reading or setting the terminal
		 * fails instead of stopping it (SIGTTIN, SIGTTOU) with the parent waiting on it
		 * for ever. A fresh PID leads no group: setsid() cannot fail. */
		close(sync[0]);
		setsid();
		close(sync[1]);
		/* the parent's table is not the child's to undo */
		for (size_t i = 0; i < ELEMENTSOF(handled); i++) {
			struct sigaction cur;
			if (sigaction(handled[i], NULL, &cur) == 0 && cur.sa_handler == on_signal)
				signal(handled[i], SIG_DFL);
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return 0;
	}
	close(sync[1]);
	if (pid > 0) {
		/* EOF once the child leads its session (or died): from then on the handler's
		 * kill(-pid) reaches everything it starts. The parent cannot set the group
		 * itself: a group leader may not call setsid(). */
		while (read(sync[0], &c, 1) < 0 && errno == EINTR)
			;
		*ret_slot = interrupt_track(INTERRUPT_CHILD, NULL, NULL, pid);
	}
	close(sync[0]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return pid;
}
