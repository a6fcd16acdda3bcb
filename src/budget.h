/*
 * budget: the one bound on what events and requests hold in memory.
 *
 * queue.max_bytes is spillway's memory budget, and everything whose size
 * a client decides is counted against it, by its real cost: the records
 * (queued, in flight, waiting to be diverted; each one's allocation, not
 * only its event bytes), the HTTP request bodies being read or inflated,
 * the parsed items of _bulk requests being handled or waiting for their
 * answers, and the request bodies the sinks have built and not yet been
 * answered for.  What is left over is fixed (the program, its libraries,
 * the event loops) or bounded per connection by the limits (one header
 * block, one line being read, the socket buffers).
 *
 * Queued events are the one part that can give way: the queue admits an
 * event only within the budget, evicting less important queued events
 * to make room for a more important one, and what a new request claims
 * (budget_claim()) evicts queued events too, the least important first,
 * through the reclaim function the queue's owner registers.  Everything
 * else is firm: the HTTP ingest refuses a request with 429 before
 * reading or inflating its body when the firm parts leave no room for
 * it (budget_firm_room()).  What is already accepted is never refused:
 * budget_take() always counts, and the budget may be overrun by what is
 * in flight until that is answered.
 *
 * The counters are process-wide, like the queue's limit, and safe to
 * update from any thread (relaxed atomics: a reader may see them a
 * moment late, never torn); budget_claim() only from the thread that
 * owns the queue.
 */
#ifndef SPILLWAY_BUDGET_H
#define SPILLWAY_BUDGET_H

#include <stddef.h>

enum budget_part {
	BUDGET_QUEUED,		/* records in the queue: may be evicted */
	BUDGET_EVENTS,		/* records anywhere else: in flight, ... */
	BUDGET_REQUESTS,	/* HTTP bodies, inflated bodies, bulk items */
	BUDGET_BATCHES,		/* sink request bodies not yet answered */
	BUDGET_PARTS
};

/* The budget, in bytes (0: unlimited, the default). */
void		 budget_set_limit(size_t limit);
size_t		 budget_limit(void);

/* Count n bytes of part in, or give them back, or move them. */
void		 budget_take(enum budget_part part, size_t n);
void		 budget_give(enum budget_part part, size_t n);
void		 budget_move(enum budget_part from, enum budget_part to,
		    size_t n);

/*
 * Take n bytes for a new request (part), then, if the budget is overrun,
 * ask the reclaim function to evict queued events until it is not.
 */
void		 budget_claim(enum budget_part part, size_t n);

/*
 * Who frees queued events when a claim overruns the budget: fn(arg,
 * over) evicts at least over bytes' worth if it can.  NULL: nobody.
 */
void		 budget_set_reclaim(void (*fn)(void *, size_t), void *arg);

/* Bytes counted: of one part, of all. */
size_t		 budget_part_used(enum budget_part part);
size_t		 budget_used(void);

/* Bytes over the budget now (0 while within it). */
size_t		 budget_over(void);

/* Bytes left before the budget is spent (SIZE_MAX when unlimited). */
size_t		 budget_room(void);

/* Bytes left for firm parts: queued events would give way to them. */
size_t		 budget_firm_room(void);

/* The most that was ever counted, all parts together. */
size_t		 budget_peak(void);

/* Name of a part for metrics and /stats ("events", ...). */
const char	*budget_part_name(enum budget_part part);

#endif
