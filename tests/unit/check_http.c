/*
 * check_http: the HTTP/1.1 request parser of src/http.c, driven as the
 * listeners drive it.  The parser is static inside http.c and reads
 * bufferevents, so the only way in is a real socket: http_server_new()
 * on an abstract AF_UNIX listening socket (no file, no port, no
 * TIME_WAIT), and a client on the same event loop that writes the input,
 * half-closes unless told not to, and reads until the server is done.
 *
 * The corpus is request smuggling (RFC 9112): whatever two parsers could
 * frame two ways must be answered 400 (501 for a transfer coding http.c
 * lacks) and the connection closed, with nothing after the refusal
 * handed to the handler.  Every answer is compared byte for byte with
 * what http.c sends, and the server's counters with what it must have
 * counted.
 *
 * Nothing here sleeps.  The loop blocks until the server or the client
 * has something to do; the deadline only turns a hang into a failure.
 * The three tests of timers wait for a 50-200 ms timer to fire and
 * assert what it did, never how long it took.
 *
 * An answer that closes the connection must linger: the server shuts its
 * side down but still reads, so a client that goes on sending is not
 * reset.  On AF_UNIX as on TCP, writing to a socket the server has
 * closed fails (EPIPE), so a client that writes once it has read the
 * server's EOF tells a lingering close from a plain one, without timing.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "http.h"
#include "check_common.h"

#define MAXREQ		8		/* requests recorded */
#define BODYMAX		2048		/* body bytes recorded */
#define DEADLINE_S	5		/* a hang, not a slow machine */

/* The limits of most tests: small, so 413 and 431 are cheap to reach. */
#define MAX_HEADER	4096
#define MAX_BODY	1024

/* A request as the handler saw it (copied: it is freed on the answer). */
struct seen {
	char		 method[16];
	char		 target[128];
	char		 path[128];
	char		 query[64];
	int		 has_query;
	char		 body[BODYMAX + 1];
	size_t		 body_len;
	size_t		 nheaders;
	int		 minor;
	int		 keepalive;
};

/* What one connection saw. */
struct result {
	char		 resp[65536];	/* read back, NUL-terminated */
	size_t		 rlen;
	int		 full;		/* resp overflowed */
	size_t		 nans;		/* whole answers in resp */
	size_t		 parsed;	/* resp bytes in those */
	struct seen	 req[MAXREQ];
	size_t		 nreq;		/* handler calls */
	struct http_counters ct;	/* once the server closed */
	int		 eof;		/* the server closed its side */
	int		 err;		/* or the errno of the read */
	int		 open;		/* open after the answers */
	size_t		 after_sent;	/* how->after bytes written */
	int		 after_err;	/* errno of writing them, or 0 */
};

/* How to run one exchange. */
struct how {
	const struct http_limits *lim;	/* NULL: the small ones */
	int		 keep_open;	/* no half-close after input */
	size_t		 answers;	/* keep_open: stop after these */
	const char	*after;		/* written once the server's EOF is */
	size_t		 after_len;	/* read, then the exchange ends */
};

/* The client's end, driven by the same loop as the server. */
struct client {
	int		 fd;
	const char	*data;
	size_t		 len;
	size_t		 off;
	const struct how *how;
	struct result	*r;
	int		 after_phase;	/* writing how->after */
	int		 done;
	int		 late;
	struct event	*rev;
	struct event	*wev;
	struct event	*deadline;
};

static void
handler(struct http_request *req, void *arg)
{
	struct result *r = arg;
	struct seen *s;
	size_t n;

	if (r->nreq < MAXREQ) {
		s = &r->req[r->nreq];
		snprintf(s->method, sizeof(s->method), "%s", req->method);
		snprintf(s->target, sizeof(s->target), "%s", req->target);
		snprintf(s->path, sizeof(s->path), "%s", req->path);
		if ((s->has_query = req->query != NULL))
			snprintf(s->query, sizeof(s->query), "%s", req->query);
		n = req->body_len < BODYMAX ? req->body_len : BODYMAX;
		if (n > 0)
			memcpy(s->body, req->body, n);
		s->body[n] = '\0';
		s->body_len = req->body_len;
		s->nheaders = req->nheaders;
		s->minor = req->minor;
		s->keepalive = req->keepalive;
	}
	r->nreq++;
	/* The path as the body, so the answers show their order. */
	http_respond(req, 200, "text/plain", req->path, strlen(req->path),
	    NULL);
}

/*
 * Count the whole answers read so far.  http.c frames every one of them
 * with Content-Length (a 100 has none, and no body), so a head and that
 * many bytes make one answer.
 */
static void
count_answers(struct result *r)
{
	static const char clh[] = "\r\nContent-Length: ";
	const char *p, *eoh, *cl;
	size_t left, hlen, blen;

	while (r->parsed < r->rlen) {
		p = r->resp + r->parsed;
		left = r->rlen - r->parsed;
		if ((eoh = memmem(p, left, "\r\n\r\n", 4)) == NULL)
			return;
		hlen = (size_t)(eoh + 4 - p);
		cl = memmem(p, hlen, clh, sizeof(clh) - 1);
		blen = cl ? strtoul(cl + sizeof(clh) - 1, NULL, 10) : 0;
		if (left < hlen + blen)
			return;
		r->nans++;
		r->parsed += hlen + blen;
	}
}

static void
client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	struct result *r = cl->r;
	size_t room;
	ssize_t n;

	(void)what;
	for (;;) {
		if ((room = sizeof(r->resp) - 1 - r->rlen) == 0) {
			r->full = 1;
			break;
		}
		n = read(fd, r->resp + r->rlen, room);
		if (n > 0) {
			r->rlen += (size_t)n;
			r->resp[r->rlen] = '\0';
			count_answers(r);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			/* Read out, and the server has not closed. */
			if (cl->how->answers > 0 &&
			    r->nans >= cl->how->answers) {
				r->open = 1;
				break;
			}
			return;
		}
		if (n == 0)
			r->eof = 1;
		else
			r->err = errno;
		break;
	}
	event_del(cl->rev);
	if (r->eof && cl->how->after != NULL) {
		/* The server is done: it must still take what we send. */
		cl->after_phase = 1;
		cl->data = cl->how->after;
		cl->len = cl->how->after_len;
		cl->off = 0;
		event_add(cl->wev, NULL);
		return;
	}
	cl->done = 1;
}

static void
client_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	ssize_t n;

	(void)what;
	while (cl->off < cl->len) {
		n = write(fd, cl->data + cl->off, cl->len - cl->off);
		if (n > 0) {
			cl->off += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (cl->after_phase)
			cl->r->after_err = errno;
		break;	/* the server closed: nothing more to say */
	}
	event_del(cl->wev);
	if (cl->after_phase) {
		cl->r->after_sent = cl->off;
		cl->done = 1;
	} else if (!cl->how->keep_open)
		shutdown(fd, SHUT_WR);
}

static void
client_late(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	(void)fd;
	(void)what;
	cl->late = 1;
}

/*
 * A listening socket at an abstract AF_UNIX address (a NUL first, then a
 * name no other process uses), set in *un and *alen.
 */
static int
listen_abstract(struct sockaddr_un *un, socklen_t *alen)
{
	static unsigned long seq;
	int fd;

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
	    "spillway-check-http-%ld-%lu", (long)getpid(), seq++);
	*alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(un->sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)un, *alen), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	return fd;
}

/*
 * Run one connection to a fresh server: write len bytes of input, then
 * read until the server closes (or, with how->keep_open, until it has
 * sent how->answers answers and stays open).  Our side closes then, and
 * the exchange ends only once the server has freed the connection, so
 * that r->ct holds everything it counted.  Fails the test on a hang.
 */
static void
exchange_how(const char *input, size_t len, const struct how *how,
    struct result *r)
{
	const struct http_counters *ct;
	struct timeval tv = { DEADLINE_S, 0 };
	struct http_limits def;
	struct sockaddr_un un;
	struct event_base *base;
	struct http_server *srv;
	struct client cl;
	socklen_t alen;
	int lfd;

	memset(r, 0, sizeof(*r));
	if (how->lim == NULL) {
		memset(&def, 0, sizeof(def));
		def.max_header_bytes = MAX_HEADER;
		def.max_body_bytes = MAX_BODY;
		def.max_connections = 4;
	}
	lfd = listen_abstract(&un, &alen);
	ck_assert_ptr_nonnull(base = event_base_new());
	srv = http_server_new(base, lfd, how->lim ? how->lim : &def, handler,
	    r);
	ck_assert_ptr_nonnull(srv);
	ct = http_server_counters(srv);

	memset(&cl, 0, sizeof(cl));
	cl.data = input;
	cl.len = len;
	cl.how = how;
	cl.r = r;
	cl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(cl.fd, 0);
	/* AF_UNIX: done at once, into the backlog. */
	ck_assert_int_eq(connect(cl.fd, (struct sockaddr *)&un, alen), 0);
	ck_assert_int_eq(fcntl(cl.fd, F_SETFL, O_NONBLOCK), 0);
	cl.rev = event_new(base, cl.fd, EV_READ | EV_PERSIST, client_read,
	    &cl);
	cl.wev = event_new(base, cl.fd, EV_WRITE | EV_PERSIST, client_write,
	    &cl);
	cl.deadline = evtimer_new(base, client_late, &cl);
	ck_assert(cl.rev != NULL && cl.wev != NULL && cl.deadline != NULL);
	event_add(cl.rev, NULL);
	event_add(cl.wev, NULL);
	evtimer_add(cl.deadline, &tv);

	while (!cl.done && !cl.late)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_msg(!cl.late, "no close within %d s; read so far: %s",
	    DEADLINE_S, r->resp);
	ck_assert_msg(!r->full, "more than %zu bytes of answers",
	    sizeof(r->resp) - 1);
	if (r->open)
		ck_assert_uint_eq(ct->connections, 1);

	/* Our close; the server frees its end when it reads it. */
	event_del(cl.rev);
	event_del(cl.wev);
	close(cl.fd);
	while (ct->connections > 0 && !cl.late)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_msg(!cl.late, "the server still holds the connection %d s "
	    "after the client closed", DEADLINE_S);
	r->ct = *ct;

	event_free(cl.rev);
	event_free(cl.wev);
	event_free(cl.deadline);
	http_server_free(srv);
	event_base_free(base);
}

/* One connection, the small limits, half-closed after the input. */
static void
exchange(const char *input, size_t len, struct result *r)
{
	static const struct how how = { .lim = NULL };

	exchange_how(input, len, &how, r);
}

/* Printable, for failure messages: CR, LF and control bytes escaped. */
static const char *
esc(const char *s, size_t n)
{
	static char buf[2][2048];
	static int which;
	char *b = buf[which ^= 1];
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < sizeof(buf[0]); i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\r')
			o += (size_t)snprintf(b + o, 3, "\\r");
		else if (ch == '\n')
			o += (size_t)snprintf(b + o, 3, "\\n");
		else if (ch < 0x20 || ch >= 0x7f || ch == '\\')
			o += (size_t)snprintf(b + o, 5, "\\x%02x", ch);
		else
			b[o++] = (char)ch;
	}
	if (i < n)
		o += (size_t)snprintf(b + o, 4, "...");
	b[o] = '\0';
	return b;
}

/* What the client must read back, built up answer by answer. */
struct want {
	char		 s[16384];
	size_t		 n;
};

static const char *
reason(int status)
{
	/* Spelled out here, not asked of http_reason(). */
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	}
	ck_abort_msg("no reason phrase for %d", status);
	return NULL;
}

static void
want_raw(struct want *w, const char *s)
{
	size_t n = strlen(s);

	ck_assert_uint_lt(w->n + n, sizeof(w->s));
	memcpy(w->s + w->n, s, n + 1);
	w->n += n;
}

/* The canned refusal of http_conn_fail(). */
static void
want_refusal(struct want *w, int status)
{
	char body[128], all[512];

	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}",
	    reason(status), status);
	snprintf(all, sizeof(all), "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close"
	    "\r\n\r\n%s", status, reason(status), strlen(body), body);
	want_raw(w, all);
}

/* What an answer says of the connection. */
enum persist {
	CLOSE,		/* Connection: close */
	KEEP,		/* nothing: HTTP/1.1 persists */
	KEEP_10		/* Connection: keep-alive, for HTTP/1.0 */
};

/* The handler's answer to a request for path. */
static void
want_ok(struct want *w, const char *path, enum persist keep)
{
	static const char *const conn[] = {
		[CLOSE] = "Connection: close\r\n",
		[KEEP] = "",
		[KEEP_10] = "Connection: keep-alive\r\n"
	};
	char all[512];

	snprintf(all, sizeof(all), "HTTP/1.1 200 OK\r\nContent-Length: %zu"
	    "\r\nContent-Type: text/plain\r\n%s\r\n%s", strlen(path),
	    conn[keep], path);
	want_raw(w, all);
}

#define CONTINUE	"HTTP/1.1 100 Continue\r\n\r\n"

/* What was read back is exactly w. */
static void
same(const struct result *r, const struct want *w, const char *name)
{
	ck_assert_msg(r->rlen == w->n && memcmp(r->resp, w->s, w->n) == 0,
	    "%s:\n want %s\n  got %s", name, esc(w->s, w->n),
	    esc(r->resp, r->rlen));
}

/* What the counters must say; every field not named must be 0. */
struct counts {
	uint64_t	 requests;
	uint64_t	 too_large;
	uint64_t	 bad_request;
	uint64_t	 timeouts;
	uint64_t	 header_timeouts;
	uint64_t	 slow_bodies;
};

static void
counted(const struct result *r, const struct counts *c, const char *name)
{
	const struct http_counters *ct = &r->ct;

	ck_assert_msg(ct->requests == c->requests &&
	    ct->too_large == c->too_large &&
	    ct->bad_request == c->bad_request &&
	    ct->timeouts == c->timeouts &&
	    ct->header_timeouts == c->header_timeouts &&
	    ct->slow_bodies == c->slow_bodies &&
	    ct->refused == 0 && ct->over_budget == 0 &&
	    ct->connections == 0,
	    "%s: counters requests %llu too_large %llu bad_request %llu "
	    "timeouts %llu header_timeouts %llu slow_bodies %llu refused "
	    "%llu over_budget %llu connections %zu; want %llu %llu %llu "
	    "%llu %llu %llu 0 0 0", name,
	    (unsigned long long)ct->requests,
	    (unsigned long long)ct->too_large,
	    (unsigned long long)ct->bad_request,
	    (unsigned long long)ct->timeouts,
	    (unsigned long long)ct->header_timeouts,
	    (unsigned long long)ct->slow_bodies,
	    (unsigned long long)ct->refused,
	    (unsigned long long)ct->over_budget, ct->connections,
	    (unsigned long long)c->requests,
	    (unsigned long long)c->too_large,
	    (unsigned long long)c->bad_request,
	    (unsigned long long)c->timeouts,
	    (unsigned long long)c->header_timeouts,
	    (unsigned long long)c->slow_bodies);
}

/* The server closed cleanly: an EOF, not a reset, not kept open. */
static void
closed(const struct result *r, const char *name)
{
	ck_assert_msg(r->eof && r->err == 0 && !r->open, "%s: eof %d "
	    "errno %d open %d", name, r->eof, r->err, r->open);
}

/*
 * in was refused with status and nothing else: exactly the canned
 * answer, one only (nothing after the refusal was read as a request),
 * the connection closed, the handler never called, and the refusal
 * counted where http.h says: 413 in too_large, 400/431/501 in
 * bad_request.
 */
static void
refused_how(const char *name, const char *in, size_t len,
    const struct how *how, int status)
{
	struct counts c;
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange_how(in, len, how, &r);
	want_refusal(&w, status);
	same(&r, &w, name);
	closed(&r, name);
	ck_assert_msg(r.nreq == 0, "%s: handed to the handler: %s %s", name,
	    r.req[0].method, r.req[0].path);
	memset(&c, 0, sizeof(c));
	if (status == 413)
		c.too_large = 1;
	else
		c.bad_request = 1;
	counted(&r, &c, name);
}

static void
refused(const char *name, const char *in, size_t len, int status)
{
	static const struct how how = { .lim = NULL };

	refused_how(name, in, len, &how, status);
}

/* A request the parser must accept, and what it must make of it. */
static void
accepted(const char *name, const char *in, size_t len, const char *path,
    const char *body, size_t nheaders)
{
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange(in, len, &r);
	ck_assert_msg(r.nreq == 1, "%s: %zu requests; read %s", name, r.nreq,
	    esc(r.resp, r.rlen));
	ck_assert_str_eq(r.req[0].path, path);
	ck_assert_msg(r.req[0].body_len == strlen(body) &&
	    strcmp(r.req[0].body, body) == 0, "%s: body %s", name,
	    esc(r.req[0].body, r.req[0].body_len));
	ck_assert_uint_eq(r.req[0].nheaders, nheaders);
	want_ok(&w, path, !r.req[0].keepalive ? CLOSE :
	    r.req[0].minor == 0 ? KEEP_10 : KEEP);
	same(&r, &w, name);
	closed(&r, name);
	counted(&r, &(struct counts){ .requests = 1 }, name);
}

/*
 * What must come after each request of the corpus if a parser framed it
 * the other way.  No refusal may let it through.
 */
#define SMUGGLE		"DELETE /victim HTTP/1.1\r\nHost: x\r\n\r\n"
#define POST		"POST / HTTP/1.1\r\nHost: x\r\n"
#define CHUNKED		POST "Transfer-Encoding: chunked\r\n\r\n"

struct refusal {
	const char	*name;
	const char	*in;
	size_t		 len;		/* NULs count */
	int		 status;
};

#define REFUSE(name, in, status)	{ name, in, sizeof(in) - 1, status }

static const struct refusal corpus[] = {
	/* CL.CL: exactly one Content-Length, a plain decimal number. */
	REFUSE("cl-twice-differing", POST "Content-Length: 4\r\n"
	    "Content-Length: 40\r\n\r\nabcd" SMUGGLE, 400),
	REFUSE("cl-twice-differing-reversed", POST "Content-Length: 40\r\n"
	    "Content-Length: 4\r\n\r\nabcd" SMUGGLE, 400),
	/* http.c: "one Content-Length, even twice the same value". */
	REFUSE("cl-twice-same", POST "Content-Length: 4\r\n"
	    "Content-Length: 4\r\n\r\nabcd" SMUGGLE, 400),
	REFUSE("cl-twice-names-differ-in-case", POST "Content-Length: 4\r\n"
	    "content-length: 4\r\n\r\nabcd" SMUGGLE, 400),
	REFUSE("cl-list", POST "Content-Length: 5, 5\r\n\r\nhello", 400),
	REFUSE("cl-list-unspaced", POST "Content-Length: 5,5\r\n\r\nhello",
	    400),
	REFUSE("cl-list-differing", POST "Content-Length: 4, 40\r\n\r\nabcd"
	    SMUGGLE, 400),
	REFUSE("cl-negative", POST "Content-Length: -1\r\n\r\n", 400),
	REFUSE("cl-plus", POST "Content-Length: +4\r\n\r\nabcd", 400),
	REFUSE("cl-hex", POST "Content-Length: 0x4\r\n\r\nabcd", 400),
	REFUSE("cl-alpha", POST "Content-Length: abc\r\n\r\n", 400),
	REFUSE("cl-trailing-alpha", POST "Content-Length: 4a\r\n\r\nabcd",
	    400),
	REFUSE("cl-inner-space", POST "Content-Length: 4 4\r\n\r\nabcd",
	    400),
	REFUSE("cl-decimal-point", POST "Content-Length: 4.0\r\n\r\nabcd",
	    400),
	REFUSE("cl-empty", POST "Content-Length: \r\n\r\n", 400),
	REFUSE("cl-vt", POST "Content-Length: 4\v\r\n\r\nabcd", 400),
	REFUSE("cl-nul", POST "Content-Length: 4\0\r\n\r\nabcd", 400),
	REFUSE("cl-overflow", POST "Content-Length: "
	    "99999999999999999999999\r\n\r\n", 400),
	REFUSE("cl-2^64", POST "Content-Length: 18446744073709551616\r\n"
	    "\r\n", 400),
	/* Numbers that fit are too large instead. */
	REFUSE("cl-2^63-1", POST "Content-Length: 9223372036854775807\r\n"
	    "\r\n", 413),
	REFUSE("cl-over-max", POST "Content-Length: 1025\r\n\r\n", 413),

	/* CL.TE and TE.TE. */
	REFUSE("te-and-cl", POST "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 4\r\n\r\n0\r\n\r\n" SMUGGLE, 400),
	REFUSE("cl-and-te", POST "Content-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLE, 400),
	REFUSE("te-unknown-and-cl", POST "Transfer-Encoding: xchunked\r\n"
	    "Content-Length: 4\r\n\r\nabcd", 400),
	REFUSE("te-twice", POST "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
	REFUSE("te-twice-second-bogus", POST "Transfer-Encoding: chunked\r\n"
	    "Transfer-encoding: cow\r\n\r\n0\r\n\r\n" SMUGGLE, 400),
	REFUSE("te-http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n0\r\n\r\n", 400),
	/* Codings: 501 only with chunked last, once, after ones we lack. */
	REFUSE("te-gzip-chunked", POST "Transfer-Encoding: gzip, chunked\r\n"
	    "\r\n0\r\n\r\n", 501),
	REFUSE("te-gzip-chunked-unspaced", POST "Transfer-Encoding: "
	    "gzip,chunked\r\n\r\n0\r\n\r\n", 501),
	REFUSE("te-chunked-gzip", POST "Transfer-Encoding: chunked, gzip\r\n"
	    "\r\n0\r\n\r\n", 400),
	REFUSE("te-chunked-chunked", POST "Transfer-Encoding: chunked, "
	    "chunked\r\n\r\n0\r\n\r\n", 400),
	REFUSE("te-xchunked", POST "Transfer-Encoding: xchunked\r\n\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("te-chunkedx", POST "Transfer-Encoding: chunkedx\r\n\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("te-gzip", POST "Transfer-Encoding: gzip\r\n\r\n", 400),
	REFUSE("te-identity", POST "Transfer-Encoding: identity\r\n\r\n",
	    400),
	REFUSE("te-empty", POST "Transfer-Encoding: \r\n\r\n", 400),
	REFUSE("te-leading-comma", POST "Transfer-Encoding: , chunked\r\n"
	    "\r\n0\r\n\r\n", 400),
	REFUSE("te-empty-element", POST "Transfer-Encoding: gzip, , chunked"
	    "\r\n\r\n0\r\n\r\n", 400),
	REFUSE("te-quoted", POST "Transfer-Encoding: \"chunked\"\r\n\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("te-parameter", POST "Transfer-Encoding: chunked;q=1\r\n\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("te-vt", POST "Transfer-Encoding:\vchunked\r\n\r\n0\r\n\r\n",
	    400),

	/* Whitespace before a colon, and names that are not tokens. */
	REFUSE("te-space-colon", POST "Transfer-Encoding : chunked\r\n\r\n"
	    "0\r\n\r\n" SMUGGLE, 400),
	REFUSE("te-tab-colon", POST "Transfer-Encoding\t: chunked\r\n\r\n"
	    "0\r\n\r\n" SMUGGLE, 400),
	REFUSE("cl-space-colon", POST "Content-Length : 4\r\n\r\nabcd"
	    SMUGGLE, 400),
	REFUSE("host-space-colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
	REFUSE("empty-name", "GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n", 400),
	REFUSE("space-in-name", "GET / HTTP/1.1\r\nHost: x\r\nX A: 1\r\n"
	    "\r\n", 400),
	REFUSE("no-colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A 1\r\n\r\n", 400),
	REFUSE("two-hosts", "GET / HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n",
	    400),
	REFUSE("host-tab-colon", "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400),

	/* From HTTP/1.1 on, exactly one Host (RFC 9112 3.2). */
	REFUSE("no-host", "GET / HTTP/1.1\r\n\r\n", 400),
	REFUSE("no-host-with-body", "POST / HTTP/1.1\r\nContent-Length: 4"
	    "\r\n\r\nabcd" SMUGGLE, 400),
	REFUSE("no-host-http/1.2", "GET / HTTP/1.2\r\n\r\n", 400),
	REFUSE("no-host-but-hosts", "GET / HTTP/1.1\r\nHosts: x\r\n\r\n",
	    400),
	REFUSE("host-in-trailer-only", "POST / HTTP/1.1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\nHost: x\r\n\r\n", 400),

	/* Chunk size lines: 1*HEXDIG and well-formed extensions only. */
	REFUSE("chunk-non-hex", CHUNKED "zz\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-negative", CHUNKED "-2\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-plus", CHUNKED "+2\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-0x", CHUNKED "0x2\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-empty-size", CHUNKED "\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-leading-space", CHUNKED " 2\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-trailing-space", CHUNKED "2 \r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-2^64", CHUNKED "10000000000000000\r\nab\r\n", 400),
	REFUSE("chunk-overflow", CHUNKED "fffffffffffffffffffff\r\nab\r\n",
	    400),
	/* A size that fits 64 bits is over max_body_bytes instead. */
	REFUSE("chunk-2^64-1", CHUNKED "ffffffffffffffff\r\nab\r\n", 413),
	REFUSE("chunk-over-max", CHUNKED "401\r\n", 413),
	REFUSE("chunk-size-bare-lf", CHUNKED "2\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-last-bare-lf", CHUNKED "0\n\r\n", 400),
	/* The data longer than its size said: no CRLF where it is due. */
	REFUSE("chunk-data-too-long", CHUNKED "2\r\nabcd\r\n0\r\n\r\n", 400),
	REFUSE("chunk-data-bare-lf", CHUNKED "2\r\nab\n0\r\n\r\n", 400),
	REFUSE("chunk-data-bare-cr", CHUNKED "2\r\nab\r0\r\n\r\n", 400),
	REFUSE("chunk-data-no-crlf", CHUNKED "2\r\nab0\r\n\r\n", 400),
	REFUSE("chunk-ext-empty", CHUNKED "2;\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-ext-no-name", CHUNKED "2;=v\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-ext-no-value", CHUNKED "2;a=\r\nab\r\n0\r\n\r\n", 400),
	REFUSE("chunk-ext-open-quote", CHUNKED "2;a=\"v\r\nab\r\n0\r\n\r\n",
	    400),
	REFUSE("chunk-ext-ctl-in-quote", CHUNKED "2;a=\"\x01\"\r\nab\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("chunk-ext-space-in-value", CHUNKED "2;a=b c\r\nab\r\n"
	    "0\r\n\r\n", 400),
	REFUSE("chunk-ext-bare-cr", CHUNKED "2;a=b\rc\r\nab\r\n0\r\n\r\n",
	    400),
	/* The extension that ends in a bare LF, which some parsers skip. */
	REFUSE("chunk-ext-bare-lf", CHUNKED "2;\nxx\r\n2c\r\n" SMUGGLE
	    "\r\n0\r\n\r\n", 400),
	REFUSE("trailer-space-colon", CHUNKED "0\r\nX-T : 1\r\n\r\n", 400),
	REFUSE("trailer-fold", CHUNKED "0\r\nX-T: 1\r\n 2\r\n\r\n", 400),
	REFUSE("trailer-bare-lf", CHUNKED "0\r\nX-T: 1\n\r\n", 400),
	REFUSE("trailer-ctl", CHUNKED "0\r\nX-T: a\x01\r\n\r\n", 400),

	/* obs-fold (RFC 9112 5.2): refused, never unfolded. */
	REFUSE("fold-sp", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n",
	    400),
	REFUSE("fold-tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n"
	    "\r\n", 400),
	REFUSE("fold-first-line", "GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
	REFUSE("fold-hides-te", POST "X-A: 1\r\n Transfer-Encoding: chunked"
	    "\r\nContent-Length: 4\r\n\r\nabcd", 400),
	REFUSE("fold-extends-cl", POST "Content-Length: 4\r\n 0\r\n\r\nabcd"
	    SMUGGLE, 400),

	/* Bare LF and bare CR, in the request line and in fields. */
	REFUSE("lf-request-line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
	REFUSE("lf-everywhere", "GET / HTTP/1.1\nHost: x\n\n", 400),
	REFUSE("lf-header", "GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400),
	REFUSE("lf-before-te", POST "X-A: 1\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 4\r\n\r\nabcd", 400),
	REFUSE("lf-final", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400),
	REFUSE("lf-leading", "\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("cr-header", "GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400),
	REFUSE("cr-request-line", "GET / HTTP/1.1\r\r\nHost: x\r\n\r\n", 400),
	REFUSE("cr-before-te", POST "X-A: 1\rTransfer-Encoding: chunked\r\n"
	    "\r\n0\r\n\r\n", 400),

	/* Control characters and NUL. */
	REFUSE("ctl-in-value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n"
	    "\r\n", 400),
	REFUSE("esc-in-value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: \x1b[0m\r\n"
	    "\r\n", 400),
	REFUSE("ff-in-value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\fb\r\n"
	    "\r\n", 400),
	REFUSE("del-in-value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n"
	    "\r\n", 400),
	REFUSE("nul-in-value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n"
	    "\r\n", 400),
	REFUSE("nul-in-name", "GET / HTTP/1.1\r\nHost: x\r\nX\0A: 1\r\n\r\n",
	    400),
	REFUSE("ctl-in-name", "GET / HTTP/1.1\r\nHost: x\r\nX\x01: 1\r\n\r\n",
	    400),
	REFUSE("del-in-name", "GET / HTTP/1.1\r\nHost: x\r\nX\x7f: 1\r\n\r\n",
	    400),
	REFUSE("nul-in-target", "GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("ctl-in-target", "GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("del-in-target", "GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("tab-in-target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("space-in-target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("nul-in-method", "G\0T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	/* A path that decodes to NUL: a C string would cut it short. */
	REFUSE("pct-nul-in-path", "GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
	    400),
	REFUSE("pct-nul-ends-path", "GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n",
	    400),
	REFUSE("pct-nul-before-query", "GET /a%00?b=1 HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400),
	REFUSE("pct-nul-after-escape", "GET /%41%00 HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400),
	REFUSE("pct-nul-after-percent", "GET /%%00 HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400),

	/* Request lines: method SP target SP HTTP/1.x, nothing else. */
	REFUSE("no-version", "GET /\r\nHost: x\r\n\r\n", 400),
	REFUSE("http/0.9", "GET /\r\n\r\n", 400),
	REFUSE("no-target", "GET HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("http/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 400),
	REFUSE("h2-preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
	REFUSE("http/1.10", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400),
	REFUSE("http/1.x", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400),
	REFUSE("http/1", "GET / HTTP/1\r\nHost: x\r\n\r\n", 400),
	REFUSE("http/11", "GET / HTTP/11\r\nHost: x\r\n\r\n", 400),
	REFUSE("lowercase-http", "GET / http/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("two-spaces-after-method", "GET  / HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400),
	REFUSE("two-spaces-before-version", "GET /  HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", 400),
	REFUSE("trailing-space", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
	REFUSE("leading-space", " GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("tab-separator", "GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("method-not-token", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
	REFUSE("absolute-form", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
	    400),
	REFUSE("authority-form", "CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
	    400),
};

#define NCORPUS	((int)(sizeof(corpus) / sizeof(corpus[0])))

START_TEST(refusals)
{
	const struct refusal *t = &corpus[_i];

	refused(t->name, t->in, t->len, t->status);
}
END_TEST

/* Framed one way only, whatever it holds: the handler never sees it. */
START_TEST(smuggle_stays_a_body)
{
	static const char cl[] = "POST /a HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 36\r\n\r\n" SMUGGLE;
	static const char get[] = "GET /a HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 36\r\n\r\n" SMUGGLE;
	static const char te[] = "POST /a HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n24\r\n" SMUGGLE "\r\n0\r\n\r\n";
	/* Not Transfer-Encoding, whatever a lax server makes of it. */
	static const char under[] = "POST /a HTTP/1.1\r\nHost: x\r\n"
	    "Transfer_Encoding: chunked\r\nContent-Length: 41\r\n\r\n"
	    "0\r\n\r\n" SMUGGLE;

	ck_assert_uint_eq(strlen(SMUGGLE), 36);
	accepted("cl", cl, sizeof(cl) - 1, "/a", SMUGGLE, 2);
	accepted("get-with-cl", get, sizeof(get) - 1, "/a", SMUGGLE, 2);
	accepted("chunked", te, sizeof(te) - 1, "/a", SMUGGLE, 2);
	accepted("underscore", under, sizeof(under) - 1, "/a",
	    "0\r\n\r\n" SMUGGLE, 3);
}
END_TEST

/* A valid request, then a smuggling one: the first only is handled. */
START_TEST(smuggle_after_a_valid_request)
{
	static const char in[] =
	    "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
	    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
	    "Content-Length: 38\r\n\r\nh" SMUGGLE;
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange(in, sizeof(in) - 1, &r);
	want_ok(&w, "/a", KEEP);
	want_refusal(&w, 400);
	same(&r, &w, "valid-then-cl-cl");
	closed(&r, "valid-then-cl-cl");
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.req[0].body, "hi");
	counted(&r, &(struct counts){ .requests = 1, .bad_request = 1 },
	    "valid-then-cl-cl");
}
END_TEST

START_TEST(content_length_body)
{
	static const char in[] = "POST /x?q=1 HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 5\r\n\r\nhello";
	static const char zeros[] = POST "Content-Length: 004\r\n\r\nabcd";
	static const char ows[] = POST "Content-Length: \t 4 \t\r\n\r\nabcd";
	static const char empty[] = POST "Content-Length: 0\r\n\r\n";
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange(in, sizeof(in) - 1, &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.req[0].method, "POST");
	ck_assert_str_eq(r.req[0].target, "/x?q=1");
	ck_assert_str_eq(r.req[0].path, "/x");
	ck_assert(r.req[0].has_query);
	ck_assert_str_eq(r.req[0].query, "q=1");
	ck_assert_str_eq(r.req[0].body, "hello");
	ck_assert_uint_eq(r.req[0].body_len, 5);
	ck_assert_uint_eq(r.req[0].nheaders, 2);
	ck_assert_int_eq(r.req[0].minor, 1);
	ck_assert_int_eq(r.req[0].keepalive, 1);
	want_ok(&w, "/x", KEEP);
	same(&r, &w, "content-length");
	closed(&r, "content-length");
	counted(&r, &(struct counts){ .requests = 1 }, "content-length");

	accepted("leading-zeros", zeros, sizeof(zeros) - 1, "/", "abcd", 2);
	accepted("ows", ows, sizeof(ows) - 1, "/", "abcd", 2);
	accepted("zero", empty, sizeof(empty) - 1, "/", "", 2);
}
END_TEST

START_TEST(chunked_body)
{
	/* Two chunks, an extension, trailers (checked, then dropped). */
	static const char two[] = "POST /c HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n6;name=v\r\nhello \r\n"
	    "5\r\nworld\r\n0\r\nX-T: 1\r\nContent-Length: 99\r\n\r\n";
	/* BWS, quoted extensions, upper case hex, a coding in capitals. */
	static const char ext[] = "POST /c HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: Chunked \r\n\r\n"
	    "1 ; a = b ; c = \"d \\\" e\";f\r\nx\r\n"
	    "A\r\n0123456789\r\n0;g=h\r\n\r\n";
	static const char none[] = CHUNKED "0\r\n\r\n";

	accepted("two-chunks", two, sizeof(two) - 1, "/c", "hello world", 2);
	accepted("extensions", ext, sizeof(ext) - 1, "/c", "x0123456789", 2);
	accepted("empty", none, sizeof(none) - 1, "/", "", 2);
}
END_TEST

START_TEST(request_forms)
{
	static const char lead[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char pct[] = "GET /a%2Fb?x=%41 HTTP/1.1\r\nHost: x\r\n"
	    "\r\n";
	static const char v12[] = "GET / HTTP/1.2\r\nHost: x\r\n\r\n";
	static const char obs[] = "GET / HTTP/1.1\r\nHost: x\r\n"
	    "X-A: caf\xc3\xa9\r\nX-Empty:\r\n\r\n";
	static const char pct25[] = "GET /a%2500 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char qnul[] = "GET /a?b=%00 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char nohost[] = "GET /o HTTP/1.0\r\n\r\n";
	static const char empty_host[] = "GET / HTTP/1.1\r\nHost:\r\n\r\n";
	struct result r;

	/* RFC 9112 2.2: empty lines before the request line are dropped. */
	accepted("leading-empty-lines", lead, sizeof(lead) - 1, "/", "", 1);
	/* The path decoded, the target and the query as sent. */
	exchange(pct, sizeof(pct) - 1, &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.req[0].path, "/a/b");
	ck_assert_str_eq(r.req[0].target, "/a%2Fb?x=%41");
	ck_assert_str_eq(r.req[0].query, "x=%41");
	/* A later HTTP/1.x is read as 1.1 would be (RFC 9110 2.5). */
	exchange(v12, sizeof(v12) - 1, &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_int_eq(r.req[0].minor, 2);
	ck_assert_int_eq(r.req[0].keepalive, 1);
	/* obs-text and empty values are field content. */
	accepted("obs-text", obs, sizeof(obs) - 1, "/", "", 3);
	/* "%2500" is "%00" decoded, not a NUL; the query is not decoded. */
	accepted("pct-25-00", pct25, sizeof(pct25) - 1, "/a%00", "", 1);
	exchange(qnul, sizeof(qnul) - 1, &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.req[0].path, "/a");
	ck_assert_str_eq(r.req[0].query, "b=%00");
	/* HTTP/1.0 needs no Host; an empty one is a Host (RFC 9112 3.2). */
	accepted("http/1.0-no-host", nohost, sizeof(nohost) - 1, "/o", "", 0);
	accepted("empty-host", empty_host, sizeof(empty_host) - 1, "/", "", 1);
}
END_TEST

/* More headers than the first allocation holds. */
START_TEST(many_headers)
{
	char in[MAX_HEADER];
	size_t n, i;

	n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < 300; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-%03zu: v\r\n",
		    i);
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	ck_assert_uint_lt(n, sizeof(in));
	accepted("300-headers", in, n, "/", "", 301);
}
END_TEST

/* Answered in order, on one connection. */
START_TEST(pipelined)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz"
	    "POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\ny\r\n0\r\n\r\n"
	    "GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	    "GET /5 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange(in, sizeof(in) - 1, &r);
	want_ok(&w, "/1", KEEP);
	want_ok(&w, "/2", KEEP);
	want_ok(&w, "/3", KEEP);
	want_ok(&w, "/4", CLOSE);
	same(&r, &w, "pipelined");
	closed(&r, "pipelined");
	ck_assert_uint_eq(r.nreq, 4);
	ck_assert_str_eq(r.req[1].body, "z");
	ck_assert_str_eq(r.req[2].body, "y");
	ck_assert_int_eq(r.req[3].keepalive, 0);
	counted(&r, &(struct counts){ .requests = 4 }, "pipelined");
}
END_TEST

/*
 * Persistence, without our half-close: a keep-alive connection stays
 * open after its answers; Connection: close and HTTP/1.0 close it after
 * the answer, whatever follows.
 */
START_TEST(keepalive_and_close)
{
	static const char two[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /2 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
	static const char cls[] = "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char v10[] = "GET /o HTTP/1.0\r\n\r\n"
	    "GET /p HTTP/1.0\r\n\r\n";
	static const char v10ka[] = "GET /o HTTP/1.0\r\n"
	    "Connection: keep-alive\r\n\r\n"
	    "POST /p HTTP/1.0\r\nConnection: Keep-Alive\r\n"
	    "Content-Length: 1\r\n\r\nz";
	struct how open2 = { .keep_open = 1, .answers = 2 };
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange_how(two, sizeof(two) - 1, &open2, &r);
	want_ok(&w, "/1", KEEP);
	want_ok(&w, "/2", KEEP);
	same(&r, &w, "keep-alive");
	ck_assert_msg(r.open && !r.eof, "keep-alive: closed");
	counted(&r, &(struct counts){ .requests = 2 }, "keep-alive");

	memset(&w, 0, sizeof(w));
	exchange_how(cls, sizeof(cls) - 1, &open2, &r);
	want_ok(&w, "/1", CLOSE);
	same(&r, &w, "connection-close");
	closed(&r, "connection-close");
	ck_assert_uint_eq(r.nreq, 1);
	counted(&r, &(struct counts){ .requests = 1 }, "connection-close");

	memset(&w, 0, sizeof(w));
	exchange_how(v10, sizeof(v10) - 1, &open2, &r);
	want_ok(&w, "/o", CLOSE);
	same(&r, &w, "http/1.0");
	closed(&r, "http/1.0");
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_int_eq(r.req[0].minor, 0);
	counted(&r, &(struct counts){ .requests = 1 }, "http/1.0");

	memset(&w, 0, sizeof(w));
	exchange_how(v10ka, sizeof(v10ka) - 1, &open2, &r);
	want_ok(&w, "/o", KEEP_10);
	want_ok(&w, "/p", KEEP_10);
	same(&r, &w, "http/1.0-keep-alive");
	ck_assert_msg(r.open && !r.eof, "http/1.0 keep-alive: closed");
	ck_assert_str_eq(r.req[1].body, "z");
	counted(&r, &(struct counts){ .requests = 2 },
	    "http/1.0-keep-alive");
}
END_TEST

START_TEST(expect_continue)
{
	static const char in[] = "POST /e HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
	static const char head[] = "POST /e HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char nobody[] = "POST /e HTTP/1.1\r\nHost: x\r\n"
	    "Expect: 100-continue\r\nContent-Length: 0\r\n\r\n";
	static const char v10[] = "POST /e HTTP/1.0\r\n"
	    "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok";
	struct how open1 = { .keep_open = 1, .answers = 1 };
	struct result r;
	struct want w;

	memset(&w, 0, sizeof(w));
	exchange(in, sizeof(in) - 1, &r);
	want_raw(&w, CONTINUE);
	want_ok(&w, "/e", KEEP);
	same(&r, &w, "100-continue");
	closed(&r, "100-continue");
	ck_assert_str_eq(r.req[0].body, "ok");
	counted(&r, &(struct counts){ .requests = 1 }, "100-continue");

	/* The interim answer comes before the body is sent. */
	memset(&w, 0, sizeof(w));
	exchange_how(head, sizeof(head) - 1, &open1, &r);
	want_raw(&w, CONTINUE);
	same(&r, &w, "100-continue-first");
	ck_assert(r.open);
	ck_assert_uint_eq(r.nreq, 0);
	counted(&r, &(struct counts){ 0 }, "100-continue-first");

	/* None when there is no body to wait for, or for HTTP/1.0. */
	memset(&w, 0, sizeof(w));
	exchange(nobody, sizeof(nobody) - 1, &r);
	want_ok(&w, "/e", KEEP);
	same(&r, &w, "100-continue-no-body");
	memset(&w, 0, sizeof(w));
	exchange(v10, sizeof(v10) - 1, &r);
	want_ok(&w, "/e", CLOSE);
	same(&r, &w, "100-continue-http/1.0");
}
END_TEST

/* A request cut short by the peer's FIN is dropped, not answered. */
START_TEST(truncated)
{
	static const char *const in[] = {
		"GET / HTTP/1.1\r\nHost: x\r\n",
		POST "Content-Length: 10\r\n\r\nabcde",
		CHUNKED "5\r\nab",
		CHUNKED "2\r\nab\r\n",
		CHUNKED "0\r\nX-T: 1\r\n",
	};
	struct result r;
	char name[256];
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		snprintf(name, sizeof(name), "%s", esc(in[i], strlen(in[i])));
		exchange(in[i], strlen(in[i]), &r);
		ck_assert_msg(r.rlen == 0, "%s: answered %s", name,
		    esc(r.resp, r.rlen));
		closed(&r, name);
		ck_assert_uint_eq(r.nreq, 0);
		counted(&r, &(struct counts){ 0 }, name);
	}
}
END_TEST

/* A header block of max_header_bytes is read; one byte more is 431. */
START_TEST(header_block_limit)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
	char in[MAX_HEADER + 8];
	size_t pad = MAX_HEADER - (sizeof(pre) - 1) - 4;

	memcpy(in, pre, sizeof(pre) - 1);
	memset(in + sizeof(pre) - 1, 'a', pad);
	memcpy(in + sizeof(pre) - 1 + pad, "\r\n\r\n", 4);
	accepted("at-limit", in, MAX_HEADER, "/", "", 2);

	memset(in + sizeof(pre) - 1, 'a', pad + 1);
	memcpy(in + sizeof(pre) - 1 + pad + 1, "\r\n\r\n", 4);
	refused("over-limit", in, MAX_HEADER + 1, 431);
}
END_TEST

START_TEST(header_block_too_large)
{
	char in[3 * MAX_HEADER];
	size_t n;

	/* One long field, never ended within the limit. */
	n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: x\r\n"
	    "X-Big: ");
	memset(in + n, 'a', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n\r\n");
	refused("long-field", in, n, 431);

	/* Many short ones. */
	n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: x\r\n");
	while (n < MAX_HEADER + 100)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-A: b\r\n");
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	refused("many-fields", in, n, 431);

	/* The request line alone. */
	n = (size_t)snprintf(in, sizeof(in), "GET /");
	memset(in + n, 'a', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, " HTTP/1.1\r\nHost: x"
	    "\r\n\r\n");
	refused("long-target", in, n, 431);
}
END_TEST

/* Trailers count against max_header_bytes too. */
START_TEST(trailers_too_large)
{
	char in[3 * MAX_HEADER];
	size_t n;

	n = (size_t)snprintf(in, sizeof(in), CHUNKED "1\r\nx\r\n0\r\nX-T: ");
	memset(in + n, 'a', 5000);
	n += 5000;
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n\r\n");
	refused("long-trailer", in, n, 431);

	n = (size_t)snprintf(in, sizeof(in), CHUNKED "1\r\nx\r\n0\r\n");
	while (n < sizeof(CHUNKED) + MAX_HEADER + 100)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "X-T: b\r\n");
	n += (size_t)snprintf(in + n, sizeof(in) - n, "\r\n");
	refused("many-trailers", in, n, 431);
}
END_TEST

/* A chunk size line, extensions and all, is at most 1024 bytes. */
START_TEST(chunk_line_limit)
{
	char in[4096];
	size_t n, line;

	for (line = 1022; line <= 1023; line++) {
		n = (size_t)snprintf(in, sizeof(in), CHUNKED "1;a=");
		memset(in + n, 'b', line - 4);
		n += line - 4;
		n += (size_t)snprintf(in + n, sizeof(in) - n,
		    "\r\nx\r\n0\r\n\r\n");
		if (line == 1022)
			accepted("1024-with-crlf", in, n, "/", "x", 2);
		else
			refused("1025-with-crlf", in, n, 400);
	}
}
END_TEST

/* max_body_bytes, by Content-Length and by the chunks' sum. */
START_TEST(body_limit)
{
	static const char head[] = POST "Content-Length: 1025\r\n\r\n";
	struct how hold = { .keep_open = 1 };
	char in[3 * MAX_BODY], body[MAX_BODY + 1];
	size_t n;

	memset(body, 'a', MAX_BODY);
	body[MAX_BODY] = '\0';
	n = (size_t)snprintf(in, sizeof(in), POST "Content-Length: %d\r\n\r\n"
	    "%s", MAX_BODY, body);
	accepted("cl-at-max", in, n, "/", body, 2);

	/* Refused on the head, without waiting for the body. */
	refused_how("cl-over-max-before-body", head, sizeof(head) - 1, &hold,
	    413);

	n = (size_t)snprintf(in, sizeof(in), CHUNKED "200\r\n%.512s\r\n"
	    "200\r\n%.512s\r\n0\r\n\r\n", body, body);
	accepted("chunks-at-max", in, n, "/", body, 2);
	n = (size_t)snprintf(in, sizeof(in), CHUNKED "200\r\n%.512s\r\n"
	    "201\r\n%.513s\r\n0\r\n\r\n", body, body);
	refused("chunks-over-max", in, n, 413);
}
END_TEST

/*
 * Connection options are a list of tokens, whatever their case (RFC 9110
 * 7.6.1): close wins over everything, keep-alive keeps an HTTP/1.0
 * connection, and a token that merely contains one of them is neither.
 * Each first request is followed by a second one, answered only if the
 * connection persists.
 */
static const struct {
	const char	*name;
	const char	*in;
	enum persist	 keep;
} options[] = {
	{ "1.1-default", "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n", KEEP },
	{ "1.1-close", "GET /1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	    "\r\n", CLOSE },
	{ "1.1-CLOSE", "GET /1 HTTP/1.1\r\nHost: x\r\nConnection: CLOSE\r\n"
	    "\r\n", CLOSE },
	{ "1.1-xclose", "GET /1 HTTP/1.1\r\nHost: x\r\nConnection: xclose"
	    "\r\n\r\n", KEEP },
	{ "1.1-close-ish", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close-ish\r\n\r\n", KEEP },
	{ "1.1-closed-list", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: closed, unclose\r\n\r\n", KEEP },
	{ "1.1-keep-alive-close", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: keep-alive, Close\r\n\r\n", CLOSE },
	{ "1.1-upgrade,close", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: Upgrade,close\r\n\r\n", CLOSE },
	{ "1.1-two-lines", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: keep-alive\r\nConnection: close\r\n\r\n", CLOSE },
	{ "1.0-default", "GET /1 HTTP/1.0\r\n\r\n", CLOSE },
	{ "1.0-keep-alive", "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "\r\n", KEEP_10 },
	{ "1.0-Keep-Alive-list", "GET /1 HTTP/1.0\r\n"
	    "Connection: Upgrade , Keep-Alive\r\n\r\n", KEEP_10 },
	{ "1.0-keep-alive-ish", "GET /1 HTTP/1.0\r\n"
	    "Connection: keep-alive-ish\r\n\r\n", CLOSE },
	{ "1.0-xkeep-alive", "GET /1 HTTP/1.0\r\n"
	    "Connection: xkeep-alive\r\n\r\n", CLOSE },
	{ "1.0-keep-alive-close", "GET /1 HTTP/1.0\r\n"
	    "Connection: close, keep-alive\r\n\r\n", CLOSE },
	{ "1.0-two-lines", "GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n"
	    "Connection: close\r\n\r\n", CLOSE },
};

#define NOPTIONS	((int)(sizeof(options) / sizeof(options[0])))

START_TEST(connection_options)
{
	static const char second[] = "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n";
	struct how open2 = { .keep_open = 1, .answers = 2 };
	const char *name = options[_i].name;
	char in[512];
	struct result r;
	struct want w;
	int n;

	n = snprintf(in, sizeof(in), "%s%s", options[_i].in, second);
	ck_assert(n > 0 && (size_t)n < sizeof(in));
	memset(&w, 0, sizeof(w));
	exchange_how(in, (size_t)n, &open2, &r);
	want_ok(&w, "/1", options[_i].keep);
	if (options[_i].keep != CLOSE)
		want_ok(&w, "/2", KEEP);
	same(&r, &w, name);
	if (options[_i].keep == CLOSE) {
		closed(&r, name);
		ck_assert_uint_eq(r.nreq, 1);
	} else {
		ck_assert_msg(r.open && !r.eof, "%s: closed", name);
		ck_assert_uint_eq(r.nreq, 2);
	}
	ck_assert_int_eq(r.req[0].keepalive, options[_i].keep != CLOSE);
	counted(&r, &(struct counts){ .requests = r.nreq }, name);
}
END_TEST

/*
 * Every answer that closes the connection lingers: once the client has
 * read the server's EOF, what it still sends is read and dropped (256
 * KiB, more than the socket buffers hold), not refused, until it closes.
 */
static const struct {
	const char	*name;
	const char	*in;
	int		 status;	/* 200: the handler's answer */
} lingering[] = {
	{ "connection-close", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", 200 },
	{ "connection-close-pipelined", "GET /1 HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	    200 },
	{ "http/1.0", "GET /1 HTTP/1.0\r\n\r\n", 200 },
	{ "body-then-close", "POST /1 HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\nhi", 200 },
	{ "refusal", "GET /1 HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400 },
	{ "refusal-413", POST "Content-Length: 1025\r\n\r\n", 413 },
};

#define NLINGERING	((int)(sizeof(lingering) / sizeof(lingering[0])))

START_TEST(lingering_close)
{
	static char junk[256 << 10];
	const char *name = lingering[_i].name;
	struct how how = { .keep_open = 1, .after = junk,
	    .after_len = sizeof(junk) };
	struct counts c;
	struct result r;
	struct want w;

	memset(junk, 'j', sizeof(junk));
	memset(&w, 0, sizeof(w));
	memset(&c, 0, sizeof(c));
	exchange_how(lingering[_i].in, strlen(lingering[_i].in), &how, &r);
	if (lingering[_i].status == 200) {
		want_ok(&w, "/1", CLOSE);
		c.requests = 1;
	} else {
		want_refusal(&w, lingering[_i].status);
		if (lingering[_i].status == 413)
			c.too_large = 1;
		else
			c.bad_request = 1;
	}
	same(&r, &w, name);
	closed(&r, name);
	ck_assert_msg(r.after_err == 0 && r.after_sent == sizeof(junk),
	    "%s: %zu of %zu bytes taken after the answer, then %s: closed "
	    "without lingering", name, r.after_sent, sizeof(junk),
	    strerror(r.after_err));
	counted(&r, &c, name);
}
END_TEST

/*
 * max_header_bytes, max_body_bytes and max_connections have no default:
 * 0 would refuse everything, so http_server_new() refuses it, and closes
 * the descriptor it was given as it does on any failure.
 */
/*
 * Streamed answers (GET /tap): chunks as they are written, the last
 * chunk and a close at the end, and gone() once when the peer leaves
 * first, never after the end.
 */
struct streamer {
	struct http_stream *s;
	int		 gone;
	int		 finish;	/* write two chunks and end at once */
};

static void
stream_gone(void *arg)
{
	((struct streamer *)arg)->gone++;
}

static void
stream_handler(struct http_request *req, void *arg)
{
	struct streamer *st = arg;

	st->s = http_stream_start(req, 200, "application/x-ndjson",
	    stream_gone, st);
	ck_assert_ptr_nonnull(st->s);
	ck_assert_int_eq(http_stream_write(st->s, "{\"a\":1}\n", 8), 0);
	ck_assert_int_eq(http_stream_write(st->s, "", 0), 0);
	if (st->finish) {
		ck_assert_int_eq(http_stream_write(st->s,
		    "{\"b\":22}\n{\"c\":3}\n", 17), 0);
		http_stream_end(st->s);
	}
}

/* Read from fd until want appears in what was read, or EOF. */
static size_t
stream_read(struct event_base *base, int fd, char *buf, size_t cap,
    const char *want, int *eof)
{
	size_t len = 0;
	ssize_t n;
	int spins = 0;

	*eof = 0;
	buf[0] = '\0';
	while (len + 1 < cap && (want == NULL || strstr(buf, want) == NULL)) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			buf[len] = '\0';
			continue;
		}
		if (n == 0) {
			*eof = 1;
			break;
		}
		ck_assert_int_eq(errno, EAGAIN);
		ck_assert_int_lt(spins++, 100000);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	return len;
}

static int
stream_connect(struct event_base *base, struct streamer *st,
    struct http_server **srvp)
{
	static const char req[] = "GET /tap HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_limits lim;
	struct sockaddr_un un;
	socklen_t alen;
	int lfd, fd;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = MAX_HEADER;
	lim.max_body_bytes = MAX_BODY;
	lim.max_connections = 4;
	lim.idle_timeout_ms = 60000;
	lfd = listen_abstract(&un, &alen);
	*srvp = http_server_new(base, lfd, &lim, stream_handler, st);
	ck_assert_ptr_nonnull(*srvp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&un, alen), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(write(fd, req, sizeof(req) - 1),
	    (ssize_t)sizeof(req) - 1);
	return fd;
}

START_TEST(stream_chunks_then_close)
{
	static const char want[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/x-ndjson\r\n"
	    "Transfer-Encoding: chunked\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n"
	    "8\r\n{\"a\":1}\n\r\n"
	    "11\r\n{\"b\":22}\n{\"c\":3}\n\r\n"
	    "0\r\n\r\n";
	struct streamer st = { .finish = 1 };
	struct event_base *base;
	struct http_server *srv;
	char buf[4096];
	size_t len;
	int fd, eof;

	ck_assert_ptr_nonnull(base = event_base_new());
	fd = stream_connect(base, &st, &srv);
	len = stream_read(base, fd, buf, sizeof(buf), NULL, &eof);
	ck_assert_int_eq(eof, 1);
	ck_assert_msg(len == sizeof(want) - 1 && memcmp(buf, want, len) == 0,
	    "got %s", esc(buf, len));
	close(fd);
	while (http_server_counters(srv)->connections > 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(st.gone, 0);
	http_server_free(srv);
	event_base_free(base);
}
END_TEST

START_TEST(stream_reader_leaves)
{
	struct streamer st = { .finish = 0 };
	struct event_base *base;
	struct http_server *srv;
	char buf[4096];
	int fd, eof;

	ck_assert_ptr_nonnull(base = event_base_new());
	fd = stream_connect(base, &st, &srv);
	stream_read(base, fd, buf, sizeof(buf), "{\"a\":1}\n\r\n", &eof);
	ck_assert_int_eq(eof, 0);
	ck_assert_uint_eq(http_stream_pending(st.s), 0);
	close(fd);
	while (http_server_counters(srv)->connections > 0)
		event_base_loop(base, EVLOOP_ONCE);
	ck_assert_int_eq(st.gone, 1);
	http_server_free(srv);
	/* A stream still open when the server goes: gone() too. */
	st.gone = 0;
	fd = stream_connect(base, &st, &srv);
	stream_read(base, fd, buf, sizeof(buf), "{\"a\":1}\n\r\n", &eof);
	http_server_free(srv);
	ck_assert_int_eq(st.gone, 1);
	close(fd);
	event_base_free(base);
}
END_TEST

START_TEST(limits_required)
{
	struct http_limits lim;
	struct event_base *base;
	struct sockaddr_un un;
	socklen_t alen;
	int fd, i;

	ck_assert_ptr_nonnull(base = event_base_new());
	for (i = 0; i < 4; i++) {
		memset(&lim, 0, sizeof(lim));
		lim.max_header_bytes = i == 1 ? 0 : MAX_HEADER;
		lim.max_body_bytes = i == 2 ? 0 : MAX_BODY;
		lim.max_connections = i == 3 ? 0 : 4;
		if (i == 0)
			memset(&lim, 0, sizeof(lim));
		fd = listen_abstract(&un, &alen);
		ck_assert_msg(http_server_new(base, fd, &lim, handler, NULL) ==
		    NULL, "limits %zu %zu %zu taken", lim.max_header_bytes,
		    lim.max_body_bytes, lim.max_connections);
		errno = 0;
		ck_assert_msg(fcntl(fd, F_GETFD) == -1 && errno == EBADF,
		    "descriptor left open");
	}
	event_base_free(base);
}
END_TEST

/*
 * The timers.  Each waits for one short timer and asserts what it did,
 * not when: a slow machine only makes them slower.
 */
START_TEST(header_timeout)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: x\r\n";
	struct http_limits lim;
	struct how how = { .lim = &lim, .keep_open = 1 };
	struct result r;
	struct want w;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = MAX_HEADER;
	lim.max_body_bytes = MAX_BODY;
	lim.max_connections = 4;
	lim.header_timeout_ms = 50;
	memset(&w, 0, sizeof(w));
	/* The header block never ends: 408 when its time is up. */
	exchange_how(in, sizeof(in) - 1, &how, &r);
	want_refusal(&w, 408);
	same(&r, &w, "header-timeout");
	closed(&r, "header-timeout");
	ck_assert_uint_eq(r.nreq, 0);
	counted(&r, &(struct counts){ .timeouts = 1, .header_timeouts = 1 },
	    "header-timeout");
}
END_TEST

/* On a keep-alive connection the clock restarts for the next request. */
START_TEST(header_timeout_second_request)
{
	static const char in[] = "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /2 HTTP/1.1\r\nHost: x\r\n";
	struct http_limits lim;
	struct how how = { .lim = &lim, .keep_open = 1 };
	struct result r;
	struct want w;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = MAX_HEADER;
	lim.max_body_bytes = MAX_BODY;
	lim.max_connections = 4;
	/* Long enough that the first, whole request cannot miss it. */
	lim.header_timeout_ms = 200;
	memset(&w, 0, sizeof(w));
	exchange_how(in, sizeof(in) - 1, &how, &r);
	want_ok(&w, "/1", KEEP);
	want_refusal(&w, 408);
	same(&r, &w, "header-timeout-second");
	closed(&r, "header-timeout-second");
	ck_assert_uint_eq(r.nreq, 1);
	counted(&r, &(struct counts){ .requests = 1, .timeouts = 1,
	    .header_timeouts = 1 }, "header-timeout-second");
}
END_TEST

START_TEST(slow_body)
{
	static const char in[] = POST "Content-Length: 100\r\n\r\n0123456789";
	struct http_limits lim;
	struct how how = { .lim = &lim, .keep_open = 1 };
	struct result r;
	struct want w;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = MAX_HEADER;
	lim.max_body_bytes = MAX_BODY;
	lim.max_connections = 4;
	/* Due 50 ms after the head: the rate adds next to nothing. */
	lim.body_grace_ms = 50;
	lim.body_min_rate = 1L << 30;
	memset(&w, 0, sizeof(w));
	exchange_how(in, sizeof(in) - 1, &how, &r);
	want_refusal(&w, 408);
	same(&r, &w, "slow-body");
	closed(&r, "slow-body");
	ck_assert_uint_eq(r.nreq, 0);
	counted(&r, &(struct counts){ .timeouts = 1, .slow_bodies = 1 },
	    "slow-body");
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("parser");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, refusals, 0, NCORPUS);
	tcase_add_test(tc, smuggle_stays_a_body);
	tcase_add_test(tc, smuggle_after_a_valid_request);
	tcase_add_test(tc, content_length_body);
	tcase_add_test(tc, chunked_body);
	tcase_add_test(tc, request_forms);
	tcase_add_test(tc, many_headers);
	tcase_add_test(tc, pipelined);
	tcase_add_test(tc, keepalive_and_close);
	tcase_add_test(tc, expect_continue);
	tcase_add_test(tc, truncated);
	tcase_add_test(tc, header_block_limit);
	tcase_add_test(tc, header_block_too_large);
	tcase_add_test(tc, trailers_too_large);
	tcase_add_test(tc, chunk_line_limit);
	tcase_add_test(tc, body_limit);
	tcase_add_loop_test(tc, connection_options, 0, NOPTIONS);
	tcase_add_loop_test(tc, lingering_close, 0, NLINGERING);
	tcase_add_test(tc, limits_required);
	tcase_add_test(tc, stream_chunks_then_close);
	tcase_add_test(tc, stream_reader_leaves);
	tcase_add_test(tc, header_timeout);
	tcase_add_test(tc, header_timeout_second_request);
	tcase_add_test(tc, slow_body);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* A write to a closed peer fails with EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	return unit_run(http_suite());
}
