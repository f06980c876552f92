/* selftest.c - run probe jobs through real zygotes and show, layer by
 * layer, what the sandbox stopped (see selftest.h, worker/probe.h).
 *
 * With every layer on, seccomp stops nearly every probe, which proves
 * seccomp but hides the layers beneath it. So a second zygote is started
 * with seccomp and the rlimits switched off, exactly as the per-layer
 * tests do, and the namespace, capability and cgroup probes run there:
 * each then shows its own layer holding on its own. */
#include "selftest.h"

#include "cgroup.h"
#include "frame.h"
#include "layers.h"
#include "log.h"
#include "outcome.h"
#include "util.h"
#include "zygote_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_MEMORY_MB 64
#define PROBE_TIME_MS 5000

/* What one probe job ended with. */
struct probe_result {
    struct outcome outcome;
    struct cgroup_usage usage;
    bool ran;
};

/* Events from the zygote while one probe runs. */
struct wait_state {
    uint64_t token;
    int pidfd;
    bool exited;
    struct zmsg_exited exit;
};

static void on_spawned(void *ud, const struct zmsg_spawned *m, int pidfd)
{
    struct wait_state *w = ud;
    if (m->token != w->token) {
        close_keep_errno(pidfd);
        return;
    }
    w->pidfd = pidfd;
    if (m->pid <= 0) {
        w->exited = true;
        w->exit.wait_status = ZEXIT_SANDBOX << 8;
    }
}

static void on_exited(void *ud, const struct zmsg_exited *m)
{
    struct wait_state *w = ud;
    if (m->token == w->token) {
        w->exited = true;
        w->exit = *m;
    }
}

static void on_lost(void *ud)
{
    struct wait_state *w = ud;
    w->exited = true;
    w->exit.wait_status = SIGKILL;
}

static const struct zygote_events wait_events = {on_spawned, on_exited, on_lost};

/* Read the result pipe to EOF (or the deadline, then kill). */
static void read_result(int fd, struct wait_state *w, struct buf *out)
{
    char chunk[4096];
    for (int waited = 0; waited < PROBE_TIME_MS + 2000;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int k = poll(&p, 1, 100);
        if (k == 0) {
            waited += 100;
            continue;
        }
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n <= 0 && !(n < 0 && errno == EINTR))
            return;
        if (n > 0 && buf_append(out, chunk, (size_t)n) < 0)
            return;
    }
    if (w->pidfd >= 0)
        (void)pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
}

static int send_job(struct zygote *z, struct cgroup_mgr *cg, uint64_t token,
                    int job_rd, int res_wr)
{
    struct cgroup_limits cl = {PROBE_MEMORY_MB * 1024ull * 1024, 1, 100};
    int cg_fds[CGROUP_MAX_FDS];
    unsigned n_cg = 0;
    if (cg && cgroup_slot_prepare(cg, 0, &cl, cg_fds, &n_cg) < 0)
        return -EIO;
    struct zmsg_spawn req = {.type = ZMSG_SPAWN, .token = token,
                             .cpu_limit_ms = PROBE_TIME_MS,
                             .memory_limit_mb = PROBE_MEMORY_MB,
                             .n_cgroup_fds = n_cg};
    int r = zygote_spawn(z, &req, job_rd, res_wr, cg_fds, n_cg);
    for (unsigned i = 0; i < n_cg; i++)
        close_keep_errno(cg_fds[i]);
    return r;
}

/* Run one job (its frames in payload) to the end, blocking. */
static int run_job(struct zygote *z, struct cgroup_mgr *cg,
                   const struct buf *payload, struct probe_result *res)
{
    static uint64_t next_token = 1;
    struct wait_state w = {.token = next_token++, .pidfd = -1};
    int job[2], result[2];
    struct buf out = {0};
    if (pipe2(job, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(result, O_CLOEXEC) < 0) {
        close(job[0]);
        close(job[1]);
        return -errno;
    }
    zygote_set_events(z, &wait_events, &w);
    int r = send_job(z, cg, w.token, job[0], result[1]);
    close(job[0]);
    close(result[1]);
    if (r == 0 && write(job[1], payload->data, payload->len) != (ssize_t)payload->len)
        r = -EIO;
    close(job[1]);
    if (r == 0)
        read_result(result[0], &w, &out);
    close(result[0]);
    while (r == 0 && !w.exited && zygote_poll(z, PROBE_TIME_MS) > 0)
        ;
    close_keep_errno(w.pidfd);
    if (r == 0) {
        struct child_end end = {.wait_status = w.exit.wait_status,
                                .reaped = w.exited,
                                .cpu_limit_ms = 5000,
                                .cpu_ms = (w.exit.utime_us + w.exit.stime_us) / 1000};
        r = outcome_from_child(&res->outcome, out.data, out.len, &end);
        if (cg && cgroup_slot_collect(cg, 0, &res->usage) == 0 && res->usage.oom_killed)
            outcome_set(&res->outcome, "memory_limit", "MemoryLimit",
                        "the kernel's OOM killer stopped it");
        res->ran = r == 0;
    }
    buf_release(&out);
    return r;
}

/* Finish a payload with the end frame, run it, release it. */
static int run_payload(struct zygote *z, struct cgroup_mgr *cg, struct buf *b,
                       int r, struct probe_result *res)
{
    if (r == 0)
        r = buf_append_frame(b, FRAME_JOB_END, "", 0);
    if (r == 0)
        r = run_job(z, cg, b, res);
    buf_release(b);
    return r;
}

static int run_probe(struct zygote *z, struct cgroup_mgr *cg, const char *spec,
                     struct probe_result *res)
{
    struct buf b = {0};
    static const char cap[] = "65536";
    int r = buf_append_frame(&b, FRAME_JOB_PROBE, spec, strlen(spec));
    if (r == 0)
        r = buf_append_frame(&b, FRAME_JOB_OUTPUT_CAP, cap, strlen(cap));
    return run_payload(z, cg, &b, r, res);
}

static int run_python(struct zygote *z, struct cgroup_mgr *cg, const char *code,
                      struct probe_result *res)
{
    struct buf b = {0};
    int r = buf_append_frame(&b, FRAME_JOB_CODE, code, strlen(code));
    if (r == 0)
        r = buf_append_frame(&b, FRAME_JOB_FUNCTION, "f", 1);
    if (r == 0)
        r = buf_append_frame(&b, FRAME_JOB_ARGS, "[]", 2);
    if (r == 0)
        r = buf_append_frame(&b, FRAME_JOB_KWARGS, "{}", 2);
    return run_payload(z, cg, &b, r, res);
}

/* ---- the checks --------------------------------------------------------- */

struct check {
    uint32_t layer;
    bool second;          /* run in the zygote without seccomp/rlimits */
    bool python;          /* code instead of a probe spec */
    const char *spec;     /* probe spec or code; "%d" gets the port/key */
    const char *expect_status;
    const char *expect_text; /* in result or error; NULL: any */
};

static const struct check checks[] = {
    {ZLAYER_SECCOMP, false, false, "syscall", "violation", "uname"},
    {ZLAYER_SECCOMP, false, false, "syscall:i386", "violation", NULL},
    {ZLAYER_SECCOMP, false, false, "net:%d", "violation", "socket"},
    {ZLAYER_MEMORY_RLIMIT, false, true,
     "def f():\n    return len(bytearray(256 * 1024 * 1024))\n", "memory_limit", NULL},
    {ZLAYER_INTERPRETER, false, true,
     "def f():\n    return ().__class__\n", "rejected", NULL},
    {ZLAYER_MOUNTNS, true, false, "fs", "succeeded", "\"root_entries\": 0"},
    {ZLAYER_NETNS, true, false, "net:%d", "succeeded", "ENETUNREACH"},
    {ZLAYER_PIDNS, true, false, "proc", "succeeded", NULL},
    {ZLAYER_USERNS, true, false, "uid", "succeeded", NULL},
    {ZLAYER_CAPS, true, false, "caps", "succeeded", NULL},
    {ZLAYER_UTSNS, true, false, "syscall", "succeeded", "sandq"},
    {ZLAYER_IPCNS, true, false, "ipc:%d", "succeeded", "ENOENT"},
    {ZLAYER_CGROUP, true, false, "fork", "succeeded", "EAGAIN"},
    {ZLAYER_CGROUP, true, false, "memory", "memory_limit", NULL},
};

/* A listener on 127.0.0.1 for the net probes (nothing must reach it). */
static int open_listener(int *ret_port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close_keep_errno(fd);
        return -errno;
    }
    *ret_port = ntohs(sa.sin_port);
    return fd;
}

static const char *layer_name(uint32_t bit)
{
    for (size_t i = 0; i < sizeof(zlayer_names) / sizeof(zlayer_names[0]); i++)
        if (zlayer_names[i].bit == bit)
            return zlayer_names[i].name;
    return "?";
}

/* Run one check; returns true when the observation matches the layer's
 * reported state (active: stopped; missing: anything). */
static bool run_check(const struct check *c, struct zygote *z,
                      struct cgroup_mgr *cg, int arg, bool active, FILE *out)
{
    struct probe_result res = {0};
    char spec[256];
    const char *hole = strstr(c->spec, "%d");
    if (hole)
        snprintf(spec, sizeof(spec), "%.*s%d%s", (int)(hole - c->spec), c->spec,
                 arg, hole + 2);
    else
        snprintf(spec, sizeof(spec), "%s", c->spec);
    int r = c->python ? run_python(z, cg, spec, &res) : run_probe(z, cg, spec, &res);
    const struct outcome *o = &res.outcome;
    const char *text = o->result.data ? o->result.data
                       : o->error.data ? o->error.data : "";
    bool stopped = r == 0 && o->status && strcmp(o->status, c->expect_status) == 0 &&
                   (!c->expect_text || strstr(text, c->expect_text));
    bool ok = !active || stopped;
    fprintf(out, "  %-12s %-6s %-22.22s -> %s: %.120s\n", layer_name(c->layer),
            ok ? (active ? "ok" : "n/a") : "FAIL", c->python ? "python job" : spec,
            r < 0 ? "could not run" : o->status ? o->status : "?", text);
    outcome_release(&res.outcome);
    return ok;
}

static struct zygote *start_zygote(const char *path, const char *disable,
                                   struct zmsg_ready *ready)
{
    int err = 0;
    char *args[] = {(char *)"--unsafe-disable-layers", (char *)disable, NULL};
    struct zygote *z = zygote_start(path, disable && *disable ? args : NULL,
                                    30000, ready, &err);
    if (!z)
        log_error("self-test: zygote '%s' did not start: %s", path, strerror(-err));
    return z;
}

static bool run_checks(const struct worker_config *cfg, const char *path,
                       struct zygote *z, struct cgroup_mgr *cg,
                       uint32_t active, FILE *out)
{
    int port = 0, lfd = open_listener(&port);
    int key = (int)(getpid() & 0x7fffffff);
    int qid = msgget(key, IPC_CREAT | 0600);
    char disable[512];
    snprintf(disable, sizeof(disable), "seccomp,rlimits%s%s",
             cfg->unsafe_disable_layers ? "," : "",
             cfg->unsafe_disable_layers ? cfg->unsafe_disable_layers : "");
    struct zmsg_ready r2;
    struct zygote *z2 = start_zygote(path, disable, &r2);
    bool ok = z2 != NULL && lfd >= 0;
    fprintf(out, "\nchecks (probe jobs; the second group runs with seccomp and "
                 "rlimits off, to see each layer beneath alone):\n");
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        const struct check *c = &checks[i];
        int arg = strchr(c->spec, '%') && strstr(c->spec, "ipc") ? key : port;
        if (c->second && !z2)
            continue;
        ok &= run_check(c, c->second ? z2 : z, cg, arg, (active & c->layer) != 0, out);
    }
    if (qid >= 0)
        (void)msgctl(qid, IPC_RMID, NULL);
    close_keep_errno(lfd);
    zygote_free(z2);
    return ok;
}

int selftest_run(const struct worker_config *cfg, const char *zygote_path,
                 FILE *out)
{
    struct layers_state st = {0};
    const char *bad = NULL;
    char *cg_error = NULL;
    struct cgroup_mgr *cg = NULL;
    struct zmsg_ready ready;

    if (layers_parse(cfg->allow_missing, &st.allowed_missing, &bad) < 0 ||
        layers_parse(cfg->unsafe_disable_layers, &st.disabled, &bad) < 0) {
        fprintf(out, "unknown layer name at '%s'\n", bad);
        return 2;
    }
    if (!(st.disabled & ZLAYER_CGROUP) &&
        cgroup_mgr_open(cfg->cgroup_root, cfg->worker_id, 1, CGROUP_ALL, &cg,
                        &cg_error) < 0)
        cg = NULL;
    struct zygote *z = start_zygote(zygote_path, cfg->unsafe_disable_layers, &ready);
    if (!z) {
        cgroup_mgr_free(cg);
        free(cg_error);
        return 1;
    }
    st.active = ready.layers | (cg ? ZLAYER_CGROUP : 0);
    st.notes = ready.notes;
    st.cgroup_note = cg ? cgroup_mgr_describe(cg) : cg_error;
    fprintf(out, "sandq self-test: Python %s, zygote RSS %llu KiB\n\n",
            ready.python_version, (unsigned long long)ready.rss_kb);
    layers_print_table(out, &st);
    bool ok = run_checks(cfg, zygote_path, z, cg, st.active, out);
    uint32_t refused = layers_refused(&st);
    char names[256];
    layers_format(refused, names, sizeof(names));
    fprintf(out, "\n%s\n", refused ? "RESULT: layers missing without --allow-missing: "
                         : ok ? "RESULT: every layer active or explicitly allowed missing; all checks held"
                              : "RESULT: a check did not hold (see FAIL above)");
    if (refused)
        fprintf(out, "  %s\n", names);
    zygote_free(z);
    cgroup_mgr_free(cg);
    free(cg_error);
    return refused || !ok ? 1 : 0;
}
