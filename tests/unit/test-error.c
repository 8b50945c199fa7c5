#include "helpers.h"

#include <errno.h>
#include <fcntl.h>

#include "error.h"
#include "log.h"

static void test_set_returns_code(void **state)
{
	(void)state;
	struct errbuf e = ERRBUF_INIT;

	assert_int_equal(errbuf_set(&e, -ENOENT, "no file '%s'", "x"), -ENOENT);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(errbuf_msg(&e), "no file 'x'");
	assert_int_equal(errbuf_set(NULL, -EINVAL, "ignored"), -EINVAL);
}

static void test_position_and_prefix(void **state)
{
	(void)state;
	struct errbuf e = ERRBUF_INIT;

	assert_int_equal(errbuf_set_at(&e, -EBADMSG, 3, 7, "bad %s", "thing"), -EBADMSG);
	assert_int_equal(e.line, 3);
	assert_int_equal(e.column, 7);
	assert_string_equal(errbuf_msg(&e), "3:7: bad thing");
	assert_int_equal(errbuf_prefix(&e, "Clusterfile"), -EBADMSG);
	assert_string_equal(errbuf_msg(&e), "Clusterfile: 3:7: bad thing");
}

static void test_msg_falls_back_to_strerror(void **state)
{
	(void)state;
	struct errbuf e = ERRBUF_INIT;

	assert_string_equal(errbuf_msg(&e), "no error");
	e.code = -EACCES;
	assert_string_equal(errbuf_msg(&e), strerror(EACCES));
	assert_int_equal(errbuf_prefix(&e, "open"), -EACCES);
	assert_non_null(strstr(errbuf_msg(&e), "open: "));
	errbuf_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(errbuf_msg(NULL), "unknown error");
}

static void test_long_message_truncated(void **state)
{
	(void)state;
	struct errbuf e = ERRBUF_INIT;
	char big[4000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errbuf_set(&e, -E2BIG, "%s", big);
	assert_int_equal(strlen(errbuf_msg(&e)), ERRBUF_MSG_MAX - 1);
}

/* Errors carry remote output (init.sh's last lines): they are masked as they are stored,
 * also where the message is cut in the middle of a secret. */
static void test_secrets_masked_when_stored(void **state)
{
	(void)state;
	struct errbuf err = ERRBUF_INIT;
	char pad[ERRBUF_MSG_MAX];

	log_add_secret("SECRETPASSWORD");
	errbuf_set(&err, -EIO, "init.sh failed: SECRETPASSWORD was printed");
	assert_null(strstr(err.msg, "SECRET"));
	/* the secret starts 6 bytes before the end of the message buffer */
	memset(pad, 'x', sizeof(pad));
	pad[ERRBUF_MSG_MAX - 7] = '\0';
	errbuf_set(&err, -EIO, "%s SECRETPASSWORD and more", pad);
	assert_int_equal(strlen(err.msg), ERRBUF_MSG_MAX - 1);
	assert_null(strstr(err.msg, "SECR"));
	/* and by a prefix that pushes it over the end */
	errbuf_set(&err, -EIO, "%.*s SECRETPASSWORD", ERRBUF_MSG_MAX - 40, pad);
	errbuf_prefix(&err, "host 10.0.0.1, phase init");
	assert_null(strstr(err.msg, "SECR"));
	errbuf_set_at(&err, -EINVAL, 3, 4, "%s SECRETPASSWORD", pad);
	assert_null(strstr(err.msg, "SECR"));
	log_clear_secrets();
}

static void test_ret_nerrno(void **state)
{
	(void)state;
	assert_int_equal(RET_NERRNO(open("/nonexistent/x", O_RDONLY)), -ENOENT);
	assert_int_equal(RET_NERRNO(0), 0);
	errno = 0;
	assert_int_equal(negative_errno(), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_code),
		cmocka_unit_test(test_position_and_prefix),
		cmocka_unit_test(test_msg_falls_back_to_strerror),
		cmocka_unit_test(test_long_message_truncated),
		cmocka_unit_test(test_secrets_masked_when_stored),
		cmocka_unit_test(test_ret_nerrno),
	};
	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
