/* zygote_client.c - start and talk to sandq-zygote (see zygote_client.h). */
#include "zygote_client.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXTRA_ARGS 16

struct zygote {
    pid_t pid;
    int sock;
    bool lost;
    bool reaped;
    struct event *read_ev;
    const struct zygote_events *events;
    void *userdata;
};

/* posix_spawn the zygote with the socket as fd 3 and nothing else open
 * but /dev/null and stderr. posix_spawn does the post-fork work with
 * async-signal-safe code we do not have to hand-write. */
static int spawn_process(const char *path, char *const extra_args[], int sock,
                         pid_t *ret_pid)
{
    char *argv[MAX_EXTRA_ARGS + 2] = {(char *)"sandq-zygote"};
    char *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    size_t n = 1;
    int r;

    for (size_t i = 0; extra_args && extra_args[i] && n <= MAX_EXTRA_ARGS; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    if ((r = posix_spawn_file_actions_init(&fa)) != 0)
        return -r;
    if ((r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
        (r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) ||
        (r = posix_spawn_file_actions_adddup2(&fa, sock, ZPROTO_FD)) ||
        (r = posix_spawn_file_actions_addclosefrom_np(&fa, ZPROTO_FD + 1)) ||
        (r = posix_spawn(ret_pid, path, &fa, NULL, argv, envp))) {
        posix_spawn_file_actions_destroy(&fa);
        return -r;
    }
    posix_spawn_file_actions_destroy(&fa);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Block (only at start, before the loop runs) for the READY message. */
static int wait_ready(int sock, int timeout_ms, struct zmsg_ready *ret)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            return -ETIMEDOUT;
        int k = poll(&p, 1, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        if (k == 0)
            return -ETIMEDOUT;
        struct zmsg_ready m;
        ssize_t got = recv(sock, &m, sizeof(m), 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got == 0)
            return -EPIPE;
        if (got != (ssize_t)sizeof(m) || m.type != ZMSG_READY ||
            m.version != ZPROTO_VERSION)
            return -EPROTO;
        m.python_version[sizeof(m.python_version) - 1] = '\0';
        *ret = m;
        return 0;
    }
}

struct zygote *zygote_start(const char *path, char *const extra_args[],
                            int timeout_ms, struct zmsg_ready *ret_ready,
                            int *ret_errno)
{
    int sv[2];
    struct zygote *z = calloc(1, sizeof(*z));
    if (!z) {
        *ret_errno = -ENOMEM;
        return NULL;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        *ret_errno = -errno;
        free(z);
        return NULL;
    }
    /* fd 3 of the zygote must not be the supervisor's own end. */
    int child_end = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    close_keep_errno(sv[1]);
    int r = child_end < 0 ? -errno : spawn_process(path, extra_args, child_end, &z->pid);
    close_keep_errno(child_end);
    z->sock = sv[0];
    if (r == 0)
        r = wait_ready(z->sock, timeout_ms, ret_ready);
    if (r < 0) {
        if (z->pid > 0)
            kill(z->pid, SIGKILL);
        zygote_free(z);
        *ret_errno = r;
        return NULL;
    }
    return z;
}

static void report_lost(struct zygote *z)
{
    if (z->lost)
        return;
    z->lost = true;
    if (z->read_ev)
        event_del(z->read_ev);
    z->events->lost(z->userdata);
}

/* Receive one message and its fd, if any. */
static ssize_t recv_msg(int sock, void *buf, size_t len, int *ret_fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control, .msg_controllen = sizeof(control)};
    ssize_t got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    *ret_fd = -1;
    if (got < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    return got;
}

static void dispatch(struct zygote *z, const void *msg, ssize_t len, int fd)
{
    uint32_t type;
    memcpy(&type, msg, sizeof(type));
    if (type == ZMSG_SPAWNED && len == (ssize_t)sizeof(struct zmsg_spawned)) {
        struct zmsg_spawned m;
        memcpy(&m, msg, sizeof(m));
        z->events->spawned(z->userdata, &m, fd);
        return;
    }
    if (type == ZMSG_EXITED && len == (ssize_t)sizeof(struct zmsg_exited)) {
        struct zmsg_exited m;
        memcpy(&m, msg, sizeof(m));
        z->events->exited(z->userdata, &m);
    } else {
        log_error("zygote sent an unknown message (type %u, %zd bytes)", type,
                  len);
    }
    close_keep_errno(fd);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct zygote *z = arg;
    union {
        struct zmsg_spawned s;
        struct zmsg_exited e;
        char raw[256];
    } msg;
    for (;;) {
        int passed;
        ssize_t got = recv_msg(z->sock, &msg, sizeof(msg), &passed);
        if (got == -EAGAIN || got == -EINTR)
            return;
        if (got <= 0) {
            if (got < 0)
                log_error("zygote socket: %s", strerror((int)-got));
            report_lost(z);
            return;
        }
        if (got < (ssize_t)sizeof(uint32_t)) {
            close_keep_errno(passed);
            continue;
        }
        dispatch(z, &msg, got, passed);
        if (z->lost)
            return;
    }
}

int zygote_attach(struct zygote *z, struct event_base *base,
                  const struct zygote_events *events, void *userdata)
{
    z->events = events;
    z->userdata = userdata;
    z->read_ev = event_new(base, z->sock, EV_READ | EV_PERSIST, on_readable, z);
    if (!z->read_ev || event_add(z->read_ev, NULL) < 0)
        return -ENOMEM;
    return 0;
}

int zygote_spawn(struct zygote *z, const struct zmsg_spawn *req, int job_read,
                 int result_write, const int *cgroup_fds, unsigned n_cgroup_fds)
{
    int fds[2 + ZPROTO_MAX_CGROUP_FDS] = {job_read, result_write};
    char control[CMSG_SPACE(sizeof(fds))];
    if (n_cgroup_fds > ZPROTO_MAX_CGROUP_FDS || req->n_cgroup_fds != n_cgroup_fds)
        return -EINVAL;
    for (unsigned i = 0; i < n_cgroup_fds; i++)
        fds[2 + i] = cgroup_fds[i];
    size_t fd_bytes = sizeof(int) * (2 + n_cgroup_fds);
    struct iovec iov = {.iov_base = (void *)req, .iov_len = sizeof(*req)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = control, .msg_controllen = sizeof(control)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

    if (z->lost)
        return -EPIPE;
    memset(control, 0, sizeof(control));
    mh.msg_controllen = CMSG_SPACE(fd_bytes);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fd_bytes);
    memcpy(CMSG_DATA(c), fds, fd_bytes);
    if (sendmsg(z->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return -errno;
    return 0;
}

void zygote_set_events(struct zygote *z, const struct zygote_events *events,
                       void *userdata)
{
    z->events = events;
    z->userdata = userdata;
}

int zygote_poll(struct zygote *z, int timeout_ms)
{
    struct pollfd p = {.fd = z->sock, .events = POLLIN};
    union {
        struct zmsg_spawned s;
        struct zmsg_exited e;
        char raw[256];
    } msg;
    int passed;
    if (z->lost)
        return -EPIPE;
    int k = poll(&p, 1, timeout_ms);
    if (k < 0)
        return errno == EINTR ? 0 : -errno;
    if (k == 0)
        return 0;
    ssize_t got = recv_msg(z->sock, &msg, sizeof(msg), &passed);
    if (got == -EAGAIN || got == -EINTR)
        return 0;
    if (got <= 0) {
        report_lost(z);
        return -EPIPE;
    }
    if (got < (ssize_t)sizeof(uint32_t)) {
        close_keep_errno(passed);
        return 0;
    }
    dispatch(z, &msg, got, passed);
    return 1;
}

pid_t zygote_pid(const struct zygote *z)
{
    return z->pid;
}

void zygote_check_exit(struct zygote *z)
{
    int status;
    if (!z || z->reaped || z->pid <= 0)
        return;
    pid_t p = waitpid(z->pid, &status, WNOHANG);
    if (p != z->pid)
        return;
    z->reaped = true;
    if (WIFSIGNALED(status))
        log_error("zygote (pid %d) killed by signal %d", (int)z->pid,
                  WTERMSIG(status));
    else
        log_error("zygote (pid %d) exited with code %d", (int)z->pid,
                  WEXITSTATUS(status));
    if (z->events)
        report_lost(z);
}

void zygote_free(struct zygote *z)
{
    if (!z)
        return;
    if (z->read_ev)
        event_free(z->read_ev);
    close_keep_errno(z->sock);
    if (z->pid > 0 && !z->reaped) {
        /* EOF on its socket makes it kill its children and exit. */
        pid_t p = 0;
        for (int i = 0; i < 200 && (p = waitpid(z->pid, NULL, WNOHANG)) == 0; i++)
            usleep(5000);
        if (p == 0 && kill(z->pid, SIGKILL) == 0)
            (void)waitpid(z->pid, NULL, 0);
    }
    free(z);
}
