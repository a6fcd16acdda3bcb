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

struct ingest_kafka;

struct ingest_kafka_counters {
	uint64_t	 messages;	/* read and offered */
	uint64_t	 skipped;	/* of partitions being given up */
	uint64_t	 errors;	/* consumer errors */
	uint64_t	 stored;	/* offset stores */
	uint64_t	 commits;	/* commits that succeeded */
	uint64_t	 commit_errors;
	uint64_t	 partitions;	/* assigned, ever */
	uint64_t	 assigned;	/* now */
	uint64_t	 undecided;	/* events not final yet */
	uint64_t	 revokes;
	uint64_t	 rewinds;	/* partitions read again */
	uint64_t	 paced;		/* reads held back to the admitted rate */
	uint64_t	 pauses;
	int		 paused;	/* now */
};

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
const struct ingest_kafka_counters *ingest_kafka_counters(
		    struct ingest_kafka *ik);

#endif
