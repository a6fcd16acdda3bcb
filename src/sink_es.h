/*
 * sink_es: the Elasticsearch _bulk sink, sink_es_ops (sink.h): its
 * connections, slots, retries and timers.  What it sends and how it
 * reads the answers, without I/O, is sink_es_bulk.h.
 */
#ifndef SPILLWAY_SINK_ES_H
#define SPILLWAY_SINK_ES_H

#include <stdint.h>

/*
 * Counters of back-pressure signals, ever since the sink started; its
 * metrics op renders them.
 */
struct sink_es_signals {
	uint64_t	 whole_rejected;	/* whole-request 429 or 503 */
	uint64_t	 item_429;		/* per-item 429s */
	uint64_t	 slow;			/* requests over target latency */
	uint64_t	 saturated;		/* all slots busy, batches waiting */
	uint64_t	 retried;		/* records sent again */
	uint64_t	 yielded;		/* given back from a backoff
						   to let priority 0 out */
};

#endif
