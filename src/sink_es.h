/*
 * sink_es: the Elasticsearch _bulk sink.  The pure parts live here so
 * that tests can check bulk bodies and response handling byte for byte
 * without a network; the sink itself is sink_es_ops (sink.h).
 */
#ifndef SPILLWAY_SINK_ES_H
#define SPILLWAY_SINK_ES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct evbuffer;
struct record;
struct sink;

/* What to do with one item of a bulk response. */
enum sink_es_item {
	SINK_ES_ITEM_OK,	/* 2xx, or 409: forwarded */
	SINK_ES_ITEM_RETRY,	/* 5xx, or no answer for it */
	SINK_ES_ITEM_WAIT,	/* 429: back-pressure, retried without limit */
	SINK_ES_ITEM_REJECT	/* any other 4xx: refused for good */
};

/* Counters of back-pressure signals, ever since the sink started. */
struct sink_es_signals {
	uint64_t	 whole_rejected;	/* whole-request 429 or 503 */
	uint64_t	 item_429;		/* per-item 429s */
	uint64_t	 slow;			/* requests over target latency */
	uint64_t	 saturated;		/* all slots busy, batches waiting */
	uint64_t	 retried;		/* records sent again */
	uint64_t	 yielded;		/* given back from a backoff
						   to let priority 0 out */
};

/*
 * The index pattern of events that did not bring an action line, and a
 * small cache of its expansions.  pattern is a strftime pattern applied
 * in UTC; create selects "create" actions (data streams) over "index".
 * NULL on allocation failure.
 */
struct sink_es_index *sink_es_index_new(const char *pattern, int create);

/* Accepts NULL. */
void		 sink_es_index_free(struct sink_es_index *ix);

/*
 * The time of an ISO 8601 timestamp (2026-11-22, 2026-11-22T10:11:12Z,
 * ...T10:11:12.345+02:00, ...T10:11+0200; no zone means UTC), seconds
 * since the epoch, into *t.  0, or -1 when s (len bytes) is not one.
 */
int		 sink_es_timestamp(const char *s, size_t len, time_t *t);

/*
 * Append the bulk body for recs[0..n-1] to out: for each record its
 * action line (the one it came with, byte for byte, or one built from
 * ix with the index of its @timestamp, else of now) and its source line
 * (rec->data, byte for byte), each followed by '\n'.  A delete action
 * has no source line.  0, or -1 on allocation failure.
 */
int		 sink_es_body(struct evbuffer *out, struct sink_es_index *ix,
		    struct record *const *recs, size_t n, time_t now);

/*
 * Read the body of a 2xx bulk response (len bytes) for a request of n
 * items into out[0..n-1].  Item i answers record i; items missing from
 * the response are retried.  *n429, when not NULL, receives the number
 * of items answered 429.  0, or -1 when the body is not a bulk response
 * (the caller retries the whole request).
 */
int		 sink_es_response(const char *body, size_t len, size_t n,
		    enum sink_es_item *out, size_t *n429);

/* Where one item's answer is in a bulk response body. */
struct sink_es_answer {
	size_t		 off;		/* the object under the action name */
	size_t		 len;		/* 0: the response has no such item */
	int		 status;	/* its "status", or 0 */
};

/*
 * sink_es_response() for senders that want the cluster's own answer for
 * each item: also finds, in the text itself, the object each item of the
 * response holds under its action name ({"_index":...,"status":201}) and
 * its status, into ans[0..n-1].  Items are classified by that status
 * alone; one missing, or without a status, is retried.  0, or -1 when
 * the body is not a bulk response.
 */
int		 sink_es_answers(const char *body, size_t len, size_t n,
		    enum sink_es_item *out, size_t *n429,
		    struct sink_es_answer *ans);

/*
 * The back-pressure counters of an Elasticsearch sink (one made from
 * sink_es_ops); zeros for other sinks.
 */
void		 sink_es_signals(struct sink *s, struct sink_es_signals *out);

/*
 * The pause before a batch's next try, tries being how many it has had
 * (1: the first retry): 100 ms doubled each try up to 30 s, times a
 * jitter of 0.8 to 1.2 from u in [0, 1); at least retry_after seconds
 * (Retry-After, honoured up to 300) when the cluster sent it.  Pure.
 */
uint64_t	 sink_es_backoff(unsigned tries, double u, long retry_after);

#endif
