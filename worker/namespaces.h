/* namespaces.h - the zygote's namespaces and capabilities.
 *
 * The namespaces are entered once, by the zygote, after CPython is
 * initialised and every module a job may use is imported (nothing needs
 * the host filesystem after that), so a job's fork costs nothing extra.
 * Each is one checked step, in this order:
 *
 *   user   a helper forked beforehand (still in the parent namespace)
 *          writes setgroups "deny", gid_map and uid_map once the zygote
 *          has called unshare(CLONE_NEWUSER): 0 inside is the sandbox
 *          uid/gid outside (root: 65534:65534 or --sandbox-uid; otherwise
 *          the caller's own ids). Then setresgid/setresuid(0) inside, so
 *          the zygote really is that unprivileged id from here on.
 *   mount  / made private; an empty tmpfs becomes the root (pivot_root),
 *          the old root is detached, the new one remounted read-only,
 *          nosuid, nodev, noexec: nothing of the host is reachable.
 *   net    no interfaces (lo stays down).
 *   ipc    no System V or POSIX IPC objects of the host.
 *   uts    hostname "sandq", domain name "(none)".
 *   pid    unshare(CLONE_NEWPID); the caller then forks once (see
 *          ns_outer_relay() and ns_inner_follow()): the child is pid 1 of
 *          the new namespace and the fork server, jobs are pid 2 and up.
 *
 * A step the kernel refuses is not fatal here: the layer is left out of
 * ns_result.layers and a failure text says which call failed, its errno
 * and what the host needs; the zygote reports it in READY and the
 * supervisor decides. Only a failure that leaves the process half-changed
 * in a way that would mislead later steps stops the remaining ones. */
#ifndef SANDQ_NAMESPACES_H
#define SANDQ_NAMESPACES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "zproto.h"

#define NS_MAX_FAILURES 6
#define NS_FAILURE_TEXT 224

struct ns_config {
    uint32_t layers;  /* ZLAYER_NAMESPACES bits (zproto.h) to set up */
    bool have_ids;    /* uid/gid given (--sandbox-uid); else the default */
    uid_t uid;        /* id outside that 0 inside maps to */
    gid_t gid;
};

struct ns_failure {
    uint32_t layer;                /* one ZLAYER_*NS bit */
    char text[NS_FAILURE_TEXT];    /* "unshare(CLONE_NEWNET): Operation not
                                      permitted (needs ...)" */
};

struct ns_result {
    uint32_t layers;               /* ZLAYER_*NS bits in effect */
    uid_t uid;                     /* the ids 0 inside maps to, when */
    gid_t gid;                     /* ZLAYER_USERNS is in layers */
    bool userns_refused;           /* tried and failed */
    size_t n_failures;
    struct ns_failure failures[NS_MAX_FAILURES];
};

/* Enter the namespaces cfg asks for (see above), in this single-threaded
 * process. Every refusal becomes a failure entry. When ZLAYER_PIDNS is
 * in ret->layers the pid namespace is unshared but not yet populated: the
 * caller's next fork() creates its pid 1. Returns 0, or -errno when the
 * process can no longer be trusted to be in a sane state (logged). */
int ns_enter(const struct ns_config *cfg, struct ns_result *ret);

/* In the parent of that fork: wait for the child (pid 1 inside) and leave
 * exactly as it did (same exit code or same signal). Never returns. */
_Noreturn void ns_outer_relay(pid_t inner);

/* In the child of that fork: die with the outer process (parent death
 * signal), and make sure it is still there; outer_pidfd is a pidfd of the
 * parent opened before the fork (getppid() says 0 across the namespace
 * boundary). -errno. */
int ns_inner_follow(int outer_pidfd);

/* Drop every capability: bounding set (when CAP_SETPCAP allows it; without
 * it there is nothing to drop that no_new_privs does not already neuter),
 * ambient set, then permitted, effective and inheritable through capset(),
 * checked with capget(). Raw system calls only, no allocation: safe in a
 * freshly forked child. -errno, -EPERM when a capability survived. */
int ns_drop_caps(void);

/* Effective, permitted and inheritable sets (64 bits each) via capget(). */
int ns_get_caps(uint64_t *ret_eff, uint64_t *ret_prm, uint64_t *ret_inh);

#endif
