/*
 * sink_es: Elasticsearch _bulk over HTTP(S), on libevent's evhttp.
 *
 * Submitted records gather in one forming batch, sent when it reaches
 * batch_events or batch_bytes, or flush_ms after the oldest of its records arrived.  A
 * request occupies one of `concurrency` slots, each with its own
 * keep-alive connection, from the moment it is sent until every one of
 * its records has an outcome: a slot whose request failed keeps the
 * records to retry and waits out a backoff, so retries never take more
 * than the slots and memory stays bounded by concurrency requests plus
 * the forming batch.  When the batch is full and no slot is idle,
 * submit answers BUSY and sink_ready() follows once a slot frees.
 *
 * Every record comes back exactly once: 2xx and 409 items as forwarded,
 * other 4xx items as rejected, 5xx items (and whole requests that
 * failed with 5xx, a timeout or a broken connection) retried with
 * exponential backoff up to max_retries, then as errors.  A 429, item
 * or whole request, is Elasticsearch asking to slow down, not a
 * failure: it is retried after a short backoff without using up
 * max_retries, and the controller, told of the 429, sheds by priority
 * in front of the sink instead of the sink dropping whatever it held.
 *
 * evhttp may call a request's callback from inside evhttp_make_request()
 * (a refused connect), and a connection must not be freed from its own
 * callbacks: callbacks only record outcomes and mark connections dead;
 * sending, and replacing dead connections, happen from es_run().
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <spillway/clock.h>

#include "batch.h"
#include "budget.h"
#include "config.h"
#include "gzip.h"
#include "log.h"
#include "net.h"
#include "sink.h"
#include "sink_es.h"
#include "sink_es_bulk.h"
#include "tls.h"
#include "url.h"

#define ES_P0_PAUSE	(10 * NSEC_PER_MSEC)	/* priority 0 after its 429 */
/* ------------------------------------------------------------------ sink */

enum es_slot_state {
	SLOT_IDLE,
	SLOT_INFLIGHT,
	SLOT_BACKOFF		/* holding records to retry at not_before */
};

struct sink_es;

/* One request's worth of records and the connection it goes out on. */
struct es_slot {
	struct sink_es		*es;
	enum es_slot_state	 state;
	struct evhttp_connection *conn;
	int			 conn_dead;	/* replace before next use */
	int			 nodelay_fd;	/* fd TCP_NODELAY was set on */
	int			 err;		/* evhttp error, or -1 */
	struct record		**recs;
	uint16_t		*tries;		/* retries so far, per record */
	size_t			 n, cap;
	size_t			 bytes;		/* sum of record lengths */
	size_t			 budgeted;	/* its request body, counted
						   in the memory budget */
	int			 answers;	/* a sender waits for answers */
	uint64_t		 sent_at;
	uint64_t		 not_before;
};

struct sink_es {
	struct sink		*sink;
	char			*host;
	int			 port;
	int			 https;
	int			 host_is_ip;
	char			*hostport;	/* Host header */
	char			*prefix;	/* the URL's path, before /_bulk */
	char			*auth;		/* Authorization value or NULL */
	int			 gzip;
	SSL_CTX			*ssl_ctx;
	int			 tls_verify;
	struct evdns_base	*dns;		/* NULL for an IP literal */
	struct sink_es_bulk_index	*ix;

	struct batch_limits	 lim;		/* of the forming batch and
						   of each request */
	uint64_t		 interval_ns;	/* pressure stays this long */
	uint64_t		 target_ns;
	struct timeval		 timeout;
	unsigned		 max_retries;

	struct es_slot		*slots;
	size_t			 nslots;
	struct record_list	 forming;
	size_t			 fn;
	size_t			 fbytes;	/* estimated request bytes */
	size_t			 fsrc;		/* sum of record lengths */
	uint64_t		 first_at;

	struct event		*kick_ev;	/* deferred es_run() */
	struct event		*timer_ev;
	struct evbuffer		*scratch;
	enum sink_es_bulk_item	*items;
	struct sink_es_bulk_answer	*answers;
	size_t			 items_cap;
	int			 want_ready;	/* said BUSY; owe a ready() */
	uint64_t		 hold_until;	/* after a 429: send nothing new
						   but priority 0 */
	uint64_t		 hold_p0_until;	/* after a 429 of priority 0 */
	size_t			 forming_p0;	/* priority 0 leads the batch: */
	struct record		*forming_p0_last;	/* its last one */
	unsigned		 waits;		/* 429 answers in a row */
	uint64_t		 down_since;
	uint64_t		 pressure_at;
	struct sink_es_signals	 sig;
	uint64_t		 rng;
};

static void	es_run(struct sink_es *, uint64_t);

static int
es_forming_full(const struct sink_es *es)
{
	return batch_full(&es->lim, es->fn, es->fbytes);
}

static void
es_pressure(struct sink_es *es, uint64_t now, uint64_t *counter,
    uint64_t n)
{
	*counter += n;
	es->pressure_at = now ? now : 1;
}

static void
es_down(struct sink_es *es, uint64_t now)
{
	if (es->down_since == 0) {
		es->down_since = now ? now : 1;
		log_warn("sink %s: %s unreachable, retrying", es->sink->label,
		    es->hostport);
	}
}

static void
es_up(struct sink_es *es)
{
	if (es->down_since != 0) {
		es->down_since = 0;
		log_info("sink %s: %s answering again", es->sink->label,
		    es->hostport);
	}
}

static double
es_rand(struct sink_es *es)
{
	/* xorshift64*: jitter needs no more. */
	es->rng ^= es->rng >> 12;
	es->rng ^= es->rng << 25;
	es->rng ^= es->rng >> 27;
	return (double)((es->rng * 2685821657736338717ULL) >> 11) /
	    (double)(1ULL << 53);
}

static void
es_kick(struct sink_es *es)
{
	event_active(es->kick_ev, EV_WRITE, 0);
}

/* -- connections */

static void
es_closecb(struct evhttp_connection *conn, void *arg)
{
	struct es_slot *sl = arg;

	if (sl->conn == conn)
		sl->conn_dead = 1;
}

static void
es_conn_free(struct es_slot *sl)
{
	if (sl->conn == NULL)
		return;
	evhttp_connection_set_closecb(sl->conn, NULL, NULL);
	evhttp_connection_free(sl->conn);
	sl->conn = NULL;
	sl->conn_dead = 0;
	sl->nodelay_fd = -1;
}

/* The slot's connection, made anew when it is missing or dead. */
static struct evhttp_connection *
es_conn(struct es_slot *sl)
{
	struct sink_es *es = sl->es;
	struct bufferevent *bev = NULL;
	SSL *ssl;

	if (sl->conn != NULL && !sl->conn_dead)
		return sl->conn;
	es_conn_free(sl);
	if (es->https) {
		if ((ssl = SSL_new(es->ssl_ctx)) == NULL)
			return NULL;
		if (!es->host_is_ip)
			SSL_set_tlsext_host_name(ssl, es->host);
		if (es->tls_verify) {
			if (es->host_is_ip)
				X509_VERIFY_PARAM_set1_ip_asc(
				    SSL_get0_param(ssl), es->host);
			else
				SSL_set1_host(ssl, es->host);
		}
		if ((bev = bufferevent_openssl_socket_new(es->sink->base, -1,
		    ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
			SSL_free(ssl);
			return NULL;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	sl->conn = evhttp_connection_base_bufferevent_new(es->sink->base,
	    es->dns, bev, es->host, (unsigned short)es->port);
	if (sl->conn == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		return NULL;
	}
	evhttp_connection_set_timeout_tv(sl->conn, &es->timeout);
	evhttp_connection_set_closecb(sl->conn, es_closecb, sl);
	bufferevent_priority_set(evhttp_connection_get_bufferevent(sl->conn),
	    SPILLWAY_PRIO_SINK);
	sl->nodelay_fd = -1;
	return sl->conn;
}

/* Without TCP_NODELAY, evhttp waits on delayed ACKs (~40 ms a request). */
static void
es_nodelay(struct es_slot *sl)
{
	struct bufferevent *bev;
	int fd, one = 1;

	if (sl->conn == NULL ||
	    (bev = evhttp_connection_get_bufferevent(sl->conn)) == NULL ||
	    (fd = (int)bufferevent_getfd(bev)) < 0 || fd == sl->nodelay_fd)
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
		sl->nodelay_fd = fd;
}

/* -- outcomes */

/*
 * Elasticsearch answered 429: send nothing new for a short pause (or
 * Retry-After).  It stays short: the controller, told of the 429, lowers
 * what is admitted; a long pause would only starve the sink and read as a
 * collapse of what it can take.  Priority 0 is not held by it: the
 * controller makes room for priority 0 by shedding the rest, and the
 * storm must not make it late.  Only when priority 0 itself was answered
 * 429 (prio 0) does it wait, a tenth as long (or Retry-After), so that a
 * cluster that cannot take even that is not asked again at once.
 */
static void
es_hold(struct sink_es *es, long retry_after, int prio, uint64_t now)
{
	double u = es_rand(es);
	uint64_t delay = sink_es_bulk_backoff(1, u, retry_after);
	uint64_t p0 = sink_es_bulk_jitter(ES_P0_PAUSE, u);

	es->waits++;
	/* Retry-After, when it says longer, holds priority 0 too. */
	if (delay > sink_es_bulk_backoff(1, u, 0))
		p0 = delay;
	if (now + delay > es->hold_until)
		es->hold_until = now + delay;
	if (prio == 0 && now + p0 > es->hold_p0_until)
		es->hold_p0_until = now + p0;
}

/* Hand the batch being formed back to the owner, last first. */
static void
es_forming_defer(struct sink_es *es)
{
	struct record *rec;

	while ((rec = TAILQ_LAST(&es->forming, record_list)) != NULL) {
		TAILQ_REMOVE(&es->forming, rec, link);
		sink_done(es->sink, rec, SINK_DEFERRED);
	}
	es->fn = 0;
	es->fbytes = 0;
	es->fsrc = 0;
	es->forming_p0 = 0;
	es->forming_p0_last = NULL;
}

/*
 * Give each record of the slot its outcome (items[i], or `whole` for all
 * when items is NULL), with the cluster's answer for it when there is
 * one (ans[i] in body, or the status of a whole request refused for
 * good): forwarded and rejected ones go back to the owner,
 * ones to retry stay, unless they have used up their retries.  A 429 uses
 * none: the record goes back to the owner as deferred, to wait in the
 * priority queue and be admitted again, and the whole sink holds off for
 * a backoff.  The slot then waits out its own backoff (at least
 * retry_after seconds) or is idle.
 */
static void
es_slot_settle(struct sink_es *es, struct es_slot *sl,
    const enum sink_es_bulk_item *items, enum sink_es_bulk_item whole,
    const char *body, const struct sink_es_bulk_answer *ans, int status,
    long retry_after, uint64_t now)
{
	struct record_answer a = { NULL, 0, status };
	struct record *rec;
	uint64_t delay;
	unsigned maxtries = 0;
	size_t i, kept = 0, bytes = 0, waited = 0, ok = 0;
	int wait_prio = INT_MAX;

	budget_give(BUDGET_BATCHES, sl->budgeted);
	sl->budgeted = 0;

	/*
	 * Deferred ones first, last first (sink.h).  After a 429 the batch
	 * being formed goes back too, so that the next one is formed anew
	 * from the queue, in its order.
	 */
	for (i = 0; i < sl->n && (items ? items[i] : whole) !=
	    SINK_ES_BULK_WAIT; i++)
		;
	if (i < sl->n)
		es_forming_defer(es);
	for (i = sl->n; i-- > 0; )
		if ((items ? items[i] : whole) == SINK_ES_BULK_WAIT) {
			waited++;
			if (sl->recs[i]->priority < wait_prio)
				wait_prio = sl->recs[i]->priority;
			sink_done(es->sink, sl->recs[i], SINK_DEFERRED);
			sl->recs[i] = NULL;
		}
	for (i = 0; i < sl->n; i++) {
		enum sink_es_bulk_item it = items ? items[i] : whole;

		if ((rec = sl->recs[i]) == NULL)
			continue;
		if (ans != NULL) {
			a.text = ans[i].len > 0 ? body + ans[i].off : NULL;
			a.len = ans[i].len;
			a.status = ans[i].status;
		}
		if (it == SINK_ES_BULK_OK) {
			ok++;
			sink_done_answer(es->sink, rec, SINK_FORWARDED,
			    a.status > 0 ? &a : NULL);
		} else if (it == SINK_ES_BULK_REJECT)
			sink_done_answer(es->sink, rec, SINK_REJECTED,
			    a.status > 0 ? &a : NULL);
		else if (sl->tries[i] >= es->max_retries)
			sink_done(es->sink, rec, SINK_ERROR);
		else {
			sl->recs[kept] = rec;
			sl->tries[kept] = (uint16_t)(sl->tries[i] + 1);
			if (sl->tries[kept] > maxtries)
				maxtries = sl->tries[kept];
			bytes += rec->len;
			kept++;
		}
	}
	sl->n = kept;
	sl->bytes = bytes;
	if (waited > 0)
		es_hold(es, retry_after, wait_prio, now);
	else if (ok > 0)
		es->waits = 0;
	if (kept == 0) {
		sl->state = SLOT_IDLE;
		return;
	}
	es->sig.retried += kept;
	delay = sink_es_bulk_backoff(maxtries, es_rand(es), retry_after);
	sl->state = SLOT_BACKOFF;
	sl->not_before = now + delay;
}

static long
es_retry_after(struct evhttp_request *req)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(
	    req), "Retry-After");
	char *end;
	long n;

	if (v == NULL)
		return 0;
	n = strtol(v, &end, 10);
	if (end == v || n < 0)
		return 0;
	return n;
}

static void
es_errcb(enum evhttp_request_error err, void *arg)
{
	struct es_slot *sl = arg;

	sl->err = (int)err;
}

/* Room for the outcomes (and answers) of n items.  0 or -1. */
static int
es_items_reserve(struct sink_es *es, size_t n)
{
	enum sink_es_bulk_item *it;
	struct sink_es_bulk_answer *a;

	if (es->items_cap >= n)
		return 0;
	if ((it = realloc(es->items, n * sizeof(*it))) == NULL)
		return -1;
	es->items = it;
	if ((a = realloc(es->answers, n * sizeof(*a))) == NULL)
		return -1;
	es->answers = a;
	es->items_cap = n;
	return 0;
}

/* A 2xx answer: outcomes item by item. */
static void
es_slot_items(struct sink_es *es, struct es_slot *sl,
    struct evhttp_request *req, uint64_t now)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in), n429 = 0;
	const char *body;
	int rc;

	if (es_items_reserve(es, sl->n) == -1) {
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL, 0,
		    0, now);
		return;
	}
	body = (const char *)evbuffer_pullup(in, -1);
	if (body == NULL)
		rc = -1;
	else if (sl->answers)
		rc = sink_es_bulk_answers(body, len, sl->n, es->items, &n429,
		    es->answers);
	else
		rc = sink_es_bulk_response(body, len, sl->n, es->items, &n429);
	if (rc == -1) {
		log_warn("sink %s: unreadable bulk response, retrying",
		    es->sink->label);
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL, 0,
		    0, now);
		return;
	}
	if (n429 > 0)
		es_pressure(es, now, &es->sig.item_429, n429);
	es_slot_settle(es, sl, es->items, SINK_ES_BULK_RETRY, body,
	    sl->answers ? es->answers : NULL, 0, 0, now);
}

static void
es_reqcb(struct evhttp_request *req, void *arg)
{
	struct es_slot *sl = arg;
	struct sink_es *es = sl->es;
	uint64_t now = clock_now_ns();
	double secs = (double)(now - sl->sent_at) / 1e9;
	char code[16];
	int status;

	status = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (status <= 0) {
		sink_count_request(es->sink, sl->err == EVREQ_HTTP_TIMEOUT ?
		    "timeout" : "connect_error", secs);
		sl->conn_dead = 1;
		es_down(es, now);
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL,
		    0, 0, now);
		es_kick(es);
		return;
	}
	es_nodelay(sl);
	snprintf(code, sizeof(code), "%d", status);
	sink_count_request(es->sink, code, secs);
	if (now - sl->sent_at > es->target_ns)
		es_pressure(es, now, &es->sig.slow, 1);
	if (status >= 200 && status < 300) {
		es_up(es);
		es_slot_items(es, sl, req, now);
	} else if (status == 429 || status >= 500) {
		if (status == 429 || status == 503)
			es_pressure(es, now, &es->sig.whole_rejected, 1);
		if (status >= 500)
			es_down(es, now);
		es_slot_settle(es, sl, NULL, status == 429 ?
		    SINK_ES_BULK_WAIT : SINK_ES_BULK_RETRY, NULL, NULL, 0,
		    es_retry_after(req), now);
	} else {
		/* 400, 401, 403, 413, ...: this request will never pass. */
		log_warn("sink %s: bulk request answered %d, %zu events "
		    "rejected", es->sink->label, status, sl->n);
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_REJECT, NULL, NULL,
		    status, 0, now);
	}
	es_kick(es);
}

/* -- sending */

static int
es_slot_reserve(struct es_slot *sl, size_t n)
{
	struct record **r;
	uint16_t *t;
	size_t cap;

	if (n <= sl->cap)
		return 0;
	cap = sl->cap ? sl->cap : 64;
	while (cap < n)
		cap *= 2;
	if ((r = realloc(sl->recs, cap * sizeof(*r))) == NULL)
		return -1;
	sl->recs = r;
	if ((t = realloc(sl->tries, cap * sizeof(*t))) == NULL)
		return -1;
	sl->tries = t;
	sl->cap = cap;
	return 0;
}

/*
 * Move one request's worth of the forming batch into an idle slot: only
 * its priority-0 head when p0_only.
 */
static int
es_slot_fill(struct sink_es *es, struct es_slot *sl, int p0_only)
{
	struct record *rec;
	size_t by = 0, have = p0_only ? es->forming_p0 : es->fn;
	size_t want = have < es->lim.events ? have : es->lim.events;

	if (es_slot_reserve(sl, want) == -1)
		return -1;
	sl->n = 0;
	sl->bytes = 0;
	/* One request carries one set of parameters: the first record's. */
	while ((rec = TAILQ_FIRST(&es->forming)) != NULL && sl->n < want &&
	    batch_room(&es->lim, sl->n, by, sink_es_bulk_size(rec)) &&
	    (sl->n == 0 || sink_es_bulk_same_params(rec, sl->recs[0]))) {
		TAILQ_REMOVE(&es->forming, rec, link);
		if (rec->priority == 0 && --es->forming_p0 == 0)
			es->forming_p0_last = NULL;
		by += sink_es_bulk_size(rec);
		es->fn--;
		es->fbytes -= sink_es_bulk_size(rec);
		es->fsrc -= rec->len;
		sl->recs[sl->n] = rec;
		sl->tries[sl->n] = 0;
		sl->bytes += rec->len;
		sl->n++;
	}
	return 0;
}

/* Send the slot's records as one bulk request. */
static void
es_slot_send(struct sink_es *es, struct es_slot *sl, uint64_t now)
{
	struct evhttp_request *req;
	struct evkeyvalq *h;
	struct evbuffer *body;
	struct evhttp_connection *conn;
	char *target;
	int rc;

	sl->answers = sink_es_bulk_answers_wanted(sl->recs, sl->n);
	if ((conn = es_conn(sl)) == NULL ||
	    (req = evhttp_request_new(es_reqcb, sl)) == NULL) {
		log_err("sink %s: cannot make a request: out of memory",
		    es->sink->label);
		sl->sent_at = now;
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL, 0,
		    0, now);
		return;
	}
	evhttp_request_set_error_cb(req, es_errcb);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", es->hostport);
	evhttp_add_header(h, "Content-Type", "application/x-ndjson");
	evhttp_add_header(h, "Accept", "application/json");
	if (es->auth != NULL)
		evhttp_add_header(h, "Authorization", es->auth);
	body = es->gzip ? es->scratch : evhttp_request_get_output_buffer(req);
	if (sink_es_bulk_body(body, es->ix, sl->recs, sl->n, time(NULL)) == -1)
		goto nomem;
	if (es->gzip) {
		size_t len = evbuffer_get_length(body), zlen;
		unsigned char *raw = evbuffer_pullup(body, -1);
		char *z;

		if (raw == NULL || gzip_compress((const char *)raw, len, 1, &z,
		    &zlen) == -1)
			goto nomem;
		evbuffer_drain(body, len);
		evbuffer_add(evhttp_request_get_output_buffer(req), z, zlen);
		free(z);
		evhttp_add_header(h, "Content-Encoding", "gzip");
	}
	sl->budgeted = evbuffer_get_length(
	    evhttp_request_get_output_buffer(req));
	budget_take(BUDGET_BATCHES, sl->budgeted);
	if ((target = sink_es_bulk_target(es->prefix, sl->answers,
	    sl->recs[0]->params)) == NULL)
		goto nomem;
	sl->state = SLOT_INFLIGHT;
	sl->err = -1;
	sl->sent_at = now;
	/* May call es_reqcb() before it returns (a refused connect). */
	rc = evhttp_make_request(conn, req, EVHTTP_REQ_POST, target);
	free(target);
	if (rc == -1) {
		evhttp_request_free(req);
		sink_count_request(es->sink, "connect_error", 0);
		sl->conn_dead = 1;
		es_down(es, now);
		es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL, 0,
		    0, now);
		return;
	}
	es_nodelay(sl);
	return;
nomem:
	evbuffer_drain(es->scratch, evbuffer_get_length(es->scratch));
	evhttp_request_free(req);
	log_err("sink %s: cannot build a request: out of memory",
	    es->sink->label);
	sl->sent_at = now;
	es_slot_settle(es, sl, NULL, SINK_ES_BULK_RETRY, NULL, NULL, 0, 0,
	    now);
}

static struct es_slot *
es_idle_slot(struct sink_es *es)
{
	size_t i;

	for (i = 0; i < es->nslots; i++)
		if (es->slots[i].state == SLOT_IDLE)
			return &es->slots[i];
	return NULL;
}

/* When the batch being formed may go, as far as 429 pauses go. */
static uint64_t
es_hold_end(const struct sink_es *es)
{
	return es->forming_p0 > 0 ? es->hold_p0_until : es->hold_until;
}

/* Arm the timer for the next backoff or flush deadline. */
static void
es_arm(struct sink_es *es, uint64_t now)
{
	uint64_t next = UINT64_MAX, d;
	struct timeval tv;
	size_t i;

	for (i = 0; i < es->nslots; i++)
		if (es->slots[i].state == SLOT_BACKOFF &&
		    es->slots[i].not_before < next)
			next = es->slots[i].not_before;
	if (es->fn > 0 && es_idle_slot(es) != NULL) {
		d = batch_deadline(&es->lim, es->first_at);
		if (d < es_hold_end(es))
			d = es_hold_end(es);
		if (d < next)
			next = d;
	}
	if (next == UINT64_MAX) {
		evtimer_del(es->timer_ev);
		return;
	}
	d = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(d / NSEC_PER_SEC);
	tv.tv_usec = (suseconds_t)((d % NSEC_PER_SEC) / 1000) + 1;
	evtimer_add(es->timer_ev, &tv);
}

/*
 * Priority 0 waits and every slot is taken: a slot waiting out a retry
 * backoff with none of priority 0 gives its events back to the queue
 * (deferred, as after a 429), so that priority 0 is not held back by a
 * backoff meant for less important events.
 */
static void
es_slot_yield(struct sink_es *es)
{
	struct es_slot *sl;
	size_t i, j;

	for (i = 0; i < es->nslots; i++) {
		sl = &es->slots[i];
		if (sl->state != SLOT_BACKOFF)
			continue;
		for (j = 0; j < sl->n && sl->recs[j]->priority != 0; j++)
			;
		if (j < sl->n)
			continue;
		es->sig.yielded += sl->n;
		for (j = sl->n; j-- > 0; )
			sink_done(es->sink, sl->recs[j], SINK_DEFERRED);
		sl->n = 0;
		sl->bytes = 0;
		sl->state = SLOT_IDLE;
		return;
	}
}

/*
 * Everything that is due: retries whose backoff is over, the forming
 * batch when full or old enough (priority 0 not held by a 429's pause),
 * and the ready() owed after a BUSY.
 */
static void
es_run(struct sink_es *es, uint64_t now)
{
	struct es_slot *sl;
	size_t i;

	for (i = 0; i < es->nslots; i++) {
		sl = &es->slots[i];
		if (sl->state == SLOT_IDLE && sl->conn_dead)
			es_conn_free(sl);
		if (sl->state == SLOT_BACKOFF && sl->not_before <= now)
			es_slot_send(es, sl, now);
	}
	if (es->forming_p0 > 0 && now >= es_hold_end(es) &&
	    es_idle_slot(es) == NULL)
		es_slot_yield(es);
	/*
	 * While a 429 pause holds the rest, priority 0 goes alone: what the
	 * cluster can take then is its.
	 */
	while (es->fn > 0 && now >= es_hold_end(es) &&
	    batch_due(&es->lim, es->fn, es->fbytes, es->first_at, now) &&
	    (sl = es_idle_slot(es)) != NULL) {
		if (es_slot_fill(es, sl, now < es->hold_until) == -1)
			break;
		es_slot_send(es, sl, now);
		if (es->fn > 0)
			es->first_at = now;
	}
	if (es->fn > 0 && es_idle_slot(es) == NULL)
		es_pressure(es, now, &es->sig.saturated, 0);
	if (es->want_ready && !es_forming_full(es)) {
		es->want_ready = 0;
		sink_ready(es->sink);
	}
	es_arm(es, now);
}

static void
es_kickcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	es_run(arg, clock_now_ns());
}

/* -- setup */

static int
es_is_ip(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
}

static int
es_tls_init(struct sink_es *es, const struct config *cf, char *err,
    size_t errlen)
{
	if ((es->ssl_ctx = tls_client(cf, err, errlen)) == NULL)
		return -1;
	es->tls_verify = cf->sink_tls_verify;
	return 0;
}

static void	sink_es_free(struct sink *);

static int
sink_es_init(struct sink *s, const char *url, const struct config *cf,
    char *err, size_t errlen)
{
	struct sink_es *es;
	struct url u;
	int none;
	size_t i;

	if ((es = calloc(1, sizeof(*es))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	es->sink = s;
	s->priv = es;
	TAILQ_INIT(&es->forming);
	if (url_parse(url, &u, err, errlen) == -1)
		goto fail;
	es->https = u.tls;
	es->port = u.port;
	es->host = strdup(u.host);
	es->host_is_ip = es_is_ip(u.host);
	if (es->host == NULL ||
	    asprintf(&es->hostport, strchr(u.host, ':') ? "[%s]:%d" : "%s:%d",
	    u.host, es->port) == -1 ||
	    (es->prefix = strdup(u.prefix)) == NULL) {
		es->hostport = NULL;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	es->auth = url_authorization(cf->sink_api_key, u.userinfo, &none);
	OPENSSL_cleanse(u.userinfo, sizeof(u.userinfo));
	if (es->auth == NULL && !none) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Resolve names without blocking the loop. */
	if (!es->host_is_ip && (es->dns = evdns_base_new(s->base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL)
		log_warn("sink %s: no resolver configured; looking %s up "
		    "synchronously", s->label, es->host);
	es->gzip = cf->sink_compression != NULL &&
	    strcmp(cf->sink_compression, "gzip") == 0;
	if (es->https && es_tls_init(es, cf, err, errlen) == -1)
		goto fail;

	batch_limits(&es->lim, cf);
	es->interval_ns = (uint64_t)cf->control_interval_ms * NSEC_PER_MSEC;
	es->target_ns = (uint64_t)cf->target_latency_ms * NSEC_PER_MSEC;
	es->timeout.tv_sec = cf->timeout_ms / 1000;
	es->timeout.tv_usec = (cf->timeout_ms % 1000) * 1000;
	es->max_retries = cf->max_retries > 0xfffe ? 0xfffe :
	    (unsigned)cf->max_retries;
	es->rng = (clock_now_ns() ^ ((uint64_t)getpid() << 32)) | 1;
	es->nslots = (size_t)(cf->concurrency > 0 ? cf->concurrency : 1);
	if ((es->ix = sink_es_bulk_index_new(cf->sink_index != NULL ?
	    cf->sink_index : "logs-%Y.%m.%d", cf->sink_action != NULL &&
	    strcmp(cf->sink_action, "create") == 0)) == NULL ||
	    (es->slots = calloc(es->nslots, sizeof(*es->slots))) == NULL ||
	    (es->scratch = evbuffer_new()) == NULL ||
	    (es->kick_ev = event_new(s->base, -1, 0, es_kickcb, es)) ==
	    NULL ||
	    (es->timer_ev = evtimer_new(s->base, es_kickcb, es)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < es->nslots; i++) {
		es->slots[i].es = es;
		es->slots[i].nodelay_fd = -1;
	}
	return 0;
fail:
	OPENSSL_cleanse(u.userinfo, sizeof(u.userinfo));
	sink_es_free(s);
	return -1;
}

static enum sink_status
sink_es_submit(struct sink *s, struct batch *b, uint64_t now)
{
	struct sink_es *es = s->priv;
	struct record *rec;

	if (es_forming_full(es)) {
		es_run(es, now);
		/* Priority 0 alone may join a full batch, a batch's worth. */
		if (es_forming_full(es) && (TAILQ_LAST(&b->recs,
		    record_list)->priority != 0 ||
		    es->forming_p0 + b->n > es->lim.events)) {
			es->want_ready = 1;
			es_pressure(es, now, &es->sig.saturated, 1);
			return SINK_BUSY;
		}
	}
	if (es->fn == 0)
		es->first_at = now;
	while ((rec = TAILQ_FIRST(&b->recs)) != NULL) {
		TAILQ_REMOVE(&b->recs, rec, link);
		/* Priority 0 goes out first, in its order. */
		if (rec->priority != 0)
			TAILQ_INSERT_TAIL(&es->forming, rec, link);
		else {
			if (es->forming_p0_last == NULL)
				TAILQ_INSERT_HEAD(&es->forming, rec, link);
			else
				TAILQ_INSERT_AFTER(&es->forming,
				    es->forming_p0_last, rec, link);
			es->forming_p0_last = rec;
			es->forming_p0++;
		}
		/* flush_ms counts from the arrival of the oldest. */
		if (rec->t_in < es->first_at)
			es->first_at = rec->t_in;
		es->fn++;
		es->fbytes += sink_es_bulk_size(rec);
		es->fsrc += rec->len;
	}
	b->n = 0;
	b->bytes = 0;
	if (batch_due(&es->lim, es->fn, es->fbytes, es->first_at, now))
		es_run(es, now);
	else
		es_arm(es, now);
	return SINK_OK;
}

static void
sink_es_poll(struct sink *s, uint64_t now)
{
	es_run(s->priv, now);
}

static void
sink_es_stats(struct sink *s, struct sink_stats *st, uint64_t now)
{
	struct sink_es *es = s->priv;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->up = es->down_since == 0;
	st->down_since = es->down_since;
	/* All slots busy is load, not push-back: the queue's age tells. */
	st->pressure = es->pressure_at != 0 &&
	    now - es->pressure_at < es->interval_ns;
	st->pushback = es->sig.whole_rejected + es->sig.item_429 +
	    es->sig.slow;
	st->pending = es->fn;
	st->pending_bytes = es->fsrc;
	for (i = 0; i < es->nslots; i++) {
		st->pending += es->slots[i].n;
		st->pending_bytes += es->slots[i].bytes;
	}
}

static void
sink_es_free(struct sink *s)
{
	struct sink_es *es = s->priv;
	struct record *rec;
	size_t i, j;

	if (es == NULL)
		return;
	/* Freeing a connection drops its request without a callback. */
	for (i = 0; es->slots != NULL && i < es->nslots; i++) {
		struct es_slot *sl = &es->slots[i];

		es_conn_free(sl);
		for (j = 0; j < sl->n; j++)
			sink_done(s, sl->recs[j], SINK_ABORTED);
		free(sl->recs);
		free(sl->tries);
	}
	while ((rec = TAILQ_FIRST(&es->forming)) != NULL) {
		TAILQ_REMOVE(&es->forming, rec, link);
		sink_done(s, rec, SINK_ABORTED);
	}
	if (es->kick_ev != NULL)
		event_free(es->kick_ev);
	if (es->timer_ev != NULL)
		event_free(es->timer_ev);
	if (es->scratch != NULL)
		evbuffer_free(es->scratch);
	if (es->ssl_ctx != NULL)
		SSL_CTX_free(es->ssl_ctx);
	if (es->dns != NULL)
		evdns_base_free(es->dns, 0);
	sink_es_bulk_index_free(es->ix);
	free(es->slots);
	free(es->items);
	free(es->answers);
	free(es->host);
	free(es->hostport);
	free(es->prefix);
	if (es->auth != NULL)
		OPENSSL_cleanse(es->auth, strlen(es->auth));
	free(es->auth);
	free(es);
	s->priv = NULL;
}

/* The signals behind the push-back counter, and what was sent again. */
static void
sink_es_metrics(struct sink *s, struct evbuffer *out)
{
	const struct sink_es_signals *sg = &((struct sink_es *)s->priv)->sig;

	sink_metric_signal(s, out, "whole_rejected", sg->whole_rejected);
	sink_metric_signal(s, out, "item_429", sg->item_429);
	sink_metric_signal(s, out, "slow", sg->slow);
	sink_metric_signal(s, out, "saturated", sg->saturated);
	evbuffer_add_printf(out, "# HELP spillway_sink_retried_total Records "
	    "sent to the sink again after a retriable failure.\n"
	    "# TYPE spillway_sink_retried_total counter\n"
	    "spillway_sink_retried_total{sink=\"%s\"} %llu\n", s->label,
	    (unsigned long long)sg->retried);
	evbuffer_add_printf(out, "# HELP spillway_sink_yielded_total Records "
	    "a retry backoff handed back to the queue so that priority 0 "
	    "could go first.\n"
	    "# TYPE spillway_sink_yielded_total counter\n"
	    "spillway_sink_yielded_total{sink=\"%s\"} %llu\n", s->label,
	    (unsigned long long)sg->yielded);
}

/* --require-sink: the cluster accepts a connection. */
static int
sink_es_probe(struct sink *s, char *err, size_t errlen)
{
	char port[16];
	struct url u;

	if (url_parse(s->url, &u, err, errlen) == -1)
		return -1;
	snprintf(port, sizeof(port), "%d", u.port);
	return net_probe(u.host, port, 5000, err, errlen);
}

const struct sink_ops sink_es_ops = {
	.name = "elasticsearch",
	.caps = SINK_CAP_UPSTREAM | SINK_CAP_BARE | SINK_CAP_PARAMS,
	.init = sink_es_init,
	.submit = sink_es_submit,
	.poll = sink_es_poll,
	.stats = sink_es_stats,
	.reopen = NULL,
	.metrics = sink_es_metrics,
	.probe = sink_es_probe,
	.free = sink_es_free,
};
