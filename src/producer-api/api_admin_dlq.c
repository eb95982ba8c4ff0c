/*
 * /v1/admin/dead-letters: the dead-letter topic from the admin panel, with
 * the semantics of `orderflowctl dlq list` and `dlq redrive` (of_dlq.h has
 * both, parked keys included):
 * - GET /v1/admin/dead-letters?limit= (1..500, default 50): 200
 *   {"dead_letters": [...]}, the oldest first;
 * - POST /v1/admin/dead-letters/redrive {"partition": P, "offset": O} or
 *   {"all": true}: 200 {"redriven": N}; 404 when there is no dead letter
 *   at P:O.
 * api_admin.c has checked the admin role.
 *
 * Each request makes its own Kafka clients (and MySQL connection, for a
 * parked key) and waits at most about DLQ_BUDGET_MS on this libmicrohttpd
 * thread: admin calls are rare, and a long-lived consumer would only hold
 * a connection per thread for them. Kafka not answering within the budget
 * is a 503 unavailable. A redrive that failed in part (503) may have sent
 * some dead letters: sending one again is harmless (the worker dedupes),
 * and a large "all" is a job for `orderflowctl dlq redrive --all`, which
 * has no deadline.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "of_dlq.h"
#include "of_log.h"

#define DLQ_BUDGET_MS     5000
#define DLQ_LIMIT_DEFAULT 50
#define DLQ_LIMIT_MAX     500

static void note(void *arg, const char *msg)
{
    const struct api_req *req = arg;

    of_warn("dead-letter redrive by %s: %s", req->who.id, msg);
}

static struct of_dlq_opts dlq_opts(struct api_req *req)
{
    return (struct of_dlq_opts){
        .request_ms = DLQ_BUDGET_MS,
        .idle_ms = DLQ_BUDGET_MS,
        .flush_ms = DLQ_BUDGET_MS,
        .deadline_us = of_time_mono_us() + (int64_t)DLQ_BUDGET_MS * 1000,
        .client = "orderflow-api-dlq",
        .note = note,
        .note_arg = req,
    };
}

static enum MHD_Result list(struct api_req *req)
{
    static const char *const params[] = {"limit", NULL};
    struct of_dlq_opts opts = dlq_opts(req);
    enum MHD_Result ret;
    struct of_err err;
    json_t *letters = NULL;
    int limit, rc;

    if (!api_admin_params_ok(req, params, &ret) ||
        !api_admin_limit(req, DLQ_LIMIT_DEFAULT, DLQ_LIMIT_MAX, &limit, &ret))
        return ret;
    rc = of_dlq_list(req->api->cfg, req->api->avro, 0, limit, &opts, &letters,
                     &err);
    if (rc == OF_EINVAL) /* no dead-letter topic: nothing was dead-lettered */
        letters = json_array();
    else if (rc != OF_OK) {
        of_warn("GET /v1/admin/dead-letters: %s", err.msg);
        return api_reply_error(req, 503, "unavailable",
                               "could not read the dead letters: %s", err.msg);
    }
    return api_reply_json(req, 200,
                          json_pack("{s:o}", "dead_letters", letters));
}

/* The body's target. @returns 1, or 0 with the 4xx queued in \p ret. */
static int target(struct api_req *req, int *partition, int64_t *offset,
                  enum MHD_Result *ret)
{
    struct of_err err;
    json_t *body;
    int rc;

    /* checked before the body is parsed: an empty body is the client's
     * mistake of shape (of_dlq_redrive_target() also names a body that is
     * JSON but not an object), not of syntax */
    if (req->body_len == 0) {
        *ret = api_reply_error(req, 400, "validation_failed",
                               "the body must be {\"partition\": P, "
                               "\"offset\": O} or {\"all\": true}");
        return 0;
    }
    body = api_parse_body(req, ret);
    if (!body)
        return 0;
    rc = of_dlq_redrive_target(body, partition, offset, &err);
    json_decref(body);
    if (rc != OF_OK) {
        *ret = api_reply_error(req, 400, "validation_failed", "%s", err.msg);
        return 0;
    }
    return 1;
}

static enum MHD_Result redrive(struct api_req *req)
{
    static const char *const params[] = {NULL};
    struct of_dlq_opts opts = dlq_opts(req);
    struct of_dlq_redrive_stats st;
    enum MHD_Result ret;
    struct of_err err;
    int64_t offset;
    int partition, rc;

    if (!api_admin_params_ok(req, params, &ret) ||
        !target(req, &partition, &offset, &ret))
        return ret;
    rc = of_dlq_redrive(req->api->cfg, partition, offset, &opts, &st, &err);
    of_info("dead letters redriven by %s (%s): %ld sent, %ld failed, %ld "
            "skipped, %ld of %ld parked key(s) unparked",
            req->who.id, partition < 0 ? "all" : "one", st.redriven,
            st.failed, st.skipped, st.unparked, st.keys);
    if (rc == OF_EINVAL && partition < 0) /* no dead-letter topic */
        return api_reply_json(req, 200, json_pack("{s:i}", "redriven", 0));
    if (partition >= 0 &&
        (rc == OF_EINVAL ||
         (rc == OF_OK && st.redriven + st.failed + st.skipped == 0)))
        return api_reply_error(req, 404, "not_found",
                               "no dead letter at partition %d, offset %lld",
                               partition, (long long)offset);
    if (rc != OF_OK) {
        of_warn("POST /v1/admin/dead-letters/redrive: %s", err.msg);
        return api_reply_error(req, 503, "unavailable",
                               "could not redrive the dead letters (%ld sent "
                               "back before, %ld failed): %s",
                               st.redriven, st.failed, err.msg);
    }
    if (st.failed > 0)
        return api_reply_error(req, 503, "unavailable",
                               "%ld dead letter(s) could not be sent back "
                               "(%ld queued); see the API's log",
                               st.failed, st.redriven);
    return api_reply_json(
        req, 200, json_pack("{s:I}", "redriven", (json_int_t)st.redriven));
}

enum MHD_Result api_admin_dead_letters(struct api_req *req, char **seg, int n)
{
    if (n == 3) {
        req->route = "/v1/admin/dead-letters";
        return strcmp(req->method, "GET") == 0
                   ? list(req)
                   : api_method_not_allowed(req, "GET");
    }
    if (n == 4 && strcmp(seg[3], "redrive") == 0) {
        req->route = "/v1/admin/dead-letters/redrive";
        return strcmp(req->method, "POST") == 0
                   ? redrive(req)
                   : api_method_not_allowed(req, "POST");
    }
    return api_reply_error(req, 404, "not_found", "no such resource");
}
