/*
 * Bad inputs of TESTPLAN.md against a running orderflow-api (rows 1-22,
 * 35 and 37 at the HTTP level; the JWT rows 23-34 are in test_of_jwt):
 * each gets its status and error code, nothing crashes, and nothing is
 * published to Kafka unless the answer is 202.
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
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <jansson.h>

#include "of_it.h"
#include "of_jwt.h"
#include "of_kafka.h"

static struct {
    struct of_config *cfg;
    struct of_jwt *jwt;
    int port, api;
    char dir[256];
    char admin[1024], user[1024], other[1024];
    int accepted; /* 202s answered: what may have been published */
} t;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(t.jwt, sub, role, out, cap);
}

static int64_t published(void)
{
    struct of_err err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(t.cfg, NULL, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    int64_t sum = 0;
    const char *topics[] = {t.cfg->topics.user_commands,
                            t.cfg->topics.order_commands};

    for (int i = 0; i < 2; i++) {
        for (int p = 0; p < 2; p++) {
            int64_t lo, hi;
            assert_int_equal(rd_kafka_query_watermark_offsets(
                                 rk, topics[i], p, &lo, &hi, 10000),
                             0);
            sum += hi;
        }
    }
    rd_kafka_destroy(rk);
    return sum;
}

static int setup(void **state)
{
    struct of_err err;
    char name[128], port[16], exe[512], log[512];
    (void)state;

    snprintf(t.dir, sizeof(t.dir), "%s/bad-inputs-%d",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), (int)getpid());
    of_it_sh("mkdir -p %s", t.dir);
    of_it_unique(name, sizeof(name), "bad.user-commands");
    setenv("ORDERFLOW_TOPICS_USER_COMMANDS", name, 1);
    of_it_unique(name, sizeof(name), "bad.order-commands");
    setenv("ORDERFLOW_TOPICS_ORDER_COMMANDS", name, 1);
    setenv("ORDERFLOW_TOPICS_PARTITIONS", "2", 1);
    t.cfg = of_it_config(NULL);
    of_it_sh("%s/orderflowctl --config /dev/null migrate >/dev/null && "
             "%s/orderflowctl --config /dev/null topics create >/dev/null",
             of_it_env("ORDERFLOW_BIN_DIR"), of_it_env("ORDERFLOW_BIN_DIR"));
    t.port = of_it_free_port();
    snprintf(port, sizeof(port), "%d", t.port);
    setenv("ORDERFLOW_API_PORT", port, 1);
    snprintf(exe, sizeof(exe), "%s/orderflow-api",
             of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(log, sizeof(log), "%s/api.log", t.dir);
    char *argv[] = {exe, "--config", "/dev/null", NULL};
    t.api = of_it_spawn(argv, NULL, log);
    of_it_wait_http(t.port, 20);
    t.jwt = of_jwt_new(t.cfg, 1, &err);
    token(t.admin, sizeof(t.admin), 1, OF_ROLE_ADMIN);
    token(t.user, sizeof(t.user), 7, OF_ROLE_USER);
    token(t.other, sizeof(t.other), 8, OF_ROLE_USER);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(of_it_stop(t.api, SIGTERM, 15), 0);
    of_jwt_destroy(t.jwt);
    of_config_destroy(t.cfg);
    return 0;
}

/* One request; checks status and, if given, the error code. */
static void expect(const char *auth, const char *method, const char *path,
                   const char *ctype, const char *body, long status,
                   const char *code, const char *what)
{
    char ct[128];
    struct of_it_resp r;

    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype ? ctype : "");
    const char *h[] = {auth ? auth : "X-Nothing: 1",
                       ctype ? ct : "X-Nothing: 2", NULL};
    of_it_http(t.port, method, path, h, body, &r);
    if (r.status != status)
        fail_msg("%s: got %ld, want %ld: %s", what, r.status, status, r.body);
    if (code) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *got = json_string_value(
            json_object_get(json_object_get(j, "error"), "code"));
        if (!got || strcmp(got, code) != 0)
            fail_msg("%s: error code %s, want %s", what, got ? got : "(none)",
                     code);
        json_decref(j);
    }
    if (status == 202)
        t.accepted++;
    of_it_resp_free(&r);
}

#define JSON "application/json"

/* A raw request over a socket; returns the status of the first answer. */
static int raw(const char *req, size_t len, char *resp, size_t cap)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), status = 0;
    struct timeval tv = {10, 0};
    size_t got = 0;

    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)t.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may close early: fine */
        off += (size_t)n;
    }
    for (;;) {
        ssize_t n = recv(fd, resp + got, cap - 1 - got, 0);
        if (n <= 0 || got + (size_t)n >= cap - 1)
            break;
        got += (size_t)n;
    }
    resp[got] = '\0';
    close(fd);
    sscanf(resp, "HTTP/1.%*d %d", &status);
    return status;
}

static void body_limits(void **state)
{
    char *big = malloc(65537 + 1);
    (void)state;

    memset(big, ' ', 65537);
    big[65537] = '\0';
    expect(t.admin, "POST", "/v1/orders", JSON, big, 413, "body_too_large",
           "1: 64 KiB + 1 with Content-Length");
    free(big);

    /* 2: chunked, growing past the limit */
    char resp[8192];
    size_t cap = 200000, n = 0;
    char *req = malloc(cap);
    n += (size_t)snprintf(req, cap,
                          "POST /v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
                          "Content-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n",
                          t.admin);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(req + n, cap - n, "1000\r\n%4096s\r\n", " ");
    n += (size_t)snprintf(req + n, cap - n, "0\r\n\r\n");
    assert_int_equal(raw(req, n, resp, sizeof(resp)), 413);
    free(req);
}

static void malformed_http(void **state)
{
    char resp[8192], req[2048];
    const char *lens[] = {"-1", "abc", "18446744073709551616"};
    (void)state;

    for (int i = 0; i < 3; i++) { /* 3 */
        int n = snprintf(req, sizeof(req),
                         "POST /v1/orders HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: %s\r\n\r\n{}",
                         lens[i]);
        int s = raw(req, (size_t)n, resp, sizeof(resp));
        if (s != 400 && s != 413)
            fail_msg("Content-Length %s: status %d", lens[i], s);
    }
    /* 4: gzip transfer coding: 400 before the body */
    int n = snprintf(req, sizeof(req),
                     "POST /v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
                     "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
                     t.admin);
    assert_int_equal(raw(req, (size_t)n, resp, sizeof(resp)), 400);
    /* 5: a 10 KiB URI and a 40 KiB header block; then a normal request */
    char *uri = malloc(50000);
    memset(uri, 'a', 10240);
    uri[10240] = '\0';
    n = snprintf(req, sizeof(req), "GET /%.1500s", uri);
    (void)n;
    char *big = malloc(60000);
    int m = snprintf(big, 60000, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", uri);
    int s = raw(big, (size_t)m, resp, sizeof(resp));
    if (s != 414 && s != 431 && s != 400 && s != 413)
        fail_msg("10 KiB URI: status %d", s);
    memset(uri, 'b', 40960);
    uri[40960] = '\0';
    m = snprintf(big, 60000, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n",
                 uri);
    s = raw(big, (size_t)m, resp, sizeof(resp));
    if (s != 431 && s != 400 && s != 413)
        fail_msg("40 KiB header: status %d", s);
    free(big);
    free(uri);
    n = snprintf(req, sizeof(req), "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                   "Connection: close\r\n\r\n");
    assert_int_equal(raw(req, (size_t)n, resp, sizeof(resp)), 200);
}

static void content_types_methods_paths(void **state)
{
    (void)state;
    const char *body = "{\"order_type\":\"vip\",\"total_amount\":\"1.00\"}";
    expect(t.user, "POST", "/v1/orders", "text/plain", body, 415,
           "unsupported_media_type", "6: text/plain");
    expect(t.user, "POST", "/v1/orders", "application/json; charset=latin1",
           body, 415, "unsupported_media_type", "6: latin1");
    expect(t.user, "PUT", "/v1/orders", JSON, body, 405, "method_not_allowed",
           "7: PUT");
    expect(t.user, "DELETE", "/v1/orders", NULL, NULL, 405,
           "method_not_allowed", "7: DELETE");
    expect(t.user, "GET", "/v1/orders/..%2f..%2fadmin", NULL, NULL, 404,
           "not_found", "8: ..%2f");
    expect(t.user, "GET", "/v1/orders/%00", NULL, NULL, 404, "not_found",
           "8: %00");
    expect(t.user, "GET", "/v1/orders/1;2", NULL, NULL, 404, "not_found",
           "8: 1;2");
}

static void json_shapes(void **state)
{
    const char *bad[] = {"{\"order_type\":\"vip\"", "{} trailing", "[1,2]",
                         "42", "\"x\"", ""};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect(t.user, "POST", "/v1/orders", JSON, bad[i], 400, "invalid_json",
               "9: bad JSON");
    expect(t.user, "POST", "/v1/orders", JSON,
           "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
           "\"total_amount\":\"99999999.99\"}",
           400, "invalid_json", "10: duplicate keys");
    char *deep = malloc(6100);
    for (int i = 0; i < 3000; i++)
        deep[i] = '[';
    for (int i = 0; i < 3000; i++)
        deep[3000 + i] = ']';
    deep[6000] = '\0';
    expect(t.user, "POST", "/v1/orders", JSON, deep, 400, "invalid_json",
           "11: 3000 deep");
    free(deep);
    const char *names[] = {"\"a\\u0000b\"", "\"\xff\xfe\"", "\"\\ud800\""};
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"email\":\"u%d@example.com\",\"username\":%s}", i,
                 names[i]);
        struct of_it_resp r;
        const char *h[] = {t.admin, "Content-Type: application/json", NULL};
        of_it_http(t.port, "POST", "/v1/users", h, body, &r);
        assert_int_equal(r.status, 400); /* 12 */
        of_it_resp_free(&r);
    }
}

static void order_fields(void **state)
{
    const char *ro[] = {"order_status", "version", "is_banned"};
    char body[256];
    (void)state;

    for (int i = 0; i < 3; i++) { /* 13: mass assignment */
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
                 "\"%s\":\"paid\"}",
                 ro[i]);
        expect(t.user, "POST", "/v1/orders", JSON, body, 400,
               "validation_failed", "13: read-only field");
    }
    expect(t.user, "POST", "/v1/orders", JSON,
           "{\"order_type\":\"vip\",\"total_amount\":199.0}", 400,
           "validation_failed", "14: amount as a number");
    const char *amounts[] = {"0",    "-1.00", "1.001", "100000000.00", "1e3",
                             " 1.00", "NaN",  "0x10",  "١٢٣"};
    for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"%s\"}",
                 amounts[i]);
        expect(t.user, "POST", "/v1/orders", JSON, body, 400,
               "validation_failed", "15: bad amount");
    }
    expect(t.user, "POST", "/v1/orders", JSON,
           "{\"order_type\":\"vip\",\"total_amount\":\"0.01\"}", 202, NULL,
           "15: 0.01 accepted");
    expect(t.user, "POST", "/v1/orders", JSON,
           "{\"order_type\":\"jewelry\",\"total_amount\":\"99999999.99\"}", 202,
           NULL, "15: 99999999.99 accepted");
    const char *types[] = {"VIP", "vip ", ""};
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"%s\",\"total_amount\":\"1.00\"}", types[i]);
        expect(t.user, "POST", "/v1/orders", JSON, body, 400,
               "validation_failed", "16: order_type");
    }
    const char *uids[] = {"\"1 OR 1=1\"", "\"-1\"", "\"007\"",
                          "12345678901234567890", "-1", "0"};
    for (size_t i = 0; i < sizeof(uids) / sizeof(uids[0]); i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
                 "\"user_id\":%s}",
                 uids[i]);
        /* 20 digits overflow jansson's integers: invalid_json then */
        expect(t.admin, "POST", "/v1/orders", JSON, body, 400,
               i == 3 ? NULL : "validation_failed", "17: user_id");
    }
}

static void user_fields(void **state)
{
    char body[4096];
    const char *names[] = {"Robert'); DROP TABLE users;--", "\\\\'", "%_",
                           "\xf0\x9f\x98\x80", "<script>alert(1)</script>"};
    (void)state;

    for (int i = 0; i < 5; i++) { /* 18, 19: accepted verbatim */
        snprintf(body, sizeof(body),
                 "{\"email\":\"bad%d-%d@example.com\",\"username\":\"%s\"}", i,
                 (int)getpid(), names[i]);
        expect(t.admin, "POST", "/v1/users", JSON, body, 202, NULL,
               "18/19: odd username");
    }
    const char *urls[] = {"javascript:alert(1)", "file:///etc/passwd",
                          "ftp://x/y"};
    for (int i = 0; i < 3; i++) { /* 20 */
        snprintf(body, sizeof(body),
                 "{\"email\":\"a@example.com\",\"username\":\"a\","
                 "\"avatar_url\":\"%s\"}",
                 urls[i]);
        expect(t.admin, "POST", "/v1/users", JSON, body, 400,
               "validation_failed", "20: avatar_url scheme");
    }
    char longurl[3200];
    memset(longurl, 'a', 3100);
    memcpy(longurl, "https://", 8);
    longurl[3100] = '\0';
    snprintf(body, sizeof(body),
             "{\"email\":\"a@example.com\",\"username\":\"a\","
             "\"avatar_url\":\"%s\"}",
             longurl);
    expect(t.admin, "POST", "/v1/users", JSON, body, 400, "validation_failed",
           "20: 3 KiB avatar_url");
    expect(t.admin, "POST", "/v1/users", JSON,
           "{\"email\":\"not-an-email\",\"username\":\"a\"}", 400,
           "validation_failed", "email");
}

static void pagination(void **state)
{
    (void)state;
    expect(t.user, "GET", "/v1/users/7/orders?limit=0", NULL, NULL, 400,
           "validation_failed", "21: limit=0");
    expect(t.user, "GET", "/v1/users/7/orders?limit=-1", NULL, NULL, 400,
           "validation_failed", "21: limit=-1");
    expect(t.user, "GET", "/v1/users/7/orders?limit=1000000", NULL, NULL, 200,
           NULL, "21: limit clamped");
    expect(t.user, "GET", "/v1/users/7/orders?cursor=garbage", NULL, NULL, 400,
           "validation_failed", "21: garbage cursor");
    expect(t.user, "GET",
           "/v1/users/7/orders?cursor=5.00000000000000000000000000000000",
           NULL, NULL, 400, "validation_failed", "21: forged cursor");
}

static void authentication_and_authorization(void **state)
{
    (void)state;
    expect(NULL, "GET", "/v1/orders/1", NULL, NULL, 401, "unauthenticated",
           "22: no credentials");
    expect("Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwicm9sZSI"
           "6ImFkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.",
           "GET", "/v1/orders/1", NULL, NULL, 401, "unauthenticated",
           "23: alg none");
    expect("authorization: bearer x", "GET", "/v1/orders/1", NULL, NULL, 401,
           "unauthenticated", "34: lower-case bearer");
    expect("X-API-Key: of_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET",
           "/v1/orders/1", NULL, NULL, 401, "unauthenticated",
           "35: unknown API key");
    expect(t.user, "POST", "/v1/orders", JSON,
           "{\"order_type\":\"vip\",\"total_amount\":\"1.00\",\"user_id\":8}",
           403, "forbidden", "37: order for another user");
    expect(t.user, "POST", "/v1/orders/1/pay", NULL, NULL, 403, "forbidden",
           "37: user pays");
    expect(t.user, "POST", "/v1/users/8/ban", NULL, NULL, 403, "forbidden",
           "37: user bans");
    expect(t.user, "GET", "/v1/users/8", NULL, NULL, 403, "forbidden",
           "36: user reads another user");
    expect(t.user, "POST", "/v1/users", JSON,
           "{\"email\":\"x@example.com\",\"username\":\"x\"}", 403, "forbidden",
           "37: user registers users");
}

/* A second API with 5 requests/s per principal: a burst of 20 from one
 * principal gets 429 with Retry-After; another principal is not slowed. */
static void rate_limit_per_principal(void **state)
{
    char exe[512], log[512], port[48];
    int p = of_it_free_port(), limited = 0;
    struct of_it_resp r;
    (void)state;

    snprintf(exe, sizeof(exe), "%s/orderflow-api",
             of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(log, sizeof(log), "%s/api-limited.log", t.dir);
    snprintf(port, sizeof(port), "ORDERFLOW_API_PORT=%d", p);
    char *argv[] = {exe, "--config", "/dev/null", NULL};
    char *env[] = {port, "ORDERFLOW_API_RATE_LIMIT_PER_S=5", NULL};
    int pid = of_it_spawn(argv, env, log);
    of_it_wait_http(p, 20);
    const char *h[] = {t.user, NULL};
    for (int i = 0; i < 20; i++) {
        of_it_http(p, "GET", "/v1/users/7/orders", h, NULL, &r);
        if (r.status == 429) {
            limited++;
            assert_true(atoi(r.retry_after) >= 1);
        } else {
            assert_int_equal(r.status, 200);
        }
        of_it_resp_free(&r);
    }
    assert_true(limited >= 10); /* a burst of 5, then 5/s at most */
    const char *h2[] = {t.other, NULL};
    of_it_http(p, "GET", "/v1/users/8/orders", h2, NULL, &r);
    assert_int_equal(r.status, 200); /* someone else is not slowed */
    of_it_resp_free(&r);
    assert_int_equal(of_it_stop(pid, SIGTERM, 15), 0);
}

static void nothing_published_but_the_accepted(void **state)
{
    (void)state;
    /* the 202s of the tests above are the only messages in the topics */
    assert_int_equal(published(), t.accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(body_limits),
        cmocka_unit_test(malformed_http),
        cmocka_unit_test(content_types_methods_paths),
        cmocka_unit_test(json_shapes),
        cmocka_unit_test(order_fields),
        cmocka_unit_test(user_fields),
        cmocka_unit_test(pagination),
        cmocka_unit_test(authentication_and_authorization),
        cmocka_unit_test(rate_limit_per_principal),
        cmocka_unit_test(nothing_published_but_the_accepted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
