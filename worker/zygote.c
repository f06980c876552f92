/* zygote.c - the zygote loop (see zygote.h and zproto.h). */
#include "zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "child.h"
#include "log.h"
#include "namespaces.h"
#include "pyrun.h"
#include "seccomp_policy.h"
#include "util.h"
#include "zproto.h"

/* More fds than a SPAWN may carry, so one too many is seen, not dropped
 * silently by the kernel. */
#define ZYGOTE_MAX_FDS 8

struct zchild {
    pid_t pid;
    uint64_t token;
};

/* Every layer a zygote can have, as bits of zygote_config.disabled. */
#define ZYGOTE_ALL_LAYERS (ZLAYER_SECCOMP | ZLAYER_RLIMITS | ZLAYER_NO_NEW_PRIVS | \
                           ZLAYER_MEMORY_RLIMIT | ZLAYER_NAMESPACES | ZLAYER_CAPS |    \
                           ZLAYER_INTERPRETER | ZLAYER_CGROUP)

struct zygote {
    int ctl_fd;
    int sig_fd;
    pid_t pid;          /* in READY: the process the supervisor started */
    pid_t server_pid;   /* this process as its children see it (1 in a pid
                           namespace) */
    uint32_t layers;    /* ZLAYER_* bits in effect (READY), and
                           ZLAYER_CGROUP */
    uint32_t disabled;  /* --unsafe-disable-layers */
    uint32_t allowed_missing;
    char notes[sizeof(((struct zmsg_ready *)0)->notes)];
    size_t notes_len;
    uint64_t base_vm_kb;
    uint64_t rss_kb;
    struct sock_fprog filter;
    struct zchild *children; /* pid -> token of children not yet reaped */
    size_t n_children;
    size_t cap_children;
};

/* A SPAWN as received: the message and whatever fds came with it. */
struct zspawn {
    struct zmsg_spawn msg;
    int fds[ZYGOTE_MAX_FDS];
    size_t n_fds;
    int err; /* 0, or why the message is unusable */
};

/* The supervisor must hand us a SEQPACKET socket; anything else would
 * break message boundaries and fd passing in confusing ways. */
static int zygote_check_ctl(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    if (type != SOCK_SEQPACKET)
        return -EPROTOTYPE;
    return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0;
}

/* SIGCHLD becomes an event on a signalfd; the loop never runs handlers.
 * SIGPIPE is ignored so a closed stderr cannot kill the zygote (sends use
 * MSG_NOSIGNAL anyway); children reset both. */
static int zygote_signals(struct zygote *z)
{
    sigset_t set;
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        return -errno;
    if (sigemptyset(&set) < 0 || sigaddset(&set, SIGCHLD) < 0 ||
        sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    z->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return z->sig_fd < 0 ? -errno : 0;
}

/* Load the filter in a throwaway child: if the kernel refuses it, every
 * job would fail, so refuse to start instead (fail closed, loudly). The
 * child exits with the errno of the failed step; a signal means a call
 * after loading (just exit_group) was refused. */
static int zygote_probe_seccomp(const struct zygote *z)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int r = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
        if (r == 0)
            r = seccomp_policy_load(&z->filter);
        child_exit(r < 0 ? (-r & 0x7f) : 0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (WIFEXITED(status))
        return -WEXITSTATUS(status);
    log_error("the seccomp probe child died by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return -EPERM;
}

/* Address space and RSS now, from /proc/self/statm (pages). */
static int zygote_measure(struct zygote *z)
{
    _cleanup_close_ int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    char text[128];
    unsigned long long size, resident;
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    if (n <= 0)
        return n < 0 ? -errno : -EIO;
    text[n] = '\0';
    if (sscanf(text, "%llu %llu", &size, &resident) != 2)
        return -EIO;
    long page_kb = sysconf(_SC_PAGESIZE) / 1024;
    if (page_kb <= 0)
        return -EINVAL;
    z->base_vm_kb = size * (unsigned long long)page_kb;
    z->rss_kb = resident * (unsigned long long)page_kb;
    return 0;
}

/* ---- layers by name, and the notes about missing ones -------------------- */

/* The bits one name stands for: its own, all six for "namespaces", and
 * every rlimit for "rlimits" (RLIMIT_AS is one too; "memory_rlimit" alone
 * is only that). 0 for an unknown name. */
static uint32_t zygote_layer_bits(const char *name)
{
    if (strcmp(name, "namespaces") == 0)
        return ZLAYER_NAMESPACES;
    if (strcmp(name, "rlimits") == 0)
        return ZLAYER_RLIMITS | ZLAYER_MEMORY_RLIMIT;
    for (size_t i = 0; i < ARRAY_SIZE(zlayer_names); i++)
        if (strcmp(zlayer_names[i].name, name) == 0)
            return zlayer_names[i].bit;
    return 0;
}

int zygote_parse_layers(char *list, uint32_t *ret_bits, const char **ret_bad)
{
    uint32_t bits = 0;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        uint32_t b = zygote_layer_bits(name);
        if (!b) {
            *ret_bad = name;
            return -EINVAL;
        }
        bits |= b;
    }
    *ret_bits = bits;
    return 0;
}

const char *zygote_layer_name(uint32_t bit)
{
    for (size_t i = 0; i < ARRAY_SIZE(zlayer_names); i++)
        if (zlayer_names[i].bit == bit)
            return zlayer_names[i].name;
    return "unknown";
}

/* Append "<layer>: <text>" to the READY notes, "; " between entries (a
 * ';' inside a text becomes ','). What does not fit is cut and marked with
 * "..." (the log has every line). */
static void zygote_note(struct zygote *z, uint32_t bit, const char *text)
{
    size_t start = z->notes_len, room = sizeof(z->notes) - start;
    if (room <= 1)
        return;
    int n = snprintf(z->notes + start, room, "%s%s: %s", start ? "; " : "",
                     zygote_layer_name(bit), text);
    if (n < 0 || (size_t)n >= room) {
        memcpy(z->notes + sizeof(z->notes) - 4, "...", 4);
        n = (int)(room - 1);
    }
    for (char *p = z->notes + start + (start ? 2 : 0); *p; p++)
        if (*p == ';')
            *p = ',';
    z->notes_len = start + (size_t)n;
}

/* One missing layer: into the notes, and logged once, louder when the
 * operator did not say it may be missing. */
static void zygote_missing(struct zygote *z, uint32_t bit, const char *text)
{
    const char *name = zygote_layer_name(bit);
    zygote_note(z, bit, text);
    if (z->disabled & bit)
        log_warn("sandbox layer '%s' DISABLED for testing (--unsafe-disable-layers)", name);
    else if (z->allowed_missing & bit)
        log_warn("sandbox layer '%s' missing (allowed): %s", name, text);
    else
        log_error("sandbox layer '%s' missing: %s (not in --allow-missing)", name, text);
}

/* Layers that depend on the build or on settings only, before anything
 * is set up. Under ASan, RLIMIT_AS would starve the sanitizer's shadow
 * memory, so the memory limit is not applied. no_new_privs stays even when
 * asked to go: loading a seccomp filter requires it, and it costs nothing. */
static void zygote_static_layers(struct zygote *z)
{
    if (z->disabled & ZLAYER_NO_NEW_PRIVS) {
        z->disabled &= ~(uint32_t)ZLAYER_NO_NEW_PRIVS;
        zygote_note(z, ZLAYER_NO_NEW_PRIVS, "still on: it cannot be disabled");
        log_warn("--unsafe-disable-layers no_new_privs: it stays on");
    }
    static const uint32_t per_child[] = {ZLAYER_SECCOMP, ZLAYER_RLIMITS,
                                         ZLAYER_MEMORY_RLIMIT, ZLAYER_CAPS,
                                         ZLAYER_CGROUP};
    z->layers |= ZLAYER_NO_NEW_PRIVS;
    for (size_t i = 0; i < ARRAY_SIZE(per_child); i++)
        if (!(z->disabled & per_child[i]))
            z->layers |= per_child[i];
    if (!seccomp_policy_enforcing())
        z->layers &= ~(uint32_t)ZLAYER_SECCOMP;
#ifdef __SANITIZE_ADDRESS__
    z->layers &= ~(uint32_t)ZLAYER_MEMORY_RLIMIT;
#endif
}

/* Why a layer is not in z->layers, for every one that is not. */
static void zygote_report_missing(struct zygote *z, const struct ns_result *ns)
{
    static const uint32_t order[] = {
        ZLAYER_SECCOMP, ZLAYER_RLIMITS, ZLAYER_MEMORY_RLIMIT, ZLAYER_USERNS,
        ZLAYER_MOUNTNS, ZLAYER_NETNS, ZLAYER_PIDNS, ZLAYER_IPCNS, ZLAYER_UTSNS,
        ZLAYER_CAPS, ZLAYER_INTERPRETER, ZLAYER_CGROUP};
    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        uint32_t bit = order[i];
        const char *why = NULL;
        if (z->layers & bit)
            continue;
        for (size_t k = 0; k < ns->n_failures && !why; k++)
            if (ns->failures[k].layer == bit)
                why = ns->failures[k].text;
        if (z->disabled & bit)
            why = "disabled for testing";
        else if (bit == ZLAYER_SECCOMP)
            why = "built with SANDQ_SECCOMP_LOG: the filter only logs";
        else if (bit == ZLAYER_MEMORY_RLIMIT)
            why = "not applied under AddressSanitizer (shadow memory)";
        zygote_missing(z, bit, why ? why : "not set up");
    }
}

/* One datagram to the supervisor, with fd attached when fd >= 0. */
static int zygote_send(const struct zygote *z, const void *msg, size_t len, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)msg, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(z->ctl_fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EMSGSIZE;
}

static int zygote_send_ready(const struct zygote *z)
{
    struct zmsg_ready msg = {
        .type = ZMSG_READY, .version = ZPROTO_VERSION, .pid = z->pid,
        .layers = z->layers & ~(uint32_t)ZLAYER_CGROUP, .base_vm_kb = z->base_vm_kb,
        .rss_kb = z->rss_kb};
    pyrun_version(msg.python_version, sizeof(msg.python_version));
    memcpy(msg.notes, z->notes, sizeof(msg.notes));
    msg.notes[sizeof(msg.notes) - 1] = '\0';
    return zygote_send(z, &msg, sizeof(msg), -1);
}

static int zygote_send_spawned(const struct zygote *z, uint64_t token, pid_t pid,
                               int pidfd, int step, int err)
{
    struct zmsg_spawned msg = {.type = ZMSG_SPAWNED, .pid = pid, .token = token,
                               .err_step = step, .err_errno = err};
    return zygote_send(z, &msg, sizeof(msg), pidfd);
}

/* Claim room for one more child before forking, so recording it after the
 * fork cannot fail. */
static int zygote_reserve_child(struct zygote *z)
{
    if (z->n_children < z->cap_children)
        return 0;
    size_t cap = z->cap_children ? z->cap_children * 2 : 16;
    struct zchild *p = reallocarray(z->children, cap, sizeof(*p));
    if (!p)
        return -ENOMEM;
    z->children = p;
    z->cap_children = cap;
    return 0;
}

static void zygote_add_child(struct zygote *z, pid_t pid, uint64_t token)
{
    z->children[z->n_children++] = (struct zchild){.pid = pid, .token = token};
}

/* Forget pid; its token through ret_token. False when it was not ours. */
static bool zygote_remove_child(struct zygote *z, pid_t pid, uint64_t *ret_token)
{
    for (size_t i = 0; i < z->n_children; i++) {
        if (z->children[i].pid != pid)
            continue;
        if (ret_token)
            *ret_token = z->children[i].token;
        z->children[i] = z->children[--z->n_children];
        return true;
    }
    return false;
}

/* The first two fds must be a readable job pipe and a writable result
 * pipe end; a mix-up would give the child a sandbox it cannot talk
 * through. */
static int zygote_check_pipes(const struct zspawn *s)
{
    if (s->n_fds != 2 + (size_t)s->msg.n_cgroup_fds)
        return -EBADF;
    int job = fcntl(s->fds[0], F_GETFL);
    int result = fcntl(s->fds[1], F_GETFL);
    if (job < 0 || result < 0)
        return -errno;
    if ((job & O_ACCMODE) == O_WRONLY || (result & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    return 0;
}

/* A cgroup.procs fd: open for writing, a regular file, on a cgroup (v1)
 * or cgroup2 file system; anything else the child would write "0" into
 * without joining anything. */
static int zygote_check_cgroup_fd(int fd)
{
    struct stat st;
    struct statfs sf;
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fstat(fd, &st) < 0 || fstatfs(fd, &sf) < 0)
        return -errno;
    if ((flags & O_ACCMODE) == O_RDONLY || !S_ISREG(st.st_mode))
        return -EBADF;
    if (sf.f_type != CGROUP_SUPER_MAGIC && sf.f_type != CGROUP2_SUPER_MAGIC)
        return -EBADF;
    return 0;
}

/* Check what came with a SPAWN; *ret_step names the step at fault. */
static int zygote_check_fds(const struct zspawn *s, int *ret_step)
{
    int r;
    *ret_step = ZSTEP_CGROUP;
    if (s->msg.n_cgroup_fds > ZPROTO_MAX_CGROUP_FDS)
        return -E2BIG;
    *ret_step = ZSTEP_FDS;
    if (s->err)
        return s->err;
    if ((r = zygote_check_pipes(s)) < 0)
        return r;
    *ret_step = ZSTEP_CGROUP;
    for (size_t i = 2; i < s->n_fds; i++)
        if ((r = zygote_check_cgroup_fd(s->fds[i])) < 0)
            return r;
    return 0;
}

static void zygote_close_fds(struct zspawn *s)
{
    for (size_t i = 0; i < s->n_fds; i++)
        close_keep_errno(s->fds[i]);
    s->n_fds = 0;
}

/* Fork one child; its pid (or -errno) is returned in the parent only. */
static pid_t zygote_fork(const struct zygote *z, const struct zspawn *s)
{
    struct child_params params = {
        .zygote_pid = z->server_pid, .job_fd = s->fds[0], .result_fd = s->fds[1],
        .n_cgroup_fds = s->n_fds - 2,
        .cpu_limit_ms = s->msg.cpu_limit_ms, .memory_limit_mb = s->msg.memory_limit_mb,
        .base_vm_kb = z->base_vm_kb,
        .memory_rlimit = (z->layers & ZLAYER_MEMORY_RLIMIT) != 0,
        .cgroup = (z->layers & ZLAYER_CGROUP) != 0,
        .rlimits = (z->layers & ZLAYER_RLIMITS) != 0,
        .caps = (z->layers & ZLAYER_CAPS) != 0,
        .seccomp = !(z->disabled & ZLAYER_SECCOMP), .filter = &z->filter,
        .defer_limits = (s->msg.flags & ZSPAWN_DEFER_LIMITS) != 0};
    memcpy(params.cgroup_fds, s->fds + 2, params.n_cgroup_fds * sizeof(int));
    (void)clock_gettime(CLOCK_MONOTONIC, &params.forked_at);
    pyrun_before_fork();
    pid_t pid = fork();
    if (pid == 0)
        child_run(&params);
    int err = errno;
    pyrun_after_fork_parent();
    return pid < 0 ? -err : pid;
}

/* After a successful fork: hand the supervisor a pidfd. Without one it
 * could not watch the child safely, so the child is killed and reported
 * as a failed spawn (its exit is then not reported). */
static int zygote_announce(struct zygote *z, pid_t pid, uint64_t token)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        int err = errno;
        log_error("pidfd_open of child %d failed: %s", (int)pid, strerror(err));
        (void)kill(pid, SIGKILL);
        (void)zygote_remove_child(z, pid, NULL);
        return zygote_send_spawned(z, token, -1, -1, ZSTEP_PIDFD, err);
    }
    int r = zygote_send_spawned(z, token, pid, pidfd, ZSTEP_NONE, 0);
    close_keep_errno(pidfd);
    return r;
}

/* Handle one SPAWN. Returns -errno only when the control socket failed. */
static int zygote_spawn(struct zygote *z, struct zspawn *s)
{
    uint64_t token = s->msg.token;
    int step;
    int r = zygote_check_fds(s, &step);
    if (r < 0) {
        log_error("spawn token=%llu: bad %s fds (%zu received, %u for cgroups): %s",
                  (unsigned long long)token, zstep_name(step), s->n_fds,
                  (unsigned)s->msg.n_cgroup_fds, strerror(-r));
        zygote_close_fds(s);
        return zygote_send_spawned(z, token, -1, -1, step, -r);
    }
    if ((r = zygote_reserve_child(z)) == 0)
        r = zygote_fork(z, s);
    zygote_close_fds(s);
    if (r < 0) {
        log_error("spawn token=%llu: fork failed: %s", (unsigned long long)token, strerror(-r));
        return zygote_send_spawned(z, token, -1, -1, ZSTEP_FORK, -r);
    }
    zygote_add_child(z, r, token);
    log_debug("spawned child %d token=%llu", r, (unsigned long long)token);
    return zygote_announce(z, r, token);
}

/* Move the SCM_RIGHTS fds of mh into s; any beyond ZYGOTE_MAX_FDS (the
 * control buffer cannot hold that many, but still) are closed, and the
 * message marked unusable. */
static void zygote_collect_fds(struct msghdr *mh, struct zspawn *s)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (s->n_fds < ZYGOTE_MAX_FDS) {
                s->fds[s->n_fds++] = fd;
                continue;
            }
            close_keep_errno(fd);
            s->err = -EMSGSIZE;
        }
    }
}

enum zrecv {
    ZRECV_EOF,   /* the supervisor closed its end */
    ZRECV_SPAWN, /* a SPAWN, in the struct zspawn */
    ZRECV_NONE,  /* nothing usable (interrupted, or dropped) */
};

/* Receive one message into s (s->err set when its fds are unusable). A
 * message that is not a SPAWN is logged and dropped with its fds: without
 * a well-formed token there is nobody to answer. -errno on socket errors. */
static int zygote_receive(struct zygote *z, struct zspawn *s)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * ZYGOTE_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = &s->msg, .iov_len = sizeof(s->msg)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    memset(s, 0, sizeof(*s));
    ssize_t n = recvmsg(z->ctl_fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? ZRECV_NONE : -errno;
    zygote_collect_fds(&mh, s);
    if (n == 0 && s->n_fds == 0)
        return ZRECV_EOF;
    if ((size_t)n != sizeof(s->msg) || (mh.msg_flags & MSG_TRUNC) || s->msg.type != ZMSG_SPAWN) {
        log_error("dropping a malformed control message (%zd bytes, type %u)",
                  n, (size_t)n >= sizeof(uint32_t) ? s->msg.type : 0u);
        zygote_close_fds(s);
        return ZRECV_NONE;
    }
    if (mh.msg_flags & MSG_CTRUNC) /* the kernel dropped fds: too many */
        s->err = -EMSGSIZE;
    return ZRECV_SPAWN;
}

/* A readable control socket: one message. 0 on EOF, 1 to go on, -errno
 * when talking to the supervisor failed. */
static int zygote_on_control(struct zygote *z)
{
    struct zspawn s;
    int r = zygote_receive(z, &s);
    if (r == ZRECV_SPAWN)
        return (r = zygote_spawn(z, &s)) < 0 ? r : 1;
    return r < 0 ? r : r != ZRECV_EOF;
}

static uint64_t timeval_us(const struct timeval *tv)
{
    return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

/* Report one reaped child; children we no longer track are dropped. */
static int zygote_on_exit(struct zygote *z, pid_t pid, int status, const struct rusage *ru)
{
    uint64_t token;
    if (!zygote_remove_child(z, pid, &token)) {
        log_debug("reaped untracked child %d", (int)pid);
        return 0;
    }
    struct zmsg_exited msg = {
        .type = ZMSG_EXITED, .pid = pid, .token = token, .wait_status = status,
        .utime_us = timeval_us(&ru->ru_utime), .stime_us = timeval_us(&ru->ru_stime),
        .maxrss_kb = (uint64_t)ru->ru_maxrss};
    log_debug("child %d token=%llu exited, status 0x%x", (int)pid,
              (unsigned long long)token, (unsigned)status);
    return zygote_send(z, &msg, sizeof(msg), -1);
}

/* Drain the signalfd (SIGCHLDs coalesce), then reap every dead child. */
static int zygote_on_sigchld(struct zygote *z)
{
    struct signalfd_siginfo si;
    ssize_t got;
    while ((got = read(z->sig_fd, &si, sizeof(si))) == (ssize_t)sizeof(si))
        ;
    if (got < 0 && errno != EAGAIN && errno != EINTR)
        return -errno;
    for (;;) {
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, WNOHANG, &ru);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return pid == 0 || errno == ECHILD ? 0 : -errno;
        int r = zygote_on_exit(z, pid, status, &ru);
        if (r < 0)
            return r;
    }
}

/* The supervisor is gone: no child may outlive its job's owner. */
static void zygote_kill_children(struct zygote *z)
{
    for (size_t i = 0; i < z->n_children; i++)
        (void)kill(z->children[i].pid, SIGKILL);
    while (wait4(-1, NULL, 0, NULL) >= 0 || errno == EINTR)
        ;
    z->n_children = 0;
}

/* Poll the control socket and the SIGCHLD signalfd until EOF or error. */
static int zygote_loop(struct zygote *z)
{
    struct pollfd pfd[2] = {{.fd = z->ctl_fd, .events = POLLIN},
                            {.fd = z->sig_fd, .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        int r = pfd[1].revents ? zygote_on_sigchld(z) : 0;
        if (r < 0)
            return r;
        if (pfd[0].revents & POLLIN)
            r = zygote_on_control(z);
        else if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            r = 0;
        else
            r = 1;
        if (r <= 0)
            return r;
    }
}

/* With a new pid namespace, fork once: the child is its pid 1 and goes on
 * as the zygote; this process stays outside, holding nothing (the control
 * socket is the child's alone, so EOF still reaches it) and leaves the way
 * the child does. outer is a pidfd of this process for the child's
 * parent-death check (getppid() is 0 across the namespace boundary). */
static int zygote_fork_server(struct zygote *z)
{
    int outer = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (outer < 0)
        return -errno;
    pyrun_before_fork();
    pid_t pid = fork();
    int err = errno;
    if (pid != 0)
        pyrun_after_fork_parent();
    if (pid > 0) {
        close_keep_errno(z->ctl_fd);
        close_keep_errno(z->sig_fd);
        close_keep_errno(outer);
        ns_outer_relay(pid);
    }
    if (pid < 0) {
        close_keep_errno(outer);
        return -err;
    }
    pyrun_after_fork_server();
    int r = ns_inner_follow(outer);
    close_keep_errno(outer);
    z->server_pid = getpid();
    return r;
}

static long long zygote_elapsed_us(const struct timespec *t0)
{
    struct timespec t1;
    (void)clock_gettime(CLOCK_MONOTONIC, &t1);
    return (long long)(t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

/* LeakSanitizer needs /proc and ptrace of the process's own threads,
 * neither of which survives the isolation (empty root, undumpable). So an
 * ASan build checks for leaks here, just before it: that check replaces
 * the one at exit (which would fail and turn every exit code into 1). */
static void zygote_leak_check(void)
{
#ifdef __SANITIZE_ADDRESS__
    __lsan_do_leak_check();
#endif
}

/* The namespaces (once, for every child to inherit), the fork into the
 * pid namespace, then the zygote's own privileges: it needs none from
 * here on, so it drops every capability (its children would start without
 * any, and still drop them themselves) and becomes undumpable (no ptrace
 * by a job of the same uid). A refused layer is reported, not fatal. */
static int zygote_isolate(struct zygote *z, const struct zygote_config *cfg,
                          struct ns_result *ns)
{
    struct timespec t0;
    struct ns_config nc = {.layers = ZLAYER_NAMESPACES & ~cfg->disabled,
                           .have_ids = cfg->have_sandbox_ids,
                           .uid = cfg->sandbox_uid, .gid = cfg->sandbox_gid};
    zygote_leak_check();
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = ns_enter(&nc, ns);
    if (r < 0)
        return r;
    z->layers |= ns->layers;
    if ((ns->layers & ZLAYER_PIDNS) && (r = zygote_fork_server(z)) < 0) {
        log_error("starting the zygote in its pid namespace failed: %s", strerror(-r));
        return r;
    }
    if ((z->layers & ZLAYER_CAPS) && (r = ns_drop_caps()) < 0)
        log_warn("the zygote could not drop its capabilities (each child still "
                 "does): %s", strerror(-r));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        log_error("making the zygote undumpable failed: %s", strerror(errno));
        return -errno;
    }
    log_info("namespaces set up in %lld us (uid %u:%u outside)", zygote_elapsed_us(&t0),
             ns->layers & ZLAYER_USERNS ? (unsigned)ns->uid : (unsigned)geteuid(),
             ns->layers & ZLAYER_USERNS ? (unsigned)ns->gid : (unsigned)getegid());
    return 0;
}

/* CPython with the module allowlist; a restricted interpreter that was to
 * be disabled but cannot be stays on, and says so. */
static int zygote_python(struct zygote *z, const struct zygote_config *cfg)
{
    bool interpreter = true;
    int r = pyrun_init(cfg->modules, cfg->n_modules, !(cfg->disabled & ZLAYER_INTERPRETER),
                       &interpreter);
    if (r < 0)
        return r;
    if (interpreter)
        z->layers |= ZLAYER_INTERPRETER;
    if (interpreter && (cfg->disabled & ZLAYER_INTERPRETER)) {
        z->disabled &= ~(uint32_t)ZLAYER_INTERPRETER;
        zygote_note(z, ZLAYER_INTERPRETER, "still on: the runtime's init() has no "
                                           "'interpreter' keyword to disable it");
        log_warn("--unsafe-disable-layers interpreter: the runtime cannot disable it");
    }
    return 0;
}

/* Everything before READY; logs the first failure. */
static int zygote_prepare(struct zygote *z, const struct zygote_config *cfg)
{
    struct ns_result ns;
    int r;
    if ((r = zygote_check_ctl(z->ctl_fd)) < 0)
        log_error("fd %d is not the control socket: %s", z->ctl_fd, strerror(-r));
    else if ((r = zygote_signals(z)) < 0)
        log_error("blocking SIGCHLD failed: %s", strerror(-r));
    else if ((r = seccomp_policy_build(&z->filter)) < 0)
        log_error("building the seccomp filter failed: %s", strerror(-r));
    else if ((r = zygote_probe_seccomp(z)) < 0)
        log_error("the kernel refuses the seccomp filter: %s", strerror(-r));
    else if ((r = zygote_python(z, cfg)) < 0)
        log_error("python could not be initialised");
    else if ((r = zygote_measure(z)) < 0)
        log_error("reading /proc/self/statm failed: %s", strerror(-r));
    else if ((r = zygote_isolate(z, cfg, &ns)) == 0)
        zygote_report_missing(z, &ns);
    return r;
}

int zygote_run(const struct zygote_config *cfg)
{
    struct zygote z = {.ctl_fd = ZPROTO_FD, .sig_fd = -1, .pid = getpid(),
                       .server_pid = getpid(), .disabled = cfg->disabled & ZYGOTE_ALL_LAYERS,
                       .allowed_missing = cfg->allowed_missing};
    zygote_static_layers(&z);
    int r = zygote_prepare(&z, cfg);
    if (r == 0 && (r = zygote_send_ready(&z)) < 0)
        log_error("sending READY failed: %s", strerror(-r));
    if (r == 0) {
        log_info("ready: pid %d (%d inside), vm %llu kB, rss %llu kB, filter %u insns, "
                 "layers 0x%x", (int)z.pid, (int)z.server_pid,
                 (unsigned long long)z.base_vm_kb, (unsigned long long)z.rss_kb,
                 (unsigned)z.filter.len, (unsigned)(z.layers & ~(uint32_t)ZLAYER_CGROUP));
        r = zygote_loop(&z);
        /* EPIPE/ECONNRESET: the supervisor went away mid-reply, like EOF.
         * Any other failure of fd 3 ends service the same way; it is only
         * worth a log line, the supervisor sees the socket close. */
        if (r < 0 && r != -EPIPE && r != -ECONNRESET)
            log_error("control socket failed: %s", strerror(-r));
        r = 0;
    }
    log_debug("shutting down, killing %zu children", z.n_children);
    zygote_kill_children(&z);
    seccomp_policy_release(&z.filter);
    free(z.children);
    close_keep_errno(z.sig_fd);
    return r;
}
