/*
 * worker_health: what the worker's /healthz and /readyz answer.
 *
 * Liveness: the role's loop calls worker_beat() each time it turns, also
 * while it backs off or waits with its partitions paused, so a worker that
 * is only waiting for MySQL, Redis or Kafka to come back stays alive (a
 * restart would not help it). /healthz fails when no beat came for
 * [worker] stall_s seconds: the loop is stuck, and a restart is the cure.
 *
 * Readiness: the role says whether its work is going through
 * (worker_ready(NULL)) or why not (worker_ready("mysql step failing: ...")).
 * A standby relay is ready: it is doing what it should.
 *
 * Process-wide, as a process runs one role; the beat and the state are
 * written by the role's thread and read by libmicrohttpd's.
 */
#ifndef WORKER_HEALTH_H
#define WORKER_HEALTH_H

#include <stddef.h>

/** @brief Start the clocks: not ready ("starting"), last beat now. */
void worker_health_init(int stall_s);

/** @brief The role's loop has turned. Cheap: one atomic store. */
void worker_beat(void);

/**
 * @brief Ready (\p why_not NULL) or not, and why (copied, cut to 200
 * bytes). Logs nothing: the caller already did.
 */
void worker_ready(const char *why_not);

/**
 * @brief The answer of GET /healthz (\p ready 0) or /readyz (\p ready 1):
 * its body in \p out ("ok\n", "ready\n", or the reason) and its status.
 * @returns 200 or 503.
 */
int worker_health_answer(int ready, char *out, size_t cap);

#endif
