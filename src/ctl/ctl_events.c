/*
 * orderflowctl events tail --topic T [--from-beginning] [--json]: a ready
 * consumer for downstream developers (like kcat, but it knows our schemas).
 * Reads every partition of an event topic without a consumer group and
 * prints each event decoded: one line of text, or with --json one JSON
 * object per line. Stops on SIGINT/SIGTERM.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "of_avro.h"
#include "of_kafka.h"
#include "of_model.h"

static const char usage[] =
    "usage: orderflowctl events tail --topic T [--from-beginning] [--json]\n"
    "Prints the events of T as they arrive (from the start with\n"
    "--from-beginning), decoded; --json prints one JSON object per line.\n";

static volatile sig_atomic_t running = 1;

static void on_signal(int sig)
{
    (void)sig;
    running = 0;
}

static json_t *event_json(struct of_avro *avro, const rd_kafka_message_t *m,
                          struct of_err *err)
{
    enum of_avro_schema schema;
    char at[40];
    json_t *o = NULL;

    if (of_avro_peek(avro, m->payload, m->len, &schema, NULL) !=
        OF_AVRO_FRAME_KNOWN) {
        of_err_set(err, OF_EINVAL, "not one of our events");
        return NULL;
    }
    if (schema == OF_AVRO_USER_EVENT) {
        struct of_user_event *ev = malloc(sizeof(*ev));
        if (ev && of_avro_decode_user_event(avro, m->payload, m->len, ev,
                                            err) == OF_OK) {
            of_time_format(ev->occurred_at, 1, at);
            o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "event_id",
                          ev->event_id, "type",
                          of_avro_user_event_type_name(ev->type), "occurred_at",
                          at, "version", (json_int_t)ev->version, "command_id",
                          ev->command_id, "trace_id", ev->trace_id, "user",
                          of_user_json(&ev->user, ev->version));
        }
        free(ev);
    } else if (schema == OF_AVRO_ORDER_EVENT) {
        struct of_order_event *ev = malloc(sizeof(*ev));
        if (ev && of_avro_decode_order_event(avro, m->payload, m->len, ev,
                                             err) == OF_OK) {
            of_time_format(ev->occurred_at, 1, at);
            o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "event_id",
                          ev->event_id, "type",
                          of_avro_order_event_type_name(ev->type),
                          "occurred_at", at, "version", (json_int_t)ev->version,
                          "command_id", ev->command_id, "trace_id",
                          ev->trace_id, "order",
                          of_order_json(&ev->order, ev->version));
        }
        free(ev);
    } else {
        of_err_set(err, OF_EINVAL, "a command, not an event");
    }
    return o;
}

static void print_event(struct of_avro *avro, const rd_kafka_message_t *m,
                        int as_json)
{
    struct of_err err = {0};
    json_t *o = event_json(avro, m, &err);

    if (!o) {
        fprintf(stderr, "orderflowctl: %d:%lld: %s\n", (int)m->partition,
                (long long)m->offset, err.msg);
        return;
    }
    json_object_set_new(o, "partition", json_integer(m->partition));
    json_object_set_new(o, "offset", json_integer(m->offset));
    if (as_json) {
        char *text = json_dumps(o, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
    } else {
        json_t *snap = json_object_get(o, "order");
        printf("%s %s %s v%lld event_id=%s\n",
               json_string_value(json_object_get(o, "occurred_at")),
               json_string_value(json_object_get(o, "type")),
               snap ? "order" : "user",
               (long long)json_integer_value(json_object_get(o, "version")),
               json_string_value(json_object_get(o, "event_id")));
    }
    fflush(stdout);
    json_decref(o);
}

static int tail(const struct of_config *cfg, const char *topic, int beginning,
                int as_json)
{
    const char *extra[] = {"group.id", "orderflowctl-events",
                           "enable.auto.commit", "false", NULL};
    struct of_err err;
    struct of_avro *avro = of_avro_new(&err);
    rd_kafka_conf_t *conf = avro ? of_kafka_conf_new(cfg, extra, &err) : NULL;
    rd_kafka_t *rk = conf ? of_kafka_new(RD_KAFKA_CONSUMER, conf, &err) : NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt;

    if (!rk) {
        ctl_fail("%s", err.msg);
        of_avro_destroy(avro);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != 0 || md->topic_cnt != 1 ||
        md->topics[0].err) {
        ctl_fail("topic \"%s\" does not exist", topic);
    } else {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int p = 0; p < md->topics[0].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(l, topic, p)->offset =
                beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        while (running) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
            if (m && !m->err)
                print_event(avro, m, as_json);
            if (m)
                rd_kafka_message_destroy(m);
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    of_avro_destroy(avro);
    return 0;
}

int ctl_events(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {
        {"topic", required_argument, 0, 't'},
        {"from-beginning", no_argument, 0, 'b'},
        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *topic = NULL;
    int beginning = 0, as_json = 0, c;

    if (argc < 2 || strcmp(argv[1], "tail") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c == 't') {
            topic = optarg;
        } else if (c == 'b') {
            beginning = 1;
        } else if (c == 'j') {
            as_json = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (!topic || optind != argc - 1) {
        fputs(usage, stderr);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return tail(cfg, topic, beginning, as_json);
}
