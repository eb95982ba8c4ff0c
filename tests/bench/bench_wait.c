/*
 * bench_wait GROUP TOPIC TIMEOUT_S: waits until consumer group GROUP has
 * committed the end of every partition of TOPIC, printing the seconds it
 * took; exit 1 on timeout. The benchmark's "drained" signal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "of_cli.h"
#include "of_kafka.h"

static double now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* @returns the messages not yet committed, or -1 */
static long long lag(rd_kafka_t *rk, const char *topic, int n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    long long total = 0;

    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    if (rd_kafka_committed(rk, l, 5000) != 0)
        total = -1;
    for (int p = 0; total >= 0 && p < n; p++) {
        int64_t lo, hi, c = l->elems[p].offset;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000))
            total = -1;
        else
            total += hi - (c < 0 ? lo : c);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return total;
}

int main(int argc, char **argv)
{
    struct of_err err;
    struct of_config *cfg = of_cli_config(NULL, "bench_wait");
    double t0 = now(), limit;

    if (!cfg || argc != 4) {
        fprintf(stderr, "usage: bench_wait GROUP TOPIC TIMEOUT_S\n");
        return 2;
    }
    limit = strtod(argv[3], NULL);
    const char *extra[] = {"group.id", argv[1], NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, &err);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0) {
        fprintf(stderr, "bench_wait: no metadata for %s\n", argv[2]);
        return 1;
    }
    int n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    long long left = -1;
    while (now() - t0 < limit) {
        left = lag(rk, argv[2], n);
        if (left == 0)
            break;
        usleep(100000);
    }
    rd_kafka_destroy(rk);
    of_config_destroy(cfg);
    if (left != 0) {
        fprintf(stderr, "bench_wait: %lld messages left after %.0f s\n", left,
                limit);
        return 1;
    }
    printf("%.2f\n", now() - t0);
    return 0;
}
