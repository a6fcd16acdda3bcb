/*
 * http: request framing and responses.  Each connection is a small state
 * machine over its bufferevent's input; a request is dispatched only
 * once it is complete, and the next one is read only after the answer,
 * so pipelined requests are answered in order.
 *
 * Framing is RFC 9112's, read strictly: spillway sits in front of other
 * servers, and whatever two parsers could frame differently is how a
 * request is smuggled past one of them.  So a header block whose lines
 * do not all end in CRLF is refused (400): RFC 9112 2.2 lets a recipient
 * take a bare LF for a line end, but the server behind may not, and a
 * proxy that does is the classic way in.  Likewise refused, and the
 * connection closed: more than one Content-Length, Content-Length with
 * Transfer-Encoding, a transfer coding other than exactly "chunked"
 * (501 when chunked is last after codings we lack), obs-fold, space
 * before a colon, names that are not tokens, control characters in
 * values, request lines with other than two single spaces, and chunk
 * lines that are not hex digits with well-formed extensions.  So are an
 * HTTP/1.1 request without Host and a target whose path decodes to NUL.
 *
 * Each connection has one timer for whatever it waits on: the header
 * block (header_timeout_ms, however slowly it trickles in), the body's
 * minimum rate, and at the end the linger before closing.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <event2/event.h>

#include "spillway/clock.h"
#include "budget.h"
#include "http.h"
#include "net.h"
#include "url.h"

#define HTTP_OUT_HIGH	(4u << 20)	/* stop reading requests above this */
#define HTTP_CHUNK_LINE	1024		/* chunk size line with extensions */
#define HTTP_LINGER_MS	5000		/* after a last answer, before closing */
#define HTTP_MAX_MS	86400000L	/* limits beyond a day are unset */

enum conn_state {
	ST_HEADERS,
	ST_BODY,		/* Content-Length body */
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_CRLF,
	ST_TRAILERS,
	ST_DISPATCHED,		/* handler owns the request */
	ST_STREAMING,		/* a chunked answer goes on (http_stream) */
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
	size_t			 out_budgeted;	/* answers not yet written out,
						   in the memory budget */
	struct event		*timer;		/* header, body rate, linger */
	uint64_t		 t0;		/* ns: clock started; 0: idle */
	size_t			 hscan;		/* header bytes scanned */
	size_t			 hline;		/* where the line starts */
	size_t			 body_seen;	/* body bytes consumed */
	size_t			 trailers;	/* trailer bytes */
	int			 processing;	/* inside http_conn_process */
	int			 gone;		/* peer left while dispatched */
	int			 linger;	/* last answer: drain, then close */
	int			 peer_eof;	/* peer sent FIN */
	int			 shut;		/* our FIN sent */
	void			(*stream_gone)(void *);	/* its end */
	void			*stream_arg;
};

struct http_server {
	struct event_base	*base;
	struct net_listener	*nl;
	struct http_limits	 limits;
	http_handler		 handler;
	void			*arg;
	struct http_counters	 counters;
	uint64_t		 header_ns;	/* header_timeout_ms */
	uint64_t		 grace_ns;	/* body_grace_ms */
	uint64_t		 rate;		/* body_min_rate */
	SSL_CTX			*tls;		/* borrowed, or NULL */
	TAILQ_HEAD(, http_conn)	 conns;
};

static void	http_conn_process(struct http_conn *);
static void	http_conn_free(struct http_conn *);
static struct bufferevent *http_bev(struct http_server *, int);

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
	budget_give(BUDGET_REQUESTS, req->budgeted);
	free(req);
}

/*
 * Count n more body bytes of c's request in the memory budget, on a
 * server that uses it: -1 when the budget has no room for them (the
 * request is then refused before its body is read).
 */
static int
http_budget_take(struct http_conn *c, size_t n)
{
	if (!c->srv->limits.budget || n == 0)
		return 0;
	if (budget_room() < n)
		return -1;
	budget_take(BUDGET_REQUESTS, n);
	c->req->budgeted += n;
	return 0;
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

/* Run the connection's timer ns from now. */
static void
http_conn_arm(struct http_conn *c, uint64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / NSEC_PER_SEC);
	tv.tv_usec = (suseconds_t)(ns % NSEC_PER_SEC / 1000);
	evtimer_add(c->timer, &tv);
}

/*
 * The connection's idle_timeout_ms on its writes, and on its reads too
 * when it still reads.
 */
static void
http_conn_idle(struct http_conn *c, int reading)
{
	struct timeval tv;

	if (c->srv->limits.idle_timeout_ms <= 0)
		return;
	tv.tv_sec = c->srv->limits.idle_timeout_ms / 1000;
	tv.tv_usec = (c->srv->limits.idle_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(c->bev, reading ? &tv : NULL, &tv);
}

/* Start the clock of what the connection now waits on, due in ns. */
static void
http_conn_clock(struct http_conn *c, uint64_t ns)
{
	c->t0 = clock_now_ns();
	c->body_seen = 0;
	http_conn_arm(c, ns);
}

static void
http_conn_unclock(struct http_conn *c)
{
	c->t0 = 0;
	evtimer_del(c->timer);
}

/*
 * Close c once the answer just written is out: flush it, shut our side
 * down (http_writecb()), then read and drop what the peer still sends
 * until it closes or HTTP_LINGER_MS pass.  Closing with unread bytes
 * would make the kernel send a reset, which can destroy the answer
 * before the peer reads it; a peer still writing (its request body, the
 * next pipelined request) sees the answer instead.
 */
static void
http_conn_linger(struct http_conn *c)
{
	c->st = ST_CLOSING;
	c->linger = 1;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	if (!c->peer_eof)
		bufferevent_enable(c->bev, EV_READ);
}

/*
 * Send a canned error and close the connection after it, lingering.
 * HTTP_LINGER_MS bound the whole close, from now: a refused peer may not
 * even read its answer.
 */
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
	else if (status == 429)
		c->srv->counters.over_budget++;
	else if (status != 408)
		c->srv->counters.bad_request++;
	http_request_free(c->req);
	c->req = NULL;
	if (c->chunks != NULL) {
		evbuffer_free(c->chunks);
		c->chunks = NULL;
	}
	http_conn_linger(c);
	http_conn_arm(c, HTTP_LINGER_MS * NSEC_PER_MSEC);
}

/* RFC 9110 5.6.2: tchar, in ASCII whatever the locale. */
static int
http_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Value of a hex digit, or -1. */
static int
http_hex(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Length of the token at the start of s (0: none). */
static size_t
http_token_len(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && http_tchar((unsigned char)s[i]); i++)
		;
	return i;
}

/* Field-value octets: VCHAR, SP, HTAB and obs-text; no CTL, no NUL. */
static int
http_value_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static size_t
http_skip_ws(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/*
 * Check one field line of len bytes (its CRLF excluded): a token, a colon
 * right after it, then a value of field-value octets.  A line starting
 * with SP or HTAB (obs-fold, RFC 9112 5.2) and "Name :" (5.1) fail here.
 * Sets the name's length and the value's bounds, OWS trimmed.  0 or -1.
 */
static int
http_field_check(const char *s, size_t len, size_t *nlen, size_t *vb,
    size_t *ve)
{
	size_t i, b, e;

	if ((i = http_token_len(s, len)) == 0 || i == len || s[i] != ':')
		return -1;
	*nlen = i;
	b = http_skip_ws(s, i + 1, len);
	for (e = len; e > b && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
		;
	for (i = b; i < e; i++)
		if (!http_value_char((unsigned char)s[i]))
			return -1;
	*vb = b;
	*ve = e;
	return 0;
}

/* End of the quoted-string at s[i] == '"' (index after it), or 0. */
static size_t
http_quoted_end(const char *s, size_t i, size_t len)
{
	for (i++; i < len; i++) {
		if (s[i] == '"')
			return i + 1;
		if (s[i] == '\\' && ++i == len)
			return 0;
		if (!http_value_char((unsigned char)s[i]))
			return 0;
	}
	return 0;
}

/*
 * A chunk size line of len bytes, CRLF excluded (RFC 9112 7.1):
 * 1*HEXDIG, then *( BWS ";" BWS token [ BWS "=" BWS ( token /
 * quoted-string ) ] ).  No sign, no "0x", no other whitespace; a size
 * that does not fit 64 bits fails.  The extensions are checked and
 * ignored.  0 or -1.
 */
static int
http_chunk_size(const char *s, size_t len, uint64_t *np)
{
	uint64_t n = 0;
	size_t i, j;
	int d;

	for (i = 0; i < len && (d = http_hex((unsigned char)s[i])) >= 0;
	    i++) {
		if (n > (UINT64_MAX >> 4))
			return -1;
		n = n << 4 | (uint64_t)d;
	}
	if (i == 0)
		return -1;
	while (i < len) {
		i = http_skip_ws(s, i, len);
		if (i == len || s[i] != ';')
			return -1;
		i = http_skip_ws(s, i + 1, len);
		if ((j = http_token_len(s + i, len - i)) == 0)
			return -1;
		i += j;
		j = http_skip_ws(s, i, len);
		if (j == len || s[j] != '=')
			continue;
		i = http_skip_ws(s, j + 1, len);
		if (i < len && s[i] == '"') {
			if ((i = http_quoted_end(s, i, len)) == 0)
				return -1;
		} else {
			if ((j = http_token_len(s + i, len - i)) == 0)
				return -1;
			i += j;
		}
	}
	*np = n;
	return 0;
}

/*
 * Transfer-Encoding other than exactly "chunked": 501 when chunked is
 * last, once, after codings we do not implement ("gzip, chunked"), else
 * 400, for then the body's length cannot be known (RFC 9112 6.3).
 */
static int
http_te_status(const char *te)
{
	const char *p, *q;
	size_t n;

	for (p = te; (q = strchr(p, ',')) != NULL; p = q + 1) {
		p += strspn(p, " \t");
		for (n = (size_t)(q - p); n > 0 && (p[n - 1] == ' ' ||
		    p[n - 1] == '\t'); n--)
			;
		/* Empty, or chunked before the end. */
		if (n == 0 || (n == 7 && strncasecmp(p, "chunked", 7) == 0))
			return 400;
	}
	p += strspn(p, " \t");
	return p != te && strcasecmp(p, "chunked") == 0 ? 501 : 400;
}

/*
 * Whether the comma-separated list s holds the token tok, compared
 * without regard to case (RFC 9110 5.6.1, 7.6.1): "keep-alive-ish" and
 * "xclose" are neither keep-alive nor close.
 */
static int
http_list_has(const char *s, const char *tok)
{
	size_t n, tlen = strlen(tok);
	const char *e;

	for (;;) {
		s += strspn(s, " \t");
		e = s + strcspn(s, ",");
		for (n = (size_t)(e - s); n > 0 && (s[n - 1] == ' ' ||
		    s[n - 1] == '\t'); n--)
			;
		if (n == tlen && strncasecmp(s, tok, n) == 0)
			return 1;
		if (*e == '\0')
			return 0;
		s = e + 1;
	}
}

/*
 * Whether the connection persists after req's answer (RFC 9112 9.3):
 * by default from HTTP/1.1 on, from HTTP/1.0 with the keep-alive option;
 * never with the close option, in any Connection field line.
 */
static int
http_keepalive(const struct http_request *req)
{
	int keep = 0;
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, "Connection") != 0)
			continue;
		if (http_list_has(req->headers[i].value, "close"))
			return 0;
		if (http_list_has(req->headers[i].value, "keep-alive"))
			keep = 1;
	}
	return req->minor >= 1 || keep;
}

/*
 * The request line, len bytes without its CRLF: method SP target SP
 * HTTP/1.x, with exactly one space between the three (RFC 9112 3).
 * NUL-terminates the parts in place.  0 or -1.
 */
static int
http_parse_line(struct http_request *req, char *s, size_t len)
{
	size_t m, t;

	if ((m = http_token_len(s, len)) == 0 || m == len || s[m] != ' ')
		return -1;
	for (t = m + 1; t < len && (unsigned char)s[t] > ' ' &&
	    s[t] != 0x7f; t++)
		;
	if (t == m + 1 || t == len || s[t] != ' ' || len - t - 1 != 8 ||
	    memcmp(s + t + 1, "HTTP/1.", 7) != 0 ||
	    s[t + 8] < '0' || s[t + 8] > '9')
		return -1;
	s[m] = '\0';
	s[t] = '\0';
	req->method = s;
	req->target = s + m + 1;
	req->minor = s[t + 8] - '0';
	return *req->target == '/' ? 0 : -1;
}

/*
 * Parse the header block (len bytes; every line ends in CRLF, the last
 * one is empty: http_head_scan() saw to it) into a request.  Returns 0,
 * or an HTTP status to fail with.
 */
static int
http_parse_head(struct http_conn *c, const char *head, size_t len)
{
	struct http_request *req;
	struct http_header *h;
	char *p, *end, *line, *eol;
	const char *te = NULL, *cl = NULL, *exp, *e;
	size_t nh = 0, cap = 16, n, nlen, vb, ve, ncl = 0, nte = 0, nhost = 0;
	unsigned long long v;
	int status = 400;

	if ((req = calloc(1, sizeof(*req) + len + 1 + len + 1)) == NULL)
		return 500;
	req->conn = c;
	p = (char *)(req + 1);
	memcpy(p, head, len);
	p[len] = '\0';
	end = p + len;
	if ((req->headers = calloc(cap, sizeof(*req->headers))) == NULL) {
		status = 500;
		goto fail;
	}

	eol = memchr(p, '\n', len);
	if (http_parse_line(req, p, (size_t)(eol - 1 - p)) == -1)
		goto fail;
	for (line = eol + 1; (eol = memchr(line, '\n', (size_t)(end - line)))
	    != NULL; line = eol + 1) {
		if ((n = (size_t)(eol - 1 - line)) == 0)
			break;
		if (http_field_check(line, n, &nlen, &vb, &ve) == -1)
			goto fail;
		line[nlen] = '\0';
		line[ve] = '\0';
		if (nh == cap) {
			cap *= 2;
			if ((h = realloc(req->headers, cap * sizeof(*h))) ==
			    NULL) {
				status = 500;
				goto fail;
			}
			req->headers = h;
		}
		req->headers[nh].name = line;
		req->headers[nh].value = line + vb;
		if (strcasecmp(line, "Content-Length") == 0) {
			cl = line + vb;
			ncl++;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			te = line + vb;
			nte++;
		} else if (strcasecmp(line, "Host") == 0)
			nhost++;
		nh++;
	}
	req->nheaders = nh;

	/*
	 * Framing (RFC 9112 6): one Content-Length, even twice the same
	 * value, or one Transfer-Encoding of exactly chunked; never both,
	 * and no Transfer-Encoding from HTTP/1.0, which knows none.  At most
	 * one Host, and from HTTP/1.1 on exactly one (RFC 9112 3.2).
	 */
	if (nhost > 1 || (nhost == 0 && req->minor >= 1) || ncl > 1 ||
	    nte > 1 || (te != NULL && cl != NULL) ||
	    (te != NULL && req->minor == 0))
		goto fail;
	if (te != NULL && strcasecmp(te, "chunked") != 0) {
		status = http_te_status(te);
		goto fail;
	}
	v = 0;
	if (cl != NULL) {
		if (*cl == '\0')
			goto fail;
		for (e = cl; *e != '\0'; e++) {
			if (*e < '0' || *e > '9' ||
			    v > (ULLONG_MAX - 9) / 10)
				goto fail;
			v = v * 10 + (unsigned long long)(*e - '0');
		}
		if (v > c->srv->limits.max_body_bytes) {
			status = 413;
			goto fail;
		}
	}

	/*
	 * Path (decoded) and query (raw) live after the header copy.  A
	 * path that decodes to a NUL is refused, for every handler reads
	 * the path as a C string and would see it cut short.  The target
	 * has no NUL (http_parse_line()), so one can only come of a "%00",
	 * and every "%00" decodes to one: a '%' is not a hex digit, so it
	 * is never the tail of the escape before it.
	 */
	p = strchr(req->target, '?');
	n = p ? (size_t)(p - req->target) : strlen(req->target);
	if (memmem(req->target, n, "%00", 3) != NULL)
		goto fail;
	req->path = end + 1;
	url_decode(req->target, n, req->path, len + 1, 0);
	req->query = p ? p + 1 : NULL;
	req->keepalive = http_keepalive(req);

	if (te != NULL) {
		if ((c->chunks = evbuffer_new()) == NULL) {
			status = 500;
			goto fail;
		}
		c->st = ST_CHUNK_SIZE;
		c->trailers = 0;
	} else {
		c->remaining = (size_t)v;
		c->st = ST_BODY;
	}
	c->req = req;
	if (c->st != ST_BODY || c->remaining > 0) {
		exp = http_header(req, "Expect");
		if (exp != NULL && strcasecmp(exp, "100-continue") == 0 &&
		    req->minor >= 1)
			bufferevent_write(c->bev,
			    "HTTP/1.1 100 Continue\r\n\r\n", 25);
	}
	return 0;
fail:
	http_request_free(req);
	return status;
}

/* The byte at pos of in (pos < its length). */
static char
http_byte_at(struct evbuffer *in, size_t pos)
{
	struct evbuffer_ptr ptr;
	char ch = '\0';

	if (evbuffer_ptr_set(in, &ptr, pos, EVBUFFER_PTR_SET) == 0)
		evbuffer_copyout_from(in, &ptr, &ch, 1);
	return ch;
}

/*
 * Look for the end of the header block in in, scanning only what came
 * since the last call (c->hscan, c->hline).  Every LF must follow a CR:
 * a bare LF fails at once rather than after a timeout.  Empty lines
 * before the request line are dropped (RFC 9112 2.2).  Sets *len to the
 * block's length, CRLF CRLF included, or 0 while it is incomplete.
 * Returns 0, or an HTTP status to fail with.
 */
static int
http_head_scan(struct http_conn *c, struct evbuffer *in, size_t *len)
{
	struct evbuffer_ptr ptr;
	size_t max = c->srv->limits.max_header_bytes, pos;

	*len = 0;
	for (;;) {
		if (evbuffer_ptr_set(in, &ptr, c->hscan, EVBUFFER_PTR_SET) ==
		    -1)
			return 500;
		ptr = evbuffer_search(in, "\n", 1, &ptr);
		if (ptr.pos < 0) {
			c->hscan = evbuffer_get_length(in);
			return c->hscan > max ? 431 : 0;
		}
		pos = (size_t)ptr.pos;
		if (pos + 1 > max)
			return 431;
		if (pos == 0 || http_byte_at(in, pos - 1) != '\r')
			return 400;
		c->hscan = pos + 1;
		if (pos - 1 > c->hline) {
			c->hline = pos + 1;
			continue;
		}
		if (c->hline > 0) {
			*len = pos + 1;
			return 0;
		}
		evbuffer_drain(in, pos + 1);
		c->hscan = 0;
	}
}

/*
 * A line of a chunked body (size line or trailer) at the start of in, at
 * most max bytes with its CRLF.  Sets *len to its length without the
 * CRLF, or returns 1 while it is incomplete; 0, or -1 when it is too
 * long or ends in a bare LF.
 */
static int
http_body_line(struct evbuffer *in, size_t max, size_t *len)
{
	struct evbuffer_ptr end, ptr;
	size_t have = evbuffer_get_length(in);

	if (evbuffer_ptr_set(in, &end, have < max ? have : max,
	    EVBUFFER_PTR_SET) == -1)
		return -1;
	ptr = evbuffer_search_range(in, "\n", 1, NULL, &end);
	if (ptr.pos < 0)
		return have >= max ? -1 : 1;
	if (ptr.pos == 0 || http_byte_at(in, (size_t)ptr.pos - 1) != '\r')
		return -1;
	*len = (size_t)ptr.pos - 1;
	return 0;
}

/*
 * When the body is due: body_grace_ms after its header block, plus one
 * second for every body_min_rate bytes received, read or buffered.
 */
static uint64_t
http_body_due(struct http_conn *c)
{
	uint64_t got, rate = c->srv->rate, secs;

	got = c->body_seen + evbuffer_get_length(bufferevent_get_input(c->bev));
	if ((secs = got / rate) > 100000000)
		return UINT64_MAX;
	return c->t0 + c->srv->grace_ns + secs * NSEC_PER_SEC +
	    got % rate * NSEC_PER_SEC / rate;
}

static void
http_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	struct http_counters *n = &c->srv->counters;
	uint64_t now, due;

	(void)fd;
	(void)what;
	switch (c->st) {
	case ST_HEADERS:
		n->timeouts++;
		n->header_timeouts++;
		http_conn_fail(c, 408);
		break;
	case ST_BODY:
	case ST_CHUNK_SIZE:
	case ST_CHUNK_DATA:
	case ST_CHUNK_CRLF:
	case ST_TRAILERS:
		now = clock_now_ns();
		if ((due = http_body_due(c)) > now) {
			http_conn_arm(c, due - now);
			break;
		}
		n->timeouts++;
		n->slow_bodies++;
		http_conn_fail(c, 408);
		break;
	case ST_CLOSING:
		http_conn_free(c);
		break;
	case ST_DISPATCHED:
	case ST_STREAMING:
		break;
	}
}

static void
http_dispatch(struct http_conn *c)
{
	http_conn_unclock(c);
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

/* Drop n bytes of body framing from in, counting them for the rate. */
static void
http_body_drain(struct http_conn *c, struct evbuffer *in, size_t n)
{
	evbuffer_drain(in, n);
	c->body_seen += n;
}

/* Read as far as the buffered input allows. */
static void
http_conn_process(struct http_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct http_limits *lim = &c->srv->limits;
	size_t have, len, room, nlen, vb, ve;
	uint64_t n;
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
			if (have == 0)
				goto out;
			if (c->t0 == 0)
				http_conn_clock(c, c->srv->header_ns);
			if ((rc = http_head_scan(c, in, &len)) != 0) {
				http_conn_fail(c, rc);
				goto out;
			}
			if (len == 0)
				goto out;
			line = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
			rc = http_parse_head(c, line, len);
			evbuffer_drain(in, len);
			c->hscan = c->hline = 0;
			if (rc != 0) {
				http_conn_fail(c, rc);
				goto out;
			}
			if (c->st == ST_BODY &&
			    http_budget_take(c, c->remaining) == -1) {
				http_conn_fail(c, 429);
				goto out;
			}
			if (c->st != ST_BODY || c->remaining > 0)
				http_conn_clock(c, c->srv->grace_ns);
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
			if ((rc = http_body_line(in, HTTP_CHUNK_LINE, &len)) ==
			    1)
				goto out;
			line = rc == 0 ? (char *)evbuffer_pullup(in,
			    (ev_ssize_t)len + 2) : NULL;
			if (line == NULL || http_chunk_size(line, len, &n) ==
			    -1) {
				http_conn_fail(c, 400);
				goto out;
			}
			http_body_drain(c, in, len + 2);
			if (n > lim->max_body_bytes ||
			    evbuffer_get_length(c->chunks) + n >
			    lim->max_body_bytes) {
				http_conn_fail(c, 413);
				goto out;
			}
			if (http_budget_take(c, (size_t)n) == -1) {
				http_conn_fail(c, 429);
				goto out;
			}
			c->remaining = (size_t)n;
			c->st = n ? ST_CHUNK_DATA : ST_TRAILERS;
			continue;
		case ST_TRAILERS:
			/* Checked like header lines, then dropped. */
			room = lim->max_header_bytes > c->trailers ?
			    lim->max_header_bytes - c->trailers : 0;
			if ((rc = http_body_line(in, room, &len)) == 1)
				goto out;
			if (rc == -1 && have >= room) {
				http_conn_fail(c, 431);
				goto out;
			}
			line = rc == 0 ? (char *)evbuffer_pullup(in,
			    (ev_ssize_t)len + 2) : NULL;
			if (line == NULL || (len > 0 && http_field_check(line,
			    len, &nlen, &vb, &ve) == -1)) {
				http_conn_fail(c, 400);
				goto out;
			}
			http_body_drain(c, in, len + 2);
			c->trailers += len + 2;
			if (len > 0)
				continue;
			if (http_chunks_done(c) == -1) {
				http_conn_fail(c, 500);
				goto out;
			}
			http_dispatch(c);
			continue;
		case ST_CHUNK_DATA:
			if (have == 0)
				goto out;
			rc = evbuffer_remove_buffer(in, c->chunks,
			    have < c->remaining ? have : c->remaining);
			c->remaining -= (size_t)rc;
			c->body_seen += (size_t)rc;
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
			http_body_drain(c, in, 2);
			c->st = ST_CHUNK_SIZE;
			continue;
		case ST_DISPATCHED:
		case ST_STREAMING:
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
	/* An HTTP/1.0 client keeps the connection only when told to. */
	snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Length: %zu"
	    "\r\n%s%s%s%s", status, http_reason(status), len,
	    ctype ? "Content-Type: " : "", ctype ? ctype : "",
	    ctype ? "\r\n" : "", !keep ? "Connection: close\r\n" :
	    req->minor == 0 ? "Connection: keep-alive\r\n" : "");
	bufferevent_write(c->bev, head, strlen(head));
	if (extra != NULL)
		bufferevent_write(c->bev, extra, strlen(extra));
	bufferevent_write(c->bev, "\r\n", 2);
	if (body != NULL && len > 0 && !head_only) {
		bufferevent_write(c->bev, body, len);
		/* A _bulk answer can be as large as its request: counted. */
		if (c->srv->limits.budget) {
			budget_claim(BUDGET_REQUESTS, len);
			c->out_budgeted += len;
		}
	}
	http_request_free(req);
	c->req = NULL;
	if (!keep) {
		http_conn_linger(c);
		return;
	}
	/* The next request's header clock starts at its first byte. */
	c->st = ST_HEADERS;
	c->hscan = c->hline = 0;
	bufferevent_enable(c->bev, EV_READ);
	if (!c->processing)
		http_conn_process(c);
}

void
http_respond_buffer(struct http_request *req, int status, const char *ctype,
    struct evbuffer *buf, const char *extra)
{
	size_t len = evbuffer_get_length(buf);

	http_respond(req, status, ctype,
	    (const char *)evbuffer_pullup(buf, -1), len, extra);
	evbuffer_free(buf);
}

void
http_respond_json(struct http_request *req, int status, const char *fmt, ...)
{
	struct evbuffer *buf = evbuffer_new();
	va_list ap;

	if (buf == NULL) {
		http_respond(req, 500, NULL, NULL, 0, NULL);
		return;
	}
	va_start(ap, fmt);
	evbuffer_add_vprintf(buf, fmt, ap);
	va_end(ap);
	http_respond_buffer(req, status, "application/json", buf, NULL);
}

struct http_stream *
http_stream_start(struct http_request *req, int status, const char *ctype,
    void (*gone)(void *), void *arg)
{
	struct http_conn *c = req->conn;
	char head[512];

	if (c->gone) {
		http_request_free(req);
		c->req = NULL;
		http_conn_free(c);
		return NULL;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Transfer-Encoding: chunked\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", status, http_reason(status), ctype);
	bufferevent_write(c->bev, head, strlen(head));
	http_request_free(req);
	c->req = NULL;
	c->st = ST_STREAMING;
	c->stream_gone = gone;
	c->stream_arg = arg;
	/*
	 * Nothing more is read but the peer's leaving; a reader that reads
	 * nothing for idle_timeout_ms is still cut off by the write timeout.
	 */
	http_conn_idle(c, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return (struct http_stream *)c;
}

int
http_stream_write(struct http_stream *s, const char *buf, size_t len)
{
	struct http_conn *c = (struct http_conn *)s;
	char size[24];

	if (len == 0)
		return 0;
	snprintf(size, sizeof(size), "%zx\r\n", len);
	if (bufferevent_write(c->bev, size, strlen(size)) == -1 ||
	    bufferevent_write(c->bev, buf, len) == -1 ||
	    bufferevent_write(c->bev, "\r\n", 2) == -1)
		return -1;
	return 0;
}

size_t
http_stream_pending(const struct http_stream *s)
{
	const struct http_conn *c = (const struct http_conn *)s;

	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
http_stream_end(struct http_stream *s)
{
	struct http_conn *c = (struct http_conn *)s;

	bufferevent_write(c->bev, "0\r\n\r\n", 5);
	c->stream_gone = NULL;
	http_conn_linger(c);
}

static void
http_readcb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (c->st == ST_CLOSING || c->st == ST_STREAMING) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	http_conn_process(c);
}

static void
http_writecb(struct bufferevent *bev, void *arg)
{
	struct http_conn *c = arg;

	if (c->out_budgeted > 0 &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		budget_give(BUDGET_REQUESTS, c->out_budgeted);
		c->out_budgeted = 0;
	}
	if (c->st == ST_CLOSING) {
		if (!c->linger || c->peer_eof) {
			http_conn_free(c);
			return;
		}
		if (!c->shut) {
			/* Answered: our FIN, then wait for the peer's. */
			shutdown(bufferevent_getfd(bev), SHUT_WR);
			c->shut = 1;
			/* A refusal's clock runs already; an answer's, now. */
			if (!evtimer_pending(c->timer, NULL))
				http_conn_arm(c, HTTP_LINGER_MS *
				    NSEC_PER_MSEC);
		}
		return;
	}
	if (!c->processing && c->st != ST_DISPATCHED &&
	    c->st != ST_STREAMING)
		http_conn_process(c);
}

static void
http_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn *c = arg;

	/* A TLS handshake that completed: nothing to do. */
	if (what == BEV_EVENT_CONNECTED)
		return;
	if ((what & BEV_EVENT_TIMEOUT) && !c->linger)
		c->srv->counters.timeouts++;
	if (c->st == ST_DISPATCHED) {
		/* The handler still holds the request; free on its answer. */
		c->gone = 1;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !c->shut &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* Half-closed: the answer still goes out, then we close. */
		c->peer_eof = 1;
		bufferevent_disable(bev, EV_READ);
		if (c->st != ST_CLOSING) {
			http_request_free(c->req);
			c->req = NULL;
			c->st = ST_CLOSING;
		}
		return;
	}
	http_conn_free(c);
}

static void
http_conn_free(struct http_conn *c)
{
	if (c->st == ST_STREAMING && c->stream_gone != NULL)
		c->stream_gone(c->stream_arg);
	TAILQ_REMOVE(&c->srv->conns, c, entry);
	c->srv->counters.connections--;
	budget_give(BUDGET_REQUESTS, c->out_budgeted);
	if (c->req != NULL)
		http_request_free(c->req);
	if (c->chunks != NULL)
		evbuffer_free(c->chunks);
	if (c->timer != NULL)
		event_free(c->timer);
	bufferevent_free(c->bev);
	free(c);
}

static void
http_accept(int fd, void *arg)
{
	struct http_server *srv = arg;
	struct http_conn *c;

	if (srv->counters.connections >= srv->limits.max_connections ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		srv->counters.refused++;
		close(fd);
		return;
	}
	c->srv = srv;
	c->st = ST_HEADERS;
	if ((c->timer = evtimer_new(srv->base, http_conn_timer, c)) == NULL ||
	    (c->bev = http_bev(srv, fd)) == NULL) {
		if (c->timer != NULL)
			event_free(c->timer);
		close(fd);
		free(c);
		srv->counters.refused++;
		return;
	}
	net_nodelay(fd);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->counters.connections++;
	bufferevent_setcb(c->bev, http_readcb, http_writecb, http_eventcb, c);
	http_conn_idle(c, 1);
	/* A new connection's header clock starts now, bytes or not. */
	http_conn_clock(c, srv->header_ns);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* The bufferevent of a new connection: TLS when the server has it. */
static struct bufferevent *
http_bev(struct http_server *srv, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (srv->tls == NULL)
		return bufferevent_socket_new(srv->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	if ((ssl = SSL_new(srv->tls)) == NULL)
		return NULL;
	if ((bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		SSL_free(ssl);
	return bev;
}

void
http_server_tls(struct http_server *srv, struct ssl_ctx_st *ctx)
{
	srv->tls = ctx;
}

/* A limit in ms: def when unset (0) or out of range. */
static long
http_limit_ms(long v, long def)
{
	return v > 0 && v <= HTTP_MAX_MS ? v : def;
}

struct http_server *
http_server_new(struct event_base *base, int fd,
    const struct http_limits *limits, http_handler handler, void *arg)
{
	struct http_server *srv;
	struct http_limits *lim;

	/* No default for these: 0 would refuse every request. */
	if (limits->max_header_bytes == 0 || limits->max_body_bytes == 0 ||
	    limits->max_connections == 0 ||
	    (srv = calloc(1, sizeof(*srv))) == NULL) {
		close(fd);
		return NULL;
	}
	srv->base = base;
	srv->limits = *limits;
	lim = &srv->limits;
	lim->header_timeout_ms = http_limit_ms(lim->header_timeout_ms,
	    HTTP_HEADER_TIMEOUT_MS);
	lim->body_grace_ms = http_limit_ms(lim->body_grace_ms,
	    HTTP_BODY_GRACE_MS);
	if (lim->body_min_rate <= 0 || lim->body_min_rate > (1L << 30))
		lim->body_min_rate = HTTP_BODY_MIN_RATE;
	srv->header_ns = (uint64_t)lim->header_timeout_ms * NSEC_PER_MSEC;
	srv->grace_ns = (uint64_t)lim->body_grace_ms * NSEC_PER_MSEC;
	srv->rate = (uint64_t)lim->body_min_rate;
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
	budget_give(BUDGET_REQUESTS, req->budgeted);
	req->budgeted = 0;
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

void
http_server_reserve(struct http_server *srv)
{
	if (srv->nl != NULL)
		net_listener_reserve(srv->nl);
}

unsigned long
http_server_shed(const struct http_server *srv)
{
	return srv->nl != NULL ? net_listener_shed(srv->nl) : 0;
}
