/* args.h - parsing one command's argv: its own options plus the global
 * ones (--redis, --prefix, --json, --help), accepted before or after the
 * command name, and the strict value parsers the options need. */
#ifndef SANDQ_CLI_ARGS_H
#define SANDQ_CLI_ARGS_H

#include "cli.h"

#include <getopt.h>

/* Called for each of the command's own options: its `val` and its argument
 * (NULL for a flag). Returns 0, or -EINVAL after storing a message in
 * cli->err. */
typedef int args_option_fn(struct cli *cli, void *data, int val,
                           const char *arg);

/* Parse argv (argv[0] is the command name) with the command's options
 * (`own`, terminated by a zero entry, `val` >= 256; NULL for none). With
 * stop_at_operand, parsing stops at the first operand (the global flags in
 * front of a command). On success *ret_operands is the index of the first
 * operand in the permuted argv. -EINVAL with a message in cli->err on a
 * bad option. */
int args_parse(struct cli *cli, int argc, char **argv,
               const struct option *own, args_option_fn *fn, void *data,
               int stop_at_operand, int *ret_operands);

/* An args_option_fn for commands without options of their own. */
args_option_fn args_no_options;

/* Seconds, "2" or "0.25" (at most millisecond precision), into ms.
 * -EINVAL on anything else, -ERANGE above ten years. */
int args_parse_seconds_ms(const char *s, long long *ret_ms);

/* A decimal integer >= 1 that fits an unsigned int. -EINVAL otherwise. */
int args_parse_positive(const char *s, unsigned *ret);

#endif
