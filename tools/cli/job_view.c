/* job_view.c - one job hash for people and for programs (see job_view.h). */
#include "job_view.h"

#include "conn.h"
#include "keys.h"
#include "output.h"
#include "parse.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CODE_PREVIEW_BYTES 60

/* The order `status` shows fields in: the state first, then the outcome,
 * then bookkeeping, then the input; anything else after, as stored. */
static const char *const field_order[] = {
    "status", "queue", "function", "args", "kwargs", "calls", "result",
    "error_type", "error", "traceback", "stdout", "stdout_truncated",
    "worker", "attempts", "max_attempts", "cancel_requested", "enqueued_at",
    "started_at", "finished_at", "time_ms", "cpu_ms", "memory_kb",
    "limit_time_ms", "limit_memory_mb", "limit_output_kb", "result_ttl",
    "code",
};

/* Fields holding milliseconds since the epoch, shown with a local date. */
static const char *const time_fields[] = {"enqueued_at", "started_at",
                                          "finished_at", "cancel_requested"};

int job_view_fetch(struct cli *cli, const char *id, redisReply **ret_hash,
                   long long *ret_ttl)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    _cleanup_reply_ redisReply *hash = NULL;
    _cleanup_reply_ redisReply *ttl = NULL;
    int r;
    if (!key)
        return -ENOMEM;
    if ((r = conn_command(cli, &hash, "HGETALL %s", key)) < 0 ||
        (r = conn_command(cli, &ttl, "TTL %s", key)) < 0 ||
        (r = reply_integer(cli, ttl, ret_ttl)) < 0)
        return r;
    if (hash->type != REDIS_REPLY_ARRAY) {
        snprintf(cli->err, sizeof(cli->err), "'%s' is not a hash", key);
        return -EPROTO;
    }
    *ret_hash = TAKE_PTR(hash);
    return 0;
}

const char *job_view_status(const redisReply *hash)
{
    const redisReply *v = reply_hash_get(hash, "status");
    return v && v->type == REDIS_REPLY_STRING ? v->str : NULL;
}

/* Whether name is one of list (short, fixed tables). */
static int in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return 1;
    return 0;
}

/* " (2024-05-01 12:00:00.123)" for a millisecond timestamp, "" if the text
 * is not one. */
static void format_when(const redisReply *v, char *buf, size_t len)
{
    uint64_t ms;
    struct tm tm;
    char date[32];
    buf[0] = '\0';
    if (parse_u64(v->str, v->len, 1, UINT64_MAX / 2, &ms) < 0)
        return;
    time_t t = (time_t)(ms / 1000);
    if (!localtime_r(&t, &tm) || strftime(date, sizeof(date), "%F %T", &tm) == 0)
        return;
    snprintf(buf, len, " (%s.%03u)", date, (unsigned)(ms % 1000));
}

/* The code as one line: its first line, and how big it is. */
static void print_code(const struct cli *cli, const char *hint,
                       const redisReply *v)
{
    size_t lines = 0, start = strspn(v->str, "\n"), end = v->len;
    for (size_t i = 0; i < v->len; i++) {
        if (v->str[i] == '\n') {
            lines++;
            if (i > start && end == v->len)
                end = i;
        }
    }
    if (v->len && v->str[v->len - 1] != '\n')
        lines++;
    _cleanup_free_ char *head =
        out_escape(v->str + start, end - start, CODE_PREVIEW_BYTES, 0);
    out_line(cli, hint, "%-16s %s%s (%zu lines, %zu bytes)", "code",
             head ? head : "", end < v->len ? " ..." : "", lines, v->len);
}

/* One field as a line, or as a block when it spans lines. */
static void print_field(const struct cli *cli, const char *key,
                        const char *name, const redisReply *v)
{
    char hint[512], when[48] = "";
    snprintf(hint, sizeof(hint), "HGET %s %s", key, name);
    if (v->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(name, "code") == 0)
        return print_code(cli, hint, v);
    if (memchr(v->str, '\n', v->len))
        return out_block(cli, hint, name, v->str, v->len);
    if (in_list(name, time_fields, ARRAY_SIZE(time_fields)))
        format_when(v, when, sizeof(when));
    out_line(cli, hint, "%-16s %.*s%s", name, (int)v->len, v->str, when);
}

/* The TTL line: how long the hash is kept. */
static void print_ttl(const struct cli *cli, const char *key, long long ttl)
{
    char hint[512];
    snprintf(hint, sizeof(hint), "TTL %s", key);
    if (ttl >= 0)
        out_line(cli, hint, "%-16s %lld s", "expires in", ttl);
    else
        out_line(cli, hint, "%-16s never", "expires in");
}

void job_view_print_all(const struct cli *cli, const char *id,
                        const redisReply *hash, long long ttl)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    char hint[512];
    if (!key)
        return (void)fputs("sandq: out of memory\n", stderr);
    snprintf(hint, sizeof(hint), "HGETALL %s", key);
    out_line(cli, hint, "%-16s %s", "job", id);
    for (size_t i = 0; i < ARRAY_SIZE(field_order); i++) {
        const redisReply *v = reply_hash_get(hash, field_order[i]);
        if (v)
            print_field(cli, key, field_order[i], v);
    }
    for (size_t i = 0; i + 1 < hash->elements; i += 2) {
        const char *name = hash->element[i]->str;
        if (name && !in_list(name, field_order, ARRAY_SIZE(field_order)))
            print_field(cli, key, name, hash->element[i + 1]);
    }
    print_ttl(cli, key, ttl);
}

/* Print the named fields that are present, in this order. */
static void print_present(const struct cli *cli, const char *key,
                          const redisReply *hash, const char *const *names,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = reply_hash_get(hash, names[i]);
        if (v && v->len > 0)
            print_field(cli, key, names[i], v);
    }
}

/* "12 ms wall, 10 ms CPU, 9320 KiB peak" when the worker measured it. */
static void print_usage(const struct cli *cli, const char *key,
                        const redisReply *hash)
{
    const redisReply *t = reply_hash_get(hash, "time_ms");
    const redisReply *c = reply_hash_get(hash, "cpu_ms");
    const redisReply *m = reply_hash_get(hash, "memory_kb");
    char hint[512];
    if (!t || !c || !m)
        return;
    snprintf(hint, sizeof(hint), "HMGET %s time_ms cpu_ms memory_kb", key);
    out_line(cli, hint, "%-16s %s ms wall, %s ms CPU, %s KiB peak memory",
             "usage", t->str, c->str, m->str);
}

void job_view_print_outcome(const struct cli *cli, const char *id,
                            const redisReply *hash)
{
    static const char *const ok[] = {"status", "result"};
    static const char *const bad[] = {"status", "error_type", "error",
                                      "traceback"};
    static const char *const tail[] = {"stdout", "stdout_truncated", "worker",
                                       "attempts"};
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    const char *status = job_view_status(hash);
    if (!key)
        return (void)fputs("sandq: out of memory\n", stderr);
    if (status && strcmp(status, "succeeded") == 0)
        print_present(cli, key, hash, ok, ARRAY_SIZE(ok));
    else
        print_present(cli, key, hash, bad, ARRAY_SIZE(bad));
    print_present(cli, key, hash, tail, ARRAY_SIZE(tail));
    print_usage(cli, key, hash);
}

/* The hash as a JSON object of strings. */
static json_t *hash_json(const redisReply *hash)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i + 1 < hash->elements; i += 2) {
        const redisReply *k = hash->element[i], *v = hash->element[i + 1];
        json_t *text = out_json_text(v->str ? v->str : "", v->str ? v->len : 0);
        _cleanup_free_ char *name = out_escape(k->str ? k->str : "",
                                               k->str ? k->len : 0, k->len, 1);
        if (!text || !name || json_object_set_new(obj, name, text) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *job_view_json(const char *id, const redisReply *hash, long long ttl)
{
    const redisReply *st = reply_hash_get(hash, "status");
    json_t *status = st && st->str ? out_json_text(st->str, st->len) : json_null();
    json_t *fields = hash_json(hash);
    if (!fields || !status) {
        json_decref(fields);
        json_decref(status);
        return NULL;
    }
    return json_pack("{s:s, s:b, s:o, s:I, s:o}", "id", id, "found",
                     hash->elements > 0, "status", status, "ttl",
                     (json_int_t)ttl, "job", fields);
}
