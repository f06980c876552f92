/* outcome.h - what a job ended with: the PROTOCOL.md outcome fields, decided
 * from the child's result frames, its wait status and why (if at all) the
 * supervisor killed it.
 *
 * The frames come from untrusted code (a child that escaped the language
 * layer controls every byte it writes), so they are only ever stored as
 * opaque bytes; the status word is checked against the statuses a child may
 * claim. */
#ifndef SANDQ_OUTCOME_H
#define SANDQ_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct text {
    char *data; /* malloc'd, NUL-terminated; may contain NULs before len */
    size_t len;
};

struct outcome {
    const char *status; /* static string, a PROTOCOL.md status */
    struct text result;
    struct text error_type;
    struct text error;
    struct text traceback;
    struct text stdout_text;
    bool stdout_truncated;
    bool has_usage;     /* time_ms, cpu_ms, memory_kb are known */
    uint64_t time_ms, cpu_ms, memory_kb;
};

/* Why the supervisor ended a child itself, if it did. */
enum kill_reason {
    KILL_NONE = 0,
    KILL_TIMEOUT,   /* the wall-clock limit passed */
    KILL_OUTPUT,    /* the child wrote more than the pipe cap */
    KILL_CANCELED,  /* the job was canceled */
    KILL_SHUTDOWN,  /* grace period over; the job is requeued */
    KILL_ZYGOTE,    /* the zygote died; the child died with it */
};

/* How a child ended, as the supervisor saw it. */
struct child_end {
    int wait_status;     /* from the zygote's wait4(), valid if reaped */
    bool reaped;
    enum kill_reason reason;
    unsigned time_limit_ms, cpu_limit_ms, output_cap_bytes;
    uint64_t cpu_ms;
};

/* Fill *o (zeroed by the caller) from the result frames and the end.
 * -ENOMEM when out of memory. Never fails on malformed frames: they make
 * the outcome `crashed`. */
int outcome_from_child(struct outcome *o, const char *frames, size_t len,
                       const struct child_end *end);

/* An outcome decided by the supervisor (invalid, crashed, ...). */
int outcome_set(struct outcome *o, const char *status, const char *error_type,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The final statuses of PROTOCOL.md, in a fixed order (for counters). */
#define OUTCOME_N_STATUSES 11
extern const char *const outcome_statuses[OUTCOME_N_STATUSES];

/* True for the statuses that end a job (PROTOCOL.md). */
bool outcome_status_is_final(const char *status);

/* Index of a final status in outcome_statuses, or -1. */
int outcome_status_index(const char *status);

/* Frees the texts; the struct may be reused after. */
void outcome_release(struct outcome *o);

#endif
