/*
 * of_kafka: librdkafka set up the orderflow way.
 *
 * Every [kafka] key of the config goes to rd_kafka_conf_set() unchanged;
 * librdkafka's own log lines come through of_log. The contract's message
 * headers (CONTRACT §4) are built and read here.
 */
#ifndef OF_KAFKA_H
#define OF_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "of_config.h"
#include "of_err.h"

/**
 * @brief A conf holding every [kafka] key of \p cfg, then \p extra (pairs of
 *        key, value, ended by NULL) which override them, e.g. the producer's
 *        enable.idempotence=true.
 * @returns a conf the caller owns (rd_kafka_new() takes it on success), or
 *          NULL with \p err naming the key librdkafka refused.
 */
rd_kafka_conf_t *of_kafka_conf_new(const struct of_config *cfg,
                                   const char *const *extra,
                                   struct of_err *err);

/**
 * @brief Create \p rk handle of \p type from \p conf (taken on success).
 */
rd_kafka_t *of_kafka_new(rd_kafka_type_t type, rd_kafka_conf_t *conf,
                         struct of_err *err);

/**
 * @brief Create the five contract topics with [topics] partitions and
 *        replication_factor; topics that exist already are fine.
 * @param created how many were new.
 */
int of_kafka_topics_create(const struct of_config *cfg, int *created,
                           struct of_err *err);

/**
 * @brief Create \p topic (exists already: fine) with \p partitions.
 */
int of_kafka_topic_create(rd_kafka_t *rk, const char *topic, int partitions,
                          int replication, int *created, struct of_err *err);

/**
 * @brief The contract headers: content-type, message-type, trace-id.
 * @returns headers the caller owns (producev RD_KAFKA_V_HEADERS takes them).
 */
rd_kafka_headers_t *of_kafka_headers_new(const char *message_type,
                                         const char *trace_id);

/**
 * @brief Copy header \p name of \p rkm into \p out as a string.
 * @returns 1 if found, 0 if not (out is then "").
 */
int of_kafka_header_get(const rd_kafka_message_t *rkm, const char *name,
                        char *out, size_t cap);

#endif
