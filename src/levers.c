/*
 * levers: the incident levers on the admin API (levers.h).  Each answer
 * is small and built at once; only the tap streams, and it never waits
 * for its reader (tap.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include <spillway/clock.h>

#include "admin.h"
#include "app.h"
#include "history.h"
#include "http.h"
#include "levers.h"
#include "log.h"
#include "override.h"
#include "record.h"
#include "rules.h"
#include "shadow.h"
#include "shaper.h"
#include "tap.h"

/* The counters a history column was last sampled at. */
struct levers_prev {
	uint64_t	 received;
	uint64_t	 forwarded;
	uint64_t	 shed;
	uint64_t	 dropped;
};

struct levers {
	struct app		*app;
	struct tap		*tap;
	struct history		*hist;
	struct shadow		*shadow;	/* or NULL */
	uint64_t		 sampled_at;	/* ns */
	struct levers_prev	 prev[HISTORY_CLASSES];
};

/* One GET /tap subscriber's connection. */
struct levers_tap {
	struct levers		*lv;
	struct http_stream	*s;
	int			 id;
};

struct levers *
levers_new(struct app *app)
{
	struct levers *lv;

	if ((lv = calloc(1, sizeof(*lv))) == NULL)
		return NULL;
	lv->app = app;
	lv->sampled_at = clock_now_ns();
	if ((lv->tap = tap_new()) == NULL || (lv->hist = history_new()) ==
	    NULL) {
		levers_free(lv);
		return NULL;
	}
	shaper_set_tap(app->sh, lv->tap);
	return lv;
}

void
levers_free(struct levers *lv)
{
	if (lv == NULL)
		return;
	shaper_set_tap(lv->app->sh, NULL);
	shaper_set_shadow(lv->app->sh, NULL);
	tap_free(lv->tap);
	history_free(lv->hist);
	shadow_free(lv->shadow);
	free(lv);
}

/* Per second, from counters d apart over secs. */
static float
per_sec(uint64_t now, uint64_t then, double secs)
{
	return now > then ? (float)((double)(now - then) / secs) : 0;
}

/* One history sample: every class's rates over the last second. */
static void
levers_sample(struct levers *lv, uint64_t now, uint64_t wall)
{
	static const double q99 = 0.99;
	struct shaper *sh = lv->app->sh;
	struct shaper_class_stats cs;
	struct history_sample *hs;
	struct history_class *hc;
	struct levers_prev *p;
	struct shaper_stats st;
	uint64_t lag_n, dropped;
	double secs, p99;
	size_t i, r;
	int col;

	secs = now > lv->sampled_at ? (double)(now - lv->sampled_at) / 1e9 : 1;
	lv->sampled_at = now;
	shaper_stats(sh, now, &st);
	for (i = 0; i < st.nclasses; i++) {	/* columns first: then n */
		shaper_class_stats(sh, i, &cs);
		history_column(lv->hist, cs.name, cs.priority);
	}
	hs = history_next(lv->hist, wall / 1000000);
	hs->capacity = st.capacity;
	hs->backpressure = st.backpressure;
	hs->queued = st.queue_events;
	for (i = 0; i < st.nclasses; i++) {
		shaper_class_stats(sh, i, &cs);
		if ((col = history_column(lv->hist, cs.name, cs.priority)) ==
		    -1 || (size_t)col >= hs->n)
			continue;
		for (dropped = 0, r = 0; r < REASON_MAX; r++)
			dropped += cs.dropped[r];
		p = &lv->prev[col];
		hc = &hs->c[col];
		hc->received = per_sec(cs.received, p->received, secs);
		hc->forwarded = per_sec(cs.forwarded, p->forwarded, secs);
		hc->shed = per_sec(cs.dropped[REASON_BACKPRESSURE], p->shed,
		    secs);
		hc->dropped = per_sec(dropped, p->dropped, secs);
		shaper_lag_quantiles(sh, cs.cls, 1, &q99, 1, &p99, &lag_n);
		hc->lag_p99_ms = (float)(p99 * 1e3);
		p->received = cs.received;
		p->forwarded = cs.forwarded;
		p->shed = cs.dropped[REASON_BACKPRESSURE];
		p->dropped = dropped;
	}
}

void
levers_tick(struct levers *lv, uint64_t now, uint64_t wall)
{
	if (lv == NULL)
		return;
	levers_sample(lv, now, wall);
	tap_tick(lv->tap, now);
}

/* {"error":"msg"} with status. */
static void
reply_error(struct http_request *req, int status, const char *msg)
{
	char esc[6 * 512 + 1];
	size_t n = strlen(msg);

	n = record_escape(esc, msg, n < 512 ? n : 512);
	esc[n] = '\0';
	http_respond_json(req, status, "{\"error\":\"%s\"}", esc);
}

static int
is(const struct http_request *req, const char *m)
{
	return strcmp(req->method, m) == 0;
}

/* What an override does, for the log. */
static void
override_say(const struct override *o, char *buf, size_t len)
{
	switch (o->kind) {
	case OVERRIDE_RATE:
		snprintf(buf, len, "class %s capped at %g/s", o->class_name,
		    o->rate);
		break;
	case OVERRIDE_SHED:
		snprintf(buf, len, "priorities %d and above shed",
		    o->priority);
		break;
	case OVERRIDE_PRIORITY:
		snprintf(buf, len, "class %s at priority %d", o->class_name,
		    o->priority);
		break;
	}
}

static enum levers_answer
levers_overrides(struct levers *lv, struct http_request *req,
    int authorized)
{
	uint64_t now = clock_now_ns();
	struct evbuffer *buf;
	struct override o;
	char err[300], what[200];

	if (is(req, "GET") || is(req, "HEAD")) {
		if ((buf = evbuffer_new()) == NULL)
			return LEVERS_NOMEM;
		evbuffer_add_printf(buf, "{\"overrides\":");
		overrides_json(shaper_overrides(lv->app->sh), now, buf);
		evbuffer_add_printf(buf, "}");
		http_respond_buffer(req, 200, "application/json", buf, NULL);
		return LEVERS_DONE;
	}
	if (!is(req, "POST"))
		return LEVERS_METHOD;
	if (!authorized)
		return LEVERS_UNAUTHORIZED;
	if (override_parse(req->body ? req->body : "", req->body_len, now, &o,
	    err, sizeof(err)) == -1 ||
	    shaper_override_add(lv->app->sh, &o, err, sizeof(err)) == -1) {
		log_warn("override refused: %s", err);
		reply_error(req, 400, err);
		return LEVERS_DONE;
	}
	override_say(&o, what, sizeof(what));
	log_info("override %llu: %s for %.0f s%s%s%s",
	    (unsigned long long)o.id, what,
	    (double)(o.expires - o.created) / 1e9, o.force ? ", forced" : "",
	    o.reason[0] != '\0' ? ": " : "", o.reason);
	if ((buf = evbuffer_new()) == NULL)
		return LEVERS_NOMEM;
	override_json(&o, now, buf);
	http_respond_buffer(req, 201, "application/json", buf, NULL);
	return LEVERS_DONE;
}

static enum levers_answer
levers_override_end(struct levers *lv, struct http_request *req,
    const char *id, int authorized)
{
	unsigned long long n;
	char *end;

	if (!is(req, "DELETE"))
		return LEVERS_METHOD;
	if (!authorized)
		return LEVERS_UNAUTHORIZED;
	errno = 0;
	n = strtoull(id, &end, 10);
	if (*id < '0' || *id > '9' || *end != '\0' || errno != 0 ||
	    shaper_override_remove(lv->app->sh, n) == -1) {
		reply_error(req, 404, "no such override");
		return LEVERS_DONE;
	}
	log_info("override %llu ended early", n);
	http_respond_json(req, 200, "{\"id\":%llu,\"ended\":true}", n);
	return LEVERS_DONE;
}

/* Put s (NULL: none) in the shadow, in place of the candidate there was. */
static void
levers_candidate(struct levers *lv, struct shadow *s)
{
	shaper_set_shadow(lv->app->sh, s);
	shadow_free(lv->shadow);
	lv->shadow = s;
}

/* PUT /rules/shadow[?sample=N]: a new candidate, replacing the last. */
static enum levers_answer
levers_shadow_put(struct levers *lv, struct http_request *req)
{
	struct rules_error rerr;
	struct ruleset *rs;
	struct shadow *s;
	char q[32], *end;
	unsigned long sample = SHADOW_SAMPLE_DEFAULT;
	const char *v;

	if ((v = http_query(req, "sample", q, sizeof(q))) != NULL) {
		errno = 0;
		sample = strtoul(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    sample < 1 || sample > SHADOW_SAMPLE_MAX) {
			reply_error(req, 400, "sample must be 1 to 1000000 "
			    "(one event in N)");
			return LEVERS_DONE;
		}
	}
	if ((rs = rules_load_buffer(req->body ? req->body : "", req->body_len,
	    &rerr)) == NULL) {
		log_warn("shadow rules refused: %s", rerr.msg);
		admin_rules_error(req, 400, &rerr);
		return LEVERS_DONE;
	}
	if ((s = shadow_new(rs, (unsigned)sample, clock_now_ns())) == NULL)
		return LEVERS_NOMEM;
	levers_candidate(lv, s);
	log_info("shadow rules: %zu classes, one event in %lu",
	    shadow_rules(s)->nclasses, sample);
	http_respond_json(req, 200, "{\"sample\":%lu,\"classes\":%zu}", sample,
	    shadow_rules(s)->nclasses);
	return LEVERS_DONE;
}

/* POST /rules/shadow/promote: the candidate is put in force, as PUT. */
static enum levers_answer
levers_shadow_promote(struct levers *lv, struct http_request *req)
{
	const struct ruleset *rs;
	struct rules_error rerr;
	int persisted;

	if (lv->shadow == NULL) {
		reply_error(req, 409, "no shadow rules to promote");
		return LEVERS_DONE;
	}
	rs = shadow_rules(lv->shadow);
	switch (app_put_rules(lv->app, "promote", rs->text, rs->textlen, &rerr,
	    &persisted)) {
	case -1:
		admin_rules_error(req, 400, &rerr);
		return LEVERS_DONE;
	case -2:	/* in force nowhere: the file cannot be written */
		admin_rules_error(req, 500, &rerr);
		return LEVERS_DONE;
	}
	levers_candidate(lv, NULL);
	http_respond_json(req, 200, "{\"revision\":%llu,\"persisted\":%s}",
	    (unsigned long long)shaper_revision(lv->app->sh),
	    persisted ? "true" : "false");
	return LEVERS_DONE;
}

static enum levers_answer
levers_shadow(struct levers *lv, struct http_request *req, int authorized)
{
	struct evbuffer *buf;

	if (is(req, "GET") || is(req, "HEAD")) {
		if (lv->shadow == NULL) {
			reply_error(req, 404, "no shadow rules");
			return LEVERS_DONE;
		}
		if ((buf = evbuffer_new()) == NULL ||
		    shadow_json(lv->shadow, clock_now_ns(), buf) == -1) {
			if (buf != NULL)
				evbuffer_free(buf);
			return LEVERS_NOMEM;
		}
		http_respond_buffer(req, 200, "application/json", buf, NULL);
		return LEVERS_DONE;
	}
	if (!is(req, "PUT") && !is(req, "DELETE"))
		return LEVERS_METHOD;
	if (!authorized)
		return LEVERS_UNAUTHORIZED;
	if (is(req, "PUT"))
		return levers_shadow_put(lv, req);
	if (lv->shadow == NULL) {
		reply_error(req, 404, "no shadow rules");
		return LEVERS_DONE;
	}
	levers_candidate(lv, NULL);
	log_info("shadow rules removed");
	http_respond_json(req, 200, "{\"removed\":true}");
	return LEVERS_DONE;
}

/* The tap's hooks on a GET /tap connection. */
static int
tap_conn_write(void *arg, const char *buf, size_t len)
{
	struct levers_tap *lt = arg;

	if (http_stream_write(lt->s, buf, len) == 0)
		return 0;
	/* No memory for it: the tap forgets this reader, which goes. */
	http_stream_end(lt->s);
	free(lt);
	return -1;
}

static size_t
tap_conn_pending(void *arg)
{
	struct levers_tap *lt = arg;

	return http_stream_pending(lt->s);
}

static void
tap_conn_end(void *arg, const char *why)
{
	struct levers_tap *lt = arg;
	char line[96];
	int n;

	log_info("tap %d ended: %s", lt->id, why);
	n = snprintf(line, sizeof(line), "{\"tap\":{\"end\":\"%s\"}}\n", why);
	http_stream_write(lt->s, line, (size_t)n);
	http_stream_end(lt->s);
	free(lt);
}

/* The reader left first. */
static void
tap_conn_gone(void *arg)
{
	struct levers_tap *lt = arg;

	log_info("tap %d ended: the reader left", lt->id);
	tap_unsubscribe(lt->lv->tap, lt->id);
	free(lt);
}

/* The filter of GET /tap?class=C&outcome=O[,O]&limit=N, or an error. */
static const char *
tap_filter_of(struct levers *lv, struct http_request *req,
    struct tap_filter *f)
{
	char buf[RULES_NAME_MAX * 3 + 64], *tok, *save, *end;
	const char *v;
	unsigned long long n;
	int o;

	memset(f, 0, sizeof(*f));
	if ((v = http_query(req, "class", buf, sizeof(buf))) != NULL &&
	    *v != '\0') {
		if (strlen(v) > RULES_NAME_MAX || shaper_class(lv->app->sh,
		    v) == NULL)
			return "no such class";
		snprintf(f->class_name, sizeof(f->class_name), "%s", v);
	}
	if ((v = http_query(req, "outcome", buf, sizeof(buf))) != NULL &&
	    *v != '\0')
		for (tok = strtok_r(buf, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if ((o = tap_outcome_parse(tok)) == 0)
				return "outcome is forwarded, shed or "
				    "rejected";
			f->outcomes |= o;
		}
	if ((v = http_query(req, "limit", buf, sizeof(buf))) != NULL) {
		errno = 0;
		n = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    n < 1)
			return "limit is a number of events, at least 1";
		f->limit = n;
	}
	return NULL;
}

static enum levers_answer
levers_tap(struct levers *lv, struct http_request *req, int authorized)
{
	struct tap_filter f;
	struct levers_tap *lt;
	struct tap_out out;
	const char *err;

	if (!is(req, "GET"))
		return LEVERS_METHOD;
	if (!authorized)
		return LEVERS_UNAUTHORIZED;
	if ((err = tap_filter_of(lv, req, &f)) != NULL) {
		reply_error(req, 400, err);
		return LEVERS_DONE;
	}
	if (tap_subscribers(lv->tap) >= TAP_MAX) {
		reply_error(req, 503, "every tap is taken; try again later");
		return LEVERS_DONE;
	}
	if ((lt = calloc(1, sizeof(*lt))) == NULL)
		return LEVERS_NOMEM;
	lt->lv = lv;
	if ((lt->s = http_stream_start(req, 200, "application/x-ndjson",
	    tap_conn_gone, lt)) == NULL) {
		free(lt);
		return LEVERS_DONE;
	}
	out.write = tap_conn_write;
	out.pending = tap_conn_pending;
	out.end = tap_conn_end;
	out.arg = lt;
	lt->id = tap_subscribe(lv->tap, &f, &out, clock_now_ns());
	log_info("tap %d: class %s, outcome%s%s%s%s, limit %llu", lt->id,
	    f.class_name[0] != '\0' ? f.class_name : "(any)",
	    f.outcomes == 0 ? " (any)" : "",
	    f.outcomes & TAP_FORWARDED ? " forwarded" : "",
	    f.outcomes & TAP_SHED ? " shed" : "",
	    f.outcomes & TAP_REJECTED ? " rejected" : "",
	    (unsigned long long)f.limit);
	return LEVERS_DONE;
}

enum levers_answer
levers_handle(struct levers *lv, struct http_request *req, int authorized)
{
	struct evbuffer *buf;

	if (strcmp(req->path, "/stats/history") == 0) {
		if (!is(req, "GET") && !is(req, "HEAD"))
			return LEVERS_METHOD;
		if ((buf = evbuffer_new()) == NULL ||
		    history_json(lv->hist, buf) == -1) {
			if (buf != NULL)
				evbuffer_free(buf);
			return LEVERS_NOMEM;
		}
		http_respond_buffer(req, 200, "application/json", buf, NULL);
		return LEVERS_DONE;
	}
	if (strcmp(req->path, "/overrides") == 0)
		return levers_overrides(lv, req, authorized);
	if (strncmp(req->path, "/overrides/", 11) == 0)
		return levers_override_end(lv, req, req->path + 11,
		    authorized);
	if (strcmp(req->path, "/rules/shadow") == 0)
		return levers_shadow(lv, req, authorized);
	if (strcmp(req->path, "/rules/shadow/promote") == 0) {
		if (!is(req, "POST"))
			return LEVERS_METHOD;
		if (!authorized)
			return LEVERS_UNAUTHORIZED;
		return levers_shadow_promote(lv, req);
	}
	if (strcmp(req->path, "/tap") == 0)
		return levers_tap(lv, req, authorized);
	return LEVERS_NONE;
}
