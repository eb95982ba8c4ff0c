/*
 * ctl_scan: read a bounded range of a topic without a consumer group
 * (assign, not subscribe), for replay and the load and fault tests. The
 * range ends where the partition ended when the scan began, so a scan
 * always finishes. A wrapper of of_dlq_scan() (of_dlq.h).
 */
#ifndef CTL_SCAN_H
#define CTL_SCAN_H

#include <stdint.h>

#include "of_config.h"
#include "of_dlq.h" /* struct of_dlq_range, of_dlq_scan_cb */

/**
 * @brief Call \p cb for every message in \p range, partition by partition
 *        in offset order.
 * @param total if not NULL, set before the first callback to the number of
 *        offsets in the range (for progress).
 * @returns 0, or 1 after printing an error.
 */
int ctl_scan(const struct of_config *cfg, const struct of_dlq_range *range,
             of_dlq_scan_cb cb, void *arg, int64_t *total);

/** @brief Parse RFC 3339 ("2026-11-29T03:48:46Z") into ms. @returns 0/-1 */
int ctl_parse_time(const char *s, int64_t *ms);

#endif
