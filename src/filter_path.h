/*
 * filter_path: Elasticsearch's filter_path, applied to JSON as it is
 * written, for the bulk answers (bulk.c) and the start-up answers
 * (ingest_http.c).  No I/O.
 *
 * An expression is comma-separated paths (blanks around them and empty
 * paths are ignored), each dotted; a segment "*" matches any one key,
 * '*' inside a segment is a glob ("_*"), "**" matches any number of keys,
 * none included; a leading '-' excludes.  A node is kept when an include
 * path (or, with excludes only, nothing) selects it or an ancestor and no
 * exclude path selects it or an ancestor.  Arrays are transparent: their
 * elements are matched as the array itself.  Objects and arrays emptied
 * by the filter are dropped; one already empty is kept when selected
 * whole.  Key order is kept; the result is compact.  NULL or an empty
 * expression filters nothing.
 */
#ifndef SPILLWAY_FILTER_PATH_H
#define SPILLWAY_FILTER_PATH_H

#include <stddef.h>

struct json_t;
struct filter_path_writer;

/*
 * Apply the filter_path expr to a compact JSON document.  Returns a
 * malloc'ed string ("{}" when nothing is left), or NULL on error.  NULL
 * or an empty expr returns a copy of json; invalid JSON returns NULL.
 */
char	*filter_path_apply(const char *json, const char *expr,
	    size_t *lenp);

/*
 * A writer of one compact JSON object (an array when is_array), its
 * opening bracket written, through expr.  Members are written one at a
 * time: a container is written only once a value inside it survives the
 * filter, so no tree is built.  Allocation failures are sticky and show
 * in filter_path_finish().  NULL on allocation failure.
 */
struct filter_path_writer *filter_path_writer_new(const char *expr,
	    int is_array);

/* 1 when an expression is in force, 0 when everything is written. */
int	 filter_path_filtering(const struct filter_path_writer *fw);

/* Room for n more bytes of output, so that they need no reallocation. */
void	 filter_path_reserve(struct filter_path_writer *fw, size_t n);

/*
 * Announce the scalar member key (keylen bytes; NULL in an array) of the
 * innermost open container.  1 when it survives the filter: its key is
 * written, and the caller writes its value with one of the three below;
 * 0 when it is filtered out, and nothing is to be written.
 */
int	 filter_path_member(struct filter_path_writer *fw, const char *key,
	    size_t keylen);
int	 filter_path_memberz(struct filter_path_writer *fw, const char *key);

/* A value, after filter_path_member() said 1: bytes as they are. */
void	 filter_path_raw(struct filter_path_writer *fw, const char *s,
	    size_t n);

/* A value: s as a JSON string (NULL as ""), escaped as jansson does. */
void	 filter_path_string(struct filter_path_writer *fw, const char *s);

/* A value: v as a JSON integer. */
void	 filter_path_integer(struct filter_path_writer *fw, long long v);

/*
 * Open the container member key (keylen bytes; NULL in an array) of the
 * innermost open container, an object or, when is_array, an array.
 * Every open is matched by a filter_path_close().
 */
void	 filter_path_open(struct filter_path_writer *fw, const char *key,
	    size_t keylen, int is_array);
void	 filter_path_openz(struct filter_path_writer *fw, const char *key,
	    int is_array);
void	 filter_path_close(struct filter_path_writer *fw);

/* The member key (NULL in an array) of value v, whatever its type. */
void	 filter_path_value(struct filter_path_writer *fw, const char *key,
	    size_t keylen, struct json_t *v);

/*
 * The compact text filter_path_value() writes for the scalar v (a real in
 * the shortest form that reads back the same, with ".0" when it would
 * look like an integer), malloc'ed and NUL-terminated, its length in
 * *lenp unless lenp is NULL.  NULL on allocation failure.
 */
char	*filter_path_scalar(const struct json_t *v, size_t *lenp);

/*
 * Close the writer's object, free the writer and return the text
 * written, malloc'ed and NUL-terminated, its length in *lenp unless lenp
 * is NULL; NULL after an allocation failure.  Accepts NULL (and returns
 * NULL).
 */
char	*filter_path_finish(struct filter_path_writer *fw, size_t *lenp);

#endif
