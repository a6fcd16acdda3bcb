/*
 * Unit tests for the tap: what each subscriber is sent (its class, its
 * outcomes, its limit), at most TAP_RATE lines a second, and the cut-off
 * of a reader that does not keep up; on a fake clock and fake
 * connections.  Nothing sleeps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "tap.h"
#include "check_common.h"

#define NS	1000000000ULL
#define T0	(1000 * NS)

struct conn {
	char		 buf[1 << 20];
	size_t		 len;
	size_t		 lines;
	size_t		 pending;	/* what it says is unsent */
	int		 gone;		/* write fails */
	char		 why[32];	/* end() */
};

static int
c_write(void *arg, const char *buf, size_t len)
{
	struct conn *c = arg;
	size_t i;

	if (c->gone)
		return -1;
	for (i = 0; i < len; i++)
		if (buf[i] == '\n')
			c->lines++;
	if (c->len + len < sizeof(c->buf)) {
		memcpy(c->buf + c->len, buf, len);
		c->len += len;
		c->buf[c->len] = '\0';
	}
	return 0;
}

static size_t
c_pending(void *arg)
{
	return ((struct conn *)arg)->pending;
}

static void
c_end(void *arg, const char *why)
{
	snprintf(((struct conn *)arg)->why, sizeof(((struct conn *)arg)->why),
	    "%s", why);
}

static int
sub(struct tap *t, struct conn *c, const char *cls, int outcomes,
    uint64_t limit)
{
	struct tap_out out = { c_write, c_pending, c_end, c };
	struct tap_filter f;

	memset(&f, 0, sizeof(f));
	snprintf(f.class_name, sizeof(f.class_name), "%s", cls);
	f.outcomes = outcomes;
	f.limit = limit;
	return tap_subscribe(t, &f, &out, T0);
}

/* The n-th line of c, parsed. */
static json_t *
line(const struct conn *c, size_t n)
{
	const char *p = c->buf, *e;
	json_error_t err;
	json_t *j;

	while (n-- > 0) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	e = strchr(p, '\n');
	ck_assert_ptr_nonnull(e);
	j = json_loadb(p, (size_t)(e - p), 0, &err);
	ck_assert_msg(j != NULL, "line %zu: %s", n, err.text);
	return j;
}

static const char EV[] = "{\"svc\":\"batch\",\"n\":1}";

START_TEST(filters_by_class_and_outcome)
{
	struct tap *t = tap_new();
	struct conn *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	json_t *j;

	ck_assert(!tap_wants(t));
	ck_assert(!tap_wants(NULL));
	ck_assert_int_ge(sub(t, a, "debug", TAP_SHED, 0), 0);
	ck_assert_int_ge(sub(t, b, "", 0, 0), 0);
	ck_assert(tap_wants(t));
	tap_event(t, "debug", TAP_SHED, REASON_BACKPRESSURE, EV,
	    strlen(EV), T0);
	tap_event(t, "debug", TAP_FORWARDED, REASON_MAX, EV, strlen(EV), T0);
	tap_event(t, "other", TAP_SHED, REASON_RATE_LIMIT, EV, strlen(EV), T0);
	tap_event(t, "_invalid", TAP_REJECTED, REASON_TOO_LARGE, "not json",
	    8, T0);
	ck_assert_uint_eq(a->lines, 1);
	ck_assert_uint_eq(b->lines, 4);
	j = line(a, 0);
	ck_assert_str_eq(json_string_value(json_object_get(j, "class")),
	    "debug");
	ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")),
	    "shed");
	ck_assert_str_eq(json_string_value(json_object_get(j, "reason")),
	    "backpressure");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j,
	    "event"), "n")), 1);
	json_decref(j);
	j = line(b, 1);
	ck_assert_ptr_null(json_object_get(j, "reason"));
	json_decref(j);
	j = line(b, 3);
	ck_assert_str_eq(json_string_value(json_object_get(j, "event")),
	    "not json");
	ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")),
	    "rejected");
	json_decref(j);
	tap_free(t);
	ck_assert_str_eq(a->why, "shutdown");
	free(a);
	free(b);
}
END_TEST

START_TEST(outcomes_of_reasons)
{
	ck_assert_int_eq(tap_outcome_of(REASON_TOO_LARGE), TAP_REJECTED);
	ck_assert_int_eq(tap_outcome_of(REASON_SINK_REJECTED), TAP_REJECTED);
	ck_assert_int_eq(tap_outcome_of(REASON_BACKPRESSURE), TAP_SHED);
	ck_assert_int_eq(tap_outcome_of(REASON_RATE_LIMIT), TAP_SHED);
	ck_assert_int_eq(tap_outcome_of(REASON_QUEUE_FULL), TAP_SHED);
	ck_assert_int_eq(tap_outcome_parse("forwarded"), TAP_FORWARDED);
	ck_assert_int_eq(tap_outcome_parse("shed"), TAP_SHED);
	ck_assert_int_eq(tap_outcome_parse("rejected"), TAP_REJECTED);
	ck_assert_int_eq(tap_outcome_parse("dropped"), 0);
}
END_TEST

/* At most TAP_RATE a second; the rest is counted as skipped. */
START_TEST(rate_is_bounded)
{
	struct tap *t = tap_new();
	struct conn *a = calloc(1, sizeof(*a));
	json_t *j, *o;
	int i;

	sub(t, a, "debug", TAP_ALL, 0);
	for (i = 0; i < 3 * TAP_RATE; i++)
		tap_event(t, "debug", TAP_SHED, REASON_BACKPRESSURE, "1", 1,
		    T0);
	ck_assert_uint_eq(a->lines, TAP_RATE);
	tap_tick(t, T0 + NS / 2);
	j = line(a, TAP_RATE);
	o = json_object_get(j, "tap");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "seen")),
	    3 * TAP_RATE);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "sent")),
	    TAP_RATE);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "skipped")),
	    2 * TAP_RATE);
	json_decref(j);
	/* Half a second later, half a second's worth again. */
	for (i = 0; i < TAP_RATE; i++)
		tap_event(t, "debug", TAP_SHED, REASON_BACKPRESSURE, "1", 1,
		    T0 + NS / 2);
	ck_assert_uint_eq(a->lines, TAP_RATE + 1 + TAP_RATE / 2);
	tap_free(t);
	free(a);
}
END_TEST

START_TEST(limit_ends_it)
{
	struct tap *t = tap_new();
	struct conn *a = calloc(1, sizeof(*a));
	int i;

	sub(t, a, "", TAP_ALL, 3);
	for (i = 0; i < 10; i++)
		tap_event(t, "x", TAP_FORWARDED, REASON_MAX, "{}", 2, T0);
	ck_assert_uint_eq(a->lines, 3);
	ck_assert_str_eq(a->why, "limit");
	ck_assert(!tap_wants(t));
	tap_free(t);
	free(a);
}
END_TEST

/* A reader that does not keep up is cut off, never buffered for. */
START_TEST(slow_reader_is_cut_off)
{
	struct tap *t = tap_new();
	struct conn *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	sub(t, a, "", TAP_ALL, 0);
	sub(t, b, "", TAP_ALL, 0);
	tap_event(t, "x", TAP_FORWARDED, REASON_MAX, "{}", 2, T0);
	a->pending = TAP_BUFFER_MAX + 1;
	tap_event(t, "x", TAP_FORWARDED, REASON_MAX, "{}", 2, T0);
	ck_assert_str_eq(a->why, "slow reader");
	ck_assert_uint_eq(a->lines, 1);
	ck_assert_uint_eq(b->lines, 2);
	ck_assert_uint_eq(tap_subscribers(t), 1);
	/* The tick cuts off too, without an event. */
	b->pending = TAP_BUFFER_MAX + 1;
	tap_tick(t, T0 + NS);
	ck_assert_str_eq(b->why, "slow reader");
	ck_assert_uint_eq(tap_subscribers(t), 0);
	tap_free(t);
	free(a);
	free(b);
}
END_TEST

START_TEST(gone_and_full)
{
	struct tap *t = tap_new();
	struct conn *c = calloc(TAP_MAX + 1, sizeof(*c));
	int i, id;

	for (i = 0; i < TAP_MAX; i++)
		ck_assert_int_ge(sub(t, &c[i], "", TAP_ALL, 0), 0);
	ck_assert_int_eq(sub(t, &c[TAP_MAX], "", TAP_ALL, 0), -1);
	/* A connection that went away is forgotten without end(). */
	c[0].gone = 1;
	tap_event(t, "x", TAP_FORWARDED, REASON_MAX, "{}", 2, T0);
	ck_assert_str_eq(c[0].why, "");
	ck_assert_uint_eq(tap_subscribers(t), TAP_MAX - 1);
	id = sub(t, &c[TAP_MAX], "", TAP_ALL, 0);
	ck_assert_int_eq(id, 0);
	tap_unsubscribe(t, id);
	tap_unsubscribe(t, id);
	ck_assert_uint_eq(tap_subscribers(t), TAP_MAX - 1);
	tap_free(t);
	free(c);
}
END_TEST

/* Long events are cut and sent as a string; the line stays JSON. */
START_TEST(long_event_is_cut)
{
	struct tap *t = tap_new();
	struct conn *a = calloc(1, sizeof(*a));
	char *big = malloc(TAP_EVENT_MAX + 10);
	json_t *j;

	memset(big, 'a', TAP_EVENT_MAX + 10);
	big[0] = '"';
	big[TAP_EVENT_MAX + 9] = '"';
	a->len = 0;
	sub(t, a, "", TAP_ALL, 0);
	tap_event(t, "x", TAP_FORWARDED, REASON_MAX, big, TAP_EVENT_MAX + 10,
	    T0);
	ck_assert_uint_eq(a->lines, 1);
	j = line(a, 0);
	ck_assert_uint_eq(json_string_length(json_object_get(j, "event")),
	    TAP_EVENT_MAX);
	json_decref(j);
	tap_free(t);
	free(big);
	free(a);
}
END_TEST

static Suite *
tap_suite(void)
{
	Suite *s = suite_create("tap");
	TCase *tc = tcase_create("tap");

	tcase_add_test(tc, filters_by_class_and_outcome);
	tcase_add_test(tc, outcomes_of_reasons);
	tcase_add_test(tc, rate_is_bounded);
	tcase_add_test(tc, limit_ends_it);
	tcase_add_test(tc, slow_reader_is_cut_off);
	tcase_add_test(tc, gone_and_full);
	tcase_add_test(tc, long_event_is_cut);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(tap_suite());
}
