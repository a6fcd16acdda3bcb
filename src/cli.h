/*
 * cli: the offline subcommands, `spillway check` and `spillway classify`.
 */
#ifndef SPILLWAY_CLI_H
#define SPILLWAY_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "rules.h"

/*
 * argv[0] is the subcommand name ("check" / "classify").  Output goes to
 * stdout, errors to stderr.  Return the process exit code (SPEC §1).
 */
int	cli_check(int argc, char **argv);
int	cli_classify(int argc, char **argv);

/*
 * The pieces of the two commands, pure over their streams so that tests
 * can compare output byte for byte.
 */

/*
 * Print the class table of `check` on fp: a header, then one line per
 * class (rules in order, default, _invalid), columns aligned.  Returns 0,
 * or -1 when out of memory.
 */
int	cli_print_table(FILE *fp, const struct ruleset *rs);

/*
 * Classify every non-blank line of `in` (a trailing "\r" is stripped):
 * counts[class] is incremented, limit_hits as classify() does (may be
 * NULL), and when `each` is not NULL "CLASS\tLINE\n" is written to it.
 * Both arrays hold rs->nclasses entries.  Returns 0, or -1 on a read
 * error (errno set).
 */
int	cli_classify_stream(const struct ruleset *rs, FILE *in, FILE *each,
	    uint64_t *counts, uint64_t *limit_hits);

/*
 * Print the summary of `classify`: "class priority events share", then
 * "NAME PRIORITY COUNT SHARE%" per class in rule order, default, _invalid.
 */
void	cli_print_summary(FILE *fp, const struct ruleset *rs,
	    const uint64_t *counts);

#endif
