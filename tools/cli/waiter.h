/* waiter.h - waiting for a job to end without a race (PROTOCOL.md "Waiting
 * for a result"): SUBSCRIBE P:done:<id> on a second connection, then HGET
 * the status; if it is not final yet, wait for the message. */
#ifndef SANDQ_CLI_WAITER_H
#define SANDQ_CLI_WAITER_H

#include "cli.h"

/* Wait until job id has a final status or timeout_ms passes (< 0: no
 * limit). 0 when it is final, -ENOENT when there is no such job,
 * -ETIMEDOUT, or a conn.h error. */
int waiter_wait(struct cli *cli, const char *id, long long timeout_ms);

#endif
