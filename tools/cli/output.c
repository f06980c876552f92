/* output.c - human lines, JSON objects and failures (see output.h). */
#include "output.h"

#include "conn.h"
#include "parse.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HINT_COLUMN 48

/* Length of the valid UTF-8 sequence at s, or 0 when the byte there does
 * not start one. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
             : s[0] >= 0xe0 && s[0] <= 0xef ? 3
             : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
    if (n == 0 || n > left || !parse_is_utf8((const char *)s, n))
        return 0;
    return n;
}

/* A character a terminal might act on: C0 and C1 controls, DEL. */
static int is_control(const unsigned char *s, size_t n)
{
    if (n == 1)
        return s[0] < 0x20 || s[0] == 0x7f;
    return n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
}

/* Append one character (or the escape of one byte) to f. */
static size_t escape_one(FILE *f, const unsigned char *s, size_t left,
                         int keep_tabs)
{
    size_t n = utf8_seq_len(s, left);
    if (n && !is_control(s, n)) {
        fwrite(s, 1, n, f);
        return n;
    }
    if (n == 1 && s[0] == '\t' && keep_tabs)
        fputc('\t', f);
    else if (n == 1 && s[0] == '\n')
        fputs("\\n", f);
    else
        fprintf(f, "\\x%02x", s[0]);
    return n ? n : 1;
}

char *out_escape(const char *value, size_t len, size_t max, int keep_tabs)
{
    char *buf = NULL;
    size_t size = 0, i = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        return NULL;
    while (i < len && i < max)
        i += escape_one(f, (const unsigned char *)value + i, len - i, keep_tabs);
    if (i < len)
        fputs("...", f);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

void out_line(const struct cli *cli, const char *cmd, const char *fmt, ...)
{
    _cleanup_free_ char *raw = NULL;
    _cleanup_free_ char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    if (n < 0 || !(text = out_escape(raw, (size_t)n, (size_t)n, 1)))
        return (void)fputs("sandq: out of memory\n", stderr);
    if (!cmd) {
        printf("%s\n", text);
        return;
    }
    int pad = HINT_COLUMN - (int)strlen(text);
    printf("%s%*s  # %s %s\n", text, pad > 0 ? pad : 0, "",
           cli->redis_cli ? cli->redis_cli : "redis-cli", cmd);
}

void out_block(const struct cli *cli, const char *cmd, const char *name,
               const char *value, size_t len)
{
    size_t start = 0;
    out_line(cli, cmd, "%s:", name);
    while (start < len) {
        const char *nl = memchr(value + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - value) : len;
        _cleanup_free_ char *text =
            out_escape(value + start, end - start, end - start, 1);
        if (!text)
            return (void)fputs("sandq: out of memory\n", stderr);
        printf("    %s\n", text);
        start = end + 1;
    }
}

json_t *out_json_text(const char *s, size_t len)
{
    _cleanup_free_ char *buf = NULL;
    size_t n = 0, i = 0;
    if (parse_is_utf8(s, len))
        return json_stringn(s, len);
    if (!(buf = malloc(len * 3 + 1)))
        return NULL;
    while (i < len) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, len - i);
        if (k) {
            memcpy(buf + n, s + i, k);
            n += k;
            i += k;
        } else {
            memcpy(buf + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        }
    }
    return json_stringn(buf, n);
}

int out_json(json_t *obj)
{
    if (!obj)
        return -ENOMEM;
    int r = json_dumpf(obj, stdout, JSON_COMPACT);
    json_decref(obj);
    if (r < 0 || putchar('\n') == EOF)
        return -EIO;
    return 0;
}

/* The --json twin of a failure message. */
static void fail_json(const char *msg, int code)
{
    json_t *obj = json_pack("{s:s, s:i}", "error", msg, "exit_code", code);
    if (out_json(obj) < 0)
        fputs("sandq: cannot write the JSON error object\n", stderr);
}

int out_fail(const struct cli *cli, int code, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fputs("sandq: out of memory\n", stderr);
        return code;
    }
    fprintf(stderr, "sandq: %s\n", msg);
    if (cli->json)
        fail_json(msg, code);
    return code;
}

int out_fail_conn(const struct cli *cli, int r)
{
    const char *detail = cli->err[0] ? cli->err : strerror(-r);
    return out_fail(cli, conn_exit_code(r), "%s", detail);
}

int out_usage(const struct cli *cli, const char *cmd, const char *fmt, ...)
{
    _cleanup_free_ char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return out_fail(cli, EXIT_USAGE, "out of memory");
    fprintf(stderr, "sandq %s: %s\nTry 'sandq %s --help'.\n", cmd, msg, cmd);
    if (cli->json)
        fail_json(msg, EXIT_USAGE);
    return EXIT_USAGE;
}
