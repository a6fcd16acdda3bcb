/*
 * Unit tests for the token bucket (the per-key table: check_keytab.c).
 *
 * Time is a parameter in nanoseconds: every test drives a fake clock and
 * none of them sleeps.
 */
#include <stdint.h>

#include <check.h>

#include "bucket.h"
#include "check_common.h"

#define NS	1000000000ULL		/* one second */
#define MS	1000000ULL
#define T0	(1000 * NS)		/* an arbitrary start, not 0 */

/* How many of n takes of cost at time now succeed. */
static int
take_n(struct bucket *b, int n, double cost, uint64_t now)
{
	int i, ok = 0;

	for (i = 0; i < n; i++)
		ok += bucket_take(b, cost, now);
	return ok;
}

START_TEST(full_bucket_admits_burst_then_nothing)
{
	struct bucket b;

	bucket_init(&b, 10, 5, T0);
	ck_assert_double_eq(bucket_peek(&b, T0), 5);
	ck_assert_int_eq(take_n(&b, 5, 1, T0), 5);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 0);
	ck_assert_int_eq(take_n(&b, 100, 1, T0), 0);
	ck_assert_double_eq(bucket_peek(&b, T0), 0);
}
END_TEST

START_TEST(default_burst_is_rate)
{
	struct bucket b;

	bucket_init(&b, 7, 0, T0);
	ck_assert_double_eq(b.burst, 7);
	ck_assert_int_eq(take_n(&b, 10, 1, T0), 7);

	bucket_init(&b, 7, -3, T0);
	ck_assert_double_eq(b.burst, 7);
}
END_TEST

START_TEST(refill_after_one_interval_gives_one_token)
{
	struct bucket b, early;

	bucket_init(&b, 10, 5, T0);
	ck_assert_int_eq(take_n(&b, 5, 1, T0), 5);

	/* 1 ns short of 1/rate: not yet (checked on a copy). */
	early = b;
	ck_assert_int_eq(bucket_take(&early, 1, T0 + 100 * MS - 1), 0);

	ck_assert_int_eq(bucket_take(&b, 1, T0 + 100 * MS), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 100 * MS), 0);
	/* Another full interval, another token, exactly one. */
	ck_assert_int_eq(take_n(&b, 3, 1, T0 + 200 * MS), 1);
	/* Half a second: five more, capped at the burst. */
	ck_assert_int_eq(take_n(&b, 10, 1, T0 + 700 * MS), 5);
	/* A minute later the bucket holds burst, not 600. */
	ck_assert_int_eq(take_n(&b, 1000, 1, T0 + 60 * NS), 5);
}
END_TEST

START_TEST(fractional_rate_one_every_two_seconds)
{
	struct bucket b, c;
	uint64_t t;
	int ok = 0;

	bucket_init(&b, 0.5, 1, T0);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 1);
	c = b;
	ck_assert_int_eq(bucket_take(&c, 1, T0 + 1 * NS), 0);
	c = b;
	ck_assert_int_eq(bucket_take(&c, 1, T0 + 2 * NS - 1), 0);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 2 * NS), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 2 * NS), 0);

	/* Offered every second for 100 s: t = 0, 2, 4, ..., 100 pass. */
	bucket_init(&b, 0.5, 1, T0);
	for (t = 0; t <= 100; t++)
		ok += bucket_take(&b, 1, T0 + t * NS);
	ck_assert_int_eq(ok, 51);
}
END_TEST

/*
 * rate 0.5 with the default burst (= rate, 0.5 < 1 event): an event
 * passes only when the bucket is full, and the long-run rate is still the
 * configured rate, 0.5 events/s, not one event per refill of half a token.
 */
START_TEST(burst_below_one_keeps_long_run_rate)
{
	struct bucket b;
	uint64_t t;
	int ok = 0;

	bucket_init(&b, 0.5, 0, T0);
	ck_assert_double_eq(b.burst, 0.5);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 1);	/* full: passes */
	ck_assert_int_eq(bucket_take(&b, 1, T0), 0);

	bucket_init(&b, 0.5, 0, T0);
	for (t = 0; t <= 100; t++)
		ok += bucket_take(&b, 1, T0 + t * NS);
	/* 100 s at 0.5/s: 50 events, plus the one the full bucket held. */
	ck_assert_int_le(ok, 51);
	ck_assert_int_ge(ok, 50);
}
END_TEST

/* Same with weight in bytes: 300-byte events through 100 bytes/s. */
START_TEST(cost_above_burst_keeps_long_run_rate)
{
	struct bucket b;
	uint64_t t;
	int ok = 0;

	bucket_init(&b, 100, 100, T0);
	for (t = 0; t <= 30; t++)
		ok += bucket_take(&b, 300, T0 + t * NS);
	/* 30 s at 100 B/s carry 3000 B: 10 events of 300 B (+1 at t=0). */
	ck_assert_int_le(ok, 11);
	ck_assert_int_ge(ok, 10);
}
END_TEST

START_TEST(cost_above_burst_passes_only_when_full)
{
	struct bucket b;

	bucket_init(&b, 10, 5, T0);
	ck_assert_int_eq(bucket_check(&b, 7, T0), 1);
	ck_assert_int_eq(bucket_take(&b, 7, T0), 1);
	ck_assert_int_eq(bucket_take(&b, 7, T0), 0);
	/* 4.9 tokens: not full, not enough. */
	ck_assert_int_eq(bucket_take(&b, 7, T0 + 490 * MS), 0);
	ck_assert_int_eq(bucket_check(&b, 7, T0 + 490 * MS), 0);
	/* Long after, full again: passes once. */
	ck_assert_int_eq(bucket_take(&b, 7, T0 + 10 * NS), 1);
	ck_assert_int_eq(bucket_take(&b, 7, T0 + 10 * NS), 0);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 10 * NS), 0);

	/* A burst below one event: one event when full, then nothing. */
	bucket_init(&b, 10, 0.5, T0);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 0);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 10 * NS), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 10 * NS), 0);
}
END_TEST

START_TEST(configure_keeps_fill_clamped)
{
	struct bucket b;

	bucket_init(&b, 10, 100, T0);
	ck_assert_int_eq(take_n(&b, 30, 1, T0), 30);	/* 70 left */

	/* Smaller burst: clamped to it. */
	bucket_configure(&b, 10, 20, T0);
	ck_assert_double_eq(bucket_peek(&b, T0), 20);
	ck_assert_double_eq(b.burst, 20);

	/* Larger burst again: no fresh burst, the fill stays. */
	bucket_configure(&b, 10, 200, T0);
	ck_assert_double_eq(bucket_peek(&b, T0), 20);
	ck_assert_int_eq(take_n(&b, 100, 1, T0), 20);

	/* An empty bucket reconfigured stays empty. */
	bucket_configure(&b, 1000, 1000, T0);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 0);
	/* and refills at the new rate: 1 ms at 1000/s = 1 token. */
	ck_assert_int_eq(take_n(&b, 5, 1, T0 + 1 * MS), 1);

	/* Default burst on configure follows the new rate. */
	bucket_configure(&b, 4, 0, T0 + 1 * MS);
	ck_assert_double_eq(b.burst, 4);
}
END_TEST

START_TEST(configure_refills_at_old_rate_first)
{
	struct bucket b;

	bucket_init(&b, 10, 100, T0);
	ck_assert_int_eq(take_n(&b, 100, 1, T0), 100);
	/* 1 s at the old rate (10) then switch to 1000/s. */
	bucket_configure(&b, 1000, 100, T0 + NS);
	ck_assert_double_eq(bucket_peek(&b, T0 + NS), 10);
}
END_TEST

START_TEST(clock_backwards_refills_nothing)
{
	struct bucket b;

	bucket_init(&b, 10, 5, T0);
	ck_assert_int_eq(take_n(&b, 5, 1, T0), 5);
	ck_assert_int_eq(bucket_take(&b, 1, T0 - 5 * NS), 0);
	ck_assert_double_eq(bucket_peek(&b, T0 - 5 * NS), 0);
	ck_assert_int_eq(bucket_take(&b, 1, 0), 0);
	/* The backward step did not move the reference: 100 ms after T0
	 * gives exactly one token, not one per 100 ms since T0 - 5 s. */
	ck_assert_int_eq(take_n(&b, 5, 1, T0 + 100 * MS), 1);
	/* Back again, and forward by less than the lost ground: nothing. */
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 50 * MS), 0);
	ck_assert_int_eq(take_n(&b, 5, 1, T0 + 200 * MS), 1);
}
END_TEST

START_TEST(long_elapsed_caps_at_burst)
{
	struct bucket b;
	uint64_t years = 500ULL * 365 * 24 * 3600 * NS;	/* ~1.6e19 ns */

	bucket_init(&b, 1e6, 10, 1);
	ck_assert_int_eq(take_n(&b, 10, 1, 1), 10);
	ck_assert_double_eq(bucket_peek(&b, years), 10);
	ck_assert_int_eq(take_n(&b, 100, 1, years), 10);
	ck_assert_int_eq(take_n(&b, 100, 1, UINT64_MAX), 10);

	/* A huge rate and burst over the whole range of the clock. */
	bucket_init(&b, 1e12, 1e9, 0);
	ck_assert_int_eq(bucket_take(&b, 1e9, 0), 1);
	ck_assert_double_eq(bucket_peek(&b, 0), 0);
	ck_assert_double_eq(bucket_peek(&b, UINT64_MAX), 1e9);
	ck_assert_int_eq(bucket_take(&b, 1e9, UINT64_MAX), 1);
	ck_assert_int_eq(bucket_take(&b, 1, UINT64_MAX), 0);
}
END_TEST

START_TEST(rate_zero_or_negative_is_unlimited)
{
	struct bucket b;

	bucket_init(&b, 0, 0, T0);
	ck_assert_int_eq(take_n(&b, 100000, 1, T0), 100000);
	ck_assert_int_eq(bucket_take(&b, 1e12, T0), 1);
	ck_assert_int_eq(bucket_check(&b, 1e12, T0), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0 - NS), 1);

	bucket_init(&b, -5, 10, T0);
	ck_assert_int_eq(take_n(&b, 1000, 1, T0), 1000);

	/* Configured down to unlimited after being drained. */
	bucket_init(&b, 10, 10, T0);
	ck_assert_int_eq(take_n(&b, 20, 1, T0), 10);
	bucket_configure(&b, 0, 0, T0);
	ck_assert_int_eq(take_n(&b, 20, 1, T0), 20);
}
END_TEST

START_TEST(check_does_not_take)
{
	struct bucket b;
	int i;

	bucket_init(&b, 10, 3, T0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(bucket_check(&b, 1, T0), 1);
	ck_assert_double_eq(bucket_peek(&b, T0), 3);
	ck_assert_int_eq(bucket_check(&b, 3, T0), 1);
	/* Larger than the burst but the bucket is full: would pass. */
	ck_assert_int_eq(bucket_check(&b, 3.5, T0), 1);
	ck_assert_int_eq(bucket_take(&b, 1, T0), 1);
	ck_assert_int_eq(bucket_check(&b, 2.5, T0), 0);
	ck_assert_int_eq(bucket_check(&b, 3.5, T0), 0);
	ck_assert_int_eq(take_n(&b, 10, 1, T0), 2);
	ck_assert_int_eq(bucket_check(&b, 1, T0), 0);
	ck_assert_int_eq(bucket_check(&b, 1, T0 + 100 * MS), 1);
	ck_assert_int_eq(bucket_check(&b, 2, T0 + 100 * MS), 0);
	ck_assert_int_eq(bucket_take(&b, 1, T0 + 100 * MS), 1);
	ck_assert_int_eq(bucket_check(&b, 1, T0 + 100 * MS), 0);
}
END_TEST

static Suite *
bucket_suite(void)
{
	Suite *s = suite_create("bucket");
	TCase *tc = tcase_create("bucket");

	tcase_add_test(tc, full_bucket_admits_burst_then_nothing);
	tcase_add_test(tc, default_burst_is_rate);
	tcase_add_test(tc, refill_after_one_interval_gives_one_token);
	tcase_add_test(tc, fractional_rate_one_every_two_seconds);
	tcase_add_test(tc, burst_below_one_keeps_long_run_rate);
	tcase_add_test(tc, cost_above_burst_keeps_long_run_rate);
	tcase_add_test(tc, cost_above_burst_passes_only_when_full);
	tcase_add_test(tc, configure_keeps_fill_clamped);
	tcase_add_test(tc, configure_refills_at_old_rate_first);
	tcase_add_test(tc, clock_backwards_refills_nothing);
	tcase_add_test(tc, long_elapsed_caps_at_burst);
	tcase_add_test(tc, rate_zero_or_negative_is_unlimited);
	tcase_add_test(tc, check_does_not_take);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(bucket_suite());
}
