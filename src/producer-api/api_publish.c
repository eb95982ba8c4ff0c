/*
 * api_publish: the API's Kafka producer. Idempotent, acks=all; a write is
 * answered only from its delivery report, and within the budget
 * api.produce_timeout_ms.
 *
 * The budget is ours to keep, not librdkafka's: 2.0.2 does not time out
 * the messages of a partition whose leader is down (the idempotent
 * producer waits for a producer id first), so with the broker killed the
 * reports came only when it was back, 18 s later (F5). librdkafka gets
 * message.timeout.ms a little under the budget (its timeout scan runs once
 * a second), and every publish is tracked from producev() to its report;
 * when the oldest is near the budget the poll thread purges the queues:
 * queued messages then fail NOT_PERSISTED (503), in-flight ones
 * POSSIBLY_PERSISTED (504 outcome_unknown), as they would have timed out.
 *
 * Threads: libmicrohttpd threads call api_publish() (under the read lock,
 * so the producer can be swapped under them); the poll thread serves
 * delivery reports, keeps the budget and, after a fatal idempotence error
 * (librdkafka 2.0.2 can raise one after a broker restart, fixed upstream in
 * 2.3.0), builds a new producer, swaps it in and retires the old one: the
 * old one's outstanding messages are purged and answered 503 or 504 by
 * their status. The ready thread asks for metadata once a second for
 * /readyz. Delivery reports may also run on the main thread
 * (api_producer_flush).
 *
 * A delivery report does not resume its request at once: reports come in
 * bursts (one per message of an acknowledged batch), and each acked
 * command needs its "accepted" status in Redis before its 202 goes out
 * (GET /v1/commands/{id} must find it). Written by each libmicrohttpd
 * thread as it answered, that was one blocking Redis round trip per
 * request, one after the other behind the whole burst: under the bench
 * (64 reports at once, two threads) 3.5 ms of the 9 ms a POST took. So
 * the reports of one poll are gathered (p->reported) and, after the poll
 * returns, answer_reported() writes the burst's statuses in one Redis
 * pipeline, then resumes the requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "of_kafka.h"
#include "of_log.h"
#include "of_model.h"

/* Test builds: ORDERFLOW_FAULT=producer_fatal_on_reconnect makes the first
 * producer raise a fatal idempotence error (rd_kafka_test_fatal_error) when
 * a broker answers again after all were lost, as 2.0.2 may do by itself
 * (#4438), so that F5 runs the recreate path every time. */
#ifdef OF_FAULTS
#define API_FAULT(point) api_fault(point)
static int api_fault(const char *point)
{
    const char *want = getenv("ORDERFLOW_FAULT");

    return want && strcmp(want, point) == 0;
}
#else
#define API_FAULT(point) 0
#endif

/* One command handed to librdkafka, from producev() to its report, then
 * on p->reported until answer_reported() answers it. */
struct pub {
    struct api_req *req;
    rd_kafka_t *rk; /* the producer it went to */
    int64_t sent_us; /* monotonic */
    int state;       /* enum api_publish_state, once reported */
    struct pub *prev, *next;
};

struct api_producer {
    struct api *api;
    pthread_rwlock_t lock; /* guards rk against the swap */
    rd_kafka_t *rk;
    pthread_t poll_thread, ready_thread;
    atomic_int run;
    atomic_int fatal;
    atomic_int ready;
    atomic_int closing; /* the HTTP daemon is gone: resume nobody */
    int budget_ms;      /* api.produce_timeout_ms */
    /* outstanding publishes, oldest first; reported ones, newest first */
    pthread_mutex_t pending_lock;
    struct pub *head, *tail;
    struct pub *reported;
    /* the "accepted" statuses: one pipeline per poll (answer_reported) */
    pthread_mutex_t redis_lock;
    struct of_redis *redis;
    /* poll thread only */
    rd_kafka_t *retiring; /* the producer a fatal error retired */
    int64_t retire_until_us;
    int64_t purged_queue_us, purged_inflight_us;
    int fault_fired; /* ready thread only */
};

static void pending_add(struct api_producer *p, struct pub *pub)
{
    pthread_mutex_lock(&p->pending_lock);
    pub->prev = p->tail;
    pub->next = NULL;
    if (p->tail)
        p->tail->next = pub;
    else
        p->head = pub;
    p->tail = pub;
    pthread_mutex_unlock(&p->pending_lock);
}

/* Caller holds pending_lock. */
static void pending_unlink(struct api_producer *p, struct pub *pub)
{
    if (pub->prev)
        pub->prev->next = pub->next;
    else
        p->head = pub->next;
    if (pub->next)
        pub->next->prev = pub->prev;
    else
        p->tail = pub->prev;
}

static void answer(struct api_producer *p, struct api_req *req, int state)
{
    if (p->closing)
        return;
    req->publish = state;
    api_resume(req);
}

/* Queues \p req's "accepted" status on p->redis: only if absent, since
 * the worker may have written the final one already. */
static int append_accepted(struct api_producer *p, const struct api_req *req,
                           struct of_err *err)
{
    struct of_cmd_status c = {0};

    snprintf(c.command_id, sizeof(c.command_id), "%s", req->command_id);
    c.status = OF_CMD_ACCEPTED;
    snprintf(c.resource_type, sizeof(c.resource_type), "%s",
             req->resource_type);
    c.resource_id = req->resource_id;
    snprintf(c.actor_id, sizeof(c.actor_id), "%s", req->who.id);
    c.accepted_at = req->started_us;
    return of_model_redis_append_cmd(p->redis, &c, 1,
                                     p->api->cfg->redis.command_ttl_s, err);
}

/* The "accepted" statuses of the acked commands in \p list, in one
 * pipeline. Redis is a cache: a status that could not be written is
 * logged and the 202s go out all the same (GET /v1/commands/{id} then
 * finds the command in MySQL once the worker applied it). */
static void record_accepted(struct api_producer *p, struct pub *list)
{
    struct of_err err = {0};
    int n = 0, rc = OF_OK;

    pthread_mutex_lock(&p->redis_lock);
    for (struct pub *pub = list; pub && rc == OF_OK; pub = pub->next) {
        if (pub->state != API_PUB_ACKED)
            continue;
        rc = append_accepted(p, pub->req, &err);
        n++;
    }
    /* after a failed append nothing is left queued: the flush is a no-op */
    if (rc == OF_OK)
        rc = of_redis_flush(p->redis, &err);
    pthread_mutex_unlock(&p->redis_lock);
    if (rc != OF_OK)
        of_warn("%d accepted statuses not cached: %s", n, err.msg);
}

/* Where rd_kafka_poll() or rd_kafka_flush() was called, after it returned:
 * records and answers what its delivery reports gathered. Any thread that
 * serves reports calls it after, so nothing is left on the list. */
static void answer_reported(struct api_producer *p)
{
    struct pub *list = NULL, *pub, *next;

    pthread_mutex_lock(&p->pending_lock);
    for (pub = p->reported; pub; pub = next) { /* oldest first */
        next = pub->next;
        pub->next = list;
        list = pub;
    }
    p->reported = NULL;
    pthread_mutex_unlock(&p->pending_lock);
    if (!list)
        return;
    if (!p->closing)
        record_accepted(p, list);
    for (pub = list; pub; pub = next) {
        next = pub->next;
        answer(p, pub->req, pub->state);
        free(pub);
    }
}

/* Where rd_kafka_poll() runs: one delivery report per published command.
 * Moves it from the outstanding list to p->reported (answer_reported). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm,
                        void *opaque)
{
    struct pub *pub = rkm->_private;
    struct api *api = opaque;
    struct api_producer *p = api->producer;
    struct api_req *req;
    int state;
    (void)rk;

    if (!pub)
        return;
    req = pub->req;
    if (p->closing) { /* the request may be gone with the daemon */
        pthread_mutex_lock(&p->pending_lock);
        pending_unlink(p, pub);
        pthread_mutex_unlock(&p->pending_lock);
        free(pub);
        return;
    }
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
    pub->state = state;
    pthread_mutex_lock(&p->pending_lock);
    pending_unlink(p, pub);
    pub->next = p->reported;
    p->reported = pub;
    pthread_mutex_unlock(&p->pending_lock);
}

/* Runs where rd_kafka_poll() runs: the poll thread (or main, flushing). */
static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque)
{
    struct api_producer *p = ((struct api *)opaque)->producer;
    char fatal[256];
    int current = p && rk == p->rk; /* not the one being retired */

    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        if (!current) {
            of_warn("retired Kafka producer: %s", fatal);
            return;
        }
        of_error("Kafka producer fatal error: %s; recreating the producer",
                 fatal);
        p->fatal = 1;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && current)
        p->ready = 0;
    of_warn("Kafka: %s", reason);
}

/* librdkafka scans for timed-out messages once a second: it gets a
 * message.timeout.ms that much under the budget, so that its own timeouts
 * fall within it. */
static int message_timeout_ms(int budget_ms)
{
    int margin = budget_ms / 2 < 1000 ? budget_ms / 2 : 1000;

    return budget_ms - margin > 0 ? budget_ms - margin : 1;
}

/* The API's linger.ms unless [kafka] sets one. Every POST waits for its
 * batch's ack, so linger is latency added to each request, and a client
 * keeping N requests open gets N per round: at 5 ms the bench's 64
 * connections moved in one wave of 63-64 reports every ~8 ms (7k/s). At
 * 1 ms they got 13-17k/s on the same 2-core machine; 0 was slower in each
 * of three alternating pairs (more, smaller produce requests for the
 * broker, which shares the two cores). */
#define API_LINGER_MS "1"

static rd_kafka_t *make_producer(struct api *api, struct of_err *err)
{
    char timeout[16];
    const char *linger = of_config_kafka_get(api->cfg, "linger.ms");
    /* librdkafka's default backs reconnects off up to 10 s: a broker back
     * from a restart would wait that long for its first command (F5). Left
     * alone when [kafka] sets either backoff (max must not be below min). */
    const char *backoff =
        of_config_kafka_get(api->cfg, "reconnect.backoff.max.ms");

    if (!backoff && !of_config_kafka_get(api->cfg, "reconnect.backoff.ms"))
        backoff = "1000";
    snprintf(timeout, sizeof(timeout), "%d",
             message_timeout_ms(api->cfg->api.produce_timeout_ms));
    const char *extra[] = {"enable.idempotence", "true",
                           "acks", "all",
                           "message.timeout.ms", timeout,
                           "linger.ms", linger ? linger : API_LINGER_MS,
                           /* last: when unset, its NULL key ends the list */
                           backoff ? "reconnect.backoff.max.ms" : NULL, backoff,
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

/* The oldest outstanding publish to \p rk, or 0 if none. */
static int64_t oldest_sent_us(struct api_producer *p, rd_kafka_t *rk)
{
    int64_t t = 0;

    pthread_mutex_lock(&p->pending_lock);
    for (struct pub *pub = p->head; pub; pub = pub->next) {
        if (pub->rk == rk) {
            t = pub->sent_us;
            break;
        }
    }
    pthread_mutex_unlock(&p->pending_lock);
    return t;
}

/* Poll thread: when the oldest outstanding command nears the budget and
 * librdkafka has not given it up, give up the queues: the queued messages
 * first (never sent: NOT_PERSISTED), then, a little later, the in-flight
 * ones (POSSIBLY_PERSISTED). Their reports come from the next poll. */
static void keep_budget(struct api_producer *p)
{
    int64_t now = of_time_mono_us(), oldest = oldest_sent_us(p, p->rk);
    /* what answering takes after the report: resuming, the idempotency
     * record, a thousand connections on two threads */
    int64_t margin_us =
        (p->budget_ms < 4000 ? p->budget_ms / 4 : 1000) * 1000LL;
    int64_t age;

    if (!oldest)
        return;
    age = now - oldest;
    if (age >= p->budget_ms * 1000LL - margin_us &&
        now - p->purged_queue_us >= 200000) {
        of_warn("a command waited %lld ms for Kafka (budget %d ms): failing "
                "the queued commands",
                (long long)(age / 1000), p->budget_ms);
        rd_kafka_purge(p->rk,
                       RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_NON_BLOCKING);
        p->purged_queue_us = now;
    }
    if (age >= p->budget_ms * 1000LL - margin_us * 3 / 4 &&
        now - p->purged_inflight_us >= 200000) {
        of_warn("a command waited %lld ms for Kafka (budget %d ms): giving "
                "up the commands in flight",
                (long long)(age / 1000), p->budget_ms);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE |
                                  RD_KAFKA_PURGE_F_INFLIGHT |
                                  RD_KAFKA_PURGE_F_NON_BLOCKING);
        p->purged_inflight_us = now;
    }
}

/* Answer whatever \p rk still held after its destruction (no report will
 * come): it may have reached the log, so the outcome is unknown. */
static void answer_orphans(struct api_producer *p, rd_kafka_t *rk)
{
    struct pub *pub, *next, *orphans = NULL;
    long n = 0;

    pthread_mutex_lock(&p->pending_lock);
    for (pub = p->head; pub; pub = next) {
        next = pub->next;
        if (pub->rk != rk)
            continue;
        pending_unlink(p, pub);
        pub->next = orphans;
        orphans = pub;
    }
    pthread_mutex_unlock(&p->pending_lock);
    for (pub = orphans; pub; pub = next) {
        next = pub->next;
        if (!p->closing) /* else the request may be gone with the daemon */
            snprintf(pub->req->publish_error, sizeof(pub->req->publish_error),
                     "no delivery report from the Kafka producer");
        answer(p, pub->req, API_PUB_POSSIBLY_PERSISTED);
        free(pub);
        n++;
    }
    if (n) {
        const char *l[] = {"possibly_persisted"};
        of_metrics_add(of_metrics_series(p->api->m_produce_errors, l),
                       (double)n);
        of_warn("%ld commands had no delivery report from their producer: "
                "answered outcome_unknown",
                n);
    }
}

/* Poll thread: serve the retired producer's reports until it has none
 * left (or 2 s), then destroy it. */
static void serve_retiring(struct api_producer *p)
{
    if (!p->retiring)
        return;
    rd_kafka_poll(p->retiring, 0);
    answer_reported(p);
    if (rd_kafka_outq_len(p->retiring) > 0 && of_time_mono_us() < p->retire_until_us)
        return;
    rd_kafka_t *old = p->retiring;
    p->retiring = NULL;
    rd_kafka_destroy(old);
    answer_orphans(p, old);
    of_info("retired Kafka producer destroyed");
}

/* Poll thread: swap in a new producer after a fatal error. */
static void recreate(struct api_producer *p)
{
    struct of_err err;

    if (p->retiring) /* one at a time: the previous goes first */
        return;
    rd_kafka_t *fresh = make_producer(p->api, &err);
    if (!fresh) {
        of_error("could not recreate the producer: %s", err.msg);
        sleep(1);
        return;
    }
    pthread_rwlock_wrlock(&p->lock);
    rd_kafka_t *old = p->rk;
    p->rk = fresh;
    p->fatal = 0;
    pthread_rwlock_unlock(&p->lock);
    /* its outstanding messages fail now: 503 or 504 by their status */
    rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                            RD_KAFKA_PURGE_F_NON_BLOCKING);
    p->retiring = old;
    p->retire_until_us = of_time_mono_us() + 2000000;
    of_info("Kafka producer recreated");
}

static void *poll_main(void *arg)
{
    struct api_producer *p = arg;

    while (p->run) {
        rd_kafka_poll(p->rk, 50);
        answer_reported(p);
        serve_retiring(p);
        keep_budget(p);
        if (p->fatal)
            recreate(p);
    }
    return NULL;
}

static void *ready_main(void *arg)
{
    struct api_producer *p = arg;
    int up_once = 0;

    while (p->run) {
        const struct rd_kafka_metadata *md = NULL;
        /* not ready: the last answer failed or every broker was lost */
        int was_down = !p->ready;
        pthread_rwlock_rdlock(&p->lock);
        rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, NULL, &md, 1000);
        int ok = e == RD_KAFKA_RESP_ERR_NO_ERROR && md->broker_cnt > 0;
        if (ok && was_down && up_once && !p->fault_fired &&
            API_FAULT("producer_fatal_on_reconnect")) {
            p->fault_fired = 1;
            of_warn("fault point producer_fatal_on_reconnect reached: "
                    "raising a fatal producer error (ORDERFLOW_FAULT)");
            rd_kafka_test_fatal_error(
                p->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                "ORDERFLOW_FAULT producer_fatal_on_reconnect");
        }
        pthread_rwlock_unlock(&p->lock);
        up_once |= ok;
        p->ready = ok && !p->fatal;
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
    pthread_rwlockattr_t attr;

    if (!p) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    p->api = api;
    p->budget_ms = api->cfg->api.produce_timeout_ms;
    /* a steady stream of publishers must not starve the swap */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&p->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&p->pending_lock, NULL);
    pthread_mutex_init(&p->redis_lock, NULL);
    p->redis = of_redis_new(api->cfg, err); /* connects on first use */
    p->rk = p->redis ? make_producer(api, err) : NULL;
    if (!p->rk) {
        of_redis_destroy(p->redis);
        pthread_mutex_destroy(&p->redis_lock);
        pthread_mutex_destroy(&p->pending_lock);
        pthread_rwlock_destroy(&p->lock);
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
    return p->ready && !p->fatal;
}

void api_producer_flush(struct api_producer *p, int timeout_ms)
{
    pthread_rwlock_rdlock(&p->lock);
    rd_kafka_flush(p->rk, timeout_ms);
    answer_reported(p); /* the reports it served, here */
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
    /* the HTTP daemon is stopped: a late report must not resume anyone */
    p->closing = 1;
    rd_kafka_flush(p->rk, 5000);
    rd_kafka_destroy(p->rk);
    answer_orphans(p, p->rk);
    if (p->retiring) {
        rd_kafka_destroy(p->retiring);
        answer_orphans(p, p->retiring);
    }
    answer_reported(p); /* frees what the poll thread left gathered */
    of_redis_destroy(p->redis);
    pthread_mutex_destroy(&p->redis_lock);
    pthread_mutex_destroy(&p->pending_lock);
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
    struct pub *pub = calloc(1, sizeof(*pub));
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__FAIL;

    /* suspend first: the delivery report may come before producev returns */
    req->publish = API_PUB_PENDING;
    api_suspend(req);
    if (!pub)
        goto refused;
    pub->req = req;
    pthread_rwlock_rdlock(&p->lock);
    pub->rk = p->rk;
    pub->sent_us = of_time_mono_us();
    pending_add(p, pub); /* before producev: the report unlinks it */
    e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY(key, strlen(key)),
                          RD_KAFKA_V_VALUE(value, value_len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(pub),
                          RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* no report will come: pub is still ours */
        pthread_mutex_lock(&p->pending_lock);
        pending_unlink(p, pub);
        pthread_mutex_unlock(&p->pending_lock);
        free(pub);
    }
    pthread_rwlock_unlock(&p->lock);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return OF_OK;
refused:
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
