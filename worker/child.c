/* child.c - the per-job child (see child.h). */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "namespaces.h"
#include "probe.h"
#include "pyrun.h"
#include "seccomp_policy.h"
#include "zproto.h"

/* The whole job must fit in one frame's worth of memory; the supervisor's
 * own limits are far lower, this only bounds a broken writer. */
#define CHILD_MAX_JOB ((size_t)FRAME_MAX_PAYLOAD)
#define CHILD_READ_CHUNK 65536

/* The job's whole environment. TZ names the zone file the zygote already
 * loaded (runtime init warms time.localtime): with TZ unset, glibc stats
 * /etc/localtime again on every tzset() (time.strftime, time.mktime),
 * which the filter would report as a violation; with TZ set to the same
 * file, glibc sees no change and touches nothing. */
static char *job_environment[] = {"TZ=:/etc/localtime", NULL};

/* Setup timestamps (CLOCK_MONOTONIC) for the 'T' frame. */
enum child_mark { MARK_START, MARK_CGROUP, MARK_CAPS_BEFORE, MARK_CAPS, MARK_READY, MARK_COUNT };

/* The fd 'E' frames go to (the result pipe, whichever number it has
 * now), and the setup's timestamps. */
struct child {
    const struct child_params *p;
    int result_fd;
    struct timespec marks[MARK_COUNT];
};

/* A job as read from the pipe: Python fields, or a probe. */
struct child_job {
    struct pyrun_job py;
    struct pyrun_slice probe;
};

/* See child.h: the raw exit_group under ASan keeps LeakSanitizer (and
 * its refused system calls) out of a sandboxed child. */
_Noreturn void child_exit(int code)
{
#ifdef __SANITIZE_ADDRESS__
    syscall(SYS_exit_group, code);
#endif
    _exit(code);
}

/* Decimal text of v into buf (at least 21 bytes); returns the length.
 * Async-signal-safe: the SIGSYS handler uses it. */
static size_t fmt_int(char *buf, long long v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    return len;
}

/* write() until done; async-signal-safe. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One small frame in one write (atomic on a pipe); async-signal-safe. */
static void write_small_frame(int fd, uint8_t tag, const char *payload, size_t len)
{
    char frame[FRAME_HEADER_SIZE + 64];
    if (len > sizeof(frame) - FRAME_HEADER_SIZE)
        len = sizeof(frame) - FRAME_HEADER_SIZE;
    frame_header((uint8_t *)frame, tag, (uint32_t)len);
    memcpy(frame + FRAME_HEADER_SIZE, payload, len);
    (void)write_all(fd, frame, FRAME_HEADER_SIZE + len);
}

/* A setup step failed: say which and why, and never run the job. */
_Noreturn static void child_fail(const struct child *c, int step, int err)
{
    char payload[64];
    const char *name = zstep_name(step);
    size_t n = strlen(name);
    memcpy(payload, name, n);
    payload[n++] = ' ';
    n += fmt_int(payload + n, err);
    write_small_frame(c->result_fd, FRAME_OUT_SANDBOX_ERROR, payload, n);
    child_exit(ZEXIT_SANDBOX);
}

static void child_step(const struct child *c, int step, int ret)
{
    if (ret < 0)
        child_fail(c, step, -ret);
}

/* clock_gettime is in the vDSO: no system call, nothing to check. */
static void child_mark(struct child *c, enum child_mark m)
{
    (void)clock_gettime(CLOCK_MONOTONIC, &c->marks[m]);
}

static long long elapsed_us(const struct timespec *from, const struct timespec *to)
{
    return (long long)(to->tv_sec - from->tv_sec) * 1000000 +
           (to->tv_nsec - from->tv_nsec) / 1000;
}

/* Die with the zygote, and make sure it did not die already (the signal
 * is only armed from now on). */
static int child_parent_death(const struct child *c)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return -errno;
    return getppid() == c->p->zygote_pid ? 0 : -ESRCH;
}

/* Join the slot's cgroups: "0" written to a cgroup.procs file moves the
 * writer, and the supervisor opened the files (the kernel checks the
 * opener's credentials), so this needs no privilege here. First, so that
 * everything after (including the rest of the setup) is accounted and
 * limited there. Each fd is closed right after; with the cgroup layer
 * disabled they are only closed. */
static int child_join_cgroups(const struct child *c)
{
    for (size_t i = 0; i < c->p->n_cgroup_fds; i++) {
        int fd = c->p->cgroup_fds[i];
        ssize_t n = 1;
        if (c->p->cgroup)
            do
                n = write(fd, "0", 1);
            while (n < 0 && errno == EINTR);
        int err = n < 0 ? errno : n == 1 ? 0 : EIO;
        if (close(fd) < 0 && err == 0)
            err = errno;
        if (err)
            return -err;
    }
    return 0;
}

/* Default dispositions and an empty mask: the zygote blocks SIGCHLD, and
 * SIGXCPU must kill at the CPU limit. 32/33 belong to glibc (EINVAL). */
static int child_reset_signals(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigset_t none;
    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (sigaction(sig, &sa, NULL) < 0 && errno != EINVAL)
            return -errno;
    }
    if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        return -errno;
    return 0;
}

/* Job pipe to 0, result pipe to 1, nothing else open (the control socket
 * included), no environment but TZ. Both pipes are first copied above 2
 * so neither dup2() can clobber the other, whatever numbers they arrived
 * with. */
static int child_setup_fds(struct child *c)
{
    int job = fcntl(c->p->job_fd, F_DUPFD_CLOEXEC, 3);
    if (job < 0)
        return -errno;
    int result = fcntl(c->result_fd, F_DUPFD_CLOEXEC, 3);
    if (result < 0)
        return -errno;
    c->result_fd = result;
    if (dup2(job, 0) < 0 || dup2(result, 1) < 0)
        return -errno;
    c->result_fd = 1;
    if (close_range(2, ~0U, 0) < 0)
        return -errno;
    environ = job_environment;
    return 0;
}

static int set_limit(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

/* RLIMIT_CPU in whole seconds, rounded up, never 0 (the kernel would
 * read 0 as one second anyway); the hard limit SIGKILLs a job that
 * blocks SIGXCPU. */
static int child_cpu_limit(uint32_t cpu_limit_ms)
{
    rlim_t soft = ((rlim_t)cpu_limit_ms + 999) / 1000;
    if (soft == 0)
        soft = 1;
    return set_limit(RLIMIT_CPU, soft, soft + 1);
}

/* The address space the zygote already had plus the job's budget. */
static int child_memory_limit(const struct child_params *p, uint32_t limit_mb)
{
    if (!p->memory_rlimit)
        return 0;
    rlim_t base = (rlim_t)p->base_vm_kb * 1024;
    rlim_t budget = (rlim_t)limit_mb << 20;
    if (base / 1024 != p->base_vm_kb || base > RLIM_INFINITY - 1 - budget)
        return -EOVERFLOW;
    return set_limit(RLIMIT_AS, base + budget, base + budget);
}

/* No core dumps, no files, no fds beyond the two pipes (and one spare),
 * no locked memory or message queues, no second process (RLIMIT_NPROC
 * counts the real uid's processes, this one included; the kernel exempts
 * host root, so it bites when the user namespace maps the job to an
 * unprivileged id); CPU and memory per job. */
static int child_set_rlimits(const struct child *c)
{
    int r;
    if (!c->p->rlimits)
        return 0;
    if ((r = set_limit(RLIMIT_CORE, 0, 0)) < 0 ||
        (r = set_limit(RLIMIT_NPROC, 1, 1)) < 0 ||
        (r = set_limit(RLIMIT_FSIZE, 0, 0)) < 0 ||
        (r = set_limit(RLIMIT_NOFILE, 3, 3)) < 0 ||
        (r = set_limit(RLIMIT_MEMLOCK, 0, 0)) < 0 ||
        (r = set_limit(RLIMIT_MSGQUEUE, 0, 0)) < 0)
        return r;
    if (c->p->defer_limits)
        return 0; /* child_await_limits() sets CPU and memory */
    if ((r = child_cpu_limit(c->p->cpu_limit_ms)) < 0)
        return r;
    return child_memory_limit(c->p, c->p->memory_limit_mb);
}

/* A pre-forked child waits here, set up but for its CPU and memory limits
 * and seccomp, until the supervisor gives it a job: the struct zlimits
 * that leads the job pipe. EOF first means no job will come. */
static int child_await_limits(const struct child *c)
{
    struct zlimits l;
    size_t got = 0;
    if (!c->p->defer_limits)
        return 0;
    while (got < sizeof(l)) {
        ssize_t n = read(STDIN_FILENO, (char *)&l + got, sizeof(l) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            child_exit(ZEXIT_OK); /* abandoned while idle */
        got += (size_t)n;
    }
    if (!c->p->rlimits)
        return 0;
    int r = child_cpu_limit(l.cpu_limit_ms);
    return r < 0 ? r : child_memory_limit(c->p, l.memory_limit_mb);
}

static int prctl_set(int option, unsigned long value)
{
    return prctl(option, value, 0, 0, 0) < 0 ? -errno : 0;
}

/* seccomp's SIGSYS: report "<syscall> <arch>" as a 'V' frame and leave.
 * Only async-signal-safe code; fd 1 is the result pipe by now. */
static void child_on_sigsys(int sig, siginfo_t *si, void *ucontext)
{
    char payload[48];
    size_t n = fmt_int(payload, si->si_syscall);
    payload[n++] = ' ';
    n += fmt_int(payload + n, (long long)si->si_arch);
    write_small_frame(STDOUT_FILENO, FRAME_OUT_VIOLATION, payload, n);
    child_exit(ZEXIT_VIOLATION);
}

/* The job cannot change it later: rt_sigaction is not in the filter, and
 * the kernel unblocks a forced SIGSYS (or kills when it is ignored). */
static int child_trap_sigsys(void)
{
    struct sigaction sa = {.sa_sigaction = child_on_sigsys, .sa_flags = SA_SIGINFO};
    if (sigfillset(&sa.sa_mask) < 0 || sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    return 0;
}

/* The pyrun field a job tag fills, or -1 for an unknown tag. */
static int child_job_field(uint8_t tag)
{
    static const struct {
        uint8_t tag;
        enum pyrun_field field;
    } map[] = {
        {FRAME_JOB_CODE, PYRUN_CODE},     {FRAME_JOB_FUNCTION, PYRUN_FUNCTION},
        {FRAME_JOB_ARGS, PYRUN_ARGS},     {FRAME_JOB_KWARGS, PYRUN_KWARGS},
        {FRAME_JOB_CALLS, PYRUN_CALLS},   {FRAME_JOB_OUTPUT_CAP, PYRUN_OUTPUT_CAP},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (map[i].tag == tag)
            return (int)map[i].field;
    return -1;
}

/* Where a job frame goes: a Python field or the probe; NULL for an
 * unknown tag. */
static struct pyrun_slice *child_job_slot(struct child_job *job, uint8_t tag)
{
    if (tag == FRAME_JOB_PROBE)
        return &job->probe;
    int field = child_job_field(tag);
    return field < 0 ? NULL : &job->py.field[field];
}

/* Split the job pipe's bytes into fields. NULL when they form exactly one
 * complete job; otherwise the reason it is malformed. */
static const char *child_parse_job(const struct buf *in, struct child_job *job)
{
    size_t pos = 0;
    struct frame f;
    memset(job, 0, sizeof(*job));
    for (;;) {
        int r = frame_next(in->data, in->len, &pos, FRAME_MAX_PAYLOAD, &f);
        if (r < 0)
            return "a job frame is larger than the frame limit";
        if (r == 0)
            return "the job ended before its end frame";
        if (f.tag == FRAME_JOB_END)
            return pos == in->len ? NULL : "data follows the job's end frame";
        struct pyrun_slice *slot = child_job_slot(job, f.tag);
        if (!slot)
            return "the job has a frame with an unknown tag";
        if (slot->data)
            return "the job repeats a field";
        *slot = (struct pyrun_slice){.data = f.data, .len = f.len};
    }
}

/* Everything on fd 0 until the supervisor closes it. -E2BIG past the cap,
 * -ENOMEM, or the read error. */
static int child_read_job(struct buf *in)
{
    char chunk[CHILD_READ_CHUNK];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        if ((size_t)n > CHILD_MAX_JOB - in->len)
            return -E2BIG;
        int r = buf_append(in, chunk, (size_t)n);
        if (r < 0)
            return r;
    }
}

/* The outcome of a job the child could not even decode. */
static int child_invalid(struct buf *out, const char *why)
{
    return buf_append_outcome(out, "invalid", "InvalidJob", why);
}

/* Run a parsed job: its probe when it has one (C code in place of
 * Python, see probe.h), else the Python job. */
static int child_run_job(const struct child *c, const struct child_job *job, struct buf *out)
{
    if (job->probe.data) {
        struct probe_env env = {.memory_limit_mb = c->p->memory_limit_mb};
        return probe_run(job->probe.data, job->probe.len, &env, out);
    }
    return pyrun_run_job(&job->py, out);
}

/* Read, run and answer the job into out (without the end frame). */
static int child_outcome(const struct child *c, struct buf *out)
{
    struct buf in = {0};
    struct child_job job;
    int r = child_read_job(&in);
    if (r == -E2BIG)
        return child_invalid(out, "the job is larger than the frame limit");
    if (r < 0)
        return r;
    const char *problem = child_parse_job(&in, &job);
    r = problem ? child_invalid(out, problem) : child_run_job(c, &job, out);
    buf_release(&in);
    return r;
}

/* The 'T' frame of the setup (see child.h). */
static int child_timings(const struct child *c, struct buf *out)
{
    char text[128];
    const struct timespec *m = c->marks;
    int n = snprintf(text, sizeof(text), "fork=%lld cgroup=%lld caps=%lld setup=%lld",
                     elapsed_us(&c->p->forked_at, &m[MARK_START]),
                     elapsed_us(&m[MARK_START], &m[MARK_CGROUP]),
                     elapsed_us(&m[MARK_CAPS_BEFORE], &m[MARK_CAPS]),
                     elapsed_us(&m[MARK_START], &m[MARK_READY]));
    if (n < 0 || (size_t)n >= sizeof(text))
        return -EIO;
    return buf_append_frame(out, FRAME_OUT_TIMING, text, (size_t)n);
}

/* The last step, inside the sandbox. Exit codes per enum zexit. */
_Noreturn static void child_serve_job(const struct child *c)
{
    struct buf out = {0};
    int r = child_timings(c, &out);
    if (r == 0)
        r = child_outcome(c, &out);
    if (r == 0)
        r = buf_append_frame(&out, FRAME_OUT_END, NULL, 0);
    if (r == -ENOMEM)
        child_exit(ZEXIT_NOMEM);
    if (r < 0 || write_all(STDOUT_FILENO, out.data, out.len) < 0)
        child_exit(ZEXIT_INTERNAL);
    child_exit(ZEXIT_OK);
}

static int child_drop_caps(const struct child *c)
{
    return c->p->caps ? ns_drop_caps() : 0;
}

static int child_seccomp(const struct child *c)
{
    return c->p->seccomp ? seccomp_policy_load(c->p->filter) : 0;
}

_Noreturn void child_run(const struct child_params *params)
{
    struct child c = {.p = params, .result_fd = params->result_fd};

    child_mark(&c, MARK_START);
    child_step(&c, ZSTEP_PDEATHSIG, child_parent_death(&c));
    child_step(&c, ZSTEP_CGROUP, child_join_cgroups(&c));
    child_mark(&c, MARK_CGROUP);
    child_step(&c, ZSTEP_SIGNALS, child_reset_signals());
    child_step(&c, ZSTEP_FDS, child_setup_fds(&c));
    child_step(&c, ZSTEP_RLIMITS, child_set_rlimits(&c));
    child_mark(&c, MARK_CAPS_BEFORE);
    child_step(&c, ZSTEP_CAPS, child_drop_caps(&c));
    child_mark(&c, MARK_CAPS);
    child_step(&c, ZSTEP_NO_NEW_PRIVS, prctl_set(PR_SET_NO_NEW_PRIVS, 1));
    child_step(&c, ZSTEP_DUMPABLE, prctl_set(PR_SET_DUMPABLE, 0));
    child_step(&c, ZSTEP_SIGNALS, child_trap_sigsys());
    child_step(&c, ZSTEP_PYTHON, pyrun_after_fork_child());
    child_step(&c, ZSTEP_RLIMITS, child_await_limits(&c));
    child_step(&c, ZSTEP_SECCOMP, child_seccomp(&c));
    child_mark(&c, MARK_READY);
    child_serve_job(&c);
}
