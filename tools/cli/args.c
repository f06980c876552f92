/* args.c - one command's argv (see args.h). */
#include "args.h"

#include "parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ARGS_MAX_OPTIONS 32
#define SECONDS_MAX (10LL * 366 * 86400)

enum { GLOBAL_REDIS = 1, GLOBAL_PREFIX, GLOBAL_JSON, GLOBAL_HELP };

static const struct option global_options[] = {
    {"redis", required_argument, NULL, GLOBAL_REDIS},
    {"prefix", required_argument, NULL, GLOBAL_PREFIX},
    {"json", no_argument, NULL, GLOBAL_JSON},
    {"help", no_argument, NULL, GLOBAL_HELP},
};

/* The global options followed by the command's own, in one table for
 * getopt_long, so both may appear anywhere. */
static int merge_options(const struct option *own, struct option *out,
                         size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(global_options) / sizeof(*global_options); i++)
        out[n++] = global_options[i];
    for (; own && own->name; own++) {
        if (n + 1 >= cap)
            return -E2BIG;
        out[n++] = *own;
    }
    memset(&out[n], 0, sizeof(out[n]));
    return 0;
}

/* Apply one global option to the context; the prefix is checked here, as
 * every key and SCAN pattern is built from it. */
static int apply_global(struct cli *cli, int val, const char *arg)
{
    switch (val) {
    case GLOBAL_REDIS:
        cli->redis_url = arg;
        break;
    case GLOBAL_PREFIX:
        if (!parse_is_name(arg, strlen(arg))) {
            snprintf(cli->err, sizeof(cli->err), "--prefix '%s' must be 1-128 "
                     "characters of A-Z a-z 0-9 . _ : -", arg);
            return -EINVAL;
        }
        cli->prefix = arg;
        break;
    case GLOBAL_JSON:
        cli->json = true;
        break;
    default:
        cli->help = true;
        break;
    }
    return 0;
}

/* getopt's error cases ('?' unknown, ':' missing value) as a message. */
static int option_error(struct cli *cli, int c, char **argv)
{
    const char *bad = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        snprintf(cli->err, sizeof(cli->err), "option '%s' needs a value", bad);
    else
        snprintf(cli->err, sizeof(cli->err), "unknown option '%s'", bad);
    return -EINVAL;
}

int args_parse(struct cli *cli, int argc, char **argv,
               const struct option *own, args_option_fn *fn, void *data,
               int stop_at_operand, int *ret_operands)
{
    struct option all[ARGS_MAX_OPTIONS];
    int c, r;
    if ((r = merge_options(own, all, ARGS_MAX_OPTIONS)) < 0)
        return r;
    optind = 0; /* GNU: start over, a previous command may have parsed */
    opterr = 0;
    while ((c = getopt_long(argc, argv, stop_at_operand ? "+:h" : ":h", all,
                            NULL)) != -1) {
        if (c == '?' || c == ':')
            return option_error(cli, c, argv);
        if (c == 'h')
            c = GLOBAL_HELP;
        r = c < 256 ? apply_global(cli, c, optarg) : fn(cli, data, c, optarg);
        if (r < 0)
            return r;
    }
    *ret_operands = optind;
    return 0;
}

int args_no_options(struct cli *cli, void *data, int val, const char *arg)
{
    return 0;
}

/* Digits, then optionally '.' and 1-3 digits: seconds to milliseconds. */
int args_parse_seconds_ms(const char *s, long long *ret_ms)
{
    const char *dot = strchr(s, '.');
    size_t whole_len = dot ? (size_t)(dot - s) : strlen(s);
    uint64_t whole, frac = 0;
    int r = parse_u64(s, whole_len, 0, SECONDS_MAX, &whole);
    if (r < 0)
        return r;
    if (dot) {
        size_t n = strlen(dot + 1);
        if (n < 1 || n > 3 || parse_u64(dot + 1, n, 0, 999, &frac) < 0)
            return -EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    *ret_ms = (long long)(whole * 1000 + frac);
    return 0;
}

int args_parse_positive(const char *s, unsigned *ret)
{
    return parse_uint(s, 1, 0xffffffffu, ret) < 0 ? -EINVAL : 0;
}
