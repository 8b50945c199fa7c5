#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "cleanup.h"
#include "ydoc.h"

static struct ydoc *parse_ok(const char *text)
{
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;
	int r = ydoc_parse("test.yaml", text, strlen(text), NULL, &d, &err);

	if (r < 0)
		fail_msg("parse failed: %s", errbuf_msg(&err));
	return d;
}

static void expect_error(const char *text, const struct ydoc_limits *lim, int code,
			 unsigned line, unsigned column, const char *fragment)
{
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(ydoc_parse("bad.yaml", text, strlen(text), lim, &d, &err), code);
	assert_null(d);
	if (line) {
		assert_int_equal(err.line, line);
		if (column)
			assert_int_equal(err.column, column);
	}
	if (!strstr(errbuf_msg(&err), fragment))
		fail_msg("message '%s' lacks '%s'", errbuf_msg(&err), fragment);
	if (strncmp(errbuf_msg(&err), "bad.yaml", 8) != 0)
		fail_msg("message '%s' does not name the file", errbuf_msg(&err));
}

static const char clusterfile[] =
	"apiVersion: sealer.cloud/v2\n"
	"kind: Cluster\n"
	"metadata:\n"
	"  name: my-cluster\n"
	"spec:\n"
	"  image: kubernetes:v1.19.8\n"
	"  hosts:\n"
	"    - ips: [192.168.0.2, 192.168.0.3]\n"
	"      roles: [master]\n"
	"    - ips: [192.168.0.5]\n"
	"      roles: [node]\n"
	"      env: [\"a=b\"]\n"
	"---\n"
	"apiVersion: sealer.aliyun.com/v1alpha1\n"
	"kind: Plugin\n"
	"spec:\n"
	"  action: PostInstall\n"
	"  data: |\n"
	"    kubectl get nodes\n"
	"    echo done\n";

static void test_multi_document_and_positions(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok(clusterfile);
	struct ynode *c = ydoc_root(d, 0);

	assert_int_equal(ydoc_count(d), 2);
	assert_int_equal(ynode_kind(c), YNODE_MAP);
	assert_string_equal(ynode_str(ynode_get(c, "metadata.name")), "my-cluster");
	assert_string_equal(ynode_str(ynode_get(c, "spec.hosts[0].ips[1]")), "192.168.0.3");
	assert_string_equal(ynode_str(ynode_get(c, "spec.hosts[1].roles[0]")), "node");
	assert_int_equal(ynode_len(ynode_get(c, "spec.hosts")), 2);
	assert_null(ynode_get(c, "spec.hosts[2]"));
	assert_null(ynode_get(c, "spec.image.x"));
	assert_null(ynode_get(c, "spec.hosts.x"));
	assert_null(ynode_get(c, "spec.hosts[x]"));

	struct ynode *ip = ynode_get(c, "spec.hosts[1].ips[0]");
	assert_int_equal(ynode_line(ip), 10);
	assert_int_equal(ynode_column(ip), 13);
	struct ynode *hosts = ynode_get(c, "spec.hosts");
	assert_int_equal(ynode_line(hosts), 8);
	assert_int_equal(ynode_line(ynode_map_key_node_at(c, 1)), 2);
	assert_string_equal(ynode_map_key_at(c, 1), "kind");

	struct ynode *p = ydoc_root(d, 1);
	assert_string_equal(ynode_str(ynode_get(p, "spec.data")), "kubectl get nodes\necho done\n");
	assert_int_equal(ynode_line(ynode_get(p, "kind")), 15);
}

static void test_scalar_types(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok(
		"a: 3\nb: \"3\"\nc: true\nd: 'yes'\ne:\nf: ~\ng: !!str 12\nh: -7\ni: 99999999999999999999\n"
		"\"dotted.key\": 1\n");
	struct ynode *m = ydoc_root(d, 0);
	int64_t v;
	bool bv;

	assert_true(ynode_is_plain(ynode_map_get(m, "a")));
	assert_false(ynode_is_plain(ynode_map_get(m, "b")));
	assert_false(ynode_is_plain(ynode_map_get(m, "g")));
	assert_int_equal(ynode_get_int(ynode_map_get(m, "a"), &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(ynode_get_int(ynode_map_get(m, "h"), &v), 0);
	assert_int_equal(v, -7);
	assert_int_equal(ynode_get_int(ynode_map_get(m, "b"), &v), -EINVAL);
	assert_int_equal(ynode_get_int(ynode_map_get(m, "c"), &v), -EINVAL);
	assert_int_equal(ynode_get_int(ynode_map_get(m, "i"), &v), -ERANGE);
	assert_int_equal(ynode_get_bool(ynode_map_get(m, "c"), &bv), 0);
	assert_true(bv);
	assert_int_equal(ynode_get_bool(ynode_map_get(m, "d"), &bv), -EINVAL);
	assert_true(ynode_is_null(ynode_map_get(m, "e")));
	assert_true(ynode_is_null(ynode_map_get(m, "f")));
	assert_false(ynode_is_null(ynode_map_get(m, "b")));
	assert_null(ynode_str(NULL));
	/* "\." in a path is a dot inside a key */
	assert_non_null(ynode_get(m, "dotted\\.key"));
}

static void test_json(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d =
		parse_ok("{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":\"\\u00e9\\n\"}}");
	struct ynode *m = ydoc_root(d, 0);

	assert_string_equal(ynode_str(ynode_get(m, "a")), "1");
	assert_true(ynode_is_plain(ynode_get(m, "b[0]")));
	assert_true(ynode_is_null(ynode_get(m, "b[1]")));
	assert_string_equal(ynode_str(ynode_get(m, "b[2]")), "x");
	assert_string_equal(ynode_str(ynode_get(m, "c.d")), "\xc3\xa9\n");
}

static void test_aliases_expand(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d =
		parse_ok("base: &b {x: 1, y: [a]}\ncopy: *b\nname: &n host\nref: *n\n");
	struct ynode *m = ydoc_root(d, 0);

	assert_string_equal(ynode_str(ynode_get(m, "copy.y[0]")), "a");
	assert_string_equal(ynode_str(ynode_get(m, "ref")), "host");
	/* the copy is independent of the original */
	ynode_map_set(ynode_get(m, "copy"), "x", ynode_new_int(2));
	assert_string_equal(ynode_str(ynode_get(m, "base.x")), "1");
}

static void test_errors_name_line_and_column(void **state)
{
	(void)state;
	expect_error("a: 1\nb: [1, 2\n", NULL, -EBADMSG, 3, 1, "did not find expected");
	expect_error("a: 1\n  b: 2\n", NULL, -EBADMSG, 2, 4, "mapping values are not allowed");
	expect_error("a: 1\nb: 2\na: 3\n", NULL, -EBADMSG, 3, 1, "duplicate key 'a' (first at line 1)");
	expect_error("a: *nope\n", NULL, -EBADMSG, 1, 4, "unknown alias '*nope'");
	expect_error("? [a]\n: 1\n", NULL, -EBADMSG, 1, 3, "mapping key must be a scalar");
	expect_error("a: \"x\\0y\"\n", NULL, -EBADMSG, 1, 4, "NUL byte");
	expect_error("x: &a [1, *a]\n", NULL, -EBADMSG, 1, 11, "refers to itself");
	expect_error("\t- a\n", NULL, -EBADMSG, 1, 1, "cannot start any token");
}

static void test_limits(void **state)
{
	(void)state;
	const struct ydoc_limits depth = { .max_depth = 3 };
	const struct ydoc_limits nodes = { .max_nodes = 100 };
	const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
			     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
			     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n";

	expect_error("[[[[1]]]]", &depth, -E2BIG, 1, 4, "nesting deeper than 3");
	expect_error(laughs, &nodes, -E2BIG, 2, 0, "expands past 100 nodes");
	/* within the default limit the same document expands fully */
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok(laughs);
	assert_int_equal(ynode_len(ynode_get(ydoc_root(d, 0), "c")), 10);
	assert_string_equal(ynode_str(ynode_get(ydoc_root(d, 0), "c[9][9][9]")), "x");
}

static void test_limits_size(void **state)
{
	(void)state;
	const struct ydoc_limits bytes = { .max_bytes = 4 };
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;

	assert_int_equal(ydoc_parse("big", "a: 12345", 8, &bytes, &d, &err), -E2BIG);
	assert_non_null(strstr(errbuf_msg(&err), "larger than 4 bytes"));
}

static void test_empty_stream(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok("# only a comment\n");
	assert_int_equal(ydoc_count(d), 0);
	_cleanup_(ydoc_freep) struct ydoc *e = parse_ok("---\n---\nx: 1\n");
	assert_int_equal(ydoc_count(e), 2);
	assert_true(ynode_is_null(ydoc_root(e, 0)));
}

static void test_map_remove(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok("{a: 1, b: [2], c: 3, d: 4}\n");
	struct ynode *m = ydoc_root(d, 0);
	struct buf out = BUF_INIT(4096);

	assert_int_equal(ynode_map_remove(m, "b"), 0);
	assert_int_equal(ynode_map_remove(m, "d"), 0);
	assert_int_equal(ynode_map_remove(m, "b"), -ENOENT);
	assert_int_equal(ynode_map_remove(ynode_get(m, "a"), "x"), -EINVAL);
	/* the others keep their order */
	assert_int_equal(ynode_len(m), 2);
	assert_string_equal(ynode_map_key_at(m, 0), "a");
	assert_string_equal(ynode_map_key_at(m, 1), "c");
	assert_int_equal(ynode_emit(m, &out), 0);
	assert_string_equal(out.data, "a: 1\nc: 3\n");
	buf_release(&out);
}

static void test_merge(void **state)
{
	(void)state;
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok(
		"spec: {image: a, env: [X=1], ssh: {user: root, port: 22}}\n"
		"---\n"
		"spec: {env: [Y=2], ssh: {port: 2222, pk: k}, extra: [1]}\n");
	_cleanup_(ynode_freep) struct ynode *replace = ynode_dup(ydoc_root(d, 0));
	_cleanup_(ynode_freep) struct ynode *append = ynode_dup(ydoc_root(d, 0));
	struct ynode *over = ydoc_root(d, 1);

	assert_int_equal(ynode_merge(replace, over, YMERGE_LIST_REPLACE), 0);
	assert_string_equal(ynode_str(ynode_get(replace, "spec.image")), "a");
	assert_int_equal(ynode_len(ynode_get(replace, "spec.env")), 1);
	assert_string_equal(ynode_str(ynode_get(replace, "spec.env[0]")), "Y=2");
	assert_string_equal(ynode_str(ynode_get(replace, "spec.ssh.user")), "root");
	assert_string_equal(ynode_str(ynode_get(replace, "spec.ssh.port")), "2222");
	assert_string_equal(ynode_str(ynode_get(replace, "spec.ssh.pk")), "k");
	assert_string_equal(ynode_str(ynode_get(replace, "spec.extra[0]")), "1");

	assert_int_equal(ynode_merge(append, over, YMERGE_LIST_APPEND), 0);
	assert_int_equal(ynode_len(ynode_get(append, "spec.env")), 2);
	assert_string_equal(ynode_str(ynode_get(append, "spec.env[0]")), "X=1");
	assert_string_equal(ynode_str(ynode_get(append, "spec.env[1]")), "Y=2");
	/* the overlay is not consumed or changed */
	assert_int_equal(ynode_len(ynode_get(over, "spec.env")), 1);

	/* a scalar over a map replaces it */
	_cleanup_(ydoc_freep) struct ydoc *e = parse_ok("spec: none\n");
	assert_int_equal(ynode_merge(replace, ydoc_root(e, 0), YMERGE_LIST_REPLACE), 0);
	assert_string_equal(ynode_str(ynode_get(replace, "spec")), "none");
	assert_int_equal(ynode_merge(replace, ynode_get(replace, "spec"), YMERGE_LIST_REPLACE), -EINVAL);
}

static void test_emit_round_trip_keeps_types(void **state)
{
	(void)state;
	const char *text = "a: 3\nb: \"3\"\nc: 'true'\nd: ''\ne:\nlist:\n- x: \"null\"\n- 1.5\n"
			   "multi: \"line1\\nline2\"\nkey with space: v\n";
	_cleanup_(ydoc_freep) struct ydoc *d = parse_ok(text);
	_cleanup_buf_ struct buf out = BUF_INIT(1 << 16);

	assert_int_equal(ynode_emit(ydoc_root(d, 0), &out), 0);
	_cleanup_(ydoc_freep) struct ydoc *back = parse_ok(out.data);
	struct ynode *m = ydoc_root(back, 0);
	assert_true(ynode_is_plain(ynode_get(m, "a")));
	assert_false(ynode_is_plain(ynode_get(m, "b")));
	assert_false(ynode_is_plain(ynode_get(m, "c")));
	assert_string_equal(ynode_str(ynode_get(m, "c")), "true");
	assert_false(ynode_is_plain(ynode_get(m, "d")));
	assert_string_equal(ynode_str(ynode_get(m, "d")), "");
	assert_true(ynode_is_null(ynode_get(m, "e")));
	assert_false(ynode_is_null(ynode_get(m, "list[0].x")));
	assert_string_equal(ynode_str(ynode_get(m, "multi")), "line1\nline2");
	assert_string_equal(ynode_str(ynode_get(m, "key with space")), "v");
}

static void test_build_and_emit_stream(void **state)
{
	(void)state;
	struct ynode *docs[2];
	_cleanup_buf_ struct buf out = BUF_INIT(1 << 16);

	docs[0] = ynode_new_map();
	ynode_map_set(docs[0], "name", ynode_new_str("n1"));
	ynode_map_set(docs[0], "count", ynode_new_int(2));
	ynode_map_set(docs[0], "ok", ynode_new_bool(true));
	ynode_map_set(docs[0], "version", ynode_new_str("1.0"));
	ynode_map_set(docs[0], "when", ynode_new_str("2026-11-28T21:50:29Z"));
	ynode_map_set(docs[0], "name", ynode_new_str("n2")); /* replaces, keeps position */
	struct ynode *seq = ynode_new_seq();
	ynode_seq_append(seq, ynode_new_null());
	ynode_seq_append(seq, ynode_new_uint(5));
	ynode_map_set(docs[0], "items", seq);
	docs[1] = ynode_new_str("second");
	assert_int_equal(ynode_map_set(seq, "x", ynode_new_null()), -EINVAL);
	assert_int_equal(ynode_seq_append(docs[0], ynode_new_null()), -EINVAL);

	assert_int_equal(ydoc_emit(docs, 2, &out), 0);
	assert_string_equal(out.data, "---\nname: n2\ncount: 2\nok: true\nversion: '1.0'\nwhen: '2026-11-28T21:50:29Z'\n"
				      "items:\n- null\n- 5\n--- second\n");
	ynode_free(docs[0]);
	ynode_free(docs[1]);
}

static void test_emit_respects_cap(void **state)
{
	(void)state;
	_cleanup_(ynode_freep) struct ynode *m = ynode_new_map();
	struct buf out = BUF_INIT(16);

	ynode_map_set(m, "key", ynode_new_str("a value longer than the cap"));
	buf_puts(&out, "keep");
	assert_int_equal(ynode_emit(m, &out), -E2BIG);
	assert_string_equal(out.data, "keep");
	buf_release(&out);
}

static void test_parse_file(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "c.yaml");
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;
	FILE *f = fopen(path, "w");

	fputs("a:\n  - 1\n  - [\n", f);
	fclose(f);
	assert_int_equal(ydoc_parse_file(path, NULL, &d, &err), -EBADMSG);
	assert_non_null(strstr(errbuf_msg(&err), path));
	assert_int_equal(err.line, 4);
	assert_int_equal(ydoc_parse_file("/nonexistent.yaml", NULL, &d, &err), -ENOENT);
	assert_non_null(strstr(errbuf_msg(&err), "cannot read '/nonexistent.yaml'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multi_document_and_positions),
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_aliases_expand),
		cmocka_unit_test(test_errors_name_line_and_column),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_limits_size),
		cmocka_unit_test(test_empty_stream),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_emit_round_trip_keeps_types),
		cmocka_unit_test(test_build_and_emit_stream),
		cmocka_unit_test(test_map_remove),
		cmocka_unit_test(test_emit_respects_cap),
		cmocka_unit_test_setup_teardown(test_parse_file, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("ydoc", tests, NULL, NULL);
}
