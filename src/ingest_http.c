/*
 * ingest_http: the Elasticsearch-compatible front door.  _bulk and
 * /ingest bodies become events; the start-up calls a Logstash, Filebeat
 * or rsyslog output makes before it ships are answered here, so that a
 * shipper pointed at spillway starts without errors.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <spillway/clock.h>

#include "auth.h"
#include "budget.h"
#include "bulk.h"
#include "classify.h"
#include "config.h"
#include "filter_path.h"
#include "gzip.h"
#include "http.h"
#include "ingest_http.h"
#include "log.h"
#include "shaper.h"
#include "sink.h"
#include "stats.h"
#include "tls.h"
#include "url.h"

#define ES_HEADERS	"X-Elastic-Product: Elasticsearch\r\n"

/*
 * The query parameters of _bulk, as Elasticsearch knows them: those an
 * item can carry itself become defaults for the items (BQ_ITEM, added to
 * the action lines that lack them); those only a request can carry go
 * with the events to the sink's request (BQ_REQUEST); the rest shape the
 * answer spillway gives (BQ_LOCAL).  Any other is refused, as
 * Elasticsearch refuses it.
 */
enum bq_kind { BQ_ITEM, BQ_REQUEST, BQ_LOCAL };

static const struct bulk_qparam {
	const char	*name;
	enum bq_kind	 kind;
	int		 boolean;	/* BQ_ITEM: true/false, not a string */
	int		 ops;		/* BQ_ITEM: bit per enum bulk_op */
} bulk_qparams[] = {
#define IC	((1 << BULK_INDEX) | (1 << BULK_CREATE))
	{ "pipeline", BQ_ITEM, 0, IC },
	{ "routing", BQ_ITEM, 0, IC | (1 << BULK_UPDATE) | (1 << BULK_DELETE) },
	{ "require_alias", BQ_ITEM, 1, IC | (1 << BULK_UPDATE) },
	{ "require_data_stream", BQ_ITEM, 1, IC },
	{ "list_executed_pipelines", BQ_ITEM, 1, IC },
#undef IC
	{ "refresh", BQ_REQUEST, 0, 0 },
	{ "timeout", BQ_REQUEST, 0, 0 },
	{ "wait_for_active_shards", BQ_REQUEST, 0, 0 },
	{ "include_source_on_error", BQ_REQUEST, 0, 0 },
	{ "_source", BQ_REQUEST, 0, 0 },
	{ "_source_excludes", BQ_REQUEST, 0, 0 },
	{ "_source_includes", BQ_REQUEST, 0, 0 },
	{ "filter_path", BQ_LOCAL, 0, 0 },
	{ "pretty", BQ_LOCAL, 0, 0 },
	{ "human", BQ_LOCAL, 0, 0 },
	{ "error_trace", BQ_LOCAL, 0, 0 },
	{ "type", BQ_LOCAL, 0, 0 },		/* 7.x clients */
};

#define BQ_COUNT	(sizeof(bulk_qparams) / sizeof(bulk_qparams[0]))
#define BQ_VALUE_MAX	512

struct bulk_params {
	char		 item[BQ_COUNT][BQ_VALUE_MAX];	/* decoded */
	int		 has[BQ_COUNT];
	int		 items;		/* BQ_ITEM ones given */
	char		 request[4096];	/* BQ_REQUEST ones, as sent */
	size_t		 request_len;
};

struct http_wait;

/* What the handler counts, beside its server's own counters. */
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

struct ingest_http {
	struct event_base	*base;
	const struct config	*cf;
	struct shaper		*sh;
	struct http_server	*srv;
	char			*root;		/* GET /, as http.es_version */
	struct auth		*auth;		/* ingest_auth, or NULL */
	char			*up_auth;	/* spillway's own to the cluster */
	int			 passthrough;	/* PASSTHROUGH_* */
	struct bulk_params	 bp;		/* of the request being read */
	int			 stopping;	/* shutting down */
	struct ingest_http_counters c;
	unsigned		 caps;		/* the main sink's SINK_CAP_* */
	TAILQ_HEAD(, http_wait)	 waits;		/* ack "sink": unanswered */
	size_t			 inflated;	/* claimed for the body being
						   handled (budget.h) */

	/* Pass-through to the upstream Elasticsearch, when the sink is one. */
	int			 proxy;
	struct url		 up;
	SSL_CTX			*ssl_ctx;
	struct evhttp_connection *evcon;
	uint64_t		 proxied;
	uint64_t		 proxy_errors;
};

/*
 * A _bulk or /ingest request whose answer waits for the final outcome of
 * its events (ack "sink").  held[i] is event i's record while it is
 * queued or with the sink, NULL once it is final; each _bulk item holds
 * what it will answer.  The request is answered when nothing is pending,
 * or at its deadline (ack_timeout_ms).
 */
struct http_wait {
	TAILQ_ENTRY(http_wait)	 entry;
	struct ingest_http	*ih;
	struct http_request	*req;
	struct record_ack	 ack;
	struct bulk_request	 br;		/* _bulk; empty for /ingest */
	struct record		**held;
	size_t			 n;		/* events */
	size_t			 cap;		/* of held */
	size_t			 pending;	/* not final yet */
	size_t			 bytes;		/* held here, for the limit */
	struct event		*ev;		/* deadline, or answer now */
	uint64_t		 t0;
	int			 offering;	/* still being offered */
	size_t			 count[RECORD_FAILED + 1];	/* /ingest */
};

/* One request being passed through. */
struct proxy_call {
	struct ingest_http	*ih;
	struct http_request	*req;
};

/*
 * What a server of each major says of itself in GET /: the fields a
 * client checks (build_flavor, the wire compatibility, the tagline) as
 * that major's servers give them.
 */
static const struct es_major {
	int		 major;
	const char	*lucene;
	const char	*wire;		/* minimum_wire_compatibility_version */
	const char	*index;		/* minimum_index_compatibility_version */
	const char	*date;
} es_majors[] = {
	{ 7, "8.11.3", "6.8.0", "6.0.0-beta1", "2024-08-05T10:05:34.233336849Z" },
	{ 8, "9.12.0", "7.17.0", "7.0.0", "2024-12-11T12:08:05.663969764Z" },
	{ 9, "10.2.2", "8.19.0", "8.0.0", "2025-07-17T22:18:07.385785149Z" },
};

/*
 * The root document for version v (config_es_version() checked it).
 * NULL without memory.  X-Elastic-Product goes with every answer: servers
 * send it from 7.14 on, and the clients of earlier ones do not mind it.
 */
static char *
es_root_doc(const char *v)
{
	const struct es_major *m = NULL;
	int major = 0, minor = 0;
	size_t i;
	char *doc;

	sscanf(v, "%d.%d", &major, &minor);
	for (i = 0; i < sizeof(es_majors) / sizeof(es_majors[0]); i++)
		if (es_majors[i].major == major)
			m = &es_majors[i];
	if (m == NULL)
		return NULL;
	if (asprintf(&doc, "{\"name\":\"spillway\",\"cluster_name\":"
	    "\"spillway\",\"cluster_uuid\":\"c3BpbGx3YXktY2x1c3Rlcg\","
	    "\"version\":{\"number\":\"%s\",\"build_flavor\":\"default\","
	    "\"build_type\":\"deb\",\"build_hash\":\"spillway\","
	    "\"build_date\":\"%s\",\"build_snapshot\":false,"
	    "\"lucene_version\":\"%s\","
	    "\"minimum_wire_compatibility_version\":\"%s\","
	    "\"minimum_index_compatibility_version\":\"%s\"},"
	    "\"tagline\":\"You Know, for Search\"}", v, m->date, m->lucene,
	    m->wire, m->index) == -1)
		return NULL;
	return doc;
}

static const char es_license[] =
    "{\"license\":{\"status\":\"active\","
    "\"uid\":\"00000000-0000-0000-0000-000000000000\",\"type\":\"basic\","
    "\"issue_date\":\"2024-01-01T00:00:00.000Z\","
    "\"issue_date_in_millis\":1704067200000,\"max_nodes\":1000,"
    "\"max_resource_units\":null,\"issued_to\":\"spillway\","
    "\"issuer\":\"elasticsearch\",\"start_date_in_millis\":-1}}";

static const char es_xpack[] =
    "{\"build\":{},\"license\":{\"uid\":\"00000000-0000-0000-0000-"
    "000000000000\",\"type\":\"basic\",\"mode\":\"basic\","
    "\"status\":\"active\"},\"features\":{\"ilm\":{\"available\":true,"
    "\"enabled\":true},\"data_streams\":{\"available\":true,"
    "\"enabled\":true}},\"tagline\":\"for the win\"}";

static const char es_health[] =
    "{\"cluster_name\":\"spillway\",\"status\":\"green\","
    "\"timed_out\":false,\"number_of_nodes\":1,"
    "\"number_of_data_nodes\":1,\"active_primary_shards\":0,"
    "\"active_shards\":0,\"relocating_shards\":0,"
    "\"initializing_shards\":0,\"unassigned_shards\":0,"
    "\"delayed_unassigned_shards\":0,\"number_of_pending_tasks\":0,"
    "\"number_of_in_flight_fetch\":0,"
    "\"task_max_waiting_in_queue_millis\":0,"
    "\"active_shards_percent_as_number\":100.0}";

/*
 * The compatible-with version a request asks its answer in: its Accept,
 * else its Content-Type; 0 for none, -1 for one no server takes.
 */
static int
es_compat(const struct http_request *req)
{
	int a = bulk_compat(http_header(req, "Accept"));
	int c = bulk_compat(http_header(req, "Content-Type"));

	if (a == -1 || c == -1)
		return -1;
	return a != 0 ? a : c;
}

/* The media type of an answer: the vendor one the client asked for. */
static const char *
es_content_type(const struct http_request *req)
{
	static const char *const vnd[BULK_COMPAT_MAX - BULK_COMPAT_MIN + 1] = {
		"application/vnd.elasticsearch+json;compatible-with=7",
		"application/vnd.elasticsearch+json;compatible-with=8",
		"application/vnd.elasticsearch+json;compatible-with=9",
	};
	int v = es_compat(req);

	return v > 0 ? vnd[v - BULK_COMPAT_MIN] : "application/json";
}

/* Answer with a JSON document, honouring ?filter_path=. */
static void
es_reply(struct http_request *req, int status, const char *doc, size_t len)
{
	char fp[1024];
	char *filtered = NULL;
	size_t flen;

	if (http_query(req, "filter_path", fp, sizeof(fp)) != NULL &&
	    fp[0] != '\0' &&
	    (filtered = filter_path_apply(doc, fp, &flen)) != NULL) {
		doc = filtered;
		len = flen;
	}
	http_respond(req, status, es_content_type(req), doc, len, ES_HEADERS);
	free(filtered);
}

/* An Elasticsearch error document, with extra header lines (or NULL). */
static void
es_error_headers(struct http_request *req, int status, const char *type,
    const char *reason, const char *extra)
{
	char *doc, headers[512];
	size_t len;

	snprintf(headers, sizeof(headers), "%s%s", ES_HEADERS,
	    extra ? extra : "");
	if ((doc = bulk_error_doc(status, type, reason, &len)) == NULL) {
		http_respond(req, 500, NULL, NULL, 0, ES_HEADERS);
		return;
	}
	http_respond(req, status, es_content_type(req), doc, len, headers);
	free(doc);
}

static void
es_error(struct http_request *req, int status, const char *type,
    const char *reason)
{
	es_error_headers(req, status, type, reason, NULL);
}

static void
es_ack(struct http_request *req)
{
	static const char ack[] = "{\"acknowledged\":true}";

	es_reply(req, 200, ack, sizeof(ack) - 1);
}

/* The memory budget has no room for req: 429, counted. */
static void
over_budget(struct ingest_http *ih, struct http_request *req)
{
	ih->c.over_budget++;
	es_error(req, 429, "es_rejected_execution_exception",
	    "rejected by spillway: its memory budget (queue.max_bytes) is "
	    "spent on requests and events in flight; send it again");
}

/*
 * The request body, inflated when Content-Encoding says gzip.  Returns 0
 * with *body pointing at the request's buffer or at *owned (claimed in
 * the memory budget until body_done()); or answers the request itself
 * (400, 413, 429 when the budget leaves no room to inflate it) and
 * returns -1.
 */
static int
ingest_http_body(struct ingest_http *ih, struct http_request *req,
    const char **body, size_t *len, char **owned)
{
	const char *enc = http_header(req, "Content-Encoding");
	size_t max, room;
	int rc;

	*owned = NULL;
	*body = req->body ? req->body : "";
	*len = req->body_len;
	if (enc == NULL || strcasecmp(enc, "identity") == 0)
		return 0;
	if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0 &&
	    strcasecmp(enc, "deflate") != 0) {
		es_error(req, 415, "illegal_argument_exception",
		    "unsupported Content-Encoding");
		return -1;
	}
	max = (size_t)ih->cf->max_body_bytes;
	if ((room = budget_firm_room()) == 0) {
		over_budget(ih, req);
		return -1;
	}
	rc = gzip_decompress(*body, *len, room < max ? room : max, owned, len);
	if (rc == -2 && room < max && room + req->budgeted < budget_limit()) {
		over_budget(ih, req);
		return -1;
	}
	if (rc == -2 && room < max) {
		/* Even alone it would not fit: no use sending it again. */
		ih->c.too_large++;
		es_error(req, 413, "content_too_long_exception",
		    "decompressed request body is larger than spillway's "
		    "memory budget (queue.max_bytes)");
		return -1;
	}
	if (rc == -2) {
		ih->c.too_large++;
		es_error(req, 413, "content_too_long_exception",
		    "decompressed request body is larger than max_body_bytes");
		return -1;
	}
	if (rc != 0) {
		es_error(req, 400, "parse_exception",
		    "request body is not valid gzip");
		return -1;
	}
	*body = *owned;
	ih->inflated = record_cost(*len + 1);
	budget_claim(BUDGET_REQUESTS, ih->inflated);
	return 0;
}

/* The request's inflated body, if any, is no longer needed. */
static void
body_done(struct ingest_http *ih, char *owned)
{
	free(owned);
	budget_give(BUDGET_REQUESTS, ih->inflated);
	ih->inflated = 0;
}

/* ------------------------------------------------------ acknowledgements */

/*
 * What one item of a _bulk request holds until it is answered: its parse,
 * the pointer to its record, and room for its part of the answer (an
 * Elasticsearch item object without filter_path is about this long).
 */
#define WAIT_ANSWER_BYTES	192
#define WAIT_ITEM_BYTES	(sizeof(struct bulk_item) + sizeof(struct record *) + \
			    WAIT_ANSWER_BYTES)

static void	wait_answer(struct http_wait *);

static void
wait_free(struct http_wait *w)
{
	struct ingest_http *ih = w->ih;

	TAILQ_REMOVE(&ih->waits, w, entry);
	ih->c.waiting--;
	ih->c.waiting_events -= w->n;
	budget_give(BUDGET_REQUESTS, w->bytes);
	if (w->ev != NULL)
		event_free(w->ev);
	bulk_request_clear(&w->br);
	free(w->held);
	free(w);
}

/*
 * The deadline passed with events still pending, or the process stops:
 * each of them is answered 503 now.  One still queued is taken out of the
 * queue, so that spillway does not deliver it as well as the sender's
 * retry; one the sink has already stays there and counts as the sink
 * decides (the sender's retry may then make a duplicate).
 */
static void
wait_give_up(struct http_wait *w, const char *why)
{
	struct bulk_item *it;
	size_t i;

	for (i = 0; i < w->n && w->pending > 0; i++) {
		if (w->held[i] == NULL)
			continue;
		if (shaper_cancel(w->ih->sh, w->held[i]) == -1)
			w->ih->c.late_inflight++;
		w->held[i] = NULL;
		w->pending--;
		w->count[RECORD_FAILED]++;
		if (w->br.items == NULL)
			continue;
		it = &w->br.items[i];
		it->status = 503;
		it->error_type = "unavailable_shards_exception";
		it->error_reason = why;
	}
}

static void
wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_wait *w = arg;

	(void)fd;
	(void)what;
	if (w->pending > 0) {
		w->ih->c.deadlines++;
		wait_give_up(w, "not delivered by spillway within "
		    "ack_timeout_ms; send it again");
	}
	wait_answer(w);
}

/* What an item answers for the fate of its event. */
static void
wait_item(struct http_wait *w, struct bulk_item *it, enum record_fate fate,
    enum reason reason, const struct record_answer *ans)
{
	if (ans != NULL && ans->text != NULL &&
	    (fate == RECORD_FORWARDED || fate == RECORD_REJECTED) &&
	    (it->answer = malloc(ans->len)) != NULL) {
		memcpy(it->answer, ans->text, ans->len);
		it->answer_len = ans->len;
		w->bytes += ans->len;
		budget_take(BUDGET_REQUESTS, ans->len);
	}
	switch (fate) {
	case RECORD_FORWARDED:
		it->status = ans != NULL && ans->status > 0 ? ans->status :
		    it->op == BULK_INDEX || it->op == BULK_CREATE ? 201 : 200;
		break;
	case RECORD_REJECTED:
		it->status = ans != NULL && ans->status >= 400 ? ans->status :
		    400;
		it->error_type = "spillway_sink_rejected_exception";
		it->error_reason = "refused for good by the sink";
		break;
	case RECORD_SHED:
		if ((it->op == BULK_INDEX || it->op == BULK_CREATE) &&
		    !w->ih->cf->shed_reject) {
			it->status = 201;
			break;
		}
		it->status = 429;
		it->error_type = "es_rejected_execution_exception";
		it->error_reason = reason == REASON_QUEUE_FULL ?
		    "rejected by spillway: queue full" :
		    "rejected by spillway: event shed";
		break;
	case RECORD_FAILED:
		it->status = 503;
		it->error_type = "unavailable_shards_exception";
		it->error_reason = w->ih->stopping ?
		    "not delivered by spillway: shutting down; send it "
		    "again" : "not delivered by spillway: the sink failed; "
		    "send it again";
		break;
	}
}

/* The ack of every event of a waiting request. */
static void
wait_told(void *arg, uint64_t token, enum record_fate fate,
    enum reason reason, const struct record_answer *ans)
{
	struct http_wait *w = arg;
	size_t i = (size_t)token;

	w->held[i] = NULL;
	w->count[fate]++;
	if (w->br.items != NULL)
		wait_item(w, &w->br.items[i], fate, reason, ans);
	/* Answered from the loop: this runs inside the shaper or a sink. */
	if (--w->pending == 0 && !w->offering)
		event_active(w->ev, EV_WRITE, 0);
}

/*
 * A request that is to wait for its n events, or NULL: then it has been
 * answered already (429 when the requests waiting already hold as much as
 * the queue may, 413 when it alone would, 503 while shutting down, 500
 * without memory).  br, when
 * not NULL, is taken over.
 */
static struct http_wait *
wait_new(struct ingest_http *ih, struct http_request *req,
    struct bulk_request *br, size_t n)
{
	const struct config *cf = ih->cf;
	struct http_wait *w;
	struct timeval tv;

	if (ih->stopping) {
		es_error(req, 503, "node_closed_exception",
		    "spillway is shutting down; send it again");
		return NULL;
	}
	if (n > (size_t)cf->queue_max_events ||
	    n * WAIT_ITEM_BYTES > (size_t)cf->queue_max_bytes) {
		/* It could never be let in: no use sending it again. */
		ih->c.too_large++;
		es_error(req, 413, "content_too_long_exception",
		    "the request has more items than spillway's queue may "
		    "hold (queue.max_events, queue.max_bytes)");
		return NULL;
	}
	if ((n > 0 ? n : 1) * WAIT_ITEM_BYTES > budget_firm_room()) {
		over_budget(ih, req);
		return NULL;
	}
	if (ih->c.waiting_events + (n > 0 ? n : 1) >
	    (size_t)cf->queue_max_events) {
		ih->c.refused++;
		es_error(req, 429, "es_rejected_execution_exception",
		    "rejected by spillway: the requests waiting for their "
		    "answers hold as much as the queue may");
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->held = calloc(n ? n : 1, sizeof(*w->held))) == NULL ||
	    (w->ev = event_new(ih->base, -1, 0, wait_cb, w)) == NULL) {
		if (w != NULL) {
			free(w->held);
			free(w);
		}
		es_error(req, 500, "exception", "out of memory");
		return NULL;
	}
	w->ih = ih;
	w->req = req;
	w->ack.fn = wait_told;
	w->ack.arg = w;
	w->ack.flags = RECORD_ACK_RESENDS;
	if (br != NULL) {
		w->br = *br;
		br->items = NULL;
		br->nitems = 0;
		w->ack.flags |= RECORD_ACK_ANSWER;
	}
	w->n = n;
	w->cap = n;
	w->pending = n;
	w->offering = 1;
	w->t0 = clock_now_ns();
	w->bytes = n * WAIT_ITEM_BYTES;
	TAILQ_INSERT_TAIL(&ih->waits, w, entry);
	ih->c.waiting++;
	ih->c.waiting_events += n;
	budget_claim(BUDGET_REQUESTS, w->bytes);
	tv.tv_sec = cf->ack_timeout_ms / 1000;
	tv.tv_usec = (cf->ack_timeout_ms % 1000) * 1000;
	event_add(w->ev, &tv);
	return w;
}

/* One more event for w (/ingest), its index in *idx.  0, or -1. */
static int
wait_add(struct http_wait *w, size_t *idx)
{
	struct ingest_http *ih = w->ih;
	struct record **h;
	size_t cap;

	if (w->n == w->cap) {
		cap = w->cap ? w->cap * 2 : 64;
		if ((h = reallocarray(w->held, cap, sizeof(*h))) == NULL)
			return -1;
		w->held = h;
		w->cap = cap;
	}
	*idx = w->n++;
	w->held[*idx] = NULL;
	w->pending++;
	w->bytes += sizeof(*h);
	budget_take(BUDGET_REQUESTS, sizeof(*h));
	ih->c.waiting_events++;
	return 0;
}

/*
 * The request turned out malformed part way: nothing of it is delivered
 * (what was queued is taken out again, as unacknowledged), and it is
 * answered status with reason.
 */
static void
wait_refuse(struct http_wait *w, int status, const char *reason)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->held[i] != NULL) {
			(void)shaper_cancel(w->ih->sh, w->held[i]);
			w->held[i] = NULL;
		}
	es_error(w->req, status, "parse_exception", reason);
	wait_free(w);
}

/*
 * Every event has been offered: the body is no longer needed (the
 * records hold their own copies), and the request is answered at once if
 * nothing is pending.
 */
static void
wait_offered(struct http_wait *w)
{
	size_t i;

	w->offering = 0;
	for (i = 0; i < w->br.nitems; i++) {
		w->br.items[i].action = NULL;
		w->br.items[i].source = NULL;
	}
	http_request_drop_body(w->req);
	if (w->pending == 0)
		wait_answer(w);
}

/* Answer /ingest: one status for every event of the request. */
static void
wait_answer_ingest(struct http_wait *w)
{
	const size_t *c = w->count;
	char out[256];
	int olen, status;

	if (c[RECORD_FAILED] > 0)
		status = 503;
	else if (c[RECORD_SHED] > 0 && w->ih->cf->shed_reject)
		status = 429;
	else
		status = 200;
	olen = snprintf(out, sizeof(out), "{\"received\":%zu,"
	    "\"forwarded\":%zu,\"shed\":%zu,\"rejected\":%zu,"
	    "\"unacknowledged\":%zu}", w->n, c[RECORD_FORWARDED],
	    c[RECORD_SHED], c[RECORD_REJECTED], c[RECORD_FAILED]);
	http_respond(w->req, status, "application/json", out, (size_t)olen,
	    NULL);
}

static void
wait_answer(struct http_wait *w)
{
	char fp[1024], *resp;
	size_t rlen;

	if (w->br.items == NULL)
		wait_answer_ingest(w);
	else if ((resp = bulk_response(w->br.items, w->br.nitems,
	    (long)((clock_now_ns() - w->t0) / 1000000),
	    http_query(w->req, "filter_path", fp, sizeof(fp)), &rlen)) ==
	    NULL)
		es_error(w->req, 500, "exception", "out of memory");
	else {
		/* The room kept for the answer is the answer's now. */
		budget_give(BUDGET_REQUESTS, w->n * WAIT_ANSWER_BYTES);
		w->bytes -= w->n * WAIT_ANSWER_BYTES;
		http_respond(w->req, 200, es_content_type(w->req), resp, rlen,
		    ES_HEADERS);
		free(resp);
	}
	wait_free(w);
}

/*
 * Read req's query into bp.  0, or -1 with an Elasticsearch-style
 * message in err (an unknown parameter, a bad boolean).
 */
static int
bulk_params_read(const struct http_request *req, struct bulk_params *bp,
    char *err, size_t errlen)
{
	const char *p, *amp, *eq;
	size_t i, klen, plen;

	memset(bp, 0, offsetof(struct bulk_params, request));
	bp->request_len = 0;
	for (p = req->query; p != NULL && *p != '\0'; p = *amp ? amp + 1 : amp) {
		amp = p + strcspn(p, "&");
		eq = memchr(p, '=', (size_t)(amp - p));
		klen = (size_t)((eq ? eq : amp) - p);
		plen = (size_t)(amp - p);
		if (klen == 0)
			continue;
		for (i = 0; i < BQ_COUNT; i++)
			if (strlen(bulk_qparams[i].name) == klen &&
			    memcmp(bulk_qparams[i].name, p, klen) == 0)
				break;
		if (i == BQ_COUNT) {
			snprintf(err, errlen, "request [%.200s] contains "
			    "unrecognized parameter: [%.*s]", req->path,
			    (int)(klen < 100 ? klen : 100), p);
			return -1;
		}
		bp->has[i] = 1;
		switch (bulk_qparams[i].kind) {
		case BQ_ITEM:
			http_query(req, bulk_qparams[i].name, bp->item[i],
			    sizeof(bp->item[i]));
			if (bulk_qparams[i].boolean && bp->item[i][0] != '\0' &&
			    strcmp(bp->item[i], "true") != 0 &&
			    strcmp(bp->item[i], "false") != 0) {
				snprintf(err, errlen, "Failed to parse value "
				    "[%.100s] as only [true] or [false] are "
				    "allowed.", bp->item[i]);
				return -1;
			}
			bp->items++;
			break;
		case BQ_REQUEST:
			if (bp->request_len + plen + 1 >= sizeof(bp->request)) {
				snprintf(err, errlen, "request [%.200s]: query "
				    "parameters too long", req->path);
				return -1;
			}
			if (bp->request_len > 0)
				bp->request[bp->request_len++] = '&';
			memcpy(bp->request + bp->request_len, p, plen);
			bp->request_len += plen;
			bp->request[bp->request_len] = '\0';
			break;
		case BQ_LOCAL:
			break;
		}
	}
	return 0;
}

/*
 * The action line to forward with an item.  For /{index}/_bulk, an
 * action without its own _index gets the URL's, so that the event lands
 * where the sender meant it to; the item-level parameters of the URL
 * (bp, NULL for none) are added where the item does not set its own; a
 * legacy "_type" (which Elasticsearch 8 refuses for the whole request,
 * and so for every other sender's events in the same batch) is dropped;
 * otherwise the line is kept as sent.  *act is it->action or a new
 * string the caller frees.  0 or -1.
 */
static int
bulk_action(const struct bulk_item *it, const char *url_index,
    const struct bulk_params *bp, char **act, size_t *alen)
{
	json_t *root, *meta;
	const char *op;
	void *iter;
	size_t i;
	int change = 0;

	*act = (char *)(uintptr_t)it->action;
	*alen = it->action_len;
	if (url_index == NULL && (bp == NULL || bp->items == 0) &&
	    memmem(it->action, it->action_len, "\"_type\"", 7) == NULL)
		return 0;
	if ((root = json_loadb(it->action, it->action_len, 0, NULL)) == NULL)
		return 0;
	iter = json_object_iter(root);
	op = iter ? json_object_iter_key(iter) : NULL;
	meta = iter ? json_object_iter_value(iter) : NULL;
	if (op == NULL || !json_is_object(meta)) {
		json_decref(root);
		return 0;
	}
	if (json_object_get(meta, "_type") != NULL) {
		json_object_del(meta, "_type");
		change = 1;
	}
	if (url_index != NULL && json_object_get(meta, "_index") == NULL) {
		json_object_set_new(meta, "_index", json_string(url_index));
		change = 1;
	}
	for (i = 0; bp != NULL && i < BQ_COUNT; i++) {
		const struct bulk_qparam *q = &bulk_qparams[i];

		if (!bp->has[i] || q->kind != BQ_ITEM ||
		    (q->ops & (1 << it->op)) == 0 ||
		    json_object_get(meta, q->name) != NULL)
			continue;
		json_object_set_new(meta, q->name, q->boolean ?
		    json_boolean(strcmp(bp->item[i], "false") != 0) :
		    json_string(bp->item[i]));
		change = 1;
	}
	if (!change) {
		json_decref(root);
		return 0;
	}
	*act = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (*act == NULL)
		return -1;
	*alen = strlen(*act);
	return 0;
}

/*
 * Offer the items of a parsed _bulk request.  With w (ack "sink") each
 * event's outcome reaches its item through w's ack; without, items
 * answer at admission.
 */
static void
ingest_http_items(struct ingest_http *ih, struct bulk_request *br,
    const char *index, const struct bulk_params *bp, struct http_wait *w,
    uint64_t now)
{
	int bare = ih->caps & SINK_CAP_BARE;
	int params = ih->caps & SINK_CAP_PARAMS;
	int reject = ih->cf->shed_reject;
	const struct record_ack *ack = w != NULL ? &w->ack : NULL;
	struct shaper_request sr = { 0, NULL, 0 };
	struct classify_result cr;
	struct record **held;
	const char *src;
	size_t i, alen;
	char *act;

	/*
	 * Updates and deletes act on documents the same request may write:
	 * such a request keeps its order.  What only a request can carry
	 * goes with its events to the sink's request.
	 */
	for (i = 0; i < br->nitems && bare && !sr.in_order; i++)
		sr.in_order = br->items[i].op == BULK_UPDATE ||
		    br->items[i].op == BULK_DELETE;
	if (params && bp->request_len > 0) {
		sr.params = bp->request;
		sr.params_len = bp->request_len;
	}
	shaper_request(ih->sh, &sr);
	for (i = 0; i < br->nitems; i++) {
		struct bulk_item *it = &br->items[i];
		enum shaper_verdict v;

		held = w != NULL ? &w->held[i] : NULL;
		if (bulk_action(it, index, params ? bp : NULL, &act,
		    &alen) == -1) {
			it->status = 500;
			it->error_type = "exception";
			it->error_reason = "out of memory";
		} else if ((it->op == BULK_UPDATE || it->op == BULK_DELETE) &&
		    !bare) {
			free(act == it->action ? NULL : act);
			ih->c.unsupported++;
			it->status = 400;
			it->error_type = "action_not_supported";
			it->error_reason = "update and delete are forwarded "
			    "only to an Elasticsearch sink";
		} else if (it->op == BULK_UPDATE || it->op == BULK_DELETE) {
			v = shaper_offer_unshaped(ih->sh, it->op == BULK_DELETE ?
			    NULL : it->source, it->source_len, act, alen, ack,
			    i, held, now);
			free(act == it->action ? NULL : act);
			if (w != NULL)
				continue;
			if (v == SHAPER_QUEUED) {
				it->status = 200;
				continue;
			}
			it->status = 429;
			it->error_type = "es_rejected_execution_exception";
			it->error_reason = "rejected by spillway: queue full";
			continue;
		} else if (it->source_len > (size_t)ih->cf->max_event_bytes) {
			/* Refused, not shed: the sender should not retry it. */
			shaper_too_large(ih->sh, SOURCE_HTTP);
			it->status = 400;
			it->error_type = "illegal_argument_exception";
			it->error_reason = "event larger than max_event_bytes";
		} else {
			src = it->source ? it->source : "";
			classify_event(shaper_rules(ih->sh), src,
			    it->source_len, &cr);
			v = shaper_offer_classified(ih->sh, src, it->source_len,
			    act, alen, SOURCE_HTTP, &cr, ack, i, held, now);
			free(act == it->action ? NULL : act);
			if (w != NULL)
				continue;
			if (v == SHAPER_QUEUED || !reject) {
				it->status = 201;
				continue;
			}
			it->status = 429;
			it->error_type = "es_rejected_execution_exception";
			it->error_reason = "rejected by spillway: event shed";
			continue;
		}
		/* Final without an event: nothing will tell w. */
		if (w != NULL)
			w->pending--;
	}
	shaper_request(ih->sh, NULL);
}

static void
ingest_http_bulk(struct ingest_http *ih, struct http_request *req,
    const char *index)
{
	struct bulk_request br = { NULL, 0 };
	uint64_t t0 = clock_now_ns();
	const char *body, *ct = http_header(req, "Content-Type");
	char *owned = NULL, *resp, err[512], fp[1024];
	struct bulk_params *bp = &ih->bp;
	struct http_wait *w;
	size_t len, rlen, room, broom, items = 0;
	int by_budget = 0;
	int rc;

	if (!bulk_content_type_ok(ct)) {
		char msg[300];

		snprintf(msg, sizeof(msg), "Content-Type header [%.200s] is "
		    "not supported", ct ? ct : "");
		es_error(req, 406, "media_type_header_exception", msg);
		return;
	}
	if (bulk_params_read(req, bp, err, sizeof(err)) == -1) {
		es_error(req, 400, "illegal_argument_exception", err);
		return;
	}
	/* Without Elasticsearch behind, they mean nothing; counted. */
	if (!(ih->caps & SINK_CAP_PARAMS) &&
	    (bp->items > 0 || bp->request_len > 0))
		ih->c.params_ignored++;
	/*
	 * What requests waiting for answers hold is bounded by the queue's
	 * limits and the memory budget: past them, refused before the body
	 * is even inflated; and no request may hold more actions than the
	 * queue does events, or than the budget has room for.
	 */
	room = (size_t)ih->cf->queue_max_events;
	if (ih->cf->ack_sink) {
		if (ih->c.waiting_events >= room) {
			ih->c.refused++;
			es_error(req, 429, "es_rejected_execution_exception",
			    "rejected by spillway: the requests waiting for "
			    "their answers hold as much as the queue may");
			return;
		}
		room -= ih->c.waiting_events;
	}
	if (ingest_http_body(ih, req, &body, &len, &owned) == -1)
		return;
	if ((broom = budget_firm_room() / WAIT_ITEM_BYTES) < room) {
		room = broom;
		by_budget = 1;
	}
	if ((rc = bulk_parse_max(body, len, index, room, &br, err,
	    sizeof(err))) == -2 && by_budget && bulk_lines(body, len) / 2 <=
	    budget_limit() / WAIT_ITEM_BYTES) {
		over_budget(ih, req);
		goto done;
	} else if (rc == -2 && by_budget) {
		/* At least one action per two lines: never fits. */
		ih->c.too_large++;
		es_error(req, 413, "content_too_long_exception", "the request "
		    "has more actions than spillway's memory budget may hold "
		    "(queue.max_bytes)");
		goto done;
	} else if (rc == -2 && room < (size_t)ih->cf->queue_max_events) {
		ih->c.refused++;
		es_error(req, 429, "es_rejected_execution_exception",
		    "rejected by spillway: the requests waiting for their "
		    "answers leave no room for this one");
		goto done;
	} else if (rc == -2) {
		ih->c.too_large++;
		es_error(req, 413, "content_too_long_exception", "the request "
		    "has more actions than spillway's queue may hold "
		    "(queue.max_events)");
		goto done;
	} else if (rc == -1) {
		es_error(req, 400, "illegal_argument_exception", err);
		goto done;
	}
	if (ih->cf->ack_sink) {
		if ((w = wait_new(ih, req, &br, br.nitems)) != NULL) {
			ingest_http_items(ih, &w->br, index, bp, w, t0);
			wait_offered(w);
		}
		goto done;
	}
	items = br.nitems * sizeof(*br.items);
	budget_claim(BUDGET_REQUESTS, items);
	ingest_http_items(ih, &br, index, bp, NULL, t0);
	resp = bulk_response(br.items, br.nitems,
	    (long)((clock_now_ns() - t0) / 1000000),
	    http_query(req, "filter_path", fp, sizeof(fp)), &rlen);
	if (resp == NULL)
		es_error(req, 500, "exception", "out of memory");
	else {
		http_respond(req, 200, es_content_type(req), resp, rlen,
		    ES_HEADERS);
		free(resp);
	}
done:
	bulk_request_clear(&br);
	budget_give(BUDGET_REQUESTS, items);
	body_done(ih, owned);
}

static int
ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The next element of a JSON array whose '[' has been consumed: its raw
 * bytes in elem and len.  Only the structure is scanned (strings, nesting);
 * each element is validated when it is classified.  Returns 1 for an
 * element, 0 at the closing ']' (nothing may follow), -1 when malformed.
 */
static int
array_next(const char **pp, const char *end, const char **elem, size_t *len)
{
	const char *p = *pp, *start;
	int depth = 0, instr = 0;

	while (p < end && ws(*p))
		p++;
	if (p < end && *p == ']') {
		for (p++; p < end && ws(*p); p++)
			;
		*pp = p;
		return p == end ? 0 : -1;
	}
	start = p;
	for (; p < end; p++) {
		char c = *p;

		if (instr) {
			if (c == '\\')
				p++;
			else if (c == '"')
				instr = 0;
			continue;
		}
		if (c == '"')
			instr = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				break;
			depth--;
		} else if (c == ',' && depth == 0)
			break;
	}
	if (p >= end || instr || depth != 0) {
		*pp = p < end ? p : end;
		return -1;
	}
	*elem = start;
	*len = (size_t)(p - start);
	while (*len > 0 && ws(start[*len - 1]))
		(*len)--;
	if (*len == 0) {
		*pp = p;
		return -1;
	}
	if (*p == ',')
		p++;
	*pp = p;
	return 1;
}

/*
 * One event of /ingest (len bytes at e).  With w (ack "sink") its fate
 * reaches w; without, returns 1 when it was shed or refused.  A
 * pretty-printed array element spans lines, which NDJSON cannot carry as
 * sent: it is offered as its compact serialisation (or, when it does not
 * parse, as the invalid bytes themselves).
 */
static int
ingest_http_event(struct ingest_http *ih, struct http_wait *w,
    const char *e, size_t len, uint64_t now)
{
	const struct record_ack *ack = NULL;
	struct classify_result cr;
	struct record **held = NULL;
	size_t i = 0;
	json_t *v;
	char *s = NULL;
	int shed;

	if (w != NULL) {
		if (wait_add(w, &i) == -1)
			return 1;
		ack = &w->ack;
		held = &w->held[i];
	}
	if (len > (size_t)ih->cf->max_event_bytes) {
		shaper_too_large(ih->sh, SOURCE_HTTP);
		if (w != NULL) {
			w->pending--;
			w->count[RECORD_REJECTED]++;
		}
		return 1;
	}
	if (memchr(e, '\n', len) != NULL || memchr(e, '\r', len) != NULL) {
		if ((v = json_loadb(e, len, JSON_ALLOW_NUL, NULL)) != NULL)
			s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(v);
		if (s != NULL) {
			e = s;
			len = strlen(s);
		}
	}
	classify_event(shaper_rules(ih->sh), e, len, &cr);
	shed = shaper_offer_classified(ih->sh, e, len, NULL, 0, SOURCE_HTTP,
	    &cr, ack, i, held, now) != SHAPER_QUEUED;
	free(s);
	return shed;
}

/* POST /ingest: NDJSON lines, or one JSON array of events. */
static void
ingest_http_ingest(struct ingest_http *ih, struct http_request *req)
{
	const char *body, *p, *end, *nl;
	uint64_t now = clock_now_ns();
	struct http_wait *w = NULL;
	size_t len, n = 0, shed = 0;
	char *owned = NULL, out[96];
	int olen;

	if (ingest_http_body(ih, req, &body, &len, &owned) == -1)
		return;
	if (ih->cf->ack_sink && (w = wait_new(ih, req, NULL, 0)) == NULL) {
		body_done(ih, owned);
		return;
	}
	p = body;
	end = body + len;
	while (p < end && ws(*p))
		p++;
	if (p < end && *p == '[') {
		const char *e;
		size_t elen;
		int rc;

		/* Each element is one event, forwarded as the bytes sent. */
		p++;
		while ((rc = array_next(&p, end, &e, &elen)) == 1) {
			shed += ingest_http_event(ih, w, e, elen, now);
			n++;
		}
		if (rc == -1) {
			char msg[128];

			if (w != NULL)
				snprintf(msg, sizeof(msg), "body is not a JSON "
				    "array (byte %zu); none of it was taken",
				    (size_t)(p - body));
			else
				snprintf(msg, sizeof(msg), "body is not a JSON "
				    "array (byte %zu); %zu events before it "
				    "were taken", (size_t)(p - body), n);
			if (w != NULL)
				wait_refuse(w, 400, msg);
			else
				es_error(req, 400, "parse_exception", msg);
			body_done(ih, owned);
			return;
		}
	} else {
		for (p = body; p < end; p = nl + 1) {
			size_t l;

			if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
				nl = end;
			l = (size_t)(nl - p);
			if (l > 0 && p[l - 1] == '\r')
				l--;
			while (l > 0 && ws(*p)) {
				p++;
				l--;
			}
			if (l == 0)
				continue;
			shed += ingest_http_event(ih, w, p, l, now);
			n++;
		}
	}
	body_done(ih, owned);
	if (w != NULL) {
		wait_offered(w);
		return;
	}
	olen = snprintf(out, sizeof(out), "{\"received\":%zu,\"shed\":%zu}",
	    n, shed);
	http_respond(req, ih->cf->shed_reject && shed > 0 ? 429 : 200,
	    "application/json", out, (size_t)olen, NULL);
}

static int
is(const struct http_request *req, const char *method)
{
	return strcmp(req->method, method) == 0;
}

/*
 * Whether the raw target (before decoding: an index name such as
 * %3Clogs-%7Bnow%2Fd%7D-000001%3E decodes to a '/') is one path segment.
 */
static int
single_segment(const char *target)
{
	size_t n = strcspn(target + 1, "?");

	return memchr(target + 1, '/', n) == NULL;
}

/* Start-up and management calls, answered locally. */
static void
ingest_http_es(struct ingest_http *ih, struct http_request *req)
{
	const char *path = req->path;
	int get = is(req, "GET") || is(req, "HEAD");

	if (strcmp(path, "/") == 0 && get) {
		es_reply(req, 200, ih->root, strlen(ih->root));
		return;
	}
	if (strcmp(path, "/_license") == 0 && get) {
		es_reply(req, 200, es_license, sizeof(es_license) - 1);
		return;
	}
	if (strcmp(path, "/_xpack") == 0 && get) {
		es_reply(req, 200, es_xpack, sizeof(es_xpack) - 1);
		return;
	}
	if (strncmp(path, "/_nodes", 7) == 0 && get) {
		static const char nodes[] = "{\"nodes\":{}}";

		es_reply(req, 200, nodes, sizeof(nodes) - 1);
		return;
	}
	if (strcmp(path, "/_cat/health") == 0 && get) {
		static const char cat[] =
		    "epoch timestamp cluster status node.total node.data "
		    "shards pri relo init unassign pending_tasks\n"
		    "0 00:00:00 spillway green 1 1 0 0 0 0 0 0\n";

		http_respond(req, 200, "text/plain; charset=UTF-8", cat,
		    sizeof(cat) - 1, ES_HEADERS);
		return;
	}
	if (strncmp(path, "/_cluster/health", 16) == 0 && get) {
		es_reply(req, 200, es_health, sizeof(es_health) - 1);
		return;
	}
	if (strncmp(path, "/_index_template/", 17) == 0 ||
	    strncmp(path, "/_template/", 11) == 0 ||
	    strncmp(path, "/_component_template/", 21) == 0 ||
	    strncmp(path, "/_ilm/policy/", 13) == 0 ||
	    strncmp(path, "/_data_stream/", 14) == 0 ||
	    strncmp(path, "/_alias/", 8) == 0 ||
	    strncmp(path, "/_aliases", 9) == 0) {
		/*
		 * Nothing is stored here: a lookup finds nothing, so the
		 * shipper installs its template or policy, which is then
		 * acknowledged.
		 */
		if (get)
			es_error(req, 404, "resource_not_found_exception",
			    "not stored by spillway");
		else
			es_ack(req);
		return;
	}
	if (strstr(path, "/_alias") != NULL || strstr(path, "/_mapping") != NULL ||
	    strstr(path, "/_settings") != NULL ||
	    strstr(path, "/_rollover") != NULL) {
		/* Index-level management: acknowledged, nothing stored. */
		if (get)
			es_error(req, 404, "resource_not_found_exception",
			    "not stored by spillway");
		else
			es_ack(req);
		return;
	}
	if (path[0] == '/' && path[1] != '_' && single_segment(req->target)) {
		/* /{index} or /{alias}: exists checks, index creation. */
		if (get)
			es_error(req, 404, "index_not_found_exception",
			    "no such index");
		else if (is(req, "PUT"))
			es_ack(req);
		else
			es_error(req, 405, "method_not_allowed",
			    "method not allowed");
		return;
	}
	if (strcmp(path, "/_refresh") == 0 || strcmp(path, "/_flush") == 0) {
		static const char sh[] =
		    "{\"_shards\":{\"total\":0,\"successful\":0,\"failed\":0}}";

		es_reply(req, 200, sh, sizeof(sh) - 1);
		return;
	}
	{
		char msg[300];

		snprintf(msg, sizeof(msg), "no handler found for uri [%.200s] "
		    "and method [%.16s]", req->target, req->method);
		es_error(req, get ? 404 : 400, "illegal_argument_exception",
		    msg);
	}
}

static struct evhttp_connection *
proxy_connection(struct ingest_http *ih)
{
	struct bufferevent *bev = NULL;
	SSL *ssl;

	if (ih->evcon != NULL)
		return ih->evcon;
	if (ih->up.tls) {
		if ((ssl = SSL_new(ih->ssl_ctx)) == NULL)
			return NULL;
		SSL_set_tlsext_host_name(ssl, ih->up.host);
		if (ih->cf->sink_tls_verify)
			SSL_set1_host(ssl, ih->up.host);
		if ((bev = bufferevent_openssl_socket_new(ih->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
		    BEV_OPT_DEFER_CALLBACKS)) == NULL) {
			SSL_free(ssl);
			return NULL;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	}
	ih->evcon = evhttp_connection_base_bufferevent_new(ih->base, NULL, bev,
	    ih->up.host, (unsigned short)ih->up.port);
	if (ih->evcon != NULL) {
		evhttp_connection_set_timeout(ih->evcon,
		    (int)((ih->cf->timeout_ms + 999) / 1000));
		evhttp_connection_set_retries(ih->evcon, 0);
	}
	return ih->evcon;
}

static int
hop_by_hop(const char *name)
{
	static const char *const hop[] = {
		"Connection", "Keep-Alive", "Proxy-Connection",
		"Transfer-Encoding", "TE", "Trailer", "Upgrade",
		"Content-Length", "Host", "Expect"
	};
	size_t i;

	for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

static void
proxy_done(struct evhttp_request *er, void *arg)
{
	struct proxy_call *pc = arg;
	struct ingest_http *ih = pc->ih;
	struct evkeyvalq *hdrs;
	struct evkeyval *kv;
	struct evbuffer *extra, *in;
	const char *cl = NULL;
	int code = er ? evhttp_request_get_response_code(er) : 0;

	if (code == 0 || (extra = evbuffer_new()) == NULL) {
		char msg[400];

		ih->proxy_errors++;
		snprintf(msg, sizeof(msg), "upstream %s:%d did not answer",
		    ih->up.host, ih->up.port);
		es_error(pc->req, 502, "spillway_upstream_exception", msg);
		free(pc);
		return;
	}
	ih->proxied++;
	hdrs = evhttp_request_get_input_headers(er);
	TAILQ_FOREACH(kv, hdrs, next) {
		if (strcasecmp(kv->key, "Content-Length") == 0)
			cl = kv->value;
		if (hop_by_hop(kv->key))
			continue;
		evbuffer_add_printf(extra, "%s: %s\r\n", kv->key, kv->value);
	}
	in = evhttp_request_get_input_buffer(er);
	evbuffer_add(extra, "", 1);
	if (strcmp(pc->req->method, "HEAD") == 0)
		/* No body, but the upstream's length. */
		http_respond(pc->req, code, NULL, NULL,
		    cl ? strtoul(cl, NULL, 10) : 0,
		    (const char *)evbuffer_pullup(extra, -1));
	else
		http_respond(pc->req, code, NULL,
		    (const char *)evbuffer_pullup(in, -1),
		    evbuffer_get_length(in),
		    (const char *)evbuffer_pullup(extra, -1));
	evbuffer_free(extra);
	free(pc);
}

/* Pass req to the upstream Elasticsearch unchanged; answer its answer. */
static void
ingest_http_proxy(struct ingest_http *ih, struct http_request *req)
{
	static const struct { const char *name; enum evhttp_cmd_type cmd; }
	    methods[] = {
		{ "GET", EVHTTP_REQ_GET }, { "POST", EVHTTP_REQ_POST },
		{ "HEAD", EVHTTP_REQ_HEAD }, { "PUT", EVHTTP_REQ_PUT },
		{ "DELETE", EVHTTP_REQ_DELETE },
		{ "OPTIONS", EVHTTP_REQ_OPTIONS },
		{ "PATCH", EVHTTP_REQ_PATCH },
	};
	struct evhttp_connection *evcon;
	struct evhttp_request *er;
	enum evhttp_cmd_type cmd;
	struct evkeyvalq *out;
	struct proxy_call *pc;
	char target[8192], hostport[300];
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(req->method, methods[i].name) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0])) {
		es_error(req, 405, "method_not_allowed", "method not allowed");
		return;
	}
	cmd = methods[i].cmd;
	if ((size_t)snprintf(target, sizeof(target), "%s%s", ih->up.prefix,
	    req->target) >= sizeof(target)) {
		es_error(req, 414, "illegal_argument_exception",
		    "request target too long");
		return;
	}
	if ((pc = calloc(1, sizeof(*pc))) == NULL ||
	    (evcon = proxy_connection(ih)) == NULL ||
	    (er = evhttp_request_new(proxy_done, pc)) == NULL) {
		free(pc);
		es_error(req, 502, "spillway_upstream_exception",
		    "cannot reach the upstream");
		return;
	}
	pc->ih = ih;
	pc->req = req;
	out = evhttp_request_get_output_headers(er);
	for (i = 0; i < req->nheaders; i++)
		if (!hop_by_hop(req->headers[i].name) && (ih->auth == NULL ||
		    strcasecmp(req->headers[i].name, "Authorization") != 0))
			evhttp_add_header(out, req->headers[i].name,
			    req->headers[i].value);
	/* Senders prove themselves to spillway; spillway to the cluster. */
	if (ih->auth != NULL && ih->up_auth != NULL)
		evhttp_add_header(out, "Authorization", ih->up_auth);
	snprintf(hostport, sizeof(hostport), "%s:%d", ih->up.host,
	    ih->up.port);
	evhttp_add_header(out, "Host", hostport);
	if (req->body_len > 0)
		evbuffer_add(evhttp_request_get_output_buffer(er), req->body,
		    req->body_len);
	if (evhttp_make_request(evcon, er, cmd, target) == -1) {
		/* evhttp freed er and did not call back. */
		free(pc);
		ih->proxy_errors++;
		es_error(req, 502, "spillway_upstream_exception",
		    "cannot reach the upstream");
	}
}

#define PT_SEGS		8	/* path segments looked at */

/*
 * The path of a raw request target, split into decoded segments: 0, or
 * -1 when it is not a plain path (an empty, "." or ".." segment, once
 * decoded: the tricks that make two parsers disagree on where it goes).
 */
static int
pt_segments(const char *target, char seg[PT_SEGS][256], size_t *nseg)
{
	const char *p = target, *end = target + strcspn(target, "?#"), *s;
	size_t n = 0, len;

	*nseg = 0;
	if (p == end || *p != '/')
		return -1;
	if (end - p == 1)
		return 0;		/* "/" */
	while (p < end) {
		s = ++p;
		while (p < end && *p != '/')
			p++;
		len = (size_t)(p - s);
		if (len == 0 || len >= sizeof(seg[0]))
			return -1;
		if (n < PT_SEGS) {
			url_decode(s, len, seg[n], sizeof(seg[n]), 0);
			if (strcmp(seg[n], ".") == 0 || strcmp(seg[n], "..") == 0)
				return -1;
		}
		n++;
	}
	*nseg = n;
	return 0;
}

/* Whether segment s is one of the names, a NULL-terminated list. */
static int
pt_in(const char *s, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(s, *names) == 0)
			return 1;
	return 0;
}

/*
 * http.passthrough: whether req may go to the upstream.  "startup"
 * passes the calls shippers make before they ship: GET/HEAD /, the
 * license and feature checks, cluster health, and reads and writes of
 * templates, ILM policies, ingest pipelines, aliases, data streams and of
 * one index (a rollover alias's first index, an exists check).
 */
static int
passthrough_allowed(const struct ingest_http *ih, const struct http_request *req)
{
	static const char *const top[] = {
		"_index_template", "_template", "_component_template",
		"_ilm", "_ingest", "_alias", "_aliases", "_data_stream", NULL
	};
	static const char *const under_index[] = {
		"_alias", "_aliases", "_mapping", "_settings", NULL
	};
	char seg[PT_SEGS][256];
	size_t n;
	int get = is(req, "GET") || is(req, "HEAD");

	if (ih->passthrough == PASSTHROUGH_ALL)
		return 1;
	if (ih->passthrough == PASSTHROUGH_NONE ||
	    pt_segments(req->target, seg, &n) == -1 || n > 4)
		return 0;
	if (n == 0)
		return get;
	if (strcmp(seg[0], "_license") == 0 || strcmp(seg[0], "_xpack") == 0)
		return get && n == 1;
	if (strcmp(seg[0], "_cluster") == 0)
		return get && n >= 2 && strcmp(seg[1], "health") == 0;
	if (pt_in(seg[0], top))
		return is(req, "GET") || is(req, "HEAD") || is(req, "PUT") ||
		    (is(req, "POST") && strcmp(seg[0], "_aliases") == 0);
	if (seg[0][0] == '_')
		return 0;
	/* /{index}, /{index}/_alias/{name}, ... */
	if (n == 1)
		return get || is(req, "PUT");
	return pt_in(seg[1], under_index) && (get || is(req, "PUT"));
}

/* "/_bulk" or "/{index}/_bulk": the index (decoded) in buf, or NULL. */
static int
bulk_path(const char *path, char *buf, size_t len, const char **index)
{
	size_t plen = strlen(path), ilen;

	*index = NULL;
	if (strcmp(path, "/_bulk") == 0)
		return 1;
	if (plen > 7 && strcmp(path + plen - 6, "/_bulk") == 0 &&
	    path[0] == '/') {
		ilen = plen - 7;
		if (ilen == 0 || ilen >= len || memchr(path + 1, '/', ilen))
			return 0;
		memcpy(buf, path + 1, ilen);
		buf[ilen] = '\0';
		*index = buf;
		return 1;
	}
	return 0;
}

static void
ingest_http_handle(struct http_request *req, void *arg)
{
	struct ingest_http *ih = arg;
	const char *index;
	char ibuf[256];
	int bulk;

	/* With ingest_auth, nothing is written or passed on without it. */
	if (ih->auth != NULL && !auth_check(ih->auth,
	    http_header(req, "Authorization"), clock_now_ns())) {
		ih->c.auth_refused++;
		es_error_headers(req, 401, "security_exception", "missing or "
		    "wrong credentials for spillway's HTTP ingest",
		    "WWW-Authenticate: Basic realm=\"spillway\", ApiKey\r\n");
		return;
	}
	bulk = bulk_path(req->path, ibuf, sizeof(ibuf), &index);
	/* What spillway answers itself: compatible-with a version it has. */
	if ((bulk || strcmp(req->path, "/ingest") == 0 || !ih->proxy ||
	    strncmp(req->path, "/_nodes", 7) == 0) && es_compat(req) == -1) {
		char msg[600];
		const char *a = http_header(req, "Accept");
		const char *c = http_header(req, "Content-Type");

		snprintf(msg, sizeof(msg), "A compatible version must be 7, 8 "
		    "or 9. Accept=%.200s, Content-Type=%.200s", a ? a : "null",
		    c ? c : "null");
		es_error(req, 406, "media_type_header_exception", msg);
		return;
	}

	if (bulk) {
		if (is(req, "POST") || is(req, "PUT"))
			ingest_http_bulk(ih, req, index);
		else
			es_error(req, 405, "method_not_allowed",
			    "_bulk takes POST or PUT");
		return;
	}
	if (strcmp(req->path, "/ingest") == 0) {
		if (is(req, "POST") || is(req, "PUT"))
			ingest_http_ingest(ih, req);
		else
			http_respond(req, 405, "application/json",
			    "{\"error\":\"use POST\"}", 19, "Allow: POST\r\n");
		return;
	}
	if (ih->proxy && strncmp(req->path, "/_nodes", 7) != 0) {
		if (!passthrough_allowed(ih, req)) {
			char msg[400];

			ih->c.passthrough_refused++;
			snprintf(msg, sizeof(msg), "spillway passes [%.16s %.200s] "
			    "on to the cluster only with http.passthrough "
			    "\"all\"", req->method, req->target);
			es_error(req, 403, "security_exception", msg);
			return;
		}
		ingest_http_proxy(ih, req);
		return;
	}
	ingest_http_es(ih, req);
}


struct ingest_http *
ingest_http_new(struct event_base *base, int fd, const struct config *cf,
    struct shaper *sh)
{
	struct http_limits lim;
	struct ingest_http *ih;
	char err[300];
	int none;

	if ((ih = calloc(1, sizeof(*ih))) == NULL)
		return NULL;
	ih->base = base;
	ih->cf = cf;
	ih->sh = sh;
	TAILQ_INIT(&ih->waits);
	ih->passthrough = cf->http_passthrough;
	if (cf->ingest_auth != NULL &&
	    (ih->auth = auth_new(cf->ingest_auth, err, sizeof(err))) == NULL) {
		log_err("http: %s", err);
		free(ih);
		return NULL;
	}
	if ((ih->root = es_root_doc(cf->http_es_version)) == NULL) {
		free(ih);
		return NULL;
	}
	ih->caps = shaper_sink_caps(sh);
	if (ih->caps & SINK_CAP_UPSTREAM) {
		if (url_parse(cf->sink_url, &ih->up, err, sizeof(err)) == -1) {
			log_err("http: %s", err);
			free(ih);
			return NULL;
		}
		ih->proxy = 1;
		if ((ih->up_auth = url_authorization(cf->sink_api_key,
		    ih->up.userinfo, &none)) == NULL && !none) {
			free(ih);
			return NULL;
		}
		if (ih->up.tls && (ih->ssl_ctx = tls_client(cf, err,
		    sizeof(err))) == NULL) {
			log_err("http: %s", err);
			free(ih);
			return NULL;
		}
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_header_bytes = 65536;
	lim.max_body_bytes = (size_t)cf->max_body_bytes;
	lim.max_connections = (size_t)cf->max_connections;
	lim.idle_timeout_ms = cf->idle_timeout_ms;
	lim.header_timeout_ms = cf->header_timeout_ms;
	lim.budget = 1;
	if ((ih->srv = http_server_new(base, fd, &lim, ingest_http_handle,
	    ih)) == NULL) {
		free(ih);
		return NULL;
	}
	return ih;
}

void
ingest_http_stop(struct ingest_http *ih)
{
	if (ih == NULL)
		return;
	ih->stopping = 1;
	http_server_stop(ih->srv);
}

void
ingest_http_free(struct ingest_http *ih)
{
	if (ih == NULL)
		return;
	ingest_http_finish(ih);
	http_server_free(ih->srv);
	if (ih->evcon != NULL)
		evhttp_connection_free(ih->evcon);
	if (ih->ssl_ctx != NULL)
		SSL_CTX_free(ih->ssl_ctx);
	free(ih->root);
	auth_free(ih->auth);
	free(ih->up_auth);
	free(ih);
}

void
ingest_http_tls(struct ingest_http *ih, SSL_CTX *ctx)
{
	http_server_tls(ih->srv, ctx);
}

void
ingest_http_report(const void *arg, struct stats_source *out)
{
	const struct ingest_http *ih = arg;

	stats_http_server(ih->srv, out);
	out->has |= STATS_CONNECTIONS | STATS_INGEST_HTTP;
	out->rejected_413 += ih->c.too_large;
	out->rejected_429 += ih->c.over_budget;
	out->unsupported = ih->c.unsupported;
	out->auth_refused = ih->c.auth_refused;
	out->passthrough_refused = ih->c.passthrough_refused;
	out->params_ignored = ih->c.params_ignored;
	out->waiting = ih->c.waiting;
	out->waiting_events = ih->c.waiting_events;
	out->ack_refused = ih->c.refused;
	out->deadlines = ih->c.deadlines;
	out->late_inflight = ih->c.late_inflight;
}

void
ingest_http_finish(struct ingest_http *ih)
{
	struct http_wait *w;

	if (ih == NULL)
		return;
	while ((w = TAILQ_FIRST(&ih->waits)) != NULL) {
		wait_give_up(w, "not delivered by spillway: shutting down; "
		    "send it again");
		wait_answer(w);
	}
}

size_t
ingest_http_unflushed(const struct ingest_http *ih)
{
	return ih != NULL ? http_server_unflushed(ih->srv) : 0;
}
