/* supervisor.c - the loop around the slots: fetch ids with BLMOVE while a
 * slot is free, recover orphans from our processing list, watch the zygote,
 * drain on SIGTERM (see supervisor.h; one job's life is in slot.c). */
#include "supervisor.h"

#include "keys.h"
#include "log.h"
#include "parse.h"
#include "scripts.h"
#include "sdnotify.h"
#include "supervisor_int.h"
#include "util.h"
#include "zygote_client.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNBLOCK_RETRY_MS 20
#define HELD_RETRY_MS 1000
#define FETCH_ERROR_RETRY_MS 1000
#define WARM_DELAY_MS 2

static void maybe_fetch(struct supervisor *s);
static void maybe_recover(struct supervisor *s);
static void maybe_exit(struct supervisor *s);

int64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void add_timer_ms(struct event *ev, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(ev, &tv);
}

unsigned supervisor_busy(const struct supervisor *s)
{
    unsigned busy = 0;
    for (unsigned i = 0; i < s->n_slots; i++)
        busy += s->slots[i].state != SLOT_FREE;
    return busy;
}

static struct slot *free_slot(struct supervisor *s)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_FREE)
            return &s->slots[i];
    return NULL;
}

/* Every free slot forks its next child ahead of the job. */
static void warm_slots(struct supervisor *s)
{
    for (unsigned i = 0; i < s->n_slots; i++)
        slot_warm(&s->slots[i]);
}

static void on_warm_delay(evutil_socket_t fd, short what, void *arg)
{
    warm_slots(arg);
}

void supervisor_slot_freed(struct supervisor *s)
{
    if (s->freeing)
        return;
    /* Not at once: right after an outcome is published, the CPU is better
     * spent by whoever waits for it (a fork costs ~0.35 ms of it). A job
     * that arrives first is forked for on demand, as without warming. */
    if (!evtimer_pending(s->warm_delay, NULL))
        add_timer_ms(s->warm_delay, WARM_DELAY_MS);
    maybe_recover(s);
    maybe_fetch(s);
    maybe_exit(s);
}

/* Something may have left an id on our processing list that no slot holds
 * (a BLMOVE or start reply lost with the connection). Recover it before
 * taking more. */
void supervisor_note_redis_trouble(struct supervisor *s)
{
    s->recover_pending = true;
    if (!evtimer_pending(s->held_retry, NULL))
        add_timer_ms(s->held_retry, HELD_RETRY_MS);
}

/* ---- fetching ------------------------------------------------------------ */

static void on_fetch_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    redisReply *reply = r;
    const char *queue = s->cfg->queues[s->fetch_queue];
    s->fetch_outstanding = false;
    if (s->freeing)
        return;
    if (!reply) { /* dropped: a moved id may be on our processing list */
        s->recover_pending = true;
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("taking a job failed: %s", reply->str);
        add_timer_ms(s->fetch_retry, FETCH_ERROR_RETRY_MS);
        return;
    }
    if (s->cfg->n_queues > 1)
        s->fetch_block_next = reply->type == REDIS_REPLY_NIL && !s->fetch_block_next;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING) {
        queue = reply->element[0]->str; /* from the multi-queue take */
        reply = reply->element[1];
    }
    if (reply->type == REDIS_REPLY_STRING) {
        struct slot *slot = free_slot(s);
        if (!slot || memchr(reply->str, '\0', reply->len)) {
            log_error("taken id cannot be run here; leaving it for recovery");
            s->recover_pending = true;
        } else {
            slot_take(slot, reply->str, reply->len, queue);
        }
    }
    maybe_recover(s);
    maybe_fetch(s);
    maybe_exit(s);
}

/* The queues not paused, in priority order; returns how many. */
static size_t active_queues(const struct supervisor *s, size_t idx[])
{
    size_t n = 0;
    for (size_t i = 0; i < s->cfg->n_queues; i++)
        if (!s->paused[i])
            idx[n++] = i;
    return n;
}

/* One BLMOVE at a time (so CLIENT UNBLOCK can always interrupt it), issued
 * only while a slot is free: a worker never hoards jobs. */
static void maybe_fetch(struct supervisor *s)
{
    const struct worker_config *c = s->cfg;
    size_t idx[CONFIG_MAX_QUEUES];
    size_t n = active_queues(s, idx);
    if (s->stopping || s->fetch_outstanding || s->recover_pending ||
        s->recover_outstanding || !s->zygote_up || n == 0 || !s->paused_known ||
        evtimer_pending(s->fetch_retry, NULL) || !redis_conn_is_up(s->cmd) ||
        !redis_conn_is_up(s->fetch) || supervisor_busy(s) >= s->n_slots)
        return;
    char timeout[32];
    int r;
    if (n == 1 || s->fetch_block_next) {
        /* One queue: block on it. Several, all found empty: block on the
         * first for poll_ms, then look at all of them again. */
        if (n == 1)
            snprintf(timeout, sizeof(timeout), "%u", c->fetch_timeout_s);
        else
            snprintf(timeout, sizeof(timeout), "%.3f", c->poll_ms / 1000.0);
        const char *argv[] = {"BLMOVE", s->queue_keys[idx[0]], s->processing_key,
                              "RIGHT", "LEFT", timeout};
        s->fetch_queue = idx[0];
        r = redis_conn_command(s->fetch, on_fetch_reply, s, 6, argv, NULL);
    } else {
        /* Several queues: take from the first non-empty one in priority
         * order, without blocking. */
        const char *argv[4 + CONFIG_MAX_QUEUES * 2];
        char nkeys[8];
        int argc = 0;
        snprintf(nkeys, sizeof(nkeys), "%zu", n + 1);
        argv[argc++] = "EVAL";
        argv[argc++] = script_take;
        argv[argc++] = nkeys;
        argv[argc++] = s->processing_key;
        for (size_t i = 0; i < n; i++)
            argv[argc++] = s->queue_keys[idx[i]];
        for (size_t i = 0; i < n; i++)
            argv[argc++] = c->queues[idx[i]];
        r = redis_conn_command(s->fetch, on_fetch_reply, s, argc, argv, NULL);
    }
    if (r == 0)
        s->fetch_outstanding = true;
}

/* Interrupt a blocked BLMOVE (pause, stop, recovery): CLIENT UNBLOCK makes
 * it return nil at once; retried until the reply is in, since the UNBLOCK
 * can reach Redis before the BLMOVE does. */
void supervisor_unblock_fetch(struct supervisor *s)
{
    if (!s->fetch_outstanding || !redis_conn_is_up(s->cmd))
        return;
    long long id = redis_conn_client_id(s->fetch);
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", id);
    const char *argv[] = {"CLIENT", "UNBLOCK", idbuf};
    if (id >= 0)
        (void)redis_conn_command(s->cmd, NULL, NULL, 3, argv, NULL);
    add_timer_ms(s->unblock_retry, UNBLOCK_RETRY_MS);
}

void supervisor_kick(struct supervisor *s)
{
    maybe_fetch(s);
}

static void on_fetch_retry(evutil_socket_t fd, short what, void *arg)
{
    maybe_fetch(arg);
}

/* ---- recovery ------------------------------------------------------------ */

static void on_recover_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct supervisor *s = privdata;
    redisReply *reply = r;
    s->recover_outstanding = false;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_error("recovering the processing list failed: %s", reply->str);
        s->recover_pending = true;
        add_timer_ms(s->held_retry, HELD_RETRY_MS);
        return;
    }
    long long requeued = reply->element[0]->integer,
              lost = reply->element[1]->integer,
              dropped = reply->element[2]->integer;
    if (requeued || lost || dropped)
        log_warn("recovered our processing list: %lld requeued, %lld lost, "
                 "%lld dropped (gone or already final)",
                 requeued, lost, dropped);
    if (s->stopping)
        s->final_recover_done = true;
    maybe_fetch(s);
    maybe_exit(s);
}

/* Requeue every id on our processing list that no slot holds. Runs only
 * while no BLMOVE is in flight, else it could requeue an id that BLMOVE is
 * about to hand us. */
static void maybe_recover(struct supervisor *s)
{
    if (!s->recover_pending || s->recover_outstanding ||
        !redis_conn_is_up(s->cmd))
        return;
    if (s->fetch_outstanding) {
        supervisor_unblock_fetch(s);
        return;
    }
    const char *argv[6 + CONFIG_MAX_SLOTS];
    char now[24];
    int argc = 0;
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms());
    const char *head[] = {"EVAL", script_requeue, "3", s->processing_key,
                          s->dead_key, s->stats_key, s->cfg->prefix,
                          s->cfg->queues[0], now, "0", "all"};
    for (size_t i = 0; i < ARRAY_SIZE(head); i++)
        argv[argc++] = head[i];
    for (unsigned i = 0; i < s->n_slots; i++)
        if (s->slots[i].state != SLOT_FREE && s->slots[i].id)
            argv[argc++] = s->slots[i].id;
    if (redis_conn_command(s->cmd, on_recover_reply, s, argc, argv, NULL) == 0) {
        s->recover_pending = false;
        s->recover_outstanding = true;
    }
}

/* Keep unblocking while someone needs the BLMOVE back: a recovery, a stop
 * or a queue that was paused under it. */
static void on_unblock_retry(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    size_t idx[CONFIG_MAX_QUEUES];
    if (!s->fetch_outstanding)
        return;
    if (s->recover_pending || s->stopping || s->paused[s->fetch_queue] ||
        active_queues(s, idx) == 0)
        supervisor_unblock_fetch(s);
}

static void on_held_retry(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    if (!redis_conn_is_up(s->cmd)) {
        add_timer_ms(s->held_retry, HELD_RETRY_MS);
        return;
    }
    for (unsigned i = 0; i < s->n_slots; i++)
        slot_flush_held(&s->slots[i]);
    maybe_recover(s);
    maybe_fetch(s);
}

/* Either connection changed state. Outcomes held in memory are written
 * first, then orphans recovered, and only then are new jobs taken. */
static void on_redis_state(void *userdata, bool up)
{
    struct supervisor *s = userdata;
    if (s->freeing)
        return;
    if (!up) {
        s->recover_pending = true;
        s->reconnects++;
        return;
    }
    if (!s->ready_sent && redis_conn_is_up(s->cmd) && redis_conn_is_up(s->fetch) &&
        s->zygote_up) {
        s->ready_sent = true;
        (void)sdnotify_send("READY=1\nSTATUS=taking jobs");
        log_info("ready: Redis connected, zygote up");
    }
    if (!redis_conn_is_up(s->cmd))
        return;
    for (unsigned i = 0; i < s->n_slots; i++)
        slot_flush_held(&s->slots[i]);
    maybe_recover(s);
    maybe_fetch(s);
    maybe_exit(s);
}

/* The command connection came up (or went down): once per connect, the
 * heartbeat and the paused set / cancel flags that were missed. */
static void on_cmd_state(void *userdata, bool up)
{
    struct supervisor *s = userdata;
    if (up && !s->freeing) {
        registry_beat(s);
        control_resync(s);
    }
    on_redis_state(userdata, up);
}

/* ---- zygote -------------------------------------------------------------- */

static struct slot *slot_by_token(struct supervisor *s, uint64_t token)
{
    unsigned index = (unsigned)(token & 0xffff);
    return index < s->n_slots ? &s->slots[index] : NULL;
}

static void on_spawned(void *userdata, const struct zmsg_spawned *m, int pidfd)
{
    struct slot *slot = slot_by_token(userdata, m->token);
    if (!slot) {
        close_keep_errno(pidfd);
        return;
    }
    slot_on_spawned(slot, m, pidfd);
}

static void on_exited(void *userdata, const struct zmsg_exited *m)
{
    struct slot *slot = slot_by_token(userdata, m->token);
    if (slot)
        slot_on_exited(slot, m);
}

static void on_zygote_lost(void *userdata)
{
    struct supervisor *s = userdata;
    if (!s->zygote_up)
        return;
    s->zygote_up = false;
    s->zygote_deaths++;
    log_error("the zygote is gone; its running jobs end 'crashed'; restarting "
              "it");
    for (unsigned i = 0; i < s->n_slots; i++)
        slot_on_zygote_lost(&s->slots[i]);
    add_timer_ms(s->zygote_retry, 100);
}

static const struct zygote_events zygote_events = {
    .spawned = on_spawned, .exited = on_exited, .lost = on_zygote_lost};

static void on_zygote_retry(evutil_socket_t fd, short what, void *arg);

/* Restart a dead zygote (blocking for its READY, at most a few hundred ms;
 * no job can run without it anyway). */
static void restart_zygote(struct supervisor *s)
{
    int err = 0;
    zygote_free(s->zygote);
    s->zygote = NULL;
    struct zygote *z = zygote_start(s->zygote_path, s->zygote_args, 30000,
                                    &s->ready, &err);
    if (!z || zygote_attach(z, s->base, &zygote_events, s) < 0) {
        log_error("restarting the zygote failed: %s; retrying",
                  strerror(err ? -err : ENOMEM));
        zygote_free(z);
        unsigned ms = 100u << (s->zygote_restarts < 6 ? s->zygote_restarts : 6);
        s->zygote_restarts++;
        add_timer_ms(s->zygote_retry, ms);
        return;
    }
    s->zygote = z;
    s->zygote_up = true;
    s->zygote_restarts = 0;
    log_info("zygote restarted (pid %d)", (int)zygote_pid(z));
    warm_slots(s);
    maybe_fetch(s);
}

static void on_zygote_retry(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    if (!s->stopping)
        restart_zygote(s);
    else
        maybe_exit(s);
}

/* ---- shutdown ------------------------------------------------------------ */

static void maybe_exit(struct supervisor *s)
{
    if (!s->stopping || supervisor_busy(s) > 0 || s->fetch_outstanding)
        return;
    if (!s->final_recover_done) {
        /* Anything still on our list (a BLMOVE that raced the stop) goes
         * back to its queue before we leave. */
        s->recover_pending = true;
        if (!s->recover_outstanding)
            maybe_recover(s);
        if (redis_conn_is_up(s->cmd))
            return;
        log_warn("Redis is down at exit; ids left on '%s' will be recovered "
                 "by the next start", s->processing_key);
        event_base_loopbreak(s->base);
        return;
    }
    registry_leave_and_stop(s);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    s->grace_over = true;
    unsigned killed = 0;
    for (unsigned i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_RUNNING) {
            slot_kill(&s->slots[i], KILL_SHUTDOWN);
            killed++;
        }
    if (killed)
        log_warn("grace period over: killed %u running job(s); they are "
                 "requeued", killed);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *s = arg;
    if (s->stopping) {
        log_warn("second signal: exiting now; %u job(s) unfinished stay on "
                 "'%s' for recovery", supervisor_busy(s), s->processing_key);
        s->exit_code = 1;
        event_base_loopbreak(s->base);
        return;
    }
    s->stopping = true;
    (void)sdnotify_send("STOPPING=1\nSTATUS=draining");
    log_info("signal %d: draining (%u running, grace %u ms)", (int)sig,
             supervisor_busy(s), s->cfg->grace_ms);
    add_timer_ms(s->grace_timer, s->cfg->grace_ms);
    supervisor_unblock_fetch(s);
    maybe_exit(s);
}

/* WATCHDOG=1 at half the interval systemd asked for: sent from the loop
 * itself, so a stuck loop gets the worker restarted. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct supervisor *s = arg;
    (void)sdnotify_send("WATCHDOG=1");
    add_timer_ms(s->watchdog_timer,
                 (unsigned)(sdnotify_watchdog_usec() / 2000));
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    struct supervisor *s = arg;
    zygote_check_exit(s->zygote);
}

/* ---- setup --------------------------------------------------------------- */

static int make_keys(struct supervisor *s)
{
    const char *p = s->cfg->prefix;
    s->processing_key = keys_make(p, KEY_PROCESSING, s->cfg->worker_id);
    s->stats_key = keys_make(p, KEY_STATS, NULL);
    s->dead_key = keys_make(p, KEY_DEAD, NULL);
    if (!s->processing_key || !s->stats_key || !s->dead_key)
        return -ENOMEM;
    for (size_t i = 0; i < s->cfg->n_queues; i++)
        if (!(s->queue_keys[i] = keys_make(p, KEY_QUEUE, s->cfg->queues[i])))
            return -ENOMEM;
    return 0;
}

static int make_events(struct supervisor *s)
{
    s->fetch_retry = evtimer_new(s->base, on_fetch_retry, s);
    s->unblock_retry = evtimer_new(s->base, on_unblock_retry, s);
    s->held_retry = evtimer_new(s->base, on_held_retry, s);
    s->grace_timer = evtimer_new(s->base, on_grace_over, s);
    s->zygote_retry = evtimer_new(s->base, on_zygote_retry, s);
    s->watchdog_timer = evtimer_new(s->base, on_watchdog, s);
    s->warm_delay = evtimer_new(s->base, on_warm_delay, s);
    if (!s->warm_delay)
        return -ENOMEM;
    if (s->watchdog_timer && sdnotify_watchdog_usec() > 0)
        add_timer_ms(s->watchdog_timer,
                     (unsigned)(sdnotify_watchdog_usec() / 2000));
    s->sig_term = evsignal_new(s->base, SIGTERM, on_stop_signal, s);
    s->sig_int = evsignal_new(s->base, SIGINT, on_stop_signal, s);
    s->sig_chld = evsignal_new(s->base, SIGCHLD, on_sigchld, s);
    if (!s->fetch_retry || !s->unblock_retry || !s->held_retry ||
        !s->grace_timer || !s->zygote_retry || !s->sig_term || !s->sig_int ||
        !s->sig_chld || evsignal_add(s->sig_term, NULL) < 0 ||
        evsignal_add(s->sig_int, NULL) < 0 || evsignal_add(s->sig_chld, NULL) < 0)
        return -ENOMEM;
    return 0;
}

static int make_connections(struct supervisor *s, const struct redis_url *url)
{
    char name[200];
    snprintf(name, sizeof(name), "sandq-worker:%s:fetch", s->cfg->worker_id);
    s->fetch = redis_conn_new(s->base, url, name, on_redis_state, s);
    snprintf(name, sizeof(name), "sandq-worker:%s:cmd", s->cfg->worker_id);
    s->cmd = redis_conn_new(s->base, url, name, on_cmd_state, s);
    return s->fetch && s->cmd ? 0 : -ENOMEM;
}

struct supervisor *supervisor_new(const struct worker_config *cfg,
                                  const struct redis_url *url,
                                  struct zygote *zygote,
                                  const struct zmsg_ready *ready,
                                  const char *zygote_path,
                                  char *const *zygote_args,
                                  struct cgroup_mgr *cgroups, int *ret_errno)
{
    struct supervisor *s = calloc(1, sizeof(*s));
    int r = -ENOMEM;
    if (!s) {
        zygote_free(zygote);
        *ret_errno = -ENOMEM;
        return NULL;
    }
    s->cfg = cfg;
    s->zygote = zygote;
    s->ready = *ready;
    s->zygote_up = true;
    s->zygote_path = zygote_path;
    s->zygote_args = zygote_args;
    s->cgroups = cgroups;
    s->recover_pending = true; /* a previous run with our id may have left ids */
    s->n_slots = cfg->slots;
    config_job_policy(cfg, &s->policy);
    if (!(s->base = event_base_new()) || !(s->slots = calloc(s->n_slots, sizeof(*s->slots))))
        goto fail;
    for (unsigned i = 0; i < s->n_slots; i++)
        if ((r = slot_init(&s->slots[i], s, i)) < 0)
            goto fail;
    if ((r = make_keys(s)) < 0 || (r = make_events(s)) < 0 ||
        (r = zygote_attach(zygote, s->base, &zygote_events, s)) < 0 ||
        (r = make_connections(s, url)) < 0 || (r = registry_init(s)) < 0 ||
        (r = control_init(s, url)) < 0)
        goto fail;
    if (cfg->metrics_listen &&
        (r = metrics_start(s, cfg->metrics_listen, &s->http)) < 0) {
        log_error("--metrics '%s': %s", cfg->metrics_listen,
                  r == -EINVAL ? "expected ADDR:PORT" : strerror(-r));
        goto fail;
    }
    return s;
fail:
    supervisor_free(s);
    *ret_errno = r;
    return NULL;
}

int supervisor_run(struct supervisor *s)
{
    log_info("worker '%s' taking from %zu queue(s) with %u slot(s)",
             s->cfg->worker_id, s->cfg->n_queues, s->n_slots);
    warm_slots(s);
    if (event_base_dispatch(s->base) < 0)
        return 1;
    uint64_t done = 0;
    for (int i = 0; i < OUTCOME_N_STATUSES; i++)
        done += s->done[i];
    log_info("stopped after %" PRIu64 " job(s)", done);
    return s->exit_code;
}

static void free_event(struct event *ev)
{
    if (ev)
        event_free(ev);
}

void supervisor_free(struct supervisor *s)
{
    if (!s)
        return;
    s->stopping = true;
    s->freeing = true;
    metrics_stop(s->http);
    redis_conn_free(s->fetch);
    redis_conn_free(s->cmd);
    control_release(s);
    registry_release(s);
    for (unsigned i = 0; s->slots && i < s->n_slots; i++)
        slot_release(&s->slots[i]);
    free(s->slots);
    zygote_free(s->zygote);
    struct event *evs[] = {s->fetch_retry, s->unblock_retry, s->held_retry,
                           s->grace_timer, s->zygote_retry, s->sig_term,
                           s->sig_int, s->sig_chld, s->watchdog_timer,
                           s->warm_delay};
    for (size_t i = 0; i < ARRAY_SIZE(evs); i++)
        free_event(evs[i]);
    free(s->processing_key);
    free(s->stats_key);
    free(s->dead_key);
    for (size_t i = 0; i < CONFIG_MAX_QUEUES; i++)
        free(s->queue_keys[i]);
    if (s->base)
        event_base_free(s->base);
    free(s);
}
