/*
 * Unit tests for batch: the limits as the configuration sets them, room
 * for one more record (a record alone always fits), full, and due.
 */
#include <stdint.h>

#include <check.h>

#include "batch.h"
#include "config.h"
#include "check_common.h"

static const struct batch_limits lim = { 3, 100, 200000000 };

START_TEST(test_from_config)
{
	struct config *cf = config_default();
	struct batch_limits l;

	ck_assert_ptr_nonnull(cf);
	batch_limits(&l, cf);
	ck_assert_uint_eq(l.events, 1000);
	ck_assert_uint_eq(l.bytes, 5242880);
	ck_assert_uint_eq(l.flush_ns, 200000000ULL);
	cf->batch_events = 7;
	cf->batch_bytes = 9;
	cf->flush_ms = 0;
	batch_limits(&l, cf);
	ck_assert_uint_eq(l.events, 7);
	ck_assert_uint_eq(l.bytes, 9);
	ck_assert_uint_eq(l.flush_ns, 0);
	config_free(cf);
}
END_TEST

START_TEST(test_room)
{
	/* One record alone fits, however large. */
	ck_assert_int_eq(batch_room(&lim, 0, 0, 1000000), 1);
	/* Bytes: up to the limit exactly. */
	ck_assert_int_eq(batch_room(&lim, 1, 60, 40), 1);
	ck_assert_int_eq(batch_room(&lim, 1, 60, 41), 0);
	ck_assert_int_eq(batch_room(&lim, 2, 100, 0), 1);
	/* Events: fewer than the limit. */
	ck_assert_int_eq(batch_room(&lim, 2, 10, 1), 1);
	ck_assert_int_eq(batch_room(&lim, 3, 10, 1), 0);
	ck_assert_int_eq(batch_room(&lim, 3, 0, 0), 0);
}
END_TEST

START_TEST(test_full_and_due)
{
	const uint64_t t0 = 5000000000ULL;

	ck_assert_int_eq(batch_full(&lim, 0, 0), 0);
	ck_assert_int_eq(batch_full(&lim, 2, 99), 0);
	ck_assert_int_eq(batch_full(&lim, 3, 0), 1);
	ck_assert_int_eq(batch_full(&lim, 1, 100), 1);
	ck_assert_int_eq(batch_full(&lim, 1, 5000), 1);
	/* Full and "no room for anything more" agree. */
	ck_assert_int_eq(batch_full(&lim, 2, 99), batch_room(&lim, 2, 99, 1) ?
	    0 : 1);
	ck_assert_int_eq(batch_full(&lim, 2, 100), batch_room(&lim, 2, 100, 1) ?
	    0 : 1);

	ck_assert_uint_eq(batch_deadline(&lim, t0), t0 + 200000000ULL);
	ck_assert_int_eq(batch_due(&lim, 1, 10, t0, t0), 0);
	ck_assert_int_eq(batch_due(&lim, 1, 10, t0, t0 + 199999999ULL), 0);
	ck_assert_int_eq(batch_due(&lim, 1, 10, t0, t0 + 200000000ULL), 1);
	/* Full is due at once. */
	ck_assert_int_eq(batch_due(&lim, 3, 10, t0, t0), 1);
	ck_assert_int_eq(batch_due(&lim, 1, 100, t0, t0), 1);
	/* The oldest arrival counts: a record that waited is due at once. */
	ck_assert_int_eq(batch_due(&lim, 1, 10, t0 - 300000000ULL, t0), 1);
}
END_TEST

static Suite *
batch_suite(void)
{
	Suite	*s = suite_create("batch");
	TCase	*tc = tcase_create("batch");

	tcase_add_test(tc, test_from_config);
	tcase_add_test(tc, test_room);
	tcase_add_test(tc, test_full_and_due);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(batch_suite());
}
