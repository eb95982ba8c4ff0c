/*
 * GET /v1/admin/orders/{id}/events and /v1/admin/users/{id}/events: an
 * aggregate's history from the outbox table, ascending by version:
 * {"events": [{event_id, type, version, occurred_at, command_id, trace_id,
 * published_at (null until the relay published it)}...]}.
 *
 * The outbox keeps every event (published rows are marked, not deleted), so
 * this is the whole history, read through outbox_version (aggregatetype,
 * aggregateid, version). occurred_at is the event's own, from its Avro
 * payload, so that it matches what consumers of the event topic see; the
 * row's created_at (the insert, in the same transaction) stands in only for
 * a payload this build cannot decode. Times carry microseconds.
 *
 * No events and no row: 404. A row without events (inserted by hand, as
 * the benchmark does) has an empty history.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "of_log.h"

/* The history is not paged: an aggregate has a few events, one per
 * command; this bounds the answer of a pathological one (a user banned and
 * unbanned thousands of times), oldest first. */
#define EVENTS_MAX 1000

struct events {
    const struct of_avro *avro;
    const char *aggtype;
    json_t *items;
    int rows;
    union {
        struct of_user_event user;
        struct of_order_event order;
    } *ev; /* decoding scratch */
};

/* The payload's occurred_at, or \p fallback when it cannot be decoded. */
static int64_t occurred_at(struct events *e, const char *payload,
                           unsigned long len, const char *event_id,
                           int64_t fallback)
{
    struct of_err err;
    int rc;

    if (strcmp(e->aggtype, "user") == 0)
        rc = of_avro_decode_user_event(e->avro, payload, len, &e->ev->user,
                                       &err);
    else
        rc = of_avro_decode_order_event(e->avro, payload, len, &e->ev->order,
                                        &err);
    if (rc != OF_OK) {
        of_warn("outbox event %s: %s; its created_at stands for occurred_at",
                event_id, err.msg);
        return fallback;
    }
    return strcmp(e->aggtype, "user") == 0 ? e->ev->user.occurred_at
                                           : e->ev->order.occurred_at;
}

/* event_id, type, version, created_at, command_id, trace_id, published_at,
 * payload */
static int event_row(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct events *e = arg;
    char occurred[40], published[40];
    json_t *j;
    (void)ncols;

    e->rows++;
    of_time_format(occurred_at(e, v[7] ? v[7] : "", v[7] ? lens[7] : 0, v[0],
                               of_time_parse_unix(v[3])),
                   1, occurred);
    if (v[6])
        of_time_format(of_time_parse_unix(v[6]), 1, published);
    j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o}", "event_id", v[0],
                  "type", v[1], "version",
                  (json_int_t)strtoll(v[2], NULL, 10), "occurred_at",
                  occurred, "command_id", v[4], "trace_id", v[5] ? v[5] : "",
                  "published_at",
                  v[6] ? json_string(published) : json_null());
    if (j)
        json_array_append_new(e->items, j);
    else
        of_warn("outbox event %s is not valid UTF-8; left out", v[0]);
    return 0;
}

static int exists_row(void *arg, int ncols, char **v, const unsigned long *l)
{
    (void)ncols;
    (void)v;
    (void)l;
    *(int *)arg = 1;
    return 1;
}

/* @returns OF_OK with *found: does the user or order itself exist? */
static int aggregate_exists(struct of_db *db, const char *aggtype, int64_t id,
                            int *found, struct of_err *err)
{
    *found = 0;
    if (strcmp(aggtype, "user") == 0)
        return of_db_query(db, "SELECT 1 FROM users WHERE user_id = ?",
                           (struct of_db_param[]){OF_DB_I(id)}, 1, exists_row,
                           found, err);
    return of_db_query(db, "SELECT 1 FROM orders WHERE order_id = ?",
                       (struct of_db_param[]){OF_DB_I(id)}, 1, exists_row,
                       found, err);
}

enum MHD_Result api_admin_events(struct api_req *req, const char *aggtype,
                                 int64_t id)
{
    static const char *const none[] = {NULL};
    struct events e = {.avro = req->api->avro, .aggtype = aggtype};
    enum MHD_Result ret = MHD_NO;
    struct of_err err;
    struct of_db *db;
    char aggid[24];
    int found = 1, rc;

    if (!api_admin_params_ok(req, none, &ret))
        return ret;
    db = api_db(req->api, &err);
    if (!db)
        return api_reply_error(req, 503, "unavailable",
                               "could not read the events; retry");
    e.ev = malloc(sizeof(*e.ev));
    e.items = json_array();
    if (!e.ev || !e.items)
        goto out;
    snprintf(aggid, sizeof(aggid), "%lld", (long long)id);
    rc = of_db_query(
        db,
        "SELECT event_id, type, version, UNIX_TIMESTAMP(created_at), "
        "command_id, trace_id, UNIX_TIMESTAMP(published_at), payload "
        "FROM outbox WHERE aggregatetype = ? AND aggregateid = ? "
        "ORDER BY version LIMIT ?",
        (struct of_db_param[]){OF_DB_S(aggtype), OF_DB_S(aggid),
                               OF_DB_I(EVENTS_MAX)},
        3, event_row, &e, &err);
    if (rc == OF_OK && e.rows == 0)
        rc = aggregate_exists(db, aggtype, id, &found, &err);
    if (rc != OF_OK) {
        if (err.rc == OF_EAGAIN)
            api_db_reset(req->api);
        of_warn("events of %s %lld: %s", aggtype, (long long)id, err.msg);
        ret = api_reply_error(req, 503, "unavailable",
                              "could not read the events; retry");
    } else if (!found) {
        ret = api_reply_error(req, 404, "not_found", "no such %s", aggtype);
    } else {
        ret = api_reply_json(req, 200, json_pack("{s:O}", "events", e.items));
    }
out:
    json_decref(e.items);
    free(e.ev);
    return ret;
}
