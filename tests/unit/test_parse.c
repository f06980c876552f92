/* test_parse.c - strict numbers, names, identifiers and UTF-8 (parse.h). */
#include "harness.h"

#include "parse.h"

#include <errno.h>
#include <limits.h>

/* parse_u64 over a NUL-terminated literal, ret preset to a sentinel so a
 * failed parse that wrote it is caught. */
static int u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    *ret = 0xdeadbeef;
    return parse_u64(s, strlen(s), min, max, ret);
}

TEST(u64_zero_and_small)
{
    uint64_t v;
    CHECK_EQ_INT(u64("0", 0, UINT64_MAX, &v), 0);
    CHECK_EQ_UINT(v, 0);
    CHECK_EQ_INT(u64("7", 0, UINT64_MAX, &v), 0);
    CHECK_EQ_UINT(v, 7);
    CHECK_EQ_INT(u64("1234567890", 0, UINT64_MAX, &v), 0);
    CHECK_EQ_UINT(v, 1234567890u);
}

TEST(u64_max_and_overflow)
{
    uint64_t v;
    CHECK_EQ_INT(u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
    CHECK_EQ_UINT(v, UINT64_MAX);
    CHECK_EQ_INT(u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_EQ_UINT(v, 0xdeadbeef);
    CHECK_EQ_INT(u64("18446744073709551620", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_EQ_INT(u64("99999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_EQ_INT(u64("184467440737095516150", 0, UINT64_MAX, &v), -ERANGE);
    CHECK_EQ_INT(u64("100000000000000000000000000000", 0, UINT64_MAX, &v),
                 -ERANGE);
    CHECK_EQ_UINT(v, 0xdeadbeef);
}

TEST(u64_range_bounds)
{
    uint64_t v;
    CHECK_EQ_INT(u64("1", 1, 10, &v), 0);
    CHECK_EQ_UINT(v, 1);
    CHECK_EQ_INT(u64("10", 1, 10, &v), 0);
    CHECK_EQ_UINT(v, 10);
    CHECK_EQ_INT(u64("0", 1, 10, &v), -ERANGE);
    CHECK_EQ_INT(u64("11", 1, 10, &v), -ERANGE);
    CHECK_EQ_UINT(v, 0xdeadbeef);
    CHECK_EQ_INT(u64("5", 5, 5, &v), 0);
    CHECK_EQ_UINT(v, 5);
    CHECK_EQ_INT(u64("4", 5, 5, &v), -ERANGE);
}

TEST(u64_rejects_syntax)
{
    static const char *const bad[] = {
        "",   "+1",  "-1",  "-0",   " 1",   "1 ",  "\t1", "1\n", "0x10",
        "1e3", "1.0", "1,000", "1_000", "one", "١",   "+",   "-",   " "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        int r = u64(bad[i], 0, UINT64_MAX, &v);
        if (r != -EINVAL)
            printf("  input '%s'\n", bad[i]);
        CHECK_EQ_INT(r, -EINVAL);
        CHECK_EQ_UINT(v, 0xdeadbeef);
    }
}

TEST(u64_honours_len_not_nul)
{
    /* Not NUL-terminated: only len bytes count, the rest is never read. */
    const char buf[] = {'4', '2', 'x', '9'};
    uint64_t v = 0;
    CHECK_EQ_INT(parse_u64(buf, 2, 0, 100, &v), 0);
    CHECK_EQ_UINT(v, 42);
    CHECK_EQ_INT(parse_u64(buf, 3, 0, 100, &v), -EINVAL);
    CHECK_EQ_INT(parse_u64(buf, 0, 0, 100, &v), -EINVAL);
    /* An embedded NUL is a syntax error, not the end. */
    CHECK_EQ_INT(parse_u64("1\0002", 3, 0, 1000, &v), -EINVAL);
}

TEST(u64_leading_zeros)
{
    uint64_t v;
    CHECK_EQ_INT(u64("007", 0, 100, &v), 0);
    CHECK_EQ_UINT(v, 7);
    CHECK_EQ_INT(u64("00000000000000000042", 0, 100, &v), 0); /* 20 chars */
    CHECK_EQ_UINT(v, 42);
}

/* BUG (common/parse.c:11-12): the "len > 20" shortcut returns -ERANGE
 * before looking at the bytes, so a syntax error longer than 20 bytes is
 * reported as out of range, against parse.h ("-EINVAL on syntax"). */
TEST(regression_u64_long_garbage_is_einval)
{
    uint64_t v;
    CHECK_EQ_INT(u64("abcdefghijklmnopqrstuvwxyz", 0, UINT64_MAX, &v), -EINVAL);
    CHECK_EQ_INT(u64("-100000000000000000000", 0, UINT64_MAX, &v), -EINVAL);
}

/* BUG (common/parse.c:11-12): the same shortcut rejects an in-range value
 * written with more than 20 digits, while "007" is accepted. */
TEST(regression_u64_zero_padded_in_range)
{
    uint64_t v;
    CHECK_EQ_INT(u64("000000000000000000000042", 0, 100, &v), 0);
    CHECK_EQ_UINT(v, 42);
}

TEST(uint_bounds)
{
    unsigned v = 99;
    CHECK_EQ_INT(parse_uint("4294967295", 0, UINT_MAX, &v), 0);
    CHECK_EQ_UINT(v, UINT_MAX);
    v = 99;
    CHECK_EQ_INT(parse_uint("4294967296", 0, UINT_MAX, &v), -ERANGE);
    CHECK_EQ_UINT(v, 99);
    CHECK_EQ_INT(parse_uint("18446744073709551616", 0, UINT_MAX, &v), -ERANGE);
    CHECK_EQ_INT(parse_uint("0", 0, 5, &v), 0);
    CHECK_EQ_UINT(v, 0);
    CHECK_EQ_INT(parse_uint("0", 1, 5, &v), -ERANGE);
    CHECK_EQ_INT(parse_uint("6", 1, 5, &v), -ERANGE);
    CHECK_EQ_INT(parse_uint("5", 1, 5, &v), 0);
    CHECK_EQ_UINT(v, 5);
}

TEST(uint_rejects_syntax)
{
    unsigned v = 99;
    CHECK_EQ_INT(parse_uint("", 0, 10, &v), -EINVAL);
    CHECK_EQ_INT(parse_uint("-1", 0, 10, &v), -EINVAL);
    CHECK_EQ_INT(parse_uint("+1", 0, 10, &v), -EINVAL);
    CHECK_EQ_INT(parse_uint(" 1", 0, 10, &v), -EINVAL);
    CHECK_EQ_INT(parse_uint("1 ", 0, 10, &v), -EINVAL);
    CHECK_EQ_INT(parse_uint("1k", 0, 10, &v), -EINVAL);
    CHECK_EQ_UINT(v, 99);
}

static bool name(const char *s) { return parse_is_name(s, strlen(s)); }

TEST(name_charset)
{
    CHECK(name("default"));
    CHECK(name("A-Z_a-z.0-9:x"));
    CHECK(name("0"));
    CHECK(name("."));
    CHECK(name("job:2024-01-01T00.00"));
    static const char *const bad[] = {"",      " ",      "a b",   "a/b",
                                      "a*",    "a\tb",   "a\nb",  "caf\xc3\xa9",
                                      "a@b",   "{a}",    "a,b",   "a+b",
                                      "a\\b",  "a\"b",   "a'b",   "\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (name(bad[i]))
            printf("  accepted '%s'\n", bad[i]);
        CHECK(!name(bad[i]));
    }
}

TEST(name_length_bounds)
{
    char s[130];
    memset(s, 'n', sizeof(s));
    CHECK(!parse_is_name(s, 0));
    CHECK(parse_is_name(s, 1));
    CHECK(parse_is_name(s, 128));
    CHECK(!parse_is_name(s, 129));
    CHECK(!parse_is_name(s, 130));
}

TEST(name_embedded_nul)
{
    CHECK(!parse_is_name("ab\0cd", 5));
    CHECK(parse_is_name("ab\0cd", 2));
}

static bool ident(const char *s) { return parse_is_identifier(s, strlen(s)); }

TEST(identifier)
{
    CHECK(ident("f"));
    CHECK(ident("_"));
    CHECK(ident("__init__"));
    CHECK(ident("fib2"));
    CHECK(ident("CamelCase_9"));
    CHECK(!ident(""));
    CHECK(!ident("2fib"));
    CHECK(!ident("9"));
    CHECK(!ident("a-b"));
    CHECK(!ident("a.b"));
    CHECK(!ident("a b"));
    CHECK(!ident(" a"));
    CHECK(!ident("a:b"));
    CHECK(!ident("f()"));
    CHECK(!ident("caf\xc3\xa9"));
    CHECK(!parse_is_identifier("ab\0", 3));
}

TEST(identifier_length_bounds)
{
    char s[130];
    memset(s, 'i', sizeof(s));
    CHECK(!parse_is_identifier(s, 0));
    CHECK(parse_is_identifier(s, 1));
    CHECK(parse_is_identifier(s, 128));
    CHECK(!parse_is_identifier(s, 129));
}

static bool utf8(const char *s) { return parse_is_utf8(s, strlen(s)); }

TEST(utf8_valid)
{
    CHECK(parse_is_utf8("", 0));
    CHECK(utf8("plain ascii\n\t"));
    CHECK(parse_is_utf8("a\0b", 3));   /* NUL is valid UTF-8 */
    CHECK(utf8("\x7f"));
    CHECK(utf8("\xc2\x80"));           /* U+0080, smallest 2-byte */
    CHECK(utf8("caf\xc3\xa9"));        /* é */
    CHECK(utf8("\xdf\xbf"));           /* U+07FF */
    CHECK(utf8("\xe0\xa0\x80"));       /* U+0800, smallest 3-byte */
    CHECK(utf8("\xe2\x82\xac"));       /* € */
    CHECK(utf8("\xed\x9f\xbf"));       /* U+D7FF, below the surrogates */
    CHECK(utf8("\xee\x80\x80"));       /* U+E000, above the surrogates */
    CHECK(utf8("\xef\xbf\xbf"));       /* U+FFFF */
    CHECK(utf8("\xf0\x90\x80\x80"));   /* U+10000, smallest 4-byte */
    CHECK(utf8("\xf0\x9f\x98\x80"));   /* emoji */
    CHECK(utf8("\xf4\x8f\xbf\xbf"));   /* U+10FFFF, the last code point */
}

TEST(utf8_invalid)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation */
        "\xbf",
        "a\x80z",
        "\xc0\x80",         /* overlong NUL */
        "\xc1\xbf",         /* overlong 2-byte */
        "\xe0\x80\x80",     /* overlong 3-byte */
        "\xe0\x9f\xbf",     /* overlong U+07FF */
        "\xf0\x80\x80\x80", /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf", /* overlong U+FFFF */
        "\xed\xa0\x80",     /* U+D800 surrogate */
        "\xed\xbf\xbf",     /* U+DFFF surrogate */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* lead byte past U+10FFFF */
        "\xf8\x88\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xc3",             /* truncated */
        "\xe2\x82",
        "\xf0\x9f\x98",
        "\xc3\x28",         /* bad continuation */
        "\xe2\x28\xac",
        "\xf0\x9f\x28\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (utf8(bad[i]))
            printf("  accepted case %zu\n", i);
        CHECK(!utf8(bad[i]));
    }
}

/* A heap copy of exactly len bytes, so ASan catches a read past len. */
static bool utf8_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    if (!p)
        abort();
    memcpy(p, s, len);
    bool ok = parse_is_utf8(p, len);
    free(p);
    return ok;
}

TEST(utf8_sequence_cut_by_len)
{
    CHECK(utf8_exact("\xe2\x82\xac", 3));
    CHECK(!utf8_exact("\xe2\x82\xac", 2));
    CHECK(!utf8_exact("\xe2\x82\xac", 1));
    CHECK(!utf8_exact("\xf0\x9f\x98\x80", 3));
    CHECK(!utf8_exact("ok\xc3", 3));
    CHECK(utf8_exact("ok\xc3\xa9", 4));
}
