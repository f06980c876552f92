/* clock.h - the two clocks the CLI reads: wall time for the protocol's
 * timestamps (milliseconds since the epoch, like the worker writes) and a
 * monotonic clock for timeouts, which must not jump with the wall clock. */
#ifndef SANDQ_CLI_CLOCK_H
#define SANDQ_CLI_CLOCK_H

#include <time.h>

static inline long long clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline long long clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
