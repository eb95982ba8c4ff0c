/*
 * Kafka against the private broker: `orderflowctl topics create` makes the
 * five topics with the configured partitions and is idempotent; a command
 * encoded with of_avro and published with the contract's headers is read
 * back byte for byte and decodes to the same struct.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_it.h"
#include "of_kafka.h"
#include "of_uuid.h"

static char topics[5][128];

static void set_topic_env(void)
{
    const char *vars[] = {"ORDERFLOW_TOPICS_USER_COMMANDS",
                          "ORDERFLOW_TOPICS_ORDER_COMMANDS",
                          "ORDERFLOW_TOPICS_USER_EVENTS",
                          "ORDERFLOW_TOPICS_ORDER_EVENTS",
                          "ORDERFLOW_TOPICS_DEAD_LETTER"};
    for (int i = 0; i < 5; i++) {
        of_it_unique(topics[i], sizeof(topics[i]), "it.roundtrip");
        setenv(vars[i], topics[i], 1);
    }
    setenv("ORDERFLOW_TOPICS_PARTITIONS", "4", 1);
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    assert_int_equal(rd_kafka_metadata(rk, 0, rkt, &md, 10000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    if (md->topic_cnt == 1 && md->topics[0].err == 0)
        n = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

static void topics_create_is_idempotent(void **state)
{
    char cmd[1024];
    FILE *p;
    char line[256] = "";
    (void)state;

    set_topic_env();
    struct of_config *cfg = of_it_config(NULL);
    snprintf(cmd, sizeof(cmd), "%s/orderflowctl --config /dev/null topics create",
             of_it_env("ORDERFLOW_BIN_DIR"));
    p = popen(cmd, "r");
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(line, "topics created: 5 (others existed)\n");
    p = popen(cmd, "r");
    assert_non_null(fgets(line, sizeof(line), p));
    assert_int_equal(pclose(p), 0);
    assert_string_equal(line, "topics created: 0 (others existed)\n");

    struct of_err err;
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, NULL, &err);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    assert_non_null(rk);
    for (int i = 0; i < 5; i++)
        assert_int_equal(partitions_of(rk, topics[i]), 4);
    rd_kafka_destroy(rk);
    of_config_destroy(cfg);
}

static void encoded_command_round_trips_through_the_broker(void **state)
{
    struct of_config *cfg = of_it_config(NULL);
    struct of_err err;
    struct of_avro *avro = of_avro_new(&err);
    struct of_order_cmd in = {0}, out;
    void *value;
    size_t len;
    (void)state;

    assert_non_null(avro);
    of_uuid_v4(in.command_id);
    in.issued_at = 1795924976123456LL;
    snprintf(in.actor.id, sizeof(in.actor.id), "user:42");
    in.actor.role = OF_ROLE_USER;
    snprintf(in.trace_id, sizeof(in.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    in.type = OF_CREATE_ORDER;
    in.user_id = 42;
    in.order_type = OF_ORDER_TYPE_JEWELRY;
    in.total_amount = 9999999999LL;
    assert_int_equal(of_avro_encode_order_cmd(avro, &in, &value, &len, &err),
                     OF_OK);

    /* produce with the contract's headers, acks=all */
    const char *extra[] = {"acks", "all", NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_t *prod = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    assert_non_null(prod);
    assert_int_equal(rd_kafka_producev(
                         prod, RD_KAFKA_V_TOPIC(topics[1]),
                         RD_KAFKA_V_KEY("42", 2), RD_KAFKA_V_VALUE(value, len),
                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                         RD_KAFKA_V_HEADERS(of_kafka_headers_new(
                             "CreateOrder", in.trace_id)),
                         RD_KAFKA_V_END),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(prod);

    /* read it back with a consumer group of our own */
    char group[128];
    of_it_unique(group, sizeof(group), "it-roundtrip");
    const char *cextra[] = {"group.id", group, "auto.offset.reset", "earliest",
                            NULL};
    conf = of_kafka_conf_new(cfg, cextra, &err);
    rd_kafka_t *cons = of_kafka_new(RD_KAFKA_CONSUMER, conf, &err);
    assert_non_null(cons);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topics[1], RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(cons, sub), 0);
    rd_kafka_topic_partition_list_destroy(sub);
    rd_kafka_message_t *rkm = NULL;
    for (int i = 0; i < 300 && !rkm; i++) {
        rkm = rd_kafka_consumer_poll(cons, 100);
        if (rkm && rkm->err) {
            rd_kafka_message_destroy(rkm);
            rkm = NULL;
        }
    }
    if (!rkm)
        fail_msg("no message on %s within 30 s", topics[1]);
    assert_int_equal(rkm->len, len);
    assert_memory_equal(rkm->payload, value, len); /* byte for byte */
    assert_int_equal(rkm->key_len, 2);
    char h[128];
    assert_true(of_kafka_header_get(rkm, "content-type", h, sizeof(h)));
    assert_string_equal(h, "application/avro");
    assert_true(of_kafka_header_get(rkm, "message-type", h, sizeof(h)));
    assert_string_equal(h, "CreateOrder");
    assert_true(of_kafka_header_get(rkm, "trace-id", h, sizeof(h)));
    assert_string_equal(h, in.trace_id);
    assert_int_equal(of_avro_decode_order_cmd(avro, rkm->payload, rkm->len,
                                              &out, &err),
                     OF_OK);
    assert_string_equal(out.command_id, in.command_id);
    assert_int_equal(out.issued_at, in.issued_at);
    assert_string_equal(out.actor.id, "user:42");
    assert_int_equal(out.type, OF_CREATE_ORDER);
    assert_int_equal(out.total_amount, 9999999999LL);
    assert_int_equal(out.order_type, OF_ORDER_TYPE_JEWELRY);
    rd_kafka_message_destroy(rkm);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    free(value);
    of_avro_destroy(avro);
    of_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topics_create_is_idempotent),
        cmocka_unit_test(encoded_command_round_trips_through_the_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
