/* job_view.h - showing one job hash: every field (`status`), the outcome
 * (`wait`, `submit --wait`), or as JSON. */
#ifndef SANDQ_CLI_JOB_VIEW_H
#define SANDQ_CLI_JOB_VIEW_H

#include "cli.h"

#include <hiredis/hiredis.h>
#include <jansson.h>

/* HGETALL and TTL of job id. *ret_hash is the caller's (an empty array
 * when the job does not exist); *ret_ttl is Redis's TTL (-1 no expiry,
 * -2 missing). conn.h errors. */
int job_view_fetch(struct cli *cli, const char *id, redisReply **ret_hash,
                   long long *ret_ttl);

/* The job's status field (borrowed from hash), NULL when absent. */
const char *job_view_status(const redisReply *hash);

/* Every field, one line each (the code shortened, long texts as blocks). */
void job_view_print_all(const struct cli *cli, const char *id,
                        const redisReply *hash, long long ttl);

/* What the job ended with: the result, or the error, its traceback and
 * what it printed; then its time and memory. */
void job_view_print_outcome(const struct cli *cli, const char *id,
                            const redisReply *hash);

/* {"id", "found", "status", "ttl", "job": {field: text}}; a new reference,
 * NULL when out of memory. */
json_t *job_view_json(const char *id, const redisReply *hash, long long ttl);

#endif
