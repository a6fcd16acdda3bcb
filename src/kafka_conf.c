/*
 * kafka_conf: librdkafka set-up shared by the Kafka sink and source.
 */
#include <stdio.h>

#include "kafka_conf.h"
#include "log.h"
#include "net.h"

int
kafka_conf_set(rd_kafka_conf_t *conf, const char *where, const char *name,
    const char *value, char *err, size_t errlen)
{
	char why[256];

	if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(err, errlen, "%s: %s: %s", where, name, why);
		return -1;
	}
	return 0;
}

const char *
kafka_conf_text(json_t *v, char *buf, size_t buflen)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return buf;
	}
	if (json_is_real(v)) {
		snprintf(buf, buflen, "%.17g", json_real_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return NULL;
}

int
kafka_queue_pipe(rd_kafka_queue_t *q, int fds[2])
{
	if (net_pipe(fds) == -1)
		return -1;
	rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);
	return 0;
}

void
kafka_conf_log(const rd_kafka_t *rk, int level, const char *fac,
    const char *buf)
{
	const char *who = rd_kafka_type(rk) == RD_KAFKA_CONSUMER ?
	    "kafka source" : "kafka";

	if (level <= 3)
		log_warn("%s: %s: %s", who, fac, buf);
	else
		log_debug("%s: %s: %s", who, fac, buf);
}

int
kafka_conf_props(rd_kafka_conf_t *conf, const char *where, const char *text,
    char *err, size_t errlen)
{
	const char *name, *val;
	json_t *root, *v;
	char num[64];
	int rc = 0;

	if (text == NULL)
		return 0;
	if ((root = json_loads(text, 0, NULL)) == NULL ||
	    !json_is_object(root)) {
		json_decref(root);
		snprintf(err, errlen, "%s must be an object", where);
		return -1;
	}
	json_object_foreach(root, name, v) {
		if ((val = kafka_conf_text(v, num, sizeof(num))) == NULL) {
			snprintf(err, errlen, "%s: %s: value must be a "
			    "string, number or boolean", where, name);
			rc = -1;
			break;
		}
		if ((rc = kafka_conf_set(conf, where, name, val, err,
		    errlen)) == -1)
			break;
	}
	json_decref(root);
	return rc;
}
