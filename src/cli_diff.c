/*
 * cli_diff: `spillway classify --diff OLD NEW`, every event classified
 * under two rule sets: the (old class, new class) pairs counted, and the
 * report of which events would move where, and what each class gains or
 * loses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "cli.h"
#include "cli_int.h"
#include "rules.h"

/* One (old class, new class) pair and how many events made it. */
struct cli_pair {
	uint32_t	 old;
	uint32_t	 new;
	uint64_t	 n;		/* 0: a free slot */
	int		 moved;		/* the class names differ */
};

struct cli_diff {
	const struct ruleset	*old;
	const struct ruleset	*new;
	size_t			*old2new;	/* same name; SIZE_MAX: none */
	size_t			*new2old;
	struct cli_pair		*pairs;		/* open addressing */
	size_t			 cap;		/* a power of two */
	size_t			 used;
	uint64_t		 total;
	uint64_t		 moved;
	uint64_t		*old_hits;	/* match-limit hits per class */
	uint64_t		*new_hits;
};

/* Index of the class named `name` in rs, or SIZE_MAX. */
static size_t
cli_class_index(const struct ruleset *rs, const size_t *byname,
    const char *name)
{
	size_t	 lo = 0, hi = rs->nclasses, mid;
	int	 c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(name, rs->classes[byname[mid]].name)) == 0)
			return byname[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return SIZE_MAX;
}

static int
cli_byname_cmp(const void *a, const void *b, void *arg)
{
	const struct ruleset	*rs = arg;

	return strcmp(rs->classes[*(const size_t *)a].name,
	    rs->classes[*(const size_t *)b].name);
}

/* classes of rs sorted by name, as indices; NULL without memory. */
static size_t *
cli_byname(const struct ruleset *rs)
{
	size_t	*idx, i;

	if ((idx = calloc(rs->nclasses, sizeof(*idx))) == NULL)
		return NULL;
	for (i = 0; i < rs->nclasses; i++)
		idx[i] = i;
	qsort_r(idx, rs->nclasses, sizeof(*idx), cli_byname_cmp,
	    (void *)(uintptr_t)rs);
	return idx;
}

struct cli_diff *
cli_diff_new(const struct ruleset *old, const struct ruleset *new)
{
	struct cli_diff	*d;
	size_t		*oldby = NULL, *newby = NULL, i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->old = old;
	d->new = new;
	d->cap = 64;
	if ((d->old2new = calloc(old->nclasses, sizeof(size_t))) == NULL ||
	    (d->new2old = calloc(new->nclasses, sizeof(size_t))) == NULL ||
	    (d->old_hits = calloc(old->nclasses, sizeof(uint64_t))) == NULL ||
	    (d->new_hits = calloc(new->nclasses, sizeof(uint64_t))) == NULL ||
	    (d->pairs = calloc(d->cap, sizeof(*d->pairs))) == NULL ||
	    (oldby = cli_byname(old)) == NULL ||
	    (newby = cli_byname(new)) == NULL)
		goto fail;
	for (i = 0; i < old->nclasses; i++)
		d->old2new[i] = cli_class_index(new, newby,
		    old->classes[i].name);
	for (i = 0; i < new->nclasses; i++)
		d->new2old[i] = cli_class_index(old, oldby,
		    new->classes[i].name);
	free(oldby);
	free(newby);
	return d;

fail:
	free(oldby);
	free(newby);
	cli_diff_free(d);
	return NULL;
}

void
cli_diff_free(struct cli_diff *d)
{
	if (d == NULL)
		return;
	free(d->old2new);
	free(d->new2old);
	free(d->old_hits);
	free(d->new_hits);
	free(d->pairs);
	free(d);
}

static size_t
cli_pair_slot(const struct cli_pair *pairs, size_t cap, size_t o, size_t n)
{
	uint64_t	 h = ((uint64_t)o << 32 | (uint64_t)n) *
			    UINT64_C(0x9e3779b97f4a7c15);
	size_t		 i;

	for (i = (size_t)(h >> 32) & (cap - 1);
	    pairs[i].n != 0 && (pairs[i].old != o || pairs[i].new != n);
	    i = (i + 1) & (cap - 1))
		;
	return i;
}

/* Count one event that went from old class o to new class n. */
static int
cli_diff_count(struct cli_diff *d, size_t o, size_t n)
{
	struct cli_pair	*np;
	size_t		 i, j, cap;

	i = cli_pair_slot(d->pairs, d->cap, o, n);
	if (d->pairs[i].n == 0) {
		if (2 * (d->used + 1) > d->cap) {
			cap = d->cap * 2;
			if ((np = calloc(cap, sizeof(*np))) == NULL)
				return -1;
			for (j = 0; j < d->cap; j++)
				if (d->pairs[j].n != 0)
					np[cli_pair_slot(np, cap,
					    d->pairs[j].old,
					    d->pairs[j].new)] = d->pairs[j];
			free(d->pairs);
			d->pairs = np;
			d->cap = cap;
			i = cli_pair_slot(d->pairs, d->cap, o, n);
		}
		d->pairs[i].old = (uint32_t)o;
		d->pairs[i].new = (uint32_t)n;
		d->pairs[i].moved = d->old2new[o] != n;
		d->used++;
	}
	d->pairs[i].n++;
	d->total++;
	if (d->pairs[i].moved)
		d->moved++;
	return 0;
}

int
cli_diff_stream(struct cli_diff *d, FILE *in, FILE *each)
{
	char		*line = NULL;
	size_t		 cap = 0, len, lineno = 0, o, n;
	int		 rv = 0, saved;

	while (cli_next_line(in, &line, &cap, &len, &lineno)) {
		o = classify(d->old, line, len, NULL, d->old_hits);
		n = classify(d->new, line, len, NULL, d->new_hits);
		if (cli_diff_count(d, o, n) == -1) {
			errno = ENOMEM;
			rv = -1;
			break;
		}
		if (each != NULL && d->old2new[o] != n) {
			fprintf(each, "%s\t%s\t", d->old->classes[o].name,
			    d->new->classes[n].name);
			fwrite(line, 1, len, each);
			fputc('\n', each);
		}
	}
	if (rv == 0 && ferror(in))
		rv = -1;
	saved = errno;
	free(line);
	errno = saved;
	return rv;
}

/* Moved pairs first, then by count, largest first, then by class order. */
static int
cli_pair_cmp(const void *a, const void *b)
{
	const struct cli_pair	*p = a, *q = b;

	if (p->moved != q->moved)
		return p->moved ? -1 : 1;
	if (p->n != q->n)
		return p->n > q->n ? -1 : 1;
	if (p->old != q->old)
		return p->old < q->old ? -1 : 1;
	if (p->new != q->new)
		return p->new < q->new ? -1 : 1;
	return 0;
}

/* A new string from a format, into *cell; -1 without memory. */
static int
cli_cell(char **cell, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
cli_cell(char **cell, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(cell, fmt, ap);
	va_end(ap);
	if (n < 0) {
		*cell = NULL;
		return -1;
	}
	return 0;
}

static double
cli_pct(uint64_t n, uint64_t total)
{
	return total == 0 ? 0.0 : 100.0 * (double)n / (double)total;
}

/* Print an aligned table of cells and free them; -1 without memory. */
static int
cli_table_done(FILE *fp, char **cells, size_t nrows, size_t ncols, int ok)
{
	size_t	 i;

	for (i = 0; ok && i < nrows * ncols; i++)
		if (cells[i] == NULL)
			ok = 0;
	if (ok)
		cli_align(fp, cells, nrows, ncols);
	for (i = 0; i < nrows * ncols; i++)
		free(cells[i]);
	free(cells);
	return ok ? 0 : -1;
}

#define CLI_TCOLS	5	/* old_class new_class events share priority */
#define CLI_KCOLS	7	/* class priority old_events ... note */

static int
cli_diff_transitions(FILE *fp, const struct cli_diff *d)
{
	const struct ruleset	*o = d->old, *n = d->new;
	struct cli_pair		*rows;
	char			**cells;
	size_t			 i, r, nrows = d->used + 1;
	int			 ok = 1;

	if ((rows = calloc(d->used + 1, sizeof(*rows))) == NULL)
		return -1;
	for (i = 0, r = 0; i < d->cap; i++)
		if (d->pairs[i].n != 0)
			rows[r++] = d->pairs[i];
	qsort(rows, r, sizeof(*rows), cli_pair_cmp);
	if ((cells = calloc(nrows * CLI_TCOLS, sizeof(*cells))) == NULL) {
		free(rows);
		return -1;
	}
	ok &= cli_cell(&cells[0], "old_class") == 0;
	ok &= cli_cell(&cells[1], "new_class") == 0;
	ok &= cli_cell(&cells[2], "events") == 0;
	ok &= cli_cell(&cells[3], "share") == 0;
	ok &= cli_cell(&cells[4], "priority") == 0;
	for (r = 1; ok && r < nrows; r++) {
		const struct cli_pair	*p = &rows[r - 1];
		char			**c = &cells[r * CLI_TCOLS];

		ok &= cli_cell(&c[0], "%s", o->classes[p->old].name) == 0;
		ok &= cli_cell(&c[1], "%s", n->classes[p->new].name) == 0;
		ok &= cli_cell(&c[2], "%" PRIu64, p->n) == 0;
		ok &= cli_cell(&c[3], "%.1f%%", cli_pct(p->n, d->total)) == 0;
		ok &= cli_cell(&c[4], "%d->%d", o->classes[p->old].priority,
		    n->classes[p->new].priority) == 0;
	}
	free(rows);
	return cli_table_done(fp, cells, nrows, CLI_TCOLS, ok);
}

/*
 * One row of the per-class table: the class ni of the new rules and oi of
 * the old ones, of the same name; one of them may be SIZE_MAX.
 */
static int
cli_diff_class_row(char **c, const struct cli_diff *d, size_t oi, size_t ni,
    const uint64_t *oldn, const uint64_t *newn)
{
	const struct rule_class	*rc = ni != SIZE_MAX ? &d->new->classes[ni] :
				    &d->old->classes[oi];
	uint64_t		 before = oi != SIZE_MAX ? oldn[oi] : 0;
	uint64_t		 after = ni != SIZE_MAX ? newn[ni] : 0;
	int			 ok = 1;

	ok &= cli_cell(&c[0], "%s", rc->name) == 0;
	ok &= cli_cell(&c[1], "%d", rc->priority) == 0;
	ok &= cli_cell(&c[2], "%" PRIu64, before) == 0;
	ok &= cli_cell(&c[3], "%" PRIu64, after) == 0;
	if (after > before)
		ok &= cli_cell(&c[4], "+%" PRIu64, after - before) == 0;
	else if (after < before)
		ok &= cli_cell(&c[4], "-%" PRIu64, before - after) == 0;
	else
		ok &= cli_cell(&c[4], "0") == 0;
	ok &= cli_cell(&c[5], "%.1f%%", cli_pct(after, d->total)) == 0;
	if (ni == SIZE_MAX)
		ok &= cli_cell(&c[6], "removed") == 0;
	else if (oi == SIZE_MAX)
		ok &= cli_cell(&c[6], "added") == 0;
	else if (d->old->classes[oi].priority != rc->priority)
		ok &= cli_cell(&c[6], "priority:%d->%d",
		    d->old->classes[oi].priority, rc->priority) == 0;
	else
		ok &= cli_cell(&c[6], "-") == 0;
	return ok ? 0 : -1;
}

static int
cli_diff_classes(FILE *fp, const struct cli_diff *d)
{
	static const char *const head[CLI_KCOLS] = {
		"class", "priority", "old_events", "new_events", "delta",
		"new_share", "note"
	};
	const struct ruleset	*o = d->old, *n = d->new;
	uint64_t		*oldn, *newn;
	char			**cells = NULL;
	size_t			 i, r, nrows;
	int			 ok = 1;

	oldn = calloc(o->nclasses, sizeof(*oldn));
	newn = calloc(n->nclasses, sizeof(*newn));
	nrows = 1 + n->nclasses + o->nclasses;
	if (oldn == NULL || newn == NULL ||
	    (cells = calloc(nrows * CLI_KCOLS, sizeof(*cells))) == NULL) {
		free(oldn);
		free(newn);
		return -1;
	}
	for (i = 0; i < d->cap; i++) {
		oldn[d->pairs[i].old] += d->pairs[i].n;
		newn[d->pairs[i].new] += d->pairs[i].n;
	}
	for (i = 0; i < CLI_KCOLS; i++)
		ok &= cli_cell(&cells[i], "%s", head[i]) == 0;
	r = 1;
	/* The new rules' classes in order, removed ones, default, _invalid. */
	for (i = 0; ok && i < n->nrules; i++, r++)
		ok &= cli_diff_class_row(&cells[r * CLI_KCOLS], d,
		    d->new2old[i], i, oldn, newn) == 0;
	for (i = 0; ok && i < o->nclasses; i++)
		if (d->old2new[i] == SIZE_MAX)
			ok &= cli_diff_class_row(&cells[r++ * CLI_KCOLS], d,
			    i, SIZE_MAX, oldn, newn) == 0;
	for (i = n->nrules; ok && i < n->nclasses; i++, r++)
		ok &= cli_diff_class_row(&cells[r * CLI_KCOLS], d,
		    d->new2old[i], i, oldn, newn) == 0;
	free(oldn);
	free(newn);
	/* nrows allowed for every old class being removed: print r. */
	return cli_table_done(fp, cells, ok ? r : nrows, CLI_KCOLS, ok);
}

int
cli_diff_print(FILE *fp, const struct cli_diff *d)
{
	if (cli_diff_transitions(fp, d) == -1)
		return -1;
	fputc('\n', fp);
	if (cli_diff_classes(fp, d) == -1)
		return -1;
	fprintf(fp, "\n%" PRIu64 " events, %" PRIu64 " moved (%.1f%%)\n",
	    d->total, d->moved, cli_pct(d->moved, d->total));
	return 0;
}

static int
cli_diff_input(void *arg, FILE *in, const char *name, FILE *each)
{
	(void)name;
	return cli_diff_stream(arg, in, each);
}

/*
 * classify --diff OLD NEW: exit 0, 1 when a rules file is invalid (both
 * are checked), 2 when an input cannot be read or the output written.
 */
int
cli_diff_run(const char *cmd, const struct cli_opts *o)
{
	struct ruleset	*old, *new;
	struct cli_diff	*d = NULL;
	int		 rv = 1, failed;

	old = cli_load(o->old);
	new = cli_load(o->new);
	if (old == NULL || new == NULL)
		goto done;
	rv = 2;
	if ((d = cli_diff_new(old, new)) == NULL) {
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
		goto done;
	}
	failed = cli_inputs(cmd, o, cli_diff_input, d) == -1;
	if (!o->each && cli_diff_print(stdout, d) == -1) {
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
		goto done;
	}
	cli_report_hits(cmd, "old rules: ", old, d->old_hits);
	cli_report_hits(cmd, "new rules: ", new, d->new_hits);
	if (cli_flush(cmd) == 0 && !failed)
		rv = 0;

done:
	cli_diff_free(d);
	rules_free(old);
	rules_free(new);
	return rv;
}
