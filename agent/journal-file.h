/* The host's side of the step journal (common/journal.h): ROOT/data/CLUSTER/journal, read
 * and appended for the installer (JOURNAL_READ, JOURNAL_APPEND). The cluster's directory is
 * reached from ROOT one component at a time without following a symlink, and the journal is
 * opened with O_NOFOLLOW and must be a regular file: a record never goes through a link out
 * of the tree. An append is on disk (fsync'd) before it is answered. */
#pragma once

#include "buf.h"
#include "error.h"

/* The journal's text into out (cap JOURNAL_MAX_BYTES); empty when there is none yet. */
int journal_file_read(const char *root, const char *cluster, struct buf *out, struct errbuf *err);

/* line (one record, no newline, journal_line_check) appended and fsync'd, the cluster's
 * directory made when missing; the journal's new text into out. A torn last line is
 * dropped, and a journal at its cap keeps only the last record of each step (rewritten
 * atomically). A journal that does not parse is refused, not written over. */
int journal_file_append(const char *root, const char *cluster, const char *line, struct buf *out,
			struct errbuf *err);
