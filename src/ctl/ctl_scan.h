/*
 * ctl_scan: read a bounded range of a topic without a consumer group
 * (assign, not subscribe), for replay and the load and fault tests. The
 * range ends where the partition ended when the scan began, so a scan
 * always finishes. A wrapper of of_dlq_scan() (of_dlq.h).
 */
#ifndef CTL_SCAN_H
#define CTL_SCAN_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "of_config.h"

struct ctl_range {
    const char *topic;
    int partition;      /* -1: every partition */
    int64_t from_offset; /* -1: unset */
    int64_t from_ms;     /* -1: unset; a timestamp in ms */
    int64_t to_offset;   /* -1: to the end (exclusive bound otherwise) */
    int64_t to_ms;       /* -1: unset */
};

/** @returns 0 to go on, non-zero to stop reading the current partition
 *           (the next one is read all the same). */
typedef int (*ctl_scan_cb)(void *arg, const rd_kafka_message_t *rkm);

/**
 * @brief Call \p cb for every message in \p range, partition by partition
 *        in offset order.
 * @param total if not NULL, set before the first callback to the number of
 *        offsets in the range (for progress).
 * @returns 0, or 1 after printing an error.
 */
int ctl_scan(const struct of_config *cfg, const struct ctl_range *range,
             ctl_scan_cb cb, void *arg, int64_t *total);

/** @brief Parse RFC 3339 ("2026-11-29T03:48:46Z") into ms. @returns 0/-1 */
int ctl_parse_time(const char *s, int64_t *ms);

#endif
