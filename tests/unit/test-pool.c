/* The run's thread pool: when threads cannot be started, every item still gets either
 * done or failed, never skipped (a host left neither done nor failed would go on to the
 * next phase without a connection). pthread_create is interposed to fail on demand. */
#include "helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "pool.h"

static int creates_allowed = -1; /* -1: all */

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

	if (creates_allowed == 0)
		return EAGAIN;
	if (creates_allowed > 0)
		creates_allowed--;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	return real(t, attr, fn, arg);
}

#define N 50

struct items {
	atomic_int done[N];
	int failed[N];
};

static void job(void *data, size_t i)
{
	struct items *it = data;
	atomic_fetch_add(&it->done[i], 1);
}

static void no_thread(void *data, size_t i, int r)
{
	struct items *it = data;
	it->failed[i] = r;
}

static void test_all_threads(void **state)
{
	static struct items it;
	(void)state;
	memset(&it, 0, sizeof(it));
	creates_allowed = -1;
	assert_int_equal(pool_run(N, 8, job, no_thread, &it), 8);
	for (int i = 0; i < N; i++) {
		assert_int_equal(it.done[i], 1);
		assert_int_equal(it.failed[i], 0);
	}
}

static void test_some_threads(void **state)
{
	static struct items it;
	(void)state;
	memset(&it, 0, sizeof(it));
	creates_allowed = 2;
	assert_int_equal(pool_run(N, 8, job, no_thread, &it), 2);
	for (int i = 0; i < N; i++) {
		assert_int_equal(it.done[i], 1);
		assert_int_equal(it.failed[i], 0);
	}
}

static void test_no_thread(void **state)
{
	static struct items it;
	(void)state;
	memset(&it, 0, sizeof(it));
	creates_allowed = 0;
	assert_int_equal(pool_run(N, 8, job, no_thread, &it), -EAGAIN);
	creates_allowed = -1;
	for (int i = 0; i < N; i++) {
		assert_int_equal(it.done[i], 0);
		assert_int_equal(it.failed[i], -EAGAIN);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_threads),
		cmocka_unit_test(test_some_threads),
		cmocka_unit_test(test_no_thread),
	};
	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
