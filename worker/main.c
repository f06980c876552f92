/* main.c - sandq-worker: flags, startup checks, the zygote, the loop. The
 * only place that exits the process. */
#include "config.h"
#include "log.h"
#include "redis_url.h"
#include "sdnotify.h"
#include "supervisor.h"
#include "zygote_client.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZYGOTE_READY_TIMEOUT_MS 30000

/* The zygote binary: --zygote, else next to this binary (a build tree),
 * else the installed libexec path. */
static int find_zygote(const struct worker_config *c, char *out, size_t len)
{
    char self[PATH_MAX - 32];
    if (c->zygote_path) {
        snprintf(out, len, "%s", c->zygote_path);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            int k = snprintf(out, len, "%s/sandq-zygote", self);
            if (k > 0 && (size_t)k < len && access(out, X_OK) == 0)
                return 0;
        }
    }
    snprintf(out, len, "%s/sandq-zygote", SANDQ_LIBEXECDIR);
    return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

static void log_layers(const struct zmsg_ready *r)
{
    static const struct {
        unsigned bit;
        const char *name;
    } layers[] = {{ZLAYER_SECCOMP, "seccomp"},
                  {ZLAYER_RLIMITS, "rlimits"},
                  {ZLAYER_NO_NEW_PRIVS, "no_new_privs"},
                  {ZLAYER_MEMORY_RLIMIT, "memory rlimit"}};
    for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++) {
        if (r->layers & layers[i].bit)
            log_info("sandbox layer %-14s active", layers[i].name);
        else
            log_warn("sandbox layer %-14s MISSING", layers[i].name);
    }
}

static int run(struct worker_config *cfg)
{
    struct redis_url url;
    const char *url_error = NULL;
    char zygote_path[PATH_MAX];
    struct zmsg_ready ready;
    int err = 0;

    if (redis_url_parse(cfg->redis_url, &url, &url_error) < 0) {
        fprintf(stderr, "sandq-worker: --redis '%s': %s\n", cfg->redis_url,
                url_error ? url_error : "out of memory");
        return 2;
    }
    if (find_zygote(cfg, zygote_path, sizeof(zygote_path)) < 0) {
        log_error("cannot find sandq-zygote (looked next to this binary and in "
                  "%s); use --zygote PATH", SANDQ_LIBEXECDIR);
        redis_url_release(&url);
        return 1;
    }
    char *zargs[] = {(char *)"--log-level", cfg->log_level_name,
                     cfg->modules ? (char *)"--modules" : NULL, cfg->modules,
                     NULL};
    struct zygote *z = zygote_start(zygote_path, zargs, ZYGOTE_READY_TIMEOUT_MS,
                                    &ready, &err);
    if (!z) {
        log_error("the zygote '%s' did not start: %s", zygote_path,
                  strerror(-err));
        redis_url_release(&url);
        return 1;
    }
    log_info("sandq-worker %s: zygote pid %d ready (Python %s, %llu KiB RSS)",
             SANDQ_VERSION, (int)ready.pid, ready.python_version,
             (unsigned long long)ready.rss_kb);
    log_layers(&ready);
    struct supervisor *s = supervisor_new(cfg, &url, z, &ready, zygote_path,
                                          zargs, &err);
    redis_url_release(&url);
    if (!s) {
        log_error("cannot set up the worker: %s", strerror(-err));
        return 1;
    }
    int code = supervisor_run(s);
    supervisor_free(s);
    return code;
}

int main(int argc, char **argv)
{
    struct worker_config cfg;
    char *error = NULL;
    int r = config_parse(argc, argv, &cfg, &error);
    if (r < 0) {
        fprintf(stderr, "sandq-worker: %s\n",
                error ? error : strerror(-r));
        free(error);
        return 2;
    }
    if (cfg.help) {
        config_print_help(stdout);
        config_release(&cfg);
        return 0;
    }
    if (cfg.version) {
        printf("sandq-worker %s\n", SANDQ_VERSION);
        config_release(&cfg);
        return 0;
    }
    log_setup(cfg.log_level, "worker");
    sdnotify_init();
    signal(SIGPIPE, SIG_IGN);
    r = run(&cfg);
    config_release(&cfg);
    return r;
}
