/* The run's pipeline (installer/run/pipeline.c): the table's order, and the loop's rules,
 * with fake phases over fake hosts: phases run in order with every host done before the
 * next starts; a failed host stops alone; when every host failed the rest is passed over;
 * an all-or-nothing phase stops the run; selections, one at a time, skip; the plan's line.
 * pthread_create is interposed to fail on demand. */
#include "helpers.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "run/run-internal.h"

static int creates_allowed = -1; /* -1: all */

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

	if (creates_allowed == 0)
		return EAGAIN;
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	return real(t, attr, fn, arg);
}

#define NHOSTS 5
#define MAXCALLS 256

/* What the fake phases did: calls in order of start, and how many ran at once. */
static struct {
	pthread_mutex_t lock;
	struct {
		char phase;
		size_t host;
	} calls[MAXCALLS];
	size_t ncalls;
	atomic_int active, max_active;
	unsigned fail['z' + 1]; /* bit i: the phase fails hosts[i] */
	int after_calls;
	size_t calls_at_after;
	unsigned after_fails;	/* hosts the after hook fails */
} t = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct run_opts opts;
static struct cluster_host specs[NHOSTS];
static struct host_state hosts[NHOSTS];
static struct run run;
static struct cluster cluster;

static int setup(void **state)
{
	static char ips[NHOSTS][16];
	(void)state;

	pthread_mutex_lock(&t.lock);
	t.ncalls = 0;
	pthread_mutex_unlock(&t.lock);
	t.active = t.max_active = 0;
	memset(t.fail, 0, sizeof(t.fail));
	t.after_calls = 0;
	t.calls_at_after = 0;
	t.after_fails = 0;
	creates_allowed = -1;
	memset(hosts, 0, sizeof(hosts));
	/* three masters, then two nodes, as the cluster model orders them */
	for (size_t i = 0; i < NHOSTS; i++) {
		snprintf(ips[i], sizeof(ips[i]), "10.9.9.%zu", i + 1);
		specs[i] = (struct cluster_host){ .ip = ips[i], .role = i < 3 ? ROLE_MASTER : ROLE_NODE };
		hosts[i].spec = &specs[i];
	}
	opts = (struct run_opts){ .parallel = 4 };
	cluster = (struct cluster){ 0 };
	run = (struct run){ .c = &cluster, .o = &opts, .hosts = hosts, .n = NHOSTS };
	return 0;
}

static int fake(char phase, struct run *r, struct host_state *h)
{
	size_t i = (size_t)(h - r->hosts);
	int now = atomic_fetch_add(&t.active, 1) + 1;
	int max = atomic_load(&t.max_active);

	while (now > max && !atomic_compare_exchange_weak(&t.max_active, &max, now))
		;
	pthread_mutex_lock(&t.lock);
	assert_true(t.ncalls < MAXCALLS);
	t.calls[t.ncalls].phase = phase;
	t.calls[t.ncalls].host = i;
	t.ncalls++;
	pthread_mutex_unlock(&t.lock);
	usleep(2000); /* long enough for a second worker to start one if it may */
	atomic_fetch_sub(&t.active, 1);
	if (t.fail[(unsigned char)phase] & (1u << i))
		return errbuf_set(&h->err, -EIO, "%c broke", phase);
	return 0;
}

static int fake_a(struct run *r, struct host_state *h) { return fake('a', r, h); }
static int fake_b(struct run *r, struct host_state *h) { return fake('b', r, h); }
static int fake_c(struct run *r, struct host_state *h) { return fake('c', r, h); }

static int fake_after(struct run *r)
{
	t.after_calls++;
	t.calls_at_after = t.ncalls;
	for (size_t i = 0; i < r->n; i++)
		if (t.after_fails & (1u << i))
			host_fail(&r->hosts[i], "check", -EPERM, "check failed");
	return t.after_fails ? -EPERM : 0;
}

static bool skip_always(const struct run *r)
{
	(void)r;
	return true;
}

/* Calls of one phase, and whether host i was among them. */
static size_t count(char phase)
{
	size_t n = 0;
	for (size_t k = 0; k < t.ncalls; k++)
		n += t.calls[k].phase == phase;
	return n;
}

static bool ran_on(char phase, size_t host)
{
	for (size_t k = 0; k < t.ncalls; k++)
		if (t.calls[k].phase == phase && t.calls[k].host == host)
			return true;
	return false;
}

static void test_table_order(void **state)
{
	static const char *const names[] = { "connect", "agent", "facts", "journal", "Originally",
					     "distribute", "config", "setup", "hosts", "init",
					     "registry", "mirrors", "PreInit", "kubeadm init", "join data",
					     "PreJoin", "join masters", "join nodes", "label masters",
					     "PostJoin kubectl", "PostJoin", "PreGuest kubectl",
					     "PreGuest", "cmd", "wait Ready", "PostInstall kubectl",
					     "PostInstall" };
	(void)state;

	assert_int_equal(run_pipeline_len, ELEMENTSOF(names));
	for (size_t k = 0; k < run_pipeline_len; k++) {
		const struct phase *p = &run_pipeline[k];
		assert_string_equal(p->name, names[k]);
		assert_non_null(p->run);
		/* every host, but master0 runs the CMDs and the plugins' kubectl (label
		 * selectors, LABEL, TAINT, CLUSTERCHECK), and PreJoin acts on the hosts that join */
		bool cmd = strcmp(p->name, "cmd") == 0;
		bool selectors = strstr(p->name, " kubectl") != NULL;
		bool registry = strcmp(p->name, "registry") == 0;
		bool point = strcmp(p->name, "PreInit") == 0 || strcmp(p->name, "PreJoin") == 0 ||
			     strcmp(p->name, "PostJoin") == 0 || strcmp(p->name, "PreGuest") == 0;
		/* kubeadm: init, its join data, the labels and the wait on master0, joins on
		 * the others */
		bool on_master0 = p->run == phase_kubeadm_init || p->run == phase_join_data ||
				  p->run == phase_label_masters || p->run == phase_wait_ready;
		bool join_masters = strcmp(p->name, "join masters") == 0;
		bool join_nodes = strcmp(p->name, "join nodes") == 0;
		assert_true(p->on == (cmd || selectors || on_master0 ? &phase_on_master0 :
				      registry ? &phase_on_registry :
				      join_masters ? &phase_on_other_masters :
				      join_nodes ? &phase_on_nodes :
				      strcmp(p->name, "PreJoin") == 0 ? &phase_on_joining : NULL));
		/* config, cmd and the plugin points are there only when they have work */
		if (strcmp(p->name, "config") == 0)
			assert_true(p->skip == run_no_configs);
		else if (cmd)
			assert_true(p->skip == run_no_cmds);
		/* registry and containerd's mirrors of its sources: only for an image with
		 * images/; the others cannot do without the registry */
		else if (registry || p->run == phase_mirrors)
			assert_true(p->skip == run_no_registry &&
				    (!registry || (p->flags & PHASE_NEEDED_BY_ALL)));
		/* every kubeadm phase is skipped for an image without bin/kubeadm */
		else if (p->run == phase_kubeadm_init || p->run == phase_label_masters ||
			 p->run == phase_wait_ready)
			assert_true(p->skip == run_no_kubeadm);
		else if (p->run == phase_join_data)
			assert_true(p->skip == run_no_joins);
		else if (join_masters)
			assert_true(p->skip == run_no_master_joins && p->run == phase_join);
		else if (join_nodes)
			assert_true(p->skip == run_no_node_joins && p->run == phase_join);
		else if (selectors || point || strcmp(p->name, "Originally") == 0 ||
			 strcmp(p->name, "PostInstall") == 0)
			assert_non_null(p->skip);
		else
			assert_null(p->skip);
		assert_int_equal(!!(p->flags & PHASE_ONE_AT_A_TIME), join_masters);
		/* nothing is changed until connect and facts (with preflight) got every host through */
		bool gate = strcmp(p->name, "connect") == 0 || strcmp(p->name, "facts") == 0 ||
			    strcmp(p->name, "journal") == 0;
		assert_int_equal(!!(p->flags & PHASE_ALL_OR_NOTHING), gate);
		assert_true(p->after == (strcmp(p->name, "facts") == 0 ? run_preflight :
					 p->run == phase_wait_ready ? run_ready_after :
					 p->run == phase_journal ? run_journal_after : NULL));
	}
	assert_true(run_pipeline[0].run == phase_connect);
	/* each host's journal read before anything changes: where it resumes */
	assert_true(run_pipeline[3].run == phase_journal);
	assert_true(run_pipeline[3].after == run_journal_after);
	assert_true(run_pipeline[4].run == phase_plugins_originally);
	assert_true(run_pipeline[6].run == phase_config);
	/* /etc/hosts and the mirrors after setup, before init pulls anything */
	assert_true(run_pipeline[7].run == phase_setup);
	assert_true(run_pipeline[8].run == phase_hosts);
	assert_true(run_pipeline[9].run == phase_init);
	assert_true(run_pipeline[10].run == phase_registry);
	/* every host's mirrors for the registries the import found, right after it */
	assert_true(run_pipeline[11].run == phase_mirrors);
	/* PreInit, then kubeadm after the registry serves its images; PreJoin before the
	 * joins, after the join data; the masters' label once joined, before the points
	 * whose selectors look for it; PreGuest before the CMDs; the wait after them (a CNI
	 * comes from a CMD), before PostInstall */
	assert_true(run_pipeline[12].run == phase_plugins_pre_init);
	assert_true(run_pipeline[12].skip == run_no_plugins_pre_init);
	assert_true(run_pipeline[13].run == phase_kubeadm_init);
	assert_true(run_pipeline[14].run == phase_join_data);
	assert_true(run_pipeline[15].run == phase_plugins_pre_join);
	assert_true(run_pipeline[15].skip == run_no_plugins_pre_join);
	assert_true(run_pipeline[16].flags & PHASE_ONE_AT_A_TIME);
	assert_true(run_pipeline[18].run == phase_label_masters);
	assert_true(run_pipeline[19].run == phase_plugins_post_join_kubectl);
	assert_true(run_pipeline[19].skip == run_no_plugins_post_join_kubectl);
	assert_true(run_pipeline[20].run == phase_plugins_post_join);
	assert_true(run_pipeline[20].skip == run_no_plugins_post_join);
	assert_true(run_pipeline[21].run == phase_plugins_pre_guest_kubectl);
	assert_true(run_pipeline[21].skip == run_no_plugins_pre_guest_kubectl);
	assert_true(run_pipeline[22].run == phase_plugins_pre_guest);
	assert_true(run_pipeline[22].skip == run_no_plugins_pre_guest);
	assert_true(run_pipeline[23].run == phase_cmd);
	assert_true(run_pipeline[24].run == phase_wait_ready);
	assert_true(run_pipeline[24].after == run_ready_after);
	assert_true(run_pipeline[25].run == phase_plugins_selectors);
	assert_true(run_pipeline[25].skip == run_no_plugin_selectors);
	assert_true(run_pipeline[26].run == phase_plugins_post_install);
}

static void test_table_plan_line(void **state)
{
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	(void)state;

	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_string_equal(b.data, "phases on every host: connect, agent, facts and preflight, "
			    "journal, distribute, setup, hosts, init");
	/* with a Config document, config comes between distribute and setup */
	struct config_doc cfg = { 0 };
	cluster.configs = &cfg;
	cluster.nconfigs = 1;
	buf_reset(&b);
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_string_equal(b.data, "phases on every host: connect, agent, facts and preflight, "
			    "journal, distribute, config, setup, hosts, init");
	cluster = (struct cluster){ 0 };
	/* an image with a CMD: the replay on master0 ends the list */
	buf_reset(&b);
	run.img.meta.ncmds = 1;
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	run.img.meta.ncmds = 0;
	assert_string_equal(b.data, "phases: connect, agent, facts and preflight, journal, "
			    "distribute, "
			    "setup, hosts, init, cmd (on master0)");
	/* an image with images/: the registry on its host, then every host's mirrors */
	buf_reset(&b);
	run.has_images = true;
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	run.has_images = false;
	assert_string_equal(b.data, "phases: connect, agent, facts and preflight, journal, "
			    "distribute, "
			    "setup, hosts, init, registry (on the registry host), mirrors");
}

/* Every host goes through a, b, c in that order, and a phase ends on every host before
 * the next starts. */
static void test_order_and_barrier(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a },
				       { .name = "b", .run = fake_b },
				       { .name = "c", .run = fake_c } };
	(void)state;

	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(t.ncalls, 3 * NHOSTS);
	for (size_t k = 0; k < t.ncalls; k++)
		assert_int_equal(t.calls[k].phase, k < NHOSTS ? 'a' : k < 2 * NHOSTS ? 'b' : 'c');
	assert_true(t.max_active > 1); /* the hosts of a phase do run in parallel */
	assert_true(t.max_active <= 4);	/* within --parallel */
	for (size_t i = 0; i < NHOSTS; i++) {
		assert_false(hosts[i].failed);
		assert_int_equal(hosts[i].phases_done, 3);
	}
}

static void test_failed_host_stops_alone(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a },
				       { .name = "b", .run = fake_b },
				       { .name = "c", .run = fake_c } };
	(void)state;

	t.fail['a'] = 1u << 1;
	t.fail['b'] = 1u << 4;
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_true(hosts[1].failed);
	assert_string_equal(hosts[1].failed_phase, "a");
	assert_string_equal(errbuf_msg(&hosts[1].err), "a broke");
	assert_int_equal(hosts[1].phases_done, 0);
	assert_false(ran_on('b', 1));
	assert_false(ran_on('c', 1));
	assert_true(hosts[4].failed);
	assert_string_equal(hosts[4].failed_phase, "b");
	assert_int_equal(hosts[4].phases_done, 1);
	assert_false(ran_on('c', 4));
	for (size_t i = 0; i < NHOSTS; i++) {
		if (i == 1 || i == 4)
			continue;
		assert_false(hosts[i].failed);
		assert_int_equal(hosts[i].phases_done, 3);
	}
	assert_int_equal(count('c'), NHOSTS - 2);
}

/* When every host failed, the later phases and their hooks are passed over (no header,
 * no call). Without a gate, that is not a stop: the table shows the failures. */
static void test_all_failed_skips_the_rest(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a },
				       { .name = "b", .run = fake_b, .after = fake_after },
				       { .name = "c", .run = fake_c } };
	(void)state;

	t.fail['a'] = (1u << NHOSTS) - 1;
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('a'), NHOSTS);
	assert_int_equal(count('b'), 0);
	assert_int_equal(count('c'), 0);
	assert_int_equal(t.after_calls, 0);
	for (size_t i = 0; i < NHOSTS; i++)
		assert_string_equal(hosts[i].failed_phase, "a");
}

/* One host failing an all-or-nothing phase stops the run: no later phase on any host, and
 * the phase's own hook (preflight) does not run either. */
static void test_all_or_nothing_stops(void **state)
{
	const struct phase table[] = {
		{ .name = "a", .run = fake_a, .after = fake_after, .flags = PHASE_ALL_OR_NOTHING },
		{ .name = "b", .run = fake_b },
	};
	(void)state;

	t.fail['a'] = 1u << 2;
	assert_false(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('a'), NHOSTS);
	assert_int_equal(count('b'), 0);
	assert_int_equal(t.after_calls, 0);
	assert_false(hosts[0].failed);
	assert_int_equal(hosts[0].phases_done, 1);
}

/* A phase the others need (the registry): a host failing in it stops the run after it;
 * a host that had failed before does not. */
static void test_needed_by_all_stops(void **state)
{
	const struct phase table[] = {
		{ .name = "a", .run = fake_a },
		{ .name = "b", .run = fake_b, .on = &phase_on_master0, .flags = PHASE_NEEDED_BY_ALL },
		{ .name = "c", .run = fake_c },
	};
	(void)state;

	t.fail['a'] = 1u << 3; /* another host failed earlier: b still goes on */
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('c'), NHOSTS - 1);

	setup(NULL);
	t.fail['b'] = 1u << 0;
	assert_false(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('b'), 1);
	assert_int_equal(count('c'), 0);
	assert_string_equal(hosts[0].failed_phase, "b");
	assert_false(hosts[1].failed);
}

/* The hook runs once, after the phase ended on every host; a host it fails stops an
 * all-or-nothing run; one it passes lets it go on. */
static void test_after_hook(void **state)
{
	const struct phase table[] = {
		{ .name = "a", .run = fake_a, .after = fake_after, .flags = PHASE_ALL_OR_NOTHING },
		{ .name = "b", .run = fake_b },
	};
	(void)state;

	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(t.after_calls, 1);
	assert_int_equal(t.calls_at_after, NHOSTS);
	assert_int_equal(count('b'), NHOSTS);

	setup(NULL);
	t.after_fails = 1u << 3;
	assert_false(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(t.after_calls, 1);
	assert_int_equal(count('b'), 0);
	assert_string_equal(hosts[3].failed_phase, "check");
	assert_int_equal(hosts[3].phases_done, 1); /* a was done; the check is not a phase */
}

/* A failing hook of a phase that is not all-or-nothing stops the run too. */
static void test_after_hook_stops_later_phase(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a, .after = fake_after },
				       { .name = "b", .run = fake_b } };
	(void)state;

	t.after_fails = 1u << 0;
	assert_false(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('b'), 0);
}

static void test_selections(void **state)
{
	const struct phase table[] = {
		{ .name = "a", .run = fake_a, .on = &phase_on_master0 },
		{ .name = "b", .run = fake_b, .on = &phase_on_nodes },
		{ .name = "c", .run = fake_c, .on = &phase_on_other_masters,
		  .flags = PHASE_ONE_AT_A_TIME },
	};
	(void)state;

	t.fail['b'] = 1u << 3;
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('a'), 1);
	assert_true(ran_on('a', 0));
	assert_int_equal(count('b'), 2);
	assert_true(ran_on('b', 3) && ran_on('b', 4));
	assert_int_equal(count('c'), 2);
	assert_int_equal(t.calls[3].host, 1); /* the other masters in order */
	assert_int_equal(t.calls[4].host, 2);
	assert_int_equal(hosts[0].phases_done, 1);
	assert_int_equal(hosts[1].phases_done, 1);
	assert_int_equal(hosts[3].phases_done, 0);
	assert_true(hosts[3].failed);
	assert_int_equal(hosts[4].phases_done, 1);

	/* a selection where every host failed is passed over: the others' failure does not
	 * make it run elsewhere */
	setup(NULL);
	t.fail['a'] = 1u << 0;
	const struct phase again[] = { { .name = "a", .run = fake_a },
				       { .name = "b", .run = fake_b, .on = &phase_on_master0 } };
	assert_true(pipeline_run(&run, again, ELEMENTSOF(again)));
	assert_int_equal(count('b'), 0);
}

static void test_one_at_a_time(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a, .flags = PHASE_ONE_AT_A_TIME } };
	(void)state;

	opts.parallel = 32;
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(t.max_active, 1);
	for (size_t k = 0; k < NHOSTS; k++)
		assert_int_equal(t.calls[k].host, k);
}

static void test_skip(void **state)
{
	const struct phase table[] = { { .name = "a", .run = fake_a },
				       { .name = "b", .run = fake_b, .after = fake_after,
					 .skip = skip_always, .flags = PHASE_ALL_OR_NOTHING },
				       { .name = "c", .run = fake_c } };
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	(void)state;

	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	assert_int_equal(count('b'), 0);
	assert_int_equal(t.after_calls, 0);
	assert_int_equal(count('c'), NHOSTS);
	assert_int_equal(hosts[0].phases_done, 2);
	pipeline_describe(&run, table, ELEMENTSOF(table), &b);
	assert_string_equal(b.data, "phases on every host: a, c");
}

static void test_plan_line_with_selections(void **state)
{
	const struct phase table[] = {
		{ .name = "a", .run = fake_a, .after = fake_after, .after_name = "check" },
		{ .name = "b", .run = fake_b, .on = &phase_on_master0 },
		{ .name = "c", .run = fake_c, .on = &phase_on_other_masters,
		  .flags = PHASE_ONE_AT_A_TIME },
		{ .name = "d", .run = fake_c, .flags = PHASE_ONE_AT_A_TIME },
	};
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	(void)state;

	pipeline_describe(&run, table, ELEMENTSOF(table), &b);
	assert_string_equal(b.data, "phases: a and check, b (on master0), c (on the other masters, "
			    "one at a time), d (one at a time)");
}

/* No thread can start: the hosts the phase picks fail in it, the others are untouched. */
static void test_no_thread_fails_only_picked(void **state)
{
	const struct phase table[] = { { .name = "b", .run = fake_b, .on = &phase_on_nodes } };
	(void)state;

	creates_allowed = 0;
	assert_true(pipeline_run(&run, table, ELEMENTSOF(table)));
	creates_allowed = -1;
	assert_int_equal(t.ncalls, 0);
	for (size_t i = 0; i < NHOSTS; i++) {
		assert_int_equal(hosts[i].failed, specs[i].role == ROLE_NODE);
		if (hosts[i].failed)
			assert_string_equal(hosts[i].failed_phase, "b");
	}
}

/* The kubeadm rows: none without bin/kubeadm (the test images of the earlier phases keep
 * their phases); with it, init, the join data, the labels and the wait on master0, the
 * joins only when there is someone to join. The fake run has three masters and two nodes. */
static void test_kubeadm_rows_plan(void **state)
{
	_cleanup_buf_ struct buf b = BUF_INIT(4096);
	(void)state;

	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_null(strstr(b.data, "kubeadm"));
	run.has_kubeadm = true;
	run.n_masters = 3;
	buf_reset(&b);
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_string_equal(b.data, "phases: connect, agent, facts and preflight, journal, "
			    "distribute, "
			    "setup, hosts, init, kubeadm init (on master0), join data (on master0), "
			    "join masters (on the other masters, one at a time), join nodes (on the "
			    "nodes), label masters (on master0), wait Ready (on master0)");
	/* master0 alone: no join data, no joins */
	run.n = 1;
	run.n_masters = 1;
	buf_reset(&b);
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_string_equal(b.data, "phases: connect, agent, facts and preflight, journal, "
			    "distribute, "
			    "setup, hosts, init, kubeadm init (on master0), label masters (on master0), "
			    "wait Ready (on master0)");
	/* one master and nodes: no master joins */
	run.n = NHOSTS;
	buf_reset(&b);
	pipeline_describe(&run, run_pipeline, run_pipeline_len, &b);
	assert_non_null(strstr(b.data, "join data (on master0), join nodes (on the nodes)"));
	assert_null(strstr(b.data, "join masters"));
	run.has_kubeadm = false;
	run.n_masters = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_table_order, setup),
		cmocka_unit_test_setup(test_table_plan_line, setup),
		cmocka_unit_test_setup(test_order_and_barrier, setup),
		cmocka_unit_test_setup(test_failed_host_stops_alone, setup),
		cmocka_unit_test_setup(test_all_failed_skips_the_rest, setup),
		cmocka_unit_test_setup(test_all_or_nothing_stops, setup),
		cmocka_unit_test_setup(test_needed_by_all_stops, setup),
		cmocka_unit_test_setup(test_after_hook, setup),
		cmocka_unit_test_setup(test_after_hook_stops_later_phase, setup),
		cmocka_unit_test_setup(test_selections, setup),
		cmocka_unit_test_setup(test_one_at_a_time, setup),
		cmocka_unit_test_setup(test_skip, setup),
		cmocka_unit_test_setup(test_plan_line_with_selections, setup),
		cmocka_unit_test_setup(test_no_thread_fails_only_picked, setup),
		cmocka_unit_test_setup(test_kubeadm_rows_plan, setup),
	};
	return cmocka_run_group_tests_name("run-pipeline", tests, NULL, NULL);
}
