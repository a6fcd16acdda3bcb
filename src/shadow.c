/*
 * shadow: live classification under a candidate rule set (shadow.h).
 *
 * The pairs are few (classes in force times candidate classes that
 * occur), so they sit in an array searched from the most recent hit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "classify.h"
#include "record.h"
#include "shadow.h"

#define MINUTE_NS	(60ULL * 1000000000ULL)
#define OTHER		"(other)"

struct shadow_pair {
	char		 from[RULES_NAME_MAX + 1];
	char		 to[RULES_NAME_MAX + 1];
	uint64_t	 n[SHADOW_SLOTS];
};

struct shadow {
	struct ruleset		*rs;
	unsigned		 sample;
	uint64_t		 seen;		/* events offered */
	uint64_t		 created;	/* ns */
	uint64_t		 epoch[SHADOW_SLOTS];	/* minute of each slot */
	struct shadow_pair	*pairs;
	size_t			 npairs;
	size_t			 last;		/* the last pair counted */
	uint64_t		 classified;	/* events classified, ever */
	uint64_t		 cpu_ns;	/* spent on them */
};

struct shadow *
shadow_new(struct ruleset *rs, unsigned sample, uint64_t now)
{
	struct shadow *sh;
	size_t i;

	if ((sh = calloc(1, sizeof(*sh))) == NULL ||
	    (sh->pairs = calloc(SHADOW_PAIRS_MAX + 1,
	    sizeof(*sh->pairs))) == NULL) {
		free(sh);
		return NULL;
	}
	sh->rs = rs;
	sh->sample = sample < 1 ? 1 : sample;
	sh->created = now;
	for (i = 0; i < SHADOW_SLOTS; i++)
		sh->epoch[i] = UINT64_MAX;
	return sh;
}

void
shadow_free(struct shadow *sh)
{
	if (sh == NULL)
		return;
	rules_free(sh->rs);
	free(sh->pairs);
	free(sh);
}

struct ruleset *
shadow_take(struct shadow *sh)
{
	struct ruleset *rs = sh->rs;

	sh->rs = NULL;
	return rs;
}

const struct ruleset *
shadow_rules(const struct shadow *sh)
{
	return sh->rs;
}

/* The pair (from, to), added if new; the "(other)" pair once full. */
static struct shadow_pair *
shadow_pair(struct shadow *sh, const char *from, const char *to)
{
	struct shadow_pair *p = &sh->pairs[sh->last];
	size_t i;

	if (sh->npairs > 0 && strcmp(p->from, from) == 0 &&
	    strcmp(p->to, to) == 0)
		return p;
	for (i = 0; i < sh->npairs; i++) {
		p = &sh->pairs[i];
		if (strcmp(p->from, from) == 0 && strcmp(p->to, to) == 0) {
			sh->last = i;
			return p;
		}
	}
	if (sh->npairs == SHADOW_PAIRS_MAX) {
		p = &sh->pairs[SHADOW_PAIRS_MAX];
		snprintf(p->from, sizeof(p->from), OTHER);
		snprintf(p->to, sizeof(p->to), OTHER);
		return p;
	}
	p = &sh->pairs[sh->npairs];
	snprintf(p->from, sizeof(p->from), "%s", from);
	snprintf(p->to, sizeof(p->to), "%s", to);
	sh->last = sh->npairs++;
	return p;
}

static uint64_t
shadow_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
shadow_event(struct shadow *sh, const char *line, size_t len,
    const char *live_class, uint64_t now)
{
	struct classify_result r;
	uint64_t minute = now / MINUTE_NS, t0;
	size_t slot = minute % SHADOW_SLOTS, i;

	if (sh->rs == NULL || sh->seen++ % sh->sample != 0)
		return;
	if (sh->epoch[slot] != minute) {
		for (i = 0; i <= SHADOW_PAIRS_MAX; i++)
			sh->pairs[i].n[slot] = 0;
		sh->epoch[slot] = minute;
	}
	t0 = shadow_cpu_ns();
	classify_event(sh->rs, line, len, &r);
	sh->cpu_ns += shadow_cpu_ns() - t0;
	sh->classified++;
	shadow_pair(sh, live_class, sh->rs->classes[r.cls].name)->n[slot]++;
}

/* Events of pair p within the window ending at minute. */
static uint64_t
shadow_count(const struct shadow *sh, const struct shadow_pair *p,
    uint64_t minute)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < SHADOW_SLOTS; i++)
		if (sh->epoch[i] != UINT64_MAX &&
		    sh->epoch[i] + SHADOW_SLOTS > minute)
			n += p->n[i];
	return n;
}

struct shadow_row {
	const struct shadow_pair *p;
	uint64_t		 n;
};

static int
shadow_row_cmp(const void *a, const void *b)
{
	const struct shadow_row *x = a, *y = b;
	int c;

	if (x->n != y->n)
		return x->n < y->n ? 1 : -1;
	if ((c = strcmp(x->p->from, y->p->from)) != 0)
		return c;
	return strcmp(x->p->to, y->p->to);
}

int
shadow_json(const struct shadow *sh, uint64_t now, struct evbuffer *out)
{
	char from[6 * RULES_NAME_MAX + 1], to[6 * RULES_NAME_MAX + 1];
	uint64_t minute = now / MINUTE_NS, total = 0, moved = 0;
	struct shadow_row *rows;
	size_t i, n = 0;

	if ((rows = calloc(sh->npairs + 1, sizeof(*rows))) == NULL)
		return -1;
	for (i = 0; i <= SHADOW_PAIRS_MAX; i++) {
		if (i >= sh->npairs && i != SHADOW_PAIRS_MAX)
			continue;
		if ((rows[n].n = shadow_count(sh, &sh->pairs[i], minute)) == 0)
			continue;
		rows[n].p = &sh->pairs[i];
		total += rows[n].n;
		if (strcmp(rows[n].p->from, rows[n].p->to) != 0)
			moved += rows[n].n;
		n++;
	}
	qsort(rows, n, sizeof(*rows), shadow_row_cmp);
	evbuffer_add_printf(out, "{\"sample\":%u,\"window_s\":%d,\"age_s\":"
	    "%.1f,\"events\":%llu,\"moved\":%llu,\"cpu_ns_per_event\":%.0f,"
	    "\"pairs\":[", sh->sample, SHADOW_SLOTS * 60,
	    (double)(now - sh->created) / 1e9, (unsigned long long)total,
	    (unsigned long long)moved, sh->classified ?
	    (double)sh->cpu_ns / (double)sh->classified : 0.0);
	for (i = 0; i < n; i++) {
		from[record_escape(from, rows[i].p->from,
		    strlen(rows[i].p->from))] = '\0';
		to[record_escape(to, rows[i].p->to, strlen(rows[i].p->to))] =
		    '\0';
		evbuffer_add_printf(out, "%s{\"from\":\"%s\",\"to\":\"%s\","
		    "\"events\":%llu,\"moved\":%s}", i ? "," : "", from, to,
		    (unsigned long long)rows[i].n,
		    strcmp(rows[i].p->from, rows[i].p->to) ? "true" : "false");
	}
	free(rows);
	return evbuffer_add_printf(out, "]}") < 0 ? -1 : 0;
}
