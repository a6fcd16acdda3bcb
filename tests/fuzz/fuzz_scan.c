/*
 * fuzz_scan: the validating scan (src/scan.c) and classify() held to a
 * full jansson parse, as tests/unit/check_scan.c does, on arbitrary
 * bytes.  The input is one event (a line without its newline).
 *
 * jansson's verdict on the input (JSON_ALLOW_NUL, as classify() parses):
 *   VALID    exactly one JSON object;
 *   INVALID  anything else;
 *   UNKNOWN  a real beyond a double: jansson stops there (even with
 *            JSON_DECODE_INT_AS_REAL) and cannot tell about the rest.
 * An integer beyond 64 bits is read again with JSON_DECODE_INT_AS_REAL,
 * as classify() does, which gives VALID or INVALID.
 *
 * Checked against it, for four rule sets (check_scan.c's two, one of 64
 * field paths, and one made from the strings of the input itself, so
 * that the paths meet the input's keys):
 *   - scan_valid() and scan_prefix() say what jansson says (not for
 *     UNKNOWN, whose syntax only the scan can judge);
 *   - scan_event(): SCAN_INVALID only for INVALID (or UNKNOWN);
 *     SCAN_OK only for VALID without overflow, and then the reduced tree
 *     holds, at every rule path, what the full parse holds there (the
 *     same scalar, bit for bit for reals; the same array; an object where
 *     the full parse has one), and nothing the full parse does not have;
 *     SCAN_FULL only for the documented reasons: a number beyond what
 *     jansson holds (or of 64 characters or more), an escaped key, or a
 *     rule set with too many paths;
 *   - classify() with and without the object, and classify_explain()
 *     (which always parses fully) choose the same class; "_invalid"
 *     exactly when jansson says INVALID; the object classify() hands back
 *     holds at every rule path what the full parse holds.
 * The documented exceptions of check_scan.c are kept: SCAN_FULL is "cannot
 * decide", and numbers beyond jansson's reach are judged as classify()
 * judges them (bigint read as reals, bignum valid with no fields).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "classify.h"
#include "jpath.h"
#include "rules.h"
#include "scan.h"

#include "fuzz.h"

/* The rule sets of tests/unit/check_scan.c. */
static const char RULES[] =
    "{\"classes\":["
    "{\"name\":\"err\",\"priority\":0,\"match\":[{\"field\":\"level\","
    "\"regex\":\"^ERROR$\"}]},"
    "{\"name\":\"flat\",\"priority\":1,\"match\":[{\"field\":\"log.level\","
    "\"regex\":\"^warn\",\"flags\":\"i\"}]},"
    "{\"name\":\"deep\",\"priority\":1,\"match\":[{\"field\":\"a.b.c\","
    "\"regex\":\"^(deep|1|true|1\\\\.5)$\"}]},"
    "{\"name\":\"status\",\"priority\":2,\"match\":[{\"field\":\"n\","
    "\"regex\":\"^5\\\\d\\\\d$\"}]},"
    "{\"name\":\"real\",\"priority\":2,\"match\":[{\"field\":\"r\","
    "\"regex\":\"^(1\\\\.5|1000\\\\.0|1e\\\\+20)$\"}]},"
    "{\"name\":\"tag\",\"priority\":3,\"match\":[{\"field\":\"tags\","
    "\"regex\":\"^audit$\"}]},"
    "{\"name\":\"neg\",\"priority\":4,\"match\":[{\"field\":\"svc\","
    "\"regex\":\"^x\",\"negate\":true},{\"field\":\"k\",\"regex\":\"^\"}]},"
    "{\"name\":\"uni\",\"priority\":4,\"match\":[{\"field\":\"u\","
    "\"regex\":\"^\\u00e9\\ud83d\\ude00$\"}]},"
    "{\"name\":\"keyed\",\"priority\":5,\"key\":\"svc\",\"key_rate\":5,"
    "\"match\":[{\"field\":\"kind\",\"regex\":\"^k\"}]}],"
    "\"default\":{\"name\":\"rest\",\"priority\":6}}";

static const char RULES_RAW[] =
    "{\"classes\":["
    "{\"name\":\"audit\",\"priority\":0,\"match\":[{\"raw\":"
    "\"\\\"audit\\\"\\\\s*:\\\\s*true\"}]},"
    "{\"name\":\"either\",\"priority\":1,\"match\":[{\"any\":["
    "{\"raw\":\"ERROR\"},{\"raw\":\"fatal\",\"negate\":true}]}]},"
    "{\"name\":\"keyed\",\"priority\":2,\"key\":\"svc\",\"key_rate\":5,"
    "\"match\":[{\"raw\":\"x1\"}]},"
    "{\"name\":\"flat\",\"priority\":3,\"match\":[{\"field\":\"log.level\","
    "\"regex\":\"^warn\",\"flags\":\"i\"}]},"
    "{\"name\":\"late_raw\",\"priority\":4,\"match\":[{\"raw\":\"deep\"}]}],"
    "\"default\":{\"name\":\"rest\",\"priority\":6}}";

#define NFIXED	3
static struct ruleset	*fixed[NFIXED];

/* The rule set made from the last input's strings, kept while they stay. */
static struct ruleset	*derived;
static char		*derived_text;

enum verdict { V_VALID, V_INVALID, V_UNKNOWN };

struct ref {
	enum verdict	 v;
	int		 overflow;	/* the plain parse hit a big number */
	json_t		*root;		/* the full parse, when V_VALID */
};

static struct ruleset *
load(const char *text, size_t len)
{
	struct rules_error err;
	struct ruleset *rs;

	if ((rs = rules_load_buffer(text, len, &err)) == NULL) {
		fprintf(stderr, "fuzz_scan: rules %d:%d: %s\n", err.line,
		    err.col, err.msg);
		abort();
	}
	return rs;
}

/*
 * 64 paths exactly, the most the scan tracks (all path bits set): keys
 * only, after one class that matches on a few of them.
 */
static struct ruleset *
load64(void)
{
	static const char *const named[] = {
		"level", "log.level", "a", "a.b", "a.b.c", "n", "r", "tags",
		"svc", "k", "u", "x.y", "message", "@timestamp", "kind", "b"
	};
	json_t *root, *classes, *cls, *match, *cond;
	char name[16], path[16], *text;
	struct ruleset *rs;
	size_t i, npaths = 64;

	root = json_object();
	classes = json_array();
	json_object_set_new(root, "classes", classes);
	cls = json_pack("{s:s,s:[{s:s,s:s},{s:[{s:s,s:s},{s:s,s:s}]}]}",
	    "name", "m", "match", "field", "level", "regex", "^(E|W)",
	    "any", "field", "a.b.c", "regex", "[0-9]", "field", "x.y",
	    "regex", "^t");
	json_array_append_new(classes, cls);
	for (i = 0; i < npaths; i++) {
		if (i < sizeof(named) / sizeof(named[0]))
			snprintf(path, sizeof(path), "%s", named[i]);
		else
			snprintf(path, sizeof(path), "p%zu.q", i);
		snprintf(name, sizeof(name), "k%zu", i);
		match = json_array();
		cls = json_pack("{s:s,s:s,s:o}", "name", name, "key", path,
		    "match", match);
		if (i == 20) {
			cond = json_pack("{s:s,s:s}", "field", path, "regex",
			    "x");
			json_array_append_new(match, cond);
		}
		json_array_append_new(classes, cls);
	}
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	rs = load(text, strlen(text));
	free(text);
	if (!rs->scan_ok || rs->npaths != 64) {
		fprintf(stderr, "fuzz_scan: the 64-path set has %zu paths\n",
		    rs->npaths);
		abort();
	}
	return rs;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fixed[0] = load(RULES, sizeof(RULES) - 1);
	fixed[1] = load(RULES_RAW, sizeof(RULES_RAW) - 1);
	fixed[2] = load64();
	return 0;
}

/* A string of the input usable as a path segment: no '.', '\\' or NUL. */
static int
token_ok(const char *s, size_t n)
{
	return n > 0 && n <= 40 && memchr(s, '.', n) == NULL &&
	    memchr(s, '\\', n) == NULL && memchr(s, '\0', n) == NULL;
}

/*
 * Paths from the input's quoted strings: each alone, and each with the
 * next one and the one after as deeper segments.  Field conditions on
 * the first three, keys on the rest, so the rule set needs at most three
 * regexes.  NULL when the input has no usable string.
 */
static struct ruleset *
derive(const char *raw, size_t len)
{
	static const char *const regex[] = {
		"^[a-m0-9]", "^(true|false|-?1(\\.5)?|x)$", "[^a-z]"
	};
	const char *tok[24];
	size_t toklen[24], ntok = 0, i, j, k, np = 0, n;
	const char *p = raw, *end = raw + len, *q;
	json_t *root, *classes, *paths, *cls, *s, *empty;
	char *text, buf[128];

	while (ntok < 24 && p < end &&
	    (p = memchr(p, '"', (size_t)(end - p))) != NULL) {
		p++;
		if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
			break;
		if (token_ok(p, (size_t)(q - p))) {
			for (i = 0; i < ntok; i++)
				if (toklen[i] == (size_t)(q - p) &&
				    memcmp(tok[i], p, toklen[i]) == 0)
					break;
			if (i == ntok) {
				tok[ntok] = p;
				toklen[ntok++] = (size_t)(q - p);
			}
		}
		p = q + 1;
	}
	if (ntok == 0)
		return NULL;
	paths = json_array();
	for (k = 1; k <= 3; k++)
		for (i = 0; i + k <= ntok && np < 64; i++) {
			for (n = 0, j = i; j < i + k; j++) {
				if (n + toklen[j] + 2 > sizeof(buf))
					break;
				if (j > i)
					buf[n++] = '.';
				memcpy(buf + n, tok[j], toklen[j]);
				n += toklen[j];
			}
			if (j < i + k ||
			    (s = json_stringn(buf, n)) == NULL)
				continue;	/* not UTF-8: no such key */
			json_array_append_new(paths, s);
			np++;
		}
	root = json_object();
	classes = json_array();
	json_object_set_new(root, "classes", classes);
	for (i = 0; i < json_array_size(paths); i++) {
		snprintf(buf, sizeof(buf), "d%zu", i);
		s = json_array_get(paths, i);
		if (i < 3)
			cls = json_pack("{s:s,s:[{s:O,s:s}]}", "name", buf,
			    "match", "field", s, "regex", regex[i]);
		else {
			empty = json_array();
			cls = json_pack("{s:s,s:O,s:o}", "name", buf, "key", s,
			    "match", empty);
		}
		json_array_append_new(classes, cls);
	}
	json_decref(paths);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (text == NULL)
		return NULL;
	if (derived_text != NULL && strcmp(text, derived_text) == 0) {
		free(text);
		return derived;
	}
	rules_free(derived);
	free(derived_text);
	derived_text = text;
	derived = load(text, strlen(text));
	return derived;
}

/* jansson's view of the input, as classify() parses it. */
static void
reference(const char *raw, size_t len, struct ref *r)
{
	json_error_t e;
	json_t *root;

	memset(r, 0, sizeof(*r));
	root = json_loadb(raw, len, JSON_ALLOW_NUL, &e);
	if (root == NULL && json_error_code(&e) ==
	    json_error_numeric_overflow) {
		r->overflow = 1;
		root = json_loadb(raw, len, JSON_ALLOW_NUL |
		    JSON_DECODE_INT_AS_REAL, &e);
		if (root == NULL && json_error_code(&e) ==
		    json_error_numeric_overflow)
			r->v = V_UNKNOWN;
	}
	/*
	 * A NUL byte is never JSON (a control character in a string, no
	 * token outside one), but jansson 2.14 reads past one right after a
	 * number or a literal ({"a":1\0} parses).  The scan refuses it, and
	 * so does classify_explain() since 4acc1a5: the verdict is invalid.
	 */
	if (memchr(raw, '\0', len) != NULL) {
		json_decref(root);
		r->v = V_INVALID;
		return;
	}
	if (r->v == V_UNKNOWN)
		return;
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		r->v = V_INVALID;
		return;
	}
	r->v = V_VALID;
	r->root = root;
}

/*
 * Whether the scan's value a is what the full parse has (b).  At the top
 * of a path an object only has to be one (the scan builds of it only
 * what paths go through); below, objects are compared whole.
 */
static int
same_value(json_t *a, json_t *b, int top)
{
	const char *k;
	json_t *v;
	size_t i;
	double da, db;

	if (a == NULL || b == NULL)
		return a == b;
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (top)
			return 1;
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach(a, k, v)
			if (!same_value(v, json_object_get(b, k), 0))
				return 0;
		return 1;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (i = 0; i < json_array_size(a); i++)
			if (!same_value(json_array_get(a, i),
			    json_array_get(b, i), 0))
				return 0;
		return 1;
	case JSON_STRING:
		return json_string_length(a) == json_string_length(b) &&
		    memcmp(json_string_value(a), json_string_value(b),
		    json_string_length(a)) == 0;
	case JSON_INTEGER:
		return json_integer_value(a) == json_integer_value(b);
	case JSON_REAL:
		da = json_real_value(a);
		db = json_real_value(b);
		return memcmp(&da, &db, sizeof(da)) == 0;
	default:
		return 1;
	}
}

/*
 * The reduced tree a holds nothing the full one (b) does not: each of its
 * keys is in b, with an object where b has one (itself such a subset),
 * else the very value.
 */
static int
subset(json_t *a, json_t *b)
{
	const char *k;
	json_t *v, *w;

	json_object_foreach(a, k, v) {
		if ((w = json_object_getn(b, k, strlen(k))) == NULL)
			return 0;
		if (json_is_object(v) ? !json_is_object(w) || !subset(v, w) :
		    !same_value(v, w, 0))
			return 0;
	}
	return 1;
}

static void
check_paths(const struct ruleset *rs, json_t *got, json_t *full,
    const char *what, const char *raw, size_t len)
{
	const struct jpath *p;
	size_t i;

	for (i = 0; i < rs->npaths; i++) {
		p = rs->paths[i];
		if (!same_value(jpath_lookup(got, p),
		    jpath_lookup(full, p), 1)) {
			fuzz_dump("event", raw, len);
			fuzz_dump("path", p->full, p->len);
			fuzz_fail("%s: the value at path \"%s\" is not the "
			    "full parse's", what, p->full);
		}
	}
	if (!subset(got, full)) {
		fuzz_dump("event", raw, len);
		fuzz_fail("%s: the tree holds a value the full parse does not",
		    what);
	}
}

/*
 * Whether the input may hold a number the scan hands back: a run of
 * number characters with an exponent (a real that may overflow) or of 19
 * or more (an integer that may, or one of 64 characters or more).  Loose
 * on purpose: jansson's lookahead may report another error first (a bad
 * UTF-8 byte right after the number), so its overflow flag is not enough.
 */
static int
big_number(const char *raw, size_t len)
{
	size_t i, run = 0;
	int exp = 0;

	for (i = 0; i < len; i++) {
		if (raw[i] != '\0' && strchr("0123456789+-.eE", raw[i]) != NULL) {
			run++;
			exp |= raw[i] == 'e' || raw[i] == 'E';
			if (run >= 19 || (exp && raw[i] >= '0' && raw[i] <= '9'))
				return 1;
		} else {
			run = 0;
			exp = 0;
		}
	}
	return 0;
}

static const char *const vname[] = { "valid", "invalid", "unknown" };
static const char *const sname[] = { "SCAN_OK", "SCAN_INVALID", "SCAN_FULL" };

static void
check_ruleset(const struct ruleset *rs, const char *raw, size_t len,
    const struct ref *r, int svalid)
{
	struct classify_trace t;
	enum scan_result sr;
	uint64_t hits[128];
	json_t *out = NULL, *obj = NULL;
	size_t c1, c2;
	int fine;

	/* The scan. */
	sr = scan_event(rs, raw, len, &out);
	switch (sr) {
	case SCAN_INVALID:
		fine = r->v != V_VALID && !svalid && out == NULL;
		break;
	case SCAN_OK:
		fine = r->v == V_VALID && !r->overflow && svalid &&
		    json_is_object(out);
		break;
	case SCAN_FULL:
		fine = out == NULL && (r->overflow || !rs->scan_ok ||
		    memchr(raw, '\\', len) != NULL || big_number(raw, len));
		break;
	default:
		fine = 0;
		break;
	}
	if (!fine) {
		fuzz_dump("event", raw, len);
		fuzz_fail("scan_event() says %s, jansson %s%s, scan_valid() %d",
		    sr <= SCAN_FULL ? sname[sr] : "?", vname[r->v],
		    r->overflow ? " (numeric overflow)" : "", svalid);
	}
	if (sr == SCAN_OK)
		check_paths(rs, out, r->root, "scan_event()", raw, len);
	json_decref(out);

	/* classify() both ways, and the explanation's full parse. */
	c1 = classify(rs, raw, len, NULL, NULL);
	memset(hits, 0, sizeof(hits));
	c2 = classify(rs, raw, len, &obj, rs->nclasses <= 128 ? hits : NULL);
	memset(&t, 0, sizeof(t));
	if (classify_explain(rs, raw, len, &t, NULL) == -1)
		abort();
	if (c1 != c2 || c1 != t.cls) {
		fuzz_dump("event", raw, len);
		fuzz_fail("classify() says %s (with the object: %s), "
		    "classify_explain() %s", rs->classes[c1].name,
		    rs->classes[c2].name, rs->classes[t.cls].name);
	}
	if (r->v != V_UNKNOWN &&
	    (c1 == RULES_INVALID(rs)) != (r->v == V_INVALID)) {
		fuzz_dump("event", raw, len);
		fuzz_fail("classify() says %s, jansson %s", rs->classes[c1].name,
		    vname[r->v]);
	}
	if ((t.verdict == CLASSIFY_OBJECT) != (c1 != RULES_INVALID(rs))) {
		fuzz_dump("event", raw, len);
		fuzz_fail("classify_explain() verdict %d for class %s",
		    (int)t.verdict, rs->classes[c1].name);
	}
	if (c2 == RULES_INVALID(rs) && obj != NULL) {
		fuzz_dump("event", raw, len);
		fuzz_fail("classify() handed back an object for an invalid "
		    "line");
	}
	if (obj != NULL && !json_is_object(obj)) {
		fuzz_dump("event", raw, len);
		fuzz_fail("classify() handed back a non-object");
	}
	if (obj != NULL && r->v == V_VALID)
		check_paths(rs, obj, r->root, "classify()", raw, len);
	json_decref(obj);
	classify_trace_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *raw = (const char *)data;
	struct ruleset *rs;
	struct ref r;
	size_t end, i;
	int svalid, pok;

	if (size > 1 << 16)
		return 0;
	reference(raw, size, &r);

	/* The syntax check alone. */
	svalid = scan_valid(raw, size);
	if (r.v != V_UNKNOWN && svalid != (r.v == V_VALID)) {
		fuzz_dump("event", raw, size);
		fuzz_fail("scan_valid() says %d, jansson %s", svalid,
		    vname[r.v]);
	}
	end = (size_t)-1;
	pok = scan_prefix(raw, size, &end);
	if (end > size || (pok && (end == size) != svalid) ||
	    (!pok && svalid)) {
		fuzz_dump("event", raw, size);
		fuzz_fail("scan_prefix() says %d, end %zu, scan_valid() %d",
		    pok, end, svalid);
	}
	if (pok && end < size) {
		/* What it read is one object, and valid alone. */
		struct ref pr;

		if (!scan_valid(raw, end)) {
			fuzz_dump("event", raw, size);
			fuzz_fail("scan_prefix() ended at %zu, but that much "
			    "is not valid by scan_valid()", end);
		}
		reference(raw, end, &pr);
		if (pr.v == V_INVALID) {
			fuzz_dump("event", raw, size);
			fuzz_fail("scan_prefix() ended at %zu, but jansson "
			    "refuses that much", end);
		}
		json_decref(pr.root);
	}

	for (i = 0; i < NFIXED; i++)
		check_ruleset(fixed[i], raw, size, &r, svalid);
	if ((rs = derive(raw, size)) != NULL)
		check_ruleset(rs, raw, size, &r, svalid);
	json_decref(r.root);
	return 0;
}
