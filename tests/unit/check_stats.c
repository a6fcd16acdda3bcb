/*
 * Unit tests for stats: the registry of what reports counters for
 * /metrics (registration in order, at most STATS_SOURCES_MAX, each
 * source's struct zeroed and named before it fills it), and what every
 * HTTP server reports alike, read from a real server.
 *
 * The report functions here record every call: which argument they got
 * and what the struct held when they were handed it.
 *
 * The server is http_server_new() on an abstract AF_UNIX socket (no
 * file, no port), its clients plain sockets on the same event loop, as
 * in check_http.c.  Nothing sleeps: the loop runs until the server has
 * counted what the test waits for; the deadline only turns a hang into
 * a failure.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <event2/event.h>

#include "budget.h"
#include "http.h"
#include "stats.h"
#include "check_common.h"

#define DEADLINE_S	5		/* a hang, not a slow machine */

/* --- recording sources ----------------------------------------------- */

#define CALLS_MAX	32

struct source {
	int		 id;		/* reported as connections */
	unsigned	 has;		/* reported */
};

static struct {
	const struct source	*arg[CALLS_MAX];
	struct stats_source	 seen[CALLS_MAX];	/* as handed over */
	size_t			 n;
} calls;

static void
report(const void *arg, struct stats_source *out)
{
	const struct source *src = arg;

	ck_assert_uint_lt(calls.n, CALLS_MAX);
	calls.arg[calls.n] = src;
	memcpy(&calls.seen[calls.n], out, sizeof(*out));
	calls.n++;
	out->has |= src->has;
	out->connections += (uint64_t)src->id;
	out->partial = 1000 + (uint64_t)src->id;
}

/* Another function, to tell which one was called. */
static void
report_kafka(const void *arg, struct stats_source *out)
{
	const struct source *src = arg;

	report(arg, out);
	out->has = STATS_KAFKA_SOURCE;
	out->messages = 2000 + (uint64_t)src->id;
}

/* out as a source is handed over: zeroed, but for its name. */
static int
zeroed_but_name(const struct stats_source *out, const char *name)
{
	struct stats_source z;

	memset(&z, 0, sizeof(z));
	z.name = name;
	return memcmp(&z, out, sizeof(z)) == 0;
}

static void
reset_calls(void)
{
	memset(&calls, 0, sizeof(calls));
}

/*
 * Sources are collected in the order they registered, each once, by
 * its own function with its own argument, into a struct zeroed and
 * carrying the name it registered under (the same pointer: borrowed);
 * what the function filled is what comes back.
 */
START_TEST(collect_in_registration_order)
{
	static const struct source a = { 1, STATS_CONNECTIONS | STATS_TCP },
	    b = { 2, STATS_KAFKA_SOURCE }, c = { 3, STATS_HTTP };
	static const char tcp[] = "tcp", kafka[] = "kafka", http[] = "http";
	struct stats_registry reg;
	struct stats_source out[STATS_SOURCES_MAX];
	size_t i;

	memset(&reg, 0, sizeof(reg));
	reset_calls();
	stats_register(&reg, tcp, report, &a);
	stats_register(&reg, kafka, report_kafka, &b);
	stats_register(&reg, http, report, &c);
	ck_assert_uint_eq(reg.n, 3);
	memset(out, 0xa5, sizeof(out));
	ck_assert_uint_eq(stats_collect(&reg, out, STATS_SOURCES_MAX), 3);

	ck_assert_uint_eq(calls.n, 3);
	ck_assert_ptr_eq(calls.arg[0], &a);
	ck_assert_ptr_eq(calls.arg[1], &b);
	ck_assert_ptr_eq(calls.arg[2], &c);
	ck_assert(zeroed_but_name(&calls.seen[0], tcp));
	ck_assert(zeroed_but_name(&calls.seen[1], kafka));
	ck_assert(zeroed_but_name(&calls.seen[2], http));

	ck_assert_ptr_eq(out[0].name, tcp);
	ck_assert_ptr_eq(out[1].name, kafka);
	ck_assert_ptr_eq(out[2].name, http);
	ck_assert_uint_eq(out[0].has, STATS_CONNECTIONS | STATS_TCP);
	ck_assert_uint_eq(out[0].connections, 1);
	ck_assert_uint_eq(out[0].partial, 1001);
	ck_assert_uint_eq(out[1].has, STATS_KAFKA_SOURCE);
	ck_assert_uint_eq(out[1].messages, 2002);
	ck_assert_uint_eq(out[1].partial, 1002);
	ck_assert_uint_eq(out[2].has, STATS_HTTP);
	ck_assert_uint_eq(out[2].connections, 3);
	ck_assert_uint_eq(out[2].messages, 0);
	ck_assert_uint_eq(out[2].rejected_413, 0);
	ck_assert_uint_eq(out[2].nloops, 0);
	for (i = 0; i < STATS_LOOPS_MAX; i++)
		ck_assert_uint_eq(out[2].loop_connections[i], 0);
	/* Past what was filled, out is left alone. */
	for (i = 0; i < sizeof(out[3]); i++)
		ck_assert_uint_eq(((unsigned char *)&out[3])[i], 0xa5);
}
END_TEST

/*
 * Every collect starts each struct from zero: what a function adds to
 * comes out the same each time, not summed over the collects.
 */
START_TEST(collect_starts_from_zero_each_time)
{
	static const struct source a = { 7, STATS_TCP };
	struct stats_registry reg;
	struct stats_source out[2];
	int round;

	memset(&reg, 0, sizeof(reg));
	reset_calls();
	stats_register(&reg, "tcp", report, &a);
	for (round = 0; round < 3; round++) {
		ck_assert_uint_eq(stats_collect(&reg, out, 2), 1);
		ck_assert_uint_eq(out[0].connections, 7);
		ck_assert_uint_eq(out[0].has, STATS_TCP);
		ck_assert_str_eq(out[0].name, "tcp");
	}
	ck_assert_uint_eq(calls.n, 3);
	ck_assert(zeroed_but_name(&calls.seen[2], "tcp"));
}
END_TEST

/*
 * STATS_SOURCES_MAX are registered and reported; more are not (not
 * kept, their functions never called), and those before are unchanged.
 */
START_TEST(register_up_to_the_max)
{
	static struct source src[STATS_SOURCES_MAX + 2];
	static const char *const names[STATS_SOURCES_MAX + 2] = {
	    "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9" };
	struct stats_registry reg;
	struct stats_source out[STATS_SOURCES_MAX + 2];
	size_t i;

	ck_assert_uint_eq(STATS_SOURCES_MAX, 8);
	memset(&reg, 0, sizeof(reg));
	reset_calls();
	for (i = 0; i < STATS_SOURCES_MAX + 2; i++) {
		src[i].id = (int)i;
		stats_register(&reg, names[i], report, &src[i]);
		ck_assert_uint_eq(reg.n, i < STATS_SOURCES_MAX ? i + 1 :
		    STATS_SOURCES_MAX);
	}
	ck_assert_ptr_eq(reg.r[STATS_SOURCES_MAX - 1].name,
	    names[STATS_SOURCES_MAX - 1]);
	ck_assert_ptr_eq(reg.r[STATS_SOURCES_MAX - 1].arg,
	    &src[STATS_SOURCES_MAX - 1]);

	ck_assert_uint_eq(stats_collect(&reg, out, STATS_SOURCES_MAX + 2),
	    STATS_SOURCES_MAX);
	ck_assert_uint_eq(calls.n, STATS_SOURCES_MAX);
	for (i = 0; i < STATS_SOURCES_MAX; i++) {
		ck_assert_ptr_eq(calls.arg[i], &src[i]);
		ck_assert_str_eq(out[i].name, names[i]);
		ck_assert_uint_eq(out[i].connections, i);
	}
}
END_TEST

/*
 * At most max are filled, the first registered first; max 0 and an
 * empty registry fill nothing and call nobody.
 */
START_TEST(collect_at_most_max)
{
	static struct source src[STATS_SOURCES_MAX];
	struct stats_registry reg;
	struct stats_source out[STATS_SOURCES_MAX];
	size_t i;

	memset(&reg, 0, sizeof(reg));
	reset_calls();
	ck_assert_uint_eq(stats_collect(&reg, out, STATS_SOURCES_MAX), 0);
	ck_assert_uint_eq(calls.n, 0);
	for (i = 0; i < STATS_SOURCES_MAX; i++) {
		src[i].id = (int)i + 10;
		stats_register(&reg, "same", report, &src[i]);
	}
	ck_assert_uint_eq(stats_collect(&reg, out, 0), 0);
	ck_assert_uint_eq(calls.n, 0);

	memset(out, 0xa5, sizeof(out));
	ck_assert_uint_eq(stats_collect(&reg, out, 3), 3);
	ck_assert_uint_eq(calls.n, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_eq(calls.arg[i], &src[i]);
		ck_assert_uint_eq(out[i].connections, i + 10);
		/* One name for several sources: each reported under it. */
		ck_assert_str_eq(out[i].name, "same");
	}
	for (i = 0; i < sizeof(out[3]); i++)
		ck_assert_uint_eq(((unsigned char *)&out[3])[i], 0xa5);
}
END_TEST

/* --- stats_http_server() on a real server ---------------------------- */

struct srv {
	struct event_base	*base;
	struct http_server	*srv;
	const struct http_counters *ct;
	struct sockaddr_un	 un;
	socklen_t		 alen;
	struct event		*deadline;
	int			 late;
};

static void
srv_late(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	s->late = 1;
}

/* No request in these tests is one the server hands on. */
static void
srv_handler(struct http_request *req, void *arg)
{
	(void)req;
	(void)arg;
	ck_abort_msg("a request reached the handler");
}

static void
srv_open(struct srv *s, const struct http_limits *lim)
{
	static unsigned long seq;
	struct timeval tv = { DEADLINE_S, 0 };
	int fd;

	memset(s, 0, sizeof(*s));
	s->un.sun_family = AF_UNIX;
	snprintf(s->un.sun_path + 1, sizeof(s->un.sun_path) - 1,
	    "spillway-check-stats-%ld-%lu", (long)getpid(), seq++);
	s->alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(s->un.sun_path + 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&s->un, s->alen), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_ptr_nonnull(s->base = event_base_new());
	ck_assert_ptr_nonnull(s->srv = http_server_new(s->base, fd, lim,
	    srv_handler, s));
	s->ct = http_server_counters(s->srv);
	ck_assert_ptr_nonnull(s->deadline = evtimer_new(s->base, srv_late,
	    s));
	evtimer_add(s->deadline, &tv);
}

static void
srv_close(struct srv *s)
{
	event_free(s->deadline);
	http_server_free(s->srv);
	event_base_free(s->base);
}

/* Run the loop until *counter is want (the server's counters). */
static void
srv_until(struct srv *s, const void *counter, size_t size, uint64_t want,
    const char *what)
{
	uint64_t v;

	for (;;) {
		v = size == sizeof(uint64_t) ? *(const uint64_t *)counter :
		    *(const size_t *)counter;
		if (v == want || s->late)
			break;
		event_base_loop(s->base, EVLOOP_ONCE);
	}
	ck_assert_msg(!s->late, "%s: %llu within %d s, not %llu", what,
	    (unsigned long long)v, DEADLINE_S, (unsigned long long)want);
}

#define UNTIL(s, field, want)						\
	srv_until((s), &(s)->ct->field, sizeof((s)->ct->field), (want),	\
	    #field)

static int
srv_connect(struct srv *s)
{
	int fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	/* AF_UNIX: done at once, into the backlog. */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&s->un, s->alen), 0);
	return fd;
}

/*
 * One connection that sends text and is refused: the loop runs until
 * the server counted it (*counter reaches want), then the client
 * closes and the server lets the connection go.
 */
static void
srv_refused(struct srv *s, const char *text, const void *counter,
    size_t size, uint64_t want, const char *what)
{
	int fd = srv_connect(s);

	ck_assert_int_eq(write(fd, text, strlen(text)),
	    (ssize_t)strlen(text));
	srv_until(s, counter, size, want, what);
	close(fd);
	UNTIL(s, connections, 0);
}

#define REFUSED(s, text, field, want)					\
	srv_refused((s), (text), &(s)->ct->field, sizeof((s)->ct->field),\
	    (want), #field)

/* What the server's own counters say, as stats_http_server() reports. */
static void
as_counted(const struct srv *s, const struct stats_source *o)
{
	const struct http_counters *ct = s->ct;

	ck_assert_uint_eq(o->has, STATS_REFUSED | STATS_HTTP);
	ck_assert_uint_eq(o->connections, ct->connections);
	ck_assert_uint_eq(o->refused_limit, ct->refused);
	ck_assert_uint_eq(o->refused_descriptors, http_server_shed(s->srv));
	ck_assert_uint_eq(o->rejected_413, ct->too_large);
	ck_assert_uint_eq(o->rejected_400, ct->bad_request);
	ck_assert_uint_eq(o->rejected_408, ct->timeouts);
	ck_assert_uint_eq(o->rejected_429, ct->over_budget);
	ck_assert_uint_eq(o->slow_header, ct->header_timeouts);
	ck_assert_uint_eq(o->slow_body, ct->slow_bodies);
}

/*
 * An HTTP server reports its connections (open now, and closed at once
 * over max_connections) and its requests refused by status, each in its
 * own field: counts told apart by making them differ (4 connections
 * refused, 1 request too large, 2 over the memory budget, 3 that do not
 * parse), and nothing of the families it does not report.
 */
START_TEST(http_server_reports_its_counters)
{
	static const char big[] = "POST /x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 5000\r\n\r\n";
	static const char over[] = "POST /x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 100\r\n\r\n";
	static const char *const bad[] = { "NOT HTTP AT ALL\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n" };
	struct http_limits lim;
	struct stats_registry reg;
	struct stats_source out[1], z;
	struct srv s;
	int keep, i;

	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = 4096;
	lim.max_body_bytes = 1024;
	lim.max_connections = 1;
	lim.budget = 1;
	srv_open(&s, &lim);
	memset(&reg, 0, sizeof(reg));
	stats_register(&reg, "http", stats_http_server, s.srv);

	/* A fresh server: its families, all zero. */
	ck_assert_uint_eq(stats_collect(&reg, out, 1), 1);
	ck_assert_str_eq(out[0].name, "http");
	memset(&z, 0, sizeof(z));
	z.name = "http";
	z.has = STATS_REFUSED | STATS_HTTP;
	ck_assert(memcmp(&z, &out[0], sizeof(z)) == 0);

	/* One connection open; four more refused at once. */
	keep = srv_connect(&s);
	UNTIL(&s, connections, 1);
	for (i = 1; i <= 4; i++) {
		close(srv_connect(&s));
		UNTIL(&s, refused, (uint64_t)i);
	}
	ck_assert_uint_eq(stats_collect(&reg, out, 1), 1);
	as_counted(&s, &out[0]);
	ck_assert_uint_eq(out[0].connections, 1);
	ck_assert_uint_eq(out[0].refused_limit, 4);
	ck_assert_uint_eq(out[0].rejected_400, 0);
	ck_assert_uint_eq(out[0].rejected_413, 0);

	/* The open one sends a body too large: 413. */
	ck_assert_int_eq(write(keep, big, strlen(big)), (ssize_t)strlen(big));
	UNTIL(&s, too_large, 1);
	close(keep);
	UNTIL(&s, connections, 0);

	/* Bodies the memory budget has no room for: 429. */
	budget_set_limit(10);
	REFUSED(&s, over, over_budget, 1);
	REFUSED(&s, over, over_budget, 2);
	budget_set_limit(0);
	for (i = 0; i < 3; i++)
		REFUSED(&s, bad[i], bad_request, (uint64_t)i + 1);

	ck_assert_uint_eq(stats_collect(&reg, out, 1), 1);
	as_counted(&s, &out[0]);
	ck_assert_str_eq(out[0].name, "http");
	ck_assert_uint_eq(out[0].connections, 0);
	ck_assert_uint_eq(out[0].refused_limit, 4);
	ck_assert_uint_eq(out[0].rejected_413, 1);
	ck_assert_uint_eq(out[0].rejected_429, 2);
	ck_assert_uint_eq(out[0].rejected_400, 3);
	ck_assert_uint_eq(out[0].rejected_408, 0);
	ck_assert_uint_eq(out[0].refused_descriptors, 0);
	/* Not its families. */
	ck_assert_uint_eq(out[0].partial, 0);
	ck_assert_uint_eq(out[0].moved, 0);
	ck_assert_uint_eq(out[0].nloops, 0);
	ck_assert_uint_eq(out[0].auth_refused, 0);
	ck_assert_uint_eq(out[0].messages, 0);
	ck_assert_uint_eq(budget_used(), 0);
	srv_close(&s);
}
END_TEST

static Suite *
stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, collect_in_registration_order);
	tcase_add_test(tc, collect_starts_from_zero_each_time);
	tcase_add_test(tc, register_up_to_the_max);
	tcase_add_test(tc, collect_at_most_max);
	tcase_add_test(tc, http_server_reports_its_counters);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* A write to a closed peer fails with EPIPE instead of killing us. */
	signal(SIGPIPE, SIG_IGN);
	return unit_run(stats_suite());
}
