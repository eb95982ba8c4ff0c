/* of_readmodel: see of_readmodel.h. */
#include "of_readmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "of_log.h"
#include "of_model.h"

#define BATCH 1000

struct rebuild {
    struct of_redis *redis;
    struct of_readmodel_stats *st;
    struct of_err *err;
    int64_t last; /* keyset cursor */
    long rows;    /* in this batch */
    int failed;   /* a Redis write failed: err says why */
};

static int user_row(void *arg, int n, char **v, const unsigned long *l)
{
    struct rebuild *rb = arg;
    struct of_user u;
    int64_t version;
    (void)n;
    (void)l;

    of_model_user_from_row(v, &u, &version);
    rb->last = u.user_id;
    rb->rows++;
    if (of_model_redis_put_user(rb->redis, &u, version, rb->err) != OF_OK) {
        rb->failed = 1;
        return 1;
    }
    rb->st->users++;
    return 0;
}

static int order_row(void *arg, int n, char **v, const unsigned long *l)
{
    struct rebuild *rb = arg;
    struct of_order o;
    struct of_err err;
    int64_t version;
    int rc;
    (void)n;
    (void)l;

    rc = of_model_order_from_row(v, &o, &version, &err);
    rb->last = o.order_id;
    rb->rows++;
    if (rc != OF_OK) {
        of_warn("%s; not written to Redis", err.msg);
        rb->st->skipped++;
        return 0;
    }
    if (of_model_redis_put_order(rb->redis, &o, version, rb->err) != OF_OK) {
        rb->failed = 1;
        return 1;
    }
    rb->st->orders++;
    return 0;
}

/* Runs \p sql (with ? for the cursor, then the user filter if any) in
 * keyset batches until a batch comes back short. */
static int batches(struct of_db *db,
                   struct rebuild *rb,
                   const char *sql,
                   int64_t user,
                   of_db_row_cb cb,
                   of_readmodel_batch_fn batch,
                   void *arg)
{
    int rc;

    rb->last = 0;
    do {
        rb->rows = 0;
        struct of_db_param p[] = {OF_DB_I(rb->last), OF_DB_I(user)};
        rc = of_db_query(db, sql, p, user ? 2 : 1, cb, rb, rb->err);
        if (rc == OF_OK && rb->failed)
            rc = rb->err->rc;
        if (rc != OF_OK)
            return rc;
        if (batch && batch(arg, rb->st) != 0)
            return of_err_set(rb->err, OF_EAGAIN, "the rebuild was stopped");
    } while (rb->rows == BATCH);
    return OF_OK;
}

int of_readmodel_rebuild(struct of_db *db,
                         struct of_redis *redis,
                         int64_t user_id,
                         struct of_readmodel_stats *st,
                         of_readmodel_batch_fn batch,
                         void *arg,
                         struct of_err *err)
{
    struct rebuild rb = {.redis = redis, .st = st, .err = err};
    int rc;

    memset(st, 0, sizeof(*st));
    if (user_id) {
        rc = batches(db, &rb,
                     OF_MODEL_USER_SELECT "WHERE user_id > ? AND user_id = ? "
                                          "ORDER BY user_id LIMIT 1000",
                     user_id, user_row, batch, arg);
        if (rc == OF_OK)
            rc = batches(db, &rb,
                         OF_MODEL_ORDER_SELECT
                         "WHERE order_id > ? AND user_id = ? "
                         "ORDER BY order_id LIMIT 1000",
                         user_id, order_row, batch, arg);
        return rc;
    }
    rc = batches(db, &rb,
                 OF_MODEL_USER_SELECT
                 "WHERE user_id > ? ORDER BY user_id LIMIT 1000",
                 0, user_row, batch, arg);
    if (rc == OF_OK)
        rc = batches(db, &rb,
                     OF_MODEL_ORDER_SELECT
                     "WHERE order_id > ? ORDER BY order_id LIMIT 1000",
                     0, order_row, batch, arg);
    return rc;
}

/* ---- the mark and the lock ---- */

/* GET into \p out ("" when absent). */
static int get_string(struct of_redis *redis,
                      const char *key,
                      char *out,
                      size_t cap,
                      struct of_err *err)
{
    const char *argv[] = {"GET", key};
    redisReply *reply = of_redis_command(redis, 2, argv, NULL, err);

    if (!reply)
        return err->rc;
    snprintf(out, cap, "%s",
             reply->type == REDIS_REPLY_STRING ? reply->str : "");
    freeReplyObject(reply);
    return OF_OK;
}

int of_readmodel_check(struct of_redis *redis,
                       char run_id[OF_READMODEL_RUN_ID_SIZE],
                       char mark[OF_READMODEL_RUN_ID_SIZE],
                       int *current,
                       struct of_err *err)
{
    int rc;

    *current = 0;
    rc = of_redis_run_id(redis, run_id, OF_READMODEL_RUN_ID_SIZE, err);
    if (rc == OF_OK)
        rc = get_string(redis, OF_READMODEL_MARK_KEY, mark,
                        OF_READMODEL_RUN_ID_SIZE, err);
    if (rc == OF_EINVAL)
        err->rc = rc = OF_EAGAIN; /* an error answer: try again later */
    if (rc != OF_OK)
        return rc;
    *current = run_id[0] && strcmp(run_id, mark) == 0;
    return OF_OK;
}

/* KEYS[1] the lock, ARGV[1] the token, ARGV[2] the ttl in ms. Taken when
 * free or already ours (a lock of ours restored from an RDB saved during
 * an earlier rebuild would otherwise hold us up until it expires). */
static const char lock_lua[] =
    "local v = redis.call('GET', KEYS[1])\n"
    "if v and v ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
    "return 1\n";

/* KEYS[1] the lock, ARGV[1] the token, ARGV[2] the ttl in ms */
static const char refresh_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

/* KEYS[1] the lock, ARGV[1] the token */
static const char unlock_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

/* KEYS[1] the lock, KEYS[2] the mark, ARGV[1] the token, ARGV[2] run_id */
static const char mark_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end\n"
    "redis.call('SET', KEYS[2], ARGV[2])\n"
    "redis.call('DEL', KEYS[1])\n"
    "return 1\n";

int of_readmodel_lock(struct of_redis *redis,
                      const char *token,
                      int ttl_ms,
                      int refresh,
                      int *held,
                      struct of_err *err)
{
    char ttl[16];
    redisReply *reply;
    const char *argv[] = {"EVAL", refresh ? refresh_lua : lock_lua,
                          "1",    OF_READMODEL_LOCK_KEY,
                          token,  ttl};

    *held = 0;
    snprintf(ttl, sizeof(ttl), "%d", ttl_ms);
    reply = of_redis_command(redis, 6, argv, NULL, err);
    if (!reply)
        return err->rc;
    *held = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return OF_OK;
}

void of_readmodel_unlock(struct of_redis *redis, const char *token)
{
    const char *argv[] = {"EVAL", unlock_lua, "1", OF_READMODEL_LOCK_KEY,
                          token};
    struct of_err err;
    redisReply *reply = of_redis_command(redis, 5, argv, NULL, &err);

    if (reply)
        freeReplyObject(reply);
}

int of_readmodel_mark(struct of_redis *redis,
                      const char *token,
                      const char *run_id,
                      int *marked,
                      struct of_err *err)
{
    const char *argv[] = {
        "EVAL", mark_lua, "2", OF_READMODEL_LOCK_KEY, OF_READMODEL_MARK_KEY,
        token,  run_id};
    redisReply *reply = of_redis_command(redis, 7, argv, NULL, err);

    *marked = 0;
    if (!reply)
        return err->rc;
    *marked = reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    freeReplyObject(reply);
    return OF_OK;
}
