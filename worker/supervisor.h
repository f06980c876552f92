/* supervisor.h - the worker's main loop: takes jobs from Redis while a slot
 * is free, runs each in a zygote child, writes the outcome back, drains on
 * SIGTERM. One libevent loop; nothing in it blocks on a child or on Redis. */
#ifndef SANDQ_SUPERVISOR_H
#define SANDQ_SUPERVISOR_H

#include "config.h"
#include "redis_url.h"
#include "zproto.h"

struct cgroup_mgr;
struct supervisor;
struct zygote;

/* Build the supervisor around a started zygote (ownership passes, freed
 * even on failure). cfg, zygote_path, zygote_args and cgroups (NULL: no
 * cgroup layer) are borrowed and must outlive the supervisor (the path and
 * args restart a dead zygote). NULL with *ret_errno on failure. */
struct supervisor *supervisor_new(const struct worker_config *cfg,
                                  const struct redis_url *url,
                                  struct zygote *zygote,
                                  const struct zmsg_ready *ready,
                                  const char *zygote_path,
                                  char *const *zygote_args,
                                  struct cgroup_mgr *cgroups, int *ret_errno);

/* Run until a drain completes (0) or a fatal error (1). */
int supervisor_run(struct supervisor *s);

void supervisor_free(struct supervisor *s);

#endif
