/*
 * of_redis: the Redis read model of CONTRACT §6 through hiredis 0.14.
 *
 * One struct of_redis is one blocking connection with the [redis] timeout on
 * connect and on every command, for use by one thread at a time. A failed
 * command drops the connection; the next call reconnects, so a Redis restart
 * costs OF_EAGAINs and no restart of ours. Callers treat OF_EAGAIN on a
 * read as "fall back to MySQL".
 *
 * A server that does not answer (stopped, paused, unreachable) is not
 * waited for again and again: after one such failure every handle of the
 * process to that server fails fast with OF_EAGAIN for a second, then one
 * command alone tries again (a circuit breaker, shared by the handles, so
 * the API's few threads are not each held up by the timeout per request).
 *
 * Keys: orderflow:user:{id}, orderflow:order:{id} (hashes with the JSON
 * fields plus version), orderflow:user:{id}:orders (sorted set of order ids
 * by creation time), orderflow:command:{uuid} (24 h TTL).
 */
#ifndef OF_REDIS_H
#define OF_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "of_config.h"
#include "of_err.h"

struct of_redis;

/**
 * @brief A connection handle; it connects lazily, so this never fails for
 *        an unreachable server (only for lack of memory).
 */
struct of_redis *of_redis_new(const struct of_config *cfg, struct of_err *err);
void of_redis_destroy(struct of_redis *r);

/**
 * @brief Run one command (hiredis argv form).
 * @returns the reply (caller frees with freeReplyObject()), or NULL with
 *          \p err (OF_EAGAIN: unreachable or timed out; OF_EINVAL: the
 *          server answered with an error).
 */
redisReply *of_redis_command(struct of_redis *r, int argc, const char **argv,
                             const size_t *lens, struct of_err *err);

/*
 * Pipelining: of_redis_append() queues commands, of_redis_flush() sends
 * them in one write and reads every reply, so n commands cost one round
 * trip. No other call may come between them.
 */

/**
 * @brief Queue one command (connecting first if need be).
 * @returns OF_OK; OF_EAGAIN (unreachable: what was queued is dropped).
 */
int of_redis_append(struct of_redis *r, int argc, const char **argv,
                    const size_t *lens, struct of_err *err);

/**
 * @brief Send the queued commands now, leaving their replies to
 *        of_redis_flush(): the server works on them meanwhile.
 * @returns OF_OK; OF_EAGAIN (the connection failed: all is dropped).
 */
int of_redis_send(struct of_redis *r, struct of_err *err);

/**
 * @brief Send the queued commands and read all their replies.
 * @returns OF_OK; OF_EAGAIN (connection failed or timed out); OF_EINVAL
 *          (a command was answered with an error: the first one's text is
 *          in \p err, the others were still run).
 */
int of_redis_flush(struct of_redis *r, struct of_err *err);

#define OF_REDIS_SCRIPTS_MAX     8  /* distinct scripts per connection */
#define OF_REDIS_SCRIPT_ARGS_MAX 61 /* keys and arguments of one call */

/**
 * @brief Queue EVALSHA of Lua script \p lua (a string that lives as long as
 *        the process: it is known by its address) with \p nkeys keys, then
 *        \p argc - \p nkeys arguments, in \p argv. A connection queues
 *        SCRIPT LOAD of a script before its first use; a NOSCRIPT answer
 *        (SCRIPT FLUSH) makes of_redis_flush() reconnect.
 */
int of_redis_append_script(struct of_redis *r, const char *lua, int nkeys,
                           int argc, const char **argv, struct of_err *err);

/** @returns OF_OK if PING answers PONG. */
int of_redis_ping(struct of_redis *r, struct of_err *err);

/**
 * @brief Replace hash \p key with \p n field/value pairs and "version" =
 *        \p version, unless the stored version is higher or equal: a write
 *        never lowers a stored version (one Lua script, atomic).
 * @param applied 1 if written, 0 if the stored version was not older.
 */
int of_redis_put_versioned(struct of_redis *r, const char *key,
                           int64_t version, const char *const *fields,
                           const char *const *values, int n, int *applied,
                           struct of_err *err);

/** @brief of_redis_put_versioned(), queued (of_redis_append()). */
int of_redis_append_versioned(struct of_redis *r, const char *key,
                              int64_t version, const char *const *fields,
                              const char *const *values, int n,
                              struct of_err *err);

/**
 * @returns the server's run_id (INFO server) into \p out; it changes when
 *          Redis restarts, which is how a rollback to an old snapshot is
 *          noticed.
 */
int of_redis_run_id(struct of_redis *r, char *out, size_t cap,
                    struct of_err *err);

#endif
