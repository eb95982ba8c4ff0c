/*
 * of_it_sys: the whole system for a fault or load test: a configuration
 * with topics and a consumer group of its own, the schema and topics
 * created, and the API, a command worker and an outbox relay as child
 * processes that the test can kill, pause and restart; plus the stack's
 * nodes (tests/lib/stack.sh) by their pid files, restarted with
 * tests/lib/node.sh.
 */
#ifndef OF_IT_SYS_H
#define OF_IT_SYS_H

#include <stdint.h>

#include "of_config.h"

struct of_jwt;

enum of_it_proc { OF_IT_API, OF_IT_WORKER, OF_IT_OUTBOX, OF_IT_PROCS };

struct of_it_sys {
    struct of_config *cfg;
    struct of_jwt *jwt;
    char name[64], dir[512], bin[512];
    int port;               /* the API's, kept across restarts */
    int pid[OF_IT_PROCS];   /* 0: not running */
    int starts[OF_IT_PROCS];
    int64_t user_id;        /* a registered user orders are made for */
    char auth[1024];        /* "Authorization: Bearer <admin JWT, sub 1>" */
    char principal[32];     /* "user:1" */
};

/**
 * @brief Prepare: environment (ORDERFLOW_* of \p extra_env "KEY=value"
 *        strings, NULL-ended, may be NULL, set before the config is read),
 *        then of_it_app_start() with \p name as prefix, 3 partitions (or
 *        ORDERFLOW_TOPICS_PARTITIONS of \p extra_env) and no process:
 *        unique topics and group, migrate, create topics, an admin token.
 *        More command workers or relays than the one of each tracked here:
 *        of_it_sys_spawn_worker().
 */
void of_it_sys_init(struct of_it_sys *s, const char *name,
                    const char *const *extra_env);

/** @brief Start \p p (the API: and wait for /healthz); logs in dir. */
void of_it_sys_start(struct of_it_sys *s, enum of_it_proc p);

/** @returns the exit status (see of_it_stop); the slot is cleared. */
int of_it_sys_stop(struct of_it_sys *s, enum of_it_proc p, int sig,
                   int timeout_s);

/** @brief Start the command worker, the outbox relay and the API, and
 *        register the user orders are made for: the usual start. */
void of_it_sys_up(struct of_it_sys *s);

/**
 * @brief Start one more orderflow-worker with \p role ("commands" or
 *        "outbox") beside the one of_it_sys tracks, logging to
 *        dir/\p logname. @returns its pid (stop it with of_it_stop).
 */
int of_it_sys_spawn_worker(const struct of_it_sys *s, const char *role,
                           const char *logname);

/** @returns VmRSS of \p pid in KiB, or -1. */
long of_it_rss_kib(int pid);

/** @returns how many file descriptors \p pid has open, or -1. */
int of_it_fd_count(int pid);

/** @returns the integer in the first column of \p sql's first row, run
 *           with one integer parameter \p arg; fails the test on error. */
long long of_it_db_count(const struct of_it_sys *s, const char *sql,
                         long long arg);

/** @brief Register a user through the API (waits for it): s->user_id. */
void of_it_sys_user(struct of_it_sys *s);

/** @brief Create \p n orders for s->user_id and wait until each is applied. */
void of_it_sys_orders(struct of_it_sys *s, int n, int64_t *ids);

/** @brief Stop every process still running (SIGTERM), free everything. */
void of_it_sys_down(struct of_it_sys *s);

/** @returns the pid of stack node "kafka", "mariadb" or "redis". */
int of_it_node_pid(const char *node);

/** @brief kill -9 a stack node and wait until it is gone. */
void of_it_node_kill(const char *node);

/** @brief Start a stack node again (tests/lib/node.sh); waits until up. */
void of_it_node_start(const char *node);

/** @brief Stop the API, the command worker and the outbox relay, in
 *        that order, each with SIGTERM and at most 15 s, and fail the test
 *        unless every one exits with status 0: the clean end of a test. */
void of_it_sys_stop_clean(struct of_it_sys *s);

/** @returns 1 if \p pid is positive and a signal could be sent to it
 *           (kill(pid, 0)): the process exists (a zombie counts). */
int of_it_pid_alive(int pid);

/** @returns the HTTP status of GET /readyz on the API at \p port. */
long of_it_readyz(int port);

/**
 * @brief Read orderflow_produce_errors_total{reason="\p reason"} from the
 *        API's GET /metrics on \p port; fails the test unless /metrics
 *        answers 200. @returns the counter, 0 if the series is absent.
 */
long of_it_produce_errors(int port, const char *reason);

/** What the API says of its Kafka producer's failures. */
struct of_it_produce {
    long not_persisted; /* produce_errors_total{reason="not_persisted"} */
    long possibly;      /* {reason="possibly_persisted"} */
    long refused;       /* {reason="refused"} + {reason="queue_full"} */
    long recreated;     /* api.log lines "Kafka producer recreated" */
    long fatal;         /* api.log lines "Kafka producer fatal error" */
};

/** @brief Fill \p pe from the API's /metrics (of_it_produce_errors: fails
 *         the test unless it answers 200) and from its log. */
void of_it_sys_produce(const struct of_it_sys *s, struct of_it_produce *pe);

/** @returns how many lines of the process log dir/\p log (e.g. "api.log")
 *           contain \p what; 0 when there is no such log. */
long of_it_sys_log_count(const struct of_it_sys *s, const char *log,
                         const char *what);

/** @brief Print the last \p lines of each process log to stderr. */
void of_it_sys_logs(const struct of_it_sys *s, int lines);

#endif
