/*
 * batch: records grouped for a sink, and the limits by which they are,
 * as pure decisions on counts and times (batch.h).
 */
#include <spillway/clock.h>

#include "batch.h"
#include "config.h"

void
batch_limits(struct batch_limits *lim, const struct config *cf)
{
	lim->events = (size_t)cf->batch_events;
	lim->bytes = (size_t)cf->batch_bytes;
	lim->flush_ns = (uint64_t)cf->flush_ms * NSEC_PER_MSEC;
}

int
batch_room(const struct batch_limits *lim, size_t n, size_t bytes,
    size_t size)
{
	return n < lim->events && (n == 0 || bytes + size <= lim->bytes);
}

int
batch_full(const struct batch_limits *lim, size_t n, size_t bytes)
{
	return n >= lim->events || bytes >= lim->bytes;
}

uint64_t
batch_deadline(const struct batch_limits *lim, uint64_t first_at)
{
	return first_at + lim->flush_ns;
}

int
batch_due(const struct batch_limits *lim, size_t n, size_t bytes,
    uint64_t first_at, uint64_t now)
{
	return batch_full(lim, n, bytes) || now >= batch_deadline(lim,
	    first_at);
}

void
batch_init(struct batch *b)
{
	TAILQ_INIT(&b->recs);
	b->n = 0;
	b->bytes = 0;
}

void
batch_add(struct batch *b, struct record *rec)
{
	TAILQ_INSERT_TAIL(&b->recs, rec, link);
	b->n++;
	b->bytes += rec->len;
}
