/*
 * history: the last 15 minutes of per-class rates, lag and capacity,
 * one sample a second, in a ring of fixed size (GET /stats/history), so
 * that the dashboard draws the whole window as soon as it opens.
 *
 * Classes get a column each, by name, in the order they first appear,
 * up to HISTORY_CLASSES; a sample holds the columns that existed when
 * it was taken.  About 1.2 MiB, allocated once.
 */
#ifndef SPILLWAY_HISTORY_H
#define SPILLWAY_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define HISTORY_SECS		900
#define HISTORY_CLASSES		64

/* One class over one second: events/s, and its lag's p99. */
struct history_class {
	float		 received;
	float		 forwarded;
	float		 shed;		/* dropped as backpressure */
	float		 dropped;	/* every reason */
	float		 lag_p99_ms;
};

struct history_sample {
	uint64_t	 wall_ms;	/* when it was taken */
	double		 capacity;	/* events/s; +Inf: unlimited */
	int		 backpressure;
	uint64_t	 queued;	/* events */
	size_t		 n;		/* columns in c[] */
	struct history_class c[HISTORY_CLASSES];
};

struct history;
struct evbuffer;

struct history	*history_new(void);
void		 history_free(struct history *h);

/*
 * The column of class name, added (with its priority) if it is new; the
 * priority is updated when it changed.  -1 once HISTORY_CLASSES are
 * taken: that class is left out of the history.
 */
int		 history_column(struct history *h, const char *name,
		    int priority);

/*
 * The slot for the next sample, taken at wall_ms: the oldest is
 * overwritten once the ring is full.  Its columns are zeroed and n is
 * the number of columns now; the caller fills them in.
 */
struct history_sample *history_next(struct history *h, uint64_t wall_ms);

/* Samples held, 0..HISTORY_SECS; i = 0 is the oldest. */
size_t		 history_len(const struct history *h);
const struct history_sample *history_at(const struct history *h, size_t i);

/*
 * As JSON: {"interval_s":1,"window_s":900,"classes":[{"name":...,
 * "priority":...},...],"samples":[{"t":ms,"capacity":C|null,
 * "backpressure":bool,"queued":N,"received":[...],"forwarded":[...],
 * "shed":[...],"dropped":[...],"lag_p99_ms":[...]},...]}, oldest first;
 * a sample's arrays have one value per class, null for the classes that
 * came later.
 */
int		 history_json(const struct history *h, struct evbuffer *out);

#endif
