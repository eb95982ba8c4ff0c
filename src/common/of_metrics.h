/*
 * of_metrics: Prometheus counters, gauges and latency histograms, rendered
 * as the text exposition format for /metrics (CONTRACT §7).
 *
 * A metric family is declared once with of_metrics_counter()/_gauge()/
 * _histogram() and a fixed list of label names; each label combination is
 * a series found (or made) by of_metrics_series(). Updates are lock-free
 * atomics, so any thread may update any series; making a series takes a
 * mutex. Series are never freed before the registry, so the pointers stay
 * valid: keep them in your own structs for the hot path.
 */
#ifndef OF_METRICS_H
#define OF_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct of_metrics;
struct of_metric;        /* a family: name, help, type, label names */
struct of_metric_series; /* one label combination */

struct of_metrics *of_metrics_new(void);
void of_metrics_destroy(struct of_metrics *m);

/**
 * @brief Declare a family; \p labels is a comma-separated list of label
 *        names ("route,status") or NULL.
 * @returns the family (owned by \p m).
 */
struct of_metric *of_metrics_counter(struct of_metrics *m, const char *name,
                                     const char *help, const char *labels);
struct of_metric *of_metrics_gauge(struct of_metrics *m, const char *name,
                                   const char *help, const char *labels);
/** @brief A histogram with fixed buckets in seconds (1 ms .. 10 s). */
struct of_metric *of_metrics_histogram(struct of_metrics *m, const char *name,
                                       const char *help, const char *labels);

/**
 * @brief The series of \p metric with label values \p values (as many as
 *        the family has label names, or NULL when it has none).
 * @returns the series (owned by the registry).
 */
struct of_metric_series *of_metrics_series(struct of_metric *metric,
                                           const char *const *values);

void of_metrics_add(struct of_metric_series *s, double v);
void of_metrics_set(struct of_metric_series *s, double v);
void of_metrics_observe(struct of_metric_series *s, double seconds);

/** @returns the current value of a counter or gauge series. */
double of_metrics_value(const struct of_metric_series *s);

/**
 * @brief Render every family as Prometheus text.
 * @returns a malloc()ed NUL-terminated string (caller frees), or NULL.
 */
char *of_metrics_render(struct of_metrics *m, size_t *len);

#endif
