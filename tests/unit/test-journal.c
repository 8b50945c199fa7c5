/* The step journal: its parser as hostile input (common/journal.c: caps, strict fields, a torn
 * last line dropped), the record writer and compaction, the host's file (agent/journal-file.c:
 * no symlink followed, appended and read back, repaired, compacted at its cap), the
 * JOURNAL_APPEND decoder, and the resume decision (installer/run/journal.c). */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "journal-file.h"
#include "buf.h"
#include "cleanup.h"
#include "journal.h"
#include "proto-msg.h"
#include "proto.h"
#include "run/run-internal.h"

static struct journal *parse_ok(const char *text, bool *torn)
{
	struct journal *j = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r = journal_parse(text, strlen(text), &j, torn, &err);

	if (r < 0)
		fail_msg("refused: %s", errbuf_msg(&err));
	return j;
}

static void parse_bad(const char *text, size_t len, int code, const char *want)
{
	struct journal *j = NULL;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(journal_parse(text, len, &j, NULL, &err), code);
	assert_null(j);
	if (!strstr(errbuf_msg(&err), want))
		fail_msg("'%s' does not say '%s'", errbuf_msg(&err), want);
}

static void test_parse_fields(void **state)
{
	(void)state;
	bool torn = true;
	struct journal *j = parse_ok("distribute 1700000000 img=abc layers=0123\n"
				     "setup 1700000001 env=e1\n"
				     "kubeadm-init 1700000002 kubeadm=k1 cgroup=systemd\n"
				     "setup 1700000003 env=e2\n",
				     &torn);

	assert_false(torn);
	assert_int_equal(journal_count(j), 4);
	assert_string_equal(journal_step(j, 2), "kubeadm-init");
	assert_int_equal(journal_time(j, 3), 1700000003);
	assert_string_equal(journal_get(j, 2, "cgroup"), "systemd");
	assert_null(journal_get(j, 2, "img"));
	/* the last record of a step wins */
	assert_int_equal(journal_last(j, "setup"), 3);
	assert_int_equal(journal_last(j, "init"), -1);
	assert_true(journal_matches(j, 3, "env=e2"));
	assert_false(journal_matches(j, 3, "env=e1"));
	/* outputs (cgroup) are not inputs; a missing input key is a change */
	assert_true(journal_matches(j, 2, "kubeadm=k1"));
	assert_false(journal_matches(j, 2, "kubeadm=k1 env=x"));
	assert_true(journal_matches(j, 0, "img=abc layers=0123"));
	journal_free(j);
	/* empty: nothing recorded */
	j = parse_ok("", &torn);
	assert_int_equal(journal_count(j), 0);
	journal_free(j);
}

static void test_parse_torn(void **state)
{
	(void)state;
	bool torn = false;
	struct journal *j = parse_ok("distribute 1 img=a\nsetup 2 en", &torn);

	assert_true(torn);
	assert_int_equal(journal_count(j), 1);
	assert_int_equal(journal_last(j, "setup"), -1);
	journal_free(j);
}

static void test_parse_hostile(void **state)
{
	(void)state;
	char big[JOURNAL_MAX_LINE + 16];

	parse_bad("a 1\nb/x 2\n", 10, -EBADMSG, "line 2: the step 'b/x'");
	parse_bad("a -1\n", 5, -EBADMSG, "line 1: the time");
	parse_bad("a 1234567890123456789\n", 22, -EBADMSG, "is not unix seconds");
	parse_bad("a\n", 2, -EBADMSG, "the time '' is not unix seconds");
	parse_bad("a 1 k\n", 6, -EBADMSG, "is not KEY=VALUE");
	parse_bad("a 1 K=v\n", 8, -EBADMSG, "is not KEY=VALUE");
	parse_bad("a 1 k=\n", 7, -EBADMSG, "the value of k is empty");
	parse_bad("a 1 k=v k=w\n", 12, -EBADMSG, "comes twice");
	parse_bad("a 1  k=v\n", 9, -EBADMSG, "single-space");
	parse_bad("a 1 k=v \n", 9, -EBADMSG, "single-space");
	parse_bad("\n", 1, -EBADMSG, "line 1: empty");
	parse_bad("a 1 k=\x01v\n", 9, -EBADMSG, "printable");
	parse_bad("a 1 k=\xc3\xa9\n", 9, -EBADMSG, "printable");
	parse_bad("a 1 k=v\0x\n", 10, -EBADMSG, "NUL");
	memset(big, 'x', sizeof(big));
	memcpy(big, "a 1 k=", 6);
	big[sizeof(big) - 1] = '\n';
	parse_bad(big, sizeof(big), -E2BIG, "line 1: longer than");
	/* every cap: keys per line, lines, bytes */
	_cleanup_buf_ struct buf b = BUF_INIT(4u << 20);
	buf_puts(&b, "a 1");
	for (int i = 0; i <= JOURNAL_MAX_KEYS; i++)
		buf_printf(&b, " k%d=v", i);
	buf_putc(&b, '\n');
	parse_bad(b.data, b.len, -E2BIG, "more than 16 KEY=VALUE");
	buf_reset(&b);
	for (int i = 0; i <= JOURNAL_MAX_LINES; i++)
		buf_puts(&b, "a 1\n");
	parse_bad(b.data, b.len, -E2BIG, "more than 1024 lines");
	buf_reset(&b);
	for (size_t i = 0; b.len <= JOURNAL_MAX_BYTES; i++)
		buf_puts(&b, "a 1\n");
	parse_bad(b.data, b.len, -E2BIG, "longer than");
}

static void test_line_and_compact(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf b = BUF_INIT(JOURNAL_MAX_BYTES);
	char step[JOURNAL_MAX_STEP + 1];

	assert_true(journal_step_name("kubeadm init", step, sizeof(step)));
	assert_string_equal(step, "kubeadm-init");
	assert_false(journal_step_name("a/b", step, sizeof(step)));
	assert_false(journal_step_name("", step, sizeof(step)));
	assert_int_equal(journal_line("join-nodes", 42, "kubeadm=1234", &b), 0);
	assert_string_equal(b.data, "join-nodes 42 kubeadm=1234");
	buf_reset(&b);
	assert_int_equal(journal_line("init", 7, "", &b), 0);
	assert_string_equal(b.data, "init 7");
	buf_reset(&b);
	/* a value with a space would not read back: refused, nothing written */
	assert_int_equal(journal_line("init", 7, "env=a b=c d", &b), -EINVAL);
	assert_int_equal(journal_line("init", 7, "env=a  b", &b), -EINVAL);
	assert_int_equal(journal_line("init", -1, "", &b), -EINVAL);
	assert_int_equal(b.len, 0);

	struct journal *j = parse_ok("a 1 x=1\nb 2\na 3 x=2\nc 4\nb 5\n", NULL);
	assert_int_equal(journal_compact(j, &b), 0);
	assert_string_equal(b.data, "a 3 x=2\nc 4\nb 5\n");
	journal_free(j);
}

/* ---- the host's file ---- */

static char *setup_root(void **state)
{
	char *root = tmp_path(state, "root");
	assert_int_equal(mkdir(root, 0755), 0);
	return root;
}

static void test_file_append_read(void **state)
{
	_cleanup_free_ char *root = setup_root(state);
	_cleanup_free_ char *path = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(JOURNAL_MAX_BYTES);
	struct errbuf err = ERRBUF_INIT;
	struct stat st;

	/* nothing yet: empty, and nothing is created by a read */
	assert_int_equal(journal_file_read(root, "c1", &out, &err), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(journal_file_append(root, "c1", "distribute 1 img=a", &out, &err), 0);
	assert_string_equal(out.data, "distribute 1 img=a\n");
	assert_int_equal(journal_file_append(root, "c1", "setup 2 env=e", &out, &err), 0);
	assert_string_equal(out.data, "distribute 1 img=a\nsetup 2 env=e\n");
	assert_int_equal(journal_file_read(root, "c1", &out, &err), 0);
	assert_string_equal(out.data, "distribute 1 img=a\nsetup 2 env=e\n");
	path = xasprintf("%s/data/c1/journal", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a record that would not parse back, and a bad cluster name, are refused */
	assert_int_equal(journal_file_append(root, "c1", "setup 2 env=e\nx 1", &out, &err), -EBADMSG);
	assert_int_equal(journal_file_append(root, "../c1", "setup 2", &out, &err), -EINVAL);
	/* a torn last line (a crash in the middle of an append) is dropped by the next one */
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "init 3 en", 9), 9);
	close(fd);
	assert_int_equal(journal_file_append(root, "c1", "init 4 env=e", &out, &err), 0);
	assert_string_equal(out.data, "distribute 1 img=a\nsetup 2 env=e\ninit 4 env=e\n");
	/* a journal that does not parse is refused, not written over */
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "bad line here\n", 14), 14);
	close(fd);
	assert_int_equal(journal_file_append(root, "c1", "init 5", &out, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), "line 4"));
}

static void test_file_symlinks(void **state)
{
	_cleanup_free_ char *root = setup_root(state);
	_cleanup_free_ char *outside = tmp_path(state, "outside");
	_cleanup_free_ char *data = NULL, *link = NULL, *target = NULL;
	_cleanup_buf_ struct buf out = BUF_INIT(JOURNAL_MAX_BYTES);
	struct errbuf err = ERRBUF_INIT;
	struct stat st;

	assert_int_equal(mkdir(outside, 0755), 0);
	data = xasprintf("%s/data", root);
	assert_int_equal(mkdir(data, 0755), 0);
	/* data/CLUSTER a link out of the tree */
	link = xasprintf("%s/data/c2", root);
	assert_int_equal(symlink(outside, link), 0);
	assert_true(journal_file_append(root, "c2", "init 1", &out, &err) < 0);
	assert_true(journal_file_read(root, "c2", &out, &err) < 0);
	target = xasprintf("%s/journal", outside);
	assert_int_equal(lstat(target, &st), -1);
	/* the journal itself a link */
	free(link);
	link = xasprintf("%s/data/c3", root);
	assert_int_equal(mkdir(link, 0755), 0);
	free(link);
	link = xasprintf("%s/data/c3/journal", root);
	assert_int_equal(symlink(target, link), 0);
	assert_true(journal_file_append(root, "c3", "init 1", &out, &err) < 0);
	assert_true(journal_file_read(root, "c3", &out, &err) < 0);
	assert_int_equal(lstat(target, &st), -1);
}

static void test_file_compacts_at_cap(void **state)
{
	_cleanup_free_ char *root = setup_root(state);
	_cleanup_buf_ struct buf out = BUF_INIT(JOURNAL_MAX_BYTES);
	struct errbuf err = ERRBUF_INIT;

	for (int i = 0; i < JOURNAL_MAX_LINES; i++) {
		char line[64];
		snprintf(line, sizeof(line), "%s %d", i % 2 ? "setup" : "distribute", i);
		assert_int_equal(journal_file_append(root, "c1", line, &out, &err), 0);
	}
	assert_int_equal(journal_file_append(root, "c1", "init 5000", &out, &err), 0);
	assert_string_equal(out.data, "distribute 1022\nsetup 1023\ninit 5000\n");
}

static void test_msg_append_decode(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf p = BUF_INIT(PROTO_MAX_PAYLOAD);
	struct msg_journal m;
	struct errbuf err = ERRBUF_INIT;

	proto_put_str(&p, "c1");
	proto_put_str(&p, "init 1 env=x");
	assert_int_equal(msg_journal_append_decode(p.data, p.len, &m, &err), 0);
	assert_string_equal(m.line, "init 1 env=x");
	msg_journal_release(&m);
	assert_int_equal(proto_validate(MSG_JOURNAL_APPEND, p.data, p.len), 0);
	buf_reset(&p);
	proto_put_str(&p, "c1");
	proto_put_str(&p, "init 1 env=x\ninit 2");
	assert_int_equal(msg_journal_append_decode(p.data, p.len, &m, &err), -EBADMSG);
	buf_reset(&p);
	proto_put_str(&p, "c1");
	assert_int_equal(msg_journal_read_decode(p.data, p.len, &m, &err), 0);
	msg_journal_release(&m);
	proto_put_u32(&p, 1);
	assert_int_equal(msg_journal_read_decode(p.data, p.len, &m, &err), -EBADMSG);
}

/* ---- the decision ---- */

static struct cluster_host spec = { .ip = (char *)"10.0.0.1", .role = ROLE_MASTER };
static struct cluster cluster = { .name = (char *)"c1", .hosts = &spec, .nhosts = 1 };
static struct run_opts opts;
static struct host_state host = { .spec = &spec };
static struct run run = { .c = &cluster, .o = &opts, .hosts = &host, .n = 1 };

static void add_record(struct buf *b, const char *phase, int64_t t)
{
	_cleanup_buf_ struct buf in = BUF_INIT(JOURNAL_MAX_LINE);
	char step[JOURNAL_MAX_STEP + 1];

	assert_int_equal(run_journal_inputs(&run, &host, phase, &in), 0);
	assert_true(journal_step_name(phase, step, sizeof(step)));
	assert_int_equal(journal_line(step, t, in.data, b), 0);
	buf_putc(b, '\n');
}

/* a record with outputs after its inputs, as run_journal_record writes it */
static void add_record_out(struct buf *b, const char *phase, int64_t t, const char *outputs)
{
	_cleanup_buf_ struct buf in = BUF_INIT(JOURNAL_MAX_LINE);
	char step[JOURNAL_MAX_STEP + 1];

	assert_int_equal(run_journal_inputs(&run, &host, phase, &in), 0);
	buf_puts(&in, outputs);
	assert_true(journal_step_name(phase, step, sizeof(step)));
	assert_int_equal(journal_line(step, t, in.data, b), 0);
	buf_putc(b, '\n');
}

static const char *phase_at(size_t k)
{
	return k < run_pipeline_len ? run_pipeline[k].name : "(end)";
}

static const char *decide(const char *text, const char **why)
{
	struct journal *j = parse_ok(text, NULL);
	size_t k = run_journal_decide(&run, &host, j, why);

	journal_free(j);
	return phase_at(k);
}

static void test_decide(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf b = BUF_INIT(JOURNAL_MAX_BYTES);
	struct kv env[] = { { (char *)"A", (char *)"1" } };
	const char *why;

	run.img.id = (char *)"1111111111111111111111111111111111111111111111111111111111111111";
	spec.env = env;
	spec.nenv = 1;
	/* nothing recorded: from the first phase that changes the host */
	assert_string_equal(decide("", &why), "distribute");
	assert_string_equal(why, "not recorded");
	/* connect, agent, facts are never recorded: the commands that only read run again */
	assert_int_equal(run_journal_inputs(&run, &host, "facts", &b), -ENOENT);
	/* every phase recorded with today's inputs: done */
	add_record(&b, "distribute", 1);
	/* setup not done (it failed half-way, say): it changes the rootfs in place, which is
	 * assembled afresh for it */
	assert_string_equal(decide(b.data, &why), "distribute");
	assert_string_equal(why, "setup changes the rootfs in place: assembled afresh for it");
	add_record(&b, "setup", 2);
	add_record(&b, "hosts", 3);
	assert_string_equal(decide(b.data, &why), "init");
	assert_string_equal(why, "not recorded");
	add_record(&b, "init", 4);
	assert_string_equal(decide(b.data, &why), "(end)");
	assert_null(why);
	/* the env changed: setup renders with it into a freshly assembled rootfs, so
	 * distribute and everything after it run again */
	env[0].value = (char *)"2";
	assert_string_equal(decide(b.data, &why), "distribute");
	assert_string_equal(why, "its inputs changed");
	/* distribute and setup ran again with the new env and were recorded, the run failed
	 * before hosts: the old hosts record is before them, so hosts runs again although
	 * its own inputs match */
	add_record(&b, "distribute", 5);
	add_record(&b, "setup", 6);
	assert_string_equal(decide(b.data, &why), "hosts");
	assert_string_equal(why, "recorded before a step it follows ran again");
	add_record(&b, "hosts", 7);
	add_record(&b, "init", 8);
	assert_string_equal(decide(b.data, &why), "(end)");
	/* a Config document changed: config changes the rootfs in place, distribute again */
	struct config_doc cfg = { .name = (char *)"c", .path = (char *)"etc/x", .data = (char *)"a" };
	cluster.configs = &cfg;
	cluster.nconfigs = 1;
	assert_string_equal(decide(b.data, &why), "distribute");
	cluster.configs = NULL;
	cluster.nconfigs = 0;
	/* a new image: distribute again, and so everything */
	run.img.id = (char *)"2222222222222222222222222222222222222222222222222222222222222222";
	assert_string_equal(decide(b.data, &why), "distribute");
	env[0].value = (char *)"1";
	spec.env = NULL;
	spec.nenv = 0;
	run.img.id = NULL;
}

/* Non-idempotent steps of master0: the CMDs are skipped once recorded, and run again when
 * one changed */
static void test_decide_cmd(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf b = BUF_INIT(JOURNAL_MAX_BYTES);
	char *cmds[] = { (char *)"kubectl apply -f x.yaml" };
	const char *why;

	run.img.id = (char *)"1111111111111111111111111111111111111111111111111111111111111111";
	run.img.meta.cmds = cmds;
	run.img.meta.ncmds = 1;
	add_record(&b, "distribute", 1);
	add_record(&b, "setup", 2);
	add_record(&b, "hosts", 3);
	add_record(&b, "init", 4);
	assert_string_equal(decide(b.data, &why), "cmd");
	add_record(&b, "cmd", 5);
	assert_string_equal(decide(b.data, &why), "(end)");
	cmds[0] = (char *)"kubectl apply -f y.yaml";
	assert_string_equal(decide(b.data, &why), "cmd");
	assert_string_equal(why, "its inputs changed");
	run.img.meta.cmds = NULL;
	run.img.meta.ncmds = 0;
	run.img.id = NULL;
}

/* A master added to the cluster (cirun join -m, a reordered -m, a delete -m) is in master0's
 * certSANs, so its init config changes; but an initialised master0 never runs init again
 * (phase_journal checks that admin.conf is still there): its resume point stays, and neither
 * init nor the CMDs after it are recorded anew */
static void test_decide_master_added(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf b = BUF_INIT(JOURNAL_MAX_BYTES);
	_cleanup_buf_ struct buf one = BUF_INIT(JOURNAL_MAX_LINE);
	_cleanup_buf_ struct buf two = BUF_INIT(JOURNAL_MAX_LINE);
	char *cmds[] = { (char *)"kubectl apply -f x.yaml" };
	const char *masters[] = { "10.0.0.1", "10.0.0.2" };
	const char *why;

	run.img.id = (char *)"1111111111111111111111111111111111111111111111111111111111111111";
	run.img.meta.cmds = cmds;
	run.img.meta.ncmds = 1;
	run.has_kubeadm = true;
	run.k8s_version = (char *)"v1.28.2";
	run.master_ips = masters;
	run.n_masters = 1;
	add_record(&b, "distribute", 1);
	add_record(&b, "setup", 2);
	add_record(&b, "hosts", 3);
	add_record(&b, "init", 4);
	assert_string_equal(decide(b.data, &why), "kubeadm init");
	add_record(&b, "kubeadm init", 5);
	add_record(&b, "cmd", 6);
	assert_string_equal(decide(b.data, &why), "(end)");
	/* the input does change (the second master is in certSANs)... */
	assert_int_equal(run_journal_inputs(&run, &host, "kubeadm init", &one), 0);
	run.n_masters = 2;
	assert_int_equal(run_journal_inputs(&run, &host, "kubeadm init", &two), 0);
	assert_string_not_equal(one.data, two.data);
	/* ...and master0 stays done: no init, no CMD replayed */
	assert_string_equal(decide(b.data, &why), "(end)");
	assert_null(why);
	/* kubeadm init recorded again after the CMDs where it changed nothing (master0 had
	 * admin.conf): the CMDs stay done */
	size_t len = b.len;
	add_record_out(&b, "kubeadm init", 7, " cgroup=systemd init=skipped");
	assert_string_equal(decide(b.data, &why), "(end)");
	assert_null(why);
	/* a real init (or an older version's record, without the mark) made a new cluster:
	 * the CMDs run again on it */
	buf_truncate(&b, len);
	add_record_out(&b, "kubeadm init", 7, " cgroup=systemd");
	assert_string_equal(decide(b.data, &why), "cmd");
	assert_string_equal(why, "recorded before a step it follows ran again");
	/* its own inputs still count for the CMDs */
	buf_truncate(&b, len);
	cmds[0] = (char *)"kubectl apply -f y.yaml";
	assert_string_equal(decide(b.data, &why), "cmd");
	assert_string_equal(why, "its inputs changed");
	run.n_masters = 0;
	run.master_ips = NULL;
	run.k8s_version = NULL;
	run.has_kubeadm = false;
	run.img.meta.cmds = NULL;
	run.img.meta.ncmds = 0;
	run.img.id = NULL;
}

/* cluster-diff takes the env as a set: the same items in another order are no change */
static void test_env_order(void **state)
{
	(void)state;
	_cleanup_buf_ struct buf a = BUF_INIT(JOURNAL_MAX_LINE);
	_cleanup_buf_ struct buf b = BUF_INIT(JOURNAL_MAX_LINE);
	_cleanup_buf_ struct buf c = BUF_INIT(JOURNAL_MAX_LINE);
	struct kv env[] = { { (char *)"A", (char *)"1" }, { (char *)"B", (char *)"2" } };
	struct kv rev[] = { { (char *)"B", (char *)"2" }, { (char *)"A", (char *)"1" } };

	spec.env = env;
	spec.nenv = 2;
	assert_int_equal(run_journal_inputs(&run, &host, "setup", &a), 0);
	spec.env = rev;
	assert_int_equal(run_journal_inputs(&run, &host, "setup", &b), 0);
	assert_string_equal(a.data, b.data);
	/* a value that changed still is a change */
	rev[0].value = (char *)"3";
	assert_int_equal(run_journal_inputs(&run, &host, "setup", &c), 0);
	assert_string_not_equal(a.data, c.data);
	spec.env = NULL;
	spec.nenv = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_torn),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_line_and_compact),
		cmocka_unit_test_setup_teardown(test_file_append_read, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_file_symlinks, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test_setup_teardown(test_file_compacts_at_cap, tmpdir_setup,
						tmpdir_teardown),
		cmocka_unit_test(test_msg_append_decode),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_decide_cmd),
		cmocka_unit_test(test_decide_master_added),
		cmocka_unit_test(test_env_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
