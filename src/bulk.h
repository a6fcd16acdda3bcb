/*
 * bulk: the Elasticsearch _bulk wire format, parsed and emitted without
 * any I/O, so that bodies can be checked byte for byte in tests.
 */
#ifndef SPILLWAY_BULK_H
#define SPILLWAY_BULK_H

#include <stddef.h>

enum bulk_op {
	BULK_INDEX,
	BULK_CREATE,
	BULK_UPDATE,
	BULK_DELETE
};

/* One action of a bulk request, with its source line when it has one. */
struct bulk_item {
	enum bulk_op	 op;
	const char	*action;	/* raw action line, borrowed from body */
	size_t		 action_len;
	const char	*source;	/* raw source line, borrowed; NULL for delete */
	size_t		 source_len;
	char		*index;		/* _index, else the URL's index; may be NULL */
	char		*id;		/* _id or NULL; owned */
	char		*pipeline;	/* owned, may be NULL */
	char		*routing;	/* owned, may be NULL */

	/* Filled in by the caller before bulk_response(). */
	int		 status;	/* 201, 200, 409, 429, 400, ... */
	const char	*error_type;	/* set for status >= 400 */
	const char	*error_reason;
};

struct bulk_request {
	struct bulk_item *items;
	size_t		  nitems;
};

/*
 * Parse a bulk body (already decompressed).  Lines are split on '\n'
 * (a trailing '\r' is dropped); blank lines are skipped; the last line
 * need not end in '\n'.  `default_index` is the {index} of the URL or NULL.
 * Returns 0, or -1 with an Elasticsearch-style error message in err
 * (e.g. "Malformed action/metadata line [3], expected ...").
 * Items borrow from body: body must outlive req.
 */
int	bulk_parse(const char *body, size_t len, const char *default_index,
	    struct bulk_request *req, char *err, size_t errlen);

/* Frees what bulk_parse() allocated; accepts a zeroed request. */
void	bulk_request_clear(struct bulk_request *req);

/*
 * Build the compact JSON bulk response for items (one entry per item, in
 * order), with "took" = took_ms, "errors" true when any item failed
 * (status >= 300, as Elasticsearch does), filtered by the filter_path value
 * (comma-separated, '*' and '**' wildcards, '-' prefix excludes; NULL or
 * "" = no filtering).  Items without an _id get a generated 20-character
 * id.  Returns a malloc'ed NUL-terminated string and its length in *lenp,
 * or NULL on allocation failure.
 */
char	*bulk_response(const struct bulk_item *items, size_t n, long took_ms,
	    const char *filter_path, size_t *lenp);

/*
 * An Elasticsearch error document for a whole-request failure, e.g.
 * {"error":{"root_cause":[{"type":T,"reason":R}],"type":T,"reason":R},
 *  "status":S}.  Returns a malloc'ed string.
 */
char	*bulk_error_doc(int status, const char *type, const char *reason,
	    size_t *lenp);

/*
 * Apply an Elasticsearch filter_path expression to a compact JSON
 * document.  Returns a malloc'ed string ("{}" when nothing is left), or
 * NULL on error.  Used for the start-up answers as well as bulk.
 */
char	*bulk_filter_path(const char *json, const char *filter_path,
	    size_t *lenp);

#endif
