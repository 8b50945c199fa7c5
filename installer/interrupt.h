/* What an interrupted verb must not leave behind. SIGINT, SIGTERM or SIGHUP during save,
 * load, build or export runs a handler that removes the tracked temporary files and
 * directories, unmounts tracked mounts and kills tracked children, using async-signal-safe
 * calls only, then re-raises the signal so the exit status still says what happened.
 *
 * Tracking is cheap (a slot in a fixed table, signals blocked while it changes); the
 * handler is installed with the first slot, and only where the signal's action is still
 * the default. A full table is not an error: what is not tracked is swept later, by the
 * next writer of the store (the names carry the owner's PID) or by `cirun prune`. */
#pragma once

#include <sys/types.h>

enum interrupt_kind {
	INTERRUPT_FILE,	    /* unlink path */
	INTERRUPT_DIR,	    /* remove path and everything below it */
	INTERRUPT_CONTENTS, /* remove everything below path, keep path */
	INTERRUPT_PREFIX,   /* unlink the entries of directory path named prefix* */
	INTERRUPT_MOUNT,    /* detach the mount at path */
	INTERRUPT_CHILD,    /* SIGKILL pid's process group (or pid), then reap it */
};

/* Returns a slot (>= 0) for interrupt_untrack, or -ENOSPC / -ENAMETOOLONG (not tracked). */
int interrupt_track(enum interrupt_kind kind, const char *path, const char *prefix, pid_t pid);
/* Forgets a slot (< 0 is ignored): the thing is gone or has become permanent. */
void interrupt_untrack(int slot);

/* fork(2) for a child the handler must kill: tracked before any signal can arrive, in a
 * session (and process group) of its own, so a RUN's "sleep", "daemon &" go with it and it
 * has no controlling terminal to be stopped by; the child starts with the default actions
 * (the table it inherits is not its own). The parent untracks *ret_slot once it has
 * reaped the child. */
pid_t interrupt_fork(int *ret_slot);

/* Removes path's tree with the handler's code (no malloc, no stdio); for tests. */
int interrupt_remove_tree(const char *path, int keep_top);
