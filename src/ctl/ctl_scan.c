/* ctl_scan: see ctl_scan.h. */
#include "ctl_scan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "of_kafka.h"

int ctl_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

    if (!p)
        return -1;
    if (*p == '.') /* fractions of a second are dropped */
        while (*++p >= '0' && *p <= '9')
            ;
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0 && md->topic_cnt == 1 &&
        md->topics[0].err == 0)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Offset of the first message at or after \p ms in partition \p p. */
static int64_t offset_for_time(rd_kafka_t *rk, const char *topic, int p,
                               int64_t ms, int64_t high)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t off;

    rd_kafka_topic_partition_list_add(l, topic, p)->offset = ms;
    if (rd_kafka_offsets_for_times(rk, l, 10000) != 0)
        off = -2;
    else
        off = l->elems[0].offset < 0 ? high : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

/* The [from, to) offsets of partition \p p. @returns 0, or -1 */
static int bounds(rd_kafka_t *rk, const struct ctl_range *r, int p,
                  int64_t *from, int64_t *to)
{
    int64_t low, high;

    if (rd_kafka_query_watermark_offsets(rk, r->topic, p, &low, &high,
                                         10000) != 0)
        return -1;
    *from = low;
    if (r->from_offset >= 0)
        *from = r->from_offset > low ? r->from_offset : low;
    else if (r->from_ms >= 0)
        *from = offset_for_time(rk, r->topic, p, r->from_ms, high);
    *to = high;
    if (r->to_offset >= 0 && r->to_offset < high)
        *to = r->to_offset;
    else if (r->to_ms >= 0)
        *to = offset_for_time(rk, r->topic, p, r->to_ms, high);
    return *from < -1 || *to < -1 ? -1 : 0;
}

static int scan_partition(rd_kafka_t *rk, const char *topic, int p,
                          int64_t from, int64_t to, ctl_scan_cb cb, void *arg)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    int64_t next = from;
    int idle = 0, rc = 0;

    rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    while (next < to && idle < 300) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (m->err == 0 && m->partition == p && m->offset >= next) {
            next = m->offset + 1;
            if (m->offset < to && cb(arg, m) != 0)
                next = to;
        } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            ctl_fail("reading %s [%d]: %s", topic, p, rd_kafka_message_errstr(m));
            rc = 1;
            next = to;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    if (next < to && rc == 0) {
        ctl_fail("reading %s [%d]: no message for 30 s at offset %lld", topic,
                 p, (long long)next);
        rc = 1;
    }
    return rc;
}

int ctl_scan(const struct of_config *cfg, const struct ctl_range *range,
             ctl_scan_cb cb, void *arg, int64_t *total)
{
    const char *extra[] = {"group.id", "orderflowctl-scan",
                           "enable.auto.commit", "false",
                           "enable.partition.eof", "false", NULL};
    struct of_err err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *rk = conf ? of_kafka_new(RD_KAFKA_CONSUMER, conf, &err) : NULL;
    int64_t from[1024], to[1024];
    int n, first, last, rc = 0;

    if (!rk) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    n = partition_count(rk, range->topic);
    if (n < 0 || n > 1024 || range->partition >= n) {
        ctl_fail("topic \"%s\" %s", range->topic,
                 n < 0 ? "does not exist" : "has no such partition");
        rc = 1;
        goto out;
    }
    first = range->partition >= 0 ? range->partition : 0;
    last = range->partition >= 0 ? range->partition : n - 1;
    if (total)
        *total = 0;
    for (int p = first; p <= last; p++) {
        if (bounds(rk, range, p, &from[p], &to[p]) != 0) {
            ctl_fail("could not read the offsets of %s [%d]", range->topic, p);
            rc = 1;
            goto out;
        }
        if (total && to[p] > from[p])
            *total += to[p] - from[p];
    }
    for (int p = first; p <= last && rc == 0; p++) {
        if (to[p] > from[p])
            rc = scan_partition(rk, range->topic, p, from[p], to[p], cb, arg);
    }
out:
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
