/* worker_metrics: see worker_metrics.h. */
#include "worker_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "worker_health.h"

static const char *const outcome_names[] = {"applied", "rejected", "duplicate",
                                            "dead_letter"};

void worker_metrics_init(struct worker_metrics *wm, struct of_metrics *m)
{
    wm->commands = of_metrics_counter(m, "orderflow_worker_commands_total",
                                      "Commands consumed, by topic and outcome",
                                      "topic,outcome");
    wm->retries = of_metrics_counter(
        m, "orderflow_worker_retries_total",
        "Transient failures retried with backoff, by what failed", "reason");
    wm->lag = of_metrics_gauge(
        m, "orderflow_worker_consumer_lag",
        "Messages behind the high watermark, by topic and partition",
        "topic,partition");
    wm->lag_seconds = of_metrics_gauge(
        m, "orderflow_worker_consumer_lag_seconds",
        "Approximate age of the oldest unconsumed message, by topic and "
        "partition (0 when caught up)",
        "topic,partition");
    wm->nlast = 0;
    wm->apply_seconds = of_metrics_series(
        of_metrics_histogram(m, "orderflow_worker_apply_seconds",
                             "Time from taking a command (or its batch) to "
                             "committing its offset (MySQL, Redis, retries "
                             "included)",
                             NULL),
        NULL);
    wm->duplicate_conflicts = of_metrics_series(
        of_metrics_counter(
            m, "orderflow_worker_duplicate_command_conflicts_total",
            "Commands whose command_id was applied before with other "
            "content (type, actor or fields): not applied again",
            NULL),
        NULL);
    wm->batch_size = of_metrics_series(
        of_metrics_gauge(m, "orderflow_worker_batch_size",
                         "Commands in the last MySQL transaction", NULL),
        NULL);
    wm->batch_fallbacks = of_metrics_series(
        of_metrics_counter(m, "orderflow_worker_batch_fallbacks_total",
                           "Batches rolled back and applied one command at "
                           "a time instead (a refused value, a duplicate "
                           "racing us, MySQL unavailable)",
                           NULL),
        NULL);
}

void worker_metrics_command(struct worker_metrics *wm,
                            const char *topic,
                            enum worker_outcome_label outcome)
{
    const char *labels[] = {topic, outcome_names[outcome]};

    of_metrics_add(of_metrics_series(wm->commands, labels), 1);
}

void worker_metrics_retry(struct worker_metrics *wm, const char *reason)
{
    const char *labels[] = {reason};

    of_metrics_add(of_metrics_series(wm->retries, labels), 1);
}

/* The slot of topic[partition] in wm->last; \p add makes one if there is
 * room. NULL: none. */
static int64_t *last_ts(struct worker_metrics *wm,
                        const char *topic,
                        int32_t partition,
                        int add)
{
    for (int i = 0; i < wm->nlast; i++)
        if (wm->last[i].partition == partition &&
            strcmp(wm->last[i].topic, topic) == 0)
            return &wm->last[i].ts_ms;
    if (!add || wm->nlast == WORKER_METRICS_PARTS_MAX)
        return NULL;
    snprintf(wm->last[wm->nlast].topic, sizeof(wm->last[0].topic), "%s", topic);
    wm->last[wm->nlast].partition = partition;
    wm->last[wm->nlast].ts_ms = -1;
    return &wm->last[wm->nlast++].ts_ms;
}

void worker_metrics_consumed(struct worker_metrics *wm,
                             const char *topic,
                             int32_t partition,
                             int64_t ts_ms)
{
    int64_t *ts = last_ts(wm, topic, partition, 1);

    if (ts && ts_ms >= 0)
        *ts = ts_ms;
}

/*
 * The lag in seconds is an approximation, an upper bound: the age of the
 * oldest unconsumed message would need its timestamp, i.e. a fetch of the
 * message at the consumer's position. We use the timestamp of the last
 * message consumed instead, whose successor is the oldest unconsumed one
 * and can only be younger. While nothing has been consumed on a lagging
 * partition since start-up the age is unknown and the gauge is not set.
 */
void worker_metrics_lag(struct worker_metrics *wm,
                        const char *topic,
                        int32_t partition,
                        int64_t lag)
{
    char p[16];
    const char *labels[] = {topic, p};
    const int64_t *ts = last_ts(wm, topic, partition, 0);
    struct timespec now;
    double age;

    snprintf(p, sizeof(p), "%d", (int)partition);
    of_metrics_set(of_metrics_series(wm->lag, labels), (double)lag);
    if (lag <= 0) {
        of_metrics_set(of_metrics_series(wm->lag_seconds, labels), 0);
        return;
    }
    if (!ts || *ts < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    age = ((double)now.tv_sec * 1000 + (double)(now.tv_nsec / 1000000) -
           (double)*ts) /
          1000;
    of_metrics_set(of_metrics_series(wm->lag_seconds, labels),
                   age > 0 ? age : 0);
}

void worker_metrics_reconcile_init(struct worker_reconcile_metrics *rm,
                                   struct of_metrics *m)
{
    struct of_metric *rebuilds = of_metrics_counter(
        m, "orderflow_worker_readmodel_rebuilds_total",
        "Rebuilds of the Redis read model from MySQL the worker ran by "
        "itself (Redis restarted or was flushed), by result",
        "result");
    const char *done[] = {"done"}, *failed[] = {"failed"};

    rm->rebuilds_done = of_metrics_series(rebuilds, done);
    rm->rebuilds_failed = of_metrics_series(rebuilds, failed);
    rm->rebuild_seconds = of_metrics_series(
        of_metrics_gauge(m, "orderflow_worker_readmodel_rebuild_seconds",
                         "Duration of the last complete read model rebuild",
                         NULL),
        NULL);
}

/* ---- /metrics, /healthz, /readyz ---- */

struct worker_http {
    struct MHD_Daemon *d;
    struct of_metrics *m; /* borrowed, outlives the daemon */
};

static enum MHD_Result reply(struct MHD_Connection *c,
                             unsigned int status,
                             char *body,
                             size_t len,
                             const char *type,
                             const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *c,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload,
                                  size_t *upload_size,
                                  void **req_cls)
{
    struct worker_http *h = cls;
    size_t len = 0;
    char *body;
    (void)version;
    (void)upload;
    (void)req_cls;

    /* answered on the first call: a body (which GET has not) is never
     * read, libmicrohttpd discards it */
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    /* HEAD as GET: libmicrohttpd sends the headers only */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        body = strdup("method not allowed\n");
        return body ? reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, body,
                            strlen(body), "text/plain", "GET, HEAD")
                    : MHD_NO;
    }
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        char text[320];
        int status = worker_health_answer(url[1] == 'r', text, sizeof(text));
        body = strdup(text);
        return body ? reply(c, (unsigned int)status, body, strlen(body),
                            "text/plain; charset=utf-8", NULL)
                    : MHD_NO;
    }
    if (strcmp(url, "/metrics") != 0) {
        body = strdup("not found\n");
        return body ? reply(c, MHD_HTTP_NOT_FOUND, body, strlen(body),
                            "text/plain", NULL)
                    : MHD_NO;
    }
    body = of_metrics_render(h->m, &len);
    if (!body)
        return MHD_NO;
    return reply(c, MHD_HTTP_OK, body, len,
                 "text/plain; version=0.0.4; charset=utf-8", NULL);
}

struct worker_http *
worker_http_start(struct of_metrics *m, int port, struct of_err *err)
{
    struct worker_http *h = calloc(1, sizeof(*h));

    if (!h) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    h->m = m;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                            (uint16_t)port, NULL, NULL, on_request, h,
                            MHD_OPTION_CONNECTION_LIMIT, 16U,
                            MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
    if (!h->d) {
        of_err_set(err, OF_EFATAL,
                   "could not serve /metrics on port %d (in use?)", port);
        free(h);
        return NULL;
    }
    return h;
}

void worker_http_stop(struct worker_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
