/*
 * record: one event on its way through spillway.  The bytes that will be
 * forwarded, the bulk action line it came with (if any), the parsed
 * object and the class live in one allocation.
 */
#ifndef SPILLWAY_RECORD_H
#define SPILLWAY_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <jansson.h>

struct sclass;

enum record_source {
	SOURCE_TCP,
	SOURCE_HTTP,
	SOURCE_KAFKA,
	SOURCE_INTERNAL
};

/*
 * Who wants to know when a record's fate is final (a Kafka source commits
 * offsets from it).  fn is called exactly once per record that carries it:
 * done 1 when the record was forwarded or dropped by policy (or refused
 * for good by the sink), done 0 when the sink failed or a shutdown lost it
 * and it should be read again.
 */
struct record_ack {
	void		(*fn)(void *arg, uint64_t token, int done);
	void		 *arg;
};

struct record {
	TAILQ_ENTRY(record)	 link;		/* queue FIFO, or a batch */
	TAILQ_ENTRY(record)	 plink;		/* queue: per-priority list */
	struct sclass		*cls;		/* class state; outlives records */
	json_t			*json;		/* one reference, or NULL */
	const char		*data;		/* bytes to forward, no newline */
	size_t			 len;
	const char		*action;	/* bulk action line, or NULL */
	size_t			 action_len;
	uint64_t		 t_in;		/* ns, when received */
	uint16_t		 priority;
	uint8_t			 source;	/* enum record_source */
	uint8_t			 invalid;	/* data is the parse-failure wrapper */
	uint8_t			 bare;		/* action line only (bulk delete) */
	const struct record_ack	*ack;		/* or NULL */
	uint64_t		 ack_token;
	char			 buf[];
};

TAILQ_HEAD(record_list, record);

/*
 * A record holding a copy of data (len bytes) and, when action is not
 * NULL, of the bulk action line.  json is not set.  NULL on allocation
 * failure.
 */
struct record	*record_new(const char *data, size_t len, const char *action,
		    size_t action_len);

/*
 * A record for a line that is not one valid JSON object: data becomes
 * {"message":"<line>","tags":["_jsonparsefailure"]} (the Logstash
 * convention), with bytes that are not valid UTF-8 replaced by U+FFFD.
 */
struct record	*record_new_invalid(const char *line, size_t len,
		    const char *action, size_t action_len);

/* The record's fate is final: tell its ack, if any, once. */
static inline void
record_settle(struct record *rec)
{
	const struct record_ack *a = rec->ack;

	if (a != NULL) {
		rec->ack = NULL;
		a->fn(a->arg, rec->ack_token, 1);
	}
}

/*
 * Drops the json reference too; an ack not yet told hears done 0.
 * Accepts NULL.
 */
void		 record_free(struct record *rec);

/*
 * Append the JSON string escape of s (len bytes) to out, replacing
 * invalid UTF-8 with U+FFFD.  out must have room for 6 * len bytes.
 * Returns the number of bytes written.
 */
size_t		 record_escape(char *out, const char *s, size_t len);

#endif
