/*
 * http: a small HTTP/1.1 server on bufferevents, for the ingest and admin
 * listeners.  It reads a whole request (Content-Length or chunked body,
 * Expect: 100-continue, keep-alive, pipelining in order), enforces the
 * header, body and connection limits itself and counts what it refuses,
 * then calls the handler once per request.
 *
 * Framing follows RFC 9112 strictly, for a proxy must not read a request
 * differently from the server behind it: whatever could be framed two
 * ways (duplicate Content-Length, Transfer-Encoding with Content-Length,
 * codings other than exactly "chunked", obs-fold, bare LF, whitespace
 * before a colon, bad chunk sizes, control characters) is answered 400
 * (501 for an unknown transfer coding) and the connection is closed.
 * So is an HTTP/1.1 request without Host, or with a path that decodes to
 * NUL ("%00").  An answer that closes the connection, a refusal or not,
 * lingers: the server shuts its side down and reads what the peer still
 * sends for a few seconds before closing, so that no reset destroys the
 * answer in flight.
 */
#ifndef SPILLWAY_HTTP_H
#define SPILLWAY_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct event_base;
struct http_conn;
struct http_server;

struct http_header {
	char		*name;
	char		*value;
};

/* One request; borrowed by the handler until it responds. */
struct http_request {
	struct http_conn	*conn;
	char			*method;
	char			*target;	/* as sent: path?query */
	char			*path;		/* percent-decoded */
	char			*query;		/* raw, after '?', or NULL */
	int			 minor;		/* HTTP/1.x */
	struct http_header	*headers;
	size_t			 nheaders;
	char			*body;		/* NUL-terminated, owned */
	size_t			 body_len;
	size_t			 budgeted;	/* body bytes in the budget */
	int			 keepalive;
};

/*
 * Called for every complete request.  The handler must answer it exactly
 * once with http_respond(), now or later (the connection reads no further
 * request until then).
 */
typedef void	(*http_handler)(struct http_request *req, void *arg);

/*
 * Limits of one server, copied by http_server_new().  Zero-initialise the
 * struct (`struct http_limits lim = { 0 };`), then set max_header_bytes,
 * max_body_bytes and max_connections, which have no default (0 fails
 * http_server_new()), and what else you need: the other fields, left 0,
 * take the defaults below or none.
 *
 * header_timeout_ms bounds the whole header block, however slowly its
 * bytes come: the clock starts when a connection is accepted, and on a
 * keep-alive connection at the first byte after the previous answer (an
 * idle keep-alive connection is idle_timeout_ms's business).
 *
 * A body must keep up body_min_rate bytes/s after a grace: it may take
 * body_grace_ms plus one second for every body_min_rate bytes received
 * so far, counted from the end of its header block.  A slower one is
 * answered 408 and closed.
 *
 * Values outside the ranges below are taken as unset (the default).
 */
#define HTTP_HEADER_TIMEOUT_MS	10000		/* 1 .. 86400000 */
#define HTTP_BODY_MIN_RATE	1024		/* bytes/s, 1 .. 1 GiB/s */
#define HTTP_BODY_GRACE_MS	5000		/* 1 .. 86400000 */

struct http_limits {
	size_t		 max_header_bytes;	/* 431 beyond */
	size_t		 max_body_bytes;	/* 413 beyond */
	size_t		 max_connections;	/* further ones are closed */
	long		 idle_timeout_ms;	/* 0: none */
	long		 header_timeout_ms;	/* 408 beyond; 0: default */
	long		 body_min_rate;		/* bytes/s; 0: default */
	long		 body_grace_ms;		/* 0: default */
	int		 budget;		/* bodies count in the memory
						   budget (budget.h): 429
						   before reading one past it */
};

/*
 * What a server refused.  timeouts counts every connection closed for
 * time: idle ones (closed without an answer) and the 408s, which are
 * also counted by cause in header_timeouts and slow_bodies.
 */
struct http_counters {
	uint64_t	 requests;
	uint64_t	 too_large;		/* 413 */
	uint64_t	 bad_request;		/* 400/431/501 from parsing */
	uint64_t	 refused;		/* over max_connections */
	uint64_t	 timeouts;		/* idle, plus the two below */
	uint64_t	 header_timeouts;	/* 408: header_timeout_ms */
	uint64_t	 slow_bodies;		/* 408: under body_min_rate */
	uint64_t	 over_budget;		/* 429: memory budget spent */
	size_t		 connections;		/* open now */
};

/*
 * Serve on the listening socket fd (taken over).  NULL on failure, and
 * when max_header_bytes, max_body_bytes or max_connections is 0.
 */
struct http_server *http_server_new(struct event_base *base, int fd,
		    const struct http_limits *limits, http_handler handler,
		    void *arg);

/* Stop accepting; open connections finish their current request. */
void		 http_server_stop(struct http_server *srv);

/* Close everything.  Accepts NULL. */
void		 http_server_free(struct http_server *srv);

const struct http_counters *http_server_counters(
		    const struct http_server *srv);

/*
 * Let srv use the descriptors the other listeners leave free (the admin
 * port; net_listener_reserve()).
 */
void		 http_server_reserve(struct http_server *srv);

/* Connections closed at once to keep descriptors free for the others. */
unsigned long	 http_server_shed(const struct http_server *srv);

struct ssl_ctx_st;

/*
 * Serve srv's connections over TLS with ctx (borrowed: it must outlive
 * srv), from the next accepted connection on.
 */
void		 http_server_tls(struct http_server *srv, struct ssl_ctx_st *ctx);

/* Value of a request header (case-insensitive name), or NULL. */
const char	*http_header(const struct http_request *req, const char *name);

/*
 * Value of a query parameter, percent-decoded into buf; NULL when absent.
 * A parameter given without '=' yields "".
 */
const char	*http_query(const struct http_request *req, const char *name,
		    char *buf, size_t len);

/*
 * Answer req: status, body (len bytes, may be NULL for none), optional
 * content type and extra header lines ("Name: value\r\n..." or NULL).
 * For HEAD the body is not sent but its length is (body may then be NULL
 * with len the length a GET would have).  req is freed.
 */
void		 http_respond(struct http_request *req, int status,
		    const char *content_type, const char *body, size_t len,
		    const char *extra_headers);

/* http_respond() with the bytes of buf as the body; buf is freed. */
void		 http_respond_buffer(struct http_request *req, int status,
		    const char *content_type, struct evbuffer *buf,
		    const char *extra_headers);

/* http_respond() with a JSON body printed from fmt (500 without memory). */
void		 http_respond_json(struct http_request *req, int status,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct http_stream;

/*
 * Answer req with a stream (GET /tap): status and content type now, then
 * the body in chunks, one per http_stream_write(), until
 * http_stream_end(), after which the connection closes.  gone(arg) is
 * called once if the connection ends before that (the peer left, or the
 * server is freed); the stream is invalid from then on.  NULL when the
 * peer has left already (gone() is not called then).
 */
struct http_stream *http_stream_start(struct http_request *req, int status,
		    const char *content_type, void (*gone)(void *),
		    void *arg);

/* One chunk of len bytes (0: nothing).  0, or -1 without memory. */
int		 http_stream_write(struct http_stream *s, const char *buf,
		    size_t len);

/* Bytes written to the stream and not yet sent. */
size_t		 http_stream_pending(const struct http_stream *s);

/* The last chunk; the connection closes once it is out. */
void		 http_stream_end(struct http_stream *s);

/*
 * Free req's body early, for a handler that answers later and no longer
 * needs it (what a waiting request holds then counts, not its body).
 */
void		 http_request_drop_body(struct http_request *req);

/* Connections with an answer not yet written out. */
size_t		 http_server_unflushed(const struct http_server *srv);

/* Reason phrase for a status code. */
const char	*http_reason(int status);

#endif
