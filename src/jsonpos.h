/*
 * jsonpos: find where a value or key sits in JSON source text, so that
 * semantic errors found after jansson parsed the text can be reported as
 * FILE:LINE:COL.  jansson keeps no positions for values, only for syntax
 * errors.
 */
#ifndef SPILLWAY_JSONPOS_H
#define SPILLWAY_JSONPOS_H

#include <stddef.h>

/* One step of a path: an object key, or (key == NULL) an array index. */
struct jsonpos_seg {
	const char	*key;
	size_t		 index;
};

/*
 * Locate the value at `path` (depth segments; depth 0 is the root) in
 * `text`, which must be valid JSON.  With `want_key` set and the last
 * segment a key, the position of that key's opening quote is returned
 * instead of the value's first character.  Lines and columns are 1-based;
 * columns count characters (UTF-8 sequences), as jansson does.
 * Returns 0, or -1 when the path does not exist (line/col then point at
 * the deepest enclosing value that was found).
 */
int	jsonpos_find(const char *text, size_t len,
	    const struct jsonpos_seg *path, size_t depth, int want_key,
	    int *line, int *col);

#endif
