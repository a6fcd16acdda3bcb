/*
 * sink_kafka: the Kafka sink (librdkafka).
 */
#ifndef SPILLWAY_SINK_KAFKA_H
#define SPILLWAY_SINK_KAFKA_H

#include <stdint.h>

/*
 * Counters of back-pressure signals, ever since the sink started; its
 * metrics op renders them.
 */
struct sink_kafka_signals {
	uint64_t	 queue_full;	/* librdkafka's queue was full */
	uint64_t	 slow;		/* deliveries over target latency */
	uint64_t	 errors;	/* failed deliveries, all brokers down */
};

#endif
