/* zproto.h - the control protocol between the supervisor and the zygote.
 *
 * The supervisor starts the zygote (fork + exec of sandq-zygote) with one
 * end of a SOCK_SEQPACKET socketpair as fd 3 (ZPROTO_FD). Each message is
 * one fixed-size struct below, one datagram; SEQPACKET keeps the boundaries
 * and delivers fds with SCM_RIGHTS atomically with their message.
 *
 *   zygote -> supervisor  ZMSG_READY    once, after CPython is initialised
 *                                        and the sandbox is prepared
 *   supervisor -> zygote  ZMSG_SPAWN    + fds {job_read, result_write,
 *                                        cgroup.procs x n_cgroup_fds}
 *   zygote -> supervisor  ZMSG_SPAWNED  + fd {pidfd} when pid > 0
 *   zygote -> supervisor  ZMSG_EXITED   when that child has been reaped
 *
 * READY.pid is the process the supervisor started. The pids in SPAWNED and
 * EXITED are inside the zygote's pid namespace (2, 3, ...: logs only); the
 * pidfd is what the supervisor signals, and /proc/self/fdinfo/<pidfd>
 * ("Pid:") gives the host pid. READY.notes is "<layer>: <why>" entries
 * joined by "; ", one per missing layer (layer names as in zlayer_names).
 *
 * For one token, SPAWNED always precedes EXITED. The zygote closes its copies
 * of the passed fds right after fork(), so the supervisor sees EOF on the
 * result pipe as soon as the child is gone. When the supervisor's end of the
 * socket closes, the zygote kills its children and exits. */
#ifndef SANDQ_ZPROTO_H
#define SANDQ_ZPROTO_H

#include <stdint.h>

#define ZPROTO_FD 3
#define ZPROTO_VERSION 2
#define ZPROTO_MAX_CGROUP_FDS 4

enum zmsg_type {
    ZMSG_READY = 1,
    ZMSG_SPAWN = 2,
    ZMSG_SPAWNED = 3,
    ZMSG_EXITED = 4,
};

/* Sandbox layers the zygote reports in ZMSG_READY.layers (bit set = on). */
enum zlayer {
    ZLAYER_SECCOMP = 1u << 0,
    ZLAYER_RLIMITS = 1u << 1,
    ZLAYER_NO_NEW_PRIVS = 1u << 2,
    ZLAYER_MEMORY_RLIMIT = 1u << 3, /* RLIMIT_AS usable (not under ASan) */
    ZLAYER_USERNS = 1u << 4,        /* zygote in a user namespace */
    ZLAYER_MOUNTNS = 1u << 5,       /* empty read-only root via pivot_root */
    ZLAYER_NETNS = 1u << 6,         /* no network interfaces */
    ZLAYER_PIDNS = 1u << 7,         /* jobs see no other process */
    ZLAYER_IPCNS = 1u << 8,
    ZLAYER_UTSNS = 1u << 9,
    ZLAYER_CAPS = 1u << 10,         /* all capabilities dropped per child */
    ZLAYER_INTERPRETER = 1u << 11,  /* restricted interpreter (AST checks) */
    ZLAYER_CGROUP = 1u << 12,       /* per-slot cgroups; set by the supervisor,
                                       never by the zygote */
};

/* Names of the layers for flags and tables, in display order. */
struct zlayer_name {
    uint32_t bit;
    const char *name;
    const char *what;
};

static const struct zlayer_name zlayer_names[] = {
    {ZLAYER_SECCOMP, "seccomp", "system call allowlist"},
    {ZLAYER_RLIMITS, "rlimits", "CPU, files, fds, core dumps"},
    {ZLAYER_MEMORY_RLIMIT, "memory_rlimit", "address-space limit"},
    {ZLAYER_NO_NEW_PRIVS, "no_new_privs", "no privilege gain on exec"},
    {ZLAYER_CAPS, "caps", "all capabilities dropped"},
    {ZLAYER_USERNS, "userns", "user namespace, unprivileged host uid"},
    {ZLAYER_MOUNTNS, "mountns", "empty read-only root"},
    {ZLAYER_NETNS, "netns", "no network"},
    {ZLAYER_PIDNS, "pidns", "no other process visible"},
    {ZLAYER_IPCNS, "ipcns", "private System V IPC"},
    {ZLAYER_UTSNS, "utsns", "private hostname"},
    {ZLAYER_CGROUP, "cgroup", "per-slot memory, pids, CPU limits"},
    {ZLAYER_INTERPRETER, "interpreter", "restricted Python (AST checks)"},
};

#define ZLAYER_NAMESPACES                                                      \
    (ZLAYER_USERNS | ZLAYER_MOUNTNS | ZLAYER_NETNS | ZLAYER_PIDNS |            \
     ZLAYER_IPCNS | ZLAYER_UTSNS)

struct zmsg_ready {
    uint32_t type;           /* ZMSG_READY */
    uint32_t version;        /* ZPROTO_VERSION */
    int32_t pid;
    uint32_t layers;         /* enum zlayer bits */
    uint64_t base_vm_kb;     /* zygote address space after init */
    uint64_t rss_kb;         /* zygote RSS after init */
    char python_version[32]; /* "3.11.2", NUL-terminated */
    char notes[512];         /* why layers are missing, NUL-terminated */
};

struct zmsg_spawn {
    uint32_t type;           /* ZMSG_SPAWN */
    uint32_t reserved;
    uint64_t token;          /* opaque, echoed in SPAWNED and EXITED */
    uint32_t cpu_limit_ms;   /* RLIMIT_CPU, rounded up to whole seconds */
    uint32_t memory_limit_mb;/* address space on top of base_vm_kb */
    uint32_t n_cgroup_fds;   /* cgroup.procs fds after the two pipes: the
                                child writes "0" to each before anything
                                else, joining its slot's cgroups */
    uint32_t flags;          /* enum zspawn_flags */
};

enum zspawn_flags {
    /* Fork now, job later: the child sets up everything but RLIMIT_CPU,
     * RLIMIT_AS and seccomp, then blocks reading a struct zlimits from the
     * job pipe (cpu_limit_ms and memory_limit_mb of SPAWN are ignored);
     * once it has it, it applies the limits, loads seccomp and reads the
     * job as usual. EOF before the limits: it exits 0 without output. So
     * the fork and the setup happen while the slot is idle, off the job's
     * latency. The limits come from the supervisor, never from the job's
     * bytes, which are still only read under seccomp. */
    ZSPAWN_DEFER_LIMITS = 1u << 0,
};

/* The first bytes on a deferred child's job pipe. */
struct zlimits {
    uint32_t cpu_limit_ms;
    uint32_t memory_limit_mb;
};

/* Setup steps named in SPAWNED.err_step and in the child's 'E' frame. */
enum zstep {
    ZSTEP_NONE = 0,
    ZSTEP_FORK,
    ZSTEP_PIDFD,
    ZSTEP_PDEATHSIG,
    ZSTEP_FDS,
    ZSTEP_RLIMITS,
    ZSTEP_NO_NEW_PRIVS,
    ZSTEP_DUMPABLE,
    ZSTEP_SIGNALS,
    ZSTEP_SECCOMP,
    ZSTEP_PYTHON,
    ZSTEP_CGROUP,
    ZSTEP_CAPS,
    ZSTEP_NAMESPACES,
    ZSTEP_PROBE,
    ZSTEP_COUNT
};

struct zmsg_spawned {
    uint32_t type;           /* ZMSG_SPAWNED */
    int32_t pid;             /* > 0, or -1 when the fork failed */
    uint64_t token;
    int32_t err_step;        /* enum zstep when pid == -1 */
    int32_t err_errno;
};

struct zmsg_exited {
    uint32_t type;           /* ZMSG_EXITED */
    int32_t pid;
    uint64_t token;
    int32_t wait_status;     /* as from wait4() */
    uint32_t reserved;
    uint64_t utime_us;
    uint64_t stime_us;
    uint64_t maxrss_kb;
};

/* Exit codes of a job child (anything else, or a signal, is a crash). */
enum zexit {
    ZEXIT_OK = 0,          /* the outcome frames ended with 'Z' */
    ZEXIT_SANDBOX = 120,   /* a setup step failed; an 'E' frame was written */
    ZEXIT_VIOLATION = 121, /* SIGSYS from seccomp; a 'V' frame was written */
    ZEXIT_NOMEM = 122,     /* out of memory outside user code */
    ZEXIT_INTERNAL = 123,  /* the runtime itself failed */
};

/* The step's name for messages ("seccomp"); never NULL. */
static inline const char *zstep_name(int step)
{
    static const char *const names[ZSTEP_COUNT] = {
        "none", "fork", "pidfd", "pdeathsig", "fds", "rlimits",
        "no_new_privs", "dumpable", "signals", "seccomp", "python",
        "cgroup", "caps", "namespaces", "probe"};
    return step >= 0 && step < ZSTEP_COUNT ? names[step] : "unknown";
}

#endif
