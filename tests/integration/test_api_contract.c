/*
 * The contract under concurrency and restarts, end to end against the
 * private stack: 10 concurrent duplicates with one Idempotency-Key make one
 * command; commands sent while the worker is stopped are all applied after
 * it starts; 200 concurrent creates make exactly 200 rows; a user's orders
 * page newest first; money and unicode round-trip exactly.
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

static struct {
    struct of_config *cfg;
    struct of_jwt *jwt;
    int port, api, worker;
    char dir[256], bin[256], group[128];
    char admin[1024];
} t;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(t.jwt, sub, role, out, cap);
}

static int start_worker(void)
{
    char exe[512], log[512];
    snprintf(exe, sizeof(exe), "%s/orderflow-worker", t.bin);
    snprintf(log, sizeof(log), "%s/worker.log", t.dir);
    char *argv[] = {exe, "--config", "/dev/null", "--role", "commands",
                    "--metrics-port", "0", NULL};
    return of_it_spawn(argv, NULL, log);
}

static int setup(void **state)
{
    struct of_err err;
    char name[128], port[16], exe[512], log[512];
    (void)state;

    snprintf(t.bin, sizeof(t.bin), "%s", of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(t.dir, sizeof(t.dir), "%s/contract-%d",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), (int)getpid());
    of_it_sh("mkdir -p %s", t.dir);
    of_it_unique(name, sizeof(name), "ct.user-commands");
    setenv("ORDERFLOW_TOPICS_USER_COMMANDS", name, 1);
    of_it_unique(name, sizeof(name), "ct.order-commands");
    setenv("ORDERFLOW_TOPICS_ORDER_COMMANDS", name, 1);
    of_it_unique(t.group, sizeof(t.group), "ct-group");
    setenv("ORDERFLOW_WORKER_GROUP_ID", t.group, 1);
    setenv("ORDERFLOW_TOPICS_PARTITIONS", "3", 1);
    setenv("ORDERFLOW_API_RATE_LIMIT_PER_S", "0", 1);
    /* 200 concurrent clients from one address: above the default 64 */
    setenv("ORDERFLOW_API_PER_IP_CONNECTION_LIMIT", "512", 1);
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
    token(t.admin, sizeof(t.admin), 1, OF_ROLE_ADMIN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(of_it_stop(t.api, SIGTERM, 15), 0);
    if (t.worker)
        assert_int_equal(of_it_stop(t.worker, SIGTERM, 15), 0);
    of_jwt_destroy(t.jwt);
    of_config_destroy(t.cfg);
    return 0;
}

static json_t *request(const char *auth, const char *method, const char *path,
                       const char *body, int wait, long *status)
{
    const char *h[] = {auth, "Content-Type: application/json",
                       wait ? "Prefer: wait=20" : NULL, NULL};
    struct of_it_resp r;
    of_it_http(t.port, method, path, h, body, &r);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j)
        fail_msg("%s %s: not JSON (%ld): %s", method, path, r.status, r.body);
    of_it_resp_free(&r);
    return j;
}

static int64_t new_user(const char *username)
{
    char email[128];
    long status;
    of_it_unique(email, sizeof(email), "ct");
    json_t *body = json_pack("{s:s+, s:s}", "email", email, "@example.com",
                             "username", username);
    char *text = json_dumps(body, 0);
    json_t *j = request(t.admin, "POST", "/v1/users", text, 1, &status);
    assert_int_equal(status, 201);
    int64_t id = json_integer_value(json_object_get(j, "user_id"));
    assert_string_equal(json_string_value(json_object_get(j, "username")),
                        username);
    json_decref(j);
    json_decref(body);
    free(text);
    return id;
}

static int count_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)l;
    *(long *)arg = strtol(v[0], NULL, 10);
    return 1;
}

static long orders_of(int64_t uid)
{
    struct of_err err;
    struct of_db *db = of_db_open(t.cfg, &err);
    long n = -1;
    assert_non_null(db);
    assert_int_equal(of_db_query(db,
                                 "SELECT COUNT(*) FROM orders WHERE user_id = ?",
                                 (struct of_db_param[]){OF_DB_I(uid)}, 1,
                                 count_cb, &n, &err),
                     OF_OK);
    of_db_close(db);
    return n;
}

static void wait_applied(void)
{
    of_it_wait_caught_up(t.cfg, t.group,
                         getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"), 60);
}

static void ten_concurrent_duplicates_make_one_command(void **state)
{
    char user[1024], key[128], idem[160];
    long st[10];
    char *out[10];
    (void)state;

    int64_t uid = new_user("dup");
    token(user, sizeof(user), uid, OF_ROLE_USER);
    of_it_unique(key, sizeof(key), "dupkey");
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
    const char *h[] = {user, "Content-Type: application/json", idem, NULL};
    of_it_http_many(t.port, 10, "POST", "/v1/orders", h,
                    "{\"order_type\":\"vip\",\"total_amount\":\"3.00\"}", NULL,
                    st, out);
    char first[64] = "";
    int accepted = 0;
    for (int i = 0; i < 10; i++) {
        if (st[i] == 202) {
            json_t *j = json_loads(out[i], 0, NULL);
            const char *cid =
                json_string_value(json_object_get(j, "command_id"));
            if (!first[0])
                snprintf(first, sizeof(first), "%s", cid);
            assert_string_equal(cid, first); /* one command id for all */
            json_decref(j);
            accepted++;
        } else {
            assert_int_equal(st[i], 409); /* in flight */
        }
        free(out[i]);
    }
    assert_true(accepted >= 1);
    wait_applied();
    assert_int_equal(orders_of(uid), 1); /* exactly one order */
}

static void commands_sent_while_worker_stopped_are_applied(void **state)
{
    char body[128];
    long status;
    (void)state;

    int64_t uid = new_user("stopped");
    assert_int_equal(of_it_stop(t.worker, SIGTERM, 15), 0);
    t.worker = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"jewelry\",\"total_amount\":\"%d.50\","
                 "\"user_id\":%lld}",
                 i + 1, (long long)uid);
        json_decref(request(t.admin, "POST", "/v1/orders", body, 0, &status));
        assert_int_equal(status, 202);
    }
    assert_int_equal(orders_of(uid), 0); /* nothing applies meanwhile */
    t.worker = start_worker();
    wait_applied();
    assert_int_equal(orders_of(uid), 100);
}

static void concurrent_creates_and_pagination(void **state)
{
    char user[1024], path[256];
    long st[200];
    (void)state;

    int64_t uid = new_user("many");
    token(user, sizeof(user), uid, OF_ROLE_USER);
    const char *h[] = {user, "Content-Type: application/json", NULL};
    of_it_http_many(t.port, 200, "POST", "/v1/orders", h,
                    "{\"order_type\":\"vip\",\"total_amount\":\"1.00\"}", NULL,
                    st, NULL);
    for (int i = 0; i < 200; i++)
        assert_int_equal(st[i], 202);
    wait_applied();
    assert_int_equal(orders_of(uid), 200); /* exactly 200 rows */

    /* newest first, 4 pages of 50, every order once */
    int64_t last = INT64_MAX;
    int seen = 0;
    char cursor[128] = "";
    for (int page = 0; page < 5; page++) {
        long status;
        snprintf(path, sizeof(path), "/v1/users/%lld/orders?limit=50%s%s",
                 (long long)uid, cursor[0] ? "&cursor=" : "", cursor);
        json_t *j = request(user, "GET", path, NULL, 0, &status);
        assert_int_equal(status, 200);
        json_t *orders = json_object_get(j, "orders");
        size_t i;
        json_t *o;
        json_array_foreach(orders, i, o)
        {
            int64_t id = json_integer_value(json_object_get(o, "order_id"));
            assert_true(id < last);
            last = id;
            seen++;
        }
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            json_decref(j);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(j);
    }
    assert_int_equal(seen, 200);
}

static void money_and_unicode_round_trip_exactly(void **state)
{
    const char *amounts[] = {"0.01", "99999999.99", "1234.50"};
    const char *name = "Zoë 😀 O'Brien \"q\" %_ \\";
    char body[256];
    long status;
    (void)state;

    int64_t uid = new_user(name); /* new_user asserts the name round-trips */
    char path[64];
    snprintf(path, sizeof(path), "/v1/users/%lld", (long long)uid);
    json_t *u = request(t.admin, "GET", path, NULL, 0, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(u, "username")),
                        name);
    json_decref(u);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%s\","
                 "\"user_id\":%lld}",
                 amounts[i], (long long)uid);
        json_t *o = request(t.admin, "POST", "/v1/orders", body, 1, &status);
        assert_int_equal(status, 201);
        assert_string_equal(
            json_string_value(json_object_get(o, "total_amount")), amounts[i]);
        json_decref(o);
    }
    struct of_err err;
    struct of_db *db = of_db_open(t.cfg, &err);
    long n = 0;
    assert_int_equal(of_db_query(db,
                                 "SELECT COUNT(*) FROM orders WHERE user_id = ? "
                                 "AND total_amount IN (0.01, 99999999.99, "
                                 "1234.50)",
                                 (struct of_db_param[]){OF_DB_I(uid)}, 1,
                                 count_cb, &n, &err),
                     OF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(of_db_query(db,
                                 "SELECT COUNT(*) FROM users WHERE user_id = ? "
                                 "AND username = ?",
                                 (struct of_db_param[]){OF_DB_I(uid),
                                                        OF_DB_S(name)},
                                 2, count_cb, &n, &err),
                     OF_OK);
    assert_int_equal(n, 1); /* stored byte for byte */
    of_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ten_concurrent_duplicates_make_one_command),
        cmocka_unit_test(commands_sent_while_worker_stopped_are_applied),
        cmocka_unit_test(concurrent_creates_and_pagination),
        cmocka_unit_test(money_and_unicode_round_trip_exactly),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
