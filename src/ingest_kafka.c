/*
 * ingest_kafka: a consumer-group source.  Many spillways in one group
 * share a topic's partitions; Kafka does the distribution and each one
 * shapes its share.
 *
 * Each message holds one or more NDJSON lines, offered like TCP lines.
 * Offsets are committed only for messages whose every event is final:
 * forwarded, or dropped by policy or by the sink for good.  An event lost
 * to a shutdown (or a crash) leaves its message uncommitted, so the next
 * member of the group reads it again: delivery is at least once.  An
 * event the sink failed (retries exhausted) makes the partition stop,
 * settle what it read before, and seek back to that message, so it is
 * read again without committing past it and without tracking ever more.
 *
 * Per assigned partition a ring of messages in offset order counts the
 * events of each message still undecided; when the oldest reach zero the
 * offset after them is stored, and librdkafka's auto commit sends the
 * stored offsets.  Consumption pauses while the sink cannot take more (it
 * is down, busy, or spillway's queue is half full, or too many events are
 * undecided) and resumes once it can: Kafka keeps the backlog.  A revoked
 * partition is paused at once; its undecided events get up to
 * KC_REVOKE_NS to settle, the offsets are committed, and only then is the
 * assignment given up.
 *
 * librdkafka signals its consumer queue through a pipe; the event loop
 * then polls it without blocking, a bounded burst at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include <spillway/clock.h>

#include "bucket.h"
#include "classify.h"
#include "config.h"
#include "ingest_kafka.h"
#include "kafka_conf.h"
#include "log.h"
#include "net.h"
#include "record.h"
#include "shaper.h"
#include "stats.h"

#define KC_BURST	2000		/* messages per turn of the loop */
#define KC_REVOKE_NS	(5 * NSEC_PER_SEC)
#define KC_TICK_US	100000		/* pause/resume and revoke checks */
#define KC_PACE		1.1		/* reads per admitted event */

/* One assigned partition and the messages read from it, not yet final. */
struct kc_part {
	TAILQ_ENTRY(kc_part)	 entry;
	struct ingest_kafka	*ik;
	struct record_ack	 ack;
	char			*topic;
	int32_t			 partition;
	int			 revoked;	/* offsets no longer ours */
	int			 revoking;	/* waiting to be given up */
	uint64_t		 fail_seq;	/* first message to read again */
	int64_t			 rewind_to;	/* its offset */
	/* ring of messages: offset and events left, from seq base */
	int64_t			*offs;
	uint32_t		*left;
	size_t			 head, len, cap;
	uint64_t		 base;		/* seq of the ring's head */
	uint64_t		 undecided;	/* events, over all messages */
};

TAILQ_HEAD(kc_parts, kc_part);

/* What the source counts, for ingest_kafka_report(). */
struct ingest_kafka_counters {
	uint64_t	 messages;	/* read and offered */
	uint64_t	 skipped;	/* of partitions being given up */
	uint64_t	 errors;	/* consumer errors */
	uint64_t	 stored;	/* offset stores */
	uint64_t	 commits;	/* commits that succeeded */
	uint64_t	 commit_errors;
	uint64_t	 partitions;	/* assigned, ever */
	uint64_t	 revokes;
	uint64_t	 rewinds;	/* partitions read again */
	uint64_t	 paced;		/* reads held back to the admitted rate */
	uint64_t	 pauses;
	int		 paused;	/* now */
};

struct ingest_kafka {
	struct event_base	*base;
	const struct config	*cf;
	struct shaper		*sh;
	rd_kafka_t		*rk;
	rd_kafka_queue_t	*q;
	int			 cooperative;
	struct kc_parts		 parts;		/* assigned now */
	struct kc_parts		 gone;		/* revoked, events undecided */
	int			 pipefd[2];
	struct event		*io_ev;
	struct event		*read_ev;
	struct event		*tick_ev;
	int			 paused;
	int			 stopped;
	uint64_t		 undecided;	/* events, all partitions */
	size_t			 max_undecided;
	rd_kafka_topic_partition_list_t *revoking;
	uint64_t		 revoke_deadline;
	struct bucket		 pace;		/* reads, while C is finite */
	int			 paced;
	struct ingest_kafka_counters counters;
};

static void	kc_revoke_check(struct ingest_kafka *);

static struct kc_part *
kc_part_find(struct ingest_kafka *ik, const char *topic, int32_t partition)
{
	struct kc_part *p;

	TAILQ_FOREACH(p, &ik->parts, entry)
		if (p->partition == partition && strcmp(p->topic, topic) == 0)
			return p;
	return NULL;
}

static void
kc_part_free(struct kc_part *p)
{
	free(p->topic);
	free(p->offs);
	free(p->left);
	free(p);
}

/* Store the offset after the oldest messages that are all final. */
static void
kc_part_advance(struct kc_part *p)
{
	rd_kafka_topic_partition_list_t *l;
	int64_t next = -1;

	while (p->len > 0 && p->left[p->head] == 0 && p->base < p->fail_seq) {
		next = p->offs[p->head] + 1;
		p->head = (p->head + 1) % p->cap;
		p->len--;
		p->base++;
	}
	if (next < 0 || p->revoked)
		return;
	if ((l = rd_kafka_topic_partition_list_new(1)) == NULL)
		return;
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
	    next;
	if (rd_kafka_offsets_store(p->ik->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
		p->ik->counters.stored++;
	rd_kafka_topic_partition_list_destroy(l);
}

/* Pause or resume one partition. */
static void
kc_part_pause(struct kc_part *p, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	if ((l = rd_kafka_topic_partition_list_new(1)) == NULL)
		return;
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	if (pause)
		rd_kafka_pause_partitions(p->ik->rk, l);
	else
		rd_kafka_resume_partitions(p->ik->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

/*
 * A message must be read again (its sink failed, or it could not be
 * tracked): stop reading the partition, let what was read before it
 * settle, then seek back to it.  Nothing is committed past it.
 */
static void
kc_part_fail(struct kc_part *p, uint64_t seq, int64_t offset)
{
	if (seq >= p->fail_seq)
		return;
	if (p->fail_seq == UINT64_MAX) {
		kc_part_pause(p, 1);
		log_warn("kafka source: %s [%d]: offset %lld must be read "
		    "again; reading stops until the events before it settle",
		    p->topic, p->partition, (long long)offset);
	}
	p->fail_seq = seq;
	p->rewind_to = offset;
}

static void
kc_part_rewind(struct kc_part *p)
{
	struct ingest_kafka *ik = p->ik;
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_error_t *error;

	if ((l = rd_kafka_topic_partition_list_new(1)) == NULL)
		return;
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
	    p->rewind_to;
	if ((error = rd_kafka_seek_partitions(ik->rk, l, 0)) != NULL) {
		log_err("kafka source: seek %s [%d]: %s", p->topic,
		    p->partition, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	rd_kafka_topic_partition_list_destroy(l);
	p->base += p->len;
	p->head = 0;
	p->len = 0;
	p->fail_seq = UINT64_MAX;
	ik->counters.rewinds++;
	if (!ik->paused)
		kc_part_pause(p, 0);
}

/* An event of message seq is final (done), or must be read again. */
static void
kc_ack(void *arg, uint64_t seq, int done)
{
	struct kc_part *p = arg;
	struct ingest_kafka *ik = p->ik;
	size_t i;

	if (seq < p->base || seq - p->base >= p->len)
		return;		/* cannot happen: every event is told once */
	i = (p->head + (size_t)(seq - p->base)) % p->cap;
	p->left[i]--;
	p->undecided--;
	ik->undecided--;
	if (!done)
		kc_part_fail(p, seq, p->offs[i]);
	kc_part_advance(p);
	if (p->fail_seq != UINT64_MAX && p->undecided == 0 && !p->revoked &&
	    !p->revoking && !ik->stopped)
		kc_part_rewind(p);
	if (p->revoked && p->undecided == 0) {
		TAILQ_REMOVE(&ik->gone, p, entry);
		kc_part_free(p);
	} else if (p->revoking)
		kc_revoke_check(ik);
}

/*
 * A record's fate: final unless it was not delivered, in which case its
 * message is read again.
 */
static void
kc_told(void *arg, uint64_t seq, enum record_fate fate, enum reason reason,
    const struct record_answer *ans)
{
	(void)reason;
	(void)ans;
	kc_ack(arg, seq, fate != RECORD_FAILED);
}

/* A ring slot for the next message; its seq in *seq.  -1: no memory. */
static int
kc_part_push(struct kc_part *p, int64_t offset, uint64_t *seq)
{
	size_t i, ncap;

	if (p->len == p->cap) {
		int64_t *no;
		uint32_t *nl;

		ncap = p->cap ? p->cap * 2 : 256;
		if ((no = malloc(ncap * sizeof(*no))) == NULL ||
		    (nl = malloc(ncap * sizeof(*nl))) == NULL) {
			free(no);
			return -1;
		}
		for (i = 0; i < p->len; i++) {
			no[i] = p->offs[(p->head + i) % p->cap];
			nl[i] = p->left[(p->head + i) % p->cap];
		}
		free(p->offs);
		free(p->left);
		p->offs = no;
		p->left = nl;
		p->head = 0;
		p->cap = ncap;
	}
	i = (p->head + p->len) % p->cap;
	p->offs[i] = offset;
	p->left[i] = 1;		/* held until every line is offered */
	*seq = p->base + p->len;
	p->len++;
	p->undecided++;
	p->ik->undecided++;
	return 0;
}

/* Offer every line of one message; how many were offered. */
static size_t
kc_message(struct ingest_kafka *ik, rd_kafka_message_t *m, uint64_t now)
{
	const char *s = m->payload, *end, *nl;
	size_t max = (size_t)ik->cf->max_event_bytes, len, i;
	struct classify_result cr;
	struct kc_part *p;
	uint64_t seq = 0;
	size_t offered = 0;

	p = kc_part_find(ik, rd_kafka_topic_name(m->rkt), m->partition);
	if (p == NULL || p->revoking || p->fail_seq != UINT64_MAX) {
		/* Not ours any more, or to be read again from further back. */
		ik->counters.skipped++;
		return 0;
	}
	if (kc_part_push(p, m->offset, &seq) == -1) {
		log_err("kafka source: no memory to track a message");
		kc_part_fail(p, p->base + p->len, m->offset);
		if (p->undecided == 0)
			kc_part_rewind(p);
		return 0;
	}
	ik->counters.messages++;
	end = s != NULL ? s + m->len : s;
	while (s != NULL && s < end) {
		nl = memchr(s, '\n', (size_t)(end - s));
		len = (size_t)((nl != NULL ? nl : end) - s);
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len > max)
			shaper_too_large(ik->sh, SOURCE_KAFKA);
		else if (!record_blank(s, len)) {
			if (p != NULL) {
				i = (p->head + (size_t)(seq - p->base)) %
				    p->cap;
				p->left[i]++;
				p->undecided++;
				ik->undecided++;
			}
			offered++;
			classify_event(shaper_rules(ik->sh), s, len, &cr);
			shaper_offer_classified(ik->sh, s, len, NULL, 0,
			    SOURCE_KAFKA, &cr, p != NULL ? &p->ack : NULL, seq,
			    NULL, now);
		}
		s = nl != NULL ? nl + 1 : end;
	}
	if (p != NULL)
		kc_ack(p, seq, 1);	/* the hold taken by kc_part_push() */
	return offered;
}

/* Pause or resume every assigned partition. */
static void
kc_pause(struct ingest_kafka *ik, int pause)
{
	rd_kafka_topic_partition_list_t *l;

	if (rd_kafka_assignment(ik->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (pause)
		rd_kafka_pause_partitions(ik->rk, l);
	else
		rd_kafka_resume_partitions(ik->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	ik->paused = pause;
	ik->counters.paused = pause;
	if (pause)
		ik->counters.pauses++;
}

/* Whether the way out is blocked: then Kafka keeps the backlog. */
static int
kc_blocked(struct ingest_kafka *ik)
{
	return ik->stopped || ik->undecided >= ik->max_undecided ||
	    !shaper_may_read(ik->sh, clock_now_ns());
}

static void
kc_flow(struct ingest_kafka *ik)
{
	int blocked = kc_blocked(ik);

	if (blocked && !ik->paused) {
		kc_pause(ik, 1);
		log_info("kafka source: paused: the sink cannot take more; "
		    "Kafka keeps the backlog");
	} else if (!blocked && ik->paused && !ik->stopped) {
		kc_pause(ik, 0);
		log_info("kafka source: resumed");
	}
}

/*
 * While the controller limits what is admitted, read no faster than a
 * little above that: Kafka keeps the backlog, and only the small excess
 * that keeps the controller probing is shed.  Unlimited: no pacing.
 */
static int
kc_paced(struct ingest_kafka *ik, uint64_t now)
{
	double c = shaper_capacity(ik->sh), rate, burst;

	if (isinf(c)) {
		ik->paced = 0;
		bucket_init(&ik->pace, 0, 0, now);	/* unlimited */
		return 0;
	}
	rate = c * KC_PACE;
	burst = rate * 0.25 > 1 ? rate * 0.25 : 1;
	if (!ik->paced) {
		bucket_init(&ik->pace, rate, burst, now);
		ik->paced = 1;
	} else
		bucket_configure(&ik->pace, rate, burst, now);
	if (bucket_peek(&ik->pace, now) >= 1)
		return 0;
	ik->counters.paced++;
	return 1;
}

static void
kc_read(struct ingest_kafka *ik)
{
	rd_kafka_message_t *m;
	uint64_t now = clock_now_ns();
	int n;

	for (n = 0; n < KC_BURST; n++) {
		if (!ik->paused && kc_blocked(ik))
			kc_flow(ik);
		if (kc_paced(ik, now))
			break;
		if ((m = rd_kafka_consumer_poll(ik->rk, 0)) == NULL)
			break;
		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			ik->pace.tokens -= (double)kc_message(ik, m, now);
		else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			ik->counters.errors++;
			log_warn("kafka source: %s",
			    rd_kafka_message_errstr(m));
		}
		rd_kafka_message_destroy(m);
	}
	if (n == KC_BURST)
		event_active(ik->read_ev, EV_READ, 0);
}

static void
kc_iocb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	net_pipe_drain(fd);
	kc_read(arg);
}

static void
kc_readcb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	kc_read(arg);
}

static void
kc_tickcb(evutil_socket_t fd, short what, void *arg)
{
	struct ingest_kafka *ik = arg;

	(void)fd;
	(void)what;
	kc_flow(ik);
	if (ik->revoking != NULL)
		kc_revoke_check(ik);
	kc_read(ik);
}

static void
kc_assign(struct ingest_kafka *ik, rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	struct kc_part *p;
	int i;

	for (i = 0; i < l->cnt; i++) {
		if (kc_part_find(ik, l->elems[i].topic,
		    l->elems[i].partition) != NULL)
			continue;
		if ((p = calloc(1, sizeof(*p))) == NULL ||
		    (p->topic = strdup(l->elems[i].topic)) == NULL) {
			free(p);
			log_err("kafka source: no memory for a partition");
			continue;
		}
		p->ik = ik;
		p->partition = l->elems[i].partition;
		p->fail_seq = UINT64_MAX;
		p->ack.fn = kc_told;
		p->ack.arg = p;
		TAILQ_INSERT_TAIL(&ik->parts, p, entry);
	}
	if (ik->cooperative)
		error = rd_kafka_incremental_assign(ik->rk, l);
	else
		err = rd_kafka_assign(ik->rk, l);
	if (error != NULL) {
		log_err("kafka source: assign: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_err("kafka source: assign: %s", rd_kafka_err2str(err));
	ik->counters.partitions += (uint64_t)l->cnt;
	log_info("kafka source: %d partition%s assigned", l->cnt,
	    l->cnt == 1 ? "" : "s");
	/* A partition paused while it was revoked stays paused otherwise. */
	if (ik->paused)
		rd_kafka_pause_partitions(ik->rk, l);
	else
		rd_kafka_resume_partitions(ik->rk, l);
}

/*
 * Give the revoked partitions up once their events are final (or the
 * wait is over): store and commit what is final, then unassign.
 */
static void
kc_revoke_check(struct ingest_kafka *ik)
{
	rd_kafka_topic_partition_list_t *l = ik->revoking;
	rd_kafka_resp_err_t err;
	rd_kafka_error_t *error;
	struct kc_part *p;
	uint64_t left = 0;
	int i;

	if (l == NULL)
		return;
	for (i = 0; i < l->cnt; i++)
		if ((p = kc_part_find(ik, l->elems[i].topic,
		    l->elems[i].partition)) != NULL)
			left += p->undecided;
	if (left > 0 && clock_now_ns() < ik->revoke_deadline)
		return;
	ik->revoking = NULL;
	err = rd_kafka_commit(ik->rk, NULL, 0);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		log_warn("kafka source: commit on revoke: %s",
		    rd_kafka_err2str(err));
	if (left > 0)
		log_warn("kafka source: %" PRIu64 " events still undecided on "
		    "revoked partitions; their messages will be read again",
		    left);
	for (i = 0; i < l->cnt; i++) {
		if ((p = kc_part_find(ik, l->elems[i].topic,
		    l->elems[i].partition)) == NULL)
			continue;
		TAILQ_REMOVE(&ik->parts, p, entry);
		p->revoked = 1;
		p->revoking = 0;
		if (p->undecided == 0)
			kc_part_free(p);
		else
			TAILQ_INSERT_TAIL(&ik->gone, p, entry);
	}
	if (ik->cooperative) {
		if ((error = rd_kafka_incremental_unassign(ik->rk, l)) != NULL) {
			log_err("kafka source: unassign: %s",
			    rd_kafka_error_string(error));
			rd_kafka_error_destroy(error);
		}
	} else
		rd_kafka_assign(ik->rk, NULL);
	log_info("kafka source: %d partition%s given up", l->cnt,
	    l->cnt == 1 ? "" : "s");
	rd_kafka_topic_partition_list_destroy(l);
}

static void
kc_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct ingest_kafka *ik = opaque;
	struct kc_part *p;
	int i;

	(void)rk;
	switch (err) {
	case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
		kc_assign(ik, l);
		break;
	case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
		ik->counters.revokes++;
		rd_kafka_pause_partitions(ik->rk, l);
		for (i = 0; i < l->cnt; i++)
			if ((p = kc_part_find(ik, l->elems[i].topic,
			    l->elems[i].partition)) != NULL)
				p->revoking = 1;
		if (ik->revoking != NULL)
			rd_kafka_topic_partition_list_destroy(ik->revoking);
		ik->revoking = rd_kafka_topic_partition_list_copy(l);
		ik->revoke_deadline = clock_now_ns() + KC_REVOKE_NS;
		kc_revoke_check(ik);
		break;
	default:
		log_err("kafka source: rebalance: %s", rd_kafka_err2str(err));
		rd_kafka_assign(ik->rk, NULL);
		break;
	}
}

static void
kc_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
	    err == RD_KAFKA_RESP_ERR__FATAL)
		log_warn("kafka source: %s", reason);
	else
		log_debug("kafka source: %s: %s",
		    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void
kc_commitcb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *l, void *opaque)
{
	struct ingest_kafka *ik = opaque;

	(void)rk;
	(void)l;
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		ik->counters.commits++;
	else if (err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		ik->counters.commit_errors++;
		log_warn("kafka source: commit: %s", rd_kafka_err2str(err));
	}
}

static int
kc_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *err, size_t errlen)
{
	return kafka_conf_set(conf, "listen.kafka", name, value, err, errlen);
}

/* listen.kafka: brokers, topics, the rest passed to librdkafka. */
static int
kc_configure(struct ingest_kafka *ik, rd_kafka_conf_t *conf,
    rd_kafka_topic_partition_list_t *topics, char *err, size_t errlen)
{
	const char *name, *prop, *val;
	json_t *root, *v, *t;
	char num[64];
	size_t i;
	int rc = -1, have_brokers = 0;

	if ((root = json_loads(ik->cf->listen_kafka, 0, NULL)) == NULL ||
	    !json_is_object(root)) {
		snprintf(err, errlen, "listen.kafka must be an object");
		goto out;
	}
	json_object_foreach(root, name, v) {
		if (strcmp(name, "topics") == 0) {
			if (json_is_string(v))
				rd_kafka_topic_partition_list_add(topics,
				    json_string_value(v), RD_KAFKA_PARTITION_UA);
			else if (json_is_array(v)) {
				json_array_foreach(v, i, t) {
					if (!json_is_string(t)) {
						snprintf(err, errlen,
						    "listen.kafka.topics: names "
						    "must be strings");
						goto out;
					}
					rd_kafka_topic_partition_list_add(topics,
					    json_string_value(t),
					    RD_KAFKA_PARTITION_UA);
				}
			} else {
				snprintf(err, errlen, "listen.kafka.topics "
				    "must be a string or a list of strings");
				goto out;
			}
			continue;
		}
		if ((val = kafka_conf_text(v, num, sizeof(num))) == NULL) {
			snprintf(err, errlen, "listen.kafka.%s: value must be "
			    "a string, number or boolean", name);
			goto out;
		}
		prop = name;
		if (strcmp(name, "brokers") == 0) {
			prop = "bootstrap.servers";
			have_brokers = 1;
		} else if (strcmp(name, "bootstrap.servers") == 0)
			have_brokers = 1;
		if (strcmp(prop, "enable.auto.offset.store") == 0) {
			snprintf(err, errlen, "listen.kafka: "
			    "enable.auto.offset.store is spillway's to set");
			goto out;
		}
		if (strcmp(prop, "partition.assignment.strategy") == 0 &&
		    strstr(val, "cooperative") != NULL)
			ik->cooperative = 1;
		if (kc_set(conf, prop, val, err, errlen) == -1)
			goto out;
	}
	if (!have_brokers || topics->cnt == 0) {
		snprintf(err, errlen, "listen.kafka needs \"brokers\" and "
		    "\"topics\"");
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

struct ingest_kafka *
ingest_kafka_new(struct event_base *base, const struct config *cf,
    struct shaper *sh, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *topics;
	struct ingest_kafka *ik;
	rd_kafka_conf_t *conf;
	rd_kafka_resp_err_t rerr;
	struct timeval tick = { 0, KC_TICK_US };
	char why[512];

	if ((ik = calloc(1, sizeof(*ik))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ik->base = base;
	ik->cf = cf;
	ik->sh = sh;
	ik->pipefd[0] = ik->pipefd[1] = -1;
	TAILQ_INIT(&ik->parts);
	TAILQ_INIT(&ik->gone);
	ik->max_undecided = (size_t)cf->queue_max_events / 2;
	if (ik->max_undecided < 1000)
		ik->max_undecided = 1000;

	conf = rd_kafka_conf_new();
	topics = rd_kafka_topic_partition_list_new(4);
	if (kc_set(conf, "group.id", "spillway", err, errlen) == -1 ||
	    kc_set(conf, "client.id", "spillway", err, errlen) == -1 ||
	    kc_set(conf, "auto.offset.reset", "earliest", err, errlen) == -1 ||
	    kc_set(conf, "enable.auto.commit", "true", err, errlen) == -1 ||
	    kc_set(conf, "auto.commit.interval.ms", "1000", err,
	    errlen) == -1 ||
	    kc_set(conf, "log.queue", "true", err, errlen) == -1 ||
	    kc_configure(ik, conf, topics, err, errlen) == -1 ||
	    kc_set(conf, "enable.auto.offset.store", "false", err,
	    errlen) == -1) {
		rd_kafka_conf_destroy(conf);
		rd_kafka_topic_partition_list_destroy(topics);
		free(ik);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, ik);
	rd_kafka_conf_set_rebalance_cb(conf, kc_rebalance);
	rd_kafka_conf_set_offset_commit_cb(conf, kc_commitcb);
	rd_kafka_conf_set_error_cb(conf, kc_error);
	rd_kafka_conf_set_log_cb(conf, kafka_conf_log);
	if ((ik->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "Kafka consumer: %s", why);
		rd_kafka_conf_destroy(conf);
		rd_kafka_topic_partition_list_destroy(topics);
		free(ik);
		return NULL;
	}
	rd_kafka_set_log_queue(ik->rk, NULL);
	rd_kafka_poll_set_consumer(ik->rk);
	ik->q = rd_kafka_queue_get_consumer(ik->rk);
	if (kafka_queue_pipe(ik->q, ik->pipefd) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((ik->io_ev = event_new(base, ik->pipefd[0], EV_READ | EV_PERSIST,
	    kc_iocb, ik)) == NULL ||
	    (ik->read_ev = event_new(base, -1, 0, kc_readcb, ik)) == NULL ||
	    (ik->tick_ev = event_new(base, -1, EV_PERSIST, kc_tickcb,
	    ik)) == NULL || event_add(ik->io_ev, NULL) == -1 ||
	    event_add(ik->tick_ev, &tick) == -1) {
		snprintf(err, errlen, "cannot watch the Kafka queue");
		goto fail;
	}
	if ((rerr = rd_kafka_subscribe(ik->rk, topics)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "Kafka subscribe: %s",
		    rd_kafka_err2str(rerr));
		goto fail;
	}
	log_info("kafka source: joining group, %d topic%s", topics->cnt,
	    topics->cnt == 1 ? "" : "s");
	rd_kafka_topic_partition_list_destroy(topics);
	return ik;
fail:
	rd_kafka_topic_partition_list_destroy(topics);
	ingest_kafka_free(ik);
	return NULL;
}

void
ingest_kafka_stop(struct ingest_kafka *ik)
{
	if (ik == NULL || ik->stopped)
		return;
	ik->stopped = 1;
	kc_pause(ik, 1);
}

void
ingest_kafka_free(struct ingest_kafka *ik)
{
	struct kc_part *p;
	rd_kafka_resp_err_t err;

	if (ik == NULL)
		return;
	if (ik->rk != NULL) {
		/* Commit what is final, then leave the group. */
		err = rd_kafka_commit(ik->rk, NULL, 0);
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    err != RD_KAFKA_RESP_ERR__NO_OFFSET)
			log_warn("kafka source: final commit: %s",
			    rd_kafka_err2str(err));
		if (ik->revoking != NULL)
			rd_kafka_topic_partition_list_destroy(ik->revoking);
		ik->revoking = NULL;
		rd_kafka_consumer_close(ik->rk);
	}
	if (ik->io_ev != NULL)
		event_free(ik->io_ev);
	if (ik->read_ev != NULL)
		event_free(ik->read_ev);
	if (ik->tick_ev != NULL)
		event_free(ik->tick_ev);
	if (ik->q != NULL)
		rd_kafka_queue_destroy(ik->q);
	if (ik->rk != NULL)
		rd_kafka_destroy(ik->rk);
	while ((p = TAILQ_FIRST(&ik->parts)) != NULL) {
		TAILQ_REMOVE(&ik->parts, p, entry);
		kc_part_free(p);
	}
	while ((p = TAILQ_FIRST(&ik->gone)) != NULL) {
		TAILQ_REMOVE(&ik->gone, p, entry);
		kc_part_free(p);
	}
	if (ik->pipefd[0] != -1)
		close(ik->pipefd[0]);
	if (ik->pipefd[1] != -1)
		close(ik->pipefd[1]);
	free(ik);
}

void
ingest_kafka_report(const void *arg, struct stats_source *out)
{
	const struct ingest_kafka *ik = arg;
	const struct kc_part *p;

	out->has |= STATS_KAFKA_SOURCE;
	out->messages = ik->counters.messages;
	TAILQ_FOREACH(p, &ik->parts, entry)
		out->partitions++;
	out->paused = (uint64_t)ik->counters.paused;
	out->undecided = ik->undecided;
	out->commits = ik->counters.commits;
	out->commit_errors = ik->counters.commit_errors;
	out->rewinds = ik->counters.rewinds;
	out->paced = ik->counters.paced;
	out->rebalances = ik->counters.revokes;
}
