/*
 * shaper: from a classified event to the sink.  Class state (counters,
 * buckets, per-key buckets) lives here in a registry keyed by class name,
 * so it survives rule reloads; the bounded queue sits between admission
 * and the sink; every drop is counted under its reason.
 *
 * Pipeline for one event, classified by its ingest first (classify.h):
 * key bucket and class bucket -> capacity allocation (controller) ->
 * queue -> sink.
 */
#ifndef SPILLWAY_SHAPER_H
#define SPILLWAY_SHAPER_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include <spillway/reason.h>

#include "bucket.h"
#include "control.h"
#include "record.h"
#include "rules.h"

struct classify_result;
struct config;
struct fleet;
struct fleet_report;
struct fleet_view;
struct keytab;
struct sink;
struct sink_owner;

/* What the events of one bulk request share (shaper_request()). */
struct shaper_request {
	int			 in_order;
	const char		*params;	/* borrowed */
	size_t			 params_len;
};

#define SHAPER_RATE_SLOTS	11	/* per-second snapshots kept */
#define SHAPER_LAG_BUCKETS	24	/* finite bounds of the lag histogram */

/* Upper bounds (seconds) of the lag histogram's buckets; +Inf follows. */
extern const double shaper_lag_bounds[SHAPER_LAG_BUCKETS];

/* Per-class counters and shaping state; never freed before exit. */
struct sclass {
	char			 name[RULES_NAME_MAX + 1];
	int			 priority;
	int			 active;	/* in the rule set in force */
	const struct rule_class	*rule;		/* NULL when removed */
	struct bucket		 bucket;	/* fixed class rate */
	struct keytab		*keys;		/* per-key buckets or NULL */
	double			 key_rate;	/* what keys was built for */
	double			 key_burst;
	size_t			 max_keys;

	uint64_t		 received;
	uint64_t		 forwarded;
	uint64_t		 dropped[REASON_MAX];
	uint64_t		 diverted;
	uint64_t		 queued;
	uint64_t		 inflight;
	uint64_t		 regex_limit;

	/* controller: demand and the allocation it was given */
	uint64_t		 wanted;	/* passed fixed buckets */
	uint64_t		 wanted_seen;	/* at the last control step */
	double			 demand;	/* smoothed wanted per second */
	double			 demand_now;	/* what the allocation uses */
	double			 alloc;		/* events/s; +Inf: unlimited */
	struct bucket		 abucket;	/* the allocation as tokens */
	uint64_t		 reported[REASON_MAX];	/* in summaries */

	/* snapshots of received/forwarded/dropped, one per second */
	uint64_t		 snap[SHAPER_RATE_SLOTS][3];

	/*
	 * Lag, from arrival to the final outcome, of every event that was
	 * queued: a histogram (the last bucket is +Inf), and its snapshots.
	 */
	uint64_t		 lag[SHAPER_LAG_BUCKETS + 1];
	uint64_t		 lag_count;
	double			 lag_sum;	/* seconds */
	uint64_t		 lag_snap[SHAPER_RATE_SLOTS][SHAPER_LAG_BUCKETS + 1];
};

#define SHAPER_PRIO_WORDS	((RULES_PRIORITY_MAX + 64) / 64)

/*
 * The bounded queue: one list per priority, in order of admission, served
 * most important first and evicted least important first.
 */
struct queue {
	struct record_list	 prio[RULES_PRIORITY_MAX + 1];
	uint64_t		 nonempty[SHAPER_PRIO_WORDS];	/* bit per prio */
	uint64_t		 next_seq;
	struct record		*finger;	/* last put back in order */
	size_t			 prio_events[RULES_PRIORITY_MAX + 1];
	size_t			 prio_cost[RULES_PRIORITY_MAX + 1];
	size_t			 events;
	size_t			 bytes;		/* the events' own bytes */
	size_t			 cost;		/* what they take (budget.h) */
	size_t			 max_events;
	size_t			 max_bytes;	/* the whole memory budget */
};

enum shaper_verdict {
	SHAPER_QUEUED,		/* on its way to the sink */
	SHAPER_SHED,		/* dropped or diverted by policy */
	SHAPER_FAILED		/* could not even be recorded (no memory) */
};

#define SHAPER_LISTENERS	3	/* tcp, http, kafka */
#define SHAPER_NONE_REFUSED	(RULES_PRIORITY_MAX + 1)

struct shaper {
	struct event_base	*base;
	const struct config	*cf;

	struct ruleset		*rules;		/* in force; owned */
	uint64_t		 revision;
	struct sclass		**map;		/* rules index -> class */
	uint64_t		*limit_hits;	/* per rules index, pending */

	struct sclass		*internal;	/* "_spillway": priority 0, no rate */
	struct sclass		**classes;	/* registry, first-seen order */
	size_t			 nclasses;
	size_t			 cap;

	struct queue		 q;
	struct sink		*sink;
	struct sink		*divert;
	int			 sink_busy;	/* waiting for ready() */
	struct record_list	 divq;		/* waiting for the divert sink */
	size_t			 divq_len;
	int			 divert_busy;
	struct event		*pump_ev;

	/* Capacity controller: admitted rate, +Inf when unlimited. */
	struct control		 ctl;
	double			 capacity;
	int			 backpressure;	/* pressure within the last second */
	uint64_t		 pressure_at;	/* ns of the last pressure seen */
	uint64_t		 pushback_seen;	/* sink counter, last step */
	struct bucket		 spare;		/* capacity no class asked for */
	double			 spare_rate;
	struct sclass		**byprio;	/* active, largest priority first */
	size_t			 nbyprio;
	uint64_t		 summary_at;	/* ns of the last drop summary */
	int			 refused_now;	/* most important refused in
						   this interval */

	uint64_t		 (*clock)(void);	/* ns; the lag's end */
	uint64_t		 min_age[RULES_PRIORITY_MAX + 1];	/* ns, 0:
						   no class of it expires */

	uint64_t		 parse_errors[SHAPER_LISTENERS];
	uint64_t		 divert_lost;	/* divert sink could not take */
	uint64_t		 snap_at;	/* ns of the last snapshot */
	size_t			 snap_pos;	/* slot of the newest snapshot */
	int			 draining;	/* shutting down */
	struct shaper_request	 req;		/* see shaper_request() */

	/* In a fleet (shaper_set_fleet()): the others, and what it saw. */
	struct fleet		*fleet;
	void			(*fleet_publish)(void *,
				    const struct fleet_report *);
	void			*fleet_arg;
	struct fleet_view	*fleet_view;
};

/*
 * A shaper for rules (ownership taken; freed with the shaper).  No sink
 * yet.  NULL on allocation failure.
 */
struct shaper	*shaper_new(struct event_base *base, const struct config *cf,
		    struct ruleset *rules, uint64_t now);

/* Frees queued records (count them first with shaper_abandon()). */
void		 shaper_free(struct shaper *sh);

/* The owner to give the sinks this shaper feeds. */
void		 shaper_sink_owner(struct shaper *sh,
		    struct sink_owner *owner);

/*
 * Shed as one fleet with the instances f hears (not owned; NULL: alone).
 * Each control interval the shaper hands this instance's report to
 * publish(arg, report) and admits what fleet_share() gives it instead of
 * its controller's capacity.
 */
int		 shaper_set_fleet(struct shaper *sh, struct fleet *f,
		    void (*publish)(void *, const struct fleet_report *),
		    void *arg);

/* What the last control interval saw of the fleet; NULL when alone. */
const struct fleet_view *shaper_fleet(const struct shaper *sh);

/* Attach sinks (not owned). divert may be NULL. */
void		 shaper_set_sinks(struct shaper *sh, struct sink *sink,
		    struct sink *divert);

/*
 * The rules in force, borrowed until the next shaper_swap_rules(): what
 * ingest classifies an event under (classify_event()) before it offers
 * it with shaper_offer_classified().
 */
const struct ruleset *shaper_rules(const struct shaper *sh);

/*
 * Offer one event line (len bytes, no newline; borrowed) that arrived on
 * source, with its bulk action line or NULL.  Classifies it under the
 * rules in force (classify_event()), then shapes and queues it as
 * shaper_offer_classified() does, counting every outcome.
 */
enum shaper_verdict shaper_offer(struct shaper *sh, const char *line,
		    size_t len, const char *action, size_t action_len,
		    enum record_source source, uint64_t now);

/*
 * shaper_offer() for a source that must know when the event's fate is
 * final: ack->fn(arg, token, ...) is called exactly once, at once when
 * the event is shed without being queued, else when its record settles.
 * When the event is queued and held is not NULL, *held is its record,
 * valid until its ack is told (for shaper_cancel()).
 */
enum shaper_verdict shaper_offer_acked(struct shaper *sh, const char *line,
		    size_t len, const char *action, size_t action_len,
		    enum record_source source, const struct record_ack *ack,
		    uint64_t token, struct record **held, uint64_t now);

/*
 * Shape and queue an event classified under the rules in force
 * (shaper_rules()): cr (borrowed for the call) gives its class index, the
 * text of its key field, and the regex limit hits to count, if any.
 * ack, token and held as for shaper_offer_acked().
 */
enum shaper_verdict shaper_offer_classified(struct shaper *sh,
		    const char *line, size_t len, const char *action,
		    size_t action_len, enum record_source source,
		    const struct classify_result *cr,
		    const struct record_ack *ack, uint64_t token,
		    struct record **held, uint64_t now);

/*
 * Forward a bulk update or delete to an Elasticsearch sink unshaped, in
 * the internal class "_spillway" (priority 0, no rate).  source may be
 * NULL (delete: the action line alone).  ack, token and held as for
 * shaper_offer_acked(); ack may be NULL.
 */
enum shaper_verdict shaper_offer_unshaped(struct shaper *sh,
		    const char *source, size_t len, const char *action,
		    size_t action_len, const struct record_ack *ack,
		    uint64_t token, struct record **held, uint64_t now);

/*
 * The sender of rec (a record given through held, whose ack was not told
 * yet) answered for it itself and will send it again.  If rec is still
 * queued, it is taken out, counted as unacknowledged and freed, and 0 is
 * returned.  If the sink has it already, -1: it stays with the sink and
 * is counted by what the sink does with it (a failure as unacknowledged),
 * but its ack is detached and will not be told.  Either way the ack is
 * not called.
 */
int		 shaper_cancel(struct shaper *sh, struct record *rec);

/*
 * What the events offered next, up to shaper_request(sh, NULL), share:
 * they are of one bulk request.  in_order: what is admitted is queued at
 * priority 0, whatever its class, so that the events keep their order
 * with the updates and deletes among them (which go at priority 0);
 * admission still follows each event's class.  params (params_len bytes,
 * copied into each record; NULL for none): the query parameters the
 * sink's request must carry for them ("refresh=wait_for&...").
 */
void		 shaper_request(struct shaper *sh,
		    const struct shaper_request *req);

/* A line refused before classification for its size: _invalid too_large. */
void		 shaper_too_large(struct shaper *sh, enum record_source source);

/*
 * Put rules in force (ownership taken; the old set is freed).  Classes
 * keep their counters and bucket state by name; queued events keep their
 * class.  The revision rises by one.
 */
void		 shaper_swap_rules(struct shaper *sh, struct ruleset *rules,
		    uint64_t now);

/* Once a second: rate and lag snapshots.  now in ns. */
void		 shaper_tick(struct shaper *sh, uint64_t now);

/*
 * The clock that dates outcomes coming back from the sink (the end of an
 * event's lag); clock_now_ns() unless a test sets another.
 */
void		 shaper_set_clock(struct shaper *sh, uint64_t (*clock)(void));

/*
 * Quantiles q[0..nq-1] (0..1) of class c's lag over the last `secs`
 * seconds (1..SHAPER_RATE_SLOTS-1), in seconds, into out[], interpolated
 * within the histogram's buckets; *events gets how many events that is
 * (out[] is 0 when none).
 */
void		 shaper_lag_quantiles(const struct shaper *sh,
		    const struct sclass *c, int secs, const double *q, int nq,
		    double *out, uint64_t *events);

/*
 * Drop, as expired, queued events older than their class's max_age_ms.
 * Also done as events are handed to the sink; this keeps old events of
 * priorities that are not being served from holding memory.
 */
void		 shaper_expire(struct shaper *sh, uint64_t now);

/*
 * Per-class rates over the last `secs` seconds (1..SHAPER_RATE_SLOTS-1):
 * out[0] received, out[1] forwarded, out[2] dropped, per second.
 */
void		 shaper_rates(const struct shaper *sh, const struct sclass *c,
		    int secs, double out[3]);

/* Move pending regex-limit hits into the class counters. */
void		 shaper_sync(struct shaper *sh);

/*
 * One control interval ends at now: read the sink's back-pressure and the
 * queue's age, step the controller, hand its capacity out by priority.
 */
void		 shaper_control(struct shaper *sh, uint64_t now);

/*
 * Every 10 s: if anything was dropped since the last summary, forward one
 * summary event in "_spillway" and log one line per class that dropped.
 * host names this instance; wall is the wall-clock time in ns.
 */
void		 shaper_summarize(struct shaper *sh, const char *host,
		    uint64_t wall, uint64_t now);

/* How long the oldest queued event has waited, in ns; 0 when empty. */
uint64_t	 shaper_queue_age(const struct shaper *sh, uint64_t now);

/* Count everything still queued as dropped(shutdown) and free it. */
void		 shaper_abandon(struct shaper *sh);

/* Nothing queued, nothing in flight. */
int		 shaper_idle(const struct shaper *sh);

/* Look a class up by name; NULL if it never existed. */
struct sclass	*shaper_class(const struct shaper *sh, const char *name);

#endif
