/*
 * metrics: the Prometheus exposition (/metrics) and the JSON snapshot
 * (/stats) of the counters SPEC §6 names.
 */
#ifndef SPILLWAY_METRICS_H
#define SPILLWAY_METRICS_H

struct app;
struct evbuffer;

/* Append the text exposition of every metric to out. */
void	metrics_render(struct app *app, struct evbuffer *out);

/* Append the /stats JSON document to out. */
void	metrics_stats(struct app *app, struct evbuffer *out);

#endif
