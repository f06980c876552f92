/* probe.c - the self-test's probes (see probe.h).
 *
 * Everything here runs under the job's seccomp filter, in a process with
 * fds 0 and 1 only and RLIMIT_NOFILE 3: no stdio, no allocation beyond
 * the outcome buffer, every result formatted into a fixed buffer. */
#include "probe.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "namespaces.h"
#include "parse.h"
#include "util.h"

#define PROBE_RESULT_MAX 2048
#define PROBE_MIB (1u << 20)
#define PROBE_LIST_MAX 16 /* pids or names listed in a result */

/* ---- the result: a JSON object in a fixed buffer ------------------------- */

struct jtext {
    char buf[PROBE_RESULT_MAX];
    size_t len;
    bool truncated;
};

__attribute__((format(printf, 2, 3)))
static void jt_raw(struct jtext *j, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(j->buf) - j->len;
    va_start(ap, fmt);
    int n = vsnprintf(j->buf + j->len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) {
        j->truncated = true;
        return;
    }
    j->len += (size_t)n;
}

/* `"key": ` after "{" or ", ". */
static void jt_key(struct jtext *j, const char *key)
{
    jt_raw(j, "%s\"%s\": ", j->len == 0 ? "{" : ", ", key);
}

/* A JSON string of arbitrary bytes: controls, quotes, backslashes and
 * bytes >= 0x80 escaped as \u00XX, so the text is always valid. */
static void jt_quoted(struct jtext *j, const char *s, size_t len)
{
    jt_raw(j, "\"");
    for (size_t i = 0; i < len && !j->truncated; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            jt_raw(j, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            jt_raw(j, "\\u%04x", c);
        else
            jt_raw(j, "%c", c);
    }
    jt_raw(j, "\"");
}

static void jt_str(struct jtext *j, const char *key, const char *value)
{
    jt_key(j, key);
    jt_quoted(j, value, strlen(value));
}

static void jt_int(struct jtext *j, const char *key, long long value)
{
    jt_key(j, key);
    jt_raw(j, "%lld", value);
}

/* "ok" for 0, else the errno's name ("ENOENT"). */
static void jt_errno(struct jtext *j, const char *key, int err)
{
    char other[16];
    const char *name = err == 0 ? "ok" : strerrorname_np(err);
    if (!name) {
        snprintf(other, sizeof(other), "E%d", err);
        name = other;
    }
    jt_str(j, key, name);
}

static void jt_bool(struct jtext *j, const char *key, bool value)
{
    jt_key(j, key);
    jt_raw(j, "%s", value ? "true" : "false");
}

/* ---- probes ---------------------------------------------------------------- */

/* Each probe fills j; arg is the text after "name:" (NULL when absent).
 * -EINVAL for an argument it cannot use. */
typedef int (*probe_fn)(const char *arg, const struct probe_env *env, struct jtext *j);

static int probe_syscall(const char *arg, const struct probe_env *env, struct jtext *j)
{
    struct utsname u;
    int err = uname(&u) < 0 ? errno : 0;
    jt_str(j, "syscall", "uname");
    jt_bool(j, "allowed", true);
    jt_errno(j, "result", err);
    if (err == 0) {
        jt_str(j, "nodename", u.nodename);
        jt_str(j, "domainname", u.domainname);
    }
    return 0;
}

#if defined(__x86_64__)
/* getpid through the i386 entry point: the filter sees AUDIT_ARCH_I386. */
static long probe_int80_getpid(void)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "cc");
    return ret;
}
#endif

/* The foreign ABIs: the filter kills the process (SIGSYS, no 'V' frame).
 * Reaching the result means the call got through. */
static int probe_foreign_abi(const char *arg, const struct probe_env *env, struct jtext *j)
{
#if defined(__x86_64__)
    long ret;
    if (strcmp(arg, "i386") == 0)
        ret = probe_int80_getpid();
    else if (strcmp(arg, "x32") == 0)
        ret = syscall(0x40000000L | 39L) < 0 ? -errno : 0; /* x32 getpid */
    else
        return -EINVAL;
    jt_str(j, "abi", arg);
    jt_bool(j, "allowed", true);
    if (ret < 0)
        jt_errno(j, "result", (int)-ret);
    else
        jt_int(j, "result", ret);
    return 0;
#else
    return -EINVAL;
#endif
}

/* Count (and name the first few of) the entries of an open directory. */
static int probe_list_dir(int fd, struct jtext *j)
{
    char names[PROBE_LIST_MAX][64];
    size_t n_names = 0;
    long long count = 0;
    union {
        char buf[4096];
        struct dirent64 align;
    } u;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, u.buf, sizeof(u.buf));
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        for (long pos = 0; pos < n;) {
            struct dirent64 *d = (struct dirent64 *)(u.buf + pos);
            pos += d->d_reclen;
            if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
                continue;
            if (n_names < PROBE_LIST_MAX) {
                size_t k = strnlen(d->d_name, sizeof(names[0]) - 1);
                memcpy(names[n_names], d->d_name, k);
                names[n_names++][k] = '\0';
            }
            count++;
        }
    }
    jt_int(j, "root_entries", count);
    jt_key(j, "names");
    jt_raw(j, "[");
    for (size_t i = 0; i < n_names; i++) {
        jt_raw(j, i ? ", " : "");
        jt_quoted(j, names[i], strlen(names[i]));
    }
    jt_raw(j, "]");
    return 0;
}

/* "fs": what "/" holds; "fs:PATH": can PATH be read. */
static int probe_fs(const char *arg, const struct probe_env *env, struct jtext *j)
{
    char data[256];
    const char *path = arg ? arg : "/";
    int flags = O_RDONLY | O_CLOEXEC | (arg ? 0 : O_DIRECTORY);
    _cleanup_close_ int fd = open(path, flags);
    jt_str(j, "path", path);
    jt_errno(j, "open", fd < 0 ? errno : 0);
    if (fd < 0)
        return 0;
    if (!arg) {
        int r = probe_list_dir(fd, j);
        if (r < 0)
            jt_errno(j, "getdents", -r);
        return 0;
    }
    ssize_t n = read(fd, data, sizeof(data));
    jt_errno(j, "read", n < 0 ? errno : 0);
    if (n >= 0)
        jt_int(j, "read_bytes", n);
    return 0;
}

/* Could PATH be changed? Opening for writing is the breach; nothing is
 * written (RLIMIT_FSIZE 0 would turn a write into SIGXFSZ anyway). */
static int probe_write(const char *arg, const struct probe_env *env, struct jtext *j)
{
    if (!arg || !*arg)
        return -EINVAL;
    _cleanup_close_ int fd = open(arg, O_WRONLY | O_CLOEXEC);
    jt_str(j, "path", arg);
    jt_errno(j, "open_write", fd < 0 ? errno : 0);
    return 0;
}

static int probe_net(const char *arg, const struct probe_env *env, struct jtext *j)
{
    unsigned port;
    if (!arg || parse_uint(arg, 1, 65535, &port) < 0)
        return -EINVAL;
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    jt_errno(j, "socket", fd < 0 ? errno : 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    jt_int(j, "port", port);
    jt_errno(j, "connect", r < 0 ? errno : 0);
    return 0;
}

/* Which pids exist for us: kill(pid, 0) is 0 or EPERM for a visible
 * process, ESRCH otherwise. "proc:PID" asks about one pid. */
static int probe_proc(const char *arg, const struct probe_env *env, struct jtext *j)
{
    if (arg) {
        unsigned pid;
        if (parse_uint(arg, 1, PROBE_PID_MAX, &pid) < 0)
            return -EINVAL;
        jt_int(j, "pid", pid);
        jt_errno(j, "kill", kill((pid_t)pid, 0) < 0 ? errno : 0);
        return 0;
    }
    long long visible = 0;
    pid_t listed[PROBE_LIST_MAX];
    size_t n_listed = 0;
    for (pid_t pid = 1; pid <= PROBE_PID_MAX; pid++) {
        if (kill(pid, 0) < 0 && errno != EPERM)
            continue;
        if (n_listed < PROBE_LIST_MAX)
            listed[n_listed++] = pid;
        visible++;
    }
    jt_int(j, "self", getpid());
    jt_int(j, "visible", visible);
    jt_key(j, "pids");
    jt_raw(j, "[");
    for (size_t i = 0; i < n_listed; i++)
        jt_raw(j, "%s%d", i ? ", " : "", (int)listed[i]);
    jt_raw(j, "]");
    return 0;
}

static int probe_ipc(const char *arg, const struct probe_env *env, struct jtext *j)
{
    unsigned key;
    if (!arg || parse_uint(arg, 1, 0x7fffffff, &key) < 0)
        return -EINVAL;
    int id = msgget((key_t)key, 0);
    jt_int(j, "key", key);
    jt_errno(j, "msgget", id < 0 ? errno : 0);
    return 0;
}

/* Allocate and touch 1 MiB at a time until refused; the cap keeps a
 * sandbox without a memory layer from taking the host down with it. */
static int probe_memory(const char *arg, const struct probe_env *env, struct jtext *j)
{
    uint64_t cap = (uint64_t)env->memory_limit_mb * 2 + 64, mib = 0;
    int err = 0;
    while (mib < cap) {
        void *p = mmap(NULL, PROBE_MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            err = errno;
            break;
        }
        memset(p, 0x5a, PROBE_MIB);
        mib++;
    }
    jt_int(j, "allocated_mib", (long long)mib);
    jt_int(j, "limit_mib", env->memory_limit_mb);
    if (err)
        jt_errno(j, "stopped_by", err);
    else
        jt_str(j, "stopped_by", "cap");
    return 0;
}

/* A raw clone() as fork(): no atfork handlers, and the new process only
 * leaves. Waited for when it exists (nothing else would reap it). */
static int probe_fork(const char *arg, const struct probe_env *env, struct jtext *j)
{
    long pid = syscall(SYS_clone, (long)SIGCHLD, 0L, NULL, NULL, 0L);
    if (pid == 0)
        child_exit(0);
    jt_errno(j, "fork", pid < 0 ? errno : 0);
    if (pid > 0) {
        jt_int(j, "pid", pid);
        (void)waitpid((pid_t)pid, NULL, 0);
    }
    return 0;
}

static int probe_caps(const char *arg, const struct probe_env *env, struct jtext *j)
{
    uint64_t eff, prm, inh;
    int r = ns_get_caps(&eff, &prm, &inh);
    jt_errno(j, "capget", r < 0 ? -r : 0);
    if (r < 0)
        return 0;
    char hex[24];
    const struct {
        const char *name;
        uint64_t set;
    } sets[] = {{"CapEff", eff}, {"CapPrm", prm}, {"CapInh", inh}};
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)sets[i].set);
        jt_str(j, sets[i].name, hex);
    }
    long long bounding = 0;
    for (unsigned long cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        bounding += prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1;
    jt_int(j, "bounding", bounding);
    return 0;
}

/* One id map file, whitespace collapsed ("0 65534 1"), or its errno. */
static void probe_id_map(struct jtext *j, const char *key, const char *path)
{
    char data[256], clean[256];
    size_t n_clean = 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, data, sizeof(data) - 1);
    if (n < 0) {
        jt_errno(j, key, errno);
        return;
    }
    for (ssize_t i = 0; i < n && n_clean < sizeof(clean) - 1; i++) {
        bool space = data[i] == ' ' || data[i] == '\n' || data[i] == '\t';
        if (space && (n_clean == 0 || clean[n_clean - 1] == ' '))
            continue;
        clean[n_clean++] = space ? ' ' : data[i];
    }
    while (n_clean > 0 && clean[n_clean - 1] == ' ')
        n_clean--;
    jt_key(j, key);
    jt_quoted(j, clean, n_clean);
}

/* The ids, and how the job pipe's owner (the supervisor's uid) looks from
 * here: 65534 (the overflow uid) when that uid is not mapped into the
 * job's user namespace, which shows the mapping even without /proc. */
static int probe_uid(const char *arg, const struct probe_env *env, struct jtext *j)
{
    struct stat st;
    jt_int(j, "uid", getuid());
    jt_int(j, "euid", geteuid());
    jt_int(j, "gid", getgid());
    jt_int(j, "egid", getegid());
    if (fstat(STDIN_FILENO, &st) == 0)
        jt_int(j, "job_pipe_owner", st.st_uid);
    else
        jt_errno(j, "job_pipe_owner", errno);
    probe_id_map(j, "uid_map", "/proc/self/uid_map");
    probe_id_map(j, "gid_map", "/proc/self/gid_map");
    return 0;
}

static const struct {
    const char *name;
    probe_fn fn;
    bool arg; /* takes ":ARG" (optional for fs and proc) */
} probes[] = {
    {"syscall", probe_syscall, false}, {"fs", probe_fs, true},
    {"write", probe_write, true},      {"net", probe_net, true},
    {"proc", probe_proc, true},        {"ipc", probe_ipc, true},
    {"memory", probe_memory, false},   {"fork", probe_fork, false},
    {"caps", probe_caps, false},       {"uid", probe_uid, false},
};

/* The probe for "name" or "name:arg" ("syscall:ABI" is its own probe). */
static probe_fn probe_lookup(const char *spec, const char **ret_arg)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    *ret_arg = colon ? colon + 1 : NULL;
    if (colon && n == 7 && memcmp(spec, "syscall", 7) == 0)
        return probe_foreign_abi;
    for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
        if (strlen(probes[i].name) == n && memcmp(spec, probes[i].name, n) == 0)
            return colon && !probes[i].arg ? NULL : probes[i].fn;
    return NULL;
}

static int probe_invalid(struct buf *out, const char *why)
{
    return buf_append_outcome(out, "invalid", "InvalidJob", why);
}

int probe_run(const char *spec, size_t len, const struct probe_env *env, struct buf *out)
{
    static const char status[] = "succeeded";
    char text[PROBE_SPEC_MAX + 1];
    const char *arg;
    struct jtext j = {.len = 0};
    if (len == 0 || len > PROBE_SPEC_MAX || memchr(spec, '\0', len))
        return probe_invalid(out, "the probe name is empty, too long or has a NUL byte");
    memcpy(text, spec, len);
    text[len] = '\0';
    probe_fn fn = probe_lookup(text, &arg);
    if (!fn || fn(arg, env, &j) < 0)
        return probe_invalid(out, "unknown probe or bad probe argument");
    jt_str(&j, "probe", text);
    jt_raw(&j, "}");
    if (j.truncated)
        return probe_invalid(out, "the probe's result is too long");
    int r = buf_append_frame(out, FRAME_OUT_STATUS, status, sizeof(status) - 1);
    return r == 0 ? buf_append_frame(out, FRAME_OUT_RESULT, j.buf, j.len) : r;
}
