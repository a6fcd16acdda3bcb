/*
 * cli_explain: `spillway classify --explain`, why each event got its
 * class: the trace of classify_explain() written for a reader, every
 * class tried, and for each condition what it looked at and what came of
 * it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <spillway/utf8.h>

#include "classify.h"
#include "cli.h"
#include "cli_int.h"
#include "jpath.h"
#include "rules.h"

#define CLI_VALUE_MAX	120	/* bytes of a value shown */
#define CLI_LINE_MAX	400	/* bytes of an input line shown */

/*
 * Text for a reader: control characters and bytes that are not UTF-8
 * escaped, `"` and `\` too when quoted, at most `max` bytes and then
 * "... (N bytes)".
 */
static void
cli_text(FILE *fp, const char *s, size_t len, size_t max, int quote)
{
	const unsigned char	*p = (const unsigned char *)s, *end = p + len;
	const unsigned char	*stop = len > max ? p + max : end;
	size_t			 n;

	if (quote)
		fputc('"', fp);
	while (p < stop) {
		if (*p == '\n')
			fputs("\\n", fp);
		else if (*p == '\t')
			fputs("\\t", fp);
		else if (*p == '\r')
			fputs("\\r", fp);
		else if (quote && (*p == '"' || *p == '\\'))
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\x%02x", *p);
		else if ((n = utf8_len(p, (size_t)(end - p))) == 0)
			fprintf(fp, "\\x%02x", *p);
		else {
			fwrite(p, 1, n, fp);
			p += n;
			continue;
		}
		p++;
	}
	if (quote)
		fputc('"', fp);
	if (len > max)
		fprintf(fp, "... (%zu bytes)", len);
}

static const char *
cli_json_type(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/*
 * A scalar and the text its regex sees: `string "x"`, `integer, as
 * text "5"`, `real, as text "1000.0"`, `boolean, as text "true"`.
 */
static void
cli_scalar(FILE *fp, json_t *v)
{
	char		 buf[40];
	const char	*txt;
	size_t		 len;

	if (jpath_scalar_text(v, buf, sizeof(buf), &txt, &len) == -1) {
		fputs("(no text)", fp);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_STRING:
		fputs("string ", fp);
		break;
	case JSON_INTEGER:
		fputs("integer, as text ", fp);
		break;
	case JSON_REAL:
		fputs("real, as text ", fp);
		break;
	default:
		fputs("boolean, as text ", fp);
		break;
	}
	cli_text(fp, txt, len, CLI_VALUE_MAX, 1);
}

/* An array or object in compact JSON, shortened. */
static void
cli_dump(FILE *fp, json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		fputs(json_is_array(v) ? "[...]" : "{...}", fp);
		return;
	}
	cli_text(fp, s, strlen(s), CLI_VALUE_MAX, 0);
	free(s);
}

static void
cli_segs(FILE *fp, const struct jpath *p, size_t n)
{
	size_t	 i;

	fputc('"', fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s%s", i > 0 ? "." : "", p->segs[i]);
	fputc('"', fp);
}

/* What a field condition looked at and what came of it. */
static void
cli_explain_field(FILE *fp, const struct classify_step *st)
{
	const struct jpath	*p = &st->cond->path;
	json_t			*e;

	fputs(p->full, fp);
	if (p->nsegs > 1 && st->seen != CLASSIFY_SEEN_MISSING)
		fputs(st->literal ? " (flat key)" : " (nested)", fp);
	fputs(": ", fp);
	switch (st->seen) {
	case CLASSIFY_SEEN_MISSING:
		fputs("missing", fp);
		if (p->nsegs > 1) {
			fprintf(fp, " (no flat key \"%s\"; ", p->full);
			if (st->blocked != NULL) {
				cli_segs(fp, p, st->missing_at);
				fprintf(fp, " is %s, not an object)",
				    cli_json_type(st->blocked));
			} else if (st->missing_at == 0)
				fprintf(fp, "no key \"%s\")", p->segs[0]);
			else {
				cli_segs(fp, p, st->missing_at);
				fprintf(fp, " has no key \"%s\")",
				    p->segs[st->missing_at]);
			}
		}
		fputs(", never matches", fp);
		break;
	case CLASSIFY_SEEN_NULL:
		fputs("null, never matches", fp);
		break;
	case CLASSIFY_SEEN_OBJECT:
		fputs("object ", fp);
		cli_dump(fp, st->value);
		fputs(", never matches", fp);
		break;
	case CLASSIFY_SEEN_SCALAR:
		cli_scalar(fp, st->value);
		fputs(st->matched ? ": matched" : st->limit ? ": match limit "
		    "hit, counted as not matched" : ": not matched", fp);
		break;
	case CLASSIFY_SEEN_ARRAY:
		fprintf(fp, "array of %zu ", json_array_size(st->value));
		cli_dump(fp, st->value);
		if (st->matched) {
			e = json_array_get(st->value, st->elem);
			fprintf(fp, ": element [%zu], ", st->elem);
			cli_scalar(fp, e);
			fputs(", matched", fp);
		} else if (st->nscalar == 0)
			fputs(": no scalar elements, never matches", fp);
		else
			fprintf(fp, ": none of its %zu scalar element%s "
			    "matched", st->nscalar, st->nscalar == 1 ? "" :
			    "s");
		if (st->limit)
			fprintf(fp, " (element [%zu] hit the match limit, "
			    "counted as not matched)", st->limit_elem);
		break;
	default:
		break;
	}
}

/*
 * The condition steps of one class, from steps[k] up to the next class
 * step; returns the index of that step (or n).
 */
static size_t
cli_explain_conds(FILE *fp, const struct classify_step *steps, size_t n,
    size_t k, size_t rawlen)
{
	const struct classify_step	*st, *m;
	size_t				 j, member, which;
	int				 indent;

	for (; k < n && steps[k].cond != NULL; k++) {
		st = &steps[k];
		indent = 4 + 2 * st->depth;
		if (!st->tried) {
			fprintf(fp, "%*sskipped ", indent, "");
			cli_cond(fp, st->cond);
			fprintf(fp, "  (not tried: %s)\n", st->depth == 0 ?
			    "an earlier condition failed" :
			    "an earlier member held");
			continue;
		}
		fprintf(fp, "%*s%-7s ", indent, "", st->held ? "holds" :
		    "fails");
		switch (st->cond->kind) {
		case COND_ANY:
			/* Which member held: the members are the steps one
			 * level deeper, up to the next step at this depth. */
			for (j = k + 1, member = 0, which = 0; j < n &&
			    steps[j].cond != NULL && steps[j].depth > st->depth;
			    j++) {
				m = &steps[j];
				if (m->depth != st->depth + 1)
					continue;
				member++;
				if (m->tried && m->held)
					which = member;
			}
			fprintf(fp, "%sany of %zu: ", st->cond->negate ? "!" :
			    "", st->cond->nany);
			if (which > 0)
				fprintf(fp, "member %zu held", which);
			else
				fputs("none held", fp);
			break;
		case COND_RAW:
			cli_cond(fp, st->cond);
			fprintf(fp, "\n%*sraw line, %zu bytes: %s", indent + 8,
			    "", rawlen, st->matched ? "matched" : st->limit ?
			    "match limit hit, counted as not matched" :
			    "not matched");
			break;
		case COND_FIELD:
			cli_cond(fp, st->cond);
			fprintf(fp, "\n%*s", indent + 8, "");
			cli_explain_field(fp, st);
			break;
		}
		if (st->cond->negate)
			fprintf(fp, "; negated, so it %s", st->held ? "holds" :
			    "fails");
		fputc('\n', fp);
	}
	return k;
}

int
cli_explain_line(FILE *fp, const struct ruleset *rs, const char *where,
    const char *raw, size_t len, uint64_t *limit_hits)
{
	struct classify_trace		 t;
	const struct rule_class		*rc;
	const struct classify_step	*st;
	size_t				 k, i;

	if (classify_explain(rs, raw, len, &t, limit_hits) == -1) {
		classify_trace_free(&t);
		return -1;
	}
	fprintf(fp, "%s: ", where);
	cli_text(fp, raw, len, CLI_LINE_MAX, 0);
	fputc('\n', fp);
	rc = &rs->classes[t.cls];
	switch (t.verdict) {
	case CLASSIFY_NOT_JSON:
		fprintf(fp, "  invalid: not JSON: %s", t.error.text);
		if (t.error.column > 0)
			fprintf(fp, " (column %d)", t.error.column);
		fputc('\n', fp);
		break;
	case CLASSIFY_TRAILING:
		fprintf(fp, "  invalid: bytes after the JSON value, from "
		    "byte %zu: ", t.trailing + 1);
		cli_text(fp, raw + t.trailing, len - t.trailing, 40, 1);
		fputc('\n', fp);
		break;
	case CLASSIFY_NOT_OBJECT:
		fprintf(fp, "  invalid: %s, not an object\n",
		    cli_json_type(t.root));
		break;
	case CLASSIFY_OBJECT:
		break;
	}
	if (t.verdict != CLASSIFY_OBJECT) {
		fprintf(fp, "  -> class %s (priority %d): no class is tried "
		    "for a line that is not one JSON object\n", rc->name,
		    rc->priority);
		goto done;
	}
	if (t.bigint)
		fputs("  note: an integer beyond 64 bits makes every integer "
		    "of this event read as a real (503 matches as \"503.0\")\n",
		    fp);
	if (t.bignum)
		fputs("  note: a number beyond the range of a double: the "
		    "event is valid, but has no fields to match on\n", fp);
	for (k = 0; k < t.nsteps; ) {
		st = &t.steps[k];
		fprintf(fp, "  class %s (priority %d): %s\n",
		    rs->classes[st->cls].name, rs->classes[st->cls].priority,
		    !st->held ? "no match" : rs->classes[st->cls].nmatch == 0 ?
		    "matches (no conditions)" : "matches");
		k = cli_explain_conds(fp, t.steps, t.nsteps, k + 1, len);
	}
	if (t.cls == RULES_DEFAULT(rs)) {
		fprintf(fp, "  -> class %s (priority %d): the default, %s\n",
		    rc->name, rc->priority, rs->nrules == 0 ?
		    "there are no classes" : "no class matched");
		goto done;
	}
	fprintf(fp, "  -> class %s (priority %d)\n", rc->name, rc->priority);
	if (t.cls + 1 < rs->nrules) {
		fputs("  not tried:", fp);
		for (i = t.cls + 1; i < rs->nrules; i++)
			fprintf(fp, " %s%s", rs->classes[i].name,
			    i + 1 < rs->nrules ? "," : "");
		fputs(" (the first class that matches wins)\n", fp);
	}

done:
	classify_trace_free(&t);
	return 0;
}

int
cli_explain_stream(const struct ruleset *rs, FILE *in, const char *name,
    FILE *out, uint64_t *limit_hits)
{
	char	*line = NULL, *where = NULL;
	size_t	 cap = 0, len, lineno = 0;
	int	 rv = 0, saved;

	while (cli_next_line(in, &line, &cap, &len, &lineno)) {
		free(where);
		if (asprintf(&where, "%s:%zu", name, lineno) == -1)
			where = NULL;
		if (where == NULL || cli_explain_line(out, rs, where, line,
		    len, limit_hits) == -1) {
			errno = ENOMEM;
			rv = -1;
			break;
		}
		fputc('\n', out);
	}
	if (rv == 0 && ferror(in))
		rv = -1;
	saved = errno;
	free(line);
	free(where);
	errno = saved;
	return rv;
}

/* What cli_explain_input() needs of one run of --explain. */
struct cli_explain_args {
	const struct ruleset	*rs;
	uint64_t		*hits;
};

static int
cli_explain_input(void *arg, FILE *in, const char *name, FILE *each)
{
	struct cli_explain_args	*x = arg;

	(void)each;		/* --explain goes without --each */
	return cli_explain_stream(x->rs, in, name, stdout, x->hits);
}

/* classify --explain: exit 0, 1 for invalid rules, 2 as for --diff. */
int
cli_explain_run(const char *cmd, const struct cli_opts *o)
{
	struct ruleset		*rs;
	struct cli_explain_args	 x;
	uint64_t		*hits = NULL;
	int			 rv = 2, failed;

	if ((rs = cli_load(o->rules)) == NULL)
		return 1;
	if ((hits = calloc(rs->nclasses, sizeof(*hits))) == NULL) {
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
		goto done;
	}
	x.rs = rs;
	x.hits = hits;
	failed = cli_inputs(cmd, o, cli_explain_input, &x) == -1;
	cli_report_hits(cmd, "", rs, hits);
	if (cli_flush(cmd) == 0 && !failed)
		rv = 0;

done:
	free(hits);
	rules_free(rs);
	return rv;
}
