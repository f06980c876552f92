/* redis_conn.c - a self-healing hiredis async connection (see
 * redis_conn.h). */
#include "redis_conn.h"

#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

struct redis_conn {
    struct event_base *base;
    struct redis_url url;
    char *name;
    redisAsyncContext *ac;   /* NULL while waiting to reconnect */
    bool up;
    bool freeing;
    long long client_id;
    unsigned backoff_ms;
    struct event *retry;
    redis_conn_state_fn *on_state;
    void *userdata;
};

static void conn_connect(struct redis_conn *c);

static void set_up(struct redis_conn *c, bool up)
{
    if (c->up == up)
        return;
    c->up = up;
    if (!up)
        c->client_id = -1;
    c->on_state(c->userdata, up);
}

static void schedule_retry(struct redis_conn *c)
{
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    if (c->freeing)
        return;
    evtimer_add(c->retry, &tv);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
                                                         : c->backoff_ms * 2;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    conn_connect(arg);
}

/* The last handshake reply: the connection is usable from here on. */
static void on_client_id(redisAsyncContext *ac, void *r, void *privdata)
{
    struct redis_conn *c = privdata;
    redisReply *reply = r;
    if (!reply || c->ac != ac)
        return;
    if (reply->type != REDIS_REPLY_INTEGER) {
        log_error("redis '%s': handshake failed: %s", c->name,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "bad reply");
        redisAsyncDisconnect(ac);
        return;
    }
    c->client_id = reply->integer;
    c->backoff_ms = BACKOFF_MIN_MS;
    log_info("redis '%s': connected (client id %lld)", c->name, c->client_id);
    set_up(c, true);
}

static void on_handshake_step(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply *reply = r;
    struct redis_conn *c = privdata;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("redis '%s': %s", c->name, reply->str);
}

static void send_handshake(struct redis_conn *c)
{
    char db[16];
    if (c->url.password) {
        if (c->url.user)
            redisAsyncCommand(c->ac, on_handshake_step, c, "AUTH %s %s",
                              c->url.user, c->url.password);
        else
            redisAsyncCommand(c->ac, on_handshake_step, c, "AUTH %s",
                              c->url.password);
    }
    snprintf(db, sizeof(db), "%u", c->url.db);
    redisAsyncCommand(c->ac, on_handshake_step, c, "SELECT %s", db);
    redisAsyncCommand(c->ac, on_handshake_step, c, "CLIENT SETNAME %s",
                      c->name);
    redisAsyncCommand(c->ac, on_client_id, c, "CLIENT ID");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    if (status != REDIS_OK) {
        log_warn("redis '%s': cannot connect: %s; retrying in %u ms", c->name,
                 ac->errstr, c->backoff_ms);
        c->ac = NULL; /* hiredis frees it after this callback */
        schedule_retry(c);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    if (c->ac != ac)
        return;
    c->ac = NULL;
    if (!c->freeing)
        log_warn("redis '%s': connection lost%s%s; reconnecting", c->name,
                 status == REDIS_OK ? "" : ": ",
                 status == REDIS_OK ? "" : ac->errstr);
    set_up(c, false);
    schedule_retry(c);
}

static void conn_connect(struct redis_conn *c)
{
    redisAsyncContext *ac = c->url.path ? redisAsyncConnectUnix(c->url.path)
                                        : redisAsyncConnect(c->url.host,
                                                            c->url.port);
    if (!ac || ac->err) {
        log_warn("redis '%s': cannot connect: %s", c->name,
                 ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    if (!c->url.path)
        (void)redisEnableKeepAlive(&ac->c);
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    send_handshake(c);
}

static int url_copy(struct redis_url *dst, const struct redis_url *src)
{
    *dst = *src;
    dst->host = src->host ? strdup(src->host) : NULL;
    dst->path = src->path ? strdup(src->path) : NULL;
    dst->user = src->user ? strdup(src->user) : NULL;
    dst->password = src->password ? strdup(src->password) : NULL;
    if ((src->host && !dst->host) || (src->path && !dst->path) ||
        (src->user && !dst->user) || (src->password && !dst->password)) {
        redis_url_release(dst);
        return -ENOMEM;
    }
    return 0;
}

struct redis_conn *redis_conn_new(struct event_base *base,
                                  const struct redis_url *url,
                                  const char *name,
                                  redis_conn_state_fn *on_state,
                                  void *userdata)
{
    struct redis_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->base = base;
    c->client_id = -1;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->on_state = on_state;
    c->userdata = userdata;
    c->retry = evtimer_new(base, on_retry, c);
    c->name = strdup(name);
    if (!c->retry || !c->name || url_copy(&c->url, url) < 0) {
        if (c->retry)
            event_free(c->retry);
        free(c->name);
        free(c);
        return NULL;
    }
    conn_connect(c);
    return c;
}

int redis_conn_command(struct redis_conn *c, redisCallbackFn *fn,
                       void *privdata, int argc, const char **argv,
                       const size_t *argvlen)
{
    if (!c->up || !c->ac)
        return -ENOTCONN;
    if (redisAsyncCommandArgv(c->ac, fn, privdata, argc, argv, argvlen) !=
        REDIS_OK)
        return -ENOMEM;
    return 0;
}

bool redis_conn_is_up(const struct redis_conn *c)
{
    return c->up;
}

long long redis_conn_client_id(const struct redis_conn *c)
{
    return c->up ? c->client_id : -1;
}

void redis_conn_free(struct redis_conn *c)
{
    if (!c)
        return;
    c->freeing = true;
    c->up = false;
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac); /* pending callbacks run with NULL replies */
    }
    event_free(c->retry);
    redis_url_release(&c->url);
    free(c->name);
    free(c);
}
