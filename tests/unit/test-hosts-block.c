#include "helpers.h"

#include <string.h>

#include "hosts-block.h"

static const struct hosts_entry two[] = {
	{ "10.0.0.2", "sea.hub" },
	{ "10.0.0.1", "apiserver.cluster.local" },
};

#define BLOCK_A "# BEGIN cirun a\n10.0.0.2\tsea.hub\n10.0.0.1\tapiserver.cluster.local\n# END cirun a\n"

/* The rewrite of in for cluster, as a string the test owns (NULL on failure). */
static char *rewrite(const char *in, const char *cluster, const struct hosts_entry *e, size_t n,
		     int *rc)
{
	struct buf out = BUF_INIT(1 << 20);
	struct errbuf err = ERRBUF_INIT;

	*rc = hosts_block_rewrite(in, strlen(in), cluster, e, n, &out, &err);
	if (*rc < 0) {
		assert_int_equal(out.len, 0);
		buf_release(&out);
		return NULL;
	}
	return buf_detach(&out, NULL);
}

/* rewrite gives want, and rewriting that again gives the same bytes */
static void check(const char *in, const char *cluster, const struct hosts_entry *e, size_t n,
		  const char *want)
{
	int rc;
	char *once = rewrite(in, cluster, e, n, &rc);

	assert_int_equal(rc, 0);
	assert_string_equal(once, want);
	char *twice = rewrite(once, cluster, e, n, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(twice, once);
	free(once);
	free(twice);
}

static void test_no_block(void **state)
{
	(void)state;
	check("127.0.0.1\tlocalhost\n::1\tlocalhost\n", "a", two, 2,
	      "127.0.0.1\tlocalhost\n::1\tlocalhost\n" BLOCK_A);
	check("", "a", two, 2, BLOCK_A);
}

static void test_old_block_replaced_in_place(void **state)
{
	(void)state;
	check("127.0.0.1 localhost\n# BEGIN cirun a\n10.9.9.9\tsea.hub\n# END cirun a\n"
	      "10.1.1.1 mine # kept\n",
	      "a", two, 2, "127.0.0.1 localhost\n" BLOCK_A "10.1.1.1 mine # kept\n");
	/* an emptied block stays as its markers, so the next run finds its place */
	check("x\n" BLOCK_A "y\n", "a", NULL, 0, "x\n# BEGIN cirun a\n# END cirun a\ny\n");
}

static void test_two_clusters(void **state)
{
	static const struct hosts_entry b[] = { { "fd00::5", "sea.hub" } };
	(void)state;
	const char *both = "127.0.0.1 localhost\n" BLOCK_A
			   "# BEGIN cirun ab\nfd00::5\tsea.hub\n# END cirun ab\n";
	check("127.0.0.1 localhost\n" BLOCK_A, "ab", b, 1, both);
	/* a's block rewritten leaves ab's alone, and the other way round */
	check(both, "a", two, 2, both);
	check(both, "ab", b, 1, both);
}

static void test_crlf_and_no_trailing_newline(void **state)
{
	(void)state;
	check("127.0.0.1 localhost\r\n::1 localhost", "a", two, 1,
	      "127.0.0.1 localhost\r\n::1 localhost\r\n# BEGIN cirun a\r\n10.0.0.2\tsea.hub\r\n"
	      "# END cirun a\r\n");
	check("127.0.0.1 localhost", "a", two, 1,
	      "127.0.0.1 localhost\n# BEGIN cirun a\n10.0.0.2\tsea.hub\n# END cirun a\n");
	/* an old CRLF block is found though its lines end in "\r" */
	check("h\r\n# BEGIN cirun a\r\n1.2.3.4\tx\r\n# END cirun a\r\nt\r\n", "a", two, 1,
	      "h\r\n# BEGIN cirun a\r\n10.0.0.2\tsea.hub\r\n# END cirun a\r\nt\r\n");
}

static void test_refused(void **state)
{
	static const struct hosts_entry bad_ip[] = { { "10.0.0.300", "x" } };
	static const struct hosts_entry bad_name[] = { { "10.0.0.1", "a b\nevil" } };
	static const struct hosts_entry dash[] = { { "10.0.0.1", "-x" } };
	int rc;
	(void)state;

	assert_null(rewrite("# BEGIN cirun a\nx\n", "a", two, 2, &rc));
	assert_int_equal(rc, -EBADMSG);
	assert_null(rewrite(BLOCK_A BLOCK_A, "a", two, 2, &rc));
	assert_int_equal(rc, -EBADMSG);
	assert_null(rewrite("# BEGIN cirun a\n# BEGIN cirun a\n# END cirun a\n", "a", two, 2, &rc));
	assert_int_equal(rc, -EBADMSG);
	assert_null(rewrite("x\n# END cirun a\n", "a", two, 2, &rc));
	assert_int_equal(rc, -EBADMSG);
	assert_null(rewrite("", "A/..", two, 2, &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(rewrite("", "a", bad_ip, 1, &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(rewrite("", "a", bad_name, 1, &rc));
	assert_int_equal(rc, -EINVAL);
	assert_null(rewrite("", "a", dash, 1, &rc));
	assert_int_equal(rc, -EINVAL);
	/* another cluster's broken block is not ours to judge */
	char *s = rewrite("# BEGIN cirun b\n", "a", two, 1, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(s, "# BEGIN cirun b\n# BEGIN cirun a\n10.0.0.2\tsea.hub\n# END cirun a\n");
	free(s);
}

static void test_too_large(void **state)
{
	struct buf out = BUF_INIT(8);
	struct errbuf err = ERRBUF_INIT;
	(void)state;

	assert_int_equal(hosts_block_rewrite("x\n", 2, "a", two, 2, &out, &err), -E2BIG);
	assert_int_equal(out.len, 0);
	buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_block),
		cmocka_unit_test(test_old_block_replaced_in_place),
		cmocka_unit_test(test_two_clusters),
		cmocka_unit_test(test_crlf_and_no_trailing_newline),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_too_large),
	};
	return cmocka_run_group_tests_name("hosts-block", tests, NULL, NULL);
}
