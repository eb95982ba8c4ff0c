/*
 * of_it: what the C integration tests share. They run under
 * tests/lib/with-stack.sh, which exports the private stack's addresses as
 * ORDERFLOW_TEST_* (see tests/lib/stack.sh); of_it_config() turns those
 * into an orderflow configuration.
 */
#ifndef OF_IT_H
#define OF_IT_H

#include <stddef.h>
#include <stdint.h>

#include "of_config.h"
#include "of_uuid.h"

/**
 * @brief The orderflow config for the private stack: ORDERFLOW_TEST_*
 *        copied onto the ORDERFLOW_<SECTION>_<KEY> variables (so child
 *        processes see them too), a test JWT key, and \p extra_ini.
 *        Fails the test when the stack's variables are missing.
 */
struct of_config *of_it_config(const char *extra_ini);

/** @brief "PREFIX-<pid>-<n>-<time>": a name no other test run uses. */
void of_it_unique(char *out, size_t cap, const char *prefix);

/** @returns getenv(name), failing the test if it is unset. */
const char *of_it_env(const char *name);

/** @brief Run \p sql as MariaDB root over the stack's socket; fails on error. */
void of_it_root_sql(const char *sql);

/** @returns a TCP port on 127.0.0.1 that was free a moment ago. */
int of_it_free_port(void);

/**
 * @brief Start \p argv (argv[0] a path) in the background with stdout and
 *        stderr appended to \p log; \p env is a NULL-ended list of extra
 *        "KEY=value" settings (may be NULL).
 * @returns the pid.
 */
int of_it_spawn(char *const *argv, char *const *env, const char *log);

/**
 * @brief Send \p sig to \p pid and wait at most \p timeout_s for it.
 * @returns its exit status (128+N for a signal), or -1 if it did not end
 *          (it is then killed with SIGKILL).
 */
int of_it_stop(int pid, int sig, int timeout_s);

/** @brief Wait until http://127.0.0.1:PORT/healthz answers 200. */
void of_it_wait_http(int port, int timeout_s);

struct of_it_resp {
    long status;
    char *body; /* NUL-terminated, malloc()ed */
    char location[256];
    char allow[64];
    char retry_after[16];
    char content_type[128];
    char www_authenticate[128];
};

/**
 * @brief One HTTP request to 127.0.0.1:\p port. \p headers is a NULL-ended
 *        list of "Name: value" lines (may be NULL); \p body may be NULL.
 *        Fails the test on a transport error.
 *
 * With ORDERFLOW_OPENAPI_RECORD naming a file, this and of_it_http_many
 * append each answer to it as one JSON line (method, path, status, headers,
 * body) for tests/openapi/validate.py to check against schemas/openapi.yaml.
 */
void of_it_http(int port, const char *method, const char *path,
                const char *const *headers, const char *body,
                struct of_it_resp *resp);
void of_it_resp_free(struct of_it_resp *resp);

/**
 * @brief \p n requests at once (libcurl multi), the i-th with body
 *        bodies[i] (or \p body for all when bodies is NULL); statuses[i]
 *        and, if \p out is not NULL, out[i] (malloc()ed) get the answers.
 */
void of_it_http_many(int port, int n, const char *method, const char *path,
                     const char *const *headers, const char *body,
                     const char *const *bodies, long *statuses, char **out);

/** @brief Print the last \p lines of the log \p path to stderr, under a
 *         line naming it: what a failing test shows of a process. */
void of_it_log_tail(const char *path, int lines);

/** @brief Run a shell command; fail the test unless it exits 0. */
void of_it_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** @returns microseconds on a monotonic clock. */
long long of_it_now_us(void);

/**
 * @brief Wait until consumer group \p group has committed the end of every
 *        partition of \p topic (its lag is 0); fails the test otherwise.
 */
void of_it_wait_caught_up(const struct of_config *cfg, const char *group,
                          const char *topic, int timeout_s);

struct of_jwt;

/**
 * @brief "Authorization: Bearer <JWT>" for \p sub and \p role (an
 *        enum of_role), valid for an hour, signed with \p jwt, into \p out.
 */
void of_it_bearer(const struct of_jwt *jwt, int64_t sub, int role, char *out,
                  size_t cap);

/* ---- one orderflow for a test program ---- */

/** What of_it_app_start sets up beside the API (flags, or-ed). */
enum of_it_app_flag {
    OF_IT_APP_WORKER = 1 << 0,     /**< a command worker, before the API */
    OF_IT_APP_OUTBOX = 1 << 1,     /**< an outbox relay, before the API */
    OF_IT_APP_NO_API = 1 << 2,     /**< no orderflow-api */
    OF_IT_APP_ALL_TOPICS = 1 << 3, /**< event and dead-letter topics of its
                                        own too, not only command topics */
    OF_IT_APP_RATE_LIMIT = 1 << 4, /**< keep the API's rate limit (else 0) */
    OF_IT_APP_METRICS = 1 << 5,    /**< the worker's /metrics on a free port */
};

/** What of_it_app_start made; pids are 0 when not running. */
struct of_it_app {
    struct of_config *cfg;
    struct of_jwt *jwt;    /* signs with OF_IT_JWT_KEY */
    char dir[256];         /* the logs: api.log, worker.log, outbox.log */
    char bin[256];         /* $ORDERFLOW_BIN_DIR */
    char group[192];       /* the worker's consumer group */
    int port;              /* the API's */
    int metrics_port;      /* the worker's /metrics (0: none) */
    int api, worker, outbox;
    char admin[1024];      /* "Authorization: Bearer <admin JWT, sub 1>" */
};

/**
 * @brief The usual start of a test program: a log directory
 *        (stack dir/PREFIX-<pid>), command topics "PREFIX.user-commands-..."
 *        and a consumer group of its own, \p partitions partitions, the
 *        API's rate limit off (but see OF_IT_APP_RATE_LIMIT), a free API
 *        port, all in the environment before of_it_config() reads it (so a
 *        test sets any other ORDERFLOW_* it needs before the call);
 *        `orderflowctl migrate` and `topics create`; the admin token; then
 *        the processes \p flags (enum of_it_app_flag) ask for, and the API
 *        unless OF_IT_APP_NO_API, waiting for its /healthz.
 */
void of_it_app_start(struct of_it_app *app, const char *prefix, int partitions,
                     unsigned flags);

/**
 * @brief Start a command worker logging to dir/worker.log, /metrics on
 *        app->metrics_port ("0" when none), with \p env extra "KEY=value"
 *        settings (NULL-ended, may be NULL). @returns its pid, also put in
 *        app->worker.
 */
int of_it_app_start_worker(struct of_it_app *app, char *const *env);

/**
 * @brief Stop the API, the worker and the outbox relay that still run, each
 *        with SIGTERM and at most 15 s, failing the test unless each exits
 *        0; then free the config and the JWT key.
 */
void of_it_app_stop(struct of_it_app *app);

/**
 * @brief GET /metrics on \p port (the API's or a worker's); fails the test
 *        unless it answers 200.
 * @returns the value of the line "\p series VALUE", or -1 when absent.
 */
double of_it_metric(int port, const char *series);

struct rd_kafka_message_s;

/**
 * @brief Read every partition of \p topic from its beginning (a consumer
 *        of a group of its own), handing each message that is not an error
 *        to \p match until it returns non-zero or \p timeout_s pass.
 * @returns 1 if \p match accepted one, else 0.
 */
int of_it_kafka_find(const struct of_config *cfg, const char *topic,
                     int timeout_s,
                     int (*match)(void *arg,
                                  const struct rd_kafka_message_s *m),
                     void *arg);

struct of_avro;

/**
 * @brief A PayOrder of \p order_id by "apikey:it" (admin) with trace id
 *        \p trace, encoded with \p avro; \p cid gets its command id.
 * @returns the value, malloc()ed; its length in \p len.
 */
void *of_it_pay_order(struct of_avro *avro, long long order_id,
                      const char *trace, char cid[OF_UUID_STR],
                      size_t *len);

struct of_db;
struct of_db_param;

/**
 * @brief Run \p sql (\p np parameters \p p) on \p db; fails the test on
 *        error. @returns the integer in the first column of the first row
 *        (-1 if that is NULL or there is no row): a COUNT(*) and the like.
 */
long long of_it_count(struct of_db *db, const char *sql,
                      const struct of_db_param *p, int np);

/** The answer of of_it_query: its first row, as text. */
struct of_it_row {
    int n;          /* how many rows there were */
    char v[8][512]; /* the first row's first 8 columns, "NULL" for NULL */
};

/** @brief Run \p sql (\p np parameters \p p) on \p db; fails the test on
 *         error. @returns its first row (n: how many rows). */
struct of_it_row of_it_query(struct of_db *db, const char *sql,
                             const struct of_db_param *p, int np);

struct rd_kafka_s;

/**
 * @brief A producer with acks=all and \p extra ("name", "value" pairs,
 *        NULL-ended, may be NULL), delivery reports to \p on_delivery (may
 *        be NULL); fails the test if it cannot be made.
 */
struct rd_kafka_s *
of_it_producer(const struct of_config *cfg, const char *const *extra,
               void (*on_delivery)(struct rd_kafka_s *rk,
                                   const struct rd_kafka_message_s *m,
                                   void *opaque));

#define OF_IT_JWT_KEY "it-secret-0123456789abcdef0123456789"

#endif
