/* job.c - job hash validation and limit clamping (see job.h). */
#include "job.h"

#include "parse.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct job_field *field_find(const struct job_field *fields,
                                          size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (fields[i].name && strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

static char *memdup0(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* Format the `error` message of an invalid job; returns -EINVAL, or -ENOMEM
 * when even the message cannot be allocated. */
__attribute__((format(printf, 2, 3))) static int invalid(char **ret_error,
                                                         const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    *ret_error = msg;
    return -EINVAL;
}

void job_free(struct job *job)
{
    if (!job)
        return;
    free(job->code);
    free(job->function);
    free(job->args);
    free(job->kwargs);
    free(job->calls);
    free(job->queue);
    free(job);
}

int job_limit_clamp(const char *text, size_t len, unsigned def, unsigned max,
                    unsigned *ret)
{
    uint64_t v;
    if (!text) {
        *ret = def < max ? def : max;
        return 0;
    }
    int r = parse_u64(text, len, 1, UINT64_MAX, &v);
    if (r < 0)
        return -EINVAL;
    *ret = v > max ? max : (unsigned)v;
    return 0;
}

/* Levels of arrays and objects (a scalar adds none), stopping early once
 * over the cap. */
static int json_depth(const json_t *v, int depth)
{
    if (!json_is_array(v) && !json_is_object(v))
        return depth - 1;
    if (depth > JOB_JSON_MAX_DEPTH)
        return depth;
    int max = depth;
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            int d = json_depth(item, depth + 1);
            if (d > max)
                max = d;
            if (max > JOB_JSON_MAX_DEPTH)
                break;
        }
    } else if (json_is_object(v)) {
        const char *key;
        json_t *item;
        json_object_foreach((json_t *)v, key, item) {
            int d = json_depth(item, depth + 1);
            if (d > max)
                max = d;
            if (max > JOB_JSON_MAX_DEPTH)
                break;
        }
    }
    return max;
}

/* Each item of a `calls` batch must itself be an argument array. */
static bool calls_items_are_arrays(const json_t *calls)
{
    size_t i;
    json_t *item;
    json_array_foreach(calls, i, item) {
        if (!json_is_array(item))
            return false;
    }
    return true;
}

/* A copy of JSON text with every number token outside strings replaced by
 * 0: jansson cannot hold numbers beyond a double, Python can, and only the
 * structure matters here. NULL when out of memory. */
static char *json_numbers_zeroed(const char *text, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    bool in_string = false, escaped = false;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if (c == '"') {
            in_string = true;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            while (i + 1 < len && strchr("0123456789+-.eE", text[i + 1]))
                i++;
            c = '0';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* jansson's parse, retried with numbers zeroed when a number overflowed. */
static json_t *json_parse(const char *text, size_t len, json_error_t *err)
{
    const size_t flags = JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL;
    json_t *v = json_loadb(text, len, flags, err);
    if (v || !strstr(err->text, "overflow"))
        return v;
    char *zeroed = json_numbers_zeroed(text, len);
    if (!zeroed)
        return NULL;
    v = json_loadb(zeroed, strlen(zeroed), flags, err);
    free(zeroed);
    return v;
}

/* A field too big to parse in the supervisor's loop: check the outer type
 * from its first byte and leave the rest to the child (see job.h). */
static int json_field_big(const struct job_field *f, const char *what,
                          json_type want, char **ret, size_t *ret_len,
                          char **ret_error)
{
    size_t i = 0;
    while (i < f->len && strchr(" \t\r\n", f->value[i]))
        i++;
    char open = want == JSON_ARRAY ? '[' : '{';
    if (i == f->len || f->value[i] != open)
        return invalid(ret_error, "'%s' must be a JSON %s", what,
                       want == JSON_ARRAY ? "array" : "object");
    if (!(*ret = memdup0(f->value, f->len)))
        return -ENOMEM;
    *ret_len = f->len;
    return 0;
}

/* Parse a JSON field and check its type; on success *ret is a copy of the
 * text (the child parses it again with Python's json, big ints and all). */
static int json_field(const struct job_field *f, const struct job_policy *p,
                      const char *what, json_type want, char **ret,
                      size_t *ret_len, char **ret_error)
{
    json_error_t err;
    if (f->len > p->args_max_bytes)
        return invalid(ret_error, "'%s' is %zu bytes, over the %zu byte cap",
                       what, f->len, p->args_max_bytes);
    if (f->len > JOB_JSON_VALIDATE_MAX)
        return json_field_big(f, what, want, ret, ret_len, ret_error);
    json_t *v = json_parse(f->value, f->len, &err);
    if (!v)
        return invalid(ret_error, "'%s' is not valid JSON: %s (at %d:%d)", what,
                       err.text, err.line, err.column);
    int r = 0;
    if (json_typeof(v) != want)
        r = invalid(ret_error, "'%s' must be a JSON %s", what,
                    want == JSON_ARRAY ? "array" : "object");
    else if (json_depth(v, 1) > JOB_JSON_MAX_DEPTH)
        r = invalid(ret_error, "'%s' is nested deeper than %d levels", what,
                    JOB_JSON_MAX_DEPTH);
    else if (strcmp(what, "calls") == 0 && !calls_items_are_arrays(v))
        r = invalid(ret_error, "'calls' must be a JSON array of arrays of "
                               "positional arguments");
    else if (strcmp(what, "calls") == 0 &&
             json_array_size(v) > JOB_CALLS_MAX_ITEMS)
        r = invalid(ret_error, "'calls' has %zu items, over the cap of %u",
                    json_array_size(v), JOB_CALLS_MAX_ITEMS);
    json_decref(v);
    if (r < 0)
        return r;
    if (!(*ret = memdup0(f->value, f->len)))
        return -ENOMEM;
    *ret_len = f->len;
    return 0;
}

static int parse_code(const struct job_field *fields, size_t n,
                      const struct job_policy *p, struct job *job,
                      char **ret_error)
{
    const struct job_field *code = field_find(fields, n, "code");
    const struct job_field *fn = field_find(fields, n, "function");
    if (!code || code->len == 0)
        return invalid(ret_error, "required field 'code' is missing or empty");
    if (code->len > p->code_max_bytes)
        return invalid(ret_error, "'code' is %zu bytes, over the %zu byte cap",
                       code->len, p->code_max_bytes);
    if (!parse_is_utf8(code->value, code->len))
        return invalid(ret_error, "'code' is not valid UTF-8");
    if (!fn || fn->len == 0)
        return invalid(ret_error, "required field 'function' is missing or empty");
    if (!parse_is_identifier(fn->value, fn->len))
        return invalid(ret_error, "'function' must be a Python identifier "
                                  "(ASCII letters, digits, _; at most 128)");
    if (!(job->code = memdup0(code->value, code->len)) ||
        !(job->function = memdup0(fn->value, fn->len)))
        return -ENOMEM;
    job->code_len = code->len;
    return 0;
}

static int parse_arguments(const struct job_field *fields, size_t n,
                           const struct job_policy *p, struct job *job,
                           char **ret_error)
{
    const struct job_field *args = field_find(fields, n, "args");
    const struct job_field *kwargs = field_find(fields, n, "kwargs");
    const struct job_field *calls = field_find(fields, n, "calls");
    int r;

    if (calls && (args || kwargs))
        return invalid(ret_error, "'calls' cannot be combined with 'args' or 'kwargs'");
    if (calls)
        return json_field(calls, p, "calls", JSON_ARRAY, &job->calls,
                          &job->calls_len, ret_error);
    if (args) {
        r = json_field(args, p, "args", JSON_ARRAY, &job->args, &job->args_len,
                       ret_error);
        if (r < 0)
            return r;
    }
    if (kwargs) {
        r = json_field(kwargs, p, "kwargs", JSON_OBJECT, &job->kwargs,
                       &job->kwargs_len, ret_error);
        if (r < 0)
            return r;
    }
    if (!job->args) {
        if (!(job->args = memdup0("[]", 2)))
            return -ENOMEM;
        job->args_len = 2;
    }
    if (!job->kwargs) {
        if (!(job->kwargs = memdup0("{}", 2)))
            return -ENOMEM;
        job->kwargs_len = 2;
    }
    return 0;
}

/* One optional numeric field clamped to [1, max] with a default. */
static int clamp_field(const struct job_field *fields, size_t n,
                       const char *name, unsigned def, unsigned max,
                       unsigned *ret, char **ret_error)
{
    const struct job_field *f = field_find(fields, n, name);
    int r = job_limit_clamp(f ? f->value : NULL, f ? f->len : 0, def, max, ret);
    if (r < 0)
        return invalid(ret_error, "'%s' must be a positive integer", name);
    return 0;
}

static int parse_limits(const struct job_field *fields, size_t n,
                        const struct job_policy *p, struct job *job,
                        char **ret_error)
{
    struct job_limits *l = &job->limits;
    int r;
    if ((r = clamp_field(fields, n, "limit_time_ms", p->time_ms_default,
                         p->time_ms_max, &l->time_ms, ret_error)) < 0 ||
        (r = clamp_field(fields, n, "limit_memory_mb", p->memory_mb_default,
                         p->memory_mb_max, &l->memory_mb, ret_error)) < 0 ||
        (r = clamp_field(fields, n, "limit_output_kb", p->output_kb_default,
                         p->output_kb_max, &l->output_kb, ret_error)) < 0 ||
        (r = clamp_field(fields, n, "result_ttl", p->result_ttl_default,
                         p->result_ttl_max, &job->result_ttl, ret_error)) < 0 ||
        (r = clamp_field(fields, n, "max_attempts", p->max_attempts_default,
                         100, &job->max_attempts, ret_error)) < 0)
        return r;
    l->cpu_ms = l->time_ms;
    return 0;
}

static int parse_queue(const struct job_field *fields, size_t n,
                       struct job *job, char **ret_error)
{
    const struct job_field *q = field_find(fields, n, "queue");
    if (!q)
        return 0;
    if (!parse_is_name(q->value, q->len))
        return invalid(ret_error, "'queue' must be 1-128 characters of "
                                  "A-Z a-z 0-9 . _ : -");
    return (job->queue = memdup0(q->value, q->len)) ? 0 : -ENOMEM;
}

int job_parse(const struct job_field *fields, size_t n_fields,
              const struct job_policy *policy, struct job **ret_job,
              char **ret_error)
{
    struct job *job = calloc(1, sizeof(*job));
    int r;
    if (!job)
        return -ENOMEM;
    if ((r = parse_code(fields, n_fields, policy, job, ret_error)) < 0 ||
        (r = parse_arguments(fields, n_fields, policy, job, ret_error)) < 0 ||
        (r = parse_limits(fields, n_fields, policy, job, ret_error)) < 0 ||
        (r = parse_queue(fields, n_fields, job, ret_error)) < 0) {
        job_free(job);
        return r;
    }
    *ret_job = job;
    return 0;
}
