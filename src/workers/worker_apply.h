/*
 * worker_apply: one command, one MySQL transaction (CONTRACT §4 delivery,
 * §5 tables).
 *
 * Exactly once: the command's row in `commands` (primary key command_id)
 * is inserted in the same transaction as its effect and its outbox event.
 * A command whose row exists already is a duplicate (a redelivery after a
 * crash, a replay, a zombie worker racing us): nothing is written, and the
 * outcome describes what MySQL holds for it now, so the caller can bring
 * Redis up to date again (a worker that died between its COMMIT and its
 * Redis update leaves exactly that to do).
 *
 * The commands row also keeps a SHA-256 of the command's content (its type,
 * actor and fields, not issued_at nor trace_id): a duplicate whose content
 * differs is still a no-op, flagged in its outcome as a conflict.
 *
 * Business rejections (email_taken, user_not_found, user_banned,
 * order_not_found, invalid_transition) are outcomes: committed with their
 * commands row like applied commands, never retried.
 *
 * Not here: Kafka, Redis, retries. The caller retries OF_EAGAIN.
 */
#ifndef WORKER_APPLY_H
#define WORKER_APPLY_H

#include <stdint.h>

#include "of_avro.h"
#include "of_model.h"
#include "worker_sql.h"

/* Where a command came from, recorded in its commands row. */
struct worker_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

enum worker_result {
    WORKER_APPLIED,
    WORKER_REJECTED,
    WORKER_DUPLICATE, /* applied or rejected before: nothing written now */
};

/* What the transaction did (or, for a duplicate, what MySQL holds), for
 * the read model and the metrics. */
struct worker_outcome {
    enum worker_result result;
    /* WORKER_DUPLICATE only: the commands row was written for a command
     * with the same command_id but other content (type, actor or fields:
     * see commands.payload_sha256 in schemas/sql/003_*.sql) */
    int conflict;
    struct of_cmd_status cmd; /* the final status, as Redis shows it */
    int has_user;             /* user and user_version are set */
    struct of_user user;
    int64_t user_version;
    int has_order; /* order and order_version are set */
    struct of_order order;
    int64_t order_version;
};

/* Scratch of the apply path, reused from one command to the next. Large
 * (events hold whole snapshots): allocate it, keep it off the stack. */
struct worker_apply;

struct worker_apply *worker_apply_new(struct worker_sql *db,
                                      const struct of_avro *avro);
void worker_apply_destroy(struct worker_apply *wa);

/**
 * @brief Apply \p cmd in one transaction, or find it applied already.
 * @returns OF_OK with \p out filled (committed, or nothing written for a
 *          duplicate); OF_EAGAIN rolled back, try again later (MySQL down,
 *          deadlock, lock wait timeout); OF_EINVAL rolled back, this
 *          command can never be stored (a value MySQL refuses: dead-letter
 *          it); OF_EFATAL our SQL and the schema disagree.
 * @locality the worker's thread.
 */
int worker_apply_user(struct worker_apply *wa,
                      const struct worker_msg *msg,
                      const struct of_user_cmd *cmd,
                      struct worker_outcome *out,
                      struct of_err *err);
int worker_apply_order(struct worker_apply *wa,
                       const struct worker_msg *msg,
                       const struct of_order_cmd *cmd,
                       struct worker_outcome *out,
                       struct of_err *err);

/* One command of a batch (worker_apply_batch()). */
struct worker_batch_cmd {
    struct worker_msg msg;
    int is_user;
    const struct of_user_cmd *user;   /* is_user */
    const struct of_order_cmd *order; /* !is_user */
    struct worker_outcome *out;
};

/**
 * @brief Allocate (and touch) the scratch of batches of up to \p n
 *        commands now rather than on first use.
 * @returns OF_OK, or OF_EFATAL (out of memory).
 */
int worker_apply_reserve(struct worker_apply *wa, int n);

/**
 * @brief Apply \p n commands in one transaction, with the effect of
 *        worker_apply_user() / worker_apply_order() called on each in turn
 *        (business rejections included: they commit with the others), but
 *        a few statements for the whole batch: one dedupe lookup, creates'
 *        users share-locked together, creates' orders and every outbox and
 *        commands row written by multi-row INSERTs.
 * @returns OF_OK: committed, every out filled (duplicates read back). Any
 *          other result: rolled back, nothing written; the caller applies
 *          the commands one by one instead, which finds out which one
 *          fails and how (a value MySQL refuses, a duplicate racing us, a
 *          command id twice in the batch, order ids a multi-row INSERT did
 *          not get consecutively, MySQL down).
 * @locality the worker's thread.
 */
int worker_apply_batch(struct worker_apply *wa,
                       const struct worker_batch_cmd *cmds,
                       int n,
                       struct of_err *err);

#endif
