/*
 * stats: the registry of what reports counters, and the part every HTTP
 * server reports alike.
 */
#include <string.h>

#include "http.h"
#include "stats.h"

void
stats_register(struct stats_registry *reg, const char *name,
    stats_report_fn fn, const void *arg)
{
	if (reg->n == STATS_SOURCES_MAX)
		return;
	reg->r[reg->n].name = name;
	reg->r[reg->n].fn = fn;
	reg->r[reg->n].arg = arg;
	reg->n++;
}

size_t
stats_collect(const struct stats_registry *reg, struct stats_source *out,
    size_t max)
{
	size_t i;

	for (i = 0; i < reg->n && i < max; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].name = reg->r[i].name;
		reg->r[i].fn(reg->r[i].arg, &out[i]);
	}
	return i;
}

void
stats_http_server(const void *arg, struct stats_source *out)
{
	const struct http_server *srv = arg;
	const struct http_counters *hc = http_server_counters(srv);

	out->has |= STATS_REFUSED | STATS_HTTP;
	out->connections = hc->connections;
	out->refused_limit = hc->refused;
	out->refused_descriptors = http_server_shed(srv);
	out->rejected_413 += hc->too_large;
	out->rejected_400 = hc->bad_request;
	out->rejected_408 = hc->timeouts;
	out->rejected_429 += hc->over_budget;
	out->slow_header = hc->header_timeouts;
	out->slow_body = hc->slow_bodies;
}
