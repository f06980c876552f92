/* parse.c - strict parsers for untrusted text (see parse.h). */
#include "parse.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int parse_u64(const char *s, size_t len, uint64_t min, uint64_t max,
              uint64_t *ret)
{
    uint64_t v = 0;
    if (len == 0)
        return -EINVAL;
    bool overflow = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    if (overflow || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
    uint64_t v;
    int r = parse_u64(s, strlen(s), min, max, &v);
    if (r < 0)
        return r;
    *ret = (unsigned)v;
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
           c == '-';
}

bool parse_is_name(const char *s, size_t len)
{
    if (len < 1 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

bool parse_is_identifier(const char *s, size_t len)
{
    if (len < 1 || len > 128 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

/* Length of the UTF-8 sequence starting at s[i], or 0 when malformed. */
static size_t utf8_seq_len(const unsigned char *s, size_t i, size_t len)
{
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len - i < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[i + k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool parse_is_utf8(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len(u, i, len);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
