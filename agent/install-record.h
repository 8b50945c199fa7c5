/* The install record of a cluster on a host: ROOT/data/<cluster>/installed, one absolute
 * path per line, every file and directory a run of the cluster put outside its rootfs (and
 * every backup it made of a file in the way), so a clean removes exactly what runs added.
 * Setup (agent/setup.h) and the hosts phase (agent/hosts.h) both write through it.
 *
 * A line of the record is trusted to say a file is cirun's only when it is an absolute
 * path without control characters (a name with a newline would forge a line); the
 * record of every other cluster on the host counts as cirun's too (two clusters of one
 * image share /usr/local/bin/kubeadm). The record is capped at 16 MiB: a path that does
 * not fit makes install_record_write fail rather than be dropped. */
#pragma once

#include <stdbool.h>

#include "error.h"

#define INSTALL_RECORD_MAX (16u << 20)
#define INSTALL_RECORD_BACKUP_SUFFIX ".cirun-backup"

/* INSTALL_RECORD_FORCE: a file in the way that no run installed is moved to
 * NAME.cirun-backup (recorded) instead of refused. */
enum {
	INSTALL_RECORD_FORCE = 1 << 0,
};

struct install_record;

/* Loads the cluster's record (each path once however often the cluster was re-run) and
 * the records of the host's other clusters. cluster must be a valid cluster name. */
struct install_record *install_record_open(const char *cluster, unsigned flags);
struct install_record *install_record_free(struct install_record *rc);
/* The same for a clean, where a record that cannot be read must stop everything (its
 * paths would be left behind, another cluster's shared ones removed): a record file that
 * is there but cannot be read or is over the cap fails, naming it. */
int install_record_load(const char *cluster, struct install_record **ret, struct errbuf *err);

static inline void install_record_freep(struct install_record **rc)
{
	install_record_free(*rc);
}

/* The record file's path, for messages. */
const char *install_record_file(const struct install_record *rc);

/* path was put there by this run (or an earlier one): recorded once. */
void install_record_add(struct install_record *rc, const char *path);

/* Before writing path: something there that no run of any cluster installed is someone
 * else's. Refused (-EEXIST, naming the record and --force), or with INSTALL_RECORD_FORCE
 * moved beside as path.cirun-backup (recorded, so a clean can put it back). 0 when path
 * is free or cirun's. */
int install_record_claim(struct install_record *rc, const char *path, struct errbuf *err);

/* mkdir -p that records each directory it creates; path must end at a directory
 * (followed if it is a symlink). */
int install_record_ensure_dir(struct install_record *rc, const char *path, struct errbuf *err);

/* Writes the record, also after a failed run (what was installed before the failure must
 * be recorded): r is the run's result so far, returned as it is when it is a failure
 * (err left alone). Else -E2BIG when a path did not fit (the record is written up to
 * there), or the write's failure. */
int install_record_write(struct install_record *rc, int r, struct errbuf *err);

/* The cluster's recorded paths, in the order they were recorded (each once; lines that
 * are no absolute path were dropped when read); the array and its strings to free. */
char **install_record_paths(const struct install_record *rc, size_t *ret_n);
/* path is in another cluster's record on this host: theirs too, not to remove. */
bool install_record_shared(const struct install_record *rc, const char *path);

/* A line of a record file (named file, for the warning): an absolute path without control
 * characters; anything else is logged and not trusted to say a file is cirun's. */
bool install_record_line_ok(const char *file, const char *line);
/* The record lists one path per line: names with a control character cannot be recorded. */
bool install_record_has_control(const char *name);
/* name with control characters and backslashes escaped, for a message (malloc'd). */
char *install_record_escaped(const char *name);
