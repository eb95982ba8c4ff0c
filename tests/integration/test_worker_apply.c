/*
 * orderflow-worker --role commands against the private stack, fed with
 * Avro commands produced straight to its (private) topics:
 * - a user and an order through their whole lives, with the MySQL rows,
 *   the commands rows, the outbox rows and the Redis hashes checked;
 * - a redelivered command (same command_id) changes nothing;
 * - every business rejection is committed with its code;
 * - bytes that do not decode go to the dead-letter topic untouched, with
 *   the contract's headers, and the worker goes on;
 * - ORDERFLOW_FAULT=after_db_commit (OF_FAULTS builds only): the worker
 *   dies between its COMMIT and Redis; the next one finds the command
 *   applied and brings Redis up to date;
 * - SIGTERM: exit status 0 within 10 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_it.h"
#include "of_kafka.h"
#include "of_model.h"
#include "of_redis.h"
#include "of_uuid.h"

#define WAIT_S 30

static struct {
    struct of_it_app app;
    struct of_avro *avro;
    rd_kafka_t *producer;
    struct of_db *db;
    struct of_redis *redis;
    char log[600];
    int64_t last_partition, last_offset; /* of the last produced message */
} t;

/* ---- the worker process ---- */

static void print_worker_log(void)
{
    of_it_log_tail(t.log, 40);
}

static int start_worker(const char *fault)
{
    char env[64];
    char *envp[] = {env, NULL};

    snprintf(env, sizeof(env), "ORDERFLOW_FAULT=%s", fault ? fault : "");
    return of_it_app_start_worker(&t.app, envp);
}

/* Waits at most \p timeout_s for \p pid to exit; its status, or -1. */
static int wait_exit(int pid, int timeout_s)
{
    long long until = of_it_now_us() + timeout_s * 1000000LL;
    int status;

    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        if (of_it_now_us() >= until)
            return -1;
        usleep(50000);
    }
}

/* ---- producing commands ---- */

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)rkm->_private = rkm->err;
    t.last_partition = rkm->partition;
    t.last_offset = rkm->offset;
}

static void produce(const char *topic,
                    const char *key,
                    const void *value,
                    size_t len,
                    const char *type,
                    const char *trace)
{
    rd_kafka_resp_err_t done = RD_KAFKA_RESP_ERR__IN_PROGRESS, e;

    e = rd_kafka_producev(t.producer, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADERS(of_kafka_headers_new(type, trace)),
                          RD_KAFKA_V_OPAQUE(&done), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_flush(t.producer, 20000);
    if (done != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("producing to %s: %s", topic, rd_kafka_err2str(done));
}

static void send_user(const struct of_user_cmd *cmd)
{
    void *buf;
    size_t len;
    struct of_err err;
    char key[OF_EMAIL_SIZE];

    assert_int_equal(of_avro_encode_user_cmd(t.avro, cmd, &buf, &len, &err),
                     OF_OK);
    if (cmd->type == OF_REGISTER_USER)
        snprintf(key, sizeof(key), "%s", cmd->email);
    else
        snprintf(key, sizeof(key), "%lld", (long long)cmd->user_id);
    produce(t.app.cfg->topics.user_commands, key, buf, len,
            of_avro_user_cmd_type_name(cmd->type), cmd->trace_id);
    free(buf);
}

static void send_order(const struct of_order_cmd *cmd)
{
    void *buf;
    size_t len;
    struct of_err err;
    char key[32];

    assert_int_equal(of_avro_encode_order_cmd(t.avro, cmd, &buf, &len, &err),
                     OF_OK);
    snprintf(key, sizeof(key), "%lld",
             (long long)(cmd->type == OF_CREATE_ORDER ? cmd->user_id
                                                      : cmd->order_id));
    produce(t.app.cfg->topics.order_commands, key, buf, len,
            of_avro_order_cmd_type_name(cmd->type), cmd->trace_id);
    free(buf);
}

/* The fields every command has; an admin's API key sends them all. */
#define COMMON(cmd)                                                            \
    do {                                                                       \
        memset(&(cmd), 0, sizeof(cmd));                                        \
        of_uuid_v4((cmd).command_id);                                          \
        (cmd).issued_at = of_time_now_us();                                    \
        snprintf((cmd).actor.id, sizeof((cmd).actor.id), "apikey:it");         \
        (cmd).actor.role = OF_ROLE_ADMIN;                                      \
        snprintf((cmd).trace_id, sizeof((cmd).trace_id), "it-%.8s",            \
                 (cmd).command_id);                                            \
    } while (0)

static struct of_user_cmd *user_cmd(enum of_user_cmd_type type, int64_t uid)
{
    static struct of_user_cmd cmd; /* 10 KiB: off the stack */

    COMMON(cmd);
    cmd.type = type;
    cmd.user_id = uid;
    return &cmd;
}

static struct of_order_cmd *order_cmd(enum of_order_cmd_type type, int64_t id)
{
    static struct of_order_cmd cmd;

    COMMON(cmd);
    cmd.type = type;
    cmd.order_id = id;
    return &cmd;
}

/* ---- reading MySQL, Redis, /metrics ---- */

static struct of_it_row sql(const char *q, const char *param)
{
    return of_it_query(t.db, q, (struct of_db_param[]){OF_DB_S(param)}, 1);
}

static struct of_it_row command_row(const char *id)
{
    return sql("SELECT status, COALESCE(error_code, ''), "
               "COALESCE(resource_id, 0), command_type, kafka_offset "
               "FROM commands WHERE command_id = ?",
               id);
}

/* Waits until command \p id has its commands row; returns the row. */
static struct of_it_row wait_command(const char *id, const char *what)
{
    long long until = of_it_now_us() + WAIT_S * 1000000LL;

    while (of_it_now_us() < until) {
        struct of_it_row r = command_row(id);
        if (r.n > 0)
            return r;
        usleep(50000);
    }
    print_worker_log();
    fail_msg("the worker did not apply %s (command %s) in %d s", what, id,
             WAIT_S);
    return (struct of_it_row){0};
}

static void
redis_hget(const char *key, const char *field, char *out, size_t cap)
{
    const char *argv[] = {"HGET", key, field};
    struct of_err err;
    redisReply *r = of_redis_command(t.redis, 3, argv, NULL, &err);

    if (!r)
        fail_msg("HGET %s %s: %s", key, field, err.msg);
    snprintf(out, cap, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
}

/* Redis is written after the MySQL commit the tests wait for: poll (bounded)
 * until \p field of \p key is \p want. */
static void expect_redis(const char *key, const char *field, const char *want)
{
    char v[512] = "";

    for (int i = 0; i < WAIT_S * 20; i++) {
        redis_hget(key, field, v, sizeof(v));
        if (strcmp(v, want) == 0)
            return;
        usleep(50000);
    }
    fail_msg("HGET %s %s is \"%s\", want \"%s\" (after %d s)", key, field, v,
             want, WAIT_S);
}

static double metric(const char *series)
{
    return of_it_metric(t.app.metrics_port, series);
}

static double outcome_count(const char *topic, const char *outcome)
{
    char series[400];

    snprintf(series, sizeof(series),
             "orderflow_worker_commands_total{topic=\"%s\",outcome=\"%s\"}",
             topic, outcome);
    return metric(series);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct of_err err;
    (void)state;

    memset(&t, 0, sizeof(t));
    /* a worker killed by a test leaves the group after 6 s, not 45 */
    setenv("ORDERFLOW_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    of_it_app_start(&t.app, "worker-apply", 2,
                    OF_IT_APP_NO_API | OF_IT_APP_ALL_TOPICS |
                        OF_IT_APP_METRICS);
    snprintf(t.log, sizeof(t.log), "%s/worker.log", t.app.dir);
    t.avro = of_avro_new(&err);
    t.db = of_db_open(t.app.cfg, &err);
    t.redis = of_redis_new(t.app.cfg, &err);
    assert_non_null(t.avro);
    assert_non_null(t.db);
    t.producer = of_it_producer(t.app.cfg, NULL, on_delivery);
    start_worker(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (t.producer)
        rd_kafka_destroy(t.producer);
    of_redis_destroy(t.redis);
    of_db_close(t.db);
    of_avro_destroy(t.avro);
    if (t.app.worker > 0) /* only if a test failed */
        of_it_stop(t.app.worker, SIGKILL, 5);
    t.app.worker = 0;
    of_it_app_stop(&t.app);
    return 0;
}


/* ---- cases ---- */

static int64_t register_user(char *email, size_t cap)
{
    struct of_user_cmd *cmd = user_cmd(OF_REGISTER_USER, 0);
    char local[128];

    of_it_unique(local, sizeof(local), "worker");
    snprintf(email, cap, "%s@example.com", local);
    snprintf(cmd->email, sizeof(cmd->email), "%s", email);
    snprintf(cmd->username, sizeof(cmd->username), "it-worker");
    cmd->has_avatar_url = true;
    snprintf(cmd->avatar_url, sizeof(cmd->avatar_url),
             "https://example.com/a.png");
    send_user(cmd);
    struct of_it_row r = wait_command(cmd->command_id, "RegisterUser");
    assert_string_equal(r.v[0], "applied");
    return strtoll(r.v[2], NULL, 10);
}

/* Sends \p cmd's user command and returns its commands row. */
static struct of_it_row user_outcome(struct of_user_cmd *cmd, const char *what)
{
    char id[OF_UUID_SIZE];

    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_user(cmd);
    return wait_command(id, what);
}

static struct of_it_row order_outcome(struct of_order_cmd *cmd,
                                      const char *what)
{
    char id[OF_UUID_SIZE];

    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_order(cmd);
    return wait_command(id, what);
}

static struct of_it_row outbox_of(const char *aggtype, int64_t id)
{
    char q[300], sid[24];

    snprintf(sid, sizeof(sid), "%lld", (long long)id);
    snprintf(q, sizeof(q),
             "SELECT COUNT(*), GROUP_CONCAT(CONCAT(version, ':', type) "
             "ORDER BY version) FROM outbox WHERE aggregatetype = '%s' AND "
             "aggregateid = ?",
             aggtype);
    return sql(q, sid);
}

static void user_lifecycle_register_ban_unban(void **state)
{
    char email[200], key[64], sid[24];
    struct of_it_row r;
    (void)state;

    int64_t uid = register_user(email, sizeof(email));
    snprintf(sid, sizeof(sid), "%lld", (long long)uid);
    r = sql("SELECT version, is_banned, email FROM users WHERE user_id = ?",
            sid);
    assert_string_equal(r.v[0], "1"); /* a new user is version 1 */
    assert_string_equal(r.v[1], "0");
    assert_string_equal(r.v[2], email);
    snprintf(key, sizeof(key), "orderflow:user:%lld", (long long)uid);
    expect_redis(key, "version", "1"); /* Redis has the new user */
    expect_redis(key, "email", email);

    struct of_user_cmd *cmd = user_cmd(OF_REGISTER_USER, 0);
    snprintf(cmd->email, sizeof(cmd->email), "%s", email);
    snprintf(cmd->username, sizeof(cmd->username), "someone-else");
    r = user_outcome(cmd, "RegisterUser of a taken email");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "email_taken");
    assert_string_equal(r.v[2], "0"); /* a rejected create has no resource */

    r = user_outcome(user_cmd(OF_BAN_USER, uid), "BanUser");
    assert_string_equal(r.v[0], "applied");
    /* banning a banned user: applied, no new version, no event */
    r = user_outcome(user_cmd(OF_BAN_USER, uid), "BanUser again");
    assert_string_equal(r.v[0], "applied");
    r = sql("SELECT version, is_banned FROM users WHERE user_id = ?", sid);
    assert_string_equal(r.v[0], "2");
    assert_string_equal(r.v[1], "1");

    struct of_order_cmd *oc = order_cmd(OF_CREATE_ORDER, 0);
    oc->user_id = uid;
    oc->total_amount = 100;
    r = order_outcome(oc, "CreateOrder of a banned user");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "user_banned");

    r = user_outcome(user_cmd(OF_UNBAN_USER, uid), "UnbanUser");
    assert_string_equal(r.v[0], "applied");
    r = sql("SELECT version, is_banned FROM users WHERE user_id = ?", sid);
    assert_string_equal(r.v[0], "3");
    assert_string_equal(r.v[1], "0");
    r = outbox_of("user", uid);
    assert_string_equal(r.v[0], "3"); /* one event per version, no more */
    assert_string_equal(r.v[1], "1:UserRegistered,2:UserBanned,3:UserUnbanned");
    expect_redis(key, "version", "3"); /* Redis follows MySQL */
    expect_redis(key, "is_banned", "false");

    r = user_outcome(user_cmd(OF_BAN_USER, 2000000000), "BanUser of nobody");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "user_not_found");
}

static void order_lifecycle_and_redelivered_pay(void **state)
{
    char email[200], key[80], sid[24];
    static struct of_order_cmd pay;
    const char *topic = t.app.cfg->topics.order_commands;
    struct of_it_row r;
    (void)state;

    int64_t uid = register_user(email, sizeof(email));
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->order_type = OF_ORDER_TYPE_JEWELRY;
    cmd->total_amount = 12345;
    r = order_outcome(cmd, "CreateOrder");
    assert_string_equal(r.v[0], "applied");
    int64_t oid = strtoll(r.v[2], NULL, 10);
    assert_true(oid > 0);
    snprintf(sid, sizeof(sid), "%lld", (long long)oid);

    pay = *order_cmd(OF_PAY_ORDER, oid);
    pay.has_payment_ref = true;
    snprintf(pay.payment_ref, sizeof(pay.payment_ref), "pi_123");
    r = order_outcome(&pay, "PayOrder");
    assert_string_equal(r.v[0], "applied");
    char first_offset[32];
    snprintf(first_offset, sizeof(first_offset), "%.24s", r.v[4]);
    double dups = outcome_count(topic, "duplicate");

    send_order(&pay); /* the same command again: a redelivery */
    r = order_outcome(order_cmd(OF_REFUND_ORDER, oid), "RefundOrder");
    assert_string_equal(r.v[0], "applied");
    /* same key, same partition: the duplicate was consumed before */
    assert_true(outcome_count(topic, "duplicate") == (dups < 0 ? 0 : dups) + 1);
    r = sql("SELECT COUNT(*), MIN(kafka_offset) FROM commands "
            "WHERE command_id = ?",
            pay.command_id);
    assert_string_equal(r.v[0], "1");          /* one row per command id */
    assert_string_equal(r.v[1], first_offset); /* the first delivery's */

    r = order_outcome(order_cmd(OF_CANCEL_ORDER, oid), "CancelOrder");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "invalid_transition");

    r = sql("SELECT order_status, version, total_amount, user_id "
            "FROM orders WHERE order_id = ?",
            sid);
    assert_string_equal(r.v[0], "refunded");
    assert_string_equal(r.v[1], "3");      /* created, paid, refunded */
    assert_string_equal(r.v[2], "123.45"); /* exact */
    assert_int_equal(strtoll(r.v[3], NULL, 10), uid);
    r = outbox_of("order", oid);
    assert_string_equal(r.v[0], "3"); /* the duplicate added no event */
    assert_string_equal(r.v[1], "1:OrderCreated,2:OrderPaid,3:OrderRefunded");

    snprintf(key, sizeof(key), "orderflow:order:%lld", (long long)oid);
    expect_redis(key, "version", "3");
    expect_redis(key, "order_status", "refunded");
    expect_redis(key, "total_amount", "123.45");
    snprintf(key, sizeof(key), "orderflow:command:%s", pay.command_id);
    expect_redis(key, "status", "applied");

    cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = 2000000000;
    cmd->total_amount = 1;
    snprintf(key, sizeof(key), "orderflow:command:%s", cmd->command_id);
    r = order_outcome(cmd, "CreateOrder of nobody");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "user_not_found");
    assert_string_equal(r.v[2], "0");
    expect_redis(key, "error_code", "user_not_found"); /* Redis has the outcome */
    r = order_outcome(order_cmd(OF_PAY_ORDER, 2000000000), "PayOrder of none");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "order_not_found");
    /* the longest actor id a command may carry (OF_ACTOR_ID_MAX bytes; the
     * API's own are shorter) is kept whole in the commands row */
    cmd = order_cmd(OF_CANCEL_ORDER, 2000000001);
    memset(cmd->actor.id, 'a', OF_ACTOR_ID_MAX);
    memcpy(cmd->actor.id, "service:", 8);
    cmd->actor.id[OF_ACTOR_ID_MAX] = '\0';
    r = order_outcome(cmd, "CancelOrder by a 128-byte actor");
    assert_string_equal(r.v[0], "rejected");
    assert_string_equal(r.v[1], "order_not_found");
    r = sql("SELECT actor_id FROM commands WHERE command_id = ?",
            cmd->command_id);
    assert_string_equal(r.v[0], cmd->actor.id);
    char series[300];
    snprintf(series, sizeof(series),
             "orderflow_worker_consumer_lag{topic=\"%s\",partition=\"%lld\"}",
             topic, (long long)t.last_partition);
    for (int i = 0; i < 50 && metric(series) != 0; i++)
        usleep(100000);               /* the gauge is refreshed every 2 s */
    assert_true(metric(series) == 0); /* caught up on that partition */
}

struct dl_want {
    const char *key;
    const void *value;
    size_t len;
    int64_t partition, offset;
};

/* The dead letter keyed w->key: checks it against the original. */
static int dl_check(void *arg, const rd_kafka_message_t *m)
{
    struct dl_want *w = arg;
    char h[256], want[32];

    if (m->key_len != strlen(w->key) || memcmp(m->key, w->key, m->key_len))
        return 0;
    /* the value untouched, byte for byte */
    assert_int_equal(m->len, w->len);
    assert_memory_equal(m->payload, w->value, w->len);
    of_kafka_header_get(m, "message-type", h, sizeof(h));
    assert_string_equal(h, "CreateOrder"); /* copied from the original */
    of_kafka_header_get(m, "trace-id", h, sizeof(h));
    assert_string_equal(h, "trace-poison");
    of_kafka_header_get(m, "content-type", h, sizeof(h));
    assert_string_equal(h, "application/avro");
    of_kafka_header_get(m, "original-topic", h, sizeof(h));
    assert_string_equal(h, t.app.cfg->topics.order_commands);
    snprintf(want, sizeof(want), "%lld", (long long)w->partition);
    of_kafka_header_get(m, "original-partition", h, sizeof(h));
    assert_string_equal(h, want);
    snprintf(want, sizeof(want), "%lld", (long long)w->offset);
    of_kafka_header_get(m, "original-offset", h, sizeof(h));
    assert_string_equal(h, want);
    of_kafka_header_get(m, "failed-at", h, sizeof(h));
    assert_true(strlen(h) >= 20 && h[4] == '-' && h[10] == 'T' &&
                h[strlen(h) - 1] == 'Z'); /* RFC 3339 UTC */
    of_kafka_header_get(m, "error", h, sizeof(h));
    assert_true(strlen(h) > 0); /* says why */
    return 1;
}

/* Reads the dead-letter topic from the start until a message keyed \p key
 * comes; checks it against the original. */
static void expect_dead_letter(const char *key,
                               const void *value,
                               size_t len,
                               int64_t partition,
                               int64_t offset)
{
    struct dl_want w = {key, value, len, partition, offset};

    if (!of_it_kafka_find(t.app.cfg, t.app.cfg->topics.dead_letter, WAIT_S,
                          dl_check, &w)) {
        print_worker_log();
        fail_msg("no dead letter keyed %s on %s in %d s", key,
                 t.app.cfg->topics.dead_letter, WAIT_S);
    }
}

static void undecodable_message_is_dead_lettered_and_skipped(void **state)
{
    static const char garbage[] = "certainly not an Avro command";
    const char *topic = t.app.cfg->topics.order_commands;
    char key[128], email[200];
    void *buf;
    size_t len;
    struct of_err err;
    (void)state;

    double before = outcome_count(topic, "dead_letter");
    /* keyed as a CreateOrder of the user is (the worker checks the key of
     * a command against its aggregate) */
    int64_t uid = register_user(email, sizeof(email));
    snprintf(key, sizeof(key), "%lld", (long long)uid);
    produce(topic, key, garbage, sizeof(garbage) - 1, "CreateOrder",
            "trace-poison");
    int64_t partition = t.last_partition, offset = t.last_offset;
    expect_dead_letter(key, garbage, sizeof(garbage) - 1, partition, offset);

    /* a command behind it on the same partition (same key) is applied:
     * the poison's offset was committed, not retried forever */
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 5000;
    assert_int_equal(of_avro_encode_order_cmd(t.avro, cmd, &buf, &len, &err),
                     OF_OK);
    produce(topic, key, buf, len, "CreateOrder", cmd->trace_id);
    free(buf);
    assert_int_equal(t.last_partition, partition);
    struct of_it_row r =
        wait_command(cmd->command_id, "CreateOrder behind poison");
    assert_string_equal(r.v[0], "applied");
    assert_true(outcome_count(topic, "dead_letter") ==
                (before < 0 ? 0 : before) + 1);
}

static int id_cb(void *arg, int ncols, char **vals, const unsigned long *l)
{
    char sql[64];
    (void)ncols;
    (void)l;
    snprintf(sql, sizeof(sql), "KILL CONNECTION %lld", atoll(vals[0]));
    of_it_root_sql(sql);
    (*(int *)arg)++;
    return 0;
}

/* Kills every MySQL connection of user orderflow but the test's own: the
 * worker's. */
static int kill_worker_connections(void)
{
    struct of_err err;
    int n = 0;

    if (of_db_query(t.db,
                    "SELECT ID FROM information_schema.PROCESSLIST "
                    "WHERE USER = ? AND ID <> CONNECTION_ID()",
                    (struct of_db_param[]){OF_DB_S(t.app.cfg->mysql.user)}, 1,
                    id_cb, &n, &err) != OF_OK)
        fail_msg("processlist: %s", err.msg);
    return n;
}

/* A lost connection, a lock held past innodb_lock_wait_timeout and a Redis
 * that does not answer writes are retried; the commands behind the stuck
 * one on its partition wait for it (pay before cancel, as sent). */
static void transient_failures_are_retried_in_order(void **state)
{
    char email[200], sid[24], key[80], pay_id[OF_UUID_SIZE];
    struct of_err err;
    struct of_it_row r;
    (void)state;

    int64_t uid = register_user(email, sizeof(email));
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 999;
    r = order_outcome(cmd, "CreateOrder");
    int64_t oid = strtoll(r.v[2], NULL, 10);
    snprintf(sid, sizeof(sid), "%lld", (long long)oid);
    assert_true(kill_worker_connections() >= 1);
    double mysql_retries = metric("orderflow_worker_retries_total"
                                  "{reason=\"mysql\"}");
    double redis_retries = metric("orderflow_worker_retries_total"
                                  "{reason=\"redis\"}");

    struct of_db *holder = of_db_open(t.app.cfg, &err);
    assert_non_null(holder);
    assert_int_equal(of_db_begin(holder, &err), OF_OK);
    assert_int_equal(of_db_query(holder,
                                 "SELECT order_id FROM orders "
                                 "WHERE order_id = ? FOR UPDATE",
                                 (struct of_db_param[]){OF_DB_S(sid)}, 1, NULL,
                                 NULL, &err),
                     OF_OK);
    cmd = order_cmd(OF_PAY_ORDER, oid);
    snprintf(pay_id, sizeof(pay_id), "%s", cmd->command_id);
    send_order(cmd);
    struct of_order_cmd *cancel = order_cmd(OF_CANCEL_ORDER, oid);
    send_order(cancel);
    sleep(12); /* past the worker's 10 s lock wait timeout */
    r = command_row(pay_id);
    assert_int_equal(r.n, 0); /* not applied while the lock is held */
    r = command_row(cancel->command_id);
    assert_int_equal(r.n, 0); /* nor overtaken by the cancel behind it */
    /* Redis stops answering for 3 s */
    const char *pause[] = {"CLIENT", "PAUSE", "3000"};
    freeReplyObject(of_redis_command(t.redis, 3, pause, NULL, &err));
    of_db_rollback(holder);
    of_db_close(holder);

    r = wait_command(cancel->command_id, "CancelOrder behind a stuck pay");
    assert_string_equal(r.v[0], "rejected"); /* the pay came first */
    assert_string_equal(r.v[1], "invalid_transition");
    r = command_row(pay_id);
    assert_string_equal(r.v[0], "applied");
    snprintf(key, sizeof(key), "orderflow:order:%lld", (long long)oid);
    expect_redis(key, "order_status", "paid");
    assert_true(metric("orderflow_worker_retries_total{reason=\"mysql\"}") >
                (mysql_retries < 0 ? 0 : mysql_retries));
    assert_true(metric("orderflow_worker_retries_total{reason=\"redis\"}") >
                (redis_retries < 0 ? 0 : redis_retries));
}

static void crash_after_db_commit_is_repaired_by_redelivery(void **state)
{
    char email[200], key[80], v[256], local[128], id[OF_UUID_SIZE];
    int status = -1;
    (void)state;

    assert_int_equal(of_it_stop(t.app.worker, SIGTERM, 10), 0);
    t.app.worker = start_worker("after_db_commit");
    struct of_user_cmd *cmd = user_cmd(OF_REGISTER_USER, 0);
    of_it_unique(local, sizeof(local), "fault");
    snprintf(email, sizeof(email), "%s@example.com", local);
    snprintf(cmd->email, sizeof(cmd->email), "%s", email);
    snprintf(cmd->username, sizeof(cmd->username), "fault");
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    snprintf(key, sizeof(key), "orderflow:command:%s", id);
    send_user(cmd);

    /* a fault build aborts; any other applies the command normally */
    long long until = of_it_now_us() + WAIT_S * 1000000LL;
    while (of_it_now_us() < until && status < 0) {
        status = wait_exit(t.app.worker, 0);
        redis_hget(key, "status", v, sizeof(v));
        if (status < 0 && strcmp(v, "applied") == 0)
            skip(); /* OF_FAULTS is off: nothing to test here */
        usleep(50000);
    }
    if (status != 128 + SIGABRT) {
        print_worker_log();
        fail_msg("the worker did not abort at after_db_commit (status %d)",
                 status);
    }
    t.app.worker = 0;
    struct of_it_row r = command_row(id);
    assert_string_equal(r.v[0], "applied"); /* committed before the abort */
    expect_redis(key, "status", ""); /* ... and Redis never heard of it */

    t.app.worker = start_worker(NULL);
    until = of_it_now_us() + WAIT_S * 1000000LL;
    while (of_it_now_us() < until && strcmp(v, "applied") != 0) {
        usleep(100000);
        redis_hget(key, "status", v, sizeof(v));
    }
    if (strcmp(v, "applied") != 0) {
        print_worker_log();
        fail_msg("Redis did not catch up with command %s in %d s", id, WAIT_S);
    }
    snprintf(key, sizeof(key), "orderflow:user:%.24s", r.v[2]);
    expect_redis(key, "version", "1"); /* the user hash is back too */
    assert_true(
        outcome_count(t.app.cfg->topics.user_commands, "duplicate") == 1);
    r = sql("SELECT COUNT(*) FROM users WHERE email = ?", email);
    assert_string_equal(r.v[0], "1"); /* applied once */
    r = sql("SELECT COUNT(*) FROM outbox WHERE command_id = ?", id);
    assert_string_equal(r.v[0], "1");
}

static void sigterm_exits_0_within_10s(void **state)
{
    (void)state;
    if (t.app.worker <= 0)
        t.app.worker = start_worker(NULL);
    assert_int_equal(of_it_stop(t.app.worker, SIGTERM, 10), 0);
    t.app.worker = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_lifecycle_register_ban_unban),
        cmocka_unit_test(order_lifecycle_and_redelivered_pay),
        cmocka_unit_test(undecodable_message_is_dead_lettered_and_skipped),
        cmocka_unit_test(transient_failures_are_retried_in_order),
        cmocka_unit_test(crash_after_db_commit_is_repaired_by_redelivery),
        cmocka_unit_test(sigterm_exits_0_within_10s),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
