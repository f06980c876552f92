/* pyrun.h - the embedded CPython interpreter of the zygote and its job
 * children.
 *
 * CPython is one per process, so this module keeps its state in file-scope
 * statics: the interpreter and the trusted runtime module `sandq_runtime`
 * (worker/runtime.py, compiled into the binary). The zygote calls
 * pyrun_init() once; around each fork() it calls pyrun_before_fork() and,
 * in the parent, pyrun_after_fork_parent(); the job child calls
 * pyrun_after_fork_child() and then pyrun_run_job() once. The GIL is held
 * by the single thread for the whole life of the process. */
#ifndef SANDQ_PYRUN_H
#define SANDQ_PYRUN_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"

/* The fields of a job as it came off the job pipe, in the order run_job()
 * takes them. */
enum pyrun_field {
    PYRUN_CODE,
    PYRUN_FUNCTION,
    PYRUN_ARGS,
    PYRUN_KWARGS,
    PYRUN_CALLS,
    PYRUN_OUTPUT_CAP,
    PYRUN_FIELD_COUNT
};

/* A borrowed byte range; data == NULL means the field was absent. */
struct pyrun_slice {
    const char *data;
    size_t len;
};

struct pyrun_job {
    struct pyrun_slice field[PYRUN_FIELD_COUNT];
};

/* Initialise CPython (isolated, stdlib from the system prefix), load the
 * runtime and call its init() with the module allowlist (n == 0: the
 * runtime's default list). interpreter false (tests only) asks the runtime
 * to leave its restricted interpreter off with init(..., interpreter=False);
 * a runtime without that keyword keeps it on. *ret_interpreter says
 * whether it is on. Logs the Python error itself. -EINVAL when CPython or
 * the runtime failed, -ENOMEM. Call once, in the zygote. */
int pyrun_init(const char *const *modules, size_t n_modules, bool interpreter,
               bool *ret_interpreter);

/* The interpreter's version ("3.11.2") into buf (always NUL-terminated). */
void pyrun_version(char *buf, size_t size);

/* Bracket fork() in the zygote, as CPython requires (import lock, at-fork
 * hooks). */
void pyrun_before_fork(void);
void pyrun_after_fork_parent(void);

/* In a child that goes on as the zygote (the pid namespace's pid 1):
 * CPython's own after-fork handling only; stdio and the runtime stay as
 * they were. */
void pyrun_after_fork_server(void);

/* In the job child, before the seccomp filter: CPython's own after-fork
 * handling and the runtime's after_fork() (fresh random seed, no stdio).
 * -ENOMEM, or -EINVAL when the runtime raised. Does not log (stderr is
 * closed by then). */
int pyrun_after_fork_child(void);

/* Run the job through the runtime's run_job() and append its outcome
 * frames to out (without the final FRAME_OUT_END). -ENOMEM when memory ran
 * out outside user code, -EPROTO when the runtime failed or returned
 * something malformed. Does not log. */
int pyrun_run_job(const struct pyrun_job *job, struct buf *out);

#endif
