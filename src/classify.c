/*
 * classify: one event -> one class; first match wins.
 *
 * The rule set is shared read-only between threads.  What a regex run
 * needs that is mutable (match data, match context, JIT stack) lives in a
 * per-thread context made on first use and freed when the thread exits,
 * so the hot path allocates nothing beyond jansson's parse.  The counters
 * classify_event() hands out, one per class, live there too.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "classify.h"
#include "jpath.h"
#include "scan.h"

#define CLASSIFY_JIT_STACK_MIN	(32 * 1024)
#define CLASSIFY_JIT_STACK_MAX	(512 * 1024)

struct classify_tls {
	pcre2_match_data	*md;
	pcre2_match_context	*mc;
	pcre2_jit_stack		*js;
	uint64_t		 nlimit;	/* runs that hit a limit, ever */
	uint64_t		*hits;		/* classify_event(): per class */
	size_t			 nhits;
	int			 dirty;		/* hits handed out, not zero */
};

static __thread struct classify_tls	*classify_ctx;
static pthread_key_t			 classify_key;
static pthread_once_t			 classify_once = PTHREAD_ONCE_INIT;
static int				 classify_key_ok;

static void
classify_tls_free(void *arg)
{
	struct classify_tls	*t = arg;

	if (t == NULL)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mc);
	pcre2_jit_stack_free(t->js);
	free(t->hits);
	free(t);
}

static void
classify_key_init(void)
{
	classify_key_ok = pthread_key_create(&classify_key,
	    classify_tls_free) == 0;
}

/* This thread's regex context, or NULL when it cannot be made. */
static struct classify_tls *
classify_tls(void)
{
	struct classify_tls	*t;

	if (classify_ctx != NULL)
		return classify_ctx;
	pthread_once(&classify_once, classify_key_init);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	/* One pair: only "did it match" matters. */
	if ((t->md = pcre2_match_data_create(1, NULL)) == NULL ||
	    (t->mc = pcre2_match_context_create(NULL)) == NULL)
		goto fail;
	pcre2_set_match_limit(t->mc, RULES_MATCH_LIMIT);
	/* Without a bigger JIT stack PCRE2 uses 32K of the machine stack. */
	t->js = pcre2_jit_stack_create(CLASSIFY_JIT_STACK_MIN,
	    CLASSIFY_JIT_STACK_MAX, NULL);
	if (t->js != NULL)
		pcre2_jit_stack_assign(t->mc, NULL, t->js);
	if (classify_key_ok)
		pthread_setspecific(classify_key, t);
	classify_ctx = t;
	return t;

fail:
	classify_tls_free(t);
	return NULL;
}

/*
 * Run one regex.  A run that hits a PCRE2 limit does not match and
 * counts in *hits.
 */
static int
classify_re(const struct cond *c, const char *s, size_t len, uint64_t *hits)
{
	struct classify_tls	*t;
	int			 rc;

	if ((t = classify_tls()) == NULL)
		return 0;
	if (c->jit)
		rc = pcre2_jit_match(c->re, (PCRE2_SPTR)s, len, 0, 0, t->md,
		    t->mc);
	else
		rc = pcre2_match(c->re, (PCRE2_SPTR)s, len, 0, 0, t->md,
		    t->mc);
	if (rc >= 0)
		return 1;	/* 0: matched, ovector too small */
	switch (rc) {
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		(*hits)++;
		t->nlimit++;
		break;
	}
	return 0;
}

static int
classify_scalar(const struct cond *c, json_t *v, uint64_t *hits)
{
	char		 buf[40];
	const char	*txt;
	size_t		 len;

	if (jpath_scalar_text(v, buf, sizeof(buf), &txt, &len) == -1)
		return 0;
	return classify_re(c, txt, len, hits);
}

/*
 * classify_re() and classify_scalar() for classify_explain.c, which must
 * decide exactly as this file does; the data path calls the static ones.
 */
int
classify_match(const struct cond *c, const char *s, size_t len,
    uint64_t *hits)
{
	return classify_re(c, s, len, hits);
}

int
classify_match_scalar(const struct cond *c, json_t *v, uint64_t *hits)
{
	return classify_scalar(c, v, hits);
}

static int
classify_cond(const struct cond *c, json_t *root, const char *raw,
    size_t rawlen, uint64_t *hits)
{
	json_t	*v, *e;
	size_t	 i;
	int	 m = 0;

	switch (c->kind) {
	case COND_RAW:
		m = classify_re(c, raw, rawlen, hits);
		break;
	case COND_FIELD:
		if ((v = jpath_lookup(root, &c->path)) == NULL)
			break;
		if (json_is_array(v)) {
			json_array_foreach(v, i, e) {
				if (!json_is_array(e) && !json_is_object(e) &&
				    classify_scalar(c, e, hits)) {
					m = 1;
					break;
				}
			}
		} else
			m = classify_scalar(c, v, hits);
		break;
	case COND_ANY:
		for (i = 0; i < c->nany && !m; i++)
			m = classify_cond(&c->any[i], root, raw, rawlen, hits);
		break;
	}
	return m != c->negate;
}

/* Whether every condition of class rc holds. */
static int
classify_class(const struct rule_class *rc, json_t *root, const char *raw,
    size_t len, uint64_t *hits)
{
	size_t j;

	for (j = 0; j < rc->nmatch; j++)
		if (!classify_cond(&rc->match[j], root, raw, len, hits))
			return 0;
	return 1;
}

size_t
classify(const struct ruleset *rs, const char *raw, size_t len,
    json_t **jsonp, uint64_t *limit_hits)
{
	json_error_t		 jerr;
	json_t			*root;
	uint64_t		 dummy, hits[RULES_RAW_PREFIX_MAX];
	size_t			 i, held, idx = RULES_DEFAULT(rs);

	if (jsonp != NULL)
		*jsonp = NULL;
	/*
	 * Leading classes that look at the raw bytes alone are tried before
	 * anything is parsed.  When one of them holds, the line only has to
	 * be valid, which the scan checks without building a value, unless
	 * the class keys its buckets on a field.  Their regex limit hits
	 * count once the line is known valid, as if tried after the parse.
	 */
	for (held = 0; held < rs->raw_prefix; held++) {
		hits[held] = 0;
		if (classify_class(&rs->classes[held], NULL, raw, len,
		    &hits[held]))
			break;
	}
	if (held < rs->raw_prefix &&
	    (jsonp == NULL || !rs->classes[held].has_key)) {
		if (!scan_valid(raw, len))
			return RULES_INVALID(rs);
		idx = held;
		goto counted;
	}
	/*
	 * Every event is checked, even for classes that look only at the
	 * raw bytes: an invalid line is always "_invalid".  The scan builds
	 * only the fields the rules read; what it cannot decide goes to
	 * jansson whole.  \u0000 is valid JSON, so it must not make a line
	 * invalid.
	 */
	switch (scan_event(rs, raw, len, &root)) {
	case SCAN_INVALID:
		return RULES_INVALID(rs);
	case SCAN_OK:
		goto classified;
	case SCAN_FULL:
		break;
	}
	root = json_loadb(raw, len, JSON_ALLOW_NUL, &jerr);
	if (root == NULL && json_error_code(&jerr) ==
	    json_error_numeric_overflow) {
		/*
		 * Valid JSON that jansson cannot hold: an integer beyond 64
		 * bits reads as a real; a real beyond a double leaves the
		 * event valid but with no fields to match on.
		 */
		root = json_loadb(raw, len, JSON_ALLOW_NUL |
		    JSON_DECODE_INT_AS_REAL, &jerr);
		if (root == NULL && json_error_code(&jerr) ==
		    json_error_numeric_overflow && scan_valid(raw, len))
			root = json_object();
	}
	if (root == NULL)
		return RULES_INVALID(rs);
	/*
	 * jansson reads past what the grammar refuses (a NUL after a
	 * number): the scan's verdict holds on this path too.
	 */
	if (!json_is_object(root) || !scan_valid(raw, len)) {
		json_decref(root);
		return RULES_INVALID(rs);
	}
classified:
	if (held < rs->raw_prefix)
		idx = held;		/* a raw class held; its key needs the tree */
	else
		for (i = rs->raw_prefix; i < rs->nrules; i++)
			if (classify_class(&rs->classes[i], root, raw, len,
			    limit_hits != NULL ? &limit_hits[i] : &dummy)) {
				idx = i;
				break;
			}
	if (jsonp != NULL)
		*jsonp = root;
	else
		json_decref(root);
counted:
	if (limit_hits != NULL)
		for (i = 0; i < rs->raw_prefix && i <= held; i++)
			limit_hits[i] += hits[i];
	return idx;
}

/*
 * This thread's per-class counters for one event, zeroed, with room for
 * n classes; NULL without memory.
 */
static uint64_t *
classify_hits(struct classify_tls *t, size_t n)
{
	uint64_t	*h;

	if (t->dirty) {
		memset(t->hits, 0, t->nhits * sizeof(*t->hits));
		t->dirty = 0;
	}
	if (n > t->nhits) {
		if ((h = realloc(t->hits, n * sizeof(*h))) == NULL)
			return NULL;
		memset(h + t->nhits, 0, (n - t->nhits) * sizeof(*h));
		t->hits = h;
		t->nhits = n;
	}
	return t->hits;
}

/*
 * The text of the key field of an event (parsed as obj) for its class
 * rc, at most buflen bytes copied into buf; 0 when the class has no key
 * buckets or the event no such scalar field.
 */
static size_t
classify_key_text(const struct rule_class *rc, json_t *obj, char *buf,
    size_t buflen)
{
	const char	*txt;
	char		 num[64];
	size_t		 len;

	if (!rc->has_key || rc->key_rate <= 0 || obj == NULL ||
	    jpath_lookup_text(obj, &rc->key, num, sizeof(num), &txt,
	    &len) == -1)
		return 0;
	if (len > buflen)
		len = buflen;
	memcpy(buf, txt, len);
	return len;
}

void
classify_event(const struct ruleset *rs, const char *raw, size_t len,
    struct classify_result *r)
{
	struct classify_tls	*t;
	uint64_t		*hits = NULL, seen = 0;
	json_t			*obj = NULL;

	if ((t = classify_tls()) != NULL &&
	    (hits = classify_hits(t, rs->nclasses)) != NULL)
		seen = t->nlimit;
	/*
	 * The event's tree lives in the arena only while it is classified
	 * and its key read: the record forwards the bytes received.
	 */
	arena_begin();
	r->cls = classify(rs, raw, len, &obj, hits);
	r->keylen = classify_key_text(&rs->classes[r->cls], obj, r->keybuf,
	    sizeof(r->keybuf));
	arena_end();
	r->key = r->keybuf;
	r->hits = NULL;
	if (hits != NULL && t->nlimit != seen) {
		r->hits = hits;
		t->dirty = 1;
	}
}
