/* registry.c - a worker's presence in Redis: the heartbeat hash (so
 * operators and other workers can see it alive), the reaper (which
 * requeues the jobs of workers whose heartbeat expired) and leaving the
 * registry on a clean exit (PROTOCOL.md "Reliability"). */
#include "supervisor_int.h"

#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BEAT_MAX_ARGS (8 + 2 * (16 + OUTCOME_N_STATUSES))

static void add_timer_ms(struct event *ev, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

/* Text values of the heartbeat hash; kept in one struct so the argv can
 * point into it while the command is formatted. */
struct beat_text {
    char host[256], pid[16], queues[CONFIG_MAX_QUEUES * 130], slots[16],
        busy[16], started[24], last[24], zpid[16], ttl[16];
    char done[OUTCOME_N_STATUSES][24];
    char done_names[OUTCOME_N_STATUSES][32];
};

static void beat_fill(const struct supervisor *s, struct beat_text *t)
{
    const struct worker_config *c = s->cfg;
    if (gethostname(t->host, sizeof(t->host)) < 0)
        strcpy(t->host, "unknown");
    t->host[sizeof(t->host) - 1] = '\0';
    snprintf(t->pid, sizeof(t->pid), "%d", (int)getpid());
    t->queues[0] = '\0';
    for (size_t i = 0; i < c->n_queues; i++) {
        if (i)
            strcat(t->queues, ",");
        strcat(t->queues, c->queues[i]);
    }
    snprintf(t->slots, sizeof(t->slots), "%u", s->n_slots);
    snprintf(t->busy, sizeof(t->busy), "%u", supervisor_busy(s));
    snprintf(t->started, sizeof(t->started), "%" PRId64, s->started_at_ms);
    snprintf(t->last, sizeof(t->last), "%" PRId64, now_wall_ms());
    snprintf(t->zpid, sizeof(t->zpid), "%d", (int)s->ready.pid);
    snprintf(t->ttl, sizeof(t->ttl), "%u", c->heartbeat_ttl_ms);
    for (int i = 0; i < OUTCOME_N_STATUSES; i++) {
        snprintf(t->done[i], sizeof(t->done[i]), "%" PRIu64, s->done[i]);
        snprintf(t->done_names[i], sizeof(t->done_names[i]), "done_%s",
                 outcome_statuses[i]);
    }
}

static void on_beat_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("heartbeat failed: %s", reply->str);
}

/* One atomic SADD + HSET + PEXPIRE, so a heartbeat key never lives without
 * its expiry. */
void registry_beat(struct supervisor *s)
{
    struct beat_text t;
    const char *argv[BEAT_MAX_ARGS];
    int argc = 0;
    beat_fill(s, &t);
    const char *head[] = {"EVAL", script_heartbeat, "2", s->workers_key,
                          s->worker_key, s->cfg->worker_id, t.ttl,
                          "host", t.host, "pid", t.pid, "queues", t.queues,
                          "slots", t.slots, "busy", t.busy,
                          "started_at", t.started, "last_beat", t.last,
                          "version", SANDQ_VERSION, "zygote_pid", t.zpid,
                          "python", s->ready.python_version};
    for (size_t i = 0; i < ARRAY_SIZE(head); i++)
        argv[argc++] = head[i];
    for (int i = 0; i < OUTCOME_N_STATUSES; i++) {
        argv[argc++] = t.done_names[i];
        argv[argc++] = t.done[i];
    }
    (void)redis_conn_command(s->cmd, on_beat_reply, s, argc, argv, NULL);
}

static void on_beat_timer(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    if (!s->deregister_outstanding)
        registry_beat(s);
    add_timer_ms(s->heartbeat_timer, s->cfg->heartbeat_ms);
}

static void on_reap_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    redisReply *reply = r;
    if (!reply || reply->type == REDIS_REPLY_NIL)
        return; /* dropped, or another worker holds the lock */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("reaper failed: %s", reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4)
        return;
    long long requeued = reply->element[0]->integer,
              lost = reply->element[1]->integer,
              dropped = reply->element[2]->integer,
              workers = reply->element[3]->integer;
    s->jobs_reaped += (uint64_t)(requeued + lost);
    s->workers_reaped += (uint64_t)workers;
    if (workers)
        log_warn("reaped %lld dead worker(s): %lld job(s) requeued, %lld lost, "
                 "%lld dropped", workers, requeued, lost, dropped);
}

static void on_reap_timer(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    char lock_ms[16], now[24], dead_max[16];
    snprintf(lock_ms, sizeof(lock_ms), "%u", s->cfg->reap_ms);
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms());
    snprintf(dead_max, sizeof(dead_max), "%u", s->cfg->dead_max);
    const char *argv[] = {"EVAL", script_reap, "4", s->workers_key,
                          s->reaper_key, s->dead_key, s->stats_key,
                          s->cfg->prefix, s->cfg->worker_id, lock_ms, now,
                          s->cfg->queues[0], dead_max};
    if (!s->stopping)
        (void)redis_conn_command(s->cmd, on_reap_reply, s,
                                 (int)ARRAY_SIZE(argv), argv, NULL);
    add_timer_ms(s->reap_timer, s->cfg->reap_ms);
}

int registry_init(struct supervisor *s)
{
    const char *p = s->cfg->prefix;
    s->worker_key = keys_make(p, KEY_WORKER, s->cfg->worker_id);
    s->workers_key = keys_make(p, KEY_WORKERS, NULL);
    s->reaper_key = keys_make(p, "reaper", NULL);
    s->heartbeat_timer = evtimer_new(s->base, on_beat_timer, s);
    s->reap_timer = evtimer_new(s->base, on_reap_timer, s);
    if (!s->worker_key || !s->workers_key || !s->reaper_key ||
        !s->heartbeat_timer || !s->reap_timer)
        return -ENOMEM;
    s->started_at_ms = now_wall_ms();
    add_timer_ms(s->heartbeat_timer, 0);
    add_timer_ms(s->reap_timer, s->cfg->reap_ms);
    return 0;
}

static void on_deregistered(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    if (s->freeing)
        return;
    if (r)
        log_info("left the worker registry");
    event_base_loopbreak(s->base);
}

void registry_leave_and_stop(struct supervisor *s)
{
    const char *argv[] = {"EVAL", script_deregister, "3", s->workers_key,
                          s->worker_key, s->processing_key, s->cfg->worker_id};
    if (s->deregister_outstanding)
        return;
    s->deregister_outstanding = true;
    evtimer_del(s->heartbeat_timer);
    evtimer_del(s->reap_timer);
    if (redis_conn_command(s->cmd, on_deregistered, s, (int)ARRAY_SIZE(argv),
                           argv, NULL) < 0)
        event_base_loopbreak(s->base);
}

void registry_release(struct supervisor *s)
{
    if (s->heartbeat_timer)
        event_free(s->heartbeat_timer);
    if (s->reap_timer)
        event_free(s->reap_timer);
    free(s->worker_key);
    free(s->workers_key);
    free(s->reaper_key);
}
