/*
 * The order pipeline end to end, against the private Kafka, MariaDB and
 * Redis: orderflow-api -> Kafka -> orderflow-worker -> MySQL -> Redis ->
 * orderflow-api, every answer checked as CONTRACT §3 states it, and the
 * MySQL rows and Redis hashes behind them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_db.h"
#include "of_it.h"
#include "of_jwt.h"
#include "of_redis.h"

static struct {
    struct of_it_app app;
    char service[1024];
} t;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(t.app.jwt, sub, role, out, cap);
}

static int setup(void **state)
{
    (void)state;
    memset(&t, 0, sizeof(t));
    of_it_app_start(&t.app, "pipeline", 3,
                    OF_IT_APP_WORKER | OF_IT_APP_ALL_TOPICS |
                        OF_IT_APP_RATE_LIMIT);
    token(t.service, sizeof(t.service), 2, OF_ROLE_SERVICE);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_app_stop(&t.app);
    return 0;
}

static json_t *json_of(const struct of_it_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    if (!j)
        fail_msg("not JSON (status %ld): %s", r->status, r->body);
    return j;
}

static const char *error_code(json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"),
                                             "code"));
}

/* POST with Prefer: wait=15; returns the parsed body, status in *status */
static json_t *post_wait(const char *auth, const char *path, const char *body,
                         long *status)
{
    const char *h[] = {auth, "Content-Type: application/json",
                       "Prefer: wait=15", NULL};
    struct of_it_resp r;

    of_it_http(t.app.port, "POST", path, h, body, &r);
    *status = r.status;
    json_t *j = json_of(&r);
    of_it_resp_free(&r);
    return j;
}

static int64_t register_user(const char *prefix)
{
    char email[160], body[400];
    long status;

    of_it_unique(email, sizeof(email), prefix);
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"%s\"}", email,
             prefix);
    json_t *j = post_wait(t.app.admin, "/v1/users", body, &status);
    assert_int_equal(status, 201); /* registered, answered with the user */
    int64_t id = json_integer_value(json_object_get(j, "user_id"));
    assert_true(id > 0);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_false(json_is_true(json_object_get(j, "is_banned")));
    json_decref(j);
    return id;
}

struct row {
    char v[4][128];
    int n;
};

static int row_cb(void *arg, int ncols, char **vals, const unsigned long *l)
{
    struct row *r = arg;
    (void)l;
    for (int i = 0; i < ncols && i < 4; i++)
        snprintf(r->v[i], sizeof(r->v[i]), "%s", vals[i] ? vals[i] : "NULL");
    r->n++;
    return 0;
}

static void order_lifecycle_pay_refund_and_invalid_cancel(void **state)
{
    char user[1024], path[128];
    long status;
    (void)state;

    int64_t uid = register_user("lifecycle");
    token(user, sizeof(user), uid, OF_ROLE_USER);

    json_t *o = post_wait(user, "/v1/orders",
                          "{\"order_type\":\"vip\",\"total_amount\":\"199.00\"}",
                          &status);
    assert_int_equal(status, 201);
    int64_t oid = json_integer_value(json_object_get(o, "order_id"));
    assert_string_equal(json_string_value(json_object_get(o, "order_status")),
                        "pending");
    assert_string_equal(json_string_value(json_object_get(o, "total_amount")),
                        "199.00");
    assert_int_equal(json_integer_value(json_object_get(o, "user_id")), uid);
    json_decref(o);

    snprintf(path, sizeof(path), "/v1/orders/%lld/pay", (long long)oid);
    o = post_wait(t.service, path, "{\"payment_ref\":\"pi_123\"}", &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(o, "order_status")),
                        "paid");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 2);
    json_decref(o);

    snprintf(path, sizeof(path), "/v1/orders/%lld/refund", (long long)oid);
    o = post_wait(t.app.admin, path, NULL, &status);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(o, "order_status")),
                        "refunded");
    json_decref(o);

    snprintf(path, sizeof(path), "/v1/orders/%lld/cancel", (long long)oid);
    o = post_wait(user, path, NULL, &status);
    assert_int_equal(status, 409); /* refunded cannot be cancelled */
    assert_string_equal(error_code(o), "invalid_transition");
    json_decref(o);

    /* the truth in MySQL: refunded, version 3, amount exact */
    struct of_err err;
    struct of_db *db = of_db_open(t.app.cfg, &err);
    struct row r = {0};
    assert_non_null(db);
    assert_int_equal(of_db_query(db,
                                 "SELECT order_status, version, total_amount "
                                 "FROM orders WHERE order_id = ?",
                                 (struct of_db_param[]){OF_DB_I(oid)}, 1,
                                 row_cb, &r, &err),
                     OF_OK);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.v[0], "refunded");
    assert_string_equal(r.v[1], "3");
    assert_string_equal(r.v[2], "199.00");
    /* three events in the outbox, versions 1..3 */
    memset(&r, 0, sizeof(r));
    char agg[24];
    snprintf(agg, sizeof(agg), "%lld", (long long)oid);
    assert_int_equal(of_db_query(db,
                                 "SELECT GROUP_CONCAT(CONCAT(version, ':', type)"
                                 " ORDER BY version) FROM outbox WHERE "
                                 "aggregatetype = 'order' AND aggregateid = ?",
                                 (struct of_db_param[]){OF_DB_S(agg)}, 1,
                                 row_cb, &r, &err),
                     OF_OK);
    assert_string_equal(r.v[0], "1:OrderCreated,2:OrderPaid,3:OrderRefunded");
    of_db_close(db);

    /* the read model agrees, and the owner reads it; someone else cannot */
    snprintf(path, sizeof(path), "/v1/orders/%lld", (long long)oid);
    const char *h[] = {user, NULL};
    struct of_it_resp resp;
    of_it_http(t.app.port, "GET", path, h, NULL, &resp);
    assert_int_equal(resp.status, 200);
    o = json_of(&resp);
    assert_string_equal(json_string_value(json_object_get(o, "order_status")),
                        "refunded");
    assert_int_equal(json_integer_value(json_object_get(o, "version")), 3);
    json_decref(o);
    of_it_resp_free(&resp);

    char other[1024];
    token(other, sizeof(other), uid + 100000, OF_ROLE_USER);
    const char *h2[] = {other, NULL};
    of_it_http(t.app.port, "GET", path, h2, NULL, &resp);
    assert_int_equal(resp.status, 403);
    of_it_resp_free(&resp);
}

static void accepted_command_is_traceable(void **state)
{
    char user[1024], path[128];
    struct of_it_resp r;
    (void)state;

    int64_t uid = register_user("traceable");
    token(user, sizeof(user), uid, OF_ROLE_USER);
    const char *h[] = {user, "Content-Type: application/json", NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", h,
               "{\"order_type\":\"jewelry\",\"total_amount\":\"0.01\"}", &r);
    assert_int_equal(r.status, 202);
    json_t *j = json_of(&r);
    const char *cid = json_string_value(json_object_get(j, "command_id"));
    assert_non_null(cid);
    assert_string_equal(json_string_value(json_object_get(j, "status")),
                        "accepted");
    snprintf(path, sizeof(path), "/v1/commands/%s", cid);
    assert_string_equal(r.location, path);
    of_it_resp_free(&r);

    /* bounded poll until the worker has applied it */
    long long until = of_it_now_us() + 15000000LL;
    json_t *c = NULL;
    const char *hu[] = {user, NULL};
    while (of_it_now_us() < until) {
        of_it_http(t.app.port, "GET", path, hu, NULL, &r);
        assert_int_equal(r.status, 200);
        json_decref(c);
        c = json_of(&r);
        of_it_resp_free(&r);
        if (strcmp(json_string_value(json_object_get(c, "status")),
                   "accepted") != 0)
            break;
        usleep(100000);
    }
    assert_string_equal(json_string_value(json_object_get(c, "status")),
                        "applied");
    assert_string_equal(
        json_string_value(json_object_get(c, "resource_type")), "order");
    assert_true(json_integer_value(json_object_get(c, "resource_id")) > 0);
    json_decref(c);

    /* another user may not read it */
    char other[1024];
    token(other, sizeof(other), uid + 100000, OF_ROLE_USER);
    const char *ho[] = {other, NULL};
    of_it_http(t.app.port, "GET", path, ho, NULL, &r);
    assert_int_equal(r.status, 403);
    of_it_resp_free(&r);
    json_decref(j);
}

static void rejections_are_outcomes(void **state)
{
    long status;
    (void)state;

    json_t *j = post_wait(t.app.admin, "/v1/orders",
                          "{\"order_type\":\"vip\",\"total_amount\":\"5.00\","
                          "\"user_id\":2147483000}",
                          &status);
    assert_int_equal(status, 409);
    assert_string_equal(error_code(j), "user_not_found");
    json_decref(j);
    j = post_wait(t.service, "/v1/orders/2147483000/pay", NULL, &status);
    assert_int_equal(status, 409);
    assert_string_equal(error_code(j), "order_not_found");
    json_decref(j);
}

static void banned_user_cannot_order(void **state)
{
    char path[128], user[1024];
    long status;
    (void)state;

    int64_t uid = register_user("banned");
    snprintf(path, sizeof(path), "/v1/users/%lld/ban", (long long)uid);
    json_t *j = post_wait(t.app.admin, path, NULL, &status);
    assert_int_equal(status, 200);
    assert_true(json_is_true(json_object_get(j, "is_banned")));
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);
    token(user, sizeof(user), uid, OF_ROLE_USER);
    j = post_wait(user, "/v1/orders",
                  "{\"order_type\":\"vip\",\"total_amount\":\"1.00\"}", &status);
    assert_int_equal(status, 409);
    assert_string_equal(error_code(j), "user_banned");
    json_decref(j);
}

static void idempotency_key_replays_and_refuses_other_body(void **state)
{
    char user[1024], key[80], idem[120];
    struct of_it_resp r1, r2, r3;
    (void)state;

    int64_t uid = register_user("idem");
    token(user, sizeof(user), uid, OF_ROLE_USER);
    of_it_unique(key, sizeof(key), "key");
    snprintf(idem, sizeof(idem), "Idempotency-Key: %s", key);
    const char *h[] = {user, "Content-Type: application/json", idem, NULL};
    const char *body = "{\"order_type\":\"vip\",\"total_amount\":\"10.00\"}";
    of_it_http(t.app.port, "POST", "/v1/orders", h, body, &r1);
    of_it_http(t.app.port, "POST", "/v1/orders", h, body, &r2);
    assert_int_equal(r1.status, 202);
    assert_int_equal(r2.status, 202);
    assert_string_equal(r1.body, r2.body); /* the first answer, replayed */
    of_it_http(t.app.port, "POST", "/v1/orders", h,
               "{\"order_type\":\"vip\",\"total_amount\":\"11.00\"}", &r3);
    assert_int_equal(r3.status, 422);
    json_t *j = json_of(&r3);
    assert_string_equal(error_code(j), "idempotency_key_reused");
    json_decref(j);
    of_it_resp_free(&r1);
    of_it_resp_free(&r2);
    of_it_resp_free(&r3);
}

static void bad_requests_get_contract_errors(void **state)
{
    struct of_it_resp r;
    const char *json_ct = "Content-Type: application/json";
    (void)state;

    of_it_http(t.app.port, "POST", "/v1/orders", NULL, "{}", &r);
    assert_int_equal(r.status, 401);
    of_it_resp_free(&r);
    const char *h1[] = {t.app.admin, json_ct, NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", h1, "{\"order_type\":", &r);
    assert_int_equal(r.status, 400);
    json_t *j = json_of(&r);
    assert_string_equal(error_code(j), "invalid_json");
    json_decref(j);
    of_it_resp_free(&r);
    of_it_http(t.app.port, "POST", "/v1/orders", h1,
               "{\"order_type\":\"vip\",\"total_amount\":199.0,"
               "\"user_id\":1}",
               &r);
    assert_int_equal(r.status, 400);
    j = json_of(&r);
    assert_string_equal(error_code(j), "validation_failed");
    assert_non_null(strstr(r.body, "total_amount"));
    json_decref(j);
    of_it_resp_free(&r);
    const char *h2[] = {t.app.admin, "Content-Type: text/plain", NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", h2, "{}", &r);
    assert_int_equal(r.status, 415);
    of_it_resp_free(&r);
    of_it_http(t.app.port, "PUT", "/v1/orders", h1, "{}", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    of_it_resp_free(&r);
    char *big = malloc(70000);
    memset(big, ' ', 69999);
    big[69999] = '\0';
    big[0] = '{';
    big[69998] = '}';
    of_it_http(t.app.port, "POST", "/v1/orders", h1, big, &r);
    assert_int_equal(r.status, 413);
    of_it_resp_free(&r);
    free(big);
    const char *h3[] = {t.app.admin, NULL};
    of_it_http(t.app.port, "GET", "/v1/orders/..%2f..%2fadmin", h3, NULL, &r);
    assert_int_equal(r.status, 404);
    of_it_resp_free(&r);
}

/* Runs orderflowctl apikey ...; returns its first stdout line. */
static void ctl_apikey(const char *args, char *out, size_t cap)
{
    char cmd[512];
    FILE *p;

    snprintf(cmd, sizeof(cmd),
             "%s/orderflowctl --config /dev/null apikey %s 2>/dev/null",
             of_it_env("ORDERFLOW_BIN_DIR"), args);
    p = popen(cmd, "r");
    out[0] = '\0';
    if (!fgets(out, (int)cap, p))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
}

static void api_keys_authenticate_until_revoked(void **state)
{
    char name[64], args[128], key[128], hdr[160];
    struct of_it_resp r;
    (void)state;

    of_it_unique(name, sizeof(name), "svc");
    snprintf(args, sizeof(args), "create --name %s --role service", name);
    ctl_apikey(args, key, sizeof(key));
    assert_int_equal(strlen(key), 46); /* of_ + 43 base64url characters */
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key);
    const char *h[] = {hdr, NULL};
    of_it_http(t.app.port, "GET", "/v1/users/1", h, NULL, &r);
    assert_true(r.status == 200 || r.status == 404); /* authenticated */
    of_it_resp_free(&r);

    /* one character off: refused */
    key[45] = key[45] == 'A' ? 'B' : 'A';
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key);
    of_it_http(t.app.port, "GET", "/v1/users/1", h, NULL, &r);
    assert_int_equal(r.status, 401);
    of_it_resp_free(&r);

    /* a revoked key that was never cached is refused at once */
    char name2[64], key2[128];
    of_it_unique(name2, sizeof(name2), "svc");
    snprintf(args, sizeof(args), "create --name %s --role service", name2);
    ctl_apikey(args, key2, sizeof(key2));
    snprintf(args, sizeof(args), "revoke --name %s", name2);
    char out[128];
    ctl_apikey(args, out, sizeof(out));
    snprintf(hdr, sizeof(hdr), "X-API-Key: %s", key2);
    of_it_http(t.app.port, "GET", "/v1/users/1", h, NULL, &r);
    assert_int_equal(r.status, 401);
    of_it_resp_free(&r);

    /* only the hash is stored */
    struct of_err err;
    struct of_db *db = of_db_open(t.app.cfg, &err);
    struct row row = {0};
    assert_int_equal(of_db_query(db,
                                 "SELECT COUNT(*) FROM api_keys WHERE "
                                 "key_hash = ? OR key_prefix = ?",
                                 (struct of_db_param[]){OF_DB_S(key2),
                                                        OF_DB_S(key2)},
                                 2, row_cb, &row, &err),
                     OF_OK);
    assert_string_equal(row.v[0], "0");
    of_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_lifecycle_pay_refund_and_invalid_cancel),
        cmocka_unit_test(accepted_command_is_traceable),
        cmocka_unit_test(rejections_are_outcomes),
        cmocka_unit_test(banned_user_cannot_order),
        cmocka_unit_test(idempotency_key_replays_and_refuses_other_body),
        cmocka_unit_test(bad_requests_get_contract_errors),
        cmocka_unit_test(api_keys_authenticate_until_revoked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
