/*
 * record: constructors.  One malloc per event, holding everything.
 */
#include <stdlib.h>
#include <string.h>

#include <spillway/utf8.h>

#include "budget.h"
#include "record.h"

size_t
record_cost(size_t size)
{
	/* malloc's chunk: a size word, rounded up to 16, 32 at least. */
	size = (size + sizeof(size_t) + 15) & ~(size_t)15;
	return size < 32 ? 32 : size;
}

/* rec's allocation is now size bytes: count the difference. */
static void
record_resized(struct record *rec, size_t size)
{
	size_t cost = record_cost(size);

	if (cost > rec->cost)
		budget_take(BUDGET_EVENTS, cost - rec->cost);
	else
		budget_give(BUDGET_EVENTS, rec->cost - cost);
	rec->cost = cost;
}

static struct record *
record_alloc(size_t datalen, size_t action_len)
{
	struct record *rec;
	size_t size = sizeof(*rec) + datalen + action_len + 2;

	if ((rec = malloc(size)) == NULL)
		return NULL;
	memset(rec, 0, sizeof(*rec));
	record_resized(rec, size);
	return rec;
}

static void
record_set_action(struct record *rec, char *at, const char *action,
    size_t action_len)
{
	if (action == NULL)
		return;
	memcpy(at, action, action_len);
	at[action_len] = '\0';
	rec->action = at;
	rec->action_len = action_len;
}

struct record *
record_new(const char *data, size_t len, const char *action,
    size_t action_len)
{
	struct record *rec;

	if (action == NULL)
		action_len = 0;
	if ((rec = record_alloc(len, action_len)) == NULL)
		return NULL;
	memcpy(rec->buf, data, len);
	rec->buf[len] = '\0';
	rec->data = rec->buf;
	rec->len = len;
	record_set_action(rec, rec->buf + len + 1, action, action_len);
	return rec;
}

struct record *
record_set_params(struct record *rec, const char *params, size_t len)
{
	size_t used = rec->len + 1 + rec->action_len + 1;
	struct record *r;

	if ((r = realloc(rec, sizeof(*r) + used + len + 1)) == NULL)
		return NULL;
	record_resized(r, sizeof(*r) + used + len + 1);
	r->data = r->buf;
	if (r->action != NULL)
		r->action = r->buf + r->len + 1;
	memcpy(r->buf + used, params, len);
	r->buf[used + len] = '\0';
	r->params = r->buf + used;
	r->params_len = len;
	return r;
}

size_t
record_escape(char *out, const char *s, size_t len)
{
	return record_escape_flags(out, s, len, 0);
}

size_t
record_escape_flags(char *out, const char *s, size_t len, int flags)
{
	static const char lower[] = "0123456789abcdef";
	static const char upper[] = "0123456789ABCDEF";
	const char *hex = flags & RECORD_ESCAPE_UPPER ? upper : lower;
	const unsigned char *p = (const unsigned char *)s;
	char esc[6];
	size_t i = 0, o = 0, n, run;

	while (i < len) {
		unsigned char c = p[i];

		for (run = i; run < len && p[run] >= 0x20 && p[run] < 0x80 &&
		    p[run] != '"' && p[run] != '\\'; run++)
			;
		if (run > i) {
			if (out != NULL)
				memcpy(out + o, p + i, run - i);
			o += run - i;
			i = run;
			continue;
		}
		if (c < 0x80) {
			n = 2;
			esc[0] = '\\';
			switch (c) {
			case '"':  esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			default:
				esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
				esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
				n = 6;
			}
			if (out != NULL)
				memcpy(out + o, esc, n);
			o += n;
			i++;
			continue;
		}
		if ((n = utf8_len(p + i, len - i)) == 0) {
			const char *r = flags & RECORD_ESCAPE_RAW ?
			    "\xef\xbf\xbd" : "\\ufffd";

			n = strlen(r);
			if (out != NULL)
				memcpy(out + o, r, n);
			o += n;
			i++;
			continue;
		}
		if (out != NULL)
			memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	return o;
}

struct record *
record_new_invalid(const char *line, size_t len, const char *action,
    size_t action_len)
{
	static const char head[] = "{\"message\":\"";
	static const char tail[] = "\",\"tags\":[\"_jsonparsefailure\"]}";
	struct record *rec;
	size_t max, n;
	char *p;

	if (action == NULL)
		action_len = 0;
	max = sizeof(head) - 1 + 6 * len + sizeof(tail) - 1;
	if ((rec = record_alloc(max, action_len)) == NULL)
		return NULL;
	p = rec->buf;
	memcpy(p, head, sizeof(head) - 1);
	n = sizeof(head) - 1;
	n += record_escape(p + n, line, len);
	memcpy(p + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	p[n] = '\0';
	if (n + action_len + 2 < max + action_len + 2) {
		struct record *r2;

		/* Give back what the worst-case escape reserved. */
		if ((r2 = realloc(rec, sizeof(*rec) + n + action_len + 2)) !=
		    NULL) {
			rec = r2;
			record_resized(rec, sizeof(*rec) + n + action_len + 2);
		}
	}
	rec->data = rec->buf;
	rec->len = n;
	rec->invalid = 1;
	record_set_action(rec, rec->buf + n + 1, action, action_len);
	return rec;
}

void
record_free(struct record *rec)
{
	if (rec == NULL)
		return;
	record_settle(rec, RECORD_FAILED, REASON_SHUTDOWN, NULL);
	if (rec->json != NULL)
		json_decref(rec->json);
	budget_give(BUDGET_EVENTS, rec->cost);
	free(rec);
}
