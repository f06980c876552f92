/* cmd_admin.c - the operator commands: requeue-dead, cancel, purge, pause,
 * resume. Each change is one Lua script or one MULTI/EXEC. */
#include "admin_scripts.h"
#include "args.h"
#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "keys.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HINT_MAX 600

static const char requeue_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] requeue-dead [ID...]\n"
    "\n"
    "Put lost jobs (all on the dead list, or the IDs given) back on the\n"
    "consuming end of their queue: status queued, attempts 0, error fields\n"
    "and expiry removed. Jobs that are not lost are left alone.\n";

static const char cancel_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] cancel ID\n"
    "\n"
    "Cancel job ID: a queued job becomes canceled at once; a running job is\n"
    "marked cancel_requested and its worker kills it and writes canceled; a\n"
    "finished job is left alone. Exit 5 when there is no such job.\n";

static const char purge_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] purge QUEUE\n"
    "\n"
    "Atomically take every id off QUEUE and cancel each job still queued\n"
    "(error 'purged from queue'). Prints how many were canceled.\n";

static const char pause_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] pause QUEUE\n"
    "       sandq [--redis URL] [--prefix P] [--json] resume QUEUE\n"
    "\n"
    "pause: no worker takes new jobs from QUEUE (running jobs go on).\n"
    "resume: workers take from it again.\n";

/* Parse a command with no options of its own and check its operands:
 * between min and max of them, each a valid name. EXIT_OK to go on, a
 * code to return otherwise (also EXIT_OK after --help: *ret_done set). */
static int parse_names(struct cli *cli, int argc, char **argv, const char *usage,
                       size_t min, size_t max, int *ret_first, bool *ret_done)
{
    const char *cmd = argv[0];
    if (args_parse(cli, argc, argv, NULL, args_no_options, NULL, 0, ret_first) < 0)
        return out_usage(cli, cmd, "%s", cli->err);
    if (cli->help) {
        *ret_done = true;
        return fputs(usage, stdout), EXIT_OK;
    }
    size_t n = (size_t)(argc - *ret_first);
    if (n < min || n > max)
        return out_usage(cli, cmd, min == max ? "expected %zu argument, got %zu"
                                              : "expected at least %zu "
                                                "arguments, got %zu", min, n);
    for (int i = *ret_first; i < argc; i++)
        if (!parse_is_name(argv[i], strlen(argv[i])))
            return out_usage(cli, cmd, "'%s' is not a valid name (1-128 "
                                       "characters of A-Z a-z 0-9 . _ : -)",
                             argv[i]);
    return EXIT_OK;
}

/* EVAL a script with the given keys and arguments. */
static int eval(struct cli *cli, redisReply **ret, const char *script,
                int n_keys, const char **keys_and_args, int n)
{
    const char *argv[8];
    char numkeys[8];
    if (n + 3 > (int)ARRAY_SIZE(argv))
        return -E2BIG;
    snprintf(numkeys, sizeof(numkeys), "%d", n_keys);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = numkeys;
    memcpy(argv + 3, keys_and_args, (size_t)n * sizeof(*argv));
    return conn_command_argv(cli, ret, n + 3, argv, NULL);
}

/* What requeue-dead did, for the report. */
struct requeue_report {
    json_t *requeued, *skipped, *dropped; /* arrays */
    long long n_requeued;
};

/* The ids to requeue: the operands, or everything on P:dead. The reply
 * (when read) is the caller's, and ids point into it or into argv. */
static int dead_ids(struct cli *cli, int argc, char **argv, int first,
                    redisReply **ret_list, const char ***ret_ids, size_t *ret_n)
{
    _cleanup_free_ char *dead = keys_make(cli->prefix, KEY_DEAD, NULL);
    size_t n = first < argc ? (size_t)(argc - first) : 0;
    int r;
    if (!dead)
        return -ENOMEM;
    if (n == 0) {
        if ((r = conn_command(cli, ret_list, "LRANGE %s 0 -1", dead)) < 0)
            return r;
        n = (*ret_list)->type == REDIS_REPLY_ARRAY ? (*ret_list)->elements : 0;
    }
    const char **ids = calloc(n ? n : 1, sizeof(*ids));
    if (!ids)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = *ret_list ? (*ret_list)->element[i]->str : argv[first + (int)i];
    *ret_ids = ids;
    *ret_n = n;
    return 0;
}

/* Run the requeue script for one id and note what happened. */
static int requeue_one(struct cli *cli, const char *id,
                       struct requeue_report *rep)
{
    _cleanup_free_ char *job = keys_make(cli->prefix, KEY_JOB, id);
    _cleanup_free_ char *dead = keys_make(cli->prefix, KEY_DEAD, NULL);
    _cleanup_reply_ redisReply *res = NULL;
    int r;
    if (!job || !dead)
        return -ENOMEM;
    const char *ka[] = {job, dead, cli->prefix, id};
    if ((r = eval(cli, &res, script_requeue_dead, 2, ka, 4)) < 0)
        return r;
    json_t *jid = out_json_text(id, strlen(id));
    if (reply_is(res, "requeued")) {
        rep->n_requeued++;
        r = json_array_append_new(rep->requeued, jid);
    } else if (reply_is(res, "gone")) {
        r = json_array_append_new(rep->dropped, jid);
    } else {
        const char *st = res->str ? res->str : "?";
        r = json_array_append_new(rep->skipped,
                                  json_pack("{s:o, s:o}", "id", jid, "status",
                                            out_json_text(st, strlen(st))));
    }
    return r < 0 ? -ENOMEM : 0;
}

/* Human lines for requeue-dead. */
static void print_requeue(const struct cli *cli, const struct requeue_report *rep)
{
    char hint[HINT_MAX];
    size_t i;
    json_t *v;
    snprintf(hint, sizeof(hint), "LRANGE %s:%s 0 -1", cli->prefix, KEY_DEAD);
    out_line(cli, hint, "requeued %lld job(s)", rep->n_requeued);
    json_array_foreach(rep->skipped, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        snprintf(hint, sizeof(hint), "HGET %s:%s:%s status", cli->prefix,
                 KEY_JOB, id);
        out_line(cli, hint, "skipped %s: status %s, not lost", id,
                 json_string_value(json_object_get(v, "status")));
    }
    json_array_foreach(rep->dropped, i, v) {
        snprintf(hint, sizeof(hint), "EXISTS %s:%s:%s", cli->prefix, KEY_JOB,
                 json_string_value(v));
        out_line(cli, hint, "dropped %s from the dead list: its job expired",
                 json_string_value(v));
    }
}

int cmd_requeue_dead(struct cli *cli, int argc, char **argv)
{
    _cleanup_reply_ redisReply *list = NULL;
    _cleanup_free_ const char **ids = NULL;
    struct requeue_report rep = {json_array(), json_array(), json_array(), 0};
    size_t n = 0;
    bool done = false;
    int first, r, code = parse_names(cli, argc, argv, requeue_usage, 0,
                                     (size_t)-1, &first, &done);
    if (code != EXIT_OK || done)
        goto out;
    if ((r = conn_open(cli)) < 0 ||
        (r = dead_ids(cli, argc, argv, first, &list, &ids, &n)) < 0) {
        code = out_fail_conn(cli, r);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if ((r = requeue_one(cli, ids[i], &rep)) < 0) {
            code = out_fail_conn(cli, r);
            goto out;
        }
    if (cli->json)
        code = out_json(json_pack("{s:I, s:O, s:O, s:O}", "count",
                                  (json_int_t)rep.n_requeued, "requeued",
                                  rep.requeued, "skipped", rep.skipped,
                                  "dropped", rep.dropped)) < 0 ? EXIT_ERROR : EXIT_OK;
    else
        print_requeue(cli, &rep);
out:
    json_decref(rep.requeued);
    json_decref(rep.skipped);
    json_decref(rep.dropped);
    return code;
}

/* The cancel script's answer, for people. */
static void print_cancel(const struct cli *cli, const char *id,
                         const char *result)
{
    char hint[HINT_MAX];
    snprintf(hint, sizeof(hint), "HGET %s:%s:%s status", cli->prefix, KEY_JOB, id);
    if (strcmp(result, "canceled") == 0)
        out_line(cli, hint, "job %s: canceled", id);
    else if (strcmp(result, "requested") == 0)
        out_line(cli, hint, "job %s: running; cancel requested, its worker "
                            "stops it and writes canceled", id);
    else
        out_line(cli, hint, "job %s: already %s, nothing to cancel", id, result);
}

int cmd_cancel(struct cli *cli, int argc, char **argv)
{
    _cleanup_reply_ redisReply *res = NULL;
    _cleanup_free_ char *job = NULL;
    char now[24];
    bool done = false;
    int first, r, code = parse_names(cli, argc, argv, cancel_usage, 1, 1, &first,
                                     &done);
    if (code != EXIT_OK || done)
        return code;
    const char *id = argv[first];
    if (!(job = keys_make(cli->prefix, KEY_JOB, id)))
        return out_fail(cli, EXIT_ERROR, "out of memory");
    snprintf(now, sizeof(now), "%lld", clock_wall_ms());
    const char *ka[] = {job, cli->prefix, id, now};
    if ((r = conn_open(cli)) < 0 || (r = eval(cli, &res, script_cancel, 1, ka, 4)) < 0)
        return out_fail_conn(cli, r);
    if (res->type != REDIS_REPLY_STRING)
        return out_fail(cli, EXIT_ERROR, "unexpected reply from the cancel script");
    code = strcmp(res->str, "missing") == 0 ? EXIT_MISSING : EXIT_OK;
    if (code == EXIT_MISSING)
        fprintf(stderr, "sandq: no job '%s' (never submitted, or its "
                        "result_ttl passed)\n", id);
    if (cli->json)
        return out_json(json_pack("{s:s, s:o}", "id", id, "result",
                                  out_json_text(res->str, res->len))) < 0
                   ? EXIT_ERROR : code;
    if (code == EXIT_OK)
        print_cancel(cli, id, res->str);
    return code;
}

int cmd_purge(struct cli *cli, int argc, char **argv)
{
    _cleanup_reply_ redisReply *res = NULL;
    _cleanup_free_ char *queue = NULL;
    long long canceled, removed;
    char now[24], hint[HINT_MAX];
    bool done = false;
    int first, r, code = parse_names(cli, argc, argv, purge_usage, 1, 1, &first,
                                     &done);
    if (code != EXIT_OK || done)
        return code;
    const char *name = argv[first];
    if (!(queue = keys_make(cli->prefix, KEY_QUEUE, name)))
        return out_fail(cli, EXIT_ERROR, "out of memory");
    snprintf(now, sizeof(now), "%lld", clock_wall_ms());
    const char *ka[] = {queue, cli->prefix, now};
    if ((r = conn_open(cli)) < 0 || (r = eval(cli, &res, script_purge, 1, ka, 3)) < 0)
        return out_fail_conn(cli, r);
    if (res->type != REDIS_REPLY_ARRAY || res->elements != 2 ||
        reply_integer(cli, res->element[0], &canceled) < 0 ||
        reply_integer(cli, res->element[1], &removed) < 0)
        return out_fail(cli, EXIT_ERROR, "unexpected reply from the purge script");
    if (cli->json)
        return out_json(json_pack("{s:s, s:I, s:I}", "queue", name, "canceled",
                                  (json_int_t)canceled, "removed",
                                  (json_int_t)removed)) < 0 ? EXIT_ERROR : EXIT_OK;
    snprintf(hint, sizeof(hint), "LLEN %s", queue);
    out_line(cli, hint, "purged queue %s: %lld job(s) canceled, %lld id(s) "
                        "taken off", name, canceled, removed);
    return EXIT_OK;
}

/* SADD or SREM P:paused and PUBLISH P:control in one MULTI/EXEC, so the
 * set and the message never disagree. *ret_notified: PUBLISH's count. */
static int set_paused(struct cli *cli, const char *queue, bool pause,
                      long long *ret_notified)
{
    _cleanup_free_ char *set = keys_make(cli->prefix, "paused", NULL);
    _cleanup_free_ char *channel = keys_make(cli->prefix, "control", NULL);
    _cleanup_reply_ redisReply *m = NULL;
    _cleanup_reply_ redisReply *s = NULL;
    _cleanup_reply_ redisReply *p = NULL;
    _cleanup_reply_ redisReply *exec = NULL;
    char message[160];
    int r;
    if (!set || !channel)
        return -ENOMEM;
    snprintf(message, sizeof(message), "%s %s", pause ? "pause" : "resume", queue);
    if ((r = conn_command(cli, &m, "MULTI")) < 0 ||
        (r = conn_command(cli, &s, "%s %s %s", pause ? "SADD" : "SREM", set,
                          queue)) < 0 ||
        (r = conn_command(cli, &p, "PUBLISH %s %s", channel, message)) < 0 ||
        (r = conn_command(cli, &exec, "EXEC")) < 0)
        return r;
    if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2)
        return snprintf(cli->err, sizeof(cli->err), "unexpected EXEC reply"),
               -EPROTO;
    return reply_integer(cli, exec->element[1], ret_notified);
}

/* pause and resume. */
static int pause_resume(struct cli *cli, int argc, char **argv, bool pause)
{
    long long notified;
    char hint[HINT_MAX];
    bool done = false;
    int first, r, code = parse_names(cli, argc, argv, pause_usage, 1, 1, &first,
                                     &done);
    if (code != EXIT_OK || done)
        return code;
    const char *queue = argv[first];
    if ((r = conn_open(cli)) < 0 || (r = set_paused(cli, queue, pause, &notified)) < 0)
        return out_fail_conn(cli, r);
    if (cli->json)
        return out_json(json_pack("{s:s, s:b, s:I}", "queue", queue, "paused",
                                  pause, "notified", (json_int_t)notified)) < 0
                   ? EXIT_ERROR : EXIT_OK;
    snprintf(hint, sizeof(hint), "SISMEMBER %s:paused %s", cli->prefix, queue);
    out_line(cli, hint, "queue %s %s (%lld subscriber(s) of %s:control told)",
             queue, pause ? "paused" : "resumed", notified, cli->prefix);
    return EXIT_OK;
}

int cmd_pause(struct cli *cli, int argc, char **argv)
{
    return pause_resume(cli, argc, argv, true);
}

int cmd_resume(struct cli *cli, int argc, char **argv)
{
    return pause_resume(cli, argc, argv, false);
}
