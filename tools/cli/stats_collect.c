/* stats_collect.c - the reads behind `stats` and `workers` (see
 * stats_collect.h). */
#include "stats_collect.h"

#include "conn.h"
#include "keys.h"
#include "strv.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names of keys "P:<kind>:<name>" via SCAN (never KEYS, which blocks Redis
 * on a big keyspace). The prefix is a validated name, so it holds no glob
 * characters. */
static int scan_names(struct cli *cli, const char *kind, struct strv *out)
{
    _cleanup_free_ char *pattern = NULL;
    char cursor[32] = "0";
    size_t skip;
    int r;
    if (asprintf(&pattern, "%s:%s:*", cli->prefix, kind) < 0)
        return -ENOMEM;
    skip = strlen(pattern) - 1;
    do {
        _cleanup_reply_ redisReply *rep = NULL;
        if ((r = conn_command(cli, &rep, "SCAN %s MATCH %s COUNT 1000", cursor,
                              pattern)) < 0)
            return r;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_ARRAY)
            return snprintf(cli->err, sizeof(cli->err), "unexpected SCAN reply"),
                   -EPROTO;
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        for (size_t i = 0; i < rep->element[1]->elements; i++) {
            const redisReply *k = rep->element[1]->element[i];
            if (k->len > skip &&
                (r = strv_add_unique(out, k->str + skip, k->len - skip)) < 0)
                return r;
        }
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Members of the set P:<kind> added to out. */
static int set_members(struct cli *cli, const char *kind, struct strv *out)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, kind, NULL);
    _cleanup_reply_ redisReply *rep = NULL;
    int r;
    if (!key)
        return -ENOMEM;
    if ((r = conn_command(cli, &rep, "SMEMBERS %s", key)) < 0)
        return r;
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++)
        if ((r = strv_add_unique(out, rep->element[i]->str,
                                 rep->element[i]->len)) < 0)
            return r;
    return 0;
}

/* LLEN P:<kind>[:<name>]. */
static int list_length(struct cli *cli, const char *kind, const char *name,
                       long long *ret)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, kind, name);
    _cleanup_reply_ redisReply *rep = NULL;
    int r;
    if (!key)
        return -ENOMEM;
    if ((r = conn_command(cli, &rep, "LLEN %s", key)) < 0)
        return r;
    return reply_integer(cli, rep, ret);
}

/* One worker's heartbeat hash and processing list. */
static int collect_worker(struct cli *cli, struct worker_info *w)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_WORKER, w->id);
    int r;
    if (!key)
        return -ENOMEM;
    if ((r = conn_command(cli, &w->beat, "HGETALL %s", key)) < 0)
        return r;
    w->alive = w->beat->type == REDIS_REPLY_ARRAY && w->beat->elements > 0;
    return list_length(cli, KEY_PROCESSING, w->id, &w->processing);
}

/* Every registered worker and every owner of a processing list. */
static int collect_workers(struct cli *cli, struct stats *s)
{
    _cleanup_strv_ struct strv registered = {0};
    _cleanup_strv_ struct strv all = {0};
    int r;
    if ((r = set_members(cli, KEY_WORKERS, &registered)) < 0 ||
        (r = set_members(cli, KEY_WORKERS, &all)) < 0 ||
        (r = scan_names(cli, KEY_PROCESSING, &all)) < 0)
        return r;
    strv_sort(&all);
    if (all.n && !(s->workers = calloc(all.n, sizeof(*s->workers))))
        return -ENOMEM;
    for (size_t i = 0; i < all.n; i++) {
        struct worker_info *w = &s->workers[s->n_workers++];
        w->id = TAKE_PTR(all.v[i]);
        w->registered = strv_contains(&registered, w->id);
        if ((r = collect_worker(cli, w)) < 0)
            return r;
        s->running += w->processing;
    }
    return 0;
}

/* The queue names a worker's heartbeat lists ("high,default"). */
static int worker_queues(const struct worker_info *w, struct strv *out)
{
    const redisReply *q = reply_hash_get(w->beat, "queues");
    size_t start = 0;
    int r;
    while (q && q->str && start < q->len) {
        size_t n = strcspn(q->str + start, ",");
        if (n && (r = strv_add_unique(out, q->str + start, n)) < 0)
            return r;
        start += n + 1;
    }
    return 0;
}

/* Queues with ids waiting, paused queues, and the queues workers serve
 * (an empty list does not exist in Redis, but it is still a queue). */
static int collect_queues(struct cli *cli, struct stats *s)
{
    _cleanup_strv_ struct strv names = {0};
    _cleanup_strv_ struct strv paused = {0};
    int r;
    if ((r = scan_names(cli, KEY_QUEUE, &names)) < 0 ||
        (r = set_members(cli, "paused", &paused)) < 0)
        return r;
    for (size_t i = 0; i < paused.n; i++)
        if ((r = strv_add_unique(&names, paused.v[i], strlen(paused.v[i]))) < 0)
            return r;
    for (size_t i = 0; i < s->n_workers; i++)
        if ((r = worker_queues(&s->workers[i], &names)) < 0)
            return r;
    strv_sort(&names);
    if (names.n && !(s->queues = calloc(names.n, sizeof(*s->queues))))
        return -ENOMEM;
    for (size_t i = 0; i < names.n; i++) {
        struct queue_info *q = &s->queues[s->n_queues++];
        q->name = TAKE_PTR(names.v[i]);
        q->paused = strv_contains(&paused, q->name);
        if ((r = list_length(cli, KEY_QUEUE, q->name, &q->waiting)) < 0)
            return r;
    }
    return 0;
}

int stats_collect(struct cli *cli, bool workers_only, struct stats *ret)
{
    _cleanup_free_ char *stats_key = keys_make(cli->prefix, KEY_STATS, NULL);
    int r;
    if (!stats_key)
        return -ENOMEM;
    if ((r = collect_workers(cli, ret)) < 0 || workers_only)
        return r;
    if ((r = collect_queues(cli, ret)) < 0 ||
        (r = list_length(cli, KEY_DEAD, NULL, &ret->dead)) < 0)
        return r;
    return conn_command(cli, &ret->totals, "HGETALL %s", stats_key);
}

void stats_release(struct stats *s)
{
    for (size_t i = 0; i < s->n_queues; i++)
        free(s->queues[i].name);
    for (size_t i = 0; i < s->n_workers; i++) {
        free(s->workers[i].id);
        if (s->workers[i].beat)
            freeReplyObject(s->workers[i].beat);
    }
    free(s->queues);
    free(s->workers);
    if (s->totals)
        freeReplyObject(s->totals);
    memset(s, 0, sizeof(*s));
}
