/*
 * check_http: the HTTP/1.1 request parser of src/http.c, driven as the
 * listeners drive it, over a real socket on one event loop.  The corpus
 * is request smuggling (RFC 9112): whatever two parsers could frame two
 * ways is answered 400 (501 for a transfer coding it lacks) and the
 * connection closed, and nothing after the refusal reaches the handler.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include <spillway/clock.h>

#include "http.h"

#define MAXREQ		8
#define DEADLINE_NS	(10ULL * NSEC_PER_SEC)

/* What one connection saw. */
struct result {
	char		 resp[65536];
	size_t		 rlen;
	size_t		 nreq;
	char		 method[MAXREQ][16];
	char		 path[MAXREQ][64];
	char		 body[MAXREQ][64];
	struct http_counters ct;
};

static void
handler(struct http_request *req, void *arg)
{
	struct result *r = arg;

	if (r->nreq < MAXREQ) {
		snprintf(r->method[r->nreq], sizeof(r->method[0]), "%s",
		    req->method);
		snprintf(r->path[r->nreq], sizeof(r->path[0]), "%s",
		    req->path);
		snprintf(r->body[r->nreq], sizeof(r->body[0]), "%.*s",
		    (int)req->body_len, req->body ? req->body : "");
	}
	r->nreq++;
	http_respond(req, 200, "text/plain", "ok", 2, NULL);
}

/*
 * Send input on a fresh connection to a fresh server with limits lim
 * (NULL: small defaults), half-close unless keep_open, and read until the
 * server closes.
 */
static void
exchange_lim(const char *input, size_t len, const struct http_limits *lim,
    int keep_open, struct result *r)
{
	struct http_limits def;
	struct sockaddr_un un;
	struct event_base *base;
	struct http_server *srv;
	socklen_t alen;
	uint64_t until;
	ssize_t n;
	int lfd, cfd;

	memset(r, 0, sizeof(*r));
	if (lim == NULL) {
		memset(&def, 0, sizeof(def));
		def.max_header_bytes = 4096;
		def.max_body_bytes = 1024;
		def.max_connections = 4;
		lim = &def;
	}
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1,
	    "spillway-check-http-%ld", (long)getpid());
	alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(un.sun_path + 1));
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&un, alen), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_ptr_nonnull(base = event_base_new());
	ck_assert_ptr_nonnull(srv = http_server_new(base, lfd, lim, handler,
	    r));
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(cfd, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&un, alen), 0);
	/* The inputs are small: the socket buffer takes them whole. */
	ck_assert_int_eq(write(cfd, input, len), (ssize_t)len);
	if (!keep_open)
		shutdown(cfd, SHUT_WR);
	ck_assert_int_eq(fcntl(cfd, F_SETFL, O_NONBLOCK), 0);
	until = clock_now_ns() + DEADLINE_NS;
	for (;;) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		n = read(cfd, r->resp + r->rlen, sizeof(r->resp) - 1 - r->rlen);
		if (n > 0) {
			r->rlen += (size_t)n;
			continue;
		}
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
			break;
		ck_assert_msg(clock_now_ns() < until, "no close within the "
		    "deadline; read so far: %s", r->resp);
		usleep(1000);
	}
	r->resp[r->rlen] = '\0';
	r->ct = *http_server_counters(srv);
	close(cfd);
	http_server_free(srv);
	event_base_free(base);
}

static void
exchange(const char *input, struct result *r)
{
	exchange_lim(input, strlen(input), NULL, 0, r);
}

/* Refused with status, closed, and nothing handed to the handler. */
static void
refused(const char *input, int status)
{
	struct result r;
	char want[32];

	exchange(input, &r);
	snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
	ck_assert_msg(strncmp(r.resp, want, strlen(want)) == 0,
	    "want %d for:\n%s\ngot:\n%s", status, input, r.resp);
	ck_assert_msg(strstr(r.resp, "Connection: close") != NULL,
	    "not closed after %d: %s", status, r.resp);
	/* One answer only: nothing after the refusal was read. */
	ck_assert_ptr_null(strstr(r.resp + 1, "HTTP/1.1 "));
	ck_assert_msg(r.nreq == 0, "handed to the handler: %s %s",
	    r.method[0], r.path[0]);
	if (status == 413)
		ck_assert_uint_eq(r.ct.too_large, 1);
	else if (status != 408)
		ck_assert_uint_eq(r.ct.bad_request, 1);
}

#define SMUGGLE	"DELETE /victim HTTP/1.1\r\nHost: x\r\n\r\n"

START_TEST(content_length_conflicts)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
	    "Content-Length: 40\r\n\r\nabcd" SMUGGLE, 400);
	/* Even twice the same value (RFC 9112 6.3 lets a server pick). */
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
	    "Content-Length: 4\r\n\r\nabcd" SMUGGLE, 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\n"
	    "abcd" SMUGGLE, 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
	    400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\n"
	    "abcd", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x4\r\n\r\n",
	    400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
	    400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: "
	    "99999999999999999999999\r\n\r\n", 400);
	/* Within the number's range but over max_body_bytes. */
	refused("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n",
	    413);
}
END_TEST

START_TEST(transfer_encoding)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 4\r\n\r\n0\r\n\r\n" SMUGGLE, 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, "
	    "chunked\r\n\r\n0\r\n\r\n", 501);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
	    "gzip\r\n\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked"
	    "\r\n\r\n0\r\n\r\n", 400);
	/* HTTP/1.0 has no transfer codings. */
	refused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", 400);
}
END_TEST

START_TEST(whitespace_before_colon)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked"
	    "\r\n\r\n0\r\n\r\n" SMUGGLE, 400);
	refused("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost\t: x\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\n: x\r\n\r\n", 400);
}
END_TEST

START_TEST(chunk_sizes)
{
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\nzz\r\nab\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n-2\r\nab\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n\r\nab\r\n0\r\n\r\n", 400);
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\nfffffffffffffffffffff\r\nab\r\n0\r\n\r\n", 400);
	/* The data longer than its size said: no CRLF where due. */
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", 400);
	/* A chunk over max_body_bytes. */
	refused("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n401\r\n", 413);
}
END_TEST

START_TEST(obs_fold_bare_lf_controls)
{
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\t2\r\n\r\n", 400);
	refused("GET / HTTP/1.1\nHost: x\n\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400);
	refused("GET / HTTP/1.1\r\nHost: x\r\nX\x7f: 1\r\n\r\n", 400);
	refused("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	refused("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	/* Two Host headers. */
	refused("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
}
END_TEST

START_TEST(nul_in_a_header)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
	struct result r;

	exchange_lim(in, sizeof(in) - 1, NULL, 0, &r);
	ck_assert_msg(strncmp(r.resp, "HTTP/1.1 400 ", 13) == 0, "%s", r.resp);
	ck_assert_uint_eq(r.nreq, 0);
}
END_TEST

START_TEST(request_lines)
{
	refused("GET /\r\nHost: x\r\n\r\n", 400);
	refused("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	refused("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
	refused("GET / HTTP/11\r\nHost: x\r\n\r\n", 400);
	refused(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	refused("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
}
END_TEST

START_TEST(smuggled_request_never_handled)
{
	struct result r;

	/* The classic CL.TE and TE.CL pairs, and CL.CL. */
	exchange("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLE, &r);
	ck_assert_uint_eq(r.nreq, 0);
	ck_assert_ptr_null(strstr(r.resp, "200 OK"));
	exchange("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n2c\r\n" SMUGGLE "\r\n0\r\n\r\n", &r);
	ck_assert_uint_eq(r.nreq, 0);
	exchange("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
	    "Content-Length: 36\r\n\r\n" SMUGGLE, &r);
	ck_assert_uint_eq(r.nreq, 0);
	/* A valid request, then a bad one: only the first is handled. */
	exchange("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
	    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nhi" SMUGGLE, &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.path[0], "/a");
	ck_assert_str_eq(r.body[0], "hi");
	ck_assert_ptr_nonnull(strstr(r.resp, "HTTP/1.1 400 "));
	ck_assert_uint_eq(r.ct.requests, 1);
	ck_assert_uint_eq(r.ct.bad_request, 1);
}
END_TEST

START_TEST(valid_requests)
{
	struct result r;

	exchange("POST /x?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
	    "hello", &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.method[0], "POST");
	ck_assert_str_eq(r.path[0], "/x");
	ck_assert_str_eq(r.body[0], "hello");
	ck_assert_int_eq(strncmp(r.resp, "HTTP/1.1 200 ", 13), 0);
	/* Chunked, two chunks, an extension and trailers. */
	exchange("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n6;name=v\r\nhello \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n",
	    &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_str_eq(r.body[0], "hello world");
	/* Pipelined: answered in order. */
	exchange("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz"
	    "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r);
	ck_assert_uint_eq(r.nreq, 3);
	ck_assert_str_eq(r.path[0], "/1");
	ck_assert_str_eq(r.path[1], "/2");
	ck_assert_str_eq(r.body[1], "z");
	ck_assert_str_eq(r.path[2], "/3");
	ck_assert_ptr_nonnull(strstr(strstr(strstr(r.resp, "200 OK"), "\r\n\r\n"
	    "ok") + 4, "200 OK"));
	/* Expect: 100-continue gets its interim answer first. */
	exchange("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
	    "Content-Length: 2\r\n\r\nok", &r);
	ck_assert_int_eq(strncmp(r.resp, "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 ", 38), 0);
	/* HTTP/1.0: no keep-alive unless asked. */
	exchange("GET /o HTTP/1.0\r\n\r\nGET /p HTTP/1.0\r\n\r\n", &r);
	ck_assert_uint_eq(r.nreq, 1);
	ck_assert_ptr_nonnull(strstr(r.resp, "Connection: close"));
	/* Percent-decoded path. */
	exchange("GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	ck_assert_str_eq(r.path[0], "/a/b");
}
END_TEST

START_TEST(header_block_too_large)
{
	char in[8192];
	size_t n;

	n = (size_t)snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: x\r\n"
	    "X-Big: ");
	memset(in + n, 'a', 5000);
	memcpy(in + n + 5000, "\r\n\r\n", 5);
	refused(in, 431);
}
END_TEST

START_TEST(slow_header_block)
{
	struct http_limits lim;
	struct result r;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = 4096;
	lim.max_body_bytes = 1024;
	lim.max_connections = 4;
	lim.header_timeout_ms = 50;
	/* The header block never ends: answered 408 when its time is up. */
	exchange_lim("GET / HTTP/1.1\r\nHost: x\r\n", 26, &lim, 1, &r);
	ck_assert_msg(strncmp(r.resp, "HTTP/1.1 408 ", 13) == 0, "%s", r.resp);
	ck_assert_uint_eq(r.nreq, 0);
	ck_assert_uint_eq(r.ct.header_timeouts, 1);
	ck_assert_uint_eq(r.ct.timeouts, 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("parser");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, content_length_conflicts);
	tcase_add_test(tc, transfer_encoding);
	tcase_add_test(tc, whitespace_before_colon);
	tcase_add_test(tc, chunk_sizes);
	tcase_add_test(tc, obs_fold_bare_lf_controls);
	tcase_add_test(tc, nul_in_a_header);
	tcase_add_test(tc, request_lines);
	tcase_add_test(tc, smuggled_request_never_handled);
	tcase_add_test(tc, valid_requests);
	tcase_add_test(tc, header_block_too_large);
	tcase_add_test(tc, slow_header_block);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
