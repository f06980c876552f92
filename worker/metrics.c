/* metrics.c - /metrics and /healthz on libevent's HTTP server (see
 * metrics.h). The text is rebuilt on each scrape from the supervisor's
 * counters; nothing here touches Redis. */
#include "metrics.h"

#include "parse.h"
#include "supervisor_int.h"
#include "zygote_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double bucket_bounds[METRICS_N_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5,   1,      2.5,   5,    10,   30,    60};

void histogram_observe(struct histogram *h, double seconds)
{
    for (int i = 0; i < METRICS_N_BUCKETS; i++) {
        if (seconds <= bucket_bounds[i]) {
            h->counts[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}

static void put_histogram(struct evbuffer *b, const char *name,
                          const char *help, const struct histogram *h)
{
    uint64_t cumulative = 0;
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
                        name);
    for (int i = 0; i < METRICS_N_BUCKETS; i++) {
        cumulative += h->counts[i];
        evbuffer_add_printf(b, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
                            bucket_bounds[i], cumulative);
    }
    evbuffer_add_printf(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
                        h->count);
    evbuffer_add_printf(b, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, h->sum,
                        name, h->count);
}

static void put_metric(struct evbuffer *b, const char *name, const char *type,
                       const char *help, uint64_t value)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name,
                        help, name, type, name, value);
}

static void put_all(struct evbuffer *b, const struct supervisor *s)
{
    evbuffer_add_printf(b, "# HELP sandq_jobs_total Jobs finished by this "
                           "worker, by final status.\n"
                           "# TYPE sandq_jobs_total counter\n");
    for (int i = 0; i < OUTCOME_N_STATUSES; i++)
        evbuffer_add_printf(b, "sandq_jobs_total{status=\"%s\"} %" PRIu64 "\n",
                            outcome_statuses[i], s->done[i]);
    put_histogram(b, "sandq_job_duration_seconds",
                  "Wall time of a job's sandboxed run.", &s->job_duration);
    put_histogram(b, "sandq_queue_wait_seconds",
                  "From enqueued_at to the start of the job.", &s->queue_wait);
    put_metric(b, "sandq_slots", "gauge", "Slots of this worker.", s->n_slots);
    put_metric(b, "sandq_slots_busy", "gauge", "Slots running a job.",
               supervisor_busy(s));
    put_metric(b, "sandq_redis_up", "gauge", "1 when both Redis connections "
               "are up.", redis_conn_is_up(s->cmd) && redis_conn_is_up(s->fetch));
    put_metric(b, "sandq_redis_reconnects_total", "counter",
               "Redis connections lost (each is re-established).",
               s->reconnects);
    put_metric(b, "sandq_zygote_up", "gauge", "1 while the zygote is alive.",
               s->zygote_up);
    put_metric(b, "sandq_zygote_restarts_total", "counter",
               "Times the zygote died and was restarted.", s->zygote_deaths);
    put_metric(b, "sandq_reaped_jobs_total", "counter",
               "Jobs of dead workers requeued or given up by this worker's "
               "reaper.", s->jobs_reaped);
    put_metric(b, "sandq_reaped_workers_total", "counter",
               "Dead workers removed by this worker's reaper.",
               s->workers_reaped);
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    put_all(b, arg);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* 200 when this worker can do its job: Redis reachable, zygote alive. */
static void on_healthz(struct evhttp_request *req, void *arg)
{
    const struct supervisor *s = arg;
    struct evbuffer *b = evbuffer_new();
    bool redis_ok = redis_conn_is_up(s->cmd) && redis_conn_is_up(s->fetch);
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "redis %s\nzygote %s\n", redis_ok ? "up" : "down",
                        s->zygote_up ? "up" : "down");
    evhttp_send_reply(req, redis_ok && s->zygote_up ? 200 : 503,
                      redis_ok && s->zygote_up ? "OK" : "Service Unavailable", b);
    evbuffer_free(b);
}

int metrics_start(struct supervisor *s, const char *listen,
                  struct evhttp **ret_http)
{
    const char *colon = strrchr(listen, ':');
    char addr[128];
    uint64_t port;
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(addr) ||
        parse_u64(colon + 1, strlen(colon + 1), 1, 65535, &port) < 0)
        return -EINVAL;
    memcpy(addr, listen, (size_t)(colon - listen));
    addr[colon - listen] = '\0';
    struct evhttp *http = evhttp_new(s->base);
    if (!http)
        return -ENOMEM;
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    if (evhttp_set_cb(http, "/metrics", on_metrics, s) < 0 ||
        evhttp_set_cb(http, "/healthz", on_healthz, s) < 0 ||
        !evhttp_bind_socket_with_handle(http, addr, (uint16_t)port)) {
        int err = errno ? errno : EADDRINUSE;
        evhttp_free(http);
        return -err;
    }
    *ret_http = http;
    return 0;
}

void metrics_stop(struct evhttp *http)
{
    if (http)
        evhttp_free(http);
}
