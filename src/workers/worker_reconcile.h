/*
 * worker_reconcile: the command worker's watch over the Redis read model.
 *
 * Redis keeps the read model in memory; a restart from an old RDB snapshot
 * rolls it back, and a FLUSHALL empties it. The worker's own writes cannot
 * repair that: it only writes the aggregates its next commands touch, so
 * the others would stay stale (or missing) for good. A thread of its own
 * therefore compares, every second, Redis's run_id (INFO server; new at
 * every start of redis-server) with the read model's mark, the run_id the
 * last complete rebuild was made for (of_readmodel.h). When they differ it
 * logs why, takes the rebuild lock, rewrites every user and order hash from
 * MySQL (of_readmodel_rebuild(), what `orderflowctl rebuild-read-model
 * --all` does) and sets the mark. A first start on an empty Redis rebuilds
 * once too, and finds little to write.
 *
 * Safe alongside the worker's writes: both are version-guarded, so the
 * newer version wins whoever writes last. Several workers share the lock:
 * one rebuilds, the others wait for the mark. A failed rebuild (MySQL or
 * Redis down) is retried with backoff, from the start.
 *
 * Counted in orderflow_worker_readmodel_rebuilds_total{result} and
 * orderflow_worker_readmodel_rebuild_seconds (worker_metrics.h).
 */
#ifndef WORKER_RECONCILE_H
#define WORKER_RECONCILE_H

#include "of_config.h"
#include "of_err.h"
#include "of_metrics.h"

struct worker_reconcile;

/**
 * @brief Start watching (the first check runs at once).
 * @param cfg borrowed; must outlive the reconciler.
 * @param metrics borrowed; must outlive the reconciler.
 * @returns the reconciler, or NULL with \p err (OF_EFATAL: no memory, no
 *          thread).
 * @locality main thread; the work runs on a thread of its own, with every
 *           signal blocked there (they are the main thread's).
 */
struct worker_reconcile *worker_reconcile_start(const struct of_config *cfg,
                                                struct of_metrics *metrics,
                                                struct of_err *err);

/**
 * @brief Stop: a rebuild in progress stops after its current batch (the
 *        mark is not set, so the next start does it again). NULL does
 *        nothing.
 */
void worker_reconcile_stop(struct worker_reconcile *rc);

#endif
