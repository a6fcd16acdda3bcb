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

#include <spillway/reason.h>

struct sclass;

enum record_source {
	SOURCE_TCP,
	SOURCE_HTTP,
	SOURCE_KAFKA,
	SOURCE_INTERNAL
};

/* What became of a record, as the source that offered it is told. */
enum record_fate {
	RECORD_FORWARDED,	/* acknowledged by the sink (2xx, 409, written) */
	RECORD_SHED,		/* dropped by policy */
	RECORD_REJECTED,	/* refused for good by the sink */
	RECORD_FAILED		/* not delivered: sink error, shutdown, cancelled */
};

/*
 * The sink's own answer for one record, when it has one: for
 * Elasticsearch, the text of the bulk response item's object
 * ({"_index":...,"_id":...,"status":201,...}), byte for byte.  Borrowed:
 * valid only while the ack function runs.
 */
struct record_answer {
	const char	*text;		/* NULL: no item text, status only */
	size_t		 len;
	int		 status;	/* HTTP status of the item, or 0 */
};

#define RECORD_ACK_ANSWER	0x1	/* wants the sink's item answer */
#define RECORD_ACK_RESENDS	0x2	/* the sender keeps and resends what
					   is not delivered: such a loss is
					   "unacknowledged", not "sink_error" */

/*
 * Who wants to know when a record's fate is final (an HTTP sender waiting
 * for its _bulk answer, a Kafka source committing offsets).  fn is called
 * exactly once per record that carries it, with the fate, the drop reason
 * (REASON_MAX when forwarded) and the sink's answer or NULL.
 */
struct record_ack {
	void		(*fn)(void *arg, uint64_t token, enum record_fate fate,
			    enum reason reason,
			    const struct record_answer *ans);
	void		 *arg;
	unsigned	  flags;	/* RECORD_ACK_* */
};

struct record {
	TAILQ_ENTRY(record)	 link;		/* a batch, or the divert queue */
	TAILQ_ENTRY(record)	 plink;		/* the queue: its priority's list */
	struct sclass		*cls;		/* class state; outlives records */
	const char		*class_name;	/* cls's name, for the sinks:
						   as long-lived as cls; set
						   on every queued record */
	json_t			*json;		/* one reference, or NULL */
	const char		*data;		/* bytes to forward, no newline */
	size_t			 len;
	const char		*action;	/* bulk action line, or NULL */
	size_t			 action_len;
	const char		*params;	/* the sink request's query
						   parameters, or NULL */
	size_t			 params_len;
	uint64_t		 t_in;		/* ns, when received */
	uint64_t		 seq;		/* order of admission to the queue */
	uint16_t		 priority;
	uint8_t			 source;	/* enum record_source */
	uint8_t			 invalid;	/* data is the parse-failure wrapper */
	uint8_t			 bare;		/* action line only (bulk delete) */
	uint8_t			 queued;	/* in the shaper's queue now */
	uint8_t			 admitted;	/* was queued: its lag counts */
	const struct record_ack	*ack;		/* or NULL */
	uint64_t		 ack_token;
	size_t			 cost;		/* its allocation's real size,
						   counted in the budget */
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

/*
 * Whether a line (len bytes) is blank: only spaces, tabs and line ends.
 * A blank line is not an event, wherever it comes from.
 */
static inline int
record_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			return 0;
	return 1;
}

/* The record's fate is final: tell its ack, if any, once. */
static inline void
record_settle(struct record *rec, enum record_fate fate, enum reason reason,
    const struct record_answer *ans)
{
	const struct record_ack *a = rec->ack;

	if (a != NULL) {
		rec->ack = NULL;
		a->fn(a->arg, rec->ack_token, fate, reason, ans);
	}
}

/*
 * Give rec the query parameters params (len bytes, "refresh=true&...")
 * its sink request must carry; a copy goes into the record, which may
 * move.  Returns the record, or NULL without memory (rec is unchanged).
 */
struct record	*record_set_params(struct record *rec, const char *params,
		    size_t len);

/*
 * What an allocation of size bytes really takes, as the budget counts a
 * record: malloc's header and rounding included.
 */
size_t		 record_cost(size_t size);

/*
 * Drops the json reference too; an ack not yet told hears
 * RECORD_FAILED (reason shutdown).
 * Accepts NULL.
 */
void		 record_free(struct record *rec);

/*
 * Append the JSON string escape of s (len bytes) to out, replacing
 * invalid UTF-8 with U+FFFD.  out must have room for 6 * len bytes.
 * Returns the number of bytes written.  The same as
 * record_escape_flags(out, s, len, 0).
 */
size_t		 record_escape(char *out, const char *s, size_t len);

#define RECORD_ESCAPE_UPPER	0x01	/* \u001F, capitals as jansson's */
#define RECORD_ESCAPE_RAW	0x02	/* U+FFFD as its bytes, not \ufffd */

/*
 * The one JSON string escaper: '"', '\\' and control characters escaped
 * (\b \f \n \r \t, else \u00xx), well-formed UTF-8 copied, each byte
 * that is not replaced by U+FFFD; no quotes around it.  With out NULL,
 * writes nothing and returns the length it would write.  Returns the
 * number of bytes written, at most 6 * len.
 */
size_t		 record_escape_flags(char *out, const char *s, size_t len,
		    int flags);

#endif
