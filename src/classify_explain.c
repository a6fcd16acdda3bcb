/*
 * classify_explain: the tracing evaluator behind `spillway classify
 * --explain`.  It decides as classify() does (the same parse, the same
 * order, the same short-circuits, the same regex runs through
 * classify_match()) and records each step of the way in a struct
 * classify_trace (classify.h), which cli_explain.c writes for a reader.
 *
 * Kept apart from classify.c so that the data path stays as it is; it is
 * slower and allocates, so it is for the offline command only.  The unit
 * tests and the fuzzers check that both always choose the same class.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "jpath.h"
#include "scan.h"

/* Append a step; returns its index, or -1 without memory. */
static ssize_t
classify_step_add(struct classify_trace *t, size_t cls, const struct cond *c,
    int depth)
{
	struct classify_step	*ns;
	size_t			 cap;

	if (t->nsteps == t->capsteps) {
		cap = t->capsteps ? t->capsteps * 2 : 16;
		if ((ns = reallocarray(t->steps, cap, sizeof(*ns))) == NULL)
			return -1;
		t->steps = ns;
		t->capsteps = cap;
	}
	ns = &t->steps[t->nsteps];
	memset(ns, 0, sizeof(*ns));
	ns->cls = cls;
	ns->cond = c;
	ns->depth = depth;
	return (ssize_t)t->nsteps++;
}

/* Where jpath_lookup() stopped on a missing path, for the reader. */
static void
classify_explain_missing(json_t *root, const struct jpath *path,
    struct classify_step *st)
{
	json_t	*v = root, *next;
	size_t	 i;

	for (i = 0; i < path->nsegs; i++) {
		if (!json_is_object(v)) {
			st->blocked = v;
			break;
		}
		if ((next = json_object_get(v, path->segs[i])) == NULL)
			break;
		v = next;
	}
	st->missing_at = i;
}

static int
classify_explain_cond(struct classify_trace *t, size_t cls,
    const struct cond *c, int depth, json_t *root, const char *raw,
    size_t rawlen, uint64_t *hits, int *held)
{
	struct classify_step	*st;
	json_t			*v, *e;
	uint64_t		 before = *hits, was;
	ssize_t			 at;
	size_t			 i, nscalar = 0, elem = 0;
	int			 m = 0, sub;
	enum classify_seen	 seen = CLASSIFY_SEEN_NONE;

	if ((at = classify_step_add(t, cls, c, depth)) == -1)
		return -1;
	t->steps[at].tried = 1;
	switch (c->kind) {
	case COND_RAW:
		seen = CLASSIFY_SEEN_RAW;
		m = classify_match(c, raw, rawlen, hits);
		break;
	case COND_FIELD:
		st = &t->steps[at];
		if ((v = jpath_lookup(root, &c->path)) == NULL) {
			seen = CLASSIFY_SEEN_MISSING;
			classify_explain_missing(root, &c->path, st);
			break;
		}
		st->value = v;
		st->literal = json_object_get(root, c->path.full) != NULL;
		if (json_is_array(v)) {
			seen = CLASSIFY_SEEN_ARRAY;
			json_array_foreach(v, i, e) {
				if (json_is_array(e) || json_is_object(e))
					continue;
				nscalar++;
				was = *hits;
				m = classify_match_scalar(c, e, hits);
				if (was == before && *hits != was)
					t->steps[at].limit_elem = i;
				if (m) {
					elem = i;
					break;
				}
			}
		} else if (json_is_object(v))
			seen = CLASSIFY_SEEN_OBJECT;
		else if (json_is_null(v))
			seen = CLASSIFY_SEEN_NULL;
		else {
			seen = CLASSIFY_SEEN_SCALAR;
			m = classify_match_scalar(c, v, hits);
		}
		break;
	case COND_ANY:
		for (i = 0; i < c->nany; i++) {
			if (m) {
				if (classify_step_add(t, cls, &c->any[i],
				    depth + 1) == -1)
					return -1;
				continue;
			}
			if (classify_explain_cond(t, cls, &c->any[i],
			    depth + 1, root, raw, rawlen, hits, &sub) == -1)
				return -1;
			m = sub;
		}
		break;
	}
	st = &t->steps[at];	/* the array may have moved */
	st->seen = seen;
	st->matched = m;
	st->held = m != c->negate;
	st->limit = c->kind != COND_ANY && *hits != before;
	st->elem = elem;
	st->nscalar = nscalar;
	*held = st->held;
	return 0;
}

/* Why a line is not one JSON object; jerr is the first parse's error. */
static void
classify_explain_invalid(struct classify_trace *t, const char *raw,
    size_t len, const json_error_t *jerr)
{
	json_error_t	 e;
	json_t		*any;
	size_t		 end;

	t->verdict = CLASSIFY_NOT_JSON;
	t->error = *jerr;
	if (json_error_code(jerr) == json_error_numeric_overflow) {
		/*
		 * jansson stopped at the number, so its words would not say
		 * what is wrong further on: ask the syntax check instead.
		 */
		if (scan_prefix(raw, len, &end)) {
			if (end < len) {
				t->verdict = CLASSIFY_TRAILING;
				t->trailing = end;
			}
			return;
		}
		snprintf(t->error.text, sizeof(t->error.text),
		    "invalid JSON near byte %zu", end + 1);
		t->error.line = 1;
		t->error.column = -1;
		t->error.position = (int)end;
		return;
	}
	any = json_loadb(raw, len, JSON_ALLOW_NUL | JSON_DECODE_ANY |
	    JSON_DISABLE_EOF_CHECK, &e);
	if (any == NULL)
		return;
	end = e.position > 0 ? (size_t)e.position : 0;
	while (end < len && (raw[end] == ' ' || raw[end] == '\t' ||
	    raw[end] == '\n' || raw[end] == '\r'))
		end++;
	if (end < len) {
		t->verdict = CLASSIFY_TRAILING;
		t->trailing = end;
		json_decref(any);
	} else {
		t->verdict = CLASSIFY_NOT_OBJECT;
		t->root = any;
	}
}

int
classify_explain(const struct ruleset *rs, const char *raw, size_t len,
    struct classify_trace *t, uint64_t *limit_hits)
{
	const struct rule_class	*rc;
	json_error_t		 jerr, first;
	json_t			*root;
	uint64_t		 dummy;
	ssize_t			 at;
	size_t			 i, j;
	int			 held = 1;

	memset(t, 0, sizeof(*t));
	t->cls = RULES_INVALID(rs);
	/* The same parse as classify(), remembering which way it went. */
	root = json_loadb(raw, len, JSON_ALLOW_NUL, &jerr);
	first = jerr;
	if (root == NULL && json_error_code(&jerr) ==
	    json_error_numeric_overflow) {
		root = json_loadb(raw, len, JSON_ALLOW_NUL |
		    JSON_DECODE_INT_AS_REAL, &jerr);
		if (root != NULL)
			t->bigint = 1;
		else if (json_error_code(&jerr) ==
		    json_error_numeric_overflow && scan_valid(raw, len)) {
			if ((root = json_object()) == NULL)
				return -1;
			t->bignum = 1;
		}
	}
	if (root == NULL) {
		classify_explain_invalid(t, raw, len, &first);
		return 0;
	}
	if (!json_is_object(root)) {
		t->verdict = CLASSIFY_NOT_OBJECT;
		t->root = root;
		return 0;
	}
	/*
	 * jansson takes what the data path's scan refuses (a NUL after a
	 * number): the verdict is the data path's.
	 */
	if (!t->bignum && !scan_valid(raw, len)) {
		size_t end;

		json_decref(root);
		if (scan_prefix(raw, len, &end) && end < len) {
			t->verdict = CLASSIFY_TRAILING;
			t->trailing = end;
		} else {
			t->verdict = CLASSIFY_NOT_JSON;
			snprintf(t->error.text, sizeof(t->error.text),
			    "invalid JSON near byte %zu", end + 1);
			t->error.line = 1;
			t->error.column = -1;
			t->error.position = (int)end;
		}
		return 0;
	}
	t->verdict = CLASSIFY_OBJECT;
	t->root = root;
	t->cls = RULES_DEFAULT(rs);
	for (i = 0; i < rs->nrules; i++) {
		rc = &rs->classes[i];
		if ((at = classify_step_add(t, i, NULL, 0)) == -1)
			return -1;
		t->steps[at].tried = 1;
		for (j = 0, held = 1; j < rc->nmatch; j++) {
			if (!held) {
				if (classify_step_add(t, i, &rc->match[j],
				    0) == -1)
					return -1;
				continue;
			}
			if (classify_explain_cond(t, i, &rc->match[j], 0, root,
			    raw, len, limit_hits != NULL ? &limit_hits[i] :
			    &dummy, &held) == -1)
				return -1;
		}
		t->steps[at].matched = t->steps[at].held = held;
		if (held) {
			t->cls = i;
			break;
		}
	}
	return 0;
}

void
classify_trace_free(struct classify_trace *t)
{
	json_decref(t->root);
	free(t->steps);
	memset(t, 0, sizeof(*t));
}
