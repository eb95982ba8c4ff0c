/*
 * api_orders: POST /v1/orders, POST /v1/orders/{id}/pay|refund|cancel,
 * GET /v1/orders/{id} (CONTRACT §3).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "of_body.h"
#include "of_log.h"

static enum MHD_Result forbidden(struct api_req *req)
{
    return api_reply_error(req, 403, "forbidden",
                           "not allowed for this principal");
}

static enum MHD_Result publish_order_cmd(struct api_req *req,
                                         struct of_order_cmd *cmd,
                                         int64_t key_id)
{
    struct of_err err;
    void *value = NULL;
    size_t len = 0;
    char key[24];

    snprintf(cmd->command_id, sizeof(cmd->command_id), "%s", req->command_id);
    cmd->issued_at = req->started_us;
    api_actor(req, &cmd->actor);
    snprintf(cmd->trace_id, sizeof(cmd->trace_id), "%s", req->trace_id);
    if (of_avro_encode_order_cmd(req->api->avro, cmd, &value, &len, &err) !=
        OF_OK)
        return api_reply_error(req, 400, "validation_failed", "%s", err.msg);
    snprintf(req->resource_type, sizeof(req->resource_type), "order");
    snprintf(key, sizeof(key), "%lld", (long long)key_id);
    api_publish(req, req->api->cfg->topics.order_commands, key, value, len,
                of_avro_order_cmd_type_name(cmd->type), &err);
    return MHD_YES;
}

static int parse_create(struct api_req *req, json_t *body,
                        struct of_order_cmd *cmd, enum MHD_Result *ret)
{
    int needs_user = req->who.role != OF_ROLE_USER;
    int present;
    struct of_err err;

    if (of_body_create_order(body, needs_user, cmd, &present, &err) != OF_OK) {
        *ret = api_reply_error(req, 400, "validation_failed", "%s", err.msg);
        return 0;
    }
    if (!present)
        cmd->user_id = req->who.user_id;
    return 1;
}

enum MHD_Result api_post_order(struct api_req *req, json_t *body)
{
    struct of_order_cmd *cmd = calloc(1, sizeof(*cmd));
    enum MHD_Result ret = MHD_NO;

    if (!cmd)
        return MHD_NO;
    cmd->type = OF_CREATE_ORDER;
    if (!parse_create(req, body, cmd, &ret))
        goto out;
    if (!api_may_act_for(req, cmd->user_id)) {
        ret = forbidden(req);
        goto out;
    }
    req->create = 1;
    if (!api_write_begin(req, &ret))
        goto out;
    ret = publish_order_cmd(req, cmd, cmd->user_id);
out:
    free(cmd);
    return ret;
}

static int parse_action(struct api_req *req, json_t *body,
                        struct of_order_cmd *cmd, enum MHD_Result *ret)
{
    struct of_err err;

    if (of_body_order_action(body, cmd, &err) != OF_OK) {
        *ret = api_reply_error(req, 400, "validation_failed", "%s", err.msg);
        return 0;
    }
    return 1;
}

/* pay and refund: service or admin; cancel: the owner or an admin. */
static int may_act_on_order(struct api_req *req, struct of_order_cmd *cmd,
                            enum MHD_Result *ret)
{
    struct of_order o;
    int64_t version;
    int found = 0;

    if (req->who.role == OF_ROLE_ADMIN)
        return 1;
    if (cmd->type != OF_CANCEL_ORDER) {
        if (req->who.role == OF_ROLE_SERVICE)
            return 1;
        *ret = forbidden(req);
        return 0;
    }
    if (req->who.role != OF_ROLE_USER) {
        *ret = forbidden(req);
        return 0;
    }
    if (api_load_order(req, cmd->order_id, &o, &version, &found) != OF_OK) {
        *ret = api_reply_error(req, 503, "unavailable",
                               "could not read the order; retry");
        return 0;
    }
    if (!found) {
        *ret = api_reply_error(req, 404, "not_found", "no such order");
        return 0;
    }
    if (o.user_id != req->who.user_id) {
        *ret = forbidden(req);
        return 0;
    }
    return 1;
}

enum MHD_Result api_post_order_action(struct api_req *req, int64_t id,
                                      enum of_order_cmd_type type,
                                      json_t *body)
{
    struct of_order_cmd *cmd = calloc(1, sizeof(*cmd));
    enum MHD_Result ret = MHD_NO;

    if (!cmd)
        return MHD_NO;
    cmd->type = type;
    cmd->order_id = id;
    req->resource_id = id;
    if (!parse_action(req, body, cmd, &ret) ||
        !may_act_on_order(req, cmd, &ret) || !api_write_begin(req, &ret))
        goto out;
    ret = publish_order_cmd(req, cmd, id);
out:
    free(cmd);
    return ret;
}

int api_load_order(struct api_req *req, int64_t id, struct of_order *o,
                   int64_t *version, int *found)
{
    struct of_err err;
    struct of_db *db;
    int rc;

    rc = of_model_redis_get_order(api_redis(req->api), id, o, version, found,
                                  &err);
    if (rc == OF_OK && *found)
        return OF_OK;
    db = api_db(req->api, &err);
    if (!db)
        return OF_EAGAIN;
    rc = of_model_db_get_order(db, id, o, version, found, &err);
    if (rc == OF_EAGAIN)
        api_db_reset(req->api);
    if (rc != OF_OK)
        of_warn("order %lld: %s", (long long)id, err.msg);
    return rc;
}

enum MHD_Result api_get_order(struct api_req *req, int64_t id)
{
    struct of_order o;
    int64_t version = 0;
    int found = 0;

    if (api_load_order(req, id, &o, &version, &found) != OF_OK)
        return api_reply_error(req, 503, "unavailable",
                               "could not read the order; retry");
    if (!found)
        return api_reply_error(req, 404, "not_found", "no such order");
    if (req->who.role == OF_ROLE_USER && o.user_id != req->who.user_id)
        return api_reply_error(req, 403, "forbidden",
                               "this order belongs to someone else");
    return api_reply_json(req, 200, of_order_json(&o, version));
}
