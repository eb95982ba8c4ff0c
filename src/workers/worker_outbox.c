/*
 * worker_outbox: the outbox relay.
 *
 * The command worker writes each change's event into `outbox` in the same
 * transaction as the change; this relay publishes those rows, oldest id
 * first, and marks a row published only after Kafka acknowledged it
 * (idempotent producer, acks=all). A relay killed at any moment leaves the
 * rows it had not marked; the next relay publishes them again: duplicates
 * are possible (they share an event_id), gaps are not.
 *
 * Order. Only one relay publishes at a time: each holds the MySQL named
 * lock "orderflow_outbox" on its own connection (GET_LOCK) while it works,
 * and others wait, ready to take over. MySQL frees the lock when the
 * holder's connection ends, which kill -9 does at once; the holder checks
 * it still owns the lock before every batch. Within the one active relay,
 * rows go out in id order, and an aggregate's versions are in id order:
 * the worker inserts version n+1 only after the transaction of version n
 * committed (it holds the aggregate's row lock), so the id of n+1 is
 * larger. A row that commits out of id order (a lower id committing last)
 * is never skipped, because the relay does not remember a high-water id:
 * every round reads all rows still unpublished.
 */
#include "worker_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "of_db.h"
#include "of_kafka.h"
#include "of_log.h"
#include "of_model.h"
#include "worker_health.h"

struct row {
    long long id;
    char aggregatetype[16];
    char aggregateid[32];
    char type[32];
    char trace_id[OF_TRACE_ID_SIZE]; /* outbox.trace_id: 128 characters */
    char event_id[40];
    long long version;
    int64_t created_us;
    int32_t partition; /* where Kafka stored it (delivery report) */
    int64_t offset;
    void *payload;
    size_t len;
    _Atomic int state; /* 0 pending, 1 acked, -1 failed, 2 marked published */
};

struct relay {
    const struct of_config *cfg;
    struct of_db *db;
    rd_kafka_t *rk;
    struct row *rows;
    int nrows;
    int has_lock;
    struct of_metric_series *m_published, *m_failed, *m_backlog, *m_oldest;
    struct of_metric_series *m_latency;
};

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct row *row = rkm->_private;
    (void)rk;
    (void)opaque;

    row->partition = rkm->partition;
    row->offset = rkm->offset;
    row->state = rkm->err ? -1 : 1;
    if (rkm->err)
        of_warn("event %s (outbox id %lld) not published: %s", row->event_id,
                row->id, rd_kafka_err2str(rkm->err));
}

static int row_cb(void *arg, int ncols, char **v, const unsigned long *lens)
{
    struct relay *r = arg;
    struct row *row = &r->rows[r->nrows];
    (void)ncols;

    memset(row, 0, sizeof(*row));
    row->id = strtoll(v[0], NULL, 10);
    snprintf(row->aggregatetype, sizeof(row->aggregatetype), "%s", v[1]);
    snprintf(row->aggregateid, sizeof(row->aggregateid), "%s", v[2]);
    snprintf(row->type, sizeof(row->type), "%s", v[3]);
    snprintf(row->trace_id, sizeof(row->trace_id), "%s", v[5] ? v[5] : "");
    snprintf(row->event_id, sizeof(row->event_id), "%s", v[6]);
    row->created_us = (int64_t)(strtod(v[7], NULL) * 1e6);
    row->version = strtoll(v[8], NULL, 10);
    row->payload = malloc(lens[4] ? lens[4] : 1);
    if (!row->payload)
        return 1;
    memcpy(row->payload, v[4], lens[4]);
    row->len = lens[4];
    r->nrows++;
    return 0;
}

static void free_rows(struct relay *r)
{
    for (int i = 0; i < r->nrows; i++)
        free(r->rows[i].payload);
    r->nrows = 0;
}

static int lock_cb(void *arg, int ncols, char **v, const unsigned long *lens)
{
    (void)ncols;
    (void)lens;
    *(int *)arg = v[0] && strcmp(v[0], "1") == 0;
    return 1;
}

/* Takes (or confirms we still hold) the relay lock. */
static int hold_lock(struct relay *r, struct of_err *err)
{
    int mine = 0;
    const char *sql = r->has_lock ? "SELECT IS_USED_LOCK('orderflow_outbox') = "
                                    "CONNECTION_ID()"
                                  : "SELECT GET_LOCK('orderflow_outbox', 0)";
    int rc = of_db_query(r->db, sql, NULL, 0, lock_cb, &mine, err);

    if (rc != OF_OK)
        return rc;
    if (mine && !r->has_lock)
        of_info("outbox relay: took the relay lock; publishing");
    if (!mine && r->has_lock)
        of_warn("outbox relay: lost the relay lock; standing by");
    r->has_lock = mine;
    return OF_OK;
}

static const char *topic_of(const struct relay *r, const struct row *row)
{
    return strcmp(row->aggregatetype, "user") == 0
               ? r->cfg->topics.user_events
               : r->cfg->topics.order_events;
}

static int produce(struct relay *r, struct row *row)
{
    rd_kafka_headers_t *h = of_kafka_headers_new(row->type, row->trace_id);
    rd_kafka_resp_err_t e;

    rd_kafka_header_add(h, "event-id", -1, row->event_id, -1);
    e = rd_kafka_producev(
        r->rk, RD_KAFKA_V_TOPIC(topic_of(r, row)),
        RD_KAFKA_V_KEY(row->aggregateid, strlen(row->aggregateid)),
        RD_KAFKA_V_VALUE(row->payload, row->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE(row), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        row->state = -1;
        return -1;
    }
    return 0;
}

/* 1 if an earlier row of the same aggregate in this batch failed */
static int behind_failure(const struct relay *r, int i)
{
    for (int j = 0; j < i; j++) {
        if (r->rows[j].state < 1 &&
            strcmp(r->rows[j].aggregatetype, r->rows[i].aggregatetype) == 0 &&
            strcmp(r->rows[j].aggregateid, r->rows[i].aggregateid) == 0)
            return 1;
    }
    return 0;
}

/* One info line per event published, under the trace id of the request
 * that caused it. */
static void log_published(const struct relay *r, const struct row *row)
{
    if (row->state != 2)
        return;
    of_log_set_trace(row->trace_id);
    of_info("published %s event_id=%s %s_id=%s version=%lld topic=%s "
            "partition=%" PRId32 " offset=%" PRId64,
            row->type, row->event_id, row->aggregatetype, row->aggregateid,
            row->version, topic_of(r, row), row->partition, row->offset);
    of_log_set_trace(NULL);
}

/* Rows marked by one UPDATE: 500 rows cost 16 statements, not 500 (each
 * of_db_exec is a prepare, an execute and a close); of_db_exec binds at
 * most 32 parameters (OF_DB_MAX_PARAMS). */
#define MARK_CHUNK 32

/* Marks rows \p idx[0..n) published with one statement. Only placeholders
 * are added to the text; the ids are bound. */
static int mark_chunk(struct relay *r, const int *idx, int n,
                      struct of_err *err)
{
    char sql[128 + 2 * MARK_CHUNK];
    struct of_db_param p[MARK_CHUNK];
    size_t len = (size_t)snprintf(sql, sizeof(sql),
                                  "UPDATE outbox SET published_at = NOW(6) "
                                  "WHERE published_at IS NULL AND id IN (");

    for (int k = 0; k < n; k++) {
        sql[len++] = k ? ',' : '?';
        if (k)
            sql[len++] = '?';
        p[k] = OF_DB_I(r->rows[idx[k]].id);
    }
    sql[len++] = ')';
    sql[len] = '\0';
    return of_db_exec(r->db, sql, p, n, NULL, err);
}

/* Marks the acknowledged rows published, in one transaction. A row behind
 * a failed row of its aggregate stays unmarked even if Kafka has it, so the
 * next round sends both again in version order (a duplicate, not a gap). */
static int mark(struct relay *r, int *published, struct of_err *err)
{
    int idx[MARK_CHUNK], n = 0, rc = of_db_begin(r->db, err);

    *published = 0;
    for (int i = 0; rc == OF_OK && i < r->nrows; i++) {
        if (r->rows[i].state == 1 && !behind_failure(r, i))
            idx[n++] = i;
        if (n > 0 && (n == MARK_CHUNK || i == r->nrows - 1)) {
            rc = mark_chunk(r, idx, n, err);
            for (int k = 0; rc == OF_OK && k < n; k++) {
                struct row *row = &r->rows[idx[k]];
                row->state = 2; /* marked: logged after the commit */
                of_metrics_observe(
                    r->m_latency,
                    (double)(of_time_now_us() - row->created_us) / 1e6);
            }
            if (rc == OF_OK)
                *published += n;
            n = 0;
        }
    }
    if (rc == OF_OK)
        rc = of_db_commit(r->db, err);
    if (rc != OF_OK) {
        of_db_rollback(r->db);
        return rc;
    }
    for (int i = 0; i < r->nrows; i++)
        log_published(r, &r->rows[i]);
    return rc;
}

static int fetch(struct relay *r, struct of_err *err)
{
    return of_db_query(
        r->db,
        "SELECT id, aggregatetype, aggregateid, type, payload, "
        "trace_id, event_id, UNIX_TIMESTAMP(created_at), version "
        "FROM outbox WHERE published_at IS NULL "
        "ORDER BY id LIMIT ?",
        (struct of_db_param[]){OF_DB_I(r->cfg->outbox.batch_max)}, 1, row_cb, r,
        err);
}

/* One round: publish what is unpublished. @returns rows published, or <0 */
static int round_once(struct relay *r, struct of_err *err)
{
    int published = 0, failed = 0;

    if (fetch(r, err) != OF_OK)
        return -1;
    for (int i = 0; i < r->nrows; i++)
        produce(r, &r->rows[i]);
    rd_kafka_flush(r->rk, r->cfg->api.produce_timeout_ms + 1000);
    for (int i = 0; i < r->nrows; i++) {
        if (r->rows[i].state < 1)
            failed++;
    }
    if (mark(r, &published, err) != OF_OK) {
        free_rows(r);
        return -1;
    }
    of_metrics_add(r->m_published, published);
    of_metrics_add(r->m_failed, failed);
    if (published)
        of_debug("outbox relay: published %d events", published);
    free_rows(r);
    return published;
}

static int gauge_cb(void *arg, int ncols, char **v, const unsigned long *l)
{
    struct relay *r = arg;
    (void)ncols;
    (void)l;
    of_metrics_set(r->m_backlog, v[0] ? strtod(v[0], NULL) : 0);
    of_metrics_set(r->m_oldest, v[1] ? strtod(v[1], NULL) : 0);
    return 1;
}

static void update_gauges(struct relay *r)
{
    struct of_err err;

    of_db_query(r->db,
                "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(MICROSECOND, "
                "MIN(created_at), NOW(6)) / 1e6, 0) FROM outbox "
                "WHERE published_at IS NULL",
                NULL, 0, gauge_cb, r, &err);
}

static rd_kafka_t *make_producer(const struct of_config *cfg,
                                 struct of_err *err)
{
    char timeout[16];
    snprintf(timeout, sizeof(timeout), "%d", cfg->api.produce_timeout_ms);
    const char *extra[] = {"enable.idempotence", "true",  "acks", "all",
                           "message.timeout.ms", timeout, NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, err);
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static void declare_metrics(struct relay *r, struct of_metrics *m)
{
    r->m_published = of_metrics_series(
        of_metrics_counter(m, "orderflow_outbox_published_total",
                           "events published and marked", NULL),
        NULL);
    r->m_failed = of_metrics_series(
        of_metrics_counter(m, "orderflow_outbox_publish_failures_total",
                           "events Kafka did not acknowledge (retried)", NULL),
        NULL);
    r->m_backlog = of_metrics_series(
        of_metrics_gauge(m, "orderflow_outbox_backlog",
                         "outbox rows not yet published", NULL),
        NULL);
    r->m_oldest = of_metrics_series(
        of_metrics_gauge(m, "orderflow_outbox_oldest_unpublished_seconds",
                         "age of the oldest unpublished row", NULL),
        NULL);
    r->m_latency = of_metrics_series(
        of_metrics_histogram(m, "orderflow_outbox_publish_latency_seconds",
                             "from the row's commit to its acknowledgement",
                             NULL),
        NULL);
}

/* Sleeps \p ms in small steps so a stop is seen quickly. */
static void nap(int ms, volatile sig_atomic_t *running)
{
    for (; ms > 0 && *running; ms -= 50) {
        worker_beat();
        usleep((useconds_t)(ms < 50 ? ms : 50) * 1000);
    }
}

int worker_outbox_run(const struct of_config *cfg,
                      struct of_metrics *metrics,
                      volatile sig_atomic_t *running)
{
    struct relay r = {0};
    struct of_err err = {0};
    int backoff = 100, rc = 1;

    r.cfg = cfg;
    declare_metrics(&r, metrics);
    r.rows = calloc((size_t)cfg->outbox.batch_max, sizeof(*r.rows));
    r.rk = make_producer(cfg, &err);
    if (!r.rows || !r.rk) {
        of_error("outbox relay: %s", err.msg);
        goto out;
    }
    of_info("outbox relay: publishing to %s and %s", cfg->topics.user_events,
            cfg->topics.order_events);
    while (*running) {
        int n = -1;
        worker_beat();
        if (!r.db)
            r.db = of_db_open(cfg, &err);
        if (r.db && hold_lock(&r, &err) == OF_OK) {
            n = r.has_lock ? round_once(&r, &err) : 0;
            update_gauges(&r);
        }
        if (n < 0) {
            of_warn("outbox relay: %s; retrying in %d ms", err.msg, backoff);
            worker_ready(err.msg);
            of_db_close(r.db); /* the lock goes with the connection */
            r.db = NULL;
            r.has_lock = 0;
            nap(backoff, running);
            backoff = backoff * 2 > cfg->worker.retry_max_ms
                          ? cfg->worker.retry_max_ms
                          : backoff * 2;
            continue;
        }
        backoff = 100;
        worker_ready(NULL); /* publishing, or standing by */
        if (!r.has_lock)
            nap(cfg->outbox.lease_s * 100, running); /* standby */
        else if (n < cfg->outbox.batch_max)
            nap(cfg->outbox.poll_ms, running);
    }
    rc = 0;
out:
    if (r.rk) {
        rd_kafka_flush(r.rk, 5000);
        rd_kafka_destroy(r.rk);
    }
    of_db_close(r.db);
    free(r.rows);
    return rc;
}
