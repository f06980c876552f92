/* cgroup.c - per-slot cgroups, v1 and v2 behind one interface (cgroup.h,
 * docs/cgroups.md).
 *
 * Both versions are described by the same few fields: a list of
 * "hierarchies" (v2: one; v1: one per mounted controller, co-mounted ones
 * shared), each with this worker's base directory, and which hierarchy
 * carries which controller. Slot directories are <base>/slot-<n> in every
 * hierarchy. The version only decides which files are written. */
#include "cgroup.h"

#include "fileio.h"

#include "parse.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CG_DEFAULT_ROOT "/sys/fs/cgroup"
#define CG_CPU_PERIOD_US 100000u
#define CG_MAX_FILE (1u << 20)       /* cgroup.procs of a busy cgroup */
#define CG_KILL_ROUNDS 1000          /* a pids-limited slot needs 1-2 */
#define CG_EMPTY_WAIT_MS 2000        /* for killed processes to leave */

/* The controllers, in the order of the fds cgroup_slot_prepare() returns on
 * v1. cpuacct only measures (CPU usage), it limits nothing. */
enum cg_ctrl { CTRL_MEMORY, CTRL_PIDS, CTRL_CPU, CTRL_CPUACCT, CTRL_N };

static const struct {
    const char *name;
    const char *v1_marker; /* a file every v1 cgroup of it has */
    unsigned bit;          /* enum cgroup_controller, 0 for cpuacct */
} ctrls[CTRL_N] = {
    [CTRL_MEMORY] = {"memory", "memory.limit_in_bytes", CGROUP_MEMORY},
    [CTRL_PIDS] = {"pids", "pids.max", CGROUP_PIDS},
    [CTRL_CPU] = {"cpu", "cpu.cfs_quota_us", CGROUP_CPU},
    [CTRL_CPUACCT] = {"cpuacct", "cpuacct.usage", 0},
};

/* How the peak memory of one job is measured. */
enum cg_peak {
    PEAK_NONE,     /* no memory controller, or no memory.peak (< 5.19) */
    PEAK_V1,       /* memory.max_usage_in_bytes, reset by writing 0 */
    PEAK_FD_RESET, /* v2 memory.peak reset per open file (Linux >= 6.12) */
    PEAK_RECREATE, /* v2 memory.peak per cgroup lifetime: new slot per job */
};

struct cg_slot {
    int peak_fd;        /* PEAK_FD_RESET: memory.peak, reset at prepare */
    uint64_t oom_kills; /* the slot's OOM kill counter at prepare */
    uint64_t cpu_usec;  /* the slot's CPU counter at prepare */
    bool prepared;
    bool applied_valid; /* applied holds what the slot's files say */
    struct cgroup_limits applied;
    struct cg_cached {  /* files touched for every job, kept open */
        unsigned hier;
        const char *file; /* a string literal */
        int fd;
    } cache[8];
    unsigned n_cache;
};

struct cgroup_mgr {
    int version;          /* 1 or 2 */
    unsigned controllers; /* enum cgroup_controller bits in use */
    unsigned n_slots;
    char *root;           /* v2: the root cgroup; v1: where controllers are mounted */
    char *name;           /* "sandq-<id>" */
    char *hier[CTRL_N];   /* <root or mount>/sandq-<id>, n_hier of them */
    unsigned n_hier;
    int ctrl_hier[CTRL_N]; /* index into hier, -1: not available */
    bool swap_limit;      /* v1 memory.memsw.*, v2 memory.swap.max present */
    enum cg_peak peak;
    bool moved_self;      /* v2: the caller was moved into <base>/supervisor */
    unsigned enabled_in_root; /* v2: controllers we added to root's subtree_control */
    char *description;
    struct cg_slot *slots;
};

/* ---- small file helpers; all return 0 or -errno ---- */

__attribute__((format(printf, 2, 3))) static int path_fmt(char buf[PATH_MAX],
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    return n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int read_file(const char *path, char **ret)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return fd_read_all(fd, CG_MAX_FILE, ret, NULL);
}

/* One decimal number, optionally followed by a newline. */
static int parse_u64_text(const char *s, uint64_t *ret)
{
    size_t len = strcspn(s, "\n");
    if (s[len] == '\n' && s[len + 1] != '\0')
        return -EINVAL;
    return parse_u64(s, len, 0, UINT64_MAX, ret);
}

static int read_u64_file(const char *path, uint64_t *ret)
{
    _cleanup_free_ char *text = NULL;
    int r = read_file(path, &text);
    if (r < 0)
        return r;
    return parse_u64_text(text, ret);
}

/* The value of "key N" in a flat keyed file (memory.events, cpu.stat,
 * memory.oom_control); -ENODATA when the key is absent. */
static int parse_keyed_u64(const char *text, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return parse_u64(line + klen + 1, len - klen - 1, 0, UINT64_MAX,
                             ret);
        line += len + (line[len] == '\n');
    }
    return -ENODATA;
}

static int read_keyed_u64(const char *path, const char *key, uint64_t *ret)
{
    _cleanup_free_ char *text = NULL;
    int r = read_file(path, &text);
    if (r < 0)
        return r;
    return parse_keyed_u64(text, key, ret);
}

/* 1 if path exists, 0 if not, -errno if that cannot be told. */
static int path_exists(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    return errno == ENOENT ? 0 : -errno;
}

static int fs_magic(const char *path, long *ret)
{
    struct statfs sfs;
    if (statfs(path, &sfs) < 0)
        return -errno;
    *ret = (long)sfs.f_type;
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    /* An early wake-up (EINTR) only shortens one poll interval. */
    (void)nanosleep(&ts, NULL);
}

/* ---- processes in a cgroup ---- */

struct pid_list {
    pid_t *v;
    size_t n, cap;
};

static void pid_list_release(struct pid_list *l)
{
    free(l->v);
    *l = (struct pid_list){0};
}

static bool pid_list_has(const struct pid_list *l, pid_t pid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == pid)
            return true;
    return false;
}

static int pid_list_add(struct pid_list *l, pid_t pid)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        pid_t *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = pid;
    return 0;
}

/* Append the pids of <dir>/cgroup.procs to l. */
static int procs_read(const char *dir, struct pid_list *l)
{
    char path[PATH_MAX];
    _cleanup_free_ char *text = NULL;
    int r = path_fmt(path, "%s/cgroup.procs", dir);
    if (r < 0 || (r = read_file(path, &text)) < 0)
        return r;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        uint64_t pid;
        r = parse_u64(line, len, 1, INT_MAX, &pid);
        if (r < 0)
            return r;
        if (!pid_list_has(l, (pid_t)pid) && (r = pid_list_add(l, (pid_t)pid)) < 0)
            return r;
        line += len + (line[len] == '\n');
    }
    return 0;
}

/* 1 if the calling process is in <dir> itself, 0 if not. */
static int procs_has_self(const char *dir)
{
    struct pid_list l = {0};
    int r = procs_read(dir, &l);
    if (r >= 0)
        r = pid_list_has(&l, getpid());
    pid_list_release(&l);
    return r;
}

static int procs_read_all(char *const *dirs, size_t n_dirs, struct pid_list *l)
{
    for (size_t i = 0; i < n_dirs; i++) {
        int r = procs_read(dirs[i], l);
        if (r < 0 && r != -ENOENT)
            return r;
    }
    return 0;
}

/* Pin pid with a pidfd, then signal it only if it is still listed in the
 * cgroups: a pid read from cgroup.procs may meanwhile have been reused by
 * a process elsewhere. */
static int kill_pinned(pid_t pid, char *const *dirs, size_t n_dirs, bool *ret_sent)
{
    struct pid_list now = {0};
    _cleanup_close_ int pidfd = pidfd_open(pid, 0);
    int r = 0;
    *ret_sent = false;
    if (pidfd < 0 && errno == ESRCH)
        return 0;
    if (pidfd < 0 && errno != ENOSYS)
        return -errno;
    if ((r = procs_read_all(dirs, n_dirs, &now)) < 0 || !pid_list_has(&now, pid))
        goto out;
    /* Without pidfds (Linux < 5.3) the reuse window is only narrowed. */
    if ((pidfd >= 0 ? pidfd_send_signal(pidfd, SIGKILL, NULL, 0) : kill(pid, SIGKILL)) < 0
        && errno != ESRCH)
        r = -errno;
    else
        *ret_sent = true;
out:
    pid_list_release(&now);
    return r;
}

/* SIGKILL every process of the cgroups dirs[] (except the caller) until a
 * fresh read shows no process that was not signalled yet: a SIGKILLed
 * process cannot fork any more, so then everything is dying. */
static int kill_procs(char *const *dirs, size_t n_dirs)
{
    struct pid_list sent = {0};
    int r = -EBUSY;
    for (unsigned round = 0; round < CG_KILL_ROUNDS && r == -EBUSY; round++) {
        struct pid_list cur = {0};
        bool fresh = false;
        r = procs_read_all(dirs, n_dirs, &cur);
        for (size_t i = 0; r >= 0 && i < cur.n; i++) {
            bool ok;
            if (cur.v[i] == getpid() || pid_list_has(&sent, cur.v[i]))
                continue;
            fresh = true;
            if ((r = kill_pinned(cur.v[i], dirs, n_dirs, &ok)) >= 0 && ok)
                r = pid_list_add(&sent, cur.v[i]);
        }
        pid_list_release(&cur);
        if (r >= 0)
            r = fresh ? -EBUSY : 0;
    }
    pid_list_release(&sent);
    return r;
}

/* Wait until no process other than the caller is left in dir. */
static int wait_empty(const char *dir)
{
    for (unsigned waited = 0;; waited += 5) {
        struct pid_list l = {0};
        int r = procs_read(dir, &l);
        bool empty = r >= 0 && (l.n == 0 || (l.n == 1 && l.v[0] == getpid()));
        pid_list_release(&l);
        if (r < 0)
            return r == -ENOENT ? 0 : r;
        if (empty)
            return 0;
        if (waited >= CG_EMPTY_WAIT_MS)
            return -EBUSY;
        sleep_ms(5);
    }
}

/* rmdir, retrying while the kernel still counts exiting processes. */
static int rmdir_retry(const char *dir)
{
    for (unsigned waited = 0;; waited += 5) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY || waited >= CG_EMPTY_WAIT_MS)
            return -errno;
        sleep_ms(5);
    }
}

static bool is_same_or_below(const char *dir, const char *top)
{
    size_t n = strlen(top);
    return strncmp(dir, top, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

/* Kill the processes of dir and its descendants and remove them, depth
 * first. keep (may be NULL) and its ancestors are not removed and the
 * processes of keep are not killed: on v2 the caller may sit in keep. */
static int remove_tree(const char *dir, const char *keep)
{
    int r = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    for (;;) {
        char sub[PATH_MAX];
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                r = -errno;
            break;
        }
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 ||
            strcmp(e->d_name, "..") == 0)
            continue;
        if ((r = path_fmt(sub, "%s/%s", dir, e->d_name)) < 0 ||
            (r = remove_tree(sub, keep)) < 0)
            break;
    }
    if (closedir(d) < 0 && r == 0)
        r = -errno;
    if (r < 0 || (keep && strcmp(dir, keep) == 0))
        return r;
    char *const dirs[] = {(char *)dir};
    if ((r = kill_procs(dirs, 1)) < 0)
        return r;
    if (keep && is_same_or_below(keep, dir))
        return 0;
    if ((r = wait_empty(dir)) < 0)
        return r;
    return rmdir_retry(dir);
}

/* ---- errors for the operator ---- */

__attribute__((format(printf, 3, 4))) static int fail(char **ret_error, int r,
                                                      const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    if (!ret_error)
        return r;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    *ret_error = msg;
    return r;
}

/* Hint appended to errors about creating or writing our cgroups. */
static const char *access_hint(int r)
{
    if (r == -EROFS)
        return " - the cgroup filesystem is read-only: run with systemd "
               "Delegate=yes, or give the container a writable /sys/fs/cgroup";
    if (r == -EACCES || r == -EPERM)
        return " - the worker needs write access to this cgroup: run as root "
               "or under systemd with Delegate=yes";
    return "";
}

/* ---- slot paths and per-controller files ---- */

static int slot_path(const struct cgroup_mgr *m, unsigned h, unsigned slot,
                     const char *file, char buf[PATH_MAX])
{
    return file ? path_fmt(buf, "%s/slot-%u/%s", m->hier[h], slot, file)
                : path_fmt(buf, "%s/slot-%u", m->hier[h], slot);
}

/* The file of controller c in the slot; -EOPNOTSUPP when c is missing. */
static int ctrl_path(const struct cgroup_mgr *m, enum cg_ctrl c, unsigned slot,
                     const char *file, char buf[PATH_MAX])
{
    if (m->ctrl_hier[c] < 0)
        return -EOPNOTSUPP;
    return slot_path(m, (unsigned)m->ctrl_hier[c], slot, file, buf);
}

static int ctrl_write(const struct cgroup_mgr *m, enum cg_ctrl c, unsigned slot,
                      const char *file, const char *value)
{
    char path[PATH_MAX];
    int r = ctrl_path(m, c, slot, file, path);
    return r < 0 ? r : file_write_string(path, value);
}

static int ctrl_read_u64(const struct cgroup_mgr *m, enum cg_ctrl c,
                         unsigned slot, const char *file, const char *key,
                         uint64_t *ret)
{
    char path[PATH_MAX];
    int r = ctrl_path(m, c, slot, file, path);
    if (r < 0)
        return r;
    return key ? read_keyed_u64(path, key, ret) : read_u64_file(path, ret);
}

/* The fd of a file of the slot in hierarchy h, opened on first use and
 * kept until the slot's cgroup is recreated or freed: the counters and
 * cgroup.procs are touched for every job, and the open (a kernfs path
 * walk) is most of what that costs. flags must be the same at every use
 * of one file. */
static int slot_cached_fd(struct cgroup_mgr *m, unsigned h, unsigned slot,
                          const char *file, int flags)
{
    struct cg_slot *s = &m->slots[slot];
    char path[PATH_MAX];
    for (unsigned i = 0; i < s->n_cache; i++)
        if (s->cache[i].hier == h && strcmp(s->cache[i].file, file) == 0)
            return s->cache[i].fd;
    if (s->n_cache == sizeof(s->cache) / sizeof(s->cache[0]))
        return -ENOSPC;
    int r = slot_path(m, h, slot, file, path);
    if (r < 0)
        return r;
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    s->cache[s->n_cache++] = (struct cg_cached){h, file, fd};
    return fd;
}

static void slot_cache_drop(struct cg_slot *s)
{
    for (unsigned i = 0; i < s->n_cache; i++)
        close_keep_errno(s->cache[i].fd);
    s->n_cache = 0;
}

/* A number (or "key N" line) of a slot file in hierarchy h, through the
 * slot's cached fd (pread from 0 re-reads a cgroup file). */
static int slot_read_u64(struct cgroup_mgr *m, unsigned h, unsigned slot,
                         const char *file, const char *key, int flags,
                         uint64_t *ret)
{
    char text[4096];
    int fd = slot_cached_fd(m, h, slot, file, flags);
    if (fd < 0)
        return fd;
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n < 0)
        return -errno;
    text[n] = '\0';
    return key ? parse_keyed_u64(text, key, ret) : parse_u64_text(text, ret);
}

/* ctrl_read_u64 through the slot's cached fd. */
static int cached_read_u64(struct cgroup_mgr *m, enum cg_ctrl c, unsigned slot,
                           const char *file, const char *key, int flags,
                           uint64_t *ret)
{
    if (m->ctrl_hier[c] < 0)
        return -EOPNOTSUPP;
    return slot_read_u64(m, (unsigned)m->ctrl_hier[c], slot, file, key, flags,
                         ret);
}

static int cached_write(struct cgroup_mgr *m, enum cg_ctrl c, unsigned slot,
                        const char *file, const char *value, int flags)
{
    if (m->ctrl_hier[c] < 0)
        return -EOPNOTSUPP;
    int fd = slot_cached_fd(m, (unsigned)m->ctrl_hier[c], slot, file, flags);
    if (fd < 0)
        return fd;
    size_t len = strlen(value);
    ssize_t n = pwrite(fd, value, len, 0);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

/* Settings a slot keeps for its lifetime: swap off (v1 sets memsw with
 * every limit instead), the whole slot OOM-killed as one, the CFS period. */
static int slot_setup(struct cgroup_mgr *m, unsigned slot)
{
    int r = 0;
    if (m->version == 2 && m->ctrl_hier[CTRL_MEMORY] >= 0) {
        r = ctrl_write(m, CTRL_MEMORY, slot, "memory.swap.max", "0");
        if (r == -ENOENT) { /* no swap accounting (swapaccount=0) */
            m->swap_limit = false;
            r = 0;
        }
        if (r >= 0)
            r = ctrl_write(m, CTRL_MEMORY, slot, "memory.oom.group", "1");
    }
    if (r >= 0 && m->version == 1 && m->ctrl_hier[CTRL_CPU] >= 0) {
        char v[32];
        snprintf(v, sizeof(v), "%u", CG_CPU_PERIOD_US);
        r = ctrl_write(m, CTRL_CPU, slot, "cpu.cfs_period_us", v);
    }
    return r;
}

static int slot_create(struct cgroup_mgr *m, unsigned slot)
{
    for (unsigned h = 0; h < m->n_hier; h++) {
        char dir[PATH_MAX];
        int r = slot_path(m, h, slot, NULL, dir);
        if (r < 0)
            return r;
        if (mkdir(dir, 0755) < 0)
            return -errno;
    }
    return slot_setup(m, slot);
}

/* ---- limits and counters ---- */

static void fmt_u64_or(char buf[32], uint64_t v, const char *unlimited)
{
    if (v)
        snprintf(buf, 32, "%" PRIu64, v);
    else
        snprintf(buf, 32, "%s", unlimited);
}

/* memsw must never be below the limit, so the order of the two writes
 * depends on whether the limit goes up or down: try down first. */
static int v1_set_memory(const struct cgroup_mgr *m, unsigned slot, uint64_t bytes)
{
    char v[32];
    fmt_u64_or(v, bytes, "-1");
    int r = ctrl_write(m, CTRL_MEMORY, slot, "memory.limit_in_bytes", v);
    if (!m->swap_limit)
        return r;
    if (r == -EINVAL) {
        r = ctrl_write(m, CTRL_MEMORY, slot, "memory.memsw.limit_in_bytes", v);
        return r < 0 ? r : ctrl_write(m, CTRL_MEMORY, slot, "memory.limit_in_bytes", v);
    }
    return r < 0 ? r : ctrl_write(m, CTRL_MEMORY, slot, "memory.memsw.limit_in_bytes", v);
}

static int set_limits(const struct cgroup_mgr *m, unsigned slot,
                      const struct cgroup_limits *l)
{
    char v[64];
    int r = 0;
    bool v2 = m->version == 2;
    if (m->ctrl_hier[CTRL_MEMORY] >= 0) {
        fmt_u64_or(v, l->memory_bytes, "max");
        r = v2 ? ctrl_write(m, CTRL_MEMORY, slot, "memory.max", v)
               : v1_set_memory(m, slot, l->memory_bytes);
    }
    if (r >= 0 && m->ctrl_hier[CTRL_PIDS] >= 0) {
        fmt_u64_or(v, l->pids_max, "max");
        r = ctrl_write(m, CTRL_PIDS, slot, "pids.max", v);
    }
    if (r >= 0 && m->ctrl_hier[CTRL_CPU] >= 0) {
        uint64_t quota = (uint64_t)l->cpu_quota_pct * CG_CPU_PERIOD_US / 100;
        if (l->cpu_quota_pct && quota < 1000)
            quota = 1000; /* the kernel's minimum quota, 1 ms */
        if (v2) {
            char q[32];
            fmt_u64_or(q, quota, "max");
            snprintf(v, sizeof(v), "%s %u", q, CG_CPU_PERIOD_US);
            r = ctrl_write(m, CTRL_CPU, slot, "cpu.max", v);
        } else {
            fmt_u64_or(v, quota, "-1");
            r = ctrl_write(m, CTRL_CPU, slot, "cpu.cfs_quota_us", v);
        }
    }
    return r;
}

static int read_oom_kills(struct cgroup_mgr *m, unsigned slot, uint64_t *ret)
{
    if (m->ctrl_hier[CTRL_MEMORY] < 0) {
        *ret = 0;
        return 0;
    }
    return cached_read_u64(m, CTRL_MEMORY, slot,
                           m->version == 2 ? "memory.events" : "memory.oom_control",
                           "oom_kill", O_RDONLY, ret);
}

/* Cumulative CPU of the slot in µs; 0 on v1 without cpuacct. */
static int read_cpu_usec(struct cgroup_mgr *m, unsigned slot, uint64_t *ret)
{
    uint64_t ns;
    int r;
    if (m->version == 2) /* usage_usec exists without the cpu controller */
        return slot_read_u64(m, 0, slot, "cpu.stat", "usage_usec", O_RDONLY, ret);
    if (m->ctrl_hier[CTRL_CPUACCT] < 0) {
        *ret = 0;
        return 0;
    }
    if ((r = cached_read_u64(m, CTRL_CPUACCT, slot, "cpuacct.usage", NULL,
                             O_RDONLY, &ns)) < 0)
        return r;
    *ret = ns / 1000;
    return 0;
}

/* Open memory.peak and reset it for reads through this fd (Linux 6.12). */
static int open_peak_reset(const struct cgroup_mgr *m, unsigned slot, int *ret_fd)
{
    char path[PATH_MAX];
    int r = ctrl_path(m, CTRL_MEMORY, slot, "memory.peak", path);
    if (r < 0)
        return r;
    _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (write(fd, "reset\n", 6) != 6)
        return errno ? -errno : -EIO;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int read_peak_kb(struct cgroup_mgr *m, unsigned slot, int peak_fd,
                        uint64_t *ret)
{
    uint64_t bytes = 0;
    int r = 0;
    if (m->peak == PEAK_V1) {
        r = cached_read_u64(m, CTRL_MEMORY, slot, "memory.max_usage_in_bytes",
                            NULL, O_RDWR, &bytes);
    } else if (m->peak == PEAK_RECREATE) {
        r = ctrl_read_u64(m, CTRL_MEMORY, slot, "memory.peak", NULL, &bytes);
    } else if (m->peak == PEAK_FD_RESET) {
        _cleanup_free_ char *text = NULL;
        if (lseek(peak_fd, 0, SEEK_SET) < 0)
            return -errno;
        if ((r = fd_read_all(peak_fd, CG_MAX_FILE, &text, NULL)) >= 0)
            r = parse_u64_text(text, &bytes);
    }
    if (r >= 0)
        *ret = bytes / 1024;
    return r;
}

/* ---- v2 setup ---- */

/* Which of ours are in a space-separated controller list. */
static unsigned parse_controllers(const char *list)
{
    unsigned mask = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, " \n");
        for (unsigned c = 0; c < CTRL_N; c++)
            if (ctrls[c].bit && strlen(ctrls[c].name) == len &&
                strncmp(p, ctrls[c].name, len) == 0)
                mask |= ctrls[c].bit;
        p += len;
        p += strspn(p, " \n");
    }
    return mask;
}

/* "memory, cpu" for a mask, into buf. */
static const char *mask_names(unsigned mask, char *buf, size_t size)
{
    buf[0] = '\0';
    for (unsigned c = 0; c < CTRL_N; c++)
        if (ctrls[c].bit & mask)
            snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
                     buf[0] ? ", " : "", ctrls[c].name);
    return buf;
}

/* "+memory +pids" (or with '-') for writing cgroup.subtree_control. */
static int subtree_write(const char *dir, unsigned mask, char sign)
{
    char path[PATH_MAX], v[64] = "";
    int r = path_fmt(path, "%s/cgroup.subtree_control", dir);
    if (r < 0)
        return r;
    for (unsigned c = 0; c < CTRL_N; c++)
        if (ctrls[c].bit & mask)
            snprintf(v + strlen(v), sizeof(v) - strlen(v), "%s%c%s",
                     v[0] ? " " : "", sign, ctrls[c].name);
    return v[0] ? file_write_string(path, v) : 0;
}

static int subtree_read(const char *dir, unsigned *ret)
{
    char path[PATH_MAX];
    _cleanup_free_ char *text = NULL;
    int r = path_fmt(path, "%s/cgroup.subtree_control", dir);
    if (r < 0 || (r = read_file(path, &text)) < 0)
        return r;
    *ret = parse_controllers(text);
    return 0;
}

/* The caller's v2 cgroup path ("/system.slice/x.service") from
 * /proc/self/cgroup's "0::" line. */
static int self_cgroup_v2(char **ret)
{
    _cleanup_free_ char *text = NULL;
    int r = read_file("/proc/self/cgroup", &text);
    if (r < 0)
        return r;
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        if (len >= 4 && strncmp(line, "0::/", 4) == 0) {
            char *p = strndup(line + 3, len - 3);
            if (!p)
                return -ENOMEM;
            *ret = p;
            return 0;
        }
        line += len + (line[len] == '\n');
    }
    return -ENODATA;
}

/* The root's controllers; error if a required one is missing. */
static int v2_check_controllers(struct cgroup_mgr *m, unsigned required,
                                char **ret_error)
{
    char path[PATH_MAX], names[64];
    _cleanup_free_ char *text = NULL;
    int r = path_fmt(path, "%s/cgroup.controllers", m->root);
    if (r < 0 || (r = read_file(path, &text)) < 0)
        return fail(ret_error, r, "cgroup v2 at %s: cannot read cgroup.controllers: %s",
                    m->root, strerror(-r));
    unsigned avail = parse_controllers(text), missing = required & ~avail;
    if (missing) {
        text[strcspn(text, "\n")] = '\0';
        mask_names(missing, names, sizeof(names));
        return fail(ret_error, -EOPNOTSUPP,
                    "cgroup v2 at %s: %s controller%s not available "
                    "(cgroup.controllers: %s) - enable %s in the parent's "
                    "cgroup.subtree_control or run with systemd Delegate=yes",
                    m->root, names, strchr(names, ',') ? "s" : "",
                    text[0] ? text : "none", strchr(names, ',') ? "them" : "it");
    }
    m->controllers = avail;
    for (unsigned c = 0; c < CTRL_N; c++)
        m->ctrl_hier[c] = ctrls[c].bit & avail ? 0 : -1;
    return 0;
}

/* Move the caller from the root into <base>/supervisor when it sits in the
 * root (or already in that leaf from an earlier open), then enable our
 * controllers in the root's and the base's subtree_control. */
static int v2_enter_and_enable(struct cgroup_mgr *m, bool in_leaf, char **ret_error)
{
    char leaf[PATH_MAX], procs[PATH_MAX];
    unsigned enabled;
    int r = path_fmt(leaf, "%s/supervisor", m->hier[0]);
    if (r < 0)
        return r;
    if (!in_leaf && mkdir(leaf, 0755) < 0)
        return fail(ret_error, -errno, "cgroup v2: cannot create '%s': %s%s", leaf,
                    strerror(errno), access_hint(-errno));
    if ((r = procs_has_self(m->root)) < 0)
        return fail(ret_error, r, "cgroup v2 at %s: cannot read cgroup.procs: %s",
                    m->root, strerror(-r));
    bool in_root = r > 0;
    if (in_root) {
        if ((r = path_fmt(procs, "%s/cgroup.procs", leaf)) < 0 ||
            (r = file_write_string(procs, "0")) < 0)
            return fail(ret_error, r, "cgroup v2: cannot move the worker into '%s': %s%s",
                        leaf, strerror(-r), access_hint(r));
    }
    m->moved_self = in_root || in_leaf;
    if ((r = subtree_read(m->root, &enabled)) < 0)
        return fail(ret_error, r, "cgroup v2 at %s: cannot read cgroup.subtree_control: %s",
                    m->root, strerror(-r));
    unsigned todo = m->controllers & ~enabled;
    if ((r = subtree_write(m->root, todo, '+')) < 0) {
        char others[256] = "";
        struct pid_list l = {0};
        if (procs_read(m->root, &l) >= 0)
            for (size_t i = 0; i < l.n && strlen(others) < sizeof(others) - 16; i++)
                snprintf(others + strlen(others), sizeof(others) - strlen(others),
                         " %d", (int)l.v[i]);
        pid_list_release(&l);
        return fail(ret_error, r,
                    "cgroup v2 at %s: cannot enable controllers in cgroup.subtree_control: "
                    "%s%s%s%s", m->root, strerror(-r),
                    r == -EBUSY ? " - other processes are in that cgroup (pids:" : "",
                    r == -EBUSY ? others : "",
                    r == -EBUSY ? "): start sandq-worker as its only process and open "
                                  "cgroups before the zygote starts" : access_hint(r));
    }
    m->enabled_in_root = todo;
    if ((r = subtree_write(m->hier[0], m->controllers, '+')) < 0)
        return fail(ret_error, r, "cgroup v2: cannot enable controllers in '%s': %s",
                    m->hier[0], strerror(-r));
    return 0;
}

/* How this kernel lets us measure one job's peak (tried on slot 0). */
static int v2_pick_peak(struct cgroup_mgr *m)
{
    int fd = -1;
    if (m->ctrl_hier[CTRL_MEMORY] < 0) {
        m->peak = PEAK_NONE;
        return 0;
    }
    int r = open_peak_reset(m, 0, &fd);
    close_keep_errno(fd);
    if (r >= 0)
        m->peak = PEAK_FD_RESET;
    else if (r == -EACCES || r == -EINVAL || r == -EPERM)
        m->peak = PEAK_RECREATE; /* memory.peak is read-only before 6.12 */
    else if (r == -ENOENT)
        m->peak = PEAK_NONE; /* no memory.peak before 5.19 */
    else
        return r;
    return 0;
}

static int v2_open(struct cgroup_mgr *m, unsigned required, char **ret_error)
{
    char leaf[PATH_MAX];
    int r = v2_check_controllers(m, required, ret_error);
    if (r < 0)
        return r;
    if ((r = path_fmt(leaf, "%s/supervisor", m->hier[0])) < 0)
        return r;
    int in_leaf = path_exists(leaf) > 0 ? procs_has_self(leaf) : 0;
    if (in_leaf < 0)
        in_leaf = 0;
    if ((r = remove_tree(m->hier[0], in_leaf ? leaf : NULL)) < 0)
        return fail(ret_error, r, "cgroup v2: cannot remove the stale '%s': %s",
                    m->hier[0], strerror(-r));
    if (!in_leaf && mkdir(m->hier[0], 0755) < 0)
        return fail(ret_error, -errno, "cgroup v2: cannot create '%s': %s%s", m->hier[0],
                    strerror(errno), access_hint(-errno));
    m->n_hier = 1;
    if ((r = v2_enter_and_enable(m, in_leaf, ret_error)) < 0)
        return r;
    m->swap_limit = m->ctrl_hier[CTRL_MEMORY] >= 0;
    for (unsigned s = 0; s < m->n_slots; s++)
        if ((r = slot_create(m, s)) < 0)
            return fail(ret_error, r, "cgroup v2: cannot create slot %u in '%s': %s%s", s,
                        m->hier[0], strerror(-r), access_hint(r));
    if ((r = v2_pick_peak(m)) < 0)
        return fail(ret_error, r, "cgroup v2: cannot open memory.peak in '%s': %s",
                    m->hier[0], strerror(-r));
    return 0;
}

/* ---- v1 setup ---- */

/* Find controller c's hierarchy; *ret_h its index in m->hier (a new one,
 * or the one it is co-mounted with) or -1 with why in reason. */
static int v1_find(struct cgroup_mgr *m, enum cg_ctrl c, dev_t devs[CTRL_N],
                   int *ret_h, char *reason, size_t reason_size)
{
    char mnt[PATH_MAX], base[PATH_MAX];
    long magic = 0;
    struct stat st;
    int r = path_fmt(mnt, "%s/%s", m->root, ctrls[c].name);
    *ret_h = -1;
    if (r < 0)
        return r;
    r = fs_magic(mnt, &magic);
    if (r < 0 || magic != CGROUP_SUPER_MAGIC) {
        snprintf(reason, reason_size, "%s is not a cgroup v1 mount%s%s", mnt,
                 r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        return 0;
    }
    if (stat(mnt, &st) < 0)
        return -errno;
    for (unsigned h = 0; h < m->n_hier; h++)
        if (devs[h] == st.st_dev)
            *ret_h = (int)h;
    if (*ret_h < 0) {
        if ((r = path_fmt(base, "%s/%s", mnt, m->name)) < 0)
            return r;
        if (!(m->hier[m->n_hier] = strdup(base)))
            return -ENOMEM;
        devs[m->n_hier] = st.st_dev;
        *ret_h = (int)m->n_hier++;
    }
    return 0;
}

/* Create <mount>/sandq-<id> in each hierarchy (after removing a stale one)
 * and check each controller's marker file there. */
static int v1_create_bases(struct cgroup_mgr *m, char **ret_error)
{
    for (unsigned h = 0; h < m->n_hier; h++) {
        int r = remove_tree(m->hier[h], NULL);
        if (r < 0)
            return fail(ret_error, r, "cgroup v1: cannot remove the stale '%s': %s",
                        m->hier[h], strerror(-r));
        if (mkdir(m->hier[h], 0755) < 0)
            return fail(ret_error, -errno, "cgroup v1: cannot create '%s': %s%s",
                        m->hier[h], strerror(errno), access_hint(-errno));
    }
    for (unsigned c = 0; c < CTRL_N; c++) {
        char marker[PATH_MAX];
        int r;
        if (m->ctrl_hier[c] < 0)
            continue;
        if ((r = path_fmt(marker, "%s/%s", m->hier[m->ctrl_hier[c]], ctrls[c].v1_marker)) < 0 ||
            (r = path_exists(marker)) < 0)
            return fail(ret_error, r < 0 ? r : -EIO, "cgroup v1: cannot check '%s': %s",
                        marker, strerror(-r));
        if (r == 0)
            m->ctrl_hier[c] = -1; /* e.g. a kernel without CFS bandwidth */
    }
    return 0;
}

static int v1_open(struct cgroup_mgr *m, unsigned required, char **ret_error)
{
    dev_t devs[CTRL_N] = {0};
    char reasons[CTRL_N][PATH_MAX + 64];
    int r;
    for (unsigned c = 0; c < CTRL_N; c++) {
        reasons[c][0] = '\0';
        if ((r = v1_find(m, c, devs, &m->ctrl_hier[c], reasons[c], sizeof(reasons[c]))) < 0)
            return fail(ret_error, r, "cgroup v1 at %s: cannot inspect the %s hierarchy: %s",
                        m->root, ctrls[c].name, strerror(-r));
    }
    if (m->n_hier == 0)
        return fail(ret_error, -EINVAL,
                    "cgroup root %s holds no cgroup v1 controller mounts (%s)", m->root,
                    reasons[CTRL_MEMORY]);
    if ((r = v1_create_bases(m, ret_error)) < 0)
        return r;
    for (unsigned c = 0; c < CTRL_N; c++)
        if (m->ctrl_hier[c] >= 0)
            m->controllers |= ctrls[c].bit;
    for (unsigned c = 0; c < CTRL_N; c++)
        if (ctrls[c].bit & required & ~m->controllers)
            return fail(ret_error, -EOPNOTSUPP,
                        "cgroup v1 at %s: %s controller not available (%s) - mount it "
                        "(mount -t cgroup -o %s cgroup %s/%s) or use cgroup v2",
                        m->root, ctrls[c].name,
                        reasons[c][0] ? reasons[c] : "no controller files in its cgroups",
                        ctrls[c].name, m->root, ctrls[c].name);
    if (m->ctrl_hier[CTRL_MEMORY] >= 0) {
        char memsw[PATH_MAX];
        if ((r = path_fmt(memsw, "%s/memory.memsw.limit_in_bytes",
                          m->hier[m->ctrl_hier[CTRL_MEMORY]])) < 0 ||
            (r = path_exists(memsw)) < 0)
            return fail(ret_error, r, "cgroup v1: cannot check for swap accounting: %s",
                        strerror(-r));
        m->swap_limit = r > 0;
        m->peak = PEAK_V1;
    }
    for (unsigned s = 0; s < m->n_slots; s++)
        if ((r = slot_create(m, s)) < 0)
            return fail(ret_error, r, "cgroup v1: cannot create slot %u: %s%s", s,
                        strerror(-r), access_hint(r));
    return 0;
}

/* ---- the interface ---- */

static char *sanitised_name(const char *worker_id)
{
    char *name = NULL;
    if (asprintf(&name, "sandq-%s", worker_id) < 0)
        return NULL;
    for (char *p = name + 6; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
            *p = '_';
    return name;
}

static int describe(struct cgroup_mgr *m)
{
    char used[64], missing[64];
    const char *peak = m->peak == PEAK_FD_RESET   ? "; memory.peak reset per job"
                       : m->peak == PEAK_RECREATE ? "; slot recreated per job for memory.peak"
                       : m->peak == PEAK_NONE && (m->controllers & CGROUP_MEMORY)
                           ? "; no memory.peak (peak not measured)"
                           : "";
    mask_names(m->controllers, used, sizeof(used));
    mask_names(CGROUP_ALL & ~m->controllers, missing, sizeof(missing));
    if (m->version == 1 && m->ctrl_hier[CTRL_CPUACCT] >= 0)
        snprintf(used + strlen(used), sizeof(used) - strlen(used), "%scpuacct",
                 used[0] ? ", " : "");
    if (!used[0])
        snprintf(used, sizeof(used), "no controllers");
    int n = m->version == 2
                ? asprintf(&m->description, "v2 (%s%s%s) at %s%s%s", used,
                           missing[0] ? "; missing: " : "", missing, m->hier[0], peak,
                           m->swap_limit || !(m->controllers & CGROUP_MEMORY)
                               ? "" : "; swap not limited (no swap accounting)")
                : asprintf(&m->description, "v1 (%s%s%s) at %s/<controller>/%s%s",
                           used, missing[0] ? "; missing: " : "", missing, m->root,
                           m->name, m->swap_limit || !(m->controllers & CGROUP_MEMORY)
                               ? "" : "; swap not limited (no memory.memsw)");
    return n < 0 ? -ENOMEM : 0;
}

/* The root and the version, from root_override or /sys/fs/cgroup. */
static int pick_root(struct cgroup_mgr *m, const char *root_override, char **ret_error)
{
    const char *where = root_override ? root_override : CG_DEFAULT_ROOT;
    long magic = 0;
    int r = fs_magic(where, &magic);
    if (r < 0)
        return fail(ret_error, r == -ENOENT ? -EINVAL : r, "cgroup root %s: %s", where,
                    strerror(-r));
    if (magic == CGROUP_SUPER_MAGIC)
        return fail(ret_error, -EINVAL,
                    "cgroup root %s is one cgroup v1 hierarchy: give the directory "
                    "holding the controller mounts (e.g. /sys/fs/cgroup) or a cgroup v2 "
                    "directory", where);
    m->version = magic == CGROUP2_SUPER_MAGIC ? 2 : 1;
    if (m->version == 1 && root_override && magic != TMPFS_MAGIC) {
        char mem[PATH_MAX];
        if ((r = path_fmt(mem, "%s/memory", where)) < 0 || (r = path_exists(mem)) <= 0)
            return fail(ret_error, -EINVAL,
                        "cgroup root %s is not a cgroup filesystem nor a directory of "
                        "cgroup v1 mounts", where);
    }
    if (m->version == 2 && !root_override) {
        _cleanup_free_ char *self = NULL;
        if ((r = self_cgroup_v2(&self)) < 0)
            return fail(ret_error, r, "cgroup v2: cannot find the worker's cgroup in "
                        "/proc/self/cgroup: %s", strerror(-r));
        r = asprintf(&m->root, "%s%s", CG_DEFAULT_ROOT, strcmp(self, "/") ? self : "");
    } else {
        r = (m->root = strdup(where)) ? 0 : -1;
    }
    if (r < 0)
        return -ENOMEM;
    if (m->version == 2) {
        char base[PATH_MAX];
        if ((r = path_fmt(base, "%s/%s", m->root, m->name)) < 0)
            return fail(ret_error, r, "cgroup root %s: path too long", m->root);
        if (!(m->hier[0] = strdup(base)))
            return -ENOMEM;
    }
    return 0;
}

int cgroup_mgr_open(const char *root_override, const char *worker_id,
                    unsigned n_slots, unsigned required,
                    struct cgroup_mgr **ret, char **ret_error)
{
    struct cgroup_mgr *m;
    int r;
    if (ret_error)
        *ret_error = NULL;
    if (!worker_id || !*worker_id || strlen(worker_id) > 128 || n_slots == 0 ||
        n_slots > 4096 || (required & ~CGROUP_ALL) || !ret)
        return fail(ret_error, -EINVAL,
                    "cgroups: bad arguments (worker id 1..128 bytes, 1..4096 slots)");
    if (!(m = calloc(1, sizeof(*m))))
        return -ENOMEM;
    m->n_slots = n_slots;
    for (unsigned c = 0; c < CTRL_N; c++)
        m->ctrl_hier[c] = -1;
    if (!(m->slots = calloc(n_slots, sizeof(*m->slots))) ||
        !(m->name = sanitised_name(worker_id))) {
        cgroup_mgr_free(m);
        return -ENOMEM;
    }
    for (unsigned s = 0; s < n_slots; s++)
        m->slots[s].peak_fd = -1;
    r = pick_root(m, root_override, ret_error);
    if (r >= 0)
        r = m->version == 2 ? v2_open(m, required, ret_error) : v1_open(m, required, ret_error);
    if (r >= 0 && (r = describe(m)) < 0)
        r = fail(ret_error, r, "cgroups: out of memory");
    if (r < 0) {
        cgroup_mgr_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

const char *cgroup_mgr_describe(const struct cgroup_mgr *m)
{
    return m->description;
}

unsigned cgroup_mgr_controllers(const struct cgroup_mgr *m)
{
    return m->controllers;
}

static int slot_busy(const struct cgroup_mgr *m, unsigned slot)
{
    for (unsigned h = 0; h < m->n_hier; h++) {
        char dir[PATH_MAX];
        struct pid_list l = {0};
        int r = slot_path(m, h, slot, NULL, dir);
        if (r >= 0)
            r = procs_read(dir, &l);
        if (r >= 0 && l.n > 0)
            r = -EBUSY;
        pid_list_release(&l);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Before 6.12 v2 has no way to reset memory.peak: give the slot a fresh
 * cgroup (it is empty, so rmdir works). */
static int slot_recreate(struct cgroup_mgr *m, unsigned slot)
{
    char dir[PATH_MAX];
    slot_cache_drop(&m->slots[slot]);
    int r = slot_path(m, 0, slot, NULL, dir);
    if (r < 0 || (r = rmdir_retry(dir)) < 0)
        return r;
    return slot_create(m, slot);
}

/* Remember the counters and reset the peak; *ret_peak_fd for PEAK_FD_RESET. */
static int slot_start_counting(struct cgroup_mgr *m, unsigned slot, int *ret_peak_fd)
{
    struct cg_slot *s = &m->slots[slot];
    int r = 0;
    *ret_peak_fd = -1;
    if (m->peak == PEAK_V1)
        r = cached_write(m, CTRL_MEMORY, slot, "memory.max_usage_in_bytes", "0",
                         O_RDWR);
    else if (m->peak == PEAK_FD_RESET)
        r = open_peak_reset(m, slot, ret_peak_fd);
    if (r >= 0)
        r = read_oom_kills(m, slot, &s->oom_kills);
    if (r >= 0)
        r = read_cpu_usec(m, slot, &s->cpu_usec);
    if (r < 0) {
        close_keep_errno(*ret_peak_fd);
        *ret_peak_fd = -1;
    }
    return r;
}

/* The caller's own copies (dup) of the slot's cached cgroup.procs fds. */
static int open_procs_fds(struct cgroup_mgr *m, unsigned slot,
                          int fds[CGROUP_MAX_FDS])
{
    for (unsigned h = 0; h < m->n_hier; h++) {
        int r = slot_cached_fd(m, h, slot, "cgroup.procs", O_WRONLY);
        if (r >= 0 && (fds[h] = fcntl(r, F_DUPFD_CLOEXEC, 3)) < 0)
            r = -errno;
        if (r < 0) {
            for (unsigned k = 0; k < h; k++)
                close_keep_errno(fds[k]);
            return r;
        }
    }
    return 0;
}

/* l's limits, unless they are what the slot already has. */
static int apply_limits(struct cgroup_mgr *m, unsigned slot,
                        const struct cgroup_limits *l)
{
    struct cg_slot *s = &m->slots[slot];
    bool same = s->applied_valid && s->applied.memory_bytes == l->memory_bytes &&
                s->applied.pids_max == l->pids_max &&
                s->applied.cpu_quota_pct == l->cpu_quota_pct;
    if (same)
        return 0;
    s->applied_valid = false;
    int r = set_limits(m, slot, l);
    if (r < 0)
        return r;
    s->applied = *l;
    s->applied_valid = true;
    return 0;
}

int cgroup_slot_prepare(struct cgroup_mgr *m, unsigned slot,
                        const struct cgroup_limits *l,
                        int ret_fds[CGROUP_MAX_FDS], unsigned *ret_n)
{
    unsigned need = (l->memory_bytes ? CGROUP_MEMORY : 0) |
                    (l->pids_max ? CGROUP_PIDS : 0) |
                    (l->cpu_quota_pct ? CGROUP_CPU : 0);
    int fds[CGROUP_MAX_FDS], peak_fd = -1;
    int r;
    if (slot >= m->n_slots)
        return -EINVAL;
    if (need & ~m->controllers)
        return -EOPNOTSUPP;
    struct cg_slot *s = &m->slots[slot];
    if ((r = slot_busy(m, slot)) < 0)
        return r;
    close_keep_errno(s->peak_fd);
    s->peak_fd = -1;
    s->prepared = false;
    if (m->peak == PEAK_RECREATE) {
        s->applied_valid = false;
        if ((r = slot_recreate(m, slot)) < 0)
            return r;
    }
    /* Most jobs have the same limits as the last one in the slot: the
     * writes are skipped then. */
    if ((r = apply_limits(m, slot, l)) < 0 ||
        (r = slot_start_counting(m, slot, &peak_fd)) < 0)
        return r;
    if ((r = open_procs_fds(m, slot, fds)) < 0) {
        close_keep_errno(peak_fd);
        return r;
    }
    s->peak_fd = peak_fd;
    s->prepared = true;
    memcpy(ret_fds, fds, m->n_hier * sizeof(fds[0]));
    *ret_n = m->n_hier;
    return 0;
}

int cgroup_slot_relimit(struct cgroup_mgr *m, unsigned slot,
                        const struct cgroup_limits *l)
{
    unsigned need = (l->memory_bytes ? CGROUP_MEMORY : 0) |
                    (l->pids_max ? CGROUP_PIDS : 0) |
                    (l->cpu_quota_pct ? CGROUP_CPU : 0);
    int peak_fd = -1, r;
    if (slot >= m->n_slots || !m->slots[slot].prepared)
        return -EINVAL;
    if (need & ~m->controllers)
        return -EOPNOTSUPP;
    struct cg_slot *s = &m->slots[slot];
    if ((r = apply_limits(m, slot, l)) < 0 ||
        (r = slot_start_counting(m, slot, &peak_fd)) < 0)
        return r;
    if (peak_fd >= 0) {
        close_keep_errno(s->peak_fd);
        s->peak_fd = peak_fd;
    }
    return 0;
}

int cgroup_slot_collect(struct cgroup_mgr *m, unsigned slot, struct cgroup_usage *ret)
{
    struct cgroup_usage u = {0};
    uint64_t kills, cpu;
    int r;
    if (slot >= m->n_slots || !m->slots[slot].prepared)
        return -EINVAL;
    struct cg_slot *s = &m->slots[slot];
    if ((r = read_peak_kb(m, slot, s->peak_fd, &u.memory_peak_kb)) < 0 ||
        (r = read_oom_kills(m, slot, &kills)) < 0 || (r = read_cpu_usec(m, slot, &cpu)) < 0)
        return r;
    u.oom_killed = kills > s->oom_kills;
    u.cpu_usec = cpu >= s->cpu_usec ? cpu - s->cpu_usec : 0;
    close_keep_errno(s->peak_fd);
    s->peak_fd = -1;
    s->prepared = false;
    *ret = u;
    return 0;
}

int cgroup_slot_kill(struct cgroup_mgr *m, unsigned slot)
{
    char dirs[CTRL_N][PATH_MAX];
    char *list[CTRL_N];
    int r;
    if (slot >= m->n_slots)
        return -EINVAL;
    for (unsigned h = 0; h < m->n_hier; h++) {
        if ((r = slot_path(m, h, slot, NULL, dirs[h])) < 0)
            return r;
        list[h] = dirs[h];
    }
    if (m->version == 2) {
        char path[PATH_MAX];
        if ((r = slot_path(m, 0, slot, "cgroup.kill", path)) < 0)
            return r;
        r = file_write_string(path, "1");
        if (r != -ENOENT) /* cgroup.kill is Linux >= 5.14 */
            return r;
    }
    return kill_procs(list, m->n_hier);
}

/* v2: leave the supervisor leaf for the root again, undoing the
 * subtree_control changes that made the leaf necessary. */
static int v2_leave(struct cgroup_mgr *m)
{
    char procs[PATH_MAX];
    int r = subtree_write(m->hier[0], m->controllers, '-');
    if (r >= 0)
        r = subtree_write(m->root, m->enabled_in_root, '-');
    if (r >= 0)
        r = path_fmt(procs, "%s/cgroup.procs", m->root);
    if (r >= 0)
        r = file_write_string(procs, "0");
    return r;
}

/* The pid in "sandq-<host>_<pid>", or 0 when name is not of that form. */
static pid_t orphan_pid(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    uint64_t pid;
    if (strncmp(name, prefix, n) != 0 ||
        parse_u64(name + n, strlen(name + n), 2, INT32_MAX, &pid) < 0)
        return 0;
    return (pid_t)pid;
}

/* Orphans in the directory holding this worker's tree of hierarchy h. */
static int reap_orphans_in(struct cgroup_mgr *m, unsigned h, const char *prefix)
{
    char parent[PATH_MAX], dir[PATH_MAX];
    int r = path_fmt(parent, "%s", m->hier[h]), removed = 0;
    char *slash = r < 0 ? NULL : strrchr(parent, '/');
    if (!slash)
        return r < 0 ? r : -EINVAL;
    *slash = '\0';
    DIR *d = opendir(parent);
    if (!d)
        return -errno;
    for (struct dirent *e; (e = readdir(d));) {
        pid_t pid = orphan_pid(e->d_name, prefix);
        if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        if (path_fmt(dir, "%s/%s", parent, e->d_name) >= 0 &&
            remove_tree(dir, NULL) >= 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int cgroup_mgr_reap_orphans(struct cgroup_mgr *m, const char *host)
{
    _cleanup_free_ char *base = sanitised_name(host);
    _cleanup_free_ char *prefix = NULL;
    int total = 0;
    if (!base || asprintf(&prefix, "%s_", base) < 0)
        return -ENOMEM;
    for (unsigned h = 0; h < m->n_hier; h++) {
        int r = reap_orphans_in(m, h, prefix);
        if (r < 0)
            return r;
        total = r > total ? r : total; /* one tree per hierarchy */
    }
    return total;
}

void cgroup_mgr_free(struct cgroup_mgr *m)
{
    int saved = errno;
    if (!m)
        return;
    for (unsigned s = 0; m->slots && s < m->n_slots; s++) {
        close_keep_errno(m->slots[s].peak_fd);
        slot_cache_drop(&m->slots[s]);
    }
    for (unsigned h = 0; h < m->n_hier; h++) {
        char leaf[PATH_MAX];
        bool keep = m->version == 2 && m->moved_self &&
                    path_fmt(leaf, "%s/supervisor", m->hier[h]) >= 0;
        /* Best effort by contract: what cannot be removed stays. */
        if (remove_tree(m->hier[h], keep ? leaf : NULL) >= 0 && keep &&
            v2_leave(m) >= 0 && rmdir_retry(leaf) >= 0)
            (void)rmdir_retry(m->hier[h]);
    }
    for (unsigned h = 0; h < CTRL_N; h++)
        free(m->hier[h]);
    free(m->root);
    free(m->name);
    free(m->description);
    free(m->slots);
    free(m);
    errno = saved;
}
