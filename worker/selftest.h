/* selftest.h - `sandq-worker --self-test`: check every sandbox layer for
 * real on this host (no Redis needed) and print a table. */
#ifndef SANDQ_SELFTEST_H
#define SANDQ_SELFTEST_H

#include "config.h"

#include <stdio.h>

/* Run the checks with the worker's configuration and print the table to
 * out. Returns the exit code: 0 when every layer is active or explicitly
 * allowed missing and every check agrees, 1 otherwise. */
int selftest_run(const struct worker_config *cfg, const char *zygote_path,
                 FILE *out);

#endif
