/* seccomp_policy.h - the system call allowlist of a job child.
 *
 * The filter is built once in the zygote with libseccomp, compiled to a
 * classic BPF program, and loaded by every job child as the last setup step
 * before CPython touches the job's bytes. Anything outside the allowlist
 * raises SIGSYS (SCMP_ACT_TRAP) so the child can name the system call in
 * its 'V' frame; a foreign ABI (i386, x32) kills the process outright.
 *
 * Building with -DSANDQ_SECCOMP_LOG turns the default action into
 * SCMP_ACT_LOG (the kernel logs and allows): for deriving the allowlist
 * only, never for production; seccomp_policy_enforcing() then says false. */
#ifndef SANDQ_SECCOMP_POLICY_H
#define SANDQ_SECCOMP_POLICY_H

#include <linux/filter.h>
#include <stdbool.h>

/* Build the job child's filter. On success *ret_prog owns a malloc'd
 * instruction array (free with seccomp_policy_release()). -errno on
 * failure (-ENOMEM, or what libseccomp returned). */
int seccomp_policy_build(struct sock_fprog *ret_prog);

/* Free the program; accepts an already released or zeroed one. */
void seccomp_policy_release(struct sock_fprog *prog);

/* Install prog in the calling process. One system call, so it is safe in a
 * freshly forked child; NO_NEW_PRIVS must already be set. -errno. */
int seccomp_policy_load(const struct sock_fprog *prog);

/* False when built with SANDQ_SECCOMP_LOG (the filter does not enforce). */
bool seccomp_policy_enforcing(void);

#endif
