/*
 * of_model: users, orders and command statuses as the API shows them
 * (CONTRACT §3), stored in MySQL (the truth) and in the Redis read model
 * (CONTRACT §6), and turned into JSON.
 *
 * Redis layout, written by the worker after its MySQL commit:
 *   orderflow:user:{id}          hash: user_id, email, username,
 *                                registration_date, avatar_url (absent when
 *                                null), is_banned ("true"/"false"), version
 *   orderflow:order:{id}         hash: order_id, user_id, order_type,
 *                                order_status, total_amount ("199.00"),
 *                                created_at, updated_at, version
 *   orderflow:user:{id}:orders   sorted set: order ids scored by created_at
 *                                (seconds since the epoch)
 *   orderflow:command:{uuid}     hash: command_id, status, resource_type,
 *                                resource_id, error_code, error_message,
 *                                actor_id, accepted_at, completed_at; TTL
 *                                [redis] command_ttl_s
 * Field values are the JSON values as text; times are RFC 3339 UTC.
 * A hash write never lowers a stored version (of_redis_put_versioned).
 * The API writes a command's "accepted" status only if the key is absent,
 * so it never overwrites the worker's final status.
 */
#ifndef OF_MODEL_H
#define OF_MODEL_H

#include <stdint.h>

#include <jansson.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_redis.h"

enum of_cmd_state { OF_CMD_ACCEPTED, OF_CMD_APPLIED, OF_CMD_REJECTED };

struct of_cmd_status {
    char command_id[OF_UUID_SIZE];
    enum of_cmd_state status;
    char resource_type[16]; /* "user" | "order" */
    int64_t resource_id;    /* 0: none yet (a create not applied) */
    char error_code[32];    /* "" unless rejected */
    char error_message[256];
    char actor_id[OF_ACTOR_ID_SIZE];
    int64_t accepted_at;  /* micros */
    int64_t completed_at; /* micros, 0 while accepted */
};

/** @returns "accepted", "applied", "rejected". */
const char *of_cmd_status_name(enum of_cmd_state s);

/** @brief RFC 3339 UTC of \p micros: "2026-11-29T03:48:46Z", or with
 *         ".123456" when \p frac. */
void of_time_format(int64_t micros, int frac, char out[40]);
/**
 * @returns the microseconds of a UNIX_TIMESTAMP() text ("1764388126" or
 *          "1764388126.123456"); 0 for NULL.
 */
int64_t of_time_parse_unix(const char *s);
/** @returns microseconds since the epoch, now. */
int64_t of_time_now_us(void);

/** @returns microseconds on the monotonic clock (for intervals only). */
int64_t of_time_mono_us(void);

/* JSON bodies of CONTRACT §3; the caller owns the result (json_decref). */
json_t *of_user_json(const struct of_user *u, int64_t version);
json_t *of_order_json(const struct of_order *o, int64_t version);
json_t *of_cmd_status_json(const struct of_cmd_status *c);

/* ---- Redis ---- */
int of_model_redis_put_user(struct of_redis *r, const struct of_user *u,
                            int64_t version, struct of_err *err);
/** @brief The order hash and its place in the user's sorted set. */
int of_model_redis_put_order(struct of_redis *r, const struct of_order *o,
                             int64_t version, struct of_err *err);
/**
 * @param only_if_absent 1: the API's "accepted" (never overwrites);
 *        0: the worker's final status.
 */
int of_model_redis_put_cmd(struct of_redis *r, const struct of_cmd_status *c,
                           int only_if_absent, int ttl_s, struct of_err *err);
/** @brief of_model_redis_put_cmd(), queued (sent by of_redis_flush()). */
int of_model_redis_append_cmd(struct of_redis *r,
                              const struct of_cmd_status *c,
                              int only_if_absent, int ttl_s,
                              struct of_err *err);
/**
 * @brief Queue (of_redis_append(): sent by of_redis_flush()) a command's
 *        whole outcome as one script call: the snapshot of its user \p u
 *        or order \p o (NULL: none), written as of_model_redis_put_user()
 *        and _put_order() do; its final status \p c, as
 *        of_model_redis_put_cmd() with only_if_absent 0; and PUBLISH of its
 *        command id on \p channel.
 */
int of_model_redis_append_outcome(struct of_redis *r,
                                  const struct of_user *u,
                                  int64_t user_version,
                                  const struct of_order *o,
                                  int64_t order_version,
                                  const struct of_cmd_status *c,
                                  int ttl_s,
                                  const char *channel,
                                  struct of_err *err);
/**
 * @returns OF_OK with *found 0 or 1; OF_EAGAIN when Redis is unreachable
 *          (read MySQL instead); OF_EINVAL when the hash is malformed.
 */
int of_model_redis_get_user(struct of_redis *r, int64_t id, struct of_user *u,
                            int64_t *version, int *found, struct of_err *err);
int of_model_redis_get_order(struct of_redis *r, int64_t id,
                             struct of_order *o, int64_t *version, int *found,
                             struct of_err *err);
int of_model_redis_get_cmd(struct of_redis *r, const char *command_id,
                           struct of_cmd_status *c, int *found,
                           struct of_err *err);

/*
 * The mapping under the three readers above, pure (fuzz_redis_reply feeds
 * it whatever hiredis's reader made of arbitrary bytes): \p reply is an
 * HGETALL answer of the key of \p id. Numbers (ids, version) are strict
 * decimals, the ids must name \p id, version > 0; a field or value that is
 * not a bulk string counts as absent.
 * @returns OF_OK with the struct filled, or OF_EINVAL ("... is malformed").
 */
int of_model_user_from_hash(const redisReply *reply, int64_t id,
                            struct of_user *u, int64_t *version,
                            struct of_err *err);
int of_model_order_from_hash(const redisReply *reply, int64_t id,
                             struct of_order *o, int64_t *version,
                             struct of_err *err);
int of_model_cmd_from_hash(const redisReply *reply, const char *command_id,
                           struct of_cmd_status *c, struct of_err *err);

/* ---- MySQL (the truth; reads of the API's fallback and the rebuild) ---- */

/*
 * The head of every SELECT whose rows go to of_model_user_from_row() or
 * of_model_order_from_row(): their columns in the order those read them,
 * then FROM; the caller adds its WHERE, ORDER BY and LIMIT.
 */
#define OF_MODEL_USER_SELECT                                                   \
    "SELECT user_id, email, username, UNIX_TIMESTAMP(registration_date), "     \
    "avatar_url, is_banned, version FROM users "
#define OF_MODEL_ORDER_SELECT                                                  \
    "SELECT order_id, user_id, order_type, order_status, total_amount, "       \
    "UNIX_TIMESTAMP(created_at), UNIX_TIMESTAMP(updated_at), version "         \
    "FROM orders "

/**
 * @brief One row of OF_MODEL_USER_SELECT (an of_db_row_cb's \p v) into
 *        \p u, cleared first, and *\p version. A NULL text is "" (a NULL
 *        avatar_url: has_avatar_url false).
 * @locality any thread; pure.
 */
void of_model_user_from_row(char *const *v, struct of_user *u,
                            int64_t *version);
/**
 * @brief One row of OF_MODEL_ORDER_SELECT into \p o, cleared first, and
 *        *\p version.
 * @returns OF_OK; or OF_EINVAL when its order_type, order_status or
 *          total_amount is not one the contract allows (\p err names it;
 *          o->order_id is set, the rest unspecified): GET /v1/orders/{id}
 *          answers 404 for such a row and every list leaves it out.
 * @locality any thread; pure.
 */
int of_model_order_from_row(char *const *v, struct of_order *o,
                            int64_t *version, struct of_err *err);

int of_model_db_get_user(struct of_db *db, int64_t id, struct of_user *u,
                         int64_t *version, int *found, struct of_err *err);
int of_model_db_get_order(struct of_db *db, int64_t id, struct of_order *o,
                          int64_t *version, int *found, struct of_err *err);
int of_model_db_get_cmd(struct of_db *db, const char *command_id,
                        struct of_cmd_status *c, int *found,
                        struct of_err *err);

#endif
