/*
 * worker_commands: `orderflow-worker --role commands`. Consumes user and
 * order commands, applies each exactly once in MySQL (worker_apply), then
 * updates the Redis read model and announces the outcome, and only then
 * commits the Kafka offset.
 */
#ifndef WORKER_COMMANDS_H
#define WORKER_COMMANDS_H

#include <signal.h>

#include "of_config.h"
#include "of_metrics.h"

/**
 * @brief Run until *\p running becomes 0: finish the message in hand,
 *        commit, leave the group.
 * @param metrics where the worker's families are declared (borrowed).
 * @returns 0 on a clean stop, 1 on a fatal error (logged).
 * @locality the calling thread does all the work.
 */
int worker_commands_run(const struct of_config *cfg,
                        struct of_metrics *metrics,
                        volatile sig_atomic_t *running);

#endif
