/* zygote.h - the zygote: one initialised CPython that forks a sandboxed
 * child per job, driven by the supervisor over fd ZPROTO_FD (zproto.h). */
#ifndef SANDQ_ZYGOTE_H
#define SANDQ_ZYGOTE_H

#include <stddef.h>

struct zygote_config {
    const char *const *modules; /* import allowlist; n_modules == 0: default */
    size_t n_modules;
};

/* Prepare (CPython, seccomp program, measurements), send ZMSG_READY, then
 * serve ZMSG_SPAWN until the supervisor closes its end (EOF, HUP or an
 * error on fd 3); on the way out kill and reap every child. Single-threaded;
 * SIGCHLD stays blocked. Returns 0 once READY was sent, -errno when startup
 * failed (logged). cfg is borrowed. */
int zygote_run(const struct zygote_config *cfg);

#endif
