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

#include <spillway/reason.h>

#include "keytab.h"
#include "record.h"
#include "rules.h"

struct classify_result;
struct config;
struct event_base;
struct fleet;
struct fleet_report;
struct fleet_view;
struct override;
struct overrides;
struct shadow;
struct tap;
struct sclass;		/* one class's state: opaque, see shaper_int.h */
struct shaper;		/* opaque, see shaper_int.h */
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

enum shaper_verdict {
	SHAPER_QUEUED,		/* on its way to the sink */
	SHAPER_SHED,		/* dropped or diverted by policy */
	SHAPER_FAILED		/* could not even be recorded (no memory) */
};

#define SHAPER_LISTENERS	3	/* tcp, http, kafka */
#define SHAPER_TOP_KEYS		10	/* keys in shaper_top_keys() */

/*
 * The shaper as /metrics and /stats show it, taken by shaper_stats(); its
 * classes are taken one by one with shaper_class_stats().
 */
struct shaper_stats {
	uint64_t	 revision;	/* of the rules in force */
	double		 capacity;	/* admitted events/s; +Inf: unlimited */
	int		 backpressure;	/* pressure within the last second */
	size_t		 queue_events;
	size_t		 queue_bytes;
	size_t		 queue_max_events;
	size_t		 queue_max_bytes;
	uint64_t	 queue_age;	/* ns the oldest queued event waited */
	struct {
		int	 pressure;	/* seen in the last step */
		double	 capacity;	/* its own, before a fleet's share */
		double	 fwd_rate;	/* forwarded events/s */
		double	 demand_rate;	/* smoothed events/s asking */
		double	 floor;		/* C never goes below */
		double	 ceiling;	/* forwarded rate at the last pressure */
		uint64_t decreases;	/* steps, ever */
		uint64_t increases;
		uint64_t lifts;
	}		 control;
	uint64_t	 parse_errors[SHAPER_LISTENERS];	/* by source */
	uint64_t	 divert_lost;	/* shed events the divert sink lost */
	size_t		 overrides;	/* active now */
	size_t		 nclasses;	/* in the registry */
};

/* One class, as shaper_class_stats() takes it. */
struct shaper_class_stats {
	const struct sclass *cls;	/* for shaper_rates() and the like */
	const char	*name;		/* lives as long as the shaper */
	int		 priority;
	int		 active;	/* in the rule set in force */
	uint64_t	 received;
	uint64_t	 forwarded;
	uint64_t	 dropped[REASON_MAX];
	uint64_t	 diverted;
	uint64_t	 queued;
	uint64_t	 inflight;
	uint64_t	 regex_limit;
	double		 demand;	/* smoothed events/s asking admission */
	double		 allocation;	/* events/s; +Inf: unlimited */
	double		 effective_rate;	/* its own rate and allocation:
					   what it is held to; +Inf: none */
	uint64_t	 lag[SHAPER_LAG_BUCKETS + 1];	/* last: +Inf */
	uint64_t	 lag_count;
	double		 lag_sum;	/* seconds */
};

/* A class's per-key buckets and the keys shed most (shaper_top_keys()). */
struct shaper_keys {
	size_t		 keys;		/* in the table now */
	uint64_t	 evictions;
	size_t		 ntop;
	struct {
		char	 key[KEYTAB_KEY_MAX + 1];
		uint64_t shed;
		uint64_t seen;
	}		 top[SHAPER_TOP_KEYS];	/* most shed first */
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

/*
 * Put a timed override (override.h) in force under the rules in force,
 * giving it its id: a class it names has its priority moved, or its
 * events dropped past its rate, and priorities it sheds are dropped, all
 * counted as rate_limit, until it expires (shaper_tick()) or is removed.
 * Overrides survive rule reloads.  0, or -1 with the reason in err.
 */
int		 shaper_override_add(struct shaper *sh, struct override *o,
		    char *err, size_t errlen);

/* End override id early: 0, or -1 when there is none. */
int		 shaper_override_remove(struct shaper *sh, uint64_t id);

/* The overrides in force, to list them (overrides_at()). */
const struct overrides *shaper_overrides(const struct shaper *sh);

/*
 * Tell t (borrowed; NULL: none) the fate of each event: forwarded when
 * the sink took it, shed or rejected when it was dropped.
 */
void		 shaper_set_tap(struct shaper *sh, struct tap *t);

/*
 * Hand each event offered to the candidate rules of s (borrowed; NULL:
 * none) after it was shaped, with its class in force.
 */
void		 shaper_set_shadow(struct shaper *sh, struct shadow *s);

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
 * Forward a bulk update or delete unshaped, in the internal class
 * "_spillway" (priority 0, no rate), to a main sink that takes them
 * (SINK_CAP_BARE in shaper_sink_caps()).  source may be NULL (delete:
 * the action line alone; the record is bare).  ack, token and held as for
 * shaper_offer_acked(); ack may be NULL.
 */
enum shaper_verdict shaper_offer_unshaped(struct shaper *sh,
		    const char *source, size_t len, const char *action,
		    size_t action_len, const struct record_ack *ack,
		    uint64_t token, struct record **held, uint64_t now);

/*
 * Queue an event spillway makes itself (line, len bytes, borrowed; a drop
 * summary) in the internal class "_spillway", unshaped, at priority 0.
 */
enum shaper_verdict shaper_offer_own(struct shaper *sh, const char *line,
		    size_t len, uint64_t now);

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

/*
 * One control interval ends at now: read the sink's back-pressure and the
 * queue's age, step the controller, hand its capacity out by priority.
 */
void		 shaper_control(struct shaper *sh, uint64_t now);

/* How long the oldest queued event has waited, in ns; 0 when empty. */
uint64_t	 shaper_queue_age(const struct shaper *sh, uint64_t now);

/* Count everything still queued as dropped(shutdown) and free it. */
void		 shaper_abandon(struct shaper *sh);

/* Nothing queued, nothing in flight. */
int		 shaper_idle(const struct shaper *sh);

/* Look a class up by name; NULL if it never existed. */
struct sclass	*shaper_class(const struct shaper *sh, const char *name);

/*
 * The shaper's state now into *out, pending regex-limit hits counted
 * first.  Then shaper_class_stats(sh, i, ...) for i below out->nclasses
 * takes each class, in the order they were first seen.  Neither
 * allocates.
 */
void		 shaper_stats(struct shaper *sh, uint64_t now,
		    struct shaper_stats *out);
void		 shaper_class_stats(const struct shaper *sh, size_t i,
		    struct shaper_class_stats *out);

/*
 * Class c's per-key buckets into *out, the SHAPER_TOP_KEYS keys with the
 * most shed events first (those that shed none left out).  0, or -1
 * when c has no per-key buckets.
 */
int		 shaper_top_keys(const struct sclass *c,
		    struct shaper_keys *out);

/* The revision of the rules in force: 1, then one more each swap. */
uint64_t	 shaper_revision(const struct shaper *sh);

/*
 * Add regex-limit hits counted elsewhere (a worker) for the rules in
 * force: hits[i] for class index i, i below n and their class count.
 */
void		 shaper_add_limit_hits(struct shaper *sh,
		    const uint64_t *hits, size_t n);

/* The rate admitted now, events/s; +Inf while unlimited. */
double		 shaper_capacity(const struct shaper *sh);

/*
 * Whether a source that can wait (Kafka, which keeps the backlog) may
 * read more now: not while the main sink is busy or down, nor while the
 * queue holds half its events or bytes.
 */
int		 shaper_may_read(const struct shaper *sh, uint64_t now);

/*
 * The capabilities (SINK_CAP_*, sink.h) of the main sink, 0 without
 * one: what the sources may hand it beyond plain events.
 */
unsigned	 shaper_sink_caps(const struct shaper *sh);

/*
 * The shutdown began: the queue drains, and no sink pressure is counted
 * from now on.  shaper_draining() tells whether it has.
 */
void		 shaper_drain(struct shaper *sh);
int		 shaper_draining(const struct shaper *sh);

#endif
