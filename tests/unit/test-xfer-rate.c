/* Rate and ETA arithmetic of the progress display: the rate follows the last window (a
 * stall shows, an early burst is forgotten), frames far denser than the ring are thinned
 * without losing the window, and the human spellings. */
#include "helpers.h"

#include <math.h>

#include "xfer-rate.h"

static void test_steady_rate_and_eta(void **state)
{
	(void)state;
	struct xfer_rate *r = xfer_rate_new(5000);

	assert_true(xfer_rate_bps(r) == 0);
	xfer_rate_add(r, 1000, 0);
	assert_true(xfer_rate_bps(r) == 0); /* one sample: no rate yet */
	/* 1 MiB/s in frames of 256 KiB every 250 ms, for 10 s */
	for (int i = 1; i <= 40; i++)
		xfer_rate_add(r, 1000 + i * 250, (uint64_t)i * (256 << 10));
	assert_true(fabs(xfer_rate_bps(r) - 1048576.0) < 1);
	assert_true(fabs(xfer_rate_mean_bps(r) - 1048576.0) < 1);
	assert_int_equal(xfer_eta_s(10u << 20, 20u << 20, xfer_rate_bps(r)), 10);
	xfer_rate_free(r);
}

static void test_window_forgets_burst_and_shows_stall(void **state)
{
	(void)state;
	struct xfer_rate *r = xfer_rate_new(2000);

	/* 100 MiB in the first second, then 1 MiB/s for 4 s */
	xfer_rate_add(r, 0, 0);
	xfer_rate_add(r, 1000, 100u << 20);
	for (int i = 1; i <= 40; i++)
		xfer_rate_add(r, 1000 + i * 100, (100u << 20) + (uint64_t)i * (1u << 20) / 10);
	double bps = xfer_rate_bps(r);
	assert_true(bps > 0.9 * (1 << 20) && bps < 1.2 * (1 << 20));
	/* the mean still remembers the burst */
	assert_true(xfer_rate_mean_bps(r) > 20.0 * (1 << 20));
	/* a stall: the same count 3 s later drops the window's rate to 0 */
	xfer_rate_add(r, 8000, (104u << 20));
	xfer_rate_add(r, 11000, (104u << 20));
	assert_true(xfer_rate_bps(r) == 0);
	assert_int_equal(xfer_eta_s(5, 10, xfer_rate_bps(r)), -1);
	xfer_rate_free(r);
}

static void test_dense_frames_keep_the_window(void **state)
{
	(void)state;
	struct xfer_rate *r = xfer_rate_new(5000);

	/* a frame every millisecond (far more than the ring holds), 1000 bytes each */
	for (int i = 0; i <= 20000; i++)
		xfer_rate_add(r, i, (uint64_t)i * 1000);
	assert_true(fabs(xfer_rate_bps(r) - 1e6) < 1);
	/* out of order or shrinking samples are ignored */
	xfer_rate_add(r, 100, 1);
	xfer_rate_add(r, 20001, 5);
	assert_true(fabs(xfer_rate_bps(r) - 1e6) < 1);
	xfer_rate_free(r);
}

static void test_eta_edges(void **state)
{
	(void)state;
	assert_int_equal(xfer_eta_s(10, 10, 0), 0);
	assert_int_equal(xfer_eta_s(11, 10, 5), 0);
	assert_int_equal(xfer_eta_s(0, 10, 0), -1);
	assert_int_equal(xfer_eta_s(0, 10, 3), 4); /* 3.33 s rounds up */
	assert_int_equal(xfer_eta_s(0, UINT64_MAX, 1), INT32_MAX);
	assert_int_equal(xfer_percent(0, 0), 100);
	assert_int_equal(xfer_percent(1, 3), 33);
	assert_int_equal(xfer_percent(5, 3), 100);
}

static void test_spellings(void **state)
{
	(void)state;
	char b[32];
	static const struct {
		uint64_t v;
		const char *s;
	} bytes[] = {
		{ 0, "0 B" },	       { 1023, "1023 B" },	   { 1536, "1.50 KiB" },
		{ 12900, "12.6 KiB" }, { 500u << 10, "500 KiB" },   { 1000u << 10, "0.98 MiB" },
		{ 47u << 20, "47.0 MiB" }, { 1100ull << 20, "1.07 GiB" }, { UINT64_MAX, "16777216 TiB" },
	};
	for (size_t i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
		xfer_format_bytes(bytes[i].v, b, sizeof(b));
		assert_string_equal(b, bytes[i].s);
	}
	xfer_format_eta(-1, b, sizeof(b));
	assert_string_equal(b, "--");
	xfer_format_eta(45, b, sizeof(b));
	assert_string_equal(b, "45s");
	xfer_format_eta(187, b, sizeof(b));
	assert_string_equal(b, "3m07s");
	xfer_format_eta(7500, b, sizeof(b));
	assert_string_equal(b, "2h05m");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steady_rate_and_eta),
		cmocka_unit_test(test_window_forgets_burst_and_shows_stall),
		cmocka_unit_test(test_dense_frames_keep_the_window),
		cmocka_unit_test(test_eta_edges),
		cmocka_unit_test(test_spellings),
	};
	return cmocka_run_group_tests_name("xfer-rate", tests, NULL, NULL);
}
