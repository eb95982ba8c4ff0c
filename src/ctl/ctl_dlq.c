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
 *
 * Parked keys (schemas/sql/002_parked_keys.sql): the command worker parks a
 * key behind a message that looks like a command but cannot be applied
 * (error header "parked: ..."), and dead-letters the key's later messages
 * with a parked-behind header. When `redrive` meets such a dead letter it
 * deletes the key's parked_keys row first, once per key and run, before
 * publishing it, so that the worker applies the key's messages instead of
 * parking them again; they are published in dead-letter offset order, which
 * is their original order (one key, one dead-letter partition, written in
 * order). A parker that still fails parks the key again, and the ones
 * after it follow it back. `skip` deletes the row only: later messages
 * flow, the parked ones stay dead letters.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_scan.h"
#include "of_avro.h"
#include "of_db.h"
#include "of_headers.h"
#include "of_kafka.h"

static const char usage[] =
    "usage: orderflowctl dlq list [--limit N]\n"
    "       orderflowctl dlq redrive (--offset [PARTITION:]OFFSET | --all)\n"
    "       orderflowctl dlq skip --topic TOPIC --key KEY\n"
    "list prints one JSON object per dead letter (default limit 100).\n"
    "redrive sends the original message back to its original topic;\n"
    "PARTITION defaults to 0 (`dlq list` shows both). A parked key's dead\n"
    "letters unpark it and are sent in their original order.\n"
    "skip unparks KEY of command topic TOPIC: its later messages flow again,\n"
    "its dead letters stay where they are.\n";

/* Keys unparked by this run (a ceiling: a run touching more keys fails). */
#define UNPARKED_MAX 100000

struct unparked {
    char *topic;
    void *key;
    size_t key_len;
};

struct dlq {
    const struct of_config *cfg;
    struct of_avro *avro;
    rd_kafka_t *rk;
    long limit, count, failed;
    struct of_db *db; /* opened at the first parked dead letter */
    struct unparked *unparked;
    size_t nunparked;
    long deleted; /* parked_keys rows deleted */
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

/* Deletes the parked_keys row of (topic, key). @returns 0 or 1 (printed) */
static int
delete_parked(struct dlq *d, const char *topic, const void *key, size_t key_len)
{
    struct of_err err;
    uint64_t n = 0;

    if (!d->db) {
        d->db = of_db_open(d->cfg, &err);
        if (!d->db) {
            ctl_fail("%s", err.msg);
            return 1;
        }
    }
    if (of_db_exec(
            d->db, "DELETE FROM parked_keys WHERE topic = ? AND msg_key = ?",
            (struct of_db_param[]){OF_DB_S(topic), OF_DB_B(key, key_len)}, 2,
            &n, &err) != OF_OK) {
        ctl_fail("could not unpark a key of \"%s\": %s", topic, err.msg);
        return 1;
    }
    d->deleted += (long)n;
    return 0;
}

/* Did the worker park \p m's key at \p m, or hold \p m behind a parker? */
static int is_parked_letter(const rd_kafka_message_t *m,
                            const struct of_dead_letter *dl)
{
    if (!m->key || m->key_len == 0)
        return 0;
    return dl->parked_behind || strncmp(dl->error, "parked:", 7) == 0;
}

/* Unparks (topic, m's key) unless this run did already: a second delete
 * could remove the row of a parker redriven earlier in this run that
 * failed again. @returns 0 or 1 (printed) */
static int
unpark_once(struct dlq *d, const char *topic, const rd_kafka_message_t *m)
{
    struct unparked *u;

    for (size_t i = 0; i < d->nunparked; i++) {
        u = &d->unparked[i];
        if (u->key_len == m->key_len && strcmp(u->topic, topic) == 0 &&
            memcmp(u->key, m->key, m->key_len) == 0)
            return 0;
    }
    if (d->nunparked == UNPARKED_MAX) {
        ctl_fail("more than %d parked keys in one run; redrive fewer "
                 "dead letters at a time",
                 UNPARKED_MAX);
        return 1;
    }
    u = realloc(d->unparked, (d->nunparked + 1) * sizeof(*u));
    if (!u) {
        ctl_fail("out of memory");
        return 1;
    }
    d->unparked = u;
    u = &d->unparked[d->nunparked];
    u->topic = strdup(topic);
    u->key = malloc(m->key_len);
    if (!u->topic || !u->key) {
        free(u->topic);
        free(u->key);
        ctl_fail("out of memory");
        return 1;
    }
    memcpy(u->key, m->key, m->key_len);
    u->key_len = m->key_len;
    d->nunparked++;
    return delete_parked(d, topic, m->key, m->key_len);
}

static int redrive_one(void *arg, const rd_kafka_message_t *m)
{
    struct dlq *d = arg;
    rd_kafka_headers_t *h = NULL, *out;
    struct of_dead_letter dl;
    const char *topic = dl.original_topic;

    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h = NULL;
    of_headers_dead_letter(h, &dl);
    if (!topic[0]) {
        fprintf(stderr, "orderflowctl: dead letter %d:%lld has no "
                        "original-topic; skipped\n",
                (int)m->partition, (long long)m->offset);
        return 0;
    }
    /* before publishing: the worker must not find the key parked */
    if (is_parked_letter(m, &dl) && unpark_once(d, topic, m)) {
        d->failed++;
        return 1;
    }
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
    if (d->nunparked > 0)
        printf("unparked: %ld of %zu key(s) met\n", d->deleted, d->nunparked);
    for (size_t i = 0; i < d->nunparked; i++) {
        free(d->unparked[i].topic);
        free(d->unparked[i].key);
    }
    free(d->unparked);
    of_db_close(d->db);
    return rc || d->failed ? 1 : 0;
}

/* dlq skip --topic T --key K */
static int skip(struct dlq *d, const char *topic, const char *key)
{
    if (!topic || !key || !*topic || !*key) {
        fputs(usage, stderr);
        return 2;
    }
    if (delete_parked(d, topic, key, strlen(key)))
        return 1;
    of_db_close(d->db);
    printf("unparked: %ld\n", d->deleted);
    return 0;
}

int ctl_dlq(struct of_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, 0, 'l'},
                                         {"offset", required_argument, 0, 'o'},
                                         {"all", no_argument, 0, 'a'},
                                         {"topic", required_argument, 0, 't'},
                                         {"key", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    struct ctl_range range = {cfg->topics.dead_letter, -1, -1, -1, -1, -1};
    struct dlq d = {cfg, NULL, NULL, 100, 0, 0, NULL, NULL, 0, 0};
    struct of_err err;
    const char *topic = NULL, *key = NULL;
    int listing, skipping, all = 0, c, rc;

    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "redrive") &&
                     strcmp(argv[1], "skip"))) {
        fputs(usage, argc >= 2 && !strcmp(argv[1], "--help") ? stdout : stderr);
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    listing = strcmp(argv[1], "list") == 0;
    skipping = strcmp(argv[1], "skip") == 0;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (c == 't' && skipping) {
            topic = optarg;
        } else if (c == 'k' && skipping) {
            key = optarg;
        } else if (c == 'l' && listing) {
            d.limit = strtol(optarg, NULL, 10);
        } else if (c == 'o' && !listing && !skipping) {
            if (parse_offset(optarg, &range.partition, &range.from_offset)) {
                ctl_fail("--offset: expected [PARTITION:]OFFSET");
                return 2;
            }
            range.to_offset = range.from_offset + 1;
        } else if (c == 'a' && !listing && !skipping) {
            all = 1;
        } else if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (skipping && optind == argc - 1)
        return skip(&d, topic, key);
    if (skipping) {
        fputs(usage, stderr);
        return 2;
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
