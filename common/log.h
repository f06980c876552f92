/* log.h - one logging module for every sandq process.
 *
 * Lines go to stderr as "<level> [component] message" so journald and a
 * terminal show the same thing; the level check happens in the macro so a
 * disabled debug line costs one comparison. Job lines carry "job=<id>". */
#ifndef SANDQ_LOG_H
#define SANDQ_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* The current threshold; set once at start by log_setup(). */
extern enum log_level log_threshold;

/* Set the threshold and the component name printed on every line
 * ("worker", "zygote"). The name is borrowed and must outlive logging. */
void log_setup(enum log_level threshold, const char *component);

/* Parse "debug", "info", "warn", "error"; -EINVAL for anything else. */
int log_level_parse(const char *s, enum log_level *ret_level);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((lvl) >= log_threshold)                                            \
            log_write((lvl), __VA_ARGS__);                                     \
    } while (0)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
