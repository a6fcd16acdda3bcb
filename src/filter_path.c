/*
 * filter_path: Elasticsearch's filter_path, applied while JSON is
 * written.  The filter is a small state machine advanced key by key, and
 * a container is written only once a value inside it survives the
 * filter, so a document written member by member (the bulk answers) is
 * filtered without building a tree; filter_path_apply() walks a parsed
 * document through the same writer.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filter_path.h"
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
filter_path_apply(const char *json, const char *filter_path, size_t *lenp)
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

/* The writer, for documents written member by member. */

struct filter_path_writer {
	struct buf	 out;
	struct fpath	*fp;		/* NULL: no filtering */
	struct fpw	 w;
};

struct filter_path_writer *
filter_path_writer_new(const char *expr, int is_array)
{
	struct filter_path_writer *fw;
	int empty;

	if ((fw = calloc(1, sizeof(*fw))) == NULL)
		return NULL;
	fw->fp = fpath_compile(expr, &empty);
	if (fw->fp == NULL && !empty)
		goto fail;
	if (fpw_init(&fw->w, &fw->out, fw->fp, is_array) == -1)
		goto fail;
	return fw;
fail:
	fpw_free(&fw->w);
	free(fw->out.p);
	fpath_free(fw->fp);
	free(fw);
	return NULL;
}

int
filter_path_filtering(const struct filter_path_writer *fw)
{
	return fw->fp != NULL;
}

void
filter_path_reserve(struct filter_path_writer *fw, size_t n)
{
	(void)buf_reserve(&fw->out, n);
}

int
filter_path_member(struct filter_path_writer *fw, const char *key,
    size_t keylen)
{
	return fpw_leaf(&fw->w, key, keylen);
}

int
filter_path_memberz(struct filter_path_writer *fw, const char *key)
{
	return fpw_leafz(&fw->w, key);
}

void
filter_path_raw(struct filter_path_writer *fw, const char *s, size_t n)
{
	buf_add(&fw->out, s, n);
}

void
filter_path_string(struct filter_path_writer *fw, const char *s)
{
	buf_add_jstrz(&fw->out, s);
}

void
filter_path_integer(struct filter_path_writer *fw, long long v)
{
	buf_addll(&fw->out, v);
}

void
filter_path_open(struct filter_path_writer *fw, const char *key,
    size_t keylen, int is_array)
{
	fpw_open(&fw->w, key, keylen, is_array);
}

void
filter_path_openz(struct filter_path_writer *fw, const char *key,
    int is_array)
{
	fpw_openz(&fw->w, key, is_array);
}

void
filter_path_close(struct filter_path_writer *fw)
{
	fpw_close(&fw->w);
}

void
filter_path_value(struct filter_path_writer *fw, const char *key,
    size_t keylen, json_t *v)
{
	fpw_walk(&fw->w, key, keylen, v);
}

char *
filter_path_scalar(const json_t *v, size_t *lenp)
{
	struct buf b = { 0 };

	buf_add_scalar(&b, v);
	return buf_finish(&b, lenp);
}

char *
filter_path_finish(struct filter_path_writer *fw, size_t *lenp)
{
	char *res = NULL;

	if (fw == NULL)
		return NULL;
	fpw_close(&fw->w);
	if (!fw->w.oom)
		res = buf_finish(&fw->out, lenp);
	else
		free(fw->out.p);
	fpw_free(&fw->w);
	fpath_free(fw->fp);
	free(fw);
	return res;
}
