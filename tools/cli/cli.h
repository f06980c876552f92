/* cli.h - the `sandq` command line: the context every command gets, the
 * exit codes, and one entry point per command.
 *
 * A command parses its own argv (args.h), connects (conn.h), talks to
 * Redis, prints through output.h and returns an exit code; only main()
 * exits. */
#ifndef SANDQ_CLI_H
#define SANDQ_CLI_H

#include "redis_url.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>

/* Exit codes (docs/cli.md has the table). 10..19 follow the job's status;
 * exit_codes.h maps them. */
enum cli_exit {
    EXIT_OK = 0,
    EXIT_ERROR = 1,       /* anything else: a Redis error reply, out of memory */
    EXIT_USAGE = 2,       /* bad flags, arguments or JSON */
    EXIT_UNREACHABLE = 3, /* cannot connect to Redis, or the connection broke */
    EXIT_WAIT_TIMEOUT = 4,
    EXIT_MISSING = 5,     /* no such job */
};

/* Everything a command needs; one per process, passed by pointer. */
struct cli {
    /* global flags */
    const char *redis_url; /* borrowed: argv, the environment or a literal */
    const char *prefix;    /* borrowed */
    bool json;
    bool help;
    /* set by conn_open() */
    struct redis_url url;
    redisContext *rc;
    char *redis_cli;       /* "redis-cli -p 6390" for the hints; malloc'd */
    char err[512];         /* detail of the last conn_* failure */
};

/* One command: argv[0] is its name. Returns the process exit code. */
typedef int cli_command_fn(struct cli *cli, int argc, char **argv);

cli_command_fn cmd_submit;
cli_command_fn cmd_status;
cli_command_fn cmd_wait;
cli_command_fn cmd_stats;
cli_command_fn cmd_workers;
cli_command_fn cmd_requeue_dead;
cli_command_fn cmd_cancel;
cli_command_fn cmd_purge;
cli_command_fn cmd_pause;
cli_command_fn cmd_resume;

#endif
