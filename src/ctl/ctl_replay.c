/*
 * orderflowctl replay: re-applies the commands of a range of a command
 * topic (CONTRACT §7) by publishing each again, byte for byte with its key
 * and headers, to the topic it came from; the command workers apply them.
 * A command applied before changes nothing (its command_id has a dedupe
 * row), so replaying a range twice, or a whole topic, is safe.
 *
 * --dry-run publishes nothing and counts, by looking up each command_id in
 * MySQL, how many would be applied and how many were applied already.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_scan.h"
#include "of_avro.h"
#include "of_db.h"
#include "of_kafka.h"

static const char usage[] =
    "usage: orderflowctl replay --topic T [--partition P]\n"
    "         (--from-offset O | --from-time RFC3339)\n"
    "         [--to-offset O | --to-time RFC3339] [--dry-run]\n"
    "Publishes the commands of the range again so the workers re-apply them;\n"
    "commands applied before change nothing. --to-offset is exclusive.\n"
    "--dry-run counts what would be applied and publishes nothing.\n";

struct replay {
    const struct of_config *cfg;
    struct of_avro *avro;
    struct of_db *db;  /* dry run */
    rd_kafka_t *rk;    /* real run */
    int user_topic;
    int64_t total, seen, fresh, applied, undecodable, failed;
    int tty;
    time_t last_progress;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o)
{
    (void)rk;
    if (m->err)
        ((struct replay *)o)->failed++;
}

static int command_id(struct replay *r, const rd_kafka_message_t *m,
                      char id[OF_UUID_SIZE])
{
    struct of_err err;
    int rc;

    if (r->user_topic) {
        struct of_user_cmd *c = malloc(sizeof(*c));
        rc = c ? of_avro_decode_user_cmd(r->avro, m->payload, m->len, c, &err)
               : OF_EAGAIN;
        if (rc == OF_OK)
            memcpy(id, c->command_id, OF_UUID_SIZE);
        free(c);
    } else {
        struct of_order_cmd *c = malloc(sizeof(*c));
        rc = c ? of_avro_decode_order_cmd(r->avro, m->payload, m->len, c, &err)
               : OF_EAGAIN;
        if (rc == OF_OK)
            memcpy(id, c->command_id, OF_UUID_SIZE);
        free(c);
    }
    return rc;
}

static int found_cb(void *arg, int n, char **v, const unsigned long *l)
{
    (void)n;
    (void)v;
    (void)l;
    *(int *)arg = 1;
    return 1;
}

static void progress(struct replay *r, int done)
{
    if (!r->tty || (!done && time(NULL) == r->last_progress))
        return;
    r->last_progress = time(NULL);
    fprintf(stderr, "\rreplay: %lld/%lld (%lld%%)%s", (long long)r->seen,
            (long long)r->total,
            r->total ? (long long)(r->seen * 100 / r->total) : 100LL,
            done ? "\n" : "");
}

static int on_message(void *arg, const rd_kafka_message_t *m)
{
    struct replay *r = arg;
    char id[OF_UUID_SIZE];
    struct of_err err;
    int found = 0;

    r->seen++;
    progress(r, 0);
    if (command_id(r, m, id) != OF_OK) {
        r->undecodable++; /* a dead letter's business, not ours */
        return 0;
    }
    if (r->db) {
        if (of_db_query(r->db, "SELECT 1 FROM commands WHERE command_id = ?",
                        (struct of_db_param[]){OF_DB_S(id)}, 1, found_cb,
                        &found, &err) != OF_OK) {
            ctl_fail("%s", err.msg);
            return 1;
        }
        found ? r->applied++ : r->fresh++;
        return 0;
    }
    rd_kafka_headers_t *h = NULL;
    rd_kafka_message_headers(m, &h);
    rd_kafka_resp_err_t e;
    do {
        e = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(rd_kafka_topic_name(m->rkt)),
            RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(h ? rd_kafka_headers_copy(h) : NULL),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(r->rk, 100);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e) {
        ctl_fail("could not publish: %s", rd_kafka_err2str(e));
        return 1;
    }
    rd_kafka_poll(r->rk, 0);
    r->fresh++;
    return 0;
}

static int parse(int argc, char **argv, struct of_dlq_range *range, int *dry)
{
    static const struct option opts[] = {
        {"topic", required_argument, 0, 't'},
        {"partition", required_argument, 0, 'p'},
        {"from-offset", required_argument, 0, 'o'},
        {"from-time", required_argument, 0, 'f'},
        {"to-offset", required_argument, 0, 'O'},
        {"to-time", required_argument, 0, 'F'},
        {"dry-run", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    char *end;

    *range = (struct of_dlq_range){NULL, -1, -1, -1, -1, -1};
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 't': range->topic = optarg; break;
        case 'p': range->partition = (int)strtol(optarg, &end, 10); break;
        case 'o': range->from_offset = strtoll(optarg, &end, 10); break;
        case 'O': range->to_offset = strtoll(optarg, &end, 10); break;
        case 'f':
            if (ctl_parse_time(optarg, &range->from_ms) != 0)
                return ctl_fail("--from-time: not RFC 3339 UTC"), 2;
            break;
        case 'F':
            if (ctl_parse_time(optarg, &range->to_ms) != 0)
                return ctl_fail("--to-time: not RFC 3339 UTC"), 2;
            break;
        case 'n': *dry = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!range->topic || optind != argc ||
        (range->from_offset < 0) == (range->from_ms < 0) ||
        (range->to_offset >= 0 && range->to_ms >= 0)) {
        fputs(usage, stderr);
        return 2;
    }
    return -1;
}

static int run(struct replay *r, const struct of_dlq_range *range, int dry)
{
    struct of_err err;

    r->avro = of_avro_new(&err);
    if (r->avro && dry)
        r->db = of_db_open(r->cfg, &err);
    if (r->avro && !dry) {
        const char *extra[] = {"enable.idempotence", "true", "acks", "all",
                               NULL};
        rd_kafka_conf_t *conf = of_kafka_conf_new(r->cfg, extra, &err);
        if (conf) {
            rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
            rd_kafka_conf_set_opaque(conf, r);
            r->rk = of_kafka_new(RD_KAFKA_PRODUCER, conf, &err);
        }
    }
    if (!r->avro || (dry && !r->db) || (!dry && !r->rk)) {
        ctl_fail("%s", err.msg);
        return 1;
    }
    int rc = ctl_scan(r->cfg, range, on_message, r, &r->total);
    if (r->rk && rd_kafka_flush(r->rk, 60000) != 0)
        r->failed += rd_kafka_outq_len(r->rk);
    progress(r, 1);
    return rc || r->failed ? 1 : 0;
}

int ctl_replay(struct of_config *cfg, int argc, char **argv)
{
    struct of_dlq_range range;
    struct replay r = {0};
    int dry = 0, rc = parse(argc, argv, &range, &dry);
    time_t started = time(NULL);

    if (rc >= 0)
        return rc;
    r.user_topic = strcmp(range.topic, cfg->topics.user_commands) == 0;
    if (!r.user_topic && strcmp(range.topic, cfg->topics.order_commands) != 0) {
        ctl_fail("--topic must be a command topic (%s or %s)",
                 cfg->topics.user_commands, cfg->topics.order_commands);
        return 2;
    }
    r.cfg = cfg;
    r.tty = isatty(STDERR_FILENO);
    rc = run(&r, &range, dry);
    if (dry)
        printf("dry run: %lld commands in range, %lld would be applied, "
               "%lld already applied, %lld undecodable\n",
               (long long)r.seen, (long long)r.fresh, (long long)r.applied,
               (long long)r.undecodable);
    else
        printf("replayed %lld commands in %ld s (%lld undecodable skipped, "
               "%lld not acknowledged)\n",
               (long long)r.fresh, (long)(time(NULL) - started),
               (long long)r.undecodable, (long long)r.failed);
    if (r.rk)
        rd_kafka_destroy(r.rk);
    of_db_close(r.db);
    of_avro_destroy(r.avro);
    return rc;
}
