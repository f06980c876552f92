/* zygote.h - the zygote: one initialised CPython that forks a sandboxed
 * child per job, driven by the supervisor over fd ZPROTO_FD (zproto.h). */
#ifndef SANDQ_ZYGOTE_H
#define SANDQ_ZYGOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct zygote_config {
    const char *const *modules; /* import allowlist; n_modules == 0: default */
    size_t n_modules;
    uint32_t disabled;          /* --unsafe-disable-layers: ZLAYER_* bits;
                                   ZLAYER_CGROUP: children do not join their
                                   cgroups (never a READY bit); tests only */
    uint32_t allowed_missing;   /* --allow-missing: only decides how loudly
                                   a missing layer is logged */
    bool have_sandbox_ids;      /* --sandbox-uid given */
    uid_t sandbox_uid;          /* what 0 in the user namespace is outside */
    gid_t sandbox_gid;
};

/* Parse a comma-separated list of layer names (zproto.h's zlayer_names,
 * and "namespaces" for all six) into bits, in place: list is split.
 * "rlimits" includes memory_rlimit (RLIMIT_AS is an rlimit too). -EINVAL
 * with *ret_bad at the unknown name. */
int zygote_parse_layers(char *list, uint32_t *ret_bits, const char **ret_bad);

/* The name of one layer bit ("netns"), or "unknown". */
const char *zygote_layer_name(uint32_t bit);

/* Prepare (CPython, seccomp program, measurements, namespaces), send
 * ZMSG_READY, then serve ZMSG_SPAWN until the supervisor closes its end
 * (EOF, HUP or an error on fd 3); on the way out kill and reap every
 * child. With a pid namespace, the process that called this stays outside
 * it and only relays the exit of the serving process: it never returns.
 * Single-threaded; SIGCHLD stays blocked. Returns 0 once READY was sent,
 * -errno when startup failed (logged). cfg is borrowed. */
int zygote_run(const struct zygote_config *cfg);

#endif
