/*
 * TESTPLAN bad inputs 41 and 44-48, the Kafka side: messages produced
 * straight to the command worker's (private) topics, as a broken or hostile
 * producer would, against orderflow-worker --role commands.
 *
 * - 41: a value that is empty, 1 byte, or only C3 01 is dead-lettered with
 *   an error header, its offset committed, and the next message of the
 *   same key applied.
 * - 44: a datum with trailing bytes, a decimal(10,2) above 99999999.99:
 *   dead letters, nothing applied (the decoder refuses them; the unit
 *   tests cover the varint forms).
 * - 45: a message key other than the command's aggregate key (CONTRACT §4:
 *   the order id; the user id of a create or a ban; the email of a
 *   registration), a null key, a tombstone: dead letters, never applied,
 *   and nothing parked (the aggregate's own commands flow on).
 * - 46: content-type missing or wrong, no headers at all: dead letters; a
 *   repeated header: the last value wins; a 10 KiB trace-id: the command
 *   is applied with its own trace id, a dead letter carries the first 128
 *   bytes; a 128-byte trace id is stored whole (schemas/sql/003).
 * - 47: a command_id again with other content: a no-op, counted in
 *   orderflow_worker_duplicate_command_conflicts_total; the same bytes
 *   again, or the same content with another issued_at and trace_id (an API
 *   retry), is a plain duplicate.
 * - 48: a username carrying a RESP command is stored verbatim in MySQL and
 *   in the Redis hash, and no extra command runs (a canary key survives).
 * - The worker is still running at the end and exits 0 on SIGTERM.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_headers.h"
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
    const char *user_topic, *order_topic, *dl_topic;
    int32_t last_partition; /* of the last produced message */
    int64_t last_offset;
} t;

/* ---- the worker ---- */

static void print_worker_log(void)
{
    of_it_log_tail(t.log, 40);
}

static void fail_with_log(const char *what)
{
    print_worker_log();
    fail_msg("%s", what);
}

/* ---- producing ---- */

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    (void)rk;
    (void)opaque;
    *(rd_kafka_resp_err_t *)rkm->_private = rkm->err;
    t.last_partition = rkm->partition;
    t.last_offset = rkm->offset;
}

/* Headers from NULL-terminated name, value pairs, in order. */
static rd_kafka_headers_t *hdrs(const char *const *kv)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(8);

    for (; kv[0]; kv += 2)
        rd_kafka_header_add(h, kv[0], -1, kv[1], -1);
    return h;
}

/* Produces one message and waits for its report. \p key and \p value may
 * be NULL (a null key, a tombstone); \p h NULL sends no headers at all.
 * Sets t.last_partition and t.last_offset. */
static void produce_raw(const char *topic,
                        const void *key,
                        size_t key_len,
                        const void *value,
                        size_t len,
                        rd_kafka_headers_t *h)
{
    rd_kafka_resp_err_t done = RD_KAFKA_RESP_ERR__IN_PROGRESS, e;

    if (h)
        e = rd_kafka_producev(t.producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(&done),
                              RD_KAFKA_V_END);
    else
        e = rd_kafka_producev(t.producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, key_len),
                              RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE(&done), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_flush(t.producer, 20000);
    if (done != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("producing to %s: %s", topic, rd_kafka_err2str(done));
}

/* The usual envelope: the contract's three headers. */
static void produce(const char *topic,
                    const char *key,
                    const void *value,
                    size_t len,
                    const char *type,
                    const char *trace)
{
    produce_raw(topic, key, key ? strlen(key) : 0, value, len,
                of_kafka_headers_new(type, trace));
}

#define COMMON(cmd)                                                            \
    do {                                                                       \
        memset(&(cmd), 0, sizeof(cmd));                                        \
        of_uuid_v4((cmd).command_id);                                          \
        (cmd).issued_at = of_time_now_us();                                    \
        snprintf((cmd).actor.id, sizeof((cmd).actor.id), "apikey:it");         \
        (cmd).actor.role = OF_ROLE_ADMIN;                                      \
        snprintf((cmd).trace_id, sizeof((cmd).trace_id), "bki-%.8s",           \
                 (cmd).command_id);                                            \
    } while (0)

/* Large structs: static, off the stack; one of each at a time. */
static struct of_user_cmd *user_cmd(enum of_user_cmd_type type, int64_t uid)
{
    static struct of_user_cmd cmd;

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

/* Encoded values: malloc()ed, the caller frees. */
static void *enc_user(const struct of_user_cmd *cmd, size_t *len)
{
    struct of_err err;
    void *buf = NULL;

    if (of_avro_encode_user_cmd(t.avro, cmd, &buf, len, &err) != OF_OK)
        fail_msg("encode: %s", err.msg);
    return buf;
}

static void *enc_order(const struct of_order_cmd *cmd, size_t *len)
{
    struct of_err err;
    void *buf = NULL;

    if (of_avro_encode_order_cmd(t.avro, cmd, &buf, len, &err) != OF_OK)
        fail_msg("encode: %s", err.msg);
    return buf;
}

/* Sends \p cmd keyed by \p key (NULL: its proper key) with the usual
 * headers. */
static void send_order_keyed(const struct of_order_cmd *cmd, const char *key)
{
    char k[32];
    size_t len;
    void *v = enc_order(cmd, &len);

    snprintf(k, sizeof(k), "%lld",
             (long long)(cmd->type == OF_CREATE_ORDER ? cmd->user_id
                                                      : cmd->order_id));
    produce(t.order_topic, key ? key : k, v, len,
            of_avro_order_cmd_type_name(cmd->type), cmd->trace_id);
    free(v);
}

static void send_user_keyed(const struct of_user_cmd *cmd, const char *key)
{
    char k[OF_EMAIL_SIZE];
    size_t len;
    void *v = enc_user(cmd, &len);

    if (cmd->type == OF_REGISTER_USER)
        snprintf(k, sizeof(k), "%s", cmd->email);
    else
        snprintf(k, sizeof(k), "%lld", (long long)cmd->user_id);
    produce(t.user_topic, key ? key : k, v, len,
            of_avro_user_cmd_type_name(cmd->type), cmd->trace_id);
    free(v);
}

/* ---- reading MySQL, Redis, /metrics ---- */

static struct of_it_row sql(const char *q, const char *param)
{
    return of_it_query(t.db, q, (struct of_db_param[]){OF_DB_S(param)}, 1);
}

static struct of_it_row command_row(const char *id)
{
    return sql("SELECT status, COALESCE(error_code, ''), "
               "COALESCE(resource_id, 0), kafka_offset "
               "FROM commands WHERE command_id = ?",
               id);
}

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

static void no_command(const char *id, const char *what)
{
    if (command_row(id).n != 0)
        fail_msg("%s (command %s) was applied", what, id);
}

static double metric(const char *series)
{
    return of_it_metric(t.app.metrics_port, series);
}

static double outcomes(const char *topic, const char *outcome)
{
    char series[400];
    double v;

    snprintf(series, sizeof(series),
             "orderflow_worker_commands_total{topic=\"%s\",outcome=\"%s\"}",
             topic, outcome);
    v = metric(series);
    return v < 0 ? 0 : v;
}

#define CONFLICTS "orderflow_worker_duplicate_command_conflicts_total"

/* ---- the dead-letter topic ---- */

struct dl {
    int key_null, value_null;
    char key[256];
    size_t key_len;
    unsigned char value[512];
    size_t len;
    char error[256];
    int has_ct;
    char ct[64];
    int has_trace;
    size_t trace_len; /* of the last trace-id value */
    char trace[16384];
    char parked_behind[48];
};

struct dl_want {
    const char *topic;
    int32_t partition;
    int64_t offset;
    struct dl *out;
};

/* Copies the dead letter of w->topic [w->partition] @ w->offset. */
static int dl_match(void *arg, const rd_kafka_message_t *m)
{
    struct dl_want *w = arg;
    struct dl *out = w->out;
    rd_kafka_headers_t *h = NULL;
    struct of_dead_letter d;
    const void *val;
    size_t len;

    if (rd_kafka_message_headers(m, &h) != 0)
        return 0;
    of_headers_dead_letter(h, &d);
    if (strcmp(d.original_topic, w->topic) != 0 || !d.has_partition ||
        d.original_partition != w->partition || !d.has_offset ||
        d.original_offset != w->offset)
        return 0;
    memset(out, 0, sizeof(*out));
    snprintf(out->error, sizeof(out->error), "%s", d.error);
    out->key_null = m->key == NULL;
    out->key_len = m->key_len < sizeof(out->key) - 1 ? m->key_len
                                                     : sizeof(out->key) - 1;
    if (m->key)
        memcpy(out->key, m->key, out->key_len);
    out->value_null = m->payload == NULL;
    out->len = m->len;
    if (m->payload)
        memcpy(out->value, m->payload,
               m->len < sizeof(out->value) ? m->len : sizeof(out->value));
    out->has_ct =
        of_headers_get(h, "content-type", out->ct, sizeof(out->ct));
    out->has_trace =
        of_headers_get(h, "trace-id", out->trace, sizeof(out->trace));
    if (rd_kafka_header_get_last(h, "trace-id", &val, &len) == 0)
        out->trace_len = len;
    of_headers_get(h, "parked-behind", out->parked_behind,
                   sizeof(out->parked_behind));
    return 1;
}

/* Reads the dead-letter topic from the start until the dead letter of the
 * message at \p partition : \p offset of \p topic; fails after WAIT_S. */
static void dl_find(const char *topic, int32_t partition, int64_t offset,
                    struct dl *out)
{
    struct dl_want w = {topic, partition, offset, out};

    if (!of_it_kafka_find(t.app.cfg, t.dl_topic, WAIT_S, dl_match, &w)) {
        print_worker_log();
        fail_msg("no dead letter of %s [%d] @ %lld in %d s", topic,
                 (int)partition, (long long)offset, WAIT_S);
    }
}

/* The dead letter of the message just produced to \p topic. */
static void dl_last(const char *topic, struct dl *out)
{
    dl_find(topic, t.last_partition, t.last_offset, out);
}

static void expect_error(const struct dl *d, const char *needle)
{
    if (!d->error[0] || !strstr(d->error, needle))
        fail_msg("dead letter error \"%s\" does not say \"%s\"", d->error,
                 needle);
}

/* ---- users and orders, made through the worker ---- */

static int64_t register_user(void)
{
    struct of_user_cmd *cmd = user_cmd(OF_REGISTER_USER, 0);
    char local[128], id[OF_UUID_SIZE];

    of_it_unique(local, sizeof(local), "bki");
    snprintf(cmd->email, sizeof(cmd->email), "%s@example.com", local);
    snprintf(cmd->username, sizeof(cmd->username), "bki");
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_user_keyed(cmd, NULL);
    struct of_it_row r = wait_command(id, "RegisterUser");
    assert_string_equal(r.v[0], "applied");
    return strtoll(r.v[2], NULL, 10);
}

static int64_t create_order(int64_t uid)
{
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    char id[OF_UUID_SIZE];

    cmd->user_id = uid;
    cmd->total_amount = 1234;
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_order_keyed(cmd, NULL);
    struct of_it_row r = wait_command(id, "CreateOrder");
    assert_string_equal(r.v[0], "applied");
    return strtoll(r.v[2], NULL, 10);
}

static const char *order_status(int64_t oid)
{
    static struct of_it_row r;
    char sid[24];

    snprintf(sid, sizeof(sid), "%lld", (long long)oid);
    r = sql("SELECT order_status FROM orders WHERE order_id = ?", sid);
    assert_int_equal(r.n, 1);
    return r.v[0];
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct of_err err;
    (void)state;

    memset(&t, 0, sizeof(t));
    of_it_app_start(&t.app, "bad-kafka", 2,
                    OF_IT_APP_NO_API | OF_IT_APP_ALL_TOPICS |
                        OF_IT_APP_METRICS);
    t.user_topic = getenv("ORDERFLOW_TOPICS_USER_COMMANDS");
    t.order_topic = getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS");
    t.dl_topic = getenv("ORDERFLOW_TOPICS_DEAD_LETTER");
    snprintf(t.log, sizeof(t.log), "%s/worker.log", t.app.dir);
    t.avro = of_avro_new(&err);
    t.db = of_db_open(t.app.cfg, &err);
    t.redis = of_redis_new(t.app.cfg, &err);
    assert_non_null(t.avro);
    assert_non_null(t.db);
    assert_non_null(t.redis);
    t.producer = of_it_producer(t.app.cfg, NULL, on_delivery);
    of_it_app_start_worker(&t.app, NULL);
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

/* ---- row 41 ---- */

static void short_values_are_dead_lettered_and_the_key_flows(void **state)
{
    static const unsigned char bytes[] = {0xC3, 0x01};
    const size_t lens[] = {0, 1, 2};
    const char *topic = t.order_topic;
    char key[24];
    struct dl d;
    (void)state;

    int64_t uid = register_user();
    snprintf(key, sizeof(key), "%lld", (long long)uid);
    double before = outcomes(topic, "dead_letter");
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        produce(topic, key, bytes, lens[i], "CreateOrder", "bki-short");
        dl_last(topic, &d);
        assert_true(d.error[0] != '\0'); /* says why */
        assert_int_equal(d.len, lens[i]);  /* the value untouched */
        assert_memory_equal(d.value, bytes, lens[i]);
        assert_int_equal(d.key_len, strlen(key)); /* the key too */
        assert_memory_equal(d.key, key, d.key_len);
        assert_string_equal(d.parked_behind, "");
        print_message("# %zu-byte value: dead letter \"%s\"\n", lens[i],
                      d.error);
    }
    /* the next message of the key (same partition) is applied, and the
     * group's offsets reach the end: the poison offsets were committed */
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    char id[OF_UUID_SIZE];
    cmd->user_id = uid;
    cmd->total_amount = 100;
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_order_keyed(cmd, NULL);
    assert_string_equal(wait_command(id, "CreateOrder after them").v[0],
                        "applied");
    of_it_wait_caught_up(t.app.cfg, t.app.group, topic, WAIT_S);
    assert_true(outcomes(topic, "dead_letter") == before + 3);
}

/* ---- row 44 ---- */

static void trailing_bytes_and_big_decimal_are_dead_lettered(void **state)
{
    const char *topic = t.order_topic;
    char key[24], id[OF_UUID_SIZE];
    unsigned char *v, *v2;
    size_t len;
    struct dl d;
    (void)state;

    /* a valid CreateOrder and one byte more (keys of their own: a value
     * with our marker and a known fingerprint parks its key) */
    int64_t uid = register_user();
    snprintf(key, sizeof(key), "%lld", (long long)uid);
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 500;
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    v = enc_order(cmd, &len);
    v2 = malloc(len + 1);
    assert_non_null(v2);
    memcpy(v2, v, len);
    v2[len] = 0x00;
    produce(topic, key, v2, len + 1, "CreateOrder", "bki-trailing");
    free(v);
    free(v2);
    dl_last(topic, &d);
    expect_error(&d, "trailing");
    assert_int_equal(d.len, len + 1);
    no_command(id, "a CreateOrder with a trailing byte");
    print_message("# trailing byte: dead letter \"%s\"\n", d.error);

    /* 99999999.99 is the last amount: 9999999999 cents, 02 54 0B E3 FF,
     * the last field of the datum; one cent more (02 54 0B E4 00) keeps
     * the length */
    uid = register_user();
    snprintf(key, sizeof(key), "%lld", (long long)uid);
    cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 9999999999LL;
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    v = enc_order(cmd, &len);
    static const unsigned char max[] = {0x0A, 0x02, 0x54, 0x0B, 0xE3, 0xFF};
    assert_true(len > sizeof(max));
    assert_memory_equal(v + len - sizeof(max), max, sizeof(max));
    v[len - 2] = 0xE4;
    v[len - 1] = 0x00;
    produce(topic, key, v, len, "CreateOrder", "bki-decimal");
    free(v);
    dl_last(topic, &d);
    expect_error(&d, "total_amount");
    no_command(id, "a CreateOrder of 100000000.00");
    print_message("# decimal > 99999999.99: dead letter \"%s\"\n", d.error);
}

/* ---- row 45 ---- */

/* Is \p id's decimal form a parked key of \p topic? Order ids and user ids
 * share the order topic's keys (CONTRACT §4), so an earlier case's parked
 * user key can be an order id here, with a fresh database especially. */
static int parked_id(const char *topic, int64_t id)
{
    char key[24];

    snprintf(key, sizeof(key), "%lld", (long long)id);
    const struct of_db_param p[] = {OF_DB_S(topic), OF_DB_S(key)};
    struct of_it_row r =
        of_it_query(t.db,
                    "SELECT COUNT(*) FROM parked_keys WHERE "
                    "topic = ? AND msg_key = ?",
                    p, 2);
    return strcmp(r.v[0], "0") != 0;
}

static void misrouted_commands_are_dead_lettered(void **state)
{
    char key[OF_EMAIL_SIZE], id[OF_UUID_SIZE], email[300], local[128];
    struct dl d;
    (void)state;

    /* none of the keys used here may be parked: that is another dead
     * letter, and the aggregates' own commands would not flow on */
    int64_t uid = register_user(), uid2 = register_user(), oid, oid2;
    while (parked_id(t.order_topic, uid))
        uid = register_user();
    while (parked_id(t.order_topic, uid2))
        uid2 = register_user();
    oid = create_order(uid);
    while (parked_id(t.order_topic, oid))
        oid = create_order(uid);
    oid2 = create_order(uid2);
    while (parked_id(t.order_topic, oid2))
        oid2 = create_order(uid2);
    double before = outcomes(t.order_topic, "dead_letter");
    /* the keys parked so far (row 44's), on both command topics */
    const char *parked_q = "SELECT COUNT(*) FROM parked_keys WHERE topic = ? "
                           "OR topic = ?";
    const struct of_db_param topics[] = {OF_DB_S(t.order_topic),
                                         OF_DB_S(t.user_topic)};
    struct of_it_row parked = of_it_query(t.db, parked_q, topics, 2);

    /* a PayOrder of order oid keyed by another order */
    struct of_order_cmd *pay = order_cmd(OF_PAY_ORDER, oid);
    snprintf(id, sizeof(id), "%s", pay->command_id);
    snprintf(key, sizeof(key), "%lld", (long long)oid2);
    send_order_keyed(pay, key);
    dl_last(t.order_topic, &d);
    expect_error(&d, "key");
    assert_string_equal(d.parked_behind, "");
    no_command(id, "a PayOrder keyed by another order");
    print_message("# misrouted PayOrder: dead letter \"%s\"\n", d.error);

    /* a CancelOrder keyed "0<order id>": the key is the decimal form */
    pay = order_cmd(OF_CANCEL_ORDER, oid);
    snprintf(id, sizeof(id), "%s", pay->command_id);
    snprintf(key, sizeof(key), "0%lld", (long long)oid);
    send_order_keyed(pay, key);
    dl_last(t.order_topic, &d);
    no_command(id, "a CancelOrder keyed by 0<order id>");

    /* a CreateOrder of uid keyed by another user */
    struct of_order_cmd *create = order_cmd(OF_CREATE_ORDER, 0);
    create->user_id = uid;
    create->total_amount = 77;
    snprintf(id, sizeof(id), "%s", create->command_id);
    snprintf(key, sizeof(key), "%lld", (long long)uid2);
    send_order_keyed(create, key);
    dl_last(t.order_topic, &d);
    expect_error(&d, "user id");
    no_command(id, "a CreateOrder keyed by another user");
    assert_true(outcomes(t.order_topic, "dead_letter") == before + 3);

    /* a RegisterUser keyed by another email; a BanUser keyed by another
     * user; a BanUser keyed by the email of the user */
    struct of_user_cmd *reg = user_cmd(OF_REGISTER_USER, 0);
    of_it_unique(local, sizeof(local), "bki-misrouted");
    snprintf(email, sizeof(email), "%s@example.com", local);
    snprintf(reg->email, sizeof(reg->email), "%s", email);
    snprintf(reg->username, sizeof(reg->username), "misrouted");
    snprintf(id, sizeof(id), "%s", reg->command_id);
    send_user_keyed(reg, "someone-else@example.com");
    dl_last(t.user_topic, &d);
    expect_error(&d, "email");
    no_command(id, "a RegisterUser keyed by another email");
    assert_string_equal(
        sql("SELECT COUNT(*) FROM users WHERE email = ?", email).v[0], "0");
    struct of_user_cmd *ban = user_cmd(OF_BAN_USER, uid);
    snprintf(id, sizeof(id), "%s", ban->command_id);
    snprintf(key, sizeof(key), "%lld", (long long)uid2);
    send_user_keyed(ban, key);
    dl_last(t.user_topic, &d);
    no_command(id, "a BanUser keyed by another user");

    /* nothing was parked and no order moved: the aggregates' own commands
     * flow, in their order (the misrouted pay never counted) */
    struct of_order_cmd *cancel = order_cmd(OF_CANCEL_ORDER, oid);
    snprintf(id, sizeof(id), "%s", cancel->command_id);
    send_order_keyed(cancel, NULL);
    assert_string_equal(wait_command(id, "CancelOrder of oid").v[0],
                        "applied");
    assert_string_equal(order_status(oid), "cancelled");
    pay = order_cmd(OF_PAY_ORDER, oid2);
    snprintf(id, sizeof(id), "%s", pay->command_id);
    send_order_keyed(pay, NULL);
    assert_string_equal(wait_command(id, "PayOrder of oid2").v[0], "applied");
    char sid[24];
    snprintf(sid, sizeof(sid), "%lld", (long long)uid);
    assert_string_equal(
        sql("SELECT is_banned FROM users WHERE user_id = ?", sid).v[0], "0");
    struct of_it_row now = of_it_query(t.db, parked_q, topics, 2);
    assert_string_equal(now.v[0], parked.v[0]); /* none parked since */
}

static void null_key_and_tombstone_are_dead_lettered(void **state)
{
    char key[24], id[OF_UUID_SIZE];
    size_t len;
    struct dl d;
    (void)state;

    int64_t uid = register_user();
    int64_t oid = create_order(uid);
    snprintf(key, sizeof(key), "%lld", (long long)oid);

    /* a valid PayOrder without a key */
    struct of_order_cmd *pay = order_cmd(OF_PAY_ORDER, oid);
    snprintf(id, sizeof(id), "%s", pay->command_id);
    void *v = enc_order(pay, &len);
    produce(t.order_topic, NULL, v, len, "PayOrder", pay->trace_id);
    free(v);
    dl_last(t.order_topic, &d);
    expect_error(&d, "no message key");
    assert_true(d.key_null);
    no_command(id, "a PayOrder without a key");

    /* a tombstone of the order's key, then its next command */
    produce(t.order_topic, key, NULL, 0, "PayOrder", "bki-tombstone");
    dl_last(t.order_topic, &d);
    expect_error(&d, "no value");
    assert_true(d.value_null);
    assert_string_equal(d.parked_behind, "");
    pay = order_cmd(OF_PAY_ORDER, oid);
    snprintf(id, sizeof(id), "%s", pay->command_id);
    send_order_keyed(pay, NULL);
    assert_string_equal(wait_command(id, "PayOrder after a tombstone").v[0],
                        "applied");
    assert_string_equal(order_status(oid), "paid");
}

/* ---- row 46 ---- */

static void content_type_must_be_avro(void **state)
{
    char key[24], id[OF_UUID_SIZE];
    size_t len;
    struct dl d;
    void *v;
    (void)state;

    int64_t uid = register_user();
    int64_t oid = create_order(uid);
    snprintf(key, sizeof(key), "%lld", (long long)oid);
    struct of_order_cmd *cancel = order_cmd(OF_CANCEL_ORDER, oid);
    snprintf(id, sizeof(id), "%s", cancel->command_id);
    v = enc_order(cancel, &len);

    /* no content-type; no headers at all; text/plain; application/avro
     * then text/plain (the last wins); application/avro with a NUL and
     * more after it */
    produce_raw(t.order_topic, key, strlen(key), v, len,
                hdrs((const char *[]){"message-type", "CancelOrder",
                                      "trace-id", "bki-noct", NULL}));
    dl_last(t.order_topic, &d);
    expect_error(&d, "content-type");
    assert_false(d.has_ct);
    assert_string_equal(d.trace, "bki-noct");
    produce_raw(t.order_topic, key, strlen(key), v, len, NULL);
    dl_last(t.order_topic, &d);
    expect_error(&d, "content-type");
    produce_raw(t.order_topic, key, strlen(key), v, len,
                hdrs((const char *[]){"content-type", "text/plain", NULL}));
    dl_last(t.order_topic, &d);
    expect_error(&d, "text/plain");
    assert_string_equal(d.ct, "text/plain");
    produce_raw(t.order_topic, key, strlen(key), v, len,
                hdrs((const char *[]){"content-type", "application/avro",
                                      "content-type", "text/plain", NULL}));
    dl_last(t.order_topic, &d);
    expect_error(&d, "text/plain");
    assert_string_equal(d.ct, "text/plain"); /* copied once: the last */
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    rd_kafka_header_add(h, "content-type", -1, "application/avro\0x", 18);
    produce_raw(t.order_topic, key, strlen(key), v, len, h);
    dl_last(t.order_topic, &d);
    expect_error(&d, "content-type");
    no_command(id, "a CancelOrder without application/avro");
    assert_string_equal(order_status(oid), "pending");
    print_message("# wrong content-type: dead letter \"%s\"\n", d.error);

    /* text/plain then APPLICATION/AVRO: the last wins, case aside; the key
     * was not parked by the ones before */
    produce_raw(t.order_topic, key, strlen(key), v, len,
                hdrs((const char *[]){"content-type", "text/plain",
                                      "content-type", "APPLICATION/AVRO",
                                      NULL}));
    free(v);
    assert_string_equal(wait_command(id, "CancelOrder, avro last").v[0],
                        "applied");
    assert_string_equal(order_status(oid), "cancelled");
}

static void long_and_repeated_trace_ids(void **state)
{
    static char big[10 * 1024 + 1];
    char key[24], id[OF_UUID_SIZE], trace[OF_TRACE_ID_SIZE];
    size_t len;
    struct dl d;
    void *v;
    (void)state;

    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char)('a' + i % 26);
    int64_t uid = register_user();
    snprintf(key, sizeof(key), "%lld", (long long)uid);

    /* garbage with a 10 KiB trace-id, then with two: the dead letter keeps
     * the first 128 bytes of the last one */
    produce_raw(t.order_topic, key, strlen(key), "garbage", 7,
                hdrs((const char *[]){"content-type", "application/avro",
                                      "trace-id", big, NULL}));
    dl_last(t.order_topic, &d);
    assert_true(d.has_trace);
    assert_int_equal(d.trace_len, OF_TRACE_ID_MAX);
    assert_memory_equal(d.trace, big, OF_TRACE_ID_MAX);
    produce_raw(t.order_topic, key, strlen(key), "garbage", 7,
                hdrs((const char *[]){"content-type", "application/avro",
                                      "trace-id", big, "trace-id", "last",
                                      NULL}));
    dl_last(t.order_topic, &d);
    assert_string_equal(d.trace, "last");

    /* a valid command with a 10 KiB trace-id header is applied, with the
     * trace id of its payload; one whose payload trace id has 128 bytes
     * keeps all of them in commands and outbox (schemas/sql/003) */
    struct of_order_cmd *cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 4200;
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    snprintf(trace, sizeof(trace), "%s", cmd->trace_id);
    v = enc_order(cmd, &len);
    produce_raw(t.order_topic, key, strlen(key), v, len,
                hdrs((const char *[]){"content-type", "application/avro",
                                      "message-type", "CreateOrder",
                                      "trace-id", big, NULL}));
    free(v);
    assert_string_equal(wait_command(id, "CreateOrder, 10 KiB trace-id").v[0],
                        "applied");
    assert_string_equal(
        sql("SELECT trace_id FROM commands WHERE command_id = ?", id).v[0],
        trace);
    cmd = order_cmd(OF_CREATE_ORDER, 0);
    cmd->user_id = uid;
    cmd->total_amount = 4300;
    memcpy(cmd->trace_id, big + 7, OF_TRACE_ID_MAX);
    cmd->trace_id[OF_TRACE_ID_MAX] = '\0';
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    snprintf(trace, sizeof(trace), "%s", cmd->trace_id);
    send_order_keyed(cmd, NULL);
    assert_string_equal(wait_command(id, "CreateOrder, 128-byte trace").v[0],
                        "applied");
    assert_string_equal(
        sql("SELECT trace_id FROM commands WHERE command_id = ?", id).v[0],
        trace);
    assert_string_equal(
        sql("SELECT trace_id FROM outbox WHERE command_id = ?", id).v[0],
        trace);
    print_message("# 10 KiB trace-id: dead letter keeps %zu bytes; a "
                  "128-byte trace id is stored whole\n",
                  (size_t)OF_TRACE_ID_MAX);
}

/* ---- row 47 ---- */

static void same_command_id_other_content_is_a_conflict(void **state)
{
    static struct of_order_cmd first, other;
    char id[OF_UUID_SIZE], key[24], offset[32];
    size_t len1, len;
    const char *topic = t.order_topic;
    void *v1, *v;
    (void)state;

    int64_t uid = register_user();
    int64_t oid = create_order(uid);
    snprintf(key, sizeof(key), "%lld", (long long)oid);
    double conflicts = metric(CONFLICTS);
    assert_true(conflicts >= 0); /* exported from the start */
    double dups = outcomes(topic, "duplicate");

    /* the first PayOrder under its id is applied */
    first = *order_cmd(OF_PAY_ORDER, oid);
    first.has_payment_ref = true;
    snprintf(first.payment_ref, sizeof(first.payment_ref), "pi_first");
    snprintf(id, sizeof(id), "%s", first.command_id);
    v1 = enc_order(&first, &len1);
    produce(topic, key, v1, len1, "PayOrder", first.trace_id);
    struct of_it_row r = wait_command(id, "the first PayOrder");
    assert_string_equal(r.v[0], "applied");
    snprintf(offset, sizeof(offset), "%.31s", r.v[3]);

    /* conflicts: the same id with another payment_ref; the same id as a
     * CancelOrder of the order */
    other = first;
    snprintf(other.payment_ref, sizeof(other.payment_ref), "pi_other");
    v = enc_order(&other, &len);
    produce(topic, key, v, len, "PayOrder", other.trace_id);
    free(v);
    other = first;
    other.type = OF_CANCEL_ORDER;
    other.has_payment_ref = false;
    v = enc_order(&other, &len);
    produce(topic, key, v, len, "CancelOrder", other.trace_id);
    free(v);
    /* plain duplicates: the same bytes; the same request retried through
     * the API (new issued_at and trace id, same content) */
    produce(topic, key, v1, len1, "PayOrder", first.trace_id);
    free(v1);
    other = first;
    other.issued_at += 1000000;
    snprintf(other.trace_id, sizeof(other.trace_id), "bki-retry");
    v = enc_order(&other, &len);
    produce(topic, key, v, len, "PayOrder", other.trace_id);
    free(v);

    /* a command behind them on the key: once it has its row, they were
     * all consumed */
    struct of_order_cmd *cancel = order_cmd(OF_CANCEL_ORDER, oid);
    char cid[OF_UUID_SIZE];
    snprintf(cid, sizeof(cid), "%s", cancel->command_id);
    send_order_keyed(cancel, NULL);
    r = wait_command(cid, "CancelOrder behind the duplicates");
    assert_string_equal(r.v[0], "rejected"); /* paid: the first pay held */
    assert_string_equal(r.v[1], "invalid_transition");
    assert_string_equal(order_status(oid), "paid");
    r = sql("SELECT COUNT(*), MIN(kafka_offset) FROM commands "
            "WHERE command_id = ?",
            id);
    assert_string_equal(r.v[0], "1");    /* one row */
    assert_string_equal(r.v[1], offset); /* the first delivery's */
    double got = metric(CONFLICTS);
    double got_dups = outcomes(topic, "duplicate");
    print_message("# conflicts %.0f -> %.0f, duplicates %.0f -> %.0f\n",
                  conflicts, got, dups, got_dups);
    assert_true(got == conflicts + 2);
    assert_true(got_dups == dups + 4);
}

/* ---- row 48 ---- */

static void resp_in_a_username_is_stored_verbatim(void **state)
{
    char canary[16], username[OF_USERNAME_SIZE], local[128], hkey[64];
    char id[OF_UUID_SIZE], sid[24];
    struct of_err err;
    redisReply *rep;
    (void)state;

    snprintf(canary, sizeof(canary), "c%07d", (int)(getpid() % 10000000));
    const char *set[] = {"SET", canary, "alive"};
    rep = of_redis_command(t.redis, 3, set, NULL, &err);
    assert_non_null(rep);
    freeReplyObject(rep);
    /* DEL canary canary, as a RESP array, inside the value */
    snprintf(username, sizeof(username),
             "\r\n*3\r\n$3\r\nDEL\r\n$8\r\n%s\r\n$8\r\n%s\r\n", canary,
             canary);
    assert_true(strlen(username) <= OF_USERNAME_MAX);

    struct of_user_cmd *cmd = user_cmd(OF_REGISTER_USER, 0);
    of_it_unique(local, sizeof(local), "bki-resp");
    snprintf(cmd->email, sizeof(cmd->email), "%s@example.com", local);
    snprintf(cmd->username, sizeof(cmd->username), "%s", username);
    snprintf(id, sizeof(id), "%s", cmd->command_id);
    send_user_keyed(cmd, NULL);
    struct of_it_row r =
        wait_command(id, "RegisterUser with RESP in its username");
    assert_string_equal(r.v[0], "applied");
    snprintf(sid, sizeof(sid), "%.23s", r.v[2]);
    assert_string_equal(
        sql("SELECT username FROM users WHERE user_id = ?", sid).v[0],
        username);

    /* Redis is written after the commit: poll, bounded */
    snprintf(hkey, sizeof(hkey), "orderflow:user:%s", sid);
    const char *hget[] = {"HGET", hkey, "username"};
    int same = 0;
    for (int i = 0; i < WAIT_S * 20 && !same; i++) {
        rep = of_redis_command(t.redis, 3, hget, NULL, &err);
        assert_non_null(rep);
        same = rep->type == REDIS_REPLY_STRING &&
               rep->len == strlen(username) &&
               memcmp(rep->str, username, rep->len) == 0;
        freeReplyObject(rep);
        if (!same)
            usleep(50000);
    }
    if (!same)
        fail_with_log("HGET username is not the username, byte for byte");
    const char *get[] = {"GET", canary};
    rep = of_redis_command(t.redis, 2, get, NULL, &err);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING); /* no DEL ran */
    assert_string_equal(rep->str, "alive");
    freeReplyObject(rep);
    print_message("# RESP username (%zu chars) stored verbatim in MySQL and "
                  "Redis; canary %s intact\n",
                  strlen(username), canary);
}

/* ---- I6 ---- */

static void worker_is_alive_and_exits_0(void **state)
{
    int status;
    (void)state;

    if (waitpid(t.app.worker, &status, WNOHANG) != 0)
        fail_with_log("the worker died during the bad inputs");
    assert_int_equal(of_it_stop(t.app.worker, SIGTERM, 10), 0);
    t.app.worker = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_values_are_dead_lettered_and_the_key_flows),
        cmocka_unit_test(trailing_bytes_and_big_decimal_are_dead_lettered),
        cmocka_unit_test(misrouted_commands_are_dead_lettered),
        cmocka_unit_test(null_key_and_tombstone_are_dead_lettered),
        cmocka_unit_test(content_type_must_be_avro),
        cmocka_unit_test(long_and_repeated_trace_ids),
        cmocka_unit_test(same_command_id_other_content_is_a_conflict),
        cmocka_unit_test(resp_in_a_username_is_stored_verbatim),
        cmocka_unit_test(worker_is_alive_and_exits_0),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
