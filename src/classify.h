/*
 * classify: one event -> one class of a rule set; first match wins.
 */
#ifndef SPILLWAY_CLASSIFY_H
#define SPILLWAY_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "rules.h"

/*
 * Classify the event `raw` (len bytes, no trailing newline).  The event
 * is parsed with jansson; a line that is not exactly one JSON object goes
 * to RULES_INVALID(rs).  On return *jsonp holds a new reference to the
 * parsed object (the caller owns it), or NULL when the line was invalid.
 * jsonp may be NULL when the caller does not want the object.
 * `limit_hits`, when not NULL, is an array of rs->nclasses counters; the
 * entry of a class is incremented each time one of its regexes hits the
 * PCRE2 match limit (that condition then does not match).
 * Returns the class index.
 */
size_t	classify(const struct ruleset *rs, const char *raw, size_t len,
	    json_t **jsonp, uint64_t *limit_hits);

#define CLASSIFY_KEY_MAX	128	/* key text kept, as the key buckets
					   keep it (KEYTAB_KEY_MAX) */

/* One event classified for the data path, by classify_event(). */
struct classify_result {
	size_t		 cls;		/* class index in the rule set */
	const char	*key;		/* keylen bytes: the text of the
					   class's key field */
	size_t		 keylen;	/* 0: the class has no key bucket, or
					   the event no such scalar field */
	const uint64_t	*hits;		/* NULL, or the regex limit hits of
					   this event per class index */
	char		 keybuf[CLASSIFY_KEY_MAX];
};

/*
 * The data path's classification of the event raw (len bytes, no
 * newline): its class under rs, as classify() gives it, and, when that
 * class has per-key buckets, the text of its key field
 * (jpath_scalar_text(), at most CLASSIFY_KEY_MAX bytes) in r->keybuf,
 * pointed to by r->key.  The parsed tree lives in this thread's arena
 * (arena.h, installed by then) only during the call; nothing of it is
 * kept.  r->hits is NULL when none of the event's regex runs hit a
 * PCRE2 limit; otherwise it holds rs->nclasses counters, counted as
 * classify()'s limit_hits are, which belong to this thread and stay
 * valid until its next classify_event().  Allocates nothing per event.
 */
void	classify_event(const struct ruleset *rs, const char *raw, size_t len,
	    struct classify_result *r);

/*
 * Run the regex of condition c on the text s (len bytes), as classify()
 * does: 1 when it matches.  A run that hits a PCRE2 limit does not match
 * and increments *hits.  classify_match_scalar() runs it on the text of
 * the scalar v (jpath_scalar_text()), and is 0 for null, arrays and
 * objects.  For classify_explain(), which must decide as classify() does.
 */
int	classify_match(const struct cond *c, const char *s, size_t len,
	    uint64_t *hits);
int	classify_match_scalar(const struct cond *c, json_t *v, uint64_t *hits);

/*
 * The explanation of one classification, step by step, for
 * `spillway classify --explain` (classify_explain.c).  classify_explain()
 * decides exactly as classify() does (same parse, same order, same
 * short-circuits) but records what it looked at; it is slower and
 * allocates, so it is for the offline command only, never the data path.
 */
enum classify_verdict {
	CLASSIFY_OBJECT,	/* one JSON object: the classes were tried */
	CLASSIFY_NOT_JSON,	/* malformed: jansson's words in error */
	CLASSIFY_TRAILING,	/* bytes after the JSON value, at `trailing` */
	CLASSIFY_NOT_OBJECT	/* one JSON value, but not an object (root) */
};

/* What a condition looked at. */
enum classify_seen {
	CLASSIFY_SEEN_NONE,	/* an "any" group, or a step not tried */
	CLASSIFY_SEEN_RAW,	/* the raw line */
	CLASSIFY_SEEN_MISSING,	/* no value at the path */
	CLASSIFY_SEEN_NULL,	/* null: never matches */
	CLASSIFY_SEEN_OBJECT,	/* an object: never matches */
	CLASSIFY_SEEN_SCALAR,	/* a string, number or boolean */
	CLASSIFY_SEEN_ARRAY	/* an array: its scalar elements were tried */
};

/*
 * One step.  A class step (cond == NULL) comes before the steps of its
 * conditions; an "any" step comes before the steps of its members.
 * Conditions that were not evaluated because the result was already
 * known (a failed condition before them in "match", a member before them
 * that held in "any") are listed with tried == 0, without members.
 */
struct classify_step {
	size_t			 cls;		/* index into rs->classes */
	const struct cond	*cond;		/* NULL: the class itself */
	int			 depth;		/* 0 in "match", +1 per "any" */
	int			 tried;		/* evaluated at all */
	int			 matched;	/* before negate; class: all held */
	int			 held;		/* the result, negate applied */
	int			 limit;		/* a regex run hit the match limit */
	enum classify_seen	 seen;
	json_t			*value;		/* borrowed from the trace's root */
	int			 literal;	/* found as a top-level key equal
						   to the whole dotted path */
	size_t			 missing_at;	/* MISSING: first path segment
						   not found */
	json_t			*blocked;	/* MISSING: the non-object value
						   the path ran into, or NULL */
	size_t			 elem;		/* ARRAY and matched: the index */
	size_t			 limit_elem;	/* ARRAY and limit: the first
						   element that hit it */
	size_t			 nscalar;	/* ARRAY: scalar elements tried */
};

struct classify_trace {
	enum classify_verdict	 verdict;
	size_t			 cls;		/* the class chosen */
	json_t			*root;		/* owned: the event, or NULL */
	int			 bigint;	/* integers beyond 64 bits were
						   read as reals */
	int			 bignum;	/* a number beyond a double: valid,
						   but no fields to match on */
	json_error_t		 error;		/* NOT_JSON */
	size_t			 trailing;	/* TRAILING: byte offset */
	struct classify_step	*steps;
	size_t			 nsteps;
	size_t			 capsteps;
};

/*
 * Classify `raw` as classify() does and fill in *t (which the caller
 * frees with classify_trace_free(), also after a failure).  limit_hits as
 * for classify().  Returns 0, or -1 when out of memory.
 */
int	classify_explain(const struct ruleset *rs, const char *raw, size_t len,
	    struct classify_trace *t, uint64_t *limit_hits);

/* Accepts a zeroed or already freed trace. */
void	classify_trace_free(struct classify_trace *t);

#endif
