/* output.h - what the CLI prints: human lines that each name the redis-cli
 * command showing the same thing, one JSON object per command with --json,
 * and failures on stderr.
 *
 * Job fields come from untrusted code (a job's stdout, its error text), so
 * every human line is escaped: control characters and invalid UTF-8 never
 * reach the terminal raw. */
#ifndef SANDQ_CLI_OUTPUT_H
#define SANDQ_CLI_OUTPUT_H

#include "cli.h"

#include <jansson.h>
#include <stddef.h>

static inline void cleanup_json(json_t **j)
{
    if (*j)
        json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_json)))

/* One human line on stdout: the formatted text (escaped), then from a fixed
 * column "# <redis-cli> <cmd>". No hint when cmd is NULL. */
void out_line(const struct cli *cli, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A multi-line value: "<name>:" with the hint, then every line of value
 * indented by four spaces, escaped. */
void out_block(const struct cli *cli, const char *cmd, const char *name,
               const char *value, size_t len);

/* value escaped for a terminal, at most max bytes of it (then "..."). A
 * new string the caller frees; NULL when out of memory. Tabs are kept
 * when keep_tabs, newlines are always escaped. */
char *out_escape(const char *value, size_t len, size_t max, int keep_tabs);

/* A JSON string of bytes that may not be valid UTF-8 (invalid bytes become
 * U+FFFD). A new reference; NULL when out of memory. */
json_t *out_json_text(const char *s, size_t len);

/* Print obj as one line of JSON on stdout. Always consumes obj. 0, or
 * -EIO when stdout failed, -ENOMEM. */
int out_json(json_t *obj);

/* Report a failure: "sandq: <message>" on stderr and, with --json, also
 * {"error": <message>, "exit_code": code} on stdout. Returns code. */
int out_fail(const struct cli *cli, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report a failed conn_* call (the detail is in cli->err) with the exit
 * code conn_exit_code() gives; returns that code. */
int out_fail_conn(const struct cli *cli, int r);

/* A usage error of command cmd: the message, a pointer to --help, and
 * EXIT_USAGE as the return value. */
int out_usage(const struct cli *cli, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
