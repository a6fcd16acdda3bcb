/*
 * sink: choosing an implementation by URL, and what all sinks share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include <spillway/hist.h>

#include "sink.h"

const double sink_hist_bounds[SINK_HIST_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
};

static const struct sink_ops *
sink_lookup(const char *url)
{
	if (strcmp(url, "stdout") == 0 || strcmp(url, "null") == 0 ||
	    strncmp(url, "file:", 5) == 0)
		return &sink_file_ops;
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return &sink_es_ops;
	if (strncmp(url, "kafka://", 8) == 0)
		return &sink_kafka_ops;
	return NULL;
}

struct sink *
sink_new(struct event_base *base, const char *url, const struct config *cf,
    const char *label, const struct sink_owner *owner, char *err,
    size_t errlen)
{
	const struct sink_ops *ops;
	struct sink *s;

	if ((ops = sink_lookup(url)) == NULL) {
		snprintf(err, errlen, "unsupported sink URL \"%s\" (expected "
		    "stdout, null, file:PATH, http(s)://HOST:PORT or "
		    "kafka://HOST:PORT/TOPIC)", url);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->url = strdup(url)) == NULL) {
		free(s);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ops = ops;
	s->base = base;
	s->owner = *owner;
	s->label = label;
	if (ops->init(s, url, cf, err, errlen) == -1) {
		free(s->url);
		free(s);
		return NULL;
	}
	return s;
}

void
sink_free(struct sink *s)
{
	if (s == NULL)
		return;
	s->ops->free(s);
	free(s->url);
	free(s);
}

void
sink_metric_signal(const struct sink *s, struct evbuffer *out,
    const char *signal, uint64_t v)
{
	evbuffer_add_printf(out, "spillway_sink_pressure_signals_total{sink="
	    "\"%s\",signal=\"%s\"} %llu\n", s->label, signal,
	    (unsigned long long)v);
}

void
sink_count_request(struct sink *s, const char *code, double seconds)
{
	struct sink_requests *r = &s->req;
	size_t i;

	for (i = 0; i < r->ncodes; i++)
		if (strcmp(r->codes[i].code, code) == 0)
			break;
	if (i == r->ncodes) {
		if (r->ncodes == SINK_CODES_MAX)
			i = SINK_CODES_MAX - 1;	/* fold the rest into one */
		else {
			snprintf(r->codes[i].code, sizeof(r->codes[i].code),
			    "%s", code);
			r->ncodes++;
		}
	}
	r->codes[i].count++;
	r->hist[hist_bucket(sink_hist_bounds, SINK_HIST_BUCKETS, seconds)]++;
	r->hist_count++;
	r->hist_sum += seconds;
}
