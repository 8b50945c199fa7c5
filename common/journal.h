/* The step journal of one host in one cluster: what the run did on it, one line per step
 * that SUCCEEDED, appended (and fsync'd) only after the step succeeded:
 *
 *     STEP UNIX-SECONDS [KEY=VALUE ...]
 *
 * STEP is the pipeline phase's name with each space as '-' ("kubeadm-init"); the values are
 * the inputs the step consumed (image id, digests of rendered configs) and what a later run
 * needs back from it (the registry hosts an import found). The last line is the host's
 * "journal position". The file lives on the host (ROOT/data/CLUSTER/journal, the truth) and
 * is mirrored on the control machine ($CIRUN_HOME/clusters/NAME/journal/IP).
 *
 * It comes from a host, so it is parsed as hostile input: the file, the line count, each
 * line, each field are capped, and every field is checked against a strict pattern. A last
 * line without its newline is a record whose append was torn (a crash): it is dropped, as
 * the step is then not known to have been recorded. Anything else malformed refuses the
 * whole journal, naming the line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

#define JOURNAL_MAX_BYTES (256u << 10) /* the file */
#define JOURNAL_MAX_LINES 1024
#define JOURNAL_MAX_LINE 1024	/* bytes of one line, without its newline */
#define JOURNAL_MAX_STEP 48	/* bytes of a step name */
#define JOURNAL_MAX_KEYS 16	/* KEY=VALUE pairs of one line */
#define JOURNAL_MAX_KEY 32
#define JOURNAL_MAX_VALUE 512

struct journal;

/* Parses text (len bytes, no NUL needed). *ret_torn (optional): whether a torn last line was
 * dropped. -EBADMSG / -E2BIG with "line N: why" in err. */
int journal_parse(const char *text, size_t len, struct journal **ret, bool *ret_torn,
		  struct errbuf *err);
struct journal *journal_free(struct journal *j);

size_t journal_count(const struct journal *j);
const char *journal_step(const struct journal *j, size_t i);
int64_t journal_time(const struct journal *j, size_t i);
/* The value of key in record i, NULL when it has none. */
const char *journal_get(const struct journal *j, size_t i, const char *key);
/* The index of the last record of step, -1 when there is none. */
long journal_last(const struct journal *j, const char *step);
/* Whether record i carries every KEY=VALUE of inputs ("k=v k=v", as journal_line builds
 * them) with the same value; keys of the record that inputs lacks (outputs) do not count. */
bool journal_matches(const struct journal *j, size_t i, const char *inputs);

/* The step name of a phase: its spaces as '-'; false when it does not fit or holds a
 * character a step name cannot (the caller's table is wrong). */
bool journal_step_name(const char *phase, char *out, size_t size);
/* One line, without its newline: "STEP T INPUTS"; -EINVAL when it would not parse back. */
int journal_line(const char *step, int64_t t, const char *inputs, struct buf *out);
/* Whether line (no newline) is one record the parser accepts; err says why not. */
int journal_line_check(const char *line, struct errbuf *err);

/* The journal rewritten with only the last record of each step, in the order those
 * records came (what a resume reads from it), into out; for a journal at its cap. */
int journal_compact(const struct journal *j, struct buf *out);
