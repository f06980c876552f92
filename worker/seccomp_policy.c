/* seccomp_policy.c - the system call allowlist of a job child (see
 * seccomp_policy.h).
 *
 * The child that loads this filter is a forked copy of an initialised
 * CPython: every module it may use is already imported, fd 0 is the job
 * pipe, fd 1 the result pipe, and nothing else is open. So the allowlist is
 * what CPython needs to compute and allocate, observed with strace on real
 * jobs (see the report in the commit history), and no more.
 *
 * Read as an attacker who already runs arbitrary code in the child: every
 * allowed call is either harmless with any arguments (brk, munmap,
 * getrandom, exit) or has its arguments pinned below to what CPython
 * passes, where other values would reach further: other fds, executable
 * memory, other processes' CPU clocks, shared futexes, page poisoning, the
 * host's huge pages. The self-test's probes (probe.h) run under this same
 * filter; there is no probe mode. */
#include "seccomp_policy.h"

#include <errno.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#ifdef SANDQ_SECCOMP_LOG
#define POLICY_DEFAULT_ACTION SCMP_ACT_LOG
#else
#define POLICY_DEFAULT_ACTION SCMP_ACT_TRAP
#endif

/* One allowlist entry: the syscall, what happens, and up to two argument
 * conditions that must all hold. Several entries for one syscall are ORed. */
struct rule {
    int nr;
    uint32_t action;
    unsigned int n_args;
    struct scmp_arg_cmp args[2];
};

#define ALLOW SCMP_ACT_ALLOW
#define ARG(i, o, a, b) {.arg = (i), .op = (o), .datum_a = (a), .datum_b = (b)}
#define ARG_EQ(i, v) ARG(i, SCMP_CMP_EQ, (v), 0)
#define ARG_NE(i, v) ARG(i, SCMP_CMP_NE, (v), 0)
/* (arg & mask) == value; masks are 32-bit where the kernel reads an int. */
#define ARG_MASKED(i, mask, v) ARG(i, SCMP_CMP_MASKED_EQ, (mask), (v))

/* FUTEX_CLOCK_REALTIME may accompany the wait operations below. */
#define FUTEX_OP_MASK (0xffffffffu & ~(uint32_t)FUTEX_CLOCK_REALTIME)

/* Clock ids 0..15 (CLOCK_REALTIME ... CLOCK_TAI), in the low 32 bits the
 * kernel reads (clockid_t is an int). Negative ids name another process's
 * or thread's CPU clock (which would leak its CPU use: a side channel) or a
 * dynamic clock behind an fd. */
#define CLOCK_ID_OK ARG_MASKED(0, 0xfffffff0u, 0)
/* mmap flags that must be clear: MAP_HUGETLB draws on the host's reserved
 * huge page pool, MAP_LOCKED pins memory; CPython uses neither. */
#define MMAP_FLAGS_CHECKED ((uint64_t)(MAP_ANONYMOUS | MAP_HUGETLB | MAP_LOCKED))

static const struct rule rules[] = {
    /* The job arrives on fd 0; nothing else may be read. */
    {SCMP_SYS(read), ALLOW, 1, {ARG_EQ(0, 0)}},
    /* Outcome frames and the SIGSYS report go to fd 1. */
    {SCMP_SYS(write), ALLOW, 1, {ARG_EQ(0, 1)}},
    /* Anything else (a stray sys.__stderr__ write) fails as if the fd were
     * closed, which it is: not worth calling a violation. */
    {SCMP_SYS(write), SCMP_ACT_ERRNO(EBADF), 1, {ARG_NE(0, 1)}},
    /* The heap: glibc malloc grows the main arena with brk. */
    {SCMP_SYS(brk), ALLOW, 0, {{0}}},
    /* Large allocations and pymalloc arenas: anonymous (no fd, so no file
     * can be mapped), never executable, so no new code can appear in the
     * process (W^X); no huge or locked pages. */
    {SCMP_SYS(mmap), ALLOW, 2,
     {ARG_MASKED(2, PROT_EXEC, 0), ARG_MASKED(3, MMAP_FLAGS_CHECKED, MAP_ANONYMOUS)}},
    /* Changing protections is fine as long as nothing becomes executable. */
    {SCMP_SYS(mprotect), ALLOW, 1, {ARG_MASKED(2, PROT_EXEC, 0)}},
    /* Freeing what malloc mapped. */
    {SCMP_SYS(munmap), ALLOW, 0, {{0}}},
    /* realloc of big blocks: MREMAP_MAYMOVE only. MREMAP_FIXED could move a
     * mapping over the code, MREMAP_DONTUNMAP leaves aliases behind. */
    {SCMP_SYS(mremap), ALLOW, 1, {ARG_MASKED(3, ~(uint64_t)MREMAP_MAYMOVE, 0)}},
    /* malloc returns memory with DONTNEED/FREE. Only those advices: the
     * filter does not rely on the capabilities being gone, and with
     * CAP_SYS_ADMIN MADV_HWPOISON/SOFT_OFFLINE would poison page-cache
     * pages that the zygote and other jobs share. */
    {SCMP_SYS(madvise), ALLOW, 1, {ARG_EQ(2, MADV_DONTNEED)}},
    {SCMP_SYS(madvise), ALLOW, 1, {ARG_EQ(2, MADV_FREE)}},
    /* Leaving: _exit() and the end of the SIGSYS handler. */
    {SCMP_SYS(exit_group), ALLOW, 0, {{0}}},
    {SCMP_SYS(exit), ALLOW, 0, {{0}}},
    /* Returning from a signal handler; no kernel surface beyond that. */
    {SCMP_SYS(rt_sigreturn), ALLOW, 0, {{0}}},
    /* glibc masks signals around abort() and some internals; the kernel
     * unblocks a forced SIGSYS regardless, so this cannot hide violations. */
    {SCMP_SYS(rt_sigprocmask), ALLOW, 0, {{0}}},
    /* time, datetime and time.process_time() (CPU clocks are not vDSO):
     * this process's own clocks only (CLOCK_ID_OK). */
    {SCMP_SYS(clock_gettime), ALLOW, 1, {CLOCK_ID_OK}},
    {SCMP_SYS(clock_getres), ALLOW, 1, {CLOCK_ID_OK}},
    {SCMP_SYS(gettimeofday), ALLOW, 0, {{0}}},
    /* time.sleep(); the wall-clock limit bounds it. */
    {SCMP_SYS(clock_nanosleep), ALLOW, 1, {CLOCK_ID_OK}},
    {SCMP_SYS(nanosleep), ALLOW, 0, {{0}}},
    /* random.Random(), SystemRandom and os.urandom seed from here. */
    {SCMP_SYS(getrandom), ALLOW, 0, {{0}}},
    /* Locks of a single-threaded process (CPython's GIL, Lock.acquire with
     * a timeout): private wait/wake only, none of the PI/requeue operations
     * with a history of kernel bugs. */
    {SCMP_SYS(futex), ALLOW, 1, {ARG_MASKED(1, FUTEX_OP_MASK, FUTEX_WAIT_PRIVATE)}},
    {SCMP_SYS(futex), ALLOW, 1, {ARG_MASKED(1, FUTEX_OP_MASK, FUTEX_WAKE_PRIVATE)}},
    {SCMP_SYS(futex), ALLOW, 1,
     {ARG_MASKED(1, FUTEX_OP_MASK, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)}},
    {SCMP_SYS(futex), ALLOW, 1,
     {ARG_MASKED(1, FUTEX_OP_MASK, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)}},
    /* Harmless, and what a busy-wait in user code would call. */
    {SCMP_SYS(sched_yield), ALLOW, 0, {{0}}},
#ifdef __SANITIZE_ADDRESS__
    /* ASan builds only: every call of a noreturn function asks for the
     * alternate signal stack (query only, never set). */
    {SCMP_SYS(sigaltstack), ALLOW, 1, {ARG_EQ(0, 0)}},
    /* ASan builds only: its allocator keeps large blocks out of core dumps
     * and transparent huge pages. */
    {SCMP_SYS(madvise), ALLOW, 1, {ARG_EQ(2, MADV_DONTDUMP)}},
    {SCMP_SYS(madvise), ALLOW, 1, {ARG_EQ(2, MADV_NOHUGEPAGE)}},
    {SCMP_SYS(madvise), ALLOW, 1, {ARG_EQ(2, MADV_HUGEPAGE)}},
#endif
};

/* Add the table to ctx; a rule libseccomp refuses is a bug, so stop. */
static int policy_add_rules(scmp_filter_ctx ctx)
{
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
        const struct rule *r = &rules[i];
        int ret = seccomp_rule_add_exact_array(ctx, r->action, r->nr,
                                               r->n_args, r->args);
        if (ret < 0)
            return ret;
    }
    return 0;
}

/* A new context that kills foreign ABIs: only the native arch is in it, so
 * i386 (int 0x80) and x32 numbers take the bad-arch path. */
static int policy_context(scmp_filter_ctx *ret_ctx)
{
    scmp_filter_ctx ctx = seccomp_init(POLICY_DEFAULT_ACTION);
    if (!ctx)
        return -ENOMEM;
    int ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (ret == 0)
        ret = policy_add_rules(ctx);
    if (ret < 0) {
        seccomp_release(ctx);
        return ret;
    }
    *ret_ctx = ctx;
    return 0;
}

/* Read the whole exported program back from fd (positioned at its end). */
static int policy_read_back(int fd, struct sock_fprog *ret_prog)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    size_t size = (size_t)st.st_size;
    if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
        size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    struct sock_filter *insns = malloc(size);
    if (!insns)
        return -ENOMEM;
    ssize_t n = pread(fd, insns, size, 0);
    if (n < 0 || (size_t)n != size) {
        int err = n < 0 ? errno : EIO;
        free(insns);
        return -err;
    }
    ret_prog->len = (unsigned short)(size / sizeof(struct sock_filter));
    ret_prog->filter = insns;
    return 0;
}

/* libseccomp 2.5 exports only to an fd, so go through a memfd. */
static int policy_export(scmp_filter_ctx ctx, struct sock_fprog *ret_prog)
{
    _cleanup_close_ int fd = memfd_create("sandq-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int ret = seccomp_export_bpf(ctx, fd);
    if (ret < 0)
        return ret;
    return policy_read_back(fd, ret_prog);
}

int seccomp_policy_build(struct sock_fprog *ret_prog)
{
    scmp_filter_ctx ctx = NULL;
    int ret = policy_context(&ctx);
    if (ret < 0)
        return ret;
    ret = policy_export(ctx, ret_prog);
    seccomp_release(ctx);
    return ret;
}

void seccomp_policy_release(struct sock_fprog *prog)
{
    free(prog->filter);
    prog->filter = NULL;
    prog->len = 0;
}

/* The raw syscall rather than seccomp_load(): the child has no libseccomp
 * context (it was released in the zygote) and must not allocate here. */
int seccomp_policy_load(const struct sock_fprog *prog)
{
    if (!prog->filter || prog->len == 0)
        return -EINVAL;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0)
        return -errno;
    return 0;
}

bool seccomp_policy_enforcing(void)
{
#ifdef SANDQ_SECCOMP_LOG
    return false;
#else
    return true;
#endif
}
