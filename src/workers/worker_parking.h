/*
 * worker_parking: parked keys, the command worker's side (the table
 * parked_keys of schemas/sql/002_parked_keys.sql).
 *
 * Order is kept per key: a message that looks like a real command but
 * cannot be applied parks its (topic, key), and every later message with the
 * same (topic, key) is dead-lettered behind it until `orderflowctl dlq
 * redrive` or `dlq skip` deletes the row. Plain garbage parks nothing (the
 * caller decides, with of_avro_peek()).
 *
 * Promises:
 * - A key is parked in MySQL (worker_parking_park() returned OF_OK) before
 *   its parker is dead-lettered and its offset committed, so a crash never
 *   lets a later message of the key through.
 * - Lookups use an in-memory copy of the rows of our two command topics,
 *   reloaded every few seconds and after worker_parking_invalidate() (a
 *   rebalance: another worker may have parked keys of our new partitions).
 *   A key the copy says is parked is confirmed against MySQL before its
 *   message is held back, so a key that `dlq redrive` has just unparked
 *   flows at once; a key the copy does not have is not looked up.
 * - Errors: OF_EAGAIN (MySQL unreachable, lost connection: retry, the next
 *   call reconnects), OF_EFATAL (our SQL and the schema disagree: run
 *   `orderflowctl migrate`).
 *
 * @locality one thread: the worker's. It has its own MySQL connection.
 */
#ifndef WORKER_PARKING_H
#define WORKER_PARKING_H

#include <stddef.h>
#include <stdint.h>

#include "of_config.h"
#include "of_err.h"

/* The longest key that can be parked (msg_key VARBINARY(767)); a longer one
 * is dead-lettered without parking. */
#define WORKER_PARKING_KEY_MAX   767
#define WORKER_PARKING_TOPIC_MAX 200 /* characters: topic VARCHAR(200) */

struct worker_parking;

/** @brief A handle for [mysql] of \p cfg (borrowed, outlives it); it
 *         connects lazily. @returns NULL only when out of memory. */
struct worker_parking *worker_parking_new(const struct of_config *cfg);

/** @brief Close and free; NULL does nothing. */
void worker_parking_destroy(struct worker_parking *pk);

/** @brief Reload the copy before the next lookup. */
void worker_parking_invalidate(struct worker_parking *pk);

/**
 * @brief Is (\p topic, \p key) parked behind an earlier message? Reloads
 *        the copy first when it is due.
 * @param behind set to "PARTITION:OFFSET" of the parker when parked, else
 *        to "". A message at or before the parker in its own partition (a
 *        redelivery) is not behind it.
 * @returns OF_OK, OF_EAGAIN or OF_EFATAL.
 */
int worker_parking_check(struct worker_parking *pk,
                         const char *topic,
                         const void *key,
                         size_t key_len,
                         int32_t partition,
                         int64_t offset,
                         char behind[48],
                         struct of_err *err);

/**
 * @brief Park (\p topic, \p key) behind the message at \p partition :
 *        \p offset; a key parked already keeps its first parker.
 *        \p key_len is 1..WORKER_PARKING_KEY_MAX, \p topic at most
 *        WORKER_PARKING_TOPIC_MAX bytes.
 * @param reason why (cut to 255 characters).
 * @returns OF_OK once committed in MySQL, OF_EAGAIN or OF_EFATAL.
 */
int worker_parking_park(struct worker_parking *pk,
                        const char *topic,
                        const void *key,
                        size_t key_len,
                        int32_t partition,
                        int64_t offset,
                        const char *reason,
                        struct of_err *err);

#endif
