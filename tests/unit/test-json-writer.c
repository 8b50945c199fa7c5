#include "helpers.h"

#include <errno.h>

#include "buf.h"
#include "json-writer.h"
#include "ydoc.h"

static void test_event_line(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(4096);
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_object_begin(&w);
	jsonw_key(&w, "host");
	jsonw_string(&w, "10.0.0.1");
	jsonw_key(&w, "phase");
	jsonw_string(&w, "init");
	jsonw_key(&w, "exit");
	jsonw_int(&w, -1);
	jsonw_key(&w, "bytes");
	jsonw_uint(&w, 18446744073709551615ULL);
	jsonw_key(&w, "ok");
	jsonw_bool(&w, false);
	jsonw_key(&w, "err");
	jsonw_null(&w);
	jsonw_key(&w, "lines");
	jsonw_array_begin(&w);
	jsonw_string(&w, "a");
	jsonw_string(&w, NULL);
	jsonw_array_begin(&w);
	jsonw_array_end(&w);
	jsonw_object_begin(&w);
	jsonw_object_end(&w);
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	assert_int_equal(jsonw_finish(&w), 0);
	assert_string_equal(b.data,
			    "{\"host\":\"10.0.0.1\",\"phase\":\"init\",\"exit\":-1,"
			    "\"bytes\":18446744073709551615,\"ok\":false,\"err\":null,"
			    "\"lines\":[\"a\",null,[],{}]}");
	buf_release(&b);
}

static void test_escaping(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(4096);

	assert_int_equal(json_escape(&b, "q\"b\\n\n\r\t\x01\x1f\x7f", 11), 0);
	assert_string_equal(b.data, "\"q\\\"b\\\\n\\n\\r\\t\\u0001\\u001f\\u007f\"");
	buf_reset(&b);
	/* valid UTF-8 passes through; invalid bytes, overlongs and surrogates become U+FFFD */
	assert_int_equal(json_escape(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9), 0);
	assert_string_equal(b.data, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	buf_reset(&b);
	assert_int_equal(json_escape(&b, "a\xff" "b\xc0\xaf\xed\xa0\x80\xe2\x82", 10), 0);
	assert_string_equal(b.data, "\"a\\ufffdb\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
	buf_reset(&b);
	/* C1 controls and line separators are escaped even though they are valid UTF-8 */
	assert_int_equal(json_escape(&b, "\xc2\x85\xe2\x80\xa8", 5), 0);
	assert_string_equal(b.data, "\"\\u0085\\u2028\"");
	buf_reset(&b);
	/* an embedded NUL is data, not the end */
	assert_int_equal(json_escape(&b, "a\0b", 3), 0);
	assert_string_equal(b.data, "\"a\\u0000b\"");
	buf_release(&b);
}

static void test_output_parses_back(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(4096);
	struct jsonw w;
	struct ydoc *d = NULL;
	struct errbuf err = ERRBUF_INIT;

	jsonw_init(&w, &b);
	jsonw_object_begin(&w);
	jsonw_key(&w, "msg\n");
	jsonw_string(&w, "tab\there \"quoted\" \x02");
	jsonw_object_end(&w);
	assert_int_equal(jsonw_finish(&w), 0);
	assert_int_equal(ydoc_parse("json", b.data, b.len, NULL, &d, &err), 0);
	assert_string_equal(ynode_str(ynode_map_get(ydoc_root(d, 0), "msg\n")),
			    "tab\there \"quoted\" \x02");
	ydoc_free(d);
	buf_release(&b);
}

static void test_misuse(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(4096);
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_object_begin(&w);
	jsonw_string(&w, "value without key");
	assert_int_equal(jsonw_finish(&w), -EINVAL);

	buf_reset(&b);
	jsonw_init(&w, &b);
	jsonw_array_begin(&w);
	jsonw_key(&w, "key in array");
	assert_int_equal(jsonw_finish(&w), -EINVAL);

	buf_reset(&b);
	jsonw_init(&w, &b);
	jsonw_object_begin(&w);
	assert_int_equal(jsonw_finish(&w), -EINVAL); /* unclosed */
	jsonw_array_end(&w);
	assert_int_equal(jsonw_finish(&w), -EINVAL); /* wrong closer */

	buf_reset(&b);
	jsonw_init(&w, &b);
	assert_int_equal(jsonw_finish(&w), -EINVAL); /* nothing written */
	jsonw_int(&w, 1);
	jsonw_int(&w, 2);
	assert_int_equal(jsonw_finish(&w), -EINVAL); /* two top-level values */
	buf_release(&b);
}

static void test_cap(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(10);
	struct jsonw w;

	jsonw_init(&w, &b);
	jsonw_string(&w, "longer than ten bytes");
	assert_int_equal(jsonw_finish(&w), -E2BIG);
	assert_string_equal(b.data, ""); /* no half string left */
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_line),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_output_parses_back),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests_name("json-writer", tests, NULL, NULL);
}
