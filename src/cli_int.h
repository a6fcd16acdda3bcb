/*
 * cli_int: what the files of the offline commands share, for them alone.
 * cli.c parses the command line and hands the options to one mode:
 * cli_check.c, cli_classify.c, cli_diff.c (--diff) or cli_explain.c
 * (--explain).  What tests call is in cli.h.
 */
#ifndef SPILLWAY_CLI_INT_H
#define SPILLWAY_CLI_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules.h"

#define CLI_MAXCOLS	8	/* columns of a cli_align() table, at most */

/* The command line of both commands, as cli_parse() leaves it. */
struct cli_opts {
	const char	 *rules;
	const char	 *old;		/* --diff OLD NEW */
	const char	 *new;
	int		  each;
	int		  explain;
	int		  help;
	const char	**files;	/* borrowed from argv */
	size_t		  nfiles;
};

/*
 * The modes, once the options are parsed (for classify, files holds at
 * least one name, "-" for stdin).  cmd is the subcommand's name, for
 * messages.  Each returns the process exit code; the comment over each
 * says which.
 */
int	cli_check_run(const char *cmd, const struct cli_opts *o);
int	cli_classify_run(const char *cmd, const struct cli_opts *o);
int	cli_diff_run(const char *cmd, const struct cli_opts *o);
int	cli_explain_run(const char *cmd, const struct cli_opts *o);

/*
 * Load the rules file `path` (NULL: the built-in rules); NULL after
 * saying why on stderr.
 */
struct ruleset	*cli_load(const char *path);

/*
 * Read one input: `in` is borrowed, `name` is what messages call it
 * ("(stdin)" for "-"), and `each` is stdout with --each, else NULL.
 * Returns 0, or -1 on a read error or without memory (errno set).
 */
typedef int	 cli_input_fn(void *arg, FILE *in, const char *name,
		    FILE *each);

/*
 * Call fn(arg, ...) on each input of o in turn ("-": stdin, which may be
 * named more than once).  An input that cannot be opened or read is
 * reported on stderr and the others still run.  Returns 0, or -1 when
 * any of them failed.
 */
int	 cli_inputs(const char *cmd, const struct cli_opts *o,
	    cli_input_fn *fn, void *arg);

/*
 * The next non-blank line of `in`, without its "\n" or "\r\n", in *line
 * (getline's buffer); *lineno counts every line read.  Returns 1, or 0
 * at the end or on a read error (see ferror).
 */
int	 cli_next_line(FILE *in, char **line, size_t *cap, size_t *len,
	    size_t *lineno);

/* Flush stdout; -1 after saying on stderr that output was lost. */
int	 cli_flush(const char *cmd);

/*
 * On stderr, one line for each class of rs whose regexes hit the match
 * limit (hits: rs->nclasses counters), `which` before the class.
 */
void	 cli_report_hits(const char *cmd, const char *which,
	    const struct ruleset *rs, const uint64_t *hits);

/*
 * Print nrows x ncols cells (row by row, ncols at most CLI_MAXCOLS) in
 * columns two spaces apart, left-aligned, without trailing blanks.
 */
void	 cli_align(FILE *fp, char *const *cells, size_t nrows, size_t ncols);

/* A condition as check and --explain show it, e.g. `level =~ /^E/i`. */
void	 cli_cond(FILE *fp, const struct cond *c);

#endif
