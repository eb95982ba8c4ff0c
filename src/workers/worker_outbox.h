/*
 * worker_outbox: `orderflow-worker --role outbox`, the relay that publishes
 * committed outbox rows as events (CONTRACT §4).
 */
#ifndef WORKER_OUTBOX_H
#define WORKER_OUTBOX_H

#include <signal.h>

#include "of_config.h"
#include "of_metrics.h"

/**
 * @brief Relay until *running becomes 0.
 * @returns 0 on a clean stop, 1 on a fatal error (logged).
 */
int worker_outbox_run(const struct of_config *cfg, struct of_metrics *metrics,
                      volatile sig_atomic_t *running);

#endif
