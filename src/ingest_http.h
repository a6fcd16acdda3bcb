/*
 * ingest_http: the Elasticsearch-compatible HTTP ingest, enough of it for a
 * Logstash, Filebeat, Fluent Bit or rsyslog output to point at spillway
 * as if it were the cluster: _bulk, /ingest, the start-up calls and the
 * pass-through to an Elasticsearch sink.
 */
#ifndef SPILLWAY_INGEST_HTTP_H
#define SPILLWAY_INGEST_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct shaper;
struct ingest_http;

struct http_server;

/* Serve the Elasticsearch-compatible API on fd (taken over). */
struct ingest_http *ingest_http_new(struct event_base *base, int fd,
		    const struct config *cf, struct shaper *sh);

/*
 * Stop accepting; requests still waiting for their answers (ack "sink")
 * are answered as their events become final, and new _bulk and /ingest
 * requests on open connections are answered 503.
 */
void		 ingest_http_stop(struct ingest_http *ih);

/*
 * Answer every request still waiting: what is not final yet answers 503
 * (the sender sends it again).  The answers are written as the loop runs
 * (ingest_http_unflushed() tells how many are left).  Accepts NULL.
 */
void		 ingest_http_finish(struct ingest_http *ih);
size_t		 ingest_http_unflushed(const struct ingest_http *ih);

struct ssl_ctx_st;

/* Serve over TLS with ctx (borrowed; it must outlive ih). */
void		 ingest_http_tls(struct ingest_http *ih, struct ssl_ctx_st *ctx);

/* Calls ingest_http_finish() first.  Accepts NULL. */
void		 ingest_http_free(struct ingest_http *ih);
const struct http_server *ingest_http_server(const struct ingest_http *ih);

struct ingest_http_counters {
	uint64_t	 unsupported;	/* update/delete items refused */
	size_t		 waiting;	/* requests waiting for answers */
	size_t		 waiting_events;	/* their events */
	uint64_t	 refused;	/* 429: waiting requests hold too much */
	uint64_t	 over_budget;	/* 429: the memory budget is spent */
	uint64_t	 deadlines;	/* answered at ack_timeout_ms */
	uint64_t	 late_inflight;	/* of those, events the sink had */
	uint64_t	 params_ignored;	/* _bulk requests whose parameters
					   no sink but Elasticsearch has */
	uint64_t	 passthrough_refused;	/* 403: http.passthrough */
	uint64_t	 auth_refused;	/* 401: ingest_auth */
	uint64_t	 too_large;	/* 413 once inflated, or too many items */
};

const struct ingest_http_counters *ingest_http_counters(
		    const struct ingest_http *ih);

#endif
