/*
 * shaper_int: the shaper's own state, for shaper.c and the unit tests
 * alone.  Everyone else sees struct shaper and struct sclass as opaque
 * and goes through shaper.h.
 */
#ifndef SPILLWAY_SHAPER_INT_H
#define SPILLWAY_SHAPER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include <spillway/reason.h>

#include "bucket.h"
#include "control.h"
#include "record.h"
#include "rules.h"
#include "shaper.h"

struct config;
struct keytab;
struct overrides;
struct shadow;
struct tap;
struct sink;

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
	uint64_t		 reported[REASON_MAX];	/* in summaries
							   (summary.c) */

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
	uint64_t		 summary_at;	/* ns of the last drop summary
						   (summary.c) */
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

	/* The incident levers (shaper_override_add(), _set_tap/_shadow). */
	struct overrides	*ovs;		/* owned: they outlive reloads */
	struct tap		*tap;		/* borrowed, or NULL */
	struct shadow		*shadow;	/* borrowed, or NULL */
};

/* Move pending regex-limit hits into the class counters. */
void	shaper_sync(struct shaper *sh);

#endif
