/*
 * history: a ring of per-second samples (history.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "history.h"
#include "record.h"

struct history {
	struct {
		char	 name[RULES_NAME_MAX + 1];
		int	 priority;
	}			 cols[HISTORY_CLASSES];
	size_t			 ncols;
	struct history_sample	 ring[HISTORY_SECS];
	size_t			 head;		/* the oldest */
	size_t			 len;
};

struct history *
history_new(void)
{
	return calloc(1, sizeof(struct history));
}

void
history_free(struct history *h)
{
	free(h);
}

int
history_column(struct history *h, const char *name, int priority)
{
	size_t i;

	for (i = 0; i < h->ncols; i++)
		if (strcmp(h->cols[i].name, name) == 0) {
			h->cols[i].priority = priority;
			return (int)i;
		}
	if (h->ncols == HISTORY_CLASSES)
		return -1;
	snprintf(h->cols[i].name, sizeof(h->cols[i].name), "%s", name);
	h->cols[i].priority = priority;
	h->ncols++;
	return (int)i;
}

struct history_sample *
history_next(struct history *h, uint64_t wall_ms)
{
	struct history_sample *s;

	if (h->len < HISTORY_SECS)
		s = &h->ring[(h->head + h->len++) % HISTORY_SECS];
	else {
		s = &h->ring[h->head];
		h->head = (h->head + 1) % HISTORY_SECS;
	}
	memset(s, 0, sizeof(*s));
	s->wall_ms = wall_ms;
	s->n = h->ncols;
	return s;
}

size_t
history_len(const struct history *h)
{
	return h->len;
}

const struct history_sample *
history_at(const struct history *h, size_t i)
{
	return i < h->len ? &h->ring[(h->head + i) % HISTORY_SECS] : NULL;
}

/* One array of a sample: field at off of each column, null past n. */
static void
history_array(struct evbuffer *out, const char *key,
    const struct history_sample *s, size_t ncols, size_t off)
{
	size_t i;

	evbuffer_add_printf(out, ",\"%s\":[", key);
	for (i = 0; i < ncols; i++) {
		if (i >= s->n)
			evbuffer_add_printf(out, "%snull", i ? "," : "");
		else
			evbuffer_add_printf(out, "%s%.1f", i ? "," : "",
			    (double)*(const float *)((const char *)&s->c[i] +
			    off));
	}
	evbuffer_add_printf(out, "]");
}

int
history_json(const struct history *h, struct evbuffer *out)
{
	char name[6 * RULES_NAME_MAX + 1];
	const struct history_sample *s;
	size_t i;

	evbuffer_add_printf(out, "{\"interval_s\":1,\"window_s\":%d,"
	    "\"classes\":[", HISTORY_SECS);
	for (i = 0; i < h->ncols; i++) {
		name[record_escape(name, h->cols[i].name,
		    strlen(h->cols[i].name))] = '\0';
		evbuffer_add_printf(out, "%s{\"name\":\"%s\",\"priority\":%d}",
		    i ? "," : "", name, h->cols[i].priority);
	}
	evbuffer_add_printf(out, "],\"samples\":[");
	for (i = 0; i < h->len; i++) {
		s = history_at(h, i);
		evbuffer_add_printf(out, "%s{\"t\":%llu,\"capacity\":", i ? "," :
		    "", (unsigned long long)s->wall_ms);
		if (isinf(s->capacity))
			evbuffer_add_printf(out, "null");
		else
			evbuffer_add_printf(out, "%.1f", s->capacity);
		evbuffer_add_printf(out, ",\"backpressure\":%s,\"queued\":%llu",
		    s->backpressure ? "true" : "false",
		    (unsigned long long)s->queued);
		history_array(out, "received", s, h->ncols,
		    offsetof(struct history_class, received));
		history_array(out, "forwarded", s, h->ncols,
		    offsetof(struct history_class, forwarded));
		history_array(out, "shed", s, h->ncols,
		    offsetof(struct history_class, shed));
		history_array(out, "dropped", s, h->ncols,
		    offsetof(struct history_class, dropped));
		history_array(out, "lag_p99_ms", s, h->ncols,
		    offsetof(struct history_class, lag_p99_ms));
		evbuffer_add_printf(out, "}");
	}
	return evbuffer_add_printf(out, "]}") < 0 ? -1 : 0;
}
