/*
 * summary: what was dropped, every 10 s, as one event forwarded like any
 * other (in "_spillway") and one log line per class.  Part of the shaper:
 * it reads the class counters in shaper_int.h, and keeps in them what it
 * reported last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include <spillway/clock.h>
#include <spillway/reason.h>

#include "log.h"
#include "shaper_int.h"
#include "summary.h"

/* Append `"name":{"reason":n,...}` for what c dropped since last time. */
static int
summary_class(struct sclass *c, json_t *shed)
{
	json_t *o;
	uint64_t d;
	int r, any = 0;

	if ((o = json_object()) == NULL)
		return -1;
	for (r = 0; r < REASON_MAX; r++) {
		if (r == REASON_SHUTDOWN ||
		    (d = c->dropped[r] - c->reported[r]) == 0)
			continue;
		json_object_set_new(o, reason_name(r),
		    json_integer((json_int_t)d));
		any = 1;
	}
	if (any)
		json_object_set_new(shed, c->name, o);
	else
		json_decref(o);
	return any;
}

void
summary_make(struct shaper *sh, const char *host, uint64_t wall,
    uint64_t now)
{
	json_t *root, *shed;
	struct tm tm;
	time_t secs = (time_t)(wall / NSEC_PER_SEC);
	char ts[80], *text;
	size_t i;
	int r;

	shaper_sync(sh);
	if ((shed = json_object()) == NULL)
		return;
	for (i = 0; i < sh->nclasses; i++) {
		struct sclass *c = sh->classes[i];

		if (summary_class(c, shed) != 1)
			continue;
		log_notice("class %s: dropped in the last %.0f s: "
		    "rate_limit %llu, backpressure %llu, queue_full %llu, "
		    "too_large %llu, expired %llu, sink_rejected %llu, "
		    "sink_error %llu, unacknowledged %llu",
		    c->name, (double)(now - sh->summary_at) / 1e9,
#define DELTA(x) (unsigned long long)(c->dropped[x] - c->reported[x])
		    DELTA(REASON_RATE_LIMIT), DELTA(REASON_BACKPRESSURE),
		    DELTA(REASON_QUEUE_FULL), DELTA(REASON_TOO_LARGE),
		    DELTA(REASON_EXPIRED), DELTA(REASON_SINK_REJECTED), DELTA(REASON_SINK_ERROR),
		    DELTA(REASON_UNACKNOWLEDGED));
#undef DELTA
		for (r = 0; r < REASON_MAX; r++)
			if (r != REASON_SHUTDOWN)
				c->reported[r] = c->dropped[r];
	}
	sh->summary_at = now;
	if (json_object_size(shed) == 0) {
		json_decref(shed);
		return;
	}
	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(wall % NSEC_PER_SEC / NSEC_PER_MSEC));
	root = json_pack("{s:s, s:{s:s, s:o}}", "@timestamp", ts, "spillway",
	    "host", host, "shed", shed);
	if (root == NULL)
		return;
	text = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(root);
	if (text == NULL)
		return;
	(void)shaper_offer_own(sh, text, strlen(text), now);
	free(text);
}
