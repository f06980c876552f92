/* redis_url.c - redis:// and unix:// URLs (see redis_url.h). */
#include "redis_url.h"

#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void redis_url_release(struct redis_url *url)
{
    free(url->host);
    free(url->path);
    free(url->user);
    free(url->password);
    memset(url, 0, sizeof(*url));
}

/* Split "[user]:password@" off the front of rest; returns the remainder. */
static const char *parse_userinfo(const char *rest, struct redis_url *u)
{
    const char *at = strchr(rest, '@');
    const char *slash = strchr(rest, '/');
    if (!at || (slash && slash < at))
        return rest;
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    if (colon) {
        if (colon > rest)
            u->user = strndup(rest, (size_t)(colon - rest));
        u->password = strndup(colon + 1, (size_t)(at - colon - 1));
    } else {
        u->password = strndup(rest, (size_t)(at - rest));
    }
    return at + 1;
}

static int parse_tcp(const char *rest, struct redis_url *u, const char **err)
{
    const char *end = rest + strcspn(rest, "/");
    const char *colon = memchr(rest, ':', (size_t)(end - rest));
    uint64_t v;
    const char *host_end = colon ? colon : end;

    if (host_end == rest)
        return *err = "missing host", -EINVAL;
    if (!(u->host = strndup(rest, (size_t)(host_end - rest))))
        return -ENOMEM;
    u->port = 6379;
    if (colon) {
        if (parse_u64(colon + 1, (size_t)(end - colon - 1), 1, 65535, &v) < 0)
            return *err = "port must be 1-65535", -EINVAL;
        u->port = (int)v;
    }
    if (*end == '/' && end[1] != '\0') {
        if (parse_u64(end + 1, strlen(end + 1), 0, 1000000, &v) < 0)
            return *err = "database must be a number", -EINVAL;
        u->db = (unsigned)v;
    }
    return 0;
}

static int parse_unix(const char *rest, struct redis_url *u, const char **err)
{
    const char *q = strchr(rest, '?');
    size_t len = q ? (size_t)(q - rest) : strlen(rest);
    uint64_t v;
    if (len == 0 || rest[0] != '/')
        return *err = "unix socket path must be absolute", -EINVAL;
    if (!(u->path = strndup(rest, len)))
        return -ENOMEM;
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 ||
            parse_u64(q + 4, strlen(q + 4), 0, 1000000, &v) < 0)
            return *err = "only ?db=N is understood after a socket path",
                   -EINVAL;
        u->db = (unsigned)v;
    }
    return 0;
}

int redis_url_parse(const char *url, struct redis_url *ret,
                    const char **ret_error)
{
    struct redis_url u = {0};
    int r;
    if (strncmp(url, "redis://", 8) == 0) {
        r = parse_tcp(parse_userinfo(url + 8, &u), &u, ret_error);
    } else if (strncmp(url, "unix://", 7) == 0) {
        r = parse_unix(parse_userinfo(url + 7, &u), &u, ret_error);
    } else {
        *ret_error = "must start with redis:// or unix://";
        r = -EINVAL;
    }
    if (r < 0) {
        redis_url_release(&u);
        return r;
    }
    *ret = u;
    return 0;
}
