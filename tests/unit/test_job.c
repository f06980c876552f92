/* test_job.c - job hash validation and limit clamping (job.h). */
#include "harness.h"

#include "job.h"

#include <errno.h>

static const struct job_policy policy = {
    .time_ms_default = 1000,
    .time_ms_max = 5000,
    .memory_mb_default = 64,
    .memory_mb_max = 256,
    .output_kb_default = 100,
    .output_kb_max = 1000,
    .code_max_bytes = 1000,
    .args_max_bytes = 1000,
    .result_ttl_default = 3600,
    .result_ttl_max = 86400,
    .max_attempts_default = 3,
};

#define CODE "def f(x=1):\n    return x\n"
#define F(n, v) {(n), (v), sizeof(v) - 1}
#define MAX_FIELDS 16

/* Run job_parse() on copies of the fields whose values are heap buffers of
 * exactly len bytes with no NUL after them (hiredis gives lengths; ASan
 * catches any read past them), freed before returning: the job must own
 * everything it keeps. */
static int parse_with(const struct job_policy *p, const struct job_field *in,
                      size_t n, struct job **ret_job, char **ret_error)
{
    struct job_field copy[MAX_FIELDS] = {{0}};
    char *bufs[MAX_FIELDS] = {0};
    if (n > MAX_FIELDS)
        abort();
    for (size_t i = 0; i < n; i++) {
        bufs[i] = malloc(in[i].len ? in[i].len : 1);
        if (!bufs[i])
            abort();
        memcpy(bufs[i], in[i].value, in[i].len);
        copy[i] = (struct job_field){in[i].name, bufs[i], in[i].len};
    }
    *ret_job = (struct job *)(uintptr_t)0x1; /* sentinel: untouched on error */
    *ret_error = (char *)(uintptr_t)0x1;     /* sentinel: untouched on success */
    int r = job_parse(copy, n, p, ret_job, ret_error);
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    return r;
}

#define PARSE(job, err, ...)                                                   \
    ({                                                                         \
        const struct job_field fields_[] = {__VA_ARGS__};                      \
        parse_with(&policy, fields_, sizeof(fields_) / sizeof(fields_[0]),     \
                   (job), (err));                                              \
    })

/* The job must be invalid with a message naming each of the needles. */
static void expect_invalid(int r, struct job *job, char *err, const char *file,
                           int line, const char *needle1, const char *needle2)
{
    if (r != -EINVAL) {
        harness_fail(file, line, "job_parse returned %d, want -EINVAL", r);
        if (r == 0)
            job_free(job);
        return;
    }
    if (job != (struct job *)(uintptr_t)0x1)
        harness_fail(file, line, "*ret_job was written on failure");
    if (err == (char *)(uintptr_t)0x1 || !err) {
        harness_fail(file, line, "no error message");
        return;
    }
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        harness_fail(file, line, "error \"%s\" does not name '%s'%s%s", err,
                     needle1, needle2 ? " and " : "", needle2 ? needle2 : "");
    free(err);
}

#define EXPECT_INVALID(needle1, needle2, ...)                                  \
    do {                                                                       \
        struct job *job_;                                                      \
        char *err_;                                                            \
        int r_ = PARSE(&job_, &err_, __VA_ARGS__);                             \
        expect_invalid(r_, job_, err_, __FILE__, __LINE__, (needle1),         \
                       (needle2));                                             \
    } while (0)

/* Parse fields that must be valid; REQUIRE in the caller on the result. */
#define EXPECT_VALID(job, ...)                                                 \
    ({                                                                         \
        char *err_;                                                            \
        int r_ = PARSE((job), &err_, __VA_ARGS__);                             \
        if (r_ != 0)                                                           \
            harness_fail(__FILE__, __LINE__, "job_parse returned %d: %s", r_,  \
                         r_ == -EINVAL && err_ ? err_ : "");                   \
        else if (err_ != (char *)(uintptr_t)0x1)                               \
            harness_fail(__FILE__, __LINE__, "*ret_error written on success"); \
        if (r_ == -EINVAL)                                                     \
            free(err_);                                                        \
        r_ == 0;                                                               \
    })

/* A string of n bytes: open, then close, repeated to nest `depth` deep. */
static char *nested(const char *open, const char *inner, const char *close,
                    int depth)
{
    size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
    char *s = malloc((size_t)depth * (lo + lc) + li + 1), *p = s;
    if (!s)
        abort();
    for (int i = 0; i < depth; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, inner, li);
    p += li;
    for (int i = 0; i < depth; i++, p += lc)
        memcpy(p, close, lc);
    *p = '\0';
    return s;
}

static struct job_field field_str(const char *name, const char *value)
{
    return (struct job_field){name, value, strlen(value)};
}

TEST(minimal_job_gets_defaults)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f")));
    CHECK_MEMEQ(job->code, job->code_len, CODE, strlen(CODE));
    CHECK_EQ_INT(job->code[job->code_len], '\0');
    CHECK_STREQ(job->function, "f");
    CHECK_MEMEQ(job->args, job->args_len, "[]", 2);
    CHECK_MEMEQ(job->kwargs, job->kwargs_len, "{}", 2);
    CHECK(job->calls == NULL);
    CHECK(job->queue == NULL);
    CHECK_EQ_UINT(job->limits.time_ms, 1000);
    CHECK_EQ_UINT(job->limits.cpu_ms, 1000);
    CHECK_EQ_UINT(job->limits.memory_mb, 64);
    CHECK_EQ_UINT(job->limits.output_kb, 100);
    CHECK_EQ_UINT(job->result_ttl, 3600);
    CHECK_EQ_UINT(job->max_attempts, 3);
    job_free(job);
}

TEST(other_fields_are_ignored)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("status", "queued"), F("code", CODE),
                         F("enqueued_at", "1700000000000"), F("function", "f"),
                         F("x-unknown", "\xff\xfe"), F("attempts", "2")));
    CHECK_STREQ(job->function, "f");
    job_free(job);
}

TEST(code_missing_or_empty)
{
    EXPECT_INVALID("'code'", NULL, F("function", "f"));
    EXPECT_INVALID("'code'", NULL, F("code", ""), F("function", "f"));
    /* Field names match exactly. */
    EXPECT_INVALID("'code'", NULL, F("Code", CODE), F("function", "f"));
    EXPECT_INVALID("'code'", NULL, F("code ", CODE), F("function", "f"));
}

TEST(function_missing_or_empty)
{
    EXPECT_INVALID("'function'", NULL, F("code", CODE));
    EXPECT_INVALID("'function'", NULL, F("code", CODE), F("function", ""));
}

TEST(function_must_be_identifier)
{
    static const char *const bad[] = {"1f",       "f()",  "os.system", "a-b",
                                      " f",       "f ",   "f\n",       "caf\xc3\xa9",
                                      "f;g",      "__import__('os')"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_INVALID("'function'", NULL, F("code", CODE),
                       field_str("function", bad[i]));
    /* An embedded NUL is not the end of the name. */
    EXPECT_INVALID("'function'", NULL, F("code", CODE), F("function", "f\0g"));
}

TEST(function_length_bounds)
{
    char fn[130];
    memset(fn, 'f', sizeof(fn));
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE),
                         ((struct job_field){"function", fn, 128})));
    CHECK_EQ_UINT(strlen(job->function), 128);
    job_free(job);
    EXPECT_INVALID("'function'", NULL, F("code", CODE),
                   ((struct job_field){"function", fn, 129}));
}

TEST(code_size_cap)
{
    char *code = malloc(1001);
    REQUIRE(code);
    memset(code, '#', 1001);
    struct job *job;
    if (EXPECT_VALID(&job, ((struct job_field){"code", code, 1000}),
                     F("function", "f"))) {
        CHECK_EQ_UINT(job->code_len, 1000);
        job_free(job);
    }
    EXPECT_INVALID("'code'", "1001", ((struct job_field){"code", code, 1001}),
                   F("function", "f"));
    free(code);
}

TEST(code_must_be_utf8)
{
    EXPECT_INVALID("'code'", "UTF-8", F("code", "x = '\xff'\n"),
                   F("function", "f"));
    EXPECT_INVALID("'code'", "UTF-8", F("code", "x = '\xc3'\n"),
                   F("function", "f"));
    EXPECT_INVALID("'code'", "UTF-8", F("code", "x = '\xed\xa0\x80'\n"),
                   F("function", "f"));
    EXPECT_INVALID("'code'", "UTF-8", F("code", "x = '\xc0\x80'\n"),
                   F("function", "f"));
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", "s = 'caf\xc3\xa9 \xf0\x9f\x98\x80'\n"),
                         F("function", "f")));
    job_free(job);
}

TEST(code_bytes_kept_exactly)
{
    /* A NUL inside the code is the child's business (compile rejects it);
     * the model keeps every byte. */
    static const char code[] = "def f():\n\treturn 1\0# tail\r\n";
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", code), F("function", "f")));
    CHECK_MEMEQ(job->code, job->code_len, code, sizeof(code) - 1);
    job_free(job);
}

TEST(args_must_be_json_array)
{
    static const char *const bad[] = {"{}",  "5",   "\"[]\"", "null", "true",
                                      "",    " ",   "[1,",    "[1]]", "[1] x",
                                      "[1,]", "['a']", "[\"\xff\"]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_INVALID("'args'", NULL, F("code", CODE), F("function", "f"),
                       field_str("args", bad[i]));
}

TEST(kwargs_must_be_json_object)
{
    static const char *const bad[] = {"[]", "5", "\"{}\"", "null", "",
                                      "{",  "{\"a\":1,}", "{a:1}", "{} {}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_INVALID("'kwargs'", NULL, F("code", CODE), F("function", "f"),
                       field_str("kwargs", bad[i]));
}

TEST(args_kwargs_text_kept_exactly)
{
    static const char args[] = " [1, \"two\" ,\n[3.5e2, null, true]] ";
    static const char kwargs[] = "{\"k\": {\"x\": \"\\u00e9\\u0000\"}, \"n\": -0}";
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("args", args), F("kwargs", kwargs)));
    CHECK_MEMEQ(job->args, job->args_len, args, sizeof(args) - 1);
    CHECK_MEMEQ(job->kwargs, job->kwargs_len, kwargs, sizeof(kwargs) - 1);
    CHECK(job->calls == NULL);
    job_free(job);
}

TEST(args_alone_kwargs_default)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("args", "[1]")));
    CHECK_MEMEQ(job->args, job->args_len, "[1]", 3);
    CHECK_MEMEQ(job->kwargs, job->kwargs_len, "{}", 2);
    job_free(job);
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("kwargs", "{\"x\": 2}")));
    CHECK_MEMEQ(job->args, job->args_len, "[]", 2);
    CHECK_MEMEQ(job->kwargs, job->kwargs_len, "{\"x\": 2}", 8);
    job_free(job);
}

TEST(json_size_cap)
{
    /* "[" + 997 spaces + "1]" is exactly 1000 bytes. */
    char buf[1002];
    buf[0] = '[';
    memset(buf + 1, ' ', 998);
    memcpy(buf + 998, "1]", 2);
    struct job *job;
    if (EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                     ((struct job_field){"args", buf, 1000}))) {
        CHECK_EQ_UINT(job->args_len, 1000);
        job_free(job);
    }
    /* One more space: 1001 bytes. */
    memmove(buf + 999, buf + 998, 2);
    buf[998] = ' ';
    EXPECT_INVALID("'args'", "1001", F("code", CODE), F("function", "f"),
                   ((struct job_field){"args", buf, 1001}));
    buf[0] = '{';
    memcpy(buf + 999, " }", 2);
    EXPECT_INVALID("'kwargs'", "1001", F("code", CODE), F("function", "f"),
                   ((struct job_field){"kwargs", buf, 1001}));
    buf[0] = '[';
    memcpy(buf + 999, " ]", 2);
    EXPECT_INVALID("'calls'", "1001", F("code", CODE), F("function", "f"),
                   ((struct job_field){"calls", buf, 1001}));
}

TEST(calls_batch)
{
    static const char calls[] = "[[1], [2, 3], [], [{\"a\": [4]}]]";
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("calls", calls)));
    CHECK_MEMEQ(job->calls, job->calls_len, calls, sizeof(calls) - 1);
    job_free(job);
}

TEST(calls_not_with_args_or_kwargs)
{
    EXPECT_INVALID("'calls'", "'args'", F("code", CODE), F("function", "f"),
                   F("calls", "[[1]]"), F("args", "[]"));
    EXPECT_INVALID("'calls'", "'kwargs'", F("code", CODE), F("function", "f"),
                   F("kwargs", "{}"), F("calls", "[[1]]"));
}

TEST(calls_items_must_be_arrays)
{
    static const char *const bad[] = {"[1]",         "[[1], 2]", "[[1], {}]",
                                      "[[1], null]", "[\"[1]\"]", "[[], [[]], 0]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_INVALID("'calls'", "arrays", F("code", CODE), F("function", "f"),
                       field_str("calls", bad[i]));
    EXPECT_INVALID("'calls'", NULL, F("code", CODE), F("function", "f"),
                   F("calls", "{\"a\": [1]}"));
    EXPECT_INVALID("'calls'", NULL, F("code", CODE), F("function", "f"),
                   F("calls", "[[1]"));
}

/* "[[],[],...]" with n items. */
static char *calls_of(size_t n, size_t *ret_len)
{
    char *s = malloc(3 * n + 2);
    if (!s)
        abort();
    size_t p = 0;
    s[p++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            s[p++] = ',';
        s[p++] = '[';
        s[p++] = ']';
    }
    s[p++] = ']';
    *ret_len = p;
    return s;
}

TEST(calls_item_cap)
{
    struct job_policy big = policy;
    big.args_max_bytes = 1u << 20;
    struct job *job;
    char *err;
    size_t len;
    char *s = calls_of(JOB_CALLS_MAX_ITEMS, &len);
    struct job_field ok[] = {F("code", CODE), F("function", "f"),
                             {"calls", s, len}};
    int r = parse_with(&big, ok, 3, &job, &err);
    CHECK_EQ_INT(r, 0);
    if (r == 0)
        job_free(job);
    else if (r == -EINVAL)
        free(err);
    free(s);

    /* Over the cap, but also over JOB_JSON_VALIDATE_MAX: not parsed here;
     * the sandboxed child counts the items (tests/integration). */
    s = calls_of(JOB_CALLS_MAX_ITEMS + 1, &len);
    CHECK(len > JOB_JSON_VALIDATE_MAX);
    struct job_field over[] = {F("code", CODE), F("function", "f"),
                               {"calls", s, len}};
    r = parse_with(&big, over, 3, &job, &err);
    CHECK_EQ_INT(r, 0);
    if (r == 0)
        job_free(job);
    free(s);
}

TEST(json_depth_at_cap_accepted)
{
    struct job *job;
    char *a = nested("[", "", "]", JOB_JSON_MAX_DEPTH);
    char *k = nested("{\"a\":", "{}", "}", JOB_JSON_MAX_DEPTH - 1);
    char *c = nested("[", "", "]", JOB_JSON_MAX_DEPTH);
    if (EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                     field_str("args", a), field_str("kwargs", k)))
        job_free(job);
    if (EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                     field_str("calls", c)))
        job_free(job);
    free(a);
    free(k);
    free(c);
}

TEST(json_too_deep_rejected)
{
    struct job_policy big = policy;
    big.args_max_bytes = 1u << 20;
    char *a = nested("[", "", "]", JOB_JSON_MAX_DEPTH + 1);
    char *k = nested("{\"a\":", "{}", "}", JOB_JSON_MAX_DEPTH);
    char *m = nested("[{\"a\":", "[]", "}]", JOB_JSON_MAX_DEPTH / 2);
    char *c = nested("[", "", "]", JOB_JSON_MAX_DEPTH + 1);
    char *huge = nested("[", "", "]", 100000); /* past jansson's own limit */
    EXPECT_INVALID("'args'", "64", F("code", CODE), F("function", "f"),
                   field_str("args", a));
    EXPECT_INVALID("'kwargs'", "64", F("code", CODE), F("function", "f"),
                   field_str("kwargs", k));
    EXPECT_INVALID("'args'", "64", F("code", CODE), F("function", "f"),
                   field_str("args", m));
    EXPECT_INVALID("'calls'", "64", F("code", CODE), F("function", "f"),
                   field_str("calls", c));
    struct job_field deep[] = {F("code", CODE), F("function", "f"),
                               field_str("args", huge)};
    struct job *job;
    char *err;
    int r = parse_with(&big, deep, 3, &job, &err);
    if (strlen(huge) > JOB_JSON_VALIDATE_MAX) {
        CHECK_EQ_INT(r, 0); /* left to the sandboxed child */
        if (r == 0)
            job_free(job);
    } else {
        expect_invalid(r, job, err, __FILE__, __LINE__, "'args'", NULL);
    }
    free(a);
    free(k);
    free(m);
    free(c);
    free(huge);
}

/* BUG (common/job.c:83-98, json_depth): a scalar leaf counts as one more
 * level, so 64 nested arrays are accepted when empty but refused as
 * "nested deeper than 64 levels" as soon as the innermost holds a value. */
TEST(regression_json_depth_scalar_leaf_is_not_a_level)
{
    struct job *job;
    char *a = nested("[", "1", "]", JOB_JSON_MAX_DEPTH);
    if (EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                     field_str("args", a)))
        job_free(job);
    free(a);
}

TEST(big_ints_accepted)
{
    static const char args[] =
        "[123456789012345678901234567890, -99999999999999999999999999, "
        "18446744073709551616, 1.5e300, -0.0, 1e-400]";
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("args", args), F("kwargs", "{\"n\": 1e308}")));
    CHECK_MEMEQ(job->args, job->args_len, args, sizeof(args) - 1);
    job_free(job);
}

/* BUG (common/job.c:120-131, json_field): ints are decoded as reals "so big
 * Python ints stay valid", but an integer above ~1.8e308 overflows the
 * double and jansson refuses the whole text ("real number overflow"): a
 * producer can send json.dumps(10**400), yet the job ends `invalid`. */
TEST(regression_huge_int_accepted)
{
    char args[404];
    args[0] = '[';
    args[1] = '1';
    memset(args + 2, '0', 400);
    args[402] = ']';
    args[403] = '\0';
    struct job *job;
    if (EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                     field_str("args", args)))
        job_free(job);
}

TEST(nan_and_infinity_rejected)
{
    static const char *const bad[] = {"[NaN]", "[nan]", "[Infinity]",
                                      "[-Infinity]", "[1, NaN]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        EXPECT_INVALID("'args'", NULL, F("code", CODE), F("function", "f"),
                       field_str("args", bad[i]));
    EXPECT_INVALID("'kwargs'", NULL, F("code", CODE), F("function", "f"),
                   F("kwargs", "{\"x\": NaN}"));
    EXPECT_INVALID("'calls'", NULL, F("code", CODE), F("function", "f"),
                   F("calls", "[[Infinity]]"));
}

TEST(limits_below_ceiling_kept)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("limit_time_ms", "2500"), F("limit_memory_mb", "8"),
                         F("limit_output_kb", "1"), F("result_ttl", "60"),
                         F("max_attempts", "1")));
    CHECK_EQ_UINT(job->limits.time_ms, 2500);
    CHECK_EQ_UINT(job->limits.cpu_ms, 2500);
    CHECK_EQ_UINT(job->limits.memory_mb, 8);
    CHECK_EQ_UINT(job->limits.output_kb, 1);
    CHECK_EQ_UINT(job->result_ttl, 60);
    CHECK_EQ_UINT(job->max_attempts, 1);
    job_free(job);
}

TEST(limits_clamped_to_ceilings)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("limit_time_ms", "5001"),
                         F("limit_memory_mb", "18446744073709551615"),
                         F("limit_output_kb", "4294967296"),
                         F("result_ttl", "999999999"),
                         F("max_attempts", "101")));
    CHECK_EQ_UINT(job->limits.time_ms, 5000);
    CHECK_EQ_UINT(job->limits.cpu_ms, 5000);
    CHECK_EQ_UINT(job->limits.memory_mb, 256);
    CHECK_EQ_UINT(job->limits.output_kb, 1000);
    CHECK_EQ_UINT(job->result_ttl, 86400);
    CHECK_EQ_UINT(job->max_attempts, 100);
    job_free(job);
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("limit_time_ms", "5000"), F("limit_memory_mb", "256"),
                         F("max_attempts", "100")));
    CHECK_EQ_UINT(job->limits.time_ms, 5000);
    CHECK_EQ_UINT(job->limits.memory_mb, 256);
    CHECK_EQ_UINT(job->max_attempts, 100);
    job_free(job);
}

TEST(limits_must_be_positive_integers)
{
    static const char *const names[] = {"limit_time_ms", "limit_memory_mb",
                                        "limit_output_kb", "result_ttl",
                                        "max_attempts"};
    static const char *const bad[] = {"0",   "00", "-1",  "-5000", "+5",
                                      " 5",  "5 ", "5.0", "1e3",   "abc",
                                      "",    "0x10", "5ms", "18446744073709551616",
                                      "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "'%s'", names[i]);
        for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
            EXPECT_INVALID(want, NULL, F("code", CODE), F("function", "f"),
                           field_str(names[i], bad[k]));
    }
}

TEST(limit_clamp_direct)
{
    unsigned v = 7;
    CHECK_EQ_INT(job_limit_clamp(NULL, 0, 100, 500, &v), 0);
    CHECK_EQ_UINT(v, 100);
    CHECK_EQ_INT(job_limit_clamp(NULL, 0, 900, 500, &v), 0); /* def > max */
    CHECK_EQ_UINT(v, 500);
    CHECK_EQ_INT(job_limit_clamp("1", 1, 100, 500, &v), 0);
    CHECK_EQ_UINT(v, 1);
    CHECK_EQ_INT(job_limit_clamp("500", 3, 100, 500, &v), 0);
    CHECK_EQ_UINT(v, 500);
    CHECK_EQ_INT(job_limit_clamp("501", 3, 100, 500, &v), 0);
    CHECK_EQ_UINT(v, 500);
    CHECK_EQ_INT(job_limit_clamp("4294967297", 10, 100, 4294967295u, &v), 0);
    CHECK_EQ_UINT(v, 4294967295u);
    CHECK_EQ_INT(job_limit_clamp("12x", 2, 100, 500, &v), 0); /* len counts */
    CHECK_EQ_UINT(v, 12);
    v = 7;
    CHECK_EQ_INT(job_limit_clamp("0", 1, 100, 500, &v), -EINVAL);
    CHECK_EQ_INT(job_limit_clamp("", 0, 100, 500, &v), -EINVAL);
    CHECK_EQ_INT(job_limit_clamp("-1", 2, 100, 500, &v), -EINVAL);
    CHECK_EQ_INT(job_limit_clamp("1x", 2, 100, 500, &v), -EINVAL);
    CHECK_EQ_UINT(v, 7);
}

TEST(queue_field)
{
    struct job *job;
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         F("queue", "high.prio:1-a_b")));
    CHECK_STREQ(job->queue, "high.prio:1-a_b");
    job_free(job);

    char q[130];
    memset(q, 'q', sizeof(q));
    REQUIRE(EXPECT_VALID(&job, F("code", CODE), F("function", "f"),
                         ((struct job_field){"queue", q, 128})));
    CHECK_EQ_UINT(strlen(job->queue), 128);
    job_free(job);

    EXPECT_INVALID("'queue'", NULL, F("code", CODE), F("function", "f"),
                   ((struct job_field){"queue", q, 129}));
    EXPECT_INVALID("'queue'", NULL, F("code", CODE), F("function", "f"),
                   F("queue", ""));
    EXPECT_INVALID("'queue'", NULL, F("code", CODE), F("function", "f"),
                   F("queue", "a b"));
    EXPECT_INVALID("'queue'", NULL, F("code", CODE), F("function", "f"),
                   F("queue", "a/b"));
    EXPECT_INVALID("'queue'", NULL, F("code", CODE), F("function", "f"),
                   F("queue", "q\0x"));
}

TEST(job_free_null)
{
    job_free(NULL);
    CHECK(true);
}

/* Fields over JOB_JSON_VALIDATE_MAX are not parsed in the supervisor (the
 * sandboxed child validates them); only their outer type is checked. */
TEST(big_json_field_type_checked_only)
{
    size_t n = JOB_JSON_VALIDATE_MAX + 10;
    char *args = malloc(n + 1);
    REQUIRE(args != NULL);
    memset(args, ' ', n);
    args[0] = '[';
    args[1] = '1';
    args[2] = ',';           /* malformed: the child reports it */
    args[n - 1] = ']';
    args[n] = '\0';
    struct job_policy big = policy;
    big.args_max_bytes = 1u << 20;
    struct job *job;
    char *err;
    struct job_field ok[] = {F("code", CODE), F("function", "f"),
                             field_str("args", args)};
    int r = parse_with(&big, ok, 3, &job, &err);
    CHECK_EQ_INT(r, 0);
    if (r == 0)
        job_free(job);
    args[0] = '{';
    struct job_field bad[] = {F("code", CODE), F("function", "f"),
                              field_str("args", args)};
    r = parse_with(&big, bad, 3, &job, &err);
    expect_invalid(r, job, err, __FILE__, __LINE__, "'args'", "array");
    free(args);
}
