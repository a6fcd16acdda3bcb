/*
 * cli_check: `spillway check`, a rules file loaded as the daemon loads it
 * and shown as a table, one line per class: priority, rate, burst, key,
 * on_limit and conditions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_int.h"
#include "rules.h"

#define CLI_COLS	7	/* the class table of check */

static void
cli_number(FILE *fp, double v, int bytes)
{
	if (v == 0)
		fputc('-', fp);
	else
		fprintf(fp, "%.15g%s", v, bytes ? "B" : "");
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
			if (rc->max_age_ms > 0)
				fprintf(fp, ",max_age=%ldms", rc->max_age_ms);
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
	size_t	  nrows = rs->nclasses + 1, r, c;
	int	  rv = -1;

	if ((cells = calloc(nrows * CLI_COLS, sizeof(*cells))) == NULL)
		return -1;
	for (c = 0; c < CLI_COLS; c++)
		if ((cells[c] = strdup(head[c])) == NULL)
			goto fail;
	for (r = 1; r < nrows; r++)
		if (cli_row(rs, r - 1, &cells[r * CLI_COLS]) == -1)
			goto fail;

	cli_align(fp, cells, nrows, CLI_COLS);
	rv = 0;

fail:
	for (r = 0; r < nrows * CLI_COLS; r++)
		free(cells[r]);
	free(cells);
	return rv;
}

/* check: exit 0, 1 for invalid rules or when the table cannot be printed. */
int
cli_check_run(const char *cmd, const struct cli_opts *o)
{
	struct ruleset	*rs;
	int		 rv = 1;

	if ((rs = cli_load(o->rules)) == NULL)
		return 1;
	if (cli_print_table(stdout, rs) == -1)
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
	else if (cli_flush(cmd) == 0)
		rv = 0;
	rules_free(rs);
	return rv;
}
