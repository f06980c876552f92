/* redis_conn.h - one hiredis async connection on the libevent loop that
 * re-establishes itself.
 *
 * After each connect it authenticates, selects the database, names itself
 * (CLIENT SETNAME, so `CLIENT LIST` shows every sandq connection) and learns
 * its CLIENT ID; only then is it "up". On a drop every pending command's
 * callback gets a NULL reply (hiredis), on_state(false) is called, and it
 * reconnects with capped exponential backoff (100 ms .. 2 s). */
#ifndef SANDQ_REDIS_CONN_H
#define SANDQ_REDIS_CONN_H

#include "redis_url.h"

#include <hiredis/async.h>
#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct redis_conn;

typedef void redis_conn_state_fn(void *userdata, bool up);

/* Start connecting. url and name are copied. NULL when out of memory. */
struct redis_conn *redis_conn_new(struct event_base *base,
                                  const struct redis_url *url,
                                  const char *name,
                                  redis_conn_state_fn *on_state,
                                  void *userdata);

/* Queue a command; fn gets the reply (borrowed for the callback) or NULL
 * when the connection drops first. -ENOTCONN while down, -ENOMEM. */
int redis_conn_command(struct redis_conn *c, redisCallbackFn *fn,
                       void *privdata, int argc, const char **argv,
                       const size_t *argvlen);

bool redis_conn_is_up(const struct redis_conn *c);

/* The server-side CLIENT ID of the current connection (for CLIENT UNBLOCK),
 * or -1 while down. */
long long redis_conn_client_id(const struct redis_conn *c);

/* Drop the connection: pending callbacks get NULL replies now. No
 * reconnect follows. NULL is fine. */
void redis_conn_free(struct redis_conn *c);

#endif
