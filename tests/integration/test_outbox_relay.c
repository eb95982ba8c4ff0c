/*
 * The outbox relay against the private stack: rows written to `outbox` (as
 * the command worker writes them) reach the event topic in version order
 * per aggregate, with the contract's headers, and are marked published;
 * two relays at once and a relay killed with SIGKILL mid-stream lose no
 * version (duplicates allowed, sharing an event_id).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_it.h"
#include "of_kafka.h"
#include "of_uuid.h"

#define AGGREGATES 5
#define VERSIONS   60

static char order_events[128], dir[256];

static int start_relay(const char *name)
{
    char bin[512], log[512];

    snprintf(bin, sizeof(bin), "%s/orderflow-worker",
             of_it_env("ORDERFLOW_BIN_DIR"));
    snprintf(log, sizeof(log), "%s/%s.log", dir, name);
    char *argv[] = {bin, "--config", "/dev/null", "--role", "outbox",
                    "--metrics-port", "0", NULL};
    return of_it_spawn(argv, NULL, log);
}

/* Inserts version \p v of order \p id, as the worker would. */
static void insert_event(struct of_db *db, struct of_avro *avro, int64_t id,
                         int v)
{
    struct of_order_event ev = {0};
    struct of_err err;
    void *buf;
    size_t len;
    char agg[24];

    of_uuid_v4(ev.event_id);
    of_uuid_v4(ev.command_id);
    ev.occurred_at = 1795924976000000LL + v;
    ev.version = v;
    ev.type = v == 1 ? OF_ORDER_CREATED : OF_ORDER_PAID;
    ev.order.order_id = id;
    ev.order.user_id = 1;
    ev.order.order_type = OF_ORDER_TYPE_VIP;
    ev.order.order_status = OF_ORDER_STATUS_PENDING;
    ev.order.total_amount = 100 + v;
    ev.order.created_at = ev.occurred_at;
    ev.order.updated_at = ev.occurred_at;
    assert_int_equal(of_avro_encode_order_event(avro, &ev, &buf, &len, &err),
                     OF_OK);
    snprintf(agg, sizeof(agg), "%lld", (long long)id);
    assert_int_equal(
        of_db_exec(db,
                   "INSERT INTO outbox (aggregatetype, aggregateid, type, "
                   "payload, event_id, version, command_id) "
                   "VALUES ('order', ?, ?, ?, ?, ?, ?)",
                   (struct of_db_param[]){
                       OF_DB_S(agg),
                       OF_DB_S(v == 1 ? "OrderCreated" : "OrderPaid"),
                       OF_DB_B(buf, len), OF_DB_S(ev.event_id), OF_DB_I(v),
                       OF_DB_S(ev.command_id)},
                   6, NULL, &err),
        OF_OK);
    free(buf);
}

static long unpublished(struct of_db *db, int64_t base)
{
    char lo[24], hi[24];

    snprintf(lo, sizeof(lo), "%lld", (long long)base);
    snprintf(hi, sizeof(hi), "%lld", (long long)base + AGGREGATES);
    return (long)of_it_count(db,
                             "SELECT COUNT(*) FROM outbox WHERE "
                             "aggregatetype = 'order' AND aggregateid "
                             "BETWEEN ? AND ? AND published_at IS NULL",
                             (struct of_db_param[]){OF_DB_S(lo), OF_DB_S(hi)},
                             2);
}

/* Reads the whole topic; checks each aggregate's first-seen versions are
 * 1..VERSIONS in order. @returns the number of messages read. */
static int check_topic(struct of_config *cfg, struct of_avro *avro,
                       int64_t base)
{
    struct of_err err;
    char group[128];
    int next[AGGREGATES], total = 0, idle = 0;

    for (int i = 0; i < AGGREGATES; i++)
        next[i] = 1;
    of_it_unique(group, sizeof(group), "it-outbox-check");
    const char *extra[] = {"group.id", group, "auto.offset.reset", "earliest",
                           NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_CONSUMER, conf, &err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, order_events, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    /* the end: 3 s without a message once messages flow (the group join
     * before the first one may take longer: up to 30 s) */
    while (idle < (total ? 30 : 300)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m || m->err) {
            idle++;
            if (m)
                rd_kafka_message_destroy(m);
            continue;
        }
        idle = 0;
        struct of_order_event ev;
        char h[64];
        assert_int_equal(
            of_avro_decode_order_event(avro, m->payload, m->len, &ev, &err),
            OF_OK);
        int a = (int)(ev.order.order_id - base);
        if (a < 0 || a >= AGGREGATES) { /* another test's event */
            rd_kafka_message_destroy(m);
            continue;
        }
        assert_true(of_kafka_header_get(m, "message-type", h, sizeof(h)));
        assert_string_equal(h, ev.version == 1 ? "OrderCreated" : "OrderPaid");
        /* a duplicate repeats an earlier version; a new one is the next */
        if (ev.version == next[a])
            next[a]++;
        else if (ev.version > next[a])
            fail_msg("order %lld: version %lld arrived before %d (gap or "
                     "reorder)",
                     (long long)ev.order.order_id, (long long)ev.version,
                     next[a]);
        total++;
        rd_kafka_message_destroy(m);
    }
    for (int i = 0; i < AGGREGATES; i++)
        assert_int_equal(next[i], VERSIONS + 1);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return total;
}

static void relays_killed_and_doubled_lose_no_version(void **state)
{
    struct of_err err;
    char name[128];
    int64_t base = 1000000 + (getpid() % 100000) * 10;
    (void)state;

    snprintf(dir, sizeof(dir), "%s/outbox-%d",
             of_it_env("ORDERFLOW_TEST_STACK_DIR"), (int)getpid());
    of_it_sh("mkdir -p %s", dir);
    of_it_unique(order_events, sizeof(order_events), "it.order-events");
    setenv("ORDERFLOW_TOPICS_ORDER_EVENTS", order_events, 1);
    of_it_unique(name, sizeof(name), "it.user-events");
    setenv("ORDERFLOW_TOPICS_USER_EVENTS", name, 1);
    setenv("ORDERFLOW_OUTBOX_BATCH_MAX", "20", 1);
    setenv("ORDERFLOW_OUTBOX_LEASE_S", "1", 1);
    struct of_config *cfg = of_it_config(NULL);
    of_it_sh("%s/orderflowctl --config /dev/null migrate >/dev/null",
             of_it_env("ORDERFLOW_BIN_DIR"));
    of_it_sh("%s/orderflowctl --config /dev/null topics create >/dev/null",
             of_it_env("ORDERFLOW_BIN_DIR"));
    struct of_avro *avro = of_avro_new(&err);
    struct of_db *db = of_db_open(cfg, &err);
    assert_non_null(db);

    int a = start_relay("relay-a"), b = start_relay("relay-b");
    for (int v = 1; v <= VERSIONS; v++) {
        for (int i = 0; i < AGGREGATES; i++)
            insert_event(db, avro, base + i, v);
        if (v % 15 == 0) { /* SIGKILL one relay mid-stream, restart it */
            assert_int_equal(of_it_stop(a, SIGKILL, 5), 128 + SIGKILL);
            a = start_relay("relay-a");
        }
        usleep(20000);
    }
    long long until = of_it_now_us() + 30000000LL;
    while (unpublished(db, base) > 0 && of_it_now_us() < until)
        usleep(100000);
    assert_int_equal(unpublished(db, base), 0); /* all marked published */
    int total = check_topic(cfg, avro, base);
    assert_true(total >= AGGREGATES * VERSIONS);
    printf("# %d messages for %d events (%d duplicates)\n", total,
           AGGREGATES * VERSIONS, total - AGGREGATES * VERSIONS);
    assert_int_equal(of_it_stop(a, SIGTERM, 15), 0);
    assert_int_equal(of_it_stop(b, SIGTERM, 15), 0);
    of_db_close(db);
    of_avro_destroy(avro);
    of_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relays_killed_and_doubled_lose_no_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
