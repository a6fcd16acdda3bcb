/*
 * metrics: rendering only; every number here is kept elsewhere and handed
 * over: the shaper's snapshot (shaper_stats()), the sinks through their
 * table, the sources through what they report (stats.h).  /metrics is one
 * table of families, in the order they are written.  Label cardinality
 * is bounded by the class names and fixed label sets: per-key buckets
 * never become labels.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <event2/buffer.h>

#include <spillway/clock.h>
#include <spillway/reason.h>

#include "app.h"
#include "budget.h"
#include "config.h"
#include "fleet.h"
#include "metrics.h"
#include "override.h"
#include "record.h"
#include "shaper.h"
#include "sink.h"
#include "stats.h"

static const char *const listener_names[SHAPER_LISTENERS] = {
	"tcp", "http", "kafka"
};

/* What one rendering of /metrics reads, taken once. */
struct metrics_ctx {
	struct app		*app;
	struct shaper_stats	 st;
	struct stats_source	 src[STATS_SOURCES_MAX];
	size_t			 nsrc;
	unsigned		 has;		/* what the sources have */
};

/* One sample's second label: its value, and where the number is. */
struct metric_label {
	const char	*value;
	size_t		 off;
};

/* When a family is written. */
enum metric_when {
	METRIC_ALWAYS,		/* header and samples */
	METRIC_SAMPLES_IF,	/* header; samples if a source has `has` */
	METRIC_IF		/* nothing unless a source has `has` */
};

/*
 * One family: its header, when it is written, and how its samples are
 * read: render() with off (a field of the snapshot render() reads) or
 * the sources' fields named by labels.
 */
struct metric {
	const char		*name;
	const char		*type;
	const char		*help;
	void			(*render)(struct evbuffer *,
				    const struct metric *,
				    const struct metrics_ctx *);
	size_t			 off;
	unsigned		 has;		/* STATS_*: the sources it reads */
	enum metric_when	 when;
	const char		*label;		/* the second label's name */
	struct metric_label	 labels[5];	/* its values; NULL ends */
};

#define CLASS_FIELD(f)	offsetof(struct shaper_class_stats, f)
#define SHAPER_FIELD(f)	offsetof(struct shaper_stats, f)
#define SOURCE_FIELD(f)	offsetof(struct stats_source, f)

static uint64_t
u64_at(const void *base, size_t off)
{
	return *(const uint64_t *)((const char *)base + off);
}

static void
num(struct evbuffer *out, double v)
{
	if (isinf(v))
		evbuffer_add_printf(out, "+Inf\n");
	else
		evbuffer_add_printf(out, "%.17g\n", v);
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

/* -- the shaper's classes */

/* A counter of each class: the field at off. */
static void
class_u64(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct shaper_class_stats cs;
	size_t i;

	for (i = 0; i < x->st.nclasses; i++) {
		shaper_class_stats(x->app->sh, i, &cs);
		evbuffer_add_printf(out, "%s{class=\"%s\"} %llu\n", m->name,
		    cs.name, (unsigned long long)u64_at(&cs, m->off));
	}
}

static void
class_dropped(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct shaper_class_stats cs;
	size_t i, r;

	for (i = 0; i < x->st.nclasses; i++) {
		shaper_class_stats(x->app->sh, i, &cs);
		for (r = 0; r < REASON_MAX; r++)
			evbuffer_add_printf(out, "%s{class=\"%s\",reason="
			    "\"%s\"} %llu\n", m->name, cs.name,
			    reason_name((enum reason)r),
			    (unsigned long long)cs.dropped[r]);
	}
}

static void
class_lag(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct shaper_class_stats cs;
	char labels[RULES_NAME_MAX + 16];
	size_t i;

	for (i = 0; i < x->st.nclasses; i++) {
		shaper_class_stats(x->app->sh, i, &cs);
		snprintf(labels, sizeof(labels), "class=\"%s\"", cs.name);
		hist_render(out, m->name, labels, shaper_lag_bounds,
		    SHAPER_LAG_BUCKETS, cs.lag, cs.lag_count, cs.lag_sum);
	}
}

static void
class_rate(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct shaper_class_stats cs;
	size_t i;

	for (i = 0; i < x->st.nclasses; i++) {
		shaper_class_stats(x->app->sh, i, &cs);
		evbuffer_add_printf(out, "%s{class=\"%s\"} ", m->name, cs.name);
		num(out, cs.effective_rate);
	}
}

/* -- the shaper as a whole */

static void
shaper_parse_errors(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	size_t i;

	for (i = 0; i < SHAPER_LISTENERS; i++)
		evbuffer_add_printf(out, "%s{listener=\"%s\"} %llu\n", m->name,
		    listener_names[i],
		    (unsigned long long)x->st.parse_errors[i]);
}

static void
shaper_capacity_rate(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	evbuffer_add_printf(out, "%s ", m->name);
	num(out, x->st.capacity);
}

/* What the last control interval saw of the fleet (shaper_fleet()). */
static void
fleet_peers(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	const struct fleet_view *v = shaper_fleet(x->app->sh);

	evbuffer_add_printf(out, "%s %zu\n", m->name, v ? v->peers : 0);
}

/* A rate of the fleet view: the double at off; +Inf when unlimited. */
static void
fleet_rate(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	const struct fleet_view *v = shaper_fleet(x->app->sh);

	if (v == NULL)
		return;
	evbuffer_add_printf(out, "%s ", m->name);
	num(out, *(const double *)((const char *)v + m->off));
}

static void
shaper_backpressure(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	evbuffer_add_printf(out, "%s %d\n", m->name, x->st.backpressure);
}

/* A size_t of the snapshot: the field at off. */
static void
shaper_size(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	evbuffer_add_printf(out, "%s %zu\n", m->name,
	    *(const size_t *)((const char *)&x->st + m->off));
}

/* A uint64_t of the snapshot: the field at off. */
static void
shaper_u64(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	evbuffer_add_printf(out, "%s %llu\n", m->name,
	    (unsigned long long)u64_at(&x->st, m->off));
}

/* -- the sinks: main, then divert */

static void
sink_codes(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct sink *s[2] = { x->app->sink, x->app->divert };
	size_t i, k;

	for (k = 0; k < 2; k++)
		for (i = 0; s[k] != NULL && i < s[k]->req.ncodes; i++)
			evbuffer_add_printf(out, "%s{sink=\"%s\",code=\"%s\"} "
			    "%llu\n", m->name, s[k]->label,
			    s[k]->req.codes[i].code,
			    (unsigned long long)s[k]->req.codes[i].count);
}

static void
sink_durations(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	struct sink *s[2] = { x->app->sink, x->app->divert };
	char labels[64];
	size_t k;

	for (k = 0; k < 2; k++) {
		if (s[k] == NULL)
			continue;
		snprintf(labels, sizeof(labels), "sink=\"%s\"", s[k]->label);
		hist_render(out, m->name, labels, sink_hist_bounds,
		    SINK_HIST_BUCKETS, s[k]->req.hist, s[k]->req.hist_count,
		    s[k]->req.hist_sum);
	}
}

/* The main sink's own series, its signals first. */
static void
sink_own(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	(void)m;
	if (x->app->sink != NULL)
		sink_metrics(x->app->sink, out);
}

/* -- the daemon */

static void
app_reloads(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	evbuffer_add_printf(out, "%s{result=\"ok\"} %llu\n"
	    "%s{result=\"error\"} %llu\n", m->name,
	    (unsigned long long)x->app->reloads_ok, m->name,
	    (unsigned long long)x->app->reloads_error);
}

static void
budget_limit_bytes(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	(void)x;
	evbuffer_add_printf(out, "%s %llu\n", m->name,
	    (unsigned long long)budget_limit());
}

static void
budget_parts(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	int part;

	(void)x;
	for (part = 0; part < BUDGET_PARTS; part++)
		evbuffer_add_printf(out, "%s{part=\"%s\"} %zu\n", m->name,
		    budget_part_name(part), budget_part_used(part));
}

static void
budget_peak_bytes(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	(void)x;
	evbuffer_add_printf(out, "%s %llu\n", m->name,
	    (unsigned long long)budget_peak());
}

/* -- the sources */

/*
 * Each source that has the family, labelled by its listener: the field
 * at off, or one sample for each of the family's labels.
 */
static void
source_each(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	const struct metric_label *l;
	size_t i;

	for (i = 0; i < x->nsrc; i++) {
		if (!(x->src[i].has & m->has))
			continue;
		if (m->label == NULL) {
			evbuffer_add_printf(out, "%s{listener=\"%s\"} %llu\n",
			    m->name, x->src[i].name,
			    (unsigned long long)u64_at(&x->src[i], m->off));
			continue;
		}
		for (l = m->labels; l->value != NULL; l++)
			evbuffer_add_printf(out, "%s{listener=\"%s\",%s=\"%s\"} "
			    "%llu\n", m->name, x->src[i].name, m->label,
			    l->value,
			    (unsigned long long)u64_at(&x->src[i], l->off));
	}
}

static uint64_t
source_sum(const struct metrics_ctx *x, unsigned has, size_t off)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < x->nsrc; i++)
		if (x->src[i].has & has)
			sum += u64_at(&x->src[i], off);
	return sum;
}

/*
 * What the sources that have the family counted together, unlabelled:
 * the field at off, or one sample for each of the family's labels.
 */
static void
source_total(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	const struct metric_label *l;

	if (m->label == NULL) {
		evbuffer_add_printf(out, "%s %llu\n", m->name,
		    (unsigned long long)source_sum(x, m->has, m->off));
		return;
	}
	for (l = m->labels; l->value != NULL; l++)
		evbuffer_add_printf(out, "%s{%s=\"%s\"} %llu\n", m->name,
		    m->label, l->value,
		    (unsigned long long)source_sum(x, m->has, l->off));
}

static void
source_loops(struct evbuffer *out, const struct metric *m,
    const struct metrics_ctx *x)
{
	size_t i, k;

	for (i = 0; i < x->nsrc; i++) {
		if (!(x->src[i].has & STATS_LOOPS))
			continue;
		for (k = 0; k < x->src[i].nloops; k++)
			evbuffer_add_printf(out, "%s{loop=\"%zu\"} %llu\n",
			    m->name, k, (unsigned long long)
			    x->src[i].loop_connections[k]);
	}
}

#define REFUSED_LABELS	{ { "limit", SOURCE_FIELD(refused_limit) }, \
			  { "descriptors", SOURCE_FIELD(refused_descriptors) }, \
			  { NULL, 0 } }
#define REJECTED_LABELS	{ { "413", SOURCE_FIELD(rejected_413) }, \
			  { "400", SOURCE_FIELD(rejected_400) }, \
			  { "408", SOURCE_FIELD(rejected_408) }, \
			  { "429", SOURCE_FIELD(rejected_429) } }
#define SLOW_LABELS	{ { "header", SOURCE_FIELD(slow_header) }, \
			  { "body", SOURCE_FIELD(slow_body) }, { NULL, 0 } }
#define COMMIT_LABELS	{ { "ok", SOURCE_FIELD(commits) }, \
			  { "error", SOURCE_FIELD(commit_errors) }, \
			  { NULL, 0 } }

/* A counter or gauge that every HTTP ingest listener adds to. */
#define INGEST_HTTP(n, t, h, f) { n, t, h, source_total, SOURCE_FIELD(f), \
	STATS_INGEST_HTTP, METRIC_IF, NULL, { { NULL, 0 } } }
#define KAFKA_SOURCE(n, t, h, f) { n, t, h, source_total, SOURCE_FIELD(f), \
	STATS_KAFKA_SOURCE, METRIC_IF, NULL, { { NULL, 0 } } }
#define FLEET_LABELS	{ { "published", SOURCE_FIELD(fleet_published) }, \
			  { "unpublished", SOURCE_FIELD(fleet_unpublished) }, \
			  { "received", SOURCE_FIELD(fleet_received) }, \
			  { "refused", SOURCE_FIELD(fleet_refused) } }
#define FLEET(n, h, fn, off) { n, "gauge", h, fn, off, STATS_FLEET, \
	METRIC_IF, NULL, { { NULL, 0 } } }
#define SHAPER(n, t, h, fn, off) { n, t, h, fn, off, 0, METRIC_ALWAYS, \
	NULL, { { NULL, 0 } } }

static const struct metric metrics[] = {
	SHAPER("spillway_events_received_total", "counter",
	    "Events received, by class.", class_u64, CLASS_FIELD(received)),
	SHAPER("spillway_events_forwarded_total", "counter",
	    "Events acknowledged by the sink, by class.", class_u64,
	    CLASS_FIELD(forwarded)),
	SHAPER("spillway_events_dropped_total", "counter",
	    "Events dropped, by class and reason.", class_dropped, 0),
	SHAPER("spillway_events_diverted_total", "counter",
	    "Dropped events sent to the divert sink, by class.", class_u64,
	    CLASS_FIELD(diverted)),
	SHAPER("spillway_events_queued", "gauge",
	    "Events waiting in the queue, by class.", class_u64,
	    CLASS_FIELD(queued)),
	SHAPER("spillway_events_inflight", "gauge",
	    "Events handed to the sink and not yet acknowledged, by class.",
	    class_u64, CLASS_FIELD(inflight)),
	SHAPER("spillway_event_lag_seconds", "histogram",
	    "Time from an event's arrival to its final outcome (forwarded, "
	    "or dropped after it was queued), by class.", class_lag, 0),
	SHAPER("spillway_regex_limit_total", "counter",
	    "Regex runs that hit the PCRE2 match limit, by class.", class_u64,
	    CLASS_FIELD(regex_limit)),
	SHAPER("spillway_parse_errors_total", "counter",
	    "Lines that were not one valid JSON object, by listener.",
	    shaper_parse_errors, 0),
	SHAPER("spillway_capacity_events_per_second", "gauge",
	    "Rate admitted by the controller (+Inf when unlimited).",
	    shaper_capacity_rate, 0),
	SHAPER("spillway_backpressure", "gauge",
	    "1 while the sink pushes back.", shaper_backpressure, 0),
	SHAPER("spillway_class_rate_events_per_second", "gauge",
	    "Effective rate each class is held to.", class_rate, 0),
	SHAPER("spillway_queue_events", "gauge", "Events queued.",
	    shaper_size, SHAPER_FIELD(queue_events)),
	SHAPER("spillway_queue_bytes", "gauge", "Bytes queued.",
	    shaper_size, SHAPER_FIELD(queue_bytes)),
	SHAPER("spillway_sink_requests_total", "counter",
	    "Requests to a sink, by sink and result code.", sink_codes, 0),
	SHAPER("spillway_sink_request_duration_seconds", "histogram",
	    "Duration of sink requests.", sink_durations, 0),
	SHAPER("spillway_sink_pressure_signals_total", "counter",
	    "Back-pressure seen from the sink, by signal.", sink_own, 0),

	KAFKA_SOURCE("spillway_kafka_source_messages_total", "counter",
	    "Kafka messages read and offered (each may hold several lines).",
	    messages),
	KAFKA_SOURCE("spillway_kafka_source_partitions", "gauge",
	    "Partitions assigned to this instance now.", partitions),
	KAFKA_SOURCE("spillway_kafka_source_paused", "gauge",
	    "Whether consumption is paused because the sink cannot take more.",
	    paused),
	KAFKA_SOURCE("spillway_kafka_source_undecided_events", "gauge",
	    "Events read from Kafka whose fate is not final yet.", undecided),
	{ "spillway_kafka_source_commits_total", "counter",
	    "Offset commits, by result.", source_total, 0,
	    STATS_KAFKA_SOURCE, METRIC_IF, "result", COMMIT_LABELS },
	KAFKA_SOURCE("spillway_kafka_source_rewinds_total", "counter",
	    "Partitions sought back to a message the sink failed.", rewinds),
	KAFKA_SOURCE("spillway_kafka_source_paced_total", "counter",
	    "Reads held back to the admitted rate (Kafka keeps the backlog).",
	    paced),
	KAFKA_SOURCE("spillway_kafka_source_rebalances_total", "counter",
	    "Partition revocations handled.", rebalances),

	{ "spillway_fleet_reports_total", "counter",
	    "Fleet reports, by result: this instance's published or not "
	    "(unpublished), the others' received, and messages on the topic "
	    "that are not reports (refused).", source_total, 0, STATS_FLEET,
	    METRIC_IF, "result", FLEET_LABELS },
	FLEET("spillway_fleet_peers",
	    "Other instances heard from within fleet.stale_ms.", fleet_peers,
	    0),
	FLEET("spillway_fleet_capacity_events_per_second",
	    "The fleet's capacity: the sum of every instance's (+Inf when "
	    "one is unlimited).", fleet_rate,
	    offsetof(struct fleet_view, capacity)),
	FLEET("spillway_fleet_demand_events_per_second",
	    "The fleet's demand, every priority.", fleet_rate,
	    offsetof(struct fleet_view, demand)),
	FLEET("spillway_fleet_share_events_per_second",
	    "What the fleet rule lets this instance admit.", fleet_rate,
	    offsetof(struct fleet_view, share)),

	SHAPER("spillway_rules_reloads_total", "counter",
	    "Rule reloads, by result.", app_reloads, 0),
	SHAPER("spillway_rules_revision", "gauge",
	    "Revision of the rules in force.", shaper_u64,
	    SHAPER_FIELD(revision)),
	SHAPER("spillway_overrides_active", "gauge",
	    "Timed overrides in force (POST /overrides).", shaper_size,
	    SHAPER_FIELD(overrides)),
	SHAPER("spillway_memory_budget_bytes", "gauge",
	    "The memory budget for events and requests (queue.max_bytes).",
	    budget_limit_bytes, 0),
	SHAPER("spillway_memory_used_bytes", "gauge",
	    "Memory counted against the budget, by part: queued events, "
	    "other events (in flight, diverted), HTTP requests (bodies, "
	    "inflated bodies, parsed items, waiting answers), sink batches.",
	    budget_parts, 0),
	SHAPER("spillway_memory_peak_bytes", "gauge",
	    "The most memory ever counted against the budget at once.",
	    budget_peak_bytes, 0),

	{ "spillway_connections", "gauge",
	    "Open client connections, by listener.", source_each,
	    SOURCE_FIELD(connections), STATS_CONNECTIONS, METRIC_SAMPLES_IF,
	    NULL, { { NULL, 0 } } },
	{ "spillway_tcp_loop_connections", "gauge",
	    "Open TCP connections by event loop: 0 is the main loop, "
	    "1 to N-1 the workers.", source_loops, 0, STATS_LOOPS, METRIC_IF,
	    NULL, { { NULL, 0 } } },
	{ "spillway_tcp_connections_moved_total", "counter",
	    "TCP connections moved between event loops to even out "
	    "their load.", source_total, SOURCE_FIELD(moved), STATS_LOOPS,
	    METRIC_IF, NULL, { { NULL, 0 } } },
	{ "spillway_connections_refused_total", "counter",
	    "Connections closed at once, by listener and reason: limit "
	    "(its max_connections), descriptors (kept free for the admin "
	    "port).", source_each, 0, STATS_REFUSED, METRIC_SAMPLES_IF,
	    "reason", REFUSED_LABELS },
	{ "spillway_http_requests_rejected_total", "counter",
	    "HTTP requests refused for their framing, size or slowness, or "
	    "for the memory budget (429), by listener and status code.",
	    source_each, 0, STATS_HTTP, METRIC_SAMPLES_IF, "code",
	    REJECTED_LABELS },
	{ "spillway_http_slow_clients_total", "counter",
	    "HTTP connections closed (408) for a header block slower than "
	    "limits.header_timeout_ms, or a body under the minimum rate.",
	    source_each, 0, STATS_HTTP, METRIC_SAMPLES_IF, "reason",
	    SLOW_LABELS },
	{ "spillway_tcp_partial_lines_total", "counter",
	    "Lines cut short by a disconnect (still classified).",
	    source_total, SOURCE_FIELD(partial), STATS_TCP, METRIC_SAMPLES_IF,
	    NULL, { { NULL, 0 } } },
	{ "spillway_bulk_items_unsupported_total", "counter",
	    "Bulk update/delete items refused: the sink is not Elasticsearch.",
	    source_total, SOURCE_FIELD(unsupported), STATS_INGEST_HTTP,
	    METRIC_ALWAYS, NULL, { { NULL, 0 } } },
	INGEST_HTTP("spillway_http_auth_refused_total", "counter",
	    "HTTP ingest requests refused (401) for missing or wrong "
	    "credentials.", auth_refused),
	INGEST_HTTP("spillway_passthrough_refused_total", "counter",
	    "Requests for the cluster refused (403) by http.passthrough.",
	    passthrough_refused),
	INGEST_HTTP("spillway_bulk_params_ignored_total", "counter",
	    "_bulk requests with parameters (pipeline, refresh, ...) that "
	    "only an Elasticsearch sink can apply.", params_ignored),
	INGEST_HTTP("spillway_ack_waiting_requests", "gauge",
	    "HTTP requests waiting for their events' final outcome "
	    "(ack sink).", waiting),
	INGEST_HTTP("spillway_ack_waiting_events", "gauge",
	    "Events of the requests waiting for their answers.",
	    waiting_events),
	INGEST_HTTP("spillway_ack_refused_total", "counter",
	    "Requests answered 429 at once: the requests waiting for answers "
	    "held as much as the queue may.", ack_refused),
	INGEST_HTTP("spillway_ack_deadline_total", "counter",
	    "Requests answered when ack_timeout_ms passed, with events not "
	    "yet final (answered 503).", deadlines),
	INGEST_HTTP("spillway_ack_late_inflight_total", "counter",
	    "Events answered 503 at the deadline while the sink had them: "
	    "counted by what the sink does with them.", late_inflight),

	SHAPER("spillway_divert_lost_total", "counter",
	    "Shed events the divert sink could not take (still counted "
	    "as dropped).", shaper_u64, SHAPER_FIELD(divert_lost)),
};

void
metrics_render(struct app *app, struct evbuffer *out)
{
	struct metrics_ctx x;
	const struct metric *m;
	size_t i;
	int any;

	x.app = app;
	shaper_stats(app->sh, clock_now_ns(), &x.st);
	x.nsrc = stats_collect(&app->stats, x.src, STATS_SOURCES_MAX);
	x.has = 0;
	for (i = 0; i < x.nsrc; i++)
		x.has |= x.src[i].has;
	for (m = metrics; m < metrics + sizeof(metrics) / sizeof(metrics[0]);
	    m++) {
		any = m->has == 0 || (x.has & m->has) != 0;
		if (m->when == METRIC_IF && !any)
			continue;
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n",
		    m->name, m->help, m->name, m->type);
		if (m->when == METRIC_SAMPLES_IF && !any)
			continue;
		m->render(out, m, &x);
	}
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

/* "who is flooding us": a class's keys by shed count. */
static void
stats_top_keys(struct evbuffer *out, const struct sclass *c)
{
	char esc[KEYTAB_KEY_MAX * 6 + 1];
	struct shaper_keys k;
	size_t i, n;

	if (shaper_top_keys(c, &k) == -1)
		return;
	evbuffer_add_printf(out, ",\"keys\":%zu,\"key_evictions\":%llu,"
	    "\"top_shed_keys\":[", k.keys, (unsigned long long)k.evictions);
	for (i = 0; i < k.ntop; i++) {
		n = record_escape(esc, k.top[i].key, strlen(k.top[i].key));
		esc[n] = '\0';
		evbuffer_add_printf(out, "%s{\"key\":\"%s\",\"shed\":%llu,"
		    "\"seen\":%llu}", i ? "," : "", esc,
		    (unsigned long long)k.top[i].shed,
		    (unsigned long long)k.top[i].seen);
	}
	evbuffer_add_printf(out, "]");
}

static void
stats_sink(struct evbuffer *out, struct sink *s, uint64_t now)
{
	struct sink_stats st;

	if (s == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	sink_stats(s, &st, now);
	evbuffer_add_printf(out, "{\"url\":\"%s\",\"state\":\"%s\","
	    "\"pending\":%zu,\"pending_bytes\":%zu,\"pressure\":%s}",
	    sink_caps(s) & SINK_CAP_SHOW_URL ? s->url : s->ops->name,
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
stats_fleet(struct evbuffer *out, const struct shaper *sh,
    const struct shaper_stats *st)
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
	stats_num(out, st->control.capacity);
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

static void
stats_class(struct evbuffer *out, struct shaper *sh,
    const struct shaper_class_stats *c, int first)
{
	static const double lag_q[2] = { 0.5, 0.99 };
	double rt[3], lag[2];
	uint64_t lag_n;
	size_t r;
	int secs;

	evbuffer_add_printf(out, "%s\"%s\":{\"priority\":%d,"
	    "\"active\":%s,\"received\":%llu,\"forwarded\":%llu,"
	    "\"queued\":%llu,\"inflight\":%llu,\"diverted\":%llu,"
	    "\"regex_limit\":%llu,\"dropped\":{", first ? "" : ",", c->name,
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
	stats_rate(out, "allocation", c->allocation);
	stats_rate(out, "effective_rate", c->effective_rate);
	stats_top_keys(out, c->cls);
	for (secs = 1; secs <= 10; secs += 9) {
		shaper_rates(sh, c->cls, secs, rt);
		evbuffer_add_printf(out, ",\"rate_%ds\":{\"received\":"
		    "%.1f,\"forwarded\":%.1f,\"dropped\":%.1f}", secs,
		    rt[0], rt[1], rt[2]);
	}
	shaper_lag_quantiles(sh, c->cls, 10, lag_q, 2, lag, &lag_n);
	evbuffer_add_printf(out, ",\"lag_10s\":{\"events\":%llu,"
	    "\"p50_ms\":%.1f,\"p99_ms\":%.1f}}",
	    (unsigned long long)lag_n, lag[0] * 1e3, lag[1] * 1e3);
}

void
metrics_stats(struct app *app, struct evbuffer *out)
{
	struct shaper_class_stats cs;
	struct shaper_stats st;
	uint64_t now = clock_now_ns();
	size_t i;
	int part;

	shaper_stats(app->sh, now, &st);
	evbuffer_add_printf(out, "{\"revision\":%llu,\"capacity\":",
	    (unsigned long long)st.revision);
	if (isinf(st.capacity))
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%.3f", st.capacity);
	evbuffer_add_printf(out, ",\"backpressure\":%s,\"uptime_s\":%.3f,"
	    "\"queue\":{\"events\":%zu,\"bytes\":%zu,\"max_events\":%zu,"
	    "\"max_bytes\":%zu},\"sink\":", st.backpressure ? "true" :
	    "false", (double)(now - app->started) / 1e9, st.queue_events,
	    st.queue_bytes, st.queue_max_events, st.queue_max_bytes);
	stats_sink(out, app->sink, now);
	evbuffer_add_printf(out, ",\"divert\":");
	stats_sink(out, app->divert, now);
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
	    app->cf->control_interval_ms, app->cf->target_latency_ms,
	    st.control.pressure ? "true" : "false", st.control.fwd_rate,
	    st.control.demand_rate, st.control.floor, st.control.ceiling,
	    (double)st.queue_age / 1e6,
	    (unsigned long long)st.control.decreases,
	    (unsigned long long)st.control.increases,
	    (unsigned long long)st.control.lifts);
	stats_fleet(out, app->sh, &st);
	evbuffer_add_printf(out, ",\"overrides\":");
	overrides_json(shaper_overrides(app->sh), now, out);
	evbuffer_add_printf(out, ",\"classes\":{");
	for (i = 0; i < st.nclasses; i++) {
		shaper_class_stats(app->sh, i, &cs);
		stats_class(out, app->sh, &cs, i == 0);
	}
	evbuffer_add_printf(out, "}}");
}
