/* zygote_client.h - the supervisor's side of the zygote: start it, hand it
 * jobs, hear about its children (protocol in zproto.h).
 *
 * The supervisor never runs Python: the zygote is a separate program
 * (sandq-zygote) started with posix_spawn, an empty environment, /dev/null
 * as stdin/stdout and nothing but the control socket as fd 3. */
#ifndef SANDQ_ZYGOTE_CLIENT_H
#define SANDQ_ZYGOTE_CLIENT_H

#include "zproto.h"

#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct zygote;

struct zygote_events {
    /* A child was forked (pid > 0; pidfd is handed over and the callee
     * closes it) or could not be (pid == -1, err_step/err_errno). */
    void (*spawned)(void *userdata, const struct zmsg_spawned *m, int pidfd);
    /* A child was reaped. */
    void (*exited)(void *userdata, const struct zmsg_exited *m);
    /* The zygote is gone (socket closed or process dead); every child it
     * had is dead too (PR_SET_PDEATHSIG). The zygote object stays valid
     * until zygote_free(). */
    void (*lost)(void *userdata);
};

/* Start path with argv extra_args (NULL-terminated, may be NULL) and wait
 * up to timeout_ms for its READY message, copied to *ret_ready. On failure
 * returns NULL and sets *ret_errno (-ETIMEDOUT, -EPROTO, ...). */
struct zygote *zygote_start(const char *path, char *const extra_args[],
                            int timeout_ms, struct zmsg_ready *ret_ready,
                            int *ret_errno);

/* Start delivering events on base. -ENOMEM. */
int zygote_attach(struct zygote *z, struct event_base *base,
                  const struct zygote_events *events, void *userdata);

/* Without a loop (the self-test): deliver events to these callbacks, and
 * wait up to timeout_ms for one message and dispatch it. poll returns 1
 * when a message was dispatched, 0 on timeout, -EPIPE when the zygote is
 * gone. */
void zygote_set_events(struct zygote *z, const struct zygote_events *events,
                       void *userdata);
int zygote_poll(struct zygote *z, int timeout_ms);

/* Ask for one child. job_read and result_write are sent with the request
 * with the n_cgroup_fds cgroup.procs fds, and stay owned by the caller
 * (close them after this returns). -EPIPE
 * when the zygote is gone, -EAGAIN when its socket is full. */
int zygote_spawn(struct zygote *z, const struct zmsg_spawn *req, int job_read,
                 int result_write, const int *cgroup_fds, unsigned n_cgroup_fds);

pid_t zygote_pid(const struct zygote *z);

/* Called by the supervisor's SIGCHLD handler: reaps the zygote if it died
 * and reports `lost`. */
void zygote_check_exit(struct zygote *z);

/* Close the socket (the zygote kills its children and exits), reap it,
 * free everything. NULL is fine. */
void zygote_free(struct zygote *z);

#endif
