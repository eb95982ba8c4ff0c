/*
 * Events, dead letters, replay and read-model rebuild against the private
 * stack (the events issue): a downstream consumer sees OrderCreated ->
 * OrderPaid -> OrderRefunded with versions 1, 2, 3 and full snapshots; a
 * garbage command is dead-lettered with its bytes and headers and the next
 * command on the same key is applied; a whole command topic replayed
 * changes nothing; after FLUSHALL reads still answer and a rebuild restores
 * identical hashes; MySQL paused under load loses and dead-letters nothing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_it.h"
#include "of_jwt.h"
#include "of_kafka.h"
#include "of_redis.h"

static struct {
    struct of_it_app app;
    struct of_avro *avro;
} t;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(t.app.jwt, sub, role, out, cap);
}

static int setup(void **state)
{
    struct of_err err;
    (void)state;

    of_it_app_start(&t.app, "operations", 2,
                    OF_IT_APP_WORKER | OF_IT_APP_OUTBOX | OF_IT_APP_ALL_TOPICS |
                        OF_IT_APP_RATE_LIMIT);
    t.avro = of_avro_new(&err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_avro_destroy(t.avro);
    of_it_app_stop(&t.app);
    return 0;
}

static json_t *post(const char *auth, const char *path, const char *body,
                    int wait, long *status)
{
    const char *h[] = {auth, "Content-Type: application/json",
                       wait ? "Prefer: wait=15" : NULL, NULL};
    struct of_it_resp r;
    of_it_http(t.app.port, "POST", path, h, body, &r);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j)
        fail_msg("%s: not JSON (%ld): %s", path, r.status, r.body);
    of_it_resp_free(&r);
    return j;
}

static int64_t new_user(void)
{
    char email[128], body[256];
    long status;
    of_it_unique(email, sizeof(email), "ops");
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"ops\"}", email);
    json_t *j = post(t.app.admin, "/v1/users", body, 1, &status);
    assert_int_equal(status, 201);
    int64_t id = json_integer_value(json_object_get(j, "user_id"));
    json_decref(j);
    return id;
}

static int64_t new_order(int64_t uid, const char *amount)
{
    char body[256];
    long status;
    snprintf(body, sizeof(body),
             "{\"order_type\":\"vip\",\"total_amount\":\"%s\",\"user_id\":%lld}",
             amount, (long long)uid);
    json_t *j = post(t.app.admin, "/v1/orders", body, 1, &status);
    assert_int_equal(status, 201);
    int64_t id = json_integer_value(json_object_get(j, "order_id"));
    json_decref(j);
    return id;
}

static void order_action(int64_t oid, const char *action, long want)
{
    char path[128];
    long status;
    snprintf(path, sizeof(path), "/v1/orders/%lld/%s", (long long)oid, action);
    json_t *j = post(t.app.admin, path, NULL, 1, &status);
    assert_int_equal(status, want);
    json_decref(j);
}

/* A consumer of our own, from the beginning of \p topic. */
static rd_kafka_t *consumer(const char *topic)
{
    struct of_err err;
    char group[128];
    of_it_unique(group, sizeof(group), "ops-reader");
    const char *extra[] = {"group.id", group, "auto.offset.reset", "earliest",
                           NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(t.app.cfg, extra, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, &err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

static void close_consumer(rd_kafka_t *rk)
{
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

static void downstream_sees_versions_in_order(void **state)
{
    (void)state;
    int64_t uid = new_user();
    int64_t oid = new_order(uid, "42.00");
    order_action(oid, "pay", 200);
    order_action(oid, "refund", 200);

    rd_kafka_t *rk = consumer(getenv("ORDERFLOW_TOPICS_ORDER_EVENTS"));
    const char *want[] = {"OrderCreated", "OrderPaid", "OrderRefunded"};
    const char *status[] = {"pending", "paid", "refunded"};
    int next = 0;
    long long until = of_it_now_us() + 30000000LL;
    while (next < 3 && of_it_now_us() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m || m->err) {
            if (m)
                rd_kafka_message_destroy(m);
            continue;
        }
        struct of_order_event ev;
        struct of_err err;
        assert_int_equal(
            of_avro_decode_order_event(t.avro, m->payload, m->len, &ev, &err),
            OF_OK);
        if (ev.order.order_id == oid && ev.version == next + 1) {
            char h[64];
            assert_true(of_kafka_header_get(m, "message-type", h, sizeof(h)));
            assert_string_equal(h, want[next]);
            assert_string_equal(of_avro_order_event_type_name(ev.type),
                                want[next]);
            assert_string_equal(
                of_avro_order_status_name(ev.order.order_status),
                status[next]);
            assert_int_equal(ev.order.total_amount, 4200);
            assert_int_equal(ev.order.user_id, uid);
            next++;
        } else if (ev.order.order_id == oid) {
            assert_true(ev.version <= next); /* a duplicate, never a gap */
        }
        rd_kafka_message_destroy(m);
    }
    close_consumer(rk);
    assert_int_equal(next, 3);
}

static void garbage_is_dead_lettered_and_the_key_keeps_flowing(void **state)
{
    struct of_err err;
    char key[24];
    long status;
    (void)state;

    int64_t uid = new_user();
    int64_t oid = new_order(uid, "5.00");
    snprintf(key, sizeof(key), "%lld", (long long)oid);
    /* plain garbage on the order's key, then a real pay for it */
    const char *extra[] = {"acks", "all", NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(t.app.cfg, extra, &err);
    rd_kafka_t *p = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    const char garbage[] = "not avro at all";
    assert_int_equal(
        rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS")),
            RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)garbage, sizeof(garbage) - 1),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(of_kafka_headers_new("PayOrder", "trace-x")),
            RD_KAFKA_V_END),
        0);
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
    char path[128];
    snprintf(path, sizeof(path), "/v1/orders/%lld/pay", (long long)oid);
    json_t *j = post(t.app.admin, path, NULL, 1, &status);
    assert_int_equal(status, 200); /* applied behind the garbage */
    assert_string_equal(json_string_value(json_object_get(j, "order_status")),
                        "paid");
    json_decref(j);

    rd_kafka_t *rk = consumer(getenv("ORDERFLOW_TOPICS_DEAD_LETTER"));
    rd_kafka_message_t *m = NULL;
    long long until = of_it_now_us() + 20000000LL;
    while (!m && of_it_now_us() < until) {
        m = rd_kafka_consumer_poll(rk, 200);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    if (!m)
        fail_msg("no dead letter within 20 s");
    assert_int_equal(m->len, sizeof(garbage) - 1);
    assert_memory_equal(m->payload, garbage, m->len); /* bytes untouched */
    assert_int_equal(m->key_len, strlen(key));
    assert_memory_equal(m->key, key, m->key_len);
    char h[256];
    assert_true(of_kafka_header_get(m, "original-topic", h, sizeof(h)));
    assert_string_equal(h, getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"));
    assert_true(of_kafka_header_get(m, "original-offset", h, sizeof(h)));
    assert_true(of_kafka_header_get(m, "original-partition", h, sizeof(h)));
    assert_true(of_kafka_header_get(m, "failed-at", h, sizeof(h)));
    assert_true(of_kafka_header_get(m, "error", h, sizeof(h)));
    assert_true(of_kafka_header_get(m, "trace-id", h, sizeof(h)));
    assert_string_equal(h, "trace-x");
    rd_kafka_message_destroy(m);
    close_consumer(rk);

    /* orderflowctl dlq list shows it */
    char cmd[512], line[4096] = "";
    snprintf(cmd, sizeof(cmd),
             "%s/orderflowctl --config /dev/null dlq list --limit 1",
             t.app.bin);
    FILE *f = popen(cmd, "r");
    assert_non_null(fgets(line, sizeof(line), f));
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(line, "\"frame\":\"none\""));
    assert_non_null(strstr(line, "\"original-topic\""));
}

struct sums {
    char v[2][128];
};

static int sum_cb(void *arg, int n, char **v, const unsigned long *l)
{
    struct sums *s = arg;
    (void)n;
    (void)l;
    snprintf(s->v[0], sizeof(s->v[0]), "%s", v[0] ? v[0] : "NULL");
    snprintf(s->v[1], sizeof(s->v[1]), "%s", v[1] ? v[1] : "NULL");
    return 1;
}

/* A checksum of every row of users and orders, versions included. */
static void checksum(struct of_db *db, struct sums *s)
{
    struct of_err err;
    assert_int_equal(
        of_db_query(db,
                    "SELECT (SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32("
                    "CONCAT_WS('|', user_id, email, username, is_banned, "
                    "version))), 0)) FROM users), (SELECT CONCAT(COUNT(*), ':', "
                    "COALESCE(SUM(CRC32(CONCAT_WS('|', order_id, user_id, "
                    "order_status, total_amount, version))), 0)) FROM orders)",
                    NULL, 0, sum_cb, s, &err),
        OF_OK);
}

static int count_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)l;
    *(long *)arg = strtol(v[0], NULL, 10);
    return 1;
}

static void replay_of_whole_topic_changes_nothing(void **state)
{
    struct of_err err;
    struct sums before, after;
    long cmds_before = 0, cmds_after = 0;
    const char *group = getenv("ORDERFLOW_WORKER_GROUP_ID");
    const char *topics[] = {getenv("ORDERFLOW_TOPICS_USER_COMMANDS"),
                            getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS")};
    (void)state;

    struct of_db *db = of_db_open(t.app.cfg, &err);
    for (int i = 0; i < 2; i++)
        of_it_wait_caught_up(t.app.cfg, group, topics[i], 30);
    checksum(db, &before);
    of_db_query(db, "SELECT COUNT(*) FROM commands", NULL, 0, count_cb,
                &cmds_before, &err);
    for (int i = 0; i < 2; i++) {
        of_it_sh("%s/orderflowctl --config /dev/null replay --topic %s "
                 "--from-offset 0 >>%s/replay.out 2>&1",
                 t.app.bin, topics[i], t.app.dir);
        of_it_wait_caught_up(t.app.cfg, group, topics[i], 60);
    }
    of_it_sh("grep -q '^replayed [1-9]' %s/replay.out", t.app.dir);
    /* a dry run over the same range: nothing left to apply */
    of_it_sh("%s/orderflowctl --config /dev/null replay --topic %s "
             "--from-offset 0 --dry-run 2>/dev/null | grep -q "
             "', 0 would be applied, [1-9][0-9]* already applied'",
             t.app.bin, topics[1]);
    checksum(db, &after);
    assert_string_equal(before.v[0], after.v[0]); /* users unchanged */
    assert_string_equal(before.v[1], after.v[1]); /* orders unchanged */
    of_db_query(db, "SELECT COUNT(*) FROM commands", NULL, 0, count_cb,
                &cmds_after, &err);
    assert_int_equal(cmds_after, cmds_before); /* no command applied twice */
    of_db_close(db);
}

static void flushall_then_rebuild_restores_identical_hashes(void **state)
{
    struct of_err err;
    char key[64], path[64], auth[1024];
    (void)state;

    int64_t uid = new_user();
    int64_t oid = new_order(uid, "77.70");
    order_action(oid, "pay", 200);
    struct of_redis *r = of_redis_new(t.app.cfg, &err);
    snprintf(key, sizeof(key), "orderflow:order:%lld", (long long)oid);
    const char *hgetall[] = {"HGETALL", key};
    redisReply *before = of_redis_command(r, 2, hgetall, NULL, &err);
    assert_non_null(before);
    assert_true(before->elements >= 16);
    const char *flush[] = {"FLUSHALL"};
    freeReplyObject(of_redis_command(r, 1, flush, NULL, &err));

    /* reads still answer, from MySQL */
    token(auth, sizeof(auth), uid, OF_ROLE_USER);
    snprintf(path, sizeof(path), "/v1/orders/%lld", (long long)oid);
    const char *h[] = {auth, NULL};
    struct of_it_resp resp;
    of_it_http(t.app.port, "GET", path, h, NULL, &resp);
    assert_int_equal(resp.status, 200);
    assert_non_null(strstr(resp.body, "\"order_status\":\"paid\""));
    of_it_resp_free(&resp);

    of_it_sh("%s/orderflowctl --config /dev/null rebuild-read-model --all "
             ">/dev/null 2>&1",
             t.app.bin);
    redisReply *after = of_redis_command(r, 2, hgetall, NULL, &err);
    assert_non_null(after);
    assert_int_equal(after->elements, before->elements);
    for (size_t i = 0; i < before->elements; i += 2) {
        int found = 0;
        for (size_t k = 0; k < after->elements; k += 2) {
            if (strcmp(before->element[i]->str, after->element[k]->str) == 0) {
                assert_string_equal(before->element[i + 1]->str,
                                    after->element[k + 1]->str);
                found = 1;
            }
        }
        assert_true(found);
    }
    freeReplyObject(before);
    freeReplyObject(after);
    of_redis_destroy(r);
}

static void mysql_paused_loses_nothing(void **state)
{
    struct of_err err;
    long status, dead_before = 0;
    char pidfile[512], cids[20][64];
    (void)state;

    int64_t uid = new_user();
    snprintf(pidfile, sizeof(pidfile), "%s/mariadb/mariadb.pid",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"));
    of_it_sh("kill -STOP $(cat %s)", pidfile);
    for (int i = 0; i < 20; i++) {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%d.00\","
                 "\"user_id\":%lld}",
                 i + 1, (long long)uid);
        json_t *j = post(t.app.admin, "/v1/orders", body, 0, &status);
        assert_int_equal(status, 202); /* Kafka takes it; MySQL may sleep */
        snprintf(cids[i], sizeof(cids[i]), "%s",
                 json_string_value(json_object_get(j, "command_id")));
        json_decref(j);
        usleep(250000);
    }
    sleep(5); /* 10 s in all with MySQL stopped */
    of_it_sh("kill -CONT $(cat %s)", pidfile);
    struct of_db *db = of_db_open(t.app.cfg, &err);
    long applied = 0;
    long long until = of_it_now_us() + 60000000LL;
    char uidstr[24];
    snprintf(uidstr, sizeof(uidstr), "%lld", (long long)uid);
    while (applied < 20 && of_it_now_us() < until) {
        of_db_query(db, "SELECT COUNT(*) FROM orders WHERE user_id = ?",
                    (struct of_db_param[]){OF_DB_S(uidstr)}, 1, count_cb,
                    &applied, &err);
        usleep(200000);
    }
    assert_int_equal(applied, 20); /* every accepted command applied */
    for (int i = 0; i < 20; i++) {
        long n = 0;
        of_db_query(db, "SELECT COUNT(*) FROM commands WHERE command_id = ?",
                    (struct of_db_param[]){OF_DB_S(cids[i])}, 1, count_cb, &n,
                    &err);
        assert_int_equal(n, 1); /* once each */
    }
    of_db_close(db);
    (void)dead_before;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(downstream_sees_versions_in_order),
        cmocka_unit_test(garbage_is_dead_lettered_and_the_key_keeps_flowing),
        cmocka_unit_test(replay_of_whole_topic_changes_nothing),
        cmocka_unit_test(flushall_then_rebuild_restores_identical_hashes),
        cmocka_unit_test(mysql_paused_loses_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
