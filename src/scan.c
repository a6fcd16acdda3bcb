/*
 * scan: one pass over an event that checks it is exactly one JSON object
 * as jansson would accept it, and builds with jansson only the values of
 * the fields the rules read.
 *
 * Parsing the whole tree is most of an event's cost, and a rule set reads
 * a handful of fields.  The scan keeps jansson's grammar to the letter:
 * the same whitespace, string escapes (surrogate pairs; no NUL in a key),
 * UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF), number
 * syntax and nesting limit, and the same "last duplicate key wins".  What
 * it cannot decide as cheaply as jansson, it hands back (SCAN_FULL): an
 * integer or a real beyond what jansson holds (jansson then reads all
 * numbers differently), or an escaped key where a path could pass.
 *
 * The reduced tree holds, for every rule path, what a full parse would
 * have at that place, so jpath_lookup() finds the same value: a
 * top-level key equal to the whole path, and the nested objects along it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <spillway/utf8.h>

#include "scan.h"

#define SCAN_MAX_DEPTH	2048	/* jansson's JSON_PARSER_MAX_DEPTH */

struct sc {
	const unsigned char	*p;
	const unsigned char	*end;
	const struct ruleset	*rs;
	int			 depth;
	int			 full;		/* hand back to jansson */
};

static void
sc_ws(struct sc *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	    *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int
sc_hex4(const unsigned char *p, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= (unsigned)(p[i] - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * A string at s->p (on its opening quote): its bytes between the quotes
 * in *b and *n, whether it has escapes, whether it holds a NUL (an escaped
 * U+0000).  0 or -1.
 */
static int
sc_string(struct sc *s, const unsigned char **b, size_t *n, int *esc,
    int *nul)
{
	const unsigned char *p = s->p + 1, *end = s->end;
	unsigned u, u2;
	size_t k;

	*esc = *nul = 0;
	*b = p;
	while (p < end) {
		unsigned char c;

#ifdef __SSE2__
		/*
		 * Sixteen bytes at a time past plain ASCII: what needs a
		 * look is a quote, a backslash, a control byte or a byte of
		 * UTF-8, the last two both below 0x20 taken as signed.
		 */
		while (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)p);
			__m128i m = _mm_or_si128(_mm_or_si128(
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
			    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
			    _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			int bits = _mm_movemask_epi8(m);

			if (bits != 0) {
				p += __builtin_ctz((unsigned)bits);
				break;
			}
			p += 16;
		}
		if (p >= end)
			break;
#endif
		c = *p;
		if (c == '"') {
			*n = (size_t)(p - *b);
			s->p = p + 1;
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			*esc = 1;
			if (++p >= end)
				return -1;
			switch (*p) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				p++;
				continue;
			case 'u':
				if (end - p < 5 || sc_hex4(p + 1, &u) == -1)
					return -1;
				p += 5;
				if (u >= 0xd800 && u <= 0xdbff) {
					if (end - p < 6 || p[0] != '\\' ||
					    p[1] != 'u' ||
					    sc_hex4(p + 2, &u2) == -1 ||
					    u2 < 0xdc00 || u2 > 0xdfff)
						return -1;
					p += 6;
				} else if (u >= 0xdc00 && u <= 0xdfff)
					return -1;
				else if (u == 0)
					*nul = 1;
				continue;
			default:
				return -1;
			}
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		/* UTF-8, as strictly as jansson checks it. */
		if ((k = utf8_len(p, (size_t)(end - p))) == 0)
			return -1;
		p += k;
	}
	return -1;
}

/*
 * A number at s->p: *real when it has a fraction or an exponent.  A
 * number jansson cannot hold sets s->full.  0 or -1.
 */
static int
sc_number(struct sc *s, const unsigned char **b, size_t *n, int *real)
{
	const unsigned char *p = s->p, *end = s->end;
	char buf[64];
	double d;
	int exp = 0;

	*b = p;
	*real = 0;
	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0') {
		p++;
		if (p < end && *p >= '0' && *p <= '9')
			return -1;
	} else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		*real = 1;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*real = exp = 1;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	*n = (size_t)(p - *b);
	s->p = p;
	if (s->rs == NULL)
		return 0;		/* syntax only */
	if (*n >= sizeof(buf)) {
		s->full = 1;		/* far beyond any integer */
		return 0;
	}
	/*
	 * Only the long ones can be beyond what jansson holds: an integer
	 * of 18 digits or fewer fits in 64 bits, and a real with no exponent
	 * and fewer than 64 characters is far below the largest double.
	 */
	if (*real ? !exp : *n - (**b == '-') <= 18)
		return 0;
	memcpy(buf, *b, *n);
	buf[*n] = '\0';
	errno = 0;
	if (*real) {
		d = strtod(buf, NULL);
		if (errno == ERANGE && (d > 1 || d < -1))
			s->full = 1;	/* overflow: jansson refuses it */
	} else {
		(void)strtoll(buf, NULL, 10);
		if (errno == ERANGE)
			s->full = 1;
	}
	return 0;
}

static int	sc_value(struct sc *, uint64_t, size_t, json_t *,
		    const unsigned char *, size_t, int);

/*
 * Whether the key is segment seg of path i (or, at the top, all of it).
 * Returns the paths the key is on, *next those that go on inside its
 * value, and *done whether its value is one a path reads.
 */
static uint64_t
sc_match(const struct sc *s, uint64_t cands, size_t seg,
    const unsigned char *k, size_t kn, uint64_t *next, int *done)
{
	const struct jpath *pa;
	uint64_t bit, on = 0;
	size_t i;

	*next = 0;
	*done = 0;
	for (i = 0; i < s->rs->npaths; i++) {
		pa = s->rs->paths[i];
		bit = (uint64_t)1 << i;
		if (seg == 0 && pa->nsegs > 1 && pa->len == kn &&
		    memcmp(pa->full, k, kn) == 0) {
			*done = 1;
			on |= bit;
		}
		if (!(cands & bit) || seg >= pa->nsegs ||
		    pa->seglen[seg] != kn || memcmp(pa->segs[seg], k, kn) != 0)
			continue;
		on |= bit;
		if (seg + 1 == pa->nsegs)
			*done = 1;
		else
			*next |= bit;
	}
	return on;
}

/*
 * After a member or element: 1 on a ',' (another follows), 0 on the
 * closing byte, -1 on anything else.  Consumes what it read.
 */
static int
sc_after(struct sc *s, unsigned char close)
{
	sc_ws(s);
	if (s->p < s->end && (*s->p == ',' || *s->p == close))
		return *s->p++ == ',';
	return -1;
}

/* An object at s->p; robj gets what the paths in cands need from it. */
static int
sc_object(struct sc *s, uint64_t cands, size_t seg, json_t *robj)
{
	const unsigned char *k;
	size_t kn;
	uint64_t next, on, seen = 0;
	int esc, nul, done, first;

	if (++s->depth > SCAN_MAX_DEPTH)
		return -1;
	s->p++;
	for (first = 1;; first = 0) {
		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == '}' && first) {
			s->p++;
			break;
		}
		if (*s->p != '"' || sc_string(s, &k, &kn, &esc, &nul) == -1 ||
		    nul)
			return -1;
		next = 0;
		done = 0;
		if (robj != NULL) {
			if (esc) {
				/* A key to compare after unescaping: jansson. */
				s->full = 1;
				return 0;
			}
			on = sc_match(s, cands, seg, k, kn, &next, &done);
			/*
			 * A later duplicate wins: what an earlier one left
			 * goes.  A key on a path already met may be one.
			 */
			if (on & seen)
				json_object_deln(robj, (const char *)k, kn);
			seen |= on;
		}
		sc_ws(s);
		if (s->p >= s->end || *s->p++ != ':')
			return -1;
		if (sc_value(s, next, seg + 1, next || done ? robj : NULL, k,
		    kn, done) == -1)
			return -1;
		if (s->full)
			return 0;
		switch (sc_after(s, '}')) {
		case 1:
			continue;
		case 0:
			break;
		default:
			return -1;
		}
		break;
	}
	s->depth--;
	return 0;
}

static int
sc_array(struct sc *s)
{
	int first;

	if (++s->depth > SCAN_MAX_DEPTH)
		return -1;
	s->p++;
	for (first = 1;; first = 0) {
		sc_ws(s);
		if (s->p >= s->end)
			return -1;
		if (*s->p == ']' && first) {
			s->p++;
			break;
		}
		if (sc_value(s, 0, 0, NULL, NULL, 0, 0) == -1)
			return -1;
		if (s->full)
			return 0;
		switch (sc_after(s, ']')) {
		case 1:
			continue;
		case 0:
			break;
		default:
			return -1;
		}
		break;
	}
	s->depth--;
	return 0;
}

/* jansson's own reading of the bytes b..e, for a value it decodes. */
static json_t *
sc_jansson(const unsigned char *b, const unsigned char *e)
{
	return json_loadb((const char *)b, (size_t)(e - b),
	    JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/*
 * A value at s->p.  When done, it completes a rule path: its value goes
 * into parent under key.  next: paths that continue inside it.
 */
static int
sc_value(struct sc *s, uint64_t next, size_t seg, json_t *parent,
    const unsigned char *key, size_t kn, int done)
{
	const unsigned char *b, *start;
	json_t *v = NULL, *child;
	size_t n;
	int esc, nul, real;
	char buf[64];

	sc_ws(s);
	if (s->p >= s->end)
		return -1;
	start = s->p;
	switch (*s->p) {
	case '{':
		child = NULL;
		if (parent != NULL && (next || done)) {
			if ((child = json_object()) == NULL ||
			    json_object_setn_new(parent, (const char *)key, kn,
			    child) == -1)
				return -1;
		}
		return sc_object(s, next, seg, next ? child : NULL);
	case '[':
		if (sc_array(s) == -1)
			return -1;
		if (done && parent != NULL && !s->full &&
		    (v = sc_jansson(start, s->p)) == NULL)
			return -1;
		break;
	case '"':
		if (sc_string(s, &b, &n, &esc, &nul) == -1)
			return -1;
		if (done && parent != NULL)
			v = esc ? sc_jansson(start, s->p) :
			    json_stringn_nocheck((const char *)b, n);
		break;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		int i;

		for (i = 0; i < 3; i++) {
			n = strlen(words[i]);
			if ((size_t)(s->end - s->p) >= n &&
			    memcmp(s->p, words[i], n) == 0)
				break;
		}
		if (i == 3)
			return -1;
		s->p += n;
		if (done && parent != NULL)
			v = i == 0 ? json_true() : i == 1 ? json_false() :
			    json_null();
		break;
	}
	default:
		if (sc_number(s, &b, &n, &real) == -1)
			return -1;
		if (s->full || !done || parent == NULL)
			break;
		memcpy(buf, b, n);
		buf[n] = '\0';
		v = real ? json_real(strtod(buf, NULL)) :
		    json_integer((json_int_t)strtoll(buf, NULL, 10));
		break;
	}
	if (v != NULL && json_object_setn_new(parent, (const char *)key, kn,
	    v) == -1)
		return -1;
	return 0;
}

enum scan_result
scan_event(const struct ruleset *rs, const char *raw, size_t len,
    json_t **out)
{
	struct sc s = { (const unsigned char *)raw,
	    (const unsigned char *)raw + len, rs, 0, 0 };
	uint64_t all;
	json_t *root;

	*out = NULL;
	if (!rs->scan_ok)
		return SCAN_FULL;
	sc_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return SCAN_INVALID;
	if ((root = json_object()) == NULL)
		return SCAN_FULL;
	all = rs->npaths == 64 ? ~(uint64_t)0 :
	    (((uint64_t)1 << rs->npaths) - 1);
	if (sc_object(&s, all, 0, root) == -1) {
		json_decref(root);
		return SCAN_INVALID;
	}
	if (s.full) {
		json_decref(root);
		return SCAN_FULL;
	}
	sc_ws(&s);
	if (s.p != s.end) {
		json_decref(root);
		return SCAN_INVALID;
	}
	*out = root;
	return SCAN_OK;
}

int
scan_prefix(const char *raw, size_t len, size_t *end)
{
	struct sc s = { (const unsigned char *)raw,
	    (const unsigned char *)raw + len, NULL, 0, 0 };
	int ok;

	sc_ws(&s);
	ok = s.p < s.end && *s.p == '{' && sc_object(&s, 0, 0, NULL) == 0;
	if (ok)
		sc_ws(&s);
	*end = (size_t)(s.p - (const unsigned char *)raw);
	return ok;
}

int
scan_valid(const char *raw, size_t len)
{
	size_t end;

	return scan_prefix(raw, len, &end) && end == len;
}
