/*
 * worker_deadletter: the poison path. A command that can never be applied
 * (its bytes do not decode, or MySQL refuses its values) is copied to
 * [topics] dead_letter, key and value untouched, with the contract's
 * headers (CONTRACT §4) plus error, original-topic, original-partition,
 * original-offset and failed-at (and parked-behind for a message held back
 * behind a parked key), so that `orderflowctl dlq redrive` can put
 * it back once the cause is fixed. Of a header the original repeats, the
 * last value is copied; a trace-id is cut to OF_TRACE_ID_MAX bytes.
 *
 * The caller commits the original offset only after worker_deadletter_send()
 * returned OF_OK, i.e. after Kafka acknowledged the copy (acks=all): a
 * crash in between sends the copy again (at least once), never loses it.
 */
#ifndef WORKER_DEADLETTER_H
#define WORKER_DEADLETTER_H

#include <librdkafka/rdkafka.h>

#include "of_config.h"
#include "of_err.h"

struct worker_deadletter;

/**
 * @brief A producer for the dead-letter topic of \p cfg.
 * @returns the handle, or NULL with \p err (OF_EFATAL: bad [kafka] setting).
 */
struct worker_deadletter *worker_deadletter_new(const struct of_config *cfg,
                                                struct of_err *err);

/** @brief Flush (bounded) and free; NULL does nothing. */
void worker_deadletter_destroy(struct worker_deadletter *dl);

/**
 * @brief Copy \p rkm to the dead-letter topic and wait for Kafka's answer.
 * @param reason the error header: why \p rkm cannot be applied.
 * @param parked_behind NULL, or the parked-behind header ("PARTITION:OFFSET"
 *        of the message that parked \p rkm's key, see worker_parking.h).
 * @returns OF_OK once acknowledged; OF_EAGAIN when not (yet): Kafka down,
 *          timed out. Retry later; a copy may then be written twice.
 * @locality the worker's thread; blocks up to ~15 s.
 */
int worker_deadletter_send(struct worker_deadletter *dl,
                           const rd_kafka_message_t *rkm,
                           const char *reason,
                           const char *parked_behind,
                           struct of_err *err);

#endif
