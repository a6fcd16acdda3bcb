/*
 * Unit tests for the fleet rule: the water line over many instances'
 * reports, forgetting the silent ones, the report's wire form, and the
 * whole loop (several controllers, the fleet rule and one sink of fixed
 * capacity) driven by a fake clock.  Nothing sleeps.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "control.h"
#include "fleet.h"
#include "check_common.h"

#define NS	1000000000ULL
#define MS	1000000ULL
#define T0	(1000 * NS)
#define IV	(250 * MS)
#define STALE	(3 * NS)

static struct fleet_report
report(const char *id, double capacity)
{
	struct fleet_report r;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	r.capacity = capacity;
	return r;
}

static void
demand(struct fleet_report *r, int prio, double d)
{
	r->demand[prio] = d;
	if (prio + 1 > r->nprio)
		r->nprio = prio + 1;
}

/* Two instances, a and b, that hear each other (pair_hear()). */
struct pair {
	struct fleet		*fa, *fb;
	struct fleet_report	 a, b;
};

static void
pair_open(struct pair *p, double cap_a, double cap_b)
{
	ck_assert_ptr_nonnull(p->fa = fleet_new("a", STALE));
	ck_assert_ptr_nonnull(p->fb = fleet_new("b", STALE));
	p->a = report("a", cap_a);
	p->b = report("b", cap_b);
}

/* Each hears the other's report, as it stands, at now. */
static void
pair_hear(struct pair *p, uint64_t now)
{
	ck_assert_int_eq(fleet_heard(p->fa, &p->b, now), 1);
	ck_assert_int_eq(fleet_heard(p->fb, &p->a, now), 1);
}

static void
pair_close(struct pair *p)
{
	fleet_free(p->fa);
	fleet_free(p->fb);
}

/* -- the water line */

START_TEST(alone_is_local)
{
	struct fleet *f = fleet_new("a", STALE);
	struct fleet_report a = report("a", 4000);
	struct fleet_view v;

	demand(&a, 0, 1000);
	demand(&a, 3, 9000);
	ck_assert_double_eq(fleet_share(f, &a, T0, &v), 4000);
	ck_assert_uint_eq(v.peers, 0);
	ck_assert_int_eq(v.over, -1);
	ck_assert_int_eq(v.margin, -1);
	/* Its own report coming back is not another instance. */
	ck_assert_int_eq(fleet_heard(f, &a, T0), 0);
	ck_assert_double_eq(fleet_share(f, &a, T0, &v), 4000);
	ck_assert_uint_eq(v.peers, 0);
	fleet_free(f);
}
END_TEST

/* The situation of the issue: B's debug yields to A's checkout. */
START_TEST(lower_priority_elsewhere_yields)
{
	struct fleet_view va, vb;
	struct pair p;
	double sa, sb;

	pair_open(&p, 5000, 5000);
	demand(&p.a, 0, 3000);
	demand(&p.a, 1, 5000);
	demand(&p.b, 9, 20000);
	pair_hear(&p, T0);
	sa = fleet_share(p.fa, &p.a, T0, &va);
	sb = fleet_share(p.fb, &p.b, T0, &vb);
	ck_assert_double_eq_tol(sa, 8000, 1e-6);
	ck_assert_double_eq_tol(sb, 2000, 1e-6);
	ck_assert_uint_eq(va.peers, 1);
	ck_assert_double_eq(va.capacity, 10000);
	ck_assert_double_eq(va.demand, 28000);
	ck_assert_int_eq(va.over, 1);
	ck_assert_int_eq(va.margin, 9);
	ck_assert_double_eq_tol(va.margin_share, 0.1, 1e-9);
	ck_assert_int_eq(vb.margin, 9);
	ck_assert_double_eq(va.prio_demand[1], 5000);
	ck_assert_double_eq(va.prio_demand[9], 20000);
	ck_assert_int_eq(va.nprio, 10);
	pair_close(&p);
}
END_TEST

/* One priority, unequal demand: shares follow demand. */
START_TEST(one_priority_shares_by_demand)
{
	struct fleet_view v;
	struct pair p;

	pair_open(&p, 9000, 1000);
	demand(&p.a, 5, 15000);
	demand(&p.b, 5, 5000);
	pair_hear(&p, T0);
	ck_assert_double_eq_tol(fleet_share(p.fa, &p.a, T0, &v), 7500, 1e-6);
	ck_assert_double_eq_tol(v.margin_share, 0.5, 1e-9);
	ck_assert_double_eq_tol(fleet_share(p.fb, &p.b, T0, &v), 2500, 1e-6);
	pair_close(&p);
}
END_TEST

/* Capacity nobody asked for stays with whose it is; all of it is used. */
START_TEST(spare_stays_with_its_owner)
{
	struct fleet_view v;
	struct pair p;
	double sa, sb;

	pair_open(&p, 6000, 4000);
	demand(&p.a, 2, 2000);
	demand(&p.b, 2, 1000);
	pair_hear(&p, T0);
	sa = fleet_share(p.fa, &p.a, T0, &v);
	ck_assert_int_eq(v.over, 0);
	ck_assert_int_eq(v.margin, -1);
	sb = fleet_share(p.fb, &p.b, T0, &v);
	ck_assert_double_eq_tol(sa, 2000 + 7000 * 0.6, 1e-6);
	ck_assert_double_eq_tol(sb, 1000 + 7000 * 0.4, 1e-6);
	ck_assert_double_eq_tol(sa + sb, 10000, 1e-6);
	pair_close(&p);
}
END_TEST

/* Every instance's share, each from its own view: they add up to C. */
START_TEST(shares_add_up_to_the_fleet_capacity)
{
	struct fleet *f[3];
	struct fleet_report r[3];
	struct fleet_view v;
	const char *ids[3] = { "a", "b", "c" };
	double sum = 0;
	int i, j;

	for (i = 0; i < 3; i++) {
		f[i] = fleet_new(ids[i], STALE);
		r[i] = report(ids[i], 1000.0 * (i + 1));
		demand(&r[i], 0, 200);
		demand(&r[i], i + 1, 1500.0 * (3 - i));
		demand(&r[i], 7, 800);
	}
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++)
			fleet_heard(f[i], &r[j], T0);
	for (i = 0; i < 3; i++) {
		sum += fleet_share(f[i], &r[i], T0, &v);
		ck_assert_uint_eq(v.peers, 2);
	}
	ck_assert_double_eq_tol(sum, 6000, 1e-6);
	/* 600 of p0, 4500 of p1, the rest of p2 (3000) in part. */
	ck_assert_int_eq(v.margin, 2);
	ck_assert_double_eq_tol(v.margin_share, 900.0 / 3000, 1e-9);
	for (i = 0; i < 3; i++)
		fleet_free(f[i]);
}
END_TEST

/* Silent instances are forgotten; then the instance is on its own. */
START_TEST(silent_peer_is_forgotten)
{
	struct fleet *f = fleet_new("a", STALE);
	struct fleet_report a = report("a", 3000), b = report("b", 7000);
	struct fleet_view v;

	demand(&a, 1, 8000);
	demand(&b, 9, 8000);
	fleet_heard(f, &b, T0);
	ck_assert_double_eq_tol(fleet_share(f, &a, T0 + STALE, &v), 8000,
	    1e-6);
	ck_assert_uint_eq(v.peers, 1);
	ck_assert_double_eq(fleet_share(f, &a, T0 + STALE + 1, &v), 3000);
	ck_assert_uint_eq(v.peers, 0);
	ck_assert_int_eq(v.over, -1);
	/* Heard again: back in. */
	fleet_heard(f, &b, T0 + STALE + 2);
	ck_assert_double_eq_tol(fleet_share(f, &a, T0 + STALE + 2, &v),
	    8000, 1e-6);
	fleet_free(f);
}
END_TEST

/* A later report replaces the earlier one; it is not added to it. */
START_TEST(later_report_replaces)
{
	struct fleet *f = fleet_new("a", STALE);
	struct fleet_report a = report("a", 1000), b = report("b", 1000);
	struct fleet_view v;

	demand(&a, 0, 500);
	demand(&b, 4, 5000);
	fleet_heard(f, &b, T0);
	b.capacity = 2000;
	fleet_heard(f, &b, T0 + IV);
	fleet_share(f, &a, T0 + IV, &v);
	ck_assert_uint_eq(v.peers, 1);
	ck_assert_double_eq(v.capacity, 3000);
	ck_assert_double_eq(v.demand, 5500);
	fleet_free(f);
}
END_TEST

/* One unlimited instance: the fleet does not decide, C stays local. */
START_TEST(unlimited_peer_leaves_it_local)
{
	struct fleet *f = fleet_new("a", STALE);
	struct fleet_report a = report("a", 2500), b = report("b", INFINITY);
	struct fleet_view v;

	demand(&a, 3, 9000);
	demand(&b, 3, 100);
	fleet_heard(f, &b, T0);
	ck_assert_double_eq(fleet_share(f, &a, T0, &v), 2500);
	ck_assert_int_eq(v.over, -1);
	ck_assert(isinf(v.capacity));
	fleet_free(f);
}
END_TEST

/* Stale or inconsistent views never cut this instance's priority 0. */
START_TEST(never_below_own_priority_zero)
{
	struct fleet *f = fleet_new("a", STALE);
	struct fleet_report a = report("a", 100), b = report("b", 100);
	struct fleet_view v;

	demand(&a, 0, 3000);
	demand(&b, 0, 3000);
	fleet_heard(f, &b, T0);
	ck_assert_double_eq(fleet_share(f, &a, T0, &v), 3000);
	ck_assert_int_eq(v.margin, 0);
	fleet_free(f);
}
END_TEST

/* -- the wire form */

START_TEST(report_round_trip)
{
	struct fleet_report a = report("host-a \"1\"", 12345.5), b;
	char buf[FLEET_REPORT_MAX], err[128];
	size_t n;

	demand(&a, 0, 3000);
	demand(&a, 1, 0.25);
	demand(&a, 255, 1e9);
	n = fleet_encode(&a, buf, sizeof(buf));
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_int_eq(fleet_decode(buf, n, &b, err, sizeof(err)), 0);
	ck_assert_str_eq(b.id, a.id);
	ck_assert_double_eq(b.capacity, 12345.5);
	ck_assert_int_eq(b.nprio, 256);
	ck_assert_double_eq(b.demand[0], 3000);
	ck_assert_double_eq(b.demand[1], 0.25);
	ck_assert_double_eq(b.demand[2], 0);
	ck_assert_double_eq(b.demand[255], 1e9);

	a.capacity = INFINITY;
	a.nprio = 0;
	n = fleet_encode(&a, buf, sizeof(buf));
	ck_assert_str_eq(buf, "{\"id\":\"host-a \\\"1\\\"\",\"capacity\":null,"
	    "\"demand\":{}}");
	ck_assert_int_eq(fleet_decode(buf, n, &b, err, sizeof(err)), 0);
	ck_assert(isinf(b.capacity));
	ck_assert_int_eq(b.nprio, 0);
	/* Too small a buffer: nothing written. */
	ck_assert_uint_eq(fleet_encode(&a, buf, 16), 0);
}
END_TEST

START_TEST(bad_reports_are_refused)
{
	static const char *bad[] = {
		"",
		"[]",
		"{\"id\":\"a\",\"capacity\":1}",
		"{\"capacity\":1,\"demand\":{}}",
		"{\"id\":\"\",\"capacity\":1,\"demand\":{}}",
		"{\"id\":5,\"capacity\":1,\"demand\":{}}",
		"{\"id\":\"a\\u0000b\",\"capacity\":1,\"demand\":{}}",
		"{\"id\":\"a\",\"capacity\":-1,\"demand\":{}}",
		"{\"id\":\"a\",\"capacity\":\"1\",\"demand\":{}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":[]}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"256\":1}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"-1\":1}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"x\":1}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"1x\":1}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"1\":-5}}",
		"{\"id\":\"a\",\"capacity\":1,\"demand\":{\"1\":null}}",
		"{\"id\":\"a\",\"id\":\"b\",\"capacity\":1,\"demand\":{}}",
	};
	struct fleet_report r;
	char err[128], id[FLEET_ID_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(fleet_decode(bad[i], strlen(bad[i]), &r, err,
		    sizeof(err)) == -1, "accepted: %s", bad[i]);
		ck_assert_msg(err[0] != '\0', "no reason: %s", bad[i]);
	}
	snprintf(id, sizeof(id), "{\"id\":\"%0*d\",\"capacity\":1,"
	    "\"demand\":{}}", FLEET_ID_MAX + 1, 7);
	ck_assert_int_eq(fleet_decode(id, strlen(id), &r, err, sizeof(err)),
	    -1);
}
END_TEST

/* -- the loop: controllers, the fleet rule, one sink, a fake clock */

#define LOOP_MAX	4

struct inst {
	struct control	 ct;
	struct fleet	*f;
	struct fleet_report r;		/* demand; capacity filled each step */
	double		 share;
	uint64_t	 fwd, dem;	/* cumulative */
	double		 adm[FLEET_PRIOS];	/* admitted in the window */
	double		 asked[FLEET_PRIOS];
};

/*
 * n instances with the demands in r[] in front of a sink of k events/s,
 * for secs seconds; what each admitted by priority over the last window
 * seconds goes into adm[] beside what it asked (asked[]).  Each interval
 * every instance admits, priority 0 first, at most its share; the sink
 * takes k per second and rejects the rest, in proportion to what each
 * sent, and whoever was rejected sees pressure.  Reports travel with a
 * delay of one interval.
 */
static void
loop(struct inst *in, int n, double k, double secs, double window,
    int fleet, double *total)
{
	struct fleet_report sent[LOOP_MAX];
	struct control_params p = { .interval_ns = IV, .decrease = 0.7,
	    .increase = 0.05 };
	struct fleet_view v;
	uint64_t now = T0, end = T0 + (uint64_t)(secs * NS);
	uint64_t from = end - (uint64_t)(window * NS);
	double dt = (double)IV / NS, out[LOOP_MAX], sum, took, left, a;
	int i, j, pr, nsent = 0;

	*total = 0;
	for (i = 0; i < n; i++) {
		control_init(&in[i].ct, &p, now);
		in[i].f = fleet_new(in[i].r.id, STALE);
		in[i].share = INFINITY;
	}
	while (now < end) {
		now += IV;
		sum = 0;
		for (i = 0; i < n; i++) {
			left = in[i].share * dt;
			out[i] = 0;
			for (pr = 0; pr < in[i].r.nprio; pr++) {
				a = in[i].r.demand[pr] * dt;
				if (a > left)
					a = left;
				left -= a;
				out[i] += a;
				if (now > from) {
					in[i].adm[pr] += a;
					in[i].asked[pr] += in[i].r.demand[pr] *
					    dt;
				}
				in[i].dem += (uint64_t)(in[i].r.demand[pr] *
				    dt);
			}
			sum += out[i];
		}
		took = sum > k * dt ? k * dt / sum : 1;
		for (i = 0; i < n; i++) {
			in[i].fwd += (uint64_t)(out[i] * took);
			if (now > from)
				*total += out[i] * took;
			control_step(&in[i].ct, now, in[i].fwd, in[i].dem,
			    took < 1 && out[i] > 0, in[i].r.demand[0]);
			in[i].r.capacity = in[i].ct.capacity;
		}
		for (i = 0; i < n; i++) {
			if (fleet)
				for (j = 0; j < nsent; j++)
					fleet_heard(in[i].f, &sent[j], now);
			in[i].share = fleet_share(in[i].f, &in[i].r, now, &v);
			in[i].ct.fleet_over = v.over;
		}
		for (i = 0; i < n; i++)
			sent[i] = in[i].r;
		nsent = n;
	}
	*total /= window;
	for (i = 0; i < n; i++)
		fleet_free(in[i].f);
}

static double
got(const struct inst *in, int prio)
{
	return in->asked[prio] > 0 ? in->adm[prio] / in->asked[prio] : 1;
}

START_TEST(loop_fleet_keeps_priority_order)
{
	struct inst in[2];
	double total;

	memset(in, 0, sizeof(in));
	in[0].r = report("a", 0);
	demand(&in[0].r, 0, 3000);
	demand(&in[0].r, 1, 5000);
	in[1].r = report("b", 0);
	demand(&in[1].r, 9, 20000);
	loop(in, 2, 10000, 60, 20, 1, &total);
	ck_assert_msg(got(&in[0], 0) >= 0.999, "p0 %.4f", got(&in[0], 0));
	ck_assert_msg(got(&in[0], 1) >= 0.95, "p1 %.4f", got(&in[0], 1));
	ck_assert_msg(fabs(total - 10000) <= 1000, "total %.0f", total);
}
END_TEST

/* Without the fleet, the same loop sheds A's priority 1 (the issue). */
START_TEST(loop_alone_sheds_across_instances)
{
	struct inst in[2];
	double total;

	memset(in, 0, sizeof(in));
	in[0].r = report("a", 0);
	demand(&in[0].r, 0, 3000);
	demand(&in[0].r, 1, 5000);
	in[1].r = report("b", 0);
	demand(&in[1].r, 9, 20000);
	loop(in, 2, 10000, 60, 20, 0, &total);
	ck_assert_msg(got(&in[0], 0) >= 0.999, "p0 %.4f", got(&in[0], 0));
	ck_assert_msg(got(&in[0], 1) < 0.9, "p1 %.4f", got(&in[0], 1));
}
END_TEST

START_TEST(loop_fleet_shares_one_priority_by_demand)
{
	struct inst in[2];
	double total, a, b;

	memset(in, 0, sizeof(in));
	in[0].r = report("a", 0);
	demand(&in[0].r, 4, 15000);
	in[1].r = report("b", 0);
	demand(&in[1].r, 4, 5000);
	loop(in, 2, 10000, 60, 20, 1, &total);
	a = in[0].adm[4];
	b = in[1].adm[4];
	ck_assert_msg(fabs(a / (a + b) - 0.75) <= 0.075, "a %.0f b %.0f",
	    a, b);
	ck_assert_msg(fabs(total - 10000) <= 1000, "total %.0f", total);
}
END_TEST

static Suite *
fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *tc = tcase_create("share");

	tcase_add_test(tc, alone_is_local);
	tcase_add_test(tc, lower_priority_elsewhere_yields);
	tcase_add_test(tc, one_priority_shares_by_demand);
	tcase_add_test(tc, spare_stays_with_its_owner);
	tcase_add_test(tc, shares_add_up_to_the_fleet_capacity);
	tcase_add_test(tc, silent_peer_is_forgotten);
	tcase_add_test(tc, later_report_replaces);
	tcase_add_test(tc, unlimited_peer_leaves_it_local);
	tcase_add_test(tc, never_below_own_priority_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_test(tc, report_round_trip);
	tcase_add_test(tc, bad_reports_are_refused);
	suite_add_tcase(s, tc);

	tc = tcase_create("loop");
	tcase_add_test(tc, loop_fleet_keeps_priority_order);
	tcase_add_test(tc, loop_alone_sheds_across_instances);
	tcase_add_test(tc, loop_fleet_shares_one_priority_by_demand);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(fleet_suite());
}
