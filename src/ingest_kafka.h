/*
 * ingest_kafka: a Kafka consumer-group source; offsets are committed only
 * for what is final.
 */
#ifndef SPILLWAY_INGEST_KAFKA_H
#define SPILLWAY_INGEST_KAFKA_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct shaper;
struct stats_source;

struct ingest_kafka;

/*
 * Join the consumer group of cf->listen_kafka and offer its messages.
 * NULL with a message in err.
 */
struct ingest_kafka *ingest_kafka_new(struct event_base *base,
		    const struct config *cf, struct shaper *sh, char *err,
		    size_t errlen);

/* Stop consuming (shutdown); what was read is still decided. */
void		 ingest_kafka_stop(struct ingest_kafka *ik);

/*
 * Commit what is final and leave the group.  Free it after the shaper,
 * whose records tell it their fate.
 */
void		 ingest_kafka_free(struct ingest_kafka *ik);

/*
 * A stats_report_fn (stats.h) for the source ik (arg): messages read,
 * partitions, whether it is paused, the events not final yet, commits,
 * rewinds, reads paced and rebalances.
 */
void		 ingest_kafka_report(const void *ik, struct stats_source *out);

#endif
