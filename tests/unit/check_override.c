/*
 * Unit tests for timed overrides: durations, the body's forms and its
 * errors, the priority-0 guard, what applies to an event, and expiry,
 * all on a fake clock.  Nothing sleeps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "override.h"
#include "rules.h"
#include "check_common.h"

#define NS	1000000000ULL
#define T0	(1000 * NS)

static const char RULES[] =
    "{\"classes\": ["
    "{\"name\": \"checkout\", \"priority\": 0,"
    " \"match\": [{\"field\": \"svc\", \"regex\": \"^checkout$\"}]},"
    "{\"name\": \"batch\", \"priority\": 7,"
    " \"match\": [{\"field\": \"svc\", \"regex\": \"^batch$\"}]}],"
    " \"default\": {\"name\": \"other\", \"priority\": 5}}";

static struct ruleset *
rules(void)
{
	struct rules_error e;
	struct ruleset *rs;

	rs = rules_load_buffer(RULES, strlen(RULES), &e);
	ck_assert_msg(rs != NULL, "rules: %s", e.msg);
	return rs;
}

/* Parse body at now and add it; the override's id, or 0 with err. */
static uint64_t
add(struct overrides *ovs, const struct ruleset *rs, const char *body,
    uint64_t now, char *err, size_t errlen)
{
	struct override o;

	err[0] = '\0';
	if (override_parse(body, strlen(body), now, &o, err, errlen) == -1 ||
	    overrides_add(ovs, &o, rs, err, errlen) == -1)
		return 0;
	return o.id;
}

START_TEST(durations)
{
	static const struct {
		const char	*s;
		uint64_t	 ns;
	} good[] = {
		{ "90s", 90 * NS }, { "15m", 900 * NS }, { "2h", 7200 * NS },
		{ "1h30m", 5400 * NS }, { "1m30s", 90 * NS },
		{ "250ms", 250000000ULL }, { "1s500ms", 1500000000ULL },
		{ "168h", 168 * 3600 * NS },
	};
	static const char *bad[] = {
		"", "15", "m", "15x", "0s", "-5m", "1.5h", "15 m", "30s1m",
		"1h1h", "169h", "99999999999999999999s", "1msx", "1mm",
	};
	uint64_t ns;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(override_duration(good[i].s, &ns) == 0, "%s",
		    good[i].s);
		ck_assert_uint_eq(ns, good[i].ns);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(override_duration(bad[i], &ns) == -1,
		    "accepted \"%s\"", bad[i]);
}
END_TEST

START_TEST(forms)
{
	struct override o;
	char err[256];
	const char *b;

	b = "{\"class\": \"batch\", \"rate\": 100, \"for\": \"15m\", "
	    "\"reason\": \"INC-1234\"}";
	ck_assert_int_eq(override_parse(b, strlen(b), T0, &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(o.kind, OVERRIDE_RATE);
	ck_assert_str_eq(o.class_name, "batch");
	ck_assert_double_eq(o.rate, 100);
	ck_assert_str_eq(o.reason, "INC-1234");
	ck_assert_uint_eq(o.created, T0);
	ck_assert_uint_eq(o.expires, T0 + 900 * NS);
	ck_assert_int_eq(o.force, 0);

	b = "{\"priority_at_least\": 7, \"shed\": true, \"for\": \"10m\"}";
	ck_assert_int_eq(override_parse(b, strlen(b), T0, &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(o.kind, OVERRIDE_SHED);
	ck_assert_int_eq(o.priority, 7);
	ck_assert_str_eq(o.reason, "");

	b = "{\"class\": \"other\", \"priority\": 9, \"for\": \"1h\", "
	    "\"force\": true}";
	ck_assert_int_eq(override_parse(b, strlen(b), T0, &o, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(o.kind, OVERRIDE_PRIORITY);
	ck_assert_int_eq(o.priority, 9);
	ck_assert_int_eq(o.force, 1);
}
END_TEST

START_TEST(bad_bodies)
{
	static const struct {
		const char	*body;
		const char	*why;
	} bad[] = {
		{ "", "invalid JSON" },
		{ "[]", "JSON object" },
		{ "{\"class\":\"batch\",\"rate\":1}", "\"for\"" },
		{ "{\"class\":\"batch\",\"rate\":1,\"for\":\"soon\"}", "\"for\"" },
		{ "{\"class\":\"batch\",\"rate\":1,\"for\":900}", "\"for\"" },
		{ "{\"class\":\"batch\",\"rate\":-1,\"for\":\"1m\"}", "\"rate\"" },
		{ "{\"class\":\"batch\",\"rate\":\"1\",\"for\":\"1m\"}",
		    "\"rate\"" },
		{ "{\"class\":\"batch\",\"for\":\"1m\"}", "either" },
		{ "{\"class\":\"batch\",\"rate\":1,\"priority\":2,"
		    "\"for\":\"1m\"}", "either" },
		{ "{\"rate\":1,\"for\":\"1m\"}", "\"class\"" },
		{ "{\"class\":\"\",\"rate\":1,\"for\":\"1m\"}", "\"class\"" },
		{ "{\"class\":\"batch\",\"priority\":256,\"for\":\"1m\"}",
		    "\"priority\"" },
		{ "{\"class\":\"batch\",\"priority\":1.5,\"for\":\"1m\"}",
		    "\"priority\"" },
		{ "{\"priority_at_least\":7,\"for\":\"1m\"}", "\"shed\": true" },
		{ "{\"priority_at_least\":7,\"shed\":false,\"for\":\"1m\"}",
		    "\"shed\": true" },
		{ "{\"priority_at_least\":-1,\"shed\":true,\"for\":\"1m\"}",
		    "\"priority_at_least\"" },
		{ "{\"priority_at_least\":7,\"shed\":true,\"class\":\"batch\","
		    "\"for\":\"1m\"}", "without" },
		{ "{\"class\":\"batch\",\"rate\":1,\"for\":\"1m\","
		    "\"force\":1}", "\"force\"" },
		{ "{\"class\":\"batch\",\"rate\":1,\"for\":\"1m\","
		    "\"reason\":7}", "\"reason\"" },
		{ "{\"class\":\"batch\",\"rate\":1,\"for\":\"1m\","
		    "\"until\":\"x\"}", "unknown key \"until\"" },
		{ "{\"class\":\"batch\",\"class\":\"other\",\"rate\":1,"
		    "\"for\":\"1m\"}", "invalid JSON" },
	};
	struct override o;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(override_parse(bad[i].body, strlen(bad[i].body),
		    T0, &o, err, sizeof(err)) == -1, "accepted %s",
		    bad[i].body);
		ck_assert_msg(strstr(err, bad[i].why) != NULL,
		    "%s: \"%s\" does not say %s", bad[i].body, err,
		    bad[i].why);
	}
}
END_TEST

/* Priority 0 is shed only when the request says so. */
START_TEST(priority_zero_needs_force)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	char err[256];

	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"checkout\",\"rate\":10,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "\"force\": true"));
	ck_assert_uint_eq(add(ovs, rs, "{\"priority_at_least\":0,"
	    "\"shed\":true,\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"checkout\","
	    "\"priority\":3,\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_uint_eq(overrides_count(ovs), 0);
	/* Moving a class to priority 0, or within 0, sheds nothing. */
	ck_assert_uint_ne(add(ovs, rs, "{\"class\":\"batch\",\"priority\":0,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	/* ...but now batch is priority 0: a rate on it needs force. */
	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"batch\",\"rate\":1,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_uint_ne(add(ovs, rs, "{\"class\":\"batch\",\"rate\":1,"
	    "\"for\":\"1m\",\"force\":true}", T0, err, sizeof(err)), 0);
	ck_assert_uint_ne(add(ovs, rs, "{\"class\":\"checkout\",\"rate\":0,"
	    "\"for\":\"1m\",\"force\":true}", T0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(overrides_drop(ovs, "checkout", 0, 1, T0));
	/* An unknown class is refused. */
	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"nope\",\"rate\":1,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "no class \"nope\""));
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

/* A rate override lets its rate through and drops the rest. */
START_TEST(rate_caps_a_class)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	struct override *o;
	char err[256];
	uint64_t now = T0;
	int i, passed = 0, dropped = 0;

	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"batch\",\"rate\":100,"
	    "\"for\":\"10s\"}", T0, err, sizeof(err)), 1);
	/* 1000 events/s for 5 s: a second's burst, then 100/s. */
	for (i = 0; i < 5000; i++) {
		now = T0 + (uint64_t)i * (NS / 1000);
		if ((o = overrides_drop(ovs, "batch", 7, 1, now)) == NULL)
			passed++;
		else {
			o->shed++;
			dropped++;
		}
		ck_assert_ptr_null(overrides_drop(ovs, "other", 5, 1, now));
	}
	ck_assert_int_ge(passed, 100 + 500 - 1);
	ck_assert_int_le(passed, 100 + 500 + 1);
	ck_assert_int_eq(passed + dropped, 5000);
	ck_assert_uint_eq(overrides_at(ovs, 0)->shed, (uint64_t)dropped);
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

START_TEST(shed_from_a_priority)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	char err[256];

	ck_assert_uint_ne(add(ovs, rs, "{\"priority_at_least\":6,"
	    "\"shed\":true,\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(overrides_drop(ovs, "batch", 7, 1, T0));
	ck_assert_ptr_nonnull(overrides_drop(ovs, "anything", 6, 1, T0));
	ck_assert_ptr_null(overrides_drop(ovs, "other", 5, 1, T0));
	ck_assert_ptr_null(overrides_drop(ovs, "checkout", 0, 1, T0));
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

/* Priority overrides: the latest wins; the class keeps it until expiry. */
START_TEST(priority_moves_a_class)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	char err[256];
	uint64_t a, b;

	ck_assert_int_eq(overrides_priority(ovs, "other", 5), 5);
	a = add(ovs, rs, "{\"class\":\"other\",\"priority\":9,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err));
	b = add(ovs, rs, "{\"class\":\"other\",\"priority\":8,"
	    "\"for\":\"2m\"}", T0, err, sizeof(err));
	ck_assert_uint_ne(a, 0);
	ck_assert_uint_gt(b, a);
	ck_assert_int_eq(overrides_priority(ovs, "other", 5), 8);
	ck_assert_int_eq(overrides_priority(ovs, "batch", 7), 7);
	ck_assert_int_eq(overrides_remove(ovs, b), 0);
	ck_assert_int_eq(overrides_remove(ovs, b), -1);
	ck_assert_int_eq(overrides_priority(ovs, "other", 5), 9);
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

static void
count_done(void *arg, const struct override *o)
{
	uint64_t *ids = arg;

	ids[ids[0]++ + 1] = o->id;
}

/* Expiry is by the clock handed in, to the nanosecond. */
START_TEST(expiry_on_a_fake_clock)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	uint64_t ids[8] = { 0 }, a, b, c;
	char err[256];

	a = add(ovs, rs, "{\"class\":\"batch\",\"rate\":0,\"for\":\"90s\"}",
	    T0, err, sizeof(err));
	b = add(ovs, rs, "{\"priority_at_least\":6,\"shed\":true,"
	    "\"for\":\"15m\"}", T0, err, sizeof(err));
	c = add(ovs, rs, "{\"class\":\"other\",\"priority\":9,"
	    "\"for\":\"2m\"}", T0 + 10 * NS, err, sizeof(err));
	ck_assert_uint_eq(overrides_count(ovs), 3);
	ck_assert_uint_eq(override_left(overrides_at(ovs, 0), T0 + NS),
	    89 * NS);
	ck_assert_ptr_nonnull(overrides_drop(ovs, "batch", 7, 1,
	    T0 + 90 * NS - 1));
	ck_assert_uint_eq(overrides_expire(ovs, T0 + 90 * NS - 1, count_done,
	    ids), 0);
	ck_assert_uint_eq(overrides_expire(ovs, T0 + 90 * NS, count_done,
	    ids), 1);
	ck_assert_uint_eq(ids[0], 1);
	ck_assert_uint_eq(ids[1], a);
	ck_assert_int_eq(overrides_priority(ovs, "other", 5), 9);
	ck_assert_uint_eq(overrides_expire(ovs, T0 + 130 * NS, count_done,
	    ids), 1);
	ck_assert_uint_eq(ids[2], c);
	ck_assert_int_eq(overrides_priority(ovs, "other", 5), 5);
	/* Still in force a nanosecond before its end; gone at it. */
	ck_assert_ptr_nonnull(overrides_drop(ovs, "batch", 7, 1,
	    T0 + 900 * NS - 1));
	ck_assert_ptr_null(overrides_drop(ovs, "batch", 7, 1, T0 + 900 * NS));
	ck_assert_uint_eq(overrides_expire(ovs, T0 + 900 * NS, count_done,
	    ids), 1);
	ck_assert_uint_eq(ids[3], b);
	ck_assert_uint_eq(overrides_count(ovs), 0);
	ck_assert_uint_eq(override_left(&(struct override){ .expires = T0 },
	    T0 + 1), 0);
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

START_TEST(table_is_bounded)
{
	struct ruleset *rs = rules();
	struct overrides *ovs = overrides_new();
	char err[256];
	int i;

	for (i = 0; i < OVERRIDE_MAX; i++)
		ck_assert_uint_ne(add(ovs, rs, "{\"class\":\"batch\","
		    "\"rate\":5,\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_uint_eq(add(ovs, rs, "{\"class\":\"batch\",\"rate\":5,"
	    "\"for\":\"1m\"}", T0, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "active already"));
	ck_assert_uint_eq(overrides_count(ovs), OVERRIDE_MAX);
	overrides_free(ovs);
	rules_free(rs);
}
END_TEST

static Suite *
override_suite(void)
{
	Suite *s = suite_create("override");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, durations);
	tcase_add_test(tc, forms);
	tcase_add_test(tc, bad_bodies);
	suite_add_tcase(s, tc);

	tc = tcase_create("apply");
	tcase_add_test(tc, priority_zero_needs_force);
	tcase_add_test(tc, rate_caps_a_class);
	tcase_add_test(tc, shed_from_a_priority);
	tcase_add_test(tc, priority_moves_a_class);
	tcase_add_test(tc, expiry_on_a_fake_clock);
	tcase_add_test(tc, table_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(override_suite());
}
