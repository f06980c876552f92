/* show_job.c - status/wait flows (see show_job.h). */
#include "show_job.h"

#include "conn.h"
#include "exit_codes.h"
#include "job_view.h"
#include "keys.h"
#include "output.h"
#include "util.h"
#include "waiter.h"

#include <errno.h>
#include <stdio.h>

/* No such job: say so on stderr and, with --json, as the command's object. */
static int report_missing(const struct cli *cli, const char *id)
{
    fprintf(stderr, "sandq: no job '%s' (never submitted, or its result_ttl "
                    "passed)\n", id);
    if (cli->json &&
        out_json(json_pack("{s:s, s:b, s:n}", "id", id, "found", 0, "status")) < 0)
        return EXIT_ERROR;
    return EXIT_MISSING;
}

int show_job_status(struct cli *cli, const char *id)
{
    _cleanup_reply_ redisReply *hash = NULL;
    long long ttl;
    int r = job_view_fetch(cli, id, &hash, &ttl);
    if (r < 0)
        return out_fail_conn(cli, r);
    if (hash->elements == 0)
        return report_missing(cli, id);
    if (cli->json)
        return out_json(job_view_json(id, hash, ttl)) < 0 ? EXIT_ERROR : EXIT_OK;
    job_view_print_all(cli, id, hash, ttl);
    return EXIT_OK;
}

/* The job is still not final when the wait ran out: show where it is. */
static void print_not_yet(const struct cli *cli, const char *id,
                          const char *status, long long timeout_ms)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    char hint[512];
    snprintf(hint, sizeof(hint), "HGET %s status", key ? key : "?");
    out_line(cli, hint, "%-16s %s", "status", status ? status : "queued");
    fprintf(stderr, "sandq: job '%s' did not end within %lld.%03lld s\n", id,
            timeout_ms / 1000, timeout_ms % 1000);
}

/* JSON of a waited-for job: the job view plus whether the wait ran out. */
static int wait_json(const char *id, const redisReply *hash, long long ttl,
                     int timed_out)
{
    json_t *obj = job_view_json(id, hash, ttl);
    if (obj && json_object_set_new(obj, "timed_out", json_boolean(timed_out)) < 0) {
        json_decref(obj);
        obj = NULL;
    }
    return out_json(obj);
}

int show_job_wait(struct cli *cli, const char *id, long long timeout_ms)
{
    _cleanup_reply_ redisReply *hash = NULL;
    long long ttl;
    int w = waiter_wait(cli, id, timeout_ms), r;
    if (w == -ENOENT)
        return report_missing(cli, id);
    if (w < 0 && w != -ETIMEDOUT)
        return out_fail_conn(cli, w);
    if ((r = job_view_fetch(cli, id, &hash, &ttl)) < 0)
        return out_fail_conn(cli, r);
    if (hash->elements == 0)
        return report_missing(cli, id);
    if (cli->json && wait_json(id, hash, ttl, w == -ETIMEDOUT) < 0)
        return EXIT_ERROR;
    if (w == -ETIMEDOUT) {
        if (!cli->json)
            print_not_yet(cli, id, job_view_status(hash), timeout_ms);
        return EXIT_WAIT_TIMEOUT;
    }
    if (!cli->json)
        job_view_print_outcome(cli, id, hash);
    return exit_code_for_status(job_view_status(hash));
}
