/* test_cgroup.c - common/cgroup.c against the real kernel.
 *
 * The module is included rather than linked so the tests can look at its
 * paths and force the v2 "recreate the slot" path. Its public names are
 * renamed for this translation unit, so the copy in libsandq-common.a (or
 * common/cgroup.c itself, which the Makefile's dependency tracking adds to
 * the link line once it is a recorded prerequisite) cannot clash.
 *
 * v1 tests use the host's v1 controllers (auto root). v2 tests run under a
 * fresh directory in the cgroup2 mount (/sys/fs/cgroup when it is cgroup2,
 * else /sys/fs/cgroup/unified) into which the test process (a TEST_FORK
 * child, never the runner) moves itself. The same bodies (OOM, pids, CPU,
 * kill, stale, free) run on both; a controller the machine lacks makes the
 * test SKIP with the reason, and needs root. Processes standing in for job
 * children are forked here and join by writing "0" to the prepared fds,
 * exactly as worker/child.c does. */
#include "harness.h"

#define cgroup_mgr_open test_cgroup_mgr_open
#define cgroup_mgr_describe test_cgroup_mgr_describe
#define cgroup_mgr_controllers test_cgroup_mgr_controllers
#define cgroup_slot_prepare test_cgroup_slot_prepare
#define cgroup_slot_collect test_cgroup_slot_collect
#define cgroup_slot_kill test_cgroup_slot_kill
#define cgroup_mgr_free test_cgroup_mgr_free
#include "cgroup.c"

#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>

#define MiB (1024u * 1024u)

static unsigned id_counter;

/* A worker id nobody else uses. */
static const char *unique_id(void)
{
    static char id[64];
    snprintf(id, sizeof(id), "test:%d-%u", (int)getpid(), id_counter++);
    return id;
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool slot_dir_exists(const struct cgroup_mgr *m, unsigned h, unsigned slot)
{
    char dir[PATH_MAX];
    return slot_path(m, h, slot, NULL, dir) == 0 && dir_exists(dir);
}

static size_t slot_nprocs(const struct cgroup_mgr *m, unsigned slot)
{
    char dir[PATH_MAX];
    struct pid_list l = {0};
    size_t n = 0;
    if (slot_path(m, 0, slot, NULL, dir) == 0 && procs_read(dir, &l) == 0)
        n = l.n;
    pid_list_release(&l);
    return n;
}

/* Forget a manager without touching its cgroups: a "crashed" worker. */
static void forget(struct cgroup_mgr *m)
{
    for (unsigned s = 0; s < m->n_slots; s++)
        close_keep_errno(m->slots[s].peak_fd);
    for (unsigned h = 0; h < CTRL_N; h++)
        free(m->hier[h]);
    free(m->root);
    free(m->name);
    free(m->description);
    free(m->slots);
    free(m);
}

static void close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
}

/* Fork a stand-in job child: join the slot through fds (exit 90 if that
 * fails), write one byte to ready_fd (if >= 0), then return body()'s value
 * as the exit code. The fds stay open in the caller. */
static pid_t spawn_joined(const int *fds, unsigned n, int ready_fd, int (*body)(void))
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    for (unsigned i = 0; i < n; i++)
        if (write(fds[i], "0", 1) != 1)
            _exit(90);
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
    if (ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
        _exit(91);
    _exit(body());
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

/* ---- job bodies ---- */

/* Touch 200 MiB, one page at a time. */
static int body_alloc_200(void)
{
    size_t len = 200 * MiB;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    return 0; /* survived: the limit did not work */
}

static int body_alloc_16(void)
{
    size_t len = 16 * MiB;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    return 0;
}

/* 0 if fork() fails with EAGAIN, 1 if it succeeds, 2 other error. */
static int body_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        (void)wait_status(pid);
        return 1;
    }
    return errno == EAGAIN ? 0 : 2;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spin for 1 s of wall time; exit code = CPU time used in units of 10 ms. */
static int body_spin_1s(void)
{
    double end = wall_now() + 1.0;
    volatile unsigned long x = 0;
    while (wall_now() < end)
        x++;
    double cpu = cpu_now() * 100;
    return cpu > 250 ? 250 : (int)cpu;
}

/* Spin for 200 ms of CPU, then wait to be killed. */
static int body_spin_then_pause(void)
{
    volatile unsigned long x = 0;
    while (cpu_now() < 0.2)
        x++;
    for (;;)
        pause();
    return 0;
}

/* Three children that wait to be killed, then the same. */
static int body_fork3_pause(void)
{
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 3;
        if (pid == 0)
            for (;;)
                pause();
    }
    for (;;)
        pause();
    return 0;
}

static int body_pause(void)
{
    for (;;)
        pause();
    return 0;
}

/* ---- environments ---- */

/* NULL if real v1 cgroups can be used here, else why not. */
static const char *v1_unavailable(void)
{
    long magic = 0;
    if (geteuid() != 0)
        return "cgroup tests need root";
    if (fs_magic(CG_DEFAULT_ROOT, &magic) < 0 || magic == CGROUP2_SUPER_MAGIC)
        return "no cgroup v1 here (" CG_DEFAULT_ROOT " is cgroup2 or missing)";
    if (fs_magic(CG_DEFAULT_ROOT "/memory", &magic) < 0 || magic != CGROUP_SUPER_MAGIC)
        return "no cgroup v1 memory hierarchy at " CG_DEFAULT_ROOT "/memory";
    return NULL;
}

static char v2_mount[PATH_MAX], v2_root[PATH_MAX];

/* Make a fresh v2 root and move this (forked test) process into it, as a
 * worker started by systemd sits in its unit's cgroup. NULL or why not. */
static const char *v2_enter(void)
{
    static char why[PATH_MAX + 128];
    const char *mounts[] = {CG_DEFAULT_ROOT, CG_DEFAULT_ROOT "/unified"};
    char procs[PATH_MAX];
    long magic = 0;
    int r;
    if (geteuid() != 0)
        return "cgroup tests need root";
    v2_mount[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(mounts) && !v2_mount[0]; i++)
        if (fs_magic(mounts[i], &magic) == 0 && magic == CGROUP2_SUPER_MAGIC)
            snprintf(v2_mount, sizeof(v2_mount), "%s", mounts[i]);
    if (!v2_mount[0])
        return "no cgroup2 mount at " CG_DEFAULT_ROOT " or " CG_DEFAULT_ROOT "/unified";
    if (path_fmt(v2_root, "%s/sandq-unit-%d", v2_mount, (int)getpid()) < 0)
        return "path too long";
    if (mkdir(v2_root, 0755) < 0) {
        snprintf(why, sizeof(why), "cannot create %s: %s", v2_root, strerror(errno));
        return why;
    }
    if ((r = path_fmt(procs, "%s/cgroup.procs", v2_root)) < 0 ||
        (r = file_write_string(procs, "0")) < 0) {
        snprintf(why, sizeof(why), "cannot move into %s: %s", v2_root, strerror(-r));
        (void)rmdir(v2_root);
        return why;
    }
    return NULL;
}

/* Back to the mount's root cgroup; remove the test root. */
static void v2_leave_root(void)
{
    char procs[PATH_MAX];
    CHECK_EQ_INT(path_fmt(procs, "%s/cgroup.procs", v2_mount), 0);
    CHECK_EQ_INT(file_write_string(procs, "0"), 0);
    CHECK_EQ_INT(remove_tree(v2_root, NULL), 0);
}

/* The root's cgroup.controllers, for SKIP messages. */
static const char *v2_controllers(void)
{
    static char text[256];
    char path[PATH_MAX];
    _cleanup_free_ char *t = NULL;
    if (path_fmt(path, "%s/cgroup.controllers", v2_root) < 0 || read_file(path, &t) < 0)
        return "unreadable";
    t[strcspn(t, "\n")] = '\0';
    snprintf(text, sizeof(text), "%s", t[0] ? t : "none");
    return text;
}

/* Open with required controllers; on EOPNOTSUPP print why and return
 * NULL (the caller SKIPs). */
static struct cgroup_mgr *open_or_skip(const char *root, unsigned slots,
                                       unsigned required, bool *skipped)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    int r = cgroup_mgr_open(root, unique_id(), slots, required, &m, &err);
    *skipped = r == -EOPNOTSUPP;
    if (r == -EOPNOTSUPP)
        printf("    %s\n", err);
    else if (r < 0)
        printf("    cgroup_mgr_open: %s: %s\n", strerror(-r), err ? err : "");
    return m;
}

/* ---- bodies shared by v1 and v2 (root NULL: auto) ---- */

static void check_oom(const char *root)
{
    bool skipped;
    struct cgroup_mgr *m = open_or_skip(root, 1, CGROUP_MEMORY, &skipped);
    struct cgroup_limits lim = {.memory_bytes = 64 * MiB};
    struct cgroup_usage u = {0};
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    if (skipped)
        SKIP("memory controller not available");
    REQUIRE(m);
    printf("    %s\n", cgroup_mgr_describe(m));
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    pid_t pid = spawn_joined(fds, n, -1, body_alloc_200);
    int st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK_EQ_INT(cgroup_slot_collect(m, 0, &u), 0);
    printf("    200 MiB under 64 MiB: status 0x%x, peak %" PRIu64 " KiB, oom_killed %d\n",
           st, u.memory_peak_kb, u.oom_killed);
    CHECK(u.oom_killed);
    CHECK(u.memory_peak_kb >= 60 * 1024);
    CHECK(u.memory_peak_kb <= 64 * 1024 + 64);

    /* The next job starts from zero: no OOM, a peak of its own. */
    close_fds(fds, n);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    pid = spawn_joined(fds, n, -1, body_alloc_16);
    st = wait_status(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_INT(cgroup_slot_collect(m, 0, &u), 0);
    printf("    16 MiB next: peak %" PRIu64 " KiB, oom_killed %d\n", u.memory_peak_kb,
           u.oom_killed);
    CHECK(!u.oom_killed);
    CHECK(u.memory_peak_kb >= 16 * 1024);
    CHECK(u.memory_peak_kb < 40 * 1024);
    close_fds(fds, n);
    cgroup_mgr_free(m);
}

static void check_pids(const char *root)
{
    bool skipped;
    struct cgroup_mgr *m = open_or_skip(root, 1, CGROUP_PIDS, &skipped);
    struct cgroup_limits one = {.pids_max = 1}, unlimited = {0};
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    if (skipped)
        SKIP("pids controller not available");
    REQUIRE(m);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &one, fds, &n), 0);
    int st = wait_status(spawn_joined(fds, n, -1, body_fork));
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 0); /* fork() failed with EAGAIN */
    close_fds(fds, n);
    /* and the limit is lifted again for a job without one */
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &unlimited, fds, &n), 0);
    st = wait_status(spawn_joined(fds, n, -1, body_fork));
    CHECK(WIFEXITED(st));
    CHECK_EQ_INT(WEXITSTATUS(st), 1);
    close_fds(fds, n);
    cgroup_mgr_free(m);
}

static void check_cpu(const char *root)
{
    bool skipped;
    struct cgroup_mgr *m = open_or_skip(root, 1, CGROUP_CPU, &skipped);
    struct cgroup_limits lim = {.cpu_quota_pct = 20};
    struct cgroup_usage u = {0};
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    if (skipped)
        SKIP("cpu controller not available");
    REQUIRE(m);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    int st = wait_status(spawn_joined(fds, n, -1, body_spin_1s));
    CHECK_EQ_INT(cgroup_slot_collect(m, 0, &u), 0);
    REQUIRE(WIFEXITED(st) && WEXITSTATUS(st) != 90);
    printf("    1 s spinning at 20%%: %d0 ms CPU (own clock), %" PRIu64 " us (cgroup)\n",
           WEXITSTATUS(st), u.cpu_usec);
    CHECK(WEXITSTATUS(st) <= 40);  /* <= 400 ms of a possible 1000 */
    CHECK(WEXITSTATUS(st) >= 5);
    if (m->version == 2 || m->ctrl_hier[CTRL_CPUACCT] >= 0)
        CHECK(u.cpu_usec >= 50000 && u.cpu_usec <= 450000);
    close_fds(fds, n);
    cgroup_mgr_free(m);
}

/* Kill a job child and the children it forked; CPU is counted meanwhile. */
static void check_kill(const char *root)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    struct cgroup_limits none = {0};
    struct cgroup_usage u = {0};
    int fds[CGROUP_MAX_FDS], fds2[CGROUP_MAX_FDS], ready[2];
    unsigned n = 0, n2 = 0;
    char c;
    REQUIRE(cgroup_mgr_open(root, unique_id(), 2, 0, &m, &err) == 0);
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &none, fds, &n), 0);
    pid_t pid = spawn_joined(fds, n, ready[1], body_fork3_pause);
    CHECK_EQ_INT(read(ready[0], &c, 1), 1);
    for (int i = 0; i < 200 && slot_nprocs(m, 0) < 4; i++)
        sleep_ms(5);
    CHECK_EQ_UINT(slot_nprocs(m, 0), 4);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &none, fds2, &n2), -EBUSY);
    CHECK_EQ_INT(cgroup_slot_kill(m, 0), 0);
    int st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    char dir[PATH_MAX];
    REQUIRE(slot_path(m, 0, 0, NULL, dir) == 0);
    CHECK_EQ_INT(wait_empty(dir), 0); /* the three grandchildren too */
    CHECK_EQ_INT(cgroup_slot_collect(m, 0, &u), 0);
    close_fds(fds, n);

    /* CPU used by a killed job still counts. */
    CHECK_EQ_INT(cgroup_slot_prepare(m, 1, &none, fds, &n), 0);
    pid = spawn_joined(fds, n, ready[1], body_spin_then_pause);
    CHECK_EQ_INT(read(ready[0], &c, 1), 1);
    sleep_ms(400);
    CHECK_EQ_INT(cgroup_slot_kill(m, 1), 0);
    st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK_EQ_INT(cgroup_slot_collect(m, 1, &u), 0);
    printf("    killed job: cpu %" PRIu64 " us\n", u.cpu_usec);
    if (m->version == 2 || m->ctrl_hier[CTRL_CPUACCT] >= 0)
        CHECK(u.cpu_usec >= 150000);
    CHECK(!u.oom_killed);
    close_fds(fds, n);
    close(ready[0]);
    close(ready[1]);
    cgroup_mgr_free(m);
}

/* A crashed worker's cgroups (with a process in them) are replaced by the
 * next open with the same id. */
static void check_stale(const char *root)
{
    struct cgroup_mgr *m = NULL, *m2 = NULL;
    _cleanup_free_ char *err = NULL;
    struct cgroup_limits none = {0};
    int fds[CGROUP_MAX_FDS], ready[2];
    unsigned n = 0;
    char c, id[64], base[CTRL_N][PATH_MAX];
    struct stat before, after;
    snprintf(id, sizeof(id), "%s", unique_id());
    REQUIRE(cgroup_mgr_open(root, id, 2, 0, &m, &err) == 0);
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 1, &none, fds, &n), 0);
    pid_t pid = spawn_joined(fds, n, ready[1], body_pause);
    CHECK_EQ_INT(read(ready[0], &c, 1), 1);
    close_fds(fds, n);
    char slot0[PATH_MAX];
    REQUIRE(slot_path(m, 0, 0, NULL, slot0) == 0);
    CHECK_EQ_INT(stat(slot0, &before), 0);
    unsigned n_hier = m->n_hier;
    for (unsigned h = 0; h < n_hier; h++)
        snprintf(base[h], sizeof(base[h]), "%s", m->hier[h]);
    forget(m); /* crash */

    REQUIRE(cgroup_mgr_open(root, id, 1, 0, &m2, &err) == 0);
    int st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK_EQ_INT(stat(slot0, &after), 0);
    CHECK(before.st_ino != after.st_ino); /* a new directory */
    for (unsigned h = 0; h < m2->n_hier; h++) {
        CHECK(slot_dir_exists(m2, h, 0));
        CHECK(!slot_dir_exists(m2, h, 1));
    }
    cgroup_mgr_free(m2);
    for (unsigned h = 0; h < n_hier; h++)
        CHECK(!dir_exists(base[h]));
    close(ready[0]);
    close(ready[1]);
}

/* ---- no cgroups needed ---- */

TEST(parsers)
{
    uint64_t v = 0;
    const char *oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    CHECK_EQ_INT(parse_keyed_u64(oom, "oom_kill", &v), 0);
    CHECK_EQ_UINT(v, 3);
    CHECK_EQ_INT(parse_keyed_u64(oom, "oom", &v), -ENODATA);
    CHECK_EQ_INT(parse_keyed_u64("usage_usec 12345\nuser_usec 1", "usage_usec", &v), 0);
    CHECK_EQ_UINT(v, 12345);
    CHECK_EQ_INT(parse_keyed_u64("oom_kill x\n", "oom_kill", &v), -EINVAL);
    CHECK_EQ_INT(parse_u64_text("9223372036854771712\n", &v), 0);
    CHECK_EQ_UINT(v, 9223372036854771712ull);
    CHECK_EQ_INT(parse_u64_text("max\n", &v), -EINVAL);
    CHECK_EQ_INT(parse_u64_text("1\n2\n", &v), -EINVAL);
    CHECK_EQ_UINT(parse_controllers("cpuset cpu io memory hugetlb pids rdma misc\n"),
                  CGROUP_ALL);
    CHECK_EQ_UINT(parse_controllers("cpuset io hugetlb\n"), 0);
    CHECK_EQ_UINT(parse_controllers("memoryx cpu\n"), CGROUP_CPU);
    CHECK_EQ_UINT(parse_controllers(""), 0);
}

TEST(worker_id_sanitised)
{
    _cleanup_free_ char *a = sanitised_name("host-1:1234");
    _cleanup_free_ char *b = sanitised_name("../x/y z\n");
    CHECK_STREQ(a, "sandq-host-1_1234");
    CHECK_STREQ(b, "sandq-.._x_y_z_");
}

TEST(bad_arguments_and_roots)
{
    struct cgroup_mgr *m = NULL;
    char *err = NULL;
    char tmp[] = "/tmp/sandq-cg-XXXXXX";
    CHECK_EQ_INT(cgroup_mgr_open(NULL, "", 1, 0, &m, &err), -EINVAL);
    CHECK(err != NULL);
    free(err);
    CHECK_EQ_INT(cgroup_mgr_open(NULL, "w", 0, 0, &m, &err), -EINVAL);
    free(err);
    CHECK_EQ_INT(cgroup_mgr_open("/nonexistent/cg", "w", 1, 0, &m, &err), -EINVAL);
    CHECK_CONTAINS(err, "/nonexistent/cg");
    free(err);
    REQUIRE(mkdtemp(tmp));
    CHECK_EQ_INT(cgroup_mgr_open(tmp, "w", 1, 0, &m, &err), -EINVAL);
    printf("    %s\n", err);
    CHECK_CONTAINS(err, tmp);
    free(err);
    CHECK_EQ_INT(rmdir(tmp), 0);
    long magic = 0;
    if (fs_magic(CG_DEFAULT_ROOT "/memory", &magic) == 0 && magic == CGROUP_SUPER_MAGIC) {
        CHECK_EQ_INT(cgroup_mgr_open(CG_DEFAULT_ROOT "/memory", "w", 1, 0, &m, &err),
                     -EINVAL);
        CHECK_CONTAINS(err, "one cgroup v1 hierarchy");
        free(err);
    }
    CHECK(m == NULL);
}

/* ---- v1 ---- */

#define V1_OR_SKIP()                                                           \
    do {                                                                       \
        const char *why_ = v1_unavailable();                                   \
        if (why_)                                                              \
            SKIP(why_);                                                        \
    } while (0)

TEST_FORK(v1_open_layout_free)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    char base[CTRL_N][PATH_MAX];
    V1_OR_SKIP();
    int r = cgroup_mgr_open(NULL, unique_id(), 3, CGROUP_ALL, &m, &err);
    if (r < 0)
        printf("    %s\n", err);
    REQUIRE(r == 0);
    printf("    %s\n", cgroup_mgr_describe(m));
    CHECK_CONTAINS(cgroup_mgr_describe(m), "v1 (memory, pids, cpu");
    CHECK_EQ_UINT(cgroup_mgr_controllers(m), CGROUP_ALL);
    CHECK(m->n_hier >= 3 && m->n_hier <= CGROUP_MAX_FDS);
    for (unsigned c = 0; c < CTRL_N; c++) {
        char want[PATH_MAX];
        if (m->ctrl_hier[c] < 0)
            continue;
        REQUIRE(path_fmt(want, CG_DEFAULT_ROOT "/%s/%s", ctrls[c].name, m->name) == 0);
        /* co-mounted controllers (cpu,cpuacct) share the first one's path */
        if (m->ctrl_hier[c] == (int)c)
            CHECK_STREQ(m->hier[m->ctrl_hier[c]], want);
    }
    for (unsigned h = 0; h < m->n_hier; h++) {
        snprintf(base[h], sizeof(base[h]), "%s", m->hier[h]);
        for (unsigned s = 0; s < 3; s++)
            CHECK(slot_dir_exists(m, h, s));
        CHECK(!slot_dir_exists(m, h, 3));
    }
    unsigned n_hier = m->n_hier;
    CHECK_EQ_INT(cgroup_slot_prepare(m, 3, &(struct cgroup_limits){0}, NULL, NULL), -EINVAL);
    cgroup_mgr_free(m);
    for (unsigned h = 0; h < n_hier; h++)
        CHECK(!dir_exists(base[h]));
}

TEST_FORK(v1_limits_written)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    struct cgroup_limits lim = {.memory_bytes = 64 * MiB, .pids_max = 3,
                                .cpu_quota_pct = 150};
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    uint64_t v;
    V1_OR_SKIP();
    REQUIRE(cgroup_mgr_open(NULL, unique_id(), 1, CGROUP_ALL, &m, &err) == 0);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    CHECK_EQ_UINT(n, m->n_hier);
    close_fds(fds, n);
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_MEMORY, 0, "memory.limit_in_bytes", NULL, &v), 0);
    CHECK_EQ_UINT(v, 64 * MiB);
    if (m->swap_limit) {
        CHECK_EQ_INT(ctrl_read_u64(m, CTRL_MEMORY, 0, "memory.memsw.limit_in_bytes", NULL, &v), 0);
        CHECK_EQ_UINT(v, 64 * MiB);
    } else {
        printf("    no memory.memsw.* here (swapaccount off): swap not limited\n");
    }
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_PIDS, 0, "pids.max", NULL, &v), 0);
    CHECK_EQ_UINT(v, 3);
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_CPU, 0, "cpu.cfs_quota_us", NULL, &v), 0);
    CHECK_EQ_UINT(v, 150000);
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_CPU, 0, "cpu.cfs_period_us", NULL, &v), 0);
    CHECK_EQ_UINT(v, 100000);

    /* Going up needs memsw first, going down the limit first; 0 lifts. */
    lim = (struct cgroup_limits){.memory_bytes = 512 * MiB};
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    close_fds(fds, n);
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_MEMORY, 0, "memory.limit_in_bytes", NULL, &v), 0);
    CHECK_EQ_UINT(v, 512 * MiB);
    lim = (struct cgroup_limits){0};
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &lim, fds, &n), 0);
    close_fds(fds, n);
    CHECK_EQ_INT(ctrl_read_u64(m, CTRL_MEMORY, 0, "memory.limit_in_bytes", NULL, &v), 0);
    CHECK(v > 1ull << 50);
    _cleanup_free_ char *pids = NULL;
    char path[PATH_MAX];
    REQUIRE(ctrl_path(m, CTRL_PIDS, 0, "pids.max", path) == 0);
    CHECK_EQ_INT(read_file(path, &pids), 0);
    CHECK_STREQ(pids, "max\n");
    cgroup_mgr_free(m);
}

TEST_FORK(v1_oom_kill_and_peak)
{
    V1_OR_SKIP();
    check_oom(NULL);
}

TEST_FORK(v1_pids_limit_stops_fork)
{
    V1_OR_SKIP();
    check_pids(NULL);
}

TEST_FORK(v1_cpu_quota)
{
    V1_OR_SKIP();
    check_cpu(NULL);
}

TEST_FORK(v1_kill)
{
    V1_OR_SKIP();
    check_kill(NULL);
}

TEST_FORK(v1_stale_replaced)
{
    V1_OR_SKIP();
    check_stale(NULL);
}

TEST_FORK(v1_explicit_root)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    V1_OR_SKIP();
    REQUIRE(cgroup_mgr_open(CG_DEFAULT_ROOT, unique_id(), 1, CGROUP_ALL, &m, &err) == 0);
    CHECK_CONTAINS(cgroup_mgr_describe(m), "v1 (");
    cgroup_mgr_free(m);
}

/* A host with only some controllers mounted, in a private mount namespace:
 * the memory hierarchy mounted at <tmp>/memory and again at <tmp>/pids
 * (so "pids" is a cgroup mount without pids files, sharing memory's
 * hierarchy), nothing at <tmp>/cpu. */
TEST_FORK(v1_partial_mounts)
{
    struct cgroup_mgr *m = NULL;
    char *err = NULL;
    char tmp[] = "/tmp/sandq-cgv1-XXXXXX", mem[64], pids[64], base[PATH_MAX];
    const char *id = unique_id();
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    V1_OR_SKIP();
    if (unshare(CLONE_NEWNS) < 0)
        SKIP("cannot unshare the mount namespace");
    REQUIRE(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
    REQUIRE(mkdtemp(tmp));
    REQUIRE(mount("tmpfs", tmp, "tmpfs", 0, "size=64k") == 0);
    snprintf(mem, sizeof(mem), "%s/memory", tmp);
    snprintf(pids, sizeof(pids), "%s/pids", tmp);
    REQUIRE(mkdir(mem, 0755) == 0 && mkdir(pids, 0755) == 0);
    if (mount("cgroup", mem, "cgroup", 0, "memory") < 0 ||
        mount("cgroup", pids, "cgroup", 0, "memory") < 0) {
        (void)umount2(tmp, MNT_DETACH);
        (void)rmdir(tmp);
        SKIP("cannot mount the v1 memory hierarchy again");
    }

    CHECK_EQ_INT(cgroup_mgr_open(tmp, id, 1, CGROUP_ALL, &m, &err), -EOPNOTSUPP);
    printf("    %s\n", err);
    CHECK_CONTAINS(err, "pids controller not available");
    CHECK_CONTAINS(err, "mount -t cgroup -o pids cgroup");
    free(err);
    CHECK(m == NULL);
    _cleanup_free_ char *name = sanitised_name(id);
    REQUIRE(name && path_fmt(base, CG_DEFAULT_ROOT "/memory/%s", name) == 0);
    CHECK(!dir_exists(base)); /* a failed open leaves nothing */

    REQUIRE(cgroup_mgr_open(tmp, id, 1, CGROUP_MEMORY, &m, &err) == 0);
    printf("    %s\n", cgroup_mgr_describe(m));
    CHECK_CONTAINS(cgroup_mgr_describe(m), "v1 (memory; missing: pids, cpu)");
    CHECK_EQ_UINT(cgroup_mgr_controllers(m), CGROUP_MEMORY);
    CHECK(dir_exists(base));
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &(struct cgroup_limits){.memory_bytes = 64 * MiB},
                                     fds, &n), 0);
    CHECK_EQ_UINT(n, 1); /* one hierarchy, mounted twice: one fd */
    close_fds(fds, n);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &(struct cgroup_limits){.pids_max = 1}, fds, &n),
                 -EOPNOTSUPP);
    cgroup_mgr_free(m);
    CHECK(!dir_exists(base));
    CHECK_EQ_INT(umount2(tmp, MNT_DETACH), 0);
    CHECK_EQ_INT(rmdir(tmp), 0);
}

/* ---- v2 ---- */

#define V2_OR_SKIP()                                                           \
    do {                                                                       \
        const char *why_ = v2_enter();                                         \
        if (why_)                                                              \
            SKIP(why_);                                                        \
    } while (0)

TEST_FORK(v2_missing_controller_message)
{
    struct cgroup_mgr *m = NULL;
    char *err = NULL;
    V2_OR_SKIP();
    unsigned avail = parse_controllers(v2_controllers());
    if (avail & CGROUP_MEMORY) {
        v2_leave_root();
        SKIP("the v2 root has a memory controller here: nothing missing to report");
    }
    CHECK_EQ_INT(cgroup_mgr_open(v2_root, unique_id(), 1, CGROUP_MEMORY, &m, &err),
                 -EOPNOTSUPP);
    printf("    %s\n", err);
    CHECK_CONTAINS(err, "cgroup v2 at ");
    CHECK_CONTAINS(err, v2_root);
    CHECK_CONTAINS(err, "memory controller not available (cgroup.controllers: ");
    CHECK_CONTAINS(err, "enable it in the parent's cgroup.subtree_control or run with "
                        "systemd Delegate=yes");
    free(err);
    CHECK(m == NULL);
    /* nothing created, nobody moved */
    CHECK_EQ_INT(procs_has_self(v2_root), 1);
    DIR *d = opendir(v2_root);
    REQUIRE(d);
    for (struct dirent *e; (e = readdir(d));)
        CHECK(e->d_type != DT_DIR || e->d_name[0] == '.');
    closedir(d);
    v2_leave_root();
}

TEST_FORK(v2_lifecycle)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL, *self = NULL;
    struct cgroup_limits none = {0};
    struct cgroup_usage u = {0};
    int fds[CGROUP_MAX_FDS], ready[2];
    unsigned n = 0;
    char c, want[PATH_MAX], base[PATH_MAX];
    V2_OR_SKIP();
    int r = cgroup_mgr_open(v2_root, unique_id(), 2, 0, &m, &err);
    if (r < 0)
        printf("    %s\n", err);
    REQUIRE(r == 0);
    printf("    %s\n", cgroup_mgr_describe(m));
    CHECK_CONTAINS(cgroup_mgr_describe(m), "v2 (");
    snprintf(base, sizeof(base), "%s", m->hier[0]);
    /* the caller left the root for the supervisor leaf */
    CHECK_EQ_INT(procs_has_self(v2_root), 0);
    REQUIRE(self_cgroup_v2(&self) == 0);
    REQUIRE(path_fmt(want, "%s/%s/supervisor", v2_root + strlen(v2_mount), m->name) == 0);
    CHECK_STREQ(self, want);
    free(TAKE_PTR(self));
    CHECK(slot_dir_exists(m, 0, 0) && slot_dir_exists(m, 0, 1));

    /* limits that need a missing controller are refused, never ignored */
    unsigned avail = cgroup_mgr_controllers(m);
    int fds2[CGROUP_MAX_FDS];
    unsigned n2;
    if (!(avail & CGROUP_MEMORY))
        CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &(struct cgroup_limits){.memory_bytes = MiB},
                                         fds2, &n2), -EOPNOTSUPP);
    if (!(avail & CGROUP_PIDS))
        CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &(struct cgroup_limits){.pids_max = 1},
                                         fds2, &n2), -EOPNOTSUPP);

    /* a job joins slot 1 through the fd */
    REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 1, &none, fds, &n), 0);
    CHECK_EQ_UINT(n, 1);
    pid_t pid = spawn_joined(fds, n, ready[1], body_spin_then_pause);
    CHECK_EQ_INT(read(ready[0], &c, 1), 1);
    char path[PATH_MAX];
    _cleanup_free_ char *cg = NULL;
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    CHECK_EQ_INT(read_file(path, &cg), 0);
    REQUIRE(path_fmt(want, "0::%s/%s/slot-1\n", v2_root + strlen(v2_mount), m->name) == 0);
    CHECK_CONTAINS(cg, want);
    sleep_ms(400);
    CHECK_EQ_INT(cgroup_slot_kill(m, 1), 0); /* cgroup.kill */
    int st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK_EQ_INT(cgroup_slot_collect(m, 1, &u), 0);
    printf("    job in slot 1: cpu %" PRIu64 " us, peak %" PRIu64 " KiB, oom %d\n",
           u.cpu_usec, u.memory_peak_kb, u.oom_killed);
    CHECK(u.cpu_usec >= 150000);
    CHECK_EQ_INT(cgroup_slot_collect(m, 1, &u), -EINVAL); /* once per prepare */
    close_fds(fds, n);
    close(ready[0]);
    close(ready[1]);

    cgroup_mgr_free(m);
    CHECK(!dir_exists(base));
    CHECK_EQ_INT(procs_has_self(v2_root), 1); /* back where it was */
    v2_leave_root();
}

/* Before Linux 6.12 memory.peak cannot be reset, and the slot is
 * recreated for every job. Forced here so the path runs on any kernel. */
TEST_FORK(v2_recreate_slot_per_job)
{
    struct cgroup_mgr *m = NULL;
    _cleanup_free_ char *err = NULL;
    struct cgroup_limits none = {0};
    struct cgroup_usage u;
    int fds[CGROUP_MAX_FDS];
    unsigned n = 0;
    struct stat a, b;
    char dir[PATH_MAX];
    V2_OR_SKIP();
    REQUIRE(cgroup_mgr_open(v2_root, unique_id(), 1, 0, &m, &err) == 0);
    m->peak = PEAK_RECREATE;
    REQUIRE(slot_path(m, 0, 0, NULL, dir) == 0);
    CHECK_EQ_INT(stat(dir, &a), 0);
    CHECK_EQ_INT(cgroup_slot_prepare(m, 0, &none, fds, &n), 0);
    CHECK_EQ_INT(stat(dir, &b), 0);
    CHECK(a.st_ino != b.st_ino);
    int st = wait_status(spawn_joined(fds, n, -1, body_alloc_16));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close_fds(fds, n);
    if (m->ctrl_hier[CTRL_MEMORY] >= 0) {
        CHECK_EQ_INT(cgroup_slot_collect(m, 0, &u), 0);
        CHECK(u.memory_peak_kb >= 16 * 1024);
    } else {
        CHECK_EQ_INT(read_peak_kb(m, 0, -1, &u.memory_peak_kb), -EOPNOTSUPP);
        printf("    no v2 memory controller: peak read not exercised\n");
    }
    cgroup_mgr_free(m);
    v2_leave_root();
}

TEST_FORK(v2_kill)
{
    V2_OR_SKIP();
    check_kill(v2_root);
    v2_leave_root();
}

TEST_FORK(v2_stale_replaced)
{
    V2_OR_SKIP();
    check_stale(v2_root);
    v2_leave_root();
}

TEST_FORK(v2_oom_kill_and_peak)
{
    V2_OR_SKIP();
    if (!(parse_controllers(v2_controllers()) & CGROUP_MEMORY)) {
        static char why[PATH_MAX + 512];
        snprintf(why, sizeof(why), "no memory controller in cgroup v2 at %s "
                 "(cgroup.controllers: %s)", v2_root, v2_controllers());
        v2_leave_root();
        SKIP(why);
    }
    check_oom(v2_root);
    v2_leave_root();
}

TEST_FORK(v2_pids_limit_stops_fork)
{
    V2_OR_SKIP();
    if (!(parse_controllers(v2_controllers()) & CGROUP_PIDS)) {
        static char why[PATH_MAX + 512];
        snprintf(why, sizeof(why), "no pids controller in cgroup v2 at %s "
                 "(cgroup.controllers: %s)", v2_root, v2_controllers());
        v2_leave_root();
        SKIP(why);
    }
    check_pids(v2_root);
    v2_leave_root();
}

TEST_FORK(v2_cpu_quota)
{
    V2_OR_SKIP();
    if (!(parse_controllers(v2_controllers()) & CGROUP_CPU)) {
        static char why[PATH_MAX + 512];
        snprintf(why, sizeof(why), "no cpu controller in cgroup v2 at %s "
                 "(cgroup.controllers: %s)", v2_root, v2_controllers());
        v2_leave_root();
        SKIP(why);
    }
    check_cpu(v2_root);
    v2_leave_root();
}
