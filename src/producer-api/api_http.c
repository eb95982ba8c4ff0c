/*
 * api_http: the libmicrohttpd glue of orderflow-api: the daemon, the
 * request lifecycle (struct api_req), body limits, content types, routing
 * and the JSON answers.
 *
 * libmicrohttpd 0.9.75 calls the access handler once with the headers, then
 * once per piece of body, then once more with *upload_data_size == 0; a
 * suspended connection is called again after it is resumed. Answers are
 * queued only on that last kind of call, except the 413/414/431/400
 * decided from the headers alone, which are queued on the first (MHD then
 * closes the connection without reading the body).
 *
 * Error bodies are always ours ({"error": {"code", "message"}}) where
 * libmicrohttpd 0.9.75 lets us answer, which is from the first call of the
 * access handler on. It answers some requests itself, before any callback
 * of ours runs, with a fixed HTML body that no option replaces
 * (transmit_error_response_static in its connection.c), and closes the
 * connection:
 *   - 400 for a malformed request line or header line, an HTTP/1.1 request
 *     without Host, a Content-Length that is not a decimal number ("abc",
 *     "-1"), or malformed chunked framing;
 *   - 413 for a Content-Length or chunk size that overflows 64 bits;
 *   - 414 / 431 for a request line / header block that does not fit the
 *     connection's memory pool (API_MHD_POOL_BYTES);
 *   - 505 for an HTTP version other than 1.x.
 * Our own limits sit below MHD's so that the common cases get JSON: a path
 * of 512 bytes or a URI of API_MAX_URI_BYTES gets our 414, a header block
 * of API_MAX_HEADER_BYTES our 431, a declared or streamed body over
 * [api] max_body_bytes our 413, a transfer coding other than chunked our
 * 400. Only what is bigger than MHD's pool, or unparseable, gets MHD's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "api.h"
#include "of_log.h"
#include "of_uuid.h"

/* libmicrohttpd's per-connection memory (its default, said out loud): the
 * request line and headers must fit in it, or MHD answers 414/431 itself */
#define API_MHD_POOL_BYTES 32768
/* our limits, below MHD's, answered with JSON */
#define API_MAX_URI_BYTES    8192
#define API_MAX_HEADER_BYTES 16384

struct thread_conns {
    struct of_redis *redis;
    struct of_db *db;
};

static void thread_conns_free(void *p)
{
    struct thread_conns *tc = p;

    of_redis_destroy(tc->redis);
    of_db_close(tc->db);
    free(tc);
}

static struct thread_conns *thread_conns(struct api *api)
{
    struct thread_conns *tc = pthread_getspecific(api->conn_key);

    if (!tc) {
        tc = calloc(1, sizeof(*tc));
        if (!tc)
            abort();
        pthread_setspecific(api->conn_key, tc);
    }
    return tc;
}

struct of_redis *api_redis(struct api *api)
{
    struct thread_conns *tc = thread_conns(api);
    struct of_err err;

    if (!tc->redis)
        tc->redis = of_redis_new(api->cfg, &err);
    return tc->redis;
}

struct of_db *api_db(struct api *api, struct of_err *err)
{
    struct thread_conns *tc = thread_conns(api);

    if (!tc->db)
        tc->db = of_db_open(api->cfg, err);
    return tc->db;
}

void api_db_reset(struct api *api)
{
    struct thread_conns *tc = thread_conns(api);

    of_db_close(tc->db);
    tc->db = NULL;
}

/* ---- the whole-request deadline (slowloris) ----
 *
 * libmicrohttpd 0.9.75 times a connection out on inactivity only, so a
 * client sending a header byte every few seconds holds a connection, and
 * one of its address's per_ip_connection_limit slots, for ever. So every
 * connection carries a deadline by which its current request must be in:
 *   - from accept: [api] request_deadline_s;
 *   - after an answer on a keep-alive connection, the wait for the next
 *     request is idle time that MHD's own timeout bounds: the deadline is
 *     then the larger of request_deadline_s and connection_timeout_s (so a
 *     trickled request line is bounded too), and it starts again at
 *     request_deadline_s when the next request line is in;
 *   - none once a request is in and ours to handle: a publish or a
 *     "Prefer: wait" may take longer, and that is not the client's doing.
 * main() calls api_http_sweep() every 100 ms; a connection past its
 * deadline is shut down with shutdown(2), not closed, so the descriptor
 * stays MHD's: MHD sees the client go away and cleans up on its own
 * thread. No answer is sent: MHD can queue one only once the headers are
 * in, and writing to its socket behind its back would break TLS.
 * The sweep never shuts a reused descriptor: MHD calls NOTIFY_CONNECTION
 * CLOSED, which unlinks the connection under conns_lock, before it closes
 * the socket.
 */
struct api_conn {
    struct api_conn *prev, *next;
    int fd;
    int requests;        /* request lines seen */
    size_t uri_len;      /* of the current request, query included */
    int64_t deadline_us; /* 0: none (a received request is being handled) */
    int shut;            /* the sweep shut it down */
};

static struct api_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static void
set_deadline(struct api *api, struct MHD_Connection *conn, int64_t deadline_us)
{
    struct api_conn *c = conn_of(conn);

    if (!c)
        return;
    pthread_mutex_lock(&api->conns_lock);
    c->deadline_us = deadline_us;
    pthread_mutex_unlock(&api->conns_lock);
}

static int64_t deadline_in(const struct api *api, int idle)
{
    int s = api->cfg->api.request_deadline_s;

    if (idle && api->cfg->api.connection_timeout_s > s)
        s = api->cfg->api.connection_timeout_s;
    return of_time_now_us() + (int64_t)s * 1000000;
}

/* MHD_OPTION_NOTIFY_CONNECTION, on the connection's MHD thread */
static void on_connection(void *cls,
                          struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct api *api = cls;
    struct api_conn *c = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof(*c));
        if (!c || !ci) {
            free(c); /* untracked: MHD's inactivity timeout still holds */
            return;
        }
        c->fd = ci->connect_fd;
        c->deadline_us = deadline_in(api, 0);
        pthread_mutex_lock(&api->conns_lock);
        c->next = api->conns;
        if (c->next)
            c->next->prev = c;
        api->conns = c;
        pthread_mutex_unlock(&api->conns_lock);
        *socket_context = c;
        return;
    }
    if (!c)
        return;
    pthread_mutex_lock(&api->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        api->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&api->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line is in. Returns the initial
 * *con_cls of the request: NULL, on_request makes it. */
static void *
on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct api *api = cls;
    struct api_conn *c = conn_of(conn);

    if (!c)
        return NULL;
    pthread_mutex_lock(&api->conns_lock);
    c->uri_len = strlen(uri);
    if (c->requests++ > 0) /* the first keeps the deadline from accept */
        c->deadline_us = deadline_in(api, 0);
    pthread_mutex_unlock(&api->conns_lock);
    return NULL;
}

void api_http_sweep(struct api *api)
{
    int64_t now = of_time_now_us();
    int closed = 0;

    pthread_mutex_lock(&api->conns_lock);
    for (struct api_conn *c = api->conns; c; c = c->next) {
        if (c->shut || !c->deadline_us || c->deadline_us > now)
            continue;
        shutdown(c->fd, SHUT_RDWR);
        c->shut = 1;
        closed++;
    }
    pthread_mutex_unlock(&api->conns_lock);
    if (closed) {
        of_metrics_add(of_metrics_series(api->m_deadline_closed, NULL), closed);
        of_info("closed %d connection%s that did not send a whole request "
                "within %d s",
                closed, closed == 1 ? "" : "s",
                api->cfg->api.request_deadline_s);
    }
}

/* ---- answers ---- */

static unsigned status_of(struct api_req *req, unsigned status)
{
    req->answered = (int)status;
    return status;
}

/* Adds what every answer of ours carries (the trace id; Connection: close
 * while stopping), queues \p resp and lets go of it. */
static enum MHD_Result queue(struct api_req *req, unsigned status,
                             struct MHD_Response *resp)
{
    enum MHD_Result ret;

    MHD_add_response_header(resp, "X-Trace-Id", req->trace_id);
    if (req->api->stopping) /* no next request on this connection */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(req->conn, status_of(req, status), resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_reply_json(struct api_req *req, unsigned status,
                               json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *resp;

    json_decref(body);
    resp = MHD_create_response_from_buffer(len, text ? text : (char *)"",
                                           text ? MHD_RESPMEM_MUST_FREE
                                                : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    if (status == 202 && req->command_id[0]) {
        char loc[64];
        snprintf(loc, sizeof(loc), "/v1/commands/%s", req->command_id);
        MHD_add_response_header(resp, "Location", loc);
    }
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", req->allow);
    if (status == 429)
        MHD_add_response_header(resp, "Retry-After", req->retry_after);
    return queue(req, status, resp);
}

enum MHD_Result api_reply_error(struct api_req *req, unsigned status,
                                const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return api_reply_json(
        req, status,
        json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

static enum MHD_Result reply_text(struct api_req *req, unsigned status,
                                  const char *type, char *text, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    ret = MHD_queue_response(req->conn, status_of(req, status), resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_reply_static(struct api_req *req, unsigned status,
                                 const char *type, const void *data,
                                 size_t len, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (int i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    return queue(req, status, resp);
}

void api_suspend(struct api_req *req)
{
    req->suspended = 1;
    MHD_suspend_connection(req->conn);
}

void api_resume(struct api_req *req)
{
    MHD_resume_connection(req->conn);
}

/* ---- routing ---- */

enum MHD_Result api_method_not_allowed(struct api_req *req, const char *allow)
{
    req->allow = allow; /* api_reply_json puts it in Allow */
    return api_reply_error(req, 405, "method_not_allowed",
                           "%s is not allowed here; allowed: %s", req->method,
                           allow);
}

static int is(const struct api_req *req, const char *method)
{
    return strcmp(req->method, method) == 0;
}

static enum MHD_Result health(struct api_req *req, const char *what)
{
    struct api *api = req->api;

    if (!is(req, "GET") && !is(req, "HEAD"))
        return api_method_not_allowed(req, "GET, HEAD");
    if (strcmp(what, "healthz") == 0)
        return api_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
    if (strcmp(what, "readyz") == 0) {
        int ready = api_producer_ready(api->producer) && !api->stopping;
        return api_reply_json(
            req, ready ? 200 : 503,
            json_pack("{s:s, s:b}", "status", ready ? "ready" : "unavailable",
                      "kafka", api_producer_ready(api->producer)));
    }
    size_t len;
    char *text = of_metrics_render(api->metrics, &len);
    if (!text)
        return MHD_NO;
    return reply_text(req, 200, "text/plain; version=0.0.4", text, len);
}

/* Splits "/v1/users/42/orders" into at most 5 segments. */
static int split(char *path, char **seg, int max)
{
    int n = 0;

    for (char *save = NULL, *t = strtok_r(path, "/", &save); t;
         t = strtok_r(NULL, "/", &save)) {
        if (n == max)
            return -1;
        seg[n++] = t;
    }
    return n;
}

static int content_type_ok(struct api_req *req);

json_t *api_parse_body(struct api_req *req, enum MHD_Result *ret)
{
    json_error_t jerr;
    json_t *body;

    if (req->body_len > 0 && !content_type_ok(req)) {
        *ret = api_reply_error(req, 415, "unsupported_media_type",
                               "Content-Type must be application/json "
                               "(UTF-8)");
        return NULL;
    }
    body = json_loadb(req->body ? req->body : "", req->body_len,
                      JSON_REJECT_DUPLICATES, &jerr);
    if (!body)
        *ret = api_reply_error(req, 400, "invalid_json",
                               "request body is not valid JSON: %s (at "
                               "position %d)",
                               jerr.text, jerr.position);
    return body;
}

/* The body of a contract write: a JSON object; an empty one is {} unless
 * \p required. @returns it, or NULL with the 4xx queued in \p ret. */
static json_t *parse_body(struct api_req *req, int required,
                          enum MHD_Result *ret)
{
    json_t *body;

    if (req->body_len == 0 && !required)
        return json_object();
    body = api_parse_body(req, ret);
    if (body && !json_is_object(body)) {
        json_decref(body);
        *ret = api_reply_error(req, 400, "invalid_json",
                               "request body must be a JSON object");
        return NULL;
    }
    return body;
}

static enum MHD_Result route_users(struct api_req *req, char **seg, int n)
{
    enum MHD_Result ret = MHD_NO;
    int64_t id = 0;
    json_t *body;

    if (n == 2) {
        if (!is(req, "POST"))
            return api_method_not_allowed(req, "POST");
        req->route = "/v1/users";
        body = parse_body(req, 1, &ret);
        if (!body)
            return ret;
        ret = api_post_user(req, body);
        json_decref(body);
        return ret;
    }
    if (!of_parse_id(seg[2], &id) || n > 4)
        return api_reply_error(req, 404, "not_found", "no such resource");
    if (n == 3) {
        req->route = "/v1/users/{id}";
        return is(req, "GET") ? api_get_user(req, id)
                              : api_method_not_allowed(req, "GET");
    }
    if (strcmp(seg[3], "orders") == 0) {
        req->route = "/v1/users/{id}/orders";
        return is(req, "GET") ? api_get_user_orders(req, id)
                              : api_method_not_allowed(req, "GET");
    }
    if (strcmp(seg[3], "ban") != 0 && strcmp(seg[3], "unban") != 0)
        return api_reply_error(req, 404, "not_found", "no such resource");
    req->route = seg[3][0] == 'b' ? "/v1/users/{id}/ban"
                                  : "/v1/users/{id}/unban";
    if (!is(req, "POST"))
        return api_method_not_allowed(req, "POST");
    body = parse_body(req, 0, &ret);
    if (!body)
        return ret;
    ret = api_post_user_ban(req, id, seg[3][0] == 'b');
    json_decref(body);
    return ret;
}

static enum MHD_Result route_orders(struct api_req *req, char **seg, int n)
{
    static const char *const actions[] = {"pay", "refund", "cancel"};
    static const enum of_order_cmd_type types[] = {OF_PAY_ORDER,
                                                   OF_REFUND_ORDER,
                                                   OF_CANCEL_ORDER};
    enum MHD_Result ret = MHD_NO;
    int64_t id = 0;
    json_t *body;

    if (n == 2) {
        if (!is(req, "POST"))
            return api_method_not_allowed(req, "POST");
        req->route = "/v1/orders";
        body = parse_body(req, 1, &ret);
        if (!body)
            return ret;
        ret = api_post_order(req, body);
        json_decref(body);
        return ret;
    }
    if (!of_parse_id(seg[2], &id) || n > 4)
        return api_reply_error(req, 404, "not_found", "no such resource");
    if (n == 3) {
        req->route = "/v1/orders/{id}";
        return is(req, "GET") ? api_get_order(req, id)
                              : api_method_not_allowed(req, "GET");
    }
    for (int i = 0; i < 3; i++) {
        if (strcmp(seg[3], actions[i]) != 0)
            continue;
        req->route = i == 0 ? "/v1/orders/{id}/pay"
                     : i == 1 ? "/v1/orders/{id}/refund"
                              : "/v1/orders/{id}/cancel";
        if (!is(req, "POST"))
            return api_method_not_allowed(req, "POST");
        body = parse_body(req, 0, &ret);
        if (!body)
            return ret;
        ret = api_post_order_action(req, id, types[i], body);
        json_decref(body);
        return ret;
    }
    return api_reply_error(req, 404, "not_found", "no such resource");
}

static int count_idempotency_key(void *cls,
                                 enum MHD_ValueKind kind,
                                 const char *key,
                                 const char *value)
{
    int *n = cls;
    (void)kind;
    (void)value;

    if (strcasecmp(key, "Idempotency-Key") == 0)
        (*n)++;
    return MHD_YES;
}

/* Idempotency-Key (CONTRACT §3): once, 1 to 255 printable ASCII characters.
 * @returns 1 if absent or well-formed; else the 400 has been queued. */
static int idempotency_key_ok(struct api_req *req, enum MHD_Result *ret)
{
    const char *key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                  "Idempotency-Key");
    size_t n = 0;
    int count = 0;

    if (!key)
        return 1;
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND,
                              (MHD_KeyValueIterator)count_idempotency_key,
                              &count);
    while ((unsigned char)key[n] >= 0x20 && (unsigned char)key[n] <= 0x7e)
        n++;
    if (count == 1 && n > 0 && n <= 255 && key[n] == '\0')
        return 1;
    *ret = api_reply_error(req, 400, "validation_failed",
                           "Idempotency-Key must be given once, as 1 to 255 "
                           "printable ASCII characters");
    return 0;
}

static enum MHD_Result route(struct api_req *req)
{
    char path[512], *seg[6];
    int n;

    snprintf(path, sizeof(path), "%s", req->url);
    n = split(path, seg, 5);
    req->route = "other";
    if (n == 1 && (strcmp(seg[0], "healthz") == 0 ||
                   strcmp(seg[0], "readyz") == 0 ||
                   strcmp(seg[0], "metrics") == 0)) {
        req->route = strcmp(seg[0], "healthz") == 0   ? "/healthz"
                     : strcmp(seg[0], "readyz") == 0 ? "/readyz"
                                                     : "/metrics";
        return health(req, seg[0]);
    }
    /* the admin panel's static files: no credentials needed to fetch
     * them, every call they make goes to /v1/admin/... with a token */
    if (n >= 1 && strcmp(seg[0], "admin") == 0) {
        req->route = "/admin";
        return api_admin_ui(req, req->url);
    }
    /* strict paths: no trailing slash, no empty segment (%00 cuts the
     * decoded path short, which must not land on another route) */
    if (n < 2 || strcmp(seg[0], "v1") != 0 ||
        req->url[strlen(req->url) - 1] == '/' || strstr(req->url, "//"))
        return api_reply_error(req, 404, "not_found", "no such resource");
    if (n == 2 && strcmp(seg[1], "openapi.json") == 0) {
        req->route = "/v1/openapi.json";
        return is(req, "GET") || is(req, "HEAD")
                   ? api_openapi(req)
                   : api_method_not_allowed(req, "GET, HEAD");
    }
    if (strcmp(seg[1], "users") == 0 || strcmp(seg[1], "orders") == 0 ||
        strcmp(seg[1], "commands") == 0 || strcmp(seg[1], "admin") == 0) {
        enum MHD_Result ret;
        if (api_authenticate(req, &ret) != OF_OK ||
            api_rate_limited(req, &ret) ||
            (is(req, "POST") && !idempotency_key_ok(req, &ret)))
            return ret;
    }
    if (strcmp(seg[1], "users") == 0)
        return route_users(req, seg, n);
    if (strcmp(seg[1], "orders") == 0)
        return route_orders(req, seg, n);
    if (strcmp(seg[1], "admin") == 0)
        return api_admin_route(req, seg, n);
    if (strcmp(seg[1], "commands") == 0 && n == 3) {
        req->route = "/v1/commands/{id}";
        return is(req, "GET") ? api_get_command(req, seg[2])
                              : api_method_not_allowed(req, "GET");
    }
    return api_reply_error(req, 404, "not_found", "no such resource");
}

/* ---- request lifecycle ---- */

/* JSON bodies only; a charset, if given, must be UTF-8 */
static int content_type_ok(struct api_req *req)
{
    const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 "Content-Type");
    const char *cs;

    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return 0;
    cs = strcasestr(ct, "charset=");
    if (!cs)
        return 1;
    cs += 8;
    if (*cs == '"')
        cs++;
    return strncasecmp(cs, "utf-8", 5) == 0;
}

static void trace_id_init(struct api_req *req)
{
    /* W3C traceparent "00-<32 hex trace id>-<16 hex>-<2 hex>" if given */
    const char *tp = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                 "traceparent");
    char uuid[OF_UUID_STR];
    int n = 0;

    if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-') {
        for (n = 0; n < 32 && strchr("0123456789abcdef", tp[3 + n]); n++)
            ;
    }
    if (n == 32) {
        memcpy(req->trace_id, tp + 3, 32);
        req->trace_id[32] = '\0';
        return;
    }
    of_uuid_v4(uuid);
    for (int i = 0, o = 0; uuid[i]; i++) {
        if (uuid[i] != '-')
            req->trace_id[o++] = uuid[i];
    }
    req->trace_id[32] = '\0';
}

/* What can be judged from the headers alone, before any body is read. */
static int
early_answer(struct api_req *req, const char *url, enum MHD_Result *ret)
{
    const char *te = MHD_lookup_connection_value(
        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl = MHD_lookup_connection_value(
        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const union MHD_ConnectionInfo *hs = MHD_get_connection_info(
        req->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    const struct api_conn *c = conn_of(req->conn);

    /* Shutting down: MHD_quiesce_daemon() stops new connections, not new
     * requests on kept-alive ones. Such a request must not be suspended
     * (waiting for Kafka) once drain() has seen no request in flight:
     * MHD_stop_daemon() aborts the process on a suspended connection. The
     * counter is raised before this test and drain() sets stopping before
     * it reads the counter, so one of the two always sees the other. */
    if (req->api->stopping) {
        *ret = api_reply_error(req, 503, "unavailable",
                               "the server is shutting down; retry");
        return 1;
    }
    if (strlen(url) >= sizeof(req->url) ||
        (c && c->uri_len > API_MAX_URI_BYTES)) {
        *ret = api_reply_error(req, 414, "uri_too_long",
                               "the path is longer than %zu bytes or the URI "
                               "longer than %d",
                               sizeof(req->url) - 1, API_MAX_URI_BYTES);
        return 1;
    }
    if (hs && hs->header_size > API_MAX_HEADER_BYTES) {
        *ret = api_reply_error(req, 431, "header_too_large",
                               "the request line and headers are larger "
                               "than %d bytes",
                               API_MAX_HEADER_BYTES);
        return 1;
    }
    if (te && strcasecmp(te, "chunked") != 0) {
        *ret = api_reply_error(req, 400, "bad_request",
                               "Transfer-Encoding \"%s\" is not supported", te);
        return 1;
    }
    if (cl && strtoull(cl, NULL, 10) >
                  (unsigned long long)req->api->cfg->api.max_body_bytes) {
        *ret = api_reply_error(req, 413, "body_too_large",
                               "request body is larger than %d bytes",
                               req->api->cfg->api.max_body_bytes);
        return 1;
    }
    return 0;
}

static int append_body(struct api_req *req, const char *data, size_t len)
{
    size_t max = (size_t)req->api->cfg->api.max_body_bytes;

    if (req->too_large || req->body_len + len > max) {
        req->too_large = 1;
        return 0;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        size_t cap = req->body_cap ? req->body_cap * 2 : 1024;
        while (cap < req->body_len + len + 1)
            cap *= 2;
        char *b = realloc(req->body, cap);
        if (!b)
            return -1;
        req->body = b;
        req->body_cap = cap;
    }
    memcpy(req->body + req->body_len, data, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return 0;
}

static enum MHD_Result final_call(struct api_req *req)
{
    if (req->suspended) {
        req->suspended = 0;
        return api_answer_publish(req);
    }
    if (req->too_large)
        return api_reply_error(req, 413, "body_too_large",
                               "request body is larger than %d bytes",
                               req->api->cfg->api.max_body_bytes);
    return route(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct api *api = cls;
    struct api_req *req = *con_cls;
    enum MHD_Result ret;
    (void)version;

    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->api = api;
        req->conn = conn;
        req->method = method;
        req->route = "other";
        req->started_us = of_time_now_us();
        snprintf(req->url, sizeof(req->url), "%s", url);
        *con_cls = req;
        api->inflight++;
        trace_id_init(req);
        if (early_answer(req, url, &ret)) {
            set_deadline(api, conn, 0); /* answered: no more to wait for */
            return ret;
        }
        return MHD_YES;
    }
    if (req->answered) {
        *upload_data_size = 0; /* answered from the headers: drop the body */
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (append_body(req, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    set_deadline(api, conn, 0); /* the request is in: ours from here */
    return final_call(req);
}

/* The access log: one info line per write, with its command id, and a
 * debug line per read (health probes and reads would drown the writes).
 * Only the route template and a checked method are logged, never the raw
 * URL: what a client sends must not be able to forge a log line. */
static void log_request(const struct api_req *req)
{
    int is_write = strcmp(req->method, "POST") == 0;
    const char *method = req->method;

    if ((is_write ? OF_LOG_INFO : OF_LOG_DEBUG) < of_log_min_level)
        return;
    if (strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method) ||
        strlen(method) > 16)
        method = "?";
    of_log_set_trace(req->trace_id);
    of_log(is_write ? OF_LOG_INFO : OF_LOG_DEBUG,
           "%s %s status=%d duration_ms=%.1f%s%s%s%s", method, req->route,
           req->answered,
           (double)(of_time_now_us() - req->started_us) / 1e3,
           req->command_id[0] ? " command_id=" : "", req->command_id,
           req->who.id[0] ? " principal=" : "", req->who.id);
    of_log_set_trace(NULL);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct api *api = cls;
    struct api_req *req = *con_cls;
    char status[8];
    (void)toe;

    set_deadline(api, conn, deadline_in(api, 1)); /* keep-alive: idle */
    if (!req)
        return;
    snprintf(status, sizeof(status), "%d", req->answered);
    log_request(req);
    const char *labels[] = {req->route, status};
    of_metrics_add(of_metrics_series(api->m_requests, labels), 1);
    const char *route[] = {req->route};
    of_metrics_observe(of_metrics_series(api->m_latency, route),
                       (double)(of_time_now_us() - req->started_us) / 1e6);
    free(req->body);
    free(req);
    *con_cls = NULL;
    api->inflight--;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    of_warn("libmicrohttpd: %s", msg);
}

/* Reads a PEM file into a malloc()ed string. @returns NULL with err. */
static char *read_pem(const char *path, struct of_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (!f) {
        of_err_set(err, OF_EFATAL, "could not open \"%s\": %s", path,
                   strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1048576 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = calloc(1, (size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    if (!buf)
        of_err_set(err, OF_EFATAL, "could not read \"%s\"", path);
    return buf;
}

/* HTTPS through libmicrohttpd's GnuTLS when [api] tls_cert_file and
 * tls_key_file are set: fills two option items. @returns count, or -1. */
static int tls_options(struct api *api, struct MHD_OptionItem *o,
                       unsigned *flags, struct of_err *err)
{
    const struct of_config *cfg = api->cfg;

    if (!cfg->api.tls_cert_file[0] && !cfg->api.tls_key_file[0])
        return 0;
    if (!cfg->api.tls_cert_file[0] || !cfg->api.tls_key_file[0])
        return of_err_set(err, OF_EFATAL, "[api] tls_cert_file and "
                                          "tls_key_file go together"),
               -1;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return of_err_set(err, OF_EFATAL, "this libmicrohttpd has no TLS"),
               -1;
    api->tls_cert = read_pem(cfg->api.tls_cert_file, err);
    api->tls_key = api->tls_cert ? read_pem(cfg->api.tls_key_file, err) : NULL;
    if (!api->tls_key)
        return -1;
    *flags |= MHD_USE_TLS;
    o[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                   api->tls_cert};
    o[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, api->tls_key};
    return 2;
}

int api_http_start(struct api *api, struct of_err *err)
{
    const struct of_config *cfg = api->cfg;
    struct sockaddr_in addr = {0};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};

    if (pthread_key_create(&api->conn_key, thread_conns_free) != 0 ||
        pthread_mutex_init(&api->conns_lock, NULL) != 0)
        return of_err_set(err, OF_EFATAL,
                          "could not make a thread key or lock");
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->api.port);
    if (inet_pton(AF_INET, cfg->api.listen_address, &addr.sin_addr) != 1)
        return of_err_set(err, OF_EFATAL,
                          "[api] listen_address \"%s\" is not an IPv4 address",
                          cfg->api.listen_address);
    int n = tls_options(api, tls, &flags, err);
    if (n < 0)
        return OF_EFATAL;
    tls[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    api->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->api.port, NULL, NULL, on_request, api,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first, as MHD wants */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->api.connection_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg->api.per_ip_connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->api.connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MHD_POOL_BYTES,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, api,
        MHD_OPTION_URI_LOG_CALLBACK, on_request_line, api,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, api, MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!api->mhd)
        return of_err_set(err, OF_EFATAL,
                          "could not listen on %s:%d (in use, no permission, "
                          "or a bad TLS certificate or key)",
                          cfg->api.listen_address, cfg->api.port);
    return OF_OK;
}

void api_http_stop(struct api *api)
{
    if (api->mhd)
        MHD_stop_daemon(api->mhd);
    api->mhd = NULL;
    free(api->tls_cert);
    free(api->tls_key);
    api->tls_cert = api->tls_key = NULL;
}
