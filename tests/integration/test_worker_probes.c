/*
 * The worker's /healthz and /readyz (deploy/k8s probes them), against the
 * private stack: a command worker is ready once consuming; a row lock held
 * by this test blocks its MySQL step past stall_s, so /healthz fails
 * (stalled), then the lock wait times out and the worker retries: alive,
 * but not ready, saying why; once the lock goes, the command is applied and
 * the worker is ready again. A relay whose MySQL does not answer keeps
 * backing off: alive, not ready.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_db.h"
#include "of_it.h"
#include "of_jwt.h"

#define STALL_S "5" /* the smallest [worker] stall_s */

static struct of_it_app app;

static int setup(void **state)
{
    (void)state;
    setenv("ORDERFLOW_WORKER_STALL_S", STALL_S, 1);
    of_it_app_start(&app, "probes", 1, OF_IT_APP_WORKER | OF_IT_APP_METRICS);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_app_stop(&app);
    return 0;
}

/* GET (or another method) \p path on the worker's port: status, body. */
static long probe(int port, const char *method, const char *path, char *body,
                  size_t cap)
{
    struct of_it_resp r;
    long status;

    of_it_http(port, method, path, NULL, NULL, &r);
    status = r.status;
    if (body)
        snprintf(body, cap, "%s", r.body ? r.body : "");
    of_it_resp_free(&r);
    return status;
}

/* Polls \p path every 100 ms for up to \p timeout_s until it answers
 * \p status with a body containing \p part; fails naming the last answer. */
static void wait_probe(int port, const char *path, long status,
                       const char *part, int timeout_s)
{
    long long until = of_it_now_us() + timeout_s * 1000000LL;
    char body[512] = "";
    long got = 0;

    while (of_it_now_us() < until) {
        got = probe(port, "GET", path, body, sizeof(body));
        if (got == status && strstr(body, part))
            return;
        usleep(100000);
    }
    fail_msg("%s did not answer %ld \"...%s...\" in %d s; last: %ld %s", path,
             status, part, timeout_s, got, body);
}

static int64_t register_user(void)
{
    const char *h[] = {app.admin, "Content-Type: application/json",
                       "Prefer: wait=15", NULL};
    char email[160], body[400];
    struct of_it_resp r;

    of_it_unique(email, sizeof(email), "probes");
    snprintf(body, sizeof(body),
             "{\"email\":\"%s@example.com\",\"username\":\"probes\"}", email);
    of_it_http(app.port, "POST", "/v1/users", h, body, &r);
    assert_int_equal(r.status, 201);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    int64_t id = json_integer_value(json_object_get(j, "user_id"));
    json_decref(j);
    of_it_resp_free(&r);
    assert_true(id > 0);
    return id;
}

static void command_worker_stalls_recovers_and_says_why(void **state)
{
    int mp = app.metrics_port;
    char body[512], user[1024];
    struct of_err err;
    (void)state;

    /* up and consuming */
    wait_probe(mp, "/readyz", 200, "ready", 20);
    assert_int_equal(probe(mp, "GET", "/healthz", body, sizeof(body)), 200);
    assert_string_equal(body, "ok\n");
    of_it_sh("curl -sSf -o /dev/null -I http://127.0.0.1:%d/healthz", mp);
    struct of_it_resp r;
    of_it_http(mp, "POST", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET, HEAD");
    of_it_resp_free(&r);
    assert_int_equal(probe(mp, "GET", "/nope", NULL, 0), 404);

    /* the test holds the user's row: the order's MySQL step waits on it
     * for innodb_lock_wait_timeout (10 s), longer than stall_s (5 s) */
    int64_t uid = register_user();
    of_it_bearer(app.jwt, uid, OF_ROLE_USER, user, sizeof(user));
    struct of_db *db = of_db_open(app.cfg, &err);
    assert_non_null(db);
    assert_int_equal(of_db_begin(db, &err), OF_OK);
    assert_int_equal(of_it_count(db,
                                 "SELECT COUNT(*) FROM users WHERE user_id = ? "
                                 "FOR UPDATE",
                                 (struct of_db_param[]){OF_DB_I(uid)}, 1),
                     1);
    const char *h[] = {user, "Content-Type: application/json", NULL};
    of_it_http(app.port, "POST", "/v1/orders", h,
               "{\"order_type\":\"vip\",\"total_amount\":\"5.00\"}", &r);
    assert_int_equal(r.status, 202);
    of_it_resp_free(&r);

    wait_probe(mp, "/healthz", 503,
               "stalled: the worker's loop has not turned for", 12);
    assert_int_equal(probe(mp, "GET", "/readyz", body, sizeof(body)), 503);
    assert_non_null(strstr(body, "(stall_s = " STALL_S ")"));
    /* the wait timed out: the worker retries, alive but not ready */
    wait_probe(mp, "/readyz", 503, "not ready: mysql step failing: ", 40);
    probe(mp, "GET", "/readyz", body, sizeof(body));
    fprintf(stderr, "# while retrying: %s", body);
    assert_true(of_it_metric(mp, "orderflow_worker_retries_total{reason=\"mysql\"}") >= 1);

    /* the lock goes: applied, ready, alive */
    of_db_rollback(db);
    wait_probe(mp, "/readyz", 200, "ready", 30);
    assert_int_equal(probe(mp, "GET", "/healthz", body, sizeof(body)), 200);
    long long n = -1;
    long long until = of_it_now_us() + 10000000LL;
    while (n != 1 && of_it_now_us() < until) {
        n = of_it_count(db, "SELECT COUNT(*) FROM orders WHERE user_id = ?",
                        (struct of_db_param[]){OF_DB_I(uid)}, 1);
        if (n != 1)
            usleep(100000);
    }
    assert_int_equal(n, 1); /* applied once */
    of_db_close(db);
}

static void relay_without_mysql_is_alive_but_not_ready(void **state)
{
    char exe[512], log[512], port[16], mysql[64], body[512];
    int mp = of_it_free_port();
    (void)state;

    snprintf(exe, sizeof(exe), "%s/orderflow-worker", app.bin);
    snprintf(log, sizeof(log), "%s/outbox-nomysql.log", app.dir);
    snprintf(port, sizeof(port), "%d", mp);
    /* a port nothing listens on: every connect is refused at once */
    snprintf(mysql, sizeof(mysql), "ORDERFLOW_MYSQL_PORT=%d", of_it_free_port());
    char *argv[] = {exe,      "--config",       "/dev/null", "--role",
                    "outbox", "--metrics-port", port,        NULL};
    char *env[] = {mysql, NULL};
    int pid = of_it_spawn(argv, env, log);

    of_it_wait_http(mp, 20); /* /healthz 200 */
    wait_probe(mp, "/readyz", 503, "could not connect to MySQL", 15);
    /* backing off is not being stuck: alive for longer than stall_s */
    for (int i = 0; i < 14; i++) {
        assert_int_equal(probe(mp, "GET", "/healthz", body, sizeof(body)), 200);
        assert_string_equal(body, "ok\n");
        usleep(500000);
    }
    assert_int_equal(probe(mp, "GET", "/readyz", NULL, 0), 503);
    assert_int_equal(of_it_stop(pid, SIGTERM, 15), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(command_worker_stalls_recovers_and_says_why),
        cmocka_unit_test(relay_without_mysql_is_alive_but_not_ready),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
