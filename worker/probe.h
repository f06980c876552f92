/* probe.h - the self-test's probes: C code that a job child runs instead
 * of Python when its job carries a FRAME_JOB_PROBE frame.
 *
 * A probe runs after the complete sandbox setup, under the very same
 * seccomp filter as any job: there is no probe mode anywhere. It tries one
 * thing an attacker would try and reports what it *observed* as its result
 * (JSON text, status "succeeded"). When a layer stops the attempt, that is
 * the observation: a system call outside the allowlist traps like in a job
 * (the child writes its 'V' frame and the job ends "violation"), an mmap
 * past RLIMIT_AS fails, connect() finds no network, "/" is empty. So with
 * every layer on, most probes end in a violation, which proves seccomp;
 * the layers beneath it are observed by starting a zygote with
 * --unsafe-disable-layers seccomp (tests and the self-test only).
 *
 *   syscall          uname(), not in the allowlist; when it gets through
 *                    the result has the nodename (the UTS layer shows)
 *   syscall:i386     getpid through int 0x80 (i386 ABI): the filter kills
 *   syscall:x32      getpid with the x32 bit set: the filter kills
 *   fs               the entries of "/" (open + getdents64)
 *   fs:PATH          open PATH and read from it
 *   write:PATH       open PATH for writing (nothing is written)
 *   net:PORT         TCP connect() to 127.0.0.1:PORT
 *   proc             pids that kill(pid, 0) finds, 1..PROBE_PID_MAX
 *   proc:PID         kill(PID, 0)
 *   ipc:KEY          msgget(KEY, 0): is a System V queue of the host there?
 *   memory           1 MiB anonymous mappings, each written to, until one
 *                    fails or 2 x the job's memory limit + 64 MiB is reached
 *   fork             fork() (a raw clone); the new process exits at once
 *   caps             capget() and the size of the bounding set
 *   uid              the four ids, the job pipe's owner as seen from here
 *                    (65534: the supervisor's uid is not mapped), and
 *                    /proc/self/uid_map and gid_map
 *
 * Results, e.g.: fs -> {"root_entries": 0, "names": []}; net:80 ->
 * {"socket": "ok", "connect": "ENETUNREACH"}; memory -> {"allocated_mib":
 * 63, "stopped_by": "ENOMEM", ...}. Errors are errno names. */
#ifndef SANDQ_PROBE_H
#define SANDQ_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* Highest pid the proc probe tries (PID_MAX_LIMIT on 64-bit). */
#define PROBE_PID_MAX 4194304
/* Longest probe spec accepted. */
#define PROBE_SPEC_MAX 256

struct probe_env {
    uint32_t memory_limit_mb; /* the job's memory limit (memory probe cap) */
};

/* Run the probe spec (not NUL-terminated, len bytes) and append its
 * outcome frames (status and result, or status "invalid" for an unknown
 * spec) to out, without the end frame. May not return: a forbidden system
 * call traps. -ENOMEM. */
int probe_run(const char *spec, size_t len, const struct probe_env *env, struct buf *out);

#endif
