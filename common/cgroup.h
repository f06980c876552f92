/* cgroup.h - per-slot cgroups for job children, cgroup v1 and v2 behind one
 * interface (systemd's cg_* unified/legacy split, isolate's cg.c).
 *
 * The version is chosen once, in cgroup_mgr_open(); nothing else in sandq
 * asks which one it runs on. Layout (docs/cgroups.md):
 *
 *   v2: <root>/sandq-<id>/supervisor   the calling process, when it was in
 *                                      <root> itself (no-internal-process rule)
 *       <root>/sandq-<id>/slot-<n>     one per slot
 *   v1: <mounts>/<ctrl>/sandq-<id>/slot-<n> for ctrl in memory, pids, cpu
 *       and cpuacct (CPU usage); co-mounted controllers share a directory.
 *
 * <id> is the worker id with every byte outside [A-Za-z0-9._-] turned into
 * '_'. A previous run with the same id that did not clean up (crash,
 * SIGKILL) is removed at open: its processes are killed first. So two live
 * workers must never share an id on one machine.
 *
 * A job child joins its slot by writing "0" to each cgroup.procs fd from
 * cgroup_slot_prepare() (ZMSG_SPAWN passes them), before anything else.
 * The fds are opened by the caller, so the kernel checks the opener's
 * credentials (Linux >= 5.16) and a child that has since dropped privileges
 * or entered a user namespace can still join.
 *
 * All functions return 0 or a negative errno. Nothing here logs. Not
 * thread-safe; one manager per process. */
#ifndef SANDQ_CGROUP_H
#define SANDQ_CGROUP_H

#include <stdbool.h>
#include <stdint.h>

/* Most cgroup.procs fds one slot needs (v1: memory, pids, cpu, cpuacct);
 * equal to ZPROTO_MAX_CGROUP_FDS. */
#define CGROUP_MAX_FDS 4

/* Controllers, as a mask for cgroup_mgr_open(required) and
 * cgroup_mgr_controllers(). CPU usage is measured without a controller on
 * v2 (cpu.stat) and with cpuacct on v1; CGROUP_CPU is the quota. */
enum cgroup_controller {
    CGROUP_MEMORY = 1u << 0,
    CGROUP_PIDS = 1u << 1,
    CGROUP_CPU = 1u << 2,
};
#define CGROUP_ALL (CGROUP_MEMORY | CGROUP_PIDS | CGROUP_CPU)

/* 0 in any field: no limit. */
struct cgroup_limits {
    uint64_t memory_bytes;  /* RAM; swap is always off for slots */
    uint32_t pids_max;      /* processes + threads, the child included */
    uint32_t cpu_quota_pct; /* 100 = one core */
};

/* What one job used, since its cgroup_slot_prepare(). A field the host
 * cannot measure (controller missing) is 0/false. */
struct cgroup_usage {
    uint64_t memory_peak_kb; /* highest RAM charged to the slot */
    bool oom_killed;         /* the kernel OOM-killed a process in the slot */
    uint64_t cpu_usec;       /* user + system of every process in the slot */
};

struct cgroup_mgr;

/* Find the hierarchy, create this worker's cgroups for n_slots slots
 * (removing a crashed run's leftovers first) and, on v2, move the calling
 * process into the supervisor leaf if it sat in the root. Call it before
 * starting the zygote: on v2 any other process in the root makes enabling
 * controllers fail (EBUSY).
 *
 * root_override (--cgroup-root), NULL for auto:
 *   auto: /sys/fs/cgroup is cgroup2 -> v2 at the caller's own cgroup (from
 *         /proc/self/cgroup; systemd Delegate=yes); a tmpfs -> v1 with the
 *         controllers mounted at /sys/fs/cgroup/<controller>.
 *   a cgroup2 directory -> v2 there; a directory holding v1 controller
 *   mounts -> v1 with <root_override>/<controller>.
 * required: controllers without which open fails (CGROUP_ALL in
 * production). Others are used when present; cgroup_mgr_controllers() says
 * which, and a slot limit that needs a missing one is refused.
 *
 * On success *ret is owned by the caller (cgroup_mgr_free()). On failure
 * nothing is left behind, and *ret_error (if not NULL) gets a malloc'd,
 * human message saying what the host needs (NULL only on -ENOMEM):
 * -EINVAL bad argument or root, -EOPNOTSUPP required controller missing,
 * -EBUSY other processes in the v2 root, or the errno of a failed step. */
int cgroup_mgr_open(const char *root_override, const char *worker_id,
                    unsigned n_slots, unsigned required,
                    struct cgroup_mgr **ret, char **ret_error);

/* "v2 (memory, pids, cpu) at /sys/fs/cgroup/.../sandq-<id>" and the like,
 * for the startup log. Borrowed; lives as long as m. */
const char *cgroup_mgr_describe(const struct cgroup_mgr *m);

/* The enum cgroup_controller bits in use. */
unsigned cgroup_mgr_controllers(const struct cgroup_mgr *m);

/* Before a job in slot (0..n_slots-1): apply l, start counting (peak
 * memory, OOM kills, CPU) from now, and open the slot's cgroup.procs fds
 * (O_WRONLY|O_CLOEXEC) into ret_fds[0..*ret_n-1]; the caller owns and
 * closes them (right after passing them to the zygote). *ret_n is 1 on v2,
 * 1..4 on v1. -EBUSY if a process is still in the slot, -EOPNOTSUPP if l
 * needs a controller that is missing, -EINVAL bad slot. On failure no fd is
 * left open and ret_fds/ret_n are untouched. */
int cgroup_slot_prepare(struct cgroup_mgr *m, unsigned slot,
                        const struct cgroup_limits *l,
                        int ret_fds[CGROUP_MAX_FDS], unsigned *ret_n);

/* For a slot prepared before its job was known (the child was forked and
 * joined ahead of time and now waits for the job): apply l and restart the
 * counters now, with the child inside. -EINVAL bad or unprepared slot,
 * -EOPNOTSUPP if l needs a missing controller. On v2 before Linux 6.12 the
 * peak cannot be reset with a process inside: it then also counts the
 * child's setup. */
int cgroup_slot_relimit(struct cgroup_mgr *m, unsigned slot,
                        const struct cgroup_limits *l);

/* After the job's child was reaped: what the slot used since prepare.
 * -EINVAL bad slot or slot not prepared. */
int cgroup_slot_collect(struct cgroup_mgr *m, unsigned slot,
                        struct cgroup_usage *ret);

/* SIGKILL every process in the slot (v2 cgroup.kill; v1 and old kernels:
 * each pid of cgroup.procs, through a pidfd, until no new one shows up).
 * Returns once all are signalled, not once they are gone; does not block. */
int cgroup_slot_kill(struct cgroup_mgr *m, unsigned slot);

/* Remove the cgroups of crashed workers of this host that used the
 * default id "<host>:<pid>" (host is this machine's name) and whose pid is
 * gone: such a name never comes back, so no later open would clean them.
 * Returns how many workers' trees were removed, or -errno. */
int cgroup_mgr_reap_orphans(struct cgroup_mgr *m, const char *host);

/* Kill what is left in the slots, remove this worker's cgroups and, on v2,
 * move the calling process back to the root. Best effort: what cannot be
 * removed (a process still in the supervisor leaf, a sibling using the
 * root's controllers) stays until the next open with the same id or until
 * systemd removes the unit's cgroup. NULL is fine. */
void cgroup_mgr_free(struct cgroup_mgr *m);

#endif
