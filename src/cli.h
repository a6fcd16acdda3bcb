/*
 * cli: the offline subcommands, `spillway check` and `spillway classify`.
 * cli_check() and cli_classify() are in cli.c, the pieces of each mode
 * in its file: cli_check.c, cli_classify.c, cli_diff.c, cli_explain.c.
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
 * `spillway tap`: a running spillway's GET /tap, shown as it comes
 * (cli_tap.c).  Returns the exit code.
 */
int	cli_tap(int argc, char **argv);

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

/*
 * `classify --diff OLD NEW`: every event classified under both rule sets.
 * cli_diff_new() borrows both sets, which must outlive it (NULL without
 * memory).  cli_diff_stream() reads the non-blank lines of `in` as
 * cli_classify_stream() does and counts each (old class, new class)
 * pair; with `each` not NULL it writes "OLD\tNEW\tLINE\n" there for every
 * line whose class name changed.  Returns 0, or -1 on a read error or
 * without memory (errno set).
 */
struct cli_diff;

struct cli_diff	*cli_diff_new(const struct ruleset *old,
		    const struct ruleset *new);
int		 cli_diff_stream(struct cli_diff *d, FILE *in, FILE *each);
void		 cli_diff_free(struct cli_diff *d);

/*
 * Print the report of --diff (docs/rules.md, "Dry runs"), columns aligned
 * and separated by at least two spaces, no cell holding a space:
 *
 *   old_class new_class events share priority
 *     one row per pair with events, pairs whose class name changed
 *     first; each group by events, largest first, then by the old
 *     class's and the new class's place in their rules; share of all
 *     events as "12.3%"; priority as "OLD->NEW".
 *   (blank line)
 *   class priority old_events new_events delta new_share note
 *     the new rules' classes in order, then classes only in the old
 *     rules, then the new default class and _invalid; delta "+N", "-N"
 *     or "0"; note "-", "added", "removed" or "priority:OLD->NEW".
 *   (blank line)
 *   N events, M moved (x.x%)
 *
 * Returns 0, or -1 without memory.
 */
int		 cli_diff_print(FILE *fp, const struct cli_diff *d);

/*
 * `classify --explain`: for the event `raw` (len bytes, no newline),
 * print on fp a header "WHERE: LINE", then every class tried with each
 * condition's result and why, and the class chosen (docs/rules.md, "Dry
 * runs").  limit_hits as for classify().  Returns 0, or -1 without
 * memory.
 */
int	cli_explain_line(FILE *fp, const struct ruleset *rs, const char *where,
	    const char *raw, size_t len, uint64_t *limit_hits);

/*
 * cli_explain_line() for every non-blank line of `in`, WHERE being
 * "NAME:LINENO", each explanation followed by a blank line.  Returns 0,
 * or -1 on a read error or without memory (errno set).
 */
int	cli_explain_stream(const struct ruleset *rs, FILE *in,
	    const char *name, FILE *out, uint64_t *limit_hits);

#endif
