/*
 * fuzz_http: the HTTP/1.1 request parser and connection state machine
 * (src/http.c), driven as the proxy drives it.  The parser is static
 * inside http.c and works on a bufferevent, so the input goes through a
 * real socket: a listening socket served by http_server_new(), a client
 * that connects, writes the input, half-closes (shutdown(SHUT_WR)) and
 * reads until the server closes, all on one event loop.
 *
 * The listening socket is a Unix-domain one by default (an abstract
 * name: no files, no TIME_WAIT sockets piling up over a long campaign,
 * and several times the executions a second); SPILLWAY_FUZZ_HTTP_TCP=1
 * uses 127.0.0.1 instead (each input then leaves a socket in TIME_WAIT;
 * Linux reuses them on loopback).  http.c is the same code on both.
 *
 * The handler answers 200 at once, or for a path holding "later" from
 * the next loop iteration (the handler keeps the request meanwhile, as
 * the ingest handler does while it waits for the sink).  Checked:
 *   - every request handed to the handler is well formed: a method, a
 *     target starting with '/', a path, HTTP/1.x, named headers,
 *     a NUL-terminated body within max_body_bytes; http_header() and
 *     http_query() on it, with small buffers too;
 *   - the connection ends within the time limit once the client has
 *     half-closed (no connection left open, nothing waiting in the
 *     handler);
 *   - what the client reads starts with a status line, and holds one
 *     200 for every request answered at once;
 *   - the counters say as many requests as the handler saw.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "http.h"

#include "fuzz.h"

#define MAX_HEADER	1024
#define MAX_BODY	2048
#define DEADLINE_S	3
#define NPENDING	64

static struct event_base	*base;
static struct http_server	*srv;
static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;

/* Requests the handler holds until the next loop iteration. */
static struct http_request	*pending[NPENDING];
static size_t			 npending;
static struct event		*later_ev;

static size_t			 seen;		/* handler calls, this input */
static size_t			 answered_now;	/* of them, answered at once */

static void
answer(struct http_request *req)
{
	static const char body[] = "ok\n";
	int head = strcmp(req->method, "HEAD") == 0;

	http_respond(req, 200, "text/plain", head ? NULL : body,
	    sizeof(body) - 1, req->nheaders % 2 ? "X-Fuzz: 1\r\n" : NULL);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t i, n = npending;

	(void)fd;
	(void)what;
	(void)arg;
	npending = 0;
	for (i = 0; i < n; i++)
		answer(pending[i]);
}

static void
check_request(const struct http_request *req)
{
	char small[8], one[1], big[256];
	size_t i;

	FUZZ_CHECK(req->method != NULL && req->method[0] != '\0',
	    "http: a request without a method");
	FUZZ_CHECK(req->target != NULL && req->target[0] == '/',
	    "http: a target not starting with '/'");
	FUZZ_CHECK(req->path != NULL, "http: a request without a path");
	/* HTTP/1.2 and on are read as 1.1 (RFC 9110 2.5): one digit. */
	FUZZ_CHECK(req->minor >= 0 && req->minor <= 9,
	    "http: HTTP/1.%d", req->minor);
	for (i = 0; i < req->nheaders; i++)
		FUZZ_CHECK(req->headers[i].name != NULL &&
		    req->headers[i].name[0] != '\0' &&
		    req->headers[i].value != NULL,
		    "http: header %zu without a name or a value", i);
	FUZZ_CHECK(req->body_len <= MAX_BODY, "http: a body of %zu bytes "
	    "past the limit of %d", req->body_len, MAX_BODY);
	FUZZ_CHECK(req->body == NULL ? req->body_len == 0 :
	    req->body[req->body_len] == '\0', "http: the body is not "
	    "NUL-terminated");
	FUZZ_CHECK(req->conn != NULL, "http: a request without a connection");
	(void)http_header(req, "Host");
	(void)http_header(req, "content-type");
	(void)http_query(req, "filter_path", small, sizeof(small));
	(void)http_query(req, "pretty", one, sizeof(one));
	(void)http_query(req, "", big, sizeof(big));
	if (http_query(req, "q", big, sizeof(big)) != NULL)
		FUZZ_CHECK(memchr(big, '\0', sizeof(big)) != NULL,
		    "http_query(): the value is not NUL-terminated");
}

static void
handler(struct http_request *req, void *arg)
{
	(void)arg;
	seen++;
	check_request(req);
	if (strstr(req->path, "later") != NULL && npending < NPENDING) {
		pending[npending++] = req;
		event_active(later_ev, EV_TIMEOUT, 0);
		return;
	}
	answered_now++;
	answer(req);
}

static int
listen_socket(void)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&addr;
	struct sockaddr_in *in = (struct sockaddr_in *)&addr;
	const char *tcp = getenv("SPILLWAY_FUZZ_HTTP_TCP");
	int fd;

	memset(&addr, 0, sizeof(addr));
	if (tcp != NULL && strcmp(tcp, "1") == 0) {
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		addrlen = sizeof(*in);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	} else {
		/* Abstract: a NUL first, then the name. */
		un->sun_family = AF_UNIX;
		snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
		    "spillway-fuzz-http-%ld", (long)getpid());
		addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    1 + strlen(un->sun_path + 1));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
	}
	if (fd == -1 || bind(fd, (struct sockaddr *)&addr, addrlen) == -1 ||
	    listen(fd, 64) == -1 ||
	    getsockname(fd, (struct sockaddr *)&addr, &addrlen) == -1) {
		perror("fuzz_http: listen");
		abort();
	}
	return fd;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct http_limits lim;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL ||
	    (later_ev = event_new(base, -1, 0, later_cb, NULL)) == NULL)
		abort();
	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = MAX_HEADER;
	lim.max_body_bytes = MAX_BODY;
	lim.max_connections = 4;
	lim.idle_timeout_ms = 0;
	if ((srv = http_server_new(base, listen_socket(), &lim, handler,
	    NULL)) == NULL)
		abort();
	return 0;
}

/* The client's end of one input. */
struct client {
	int		 fd;
	const uint8_t	*data;
	size_t		 len, off;
	int		 wdone, eof, late;
	char		 resp[16384];
	size_t		 rlen;
	size_t		 r200;		/* "HTTP/1.1 200 " status lines */
	char		 tail[16];	/* the last bytes, across reads */
	size_t		 ntail;
	struct event	*rev, *wev, *deadline;
};

static void
count_200(struct client *cl, const char *buf, size_t n)
{
	static const char pat[] = "HTTP/1.1 200 ";
	char joined[sizeof(cl->tail) + 4096];
	size_t jn, i, keep, pn = sizeof(pat) - 1;

	while (n > 0) {
		size_t take = n < 4096 ? n : 4096;

		memcpy(joined, cl->tail, cl->ntail);
		memcpy(joined + cl->ntail, buf, take);
		jn = cl->ntail + take;
		/* The tail is shorter than the pattern: each match is new. */
		for (i = 0; i + pn <= jn; i++)
			if (memcmp(joined + i, pat, pn) == 0)
				cl->r200++;
		keep = jn < pn - 1 ? jn : pn - 1;
		memcpy(cl->tail, joined + jn - keep, keep);
		cl->ntail = keep;
		buf += take;
		n -= take;
	}
}

static void
client_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	char buf[4096];
	ssize_t n;

	(void)what;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (cl->rlen < sizeof(cl->resp)) {
				size_t k = sizeof(cl->resp) - cl->rlen;

				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(cl->resp + cl->rlen, buf, k);
				cl->rlen += k;
			}
			count_200(cl, buf, (size_t)n);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* 0, or a reset: the server is done with us. */
		cl->eof = 1;
		event_del(cl->rev);
		return;
	}
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
		break;		/* the server closed: nothing more to say */
	}
	shutdown(fd, SHUT_WR);
	cl->wdone = 1;
	event_del(cl->wev);
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
 * connect(), through the SIGALRM libFuzzer sends each second: an
 * interrupted TCP connect goes on by itself, so wait for it to finish.
 */
static int
connect_retry(int fd)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, (struct sockaddr *)&addr, addrlen) == 0)
		return 0;
	if (errno != EINTR && errno != EINPROGRESS)
		return -1;
	while (poll(&pfd, 1, 1000) == -1)
		if (errno != EINTR)
			return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct client cl;
	const struct http_counters *ct = http_server_counters(srv);
	struct timeval tv = { DEADLINE_S, 0 };
	uint64_t before = ct->requests;
	int fl;

	if (size > 1 << 16)
		return 0;
	memset(&cl, 0, sizeof(cl));
	cl.data = data;
	cl.len = size;
	seen = answered_now = 0;
	if ((cl.fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect_retry(cl.fd) == -1) {
		perror("fuzz_http: connect");
		abort();
	}
	fl = fcntl(cl.fd, F_GETFL);
	fcntl(cl.fd, F_SETFL, fl | O_NONBLOCK);
	cl.rev = event_new(base, cl.fd, EV_READ | EV_PERSIST, client_read, &cl);
	cl.wev = event_new(base, cl.fd, EV_WRITE | EV_PERSIST, client_write,
	    &cl);
	cl.deadline = evtimer_new(base, client_late, &cl);
	if (cl.rev == NULL || cl.wev == NULL || cl.deadline == NULL)
		abort();
	event_add(cl.rev, NULL);
	event_add(cl.wev, NULL);
	evtimer_add(cl.deadline, &tv);

	while (!(cl.eof && cl.wdone && ct->connections == 0 &&
	    npending == 0) && !cl.late)
		event_base_loop(base, EVLOOP_ONCE);

	if (cl.late) {
		fuzz_dump("request", data, size);
		fuzz_fail("http: the connection is still there %d s after the "
		    "client half-closed (client eof %d, written %zu of %zu, "
		    "connections %zu, waiting in the handler %zu)", DEADLINE_S,
		    cl.eof, cl.off, cl.len, ct->connections, npending);
	}
	if (cl.rlen > 0 && (cl.rlen < 9 || memcmp(cl.resp, "HTTP/1.1 ", 9))) {
		fuzz_dump("request", data, size);
		fuzz_dump("answer", cl.resp, cl.rlen);
		fuzz_fail("http: the answer does not start with a status line");
	}
	if (cl.r200 < answered_now || cl.r200 > seen) {
		fuzz_dump("request", data, size);
		fuzz_dump("answer", cl.resp, cl.rlen);
		fuzz_fail("http: %zu answers of 200 read, %zu given at once, "
		    "%zu requests in all", cl.r200, answered_now, seen);
	}
	FUZZ_CHECK(ct->requests - before == seen, "http: the counters say %llu "
	    "requests, the handler saw %zu",
	    (unsigned long long)(ct->requests - before), seen);

	event_free(cl.rev);
	event_free(cl.wev);
	event_free(cl.deadline);
	close(cl.fd);
	return 0;
}
