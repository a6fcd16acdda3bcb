/*
 * fuzz_rules: rules_load_buffer() (src/rules.c) on arbitrary text, and
 * the rule sets it accepts put to work on a few events.
 *
 * Checked on success:
 *   - the set is as src/rules.h says: nclasses == nrules + 2, the last
 *     "_invalid", names unique and findable with rules_find(), priorities
 *     0..255, the source text kept byte for byte, the field paths at most
 *     64, distinct, each its segments joined by dots, raw_prefix leading
 *     classes that read no field;
 *   - for a handful of events (fixed ones, and one made of the set's own
 *     paths), classify() with and without the object and
 *     classify_explain() choose the same class, "_invalid" exactly for the
 *     invalid ones, and scan_event() agrees with scan_valid().
 * Checked on failure:
 *   - the error and the further ones are NUL-terminated, at most
 *     RULES_ERRORS_MAX kept; when the text is valid JSON (the errors are
 *     the loader's, not jansson's) each LINE:COL lands on a JSON value or
 *     key in the text, as jsonpos_find() promises;
 *   - rules_error_format() and rules_error_print() cope, small buffers
 *     included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "classify.h"
#include "rules.h"
#include "scan.h"

#include "fuzz.h"

static FILE *devnull;

static const char *const events[] = {
	"{\"level\":\"ERROR\",\"message\":\"boom\"}",
	"{\"log\":{\"level\":\"warn\"},\"kubernetes\":{\"namespace\":\"prod\"}}",
	"{\"log.level\":\"debug\",\"status\":503,\"r\":1.5,\"ok\":true}",
	"{\"tags\":[\"audit\",1,null,{\"a\":1}],\"service\":\"x\\u00e9\"}",
	"{\"a\":{\"b\":{\"c\":\"deep\"}},\"big\":123456789012345678901234567890}",
	"{\"level\":\"ERROR\",}",
	"[\"level\"]",
	"{\"user\":{\"name\":\"\\u0000\"},\"level\":null}",
	"",
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

/*
 * The byte at 1-based LINE:COL, columns counting characters as jansson
 * and jsonpos do; -1 past the text.
 */
static int
byte_at(const char *text, size_t len, int line, int col)
{
	const unsigned char *p = (const unsigned char *)text;
	int l = 1, c = 1;
	size_t i;

	for (i = 0; i < len; i++) {
		if ((p[i] & 0xc0) == 0x80)
			continue;
		if (l == line && c == col)
			return p[i];
		if (p[i] == '\n') {
			l++;
			c = 1;
		} else
			c++;
	}
	return -1;
}

static void
check_position(const char *text, size_t len, int line, int col,
    const char *msg)
{
	int b;

	if (line == 1 && col == 1)
		return;		/* the start: a fallback as good as any */
	b = byte_at(text, len, line, col);
	if (b == -1 || strchr("{[\"-0123456789tfn", b) == NULL) {
		fuzz_dump("rules", text, len);
		fuzz_fail("rules error at %d:%d, on byte %d, not a value or a "
		    "key: %s", line, col, b, msg);
	}
}

static void
check_error(const char *text, size_t len, const struct rules_error *err)
{
	char small[8], buf[700];
	json_t *root;
	size_t i;
	int semantic;

	FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL &&
	    err->msg[0] != '\0', "rules: an error without a message");
	FUZZ_CHECK(err->nmore <= RULES_ERRORS_MAX - 1, "rules: %zu more "
	    "errors", err->nmore);
	FUZZ_CHECK(err->line >= 0 && err->col >= 0, "rules: error at %d:%d",
	    err->line, err->col);
	for (i = 0; i < err->nmore; i++)
		FUZZ_CHECK(memchr(err->more[i].msg, '\0',
		    sizeof(err->more[i].msg)) != NULL,
		    "rules: error %zu without its NUL", i + 1);
	FUZZ_CHECK(err->untold == 0 || err->nmore == RULES_ERRORS_MAX - 1,
	    "rules: %zu untold errors with room for more", err->untold);

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	semantic = root != NULL;
	json_decref(root);
	if (semantic) {
		check_position(text, len, err->line, err->col, err->msg);
		for (i = 0; i < err->nmore; i++)
			check_position(text, len, err->more[i].line,
			    err->more[i].col, err->more[i].msg);
	}
	(void)rules_error_format(err, "r.json", small, sizeof(small));
	FUZZ_CHECK(memchr(small, '\0', sizeof(small)) != NULL,
	    "rules_error_format(): no NUL in a small buffer");
	(void)rules_error_format(err, "r.json", buf, sizeof(buf));
	rules_error_print(devnull, err, "r.json");
}

/* Does the condition read a field, itself or below? */
static int
reads_field(const struct cond *c)
{
	size_t i;

	if (c->kind == COND_FIELD)
		return 1;
	if (c->kind == COND_ANY)
		for (i = 0; i < c->nany; i++)
			if (reads_field(&c->any[i]))
				return 1;
	return 0;
}

static void
check_set(const struct ruleset *rs, const char *text, size_t len)
{
	const struct jpath *p;
	const struct rule_class *rc;
	char joined[1024];
	size_t i, j, n;

	FUZZ_CHECK(rs->nclasses == rs->nrules + 2, "rules: %zu classes for "
	    "%zu rules", rs->nclasses, rs->nrules);
	FUZZ_CHECK(strcmp(rs->classes[RULES_INVALID(rs)].name,
	    RULES_INVALID_NAME) == 0, "rules: the last class is \"%s\"",
	    rs->classes[RULES_INVALID(rs)].name);
	FUZZ_CHECK(rs->textlen == len && memcmp(rs->text, text, len) == 0 &&
	    rs->text[len] == '\0', "rules: the text is not kept as given");
	for (i = 0; i < rs->nclasses; i++) {
		rc = &rs->classes[i];
		FUZZ_CHECK(memchr(rc->name, '\0', sizeof(rc->name)) != NULL &&
		    rc->name[0] != '\0', "rules: class %zu without a name", i);
		FUZZ_CHECK(rules_find(rs, rc->name) == (int)i,
		    "rules: class %zu \"%s\" found at %d", i, rc->name,
		    rules_find(rs, rc->name));
		FUZZ_CHECK(rc->priority >= 0 &&
		    rc->priority <= RULES_PRIORITY_MAX, "rules: class \"%s\" "
		    "of priority %d", rc->name, rc->priority);
		FUZZ_CHECK(rc->rate >= 0 && rc->burst >= 0 &&
		    rc->key_rate >= 0 && rc->key_burst >= 0,
		    "rules: class \"%s\" with a negative rate", rc->name);
		/* The default and "_invalid" match nothing of their own. */
		FUZZ_CHECK(i < rs->nrules ? rc->nmatch == 0 ||
		    rc->match != NULL : rc->match == NULL && rc->nmatch == 0,
		    "rules: class \"%s\": match %p, %zu", rc->name,
		    (void *)rc->match, rc->nmatch);
		if (i < rs->raw_prefix)
			for (j = 0; j < rc->nmatch; j++)
				FUZZ_CHECK(!reads_field(&rc->match[j]),
				    "rules: class \"%s\" in the raw prefix "
				    "reads a field", rc->name);
	}
	FUZZ_CHECK(rs->raw_prefix <= rs->nrules &&
	    rs->raw_prefix <= RULES_RAW_PREFIX_MAX, "rules: raw prefix %zu of "
	    "%zu", rs->raw_prefix, rs->nrules);
	FUZZ_CHECK(rs->npaths <= RULES_SCAN_PATHS, "rules: %zu paths",
	    rs->npaths);
	for (i = 0; i < rs->npaths; i++) {
		p = rs->paths[i];
		FUZZ_CHECK(p->nsegs >= 1 && p->len == strlen(p->full),
		    "rules: path \"%s\"", p->full);
		for (j = 0, n = 0; j < p->nsegs; j++) {
			FUZZ_CHECK(p->seglen[j] == strlen(p->segs[j]) &&
			    p->seglen[j] > 0, "rules: path \"%s\" segment "
			    "%zu", p->full, j);
			if (n + p->seglen[j] + 2 < sizeof(joined)) {
				if (j > 0)
					joined[n++] = '.';
				memcpy(joined + n, p->segs[j], p->seglen[j]);
				n += p->seglen[j];
			} else
				n = sizeof(joined);
		}
		if (n < sizeof(joined))
			FUZZ_CHECK(n == p->len && memcmp(joined, p->full, n) ==
			    0, "rules: path \"%s\" is not its segments",
			    p->full);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(rs->paths[j]->full, p->full) != 0,
			    "rules: path \"%s\" twice", p->full);
	}
}

static void
check_event(const struct ruleset *rs, const char *ev, size_t len)
{
	struct classify_trace t;
	enum scan_result sr;
	json_t *obj = NULL, *out = NULL;
	size_t c1, c2;
	int valid;

	c1 = classify(rs, ev, len, NULL, NULL);
	c2 = classify(rs, ev, len, &obj, NULL);
	if (classify_explain(rs, ev, len, &t, NULL) == -1)
		abort();
	if (c1 != c2 || c1 != t.cls) {
		fuzz_dump("event", ev, len);
		fuzz_fail("rules: classify() says %s (with the object %s), "
		    "classify_explain() %s", rs->classes[c1].name,
		    rs->classes[c2].name, rs->classes[t.cls].name);
	}
	valid = scan_valid(ev, len);
	FUZZ_CHECK((c1 == RULES_INVALID(rs)) == !valid, "rules: %s for an "
	    "event scan_valid() says %d of", rs->classes[c1].name, valid);
	FUZZ_CHECK(c2 != RULES_INVALID(rs) || obj == NULL,
	    "rules: an object for an invalid event");
	sr = scan_event(rs, ev, len, &out);
	FUZZ_CHECK(sr == SCAN_FULL || (sr == SCAN_OK) == valid,
	    "rules: scan_event() %d, scan_valid() %d", (int)sr, valid);
	json_decref(out);
	json_decref(obj);
	classify_trace_free(&t);
}

/* An event with every path of the set: a string, a number, a list. */
static char *
paths_event(const struct ruleset *rs, int kind)
{
	json_t *root = json_object(), *o, *n, *v;
	const struct jpath *p;
	size_t i, j;
	char *s;

	for (i = 0; i < rs->npaths; i++) {
		p = rs->paths[i];
		for (o = root, j = 0; j + 1 < p->nsegs; j++) {
			n = json_object_get(o, p->segs[j]);
			if (!json_is_object(n)) {
				n = json_object();
				json_object_set_new(o, p->segs[j], n);
			}
			o = n;
		}
		v = kind == 0 ? json_string(p->segs[0]) : kind == 1 ?
		    json_integer((json_int_t)i * 100 + 3) :
		    json_pack("[s,f,b]", p->full, 1.5, 1);
		json_object_set_new(o, p->segs[p->nsegs - 1], v);
	}
	s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct rules_error err;
	struct ruleset *rs;
	size_t i;
	char *ev;
	int k;

	if (size > 1 << 16)
		return 0;
	memset(&err, 0x5a, sizeof(err));
	if ((rs = rules_load_buffer(text, size, &err)) == NULL) {
		check_error(text, size, &err);
		return 0;
	}
	check_set(rs, text, size);
	for (i = 0; i < sizeof(events) / sizeof(events[0]); i++)
		check_event(rs, events[i], strlen(events[i]));
	for (k = 0; k < 3; k++)
		if ((ev = paths_event(rs, k)) != NULL) {
			check_event(rs, ev, strlen(ev));
			free(ev);
		}
	rules_free(rs);
	return 0;
}
