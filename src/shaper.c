/*
 * shaper: admission, the bounded queue and drop accounting.
 *
 * Every event that shaper_offer() sees is counted as received under
 * exactly one class and then ends in exactly one of: queued (and later
 * inflight, then forwarded or dropped by the sink's outcome) or dropped
 * under a reason.  That keeps, per class, at all times:
 *   received = forwarded + dropped + queued + inflight.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spillway/clock.h>
#include <spillway/hist.h>

#include "arena.h"
#include "batch.h"
#include "budget.h"
#include "classify.h"
#include "config.h"
#include "fleet.h"
#include "keytab.h"
#include "log.h"
#include "override.h"
#include "shadow.h"
#include "shaper_int.h"
#include "sink.h"
#include "tap.h"

#define DIVERT_QUEUE_MAX	10000	/* events waiting for the divert sink */

const double shaper_lag_bounds[SHAPER_LAG_BUCKETS] = {
	0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3,
	0.4, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300
};

static void	shaper_pump(struct shaper *);
static struct record *queue_first(const struct queue *);
static void	queue_unlink(struct queue *, struct record *);
static void	shaper_reclaim(void *, size_t);

static void
shaper_schedule(struct shaper *sh)
{
	event_active(sh->pump_ev, EV_WRITE, 0);
}

static void
shaper_pumpcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shaper_pump(arg);
}

struct sclass *
shaper_class(const struct shaper *sh, const char *name)
{
	size_t i;

	for (i = 0; i < sh->nclasses; i++)
		if (strcmp(sh->classes[i]->name, name) == 0)
			return sh->classes[i];
	return NULL;
}

static struct sclass *
shaper_class_get(struct shaper *sh, const char *name)
{
	struct sclass *c;

	if ((c = shaper_class(sh, name)) != NULL)
		return c;
	if (sh->nclasses == sh->cap) {
		size_t ncap = sh->cap ? sh->cap * 2 : 16;
		struct sclass **n;

		if ((n = realloc(sh->classes, ncap * sizeof(*n))) == NULL)
			return NULL;
		sh->classes = n;
		if ((n = realloc(sh->byprio, ncap * sizeof(*n))) == NULL)
			return NULL;
		sh->byprio = n;
		sh->cap = ncap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->alloc = INFINITY;
	sh->classes[sh->nclasses++] = c;
	return c;
}

static int
byprio_cmp(const void *a, const void *b)
{
	const struct sclass *x = *(struct sclass * const *)a;
	const struct sclass *y = *(struct sclass * const *)b;

	return (x->priority < y->priority) - (x->priority > y->priority);
}

/* The active classes, largest priority number (least important) first. */
static void
shaper_order(struct shaper *sh)
{
	size_t i;

	sh->nbyprio = 0;
	for (i = 0; i < sh->nclasses; i++)
		if (sh->classes[i]->active)
			sh->byprio[sh->nbyprio++] = sh->classes[i];
	qsort(sh->byprio, sh->nbyprio, sizeof(*sh->byprio), byprio_cmp);
}

/* The youngest age that expires something at priority p, in ns. */
static void
min_age_add(uint64_t *age, int p, long max_age_ms)
{
	uint64_t a = (uint64_t)max_age_ms * NSEC_PER_MSEC;

	if (a > 0 && (age[p] == 0 || a < age[p]))
		age[p] = a;
}

/*
 * The active classes' priorities as the rules and the overrides in force
 * set them.  Queued events keep theirs; the list a class moves to learns
 * its max_age_ms.
 */
static void
shaper_reprioritize(struct shaper *sh)
{
	struct sclass *c;
	size_t i;

	for (i = 0; i < sh->nclasses; i++) {
		c = sh->classes[i];
		if (!c->active || c->rule == NULL)
			continue;
		c->priority = overrides_priority(sh->ovs, c->name,
		    c->rule->priority);
		min_age_add(sh->min_age, c->priority, c->rule->max_age_ms);
	}
	shaper_order(sh);
}

/* An override ran out: say so. */
static void
override_expired(void *arg, const struct override *o)
{
	(void)arg;
	log_info("override %llu expired (%s%s%s)", (unsigned long long)o->id,
	    o->kind == OVERRIDE_SHED ? "shed" : o->class_name,
	    o->reason[0] != '\0' ? ": " : "", o->reason);
}

/*
 * Point the class registry at rules: find or create each class by name,
 * carry bucket fill and per-key state over where the configuration still
 * fits it.  Returns -1 (rules not bound) only when memory runs out.
 */
static int
shaper_bind(struct shaper *sh, struct ruleset *rs, uint64_t now)
{
	uint64_t age[RULES_PRIORITY_MAX + 1];
	struct sclass **map, *c;
	uint64_t *hits;
	size_t i;

	map = calloc(rs->nclasses, sizeof(*map));
	hits = calloc(rs->nclasses, sizeof(*hits));
	if (map == NULL || hits == NULL)
		goto fail;
	for (i = 0; i < rs->nclasses; i++)
		if ((map[i] = shaper_class_get(sh, rs->classes[i].name)) ==
		    NULL)
			goto fail;

	shaper_sync(sh);
	/*
	 * Expiry looks in each priority's list for the classes of that
	 * priority; a class that moves keeps its queued events where they
	 * are, so its old priority keeps its new age too (and a list that
	 * still holds events keeps what it had).
	 */
	for (i = 0; i <= RULES_PRIORITY_MAX; i++)
		age[i] = sh->q.prio_events[i] > 0 ? sh->min_age[i] : 0;
	for (i = 0; i < rs->nclasses; i++) {
		c = map[i];
		min_age_add(age, rs->classes[i].priority,
		    rs->classes[i].max_age_ms);
		if (c->queued > 0)
			min_age_add(age, c->priority,
			    rs->classes[i].max_age_ms);
	}
	for (i = 0; i < sh->nclasses; i++) {
		sh->classes[i]->active = sh->classes[i] == sh->internal;
		sh->classes[i]->rule = NULL;
	}
	for (i = 0; i < rs->nclasses; i++) {
		const struct rule_class *r = &rs->classes[i];

		c = map[i];
		/*
		 * A new class, or one that had no rate, starts full; one that
		 * had a rate keeps its fill, so a reload hands out no burst.
		 */
		if ((c->rule == NULL && c->bucket.last == 0 &&
		    c->received == 0) || c->bucket.rate <= 0)
			bucket_init(&c->bucket, r->rate, r->burst, now);
		else
			bucket_configure(&c->bucket, r->rate, r->burst, now);
		if (c->bucket.last == 0)
			c->bucket.last = now ? now : 1;
		c->rule = r;
		c->active = 1;
		c->priority = overrides_priority(sh->ovs, c->name,
		    r->priority);
		if (!r->has_key || r->key_rate <= 0) {
			keytab_free(c->keys);
			c->keys = NULL;
		} else if (c->keys == NULL || c->key_rate != r->key_rate ||
		    c->key_burst != r->key_burst ||
		    c->max_keys != r->max_keys) {
			keytab_free(c->keys);
			if ((c->keys = keytab_new(r->max_keys)) == NULL)
				log_err("class %s: no memory for key buckets",
				    c->name);
			c->key_rate = r->key_rate;
			c->key_burst = r->key_burst;
			c->max_keys = r->max_keys;
		}
	}
	free(sh->map);
	free(sh->limit_hits);
	sh->map = map;
	sh->limit_hits = hits;
	shaper_order(sh);
	memcpy(sh->min_age, age, sizeof(sh->min_age));
	return 0;
fail:
	free(map);
	free(hits);
	return -1;
}

struct shaper *
shaper_new(struct event_base *base, const struct config *cf,
    struct ruleset *rules, uint64_t now)
{
	struct shaper *sh;
	size_t i;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	arena_install();
	sh->base = base;
	sh->cf = cf;
	sh->clock = clock_now_ns;
	sh->capacity = INFINITY;
	{
		struct control_params cp = {
			.interval_ns = (uint64_t)cf->control_interval_ms *
			    NSEC_PER_MSEC,
			.decrease = cf->control_decrease,
			.increase = cf->control_increase,
		};

		control_init(&sh->ctl, &cp, now);
	}
	sh->summary_at = now;
	sh->refused_now = SHAPER_NONE_REFUSED;
	for (i = 0; i <= RULES_PRIORITY_MAX; i++)
		TAILQ_INIT(&sh->q.prio[i]);
	sh->q.max_events = (size_t)cf->queue_max_events;
	sh->q.max_bytes = (size_t)cf->queue_max_bytes;
	budget_set_limit(sh->q.max_bytes);
	budget_set_reclaim(shaper_reclaim, sh);
	TAILQ_INIT(&sh->divq);
	sh->snap_at = now;
	if ((sh->ovs = overrides_new()) == NULL ||
	    (sh->internal = shaper_class_get(sh, RULES_INTERNAL_NAME)) == NULL ||
	    (sh->pump_ev = event_new(base, -1, 0, shaper_pumpcb, sh)) == NULL ||
	    shaper_bind(sh, rules, now) == -1) {
		shaper_free(sh);
		return NULL;
	}
	sh->rules = rules;
	sh->revision = 1;
	return sh;
}

void
shaper_free(struct shaper *sh)
{
	struct record *rec;
	size_t i;

	if (sh == NULL)
		return;
	free(sh->fleet_view);
	overrides_free(sh->ovs);
	budget_set_reclaim(NULL, NULL);
	while ((rec = queue_first(&sh->q)) != NULL) {
		queue_unlink(&sh->q, rec);
		record_free(rec);
	}
	while ((rec = TAILQ_FIRST(&sh->divq)) != NULL) {
		TAILQ_REMOVE(&sh->divq, rec, link);
		record_free(rec);
	}
	for (i = 0; i < sh->nclasses; i++) {
		keytab_free(sh->classes[i]->keys);
		free(sh->classes[i]);
	}
	free(sh->classes);
	free(sh->byprio);
	free(sh->map);
	free(sh->limit_hits);
	if (sh->pump_ev != NULL)
		event_free(sh->pump_ev);
	rules_free(sh->rules);
	free(sh);
	arena_shutdown();
}

void
shaper_swap_rules(struct shaper *sh, struct ruleset *rules, uint64_t now)
{
	if (shaper_bind(sh, rules, now) == -1) {
		log_err("rules: no memory to put revision %llu in force",
		    (unsigned long long)sh->revision + 1);
		rules_free(rules);
		return;
	}
	rules_free(sh->rules);
	sh->rules = rules;
	sh->revision++;
}

void
shaper_sync(struct shaper *sh)
{
	size_t i;

	if (sh->rules == NULL)
		return;
	for (i = 0; i < sh->rules->nclasses; i++) {
		sh->map[i]->regex_limit += sh->limit_hits[i];
		sh->limit_hits[i] = 0;
	}
}

/* Queue: unlink a record, keeping the per-priority totals. */
static void
queue_unlink(struct queue *q, struct record *rec)
{
	rec->queued = 0;
	if (q->finger == rec)
		q->finger = NULL;
	TAILQ_REMOVE(&q->prio[rec->priority], rec, plink);
	q->events--;
	q->bytes -= rec->len;
	q->cost -= rec->cost;
	budget_move(BUDGET_QUEUED, BUDGET_EVENTS, rec->cost);
	if (--q->prio_events[rec->priority] == 0)
		q->nonempty[rec->priority / 64] &=
		    ~(1ULL << (rec->priority % 64));
	q->prio_cost[rec->priority] -= rec->cost;
	rec->cls->queued--;
}

enum queue_at {
	QUEUE_TAIL,		/* a new arrival */
	QUEUE_HEAD,		/* taken from the head a moment ago */
	QUEUE_ORDER		/* back from the sink: where its seq says */
};

/*
 * Where rec, back from the sink, goes in its priority's list: before the
 * first event admitted after it.  A sink hands a batch back last first,
 * so the walk starts from where the one before went (the finger) and
 * goes towards the head; otherwise from the head, past the few events
 * older than it that are queued.  NULL: at the tail.
 */
static struct record *
queue_place(struct queue *q, struct record *rec)
{
	struct record *at = q->finger, *prev;

	if (at == NULL || at->priority != rec->priority || at->seq < rec->seq) {
		at = TAILQ_FIRST(&q->prio[rec->priority]);
		while (at != NULL && at->seq < rec->seq)
			at = TAILQ_NEXT(at, plink);
		return at;
	}
	while ((prev = TAILQ_PREV(at, record_list, plink)) != NULL &&
	    prev->seq > rec->seq)
		at = prev;
	return at;
}

static void
queue_link(struct queue *q, struct record *rec, enum queue_at where)
{
	struct record *at;

	if (!rec->admitted)
		rec->seq = q->next_seq++;
	switch (where) {
	case QUEUE_TAIL:
		TAILQ_INSERT_TAIL(&q->prio[rec->priority], rec, plink);
		break;
	case QUEUE_HEAD:
		TAILQ_INSERT_HEAD(&q->prio[rec->priority], rec, plink);
		break;
	case QUEUE_ORDER:
		if ((at = queue_place(q, rec)) != NULL)
			TAILQ_INSERT_BEFORE(at, rec, plink);
		else
			TAILQ_INSERT_TAIL(&q->prio[rec->priority], rec, plink);
		q->finger = rec;
		break;
	}
	rec->queued = 1;
	rec->admitted = 1;
	q->events++;
	q->bytes += rec->len;
	q->cost += rec->cost;
	budget_move(BUDGET_EVENTS, BUDGET_QUEUED, rec->cost);
	q->nonempty[rec->priority / 64] |= 1ULL << (rec->priority % 64);
	q->prio_events[rec->priority]++;
	q->prio_cost[rec->priority] += rec->cost;
	rec->cls->queued++;
}

/* The queued event to serve first: the oldest of the most important. */
static struct record *
queue_first(const struct queue *q)
{
	size_t w;

	for (w = 0; w < SHAPER_PRIO_WORDS; w++)
		if (q->nonempty[w] != 0)
			return TAILQ_FIRST(&q->prio[w * 64 +
			    (size_t)__builtin_ctzll(q->nonempty[w])]);
	return NULL;
}

/* Whether rec has waited longer than its class lets it. */
static int
record_stale(const struct record *rec, uint64_t now)
{
	const struct rule_class *r = rec->cls->rule;

	return r != NULL && r->max_age_ms > 0 && now > rec->t_in &&
	    now - rec->t_in > (uint64_t)r->max_age_ms * NSEC_PER_MSEC;
}

/* An event that was queued has its final outcome: count its lag. */
static void
shaper_lag(struct shaper *sh, struct record *rec)
{
	struct sclass *c = rec->cls;
	uint64_t now = sh->clock();
	double secs = now > rec->t_in ? (double)(now - rec->t_in) / 1e9 : 0;

	c->lag[hist_bucket(shaper_lag_bounds, SHAPER_LAG_BUCKETS, secs)]++;
	c->lag_count++;
	c->lag_sum += secs;
}

/*
 * Send a dropped event to the divert sink: a shed event when its class
 * asks for that, and every event the sink refused for good (the
 * dead-letter path).
 */
static int
shaper_divert(struct shaper *sh, struct record *rec, enum reason reason)
{
	const struct rule_class *r = rec->cls->rule;

	if (sh->divert == NULL)
		return 0;
	if (reason != REASON_SINK_REJECTED &&
	    (r == NULL || r->on_limit != ON_LIMIT_DIVERT))
		return 0;
	if (sh->divq_len >= DIVERT_QUEUE_MAX) {
		sh->divert_lost++;
		return 0;
	}
	TAILQ_INSERT_TAIL(&sh->divq, rec, link);
	sh->divq_len++;
	rec->cls->diverted++;
	shaper_schedule(sh);
	return 1;
}

/* What a drop reason means for the source that offered the event. */
static enum record_fate
reason_fate(enum reason reason)
{
	switch (reason) {
	case REASON_SINK_REJECTED:
		return RECORD_REJECTED;
	case REASON_SINK_ERROR:
	case REASON_UNACKNOWLEDGED:
	case REASON_SHUTDOWN:
		return RECORD_FAILED;
	default:
		return RECORD_SHED;
	}
}

/* Tell the tap an event's fate: forwarded when reason is REASON_MAX. */
static void
shaper_tap(struct shaper *sh, const struct sclass *c, enum reason reason,
    const char *line, size_t len, uint64_t now)
{
	if (tap_wants(sh->tap))
		tap_event(sh->tap, c->name, reason == REASON_MAX ?
		    TAP_FORWARDED : tap_outcome_of(reason), reason, line, len,
		    now);
}

/*
 * Count rec as dropped for reason, tell its source (with the sink's
 * answer ans, or NULL), then divert or free it.  An event whose sender
 * keeps it and sends it again is not lost when the sink fails or the
 * process stops: that is counted as unacknowledged.
 */
static void
shaper_drop(struct shaper *sh, struct record *rec, enum reason reason,
    const struct record_answer *ans)
{
	if (reason_fate(reason) == RECORD_FAILED && rec->ack != NULL &&
	    (rec->ack->flags & RECORD_ACK_RESENDS))
		reason = REASON_UNACKNOWLEDGED;
	rec->cls->dropped[reason]++;
	if (rec->admitted)
		shaper_lag(sh, rec);
	if (tap_wants(sh->tap))
		shaper_tap(sh, rec->cls, reason, rec->data, rec->len,
		    sh->clock());
	record_settle(rec, reason_fate(reason), reason, ans);
	if ((reason == REASON_RATE_LIMIT || reason == REASON_BACKPRESSURE ||
	    reason == REASON_QUEUE_FULL || reason == REASON_EXPIRED ||
	    reason == REASON_SINK_REJECTED) &&
	    shaper_divert(sh, rec, reason))
		return;
	record_free(rec);
}

/*
 * Evict the newest queued events of priorities above floor (larger
 * numbers), the least important first, until events of them and bytes of
 * their cost have left; each is dropped as queue_full under its class.
 * A victim may be diverted, not freed: what leaves the queue is counted.
 */
static void
queue_evict(struct shaper *sh, int floor, size_t events, size_t bytes)
{
	struct queue *q = &sh->q;
	struct record *victim;
	size_t n = 0, freed = 0;
	int p;

	for (p = RULES_PRIORITY_MAX; p > floor && (n < events ||
	    freed < bytes); ) {
		if ((victim = TAILQ_LAST(&q->prio[p], record_list)) == NULL) {
			p--;
			continue;
		}
		queue_unlink(q, victim);
		n++;
		freed += victim->cost;
		shaper_drop(sh, victim, REASON_QUEUE_FULL, NULL);
	}
}

/*
 * Make room for rec by evicting the newest queued events of strictly
 * lower priority (larger numbers, the largest first), then queue it
 * where says.  Room is in events (queue.max_events) and in the memory
 * budget (queue.max_bytes, budget.h), which rec is counted in already,
 * as is everything else that holds memory for clients: so the queue
 * gives way to requests being read and batches in flight.
 * Returns -1, evicting nothing, when even that would not make room.
 */
static int
queue_push(struct shaper *sh, struct record *rec, enum queue_at where)
{
	struct queue *q = &sh->q;
	size_t need_ev, need_by, lower_ev = 0, lower_by = 0;
	int p;

	need_by = budget_over();
	if (q->events + 1 <= q->max_events && need_by == 0) {
		queue_link(q, rec, where);
		return 0;
	}
	if (rec->cost > q->max_bytes)
		return -1;
	need_ev = q->events + 1 > q->max_events ?
	    q->events + 1 - q->max_events : 0;
	for (p = RULES_PRIORITY_MAX; p > rec->priority; p--) {
		lower_ev += q->prio_events[p];
		lower_by += q->prio_cost[p];
	}
	if (lower_ev < need_ev || lower_by < need_by)
		return -1;
	queue_evict(sh, rec->priority, need_ev, need_by);
	queue_link(q, rec, where);
	return 0;
}

/*
 * A new request claimed memory the queue holds: evict queued events, the
 * newest of the least important first, until over bytes are free.
 */
static void
shaper_reclaim(void *arg, size_t over)
{
	queue_evict(arg, -1, 0, over);
}

/* Take one token from a class's allocation; an empty one has none. */
static int
alloc_take(struct bucket *b, double rate, uint64_t now)
{
	return rate > 0 && bucket_take(b, 1, now);
}

/*
 * The controller's share for this class.  While the capacity is
 * unlimited every event that passed its buckets is admitted.  Otherwise
 * the class spends its own allocation, then capacity no class asked for,
 * then the allocation of a class of strictly lower priority, the least
 * important first, into debt if need be: so a class is refused only when
 * nothing less important could be admitted for a while either, even while
 * demand moves faster than the allocation follows it.
 */
static int
shaper_admit(struct shaper *sh, struct sclass *c, uint64_t now)
{
	struct sclass *o;
	size_t i;

	c->wanted++;
	if (isinf(sh->capacity))
		return 1;
	/*
	 * A more important class was refused this interval: nothing less
	 * important passes before the next allocation.
	 */
	if (c->priority > sh->refused_now)
		return 0;
	if (alloc_take(&c->abucket, c->alloc, now) ||
	    alloc_take(&sh->spare, sh->spare_rate, now))
		return 1;
	/*
	 * Priority 0 is never shed here: C never drops below its demand,
	 * and while that demand is still being measured it may overdraw.
	 * If the sink cannot take even priority 0, it waits in the queue.
	 */
	if (c->priority == 0)
		return 1;
	for (i = 0; i < sh->nbyprio; i++) {
		o = sh->byprio[i];
		if (o->priority <= c->priority)
			break;
		if (alloc_take(&o->abucket, o->alloc, now))
			return 1;
	}
	/*
	 * Nothing less important has a token now: take one from its future
	 * instead (down to a second's worth of debt), so that it is the
	 * less important class that waits for the next tokens.
	 */
	for (i = 0; i < sh->nbyprio; i++) {
		o = sh->byprio[i];
		if (o->priority <= c->priority)
			break;
		if (o->alloc > 0 && bucket_peek(&o->abucket, now) - 1 >=
		    -o->abucket.burst) {
			o->abucket.tokens -= 1;
			return 1;
		}
	}
	if (c->priority < sh->refused_now)
		sh->refused_now = c->priority;
	return 0;
}

const struct ruleset *
shaper_rules(const struct shaper *sh)
{
	return sh->rules;
}

enum shaper_verdict
shaper_offer(struct shaper *sh, const char *line, size_t len,
    const char *action, size_t action_len, enum record_source source,
    uint64_t now)
{
	return shaper_offer_acked(sh, line, len, action, action_len, source,
	    NULL, 0, NULL, now);
}

/* An event with no record of its own is final at once. */
static void
ack_now(const struct record_ack *ack, uint64_t token, enum reason reason)
{
	if (ack != NULL)
		ack->fn(ack->arg, token, RECORD_SHED, reason, NULL);
}

enum shaper_verdict
shaper_offer_acked(struct shaper *sh, const char *line, size_t len,
    const char *action, size_t action_len, enum record_source source,
    const struct record_ack *ack, uint64_t token, struct record **held,
    uint64_t now)
{
	struct classify_result cr;

	classify_event(sh->rules, line, len, &cr);
	return shaper_offer_classified(sh, line, len, action, action_len,
	    source, &cr, ack, token, held, now);
}

/* rec (NULL accepted) with the parameters of the request in force. */
static struct record *
shaper_with_params(struct shaper *sh, struct record *rec)
{
	struct record *r;

	if (rec == NULL || sh->req.params == NULL)
		return rec;
	if ((r = record_set_params(rec, sh->req.params,
	    sh->req.params_len)) == NULL)
		record_free(rec);
	return r;
}

_Static_assert(CLASSIFY_KEY_MAX >= KEYTAB_KEY_MAX,
    "classify_event() keeps less of a key than the key buckets do");

/* shaper_offer_classified() but for the shadow. */
static enum shaper_verdict
shaper_shape(struct shaper *sh, const char *line, size_t len,
    const char *action, size_t action_len, enum record_source source,
    const struct classify_result *cr, const struct record_ack *ack,
    uint64_t token, struct record **held, uint64_t now)
{
	struct ruleset *rs = sh->rules;
	struct keytab_entry *ke = NULL;
	struct override *o;
	struct record *rec;
	struct sclass *c;
	enum reason reason;
	size_t idx = cr->cls, i;
	double cost;
	int invalid;

	if (cr->hits != NULL)
		for (i = 0; i < rs->nclasses; i++)
			sh->limit_hits[i] += cr->hits[i];
	c = sh->map[idx];
	c->received++;
	invalid = idx == RULES_INVALID(rs);
	if (invalid && source < SHAPER_LISTENERS)
		sh->parse_errors[source]++;

	cost = c->rule->weight_bytes ? (double)len : 1.0;
	if (c->keys != NULL)
		ke = keytab_get(c->keys, cr->key, cr->keylen, c->key_rate,
		    c->key_burst, now);
	if (ke != NULL)
		ke->seen++;
	if (ke != NULL && !bucket_check(&ke->bucket, cost, now)) {
		ke->shed++;
		reason = REASON_RATE_LIMIT;
	} else if (!bucket_check(&c->bucket, cost, now)) {
		reason = REASON_RATE_LIMIT;
	} else if (overrides_count(sh->ovs) > 0 && (o = overrides_drop(sh->ovs,
	    c->name, c->priority, cost, now)) != NULL) {
		/* An operator's cap or shed: a rate limit of its own. */
		o->shed++;
		reason = REASON_RATE_LIMIT;
	} else {
		/*
		 * Within its fixed rates: that is spent whatever the
		 * controller says, so the demand it sees is at most the
		 * class's own rate, and what is over that rate is counted
		 * as rate_limit, never as backpressure.
		 */
		if (ke != NULL)
			bucket_take(&ke->bucket, cost, now);
		bucket_take(&c->bucket, cost, now);
		reason = REASON_MAX;
		if (!shaper_admit(sh, c, now)) {
			reason = REASON_BACKPRESSURE;
			if (ke != NULL)
				ke->shed++;
		}
	}

	/* Only what is queued or diverted needs a record of its own. */
	if (reason != REASON_MAX && (c->rule->on_limit != ON_LIMIT_DIVERT ||
	    sh->divert == NULL)) {
		c->dropped[reason]++;
		shaper_tap(sh, c, reason, line, len, now);
		ack_now(ack, token, reason);
		return SHAPER_SHED;
	}
	rec = invalid ? record_new_invalid(line, len, action, action_len) :
	    record_new(line, len, action, action_len);
	if ((rec = shaper_with_params(sh, rec)) == NULL) {
		reason = reason != REASON_MAX ? reason : REASON_QUEUE_FULL;
		c->dropped[reason]++;
		shaper_tap(sh, c, reason, line, len, now);
		ack_now(ack, token, reason);
		return SHAPER_FAILED;
	}
	rec->cls = c;
	rec->class_name = c->name;
	rec->priority = sh->req.in_order ? 0 : (uint16_t)c->priority;
	if (sh->req.in_order)	/* so that expiry looks for it there too */
		min_age_add(sh->min_age, 0, c->rule->max_age_ms);
	rec->source = (uint8_t)source;
	rec->t_in = now;
	rec->ack = ack;
	rec->ack_token = token;
	if (reason != REASON_MAX) {
		shaper_drop(sh, rec, reason, NULL);
		return SHAPER_SHED;
	}
	if (queue_push(sh, rec, QUEUE_TAIL) == -1) {
		shaper_drop(sh, rec, REASON_QUEUE_FULL, NULL);
		return SHAPER_SHED;
	}
	if (held != NULL)
		*held = rec;
	shaper_schedule(sh);
	return SHAPER_QUEUED;
}

enum shaper_verdict
shaper_offer_classified(struct shaper *sh, const char *line, size_t len,
    const char *action, size_t action_len, enum record_source source,
    const struct classify_result *cr, const struct record_ack *ack,
    uint64_t token, struct record **held, uint64_t now)
{
	const char *name = sh->map[cr->cls]->name;
	enum shaper_verdict v;

	v = shaper_shape(sh, line, len, action, action_len, source, cr, ack,
	    token, held, now);
	/* Last: the candidate's classification reuses the arena. */
	if (sh->shadow != NULL)
		shadow_event(sh->shadow, line, len, name, now);
	return v;
}

/*
 * Queue rec (NULL: there was no memory for it), received already, in the
 * internal class at priority 0: no bucket, no controller.
 */
static enum shaper_verdict
shaper_queue_internal(struct shaper *sh, struct record *rec,
    enum record_source source, const struct record_ack *ack, uint64_t token,
    struct record **held, uint64_t now)
{
	struct sclass *c = sh->internal;

	if (rec == NULL) {
		c->dropped[REASON_QUEUE_FULL]++;
		ack_now(ack, token, REASON_QUEUE_FULL);
		return SHAPER_FAILED;
	}
	rec->cls = c;
	rec->class_name = c->name;
	rec->priority = 0;
	rec->source = (uint8_t)source;
	rec->t_in = now;
	rec->ack = ack;
	rec->ack_token = token;
	if (queue_push(sh, rec, QUEUE_TAIL) == -1) {
		shaper_drop(sh, rec, REASON_QUEUE_FULL, NULL);
		return SHAPER_SHED;
	}
	if (held != NULL)
		*held = rec;
	shaper_schedule(sh);
	return SHAPER_QUEUED;
}

enum shaper_verdict
shaper_offer_unshaped(struct shaper *sh, const char *source, size_t len,
    const char *action, size_t action_len, const struct record_ack *ack,
    uint64_t token, struct record **held, uint64_t now)
{
	struct record *rec;

	sh->internal->received++;
	if ((rec = shaper_with_params(sh, record_new(source ? source : "",
	    source ? len : 0, action, action_len))) != NULL)
		rec->bare = source == NULL;
	return shaper_queue_internal(sh, rec, SOURCE_HTTP, ack, token, held,
	    now);
}

enum shaper_verdict
shaper_offer_own(struct shaper *sh, const char *line, size_t len,
    uint64_t now)
{
	struct record *rec = record_new(line, len, NULL, 0);

	sh->internal->received++;
	return shaper_queue_internal(sh, rec, SOURCE_INTERNAL, NULL, 0, NULL,
	    now);
}

static void
ack_ignore(void *arg, uint64_t token, enum record_fate fate,
    enum reason reason, const struct record_answer *ans)
{
	(void)arg;
	(void)token;
	(void)fate;
	(void)reason;
	(void)ans;
}

/* Its sender was answered already and sends it again if need be. */
static const struct record_ack ack_detached = {
	ack_ignore, NULL, RECORD_ACK_RESENDS
};

int
shaper_cancel(struct shaper *sh, struct record *rec)
{
	if (!rec->queued) {
		rec->ack = &ack_detached;
		return -1;
	}
	queue_unlink(&sh->q, rec);
	rec->ack = NULL;
	rec->cls->dropped[REASON_UNACKNOWLEDGED]++;
	shaper_lag(sh, rec);
	record_free(rec);
	return 0;
}

void
shaper_request(struct shaper *sh, const struct shaper_request *req)
{
	static const struct shaper_request none = { 0, NULL, 0 };

	sh->req = req != NULL ? *req : none;
}

void
shaper_too_large(struct shaper *sh, enum record_source source)
{
	struct sclass *c = sh->map[RULES_INVALID(sh->rules)];

	c->received++;
	c->dropped[REASON_TOO_LARGE]++;
	if (tap_wants(sh->tap))		/* its bytes were not kept */
		shaper_tap(sh, c, REASON_TOO_LARGE, "", 0, sh->clock());
	(void)source;
}

/*
 * Feed the sinks from the queue until they push back: the most important
 * first, FIFO within a priority; what has waited longer than its class
 * lets it goes no further.
 */
static void
shaper_pump(struct shaper *sh)
{
	uint64_t now = sh->clock();
	struct batch_limits lim;
	struct record *rec;
	struct batch b;
	int p0_only;

	batch_limits(&lim, sh->cf);

	while (sh->sink != NULL && sh->q.events > 0) {
		/*
		 * A busy sink is still offered priority 0, once: it may take
		 * it ahead of the less important events it holds (sink.h).
		 */
		if ((p0_only = sh->sink_busy) && ((rec = queue_first(&sh->q)) ==
		    NULL || rec->priority != 0))
			break;
		batch_init(&b);
		while ((rec = queue_first(&sh->q)) != NULL &&
		    (!p0_only || rec->priority == 0) &&
		    batch_room(&lim, b.n, b.bytes, rec->len)) {
			queue_unlink(&sh->q, rec);
			if (record_stale(rec, now)) {
				shaper_drop(sh, rec, REASON_EXPIRED, NULL);
				continue;
			}
			rec->cls->inflight++;
			batch_add(&b, rec);
		}
		if (b.n == 0)
			break;
		switch (sink_submit(sh->sink, &b, now)) {
		case SINK_OK:
			break;
		case SINK_BUSY:
			sh->sink_busy = 1;
			/* Back to the head, in their order. */
			while ((rec = TAILQ_LAST(&b.recs, record_list)) !=
			    NULL) {
				TAILQ_REMOVE(&b.recs, rec, link);
				rec->cls->inflight--;
				queue_link(&sh->q, rec, QUEUE_HEAD);
			}
			if (p0_only)
				goto divert;
			break;
		}
	}

divert:
	while (sh->divert != NULL && !sh->divert_busy && sh->divq_len > 0) {
		batch_init(&b);
		while ((rec = TAILQ_FIRST(&sh->divq)) != NULL &&
		    b.n < lim.events) {
			TAILQ_REMOVE(&sh->divq, rec, link);
			sh->divq_len--;
			batch_add(&b, rec);
		}
		if (sink_submit(sh->divert, &b, now) == SINK_OK)
			continue;
		sh->divert_busy = 1;
		while ((rec = TAILQ_LAST(&b.recs, record_list)) != NULL) {
			TAILQ_REMOVE(&b.recs, rec, link);
			TAILQ_INSERT_HEAD(&sh->divq, rec, link);
			sh->divq_len++;
		}
	}
}

static void
shaper_done(void *arg, struct sink *s, struct record *rec,
    enum sink_outcome outcome, const struct record_answer *ans)
{
	struct shaper *sh = arg;
	struct sclass *c = rec->cls;

	if (s == sh->divert) {
		/* Already counted as dropped (shed) under its class. */
		record_free(rec);
		return;
	}
	c->inflight--;
	switch (outcome) {
	case SINK_FORWARDED:
		c->forwarded++;
		shaper_lag(sh, rec);
		if (tap_wants(sh->tap))
			shaper_tap(sh, c, REASON_MAX, rec->data, rec->len,
			    sh->clock());
		record_settle(rec, RECORD_FORWARDED, REASON_MAX, ans);
		record_free(rec);
		break;
	case SINK_REJECTED:
		shaper_drop(sh, rec, REASON_SINK_REJECTED, ans);
		break;
	case SINK_ERROR:
		shaper_drop(sh, rec, REASON_SINK_ERROR, ans);
		break;
	case SINK_ABORTED:
		shaper_drop(sh, rec, REASON_SHUTDOWN, NULL);
		break;
	case SINK_DEFERRED:
		/*
		 * The sink asks to slow down: the event waits in the queue
		 * again, where a full queue evicts the least important
		 * first, and is sent once the sink's backoff is over.  It
		 * goes back in its place in its priority, ahead of what
		 * came after it.
		 */
		if (queue_push(sh, rec, QUEUE_ORDER) == -1)
			shaper_drop(sh, rec, REASON_QUEUE_FULL, NULL);
		else
			shaper_schedule(sh);
		break;
	}
}

static void
shaper_ready(void *arg, struct sink *s)
{
	struct shaper *sh = arg;

	if (s == sh->divert)
		sh->divert_busy = 0;
	else
		sh->sink_busy = 0;
	shaper_schedule(sh);
}

void
shaper_sink_owner(struct shaper *sh, struct sink_owner *owner)
{
	owner->done = shaper_done;
	owner->ready = shaper_ready;
	owner->arg = sh;
}

void
shaper_set_sinks(struct shaper *sh, struct sink *sink, struct sink *divert)
{
	sh->sink = sink;
	sh->divert = divert;
	sh->sink_busy = 0;
	sh->divert_busy = 0;
	shaper_schedule(sh);
}

void
shaper_tick(struct shaper *sh, uint64_t now)
{
	size_t i, r;

	sh->snap_pos = (sh->snap_pos + 1) % SHAPER_RATE_SLOTS;
	sh->snap_at = now;
	for (i = 0; i < sh->nclasses; i++) {
		struct sclass *c = sh->classes[i];
		uint64_t d = 0;

		for (r = 0; r < REASON_MAX; r++)
			d += c->dropped[r];
		c->snap[sh->snap_pos][0] = c->received;
		c->snap[sh->snap_pos][1] = c->forwarded;
		c->snap[sh->snap_pos][2] = d;
		memcpy(c->lag_snap[sh->snap_pos], c->lag, sizeof(c->lag));
	}
	if (overrides_expire(sh->ovs, now, override_expired, NULL) > 0)
		shaper_reprioritize(sh);
}

int
shaper_override_add(struct shaper *sh, struct override *o, char *err,
    size_t errlen)
{
	if (overrides_add(sh->ovs, o, sh->rules, err, errlen) == -1)
		return -1;
	if (o->kind == OVERRIDE_PRIORITY)
		shaper_reprioritize(sh);
	return 0;
}

int
shaper_override_remove(struct shaper *sh, uint64_t id)
{
	if (overrides_remove(sh->ovs, id) == -1)
		return -1;
	shaper_reprioritize(sh);
	return 0;
}

const struct overrides *
shaper_overrides(const struct shaper *sh)
{
	return sh->ovs;
}

void
shaper_set_tap(struct shaper *sh, struct tap *t)
{
	sh->tap = t;
}

void
shaper_set_shadow(struct shaper *sh, struct shadow *s)
{
	sh->shadow = s;
}

void
shaper_set_clock(struct shaper *sh, uint64_t (*clock)(void))
{
	sh->clock = clock;
}

/*
 * The snapshot slot *secs seconds before the newest, *secs clamped to
 * 1..SHAPER_RATE_SLOTS-1.
 */
static size_t
snap_then(const struct shaper *sh, int *secs)
{
	if (*secs < 1)
		*secs = 1;
	if (*secs >= SHAPER_RATE_SLOTS)
		*secs = SHAPER_RATE_SLOTS - 1;
	return (sh->snap_pos + SHAPER_RATE_SLOTS - (size_t)*secs) %
	    SHAPER_RATE_SLOTS;
}

void
shaper_lag_quantiles(const struct shaper *sh, const struct sclass *c,
    int secs, const double *q, int nq, double *out, uint64_t *events)
{
	size_t now = sh->snap_pos, then = snap_then(sh, &secs), b;
	uint64_t d[SHAPER_LAG_BUCKETS + 1], n = 0, cum;
	double want, lo, hi;
	int i;

	for (b = 0; b <= SHAPER_LAG_BUCKETS; b++) {
		d[b] = c->lag_snap[now][b] - c->lag_snap[then][b];
		n += d[b];
	}
	*events = n;
	for (i = 0; i < nq; i++) {
		out[i] = 0;
		if (n == 0)
			continue;
		want = q[i] * (double)n;
		for (b = 0, cum = 0; b <= SHAPER_LAG_BUCKETS; b++) {
			if (d[b] == 0 || (double)(cum + d[b]) < want) {
				cum += d[b];
				continue;
			}
			lo = b > 0 ? shaper_lag_bounds[b - 1] : 0;
			hi = b < SHAPER_LAG_BUCKETS ? shaper_lag_bounds[b] : lo;
			out[i] = lo + (hi - lo) * (want - (double)cum) /
			    (double)d[b];
			break;
		}
	}
}

void
shaper_expire(struct shaper *sh, uint64_t now)
{
	struct record *rec, *next;
	size_t p;

	for (p = 0; p <= RULES_PRIORITY_MAX; p++) {
		if (sh->min_age[p] == 0)
			continue;
		/* Oldest first: stop at the first one young enough for all. */
		for (rec = TAILQ_FIRST(&sh->q.prio[p]); rec != NULL &&
		    now > rec->t_in && now - rec->t_in > sh->min_age[p];
		    rec = next) {
			next = TAILQ_NEXT(rec, plink);
			if (!record_stale(rec, now))
				continue;
			queue_unlink(&sh->q, rec);
			shaper_drop(sh, rec, REASON_EXPIRED, NULL);
		}
	}
}

void
shaper_rates(const struct shaper *sh, const struct sclass *c, int secs,
    double out[3])
{
	size_t now = sh->snap_pos, then = snap_then(sh, &secs);
	int i;

	for (i = 0; i < 3; i++)
		out[i] = (double)(c->snap[now][i] - c->snap[then][i]) / secs;
}

void
shaper_abandon(struct shaper *sh)
{
	struct record *rec;

	while ((rec = queue_first(&sh->q)) != NULL) {
		queue_unlink(&sh->q, rec);
		shaper_drop(sh, rec, REASON_SHUTDOWN, NULL);
	}
	while ((rec = TAILQ_FIRST(&sh->divq)) != NULL) {
		TAILQ_REMOVE(&sh->divq, rec, link);
		sh->divq_len--;
		sh->divert_lost++;
		record_free(rec);
	}
}

int
shaper_idle(const struct shaper *sh)
{
	size_t i;

	if (sh->q.events > 0 || sh->divq_len > 0)
		return 0;
	for (i = 0; i < sh->nclasses; i++)
		if (sh->classes[i]->inflight > 0)
			return 0;
	return 1;
}

uint64_t
shaper_queue_age(const struct shaper *sh, uint64_t now)
{
	const struct record *rec;
	uint64_t oldest = now, bits;
	size_t w;

	/* Each priority's head is its oldest. */
	for (w = 0; w < SHAPER_PRIO_WORDS; w++)
		for (bits = sh->q.nonempty[w]; bits != 0; bits &= bits - 1) {
			rec = TAILQ_FIRST(&sh->q.prio[w * 64 +
			    (size_t)__builtin_ctzll(bits)]);
			if (rec->t_in < oldest)
				oldest = rec->t_in;
		}
	return now - oldest;
}

/* Give every active class its share of the capacity as token buckets. */
static void
shaper_allocate(struct shaper *sh, uint64_t now, int fresh)
{
	struct alloc_item *v;
	struct sclass *c;
	double burst;
	size_t i;

	if ((v = calloc(sh->nbyprio ? sh->nbyprio : 1, sizeof(*v))) == NULL)
		return;		/* keep the last allocation */
	for (i = 0; i < sh->nbyprio; i++) {
		v[i].priority = sh->byprio[i]->priority;
		v[i].demand = sh->byprio[i]->demand_now;
	}
	sh->spare_rate = control_allocate(sh->capacity, v, sh->nbyprio);
	for (i = 0; i < sh->nbyprio; i++) {
		c = sh->byprio[i];
		c->alloc = isinf(sh->capacity) ? INFINITY : v[i].alloc;
		if (isinf(c->alloc))
			continue;
		/* A second's worth, so a whole bulk request fits. */
		burst = c->alloc > 1 ? c->alloc : 1;
		if (fresh) {
			bucket_init(&c->abucket, c->alloc, burst, now);
			c->abucket.tokens = c->alloc *
			    ((double)sh->ctl.p.interval_ns / 1e9);
		} else
			bucket_configure(&c->abucket, c->alloc, burst, now);
	}
	if (!isinf(sh->capacity)) {
		burst = sh->spare_rate > 1 ? sh->spare_rate : 1;
		if (fresh) {
			bucket_init(&sh->spare, sh->spare_rate, burst, now);
			sh->spare.tokens = 0;
		} else
			bucket_configure(&sh->spare, sh->spare_rate, burst,
			    now);
	}
	free(v);
}

int
shaper_set_fleet(struct shaper *sh, struct fleet *f,
    void (*publish)(void *, const struct fleet_report *), void *arg)
{
	if (f != NULL && sh->fleet_view == NULL &&
	    (sh->fleet_view = calloc(1, sizeof(*sh->fleet_view))) == NULL)
		return -1;
	sh->fleet = f;
	sh->fleet_publish = publish;
	sh->fleet_arg = arg;
	sh->ctl.fleet_over = -1;
	return 0;
}

const struct fleet_view *
shaper_fleet(const struct shaper *sh)
{
	return sh->fleet != NULL ? sh->fleet_view : NULL;
}

/*
 * In a fleet: publish this instance's capacity and demand by priority,
 * and return what the fleet rule lets it admit; alone, the controller's
 * capacity.
 */
static double
shaper_fleet_share(struct shaper *sh, uint64_t now)
{
	struct fleet_report r;
	const struct sclass *c;
	double share;
	size_t i;

	if (sh->fleet == NULL)
		return sh->ctl.capacity;
	snprintf(r.id, sizeof(r.id), "%s", fleet_self(sh->fleet));
	r.capacity = sh->ctl.capacity;
	r.nprio = 0;
	memset(r.demand, 0, sizeof(r.demand));
	for (i = 0; i < sh->nbyprio; i++) {
		c = sh->byprio[i];
		r.demand[c->priority] += c->demand_now;
		if (c->priority + 1 > r.nprio)
			r.nprio = c->priority + 1;
	}
	share = fleet_share(sh->fleet, &r, now, sh->fleet_view);
	/* The next step grows, or not, by the fleet's demand. */
	sh->ctl.fleet_over = sh->fleet_view->over;
	if (sh->fleet_publish != NULL)
		sh->fleet_publish(sh->fleet_arg, &r);
	return share;
}

void
shaper_control(struct shaper *sh, uint64_t now)
{
	struct sink_stats st;
	uint64_t fwd = 0, want = 0, dt, hold;
	enum control_change ch;
	double floor = 0, was = sh->capacity, sample;
	int pressure = 0, on;
	size_t i;

	shaper_expire(sh, now);
	dt = now > sh->ctl.last ? now - sh->ctl.last : 0;
	for (i = 0; i < sh->nclasses; i++) {
		struct sclass *c = sh->classes[i];

		fwd += c->forwarded;
		want += c->wanted;
		if (dt > 0) {
			sample = (double)(c->wanted - c->wanted_seen) * 1e9 /
			    (double)dt;
			c->demand = control_smooth(c->demand, sample, dt);
			/*
			 * Allocate to the larger of the smoothed demand and
			 * the last interval's: a class whose demand jumps is
			 * served at once, and over-serving the more important
			 * classes can only take from the less important.
			 */
			c->demand_now = sample > c->demand ? sample :
			    c->demand;
		}
		c->wanted_seen = c->wanted;
		if (c->active && c->priority == 0)
			floor += c->demand_now;
	}
	if (sh->sink != NULL) {
		sink_stats(sh->sink, &st, now);
		if (st.pushback != sh->pushback_seen || !st.up)
			pressure = 1;
		sh->pushback_seen = st.pushback;
	}
	if (shaper_queue_age(sh, now) >
	    (uint64_t)sh->cf->target_latency_ms * NSEC_PER_MSEC)
		pressure = 1;
	if (sh->draining)
		pressure = 0;

	ch = control_step(&sh->ctl, now, fwd, want, pressure, floor);
	sh->refused_now = SHAPER_NONE_REFUSED;
	sh->capacity = shaper_fleet_share(sh, now);
	shaper_allocate(sh, now, isinf(was) && !isinf(sh->capacity));

	if (pressure)
		sh->pressure_at = now;
	hold = sh->ctl.p.interval_ns > NSEC_PER_SEC ? sh->ctl.p.interval_ns :
	    NSEC_PER_SEC;
	on = sh->pressure_at != 0 && now - sh->pressure_at < hold;
	if (on && !sh->backpressure)
		log_warn("backpressure on: capacity %.0f events/s, "
		    "forwarding %.0f events/s, demand %.0f events/s",
		    sh->capacity, sh->ctl.fwd_rate, sh->ctl.demand_rate);
	else if (!on && sh->backpressure)
		log_info("backpressure off: capacity %.0f events/s",
		    sh->capacity);
	sh->backpressure = on;
	if (ch == CONTROL_LIFTED)
		log_info("capacity lifted: unlimited after %.0f s calm",
		    (double)sh->ctl.p.calm_ns / 1e9);
}

/* The rate c is held to now: its own rate and its allocation. */
static double
shaper_class_rate(const struct shaper *sh, const struct sclass *c)
{
	double r = INFINITY;

	if (c->rule != NULL && c->rule->rate > 0 && !c->rule->weight_bytes)
		r = c->rule->rate;
	/* Its allocation, and what no class asked for, which it may use. */
	if (c != sh->internal && !isinf(sh->capacity) &&
	    c->alloc + sh->spare_rate < r)
		r = c->alloc + sh->spare_rate;
	return r;
}

void
shaper_stats(struct shaper *sh, uint64_t now, struct shaper_stats *out)
{
	shaper_sync(sh);
	out->revision = sh->revision;
	out->capacity = sh->capacity;
	out->backpressure = sh->backpressure;
	out->queue_events = sh->q.events;
	out->queue_bytes = sh->q.bytes;
	out->queue_max_events = sh->q.max_events;
	out->queue_max_bytes = sh->q.max_bytes;
	out->queue_age = shaper_queue_age(sh, now);
	out->control.pressure = sh->ctl.pressure;
	out->control.capacity = sh->ctl.capacity;
	out->control.fwd_rate = sh->ctl.fwd_rate;
	out->control.demand_rate = sh->ctl.demand_rate;
	out->control.floor = sh->ctl.floor;
	out->control.ceiling = sh->ctl.ceiling;
	out->control.decreases = sh->ctl.decreases;
	out->control.increases = sh->ctl.increases;
	out->control.lifts = sh->ctl.lifts;
	memcpy(out->parse_errors, sh->parse_errors, sizeof(out->parse_errors));
	out->divert_lost = sh->divert_lost;
	out->overrides = overrides_count(sh->ovs);
	out->nclasses = sh->nclasses;
}

void
shaper_class_stats(const struct shaper *sh, size_t i,
    struct shaper_class_stats *out)
{
	const struct sclass *c = sh->classes[i];

	out->cls = c;
	out->name = c->name;
	out->priority = c->priority;
	out->active = c->active;
	out->received = c->received;
	out->forwarded = c->forwarded;
	memcpy(out->dropped, c->dropped, sizeof(out->dropped));
	out->diverted = c->diverted;
	out->queued = c->queued;
	out->inflight = c->inflight;
	out->regex_limit = c->regex_limit;
	out->demand = c->demand;
	out->allocation = isinf(sh->capacity) ? INFINITY : c->alloc;
	out->effective_rate = shaper_class_rate(sh, c);
	memcpy(out->lag, c->lag, sizeof(out->lag));
	out->lag_count = c->lag_count;
	out->lag_sum = c->lag_sum;
}

/* Keep the SHAPER_TOP_KEYS keys with the most shed events, most first. */
static void
top_keys_add(const char *key, const struct keytab_entry *e, void *arg)
{
	struct shaper_keys *t = arg;
	size_t i;

	if (e->shed == 0)
		return;
	if (t->ntop == SHAPER_TOP_KEYS &&
	    e->shed <= t->top[SHAPER_TOP_KEYS - 1].shed)
		return;
	i = t->ntop < SHAPER_TOP_KEYS ? t->ntop++ : SHAPER_TOP_KEYS - 1;
	for (; i > 0 && t->top[i - 1].shed < e->shed; i--)
		t->top[i] = t->top[i - 1];
	snprintf(t->top[i].key, sizeof(t->top[i].key), "%s", key);
	t->top[i].shed = e->shed;
	t->top[i].seen = e->seen;
}

int
shaper_top_keys(const struct sclass *c, struct shaper_keys *out)
{
	if (c->keys == NULL)
		return -1;
	out->keys = keytab_count(c->keys);
	out->evictions = keytab_evictions(c->keys);
	out->ntop = 0;
	keytab_foreach(c->keys, top_keys_add, out);
	return 0;
}

uint64_t
shaper_revision(const struct shaper *sh)
{
	return sh->revision;
}

void
shaper_add_limit_hits(struct shaper *sh, const uint64_t *hits, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < sh->rules->nclasses; i++)
		sh->limit_hits[i] += hits[i];
}

double
shaper_capacity(const struct shaper *sh)
{
	return sh->capacity;
}

int
shaper_may_read(const struct shaper *sh, uint64_t now)
{
	struct sink_stats st;

	if (sh->sink_busy || sh->q.events >= sh->q.max_events / 2 ||
	    sh->q.bytes >= sh->q.max_bytes / 2)
		return 0;
	if (sh->sink != NULL) {
		sink_stats(sh->sink, &st, now);
		if (!st.up)
			return 0;
	}
	return 1;
}

unsigned
shaper_sink_caps(const struct shaper *sh)
{
	return sh->sink != NULL ? sink_caps(sh->sink) : 0;
}

void
shaper_drain(struct shaper *sh)
{
	sh->draining = 1;
}

int
shaper_draining(const struct shaper *sh)
{
	return sh->draining;
}
