/*
 * api_publish: the API's Kafka producer. Idempotent, acks=all; a write is
 * answered only from its delivery report.
 *
 * Threads: libmicrohttpd threads call api_publish() (under the read lock,
 * so the producer can be swapped under them); the poll thread serves
 * delivery reports and, after a fatal idempotence error (librdkafka 2.0.2
 * can raise one after a broker restart, fixed upstream in 2.3.0), builds a
 * new producer, swaps it in and retires the old one: the old one's
 * outstanding messages fail and are answered 503 or 504 by their status.
 * The ready thread asks for metadata once a second for /readyz.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "of_kafka.h"
#include "of_log.h"

struct api_producer {
    struct api *api;
    pthread_rwlock_t lock; /* guards rk against the swap */
    rd_kafka_t *rk;
    pthread_t poll_thread, ready_thread;
    atomic_int run;
    atomic_int fatal;
    atomic_int ready;
};

/* librdkafka's poll thread: one delivery report per published command. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque)
{
    struct api_req *req = rkm->_private;
    struct api *api = opaque;
    int state;
    (void)rk;

    if (!req)
        return;
    if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        state = API_PUB_ACKED;
    } else {
        /* NOT_PERSISTED: never reached the broker's log, safe to retry;
         * anything else may be in the log: the outcome is unknown */
        state = rd_kafka_message_status(rkm) ==
                        RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                    ? API_PUB_NOT_PERSISTED
                    : API_PUB_POSSIBLY_PERSISTED;
        snprintf(req->publish_error, sizeof(req->publish_error), "%s",
                 rd_kafka_err2str(rkm->err));
        const char *l[] = {state == API_PUB_NOT_PERSISTED
                               ? "not_persisted"
                               : "possibly_persisted"};
        of_metrics_add(of_metrics_series(api->m_produce_errors, l), 1);
    }
    req->publish = state;
    api_resume(req);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    struct api_producer *p = ((struct api *)opaque)->producer;
    char fatal[256];

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        of_error("Kafka producer fatal error: %s; recreating the producer",
                 fatal);
        if (p)
            p->fatal = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && p)
        p->ready = 0;
    of_warn("Kafka: %s", reason);
}

static rd_kafka_t *make_producer(struct api *api, struct of_err *err)
{
    char timeout[16];
    const char *linger = of_config_kafka_get(api->cfg, "linger.ms");

    snprintf(timeout, sizeof(timeout), "%d", api->cfg->api.produce_timeout_ms);
    const char *extra[] = {"enable.idempotence", "true",
                           "acks", "all",
                           "message.timeout.ms", timeout,
                           "linger.ms", linger ? linger : "5",
                           NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(api->cfg, extra, err);
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, api);
    rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Retire \p old: its queued messages fail now (their requests get 503 or
 * 504 from the delivery reports), then it is destroyed. */
static void retire(rd_kafka_t *old)
{
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 100 && rd_kafka_outq_len(old) > 0; i++)
        rd_kafka_poll(old, 50);
    rd_kafka_destroy(old);
}

static void *poll_main(void *arg)
{
    struct api_producer *p = arg;
    struct of_err err;

    while (p->run) {
        rd_kafka_poll(p->rk, 100);
        if (!p->fatal)
            continue;
        rd_kafka_t *fresh = make_producer(p->api, &err);
        if (!fresh) {
            of_error("could not recreate the producer: %s", err.msg);
            sleep(1);
            continue;
        }
        pthread_rwlock_wrlock(&p->lock);
        rd_kafka_t *old = p->rk;
        p->rk = fresh;
        p->fatal = 0;
        pthread_rwlock_unlock(&p->lock);
        retire(old);
        of_info("Kafka producer recreated");
    }
    return NULL;
}

static void *ready_main(void *arg)
{
    struct api_producer *p = arg;

    while (p->run) {
        const struct rd_kafka_metadata *md = NULL;
        pthread_rwlock_rdlock(&p->lock);
        rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, NULL, &md, 1000);
        pthread_rwlock_unlock(&p->lock);
        p->ready = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0;
        if (md)
            rd_kafka_metadata_destroy(md);
        for (int i = 0; i < 10 && p->run; i++)
            usleep(100000);
    }
    return NULL;
}

struct api_producer *api_producer_new(struct api *api, struct of_err *err)
{
    struct api_producer *p = calloc(1, sizeof(*p));

    if (!p) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    p->api = api;
    pthread_rwlock_init(&p->lock, NULL);
    p->rk = make_producer(api, err);
    if (!p->rk) {
        free(p);
        return NULL;
    }
    p->run = 1;
    pthread_create(&p->poll_thread, NULL, poll_main, p);
    pthread_create(&p->ready_thread, NULL, ready_main, p);
    return p;
}

int api_producer_ready(struct api_producer *p)
{
    return p->ready;
}

void api_producer_flush(struct api_producer *p, int timeout_ms)
{
    pthread_rwlock_rdlock(&p->lock);
    rd_kafka_flush(p->rk, timeout_ms);
    if (rd_kafka_outq_len(p->rk) > 0)
        of_warn("producer flush: %d messages still queued",
                rd_kafka_outq_len(p->rk));
    pthread_rwlock_unlock(&p->lock);
}

void api_producer_destroy(struct api_producer *p)
{
    if (!p)
        return;
    p->run = 0;
    pthread_join(p->poll_thread, NULL);
    pthread_join(p->ready_thread, NULL);
    rd_kafka_flush(p->rk, 5000);
    rd_kafka_destroy(p->rk);
    pthread_rwlock_destroy(&p->lock);
    free(p);
}

int api_publish(struct api_req *req, const char *topic, const char *key,
                void *value, size_t value_len, const char *message_type,
                struct of_err *err)
{
    struct api_producer *p = req->api->producer;
    rd_kafka_headers_t *headers = of_kafka_headers_new(message_type,
                                                       req->trace_id);
    rd_kafka_resp_err_t e;

    /* suspend first: the delivery report may come before producev returns */
    req->publish = API_PUB_PENDING;
    api_suspend(req);
    pthread_rwlock_rdlock(&p->lock);
    e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(value, value_len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(req),
                          RD_KAFKA_V_END);
    pthread_rwlock_unlock(&p->lock);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return OF_OK;
    /* refused before it was queued: certainly not stored */
    rd_kafka_headers_destroy(headers);
    free(value);
    snprintf(req->publish_error, sizeof(req->publish_error), "%s",
             rd_kafka_err2str(e));
    const char *l[] = {e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "queue_full"
                                                          : "refused"};
    of_metrics_add(of_metrics_series(req->api->m_produce_errors, l), 1);
    req->publish = API_PUB_NOT_PERSISTED;
    api_resume(req);
    return of_err_set(err, OF_EAGAIN, "could not publish: %s",
                      rd_kafka_err2str(e));
}
