/* namespaces.c - the zygote's namespaces and capabilities (see
 * namespaces.h). */
#include "namespaces.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "util.h"

/* nobody/nogroup on Debian: what root's jobs run as outside. */
#define NS_DEFAULT_ID 65534
#define NS_HOSTNAME "sandq"
#define NS_DOMAINNAME "(none)"
/* The new root: one inode (itself), one page, read-only after setup. */
#define NS_TMPFS_OPTIONS "mode=0555,size=4k,nr_inodes=1"

/* What the host needs for a namespace type the kernel refused, by errno;
 * NULL when there is nothing useful to say. */
static const char *ns_hint(uint32_t layer, int err)
{
    if (err == ENOSPC)
        return "a user.max_*_namespaces sysctl is 0 or used up";
    if (err == EINVAL || err == ENOSYS)
        return layer == ZLAYER_USERNS
                   ? "kernel without CONFIG_USER_NS, or a chrooted/threaded zygote"
                   : "kernel without this namespace type";
    if (err != EPERM && err != EACCES)
        return NULL;
    if (layer == ZLAYER_USERNS)
        return "needs kernel.unprivileged_userns_clone=1 or CAP_SYS_ADMIN, and in a "
               "container a seccomp/AppArmor profile that allows unshare";
    return "needs the user namespace layer or CAP_SYS_ADMIN";
}

/* Record that layer is missing: "<what>: <strerror> (<hint>)", or just
 * "<what>" when err is 0. Returns 0, so a step can end with
 * `return ns_fail(...)` and the next one still runs. */
__attribute__((format(printf, 4, 5)))
static int ns_fail(struct ns_result *ret, uint32_t layer, int err, const char *fmt, ...)
{
    if (ret->n_failures == NS_MAX_FAILURES)
        return 0;
    struct ns_failure *f = &ret->failures[ret->n_failures++];
    va_list ap;
    f->layer = layer;
    va_start(ap, fmt);
    int n = vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
    if (err == 0 || n < 0 || (size_t)n >= sizeof(f->text))
        return 0;
    const char *hint = ns_hint(layer, err);
    snprintf(f->text + n, sizeof(f->text) - (size_t)n, ": %s%s%s%s", strerror(err),
             hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
    return 0;
}

/* unshare(flag) for a namespace other than the user one. Refused for lack
 * of privilege while the user namespace is missing too, the note is kept
 * short: the user namespace's own note says what the host needs, and
 * READY has room for 512 bytes of notes, all six included. Notes never
 * contain ';' (it separates them). */
static int ns_unshare(struct ns_result *ret, uint32_t layer, int flag, const char *name)
{
    if (unshare(flag) == 0)
        return 0;
    int err = errno;
    if (err == EPERM && ret->userns_refused)
        ns_fail(ret, layer, 0, "EPERM without userns or CAP_SYS_ADMIN");
    else
        ns_fail(ret, layer, err, "unshare(%s)", name);
    return -err;
}

/* ---- user ---------------------------------------------------------------- */

/* Which id-map write failed in the helper, and why. */
struct ns_map_report {
    int file; /* index into ns_map_files */
    int err;
};

static const char *const ns_map_files[] = {"setgroups", "gid_map", "uid_map"};

static int ns_write_proc(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    return file_write_string(path, text);
}

/* The helper, in the parent user namespace: wait for the go byte (EOF:
 * the zygote gave up), write the three files of target, report the first
 * failure (or none) and leave. setgroups "deny" comes first: the kernel
 * wants it before an unprivileged gid_map, and it keeps the sandbox from
 * ever calling setgroups(); ENOENT means a kernel older than the file. */
_Noreturn static void ns_map_helper(pid_t target, uid_t uid, gid_t gid, int sync_fd,
                                    int report_fd)
{
    char go, uid_line[32], gid_line[32];
    ssize_t n;
    do
        n = read(sync_fd, &go, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        child_exit(0);
    snprintf(uid_line, sizeof(uid_line), "0 %u 1\n", (unsigned)uid);
    snprintf(gid_line, sizeof(gid_line), "0 %u 1\n", (unsigned)gid);
    const char *texts[] = {"deny", gid_line, uid_line};
    struct ns_map_report rep = {0, 0};
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        int r = ns_write_proc(target, ns_map_files[i], texts[i]);
        if (r < 0 && !(i == 0 && r == -ENOENT)) {
            rep = (struct ns_map_report){.file = (int)i, .err = -r};
            break;
        }
    }
    (void)!write(report_fd, &rep, sizeof(rep));
    child_exit(0);
}

/* Reap the helper; its report was read already. */
static void ns_reap(pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* unshare(CLONE_NEWUSER), let the helper write the maps, collect its
 * report. 0 when the maps are written; the failure is recorded otherwise. */
static int ns_user_unshare(struct ns_result *ret, pid_t helper, int sync_fd, int report_fd)
{
    struct ns_map_report rep;
    ssize_t n;
    if (unshare(CLONE_NEWUSER) < 0) {
        int err = errno;
        close_keep_errno(sync_fd); /* the helper sees EOF and leaves */
        ns_reap(helper);
        ns_fail(ret, ZLAYER_USERNS, err, "unshare(CLONE_NEWUSER)");
        return -err;
    }
    n = write(sync_fd, "x", 1);
    if (n == 1)
        do
            n = read(report_fd, &rep, sizeof(rep));
        while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : EPIPE; /* EPIPE: the helper died silently */
    close_keep_errno(sync_fd);
    ns_reap(helper);
    if (n != (ssize_t)sizeof(rep)) {
        ns_fail(ret, ZLAYER_USERNS, err, "talking to the id-map helper");
        return -err;
    }
    if (rep.err == 0)
        return 0;
    ns_fail(ret, ZLAYER_USERNS, 0, "writing %s of the user namespace (0 -> %u:%u): %s (the sandbox uid/gid "
            "must be mapped here, and unprivileged only your own ids: see --sandbox-uid)",
            ns_map_files[rep.file], (unsigned)ret->uid, (unsigned)ret->gid,
            strerror(rep.err));
    return -rep.err;
}

/* Fork the helper, then unshare and have it write the maps. 0, or -errno
 * with the failure recorded. */
static int ns_user_mapped(struct ns_result *ret)
{
    int sync[2] = {-1, -1}, report[2];
    if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
        int err = errno;
        close_keep_errno(sync[0]);
        close_keep_errno(sync[1]);
        ns_fail(ret, ZLAYER_USERNS, err, "pipe2 for the id-map helper");
        return -err;
    }
    pid_t target = getpid();
    pid_t helper = fork();
    if (helper == 0) {
        close(sync[1]);
        close(report[0]);
        ns_map_helper(target, ret->uid, ret->gid, sync[0], report[1]);
    }
    int err = errno;
    close_keep_errno(sync[0]);
    close_keep_errno(report[1]);
    int r;
    if (helper < 0) {
        close_keep_errno(sync[1]);
        ns_fail(ret, ZLAYER_USERNS, err, "fork of the id-map helper");
        r = -err;
    } else {
        r = ns_user_unshare(ret, helper, sync[1], report[0]);
    }
    close_keep_errno(report[0]);
    return r;
}

/* The user namespace. Root first sheds its supplementary groups (the
 * kernel keeps them across unshare, and with setgroups denied nobody could
 * drop them inside); an unprivileged caller cannot, and keeps them. After
 * the maps, become 0 inside, i.e. the sandbox ids outside: until then the
 * process still has its old ids (root's kuid 0, unmapped inside). */
static int ns_user(const struct ns_config *cfg, struct ns_result *ret)
{
    bool root = geteuid() == 0;
    ret->uid = cfg->have_ids ? cfg->uid : root ? NS_DEFAULT_ID : geteuid();
    ret->gid = cfg->have_ids ? cfg->gid : root ? NS_DEFAULT_ID : getegid();
    if (root && setgroups(0, NULL) < 0)
        return ns_fail(ret, ZLAYER_USERNS, errno, "setgroups(0) before unshare");
    int r = ns_user_mapped(ret);
    if (r < 0)
        return r;
    if (setresgid(0, 0, 0) < 0)
        return ns_fail(ret, ZLAYER_USERNS, errno, "setresgid(0) in the user namespace");
    if (setresuid(0, 0, 0) < 0)
        return ns_fail(ret, ZLAYER_USERNS, errno, "setresuid(0) in the user namespace");
    ret->layers |= ZLAYER_USERNS;
    return 0;
}

/* ---- mount --------------------------------------------------------------- */

/* The empty tmpfs that becomes the root needs a directory to be mounted
 * on first; only the private mount namespace sees it there. */
static const char *ns_mount_tmpfs(int *ret_err)
{
    static const char *const bases[] = {"/tmp", "/mnt", "/dev"};
    for (size_t i = 0; i < ARRAY_SIZE(bases); i++) {
        if (mount("sandq", bases[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NS_TMPFS_OPTIONS) == 0)
            return bases[i];
        *ret_err = errno;
    }
    return NULL;
}

/* A failed mount step: record it, and leave the half-built tmpfs as cwd
 * behind (best effort; the layer is reported missing either way). */
static int ns_mount_fail(struct ns_result *ret, int err, const char *what)
{
    (void)!chdir("/");
    return ns_fail(ret, ZLAYER_MOUNTNS, err, "%s", what);
}

/* pivot_root(".", ".") stacks the old root on top of the new one, and
 * umount2(".", MNT_DETACH) then takes it (with everything mounted below
 * it) away: no directory for the old root is needed on the new one. */
static int ns_mount(struct ns_result *ret)
{
    int err = 0;
    if (ns_unshare(ret, ZLAYER_MOUNTNS, CLONE_NEWNS, "CLONE_NEWNS") < 0)
        return 0;
    /* Nothing we mount may propagate to the host, nor the host's to us. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return ns_mount_fail(ret, errno, "mount(/, MS_REC|MS_PRIVATE)");
    const char *base = ns_mount_tmpfs(&err);
    if (!base)
        return ns_mount_fail(ret, err, "mount(tmpfs on /tmp, /mnt or /dev)");
    if (chdir(base) < 0)
        return ns_mount_fail(ret, errno, "chdir to the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return ns_mount_fail(ret, errno, "pivot_root(., .)");
    if (umount2(".", MNT_DETACH) < 0)
        return ns_mount_fail(ret, errno, "umount2(old root, MNT_DETACH)");
    if (chdir("/") < 0)
        return ns_mount_fail(ret, errno, "chdir(/)");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) < 0)
        return ns_mount_fail(ret, errno, "remounting the new root read-only");
    ret->layers |= ZLAYER_MOUNTNS;
    return 0;
}

/* ---- net, ipc, uts, pid -------------------------------------------------- */

static int ns_simple(struct ns_result *ret, uint32_t layer, int flag, const char *name)
{
    if (ns_unshare(ret, layer, flag, name) == 0)
        ret->layers |= layer;
    return 0;
}

/* The host's names (which say where the job runs) are replaced. */
static int ns_uts(struct ns_result *ret)
{
    if (ns_unshare(ret, ZLAYER_UTSNS, CLONE_NEWUTS, "CLONE_NEWUTS") < 0)
        return 0;
    if (sethostname(NS_HOSTNAME, strlen(NS_HOSTNAME)) < 0)
        return ns_fail(ret, ZLAYER_UTSNS, errno, "sethostname(%s)", NS_HOSTNAME);
    if (setdomainname(NS_DOMAINNAME, strlen(NS_DOMAINNAME)) < 0)
        return ns_fail(ret, ZLAYER_UTSNS, errno, "setdomainname(%s)", NS_DOMAINNAME);
    ret->layers |= ZLAYER_UTSNS;
    return 0;
}

int ns_enter(const struct ns_config *cfg, struct ns_result *ret)
{
    memset(ret, 0, sizeof(*ret));
    uint32_t want = cfg->layers;
    if (want & ZLAYER_USERNS) {
        (void)ns_user(cfg, ret);
        ret->userns_refused = !(ret->layers & ZLAYER_USERNS);
    }
    if (want & ZLAYER_MOUNTNS)
        (void)ns_mount(ret);
    if (want & ZLAYER_NETNS)
        (void)ns_simple(ret, ZLAYER_NETNS, CLONE_NEWNET, "CLONE_NEWNET");
    if (want & ZLAYER_IPCNS)
        (void)ns_simple(ret, ZLAYER_IPCNS, CLONE_NEWIPC, "CLONE_NEWIPC");
    if (want & ZLAYER_UTSNS)
        (void)ns_uts(ret);
    if (want & ZLAYER_PIDNS)
        (void)ns_simple(ret, ZLAYER_PIDNS, CLONE_NEWPID, "CLONE_NEWPID");
    return 0;
}

/* ---- the two halves of the pid namespace --------------------------------- */

_Noreturn void ns_outer_relay(pid_t inner)
{
    int status;
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    while (waitpid(inner, &status, 0) < 0)
        if (errno != EINTR)
            child_exit(EXIT_FAILURE);
    if (WIFEXITED(status))
        child_exit(WEXITSTATUS(status));
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t set;
    (void)sigaction(sig, &sa, NULL);
    if (sigemptyset(&set) == 0 && sigaddset(&set, sig) == 0)
        (void)sigprocmask(SIG_UNBLOCK, &set, NULL);
    (void)raise(sig);
    child_exit(128 + sig);
}

int ns_inner_follow(int outer_pidfd)
{
    struct pollfd p = {.fd = outer_pidfd, .events = POLLIN};
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return -errno;
    int n = poll(&p, 1, 0);
    if (n < 0)
        return -errno;
    return n == 0 ? 0 : -ESRCH; /* readable: the outer process exited */
}

/* ---- capabilities -------------------------------------------------------- */

static int ns_capget(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

int ns_get_caps(uint64_t *ret_eff, uint64_t *ret_prm, uint64_t *ret_inh)
{
    struct __user_cap_data_struct d[2];
    int r = ns_capget(d);
    if (r < 0)
        return r;
    *ret_eff = (uint64_t)d[1].effective << 32 | d[0].effective;
    *ret_prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
    *ret_inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
    return 0;
}

/* Every capability the kernel knows, up to the first it calls invalid. */
static int ns_drop_bounding(void)
{
    for (unsigned long cap = 0;; cap++) {
        int on = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (on < 0)
            return errno == EINVAL ? 0 : -errno;
        if (on && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return -errno;
    }
}

int ns_drop_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    uint64_t eff, prm, inh;
    int r = ns_capget(d);
    if (r < 0)
        return r;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return -errno;
    if ((d[0].effective & (1u << CAP_SETPCAP)) && (r = ns_drop_bounding()) < 0)
        return r;
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capset, &hdr, d) < 0)
        return -errno;
    if ((r = ns_get_caps(&eff, &prm, &inh)) < 0)
        return r;
    return eff || prm || inh ? -EPERM : 0;
}
