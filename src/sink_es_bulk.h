/*
 * sink_es_bulk: what the Elasticsearch sink sends and how it reads the
 * answers, as pure functions (no I/O, no event loop; bodies are appended
 * to an evbuffer, libevent's buffer, which the request then sends), so
 * that tests check bulk bodies and response handling byte for byte
 * without a network.  The transport is sink_es.c.
 */
#ifndef SPILLWAY_SINK_ES_BULK_H
#define SPILLWAY_SINK_ES_BULK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct evbuffer;
struct record;

/* What to do with one item of a bulk response. */
enum sink_es_bulk_item {
	SINK_ES_BULK_OK,	/* 2xx, or 409: forwarded */
	SINK_ES_BULK_RETRY,	/* 5xx, or no answer for it */
	SINK_ES_BULK_WAIT,	/* 429: back-pressure, retried without limit */
	SINK_ES_BULK_REJECT	/* any other 4xx: refused for good */
};

/*
 * The index pattern of events that did not bring an action line, and a
 * small cache of its expansions.  pattern is a strftime pattern applied
 * in UTC; create selects "create" actions (data streams) over "index".
 * NULL on allocation failure.
 */
struct sink_es_bulk_index *sink_es_bulk_index_new(const char *pattern,
		    int create);

/* Accepts NULL. */
void		 sink_es_bulk_index_free(struct sink_es_bulk_index *ix);

/*
 * The time of an ISO 8601 timestamp (2026-11-22, 2026-11-22T10:11:12Z,
 * ...T10:11:12.345+02:00, ...T10:11+0200; no zone means UTC), seconds
 * since the epoch, into *t.  0, or -1 when s (len bytes) is not one.
 */
int		 sink_es_bulk_timestamp(const char *s, size_t len, time_t *t);

/*
 * Append the bulk body for recs[0..n-1] to out: for each record its
 * action line (the one it came with, byte for byte, or one built from
 * ix with the index of its @timestamp, else of now) and its source line
 * (rec->data, byte for byte), each followed by '\n'.  A delete action
 * has no source line.  0, or -1 on allocation failure.
 */
int		 sink_es_bulk_body(struct evbuffer *out,
		    struct sink_es_bulk_index *ix, struct record *const *recs,
		    size_t n, time_t now);

/*
 * Read the body of a 2xx bulk response (len bytes) for a request of n
 * items into out[0..n-1].  Item i answers record i; items missing from
 * the response are retried.  *n429, when not NULL, receives the number
 * of items answered 429.  0, or -1 when the body is not a bulk response
 * (the caller retries the whole request).
 */
int		 sink_es_bulk_response(const char *body, size_t len, size_t n,
		    enum sink_es_bulk_item *out, size_t *n429);

/* Where one item's answer is in a bulk response body. */
struct sink_es_bulk_answer {
	size_t		 off;		/* the object under the action name */
	size_t		 len;		/* 0: the response has no such item */
	int		 status;	/* its "status", or 0 */
};

/*
 * sink_es_bulk_response() for senders that want the cluster's own answer for
 * each item: also finds, in the text itself, the object each item of the
 * response holds under its action name ({"_index":...,"status":201}) and
 * its status, into ans[0..n-1].  Items are classified by that status
 * alone; one missing, or without a status, is retried.  0, or -1 when
 * the body is not a bulk response.
 */
int		 sink_es_bulk_answers(const char *body, size_t len, size_t n,
		    enum sink_es_bulk_item *out, size_t *n429,
		    struct sink_es_bulk_answer *ans);

/*
 * The pause before a batch's next try, tries being how many it has had
 * (1: the first retry): 100 ms doubled each try up to 30 s, times a
 * jitter of 0.8 to 1.2 from u in [0, 1); at least retry_after seconds
 * (Retry-After, honoured up to 300) when the cluster sent it.  Pure.
 */
uint64_t	 sink_es_bulk_backoff(unsigned tries, double u,
		    long retry_after);

/*
 * The bytes rec adds to a request body: its action line (or, for one to
 * be built from the index pattern, an estimate) and its source, each
 * with its newline.  What the sink's batch_bytes counts.
 */
size_t		 sink_es_bulk_size(const struct record *rec);

/*
 * Whether a and b may go in one request: they carry the same request
 * parameters (rec->params, byte for byte, or none).
 */
int		 sink_es_bulk_same_params(const struct record *a,
		    const struct record *b);

/*
 * Whether the sender of one of recs[0..n-1] waits for the cluster's own
 * item answers (its ack has RECORD_ACK_ANSWER): the request then asks
 * for whole answers, read with sink_es_bulk_answers().
 */
int		 sink_es_bulk_answers_wanted(struct record *const *recs,
		    size_t n);

/*
 * The target of a bulk request under the URL's path prefix ("" or
 * "/es"): PREFIX/_bulk with a filter_path that keeps only what
 * sink_es_bulk_response() reads, or, when answers, PREFIX/_bulk whole;
 * then params (the records' request parameters, "refresh=true&..."),
 * when not NULL.  Malloc'ed; NULL on allocation failure.
 */
char		*sink_es_bulk_target(const char *prefix, int answers,
		    const char *params);

/* d nanoseconds times a jitter of 0.8 to 1.2, from u in [0, 1).  Pure. */
uint64_t	 sink_es_bulk_jitter(uint64_t d, double u);

#endif
