/* harness.h - a tiny header-only unit test harness for tests/unit/.
 *
 * One test binary per module: include this header once, in the test's only
 * translation unit, and define tests with
 *
 *     TEST(name) { CHECK(...); }         runs in the harness process
 *     TEST_FORK(name) { ... }            runs in a forked child of its own
 *                                        (libevent tinytest TT_FORK): for
 *                                        tests that change process state
 *                                        (environment, getopt, signals,
 *                                        seccomp) or may crash
 *
 * Tests register themselves from constructors and run in file order. The
 * generated main() runs them all (or those named on the command line),
 * prints one line per test (PASS name / FAIL name / SKIP reason (name)) and
 * then exactly one summary line
 *
 *     N passed, N failed[, N skipped]
 *
 * and exits 1 when a test failed, 0 otherwise.
 *
 * Checks, each printing "file:line: ..." on failure:
 *     CHECK(cond)                         the test goes on
 *     CHECK_EQ_INT(got, want)             as intmax_t, both values printed
 *     CHECK_EQ_UINT(got, want)            as uintmax_t
 *     CHECK_STREQ(got, want)              NUL-terminated, NULL-safe
 *     CHECK_MEMEQ(got, got_len, want, want_len)   bytes and length
 *     CHECK_CONTAINS(haystack, needle)    substring, NULL-safe
 *     REQUIRE(cond)                       like CHECK, but ends the test
 *     SKIP(reason)                        prints "SKIP <reason> (<test>)"
 *                                         and ends the test
 * REQUIRE and SKIP return from the calling function, so use them in the
 * test body (or a void helper whose caller checks test_failed()).
 *
 * Command line: test_x [--fork] [--list] [NAME...]
 *     --fork   run every test in its own child (or HARNESS_FORK=1), so a
 *              crash fails one test instead of ending the run
 *     NAME     run only the tests with these names
 * A forked test that runs longer than HARNESS_TIMEOUT seconds (default
 * 60) is killed and fails. */
#ifndef SANDQ_TEST_HARNESS_H
#define SANDQ_TEST_HARNESS_H

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HARNESS_MAX_TESTS 1024
#define HARNESS_FLAG_FORK 1u

/* A forked test reports through its exit code. */
#define HARNESS_EXIT_PASS 0
#define HARNESS_EXIT_FAIL 1
#define HARNESS_EXIT_SKIP 77

struct harness_test {
    const char *name;
    void (*fn)(void);
    unsigned flags;
    int line;
};

struct harness_state {
    struct harness_test tests[HARNESS_MAX_TESTS];
    size_t n_tests;
    const char *current;
    bool failed, skipped;
};

static struct harness_state harness;

static inline void harness_register(const char *name, void (*fn)(void),
                                    unsigned flags, int line)
{
    if (harness.n_tests == HARNESS_MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests\n", HARNESS_MAX_TESTS);
        abort();
    }
    harness.tests[harness.n_tests++] =
        (struct harness_test){name, fn, flags, line};
}

#define HARNESS_DEFINE(name, flags)                                            \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void harness_reg_##name(void)          \
    {                                                                          \
        harness_register(#name, test_##name, (flags), __LINE__);               \
    }                                                                          \
    static void test_##name(void)

#define TEST(name) HARNESS_DEFINE(name, 0)
#define TEST_FORK(name) HARNESS_DEFINE(name, HARNESS_FLAG_FORK)

/* True once a check in the running test failed. */
static inline bool test_failed(void) { return harness.failed; }

__attribute__((format(printf, 3, 4))) static inline void
harness_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    harness.failed = true;
    printf("%s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* Print at most 200 bytes of s, escaping anything not printable ASCII. */
static inline void harness_print_bytes(const char *s, size_t len)
{
    if (!s) {
        fputs("(null)", stdout);
        return;
    }
    putchar('"');
    for (size_t i = 0; i < len && i < 200; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (isprint(c))
            putchar(c);
        else
            printf("\\x%02x", c);
    }
    putchar('"');
    if (len > 200)
        printf("...(%zu bytes)", len);
}

static inline void harness_fail_bytes(const char *file, int line,
                                      const char *what, const char *got,
                                      size_t got_len, const char *want,
                                      size_t want_len)
{
    harness.failed = true;
    printf("%s:%d: %s\n    got:  ", file, line, what);
    harness_print_bytes(got, got_len);
    printf("\n    want: ");
    harness_print_bytes(want, want_len);
    putchar('\n');
    fflush(stdout);
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            harness_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);       \
    } while (0)

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            harness_fail(__FILE__, __LINE__, "REQUIRE(%s) failed", #cond);     \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_EQ_INT(got, want)                                                \
    do {                                                                       \
        intmax_t got_ = (intmax_t)(got), want_ = (intmax_t)(want);             \
        if (got_ != want_)                                                     \
            harness_fail(__FILE__, __LINE__,                                   \
                         "CHECK_EQ_INT(%s, %s): got %jd, want %jd", #got,      \
                         #want, got_, want_);                                  \
    } while (0)

#define CHECK_EQ_UINT(got, want)                                               \
    do {                                                                       \
        uintmax_t got_ = (uintmax_t)(got), want_ = (uintmax_t)(want);          \
        if (got_ != want_)                                                     \
            harness_fail(__FILE__, __LINE__,                                   \
                         "CHECK_EQ_UINT(%s, %s): got %ju, want %ju", #got,     \
                         #want, got_, want_);                                  \
    } while (0)

#define CHECK_STREQ(got, want)                                                 \
    do {                                                                       \
        const char *got_ = (got), *want_ = (want);                             \
        if (!got_ || !want_ ? got_ != want_ : strcmp(got_, want_) != 0)        \
            harness_fail_bytes(__FILE__, __LINE__,                             \
                               "CHECK_STREQ(" #got ", " #want ") failed",      \
                               got_, got_ ? strlen(got_) : 0, want_,           \
                               want_ ? strlen(want_) : 0);                     \
    } while (0)

#define CHECK_MEMEQ(got, got_len, want, want_len)                              \
    do {                                                                       \
        const char *got_ = (const char *)(got);                                \
        const char *want_ = (const char *)(want);                              \
        size_t got_len_ = (got_len), want_len_ = (want_len);                   \
        if (got_len_ != want_len_ || (got_len_ && (!got_ || !want_)) ||        \
            (got_len_ && memcmp(got_, want_, got_len_) != 0))                  \
            harness_fail_bytes(__FILE__, __LINE__,                             \
                               "CHECK_MEMEQ(" #got ", " #want ") failed",      \
                               got_, got_len_, want_, want_len_);              \
    } while (0)

#define CHECK_CONTAINS(haystack, needle)                                       \
    do {                                                                       \
        const char *hay_ = (haystack), *needle_ = (needle);                    \
        if (!hay_ || !needle_ || !strstr(hay_, needle_))                       \
            harness_fail_bytes(__FILE__, __LINE__,                             \
                               "CHECK_CONTAINS(" #haystack ", " #needle        \
                               ") failed",                                     \
                               hay_, hay_ ? strlen(hay_) : 0, needle_,         \
                               needle_ ? strlen(needle_) : 0);                 \
    } while (0)

#define SKIP(reason)                                                           \
    do {                                                                       \
        harness.skipped = true;                                                \
        printf("SKIP %s (%s)\n", (reason), harness.current);                   \
        fflush(stdout);                                                        \
        return;                                                                \
    } while (0)

enum harness_result { HARNESS_PASS, HARNESS_FAIL, HARNESS_SKIP };

static inline enum harness_result harness_run_here(const struct harness_test *t)
{
    harness.current = t->name;
    harness.failed = harness.skipped = false;
    t->fn();
    fflush(stdout);
    if (harness.failed)
        return HARNESS_FAIL;
    return harness.skipped ? HARNESS_SKIP : HARNESS_PASS;
}

static inline enum harness_result harness_run_forked(const struct harness_test *t)
{
    const char *tmo = getenv("HARNESS_TIMEOUT");
    int status;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("harness: fork");
        return HARNESS_FAIL;
    }
    if (pid == 0) {
        unsigned long secs = tmo && *tmo ? strtoul(tmo, NULL, 10) : 0;
        alarm(secs > 0 && secs < 86400 ? (unsigned)secs : 60);
        enum harness_result r = harness_run_here(t);
        /* exit(), not _exit(): a sanitizer's leak check runs in the child. */
        exit(r == HARNESS_FAIL   ? HARNESS_EXIT_FAIL
             : r == HARNESS_SKIP ? HARNESS_EXIT_SKIP
                                 : HARNESS_EXIT_PASS);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("harness: waitpid");
            return HARNESS_FAIL;
        }
    }
    if (WIFSIGNALED(status)) {
        printf("%s: killed by signal %d (%s)\n", t->name, WTERMSIG(status),
               strsignal(WTERMSIG(status)));
        return HARNESS_FAIL;
    }
    if (WEXITSTATUS(status) == HARNESS_EXIT_SKIP)
        return HARNESS_SKIP;
    if (WEXITSTATUS(status) != HARNESS_EXIT_PASS) {
        if (WEXITSTATUS(status) != HARNESS_EXIT_FAIL)
            printf("%s: exited with code %d\n", t->name, WEXITSTATUS(status));
        return HARNESS_FAIL;
    }
    return HARNESS_PASS;
}

static inline int harness_by_line(const void *a, const void *b)
{
    const struct harness_test *x = a, *y = b;
    return (x->line > y->line) - (x->line < y->line);
}

static inline bool harness_selected(const struct harness_test *t, int argc,
                                    char **argv)
{
    bool any = false;
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        any = true;
        if (strcmp(argv[i], t->name) == 0)
            return true;
    }
    return !any;
}

int main(int argc, char **argv)
{
    const char *env_fork = getenv("HARNESS_FORK");
    bool fork_all = env_fork && *env_fork && strcmp(env_fork, "0") != 0;
    unsigned passed = 0, failed = 0, skipped = 0;

    qsort(harness.tests, harness.n_tests, sizeof(harness.tests[0]),
          harness_by_line);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fork") == 0) {
            fork_all = true;
        } else if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < harness.n_tests; k++)
                printf("%s\n", harness.tests[k].name);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--fork] [--list] [NAME...]\n", argv[0]);
            return 2;
        }
    }
    for (int i = 1; i < argc; i++) {
        bool known = argv[i][0] == '-';
        for (size_t k = 0; k < harness.n_tests && !known; k++)
            known = strcmp(argv[i], harness.tests[k].name) == 0;
        if (!known) {
            fprintf(stderr, "%s: no test named '%s' (see --list)\n", argv[0],
                    argv[i]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t k = 0; k < harness.n_tests; k++) {
        const struct harness_test *t = &harness.tests[k];
        if (!harness_selected(t, argc, argv))
            continue;
        enum harness_result r = fork_all || (t->flags & HARNESS_FLAG_FORK)
                                    ? harness_run_forked(t)
                                    : harness_run_here(t);
        if (r == HARNESS_PASS) {
            passed++;
            printf("PASS %s\n", t->name);
        } else if (r == HARNESS_FAIL) {
            failed++;
            printf("FAIL %s\n", t->name);
        } else {
            skipped++;
        }
    }
    if (skipped)
        printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
    else
        printf("%u passed, %u failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

#endif
