/* conn.c - synchronous Redis connections for the CLI (see conn.h). */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNECT_TIMEOUT_S 5
#define COMMAND_TIMEOUT_S 60

/* Where we connect, for messages: never the URL itself, which may carry a
 * password. */
static void describe_target(const struct redis_url *u, char *buf, size_t len)
{
    if (u->path)
        snprintf(buf, len, "unix socket '%s'", u->path);
    else
        snprintf(buf, len, "%s:%d", u->host, u->port);
}

/* s as one shell word: as it is when it is plain, else in single quotes. */
static void shell_word(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789/._:-") == strlen(s) && *s) {
        snprintf(buf, len, "%s", s);
        return;
    }
    for (buf[n++] = '\''; *s && n + 5 < len; s++) {
        if (*s == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
}

/* The redis-cli flags that reach the same server and database, so each
 * hint can be pasted as it is. The password is never printed: --askpass
 * asks for it. */
static char *build_redis_cli(const struct redis_url *u)
{
    char *s = NULL;
    char target[600] = "", word[512], db[32] = "", auth[600] = "";
    if (u->path) {
        shell_word(u->path, word, sizeof(word));
        snprintf(target, sizeof(target), " -s %s", word);
    } else if (strcmp(u->host, "127.0.0.1") != 0 || u->port != 6379) {
        shell_word(u->host, word, sizeof(word));
        snprintf(target, sizeof(target), " -h %s -p %d", word, u->port);
    }
    if (u->db)
        snprintf(db, sizeof(db), " -n %u", u->db);
    if (u->password) {
        shell_word(u->user ? u->user : "", word, sizeof(word));
        snprintf(auth, sizeof(auth), "%s%s --askpass", u->user ? " --user " : "",
                 u->user ? word : "");
    }
    return asprintf(&s, "redis-cli%s%s%s", target, db, auth) < 0 ? NULL : s;
}

/* Turn a failed hiredis call into -EIO/-ENOMEM with the detail in cli->err. */
static int context_error(struct cli *cli, const redisContext *c)
{
    snprintf(cli->err, sizeof(cli->err), "lost the connection to Redis: %s",
             c->errstr[0] ? c->errstr : "no reply");
    return c->err == REDIS_ERR_OOM ? -ENOMEM : -EIO;
}

/* Check one reply of the connection handshake (AUTH, SELECT). */
static int handshake_step(struct cli *cli, redisContext *c, const char *what,
                          int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        snprintf(cli->err, sizeof(cli->err),
                 "Redis closed the connection during %s: %s", what,
                 c->errstr[0] ? c->errstr : "no reply");
        return -ENOTCONN;
    }
    int ok = r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(cli->err, sizeof(cli->err), "Redis refused %s: %s", what,
                 r->str);
    freeReplyObject(r);
    return ok ? 0 : -ENOTCONN;
}

/* AUTH when the URL has a password, SELECT when it names a database. */
static int handshake(struct cli *cli, redisContext *c)
{
    const struct redis_url *u = &cli->url;
    char db[16];
    int r;
    if (u->password) {
        const char *with_user[] = {"AUTH", u->user, u->password};
        const char *without[] = {"AUTH", u->password};
        r = u->user ? handshake_step(cli, c, "AUTH", 3, with_user)
                    : handshake_step(cli, c, "AUTH", 2, without);
        if (r < 0)
            return r;
    }
    if (u->db == 0)
        return 0;
    snprintf(db, sizeof(db), "%u", u->db);
    const char *select[] = {"SELECT", db};
    return handshake_step(cli, c, "SELECT", 2, select);
}

/* One new connection to cli->url, handshake done. */
static int connect_one(struct cli *cli, redisContext **ret)
{
    struct timeval conn_tv = {CONNECT_TIMEOUT_S, 0}, cmd_tv = {COMMAND_TIMEOUT_S, 0};
    char target[300];
    const struct redis_url *u = &cli->url;
    redisContext *c = u->path ? redisConnectUnixWithTimeout(u->path, conn_tv)
                              : redisConnectWithTimeout(u->host, u->port, conn_tv);
    describe_target(u, target, sizeof(target));
    if (!c || c->err) {
        snprintf(cli->err, sizeof(cli->err),
                 "cannot connect to Redis at %s: %s", target,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return -ENOTCONN;
    }
    int r = redisSetTimeout(c, cmd_tv) == REDIS_OK ? handshake(cli, c) : -ENOTCONN;
    if (r < 0) {
        redisFree(c);
        return r;
    }
    *ret = c;
    return 0;
}

int conn_open(struct cli *cli)
{
    const char *url_error = NULL;
    if (redis_url_parse(cli->redis_url, &cli->url, &url_error) < 0) {
        snprintf(cli->err, sizeof(cli->err), "--redis: %s",
                 url_error ? url_error : "out of memory");
        return url_error ? -EINVAL : -ENOMEM;
    }
    if (!(cli->redis_cli = build_redis_cli(&cli->url))) {
        snprintf(cli->err, sizeof(cli->err), "out of memory");
        return -ENOMEM;
    }
    return connect_one(cli, &cli->rc);
}

int conn_open_extra(struct cli *cli, redisContext **ret)
{
    return connect_one(cli, ret);
}

void conn_close(struct cli *cli)
{
    if (cli->rc)
        redisFree(cli->rc);
    cli->rc = NULL;
    redis_url_release(&cli->url);
    free(cli->redis_cli);
    cli->redis_cli = NULL;
}

/* Own a reply, turning an error reply into -EPROTO. */
static int take_reply(struct cli *cli, redisReply *r, redisReply **ret)
{
    if (!r)
        return context_error(cli, cli->rc);
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(cli->err, sizeof(cli->err), "Redis: %s", r->str);
        freeReplyObject(r);
        return -EPROTO;
    }
    *ret = r;
    return 0;
}

int conn_command(struct cli *cli, redisReply **ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(cli->rc, fmt, ap);
    va_end(ap);
    return take_reply(cli, r, ret);
}

int conn_command_argv(struct cli *cli, redisReply **ret, int argc,
                      const char **argv, const size_t *lens)
{
    return take_reply(cli, redisCommandArgv(cli->rc, argc, argv, lens), ret);
}

int conn_exit_code(int r)
{
    switch (r) {
    case -ENOTCONN:
    case -EIO:
        return EXIT_UNREACHABLE;
    case -EINVAL:
        return EXIT_USAGE;
    default:
        return EXIT_ERROR;
    }
}

int reply_integer(struct cli *cli, const redisReply *r, long long *ret)
{
    if (r->type != REDIS_REPLY_INTEGER) {
        snprintf(cli->err, sizeof(cli->err),
                 "unexpected reply from Redis (type %d, wanted an integer)",
                 r->type);
        return -EPROTO;
    }
    *ret = r->integer;
    return 0;
}

const redisReply *reply_hash_get(const redisReply *hash, const char *field)
{
    if (hash->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < hash->elements; i += 2)
        if (reply_is(hash->element[i], field))
            return hash->element[i + 1];
    return NULL;
}

int reply_is(const redisReply *r, const char *s)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->len == strlen(s) && memcmp(r->str, s, r->len) == 0;
}
