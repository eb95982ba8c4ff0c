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

static struct of_it_app app;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(app.jwt, sub, role, out, cap);
}

static int setup(void **state)
{
    (void)state;
    /* 200 concurrent clients from one address: above the default 64 */
    setenv("ORDERFLOW_API_PER_IP_CONNECTION_LIMIT", "512", 1);
    of_it_app_start(&app, "contract", 3, OF_IT_APP_WORKER);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_app_stop(&app);
    return 0;
}

static json_t *request(const char *auth, const char *method, const char *path,
                       const char *body, int wait, long *status)
{
    const char *h[] = {auth, "Content-Type: application/json",
                       wait ? "Prefer: wait=20" : NULL, NULL};
    struct of_it_resp r;
    of_it_http(app.port, method, path, h, body, &r);
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
    json_t *j = request(app.admin, "POST", "/v1/users", text, 1, &status);
    assert_int_equal(status, 201);
    int64_t id = json_integer_value(json_object_get(j, "user_id"));
    assert_string_equal(json_string_value(json_object_get(j, "username")),
                        username);
    json_decref(j);
    json_decref(body);
    free(text);
    return id;
}

static long orders_of(int64_t uid)
{
    struct of_err err;
    struct of_db *db = of_db_open(app.cfg, &err);
    assert_non_null(db);
    long n = (long)of_it_count(db,
                               "SELECT COUNT(*) FROM orders WHERE user_id = ?",
                               (struct of_db_param[]){OF_DB_I(uid)}, 1);
    of_db_close(db);
    return n;
}

static void wait_applied(void)
{
    of_it_wait_caught_up(app.cfg, app.group,
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
    of_it_http_many(app.port, 10, "POST", "/v1/orders", h,
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
    assert_int_equal(of_it_stop(app.worker, SIGTERM, 15), 0);
    app.worker = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"jewelry\",\"total_amount\":\"%d.50\","
                 "\"user_id\":%lld}",
                 i + 1, (long long)uid);
        json_decref(request(app.admin, "POST", "/v1/orders", body, 0, &status));
        assert_int_equal(status, 202);
    }
    assert_int_equal(orders_of(uid), 0); /* nothing applies meanwhile */
    of_it_app_start_worker(&app, NULL);
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
    of_it_http_many(app.port, 200, "POST", "/v1/orders", h,
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
    json_t *u = request(app.admin, "GET", path, NULL, 0, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(u, "username")),
                        name);
    json_decref(u);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%s\","
                 "\"user_id\":%lld}",
                 amounts[i], (long long)uid);
        json_t *o = request(app.admin, "POST", "/v1/orders", body, 1, &status);
        assert_int_equal(status, 201);
        assert_string_equal(
            json_string_value(json_object_get(o, "total_amount")), amounts[i]);
        json_decref(o);
    }
    struct of_err err;
    struct of_db *db = of_db_open(app.cfg, &err);
    assert_int_equal(of_it_count(db,
                                 "SELECT COUNT(*) FROM orders WHERE user_id = ? "
                                 "AND total_amount IN (0.01, 99999999.99, "
                                 "1234.50)",
                                 (struct of_db_param[]){OF_DB_I(uid)}, 1),
                     3);
    assert_int_equal(of_it_count(db,
                                 "SELECT COUNT(*) FROM users WHERE user_id = ? "
                                 "AND username = ?",
                                 (struct of_db_param[]){OF_DB_I(uid),
                                                        OF_DB_S(name)},
                                 2),
                     1); /* stored byte for byte */
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
