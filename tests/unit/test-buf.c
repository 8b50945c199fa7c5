#include "helpers.h"

#include <errno.h>
#include <fcntl.h>

#include "buf.h"
#include "cleanup.h"

static void test_append_and_terminate(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(100);

	assert_string_equal(b.data, "");
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_putc(&b, ' '), 0);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "hello 42-x");
	assert_int_equal(b.len, 10);
	buf_truncate(&b, 5);
	assert_string_equal(b.data, "hello");
	buf_reset(&b);
	assert_string_equal(b.data, "");
	buf_release(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 100);
}

static void test_cap_refuses_and_keeps_content(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(8);

	assert_int_equal(buf_puts(&b, "12345678"), 0);
	assert_int_equal(buf_putc(&b, '9'), -E2BIG);
	assert_int_equal(buf_printf(&b, "%s", "x"), -E2BIG);
	assert_string_equal(b.data, "12345678");
	buf_truncate(&b, 4);
	assert_int_equal(buf_puts(&b, "abcdef"), -E2BIG);
	assert_string_equal(b.data, "1234");
	/* a huge request must not wrap around */
	assert_int_equal(buf_grow(&b, SIZE_MAX), -E2BIG);
	buf_release(&b);
}

static void test_detach(void **state)
{
	(void)state;
	struct buf b = BUF_INIT(64);
	size_t len;
	char *s;

	s = buf_detach(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	buf_puts(&b, "abc");
	s = buf_detach(&b, &len);
	assert_string_equal(s, "abc");
	assert_int_equal(len, 3);
	assert_string_equal(b.data, "");
	free(s);
}

static void test_read_fd_cap(void **state)
{
	(void)state;
	int fds[2];
	struct buf b = BUF_INIT(10);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	close(fds[1]);
	assert_int_equal(buf_read_fd(&b, fds[0]), 0);
	assert_string_equal(b.data, "0123456789");
	close(fds[0]);
	buf_release(&b);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "0123456789A", 11), 11);
	close(fds[1]);
	assert_int_equal(buf_read_fd(&b, fds[0]), -E2BIG);
	assert_int_equal(b.len, 10);
	close(fds[0]);
	buf_release(&b);
}

static void test_read_file(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "f");
	struct buf b = BUF_INIT(1 << 20);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (int i = 0; i < 20000; i++)
		fprintf(f, "line %d\n", i);
	fclose(f);
	assert_int_equal(buf_read_file(&b, path), 0);
	assert_true(b.len > 100000);
	assert_memory_equal(b.data + b.len - 11, "line 19999\n", 11);
	buf_release(&b);
	assert_int_equal(buf_read_file(&b, "/nonexistent/x"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_terminate),
		cmocka_unit_test(test_cap_refuses_and_keeps_content),
		cmocka_unit_test(test_detach),
		cmocka_unit_test(test_read_fd_cap),
		cmocka_unit_test_setup_teardown(test_read_file, tmpdir_setup, tmpdir_teardown),
	};
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
