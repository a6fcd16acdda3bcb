/*
 * sink_kafka: Kafka through librdkafka, driven from the event loop.
 *
 * URL: kafka://host:port[,host:port...]/TOPIC, where TOPIC may contain
 * {class} (the event's class name).  sink.key names the field whose value
 * becomes the message key; sink.kafka is an object of librdkafka
 * properties passed through as they are (compression, acks, linger, TLS,
 * SASL), after spillway's own defaults, so they win.
 *
 * Records are produced without a copy: the payload is the record's own
 * bytes, which live until the delivery report hands the record back.
 * librdkafka's queue signals a pipe when it has something for us, and the
 * event loop then serves it with rd_kafka_poll(rk, 0): delivery reports,
 * errors and logs all arrive on the main thread, nothing ever blocks.
 *
 * A record counts as forwarded on its delivery report, not on enqueue.  A
 * permanent error (message too large, unknown topic, no authorization)
 * comes back as rejected; anything still failing after librdkafka's own
 * retries (message.timeout.ms) as an error.  At most `in-flight cap`
 * records (sink.concurrency x sink.batch_events) are handed to librdkafka;
 * beyond that, or when librdkafka answers QUEUE_FULL, the sink keeps what
 * it took and answers BUSY, so everything else waits in spillway's own
 * priority queue where the controller can shed by priority.  Deliveries
 * slower than target_latency_ms, delivery errors and QUEUE_FULL count as
 * push-back.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include <spillway/clock.h>

#include "config.h"
#include "jpath.h"
#include "kafka_conf.h"
#include "log.h"
#include "net.h"
#include "sink.h"
#include "sink_kafka.h"
#include "url.h"

#define KAFKA_TOPIC_MAX		249	/* Kafka's own limit */
#define KAFKA_CLASS		"{class}"
#define KAFKA_TOPICS_MAX	64	/* topic handles kept, by class */
#define KAFKA_OUTQ_MIN		20000	/* messages handed to librdkafka */

struct sink_kafka {
	struct sink		*sink;
	rd_kafka_t		*rk;
	char			*topic;		/* may hold {class} */
	int			 per_class;
	struct {
		const char		*cls;	/* a class's name, which
						   outlives its records;
						   NULL: the one topic */
		rd_kafka_topic_t	*rkt;
	}			 topics[KAFKA_TOPICS_MAX];
	size_t			 ntopics;
	struct jpath		 key;
	int			 has_key;

	struct record_list	 pending;	/* taken, not yet produced */
	size_t			 npending;
	size_t			 pending_bytes;
	size_t			 outq;		/* produced, awaiting report */
	size_t			 outq_bytes;
	size_t			 max_outq;
	int			 want_ready;	/* said BUSY; owe a ready() */

	int			 pipefd[2];
	struct event		*io_ev;
	uint64_t		 target_us;
	uint64_t		 interval_ns;
	uint64_t		 down_since;
	uint64_t		 pressure_at;
	struct sink_kafka_signals sig;
	int			 freeing;
};

static int
kafka_permanent(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
	case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return 1;
	default:
		return 0;
	}
}

static void
kafka_pressure(struct sink_kafka *k, uint64_t *counter)
{
	(*counter)++;
	k->pressure_at = clock_now_ns();
	if (k->pressure_at == 0)
		k->pressure_at = 1;
}

/* The topic for rec, into buf; NULL if it does not fit. */
static const char *
kafka_topic(const struct sink_kafka *k, const struct record *rec,
    char *buf, size_t buflen)
{
	const char *at, *name;
	size_t pre, n;

	if (!k->per_class)
		return k->topic;
	name = rec->class_name;
	at = strstr(k->topic, KAFKA_CLASS);
	pre = (size_t)(at - k->topic);
	n = (size_t)snprintf(buf, buflen, "%.*s%s%s", (int)pre, k->topic, name,
	    at + strlen(KAFKA_CLASS));
	return n < buflen ? buf : NULL;
}

/*
 * The topic handle for rec, kept per class so that producing looks no
 * topic up by name; NULL when none can be had (err set).
 */
static rd_kafka_topic_t *
kafka_rkt(struct sink_kafka *k, const struct record *rec,
    rd_kafka_resp_err_t *err)
{
	char buf[KAFKA_TOPIC_MAX + 1];
	const char *cls = k->per_class ? rec->class_name : NULL;
	const char *name;
	rd_kafka_topic_t *rkt;
	size_t i;

	for (i = 0; i < k->ntopics; i++)
		if (k->topics[i].cls == cls)
			return k->topics[i].rkt;
	if ((name = kafka_topic(k, rec, buf, sizeof(buf))) == NULL ||
	    (rkt = rd_kafka_topic_new(k->rk, name, NULL)) == NULL) {
		*err = RD_KAFKA_RESP_ERR__INVALID_ARG;
		return NULL;
	}
	if (k->ntopics == KAFKA_TOPICS_MAX) {
		/* More classes than slots: give up the oldest handle. */
		rd_kafka_topic_destroy(k->topics[0].rkt);
		memmove(&k->topics[0], &k->topics[1],
		    (KAFKA_TOPICS_MAX - 1) * sizeof(k->topics[0]));
		k->ntopics--;
	}
	k->topics[k->ntopics].cls = cls;
	k->topics[k->ntopics].rkt = rkt;
	k->ntopics++;
	return rkt;
}

/* The message key of rec: the text of the sink.key field, or none. */
static void
kafka_key(const struct sink_kafka *k, struct record *rec, char *buf,
    size_t buflen, const char **key, size_t *keylen)
{
	*key = NULL;
	*keylen = 0;
	if (!k->has_key || rec->invalid || rec->bare)
		return;
	if (rec->json == NULL)
		rec->json = json_loadb(rec->data, rec->len, JSON_ALLOW_NUL,
		    NULL);
	if (rec->json == NULL ||
	    jpath_lookup_text(rec->json, &k->key, buf, buflen, key,
	    keylen) == -1) {
		*key = NULL;
		*keylen = 0;
	}
}

/*
 * Hand pending records to librdkafka until it or the in-flight cap says
 * stop.  Records it refuses for good go back at once.
 */
static void
kafka_produce(struct sink_kafka *k)
{
	char kbuf[64];
	const char *key;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_topic_t *rkt;
	struct record *rec;
	size_t keylen;

	while ((rec = TAILQ_FIRST(&k->pending)) != NULL &&
	    k->outq < k->max_outq) {
		if ((rkt = kafka_rkt(k, rec, &err)) != NULL) {
			kafka_key(k, rec, kbuf, sizeof(kbuf), &key, &keylen);
			err = rd_kafka_producev(k->rk,
			    RD_KAFKA_V_RKT(rkt),
			    RD_KAFKA_V_VALUE((void *)(uintptr_t)rec->data,
			    rec->len),
			    RD_KAFKA_V_KEY(key, keylen),
			    RD_KAFKA_V_OPAQUE(rec),
			    RD_KAFKA_V_END);
		}
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			kafka_pressure(k, &k->sig.queue_full);
			break;
		}
		TAILQ_REMOVE(&k->pending, rec, link);
		k->npending--;
		k->pending_bytes -= rec->len;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
			k->outq++;
			k->outq_bytes += rec->len;
			continue;
		}
		sink_count_request(k->sink, rd_kafka_err2name(err), 0);
		sink_done(k->sink, rec, kafka_permanent(err) ? SINK_REJECTED :
		    SINK_ERROR);
	}
}

static void
kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sink_kafka *k = opaque;
	struct record *rec = (struct record *)m->_private;
	int64_t us = rd_kafka_message_latency(m);
	enum sink_outcome outcome;

	(void)rk;
	k->outq--;
	k->outq_bytes -= rec->len;
	sink_count_request(k->sink, rd_kafka_err2name(m->err),
	    us > 0 ? (double)us / 1e6 : 0);
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (k->down_since != 0) {
			k->down_since = 0;
			log_info("sink %s: Kafka delivering again",
			    k->sink->label);
		}
		if (us > 0 && (uint64_t)us > k->target_us)
			kafka_pressure(k, &k->sig.slow);
		outcome = SINK_FORWARDED;
	} else if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	    m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT || k->freeing)
		outcome = SINK_ABORTED;
	else if (kafka_permanent(m->err))
		outcome = SINK_REJECTED;
	else {
		kafka_pressure(k, &k->sig.errors);
		outcome = SINK_ERROR;
	}
	sink_done(k->sink, rec, outcome);
}

static void
kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sink_kafka *k = opaque;

	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (k->down_since == 0) {
			k->down_since = clock_now_ns();
			log_warn("sink %s: all Kafka brokers down: %s",
			    k->sink->label, reason);
		}
		kafka_pressure(k, &k->sig.errors);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__FATAL)
		log_err("sink %s: Kafka fatal error: %s", k->sink->label,
		    reason);
	else
		log_debug("sink %s: Kafka: %s: %s", k->sink->label,
		    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* Serve librdkafka's queue; then produce more and tell the owner. */
static void
kafka_serve(struct sink_kafka *k)
{
	rd_kafka_poll(k->rk, 0);
	kafka_produce(k);
	if (k->want_ready && k->npending == 0 && k->outq < k->max_outq) {
		k->want_ready = 0;
		sink_ready(k->sink);
	}
}

static void
kafka_iocb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	net_pipe_drain(fd);
	kafka_serve(arg);
}

static int
kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *err, size_t errlen)
{
	return kafka_conf_set(conf, "sink.kafka", name, value, err, errlen);
}


/*
 * sink.compression when it was given; by default none: gzip is the
 * right default for Elasticsearch bodies but costs a producer more CPU
 * than everything else it does.  sink.kafka may still choose lz4 or zstd.
 */
static const char *
kafka_codec(const struct config *cf)
{
	if (!cf->sink_compression_set || cf->sink_compression == NULL)
		return "none";
	return cf->sink_compression;
}

/* kafka://BROKERS/TOPIC into brokers and topic (allocated). */
static int
kafka_parse_url(const char *url, char **brokers, char **topic, char *err,
    size_t errlen)
{
	const char *c;

	if (url_kafka(url, brokers, topic, err, errlen) == -1)
		return -1;
	for (c = *topic; *c != '\0'; c++) {
		if (strncmp(c, KAFKA_CLASS, strlen(KAFKA_CLASS)) == 0) {
			c += strlen(KAFKA_CLASS) - 1;
			continue;
		}
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
		    *c == '-')) {
			snprintf(err, errlen, "Kafka topic \"%s\": only "
			    "letters, digits, '.', '_', '-' and {class}",
			    *topic);
			goto fail;
		}
	}
	if (strlen(*topic) > KAFKA_TOPIC_MAX) {
		snprintf(err, errlen, "Kafka topic longer than %d bytes",
		    KAFKA_TOPIC_MAX);
		goto fail;
	}
	return 0;
fail:
	free(*brokers);
	free(*topic);
	*brokers = *topic = NULL;
	return -1;
}

static void	sink_kafka_free(struct sink *);

static int
sink_kafka_init(struct sink *s, const char *url, const struct config *cf,
    char *err, size_t errlen)
{
	struct sink_kafka *k;
	rd_kafka_conf_t *conf = NULL;
	char *brokers = NULL, num[32], why[512];
	int fl;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->priv = k;
	k->sink = s;
	k->pipefd[0] = k->pipefd[1] = -1;
	TAILQ_INIT(&k->pending);
	k->target_us = (uint64_t)cf->target_latency_ms * 1000;
	k->interval_ns = (uint64_t)cf->control_interval_ms * NSEC_PER_MSEC;
	/*
	 * librdkafka batches per partition and keeps several requests in
	 * flight: it needs more room than one bulk request's worth to keep
	 * a broker busy, but not so much that waiting moves out of the
	 * priority queue.
	 */
	k->max_outq = (size_t)cf->concurrency * (size_t)cf->batch_events;
	if (k->max_outq < KAFKA_OUTQ_MIN)
		k->max_outq = KAFKA_OUTQ_MIN;
	if (kafka_parse_url(url, &brokers, &k->topic, err, errlen) == -1)
		goto fail;
	k->per_class = strstr(k->topic, KAFKA_CLASS) != NULL;
	if (cf->sink_key != NULL) {
		if (jpath_init(&k->key, cf->sink_key) != 0) {
			snprintf(err, errlen, "sink.key: invalid field path "
			    "\"%s\"", cf->sink_key);
			goto fail;
		}
		k->has_key = 1;
	}

	conf = rd_kafka_conf_new();
	snprintf(num, sizeof(num), "%ld", cf->timeout_ms);
	if (kafka_set(conf, "bootstrap.servers", brokers, err, errlen) == -1 ||
	    kafka_set(conf, "client.id", "spillway", err, errlen) == -1 ||
	    kafka_set(conf, "linger.ms", "5", err, errlen) == -1 ||
	    kafka_set(conf, "message.timeout.ms", num, err, errlen) == -1 ||
	    kafka_set(conf, "compression.codec", kafka_codec(cf), err,
	    errlen) == -1 ||
	    kafka_set(conf, "log.queue", "true", err, errlen) == -1 ||
	    kafka_conf_props(conf, "sink.kafka", cf->sink_kafka, err,
	    errlen) == -1)
		goto fail;
	rd_kafka_conf_set_opaque(conf, k);
	rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr);
	rd_kafka_conf_set_error_cb(conf, kafka_error);
	rd_kafka_conf_set_log_cb(conf, kafka_conf_log);
	if ((k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "Kafka producer: %s", why);
		goto fail;
	}
	conf = NULL;		/* rd_kafka_new() took it */
	rd_kafka_set_log_queue(k->rk, NULL);

	{
		rd_kafka_queue_t *mq = rd_kafka_queue_get_main(k->rk);

		fl = kafka_queue_pipe(mq, k->pipefd);
		rd_kafka_queue_destroy(mq);
		if (fl == -1) {
			snprintf(err, errlen, "pipe: %s", strerror(errno));
			goto fail;
		}
	}
	if ((k->io_ev = event_new(s->base, k->pipefd[0], EV_READ | EV_PERSIST,
	    kafka_iocb, k)) == NULL || event_add(k->io_ev, NULL) == -1) {
		snprintf(err, errlen, "cannot watch the Kafka queue");
		goto fail;
	}
	free(brokers);
	return 0;
fail:
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	free(brokers);
	sink_kafka_free(s);
	return -1;
}

static enum sink_status
sink_kafka_submit(struct sink *s, struct batch *b, uint64_t now)
{
	struct sink_kafka *k = s->priv;
	struct record *rec;

	(void)now;		/* librdkafka keeps its own time */
	if (k->npending > 0 || k->outq >= k->max_outq) {
		kafka_serve(k);
		if (k->npending > 0 || k->outq >= k->max_outq) {
			k->want_ready = 1;
			return SINK_BUSY;
		}
	}
	while ((rec = TAILQ_FIRST(&b->recs)) != NULL) {
		TAILQ_REMOVE(&b->recs, rec, link);
		TAILQ_INSERT_TAIL(&k->pending, rec, link);
		k->npending++;
		k->pending_bytes += rec->len;
	}
	b->n = 0;
	b->bytes = 0;
	kafka_produce(k);
	return SINK_OK;
}

static void
sink_kafka_poll(struct sink *s, uint64_t now)
{
	(void)now;
	kafka_serve(s->priv);
}

static void
sink_kafka_stats(struct sink *s, struct sink_stats *st, uint64_t now)
{
	struct sink_kafka *k = s->priv;

	memset(st, 0, sizeof(*st));
	st->up = k->down_since == 0;
	st->down_since = k->down_since;
	st->pressure = k->pressure_at != 0 &&
	    now - k->pressure_at < k->interval_ns;
	st->pushback = k->sig.queue_full + k->sig.slow + k->sig.errors;
	st->pending = k->npending + k->outq;
	st->pending_bytes = k->pending_bytes + k->outq_bytes;
}

static void
sink_kafka_free(struct sink *s)
{
	struct sink_kafka *k = s->priv;
	struct record *rec;

	if (k == NULL)
		return;
	k->freeing = 1;
	if (k->rk != NULL) {
		/* Whatever librdkafka still holds comes back as aborted. */
		rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING);
		rd_kafka_flush(k->rk, 1000);
		rd_kafka_poll(k->rk, 0);
	}
	while ((rec = TAILQ_FIRST(&k->pending)) != NULL) {
		TAILQ_REMOVE(&k->pending, rec, link);
		sink_done(s, rec, SINK_ABORTED);
	}
	if (k->io_ev != NULL)
		event_free(k->io_ev);
	while (k->ntopics > 0)
		rd_kafka_topic_destroy(k->topics[--k->ntopics].rkt);
	if (k->rk != NULL)
		rd_kafka_destroy(k->rk);
	if (k->pipefd[0] != -1)
		close(k->pipefd[0]);
	if (k->pipefd[1] != -1)
		close(k->pipefd[1]);
	if (k->has_key)
		jpath_free(&k->key);
	free(k->topic);
	free(k);
	s->priv = NULL;
}

/* The signals behind the push-back counter. */
static void
sink_kafka_metrics(struct sink *s, struct evbuffer *out)
{
	const struct sink_kafka_signals *kg =
	    &((struct sink_kafka *)s->priv)->sig;

	sink_metric_signal(s, out, "queue_full", kg->queue_full);
	sink_metric_signal(s, out, "slow", kg->slow);
	sink_metric_signal(s, out, "errors", kg->errors);
}

/* --require-sink: any one of the brokers listed accepts a connection. */
static int
sink_kafka_probe(struct sink *s, char *err, size_t errlen)
{
	char host[256], port[16], *brokers, *topic;
	const char *list;
	int rc = -1;

	if (url_kafka(s->url, &brokers, &topic, err, errlen) == -1)
		return -1;
	list = brokers;
	while (url_broker_next(&list, host, sizeof(host), port,
	    sizeof(port)))
		if (net_probe(host, port, 5000, err, errlen) == 0) {
			rc = 0;
			break;
		}
	free(brokers);
	free(topic);
	return rc;
}

const struct sink_ops sink_kafka_ops = {
	.name = "kafka",
	.init = sink_kafka_init,
	.submit = sink_kafka_submit,
	.poll = sink_kafka_poll,
	.stats = sink_kafka_stats,
	.reopen = NULL,
	.metrics = sink_kafka_metrics,
	.probe = sink_kafka_probe,
	.free = sink_kafka_free,
};
