/*
 * cli: the offline subcommands, `spillway check` and `spillway classify`.
 */
#ifndef SPILLWAY_CLI_H
#define SPILLWAY_CLI_H

/*
 * argv[0] is the subcommand name ("check" / "classify").  Output goes to
 * stdout, errors to stderr.  Return the process exit code (SPEC §1).
 */
int	cli_check(int argc, char **argv);
int	cli_classify(int argc, char **argv);

#endif
