/* worker_deadletter: see worker_deadletter.h. */
#include "worker_deadletter.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "of_avro.h" /* OF_TRACE_ID_MAX */
#include "of_kafka.h"
#include "of_log.h"
#include "of_model.h" /* of_time_format, of_time_now_us */

/* A report always comes within message.timeout.ms; the flush waits a bit
 * longer so that one send() ends with its own report. */
#define DL_MESSAGE_TIMEOUT "10000"
#define DL_FLUSH_MS        15000

struct worker_deadletter {
    rd_kafka_t *rk;
    char topic[200];
    /* Each send() numbers its message; the delivery report names the
     * number, so a late report of an earlier attempt is not taken for the
     * current one. Written by dr_cb, which runs inside rd_kafka_flush() on
     * our own thread. */
    uint64_t seq;
    uint64_t done_seq;
    rd_kafka_resp_err_t done_err;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    struct worker_deadletter *dl = opaque;
    (void)rk;

    dl->done_seq = (uint64_t)(uintptr_t)rkm->_private;
    dl->done_err = rkm->err;
}

struct worker_deadletter *worker_deadletter_new(const struct of_config *cfg,
                                                struct of_err *err)
{
    /* Not idempotent: one message at a time, each waited for, so there is
     * no order to keep; and librdkafka 2.0.2's idempotent producer can
     * fail fatally after a broker restart (TESTPLAN), which a plain one
     * does not. */
    static const char *const extra[] = {
        "acks", "all", "message.timeout.ms", DL_MESSAGE_TIMEOUT, "linger.ms",
        "0",    NULL};
    struct worker_deadletter *dl = calloc(1, sizeof(*dl));
    rd_kafka_conf_t *conf;

    if (!dl) {
        of_err_set(err, OF_EFATAL, "out of memory");
        return NULL;
    }
    snprintf(dl->topic, sizeof(dl->topic), "%s", cfg->topics.dead_letter);
    conf = of_kafka_conf_new(cfg, extra, err);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, dl);
    dl->rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (!dl->rk) {
        rd_kafka_conf_destroy(conf); /* not taken on failure */
        goto fail;
    }
    return dl;
fail:
    free(dl);
    return NULL;
}

void worker_deadletter_destroy(struct worker_deadletter *dl)
{
    if (!dl)
        return;
    rd_kafka_flush(dl->rk, 5000);
    if (rd_kafka_outq_len(dl->rk) > 0)
        of_warn("dead-letter producer: %d messages not delivered at exit",
                rd_kafka_outq_len(dl->rk));
    rd_kafka_destroy(dl->rk);
    free(dl);
}

/* Copies the last value of header \p name of \p rkm (a repeated header
 * is copied once), if it has one, to \p out, cut at \p max bytes. */
static void copy_header(const rd_kafka_message_t *rkm,
                        const char *name,
                        size_t max,
                        rd_kafka_headers_t *out)
{
    rd_kafka_headers_t *in = NULL;
    const void *val;
    size_t len;

    if (rd_kafka_message_headers(rkm, &in) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    if (rd_kafka_header_get_last(in, name, &val, &len) ==
        RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_header_add(out, name, -1, val,
                            (ssize_t)(len > max ? max : len));
}

static rd_kafka_headers_t *make_headers(const rd_kafka_message_t *rkm,
                                        const char *reason,
                                        const char *parked_behind)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(9);
    char partition[16], offset[24], failed_at[40];

    /* the value is the original, untouched; of the headers, the ones the
     * contract names, their last value, and a trace id of at most
     * OF_TRACE_ID_MAX bytes (TESTPLAN row 46: a 10 KiB one is cut) */
    copy_header(rkm, "content-type", SIZE_MAX, h);
    copy_header(rkm, "message-type", SIZE_MAX, h);
    copy_header(rkm, "trace-id", OF_TRACE_ID_MAX, h);
    snprintf(partition, sizeof(partition), "%" PRId32, rkm->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, rkm->offset);
    of_time_format(of_time_now_us(), 1, failed_at);
    rd_kafka_header_add(h, "error", -1, reason, -1);
    rd_kafka_header_add(h, "original-topic", -1, rd_kafka_topic_name(rkm->rkt),
                        -1);
    rd_kafka_header_add(h, "original-partition", -1, partition, -1);
    rd_kafka_header_add(h, "original-offset", -1, offset, -1);
    rd_kafka_header_add(h, "failed-at", -1, failed_at, -1);
    if (parked_behind)
        rd_kafka_header_add(h, "parked-behind", -1, parked_behind, -1);
    return h;
}

int worker_deadletter_send(struct worker_deadletter *dl,
                           const rd_kafka_message_t *rkm,
                           const char *reason,
                           const char *parked_behind,
                           struct of_err *err)
{
    rd_kafka_headers_t *h = make_headers(rkm, reason, parked_behind);
    uint64_t seq = ++dl->seq;
    rd_kafka_resp_err_t e;

    e = rd_kafka_producev(
        dl->rk, RD_KAFKA_V_TOPIC(dl->topic),
        RD_KAFKA_V_KEY(rkm->key, rkm->key_len),
        RD_KAFKA_V_VALUE(rkm->payload, rkm->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(h); /* taken only on success */
        return of_err_set(err, OF_EAGAIN,
                          "could not queue the dead letter for \"%s\": %s",
                          dl->topic, rd_kafka_err2str(e));
    }
    rd_kafka_flush(dl->rk, DL_FLUSH_MS);
    if (dl->done_seq != seq)
        return of_err_set(err, OF_EAGAIN,
                          "no answer from Kafka for the dead letter to "
                          "\"%s\" in %d s",
                          dl->topic, DL_FLUSH_MS / 1000);
    if (dl->done_err != RD_KAFKA_RESP_ERR_NO_ERROR)
        return of_err_set(err, OF_EAGAIN,
                          "could not write the dead letter to \"%s\": %s",
                          dl->topic, rd_kafka_err2str(dl->done_err));
    return OF_OK;
}
