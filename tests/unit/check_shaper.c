/*
 * Unit tests for the shaper: admission, the bounded queue, the sink
 * hand-off and drop accounting, with a fake sink and a fake clock.
 *
 * The fake sink keeps every record it accepts until the test hands it
 * back through sink_done() with an outcome; it answers submit() with
 * whatever the test set (OK, BUSY or FAIL), or takes a batch of priority
 * 0 alone while busy if the test says so.  The deferred pump runs when
 * the test turns the event loop once (EVLOOP_NONBLOCK).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "keytab.h"
#include "override.h"
#include "record.h"
#include "rules.h"
#include "budget.h"
#include "shaper_int.h"
#include "shadow.h"
#include "sink.h"
#include "summary.h"
#include "tap.h"
#include "check_common.h"

#define NS	1000000000ULL
#define MS	1000000ULL
#define T0	(1000 * NS)

/* --- the fake sink --------------------------------------------------- */

#define FAKE_LOG	65536
#define FAKE_BATCHES	256

struct fake {
	enum sink_status	 answer;
	struct record_list	 held;		/* accepted, not yet done */
	size_t			 nheld;
	size_t			 submits;	/* calls, whatever the answer */
	uint64_t		 submit_at;	/* the now of the last submit */
	size_t			 batches;	/* accepted batches */
	size_t			 sizes[FAKE_BATCHES];
	size_t			 nrecs;		/* accepted records */
	uint64_t		 pushback;	/* reported in stats */
	int			 nolog;		/* do not keep the data */
	int			 take_p0;	/* busy, but takes a batch of
						   priority 0 alone */
	char			 log[FAKE_LOG];	/* accepted data, one a line */
	size_t			 loglen;
};

static enum sink_status
fake_submit(struct sink *s, struct batch *b, uint64_t now)
{
	struct fake *f = s->priv;
	struct record *rec;
	size_t n = 0, bytes = 0;

	f->submits++;
	f->submit_at = now;
	if (f->answer != SINK_OK) {
		if (!f->take_p0)
			return f->answer;
		TAILQ_FOREACH(rec, &b->recs, link)
			if (rec->priority != 0)
				return f->answer;
	}
	while ((rec = TAILQ_FIRST(&b->recs)) != NULL) {
		TAILQ_REMOVE(&b->recs, rec, link);
		if (!f->nolog) {
			ck_assert_uint_lt(f->loglen + rec->len + 1, FAKE_LOG);
			memcpy(f->log + f->loglen, rec->data, rec->len);
			f->loglen += rec->len;
			f->log[f->loglen++] = '\n';
			f->log[f->loglen] = '\0';
		}
		TAILQ_INSERT_TAIL(&f->held, rec, link);
		f->nheld++;
		f->nrecs++;
		n++;
		bytes += rec->len;
	}
	ck_assert_uint_eq(n, b->n);
	ck_assert_uint_eq(bytes, b->bytes);
	if (f->batches < FAKE_BATCHES)
		f->sizes[f->batches] = n;
	f->batches++;
	return SINK_OK;
}

static void
fake_poll(struct sink *s, uint64_t now)
{
	(void)s;
	(void)now;
}

static void
fake_stats(struct sink *s, struct sink_stats *st, uint64_t now)
{
	struct fake *f = s->priv;

	(void)now;
	memset(st, 0, sizeof(*st));
	st->up = 1;
	st->pending = f->nheld;
	st->pushback = f->pushback;
}

static void
fake_free(struct sink *s)
{
	struct fake *f = s->priv;
	struct record *rec;

	while ((rec = TAILQ_FIRST(&f->held)) != NULL) {
		TAILQ_REMOVE(&f->held, rec, link);
		f->nheld--;
		sink_done(s, rec, SINK_ABORTED);
	}
	free(f);
}

static const struct sink_ops fake_ops = {
	.name = "fake",
	.init = NULL,
	.submit = fake_submit,
	.poll = fake_poll,
	.stats = fake_stats,
	.reopen = NULL,
	.free = fake_free,
};

static struct sink *
fake_new(struct event_base *base, struct shaper *sh, const char *label)
{
	struct sink *s;
	struct fake *f;

	ck_assert_ptr_nonnull(s = calloc(1, sizeof(*s)));
	ck_assert_ptr_nonnull(f = calloc(1, sizeof(*f)));
	TAILQ_INIT(&f->held);
	f->answer = SINK_OK;
	s->ops = &fake_ops;
	s->base = base;
	shaper_sink_owner(sh, &s->owner);
	s->label = label;
	ck_assert_ptr_nonnull(s->url = strdup("fake:"));
	s->priv = f;
	return s;
}

static struct fake *
F(struct sink *s)
{
	return s->priv;
}

/* Hand the first n held records back with outcome. */
static void
ack(struct sink *s, size_t n, enum sink_outcome outcome)
{
	struct fake *f = s->priv;
	struct record *rec;

	while (n-- > 0) {
		ck_assert_ptr_nonnull(rec = TAILQ_FIRST(&f->held));
		TAILQ_REMOVE(&f->held, rec, link);
		f->nheld--;
		sink_done(s, rec, outcome);
	}
}

/* --- fixture --------------------------------------------------------- */

struct env {
	struct event_base	*base;
	struct config		*cf;
	struct shaper		*sh;
	struct sink		*sink;
	struct sink		*divert;
};

static struct ruleset *
load(const char *text)
{
	struct rules_error err;
	struct ruleset *rs;

	memset(&err, 0, sizeof(err));
	rs = rules_load_buffer(text, strlen(text), &err);
	ck_assert_msg(rs != NULL, "rules: %d:%d: %s", err.line, err.col,
	    err.msg);
	return rs;
}

static void
env_open(struct env *e, const char *rules, long max_events, long max_bytes,
    long batch_events, int with_divert)
{
	memset(e, 0, sizeof(*e));
	ck_assert_ptr_nonnull(e->base = event_base_new());
	ck_assert_ptr_nonnull(e->cf = config_default());
	if (max_events > 0)
		e->cf->queue_max_events = max_events;
	if (max_bytes > 0)
		e->cf->queue_max_bytes = max_bytes;
	if (batch_events > 0)
		e->cf->batch_events = batch_events;
	e->sh = shaper_new(e->base, e->cf, load(rules), T0);
	ck_assert_ptr_nonnull(e->sh);
	e->sink = fake_new(e->base, e->sh, "main");
	if (with_divert)
		e->divert = fake_new(e->base, e->sh, "divert");
	shaper_set_sinks(e->sh, e->sink, e->divert);
}

static void
env_close(struct env *e)
{
	sink_free(e->sink);
	sink_free(e->divert);
	shaper_free(e->sh);
	config_free(e->cf);
	event_base_free(e->base);
}

static void
pump(struct env *e)
{
	ck_assert_int_ge(event_base_loop(e->base, EVLOOP_NONBLOCK), 0);
}

static uint64_t
dropped_total(const struct sclass *c)
{
	uint64_t d = 0;
	int r;

	for (r = 0; r < REASON_MAX; r++)
		d += c->dropped[r];
	return d;
}

/* received == forwarded + dropped + queued + inflight, for every class. */
static void
identity(const struct shaper *sh)
{
	uint64_t q = 0;
	size_t i;

	for (i = 0; i < sh->nclasses; i++) {
		const struct sclass *c = sh->classes[i];

		ck_assert_msg(c->received == c->forwarded + dropped_total(c) +
		    c->queued + c->inflight,
		    "class %s: received %llu != forwarded %llu + dropped %llu"
		    " + queued %llu + inflight %llu", c->name,
		    (unsigned long long)c->received,
		    (unsigned long long)c->forwarded,
		    (unsigned long long)dropped_total(c),
		    (unsigned long long)c->queued,
		    (unsigned long long)c->inflight);
		q += c->queued;
	}
	ck_assert_uint_eq(q, sh->q.events);
}

static struct sclass *
cls(const struct env *e, const char *name)
{
	struct sclass *c = shaper_class(e->sh, name);

	ck_assert_msg(c != NULL, "no class %s", name);
	return c;
}

/* Assert every counter of a class; dropped reasons not named are 0. */
static void
expect(const struct env *e, const char *name, uint64_t received,
    uint64_t forwarded, uint64_t queued, uint64_t inflight,
    uint64_t rate_limit, uint64_t queue_full, uint64_t other_drops)
{
	const struct sclass *c = cls(e, name);

	ck_assert_msg(c->received == received, "%s received %llu want %llu",
	    name, (unsigned long long)c->received,
	    (unsigned long long)received);
	ck_assert_msg(c->forwarded == forwarded, "%s forwarded %llu want %llu",
	    name, (unsigned long long)c->forwarded,
	    (unsigned long long)forwarded);
	ck_assert_msg(c->queued == queued, "%s queued %llu want %llu", name,
	    (unsigned long long)c->queued, (unsigned long long)queued);
	ck_assert_msg(c->inflight == inflight, "%s inflight %llu want %llu",
	    name, (unsigned long long)c->inflight,
	    (unsigned long long)inflight);
	ck_assert_msg(c->dropped[REASON_RATE_LIMIT] == rate_limit,
	    "%s rate_limit %llu want %llu", name,
	    (unsigned long long)c->dropped[REASON_RATE_LIMIT],
	    (unsigned long long)rate_limit);
	ck_assert_msg(c->dropped[REASON_QUEUE_FULL] == queue_full,
	    "%s queue_full %llu want %llu", name,
	    (unsigned long long)c->dropped[REASON_QUEUE_FULL],
	    (unsigned long long)queue_full);
	ck_assert_msg(dropped_total(c) - rate_limit - queue_full ==
	    other_drops, "%s other drops %llu want %llu", name,
	    (unsigned long long)(dropped_total(c) - rate_limit - queue_full),
	    (unsigned long long)other_drops);
	identity(e->sh);
}

static enum shaper_verdict
offer(struct env *e, const char *line, uint64_t now)
{
	enum shaper_verdict v;

	v = shaper_offer(e->sh, line, strlen(line), NULL, 0, SOURCE_TCP, now);
	identity(e->sh);
	return v;
}

/* Offer {"c":"CLS","n":N}. */
static enum shaper_verdict
offer_c(struct env *e, const char *c, int n, uint64_t now)
{
	char line[128];

	snprintf(line, sizeof(line), "{\"c\":\"%s\",\"n\":%d}", c, n);
	return offer(e, line, now);
}

/* Classes p0, p3, p5, p9 by field c, priorities as named. */
static const char *PRIO_RULES =
    "{\"classes\":["
    "{\"name\":\"p0\",\"priority\":0,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^p0$\"}]},"
    "{\"name\":\"p3\",\"priority\":3,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^p3$\"}]},"
    "{\"name\":\"p5\",\"priority\":5,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^p5$\"}]},"
    "{\"name\":\"p9\",\"priority\":9,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^p9$\"}]}],"
    "\"default\":{\"name\":\"other\",\"priority\":4},"
    "\"invalid\":{\"priority\":8}}";

/* --- tests ----------------------------------------------------------- */

START_TEST(starts_idle_with_all_classes)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	ck_assert_uint_eq(e.sh->revision, 1);
	/* The rule set's 6 classes, plus the internal "_spillway". */
	ck_assert_uint_eq(e.sh->nclasses, 7);
	ck_assert_int_eq(cls(&e, "_spillway")->priority, 0);
	ck_assert_int_eq(cls(&e, "_spillway")->active, 1);
	expect(&e, "p0", 0, 0, 0, 0, 0, 0, 0);
	expect(&e, "other", 0, 0, 0, 0, 0, 0, 0);
	expect(&e, "_invalid", 0, 0, 0, 0, 0, 0, 0);
	ck_assert_int_eq(cls(&e, "p9")->priority, 9);
	ck_assert_int_eq(cls(&e, "_invalid")->priority, 8);
	ck_assert_int_eq(cls(&e, "other")->active, 1);
	ck_assert_ptr_null(shaper_class(e.sh, "nope"));
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 0);
	env_close(&e);
}
END_TEST

START_TEST(forward_path_and_outcomes)
{
	struct env e;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(offer_c(&e, "p3", i, T0), SHAPER_QUEUED);
	ck_assert_int_eq(shaper_idle(e.sh), 0);
	expect(&e, "p3", 5, 0, 5, 0, 0, 0, 0);
	ck_assert_uint_eq(F(e.sink)->submits, 0);	/* deferred */
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 1);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 5);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p3\",\"n\":0}\n{\"c\":\"p3\",\"n\":1}\n"
	    "{\"c\":\"p3\",\"n\":2}\n{\"c\":\"p3\",\"n\":3}\n"
	    "{\"c\":\"p3\",\"n\":4}\n");
	expect(&e, "p3", 5, 0, 0, 5, 0, 0, 0);

	ack(e.sink, 1, SINK_FORWARDED);
	expect(&e, "p3", 5, 1, 0, 4, 0, 0, 0);
	ack(e.sink, 1, SINK_REJECTED);
	expect(&e, "p3", 5, 1, 0, 3, 0, 0, 1);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SINK_REJECTED], 1);
	ack(e.sink, 1, SINK_ERROR);
	expect(&e, "p3", 5, 1, 0, 2, 0, 0, 2);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SINK_ERROR], 1);
	ack(e.sink, 1, SINK_ABORTED);
	expect(&e, "p3", 5, 1, 0, 1, 0, 0, 3);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SHUTDOWN], 1);
	ack(e.sink, 1, SINK_FORWARDED);
	expect(&e, "p3", 5, 2, 0, 0, 0, 0, 3);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	/* Nothing else was touched. */
	expect(&e, "p0", 0, 0, 0, 0, 0, 0, 0);
	expect(&e, "other", 0, 0, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(cls(&e, "p3")->diverted, 0);
	env_close(&e);
}
END_TEST

START_TEST(default_class_and_action_line)
{
	struct env e;
	struct record *rec;
	const char *act = "{\"index\":{\"_index\":\"a\"}}";
	const char *line = "{\"c\":\"zz\"}";

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_offer(e.sh, line, strlen(line), act,
	    strlen(act), SOURCE_HTTP, T0 + 5), SHAPER_QUEUED);
	expect(&e, "other", 1, 0, 1, 0, 0, 0, 0);
	pump(&e);
	rec = TAILQ_FIRST(&F(e.sink)->held);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(rec->data, line);
	ck_assert_uint_eq(rec->action_len, strlen(act));
	ck_assert_str_eq(rec->action, act);
	ck_assert_ptr_eq(rec->cls, cls(&e, "other"));
	ck_assert_int_eq(rec->priority, 4);
	ck_assert_int_eq(rec->source, SOURCE_HTTP);
	ck_assert_uint_eq(rec->t_in, T0 + 5);
	/* The parsed tree died with the event's arena: the bytes go out. */
	ck_assert_ptr_null(rec->json);
	ck_assert_int_eq(rec->invalid, 0);
	ck_assert_uint_eq(e.sh->parse_errors[SOURCE_HTTP], 0);
	ack(e.sink, 1, SINK_FORWARDED);
	expect(&e, "other", 1, 1, 0, 0, 0, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(rate_limit_exact)
{
	struct env e;
	int i, queued = 0;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":10,"
	    "\"burst\":4,\"match\":[]}]}", 0, 0, 0, 0);
	for (i = 0; i < 25; i++)
		queued += offer_c(&e, "x", i, T0) == SHAPER_QUEUED;
	ck_assert_int_eq(queued, 4);
	expect(&e, "a", 25, 0, 4, 0, 21, 0, 0);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"x\",\"n\":0}\n{\"c\":\"x\",\"n\":1}\n"
	    "{\"c\":\"x\",\"n\":2}\n{\"c\":\"x\",\"n\":3}\n");
	expect(&e, "a", 25, 0, 0, 4, 21, 0, 0);
	ack(e.sink, 4, SINK_FORWARDED);
	expect(&e, "a", 25, 4, 0, 0, 21, 0, 0);

	/* 100 ms at 10/s: exactly one more. */
	for (i = 0; i < 5; i++)
		offer_c(&e, "x", 100 + i, T0 + 100 * MS);
	expect(&e, "a", 30, 4, 1, 0, 25, 0, 0);
	/* A second later, a full burst again and no more. */
	for (i = 0; i < 10; i++)
		offer_c(&e, "x", 200 + i, T0 + 2 * NS);
	expect(&e, "a", 40, 4, 5, 0, 31, 0, 0);
	ck_assert_uint_eq(cls(&e, "a")->diverted, 0);
	env_close(&e);
}
END_TEST

START_TEST(unlimited_class_admits_all)
{
	struct env e;
	int i;

	env_open(&e, "{\"classes\":[]}", 0, 0, 0, 0);
	for (i = 0; i < 10000; i++)
		offer_c(&e, "x", i, T0);
	expect(&e, "default", 10000, 0, 10000, 0, 0, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(per_key_buckets)
{
	struct env e;
	struct keytab *kt;
	int i;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"k\",\"priority\":1,\"key\":\"svc\","
	    "\"key_rate\":1,\"key_burst\":2,\"match\":[]}]}", 0, 0, 0, 0);
	for (i = 0; i < 5; i++)
		offer(&e, "{\"svc\":\"a\"}", T0);
	expect(&e, "k", 5, 0, 2, 0, 3, 0, 0);
	for (i = 0; i < 5; i++)
		offer(&e, "{\"svc\":\"b\"}", T0);
	expect(&e, "k", 10, 0, 4, 0, 6, 0, 0);
	/* No key field: one shared bucket for all of them. */
	offer(&e, "{\"x\":1}", T0);
	offer(&e, "{\"y\":2}", T0);
	offer(&e, "{\"z\":3}", T0);
	expect(&e, "k", 13, 0, 6, 0, 7, 0, 0);
	/* A number key is its decimal text: its own bucket. */
	offer(&e, "{\"svc\":7}", T0);
	offer(&e, "{\"svc\":7}", T0);
	offer(&e, "{\"svc\":7}", T0);
	expect(&e, "k", 16, 0, 8, 0, 8, 0, 0);
	kt = cls(&e, "k")->keys;
	ck_assert_ptr_nonnull(kt);
	ck_assert_uint_eq(keytab_count(kt), 4);

	/* One second later each key has one more token. */
	offer(&e, "{\"svc\":\"a\"}", T0 + NS);
	offer(&e, "{\"svc\":\"a\"}", T0 + NS);
	offer(&e, "{\"svc\":\"b\"}", T0 + NS);
	expect(&e, "k", 19, 0, 10, 0, 9, 0, 0);
	env_close(&e);
}
END_TEST

/* A refusal by the key bucket takes nothing from the class bucket. */
START_TEST(key_and_class_buckets)
{
	struct env e;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"k\",\"priority\":1,\"rate\":3,"
	    "\"key\":\"svc\",\"key_rate\":2,\"match\":[]}]}", 0, 0, 0, 0);
	offer(&e, "{\"svc\":\"a\"}", T0);
	offer(&e, "{\"svc\":\"a\"}", T0);
	offer(&e, "{\"svc\":\"a\"}", T0);	/* key bucket empty */
	offer(&e, "{\"svc\":\"a\"}", T0);	/* key bucket empty */
	expect(&e, "k", 4, 0, 2, 0, 2, 0, 0);
	offer(&e, "{\"svc\":\"b\"}", T0);	/* class: last token */
	expect(&e, "k", 5, 0, 3, 0, 2, 0, 0);
	offer(&e, "{\"svc\":\"b\"}", T0);	/* class bucket empty */
	expect(&e, "k", 6, 0, 3, 0, 3, 0, 0);
	/* ...and the class refusal took nothing from b's key bucket. */
	offer(&e, "{\"svc\":\"b\"}", T0 + NS / 3 + 1);
	expect(&e, "k", 7, 0, 4, 0, 3, 0, 0);
	env_close(&e);
}
END_TEST

struct keyseen {
	char		 key[8][KEYTAB_KEY_MAX + 1];
	uint64_t	 seen[8];
	uint64_t	 shed[8];
	size_t		 n;
};

static void
keyseen_cb(const char *key, const struct keytab_entry *ent, void *arg)
{
	struct keyseen *ks = arg;

	if (ks->n < 8) {
		snprintf(ks->key[ks->n], sizeof(ks->key[0]), "%s", key);
		ks->seen[ks->n] = ent->seen;
		ks->shed[ks->n] = ent->shed;
	}
	ks->n++;
}

/* Offer 5 "a" (3 pass by key) and 3 "b" (1 passes by class). */
static void
key_entry_run(struct env *e, struct keyseen *ks)
{
	int i;

	env_open(e,
	    "{\"classes\":[{\"name\":\"k\",\"priority\":1,\"rate\":4,"
	    "\"key\":\"svc\",\"key_rate\":3,\"match\":[]}]}", 0, 0, 0, 0);
	for (i = 0; i < 5; i++)
		offer(e, "{\"svc\":\"a\"}", T0);
	for (i = 0; i < 3; i++)
		offer(e, "{\"svc\":\"b\"}", T0);
	expect(e, "k", 8, 0, 4, 0, 4, 0, 0);
	memset(ks, 0, sizeof(*ks));
	keytab_foreach(cls(e, "k")->keys, keyseen_cb, ks);
	ck_assert_uint_eq(ks->n, 2);
	ck_assert_str_eq(ks->key[0], "b");
	ck_assert_str_eq(ks->key[1], "a");
}

/* keytab_entry.shed: events refused by that key's own bucket. */
START_TEST(key_entry_shed_counts_own_bucket_only)
{
	struct env e;
	struct keyseen ks;

	key_entry_run(&e, &ks);
	ck_assert_uint_eq(ks.shed[1], 2);
	/* b's own bucket had room; the class bucket refused b twice. */
	ck_assert_uint_eq(ks.shed[0], 0);
	env_close(&e);
}
END_TEST

/* keytab_entry.seen: events offered with that key. */
START_TEST(key_entry_seen_counts_offers)
{
	struct env e;
	struct keyseen ks;

	key_entry_run(&e, &ks);
	ck_assert_uint_eq(ks.seen[1], 5);
	ck_assert_uint_eq(ks.seen[0], 3);
	env_close(&e);
}
END_TEST

START_TEST(weight_bytes)
{
	struct env e;
	const char *l30 = "{\"c\":\"x\",\"pad\":\"0123456789\"}";	/* 28 */
	char big[200];

	ck_assert_uint_eq(strlen(l30), 28);
	env_open(&e,
	    "{\"classes\":[{\"name\":\"w\",\"priority\":1,\"rate\":100,"
	    "\"weight\":\"bytes\",\"match\":[]}]}", 0, 0, 0, 0);
	offer(&e, l30, T0);
	offer(&e, l30, T0);
	offer(&e, l30, T0);			/* 84 of 100 */
	offer(&e, l30, T0);			/* 16 left: shed */
	expect(&e, "w", 4, 0, 3, 0, 1, 0, 0);
	offer(&e, l30, T0 + 110 * MS);		/* 16 + 11 = 27 < 28 */
	expect(&e, "w", 5, 0, 3, 0, 2, 0, 0);
	offer(&e, l30, T0 + 120 * MS);		/* 28 */
	expect(&e, "w", 6, 0, 4, 0, 2, 0, 0);
	/* Larger than the burst: only from a full bucket. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "{\"p\":\"", 6);
	memcpy(big + sizeof(big) - 3, "\"}", 3);
	ck_assert_uint_eq(strlen(big), 199);
	offer(&e, big, T0 + 500 * MS);
	expect(&e, "w", 7, 0, 4, 0, 3, 0, 0);
	offer(&e, big, T0 + 5 * NS);
	expect(&e, "w", 8, 0, 5, 0, 3, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(queue_full_evicts_strictly_lower)
{
	struct env e;

	env_open(&e, PRIO_RULES, 4, 0, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p5", 1, T0);
	offer_c(&e, "p5", 2, T0);
	offer_c(&e, "p9", 1, T0);
	offer_c(&e, "p9", 2, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 1);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	expect(&e, "p5", 2, 0, 2, 0, 0, 0, 0);
	expect(&e, "p9", 2, 0, 2, 0, 0, 0, 0);

	/* Equal to the lowest present: nothing lower, the arrival goes. */
	ck_assert_int_eq(offer_c(&e, "p9", 3, T0), SHAPER_SHED);
	expect(&e, "p9", 3, 0, 2, 0, 0, 1, 0);
	/* p5 arrives: the newest p9 (n=2) goes, under p9. */
	ck_assert_int_eq(offer_c(&e, "p5", 3, T0), SHAPER_QUEUED);
	expect(&e, "p9", 3, 0, 1, 0, 0, 2, 0);
	expect(&e, "p5", 3, 0, 3, 0, 0, 0, 0);
	/* p3 arrives: the lowest priority present is still p9. */
	ck_assert_int_eq(offer_c(&e, "p3", 1, T0), SHAPER_QUEUED);
	expect(&e, "p9", 3, 0, 0, 0, 0, 3, 0);
	/* p3 again: now the newest p5 (n=3) goes. */
	ck_assert_int_eq(offer_c(&e, "p3", 2, T0), SHAPER_QUEUED);
	expect(&e, "p5", 3, 0, 2, 0, 0, 1, 0);
	expect(&e, "p3", 2, 0, 2, 0, 0, 0, 0);
	/* p5 arrives: only p5 and p3 queued, none strictly lower. */
	ck_assert_int_eq(offer_c(&e, "p5", 4, T0), SHAPER_SHED);
	expect(&e, "p5", 4, 0, 2, 0, 0, 2, 0);
	/* A p3 arrival evicts p5 (n=2), the newest p5. */
	ck_assert_int_eq(offer_c(&e, "p3", 3, T0), SHAPER_QUEUED);
	expect(&e, "p5", 4, 0, 1, 0, 0, 3, 0);
	/* default class, priority 4, is above p5: evicts the last p5. */
	ck_assert_int_eq(offer_c(&e, "zz", 1, T0), SHAPER_QUEUED);
	expect(&e, "p5", 4, 0, 0, 0, 0, 4, 0);
	/* Another default: nothing lower than 4 left. */
	ck_assert_int_eq(offer_c(&e, "zz", 2, T0), SHAPER_SHED);
	expect(&e, "other", 2, 0, 1, 0, 0, 1, 0);
	/* p0 evicts the default (priority 4, lowest present). */
	ck_assert_int_eq(offer_c(&e, "p0", 1, T0), SHAPER_QUEUED);
	expect(&e, "other", 2, 0, 0, 0, 0, 2, 0);
	ck_assert_uint_eq(e.sh->q.events, 4);
	ck_assert_uint_eq(F(e.sink)->submits, 1);	/* still busy */

	/* The sink is ready: the most important first, then FIFO. */
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":1}\n{\"c\":\"p3\",\"n\":1}\n"
	    "{\"c\":\"p3\",\"n\":2}\n{\"c\":\"p3\",\"n\":3}\n");
	expect(&e, "p3", 3, 0, 0, 3, 0, 0, 0);
	expect(&e, "p0", 1, 0, 0, 1, 0, 0, 0);
	ack(e.sink, 4, SINK_FORWARDED);
	expect(&e, "p3", 3, 3, 0, 0, 0, 0, 0);
	expect(&e, "p0", 1, 1, 0, 0, 0, 0, 0);
	expect(&e, "p9", 3, 0, 0, 0, 0, 3, 0);
	expect(&e, "p5", 4, 0, 0, 0, 0, 4, 0);
	env_close(&e);
}
END_TEST

/* Victims are the newest of the lowest priority: order survives. */
START_TEST(queue_full_evicts_newest)
{
	struct env e;

	env_open(&e, PRIO_RULES, 3, 0, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p9", 1, T0);
	offer_c(&e, "p5", 1, T0);
	offer_c(&e, "p9", 2, T0);
	pump(&e);
	offer_c(&e, "p0", 1, T0);	/* evicts p9 n=2 */
	offer_c(&e, "p0", 2, T0);	/* evicts p9 n=1 */
	offer_c(&e, "p3", 1, T0);	/* evicts p5 n=1 */
	offer_c(&e, "p3", 2, T0);	/* nothing below 3 but p3: shed */
	expect(&e, "p9", 2, 0, 0, 0, 0, 2, 0);
	expect(&e, "p5", 1, 0, 0, 0, 0, 1, 0);
	expect(&e, "p3", 2, 0, 1, 0, 0, 1, 0);
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":1}\n{\"c\":\"p0\",\"n\":2}\n"
	    "{\"c\":\"p3\",\"n\":1}\n");
	ack(e.sink, 3, SINK_FORWARDED);
	expect(&e, "p0", 2, 2, 0, 0, 0, 0, 0);
	env_close(&e);
}
END_TEST

/* A line of exactly len bytes, of class cls ("p0".."p9"). */
static char *
line_of(char *buf, size_t size, const char *cls, size_t len)
{
	snprintf(buf, size, "{\"c\":\"%s\",\"p\":\"%0*d\"}", cls,
	    (int)len - 17, 0);
	ck_assert_uint_eq(strlen(buf), len);
	return buf;
}

/* What a queued record of a line of len bytes costs the budget. */
static size_t
cost_of(size_t len)
{
	return record_cost(sizeof(struct record) + len + 2);
}

START_TEST(queue_max_bytes)
{
	struct env e;
	char l40[64], l50[80], big[1024], huge[1024], p9[64];
	size_t c40 = cost_of(40), c50 = cost_of(60), max, lbig, lhuge;

	/*
	 * queue.max_bytes bounds what the records really take, their own
	 * allocation included, not only the event bytes: room for two p9
	 * records of 40 bytes, not for a third record of 60 next to them.
	 */
	max = c40 + c50 + c40 - 16;
	ck_assert_uint_lt(c40, c50);
	ck_assert_uint_lt(2 * c40, max);
	/* A p0 line that fits alone, but needs more than one p9 to go. */
	for (lbig = 60; cost_of(lbig) <= max - c50; lbig++)
		;
	/* And one that never fits. */
	for (lhuge = lbig; cost_of(lhuge) <= max; lhuge++)
		;
	line_of(l40, sizeof(l40), "p9", 40);
	line_of(p9, sizeof(p9), "p9", 40);
	line_of(l50, sizeof(l50), "p0", 60);
	line_of(big, sizeof(big), "p0", lbig);
	line_of(huge, sizeof(huge), "p0", lhuge);

	env_open(&e, PRIO_RULES, 1000, (long)max, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer(&e, l40, T0);
	offer(&e, l40, T0);
	pump(&e);
	ck_assert_uint_eq(e.sh->q.bytes, 80);
	ck_assert_uint_eq(e.sh->q.cost, 2 * c40);
	ck_assert_uint_eq(budget_part_used(BUDGET_QUEUED), 2 * c40);
	/* 2 x c40 + c50 > max: one p9 must go. */
	ck_assert_int_eq(offer(&e, l50, T0), SHAPER_QUEUED);
	expect(&e, "p9", 2, 0, 1, 0, 0, 1, 0);
	ck_assert_uint_eq(e.sh->q.bytes, 100);
	ck_assert_uint_eq(e.sh->q.cost, c40 + c50);
	/* More to free than the one p9 left: shed, no victim taken for
	 * nothing. */
	ck_assert_int_eq(offer(&e, big, T0), SHAPER_SHED);
	expect(&e, "p0", 2, 0, 1, 0, 0, 1, 0);
	expect(&e, "p9", 2, 0, 1, 0, 0, 1, 0);
	ck_assert_uint_eq(e.sh->q.bytes, 100);
	/* Larger than the whole budget: never fits. */
	ck_assert_int_eq(offer(&e, huge, T0), SHAPER_SHED);
	expect(&e, "p0", 3, 0, 1, 0, 0, 2, 0);
	expect(&e, "p9", 2, 0, 1, 0, 0, 1, 0);
	/* A p9 while c40 + c50 are queued: over, nothing lower. */
	ck_assert_int_eq(offer(&e, p9, T0), SHAPER_SHED);
	expect(&e, "p9", 3, 0, 1, 0, 0, 2, 0);
	ck_assert_uint_eq(e.sh->q.bytes, 100);
	ck_assert_uint_eq(e.sh->q.events, 2);
	/* What was dropped is given back: only the queued ones count. */
	ck_assert_uint_eq(budget_used(), c40 + c50);
	env_close(&e);
	ck_assert_uint_eq(budget_used(), 0);
}
END_TEST

/*
 * Memory claimed by a new request (a body being read or inflated) makes
 * the queue give way, the newest of the least important first.
 */
START_TEST(budget_claim_evicts)
{
	struct env e;
	char l40[64], l0[64];
	size_t c40 = cost_of(40);

	env_open(&e, PRIO_RULES, 1000, (long)(4 * c40), 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer(&e, line_of(l0, sizeof(l0), "p0", 40), T0);
	offer(&e, line_of(l40, sizeof(l40), "p9", 40), T0);
	offer(&e, l40, T0);
	pump(&e);
	ck_assert_uint_eq(e.sh->q.events, 3);
	ck_assert_uint_eq(budget_firm_room(), 4 * c40);
	ck_assert_uint_eq(budget_room(), c40);
	/* A request takes 2 x c40: one p9 must go. */
	budget_claim(BUDGET_REQUESTS, 2 * c40);
	ck_assert_uint_eq(e.sh->q.events, 2);
	expect(&e, "p9", 2, 0, 1, 0, 0, 1, 0);
	ck_assert_uint_eq(budget_over(), 0);
	ck_assert_uint_eq(budget_firm_room(), 2 * c40);
	/* Then everything: the p9 goes first, then even the p0. */
	budget_claim(BUDGET_REQUESTS, 2 * c40);
	ck_assert_uint_eq(e.sh->q.events, 0);
	expect(&e, "p9", 2, 0, 0, 0, 0, 2, 0);
	expect(&e, "p0", 1, 0, 0, 0, 0, 1, 0);
	ck_assert_uint_eq(budget_firm_room(), 0);
	budget_give(BUDGET_REQUESTS, 4 * c40);
	ck_assert_uint_eq(budget_used(), 0);
	env_close(&e);
}
END_TEST

START_TEST(busy_keeps_fifo_order)
{
	struct env e;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 2, 0);
	F(e.sink)->answer = SINK_BUSY;
	for (i = 0; i < 5; i++)
		offer_c(&e, i % 2 ? "p9" : "p0", i, T0);
	pump(&e);
	/* A batch, then priority 0 alone: both refused. */
	ck_assert_uint_eq(F(e.sink)->submits, 2);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	expect(&e, "p0", 3, 0, 3, 0, 0, 0, 0);
	expect(&e, "p9", 2, 0, 2, 0, 0, 0, 0);
	/* More arrivals while busy: priority 0 alone is offered again. */
	offer_c(&e, "p9", 5, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 3);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);

	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 3);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[1], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[2], 2);
	/* Priority 0 first, each priority in arrival order. */
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":0}\n{\"c\":\"p0\",\"n\":2}\n"
	    "{\"c\":\"p0\",\"n\":4}\n{\"c\":\"p9\",\"n\":1}\n"
	    "{\"c\":\"p9\",\"n\":3}\n{\"c\":\"p9\",\"n\":5}\n");
	expect(&e, "p0", 3, 0, 0, 3, 0, 0, 0);
	expect(&e, "p9", 3, 0, 0, 3, 0, 0, 0);

	/* Busy again in the middle of a run: the second batch comes back
	 * and goes first next time. */
	ack(e.sink, 6, SINK_FORWARDED);
	F(e.sink)->answer = SINK_BUSY;
	for (i = 10; i < 13; i++)
		offer_c(&e, "p0", i, T0);
	pump(&e);
	expect(&e, "p0", 6, 3, 3, 0, 0, 0, 0);
	F(e.sink)->answer = SINK_OK;
	F(e.sink)->loglen = 0;
	F(e.sink)->log[0] = '\0';
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":10}\n{\"c\":\"p0\",\"n\":11}\n"
	    "{\"c\":\"p0\",\"n\":12}\n");
	ack(e.sink, 3, SINK_FORWARDED);
	expect(&e, "p0", 6, 6, 0, 0, 0, 0, 0);
	expect(&e, "p9", 3, 3, 0, 0, 0, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(batch_bytes_bound)
{
	struct env e;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 100, 0);
	/* {"c":"p0","n":N} is 17 bytes for one digit: 2 per 40 bytes. */
	e.cf->batch_bytes = 40;
	for (i = 0; i < 5; i++)
		offer_c(&e, "p0", i, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 3);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[1], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[2], 1);
	expect(&e, "p0", 5, 0, 0, 5, 0, 0, 0);
	env_close(&e);
}
END_TEST

static uint64_t
fixed_clock(void)
{
	return T0 + 7 * NS;
}

/* The sink is told the time by its caller, not by its own clock. */
START_TEST(sink_is_given_now)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	shaper_set_clock(e.sh, fixed_clock);
	offer_c(&e, "p3", 1, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 1);
	ck_assert_uint_eq(F(e.sink)->submit_at, T0 + 7 * NS);
	ack(e.sink, 1, SINK_FORWARDED);
	env_close(&e);
}
END_TEST

START_TEST(abandon_counts_queued_as_shutdown)
{
	struct env e;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 2, 0);
	for (i = 0; i < 2; i++)
		offer_c(&e, "p3", i, T0);
	pump(&e);				/* 2 in flight */
	F(e.sink)->answer = SINK_BUSY;
	for (i = 0; i < 3; i++)
		offer_c(&e, "p3", 10 + i, T0);
	for (i = 0; i < 2; i++)
		offer_c(&e, "p5", i, T0);
	pump(&e);
	expect(&e, "p3", 5, 0, 3, 2, 0, 0, 0);
	shaper_abandon(e.sh);
	expect(&e, "p3", 5, 0, 0, 2, 0, 0, 3);
	expect(&e, "p5", 2, 0, 0, 0, 0, 0, 2);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SHUTDOWN], 3);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_SHUTDOWN], 2);
	ck_assert_int_eq(shaper_idle(e.sh), 0);
	/* The sink goes away holding two: they come back aborted. */
	sink_free(e.sink);
	e.sink = NULL;
	expect(&e, "p3", 5, 0, 0, 0, 0, 0, 5);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SHUTDOWN], 5);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

START_TEST(swap_rules_keeps_state)
{
	struct env e;
	struct ruleset *rs;
	struct record *rec;
	const char *v1 =
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":10,"
	    "\"burst\":5,\"match\":[{\"field\":\"c\",\"regex\":\"^a$\"}]}],"
	    "\"default\":{\"name\":\"other\",\"priority\":6}}";
	const char *v2 =
	    "{\"classes\":[{\"name\":\"b\",\"priority\":1,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^b$\"}]},"
	    "{\"name\":\"a\",\"priority\":7,\"rate\":10,"
	    "\"burst\":5,\"match\":[{\"field\":\"c\",\"regex\":\"^a$\"}]}],"
	    "\"default\":{\"name\":\"other\",\"priority\":6}}";
	const char *v3 =
	    "{\"classes\":[{\"name\":\"b\",\"priority\":1,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^b$\"}]}],"
	    "\"default\":{\"name\":\"other\",\"priority\":6}}";
	int i;

	env_open(&e, v1, 0, 0, 0, 0);
	F(e.sink)->answer = SINK_BUSY;
	for (i = 0; i < 3; i++)
		offer_c(&e, "a", i, T0);
	pump(&e);
	expect(&e, "a", 3, 0, 3, 0, 0, 0, 0);
	ck_assert_ptr_null(shaper_class(e.sh, "b"));

	shaper_swap_rules(e.sh, load(v2), T0);
	ck_assert_uint_eq(e.sh->revision, 2);
	expect(&e, "a", 3, 0, 3, 0, 0, 0, 0);
	expect(&e, "b", 0, 0, 0, 0, 0, 0, 0);
	ck_assert_int_eq(cls(&e, "a")->priority, 7);
	/* No fresh burst: 2 tokens were left. */
	for (i = 3; i < 8; i++)
		offer_c(&e, "a", i, T0);
	expect(&e, "a", 8, 0, 5, 0, 3, 0, 0);
	offer_c(&e, "b", 0, T0);
	expect(&e, "b", 1, 0, 1, 0, 0, 0, 0);

	/* a removed: its events go to the default, its counters stay. */
	shaper_swap_rules(e.sh, load(v3), T0 + 100 * MS);
	ck_assert_uint_eq(e.sh->revision, 3);
	ck_assert_int_eq(cls(&e, "a")->active, 0);
	offer_c(&e, "a", 100, T0 + 100 * MS);
	expect(&e, "other", 1, 0, 1, 0, 0, 0, 0);
	expect(&e, "a", 8, 0, 5, 0, 3, 0, 0);

	/* Queued events keep their class through both reloads. */
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	expect(&e, "a", 8, 0, 0, 5, 3, 0, 0);
	TAILQ_FOREACH(rec, &F(e.sink)->held, link)
		if (strstr(rec->data, "\"a\"") != NULL &&
		    strstr(rec->data, "100") == NULL)
			ck_assert_ptr_eq(rec->cls, cls(&e, "a"));
	ack(e.sink, 7, SINK_FORWARDED);
	expect(&e, "a", 8, 5, 0, 0, 3, 0, 0);
	expect(&e, "b", 1, 1, 0, 0, 0, 0, 0);
	expect(&e, "other", 1, 1, 0, 0, 0, 0, 0);

	/* a back again: same counters, bucket refilled only by time
	 * (0 tokens at T0, +2 by T0 + 200 ms), not a fresh burst. */
	rs = load(v2);
	shaper_swap_rules(e.sh, rs, T0 + 200 * MS);
	ck_assert_uint_eq(e.sh->revision, 4);
	ck_assert_int_eq(cls(&e, "a")->active, 1);
	for (i = 200; i < 205; i++)
		offer_c(&e, "a", i, T0 + 200 * MS);
	expect(&e, "a", 13, 5, 2, 0, 6, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(swap_rules_new_limits_apply)
{
	struct env e;
	int i;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":100,"
	    "\"match\":[]}]}", 0, 0, 0, 0);
	for (i = 0; i < 10; i++)
		offer_c(&e, "a", i, T0);		/* 90 left */
	/* Smaller burst: clamped to 3. */
	shaper_swap_rules(e.sh, load("{\"classes\":[{\"name\":\"a\","
	    "\"priority\":2,\"rate\":3,\"match\":[]}]}"), T0);
	for (i = 0; i < 10; i++)
		offer_c(&e, "a", i, T0);
	expect(&e, "a", 20, 0, 13, 0, 7, 0, 0);
	/* Unlimited now. */
	shaper_swap_rules(e.sh, load("{\"classes\":[{\"name\":\"a\","
	    "\"priority\":2,\"match\":[]}]}"), T0);
	for (i = 0; i < 10; i++)
		offer_c(&e, "a", i, T0);
	expect(&e, "a", 30, 0, 23, 0, 7, 0, 0);
	ck_assert_uint_eq(e.sh->revision, 3);
	env_close(&e);
}
END_TEST

START_TEST(invalid_lines)
{
	struct env e;
	char expect_log[512];
	struct record *rec;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(offer(&e, "not json", T0), SHAPER_QUEUED);
	offer(&e, "{\"c\":\"p0\"} x", T0);		/* trailing bytes */
	offer(&e, "[1,2]", T0);				/* not an object */
	ck_assert_int_eq(shaper_offer(e.sh, "bad \"\xff\"", 7, NULL, 0,
	    SOURCE_HTTP, T0), SHAPER_QUEUED);
	expect(&e, "_invalid", 4, 0, 4, 0, 0, 0, 0);
	expect(&e, "p0", 0, 0, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(e.sh->parse_errors[SOURCE_TCP], 3);
	ck_assert_uint_eq(e.sh->parse_errors[SOURCE_HTTP], 1);
	pump(&e);
	snprintf(expect_log, sizeof(expect_log), "%s\n%s\n%s\n%s\n",
	    "{\"message\":\"not json\",\"tags\":[\"_jsonparsefailure\"]}",
	    "{\"message\":\"{\\\"c\\\":\\\"p0\\\"} x\","
	    "\"tags\":[\"_jsonparsefailure\"]}",
	    "{\"message\":\"[1,2]\",\"tags\":[\"_jsonparsefailure\"]}",
	    "{\"message\":\"bad \\\"\\ufffd\\\"\","
	    "\"tags\":[\"_jsonparsefailure\"]}");
	ck_assert_str_eq(F(e.sink)->log, expect_log);
	TAILQ_FOREACH(rec, &F(e.sink)->held, link) {
		ck_assert_int_eq(rec->invalid, 1);
		ck_assert_ptr_null(rec->json);
		ck_assert_int_eq(rec->priority, 8);
	}
	expect(&e, "_invalid", 4, 0, 0, 4, 0, 0, 0);
	ack(e.sink, 4, SINK_FORWARDED);
	expect(&e, "_invalid", 4, 4, 0, 0, 0, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(invalid_class_rate)
{
	struct env e;
	int i;

	env_open(&e, "{\"classes\":[],\"invalid\":{\"priority\":8,"
	    "\"rate\":1,\"burst\":2}}", 0, 0, 0, 0);
	for (i = 0; i < 5; i++)
		offer(&e, "{{{", T0);
	expect(&e, "_invalid", 5, 0, 2, 0, 3, 0, 0);
	ck_assert_uint_eq(e.sh->parse_errors[SOURCE_TCP], 5);
	env_close(&e);
}
END_TEST

START_TEST(too_large)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	shaper_too_large(e.sh, SOURCE_TCP);
	shaper_too_large(e.sh, SOURCE_HTTP);
	identity(e.sh);
	expect(&e, "_invalid", 2, 0, 0, 0, 0, 0, 2);
	ck_assert_uint_eq(cls(&e, "_invalid")->dropped[REASON_TOO_LARGE], 2);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

START_TEST(divert_shed_events)
{
	struct env e;
	int i;

	env_open(&e,
	    "{\"classes\":["
	    "{\"name\":\"d\",\"priority\":9,\"rate\":1,\"burst\":1,"
	    "\"on_limit\":\"divert\","
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^d$\"}]},"
	    "{\"name\":\"k\",\"priority\":9,\"rate\":1,\"burst\":1,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^k$\"}]}]}", 0, 0, 0, 1);
	for (i = 0; i < 3; i++)
		offer_c(&e, "d", i, T0);
	for (i = 0; i < 3; i++)
		offer_c(&e, "k", i, T0);
	expect(&e, "d", 3, 0, 1, 0, 2, 0, 0);
	expect(&e, "k", 3, 0, 1, 0, 2, 0, 0);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 2);
	ck_assert_uint_eq(cls(&e, "k")->diverted, 0);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"d\",\"n\":0}\n{\"c\":\"k\",\"n\":0}\n");
	ck_assert_str_eq(F(e.divert)->log,
	    "{\"c\":\"d\",\"n\":1}\n{\"c\":\"d\",\"n\":2}\n");
	/* The divert sink's outcome changes no counter. */
	ack(e.divert, 1, SINK_FORWARDED);
	ack(e.divert, 1, SINK_ERROR);
	expect(&e, "d", 3, 0, 0, 1, 2, 0, 0);
	ack(e.sink, 2, SINK_FORWARDED);
	expect(&e, "d", 3, 1, 0, 0, 2, 0, 0);
	expect(&e, "k", 3, 1, 0, 0, 2, 0, 0);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 2);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

START_TEST(divert_queue_full_victim)
{
	struct env e;

	env_open(&e,
	    "{\"classes\":["
	    "{\"name\":\"hi\",\"priority\":0,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^hi$\"}]},"
	    "{\"name\":\"d\",\"priority\":9,\"on_limit\":\"divert\","
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^d$\"}]}]}", 2, 0, 0, 1);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "d", 0, T0);
	offer_c(&e, "d", 1, T0);
	pump(&e);
	offer_c(&e, "hi", 0, T0);
	expect(&e, "d", 2, 0, 1, 0, 0, 1, 0);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 1);
	pump(&e);
	ck_assert_str_eq(F(e.divert)->log, "{\"c\":\"d\",\"n\":1}\n");
	/* With the divert sink busy, shed events wait, in order. */
	F(e.divert)->answer = SINK_BUSY;
	offer_c(&e, "hi", 1, T0);			/* evicts d n=0 */
	expect(&e, "d", 2, 0, 0, 0, 0, 2, 0);
	pump(&e);
	ck_assert_str_eq(F(e.divert)->log, "{\"c\":\"d\",\"n\":1}\n");
	F(e.divert)->answer = SINK_OK;
	sink_ready(e.divert);
	pump(&e);
	ck_assert_str_eq(F(e.divert)->log,
	    "{\"c\":\"d\",\"n\":1}\n{\"c\":\"d\",\"n\":0}\n");
	ck_assert_uint_eq(cls(&e, "d")->diverted, 2);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	env_close(&e);
}
END_TEST

START_TEST(divert_without_sink_drops)
{
	struct env e;
	int i;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"d\",\"priority\":9,\"rate\":1,"
	    "\"burst\":1,\"on_limit\":\"divert\",\"match\":[]}]}", 0, 0, 0, 0);
	for (i = 0; i < 4; i++)
		offer_c(&e, "d", i, T0);
	expect(&e, "d", 4, 0, 1, 0, 3, 0, 0);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 0);
	env_close(&e);
}
END_TEST

START_TEST(rates_from_ticks)
{
	struct env e;
	double r[3];
	int i;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":10,"
	    "\"burst\":10,\"match\":[]}]}", 0, 0, 0, 0);
	shaper_tick(e.sh, T0);
	for (i = 0; i < 30; i++)
		offer_c(&e, "a", i, T0);
	pump(&e);
	ack(e.sink, 10, SINK_FORWARDED);
	shaper_tick(e.sh, T0 + NS);
	shaper_rates(e.sh, cls(&e, "a"), 1, r);
	ck_assert_double_eq(r[0], 30);
	ck_assert_double_eq(r[1], 10);
	ck_assert_double_eq(r[2], 20);
	shaper_tick(e.sh, T0 + 2 * NS);
	shaper_rates(e.sh, cls(&e, "a"), 2, r);
	ck_assert_double_eq(r[0], 15);
	ck_assert_double_eq(r[1], 5);
	ck_assert_double_eq(r[2], 10);
	shaper_rates(e.sh, cls(&e, "a"), 1, r);
	ck_assert_double_eq(r[0], 0);
	env_close(&e);
}
END_TEST

/* --- acked events: the source is told each event's fate once ---------- */

#define ACKS_MAX	16

/* What ack functions were told, in order. */
struct acks {
	size_t		 n;
	struct {
		uint64_t		 token;
		enum record_fate	 fate;
		enum reason		 reason;
		int			 has_ans;
		int			 has_text;
		char			 text[256];
		size_t			 len;
		int			 status;
	}		 got[ACKS_MAX];
};

static void
acks_fn(void *arg, uint64_t token, enum record_fate fate, enum reason reason,
    const struct record_answer *ans)
{
	struct acks *a = arg;

	ck_assert_uint_lt(a->n, ACKS_MAX);
	a->got[a->n].token = token;
	a->got[a->n].fate = fate;
	a->got[a->n].reason = reason;
	if (ans != NULL) {
		a->got[a->n].has_ans = 1;
		a->got[a->n].status = ans->status;
		a->got[a->n].len = ans->len;
		if (ans->text != NULL) {
			ck_assert_uint_lt(ans->len, sizeof(a->got[0].text));
			a->got[a->n].has_text = 1;
			memcpy(a->got[a->n].text, ans->text, ans->len);
			a->got[a->n].text[ans->len] = '\0';
		}
	}
	a->n++;
}

/* The i-th call told token its fate for reason, without an answer. */
static void
told(const struct acks *a, size_t i, uint64_t token, enum record_fate fate,
    enum reason reason)
{
	ck_assert_uint_lt(i, a->n);
	ck_assert_uint_eq(a->got[i].token, token);
	ck_assert_int_eq(a->got[i].fate, fate);
	ck_assert_int_eq(a->got[i].reason, reason);
}

/* ...and with the answer text (len bytes) and status. */
static void
told_answer(const struct acks *a, size_t i, const char *text, int status)
{
	ck_assert_int_eq(a->got[i].has_ans, 1);
	ck_assert_int_eq(a->got[i].has_text, 1);
	ck_assert_uint_eq(a->got[i].len, strlen(text));
	ck_assert_str_eq(a->got[i].text, text);
	ck_assert_int_eq(a->got[i].status, status);
}

static enum shaper_verdict
offer_acked(struct env *e, const char *line, const struct record_ack *ra,
    uint64_t token, struct record **held, uint64_t now)
{
	enum shaper_verdict v;

	v = shaper_offer_acked(e->sh, line, strlen(line), NULL, 0,
	    SOURCE_HTTP, ra, token, held, now);
	identity(e->sh);
	return v;
}

/* Hand the first held record back with outcome and the sink's answer. */
static struct record *
ack_answer(struct sink *s, enum sink_outcome outcome,
    const struct record_answer *ans)
{
	struct fake *f = s->priv;
	struct record *rec;

	ck_assert_ptr_nonnull(rec = TAILQ_FIRST(&f->held));
	TAILQ_REMOVE(&f->held, rec, link);
	f->nheld--;
	sink_done_answer(s, rec, outcome, ans);
	return rec;
}

#define TOK1	0x0123456789abcdefULL
#define TOK2	0xfedcba9876543210ULL

START_TEST(acked_forwarded_with_answer)
{
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a, RECORD_ACK_ANSWER };
	struct record *held = NULL;
	const char *text = "{\"status\":201}";

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"p3\",\"n\":1}", &ra, TOK1,
	    &held, T0), SHAPER_QUEUED);
	ck_assert_ptr_nonnull(held);
	ck_assert_uint_eq(a.n, 0);
	expect(&e, "p3", 1, 0, 1, 0, 0, 0, 0);
	pump(&e);
	ck_assert_ptr_eq(TAILQ_FIRST(&F(e.sink)->held), held);
	ck_assert_uint_eq(a.n, 0);
	expect(&e, "p3", 1, 0, 0, 1, 0, 0, 0);
	ack_answer(e.sink, SINK_FORWARDED,
	    &(struct record_answer){ text, 14, 201 });
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, TOK1, RECORD_FORWARDED, REASON_MAX);
	told_answer(&a, 0, text, 201);
	expect(&e, "p3", 1, 1, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	/* Exactly once: closing tells nothing more. */
	ck_assert_uint_eq(a.n, 1);
}
END_TEST

START_TEST(acked_rejected_with_answer)
{
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a, RECORD_ACK_ANSWER };
	struct record *held = NULL;
	const char *text = "{\"_index\":\"a\",\"status\":400,\"error\":"
	    "{\"type\":\"document_parsing_exception\",\"reason\":\"r\"}}";

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"p5\",\"n\":1}", &ra, TOK2,
	    &held, T0), SHAPER_QUEUED);
	pump(&e);
	ack_answer(e.sink, SINK_REJECTED,
	    &(struct record_answer){ text, strlen(text), 400 });
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, TOK2, RECORD_REJECTED, REASON_SINK_REJECTED);
	told_answer(&a, 0, text, 400);
	expect(&e, "p5", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_SINK_REJECTED], 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 1);
}
END_TEST

/*
 * A sender that resends what is not delivered loses nothing when the
 * sink gives up: unacknowledged, not sink_error.  Without the flag the
 * loss is the sink's.  Either way the sender hears RECORD_FAILED.
 */
START_TEST(acked_sink_error_resends_or_not)
{
	struct env e;
	struct acks a;
	struct record_ack resends = { acks_fn, &a, RECORD_ACK_RESENDS };
	struct record_ack plain = { acks_fn, &a, RECORD_ACK_ANSWER };
	struct record *h1 = NULL, *h2 = NULL;

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	offer_acked(&e, "{\"c\":\"p3\",\"n\":1}", &resends, 1, &h1, T0);
	offer_acked(&e, "{\"c\":\"p5\",\"n\":1}", &plain, 2, &h2, T0);
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	ck_assert_ptr_ne(h1, h2);
	pump(&e);
	ck_assert_ptr_eq(ack_answer(e.sink, SINK_ERROR, NULL), h1);
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, 1, RECORD_FAILED, REASON_UNACKNOWLEDGED);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_UNACKNOWLEDGED], 1);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SINK_ERROR], 0);
	expect(&e, "p3", 1, 0, 0, 0, 0, 0, 1);

	ck_assert_ptr_eq(ack_answer(e.sink, SINK_ERROR, NULL), h2);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 1, 2, RECORD_FAILED, REASON_SINK_ERROR);
	ck_assert_int_eq(a.got[1].has_ans, 0);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_SINK_ERROR], 1);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_UNACKNOWLEDGED], 0);
	expect(&e, "p5", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 2);
}
END_TEST

START_TEST(abandon_resends_counts_unacknowledged)
{
	struct env e;
	struct acks a;
	struct record_ack resends = { acks_fn, &a, RECORD_ACK_RESENDS };
	struct record_ack plain = { acks_fn, &a, 0 };
	struct record *h1 = NULL, *h2 = NULL;

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_acked(&e, "{\"c\":\"p3\",\"n\":1}", &resends, 11, &h1, T0);
	offer_acked(&e, "{\"c\":\"p5\",\"n\":1}", &plain, 12, &h2, T0);
	pump(&e);
	expect(&e, "p3", 1, 0, 1, 0, 0, 0, 0);
	expect(&e, "p5", 1, 0, 1, 0, 0, 0, 0);
	ck_assert_uint_eq(a.n, 0);
	shaper_abandon(e.sh);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 0, 11, RECORD_FAILED, REASON_UNACKNOWLEDGED);
	told(&a, 1, 12, RECORD_FAILED, REASON_SHUTDOWN);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_UNACKNOWLEDGED], 1);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_SHUTDOWN], 0);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_SHUTDOWN], 1);
	ck_assert_uint_eq(cls(&e, "p5")->dropped[REASON_UNACKNOWLEDGED], 0);
	expect(&e, "p3", 1, 0, 0, 0, 0, 0, 1);
	expect(&e, "p5", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	F(e.sink)->answer = SINK_OK;
	env_close(&e);
	ck_assert_uint_eq(a.n, 2);
}
END_TEST

/* Shed without being queued: told at once, and held is left alone. */
START_TEST(acked_shed_at_once)
{
	static char sentinel;
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a,
	    RECORD_ACK_ANSWER | RECORD_ACK_RESENDS };
	struct record *held = NULL, *const mark = (struct record *)&sentinel;

	memset(&a, 0, sizeof(a));
	env_open(&e,
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":10,"
	    "\"burst\":1,\"match\":[]}]}", 0, 0, 0, 0);
	ck_assert_int_eq(offer_acked(&e, "{\"n\":1}", &ra, 1, &held, T0),
	    SHAPER_QUEUED);
	ck_assert_ptr_nonnull(held);
	ck_assert_uint_eq(a.n, 0);

	held = mark;
	ck_assert_int_eq(offer_acked(&e, "{\"n\":2}", &ra, 2, &held, T0),
	    SHAPER_SHED);
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, 2, RECORD_SHED, REASON_RATE_LIMIT);
	ck_assert_int_eq(a.got[0].has_ans, 0);
	ck_assert_ptr_eq(held, mark);
	expect(&e, "a", 2, 0, 1, 0, 1, 0, 0);

	/* NULL stays NULL, too. */
	held = NULL;
	ck_assert_int_eq(offer_acked(&e, "{\"n\":3}", &ra, 3, &held, T0),
	    SHAPER_SHED);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 1, 3, RECORD_SHED, REASON_RATE_LIMIT);
	ck_assert_ptr_null(held);
	expect(&e, "a", 3, 0, 1, 0, 2, 0, 0);

	/* Nothing more is told for them later. */
	pump(&e);
	ack(e.sink, 1, SINK_FORWARDED);
	ck_assert_uint_eq(a.n, 3);
	told(&a, 2, 1, RECORD_FORWARDED, REASON_MAX);
	expect(&e, "a", 3, 1, 0, 0, 2, 0, 0);
	env_close(&e);
	ck_assert_uint_eq(a.n, 3);
}
END_TEST

/*
 * Shed with a record of its own (diverted, or refused by a full queue):
 * still told at once, and held still left alone.  A queued event evicted
 * later is told then.
 */
START_TEST(acked_shed_with_record)
{
	static char sentinel;
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a, RECORD_ACK_RESENDS };
	struct record *held = NULL, *h5 = NULL;
	struct record *const mark = (struct record *)&sentinel;

	memset(&a, 0, sizeof(a));
	env_open(&e,
	    "{\"classes\":["
	    "{\"name\":\"d\",\"priority\":9,\"rate\":1,\"burst\":1,"
	    "\"on_limit\":\"divert\","
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^d$\"}]},"
	    "{\"name\":\"p0\",\"priority\":0,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p0$\"}]},"
	    "{\"name\":\"p5\",\"priority\":5,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p5$\"}]}]}", 2, 0, 0, 1);
	F(e.sink)->answer = SINK_BUSY;
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"d\",\"n\":1}", &ra, 1,
	    &held, T0), SHAPER_QUEUED);
	ck_assert_ptr_nonnull(held);

	/* Over its rate: diverted, told shed (rate_limit) at once. */
	held = mark;
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"d\",\"n\":2}", &ra, 2,
	    &held, T0), SHAPER_SHED);
	ck_assert_ptr_eq(held, mark);
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, 2, RECORD_SHED, REASON_RATE_LIMIT);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 1);
	expect(&e, "d", 2, 0, 1, 0, 1, 0, 0);

	/* The queue holds 2: p5 fits beside d. */
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"p5\",\"n\":1}", &ra, 3,
	    &h5, T0), SHAPER_QUEUED);
	ck_assert_ptr_nonnull(h5);
	ck_assert_uint_eq(a.n, 1);

	/* p0 evicts the queued d (priority 9): its sender hears it now. */
	held = NULL;
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"p0\",\"n\":1}", &ra, 4,
	    &held, T0), SHAPER_QUEUED);
	ck_assert_ptr_nonnull(held);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 1, 1, RECORD_SHED, REASON_QUEUE_FULL);
	expect(&e, "d", 2, 0, 0, 0, 1, 1, 0);

	/* Another p5 finds nothing lower to evict: shed at once. */
	held = mark;
	ck_assert_int_eq(offer_acked(&e, "{\"c\":\"p5\",\"n\":2}", &ra, 5,
	    &held, T0), SHAPER_SHED);
	ck_assert_ptr_eq(held, mark);
	ck_assert_uint_eq(a.n, 3);
	told(&a, 2, 5, RECORD_SHED, REASON_QUEUE_FULL);
	expect(&e, "p5", 2, 0, 1, 0, 0, 1, 0);

	/* What the divert sink does with shed events tells nothing more. */
	pump(&e);
	ack(e.divert, F(e.divert)->nheld, SINK_FORWARDED);
	ck_assert_uint_eq(a.n, 3);
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ack(e.sink, 2, SINK_FORWARDED);
	ck_assert_uint_eq(a.n, 5);
	/* p0 (token 4) is served before the earlier p5 (token 3). */
	told(&a, 3, 4, RECORD_FORWARDED, REASON_MAX);
	told(&a, 4, 3, RECORD_FORWARDED, REASON_MAX);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 5);
}
END_TEST

START_TEST(cancel_queued_record)
{
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a, RECORD_ACK_RESENDS };
	struct record *h1 = NULL, *h2 = NULL;

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_acked(&e, "{\"c\":\"p3\",\"n\":1}", &ra, 1, &h1, T0);
	offer_acked(&e, "{\"c\":\"p3\",\"n\":2}", &ra, 2, &h2, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	expect(&e, "p3", 2, 0, 2, 0, 0, 0, 0);

	ck_assert_int_eq(shaper_cancel(e.sh, h1), 0);
	ck_assert_uint_eq(a.n, 0);
	expect(&e, "p3", 2, 0, 1, 0, 0, 0, 1);
	ck_assert_uint_eq(cls(&e, "p3")->dropped[REASON_UNACKNOWLEDGED], 1);
	ck_assert_uint_eq(e.sh->q.events, 1);
	ck_assert_uint_eq(e.sh->q.bytes, strlen("{\"c\":\"p3\",\"n\":2}"));

	/* Only the other one goes out. */
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log, "{\"c\":\"p3\",\"n\":2}\n");
	ck_assert_ptr_eq(TAILQ_FIRST(&F(e.sink)->held), h2);
	ack(e.sink, 1, SINK_FORWARDED);
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, 2, RECORD_FORWARDED, REASON_MAX);
	expect(&e, "p3", 2, 1, 0, 0, 0, 0, 1);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 1);
}
END_TEST

START_TEST(cancel_record_with_sink)
{
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a,
	    RECORD_ACK_ANSWER | RECORD_ACK_RESENDS };
	struct record *held = NULL;

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	offer_acked(&e, "{\"c\":\"p3\",\"n\":1}", &ra, 1, &held, T0);
	pump(&e);
	expect(&e, "p3", 1, 0, 0, 1, 0, 0, 0);
	ck_assert_ptr_eq(TAILQ_FIRST(&F(e.sink)->held), held);

	ck_assert_int_eq(shaper_cancel(e.sh, held), -1);
	ck_assert_uint_eq(a.n, 0);
	/* It stays with the sink, counted by what the sink does. */
	expect(&e, "p3", 1, 0, 0, 1, 0, 0, 0);
	ck_assert_uint_eq(F(e.sink)->nheld, 1);
	ack_answer(e.sink, SINK_FORWARDED,
	    &(struct record_answer){ "{\"status\":201}", 14, 201 });
	ck_assert_uint_eq(a.n, 0);
	expect(&e, "p3", 1, 1, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 0);
}
END_TEST

START_TEST(unshaped_acked_with_answer)
{
	struct env e;
	struct acks a;
	struct record_ack ra = { acks_fn, &a, RECORD_ACK_ANSWER };
	struct record *h1 = NULL, *h2 = NULL;
	const char *act = "{\"update\":{\"_index\":\"a\",\"_id\":\"1\"}}";
	const char *src = "{\"doc\":{\"x\":1}}";
	const char *del = "{\"delete\":{\"_index\":\"a\",\"_id\":\"2\"}}";
	const char *t1 = "{\"_index\":\"a\",\"_id\":\"1\",\"result\":"
	    "\"updated\",\"status\":200}";
	const char *t2 = "{\"_index\":\"a\",\"_id\":\"2\",\"result\":"
	    "\"not_found\",\"status\":404}";

	memset(&a, 0, sizeof(a));
	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_offer_unshaped(e.sh, src, strlen(src), act,
	    strlen(act), &ra, TOK1, &h1, T0), SHAPER_QUEUED);
	ck_assert_int_eq(shaper_offer_unshaped(e.sh, NULL, 0, del,
	    strlen(del), &ra, TOK2, &h2, T0), SHAPER_QUEUED);
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	ck_assert_ptr_eq(h1->cls, cls(&e, "_spillway"));
	ck_assert_int_eq(h1->bare, 0);
	ck_assert_int_eq(h2->bare, 1);
	expect(&e, "_spillway", 2, 0, 2, 0, 0, 0, 0);
	ck_assert_uint_eq(a.n, 0);
	pump(&e);
	expect(&e, "_spillway", 2, 0, 0, 2, 0, 0, 0);
	ck_assert_ptr_eq(ack_answer(e.sink, SINK_FORWARDED,
	    &(struct record_answer){ t1, strlen(t1), 200 }), h1);
	ck_assert_uint_eq(a.n, 1);
	told(&a, 0, TOK1, RECORD_FORWARDED, REASON_MAX);
	told_answer(&a, 0, t1, 200);
	ck_assert_ptr_eq(ack_answer(e.sink, SINK_FORWARDED,
	    &(struct record_answer){ t2, strlen(t2), 404 }), h2);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 1, TOK2, RECORD_FORWARDED, REASON_MAX);
	told_answer(&a, 1, t2, 404);
	expect(&e, "_spillway", 2, 2, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 2);
}
END_TEST

/* --- service order, expiry and lag ------------------------------------ */

/*
 * The clock the shaper reads itself (the pump's "now", the end of an
 * event's lag), set by the test.
 */
static uint64_t fake_ns;

static uint64_t
fake_clock(void)
{
	return fake_ns;
}

/* Set the fake clock to now and make the shaper read it. */
static void
clock_at(struct env *e, uint64_t now)
{
	fake_ns = now;
	shaper_set_clock(e->sh, fake_clock);
}

/* The most important first, FIFO within one priority. */
START_TEST(serves_by_priority)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p5", 1, T0);
	offer_c(&e, "p0", 2, T0);
	offer_c(&e, "p9", 3, T0);
	offer_c(&e, "p0", 4, T0);
	offer_c(&e, "p5", 5, T0);
	pump(&e);
	/* Refused twice: the batch, then its priority 0 alone. */
	ck_assert_uint_eq(F(e.sink)->submits, 2);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	expect(&e, "p0", 2, 0, 2, 0, 0, 0, 0);
	expect(&e, "p5", 2, 0, 2, 0, 0, 0, 0);
	expect(&e, "p9", 1, 0, 1, 0, 0, 0, 0);

	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 1);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 5);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":2}\n{\"c\":\"p0\",\"n\":4}\n"
	    "{\"c\":\"p5\",\"n\":1}\n{\"c\":\"p5\",\"n\":5}\n"
	    "{\"c\":\"p9\",\"n\":3}\n");
	expect(&e, "p0", 2, 0, 0, 2, 0, 0, 0);
	expect(&e, "p5", 2, 0, 0, 2, 0, 0, 0);
	expect(&e, "p9", 1, 0, 0, 1, 0, 0, 0);
	ack(e.sink, 5, SINK_FORWARDED);
	expect(&e, "p0", 2, 2, 0, 0, 0, 0, 0);
	expect(&e, "p5", 2, 2, 0, 0, 0, 0, 0);
	expect(&e, "p9", 1, 1, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/*
 * Batch after batch in priority order; a batch the sink refused goes
 * back where it came from, so what arrives later of a more important
 * priority still passes what it held of a less important one.
 */
START_TEST(serves_by_priority_across_batches)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 2, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p5", 1, T0);
	offer_c(&e, "p0", 2, T0);
	offer_c(&e, "p9", 3, T0);
	offer_c(&e, "p0", 4, T0);
	offer_c(&e, "p5", 5, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 2);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 3);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[1], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[2], 1);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":2}\n{\"c\":\"p0\",\"n\":4}\n"
	    "{\"c\":\"p5\",\"n\":1}\n{\"c\":\"p5\",\"n\":5}\n"
	    "{\"c\":\"p9\",\"n\":3}\n");
	ack(e.sink, 5, SINK_FORWARDED);

	/* Busy again: the first batch, p0 8 and p5 7, comes back (and
	 * p0 8 alone after it). */
	F(e.sink)->answer = SINK_BUSY;
	F(e.sink)->loglen = 0;
	F(e.sink)->log[0] = '\0';
	offer_c(&e, "p9", 6, T0);
	offer_c(&e, "p5", 7, T0);
	offer_c(&e, "p0", 8, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 7);
	ck_assert_uint_eq(F(e.sink)->batches, 3);
	expect(&e, "p5", 3, 2, 1, 0, 0, 0, 0);
	offer_c(&e, "p0", 9, T0);
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 5);
	ck_assert_uint_eq(F(e.sink)->sizes[3], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[4], 2);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":8}\n{\"c\":\"p0\",\"n\":9}\n"
	    "{\"c\":\"p5\",\"n\":7}\n{\"c\":\"p9\",\"n\":6}\n");
	ack(e.sink, 4, SINK_FORWARDED);
	expect(&e, "p0", 4, 4, 0, 0, 0, 0, 0);
	expect(&e, "p5", 3, 3, 0, 0, 0, 0, 0);
	expect(&e, "p9", 2, 2, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/*
 * A busy sink is still offered priority 0 alone, once per pump; what it
 * takes goes ahead of the less important events still queued.
 */
START_TEST(busy_sink_offered_priority_zero)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	F(e.sink)->take_p0 = 1;
	offer_c(&e, "p5", 1, T0);
	offer_c(&e, "p0", 2, T0);
	offer_c(&e, "p9", 3, T0);
	offer_c(&e, "p0", 4, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 2);
	ck_assert_uint_eq(F(e.sink)->batches, 1);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":2}\n{\"c\":\"p0\",\"n\":4}\n");
	expect(&e, "p0", 2, 0, 0, 2, 0, 0, 0);
	expect(&e, "p5", 1, 0, 1, 0, 0, 0, 0);
	expect(&e, "p9", 1, 0, 1, 0, 0, 0, 0);
	/* Another p0 while busy: offered alone, taken. */
	offer_c(&e, "p0", 5, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 3);
	ck_assert_uint_eq(F(e.sink)->batches, 2);
	/* No p0 queued: nothing is offered to the busy sink. */
	offer_c(&e, "p9", 6, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 3);
	expect(&e, "p9", 2, 0, 2, 0, 0, 0, 0);

	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":2}\n{\"c\":\"p0\",\"n\":4}\n"
	    "{\"c\":\"p0\",\"n\":5}\n{\"c\":\"p5\",\"n\":1}\n"
	    "{\"c\":\"p9\",\"n\":3}\n{\"c\":\"p9\",\"n\":6}\n");
	ack(e.sink, 6, SINK_FORWARDED);
	expect(&e, "p0", 3, 3, 0, 0, 0, 0, 0);
	expect(&e, "p9", 2, 2, 0, 0, 0, 0, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/*
 * A full queue evicts the newest of the least important; what is left is
 * served most important first, in arrival order within a priority.  The
 * evicted were queued, so their lag counts; an arrival refused at once
 * was not.
 */
START_TEST(queue_full_evicts_then_serves_by_priority)
{
	struct env e;

	env_open(&e, PRIO_RULES, 4, 0, 2, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p9", 1, T0);
	offer_c(&e, "p5", 2, T0);
	offer_c(&e, "p9", 3, T0);
	offer_c(&e, "p0", 4, T0);
	pump(&e);
	ck_assert_uint_eq(e.sh->q.events, 4);
	/* p3 evicts the newest p9 (n=3), p0 the other p9 (n=1). */
	ck_assert_int_eq(offer_c(&e, "p3", 5, T0), SHAPER_QUEUED);
	expect(&e, "p9", 2, 0, 1, 0, 0, 1, 0);
	ck_assert_int_eq(offer_c(&e, "p0", 6, T0), SHAPER_QUEUED);
	expect(&e, "p9", 2, 0, 0, 0, 0, 2, 0);
	/* p5 finds only p5 at the bottom: refused itself. */
	ck_assert_int_eq(offer_c(&e, "p5", 7, T0), SHAPER_SHED);
	expect(&e, "p5", 2, 0, 1, 0, 0, 1, 0);
	/* p0 evicts the only p5 left (n=2). */
	ck_assert_int_eq(offer_c(&e, "p0", 8, T0), SHAPER_QUEUED);
	expect(&e, "p5", 2, 0, 0, 0, 0, 2, 0);
	expect(&e, "p3", 1, 0, 1, 0, 0, 0, 0);
	expect(&e, "p0", 3, 0, 3, 0, 0, 0, 0);
	ck_assert_uint_eq(e.sh->q.events, 4);
	ck_assert_uint_eq(cls(&e, "p9")->lag_count, 2);
	ck_assert_uint_eq(cls(&e, "p5")->lag_count, 1);
	ck_assert_uint_eq(cls(&e, "p0")->lag_count, 0);

	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->batches, 2);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_uint_eq(F(e.sink)->sizes[1], 2);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"p0\",\"n\":4}\n{\"c\":\"p0\",\"n\":6}\n"
	    "{\"c\":\"p0\",\"n\":8}\n{\"c\":\"p3\",\"n\":5}\n");
	ack(e.sink, 4, SINK_FORWARDED);
	expect(&e, "p0", 3, 3, 0, 0, 0, 0, 0);
	expect(&e, "p3", 1, 1, 0, 0, 0, 0, 0);
	expect(&e, "p5", 2, 0, 0, 0, 0, 2, 0);
	expect(&e, "p9", 2, 0, 0, 0, 0, 2, 0);
	ck_assert_uint_eq(cls(&e, "p0")->lag_count, 3);
	ck_assert_uint_eq(cls(&e, "p3")->lag_count, 1);
	ck_assert_uint_eq(cls(&e, "p5")->lag_count, 1);
	env_close(&e);
}
END_TEST

/*
 * The queue's age is its oldest event's, even after a batch the sink
 * refused went back to the head of the queue.
 */
START_TEST(queue_age_after_busy)
{
	struct env e;

	env_open(&e, PRIO_RULES, 0, 0, 100, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "p9", 1, T0);
	offer_c(&e, "p0", 2, T0 + 10 * MS);
	ck_assert_uint_eq(shaper_queue_age(e.sh, T0 + 100 * MS), 100 * MS);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 2);
	ck_assert_uint_eq(e.sh->q.events, 2);
	ck_assert_uint_eq(shaper_queue_age(e.sh, T0 + 100 * MS), 100 * MS);
	env_close(&e);
}
END_TEST

/*
 * Classes of one priority with and without max_age_ms, one that diverts
 * what it sheds, and a priority-0 class.
 */
static const char *AGE_RULES =
    "{\"classes\":["
    "{\"name\":\"old\",\"priority\":3,\"max_age_ms\":100,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^old$\"}]},"
    "{\"name\":\"keep\",\"priority\":3,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^keep$\"}]},"
    "{\"name\":\"slow\",\"priority\":3,\"max_age_ms\":500,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^slow$\"}]},"
    "{\"name\":\"dv\",\"priority\":3,\"max_age_ms\":100,"
    "\"on_limit\":\"divert\","
    "\"match\":[{\"field\":\"c\",\"regex\":\"^dv$\"}]},"
    "{\"name\":\"p0\",\"priority\":0,"
    "\"match\":[{\"field\":\"c\",\"regex\":\"^p0$\"}]}]}";

static uint64_t
expired(const struct env *e, const char *name)
{
	return cls(e, name)->dropped[REASON_EXPIRED];
}

START_TEST(expire_drops_stale_queued)
{
	struct env e;

	env_open(&e, AGE_RULES, 0, 0, 100, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "slow", 0, T0);
	offer_c(&e, "old", 0, T0);
	offer_c(&e, "keep", 0, T0);
	offer_c(&e, "old", 1, T0);
	offer_c(&e, "old", 2, T0 + 50 * MS);
	pump(&e);
	expect(&e, "old", 3, 0, 3, 0, 0, 0, 0);

	/* Exactly max_age_ms old is not older than it. */
	fake_ns = T0 + 100 * MS;
	shaper_expire(e.sh, T0 + 100 * MS);
	expect(&e, "old", 3, 0, 3, 0, 0, 0, 0);
	ck_assert_uint_eq(expired(&e, "old"), 0);

	fake_ns = T0 + 100 * MS + 1;
	shaper_expire(e.sh, T0 + 100 * MS + 1);
	expect(&e, "old", 3, 0, 1, 0, 0, 0, 2);
	ck_assert_uint_eq(expired(&e, "old"), 2);
	expect(&e, "keep", 1, 0, 1, 0, 0, 0, 0);
	expect(&e, "slow", 1, 0, 1, 0, 0, 0, 0);
	ck_assert_uint_eq(e.sh->q.events, 3);

	/* The one that came 50 ms later goes 50 ms later. */
	fake_ns = T0 + 150 * MS + 1;
	shaper_expire(e.sh, T0 + 150 * MS + 1);
	expect(&e, "old", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_uint_eq(expired(&e, "old"), 3);

	/* The same priority, a longer max_age_ms: its own age. */
	fake_ns = T0 + 500 * MS;
	shaper_expire(e.sh, T0 + 500 * MS);
	expect(&e, "slow", 1, 0, 1, 0, 0, 0, 0);
	fake_ns = T0 + 500 * MS + 1;
	shaper_expire(e.sh, T0 + 500 * MS + 1);
	expect(&e, "slow", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_uint_eq(expired(&e, "slow"), 1);

	/* No max_age_ms: never expires, and goes out in the end. */
	fake_ns = T0 + 3600 * NS;
	shaper_expire(e.sh, T0 + 3600 * NS);
	expect(&e, "keep", 1, 0, 1, 0, 0, 0, 0);
	ck_assert_uint_eq(expired(&e, "keep"), 0);
	ck_assert_uint_eq(e.sh->q.events, 1);
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log, "{\"c\":\"keep\",\"n\":0}\n");
	ack(e.sink, 1, SINK_FORWARDED);
	expect(&e, "keep", 1, 1, 0, 0, 0, 0, 0);
	expect(&e, "old", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_uint_eq(cls(&e, "old")->diverted, 0);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/* The control step expires too. */
START_TEST(expire_in_control)
{
	struct env e;

	env_open(&e, AGE_RULES, 0, 0, 100, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "old", 0, T0);
	offer_c(&e, "keep", 0, T0);
	pump(&e);
	fake_ns = T0 + 250 * MS;
	shaper_control(e.sh, T0 + 250 * MS);
	expect(&e, "old", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_uint_eq(expired(&e, "old"), 1);
	expect(&e, "keep", 1, 0, 1, 0, 0, 0, 0);
	F(e.sink)->answer = SINK_OK;
	env_close(&e);
}
END_TEST

/* What went stale while queued is dropped at hand-off, never sent. */
START_TEST(expire_on_pump)
{
	struct env e;

	env_open(&e, AGE_RULES, 0, 0, 2, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "old", 0, T0);
	offer_c(&e, "keep", 0, T0);
	offer_c(&e, "old", 1, T0);
	offer_c(&e, "old", 2, T0);
	offer_c(&e, "keep", 1, T0);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 1);
	expect(&e, "old", 3, 0, 3, 0, 0, 0, 0);

	fake_ns = T0 + 101 * MS;
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	/* The stale ones are skipped while the batch fills. */
	ck_assert_uint_eq(F(e.sink)->batches, 1);
	ck_assert_uint_eq(F(e.sink)->sizes[0], 2);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"keep\",\"n\":0}\n{\"c\":\"keep\",\"n\":1}\n");
	expect(&e, "old", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_uint_eq(expired(&e, "old"), 3);
	expect(&e, "keep", 2, 0, 0, 2, 0, 0, 0);
	ack(e.sink, 2, SINK_FORWARDED);
	expect(&e, "keep", 2, 2, 0, 0, 0, 0, 0);

	/* Nothing but stale events queued: no batch at all. */
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "old", 3, T0 + 101 * MS);
	offer_c(&e, "old", 4, T0 + 101 * MS);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 3);
	fake_ns = T0 + 300 * MS;
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->submits, 3);
	ck_assert_uint_eq(F(e.sink)->nrecs, 2);
	expect(&e, "old", 5, 0, 0, 0, 0, 0, 5);
	ck_assert_uint_eq(expired(&e, "old"), 5);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/* An expired event of a class that diverts goes to the divert sink. */
START_TEST(expire_diverts)
{
	struct env e;

	env_open(&e, AGE_RULES, 0, 0, 100, 1);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "dv", 0, T0);
	offer_c(&e, "dv", 1, T0);
	offer_c(&e, "old", 0, T0);
	pump(&e);
	fake_ns = T0 + 101 * MS;
	shaper_expire(e.sh, T0 + 101 * MS);
	expect(&e, "dv", 2, 0, 0, 0, 0, 0, 2);
	ck_assert_uint_eq(expired(&e, "dv"), 2);
	ck_assert_uint_eq(cls(&e, "dv")->diverted, 2);
	expect(&e, "old", 1, 0, 0, 0, 0, 0, 1);
	ck_assert_uint_eq(cls(&e, "old")->diverted, 0);
	pump(&e);
	ck_assert_str_eq(F(e.divert)->log,
	    "{\"c\":\"dv\",\"n\":0}\n{\"c\":\"dv\",\"n\":1}\n");

	/* Stale at hand-off: diverted too, not sent to the main sink. */
	offer_c(&e, "dv", 2, T0 + 101 * MS);
	pump(&e);
	fake_ns = T0 + 300 * MS;
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(F(e.sink)->nrecs, 0);
	ck_assert_str_eq(F(e.divert)->log,
	    "{\"c\":\"dv\",\"n\":0}\n{\"c\":\"dv\",\"n\":1}\n"
	    "{\"c\":\"dv\",\"n\":2}\n");
	expect(&e, "dv", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_uint_eq(expired(&e, "dv"), 3);
	ck_assert_uint_eq(cls(&e, "dv")->diverted, 3);
	/* What the divert sink does with them changes no counter. */
	ack(e.divert, 3, SINK_FORWARDED);
	expect(&e, "dv", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/*
 * An acked event that expires is told shed (expired), whether or not
 * its sender resends: it was not lost by the sink or by a shutdown.
 */
START_TEST(expire_tells_ack)
{
	struct env e;
	struct acks a;
	struct record_ack plain = { acks_fn, &a, RECORD_ACK_ANSWER };
	struct record_ack resends = { acks_fn, &a, RECORD_ACK_RESENDS };
	struct record *h1 = NULL, *h2 = NULL, *h3 = NULL, *h4 = NULL;

	memset(&a, 0, sizeof(a));
	env_open(&e, AGE_RULES, 0, 0, 100, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_acked(&e, "{\"c\":\"old\",\"n\":1}", &plain, 1, &h1, T0);
	offer_acked(&e, "{\"c\":\"old\",\"n\":2}", &resends, 2, &h2, T0);
	offer_acked(&e, "{\"c\":\"keep\",\"n\":1}", &plain, 3, &h3, T0);
	ck_assert(h1 != NULL && h2 != NULL && h3 != NULL);
	pump(&e);
	ck_assert_uint_eq(a.n, 0);

	fake_ns = T0 + 101 * MS;
	shaper_expire(e.sh, T0 + 101 * MS);
	ck_assert_uint_eq(a.n, 2);
	told(&a, 0, 1, RECORD_SHED, REASON_EXPIRED);
	told(&a, 1, 2, RECORD_SHED, REASON_EXPIRED);
	ck_assert_int_eq(a.got[0].has_ans, 0);
	ck_assert_int_eq(a.got[1].has_ans, 0);
	ck_assert_uint_eq(expired(&e, "old"), 2);
	ck_assert_uint_eq(cls(&e, "old")->dropped[REASON_UNACKNOWLEDGED], 0);
	expect(&e, "old", 2, 0, 0, 0, 0, 0, 2);

	/* Stale at hand-off: told the same. */
	offer_acked(&e, "{\"c\":\"old\",\"n\":3}", &resends, 4, &h4,
	    T0 + 101 * MS);
	ck_assert_ptr_nonnull(h4);
	fake_ns = T0 + 300 * MS;
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_uint_eq(a.n, 3);
	told(&a, 2, 4, RECORD_SHED, REASON_EXPIRED);
	ck_assert_str_eq(F(e.sink)->log, "{\"c\":\"keep\",\"n\":1}\n");
	ack(e.sink, 1, SINK_FORWARDED);
	ck_assert_uint_eq(a.n, 4);
	told(&a, 3, 3, RECORD_FORWARDED, REASON_MAX);
	expect(&e, "old", 3, 0, 0, 0, 0, 0, 3);
	ck_assert_uint_eq(expired(&e, "old"), 3);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
	ck_assert_uint_eq(a.n, 4);
}
END_TEST

/*
 * A class whose priority changed in a reload: its queued events keep the
 * priority they were queued with, and still expire by its max_age_ms.
 */
START_TEST(expire_after_priority_change)
{
	struct env e;
	const char *v1 =
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"max_age_ms\":100,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^a$\"}]}]}";
	const char *v2 =
	    "{\"classes\":[{\"name\":\"a\",\"priority\":7,\"max_age_ms\":100,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^a$\"}]}]}";

	env_open(&e, v1, 0, 0, 100, 0);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "a", 0, T0);
	offer_c(&e, "a", 1, T0);
	pump(&e);
	shaper_swap_rules(e.sh, load(v2), T0);
	expect(&e, "a", 2, 0, 2, 0, 0, 0, 0);
	fake_ns = T0 + 200 * MS;
	shaper_expire(e.sh, T0 + 200 * MS);
	expect(&e, "a", 2, 0, 0, 0, 0, 0, 2);
	ck_assert_uint_eq(expired(&e, "a"), 2);
	F(e.sink)->answer = SINK_OK;
	env_close(&e);
}
END_TEST

/*
 * An event the sink deferred waits in the queue again, behind younger
 * ones of its priority; it still expires by its own age.
 */
START_TEST(expire_deferred_behind_younger)
{
	struct env e;

	env_open(&e, AGE_RULES, 0, 0, 100, 0);
	clock_at(&e, T0);
	offer_c(&e, "old", 0, T0);
	pump(&e);
	expect(&e, "old", 1, 0, 0, 1, 0, 0, 0);
	F(e.sink)->answer = SINK_BUSY;
	offer_c(&e, "old", 1, T0 + 80 * MS);
	pump(&e);
	fake_ns = T0 + 90 * MS;
	ack(e.sink, 1, SINK_DEFERRED);
	expect(&e, "old", 2, 0, 2, 0, 0, 0, 0);
	/* n=0 is 150 ms old, n=1 70 ms. */
	fake_ns = T0 + 150 * MS;
	shaper_expire(e.sh, T0 + 150 * MS);
	expect(&e, "old", 2, 0, 1, 0, 0, 0, 1);
	ck_assert_uint_eq(expired(&e, "old"), 1);
	F(e.sink)->answer = SINK_OK;
	env_close(&e);
}
END_TEST

START_TEST(lag_histogram_and_quantiles)
{
	static const double q[2] = { 0.5, 0.99 };
	struct env e;
	struct sclass *c;
	double out[2];
	uint64_t n;
	size_t b;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	clock_at(&e, T0);
	shaper_tick(e.sh, T0);
	c = cls(&e, "p3");
	for (i = 0; i < 10; i++)
		offer_c(&e, "p3", i, T0);
	pump(&e);
	ck_assert_uint_eq(c->lag_count, 0);
	fake_ns = T0 + 150 * MS;
	ack(e.sink, 10, SINK_FORWARDED);
	expect(&e, "p3", 10, 10, 0, 0, 0, 0, 0);

	/* 150 ms: the bucket whose upper bound is 0.15. */
	ck_assert_double_eq(shaper_lag_bounds[7], 0.15);
	for (b = 0; b <= SHAPER_LAG_BUCKETS; b++)
		ck_assert_msg(c->lag[b] == (b == 7 ? 10 : 0),
		    "bucket %zu: %llu", b, (unsigned long long)c->lag[b]);
	ck_assert_uint_eq(c->lag_count, 10);
	ck_assert_double_eq_tol(c->lag_sum, 1.5, 1e-9);
	ck_assert_uint_eq(cls(&e, "p0")->lag_count, 0);

	/* Not in a snapshot yet. */
	n = 99;
	out[0] = out[1] = -1;
	shaper_lag_quantiles(e.sh, c, 10, q, 2, out, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_double_eq(out[0], 0);
	ck_assert_double_eq(out[1], 0);

	shaper_tick(e.sh, T0 + NS);
	shaper_lag_quantiles(e.sh, c, 10, q, 2, out, &n);
	ck_assert_uint_eq(n, 10);
	/* Linear within (0.1, 0.15]. */
	ck_assert_double_gt(out[0], 0.1);
	ck_assert_double_le(out[0], 0.15);
	ck_assert_double_gt(out[1], 0.1);
	ck_assert_double_le(out[1], 0.15);
	ck_assert_double_eq_tol(out[0], 0.125, 1e-9);
	ck_assert_double_eq_tol(out[1], 0.1495, 1e-9);
	shaper_lag_quantiles(e.sh, c, 1, q, 2, out, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert_double_eq_tol(out[0], 0.125, 1e-9);

	/* A second later, 10 more with 1.2 s of lag: (1, 1.5]. */
	for (i = 10; i < 20; i++)
		offer_c(&e, "p3", i, T0 + NS);
	pump(&e);
	fake_ns = T0 + NS + 1200 * MS;
	ack(e.sink, 10, SINK_FORWARDED);
	ck_assert_uint_eq(c->lag[15], 10);
	ck_assert_uint_eq(c->lag_count, 20);
	ck_assert_double_eq_tol(c->lag_sum, 1.5 + 12, 1e-9);
	shaper_tick(e.sh, T0 + 2 * NS);
	shaper_lag_quantiles(e.sh, c, 1, q, 2, out, &n);
	ck_assert_uint_eq(n, 10);
	ck_assert_double_eq_tol(out[0], 1.25, 1e-9);
	ck_assert_double_eq_tol(out[1], 1.495, 1e-9);
	shaper_lag_quantiles(e.sh, c, 10, q, 2, out, &n);
	ck_assert_uint_eq(n, 20);
	ck_assert_double_eq_tol(out[0], 0.15, 1e-9);
	ck_assert_double_eq_tol(out[1], 1.49, 1e-9);

	/* A quiet second: the last second holds nothing. */
	shaper_tick(e.sh, T0 + 3 * NS);
	shaper_lag_quantiles(e.sh, c, 1, q, 2, out, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_double_eq(out[0], 0);
	shaper_lag_quantiles(e.sh, c, 10, q, 2, out, &n);
	ck_assert_uint_eq(n, 20);
	env_close(&e);
}
END_TEST

/* No lag is 0 (the first bucket); past the last bound, +Inf. */
START_TEST(lag_edges)
{
	static const double q[1] = { 0.5 };
	struct env e;
	struct sclass *c;
	double out[1];
	uint64_t n;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	clock_at(&e, T0);
	shaper_tick(e.sh, T0);
	c = cls(&e, "p5");
	offer_c(&e, "p5", 0, T0);
	offer_c(&e, "p5", 1, T0);
	pump(&e);
	ack(e.sink, 1, SINK_FORWARDED);
	ck_assert_uint_eq(c->lag[0], 1);
	ck_assert_double_eq(c->lag_sum, 0);
	fake_ns = T0 + 400 * NS;
	ack(e.sink, 1, SINK_FORWARDED);
	ck_assert_uint_eq(c->lag[SHAPER_LAG_BUCKETS], 1);
	ck_assert_uint_eq(c->lag_count, 2);
	ck_assert_double_eq_tol(c->lag_sum, 400, 1e-9);
	shaper_tick(e.sh, T0 + NS);
	shaper_lag_quantiles(e.sh, c, 10, q, 1, out, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_double_eq_tol(out[0], 0.001, 1e-12);
	/* Only the +Inf one in the last second: the last finite bound. */
	offer_c(&e, "p5", 2, T0);
	pump(&e);
	ack(e.sink, 1, SINK_FORWARDED);
	shaper_tick(e.sh, T0 + 2 * NS);
	shaper_lag_quantiles(e.sh, c, 1, q, 1, out, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_double_eq(out[0], shaper_lag_bounds[SHAPER_LAG_BUCKETS - 1]);
	env_close(&e);
}
END_TEST

/*
 * Lag counts every event that was queued, whatever its end (forwarded,
 * expired, refused by the sink, lost by it), and none shed at admission,
 * diverted or not.
 */
START_TEST(lag_counts_queued_outcomes_only)
{
	struct env e;
	int i;

	env_open(&e,
	    "{\"classes\":["
	    "{\"name\":\"r\",\"priority\":2,\"rate\":1,\"burst\":2,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^r$\"}]},"
	    "{\"name\":\"d\",\"priority\":2,\"rate\":1,\"burst\":1,"
	    "\"on_limit\":\"divert\","
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^d$\"}]},"
	    "{\"name\":\"x\",\"priority\":3,\"max_age_ms\":100,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^x$\"}]}]}", 0, 0, 100, 1);
	clock_at(&e, T0);
	F(e.sink)->answer = SINK_BUSY;
	for (i = 0; i < 5; i++)
		offer_c(&e, "r", i, T0);
	for (i = 0; i < 3; i++)
		offer_c(&e, "d", i, T0);
	offer_c(&e, "x", 0, T0);
	offer_c(&e, "x", 1, T0);
	expect(&e, "r", 5, 0, 2, 0, 3, 0, 0);
	expect(&e, "d", 3, 0, 1, 0, 2, 0, 0);
	ck_assert_uint_eq(cls(&e, "d")->diverted, 2);
	ck_assert_uint_eq(cls(&e, "r")->lag_count, 0);
	ck_assert_uint_eq(cls(&e, "d")->lag_count, 0);
	pump(&e);

	/* Expired after 200 ms: the 0.2 bucket. */
	fake_ns = T0 + 200 * MS;
	shaper_expire(e.sh, T0 + 200 * MS);
	expect(&e, "x", 2, 0, 0, 0, 0, 0, 2);
	ck_assert_uint_eq(cls(&e, "x")->lag_count, 2);
	ck_assert_uint_eq(cls(&e, "x")->lag[8], 2);

	/* Refused, forwarded, lost by the sink, 250 ms after arrival. */
	F(e.sink)->answer = SINK_OK;
	sink_ready(e.sink);
	pump(&e);
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"r\",\"n\":0}\n{\"c\":\"r\",\"n\":1}\n"
	    "{\"c\":\"d\",\"n\":0}\n");
	fake_ns = T0 + 250 * MS;
	ack(e.sink, 1, SINK_REJECTED);
	ack(e.sink, 1, SINK_FORWARDED);
	ack(e.sink, 1, SINK_ERROR);
	expect(&e, "r", 5, 1, 0, 0, 3, 0, 1);
	expect(&e, "d", 3, 0, 0, 0, 2, 0, 1);
	ck_assert_uint_eq(cls(&e, "r")->lag_count, 2);
	ck_assert_uint_eq(cls(&e, "r")->lag[9], 2);
	ck_assert_double_eq_tol(cls(&e, "r")->lag_sum, 0.5, 1e-9);
	ck_assert_uint_eq(cls(&e, "d")->lag_count, 1);
	ck_assert_uint_eq(cls(&e, "d")->lag[9], 1);

	/* The divert sink's outcomes add no lag. */
	pump(&e);
	ack(e.divert, F(e.divert)->nheld, SINK_FORWARDED);
	ck_assert_uint_eq(cls(&e, "r")->lag_count, 2);
	ck_assert_uint_eq(cls(&e, "d")->lag_count, 1);
	ck_assert_int_eq(shaper_idle(e.sh), 1);
	env_close(&e);
}
END_TEST

/* Deferred and sent again: counted once, from its arrival. */
START_TEST(lag_counts_once_through_deferral)
{
	struct env e;
	struct sclass *c;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	clock_at(&e, T0);
	c = cls(&e, "p3");
	offer_c(&e, "p3", 0, T0);
	pump(&e);
	fake_ns = T0 + 50 * MS;
	ack(e.sink, 1, SINK_DEFERRED);
	expect(&e, "p3", 1, 0, 1, 0, 0, 0, 0);
	ck_assert_uint_eq(c->lag_count, 0);
	pump(&e);
	expect(&e, "p3", 1, 0, 0, 1, 0, 0, 0);
	fake_ns = T0 + 150 * MS;
	ack(e.sink, 1, SINK_FORWARDED);
	expect(&e, "p3", 1, 1, 0, 0, 0, 0, 0);
	ck_assert_uint_eq(c->lag_count, 1);
	ck_assert_uint_eq(c->lag[7], 1);
	env_close(&e);
}
END_TEST

/* --- the controller in the loop --------------------------------------- */

#define CTL_RULES \
	"{\"classes\":[" \
	"{\"name\":\"crit\",\"priority\":0,\"match\":[{\"field\":\"c\"," \
	"\"regex\":\"^crit$\"}]}," \
	"{\"name\":\"mid\",\"priority\":1,\"match\":[{\"field\":\"c\"," \
	"\"regex\":\"^mid$\"}]}," \
	"{\"name\":\"low\",\"priority\":9,\"match\":[{\"field\":\"c\"," \
	"\"regex\":\"^low$\"}]}]}"

struct flow {
	const char	*name;
	int		 per;		/* offered per interval */
};

/* Per class and interval: dropped by the controller, and admitted. */
struct trace {
	uint64_t	 shed[80][3];
	uint64_t	 adm[80][3];
};

/*
 * Drive the shaper for n intervals of 250 ms: offer the flows spread over
 * each interval, let the fake sink forward up to `room` events per
 * interval (the rest waits there, and the sink reports push-back while it
 * holds more than it can forward), then run the controller.
 */
static void
drive(struct env *e, const struct flow *fl, size_t room, int n,
    uint64_t *now, struct trace *tr)
{
	struct fake *f = F(e->sink);
	char line[64];
	uint64_t before[3][2];
	int t, i, k, total;

	f->nolog = 1;
	for (t = 0; t < n; t++) {
		for (k = 0; k < 3; k++) {
			struct sclass *c = cls(e, fl[k].name);

			before[k][0] = c->dropped[REASON_BACKPRESSURE];
			before[k][1] = c->received - dropped_total(c);
		}
		for (total = 0, k = 0; k < 3; k++)
			total += fl[k].per;
		for (i = 0; i < total; i++) {
			/* Interleave the flows evenly over the interval. */
			int pick = 0, acc = 0;

			for (k = 0; k < 3; k++) {
				acc += fl[k].per;
				if ((i * 7919) % total < acc) {
					pick = k;
					break;
				}
			}
			snprintf(line, sizeof(line), "{\"c\":\"%s\"}",
			    fl[pick].name);
			shaper_offer(e->sh, line, strlen(line), NULL, 0,
			    SOURCE_TCP, *now + (uint64_t)i * 250 * MS / total);
		}
		pump(e);
		*now += 250 * MS;
		if (f->nheld > room)
			f->pushback++;
		ack(e->sink, f->nheld < room ? f->nheld : room,
		    SINK_FORWARDED);
		pump(e);
		shaper_control(e->sh, *now);
		for (k = 0; k < 3 && tr != NULL; k++) {
			struct sclass *c = cls(e, fl[k].name);

			tr->shed[t][k] = c->dropped[REASON_BACKPRESSURE] -
			    before[k][0];
			tr->adm[t][k] = c->received - dropped_total(c) -
			    before[k][1];
		}
		identity(e->sh);
	}
}

START_TEST(controller_unlimited_without_pushback)
{
	static const struct flow fl[3] = {
		{ "crit", 20 }, { "mid", 60 }, { "low", 120 } };
	struct env e;
	uint64_t now = T0;

	env_open(&e, CTL_RULES, 0, 0, 0, 0);
	drive(&e, fl, 1000, 20, &now, NULL);
	ck_assert(isinf(e.sh->capacity));
	ck_assert_int_eq(e.sh->backpressure, 0);
	ck_assert_uint_eq(dropped_total(cls(&e, "low")), 0);
	ck_assert_uint_eq(cls(&e, "low")->forwarded, 20 * 120);
	env_close(&e);
}
END_TEST

START_TEST(controller_sheds_least_important_first)
{
	static const struct flow fl[3] = {
		{ "crit", 20 }, { "mid", 60 }, { "low", 120 } };
	struct env e;
	struct trace tr;
	uint64_t now = T0, shed_mid = 0, shed_low = 0, fwd0, fwd1;
	int t;

	/* 800/s offered, the sink takes 400/s: crit 80 + mid 240 fit. */
	env_open(&e, CTL_RULES, 0, 0, 0, 0);
	drive(&e, fl, 100, 60, &now, &tr);
	ck_assert(!isinf(e.sh->capacity));
	ck_assert_uint_eq(dropped_total(cls(&e, "crit")), 0);
	for (t = 20; t < 60; t++) {
		shed_mid += tr.shed[t][1];
		shed_low += tr.shed[t][2];
		/* Never mid shed while low is admitted in the same interval. */
		ck_assert_msg(tr.shed[t][1] == 0 || tr.adm[t][2] == 0,
		    "interval %d: mid shed %llu, low admitted %llu", t,
		    (unsigned long long)tr.shed[t][1],
		    (unsigned long long)tr.adm[t][2]);
	}
	ck_assert_uint_gt(shed_low, 40 * 120 / 2);
	ck_assert_uint_lt(shed_mid, shed_low / 20);
	/* Admission settles near what the sink takes (400/s). */
	fwd0 = cls(&e, "crit")->forwarded + cls(&e, "mid")->forwarded +
	    cls(&e, "low")->forwarded;
	drive(&e, fl, 100, 40, &now, &tr);
	fwd1 = cls(&e, "crit")->forwarded + cls(&e, "mid")->forwarded +
	    cls(&e, "low")->forwarded;
	ck_assert_uint_ge(fwd1 - fwd0, 40 * 100 * 9 / 10);
	ck_assert_double_gt(e.sh->capacity, 400 * 0.6);
	ck_assert_double_lt(e.sh->capacity, 400 * 1.4);
	env_close(&e);
}
END_TEST

START_TEST(controller_capacity_short_of_priority_one)
{
	static const struct flow fl[3] = {
		{ "crit", 20 }, { "mid", 60 }, { "low", 120 } };
	struct env e;
	struct trace tr;
	uint64_t now = T0, adm_low = 0, shed_mid = 0;
	int t;

	/* The sink takes 200/s: crit 80, mid gets the other 120 of 240. */
	env_open(&e, CTL_RULES, 0, 0, 0, 0);
	drive(&e, fl, 50, 60, &now, &tr);
	ck_assert_uint_eq(dropped_total(cls(&e, "crit")), 0);
	for (t = 20; t < 60; t++) {
		adm_low += tr.adm[t][2];
		shed_mid += tr.shed[t][1];
		ck_assert_msg(tr.shed[t][1] == 0 || tr.adm[t][2] == 0,
		    "interval %d: mid shed %llu, low admitted %llu", t,
		    (unsigned long long)tr.shed[t][1],
		    (unsigned long long)tr.adm[t][2]);
	}
	ck_assert_uint_gt(shed_mid, 0);
	ck_assert_uint_lt(adm_low, 40 * 120 / 20);
	env_close(&e);
}
END_TEST

START_TEST(controller_never_sheds_priority_zero)
{
	static const struct flow fl[3] = {
		{ "crit", 100 }, { "mid", 10 }, { "low", 10 } };
	struct env e;
	uint64_t now = T0;

	/* The sink takes less than priority 0 alone: it waits, unshed. */
	env_open(&e, CTL_RULES, 0, 0, 0, 0);
	drive(&e, fl, 50, 40, &now, NULL);
	ck_assert(!isinf(e.sh->capacity));
	ck_assert_uint_eq(dropped_total(cls(&e, "crit")), 0);
	ck_assert_uint_eq(cls(&e, "crit")->received, 40 * 100);
	ck_assert_uint_gt(cls(&e, "low")->dropped[REASON_BACKPRESSURE], 0);
	env_close(&e);
}
END_TEST

START_TEST(drop_summary_event)
{
	static const struct flow fl[3] = {
		{ "crit", 20 }, { "mid", 60 }, { "low", 120 } };
	struct env e;
	struct sclass *in;
	struct record *rec;
	json_t *root, *shed;
	uint64_t now = T0, low;
	size_t i;

	env_open(&e, CTL_RULES, 0, 0, 0, 0);
	drive(&e, fl, 100, 40, &now, NULL);
	in = cls(&e, "_spillway");
	ck_assert_uint_eq(in->received, 0);
	F(e.sink)->answer = SINK_BUSY;
	summary_make(e.sh, "host-a", 1700000000123ULL * MS, now);
	ck_assert_uint_eq(in->received, 1);
	ck_assert_uint_eq(in->queued, 1);
	/* The newest queued event of priority 0 is the summary. */
	rec = TAILQ_LAST(&e.sh->q.prio[0], record_list);
	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_eq(rec->cls, in);
	root = json_loadb(rec->data, rec->len, 0, NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_str_eq(json_string_value(json_object_get(root,
	    "@timestamp")), "2023-11-14T22:13:20.123Z");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    root, "spillway"), "host")), "host-a");
	shed = json_object_get(json_object_get(root, "spillway"), "shed");
	low = cls(&e, "low")->dropped[REASON_BACKPRESSURE];
	ck_assert_uint_gt(low, 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    shed, "low"), "backpressure")), (json_int_t)low);
	ck_assert_ptr_null(json_object_get(shed, "crit"));
	json_decref(root);
	/* Nothing dropped since: no second summary. */
	summary_make(e.sh, "host-a", 1700000010123ULL * MS, now);
	ck_assert_uint_eq(in->received, 1);
	for (i = 0; i < 3; i++)
		identity(e.sh);
	F(e.sink)->answer = SINK_OK;
	env_close(&e);
}
END_TEST

/* --- the incident levers: overrides, tap, shadow ---------------------- */

/* Put the override body in force at now; its id, or 0 when refused. */
static uint64_t
override_on(struct env *e, const char *body, uint64_t now)
{
	struct override o;
	char err[300];

	ck_assert_msg(override_parse(body, strlen(body), now, &o, err,
	    sizeof(err)) == 0, "%s: %s", body, err);
	if (shaper_override_add(e->sh, &o, err, sizeof(err)) == -1)
		return 0;
	return o.id;
}

static const struct override *
override_nth(const struct env *e, size_t i)
{
	ck_assert_uint_gt(overrides_count(shaper_overrides(e->sh)), i);
	return overrides_at(shaper_overrides(e->sh), i);
}

START_TEST(override_caps_a_class_then_expires)
{
	struct env e;
	int i, queued = 0;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_uint_eq(override_on(&e, "{\"class\":\"p5\",\"rate\":10,"
	    "\"for\":\"15m\",\"reason\":\"INC-1\"}", T0), 1);
	/* A burst of one second at 10/s: 10 pass, 15 are the override's. */
	for (i = 0; i < 25; i++)
		queued += offer_c(&e, "p5", i, T0) == SHAPER_QUEUED;
	ck_assert_int_eq(queued, 10);
	expect(&e, "p5", 25, 0, 10, 0, 15, 0, 0);
	ck_assert_uint_eq(override_nth(&e, 0)->shed, 15);
	/* Other classes are untouched. */
	for (i = 0; i < 25; i++)
		offer_c(&e, "p9", i, T0);
	expect(&e, "p9", 25, 0, 25, 0, 0, 0, 0);

	/* Still there a nanosecond before its end; gone at it. */
	shaper_tick(e.sh, T0 + 15 * 60 * NS - 1);
	ck_assert_uint_eq(overrides_count(shaper_overrides(e.sh)), 1);
	shaper_tick(e.sh, T0 + 15 * 60 * NS);
	ck_assert_uint_eq(overrides_count(shaper_overrides(e.sh)), 0);
	for (i = 0; i < 25; i++)
		offer_c(&e, "p5", 100 + i, T0 + 15 * 60 * NS);
	expect(&e, "p5", 50, 0, 35, 0, 15, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(override_shed_from_a_priority_spares_priority_zero)
{
	struct env e;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	/* priority_at_least 0 needs force; 5 does not. */
	ck_assert_uint_eq(override_on(&e, "{\"priority_at_least\":0,"
	    "\"shed\":true,\"for\":\"10m\"}", T0), 0);
	ck_assert_uint_eq(overrides_count(shaper_overrides(e.sh)), 0);
	ck_assert_uint_ne(override_on(&e, "{\"priority_at_least\":5,"
	    "\"shed\":true,\"for\":\"10m\"}", T0), 0);
	for (i = 0; i < 4; i++) {
		offer_c(&e, "p0", i, T0);
		offer_c(&e, "p3", i, T0);
		offer_c(&e, "p5", i, T0);
		offer_c(&e, "p9", i, T0);
	}
	expect(&e, "p0", 4, 0, 4, 0, 0, 0, 0);
	expect(&e, "p3", 4, 0, 4, 0, 0, 0, 0);
	expect(&e, "p5", 4, 0, 0, 0, 4, 0, 0);
	expect(&e, "p9", 4, 0, 0, 0, 4, 0, 0);
	ck_assert_uint_eq(override_nth(&e, 0)->shed, 8);

	/* Forced, priority 0 goes too. */
	ck_assert_uint_ne(override_on(&e, "{\"priority_at_least\":0,"
	    "\"shed\":true,\"for\":\"1m\",\"force\":true}", T0), 0);
	offer_c(&e, "p0", 9, T0 + NS);
	expect(&e, "p0", 5, 0, 4, 0, 1, 0, 0);
	env_close(&e);
}
END_TEST

START_TEST(override_priority_survives_reload_and_ends)
{
	struct env e;
	uint64_t id;
	int i;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	ck_assert_uint_ne(id = override_on(&e, "{\"class\":\"p9\","
	    "\"priority\":1,\"for\":\"5m\"}", T0), 0);
	ck_assert_int_eq(cls(&e, "p9")->priority, 1);
	/* A rate cap on p3, then p3 made priority 0 by a reload. */
	ck_assert_uint_ne(override_on(&e, "{\"class\":\"p3\",\"rate\":1,"
	    "\"for\":\"5m\"}", T0), 0);
	shaper_swap_rules(e.sh, load(
	    "{\"classes\":["
	    "{\"name\":\"p3\",\"priority\":0,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p3$\"}]},"
	    "{\"name\":\"p9\",\"priority\":9,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p9$\"}]}]}"), T0 + NS);
	ck_assert_uint_eq(overrides_count(shaper_overrides(e.sh)), 2);
	ck_assert_int_eq(cls(&e, "p9")->priority, 1);
	/* The cap was not forced: it never sheds what is priority 0 now. */
	for (i = 0; i < 5; i++)
		offer_c(&e, "p3", i, T0 + NS);
	expect(&e, "p3", 5, 0, 5, 0, 0, 0, 0);
	/* Ended early, p9 is back where its rule puts it. */
	ck_assert_int_eq(shaper_override_remove(e.sh, id), 0);
	ck_assert_int_eq(shaper_override_remove(e.sh, id), -1);
	ck_assert_int_eq(cls(&e, "p9")->priority, 9);
	env_close(&e);
}
END_TEST

/* A tap connection that keeps what it is sent. */
struct tapped {
	char	 buf[16384];
	size_t	 len;
	size_t	 lines;
};

static int
tapped_write(void *arg, const char *buf, size_t len)
{
	struct tapped *t = arg;
	size_t i;

	for (i = 0; i < len; i++)
		t->lines += buf[i] == '\n';
	ck_assert_uint_lt(t->len + len, sizeof(t->buf));
	memcpy(t->buf + t->len, buf, len);
	t->len += len;
	t->buf[t->len] = '\0';
	return 0;
}

static size_t
tapped_pending(void *arg)
{
	(void)arg;
	return 0;
}

START_TEST(tap_is_told_each_fate)
{
	struct tapped shed = { .len = 0 }, fwd = { .len = 0 };
	struct tap_out out = { tapped_write, tapped_pending, NULL, NULL };
	struct tap_filter f;
	struct tap *t;
	struct env e;
	int i;

	env_open(&e,
	    "{\"classes\":[{\"name\":\"a\",\"priority\":2,\"rate\":10,"
	    "\"burst\":2,\"match\":[{\"field\":\"c\",\"regex\":\"^a$\"}]}],"
	    "\"default\":{\"name\":\"other\",\"priority\":5}}", 0, 0, 0, 0);
	ck_assert_ptr_nonnull(t = tap_new());
	shaper_set_tap(e.sh, t);
	shaper_set_clock(e.sh, fixed_clock);	/* the tap's too */
	memset(&f, 0, sizeof(f));
	snprintf(f.class_name, sizeof(f.class_name), "a");
	f.outcomes = TAP_SHED;
	out.arg = &shed;
	ck_assert_int_ge(tap_subscribe(t, &f, &out, T0), 0);
	f.outcomes = TAP_FORWARDED;
	out.arg = &fwd;
	ck_assert_int_ge(tap_subscribe(t, &f, &out, T0), 0);
	for (i = 0; i < 5; i++)
		offer_c(&e, "a", i, T0);
	offer_c(&e, "b", 0, T0);	/* another class: not this tap's */
	ck_assert_uint_eq(shed.lines, 3);
	ck_assert_str_eq(shed.buf,
	    "{\"class\":\"a\",\"outcome\":\"shed\",\"reason\":\"rate_limit\","
	    "\"event\":{\"c\":\"a\",\"n\":2}}\n"
	    "{\"class\":\"a\",\"outcome\":\"shed\",\"reason\":\"rate_limit\","
	    "\"event\":{\"c\":\"a\",\"n\":3}}\n"
	    "{\"class\":\"a\",\"outcome\":\"shed\",\"reason\":\"rate_limit\","
	    "\"event\":{\"c\":\"a\",\"n\":4}}\n");
	ck_assert_uint_eq(fwd.lines, 0);
	pump(&e);
	ack(e.sink, 2, SINK_FORWARDED);
	ck_assert_str_eq(fwd.buf,
	    "{\"class\":\"a\",\"outcome\":\"forwarded\",\"event\":"
	    "{\"c\":\"a\",\"n\":0}}\n"
	    "{\"class\":\"a\",\"outcome\":\"forwarded\",\"event\":"
	    "{\"c\":\"a\",\"n\":1}}\n");
	/* What is forwarded is what it would be without the tap. */
	ck_assert_str_eq(F(e.sink)->log,
	    "{\"c\":\"a\",\"n\":0}\n{\"c\":\"a\",\"n\":1}\n"
	    "{\"c\":\"b\",\"n\":0}\n");
	expect(&e, "a", 5, 2, 0, 0, 3, 0, 0);
	shaper_set_tap(e.sh, NULL);
	tap_free(t);
	env_close(&e);
}
END_TEST

START_TEST(shadow_sees_each_offered_event)
{
	struct evbuffer *b;
	struct shadow *sd;
	struct env e;
	json_t *j, *p;
	size_t i;
	int n;

	env_open(&e, PRIO_RULES, 0, 0, 0, 0);
	/* The candidate moves p9 into p5 and keeps the rest. */
	ck_assert_ptr_nonnull(sd = shadow_new(load(
	    "{\"classes\":["
	    "{\"name\":\"p0\",\"priority\":0,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p0$\"}]},"
	    "{\"name\":\"p5\",\"priority\":5,"
	    "\"match\":[{\"field\":\"c\",\"regex\":\"^p[59]$\"}]}],"
	    "\"default\":{\"name\":\"other\",\"priority\":4}}"), 1, T0));
	shaper_set_shadow(e.sh, sd);
	for (n = 0; n < 7; n++)
		offer_c(&e, "p9", n, T0);
	for (n = 0; n < 3; n++)
		offer_c(&e, "p0", n, T0);
	expect(&e, "p9", 7, 0, 7, 0, 0, 0, 0);
	ck_assert_ptr_nonnull(b = evbuffer_new());
	ck_assert_int_eq(shadow_json(sd, T0 + NS, b), 0);
	ck_assert_ptr_nonnull(j = json_loadb((const char *)evbuffer_pullup(b,
	    -1), evbuffer_get_length(b), 0, NULL));
	ck_assert_int_eq(json_integer_value(json_object_get(j, "events")), 10);
	ck_assert_int_eq(json_integer_value(json_object_get(j, "moved")), 7);
	n = 0;
	json_array_foreach(json_object_get(j, "pairs"), i, p) {
		const char *from = json_string_value(json_object_get(p,
		    "from"));

		if (strcmp(from, "p9") == 0) {
			ck_assert_str_eq(json_string_value(json_object_get(p,
			    "to")), "p5");
			ck_assert_int_eq(json_integer_value(json_object_get(p,
			    "events")), 7);
			n++;
		} else {
			ck_assert_str_eq(from, "p0");
			ck_assert_int_eq(json_integer_value(json_object_get(p,
			    "events")), 3);
			n++;
		}
	}
	ck_assert_int_eq(n, 2);
	json_decref(j);
	evbuffer_free(b);
	shaper_set_shadow(e.sh, NULL);
	shadow_free(sd);
	env_close(&e);
}
END_TEST

static Suite *
shaper_suite(void)
{
	Suite *s = suite_create("shaper");
	TCase *tc = tcase_create("shaper");

	tcase_add_test(tc, starts_idle_with_all_classes);
	tcase_add_test(tc, forward_path_and_outcomes);
	tcase_add_test(tc, default_class_and_action_line);
	tcase_add_test(tc, rate_limit_exact);
	tcase_add_test(tc, unlimited_class_admits_all);
	tcase_add_test(tc, per_key_buckets);
	tcase_add_test(tc, key_and_class_buckets);
	tcase_add_test(tc, key_entry_shed_counts_own_bucket_only);
	tcase_add_test(tc, key_entry_seen_counts_offers);
	tcase_add_test(tc, weight_bytes);
	tcase_add_test(tc, queue_full_evicts_strictly_lower);
	tcase_add_test(tc, queue_full_evicts_newest);
	tcase_add_test(tc, queue_max_bytes);
	tcase_add_test(tc, sink_is_given_now);
	tcase_add_test(tc, budget_claim_evicts);
	tcase_add_test(tc, busy_keeps_fifo_order);
	tcase_add_test(tc, batch_bytes_bound);
	tcase_add_test(tc, abandon_counts_queued_as_shutdown);
	tcase_add_test(tc, swap_rules_keeps_state);
	tcase_add_test(tc, swap_rules_new_limits_apply);
	tcase_add_test(tc, invalid_lines);
	tcase_add_test(tc, invalid_class_rate);
	tcase_add_test(tc, too_large);
	tcase_add_test(tc, divert_shed_events);
	tcase_add_test(tc, divert_queue_full_victim);
	tcase_add_test(tc, divert_without_sink_drops);
	tcase_add_test(tc, rates_from_ticks);
	tcase_add_test(tc, acked_forwarded_with_answer);
	tcase_add_test(tc, acked_rejected_with_answer);
	tcase_add_test(tc, acked_sink_error_resends_or_not);
	tcase_add_test(tc, abandon_resends_counts_unacknowledged);
	tcase_add_test(tc, acked_shed_at_once);
	tcase_add_test(tc, acked_shed_with_record);
	tcase_add_test(tc, cancel_queued_record);
	tcase_add_test(tc, cancel_record_with_sink);
	tcase_add_test(tc, unshaped_acked_with_answer);
	suite_add_tcase(s, tc);

	tc = tcase_create("order_expiry_lag");
	tcase_add_test(tc, serves_by_priority);
	tcase_add_test(tc, serves_by_priority_across_batches);
	tcase_add_test(tc, busy_sink_offered_priority_zero);
	tcase_add_test(tc, queue_full_evicts_then_serves_by_priority);
	tcase_add_test(tc, queue_age_after_busy);
	tcase_add_test(tc, expire_drops_stale_queued);
	tcase_add_test(tc, expire_in_control);
	tcase_add_test(tc, expire_on_pump);
	tcase_add_test(tc, expire_diverts);
	tcase_add_test(tc, expire_tells_ack);
	tcase_add_test(tc, expire_after_priority_change);
	tcase_add_test(tc, expire_deferred_behind_younger);
	tcase_add_test(tc, lag_histogram_and_quantiles);
	tcase_add_test(tc, lag_edges);
	tcase_add_test(tc, lag_counts_queued_outcomes_only);
	tcase_add_test(tc, lag_counts_once_through_deferral);
	suite_add_tcase(s, tc);

	tc = tcase_create("levers");
	tcase_add_test(tc, override_caps_a_class_then_expires);
	tcase_add_test(tc, override_shed_from_a_priority_spares_priority_zero);
	tcase_add_test(tc, override_priority_survives_reload_and_ends);
	tcase_add_test(tc, tap_is_told_each_fate);
	tcase_add_test(tc, shadow_sees_each_offered_event);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, controller_unlimited_without_pushback);
	tcase_add_test(tc, controller_sheds_least_important_first);
	tcase_add_test(tc, controller_capacity_short_of_priority_one);
	tcase_add_test(tc, controller_never_sheds_priority_zero);
	tcase_add_test(tc, drop_summary_event);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(shaper_suite());
}
