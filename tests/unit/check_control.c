/*
 * Unit tests for the capacity controller and the allocation by priority.
 *
 * A fake clock and scripted pressure drive control_step(); a small model
 * of an overloaded sink (a capacity in events/s that answers 429 for what
 * goes beyond it, and holds the rejected events for a retry) closes the
 * loop so that the step response can be checked.  Nothing sleeps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "control.h"
#include "check_common.h"

#define NS	1000000000ULL
#define MS	1000000ULL
#define T0	(1000 * NS)
#define IV	(250 * MS)

static void
params(struct control *ct, uint64_t now)
{
	struct control_params p = {
		.interval_ns = IV,
		.decrease = 0.7,
		.increase = 0.05,
	};

	control_init(ct, &p, now);
}

/*
 * Run n intervals at a steady forwarded and demand rate (events/s) with
 * the given pressure, from *now and the cumulative counts in *fwd, *dem.
 */
static void
run(struct control *ct, uint64_t *now, uint64_t *fwd, uint64_t *dem,
    double fwd_rate, double dem_rate, int pressure, double floor, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		*now += IV;
		*fwd += (uint64_t)(fwd_rate * IV / NS);
		*dem += (uint64_t)(dem_rate * IV / NS);
		control_step(ct, *now, *fwd, *dem, pressure, floor);
	}
}

/* -- allocation */

START_TEST(allocate_serves_priority_zero_first)
{
	struct alloc_item v[4] = {
		{ .priority = 2, .demand = 500 },
		{ .priority = 0, .demand = 300 },
		{ .priority = 1, .demand = 400 },
		{ .priority = 9, .demand = 1000 },
	};
	double spare;

	spare = control_allocate(1000, v, 4);
	ck_assert_double_eq_tol(v[1].alloc, 300, 1e-9);
	ck_assert_double_eq_tol(v[2].alloc, 400, 1e-9);
	ck_assert_double_eq_tol(v[0].alloc, 300, 1e-9);	/* what is left */
	ck_assert_double_eq_tol(v[3].alloc, 0, 1e-9);
	ck_assert_double_eq(spare, 0);
}
END_TEST

START_TEST(allocate_shares_one_priority_by_demand)
{
	struct alloc_item v[3] = {
		{ .priority = 0, .demand = 100 },
		{ .priority = 3, .demand = 300 },
		{ .priority = 3, .demand = 900 },
	};

	control_allocate(700, v, 3);
	ck_assert_double_eq_tol(v[0].alloc, 100, 1e-9);
	/* 600 left for a demand of 1200: half each. */
	ck_assert_double_eq_tol(v[1].alloc, 150, 1e-9);
	ck_assert_double_eq_tol(v[2].alloc, 450, 1e-9);
}
END_TEST

START_TEST(allocate_returns_the_spare)
{
	struct alloc_item v[2] = {
		{ .priority = 0, .demand = 100 },
		{ .priority = 5, .demand = 0 },
	};
	double spare;

	spare = control_allocate(1000, v, 2);
	ck_assert_double_eq_tol(v[0].alloc, 100, 1e-9);
	ck_assert_double_eq(v[1].alloc, 0);
	ck_assert_double_eq_tol(spare, 900, 1e-9);

	spare = control_allocate(INFINITY, v, 2);
	ck_assert_double_eq_tol(v[0].alloc, 100, 1e-9);
	ck_assert(isinf(spare));
	ck_assert_double_eq(control_allocate(50, v, 0), 50);
}
END_TEST

START_TEST(allocate_short_capacity_inside_one_priority)
{
	struct alloc_item v[3] = {
		{ .priority = 0, .demand = 600 },
		{ .priority = 0, .demand = 200 },
		{ .priority = 1, .demand = 100 },
	};

	control_allocate(400, v, 3);
	ck_assert_double_eq_tol(v[0].alloc, 300, 1e-9);
	ck_assert_double_eq_tol(v[1].alloc, 100, 1e-9);
	ck_assert_double_eq(v[2].alloc, 0);
}
END_TEST

/* -- the controller, scripted */

START_TEST(unlimited_until_pressure)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 5000, 5000, 0, 0, 40);
	ck_assert(isinf(ct.capacity));
	ck_assert_double_eq_tol(ct.fwd_rate, 5000, 50);
	ck_assert_double_eq_tol(ct.demand_rate, 5000, 50);
}
END_TEST

START_TEST(pressure_decreases_to_forwarded_times_decrease)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 4000, 9000, 0, 0, 40);
	now += IV;
	fwd += 1000;
	dem += 2250;
	ck_assert_int_eq(control_step(&ct, now, fwd, dem, 1, 0),
	    CONTROL_LIMITED);
	ck_assert_double_eq_tol(ct.capacity, 0.7 * ct.fwd_rate, 1e-9);
	ck_assert_double_eq_tol(ct.capacity, 2800, 30);
	ck_assert_double_eq_tol(ct.ceiling, ct.fwd_rate, 1e-9);

	/* Sustained pressure at a steady forwarded rate holds, not collapses. */
	run(&ct, &now, &fwd, &dem, 4000, 9000, 1, 0, 40);
	ck_assert_double_eq_tol(ct.capacity, 2800, 30);
}
END_TEST

START_TEST(additive_increase_without_pressure)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	double c, prev;
	int i;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 1000, 9000, 0, 0, 40);
	run(&ct, &now, &fwd, &dem, 1000, 9000, 1, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, 700, 10);
	/* Back to the ceiling at once: the sink took that much. */
	run(&ct, &now, &fwd, &dem, 700, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, ct.ceiling, 1e-9);
	c = ct.capacity;
	/* Then it holds there for a while... */
	for (i = 0; i < CONTROL_HOLD_STEPS - 1; i++) {
		run(&ct, &now, &fwd, &dem, ct.capacity, 9000, 0, 0, 1);
		ck_assert_double_eq(ct.capacity, c);
	}
	/* ...and probes, a quarter of the increase first, then more. */
	run(&ct, &now, &fwd, &dem, ct.capacity, 9000, 0, 0, 1);
	ck_assert_double_eq(ct.capacity, c);
	prev = ct.capacity;
	run(&ct, &now, &fwd, &dem, ct.capacity, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, prev * (1 + 0.05 / 4), 1e-6);
	prev = ct.capacity;
	run(&ct, &now, &fwd, &dem, ct.capacity, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, prev * (1 + 0.05 / 2), 1e-6);
	/* It grows on, up to CONTROL_PROBE_MAX times the increase. */
	for (i = 0; i < 40; i++) {
		prev = ct.capacity;
		run(&ct, &now, &fwd, &dem, ct.capacity, 1e9, 0, 0, 1);
	}
	ck_assert_double_eq_tol(ct.capacity,
	    prev * (1 + 0.05 * CONTROL_PROBE_MAX), 1e-3);
}
END_TEST

START_TEST(increase_below_ceiling_is_increase_times_c)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	double c;

	params(&ct, now);
	/* The sink went down: nothing forwarded, C at its floor of 1. */
	run(&ct, &now, &fwd, &dem, 0, 900, 1, 0, 8);
	ck_assert_double_eq(ct.capacity, 1);
	ct.ceiling = 1000;	/* what it took before */
	run(&ct, &now, &fwd, &dem, 0, 900, 0, 0, 1);
	ck_assert_double_eq(ct.capacity, 1000);
	/* Above no ceiling yet, growth is increase x C. */
	ct.ceiling = 0;
	c = ct.capacity;
	run(&ct, &now, &fwd, &dem, 0, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, c * 1.05, 1e-6);
}
END_TEST

START_TEST(increase_is_at_least_one_event)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 0, 10, 1, 0, 4);
	ck_assert_double_eq(ct.capacity, 1);
	run(&ct, &now, &fwd, &dem, 0, 10, 0, 0, 1);
	ck_assert_double_eq(ct.capacity, 2);
}
END_TEST

START_TEST(jumps_to_the_forwarded_rate_when_draining)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 2000, 9000, 0, 0, 40);
	run(&ct, &now, &fwd, &dem, 2000, 9000, 1, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, 1400, 20);
	/* The sink still delivers 2000/s: C is at least that, at once. */
	run(&ct, &now, &fwd, &dem, 2000, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, ct.fwd_rate, 1e-9);
}
END_TEST

START_TEST(probe_above_ceiling_starts_gently)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	double c;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 2000, 9000, 0, 0, 40);
	run(&ct, &now, &fwd, &dem, 2000, 9000, 1, 0, 1);
	run(&ct, &now, &fwd, &dem, 2000, 9000, 0, 0, 1);
	c = ct.capacity;
	ck_assert_double_ge(c, ct.ceiling);
	/* Held at the ceiling, then the first probe: 1/4 of 5%. */
	run(&ct, &now, &fwd, &dem, c, 9000, 0, 0, CONTROL_HOLD_STEPS);
	ck_assert_double_eq(ct.capacity, c);
	run(&ct, &now, &fwd, &dem, c, 9000, 0, 0, 1);
	ck_assert_double_eq_tol(ct.capacity, c * (1 + 0.05 / 4), 1e-6);
}
END_TEST

START_TEST(floor_keeps_priority_zero)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 0, 5000, 1, 1500, 8);
	ck_assert_double_eq(ct.capacity, 1500);
}
END_TEST

START_TEST(lifted_after_calm)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	int i, lifted = -1;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 3000, 9000, 0, 0, 20);
	run(&ct, &now, &fwd, &dem, 3000, 9000, 1, 0, 1);
	ck_assert(!isinf(ct.capacity));
	/* Demand falls well below C: lifted once calm has lasted 5 s. */
	for (i = 0; i < 60 && lifted < 0; i++) {
		now += IV;
		fwd += 100;
		dem += 100;
		if (control_step(&ct, now, fwd, dem, 0, 0) == CONTROL_LIFTED)
			lifted = i;
	}
	ck_assert(isinf(ct.capacity));
	/* ~1 s for the smoothed demand to fall below C, then 5 s calm. */
	ck_assert_int_ge(lifted, 20);
	ck_assert_int_le(lifted, 28);
	ck_assert_uint_eq(ct.lifts, 1);
}
END_TEST

START_TEST(pressure_resets_calm)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 3000, 9000, 1, 0, 4);
	run(&ct, &now, &fwd, &dem, 100, 100, 0, 0, 16);
	run(&ct, &now, &fwd, &dem, 100, 100, 1, 0, 1);
	run(&ct, &now, &fwd, &dem, 100, 100, 0, 0, 16);
	ck_assert(!isinf(ct.capacity));
}
END_TEST

START_TEST(clock_standing_still_changes_nothing)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	double c;

	params(&ct, now);
	run(&ct, &now, &fwd, &dem, 3000, 9000, 1, 0, 4);
	c = ct.capacity;
	ck_assert_int_eq(control_step(&ct, now, fwd + 999, dem + 999, 1, 0),
	    CONTROL_SAME);
	ck_assert_double_eq(ct.capacity, c);
}
END_TEST

/* -- closed loop: a sink with a capacity */

/*
 * The model: each interval the shaper admits min(demand, C); the sink
 * offers its backlog plus what was admitted to a peer that takes
 * `cap` events/s and answers 429 for the rest, which stay in the backlog
 * for the next interval.  Pressure is any 429.  Returns the admitted and
 * forwarded counts per simulated second in adm[] and fwd[].
 */
static void
loop(double demand, const double *caps, int secs, double *adm,
    double *fwdv, double *capv)
{
	struct control ct;
	uint64_t now = T0, fwd = 0, dem = 0;
	double backlog = 0;
	int t, k, per = (int)(NS / IV);

	params(&ct, now);
	for (t = 0; t < secs; t++) {
		adm[t] = fwdv[t] = 0;
		for (k = 0; k < per; k++) {
			double c = ct.capacity, want = demand * IV / NS;
			double a = isinf(c) ? want : fmin(want, c * IV / NS);
			double room = caps[t] * IV / NS, took;
			int pressure;

			backlog += a;
			took = fmin(backlog, room);
			pressure = backlog > room;
			backlog -= took;
			adm[t] += a;
			fwdv[t] += took;
			now += IV;
			fwd += (uint64_t)took;
			dem += (uint64_t)want;
			control_step(&ct, now, fwd, dem, pressure, 0);
		}
		capv[t] = ct.capacity;
	}
}

START_TEST(step_response_settles_within_ten_percent)
{
	enum { SECS = 60 };
	double caps[SECS], adm[SECS], fwd[SECS], cv[SECS];
	int t;

	for (t = 0; t < SECS; t++)
		caps[t] = t < 20 ? 5000 : t < 40 ? 1000 : 5000;
	loop(20000, caps, SECS, adm, fwd, cv);
	for (t = 0; t < SECS; t++) {
		/* What reaches the sink: the capacity, 5 s after a step. */
		if ((t >= 5 && t < 20) || (t >= 21 && t < 40) ||
		    (t >= 50 && t < SECS))
			ck_assert_msg(fabs(fwd[t] - caps[t]) <= 0.1 * caps[t],
			    "second %d: forwarded %.0f, capacity %.0f", t,
			    fwd[t], caps[t]);
		/*
		 * What is admitted: after a cut the backlog drains first
		 * (admitted below capacity, forwarded at it), then settles;
		 * after a rise with no backlog to drain, the probe has to
		 * find the new capacity, which takes longer.
		 */
		if ((t >= 5 && t < 20) || (t >= 27 && t < 40) ||
		    (t >= 50 && t < SECS))
			ck_assert_msg(fabs(adm[t] - caps[t]) <= 0.1 * caps[t],
			    "second %d: admitted %.0f, capacity %.0f", t,
			    adm[t], caps[t]);
	}
}
END_TEST

START_TEST(demand_below_capacity_is_not_limited)
{
	enum { SECS = 20 };
	double caps[SECS], adm[SECS], fwd[SECS], cv[SECS];
	int t;

	for (t = 0; t < SECS; t++)
		caps[t] = 5000;
	loop(3000, caps, SECS, adm, fwd, cv);
	for (t = 0; t < SECS; t++) {
		ck_assert(isinf(cv[t]));
		ck_assert_double_eq_tol(adm[t], 3000, 1);
	}
}
END_TEST

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("allocate");

	tcase_add_test(tc, allocate_serves_priority_zero_first);
	tcase_add_test(tc, allocate_shares_one_priority_by_demand);
	tcase_add_test(tc, allocate_returns_the_spare);
	tcase_add_test(tc, allocate_short_capacity_inside_one_priority);
	suite_add_tcase(s, tc);

	tc = tcase_create("step");
	tcase_add_test(tc, unlimited_until_pressure);
	tcase_add_test(tc, pressure_decreases_to_forwarded_times_decrease);
	tcase_add_test(tc, additive_increase_without_pressure);
	tcase_add_test(tc, increase_below_ceiling_is_increase_times_c);
	tcase_add_test(tc, increase_is_at_least_one_event);
	tcase_add_test(tc, jumps_to_the_forwarded_rate_when_draining);
	tcase_add_test(tc, probe_above_ceiling_starts_gently);
	tcase_add_test(tc, floor_keeps_priority_zero);
	tcase_add_test(tc, lifted_after_calm);
	tcase_add_test(tc, pressure_resets_calm);
	tcase_add_test(tc, clock_standing_still_changes_nothing);
	suite_add_tcase(s, tc);

	tc = tcase_create("loop");
	tcase_add_test(tc, step_response_settles_within_ten_percent);
	tcase_add_test(tc, demand_below_capacity_is_not_limited);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(control_suite());
}
