#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"

struct pool {
	size_t n;
	pool_job_fn job;
	void *data;
	atomic_size_t next;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&p->next, 1);
		if (i >= p->n)
			return NULL;
		p->job(p->data, i);
	}
}

int pool_run(size_t n, unsigned workers, pool_job_fn job, pool_fail_fn fail, void *data)
{
	struct pool p = { .n = n, .job = job, .data = data };
	pthread_t *t;
	unsigned started = 0;
	int r = 0;

	if (n == 0)
		return 0;
	if (workers == 0 || workers > n)
		workers = (unsigned)MIN(n, 1024u);
	t = xcalloc(workers, sizeof(*t));
	for (; started < workers; started++) {
		r = pthread_create(&t[started], NULL, worker, &p);
		if (r != 0)
			break;
	}
	if (started < workers)
		log_warning("started %u of %u threads: %s", started, workers, strerror(r));
	for (unsigned i = 0; i < started; i++) {
		int j = pthread_join(t[i], NULL);
		if (j != 0) /* cannot happen for a joinable thread we started; say so if it does */
			log_warning("joining a phase thread failed: %s", strerror(j));
	}
	free(t);
	if (started == 0) {
		for (size_t i = 0; i < n; i++)
			fail(data, i, -r);
		return -r;
	}
	return (int)started;
}
