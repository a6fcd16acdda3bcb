/*
 * rules: a rules file (SPEC §3) compiled into an immutable rule set.
 * A reload builds a new set and swaps the pointer; a set is never changed
 * after rules_load*() returns, so it may be shared read-only.
 */
#ifndef SPILLWAY_RULES_H
#define SPILLWAY_RULES_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "jpath.h"

#define RULES_NAME_MAX		63
#define RULES_PRIORITY_MAX	255
#define RULES_MATCH_LIMIT	100000	/* PCRE2 match limit per regex run */

#define RULES_INVALID_NAME	"_invalid"
#define RULES_INTERNAL_NAME	"_spillway"

enum cond_kind {
	COND_FIELD,		/* regex over a field's text */
	COND_RAW,		/* regex over the raw event bytes */
	COND_ANY		/* at least one sub-condition holds */
};

struct cond {
	enum cond_kind	  kind;
	int		  negate;	/* flips the whole result */
	struct jpath	  path;		/* COND_FIELD */
	pcre2_code	 *re;		/* COND_FIELD, COND_RAW; JIT-compiled */
	struct cond	 *any;		/* COND_ANY */
	size_t		  nany;
	int		  jit;		/* re was JIT-compiled */
	char		 *pattern;	/* regex source, for display */
	size_t		  patlen;
	char		  flags[8];	/* "flags" as given, for display */
};

enum on_limit {
	ON_LIMIT_DROP,
	ON_LIMIT_DIVERT
};

struct rule_class {
	char		  name[RULES_NAME_MAX + 1];
	int		  priority;	/* 0 = most important */
	double		  rate;		/* events/s (bytes/s by weight); 0 = none */
	double		  burst;	/* defaults to rate */
	int		  weight_bytes;	/* "weight": "bytes" */
	int		  has_key;
	struct jpath	  key;		/* per-key buckets, when has_key */
	double		  key_rate;
	double		  key_burst;	/* defaults to key_rate */
	size_t		  max_keys;	/* default 10000 */
	enum on_limit	  on_limit;
	long		  max_age_ms;	/* 0: queued events never expire */
	struct cond	 *match;	/* all must hold; NULL for default/_invalid */
	size_t		  nmatch;
};

/*
 * classes[0 .. nrules-1] are the matchable classes in file order,
 * classes[nrules] is the default class and classes[nrules + 1] is
 * "_invalid"; nclasses == nrules + 2 always.
 */
#define RULES_SCAN_PATHS	64	/* paths the fast scan can track */
#define RULES_RAW_PREFIX_MAX	64	/* leading raw-only classes tried first */

struct ruleset {
	struct rule_class *classes;
	size_t		   nclasses;
	size_t		   nrules;
	/* every field path the rules read (conditions, keys), once each */
	const struct jpath *paths[RULES_SCAN_PATHS];
	size_t		   npaths;
	int		   scan_ok;	/* npaths fit: the fast scan may run */
	/*
	 * The leading classes that read no field, raw conditions alone: up
	 * to there a class is decided without building any value.
	 */
	size_t		   raw_prefix;
	char		  *text;	/* source text as loaded (for GET /rules) */
	size_t		   textlen;
};

#define RULES_DEFAULT(rs)	((rs)->nrules)
#define RULES_INVALID(rs)	((rs)->nrules + 1)

/* Where and why a rules file was refused. */
#define RULES_ERRORS_MAX	16	/* errors kept; more are only counted */

struct rules_error_at {
	int		 line;
	int		 col;
	char		 msg[512];
};

/*
 * The first error, and the others found after it: a JSON syntax error
 * stops the reading, but a class in error does not stop the loader from
 * checking the next one, so `spillway check` can print each error.
 */
struct rules_error {
	int		 line;		/* 1-based; 0 when unknown (I/O) */
	int		 col;
	char		 msg[512];	/* "class \"x\": ..." without position */
	size_t		 nmore;
	struct rules_error_at more[RULES_ERRORS_MAX - 1];
	size_t		 untold;	/* found beyond those */
};

/*
 * Compile rules from text.  Returns a new rule set, or NULL with *err
 * filled in (positions as SPEC §1 describes for `spillway check`).
 */
struct ruleset	*rules_load_buffer(const char *text, size_t len,
		    struct rules_error *err);

/* Read and compile a file; I/O errors give line 0. */
struct ruleset	*rules_load_file(const char *path, struct rules_error *err);

/* The built-in set used without a rules file: one unlimited "default". */
struct ruleset	*rules_builtin(void);

/* Accepts NULL. */
void		 rules_free(struct ruleset *rs);

/* Index of the class with that name, or -1. */
int		 rules_find(const struct ruleset *rs, const char *name);

/*
 * Format an error as "FILE:LINE:COL: message" (or "FILE: message" when
 * line is 0) into buf.  Returns buf.
 */
const char	*rules_error_format(const struct rules_error *err,
		    const char *file, char *buf, size_t len);

/* Each error on fp, one "FILE:LINE:COL: message" line each. */
void		 rules_error_print(FILE *fp, const struct rules_error *err,
		    const char *file);

#endif
