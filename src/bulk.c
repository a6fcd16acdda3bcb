/*
 * bulk: the Elasticsearch _bulk wire format.  Pure functions, no I/O.
 *
 * Parsing splits the body into lines once and parses only the small
 * action lines; source lines are borrowed as they are.  Responses are
 * written member by member through filter_path's streaming writer, so no
 * tree is built for the bulk response even when a filter_path is given.
 */
#include <sys/random.h>

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bulk.h"
#include "filter_path.h"
#include "record.h"

/* Ids. */

static const char bulk_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Milliseconds since 2020-01-01: 40 bits last until 2054. */
#define BULK_ID_EPOCH_MS	1577836800000ULL

static pthread_once_t	 bulk_id_once = PTHREAD_ONCE_INIT;
static unsigned char	 bulk_id_salt[7];
static uint64_t		 bulk_id_state;	/* ms << 24 | counter */

static void
bulk_id_init(void)
{
	struct timespec	 ts;
	uint64_t	 x;
	size_t		 i;

	if (getrandom(bulk_id_salt, sizeof(bulk_id_salt), GRND_NONBLOCK) ==
	    (ssize_t)sizeof(bulk_id_salt))
		return;
	/* No entropy yet: pid and clock still tell processes apart. */
	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)ts.tv_nsec * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)ts.tv_sec;
	for (i = 0; i < sizeof(bulk_id_salt); i++, x >>= 8)
		bulk_id_salt[i] = (unsigned char)x;
}

void
bulk_id_generate(char buf[BULK_ID_LEN + 1])
{
	struct timespec	 ts;
	unsigned char	 raw[15];
	uint64_t	 now, old, nw;
	size_t		 i, o;
	uint32_t	 v;

	pthread_once(&bulk_id_once, bulk_id_init);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	now = now > BULK_ID_EPOCH_MS ? now - BULK_ID_EPOCH_MS : 0;
	now &= (1ULL << 40) - 1;
	/*
	 * A later millisecond restarts the counter; otherwise the counter
	 * goes up and carries into the millisecond field, so values never
	 * repeat even when the clock steps back.
	 */
	old = __atomic_load_n(&bulk_id_state, __ATOMIC_RELAXED);
	do {
		nw = (now > old >> 24) ? now << 24 : old + 1;
	} while (!__atomic_compare_exchange_n(&bulk_id_state, &old, nw, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	for (i = 0; i < 8; i++)
		raw[i] = (unsigned char)(nw >> (56 - 8 * i));
	memcpy(raw + 8, bulk_id_salt, sizeof(bulk_id_salt));
	for (i = 0, o = 0; i < sizeof(raw); i += 3) {
		v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
		    raw[i + 2];
		buf[o++] = bulk_b64url[v >> 18 & 63];
		buf[o++] = bulk_b64url[v >> 12 & 63];
		buf[o++] = bulk_b64url[v >> 6 & 63];
		buf[o++] = bulk_b64url[v & 63];
	}
	buf[o] = '\0';
}

/* Responses. */

const char *
bulk_op_name(enum bulk_op op)
{
	switch (op) {
	case BULK_INDEX:
		return "index";
	case BULK_CREATE:
		return "create";
	case BULK_UPDATE:
		return "update";
	case BULK_DELETE:
		return "delete";
	}
	return "index";
}

/* A delete of a missing document is a 404 but no failure in Elasticsearch. */
static int
bulk_item_not_found(const struct bulk_item *it)
{
	return it->op == BULK_DELETE && it->status == 404 &&
	    it->error_type == NULL;
}

static int
bulk_item_failed(const struct bulk_item *it)
{
	return it->status >= 400 && !bulk_item_not_found(it);
}

static const char *
bulk_item_result(const struct bulk_item *it)
{
	if (bulk_item_not_found(it))
		return "not_found";
	if (it->status == 201)
		return "created";
	if (it->op == BULK_DELETE)
		return "deleted";
	return "updated";
}

/* An error type for items that failed without one. */
static const char *
bulk_default_error_type(int status)
{
	switch (status) {
	case 404:
		return "document_missing_exception";
	case 409:
		return "version_conflict_engine_exception";
	case 429:
		return "es_rejected_execution_exception";
	default:
		return status >= 500 ? "exception" :
		    "illegal_argument_exception";
	}
}

/*
 * The sink's own answer for an item, as it gave it: its text unfiltered,
 * else through the filter.  0, or -1 when it does not parse.
 */
static int
bulk_write_answer(struct filter_path_writer *w, const struct bulk_item *it)
{
	const char	*op = bulk_op_name(it->op);
	json_t		*v;

	if (!filter_path_filtering(w)) {
		filter_path_open(w, NULL, 0, 0);
		if (filter_path_memberz(w, op))
			filter_path_raw(w, it->answer, it->answer_len);
		filter_path_close(w);
		return 0;
	}
	if ((v = json_loadb(it->answer, it->answer_len, 0, NULL)) == NULL)
		return -1;
	filter_path_open(w, NULL, 0, 0);
	filter_path_value(w, op, strlen(op), v);
	filter_path_close(w);
	json_decref(v);
	return 0;
}

static void
bulk_write_item(struct filter_path_writer *w, const struct bulk_item *it)
{
	char		 idbuf[BULK_ID_LEN + 1];
	const char	*id = it->id;

	if (it->answer != NULL && bulk_write_answer(w, it) == 0)
		return;
	filter_path_open(w, NULL, 0, 0);
	filter_path_openz(w, bulk_op_name(it->op), 0);
	if (filter_path_memberz(w, "_index"))
		filter_path_string(w, it->index);
	if (filter_path_memberz(w, "_id")) {
		if (id == NULL) {
			bulk_id_generate(idbuf);
			id = idbuf;
		}
		filter_path_string(w, id);
	}
	if (bulk_item_failed(it)) {
		if (filter_path_memberz(w, "status"))
			filter_path_integer(w, it->status);
		filter_path_openz(w, "error", 0);
		if (filter_path_memberz(w, "type"))
			filter_path_string(w, it->error_type ? it->error_type :
			    bulk_default_error_type(it->status));
		if (filter_path_memberz(w, "reason"))
			filter_path_string(w, it->error_reason);
		filter_path_close(w);
	} else {
		if (filter_path_memberz(w, "_version"))
			filter_path_raw(w, "1", 1);
		if (filter_path_memberz(w, "result"))
			filter_path_string(w, bulk_item_result(it));
		filter_path_openz(w, "_shards", 0);
		if (filter_path_memberz(w, "total"))
			filter_path_raw(w, "2", 1);
		if (filter_path_memberz(w, "successful"))
			filter_path_raw(w, "1", 1);
		if (filter_path_memberz(w, "failed"))
			filter_path_raw(w, "0", 1);
		filter_path_close(w);
		if (filter_path_memberz(w, "_seq_no"))
			filter_path_raw(w, "0", 1);
		if (filter_path_memberz(w, "_primary_term"))
			filter_path_raw(w, "1", 1);
		if (filter_path_memberz(w, "status"))
			filter_path_integer(w, it->status);
	}
	filter_path_close(w);
	filter_path_close(w);
}

char *
bulk_response(const struct bulk_item *items, size_t n, long took_ms,
    const char *filter_path, size_t *lenp)
{
	struct filter_path_writer *w;
	size_t i;
	int errors = 0;

	if ((w = filter_path_writer_new(filter_path, 0)) == NULL)
		return NULL;
	for (i = 0; i < n && !errors; i++)
		if (items[i].status >= 300 && !bulk_item_not_found(&items[i]))
			errors = 1;
	/* About 200 bytes per unfiltered item. */
	filter_path_reserve(w, filter_path_filtering(w) ? 64 + n * 40 :
	    64 + n * 200);
	if (filter_path_memberz(w, "took"))
		filter_path_integer(w, took_ms);
	if (filter_path_memberz(w, "errors")) {
		if (errors)
			filter_path_raw(w, "true", 4);
		else
			filter_path_raw(w, "false", 5);
	}
	filter_path_openz(w, "items", 1);
	for (i = 0; i < n; i++)
		bulk_write_item(w, &items[i]);
	filter_path_close(w);
	return filter_path_finish(w, lenp);
}

char *
bulk_error_doc(int status, const char *type, const char *reason,
    size_t *lenp)
{
	struct filter_path_writer *w;

	if (type == NULL)
		type = "exception";
	if (reason == NULL)
		reason = "";
	if ((w = filter_path_writer_new(NULL, 0)) == NULL)
		return NULL;
	filter_path_openz(w, "error", 0);
	filter_path_openz(w, "root_cause", 1);
	filter_path_open(w, NULL, 0, 0);
	if (filter_path_memberz(w, "type"))
		filter_path_string(w, type);
	if (filter_path_memberz(w, "reason"))
		filter_path_string(w, reason);
	filter_path_close(w);
	filter_path_close(w);
	if (filter_path_memberz(w, "type"))
		filter_path_string(w, type);
	if (filter_path_memberz(w, "reason"))
		filter_path_string(w, reason);
	filter_path_close(w);
	if (filter_path_memberz(w, "status"))
		filter_path_integer(w, status);
	return filter_path_finish(w, lenp);
}

/* Parsing. */

/* Action line parameters Elasticsearch 8 knows, and what we keep of them. */
enum bulk_param {
	BP_IGNORE,
	BP_INDEX,
	BP_ID,
	BP_ROUTING,
	BP_PIPELINE,
	BP_OP_TYPE
};

static const struct {
	const char	*name;
	enum bulk_param	 what;
	int		 object_ok;	/* may hold an object */
} bulk_params[] = {
	{ "_index",			BP_INDEX,	0 },
	{ "_id",			BP_ID,		0 },
	{ "routing",			BP_ROUTING,	0 },
	{ "_routing",			BP_ROUTING,	0 },	/* before 7.0 */
	{ "pipeline",			BP_PIPELINE,	0 },
	{ "op_type",			BP_OP_TYPE,	0 },
	{ "version",			BP_IGNORE,	0 },
	{ "version_type",		BP_IGNORE,	0 },
	{ "if_seq_no",			BP_IGNORE,	0 },
	{ "if_primary_term",		BP_IGNORE,	0 },
	{ "retry_on_conflict",		BP_IGNORE,	0 },
	{ "require_alias",		BP_IGNORE,	0 },
	{ "require_data_stream",	BP_IGNORE,	0 },
	{ "list_executed_pipelines",	BP_IGNORE,	0 },
	{ "_source",			BP_IGNORE,	1 },
	{ "dynamic_templates",		BP_IGNORE,	1 },
	/* Sent by 6.x/7.x-era shippers; Elasticsearch 8 in 7-compatible mode takes it. */
	{ "_type",			BP_IGNORE,	0 },
};

/* Longest _id Elasticsearch accepts, in bytes. */
#define BULK_MAX_ID_BYTES	512

static void
bulk_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The name Jackson gives the token that starts v. */
static const char *
bulk_token_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "START_OBJECT";
	case JSON_ARRAY:
		return "START_ARRAY";
	case JSON_STRING:
		return "VALUE_STRING";
	case JSON_INTEGER:
	case JSON_REAL:
		return "VALUE_NUMBER";
	case JSON_TRUE:
	case JSON_FALSE:
		return "VALUE_BOOLEAN";
	default:
		return "VALUE_NULL";
	}
}

/* A scalar's text, as Jackson's parser.text() gives it.  Returns NULL on allocation failure. */
static char *
bulk_scalar_dup(const json_t *v)
{
	size_t	 n;
	char	*p;

	if (!json_is_string(v))
		return filter_path_scalar(v, NULL);
	n = json_string_length(v);
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, json_string_value(v), n);
	p[n] = '\0';
	return p;
}

/*
 * Next non-blank line from *pos: sets *line, *len (without '\n' and a
 * trailing '\r') and *lineno (1-based, blank lines counted).  Returns 0,
 * or -1 at the end of the body.
 */
static int
bulk_next_line(const char *body, size_t blen, size_t *pos, size_t *lineno,
    const char **line, size_t *len)
{
	const char	*s, *nl;
	size_t		 n;

	while (*pos < blen) {
		s = body + *pos;
		nl = memchr(s, '\n', blen - *pos);
		n = nl ? (size_t)(nl - s) : blen - *pos;
		*pos += nl ? n + 1 : n;
		(*lineno)++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (record_blank(s, n))
			continue;
		*line = s;
		*len = n;
		return 0;
	}
	return -1;
}

/*
 * Parses one action line into it (op, index, id, pipeline, routing).
 * Returns 0, or -1 with the error in err.
 */
static int
bulk_parse_action(const char *line, size_t len, size_t lineno,
    const char *default_index, struct bulk_item *it, char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*root = NULL, *params, *v;
	const char	*action, *k;
	char		**dst, *op_type = NULL;
	size_t		 i, end;
	int		 rc = -1;

	root = json_loadb(line, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK,
	    &jerr);
	if (root == NULL) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "invalid JSON: %s (column %d)", lineno, jerr.text,
		    jerr.column);
		goto fail;
	}
	if (!json_is_object(root)) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "expected START_OBJECT but found [%s]", lineno,
		    bulk_token_name(root));
		goto fail;
	}
	if ((action = json_object_iter_key(json_object_iter(root))) == NULL) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "expected FIELD_NAME but found [END_OBJECT]", lineno);
		goto fail;
	}
	params = json_object_iter_value(json_object_iter(root));
	if (!json_is_object(params)) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "expected START_OBJECT or END_OBJECT but found [%s]", lineno,
		    bulk_token_name(params));
		goto fail;
	}
	json_object_foreach(params, k, v) {
		if (json_is_null(v))
			continue;
		for (i = 0; i < sizeof(bulk_params) / sizeof(bulk_params[0]);
		    i++)
			if (strcmp(k, bulk_params[i].name) == 0)
				break;
		if (json_is_array(v) || (json_is_object(v) &&
		    (i == sizeof(bulk_params) / sizeof(bulk_params[0]) ||
		    !bulk_params[i].object_ok))) {
			bulk_err(err, errlen, "Malformed action/metadata line "
			    "[%zu], expected a simple value for field [%s] but "
			    "found [%s]", lineno, k, bulk_token_name(v));
			goto fail;
		}
		if (i == sizeof(bulk_params) / sizeof(bulk_params[0])) {
			bulk_err(err, errlen, "Action/metadata line [%zu] "
			    "contains an unknown parameter [%s]", lineno, k);
			goto fail;
		}
		switch (bulk_params[i].what) {
		case BP_INDEX:
			dst = &it->index;
			break;
		case BP_ID:
			dst = &it->id;
			break;
		case BP_ROUTING:
			dst = &it->routing;
			break;
		case BP_PIPELINE:
			dst = &it->pipeline;
			break;
		case BP_OP_TYPE:
			dst = &op_type;
			break;
		default:
			continue;
		}
		if (json_is_object(v))
			continue;
		free(*dst);
		if ((*dst = bulk_scalar_dup(v)) == NULL)
			goto oom;
	}
	if (json_object_size(root) > 1) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "expected END_OBJECT but found [FIELD_NAME]", lineno);
		goto fail;
	}
	for (end = jerr.position; end < len; end++)
		if (!isspace((unsigned char)line[end]))
			break;
	if (end < len) {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "unexpected data after the closing brace", lineno);
		goto fail;
	}

	if (strcmp(action, "index") == 0)
		it->op = BULK_INDEX;
	else if (strcmp(action, "create") == 0)
		it->op = BULK_CREATE;
	else if (strcmp(action, "update") == 0)
		it->op = BULK_UPDATE;
	else if (strcmp(action, "delete") == 0)
		it->op = BULK_DELETE;
	else {
		bulk_err(err, errlen, "Malformed action/metadata line [%zu], "
		    "expected field [create], [delete], [index] or [update] "
		    "but found [%s]", lineno, action);
		goto fail;
	}
	if (it->op == BULK_INDEX && op_type != NULL) {
		if (strcmp(op_type, "create") == 0)
			it->op = BULK_CREATE;
		else if (strcmp(op_type, "index") != 0) {
			bulk_err(err, errlen, "opType must be 'create' or "
			    "'index', found: [%s]", op_type);
			goto fail;
		}
	}
	if (it->id != NULL && it->id[0] == '\0') {
		bulk_err(err, errlen, "Validation Failed: 1: if _id is "
		    "specified it must not be empty;");
		goto fail;
	}
	if (it->id != NULL && strlen(it->id) > BULK_MAX_ID_BYTES) {
		bulk_err(err, errlen, "Validation Failed: 1: id [%.*s...] is "
		    "too long, must be no longer than %d bytes but was: %zu;",
		    64, it->id, BULK_MAX_ID_BYTES, strlen(it->id));
		goto fail;
	}
	if (it->id == NULL &&
	    (it->op == BULK_UPDATE || it->op == BULK_DELETE)) {
		bulk_err(err, errlen, "Validation Failed: 1: id is missing;");
		goto fail;
	}
	if (it->index == NULL && default_index != NULL &&
	    (it->index = strdup(default_index)) == NULL)
		goto oom;
	rc = 0;
	goto fail;
oom:
	bulk_err(err, errlen, "out of memory");
fail:
	free(op_type);
	json_decref(root);
	return rc;
}

static void
bulk_item_clear(struct bulk_item *it)
{
	free(it->index);
	free(it->id);
	free(it->pipeline);
	free(it->routing);
	free(it->answer);
	memset(it, 0, sizeof(*it));
}

int
bulk_parse(const char *body, size_t len, const char *default_index,
    struct bulk_request *req, char *err, size_t errlen)
{
	return bulk_parse_max(body, len, default_index, SIZE_MAX, req, err,
	    errlen);
}

size_t
bulk_lines(const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	size_t n = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

int
bulk_parse_max(const char *body, size_t len, const char *default_index,
    size_t max_items, struct bulk_request *req, char *err, size_t errlen)
{
	struct bulk_item	*items = NULL, *ni, *it;
	size_t			 n = 0, cap = 0, pos = 0, lineno = 0, alineno;
	const char		*line;
	size_t			 llen;

	req->items = NULL;
	req->nitems = 0;
	if (body == NULL)
		len = 0;
	/*
	 * At most one action a line, and no more than max_items + 1: sized
	 * once, so that the array is never copied while it grows (a large
	 * one's pages that are never touched take no memory).
	 */
	cap = bulk_lines(body, len) + 1;
	if (cap > max_items)
		cap = max_items > 0 ? max_items : 1;
	if ((items = reallocarray(NULL, cap, sizeof(*items))) == NULL) {
		bulk_err(err, errlen, "out of memory");
		return -1;
	}
	while (bulk_next_line(body, len, &pos, &lineno, &line, &llen) == 0) {
		if (n == max_items) {
			bulk_err(err, errlen, "more than %zu actions", max_items);
			bulk_request_clear(&(struct bulk_request){ items, n });
			return -2;
		}
		it = &items[n++];
		memset(it, 0, sizeof(*it));
		it->action = line;
		it->action_len = llen;
		alineno = lineno;
		if (bulk_parse_action(line, llen, alineno, default_index, it,
		    err, errlen) == -1)
			goto fail;
		if (it->op == BULK_DELETE)
			continue;
		if (bulk_next_line(body, len, &pos, &lineno, &line, &llen) ==
		    -1) {
			/*
			 * Elasticsearch would drop this action quietly; a body
			 * cut short must not pass for a complete one.
			 */
			bulk_err(err, errlen, "Validation Failed: 1: %s;",
			    it->op == BULK_UPDATE ? "script or doc is missing" :
			    "source is missing");
			goto fail;
		}
		it->source = line;
		it->source_len = llen;
	}
	if (n == 0) {
		bulk_err(err, errlen, "Validation Failed: 1: no requests "
		    "added;");
		goto fail;
	}
	/* Give back what the estimate reserved beyond the actions. */
	if (n < cap && (ni = reallocarray(items, n, sizeof(*ni))) != NULL)
		items = ni;
	req->items = items;
	req->nitems = n;
	return 0;
fail:
	while (n > 0)
		bulk_item_clear(&items[--n]);
	free(items);
	return -1;
}

void
bulk_request_clear(struct bulk_request *req)
{
	size_t	 i;

	if (req == NULL)
		return;
	for (i = 0; i < req->nitems; i++)
		bulk_item_clear(&req->items[i]);
	free(req->items);
	req->items = NULL;
	req->nitems = 0;
}

/* Content types. */

static const char *const bulk_media_types[] = {
	"application/x-ndjson",
	"application/json",
	"application/vnd.elasticsearch+x-ndjson",
	"application/vnd.elasticsearch+json",
};

/*
 * One media type (value, up to len bytes or its NUL): -1 when it is not
 * one _bulk takes, 0 when blank, 1 for plain JSON or NDJSON, 2 for the
 * vendor types; *compat is its compatible-with (vendor types only), 0
 * when it has none, -1 when that is not a number.
 */
static int
bulk_media_type(const char *s, size_t len, int *compat)
{
	const char	*end = s + len, *name, *val;
	size_t		 n, i, nlen, vlen;
	int		 vendor;

	*compat = 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (s == end)
		return 0;
	for (n = 0; s + n < end && s[n] != ';' && s[n] != ' ' &&
	    s[n] != '\t'; n++)
		;
	for (i = 0; i < sizeof(bulk_media_types) / sizeof(bulk_media_types[0]);
	    i++)
		if (strlen(bulk_media_types[i]) == n &&
		    strncasecmp(s, bulk_media_types[i], n) == 0)
			break;
	if (i == sizeof(bulk_media_types) / sizeof(bulk_media_types[0]))
		return -1;
	vendor = i >= 2;
	s += n;
	/* Parameters: *( OWS ";" OWS name "=" value ), value maybe quoted. */
	for (;;) {
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end)
			return vendor ? 2 : 1;
		if (*s++ != ';')
			return -1;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (s == end || *s == ';')
			continue;
		name = s;
		for (nlen = 0; s + nlen < end && s[nlen] != '=' &&
		    s[nlen] != ';' && s[nlen] != ' ' && s[nlen] != '\t'; nlen++)
			;
		s += nlen;
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		if (nlen == 0 || s == end || *s != '=')
			return -1;
		for (s++; s < end && (*s == ' ' || *s == '\t'); s++)
			;
		if (s < end && *s == '"') {
			val = ++s;
			while (s < end && *s != '"')
				s++;
			if (s == end)
				return -1;
			vlen = (size_t)(s - val);
			s++;
		} else {
			val = s;
			while (s < end && *s != ';' && *s != ' ' && *s != '\t')
				s++;
			vlen = (size_t)(s - val);
		}
		if (nlen == 15 && strncasecmp(name, "compatible-with", 15) == 0) {
			if (!vendor)
				return -1;
			*compat = vlen == 1 && val[0] >= '0' && val[0] <= '9' ?
			    val[0] - '0' : vlen == 2 && val[0] >= '1' &&
			    val[0] <= '9' && val[1] >= '0' && val[1] <= '9' ?
			    (val[0] - '0') * 10 + val[1] - '0' : -1;
		}
	}
}

int
bulk_content_type_ok(const char *ct)
{
	int compat;

	if (ct == NULL)
		return 1;
	switch (bulk_media_type(ct, strlen(ct), &compat)) {
	case -1:
		return 0;
	case 2:
		return compat == 0 || (compat >= BULK_COMPAT_MIN &&
		    compat <= BULK_COMPAT_MAX);
	default:
		return 1;
	}
}

int
bulk_compat(const char *value)
{
	const char *p, *comma;
	int compat, found = 0;

	for (p = value; p != NULL && *p != '\0'; p = comma ? comma + 1 : NULL) {
		comma = strchr(p, ',');
		if (bulk_media_type(p, comma ? (size_t)(comma - p) : strlen(p),
		    &compat) != 2 || compat == 0)
			continue;
		if (compat < BULK_COMPAT_MIN || compat > BULK_COMPAT_MAX)
			return -1;
		if (found == 0)
			found = compat;
	}
	return found;
}
