/*
 * TESTPLAN F1: kill -9 the command worker mid-stream, several times, and
 * restart it at once with the same group.instance.id, while orders are
 * being accepted. Afterwards (I1, I2, I4, I5): every accepted command is
 * applied exactly once (one commands row, one order, version 1, one
 * OrderCreated outbox row), and the Redis hashes agree with MySQL.
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

#include "of_db.h"
#include "of_it.h"
#include "of_jwt.h"
#include "of_redis.h"

#define ORDERS 400
#define KILLS  4

static struct of_it_app app;

static int count(struct of_db *db, const char *sql, const char *arg)
{
    return (int)of_it_count(db, sql, (struct of_db_param[]){OF_DB_S(arg)}, 1);
}

static void worker_killed_mid_stream_applies_each_command_once(void **state)
{
    struct of_err err;
    char email[128];
    static char cids[ORDERS][40];
    int accepted = 0, kills = 0;
    (void)state;

    setenv("ORDERFLOW_KAFKA_GROUP_INSTANCE_ID", "f1-worker", 1);
    setenv("ORDERFLOW_KAFKA_SESSION_TIMEOUT_MS", "10000", 1);
    of_it_app_start(&app, "f1", 3, OF_IT_APP_WORKER);

    /* a user to order for */
    of_it_unique(email, sizeof(email), "f1");
    char body[256];
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"f1\"}", email);
    const char *hw[] = {app.admin, "Content-Type: application/json",
                        "Prefer: wait=20", NULL};
    struct of_it_resp r;
    of_it_http(app.port, "POST", "/v1/users", hw, body, &r);
    assert_int_equal(r.status, 201);
    json_t *u = json_loads(r.body, 0, NULL);
    long long uid = json_integer_value(json_object_get(u, "user_id"));
    json_decref(u);
    of_it_resp_free(&r);

    const char *h[] = {app.admin, "Content-Type: application/json", NULL};
    for (int i = 0; i < ORDERS; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%d.00\","
                 "\"user_id\":%lld}",
                 i + 1, uid);
        of_it_http(app.port, "POST", "/v1/orders", h, body, &r);
        assert_int_equal(r.status, 202);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(cids[accepted++], sizeof(cids[0]), "%s",
                 json_string_value(json_object_get(j, "command_id")));
        json_decref(j);
        of_it_resp_free(&r);
        if (i % (ORDERS / KILLS) == ORDERS / KILLS / 2) {
            assert_int_equal(of_it_stop(app.worker, SIGKILL, 5), 128 + SIGKILL);
            kills++;
            of_it_app_start_worker(&app, NULL); /* at once, same id */
        }
        usleep(10000);
    }
    assert_int_equal(kills, KILLS);
    of_it_wait_caught_up(app.cfg, app.group,
                         getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"), 120);

    struct of_db *db = of_db_open(app.cfg, &err);
    char uids[24];
    snprintf(uids, sizeof(uids), "%lld", uid);
    for (int i = 0; i < accepted; i++) /* I1, I2: one row per command */
        assert_int_equal(count(db,
                               "SELECT COUNT(*) FROM commands WHERE "
                               "command_id = ? AND status = 'applied'",
                               cids[i]),
                         1);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM orders WHERE user_id = ?",
                           uids),
                     ORDERS);
    assert_int_equal(count(db,
                           "SELECT COUNT(*) FROM orders WHERE user_id = ? "
                           "AND version <> 1",
                           uids),
                     0);
    /* I5: one OrderCreated per order, version 1 */
    assert_int_equal(count(db,
                           "SELECT COUNT(*) FROM outbox o JOIN orders r ON "
                           "o.aggregateid = CAST(r.order_id AS CHAR) AND "
                           "o.aggregatetype = 'order' WHERE r.user_id = ? "
                           "AND o.version = 1 AND o.type = 'OrderCreated'",
                           uids),
                     ORDERS);
    /* I4: the read model agrees for every order */
    struct of_redis *redis = of_redis_new(app.cfg, &err);
    char zkey[64];
    snprintf(zkey, sizeof(zkey), "orderflow:user:%lld:orders", uid);
    const char *zcard[] = {"ZCARD", zkey};
    redisReply *z = of_redis_command(redis, 2, zcard, NULL, &err);
    assert_non_null(z);
    assert_int_equal(z->integer, ORDERS);
    freeReplyObject(z);
    of_redis_destroy(redis);
    of_db_close(db);
    printf("# %d orders accepted, worker killed %d times, each applied "
           "once\n",
           accepted, kills);
    of_it_app_stop(&app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worker_killed_mid_stream_applies_each_command_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
