/* show_job.h - the flows `status`, `wait` and `submit --wait` share: fetch
 * (or wait for) one job, print it human or JSON, choose the exit code. */
#ifndef SANDQ_CLI_SHOW_JOB_H
#define SANDQ_CLI_SHOW_JOB_H

#include "cli.h"

/* Print every field of job id. EXIT_OK, EXIT_MISSING, or a Redis
 * failure's code. Needs cli->rc. */
int show_job_status(struct cli *cli, const char *id);

/* Wait for job id (timeout_ms < 0: no limit), print its outcome, and return
 * the exit code of its final status, EXIT_WAIT_TIMEOUT, EXIT_MISSING, or a
 * Redis failure's code. Needs cli->rc. */
int show_job_wait(struct cli *cli, const char *id, long long timeout_ms);

#endif
