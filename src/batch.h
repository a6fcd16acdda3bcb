/*
 * batch: the one definition of how records are grouped on their way to a
 * sink.  A batch holds at most `events` records and `bytes` bytes, except
 * that one record alone always fits, however large; it is full once
 * either limit is reached; and it is due when full, or `flush_ns` after
 * the arrival of its oldest record, so that records which already waited
 * (in the queue, or handed back) do not wait for a batch again.  Pure:
 * counts and times are passed in.
 *
 * Two layers group records with these limits, each measuring a record
 * its own way.  The shaper cuts what it hands a sink in one submit
 * (shaper_pump()), counting rec->len.  The Elasticsearch sink forms its
 * requests from what it was handed (sink_es.c), counting what a record
 * adds to the request body (sink_es_bulk_size()), and alone uses
 * flush_ns.  The file and Kafka sinks take each record as it comes.
 */
#ifndef SPILLWAY_BATCH_H
#define SPILLWAY_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct config;

/* Records on their way to a sink together, in order. */
struct batch {
	struct record_list	 recs;
	size_t			 n;
	size_t			 bytes;		/* sum of record lengths */
};

void	 batch_init(struct batch *b);

/* Append rec (its link is the batch's from now on). */
void	 batch_add(struct batch *b, struct record *rec);

struct batch_limits {
	size_t		 events;	/* sink.batch_events */
	size_t		 bytes;		/* sink.batch_bytes */
	uint64_t	 flush_ns;	/* sink.flush_ms, in ns */
};

/* The limits the configuration sets. */
void	 batch_limits(struct batch_limits *lim, const struct config *cf);

/*
 * Whether a batch of n records and bytes bytes has room for one more of
 * size bytes: fewer than lim->events records, and, unless it is empty,
 * bytes + size within lim->bytes.
 */
int	 batch_room(const struct batch_limits *lim, size_t n, size_t bytes,
	    size_t size);

/* Whether a batch of n records and bytes bytes is full (no room left). */
int	 batch_full(const struct batch_limits *lim, size_t n, size_t bytes);

/* When a batch whose oldest record arrived at first_at is due (ns). */
uint64_t batch_deadline(const struct batch_limits *lim, uint64_t first_at);

/*
 * Whether a batch of n records and bytes bytes, its oldest arrived at
 * first_at, is due at now: full, or at its deadline.
 */
int	 batch_due(const struct batch_limits *lim, size_t n, size_t bytes,
	    uint64_t first_at, uint64_t now);

#endif
