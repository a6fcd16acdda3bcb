/*
 * tap: a live sample of events and their fate, for GET /tap.  Each
 * subscriber names a class (or every class), the outcomes it wants and
 * how many events in all; it gets at most TAP_RATE events a second as
 * NDJSON lines {"class":...,"outcome":...,"reason":...,"event":...},
 * and once a second a line {"tap":{"seen":N,"sent":N,"skipped":N}}.
 *
 * The tap never changes what is forwarded and never waits: a line is
 * written only when the subscriber's connection has room for it, and a
 * subscriber whose connection holds more than TAP_BUFFER_MAX unsent
 * bytes is cut off.  Callers ask tap_wants() before building anything.
 */
#ifndef SPILLWAY_TAP_H
#define SPILLWAY_TAP_H

#include <stddef.h>
#include <stdint.h>

#include <spillway/reason.h>

#include "bucket.h"
#include "rules.h"

#define TAP_MAX		8		/* subscribers at once */
#define TAP_RATE	1000		/* lines/s per subscriber */
#define TAP_BUFFER_MAX	(1024 * 1024)	/* unsent bytes before cut-off */
#define TAP_EVENT_MAX	(64 * 1024)	/* longer events are cut */

enum tap_outcome {
	TAP_FORWARDED = 0x1,
	TAP_SHED = 0x2,		/* dropped by policy or for want of room */
	TAP_REJECTED = 0x4	/* refused: too large, or by the sink */
};
#define TAP_ALL		(TAP_FORWARDED | TAP_SHED | TAP_REJECTED)

/* The outcome a drop reason is. */
enum tap_outcome tap_outcome_of(enum reason r);

/* "forwarded", "shed" or "rejected" -> the outcome; 0 if none. */
int		 tap_outcome_parse(const char *s);
const char	*tap_outcome_name(enum tap_outcome o);

/* Where a subscriber's lines go: its connection. */
struct tap_out {
	/* Append len bytes; -1 when the connection is gone. */
	int	(*write)(void *arg, const char *buf, size_t len);
	/* Bytes written and not yet sent. */
	size_t	(*pending)(void *arg);
	/* The subscription ends (limit reached, slow reader, shutdown). */
	void	(*end)(void *arg, const char *why);
	void	 *arg;
};

struct tap_filter {
	char		 class_name[RULES_NAME_MAX + 1];	/* "": all */
	int		 outcomes;	/* TAP_* bits */
	uint64_t	 limit;		/* events to send, 0: no limit */
};

struct tap;

struct tap	*tap_new(void);

/* Ends every subscription ("shutdown"). */
void		 tap_free(struct tap *t);

/* A new subscriber: its id, or -1 when TAP_MAX are taken. */
int		 tap_subscribe(struct tap *t, const struct tap_filter *f,
		    const struct tap_out *out, uint64_t now);

/* The subscriber's connection went away: forget it (end() not called). */
void		 tap_unsubscribe(struct tap *t, int id);

size_t		 tap_subscribers(const struct tap *t);

/* Whether any subscriber is there at all (t may be NULL). */
int		 tap_wants(const struct tap *t);

/*
 * An event's fate: class, outcome, the drop reason (ignored when
 * forwarded), the event's bytes (JSON text; anything else is sent as a
 * string).
 */
void		 tap_event(struct tap *t, const char *class_name,
		    enum tap_outcome outcome, enum reason why,
		    const char *line, size_t len, uint64_t now);

/* Once a second: each subscriber's counter line, and cut-offs. */
void		 tap_tick(struct tap *t, uint64_t now);

#endif
