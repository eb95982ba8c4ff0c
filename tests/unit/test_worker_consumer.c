/*
 * Unit tests of the command worker's consumer (src/workers/worker_consumer.c,
 * compiled in here: the worker's files are not a library) against
 * librdkafka's mock cluster, no network beyond loopback.
 *
 * What they pin down is librdkafka 2.0.2's behaviour the retry loop relies
 * on: a message held while its partitions are paused and polled for a
 * while is followed, after resume, by exactly the next offset, with
 * nothing skipped, repeated or reordered; committed offsets are where a
 * new member of the group starts.
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

#define TOPIC  "order-cmds"
#define NMSG   30
#define WAIT_S 20

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
    int group_n;
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
    assert_int_equal(rd_kafka_mock_topic_create(t.mcluster, TOPIC, 1, 1), 0);
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

/* Produces "0".."NMSG-1" to each partition of a fresh topic \p topic. */
static void produce_to(const char *topic, int partitions)
{
    char errstr[256], v[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    assert_int_equal(
        rd_kafka_mock_topic_create(t.mcluster, topic, partitions, 1), 0);
    rd_kafka_conf_set(conf, "bootstrap.servers", t.bootstraps, errstr,
                      sizeof(errstr));
    rd_kafka_t *p =
        rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(p);
    for (int i = 0; i < NMSG * partitions; i++) {
        snprintf(v, sizeof(v), "%d", i / partitions);
        assert_int_equal(
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_PARTITION(i % partitions),
                              RD_KAFKA_V_VALUE(v, strlen(v)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_END),
            0);
    }
    assert_int_equal(rd_kafka_flush(p, 10000), 0);
    rd_kafka_destroy(p);
}

static void produce_all(const char *topic)
{
    produce_to(topic, 1);
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

/* The next message, waiting at most WAIT_S. */
static rd_kafka_message_t *next(struct worker_consumer *wc)
{
    struct of_err err;
    rd_kafka_message_t *rkm = NULL;

    for (int i = 0; i < WAIT_S * 10 && !rkm; i++)
        assert_int_equal(worker_consumer_next(wc, 100, &rkm, &err), OF_OK);
    if (!rkm)
        fail_msg("no message in %d s", WAIT_S);
    return rkm;
}

static int value_of(const rd_kafka_message_t *rkm)
{
    char v[16];

    snprintf(v, sizeof(v), "%.*s", (int)rkm->len, (const char *)rkm->payload);
    return atoi(v);
}

/* Holds offset 3 through five paused waits (a retry loop), then reads the
 * rest: 4, 5, ... each once, in order. */
static void held_message_is_followed_by_the_next_offset(const char *strategy)
{
    char topic[64], group[64];
    volatile sig_atomic_t running = 1;
    struct of_err err;
    rd_kafka_message_t *rkm;

    snprintf(topic, sizeof(topic), "pause-%s", strategy);
    snprintf(group, sizeof(group), "g-pause-%d", ++t.group_n);
    produce_all(topic);
    struct worker_consumer *wc = consumer(topic, group, strategy);
    for (int i = 0; i < 3; i++) {
        rkm = next(wc);
        assert_int_equal(rkm->offset, i);
        worker_consumer_commit(wc, rkm);
        rd_kafka_message_destroy(rkm);
    }
    rkm = next(wc);
    assert_int_equal(rkm->offset, 3);
    worker_consumer_hold(wc, rkm);
    for (int attempt = 0; attempt < 5; attempt++) {
        assert_int_equal(worker_consumer_wait(wc, 300, &running, &err), OF_OK);
        assert_int_equal(wc->stash_n, 0); /* nothing fetched while paused */
    }
    assert_int_equal(value_of(rkm), 3); /* still the held message */
    worker_consumer_commit(wc, rkm);
    worker_consumer_release(wc);
    rd_kafka_message_destroy(rkm);
    for (int i = 4; i < NMSG; i++) {
        rkm = next(wc);
        assert_int_equal(rkm->offset, i); /* no gap, no repeat */
        assert_int_equal(value_of(rkm), i);
        rd_kafka_message_destroy(rkm);
    }
    worker_consumer_close(wc);
}

static void pause_resume_eager(void **state)
{
    (void)state;
    held_message_is_followed_by_the_next_offset("range");
}

static void pause_resume_cooperative(void **state)
{
    (void)state;
    held_message_is_followed_by_the_next_offset("cooperative-sticky");
}

/* Offsets committed for 0..9 (async, then synchronously at close) are
 * where the next member starts; the held-but-unfinished 10 comes again. */
static void next_member_starts_after_the_last_commit(void **state)
{
    char group[64];
    rd_kafka_message_t *rkm;
    (void)state;

    snprintf(group, sizeof(group), "g-commit-%d", ++t.group_n);
    produce_all("commit");
    struct worker_consumer *wc = consumer("commit", group, "range");
    for (int i = 0; i < 10; i++) {
        rkm = next(wc);
        worker_consumer_commit(wc, rkm);
        rd_kafka_message_destroy(rkm);
    }
    rkm = next(wc); /* offset 10: taken, never finished */
    assert_int_equal(rkm->offset, 10);
    rd_kafka_message_destroy(rkm);
    worker_consumer_close(wc);

    wc = consumer("commit", group, "range");
    rkm = next(wc);
    assert_int_equal(rkm->offset, 10);
    rd_kafka_message_destroy(rkm);
    worker_consumer_close(wc);
}

/* A revoke of the held message's partition ends the wait at once with
 * OF_EAGAIN (give it up); other partitions do not. */
static void revoke_of_held_partition_gives_the_message_up(void **state)
{
    char group[64];
    volatile sig_atomic_t running = 1;
    struct of_err err;
    (void)state;

    snprintf(group, sizeof(group), "g-revoke-%d", ++t.group_n);
    produce_all("revoke");
    struct worker_consumer *wc = consumer("revoke", group, "range");
    rd_kafka_message_t *rkm = next(wc);
    worker_consumer_hold(wc, rkm);

    rd_kafka_topic_partition_list_t *other =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(other, "user-cmds", 0);
    forget(wc, other);
    assert_int_equal(worker_consumer_wait(wc, 100, &running, &err), OF_OK);

    rd_kafka_topic_partition_list_t *mine =
        rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(mine, "revoke", 0);
    forget(wc, mine);
    assert_int_equal(worker_consumer_wait(wc, 5000, &running, &err), OF_EAGAIN);
    assert_non_null(strstr(err.msg, "revoked"));

    running = 0; /* and shutdown ends a wait the same way */
    worker_consumer_hold(wc, rkm);
    assert_int_equal(worker_consumer_wait(wc, 5000, &running, &err), OF_EAGAIN);
    assert_string_equal(err.msg, "shutting down");

    worker_consumer_release(wc);
    rd_kafka_topic_partition_list_destroy(other);
    rd_kafka_topic_partition_list_destroy(mine);
    rd_kafka_message_destroy(rkm);
    worker_consumer_close(wc);
}

static int assigned(struct worker_consumer *wc)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n;

    assert_int_equal(rd_kafka_assignment(wc->rk, &parts), 0);
    n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* Member A is paused on a held message when B joins: the (eager)
 * rebalance revokes A's partitions while paused and gives one to B. When B
 * leaves, that partition comes back to A, which is no longer paused: it is
 * fetched again, from the start (nothing was committed). */
static void partition_revoked_while_paused_is_fetched_again(void **state)
{
    char group[64];
    volatile sig_atomic_t running = 1;
    struct of_err err;
    rd_kafka_message_t *rkm;
    int64_t top[2] = {-1, -1};
    (void)state;

    snprintf(group, sizeof(group), "g-rebalance-%d", ++t.group_n);
    produce_to("rebalance", 2);
    struct worker_consumer *a = consumer("rebalance", group, "range");
    rkm = next(a);
    worker_consumer_hold(a, rkm);
    struct worker_consumer *b = consumer("rebalance", group, "range");
    int held = 1;
    for (int i = 0; i < WAIT_S * 5 && (assigned(a) != 2 || assigned(b) != 1);
         i++) {
        rd_kafka_message_t *m = NULL;
        /* eager: all of A's partitions are revoked, so the wait gives the
         * held message up, as the worker's retry loop would */
        if (held && worker_consumer_wait(a, 100, &running, &err) != OF_OK) {
            assert_non_null(strstr(err.msg, "revoked"));
            worker_consumer_release(a);
            held = 0;
        } else if (!held) {
            assert_int_equal(worker_consumer_next(a, 100, &m, &err), OF_OK);
        }
        if (m)
            rd_kafka_message_destroy(m);
        m = NULL;
        assert_int_equal(worker_consumer_next(b, 100, &m, &err), OF_OK);
        if (m)
            rd_kafka_message_destroy(m);
    }
    assert_int_equal(held, 0);
    /* A: one rebalance partition and user-cmds[0]; B: the other one */
    assert_int_equal(assigned(a), 2);
    assert_int_equal(assigned(b), 1);
    rd_kafka_message_destroy(rkm);
    worker_consumer_close(b); /* A gets both back */

    for (int i = 0; i < WAIT_S * 10 && (top[0] < NMSG - 1 || top[1] < NMSG - 1);
         i++) {
        assert_int_equal(worker_consumer_next(a, 100, &rkm, &err), OF_OK);
        if (!rkm)
            continue;
        top[rkm->partition] = rkm->offset;
        rd_kafka_message_destroy(rkm);
    }
    assert_int_equal(top[0], NMSG - 1); /* both partitions read to the end */
    assert_int_equal(top[1], NMSG - 1);
    worker_consumer_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pause_resume_eager),
        cmocka_unit_test(pause_resume_cooperative),
        cmocka_unit_test(next_member_starts_after_the_last_commit),
        cmocka_unit_test(revoke_of_held_partition_gives_the_message_up),
        cmocka_unit_test(partition_revoked_while_paused_is_fetched_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
