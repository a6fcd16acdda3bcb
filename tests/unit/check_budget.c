/*
 * Unit tests for budget: the process-wide memory budget, its parts, the
 * room it leaves (all of it, and for the firm parts), the claims that
 * make queued events give way through the reclaim function, and the
 * peak.
 *
 * The budget is process-wide state.  Every test starts from the state
 * the fixture leaves (unlimited, no reclaim function, nothing counted)
 * and gives back whatever it took, so the suite holds in check's forked
 * mode (the default) and with CK_FORK=no alike.  The peak cannot be
 * reset: the tests of it work above the peak they find on entry.
 *
 * The fake queue stands for the shaper's: a list of queued costs that
 * the reclaim function evicts, the newest first, giving each one back
 * to BUDGET_QUEUED as shaper_reclaim() does.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "budget.h"
#include "check_common.h"

#define FAKEQ_MAX	16

struct fakeq {
	size_t		 cost[FAKEQ_MAX];	/* queued, oldest first */
	size_t		 n;
	size_t		 calls;		/* of the reclaim function */
	size_t		 asked;		/* over, at the last call */
	size_t		 freed;		/* given back, all calls */
	size_t		 used_then;	/* budget_used() at the last call */
	size_t		 part_then;	/* the claiming part's, then */
	enum budget_part part;		/* which part claims */
};

static void
fakeq_push(struct fakeq *q, size_t cost)
{
	ck_assert_uint_lt(q->n, FAKEQ_MAX);
	q->cost[q->n++] = cost;
	budget_take(BUDGET_QUEUED, cost);
}

/* Drop what is still queued, as the queue's owner does on shutdown. */
static void
fakeq_clear(struct fakeq *q)
{
	while (q->n > 0)
		budget_give(BUDGET_QUEUED, q->cost[--q->n]);
}

/* The reclaim function: evict the newest until over bytes are free. */
static void
fakeq_reclaim(void *arg, size_t over)
{
	struct fakeq *q = arg;
	size_t freed = 0;

	q->calls++;
	q->asked = over;
	q->used_then = budget_used();
	q->part_then = budget_part_used(q->part);
	while (freed < over && q->n > 0) {
		freed += q->cost[--q->n];
		budget_give(BUDGET_QUEUED, q->cost[q->n]);
	}
	q->freed += freed;
}

static void
fakeq_init(struct fakeq *q, enum budget_part part)
{
	memset(q, 0, sizeof(*q));
	q->part = part;
	budget_set_reclaim(fakeq_reclaim, q);
}

static void
nothing_counted(void)
{
	enum budget_part p;

	for (p = 0; p < BUDGET_PARTS; p++)
		ck_assert_msg(budget_part_used(p) == 0, "part %s holds %zu",
		    budget_part_name(p), budget_part_used(p));
	ck_assert_uint_eq(budget_used(), 0);
}

/* Unlimited, nobody to reclaim, nothing counted. */
static void
setup(void)
{
	budget_set_limit(0);
	budget_set_reclaim(NULL, NULL);
	nothing_counted();
}

static void
teardown(void)
{
	budget_set_limit(0);
	budget_set_reclaim(NULL, NULL);
}

/* The limit reads back as set; 0 is unlimited: room everywhere. */
START_TEST(limit_zero_is_unlimited)
{
	ck_assert_uint_eq(budget_limit(), 0);
	ck_assert_uint_eq(budget_room(), SIZE_MAX);
	ck_assert_uint_eq(budget_firm_room(), SIZE_MAX);
	ck_assert_uint_eq(budget_over(), 0);

	budget_take(BUDGET_EVENTS, SIZE_MAX / 4);
	budget_take(BUDGET_QUEUED, SIZE_MAX / 4);
	ck_assert_uint_eq(budget_room(), SIZE_MAX);
	ck_assert_uint_eq(budget_firm_room(), SIZE_MAX);
	ck_assert_uint_eq(budget_over(), 0);

	budget_set_limit(12345);
	ck_assert_uint_eq(budget_limit(), 12345);
	ck_assert_uint_eq(budget_room(), 0);
	ck_assert_uint_eq(budget_over(), 2 * (SIZE_MAX / 4) - 12345);
	budget_set_limit(0);
	ck_assert_uint_eq(budget_limit(), 0);
	ck_assert_uint_eq(budget_over(), 0);

	budget_give(BUDGET_EVENTS, SIZE_MAX / 4);
	budget_give(BUDGET_QUEUED, SIZE_MAX / 4);
	nothing_counted();
}
END_TEST

/* Each part is counted apart; budget_used() is their sum. */
START_TEST(parts_counted_apart)
{
	budget_take(BUDGET_QUEUED, 1);
	budget_take(BUDGET_EVENTS, 20);
	budget_take(BUDGET_REQUESTS, 300);
	budget_take(BUDGET_BATCHES, 4000);
	ck_assert_uint_eq(budget_part_used(BUDGET_QUEUED), 1);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 20);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 300);
	ck_assert_uint_eq(budget_part_used(BUDGET_BATCHES), 4000);
	ck_assert_uint_eq(budget_used(), 4321);

	/* Again: takes add up, gives take away from their part only. */
	budget_take(BUDGET_REQUESTS, 300);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 600);
	ck_assert_uint_eq(budget_used(), 4621);
	budget_give(BUDGET_BATCHES, 1000);
	ck_assert_uint_eq(budget_part_used(BUDGET_BATCHES), 3000);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 600);
	ck_assert_uint_eq(budget_used(), 3621);
	budget_take(BUDGET_EVENTS, 0);
	budget_give(BUDGET_EVENTS, 0);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 20);
	ck_assert_uint_eq(budget_used(), 3621);

	budget_give(BUDGET_QUEUED, 1);
	budget_give(BUDGET_EVENTS, 20);
	budget_give(BUDGET_REQUESTS, 600);
	budget_give(BUDGET_BATCHES, 3000);
	nothing_counted();
}
END_TEST

/*
 * A move takes bytes from one part to another: the total, the room and
 * the peak stay, the firm room follows the queued part.
 */
START_TEST(move_keeps_the_total)
{
	size_t peak;

	budget_set_limit(1000);
	budget_take(BUDGET_EVENTS, 300);
	peak = budget_peak();
	budget_move(BUDGET_EVENTS, BUDGET_QUEUED, 200);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 100);
	ck_assert_uint_eq(budget_part_used(BUDGET_QUEUED), 200);
	ck_assert_uint_eq(budget_used(), 300);
	ck_assert_uint_eq(budget_room(), 700);
	ck_assert_uint_eq(budget_firm_room(), 900);
	ck_assert_uint_eq(budget_peak(), peak);

	budget_move(BUDGET_QUEUED, BUDGET_EVENTS, 50);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 150);
	ck_assert_uint_eq(budget_part_used(BUDGET_QUEUED), 150);
	ck_assert_uint_eq(budget_used(), 300);
	ck_assert_uint_eq(budget_firm_room(), 850);

	budget_move(BUDGET_EVENTS, BUDGET_BATCHES, 150);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 0);
	ck_assert_uint_eq(budget_part_used(BUDGET_BATCHES), 150);
	ck_assert_uint_eq(budget_used(), 300);
	ck_assert_uint_eq(budget_peak(), peak);

	budget_give(BUDGET_QUEUED, 150);
	budget_give(BUDGET_BATCHES, 150);
	nothing_counted();
}
END_TEST

/* Room is the limit less everything counted; over is what lies past it. */
START_TEST(room_and_over)
{
	budget_set_limit(100);
	ck_assert_uint_eq(budget_room(), 100);
	ck_assert_uint_eq(budget_over(), 0);
	budget_take(BUDGET_REQUESTS, 60);
	ck_assert_uint_eq(budget_room(), 40);
	ck_assert_uint_eq(budget_over(), 0);
	budget_take(BUDGET_QUEUED, 39);
	ck_assert_uint_eq(budget_room(), 1);
	budget_take(BUDGET_BATCHES, 1);		/* exactly spent */
	ck_assert_uint_eq(budget_room(), 0);
	ck_assert_uint_eq(budget_over(), 0);
	budget_take(BUDGET_EVENTS, 1);
	ck_assert_uint_eq(budget_room(), 0);
	ck_assert_uint_eq(budget_over(), 1);

	/* A lower limit: more over, at once. */
	budget_set_limit(50);
	ck_assert_uint_eq(budget_over(), 51);
	ck_assert_uint_eq(budget_room(), 0);
	budget_set_limit(100);

	budget_give(BUDGET_EVENTS, 1);
	ck_assert_uint_eq(budget_over(), 0);
	ck_assert_uint_eq(budget_room(), 0);
	budget_give(BUDGET_REQUESTS, 60);
	ck_assert_uint_eq(budget_room(), 60);
	budget_give(BUDGET_QUEUED, 39);
	budget_give(BUDGET_BATCHES, 1);
	ck_assert_uint_eq(budget_room(), 100);
	nothing_counted();
}
END_TEST

/*
 * What is accepted is never refused: budget_take() counts however far
 * over the budget it goes, and asks nobody to make room.
 */
START_TEST(take_always_counts)
{
	struct fakeq q;

	budget_set_limit(10);
	fakeq_init(&q, BUDGET_EVENTS);
	fakeq_push(&q, 5);
	budget_take(BUDGET_EVENTS, 1000);
	ck_assert_uint_eq(budget_part_used(BUDGET_EVENTS), 1000);
	ck_assert_uint_eq(budget_used(), 1005);
	ck_assert_uint_eq(budget_over(), 995);
	ck_assert_uint_eq(q.calls, 0);
	ck_assert_uint_eq(q.n, 1);
	budget_give(BUDGET_EVENTS, 1000);
	fakeq_clear(&q);
	nothing_counted();
}
END_TEST

/*
 * The firm room leaves the queued events out: they would give way.
 * Every other part (events elsewhere, requests, batches) is firm.
 */
START_TEST(firm_room_leaves_queued_out)
{
	budget_set_limit(100);
	ck_assert_uint_eq(budget_firm_room(), 100);

	budget_take(BUDGET_QUEUED, 70);
	ck_assert_uint_eq(budget_room(), 30);
	ck_assert_uint_eq(budget_firm_room(), 100);

	budget_take(BUDGET_EVENTS, 20);
	ck_assert_uint_eq(budget_room(), 10);
	ck_assert_uint_eq(budget_firm_room(), 80);
	budget_take(BUDGET_REQUESTS, 30);
	ck_assert_uint_eq(budget_room(), 0);
	ck_assert_uint_eq(budget_firm_room(), 50);
	budget_take(BUDGET_BATCHES, 40);
	ck_assert_uint_eq(budget_firm_room(), 10);

	/* The firm parts alone exactly at the limit, then past it. */
	budget_take(BUDGET_BATCHES, 10);
	ck_assert_uint_eq(budget_firm_room(), 0);
	budget_take(BUDGET_REQUESTS, 25);
	ck_assert_uint_eq(budget_firm_room(), 0);
	ck_assert_uint_eq(budget_over(), 95);

	/* More queued than the whole budget changes nothing of it. */
	budget_give(BUDGET_REQUESTS, 25);
	budget_give(BUDGET_BATCHES, 50);
	budget_take(BUDGET_QUEUED, 500);
	ck_assert_uint_eq(budget_firm_room(), 50);
	ck_assert_uint_eq(budget_room(), 0);

	budget_give(BUDGET_QUEUED, 570);
	ck_assert_uint_eq(budget_firm_room(), 50);
	budget_give(BUDGET_EVENTS, 20);
	budget_give(BUDGET_REQUESTS, 30);
	ck_assert_uint_eq(budget_firm_room(), 100);
	nothing_counted();
}
END_TEST

/* A claim within the budget, to its last byte, asks nobody. */
START_TEST(claim_within_budget_reclaims_nothing)
{
	struct fakeq q;

	budget_set_limit(100);
	fakeq_init(&q, BUDGET_REQUESTS);
	fakeq_push(&q, 30);
	fakeq_push(&q, 30);
	budget_claim(BUDGET_REQUESTS, 25);
	ck_assert_uint_eq(q.calls, 0);
	budget_claim(BUDGET_REQUESTS, 15);	/* 100: spent, not over */
	ck_assert_uint_eq(q.calls, 0);
	ck_assert_uint_eq(q.n, 2);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 40);
	ck_assert_uint_eq(budget_used(), 100);
	ck_assert_uint_eq(budget_over(), 0);
	budget_give(BUDGET_REQUESTS, 40);
	fakeq_clear(&q);
	nothing_counted();
}
END_TEST

/*
 * A claim past the budget calls the reclaim function once, with its
 * argument and the bytes it would be over; what that gives back is
 * counted off the queued part, and the claim is counted in full.
 */
START_TEST(claim_over_budget_reclaims_the_excess)
{
	struct fakeq q;

	budget_set_limit(100);
	fakeq_init(&q, BUDGET_REQUESTS);
	fakeq_push(&q, 20);
	fakeq_push(&q, 20);
	fakeq_push(&q, 20);
	fakeq_push(&q, 20);			/* 80 queued */
	budget_claim(BUDGET_REQUESTS, 50);	/* 130: 30 over */
	ck_assert_uint_eq(q.calls, 1);
	ck_assert_uint_eq(q.asked, 30);
	ck_assert_uint_eq(q.freed, 40);		/* two events of 20 */
	ck_assert_uint_eq(q.n, 2);
	ck_assert_uint_eq(budget_part_used(BUDGET_QUEUED), 40);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 50);
	ck_assert_uint_eq(budget_used(), 90);
	ck_assert_uint_eq(budget_over(), 0);
	ck_assert_uint_eq(budget_room(), 10);

	/* Another claim: one byte over, one more event goes. */
	budget_claim(BUDGET_BATCHES, 11);
	ck_assert_uint_eq(q.calls, 2);
	ck_assert_uint_eq(q.asked, 1);
	ck_assert_uint_eq(q.freed, 60);
	ck_assert_uint_eq(budget_part_used(BUDGET_BATCHES), 11);
	ck_assert_uint_eq(budget_used(), 81);

	budget_give(BUDGET_REQUESTS, 50);
	budget_give(BUDGET_BATCHES, 11);
	fakeq_clear(&q);
	nothing_counted();
}
END_TEST

/*
 * The excess asked for is the whole overrun after the claim, what was
 * over before it (firm parts in flight) included; when the queue has
 * too little the claim still counts and the budget stays overrun.
 */
START_TEST(claim_asks_for_the_whole_overrun)
{
	struct fakeq q;

	budget_set_limit(100);
	fakeq_init(&q, BUDGET_REQUESTS);
	budget_take(BUDGET_EVENTS, 150);	/* in flight: 50 over */
	fakeq_push(&q, 10);
	budget_claim(BUDGET_REQUESTS, 5);
	ck_assert_uint_eq(q.calls, 1);
	ck_assert_uint_eq(q.asked, 65);
	ck_assert_uint_eq(q.freed, 10);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 5);
	ck_assert_uint_eq(budget_used(), 155);
	ck_assert_uint_eq(budget_over(), 55);

	/* Nothing queued: asked again, frees nothing, still counted. */
	budget_claim(BUDGET_REQUESTS, 5);
	ck_assert_uint_eq(q.calls, 2);
	ck_assert_uint_eq(q.asked, 60);
	ck_assert_uint_eq(q.freed, 10);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), 10);
	ck_assert_uint_eq(budget_over(), 60);

	budget_give(BUDGET_REQUESTS, 10);
	budget_give(BUDGET_EVENTS, 150);
	nothing_counted();
}
END_TEST

/*
 * The reclaim function makes room before the claim is counted (budget.c:
 * "so that the peak never counts what gives way"): when it is called
 * the claim is not yet in, and the peak is the limit, not the limit
 * plus the queued events that were evicted.
 */
START_TEST(claim_peak_never_counts_what_gives_way)
{
	struct fakeq q;
	size_t base = budget_peak(), lim = base + 100;

	budget_set_limit(lim);
	fakeq_init(&q, BUDGET_REQUESTS);
	fakeq_push(&q, base + 50);
	fakeq_push(&q, 40);
	ck_assert_uint_eq(budget_peak(), base + 90);
	budget_claim(BUDGET_REQUESTS, 50);
	ck_assert_uint_eq(q.calls, 1);
	ck_assert_uint_eq(q.asked, 40);
	ck_assert_uint_eq(q.used_then, base + 90);
	ck_assert_uint_eq(q.part_then, 0);
	ck_assert_uint_eq(budget_used(), lim);
	ck_assert_uint_eq(budget_peak(), lim);

	budget_give(BUDGET_REQUESTS, 50);
	fakeq_clear(&q);
	nothing_counted();
}
END_TEST

/* Without a limit a claim reclaims nothing, however large. */
START_TEST(claim_unlimited_reclaims_nothing)
{
	struct fakeq q;

	fakeq_init(&q, BUDGET_REQUESTS);
	fakeq_push(&q, 1000);
	budget_claim(BUDGET_REQUESTS, SIZE_MAX / 4);
	ck_assert_uint_eq(q.calls, 0);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_uint_eq(budget_part_used(BUDGET_REQUESTS), SIZE_MAX / 4);
	budget_give(BUDGET_REQUESTS, SIZE_MAX / 4);
	fakeq_clear(&q);
	nothing_counted();
}
END_TEST

/*
 * With no reclaim function (never set, or unset with NULL as the
 * shaper does when it is freed) a claim over the budget just counts.
 */
START_TEST(claim_without_reclaim_just_counts)
{
	struct fakeq q;

	budget_set_limit(100);
	budget_take(BUDGET_QUEUED, 90);
	budget_claim(BUDGET_REQUESTS, 50);
	ck_assert_uint_eq(budget_used(), 140);
	ck_assert_uint_eq(budget_over(), 40);
	budget_give(BUDGET_REQUESTS, 50);
	budget_give(BUDGET_QUEUED, 90);

	fakeq_init(&q, BUDGET_REQUESTS);
	fakeq_push(&q, 90);
	budget_set_reclaim(NULL, NULL);
	budget_claim(BUDGET_REQUESTS, 50);
	ck_assert_uint_eq(q.calls, 0);
	ck_assert_uint_eq(q.n, 1);
	ck_assert_uint_eq(budget_over(), 40);

	/* Set again, the next claim over the budget reaches it. */
	budget_set_reclaim(fakeq_reclaim, &q);
	budget_claim(BUDGET_REQUESTS, 1);
	ck_assert_uint_eq(q.calls, 1);
	ck_assert_uint_eq(q.asked, 41);
	ck_assert_uint_eq(q.n, 0);
	ck_assert_uint_eq(budget_used(), 51);

	budget_give(BUDGET_REQUESTS, 51);
	nothing_counted();
}
END_TEST

/*
 * The peak is the most ever counted, all parts together: it rises with
 * the total, never falls, and moves between parts leave it.
 */
START_TEST(peak_is_the_most_ever_counted)
{
	size_t base = budget_peak();

	budget_take(BUDGET_EVENTS, base + 10);
	ck_assert_uint_eq(budget_peak(), base + 10);
	budget_take(BUDGET_REQUESTS, 5);
	budget_take(BUDGET_BATCHES, 5);
	ck_assert_uint_eq(budget_peak(), base + 20);
	budget_give(BUDGET_EVENTS, base + 10);
	ck_assert_uint_eq(budget_used(), 10);
	ck_assert_uint_eq(budget_peak(), base + 20);
	budget_move(BUDGET_REQUESTS, BUDGET_QUEUED, 5);
	ck_assert_uint_eq(budget_peak(), base + 20);
	budget_take(BUDGET_QUEUED, base + 9);	/* base + 19: below */
	ck_assert_uint_eq(budget_peak(), base + 20);
	budget_take(BUDGET_QUEUED, 2);		/* base + 21 */
	ck_assert_uint_eq(budget_peak(), base + 21);

	/* The limit has no say in it. */
	budget_set_limit(1);
	ck_assert_uint_eq(budget_peak(), base + 21);

	budget_give(BUDGET_QUEUED, base + 16);
	budget_give(BUDGET_BATCHES, 5);
	nothing_counted();
	ck_assert_uint_eq(budget_peak(), base + 21);
}
END_TEST

/* The names /metrics and /stats use, one per part. */
START_TEST(part_names)
{
	enum budget_part p, o;
	const char *bad;

	ck_assert_str_eq(budget_part_name(BUDGET_QUEUED), "queued");
	ck_assert_str_eq(budget_part_name(BUDGET_EVENTS), "events");
	ck_assert_str_eq(budget_part_name(BUDGET_REQUESTS), "requests");
	ck_assert_str_eq(budget_part_name(BUDGET_BATCHES), "batches");
	for (p = 0; p < BUDGET_PARTS; p++)
		for (o = p + 1; o < BUDGET_PARTS; o++)
			ck_assert_str_ne(budget_part_name(p),
			    budget_part_name(o));
	/* Past the parts: a name still, none of theirs. */
	bad = budget_part_name(BUDGET_PARTS);
	ck_assert_ptr_nonnull(bad);
	for (p = 0; p < BUDGET_PARTS; p++)
		ck_assert_str_ne(bad, budget_part_name(p));
}
END_TEST

#define THREAD_TAKES	200000

static void *
taker(void *arg)
{
	enum budget_part part = *(enum budget_part *)arg;
	int i;

	for (i = 0; i < THREAD_TAKES; i++)
		budget_take(part, 1);
	return NULL;
}

static void *
giver(void *arg)
{
	enum budget_part part = *(enum budget_part *)arg;
	int i;

	for (i = 0; i < THREAD_TAKES; i++)
		budget_give(part, 1);
	return NULL;
}

/*
 * The counters may be updated from any thread: threads taking a byte at
 * a time lose none, of a part, the total or the peak (which only rises
 * while they take, so it ends exactly at the total), two on one part
 * included, and giving them back from two threads leaves nothing.
 */
START_TEST(threads_lose_no_update)
{
	enum budget_part part = BUDGET_EVENTS, other = BUDGET_BATCHES;
	size_t base = budget_peak(), n = THREAD_TAKES;
	pthread_t t1, t2;

	/* Start at the peak, so that the threads push it up themselves. */
	budget_take(BUDGET_REQUESTS, base);
	ck_assert_int_eq(pthread_create(&t1, NULL, taker, &part), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, taker, &other), 0);
	ck_assert_int_eq(pthread_join(t1, NULL), 0);
	ck_assert_int_eq(pthread_join(t2, NULL), 0);
	ck_assert_uint_eq(budget_part_used(part), n);
	ck_assert_uint_eq(budget_part_used(other), n);
	ck_assert_uint_eq(budget_used(), base + 2 * n);
	ck_assert_uint_eq(budget_peak(), base + 2 * n);

	/* Both threads on one part. */
	ck_assert_int_eq(pthread_create(&t1, NULL, taker, &other), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, taker, &other), 0);
	ck_assert_int_eq(pthread_join(t1, NULL), 0);
	ck_assert_int_eq(pthread_join(t2, NULL), 0);
	ck_assert_uint_eq(budget_part_used(other), 3 * n);
	ck_assert_uint_eq(budget_used(), base + 4 * n);
	ck_assert_uint_eq(budget_peak(), base + 4 * n);

	ck_assert_int_eq(pthread_create(&t1, NULL, giver, &other), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, giver, &other), 0);
	ck_assert_int_eq(pthread_join(t1, NULL), 0);
	ck_assert_int_eq(pthread_join(t2, NULL), 0);
	ck_assert_uint_eq(budget_part_used(other), n);
	ck_assert_uint_eq(budget_used(), base + 2 * n);
	ck_assert_int_eq(pthread_create(&t1, NULL, giver, &part), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, giver, &other), 0);
	ck_assert_int_eq(pthread_join(t1, NULL), 0);
	ck_assert_int_eq(pthread_join(t2, NULL), 0);
	budget_give(BUDGET_REQUESTS, base);
	nothing_counted();
	ck_assert_uint_eq(budget_peak(), base + 4 * n);
}
END_TEST

static Suite *
budget_suite(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("budget");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, limit_zero_is_unlimited);
	tcase_add_test(tc, parts_counted_apart);
	tcase_add_test(tc, move_keeps_the_total);
	tcase_add_test(tc, room_and_over);
	tcase_add_test(tc, take_always_counts);
	tcase_add_test(tc, firm_room_leaves_queued_out);
	tcase_add_test(tc, claim_within_budget_reclaims_nothing);
	tcase_add_test(tc, claim_over_budget_reclaims_the_excess);
	tcase_add_test(tc, claim_asks_for_the_whole_overrun);
	tcase_add_test(tc, claim_peak_never_counts_what_gives_way);
	tcase_add_test(tc, claim_unlimited_reclaims_nothing);
	tcase_add_test(tc, claim_without_reclaim_just_counts);
	tcase_add_test(tc, peak_is_the_most_ever_counted);
	tcase_add_test(tc, part_names);
	tcase_add_test(tc, threads_lose_no_update);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(budget_suite());
}
