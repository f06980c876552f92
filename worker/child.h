/* child.h - the per-job child: sandbox setup, then one job.
 *
 * Runs in a fresh fork of the zygote. The setup is a list of checked steps
 * (parent death signal, cgroups, signals, fds, rlimits, capabilities,
 * no_new_privs, dumpable, SIGSYS reporter, CPython after-fork, seccomp);
 * any failing step writes an 'E' frame "<step> <errno>" to the result pipe
 * and exits ZEXIT_SANDBOX, so user code never runs in a half-built sandbox.
 * Then the job is read from fd 0, run (Python, or a C probe for the
 * self-test, see probe.h), and its outcome frames written to fd 1, led by
 * a 'T' frame with the setup's timings: "fork=us cgroup=us caps=us
 * setup=us" (fork: from just before fork() in the zygote to the child's
 * first step; setup: from there to the filter being loaded). */
#ifndef SANDQ_CHILD_H
#define SANDQ_CHILD_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "zproto.h"

struct child_params {
    pid_t zygote_pid;            /* the parent the child must still have, as
                                    the child sees it (1 in a pid namespace) */
    int job_fd;                  /* job pipe, read end; becomes fd 0 */
    int result_fd;               /* result pipe, write end; becomes fd 1 */
    int cgroup_fds[ZPROTO_MAX_CGROUP_FDS]; /* cgroup.procs, written and closed
                                    first thing (when cgroup is set) */
    size_t n_cgroup_fds;
    uint32_t cpu_limit_ms;       /* RLIMIT_CPU, rounded up to seconds */
    uint32_t memory_limit_mb;    /* RLIMIT_AS on top of base_vm_kb */
    uint64_t base_vm_kb;         /* the zygote's address space */
    bool memory_rlimit;          /* false under ASan: no RLIMIT_AS */
    bool cgroup;                 /* join the cgroups (else just close them) */
    bool rlimits;                /* set the rlimits */
    bool caps;                   /* drop every capability */
    bool seccomp;                /* load the filter */
    bool defer_limits;           /* ZSPAWN_DEFER_LIMITS: CPU and memory
                                    limits arrive on the job pipe */
    const struct sock_fprog *filter; /* borrowed; built by the zygote */
    struct timespec forked_at;   /* CLOCK_MONOTONIC just before fork() */
};

/* Set up the sandbox and run the job. Never returns: the process exits
 * with an enum zexit code (or dies by a signal). Call only in the child
 * right after fork() in the single-threaded zygote. */
_Noreturn void child_run(const struct child_params *params);

/* Leave a forked child at once with code (no atexit, no stdio flush).
 * Under ASan, _exit() is intercepted to run LeakSanitizer, which needs
 * system calls the filter refuses; this goes straight to exit_group. */
_Noreturn void child_exit(int code);

#endif
