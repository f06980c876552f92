/* config.h - sandq-worker's command line, parsed from one table of
 * {name, type, min, max, default, help} so that parsing, defaults, ranges
 * and --help can never disagree. */
#ifndef SANDQ_CONFIG_H
#define SANDQ_CONFIG_H

#include "job.h"
#include "log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_QUEUES 16
#define CONFIG_MAX_SLOTS 256

struct worker_config {
    char *redis_url;                 /* --redis, SANDQ_REDIS_URL */
    char *queues[CONFIG_MAX_QUEUES]; /* --queue, in priority order */
    size_t n_queues;
    unsigned slots;
    char *worker_id;                 /* default <hostname>:<pid> */
    char *prefix;
    unsigned time_limit_ms, max_time_limit_ms;
    unsigned memory_limit_mb, max_memory_limit_mb;
    unsigned output_limit_kb, max_output_limit_kb;
    unsigned max_code_kb, max_args_kb;
    unsigned result_ttl, max_result_ttl;
    unsigned max_attempts;
    unsigned grace_ms;
    unsigned poll_ms;
    unsigned fetch_timeout_s;
    unsigned heartbeat_ms, heartbeat_ttl_ms, reap_ms;
    unsigned dead_max;
    char *log_level_name;
    enum log_level log_level;
    char *zygote_path;               /* NULL: next to the binary, then libexec */
    char *modules;                   /* NULL: the zygote's default allowlist */
    char *metrics_listen;            /* --metrics ADDR:PORT, or NULL */
    char *allow_missing;             /* layers the operator accepts without */
    char *unsafe_disable_layers;     /* test only: layers switched off */
    char *cgroup_root;               /* NULL: auto-detect */
    char *sandbox_uid;               /* UID[:GID] jobs run as on the host */
    bool self_test, help, version;
    bool no_fork_ahead;              /* fork a slot's child only with its job */
};

/* Parse argv (and SANDQ_REDIS_URL) into *ret, which the caller releases with
 * config_release() on success. -EINVAL with a malloc'd message in
 * *ret_error for a bad flag or value (the caller exits 2); -ENOMEM. */
int config_parse(int argc, char **argv, struct worker_config *ret,
                 char **ret_error);

/* The job limits and caps that follow from the flags. */
void config_job_policy(const struct worker_config *c, struct job_policy *ret);

/* Every flag, its default and range, to out. */
void config_print_help(FILE *out);

void config_release(struct worker_config *c);

#endif
