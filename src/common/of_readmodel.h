/*
 * of_readmodel: rewrite the Redis read model (CONTRACT §6) from MySQL, the
 * truth. Shared by `orderflowctl rebuild-read-model` (an operator's
 * command) and the command worker's reconciler (worker_reconcile.h), which
 * runs it by itself when Redis came back from an old snapshot or empty.
 *
 * What it writes: every user hash, every order hash and each user's sorted
 * set of orders (of_model_redis_put_user/_order). Each hash goes through
 * the version-guarded write, so it is safe while workers apply commands:
 * a row read here can never overwrite a newer version a worker wrote, and a
 * worker's newer version always wins over ours. Command statuses
 * (orderflow:command:{uuid}) are not rewritten: the API reads MySQL when
 * Redis has none or only "accepted" (api_commands.c).
 *
 * It does not delete anything: MySQL never deletes users or orders, so
 * Redis can only be missing or behind, never ahead.
 *
 * Also here: the read model's mark, orderflow:readmodel:run_id, the run_id
 * (INFO server) of the Redis instance the last complete rebuild wrote to.
 * It differs from the live run_id after a restart (from an old RDB or
 * none) and is gone after FLUSHALL: either way Redis may have lost writes
 * MySQL has, and the read model needs a rebuild.
 */
#ifndef OF_READMODEL_H
#define OF_READMODEL_H

#include <stdint.h>

#include "of_db.h"
#include "of_err.h"
#include "of_redis.h"

/* The mark's key, and the rebuild lock: it keeps two reconcilers from
 * rebuilding at once (two rebuilds would only cost time), and its loss
 * tells a rebuild that a FLUSHALL ran under it (of_readmodel_mark()). */
#define OF_READMODEL_MARK_KEY "orderflow:readmodel:run_id"
#define OF_READMODEL_LOCK_KEY "orderflow:readmodel:rebuilding"

/* Redis run ids are 40 hex characters. */
#define OF_READMODEL_RUN_ID_SIZE 64

struct of_readmodel_stats {
    long users, orders; /* hashes written (or found newer already) */
    long skipped;       /* rows the contract does not allow (logged) */
};

/**
 * @brief Called after each batch of rows (1,000), for progress or to keep
 *        a lock alive. Non-zero stops the rebuild (OF_EAGAIN, "stopped").
 */
typedef int (*of_readmodel_batch_fn)(void *arg,
                                     const struct of_readmodel_stats *st);

/**
 * @brief Rewrite the hashes of user \p user_id and of its orders, or of
 *        every user and order when \p user_id is 0, in keyset batches.
 * @param st counts so far, also on failure (zeroed first).
 * @param batch may be NULL.
 * @returns OF_OK, or the first failure of MySQL or Redis with \p err
 *          (OF_EAGAIN: run it again later; it restarts from the start).
 * @locality any thread; \p db and \p redis are used by this call alone.
 */
int of_readmodel_rebuild(struct of_db *db,
                         struct of_redis *redis,
                         int64_t user_id,
                         struct of_readmodel_stats *st,
                         of_readmodel_batch_fn batch,
                         void *arg,
                         struct of_err *err);

/**
 * @brief Is the read model in \p redis marked complete for the instance now
 *        running? Reads the live run_id into \p run_id and the mark into
 *        \p mark ("" when absent).
 * @returns OF_OK with *\p current 1 or 0; OF_EAGAIN when Redis did not
 *          answer.
 */
int of_readmodel_check(struct of_redis *redis,
                       char run_id[OF_READMODEL_RUN_ID_SIZE],
                       char mark[OF_READMODEL_RUN_ID_SIZE],
                       int *current,
                       struct of_err *err);

/**
 * @brief Take (when free or already \p token's) or keep (\p refresh:
 *        only if still \p token's) the rebuild lock, for \p ttl_ms.
 * @returns OF_OK with *\p held 1 if the lock is \p token's now, 0 if
 *          someone else's (or gone, when \p refresh).
 */
int of_readmodel_lock(struct of_redis *redis,
                      const char *token,
                      int ttl_ms,
                      int refresh,
                      int *held,
                      struct of_err *err);

/** @brief Release the lock if it is still \p token's; errors ignored. */
void of_readmodel_unlock(struct of_redis *redis, const char *token);

/**
 * @brief After a complete rebuild under the lock: in one step, if the lock
 *        is still \p token's, set the mark to \p run_id (what
 *        of_readmodel_check() read before the rebuild) and release the
 *        lock. A FLUSHALL during the rebuild removed the lock, and a
 *        restart changed the run_id: either way the next check sees it and
 *        the rebuild runs again.
 * @returns OF_OK with *\p marked 1 or 0 (the lock was lost).
 */
int of_readmodel_mark(struct of_redis *redis,
                      const char *token,
                      const char *run_id,
                      int *marked,
                      struct of_err *err);

#endif
