/* A fixed pool of threads working through n items (the hosts of a run phase). */
#pragma once

#include <stddef.h>

typedef void (*pool_job_fn)(void *data, size_t i);
typedef void (*pool_fail_fn)(void *data, size_t i, int r);

/* Runs job(data, i) for every i < n on up to `workers` threads, each taking the next
 * item free. When fewer threads start than asked, those that did do all the items; when
 * none can start, fail(data, i, -errno) is called for every item instead, so no item is
 * left undone and silent. Returns the number of threads that ran, or -errno when none. */
int pool_run(size_t n, unsigned workers, pool_job_fn job, pool_fail_fn fail, void *data);
