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

static struct {
    struct of_config *cfg;
    struct of_jwt *jwt;
    int port, api, worker;
    char dir[256], bin[256], group[128];
} t;

static int start_worker(void)
{
    char exe[512], log[512];
    snprintf(exe, sizeof(exe), "%s/orderflow-worker", t.bin);
    snprintf(log, sizeof(log), "%s/worker.log", t.dir);
    char *argv[] = {exe, "--config", "/dev/null", "--role", "commands",
                    "--metrics-port", "0", NULL};
    return of_it_spawn(argv, NULL, log);
}

static int count_cb(void *a, int c, char **v, const unsigned long *l)
{
    (void)c;
    (void)l;
    *(long *)a = v[0] ? strtol(v[0], NULL, 10) : -1;
    return 1;
}

static int count(struct of_db *db, const char *sql, const char *arg)
{
    struct of_err err;
    long n = -1;
    assert_int_equal(of_db_query(db, sql,
                                 (struct of_db_param[]){OF_DB_S(arg)}, 1,
                                 count_cb, &n, &err),
                     OF_OK);
    return (int)n;
}

static void worker_killed_mid_stream_applies_each_command_once(void **state)
{
    struct of_err err;
    char name[128], port[16], exe[512], log[512], auth[1024], email[128];
    static char cids[ORDERS][40];
    int accepted = 0, kills = 0;
    (void)state;

    snprintf(t.bin, sizeof(t.bin), "%s", of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(t.dir, sizeof(t.dir), "%s/f1-%d",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), (int)getpid());
    of_it_sh("mkdir -p %s", t.dir);
    of_it_unique(name, sizeof(name), "f1.user-commands");
    setenv("ORDERFLOW_TOPICS_USER_COMMANDS", name, 1);
    of_it_unique(name, sizeof(name), "f1.order-commands");
    setenv("ORDERFLOW_TOPICS_ORDER_COMMANDS", name, 1);
    of_it_unique(t.group, sizeof(t.group), "f1-group");
    setenv("ORDERFLOW_WORKER_GROUP_ID", t.group, 1);
    setenv("ORDERFLOW_KAFKA_GROUP_INSTANCE_ID", "f1-worker", 1);
    setenv("ORDERFLOW_KAFKA_SESSION_TIMEOUT_MS", "10000", 1);
    setenv("ORDERFLOW_TOPICS_PARTITIONS", "3", 1);
    setenv("ORDERFLOW_API_RATE_LIMIT_PER_S", "0", 1);
    t.cfg = of_it_config(NULL);
    of_it_sh("%s/orderflowctl --config /dev/null migrate >/dev/null && "
             "%s/orderflowctl --config /dev/null topics create >/dev/null",
             t.bin, t.bin);
    t.port = of_it_free_port();
    snprintf(port, sizeof(port), "%d", t.port);
    setenv("ORDERFLOW_API_PORT", port, 1);
    t.worker = start_worker();
    snprintf(exe, sizeof(exe), "%s/orderflow-api", t.bin);
    snprintf(log, sizeof(log), "%s/api.log", t.dir);
    char *argv[] = {exe, "--config", "/dev/null", NULL};
    t.api = of_it_spawn(argv, NULL, log);
    of_it_wait_http(t.port, 20);
    t.jwt = of_jwt_new(t.cfg, 1, &err);
    of_it_bearer(t.jwt, 1, OF_ROLE_ADMIN, auth, sizeof(auth));

    /* a user to order for */
    of_it_unique(email, sizeof(email), "f1");
    char body[256];
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"f1\"}", email);
    const char *hw[] = {auth, "Content-Type: application/json",
                        "Prefer: wait=20", NULL};
    struct of_it_resp r;
    of_it_http(t.port, "POST", "/v1/users", hw, body, &r);
    assert_int_equal(r.status, 201);
    json_t *u = json_loads(r.body, 0, NULL);
    long long uid = json_integer_value(json_object_get(u, "user_id"));
    json_decref(u);
    of_it_resp_free(&r);

    const char *h[] = {auth, "Content-Type: application/json", NULL};
    for (int i = 0; i < ORDERS; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%d.00\","
                 "\"user_id\":%lld}",
                 i + 1, uid);
        of_it_http(t.port, "POST", "/v1/orders", h, body, &r);
        assert_int_equal(r.status, 202);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(cids[accepted++], sizeof(cids[0]), "%s",
                 json_string_value(json_object_get(j, "command_id")));
        json_decref(j);
        of_it_resp_free(&r);
        if (i % (ORDERS / KILLS) == ORDERS / KILLS / 2) {
            assert_int_equal(of_it_stop(t.worker, SIGKILL, 5), 128 + SIGKILL);
            kills++;
            t.worker = start_worker(); /* at once, same instance id */
        }
        usleep(10000);
    }
    assert_int_equal(kills, KILLS);
    of_it_wait_caught_up(t.cfg, t.group, getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"),
                         120);

    struct of_db *db = of_db_open(t.cfg, &err);
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
    struct of_redis *redis = of_redis_new(t.cfg, &err);
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
    assert_int_equal(of_it_stop(t.api, SIGTERM, 15), 0);
    assert_int_equal(of_it_stop(t.worker, SIGTERM, 15), 0);
    of_jwt_destroy(t.jwt);
    of_config_destroy(t.cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worker_killed_mid_stream_applies_each_command_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
