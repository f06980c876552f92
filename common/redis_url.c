/* redis_url.c - redis:// and unix:// URLs (see redis_url.h). */
#include "redis_url.h"

#include "parse.h"

#include <errno.h>
#include <stdbool.h>
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

/* Split "[user]:password@" off the front of rest into u; *ret_rest is what
 * follows. The password may itself contain '@', so for TCP the last '@'
 * ends it (a host never contains one) and for a socket the last "@/".
 * -ENOMEM when a copy fails (never connect silently without the password). */
static int parse_userinfo(const char *rest, bool unix_path, struct redis_url *u,
                          const char **ret_rest)
{
    const char *at = NULL;
    *ret_rest = rest;
    if (unix_path) {
        for (const char *p = strstr(rest, "@/"); p; p = strstr(p + 1, "@/"))
            at = p;
        if (rest[0] == '/')
            at = NULL;
    } else {
        at = strrchr(rest, '@');
    }
    if (!at)
        return 0;
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    if (colon) {
        if (colon > rest && !(u->user = strndup(rest, (size_t)(colon - rest))))
            return -ENOMEM;
        if (!(u->password = strndup(colon + 1, (size_t)(at - colon - 1))))
            return -ENOMEM;
    } else if (!(u->password = strndup(rest, (size_t)(at - rest)))) {
        return -ENOMEM;
    }
    *ret_rest = at + 1;
    return 0;
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
    const char *rest;
    if (strncmp(url, "redis://", 8) == 0) {
        r = parse_userinfo(url + 8, false, &u, &rest);
        if (r == 0)
            r = parse_tcp(rest, &u, ret_error);
    } else if (strncmp(url, "unix://", 7) == 0) {
        r = parse_userinfo(url + 7, true, &u, &rest);
        if (r == 0)
            r = parse_unix(rest, &u, ret_error);
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
