/* supervisor_int.h - state shared by supervisor.c (loop, Redis, shutdown)
 * and slot.c (one job's life in a slot). Not an interface for other
 * modules. */
#ifndef SANDQ_SUPERVISOR_INT_H
#define SANDQ_SUPERVISOR_INT_H

#include "config.h"
#include "frame.h"
#include "job.h"
#include "metrics.h"
#include "outcome.h"
#include "redis_conn.h"
#include "zproto.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup_mgr;
struct event;
struct event_base;
struct zygote;

/* A slot runs at most one job. Every state has exactly one event that moves
 * it on, so no job can sit where nobody looks:
 *   FREE      -> STARTING   BLMOVE delivered an id (fetch reply)
 *   STARTING  -> RUNNING    start script said ok; job sent to the zygote
 *   STARTING  -> FINISHING  job invalid (outcome without a child)
 *   STARTING  -> FREE       hash gone / already final / Redis dropped
 *   RUNNING   -> FINISHING  child reaped and its pipe drained
 *   RUNNING   -> REQUEUING  killed at the end of the shutdown grace period
 *   FINISHING -> FREE       finish script answered
 *   FINISHING -> HELD       Redis dropped; outcome kept in memory
 *   HELD      -> FINISHING  Redis is back
 *   REQUEUING -> FREE       requeue script answered (or Redis dropped:
 *                           the id stays on the processing list)
 *   RUNNING   -> FINISHING  the child's outcome frames are complete ('Z')
 *                           before it has exited ("early": the outcome is
 *                           written while the kernel tears the child down)
 *   FINISHING -> DRAINING   early outcome written, child not reaped yet
 *   DRAINING  -> FREE       the child was reaped (or killed at its limit) */
enum slot_state {
    SLOT_FREE = 0,
    SLOT_STARTING,
    SLOT_RUNNING,
    SLOT_FINISHING,
    SLOT_HELD,
    SLOT_REQUEUING,
    SLOT_DRAINING,
};

struct supervisor;

struct slot {
    struct supervisor *sup;
    unsigned index;
    enum slot_state state;
    uint64_t token;          /* generation << 16 | index, per spawn */
    char *id;
    char *key;               /* <prefix>:job:<id> */
    char *queue;             /* queue the id was taken from */
    char attempt[24];        /* the job's attempts after our start */
    struct job *job;
    unsigned result_ttl;
    /* the child */
    int pidfd;               /* from SPAWNED; -1 before */
    bool exited;             /* EXITED received */
    int job_fd;              /* our write end of the job pipe */
    int result_fd;           /* our read end of the result pipe */
    struct event *job_ev, *result_ev, *timer;
    struct buf payload;
    size_t payload_sent;
    struct buf result;
    size_t result_cap;
    struct zmsg_exited exit_info;
    enum kill_reason kill_reason;
    int64_t spawn_at_us;     /* monotonic */
    int64_t started_at_ms;   /* wall clock */
    int64_t finished_at_ms;  /* when the outcome was decided */
    struct outcome outcome;
    bool cancel_requested;   /* kill as soon as there is a child */
    bool cgroup_failed;      /* preparing the slot's cgroups failed */
    bool warm;               /* a child forked ahead waits for a job */
    bool early;              /* outcome taken from complete frames before
                                the child exited */
    int64_t deadline_us;     /* monotonic wall-clock limit of the job */
    struct event *warm_timer;/* fork ahead again after an idle child died */
};

struct supervisor {
    struct event_base *base;
    const struct worker_config *cfg;
    struct job_policy policy;
    struct redis_conn *fetch;   /* only blocking BLMOVEs */
    struct redis_conn *cmd;     /* everything else */
    struct redis_conn *sub;     /* SUBSCRIBE to cancel and control */
    struct zygote *zygote;
    struct cgroup_mgr *cgroups;  /* per-slot cgroups, or NULL (layer off) */
    const char *zygote_path;
    char *const *zygote_args;
    struct zmsg_ready ready;
    bool zygote_up;
    unsigned zygote_restarts;
    struct event *zygote_retry;
    struct slot *slots;
    unsigned n_slots;
    uint64_t generation;
    bool fetch_outstanding;
    bool fetch_block_next;
    size_t fetch_queue;         /* index of the queue being BLMOVEd */      /* several queues, all empty: block next */
    bool freeing;
    bool recover_pending;       /* our processing list may hold orphans */
    bool recover_outstanding;
    bool stopping;
    bool grace_over;
    bool final_recover_done;
    int exit_code;
    struct event *fetch_retry;  /* after a Redis error reply */
    struct event *unblock_retry;
    struct event *held_retry;
    struct event *grace_timer;
    struct event *sig_term, *sig_int, *sig_chld;
    char *processing_key, *stats_key, *dead_key;
    char *queue_keys[CONFIG_MAX_QUEUES];
    bool paused[CONFIG_MAX_QUEUES];
    bool paused_known;          /* the paused set was read once */
    char *worker_key, *workers_key, *reaper_key, *paused_key;
    char *cancel_channel, *control_channel;
    struct event *heartbeat_timer, *reap_timer;
    bool deregister_outstanding;
    int64_t started_at_ms;
    uint64_t done[OUTCOME_N_STATUSES]; /* outcomes written, by status */
    uint64_t reconnects, jobs_reaped, workers_reaped, zygote_deaths;
    struct histogram job_duration, queue_wait;
    struct evhttp *http;        /* --metrics, or NULL */
    struct event *watchdog_timer;
    struct event *warm_delay;   /* fork ahead a moment after a slot frees */
    bool ready_sent;            /* READY=1 told to systemd */
};

/* registry.c: heartbeat, reaper, deregistration */
int registry_init(struct supervisor *s);
void registry_beat(struct supervisor *s);
/* Leave the registry, then break the loop (at once if Redis is down). */
void registry_leave_and_stop(struct supervisor *s);
void registry_release(struct supervisor *s);

/* control.c: cancel and pause messages */
int control_init(struct supervisor *s, const struct redis_url *url);
void control_release(struct supervisor *s);
/* Re-read the paused set and running jobs' cancel flags (after a reconnect:
 * messages may have been missed). */
void control_resync(struct supervisor *s);

/* supervisor.c, for control.c */
void supervisor_unblock_fetch(struct supervisor *s);
void supervisor_kick(struct supervisor *s);

/* slot.c */
void slot_take(struct slot *slot, const char *id, size_t id_len,
               const char *queue);
void slot_on_spawned(struct slot *slot, const struct zmsg_spawned *m, int pidfd);
void slot_on_exited(struct slot *slot, const struct zmsg_exited *m);
void slot_on_zygote_lost(struct slot *slot);
void slot_flush_held(struct slot *slot);
void slot_kill(struct slot *slot, enum kill_reason reason);
void slot_warm(struct slot *slot);
void slot_release(struct slot *slot);
int slot_init(struct slot *slot, struct supervisor *sup, unsigned index);

/* supervisor.c, called by slot.c */
void supervisor_slot_freed(struct supervisor *s);
void supervisor_note_redis_trouble(struct supervisor *s);
unsigned supervisor_busy(const struct supervisor *s);
int64_t now_wall_ms(void);
int64_t now_mono_us(void);

#endif
