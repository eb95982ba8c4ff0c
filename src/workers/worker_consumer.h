/*
 * worker_consumer: the command worker's Kafka consumer (group [worker]
 * group_id on [topics] user_commands and order_commands) and its offsets.
 *
 * Promises:
 * - An offset is stored and committed only by worker_consumer_commit(),
 *   which the caller calls after the message's MySQL transaction (and its
 *   Redis update) are done; auto commit and auto store are off.
 * - A message being retried ("held") is never skipped nor overtaken: while
 *   the caller waits between attempts (worker_consumer_wait()) every
 *   assigned partition is paused and the consumer keeps polling, so the
 *   group keeps us. librdkafka 2.0.2 restarts a paused partition's fetch at
 *   the application's position, the held offset + 1, and drops what it had
 *   prefetched (rdkafka_partition.c rd_kafka_toppar_pause_resume; checked by
 *   tests/unit/test_worker_consumer.c). A message polled anyway while
 *   paused (from a partition assigned during the wait) is kept, in order,
 *   and handed out before anything newer.
 * - If a rebalance takes the held message's partition away, the wait says
 *   so and the caller gives the message up: its new owner gets it again.
 *   Partitions revoked while paused are resumed as they go (librdkafka
 *   2.0.2 would keep them paused into a later assignment), and partitions
 *   assigned while paused are paused at once, so "all paused" stays true
 *   and a resume never touches an unpaused partition (librdkafka #4637).
 * - Eager and cooperative rebalancing both work; on revoke and on close the
 *   stored offsets are committed synchronously.
 * - A failed fetch of the committed offsets (NOT_COORDINATOR: librdkafka
 *   issue #5586, which leaves the partitions unfetched for good) makes the
 *   consumer re-apply its assignment from the committed offsets shortly
 *   after, as a restart would; the held message, if any, is then given up
 *   (and comes again), as after a revoke.
 *
 * @locality one thread: the worker's. Callbacks run inside our own calls.
 */
#ifndef WORKER_CONSUMER_H
#define WORKER_CONSUMER_H

#include <signal.h>

#include <librdkafka/rdkafka.h>

#include "of_config.h"
#include "of_err.h"
#include "worker_metrics.h"

struct worker_consumer;

/**
 * @brief Create the consumer and subscribe to both command topics.
 * @param wm where consumer lag goes (borrowed, outlives the consumer).
 * @returns the consumer, or NULL with \p err (OF_EFATAL: bad settings).
 */
struct worker_consumer *worker_consumer_new(const struct of_config *cfg,
                                            struct worker_metrics *wm,
                                            struct of_err *err);

/**
 * @brief Commit the stored offsets synchronously, leave the group, free.
 *        NULL does nothing.
 */
void worker_consumer_close(struct worker_consumer *wc);

/**
 * @brief The next message: one kept during a wait, else a poll of at most
 *        \p timeout_ms.
 * @param rkm set to a message the caller destroys, or NULL (none yet).
 * @returns OF_OK, or OF_EFATAL (the consumer is unusable: exit).
 */
int worker_consumer_next(struct worker_consumer *wc,
                         int timeout_ms,
                         rd_kafka_message_t **rkm,
                         struct of_err *err);

/** @brief Mark \p rkm as the message being worked on. */
void worker_consumer_hold(struct worker_consumer *wc,
                          const rd_kafka_message_t *rkm);

/** @brief Done with the held message: resume the partitions if paused. */
void worker_consumer_release(struct worker_consumer *wc);

/**
 * @brief Wait \p ms between two attempts at the held message, partitions
 *        paused, polling all the while.
 * @returns OF_OK: try again now; OF_EAGAIN: give the message up (its
 *          partition was revoked, or *\p running was cleared); OF_EFATAL.
 */
int worker_consumer_wait(struct worker_consumer *wc,
                         int ms,
                         volatile sig_atomic_t *running,
                         struct of_err *err);

/**
 * @brief Store and commit (async) \p rkm's offset + 1: it is done.
 *        A partition that is no longer ours is skipped: its new owner
 *        gets the message again and finds it applied.
 */
void worker_consumer_commit(struct worker_consumer *wc,
                            const rd_kafka_message_t *rkm);

/**
 * @brief worker_consumer_commit() of many messages (a batch): one commit
 *        of each partition's last offset; \p rkms in offset order within a
 *        partition.
 */
void worker_consumer_commit_many(struct worker_consumer *wc,
                                 const rd_kafka_message_t *const *rkms,
                                 int n);

/**
 * @returns 1 if \p rkm's partition is still assigned to us. Messages
 *          polled before a revoke (a batch's) are then somebody else's.
 */
int worker_consumer_owns(struct worker_consumer *wc,
                         const rd_kafka_message_t *rkm);

/** @returns how many times partitions were revoked (or lost) so far. */
unsigned int worker_consumer_revocations(const struct worker_consumer *wc);

/**
 * @returns how many times partitions were assigned so far: a change tells
 *          the caller it may have new partitions (with their state).
 */
unsigned int worker_consumer_assignments(const struct worker_consumer *wc);

/** @brief Refresh the lag gauges, at most every 2 s. */
void worker_consumer_lag(struct worker_consumer *wc);

#endif
