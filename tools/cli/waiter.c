/* waiter.c - subscribe, then look, then wait (see waiter.h). */
#include "waiter.h"

#include "clock.h"
#include "conn.h"
#include "keys.h"
#include "outcome.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

/* Look at the hash again this often even without a message: a message is
 * lost when the subscription connection was cut and re-made, or when a
 * tool ends a job without publishing. */
#define RECHECK_MS 2000

/* SUBSCRIBE and wait for Redis to confirm it, so that a message published
 * after this returns cannot be missed. */
static int subscribe(struct cli *cli, redisContext *sub, const char *channel)
{
    redisReply *r = redisCommand(sub, "SUBSCRIBE %s", channel);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
             reply_is(r->element[0], "subscribe");
    if (!r)
        snprintf(cli->err, sizeof(cli->err), "SUBSCRIBE %s: %s", channel,
                 sub->errstr);
    else if (!ok)
        snprintf(cli->err, sizeof(cli->err), "SUBSCRIBE %s: unexpected reply",
                 channel);
    if (r)
        freeReplyObject(r);
    return ok ? 0 : r ? -EPROTO : -EIO;
}

/* 1 when the job's status is final, 0 when not yet, -ENOENT when there is
 * no job (a hash without status is a job not yet started). */
static int status_is_final(struct cli *cli, const char *key)
{
    _cleanup_reply_ redisReply *st = NULL;
    _cleanup_reply_ redisReply *exists = NULL;
    long long n;
    int r = conn_command(cli, &st, "HGET %s status", key);
    if (r < 0)
        return r;
    if (st->type == REDIS_REPLY_STRING)
        return outcome_status_is_final(st->str);
    if ((r = conn_command(cli, &exists, "EXISTS %s", key)) < 0 ||
        (r = reply_integer(cli, exists, &n)) < 0)
        return r;
    return n ? 0 : -ENOENT;
}

/* Wait up to timeout_ms for one reply on the subscription: 0 when one
 * came (and was consumed), -ETIMEDOUT, -EIO. */
static int next_message(struct cli *cli, redisContext *sub, int timeout_ms)
{
    void *reply = NULL;
    struct pollfd p = {.fd = sub->fd, .events = POLLIN};
    if (redisReaderGetReply(sub->reader, &reply) != REDIS_OK)
        goto broken;
    while (!reply) {
        int n = poll(&p, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return -ETIMEDOUT;
        if (n < 0 || redisBufferRead(sub) != REDIS_OK ||
            redisReaderGetReply(sub->reader, &reply) != REDIS_OK)
            goto broken;
    }
    freeReplyObject(reply);
    return 0;
broken:
    snprintf(cli->err, sizeof(cli->err), "lost the subscription to Redis: %s",
             sub->errstr[0] ? sub->errstr : "connection closed");
    return -EIO;
}

int waiter_wait(struct cli *cli, const char *id, long long timeout_ms)
{
    _cleanup_free_ char *key = keys_make(cli->prefix, KEY_JOB, id);
    _cleanup_free_ char *channel = keys_make(cli->prefix, KEY_DONE, id);
    _cleanup_redis_ redisContext *sub = NULL;
    long long deadline = timeout_ms < 0 ? -1 : clock_mono_ms() + timeout_ms;
    int r;
    if (!key || !channel)
        return -ENOMEM;
    if ((r = conn_open_extra(cli, &sub)) < 0 ||
        (r = subscribe(cli, sub, channel)) < 0)
        return r;
    for (;;) {
        if ((r = status_is_final(cli, key)) != 0)
            return r < 0 ? r : 0;
        long long left = deadline < 0 ? RECHECK_MS : deadline - clock_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        r = next_message(cli, sub, (int)(left < RECHECK_MS ? left : RECHECK_MS));
        if (r < 0 && r != -ETIMEDOUT)
            return r;
    }
}
