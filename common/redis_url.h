/* redis_url.h - parse the --redis / SANDQ_REDIS_URL address.
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   unix://[[user]:password@]/path/to/socket[?db=N]
 */
#ifndef SANDQ_REDIS_URL_H
#define SANDQ_REDIS_URL_H

struct redis_url {
    char *host;     /* TCP host, or NULL for a unix socket */
    int port;
    char *path;     /* unix socket path, or NULL */
    unsigned db;
    char *user;     /* NULL unless given */
    char *password; /* NULL unless given */
};

/* Fill *ret (owned by the caller; release with redis_url_release()).
 * -EINVAL with a static message in *ret_error when malformed, -ENOMEM. */
int redis_url_parse(const char *url, struct redis_url *ret,
                    const char **ret_error);

void redis_url_release(struct redis_url *url);

#endif
