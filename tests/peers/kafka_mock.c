/*
 * kafka_mock: a Kafka cluster for integration tests, as a process of its own.
 *
 *	build/kafka_mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * The cluster is librdkafka's mock cluster (rdkafka_mock.h): N brokers on
 * loopback ports, inside this process.  Once the topics exist it prints
 * `listening kafka BOOTSTRAP` on stderr.  A test then drives faults with
 * one command per line on stdin and reads exactly one answer line per
 * command on stdout, `ok ...` or `error MESSAGE` (`dump` follows its answer
 * with the messages it announced).  The protocol is described in
 * tests/peers/README.md.  quit, EOF on stdin, SIGTERM and SIGINT exit 0.
 */
#include <sys/signalfd.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define LINE_MAX_BYTES		4096	/* one command line */
#define MAX_ARGS		8
#define MAX_BROKERS		32
#define MAX_PARTITIONS		1024
#define MAX_PUSH		100000	/* errors pushed by one command */
#define QUERY_TIMEOUT_MS	2000	/* metadata, each watermark query */
#define DUMP_TIMEOUT_MS		10000	/* reading a whole topic */

struct mock {
	rd_kafka_t		*owner;	   /* producer the cluster lives on */
	rd_kafka_mock_cluster_t	*cluster;
	rd_kafka_t		*consumer; /* watermarks, dump; made on use */
	int			 brokers;
	bool			 down[MAX_BROKERS + 1];	/* by broker id */
};

/* One partition's offsets, as the cluster reports them. */
struct part {
	int64_t		 low, high;	/* first retained, next to be written */
	int64_t		 next;		/* dump: next offset still to read */
};

/* Messages read by dump, owned until printed. */
struct dump {
	rd_kafka_message_t	**msgs;
	size_t			  cnt, cap;
};

/*
 * A command on stdin.  fn gets the words after the name; it writes its `ok`
 * answer on stdout and returns 0, or returns -1 with the text of the
 * `error` answer in err.  fn NULL is quit.
 */
struct cmd {
	const char	*name;
	int		 minargs, maxargs;	/* after the name */
	int		(*fn)(struct mock *, char **, int, char *, size_t);
	const char	*usage;
};

/* Names Kafka or older librdkafka use for codes listed under another. */
static const struct {
	const char		*name;
	rd_kafka_resp_err_t	 code;
} err_aliases[] = {
	{ "NOT_LEADER_OR_FOLLOWER",
	    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION },
	{ "GROUP_LOAD_IN_PROGRESS", RD_KAFKA_RESP_ERR_GROUP_LOAD_IN_PROGRESS },
	{ "GROUP_COORDINATOR_NOT_AVAILABLE",
	    RD_KAFKA_RESP_ERR_GROUP_COORDINATOR_NOT_AVAILABLE },
	{ "NOT_COORDINATOR_FOR_GROUP",
	    RD_KAFKA_RESP_ERR_NOT_COORDINATOR_FOR_GROUP },
};

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: kafka_mock [--brokers N] "
	    "[--topic NAME:PARTITIONS]...\n");
}

/*
 * Parses all of `s` as a decimal integer in [min, max].  Returns 0, or -1
 * with a message in err.
 */
static int
parse_long(const char *what, const char *s, long min, long max, long *out,
    char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE || v < min ||
	    v > max) {
		snprintf(err, errlen, "%s: expected an integer from %ld to %ld,"
		    " not \"%s\"", what, min, max, s);
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * Maps a librdkafka error name (`MSG_SIZE_TOO_LARGE`, with or without the
 * `RD_KAFKA_RESP_ERR_` prefix, any case) or a number to its code.  Returns 0,
 * or -1 with a message in err.
 */
static int
errname_parse(const char *s, rd_kafka_resp_err_t *code, char *err,
    size_t errlen)
{
	static const char prefix[] = "RD_KAFKA_RESP_ERR_";
	const struct rd_kafka_err_desc *descs;
	size_t cnt, i;
	long v;

	if (strncasecmp(s, prefix, sizeof(prefix) - 1) == 0)
		s += sizeof(prefix) - 1;
	if ((*s >= '0' && *s <= '9') || *s == '-') {
		if (parse_long("error code", s, INT_MIN, INT_MAX, &v, err,
		    errlen) == -1)
			return -1;
		*code = (rd_kafka_resp_err_t)v;
		return 0;
	}
	rd_kafka_get_err_descs(&descs, &cnt);
	for (i = 0; i < cnt; i++) {
		if (descs[i].name != NULL &&
		    strcasecmp(descs[i].name, s) == 0) {
			*code = descs[i].code;
			return 0;
		}
	}
	for (i = 0; i < sizeof(err_aliases) / sizeof(err_aliases[0]); i++) {
		if (strcasecmp(err_aliases[i].name, s) == 0) {
			*code = err_aliases[i].code;
			return 0;
		}
	}
	snprintf(err, errlen, "unknown error name \"%s\"", s);
	return -1;
}

/* Sets one property; returns 0, or -1 with librdkafka's message in err. */
static int
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
    char *err, size_t errlen)
{
	if (rd_kafka_conf_set(conf, name, value, err, errlen) !=
	    RD_KAFKA_CONF_OK)
		return -1;
	return 0;
}

/* Accepts NULL. */
static void
mock_close(struct mock *m)
{
	if (m == NULL)
		return;
	if (m->consumer != NULL) {
		rd_kafka_consumer_close(m->consumer);
		rd_kafka_destroy(m->consumer);
	}
	if (m->cluster != NULL)
		rd_kafka_mock_cluster_destroy(m->cluster);
	if (m->owner != NULL)
		rd_kafka_destroy(m->owner);
	free(m);
}

/*
 * Starts a cluster of `brokers` brokers (ids 1..brokers).  The mock
 * cluster needs a client handle for its bookkeeping: a producer that never
 * produces, as librdkafka's own tests use.  Returns NULL with a message in
 * err.
 */
static struct mock *
mock_open(int brokers, char *err, size_t errlen)
{
	struct mock *m;
	rd_kafka_conf_t *conf;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	m->brokers = brokers;
	conf = rd_kafka_conf_new();
	/* It has no bootstrap.servers, and would say so at notice level. */
	if (conf_set(conf, "client.id", "kafka_mock", err, errlen) == -1 ||
	    conf_set(conf, "log_level", "4", err, errlen) == -1) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	/* rd_kafka_new() owns conf only when it succeeds. */
	if ((m->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
	    errlen)) == NULL) {
		rd_kafka_conf_destroy(conf);
		goto fail;
	}
	if ((m->cluster = rd_kafka_mock_cluster_new(m->owner, brokers)) ==
	    NULL) {
		snprintf(err, errlen, "cannot start a mock cluster of %d "
		    "brokers", brokers);
		goto fail;
	}
	return m;
fail:
	mock_close(m);
	return NULL;
}

/* Replicated on up to three brokers, as the mock's auto-created topics. */
static rd_kafka_resp_err_t
mock_topic_create(struct mock *m, const char *name, int partitions)
{
	return rd_kafka_mock_topic_create(m->cluster, name, partitions,
	    m->brokers < 3 ? m->brokers : 3);
}

/*
 * The handle that reads from the cluster, made on first use.  It joins no
 * group and commits nothing.  Reconnects
 * are quick so that a broker set up again is seen at once.  Returns NULL
 * with a message in err.
 */
static rd_kafka_t *
mock_consumer(struct mock *m, char *err, size_t errlen)
{
	static const char *const props[][2] = {
		{ "client.id",			"kafka_mock_reader" },
		{ "enable.auto.commit",		"false" },
		{ "auto.offset.reset",		"earliest" },
		{ "fetch.wait.max.ms",		"10" },
		{ "reconnect.backoff.ms",	"10" },
		{ "reconnect.backoff.max.ms",	"100" },
		{ "log.connection.close",	"false" },
	};
	rd_kafka_conf_t *conf;
	size_t i;

	if (m->consumer != NULL)
		return m->consumer;
	conf = rd_kafka_conf_new();
	if (conf_set(conf, "bootstrap.servers",
	    rd_kafka_mock_cluster_bootstraps(m->cluster), err, errlen) == -1)
		goto fail;
	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++)
		if (conf_set(conf, props[i][0], props[i][1], err,
		    errlen) == -1)
			goto fail;
	if ((m->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err,
	    errlen)) == NULL)
		goto fail;
	return m->consumer;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

/*
 * Fills parts[0..*cnt) with the low and high watermarks of each partition
 * of `topic`.  Returns 0, or -1 with a message in err.
 */
static int
mock_watermarks(struct mock *m, const char *topic, int timeout_ms,
    struct part *parts, int *cnt, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	const struct rd_kafka_metadata_topic *t = NULL;
	rd_kafka_resp_err_t e;
	rd_kafka_t *rk;
	int32_t leader;
	int i, rc = -1;

	for (i = 1; i <= m->brokers && m->down[i]; i++)
		;
	if (i > m->brokers) {
		snprintf(err, errlen, "%s: every broker is down", topic);
		return -1;
	}
	if ((rk = mock_consumer(m, err, errlen)) == NULL)
		return -1;
	if ((e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "metadata: %s: %s", rd_kafka_err2name(e),
		    rd_kafka_err2str(e));
		return -1;
	}
	for (i = 0; i < md->topic_cnt && t == NULL; i++)
		if (strcmp(md->topics[i].topic, topic) == 0)
			t = &md->topics[i];
	if (t == NULL) {
		snprintf(err, errlen, "%s: no such topic", topic);
		goto fail;
	}
	if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "%s: %s: %s", topic,
		    rd_kafka_err2name(t->err), rd_kafka_err2str(t->err));
		goto fail;
	}
	if (t->partition_cnt <= 0 || t->partition_cnt > MAX_PARTITIONS) {
		snprintf(err, errlen, "%s: %d partitions", topic,
		    t->partition_cnt);
		goto fail;
	}
	/*
	 * librdkafka 2.0.2 waits for a ListOffsets answer from a leader that
	 * is down for ever, whatever the timeout: refuse at once instead.
	 */
	for (i = 0; i < t->partition_cnt; i++) {
		leader = t->partitions[i].leader;
		if (leader < 1 || leader > m->brokers || m->down[leader]) {
			snprintf(err, errlen, "%s [%" PRId32 "]: leader %"
			    PRId32 " is %s", topic, t->partitions[i].id,
			    leader, leader < 1 ? "none" : "down");
			goto fail;
		}
	}
	*cnt = t->partition_cnt;
	for (i = 0; i < *cnt; i++) {
		if ((e = rd_kafka_query_watermark_offsets(rk, topic, i,
		    &parts[i].low, &parts[i].high, timeout_ms)) !=
		    RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(err, errlen, "%s [%d]: %s: %s", topic, i,
			    rd_kafka_err2name(e), rd_kafka_err2str(e));
			goto fail;
		}
	}
	rc = 0;
fail:
	rd_kafka_metadata_destroy(md);
	return rc;
}

static int
dump_add(struct dump *d, rd_kafka_message_t *msg)
{
	rd_kafka_message_t **n;
	size_t cap;

	if (d->cnt == d->cap) {
		cap = d->cap ? d->cap * 2 : 256;
		if ((n = realloc(d->msgs, cap * sizeof(*n))) == NULL)
			return -1;
		d->msgs = n;
		d->cap = cap;
	}
	d->msgs[d->cnt++] = msg;
	return 0;
}

static void
dump_free(struct dump *d)
{
	size_t i;

	for (i = 0; i < d->cnt; i++)
		rd_kafka_message_destroy(d->msgs[i]);
	free(d->msgs);
}

static int
dump_cmp(const void *a, const void *b)
{
	const rd_kafka_message_t *x = *(rd_kafka_message_t *const *)a;
	const rd_kafka_message_t *y = *(rd_kafka_message_t *const *)b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

/*
 * Writes a key or a value so that it stays on its line and field: `-` for
 * NULL, `\-` for the one-byte text "-", otherwise the bytes with `\`, LF,
 * CR and TAB written as `\\`, `\n`, `\r`, `\t`.
 */
static void
dump_field(FILE *fp, const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	if (p == NULL) {
		fputc('-', fp);
		return;
	}
	if (len == 1 && s[0] == '-') {
		fputs("\\-", fp);
		return;
	}
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\':
			fputs("\\\\", fp);
			break;
		case '\n':
			fputs("\\n", fp);
			break;
		case '\r':
			fputs("\\r", fp);
			break;
		case '\t':
			fputs("\\t", fp);
			break;
		default:
			fputc(s[i], fp);
		}
	}
}

/*
 * Reads every message retained in `topic`, from each partition's low
 * watermark up to the high watermark seen when the dump started, into d.
 * It uses the simple (legacy) consumer, which needs no group: assign()
 * would want one, and a group brings coordinator traffic that could take
 * errors pushed for its request types.  Returns 0, or -1 with a message
 * in err; d holds what was read either way.
 */
static int
mock_read(struct mock *m, const char *topic, int timeout_ms, struct dump *d,
    char *err, size_t errlen)
{
	struct part parts[MAX_PARTITIONS];
	rd_kafka_topic_t *rkt = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_message_t *msg;
	struct timespec start, now;
	int cnt, i, started = 0, left = 0, rc = -1;
	long elapsed;

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (mock_watermarks(m, topic, timeout_ms < QUERY_TIMEOUT_MS ?
	    timeout_ms : QUERY_TIMEOUT_MS, parts, &cnt, err, errlen) == -1)
		return -1;
	for (i = 0; i < cnt; i++) {
		parts[i].next = parts[i].low;
		if (parts[i].high > parts[i].low)
			left++;
	}
	if (left == 0)
		return 0;
	if ((rkt = rd_kafka_topic_new(m->consumer, topic, NULL)) == NULL ||
	    (q = rd_kafka_queue_new(m->consumer)) == NULL) {
		snprintf(err, errlen, "%s: %s", topic,
		    rd_kafka_err2str(rd_kafka_last_error()));
		goto done;
	}
	for (started = 0; started < cnt; started++) {
		if (parts[started].high > parts[started].low &&
		    rd_kafka_consume_start_queue(rkt, started,
		    parts[started].low, q) == -1) {
			snprintf(err, errlen, "%s [%d]: %s", topic, started,
			    rd_kafka_err2str(rd_kafka_last_error()));
			goto done;
		}
	}
	while (left > 0) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= timeout_ms) {
			snprintf(err, errlen, "%s: read %zu messages, %d "
			    "partitions unfinished after %d ms", topic, d->cnt,
			    left, timeout_ms);
			goto done;
		}
		if ((msg = rd_kafka_consume_queue(q, 50)) == NULL)
			continue;
		if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(err, errlen, "%s [%" PRId32 "]: %s: %s",
			    topic, msg->partition, rd_kafka_err2name(msg->err),
			    rd_kafka_message_errstr(msg));
			rd_kafka_message_destroy(msg);
			goto done;
		}
		i = msg->partition;
		if (i < 0 || i >= cnt || msg->offset >= parts[i].high ||
		    msg->offset < parts[i].next) {
			/* Written after the dump began, or read twice. */
			rd_kafka_message_destroy(msg);
			continue;
		}
		parts[i].next = msg->offset + 1;
		if (parts[i].next == parts[i].high)
			left--;
		if (dump_add(d, msg) == -1) {
			snprintf(err, errlen, "%s", strerror(errno));
			rd_kafka_message_destroy(msg);
			goto done;
		}
	}
	rc = 0;
done:
	for (i = 0; i < started; i++)
		if (parts[i].high > parts[i].low)
			rd_kafka_consume_stop(rkt, i);
	if (q != NULL)
		rd_kafka_queue_destroy(q);
	if (rkt != NULL)
		rd_kafka_topic_destroy(rkt);
	return rc;
}

/* Shared by down, up and rtt: a broker id, -1 for every broker. */
static int
broker_arg(struct mock *m, const char *s, int32_t *id, char *err,
    size_t errlen)
{
	long v;

	if (parse_long("broker id", s, -1, m->brokers, &v, err, errlen) == -1)
		return -1;
	*id = (int32_t)v;
	return 0;
}

/*
 * Answers `ok` for NO_ERROR and returns 0; otherwise returns -1 with
 * "WHAT: ERRNAME: description" in err.
 */
static int
answer(rd_kafka_resp_err_t e, const char *what, char *err, size_t errlen)
{
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		puts("ok");
		return 0;
	}
	snprintf(err, errlen, "%s: %s: %s", what, rd_kafka_err2name(e),
	    rd_kafka_err2str(e));
	return -1;
}

static int
cmd_topic(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	long parts;

	(void)ac;
	if (parse_long("partitions", av[1], 1, MAX_PARTITIONS, &parts, err,
	    errlen) == -1)
		return -1;
	return answer(mock_topic_create(m, av[0], (int)parts), av[0], err,
	    errlen);
}

static int
cmd_push(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	rd_kafka_resp_err_t code, *errs;
	long cnt = 1, apikey = 0, i;

	if (errname_parse(av[0], &code, err, errlen) == -1 ||
	    (ac > 1 && parse_long("count", av[1], 1, MAX_PUSH, &cnt, err,
	    errlen) == -1) ||
	    (ac > 2 && parse_long("api key", av[2], 0, INT16_MAX, &apikey,
	    err, errlen) == -1))
		return -1;
	if ((errs = calloc((size_t)cnt, sizeof(*errs))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	for (i = 0; i < cnt; i++)
		errs[i] = code;
	rd_kafka_mock_push_request_errors_array(m->cluster, (int16_t)apikey,
	    (size_t)cnt, errs);
	free(errs);
	puts("ok");
	return 0;
}

static int
cmd_clear(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	long apikey = 0;

	if (ac > 0 && parse_long("api key", av[0], 0, INT16_MAX, &apikey, err,
	    errlen) == -1)
		return -1;
	rd_kafka_mock_clear_request_errors(m->cluster, (int16_t)apikey);
	puts("ok");
	return 0;
}

static int
cmd_topic_error(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	rd_kafka_resp_err_t code;

	(void)ac;
	if (errname_parse(av[1], &code, err, errlen) == -1)
		return -1;
	rd_kafka_mock_topic_set_error(m->cluster, av[0], code);
	puts("ok");
	return 0;
}

/* Down or up, as rd_kafka_mock_broker_set_down() and _set_up(). */
static int
broker_set(struct mock *m, const char *arg, bool down, char *err,
    size_t errlen)
{
	rd_kafka_resp_err_t e;
	int32_t id;
	int i;

	if (broker_arg(m, arg, &id, err, errlen) == -1)
		return -1;
	e = down ? rd_kafka_mock_broker_set_down(m->cluster, id) :
	    rd_kafka_mock_broker_set_up(m->cluster, id);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (i = 1; i <= m->brokers; i++)
			if (id == -1 || id == i)
				m->down[i] = down;
	return answer(e, down ? "down" : "up", err, errlen);
}

static int
cmd_down(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	(void)ac;
	return broker_set(m, av[0], true, err, errlen);
}

static int
cmd_up(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	(void)ac;
	return broker_set(m, av[0], false, err, errlen);
}

static int
cmd_rtt(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	int32_t id;
	long ms;

	(void)ac;
	if (broker_arg(m, av[0], &id, err, errlen) == -1 ||
	    parse_long("rtt ms", av[1], 0, 3600000, &ms, err, errlen) == -1)
		return -1;
	return answer(rd_kafka_mock_broker_set_rtt(m->cluster, id,
	    (int)ms), "rtt", err, errlen);
}

static int
cmd_leader(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	long part;
	int32_t id;

	(void)ac;
	if (parse_long("partition", av[1], 0, MAX_PARTITIONS - 1, &part, err,
	    errlen) == -1 || broker_arg(m, av[2], &id, err, errlen) == -1)
		return -1;
	return answer(rd_kafka_mock_partition_set_leader(m->cluster, av[0],
	    (int32_t)part, id), "leader", err, errlen);
}

static int
timeout_arg(char **av, int ac, int idx, int dflt, int *ms, char *err,
    size_t errlen)
{
	long v = dflt;

	if (ac > idx && parse_long("timeout ms", av[idx], 1, 600000, &v, err,
	    errlen) == -1)
		return -1;
	*ms = (int)v;
	return 0;
}

static int
cmd_watermarks(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	struct part parts[MAX_PARTITIONS];
	int cnt, i, ms;

	if (timeout_arg(av, ac, 1, QUERY_TIMEOUT_MS, &ms, err, errlen) == -1 ||
	    mock_watermarks(m, av[0], ms, parts, &cnt, err, errlen) == -1)
		return -1;
	fputs("ok", stdout);
	for (i = 0; i < cnt; i++)
		printf(" %d:%" PRId64 ":%" PRId64, i, parts[i].low,
		    parts[i].high);
	putchar('\n');
	return 0;
}

static int
cmd_dump(struct mock *m, char **av, int ac, char *err, size_t errlen)
{
	struct dump d = { NULL, 0, 0 };
	rd_kafka_message_t *msg;
	size_t i;
	int ms;

	if (timeout_arg(av, ac, 1, DUMP_TIMEOUT_MS, &ms, err, errlen) == -1)
		return -1;
	if (mock_read(m, av[0], ms, &d, err, errlen) == -1) {
		dump_free(&d);
		return -1;
	}
	if (d.cnt > 1)
		qsort(d.msgs, d.cnt, sizeof(*d.msgs), dump_cmp);
	printf("ok %zu\n", d.cnt);
	for (i = 0; i < d.cnt; i++) {
		msg = d.msgs[i];
		printf("%" PRId32 "\t%" PRId64 "\t", msg->partition,
		    msg->offset);
		dump_field(stdout, msg->key, msg->key_len);
		putchar('\t');
		dump_field(stdout, msg->payload, msg->len);
		putchar('\n');
	}
	dump_free(&d);
	return 0;
}

static const struct cmd cmds[] = {
	{ "topic", 2, 2, cmd_topic, "topic NAME PARTITIONS" },
	{ "push", 1, 3, cmd_push, "push ERRNAME [COUNT] [APIKEY]" },
	{ "clear", 0, 1, cmd_clear, "clear [APIKEY]" },
	{ "topic_error", 2, 2, cmd_topic_error, "topic_error NAME ERRNAME" },
	{ "down", 1, 1, cmd_down, "down BROKERID" },
	{ "up", 1, 1, cmd_up, "up BROKERID" },
	{ "rtt", 2, 2, cmd_rtt, "rtt BROKERID MS" },
	{ "leader", 3, 3, cmd_leader, "leader TOPIC PARTITION BROKERID" },
	{ "watermarks", 1, 2, cmd_watermarks, "watermarks TOPIC [TIMEOUT_MS]" },
	{ "dump", 1, 2, cmd_dump, "dump TOPIC [TIMEOUT_MS]" },
	{ "quit", 0, 0, NULL, "quit" },
};

/*
 * Splits a command line into words and runs it; the command writes its own
 * `ok` answer.  Sets *quit after quit.  Returns 0, or -1 with the message
 * for the `error` answer in err.
 */
static int
cmd_run(struct mock *m, char *line, int *quit, char *err, size_t errlen)
{
	char *av[MAX_ARGS], *save, *tok;
	const struct cmd *c = NULL;
	size_t i;
	int ac = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t\r", &save)) {
		if (ac == MAX_ARGS) {
			snprintf(err, errlen, "too many words");
			return -1;
		}
		av[ac++] = tok;
	}
	if (ac == 0) {
		snprintf(err, errlen, "empty command");
		return -1;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]) && c == NULL; i++)
		if (strcmp(cmds[i].name, av[0]) == 0)
			c = &cmds[i];
	if (c == NULL) {
		snprintf(err, errlen, "unknown command \"%s\"", av[0]);
		return -1;
	}
	if (ac - 1 < c->minargs || ac - 1 > c->maxargs) {
		snprintf(err, errlen, "usage: %s", c->usage);
		return -1;
	}
	if (c->fn == NULL) {
		puts("ok");
		*quit = 1;
		return 0;
	}
	return c->fn(m, av + 1, ac - 1, err, errlen);
}

/*
 * Runs one command line and flushes its answer.  Returns 1 after quit, 0
 * to go on, -1 when stdout is gone.
 */
static int
run_line(struct mock *m, char *line)
{
	char err[512];
	int quit = 0;

	if (cmd_run(m, line, &quit, err, sizeof(err)) == -1) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		printf("error %s\n", err);
	}
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "kafka_mock: stdout: %s\n", strerror(errno));
		return -1;
	}
	return quit;
}

/*
 * Reads command lines from stdin until quit, EOF or a signal on sigfd.
 * A line too long for the buffer is answered with one error.  Returns 0,
 * or -1 on a read or write error.
 */
static int
serve(struct mock *m, int sigfd)
{
	static char buf[LINE_MAX_BYTES];
	struct pollfd pfd[2];
	size_t len = 0;
	bool skipping = false;
	char *nl, *line;
	ssize_t n;
	int rc;

	for (;;) {
		pfd[0].fd = STDIN_FILENO;
		pfd[0].events = POLLIN;
		pfd[1].fd = sigfd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kafka_mock: poll: %s\n",
			    strerror(errno));
			return -1;
		}
		if (pfd[1].revents != 0)
			return 0;
		if (pfd[0].revents == 0)
			continue;
		/* Keep one byte for the terminator added at EOF. */
		if ((n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 -
		    len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "kafka_mock: stdin: %s\n",
			    strerror(errno));
			return -1;
		}
		if (n == 0) {
			/* A last line without its newline still counts. */
			if (len > 0 && !skipping) {
				buf[len] = '\0';
				return run_line(m, buf) == -1 ? -1 : 0;
			}
			return 0;
		}
		len += (size_t)n;
		line = buf;
		while ((nl = memchr(line, '\n', len - (size_t)(line - buf))) !=
		    NULL) {
			*nl = '\0';
			if (skipping) {
				skipping = false;
				fprintf(stderr, "kafka_mock: line longer than "
				    "%d bytes\n", LINE_MAX_BYTES - 1);
				printf("error line longer than %d bytes\n",
				    LINE_MAX_BYTES - 1);
				rc = fflush(stdout) == EOF ? -1 : 0;
			} else
				rc = run_line(m, line);
			if (rc != 0)
				return rc == 1 ? 0 : -1;
			line = nl + 1;
		}
		len -= (size_t)(line - buf);
		memmove(buf, line, len);
		if (len == sizeof(buf) - 1) {
			skipping = true;
			len = 0;
		}
	}
}

/* Creates the topic named by NAME:PARTITIONS; returns 0 or -1. */
static int
topic_arg(struct mock *m, const char *spec)
{
	char err[512], name[256];
	const char *colon;
	long parts;
	rd_kafka_resp_err_t e;

	if ((colon = strrchr(spec, ':')) == NULL || colon == spec ||
	    (size_t)(colon - spec) >= sizeof(name)) {
		fprintf(stderr, "kafka_mock: --topic %s: expected "
		    "NAME:PARTITIONS\n", spec);
		return -1;
	}
	memcpy(name, spec, (size_t)(colon - spec));
	name[colon - spec] = '\0';
	if (parse_long("partitions", colon + 1, 1, MAX_PARTITIONS, &parts, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "kafka_mock: --topic %s: %s\n", spec, err);
		return -1;
	}
	if ((e = mock_topic_create(m, name, (int)parts)) !=
	    RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "kafka_mock: --topic %s: %s\n", spec,
		    rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "brokers",	required_argument,	NULL, 'b' },
		{ "topic",	required_argument,	NULL, 't' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct mock *m = NULL;
	char err[512];
	const char **topics = NULL;
	sigset_t sigs;
	long brokers = 1;
	int ch, i, ntopics = 0, sigfd = -1, rc = 2;

	if ((topics = calloc((size_t)argc, sizeof(*topics))) == NULL) {
		fprintf(stderr, "kafka_mock: %s\n", strerror(errno));
		return 2;
	}
	while ((ch = getopt_long(argc, argv, "b:t:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			if (parse_long("--brokers", optarg, 1, MAX_BROKERS,
			    &brokers, err, sizeof(err)) == -1) {
				fprintf(stderr, "kafka_mock: %s\n", err);
				rc = 1;
				goto done;
			}
			break;
		case 't':
			topics[ntopics++] = optarg;
			break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto done;
		default:
			usage(stderr);
			rc = 1;
			goto done;
		}
	}
	if (optind != argc) {
		usage(stderr);
		rc = 1;
		goto done;
	}

	/*
	 * Signals arrive on a descriptor, polled with stdin.  They are
	 * blocked before librdkafka starts its threads, which inherit the
	 * mask, so none of those threads takes them.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1 ||
	    (sigfd = signalfd(-1, &sigs, SFD_CLOEXEC)) == -1) {
		fprintf(stderr, "kafka_mock: signals: %s\n", strerror(errno));
		goto done;
	}
	signal(SIGPIPE, SIG_IGN);

	if ((m = mock_open((int)brokers, err, sizeof(err))) == NULL) {
		fprintf(stderr, "kafka_mock: %s\n", err);
		goto done;
	}
	for (i = 0; i < ntopics; i++) {
		if (topic_arg(m, topics[i]) == -1) {
			rc = 1;
			goto done;
		}
	}
	fprintf(stderr, "listening kafka %s\n",
	    rd_kafka_mock_cluster_bootstraps(m->cluster));
	fflush(stderr);

	rc = serve(m, sigfd) == 0 ? 0 : 2;
done:
	mock_close(m);
	if (sigfd != -1)
		close(sigfd);
	free(topics);
	return rc;
}
