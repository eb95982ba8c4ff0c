/*
 * Bad inputs of TESTPLAN.md against a running orderflow-api (rows 1-40 at
 * the HTTP level; test_of_jwt has the JWT rows 23-34 as unit tests too):
 * each gets its status and error code, every error we answer has the body
 * {"error": {"code", "message"}} (and a 401 has WWW-Authenticate: Bearer),
 * nothing crashes, and nothing is published to Kafka unless the answer is
 * 202. A few malformed requests are answered by libmicrohttpd itself with
 * its own HTML body (see api_http.c): for those only the status is checked.
 * Rows that need another configuration (key rotation, iss/aud, RS256, a
 * bad key, a low rate limit) get an orderflow-api of their own.
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
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "of_it.h"
#include "of_jwt.h"
#include "of_kafka.h"

static struct {
    struct of_it_app app;
    char user[1024], other[1024];
    int accepted; /* 202s answered: what may have been published */
} t;

static void token(char *out, size_t cap, int64_t sub, enum of_role role)
{
    of_it_bearer(t.app.jwt, sub, role, out, cap);
}

static int64_t published(void)
{
    struct of_err err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(t.app.cfg, NULL, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    int64_t sum = 0;
    const char *topics[] = {t.app.cfg->topics.user_commands,
                            t.app.cfg->topics.order_commands};

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
    (void)state;
    of_it_app_start(&t.app, "bad-inputs", 2, OF_IT_APP_RATE_LIMIT);
    token(t.user, sizeof(t.user), 7, OF_ROLE_USER);
    token(t.other, sizeof(t.other), 8, OF_ROLE_USER);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_app_stop(&t.app);
    return 0;
}

/* The contract's error body, exactly {"error": {"code", "message"}}, with
 * \p code if given. */
static void
check_error_body(const char *body, const char *code, const char *what)
{
    json_t *j = json_loads(body, 0, NULL);
    json_t *e = json_object_get(j, "error");
    const char *got = json_string_value(json_object_get(e, "code"));

    if (!json_is_object(j) || json_object_size(j) != 1 || !json_is_object(e) ||
        json_object_size(e) != 2 || !got ||
        !json_is_string(json_object_get(e, "message")))
        fail_msg("%s: not an {\"error\": {code, message}} body: %s", what,
                 body);
    if (code && strcmp(got, code) != 0)
        fail_msg("%s: error code %s, want %s", what, got, code);
    json_decref(j);
}

/* Status, and for an error our JSON body (with \p code if given), its
 * Content-Type, and WWW-Authenticate: Bearer on a 401. */
static void check_reply(const struct of_it_resp *r,
                        long status,
                        const char *code,
                        const char *what)
{
    if (r->status != status)
        fail_msg("%s: got %ld, want %ld: %s", what, r->status, status, r->body);
    if (status < 400)
        return;
    check_error_body(r->body, code, what);
    if (strncmp(r->content_type, "application/json", 16) != 0)
        fail_msg("%s: Content-Type \"%s\"", what, r->content_type);
    if (status == 401 && strcmp(r->www_authenticate, "Bearer") != 0)
        fail_msg("%s: 401 with WWW-Authenticate \"%s\"", what,
                 r->www_authenticate);
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
    of_it_http(t.app.port, method, path, h, body, &r);
    check_reply(&r, status, code, what);
    if (status == 202)
        t.accepted++;
    free(r.body);
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
    a.sin_port = htons((uint16_t)t.app.port);
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

/* raw() answered \p status with our JSON error \p code. */
static void raw_expect(
    const char *req, size_t len, int status, const char *code, const char *what)
{
    char resp[8192];
    int got = raw(req, len, resp, sizeof(resp));
    const char *body = strstr(resp, "\r\n\r\n");

    if (got != status)
        fail_msg("%s: got %d, want %d", what, got, status);
    if (!body || !strcasestr(resp, "\r\nContent-Type: application/json"))
        fail_msg("%s: no JSON body: %s", what, resp);
    check_error_body(body + 4, code, what);
}

static void body_limits(void **state)
{
    char *big = malloc(65537 + 1);
    (void)state;

    memset(big, ' ', 65537);
    big[65537] = '\0';
    expect(t.app.admin, "POST", "/v1/orders", JSON, big, 413, "body_too_large",
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
                          t.app.admin);
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(req + n, cap - n, "1000\r\n%4096s\r\n", " ");
    n += (size_t)snprintf(req + n, cap - n, "0\r\n\r\n");
    raw_expect(req, n, 413, "body_too_large", "2: chunked past 64 KiB");
    free(req);
    (void)resp;
}

static void malformed_http(void **state)
{
    char resp[8192], req[2048];
    const char *lens[] = {"-1", "abc", "18446744073709551616"};
    (void)state;

    /* 3: libmicrohttpd rejects these before our handler runs, with its
     * own HTML body (400, and 413 for the overflow): status only */
    for (int i = 0; i < 3; i++) {
        int n = snprintf(req, sizeof(req),
                         "POST /v1/orders HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: %s\r\n\r\n{}",
                         lens[i]);
        int s = raw(req, (size_t)n, resp, sizeof(resp));
        if (s != 400 && s != 413)
            fail_msg("Content-Length %s: status %d", lens[i], s);
    }
    /* 3: the largest length MHD parses is ours to refuse, in JSON */
    int n = snprintf(req, sizeof(req),
                     "POST /v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
                     "Content-Length: 18446744073709551615\r\n\r\n{}",
                     t.app.admin);
    raw_expect(req, (size_t)n, 413, "body_too_large",
               "3: Content-Length 2^64-1");
    /* 4: gzip transfer coding: 400 before the body */
    n = snprintf(req, sizeof(req),
                 "POST /v1/orders HTTP/1.1\r\nHost: x\r\n%s\r\n"
                 "Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
                 t.app.admin);
    raw_expect(req, (size_t)n, 400, "bad_request", "4: gzip");
    /* 5: a 10 KiB path, a 10 KiB query and a 20 KiB header block are
     * ours (JSON 414, 414, 431); a 40 KiB header block or URI does not
     * fit MHD's 32 KiB connection pool and gets its HTML 431/414 */
    char *fill = malloc(50000), *big = malloc(60000);
    memset(fill, 'a', 10240);
    fill[10240] = '\0';
    int m = snprintf(big, 60000,
                     "GET /%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "\r\n",
                     fill);
    raw_expect(big, (size_t)m, 414, "uri_too_long", "5: 10 KiB path");
    m = snprintf(big, 60000,
                 "GET /healthz?q=%s HTTP/1.1\r\nHost: x\r\n"
                 "Connection: close\r\n\r\n",
                 fill);
    raw_expect(big, (size_t)m, 414, "uri_too_long", "5: 10 KiB query");
    memset(fill, 'b', 20480);
    fill[20480] = '\0';
    m = snprintf(big, 60000,
                 "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 "X-Big: %s\r\n\r\n",
                 fill);
    raw_expect(big, (size_t)m, 431, "header_too_large", "5: 20 KiB header");
    memset(fill, 'c', 40960);
    fill[40960] = '\0';
    m = snprintf(big, 60000,
                 "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", fill);
    int s = raw(big, (size_t)m, resp, sizeof(resp));
    if (s != 431)
        fail_msg("5: 40 KiB header: status %d", s);
    m = snprintf(big, 60000, "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", fill);
    s = raw(big, (size_t)m, resp, sizeof(resp));
    if (s != 414)
        fail_msg("5: 40 KiB URI: status %d", s);
    free(big);
    free(fill);
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
        const char *h[] = {t.app.admin, "Content-Type: application/json", NULL};
        of_it_http(t.app.port, "POST", "/v1/users", h, body, &r);
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
        expect(t.app.admin, "POST", "/v1/orders", JSON, body, 400,
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
        expect(t.app.admin, "POST", "/v1/users", JSON, body, 202, NULL,
               "18/19: odd username");
    }
    const char *urls[] = {"javascript:alert(1)", "file:///etc/passwd",
                          "ftp://x/y"};
    for (int i = 0; i < 3; i++) { /* 20 */
        snprintf(body, sizeof(body),
                 "{\"email\":\"a@example.com\",\"username\":\"a\","
                 "\"avatar_url\":\"%s\"}",
                 urls[i]);
        expect(t.app.admin, "POST", "/v1/users", JSON, body, 400,
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
    expect(t.app.admin, "POST", "/v1/users", JSON, body, 400,
           "validation_failed", "20: 3 KiB avatar_url");
    expect(t.app.admin, "POST", "/v1/users", JSON,
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


/* ---- rows 23-34: tokens at the HTTP level ---- */

#define ORDER "{\"order_type\":\"vip\",\"total_amount\":\"1.00\"}"

static void b64url(const unsigned char *in, size_t n, char *out)
{
    size_t len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);

    while (len && out[len - 1] == '=')
        out[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* "Authorization: Bearer header.payload.sig" with HMAC-\p md over \p key
 * (no signature when \p md is NULL); %ld in \p payload is an exp an hour
 * from now. */
static const char *forge(const char *header,
                         const char *payload,
                         const EVP_MD *md,
                         const char *key)
{
    static char out[8192];
    char tok[4096], claims[2048];
    unsigned char mac[64];
    unsigned int maclen = 0;

    const char *exp = strstr(payload, "%ld");
    if (exp)
        snprintf(claims, sizeof(claims), "%.*s%ld%s", (int)(exp - payload),
                 payload, (long)time(NULL) + 3600, exp + 3);
    else
        snprintf(claims, sizeof(claims), "%s", payload);
    b64url((const unsigned char *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const unsigned char *)claims, strlen(claims), tok + strlen(tok));
    if (md)
        HMAC(md, key, (int)strlen(key), (unsigned char *)tok, strlen(tok), mac,
             &maclen);
    strcat(tok, ".");
    if (md)
        b64url(mac, maclen, tok + strlen(tok));
    snprintf(out, sizeof(out), "Authorization: Bearer %s", tok);
    return out;
}

#define HS256_JWT "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define USER7     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld}"

/* \p auth on POST /v1/orders (a 202 if it were accepted): 401 */
static void refused_on(int port, const char *auth, const char *what)
{
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct of_it_resp r;

    of_it_http(port, "POST", "/v1/orders", h, ORDER, &r);
    check_reply(&r, 401, "unauthenticated", what);
    free(r.body);
}

/* \p auth reads GET /v1/users/7/orders: 200 (the control of a group) */
static void accepted_on(int port, const char *auth, const char *what)
{
    const char *h[] = {auth, NULL};
    struct of_it_resp r;

    of_it_http(port, "GET", "/v1/users/7/orders", h, NULL, &r);
    check_reply(&r, 200, NULL, what);
    free(r.body);
}

static void refused(const char *auth, const char *what)
{
    refused_on(t.app.port, auth, what);
}

static void jwt_algorithms_and_signatures(void **state)
{
    char tok[8192];
    (void)state;

    accepted_on(t.app.port,
                forge(HS256_JWT, USER7, EVP_sha256(), OF_IT_JWT_KEY),
                "control: a forged valid token");
    /* 23: alg none, however spelt, with or without a signature */
    refused(forge("{\"alg\":\"none\"}", USER7, NULL, NULL), "23: alg none");
    refused(forge("{\"alg\":\"None\",\"typ\":\"JWT\"}", USER7, NULL, NULL),
            "23: alg None");
    refused(forge("{\"alg\":\"none\"}", USER7, EVP_sha256(), OF_IT_JWT_KEY),
            "23: alg none, signed");
    refused(forge("{\"typ\":\"JWT\"}", USER7, EVP_sha256(), OF_IT_JWT_KEY),
            "23: no alg");
    /* 26: HS384 and HS512 with the right secret while HS256 is pinned */
    refused(forge("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", USER7, EVP_sha384(),
                  OF_IT_JWT_KEY),
            "26: HS384");
    refused(forge("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", USER7, EVP_sha512(),
                  OF_IT_JWT_KEY),
            "26: HS512");
    /* 33: another key; user -> admin with the old signature; the
     * signature respelt in the '+/=' alphabet (libjwt would accept it) */
    refused(forge(HS256_JWT, USER7, EVP_sha256(),
                  "another-secret-another-secret-another"),
            "33: wrong key");
    snprintf(tok, sizeof(tok), "%s",
             forge(HS256_JWT, USER7, EVP_sha256(), OF_IT_JWT_KEY));
    const char *sig = strrchr(tok, '.');
    char edited[8192];
    snprintf(edited, sizeof(edited), "%s",
             forge(HS256_JWT, "{\"sub\":\"7\",\"role\":\"admin\",\"exp\":%ld}",
                   NULL, NULL));
    edited[strlen(edited) - 1] = '\0';
    strcat(edited, sig);
    refused(edited, "33: role edited");
    for (int sub = 7;; sub++) { /* a signature with '-' or '_' in it */
        char p[128];
        snprintf(p, sizeof(p),
                 "{\"sub\":\"%d\",\"role\":\"user\",\"exp\":%%ld}", sub);
        snprintf(tok, sizeof(tok), "%s",
                 forge(HS256_JWT, p, EVP_sha256(), OF_IT_JWT_KEY));
        if (strpbrk(strrchr(tok, '.'), "-_"))
            break;
    }
    for (char *c = strrchr(tok, '.'); *c; c++)
        *c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
    refused(tok, "33: '+/' signature");
    snprintf(tok, sizeof(tok),
             "%s=", forge(HS256_JWT, USER7, EVP_sha256(), OF_IT_JWT_KEY));
    refused(tok, "33: padded signature");
}

static void jwt_time_claims(void **state)
{
    const char *bad[] = {
        "{\"sub\":\"7\",\"role\":\"user\"}",                        /* 27 */
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1000000000}",     /* 27 */
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":\"9999999999\"}", /* 27 */
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":1.9e9}",          /* 27 */
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":4611686018427387904}",
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld,\"iat\":1000000000}",
        "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld,\"nbf\":9999999999}",
    };
    char expired[128];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused(forge(HS256_JWT, bad[i], EVP_sha256(), OF_IT_JWT_KEY),
                "27-29: exp, iat, nbf");
    /* expired beyond the 30 s leeway */
    snprintf(expired, sizeof(expired),
             "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld}",
             (long)time(NULL) - 60);
    refused(forge(HS256_JWT, expired, EVP_sha256(), OF_IT_JWT_KEY),
            "27: expired 60 s ago");
}

static void jwt_identity_claims(void **state)
{
    const char *subs[] = {"\"0\"",     "\"-5\"", "\"1e3\"",
                          "\"00042\"", "42",     "null"};
    const char *roles[] = {"\"ADMIN\"", "\"superadmin\"", "[\"admin\"]",
                           "\"\""};
    char p[256];
    (void)state;

    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) { /* 31 */
        snprintf(p, sizeof(p), "{\"sub\":%s,\"role\":\"user\",\"exp\":%%ld}",
                 subs[i]);
        refused(forge(HS256_JWT, p, EVP_sha256(), OF_IT_JWT_KEY), "31: sub");
    }
    refused(forge(HS256_JWT, "{\"role\":\"user\",\"exp\":%ld}", EVP_sha256(),
                  OF_IT_JWT_KEY),
            "31: no sub");
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) { /* 32 */
        snprintf(p, sizeof(p), "{\"sub\":\"7\",\"role\":%s,\"exp\":%%ld}",
                 roles[i]);
        refused(forge(HS256_JWT, p, EVP_sha256(), OF_IT_JWT_KEY), "32: role");
    }
}

static void jwt_headers_and_transport(void **state)
{
    char lower[4096], two_spaces[4096];
    struct of_it_resp r;
    (void)state;

    /* 30: with one configured key, kid, jku and x5u choose nothing: the
     * signature decides */
    accepted_on(t.app.port,
                forge("{\"alg\":\"HS256\",\"kid\":\"../../dev/null\","
                      "\"jku\":\"http://127.0.0.1:1/jwks\","
                      "\"x5u\":\"http://127.0.0.1:1/x5u\"}",
                      USER7, EVP_sha256(), OF_IT_JWT_KEY),
                "30: kid/jku/x5u ignored, right key");
    refused(forge("{\"alg\":\"HS256\",\"kid\":\"../../dev/null\"}", USER7,
                  EVP_sha256(), ""),
            "30: kid /dev/null, empty key");
    refused(forge("{\"alg\":\"HS256\",\"kid\":\"' OR 1=1--\"}", USER7,
                  EVP_sha256(), "' OR 1=1--"),
            "30: kid SQL, kid as key");
    refused(forge("{\"alg\":\"HS256\",\"jku\":\"http://127.0.0.1:1/jwks\"}",
                  USER7, EVP_sha256(), "attacker-key-attacker-key-attacker"),
            "30: jku, attacker's key");
    /* 34: typ at+jwt; "bearer" in lower case and other spellings of a
     * valid token; two Authorization headers; a token and an API key */
    refused(forge("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", USER7, EVP_sha256(),
                  OF_IT_JWT_KEY),
            "34: typ at+jwt");
    snprintf(lower, sizeof(lower), "Authorization: bearer %s",
             t.user + strlen("Authorization: Bearer "));
    refused(lower, "34: lower-case bearer");
    snprintf(two_spaces, sizeof(two_spaces), "Authorization: Bearer  %s",
             t.user + strlen("Authorization: Bearer "));
    refused(two_spaces, "34: two spaces");
    const char *twice[] = {t.user, t.other, "Content-Type: application/json",
                           NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", twice, ORDER, &r);
    check_reply(&r, 401, "unauthenticated", "34: two Authorization headers");
    free(r.body);
    const char *same_twice[] = {t.user, t.user,
                                "Content-Type: application/json", NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", same_twice, ORDER, &r);
    check_reply(&r, 401, "unauthenticated", "34: the same header twice");
    free(r.body);
    const char *both[] = {t.user,
                          "X-API-Key: of_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                          "AAAAAAA",
                          "Content-Type: application/json", NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", both, ORDER, &r);
    check_reply(&r, 401, "unauthenticated", "34: token and API key");
    free(r.body);
}

/* Another orderflow-api with \p env (NULL-ended "KEY=value") on a port of
 * its own; \p port gets it. */
static int spawn_api(const char *name, char *const *env, int *port)
{
    char exe[512], log[512], portenv[48];
    char *all[16];
    int n = 0;

    *port = of_it_free_port();
    snprintf(portenv, sizeof(portenv), "ORDERFLOW_API_PORT=%d", *port);
    all[n++] = portenv;
    for (; env && *env && n < 15; env++)
        all[n++] = *env;
    all[n] = NULL;
    snprintf(exe, sizeof(exe), "%s/orderflow-api",
             of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(log, sizeof(log), "%s/api-%s.log", t.app.dir, name);
    char *argv[] = {exe, "--config", "/dev/null", NULL};
    int pid = of_it_spawn(argv, all, log);
    return pid;
}

#define KEY_A "rotation-key-a-0123456789abcdef01234"
#define KEY_B "rotation-key-b-0123456789abcdef01234"
#define ISS   "https://issuer.test"
#define AUD   "orderflow-test"
#define CLAIMS_IA(iss, aud)                                                    \
    "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld,\"iss\":" iss                \
    ",\"aud\":" aud "}"
#define GOOD_IA CLAIMS_IA("\"" ISS "\"", "\"" AUD "\"")

static void jwt_key_rotation_and_iss_aud(void **state)
{
    char *env[] = {"ORDERFLOW_AUTH_JWT_KEYS=k1:" KEY_A ",k2:" KEY_B,
                   "ORDERFLOW_AUTH_JWT_ISSUER=" ISS,
                   "ORDERFLOW_AUTH_JWT_AUDIENCE=" AUD, NULL};
    int port, pid = spawn_api("rotation", env, &port);
    (void)state;

    of_it_wait_http(port, 20);
    /* 30 with jwt_keys: the kid picks the key; no kid: jwt_key */
    accepted_on(port,
                forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_IA,
                      EVP_sha256(), KEY_A),
                "rotation: kid k1");
    accepted_on(port,
                forge("{\"alg\":\"HS256\",\"kid\":\"k2\"}", GOOD_IA,
                      EVP_sha256(), KEY_B),
                "rotation: kid k2");
    accepted_on(port, forge(HS256_JWT, GOOD_IA, EVP_sha256(), OF_IT_JWT_KEY),
                "rotation: no kid, jwt_key");
    refused_on(port,
               forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_IA,
                     EVP_sha256(), KEY_B),
               "rotation: kid k1 signed with k2's key");
    refused_on(port, forge(HS256_JWT, GOOD_IA, EVP_sha256(), KEY_A),
               "rotation: no kid signed with k1's key");
    const char *unknown[] = {"../../dev/null", "' OR 1=1--", "k3", "K1"};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        char h[128];
        snprintf(h, sizeof(h), "{\"alg\":\"HS256\",\"kid\":\"%s\"}",
                 unknown[i]);
        refused_on(port, forge(h, GOOD_IA, EVP_sha256(), OF_IT_JWT_KEY),
                   "30: unknown kid, jwt_key");
        refused_on(port, forge(h, GOOD_IA, EVP_sha256(), ""),
                   "30: unknown kid, empty key");
    }
    /* 29: iss and aud when configured */
    refused_on(port,
               forge(HS256_JWT,
                     CLAIMS_IA("\"https://evil.test\"", "\"" AUD "\""),
                     EVP_sha256(), OF_IT_JWT_KEY),
               "29: iss mismatch");
    refused_on(port,
               forge(HS256_JWT,
                     "{\"sub\":\"7\",\"role\":\"user\",\"exp\":%ld,"
                     "\"aud\":\"" AUD "\"}",
                     EVP_sha256(), OF_IT_JWT_KEY),
               "29: no iss");
    refused_on(port,
               forge(HS256_JWT, CLAIMS_IA("\"" ISS "\"", "\"other\""),
                     EVP_sha256(), OF_IT_JWT_KEY),
               "29: aud mismatch");
    refused_on(port,
               forge(HS256_JWT, CLAIMS_IA("\"" ISS "\"", "[\"a\",\"b\"]"),
                     EVP_sha256(), OF_IT_JWT_KEY),
               "29: aud array without us");
    accepted_on(port,
                forge(HS256_JWT,
                      CLAIMS_IA("\"" ISS "\"", "[\"a\",\"" AUD "\"]"),
                      EVP_sha256(), OF_IT_JWT_KEY),
                "29: aud array with us");
    assert_int_equal(of_it_stop(pid, SIGTERM, 15), 0);
}

static void jwt_rs256_key_confusion(void **state)
{
    char pub[512], priv[512], ini[2048], env_pub[600];
    struct of_err err;
    (void)state;

    snprintf(priv, sizeof(priv), "%s/rs256.pem", t.app.dir);
    snprintf(pub, sizeof(pub), "%s/rs256.pub", t.app.dir);
    of_it_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
             "-out %s 2>/dev/null && openssl pkey -in %s -pubout -out %s",
             priv, priv, pub);
    snprintf(env_pub, sizeof(env_pub), "ORDERFLOW_AUTH_JWT_PUBLIC_KEY_FILE=%s",
             pub);
    char *env[] = {"ORDERFLOW_AUTH_JWT_ALG=RS256", env_pub, NULL};
    int port, pid = spawn_api("rs256", env, &port);
    of_it_wait_http(port, 20);

    /* the control: an RS256 token signed with the private key */
    snprintf(ini, sizeof(ini),
             "[auth]\njwt_alg = RS256\njwt_public_key_file = %s\n"
             "jwt_private_key_file = %s\n",
             pub, priv);
    struct of_config *cfg = of_config_load_string(ini, "rs256.ini", &err);
    assert_non_null(cfg);
    struct of_jwt *rs = of_jwt_new(cfg, 1, &err);
    assert_non_null(rs);
    char auth[2048];
    of_it_bearer(rs, 7, OF_ROLE_USER, auth, sizeof(auth));
    accepted_on(port, auth, "25: RS256 token");
    /* 25: HS256 with the public key (the PEM text) as the HMAC secret */
    FILE *f = fopen(pub, "r");
    char pem[4096];
    size_t n = fread(pem, 1, sizeof(pem) - 1, f);
    fclose(f);
    pem[n] = '\0';
    refused_on(port, forge(HS256_JWT, USER7, EVP_sha256(), pem),
               "25: HS256 signed with the RS256 public key");
    refused_on(port, forge("{\"alg\":\"none\"}", USER7, NULL, NULL),
               "23: alg none against RS256");
    refused_on(port, forge(HS256_JWT, USER7, EVP_sha256(), OF_IT_JWT_KEY),
               "25: HS256 signed with jwt_key");
    of_jwt_destroy(rs);
    of_config_destroy(cfg);
    assert_int_equal(of_it_stop(pid, SIGTERM, 15), 0);
}

/* 24: an empty or short HMAC key, or a short jwt_keys entry: the API
 * exits non-zero at start, naming the key, and never listens. */
static void jwt_bad_keys_refuse_to_start(void **state)
{
    const struct {
        char *env;
        const char *says;
    } bad[] = {
        {"ORDERFLOW_AUTH_JWT_KEY=", "jwt_key is empty"},
        {"ORDERFLOW_AUTH_JWT_KEY=short-secret", "jwt_key is too short"},
        {"ORDERFLOW_AUTH_JWT_KEYS=k1:short", "is too short"},
        {"ORDERFLOW_AUTH_JWT_KEYS=k1:", "is empty"},
    };
    char name[32], log[600], cmd[700];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *env[] = {bad[i].env, NULL};
        int port;
        snprintf(name, sizeof(name), "badkey%zu", i);
        int pid = spawn_api(name, env, &port);
        int rc = of_it_stop(pid, 0, 10); /* signal 0: wait for it to end */
        if (rc <= 0)
            fail_msg("%s: exit status %d, want a failure", bad[i].env, rc);
        snprintf(log, sizeof(log), "%s/api-%s.log", t.app.dir, name);
        snprintf(cmd, sizeof(cmd), "grep -q '%s' %s", bad[i].says, log);
        if (system(cmd) != 0)
            fail_msg("%s: the log does not say \"%s\"", bad[i].env,
                     bad[i].says);
    }
}

/* ---- rows 38 and 39: Idempotency-Key ---- */

/* POST /v1/orders as \p auth with \p key (a full header line) */
static void
post_order(const char *auth, const char *key, const char *body, struct of_it_resp *r)
{
    const char *h[] = {auth, "Content-Type: application/json",
                       key ? key : "X-Nothing: 1", NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", h, body, r);
}

static const char *command_id(const struct of_it_resp *r, char *out, size_t cap)
{
    json_t *j = json_loads(r->body, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "command_id"));

    snprintf(out, cap, "%s", id ? id : "");
    json_decref(j);
    return out;
}

static void idempotency_keys(void **state)
{
    char key[400], line[512], first[64], again[64], other[64];
    struct of_it_resp r;
    (void)state;

    /* 38: 256 characters, empty, non-ASCII, a control character, twice */
    memset(key, 'k', 256);
    key[256] = '\0';
    snprintf(line, sizeof(line), "Idempotency-Key: %s", key);
    post_order(t.user, line, ORDER, &r);
    check_reply(&r, 400, "validation_failed", "38: 256 characters");
    free(r.body);
    post_order(t.user, "Idempotency-Key;", ORDER, &r); /* curl: empty */
    check_reply(&r, 400, "validation_failed", "38: empty");
    free(r.body);
    post_order(t.user, "Idempotency-Key: cl\xc3\xa9-\xe2\x82\xac", ORDER, &r);
    check_reply(&r, 400, "validation_failed", "38: non-ASCII");
    free(r.body);
    post_order(t.user, "Idempotency-Key: a\x01z", ORDER, &r);
    check_reply(&r, 400, "validation_failed", "38: control character");
    free(r.body);
    const char *twice[] = {t.user, "Content-Type: application/json",
                           "Idempotency-Key: one", "Idempotency-Key: two",
                           NULL};
    of_it_http(t.app.port, "POST", "/v1/orders", twice, ORDER, &r);
    check_reply(&r, 400, "validation_failed", "38: given twice");
    free(r.body);
    /* 255 characters is fine (the control) */
    key[255] = '\0';
    snprintf(line, sizeof(line), "Idempotency-Key: %s-%d", key + 20,
             (int)getpid());
    post_order(t.user, line, ORDER, &r);
    check_reply(&r, 202, NULL, "38: 240 characters");
    t.accepted++;
    free(r.body);

    /* 39: the same key with another body is 422; the same body replays
     * the first answer (no new command); another principal's same key is
     * its own command */
    snprintf(line, sizeof(line), "Idempotency-Key: row39-%d-%ld", (int)getpid(),
             (long)time(NULL));
    post_order(t.user, line, ORDER, &r);
    check_reply(&r, 202, NULL, "39: first");
    t.accepted++;
    command_id(&r, first, sizeof(first));
    free(r.body);
    post_order(t.user, line,
               "{\"order_type\":\"vip\",\"total_amount\":\"2.00\"}", &r);
    check_reply(&r, 422, "idempotency_key_reused", "39: another body");
    free(r.body);
    post_order(t.user, line, ORDER, &r);
    check_reply(&r, 202, NULL, "39: replay"); /* not published again */
    assert_string_equal(command_id(&r, again, sizeof(again)), first);
    free(r.body);
    post_order(t.other, line, ORDER, &r);
    check_reply(&r, 202, NULL, "39: another principal");
    t.accepted++;
    command_id(&r, other, sizeof(other));
    assert_true(other[0] && strcmp(other, first) != 0);
    free(r.body);
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
    snprintf(log, sizeof(log), "%s/api-limited.log", t.app.dir);
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

    /* 40: refunds from one service principal beyond its rate: 429 with
     * Retry-After and our JSON, and none of the 429s is published (the
     * 202s are counted for nothing_published_but_the_accepted) */
    char service[1024];
    int refunds_limited = 0;
    of_it_bearer(t.app.jwt, 3, OF_ROLE_SERVICE, service, sizeof(service));
    const char *h3[] = {service, NULL};
    for (int i = 0; i < 30; i++) {
        struct of_it_resp rr;
        of_it_http(p, "POST", "/v1/orders/1/refund", h3, NULL, &rr);
        if (rr.status == 202) {
            t.accepted++;
        } else {
            check_reply(&rr, 429, "rate_limited", "40: refund over the rate");
            assert_true(atoi(rr.retry_after) >= 1);
            refunds_limited++;
        }
        free(rr.body);
    }
    assert_true(refunds_limited >= 15);
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
        cmocka_unit_test(jwt_algorithms_and_signatures),
        cmocka_unit_test(jwt_time_claims),
        cmocka_unit_test(jwt_identity_claims),
        cmocka_unit_test(jwt_headers_and_transport),
        cmocka_unit_test(jwt_key_rotation_and_iss_aud),
        cmocka_unit_test(jwt_rs256_key_confusion),
        cmocka_unit_test(jwt_bad_keys_refuse_to_start),
        cmocka_unit_test(idempotency_keys),
        cmocka_unit_test(rate_limit_per_principal),
        cmocka_unit_test(nothing_published_but_the_accepted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
