/*
 * bench_produce: loads a command topic for the benchmark and the replay
 * measurement, as fast as librdkafka goes (idempotent, acks=all).
 *
 *   bench_produce users N            N RegisterUser commands
 *   bench_produce orders N ID...     N CreateOrder commands, round robin
 *                                    over the given user ids
 * Settings come from the usual config and ORDERFLOW_* environment. Prints
 * "produced N commands in S s (R/s)".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "of_avro.h"
#include "of_cli.h"
#include "of_kafka.h"
#include "of_model.h"
#include "of_uuid.h"

static int failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o)
{
    (void)rk;
    (void)o;
    if (m->err)
        failed++;
}

static int produce(rd_kafka_t *rk, const char *topic, const char *key,
                   void *value, size_t len, const char *type)
{
    rd_kafka_resp_err_t e;

    do {
        e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(value, len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                              RD_KAFKA_V_HEADERS(of_kafka_headers_new(type, "")),
                              RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    rd_kafka_poll(rk, 0);
    return e ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct of_err err;
    struct of_config *cfg = of_cli_config(NULL, "bench_produce");
    struct of_avro *avro = of_avro_new(&err);
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
    int orders = argc > 1 && strcmp(argv[1], "orders") == 0;
    struct timeval t0, t1;

    if (!cfg || !avro || n <= 0 || (orders && argc < 4)) {
        fprintf(stderr, "usage: bench_produce users N | orders N ID...\n");
        return 2;
    }
    const char *extra[] = {"enable.idempotence", "true", "acks", "all",
                           "linger.ms", "20", "batch.size", "1000000",
                           "queue.buffering.max.messages", "200000", NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(cfg, extra, &err);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    if (!rk) {
        fprintf(stderr, "bench_produce: %s\n", err.msg);
        return 1;
    }
    gettimeofday(&t0, NULL);
    for (long i = 0; i < n; i++) {
        void *value = NULL;
        size_t len = 0;
        char key[300];
        if (orders) {
            struct of_order_cmd c = {0};
            of_uuid_v4(c.command_id);
            c.issued_at = of_time_now_us();
            snprintf(c.actor.id, sizeof(c.actor.id), "user:1");
            c.actor.role = OF_ROLE_ADMIN;
            c.type = OF_CREATE_ORDER;
            c.user_id = strtoll(argv[3 + i % (argc - 3)], NULL, 10);
            c.order_type = (i & 1) ? OF_ORDER_TYPE_VIP : OF_ORDER_TYPE_JEWELRY;
            c.total_amount = 100 + i % 100000;
            snprintf(key, sizeof(key), "%lld", (long long)c.user_id);
            if (of_avro_encode_order_cmd(avro, &c, &value, &len, &err) ||
                produce(rk, cfg->topics.order_commands, key, value, len,
                        "CreateOrder"))
                return 1;
        } else {
            struct of_user_cmd c = {0};
            of_uuid_v4(c.command_id);
            c.issued_at = of_time_now_us();
            snprintf(c.actor.id, sizeof(c.actor.id), "user:1");
            c.actor.role = OF_ROLE_ADMIN;
            c.type = OF_REGISTER_USER;
            snprintf(c.email, sizeof(c.email), "bench-%s@example.com",
                     c.command_id);
            snprintf(c.username, sizeof(c.username), "bench user %ld", i);
            snprintf(key, sizeof(key), "%.299s", c.email);
            if (of_avro_encode_user_cmd(avro, &c, &value, &len, &err) ||
                produce(rk, cfg->topics.user_commands, key, value, len,
                        "RegisterUser"))
                return 1;
        }
    }
    rd_kafka_flush(rk, 120000);
    gettimeofday(&t1, NULL);
    double s = (double)(t1.tv_sec - t0.tv_sec) +
               (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    printf("produced %ld commands in %.2f s (%.0f/s), %d failed\n", n, s,
           (double)n / s, failed + rd_kafka_outq_len(rk));
    rd_kafka_destroy(rk);
    of_avro_destroy(avro);
    of_config_destroy(cfg);
    return failed ? 1 : 0;
}
