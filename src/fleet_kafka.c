/*
 * fleet_kafka: fleet reports over a Kafka topic (fleet_kafka.h).
 *
 * Two librdkafka clients: a producer, polled from a timer for its
 * delivery reports, and a consumer whose queue wakes the event loop
 * through a pipe.  A report is small and soon replaced, so the producer
 * keeps few and gives up on one after stale_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

#include <spillway/clock.h>

#include "config.h"
#include "fleet.h"
#include "fleet_kafka.h"
#include "kafka_conf.h"
#include "log.h"
#include "net.h"
#include "stats.h"
#include "url.h"

#define FLEET_POLL_MS		100	/* producer's delivery reports */
#define FLEET_READ_MAX		1024	/* messages per wake-up */

struct fleet_link {
	struct fleet		*f;
	char			*topic;
	rd_kafka_t		*prod;
	rd_kafka_t		*cons;
	rd_kafka_queue_t	*q;
	int			 pipefd[2];
	struct event		*io_ev;
	struct event		*poll_ev;
	struct {
		uint64_t	 published;	/* delivered to the brokers */
		uint64_t	 unpublished;	/* failed, or not queued */
		uint64_t	 received;	/* of others, kept */
		uint64_t	 refused;	/* not a report */
	}			 c;
};

static int
fl_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *err, size_t errlen)
{
	return kafka_conf_set(conf, "fleet", name, value, err, errlen);
}

static void
fl_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct fleet_link *l = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		l->c.published++;
	else
		l->c.unpublished++;
}

static void
fl_read(struct fleet_link *l)
{
	struct fleet_report r;
	rd_kafka_message_t *m;
	char err[128];
	int n;

	for (n = 0; n < FLEET_READ_MAX; n++) {
		if ((m = rd_kafka_consumer_poll(l->cons, 0)) == NULL)
			break;
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				log_debug("fleet: %s", rd_kafka_message_errstr(m));
		} else if (fleet_decode(m->payload, m->len, &r, err,
		    sizeof(err)) == -1) {
			if (l->c.refused++ == 0)
				log_warn("fleet: %s: not a report: %s",
				    l->topic, err);
		} else if (fleet_heard(l->f, &r, clock_now_ns()))
			l->c.received++;
		rd_kafka_message_destroy(m);
	}
}

static void
fl_iocb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	net_pipe_drain(fd);
	fl_read(arg);
}

static void
fl_pollcb(evutil_socket_t fd, short what, void *arg)
{
	struct fleet_link *l = arg;

	(void)fd;
	(void)what;
	rd_kafka_poll(l->prod, 0);
	fl_read(l);
}

/* A client of the link's brokers; conf is consumed. */
static rd_kafka_t *
fl_client(rd_kafka_type_t type, rd_kafka_conf_t *conf,
    struct fleet_link *l, char *err, size_t errlen)
{
	rd_kafka_t *rk;
	char why[256];

	rd_kafka_conf_set_opaque(conf, l);
	rd_kafka_conf_set_log_cb(conf, kafka_conf_log);
	if ((rk = rd_kafka_new(type, conf, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "fleet: Kafka %s: %s", type ==
		    RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

struct fleet_link *
fleet_link_new(struct event_base *base, const struct config *cf,
    struct fleet *f, char *err, size_t errlen)
{
	struct timeval tv = { 0, FLEET_POLL_MS * 1000 };
	rd_kafka_topic_partition_list_t *topics = NULL;
	rd_kafka_resp_err_t rerr;
	struct fleet_link *l;
	rd_kafka_conf_t *pc, *cc;
	char *brokers = NULL, stale[32], group[FLEET_ID_MAX + 32];

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->f = f;
	l->pipefd[0] = l->pipefd[1] = -1;
	if (url_kafka(cf->fleet_url, &brokers, &l->topic, err, errlen) == -1)
		goto fail;
	snprintf(stale, sizeof(stale), "%ld", cf->fleet_stale_ms);
	snprintf(group, sizeof(group), "spillway-fleet-%s", fleet_self(f));

	pc = rd_kafka_conf_new();
	if (fl_set(pc, "bootstrap.servers", brokers, err, errlen) == -1 ||
	    fl_set(pc, "client.id", "spillway-fleet", err, errlen) == -1 ||
	    fl_set(pc, "linger.ms", "0", err, errlen) == -1 ||
	    fl_set(pc, "message.timeout.ms", stale, err, errlen) == -1 ||
	    fl_set(pc, "queue.buffering.max.messages", "16", err,
	    errlen) == -1 ||
	    kafka_conf_props(pc, "fleet.kafka", cf->fleet_kafka, err,
	    errlen) == -1) {
		rd_kafka_conf_destroy(pc);
		goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(pc, fl_delivered);
	if ((l->prod = fl_client(RD_KAFKA_PRODUCER, pc, l, err, errlen)) ==
	    NULL)
		goto fail;

	cc = rd_kafka_conf_new();
	if (fl_set(cc, "bootstrap.servers", brokers, err, errlen) == -1 ||
	    fl_set(cc, "client.id", "spillway-fleet", err, errlen) == -1 ||
	    kafka_conf_props(cc, "fleet.kafka", cf->fleet_kafka, err,
	    errlen) == -1 ||
	    fl_set(cc, "group.id", group, err, errlen) == -1 ||
	    fl_set(cc, "auto.offset.reset", "latest", err, errlen) == -1 ||
	    fl_set(cc, "enable.auto.commit", "false", err, errlen) == -1 ||
	    fl_set(cc, "enable.partition.eof", "false", err, errlen) == -1) {
		rd_kafka_conf_destroy(cc);
		goto fail;
	}
	if ((l->cons = fl_client(RD_KAFKA_CONSUMER, cc, l, err, errlen)) ==
	    NULL)
		goto fail;
	rd_kafka_poll_set_consumer(l->cons);
	l->q = rd_kafka_queue_get_consumer(l->cons);
	if (kafka_queue_pipe(l->q, l->pipefd) == -1) {
		snprintf(err, errlen, "fleet: pipe: %s", strerror(errno));
		goto fail;
	}
	if ((l->io_ev = event_new(base, l->pipefd[0], EV_READ | EV_PERSIST,
	    fl_iocb, l)) == NULL || (l->poll_ev = event_new(base, -1,
	    EV_PERSIST, fl_pollcb, l)) == NULL ||
	    event_add(l->io_ev, NULL) == -1 ||
	    event_add(l->poll_ev, &tv) == -1) {
		snprintf(err, errlen, "fleet: cannot watch the Kafka queue");
		goto fail;
	}
	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(topics, l->topic,
	    RD_KAFKA_PARTITION_UA);
	rerr = rd_kafka_subscribe(l->cons, topics);
	rd_kafka_topic_partition_list_destroy(topics);
	if (rerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "fleet: Kafka subscribe: %s",
		    rd_kafka_err2str(rerr));
		goto fail;
	}
	free(brokers);
	log_info("fleet: reporting as \"%s\" on %s, others forgotten after "
	    "%ld ms", fleet_self(f), l->topic, cf->fleet_stale_ms);
	return l;
fail:
	free(brokers);
	fleet_link_free(l);
	return NULL;
}

void
fleet_link_publish(struct fleet_link *l, const struct fleet_report *r)
{
	char buf[FLEET_REPORT_MAX];
	size_t n;

	n = fleet_encode(r, buf, sizeof(buf));
	if (rd_kafka_producev(l->prod, RD_KAFKA_V_TOPIC(l->topic),
	    RD_KAFKA_V_KEY(r->id, strlen(r->id)), RD_KAFKA_V_VALUE(buf, n),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		l->c.unpublished++;
}

void
fleet_link_report(const void *arg, struct stats_source *out)
{
	const struct fleet_link *l = arg;

	out->has |= STATS_FLEET;
	out->fleet_published = l->c.published;
	out->fleet_unpublished = l->c.unpublished;
	out->fleet_received = l->c.received;
	out->fleet_refused = l->c.refused;
}

void
fleet_link_free(struct fleet_link *l)
{
	if (l == NULL)
		return;
	if (l->io_ev != NULL)
		event_free(l->io_ev);
	if (l->poll_ev != NULL)
		event_free(l->poll_ev);
	if (l->q != NULL)
		rd_kafka_queue_destroy(l->q);
	if (l->cons != NULL) {
		rd_kafka_consumer_close(l->cons);
		rd_kafka_destroy(l->cons);
	}
	if (l->prod != NULL) {
		rd_kafka_purge(l->prod, RD_KAFKA_PURGE_F_QUEUE |
		    RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_destroy(l->prod);
	}
	if (l->pipefd[0] != -1)
		close(l->pipefd[0]);
	if (l->pipefd[1] != -1)
		close(l->pipefd[1]);
	free(l->topic);
	free(l);
}
