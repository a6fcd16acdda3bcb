/*
 * cli_classify: `spillway classify` and `classify --each`, every line of
 * the inputs classified as the daemon would: counted per class for the
 * summary, or printed after its class.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "cli.h"
#include "cli_int.h"
#include "rules.h"

int
cli_classify_stream(const struct ruleset *rs, FILE *in, FILE *each,
    uint64_t *counts, uint64_t *limit_hits)
{
	char		*line = NULL;
	size_t		 cap = 0, len, idx, lineno = 0;
	int		 rv = 0, saved;

	while (cli_next_line(in, &line, &cap, &len, &lineno)) {
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

/* What cli_classify_input() needs of one run of classify. */
struct cli_classify_args {
	const struct ruleset	*rs;
	uint64_t		*counts;
	uint64_t		*hits;
};

static int
cli_classify_input(void *arg, FILE *in, const char *name, FILE *each)
{
	struct cli_classify_args	*c = arg;

	(void)name;
	return cli_classify_stream(c->rs, in, each, c->counts, c->hits);
}

/*
 * classify, and classify --each: exit 0, 1 for invalid rules, 2 when an
 * input cannot be read or the output written.
 */
int
cli_classify_run(const char *cmd, const struct cli_opts *o)
{
	struct ruleset			*rs;
	struct cli_classify_args	 c;
	uint64_t			*counts = NULL, *hits = NULL;
	int				 rv = 1, failed;

	if ((rs = cli_load(o->rules)) == NULL)
		goto done;
	rv = 2;		/* from here on a failure is a runtime one */
	if ((counts = calloc(rs->nclasses, sizeof(*counts))) == NULL ||
	    (hits = calloc(rs->nclasses, sizeof(*hits))) == NULL) {
		fprintf(stderr, "spillway %s: out of memory\n", cmd);
		goto done;
	}
	c.rs = rs;
	c.counts = counts;
	c.hits = hits;
	failed = cli_inputs(cmd, o, cli_classify_input, &c) == -1;
	if (!o->each)
		cli_print_summary(stdout, rs, counts);
	cli_report_hits(cmd, "", rs, hits);
	if (cli_flush(cmd) == 0 && !failed)
		rv = 0;

done:
	free(counts);
	free(hits);
	rules_free(rs);
	return rv;
}
