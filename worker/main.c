/* main.c - sandq-worker: flags, startup checks, the zygote, the loop. The
 * only place that exits the process. */
#include "cgroup.h"
#include "config.h"
#include "layers.h"
#include "log.h"
#include "redis_url.h"
#include "sdnotify.h"
#include "selftest.h"
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

#define ZYGOTE_MAX_ARGS 12

/* Zygote arguments from the flags; pointers borrow cfg. */
static void zygote_args(const struct worker_config *cfg,
                        char *args[ZYGOTE_MAX_ARGS + 1])
{
    size_t n = 0;
    args[n++] = (char *)"--log-level";
    args[n++] = cfg->log_level_name;
    if (cfg->allow_missing) {
        args[n++] = (char *)"--allow-missing";
        args[n++] = cfg->allow_missing;
    }
    if (cfg->sandbox_uid) {
        args[n++] = (char *)"--sandbox-uid";
        args[n++] = cfg->sandbox_uid;
    }
    if (cfg->modules) {
        args[n++] = (char *)"--modules";
        args[n++] = cfg->modules;
    }
    if (cfg->unsafe_disable_layers) {
        args[n++] = (char *)"--unsafe-disable-layers";
        args[n++] = cfg->unsafe_disable_layers;
    }
    args[n] = NULL;
}

/* The layer rule at start: every layer on, or its absence accepted by the
 * operator. Logged at every start, so a weaker sandbox is never silent. */
static int check_layers(const struct worker_config *cfg,
                        const struct zmsg_ready *ready,
                        const struct cgroup_mgr *cg, const char *cg_error)
{
    struct layers_state st = {.notes = ready->notes};
    const char *bad = NULL;
    (void)layers_parse(cfg->allow_missing, &st.allowed_missing, &bad);
    (void)layers_parse(cfg->unsafe_disable_layers, &st.disabled, &bad);
    st.active = ready->layers | (cg ? ZLAYER_CGROUP : 0);
    st.cgroup_note = cg ? cgroup_mgr_describe(cg) : cg_error;
    layers_log(&st);
    if (st.disabled)
        log_warn("--unsafe-disable-layers is for tests: this worker must not "
                 "run untrusted code");
    uint32_t refused = layers_refused(&st);
    if (!refused)
        return 0;
    char names[256];
    layers_format(refused, names, sizeof(names));
    log_error("refusing to start: sandbox layer(s) %s unavailable on this host "
              "(reasons above; `sandq-worker --self-test` shows them). Fix the "
              "host, or accept a weaker sandbox with --allow-missing %s",
              names, names);
    return -EPERM;
}

/* Parse the layer lists early so a typo exits 2 like any bad flag. */
static int parse_layer_flags(const struct worker_config *cfg)
{
    uint32_t bits;
    const char *bad = NULL;
    if (layers_parse(cfg->allow_missing, &bits, &bad) < 0 ||
        layers_parse(cfg->unsafe_disable_layers, &bits, &bad) < 0) {
        fprintf(stderr, "sandq-worker: unknown sandbox layer at '%s' (layers: "
                        "seccomp, rlimits, memory_rlimit, no_new_privs, caps, "
                        "userns, mountns, netns, pidns, ipcns, utsns, "
                        "namespaces, cgroup, interpreter)\n", bad);
        return -EINVAL;
    }
    return 0;
}

/* Per-slot cgroups, before the zygote starts (on cgroup v2 the supervisor
 * must leave the root first). NULL with *ret_error when unavailable. */
static struct cgroup_mgr *open_cgroups(const struct worker_config *cfg,
                                       char **ret_error)
{
    uint32_t disabled = 0;
    const char *bad;
    struct cgroup_mgr *cg = NULL;
    (void)layers_parse(cfg->unsafe_disable_layers, &disabled, &bad);
    *ret_error = NULL;
    if (disabled & ZLAYER_CGROUP)
        return NULL;
    if (cgroup_mgr_open(cfg->cgroup_root, cfg->worker_id, cfg->slots,
                        CGROUP_ALL, &cg, ret_error) < 0)
        return NULL;
    log_info("cgroups: %s", cgroup_mgr_describe(cg));
    char host[256];
    if (gethostname(host, sizeof(host)) == 0) {
        host[sizeof(host) - 1] = '\0';
        int n = cgroup_mgr_reap_orphans(cg, host);
        if (n > 0)
            log_info("removed the cgroups of %d crashed worker(s) of this host", n);
    }
    return cg;
}

static int serve(struct worker_config *cfg, const struct redis_url *url,
                 const char *zygote_path)
{
    char *zargs[ZYGOTE_MAX_ARGS + 1];
    char *cg_error = NULL;
    struct zmsg_ready ready;
    int err = 0, code = 1;

    struct cgroup_mgr *cg = open_cgroups(cfg, &cg_error);
    zygote_args(cfg, zargs);
    struct zygote *z = zygote_start(zygote_path, zargs, ZYGOTE_READY_TIMEOUT_MS,
                                    &ready, &err);
    if (!z) {
        log_error("the zygote '%s' did not start: %s", zygote_path,
                  strerror(-err));
        goto out;
    }
    log_info("sandq-worker %s: zygote pid %d ready (Python %s, %llu KiB RSS)",
             SANDQ_VERSION, (int)ready.pid, ready.python_version,
             (unsigned long long)ready.rss_kb);
    if (check_layers(cfg, &ready, cg, cg_error) < 0) {
        zygote_free(z);
        goto out;
    }
    struct supervisor *s = supervisor_new(cfg, url, z, &ready, zygote_path,
                                          zargs, cg, &err);
    if (!s) {
        log_error("cannot set up the worker: %s", strerror(-err));
        goto out;
    }
    code = supervisor_run(s);
    supervisor_free(s);
out:
    cgroup_mgr_free(cg);
    free(cg_error);
    return code;
}

static int run(struct worker_config *cfg)
{
    struct redis_url url;
    const char *url_error = NULL;
    char zygote_path[PATH_MAX];

    if (parse_layer_flags(cfg) < 0)
        return 2;
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
    int code = cfg->self_test ? selftest_run(cfg, zygote_path, stdout)
                              : serve(cfg, &url, zygote_path);
    redis_url_release(&url);
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
