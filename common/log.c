/* log.c - stderr logging with a level prefix (see log.h). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum log_level log_threshold = LOG_LEVEL_INFO;
static const char *log_component = "sandq";

void log_setup(enum log_level threshold, const char *component)
{
    log_threshold = threshold;
    if (component)
        log_component = component;
}

int log_level_parse(const char *s, enum log_level *ret_level)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* One fprintf per line so concurrent writers (worker and zygote share
 * stderr) do not interleave inside a line. */
void log_write(enum log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"debug", "info", "warn", "error"};
    char line[2048];
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    fprintf(stderr, "%s [%s] %s\n", tags[level], log_component, line);
    errno = saved;
}
