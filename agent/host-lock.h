/* The host's lock, ROOT/lock (ROOT /var/lib/cirun, CIRUN_AGENT_ROOT moves it): the agent
 * takes it for its whole session before anything changes the host, so two cirun runs
 * never act on one host at once.
 *
 * Two things make it: a flock(2) on the open file, which the kernel drops when the agent
 * dies (whether a holder is alive), and a record in the file, which says who holds it
 * (the control machine, cirun's pid there, the cluster, the command, this agent's pid,
 * since when) and until when (expires: renewed every HOST_LOCK_REFRESH_S while the
 * session's channel is open). A record whose holder is gone (no flock: killed, crashed,
 * rebooted) or whose expiry has passed (the holder hangs, or lost its cirun) is stale: it
 * is reported with its owner and age and broken only when asked (--force). A holder that
 * is alive and unexpired is never broken. The file is hostile on read: a symlink, FIFO,
 * directory, device or hard-linked file at ROOT/lock is refused without being followed,
 * opened for I/O or waited on, and a record is read capped and checked field by field. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "proto-msg.h"

#define HOST_LOCK_FILE "lock"
#define HOST_LOCK_TTL_S 120	/* expiry of a record, from its last renewal */
#define HOST_LOCK_REFRESH_S 30	/* how often a live holder renews it */
#define HOST_LOCK_MAX 4096	/* bytes of a record; a larger file is not one of ours */

struct host_lock_owner {
	char host[MSG_MAX_LOCK_HOST + 1]; /* the control machine */
	uint32_t pid;			  /* cirun's pid there */
	char cluster[64];
	char command[MSG_MAX_LOCK_COMMAND + 1];
	uint32_t agent_pid;		  /* the holding agent, on this host */
	int64_t since, expires;		  /* unix seconds */
};

/* A record as host_lock_record_format() writes it: every field present once and valid,
 * nothing but printable text, since <= expires. -EBADMSG/-E2BIG with the reason. */
int host_lock_record_parse(const char *data, size_t n, struct host_lock_owner *ret,
			   struct errbuf *err);
/* The record's text; its length, or -E2BIG when it does not fit in size. */
int host_lock_record_format(const struct host_lock_owner *o, char *buf, size_t size);

struct host_lock;

#define HOST_LOCK_BREAK_STALE (1u << 0)

/* Takes ROOT/lock for me (host, pid, cluster, command; agent_pid, since and expires are
 * set from getpid() and now). 0 when taken; 1 when a stale lock was broken for it
 * (flags HOST_LOCK_BREAK_STALE), note then saying whose. -EBUSY: a live holder (err names
 * it); -ESTALE: a stale lock and no HOST_LOCK_BREAK_STALE (err names it and its age);
 * -EINVAL: something at ROOT/lock that is not a lock file of cirun's. */
int host_lock_take(const char *root, const struct host_lock_owner *me, unsigned flags,
		   int64_t now, struct host_lock **ret, char *note, size_t note_size,
		   struct errbuf *err);

/* Renews the expiry to now + HOST_LOCK_TTL_S. -ESTALE when the lock is no longer ours
 * (another run broke it as stale: ROOT/lock is another file now). */
int host_lock_refresh(struct host_lock *l, int64_t now, struct errbuf *err);
/* Whether ROOT/lock is still the file this lock holds: -ESTALE (err says so) if not. */
int host_lock_check(struct host_lock *l, struct errbuf *err);

/* Renews the lock every interval_ms from a thread of its own while none of watch_fds
 * (the session's stdin and stdout: n of them, -1 skipped) has been hung up: a session
 * whose cirun went away stops renewing, and its lock goes stale at its expiry. */
int host_lock_keep(struct host_lock *l, const int *watch_fds, size_t n, unsigned interval_ms);

const struct host_lock_owner *host_lock_owner(const struct host_lock *l);

/* SIGTERM, SIGHUP and SIGINT (sshd or logind ending the session, an admin's kill) clear
 * the record of the lock this process holds before it dies of them, as a clean end does:
 * the host is then free, not stale. Only SIGKILL (or a crash) leaves a stale record. */
int host_lock_release_on_signals(void);

/* Stops the renewal, clears the record (the lock is free, not stale) and closes it. A lock
 * that was broken is left alone: it is another run's now. Returns NULL. */
struct host_lock *host_lock_release(struct host_lock *l);
