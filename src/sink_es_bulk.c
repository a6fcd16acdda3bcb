/*
 * sink_es_bulk: the Elasticsearch sink's side of the _bulk wire format,
 * without any I/O: the request (its target, each record's action line,
 * built from the index pattern and the event's time when it came without
 * one, and its source bytes), the reading of the response item by item,
 * and the pause before a retry.  sink_es.c sends what this builds.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include <spillway/clock.h>

#include "record.h"
#include "sink_es_bulk.h"

#define BULK_QUERY	"/_bulk?filter_path=errors,items.*.status," \
			    "items.*.error.type"
#define BULK_FULL	"/_bulk"	/* whole item answers, for senders */
#define BULK_BACKOFF_BASE	(100 * NSEC_PER_MSEC)
#define BULK_BACKOFF_CAP	(30 * NSEC_PER_SEC)
#define BULK_RETRY_AFTER_MAX	300	/* seconds of Retry-After taken */
#define BULK_ACTION_GUESS	64	/* bytes of a built action line */
#define BULK_INDEX_CACHE	4
#define BULK_INDEX_MAX	512	/* longest expanded index name */

/* ---------------------------------------------------------------- index */

struct es_index_entry {
	int64_t		 key;		/* time / granularity; INT64_MIN: unused */
	char		*text;		/* action line up to the source, escaped */
	size_t		 len;
};

struct sink_es_bulk_index {
	char		*pattern;
	int		 create;
	int		 fixed;		/* no conversion: one name for all */
	int64_t		 gran;		/* seconds one expansion holds for */
	struct es_index_entry cache[BULK_INDEX_CACHE];
	unsigned	 next;		/* round-robin victim */
};

/*
 * How long one expansion of the pattern holds: an hour, unless it uses
 * conversions finer than that (minutes, seconds, or ones not known).
 */
static int64_t
es_index_granularity(const char *p, int *fixed)
{
	static const char coarse[] = "aAbBCdDeFgGhHIjklmnpuUVwWxyYzZ";
	int64_t gran = 3600;

	*fixed = 1;
	for (; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		if (*p == '\0')
			break;
		*fixed = 0;
		while (*p == 'E' || *p == 'O' || *p == '_' || *p == '-' ||
		    *p == '0' || *p == '^' || *p == '#')
			p++;
		if (*p == '\0' || strchr(coarse, *p) == NULL)
			gran = 1;
		if (*p == '\0')
			break;
	}
	return gran;
}

struct sink_es_bulk_index *
sink_es_bulk_index_new(const char *pattern, int create)
{
	struct sink_es_bulk_index *ix;
	size_t i;

	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return NULL;
	if ((ix->pattern = strdup(pattern != NULL ? pattern : "")) == NULL) {
		free(ix);
		return NULL;
	}
	ix->create = create;
	ix->gran = es_index_granularity(ix->pattern, &ix->fixed);
	for (i = 0; i < BULK_INDEX_CACHE; i++)
		ix->cache[i].key = INT64_MIN;
	return ix;
}

void
sink_es_bulk_index_free(struct sink_es_bulk_index *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < BULK_INDEX_CACHE; i++)
		free(ix->cache[i].text);
	free(ix->pattern);
	free(ix);
}

static int64_t
es_floordiv(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/*
 * The action line, without its newline, for an event of time t:
 * {"index":{"_index":"NAME"}}.  Cached per granule.  NULL on
 * allocation failure.
 */
static const char *
es_index_action(struct sink_es_bulk_index *ix, time_t t, size_t *lenp)
{
	char name[BULK_INDEX_MAX], esc[BULK_INDEX_MAX * 6], *text;
	struct es_index_entry *e;
	int64_t key = ix->fixed ? 0 : es_floordiv((int64_t)t, ix->gran);
	size_t i, n, len;
	struct tm tm;
	int w;

	for (i = 0; i < BULK_INDEX_CACHE; i++)
		if (ix->cache[i].key == key && ix->cache[i].text != NULL) {
			*lenp = ix->cache[i].len;
			return ix->cache[i].text;
		}
	n = 0;
	if (ix->pattern[0] != '\0' && gmtime_r(&t, &tm) != NULL)
		n = strftime(name, sizeof(name), ix->pattern, &tm);
	n = record_escape(esc, name, n);
	len = n + 32;
	if ((text = malloc(len)) == NULL)
		return NULL;
	w = snprintf(text, len, "{\"%s\":{\"_index\":\"%.*s\"}}",
	    ix->create ? "create" : "index", (int)n, esc);
	e = &ix->cache[ix->next];
	ix->next = (ix->next + 1) % BULK_INDEX_CACHE;
	free(e->text);
	e->key = key;
	e->text = text;
	e->len = (size_t)w;
	*lenp = e->len;
	return text;
}

/* ------------------------------------------------------------ timestamp */

static int
es_digits(const char *s, size_t len, size_t *pos, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (*pos >= len || s[*pos] < '0' || s[*pos] > '9')
			return -1;
		v = v * 10 + (s[*pos] - '0');
		(*pos)++;
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
es_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int
sink_es_bulk_timestamp(const char *s, size_t len, time_t *t)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	size_t pos = 0;
	int64_t v;

	if (es_digits(s, len, &pos, 4, &y) == -1 || pos >= len ||
	    s[pos++] != '-' || es_digits(s, len, &pos, 2, &mo) == -1 ||
	    pos >= len || s[pos++] != '-' ||
	    es_digits(s, len, &pos, 2, &d) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (pos < len && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
		pos++;
		if (es_digits(s, len, &pos, 2, &h) == -1 || pos >= len ||
		    s[pos++] != ':' || es_digits(s, len, &pos, 2, &mi) == -1)
			return -1;
		if (pos < len && s[pos] == ':') {
			pos++;
			if (es_digits(s, len, &pos, 2, &sec) == -1)
				return -1;
			if (pos < len && (s[pos] == '.' || s[pos] == ',')) {
				pos++;
				if (pos >= len || s[pos] < '0' || s[pos] > '9')
					return -1;
				while (pos < len && s[pos] >= '0' &&
				    s[pos] <= '9')
					pos++;
			}
		}
		if (h > 24 || mi > 59 || sec > 60)
			return -1;
		if (pos < len && (s[pos] == 'Z' || s[pos] == 'z'))
			pos++;
		else if (pos < len && (s[pos] == '+' || s[pos] == '-')) {
			sign = s[pos++] == '-' ? -1 : 1;
			if (es_digits(s, len, &pos, 2, &oh) == -1)
				return -1;
			if (pos < len && s[pos] == ':')
				pos++;
			if (pos < len && es_digits(s, len, &pos, 2, &om) == -1)
				return -1;
			if (oh > 23 || om > 59)
				return -1;
		}
	}
	if (pos != len)
		return -1;
	v = es_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	v -= sign * (oh * 3600 + om * 60);
	*t = (time_t)v;
	return 0;
}

/* Steps over JSON text, for the timestamp here and the response below. */
static const char *
es_skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	return p;
}

static int
es_lit(const char **pp, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	*pp = es_skip_ws(*pp, end);
	if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
		return 0;
	*pp += n;
	return 1;
}

/* Past the string whose opening quote is at p[-1]; NULL if unterminated. */
static const char *
es_skip_string(const char *p, const char *end)
{
	const char *q, *b;

	while ((q = memchr(p, '"', (size_t)(end - p))) != NULL) {
		for (b = q; b > p && b[-1] == '\\'; b--)
			;
		if (((q - b) & 1) == 0)
			return q + 1;
		p = q + 1;	/* an escaped quote */
	}
	return NULL;
}

/* The time of a raw JSON value at p: a date string, or epoch_millis. */
static int
es_raw_time_value(const char *p, const char *end, time_t *t)
{
	const char *v;
	long long ms;
	int neg;

	if (p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
		neg = *p == '-';
		if (neg)
			p++;
		for (ms = 0, v = p; p < end && *p >= '0' && *p <= '9' &&
		    p - v < 18; p++)
			ms = ms * 10 + (*p - '0');
		if (p == v)
			return -1;
		*t = (time_t)es_floordiv(neg ? -ms : ms, 1000);
		return 0;
	}
	if (p >= end || *p != '"')
		return -1;
	v = ++p;
	while (p < end && *p != '"' && *p != '\\')
		p++;
	if (p >= end || *p != '"')
		return -1;	/* an escape in a date: none has one */
	return sink_es_bulk_timestamp(v, (size_t)(p - v), t);
}

/*
 * The top-level "@timestamp" of an event's raw JSON text, which was
 * validated when it was classified: a date string, or an integer of
 * milliseconds since the epoch (epoch_millis); -1 if none.  Keys of
 * nested objects and text inside strings are stepped over, not matched.
 */
static int
es_raw_timestamp(const char *p, size_t len, time_t *t)
{
	static const char key[] = "@timestamp";
	const char *end = p + len, *s;
	int depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			s = p + 1;
			if ((p = es_skip_string(s, end)) == NULL)
				return -1;
			if (depth != 1 || p - s != sizeof(key) ||
			    memcmp(s, key, sizeof(key) - 1) != 0)
				break;
			if (!es_lit(&p, end, ":"))
				break;	/* a value, not a key */
			return es_raw_time_value(es_skip_ws(p, end), end, t);
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			depth--;
			p++;
			break;
		default:
			p++;
		}
	}
	return -1;
}

/* The time whose index an event goes to: its @timestamp, else now. */
static time_t
es_record_time(const struct record *rec, time_t now)
{
	json_t *v;
	time_t t;

	if (rec->invalid)
		return now;
	if (rec->json == NULL)
		return es_raw_timestamp(rec->data, rec->len, &t) == 0 ? t : now;
	v = json_object_get(rec->json, "@timestamp");
	if (json_is_string(v) && sink_es_bulk_timestamp(json_string_value(v),
	    json_string_length(v), &t) == 0)
		return t;
	if (json_is_integer(v))		/* epoch_millis */
		return (time_t)es_floordiv(json_integer_value(v), 1000);
	return now;
}

/* ------------------------------------------------------------------ body */

/* Whether an action line is a delete, which has no source line. */
static int
es_action_is_delete(const char *a, size_t len)
{
	size_t i = 0;

	while (i < len && (a[i] == ' ' || a[i] == '\t' || a[i] == '\r'))
		i++;
	if (i >= len || a[i++] != '{')
		return 0;
	while (i < len && (a[i] == ' ' || a[i] == '\t' || a[i] == '\r'))
		i++;
	return len - i >= 8 && memcmp(a + i, "\"delete\"", 8) == 0;
}

int
sink_es_bulk_body(struct evbuffer *out, struct sink_es_bulk_index *ix,
    struct record *const *recs, size_t n, time_t now)
{
	const struct record *rec;
	const char *act;
	size_t i, alen;
	int rc = 0;

	for (i = 0; i < n; i++) {
		rec = recs[i];
		if (rec->action != NULL) {
			rc |= evbuffer_add(out, rec->action, rec->action_len);
			rc |= evbuffer_add(out, "\n", 1);
			if (es_action_is_delete(rec->action, rec->action_len))
				continue;
		} else {
			if ((act = es_index_action(ix,
			    es_record_time(rec, now), &alen)) == NULL)
				return -1;
			rc |= evbuffer_add(out, act, alen);
			rc |= evbuffer_add(out, "\n", 1);
		}
		rc |= evbuffer_add(out, rec->data, rec->len);
		rc |= evbuffer_add(out, "\n", 1);
	}
	return rc == 0 ? 0 : -1;
}

/* -------------------------------------------------------------- response */

static enum sink_es_bulk_item
es_item_status(json_int_t st)
{
	if ((st >= 200 && st < 300) || st == 409)
		return SINK_ES_BULK_OK;
	if (st == 429)
		return SINK_ES_BULK_WAIT;
	if (st >= 500)
		return SINK_ES_BULK_RETRY;
	if (st >= 400)
		return SINK_ES_BULK_REJECT;
	return SINK_ES_BULK_RETRY;
}

/*
 * {"errors":false... or {"took":N,"errors":false...: every item
 * succeeded, so the items need not be walked.
 */
static int
es_errors_false(const char *body, size_t len)
{
	const char *p = body, *end = body + len;

	if (!es_lit(&p, end, "{"))
		return 0;
	if (es_lit(&p, end, "\"took\"")) {
		if (!es_lit(&p, end, ":"))
			return 0;
		p = es_skip_ws(p, end);
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		if (!es_lit(&p, end, ","))
			return 0;
	}
	return es_lit(&p, end, "\"errors\"") && es_lit(&p, end, ":") &&
	    es_lit(&p, end, "false");
}

/*
 * Past the JSON value at p (after blanks), read for its structure only;
 * NULL when it is cut short.  The answer comes from the cluster, and is
 * passed on as its text: it needs delimiting, not validating.
 */
static const char *
es_skip_value(const char *p, const char *end)
{
	int depth = 0;

	p = es_skip_ws(p, end);
	if (p < end && *p != '{' && *p != '[' && *p != '"') {
		const char *start = p;

		while (p < end && *p != ',' && *p != '}' && *p != ']' &&
		    *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			p++;
		return p > start ? p : NULL;
	}
	while (p < end) {
		char c = *p++;

		if (c == '"') {
			if ((p = es_skip_string(p, end)) == NULL)
				return NULL;
		} else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		if (depth <= 0)
			return depth == 0 ? p : NULL;
	}
	return NULL;
}

/*
 * The next key of an object at *pp (after '{' or ','): its text and
 * length, *pp left past the ':'.  0, or -1 when there is none.
 */
static int
es_key(const char **pp, const char *end, const char **key, size_t *klen)
{
	const char *p = *pp;

	if (!es_lit(&p, end, "\""))
		return -1;
	*key = p;
	if ((p = es_skip_string(p, end)) == NULL)
		return -1;
	*klen = (size_t)(p - 1 - *key);
	if (!es_lit(&p, end, ":"))
		return -1;
	*pp = p;
	return 0;
}

/* The "status" of an item's object (text from p to end), or 0. */
static int
es_answer_status(const char *p, const char *end)
{
	const char *k;
	size_t klen;
	long st;

	if (!es_lit(&p, end, "{") || es_lit(&p, end, "}"))
		return 0;
	do {
		if (es_key(&p, end, &k, &klen) == -1)
			return 0;
		if (klen == 6 && memcmp(k, "status", 6) == 0) {
			p = es_skip_ws(p, end);
			for (st = 0; p < end && *p >= '0' && *p <= '9' &&
			    st < 1000; p++)
				st = st * 10 + (*p - '0');
			return st < 1000 ? (int)st : 0;
		}
		if ((p = es_skip_value(p, end)) == NULL)
			return 0;
	} while (es_lit(&p, end, ","));
	return 0;
}

/* The items array at *pp: each item's answer, up to n of them. */
static int
es_answer_items(const char **pp, const char *end, const char *base,
    size_t n, struct sink_es_bulk_answer *ans)
{
	const char *p = *pp, *k, *v, *ve;
	size_t i, klen;

	if (!es_lit(&p, end, "["))
		return -1;
	if (es_lit(&p, end, "]")) {
		*pp = p;
		return 0;
	}
	for (i = 0;; i++) {
		if (!es_lit(&p, end, "{") || es_key(&p, end, &k, &klen) == -1)
			return -1;
		v = es_skip_ws(p, end);
		if ((ve = es_skip_value(v, end)) == NULL)
			return -1;
		p = ve;
		if (!es_lit(&p, end, "}"))
			return -1;
		if (i < n) {
			ans[i].off = (size_t)(v - base);
			ans[i].len = (size_t)(ve - v);
			ans[i].status = es_answer_status(v, ve);
		}
		if (es_lit(&p, end, "]"))
			break;
		if (!es_lit(&p, end, ","))
			return -1;
	}
	*pp = p;
	return 0;
}

int
sink_es_bulk_answers(const char *body, size_t len, size_t n,
    enum sink_es_bulk_item *out, size_t *n429, struct sink_es_bulk_answer *ans)
{
	const char *p = body, *end = body + len, *k;
	size_t i, klen, c429 = 0;

	for (i = 0; i < n; i++) {
		ans[i].off = 0;
		ans[i].len = 0;
		ans[i].status = 0;
	}
	if (n429 != NULL)
		*n429 = 0;
	if (!es_lit(&p, end, "{"))
		return -1;
	do {
		if (es_key(&p, end, &k, &klen) == -1)
			return -1;
		if (klen == 5 && memcmp(k, "items", 5) == 0) {
			if (es_answer_items(&p, end, body, n, ans) == -1)
				return -1;
		} else if ((p = es_skip_value(p, end)) == NULL)
			return -1;
	} while (es_lit(&p, end, ","));
	if (!es_lit(&p, end, "}"))
		return -1;
	for (i = 0; i < n; i++) {
		out[i] = ans[i].status > 0 ? es_item_status(ans[i].status) :
		    SINK_ES_BULK_RETRY;
		c429 += ans[i].status == 429;
	}
	if (n429 != NULL)
		*n429 = c429;
	return 0;
}

int
sink_es_bulk_response(const char *body, size_t len, size_t n,
    enum sink_es_bulk_item *out, size_t *n429)
{
	json_t *root, *items, *errors, *it, *st;
	size_t i, c429 = 0;
	void *iter;

	if (n429 != NULL)
		*n429 = 0;
	if (es_errors_false(body, len)) {
		for (i = 0; i < n; i++)
			out[i] = SINK_ES_BULK_OK;
		return 0;
	}
	if ((root = json_loadb(body, len, 0, NULL)) == NULL)
		return -1;
	if (!json_is_object(root))
		goto fail;
	errors = json_object_get(root, "errors");
	items = json_object_get(root, "items");
	if (json_is_false(errors)) {
		for (i = 0; i < n; i++)
			out[i] = SINK_ES_BULK_OK;
		json_decref(root);
		return 0;
	}
	if (!json_is_array(items))
		goto fail;
	for (i = 0; i < n; i++) {
		out[i] = SINK_ES_BULK_RETRY;
		if ((it = json_array_get(items, i)) == NULL ||
		    (iter = json_object_iter(it)) == NULL)
			continue;
		st = json_object_get(json_object_iter_value(iter), "status");
		if (!json_is_integer(st))
			continue;
		out[i] = es_item_status(json_integer_value(st));
		if (json_integer_value(st) == 429)
			c429++;
	}
	json_decref(root);
	if (n429 != NULL)
		*n429 = c429;
	return 0;
fail:
	json_decref(root);
	return -1;
}

/* --------------------------------------------------------------- request */

size_t
sink_es_bulk_size(const struct record *rec)
{
	return rec->len + 2 + (rec->action != NULL ? rec->action_len :
	    BULK_ACTION_GUESS);
}


int
sink_es_bulk_same_params(const struct record *a, const struct record *b)
{
	return a->params_len == b->params_len && (a->params_len == 0 ||
	    memcmp(a->params, b->params, a->params_len) == 0);
}

int
sink_es_bulk_answers_wanted(struct record *const *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (recs[i]->ack != NULL &&
		    (recs[i]->ack->flags & RECORD_ACK_ANSWER))
			return 1;
	return 0;
}

char *
sink_es_bulk_target(const char *prefix, int answers, const char *params)
{
	const char *path = answers ? BULK_FULL : BULK_QUERY;
	char *t;

	if (params == NULL)
		return asprintf(&t, "%s%s", prefix, path) == -1 ? NULL : t;
	/* The senders' request parameters (refresh, timeout, ...). */
	if (asprintf(&t, "%s%s%c%s", prefix, path, strchr(path, '?') ? '&' :
	    '?', params) == -1)
		return NULL;
	return t;
}

/* ----------------------------------------------------------------- retry */

uint64_t
sink_es_bulk_jitter(uint64_t d, double u)
{
	return (uint64_t)((double)d * (0.8 + 0.4 * u));
}

uint64_t
sink_es_bulk_backoff(unsigned tries, double u, long retry_after)
{
	uint64_t delay = BULK_BACKOFF_BASE;

	while (tries-- > 1 && delay < BULK_BACKOFF_CAP)
		delay *= 2;
	if (delay > BULK_BACKOFF_CAP)
		delay = BULK_BACKOFF_CAP;
	delay = sink_es_bulk_jitter(delay, u);
	if (retry_after > 0) {
		if (retry_after > BULK_RETRY_AFTER_MAX)
			retry_after = BULK_RETRY_AFTER_MAX;
		if ((uint64_t)retry_after * NSEC_PER_SEC > delay)
			delay = (uint64_t)retry_after * NSEC_PER_SEC;
	}
	return delay;
}
