/*
 * cli: `spillway check` and `spillway classify`, the offline commands.
 * Both load a rule set exactly as the daemon does, so what they accept
 * and how they classify is what the daemon will do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "cli.h"
#include "rules.h"

#define CLI_COLS	7

struct cli_opts {
	const char	 *rules;
	int		  each;
	int		  help;
	const char	**files;	/* borrowed from argv */
	size_t		  nfiles;
};

static void
cli_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: spillway check [-r RULES | RULES]\n"
	    "       spillway classify [-r RULES] [--each] [FILE...]\n");
}

/*
 * Parse the options of both commands; `--each` only for classify.
 * files points into a new array the caller frees.  Returns 0, or -1 after
 * saying why on stderr.
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

/* Load the rules named by the options, or report why not on stderr. */
static struct ruleset *
cli_load(const struct cli_opts *o)
{
	struct rules_error	 err;
	struct ruleset		*rs;
	char			 buf[1024];

	if (o->rules == NULL) {
		if ((rs = rules_builtin()) == NULL)
			fprintf(stderr, "spillway: out of memory\n");
		return rs;
	}
	if ((rs = rules_load_file(o->rules, &err)) == NULL)
		fprintf(stderr, "%s\n",
		    rules_error_format(&err, o->rules, buf, sizeof(buf)));
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

static void
cli_number(FILE *fp, double v, int bytes)
{
	if (v == 0)
		fputc('-', fp);
	else
		fprintf(fp, "%.15g%s", v, bytes ? "B" : "");
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

static void
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

/* The cells of one class row, written into the new strings cell[]. */
static int
cli_row(const struct ruleset *rs, size_t idx, char **cell)
{
	const struct rule_class	*rc = &rs->classes[idx];
	FILE			*fp;
	size_t			 len, i, col;

	for (col = 0; col < CLI_COLS; col++) {
		if ((fp = open_memstream(&cell[col], &len)) == NULL)
			return -1;
		switch (col) {
		case 0:
			fputs(rc->name, fp);
			break;
		case 1:
			fprintf(fp, "%d", rc->priority);
			break;
		case 2:
			cli_number(fp, rc->rate, rc->weight_bytes);
			break;
		case 3:
			cli_number(fp, rc->rate > 0 ? rc->burst : 0,
			    rc->weight_bytes);
			break;
		case 4:
			if (!rc->has_key) {
				fputc('-', fp);
				break;
			}
			/* path(key_rate/key_burst,max=max_keys) */
			fprintf(fp, "%s(", rc->key.full);
			cli_number(fp, rc->key_rate, rc->weight_bytes);
			fputc('/', fp);
			cli_number(fp, rc->key_rate > 0 ? rc->key_burst : 0,
			    rc->weight_bytes);
			fprintf(fp, ",max=%zu)", rc->max_keys);
			break;
		case 5:
			fputs(rc->on_limit == ON_LIMIT_DIVERT ? "divert" :
			    "drop", fp);
			break;
		case 6:
			if (idx == RULES_DEFAULT(rs))
				fputs("(when no class matches)", fp);
			else if (idx == RULES_INVALID(rs))
				fputs("(lines that are not one JSON object)",
				    fp);
			else if (rc->nmatch == 0)
				fputs("(always)", fp);
			for (i = 0; i < rc->nmatch; i++) {
				if (i > 0)
					fputs(" && ", fp);
				cli_cond(fp, &rc->match[i]);
			}
			break;
		}
		if (fclose(fp) != 0)
			return -1;
	}
	return 0;
}

int
cli_print_table(FILE *fp, const struct ruleset *rs)
{
	static const char *const head[CLI_COLS] = {
		"class", "priority", "rate", "burst", "key", "on_limit",
		"conditions"
	};
	char	**cells;
	size_t	  width[CLI_COLS], nrows = rs->nclasses + 1, r, c, w;
	int	  rv = -1;

	if ((cells = calloc(nrows * CLI_COLS, sizeof(*cells))) == NULL)
		return -1;
	for (c = 0; c < CLI_COLS; c++)
		if ((cells[c] = strdup(head[c])) == NULL)
			goto fail;
	for (r = 1; r < nrows; r++)
		if (cli_row(rs, r - 1, &cells[r * CLI_COLS]) == -1)
			goto fail;

	for (c = 0; c < CLI_COLS; c++) {
		width[c] = 0;
		for (r = 0; r < nrows; r++)
			if ((w = cli_width(cells[r * CLI_COLS + c])) > width[c])
				width[c] = w;
	}
	for (r = 0; r < nrows; r++) {
		for (c = 0; c < CLI_COLS; c++) {
			const char	*s = cells[r * CLI_COLS + c];

			fputs(s, fp);
			if (c + 1 < CLI_COLS)
				fprintf(fp, "%*s", (int)(width[c] -
				    cli_width(s) + 2), "");
		}
		fputc('\n', fp);
	}
	rv = 0;

fail:
	for (r = 0; r < nrows * CLI_COLS; r++)
		free(cells[r]);
	free(cells);
	return rv;
}

static int
cli_blank(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			return 0;
	return 1;
}

int
cli_classify_stream(const struct ruleset *rs, FILE *in, FILE *each,
    uint64_t *counts, uint64_t *limit_hits)
{
	char		*line = NULL;
	size_t		 cap = 0, len, idx;
	ssize_t		 n;
	int		 rv = 0, saved;

	while ((n = getline(&line, &cap, in)) != -1) {
		len = (size_t)n;
		if (len > 0 && line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (cli_blank(line, len))
			continue;
		idx = classify(rs, line, len, NULL, limit_hits);
		counts[idx]++;
		if (each != NULL) {
			fputs(rs->classes[idx].name, each);
			fputc('\t', each);
			fwrite(line, 1, len, each);
			fputc('\n', each);
		}
	}
	if (ferror(in))
		rv = -1;
	saved = errno;
	free(line);
	errno = saved;
	return rv;
}

void
cli_print_summary(FILE *fp, const struct ruleset *rs, const uint64_t *counts)
{
	uint64_t	 total = 0;
	size_t		 i;

	for (i = 0; i < rs->nclasses; i++)
		total += counts[i];
	fputs("class priority events share\n", fp);
	for (i = 0; i < rs->nclasses; i++)
		fprintf(fp, "%s %d %" PRIu64 " %.1f%%\n", rs->classes[i].name,
		    rs->classes[i].priority, counts[i], total == 0 ? 0.0 :
		    100.0 * (double)counts[i] / (double)total);
}

/* Flush stdout and say so when that failed: output lost is an error. */
static int
cli_flush(const char *cmd)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "spillway %s: write error: %s\n", cmd,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
cli_check(int argc, char **argv)
{
	struct cli_opts	 o;
	struct ruleset	*rs;
	int		 rv = 1;

	if (cli_parse(argc, argv, 0, &o) == -1)
		return 1;
	if (o.help) {
		cli_usage(stdout);
		rv = 0;
		goto done;
	}
	if ((rs = cli_load(&o)) == NULL)
		goto done;
	if (cli_print_table(stdout, rs) == -1)
		fprintf(stderr, "spillway %s: out of memory\n", argv[0]);
	else if (cli_flush(argv[0]) == 0)
		rv = 0;
	rules_free(rs);

done:
	free(o.files);
	return rv;
}

int
cli_classify(int argc, char **argv)
{
	struct cli_opts	 o;
	struct ruleset	*rs = NULL;
	uint64_t	*counts = NULL, *hits = NULL;
	FILE		*in;
	size_t		 i;
	int		 rv = 1, failed = 0;

	if (cli_parse(argc, argv, 1, &o) == -1)
		return 1;
	if (o.help) {
		cli_usage(stdout);
		rv = 0;
		goto done;
	}
	if ((rs = cli_load(&o)) == NULL)
		goto done;
	if ((counts = calloc(rs->nclasses, sizeof(*counts))) == NULL ||
	    (hits = calloc(rs->nclasses, sizeof(*hits))) == NULL) {
		fprintf(stderr, "spillway %s: out of memory\n", argv[0]);
		goto done;
	}
	if (o.nfiles == 0)
		o.files[o.nfiles++] = "-";

	/* Like cat(1): an unreadable file is reported, the rest still run. */
	for (i = 0; i < o.nfiles; i++) {
		const char	*name = o.files[i];

		if (strcmp(name, "-") == 0)
			in = stdin;
		else if ((in = fopen(name, "r")) == NULL) {
			fprintf(stderr, "spillway %s: %s: %s\n", argv[0],
			    name, strerror(errno));
			failed = 1;
			continue;
		}
		if (cli_classify_stream(rs, in, o.each ? stdout : NULL,
		    counts, hits) == -1) {
			fprintf(stderr, "spillway %s: %s: %s\n", argv[0],
			    in == stdin ? "(stdin)" : name, strerror(errno));
			failed = 1;
		}
		if (in == stdin)
			clearerr(stdin);
		else
			fclose(in);
	}
	if (!o.each)
		cli_print_summary(stdout, rs, counts);
	for (i = 0; i < rs->nclasses; i++)
		if (hits[i] > 0)
			fprintf(stderr, "spillway %s: class \"%s\": %" PRIu64
			    " regex runs hit the match limit\n", argv[0],
			    rs->classes[i].name, hits[i]);
	if (cli_flush(argv[0]) == 0 && !failed)
		rv = 0;

done:
	free(counts);
	free(hits);
	rules_free(rs);
	free(o.files);
	return rv;
}
