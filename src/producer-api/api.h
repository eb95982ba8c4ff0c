/*
 * orderflow-api internals, shared by the api_*.c files.
 *
 * Lifetimes (STYLE §4): struct api lives for the process (made in main(),
 * destroyed in reverse); struct api_req lives for one HTTP request, made on
 * libmicrohttpd's first call and freed in its request-completed callback,
 * with everything of the request hanging off it.
 *
 * A write request runs in three steps on libmicrohttpd threads: the handler
 * validates it and hands the command to the producer (api_publish), then
 * suspends the connection; the delivery report (producer poll thread)
 * writes the command's "accepted" status to Redis, fills req->publish and
 * resumes it; libmicrohttpd calls the handler again, which
 * answers (api_answer_publish). With "Prefer: wait=N" the waiter
 * (api_wait.c) holds the connection until the worker announces the outcome.
 */
#ifndef API_H
#define API_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>

#include "of_avro.h"
#include "of_config.h"
#include "of_db.h"
#include "of_jwt.h"
#include "of_metrics.h"
#include "of_model.h"
#include "of_redis.h"

struct api_waiters;
struct api_producer;
struct api_conn;

struct api {
    const struct of_config *cfg; /* borrowed from main() */
    struct of_jwt *jwt;
    struct of_jwt_cache *jwt_cache; /* verified bearer tokens (api_auth.c) */
    struct of_avro *avro;
    struct of_metrics *metrics;
    struct api_producer *producer;
    struct api_waiters *waiters;
    struct MHD_Daemon *mhd;
    char *tls_cert, *tls_key; /* PEM, kept while the daemon runs */
    pthread_key_t conn_key; /* per-thread Redis and MySQL connections */
    atomic_int inflight;    /* requests between first call and completion */
    atomic_int stopping;
    /* writes answered after Kafka acknowledged their command: 202, or with
     * Prefer: wait 200, 201 or 409 (api_answer_publish); accepted_total of
     * GET /v1/admin/stats */
    atomic_ullong accepted;
    struct of_metric *m_requests, *m_latency, *m_produce_errors;
    /* open connections and their request deadlines (api_http.c) */
    pthread_mutex_t conns_lock;
    struct api_conn *conns;
    struct of_metric *m_deadline_closed;
};

struct api_principal {
    enum of_role role;
    int64_t user_id;              /* JWT sub; 0 for an API key */
    char id[OF_ACTOR_ID_SIZE];    /* "user:42" or "apikey:ops" */
};

enum api_publish_state {
    API_PUB_NONE,
    API_PUB_PENDING, /* handed to librdkafka, connection suspended */
    API_PUB_ACKED,   /* the broker has it (acks=all) */
    API_PUB_NOT_PERSISTED, /* certainly not stored: 503 */
    API_PUB_POSSIBLY_PERSISTED, /* sent, no answer in time: 504 */
};

struct api_req {
    struct api *api;
    struct MHD_Connection *conn;
    const char *method;
    char url[512];
    int64_t started_us;
    const char *route; /* metrics label, static */
    const char *allow; /* the Allow header of a 405, static */
    char retry_after[16]; /* the Retry-After header of a 429 */
    /* body */
    char *body;
    size_t body_len, body_cap;
    int too_large;
    /* the answer, once known */
    int answered;
    /* publishing */
    _Atomic int publish; /* enum api_publish_state */
    char publish_error[128];
    char command_id[OF_UUID_SIZE];
    char resource_type[16];
    int64_t resource_id;
    int create;         /* a create: 201 when waited for */
    int wait_s;         /* Prefer: wait=N, 0 if none */
    int64_t deadline_us; /* of the wait */
    _Atomic int waited; /* the waiter let go of it */
    char idem_key[300]; /* Redis key of the idempotency record, "" if none */
    char body_hash[65];
    char trace_id[33];
    struct api_principal who;
    int suspended;
};

/* api_http.c */
int api_http_start(struct api *api, struct of_err *err);
void api_http_stop(struct api *api);
/**
 * @brief Shut down every connection whose request has not arrived in full
 *        within [api] request_deadline_s (slowloris); see api_http.c.
 * @locality the main thread, about every 100 ms while the daemon runs.
 */
void api_http_sweep(struct api *api);
/** @brief Queue \p body (taken) with \p status and the trace/extra headers. */
enum MHD_Result api_reply_json(struct api_req *req, unsigned status,
                               json_t *body);
/**
 * @brief Queue \p data (static, not copied: embedded files) with \p status,
 *        Content-Type \p type, the trace header, nosniff, and \p headers: a
 *        NULL-ended list of name, value, name, value... (may be NULL).
 */
enum MHD_Result api_reply_static(struct api_req *req, unsigned status,
                                 const char *type, const void *data,
                                 size_t len, const char *const *headers);
/** @brief The contract's error body {"error": {"code", "message"}}. */
enum MHD_Result api_reply_error(struct api_req *req, unsigned status,
                                const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** @brief 405 method_not_allowed with \p allow (static) as its Allow. */
enum MHD_Result api_method_not_allowed(struct api_req *req, const char *allow);
/**
 * @brief The request body as JSON, any value (duplicate keys refused).
 * @returns it (the caller's: json_decref), or NULL with the answer queued
 *          in \p ret: 415 unsupported_media_type when a non-empty body is
 *          not application/json (a charset, if given, UTF-8); 400
 *          invalid_json when it does not parse (an empty body does not).
 */
json_t *api_parse_body(struct api_req *req, enum MHD_Result *ret);
void api_suspend(struct api_req *req);
void api_resume(struct api_req *req);
/** @returns this thread's Redis / MySQL connection (made on first use). */
struct of_redis *api_redis(struct api *api);
/** @returns this thread's MySQL connection, or NULL with \p err. */
struct of_db *api_db(struct api *api, struct of_err *err);
/** @brief Drop this thread's MySQL connection after a transient error. */
void api_db_reset(struct api *api);

/* api_auth.c */
/**
 * @returns OF_OK with req->who set; otherwise the 401 has been queued.
 */
int api_authenticate(struct api_req *req, enum MHD_Result *ret);
/**
 * @returns 1 if req->who is over [api] rate_limit_per_s (the 429 has been
 *          queued), else 0.
 * @locality any libmicrohttpd thread.
 */
int api_rate_limited(struct api_req *req, enum MHD_Result *ret);
/** @returns 1 if req->who may act on user \p user_id (self, service, admin) */
int api_may_act_for(const struct api_req *req, int64_t user_id);

/* api_publish.c */
struct api_producer *api_producer_new(struct api *api, struct of_err *err);
void api_producer_destroy(struct api_producer *p);
/** @returns 1 while a broker answers metadata requests. */
int api_producer_ready(struct api_producer *p);
/** @brief Wait (at most \p timeout_ms) for outstanding deliveries. */
void api_producer_flush(struct api_producer *p, int timeout_ms);
/**
 * @brief Publish a command for \p req: encoded value, key, headers.
 * @returns OF_OK when queued (the connection is then suspended and resumed
 *          by the delivery report); OF_EAGAIN when the producer refused it
 *          (queue full, no producer): answer 503.
 */
int api_publish(struct api_req *req, const char *topic, const char *key,
                void *value, size_t value_len, const char *message_type,
                struct of_err *err);

/* api_commands.c: writes, idempotency, answers, GET /v1/commands */
/**
 * @brief The common head of every write: parse Prefer and Idempotency-Key,
 *        pick the command id, replay or refuse duplicates.
 * @returns 1 if the request goes on, 0 if an answer has been queued.
 */
int api_write_begin(struct api_req *req, enum MHD_Result *ret);
/** @brief Answer a write whose publish finished (after resume). */
enum MHD_Result api_answer_publish(struct api_req *req);
enum MHD_Result api_get_command(struct api_req *req, const char *id);
/** @returns the actor id string for the command envelope */
void api_actor(const struct api_req *req, struct of_actor *actor);

/* api_users.c / api_orders.c */
enum MHD_Result api_post_user(struct api_req *req, json_t *body);
enum MHD_Result api_post_user_ban(struct api_req *req, int64_t id, int ban);
enum MHD_Result api_get_user(struct api_req *req, int64_t id);
enum MHD_Result api_get_user_orders(struct api_req *req, int64_t id);
enum MHD_Result api_post_order(struct api_req *req, json_t *body);
enum MHD_Result api_post_order_action(struct api_req *req, int64_t id,
                                      enum of_order_cmd_type type,
                                      json_t *body);
enum MHD_Result api_get_order(struct api_req *req, int64_t id);
/** @brief Read an order (Redis, then MySQL); *found 0 if absent. */
int api_load_order(struct api_req *req, int64_t id, struct of_order *o,
                   int64_t *version, int *found);
int api_load_user(struct api_req *req, int64_t id, struct of_user *u,
                  int64_t *version, int *found);

/* api_admin.c: /v1/admin/... (admin role only; authenticated already) */
/**
 * @brief Answer /v1/admin/\p seg[2]/... (\p n segments, seg[0] "v1").
 */
enum MHD_Result api_admin_route(struct api_req *req, char **seg, int n);
/**
 * @returns 1 if every query parameter of \p req is one of \p allowed
 *          (NULL-ended; { NULL } for none) and is given once; else 0, with
 *          the 400 validation_failed naming it queued in \p ret.
 */
int api_admin_params_ok(struct api_req *req, const char *const *allowed,
                        enum MHD_Result *ret);
/** @returns query parameter \p name, NULL when absent or empty; borrowed,
 *           valid during the request. */
const char *api_admin_param(struct api_req *req, const char *name);
/**
 * @brief The "limit" parameter: \p def when absent, else 1..\p max.
 * @returns 1 with *\p limit, or 0 with the 400 queued in \p ret.
 */
int api_admin_limit(struct api_req *req, int def, int max, int *limit,
                    enum MHD_Result *ret);
/* api_admin_events.c: GET /v1/admin/users|orders/{id}/events */
/** @brief The outbox events of \p aggtype ("user" | "order") \p id. */
enum MHD_Result api_admin_events(struct api_req *req, const char *aggtype,
                                 int64_t id);
/* api_admin_stats.c: GET /v1/admin/stats */
enum MHD_Result api_admin_stats(struct api_req *req);
/**
 * @brief Destroy what GET /v1/admin/stats made on first use (its Kafka
 *        consumer handle); nothing if it never ran.
 * @locality main(), after api_http_stop(): no request may be running.
 */
void api_admin_stats_shutdown(struct api *api);

/* api_admin_dlq.c: /v1/admin/dead-letters[/redrive] (admin checked already) */
enum MHD_Result api_admin_dead_letters(struct api_req *req, char **seg, int n);

/* api_admin_ui.c: the admin panel's files under /admin (no auth) */
enum MHD_Result api_admin_ui(struct api_req *req, const char *path);

/* api_openapi.c: GET /v1/openapi.json (no auth) */
enum MHD_Result api_openapi(struct api_req *req);

/* api_wait.c: Prefer: wait=N */
struct api_waiters *api_waiters_new(struct api *api, struct of_err *err);
void api_waiters_destroy(struct api_waiters *w);
/** @brief Hold \p req (suspended) until its command completes or times out. */
void api_wait_add(struct api_waiters *w, struct api_req *req);
/** @brief Let every waiting request go now (shutdown). */
void api_wait_release_all(struct api_waiters *w);

#endif
