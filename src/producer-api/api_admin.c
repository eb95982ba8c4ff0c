/*
 * /v1/admin/...: the admin panel's lists, lookups and stats, admin role only.
 *
 * Here: the routing of every /v1/admin/ request (api_http.c has
 * authenticated and rate-limited it already), the role check, the strict
 * query parameters, and the two lists:
 * - GET /v1/admin/users?q=&limit=&cursor=: user_id descending; q is a
 *   prefix of the email or of the username, case-sensitive (the columns are
 *   utf8mb4_bin);
 * - GET /v1/admin/orders?status=&type=&user_id=&from=&to=&limit=&cursor=:
 *   newest first, (created_at DESC, order_id DESC), from <= created_at < to.
 * The events of an order or a user are in api_admin_events.c, the stats in
 * api_admin_stats.c, the dead letters in api_admin_dlq.c.
 *
 * Lists read MySQL, the truth, not the Redis read model, which can neither
 * filter nor sort all rows. Pages are keyset pages, never OFFSET: a cursor
 * is the sort key of the page's last row ("<user_id>", "<created_at in
 * seconds>.<order_id>"), so page 10,000 costs what page 1 does (the
 * indexes are schemas/sql/004_admin_indexes.sql), and rows inserted between
 * two pages neither repeat nor hide others. A query asks for limit + 1 rows:
 * the extra one only says that a next page exists. Cursors are not signed,
 * unlike the user-facing ones of of_cursor.h: an admin may see every row.
 *
 * Parameters are strict: an unknown or repeated one, or a bad value, is a
 * 400 validation_failed whose message starts with its name. An empty value
 * is the same as leaving the parameter out, which is what an HTML form sends
 * for "any".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "of_log.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX     100
#define MAX_PARAMS    8
/* TIMESTAMP's range ends at 2038-01-19 03:14:07 UTC (MariaDB 10.11) */
#define TIMESTAMP_MAX 2147483647LL
#define ID_MAX        2147483647LL /* users.user_id, orders.order_id: INT */

/* ---- routing ---- */

static int is_get(const struct api_req *req)
{
    return strcmp(req->method, "GET") == 0;
}

static enum MHD_Result not_found(struct api_req *req)
{
    return api_reply_error(req, 404, "not_found", "no such resource");
}

static enum MHD_Result get_only(struct api_req *req)
{
    return api_method_not_allowed(req, "GET");
}

static enum MHD_Result list_users(struct api_req *req);
static enum MHD_Result list_orders(struct api_req *req);

/* The metrics label of /v1/admin/\p seg[2]/..., static. */
static const char *route_label(char **seg, int n)
{
    if (n == 3 && strcmp(seg[2], "users") == 0)
        return "/v1/admin/users";
    if (n == 3 && strcmp(seg[2], "orders") == 0)
        return "/v1/admin/orders";
    if (n == 3 && strcmp(seg[2], "stats") == 0)
        return "/v1/admin/stats";
    if (n == 5 && strcmp(seg[2], "users") == 0)
        return "/v1/admin/users/{id}/events";
    if (n == 5 && strcmp(seg[2], "orders") == 0)
        return "/v1/admin/orders/{id}/events";
    if (n >= 3 && strcmp(seg[2], "dead-letters") == 0)
        return "/v1/admin/dead-letters";
    return "/v1/admin/other";
}

enum MHD_Result api_admin_route(struct api_req *req, char **seg, int n)
{
    int64_t id;

    req->route = route_label(seg, n);
    /* before anything else: a user or service learns nothing, not even
     * which admin paths exist */
    if (req->who.role != OF_ROLE_ADMIN)
        return api_reply_error(req, 403, "forbidden",
                               "the admin API needs the admin role");
    if (n < 3)
        return not_found(req);
    if (strcmp(seg[2], "dead-letters") == 0)
        return api_admin_dead_letters(req, seg, n);
    if (n == 3) {
        enum MHD_Result (*list)(struct api_req *) =
            strcmp(seg[2], "users") == 0    ? list_users
            : strcmp(seg[2], "orders") == 0 ? list_orders
            : strcmp(seg[2], "stats") == 0  ? api_admin_stats
                                            : NULL;
        if (!list)
            return not_found(req);
        return is_get(req) ? list(req) : get_only(req);
    }
    if (n != 5 || strcmp(seg[4], "events") != 0 ||
        (strcmp(seg[2], "users") != 0 && strcmp(seg[2], "orders") != 0) ||
        !of_parse_id(seg[3], &id))
        return not_found(req);
    if (!is_get(req))
        return get_only(req);
    return api_admin_events(req, seg[2][0] == 'u' ? "user" : "order", id);
}

/* ---- query parameters ---- */

struct params_check {
    const char *const *allowed; /* NULL-ended */
    int count[MAX_PARAMS];
    const char *bad; /* the first unknown or repeated name */
    int repeated;
};

static enum MHD_Result check_param(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    struct params_check *pc = cls;
    int i;
    (void)kind;
    (void)value;

    for (i = 0; pc->allowed[i] && strcmp(key, pc->allowed[i]) != 0; i++)
        ;
    if (!pc->allowed[i]) {
        pc->bad = key;
        return MHD_NO;
    }
    if (++pc->count[i] > 1) {
        pc->bad = key;
        pc->repeated = 1;
        return MHD_NO;
    }
    return MHD_YES;
}

/* \p s (client text) fit for a message: at most 40 printable ASCII
 * characters, anything else as '?' (the body must stay valid UTF-8). */
static void printable(const char *s, char *out, size_t cap)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < cap && i < 40; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

int api_admin_params_ok(struct api_req *req, const char *const *allowed,
                        enum MHD_Result *ret)
{
    struct params_check pc = {.allowed = allowed};
    char name[48];

    MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_param,
                              &pc);
    if (!pc.bad)
        return 1;
    printable(pc.bad, name, sizeof(name));
    if (pc.repeated)
        *ret = api_reply_error(req, 400, "validation_failed",
                               "%s: given more than once", name);
    else
        *ret = api_reply_error(req, 400, "validation_failed",
                               "%s: unknown parameter", name);
    return 0;
}

const char *api_admin_param(struct api_req *req, const char *name)
{
    const char *v = MHD_lookup_connection_value(req->conn,
                                                MHD_GET_ARGUMENT_KIND, name);

    return v && *v ? v : NULL;
}

int api_admin_limit(struct api_req *req, int def, int max, int *limit,
                    enum MHD_Result *ret)
{
    const char *s = api_admin_param(req, "limit");
    int v = 0;
    size_t i;

    if (!s) {
        *limit = def;
        return 1;
    }
    for (i = 0; i < 4 && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    if (s[i] != '\0' || v < 1 || v > max) {
        *ret = api_reply_error(req, 400, "validation_failed",
                               "limit: must be an integer from 1 to %d", max);
        return 0;
    }
    *limit = v;
    return 1;
}

static int fixed_digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30,
                               31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* The offset of an RFC 3339 time at \p p ("Z", "+01:00"; a space stands
 * for the '+' that a query string decodes as one) into *sec, east positive.
 * @returns 1 if \p p is exactly that. */
static int parse_offset(const char *p, long *sec)
{
    int h, m;

    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
        *sec = 0;
        return 1;
    }
    if ((p[0] != '+' && p[0] != '-' && p[0] != ' ') || strlen(p) != 6 ||
        !fixed_digits(p + 1, 2, &h) || p[3] != ':' ||
        !fixed_digits(p + 4, 2, &m) || h > 23 || m > 59)
        return 0;
    *sec = (h * 3600L + m * 60L) * (p[0] == '-' ? -1 : 1);
    return 1;
}

/* RFC 3339 date-time ("2026-11-29T03:48:46Z", "2026-11-29T04:48:46.5+01:00")
 * into seconds since the epoch, rounded up (*ceil_s): the columns hold whole
 * seconds, so "from <= created_at" and "created_at < to" with a fraction are
 * the same with the next whole second.
 * @returns 1, or 0 if \p s is not one. */
static int parse_time(const char *s, int64_t *ceil_s)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, sec, frac = 0;
    const char *p = s + 19;
    long off;

    if (strlen(s) < 20 || !fixed_digits(s, 4, &y) || s[4] != '-' ||
        !fixed_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !fixed_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !fixed_digits(s + 11, 2, &h) || s[13] != ':' ||
        !fixed_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !fixed_digits(s + 17, 2, &sec))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return 0;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9')
            return 0;
        for (p++; *p >= '0' && *p <= '9'; p++)
            frac |= *p != '0';
    }
    if (!parse_offset(p, &off))
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec; /* a leap second 60 is the next minute's 0 */
    *ceil_s = (int64_t)timegm(&tm) - off + (frac ? 1 : 0);
    return 1;
}

/* "<created_at seconds>.<order_id>", as next_cursor writes it */
static int parse_order_cursor(const char *s, int64_t *at, int64_t *id)
{
    int64_t v = 0;
    size_t i;

    for (i = 0; i < 10 && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 0 || s[i] != '.' || v > TIMESTAMP_MAX ||
        (s[0] == '0' && i > 1))
        return 0;
    *at = v;
    return of_parse_id(s + i + 1, id);
}

static enum MHD_Result bad(struct api_req *req, const char *msg)
{
    return api_reply_error(req, 400, "validation_failed", "%s", msg);
}

/* ---- rows ---- */

/* One page being read: the first limit rows become JSON, a further one
 * only says that there is a next page. */
struct page {
    json_t *items;
    int limit, rows;
    int64_t last_id, last_at; /* sort key of the limit-th row: the cursor */
    struct of_user *u;        /* scratch of user_row (2 KiB) */
};

/* A row of OF_MODEL_USER_SELECT, then of_user_json(): exactly what
 * GET /v1/users/{id} answers. */
static int user_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct page *pg = arg;
    struct of_user *u = pg->u;
    int64_t version;
    json_t *j;
    (void)ncols;
    (void)lens;

    if (++pg->rows > pg->limit)
        return 1;
    of_model_user_from_row(v, u, &version);
    pg->last_id = u->user_id;
    j = of_user_json(u, version);
    if (j)
        json_array_append_new(pg->items, j);
    else
        of_warn("user %lld is not valid UTF-8; left out of the list",
                (long long)u->user_id);
    return 0;
}

/* A row of OF_MODEL_ORDER_SELECT, then of_order_json(): exactly what
 * GET /v1/orders/{id} answers. */
static int order_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct page *pg = arg;
    struct of_order o;
    struct of_err err;
    int64_t version;
    int rc;
    (void)ncols;
    (void)lens;

    if (++pg->rows > pg->limit)
        return 1;
    rc = of_model_order_from_row(v, &o, &version, &err);
    pg->last_id = o.order_id;
    pg->last_at = o.created_at / 1000000;
    if (rc != OF_OK) {
        /* GET /v1/orders/{id} answers 404 for it */
        of_warn("%s; left out of the list", err.msg);
        return 0;
    }
    json_array_append_new(pg->items, of_order_json(&o, version));
    return 0;
}

/* Runs a list query into \p pg, emptied first. @returns OF_OK or the
 * failure (logged). */
static int read_page(struct api_req *req, const char *name, const char *sql,
                     const struct of_db_param *params, int n, of_db_row_cb cb,
                     struct page *pg)
{
    struct of_err err;
    struct of_db *db = api_db(req->api, &err);
    int rc;

    if (!db) {
        of_warn("admin %s list: %s", name, err.msg);
        return err.rc;
    }
    json_array_clear(pg->items);
    pg->rows = 0;
    rc = of_db_query(db, sql, params, n, cb, pg, &err);
    if (rc != OF_OK) {
        if (rc == OF_EAGAIN)
            api_db_reset(req->api);
        of_warn("admin %s list: %s", name, err.msg);
    }
    return rc;
}

/* Answers {"<name>": [...], "next_cursor": ...} from \p pg (its items
 * taken), or 503 when the read failed (\p rc). */
static enum MHD_Result reply_page(struct api_req *req, const char *name,
                                  struct page *pg, int rc)
{
    char cursor[48];
    json_t *next = json_null();

    if (rc != OF_OK) {
        json_decref(pg->items);
        return api_reply_error(req, 503, "unavailable",
                               "could not read %s; retry", name);
    }
    if (pg->rows > pg->limit) {
        if (strcmp(name, "orders") == 0)
            snprintf(cursor, sizeof(cursor), "%lld.%lld",
                     (long long)pg->last_at, (long long)pg->last_id);
        else
            snprintf(cursor, sizeof(cursor), "%lld", (long long)pg->last_id);
        next = json_string(cursor);
    }
    return api_reply_json(req, 200,
                          json_pack("{s:o, s:o}", name, pg->items,
                                    "next_cursor", next));
}

/* ---- GET /v1/admin/users ---- */

/* q as a LIKE prefix pattern: '!' escapes the wildcards (a backslash would
 * depend on NO_BACKSLASH_ESCAPES). \p out has 2 * strlen(q) + 2 bytes. */
static void like_prefix(const char *q, char *out)
{
    for (; *q; q++) {
        if (*q == '!' || *q == '%' || *q == '_')
            *out++ = '!';
        *out++ = *q;
    }
    *out++ = '%';
    *out = '\0';
}

/* code points of valid UTF-8 \p s: the bytes that do not continue one */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/*
 * A q search cannot have both its filter and its order from one index, and
 * the optimizer, left alone, guesses wrong: at a million users it scanned
 * the whole primary key for a q of 11 matches (0.46 s). So it goes in two
 * steps, each bounded:
 * 1. the next Q_WINDOW user ids below the cursor, backwards through the
 *    primary key: a short q matches densely and fills the page there;
 * 2. if not, the matches below the cursor through users_email and
 *    users_username, sorted by user_id: their number is the cost, and a q
 *    that found fewer than a page in Q_WINDOW users has few matches, or
 *    (a clustered prefix) few enough to sort (22,000 of a million users
 *    took 12 ms).
 */
#define Q_WINDOW 10000

static int max_row(void *arg, int ncols, char **v, const unsigned long *l)
{
    (void)ncols;
    (void)l;
    *(int64_t *)arg = v[0] ? strtoll(v[0], NULL, 10) : 0;
    return 1;
}

/* The first page's window starts at the newest user, not at ID_MAX. */
static int newest_user(struct api_req *req, int64_t *id)
{
    struct of_err err;
    struct of_db *db = api_db(req->api, &err);
    int rc;

    if (!db)
        return err.rc;
    rc = of_db_query(db, "SELECT MAX(user_id) FROM users", NULL, 0, max_row,
                     id, &err);
    if (rc == OF_EAGAIN)
        api_db_reset(req->api);
    if (rc != OF_OK)
        of_warn("admin users list: %s", err.msg);
    return rc;
}

static int read_users_q(struct api_req *req, const char *pattern,
                        int64_t before, struct page *pg)
{
    int64_t newest = 0, floor;
    int rc;

    if (before > ID_MAX) {
        rc = newest_user(req, &newest);
        if (rc != OF_OK)
            return rc;
        before = newest + 1;
    }
    floor = before > Q_WINDOW ? before - Q_WINDOW : 0;
    rc = read_page(
        req, "users",
        OF_MODEL_USER_SELECT
        "FORCE INDEX (PRIMARY) WHERE user_id < ? AND user_id >= ? "
        "AND (email LIKE ? ESCAPE '!' OR username LIKE ? "
        "ESCAPE '!') ORDER BY user_id DESC LIMIT ?",
        (struct of_db_param[]){OF_DB_I(before), OF_DB_I(floor),
                               OF_DB_S(pattern), OF_DB_S(pattern),
                               OF_DB_I(pg->limit + 1)},
        5, user_row, pg);
    if (rc != OF_OK || pg->rows > pg->limit || floor <= 1) /* ids from 1 */
        return rc;
    return read_page(
        req, "users",
        /* USING: the one user_id column, so the list's columns need no
         * table name */
        OF_MODEL_USER_SELECT
        "JOIN ((SELECT user_id FROM users FORCE INDEX (users_email) "
        "WHERE email LIKE ? ESCAPE '!' AND user_id < ? "
        "ORDER BY user_id DESC LIMIT ?) UNION "
        "(SELECT user_id FROM users FORCE INDEX (users_username) "
        "WHERE username LIKE ? ESCAPE '!' AND user_id < ? "
        "ORDER BY user_id DESC LIMIT ?)) m USING (user_id) "
        "ORDER BY user_id DESC LIMIT ?",
        (struct of_db_param[]){OF_DB_S(pattern), OF_DB_I(before),
                               OF_DB_I(pg->limit + 1), OF_DB_S(pattern),
                               OF_DB_I(before), OF_DB_I(pg->limit + 1),
                               OF_DB_I(pg->limit + 1)},
        7, user_row, pg);
}

/* Validates cursor and q into *before and \p pattern ("" for no q).
 * @returns 0 with the 400 queued. */
static int users_params(struct api_req *req, int64_t *before, char *pattern,
                        enum MHD_Result *ret)
{
    const char *q = api_admin_param(req, "q");
    const char *cur = api_admin_param(req, "cursor");
    json_t *check;

    *pattern = '\0';
    if (cur && !of_parse_id(cur, before)) {
        *ret = bad(req, "cursor: is not a cursor of this list");
        return 0;
    }
    if (!q)
        return 1;
    /* jansson checks UTF-8: bytes MariaDB could never match in a utf8mb4
     * column are the client's mistake, not an empty list */
    check = json_string(q);
    json_decref(check);
    if (!check || utf8_chars(q) > OF_EMAIL_MAX) {
        *ret = api_reply_error(req, 400, "validation_failed",
                               "q: must be valid UTF-8 of at most %d "
                               "characters",
                               OF_EMAIL_MAX);
        return 0;
    }
    like_prefix(q, pattern);
    return 1;
}

static enum MHD_Result list_users(struct api_req *req)
{
    static const char *const allowed[] = {"q", "limit", "cursor", NULL};
    struct page pg = {0};
    char pattern[2 * (4 * OF_EMAIL_MAX) + 2]; /* see like_prefix() */
    int64_t before = ID_MAX + 1;
    enum MHD_Result ret = MHD_NO;
    int rc;

    if (!api_admin_params_ok(req, allowed, &ret) ||
        !api_admin_limit(req, LIMIT_DEFAULT, LIMIT_MAX, &pg.limit, &ret) ||
        !users_params(req, &before, pattern, &ret))
        return ret;
    pg.u = malloc(sizeof(*pg.u));
    pg.items = json_array();
    if (!pg.u || !pg.items) {
        free(pg.u);
        json_decref(pg.items);
        return MHD_NO;
    }
    if (pattern[0])
        rc = read_users_q(req, pattern, before, &pg);
    else
        rc = read_page(req, "users",
                       OF_MODEL_USER_SELECT "WHERE user_id < ? "
                                            "ORDER BY user_id DESC LIMIT ?",
                       (struct of_db_param[]){OF_DB_I(before),
                                              OF_DB_I(pg.limit + 1)},
                       2, user_row, &pg);
    free(pg.u);
    return reply_page(req, "users", &pg, rc);
}

/* ---- GET /v1/admin/orders ---- */

/* The statement, built from the fixed fragments below only: every value is
 * a bound parameter. The optimizer picks the index per execution, with the
 * values (tests/bench/admin_orders_1m.sh shows its choices). */
struct orders_query {
    char sql[1024];
    struct of_db_param p[12];
    int n, conds;
};

static void cond(struct orders_query *oq, const char *text)
{
    size_t len = strlen(oq->sql);

    snprintf(oq->sql + len, sizeof(oq->sql) - len, "%s%s",
             oq->conds++ ? " AND " : "WHERE ", text);
}

/* Fills \p oq from the filters; @returns 0 with the 400 queued. */
static int orders_filters(struct api_req *req, struct orders_query *oq,
                          enum MHD_Result *ret)
{
    const char *status = api_admin_param(req, "status");
    const char *type = api_admin_param(req, "type");
    const char *user = api_admin_param(req, "user_id");
    const char *from = api_admin_param(req, "from");
    const char *to = api_admin_param(req, "to");
    enum of_order_status st;
    enum of_order_type ty;
    int64_t uid = 0, from_s = 0, to_s = 0;
    const char *msg = NULL;

    if (status && of_avro_order_status_parse(status, &st) != OF_OK)
        msg = "status: must be pending, paid, refunded or cancelled";
    else if (type && of_avro_order_type_parse(type, &ty) != OF_OK)
        msg = "type: must be vip or jewelry";
    else if (user && !of_parse_id(user, &uid))
        msg = "user_id: must be an integer from 1 to 2147483647";
    else if (from && !parse_time(from, &from_s))
        msg = "from: must be an RFC 3339 time such as 2026-01-31T00:00:00Z";
    else if (to && !parse_time(to, &to_s))
        msg = "to: must be an RFC 3339 time such as 2026-01-31T00:00:00Z";
    else if (from && to && to_s <= from_s)
        msg = "to: must be later than from";
    if (msg) {
        *ret = bad(req, msg);
        return 0;
    }
    if (user) {
        cond(oq, "user_id = ?");
        oq->p[oq->n++] = OF_DB_I(uid);
    }
    if (status) {
        cond(oq, "order_status = ?");
        oq->p[oq->n++] = OF_DB_S(status);
    }
    if (type) {
        cond(oq, "order_type = ?");
        oq->p[oq->n++] = OF_DB_S(type);
    }
    /* FROM_UNIXTIME() takes 0..2^31-1: clamp; a "to" past the end of
     * TIMESTAMP excludes nothing */
    if (from) {
        cond(oq, "created_at >= FROM_UNIXTIME(?)");
        oq->p[oq->n++] = OF_DB_I(from_s < 0               ? 0
                                 : from_s > TIMESTAMP_MAX ? TIMESTAMP_MAX
                                                          : from_s);
    }
    if (to && to_s <= TIMESTAMP_MAX) {
        cond(oq, "created_at < FROM_UNIXTIME(?)");
        oq->p[oq->n++] = OF_DB_I(to_s < 0 ? 0 : to_s);
    }
    return 1;
}

static enum MHD_Result list_orders(struct api_req *req)
{
    static const char *const allowed[] = {"status", "type", "user_id",
                                          "from",   "to",   "limit",
                                          "cursor", NULL};
    const char *cur = api_admin_param(req, "cursor");
    struct orders_query oq = {.sql = OF_MODEL_ORDER_SELECT};
    struct page pg = {0};
    enum MHD_Result ret = MHD_NO;
    int64_t at, id;
    size_t len;

    if (!api_admin_params_ok(req, allowed, &ret) ||
        !api_admin_limit(req, LIMIT_DEFAULT, LIMIT_MAX, &pg.limit, &ret))
        return ret;
    if (cur && !parse_order_cursor(cur, &at, &id))
        return bad(req, "cursor: is not a cursor of this list");
    if (!orders_filters(req, &oq, &ret))
        return ret;
    if (cur) {
        /* (created_at, order_id) < (at, id), spelt so that both MariaDB
         * and MySQL make it two ranges of the index */
        cond(&oq, "(created_at < FROM_UNIXTIME(?) OR "
                  "(created_at = FROM_UNIXTIME(?) AND order_id < ?))");
        oq.p[oq.n++] = OF_DB_I(at);
        oq.p[oq.n++] = OF_DB_I(at);
        oq.p[oq.n++] = OF_DB_I(id);
    }
    len = strlen(oq.sql);
    snprintf(oq.sql + len, sizeof(oq.sql) - len,
             " ORDER BY created_at DESC, order_id DESC LIMIT ?");
    oq.p[oq.n++] = OF_DB_I(pg.limit + 1);
    pg.items = json_array();
    if (!pg.items)
        return MHD_NO;
    return reply_page(req, "orders", &pg,
                      read_page(req, "orders", oq.sql, oq.p, oq.n, order_row,
                                &pg));
}
