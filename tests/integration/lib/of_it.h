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

#define OF_IT_JWT_KEY "it-secret-0123456789abcdef0123456789"

#endif
