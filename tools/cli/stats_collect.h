/* stats_collect.h - gathering what `stats` and `workers` show: queues,
 * processing lists, the worker registry and heartbeats, the dead list and
 * the counters. Several reads, not one snapshot: numbers may be a moment
 * apart. */
#ifndef SANDQ_CLI_STATS_COLLECT_H
#define SANDQ_CLI_STATS_COLLECT_H

#include "cli.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>

struct queue_info {
    char *name;
    long long waiting; /* LLEN P:queue:<name> */
    bool paused;       /* member of P:paused */
};

struct worker_info {
    char *id;
    bool registered;      /* member of P:workers */
    bool alive;           /* P:worker:<id> exists */
    long long processing; /* LLEN P:processing:<id> */
    redisReply *beat;     /* HGETALL P:worker:<id>; empty when dead */
};

struct stats {
    struct queue_info *queues;
    size_t n_queues;
    struct worker_info *workers; /* registered ones and any other owner of
                                    a processing list, sorted by id */
    size_t n_workers;
    long long running;           /* sum of all processing lists */
    long long dead;              /* LLEN P:dead */
    redisReply *totals;          /* HGETALL P:stats */
};

/* Fill *ret (zeroed by the caller, released with stats_release() even on
 * failure). With workers_only, queues, dead and totals are skipped. conn.h
 * errors. */
int stats_collect(struct cli *cli, bool workers_only, struct stats *ret);

void stats_release(struct stats *s);

#endif
