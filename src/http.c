/*
 * http: request framing and responses.  Each connection is a small state
 * machine over its bufferevent's input; a request is dispatched only
 * once it is complete, and the next one is read only after the answer,
 * so pipelined requests are answered in order.
 */
#include <sys/queue.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "http.h"
#include "net.h"
#include "url.h"

#define HTTP_OUT_HIGH	(4u << 20)	/* stop reading requests above this */

enum conn_state {
	ST_HEADERS,
	ST_BODY,		/* Content-Length body */
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CRLF,
	ST_TRAILERS,
	ST_DISPATCHED,		/* handler owns the request */
	ST_CLOSING		/* flush the answer, then close */
};

struct http_conn {
	struct http_server	*srv;
	struct bufferevent	*bev;
	TAILQ_ENTRY(http_conn)	 entry;
	enum conn_state		 st;
	struct http_request	*req;
	struct evbuffer		*chunks;	/* chunked body so far */
	size_t			 remaining;	/* body or chunk bytes left */
	int			 processing;	/* inside http_conn_process */
	int			 gone;		/* peer left while dispatched */
};

struct http_server {
	struct event_base	*base;
	struct net_listener	*nl;
	struct http_limits	 limits;
	http_handler		 handler;
	void			*arg;
	struct http_counters	 counters;
	TAILQ_HEAD(, http_conn)	 conns;
};

static void	http_conn_process(struct http_conn *);
static void	http_conn_free(struct http_conn *);

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default:  return "Unknown";
	}
}

static void
http_request_free(struct http_request *req)
{
	if (req == NULL)
		return;
	free(req->headers);
	free(req->body);
	free(req);
}

const char *
http_header(const struct http_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

const char *
http_query(const struct http_request *req, const char *name, char *buf,
    size_t len)
{
	const char *p = req->query, *amp, *eq;
	size_t nlen = strlen(name), vlen;

	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		if (amp == NULL)
			amp = p + strlen(p);
		eq = memchr(p, '=', (size_t)(amp - p));
		if ((size_t)((eq ? eq : amp) - p) == nlen &&
		    strncmp(p, name, nlen) == 0) {
			if (eq == NULL) {
				buf[0] = '\0';
				return buf;
			}
			vlen = (size_t)(amp - eq - 1);
			if (vlen >= len)
				vlen = len - 1;
			url_decode(eq + 1, vlen, buf, len, 1);
			return buf;
		}
		p = *amp ? amp + 1 : amp;
	}
	return NULL;
}

/* Send a canned error and close the connection after it. */
static void
http_conn_fail(struct http_conn *c, int status)
{
	char head[256];
	char body[128];
	int blen;

	blen = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}",
	    http_reason(status), status);
	snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %d\r\nConnection: close"
	    "\r\n\r\n", status, http_reason(status), blen);
	bufferevent_write(c->bev, head, strlen(head));
	bufferevent_write(c->bev, body, (size_t)blen);
	if (status == 413)
		c->srv->counters.too_large++;
	else if (status != 408)
		c->srv->counters.bad_request++;
	http_request_free(c->req);
	c->req = NULL;
	c->st = ST_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
}

/*
 * Parse the header block (len bytes ending in CRLFCRLF) into a request.
 * Returns 0, or an HTTP status to fail with.
 */
static int
http_parse_head(struct http_conn *c, const char *head, size_t len)
{
	struct http_request *req;
	char *p, *end, *line, *eol, *sp1, *sp2, *q;
	const char *te, *cl, *conn;
	size_t nh = 0, cap = 16;

	if ((req = calloc(1, sizeof(*req) + len + 1 + len + 1)) == NULL)
		return 500;
	req->conn = c;
	p = (char *)(req + 1);
	memcpy(p, head, len);
	p[len] = '\0';
	end = p + len;
	if ((req->headers = calloc(cap, sizeof(*req->headers))) == NULL)
		goto fail500;

	/* Tolerate stray CRLFs before a request line (RFC 9112 2.2). */
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	line = p;
	if ((eol = strstr(line, "\r\n")) == NULL)
		goto fail400;
	*eol = '\0';
	if ((sp1 = strchr(line, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL)
		goto fail400;
	*sp1 = '\0';
	*sp2 = '\0';
	req->method = line;
	req->target = sp1 + 1;
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp2[8]))
		goto fail400;
	req->minor = sp2[8] - '0';
	if (*req->method == '\0' || *req->target != '/')
		goto fail400;

	for (line = eol + 2; line < end; line = eol + 2) {
		if ((eol = strstr(line, "\r\n")) == NULL || eol == line)
			break;
		*eol = '\0';
		if ((q = strchr(line, ':')) == NULL || q == line)
			goto fail400;
		*q++ = '\0';
		while (*q == ' ' || *q == '\t')
			q++;
		for (sp1 = q + strlen(q); sp1 > q && (sp1[-1] == ' ' ||
		    sp1[-1] == '\t'); )
			*--sp1 = '\0';
		if (nh == cap) {
			struct http_header *h;

			cap *= 2;
			if ((h = realloc(req->headers, cap * sizeof(*h))) ==
			    NULL)
				goto fail500;
			req->headers = h;
		}
		req->headers[nh].name = line;
		req->headers[nh].value = q;
		nh++;
	}
	req->nheaders = nh;

	/* Path (decoded) and query (raw) live after the header copy. */
	q = strchr(req->target, '?');
	req->path = end + 1;
	url_decode(req->target, q ? (size_t)(q - req->target) :
	    strlen(req->target), req->path, len + 1, 0);
	req->query = q ? q + 1 : NULL;

	conn = http_header(req, "Connection");
	req->keepalive = req->minor >= 1;
	if (conn != NULL && strcasestr(conn, "close") != NULL)
		req->keepalive = 0;
	if (conn != NULL && strcasestr(conn, "keep-alive") != NULL)
		req->keepalive = 1;

	te = http_header(req, "Transfer-Encoding");
	cl = http_header(req, "Content-Length");
	c->req = req;
	if (te != NULL) {
		if (strcasecmp(te, "chunked") != 0 || cl != NULL)
			return 501;
		c->st = ST_CHUNK_SIZE;
		if ((c->chunks = evbuffer_new()) == NULL)
			return 500;
	} else if (cl != NULL) {
		char *e;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &e, 10);
		if (!isdigit((unsigned char)*cl) || *e != '\0' || errno)
			return 400;
		if (n > c->srv->limits.max_body_bytes)
			return 413;
		c->remaining = (size_t)n;
		c->st = ST_BODY;
	} else {
		c->remaining = 0;
		c->st = ST_BODY;
	}
	if (c->st != ST_BODY || c->remaining > 0) {
		const char *exp = http_header(req, "Expect");

		if (exp != NULL && strcasecmp(exp, "100-continue") == 0 &&
		    req->minor >= 1)
			bufferevent_write(c->bev,
			    "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	return 0;
fail400:
	http_request_free(req);
	return 400;
fail500:
	http_request_free(req);
	return 500;
}

static void
http_dispatch(struct http_conn *c)
{
	c->st = ST_DISPATCHED;
	c->srv->counters.requests++;
	bufferevent_disable(c->bev, EV_READ);
	c->srv->handler(c->req, c->srv->arg);
}

/* Move the finished chunked body into the request. */
static int
http_chunks_done(struct http_conn *c)
{
	size_t n = evbuffer_get_length(c->chunks);

	if ((c->req->body = malloc(n + 1)) == NULL)
		return -1;
	evbuffer_remove(c->chunks, c->req->body, n);
	c->req->body[n] = '\0';
	c->req->body_len = n;
	evbuffer_free(c->chunks);
	c->chunks = NULL;
	return 0;
}

/* Read as far as the buffered input allows. */
static void
http_conn_process(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr ptr;
	size_t have, eol_len;
	char *line;
	int rc;

	c->processing = 1;
	for (;;) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    HTTP_OUT_HIGH)
			break;	/* the peer is not reading its answers */
		have = evbuffer_get_length(in);
		switch (c->st) {
		case ST_HEADERS:
			ptr = evbuffer_search(in, "\r\n\r\n", 4, NULL);
			if (ptr.pos < 0) {
				if (have > c->srv->limits.max_header_bytes)
					http_conn_fail(c, 431);
				goto out;
			}
			if ((size_t)ptr.pos + 4 > c->srv->limits.max_header_bytes) {
				http_conn_fail(c, 431);
				goto out;
			}
			line = (char *)evbuffer_pullup(in, ptr.pos + 4);
			rc = http_parse_head(c, line, (size_t)ptr.pos + 4);
			evbuffer_drain(in, (size_t)ptr.pos + 4);
			if (rc != 0) {
				http_conn_fail(c, rc);
				goto out;
			}
			continue;
		case ST_BODY:
			if (have < c->remaining)
				goto out;
			if ((c->req->body = malloc(c->remaining + 1)) == NULL) {
				http_conn_fail(c, 500);
				goto out;
			}
			evbuffer_remove(in, c->req->body, c->remaining);
			c->req->body[c->remaining] = '\0';
			c->req->body_len = c->remaining;
			http_dispatch(c);
			continue;
		case ST_CHUNK_SIZE:
		case ST_TRAILERS:
			ptr = evbuffer_search_eol(in, NULL, &eol_len,
			    EVBUFFER_EOL_CRLF);
			if (ptr.pos < 0) {
				if (have > 1024)
					http_conn_fail(c, 400);
				goto out;
			}
			line = (char *)evbuffer_pullup(in, ptr.pos + eol_len);
			if (c->st == ST_TRAILERS) {
				evbuffer_drain(in, ptr.pos + eol_len);
				if (ptr.pos > 0)
					continue;
				if (http_chunks_done(c) == -1) {
					http_conn_fail(c, 500);
					goto out;
				}
				http_dispatch(c);
				continue;
			} else {
				char *e;
				unsigned long long n;

				errno = 0;
				n = strtoull(line, &e, 16);
				if (e == line || errno || (*e != ';' &&
				    *e != '\r' && *e != '\n' && *e != ' ')) {
					http_conn_fail(c, 400);
					goto out;
				}
				evbuffer_drain(in, ptr.pos + eol_len);
				if (n > c->srv->limits.max_body_bytes ||
				    evbuffer_get_length(c->chunks) + n >
				    c->srv->limits.max_body_bytes) {
					http_conn_fail(c, 413);
					goto out;
				}
				c->remaining = (size_t)n;
				c->st = n ? ST_CHUNK_DATA : ST_TRAILERS;
			}
			continue;
		case ST_CHUNK_DATA:
			if (have == 0)
				goto out;
			rc = evbuffer_remove_buffer(in, c->chunks,
			    have < c->remaining ? have : c->remaining);
			c->remaining -= (size_t)rc;
			if (c->remaining == 0)
				c->st = ST_CHUNK_CRLF;
			continue;
		case ST_CHUNK_CRLF:
			if (have < 2)
				goto out;
			line = (char *)evbuffer_pullup(in, 2);
			if (line[0] != '\r' || line[1] != '\n') {
				http_conn_fail(c, 400);
				goto out;
			}
			evbuffer_drain(in, 2);
			c->st = ST_CHUNK_SIZE;
			continue;
		case ST_DISPATCHED:
		case ST_CLOSING:
			goto out;
		}
	}
out:
	c->processing = 0;
}

void
http_respond(struct http_request *req, int status, const char *ctype,
    const char *body, size_t len, const char *extra)
{
	struct http_conn *c = req->conn;
	char head[512];
	int keep = req->keepalive, head_only;

	head_only = strcmp(req->method, "HEAD") == 0;
	if (c->gone) {
		http_request_free(req);
		c->req = NULL;
		http_conn_free(c);
		return;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu"
	    "\r\n%s%s%s%s", status, http_reason(status), len,
	    ctype ? "Content-Type: " : "", ctype ? ctype : "",
	    ctype ? "\r\n" : "", keep ? "" : "Connection: close\r\n");
	bufferevent_write(c->bev, head, strlen(head));
	if (extra != NULL)
		bufferevent_write(c->bev, extra, strlen(extra));
	bufferevent_write(c->bev, "\r\n", 2);
	if (body != NULL && len > 0 && !head_only)
		bufferevent_write(c->bev, body, len);
	http_request_free(req);
	c->req = NULL;
	if (!keep) {
		c->st = ST_CLOSING;
		return;
	}
	c->st = ST_HEADERS;
	bufferevent_enable(c->bev, EV_READ);
	if (!c->processing)
		http_conn_process(c);
}

static void
http_readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	http_conn_process(arg);
}

static void
http_writecb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	(void)bev;
	if (c->st == ST_CLOSING) {
		http_conn_free(c);
		return;
	}
	if (!c->processing && c->st != ST_DISPATCHED)
		http_conn_process(c);
}

static void
http_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		c->srv->counters.timeouts++;
	if (c->st == ST_DISPATCHED) {
		/* The handler still holds the request; free on its answer. */
		c->gone = 1;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	http_conn_free(c);
}

static void
http_conn_free(struct http_conn *c)
{
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	c->srv->counters.connections--;
	if (c->req != NULL)
		http_request_free(c->req);
	if (c->chunks != NULL)
		evbuffer_free(c->chunks);
	bufferevent_free(c->bev);
	free(c);
}

static void
http_accept(int fd, void *arg)
{
	struct http_server *srv = arg;
	struct http_conn *c;
	struct timeval tv;

	if (srv->counters.connections >= srv->limits.max_connections ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		srv->counters.refused++;
		close(fd);
		return;
	}
	c->srv = srv;
	c->st = ST_HEADERS;
	if ((c->bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		free(c);
		srv->counters.refused++;
		return;
	}
	net_nodelay(fd);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->counters.connections++;
	bufferevent_setcb(c->bev, http_readcb, http_writecb, http_eventcb, c);
	if (srv->limits.idle_timeout_ms > 0) {
		tv.tv_sec = srv->limits.idle_timeout_ms / 1000;
		tv.tv_usec = (srv->limits.idle_timeout_ms % 1000) * 1000;
		bufferevent_set_timeouts(c->bev, &tv, &tv);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

struct http_server *
http_server_new(struct event_base *base, int fd,
    const struct http_limits *limits, http_handler handler, void *arg)
{
	struct http_server *srv;

	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		close(fd);
		return NULL;
	}
	srv->base = base;
	srv->limits = *limits;
	srv->handler = handler;
	srv->arg = arg;
	TAILQ_INIT(&srv->conns);
	if ((srv->nl = net_listener_new(base, fd, http_accept, srv)) == NULL) {
		free(srv);
		return NULL;
	}
	return srv;
}

void
http_server_stop(struct http_server *srv)
{
	if (srv == NULL)
		return;
	net_listener_free(srv->nl);
	srv->nl = NULL;
}

void
http_server_free(struct http_server *srv)
{
	struct http_conn *c;

	if (srv == NULL)
		return;
	http_server_stop(srv);
	while ((c = TAILQ_FIRST(&srv->conns)) != NULL)
		http_conn_free(c);
	free(srv);
}

void
http_request_drop_body(struct http_request *req)
{
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}

size_t
http_server_unflushed(const struct http_server *srv)
{
	const struct http_conn *c;
	size_t n = 0;

	TAILQ_FOREACH(c, &srv->conns, entry)
		if (!c->gone && evbuffer_get_length(
		    bufferevent_get_output(c->bev)) > 0)
			n++;
	return n;
}

const struct http_counters *
http_server_counters(const struct http_server *srv)
{
	return &srv->counters;
}
