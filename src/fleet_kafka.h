/*
 * fleet_kafka: the channel fleet reports travel on, a Kafka topic
 * (fleet.url, kafka://BROKERS/TOPIC; compacted, keyed by instance id,
 * is best).  Each instance produces its report every control interval
 * and reads everyone's from the end of the topic, as the only member of
 * a consumer group of its own, so that it hears every partition.
 * Nothing blocks the event loop; when the brokers cannot be reached the
 * reports stop arriving and the fleet rule falls back to local.
 */
#ifndef SPILLWAY_FLEET_KAFKA_H
#define SPILLWAY_FLEET_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct fleet;
struct fleet_report;
struct stats_source;

struct fleet_link;

/*
 * A link for cf->fleet_url that hands what it hears to f (not owned).
 * NULL with a message in err.
 */
struct fleet_link *fleet_link_new(struct event_base *base,
		    const struct config *cf, struct fleet *f, char *err,
		    size_t errlen);

/*
 * Send this instance's report.  One the producer cannot queue (the
 * brokers have been away for a while) is counted as unpublished.
 */
void		 fleet_link_publish(struct fleet_link *l,
		    const struct fleet_report *r);

/* A stats_report_fn (stats.h) for l: its reports, STATS_FLEET. */
void		 fleet_link_report(const void *l, struct stats_source *out);

/* Accepts NULL.  Reports not yet delivered are dropped: soon stale. */
void		 fleet_link_free(struct fleet_link *l);

#endif
