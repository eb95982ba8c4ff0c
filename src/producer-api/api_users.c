/*
 * api_users: POST /v1/users, POST /v1/users/{id}/ban|unban,
 * GET /v1/users/{id}, GET /v1/users/{id}/orders (CONTRACT §3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "of_body.h"
#include "of_cursor.h"
#include "of_log.h"

static enum MHD_Result forbidden(struct api_req *req)
{
    return api_reply_error(req, 403, "forbidden",
                           "not allowed for this principal");
}

/* Encodes \p cmd and publishes it keyed by \p key. */
static enum MHD_Result publish_user_cmd(struct api_req *req,
                                        struct of_user_cmd *cmd,
                                        const char *key)
{
    struct of_err err;
    void *value = NULL;
    size_t len = 0;

    snprintf(cmd->command_id, sizeof(cmd->command_id), "%s", req->command_id);
    cmd->issued_at = req->started_us;
    api_actor(req, &cmd->actor);
    snprintf(cmd->trace_id, sizeof(cmd->trace_id), "%s", req->trace_id);
    if (of_avro_encode_user_cmd(req->api->avro, cmd, &value, &len, &err) !=
        OF_OK)
        return api_reply_error(req, 400, "validation_failed", "%s", err.msg);
    snprintf(req->resource_type, sizeof(req->resource_type), "user");
    api_publish(req, req->api->cfg->topics.user_commands, key, value, len,
                of_avro_user_cmd_type_name(cmd->type), &err);
    return MHD_YES;
}

enum MHD_Result api_post_user(struct api_req *req, json_t *body)
{
    struct of_user_cmd *cmd;
    struct of_err err;
    enum MHD_Result ret = MHD_NO;

    if (req->who.role == OF_ROLE_USER)
        return forbidden(req);
    cmd = calloc(1, sizeof(*cmd));
    if (!cmd)
        return MHD_NO;
    if (of_body_register_user(body, cmd, &err) != OF_OK) {
        ret = api_reply_error(req, 400, "validation_failed", "%s", err.msg);
        goto out;
    }
    req->create = 1;
    if (!api_write_begin(req, &ret))
        goto out;
    ret = publish_user_cmd(req, cmd, cmd->email);
out:
    free(cmd);
    return ret;
}

enum MHD_Result api_post_user_ban(struct api_req *req, int64_t id, int ban)
{
    struct of_user_cmd *cmd;
    enum MHD_Result ret = MHD_NO;
    char key[24];

    if (req->who.role != OF_ROLE_ADMIN)
        return forbidden(req);
    if (!api_write_begin(req, &ret))
        return ret;
    cmd = calloc(1, sizeof(*cmd));
    if (!cmd)
        return MHD_NO;
    cmd->type = ban ? OF_BAN_USER : OF_UNBAN_USER;
    cmd->user_id = id;
    req->resource_id = id;
    snprintf(key, sizeof(key), "%lld", (long long)id);
    ret = publish_user_cmd(req, cmd, key);
    free(cmd);
    return ret;
}

int api_load_user(struct api_req *req, int64_t id, struct of_user *u,
                  int64_t *version, int *found)
{
    struct of_err err;
    struct of_db *db;
    int rc;

    rc = of_model_redis_get_user(api_redis(req->api), id, u, version, found,
                                 &err);
    if (rc == OF_OK && *found)
        return OF_OK;
    db = api_db(req->api, &err);
    if (!db)
        return OF_EAGAIN;
    rc = of_model_db_get_user(db, id, u, version, found, &err);
    if (rc == OF_EAGAIN)
        api_db_reset(req->api);
    if (rc != OF_OK)
        of_warn("user %lld: %s", (long long)id, err.msg);
    return rc;
}

enum MHD_Result api_get_user(struct api_req *req, int64_t id)
{
    struct of_user *u;
    int64_t version = 0;
    int found = 0;
    enum MHD_Result ret;

    if (!api_may_act_for(req, id))
        return forbidden(req);
    u = malloc(sizeof(*u));
    if (!u)
        return MHD_NO;
    if (api_load_user(req, id, u, &version, &found) != OF_OK)
        ret = api_reply_error(req, 503, "unavailable",
                              "could not read the user; retry");
    else if (!found)
        ret = api_reply_error(req, 404, "not_found", "no such user");
    else
        ret = api_reply_json(req, 200, of_user_json(u, version));
    free(u);
    return ret;
}

/* ---- GET /v1/users/{id}/orders: newest first, keyset pagination ---- */

/* the HMAC key of this list's cursors (of_cursor.h) */
static const char *cursor_key(const struct api_req *req)
{
    const struct of_config *cfg = req->api->cfg;

    return cfg->auth.cursor_secret[0] ? cfg->auth.cursor_secret
                                      : cfg->auth.jwt_key;
}

/* A row of OF_MODEL_ORDER_SELECT; a row the contract does not allow is
 * left out, as GET /v1/orders/{id} answers 404 for it. */
static int order_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    json_t *orders = arg;
    struct of_order o;
    struct of_err err;
    int64_t version;
    (void)ncols;
    (void)lens;

    if (of_model_order_from_row(v, &o, &version, &err) != OF_OK) {
        of_warn("%s; left out of the list", err.msg);
        return 0;
    }
    json_array_append_new(orders, of_order_json(&o, version));
    return 0;
}

static int parse_limit(const char *s, int *limit)
{
    char *end;
    long v;

    if (!s) {
        *limit = 20;
        return 1;
    }
    v = strtol(s, &end, 10);
    if (!*s || *end || v < 1)
        return 0;
    *limit = v > 100 ? 100 : (int)v;
    return 1;
}

enum MHD_Result api_get_user_orders(struct api_req *req, int64_t id)
{
    const char *cur = MHD_lookup_connection_value(req->conn,
                                                  MHD_GET_ARGUMENT_KIND,
                                                  "cursor");
    int64_t after = INT64_MAX; /* the first page: below every order id */
    int limit;
    struct of_err err;
    struct of_db *db;
    json_t *orders;

    if (!api_may_act_for(req, id))
        return forbidden(req);
    if (!parse_limit(MHD_lookup_connection_value(req->conn,
                                                 MHD_GET_ARGUMENT_KIND,
                                                 "limit"),
                     &limit))
        return api_reply_error(req, 400, "validation_failed",
                               "limit: must be an integer from 1 to 100");
    if (cur && !of_cursor_parse(cursor_key(req), id, cur, &after))
        return api_reply_error(req, 400, "validation_failed",
                               "cursor: is not a cursor of this list");
    db = api_db(req->api, &err);
    if (!db)
        return api_reply_error(req, 503, "unavailable",
                               "could not read orders; retry");
    orders = json_array();
    /* one row more than asked tells whether a next page exists */
    if (of_db_query(db,
                    OF_MODEL_ORDER_SELECT
                    "WHERE user_id = ? AND order_id < ? "
                    "ORDER BY order_id DESC LIMIT ?",
                    (struct of_db_param[]){OF_DB_I(id), OF_DB_I(after),
                                           OF_DB_I(limit + 1)},
                    3, order_row, orders, &err) != OF_OK) {
        json_decref(orders);
        if (err.rc == OF_EAGAIN)
            api_db_reset(req->api);
        return api_reply_error(req, 503, "unavailable",
                               "could not read orders; retry");
    }
    json_t *next = json_null();
    if (json_array_size(orders) > (size_t)limit) {
        json_array_remove(orders, (size_t)limit);
        json_t *last = json_array_get(orders, (size_t)limit - 1);
        char c[OF_CURSOR_SIZE];
        int64_t last_id = json_integer_value(json_object_get(last, "order_id"));
        of_cursor_make(cursor_key(req), id, last_id, c);
        next = json_string(c);
    }
    return api_reply_json(req, 200,
                          json_pack("{s:o, s:o}", "orders", orders,
                                    "next_cursor", next));
}
