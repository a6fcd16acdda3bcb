/*
 * cli: `spillway check` and `spillway classify`, the offline commands.
 * Both load a rule set exactly as the daemon does, so what they accept
 * and how they classify is what the daemon will do.
 *
 * This file owns the command line (the options, the usage, which mode
 * runs) and what the modes share: loading the rules, opening the inputs
 * and reading them line by line, aligned tables, a condition as text,
 * the match-limit report.  Each mode is a file of its own: cli_check.c,
 * cli_classify.c, cli_diff.c and cli_explain.c (cli_int.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_int.h"
#include "record.h"
#include "rules.h"

static void
cli_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: spillway check [-r RULES | RULES]\n"
	    "       spillway classify [-r RULES] [--each | --explain] "
	    "[FILE...]\n"
	    "       spillway classify --diff OLD NEW [--each] [FILE...]\n");
}

/*
 * Parse the options of both commands; `--each`, `--explain` and `--diff`
 * only for classify.  files points into a new array the caller frees.
 * Returns 0, or -1 after saying why on stderr.
 */
static int
cli_parse(int argc, char **argv, int classify_cmd, struct cli_opts *o)
{
	const char	*cmd = argv[0];
	int		 i, opts = 1;

	memset(o, 0, sizeof(*o));
	if ((o->files = calloc((size_t)argc + 1, sizeof(*o->files))) == NULL) {
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
		return -1;
	}
	for (i = 1; i < argc; i++) {
		const char	*a = argv[i];

		if (!opts || a[0] != '-' || strcmp(a, "-") == 0) {
			o->files[o->nfiles++] = argv[i];
			continue;
		}
		if (strcmp(a, "--") == 0)
			opts = 0;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			o->help = 1;
		else if (classify_cmd && strcmp(a, "--each") == 0)
			o->each = 1;
		else if (classify_cmd && strcmp(a, "--explain") == 0)
			o->explain = 1;
		else if (classify_cmd && strcmp(a, "--diff") == 0) {
			if (i + 2 >= argc) {
				fprintf(stderr, "spillway %s: --diff needs two "
				    "rules files, OLD and NEW\n", cmd);
				goto fail;
			}
			o->old = argv[++i];
			o->new = argv[++i];
		}
		else if (strcmp(a, "-r") == 0 || strcmp(a, "--rules") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "spillway %s: %s needs a file\n",
				    cmd, a);
				goto fail;
			}
			o->rules = argv[++i];
		} else if (strncmp(a, "--rules=", 8) == 0)
			o->rules = a + 8;
		else if (strncmp(a, "-r", 2) == 0)
			o->rules = a + 2;
		else {
			fprintf(stderr, "spillway %s: unknown option \"%s\"\n",
			    cmd, a);
			goto fail;
		}
	}
	if (o->old != NULL && o->rules != NULL) {
		fprintf(stderr, "spillway %s: --diff names both rules files; "
		    "-r does not go with it\n", cmd);
		goto fail;
	}
	if (o->explain && (o->each || o->old != NULL)) {
		fprintf(stderr, "spillway %s: --explain goes with neither "
		    "--each nor --diff\n", cmd);
		goto fail;
	}
	if (!classify_cmd && !o->help) {
		if (o->nfiles + (o->rules != NULL) != 1) {
			fprintf(stderr, "spillway %s: give one rules file\n",
			    cmd);
			goto fail;
		}
		if (o->rules == NULL)
			o->rules = o->files[0];
	}
	return 0;

fail:
	cli_usage(stderr);
	free(o->files);
	o->files = NULL;
	return -1;
}

/*
 * Load the rules file `path` (NULL: the built-in rules), or report why
 * not on stderr.
 */
struct ruleset *
cli_load(const char *path)
{
	struct rules_error	 err;
	struct ruleset		*rs;

	if (path == NULL) {
		if ((rs = rules_builtin()) == NULL)
			fprintf(stderr, "spillway: out of memory\n");
		return rs;
	}
	if ((rs = rules_load_file(path, &err)) == NULL)
		rules_error_print(stderr, &err, path);
	return rs;
}

/* Characters that fit in a column: UTF-8 sequences count once. */
static size_t
cli_width(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Print nrows x ncols cells (row by row, ncols at most CLI_MAXCOLS) in
 * columns two spaces apart, left-aligned, without trailing blanks.
 */
void
cli_align(FILE *fp, char *const *cells, size_t nrows, size_t ncols)
{
	size_t	 width[CLI_MAXCOLS], r, c, w;

	for (c = 0; c < ncols; c++) {
		width[c] = 0;
		for (r = 0; r < nrows; r++)
			if ((w = cli_width(cells[r * ncols + c])) > width[c])
				width[c] = w;
	}
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < ncols; c++) {
			const char	*s = cells[r * ncols + c];

			fputs(s, fp);
			if (c + 1 < ncols)
				fprintf(fp, "%*s", (int)(width[c] -
				    cli_width(s) + 2), "");
		}
		fputc('\n', fp);
	}
}

static void
cli_regex(FILE *fp, const struct cond *c)
{
	size_t		 i;
	unsigned char	 ch;

	fputc('/', fp);
	for (i = 0; i < c->patlen; i++) {
		ch = (unsigned char)c->pattern[i];
		if (ch == '\n')
			fputs("\\n", fp);
		else if (ch == '\t')
			fputs("\\t", fp);
		else if (ch == '\r')
			fputs("\\r", fp);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(fp, "\\x%02x", ch);
		else
			fputc(ch, fp);
	}
	fprintf(fp, "/%s", c->flags);
}

void
cli_cond(FILE *fp, const struct cond *c)
{
	size_t	 i;

	switch (c->kind) {
	case COND_FIELD:
		fprintf(fp, "%s %s ", c->path.full, c->negate ? "!~" : "=~");
		cli_regex(fp, c);
		break;
	case COND_RAW:
		fprintf(fp, "raw %s ", c->negate ? "!~" : "=~");
		cli_regex(fp, c);
		break;
	case COND_ANY:
		fprintf(fp, "%sany(", c->negate ? "!" : "");
		for (i = 0; i < c->nany; i++) {
			if (i > 0)
				fputs(" || ", fp);
			cli_cond(fp, &c->any[i]);
		}
		fputc(')', fp);
		break;
	}
}

/*
 * The next non-blank line of `in`, without its "\n" or "\r\n", in
 * *line (getline's buffer).  *lineno counts every line read, blank ones
 * included.  Returns 1, or 0 at the end or on a read error (see ferror).
 */
int
cli_next_line(FILE *in, char **line, size_t *cap, size_t *len,
    size_t *lineno)
{
	ssize_t	 n;

	while ((n = getline(line, cap, in)) != -1) {
		(*lineno)++;
		*len = (size_t)n;
		if (*len > 0 && (*line)[*len - 1] == '\n')
			(*len)--;
		if (*len > 0 && (*line)[*len - 1] == '\r')
			(*len)--;
		if (!record_blank(*line, *len))
			return 1;
	}
	return 0;
}

/* Flush stdout and say so when that failed: output lost is an error. */
int
cli_flush(const char *cmd)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "spillway %s: write error: %s\n", cmd,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Open the input `name` ("-": stdin); NULL after saying why on stderr.
 * *shown is the name for messages.
 */
static FILE *
cli_open(const char *cmd, const char *name, const char **shown)
{
	FILE	*in;

	if (strcmp(name, "-") == 0) {
		*shown = "(stdin)";
		return stdin;
	}
	*shown = name;
	if ((in = fopen(name, "r")) == NULL)
		fprintf(stderr, "spillway %s: %s: %s\n", cmd, name,
		    strerror(errno));
	return in;
}

static void
cli_close(FILE *in)
{
	if (in == stdin)
		clearerr(stdin);
	else
		fclose(in);
}

/* Like cat(1): an unreadable file is reported, the rest still run. */
int
cli_inputs(const char *cmd, const struct cli_opts *o, cli_input_fn *fn,
    void *arg)
{
	const char	*shown;
	FILE		*in;
	size_t		 i;
	int		 rv = 0;

	for (i = 0; i < o->nfiles; i++) {
		if ((in = cli_open(cmd, o->files[i], &shown)) == NULL) {
			rv = -1;
			continue;
		}
		if (fn(arg, in, shown, o->each ? stdout : NULL) == -1) {
			fprintf(stderr, "spillway %s: %s: %s\n", cmd, shown,
			    strerror(errno));
			rv = -1;
		}
		cli_close(in);
	}
	return rv;
}

void
cli_report_hits(const char *cmd, const char *which, const struct ruleset *rs,
    const uint64_t *hits)
{
	size_t	 i;

	for (i = 0; i < rs->nclasses; i++)
		if (hits[i] > 0)
			fprintf(stderr, "spillway %s: %sclass \"%s\": %" PRIu64
			    " regex runs hit the match limit\n", cmd, which,
			    rs->classes[i].name, hits[i]);
}

/*
 * Both commands: parse the options, answer --help, and hand the rest to
 * the mode asked for.  classify reads stdin when no file is named.
 */
static int
cli_run(int argc, char **argv, int classify_cmd)
{
	struct cli_opts	 o;
	int		 rv;

	if (cli_parse(argc, argv, classify_cmd, &o) == -1)
		return 1;
	if (o.help) {
		cli_usage(stdout);
		rv = 0;
	} else if (!classify_cmd)
		rv = cli_check_run(argv[0], &o);
	else {
		if (o.nfiles == 0)
			o.files[o.nfiles++] = "-";
		if (o.old != NULL)
			rv = cli_diff_run(argv[0], &o);
		else if (o.explain)
			rv = cli_explain_run(argv[0], &o);
		else
			rv = cli_classify_run(argv[0], &o);
	}
	free(o.files);
	return rv;
}

int
cli_check(int argc, char **argv)
{
	return cli_run(argc, argv, 0);
}

int
cli_classify(int argc, char **argv)
{
	return cli_run(argc, argv, 1);
}
