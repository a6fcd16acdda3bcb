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

/*
 * The value at `path` in `root`, honouring the literal-dotted-key rule
 * (SPEC §3): a top-level key equal to the whole path wins, even when its
 * value is null.  Returns a borrowed reference, or NULL when missing.
 */
json_t	*classify_lookup(json_t *root, const struct rules_path *path);

/*
 * The text a scalar matches as: integers in decimal, booleans as
 * true/false, reals as the shortest round-trip text with ".0" added when
 * it has neither '.' nor an exponent, strings as they are.  buf (at least
 * 32 bytes) holds numeric text.  Returns 0 and sets *txt and *len, or
 * -1 for null, objects and arrays.
 */
int	classify_scalar_text(json_t *v, char *buf, size_t buflen,
	    const char **txt, size_t *len);

#endif
