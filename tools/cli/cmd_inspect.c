/* cmd_inspect.c - `sandq status ID` and `sandq wait ID`: look at one job,
 * or wait for it to end (exit code by its final status). */
#include "args.h"
#include "cli.h"
#include "conn.h"
#include "output.h"
#include "parse.h"
#include "show_job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum { OPT_TIMEOUT = 256 };

struct wait_opts {
    long long timeout_ms; /* < 0: no limit */
};

static const char status_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] status ID\n"
    "\n"
    "Show every field of job ID (the code shortened), and when its hash\n"
    "expires. Exit 0 when the job exists, 5 when it does not.\n";

static const char wait_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] wait ID [--timeout S]\n"
    "\n"
    "Wait until job ID ends, then show its result or error. The exit code\n"
    "says how it ended: 0 succeeded, 10 failed, 11 rejected, 12 invalid,\n"
    "13 timeout, 14 memory_limit, 15 output_limit, 16 violation, 17 crashed,\n"
    "18 lost, 19 canceled; 4 when --timeout S passed first, 5 no such job.\n"
    "\n"
    "  --timeout S   give up after S seconds (decimals allowed)\n";

/* The one operand of status and wait: a valid job id. */
static int job_id_operand(const struct cli *cli, const char *cmd, int argc,
                          char **argv, int first, const char **ret_id)
{
    if (argc - first != 1)
        return out_usage(cli, cmd, "expected one job id, got %d arguments",
                         argc - first);
    if (!parse_is_name(argv[first], strlen(argv[first])))
        return out_usage(cli, cmd, "'%s' is not a job id (1-128 characters of "
                                   "A-Z a-z 0-9 . _ : -)", argv[first]);
    *ret_id = argv[first];
    return EXIT_OK;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    const char *id = NULL;
    int first, r, code;
    if (args_parse(cli, argc, argv, NULL, args_no_options, NULL, 0, &first) < 0)
        return out_usage(cli, "status", "%s", cli->err);
    if (cli->help)
        return fputs(status_usage, stdout), EXIT_OK;
    if ((code = job_id_operand(cli, "status", argc, argv, first, &id)) != EXIT_OK)
        return code;
    if ((r = conn_open(cli)) < 0)
        return out_fail_conn(cli, r);
    return show_job_status(cli, id);
}

/* --timeout S, the only option of wait. */
static int wait_option(struct cli *cli, void *data, int val, const char *arg)
{
    struct wait_opts *o = data;
    if (args_parse_seconds_ms(arg, &o->timeout_ms) < 0) {
        snprintf(cli->err, sizeof(cli->err),
                 "--timeout '%s' must be seconds, e.g. 30 or 0.5", arg);
        return -EINVAL;
    }
    return 0;
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, OPT_TIMEOUT}, {0}};
    struct wait_opts o = {.timeout_ms = -1};
    const char *id = NULL;
    int first, r, code;
    if (args_parse(cli, argc, argv, opts, wait_option, &o, 0, &first) < 0)
        return out_usage(cli, "wait", "%s", cli->err);
    if (cli->help)
        return fputs(wait_usage, stdout), EXIT_OK;
    if ((code = job_id_operand(cli, "wait", argc, argv, first, &id)) != EXIT_OK)
        return code;
    if ((r = conn_open(cli)) < 0)
        return out_fail_conn(cli, r);
    return show_job_wait(cli, id, o.timeout_ms);
}
