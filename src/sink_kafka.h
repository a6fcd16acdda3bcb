/*
 * sink_kafka: the Kafka sink (librdkafka).
 */
#ifndef SPILLWAY_SINK_KAFKA_H
#define SPILLWAY_SINK_KAFKA_H

#include <stdint.h>

struct sink;

/* Counters of back-pressure signals, ever since the sink started. */
struct sink_kafka_signals {
	uint64_t	 queue_full;	/* librdkafka's queue was full */
	uint64_t	 slow;		/* deliveries over target latency */
	uint64_t	 errors;	/* failed deliveries, all brokers down */
};

/* The Kafka sink's signals; zeros for any other sink. */
void	sink_kafka_signals(struct sink *s, struct sink_kafka_signals *out);

#endif
