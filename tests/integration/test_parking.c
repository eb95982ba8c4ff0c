/*
 * Parked keys against the private stack (the parking issue): a command
 * topic message with the Avro marker and an unknown fingerprint parks its
 * key, the key's later command is dead-lettered behind it with a
 * parked-behind header while another key's command is applied; a decodable
 * command that fails validation parks its key too; plain garbage parks
 * nothing; `dlq skip` and `dlq redrive` unpark, after which the key's
 * commands are applied again. The worker's /metrics shows the lag in
 * seconds, 0 once caught up.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_it.h"
#include "of_kafka.h"
#include "of_uuid.h"

#define WAIT_S 30

static struct {
    struct of_it_app app;
    struct of_avro *avro;
    struct of_db *db;
    rd_kafka_t *producer;
    const char *cmd_topic, *dl_topic;
    long long base; /* order ids of this run: nobody else's */
} t;

static int setup(void **state)
{
    struct of_err err;
    (void)state;

    of_it_app_start(&t.app, "parking", 2,
                    OF_IT_APP_NO_API | OF_IT_APP_WORKER | OF_IT_APP_ALL_TOPICS |
                        OF_IT_APP_METRICS);
    t.cmd_topic = getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS");
    t.dl_topic = getenv("ORDERFLOW_TOPICS_DEAD_LETTER");
    t.avro = of_avro_new(&err);
    assert_non_null(t.avro);
    t.db = of_db_open(t.app.cfg, &err);
    assert_non_null(t.db);
    t.producer = of_it_producer(t.app.cfg, NULL, NULL);
    /* far above any order id the other tests make, different per run */
    t.base = 1000000000LL + (long long)(time(NULL) % 100000) * 1000 +
             (getpid() % 1000);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rd_kafka_destroy(t.producer);
    of_db_close(t.db);
    of_avro_destroy(t.avro);
    of_it_app_stop(&t.app);
    return 0;
}

/* ---- producing ---- */

static void produce(const char *key, const void *value, size_t len)
{
    assert_int_equal(
        rd_kafka_producev(
            t.producer, RD_KAFKA_V_TOPIC(t.cmd_topic),
            RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(of_kafka_headers_new("PayOrder", "park-trace")),
            RD_KAFKA_V_END),
        0);
    assert_int_equal(rd_kafka_flush(t.producer, 10000), 0);
}

/* A valid PayOrder of order \p order_id (which does not exist: applying it
 * is a rejection, order_not_found, with its commands row). \p cid gets its
 * command id. */
static void
produce_pay(const char *key, long long order_id, char cid[OF_UUID_STR])
{
    size_t len;
    void *v = of_it_pay_order(t.avro, order_id, "park-trace", cid, &len);
    produce(key, v, len);
    free(v);
}

/* The key of the PayOrders of order t.base + \p n: its order id, as the
 * worker wants it (a command keyed otherwise is dead-lettered). */
static void key_of(char *out, size_t cap, int n)
{
    snprintf(out, cap, "%lld", t.base + n);
}

/* ---- checking ---- */

static long commands_rows(const char *cid)
{
    return (long)of_it_count(
        t.db, "SELECT COUNT(*) FROM commands WHERE command_id = ?",
        (struct of_db_param[]){OF_DB_S(cid)}, 1);
}

static long parked_rows(const char *key)
{
    return (long)of_it_count(t.db,
                             "SELECT COUNT(*) FROM parked_keys WHERE topic = ? "
                             "AND msg_key = ?",
                             (struct of_db_param[]){OF_DB_S(t.cmd_topic),
                                                    OF_DB_B(key, strlen(key))},
                             2);
}

static void wait_applied(const char *cid, const char *what)
{
    long long until = of_it_now_us() + WAIT_S * 1000000LL;
    while (commands_rows(cid) != 1) {
        if (of_it_now_us() > until)
            fail_msg("no commands row for %s (%s) within %d s", what, cid,
                     WAIT_S);
        usleep(100000);
    }
}

static void caught_up(void)
{
    of_it_wait_caught_up(t.app.cfg, t.app.group, t.cmd_topic, WAIT_S);
}

enum dl_kind { DL_PARKER, DL_BEHIND, DL_PLAIN };

struct dl {
    int partition; /* in the dead-letter topic */
    long long offset;
    char original[48]; /* "original-partition:original-offset" */
    char behind[48];   /* parked-behind, or "" */
    char error[256];
};

struct dl_want {
    const char *key;
    enum dl_kind kind;
    int nth, seen;
    struct dl *out;
};

static int dl_match(void *arg, const rd_kafka_message_t *m)
{
    struct dl_want *w = arg;
    struct dl *out = w->out;
    char p[16], o[24];

    if (m->key_len != strlen(w->key) || memcmp(m->key, w->key, m->key_len))
        return 0;
    memset(out, 0, sizeof(*out));
    of_kafka_header_get(m, "error", out->error, sizeof(out->error));
    of_kafka_header_get(m, "parked-behind", out->behind, sizeof(out->behind));
    of_kafka_header_get(m, "original-partition", p, sizeof(p));
    of_kafka_header_get(m, "original-offset", o, sizeof(o));
    snprintf(out->original, sizeof(out->original), "%s:%s", p, o);
    out->partition = (int)m->partition;
    out->offset = (long long)m->offset;
    int is_parker = strncmp(out->error, "parked:", 7) == 0;
    enum dl_kind k = out->behind[0] ? DL_BEHIND
                     : is_parker    ? DL_PARKER
                                    : DL_PLAIN;
    return k == w->kind && w->seen++ == w->nth;
}

/* Reads the dead-letter topic from the start until the \p nth (0-based)
 * dead letter of \p key of \p kind; fails after WAIT_S. */
static void dl_find(const char *key, enum dl_kind kind, int nth, struct dl *out)
{
    struct dl_want w = {key, kind, nth, 0, out};

    if (!of_it_kafka_find(t.app.cfg, t.dl_topic, WAIT_S, dl_match, &w))
        fail_msg("dead letter #%d of kind %d for key %s not found in %d s", nth,
                 (int)kind, key, WAIT_S);
}

/* ---- tests ---- */

static char k1[96], k2[96], k3[96], k4[96];
static char cid1[OF_UUID_STR], cid4[OF_UUID_STR];

static void unknown_fingerprint_parks_its_key_and_other_keys_flow(void **state)
{
    char cid2[OF_UUID_STR], cid3[OF_UUID_STR];
    struct dl parker, behind, plain;
    (void)state;

    key_of(k1, sizeof(k1), 1);
    key_of(k2, sizeof(k2), 2);
    key_of(k3, sizeof(k3), 3);
    /* K1: the marker with a fingerprint no schema of ours has, as from a
     * newer producer, then a valid command behind it */
    const unsigned char future[] = {0xC3, 0x01, 0xEF, 0xBE, 0xAD, 0xDE,
                                    0x0D, 0xF0, 0xAD, 0x0B, 0x02, 0x04};
    produce(k1, future, sizeof(future));
    produce_pay(k1, t.base + 1, cid1);
    /* K2: a valid command of another key */
    produce_pay(k2, t.base + 2, cid2);
    /* K3: plain garbage, then a valid command */
    produce(k3, "not avro at all", 15);
    produce_pay(k3, t.base + 3, cid3);

    wait_applied(cid2, "K2's command, another key than the parked one");
    wait_applied(cid3, "K3's command behind plain garbage");
    caught_up();
    assert_int_equal(commands_rows(cid1), 0); /* K1's command held back */
    assert_int_equal(parked_rows(k1), 1);     /* K1 parked */
    assert_int_equal(parked_rows(k2), 0);
    assert_int_equal(parked_rows(k3), 0); /* garbage parks nothing */

    dl_find(k1, DL_PARKER, 0, &parker);
    assert_non_null(strstr(parker.error, "fingerprint"));
    dl_find(k1, DL_BEHIND, 0, &behind);
    /* parked behind the parker's original position */
    assert_string_equal(behind.behind, parker.original);
    dl_find(k3, DL_PLAIN, 0, &plain);
    assert_string_equal(plain.behind, "");

    /* dlq list shows the header */
    of_it_sh("%s/orderflowctl --config /dev/null dlq list --limit 1000 | "
             "grep -F '\"parked-behind\":\"%s\"' >/dev/null",
             t.app.bin, parker.original);
}

static void invalid_command_parks_its_key(void **state)
{
    char cid[OF_UUID_STR];
    struct dl parker, behind;
    size_t len;
    (void)state;

    key_of(k4, sizeof(k4), 4);
    /* a known fingerprint and a datum that decodes but breaks a limit:
     * command_id (the first field, after the length byte) is no UUID */
    unsigned char *v =
        of_it_pay_order(t.avro, t.base + 4, "park-trace", cid, &len);
    assert_int_equal(v[OF_AVRO_HEADER_SIZE + 1], (unsigned char)cid[0]);
    v[OF_AVRO_HEADER_SIZE + 1] = 'z';
    produce(k4, v, len);
    free(v);
    produce_pay(k4, t.base + 4, cid4);
    caught_up();
    assert_int_equal(commands_rows(cid4), 0);
    assert_int_equal(parked_rows(k4), 1);
    dl_find(k4, DL_PARKER, 0, &parker);
    dl_find(k4, DL_BEHIND, 0, &behind);
    assert_string_equal(behind.behind, parker.original);
}

static void skip_unparks_and_later_commands_flow(void **state)
{
    char cid[OF_UUID_STR];
    (void)state;

    of_it_sh("%s/orderflowctl --config /dev/null dlq skip --topic %s --key %s "
             "| grep -q '^unparked: 1$'",
             t.app.bin, t.cmd_topic, k1);
    assert_int_equal(parked_rows(k1), 0);
    produce_pay(k1, t.base + 1, cid);
    wait_applied(cid, "K1's new command after dlq skip");
    assert_int_equal(commands_rows(cid1), 0); /* the parked one stays put */
}

static void redrive_unparks_and_replays_the_key(void **state)
{
    struct dl behind;
    (void)state;

    /* the held-back command alone: unparks K4 before it is sent */
    dl_find(k4, DL_BEHIND, 0, &behind);
    of_it_sh("%s/orderflowctl --config /dev/null dlq redrive --offset %d:%lld "
             ">%s/redrive1.out 2>&1",
             t.app.bin, behind.partition, behind.offset, t.app.dir);
    of_it_sh("grep -q '^unparked: 1 of 1' %s/redrive1.out", t.app.dir);
    wait_applied(cid4, "K4's command redriven");
    assert_int_equal(parked_rows(k4), 0);
}

static void redrive_all_keeps_the_original_order(void **state)
{
    struct dl parker, behind;
    char cid[OF_UUID_STR];
    (void)state;

    /* park K1 again; redrive everything: the parker comes first and, still
     * unreadable, parks K1 again, so what was behind it stays behind it */
    const unsigned char future[] = {0xC3, 0x01, 0x11, 0x22, 0x33, 0x44,
                                    0x55, 0x66, 0x77, 0x88, 0x00};
    produce(k1, future, sizeof(future));
    produce_pay(k1, t.base + 1, cid);
    caught_up();
    assert_int_equal(commands_rows(cid), 0);
    of_it_sh("%s/orderflowctl --config /dev/null dlq redrive --all "
             ">%s/redrive2.out 2>&1",
             t.app.bin, t.app.dir);
    caught_up();
    assert_int_equal(commands_rows(cid), 0); /* still behind its parker */
    assert_int_equal(commands_rows(cid1), 0);
    assert_int_equal(parked_rows(k1), 1);
    /* the first redriven parker of K1 parked it: the row names it */
    dl_find(k1, DL_PARKER, 2, &parker);
    dl_find(k1, DL_BEHIND, 2, &behind);
    assert_string_equal(behind.behind, parker.original);
}

static void metrics_show_lag_seconds(void **state)
{
    struct of_it_resp r;
    char want[512];
    (void)state;

    caught_up();
    sleep(3); /* the gauges refresh every 2 s */
    of_it_http(t.app.metrics_port, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want),
             "orderflow_worker_consumer_lag_seconds{topic=\"%s\",partition=",
             t.cmd_topic);
    char *line = strstr(r.body, want);
    if (!line)
        fail_msg("no %s in /metrics:\n%s", want, r.body);
    char *eol = strchr(line, '\n');
    assert_non_null(eol);
    assert_true(eol[-1] == '0' && eol[-2] == ' '); /* caught up: 0 */
    of_it_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_fingerprint_parks_its_key_and_other_keys_flow),
        cmocka_unit_test(invalid_command_parks_its_key),
        cmocka_unit_test(skip_unparks_and_later_commands_flow),
        cmocka_unit_test(redrive_unparks_and_replays_the_key),
        cmocka_unit_test(redrive_all_keeps_the_original_order),
        cmocka_unit_test(metrics_show_lag_seconds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
