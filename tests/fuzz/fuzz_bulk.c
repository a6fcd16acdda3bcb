/*
 * fuzz_bulk: the _bulk wire format (src/bulk.c) and the reading of bulk
 * responses (src/sink_es_bulk.c) on arbitrary bytes.
 *
 * The input is read three ways at once:
 *   - whole, as a bulk request body for bulk_parse();
 *   - its first line as a filter_path expression F, the rest (up to a
 *     NUL) as a JSON document D, as in the .in files of tests/data/bulk/filter;
 *   - the rest, with its NULs, as a bulk response body for
 *     sink_es_bulk_answers() and sink_es_bulk_response().
 *
 * Checked:
 *   - bulk_parse(): on success every action and source line lies inside
 *     the body, holds no newline, parses as a one-key object naming the
 *     op; deletes have no source line, the rest have one; update and
 *     delete have an _id of 1 to 512 bytes.  On failure, a message.
 *   - bulk_response() for the parsed items (ids, statuses and some of the
 *     cluster's answers filled in from the input) is valid JSON with one
 *     item per action under its op's name and the right "errors"; with F
 *     it is exactly filter_path_apply() of the unfiltered response with F
 *     (the streaming filter against the one over a tree); and
 *     sink_es_bulk_answers() finds in it every item's answer and status.
 *   - filter_path_apply(D, F) equals a reference model of filter_path
 *     written here from the documentation in src/filter_path.h (on a
 *     jansson tree), key order included; without F it is D byte for byte.
 *   - sink_es_bulk_answers(): every answer span lies inside the body; for a
 *     body jansson reads as a bulk response, each span is the item's
 *     value and each status its "status".
 *   - bulk_error_doc() is JSON that gives back its type and reason.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bulk.h"
#include "filter_path.h"
#include "sink_es_bulk.h"

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* ------------------------------------------------ the reference filter */

struct rseg {
	const char	*s;
	size_t		 n;
	int		 dstar;		/* exactly "**" */
};

struct rpath {
	int		 excl;
	struct rseg	*seg;
	size_t		 nseg;
};

struct rfilter {
	struct rpath	*path;
	size_t		 npath;
	int		 has_incl;
	char		*text;
};

static int
is_blank(char c)
{
	return isspace((unsigned char)c) != 0;
}

/*
 * The expression as src/filter_path.h tells it: comma-separated paths,
 * blanks around each and empty ones ignored, a leading '-' excludes,
 * segments dotted.  NULL when there is nothing to filter by.
 */
static struct rfilter *
rfilter_new(const char *expr)
{
	struct rfilter *f;
	char *tok, *next, *end, *dot;
	struct rpath *p;
	size_t n;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->text = strdup(expr)) == NULL)
		abort();
	for (tok = f->text; tok != NULL; tok = next) {
		if ((next = strchr(tok, ',')) != NULL)
			*next++ = '\0';
		while (is_blank(*tok))
			tok++;
		for (end = tok + strlen(tok); end > tok && is_blank(end[-1]); )
			*--end = '\0';
		f->path = realloc(f->path, (f->npath + 1) * sizeof(*f->path));
		if (f->path == NULL)
			abort();
		p = &f->path[f->npath];
		memset(p, 0, sizeof(*p));
		if (*tok == '-') {
			p->excl = 1;
			tok++;
		}
		if (*tok == '\0')
			continue;
		for (;;) {
			dot = strchr(tok, '.');
			n = dot ? (size_t)(dot - tok) : strlen(tok);
			p->seg = realloc(p->seg, (p->nseg + 1) *
			    sizeof(*p->seg));
			if (p->seg == NULL)
				abort();
			p->seg[p->nseg].s = tok;
			p->seg[p->nseg].n = n;
			p->seg[p->nseg].dstar = n == 2 && tok[0] == '*' &&
			    tok[1] == '*';
			p->nseg++;
			if (dot == NULL)
				break;
			tok = dot + 1;
		}
		if (!p->excl)
			f->has_incl = 1;
		f->npath++;
	}
	return f;
}

static void
rfilter_free(struct rfilter *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->npath; i++)
		free(f->path[i].seg);
	free(f->path);
	free(f->text);
	free(f);
}

/*
 * '*' is any run of bytes, anything else itself: the textbook table,
 * row by row (d[j]: p[0..i) matches s[0..j)).
 */
static int
rglob(const char *p, size_t pn, const char *s, size_t sn)
{
	unsigned char *d, *e, *t;
	size_t i, j;
	int r;

	if ((d = calloc(sn + 1, 1)) == NULL || (e = calloc(sn + 1, 1)) == NULL)
		abort();
	d[0] = 1;
	for (i = 0; i < pn; i++) {
		memset(e, 0, sn + 1);
		for (j = 0; j <= sn; j++) {
			if (p[i] == '*')
				e[j] = d[j] || (j > 0 && e[j - 1]);
			else
				e[j] = j > 0 && d[j - 1] && p[i] == s[j - 1];
		}
		t = d;
		d = e;
		e = t;
	}
	r = d[sn];
	free(d);
	free(e);
	return r;
}

/*
 * Where the walk is in each path: position q of path i is set when the
 * keys so far match the path's first q segments exactly ("**" matching
 * any number of keys); position nseg set means the path selects the node.
 */
struct rwalk {
	unsigned char	*pos;		/* the paths' positions, one after another */
	int		 incl;		/* an include selects it or an ancestor */
	int		 excl;		/* an exclude does */
};

static size_t
rtotal(const struct rfilter *f)
{
	size_t i, n = 0;

	for (i = 0; i < f->npath; i++)
		n += f->path[i].nseg + 1;
	return n;
}

/* Set position q and those a "**" there may skip to. */
static void
rreach(const struct rpath *p, unsigned char *pos, size_t q)
{
	for (;;) {
		pos[q] = 1;
		if (q == p->nseg || !p->seg[q].dstar)
			return;
		q++;
	}
}

/* The selections at a node whose positions are set: fold them in. */
static void
rselect(const struct rfilter *f, struct rwalk *w)
{
	size_t i, off = 0;

	for (i = 0; i < f->npath; i++) {
		if (w->pos[off + f->path[i].nseg]) {
			if (f->path[i].excl)
				w->excl = 1;
			else
				w->incl = 1;
		}
		off += f->path[i].nseg + 1;
	}
}

static void
rwalk_root(const struct rfilter *f, struct rwalk *w)
{
	size_t i, off = 0;

	if ((w->pos = calloc(rtotal(f) + 1, 1)) == NULL)
		abort();
	w->incl = w->excl = 0;
	for (i = 0; i < f->npath; i++) {
		rreach(&f->path[i], w->pos + off, 0);
		off += f->path[i].nseg + 1;
	}
	rselect(f, w);
}

/* The walk into the member key of an object at `in`. */
static void
rwalk_key(const struct rfilter *f, const struct rwalk *in, const char *key,
    size_t klen, struct rwalk *out)
{
	const struct rpath *p;
	size_t i, q, off = 0;

	if ((out->pos = calloc(rtotal(f) + 1, 1)) == NULL)
		abort();
	out->incl = in->incl;
	out->excl = in->excl;
	for (i = 0; i < f->npath; i++) {
		p = &f->path[i];
		for (q = 0; q < p->nseg; q++) {
			if (!in->pos[off + q])
				continue;
			if (p->seg[q].dstar)
				rreach(p, out->pos + off, q);
			else if (rglob(p->seg[q].s, p->seg[q].n, key, klen))
				rreach(p, out->pos + off, q + 1);
		}
		off += p->nseg + 1;
	}
	rselect(f, out);
}

static int
rkept(const struct rfilter *f, const struct rwalk *w)
{
	return (!f->has_incl || w->incl) && !w->excl;
}

/*
 * The filtered copy of v, reached by walk w (array elements share their
 * array's), or NULL when nothing of it is left.  root: always kept.
 */
static json_t *
rfilter_apply(const struct rfilter *f, json_t *v, const struct rwalk *w,
    int root)
{
	struct rwalk cw;
	json_t *out, *c, *r;
	const char *key;
	size_t klen, i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		out = json_object();
		json_object_keylen_foreach(v, key, klen, c) {
			rwalk_key(f, w, key, klen, &cw);
			if ((r = rfilter_apply(f, c, &cw, 0)) != NULL)
				json_object_setn_new(out, key, klen, r);
			free(cw.pos);
		}
		break;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach(v, i, c)
			if ((r = rfilter_apply(f, c, w, 0)) != NULL)
				json_array_append_new(out, r);
		break;
	default:
		return rkept(f, w) ? json_incref(v) : NULL;
	}
	if (root)
		return out;
	if (json_is_object(v) ? json_object_size(out) > 0 :
	    json_array_size(out) > 0)
		return out;
	/* Emptied by the filter: gone; empty already: kept when selected. */
	if ((json_is_object(v) ? json_object_size(v) == 0 :
	    json_array_size(v) == 0) && rkept(f, w))
		return out;
	json_decref(out);
	return NULL;
}

/* ------------------------------------------------------------- helpers */

/* jansson's compact text of v, for comparing trees in key order. */
static char *
dump(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (s == NULL)
		abort();
	return s;
}

static json_t *
parse_any(const char *s, size_t n)
{
	return json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
}

/* filter_path_apply(D, F) against the model. */
static void
check_filter(const char *doc, const char *expr)
{
	struct rwalk w;
	struct rfilter *f;
	json_t *tree, *got, *want;
	char *res, *a, *b;
	size_t len, dlen = strlen(doc);

	res = filter_path_apply(doc, expr, &len);
	if (*expr == '\0') {
		FUZZ_CHECK(res != NULL && len == dlen &&
		    memcmp(res, doc, len) == 0,
		    "filter_path_apply() without a filter is not a copy");
		free(res);
		return;
	}
	tree = parse_any(doc, dlen);
	f = rfilter_new(expr);
	if (f->npath == 0) {
		/* Only blanks and commas: no filtering either. */
		FUZZ_CHECK(res != NULL && len == dlen &&
		    memcmp(res, doc, len) == 0,
		    "filter_path_apply() with an empty filter is not a copy");
		goto out;
	}
	if (tree == NULL) {
		if (res != NULL) {
			fuzz_dump("doc", doc, dlen);
			fuzz_fail("filter_path_apply() took what jansson "
			    "refuses");
		}
		goto out;
	}
	if (res == NULL) {
		fuzz_dump("doc", doc, dlen);
		fuzz_fail("filter_path_apply() refused a JSON document");
	}
	FUZZ_CHECK(strlen(res) == len, "filter_path_apply(): length %zu, "
	    "text %zu", len, strlen(res));
	if ((got = parse_any(res, len)) == NULL) {
		fuzz_dump("result", res, len);
		fuzz_fail("filter_path_apply() wrote what is not JSON");
	}
	rwalk_root(f, &w);
	if (json_is_object(tree) || json_is_array(tree))
		want = rfilter_apply(f, tree, &w, 1);
	else
		want = json_incref(tree);	/* a scalar is written as is */
	free(w.pos);
	a = dump(got);
	b = dump(want);
	if (strcmp(a, b) != 0) {
		fuzz_dump("filter", expr, strlen(expr));
		fuzz_dump("doc", doc, dlen);
		fuzz_dump("filter_path_apply()", res, len);
		fuzz_dump("reference", b, strlen(b));
		fuzz_fail("filter_path_apply() differs from the model");
	}
	free(a);
	free(b);
	json_decref(got);
	json_decref(want);
out:
	json_decref(tree);
	rfilter_free(f);
	free(res);
}

/* s[0..n) with the blanks around it dropped. */
static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && strchr(" \t\r\n", **s) != NULL) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && strchr(" \t\r\n", (*s)[*n - 1]) != NULL)
		(*n)--;
}

/*
 * sink_es_bulk_answers() on any body: spans inside it.  When jansson reads it
 * as a bulk response (an object, no duplicate keys, "items" a list of
 * one-key objects), the reading must succeed and find each item.
 * Without "items" it is no bulk response ({} is refused, {"took":1} taken
 * with every item retried: the same in the end).
 */
static void
check_answers(const char *body, size_t len)
{
	enum { N = 12 };
	struct sink_es_bulk_answer ans[N];
	enum sink_es_bulk_item out[N], out2[N];
	json_t *root, *items, *it, *v, *st, *sv;
	size_t i, n429, nitems = 0;
	int rc, shape;

	memset(ans, 0xa5, sizeof(ans));
	rc = sink_es_bulk_answers(body, len, N, out, &n429, ans);
	for (i = 0; i < N; i++) {
		FUZZ_CHECK(ans[i].len <= len && ans[i].off <= len - ans[i].len,
		    "sink_es_bulk_answers(): answer %zu at %zu+%zu, body %zu", i,
		    ans[i].off, ans[i].len, len);
		FUZZ_CHECK(ans[i].status >= 0 && ans[i].status < 1000,
		    "sink_es_bulk_answers(): status %d", ans[i].status);
	}
	(void)sink_es_bulk_response(body, len, N, out2, NULL);

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	shape = json_is_object(root) && memchr(body, '\0', len) == NULL;
	items = json_object_get(root, "items");
	if (shape) {
		if (!json_is_array(items))
			shape = 0;
		else
			json_array_foreach(items, i, it)
				if (!json_is_object(it) ||
				    json_object_size(it) != 1)
					shape = 0;
	}
	if (!shape) {
		json_decref(root);
		return;
	}
	if (rc != 0) {
		fuzz_dump("body", body, len);
		fuzz_fail("sink_es_bulk_answers() refused a bulk response");
	}
	nitems = json_array_size(items);
	for (i = 0; i < N; i++) {
		if (i >= nitems) {
			FUZZ_CHECK(ans[i].len == 0 && out[i] ==
			    SINK_ES_BULK_RETRY, "sink_es_bulk_answers(): item %zu "
			    "of %zu found", i, nitems);
			continue;
		}
		it = json_array_get(items, i);
		v = json_object_iter_value(json_object_iter(it));
		sv = parse_any(body + ans[i].off, ans[i].len);
		if (sv == NULL || !json_equal(sv, v)) {
			fuzz_dump("body", body, len);
			fuzz_dump("span", body + ans[i].off, ans[i].len);
			fuzz_fail("sink_es_bulk_answers(): item %zu's span is not "
			    "its value", i);
		}
		json_decref(sv);
		st = json_object_get(v, "status");
		if (json_is_integer(st)) {
			json_int_t s = json_integer_value(st);
			int want = s >= 0 && s < 1000 ? (int)s : 0;

			if (ans[i].status != want) {
				fuzz_dump("body", body, len);
				fuzz_fail("sink_es_bulk_answers(): item %zu status "
				    "%d, jansson %lld", i, ans[i].status,
				    (long long)s);
			}
		}
	}
	json_decref(root);
}

/* An FNV-1a hash of bytes, to fill items in from the input. */
static uint32_t
hash(const void *p, size_t n, uint32_t h)
{
	const unsigned char *s = p;

	while (n-- > 0)
		h = (h ^ *s++) * 16777619u;
	return h;
}

static void
check_parse(const char *body, size_t len, const char *expr, int use_index)
{
	static const int statuses[] = {
		200, 201, 201, 404, 409, 429, 400, 500, 503, 302
	};
	static const char *const filters[] = {
		"items.*.status", "errors,items.*.error", "-items.*._shards",
		"**.status", "items.**", "took", "-took,-errors", "**",
		"items.*._id,items.*.error.type", "items.index.result",
		"-**.reason", "items.*.*", "-items", "items.*._*", "*"
	};
	static const char *const types[] = {
		NULL, NULL, "mapper_parsing_exception", "t\"\\\x01\xc3\xa9"
	};
	struct bulk_request req;
	struct bulk_item *it;
	enum sink_es_bulk_item out[64];
	struct sink_es_bulk_answer ans[64];
	char err[256], id[BULK_ID_LEN + 1], *full, *filt, *ref, *last = NULL;
	const char *exprs[3];
	const char *key, *a;
	json_t *root, *act, *items, *v;
	size_t i, k, flen, len2, rlen, n429, alen;
	uint32_t h;
	int errors;

	memset(&req, 0, sizeof(req));
	err[0] = '\0';
	if (bulk_parse(body, len, use_index ? "idx" : NULL, &req, err,
	    sizeof(err)) == -1) {
		FUZZ_CHECK(req.items == NULL && req.nitems == 0,
		    "bulk_parse() failed with items");
		FUZZ_CHECK(err[0] != '\0', "bulk_parse() failed silently");
		return;
	}
	FUZZ_CHECK(req.nitems > 0, "bulk_parse() gave no items");
	errors = 0;
	for (i = 0; i < req.nitems; i++) {
		it = &req.items[i];
		FUZZ_CHECK(it->action >= body && it->action_len > 0 &&
		    it->action_len <= len &&
		    it->action - body <= (ptrdiff_t)(len - it->action_len) &&
		    memchr(it->action, '\n', it->action_len) == NULL,
		    "bulk_parse(): item %zu's action line is not a line of "
		    "the body", i);
		FUZZ_CHECK((it->op == BULK_DELETE) == (it->source == NULL),
		    "bulk_parse(): item %zu, op %d, source %p", i,
		    (int)it->op, (const void *)it->source);
		if (it->source != NULL)
			FUZZ_CHECK(it->source >= body &&
			    it->source_len <= len && it->source - body <=
			    (ptrdiff_t)(len - it->source_len) &&
			    memchr(it->source, '\n', it->source_len) == NULL,
			    "bulk_parse(): item %zu's source is not a line "
			    "of the body", i);
		if (it->op == BULK_UPDATE || it->op == BULK_DELETE)
			FUZZ_CHECK(it->id != NULL, "bulk_parse(): item %zu "
			    "without an _id", i);
		if (it->id != NULL)
			FUZZ_CHECK(it->id[0] != '\0' && strlen(it->id) <= 512,
			    "bulk_parse(): item %zu's _id of %zu bytes", i,
			    strlen(it->id));
		if (use_index)
			FUZZ_CHECK(it->index != NULL, "bulk_parse(): item "
			    "%zu without an index", i);
		act = json_loadb(it->action, it->action_len,
		    JSON_DISABLE_EOF_CHECK, NULL);
		key = json_object_iter_key(json_object_iter(act));
		FUZZ_CHECK(json_is_object(act) && json_object_size(act) == 1 &&
		    key != NULL && (strcmp(key, bulk_op_name(it->op)) == 0 ||
		    (it->op == BULK_CREATE && strcmp(key, "index") == 0)),
		    "bulk_parse(): item %zu's action line does not name op "
		    "%s", i, bulk_op_name(it->op));
		json_decref(act);

		/* What a sink would fill in. */
		h = hash(it->action, it->action_len, 2166136261u);
		if (it->id == NULL) {
			bulk_id_generate(id);
			FUZZ_CHECK(strlen(id) == BULK_ID_LEN &&
			    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
			    "klmnopqrstuvwxyz0123456789-_") == BULK_ID_LEN,
			    "bulk_id_generate(): \"%s\"", id);
			if ((it->id = strdup(id)) == NULL)
				abort();
		}
		it->status = statuses[h % 10];
		it->error_type = it->status >= 400 ? types[(h >> 8) % 4] : NULL;
		it->error_reason = (h >> 12) % 2 ? "r\n\xff" : NULL;
		/* The source as the cluster's own answer, when it is one. */
		if (it->source != NULL && (h >> 16) % 3 == 0 &&
		    memchr(it->source, '\0', it->source_len) == NULL &&
		    (v = json_loadb(it->source, it->source_len, 0, NULL)) !=
		    NULL) {
			if (json_is_object(v)) {
				if ((it->answer = malloc(it->source_len)) ==
				    NULL)
					abort();
				memcpy(it->answer, it->source, it->source_len);
				it->answer_len = it->source_len;
			}
			json_decref(v);
		}
		if (it->status >= 300 && !(it->op == BULK_DELETE &&
		    it->status == 404 && it->error_type == NULL))
			errors = 1;
	}

	full = bulk_response(req.items, req.nitems, 7, NULL, &len2);
	FUZZ_CHECK(full != NULL && strlen(full) == len2,
	    "bulk_response() without a filter");
	root = json_loadb(full, len2, 0, NULL);
	if (root == NULL) {
		fuzz_dump("response", full, len2);
		fuzz_fail("bulk_response() is not JSON");
	}
	items = json_object_get(root, "items");
	FUZZ_CHECK(json_is_array(items) &&
	    json_array_size(items) == req.nitems &&
	    json_is_boolean(json_object_get(root, "errors")) &&
	    json_is_true(json_object_get(root, "errors")) == errors &&
	    json_integer_value(json_object_get(root, "took")) == 7,
	    "bulk_response(): not a response for %zu items", req.nitems);
	for (i = 0; i < req.nitems; i++) {
		v = json_array_get(items, i);
		FUZZ_CHECK(json_object_size(v) == 1 &&
		    json_object_get(v, bulk_op_name(req.items[i].op)) != NULL,
		    "bulk_response(): item %zu is not under its op", i);
	}
	json_decref(root);

	/* Read back as the sink reads the cluster's answer. */
	if (req.nitems <= 64) {
		FUZZ_CHECK(sink_es_bulk_answers(full, len2, req.nitems, out, &n429,
		    ans) == 0, "sink_es_bulk_answers() refused bulk_response()");
		for (i = 0; i < req.nitems; i++) {
			it = &req.items[i];
			if (it->answer == NULL) {
				FUZZ_CHECK(ans[i].status == it->status,
				    "sink_es_bulk_answers(): item %zu status %d, "
				    "sent %d", i, ans[i].status, it->status);
				continue;
			}
			a = it->answer;
			alen = it->answer_len;
			trim(&a, &alen);
			FUZZ_CHECK(ans[i].len == alen &&
			    memcmp(full + ans[i].off, a, alen) == 0,
			    "sink_es_bulk_answers(): item %zu is not the answer "
			    "given", i);
		}
	}

	/*
	 * The streaming filter against the filter over the tree: with the
	 * first line, one of the table's, and the last source line (never
	 * parsed, so any text) as the filter.
	 */
	exprs[0] = expr;
	exprs[1] = filters[hash(body, len, 7) % (sizeof(filters) /
	    sizeof(filters[0]))];
	exprs[2] = NULL;
	for (i = req.nitems; i > 0; i--)
		if (req.items[i - 1].source != NULL) {
			exprs[2] = last = strndup(req.items[i - 1].source,
			    req.items[i - 1].source_len);
			break;
		}
	for (k = 0; k < 3 && exprs[k] != NULL; k++) {
		filt = bulk_response(req.items, req.nitems, 7, exprs[k],
		    &flen);
		ref = filter_path_apply(full, exprs[k], &rlen);
		FUZZ_CHECK(filt != NULL && ref != NULL, "bulk_response() with "
		    "a filter: %p, filter_path_apply(): %p", (void *)filt,
		    (void *)ref);
		if (flen != rlen || memcmp(filt, ref, flen) != 0) {
			fuzz_dump("filter", exprs[k], strlen(exprs[k]));
			fuzz_dump("response", full, len2);
			fuzz_dump("bulk_response()", filt, flen);
			fuzz_dump("filter_path_apply()", ref, rlen);
			fuzz_fail("bulk_response() with a filter is not "
			    "filter_path_apply() of the response");
		}
		free(filt);
		free(ref);
	}
	free(last);
	free(full);
	bulk_request_clear(&req);
	FUZZ_CHECK(req.items == NULL && req.nitems == 0,
	    "bulk_request_clear()");
}

/* Whether s is UTF-8 as jansson takes it. */
static int
utf8_ok(const char *s)
{
	json_t *v = json_string(s);

	json_decref(v);
	return v != NULL;
}

/* An error document gives back its type and reason. */
static void
check_error_doc(const char *type, const char *reason)
{
	json_t *root, *e;
	char *doc;
	size_t len;

	doc = bulk_error_doc(413, type, reason, &len);
	FUZZ_CHECK(doc != NULL, "bulk_error_doc()");
	root = json_loadb(doc, len, 0, NULL);
	if (root == NULL) {
		fuzz_dump("doc", doc, len);
		fuzz_fail("bulk_error_doc() is not JSON");
	}
	e = json_object_get(root, "error");
	/* Text that is not UTF-8 is written with U+FFFD: compare the rest. */
	if (utf8_ok(type))
		FUZZ_CHECK(json_is_string(json_object_get(e, "type")) &&
		    strcmp(json_string_value(json_object_get(e, "type")),
		    type) == 0, "bulk_error_doc(): the type changed");
	if (utf8_ok(reason))
		FUZZ_CHECK(json_is_string(json_object_get(e, "reason")) &&
		    strcmp(json_string_value(json_object_get(e, "reason")),
		    reason) == 0, "bulk_error_doc(): the reason changed");
	FUZZ_CHECK(json_integer_value(json_object_get(root, "status")) == 413,
	    "bulk_error_doc(): status");
	json_decref(root);
	free(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *nl;
	char *expr, *rest;
	size_t elen, rlen;

	if (size > 1 << 16)
		return 0;
	nl = memchr(in, '\n', size);
	elen = nl ? (size_t)(nl - in) : size;
	rlen = nl ? size - elen - 1 : 0;
	/* The first line up to a NUL, and the rest with its NULs kept. */
	if ((expr = strndup(in, elen)) == NULL ||
	    (rest = malloc(rlen + 1)) == NULL)
		abort();
	memcpy(rest, nl ? nl + 1 : "", rlen);
	rest[rlen] = '\0';

	check_parse(in, size, expr, size % 2);
	check_filter(rest, expr);
	check_answers(rest, rlen);
	check_error_doc(expr, rest);
	(void)bulk_content_type_ok(expr);
	(void)bulk_compat(expr);

	free(expr);
	free(rest);
	return 0;
}
