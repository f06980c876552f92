/* outcome.c - classify how a job ended (see outcome.h). */
#include "outcome.h"

#include "frame.h"
#include "zproto.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *const outcome_statuses[OUTCOME_N_STATUSES] = {
    "succeeded", "failed", "rejected", "invalid", "timeout", "memory_limit",
    "output_limit", "violation", "crashed", "lost", "canceled"};

/* Statuses a child may claim for itself; the rest only the supervisor sets. */
static const char *const child_statuses[] = {
    "succeeded", "failed", "rejected", "invalid", "memory_limit",
    "output_limit"};

static const char *status_lookup(const char *const *list, size_t n,
                                 const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return list[i];
    return NULL;
}

bool outcome_status_is_final(const char *status)
{
    return outcome_status_index(status) >= 0;
}

int outcome_status_index(const char *status)
{
    for (int i = 0; i < OUTCOME_N_STATUSES; i++)
        if (strcmp(outcome_statuses[i], status) == 0)
            return i;
    return -1;
}

static void text_release(struct text *t)
{
    free(t->data);
    t->data = NULL;
    t->len = 0;
}

void outcome_release(struct outcome *o)
{
    text_release(&o->result);
    text_release(&o->error_type);
    text_release(&o->error);
    text_release(&o->traceback);
    text_release(&o->stdout_text);
    o->status = NULL;
    o->stdout_truncated = false;
}

static int text_set(struct text *t, const char *data, size_t len)
{
    char *p = malloc(len + 1);
    if (!p)
        return -ENOMEM;
    memcpy(p, data, len);
    p[len] = '\0';
    free(t->data);
    t->data = p;
    t->len = len;
    return 0;
}

static int text_setv(struct text *t, const char *fmt, va_list ap)
{
    char *p = NULL;
    int n = vasprintf(&p, fmt, ap);
    if (n < 0)
        return -ENOMEM;
    free(t->data);
    t->data = p;
    t->len = (size_t)n;
    return 0;
}

int outcome_set(struct outcome *o, const char *status, const char *error_type,
                const char *fmt, ...)
{
    va_list ap;
    outcome_release(o);
    o->status = status;
    if (text_set(&o->error_type, error_type, strlen(error_type)) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    int r = text_setv(&o->error, fmt, ap);
    va_end(ap);
    return r;
}

/* The fields one child reported; pointers borrow the frame buffer. */
struct child_report {
    struct frame status, result, error_type, error, traceback, out, violation,
        sandbox_error;
    bool truncated, ended, malformed;
};

static void collect_frames(const char *buf, size_t len, struct child_report *r)
{
    size_t pos = 0;
    struct frame f;
    int k;
    while ((k = frame_next(buf, len, &pos, FRAME_MAX_PAYLOAD, &f)) == 1) {
        switch (f.tag) {
        case FRAME_OUT_STATUS: r->status = f; break;
        case FRAME_OUT_RESULT: r->result = f; break;
        case FRAME_OUT_ERROR_TYPE: r->error_type = f; break;
        case FRAME_OUT_ERROR: r->error = f; break;
        case FRAME_OUT_TRACEBACK: r->traceback = f; break;
        case FRAME_OUT_STDOUT: r->out = f; break;
        case FRAME_OUT_STDOUT_TRUNCATED: r->truncated = true; break;
        case FRAME_OUT_VIOLATION: r->violation = f; break;
        case FRAME_OUT_SANDBOX_ERROR: r->sandbox_error = f; break;
        case FRAME_OUT_END: r->ended = true; break;
        default: break; /* timings and future tags */
        }
    }
    if (k < 0 || pos != len)
        r->malformed = true;
}

/* "forbidden system call: socket" from a 'V' frame "<nr> <arch>". */
static int violation_outcome(struct outcome *o, const struct frame *v)
{
    char tmp[64];
    long nr = -1;
    unsigned long arch = 0;
    size_t n = v->len < sizeof(tmp) - 1 ? v->len : sizeof(tmp) - 1;
    memcpy(tmp, v->data, n);
    tmp[n] = '\0';
    if (sscanf(tmp, "%ld %lu", &nr, &arch) < 1 || nr < 0)
        return outcome_set(o, "violation", "SyscallViolation",
                           "forbidden system call (unidentified)");
    char *name = seccomp_syscall_resolve_num_arch(
        arch ? (uint32_t)arch : SCMP_ARCH_NATIVE, (int)nr);
    int r = outcome_set(o, "violation", "SyscallViolation",
                        "forbidden system call: %s", name ? name : tmp);
    free(name);
    return r;
}

static int sandbox_error_outcome(struct outcome *o, const struct frame *e)
{
    char step[32] = "unknown";
    int err = 0;
    char tmp[64];
    size_t n = e->len < sizeof(tmp) - 1 ? e->len : sizeof(tmp) - 1;
    memcpy(tmp, e->data, n);
    tmp[n] = '\0';
    if (sscanf(tmp, "%31s %d", step, &err) < 1)
        strcpy(step, "unknown");
    return outcome_set(o, "crashed", "SandboxError",
                       "sandbox step '%s' failed: %s; the job did not run",
                       step, err > 0 ? strerror(err) : "unknown error");
}

/* Copy the child's own outcome fields, after checking its status word. */
static int reported_outcome(struct outcome *o, const struct child_report *r)
{
    const char *status = status_lookup(
        child_statuses, sizeof(child_statuses) / sizeof(child_statuses[0]),
        r->status.data, r->status.len);
    if (!status)
        return outcome_set(o, "crashed", "InternalError",
                           "the job child reported no valid status");
    outcome_release(o);
    o->status = status;
    const struct {
        const struct frame *f;
        struct text *t;
    } copies[] = {{&r->result, &o->result},
                  {&r->error_type, &o->error_type},
                  {&r->error, &o->error},
                  {&r->traceback, &o->traceback},
                  {&r->out, &o->stdout_text}};
    for (size_t i = 0; i < sizeof(copies) / sizeof(copies[0]); i++)
        if (copies[i].f->data &&
            text_set(copies[i].t, copies[i].f->data, copies[i].f->len) < 0)
            return -ENOMEM;
    o->stdout_truncated = r->truncated;
    return 0;
}

static int signal_outcome(struct outcome *o, const struct child_end *end,
                          const struct child_report *r)
{
    int sig = WTERMSIG(end->wait_status);
    if (sig == SIGXCPU ||
        (sig == SIGKILL && end->cpu_limit_ms && end->cpu_ms >= end->cpu_limit_ms))
        return outcome_set(o, "timeout", "CpuTimeLimit",
                           "CPU time limit of %u ms reached", end->cpu_limit_ms);
    if (sig == SIGSYS)
        return r->violation.data ? violation_outcome(o, &r->violation)
                                 : outcome_set(o, "violation", "SyscallViolation",
                                               "forbidden system call (unidentified)");
    return outcome_set(o, "crashed", "Crashed",
                       "the interpreter was killed by signal %d (%s)", sig,
                       strsignal(sig));
}

static int supervisor_kill_outcome(struct outcome *o, const struct child_end *end)
{
    switch (end->reason) {
    case KILL_TIMEOUT:
        return outcome_set(o, "timeout", "TimeLimit",
                           "wall-clock limit of %u ms reached",
                           end->time_limit_ms);
    case KILL_OUTPUT:
        return outcome_set(o, "output_limit", "OutputLimit",
                           "the job produced more than %u bytes of output",
                           end->output_cap_bytes);
    case KILL_CANCELED:
        return outcome_set(o, "canceled", "Canceled",
                           "canceled while running");
    case KILL_ZYGOTE:
        return outcome_set(o, "crashed", "ZygoteLost",
                           "the worker's zygote process died during the job");
    case KILL_SHUTDOWN:
        return outcome_set(o, "crashed", "Shutdown",
                           "the worker shut down during the job");
    case KILL_NONE:
        break;
    }
    return -EINVAL;
}

int outcome_from_child(struct outcome *o, const char *frames, size_t len,
                       const struct child_end *end)
{
    struct child_report r = {0};
    collect_frames(frames, len, &r);
    bool clean_exit = end->reaped && WIFEXITED(end->wait_status) &&
                      WEXITSTATUS(end->wait_status) == ZEXIT_OK;

    if (clean_exit && r.ended && !r.malformed && !r.violation.data &&
        !r.sandbox_error.data)
        return reported_outcome(o, &r);
    if (end->reason != KILL_NONE)
        return supervisor_kill_outcome(o, end);
    if (r.sandbox_error.data)
        return sandbox_error_outcome(o, &r.sandbox_error);
    if (r.violation.data)
        return violation_outcome(o, &r.violation);
    if (!end->reaped)
        return outcome_set(o, "crashed", "Crashed",
                           "the job child vanished without an exit status");
    if (WIFSIGNALED(end->wait_status))
        return signal_outcome(o, end, &r);
    if (WEXITSTATUS(end->wait_status) == ZEXIT_NOMEM)
        return outcome_set(o, "memory_limit", "MemoryError",
                           "out of memory outside the job's code");
    return outcome_set(o, "crashed", "Crashed",
                       "the interpreter exited with code %d without an outcome%s",
                       WEXITSTATUS(end->wait_status),
                       r.malformed ? " (malformed result frames)" : "");
}
