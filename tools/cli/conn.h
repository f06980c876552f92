/* conn.h - the CLI's Redis connections (hiredis, synchronous): connect with
 * the --redis URL (AUTH, SELECT), run one command, and the reply helpers.
 *
 * Every function returns 0 or a negative errno and, on failure, leaves a
 * readable detail in cli->err:
 *   -ENOTCONN  cannot connect (or AUTH/SELECT refused)   -> exit 3
 *   -EIO       the connection broke mid-command          -> exit 3
 *   -EPROTO    Redis answered with an error, or an unexpected reply type
 *   -EINVAL    the URL is malformed                      -> exit 2
 *   -ENOMEM */
#ifndef SANDQ_CLI_CONN_H
#define SANDQ_CLI_CONN_H

#include "cli.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

static inline void cleanup_reply(redisReply **r)
{
    if (*r)
        freeReplyObject(*r);
}
static inline void cleanup_redis(redisContext **c)
{
    if (*c)
        redisFree(*c);
}
#define _cleanup_reply_ __attribute__((cleanup(cleanup_reply)))
#define _cleanup_redis_ __attribute__((cleanup(cleanup_redis)))

/* Parse cli->redis_url and connect cli->rc; also builds cli->redis_cli. */
int conn_open(struct cli *cli);

/* A second connection to the same server (for SUBSCRIBE); the caller
 * frees *ret with redisFree(). */
int conn_open_extra(struct cli *cli, redisContext **ret);

/* Release cli->rc, cli->url and cli->redis_cli. */
void conn_close(struct cli *cli);

/* Run one command on cli->rc; *ret is the caller's (freeReplyObject). An
 * error reply is -EPROTO with its text in cli->err. */
int conn_command(struct cli *cli, redisReply **ret, const char *fmt, ...);

/* The same with binary-safe arguments (lens may be NULL for C strings). */
int conn_command_argv(struct cli *cli, redisReply **ret, int argc,
                      const char **argv, const size_t *lens);

/* Map a conn_* failure to the exit code documented in conn.h. */
int conn_exit_code(int r);

/* The integer of an INTEGER reply; -EPROTO for another type. */
int reply_integer(struct cli *cli, const redisReply *r, long long *ret);

/* In a flat HGETALL reply, the value of field (NULL when absent). */
const redisReply *reply_hash_get(const redisReply *hash, const char *field);

/* True when r is a STRING reply equal to s. */
int reply_is(const redisReply *r, const char *s);

#endif
