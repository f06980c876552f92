/* config.c - the worker's flags from one table (see config.h). */
#include "config.h"

#include "parse.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_type { OPT_UINT, OPT_STRING, OPT_QUEUE, OPT_FLAG };

struct opt_spec {
    const char *name;
    enum opt_type type;
    size_t offset;
    unsigned min, max, def; /* OPT_UINT */
    const char *def_str;    /* OPT_STRING default, or NULL */
    const char *arg;        /* metavar for --help */
    const char *help;
};

#define OFF(field) offsetof(struct worker_config, field)
#define UINT(n, f, mn, mx, d, a, h) {n, OPT_UINT, OFF(f), mn, mx, d, NULL, a, h}
#define STR(n, f, d, a, h) {n, OPT_STRING, OFF(f), 0, 0, 0, d, a, h}
#define FLAG(n, f, h) {n, OPT_FLAG, OFF(f), 0, 0, 0, NULL, NULL, h}

static const struct opt_spec opt_table[] = {
    STR("redis", redis_url, "redis://127.0.0.1:6379/0", "URL",
        "Redis address: redis://[:password@]host[:port][/db] or "
        "unix:///path[?db=N]; also from SANDQ_REDIS_URL"),
    {"queue", OPT_QUEUE, 0, 0, 0, 0, "default", "NAME",
     "queue to take jobs from; repeat for several, highest priority first"},
    UINT("slots", slots, 1, CONFIG_MAX_SLOTS, 2, "N", "jobs run at once"),
    STR("worker-id", worker_id, NULL, "ID",
        "this worker's id (default <hostname>:<pid>)"),
    STR("prefix", prefix, "sandq", "P", "prefix of every Redis key"),
    UINT("time-limit-ms", time_limit_ms, 1, 86400000, 10000, "MS",
         "default wall-clock limit per job"),
    UINT("max-time-limit-ms", max_time_limit_ms, 1, 86400000, 60000, "MS",
         "ceiling for a job's limit_time_ms"),
    UINT("memory-limit-mb", memory_limit_mb, 8, 1048576, 256, "MB",
         "default memory limit per job"),
    UINT("max-memory-limit-mb", max_memory_limit_mb, 8, 1048576, 1024, "MB",
         "ceiling for a job's limit_memory_mb"),
    UINT("output-limit-kb", output_limit_kb, 1, 1048576, 1024, "KB",
         "default cap on print output and on the result"),
    UINT("max-output-limit-kb", max_output_limit_kb, 1, 1048576, 16384, "KB",
         "ceiling for a job's limit_output_kb"),
    UINT("max-code-kb", max_code_kb, 1, 65536, 1024, "KB",
         "largest accepted 'code' field"),
    UINT("max-args-kb", max_args_kb, 1, 1048576, 16384, "KB",
         "largest accepted 'args', 'kwargs' or 'calls' field"),
    UINT("result-ttl", result_ttl, 1, 2147483647, 86400, "S",
         "default seconds a finished job hash is kept"),
    UINT("max-result-ttl", max_result_ttl, 1, 2147483647, 2592000, "S",
         "ceiling for a job's result_ttl"),
    UINT("max-attempts", max_attempts, 1, 100, 3, "N",
         "default starts of a job whose worker died"),
    UINT("grace-ms", grace_ms, 0, 86400000, 30000, "MS",
         "on SIGTERM, how long running jobs may finish"),
    UINT("poll-ms", poll_ms, 10, 60000, 1000, "MS",
         "with several queues: how often an idle worker looks at the "
         "lower-priority ones"),
    UINT("fetch-timeout-s", fetch_timeout_s, 1, 3600, 30, "S",
         "BLMOVE timeout of an idle worker"),
    UINT("heartbeat-ms", heartbeat_ms, 100, 600000, 5000, "MS",
         "how often the worker refreshes its heartbeat key"),
    UINT("heartbeat-ttl-ms", heartbeat_ttl_ms, 300, 3600000, 15000, "MS",
         "lifetime of the heartbeat key: a worker silent this long is dead"),
    UINT("reap-ms", reap_ms, 100, 600000, 5000, "MS",
         "how often a worker looks for dead workers to requeue their jobs"),
    UINT("dead-max", dead_max, 1, 100000000, 10000, "N",
         "longest the dead-job list may grow (oldest dropped)"),
    STR("log-level", log_level_name, "info", "LEVEL",
        "debug, info, warn or error"),
    STR("zygote", zygote_path, NULL, "PATH",
        "sandq-zygote binary (default: next to this one, then "
        SANDQ_LIBEXECDIR ")"),
    STR("modules", modules, NULL, "LIST",
        "comma-separated modules jobs may import (default: the built-in "
        "allowlist)"),
    STR("metrics", metrics_listen, NULL, "ADDR:PORT",
        "serve Prometheus /metrics and /healthz here (e.g. 127.0.0.1:9187)"),
    STR("allow-missing", allow_missing, NULL, "LAYERS",
        "start even though these sandbox layers are unavailable on this "
        "host (comma-separated; see --self-test); logged at every start"),
    STR("cgroup-root", cgroup_root, NULL, "PATH",
        "cgroup directory to create slot cgroups under (default: detect)"),
    STR("sandbox-uid", sandbox_uid, NULL, "UID[:GID]",
        "host user (and group) jobs run as, mapped to root inside their user "
        "namespace (default: 65534:65534 when started as root, else the "
        "worker's own)"),
    STR("unsafe-disable-layers", unsafe_disable_layers, NULL, "LAYERS",
        "FOR TESTS ONLY: switch sandbox layers off"),
    FLAG("no-fork-ahead", no_fork_ahead,
         "fork a job's child when the job arrives, not while the slot is "
         "idle (saves one idle child per slot, ~1.2 MB; costs latency)"),
    FLAG("self-test", self_test, "check every sandbox layer on this host, "
                                 "print a table and exit (no Redis needed)"),
    FLAG("version", version, "print the version and exit"),
    FLAG("help", help, "print this help and exit"),
};

void config_print_help(FILE *out)
{
    fprintf(out, "usage: sandq-worker [OPTION]...\n"
                 "Run untrusted Python jobs from Redis in sandboxed "
                 "children.\n\n");
    for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
        const struct opt_spec *o = &opt_table[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
        fprintf(out, "  %-28s %s", left, o->help);
        if (o->type == OPT_UINT)
            fprintf(out, " [%u; %u-%u]", o->def, o->min, o->max);
        else if ((o->type == OPT_STRING || o->type == OPT_QUEUE) && o->def_str)
            fprintf(out, " [%s]", o->def_str);
        fputc('\n', out);
    }
}

__attribute__((format(printf, 2, 3))) static int fail(char **ret_error,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(ret_error, fmt, ap) < 0)
        *ret_error = NULL;
    va_end(ap);
    return -EINVAL;
}

static int set_string(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static int apply_option(struct worker_config *c, const struct opt_spec *o,
                        const char *value, char **ret_error)
{
    char *base = (char *)c;
    switch (o->type) {
    case OPT_UINT:
        if (parse_uint(value, o->min, o->max,
                       (unsigned *)(void *)(base + o->offset)) < 0)
            return fail(ret_error, "--%s: '%s' is not a number in %u-%u",
                        o->name, value, o->min, o->max);
        return 0;
    case OPT_STRING:
        return set_string((char **)(void *)(base + o->offset), value);
    case OPT_QUEUE:
        if (!parse_is_name(value, strlen(value)))
            return fail(ret_error, "--queue: '%s' must be 1-128 characters "
                                   "of A-Z a-z 0-9 . _ : -", value);
        if (c->n_queues == CONFIG_MAX_QUEUES)
            return fail(ret_error, "--queue: at most %d queues",
                        CONFIG_MAX_QUEUES);
        for (size_t i = 0; i < c->n_queues; i++)
            if (strcmp(c->queues[i], value) == 0)
                return fail(ret_error, "--queue: '%s' given twice", value);
        return (c->queues[c->n_queues++] = strdup(value)) ? 0 : -ENOMEM;
    case OPT_FLAG:
        *(bool *)(void *)(base + o->offset) = true;
        return 0;
    }
    return -EINVAL;
}

static int set_defaults(struct worker_config *c)
{
    char *base = (char *)c;
    for (size_t i = 0; i < sizeof(opt_table) / sizeof(opt_table[0]); i++) {
        const struct opt_spec *o = &opt_table[i];
        if (o->type == OPT_UINT)
            *(unsigned *)(void *)(base + o->offset) = o->def;
        else if (o->type == OPT_STRING && o->def_str &&
                 set_string((char **)(void *)(base + o->offset), o->def_str) < 0)
            return -ENOMEM;
    }
    const char *env = getenv("SANDQ_REDIS_URL");
    if (env && *env && set_string(&c->redis_url, env) < 0)
        return -ENOMEM;
    return 0;
}

/* Cross-field rules the table cannot express. */
static int check_config(struct worker_config *c, char **ret_error)
{
    static const struct {
        size_t def, max;
        const char *def_name, *max_name;
    } pairs[] = {
        {OFF(time_limit_ms), OFF(max_time_limit_ms), "time-limit-ms", "max-time-limit-ms"},
        {OFF(memory_limit_mb), OFF(max_memory_limit_mb), "memory-limit-mb", "max-memory-limit-mb"},
        {OFF(output_limit_kb), OFF(max_output_limit_kb), "output-limit-kb", "max-output-limit-kb"},
        {OFF(result_ttl), OFF(max_result_ttl), "result-ttl", "max-result-ttl"},
    };
    char *base = (char *)c;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        unsigned d = *(unsigned *)(void *)(base + pairs[i].def);
        unsigned m = *(unsigned *)(void *)(base + pairs[i].max);
        if (d > m)
            return fail(ret_error, "--%s %u is above --%s %u", pairs[i].def_name,
                        d, pairs[i].max_name, m);
    }
    if (c->heartbeat_ttl_ms < 2 * c->heartbeat_ms)
        return fail(ret_error, "--heartbeat-ttl-ms %u must be at least twice "
                               "--heartbeat-ms %u", c->heartbeat_ttl_ms,
                    c->heartbeat_ms);
    if (log_level_parse(c->log_level_name, &c->log_level) < 0)
        return fail(ret_error, "--log-level: '%s' is not debug, info, warn or "
                               "error", c->log_level_name);
    if (c->worker_id && !parse_is_name(c->worker_id, strlen(c->worker_id)))
        return fail(ret_error, "--worker-id: '%s' must be 1-128 characters of "
                               "A-Z a-z 0-9 . _ : -", c->worker_id);
    if (!parse_is_name(c->prefix, strlen(c->prefix)))
        return fail(ret_error, "--prefix: '%s' must be 1-128 characters of "
                               "A-Z a-z 0-9 . _ : -", c->prefix);
    return 0;
}

static int default_worker_id(struct worker_config *c)
{
    char host[256];
    if (c->worker_id)
        return 0;
    if (gethostname(host, sizeof(host)) < 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p; p++)
        if (!parse_is_name(p, 1))
            *p = '-';
    return asprintf(&c->worker_id, "%s:%ld", host, (long)getpid()) < 0
               ? -ENOMEM
               : 0;
}

static int parse_argv(int argc, char **argv, struct worker_config *c,
                      char **ret_error)
{
    enum { N = sizeof(opt_table) / sizeof(opt_table[0]) };
    struct option longopts[N + 1];
    for (size_t i = 0; i < N; i++)
        longopts[i] = (struct option){opt_table[i].name,
                                      opt_table[i].type == OPT_FLAG
                                          ? no_argument
                                          : required_argument,
                                      NULL, (int)i + 256};
    longopts[N] = (struct option){0};
    optind = 0; /* 0, not 1: a full reset of glibc's getopt state */
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (ch == 'h') {
            c->help = true;
            continue;
        }
        if ((ch == '?' || ch == ':') && optopt > 0 && optopt < 256)
            return fail(ret_error, "unknown or incomplete option '-%c' (see "
                                   "--help)", optopt);
        if (ch < 256 || ch >= 256 + N)
            return fail(ret_error, "unknown or incomplete option '%s' (see "
                                   "--help)", argv[optind - 1]);
        int r = apply_option(c, &opt_table[ch - 256], optarg, ret_error);
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return fail(ret_error, "unexpected argument '%s' (see --help)",
                    argv[optind]);
    return 0;
}

int config_parse(int argc, char **argv, struct worker_config *ret,
                 char **ret_error)
{
    struct worker_config c = {0};
    int r;
    *ret_error = NULL;
    if ((r = set_defaults(&c)) < 0 ||
        (r = parse_argv(argc, argv, &c, ret_error)) < 0 ||
        (r = check_config(&c, ret_error)) < 0)
        goto fail;
    if (c.n_queues == 0 && !(c.queues[c.n_queues++] = strdup("default"))) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = default_worker_id(&c)) < 0)
        goto fail;
    *ret = c;
    return 0;
fail:
    config_release(&c);
    return r;
}

void config_job_policy(const struct worker_config *c, struct job_policy *ret)
{
    *ret = (struct job_policy){
        .time_ms_default = c->time_limit_ms,
        .time_ms_max = c->max_time_limit_ms,
        .memory_mb_default = c->memory_limit_mb,
        .memory_mb_max = c->max_memory_limit_mb,
        .output_kb_default = c->output_limit_kb,
        .output_kb_max = c->max_output_limit_kb,
        .code_max_bytes = (size_t)c->max_code_kb * 1024,
        .args_max_bytes = (size_t)c->max_args_kb * 1024,
        .result_ttl_default = c->result_ttl,
        .result_ttl_max = c->max_result_ttl,
        .max_attempts_default = c->max_attempts,
    };
}

void config_release(struct worker_config *c)
{
    free(c->redis_url);
    for (size_t i = 0; i < c->n_queues; i++)
        free(c->queues[i]);
    free(c->worker_id);
    free(c->prefix);
    free(c->log_level_name);
    free(c->zygote_path);
    free(c->modules);
    free(c->metrics_listen);
    free(c->allow_missing);
    free(c->unsafe_disable_layers);
    free(c->cgroup_root);
    free(c->sandbox_uid);
    memset(c, 0, sizeof(*c));
}
