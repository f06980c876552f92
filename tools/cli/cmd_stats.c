/* cmd_stats.c - `sandq stats` (queues, running jobs, workers, dead list,
 * totals) and `sandq workers` (the workers table only). */
#include "args.h"
#include "cli.h"
#include "clock.h"
#include "conn.h"
#include "keys.h"
#include "output.h"
#include "parse.h"
#include "stats_collect.h"
#include "util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HINT_MAX 600

static const char stats_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] stats\n"
    "\n"
    "Show each queue (waiting ids, paused or not), how many jobs are running,\n"
    "every worker (alive or dead, busy slots, jobs per status), workers that\n"
    "own a processing list but are not registered, the dead list and the\n"
    "totals per final status.\n";

static const char workers_usage[] =
    "usage: sandq [--redis URL] [--prefix P] [--json] workers\n"
    "\n"
    "Show every registered worker and every owner of a processing list:\n"
    "alive (heartbeat key present) or dead, slots busy/total, queues, pid,\n"
    "host, version, uptime, last heartbeat and jobs per final status.\n";

/* A heartbeat field as text ("?" when absent). */
static const char *beat_str(const struct worker_info *w, const char *field)
{
    const redisReply *v = reply_hash_get(w->beat, field);
    return v && v->str ? v->str : "?";
}

/* A heartbeat field as a number; -1 when absent or not a number. */
static long long beat_num(const struct worker_info *w, const char *field)
{
    const redisReply *v = reply_hash_get(w->beat, field);
    uint64_t n;
    if (!v || !v->str || parse_u64(v->str, v->len, 0, INT64_MAX, &n) < 0)
        return -1;
    return (long long)n;
}

/* "3d4h", "5m12s", "1.4s": how long ago a millisecond timestamp was. */
static void format_age(long long then_ms, char *buf, size_t len)
{
    long long ms = clock_wall_ms() - then_ms, s = ms / 1000;
    if (then_ms < 0)
        snprintf(buf, len, "?");
    else if (ms < 0)
        snprintf(buf, len, "0s");
    else if (s < 60)
        snprintf(buf, len, "%lld.%llds", s, (ms % 1000) / 100);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
}

/* "succeeded 3, failed 1" from the done_<status> counters (nonzero only). */
static void format_done(const struct worker_info *w, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i + 1 < w->beat->elements; i += 2) {
        const redisReply *k = w->beat->element[i], *v = w->beat->element[i + 1];
        if (!k->str || strncmp(k->str, "done_", 5) != 0 || reply_is(v, "0"))
            continue;
        int k_len = snprintf(buf + n, len - n, "%s%s %s", n ? ", " : "",
                             k->str + 5, v->str ? v->str : "?");
        if (k_len < 0 || (size_t)k_len >= len - n)
            break;
        n += (size_t)k_len;
    }
    if (n == 0)
        snprintf(buf, len, "none yet");
}

/* The lines of a live worker: state and slots, process facts, jobs done. */
static void print_alive(const struct cli *cli, const struct worker_info *w,
                        const char *key)
{
    char hint[HINT_MAX], up[32], beat[32], done[512];
    snprintf(hint, sizeof(hint), "HGETALL %s", key);
    out_line(cli, hint, "worker %s: alive, %s/%s slots busy, queues %s", w->id,
             beat_str(w, "busy"), beat_str(w, "slots"), beat_str(w, "queues"));
    format_age(beat_num(w, "started_at"), up, sizeof(up));
    format_age(beat_num(w, "last_beat"), beat, sizeof(beat));
    snprintf(hint, sizeof(hint), "HMGET %s host pid version started_at last_beat",
             key);
    out_line(cli, hint, "  pid %s on %s, version %s, up %s, last beat %s ago",
             beat_str(w, "pid"), beat_str(w, "host"), beat_str(w, "version"),
             up, beat);
    format_done(w, done, sizeof(done));
    snprintf(hint, sizeof(hint), "HGETALL %s (done_* fields)", key);
    out_line(cli, hint, "  jobs done: %s", done);
}

/* One worker, human. */
static void print_worker(const struct cli *cli, const struct worker_info *w)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_WORKER, w->id);
    _cleanup_free_ char *proc = keys_make(cli->prefix, KEY_PROCESSING, w->id);
    char hint[HINT_MAX];
    if (!key || !proc)
        return (void)fputs("sandq: out of memory\n", stderr);
    if (w->alive)
        print_alive(cli, w, key);
    if (w->alive && w->registered)
        return;
    if (!w->registered) {
        snprintf(hint, sizeof(hint), "SISMEMBER %s:%s %s", cli->prefix,
                 KEY_WORKERS, w->id);
        out_line(cli, hint, "worker %s: not registered, %lld job(s) on its "
                            "processing list", w->id, w->processing);
        return;
    }
    snprintf(hint, sizeof(hint), "EXISTS %s", key);
    out_line(cli, hint, "worker %s: dead (no heartbeat), %lld job(s) on its "
                        "processing list await the reaper", w->id, w->processing);
}

/* The workers table, human. */
static void print_workers(const struct cli *cli, const struct stats *s)
{
    char hint[HINT_MAX];
    if (s->n_workers == 0) {
        snprintf(hint, sizeof(hint), "SMEMBERS %s:%s", cli->prefix, KEY_WORKERS);
        out_line(cli, hint, "no workers");
    }
    for (size_t i = 0; i < s->n_workers; i++)
        print_worker(cli, &s->workers[i]);
}

/* Queues, running, workers, dead, totals: the whole of `stats`, human. */
static void print_stats(const struct cli *cli, const struct stats *s)
{
    char hint[HINT_MAX], totals[1024];
    size_t n = 0;
    for (size_t i = 0; i < s->n_queues; i++) {
        snprintf(hint, sizeof(hint), "LLEN %s:%s:%s; SISMEMBER %s:paused %s",
                 cli->prefix, KEY_QUEUE, s->queues[i].name, cli->prefix,
                 s->queues[i].name);
        out_line(cli, hint, "queue %s: %lld waiting, %s", s->queues[i].name,
                 s->queues[i].waiting, s->queues[i].paused ? "PAUSED" : "active");
    }
    snprintf(hint, sizeof(hint), "--scan --pattern '%s:%s:*' (LLEN each)",
             cli->prefix, KEY_PROCESSING);
    out_line(cli, hint, "running: %lld job(s) on processing lists", s->running);
    print_workers(cli, s);
    snprintf(hint, sizeof(hint), "LLEN %s:%s", cli->prefix, KEY_DEAD);
    out_line(cli, hint, "dead: %lld job(s) given up on (status lost)", s->dead);
    totals[0] = '\0';
    for (size_t i = 0; i + 1 < s->totals->elements; i += 2) {
        int k = snprintf(totals + n, sizeof(totals) - n, "%s%s %s", n ? ", " : "",
                         s->totals->element[i]->str, s->totals->element[i + 1]->str);
        if (k < 0 || (size_t)k >= sizeof(totals) - n)
            break;
        n += (size_t)k;
    }
    snprintf(hint, sizeof(hint), "HGETALL %s:%s", cli->prefix, KEY_STATS);
    out_line(cli, hint, "totals: %s", n ? totals : "no job has ended yet");
}

/* Heartbeat fields that are numbers; the rest stay text. */
static const char *const beat_numbers[] = {"pid", "slots", "busy", "started_at",
                                           "last_beat", "zygote_pid"};

/* Heartbeat fields shown as JSON numbers: the fixed ones and every
 * done_<status> counter. */
static bool is_number_field(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(beat_numbers); i++)
        if (strcmp(name, beat_numbers[i]) == 0)
            return true;
    return strncmp(name, "done_", 5) == 0;
}

/* A counter as a JSON integer, or as text if it is not one. */
static json_t *count_value(const redisReply *v)
{
    uint64_t n;
    const char *s = v->str ? v->str : "";
    size_t len = v->str ? v->len : 0;
    if (parse_u64(s, len, 0, INT64_MAX, &n) == 0)
        return json_integer((json_int_t)n);
    return out_json_text(s, len);
}

/* One heartbeat field as the JSON value it means. */
static json_t *beat_value(const char *name, const redisReply *v)
{
    const char *s = v->str ? v->str : "";
    size_t len = v->str ? v->len : 0;
    if (is_number_field(name))
        return count_value(v);
    if (strcmp(name, "queues") != 0)
        return out_json_text(s, len);
    json_t *list = json_array();
    for (size_t start = 0; list && start < len;) {
        size_t k = strcspn(s + start, ",");
        if (k && json_array_append_new(list, out_json_text(s + start, k)) < 0)
            return json_decref(list), NULL;
        start += k + 1;
    }
    return list;
}

/* {"id", "registered", "alive", "processing", <heartbeat fields>, "done"}. */
static json_t *worker_json(const struct worker_info *w)
{
    json_t *done = json_object();
    json_t *obj = json_pack("{s:o, s:b, s:b, s:I}", "id",
                            out_json_text(w->id, strlen(w->id)), "registered",
                            w->registered, "alive", w->alive, "processing",
                            (json_int_t)w->processing);
    for (size_t i = 0; obj && done && i + 1 < w->beat->elements; i += 2) {
        const redisReply *k = w->beat->element[i];
        if (!k->str || !parse_is_utf8(k->str, k->len))
            continue;
        int is_done = strncmp(k->str, "done_", 5) == 0;
        json_t *v = beat_value(k->str, w->beat->element[i + 1]);
        if (!v || json_object_set_new(is_done ? done : obj,
                                      is_done ? k->str + 5 : k->str, v) < 0)
            goto fail;
    }
    if (obj && done && json_object_set_new(obj, "done", done) == 0)
        return obj;
    done = NULL;
fail:
    json_decref(done);
    json_decref(obj);
    return NULL;
}

/* {"workers": [...]} plus, for stats, the rest. */
static json_t *stats_json(const struct stats *s, bool workers_only)
{
    json_t *workers = json_array(), *queues = json_array(), *totals = json_object();
    for (size_t i = 0; workers && i < s->n_workers; i++)
        if (json_array_append_new(workers, worker_json(&s->workers[i])) < 0)
            goto fail;
    if (workers_only) {
        json_decref(queues);
        json_decref(totals);
        return json_pack("{s:o}", "workers", workers);
    }
    for (size_t i = 0; queues && i < s->n_queues; i++)
        if (json_array_append_new(queues, json_pack("{s:o, s:I, s:b}", "name",
                                  out_json_text(s->queues[i].name,
                                                strlen(s->queues[i].name)),
                                  "waiting",
                                  (json_int_t)s->queues[i].waiting, "paused",
                                  s->queues[i].paused)) < 0)
            goto fail;
    for (size_t i = 0; totals && i + 1 < s->totals->elements; i += 2) {
        const redisReply *k = s->totals->element[i], *v = s->totals->element[i + 1];
        if (k->str && parse_is_utf8(k->str, k->len) &&
            json_object_set_new(totals, k->str, count_value(v)) < 0)
            goto fail;
    }
    return json_pack("{s:o, s:I, s:o, s:I, s:o}", "queues", queues, "running",
                     (json_int_t)s->running, "workers", workers, "dead",
                     (json_int_t)s->dead, "totals", totals);
fail:
    json_decref(workers);
    json_decref(queues);
    json_decref(totals);
    return NULL;
}

/* stats and workers: parse, connect, collect, print. */
static int run(struct cli *cli, int argc, char **argv, bool workers_only)
{
    const char *name = workers_only ? "workers" : "stats";
    struct stats s = {0};
    int first, r, code = EXIT_OK;
    if (args_parse(cli, argc, argv, NULL, args_no_options, NULL, 0, &first) < 0)
        return out_usage(cli, name, "%s", cli->err);
    if (cli->help)
        return fputs(workers_only ? workers_usage : stats_usage, stdout), EXIT_OK;
    if (first != argc)
        return out_usage(cli, name, "takes no arguments");
    if ((r = conn_open(cli)) < 0 || (r = stats_collect(cli, workers_only, &s)) < 0)
        code = out_fail_conn(cli, r);
    else if (cli->json)
        code = out_json(stats_json(&s, workers_only)) < 0 ? EXIT_ERROR : EXIT_OK;
    else if (workers_only)
        print_workers(cli, &s);
    else
        print_stats(cli, &s);
    stats_release(&s);
    return code;
}

int cmd_stats(struct cli *cli, int argc, char **argv)
{
    return run(cli, argc, argv, false);
}

int cmd_workers(struct cli *cli, int argc, char **argv)
{
    return run(cli, argc, argv, true);
}
