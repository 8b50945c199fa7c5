#include "layer-feed.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"

/* One layer's ring: frame f sits in slot f % slots once loaded (f < head), until frame
 * f + slots is loaded over it. */
struct feed {
	struct feed *next;
	char *path;
	uint64_t size;
	unsigned char *ring;
	size_t slots;	 /* frames it holds: the layer's, up to the set's `frames` */
	uint64_t head;	 /* frames loaded so far */
	bool loading;	 /* a reader is filling slot head % frames, outside the lock */
	struct layer_feed_reader *readers;
	uint64_t idle_since; /* no reader, the whole layer held: kept while there is room */
};

struct layer_feed_reader {
	struct layer_feeds *fs;
	struct feed *feed; /* NULL: no room for a ring, reads alone */
	struct layer_feed_reader *next; /* in feed->readers */
	char *path;
	int fd;
	uint64_t size;
	uint64_t frame;	/* the next frame it reads */
	bool attached;	/* takes its frames from the ring (else pread) and holds the ring back */
	bool copying;	/* copying `frame` out of its slot, outside the lock */
};

struct layer_feeds {
	struct layer_feeds_opts o;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* a frame loaded or copied, a reader gone */
	struct feed *feeds;
	uint64_t closes; /* a clock for idle_since */
	struct layer_feeds_stats st;
};

struct layer_feeds *layer_feeds_new(const struct layer_feeds_opts *o)
{
	struct layer_feeds *fs = xcalloc(1, sizeof(*fs));
	pthread_condattr_t ca;

	fs->o = *o;
	if (fs->o.frames < 2) /* one slot would be overwritten under its own reader */
		fs->o.frames = 2;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fs->changed, &ca);
	pthread_condattr_destroy(&ca);
	return fs;
}

static size_t ring_slots(const struct layer_feeds *fs, uint64_t size)
{
	uint64_t frames = size / fs->o.frame + (size % fs->o.frame != 0);
	return (size_t)MAX(1, MIN(frames, (uint64_t)fs->o.frames));
}

static void feed_drop(struct layer_feeds *fs, struct feed *f)
{
	struct feed **p = &fs->feeds;

	while (*p != f)
		p = &(*p)->next;
	*p = f->next;
	fs->st.ring_bytes -= f->slots * fs->o.frame;
	free(f->ring);
	free(f->path);
	free(f);
}

/* Makes room for a ring of `bytes` by dropping idle rings, the longest idle first. */
static bool make_room(struct layer_feeds *fs, size_t bytes)
{
	while (fs->st.ring_bytes + bytes > fs->o.max_bytes) {
		struct feed *oldest = NULL;
		for (struct feed *f = fs->feeds; f; f = f->next)
			if (!f->readers && (!oldest || f->idle_since < oldest->idle_since))
				oldest = f;
		if (!oldest)
			return false;
		feed_drop(fs, oldest);
	}
	return true;
}

struct layer_feeds *layer_feeds_free(struct layer_feeds *fs)
{
	if (!fs)
		return NULL;
	/* every reader is closed by now: what is left are idle rings */
	while (fs->feeds)
		feed_drop(fs, fs->feeds);
	pthread_mutex_destroy(&fs->lock);
	pthread_cond_destroy(&fs->changed);
	free(fs);
	return NULL;
}

static struct feed *feed_find_or_make(struct layer_feeds *fs, const char *path, uint64_t size)
{
	struct feed *f;

	for (f = fs->feeds; f; f = f->next)
		if (f->size == size && strcmp(f->path, path) == 0)
			return f;
	size_t slots = ring_slots(fs, size);
	if (!make_room(fs, slots * fs->o.frame))
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->path = xstrdup(path);
	f->size = size;
	f->slots = slots;
	f->ring = xmalloc(slots * fs->o.frame);
	f->next = fs->feeds;
	fs->feeds = f;
	fs->st.ring_bytes += slots * fs->o.frame;
	fs->st.peak_ring_bytes = MAX(fs->st.peak_ring_bytes, fs->st.ring_bytes);
	return f;
}

/* Whether frame g can be taken from the ring (or is the next to load into it) by a reader
 * that attaches now: its slot is overwritten only once frame g + slots is being loaded. */
static bool readable(const struct feed *f, uint64_t g)
{
	if (g >= f->head)
		return g == f->head;
	return g + f->slots > f->head || (g + f->slots == f->head && !f->loading);
}

int layer_feed_open(struct layer_feeds *fs, const char *path, uint64_t size,
		    struct layer_feed_reader **ret, struct errbuf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errbuf_set(err, negative_errno(), "cannot open %s: %m", path);
	struct layer_feed_reader *rd = xcalloc(1, sizeof(*rd));
	rd->fs = fs;
	rd->fd = fd;
	rd->size = size;
	rd->path = xstrdup(path);
	pthread_mutex_lock(&fs->lock);
	rd->feed = feed_find_or_make(fs, path, size);
	if (rd->feed) {
		rd->next = rd->feed->readers;
		rd->feed->readers = rd;
		/* a late reader whose first frame left the ring reads alone until it catches up */
		rd->attached = readable(rd->feed, 0);
	}
	pthread_mutex_unlock(&fs->lock);
	*ret = rd;
	return 0;
}

void layer_feed_close(struct layer_feed_reader *rd)
{
	struct layer_feeds *fs;

	if (!rd)
		return;
	fs = rd->fs;
	pthread_mutex_lock(&fs->lock);
	if (rd->feed) {
		struct layer_feed_reader **p = &rd->feed->readers;
		while (*p != rd)
			p = &(*p)->next;
		*p = rd->next;
		/* a layer held whole serves the hosts that come later from memory */
		if (!rd->feed->readers && (rd->feed->head * fs->o.frame < rd->feed->size ||
					    rd->feed->head > rd->feed->slots))
			feed_drop(fs, rd->feed);
		else if (!rd->feed->readers)
			rd->feed->idle_since = ++fs->closes;
		/* it may have been the one the host ahead waited for */
		pthread_cond_broadcast(&fs->changed);
	}
	pthread_mutex_unlock(&fs->lock);
	close(rd->fd);
	free(rd->path);
	free(rd);
}

static size_t frame_len(const struct layer_feed_reader *rd, uint64_t frame)
{
	uint64_t off = frame * rd->fs->o.frame;
	return (size_t)MIN((uint64_t)rd->fs->o.frame, rd->size - off);
}

static unsigned char *slot(const struct layer_feeds *fs, const struct feed *f, uint64_t frame)
{
	return f->ring + (size_t)(frame % f->slots) * fs->o.frame;
}

/* Readers that still need the frame whose slot loading `head` would overwrite. */
static bool blocked(const struct feed *f, bool leave_behind)
{
	bool any = false;

	for (struct layer_feed_reader *o = f->readers; o; o = o->next) {
		if (!o->attached || o->frame + f->slots > f->head)
			continue;
		/* one copying its frame out holds the slot for a moment; never cut it off */
		if (leave_behind && !o->copying)
			o->attached = false;
		else
			any = true;
	}
	return any;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Waits until the slot of frame f->head is free: for the slowest readers for lag_ms,
 * then without those still behind (they go on with pread). Called with the lock held. */
static void wait_for_slot(struct layer_feeds *fs, struct feed *f)
{
	struct timespec deadline;
	bool timed = false, late = false;

	while (blocked(f, late)) {
		if (!timed) {
			deadline_in(&deadline, fs->o.lag_ms);
			timed = true;
		}
		if (late)
			pthread_cond_wait(&fs->changed, &fs->lock);
		else if (pthread_cond_timedwait(&fs->changed, &fs->lock, &deadline) == ETIMEDOUT)
			late = true;
	}
}

static ssize_t pread_frame(struct layer_feed_reader *rd, void *buf, size_t len, struct errbuf *err)
{
	off_t off = (off_t)(rd->frame * rd->fs->o.frame);
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(rd->fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errbuf_set(err, negative_errno(), "reading %s failed: %m", rd->path);
		if (n == 0)
			return errbuf_set(err, -EIO, "%s ends after %llu of its %llu bytes", rd->path,
					  (unsigned long long)(off + (off_t)got),
					  (unsigned long long)rd->size);
		got += (size_t)n;
	}
	return (ssize_t)len;
}

/* The frame rd->frame == f->head, read from the file into buf and the ring. Called with
 * the lock held and f->loading set by the caller; clears it. */
static ssize_t load(struct layer_feed_reader *rd, struct feed *f, void *buf, size_t len,
		    struct errbuf *err)
{
	struct layer_feeds *fs = rd->fs;
	ssize_t n;

	wait_for_slot(fs, f);
	pthread_mutex_unlock(&fs->lock);
	n = pread_frame(rd, buf, len, err);
	if (n >= 0)
		memcpy(slot(fs, f, rd->frame), buf, len);
	pthread_mutex_lock(&fs->lock);
	f->loading = false;
	if (n >= 0) {
		f->head++;
		rd->frame++;
		fs->st.file_bytes += len;
	}
	pthread_cond_broadcast(&fs->changed);
	return n;
}

/* Attached readers take their frame from the ring (loading it when they are ahead);
 * returns -EAGAIN when rd must read alone. Called with the lock held. */
static ssize_t from_ring(struct layer_feed_reader *rd, void *buf, size_t len, struct errbuf *err)
{
	struct layer_feeds *fs = rd->fs;
	struct feed *f = rd->feed;

	for (;;) {
		if (!rd->attached) {
			/* rejoin once its frame is in the ring or next to be loaded */
			if (!readable(f, rd->frame))
				return -EAGAIN;
			rd->attached = true;
		}
		if (rd->frame < f->head) {
			rd->copying = true;
			pthread_mutex_unlock(&fs->lock);
			memcpy(buf, slot(fs, f, rd->frame), len);
			pthread_mutex_lock(&fs->lock);
			rd->copying = false;
			rd->frame++;
			fs->st.shared_bytes += len;
			pthread_cond_broadcast(&fs->changed);
			return (ssize_t)len;
		}
		if (!f->loading) {
			f->loading = true;
			return load(rd, f, buf, len, err);
		}
		pthread_cond_wait(&fs->changed, &fs->lock);
	}
}

ssize_t layer_feed_read(struct layer_feed_reader *rd, void *buf, size_t cap, struct errbuf *err)
{
	struct layer_feeds *fs = rd->fs;
	uint64_t off = rd->frame * fs->o.frame;
	ssize_t n = -EAGAIN;
	size_t len;

	if (off >= rd->size)
		return 0;
	len = frame_len(rd, rd->frame);
	if (cap < len)
		return errbuf_set(err, -EINVAL, "a buffer of %zu bytes for frames of %zu", cap,
				  fs->o.frame);
	pthread_mutex_lock(&fs->lock);
	if (rd->feed)
		n = from_ring(rd, buf, len, err);
	pthread_mutex_unlock(&fs->lock);
	if (n != -EAGAIN)
		return n;
	n = pread_frame(rd, buf, len, err);
	if (n >= 0) {
		pthread_mutex_lock(&fs->lock);
		rd->frame++; /* a reader's position changes under the lock only */
		fs->st.file_bytes += len;
		fs->st.alone_bytes += len;
		pthread_mutex_unlock(&fs->lock);
	}
	return n;
}

void layer_feeds_stats(struct layer_feeds *fs, struct layer_feeds_stats *ret)
{
	pthread_mutex_lock(&fs->lock);
	*ret = fs->st;
	pthread_mutex_unlock(&fs->lock);
}
