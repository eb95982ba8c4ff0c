/*
 * worker_metrics: the command worker's Prometheus families (CONTRACT §7),
 * and the /metrics endpoint every worker role serves on --metrics-port.
 *
 * The endpoint is one libmicrohttpd daemon with its own polling thread:
 * GET /metrics renders the registry, anything else is 404. It reads the
 * registry only (of_metrics is safe across threads), so it never blocks
 * the consumer.
 */
#ifndef WORKER_METRICS_H
#define WORKER_METRICS_H

#include <stdint.h>

#include "of_err.h"
#include "of_metrics.h"

/* orderflow_worker_commands_total's outcome label */
enum worker_outcome_label {
    WORKER_OUT_APPLIED,
    WORKER_OUT_REJECTED,
    WORKER_OUT_DUPLICATE,
    WORKER_OUT_DEAD_LETTER,
};

/* Partitions whose last consumed message's timestamp is remembered (for
 * the lag in seconds); more than this and the extra ones go without. */
#define WORKER_METRICS_PARTS_MAX 128

/* The command worker's families (owned by the registry). */
struct worker_metrics {
    struct of_metric *commands;    /* {topic, outcome} */
    struct of_metric *retries;     /* {reason} */
    struct of_metric *lag;         /* {topic, partition} */
    struct of_metric *lag_seconds; /* {topic, partition} */
    struct of_metric_series *apply_seconds;
    struct of_metric_series *batch_size;
    /* batches MySQL did not take whole, applied one by one instead */
    struct of_metric_series *batch_fallbacks;
    /* a command_id seen again with other content (TESTPLAN row 47) */
    struct of_metric_series *duplicate_conflicts;
    /* the timestamp (ms since the epoch) of the last message consumed, per
     * partition: written by worker_metrics_consumed(), read by
     * worker_metrics_lag(), both on the worker's thread */
    struct {
        char topic[200];
        int32_t partition;
        int64_t ts_ms;
    } last[WORKER_METRICS_PARTS_MAX];
    int nlast;
};

/** @brief Declare the families in \p m. */
void worker_metrics_init(struct worker_metrics *wm, struct of_metrics *m);

void worker_metrics_command(struct worker_metrics *wm,
                            const char *topic,
                            enum worker_outcome_label outcome);
/** @param reason "mysql", "redis" or "dead_letter" (what failed). */
void worker_metrics_retry(struct worker_metrics *wm, const char *reason);
/**
 * @brief Set the lag of \p topic [\p partition]: \p lag messages, and the
 *        lag in seconds from the timestamp worker_metrics_consumed() last
 *        recorded for it (0 when \p lag is 0).
 */
void worker_metrics_lag(struct worker_metrics *wm,
                        const char *topic,
                        int32_t partition,
                        int64_t lag);
/** @brief Remember \p ts_ms, the timestamp of a message just consumed. */
void worker_metrics_consumed(struct worker_metrics *wm,
                             const char *topic,
                             int32_t partition,
                             int64_t ts_ms);

/* The read model reconciler's families (worker_reconcile.h). */
struct worker_reconcile_metrics {
    struct of_metric_series *rebuilds_done;   /* the mark was set */
    struct of_metric_series *rebuilds_failed; /* MySQL or Redis failed */
    struct of_metric_series *rebuild_seconds; /* gauge: the last done one */
};

/** @brief Declare the reconciler's families in \p m. */
void worker_metrics_reconcile_init(struct worker_reconcile_metrics *rm,
                                   struct of_metrics *m);

struct worker_http;

/**
 * @brief Serve GET /metrics of \p m on \p port (all addresses), and
 * /healthz and /readyz (worker_health.h).
 * @returns the server (stop with worker_http_stop()), or NULL with \p err
 *          (OF_EFATAL: the port is taken or not ours to bind).
 * @locality main thread; requests run on libmicrohttpd's thread.
 */
struct worker_http *
worker_http_start(struct of_metrics *m, int port, struct of_err *err);
/** @brief Stop serving; NULL does nothing. */
void worker_http_stop(struct worker_http *h);

#endif
