/*
 * jpath: a dotted field path ("kubernetes.namespace") and its lookup in a
 * parsed event, and the text a scalar found there reads as.  The rules'
 * conditions and key fields, the per-key buckets and the Kafka sink's
 * message key all find a field this one way (SPEC §3).
 */
#ifndef SPILLWAY_JPATH_H
#define SPILLWAY_JPATH_H

#include <stddef.h>
#include <jansson.h>

/* A dotted path, split once when it is read. */
struct jpath {
	char		 *full;		/* "kubernetes.namespace" */
	char		**segs;		/* {"kubernetes", "namespace"} */
	size_t		  nsegs;
	size_t		  len;		/* of full */
	size_t		 *seglen;	/* of each segment */
};

/*
 * Split s into *p.  Returns 0, -1 when s is not a valid path (empty, a
 * leading, trailing or doubled dot: such a path could only ever name a
 * literal key, which is far more likely a typo), -2 without memory.
 * Free with jpath_free(), also after a failure.
 */
int	jpath_init(struct jpath *p, const char *s);

/* Frees what jpath_init() allocated and zeroes *p. */
void	jpath_free(struct jpath *p);

/*
 * The value at p in root, honouring the literal-dotted-key rule: a
 * top-level key equal to the whole path wins, even when its value is null.
 * Returns a borrowed reference, or NULL when missing or root is not an
 * object.
 */
json_t	*jpath_lookup(json_t *root, const struct jpath *p);

/*
 * The text a scalar matches as: integers in decimal, booleans as
 * true/false, reals as the shortest round-trip text with ".0" added when
 * it has neither '.' nor an exponent, strings as they are.  buf (at least
 * 32 bytes) holds numeric text.  Returns 0 and sets *txt (into buf or the
 * string's own bytes) and *len, or -1 for null, objects and arrays.
 */
int	jpath_scalar_text(json_t *v, char *buf, size_t buflen,
	    const char **txt, size_t *len);

/*
 * jpath_lookup() and jpath_scalar_text() in one: the text of the scalar
 * at p in root.  Returns 0, or -1 when it is missing or not a scalar.
 */
int	jpath_lookup_text(json_t *root, const struct jpath *p, char *buf,
	    size_t buflen, const char **txt, size_t *len);

#endif
