/*
 * bulk: the Elasticsearch _bulk wire format, parsed and emitted without
 * any I/O, so that bodies can be checked byte for byte in tests.
 */
#ifndef SPILLWAY_BULK_H
#define SPILLWAY_BULK_H

#include <stddef.h>

#define BULK_ID_LEN	20	/* generated _id: URL-safe base64, no padding */

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
	char		*answer;	/* the sink's own item object, or NULL;
					   owned, freed by bulk_request_clear() */
	size_t		 answer_len;
};

struct bulk_request {
	struct bulk_item *items;
	size_t		  nitems;
};

/* The action's name as in the bulk body and response: "index", ... */
const char *bulk_op_name(enum bulk_op op);

/*
 * Parse a bulk body (already decompressed).  Lines are split on '\n'
 * (a trailing '\r' is dropped); blank lines are skipped; the last line
 * need not end in '\n'.  `default_index` is the {index} of the URL or NULL.
 * Returns 0, or -1 with an Elasticsearch-style error message in err
 * (e.g. "Malformed action/metadata line [3], expected ..."; N counts
 * physical lines from 1, blank ones included); err may be NULL.
 *
 * Action lines are checked as Elasticsearch 8 does: one of index,
 * create, update, delete holding an object of known parameters (_index,
 * _id, routing or the older _routing, pipeline, op_type, version,
 * version_type, if_seq_no, if_primary_term, retry_on_conflict,
 * require_alias, require_data_stream, list_executed_pipelines, _source,
 * dynamic_templates, and _type, which is ignored); null values are
 * ignored.  An index action with "op_type":"create" becomes BULK_CREATE.
 * update and delete need an _id; an _id may not be empty or longer than
 * 512 bytes.  Source lines are not looked at, but an action other than
 * delete must have one: unlike Elasticsearch, which drops such a
 * trailing action, this is an error ("Validation Failed: 1: source is
 * missing;"), so that a body cut short is not taken for a whole one.
 * A body without actions fails with "Validation Failed: 1: no requests
 * added;".  On failure req is empty.  On success req owns the strings of
 * its items (free with bulk_request_clear()); action and source borrow
 * from body, without the line end: body must outlive req.
 */
int	bulk_parse(const char *body, size_t len, const char *default_index,
	    struct bulk_request *req, char *err, size_t errlen);

/*
 * bulk_parse() that stops at the (max_items + 1)-th action, before it
 * holds it: -2 then (the caller answers 413 or 429), with err saying so.
 */
/* Line ends ('\n') in body: a bulk body has at most one action a line. */
size_t	bulk_lines(const char *body, size_t len);

int	bulk_parse_max(const char *body, size_t len, const char *default_index,
	    size_t max_items, struct bulk_request *req, char *err,
	    size_t errlen);

/* Frees what bulk_parse() allocated; accepts a zeroed request. */
void	bulk_request_clear(struct bulk_request *req);

/*
 * Writes a new document id, BULK_ID_LEN characters of URL-safe base64
 * and a NUL, into buf: the wall clock in milliseconds and a counter
 * (strictly increasing within the process, even when the clock steps
 * back), followed by bytes drawn at random once per process.
 * Thread-safe.  Callers that forward an item without an _id may assign
 * one first, so that the stored document and the response agree.
 */
void	bulk_id_generate(char buf[BULK_ID_LEN + 1]);

/*
 * Build the compact JSON bulk response for items (one entry per item, in
 * order), with "took" = took_ms, "errors" true when any item failed
 * (status >= 300, as Elasticsearch does), filtered by the filter_path value
 * (comma-separated, '*' and '**' wildcards, '-' prefix excludes; NULL or
 * "" = no filtering).  Items without an _id get a generated 20-character
 * id.  Returns a malloc'ed NUL-terminated string and its length in *lenp,
 * or NULL on allocation failure.
 *
 * The key of an item is the op's name.  An item with an answer (the
 * sink's own, e.g. Elasticsearch's) is that object, byte for byte when
 * there is no filter; its status still sets "errors".  Other items below
 * 400 answer as
 * Elasticsearch 8 does: _index ("" when NULL), _id, _version 1, result
 * ("created" for 201, "deleted" for a delete, else "updated"), _shards
 * {total 2, successful 1, failed 0}, _seq_no 0, _primary_term 1, status.
 * Items of 400 and above answer _index, _id, status and error {type,
 * reason}; a missing type is derived from the status (409
 * version_conflict_engine_exception, 429 es_rejected_execution_exception,
 * 404 document_missing_exception, other 4xx illegal_argument_exception,
 * 5xx exception), a missing reason is "".  As in Elasticsearch, a delete
 * answered 404 without error_type is result "not_found" and not a
 * failure: it does not set "errors".
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

#define BULK_COMPAT_MIN	7	/* compatible-with versions taken */
#define BULK_COMPAT_MAX	9

/*
 * Whether a bulk request's Content-Type is one Elasticsearch accepts
 * for _bulk: application/x-ndjson, application/json, or
 * application/vnd.elasticsearch+x-ndjson / +json (compatible-with, when
 * given, from BULK_COMPAT_MIN to BULK_COMPAT_MAX: 7, 8 or 9, one of which
 * any current server takes), case-insensitive, with optional parameters
 * such as "; charset=UTF-8".  A missing header (NULL or blank) is
 * accepted, more leniently than Elasticsearch, for senders that omit it.
 * Returns 1 when acceptable, 0 when not (the caller answers 406).
 */
int	bulk_content_type_ok(const char *ct);

/*
 * The compatible-with version an Accept or Content-Type value asks for
 * (a comma-separated list of media types): the first vendor type's
 * (7, 8 or 9), 0 when none asks for one, -1 when one asks for a version
 * outside BULK_COMPAT_MIN..BULK_COMPAT_MAX (the caller answers 406).
 */
int	bulk_compat(const char *value);

#endif
