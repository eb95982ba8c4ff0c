/*
 * GET /v1/admin/stats: what the admin panel polls every 2 s.
 *
 * {"time", "accepted_total", "applied_per_s", "consumer_lag": {"total",
 * "partitions": [{"topic", "partition", "lag"}...]}, "outbox_backlog"}
 *
 * - accepted_total: this process's answers to writes whose command Kafka
 *   acknowledged (api->accepted, counted by api_answer_publish): the 202s,
 *   and with Prefer: wait the 200s, 201s and 409s (a rejection is an
 *   accepted command too). An Idempotency-Key replay publishes nothing and
 *   is not counted.
 * - applied_per_s: commands rows completed in the last 10 s (MySQL's
 *   clock), divided by 10; rejections included.
 * - consumer_lag: the command worker's group ([worker] group_id): the
 *   committed offset against the high watermark of each partition of the
 *   two command topics (the low watermark where nothing is committed yet:
 *   the worker starts there). Kafka gets at most KAFKA_BUDGET_MS per
 *   request; past it, or on any Kafka error, "total" is null and "error"
 *   says why, and the rest is still answered.
 * - outbox_backlog: outbox rows not yet published.
 *
 * The lag is read through one consumer handle made on first use and kept
 * for the process (a handle costs a bootstrap and a coordinator lookup),
 * with the topics' partitions cached for PARTS_TTL_MS: a request is then
 * one OffsetFetch and one ListOffsets per leader (about 10 ms here).
 * It has the worker's group.id but never subscribes, assigns or commits,
 * so the group never sees it: OffsetFetch only reads. One request uses it
 * at a time (lag_lock), which also keeps a panel left open in many tabs
 * from multiplying the Kafka round trips. main() destroys the handle
 * (api_admin_stats_shutdown) once the HTTP daemon has stopped.
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "of_kafka.h"
#include "of_log.h"

#define KAFKA_BUDGET_MS 1000
#define APPLIED_WINDOW_S 10

static pthread_mutex_t lag_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- consumer_lag ---- */

/* The handle and the partitions of the two topics, refreshed every
 * PARTS_TTL_MS (partitions are only ever added, rarely). Under lag_lock. */
#define PARTS_TTL_MS 30000
static struct {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts;
    int64_t parts_at; /* monotonic us */
} lag;

void api_admin_stats_shutdown(struct api *api)
{
    /* the daemon's threads are gone: no request holds lag_lock */
    assert(!api->mhd);
    (void)api; /* under NDEBUG */
    pthread_mutex_lock(&lag_lock);
    if (lag.parts)
        rd_kafka_topic_partition_list_destroy(lag.parts);
    lag.parts = NULL;
    if (lag.rk)
        rd_kafka_destroy_flags(lag.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    lag.rk = NULL;
    pthread_mutex_unlock(&lag_lock);
}

/* The handle, made on first use. @locality under lag_lock. */
static rd_kafka_t *lag_handle(const struct of_config *cfg, struct of_err *err)
{
    const char *extra[] = {"group.id",
                           cfg->worker.group_id,
                           "enable.auto.commit",
                           "false",
                           "enable.auto.offset.store",
                           "false",
                           NULL};
    rd_kafka_conf_t *conf;

    if (lag.rk)
        return lag.rk;
    conf = of_kafka_conf_new(cfg, extra, err);
    if (!conf)
        return NULL;
    lag.rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, err);
    if (!lag.rk) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return lag.rk;
}

static int remaining_ms(int64_t deadline_us)
{
    int64_t left = (deadline_us - of_time_mono_us()) / 1000;

    return left < 1 ? 1 : (int)left;
}

/* Adds every partition of \p topic to \p parts; a topic that does not
 * exist has none. */
static int add_partitions(rd_kafka_t *rk, const char *topic,
                          rd_kafka_topic_partition_list_t *parts,
                          int64_t deadline_us, struct of_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e;
    int rc = OF_OK;

    if (!rkt)
        return of_err_set(err, OF_EAGAIN, "could not make topic \"%s\"",
                          topic);
    e = rd_kafka_metadata(rk, 0, rkt, &md, remaining_ms(deadline_us));
    if (e) {
        rc = of_err_set(err, OF_EAGAIN, "no metadata for \"%s\": %s", topic,
                        rd_kafka_err2str(e));
        goto out;
    }
    if (md->topic_cnt == 1 && md->topics[0].err == 0) {
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(
                parts, topic, md->topics[0].partitions[p].id);
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* The partitions of the two command topics (a copy the caller destroys),
 * from the cache when fresh. @locality under lag_lock. */
static rd_kafka_topic_partition_list_t *
lag_partitions(rd_kafka_t *rk, const struct of_config *cfg,
               int64_t deadline_us, struct of_err *err)
{
    const char *topics[] = {cfg->topics.user_commands,
                            cfg->topics.order_commands};
    rd_kafka_topic_partition_list_t *parts;

    if (lag.parts && of_time_mono_us() - lag.parts_at < PARTS_TTL_MS * 1000LL)
        return rd_kafka_topic_partition_list_copy(lag.parts);
    parts = rd_kafka_topic_partition_list_new(16);
    for (int t = 0; t < 2; t++) {
        if (add_partitions(rk, topics[t], parts, deadline_us, err) != OF_OK) {
            rd_kafka_topic_partition_list_destroy(parts);
            return NULL;
        }
    }
    if (lag.parts)
        rd_kafka_topic_partition_list_destroy(lag.parts);
    lag.parts = rd_kafka_topic_partition_list_copy(parts);
    lag.parts_at = of_time_mono_us();
    return parts;
}

/* Sets every offset of \p l to the earliest (\p which
 * RD_KAFKA_OFFSET_BEGINNING) or next (RD_KAFKA_OFFSET_END) offset of its
 * partition: ListOffsets takes -2 and -1 as those "timestamps", one
 * request per leader for the whole list, where
 * rd_kafka_query_watermark_offsets() makes two per partition. */
static int watermarks(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l,
                      int64_t which, int64_t deadline_us, struct of_err *err)
{
    rd_kafka_resp_err_t e;

    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = which;
    e = rd_kafka_offsets_for_times(rk, l, remaining_ms(deadline_us));
    for (int i = 0; !e && i < l->cnt; i++)
        e = l->elems[i].err;
    if (e)
        return of_err_set(err, OF_EAGAIN, "could not read the %s offsets: %s",
                          which == RD_KAFKA_OFFSET_END ? "end" : "start",
                          rd_kafka_err2str(e));
    return OF_OK;
}

/* Fills \p out ({"total", "partitions"}) from the committed offsets in
 * \p parts. @locality under lag_lock. */
static int lag_compute(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                       int64_t deadline_us, json_t *out, struct of_err *err)
{
    json_t *list = json_object_get(out, "partitions");
    rd_kafka_topic_partition_list_t *hi, *lo = NULL;
    int64_t total = 0;
    int rc, uncommitted = 0;

    hi = rd_kafka_topic_partition_list_copy(parts);
    rc = watermarks(rk, hi, RD_KAFKA_OFFSET_END, deadline_us, err);
    for (int i = 0; i < parts->cnt; i++)
        uncommitted |= parts->elems[i].offset < 0;
    if (rc == OF_OK && uncommitted) {
        lo = rd_kafka_topic_partition_list_copy(parts);
        rc = watermarks(rk, lo, RD_KAFKA_OFFSET_BEGINNING, deadline_us, err);
    }
    for (int i = 0; rc == OF_OK && i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        /* nothing committed: the worker starts at the earliest */
        int64_t from = p->offset >= 0 ? p->offset : lo->elems[i].offset;
        int64_t n = hi->elems[i].offset - from;

        n = n < 0 ? 0 : n;
        total += n;
        json_array_append_new(list, json_pack("{s:s, s:i, s:I}", "topic",
                                              p->topic, "partition",
                                              (int)p->partition, "lag",
                                              (json_int_t)n));
    }
    if (rc == OF_OK)
        json_object_set_new(out, "total", json_integer(total));
    rd_kafka_topic_partition_list_destroy(hi);
    if (lo)
        rd_kafka_topic_partition_list_destroy(lo);
    return rc;
}

/* {"total": N, "partitions": [...]}, or total null with "error". */
static json_t *consumer_lag(const struct of_config *cfg)
{
    int64_t deadline_us = of_time_mono_us() + KAFKA_BUDGET_MS * 1000LL;
    json_t *out = json_pack("{s:n, s:[]}", "total", "partitions");
    rd_kafka_topic_partition_list_t *parts = NULL;
    struct of_err err = {0};
    rd_kafka_resp_err_t e;
    rd_kafka_t *rk;
    int rc = OF_EAGAIN;

    pthread_mutex_lock(&lag_lock);
    rk = lag_handle(cfg, &err);
    if (rk)
        parts = lag_partitions(rk, cfg, deadline_us, &err);
    if (!parts)
        goto out;
    e = rd_kafka_committed(rk, parts, remaining_ms(deadline_us));
    if (e) {
        of_err_set(&err, OF_EAGAIN, "could not read the committed offsets: %s",
                   rd_kafka_err2str(e));
        goto out;
    }
    rc = lag_compute(rk, parts, deadline_us, out, &err);
out:
    pthread_mutex_unlock(&lag_lock);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rc != OF_OK) {
        of_warn("admin stats: consumer lag of group \"%s\": %s",
                cfg->worker.group_id, err.msg);
        json_object_set_new(out, "total", json_null());
        json_array_clear(json_object_get(out, "partitions"));
        json_object_set_new(out, "error", json_string(err.msg));
    }
    return out;
}

/* ---- MySQL ---- */

struct db_stats {
    long long completed, backlog;
};

static int db_stats_row(void *arg, int ncols, char **v,
                        const unsigned long *lens)
{
    struct db_stats *s = arg;
    (void)ncols;
    (void)lens;

    s->completed = v[0] ? strtoll(v[0], NULL, 10) : 0;
    s->backlog = v[1] ? strtoll(v[1], NULL, 10) : 0;
    return 1;
}

/* One round trip, each count through its index (commands_completed,
 * outbox_unpublished). */
static int db_stats(struct api *api, struct db_stats *s, struct of_err *err)
{
    struct of_db *db = api_db(api, err);
    int rc;

    if (!db)
        return err->rc;
    rc = of_db_query(db,
                     "SELECT (SELECT COUNT(*) FROM commands WHERE "
                     "completed_at >= NOW(6) - INTERVAL ? SECOND), "
                     "(SELECT COUNT(*) FROM outbox WHERE published_at IS NULL)",
                     (struct of_db_param[]){OF_DB_I(APPLIED_WINDOW_S)}, 1,
                     db_stats_row, s, err);
    if (rc == OF_EAGAIN)
        api_db_reset(api);
    return rc;
}

enum MHD_Result api_admin_stats(struct api_req *req)
{
    static const char *const none[] = {NULL};
    struct db_stats s = {0};
    enum MHD_Result ret = MHD_NO;
    struct of_err err;
    unsigned long long accepted;
    char now[40];

    if (!api_admin_params_ok(req, none, &ret))
        return ret;
    if (db_stats(req->api, &s, &err) != OF_OK) {
        of_warn("admin stats: %s", err.msg);
        return api_reply_error(req, 503, "unavailable",
                               "could not read the stats; retry");
    }
    accepted = atomic_load_explicit(&req->api->accepted, memory_order_relaxed);
    of_time_format(of_time_now_us(), 0, now);
    return api_reply_json(
        req, 200,
        json_pack("{s:s, s:I, s:f, s:o, s:I}", "time", now, "accepted_total",
                  (json_int_t)accepted, "applied_per_s",
                  (double)s.completed / APPLIED_WINDOW_S, "consumer_lag",
                  consumer_lag(req->api->cfg), "outbox_backlog",
                  (json_int_t)s.backlog));
}
