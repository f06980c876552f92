/* job.h - the job model: a job hash from Redis, validated and with its
 * limits clamped to the worker's ceilings (PROTOCOL.md "Enqueue").
 *
 * Validation happens here, in the supervisor, with jansson, so a malformed
 * job ends `invalid` without costing a fork. The JSON texts are handed to
 * the sandboxed child unchanged and parsed again there. */
#ifndef SANDQ_JOB_H
#define SANDQ_JOB_H

#include <stddef.h>
#include <stdint.h>

#define JOB_JSON_MAX_DEPTH 64
/* JSON fields up to this size are parsed here; bigger ones only have their
 * outer type checked, and the sandboxed child (which parses them anyway,
 * 3x faster and without blocking the supervisor's loop) reports them
 * `invalid` if they are malformed. */
#define JOB_JSON_VALIDATE_MAX (64u * 1024u)
#define JOB_CALLS_MAX_ITEMS 100000u

/* One field of the job hash; name and value are borrowed. */
struct job_field {
    const char *name;
    const char *value;
    size_t len;
};

/* The worker's defaults and ceilings; a job may lower a limit, never raise
 * it past the ceiling. */
struct job_policy {
    unsigned time_ms_default, time_ms_max;
    unsigned memory_mb_default, memory_mb_max;
    unsigned output_kb_default, output_kb_max;
    size_t code_max_bytes;
    size_t args_max_bytes; /* each of args, kwargs, calls */
    unsigned result_ttl_default, result_ttl_max;
    unsigned max_attempts_default;
};

struct job_limits {
    unsigned time_ms;   /* wall clock, enforced by the supervisor */
    unsigned cpu_ms;    /* CPU time, enforced by RLIMIT_CPU in the child */
    unsigned memory_mb;
    unsigned output_kb;
};

struct job {
    char *code;
    size_t code_len;
    char *function;
    char *args;   /* JSON array text; "[]" when absent; NULL for a batch */
    size_t args_len;
    char *kwargs; /* JSON object text; "{}" when absent; NULL for a batch */
    size_t kwargs_len;
    char *calls;  /* JSON array-of-arrays text, or NULL (not a batch) */
    size_t calls_len;
    char *queue;  /* the hash's queue field, or NULL */
    struct job_limits limits;
    unsigned result_ttl;
    unsigned max_attempts;
};

/* Validate the fields of a job hash. On success *ret_job is a new job the
 * caller frees with job_free(). On -EINVAL (the job is malformed: status
 * `invalid`) *ret_error is a malloc'd message for the job's `error` field.
 * -ENOMEM when out of memory (nothing returned). */
int job_parse(const struct job_field *fields, size_t n_fields,
              const struct job_policy *policy, struct job **ret_job,
              char **ret_error);

/* Clamp a requested limit text: absent (NULL) gives def, a value above max
 * gives max. -EINVAL when the text is not a positive decimal integer. */
int job_limit_clamp(const char *text, size_t len, unsigned def, unsigned max,
                    unsigned *ret);

/* Frees a job; NULL is fine. */
void job_free(struct job *job);

#endif
