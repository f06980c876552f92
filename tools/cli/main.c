/* main.c - `sandq`: the global flags, the command table, the only exit. */
#include "args.h"
#include "cli.h"
#include "conn.h"
#include "keys.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_REDIS_URL "redis://127.0.0.1:6379/0"

static const struct {
    const char *name;
    cli_command_fn *run;
    const char *summary;
} commands[] = {
    {"submit", cmd_submit, "enqueue a Python function call (and wait for it)"},
    {"status", cmd_status, "show every field of a job"},
    {"wait", cmd_wait, "wait for a job; exit code by its final status"},
    {"stats", cmd_stats, "queues, running jobs, workers, dead list, totals"},
    {"workers", cmd_workers, "the workers: alive or dead, slots, jobs done"},
    {"requeue-dead", cmd_requeue_dead, "put lost jobs back on their queue"},
    {"cancel", cmd_cancel, "cancel a queued or running job"},
    {"purge", cmd_purge, "cancel every job waiting on a queue"},
    {"pause", cmd_pause, "stop workers taking from a queue"},
    {"resume", cmd_resume, "let workers take from a queue again"},
};

/* The overall --help: global flags and the command list. */
static void print_usage(FILE *out)
{
    fputs("usage: sandq [--redis URL] [--prefix P] [--json] COMMAND [ARGS]\n"
          "\n"
          "  --redis URL   redis://[[user]:password@]host[:port][/db] or\n"
          "                unix://[[user]:password@]/path[?db=N]\n"
          "                (default $SANDQ_REDIS_URL, else " DEFAULT_REDIS_URL ")\n"
          "  --prefix P    prefix of every key (default sandq)\n"
          "  --json        one JSON object per command on stdout\n"
          "  --help        this help; 'sandq COMMAND --help' for a command\n"
          "\ncommands:\n", out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fputs("\nexit codes: 0 ok, 1 error, 2 usage, 3 Redis unreachable, 4 wait\n"
          "timed out, 5 no such job, 10-19 the job's final status (see\n"
          "'sandq wait --help').\n", out);
}

/* Global flags in front of the command; returns the command's index in
 * argv, or an exit code through *ret_code. */
static int parse_globals(struct cli *cli, int argc, char **argv, int *ret_code)
{
    int first;
    if (args_parse(cli, argc, argv, NULL, args_no_options, NULL, 1, &first) < 0) {
        fprintf(stderr, "sandq: %s\nTry 'sandq --help'.\n", cli->err);
        return *ret_code = EXIT_USAGE, -1;
    }
    if (first >= argc) {
        print_usage(cli->help ? stdout : stderr);
        return *ret_code = cli->help ? EXIT_OK : EXIT_USAGE, -1;
    }
    return first;
}

/* Find and run the command at argv[0]. */
static int dispatch(struct cli *cli, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        if (strcmp(argv[0], commands[i].name) != 0)
            continue;
        return commands[i].run(cli, argc, argv);
    }
    if (strcmp(argv[0], "help") == 0) {
        print_usage(stdout);
        return EXIT_OK;
    }
    fprintf(stderr, "sandq: unknown command '%s'\nTry 'sandq --help'.\n", argv[0]);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *env = getenv("SANDQ_REDIS_URL");
    struct cli cli = {
        .redis_url = env && *env ? env : DEFAULT_REDIS_URL,
        .prefix = KEYS_DEFAULT_PREFIX,
    };
    int code = EXIT_OK;
    signal(SIGPIPE, SIG_IGN);
    int first = parse_globals(&cli, argc, argv, &code);
    if (first >= 0)
        code = dispatch(&cli, argc - first, argv + first);
    conn_close(&cli);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        perror("sandq: writing output");
        return code == EXIT_OK ? EXIT_ERROR : code;
    }
    return code;
}
