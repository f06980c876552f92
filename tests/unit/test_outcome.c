/* test_outcome.c - classifying how a job child ended (outcome.h): result
 * frames + wait status + kill reason -> a PROTOCOL.md status. */
#include "harness.h"

#include "frame.h"
#include "outcome.h"
#include "zproto.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define AUDIT_X86_64 "3221225534" /* AUDIT_ARCH_X86_64, 0xc000003e */

static void add(struct buf *b, char tag, const char *data, size_t len)
{
    if (buf_append_frame(b, (uint8_t)tag, data, len) < 0)
        abort();
}

#define ADD(b, tag, lit) add((b), (tag), (lit), sizeof(lit) - 1)

static struct child_end exited(int code)
{
    return (struct child_end){.wait_status = W_EXITCODE(code, 0),
                              .reaped = true,
                              .reason = KILL_NONE,
                              .time_limit_ms = 5000,
                              .cpu_limit_ms = 5000,
                              .output_cap_bytes = 65536,
                              .cpu_ms = 12};
}

static struct child_end signaled(int sig)
{
    struct child_end e = exited(0);
    e.wait_status = W_EXITCODE(0, sig);
    return e;
}

/* outcome_from_child() over an exact-size heap copy of the frames, freed
 * before returning: the outcome must own what it keeps. */
static int classify(struct outcome *o, const struct buf *b,
                    const struct child_end *end)
{
    char *copy = NULL;
    if (b->len) {
        if (!(copy = malloc(b->len)))
            abort();
        memcpy(copy, b->data, b->len);
    }
    int r = outcome_from_child(o, copy, b->len, end);
    free(copy);
    return r;
}

/* A complete outcome as the runtime writes it. */
static void complete(struct buf *b, const char *status)
{
    add(b, FRAME_OUT_STATUS, status, strlen(status));
    ADD(b, FRAME_OUT_RESULT, "42");
    ADD(b, FRAME_OUT_STDOUT, "printed\n");
    ADD(b, FRAME_OUT_END, "");
}

TEST(clean_success)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_STATUS, "succeeded");
    ADD(&b, FRAME_OUT_TIMING, "compile=12 call=3");
    ADD(&b, FRAME_OUT_RESULT, "[1, 2]");
    ADD(&b, FRAME_OUT_STDOUT, "hi\n");
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "succeeded");
    CHECK_MEMEQ(o.result.data, o.result.len, "[1, 2]", 6);
    CHECK_MEMEQ(o.stdout_text.data, o.stdout_text.len, "hi\n", 3);
    CHECK(o.error_type.data == NULL);
    CHECK(o.error.data == NULL);
    CHECK(o.traceback.data == NULL);
    CHECK(!o.stdout_truncated);
    outcome_release(&o);
    buf_release(&b);
}

TEST(fields_copied_byte_exact)
{
    static const char result[] = "{\"k\": \"a\0b\"}";
    static const char etype[] = "Value\0Error";
    static const char error[] = "bad \xff\xfe value\0tail";
    static const char tb[] = "Traceback (most recent call last):\n\0  x";
    static const char out[] = "\0out\0put\0";
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_STATUS, "failed");
    ADD(&b, FRAME_OUT_RESULT, result);
    ADD(&b, FRAME_OUT_ERROR_TYPE, etype);
    ADD(&b, FRAME_OUT_ERROR, error);
    ADD(&b, FRAME_OUT_TRACEBACK, tb);
    ADD(&b, FRAME_OUT_STDOUT, out);
    ADD(&b, FRAME_OUT_STDOUT_TRUNCATED, "1");
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "failed");
    CHECK_MEMEQ(o.result.data, o.result.len, result, sizeof(result) - 1);
    CHECK_MEMEQ(o.error_type.data, o.error_type.len, etype, sizeof(etype) - 1);
    CHECK_MEMEQ(o.error.data, o.error.len, error, sizeof(error) - 1);
    CHECK_MEMEQ(o.traceback.data, o.traceback.len, tb, sizeof(tb) - 1);
    CHECK_MEMEQ(o.stdout_text.data, o.stdout_text.len, out, sizeof(out) - 1);
    /* Each text is NUL-terminated after len too. */
    CHECK(o.result.data && o.result.data[o.result.len] == '\0');
    CHECK(o.error.data && o.error.data[o.error.len] == '\0');
    CHECK(o.stdout_text.data && o.stdout_text.data[o.stdout_text.len] == '\0');
    CHECK(o.stdout_truncated);
    outcome_release(&o);
    buf_release(&b);
}

TEST(empty_fields_are_present_not_null)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_STATUS, "succeeded");
    ADD(&b, FRAME_OUT_STDOUT, "");
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "succeeded");
    CHECK(o.stdout_text.data != NULL);
    CHECK_EQ_UINT(o.stdout_text.len, 0);
    CHECK(o.result.data == NULL);
    outcome_release(&o);
    buf_release(&b);
}

TEST(statuses_a_child_may_claim)
{
    static const char *const ok[] = {"succeeded", "failed",       "rejected",
                                     "invalid",   "memory_limit", "output_limit"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = exited(ZEXIT_OK);
        complete(&b, ok[i]);
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, ok[i]);
        CHECK_MEMEQ(o.result.data, o.result.len, "42", 2);
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(statuses_only_the_supervisor_sets_become_crashed)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"timeout", 7},      {"violation", 9},   {"crashed", 7},
        {"lost", 4},         {"canceled", 8},    {"queued", 6},
        {"running", 7},      {"", 0},            {"SUCCEEDED", 9},
        {"succeeded\0", 10}, {"succeeded ", 10}, {" succeeded", 10},
        {"succeede", 8},     {"succeededx", 10}, {"\xff\xfe", 2},
        {"failed\n", 7},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = exited(ZEXIT_OK);
        add(&b, FRAME_OUT_STATUS, bad[i].s, bad[i].len);
        ADD(&b, FRAME_OUT_RESULT, "42");
        ADD(&b, FRAME_OUT_ERROR_TYPE, "Forged");
        ADD(&b, FRAME_OUT_END, "");
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        if (!o.status || strcmp(o.status, "crashed") != 0)
            printf("  claimed status case %zu\n", i);
        CHECK_STREQ(o.status, "crashed");
        CHECK_STREQ(o.error_type.data, "InternalError");
        CHECK(o.result.data == NULL); /* nothing of the claim is kept */
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(missing_status_frame_is_crashed)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_RESULT, "42");
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    buf_release(&b);
}

TEST(missing_end_frame_is_crashed)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_STATUS, "succeeded");
    ADD(&b, FRAME_OUT_RESULT, "42");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_STREQ(o.error_type.data, "Crashed");
    CHECK_CONTAINS(o.error.data, "without an outcome");
    CHECK(o.result.data == NULL);
    outcome_release(&o);
    buf_release(&b);
}

TEST(no_frames_at_all_is_crashed)
{
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    /* The supervisor's result buffer is NULL when nothing was read. */
    CHECK_EQ_INT(outcome_from_child(&o, NULL, 0, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
}

TEST(complete_frames_but_bad_exit_is_crashed)
{
    struct buf b = {0};
    complete(&b, "succeeded");
    struct child_end end = exited(ZEXIT_INTERNAL);
    struct outcome o = {0};
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_CONTAINS(o.error.data, "123");
    outcome_release(&o);

    end = exited(1);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_CONTAINS(o.error.data, "code 1 ");
    outcome_release(&o);

    end = exited(ZEXIT_OK);
    end.reaped = false;
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    buf_release(&b);
}

TEST(violation_names_the_syscall)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_VIOLATION);
    ADD(&b, FRAME_OUT_VIOLATION, "41 " AUDIT_X86_64);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    CHECK_STREQ(o.error_type.data, "SyscallViolation");
    CHECK_STREQ(o.error.data, "forbidden system call: socket");
    outcome_release(&o);
    buf_release(&b);

    ADD(&b, FRAME_OUT_VIOLATION, "59 " AUDIT_X86_64);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.error.data, "forbidden system call: execve");
    outcome_release(&o);
    buf_release(&b);
}

TEST(violation_native_arch)
{
#if defined(__x86_64__) && !defined(__ILP32__)
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_VIOLATION);
    ADD(&b, FRAME_OUT_VIOLATION, "41 0");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    CHECK_STREQ(o.error.data, "forbidden system call: socket");
    outcome_release(&o);
    buf_release(&b);
    ADD(&b, FRAME_OUT_VIOLATION, "41");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.error.data, "forbidden system call: socket");
    outcome_release(&o);
    buf_release(&b);
#else
    SKIP("syscall 41 is socket only on x86_64; this is another arch");
#endif
}

TEST(violation_beats_a_claimed_outcome)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    complete(&b, "succeeded");
    ADD(&b, FRAME_OUT_VIOLATION, "41 " AUDIT_X86_64);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    CHECK(o.result.data == NULL);
    outcome_release(&o);
    buf_release(&b);
}

TEST(violation_unidentified)
{
    static const struct {
        const char *s;
        size_t len;
    } bad[] = {{"", 0}, {"abc", 3}, {"-1 " AUDIT_X86_64, 13}, {" ", 1},
               {"\0" "41", 3}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = exited(ZEXIT_VIOLATION);
        add(&b, FRAME_OUT_VIOLATION, bad[i].s, bad[i].len);
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, "violation");
        CHECK_STREQ(o.error.data, "forbidden system call (unidentified)");
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(violation_unknown_number_or_arch)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_VIOLATION);
    ADD(&b, FRAME_OUT_VIOLATION, "99999 " AUDIT_X86_64);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    CHECK_CONTAINS(o.error.data, "99999");
    outcome_release(&o);
    buf_release(&b);
    ADD(&b, FRAME_OUT_VIOLATION, "41 12345");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    outcome_release(&o);
    buf_release(&b);
    /* A long payload is cut, never overflows. */
    char big[300];
    memset(big, '7', sizeof(big));
    add(&b, FRAME_OUT_VIOLATION, big, sizeof(big));
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    outcome_release(&o);
    buf_release(&b);
}

TEST(sigsys_without_frame_is_violation)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGSYS);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "violation");
    CHECK_STREQ(o.error_type.data, "SyscallViolation");
    outcome_release(&o);
}

TEST(sandbox_error_names_the_step)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_SANDBOX);
    ADD(&b, FRAME_OUT_SANDBOX_ERROR, "seccomp 1");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_STREQ(o.error_type.data, "SandboxError");
    CHECK_CONTAINS(o.error.data, "'seccomp'");
    CHECK_CONTAINS(o.error.data, strerror(EPERM));
    outcome_release(&o);
    buf_release(&b);

    ADD(&b, FRAME_OUT_SANDBOX_ERROR, "rlimits 12");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_CONTAINS(o.error.data, "'rlimits'");
    CHECK_CONTAINS(o.error.data, strerror(ENOMEM));
    outcome_release(&o);
    buf_release(&b);
}

TEST(sandbox_error_garbage)
{
    static const char *const bad[] = {
        "", "   ", "seccomp", "seccomp -5", "seccomp x",
        "a_step_name_far_longer_than_thirty_one_characters 1",
        "%s%n%s 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = exited(ZEXIT_SANDBOX);
        add(&b, FRAME_OUT_SANDBOX_ERROR, bad[i], strlen(bad[i]));
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, "crashed");
        CHECK_STREQ(o.error_type.data, "SandboxError");
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(sigxcpu_is_timeout)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGXCPU);
    ADD(&b, FRAME_OUT_STDOUT, "partial");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "timeout");
    CHECK_STREQ(o.error_type.data, "CpuTimeLimit");
    CHECK_CONTAINS(o.error.data, "5000 ms");
    outcome_release(&o);
    buf_release(&b);
}

TEST(sigkill_over_cpu_limit_is_timeout)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGKILL);
    end.cpu_ms = 5000; /* == limit */
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "timeout");
    outcome_release(&o);
    end.cpu_ms = 7000;
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "timeout");
    outcome_release(&o);
    end.cpu_ms = 4999; /* under: something else killed it */
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    end.cpu_ms = 7000;
    end.cpu_limit_ms = 0; /* no CPU limit known */
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
}

TEST(other_signals_are_crashed_naming_the_signal)
{
    static const int sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGTERM, SIGILL};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = signaled(sigs[i]);
        char num[32];
        snprintf(num, sizeof(num), "signal %d", sigs[i]);
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, "crashed");
        CHECK_STREQ(o.error_type.data, "Crashed");
        CHECK_CONTAINS(o.error.data, num);
        CHECK_CONTAINS(o.error.data, strsignal(sigs[i]));
        outcome_release(&o);
    }
    /* The core-dump bit does not hide the signal. */
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGSEGV);
    end.wait_status |= 0x80;
    CHECK(WCOREDUMP(end.wait_status) && WTERMSIG(end.wait_status) == SIGSEGV);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_CONTAINS(o.error.data, strsignal(SIGSEGV));
    outcome_release(&o);
}

TEST(kill_timeout_is_wall_clock_timeout)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGKILL);
    end.reason = KILL_TIMEOUT;
    end.time_limit_ms = 2500;
    ADD(&b, FRAME_OUT_STATUS, "succeeded"); /* no 'Z': it never finished */
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "timeout");
    CHECK_STREQ(o.error_type.data, "TimeLimit");
    CHECK_STREQ(o.error.data, "wall-clock limit of 2500 ms reached");
    outcome_release(&o);
    /* Not even reaped (the zygote reported nothing yet). */
    end.reaped = false;
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "timeout");
    outcome_release(&o);
    buf_release(&b);
}

TEST(kill_reasons)
{
    static const struct {
        enum kill_reason reason;
        const char *status, *error_type;
    } cases[] = {
        {KILL_OUTPUT, "output_limit", "OutputLimit"},
        {KILL_CANCELED, "canceled", "Canceled"},
        {KILL_ZYGOTE, "crashed", "ZygoteLost"},
        {KILL_SHUTDOWN, "crashed", "Shutdown"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = signaled(SIGKILL);
        end.reason = cases[i].reason;
        ADD(&b, FRAME_OUT_STDOUT, "xxxx");
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, cases[i].status);
        CHECK_STREQ(o.error_type.data, cases[i].error_type);
        outcome_release(&o);
        buf_release(&b);
    }
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGKILL);
    end.reason = KILL_OUTPUT;
    end.output_cap_bytes = 1048576;
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_CONTAINS(o.error.data, "1048576 bytes");
    outcome_release(&o);
}

TEST(clean_outcome_wins_over_late_kill)
{
    static const enum kill_reason late[] = {KILL_TIMEOUT, KILL_OUTPUT,
                                            KILL_CANCELED};
    for (size_t i = 0; i < sizeof(late) / sizeof(late[0]); i++) {
        struct buf b = {0};
        struct outcome o = {0};
        struct child_end end = exited(ZEXIT_OK);
        end.reason = late[i];
        complete(&b, "failed");
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, "failed");
        CHECK_MEMEQ(o.result.data, o.result.len, "42", 2);
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(zexit_nomem_is_memory_limit)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_NOMEM);
    ADD(&b, FRAME_OUT_STATUS, "succeeded"); /* partial, no 'Z' */
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "memory_limit");
    CHECK_STREQ(o.error_type.data, "MemoryError");
    outcome_release(&o);
    buf_release(&b);
}

TEST(real_wait_statuses)
{
    /* The same classification from statuses a real wait() produced. */
    static const struct {
        int how; /* > 0: exit code; < 0: -signal */
        const char *status;
    } cases[] = {{ZEXIT_NOMEM, "memory_limit"}, {-SIGXCPU, "timeout"},
                 {-SIGTERM, "crashed"},         {ZEXIT_INTERNAL, "crashed"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            if (cases[i].how < 0) {
                struct rlimit no_core = {0, 0};
                setrlimit(RLIMIT_CORE, &no_core); /* SIGXCPU dumps core */
                signal(-cases[i].how, SIG_DFL);
                kill(getpid(), -cases[i].how);
                pause();
            }
            _exit(cases[i].how);
        }
        int st;
        REQUIRE(waitpid(pid, &st, 0) == pid);
        struct child_end end = exited(0);
        end.wait_status = st;
        struct outcome o = {0};
        struct buf b = {0};
        CHECK_EQ_INT(classify(&o, &b, &end), 0);
        CHECK_STREQ(o.status, cases[i].status);
        outcome_release(&o);
    }
}

TEST(malformed_lengths_are_crashed)
{
    struct child_end end = exited(ZEXIT_OK);
    struct outcome o = {0};
    struct buf b = {0};
    uint8_t h[FRAME_HEADER_SIZE];

    /* A complete outcome followed by a cut frame. */
    complete(&b, "succeeded");
    frame_header(h, FRAME_OUT_STDOUT, 10);
    REQUIRE(buf_append(&b, h, sizeof(h)) == 0);
    REQUIRE(buf_append(&b, "abc", 3) == 0);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_CONTAINS(o.error.data, "malformed");
    outcome_release(&o);
    buf_release(&b);

    /* A length far past the cap, before the end frame. */
    ADD(&b, FRAME_OUT_STATUS, "succeeded");
    frame_header(h, FRAME_OUT_RESULT, UINT32_MAX);
    REQUIRE(buf_append(&b, h, sizeof(h)) == 0);
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    buf_release(&b);

    /* A length just over FRAME_MAX_PAYLOAD. */
    frame_header(h, FRAME_OUT_RESULT, FRAME_MAX_PAYLOAD + 1);
    REQUIRE(buf_append(&b, h, sizeof(h)) == 0);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    buf_release(&b);

    /* A stray byte or a lone partial header. */
    complete(&b, "succeeded");
    REQUIRE(buf_append(&b, "\x01", 1) == 0);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "crashed");
    outcome_release(&o);
    buf_release(&b);
}

TEST(unknown_tags_ignored)
{
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, 'x', "future");
    ADD(&b, '\0', "nul tag");
    ADD(&b, FRAME_OUT_TIMING, "a=1");
    complete(&b, "rejected");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "rejected");
    outcome_release(&o);
    buf_release(&b);
}

/* xorshift64*: the same sequence on every run. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static bool status_known(const char *s)
{
    return s && outcome_status_is_final(s);
}

TEST(random_frames_never_crash_the_classifier)
{
    static const char tags[] = "srtebOoTZVExq";
    uint64_t seed = 0x5eed5a1d;
    for (int iter = 0; iter < 3000; iter++) {
        struct buf b = {0};
        int n = (int)(rng_next(&seed) % 8);
        for (int k = 0; k < n; k++) {
            char payload[40];
            size_t len = rng_next(&seed) % sizeof(payload);
            for (size_t j = 0; j < len; j++)
                payload[j] = (char)rng_next(&seed);
            add(&b, tags[rng_next(&seed) % (sizeof(tags) - 1)], payload, len);
        }
        /* Corrupt some bytes, maybe cut the tail. */
        if (b.len && rng_next(&seed) % 2) {
            for (int k = 0; k < 3; k++)
                b.data[rng_next(&seed) % b.len] = (char)rng_next(&seed);
        }
        if (b.len && rng_next(&seed) % 3 == 0)
            b.len -= rng_next(&seed) % b.len;
        struct child_end end = rng_next(&seed) % 2
                                   ? exited((int)(rng_next(&seed) % 130))
                                   : signaled((int)(rng_next(&seed) % 31) + 1);
        end.reason = (enum kill_reason)(rng_next(&seed) % 6);
        struct outcome o = {0};
        int r = classify(&o, &b, &end);
        if (r != 0 || !status_known(o.status)) {
            harness_fail(__FILE__, __LINE__, "iteration %d: r=%d status=%s",
                         iter, r, o.status ? o.status : "(null)");
            outcome_release(&o);
            buf_release(&b);
            return;
        }
        outcome_release(&o);
        buf_release(&b);
    }
}

TEST(status_is_final)
{
    static const char *const final[] = {
        "succeeded", "failed",       "rejected",  "invalid",
        "timeout",   "memory_limit", "output_limit", "violation",
        "crashed",   "lost",         "canceled"};
    for (size_t i = 0; i < sizeof(final) / sizeof(final[0]); i++)
        CHECK(outcome_status_is_final(final[i]));
    CHECK(!outcome_status_is_final("queued"));
    CHECK(!outcome_status_is_final("running"));
    CHECK(!outcome_status_is_final(""));
    CHECK(!outcome_status_is_final("Succeeded"));
    CHECK(!outcome_status_is_final("succeeded "));
    CHECK(!outcome_status_is_final("fail"));
}

TEST(status_table_and_index)
{
    /* PROTOCOL.md's final statuses, each once, in the fixed order. */
    static const char *const protocol[] = {
        "succeeded", "failed",       "rejected",     "invalid",
        "timeout",   "memory_limit", "output_limit", "violation",
        "crashed",   "lost",         "canceled"};
    CHECK_EQ_INT(OUTCOME_N_STATUSES, sizeof(protocol) / sizeof(protocol[0]));
    for (int i = 0; i < OUTCOME_N_STATUSES; i++) {
        CHECK_STREQ(outcome_statuses[i], protocol[i]);
        CHECK_EQ_INT(outcome_status_index(protocol[i]), i);
    }
    CHECK_EQ_INT(outcome_status_index("queued"), -1);
    CHECK_EQ_INT(outcome_status_index("running"), -1);
    CHECK_EQ_INT(outcome_status_index(""), -1);
    CHECK_EQ_INT(outcome_status_index("crashed "), -1);
    /* Every status outcome_from_child() produces has an index (counters). */
    struct buf b = {0};
    struct outcome o = {0};
    struct child_end end = signaled(SIGSEGV);
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK(outcome_status_index(o.status) >= 0);
    outcome_release(&o);
}

TEST(outcome_set_and_reuse)
{
    struct outcome o = {0};
    CHECK_EQ_INT(outcome_set(&o, "invalid", "InvalidJob", "'%s' is %d", "code",
                             7),
                 0);
    CHECK_STREQ(o.status, "invalid");
    CHECK_STREQ(o.error_type.data, "InvalidJob");
    CHECK_MEMEQ(o.error.data, o.error.len, "'code' is 7", 11);
    /* Setting again replaces everything (ASan: nothing leaks). */
    CHECK_EQ_INT(outcome_set(&o, "crashed", "Crashed", "%s", "boom"), 0);
    CHECK_STREQ(o.status, "crashed");
    CHECK_STREQ(o.error.data, "boom");
    CHECK_EQ_UINT(o.error_type.len, 7);
    /* A classification into a used outcome replaces it too. */
    struct buf b = {0};
    struct child_end end = exited(ZEXIT_OK);
    ADD(&b, FRAME_OUT_STATUS, "succeeded");
    ADD(&b, FRAME_OUT_END, "");
    CHECK_EQ_INT(classify(&o, &b, &end), 0);
    CHECK_STREQ(o.status, "succeeded");
    CHECK(o.error.data == NULL);
    CHECK(o.error_type.data == NULL);
    buf_release(&b);
    outcome_release(&o);
    CHECK(o.status == NULL);
    outcome_release(&o); /* twice is fine */
}
