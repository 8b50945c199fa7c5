/* One read of a layer file for all the hosts that send it at about the same time.
 *
 * Each layer being sent has a bounded ring of frames, filled from the file by whichever
 * host needs the next frame first; the others copy it from the ring. The ring never holds
 * more than `frames` frames: the host that is ahead waits for the slowest one before it
 * reuses a slot (back-pressure), but for lag_ms at most; a host left behind then, or one
 * that starts the layer after its first frame left the ring, or one that finds no room
 * under max_bytes, reads the file itself (pread on its own descriptor), and rejoins the
 * ring if it catches up. A host that stops (its connection failed) closes its reader and
 * holds nobody back. A layer that fits in one ring stays in memory after its last reader,
 * while no new ring needs the room, so that hosts that come later take it from there.
 * Every host gets the same bytes in the same frames whichever way they came. Thread-safe:
 * one reader per thread, any number of threads per layer. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct layer_feeds;
struct layer_feed_reader;

struct layer_feeds_opts {
	size_t frame;	  /* bytes per frame (the last one of a layer is shorter) */
	size_t frames;	  /* frames in one layer's ring; at least 2 */
	size_t max_bytes; /* of all rings together */
	unsigned lag_ms;  /* how long the host ahead waits for the slowest before leaving it */
};

struct layer_feeds *layer_feeds_new(const struct layer_feeds_opts *o);
struct layer_feeds *layer_feeds_free(struct layer_feeds *fs);

/* Opens the layer file at path (size bytes; the same path and size share a ring). */
int layer_feed_open(struct layer_feeds *fs, const char *path, uint64_t size,
		    struct layer_feed_reader **ret, struct errbuf *err);
/* Copies the reader's next frame into buf (cap >= the frame size); returns its length,
 * 0 at the end of the layer, or -errno (err says which file; the reader can still be
 * closed, and the others go on). */
ssize_t layer_feed_read(struct layer_feed_reader *rd, void *buf, size_t cap, struct errbuf *err);
void layer_feed_close(struct layer_feed_reader *rd);

struct layer_feeds_stats {
	uint64_t file_bytes;   /* read from the files, by all readers */
	uint64_t shared_bytes; /* handed out from a ring that another reader filled */
	uint64_t alone_bytes;  /* read by a reader for itself: late, left behind, or no room */
	size_t ring_bytes, peak_ring_bytes; /* memory of the rings now, and at most */
};
void layer_feeds_stats(struct layer_feeds *fs, struct layer_feeds_stats *ret);
