/* The shared read of a layer (installer/layer-feed.h): hosts sending one layer at the same
 * time read its file once between them, at different speeds, with one that stops mid-way,
 * one that starts late, one left behind, and the memory cap. pread is interposed to count
 * the bytes really read from the test's files, whatever the module's own figures say. */
#include "helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "cleanup.h"
#include "layer-feed.h"

static atomic_ullong file_reads; /* bytes pread from any file by the code under test */

static ssize_t count(ssize_t n)
{
	if (n > 0)
		atomic_fetch_add(&file_reads, (unsigned long long)n);
	return n;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	static ssize_t (*real)(int, void *, size_t, off_t);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "pread");
	return count(real(fd, buf, n, off));
}

ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
	static ssize_t (*real)(int, void *, size_t, off64_t);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "pread64");
	return count(real(fd, buf, n, off));
}

#define FRAME 4096u
#define SLOTS 4u
#define SIZE (40u * FRAME + 123u) /* 41 frames, the last one short */

static unsigned char byte_at(uint64_t off, unsigned salt)
{
	return (unsigned char)((off * 2654435761u) >> 13) ^ (unsigned char)salt;
}

static char *make_layer(const char *dir, const char *name, uint64_t size, unsigned salt)
{
	char *path = NULL;
	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (uint64_t i = 0; i < size; i++)
		fputc(byte_at(i, salt), f);
	assert_int_equal(fclose(f), 0);
	return path;
}

static struct layer_feeds *feeds(unsigned lag_ms, size_t max_bytes)
{
	const struct layer_feeds_opts o = {
		.frame = FRAME, .frames = SLOTS, .max_bytes = max_bytes, .lag_ms = lag_ms,
	};
	return layer_feeds_new(&o);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* One host: reads the layer frame by frame, checks every byte. */
struct host {
	struct layer_feeds *fs;
	const char *path;
	unsigned salt;
	unsigned delay_ms;	 /* after each frame: how slow its network is */
	unsigned stop_after;	 /* frames, then it closes (its connection failed); 0: none */
	atomic_uint frames;	 /* read so far */
	atomic_bool hold;	 /* stalls while set */
	bool opened;		 /* open before the thread starts */
	struct layer_feed_reader *rd;
	uint64_t got;
	int bad;		 /* bytes that differ from the file's */
	int rc;
	pthread_t t;
};

static void *host_run(void *arg)
{
	struct host *h = arg;
	struct errbuf err = ERRBUF_INIT;
	unsigned char buf[FRAME];

	if (!h->opened && (h->rc = layer_feed_open(h->fs, h->path, SIZE, &h->rd, &err)) < 0)
		return NULL;
	for (;;) {
		while (atomic_load(&h->hold))
			sleep_ms(1);
		if (h->stop_after && atomic_load(&h->frames) == h->stop_after)
			break;
		ssize_t n = layer_feed_read(h->rd, buf, sizeof(buf), &err);
		if (n <= 0) {
			h->rc = (int)n;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			h->bad += buf[i] != byte_at(h->got + (uint64_t)i, h->salt);
		h->got += (uint64_t)n;
		atomic_fetch_add(&h->frames, 1);
		if (h->delay_ms)
			sleep_ms(h->delay_ms);
	}
	layer_feed_close(h->rd);
	return NULL;
}

static void start(struct host *h)
{
	assert_int_equal(pthread_create(&h->t, NULL, host_run, h), 0);
}

static void finish(struct host *h, uint64_t want)
{
	assert_int_equal(pthread_join(h->t, NULL), 0);
	assert_int_equal(h->rc, 0);
	assert_int_equal(h->bad, 0);
	assert_int_equal(h->got, want);
}

/* Four hosts at four speeds: every one gets every byte, the file is read once. */
static void test_speeds_read_once(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "layer", SIZE, 1);
	struct layer_feeds *fs = feeds(60000, 1 << 20);
	struct host h[4] = { 0 };
	struct layer_feeds_stats st;

	atomic_store(&file_reads, 0);
	for (unsigned i = 0; i < 4; i++) {
		h[i] = (struct host){ .fs = fs, .path = path, .salt = 1, .delay_ms = i * 2 };
		assert_int_equal(layer_feed_open(fs, path, SIZE, &h[i].rd, &(struct errbuf){ 0 }), 0);
		h[i].opened = true;
	}
	for (unsigned i = 0; i < 4; i++)
		start(&h[i]);
	for (unsigned i = 0; i < 4; i++)
		finish(&h[i], SIZE);
	layer_feeds_stats(fs, &st);
	assert_int_equal(atomic_load(&file_reads), SIZE);
	assert_int_equal(st.file_bytes, SIZE);
	assert_int_equal(st.shared_bytes, 3 * (uint64_t)SIZE);
	assert_int_equal(st.alone_bytes, 0);
	assert_int_equal(st.peak_ring_bytes, SLOTS * FRAME);
	assert_int_equal(st.ring_bytes, 0); /* freed with its last reader */
	layer_feeds_free(fs);
}

/* The host ahead waits for the slowest (its memory is the ring's), as long as lag_ms. */
static void test_back_pressure(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "layer", SIZE, 2);
	struct layer_feeds *fs = feeds(60000, 1 << 20);
	struct host fast = { .fs = fs, .path = path, .salt = 2, .opened = true };
	struct host slow = { .fs = fs, .path = path, .salt = 2, .opened = true };

	atomic_store(&file_reads, 0);
	assert_int_equal(layer_feed_open(fs, path, SIZE, &fast.rd, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_open(fs, path, SIZE, &slow.rd, &(struct errbuf){ 0 }), 0);
	atomic_store(&slow.hold, true);
	start(&slow);
	start(&fast);
	/* the slow one has read nothing: frames 0..SLOTS-1 fill the ring, no more */
	for (int i = 0; i < 5000 && atomic_load(&fast.frames) < SLOTS; i++)
		sleep_ms(1);
	sleep_ms(200);
	assert_int_equal(atomic_load(&fast.frames), SLOTS);
	atomic_store(&slow.hold, false);
	finish(&fast, SIZE);
	finish(&slow, SIZE);
	assert_int_equal(atomic_load(&file_reads), SIZE);
	layer_feeds_free(fs);
}

/* A host whose connection fails mid-layer closes its reader: the others go on at once
 * (lag_ms is a minute: waiting for it would time the test out) and the file is still
 * read once. */
static void test_one_fails_mid_layer(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "layer", SIZE, 3);
	struct layer_feeds *fs = feeds(60000, 1 << 20);
	struct host h[3] = { 0 };

	atomic_store(&file_reads, 0);
	for (unsigned i = 0; i < 3; i++) {
		h[i] = (struct host){ .fs = fs, .path = path, .salt = 3, .delay_ms = 1 };
		assert_int_equal(layer_feed_open(fs, path, SIZE, &h[i].rd, &(struct errbuf){ 0 }), 0);
		h[i].opened = true;
	}
	h[1].stop_after = 7;
	int64_t t0 = now_ms();
	for (unsigned i = 0; i < 3; i++)
		start(&h[i]);
	finish(&h[0], SIZE);
	finish(&h[1], 7 * FRAME);
	finish(&h[2], SIZE);
	assert_true(now_ms() - t0 < 10000);
	assert_int_equal(atomic_load(&file_reads), SIZE);
	layer_feeds_free(fs);
}

/* A host that starts the layer after its first frame left the ring reads alone, gets the
 * same bytes, and joins the ring when it catches up with the one ahead. */
static void test_late_joiner(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "layer", SIZE, 4);
	/* the one ahead pauses at frame 20: a short lag_ms lets the late one past it */
	struct layer_feeds *fs = feeds(100, 1 << 20);
	struct host late = { .fs = fs, .path = path, .salt = 4, .opened = true };
	struct layer_feeds_stats st;

	atomic_store(&file_reads, 0);
	struct layer_feed_reader *ahead;
	unsigned char buf[FRAME];
	assert_int_equal(layer_feed_open(fs, path, SIZE, &ahead, &(struct errbuf){ 0 }), 0);
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(layer_feed_read(ahead, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
	assert_int_equal(layer_feed_open(fs, path, SIZE, &late.rd, &(struct errbuf){ 0 }), 0);
	start(&late);
	finish(&late, SIZE);
	layer_feeds_stats(fs, &st);
	/* frames 0..15 alone (frame 20 - SLOTS = 16 is still in the ring, until frame 20
	 * is loaded over it), then from it up to 20, then it led (after lag_ms, the one ahead
	 * left behind): frames 20.. read once */
	assert_int_equal(st.alone_bytes, 16 * FRAME);
	assert_int_equal(atomic_load(&file_reads), SIZE + 16 * FRAME);
	/* the one ahead, still at frame 20, was left behind meanwhile and reads alone now */
	for (unsigned i = 20; i < 40; i++)
		assert_int_equal(layer_feed_read(ahead, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
	assert_int_equal(layer_feed_read(ahead, buf, sizeof(buf), &(struct errbuf){ 0 }), 123);
	assert_int_equal(buf[122], byte_at(SIZE - 1, 4));
	assert_int_equal(layer_feed_read(ahead, buf, sizeof(buf), &(struct errbuf){ 0 }), 0);
	layer_feed_close(ahead);
	layer_feeds_free(fs);
}

/* A host that stalls longer than lag_ms is left behind: the others finish without it,
 * and it goes on reading alone, with the right bytes. */
static void test_lagging_host_left_behind(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "layer", SIZE, 5);
	struct layer_feeds *fs = feeds(50, 1 << 20);
	struct host fast = { .fs = fs, .path = path, .salt = 5, .opened = true };
	struct host stuck = { .fs = fs, .path = path, .salt = 5, .opened = true };
	struct layer_feeds_stats st;

	atomic_store(&file_reads, 0);
	assert_int_equal(layer_feed_open(fs, path, SIZE, &fast.rd, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_open(fs, path, SIZE, &stuck.rd, &(struct errbuf){ 0 }), 0);
	atomic_store(&stuck.hold, true);
	start(&stuck);
	start(&fast);
	finish(&fast, SIZE); /* would hang here if the stuck one held it back */
	atomic_store(&stuck.hold, false);
	finish(&stuck, SIZE);
	layer_feeds_stats(fs, &st);
	/* alone up to the last frames, still in the ring: it takes those from there */
	assert_int_equal(st.alone_bytes, (41 - SLOTS) * FRAME);
	assert_int_equal(atomic_load(&file_reads), SIZE + (41 - SLOTS) * FRAME);
	layer_feeds_free(fs);
}

/* The rings never take more than max_bytes: a layer without room is read by each host
 * alone, as before; a ring is freed with its last reader and its room used again. */
static void test_memory_cap(void **state)
{
	_cleanup_free_ char *a = make_layer(*state, "a", SIZE, 6);
	_cleanup_free_ char *b = make_layer(*state, "b", SIZE, 7);
	struct layer_feeds *fs = feeds(60000, SLOTS * FRAME); /* one ring */
	struct layer_feed_reader *ra, *rb1, *rb2;
	struct layer_feeds_stats st;
	unsigned char buf[FRAME];

	assert_int_equal(layer_feed_open(fs, a, SIZE, &ra, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_open(fs, b, SIZE, &rb1, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_open(fs, b, SIZE, &rb2, &(struct errbuf){ 0 }), 0);
	for (unsigned i = 0; i < 41; i++) {
		assert_true(layer_feed_read(ra, buf, sizeof(buf), &(struct errbuf){ 0 }) > 0);
		assert_true(layer_feed_read(rb1, buf, sizeof(buf), &(struct errbuf){ 0 }) > 0);
		assert_int_equal(buf[0], byte_at((uint64_t)i * FRAME, 7));
		assert_true(layer_feed_read(rb2, buf, sizeof(buf), &(struct errbuf){ 0 }) > 0);
	}
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.peak_ring_bytes, SLOTS * FRAME);
	assert_int_equal(st.alone_bytes, 2 * (uint64_t)SIZE); /* b, twice */
	assert_int_equal(st.shared_bytes, 0);
	layer_feed_close(ra);
	layer_feed_close(rb1);
	layer_feed_close(rb2);
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.ring_bytes, 0);
	/* the room is free again: b gets the ring now */
	assert_int_equal(layer_feed_open(fs, b, SIZE, &rb1, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_open(fs, b, SIZE, &rb2, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_read(rb1, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
	assert_int_equal(layer_feed_read(rb2, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.shared_bytes, FRAME);
	layer_feed_close(rb1);
	layer_feed_close(rb2);
	layer_feeds_free(fs);
}

/* A layer that fits in a ring stays in memory once read, while there is room: a host
 * that comes after the others closed it reads nothing from the file; a new ring that
 * needs the room drops it. */
static void test_small_layer_kept(void **state)
{
	_cleanup_free_ char *small = make_layer(*state, "small", 2 * FRAME + 9, 9);
	_cleanup_free_ char *big = make_layer(*state, "big", SIZE, 10);
	struct layer_feeds *fs = feeds(60000, SLOTS * FRAME); /* one ring */
	struct layer_feed_reader *rd;
	struct layer_feeds_stats st;
	unsigned char buf[FRAME];

	atomic_store(&file_reads, 0);
	for (int host = 0; host < 3; host++) {
		assert_int_equal(layer_feed_open(fs, small, 2 * FRAME + 9, &rd, &(struct errbuf){ 0 }), 0);
		assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
		assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
		assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &(struct errbuf){ 0 }), 9);
		assert_int_equal(buf[8], byte_at(2 * FRAME + 8, 9));
		assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &(struct errbuf){ 0 }), 0);
		layer_feed_close(rd);
	}
	assert_int_equal(atomic_load(&file_reads), 2 * FRAME + 9);
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.ring_bytes, 3 * FRAME);
	/* the big layer needs a whole ring: the idle one goes */
	assert_int_equal(layer_feed_open(fs, big, SIZE, &rd, &(struct errbuf){ 0 }), 0);
	assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &(struct errbuf){ 0 }), FRAME);
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.ring_bytes, SLOTS * FRAME);
	assert_int_equal(st.alone_bytes, 0);
	layer_feed_close(rd);
	/* not held whole: dropped with its last reader */
	layer_feeds_stats(fs, &st);
	assert_int_equal(st.ring_bytes, 0);
	layer_feeds_free(fs);
}

/* A file shorter than the size the image says fails the reader with the file's name; a
 * missing one fails the open. */
static void test_short_and_missing(void **state)
{
	_cleanup_free_ char *path = make_layer(*state, "short", 2 * FRAME + 5, 8);
	struct layer_feeds *fs = feeds(60000, 1 << 20);
	struct layer_feed_reader *rd;
	struct errbuf err = ERRBUF_INIT;
	unsigned char buf[FRAME];

	assert_int_equal(layer_feed_open(fs, path, SIZE, &rd, &err), 0);
	assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &err), FRAME);
	assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &err), FRAME);
	assert_int_equal(layer_feed_read(rd, buf, sizeof(buf), &err), -EIO);
	assert_non_null(strstr(errbuf_msg(&err), "short"));
	assert_non_null(strstr(errbuf_msg(&err), "ends after 8197 of its"));
	/* a buffer smaller than a frame is refused, not overrun */
	assert_int_equal(layer_feed_read(rd, buf, 100, &err), -EINVAL);
	layer_feed_close(rd);
	_cleanup_free_ char *gone = NULL;
	assert_true(asprintf(&gone, "%s/gone", (char *)*state) > 0);
	assert_int_equal(layer_feed_open(fs, gone, SIZE, &rd, &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "gone"));
	layer_feeds_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_speeds_read_once, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_back_pressure, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_one_fails_mid_layer, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_late_joiner, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_lagging_host_left_behind, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_memory_cap, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_small_layer_kept, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_short_and_missing, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("layer-feed", tests, NULL, NULL);
}
