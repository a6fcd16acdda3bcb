/*
 * metrics: rendering only; every number here is kept elsewhere.  Label
 * cardinality is bounded by the class names and fixed label sets: per-key
 * buckets never become labels.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

#include <spillway/clock.h>
#include <spillway/reason.h>

#include "app.h"
#include "budget.h"
#include "config.h"
#include "fleet.h"
#include "http.h"
#include "ingest_http.h"
#include "ingest_kafka.h"
#include "ingest_tcp.h"
#include "metrics.h"
#include "shaper.h"
#include "sink.h"
#include "sink_es.h"
#include "sink_kafka.h"
#include "worker.h"
#include "keytab.h"
#include "record.h"

#define TOP_KEYS	10	/* per class in /stats */

static const char *const listener_names[SHAPER_LISTENERS] = {
	"tcp", "http", "kafka"
};

static void
family(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A family with one sample and no labels. */
static void
single(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
	family(out, name, type, help);
	evbuffer_add_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void
per_class(struct evbuffer *out, struct shaper *sh, const char *name,
    size_t off)
{
	size_t i;

	for (i = 0; i < sh->nclasses; i++) {
		struct sclass *c = sh->classes[i];

		evbuffer_add_printf(out, "%s{class=\"%s\"} %llu\n", name,
		    c->name, (unsigned long long)
		    *(const uint64_t *)((const char *)c + off));
	}
}

static void
num(struct evbuffer *out, double v)
{
	if (isinf(v))
		evbuffer_add_printf(out, "+Inf\n");
	else
		evbuffer_add_printf(out, "%.17g\n", v);
}

/* The rate a class is held to now: its own rate and its allocation. */
static double
class_rate(const struct shaper *sh, const struct sclass *c)
{
	double r = INFINITY;

	if (c->rule != NULL && c->rule->rate > 0 && !c->rule->weight_bytes)
		r = c->rule->rate;
	/* Its allocation, and what no class asked for, which it may use. */
	if (c != sh->internal && !isinf(sh->capacity) &&
	    c->alloc + sh->spare_rate < r)
		r = c->alloc + sh->spare_rate;
	return r;
}

/* The TCP listener's counters, over the main loop and the workers. */
static struct ingest_tcp_counters
tcp_counters(struct app *app)
{
	struct ingest_tcp_counters sum = *ingest_tcp_counters(app->tcp);

	workers_counters(app->workers, &sum);
	return sum;
}

static void
kafka_source_metrics(struct evbuffer *out,
    const struct ingest_kafka_counters *k)
{
	single(out, "spillway_kafka_source_messages_total", "counter",
	    "Kafka messages read and offered (each may hold several lines).",
	    k->messages);
	single(out, "spillway_kafka_source_partitions", "gauge",
	    "Partitions assigned to this instance now.", k->assigned);
	single(out, "spillway_kafka_source_paused", "gauge",
	    "Whether consumption is paused because the sink cannot take more.",
	    (uint64_t)k->paused);
	single(out, "spillway_kafka_source_undecided_events", "gauge",
	    "Events read from Kafka whose fate is not final yet.",
	    k->undecided);
	family(out, "spillway_kafka_source_commits_total", "counter",
	    "Offset commits, by result.");
	evbuffer_add_printf(out, "spillway_kafka_source_commits_total"
	    "{result=\"ok\"} %llu\nspillway_kafka_source_commits_total"
	    "{result=\"error\"} %llu\n", (unsigned long long)k->commits,
	    (unsigned long long)k->commit_errors);
	single(out, "spillway_kafka_source_rewinds_total", "counter",
	    "Partitions sought back to a message the sink failed.",
	    k->rewinds);
	single(out, "spillway_kafka_source_paced_total", "counter",
	    "Reads held back to the admitted rate (Kafka keeps the backlog).",
	    k->paced);
	single(out, "spillway_kafka_source_rebalances_total", "counter",
	    "Partition revocations handled.", k->revokes);
}

/*
 * One Prometheus histogram series: name_bucket{labels,le=...} for n
 * bounds and +Inf from per-bucket counts[0..n], then _sum and _count.
 * labels is `key="value"` text, borrowed.
 */
static void
hist_render(struct evbuffer *out, const char *name, const char *labels,
    const double *bounds, size_t n, const uint64_t *counts, uint64_t count,
    double sum)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		cum += counts[i];
		evbuffer_add_printf(out, "%s_bucket{%s,le=\"%g\"} %llu\n", name,
		    labels, bounds[i], (unsigned long long)cum);
	}
	evbuffer_add_printf(out, "%s_bucket{%s,le=\"+Inf\"} %llu\n"
	    "%s_sum{%s} %.9g\n%s_count{%s} %llu\n", name, labels,
	    (unsigned long long)count, name, labels, sum, name, labels,
	    (unsigned long long)count);
}

static void
sink_metrics(struct evbuffer *out, struct sink *s, int part)
{
	const struct sink_requests *r;
	char labels[64];
	size_t i;

	if (s == NULL)
		return;
	r = &s->req;
	if (part == 0) {
		for (i = 0; i < r->ncodes; i++)
			evbuffer_add_printf(out, "spillway_sink_requests_total"
			    "{sink=\"%s\",code=\"%s\"} %llu\n", s->label,
			    r->codes[i].code,
			    (unsigned long long)r->codes[i].count);
		return;
	}
	snprintf(labels, sizeof(labels), "sink=\"%s\"", s->label);
	hist_render(out, "spillway_sink_request_duration_seconds", labels,
	    sink_hist_bounds, SINK_HIST_BUCKETS, r->hist, r->hist_count,
	    r->hist_sum);
}

static void
lag_metrics(struct evbuffer *out, const struct sclass *c)
{
	char labels[RULES_NAME_MAX + 16];

	snprintf(labels, sizeof(labels), "class=\"%s\"", c->name);
	hist_render(out, "spillway_event_lag_seconds", labels,
	    shaper_lag_bounds, SHAPER_LAG_BUCKETS, c->lag, c->lag_count,
	    c->lag_sum);
}

static void
refused(struct evbuffer *out, const char *listener, uint64_t limit,
    uint64_t descriptors)
{
	evbuffer_add_printf(out, "spillway_connections_refused_total"
	    "{listener=\"%s\",reason=\"limit\"} %llu\n"
	    "spillway_connections_refused_total"
	    "{listener=\"%s\",reason=\"descriptors\"} %llu\n", listener,
	    (unsigned long long)limit, listener,
	    (unsigned long long)descriptors);
}

/*
 * The refusals of one HTTP listener; too_large and over_budget: its
 * handler's own 413s and 429s.
 */
static void
http_rejected(struct evbuffer *out, const char *listener,
    const struct http_counters *hc, uint64_t too_large, uint64_t over_budget)
{
	evbuffer_add_printf(out, "spillway_http_requests_rejected_total"
	    "{listener=\"%s\",code=\"413\"} %llu\n"
	    "spillway_http_requests_rejected_total"
	    "{listener=\"%s\",code=\"400\"} %llu\n"
	    "spillway_http_requests_rejected_total"
	    "{listener=\"%s\",code=\"408\"} %llu\n"
	    "spillway_http_requests_rejected_total"
	    "{listener=\"%s\",code=\"429\"} %llu\n",
	    listener, (unsigned long long)(hc->too_large + too_large),
	    listener, (unsigned long long)hc->bad_request,
	    listener, (unsigned long long)hc->timeouts,
	    listener, (unsigned long long)(hc->over_budget + over_budget));
}

/* The HTTP ingest listeners: plain, then TLS. */
struct http_listener {
	const char		*name;
	struct ingest_http	*ih;
};

static size_t
http_listeners(const struct app *app, struct http_listener l[2])
{
	size_t n = 0;

	if (app->http != NULL)
		l[n++] = (struct http_listener){ "http", app->http };
	if (app->https != NULL)
		l[n++] = (struct http_listener){ "https", app->https };
	return n;
}

/* What the HTTP ingest listeners' handlers counted, together. */
static struct ingest_http_counters
http_sum(const struct app *app)
{
	struct http_listener l[2];
	struct ingest_http_counters t;
	size_t i, n = http_listeners(app, l);

	memset(&t, 0, sizeof(t));
	for (i = 0; i < n; i++) {
		const struct ingest_http_counters *c =
		    ingest_http_counters(l[i].ih);

		t.unsupported += c->unsupported;
		t.waiting += c->waiting;
		t.waiting_events += c->waiting_events;
		t.refused += c->refused;
		t.over_budget += c->over_budget;
		t.deadlines += c->deadlines;
		t.late_inflight += c->late_inflight;
		t.params_ignored += c->params_ignored;
		t.passthrough_refused += c->passthrough_refused;
		t.auth_refused += c->auth_refused;
		t.too_large += c->too_large;
	}
	return t;
}

/* Of those, the connections closed for their slowness, by what. */
static void
http_slow(struct evbuffer *out, const char *listener,
    const struct http_counters *hc)
{
	evbuffer_add_printf(out, "spillway_http_slow_clients_total"
	    "{listener=\"%s\",reason=\"header\"} %llu\n"
	    "spillway_http_slow_clients_total"
	    "{listener=\"%s\",reason=\"body\"} %llu\n",
	    listener, (unsigned long long)hc->header_timeouts,
	    listener, (unsigned long long)hc->slow_bodies);
}

void
metrics_render(struct app *app, struct evbuffer *out)
{
	struct shaper *sh = app->sh;
	struct http_listener hl[2];
	size_t nl = http_listeners(app, hl), li;
	struct ingest_http_counters hsum = http_sum(app);
	size_t i, r;
	int part;

	shaper_sync(sh);

	family(out, "spillway_events_received_total", "counter",
	    "Events received, by class.");
	per_class(out, sh, "spillway_events_received_total",
	    offsetof(struct sclass, received));
	family(out, "spillway_events_forwarded_total", "counter",
	    "Events acknowledged by the sink, by class.");
	per_class(out, sh, "spillway_events_forwarded_total",
	    offsetof(struct sclass, forwarded));
	family(out, "spillway_events_dropped_total", "counter",
	    "Events dropped, by class and reason.");
	for (i = 0; i < sh->nclasses; i++)
		for (r = 0; r < REASON_MAX; r++)
			evbuffer_add_printf(out, "spillway_events_dropped_total"
			    "{class=\"%s\",reason=\"%s\"} %llu\n",
			    sh->classes[i]->name, reason_name((enum reason)r),
			    (unsigned long long)sh->classes[i]->dropped[r]);
	family(out, "spillway_events_diverted_total", "counter",
	    "Dropped events sent to the divert sink, by class.");
	per_class(out, sh, "spillway_events_diverted_total",
	    offsetof(struct sclass, diverted));
	family(out, "spillway_events_queued", "gauge",
	    "Events waiting in the queue, by class.");
	per_class(out, sh, "spillway_events_queued",
	    offsetof(struct sclass, queued));
	family(out, "spillway_events_inflight", "gauge",
	    "Events handed to the sink and not yet acknowledged, by class.");
	per_class(out, sh, "spillway_events_inflight",
	    offsetof(struct sclass, inflight));
	family(out, "spillway_event_lag_seconds", "histogram",
	    "Time from an event's arrival to its final outcome (forwarded, "
	    "or dropped after it was queued), by class.");
	for (i = 0; i < sh->nclasses; i++)
		lag_metrics(out, sh->classes[i]);
	family(out, "spillway_regex_limit_total", "counter",
	    "Regex runs that hit the PCRE2 match limit, by class.");
	per_class(out, sh, "spillway_regex_limit_total",
	    offsetof(struct sclass, regex_limit));

	family(out, "spillway_parse_errors_total", "counter",
	    "Lines that were not one valid JSON object, by listener.");
	for (i = 0; i < SHAPER_LISTENERS; i++)
		evbuffer_add_printf(out, "spillway_parse_errors_total"
		    "{listener=\"%s\"} %llu\n", listener_names[i],
		    (unsigned long long)sh->parse_errors[i]);

	family(out, "spillway_capacity_events_per_second", "gauge",
	    "Rate admitted by the controller (+Inf when unlimited).");
	evbuffer_add_printf(out, "spillway_capacity_events_per_second ");
	num(out, sh->capacity);
	family(out, "spillway_backpressure", "gauge",
	    "1 while the sink pushes back.");
	evbuffer_add_printf(out, "spillway_backpressure %d\n",
	    sh->backpressure);
	family(out, "spillway_class_rate_events_per_second", "gauge",
	    "Effective rate each class is held to.");
	for (i = 0; i < sh->nclasses; i++) {
		evbuffer_add_printf(out, "spillway_class_rate_events_per_second"
		    "{class=\"%s\"} ", sh->classes[i]->name);
		num(out, class_rate(sh, sh->classes[i]));
	}

	family(out, "spillway_queue_events", "gauge", "Events queued.");
	evbuffer_add_printf(out, "spillway_queue_events %zu\n", sh->q.events);
	family(out, "spillway_queue_bytes", "gauge", "Bytes queued.");
	evbuffer_add_printf(out, "spillway_queue_bytes %zu\n", sh->q.bytes);

	family(out, "spillway_sink_requests_total", "counter",
	    "Requests to a sink, by sink and result code.");
	sink_metrics(out, app->sink, 0);
	sink_metrics(out, app->divert, 0);
	family(out, "spillway_sink_request_duration_seconds", "histogram",
	    "Duration of sink requests.");
	sink_metrics(out, app->sink, 1);
	sink_metrics(out, app->divert, 1);

	family(out, "spillway_sink_pressure_signals_total", "counter",
	    "Back-pressure seen from the sink, by signal.");
	if (app->sink != NULL && app->sink->ops == &sink_es_ops) {
		struct sink_es_signals sg;

		sink_es_signals(app->sink, &sg);
		evbuffer_add_printf(out,
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"whole_rejected\"} %llu\n"
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"item_429\"} %llu\n"
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"slow\"} %llu\n"
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"saturated\"} %llu\n",
		    (unsigned long long)sg.whole_rejected,
		    (unsigned long long)sg.item_429,
		    (unsigned long long)sg.slow,
		    (unsigned long long)sg.saturated);
		family(out, "spillway_sink_retried_total", "counter",
		    "Records sent to the sink again after a retriable failure.");
		evbuffer_add_printf(out, "spillway_sink_retried_total"
		    "{sink=\"main\"} %llu\n", (unsigned long long)sg.retried);
		family(out, "spillway_sink_yielded_total", "counter",
		    "Records a retry backoff handed back to the queue so that "
		    "priority 0 could go first.");
		evbuffer_add_printf(out, "spillway_sink_yielded_total"
		    "{sink=\"main\"} %llu\n", (unsigned long long)sg.yielded);
	}
	if (app->sink != NULL && app->sink->ops == &sink_kafka_ops) {
		struct sink_kafka_signals kg;

		sink_kafka_signals(app->sink, &kg);
		evbuffer_add_printf(out,
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"queue_full\"} %llu\n"
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"slow\"} %llu\n"
		    "spillway_sink_pressure_signals_total{sink=\"main\","
		    "signal=\"errors\"} %llu\n",
		    (unsigned long long)kg.queue_full,
		    (unsigned long long)kg.slow,
		    (unsigned long long)kg.errors);
	}
	if (app->kafka != NULL)
		kafka_source_metrics(out, ingest_kafka_counters(app->kafka));
	family(out, "spillway_rules_reloads_total", "counter",
	    "Rule reloads, by result.");
	evbuffer_add_printf(out, "spillway_rules_reloads_total{result=\"ok\"} "
	    "%llu\nspillway_rules_reloads_total{result=\"error\"} %llu\n",
	    (unsigned long long)app->reloads_ok,
	    (unsigned long long)app->reloads_error);
	family(out, "spillway_rules_revision", "gauge",
	    "Revision of the rules in force.");
	evbuffer_add_printf(out, "spillway_rules_revision %llu\n",
	    (unsigned long long)sh->revision);

	single(out, "spillway_memory_budget_bytes", "gauge",
	    "The memory budget for events and requests (queue.max_bytes).",
	    budget_limit());
	family(out, "spillway_memory_used_bytes", "gauge",
	    "Memory counted against the budget, by part: queued events, "
	    "other events (in flight, diverted), HTTP requests (bodies, "
	    "inflated bodies, parsed items, waiting answers), sink batches.");
	for (part = 0; part < BUDGET_PARTS; part++)
		evbuffer_add_printf(out, "spillway_memory_used_bytes"
		    "{part=\"%s\"} %zu\n", budget_part_name(part),
		    budget_part_used(part));
	single(out, "spillway_memory_peak_bytes", "gauge",
	    "The most memory ever counted against the budget at once.",
	    budget_peak());

	family(out, "spillway_connections", "gauge",
	    "Open client connections, by listener.");
	if (app->tcp != NULL)
		evbuffer_add_printf(out, "spillway_connections"
		    "{listener=\"tcp\"} %zu\n",
		    tcp_counters(app).connections);
	for (li = 0; li < nl; li++)
		evbuffer_add_printf(out, "spillway_connections"
		    "{listener=\"%s\"} %zu\n", hl[li].name,
		    http_server_counters(ingest_http_server(
		    hl[li].ih))->connections);
	if (app->tcp != NULL && app->workers != NULL) {
		int wi;

		family(out, "spillway_tcp_loop_connections", "gauge",
		    "Open TCP connections by event loop: 0 is the main loop, "
		    "1 to N-1 the workers.");
		evbuffer_add_printf(out, "spillway_tcp_loop_connections"
		    "{loop=\"0\"} %zu\n",
		    ingest_tcp_counters(app->tcp)->connections);
		for (wi = 0; wi < workers_count(app->workers); wi++)
			evbuffer_add_printf(out,
			    "spillway_tcp_loop_connections{loop=\"%d\"} %zu\n",
			    wi + 1, workers_connections(app->workers, wi));
		single(out, "spillway_tcp_connections_moved_total", "counter",
		    "TCP connections moved between event loops to even out "
		    "their load.", tcp_counters(app).moved_out);
	}
	family(out, "spillway_connections_refused_total", "counter",
	    "Connections closed at once, by listener and reason: limit "
	    "(its max_connections), descriptors (kept free for the admin "
	    "port).");
	if (app->tcp != NULL)
		refused(out, "tcp", tcp_counters(app).refused,
		    ingest_tcp_shed(app->tcp));
	for (li = 0; li < nl; li++)
		refused(out, hl[li].name, http_server_counters(
		    ingest_http_server(hl[li].ih))->refused,
		    http_server_shed(ingest_http_server(hl[li].ih)));
	if (app->admin != NULL)
		refused(out, "admin", http_server_counters(app->admin)->refused,
		    http_server_shed(app->admin));
	family(out, "spillway_http_requests_rejected_total", "counter",
	    "HTTP requests refused for their framing, size or slowness, or "
	    "for the memory budget (429), by listener and status code.");
	for (li = 0; li < nl; li++)
		http_rejected(out, hl[li].name,
		    http_server_counters(ingest_http_server(hl[li].ih)),
		    ingest_http_counters(hl[li].ih)->too_large,
		    ingest_http_counters(hl[li].ih)->over_budget);
	if (app->admin != NULL)
		http_rejected(out, "admin", http_server_counters(app->admin), 0,
		    0);
	family(out, "spillway_http_slow_clients_total", "counter",
	    "HTTP connections closed (408) for a header block slower than "
	    "limits.header_timeout_ms, or a body under the minimum rate.");
	for (li = 0; li < nl; li++)
		http_slow(out, hl[li].name,
		    http_server_counters(ingest_http_server(hl[li].ih)));
	if (app->admin != NULL)
		http_slow(out, "admin", http_server_counters(app->admin));
	family(out, "spillway_tcp_partial_lines_total", "counter",
	    "Lines cut short by a disconnect (still classified).");
	if (app->tcp != NULL)
		evbuffer_add_printf(out, "spillway_tcp_partial_lines_total %llu\n",
		    (unsigned long long)tcp_counters(app).partial);
	family(out, "spillway_bulk_items_unsupported_total", "counter",
	    "Bulk update/delete items refused: the sink is not Elasticsearch.");
	evbuffer_add_printf(out, "spillway_bulk_items_unsupported_total %llu\n",
	    (unsigned long long)hsum.unsupported);
	if (nl > 0) {
		const struct ingest_http_counters *ic = &hsum;

		single(out, "spillway_http_auth_refused_total", "counter",
		    "HTTP ingest requests refused (401) for missing or wrong "
		    "credentials.", ic->auth_refused);
		single(out, "spillway_passthrough_refused_total", "counter",
		    "Requests for the cluster refused (403) by "
		    "http.passthrough.", ic->passthrough_refused);
		single(out, "spillway_bulk_params_ignored_total", "counter",
		    "_bulk requests with parameters (pipeline, refresh, ...) "
		    "that only an Elasticsearch sink can apply.",
		    ic->params_ignored);
		single(out, "spillway_ack_waiting_requests", "gauge",
		    "HTTP requests waiting for their events' final outcome "
		    "(ack sink).", ic->waiting);
		single(out, "spillway_ack_waiting_events", "gauge",
		    "Events of the requests waiting for their answers.",
		    ic->waiting_events);
		single(out, "spillway_ack_refused_total", "counter",
		    "Requests answered 429 at once: the requests waiting "
		    "for answers held as much as the queue may.", ic->refused);
		single(out, "spillway_ack_deadline_total", "counter",
		    "Requests answered when ack_timeout_ms passed, with "
		    "events not yet final (answered 503).", ic->deadlines);
		single(out, "spillway_ack_late_inflight_total", "counter",
		    "Events answered 503 at the deadline while the sink had "
		    "them: counted by what the sink does with them.",
		    ic->late_inflight);
	}
	family(out, "spillway_divert_lost_total", "counter",
	    "Shed events the divert sink could not take (still counted "
	    "as dropped).");
	evbuffer_add_printf(out, "spillway_divert_lost_total %llu\n",
	    (unsigned long long)sh->divert_lost);
}

struct top_keys {
	struct {
		char		 key[KEYTAB_KEY_MAX + 1];
		uint64_t	 shed;
		uint64_t	 seen;
	}		 v[TOP_KEYS];
	size_t		 n;
};

/* Keep the TOP_KEYS keys with the most shed events, most first. */
static void
top_keys_add(const char *key, const struct keytab_entry *e, void *arg)
{
	struct top_keys *t = arg;
	size_t i;

	if (e->shed == 0)
		return;
	if (t->n == TOP_KEYS && e->shed <= t->v[TOP_KEYS - 1].shed)
		return;
	i = t->n < TOP_KEYS ? t->n++ : TOP_KEYS - 1;
	for (; i > 0 && t->v[i - 1].shed < e->shed; i--)
		t->v[i] = t->v[i - 1];
	snprintf(t->v[i].key, sizeof(t->v[i].key), "%s", key);
	t->v[i].shed = e->shed;
	t->v[i].seen = e->seen;
}

/* "who is flooding us": a class's keys by shed count. */
static void
stats_top_keys(struct evbuffer *out, struct sclass *c)
{
	char esc[KEYTAB_KEY_MAX * 6 + 1];
	struct top_keys t;
	size_t i, n;

	if (c->keys == NULL)
		return;
	t.n = 0;
	keytab_foreach(c->keys, top_keys_add, &t);
	evbuffer_add_printf(out, ",\"keys\":%zu,\"key_evictions\":%llu,"
	    "\"top_shed_keys\":[", keytab_count(c->keys),
	    (unsigned long long)keytab_evictions(c->keys));
	for (i = 0; i < t.n; i++) {
		n = record_escape(esc, t.v[i].key, strlen(t.v[i].key));
		esc[n] = '\0';
		evbuffer_add_printf(out, "%s{\"key\":\"%s\",\"shed\":%llu,"
		    "\"seen\":%llu}", i ? "," : "", esc,
		    (unsigned long long)t.v[i].shed,
		    (unsigned long long)t.v[i].seen);
	}
	evbuffer_add_printf(out, "]");
}

/* A rate, or null for unlimited. */
static void
stats_rate(struct evbuffer *out, const char *key, double v)
{
	if (isinf(v))
		evbuffer_add_printf(out, ",\"%s\":null", key);
	else
		evbuffer_add_printf(out, ",\"%s\":%.1f", key, v);
}

static void
stats_sink(struct evbuffer *out, struct sink *s)
{
	struct sink_stats st;

	if (s == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	sink_stats(s, &st, clock_now_ns());
	evbuffer_add_printf(out, "{\"url\":\"%s\",\"state\":\"%s\","
	    "\"pending\":%zu,\"pending_bytes\":%zu,\"pressure\":%s}",
	    strncmp(s->url, "file:", 5) == 0 || strcmp(s->url, "stdout") == 0 ||
	    strcmp(s->url, "null") == 0 ? s->url : s->ops->name,
	    st.up ? "up" : "down", st.pending, st.pending_bytes,
	    st.pressure ? "true" : "false");
}

/* A rate, or null when unlimited. */
static void
stats_num(struct evbuffer *out, double v)
{
	if (isinf(v))
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%.1f", v);
}

/* What this instance believes about its fleet; null when alone. */
static void
stats_fleet(struct evbuffer *out, const struct shaper *sh)
{
	const struct fleet_view *v = shaper_fleet(sh);
	int p, first = 1;

	evbuffer_add_printf(out, ",\"fleet\":");
	if (v == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	evbuffer_add_printf(out, "{\"peers\":%zu,\"capacity\":", v->peers);
	stats_num(out, v->capacity);
	evbuffer_add_printf(out, ",\"local_capacity\":");
	stats_num(out, sh->ctl.capacity);
	evbuffer_add_printf(out, ",\"share\":");
	stats_num(out, v->share);
	evbuffer_add_printf(out, ",\"demand\":%.1f,\"over\":%s,"
	    "\"margin_priority\":", v->demand, v->over < 0 ? "null" :
	    v->over ? "true" : "false");
	if (v->margin < 0)
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%d", v->margin);
	evbuffer_add_printf(out, ",\"margin_share\":%.4f,"
	    "\"demand_by_priority\":{", v->margin_share);
	for (p = 0; p < v->nprio; p++) {
		if (v->prio_demand[p] <= 0)
			continue;
		evbuffer_add_printf(out, "%s\"%d\":%.1f", first ? "" : ",", p,
		    v->prio_demand[p]);
		first = 0;
	}
	evbuffer_add_printf(out, "}}");
}

void
metrics_stats(struct app *app, struct evbuffer *out)
{
	static const double lag_q[2] = { 0.5, 0.99 };
	struct shaper *sh = app->sh;
	double rt[3], lag[2];
	uint64_t lag_n;
	size_t i, r;
	int part;

	shaper_sync(sh);
	evbuffer_add_printf(out, "{\"revision\":%llu,\"capacity\":",
	    (unsigned long long)sh->revision);
	if (isinf(sh->capacity))
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%.3f", sh->capacity);
	evbuffer_add_printf(out, ",\"backpressure\":%s,\"uptime_s\":%.3f,"
	    "\"queue\":{\"events\":%zu,\"bytes\":%zu,\"max_events\":%zu,"
	    "\"max_bytes\":%zu},\"sink\":", sh->backpressure ? "true" :
	    "false", (double)(clock_now_ns() - app->started) / 1e9,
	    sh->q.events, sh->q.bytes, sh->q.max_events, sh->q.max_bytes);
	stats_sink(out, app->sink);
	evbuffer_add_printf(out, ",\"divert\":");
	stats_sink(out, app->divert);
	evbuffer_add_printf(out, ",\"memory\":{\"budget\":%zu,\"used\":%zu,"
	    "\"peak\":%zu", budget_limit(), budget_used(), budget_peak());
	for (part = 0; part < BUDGET_PARTS; part++)
		evbuffer_add_printf(out, ",\"%s\":%zu", budget_part_name(part),
		    budget_part_used(part));
	evbuffer_add_printf(out, "}");
	evbuffer_add_printf(out, ",\"control\":{\"interval_ms\":%ld,"
	    "\"target_latency_ms\":%ld,\"pressure\":%s,"
	    "\"forwarded_rate\":%.1f,\"demand_rate\":%.1f,"
	    "\"floor\":%.1f,\"ceiling\":%.1f,\"queue_age_ms\":%.1f,"
	    "\"decreases\":%llu,\"increases\":%llu,\"lifts\":%llu}",
	    sh->cf->control_interval_ms, sh->cf->target_latency_ms,
	    sh->ctl.pressure ? "true" : "false", sh->ctl.fwd_rate,
	    sh->ctl.demand_rate, sh->ctl.floor, sh->ctl.ceiling,
	    (double)shaper_queue_age(sh, clock_now_ns()) / 1e6,
	    (unsigned long long)sh->ctl.decreases,
	    (unsigned long long)sh->ctl.increases,
	    (unsigned long long)sh->ctl.lifts);
	stats_fleet(out, sh);
	evbuffer_add_printf(out, ",\"classes\":{");
	for (i = 0; i < sh->nclasses; i++) {
		struct sclass *c = sh->classes[i];
		int secs;

		evbuffer_add_printf(out, "%s\"%s\":{\"priority\":%d,"
		    "\"active\":%s,\"received\":%llu,\"forwarded\":%llu,"
		    "\"queued\":%llu,\"inflight\":%llu,\"diverted\":%llu,"
		    "\"regex_limit\":%llu,\"dropped\":{", i ? "," : "", c->name,
		    c->priority, c->active ? "true" : "false",
		    (unsigned long long)c->received,
		    (unsigned long long)c->forwarded,
		    (unsigned long long)c->queued,
		    (unsigned long long)c->inflight,
		    (unsigned long long)c->diverted,
		    (unsigned long long)c->regex_limit);
		for (r = 0; r < REASON_MAX; r++)
			evbuffer_add_printf(out, "%s\"%s\":%llu", r ? "," : "",
			    reason_name((enum reason)r),
			    (unsigned long long)c->dropped[r]);
		evbuffer_add_printf(out, "},\"demand\":%.1f", c->demand);
		stats_rate(out, "allocation", isinf(sh->capacity) ?
		    INFINITY : c->alloc);
		stats_rate(out, "effective_rate", class_rate(sh, c));
		stats_top_keys(out, c);
		for (secs = 1; secs <= 10; secs += 9) {
			shaper_rates(sh, c, secs, rt);
			evbuffer_add_printf(out, ",\"rate_%ds\":{\"received\":"
			    "%.1f,\"forwarded\":%.1f,\"dropped\":%.1f}", secs,
			    rt[0], rt[1], rt[2]);
		}
		shaper_lag_quantiles(sh, c, 10, lag_q, 2, lag, &lag_n);
		evbuffer_add_printf(out, ",\"lag_10s\":{\"events\":%llu,"
		    "\"p50_ms\":%.1f,\"p99_ms\":%.1f}}",
		    (unsigned long long)lag_n, lag[0] * 1e3, lag[1] * 1e3);
	}
	evbuffer_add_printf(out, "}}");
}
