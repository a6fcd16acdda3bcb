/*
 * Unit tests for shadow rules: the (class in force, candidate class)
 * pairs of live events, sampled, in a window of one-minute slots on a
 * fake clock, and their JSON.  Nothing sleeps.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "arena.h"
#include "shadow.h"
#include "check_common.h"

#define NS	1000000000ULL
#define MIN	(60 * NS)
#define T0	(1000 * MIN)

/* The candidate: "noisy" takes the batch service away from "other". */
static const char NEW[] =
    "{\"classes\": ["
    "{\"name\": \"errors\", \"priority\": 0,"
    " \"match\": [{\"field\": \"level\", \"regex\": \"^error$\"}]},"
    "{\"name\": \"noisy\", \"priority\": 9,"
    " \"match\": [{\"field\": \"svc\", \"regex\": \"^batch$\"}]}],"
    " \"default\": {\"name\": \"other\", \"priority\": 5}}";

static struct shadow *
candidate(unsigned sample)
{
	struct rules_error e;
	struct ruleset *rs;
	struct shadow *sh;

	rs = rules_load_buffer(NEW, strlen(NEW), &e);
	ck_assert_msg(rs != NULL, "rules: %s", e.msg);
	sh = shadow_new(rs, sample, T0);
	ck_assert_ptr_nonnull(sh);
	return sh;
}

static json_t *
as_json(const struct shadow *sh, uint64_t now)
{
	struct evbuffer *b = evbuffer_new();
	json_error_t e;
	json_t *j;

	ck_assert_int_eq(shadow_json(sh, now, b), 0);
	j = json_loadb((const char *)evbuffer_pullup(b, -1),
	    evbuffer_get_length(b), 0, &e);
	ck_assert_msg(j != NULL, "not JSON: %s", e.text);
	evbuffer_free(b);
	return j;
}

/* Events of the pair (from, to) in j, 0 when absent. */
static long long
pair(json_t *j, const char *from, const char *to)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(j, "pairs"), i, p)
		if (strcmp(json_string_value(json_object_get(p, "from")),
		    from) == 0 && strcmp(json_string_value(json_object_get(p,
		    "to")), to) == 0)
			return json_integer_value(json_object_get(p, "events"));
	return 0;
}

static void
feed(struct shadow *sh, int n, const char *line, const char *live,
    uint64_t now)
{
	int i;

	for (i = 0; i < n; i++)
		shadow_event(sh, line, strlen(line), live, now);
}

#define ERR	"{\"level\":\"error\",\"svc\":\"batch\"}"
#define BATCH	"{\"level\":\"info\",\"svc\":\"batch\"}"
#define WEB	"{\"level\":\"info\",\"svc\":\"web\"}"

START_TEST(pairs_of_live_events)
{
	struct shadow *sh = candidate(1);
	json_t *j, *p0;

	feed(sh, 3, ERR, "errors", T0);
	feed(sh, 5, BATCH, "other", T0);
	feed(sh, 2, WEB, "other", T0);
	feed(sh, 1, "not json", "_invalid", T0);
	j = as_json(sh, T0 + NS);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "events")), 11);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "moved")), 5);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "sample")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "window_s")),
	    SHADOW_SLOTS * 60);
	ck_assert_int_eq(pair(j, "errors", "errors"), 3);
	ck_assert_int_eq(pair(j, "other", "noisy"), 5);
	ck_assert_int_eq(pair(j, "other", "other"), 2);
	ck_assert_int_eq(pair(j, "_invalid", "_invalid"), 1);
	/* Most events first. */
	p0 = json_array_get(json_object_get(j, "pairs"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(p0, "to")),
	    "noisy");
	ck_assert(json_is_true(json_object_get(p0, "moved")));
	json_decref(j);
	shadow_free(sh);
}
END_TEST

START_TEST(sampled)
{
	struct shadow *sh = candidate(4);
	json_t *j;

	feed(sh, 400, BATCH, "other", T0);
	j = as_json(sh, T0);
	ck_assert_int_eq(pair(j, "other", "noisy"), 100);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "sample")), 4);
	json_decref(j);
	shadow_free(sh);
}
END_TEST

/* Only the last SHADOW_SLOTS minutes count. */
START_TEST(window_of_minutes)
{
	struct shadow *sh = candidate(1);
	json_t *j;
	int m;

	for (m = 0; m < SHADOW_SLOTS + 3; m++)
		feed(sh, m + 1, BATCH, "other", T0 + (uint64_t)m * MIN);
	/* Minutes 3..7: 4 + 5 + 6 + 7 + 8 events. */
	j = as_json(sh, T0 + (SHADOW_SLOTS + 2) * MIN + NS);
	ck_assert_int_eq(pair(j, "other", "noisy"), 4 + 5 + 6 + 7 + 8);
	json_decref(j);
	/* Ten minutes of silence: nothing. */
	j = as_json(sh, T0 + 20 * MIN);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "events")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "pairs")), 0);
	json_decref(j);
	shadow_free(sh);
}
END_TEST

START_TEST(take_for_promotion)
{
	struct shadow *sh = candidate(1);
	struct ruleset *rs;

	ck_assert_ptr_nonnull(shadow_rules(sh));
	rs = shadow_take(sh);
	ck_assert_ptr_nonnull(rs);
	ck_assert_ptr_null(shadow_rules(sh));
	/* No rules, nothing classified. */
	feed(sh, 3, BATCH, "other", T0);
	rules_free(rs);
	shadow_free(sh);
}
END_TEST

START_TEST(pairs_are_bounded)
{
	struct shadow *sh = candidate(1);
	char live[32];
	json_t *j;
	int i;

	for (i = 0; i < SHADOW_PAIRS_MAX + 10; i++) {
		snprintf(live, sizeof(live), "c%d", i);
		shadow_event(sh, WEB, strlen(WEB), live, T0);
	}
	j = as_json(sh, T0);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "events")),
	    SHADOW_PAIRS_MAX + 10);
	ck_assert_int_eq(pair(j, "(other)", "(other)"), 10);
	json_decref(j);
	shadow_free(sh);
}
END_TEST

static Suite *
shadow_suite(void)
{
	Suite *s = suite_create("shadow");
	TCase *tc = tcase_create("shadow");

	tcase_add_test(tc, pairs_of_live_events);
	tcase_add_test(tc, sampled);
	tcase_add_test(tc, window_of_minutes);
	tcase_add_test(tc, take_for_promotion);
	tcase_add_test(tc, pairs_are_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	arena_install();	/* classify_event() parses into the arena */
	return unit_run(shadow_suite());
}
