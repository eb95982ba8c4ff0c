/*
 * api_commands: what every write shares — Idempotency-Key, Prefer: wait,
 * the answer after the delivery report — and GET /v1/commands/{id}.
 *
 * Idempotency (IETF idempotency-key draft, Stripe): the record lives in
 * Redis as orderflow:idem:<sha256(principal, key)> = "inflight|<body hash>"
 * (SET NX, [api] idempotency_ttl_s), later "done|<body hash>|<status>|<body>",
 * the body hash being of_idem_fingerprint(): blind to blanks and key order.
 * A second request with the same key replays the first answer, or gets 409
 * while the first is in flight, or 422 for another body. The command id of
 * such a request is a UUIDv5 of principal and key, so a lost record (Redis
 * down, flushed) still cannot make a second command: the worker's dedupe
 * row catches the repeat. 503 and 504 answers drop the record: retrying
 * with the same key is the documented way out, and yields the same id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/sha.h>

#include "api.h"
#include "of_idem.h"
#include "of_log.h"
#include "of_uuid.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void api_actor(const struct api_req *req, struct of_actor *actor)
{
    snprintf(actor->id, sizeof(actor->id), "%s", req->who.id);
    actor->role = req->who.role;
}

static int parse_prefer(struct api_req *req)
{
    const char *prefer =
        MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Prefer");
    const char *w = prefer ? strcasestr(prefer, "wait=") : NULL;
    long n;

    if (!w)
        return 0;
    n = strtol(w + 5, NULL, 10);
    if (n < 0)
        n = 0;
    return n > 30 ? 30 : (int)n;
}

/* Replays a stored answer "done|hash|status|body". */
static enum MHD_Result replay(struct api_req *req, const char *rec)
{
    const char *p = rec + 5 + 64 + 1;
    unsigned status = (unsigned)strtoul(p, NULL, 10);
    const char *body = strchr(p, '|');
    json_t *json = body ? json_loads(body + 1, 0, NULL) : NULL;
    json_t *cid = json ? json_object_get(json, "command_id") : NULL;

    if (!json || status < 200 || status > 599)
        return api_reply_error(req, 500, "internal",
                               "stored idempotent answer is unreadable");
    if (json_is_string(cid))
        snprintf(req->command_id, sizeof(req->command_id), "%s",
                 json_string_value(cid));
    return api_reply_json(req, status, json);
}

/* @returns 1 to go on (the record is ours now, or Redis is away) */
static int idempotency_claim(struct api_req *req, const char *key,
                             enum MHD_Result *ret)
{
    char name[600], value[80];
    unsigned char h[32];
    struct of_err err;
    const char *ttl_s;
    char ttl[16];
    redisReply *reply;

    snprintf(name, sizeof(name), "%s\n%s", req->who.id, key);
    of_uuid_v5(req->command_id, name, strlen(name));
    SHA256((const unsigned char *)name, strlen(name), h);
    memcpy(req->idem_key, "orderflow:idem:", 15);
    hex(h, 32, req->idem_key + 15);
    snprintf(value, sizeof(value), "inflight|%s", req->body_hash);
    /* The in-flight mark is a lease, not the record: if this process dies
     * before it answers, the client's retry must get through once this
     * request (produce timeout plus its Prefer wait) is surely over, not in
     * 24 h. A retry that overlaps a slow original is still harmless: both
     * carry the same UUIDv5 command id. */
    snprintf(ttl, sizeof(ttl), "%d",
             req->api->cfg->api.produce_timeout_ms / 1000 + req->wait_s + 5);
    ttl_s = ttl;
    const char *set[] = {"SET", req->idem_key, value, "NX", "EX", ttl_s};
    reply = of_redis_command(api_redis(req->api), 6, set, NULL, &err);
    if (!reply) {
        /* no record; the UUIDv5 id still makes a repeat harmless */
        of_warn("idempotency record not written: %s", err.msg);
        req->idem_key[0] = '\0';
        return 1;
    }
    int claimed = reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(reply);
    if (claimed)
        return 1;
    const char *get[] = {"GET", req->idem_key};
    reply = of_redis_command(api_redis(req->api), 2, get, NULL, &err);
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        if (reply)
            freeReplyObject(reply);
        req->idem_key[0] = '\0';
        return 1; /* expired in between: go on without a record */
    }
    const char *rec = reply->str;
    int inflight = strncmp(rec, "inflight|", 9) == 0;
    const char *hash = rec + (inflight ? 9 : 5);
    req->idem_key[0] = '\0'; /* not ours: never touch it */
    if (strlen(hash) < 64 || strncmp(hash, req->body_hash, 64) != 0)
        *ret = api_reply_error(req, 422, "idempotency_key_reused",
                               "this Idempotency-Key was used with another "
                               "request");
    else if (inflight)
        *ret = api_reply_error(req, 409, "idempotency_key_in_flight",
                               "a request with this Idempotency-Key is still "
                               "in progress");
    else
        *ret = replay(req, rec);
    freeReplyObject(reply);
    return 0;
}

int api_write_begin(struct api_req *req, enum MHD_Result *ret)
{
    const char *key = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
                                                  "Idempotency-Key");

    req->wait_s = parse_prefer(req);
    if (!key) {
        of_uuid_v4(req->command_id);
        return 1;
    }
    /* its form (given once, 1 to 255 printable ASCII) was checked with the
     * headers, before the body was read (api_http.c) */
    of_idem_fingerprint(req->method, req->url, req->body, req->body_len,
                        req->body_hash);
    return idempotency_claim(req, key, ret);
}

/* Stores the answer for later replays, or drops the record. */
static void idempotency_finish(struct api_req *req, unsigned status,
                               json_t *body)
{
    struct of_err err;
    redisReply *reply;
    char ttl[16];

    if (!req->idem_key[0])
        return;
    if (status == 503 || status == 504) {
        const char *del[] = {"DEL", req->idem_key};
        reply = of_redis_command(api_redis(req->api), 2, del, NULL, &err);
    } else {
        char *text = json_dumps(body, JSON_COMPACT);
        size_t n = strlen(req->body_hash) + (text ? strlen(text) : 0) + 32;
        char *rec = malloc(n);
        snprintf(rec, n, "done|%s|%u|%s", req->body_hash, status,
                 text ? text : "{}");
        snprintf(ttl, sizeof(ttl), "%d", req->api->cfg->api.idempotency_ttl_s);
        const char *set[] = {"SET", req->idem_key, rec, "EX", ttl};
        reply = of_redis_command(api_redis(req->api), 5, set, NULL, &err);
        free(rec);
        free(text);
    }
    if (reply)
        freeReplyObject(reply);
}

static enum MHD_Result answer(struct api_req *req, unsigned status,
                              json_t *body)
{
    idempotency_finish(req, status, body);
    return api_reply_json(req, status, body);
}

/* Command status from Redis, else MySQL. @returns 1 if found. */
static int load_cmd(struct api_req *req, const char *id,
                    struct of_cmd_status *c)
{
    struct of_err err;
    int found = 0;

    if (of_model_redis_get_cmd(api_redis(req->api), id, c, &found, &err) ==
            OF_OK &&
        found && c->status != OF_CMD_ACCEPTED)
        return 1;
    int in_redis = found;
    struct of_db *db = api_db(req->api, &err);
    if (db && of_model_db_get_cmd(db, id, c, &found, &err) == OF_OK && found)
        return 1;
    if (db && err.rc == OF_EAGAIN)
        api_db_reset(req->api);
    if (in_redis)
        return of_model_redis_get_cmd(api_redis(req->api), id, c, &found,
                                      &err) == OF_OK &&
               found;
    return 0;
}

static json_t *accepted_body(struct api_req *req)
{
    return json_pack("{s:s, s:s}", "command_id", req->command_id, "status",
                     "accepted");
}

/* The answer to a waited-for command that has completed. */
static enum MHD_Result outcome(struct api_req *req,
                               const struct of_cmd_status *c)
{
    int found = 0;
    int64_t version = 0;

    if (c->status == OF_CMD_REJECTED)
        return answer(req, 409,
                      json_pack("{s:{s:s, s:s}, s:s}", "error", "code",
                                c->error_code, "message", c->error_message,
                                "command_id", c->command_id));
    if (strcmp(c->resource_type, "user") == 0) {
        struct of_user u;
        if (api_load_user(req, c->resource_id, &u, &version, &found) == OF_OK &&
            found)
            return answer(req, req->create ? 201 : 200,
                          of_user_json(&u, version));
    } else {
        struct of_order o;
        if (api_load_order(req, c->resource_id, &o, &version, &found) ==
                OF_OK &&
            found)
            return answer(req, req->create ? 201 : 200,
                          of_order_json(&o, version));
    }
    return answer(req, 202, accepted_body(req));
}

enum MHD_Result api_answer_publish(struct api_req *req)
{
    struct of_cmd_status c;

    switch ((int)req->publish) { /* one atomic load */
    case API_PUB_NOT_PERSISTED:
        return answer(req, 503,
                      json_pack("{s:{s:s, s:s}}", "error", "code",
                                "unavailable", "message",
                                "the command was not stored; retrying is "
                                "safe"));
    case API_PUB_POSSIBLY_PERSISTED:
        return answer(req, 504,
                      json_pack("{s:{s:s, s:s}, s:s}", "error", "code",
                                "outcome_unknown", "message",
                                "Kafka did not confirm the command in time; "
                                "it may still be applied. Retry with the same "
                                "Idempotency-Key",
                                "command_id", req->command_id));
    default:
        break;
    }
    /* acked: its "accepted" status is in Redis already (written with its
     * delivery report's batch, api_publish.c) */
    if (!req->waited && req->wait_s > 0 && !req->api->stopping) {
        req->deadline_us = of_time_now_us() + req->wait_s * 1000000LL;
        api_suspend(req);
        api_wait_add(req->api->waiters, req);
        return MHD_YES; /* back here, waited, when the waiter lets go */
    }
    /* answered now, once: 202, or the waited outcome */
    atomic_fetch_add_explicit(&req->api->accepted, 1, memory_order_relaxed);
    if (req->waited && load_cmd(req, req->command_id, &c) &&
        c.status != OF_CMD_ACCEPTED)
        return outcome(req, &c);
    return answer(req, 202, accepted_body(req));
}

enum MHD_Result api_get_command(struct api_req *req, const char *id)
{
    struct of_cmd_status c;

    if (!of_uuid_valid(id) || !load_cmd(req, id, &c))
        return api_reply_error(req, 404, "not_found", "no such command");
    if (req->who.role != OF_ROLE_ADMIN && strcmp(c.actor_id, req->who.id) != 0)
        return api_reply_error(req, 403, "forbidden",
                               "this command was sent by someone else");
    return api_reply_json(req, 200, of_cmd_status_json(&c));
}
