/* metrics.h - counters and histograms a worker keeps about itself, and the
 * HTTP endpoint (--metrics ADDR:PORT) that serves them in Prometheus text
 * format at /metrics, with /healthz for liveness probes. */
#ifndef SANDQ_METRICS_H
#define SANDQ_METRICS_H

#include <stdint.h>

#define METRICS_N_BUCKETS 15

/* A Prometheus histogram with fixed bucket bounds (seconds). */
struct histogram {
    uint64_t counts[METRICS_N_BUCKETS]; /* non-cumulative */
    uint64_t count;
    double sum;
};

void histogram_observe(struct histogram *h, double seconds);

struct supervisor;
struct evhttp;

/* Parse "ADDR:PORT" and start serving on the supervisor's loop. -EINVAL
 * for a bad address, -errno when the bind fails; *ret_http is freed with
 * metrics_stop(). */
int metrics_start(struct supervisor *s, const char *listen,
                  struct evhttp **ret_http);

void metrics_stop(struct evhttp *http);

#endif
