/*
 * ingest: the listeners that turn bytes from shippers into events for the
 * shaper.  TCP takes NDJSON; HTTP speaks enough Elasticsearch for a
 * Logstash, Filebeat or rsyslog output to point at spillway.
 */
#ifndef SPILLWAY_INGEST_H
#define SPILLWAY_INGEST_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct shaper;
struct ingest_tcp;
struct ingest_http;

struct ingest_tcp_counters {
	size_t		 connections;	/* open now */
	uint64_t	 accepted;
	uint64_t	 refused;	/* over max_connections */
	uint64_t	 timeouts;	/* idle connections closed */
	uint64_t	 partial;	/* lines cut short by a disconnect */
	uint64_t	 moved_in;	/* taken over from another loop */
	uint64_t	 moved_out;	/* handed to another loop */
};

/*
 * A connection on its way to another event loop: its socket, the bytes
 * read past its last complete line, and whether it is inside a line too
 * long to keep.
 */
struct ingest_tcp_handoff {
	int		 fd;
	int		 discarding;
	size_t		 len;
	char		 buf[];
};

/* Serve NDJSON on the listening socket fd (taken over). */
struct ingest_tcp *ingest_tcp_new(struct event_base *base, int fd,
		    const struct config *cf, struct shaper *sh);

/*
 * Where a listener on another thread sends its lines instead of the
 * shaper: offer() each complete line, too_large() for each line refused
 * for its size, flush() after each read.
 */
struct ingest_tcp_hooks {
	void	(*offer)(void *arg, const char *line, size_t len,
		    uint64_t now);
	void	(*too_large)(void *arg);
	void	(*flush)(void *arg);
	void	(*closed)(void *arg);	/* a connection ended; may be NULL */
};

/* fd may be -1: no listener, connections come by ingest_tcp_adopt(). */
struct ingest_tcp *ingest_tcp_new_hooked(struct event_base *base, int fd,
		    const struct config *cf, struct shaper *sh,
		    const struct ingest_tcp_hooks *hooks, void *arg);

/*
 * Offer each accepted connection to fn first: 1 when another event loop
 * has taken the descriptor, -1 to refuse it (counted, closed), 0 to serve
 * it here.
 */
void		 ingest_tcp_set_dispatch(struct ingest_tcp *it,
		    int (*fn)(void *arg, int fd), void *arg);

/* Serve a connected socket (taken over) as if this listener accepted it. */
void		 ingest_tcp_adopt(struct ingest_tcp *it, int fd);

/*
 * Take one connection off this listener, between two lines: every
 * complete line it read has been offered.  NULL when it has none.
 */
struct ingest_tcp_handoff *ingest_tcp_release(struct ingest_tcp *it);

/* Serve a connection another listener released; takes h. */
void		 ingest_tcp_adopt_handoff(struct ingest_tcp *it,
		    struct ingest_tcp_handoff *h);

/*
 * Stop accepting and reading; lines already buffered are still offered.
 * Connections are closed.
 */
void		 ingest_tcp_stop(struct ingest_tcp *it);
void		 ingest_tcp_free(struct ingest_tcp *it);
const struct ingest_tcp_counters *ingest_tcp_counters(
		    const struct ingest_tcp *it);

/* Connections closed at once to keep descriptors free for the admin port. */
unsigned long	 ingest_tcp_shed(const struct ingest_tcp *it);

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

struct ingest_kafka;

struct ingest_kafka_counters {
	uint64_t	 messages;	/* read and offered */
	uint64_t	 skipped;	/* of partitions being given up */
	uint64_t	 errors;	/* consumer errors */
	uint64_t	 stored;	/* offset stores */
	uint64_t	 commits;	/* commits that succeeded */
	uint64_t	 commit_errors;
	uint64_t	 partitions;	/* assigned, ever */
	uint64_t	 assigned;	/* now */
	uint64_t	 undecided;	/* events not final yet */
	uint64_t	 revokes;
	uint64_t	 rewinds;	/* partitions read again */
	uint64_t	 paced;		/* reads held back to the admitted rate */
	uint64_t	 pauses;
	int		 paused;	/* now */
};

/*
 * Join the consumer group of cf->listen_kafka and offer its messages.
 * NULL with a message in err.
 */
struct ingest_kafka *ingest_kafka_new(struct event_base *base,
		    const struct config *cf, struct shaper *sh, char *err,
		    size_t errlen);

/* Stop consuming (shutdown); what was read is still decided. */
void		 ingest_kafka_stop(struct ingest_kafka *ik);

/*
 * Commit what is final and leave the group.  Free it after the shaper,
 * whose records tell it their fate.
 */
void		 ingest_kafka_free(struct ingest_kafka *ik);
const struct ingest_kafka_counters *ingest_kafka_counters(
		    struct ingest_kafka *ik);

#endif
