/*
 * bulk: the Elasticsearch _bulk wire format.  Pure functions, no I/O.
 *
 * Parsing splits the body into lines once and parses only the small
 * action lines; source lines are borrowed as they are.  Responses and
 * filter_path share one streaming writer: the filter is a small state
 * machine advanced key by key, and a container is written only once a
 * value inside it survives the filter, so no tree is built for the bulk
 * response even when a filter_path is given.
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
#include "record.h"

/*
 * Output buffer.  An allocation failure is sticky: later appends do
 * nothing and the caller checks `oom` once at the end.
 */
struct buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 oom;
};

static int
buf_reserve(struct buf *b, size_t n)
{
	size_t	 ncap;
	char	*np;

	if (b->oom)
		return -1;
	if (b->cap - b->len > n)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		goto fail;
	ncap = b->cap ? b->cap : 256;
	while (ncap - b->len <= n)
		ncap *= 2;
	if ((np = realloc(b->p, ncap)) == NULL)
		goto fail;
	b->p = np;
	b->cap = ncap;
	return 0;
fail:
	b->oom = 1;
	return -1;
}

static void
buf_add(struct buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

static void
buf_addll(struct buf *b, long long v)
{
	char	 tmp[32];
	int	 n;

	n = snprintf(tmp, sizeof(tmp), "%lld", v);
	buf_add(b, tmp, (size_t)n);
}

/* Returns the malloc'ed text, or NULL (and frees) after an allocation failure. */
static char *
buf_finish(struct buf *b, size_t *lenp)
{
	if (b->oom || buf_reserve(b, 0) == -1) {
		free(b->p);
		return NULL;
	}
	b->p[b->len] = '\0';
	if (lenp != NULL)
		*lenp = b->len;
	return b->p;
}

/*
 * Appends s as a quoted JSON string, escaped as jansson writes it
 * (record_escape_flags()), bytes that are not UTF-8 replaced by U+FFFD.
 */
static void
buf_add_jstr(struct buf *b, const char *s, size_t n)
{
	const int flags = RECORD_ESCAPE_UPPER | RECORD_ESCAPE_RAW;
	size_t len;

	len = record_escape_flags(NULL, s, n, flags);
	if (buf_reserve(b, len + 2) == -1)
		return;
	b->p[b->len++] = '"';
	b->len += record_escape_flags(b->p + b->len, s, n, flags);
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
}

static void
buf_add_jstrz(struct buf *b, const char *s)
{
	buf_add_jstr(b, s ? s : "", s ? strlen(s) : 0);
}

/* Appends a jansson scalar in compact form; reals use the shortest round-trip text. */
static void
buf_add_scalar(struct buf *b, const json_t *v)
{
	char	 tmp[40];
	double	 d;
	int	 prec;

	switch (json_typeof(v)) {
	case JSON_STRING:
		buf_add_jstr(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		buf_addll(b, (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		d = json_real_value(v);
		for (prec = 15; prec < 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
		if (prec == 17)
			snprintf(tmp, sizeof(tmp), "%.17g", d);
		if (strpbrk(tmp, ".eEn") == NULL)
			memcpy(tmp + strlen(tmp), ".0", 3);
		buf_adds(b, tmp);
		break;
	case JSON_TRUE:
		buf_adds(b, "true");
		break;
	case JSON_FALSE:
		buf_adds(b, "false");
		break;
	default:
		buf_adds(b, "null");
		break;
	}
}

/*
 * filter_path, compiled.  Every path of the expression occupies
 * nseg + 1 consecutive positions: one per segment and a final END.  A
 * state set is one byte per position; it says which segments the next
 * key may match.  "**" positions are closed over (they may match no
 * segment at all), so reaching an END means the path matched the node.
 */
#define FP_EXCL		0x01	/* position of a '-' path */
#define FP_DSTAR	0x02	/* "**" */
#define FP_END		0x04	/* after the last segment */

struct fpath {
	size_t		  npos;
	const char	**seg;		/* segment text; NULL at FP_END */
	size_t		 *seglen;
	unsigned char	 *flags;
	int		  has_incl;	/* at least one path without '-' */
	char		 *text;		/* copy of the expression */
};

static void
fpath_free(struct fpath *fp)
{
	if (fp == NULL)
		return;
	free(fp->seg);
	free(fp->seglen);
	free(fp->flags);
	free(fp->text);
	free(fp);
}

/*
 * Compiles a filter_path value.  Paths are comma-separated and trimmed;
 * empty ones are ignored.  Returns NULL with *empty set when nothing is
 * left to filter by, or NULL with *empty clear on allocation failure.
 */
static struct fpath *
fpath_compile(const char *expr, int *empty)
{
	struct fpath	*fp = NULL;
	size_t		 max, p, n, i;
	char		*tok, *end, *next, *dot;
	int		 excl;

	*empty = 0;
	if (expr == NULL || *expr == '\0') {
		*empty = 1;
		return NULL;
	}
	if ((fp = calloc(1, sizeof(*fp))) == NULL)
		goto fail;
	if ((fp->text = strdup(expr)) == NULL)
		goto fail;
	/* Upper bound: every ',' and '.' may start a segment, each path has an END. */
	n = strlen(expr);
	for (max = 2, i = 0; i < n; i++)
		if (expr[i] == ',' || expr[i] == '.')
			max += 2;
	fp->seg = calloc(max, sizeof(*fp->seg));
	fp->seglen = calloc(max, sizeof(*fp->seglen));
	fp->flags = calloc(max, sizeof(*fp->flags));
	if (fp->seg == NULL || fp->seglen == NULL || fp->flags == NULL)
		goto fail;

	p = 0;
	for (tok = fp->text; tok != NULL; tok = next) {
		if ((next = strchr(tok, ',')) != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*tok))
			tok++;
		end = tok + strlen(tok);
		while (end > tok && isspace((unsigned char)end[-1]))
			*--end = '\0';
		excl = 0;
		if (*tok == '-') {
			excl = FP_EXCL;
			tok++;
		}
		if (*tok == '\0')
			continue;
		if (!excl)
			fp->has_incl = 1;
		for (;;) {
			dot = strchr(tok, '.');
			fp->seg[p] = tok;
			fp->seglen[p] = dot ? (size_t)(dot - tok) : strlen(tok);
			fp->flags[p] = excl;
			if (fp->seglen[p] == 2 && tok[0] == '*' && tok[1] == '*')
				fp->flags[p] |= FP_DSTAR;
			p++;
			if (dot == NULL)
				break;
			tok = dot + 1;
		}
		fp->seg[p] = NULL;
		fp->flags[p++] = excl | FP_END;
	}
	if (p == 0) {
		fpath_free(fp);
		*empty = 1;
		return NULL;
	}
	fp->npos = p;
	return fp;
fail:
	fpath_free(fp);
	return NULL;
}

/* '*' matches any run of characters inside one key (Regex.simpleMatch). */
static int
fpath_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
	size_t	 pi = 0, si = 0, star = SIZE_MAX, mark = 0;

	while (si < slen) {
		if (pi < plen && pat[pi] == '*') {
			star = pi++;
			mark = si;
		} else if (pi < plen && pat[pi] == s[si]) {
			pi++;
			si++;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			si = ++mark;
		} else
			return 0;
	}
	while (pi < plen && pat[pi] == '*')
		pi++;
	return pi == plen;
}

static void
fpath_close(const struct fpath *fp, unsigned char *set, size_t p)
{
	for (;;) {
		set[p] = 1;
		if (!(fp->flags[p] & FP_DSTAR))
			break;
		p++;
	}
}

/*
 * The streaming filtered writer.  One frame per open container; frame i
 * owns state set i of `sets` (slot depth is scratch for leaves).  A
 * frame is `dead` when nothing below it can be written, `incl_all` when
 * an include path matched it or an ancestor, `emitted` once its opening
 * bracket is out.
 */
struct fpframe {
	const char	*key;		/* NULL inside arrays; borrowed */
	size_t		 keylen;
	unsigned	 is_array:1;
	unsigned	 dead:1;
	unsigned	 incl_all:1;
	unsigned	 emitted:1;
	unsigned	 wrote:1;	/* a member is out: the next needs ',' */
	unsigned	 nonempty:1;	/* had members, written or not */
};

struct fpw {
	struct buf		*out;
	const struct fpath	*fp;	/* NULL: no filtering */
	struct fpframe		*fr;
	unsigned char		*sets;
	size_t			 depth;
	size_t			 cap;
	int			 oom;
};

static int
fpw_grow(struct fpw *w)
{
	struct fpframe	*nf;
	unsigned char	*ns;
	size_t		 ncap, npos;

	if (w->depth + 2 <= w->cap)
		return 0;
	ncap = w->cap ? w->cap * 2 : 16;
	if ((nf = reallocarray(w->fr, ncap, sizeof(*nf))) == NULL)
		goto fail;
	w->fr = nf;
	if (w->fp != NULL) {
		npos = w->fp->npos;
		if ((ns = reallocarray(w->sets, ncap, npos)) == NULL)
			goto fail;
		w->sets = ns;
	}
	w->cap = ncap;
	return 0;
fail:
	w->oom = 1;
	return -1;
}

static void
fpw_free(struct fpw *w)
{
	free(w->fr);
	free(w->sets);
}

/*
 * The state of the child `key` (NULL for an array element) of the top
 * frame, written to set slot `depth`.
 */
static void
fpw_step(struct fpw *w, const char *key, size_t keylen, int *dead,
    int *incl_all)
{
	const struct fpath	*fp = w->fp;
	const struct fpframe	*top = &w->fr[w->depth - 1];
	const unsigned char	*in;
	unsigned char		*out;
	size_t			 p;
	int			 incl_end = 0, excl_end = 0, incl_live = 0;

	*dead = top->dead;
	*incl_all = top->incl_all;
	if (top->dead || fp == NULL)
		return;
	in = w->sets + (w->depth - 1) * fp->npos;
	out = w->sets + w->depth * fp->npos;
	if (key == NULL) {
		/* Arrays are transparent. */
		memcpy(out, in, fp->npos);
		return;
	}
	memset(out, 0, fp->npos);
	for (p = 0; p < fp->npos; p++) {
		if (!in[p] || (fp->flags[p] & FP_END))
			continue;
		if (fp->flags[p] & FP_DSTAR)
			fpath_close(fp, out, p);
		else if (fpath_glob(fp->seg[p], fp->seglen[p], key, keylen))
			fpath_close(fp, out, p + 1);
	}
	for (p = 0; p < fp->npos; p++) {
		if (!out[p])
			continue;
		if (fp->flags[p] & FP_END) {
			if (fp->flags[p] & FP_EXCL)
				excl_end = 1;
			else
				incl_end = 1;
		} else if (!(fp->flags[p] & FP_EXCL))
			incl_live = 1;
	}
	if (incl_end)
		*incl_all = 1;
	if (excl_end || (!*incl_all && !incl_live))
		*dead = 1;
}

/* Writes the opening of every frame not yet out, outermost first. */
static void
fpw_emit(struct fpw *w)
{
	struct fpframe	*f, *parent;
	size_t		 i;

	for (i = w->depth; i > 0 && !w->fr[i - 1].emitted; i--)
		;
	for (; i < w->depth; i++) {
		f = &w->fr[i];
		parent = &w->fr[i - 1];
		if (parent->wrote)
			buf_addc(w->out, ',');
		parent->wrote = 1;
		if (!parent->is_array) {
			buf_add_jstr(w->out, f->key, f->keylen);
			buf_addc(w->out, ':');
		}
		buf_addc(w->out, f->is_array ? '[' : '{');
		f->emitted = 1;
	}
}

/*
 * Starts the writer with the root container.  Returns 0, or -1 on
 * allocation failure; fpw_free() is due either way.
 */
static int
fpw_init(struct fpw *w, struct buf *out, const struct fpath *fp,
    int is_array)
{
	struct fpframe	*root;
	size_t		 p;
	int		 incl_end = 0, excl_end = 0;

	memset(w, 0, sizeof(*w));
	w->out = out;
	w->fp = fp;
	if (fpw_grow(w) == -1)
		return -1;
	root = &w->fr[0];
	memset(root, 0, sizeof(*root));
	root->is_array = is_array;
	root->emitted = 1;
	root->incl_all = 1;
	if (fp != NULL) {
		memset(w->sets, 0, fp->npos);
		for (p = 0; p < fp->npos; p++)
			if (p == 0 || (fp->flags[p - 1] & FP_END))
				fpath_close(fp, w->sets, p);
		for (p = 0; p < fp->npos; p++) {
			if (!w->sets[p] || !(fp->flags[p] & FP_END))
				continue;
			if (fp->flags[p] & FP_EXCL)
				excl_end = 1;
			else
				incl_end = 1;
		}
		root->incl_all = !fp->has_incl || incl_end;
		root->dead = excl_end;
	}
	w->depth = 1;
	buf_addc(out, is_array ? '[' : '{');
	return 0;
}

/*
 * Announces the scalar member `key` of the top frame (key NULL in an
 * array).  Returns 1 when it survives the filter: the member's key is
 * written and the caller writes the value; 0 when it is filtered out.
 */
static int
fpw_leaf(struct fpw *w, const char *key, size_t keylen)
{
	struct fpframe	*top = &w->fr[w->depth - 1];
	int		 dead, incl_all;

	top->nonempty = 1;
	if (w->fp != NULL) {
		fpw_step(w, key, keylen, &dead, &incl_all);
		if (dead || !incl_all)
			return 0;
		fpw_emit(w);
	}
	if (top->wrote)
		buf_addc(w->out, ',');
	top->wrote = 1;
	if (!top->is_array) {
		buf_add_jstr(w->out, key, keylen);
		buf_addc(w->out, ':');
	}
	return 1;
}

static int
fpw_leafz(struct fpw *w, const char *key)
{
	return fpw_leaf(w, key, strlen(key));
}

/* Opens the container member `key` (NULL in an array) of the top frame. */
static void
fpw_open(struct fpw *w, const char *key, size_t keylen, int is_array)
{
	struct fpframe	*f;
	int		 dead, incl_all;

	if (w->oom || fpw_grow(w) == -1)
		return;
	w->fr[w->depth - 1].nonempty = 1;
	fpw_step(w, key, keylen, &dead, &incl_all);
	f = &w->fr[w->depth++];
	memset(f, 0, sizeof(*f));
	f->key = key;
	f->keylen = keylen;
	f->is_array = is_array;
	f->dead = dead;
	f->incl_all = incl_all;
	if (w->fp == NULL)
		fpw_emit(w);
}

static void
fpw_openz(struct fpw *w, const char *key, int is_array)
{
	fpw_open(w, key, key ? strlen(key) : 0, is_array);
}

/*
 * Closes the top frame.  A container that was empty in the input is
 * kept when the filter selects it whole; one emptied by the filter goes.
 */
static void
fpw_close(struct fpw *w)
{
	struct fpframe	*f;

	if (w->oom)
		return;
	f = &w->fr[w->depth - 1];
	if (!f->emitted && !f->dead && !f->nonempty && f->incl_all)
		fpw_emit(w);
	if (f->emitted)
		buf_addc(w->out, f->is_array ? ']' : '}');
	w->depth--;
}

/* Writes a jansson value through the filter. */
static void
fpw_walk(struct fpw *w, const char *key, size_t keylen, json_t *v)
{
	const char	*k;
	size_t		 klen, i;
	json_t		*c;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		fpw_open(w, key, keylen, 0);
		json_object_keylen_foreach(v, k, klen, c)
			fpw_walk(w, k, klen, c);
		fpw_close(w);
		break;
	case JSON_ARRAY:
		fpw_open(w, key, keylen, 1);
		json_array_foreach(v, i, c)
			fpw_walk(w, NULL, 0, c);
		fpw_close(w);
		break;
	default:
		if (fpw_leaf(w, key, keylen))
			buf_add_scalar(w->out, v);
		break;
	}
}

char *
bulk_filter_path(const char *json, const char *filter_path, size_t *lenp)
{
	struct fpath	*fp = NULL;
	struct fpw	 w;
	struct buf	 b = { 0 };
	json_error_t	 jerr;
	json_t		*root = NULL, *c;
	const char	*k;
	size_t		 klen, i;
	char		*res = NULL;
	int		 empty;

	memset(&w, 0, sizeof(w));
	fp = fpath_compile(filter_path, &empty);
	if (fp == NULL && !empty)
		goto fail;
	if (fp == NULL) {
		buf_adds(&b, json);
		return buf_finish(&b, lenp);
	}
	root = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (root == NULL)
		goto fail;
	if (!json_is_object(root) && !json_is_array(root)) {
		buf_add_scalar(&b, root);
	} else {
		if (fpw_init(&w, &b, fp, json_is_array(root)) == -1)
			goto fail;
		if (json_is_object(root)) {
			json_object_keylen_foreach(root, k, klen, c)
				fpw_walk(&w, k, klen, c);
		} else {
			json_array_foreach(root, i, c)
				fpw_walk(&w, NULL, 0, c);
		}
		fpw_close(&w);
		if (w.oom)
			goto fail;
	}
	res = buf_finish(&b, lenp);
	b.p = NULL;
fail:
	fpw_free(&w);
	free(b.p);
	json_decref(root);
	fpath_free(fp);
	return res;
}

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
bulk_write_answer(struct fpw *w, const struct bulk_item *it)
{
	const char	*op = bulk_op_name(it->op);
	json_t		*v;

	if (w->fp == NULL) {
		fpw_open(w, NULL, 0, 0);
		if (fpw_leafz(w, op))
			buf_add(w->out, it->answer, it->answer_len);
		fpw_close(w);
		return 0;
	}
	if ((v = json_loadb(it->answer, it->answer_len, 0, NULL)) == NULL)
		return -1;
	fpw_open(w, NULL, 0, 0);
	fpw_walk(w, op, strlen(op), v);
	fpw_close(w);
	json_decref(v);
	return 0;
}

static void
bulk_write_item(struct fpw *w, const struct bulk_item *it)
{
	struct buf	*b = w->out;
	char		 idbuf[BULK_ID_LEN + 1];
	const char	*id = it->id;

	if (it->answer != NULL && bulk_write_answer(w, it) == 0)
		return;
	fpw_open(w, NULL, 0, 0);
	fpw_openz(w, bulk_op_name(it->op), 0);
	if (fpw_leafz(w, "_index"))
		buf_add_jstrz(b, it->index);
	if (fpw_leafz(w, "_id")) {
		if (id == NULL) {
			bulk_id_generate(idbuf);
			id = idbuf;
		}
		buf_add_jstrz(b, id);
	}
	if (bulk_item_failed(it)) {
		if (fpw_leafz(w, "status"))
			buf_addll(b, it->status);
		fpw_openz(w, "error", 0);
		if (fpw_leafz(w, "type"))
			buf_add_jstrz(b, it->error_type ? it->error_type :
			    bulk_default_error_type(it->status));
		if (fpw_leafz(w, "reason"))
			buf_add_jstrz(b, it->error_reason);
		fpw_close(w);
	} else {
		if (fpw_leafz(w, "_version"))
			buf_addc(b, '1');
		if (fpw_leafz(w, "result"))
			buf_add_jstrz(b, bulk_item_result(it));
		fpw_openz(w, "_shards", 0);
		if (fpw_leafz(w, "total"))
			buf_addc(b, '2');
		if (fpw_leafz(w, "successful"))
			buf_addc(b, '1');
		if (fpw_leafz(w, "failed"))
			buf_addc(b, '0');
		fpw_close(w);
		if (fpw_leafz(w, "_seq_no"))
			buf_addc(b, '0');
		if (fpw_leafz(w, "_primary_term"))
			buf_addc(b, '1');
		if (fpw_leafz(w, "status"))
			buf_addll(b, it->status);
	}
	fpw_close(w);
	fpw_close(w);
}

char *
bulk_response(const struct bulk_item *items, size_t n, long took_ms,
    const char *filter_path, size_t *lenp)
{
	struct fpath	*fp;
	struct fpw	 w;
	struct buf	 b = { 0 };
	char		*res = NULL;
	size_t		 i;
	int		 empty, errors = 0;

	memset(&w, 0, sizeof(w));
	fp = fpath_compile(filter_path, &empty);
	if (fp == NULL && !empty)
		return NULL;
	for (i = 0; i < n && !errors; i++)
		if (items[i].status >= 300 && !bulk_item_not_found(&items[i]))
			errors = 1;
	/* About 200 bytes per unfiltered item. */
	if (buf_reserve(&b, fp ? 64 + n * 40 : 64 + n * 200) == -1)
		goto fail;
	if (fpw_init(&w, &b, fp, 0) == -1)
		goto fail;
	if (fpw_leafz(&w, "took"))
		buf_addll(&b, took_ms);
	if (fpw_leafz(&w, "errors"))
		buf_adds(&b, errors ? "true" : "false");
	fpw_openz(&w, "items", 1);
	for (i = 0; i < n; i++)
		bulk_write_item(&w, &items[i]);
	fpw_close(&w);
	fpw_close(&w);
	if (w.oom)
		goto fail;
	res = buf_finish(&b, lenp);
	b.p = NULL;
fail:
	fpw_free(&w);
	free(b.p);
	fpath_free(fp);
	return res;
}

char *
bulk_error_doc(int status, const char *type, const char *reason,
    size_t *lenp)
{
	struct buf	 b = { 0 };

	if (type == NULL)
		type = "exception";
	if (reason == NULL)
		reason = "";
	buf_adds(&b, "{\"error\":{\"root_cause\":[{\"type\":");
	buf_add_jstrz(&b, type);
	buf_adds(&b, ",\"reason\":");
	buf_add_jstrz(&b, reason);
	buf_adds(&b, "}],\"type\":");
	buf_add_jstrz(&b, type);
	buf_adds(&b, ",\"reason\":");
	buf_add_jstrz(&b, reason);
	buf_adds(&b, "},\"status\":");
	buf_addll(&b, status);
	buf_addc(&b, '}');
	return buf_finish(&b, lenp);
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
	struct buf	 b = { 0 };

	if (json_is_string(v))
		buf_add(&b, json_string_value(v), json_string_length(v));
	else
		buf_add_scalar(&b, v);
	return buf_finish(&b, NULL);
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
