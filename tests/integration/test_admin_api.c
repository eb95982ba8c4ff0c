/*
 * The admin API's lists, lookups and stats (src/producer-api/api_admin*.c)
 * end to end against the private stack: an API and a command worker on
 * topics and a group of this test's own; users and orders made through the
 * public API, some paid, refunded, cancelled or banned; then what
 * /v1/admin/users, /orders, /{users,orders}/{id}/events and /stats answer,
 * checked against what was made, against GET /v1/users|orders/{id}, and
 * against the group's real lag with the worker stopped.
 *
 * The stack's database is shared with the other tests, so every list is
 * narrowed to this test's rows (q = our unique prefix, user_id = our user);
 * the unfiltered list is only checked for its order.
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

#include "of_it.h"
#include "of_jwt.h"

#define NUSERS  5
#define NORDERS 5

static struct {
    struct of_it_app app;
    char service[1024], user[1024];
    char email_prefix[96], name_prefix[72];
    int64_t users[NUSERS];
    int64_t orders[NORDERS]; /* all of users[0] */
    char trace[3][33];       /* orders[0]: create, pay, refund */
    char pay_command[40];    /* orders[0]'s pay */
    int writes;              /* write requests answered after Kafka's ack */
} t;

/* One request; \p extra is one more header line or NULL. Returns the body
 * as JSON (fails the test if it is not). */
static json_t *call(const char *auth, const char *method, const char *path,
                    const char *body, const char *extra, long *status)
{
    const char *h[] = {"Content-Type: application/json", extra, NULL, NULL};
    struct of_it_resp r;

    if (auth) {
        h[0] = auth;
        h[1] = "Content-Type: application/json";
        h[2] = extra;
    }
    of_it_http(t.app.port, method, path, h, body, &r);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j)
        fail_msg("%s %s: not JSON (%ld): %s", method, path, r.status, r.body);
    of_it_resp_free(&r);
    return j;
}

/* GET \p path as admin, expecting 200. */
static json_t *admin_get(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static json_t *admin_get(const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    long status;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    json_t *j = call(t.app.admin, "GET", path, NULL, NULL, &status);
    if (status != 200)
        fail_msg("GET %s: %ld %s", path, status, json_dumps(j, 0));
    return j;
}

static int64_t int_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string in %s", key, json_dumps(o, 0));
    return json_string_value(v);
}

static time_t time_of(const char *rfc3339)
{
    struct tm tm = {0};
    const char *end = strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    return timegm(&tm);
}

/* "traceparent: 00-<trace>-<span>-01" with a trace id of this run. */
static void traceparent(char trace[33], char *header, size_t cap)
{
    static unsigned n;
    snprintf(trace, 33, "%08x%08x%016llx", (unsigned)getpid(), ++n,
             (unsigned long long)of_it_now_us());
    snprintf(header, cap, "traceparent: 00-%s-00f067aa0ba902b7-01", trace);
}

static json_t *write_waited(const char *path, const char *body,
                            const char *extra, long expect)
{
    const char *h[] = {t.app.admin, "Content-Type: application/json",
                       "Prefer: wait=20", extra, NULL};
    struct of_it_resp r;

    of_it_http(t.app.port, "POST", path, h, body, &r);
    if (r.status != expect)
        fail_msg("POST %s: %ld %s", path, r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    of_it_resp_free(&r);
    t.writes++;
    return j;
}

/* Waits until command \p id is applied. */
static void wait_command(const char *id)
{
    char path[96];
    long long until = of_it_now_us() + 30000000LL;
    long status;

    snprintf(path, sizeof(path), "/v1/commands/%s", id);
    while (of_it_now_us() < until) {
        json_t *j = call(t.app.admin, "GET", path, NULL, NULL, &status);
        int applied = status == 200 &&
                      strcmp(str_of(j, "status"), "applied") == 0;
        json_decref(j);
        if (applied)
            return;
        usleep(100000);
    }
    fail_msg("command %s was not applied within 30 s", id);
}

static void make_users(void)
{
    char body[256], uniq[64];

    of_it_unique(uniq, sizeof(uniq), "adm");
    snprintf(t.email_prefix, sizeof(t.email_prefix), "%s-mail", uniq);
    snprintf(t.name_prefix, sizeof(t.name_prefix), "N%s", uniq);
    for (int i = 0; i < NUSERS; i++) {
        snprintf(body, sizeof(body),
                 "{\"email\":\"%s%d@example.com\",\"username\":\"%s-%d\"}",
                 t.email_prefix, i, t.name_prefix, i);
        json_t *u = write_waited("/v1/users", body, NULL, 201);
        t.users[i] = int_of(u, "user_id");
        json_decref(u);
    }
    char path[64];
    snprintf(path, sizeof(path), "/v1/users/%lld/ban", (long long)t.users[1]);
    json_decref(write_waited(path, NULL, NULL, 200));
}

/* orders[0] refunded (created, paid, refunded, each with a trace id of its
 * own; paid without waiting, to learn its command id); [1] and [2] paid;
 * [3] cancelled; [4] pending. Types alternate vip, jewelry. */
static void make_orders(void)
{
    char body[256], path[96], tp[128];
    long status;

    for (int i = 0; i < NORDERS; i++) {
        snprintf(body, sizeof(body),
                 "{\"order_type\":\"%s\",\"total_amount\":\"%d.25\","
                 "\"user_id\":%lld}",
                 i % 2 ? "jewelry" : "vip", 10 + i, (long long)t.users[0]);
        if (i == 0)
            traceparent(t.trace[0], tp, sizeof(tp));
        if (i == 3) /* two seconds at least: the time filters bite */
            usleep(1100000);
        json_t *o = write_waited("/v1/orders", body, i == 0 ? tp : NULL, 201);
        t.orders[i] = int_of(o, "order_id");
        json_decref(o);
    }
    traceparent(t.trace[1], tp, sizeof(tp));
    snprintf(path, sizeof(path), "/v1/orders/%lld/pay",
             (long long)t.orders[0]);
    json_t *acc = call(t.app.admin, "POST", path, "{\"payment_ref\":\"pi_0\"}",
                       tp, &status);
    assert_int_equal(status, 202);
    t.writes++;
    snprintf(t.pay_command, sizeof(t.pay_command), "%s",
             str_of(acc, "command_id"));
    json_decref(acc);
    wait_command(t.pay_command);
    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof(path), "/v1/orders/%lld/pay",
                 (long long)t.orders[i]);
        json_decref(write_waited(path, NULL, NULL, 200));
    }
    traceparent(t.trace[2], tp, sizeof(tp));
    snprintf(path, sizeof(path), "/v1/orders/%lld/refund",
             (long long)t.orders[0]);
    json_decref(write_waited(path, NULL, tp, 200));
    snprintf(path, sizeof(path), "/v1/orders/%lld/cancel",
             (long long)t.orders[3]);
    json_decref(write_waited(path, NULL, NULL, 200));
}

static int setup(void **state)
{
    (void)state;
    of_it_app_start(&t.app, "admin", 3, OF_IT_APP_WORKER);
    of_it_bearer(t.app.jwt, 1, OF_ROLE_SERVICE, t.service, sizeof(t.service));
    make_users();
    make_orders();
    of_it_bearer(t.app.jwt, t.users[0], OF_ROLE_USER, t.user, sizeof(t.user));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    of_it_app_stop(&t.app);
    return 0;
}

/* ---- access ---- */

static void expect_error(const char *auth, const char *method,
                         const char *path, long want, const char *code)
{
    long status;
    json_t *j = call(auth, method, path, NULL, NULL, &status);
    if (status != want)
        fail_msg("%s %s: %ld, expected %ld: %s", method, path, status, want,
                 json_dumps(j, 0));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "error"),
                                          "code")),
        code);
    json_decref(j);
}

static void only_admins_get_in(void **state)
{
    static const char *const paths[] = {
        "/v1/admin/users",         "/v1/admin/orders", "/v1/admin/stats",
        "/v1/admin/orders/1/events", "/v1/admin/users/1/events",
        "/v1/admin/no-such-thing"};
    (void)state;

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        expect_error(NULL, "GET", paths[i], 401, "unauthenticated");
        expect_error(t.user, "GET", paths[i], 403, "forbidden");
        expect_error(t.service, "GET", paths[i], 403, "forbidden");
    }
    expect_error(t.app.admin, "GET", "/v1/admin/no-such-thing", 404,
                 "not_found");
    expect_error(t.app.admin, "GET", "/v1/admin/orders/1/history", 404,
                 "not_found");
    expect_error(t.app.admin, "POST", "/v1/admin/orders", 405,
                 "method_not_allowed");
}

/* ---- users ---- */

/* The ids of a users page, checked to be descending and below *last. */
static size_t user_ids(json_t *page, int64_t *last, int64_t *out, size_t cap)
{
    json_t *users = json_object_get(page, "users"), *u;
    size_t i, n = 0;

    assert_true(json_is_array(users));
    json_array_foreach(users, i, u)
    {
        int64_t id = int_of(u, "user_id");
        assert_true(id < *last); /* user_id descending */
        *last = id;
        assert_true(n < cap);
        out[n++] = id;
    }
    return n;
}

static int has(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static void users_are_found_by_email_or_username_prefix(void **state)
{
    int64_t ids[16], last = INT64_MAX;
    long status;
    char path[256];
    (void)state;

    json_t *j = admin_get("/v1/admin/users?q=%s", t.email_prefix);
    size_t n = user_ids(j, &last, ids, 16);
    assert_int_equal(n, NUSERS); /* email prefix: all ours, only ours */
    for (int i = 0; i < NUSERS; i++)
        assert_true(has(ids, n, t.users[i]));
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    /* each object is what GET /v1/users/{id} answers */
    json_t *first = json_array_get(json_object_get(j, "users"), 0);
    snprintf(path, sizeof(path), "/v1/users/%lld",
             (long long)int_of(first, "user_id"));
    json_t *one = call(t.app.admin, "GET", path, NULL, NULL, &status);
    assert_int_equal(status, 200);
    if (!json_equal(first, one))
        fail_msg("list %s != GET %s", json_dumps(first, 0),
                 json_dumps(one, 0));
    json_decref(one);
    json_decref(j);

    last = INT64_MAX;
    j = admin_get("/v1/admin/users?q=%s", t.name_prefix);
    assert_int_equal(user_ids(j, &last, ids, 16), NUSERS);
    json_decref(j);

    /* a longer username prefix narrows it to one; user 1 is banned */
    last = INT64_MAX;
    j = admin_get("/v1/admin/users?q=%s-1", t.name_prefix);
    assert_int_equal(user_ids(j, &last, ids, 16), 1);
    assert_int_equal(ids[0], t.users[1]);
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(j, "users"), 0), "is_banned")));
    json_decref(j);

    /* LIKE's wildcards in q are plain characters: '_' for our '-' and a
     * '%' inside match nothing */
    char wild[128];
    snprintf(wild, sizeof(wild), "%s", t.email_prefix);
    wild[3] = '_';
    last = INT64_MAX;
    j = admin_get("/v1/admin/users?q=%s", wild);
    assert_int_equal(user_ids(j, &last, ids, 16), 0);
    json_decref(j);
    last = INT64_MAX;
    j = admin_get("/v1/admin/users?q=%.4s%%25", t.email_prefix);
    assert_int_equal(user_ids(j, &last, ids, 16), 0);
    json_decref(j);
}

static void users_pages_cover_every_user_once(void **state)
{
    int64_t ids[16], last = INT64_MAX;
    size_t n = 0;
    char cursor[128] = "";
    int pages = 0;
    (void)state;

    for (;;) {
        json_t *j = admin_get("/v1/admin/users?q=%s&limit=2%s%s",
                              t.email_prefix, cursor[0] ? "&cursor=" : "",
                              cursor);
        size_t got = user_ids(j, &last, ids + n, 16 - n);
        pages++;
        json_t *next = json_object_get(j, "next_cursor");
        if (json_is_null(next)) {
            assert_true(got >= 1 && got <= 2);
            n += got;
            json_decref(j);
            break;
        }
        assert_int_equal(got, 2); /* full pages before the last */
        n += got;
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(j);
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 3); /* 2 + 2 + 1 */
    assert_int_equal(n, NUSERS);
    for (int i = 0; i < NUSERS; i++)
        assert_true(has(ids, n, t.users[i])); /* each once: n == NUSERS */
}

/* ---- orders ---- */

struct key {
    time_t at;
    int64_t id;
};

/* The ids of an orders page, checked newest first below *last. */
static size_t order_ids(json_t *page, struct key *last, int64_t *out,
                        size_t cap)
{
    json_t *orders = json_object_get(page, "orders"), *o;
    size_t i, n = 0;

    assert_true(json_is_array(orders));
    json_array_foreach(orders, i, o)
    {
        struct key k = {time_of(str_of(o, "created_at")),
                        int_of(o, "order_id")};
        /* (created_at, order_id) strictly descending */
        assert_true(k.at < last->at || (k.at == last->at && k.id < last->id));
        *last = k;
        assert_true(n < cap);
        out[n++] = k.id;
    }
    return n;
}

static size_t orders_of(const char *query, int64_t *ids, size_t cap)
{
    struct key last = {(time_t)INT64_MAX, INT64_MAX};
    json_t *j = admin_get("/v1/admin/orders?%s", query);
    size_t n = order_ids(j, &last, ids, cap);
    assert_true(json_is_null(json_object_get(j, "next_cursor")));
    json_decref(j);
    return n;
}

static void orders_filter_by_status_type_user_and_time(void **state)
{
    int64_t ids[16];
    char q[256];
    long status;
    (void)state;

    snprintf(q, sizeof(q), "user_id=%lld", (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), NORDERS);
    for (int i = 0; i < NORDERS; i++)
        assert_true(has(ids, NORDERS, t.orders[i]));

    snprintf(q, sizeof(q), "user_id=%lld&status=paid", (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), 2);
    assert_true(has(ids, 2, t.orders[1]) && has(ids, 2, t.orders[2]));
    snprintf(q, sizeof(q), "status=refunded&user_id=%lld",
             (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), 1);
    assert_int_equal(ids[0], t.orders[0]);
    snprintf(q, sizeof(q), "status=cancelled&user_id=%lld",
             (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), 1);
    assert_int_equal(ids[0], t.orders[3]);
    snprintf(q, sizeof(q), "type=jewelry&user_id=%lld", (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), 2);
    assert_true(has(ids, 2, t.orders[1]) && has(ids, 2, t.orders[3]));
    snprintf(q, sizeof(q), "type=vip&status=pending&user_id=%lld",
             (long long)t.users[0]);
    assert_int_equal(orders_of(q, ids, 16), 1);
    assert_int_equal(ids[0], t.orders[4]);
    /* a user without orders; an empty value is no filter */
    snprintf(q, sizeof(q), "user_id=%lld&status=&type=&limit=",
             (long long)t.users[2]);
    assert_int_equal(orders_of(q, ids, 16), 0);

    /* every object is what GET /v1/orders/{id} answers */
    snprintf(q, sizeof(q), "/v1/admin/orders?user_id=%lld",
             (long long)t.users[0]);
    json_t *list = admin_get("%s", q), *o;
    size_t i;
    json_array_foreach(json_object_get(list, "orders"), i, o)
    {
        char path[64];
        snprintf(path, sizeof(path), "/v1/orders/%lld",
                 (long long)int_of(o, "order_id"));
        json_t *one = call(t.app.admin, "GET", path, NULL, NULL, &status);
        assert_int_equal(status, 200);
        if (!json_equal(o, one))
            fail_msg("list %s != GET %s", json_dumps(o, 0),
                     json_dumps(one, 0));
        json_decref(one);
    }

    /* from <= created_at < to, against the times the list shows */
    json_t *oldest = json_array_get(json_object_get(list, "orders"),
                                    NORDERS - 1);
    json_t *newest = json_array_get(json_object_get(list, "orders"), 0);
    char last_at[40];
    snprintf(last_at, sizeof(last_at), "%s", str_of(newest, "created_at"));
    time_t lo = time_of(str_of(oldest, "created_at")), hi = time_of(last_at);
    /* "to" excludes its own second, "from" includes it (the orders may
     * all have the same second: then lo == hi) */
    snprintf(q, sizeof(q), "user_id=%lld&to=%s", (long long)t.users[0],
             last_at);
    size_t n = orders_of(q, ids, 16);
    size_t before_hi = 0;
    for (int k = 0; k < NORDERS; k++) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/orders/%lld",
                 (long long)t.orders[k]);
        json_t *one = call(t.app.admin, "GET", path, NULL, NULL, &status);
        time_t at = time_of(str_of(one, "created_at"));
        json_decref(one);
        assert_true(at >= lo && at <= hi);
        before_hi += at < hi;
        assert_int_equal(has(ids, n, t.orders[k]), at < hi);
    }
    assert_int_equal(n, before_hi);
    assert_true(n >= 3 && n < NORDERS); /* [0..2] are a second older */
    snprintf(q, sizeof(q), "user_id=%lld&from=%s", (long long)t.users[0],
             last_at);
    n = orders_of(q, ids, 16);
    assert_int_equal(n, NORDERS - before_hi);
    assert_true(n >= 1);
    assert_true(has(ids, n, int_of(newest, "order_id")));
    /* to just past the newest second: all of them; from after it: none;
     * another offset is the same instant */
    struct tm tm;
    time_t after = hi + 1;
    char to[40], from_offset[48];
    gmtime_r(&after, &tm);
    strftime(to, sizeof(to), "%Y-%m-%dT%H:%M:%SZ", &tm);
    time_t lo_east = lo + 3600;
    gmtime_r(&lo_east, &tm);
    strftime(from_offset, sizeof(from_offset), "%Y-%m-%dT%H:%M:%S%%2B01:00",
             &tm);
    snprintf(q, sizeof(q), "user_id=%lld&from=%s&to=%s",
             (long long)t.users[0], from_offset, to);
    assert_int_equal(orders_of(q, ids, 16), NORDERS);
    snprintf(q, sizeof(q), "user_id=%lld&from=%s", (long long)t.users[0], to);
    assert_int_equal(orders_of(q, ids, 16), 0);
    json_decref(list);
}

static void orders_pages_cover_every_order_once_newest_first(void **state)
{
    int64_t ids[16];
    struct key last = {(time_t)INT64_MAX, INT64_MAX};
    char cursor[128] = "";
    size_t n = 0;
    int pages = 0;
    (void)state;

    for (;;) {
        json_t *j = admin_get("/v1/admin/orders?user_id=%lld&limit=2%s%s",
                              (long long)t.users[0],
                              cursor[0] ? "&cursor=" : "", cursor);
        size_t got = order_ids(j, &last, ids + n, 16 - n);
        json_t *next = json_object_get(j, "next_cursor");
        pages++;
        n += got;
        if (json_is_null(next)) {
            json_decref(j);
            break;
        }
        assert_int_equal(got, 2);
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        json_decref(j);
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 3);
    assert_int_equal(n, NORDERS);
    for (int i = 0; i < NORDERS; i++)
        assert_true(has(ids, n, t.orders[i]));

    /* unfiltered: two pages of 3 of the whole table, newest first, the
     * second continuing the first */
    struct key all = {(time_t)INT64_MAX, INT64_MAX};
    json_t *j = admin_get("/v1/admin/orders?limit=3");
    assert_int_equal(order_ids(j, &all, ids, 16), 3);
    snprintf(cursor, sizeof(cursor), "%s",
             json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    j = admin_get("/v1/admin/orders?limit=3&cursor=%s", cursor);
    assert_true(order_ids(j, &all, ids, 16) >= 1);
    json_decref(j);
}

/* ---- events ---- */

static void events_show_each_version_with_its_trace(void **state)
{
    static const char *const types[] = {"OrderCreated", "OrderPaid",
                                        "OrderRefunded"};
    (void)state;

    json_t *j = admin_get("/v1/admin/orders/%lld/events",
                          (long long)t.orders[0]);
    json_t *events = json_object_get(j, "events"), *e;
    size_t i;
    assert_int_equal(json_array_size(events), 3);
    json_array_foreach(events, i, e)
    {
        assert_int_equal(int_of(e, "version"), (int64_t)i + 1);
        assert_string_equal(str_of(e, "type"), types[i]);
        assert_string_equal(str_of(e, "trace_id"), t.trace[i]);
        assert_int_equal(strlen(str_of(e, "event_id")), 36);
        assert_int_equal(strlen(str_of(e, "command_id")), 36);
        const char *at = str_of(e, "occurred_at");
        assert_int_equal(at[strlen(at) - 1], 'Z');
        /* no outbox relay runs in this test */
        assert_true(json_is_null(json_object_get(e, "published_at")));
    }
    assert_string_equal(str_of(json_array_get(events, 1), "command_id"),
                        t.pay_command);
    json_decref(j);

    j = admin_get("/v1/admin/users/%lld/events", (long long)t.users[1]);
    events = json_object_get(j, "events");
    assert_int_equal(json_array_size(events), 2);
    assert_string_equal(str_of(json_array_get(events, 0), "type"),
                        "UserRegistered");
    assert_string_equal(str_of(json_array_get(events, 1), "type"),
                        "UserBanned");
    assert_int_equal(int_of(json_array_get(events, 1), "version"), 2);
    json_decref(j);

    expect_error(t.app.admin, "GET", "/v1/admin/orders/2147483647/events", 404,
                 "not_found");
    expect_error(t.app.admin, "GET", "/v1/admin/users/2147483647/events", 404,
                 "not_found");
    expect_error(t.app.admin, "GET", "/v1/admin/orders/0/events", 404,
                 "not_found");
}

/* ---- stats ---- */

static json_t *stats(long long *took_us)
{
    long long t0 = of_it_now_us();
    json_t *j = admin_get("/v1/admin/stats");
    *took_us = of_it_now_us() - t0;
    assert_true(json_is_string(json_object_get(j, "time")));
    assert_true(json_is_integer(json_object_get(j, "accepted_total")));
    assert_true(json_is_number(json_object_get(j, "applied_per_s")));
    assert_true(json_is_integer(json_object_get(j, "outbox_backlog")));
    return j;
}

/* The lag of our group, once Kafka answered (the first call makes the
 * handle); checks that the partitions are ours and add up. */
static int64_t lag_total(json_t **out)
{
    long long until = of_it_now_us() + 15000000LL, took;

    for (;;) {
        json_t *j = stats(&took);
        json_t *lag = json_object_get(j, "consumer_lag");
        json_t *total = json_object_get(lag, "total");
        if (json_is_integer(total)) {
            json_t *p;
            size_t i;
            int64_t sum = 0;
            json_array_foreach(json_object_get(lag, "partitions"), i, p)
            {
                const char *topic = str_of(p, "topic");
                assert_true(
                    strcmp(topic,
                           getenv("ORDERFLOW_TOPICS_USER_COMMANDS")) == 0 ||
                    strcmp(topic,
                           getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS")) == 0);
                assert_true(int_of(p, "lag") >= 0);
                sum += int_of(p, "lag");
            }
            assert_int_equal(i, 6); /* 2 topics x 3 partitions */
            assert_int_equal(sum, json_integer_value(total));
            *out = j;
            return sum;
        }
        if (of_it_now_us() > until)
            fail_msg("no consumer lag within 15 s: %s", json_dumps(j, 0));
        json_decref(j);
        usleep(200000);
    }
}

static void stats_follow_writes_lag_and_backlog(void **state)
{
    char body[128];
    long status;
    long long took;
    json_t *j;
    (void)state;

    of_it_wait_caught_up(t.app.cfg, t.app.group,
                         getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"), 60);
    of_it_wait_caught_up(t.app.cfg, t.app.group,
                         getenv("ORDERFLOW_TOPICS_USER_COMMANDS"), 60);
    assert_int_equal(lag_total(&j), 0); /* the worker has everything */
    json_decref(j);

    /* one more write, then at once: applied in the last 10 s */
    snprintf(body, sizeof(body),
             "{\"order_type\":\"vip\",\"total_amount\":\"1.00\","
             "\"user_id\":%lld}",
             (long long)t.users[4]);
    json_decref(write_waited("/v1/orders", body, NULL, 201));
    /* the API counts an answer once it is sent: give it that moment */
    usleep(100000);
    j = stats(&took);
    printf("# GET /v1/admin/stats took %.1f ms\n", took / 1000.0);
    assert_true(took < 2000000); /* < 100 ms idle; slack for a busy box */
    int64_t accepted = int_of(j, "accepted_total");
    assert_true(accepted >= t.writes);
    assert_true(json_number_value(json_object_get(j, "applied_per_s")) > 0);
    /* no relay runs here: our events at least are unpublished */
    assert_true(int_of(j, "outbox_backlog") >= t.writes);
    json_decref(j);

    /* the worker stopped, 3 commands wait: a lag of exactly 3, and 3 more
     * accepted */
    assert_int_equal(of_it_stop(t.app.worker, SIGTERM, 15), 0);
    t.app.worker = 0;
    for (int i = 0; i < 3; i++) {
        json_decref(
            call(t.app.admin, "POST", "/v1/orders", body, NULL, &status));
        assert_int_equal(status, 202);
    }
    usleep(100000);
    assert_int_equal(lag_total(&j), 3);
    assert_int_equal(int_of(j, "accepted_total"), accepted + 3);
    json_decref(j);

    of_it_app_start_worker(&t.app, NULL);
    of_it_wait_caught_up(t.app.cfg, t.app.group,
                         getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS"), 60);
    assert_int_equal(lag_total(&j), 0);
    json_decref(j);
}

/* ---- validation ---- */

static void bad_parameters_are_400_naming_them(void **state)
{
    static const char *const cases[][2] = {
        {"/v1/admin/orders?limit=0", "limit"},
        {"/v1/admin/orders?limit=101", "limit"},
        {"/v1/admin/orders?limit=abc", "limit"},
        {"/v1/admin/orders?limit=-1", "limit"},
        {"/v1/admin/orders?limit=%2B5", "limit"},
        {"/v1/admin/users?limit=1000", "limit"},
        {"/v1/admin/orders?status=shipped", "status"},
        {"/v1/admin/orders?status=PAID", "status"},
        {"/v1/admin/orders?type=gold", "type"},
        {"/v1/admin/orders?user_id=0", "user_id"},
        {"/v1/admin/orders?user_id=12x", "user_id"},
        {"/v1/admin/orders?user_id=99999999999", "user_id"},
        {"/v1/admin/orders?from=yesterday", "from"},
        {"/v1/admin/orders?from=2026-02-30T00:00:00Z", "from"},
        {"/v1/admin/orders?from=2026-01-01T00:00:00", "from"},
        {"/v1/admin/orders?to=2026-13-01T00:00:00Z", "to"},
        {"/v1/admin/orders?to=2026-01-01T24:00:00Z", "to"},
        {"/v1/admin/orders?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
         "to"},
        {"/v1/admin/orders?cursor=garbage", "cursor"},
        {"/v1/admin/orders?cursor=1700000000.0", "cursor"},
        {"/v1/admin/orders?cursor=17x.5", "cursor"},
        {"/v1/admin/users?cursor=abc", "cursor"},
        {"/v1/admin/users?cursor=0", "cursor"},
        {"/v1/admin/users?q=%FF", "q"},
        {"/v1/admin/orders?stauts=paid", "stauts"},
        {"/v1/admin/orders?status=paid&status=pending", "status"},
        {"/v1/admin/users?status=paid", "status"},
        {"/v1/admin/stats?verbose=1", "verbose"},
        {"/v1/admin/orders/1/events?limit=5", "limit"},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        long status;
        json_t *j = call(t.app.admin, "GET", cases[i][0], NULL, NULL, &status);
        json_t *err = json_object_get(j, "error");
        if (status != 400)
            fail_msg("GET %s: %ld %s", cases[i][0], status, json_dumps(j, 0));
        assert_string_equal(str_of(err, "code"), "validation_failed");
        const char *msg = str_of(err, "message");
        if (strncmp(msg, cases[i][1], strlen(cases[i][1])) != 0)
            fail_msg("GET %s: message \"%s\" does not name %s", cases[i][0],
                     msg, cases[i][1]);
        json_decref(j);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_admins_get_in),
        cmocka_unit_test(users_are_found_by_email_or_username_prefix),
        cmocka_unit_test(users_pages_cover_every_user_once),
        cmocka_unit_test(orders_filter_by_status_type_user_and_time),
        cmocka_unit_test(orders_pages_cover_every_order_once_newest_first),
        cmocka_unit_test(events_show_each_version_with_its_trace),
        cmocka_unit_test(stats_follow_writes_lag_and_backlog),
        cmocka_unit_test(bad_parameters_are_400_naming_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
