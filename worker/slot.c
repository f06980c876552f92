/* slot.c - one job's life in a slot: start it in Redis, hand it to the
 * zygote, feed the job pipe, drain the result pipe, enforce the wall-clock
 * and output limits, classify the end and write the outcome (the state
 * machine is drawn in supervisor_int.h). */
#include "supervisor_int.h"

#include "cgroup.h"
#include "keys.h"
#include "log.h"
#include "parse.h"
#include "scripts.h"
#include "util.h"
#include "zygote_client.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#define RESULT_SLACK_BYTES (256u * 1024u) /* error, traceback, framing */
#define FINISH_MAX_ARGS 40

static void slot_finish(struct slot *slot);
static void slot_complete(struct slot *slot);
static void slot_complete_early(struct slot *slot);
static void child_gone_after_early(struct slot *slot);

/* Close the child's pipes and timers; the slot's job stays. */
static void child_cleanup(struct slot *slot)
{
    if (slot->job_ev) {
        event_free(slot->job_ev);
        slot->job_ev = NULL;
    }
    if (slot->result_ev) {
        event_free(slot->result_ev);
        slot->result_ev = NULL;
    }
    evtimer_del(slot->timer);
    close_keep_errno(slot->job_fd);
    close_keep_errno(slot->result_fd);
    close_keep_errno(slot->pidfd);
    slot->job_fd = slot->result_fd = slot->pidfd = -1;
    buf_release(&slot->payload);
    buf_release(&slot->result);
    slot->payload_sent = 0;
}

/* Back to FREE: everything the job held is released. A child forked
 * ahead that never got this job (hash gone, already final, invalid) stays
 * for the next one. */
static void slot_reset(struct slot *slot)
{
    bool draining = slot->early && !slot->exited;
    if (!slot->warm && !draining) {
        child_cleanup(slot);
        slot->exited = false;
        slot->early = false;
    }
    free(slot->id);
    free(slot->key);
    free(slot->queue);
    job_free(slot->job);
    outcome_release(&slot->outcome);
    slot->id = slot->key = slot->queue = NULL;
    slot->job = NULL;
    slot->attempt[0] = '\0';
    slot->kill_reason = KILL_NONE;
    slot->cancel_requested = false;
    slot->finished_at_ms = 0;
    slot->cgroup_failed = false;
    if (draining) {
        slot->state = SLOT_DRAINING; /* free once the child is reaped */
        return;
    }
    slot->state = SLOT_FREE;
    supervisor_slot_freed(slot->sup);
}

/* ---- finishing ---------------------------------------------------------- */

static void on_finish_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct slot *slot = privdata;
    redisReply *reply = r;
    if (slot->state != SLOT_FINISHING)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            log_error("job=%s writing the outcome failed: %s; will retry",
                      slot->id, reply->str);
        else
            log_warn("job=%s outcome '%s' held in memory until Redis is back",
                     slot->id, slot->outcome.status);
        slot->state = SLOT_HELD; /* flushed when Redis answers again */
        supervisor_note_redis_trouble(slot->sup);
        return;
    }
    const char *res = reply->type == REDIS_REPLY_STATUS ||
                              reply->type == REDIS_REPLY_STRING
                          ? reply->str
                          : "?";
    if (strcmp(res, "ok") == 0) {
        const struct outcome *o = &slot->outcome;
        log_info("job=%s status=%s attempt=%s time_ms=%" PRIu64
                 " cpu_ms=%" PRIu64 " memory_kb=%" PRIu64 "%s%s",
                 slot->id, o->status, slot->attempt, o->time_ms, o->cpu_ms,
                 o->memory_kb, o->error_type.data ? " error_type=" : "",
                 o->error_type.data ? o->error_type.data : "");
        int k = outcome_status_index(o->status);
        if (k >= 0)
            slot->sup->done[k]++;
    } else {
        log_warn("job=%s outcome '%s' not written: %s", slot->id,
                 slot->outcome.status,
                 strcmp(res, "gone") == 0
                     ? "the job hash is gone (expired or deleted while it ran)"
                 : strcmp(res, "notmine") == 0
                     ? "the job now belongs to another worker or attempt"
                     : "the job is no longer running (canceled or finished)");
    }
    slot_reset(slot);
}

/* Append name/value to the finish command's argv. */
static void add_field(const char **argv, size_t *lens, int *argc,
                      const char *name, const char *value, size_t len)
{
    if (*argc + 2 > FINISH_MAX_ARGS)
        return;
    argv[*argc] = name;
    lens[(*argc)++] = strlen(name);
    argv[*argc] = value;
    lens[(*argc)++] = len;
}

static void add_text(const char **argv, size_t *lens, int *argc,
                     const char *name, const struct text *t)
{
    if (t->data)
        add_field(argv, lens, argc, name, t->data, t->len);
}

/* Send the outcome in one EVAL of script_finish. */
static void slot_finish(struct slot *slot)
{
    struct supervisor *s = slot->sup;
    const struct outcome *o = &slot->outcome;
    const char *argv[FINISH_MAX_ARGS];
    size_t lens[FINISH_MAX_ARGS];
    char ttl[16], finished[24], t_ms[24], c_ms[24], m_kb[24];
    const char *key = slot->key;
    _cleanup_free_ char *channel = keys_make(s->cfg->prefix, KEY_DONE, slot->id);
    int argc = 0;

    slot->state = SLOT_FINISHING;
    if (!channel) {
        slot->state = SLOT_HELD;
        return;
    }
    snprintf(ttl, sizeof(ttl), "%u",
             slot->job ? slot->job->result_ttl : s->policy.result_ttl_default);
    if (!slot->finished_at_ms)
        slot->finished_at_ms = now_wall_ms(); /* kept if held and retried */
    snprintf(finished, sizeof(finished), "%" PRId64, slot->finished_at_ms);
    const char *head[] = {"EVAL", script_finish, "3", key, s->processing_key,
                          s->stats_key, slot->id, s->cfg->worker_id,
                          slot->attempt, ttl, o->status, channel, finished};
    for (size_t i = 0; i < ARRAY_SIZE(head); i++) {
        argv[argc] = head[i];
        lens[argc++] = strlen(head[i]);
    }
    add_text(argv, lens, &argc, "result", &o->result);
    add_text(argv, lens, &argc, "error_type", &o->error_type);
    add_text(argv, lens, &argc, "error", &o->error);
    add_text(argv, lens, &argc, "traceback", &o->traceback);
    if (o->stdout_text.data || o->has_usage)
        add_field(argv, lens, &argc, "stdout",
                  o->stdout_text.data ? o->stdout_text.data : "",
                  o->stdout_text.len);
    if (o->stdout_truncated)
        add_field(argv, lens, &argc, "stdout_truncated", "1", 1);
    add_field(argv, lens, &argc, "finished_at", finished, strlen(finished));
    if (o->has_usage) {
        snprintf(t_ms, sizeof(t_ms), "%" PRIu64, o->time_ms);
        snprintf(c_ms, sizeof(c_ms), "%" PRIu64, o->cpu_ms);
        snprintf(m_kb, sizeof(m_kb), "%" PRIu64, o->memory_kb);
        add_field(argv, lens, &argc, "time_ms", t_ms, strlen(t_ms));
        add_field(argv, lens, &argc, "cpu_ms", c_ms, strlen(c_ms));
        add_field(argv, lens, &argc, "memory_kb", m_kb, strlen(m_kb));
    }
    if (redis_conn_command(s->cmd, on_finish_reply, slot, argc, argv, lens) < 0) {
        log_warn("job=%s outcome '%s' held in memory until Redis is back",
                 slot->id, o->status);
        slot->state = SLOT_HELD;
    }
}

void slot_flush_held(struct slot *slot)
{
    if (slot->state == SLOT_HELD)
        slot_finish(slot);
}

/* A job that ends without a child (invalid, sandbox setup refused). */
__attribute__((format(printf, 4, 5))) static void
finish_now(struct slot *slot, const char *status, const char *error_type,
           const char *fmt, ...)
{
    va_list ap;
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (outcome_set(&slot->outcome, status, error_type, "%s", msg) < 0)
        log_error("job=%s out of memory building its outcome", slot->id);
    slot_finish(slot);
}

/* ---- shutdown requeue ---------------------------------------------------- */

static void on_requeue_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct slot *slot = privdata;
    if (slot->state != SLOT_REQUEUING)
        return;
    if (!r)
        log_warn("job=%s requeue not confirmed (Redis dropped); it stays on "
                 "the processing list for recovery", slot->id);
    else
        log_info("job=%s killed at the end of the grace period and requeued "
                 "(attempt not counted)", slot->id);
    slot_reset(slot);
}

static void slot_requeue(struct slot *slot)
{
    struct supervisor *s = slot->sup;
    const char *argv[] = {"EVAL", script_requeue, "3", s->processing_key,
                          s->dead_key, s->stats_key, s->cfg->prefix,
                          slot->queue, "0", "1", "ids", slot->id};
    size_t lens[ARRAY_SIZE(argv)];
    char now[24];
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms());
    argv[8] = now;
    for (size_t i = 0; i < ARRAY_SIZE(argv); i++)
        lens[i] = strlen(argv[i]);
    slot->state = SLOT_REQUEUING;
    child_cleanup(slot);
    if (redis_conn_command(s->cmd, on_requeue_reply, slot, (int)ARRAY_SIZE(argv),
                           argv, lens) < 0)
        on_requeue_reply(NULL, NULL, slot);
}

/* ---- the child ----------------------------------------------------------- */

void slot_kill(struct slot *slot, enum kill_reason reason)
{
    bool early_alive = slot->early && !slot->exited;
    if (slot->state != SLOT_RUNNING && !early_alive)
        return;
    if (slot->kill_reason == KILL_NONE && !early_alive)
        slot->kill_reason = reason;
    if (slot->pidfd >= 0 && !slot->exited &&
        pidfd_send_signal(slot->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        log_error("job=%s cannot kill its child: %s", slot->id, strerror(errno));
    if (slot->sup->cgroups && !slot->exited)
        (void)cgroup_slot_kill(slot->sup->cgroups, slot->index);
    /* Before SPAWNED there is no pidfd yet: slot_on_spawned kills. */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct slot *slot = arg;
    /* libevent may fire a little early (cached loop time, ms rounding):
     * never kill before the limit has really passed. */
    int64_t left_us = slot->deadline_us - now_mono_us();
    if (left_us > 0) {
        struct timeval tv = {left_us / 1000000, left_us % 1000000};
        evtimer_add(slot->timer, &tv);
        return;
    }
    log_debug("slot %u: wall-clock limit reached; killing", slot->index);
    slot_kill(slot, KILL_TIMEOUT);
}

/* Read what the child wrote; returns true at EOF or after a fatal error. */
static bool drain_result(struct slot *slot)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = read(slot->result_fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno != EAGAIN;
        if (n == 0)
            return true;
        if (slot->result.len + (size_t)n > slot->result_cap) {
            slot_kill(slot, KILL_OUTPUT);
            return true;
        }
        if (buf_append(&slot->result, chunk, (size_t)n) < 0) {
            slot_kill(slot, KILL_OUTPUT);
            return true;
        }
    }
}

static void stop_reading(struct slot *slot)
{
    if (slot->result_ev) {
        event_free(slot->result_ev);
        slot->result_ev = NULL;
    }
    close_keep_errno(slot->result_fd);
    slot->result_fd = -1;
}

/* The child's frames end with 'Z' and nothing after it: its outcome is
 * whole even though the child has not exited yet. */
static bool frames_complete(const struct buf *b)
{
    static const char end[FRAME_HEADER_SIZE] = {0, 0, 0, 0, FRAME_OUT_END};
    size_t pos = 0, last = 0;
    struct frame f;
    if (b->len < FRAME_HEADER_SIZE ||
        memcmp(b->data + b->len - FRAME_HEADER_SIZE, end, FRAME_HEADER_SIZE) != 0)
        return false;
    while (frame_next(b->data, b->len, &pos, FRAME_MAX_PAYLOAD, &f) == 1)
        last = pos;
    return last == b->len && f.tag == FRAME_OUT_END;
}

static void on_result_readable(evutil_socket_t fd, short what, void *arg)
{
    struct slot *slot = arg;
    if (drain_result(slot)) {
        stop_reading(slot);
        if (slot->exited)
            slot_complete(slot);
        return;
    }
    if (slot->state == SLOT_RUNNING && slot->kill_reason == KILL_NONE &&
        slot->sup->cgroups && !slot->exited && frames_complete(&slot->result))
        slot_complete_early(slot);
}

static void stop_writing(struct slot *slot)
{
    if (slot->job_ev) {
        event_free(slot->job_ev);
        slot->job_ev = NULL;
    }
    close_keep_errno(slot->job_fd); /* EOF tells the child the job is whole */
    slot->job_fd = -1;
}

static void on_job_writable(evutil_socket_t fd, short what, void *arg)
{
    struct slot *slot = arg;
    while (slot->payload_sent < slot->payload.len) {
        ssize_t n = write(slot->job_fd, slot->payload.data + slot->payload_sent,
                          slot->payload.len - slot->payload_sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) /* EPIPE: the child is gone; its end tells the story */
            break;
        slot->payload_sent += (size_t)n;
    }
    stop_writing(slot);
    buf_release(&slot->payload);
}

/* What goes down the job pipe: the limits the pre-forked child applies
 * before its seccomp filter, then the job's frames. */
static int build_payload(struct slot *slot)
{
    const struct job *j = slot->job;
    struct buf *b = &slot->payload;
    struct zlimits limits = {.cpu_limit_ms = j->limits.cpu_ms,
                             .memory_limit_mb = j->limits.memory_mb};
    char cap[24];
    snprintf(cap, sizeof(cap), "%u", j->limits.output_kb * 1024u);
    int r;
    if ((r = buf_append(b, &limits, sizeof(limits))) < 0 ||
        (r = buf_append_frame(b, FRAME_JOB_CODE, j->code, j->code_len)) < 0 ||
        (r = buf_append_frame(b, FRAME_JOB_FUNCTION, j->function,
                              strlen(j->function))) < 0 ||
        (r = buf_append_frame(b, FRAME_JOB_OUTPUT_CAP, cap, strlen(cap))) < 0)
        return r;
    if (j->calls)
        r = buf_append_frame(b, FRAME_JOB_CALLS, j->calls, j->calls_len);
    else if ((r = buf_append_frame(b, FRAME_JOB_ARGS, j->args, j->args_len)) == 0)
        r = buf_append_frame(b, FRAME_JOB_KWARGS, j->kwargs, j->kwargs_len);
    if (r < 0)
        return r;
    return buf_append_frame(b, FRAME_JOB_END, "", 0);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Limits of a job in the slot's cgroups; memory_mb is the job's. */
static struct cgroup_limits slot_cgroup_limits(unsigned memory_mb)
{
    return (struct cgroup_limits){
        .memory_bytes = (uint64_t)memory_mb * 1024 * 1024,
        .pids_max = 1,        /* the child itself: no fork, no thread */
        .cpu_quota_pct = 100, /* one core per slot */
    };
}

/* The cgroup.procs fds a new child joins its slot's cgroups through (with
 * the worker's default limits until its job is known). No cgroup layer:
 * no fds. */
static int prepare_cgroup(struct slot *slot, int fds[CGROUP_MAX_FDS],
                          unsigned *ret_n)
{
    struct cgroup_limits cl =
        slot_cgroup_limits(slot->sup->policy.memory_mb_default);
    *ret_n = 0;
    if (!slot->sup->cgroups)
        return 0;
    return cgroup_slot_prepare(slot->sup->cgroups, slot->index, &cl, fds, ret_n);
}

/* Ask the zygote for a child with deferred limits (ZSPAWN_DEFER_LIMITS):
 * it forks and sets up now and waits for a job on its pipe. */
static int request_child(struct slot *slot, int job_read, int result_write)
{
    struct supervisor *s = slot->sup;
    int cg_fds[CGROUP_MAX_FDS];
    unsigned n_cg = 0;
    int r = prepare_cgroup(slot, cg_fds, &n_cg);
    if (r < 0) {
        slot->cgroup_failed = true;
        return r;
    }
    slot->token = (++s->generation << 16) | slot->index;
    struct zmsg_spawn req = {.type = ZMSG_SPAWN, .token = slot->token,
                             .n_cgroup_fds = n_cg,
                             .flags = ZSPAWN_DEFER_LIMITS};
    r = zygote_spawn(s->zygote, &req, job_read, result_write, cg_fds, n_cg);
    for (unsigned i = 0; i < n_cg; i++)
        close_keep_errno(cg_fds[i]);
    return r;
}

/* Fork the slot's next child ahead of its job: pipes, the request to the
 * zygote, the result pipe watched (a child that dies idle is seen). On
 * failure nothing is left open and -errno is returned. */
static int spawn_warm(struct slot *slot)
{
    struct supervisor *s = slot->sup;
    int job_pipe[2] = {-1, -1}, result_pipe[2] = {-1, -1};
    int r = 0;

    if (pipe2(job_pipe, O_CLOEXEC) < 0 || pipe2(result_pipe, O_CLOEXEC) < 0 ||
        set_nonblock(job_pipe[1]) < 0 || set_nonblock(result_pipe[0]) < 0)
        r = -errno;
    if (r == 0)
        r = request_child(slot, job_pipe[0], result_pipe[1]);
    close_keep_errno(job_pipe[0]);
    close_keep_errno(result_pipe[1]);
    slot->job_fd = job_pipe[1];
    slot->result_fd = result_pipe[0];
    slot->exited = false;
    if (r == 0) {
        slot->job_ev = event_new(s->base, slot->job_fd, EV_WRITE | EV_PERSIST,
                                 on_job_writable, slot);
        slot->result_ev = event_new(s->base, slot->result_fd,
                                    EV_READ | EV_PERSIST, on_result_readable,
                                    slot);
        if (!slot->job_ev || !slot->result_ev ||
            event_add(slot->result_ev, NULL) < 0)
            r = -ENOMEM;
    }
    if (r < 0) {
        child_cleanup(slot);
        return r;
    }
    slot->warm = true;
    return 0;
}

/* A free slot gets its child now, so the fork and the sandbox setup are
 * done before the job arrives. A failure is not the job's: it is retried
 * when the job comes (start_child) or on the next free. */
void slot_warm(struct slot *slot)
{
    struct supervisor *s = slot->sup;
    if (slot->warm || slot->state != SLOT_FREE || s->stopping ||
        !s->zygote_up || s->cfg->no_fork_ahead)
        return;
    int r = spawn_warm(slot);
    if (r < 0)
        log_debug("slot %u: cannot fork ahead: %s", slot->index, strerror(-r));
}

/* The pre-forked child ended before it had a job (its zygote died, or it
 * failed a setup step): drop it; the slot forks again when it can. */
static void warm_child_lost(struct slot *slot, const char *why)
{
    log_warn("slot %u: idle child lost (%s)", slot->index, why);
    child_cleanup(slot);
    slot->warm = false;
    slot->exited = false;
    slot->cgroup_failed = false;
    if (!evtimer_pending(slot->warm_timer, NULL)) {
        struct timeval tv = {0, 200000};
        evtimer_add(slot->warm_timer, &tv);
    }
}

static void on_warm_timer(evutil_socket_t fd, short what, void *arg)
{
    slot_warm(arg);
}

/* Hand the job to the slot's child (forked now if there was none): the
 * job's cgroup limits, then the limits header and the frames down its
 * pipe, and the wall-clock timer from this moment. */
static int assign_job(struct slot *slot)
{
    const struct job_limits *l = &slot->job->limits;
    int r = 0;
    if (!slot->warm && (r = spawn_warm(slot)) < 0)
        return r;
    slot->warm = false;
    if (slot->sup->cgroups) {
        struct cgroup_limits cl = slot_cgroup_limits(l->memory_mb);
        if ((r = cgroup_slot_relimit(slot->sup->cgroups, slot->index, &cl)) < 0) {
            slot->cgroup_failed = true;
            return r;
        }
    }
    if ((r = build_payload(slot)) < 0 || event_add(slot->job_ev, NULL) < 0)
        return r < 0 ? r : -ENOMEM;
    return 0;
}

static void start_child(struct slot *slot)
{
    const struct job_limits *l = &slot->job->limits;
    struct timeval tv = {l->time_ms / 1000, (l->time_ms % 1000) * 1000};
    slot->result_cap = (size_t)l->output_kb * 1024u * 2u + RESULT_SLACK_BYTES;
    slot->spawn_at_us = now_mono_us();
    slot->deadline_us = slot->spawn_at_us + (int64_t)l->time_ms * 1000;
    slot->state = SLOT_RUNNING;
    int r = assign_job(slot);
    if (r < 0) {
        if (slot->pidfd >= 0)
            (void)pidfd_send_signal(slot->pidfd, SIGKILL, NULL, 0);
        child_cleanup(slot);
        finish_now(slot, "crashed", "SandboxError",
                   "%s: %s; the job did not run",
                   slot->cgroup_failed ? "sandbox step 'cgroup' failed"
                                       : "could not start the job child",
                   strerror(-r));
        return;
    }
    evtimer_add(slot->timer, &tv);
}

void slot_on_spawned(struct slot *slot, const struct zmsg_spawned *m, int pidfd)
{
    bool idle = slot->warm && slot->state != SLOT_RUNNING;
    if ((slot->state != SLOT_RUNNING && !slot->warm) || m->token != slot->token) {
        close_keep_errno(pidfd);
        return;
    }
    if (m->pid <= 0 && idle) {
        warm_child_lost(slot, zstep_name(m->err_step));
        return;
    }
    if (m->pid <= 0) {
        child_cleanup(slot);
        finish_now(slot, "crashed", "SandboxError",
                   "sandbox step '%s' failed in the zygote: %s; the job did "
                   "not run",
                   zstep_name(m->err_step), strerror(m->err_errno));
        return;
    }
    slot->pidfd = pidfd;
    if (slot->cancel_requested && slot->kill_reason == KILL_NONE)
        slot->kill_reason = KILL_CANCELED;
    if (slot->kill_reason != KILL_NONE)
        slot_kill(slot, slot->kill_reason);
}

void slot_on_exited(struct slot *slot, const struct zmsg_exited *m)
{
    if (m->token != slot->token)
        return;
    if (slot->warm && slot->state != SLOT_RUNNING) {
        if (slot->sup->cgroups) {
            struct cgroup_usage u;
            (void)cgroup_slot_collect(slot->sup->cgroups, slot->index, &u);
        }
        warm_child_lost(slot, "exited before its job");
        return;
    }
    if (slot->early && !slot->exited) {
        child_gone_after_early(slot);
        return;
    }
    if (slot->state != SLOT_RUNNING)
        return;
    slot->exited = true;
    slot->exit_info = *m;
    if (slot->result_fd >= 0) {
        (void)drain_result(slot); /* the writer is gone: all data is here */
        stop_reading(slot);
    }
    slot_complete(slot);
}

/* The child of an early outcome was reaped: the slot is free again once
 * its outcome is written too. */
static void child_gone_after_early(struct slot *slot)
{
    slot->exited = true;
    evtimer_del(slot->timer);
    child_cleanup(slot);
    if (slot->state == SLOT_DRAINING) {
        slot->early = false;
        slot->exited = false;
        slot->state = SLOT_FREE;
        supervisor_slot_freed(slot->sup);
    }
}

void slot_on_zygote_lost(struct slot *slot)
{
    if (slot->early && !slot->exited) {
        child_gone_after_early(slot);
        return;
    }
    if (slot->warm && slot->state != SLOT_RUNNING) {
        struct zmsg_exited m = {.type = ZMSG_EXITED, .token = slot->token,
                                .wait_status = SIGKILL};
        slot_on_exited(slot, &m);
        return;
    }
    if (slot->state != SLOT_RUNNING)
        return;
    /* PR_SET_PDEATHSIG killed the child with its zygote. */
    struct zmsg_exited m = {.type = ZMSG_EXITED, .token = slot->token,
                            .wait_status = SIGKILL};
    if (slot->kill_reason == KILL_NONE)
        slot->kill_reason = KILL_ZYGOTE;
    slot_on_exited(slot, &m);
}

/* What the slot's cgroups saw: the kernel's OOM kill decides the status
 * (the child only saw SIGKILL), the cgroup's peak is the job's memory
 * (pages it charged itself, not the zygote's it shares), and without an
 * exit report (an early outcome) the cgroup's CPU is the job's too. */
static void apply_cgroup_usage(struct slot *slot)
{
    struct cgroup_usage u;
    struct outcome *o = &slot->outcome;
    if (!slot->sup->cgroups ||
        cgroup_slot_collect(slot->sup->cgroups, slot->index, &u) < 0)
        return;
    if (u.memory_peak_kb)
        o->memory_kb = u.memory_peak_kb;
    if (slot->early)
        o->cpu_ms = u.cpu_usec / 1000;
    if (u.oom_killed && strcmp(o->status, "crashed") == 0)
        outcome_set(o, "memory_limit", "MemoryLimit",
                    "the kernel stopped the job at its memory limit of %u MiB",
                    slot->job->limits.memory_mb);
}

/* Classify how the child ended and attach what it used. */
static void decide_outcome(struct slot *slot, const struct child_end *end,
                           uint64_t maxrss_kb)
{
    struct outcome *o = &slot->outcome;
    if (outcome_from_child(o, slot->result.data, slot->result.len, end) < 0)
        outcome_set(o, "crashed", "InternalError",
                    "out of memory classifying the outcome");
    o->has_usage = true;
    o->time_ms = (uint64_t)(now_mono_us() - slot->spawn_at_us) / 1000;
    o->cpu_ms = end->cpu_ms;
    o->memory_kb = maxrss_kb;
    apply_cgroup_usage(slot);
    histogram_observe(&slot->sup->job_duration, (double)o->time_ms / 1000.0);
}

/* The frames are whole: write the outcome now and let the kernel tear the
 * child down meanwhile (that takes ~0.35 ms). CPU and memory come from the
 * slot's cgroup, since there is no exit report yet; the timer stays, so a
 * child that lingers after its last frame is still killed at the limit. */
static void slot_complete_early(struct slot *slot)
{
    const struct job_limits *l = &slot->job->limits;
    struct child_end end = {.wait_status = 0, .reaped = true,
                            .time_limit_ms = l->time_ms,
                            .output_cap_bytes = (unsigned)slot->result_cap};
    slot->early = true;
    decide_outcome(slot, &end, 0);
    slot_finish(slot);
}

/* Both the exit report and EOF are in: decide the outcome. */
static void slot_complete(struct slot *slot)
{
    const struct job_limits *l = &slot->job->limits;
    const struct zmsg_exited *e = &slot->exit_info;
    struct child_end end = {
        .wait_status = e->wait_status,
        .reaped = true,
        .reason = slot->kill_reason,
        .time_limit_ms = l->time_ms,
        .cpu_limit_ms = (l->cpu_ms + 999) / 1000 * 1000,
        .output_cap_bytes = (unsigned)slot->result_cap,
        .cpu_ms = (e->utime_us + e->stime_us) / 1000,
    };
    if (slot->result_fd >= 0)
        return; /* wait for EOF */
    evtimer_del(slot->timer);
    if (slot->kill_reason == KILL_SHUTDOWN) {
        slot_requeue(slot);
        return;
    }
    decide_outcome(slot, &end, e->maxrss_kb);
    child_cleanup(slot);
    slot_finish(slot);
}

/* ---- starting ------------------------------------------------------------ */

/* The start script's {"ok", attempts, name, value, ...} into a job. */
static void start_ok(struct slot *slot, const redisReply *reply)
{
    struct job_field fields[16];
    size_t n = 0;
    _cleanup_free_ char *error = NULL;

    for (size_t i = 2; i + 1 < reply->elements && n < ARRAY_SIZE(fields); i += 2) {
        const redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        fields[n++] = (struct job_field){k->str, v->str, v->len};
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t at;
        if (strcmp(fields[i].name, "enqueued_at") == 0 &&
            parse_u64(fields[i].value, fields[i].len, 1, INT64_MAX, &at) == 0) {
            int64_t wait_ms = now_wall_ms() - (int64_t)at;
            histogram_observe(&slot->sup->queue_wait,
                              wait_ms > 0 ? (double)wait_ms / 1000.0 : 0.0);
        }
    }
    if (!parse_is_name(slot->id, strlen(slot->id))) {
        finish_now(slot, "invalid", "InvalidJob",
                   "job id must be 1-128 characters of A-Z a-z 0-9 . _ : -");
        return;
    }
    int r = job_parse(fields, n, &slot->sup->policy, &slot->job, &error);
    if (r == -EINVAL) {
        finish_now(slot, "invalid", "InvalidJob", "%s", error ? error : "malformed job");
        return;
    }
    if (r < 0) {
        finish_now(slot, "crashed", "InternalError", "out of memory reading the job");
        return;
    }
    start_child(slot);
}

static void on_start_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct slot *slot = privdata;
    redisReply *reply = r;
    if (slot->state != SLOT_STARTING)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            log_error("job=%s start failed: %s; leaving it for recovery",
                      slot->id, reply->str);
        supervisor_note_redis_trouble(slot->sup);
        slot_reset(slot);
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        log_warn("job=%s has no job hash; dropped from the processing list",
                 slot->id);
        slot_reset(slot);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        log_error("job=%s unexpected start reply; leaving it for recovery",
                  slot->id);
        supervisor_note_redis_trouble(slot->sup);
        slot_reset(slot);
        return;
    }
    const char *what = reply->element[0]->str;
    if (strcmp(what, "skip") == 0) {
        log_warn("job=%s is already %s; not run again", slot->id,
                 reply->element[1]->type == REDIS_REPLY_STRING
                     ? reply->element[1]->str
                     : "final");
        slot_reset(slot);
        return;
    }
    snprintf(slot->attempt, sizeof(slot->attempt), "%lld",
             reply->element[1]->integer);
    if (strcmp(what, "big") == 0 && reply->elements >= 4) {
        finish_now(slot, "invalid", "InvalidJob",
                   "'%s' is %lld bytes, over the worker's cap",
                   reply->element[2]->str, reply->element[3]->integer);
        return;
    }
    start_ok(slot, reply);
}

void slot_take(struct slot *slot, const char *id, size_t id_len,
               const char *queue)
{
    struct supervisor *s = slot->sup;
    char now[24], code_cap[24], args_cap[24];
    slot->state = SLOT_STARTING;
    slot->id = strndup(id, id_len);
    slot->queue = strdup(queue);
    slot->key = slot->id ? keys_make(s->cfg->prefix, KEY_JOB, slot->id) : NULL;
    if (!slot->id || !slot->queue || !slot->key) {
        log_error("out of memory taking a job; leaving it for recovery");
        supervisor_note_redis_trouble(s);
        slot_reset(slot);
        return;
    }
    snprintf(now, sizeof(now), "%" PRId64, now_wall_ms());
    snprintf(code_cap, sizeof(code_cap), "%zu", s->policy.code_max_bytes);
    snprintf(args_cap, sizeof(args_cap), "%zu", s->policy.args_max_bytes);
    const char *argv[] = {"EVAL", script_start, "2", slot->key, s->processing_key,
                          slot->id, s->cfg->worker_id, now, queue, code_cap,
                          args_cap};
    size_t lens[ARRAY_SIZE(argv)];
    for (size_t i = 0; i < ARRAY_SIZE(argv); i++)
        lens[i] = strlen(argv[i]);
    lens[5] = id_len;
    if (redis_conn_command(s->cmd, on_start_reply, slot, (int)ARRAY_SIZE(argv),
                           argv, lens) < 0)
        on_start_reply(NULL, NULL, slot);
}

int slot_init(struct slot *slot, struct supervisor *sup, unsigned index)
{
    memset(slot, 0, sizeof(*slot));
    slot->sup = sup;
    slot->index = index;
    slot->job_fd = slot->result_fd = slot->pidfd = -1;
    slot->timer = evtimer_new(sup->base, on_timeout, slot);
    slot->warm_timer = evtimer_new(sup->base, on_warm_timer, slot);
    return slot->timer && slot->warm_timer ? 0 : -ENOMEM;
}

void slot_release(struct slot *slot)
{
    child_cleanup(slot);
    if (slot->timer)
        event_free(slot->timer);
    if (slot->warm_timer)
        event_free(slot->warm_timer);
    free(slot->id);
    free(slot->key);
    free(slot->queue);
    job_free(slot->job);
    outcome_release(&slot->outcome);
}
