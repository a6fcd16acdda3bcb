/*
 * sink: where admitted events go.  Each kind of sink is a table of
 * functions (struct sink_ops), reached only through the inline wrappers
 * below, so the shaper never knows which sink it feeds.
 *
 * Flow: the shaper hands the sink a batch with sink_submit().  OK means
 * the sink now owns every record of the batch; each record comes back
 * exactly once through owner.done() with its outcome, and ownership of the
 * record returns to the owner.  BUSY means the sink cannot take the batch
 * now: the caller keeps it, and the sink calls owner.ready() once it can
 * take one again.  A busy sink is still offered batches of priority 0
 * alone, which it may take ahead of the less important events it holds
 * (within a bound of its own) or answer BUSY to again.  FAIL means it
 * never will (the caller keeps the batch).
 * Sinks never sleep and never block the event loop.
 */
#ifndef SPILLWAY_SINK_H
#define SPILLWAY_SINK_H

/* Event priorities of the main loop: a sink's answers come first. */
#define SPILLWAY_PRIOS		2
#define SPILLWAY_PRIO_SINK	0

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "batch.h"
#include "record.h"

struct config;
struct evbuffer;
struct sink;

/*
 * What submit() says of a batch: taken (the sink now owns its records and
 * reports each one's outcome through done(), failures included), or not
 * now (the records stay the caller's; ready() says when to try again).
 */
enum sink_status {
	SINK_OK,
	SINK_BUSY
};

enum sink_outcome {
	SINK_FORWARDED,		/* acknowledged by the peer (2xx, 409, written) */
	SINK_REJECTED,		/* refused for good (per-item 4xx, permanent) */
	SINK_ERROR,		/* retries exhausted */
	SINK_DEFERRED,		/* not now (429): the owner may send it again;
				   a batch's deferred records come back last
				   first, so the owner can put each back at
				   the head of its queue in their order */
	SINK_ABORTED		/* still held when the sink was freed */
};

struct sink_owner {
	/* ans: the peer's own answer for rec, borrowed, or NULL. */
	void	(*done)(void *arg, struct sink *s, struct record *rec,
		    enum sink_outcome outcome, const struct record_answer *ans);
	void	(*ready)(void *arg, struct sink *s);
	void	 *arg;
};

/* Back-pressure and health, as the controller and /metrics see them. */
struct sink_stats {
	int		 up;		/* last attempt succeeded */
	int		 pressure;	/* the sink is pushing back now */
	uint64_t	 pushback;	/* back-pressure signals, ever */
	size_t		 pending;	/* records held by the sink */
	size_t		 pending_bytes;
	uint64_t	 down_since;	/* ns; 0 when up */
};

#define SINK_CODES_MAX		24
#define SINK_HIST_BUCKETS	12

/* Per-request counters kept for every sink; exported by metrics. */
struct sink_requests {
	struct {
		char		 code[32];	/* HTTP status or error name */
		uint64_t	 count;
	}		 codes[SINK_CODES_MAX];
	size_t		 ncodes;
	uint64_t	 hist[SINK_HIST_BUCKETS + 1];	/* last = +Inf */
	uint64_t	 hist_count;
	double		 hist_sum;			/* seconds */
};

extern const double sink_hist_bounds[SINK_HIST_BUCKETS];

/*
 * What a kind of sink can do beyond taking events (sink_ops.caps), for
 * the modules that would otherwise ask which sink it is.
 */
#define SINK_CAP_UPSTREAM	0x01	/* its URL is an Elasticsearch the
					   HTTP pass-through may call */
#define SINK_CAP_BARE		0x02	/* takes bulk update and delete
					   actions, a delete without a
					   source (record.bare) */
#define SINK_CAP_PARAMS		0x04	/* applies a bulk request's query
					   parameters (record.params) */
#define SINK_CAP_SHOW_URL	0x08	/* its URL holds no secret: /stats
					   shows it rather than the name */

struct sink_ops {
	const char	*name;
	unsigned	 caps;		/* SINK_CAP_* */
	/* Parse url, allocate s->priv.  0 or -1 with a message in err. */
	int		(*init)(struct sink *s, const char *url,
			    const struct config *cf, char *err, size_t errlen);
	enum sink_status (*submit)(struct sink *s, struct batch *b,
			    uint64_t now);
	/* Time-driven work (flush timers, retries); now in ns. */
	void		(*poll)(struct sink *s, uint64_t now);
	void		(*stats)(struct sink *s, struct sink_stats *st,
			    uint64_t now);
	/* Reopen files (SIGHUP, log rotation); may be NULL. */
	void		(*reopen)(struct sink *s);
	/*
	 * Append the sink's own series to out (Prometheus text): its
	 * samples of spillway_sink_pressure_signals_total, whose family
	 * header is written already, then families of its own.  May be
	 * NULL: it has none.
	 */
	void		(*metrics)(struct sink *s, struct evbuffer *out);
	/*
	 * Whether the peer answers now (--require-sink): 0, or -1 with a
	 * message in err.  May be NULL: nothing to probe.
	 */
	int		(*probe)(struct sink *s, char *err, size_t errlen);
	/*
	 * Hand back every record still held with SINK_ABORTED, release
	 * everything.  Called once, from sink_free().
	 */
	void		(*free)(struct sink *s);
};

struct sink {
	const struct sink_ops	*ops;
	struct event_base	*base;
	struct sink_owner	 owner;
	const char		*label;		/* "main" or "divert" */
	char			*url;
	struct sink_requests	 req;
	void			*priv;
};

/*
 * A sink for url ("stdout", "null", "file:PATH", http(s)://, kafka://),
 * labelled "main" or "divert".  NULL with a message in err.
 */
struct sink	*sink_new(struct event_base *base, const char *url,
		    const struct config *cf, const char *label,
		    const struct sink_owner *owner, char *err, size_t errlen);

/* Returns every held record through done(SINK_ABORTED).  Accepts NULL. */
void		 sink_free(struct sink *s);

/*
 * For a metrics op: one sample of spillway_sink_pressure_signals_total,
 * the back-pressure signal of this sink's kind that was seen v times.
 */
void		 sink_metric_signal(const struct sink *s, struct evbuffer *out,
		    const char *signal, uint64_t v);

/* Count one request with its code and duration (seconds). */
void		 sink_count_request(struct sink *s, const char *code,
		    double seconds);

static inline enum sink_status
sink_submit(struct sink *s, struct batch *b, uint64_t now)
{
	return s->ops->submit(s, b, now);
}

static inline void
sink_poll(struct sink *s, uint64_t now)
{
	if (s->ops->poll != NULL)
		s->ops->poll(s, now);
}

static inline void
sink_stats(struct sink *s, struct sink_stats *st, uint64_t now)
{
	s->ops->stats(s, st, now);
}

static inline void
sink_reopen(struct sink *s)
{
	if (s->ops->reopen != NULL)
		s->ops->reopen(s);
}

static inline unsigned
sink_caps(const struct sink *s)
{
	return s->ops->caps;
}

static inline void
sink_metrics(struct sink *s, struct evbuffer *out)
{
	if (s->ops->metrics != NULL)
		s->ops->metrics(s, out);
}

static inline int
sink_probe(struct sink *s, char *err, size_t errlen)
{
	return s->ops->probe != NULL ? s->ops->probe(s, err, errlen) : 0;
}

/*
 * Called by sink implementations.  ans, when not NULL, is the peer's own
 * answer for rec (an Elasticsearch bulk item), borrowed for the call.
 */
static inline void
sink_done_answer(struct sink *s, struct record *rec,
    enum sink_outcome outcome, const struct record_answer *ans)
{
	s->owner.done(s->owner.arg, s, rec, outcome, ans);
}

static inline void
sink_done(struct sink *s, struct record *rec, enum sink_outcome outcome)
{
	sink_done_answer(s, rec, outcome, NULL);
}

static inline void
sink_ready(struct sink *s)
{
	s->owner.ready(s->owner.arg, s);
}

extern const struct sink_ops sink_file_ops;
extern const struct sink_ops sink_es_ops;
extern const struct sink_ops sink_kafka_ops;

#endif
