/*
 * orderflowctl dlq list | redrive: the dead-letter topic (CONTRACT §4, §7).
 *
 * A dead letter is the original message, bytes and key untouched, with the
 * headers error, original-topic, original-partition, original-offset and
 * failed-at added. `list` prints one JSON object per dead letter, decoded
 * where the value is one of our commands. `redrive` publishes the original
 * bytes, key and headers back to the original topic; dead letters stay in
 * their topic, so redriving one twice sends it twice (a command applied
 * once is then a dedupe hit, nothing more).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_scan.h"
#include "of_avro.h"
#include "of_kafka.h"

static const char usage[] =
    "usage: orderflowctl dlq list [--limit N]\n"
    "       orderflowctl dlq redrive (--offset [PARTITION:]OFFSET | --all)\n"
    "list prints one JSON object per dead letter (default limit 100).\n"
    "redrive sends the original message back to its original topic;\n"
    "PARTITION defaults to 0 (`dlq list` shows both).\n";

struct dlq {
    const struct of_config *cfg;
    struct of_avro *avro;
    rd_kafka_t *rk;
    long limit, count, failed;
};

static const char *const dlq_headers[] = {"error", "original-topic",
                                          "original-partition",
                                          "original-offset", "failed-at",
                                          "parked-behind", NULL};

static json_t *headers_json(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    json_t *o = json_object();
    const char *name;
    const void *val;
    size_t len;

    if (rd_kafka_message_headers(m, &h) != 0)
        return o;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &val, &len) == 0;
         i++)
        json_object_set_new(o, name,
                            json_stringn(val ? val : "", val ? len : 0));
    return o;
}

static json_t *decoded(struct dlq *d, const rd_kafka_message_t *m)
{
    enum of_avro_schema schema;
    uint64_t fp = 0;
    struct of_err err;
    char fps[20];

    switch (of_avro_peek(d->avro, m->payload, m->len, &schema, &fp)) {
    case OF_AVRO_FRAME_NONE:
        return json_pack("{s:s}", "frame", "none");
    case OF_AVRO_FRAME_UNKNOWN:
        snprintf(fps, sizeof(fps), "%016llx", (unsigned long long)fp);
        return json_pack("{s:s, s:s}", "frame", "unknown fingerprint",
                         "fingerprint", fps);
    default:
        break;
    }
    json_t *o = json_pack("{s:s}", "schema", of_avro_schema_name(schema));
    if (schema == OF_AVRO_ORDER_COMMAND) {
        struct of_order_cmd *c = malloc(sizeof(*c));
        if (c && of_avro_decode_order_cmd(d->avro, m->payload, m->len, c,
                                          &err) == OF_OK) {
            json_object_set_new(o, "command_id", json_string(c->command_id));
            json_object_set_new(
                o, "type", json_string(of_avro_order_cmd_type_name(c->type)));
        } else {
            json_object_set_new(o, "decode_error", json_string(err.msg));
        }
        free(c);
    } else if (schema == OF_AVRO_USER_COMMAND) {
        struct of_user_cmd *c = malloc(sizeof(*c));
        if (c && of_avro_decode_user_cmd(d->avro, m->payload, m->len, c,
                                         &err) == OF_OK) {
            json_object_set_new(o, "command_id", json_string(c->command_id));
            json_object_set_new(
                o, "type", json_string(of_avro_user_cmd_type_name(c->type)));
        } else {
            json_object_set_new(o, "decode_error", json_string(err.msg));
        }
        free(c);
    }
    return o;
}

static int list_one(void *arg, const rd_kafka_message_t *m)
{
    struct dlq *d = arg;
    json_t *o = json_pack("{s:i, s:I, s:s%, s:o, s:o, s:I}", "partition",
                          (int)m->partition, "offset", (json_int_t)m->offset,
                          "key", m->key ? (const char *)m->key : "",
                          m->key ? m->key_len : 0, "headers", headers_json(m),
                          "value", decoded(d, m), "value_bytes",
                          (json_int_t)m->len);
    char *text = json_dumps(o, JSON_COMPACT);

    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(o);
    return ++d->count >= d->limit;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o)
{
    (void)rk;
    if (m->err)
        ((struct dlq *)o)->failed++;
}

static int redrive_one(void *arg, const rd_kafka_message_t *m)
{
    struct dlq *d = arg;
    rd_kafka_headers_t *h = NULL, *out;
    char topic[256];

    if (!of_kafka_header_get(m, "original-topic", topic, sizeof(topic)) ||
        !topic[0]) {
        fprintf(stderr, "orderflowctl: dead letter %d:%lld has no "
                        "original-topic; skipped\n",
                (int)m->partition, (long long)m->offset);
        return 0;
    }
    rd_kafka_message_headers(m, &h);
    out = h ? rd_kafka_headers_copy(h) : rd_kafka_headers_new(1);
    for (int i = 0; dlq_headers[i]; i++)
        rd_kafka_header_remove(out, dlq_headers[i]);
    if (rd_kafka_producev(d->rk, RD_KAFKA_V_TOPIC(topic),
                          RD_KAFKA_V_KEY(m->key, m->key_len),
                          RD_KAFKA_V_VALUE(m->payload, m->len),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_HEADERS(out), RD_KAFKA_V_END) != 0) {
        rd_kafka_headers_destroy(out);
        d->failed++;
        return 1;
    }
    d->count++;
    return 0;
}

static int parse_offset(const char *s, int *partition, int64_t *offset)
{
    char *end;
    const char *colon = strchr(s, ':');

    *partition = 0; /* the dead-letter topic's first partition */
    if (colon) {
        *partition = (int)strtol(s, &end, 10);
        if (end != colon || *partition < 0)
            return -1;
        s = colon + 1;
    }
    *offset = strtoll(s, &end, 10);
    return (*end || *offset < 0) ? -1 : 0;
}

static int redrive(struct dlq *d, struct ctl_range *range)
{
    struct of_err err;
    const char *extra[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_conf_t *conf = of_kafka_conf_new(d->cfg, extra, &err);

    if (conf) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, d);
        d->rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
    }
    if (!d->rk) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    int rc = ctl_scan(d->cfg, range, redrive_one, d, NULL);
    rd_kafka_flush(d->rk, 30000);
    d->failed += rd_kafka_outq_len(d->rk);
    rd_kafka_destroy(d->rk);
    printf("redriven: %ld (%ld not acknowledged)\n", d->count, d->failed);
    return rc || d->failed ? 1 : 0;
}

int ctl_dlq(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, 0, 'l'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"all", no_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct ctl_range range = {cfg->topics.dead_letter, -1, -1, -1, -1, -1};
    struct dlq d = {cfg, NULL, NULL, 100, 0, 0};
    struct of_err err;
    int listing, all = 0, c, rc;

    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "redrive"))) {
        fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    listing = strcmp(argv[1], "list") == 0;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c == 'l' && listing) {
            d.limit = strtol(optarg, NULL, 10);
        } else if (c == 'o' && !listing) {
            if (parse_offset(optarg, &range.partition, &range.from_offset)) {
                ctl_fail("--offset: expected [PARTITION:]OFFSET");
                return 2;
            }
            range.to_offset = range.from_offset + 1;
        } else if (c == 'a' && !listing) {
            all = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || d.limit < 1 ||
        (!listing && all == (range.from_offset >= 0))) {
        fputs(usage, stderr);
        return 2;
    }
    d.avro = of_avro_new(&err);
    if (!d.avro) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    rc = listing ? ctl_scan(cfg, &range, list_one, &d, NULL)
                 : redrive(&d, &range);
    of_avro_destroy(d.avro);
    return rc;
}
