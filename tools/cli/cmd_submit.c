/* cmd_submit.c - `sandq submit FILE --function F ...`: check the job
 * locally with the worker's own validator, enqueue it in one MULTI/EXEC
 * (PROTOCOL.md "Enqueue"), and optionally wait for it. */
#include "args.h"
#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "fileio.h"
#include "job.h"
#include "keys.h"
#include "output.h"
#include "parse.h"
#include "show_job.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define CODE_MAX_BYTES (64u << 20)
#define HSET_MAX_ARGS 32

enum {
    OPT_FUNCTION = 256, OPT_ARGS, OPT_CALLS, OPT_KWARGS, OPT_QUEUE, OPT_ID,
    OPT_LIMIT_TIME, OPT_LIMIT_MEMORY, OPT_LIMIT_OUTPUT, OPT_RESULT_TTL,
    OPT_WAIT, OPT_TIMEOUT,
};

/* A numeric option and the job field it becomes. */
struct number_opt {
    const char *flag, *field;
    char text[16]; /* "" when not given */
};

struct submit_opts {
    const char *function, *args, *calls, *kwargs, *queue, *id;
    struct number_opt numbers[4]; /* OPT_LIMIT_TIME .. OPT_RESULT_TTL */
    bool wait, timeout_given;
    long long timeout_ms;
};

static const struct option submit_options[] = {
    {"function", required_argument, NULL, OPT_FUNCTION},
    {"args", required_argument, NULL, OPT_ARGS},
    {"calls", required_argument, NULL, OPT_CALLS},
    {"kwargs", required_argument, NULL, OPT_KWARGS},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"id", required_argument, NULL, OPT_ID},
    {"limit-time-ms", required_argument, NULL, OPT_LIMIT_TIME},
    {"limit-memory-mb", required_argument, NULL, OPT_LIMIT_MEMORY},
    {"limit-output-kb", required_argument, NULL, OPT_LIMIT_OUTPUT},
    {"result-ttl", required_argument, NULL, OPT_RESULT_TTL},
    {"wait", no_argument, NULL, OPT_WAIT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {0},
};

static const char submit_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] submit FILE --function F\n"
    "             [--args JSON | --calls JSON] [--kwargs JSON] [--queue Q]\n"
    "             [--id ID] [--limit-time-ms N] [--limit-memory-mb N]\n"
    "             [--limit-output-kb N] [--result-ttl S] [--wait [--timeout S]]\n"
    "\n"
    "Enqueue the Python code in FILE ('-' reads stdin) as one job calling F,\n"
    "and print its id. The job is checked first with the worker's own rules;\n"
    "a job the worker would call invalid is refused here (exit 2).\n"
    "\n"
    "  --function F        the top-level function of FILE to call (required)\n"
    "  --args JSON         positional arguments, a JSON array (default [])\n"
    "  --kwargs JSON       keyword arguments, a JSON object (default {})\n"
    "  --calls JSON        batch: a JSON array of argument arrays; not with\n"
    "                      --args or --kwargs\n"
    "  --queue Q           queue to push on (default: default)\n"
    "  --id ID             job id (default: 32 random hex digits); an id whose\n"
    "                      job still exists is refused\n"
    "  --limit-time-ms N   wall-clock limit (the worker clamps it)\n"
    "  --limit-memory-mb N memory limit (the worker clamps it)\n"
    "  --limit-output-kb N cap on printed output and on the result\n"
    "  --result-ttl S      seconds the finished job is kept (default 86400)\n"
    "  --wait              wait for the job and exit by its status, as\n"
    "                      'sandq wait' does\n"
    "  --timeout S         with --wait: give up after S seconds (exit 4)\n";

/* Store a positive number option as canonical decimal text. */
static int number_option(struct cli *cli, struct number_opt *n, const char *arg)
{
    unsigned v;
    if (args_parse_positive(arg, &v) < 0) {
        snprintf(cli->err, sizeof(cli->err),
                 "%s '%s' must be a whole number of at least 1", n->flag, arg);
        return -EINVAL;
    }
    snprintf(n->text, sizeof(n->text), "%u", v);
    return 0;
}

/* One option of submit into the options struct; values are checked here
 * when they need no file or Redis (numbers, --timeout). */
static int submit_option(struct cli *cli, void *data, int val, const char *arg)
{
    struct submit_opts *o = data;
    switch (val) {
    case OPT_FUNCTION: o->function = arg; return 0;
    case OPT_ARGS: o->args = arg; return 0;
    case OPT_CALLS: o->calls = arg; return 0;
    case OPT_KWARGS: o->kwargs = arg; return 0;
    case OPT_QUEUE: o->queue = arg; return 0;
    case OPT_ID: o->id = arg; return 0;
    case OPT_WAIT: o->wait = true; return 0;
    case OPT_LIMIT_TIME:
    case OPT_LIMIT_MEMORY:
    case OPT_LIMIT_OUTPUT:
    case OPT_RESULT_TTL:
        return number_option(cli, &o->numbers[val - OPT_LIMIT_TIME], arg);
    default:
        o->timeout_given = true;
        if (args_parse_seconds_ms(arg, &o->timeout_ms) == 0)
            return 0;
        snprintf(cli->err, sizeof(cli->err),
                 "--timeout '%s' must be seconds, e.g. 30 or 0.5", arg);
        return -EINVAL;
    }
}

/* The whole of FILE ("-": stdin), at most CODE_MAX_BYTES. */
static int read_code(const char *path, char **ret, size_t *ret_len)
{
    _cleanup_close_ int fd =
        strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return fd_read_all(fd, CODE_MAX_BYTES, ret, ret_len);
}

/* 32 random hex digits: unique without asking Redis. */
static int random_id(char out[33])
{
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
        return -EIO;
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

/* The job's fields as HSET arguments, enqueued_at and status included. */
struct fields {
    const char *argv[HSET_MAX_ARGS];
    size_t lens[HSET_MAX_ARGS];
    int n;
    char enqueued_at[24];
};

/* Append "name value" to the HSET argv (value binary-safe). */
static void add_field(struct fields *f, const char *name, const char *value,
                      size_t len)
{
    f->argv[f->n] = name;
    f->lens[f->n++] = strlen(name);
    f->argv[f->n] = value;
    f->lens[f->n++] = len;
}

/* The whole HSET argv; only given options become fields, so the worker
 * applies its own defaults to the rest. */
static void build_fields(const struct submit_opts *o, const char *code,
                         size_t code_len, struct fields *f)
{
    snprintf(f->enqueued_at, sizeof(f->enqueued_at), "%lld", clock_wall_ms());
    f->n = 2; /* room for HSET and the key */
    add_field(f, "code", code, code_len);
    add_field(f, "function", o->function, strlen(o->function));
    if (o->args)
        add_field(f, "args", o->args, strlen(o->args));
    if (o->kwargs)
        add_field(f, "kwargs", o->kwargs, strlen(o->kwargs));
    if (o->calls)
        add_field(f, "calls", o->calls, strlen(o->calls));
    for (size_t i = 0; i < ARRAY_SIZE(o->numbers); i++)
        if (o->numbers[i].text[0])
            add_field(f, o->numbers[i].field, o->numbers[i].text,
                      strlen(o->numbers[i].text));
    add_field(f, "queue", o->queue, strlen(o->queue));
    add_field(f, "status", "queued", 6);
    add_field(f, "enqueued_at", f->enqueued_at, strlen(f->enqueued_at));
}

/* Run the worker's validator over the fields, with no size caps (the
 * worker applies its own): what it would call invalid is a usage error. */
static int check_job(const struct cli *cli, const struct fields *f)
{
    struct job_field fields[HSET_MAX_ARGS / 2];
    struct job_policy policy = {
        .time_ms_default = 1, .time_ms_max = 0xffffffffu,
        .memory_mb_default = 1, .memory_mb_max = 0xffffffffu,
        .output_kb_default = 1, .output_kb_max = 0xffffffffu,
        .code_max_bytes = SIZE_MAX, .args_max_bytes = SIZE_MAX,
        .result_ttl_default = 86400, .result_ttl_max = 0xffffffffu,
        .max_attempts_default = 3,
    };
    struct job *job = NULL;
    _cleanup_free_ char *error = NULL;
    size_t n = 0;
    for (int i = 2; i + 1 < f->n; i += 2)
        fields[n++] = (struct job_field){f->argv[i], f->argv[i + 1], f->lens[i + 1]};
    int r = job_parse(fields, n, &policy, &job, &error);
    job_free(job);
    if (r == -EINVAL)
        return out_usage(cli, "submit", "the worker would reject this job as "
                                        "invalid: %s", error);
    if (r < 0)
        return out_fail(cli, EXIT_ERROR, "out of memory");
    return EXIT_OK;
}

/* Send one command inside MULTI and check that Redis queued it. */
static int queue_command(struct cli *cli, int argc, const char **argv,
                         const size_t *lens)
{
    _cleanup_reply_ redisReply *r = NULL;
    return conn_command_argv(cli, &r, argc, argv, lens);
}

/* WATCH the job key so that a job created under the same id between the
 * check and EXEC makes EXEC fail instead of being overwritten. 1 when the
 * id is taken. */
static int id_taken(struct cli *cli, const char *key)
{
    _cleanup_reply_ redisReply *w = NULL;
    _cleanup_reply_ redisReply *e = NULL;
    _cleanup_reply_ redisReply *u = NULL;
    long long n;
    int r;
    if ((r = conn_command(cli, &w, "WATCH %s", key)) < 0 ||
        (r = conn_command(cli, &e, "EXISTS %s", key)) < 0 ||
        (r = reply_integer(cli, e, &n)) < 0)
        return r;
    if (n && (r = conn_command(cli, &u, "UNWATCH")) < 0)
        return r;
    return n != 0;
}

/* PROTOCOL.md "Enqueue": HSET the job and LPUSH its id in one MULTI/EXEC.
 * 1 when the id was taken (nothing written). */
static int enqueue(struct cli *cli, const char *id, const char *queue,
                   struct fields *f)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    _cleanup_free_ char *qkey = keys_make(cli->prefix, KEY_QUEUE, queue);
    _cleanup_reply_ redisReply *exec = NULL;
    const char *multi[] = {"MULTI"}, *lpush[] = {"LPUSH", qkey, id};
    int r;
    if (!key || !qkey)
        return -ENOMEM;
    if ((r = id_taken(cli, key)) != 0)
        return r;
    f->argv[0] = "HSET";
    f->lens[0] = 4;
    f->argv[1] = key;
    f->lens[1] = strlen(key);
    if ((r = queue_command(cli, 1, multi, NULL)) < 0 ||
        (r = queue_command(cli, f->n, f->argv, f->lens)) < 0 ||
        (r = queue_command(cli, 3, lpush, NULL)) < 0 ||
        (r = conn_command(cli, &exec, "EXEC")) < 0)
        return r;
    return exec->type == REDIS_REPLY_NIL ? 1 : 0;
}

/* What submit prints once the job is in Redis (without --wait). */
static int print_submitted(const struct cli *cli, const char *id,
                           const char *queue)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    char hint[512];
    if (cli->json)
        return out_json(json_pack("{s:s, s:s, s:s}", "id", id, "queue", queue,
                                  "status", "queued")) < 0 ? EXIT_ERROR : EXIT_OK;
    snprintf(hint, sizeof(hint), "HGETALL %s", key ? key : "?");
    out_line(cli, hint, "%s", id);
    return EXIT_OK;
}

/* Flags and operands that do not depend on the file or on Redis. */
static int check_options(const struct cli *cli, const struct submit_opts *o,
                         int argc, int first)
{
    if (argc - first != 1)
        return out_usage(cli, "submit", "expected one FILE ('-' for stdin), "
                                        "got %d arguments", argc - first);
    if (!o->function)
        return out_usage(cli, "submit", "--function is required");
    if (o->timeout_given && !o->wait)
        return out_usage(cli, "submit", "--timeout only makes sense with --wait");
    if (o->id && !parse_is_name(o->id, strlen(o->id)))
        return out_usage(cli, "submit", "--id '%s' is not a job id (1-128 "
                                        "characters of A-Z a-z 0-9 . _ : -)", o->id);
    return EXIT_OK;
}

/* Read FILE, build and check the job; the code buffer is the caller's. */
static int prepare(const struct cli *cli, const struct submit_opts *o,
                   const char *path, char **code, struct fields *f)
{
    size_t len = 0;
    int r = read_code(path, code, &len);
    if (r == -EFBIG)
        return out_usage(cli, "submit", "'%s' is over %u MiB", path,
                         CODE_MAX_BYTES >> 20);
    if (r < 0)
        return out_usage(cli, "submit", "cannot read '%s': %s", path, strerror(-r));
    build_fields(o, *code, len, f);
    return check_job(cli, f);
}

int cmd_submit(struct cli *cli, int argc, char **argv)
{
    struct submit_opts o = {
        .queue = "default", .timeout_ms = -1,
        .numbers = {{"--limit-time-ms", "limit_time_ms", ""},
                    {"--limit-memory-mb", "limit_memory_mb", ""},
                    {"--limit-output-kb", "limit_output_kb", ""},
                    {"--result-ttl", "result_ttl", ""}}};
    _cleanup_free_ char *code = NULL;
    struct fields f = {0};
    char id_buf[33];
    int first, r, exit_code;
    if (args_parse(cli, argc, argv, submit_options, submit_option, &o, 0, &first) < 0)
        return out_usage(cli, "submit", "%s", cli->err);
    if (cli->help)
        return fputs(submit_usage, stdout), EXIT_OK;
    if ((exit_code = check_options(cli, &o, argc, first)) != EXIT_OK ||
        (exit_code = prepare(cli, &o, argv[first], &code, &f)) != EXIT_OK)
        return exit_code;
    if (!o.id && random_id(id_buf) < 0)
        return out_fail(cli, EXIT_ERROR, "cannot make a random job id");
    const char *id = o.id ? o.id : id_buf;
    if ((r = conn_open(cli)) < 0 || (r = enqueue(cli, id, o.queue, &f)) < 0)
        return out_fail_conn(cli, r);
    if (r == 1)
        return out_fail(cli, EXIT_ERROR, "job '%s' already exists; choose "
                                         "another --id", id);
    if (!o.wait)
        return print_submitted(cli, id, o.queue);
    if (!cli->json)
        print_submitted(cli, id, o.queue);
    return show_job_wait(cli, id, o.timeout_ms);
}
