/*
 * tap: live samples of events and their fate (tap.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "record.h"
#include "tap.h"

#define TAP_LINE_MAX	(256 + 6 * RULES_NAME_MAX + 6 * TAP_EVENT_MAX)

struct tap_sub {
	int		 used;
	struct tap_filter f;
	struct tap_out	 out;
	struct bucket	 rate;
	uint64_t	 seen;		/* matched, this second */
	uint64_t	 sent;
	uint64_t	 skipped;	/* matched, over the rate or no room */
	uint64_t	 total;		/* sent, ever */
};

struct tap {
	size_t		 n;
	struct tap_sub	 subs[TAP_MAX];
	char		*line;		/* TAP_LINE_MAX */
};

enum tap_outcome
tap_outcome_of(enum reason r)
{
	switch (r) {
	case REASON_TOO_LARGE:
	case REASON_SINK_REJECTED:
		return TAP_REJECTED;
	default:
		return TAP_SHED;
	}
}

int
tap_outcome_parse(const char *s)
{
	if (strcmp(s, "forwarded") == 0)
		return TAP_FORWARDED;
	if (strcmp(s, "shed") == 0)
		return TAP_SHED;
	if (strcmp(s, "rejected") == 0)
		return TAP_REJECTED;
	return 0;
}

const char *
tap_outcome_name(enum tap_outcome o)
{
	return o == TAP_FORWARDED ? "forwarded" : o == TAP_SHED ? "shed" :
	    "rejected";
}

struct tap *
tap_new(void)
{
	struct tap *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((t->line = malloc(TAP_LINE_MAX)) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

/* End subscription i, telling its connection why. */
static void
tap_end(struct tap *t, int i, const char *why)
{
	struct tap_sub *s = &t->subs[i];

	s->used = 0;
	t->n--;
	if (s->out.end != NULL)
		s->out.end(s->out.arg, why);
}

void
tap_free(struct tap *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < TAP_MAX; i++)
		if (t->subs[i].used)
			tap_end(t, i, "shutdown");
	free(t->line);
	free(t);
}

int
tap_subscribe(struct tap *t, const struct tap_filter *f,
    const struct tap_out *out, uint64_t now)
{
	struct tap_sub *s;
	int i;

	for (i = 0; i < TAP_MAX; i++)
		if (!t->subs[i].used)
			break;
	if (i == TAP_MAX)
		return -1;
	s = &t->subs[i];
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->f = *f;
	if (s->f.outcomes == 0)
		s->f.outcomes = TAP_ALL;
	s->out = *out;
	bucket_init(&s->rate, TAP_RATE, TAP_RATE, now);
	t->n++;
	return i;
}

void
tap_unsubscribe(struct tap *t, int id)
{
	if (id < 0 || id >= TAP_MAX || !t->subs[id].used)
		return;
	t->subs[id].used = 0;
	t->n--;
}

size_t
tap_subscribers(const struct tap *t)
{
	return t->n;
}

int
tap_wants(const struct tap *t)
{
	return t != NULL && t->n > 0;
}

/* Whether the event's bytes are one JSON value, to be sent as they are. */
static int
tap_is_json(const char *line, size_t len)
{
	json_t *j;

	if ((j = json_loadb(line, len, JSON_DECODE_ANY, NULL)) == NULL)
		return 0;
	json_decref(j);
	return 1;
}

/* The line for an event, into t->line; its length. */
static size_t
tap_format(struct tap *t, const char *class_name, enum tap_outcome outcome,
    enum reason why, const char *line, size_t len)
{
	char *p = t->line;
	int raw;

	if (len > TAP_EVENT_MAX)
		len = TAP_EVENT_MAX;
	raw = len < TAP_EVENT_MAX && tap_is_json(line, len);
	p += sprintf(p, "{\"class\":\"");
	p += record_escape(p, class_name, strlen(class_name));
	p += sprintf(p, "\",\"outcome\":\"%s\"", tap_outcome_name(outcome));
	if (outcome != TAP_FORWARDED)
		p += sprintf(p, ",\"reason\":\"%s\"", reason_name(why));
	p += sprintf(p, ",\"event\":%s", raw ? "" : "\"");
	if (raw) {
		memcpy(p, line, len);
		p += len;
	} else
		p += record_escape(p, line, len);
	p += sprintf(p, "%s}\n", raw ? "" : "\"");
	return (size_t)(p - t->line);
}

void
tap_event(struct tap *t, const char *class_name, enum tap_outcome outcome,
    enum reason why, const char *line, size_t len, uint64_t now)
{
	struct tap_sub *s;
	size_t n = 0;
	int i;

	if (!tap_wants(t))
		return;
	for (i = 0; i < TAP_MAX; i++) {
		s = &t->subs[i];
		if (!s->used || !(s->f.outcomes & outcome) ||
		    (s->f.class_name[0] != '\0' &&
		    strcmp(s->f.class_name, class_name) != 0))
			continue;
		s->seen++;
		if (s->out.pending(s->out.arg) > TAP_BUFFER_MAX) {
			tap_end(t, i, "slow reader");
			continue;
		}
		if (!bucket_take(&s->rate, 1, now)) {
			s->skipped++;
			continue;
		}
		if (n == 0)
			n = tap_format(t, class_name, outcome, why, line, len);
		if (s->out.write(s->out.arg, t->line, n) == -1) {
			tap_unsubscribe(t, i);
			continue;
		}
		s->sent++;
		if (++s->total == s->f.limit)
			tap_end(t, i, "limit");
	}
}

void
tap_tick(struct tap *t, uint64_t now)
{
	struct tap_sub *s;
	char buf[160];
	int i, n;

	(void)now;
	for (i = 0; i < TAP_MAX; i++) {
		s = &t->subs[i];
		if (!s->used)
			continue;
		if (s->out.pending(s->out.arg) > TAP_BUFFER_MAX) {
			tap_end(t, i, "slow reader");
			continue;
		}
		n = snprintf(buf, sizeof(buf), "{\"tap\":{\"seen\":%llu,"
		    "\"sent\":%llu,\"skipped\":%llu}}\n",
		    (unsigned long long)s->seen, (unsigned long long)s->sent,
		    (unsigned long long)s->skipped);
		s->seen = s->sent = s->skipped = 0;
		if (s->out.write(s->out.arg, buf, (size_t)n) == -1)
			tap_unsubscribe(t, i);
	}
}
