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
struct stats_source;
struct ingest_http;

/*
 * Serve the Elasticsearch-compatible API on fd (taken over).  What the
 * main sink attached to sh can take (shaper_sink_caps()) decides the
 * pass-through, the bulk updates and deletes, and the bulk parameters.
 */
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

/*
 * A stats_report_fn (stats.h) for the listener ih (arg): its server's
 * counters, and its handler's (bulk items refused, requests refused, the
 * requests waiting for their answers).
 */
void		 ingest_http_report(const void *ih, struct stats_source *out);

#endif
