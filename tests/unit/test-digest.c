#include "helpers.h"

#include <errno.h>
#include <fcntl.h>

#include "cleanup.h"
#include "digest.h"
#include "macro.h"

#define SHA_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_known_vectors(void **state)
{
	(void)state;
	char hex[SHA256_HEX_SIZE];

	assert_int_equal(sha256_buf("", 0, hex), 0);
	assert_string_equal(hex, SHA_EMPTY);
	assert_int_equal(sha256_buf("abc", 3, hex), 0);
	assert_string_equal(hex, SHA_ABC);
}

static void test_streaming_matches_oneshot(void **state)
{
	(void)state;
	struct sha256 *s = NULL;
	char hex[SHA256_HEX_SIZE], once[SHA256_HEX_SIZE];
	static char data[100000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	assert_int_equal(sha256_new(&s), 0);
	for (size_t off = 0; off < sizeof(data); off += 999)
		assert_int_equal(sha256_update(s, data + off, MIN(999, sizeof(data) - off)), 0);
	assert_int_equal(sha256_final(s, hex), 0);
	/* a finished digest cannot be fed or finished again */
	assert_int_equal(sha256_update(s, "x", 1), -EINVAL);
	assert_int_equal(sha256_final(s, hex), -EINVAL);
	sha256_free(s);
	assert_int_equal(sha256_buf(data, sizeof(data), once), 0);
	assert_string_equal(hex, once);
}

static void test_file_and_size(void **state)
{
	_cleanup_free_ char *path = tmp_path(state, "f");
	char hex[SHA256_HEX_SIZE];
	uint64_t size = 0;
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs("abc", f);
	fclose(f);
	assert_int_equal(sha256_file(path, hex, &size), 0);
	assert_string_equal(hex, SHA_ABC);
	assert_int_equal(size, 3);
	assert_int_equal(sha256_file("/nonexistent", hex, NULL), -ENOENT);
}

static void test_hex_valid(void **state)
{
	(void)state;
	assert_true(sha256_hex_valid(SHA_ABC));
	assert_false(sha256_hex_valid(NULL));
	assert_false(sha256_hex_valid(""));
	assert_false(sha256_hex_valid(SHA_ABC "0"));
	assert_false(sha256_hex_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
	assert_false(sha256_hex_valid("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a"));
	assert_false(sha256_hex_valid("../../etc/passwd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_streaming_matches_oneshot),
		cmocka_unit_test_setup_teardown(test_file_and_size, tmpdir_setup, tmpdir_teardown),
		cmocka_unit_test(test_hex_valid),
	};
	return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
