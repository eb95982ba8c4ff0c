/*
 * The command worker's consumer (src/workers/worker_consumer.c, compiled in
 * here) against librdkafka's mock cluster when the fetch of the committed
 * offsets fails with NOT_COORDINATOR: librdkafka issue #5586, seen in F6
 * (a broker pause) about one run in twelve. librdkafka 2.0.2 then refreshes
 * the coordinator but neither retries the OffsetFetch nor starts the
 * fetchers, so the assigned partitions are never fetched; the consumer must
 * notice the error and re-apply its assignment. The mock injects the error
 * on the first OffsetFetch after the group assigned the partitions; the
 * consumer must still get the next message after the committed offset,
 * with both rebalance protocols.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/workers/worker_consumer.c"
#include "../../src/workers/worker_health.c"

#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h, as it demands */

#define NMSG   20
#define WAIT_S 20
/* RD_KAFKAP_OffsetFetch of librdkafka's rdkafka_protocol.h (not installed):
 * the Kafka protocol's API key of OffsetFetch */
#define API_OFFSET_FETCH 9

/* The consumer's only use of worker_metrics.c (which needs libmicrohttpd,
 * not linked into unit tests). */
void worker_metrics_lag(struct worker_metrics *wm,
                        const char *topic,
                        int32_t partition,
                        int64_t lag)
{
    (void)wm;
    (void)topic;
    (void)partition;
    (void)lag;
}

static struct {
    rd_kafka_t *admin; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mcluster;
    char bootstraps[256];
    struct worker_metrics wm;
} t;

static int setup(void **state)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    (void)state;

    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    t.admin = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(t.admin);
    t.mcluster = rd_kafka_mock_cluster_new(t.admin, 1);
    assert_non_null(t.mcluster);
    snprintf(t.bootstraps, sizeof(t.bootstraps), "%s",
             rd_kafka_mock_cluster_bootstraps(t.mcluster));
    assert_int_equal(rd_kafka_mock_topic_create(t.mcluster, "user-cmds", 1, 1),
                     0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_mock_cluster_destroy(t.mcluster);
    rd_kafka_destroy(t.admin);
    return 0;
}

/* Produces offsets 0..NMSG-1 to the one partition of a new topic. */
static void produce(const char *topic)
{
    char errstr[256], v[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    assert_int_equal(rd_kafka_mock_topic_create(t.mcluster, topic, 1, 1), 0);
    rd_kafka_conf_set(conf, "bootstrap.servers", t.bootstraps, errstr,
                      sizeof(errstr));
    rd_kafka_t *p =
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(p);
    for (int i = 0; i < NMSG; i++) {
        snprintf(v, sizeof(v), "%d", i);
        assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                           RD_KAFKA_V_VALUE(v, strlen(v)),
                                           RD_KAFKA_V_MSGFLAGS(
                                               RD_KAFKA_MSG_F_COPY),
                                           RD_KAFKA_V_END),
                         0);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

static struct worker_consumer *
consumer(const char *topic, const char *group, const char *strategy)
{
    char ini[1024];
    struct of_err err;

    snprintf(ini, sizeof(ini),
             "[log]\nlevel = error\n"
             "[topics]\nuser_commands = user-cmds\norder_commands = %s\n"
             "[worker]\ngroup_id = %s\n"
             "[kafka]\nbootstrap.servers = %s\n"
             "partition.assignment.strategy = %s\n"
             "session.timeout.ms = 6000\nheartbeat.interval.ms = 500\n",
             topic, group, t.bootstraps, strategy);
    struct of_config *cfg = of_config_load_string(ini, "unit.ini", &err);
    if (!cfg)
        fail_msg("config: %s", err.msg);
    struct worker_consumer *wc = worker_consumer_new(cfg, &t.wm, &err);
    of_config_destroy(cfg);
    if (!wc)
        fail_msg("consumer: %s", err.msg);
    return wc;
}

/* The next message within WAIT_S, or NULL. */
static rd_kafka_message_t *next(struct worker_consumer *wc)
{
    struct of_err err;
    rd_kafka_message_t *rkm = NULL;

    for (int i = 0; i < WAIT_S * 10 && !rkm; i++)
        assert_int_equal(worker_consumer_next(wc, 100, &rkm, &err), OF_OK);
    return rkm;
}

/* A first member commits 0..4 and leaves; the second member's OffsetFetch
 * fails with NOT_COORDINATOR: it must still start at offset 5. */
static void starts_after_a_failed_offset_fetch(const char *strategy)
{
    char topic[64], group[64];
    rd_kafka_message_t *rkm;

    snprintf(topic, sizeof(topic), "coord-%s", strategy);
    snprintf(group, sizeof(group), "g-coord-%s", strategy);
    produce(topic);
    struct worker_consumer *wc = consumer(topic, group, strategy);
    for (int i = 0; i < 5; i++) {
        rkm = next(wc);
        if (!rkm)
            fail_msg("no message %d in %d s", i, WAIT_S);
        assert_int_equal(rkm->offset, i);
        worker_consumer_commit(wc, rkm);
        rd_kafka_message_destroy(rkm);
    }
    worker_consumer_close(wc);

    rd_kafka_mock_push_request_errors(t.mcluster, API_OFFSET_FETCH, 1,
                                      RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
    wc = consumer(topic, group, strategy);
    unsigned int assigned = 0;
    rkm = next(wc);
    if (!rkm)
        fail_msg("%s: nothing fetched in %d s after the failed OffsetFetch "
                 "(librdkafka #5586 not worked around)",
                 strategy, WAIT_S);
    assert_int_equal(rkm->offset, 5); /* from the committed offset */
    rd_kafka_message_destroy(rkm);
    assigned = worker_consumer_assignments(wc);
    assert_true(assigned >= 2); /* the group's, and ours again */
    for (int i = 6; i < NMSG; i++) {
        rkm = next(wc);
        assert_non_null(rkm);
        assert_int_equal(rkm->offset, i); /* no gap, no repeat */
        rd_kafka_message_destroy(rkm);
    }
    worker_consumer_close(wc);
}

static void failed_offset_fetch_cooperative(void **state)
{
    (void)state;
    starts_after_a_failed_offset_fetch("cooperative-sticky");
}

static void failed_offset_fetch_eager(void **state)
{
    (void)state;
    starts_after_a_failed_offset_fetch("range");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_offset_fetch_cooperative),
        cmocka_unit_test(failed_offset_fetch_eager),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
