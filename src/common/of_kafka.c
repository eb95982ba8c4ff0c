/* of_kafka: see of_kafka.h. */
#include "of_kafka.h"

#include <stdio.h>
#include <string.h>

#include "of_headers.h"
#include "of_log.h"

/* librdkafka's syslog levels onto ours. Runs on librdkafka's threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf)
{
    int ours = level <= 3 ? OF_LOG_ERROR : level <= 5 ? OF_LOG_WARN
               : level == 6                           ? OF_LOG_INFO
                                                      : OF_LOG_DEBUG;
    of_log(ours, "librdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_conf_t *of_kafka_conf_new(const struct of_config *cfg,
                                   const char *const *extra,
                                   struct of_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];

    for (int i = 0; i < cfg->kafka_n; i++) {
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value,
                              errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            of_err_set(err, OF_EFATAL, "%s: [kafka] %s: %s", cfg->path,
                       cfg->kafka[i].key, errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    for (; extra && extra[0]; extra += 2) {
        if (rd_kafka_conf_set(conf, extra[0], extra[1], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK) {
            of_err_set(err, OF_EFATAL, "kafka setting %s: %s", extra[0],
                       errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    return conf;
}

rd_kafka_t *of_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
                         struct of_err *err)
{
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));

    if (!rk)
        of_err_set(err, OF_EFATAL, "could not create Kafka client: %s",
                   errstr);
    return rk;
}

int of_kafka_topic_create(rd_kafka_t *rk, const char *topic, int partitions,
                          int replication, int *created, struct of_err *err)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt = NULL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev = NULL;
    int rc = OF_OK;

    nt = rd_kafka_NewTopic_new(topic, partitions, replication, errstr,
                               sizeof(errstr));
    if (!nt) {
        rc = of_err_set(err, OF_EINVAL, "bad topic \"%s\": %s", topic, errstr);
        goto out;
    }
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) {
        rc = of_err_set(err, OF_EAGAIN,
                        "could not create topic \"%s\": no answer in 30 s",
                        topic);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        rc = of_err_set(err, OF_EAGAIN, "could not create topic \"%s\": %s",
                        topic, rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (*created)++;
        } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc = of_err_set(err, OF_EINVAL, "could not create topic \"%s\": %s",
                            topic, rd_kafka_topic_result_error_string(res[i]));
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int of_kafka_topics_create(const struct of_config *cfg, int *created,
                           struct of_err *err)
{
    const char *topics[] = {cfg->topics.user_commands,
                            cfg->topics.order_commands, cfg->topics.user_events,
                            cfg->topics.order_events, cfg->topics.dead_letter};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, NULL, err);
    rd_kafka_t *rk;
    int rc = OF_OK;

    *created = 0;
    if (!conf)
        return err->rc;
    rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return err->rc;
    }
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        rc = of_kafka_topic_create(rk, topics[i], cfg->topics.partitions,
                                   cfg->topics.replication_factor, created,
                                   err);
        if (rc != OF_OK)
            break;
    }
    rd_kafka_destroy(rk);
    return rc;
}

rd_kafka_headers_t *of_kafka_headers_new(const char *message_type,
                                         const char *trace_id)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);

    rd_kafka_header_add(h, "content-type", -1, OF_HEADERS_CONTENT_TYPE, -1);
    rd_kafka_header_add(h, "message-type", -1, message_type, -1);
    rd_kafka_header_add(h, "trace-id", -1, trace_id ? trace_id : "", -1);
    return h;
}

int of_kafka_header_get(const rd_kafka_message_t *rkm, const char *name,
                        char *out, size_t cap)
{
    rd_kafka_headers_t *h = NULL;

    out[0] = '\0';
    if (rd_kafka_message_headers(rkm, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    return of_headers_get(h, name, out, cap);
}
