/*
 * GET /v1/admin/dead-letters and POST /v1/admin/dead-letters/redrive
 * against the private stack, with orderflow-api and orderflow-worker
 * --role commands on topics of this run:
 *
 * - poison messages produced straight to the order-command topic are
 *   dead-lettered by the worker, and the list shows them, oldest first,
 *   with the worker's headers decoded (error, original-topic,
 *   original-partition and original-offset naming where each was produced,
 *   failed-at) and no command; limit cuts the list; bad parameters are 400;
 * - only an admin may list or redrive: 401 without credentials, 403 for a
 *   user or a service;
 * - redriving one by {partition, offset} answers {"redriven": 1}; the
 *   message is on its original topic again, same key and bytes, without
 *   the dead-letter headers (read back with a bounded reader), and the
 *   worker dead-letters it again;
 * - a valid PayOrder held behind a parked key (the parker: an unknown
 *   fingerprint) is listed decoded; redriving it unparks the key (the
 *   parked_keys row goes) and the worker applies it;
 * - redriving all answers the number listed, and every poison message
 *   comes back (dead-lettered once more), the parker parking its key again;
 * - bodies other than {"partition", "offset"} or {"all": true} are 400, an
 *   absent dead letter 404, other methods 405 with Allow.
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
#include <jansson.h>

#include "of_avro.h"
#include "of_db.h"
#include "of_dlq.h"
#include "of_it.h"
#include "of_jwt.h"
#include "of_kafka.h"
#include "of_uuid.h"

#define WAIT_S   30
#define NPOISON  3
#define PATH     "/v1/admin/dead-letters"
#define REDRIVE  "/v1/admin/dead-letters/redrive"

static struct {
    struct of_it_app app;
    struct of_avro *avro;
    struct of_db *db;
    rd_kafka_t *producer;
    const char *cmd_topic, *dl_topic;
    char user[1024], service[1024];
    long long base; /* order ids of this run */
    /* the delivery report of the last message produced */
    int32_t last_partition;
    int64_t last_offset;
} t;

/* the poison messages: key, value, and where they were produced */
static struct {
    char key[64], value[64];
    int32_t partition;
    int64_t offset;
} poison[NPOISON];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *o)
{
    (void)rk;
    (void)o;
    if (m->err)
        fail_msg("produce to %s: %s", rd_kafka_topic_name(m->rkt),
                 rd_kafka_err2str(m->err));
    t.last_partition = m->partition;
    t.last_offset = m->offset;
}

static void print_logs(void)
{
    fprintf(stderr, "----- %s/api.log and worker.log (last lines) -----\n",
            t.app.dir);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "tail -n 30 %s/api.log %s/worker.log >&2",
             t.app.dir, t.app.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "(no logs)\n");
}

static int setup(void **state)
{
    struct of_err err;
    (void)state;

    /* two partitions: the list merges them oldest first */
    of_it_app_start(&t.app, "admin-dlq", 2,
                    OF_IT_APP_WORKER | OF_IT_APP_ALL_TOPICS);
    t.cmd_topic = getenv("ORDERFLOW_TOPICS_ORDER_COMMANDS");
    t.dl_topic = getenv("ORDERFLOW_TOPICS_DEAD_LETTER");
    of_it_bearer(t.app.jwt, 2, OF_ROLE_USER, t.user, sizeof(t.user));
    of_it_bearer(t.app.jwt, 3, OF_ROLE_SERVICE, t.service, sizeof(t.service));
    t.avro = of_avro_new(&err);
    assert_non_null(t.avro);
    t.db = of_db_open(t.app.cfg, &err);
    assert_non_null(t.db);
    t.producer = of_it_producer(t.app.cfg, NULL, on_delivery);
    t.base = 1500000000LL + (long long)(time(NULL) % 100000) * 1000 +
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

/* ---- Kafka and MySQL ---- */

/* Produces to the order-command topic; t.last_* say where it went. */
static void produce(const char *key, const void *value, size_t len,
                    const char *type)
{
    assert_int_equal(
        rd_kafka_producev(
            t.producer, RD_KAFKA_V_TOPIC(t.cmd_topic),
            RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(of_kafka_headers_new(type, "adl-trace")),
            RD_KAFKA_V_END),
        0);
    t.last_offset = -1;
    assert_int_equal(rd_kafka_flush(t.producer, 10000), 0);
    assert_true(t.last_offset >= 0);
}

static void caught_up(void)
{
    of_it_wait_caught_up(t.app.cfg, t.app.group, t.cmd_topic, WAIT_S);
}

static long count(const char *sql, const struct of_db_param *p, int np)
{
    return (long)of_it_count(t.db, sql, p, np);
}

static long commands_rows(const char *cid)
{
    return count("SELECT COUNT(*) FROM commands WHERE command_id = ?",
                 (struct of_db_param[]){OF_DB_S(cid)}, 1);
}

static long parked_rows(const char *key)
{
    return count("SELECT COUNT(*) FROM parked_keys WHERE topic = ? AND "
                 "msg_key = ?",
                 (struct of_db_param[]){OF_DB_S(t.cmd_topic),
                                        OF_DB_B(key, strlen(key))},
                 2);
}

/* ---- HTTP ---- */

static json_t *request(const char *auth, const char *method, const char *path,
                       const char *body, long *status)
{
    const char *h[] = {auth, "Content-Type: application/json", NULL};
    struct of_it_resp r;
    of_it_http(t.app.port, method, path, auth ? h : h + 1, body, &r);
    *status = r.status;
    json_t *j = json_loads(r.body, 0, NULL);
    if (!j) {
        print_logs();
        fail_msg("%s %s: not JSON (%ld): %s", method, path, r.status, r.body);
    }
    of_it_resp_free(&r);
    return j;
}

static const char *error_code(const json_t *j)
{
    const char *c =
        json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    return c ? c : "(none)";
}

/* Asserts \p status and error \p code of one request. */
static void expect_error(const char *auth, const char *method,
                         const char *path, const char *body, long status,
                         const char *code)
{
    long got;
    json_t *j = request(auth, method, path, body, &got);
    char *text = json_dumps(j, JSON_COMPACT);
    if (got != status || strcmp(error_code(j), code) != 0)
        fail_msg("%s %s %s: want %ld %s, got %ld %s", method, path,
                 body ? body : "", status, code, got, text);
    free(text);
    json_decref(j);
}

/* The dead letters listed (limit 500), once there are at least \p n. */
static json_t *wait_letters(size_t n)
{
    long long until = of_it_now_us() + WAIT_S * 1000000LL;
    long status;

    for (;;) {
        json_t *j =
            request(t.app.admin, "GET", PATH "?limit=500", NULL, &status);
        if (status != 200) {
            print_logs();
            fail_msg("GET %s: %ld", PATH, status);
        }
        json_t *list = json_object_get(j, "dead_letters");
        assert_true(json_is_array(list));
        if (json_array_size(list) >= n) {
            json_incref(list);
            json_decref(j);
            return list;
        }
        json_decref(j);
        if (of_it_now_us() > until) {
            print_logs();
            fail_msg("fewer than %zu dead letters listed after %d s", n,
                     WAIT_S);
        }
        usleep(300000);
    }
}

static const char *hdr(const json_t *letter, const char *name)
{
    return json_string_value(
        json_object_get(json_object_get(letter, "headers"), name));
}

static int key_is(const json_t *letter, const char *key)
{
    const char *k = json_string_value(json_object_get(letter, "key"));
    return k && strcmp(k, key) == 0;
}

static size_t count_key(const json_t *list, const char *key)
{
    size_t i, n = 0;
    json_t *d;
    json_array_foreach(list, i, d) n += key_is(d, key);
    return n;
}

/* The \p nth (0-based) dead letter of \p key in \p list, or fails. */
static json_t *letter_of(const json_t *list, const char *key, size_t nth)
{
    size_t i, seen = 0;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        if (key_is(d, key) && seen++ == nth)
            return d;
    }
    fail_msg("no dead letter #%zu of key %s", nth, key);
    return NULL;
}

/* POST redrive of \p letter's partition and offset; @returns redriven */
static json_int_t redrive_letter(const json_t *letter)
{
    char body[128];
    long status;

    snprintf(body, sizeof(body), "{\"partition\":%lld,\"offset\":%lld}",
             (long long)json_integer_value(json_object_get(letter, "partition")),
             (long long)json_integer_value(json_object_get(letter, "offset")));
    json_t *j = request(t.app.admin, "POST", REDRIVE, body, &status);
    if (status != 200) {
        print_logs();
        fail_msg("redrive %s: %ld", body, status);
    }
    json_int_t n = json_integer_value(json_object_get(j, "redriven"));
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
    return n;
}

/* ---- reading a command topic back ---- */

struct found {
    const char *key, *value;
    int n;
    int32_t partition;
    int64_t offset;
    char error_header[8], content_type[64], trace_id[64];
};

static int find_cb(void *arg, const rd_kafka_message_t *m)
{
    struct found *f = arg;
    if (m->key_len == strlen(f->key) && !memcmp(m->key, f->key, m->key_len) &&
        m->len == strlen(f->value) && !memcmp(m->payload, f->value, m->len)) {
        f->n++;
        f->partition = m->partition;
        f->offset = m->offset;
        of_kafka_header_get(m, "error", f->error_header,
                            sizeof(f->error_header));
        of_kafka_header_get(m, "content-type", f->content_type,
                            sizeof(f->content_type));
        of_kafka_header_get(m, "trace-id", f->trace_id, sizeof(f->trace_id));
    }
    return 0;
}

/* The end offsets of the command topic's two partitions. */
static void highs(int64_t high[2])
{
    for (int p = 0; p < 2; p++) {
        int64_t low;
        assert_int_equal(rd_kafka_query_watermark_offsets(
                             t.producer, t.cmd_topic, p, &low, &high[p], 10000),
                         0);
    }
}

/* The partition of 2 that librdkafka's default partitioner
 * (consistent_random: CRC-32 of the key) gives \p key. */
static int partition_of(const char *key)
{
    uint32_t c = 0xFFFFFFFFu;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        c ^= *p;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return (int)((c ^ 0xFFFFFFFFu) % 2);
}

/* ---- tests ---- */

static void poison_messages_are_listed_oldest_first(void **state)
{
    long status;
    (void)state;

    for (int i = 0; i < NPOISON; i++) {
        /* keys whose dead letters alternate between the partitions of the
         * dead-letter topic, so that oldest first is not partition order */
        for (int j = 0;; j++) {
            snprintf(poison[i].key, sizeof(poison[i].key), "%lld",
                     t.base + 100 + i * 32 + j);
            if (partition_of(poison[i].key) == i % 2)
                break;
        }
        snprintf(poison[i].value, sizeof(poison[i].value),
                 "not avro at all #%d", i);
        produce(poison[i].key, poison[i].value, strlen(poison[i].value),
                "PayOrder");
        poison[i].partition = t.last_partition;
        poison[i].offset = t.last_offset;
        /* one at a time: the dead letters' order is then this order,
         * whichever partitions they are in */
        json_decref(wait_letters((size_t)i + 1));
    }
    json_t *list = wait_letters(NPOISON);
    assert_int_equal(json_array_size(list), NPOISON);
    int64_t prev_ms = 0;
    for (int i = 0; i < NPOISON; i++) {
        json_t *d = letter_of(list, poison[i].key, 0);
        char want[32];
        assert_true(json_is_integer(json_object_get(d, "partition")));
        assert_true(json_is_integer(json_object_get(d, "offset")));
        assert_int_equal(json_integer_value(json_object_get(d, "value_size")),
                         strlen(poison[i].value));
        assert_true(json_is_null(json_object_get(d, "command")));
        /* the worker's headers, decoded */
        assert_non_null(hdr(d, "error"));
        assert_true(strlen(hdr(d, "error")) > 0);
        assert_string_equal(hdr(d, "original-topic"), t.cmd_topic);
        snprintf(want, sizeof(want), "%d", (int)poison[i].partition);
        assert_string_equal(hdr(d, "original-partition"), want);
        snprintf(want, sizeof(want), "%lld", (long long)poison[i].offset);
        assert_string_equal(hdr(d, "original-offset"), want);
        const char *at = hdr(d, "failed-at");
        assert_non_null(at);
        assert_true(strlen(at) >= 20 && at[10] == 'T' &&
                    at[strlen(at) - 1] == 'Z');
        assert_string_equal(hdr(d, "trace-id"), "adl-trace");
        assert_non_null(json_string_value(json_object_get(d, "timestamp")));
    }
    /* oldest first across both partitions: dead-lettered in order 0, 1, 2,
     * in partitions 0, 1, 0 */
    for (size_t i = 0; i < NPOISON; i++) {
        json_t *d = json_array_get(list, i);
        assert_true(key_is(d, poison[i].key));
        assert_int_equal(json_integer_value(json_object_get(d, "partition")),
                         i % 2);
        int64_t ms = 0;
        const char *ts = json_string_value(json_object_get(d, "timestamp"));
        struct tm tm = {0};
        assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
        ms = (int64_t)timegm(&tm) * 1000 + atoi(ts + 20) / 1000;
        assert_true(ms >= prev_ms);
        prev_ms = ms;
    }
    json_decref(list);

    /* limit: the oldest one alone */
    json_t *j = request(t.app.admin, "GET", PATH "?limit=1", NULL, &status);
    assert_int_equal(status, 200);
    list = json_object_get(j, "dead_letters");
    assert_int_equal(json_array_size(list), 1);
    assert_true(key_is(json_array_get(list, 0), poison[0].key));
    json_decref(j);
    j = request(t.app.admin, "GET", PATH "?limit=2", NULL, &status);
    assert_int_equal(status, 200);
    list = json_object_get(j, "dead_letters");
    assert_int_equal(json_array_size(list), 2);
    assert_true(key_is(json_array_get(list, 0), poison[0].key));
    assert_true(key_is(json_array_get(list, 1), poison[1].key));
    json_decref(j);
    /* the default limit (50) holds them all */
    j = request(t.app.admin, "GET", PATH, NULL, &status);
    assert_int_equal(status, 200);
    assert_int_equal(json_array_size(json_object_get(j, "dead_letters")),
                     NPOISON);
    json_decref(j);
    expect_error(t.app.admin, "GET", PATH "?limit=0", NULL, 400,
                 "validation_failed");
    expect_error(t.app.admin, "GET", PATH "?limit=501", NULL, 400,
                 "validation_failed");
    expect_error(t.app.admin, "GET", PATH "?limit=ten", NULL, 400,
                 "validation_failed");
    expect_error(t.app.admin, "GET", PATH "?offset=3", NULL, 400,
                 "validation_failed");
}

static void only_an_admin_may_see_or_redrive(void **state)
{
    (void)state;
    expect_error(NULL, "GET", PATH, NULL, 401, "unauthenticated");
    expect_error(t.user, "GET", PATH, NULL, 403, "forbidden");
    expect_error(t.service, "GET", PATH, NULL, 403, "forbidden");
    expect_error(NULL, "POST", REDRIVE, "{\"all\":true}", 401,
                 "unauthenticated");
    expect_error(t.user, "POST", REDRIVE, "{\"all\":true}", 403, "forbidden");
    expect_error(t.service, "POST", REDRIVE, "{\"all\":true}", 403,
                 "forbidden");
    /* nothing was redriven by them */
    json_t *list = wait_letters(NPOISON);
    assert_int_equal(json_array_size(list), NPOISON);
    json_decref(list);
}

static void redrive_one_sends_it_back_to_its_topic(void **state)
{
    struct found f = {.key = poison[1].key, .value = poison[1].value};
    int64_t high[2];
    (void)state;

    json_t *list = wait_letters(NPOISON);
    highs(high);
    assert_int_equal(redrive_letter(letter_of(list, poison[1].key, 0)), 1);
    json_decref(list);

    /* on its original topic again, after where it was: same key and
     * bytes, the contract's headers, none of the dead letter's */
    for (int p = 0; p < 2; p++) {
        const struct of_dlq_range r = {t.cmd_topic, p, high[p], -1, -1, -1};
        const struct of_dlq_opts o = {.request_ms = 10000,
                                      .idle_ms = 10000,
                                      .client = "adl-reader"};
        struct of_err err;
        if (of_dlq_scan(t.app.cfg, &r, &o, find_cb, &f, NULL, &err) != OF_OK)
            fail_msg("reading %s back: %s", t.cmd_topic, err.msg);
    }
    assert_int_equal(f.n, 1);
    assert_string_equal(f.error_header, "");
    assert_string_equal(f.content_type, "application/avro");
    assert_string_equal(f.trace_id, "adl-trace");

    /* still poison: the worker dead-letters it once more */
    list = wait_letters(NPOISON + 1);
    assert_int_equal(json_array_size(list), NPOISON + 1);
    assert_int_equal(count_key(list, poison[1].key), 2);
    json_t *again = letter_of(list, poison[1].key, 1);
    char want[32];
    snprintf(want, sizeof(want), "%d", (int)f.partition);
    assert_string_equal(hdr(again, "original-partition"), want);
    snprintf(want, sizeof(want), "%lld", (long long)f.offset);
    assert_string_equal(hdr(again, "original-offset"), want);
    json_decref(list);
}

static char parked_key[64];

static void redrive_unparks_a_held_back_command(void **state)
{
    /* the Avro marker and a fingerprint none of our schemas has */
    const unsigned char future[] = {0xC3, 0x01, 0xEF, 0xBE, 0xAD, 0xDE,
                                    0x0D, 0xF0, 0xAD, 0x0B, 0x02, 0x04};
    char cid[OF_UUID_STR];
    size_t len;
    (void)state;

    snprintf(parked_key, sizeof(parked_key), "%lld", t.base + 1);
    produce(parked_key, future, sizeof(future), "PayOrder");
    /* a valid PayOrder of an order that does not exist: applied, it is a
     * rejection (order_not_found) with its commands row */
    void *v = of_it_pay_order(t.avro, t.base + 1, "adl-trace", cid, &len);
    produce(parked_key, v, len, "PayOrder");
    free(v);
    caught_up();
    assert_int_equal(parked_rows(parked_key), 1);
    assert_int_equal(commands_rows(cid), 0); /* held back */

    json_t *list = wait_letters(NPOISON + 3);
    assert_int_equal(count_key(list, parked_key), 2);
    json_t *parker = letter_of(list, parked_key, 0);
    json_t *behind = letter_of(list, parked_key, 1);
    assert_int_equal(strncmp(hdr(parker, "error"), "parked:", 7), 0);
    assert_true(json_is_null(json_object_get(parker, "command")));
    assert_non_null(hdr(behind, "parked-behind"));
    /* the held-back command, decoded */
    json_t *cmd = json_object_get(behind, "command");
    assert_true(json_is_object(cmd));
    assert_string_equal(json_string_value(json_object_get(cmd, "command_id")),
                        cid);
    assert_string_equal(json_string_value(json_object_get(cmd, "type")),
                        "PayOrder");
    assert_int_equal(json_integer_value(json_object_get(cmd, "order_id")),
                     t.base + 1);

    /* redriven alone: the key is unparked first, then it is applied */
    assert_int_equal(redrive_letter(behind), 1);
    json_decref(list);
    long long until = of_it_now_us() + WAIT_S * 1000000LL;
    while (commands_rows(cid) != 1) {
        if (of_it_now_us() > until) {
            print_logs();
            fail_msg("the redriven PayOrder %s was not applied in %d s", cid,
                     WAIT_S);
        }
        usleep(200000);
    }
    assert_int_equal(parked_rows(parked_key), 0);
}

static void redrive_all_sends_every_one_back(void **state)
{
    long status;
    (void)state;

    caught_up(); /* nothing more is on its way to the dead-letter topic */
    json_t *before = wait_letters(NPOISON + 3);
    size_t n = json_array_size(before);
    assert_int_equal(n, NPOISON + 3);
    json_decref(before);

    json_t *j =
        request(t.app.admin, "POST", REDRIVE, "{\"all\":true}", &status);
    if (status != 200)
        fail_msg("redrive all: %ld", status);
    assert_int_equal(json_integer_value(json_object_get(j, "redriven")), n);
    json_decref(j);

    /* every poison message came back and was dead-lettered again (the
     * two of poison[1] too); the parker, first of its key, parked it
     * again */
    caught_up();
    json_t *after = wait_letters(n + NPOISON + 2);
    assert_int_equal(count_key(after, poison[0].key), 2);
    assert_int_equal(count_key(after, poison[1].key), 4);
    assert_int_equal(count_key(after, poison[2].key), 2);
    assert_true(count_key(after, parked_key) >= 3);
    assert_int_equal(parked_rows(parked_key), 1);
    json_decref(after);
}

static void bad_requests_are_refused(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"all\":false}",
        "{\"all\":\"yes\"}",
        "{\"partition\":0}",
        "{\"offset\":0}",
        "{\"partition\":-1,\"offset\":0}",
        "{\"partition\":0,\"offset\":\"3\"}",
        "{\"partition\":0,\"offset\":1.5}",
        "{\"partition\":0,\"offset\":1,\"all\":true}",
        "{\"partition\":0,\"offset\":1,\"topic\":\"x\"}",
        "[0, 1]",
    };
    struct of_it_resp r;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_error(t.app.admin, "POST", REDRIVE, bad[i], 400,
                     "validation_failed");
    expect_error(t.app.admin, "POST", REDRIVE, "", 400, "validation_failed");
    expect_error(t.app.admin, "POST", REDRIVE, "{\"all\":tru", 400,
                 "invalid_json");
    expect_error(t.app.admin, "POST", REDRIVE "?all=true", "{\"all\":true}",
                 400, "validation_failed");
    /* no dead letter there */
    expect_error(t.app.admin, "POST", REDRIVE,
                 "{\"partition\":0,\"offset\":999999}", 404, "not_found");
    expect_error(t.app.admin, "POST", REDRIVE,
                 "{\"partition\":7,\"offset\":0}", 404, "not_found");
    expect_error(t.app.admin, "GET", PATH "/nothing", NULL, 404, "not_found");
    /* JSON only */
    const char *text[] = {t.app.admin, "Content-Type: text/plain", NULL};
    of_it_http(t.app.port, "POST", REDRIVE, text, "{\"all\":true}", &r);
    assert_int_equal(r.status, 415);
    of_it_resp_free(&r);
    /* one method each */
    const char *h[] = {t.app.admin, "Content-Type: application/json", NULL};
    of_it_http(t.app.port, "POST", PATH, h, "{}", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "GET");
    of_it_resp_free(&r);
    of_it_http(t.app.port, "DELETE", PATH, h, NULL, &r);
    assert_int_equal(r.status, 405);
    of_it_resp_free(&r);
    of_it_http(t.app.port, "GET", REDRIVE, h, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST");
    of_it_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(poison_messages_are_listed_oldest_first),
        cmocka_unit_test(only_an_admin_may_see_or_redrive),
        cmocka_unit_test(redrive_one_sends_it_back_to_its_topic),
        cmocka_unit_test(redrive_unparks_a_held_back_command),
        cmocka_unit_test(redrive_all_sends_every_one_back),
        cmocka_unit_test(bad_requests_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
