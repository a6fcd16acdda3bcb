/*
 * kafka_conf: what the Kafka sink and the Kafka source share in setting
 * up librdkafka: properties from JSON, errors that name where they came
 * from, and librdkafka's queue wired to a pipe the event loop watches.
 */
#ifndef SPILLWAY_KAFKA_CONF_H
#define SPILLWAY_KAFKA_CONF_H

#include <stddef.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

/*
 * Set one property; on error "WHERE: NAME: why" goes to err and -1 is
 * returned.  where names the config section ("sink.kafka").
 */
int	kafka_conf_set(rd_kafka_conf_t *conf, const char *where,
	    const char *name, const char *value, char *err, size_t errlen);

/*
 * Set every property of text, a JSON object of librdkafka properties
 * (NULL: none), as kafka_conf_set() sets one; where names the section.
 * 0, or -1 with the reason in err.
 */
int	kafka_conf_props(rd_kafka_conf_t *conf, const char *where,
	    const char *text, char *err, size_t errlen);

/*
 * The text librdkafka wants for a JSON property value (string, number,
 * boolean); buf holds numbers.  NULL for any other type.
 */
const char *kafka_conf_text(json_t *v, char *buf, size_t buflen);

/*
 * Make q signal fds[1] whenever it has something to serve; fds is a new
 * non-blocking pipe whose fds[0] the caller watches.  -1 on failure.
 */
int	kafka_queue_pipe(rd_kafka_queue_t *q, int fds[2]);

/*
 * librdkafka's log callback for both clients (rd_kafka_conf_set_log_cb):
 * errors and warnings as warnings, the rest at debug, naming the client
 * ("kafka" for the sink's producer, "kafka source" for the consumer).
 */
void	kafka_conf_log(const rd_kafka_t *rk, int level, const char *fac,
	    const char *buf);

#endif
