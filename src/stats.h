/*
 * stats: how the listeners and the Kafka source report their counters.
 * Each is registered once with a function that fills a struct
 * stats_source of its own when asked; /metrics renders every family from
 * a table over what they filled, and knows none of them.
 */
#ifndef SPILLWAY_STATS_H
#define SPILLWAY_STATS_H

#include <stddef.h>
#include <stdint.h>

/* The families a source has counters for (stats_source.has). */
#define STATS_CONNECTIONS	0x01	/* open connections */
#define STATS_REFUSED		0x02	/* connections closed at once */
#define STATS_HTTP		0x04	/* HTTP requests refused, slow clients */
#define STATS_TCP		0x08	/* lines cut short */
#define STATS_LOOPS		0x10	/* TCP event loops (workers) */
#define STATS_INGEST_HTTP	0x20	/* the _bulk and /ingest handler */
#define STATS_KAFKA_SOURCE	0x40	/* the consumer group */
#define STATS_FLEET		0x80	/* the fleet's channel (fleet.url) */

#define STATS_LOOPS_MAX		256	/* the main loop and the workers */
#define STATS_SOURCES_MAX	8

/* What one source counted; only the fields of its families are set. */
struct stats_source {
	const char	*name;		/* listener label, as registered */
	unsigned	 has;		/* STATS_* */

	/* STATS_CONNECTIONS, STATS_REFUSED */
	uint64_t	 connections;	/* open now */
	uint64_t	 refused_limit;	/* over max_connections */
	uint64_t	 refused_descriptors;	/* kept free for the admin port */

	/* STATS_HTTP: requests refused, by the status they were answered */
	uint64_t	 rejected_413;
	uint64_t	 rejected_400;
	uint64_t	 rejected_408;
	uint64_t	 rejected_429;
	uint64_t	 slow_header;	/* 408: a slow header block */
	uint64_t	 slow_body;	/* 408: a body under the minimum rate */

	/* STATS_TCP */
	uint64_t	 partial;	/* lines cut short by a disconnect */

	/* STATS_LOOPS */
	uint64_t	 moved;		/* connections moved between loops */
	size_t		 nloops;
	uint64_t	 loop_connections[STATS_LOOPS_MAX];	/* 0: main */

	/* STATS_INGEST_HTTP */
	uint64_t	 unsupported;	/* update/delete items refused */
	uint64_t	 auth_refused;	/* 401 */
	uint64_t	 passthrough_refused;	/* 403 */
	uint64_t	 params_ignored;	/* no sink to apply them */
	uint64_t	 waiting;	/* requests waiting for answers */
	uint64_t	 waiting_events;
	uint64_t	 ack_refused;	/* 429: the waiting hold too much */
	uint64_t	 deadlines;	/* answered at ack_timeout_ms */
	uint64_t	 late_inflight;	/* of those, events the sink had */

	/* STATS_KAFKA_SOURCE */
	uint64_t	 messages;	/* read and offered */
	uint64_t	 partitions;	/* assigned now */
	uint64_t	 paused;	/* 1 while consumption is paused */
	uint64_t	 undecided;	/* events not final yet */
	uint64_t	 commits;
	uint64_t	 commit_errors;
	uint64_t	 rewinds;
	uint64_t	 paced;
	uint64_t	 rebalances;

	/* STATS_FLEET: reports */
	uint64_t	 fleet_published;	/* delivered to the brokers */
	uint64_t	 fleet_unpublished;	/* failed, or not even queued */
	uint64_t	 fleet_received;	/* of others, kept */
	uint64_t	 fleet_refused;		/* messages that are not one */
};

/* Fill out (zeroed, its name set) with what arg counted. */
typedef void	(*stats_report_fn)(const void *arg, struct stats_source *out);

struct stats_registry {
	struct {
		const char	*name;
		stats_report_fn	 fn;
		const void	*arg;
	}		 r[STATS_SOURCES_MAX];
	size_t		 n;
};

/*
 * Register a source under name (borrowed, static text): fn(arg, ...)
 * reports it, in the order of registration.  At most STATS_SOURCES_MAX;
 * more are not reported.
 */
void	stats_register(struct stats_registry *reg, const char *name,
	    stats_report_fn fn, const void *arg);

/*
 * Ask every source registered for its counters, into out[0..max-1].
 * Returns how many were filled.
 */
size_t	stats_collect(const struct stats_registry *reg,
	    struct stats_source *out, size_t max);

/*
 * A stats_report_fn for an http_server (arg): its connections (open now,
 * and closed at once) and its requests refused.  The HTTP ingest adds
 * its own to these.
 */
void	stats_http_server(const void *srv, struct stats_source *out);

#endif
