/* layers.h - which sandbox layers a worker runs with, and the rule that
 * it never runs with fewer than asked: every layer is required unless the
 * operator accepted its absence (--allow-missing) or a test switched it off
 * (--unsafe-disable-layers). */
#ifndef SANDQ_LAYERS_H
#define SANDQ_LAYERS_H

#include "zproto.h"

#include <stdint.h>
#include <stdio.h>

#define LAYERS_ALL                                                             \
    (ZLAYER_SECCOMP | ZLAYER_RLIMITS | ZLAYER_MEMORY_RLIMIT |                  \
     ZLAYER_NO_NEW_PRIVS | ZLAYER_CAPS | ZLAYER_NAMESPACES | ZLAYER_CGROUP |   \
     ZLAYER_INTERPRETER)

/* Parse "seccomp,netns" ("namespaces" means all six; "" or NULL is none)
 * into bits. -EINVAL with *ret_bad pointing at the unknown name's start. */
int layers_parse(const char *list, uint32_t *ret, const char **ret_bad);

/* The comma-separated names of bits into buf. */
void layers_format(uint32_t bits, char *buf, size_t len);

struct layers_state {
    uint32_t active;          /* what the zygote and cgroups report */
    uint32_t allowed_missing; /* --allow-missing */
    uint32_t disabled;        /* --unsafe-disable-layers */
    const char *notes;        /* the zygote's reasons, may be "" */
    const char *cgroup_note;  /* why cgroups are off, or NULL */
};

/* Layers missing without the operator's consent (0: fine to start). */
uint32_t layers_refused(const struct layers_state *st);

/* The table of layers: name, state, what it does / why it is missing. */
void layers_print_table(FILE *out, const struct layers_state *st);

/* The same, one log line per layer (warn for anything not active). */
void layers_log(const struct layers_state *st);

#endif
