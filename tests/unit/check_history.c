/*
 * Unit tests for the history ring: it keeps exactly the last 900
 * samples, columns by class name, and its JSON says what was sampled,
 * null where a class did not exist yet.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "history.h"
#include "check_common.h"

static json_t *
as_json(const struct history *h)
{
	struct evbuffer *b = evbuffer_new();
	json_error_t e;
	json_t *j;
	size_t n;

	ck_assert_int_eq(history_json(h, b), 0);
	n = evbuffer_get_length(b);
	j = json_loadb((const char *)evbuffer_pullup(b, -1), n, 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", e.text);
	evbuffer_free(b);
	return j;
}

START_TEST(ring_keeps_the_last_window)
{
	struct history *h = history_new();
	struct history_sample *s;
	uint64_t i;
	int c;

	ck_assert_uint_eq(history_len(h), 0);
	ck_assert_ptr_null(history_at(h, 0));
	c = history_column(h, "errors", 0);
	ck_assert_int_eq(c, 0);
	for (i = 0; i < HISTORY_SECS + 100; i++) {
		s = history_next(h, 1000 * i);
		ck_assert_uint_eq(s->n, 1);
		s->c[c].received = (float)i;
	}
	ck_assert_uint_eq(history_len(h), HISTORY_SECS);
	ck_assert_uint_eq(history_at(h, 0)->wall_ms, 100 * 1000);
	ck_assert_double_eq(history_at(h, 0)->c[0].received, 100);
	ck_assert_uint_eq(history_at(h, HISTORY_SECS - 1)->wall_ms,
	    (HISTORY_SECS + 99) * 1000ULL);
	ck_assert_ptr_null(history_at(h, HISTORY_SECS));
	history_free(h);
}
END_TEST

START_TEST(columns_by_name)
{
	struct history *h = history_new();
	char name[32];
	int i;

	ck_assert_int_eq(history_column(h, "a", 3), 0);
	ck_assert_int_eq(history_column(h, "b", 1), 1);
	ck_assert_int_eq(history_column(h, "a", 4), 0);
	for (i = 2; i < HISTORY_CLASSES; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		ck_assert_int_eq(history_column(h, name, 5), i);
	}
	ck_assert_int_eq(history_column(h, "one-too-many", 5), -1);
	ck_assert_int_eq(history_column(h, "b", 2), 1);
	history_free(h);
}
END_TEST

START_TEST(json_says_what_was_sampled)
{
	struct history *h = history_new();
	struct history_sample *s;
	json_t *j, *cl, *sm, *s0, *s1;

	history_column(h, "err\"ors", 0);
	s = history_next(h, 5000);
	s->capacity = INFINITY;
	s->c[0] = (struct history_class){ 10, 9, 0, 1, 12.5f };
	history_column(h, "debug", 9);
	s = history_next(h, 6000);
	s->capacity = 4066.14;
	s->backpressure = 1;
	s->queued = 77;
	s->c[0] = (struct history_class){ 20, 19, 0, 1, 3 };
	s->c[1] = (struct history_class){ 300, 0, 250, 300, 0 };
	j = as_json(h);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "window_s")),
	    HISTORY_SECS);
	cl = json_object_get(j, "classes");
	ck_assert_uint_eq(json_array_size(cl), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cl,
	    0), "name")), "err\"ors");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(cl,
	    1), "priority")), 9);
	sm = json_object_get(j, "samples");
	ck_assert_uint_eq(json_array_size(sm), 2);
	s0 = json_array_get(sm, 0);
	s1 = json_array_get(sm, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(s0, "t")), 5000);
	ck_assert(json_is_null(json_object_get(s0, "capacity")));
	ck_assert(json_is_false(json_object_get(s0, "backpressure")));
	ck_assert_double_eq(json_number_value(json_array_get(
	    json_object_get(s0, "lag_p99_ms"), 0)), 12.5);
	/* debug did not exist yet */
	ck_assert(json_is_null(json_array_get(json_object_get(s0, "received"),
	    1)));
	ck_assert_double_eq_tol(json_number_value(json_object_get(s1,
	    "capacity")), 4066.1, 1e-9);
	ck_assert(json_is_true(json_object_get(s1, "backpressure")));
	ck_assert_int_eq(json_integer_value(json_object_get(s1, "queued")), 77);
	ck_assert_double_eq(json_number_value(json_array_get(
	    json_object_get(s1, "shed"), 1)), 250);
	ck_assert_double_eq(json_number_value(json_array_get(
	    json_object_get(s1, "forwarded"), 0)), 19);
	json_decref(j);
	history_free(h);
}
END_TEST

START_TEST(empty_json)
{
	struct history *h = history_new();
	json_t *j = as_json(h);

	ck_assert_uint_eq(json_array_size(json_object_get(j, "samples")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "classes")), 0);
	json_decref(j);
	history_free(h);
}
END_TEST

static Suite *
history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, ring_keeps_the_last_window);
	tcase_add_test(tc, columns_by_name);
	tcase_add_test(tc, json_says_what_was_sampled);
	tcase_add_test(tc, empty_json);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(history_suite());
}
